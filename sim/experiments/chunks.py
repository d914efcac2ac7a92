"""A resumable store of a sweep's runs: one Parquet file per chunk of consecutive runs.

The runs of a sweep are numbered point-major (run i is replicate i % R of point i // R)
and cut into chunks of consecutive runs; each chunk is computed as one batch of lanes
and written as its own file, atomically, as soon as it comes back. The folder's
sweep.json records the spec's hash. A resumed sweep runs only the chunks whose files
are missing, so the final tables are the same as an uninterrupted sweep's whatever
the executor, workers or chunk size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.experiments import storage

def auto_chunk_size(total_runs: int, workers: int, lanes: int) -> int:
    """A batch of lanes per chunk: big enough to be fast, small enough to balance the workers (four chunks
    each at least) and to lose little on interruption."""
    return int(max(1, min(lanes, max(50, -(-total_runs // (4 * max(1, workers)))))))


@dataclass
class Layout:
    """Where a sweep's chunks live and how its runs are cut."""

    out: Path
    total_runs: int
    chunk_size: int

    @property
    def chunk_dir(self) -> Path:
        return self.out / "chunks"

    @property
    def n_chunks(self) -> int:
        return -(-self.total_runs // self.chunk_size)

    def bounds(self, index: int) -> tuple[int, int]:
        first = index * self.chunk_size
        return first, min(first + self.chunk_size, self.total_runs)

    def path(self, index: int) -> Path:
        return self.chunk_dir / f"chunk-{index:06d}.parquet"

    def done(self) -> set[int]:
        return {i for i in range(self.n_chunks) if self.path(i).is_file()}

    def write(self, index: int, frame: pd.DataFrame) -> None:
        storage.write_parquet(self.path(index), frame)


ResumeError = storage.ResumeError  # a sweep folder that cannot be resumed or reused as asked


def prepare(out: Path, manifest: dict, resume: bool, force: bool) -> tuple[dict, Path | None]:
    """Create or reopen a sweep folder; refuses to mix results of different specs or code.

    Returns the manifest in force and, with --force, where the old folder was set
    aside: the caller removes it once the new sweep is complete, so an interrupted
    forced sweep still leaves the old results on disk.
    """
    path = out / "sweep.json"
    if resume and path.is_file():
        old = json.loads(path.read_text())
        for key, what in (("spec_hash", "the sweep spec or its base scenario"), ("code", "swapsim's version or commit"),
                          ("seed_rule", "the rule that draws the random numbers"),
                          ("posterior", "the posterior the runs draw their parameters from")):
            if old.get(key) != manifest[key]:
                if key == "spec_hash":
                    what, shown = what_differs(old.get("spec"), manifest.get("spec"), "the sweep spec",
                                               "the base scenario")
                else:
                    shown = f"{old.get(key)} there, {manifest[key]} now"
                raise ResumeError(f"{out}: {what} changed since this folder was started ({shown}); "
                                  "use a new --out, or --force to start over")
        for stale in (out / "chunks").glob(".chunk-*.parquet.*.tmp"):  # a chunk being written when it stopped
            stale.unlink(missing_ok=True)
        old.setdefault("resumed", []).append({k: manifest[k] for k in ("command", "date")})
        storage.write_json(path, old)
        return old, None
    aside = storage.start_folder(out, "sweep.json", "sweep", resume, force)
    storage.write_json(path, manifest)
    return manifest, aside


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def what_differs(old: object, new: object, spec: str, files: str, shown: int = 3) -> tuple[str, str]:
    """What changed between a folder's spec and the spec now, in words: `spec` ("the sweep spec") and the keys
    whose values differ (an override such as --replications or --seed among them), or, when the spec is the
    same, `files` ("the base scenario"), which the folder's hash also covers."""
    before, after = _flat(old or {}), _flat(new or {})
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if not keys:
        return files, f"the spec is the same; {files} was edited"
    parts = [f"{k}: {before.get(k)!r} there, {after.get(k)!r} now" for k in keys[:shown]]
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return spec, "; ".join(parts) + more


def iter_chunk_frames(layout: Layout) -> Iterator[pd.DataFrame]:
    """The chunks' tables in run order, one at a time."""
    for i in range(layout.n_chunks):
        yield pd.read_parquet(layout.path(i))


def _common_schema(layout: Layout):
    """The chunks' schema, with a column whole in one chunk and fractional (NaN for a failed run) in another
    read as fractional."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(layout.path(i)) for i in range(layout.n_chunks)]
    fields = []
    for field in schemas[0]:
        types = {s.field(field.name).type for s in schemas}
        fields.append(field.with_type(pa.float64()) if len(types) > 1 else field)
    return pa.schema(fields)


def combine(layout: Layout, parquet: Path, csv: Path) -> int:
    """Every chunk, in run order, into one Parquet file and its CSV copy, streaming; returns the row count."""
    rows = 0
    schema = _common_schema(layout)

    def write(tmp_parquet: Path) -> None:
        def write_csv(tmp_csv: Path) -> None:
            nonlocal rows
            table = storage.TableStream(tmp_parquet, tmp_csv, schema)
            try:
                for frame in iter_chunk_frames(layout):
                    table.write(frame)
                    rows += len(frame)
            finally:
                table.close()

        storage.atomic_write(csv, write_csv)

    storage.atomic_write(parquet, write)
    return rows

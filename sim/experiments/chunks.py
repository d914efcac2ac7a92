"""Chunked, resumable execution of many runs over many design points.

The runs of a sweep are numbered point-major (run i is replicate i % R of point i // R)
and cut into chunks of consecutive runs. Each chunk is one task for an Executor (a
local process pool, or a Dask cluster's executor), and is written as its own Parquet
file, atomically, as soon as it comes back; a manifest records the spec's hash. A
resumed sweep runs only the chunks whose files are missing, so the final tables are
the same as an uninterrupted sweep's whatever the executor, workers or chunk size.

How a chunk is computed is one function, `compute_chunk`; a faster engine can take
its place without touching the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiments import storage
from sim.model.outcomes import METRIC_NAMES
from sim.experiments.runs import run_one
from sim.model.scenario import Scenario
from sim.experiments.sweep_spec import point_scenario

ERROR = "error"  # the outcome of a run that raised; its message is in `error`


@dataclass(frozen=True)
class Chunk:
    """Runs first..last-1 of a sweep, with what a worker needs to compute them."""

    index: int
    first: int
    last: int
    base: Scenario
    params: tuple[str, ...]
    points: dict[int, tuple]  # point -> parameter values, for the points this chunk touches
    seeds: tuple[int, ...]  # seed of replicate k, the same at every point (common random numbers)


def compute_chunk(chunk: Chunk) -> pd.DataFrame:
    """Run every run of the chunk; a run that raises becomes a row with outcome 'error'."""
    replications = len(chunk.seeds)
    rows, scenarios = [], {}
    for i in range(chunk.first, chunk.last):
        point, replicate = divmod(i, replications)
        values = chunk.points[point]
        row = {"point": point, "replicate": replicate, "seed": chunk.seeds[replicate], **dict(zip(chunk.params, values))}
        try:
            if point not in scenarios:
                scenarios[point] = point_scenario(chunk.base, dict(zip(chunk.params, values)))
            metrics, _ = run_one(scenarios[point], chunk.seeds[replicate], series=False)
            row.update(metrics, error="")
        except Exception as exc:  # recorded, and the sweep goes on
            row.update(outcome=ERROR, error=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name in METRIC_NAMES:
        if name not in frame:
            frame[name] = np.nan
    return frame[["point", "replicate", "seed", *chunk.params, *METRIC_NAMES, "error"]]


def auto_chunk_size(total_runs: int, workers: int) -> int:
    """Big enough to amortise task overhead, small enough to balance and to lose little on interruption."""
    return int(max(20, min(1000, total_runs // max(1, workers * 40))))


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


class ResumeError(ValueError):
    """A sweep folder that cannot be resumed or reused as asked; the message says why."""


def prepare(out: Path, manifest: dict, resume: bool, force: bool) -> tuple[dict, Path | None]:
    """Create or reopen a sweep folder; refuses to mix results of different specs or code.

    Returns the manifest in force and, with --force, where the old folder was set
    aside: the caller removes it once the new sweep is complete, so an interrupted
    forced sweep still leaves the old results on disk.
    """
    path = out / "sweep.json"
    if resume and path.is_file():
        old = json.loads(path.read_text())
        for key, what in (("spec_hash", "the sweep spec or its base scenario"), ("code", "swapsim's version or commit")):
            if old.get(key) != manifest[key]:
                raise ResumeError(
                    f"{out}: {what} changed since this folder was started ({old.get(key)} there, {manifest[key]} now); "
                    "use a new --out, or --force to start over"
                )
        old.setdefault("resumed", []).append({k: manifest[k] for k in ("command", "date")})
        storage.write_json(path, old)
        return old, None
    if resume and out.exists() and any(out.iterdir()):
        raise ResumeError(f"{out}: not a sweep folder (no sweep.json); nothing to resume")
    try:
        storage.check_output(out, force)
    except storage.UnsafeOutput as err:
        raise ResumeError(str(err).replace("pass --force", "pass --resume to finish it, --force")) from None
    aside = storage.set_aside(out) if out.exists() and any(out.iterdir()) else None
    out.mkdir(parents=True, exist_ok=True)
    storage.write_json(path, manifest)
    return manifest, aside


class InlineExecutor(Executor):
    """An Executor that runs each task in this process when it is submitted (one worker, no pickling)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def execute(
    chunks: Iterator[Chunk] | list[Chunk],
    layout: Layout,
    executor: Executor,
    on_done: Callable[[int], None] | None = None,
    max_pending: int = 64,
) -> None:
    """Compute chunks on the executor and write each as it arrives.

    At most `max_pending` chunks are in flight, so memory stays bounded however large
    the sweep; an interruption cancels what has not started.
    """
    pending: dict[Future, Chunk] = {}
    todo = iter(chunks)
    try:
        for chunk in todo:
            pending[executor.submit(compute_chunk, chunk)] = chunk
            if len(pending) >= max_pending:
                _collect(pending, layout, on_done, wait(pending, return_when=FIRST_COMPLETED).done)
        while pending:
            _collect(pending, layout, on_done, wait(pending, return_when=FIRST_COMPLETED).done)
    finally:
        for fut in pending:
            fut.cancel()


def _collect(pending: dict, layout: Layout, on_done, finished) -> None:
    for fut in finished:
        chunk = pending.pop(fut)
        _write_chunk(layout, chunk, fut.result())
        if on_done:
            on_done(chunk.last - chunk.first)


def _write_chunk(layout: Layout, chunk: Chunk, frame: pd.DataFrame) -> None:
    storage.write_parquet(layout.path(chunk.index), frame)


def iter_chunk_frames(layout: Layout) -> Iterator[pd.DataFrame]:
    """The chunks' tables in run order, one at a time."""
    for i in range(layout.n_chunks):
        yield pd.read_parquet(layout.path(i))


def combine(layout: Layout, dest: Path) -> int:
    """Concatenate every chunk, in run order, into one Parquet file, streaming; returns the row count."""
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        writer = None
        try:
            for frame in iter_chunk_frames(layout):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()

    storage.atomic_write(dest, write)
    return rows

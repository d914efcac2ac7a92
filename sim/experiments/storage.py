"""Atomic writes: a file is either absent or complete, never half-written."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sim.experiments import leftovers

if TYPE_CHECKING:
    import pandas as pd


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; results are ordinary files
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk, say: name the file it was writing
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    return path


_PRIVATE = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.(partial|tmp)$")  # staged folders, files being written


def public_path(path: str | os.PathLike) -> str:
    """`path` as the user named it: a staged folder (`.out.x1y2z3w4.partial`) or a file being written
    (`.runs.parquet.x1y2z3w4.tmp`) by the name it will have, so that a message names --out, not our scaffolding."""
    parts = Path(path).parts
    return str(Path(*[m["name"] if (m := _PRIVATE.match(part)) else part for part in parts])) if parts else ""


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: object) -> Path:
    """Strict JSON: NaN and infinities become null, which every parser reads."""
    return write_text(path, json.dumps(_finite(data), indent=2, default=str, allow_nan=False) + "\n")


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


class TableStream:
    """A table written part by part: a Parquet file (one row group per part) and, optionally, a CSV copy.

    For files inside a staged folder, which is itself renamed into place when complete.
    """

    def __init__(self, parquet: Path, csv: Path | None = None, schema=None):
        self.parquet, self.csv, self.schema = Path(parquet), csv, schema
        self._writer = None
        self._csv = open(csv, "w", encoding="utf-8", newline="") if csv is not None else None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.parquet, self.schema or table.schema)
        self._writer.write_table(table.cast(self._writer.schema))
        if self._csv is not None:
            frame.to_csv(self._csv, index=False, header=self._csv.tell() == 0)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._csv is not None:
            self._csv.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


RESULT_MARKERS = ("manifest.json", "sweep.json", "comparison.json", "calibration_state.json", "forecast.json")


class UnsafeOutput(ValueError):
    """An output folder swapsim will not write into or replace; the message says why."""


def check_output(out: str | Path, force: bool) -> None:
    """Refuse, before any run, an output folder that would overwrite results or anything not swapsim's.

    Without `force` the folder must not exist (or be empty); with it, it must be a
    swapsim results folder (or empty), and never the working folder or one above it.
    """
    out = Path(out)
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise UnsafeOutput(f"{out}: is the working folder or one above it; give a folder of its own with --out")
    if out.exists() and not out.is_dir():
        raise UnsafeOutput(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UnsafeOutput(f"{out}: results folder exists already; pass --force to replace it, or --out DIR")
        if not any((out / name).is_file() for name in RESULT_MARKERS):
            raise UnsafeOutput(f"{out}: not a swapsim results folder (no manifest); refusing to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".swapsim-probe-", dir=out.parent))
    except OSError as exc:
        raise UnsafeOutput(f"{out}: cannot write there ({exc.strerror or exc})") from None


class ResumeError(ValueError):
    """A resumable folder (a sweep's, a calibration's) that cannot be resumed or reused as asked; the message
    says why."""


def start_folder(out: Path, marker: str, what: str, resume: bool, force: bool) -> Path | None:
    """Make `out` ready for a new resumable job whose state file `marker` is not there yet; returns where `force`
    set an old folder aside, to be removed once the new job is complete."""
    if resume and out.exists() and any(out.iterdir()):
        raise ResumeError(f"{out}: not a {what} folder (no {marker}); nothing to resume")
    try:
        check_output(out, force)
    except UnsafeOutput as err:
        raise ResumeError(str(err).replace("pass --force", "pass --resume to finish it, --force")) from None
    aside = set_aside(out) if out.exists() and any(out.iterdir()) else None
    out.mkdir(parents=True, exist_ok=True)
    return aside


def set_aside(path: Path) -> Path:
    """Move a folder to a hidden sibling, to be removed once its replacement is complete."""
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.replace(path, aside / "previous")
    return aside


@contextlib.contextmanager
def staged_directory(out: str | Path, force: bool) -> Iterator[Path]:
    """A fresh directory that replaces `out` only once everything in it is written.

    Without `force` an existing `out` is an error (FileExistsError); with it, the old
    directory is removed only after the new one is complete. An interruption leaves
    `out` as it was; the stage of a command killed outright is removed by the next one
    (sim/experiments/leftovers.py).
    """
    out = Path(out)
    if out.exists() and not force and not (out.is_dir() and not any(out.iterdir())):
        raise FileExistsError(errno.EEXIST, "exists already; pass --force to replace it", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    leftovers.remove_orphans(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    os.chmod(stage, 0o777 & ~_umask())
    try:
        leftovers.claim(stage)
        yield stage
        leftovers.release(stage)
        if out.exists():
            old = set_aside(out)
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)

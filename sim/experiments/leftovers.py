"""Staging folders a killed command left behind, found and removed by the next command writing to the same place.

A command stages its results in a hidden folder beside --out (`.out.x1y2z3w4.partial`) and renames it onto
--out when done; an exit the process sees removes the stage, but kill -9 (or a power cut) cannot. Each stage
therefore names its owner, the process and that process's start time, so that a later command removes only
stages whose owner is gone, never one a command still running is writing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

OWNER = ".swapsim-owner"  # in a stage: "pid start", removed before the stage becomes --out


def _started(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, from /proc), or None where there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str) -> bool:
    if Path("/proc/self/stat").exists():
        return _started(pid) == started  # gone, or its number now given to another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(stage: Path) -> None:
    """Mark `stage` as this process's."""
    (stage / OWNER).write_text(f"{os.getpid()} {_started(os.getpid()) or '-'}\n")


def release(stage: Path) -> None:
    """Remove the mark, before the stage becomes the results folder."""
    (stage / OWNER).unlink(missing_ok=True)


def orphaned(stage: Path) -> bool:
    """Whether `stage` carries an owner's mark and that owner is no longer running."""
    try:
        pid, started = (stage / OWNER).read_text().split()
        return not _alive(int(pid), started)
    except (OSError, ValueError):
        return False  # no mark that proves it ours: leave it


def remove_orphans(out: Path) -> list[Path]:
    """Remove the stages of --out `out` whose owners died; returns those removed."""
    removed = []
    for stage in out.parent.glob(f".{out.name}.*.partial"):
        if stage.is_dir() and orphaned(stage):
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(stage)
    return removed

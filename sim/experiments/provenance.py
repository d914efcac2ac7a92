"""Where a result came from: versions, git commit, command and date, for every manifest."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("swapsim", "mesa", "numpy", "pandas", "pydantic", "matplotlib", "pyarrow", "PyYAML")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str | None:
    """The commit of the source tree swapsim runs from, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out + ("-dirty" if dirty else "") if out else None


def code_version() -> str:
    """swapsim's version and, in a git checkout, its commit: what a resumed sweep must match."""
    commit = git_commit()
    return f"{versions()['swapsim']}" + (f"+{commit}" if commit else "")


def provenance(command: list[str] | None = None) -> dict:
    """Versions, commit, command line and UTC date of this run."""
    return {
        "versions": versions(),
        "git_commit": git_commit(),
        "command": " ".join(command if command is not None else sys.argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }

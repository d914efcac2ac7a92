"""Staging folders: what a killed command leaves is removed by the next one, and nothing a live one is writing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.experiments import leftovers, storage


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_stage_of_this_process_is_not_orphaned(tmp_path):
    stage = tmp_path / ".out.abcd1234.partial"
    stage.mkdir()
    leftovers.claim(stage)
    assert not leftovers.orphaned(stage)
    assert leftovers.remove_orphans(tmp_path / "out") == []
    assert stage.exists()


def test_a_stage_whose_owner_died_is_removed(tmp_path):
    stage = tmp_path / ".out.abcd1234.partial"
    stage.mkdir()
    (stage / "runs.parquet").write_bytes(b"half")
    (stage / leftovers.OWNER).write_text(f"{_dead_pid()} 1\n")
    other = tmp_path / ".other.abcd1234.partial"  # another --out's stage: not this command's to judge
    other.mkdir()
    (other / leftovers.OWNER).write_text(f"{_dead_pid()} 1\n")
    assert leftovers.remove_orphans(tmp_path / "out") == [stage]
    assert not stage.exists() and other.exists()


@pytest.mark.parametrize("mark", [None, "", "not a mark", "12"])
def test_a_stage_without_a_valid_mark_is_left_alone(tmp_path, mark):
    stage = tmp_path / ".out.abcd1234.partial"
    stage.mkdir()
    if mark is not None:
        (stage / leftovers.OWNER).write_text(mark)
    assert leftovers.remove_orphans(tmp_path / "out") == []
    assert stage.exists()


def test_a_finished_stage_becomes_out_without_its_mark(tmp_path):
    out = tmp_path / "out"
    with storage.staged_directory(out, force=False) as stage:
        assert (stage / leftovers.OWNER).is_file()
        (stage / "summary.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

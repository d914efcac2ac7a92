"""The one run loop: batches on real executors, in order and with a bounded window; worker processes that
never re-run the caller's script; requests too large to fit refused before they start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from sim.experiments import batches, runs
from sim.model.scenario import Scenario, load

ROOT = Path(__file__).resolve().parents[1]
SWAPSIM = Path(sys.executable).with_name("swapsim")


class CountingPool(ThreadPoolExecutor):
    """A real thread pool that also counts the batches it holds at once (submitted, not yet handed on)."""

    def __init__(self, workers: int):
        super().__init__(max_workers=workers)
        self.lock, self.outstanding, self.most = threading.Lock(), 0, 0

    def submit(self, fn, /, *args, **kwargs):
        with self.lock:
            self.outstanding += 1
            self.most = max(self.most, self.outstanding)
        return super().submit(fn, *args, **kwargs)

    def handed_on(self) -> None:
        with self.lock:
            self.outstanding -= 1


def plan(sizes: list[int]) -> list[batches.Batch]:
    """Batches of the given sizes over consecutive runs of a short scenario."""
    scenario = Scenario(calendar={"horizon_days": 150})
    bounds, start = [], 0
    for size in sizes:
        bounds.append((start, start + size))
        start += size
    seeds = np.arange(start, dtype=np.int64) + 7
    return list(batches.batches_of([scenario], np.zeros(start, dtype=np.int64), seeds,
                                   {"run": np.arange(start)}, bounds))


@pytest.mark.parametrize("ordered", [True, False])
def test_results_come_back_whole_with_a_bounded_window(ordered):
    work = plan([2000, 5, 5, 5, 5, 5, 5, 5, 5, 5])  # the first batch is slow: the others finish before it
    with CountingPool(4) as pool:
        seen = []
        for result in batches.execute(work, pool, window=3, ordered=ordered):
            pool.handed_on()
            seen.append(result.index)
        assert pool.most <= 3
    if ordered:
        assert seen == list(range(10))
    else:
        assert sorted(seen) == list(range(10)) and seen[0] != 0
    alone = batches.run_batch(work[3]).runs
    assert alone["run"].tolist() == list(range(2010, 2015))


@pytest.mark.slow
def test_a_whole_run_is_the_same_on_threads_processes_and_in_this_process():
    scenario = load(ROOT / "scenarios" / "decree_2020.yaml")
    here = runs.run(scenario, runs=30, seed=2, lanes=7, series=False).runs
    with ThreadPoolExecutor(3) as pool:
        threads = runs.run(scenario, runs=30, seed=2, lanes=7, series=False, executor=pool).runs
    processes = runs.run(scenario, runs=30, seed=2, lanes=7, series=False, workers=2).runs
    assert here.equals(threads) and here.equals(processes)


def test_the_window_follows_the_workers():
    with ThreadPoolExecutor(6) as pool:
        assert batches.slots(pool) == 12
    assert batches.slots(batches.InlineExecutor(), workers=1) == 2


def test_workers_do_not_rerun_a_script_without_a_main_guard(tmp_path):
    """A script run as a file, with no `if __name__ == "__main__":`, runs once, even with worker processes."""
    script = tmp_path / "myscript.py"
    script.write_text(
        "from sim.experiments import runs\n"
        "from sim.model.scenario import load\n"
        f"scenario = load({str(ROOT / 'scenarios' / 'decree_2020.yaml')!r})\n"
        "print('running', __name__, flush=True)\n"
        "table = runs.run(scenario, runs=40, seed=1, lanes=10, workers=2, series=False).runs\n"
        "print('done', len(table), flush=True)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["running __main__", "done 40"], out.stdout


@pytest.mark.slow
def test_a_command_that_fails_on_its_input_with_workers_shows_no_traceback(tmp_path):
    for _ in range(3):
        out = subprocess.run([str(SWAPSIM), "compare", str(tmp_path / "missing.yaml"), "--workers", "2"],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
        assert out.returncode == 2 and "no such file" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_a_request_that_cannot_fit_is_refused_before_it_starts(tmp_path):
    scenario = load(ROOT / "scenarios" / "decree_2020.yaml")
    with pytest.raises(runs.TooBig, match="on disk"):
        runs.check_fits(tmp_path / "out", 10**12, scenario, series=True)
    with pytest.raises(runs.TooBig, match="of memory"):
        runs.check_fits(tmp_path / "out", 1000, scenario, series=False, fixed_memory=10**15)
    runs.check_fits(tmp_path / "out", 100_000, scenario, series=True)  # a large but reasonable run passes
    assert not (tmp_path / "out").exists()

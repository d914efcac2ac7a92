"""What the benchmarks share: paths, a baseline of this machine's speed, and timed commands."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DECREE = ROOT / "scenarios" / "decree_2020.yaml"
SWAPSIM = Path(sys.executable).with_name("swapsim")


def one_run_ms(samples: int = 30) -> float:
    """Median time of one decree_2020 run on its own (a one-lane model, no daily series): this machine's speed."""
    from sim.experiments.seeds import replicate_seed
    from sim.model.exchange import ExchangeModel
    from sim.model.scenario import load

    scenario = load(DECREE)
    times = []
    for k in range(samples):
        start = time.perf_counter()
        ExchangeModel(scenario, replicate_seed(1, k), collect=False).run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def timed_command(*args: str) -> tuple[float, float]:
    """Run `swapsim ARGS` in a fresh process; its wall time (s) and its peak memory with its children (MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([str(SWAPSIM), *args], check=True, capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024

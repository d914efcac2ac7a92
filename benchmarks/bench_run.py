"""Speed of single runs and of batches: prints figures, asserts nothing.

Targets (issue 2): one decree_2020 run under 15 ms; 1,000 runs under 10 s on 2 workers.
Usage: python benchmarks/bench_run.py [--runs 1000] [--single 100]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from sim.experiments import runs as runner
from sim.model.exchange import ExchangeModel
from sim.model.scenario import load

DECREE = Path(__file__).resolve().parents[1] / "scenarios" / "decree_2020.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per batch")
    parser.add_argument("--single", type=int, default=100, help="single runs timed one by one")
    args = parser.parse_args()
    scenario = load(DECREE)

    times, days = [], []
    for k in range(args.single):
        seed = runner.replicate_seed(1, k)
        start = time.perf_counter()
        model = ExchangeModel(scenario, seed)
        metrics = model.run()
        times.append(time.perf_counter() - start)
        days.append(metrics.end_day + 1)
    print(f"one run of decree_2020 (median of {args.single}): {statistics.median(times) * 1e3:.2f} ms"
          f"  [median {statistics.median(days):.0f} simulated days; "
          f"{sum(days) / sum(times):,.0f} days/s]")

    for workers in (1, 2):
        start = time.perf_counter()
        runner.run(scenario, runs=args.runs, seed=1, workers=workers, series=True)
        elapsed = time.perf_counter() - start
        print(f"{args.runs} runs with daily series on {workers} worker(s): {elapsed:.2f} s "
              f"({args.runs / elapsed:,.0f} runs/s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()

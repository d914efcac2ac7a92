"""Lanes against one run at a time: the same decree_2020 runs, in one process. Prints figures, asserts nothing.

Target (issue 6): lanes at least 50 times as fast as one run at a time on the same 2,000 runs.
Usage: python benchmarks/bench_lanes.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import time

from common import DECREE, one_run_ms

from sim.experiments import runs
from sim.model.scenario import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    scenario = load(DECREE)
    print(f"baseline: one decree_2020 run on its own takes {one_run_ms():.1f} ms on this machine (median of 30)")
    timings = {}
    tables = {}
    for label, lanes in (("one run at a time (--lanes 1)", 1), (f"lanes (--lanes {args.runs})", args.runs)):
        start = time.perf_counter()
        tables[label] = runs.run(scenario, runs=args.runs, seed=1, lanes=lanes, series=False).runs
        timings[label] = time.perf_counter() - start
        print(f"{args.runs:,} runs, {label}: {timings[label]:7.2f} s ({args.runs / timings[label]:8,.0f} runs/s)")
    slow, fast = timings.values()
    same = list(tables.values())[0].equals(list(tables.values())[1])
    print(f"lanes are {slow / fast:.0f}x as fast; the two runs tables are {'identical' if same else 'DIFFERENT'}")
    for series in (False, True):
        start = time.perf_counter()
        runs.run(scenario, runs=4 * args.runs, seed=2, series=series)
        elapsed = time.perf_counter() - start
        print(f"{4 * args.runs:,} runs with default lanes, {'with' if series else 'without'} daily series, "
              f"1 process: {elapsed:.2f} s ({4 * args.runs / elapsed:,.0f} runs/s)")


if __name__ == "__main__":
    main()

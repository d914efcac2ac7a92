"""Scenario discovery end to end through the command line: the discovery sweep, then PRIM and feature scoring.
Prints figures, asserts nothing.

Target (issue 10): the 20,000-point, one-run-per-point LHS sweep that PRIM wants is cheap with lanes.
Usage: python benchmarks/bench_discovery.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import ROOT, one_run_ms, timed_command

SPEC = ROOT / "scenarios" / "sweeps" / "discovery.yaml"
RUNS = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    baseline = one_run_ms()
    print(f"baseline: one decree_2020 run on its own takes {baseline:.1f} ms on this machine (median of 30); "
          f"{RUNS:,} such runs one at a time would take about {RUNS * baseline / 1000:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "discovery"
        for workers in (1, 2):
            times = [timed_command("sweep", str(SPEC), "--workers", str(workers), "--out", str(sweep), "--force")
                     for _ in range(args.repeat)]
            wall = statistics.median(t for t, _ in times)
            print(f"swapsim sweep discovery.yaml --workers {workers}: {wall:.1f} s for {RUNS:,} runs "
                  f"({RUNS / wall:,.0f} runs/s, {RUNS * baseline / 1000 / wall:.0f}x one at a time), "
                  f"peak {max(m for _, m in times):.0f} MiB")
        times = [timed_command("discover", str(sweep), "--outcome", "deadlocked", "--out", str(Path(tmp) / "found"),
                               "--force") for _ in range(args.repeat)]
        print(f"swapsim discover --outcome deadlocked (PRIM and feature scoring over {RUNS:,} runs): "
              f"{statistics.median(t for t, _ in times):.1f} s, peak {max(m for _, m in times):.0f} MiB")


if __name__ == "__main__":
    main()

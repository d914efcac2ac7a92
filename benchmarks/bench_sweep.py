"""Sweeps end to end through the command line (outputs and figures included). Prints figures, asserts nothing.

Targets (issue 6), on a machine where one decree_2020 run took 8 ms with the engine before lanes:
- `swapsim sweep scenarios/sweeps/trust_grid.yaml --workers 2` (24,200 runs): at most 5 s;
- `swapsim sweep scenarios/sweeps/sensitivity.yaml --workers 2` (40,960 runs): under 10 s.
Usage: python benchmarks/bench_sweep.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import ROOT, one_run_ms, timed_command

SWEEPS = ("trust_grid", "sensitivity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"baseline: one decree_2020 run on its own takes {one_run_ms():.1f} ms on this machine (median of 30)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in SWEEPS:
            for workers in (1, 2):
                times = [timed_command("sweep", str(ROOT / "scenarios" / "sweeps" / f"{name}.yaml"),
                                       "--workers", str(workers), "--out", str(Path(tmp) / name), "--force")[0]
                         for _ in range(args.repeat)]
                print(f"swapsim sweep {name}.yaml --workers {workers}: median {statistics.median(times):.2f} s "
                      f"(of {args.repeat}: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()

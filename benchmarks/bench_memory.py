"""Peak memory of a large run streamed to its results folder. Prints figures, asserts nothing.

Target (issue 6): `swapsim run scenarios/decree_2020.yaml --runs 100000 --workers 1` peaks under 1 GiB;
memory should not grow with the number of runs.
Usage: python benchmarks/bench_memory.py [--runs 100000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import DECREE, timed_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for runs in (args.runs // 10, args.runs):
            seconds, peak = timed_command("run", str(DECREE), "--runs", str(runs), "--workers", "1",
                                          "--out", str(Path(tmp) / f"r{runs}"))
            print(f"swapsim run decree_2020.yaml --runs {runs:,} --workers 1: {seconds:.1f} s, "
                  f"peak memory {peak:,.0f} MiB ({runs / seconds:,.0f} runs/s, with daily series and figures)")


if __name__ == "__main__":
    main()

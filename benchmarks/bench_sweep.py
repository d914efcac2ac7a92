"""Sweep throughput and memory: the trust grid on 1 and 2 workers. Prints figures, asserts nothing.

Target (issue 3): 2 workers at least 1.7 times as fast as 1; peak memory flat as the sweep grows.
Usage: python benchmarks/bench_sweep.py [--replications 20] [--grow 80]
Each measurement runs in a fresh process so that peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = Path(__file__).resolve().parents[1] / "scenarios" / "sweeps" / "trust_grid.yaml"


def measure(replications: int, workers: int) -> dict:
    """Run the trust grid once in this process and report runs/s and peak memory."""
    from sim.experiments import sweep_spec as sweep
    from sim.experiments import sweeps as sweep_runner

    spec = sweep.load_spec(SPEC).model_copy(update={"replications": replications})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = sweep_runner.run_sweep(spec, Path(tmp) / "grid", workers=workers, figures=False)
        elapsed = time.perf_counter() - start
    runs = results.summary["runs"]
    return {
        "replications": replications, "workers": workers, "runs": runs, "seconds": round(elapsed, 2),
        "runs_per_s": round(runs / elapsed, 1),
        "parent_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def in_fresh_process(replications: int, workers: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(replications), str(workers)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--grow", type=int, default=80, help="a larger sweep, to see whether memory grows")
    parser.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one)))
        return
    rows = [in_fresh_process(args.replications, w) for w in (1, 2)]
    rows.append(in_fresh_process(args.grow, 2))
    for r in rows:
        print(f"trust grid, {r['replications']:>3} replications ({r['runs']:>6,} runs) on {r['workers']} worker(s): "
              f"{r['seconds']:7.2f} s, {r['runs_per_s']:7.1f} runs/s; peak memory: parent {r['parent_peak_mib']:.0f} MiB,"
              f" largest child process {r['worker_peak_mib']:.0f} MiB")
    print(f"speed-up of 2 workers over 1: {rows[1]['runs_per_s'] / rows[0]['runs_per_s']:.2f}x")
    print(f"parent peak memory at {rows[2]['runs']:,} runs vs {rows[1]['runs']:,}: "
          f"{rows[2]['parent_peak_mib'] / rows[1]['parent_peak_mib']:.2f}x")


if __name__ == "__main__":
    main()

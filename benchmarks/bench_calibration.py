"""How fast is a calibration, and how many independent particles does it end with? The shipped spec, end to
end (`swapsim calibrate scenarios/calibration/record_2020.yaml --workers 2`), beside the same command of the
code before the sampler was rebuilt (benchmarks/baseline.py), in the same run.

    python benchmarks/bench_calibration.py
    python benchmarks/bench_calibration.py --replicates 1 2 4 8   # also the shipped spec at other K

Prints, for each: the wall time (ABC, posterior predictive, forecast band, figures), the simulations, the
final tolerance, the final population's effective sample size with copies of one particle merged (Kish) and
its distinct particles. Targets: ESS and distinct particles at least 500 of 1,000; under 3 minutes on two
cores. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from baseline import checkout, python_in
from common import ROOT, one_run_ms, timed_command

from sim.experiments.abc_smc import kish_ess
from sim.experiments.posterior import clusters

SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"


def population(out: Path) -> tuple[float, int, dict]:
    """The final population's merged ESS and distinct particles (parameter set and history), and its info."""
    info = json.loads((out / "calibration.json").read_text())
    frame = pd.read_parquet(out / "posterior.parquet")
    ids = clusters(frame)  # by `particle` where the posterior has it, else by parameter set and history
    return kish_ess(frame["weight"].to_numpy(), ids), len(set(ids.tolist())), info


def report(label: str, elapsed: float, peak: float | None, out: Path) -> None:
    ess, distinct, info = population(out)
    sims = info["simulations"]
    memory = f", peak memory {peak:.0f} MiB" if peak else ""
    print(f"{label}: {elapsed:.1f} s end to end{memory}")
    print(f"  {sims:,} simulations in {len(info['generations'])} generations ({sims / elapsed:,.0f} a second); "
          f"final tolerance {info['tolerance']:.4f}; ESS {ess:,.0f} and {distinct:,} distinct of "
          f"{len(pd.read_parquet(out / 'posterior.parquet')):,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, nargs="*", default=[],
                        help="also run the shipped spec with these simulations_per_particle")
    args = parser.parse_args()
    baseline = one_run_ms()
    print(f"baseline: one decree_2020 run on its own (one lane) takes {baseline:.1f} ms on this machine\n")
    with tempfile.TemporaryDirectory() as tmp, checkout() as before:
        tmp = Path(tmp)
        start = time.perf_counter()
        python_in(before, "-m", "sim.cli", "calibrate", "scenarios/calibration/record_2020.yaml", "--workers", "2",
                  "--out", str(tmp / "before"))
        old = time.perf_counter() - start
        report("before (one simulation per particle)", old, None, tmp / "before")
        new, peak = timed_command("calibrate", str(SPEC), "--workers", "2", "--out", str(tmp / "now"))
        report("now (the shipped spec)", new, peak, tmp / "now")
        print(f"  time now / before: {new / old:.2f}")
        for k in args.replicates:
            data = yaml.safe_load(SPEC.read_text())
            data.update(base=str(SPEC.parent / data["base"]), simulations_per_particle=k)
            spec = tmp / f"k{k}.yaml"
            spec.write_text(yaml.safe_dump(data))
            elapsed, peak = timed_command("calibrate", str(spec), "--workers", "2", "--out", str(tmp / f"k{k}"))
            report(f"now with simulations_per_particle: {k}", elapsed, peak, tmp / f"k{k}")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as err:
        sys.exit(f"a command failed: {err.cmd}\n{err.stderr}")

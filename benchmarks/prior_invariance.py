"""Do the calibration's moves leave the prior as it is when the record says nothing? The shipped spec's twelve
parameters on a record that cannot be missed (every point a lower bound of 0, so every distance is 0), for
the code before the sampler was rebuilt and for the code now, in the same run.

    python benchmarks/prior_invariance.py [--generations 15] [--particles 1000]

Prints, per parameter and for each code: the Kolmogorov-Smirnov p-value of the final population's place in
its prior range against the uniform, and for whole-number parameters the share of the population on the two
ends of the range beside the prior's. Target: p > 0.01 for every parameter. Asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from baseline import checkout, python_in
from common import ROOT
from scipy import stats

from sim.experiments import calibration, calibration_spec

SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"
WHOLE = ("verification.list_gap_days", "protocol.taliban_daily_capacity")


def nothing_spec(folder: Path, base: Path, particles: int, generations: int, replicates: bool) -> Path:
    """The shipped spec on a record that says nothing, with budget for `generations` generations of one round."""
    frame = pd.read_csv(ROOT / "sim" / "data" / "observed_2020" / "releases.csv")
    frame = frame[frame["date"] <= "2020-06-30"].assign(cumulative_released=0, note="lower bound")
    frame.to_csv(folder / "nothing.csv", index=False)
    data = yaml.safe_load(SPEC.read_text())
    data.update(base=str(base), observed="nothing.csv", particles=particles, min_acceptance=0.001)
    if replicates:  # now: one round of moves a generation (every particle is distinct already)
        data.update(simulations_per_particle=1, simulations=particles * (generations + 1))
    else:  # before: as many moves as its rule asks (at most 50 a generation); the old spec has no such keys
        for key in ("simulations_per_particle", "min_ess", "max_moves"):
            data.pop(key, None)
        data["simulations"] = particles * (50 * generations + 3)
    path = folder / "nothing.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def summary(values: pd.DataFrame, priors: dict) -> dict:
    out = {}
    for path, prior in priors.items():
        unit = prior.to_unit(values[path].to_numpy(dtype=float))
        if path in WHOLE:  # compare the values' ends with the prior's, and the histogram with the prior's cells
            draws = calibration.parameter_values({path: prior}, np.random.default_rng(0).random((400_000, 1)))[path]
            ends = (draws.min(), draws.max())
            support = np.arange(ends[0], ends[1] + 1)
            expected = np.array([(draws == v).mean() for v in support]) * len(values)
            observed = np.array([(values[path] == v).sum() for v in support])
            p = stats.chisquare(observed, expected).pvalue
            share = np.isin(values[path], ends).mean()
            out[path] = f"chi² p {p:5.3f}; on the ends {share:5.1%} (prior {np.isin(draws, ends).mean():.1%})"
        else:
            out[path] = f"KS p {stats.kstest(unit, 'uniform').pvalue:5.3f}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=15)
    parser.add_argument("--particles", type=int, default=1000)
    args = parser.parse_args()
    priors = calibration_spec.load_spec(SPEC).priors()
    with tempfile.TemporaryDirectory() as tmp, checkout() as before:
        tmp = Path(tmp)
        (tmp / "old").mkdir()
        old_spec = nothing_spec(tmp / "old", before / "scenarios" / "decree_2020.yaml", args.particles,
                                args.generations, replicates=False)
        python_in(before, "-m", "sim.cli", "calibrate", str(old_spec), "--out", str(tmp / "old" / "fit"),
                  "--workers", "1")
        old = pd.read_parquet(tmp / "old" / "fit" / "posterior.parquet")
        (tmp / "new").mkdir()
        spec = calibration_spec.load_spec(nothing_spec(tmp / "new", ROOT / "scenarios" / "decree_2020.yaml",
                                                       args.particles, args.generations, replicates=True))
        fit = calibration.Calibration(spec, tmp / "new" / "fit")
        for generation in fit.generations():
            fit.progress.generations.append(generation)
        new = fit.posterior()
    print(f"no data, {args.particles:,} particles; before: {old['generation'].max()} generations, now: "
          f"{new['generation'].max()} generations")
    if old["generation"].max() < args.generations:
        print(f"  (before stopped at generation {old['generation'].max()}: its budget or its acceptance rule)")
    then, now = summary(old, priors), summary(new, priors)
    print(f"\n  {'parameter':<42} {'before':<48} now")
    for path in priors:
        print(f"  {path:<42} {then[path]:<48} {now[path]}")


if __name__ == "__main__":
    main()

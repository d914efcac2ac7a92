"""Does the calibration recover what made the record? A simulation-based-calibration check.

For each of N synthetic records, parameter values are drawn from the priors of
scenarios/calibration/record_2020.yaml, the model makes a record from them (the real record's
dates, sides, confidence grades and lower bounds, with simulated counts), and the calibration is
run on it at the shipped spec's budget, through to its last generation. Over the records, each
parameter's 90% posterior interval should contain the value that made the record in about 90% of
them; a parameter the record cannot inform (`outcomes.deadlock_window_days`, added here: it only
judges a run's outcome at the horizon) should keep an interval about as wide as its prior's 90%.

    python benchmarks/sbc_calibration.py                  # 20 records at the shipped budget (~2 min each)
    python benchmarks/sbc_calibration.py --records 50 --particles 300 --simulations 60000   # smaller fits

Prints the coverage per parameter with the range a 90% rate gives by chance, and the pooled rate;
exits 1 when the pooled rate falls outside its 99% binomial range.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from common import ROOT, one_run_ms

from sim.experiments import calibration, calibration_spec, pool, storage
from sim.model.scenario import read_raw

SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"
UNINFORMED = "outcomes.deadlock_window_days"


def sbc_spec(args: argparse.Namespace, observed: Path | None, seed: int) -> calibration_spec.CalibrationSpec:
    """The shipped spec (its budget unless the options change it), on a synthetic record, with a parameter the
    record cannot inform added."""
    data = read_raw(SPEC)
    data.update(name="sbc", observed=None if observed is None else str(observed), seed=seed)
    for key in ("particles", "simulations", "min_acceptance"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data["parameters"] = {**data["parameters"], UNINFORMED: {"low": 30, "high": 120}}
    return calibration_spec.spec_from_dict(data, str(SPEC), SPEC.parent)


def one_record(k: int, args: argparse.Namespace, folder: Path, executor) -> pd.DataFrame:
    """Calibrate on synthetic record k; per parameter: the true value, the 90% interval, its share of the prior."""
    observed = folder / f"record_{k}.csv"
    rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(k,)))
    spec = sbc_spec(args, None, k)
    priors = spec.priors()
    truth = {path: float(v[0]) for path, v in calibration.parameter_values(priors, rng.random((1, len(priors)))).items()}
    storage.write_csv(observed, calibration.synthetic_record(spec, truth, seed=int(rng.integers(2**62))))
    spec = sbc_spec(args, observed, k)
    fit = calibration.Calibration(spec, folder / f"fit_{k}", args.workers, executor)
    for generation in fit.generations():
        fit.save(generation)
    posterior = fit.posterior()
    last = fit.progress.generations[-1]
    print(f"  record {k}: {fit.progress.simulations:,} simulations, {len(fit.progress.generations)} generations, "
          f"tolerance {last.epsilon:.3f}, ESS {last.ess:.0f}", flush=True)
    rows = []
    for path, prior in priors.items():
        q05, q95 = np.quantile(posterior[path].to_numpy(dtype=float), [0.05, 0.95])
        share = float(np.diff(prior.to_unit(np.array([q05, q95])))[0])
        rows.append({"record": k, "parameter": path, "truth": truth[path], "q05": q05, "q95": q95,
                     "covered": bool(q05 <= truth[path] <= q95), "share_of_prior": share,
                     "rank": float((posterior[path].to_numpy() < truth[path]).mean())})
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--particles", type=int, help="default: the shipped spec's")
    parser.add_argument("--simulations", type=int, help="default: the shipped spec's")
    parser.add_argument("--min-acceptance", type=float, help="default: the shipped spec's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", type=Path, help="also write the per-record table here (CSV)")
    args = parser.parse_args()

    baseline = one_run_ms()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, pool.process_pool(args.workers) as executor:
        table = pd.concat([one_record(k, args, Path(tmp), executor) for k in range(args.records)], ignore_index=True)
    elapsed = time.perf_counter() - start
    if args.out:
        storage.write_csv(args.out, table)

    n = args.records
    lo, hi = stats.binom.ppf([0.025, 0.975], n, 0.9)
    print(f"baseline: one decree_2020 run takes {baseline:.2f} ms on this machine")
    spec = sbc_spec(args, None, 0)
    print(f"{n} synthetic records, {spec.particles} particles, {spec.simulations_per_particle} simulations each, "
          f"a budget of {spec.simulations:,}: {elapsed:.0f} s ({elapsed / n:.1f} s a record, "
          f"{elapsed * 1000 / baseline / n:,.0f} single runs' time)")
    print(f"\n  {'parameter':<42} {'covered':>9}   {'rank KS p':>9}   {'interval / prior':>16}")
    for path, part in table.groupby("parameter", sort=False):
        ks = stats.kstest(part["rank"], "uniform").pvalue
        print(f"  {path:<42} {part['covered'].sum():>4} / {n:<3} {ks:>9.2f}   {part['share_of_prior'].mean():>15.0%}")
    pooled = table[table["parameter"] != UNINFORMED]
    total = len(pooled)
    plo, phi = stats.binom.ppf([0.005, 0.995], total, 0.9)
    rate = pooled["covered"].mean()
    print(f"\n  a 90% interval covers its truth in {lo:.0f}-{hi:.0f} of {n} records by chance (95%)")
    print(f"  pooled over the fitted parameters: {pooled['covered'].sum()} of {total} ({rate:.1%}); "
          f"99% range by chance {plo:.0f}-{phi:.0f}")
    uninformed = table[table["parameter"] == UNINFORMED]["share_of_prior"].mean()
    print(f"  {UNINFORMED} (the record cannot inform it): 90% interval spans {uninformed:.0%} of its prior "
          "(90% if it stays at the prior)")
    return 0 if plo <= pooled["covered"].sum() <= phi else 1


if __name__ == "__main__":
    sys.exit(main())

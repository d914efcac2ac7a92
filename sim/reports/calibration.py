"""A calibration's report: it runs the ABC (resumable) and writes, in its folder, posterior.parquet,
calibration.json (spec hash, method, every generation's tolerance, ESS and distinct particles, why it
stopped, seeds, the fit's in-sample coverage, provenance), calibrated.yaml (the base with the posterior
medians: a point summary, not the posterior), predictive.csv and figures. Forecasts from it are
`sim.reports.forecast`.

    from sim.experiments import calibration_spec
    from sim.reports import calibration as report
    spec = calibration_spec.load_spec("scenarios/calibration/record_2020.yaml")
    fit = report.calibrate(spec, "results/record_2020", workers=2)
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.experiments import batches, storage
from sim.experiments.calibration import Calibration, open_folder, simulate
from sim.experiments.calibration_spec import CalibrationSpec, spec_hash
from sim.experiments.posterior import clusters, continue_runs, posterior_rows
from sim.experiments.provenance import provenance
from sim.experiments.record import SIDES, Record, at_points, distance
from sim.experiments.seeds import SEED_RULE, replicate_seeds
from sim.experiments.sweep_spec import scenario_from_base
from sim.model.scenario import to_yaml, with_overrides
from sim.reports import calibration_figures as drawing
from sim.reports import figures
from sim.reports.forecast import bands

BEYOND_DAYS = 30  # the predictive bands go on this far past the fit window: how sharp the posterior is


@dataclass
class CalibrationResult:
    """A finished calibration: its folder, posterior, fit and summary."""

    out: Path
    posterior: pd.DataFrame
    predictive: pd.DataFrame  # date, day, side, quantiles of the cumulative releases
    coverage: dict
    info: dict


def calibrate(spec: CalibrationSpec, out: str | Path, workers: int = 1, lanes: int | None = None,
              resume: bool = False, force: bool = False, progress: bool = False, command: list[str] | None = None,
              executor: Executor | None = None, figures_wanted: bool = True) -> CalibrationResult:
    """Fit the spec (resumable, generation by generation), then write the posterior, its fit and its figures."""
    out = Path(out)
    with batches.open_executor(workers, executor=executor) as pool:
        fit = Calibration(spec, out, workers, pool, lanes)
        aside = open_folder(fit, resume, force)
        bar = batches.progress_bar(spec.simulations, f"calibrate {spec.name}", fit.progress.simulations,
                                   leave=True) if progress else None
        fit.on_done = bar.update if bar else None
        try:
            for generation in fit.generations():
                fit.save(generation)
                if bar:
                    bar.set_postfix_str(f"generation {generation.index}, tolerance {generation.epsilon:.3f}, "
                                        f"ESS {generation.ess:,.0f}")
            fit.finish()
        finally:
            if bar:
                bar.close()
        posterior = fit.posterior()
        predictive, runs = predict(fit, posterior, workers, pool, lanes)
        last = min(fit.until + BEYOND_DAYS, fit.base.calendar.horizon_days - 1)
        ahead = continue_runs(posterior, fit.base, replicate_seeds(spec.seed + 2, spec.predictive_runs), last,
                              fit.record.last_day, workers, pool, lanes)
    coverage = in_sample_coverage(fit.record, runs)
    info = _info(spec, fit, posterior, coverage, command)
    ahead_clusters = ahead.groupby("run", sort=True)["cluster"].first().to_numpy()
    info["sharpness"] = {"forecast": sharpness(bands(ahead, fit.base, ahead_clusters, seed=spec.seed), fit.until),
                         "replicates": sharpness(predictive, fit.until),
                         "note": "width of the 90% band of cumulative releases: 'forecast' continues the accepted "
                                 "histories past the last day the record reports, as `swapsim forecast` does; "
                                 "'replicates' reruns the whole period with fresh seeds, as the predictive figure "
                                 "does"}
    storage.write_parquet(out / "posterior.parquet", posterior)
    storage.write_csv(out / "predictive.csv", predictive)
    storage.write_text(out / "calibrated.yaml", calibrated_yaml(spec, posterior, out))
    if figures_wanted:
        for name, fig in drawing.calibration_figures(spec, fit.base, fit.record, posterior, predictive).items():
            figures.save(fig, out / "figures" / f"{name}.png")
    info["files"] = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) + ["calibration.json"]
    storage.write_json(out / "calibration.json", info)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return CalibrationResult(out, posterior, predictive, coverage, info)


def predict(fit: Calibration, posterior: pd.DataFrame, workers: int = 1, executor: Executor | None = None,
            lanes: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posterior predictive replicates: `predictive_runs` runs, each drawing a parameter set and its own seed from
    day 0, over the fit window and BEYOND_DAYS past it (how the fit is checked: could the model, so fitted, have
    produced the record?). Returns the quantiles per day and side, and each run's daily values."""
    spec = fit.spec
    seeds = replicate_seeds(spec.seed + 1, spec.predictive_runs)
    values = {path: posterior[path].to_numpy()[posterior_rows(posterior, seeds)] for path in spec.parameters}
    last = min(fit.until + BEYOND_DAYS, fit.base.calendar.horizon_days - 1)
    snaps = simulate(fit.base, values, seeds, list(range(last + 1)), last, workers, executor, lanes)
    return bands(snaps, fit.base), snaps


def sharpness(predictive: pd.DataFrame, until: int) -> dict:
    """Width of the 90% predictive band of each side's cumulative releases at the end of the fit window and
    BEYOND_DAYS after it (with the Monte Carlo interval of each end, where the table has it)."""
    out = {}
    for day in (until, until + BEYOND_DAYS):
        rows = predictive[predictive["day"] == day]
        out[f"day_{day}"] = {row["side"]: {"date": str(row["date"]), "width": float(row["q95"] - row["q05"]),
                                           **{k: float(v) for k, v in row.items() if str(k).startswith(("q05", "q95"))}}
                             for row in rows.to_dict(orient="records")}
    return out


def in_sample_coverage(record: Record, snaps: pd.DataFrame) -> dict:
    """Share of record points inside the 90% posterior predictive band, by side and confidence grade.

    A lower bound counts as covered when the band reaches it."""
    runs = snaps["run"].nunique()
    sim = at_points(snaps, record, runs)
    low, high = np.quantile(sim, 0.05, axis=0), np.quantile(sim, 0.95, axis=0)
    p = record.points.assign(q05=low, q95=high)
    p["covered"] = np.where(p["lower"], p["q95"] >= p["value"], (p["q05"] <= p["value"]) & (p["value"] <= p["q95"]))
    out: dict = {"band": "5-95% of posterior predictive runs", "runs": int(runs), "points": []}
    for side in SIDES:
        mine = p[p["side"] == side]
        strong = mine[mine["confidence"].isin(["high", "medium"])]
        out[side] = {"high_and_medium": _share(strong["covered"]), "all": _share(mine["covered"])}
    out["points"] = [{"date": str(r.date), "side": r.side, "value": r.value, "confidence": r.confidence,
                      "lower_bound": bool(r.lower), "weight": float(r.weight), "q05": float(r.q05),
                      "q95": float(r.q95), "covered": bool(r.covered)} for r in p.itertuples()]
    return out


def _share(flags: pd.Series) -> dict:
    return {"covered": int(flags.sum()), "of": int(len(flags)), "share": float(flags.mean()) if len(flags) else None}


def _info(spec: CalibrationSpec, fit: Calibration, posterior: pd.DataFrame, coverage: dict,
          command: list[str] | None) -> dict:
    gens = fit.progress.generations
    stop = fit.progress.stop
    summary = {}
    for path, prior in spec.priors().items():
        values = posterior[path].to_numpy(dtype=float)
        q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
        summary[path] = {"median": float(q50), "q05": float(q05), "q95": float(q95), "prior": prior.model_dump(),
                         "interval_share_of_prior": float(prior.to_unit(np.array([q95]))[0]
                                                          - prior.to_unit(np.array([q05]))[0])}
    last = gens[-1] if gens else None
    return {
        "name": spec.name,
        "spec_hash": spec_hash(spec),
        "spec": json.loads(spec.model_dump_json()),
        "base_scenario": scenario_from_base(spec.base, spec.folder, spec.source, spec.name).model_dump(mode="json"),
        "fixed": spec.fixed,
        "method": {"name": spec.method, "particles": spec.particles, "quantile": spec.quantile,
                   "simulations_per_particle": spec.simulations_per_particle, "min_ess": spec.min_ess,
                   "max_moves": spec.max_moves, "min_acceptance": spec.min_acceptance,
                   "distance": distance.__doc__.split("\n\n")[0].replace("\n   ", "").strip(),
                   "weights": spec.weights},
        "simulations": fit.progress.simulations,
        "generations": fit.state()["generations"],
        "stop": fit.state()["stop"],
        "acceptance": last.acceptance if last else None,
        "tolerance": last.epsilon if last else None,
        "ess": last.ess if last else None,
        "distinct": last.distinct if last else None,
        "distinct_histories": int(len(np.unique(clusters(posterior)))),
        "root_seed": spec.seed,
        "seed_rule": SEED_RULE,
        "record": {"until": spec.until.isoformat(), "last_date": str(fit.record.points["date"].max()),
                   "points": int(len(fit.record.points)),
                   "source": spec.observed or "sim/data/observed_2020/releases.csv"},
        "posterior": summary,
        "in_sample_coverage": coverage,
        **provenance(command),
    }


def calibrated_yaml(spec: CalibrationSpec, posterior: pd.DataFrame, out: Path) -> str:
    """A scenario extending the base with the fixed values and the posterior medians: a point summary of the
    posterior, handy for one run, not the posterior (use --posterior for that)."""
    medians = {}
    for path in spec.parameters:
        value = float(np.median(posterior[path]))
        medians[path] = int(round(value)) if posterior[path].dtype.kind == "i" else round(value, 6)
    nested: dict = {"metadata": {"name": f"{spec.name}_calibrated",
                                 "description": f"{spec.name}: the base with the posterior medians (a point summary)"}}
    for path, value in {**spec.fixed, **medians}.items():
        node = nested
        *sections, name = path.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    head = (f"# {spec.name}_calibrated: the base scenario with the values the calibration fixed and the medians of\n"
            "# its posterior. A point summary for a single run or a quick look, NOT the posterior: to carry what\n"
            "# the record leaves uncertain into results, run with --posterior on the calibration folder.\n")
    if isinstance(spec.base, str):
        target = os.path.relpath((spec.folder / spec.base).resolve(), out.resolve())
        return head + yaml.safe_dump({"extends": target, **nested}, sort_keys=False)
    base = scenario_from_base(spec.base, spec.folder, spec.source, spec.name)
    full = with_overrides(base, {**spec.fixed, **medians, "metadata.name": nested["metadata"]["name"]})
    return head + to_yaml(full)


def format_summary(result: CalibrationResult) -> str:
    """The terminal summary: each generation of the ABC and why it stopped, the fit's coverage, the forecast band
    past the window, and each parameter's posterior against its prior."""
    info, cov = result.info, result.coverage
    m = info["method"]
    lines = [f"{info['name']}: {info['simulations']:,} simulations in {len(info['generations'])} generations "
             f"({m['name']}, {m['particles']:,} particles, {m['simulations_per_particle']} "
             f"simulation{'s' if m['simulations_per_particle'] > 1 else ''} each)", "",
             f"  {'generation':>10} {'tolerance':>10} {'rounds':>7} {'acceptance':>11} {'ESS':>7} {'distinct':>9}"]
    for g in info["generations"]:
        lines.append(f"  {g['index']:>10} {g['epsilon']:>10.4f} {g['rounds']:>7} {g['acceptance']:>11.1%} "
                     f"{g['ess']:>7,.0f} {g['distinct']:>9,}")
    if info.get("stop"):
        lines.append(f"  stopped: {info['stop']['detail']}")
    lines += ["", "  in-sample coverage of the record's points by the 90% posterior predictive band:"]
    for side in SIDES:
        c = cov[side]["high_and_medium"]
        lines.append(f"    {side}: {c['covered']} of {c['of']} high- and medium-confidence points")
    missed = [p for p in cov["points"] if not p["covered"]]
    lines += [f"    outside the band: {p['date']} {p['side']} {'≥' if p['lower_bound'] else ''}{p['value']:,.0f} "
              f"({p['confidence']} confidence; band {p['q05']:,.0f}–{p['q95']:,.0f})" for p in missed]
    until = info["record"]["until"]
    lines += ["", f"  on {until}, the fit window's last day, the posterior predictive (fresh seeds) has:"]
    lines += [f"    {row.side}: median {row.q50:,.0f}, 90% band {row.q05:,.0f}–{row.q95:,.0f} ({row.q95 - row.q05:,.0f} wide)"
              for row in result.predictive[result.predictive["date"].astype(str) == until].itertuples()]
    ahead = info["sharpness"]["forecast"]
    day = max(ahead, key=lambda key: int(key.split("_")[1]))
    lines += ["", f"  90% forecast band on {next(iter(ahead[day].values()))['date']}, continuing the accepted histories "
                  "(90% Monte Carlo intervals of its ends in brackets):"]
    lines += [f"    {side}: {b['q05']:,.0f} [{b['q05_low']:,.0f}–{b['q05_high']:,.0f}] – {b['q95']:,.0f} "
              f"[{b['q95_low']:,.0f}–{b['q95_high']:,.0f}] ({b['width']:,.0f} wide)"
              for side, b in ahead[day].items()]
    lines += ["", f"  {'parameter':<42} {'median':>10}   {'90% interval':<23} {'of prior range':>14}"]
    for path, s in info["posterior"].items():
        lines.append(f"  {path:<42} {s['median']:>10.4g}   {s['q05']:>10.4g} – {s['q95']:<10.4g} "
                     f"{s['interval_share_of_prior']:>13.0%}")
    lines += ["", f"written to {result.out}/ (posterior.parquet, calibration.json, calibrated.yaml, predictive.csv, "
                  "figures/)"]
    return "\n".join(lines)

"""A calibration's report and the forecasts drawn from it.

`calibrate` runs the ABC (resumable) and writes, in its folder: posterior.parquet, calibration.json
(spec hash, method, simulations, acceptance, seeds, the fit's in-sample coverage, provenance),
calibrated.yaml (the base with the posterior medians: a point summary, not the posterior) and
figures. `forecast` runs the posterior forward: each run draws an accepted simulation, replays its history
over the fit window, then goes on with its own seed.

    from sim.experiments import calibration
    from sim.reports import calibration as report
    spec = calibration.load_spec("scenarios/calibration/record_2020.yaml")
    fit = report.calibrate(spec, "results/record_2020", workers=2)
    report.forecast("results/record_2020", until="2020-09-30", runs=2000, out="results/forecast")
"""

from __future__ import annotations

import datetime as dt
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
from sim.experiments import calibration as abc
from sim.experiments.provenance import provenance
from sim.experiments.seeds import SEED_RULE, replicate_seeds
from sim.model.scenario import Scenario, ScenarioError, to_yaml, with_overrides
from sim.reports import calibration_figures as drawing
from sim.reports import figures

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BEYOND_DAYS = 30  # the predictive bands go on this far past the fit window: how sharp the posterior is
SIDE_TOTALS = {"government_released_taliban": "government_prisoners",
               "taliban_released_government": "taliban_prisoners"}


@dataclass
class CalibrationResult:
    """A finished calibration: its folder, posterior, fit and summary."""

    out: Path
    posterior: pd.DataFrame
    predictive: pd.DataFrame  # date, day, side, quantiles of the cumulative releases
    coverage: dict
    info: dict


def calibrate(spec: abc.CalibrationSpec, out: str | Path, workers: int = 1, lanes: int | None = None,
              resume: bool = False, force: bool = False, progress: bool = False, command: list[str] | None = None,
              executor: Executor | None = None, figures_wanted: bool = True) -> CalibrationResult:
    """Fit the spec (resumable, generation by generation), then write the posterior, its fit and its figures."""
    out = Path(out)
    with batches.open_executor(workers, executor=executor) as pool:
        fit = abc.Calibration(spec, out, workers, pool, lanes)
        aside = abc.open_folder(fit, resume, force)
        bar = batches.progress_bar(spec.simulations, f"calibrate {spec.name}", fit.progress.simulations,
                                   leave=True) if progress else None
        fit.on_done = bar.update if bar else None
        try:
            for generation in fit.generations():
                fit.save(generation)
                if bar:
                    bar.set_postfix_str(f"generation {generation.index}, tolerance {generation.epsilon:.3f}")
        finally:
            if bar:
                bar.close()
        posterior = fit.posterior()
        predictive, runs = predict(fit, posterior, workers, pool, lanes)
        last = min(fit.until + BEYOND_DAYS, fit.base.calendar.horizon_days - 1)
        ahead = abc.continue_runs(posterior, fit.base, replicate_seeds(spec.seed + 2, spec.predictive_runs), last,
                                  fit.until, workers, pool, lanes)
    coverage = in_sample_coverage(fit.record, runs)
    info = _info(spec, fit, posterior, coverage, command)
    info["sharpness"] = {"forecast": sharpness(bands(ahead, fit.base), fit.until),
                         "replicates": sharpness(predictive, fit.until),
                         "note": "width of the 90% band of cumulative releases: 'forecast' continues the accepted "
                                 "histories past the fit window, as `swapsim forecast` does; 'replicates' reruns "
                                 "the whole period with fresh seeds, as the predictive figure does"}
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


def predict(fit: abc.Calibration, posterior: pd.DataFrame, workers: int = 1, executor: Executor | None = None,
            lanes: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posterior predictive replicates: `predictive_runs` runs, each drawing a parameter set and its own seed from
    day 0, over the fit window and BEYOND_DAYS past it (how the fit is checked: could the model, so fitted, have
    produced the record?). Returns the quantiles per day and side, and each run's daily values."""
    spec = fit.spec
    seeds = replicate_seeds(spec.seed + 1, spec.predictive_runs)
    values = {path: posterior[path].to_numpy()[abc.posterior_rows(posterior, seeds)] for path in spec.parameters}
    last = min(fit.until + BEYOND_DAYS, fit.base.calendar.horizon_days - 1)
    snaps = abc.simulate(fit.base, values, seeds, list(range(last + 1)), last, workers, executor, lanes)
    return bands(snaps, fit.base), snaps


def bands(snaps: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Quantiles of both sides' cumulative releases per day: date, day, side, q05, q25, q50, q75, q95."""
    start = pd.Timestamp(scenario.calendar.start_date)
    rows = []
    for side, column in abc.SIDES.items():
        q = snaps.groupby("day")[column].quantile(list(QUANTILES)).unstack()
        q.columns = [f"q{round(100 * c):02d}" for c in QUANTILES]
        q = q.reset_index()
        q.insert(0, "date", (start + pd.to_timedelta(q["day"], unit="D")).dt.date)
        q.insert(2, "side", side)
        rows.append(q)
    return pd.concat(rows, ignore_index=True)


def sharpness(predictive: pd.DataFrame, until: int) -> dict:
    """Width of the 90% predictive band of each side's cumulative releases at the end of the fit window and
    BEYOND_DAYS after it."""
    out = {}
    for day in (until, until + BEYOND_DAYS):
        rows = predictive[predictive["day"] == day]
        out[f"day_{day}"] = {row.side: {"date": str(row.date), "q05": float(row.q05), "q95": float(row.q95),
                                        "width": float(row.q95 - row.q05)} for row in rows.itertuples()}
    return out


def in_sample_coverage(record: abc.Record, snaps: pd.DataFrame) -> dict:
    """Share of record points inside the 90% posterior predictive band, by side and confidence grade.

    A lower bound counts as covered when the band reaches it."""
    runs = snaps["run"].nunique()
    sim = abc.at_points(snaps, record, runs)
    low, high = np.quantile(sim, 0.05, axis=0), np.quantile(sim, 0.95, axis=0)
    p = record.points.assign(q05=low, q95=high)
    p["covered"] = np.where(p["lower"], p["q95"] >= p["value"], (p["q05"] <= p["value"]) & (p["value"] <= p["q95"]))
    out: dict = {"band": "5-95% of posterior predictive runs", "runs": int(runs), "points": []}
    for side in abc.SIDES:
        mine = p[p["side"] == side]
        strong = mine[mine["confidence"].isin(["high", "medium"])]
        out[side] = {"high_and_medium": _share(strong["covered"]), "all": _share(mine["covered"])}
    out["points"] = [{"date": str(r.date), "side": r.side, "value": r.value, "confidence": r.confidence,
                      "lower_bound": bool(r.lower), "q05": float(r.q05), "q95": float(r.q95),
                      "covered": bool(r.covered)} for r in p.itertuples()]
    return out


def _share(flags: pd.Series) -> dict:
    return {"covered": int(flags.sum()), "of": int(len(flags)), "share": float(flags.mean()) if len(flags) else None}


def _info(spec: abc.CalibrationSpec, fit: abc.Calibration, posterior: pd.DataFrame, coverage: dict,
          command: list[str] | None) -> dict:
    gens = fit.progress.generations
    priors = spec.priors()
    summary = {}
    for path, prior in priors.items():
        values = posterior[path].to_numpy(dtype=float)
        q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
        summary[path] = {"median": float(q50), "q05": float(q05), "q95": float(q95), "prior": prior.model_dump(),
                         "interval_share_of_prior": float(prior.to_unit(np.array([q95]))[0]
                                                          - prior.to_unit(np.array([q05]))[0])}
    return {
        "name": spec.name,
        "spec_hash": abc.spec_hash(spec),
        "spec": json.loads(spec.model_dump_json()),
        "base_scenario": abc.scenario_from_base(spec.base, spec.folder, spec.source, spec.name).model_dump(mode="json"),
        "fixed": spec.fixed,
        "method": {"name": spec.method, "particles": spec.particles, "quantile": spec.quantile,
                   "min_acceptance": spec.min_acceptance, "distance": abc.distance.__doc__.split("\n\n")[0]
                   .replace("\n   ", "").strip(), "weights": spec.weights},
        "simulations": fit.progress.simulations,
        "generations": fit.state()["generations"],
        "acceptance": gens[-1].acceptance if gens else None,
        "tolerance": gens[-1].epsilon if gens else None,
        "root_seed": spec.seed,
        "seed_rule": SEED_RULE,
        "record": {"until": spec.until.isoformat(), "points": int(len(fit.record.points)),
                   "source": spec.observed or "sim/data/observed_2020/releases.csv"},
        "posterior": summary,
        "in_sample_coverage": coverage,
        **provenance(command),
    }


def calibrated_yaml(spec: abc.CalibrationSpec, posterior: pd.DataFrame, out: Path) -> str:
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
    base = abc.scenario_from_base(spec.base, spec.folder, spec.source, spec.name)
    full = with_overrides(base, {**spec.fixed, **medians, "metadata.name": nested["metadata"]["name"]})
    return head + to_yaml(full)


# ---------------------------------------------------------------- forecasts


def forecast(folder: str | Path, until: str | dt.date, runs: int = 2000, out: str | Path | None = None,
             seed: int | None = None, workers: int = 1, lanes: int | None = None, force: bool = False,
             command: list[str] | None = None, executor: Executor | None = None) -> dict:
    """Run a calibration's posterior forward to `until`: each run draws an accepted simulation (its parameter set,
    and its history up to the end of the fit window, replayed), then goes on with its own seed.

    Writes forecast.csv (quantiles of both sides' cumulative releases per day), completion.csv (share
    completed by `until`, quantiles of the completion date) and a figure; returns the completion table.
    """
    posterior = abc.load_posterior(folder)
    info = json.loads((Path(folder) / "calibration.json").read_text())
    scenario = with_overrides(posterior.base, posterior.fixed) if posterior.fixed else posterior.base
    until = dt.date.fromisoformat(str(until))
    last = (until - scenario.calendar.start_date).days
    if not 0 <= last < scenario.calendar.horizon_days:
        raise ScenarioError([f"--until {until}: outside the scenario's calendar "
                             f"({scenario.calendar.start_date} and {scenario.calendar.horizon_days} days after)"])
    out = Path(out or Path(folder) / f"forecast_{until}")
    storage.check_output(out, force)
    root = info["root_seed"] + 2 if seed is None else seed
    seeds = replicate_seeds(root, runs)
    fit_until = dt.date.fromisoformat(info["record"]["until"])
    snaps = abc.continue_runs(posterior.frame, scenario, seeds, last, (fit_until - scenario.calendar.start_date).days,
                              workers, executor, lanes)
    table = bands(snaps, scenario)
    completion = completion_table(snaps, scenario, until)
    with storage.staged_directory(out, force) as stage:
        storage.write_csv(stage / "forecast.csv", table)
        storage.write_csv(stage / "completion.csv", completion)
        fig = drawing.forecast_figure(table, scenario, fit_until, until, _record_points(info, scenario), runs)
        figures.save(fig, stage / "figures" / "forecast.png")
        storage.write_json(stage / "forecast.json", {
            "calibration": str(Path(folder)), "calibration_spec_hash": info["spec_hash"], "until": until.isoformat(),
            "runs": runs, "root_seed": root, "seed_rule": SEED_RULE,
            "draws": "each run draws an accepted simulation from the posterior by weight (a stream of its seed), "
                     "replays its parameter set and its chance (its seed's streams) up to the end of the fit "
                     f"window ({fit_until}), then goes on with its own seed", **provenance(command)})
    return {"forecast": table, "completion": completion, "out": out}


def completion_table(snaps: pd.DataFrame, scenario: Scenario, until: dt.date) -> pd.DataFrame:
    """Per side (government, taliban, exchange): share of runs completed by `until`, and the 5%, 50% and 95%
    quantiles of the completion date among all runs (empty where that quantile is not reached by then)."""
    p = scenario.protocol
    done = {
        "government": snaps["government_released"] >= p.government_prisoners,
        "taliban": snaps["taliban_released"] >= p.taliban_prisoners,
    }
    done["exchange"] = done["government"] & done["taliban"]
    start = pd.Timestamp(scenario.calendar.start_date)
    rows = []
    for side, flag in done.items():
        first = snaps[flag.to_numpy()].groupby("run")["day"].min()
        days = first.reindex(snaps["run"].unique()).fillna(np.inf).to_numpy()  # inf: not completed by `until`
        row = {"side": side, "share_completed": float(np.isfinite(days).mean())}
        for q in (0.05, 0.5, 0.95):
            day = np.quantile(days, q, method="inverted_cdf")
            row[f"q{round(100 * q):02d}_date"] = "" if not np.isfinite(day) else \
                (start + pd.Timedelta(days=int(day))).date().isoformat()
        rows.append(row)
    return pd.DataFrame(rows)


def _record_points(info: dict, scenario: Scenario) -> pd.DataFrame:
    points = pd.DataFrame(info["in_sample_coverage"]["points"])
    points["date"] = pd.to_datetime(points["date"])
    return points


def format_summary(result: CalibrationResult) -> str:
    """The terminal summary: the run of the ABC, the fit's coverage, each parameter's posterior against its prior."""
    info, cov = result.info, result.coverage
    lines = [f"{info['name']}: {info['simulations']:,} simulations in {len(info['generations'])} generations "
             f"({info['method']['name']}, {info['method']['particles']:,} particles); final tolerance "
             f"{info['tolerance']:.3f}, last acceptance {info['acceptance']:.1%}", "",
             "  in-sample coverage of the record's points by the 90% posterior predictive band:"]
    for side in abc.SIDES:
        c = cov[side]["high_and_medium"]
        lines.append(f"    {side}: {c['covered']} of {c['of']} high- and medium-confidence points")
    ahead = info["sharpness"]["forecast"]
    day = max(ahead, key=lambda key: int(key.split("_")[1]))
    lines += ["", f"  90% forecast band on {next(iter(ahead[day].values()))['date']}, continuing the accepted histories:"]
    lines += [f"    {side}: {band['q05']:,.0f} – {band['q95']:,.0f} ({band['width']:,.0f} wide)"
              for side, band in ahead[day].items()]
    lines += ["", f"  {'parameter':<42} {'median':>10}   {'90% interval':<23} {'of prior range':>14}"]
    for path, s in info["posterior"].items():
        lines.append(f"  {path:<42} {s['median']:>10.4g}   {s['q05']:>10.4g} – {s['q95']:<10.4g} "
                     f"{s['interval_share_of_prior']:>13.0%}")
    lines += ["", f"written to {result.out}/ (posterior.parquet, calibration.json, calibrated.yaml, predictive.csv, "
                  "figures/)"]
    return "\n".join(lines)


def format_forecast(done: dict) -> str:
    """The terminal summary of a forecast: completion by the date, and the median path's end."""
    completion, table = done["completion"], done["forecast"]
    last = table[table["day"] == table["day"].max()]
    lines = [f"forecast to {last['date'].iloc[0]}:"]
    for row in last.itertuples():
        lines.append(f"  {row.side}: median {row.q50:,.0f} (90% band {row.q05:,.0f} – {row.q95:,.0f})")
    lines.append("")
    for row in completion.itertuples():
        when = f"; median completion {row.q50_date}" if row.q50_date else ""
        lines.append(f"  {row.side}: completed in {row.share_completed:.1%} of runs{when}")
    lines += ["", f"written to {done['out']}/ (forecast.csv, completion.csv, forecast.json, figures/forecast.png)"]
    return "\n".join(lines)

"""Forecasts from a calibration: its posterior run forward, with the Monte Carlo error of every share and quantile.

Each run draws an accepted simulation (its parameter set and its history), replays its history up to the
last day the record reports, then goes on with its own seed. Runs that drew one particle share its luck,
so each share and quantile carries a 90% interval from a cluster bootstrap over the distinct particles
(`sim.reports.bootstrap`).

    from sim.reports import forecast
    done = forecast.forecast("results/record_2020", until="2020-09-30", runs=2000, out="results/forecast")
    done["completion"]      # share completed by the date and completion-date quantiles, each with its interval
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pandas as pd

from sim import DEFAULT_RUNS
from sim.experiments import storage
from sim.experiments.posterior import continue_runs, load_posterior
from sim.experiments.provenance import provenance
from sim.experiments.record import SIDES
from sim.experiments.runs import check_fits
from sim.experiments.seeds import SEED_RULE, replicate_seeds
from sim.model.scenario import Scenario, ScenarioError, with_overrides
from sim.reports import bootstrap
from sim.reports import calibration_figures as drawing
from sim.reports import figures

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
WITH_ERROR = (0.05, 0.5, 0.95)  # the band's ends and its median get a Monte Carlo interval
BAND_RESAMPLES = 200  # per day and side: enough for the lines drawn; the shares use bootstrap.RESAMPLES
BYTES_PER_RUN_DAY = 120  # in memory: both sides' releases of every run and day, as a table and its copies
PARTS = ("government", "taliban", "exchange")


def _name(q: float) -> str:
    return f"q{round(100 * q):02d}"


def bands(snaps: pd.DataFrame, scenario: Scenario, clusters: np.ndarray | None = None, seed: int = 0
          ) -> pd.DataFrame:
    """Quantiles of both sides' cumulative releases per day: date, day, side, q05 ... q95; with `clusters` (one
    per run), also the 90% Monte Carlo interval of q05, q50 and q95 (`q05_low`, `q05_high`, ...)."""
    start = pd.Timestamp(scenario.calendar.start_date)
    days = np.unique(snaps["day"].to_numpy())
    runs = len(snaps) // len(days)
    weights = None if clusters is None else bootstrap.cluster_weights(clusters, resamples=BAND_RESAMPLES, seed=seed)
    rows = []
    for side, column in SIDES.items():
        wide = snaps[column].to_numpy().reshape(runs, len(days)).astype(float)
        table = {"date": (start + pd.to_timedelta(days, unit="D")).date, "day": days, "side": side}
        for q in QUANTILES:
            table[_name(q)] = np.quantile(wide, q, axis=0)
        if weights is not None:
            for q in WITH_ERROR:
                spread = np.stack([bootstrap.weighted_quantiles(wide[:, d], weights, q) for d in range(len(days))])
                table[f"{_name(q)}_low"], table[f"{_name(q)}_high"] = np.quantile(spread, [0.05, 0.95], axis=1)
        rows.append(pd.DataFrame(table))
    return pd.concat(rows, ignore_index=True)


def completion_days(snaps: pd.DataFrame, scenario: Scenario) -> dict[str, np.ndarray]:
    """Per part (government, taliban, exchange): each run's first day complete (inf: not by the last day).

    A side is complete when it holds no more than the protocol's `completion_tolerance` of its prisoners."""
    p = scenario.protocol
    tol = p.completion_tolerance
    done = {"government": snaps["government_released"].to_numpy() >= p.government_prisoners * (1 - tol) - 1e-9,
            "taliban": snaps["taliban_released"].to_numpy() >= p.taliban_prisoners * (1 - tol) - 1e-9}
    done["exchange"] = done["government"] & done["taliban"]
    run, day = snaps["run"].to_numpy(), snaps["day"].to_numpy()
    n = int(run.max()) + 1
    out = {}
    for part, flag in done.items():
        first = np.full(n, np.inf)
        np.minimum.at(first, run[flag], day[flag].astype(float))
        out[part] = first
    return out


def completion_table(first: dict[str, np.ndarray], clusters: np.ndarray, scenario: Scenario, last: int,
                     seed: int = 0) -> pd.DataFrame:
    """Per part: the share of runs complete by day `last` and the 5%, 50% and 95% completion dates, each with
    its 90% Monte Carlo interval (`_low`, `_high`); a date is empty where that quantile is not reached."""
    start = pd.Timestamp(scenario.calendar.start_date)
    weights = bootstrap.cluster_weights(clusters, seed=seed)

    def date(day: float) -> str:
        return "" if not np.isfinite(day) else (start + pd.Timedelta(days=int(day))).date().isoformat()

    rows = []
    for part in PARTS:
        days = first[part]
        share, low, high = bootstrap.share_interval(days <= last, clusters, seed=seed)
        row = {"side": part, "share_completed": share, "share_low": low, "share_high": high}
        for q in WITH_ERROR:
            point, q_low, q_high = bootstrap.quantile_interval(days, clusters, q, weights=weights)
            row[f"{_name(q)}_date"], row[f"{_name(q)}_date_low"], row[f"{_name(q)}_date_high"] = \
                date(point), date(q_low), date(q_high)
        rows.append(row)
    return pd.DataFrame(rows)


def completion_curve(first: dict[str, np.ndarray], clusters: np.ndarray, scenario: Scenario, last: int,
                     seed: int = 0) -> pd.DataFrame:
    """The share of runs complete by each day, per part, with its 90% Monte Carlo interval."""
    start = pd.Timestamp(scenario.calendar.start_date)
    weights = bootstrap.cluster_weights(clusters, seed=seed)
    days = np.arange(last + 1)
    rows = []
    for part in PARTS:
        done = first[part][None, :] <= days[:, None]  # days x runs
        spread = (weights @ done.T.astype(float)) / weights.sum(axis=1, keepdims=True)  # resamples x days
        low, high = np.quantile(spread, [0.05, 0.95], axis=0)
        rows.append(pd.DataFrame({"date": (start + pd.to_timedelta(days, unit="D")).date, "day": days, "side": part,
                                  "share": done.mean(axis=1), "low": low, "high": high}))
    return pd.concat(rows, ignore_index=True)


def _record_points(info: dict) -> pd.DataFrame:
    points = pd.DataFrame(info["in_sample_coverage"]["points"])
    points["date"] = pd.to_datetime(points["date"])
    return points


def replay_day(info: dict, scenario: Scenario, replay_until: dt.date | None) -> tuple[int, dt.date]:
    """The last day a forecast replays the accepted histories: by default the last day the fitted record
    reports (after it, nothing was matched), else the date given, which must lie in the fit window."""
    start, fit_until = scenario.calendar.start_date, dt.date.fromisoformat(info["record"]["until"])
    if replay_until is None:
        replay_until = dt.date.fromisoformat(info["record"].get("last_date") or
                                             max(p["date"] for p in info["in_sample_coverage"]["points"]))
    elif not start <= replay_until <= fit_until:
        raise ScenarioError([f"--replay-until {replay_until}: must lie in the fit window ({start} to {fit_until})"])
    return (replay_until - start).days, replay_until


def forecast(folder: str | Path, until: str | dt.date, runs: int = DEFAULT_RUNS, out: str | Path | None = None,
             seed: int | None = None, workers: int = 1, lanes: int | None = None, force: bool = False,
             command: list[str] | None = None, executor: Executor | None = None,
             replay_until: dt.date | None = None) -> dict:
    """Run a calibration's posterior forward to `until` and write the forecast's folder; returns its tables.

    Writes forecast.csv (quantiles of both sides' cumulative releases per day, with Monte Carlo intervals),
    completion.csv (share completed by `until`, completion-date quantiles), completion_curve.csv (the share
    completed by each day), ensemble.parquet (every run's daily releases, for `swapsim score`),
    forecast.json and figures (also returned, by name, under "figures").
    """
    posterior = load_posterior(folder)
    info = posterior.info
    scenario = with_overrides(posterior.base, posterior.fixed) if posterior.fixed else posterior.base
    until = dt.date.fromisoformat(str(until))
    last = (until - scenario.calendar.start_date).days
    fit_until = dt.date.fromisoformat(info["record"]["until"])
    if not 0 <= last < scenario.calendar.horizon_days:
        raise ScenarioError([f"--until {until}: outside the scenario's calendar "
                             f"({scenario.calendar.start_date} and {scenario.calendar.horizon_days} days after)"])
    if until <= fit_until:
        raise ScenarioError([f"--until {until}: inside the fit window (to {fit_until}); a forecast looks beyond it"])
    replay, replay_date = replay_day(info, scenario, replay_until)
    out = Path(out or Path(folder) / f"forecast_{until}")
    storage.check_output(out, force)
    check_fits(out, runs, scenario, series=True, lanes=lanes, fixed_memory=runs * (last + 1) * BYTES_PER_RUN_DAY,
               optional_series=False)
    root = info["root_seed"] + 2 if seed is None else seed
    seeds = replicate_seeds(root, runs)
    snaps = continue_runs(posterior.frame, scenario, seeds, last, replay, workers, executor, lanes)
    clusters = snaps.groupby("run", sort=True)["cluster"].first().to_numpy()
    table = bands(snaps, scenario, clusters, seed=root)
    first = completion_days(snaps, scenario)
    completion = completion_table(first, clusters, scenario, last, seed=root)
    curve = completion_curve(first, clusters, scenario, last, seed=root)
    points = _record_points(info)
    summary = {
        "calibration": str(Path(folder)), "calibration_spec_hash": info["spec_hash"], "until": until.isoformat(),
        "fit_until": fit_until.isoformat(), "replay_until": replay_date.isoformat(), "runs": runs,
        "distinct_histories": int(len(np.unique(clusters))), "root_seed": root, "seed_rule": SEED_RULE,
        "completion_tolerance": scenario.protocol.completion_tolerance,
        "calendar_start": scenario.calendar.start_date.isoformat(),
        "totals": {"government_released_taliban": scenario.protocol.government_prisoners,
                   "taliban_released_government": scenario.protocol.taliban_prisoners},
        "draws": "each run draws an accepted simulation from the posterior by weight (a stream of its seed), "
                 "replays its parameter set and its chance (its seed's streams) up to the last day the record "
                 f"reports ({replay_date}), then goes on with its own seed",
        "monte_carlo": f"90% intervals from a cluster bootstrap over the distinct particles drawn "
                       f"({bootstrap.RESAMPLES} resamples for shares and dates, {BAND_RESAMPLES} for daily bands)",
        "completion": json.loads(completion.to_json(orient="records")),
        **provenance(command)}
    drawn = {"forecast": drawing.forecast_figure(table, scenario, replay_date, until, points, runs),
             "completion": drawing.completion_figure(curve, scenario, replay_date, until, runs)}
    with storage.staged_directory(out, force) as stage:
        storage.write_csv(stage / "forecast.csv", table)
        storage.write_csv(stage / "completion.csv", completion)
        storage.write_csv(stage / "completion_curve.csv", curve)
        storage.write_parquet(stage / "ensemble.parquet", snaps)
        for name, fig in drawn.items():
            figures.save(fig, stage / "figures" / f"{name}.png")
        storage.write_json(stage / "forecast.json", summary)
    return {"forecast": table, "completion": completion, "curve": curve, "out": out, "info": summary,
            "figures": drawn}


def _interval(low: float, high: float, fmt: str = "{:.1%}") -> str:
    return f"{fmt.format(low)}–{fmt.format(high)}"


def format_forecast(done: dict) -> str:
    """The terminal summary of a forecast: each side's band at the end, and completion, each with its
    Monte Carlo interval."""
    completion, table, info = done["completion"], done["forecast"], done["info"]
    last = table[table["day"] == table["day"].max()]
    lines = [f"forecast to {last['date'].iloc[0]} ({info['runs']:,} runs from {info['distinct_histories']:,} distinct "
             f"histories, replayed to {info['replay_until']}); 90% Monte Carlo intervals in brackets:"]
    for row in last.itertuples():
        lines.append(f"  {row.side}: median {row.q50:,.0f} [{row.q50_low:,.0f}–{row.q50_high:,.0f}], 90% band "
                     f"{row.q05:,.0f} [{row.q05_low:,.0f}–{row.q05_high:,.0f}] – {row.q95:,.0f} "
                     f"[{row.q95_low:,.0f}–{row.q95_high:,.0f}]")
    lines.append("")
    for row in completion.itertuples():
        when = (f"; median completion {row.q50_date} [{row.q50_date_low or 'not reached'}–"
                f"{row.q50_date_high or 'not reached'}]") if row.q50_date else ""
        lines.append(f"  {row.side}: completed in {row.share_completed:.1%} of runs "
                     f"[{_interval(row.share_low, row.share_high)}]{when}")
    lines += ["", f"written to {done['out']}/ (forecast.csv, completion.csv, completion_curve.csv, ensemble.parquet, "
                  "forecast.json, figures/)"]
    return "\n".join(lines)

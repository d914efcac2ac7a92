"""Figures of a calibration and of its forecasts: the fit against the record, marginal posteriors against
their priors, pairs of fitted parameters, and the forecast beyond the fit window.

One shading convention on every time axis here (predictive, forecast, completion): the fitted days are left
white and the days the fit did not see are shaded light grey from a dashed line, with a legend entry saying where
they begin: after the fit window in the predictive figure, after the last reported day (where the forecast's
runs stop replaying their accepted histories) in the forecast figures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from sim.experiments.abc_smc import kish_ess
from sim.experiments.calibration import units_of
from sim.experiments.calibration_spec import CalibrationSpec
from sim.experiments.posterior import clusters
from sim.experiments.record import Record
from sim.model.scenario import Scenario
from sim.reports.density import silverman_bandwidth, weighted_kde
from sim.reports.figures import CONFIDENCE_STYLE, GOV_COLOR, TAL_COLOR, _date_axis, _legend, band
from sim.reports.sweep_figures import axis_label
from sim.reports.words import count

SIDE_STYLE = {"government_released_taliban": (GOV_COLOR, "Taliban prisoners freed by the government"),
              "taliban_released_government": (TAL_COLOR, "Government personnel freed by the Taliban")}
POSTERIOR_COLOR, PRIOR_COLOR = "#2b6a99", "#9a9a9a"


def _bands(ax, table: pd.DataFrame, side: str, color: str) -> None:
    rows = table[table["side"] == side]
    dates = pd.to_datetime(rows["date"])
    ax.fill_between(dates, rows["q05"], rows["q95"], color=color, alpha=0.15, linewidth=0,
                    label="90% posterior predictive band (5–95%)")
    ax.fill_between(dates, rows["q25"], rows["q75"], color=color, alpha=0.3, linewidth=0,
                    label="50% band (25–75%)")
    ax.plot(dates, rows["q50"], color=color, label="Median")


NOT_FITTED = "0.9"  # the shade of the days the fit did not see, grey so that no series colour mixes with it


def _beyond(ax, start: dt.date | pd.Timestamp, end: dt.date | pd.Timestamp, label: str) -> None:
    """The one shading of every calibration and forecast figure: the days after `start`, which the fit did not
    see, shaded grey from a dashed line at `start`."""
    ax.axvspan(pd.Timestamp(start), pd.Timestamp(end), facecolor=NOT_FITTED, edgecolor="none", zorder=0,
               label=f"Shaded: not fitted, {label}", gid="not_fitted")
    ax.axvline(pd.Timestamp(start), color="0.35", linestyle="--", linewidth=1, zorder=1)


def _monte_carlo(ax, table: pd.DataFrame, side: str, color: str) -> None:
    """Thin dotted lines: how far the band's ends and median could move with another posterior sample (90%)."""
    rows = table[table["side"] == side]
    if "q50_low" not in rows:
        return
    dates = pd.to_datetime(rows["date"])
    for q in ("q05", "q50", "q95"):
        for end in ("low", "high"):
            ax.plot(dates, rows[f"{q}_{end}"], color=color, linestyle=":", linewidth=0.8,
                    label="90% Monte Carlo interval of the band's ends and median")


def _points(ax, points: pd.DataFrame, side: str, color: str) -> None:
    """Record points by confidence; a lower bound drawn as an upward triangle."""
    rows = points[points["side"] == side]
    for level, style in CONFIDENCE_STYLE.items():
        for lower, marker in ((False, "o"), (True, "^")):
            sel = rows[(rows["confidence"] == level) & (rows["lower"] == lower)]
            if sel.empty:
                continue
            what = "lower bound, " if lower else ""
            ax.scatter(pd.to_datetime(sel["date"]), sel["value"], s=30, zorder=5, marker=marker,
                       alpha=style["alpha"], linewidths=1.2, edgecolors="black",
                       facecolors=color if style["filled"] else "white",
                       label=f"Record 2020 ({what}{level} confidence)")


def predictive_figure(base: Scenario, record: Record, predictive: pd.DataFrame, until: dt.date,
                      name: str) -> Figure:
    """Both sides' cumulative releases: posterior predictive bands against the record, the fit window marked."""
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    points = record.points.rename(columns={"lower": "lower"})
    for ax, (side, (color, title)) in zip(axes, SIDE_STYLE.items()):
        _bands(ax, predictive, side, color)
        _points(ax, points, side, color)
        _beyond(ax, until, pd.to_datetime(predictive["date"]).max(),
                f"after the fit window (which ends {until:%d %b %Y})")
        ax.set_title(title, loc="left", fontsize="medium")
        ax.set_ylabel("Prisoners released (cumulative)")
        ax.yaxis.set_major_formatter("{x:,.0f}")
        _date_axis(ax, base, label=ax is axes[-1])
        ax.set_xlim(pd.Timestamp(base.calendar.start_date), pd.to_datetime(predictive["date"]).max())
        _legend(ax)
    fig.suptitle(f"{name}: posterior predictive fit to the 2020 record", fontweight="bold")
    return fig


def marginals_figure(spec: CalibrationSpec, posterior: pd.DataFrame) -> Figure:
    """Each fitted parameter: its posterior as a weighted kernel density (particle weights; Silverman's bandwidth
    on the effective sample size, `sim.reports.density`) beside its prior's density (uniform, or log-uniform)."""
    priors = spec.priors()
    ncols = 4
    nrows = -(-len(priors) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 2.8 * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    weights = posterior["weight"].to_numpy(dtype=float)
    ids = clusters(posterior)
    ess = kish_ess(weights, ids)
    for ax, (path, prior) in zip(axes, priors.items()):
        # On a log prior, densities are per unit of log10(value): the log-uniform prior is then flat too.
        log = prior.scale == "log"
        scale = np.log10 if log else (lambda v: np.asarray(v, dtype=float))
        low, high = float(scale(prior.low)), float(scale(prior.high))
        values = scale(posterior[path].to_numpy(dtype=float))
        grid = np.linspace(low, high, 241)
        width = silverman_bandwidth(values=values, weights=weights, ids=ids, span=high - low)
        density = weighted_kde(values=values, weights=weights, grid=grid, low=low, high=high, bandwidth=width)
        shown = 10.0**grid if log else grid
        ax.fill_between(shown, 0, density, color=POSTERIOR_COLOR, alpha=0.3, linewidth=0)
        ax.plot(shown, density, color=POSTERIOR_COLOR, linewidth=1.6, label="Posterior (weighted kernel density)")
        ax.hlines(1 / (high - low), shown[0], shown[-1], color=PRIOR_COLOR, linestyle="--", linewidth=1.6,
                  label="Prior (uniform; in log10 of the value on a log scale)")
        ax.set_ylim(0, 1.08 * max(float(density.max()), 1 / (high - low)))
        ax.set_xlim(shown[0], shown[-1])
        if log:
            ax.set_xscale("log")
            ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
                     if prior.low <= v <= prior.high]
            ax.set_xticks(ticks, [f"{v:,}" for v in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(axis_label(path) + (", log scale" if log else ""), fontsize="small")
        ax.set_ylabel("Density per log10 unit" if log else "Density")
        ax.tick_params(labelsize="x-small")
    for ax in axes[len(priors):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"{spec.name}: marginal posteriors against their priors ({len(posterior):,} parameter sets, "
                 f"effective size {ess:,.0f})\nGaussian kernels weighted by the particles' weights, Silverman's "
                 "bandwidth on the effective size, reflected at the prior's bounds", fontweight="bold")
    return fig


def pairs_figure(spec: CalibrationSpec, posterior: pd.DataFrame) -> Figure:
    """Every pair of fitted parameters, each on its place in its prior range (0 = low, 1 = high): a matrix of
    scatter plots, histograms on the diagonal, drawn on one axes so that many parameters stay quick to draw."""
    priors = spec.priors()
    names = list(priors)
    unit = np.clip(units_of(priors, posterior), 0, 1)
    k = len(names)
    size = max(8.0, 0.7 * k + 2)
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    pad = 0.06
    xs, ys = [], []
    for i in range(k):
        for j in range(k):
            if i != j:
                xs.append(j + pad + (1 - 2 * pad) * unit[:, j])
                ys.append(k - 1 - i + pad + (1 - 2 * pad) * unit[:, i])
    if xs:  # one fitted parameter has no pairs, only its histogram
        ax.scatter(np.concatenate(xs), np.concatenate(ys), s=0.5, alpha=0.25, color=POSTERIOR_COLOR,
                   rasterized=True, label="Accepted parameter sets")
    for i in range(k):
        counts, edges = np.histogram(unit[:, i], bins=20, range=(0, 1))
        height = (1 - 2 * pad) * counts / max(counts.max(), 1)
        left = i + pad + (1 - 2 * pad) * edges[:-1]
        ax.bar(left, height, width=(1 - 2 * pad) / 20, bottom=k - 1 - i + pad, align="edge",
               color=PRIOR_COLOR, label="Marginal (histogram)" if i == 0 else None)
    for edge in range(k + 1):
        ax.axhline(edge, color="0.8", linewidth=0.5)
        ax.axvline(edge, color="0.8", linewidth=0.5)
    ax.set_xticks(np.arange(k) + 0.5, names, rotation=60, ha="right", fontsize="x-small")
    ax.set_yticks(np.arange(k) + 0.5, names[::-1], fontsize="x-small")
    ax.set_xlim(0, k)
    ax.set_ylim(0, k)
    ax.set_xlabel("Parameter (each cell: its place in its prior range, 0 to 1)")
    ax.set_ylabel("Parameter (each cell: its place in its prior range, 0 to 1)")
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 1.07), ncols=2, fontsize="small", frameon=False, markerscale=8)
    fig.suptitle(f"{spec.name}: pairs of fitted parameters ({len(posterior):,} parameter sets)", fontweight="bold")
    return fig


def calibration_figures(spec: CalibrationSpec, base: Scenario, record: Record, posterior: pd.DataFrame,
                        predictive: pd.DataFrame) -> dict[str, Figure]:
    return {"predictive": predictive_figure(base, record, predictive, spec.until, spec.name),
            "marginals": marginals_figure(spec, posterior),
            "pairs": pairs_figure(spec, posterior)}


def forecast_figure(table: pd.DataFrame, scenario: Scenario, replayed: dt.date, until: dt.date,
                    points: pd.DataFrame, runs: int) -> Figure:
    """Predictive bands of both sides to `until` with the Monte Carlo intervals of their ends and median, the
    record's points in the fit window, and the forecast region (after the last day replayed) shaded."""
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    p = scenario.protocol
    for ax, (side, (color, title)), total in zip(axes, SIDE_STYLE.items(),
                                                 (p.government_prisoners, p.taliban_prisoners)):
        _bands(ax, table, side, color)
        _monte_carlo(ax, table, side, color)
        _points(ax, points.rename(columns={"lower_bound": "lower"}), side, color)
        _beyond(ax, replayed, until, f"the forecast after the last reported day ({replayed:%d %b %Y})")
        ax.axhline(total, color="0.6", linewidth=0.8, label=f"All {total:,} to be freed")
        ax.set_title(title, loc="left", fontsize="medium")
        ax.set_ylabel("Prisoners released (cumulative)")
        ax.yaxis.set_major_formatter("{x:,.0f}")
        ax.set_ylim(0, total * 1.08)
        _date_axis(ax, scenario, label=ax is axes[-1])
        ax.set_xlim(pd.Timestamp(scenario.calendar.start_date), pd.Timestamp(until))
        _legend(ax)
    fig.suptitle(f"Forecast to {until:%d %b %Y} from the posterior ({count(runs, 'run')})", fontweight="bold")
    return fig


def completion_figure(curve: pd.DataFrame, scenario: Scenario, replayed: dt.date, until: dt.date, runs: int
                      ) -> Figure:
    """The share of runs in which each side, and the exchange, is complete by each date, with its 90% Monte
    Carlo band; the forecast region shaded as in the other calibration figures."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax = fig.subplots()
    colors = {"government": GOV_COLOR, "taliban": TAL_COLOR, "exchange": "black"}
    labels = {"government": "Government: all its prisoners freed", "taliban": "Taliban: all their prisoners freed",
              "exchange": "Exchange complete (both sides)"}
    tolerance = scenario.protocol.completion_tolerance
    for part, rows in curve.groupby("side", sort=False):
        dates = pd.to_datetime(rows["date"])
        band(ax, dates, 100 * rows["low"], 100 * rows["high"], colors[part], f"{labels[part]}: 90% Monte Carlo band")
        ax.plot(dates, 100 * rows["share"], color=colors[part], linewidth=2 if part == "exchange" else 1.2,
                label=labels[part] + (f" (within {tolerance:.0%})" if tolerance else ""))
    _beyond(ax, replayed, until, f"the forecast after the last reported day ({replayed:%d %b %Y})")
    highest = 100 * float(curve["high"].max()) if len(curve) else 0.0
    ax.set_ylim(0, 100 if highest > 40 else max(5.0, 10 * np.ceil(highest * 1.25 / 10)))  # small shares readable
    ax.set_ylabel("Runs complete by the date (%)")
    _date_axis(ax, scenario)
    ax.set_xlim(pd.Timestamp(scenario.calendar.start_date), pd.Timestamp(until))
    _legend(ax)
    fig.suptitle(f"Completion by date, forecast to {until:%d %b %Y} ({count(runs, 'run')})", fontweight="bold")
    return fig

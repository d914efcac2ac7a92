"""Figures of a scenario's runs: releases, trust, attacks and outcome rates.

Every function returns a `matplotlib.figure.Figure` built without pyplot, so the
module works under the Agg backend, in worker processes and in notebooks.

Many runs are drawn from their per-day distributions (`sim.reports.analysis.DailyBands`):
the median and a 5-95% band. States (cumulative releases, trusts, engagement) count
every run on every day, a run that has ended at its final value (a completed run
stays completed), so no median moves because runs drop out; per-day quantities
(attacks, offensive mode) count only the runs still going, with a panel of how
many are. The time axis spans the scenario's whole calendar, so figures of
scenarios with the same calendar line up. One run is drawn as its own lines, with
its walkouts, returns, offensive-mode days and the scenario's events marked.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from sim.experiments import storage
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import Scenario
from sim.model.timeline import Timeline
from sim.reports.analysis import ALPHA, DailyBands, team_moves
from sim.reports.words import count

BAND = (0.05, 0.95)  # quantiles of the band drawn around the median
MIN_RUNS = 5  # fewest runs still going for a per-day statistic to be drawn
ROLLING_DAYS = 7
DPI = 150

# Okabe and Ito's colour-blind-safe palette (blue, orange, bluish green, vermillion, reddish purple, sky blue,
# yellow, black): the sides', the outcomes' and the compared scenarios' colours come from it, greys aside.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
GOV_COLOR = OKABE_ITO[0]  # the government and what it holds (Taliban prisoners)
TAL_COLOR = OKABE_ITO[1]  # the Taliban and what they hold (government personnel)
ISKP_COLOR = OKABE_ITO[4]
SCHEDULE_COLOR = "#444444"
OUTCOME_COLORS = {"completed": OKABE_ITO[2], "collapsed": OKABE_ITO[3], "deadlocked": "#6d6d6d",
                  "partial": OKABE_ITO[1]}
# Bands that may overlap: each a light fill outlined in its series' colour; the second and later bands of an axes
# also hatched, one pattern each, so that where two overlap both stay visible (no blend into one colour).
BAND_ALPHA = 0.15
BAND_HATCHES = ("", "////", "\\\\\\\\", "....")
CONFIDENCE_STYLE = {  # observed data: filled and opaque when the figure is official
    "high": dict(alpha=1.0, filled=True),
    "medium": dict(alpha=0.8, filled=False),
    "low": dict(alpha=0.45, filled=False),
}
CARRIED = "ended runs count at their final value"
GOING = "over the runs still going"


# ---------------------------------------------------------------- shared helpers


def _title(scenario: Scenario, what: str, runs: int, single: pd.DataFrame | None = None) -> str:
    if single is None:
        who = count(runs, "run")
    else:
        who = f"run {single['run'].iloc[0]}" if "run" in single and len(single) else "one run"
    return f"{scenario.metadata.name}: {what} ({who})"


def _dates(scenario: Scenario, days) -> pd.DatetimeIndex:
    return pd.Timestamp(scenario.calendar.start_date) + pd.to_timedelta(np.asarray(days), unit="D")


def _calendar(scenario: Scenario) -> pd.DatetimeIndex:
    """Every day of the scenario's calendar, day 0 to the horizon."""
    return _dates(scenario, np.arange(scenario.calendar.horizon_days))


def _date_axis(ax, scenario: Scenario, label: bool = True) -> None:
    """Dates on the x axis over the whole calendar, with concise labels; the axis label (naming day 0) only where asked.

    Stacked panels share the bottom panel's date axis and its label.
    """
    locator = mdates.AutoDateLocator(minticks=5, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    days = _calendar(scenario)
    ax.set_xlim(days[0], days[-1])
    if label:
        ax.set_xlabel(f"Date (day 0 = {scenario.calendar.start_date:%d %b %Y})")
    ax.grid(True, alpha=0.3)


def band(ax, x, low, high, color, label: str | None = None) -> None:
    """A band from `low` to `high` in the package's one convention for bands that may overlap: a light fill
    outlined in `color`; the axes' second and later bands (gid "band") also hatched, each its own pattern."""
    k = sum(1 for c in ax.collections if c.get_gid() == "band")
    ax.fill_between(x, low, high, facecolor=to_rgba(color, BAND_ALPHA), edgecolor=color, linewidth=0.7,
                    hatch=BAND_HATCHES[k % len(BAND_HATCHES)] or None, label=label, gid="band")


def _band(ax, dates, quantiles: np.ndarray, color: str, label: str, how: str) -> None:
    """Median line and a 5-95% band (quantiles: days x (low, median, high)), drawn as `band` draws bands."""
    band(ax, dates, quantiles[:, 0], quantiles[:, 2], color,
         f"{label}: {100 * BAND[0]:g}–{100 * BAND[1]:g}% of runs ({how})")
    ax.plot(dates, quantiles[:, 1], color=color, linewidth=1.8, label=f"{label}: median ({how})")


def _legend(ax) -> None:
    """A legend right of the axes, one entry per label."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)


def _mark_events(axes, scenario: Scenario) -> None:
    """The scenario's events as vertical lines on every axes, labelled on the first.

    Events closer than 3% of the time axis share one label, so labels never overlap.
    """
    events = scenario.event_days()
    if not events:
        return
    groups: list[list] = []
    gap = 0.03 * scenario.calendar.horizon_days
    for day, ev in events:
        if groups and day - groups[-1][0][0] < gap:
            groups[-1].append((day, ev))
        else:
            groups.append([(day, ev)])
    for i, ax in enumerate(axes):
        for day, _ in events:
            ax.axvline(_dates(scenario, [day])[0], color="0.35", linestyle="-.", linewidth=0.9,
                       label="Scenario event", gid="event")
        if i == 0:
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            for group in groups:
                text = "; ".join(ev.label() for _, ev in group)
                ax.text(_dates(scenario, [group[0][0]])[0], 0.97, text, transform=trans, rotation=90, va="top",
                        ha="right", fontsize="x-small", color="0.2", gid="event_label",
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.75, pad=1))


def _mark_run(axes, run: pd.DataFrame, scenario: Scenario) -> None:
    """One run's offensive-mode days (shaded), walkouts and returns of the Taliban team, on every axes."""
    days = run["day"].to_numpy()
    offensive = run["offensive"].to_numpy(dtype=bool)
    edges = np.diff(np.concatenate([[False], offensive, [False]]).astype(int))
    spans = list(zip(days[edges[:-1] == 1], days[edges[1:] == -1]))
    walks, comes_back = team_moves(run["engaged"].to_numpy())
    walkouts, returns = days[walks], days[comes_back]
    for ax in axes:
        for first, last in spans:
            a, b = _dates(scenario, [first, last + 1])
            ax.axvspan(a, b, color="red", alpha=0.08, linewidth=0,
                       label="Government offensive mode (no releases)", gid="offensive")
        for x in _dates(scenario, walkouts):
            ax.axvline(x, color="red", linestyle=":", linewidth=1.2, label="Taliban team walks out", gid="walkout")
        for x in _dates(scenario, returns):
            ax.axvline(x, color="green", linestyle=":", linewidth=1.2, label="Taliban team comes back", gid="return")


# ---------------------------------------------------------------- figures


def _ratio_label(ratio: float) -> str:
    return f"1:{1 / ratio:g}" if ratio > 0 else f"{ratio:g}"


def _observed(ax, observed: pd.DataFrame | None, side: str, color: str) -> None:
    """Observed 2020 cumulative releases, one marker style per confidence level."""
    if observed is None:
        return
    rows = observed[observed["side"] == side]
    for level, style in CONFIDENCE_STYLE.items():
        sel = rows[rows["confidence"] == level]
        if sel.empty:
            continue
        ax.scatter(pd.to_datetime(sel["date"]), sel["cumulative_released"], s=28, zorder=5,
                   marker="o", alpha=style["alpha"], linewidths=1.2, edgecolors=color,
                   facecolors=color if style["filled"] else "white",
                   label=f"Observed 2020 (news reports), {level} confidence", gid="observed")


def _finish_release_axes(gov_ax, tal_ax, scenario: Scenario, observed: pd.DataFrame | None,
                         observed_colors: tuple[str, str]) -> None:
    """What every release figure has: events, observed 2020 points, the totals, labels, dates and legends."""
    p = scenario.protocol
    _mark_events([gov_ax, tal_ax], scenario)
    _observed(gov_ax, observed, "government_released_taliban", observed_colors[0])
    _observed(tal_ax, observed, "taliban_released_government", observed_colors[1])
    for ax, total, who in ((gov_ax, p.government_prisoners, "Taliban prisoners held by the government"),
                           (tal_ax, p.taliban_prisoners, "Government personnel held by the Taliban")):
        ax.axhline(total, color="0.6", linewidth=0.8, label=f"All {total:,} to be freed")
        ax.set_ylim(0, total * 1.08)
        ax.set_ylabel("Prisoners released (cumulative)")
        ax.set_title(who, loc="left", fontsize="medium")
        ax.yaxis.set_major_formatter("{x:,.0f}")
        _date_axis(ax, scenario, label=ax is tal_ax)
        _legend(ax)


def releases_figure(bands: DailyBands, scenario: Scenario, observed: pd.DataFrame | None = None,
                    single: pd.DataFrame | None = None) -> Figure:
    """Cumulative releases on both sides against the scheduled path, with observed 2020 figures if given.

    Top panel: Taliban prisoners freed by the government and the decree's schedule.
    Bottom panel: government personnel freed by the Taliban and the agreed reciprocal
    line (government releases times the reciprocity ratio).
    """
    p = scenario.protocol
    ratio = _ratio_label(p.reciprocity_ratio)
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    gov_ax, tal_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1])
    calendar = _calendar(scenario)
    gov_ax.step(calendar, Timeline.of(scenario).schedule, where="post", color=SCHEDULE_COLOR, linestyle="--",
                label="Scheduled by the protocol")
    if single is not None:
        dates = _dates(scenario, single["day"])
        gov_ax.step(dates, single["government_released"], where="post", color=GOV_COLOR,
                    label="Released by the government")
        reciprocal = np.minimum(single["government_released"] * p.reciprocity_ratio, p.taliban_prisoners)
        tal_ax.step(dates, reciprocal, where="post", color=SCHEDULE_COLOR, linestyle="--",
                    label=f"Owed at {ratio} (government releases × {p.reciprocity_ratio:g})")
        tal_ax.step(dates, single["taliban_released"], where="post", color=TAL_COLOR, label="Released by the Taliban")
        _mark_run([gov_ax, tal_ax], single, scenario)
    else:
        qs = (BAND[0], 0.5, BAND[1])
        government = bands.quantiles("government_released", qs)
        _band(gov_ax, calendar, government, GOV_COLOR, "Released by the government", CARRIED)
        reciprocal = np.minimum(government[:, 1] * p.reciprocity_ratio, p.taliban_prisoners)
        tal_ax.plot(calendar, reciprocal, color=SCHEDULE_COLOR, linestyle="--",
                    label=f"Owed at {ratio} (median government releases × {p.reciprocity_ratio:g})")
        _band(tal_ax, calendar, bands.quantiles("taliban_released", qs), TAL_COLOR, "Released by the Taliban", CARRIED)
    _finish_release_axes(gov_ax, tal_ax, scenario, observed, (GOV_COLOR, TAL_COLOR))
    fig.suptitle(_title(scenario, "prisoner releases", bands.runs, single), fontweight="bold")
    return fig


def paired_releases_figure(bands: dict[str, DailyBands], scenario: Scenario,
                           observed: pd.DataFrame | None = None) -> Figure:
    """Median and 5–95% band of cumulative releases on both sides for several ensembles of the same
    calendar (for instance a scenario as written and with changed settings, on the same seeds); the
    first is drawn in grey as the reference."""
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    gov_ax, tal_ax = fig.subplots(2, 1, sharex=True)
    calendar = _calendar(scenario)
    colors = ["0.45", *OKABE_ITO]
    for (name, ensemble), color in zip(bands.items(), colors):
        for ax, column in ((gov_ax, "government_released"), (tal_ax, "taliban_released")):
            _band(ax, calendar, ensemble.quantiles(column, (BAND[0], 0.5, BAND[1])), color, name, CARRIED)
    _finish_release_axes(gov_ax, tal_ax, scenario, observed, ("black", "black"))
    runs = next(iter(bands.values())).runs
    fig.suptitle(_title(scenario, "prisoner releases, " + " against ".join(reversed(list(bands))), runs),
                 fontweight="bold")
    return fig


def trust_figure(bands: DailyBands, scenario: Scenario, single: pd.DataFrame | None = None) -> Figure:
    """Each side's trust in the other over time; below, the Taliban team's engagement and offensive mode."""
    fig = Figure(figsize=(11, 7), layout="constrained")
    trust_ax, share_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    lines = (("trust_government", GOV_COLOR, "Government's trust in the Taliban"),
             ("trust_taliban", TAL_COLOR, "Taliban's trust in the government"))
    if single is not None:
        dates = _dates(scenario, single["day"])
        for column, color, label in lines:
            trust_ax.plot(dates, single[column], color=color, label=label)
        engaged = single["engaged"].astype(float)
        share_ax.fill_between(dates, 0, engaged, step="post", color=TAL_COLOR, alpha=0.3, linewidth=0)
        share_ax.step(dates, engaged, where="post", color=TAL_COLOR, linewidth=0.8,  # shows one-day returns
                      label="Taliban team engaged")
        share_ax.set_ylim(0, 1.05)
        share_ax.set_yticks([0, 1], ["out", "engaged"])
        share_ax.set_ylabel("Taliban technical team")
        _mark_run([trust_ax, share_ax], single, scenario)
    else:
        calendar = _calendar(scenario)
        for column, color, label in lines:
            _band(trust_ax, calendar, bands.quantiles(column, (BAND[0], 0.5, BAND[1])), color, label, CARRIED)
        share_ax.fill_between(calendar, 0, 100 * bands.share("engaged"), color=TAL_COLOR, alpha=0.3, linewidth=0,
                              label=f"Taliban team engaged ({CARRIED})")
        share_ax.plot(calendar, 100 * bands.share("offensive", MIN_RUNS), color="red", linewidth=1,
                      label=f"Government in offensive mode ({GOING})")
        share_ax.plot(calendar, 100 * bands.going / max(bands.runs, 1), color="0.3", linestyle="--", linewidth=1,
                      label="Runs still going")
        share_ax.set_ylim(0, 105)
        share_ax.set_ylabel("Share of runs (%)")
    t = scenario.taliban
    trust_ax.axhline(t.walkout_trust, color=TAL_COLOR, linestyle=":", linewidth=1,
                     label=f"Taliban walk-out threshold ({t.walkout_trust:g})")
    trust_ax.axhline(scenario.outcomes.collapse_trust, color="0.4", linestyle=":", linewidth=1,
                     label=f"Collapse floor, both sides ({scenario.outcomes.collapse_trust:g})")
    trust_ax.set_ylim(0, 1)
    trust_ax.set_ylabel("Trust (probability, 0–1)")
    _mark_events([trust_ax, share_ax], scenario)
    for ax in (trust_ax, share_ax):
        _date_axis(ax, scenario, label=ax is share_ax)
        _legend(ax)
    fig.suptitle(_title(scenario, "trust between the sides", bands.runs, single), fontweight="bold")
    return fig


def attacks_figure(bands: DailyBands, scenario: Scenario, single: pd.DataFrame | None = None) -> Figure:
    """Taliban and ISKP attacks per day, as a 7-day centred rolling mean.

    Many runs: the rolling mean of the daily median and of the 5th and 95th
    percentiles over the runs still going on that day (ended runs are not counted),
    and below, the share of runs still going, since late days reflect only the runs
    that have not ended yet.
    """
    roll = dict(window=ROLLING_DAYS, center=True, min_periods=1)
    kinds = (("taliban_attacks", TAL_COLOR, "Taliban attacks"), ("iskp_attacks", ISKP_COLOR, "ISKP attacks"))
    if single is not None:
        fig = Figure(figsize=(11, 5), layout="constrained")
        ax = fig.subplots()
        axes = [ax]
        dates = _dates(scenario, single["day"])
        for column, color, label in kinds:
            ax.plot(dates, single[column], color=color, alpha=0.3, linewidth=0.8, label=f"{label}: daily count")
            ax.plot(dates, single[column].rolling(**roll).mean(), color=color,
                    label=f"{label}: {ROLLING_DAYS}-day mean")
        _mark_run(axes, single, scenario)
        ax.set_ylabel("Attacks per day")
    else:
        fig = Figure(figsize=(11, 6.5), layout="constrained")
        axes = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        ax, going_ax = axes
        calendar = _calendar(scenario)
        for column, color, label in kinds:
            stats = pd.DataFrame(bands.quantiles(column, (BAND[0], 0.5, BAND[1]), MIN_RUNS))
            smooth = stats.rolling(**roll).mean().where(stats.notna()).to_numpy()
            _band(ax, calendar, smooth, color, f"{label} ({ROLLING_DAYS}-day mean)", GOING)
        ax.set_ylabel(f"Attacks per day\n({ROLLING_DAYS}-day mean over runs still going)")
        going_ax.plot(calendar, 100 * bands.going / max(bands.runs, 1), color="0.3", label="Runs still going")
        going_ax.set_ylim(0, 105)
        going_ax.set_ylabel("Runs still going (%)")
    ax.set_ylim(bottom=0)
    _mark_events(axes, scenario)
    for a in axes:
        _date_axis(a, scenario, label=a is axes[-1])
        _legend(a)
    fig.suptitle(_title(scenario, "attacks", bands.runs, single), fontweight="bold")
    return fig


def outcomes_figure(rates: pd.DataFrame, title: str) -> Figure:
    """Share of runs ending in each outcome, with Wilson 95% interval error bars."""
    rates = rates.set_index("outcome").reindex([o for o in OUTCOMES if o in set(rates["outcome"])]
                                               + [o for o in rates["outcome"] if o not in OUTCOMES])
    share, low, high = (100 * rates[c].astype(float) for c in ("rate", "low", "high"))
    x = np.arange(len(rates))
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    ax.bar(x, share, color=[OUTCOME_COLORS.get(o, "0.5") for o in rates.index], label="Share of runs")
    ax.errorbar(x, share, yerr=[share - low, high - share], fmt="none", ecolor="black", capsize=6,
                label="Wilson 95% interval")
    for xi, top, s, count, runs in zip(x, high, share, rates["count"], rates["runs"]):
        ax.annotate(f"{s:.1f}%\n{int(count)} of {int(runs)}", (xi, top), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [o.capitalize() for o in rates.index])
    ax.set_xlabel("Outcome of the run")
    ax.set_ylabel("Share of runs (%)")
    ax.set_ylim(0, max(100.0, float(high.max()) + 15))
    ax.set_yticks(np.arange(0, 101, 20))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title, fontweight="bold")
    return fig


def scenario_outcomes_figure(rates: pd.DataFrame, scenario: Scenario, runs: int) -> Figure:
    """The outcome shares of `runs` runs of one scenario, titled with its name and the count."""
    return outcomes_figure(rates, f"{scenario.metadata.name}: outcomes of {count(runs, 'run')}")


def run_figures(bands: DailyBands, single: pd.DataFrame | None, rates: pd.DataFrame, scenario: Scenario,
                observed: pd.DataFrame | None = None) -> dict[str, Figure]:
    """All four figures of a scenario's runs, by name; `single` is the run's own series when there is one run."""
    runs = int(rates["runs"].max()) if len(rates) else bands.runs
    return {
        "releases": releases_figure(bands, scenario, observed, single),
        "trust": trust_figure(bands, scenario, single),
        "attacks": attacks_figure(bands, scenario, single),
        "outcomes": scenario_outcomes_figure(rates, scenario, runs),
    }


def save(fig: Figure, path: str | Path) -> Path:
    """Write `fig` atomically (temporary file in the same folder, then rename); PNG unless the suffix says otherwise."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    return storage.atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight"))


def comparison_figure(rates: pd.DataFrame, title: str, differences: pd.DataFrame | None = None) -> Figure:
    """Outcome shares of several scenarios side by side and, below, their paired differences from the baseline.

    `rates` has one row per scenario and outcome (`scenario`, `outcome`, `count`,
    `runs`, `rate`, `low`, `high`), as `sim.reports.comparison.rates` returns it;
    scenarios are drawn in the order they first appear: x = outcome, one bar per
    scenario, Wilson 95% error bars, each bar labelled with its share to one decimal.
    With `differences` (`sim.reports.comparison.differences`: scenario, outcome,
    baseline, difference, low, high, p_value, significant) and at least one row, a
    forest plot below shows each scenario's paired difference from the baseline, in
    percentage points, with its Newcombe 95% interval; without, the bars alone.
    """
    names = list(dict.fromkeys(rates["scenario"]))
    outcomes = [o for o in OUTCOMES if o in set(rates["outcome"])] + \
        [o for o in dict.fromkeys(rates["outcome"]) if o not in OUTCOMES]
    colors = {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(names)}
    width = max(8.0, 1.2 + len(outcomes) * (0.9 + 0.45 * len(names)))
    if differences is None or differences.empty:
        fig = Figure(figsize=(width, 5.5), layout="constrained")
        ax = fig.subplots()
        _comparison_bars(ax, rates, names, outcomes, colors)
        ax.set_title(title, fontweight="bold")
        return fig
    height = 1.6 + 0.32 * len(differences)
    fig = Figure(figsize=(max(width, 11.0), 5.5 + height), layout="constrained")
    bar_ax, diff_ax = fig.subplots(2, 1, height_ratios=[5.5, height])
    _comparison_bars(bar_ax, rates, names, outcomes, colors)
    bar_ax.set_title("Share of runs ending in each outcome, per scenario", loc="left", fontsize="medium")
    _comparison_forest(diff_ax, differences, outcomes, colors)
    fig.suptitle(title, fontweight="bold")
    return fig


def _comparison_bars(ax, rates: pd.DataFrame, names: list[str], outcomes: list[str], colors: dict) -> None:
    """Grouped bars of the outcome shares (x = outcome, one bar per scenario) with Wilson 95% error bars."""
    table = rates.set_index(["scenario", "outcome"])
    x = np.arange(len(outcomes))
    width = 0.8 / max(len(names), 1)
    top = 0.0
    for i, name in enumerate(names):
        rows = table.loc[name].reindex(outcomes)
        share, low, high = (100 * rows[c].astype(float).fillna(0.0).to_numpy() for c in ("rate", "low", "high"))
        runs = int(rows["runs"].max()) if rows["runs"].notna().any() else 0
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, share, width * 0.92, color=colors[name], label=f"{name} ({count(runs, 'run')})", gid=f"bar:{name}")
        ax.errorbar(pos, share, yerr=[share - low, high - share], fmt="none", ecolor="black", capsize=3,
                    linewidth=1, label="Wilson 95% interval")
        if len(names) <= 4:
            for px, s, h in zip(pos, share, high):
                ax.annotate(f"{s:.1f}%", (px, h), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize="x-small", gid="bar_label")
        top = max(top, float(np.max(high)) if len(high) else 0.0)
    ax.set_xticks(x, [o.capitalize() for o in outcomes])
    ax.set_xlabel("Outcome of the run")
    ax.set_ylabel("Share of runs (%)")
    ax.set_ylim(0, max(100.0, top + 12))
    ax.set_yticks(np.arange(0, 101, 20))
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if "Wilson 95% interval" in unique:
        unique["Wilson 95% interval"] = unique.pop("Wilson 95% interval")  # after the scenarios
    ax.legend(unique.values(), unique.keys(), title="Scenario", loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)


def _comparison_forest(ax, differences: pd.DataFrame, outcomes: list[str], colors: dict) -> None:
    """Forest plot of the paired differences from the baseline: one row per outcome and scenario, top to bottom
    in the bars' order, a point (filled when McNemar p < ALPHA) and its Newcombe 95% interval, in points."""
    from matplotlib.lines import Line2D

    baseline = str(differences["baseline"].iloc[0])
    others = list(dict.fromkeys(differences["scenario"]))
    table = differences.set_index(["outcome", "scenario"])
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    ticks, labels, y = [], [], 0.0
    for g, outcome in enumerate(o for o in outcomes if o in set(differences["outcome"])):
        if g % 2:
            ax.axhspan(y - 0.5, y + len(others) - 0.5, color="0.94", linewidth=0, zorder=0)
        for name in others:
            row = table.loc[(outcome, name)]
            d, low, high = (100 * float(row[c]) for c in ("difference", "low", "high"))
            color = colors.get(name, "0.3")
            ax.errorbar([d], [y], xerr=[[d - low], [high - d]], fmt="o", color=color, ecolor=color, capsize=3,
                        markersize=6, markerfacecolor=color if row["significant"] else "white", gid=f"diff:{name}")
            p = "p<0.001" if row["p_value"] < 0.001 else f"p={row['p_value']:.3f}"
            ax.text(1.01, y, f"{d:+.1f} ({low:+.1f} to {high:+.1f}), {p}", transform=trans, va="center",
                    fontsize="x-small", gid="diff_label")
            ticks.append(y)
            labels.append(f"{outcome.capitalize()}: {name}")
            y += 1
        y += 0.6
    ax.axvline(0, color="0.25", linewidth=1, zorder=1)
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_ylim(y - 0.6 - 0.5, -0.5)  # first row on top
    ax.set_ylabel("Outcome: scenario")
    ax.set_xlabel(f"Difference from {baseline} (percentage points)")
    ax.set_title(f"Paired difference from {baseline}, run by run on the same seeds (Newcombe 95% interval)",
                 loc="left", fontsize="medium")
    ax.grid(True, axis="x", alpha=0.3)
    key = [Line2D([], [], color="black", marker="o", linestyle="-", label="Difference and 95% interval"),
           Line2D([], [], color="black", marker="o", linestyle="none", markerfacecolor="black",
                  label=f"McNemar exact test p < {ALPHA:g}"),
           Line2D([], [], color="black", marker="o", linestyle="none", markerfacecolor="white",
                  label=f"McNemar exact test p ≥ {ALPHA:g}"),
           Line2D([], [], color="0.25", linewidth=1, label="No difference (0)")]
    ax.text(1.01, 1.0, "Difference in points\n(95% interval), McNemar p", transform=ax.transAxes, va="bottom",
            fontsize="x-small", fontweight="bold")
    ax.figure.legend(handles=key, loc="outside lower center", ncols=4, fontsize="small", frameon=False)

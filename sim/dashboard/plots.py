"""The dashboard's figures, drawn with Plotly for the browser (the CLI's files stay matplotlib: sim/reports/figures.py).

Why Plotly (`plotly.graph_objects.FigureWidget`, shown by `sim.dashboard.live.LiveFigure`):
- A step changes only data: a FigureWidget sends a `restyle` of the traces that changed and the browser's
  plotly.js redraws them, with no image rendered on the server. Altair / Vega-Lite (`solara.FigureAltair`)
  re-embeds the whole chart specification on every change.
- Offline: plotly >= 6's FigureWidget is an anywidget whose JavaScript (plotly.js included) ships inside the
  Python package, and anywidget's own front-end is an nbextension Solara serves from the environment; no CDN is
  asked (the browser tests refuse every request off the machine). Vega-Lite in Solara loads vega, vega-lite and
  vega-embed from the CDN proxy.
- Size does not grow with the ensemble: a band of 500 or 2,000 runs is drawn from its daily quantiles
  (per-day quantiles), three numbers a day, so a figure holds a few thousand points whatever the runs.

Every figure is built once as a skeleton (layout, static lines, empty traces named by `meta`); `*_data` functions
give the traces' new data by that name, which is all that crosses to the browser on an update.
Colours are Okabe–Ito (distinguishable with the common colour-vision deficiencies).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.model.scenario import Scenario
from sim.model.timeline import Timeline
from sim.reports.analysis import team_moves

# Okabe & Ito (2008), "Color Universal Design": colours told apart with any common colour-vision deficiency.
WRITTEN, SETTINGS = "#0072B2", "#E69F00"  # ensembles: the scenario as written (blue), your settings (orange)
GOVERNMENT, TALIBAN, ISKP = "#009E73", "#D55E00", "#CC79A7"  # one run's sides: bluish green, vermillion, purple
SCHEDULE, GREY = "#000000", "#777777"
BAND = (0.05, 0.5, 0.95)
ROLLING_DAYS = 7
MARGIN = dict(l=80, r=20, t=70, b=50)
RUN_HEIGHT, RELEASES_HEIGHT = 1050, 640  # px, of the one-run and the ensemble's release figures
LEGEND_ENTRY_PX, LEGEND_PAD_PX = 20, 14  # a legend's height per entry at its font size, and its border and gap
FONT = dict(family="Arial, Helvetica, sans-serif", size=13)
Updates = dict[str, dict[str, object]]  # trace name (its meta) -> the trace properties to set


class Bands(Protocol):
    """Per-day distributions of an ensemble's columns."""

    def quantiles(self, column: str, qs: tuple[float, ...]) -> np.ndarray:
        """Per day (days x qs), the column's quantiles."""


def dates(scenario: Scenario, days) -> list[str]:
    """Calendar dates of simulation days (day 0 = the scenario's start date), as the CLI's figures place them, as
    ISO strings (what plotly.js reads as dates, and what the widget's messages can carry)."""
    start = np.datetime64(scenario.calendar.start_date, "D")
    return np.datetime_as_string(start + np.asarray(days, dtype="timedelta64[D]"), unit="D").tolist()


def _fill(color: str, alpha: float = 0.22) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, height: int) -> None:
    """Title, size, font and hover; a legend for each panel, in its top right corner (where a run that has not
    reached its end has not drawn yet, and above the release totals)."""
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)), height=height, font=FONT,
                      margin=MARGIN, hovermode="x unified", template="plotly_white")
    for trace in fig.data:
        axis = trace.yaxis or "y"
        trace.legend = "legend" + axis[1:]
    for axis in {trace.yaxis or "y" for trace in fig.data}:
        top = fig.layout["yaxis" + axis[1:]].domain[1]
        fig.layout["legend" + axis[1:]] = dict(x=0.995, xanchor="right", y=top, yanchor="top", font=dict(size=11),
                                               bgcolor="rgba(255,255,255,0.8)", bordercolor="#ccc", borderwidth=1,
                                               tracegroupgap=0)


def _ticks(total: int) -> list[int]:
    """Round ticks from 0 up to a total, at most six intervals, and the total itself (none too close below it)."""
    steps = sorted(m * 10 ** k for k in range(len(str(max(total, 1)))) for m in (1, 2, 5, 25))
    step = min((s for s in steps if total / s <= 6), default=steps[-1])
    return [t for t in range(0, total, step) if t <= 0.88 * total] + [total]


def _release_axes(fig: go.Figure, totals: dict[int, int], height: int) -> None:
    """Each release panel's axis: ticks up to the side's total, the last one "all N" (a label inside the panel
    would sit under the events' names), and room above the total for the panel's legend, so that the legend never
    covers data (a release count never passes its total)."""
    plot_px = height - MARGIN["t"] - MARGIN["b"]
    for row, total in totals.items():
        axis = "y" if row == 1 else f"y{row}"
        low, high = fig.layout["yaxis" + axis[1:]].domain
        entries = sum(1 for t in fig.data if (t.yaxis or "y") == axis and t.showlegend is not False)
        legend = (entries * LEGEND_ENTRY_PX + LEGEND_PAD_PX) / ((high - low) * plot_px)
        ticks = _ticks(total)
        fig.add_hline(y=total, line=dict(color=GREY, width=1), row=row, col=1)
        fig.update_yaxes(title_text="Released (cumulative)", range=[0, total / max(1.0 - legend, 0.4)],
                         tickvals=ticks, ticktext=[f"{t:,}" for t in ticks[:-1]] + [f"all {total:,}"],
                         row=row, col=1)


def _date_axes(fig: go.Figure, scenario: Scenario, rows: int) -> None:
    """Dates over the whole calendar on every time axis, the bottom one labelled with day 0."""
    span = dates(scenario, [0, scenario.calendar.horizon_days - 1])
    fig.update_xaxes(type="date", range=[span[0], span[1]], tickformat="%d %b", hoverformat="%d %b %Y",
                     showgrid=True)
    fig.update_xaxes(title_text=f"Date in {scenario.calendar.start_date:%Y} (day 0 = "
                                f"{scenario.calendar.start_date:%d %b %Y})", row=rows, col=1)


def _events(fig: go.Figure, scenario: Scenario) -> None:
    """The scenario's events as dotted vertical lines through every panel, named on hover and at the top."""
    for day, event in scenario.event_days():
        when = dates(scenario, [day])[0]
        fig.add_vline(x=when, line=dict(color=GREY, width=1, dash="dot"))
        fig.add_annotation(x=when, y=1.0, yref="paper", text=event.label(), showarrow=False, textangle=-90,
                           xanchor="left", yanchor="top", font=dict(size=10, color="#444"),
                           bgcolor="rgba(255,255,255,0.7)")


def _line(uid: str, name: str, color: str, **style) -> go.Scatter:
    return go.Scatter(meta=uid, name=name, x=[], y=[], mode="lines", line=dict(color=color, **style),
                      hovertemplate="%{y:,.3~f}")


# ---------------------------------------------------------------- one run


def run_figure(scenario: Scenario) -> go.Figure:
    """One run's releases on both sides, trust, and attacks, by date: the skeleton that `run_data` fills."""
    p = scenario.protocol
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("Taliban prisoners freed by the government",
                                        "Government personnel freed by the Taliban",
                                        "Trust in the other side", "Attacks per day"))
    calendar = dates(scenario, np.arange(scenario.calendar.horizon_days))
    fig.add_trace(go.Scatter(name="Scheduled by the protocol", x=calendar, y=Timeline.of(scenario).schedule,
                             mode="lines", line=dict(color=SCHEDULE, dash="dash", width=1.5, shape="hv"),
                             hovertemplate="%{y:,}"), row=1, col=1)
    fig.add_trace(_line("gov_released", "Released by the government", GOVERNMENT, width=2.5, shape="hv"), 1, 1)
    fig.add_trace(_line("owed", f"Owed by the Taliban (government releases × {p.reciprocity_ratio:g})", SCHEDULE,
                        dash="dash", width=1.5, shape="hv"), 2, 1)
    fig.add_trace(_line("tal_released", "Released by the Taliban", TALIBAN, width=2.5, shape="hv"), 2, 1)
    fig.add_trace(go.Scatter(meta="offensive", name="Government offensive mode (no releases)", x=[], y=[],
                             mode="lines", line=dict(width=0, shape="hv"), fill="tozeroy",
                             fillcolor="rgba(213,94,0,0.15)", hoverinfo="skip"), 3, 1)
    fig.add_trace(_line("trust_government", "Government's trust in the Taliban", GOVERNMENT, width=2), 3, 1)
    fig.add_trace(_line("trust_taliban", "Taliban's trust in the government", TALIBAN, width=2), 3, 1)
    for uid, name, color in (("walkouts", "Taliban team walks out", TALIBAN), ("returns", "Taliban team comes back",
                                                                                 GOVERNMENT)):
        fig.add_trace(go.Scatter(meta=uid, name=name, x=[], y=[], mode="lines", hoverinfo="skip",
                                 line=dict(color=color, width=1.5, dash="dashdot")), 3, 1)
    for uid, name, color in (("taliban_attacks", "Taliban attacks", TALIBAN), ("iskp_attacks", "ISKP attacks", ISKP)):
        fig.add_trace(go.Scatter(meta=uid, name=f"{name}: daily count", x=[], y=[], mode="markers",
                                 marker=dict(color=color, size=4, opacity=0.5), hovertemplate="%{y}"), 4, 1)
        fig.add_trace(_line(f"{uid}_mean", f"{name}: {ROLLING_DAYS}-day mean", color, width=2), 4, 1)
    fig.add_trace(_line("booked_mean", f"ISKP attacks booked as Taliban: {ROLLING_DAYS}-day mean", ISKP, width=1.5,
                        dash="dot"), 4, 1)
    _release_axes(fig, {1: p.government_prisoners, 2: p.taliban_prisoners}, RUN_HEIGHT)
    fig.add_hline(y=scenario.taliban.walkout_trust, line=dict(color=TALIBAN, width=1, dash="dot"), row=3, col=1,
                  annotation_text=f"Taliban walk out below {scenario.taliban.walkout_trust:g}",
                  annotation_position="bottom right")
    fig.update_yaxes(title_text="Trust (0–1)", range=[0, 1], row=3, col=1)
    fig.update_yaxes(title_text="Attacks per day", rangemode="tozero", row=4, col=1)
    _events(fig, scenario)
    _date_axes(fig, scenario, 4)
    _layout(fig, f"{scenario.metadata.name}: one run, day 0", RUN_HEIGHT)
    return fig


def run_figure_key(scenario: Scenario) -> str:
    """What `run_figure` draws from a scenario (its name, calendar, schedule, totals, events and the walkout line):
    a slider that changes none of it, such as a trust, keeps the figure and changes its data only."""
    return scenario.model_dump_json(include={"metadata": {"name"}, "calendar": True, "protocol": True,
                                             "events": True, "taliban": {"walkout_trust"}})


def run_data(series: pd.DataFrame, scenario: Scenario) -> Updates:
    """The run's traces, from its daily series so far (`ExchangeModel.series()`, lane 0)."""
    when = dates(scenario, series["day"])
    p = scenario.protocol
    released = series["government_released"].to_numpy()
    owed = np.minimum(released * p.reciprocity_ratio, p.taliban_prisoners)
    roll = dict(window=ROLLING_DAYS, center=True, min_periods=1)
    data: Updates = {
        "gov_released": dict(x=when, y=released),
        "owed": dict(x=when, y=owed),
        "tal_released": dict(x=when, y=series["taliban_released"].to_numpy()),
        "offensive": dict(x=when, y=series["offensive"].to_numpy(dtype=float)),
        "trust_government": dict(x=when, y=series["trust_government"].to_numpy()),
        "trust_taliban": dict(x=when, y=series["trust_taliban"].to_numpy()),
    }
    for column in ("taliban_attacks", "iskp_attacks"):
        data[column] = dict(x=when, y=series[column].to_numpy())
        data[f"{column}_mean"] = dict(x=when, y=series[column].rolling(**roll).mean().to_numpy())
    booked = series["attributed_attacks"] - series["taliban_attacks"]
    data["booked_mean"] = dict(x=when, y=booked.rolling(**roll).mean().to_numpy())
    for uid, days in zip(("walkouts", "returns"), team_moves(series["engaged"].to_numpy())):
        data[uid] = _verticals([when[i] for i in days])
    return data


def _verticals(at: list[str]) -> dict[str, list]:
    """A trace's points for a vertical line across the trust panel (0 to 1) at each date, gaps between them."""
    return dict(x=[d for date in at for d in (date, date, None)], y=[v for _ in at for v in (0.0, 1.0, None)])


# ---------------------------------------------------------------- ensembles


def _band(fig: go.Figure, uid: str, name: str, color: str, row: int, calendar: list[str]) -> None:
    """A 5–95% band as a filled area with outlines, and its median: three traces over the calendar's dates, whose
    values `releases_data` fills (an update sends the values alone)."""
    fig.add_trace(go.Scatter(meta=f"{uid}_low", name=f"{name}: 5%", x=calendar, y=[], mode="lines",
                             legendgroup=uid, showlegend=False, line=dict(color=color, width=0.8),
                             hovertemplate="%{y:,.0f}"), row, 1)
    fig.add_trace(go.Scatter(meta=f"{uid}_high", name=f"{name}: 95%", x=calendar, y=[], mode="lines",
                             legendgroup=uid, showlegend=False, fill="tonexty", fillcolor=_fill(color),
                             line=dict(color=color, width=0.8), hovertemplate="%{y:,.0f}"), row, 1)
    fig.add_trace(go.Scatter(meta=f"{uid}_median", name=f"{name}: median, 5–95% band", x=calendar, y=[],
                             mode="lines", legendgroup=uid, line=dict(color=color, width=2.5),
                             hovertemplate="%{y:,.0f}"), row, 1)


ENSEMBLES = (("written", "Scenario as written", WRITTEN), ("settings", "Your settings", SETTINGS))
SIDES = (("government_released", "gov"), ("taliban_released", "tal"))


def releases_figure(scenario: Scenario, observed: pd.DataFrame | None = None) -> go.Figure:
    """Cumulative releases on both sides, median and 5–95% band of each ensemble: the skeleton `releases_data`
    fills. The observed 2020 record is drawn when given (posterior mode)."""
    p = scenario.protocol
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("Taliban prisoners freed by the government",
                                        "Government personnel freed by the Taliban"))
    calendar = dates(scenario, np.arange(scenario.calendar.horizon_days))
    fig.add_trace(go.Scatter(name="Scheduled by the protocol", x=calendar, y=Timeline.of(scenario).schedule,
                             mode="lines", line=dict(color=SCHEDULE, dash="dash", width=1.2, shape="hv"),
                             hovertemplate="%{y:,}"), 1, 1)
    for key, name, color in ENSEMBLES:
        for row, (_, side) in enumerate(SIDES, start=1):
            _band(fig, f"{key}_{side}", name, color, row, calendar)
    if observed is not None:
        for row, side in ((1, "government_released_taliban"), (2, "taliban_released_government")):
            rows = observed[observed["side"] == side]
            when = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d").tolist()
            fig.add_trace(go.Scatter(name="Observed 2020 (news reports)", x=when,
                                     y=rows["cumulative_released"].tolist(), mode="markers",
                                     legendgroup="observed", marker=dict(color="black", size=7, symbol="circle-open"),
                                     hovertemplate="%{y:,} (%{customdata})", customdata=rows["confidence"].tolist()), row, 1)
    _release_axes(fig, {1: p.government_prisoners, 2: p.taliban_prisoners}, RELEASES_HEIGHT)
    _events(fig, scenario)
    _date_axes(fig, scenario, 2)
    _layout(fig, f"{scenario.metadata.name}: prisoner releases", RELEASES_HEIGHT)
    return fig


def releases_data(written: Bands, settings: Bands) -> Updates:
    """Both ensembles' bands and medians of cumulative releases, a value for each day of the calendar that
    `releases_figure` drew (`written`, `settings`: anything with `quantiles(column, qs)` per day, such as
    `DailyBands` or the dashboard's `ReleaseBands`)."""
    data: Updates = {}
    for (key, _, _), bands in zip(ENSEMBLES, (written, settings)):
        for column, side in SIDES:
            q = bands.quantiles(column, BAND)
            for i, part in enumerate(("low", "median", "high")):
                data[f"{key}_{side}_{part}"] = dict(y=q[:, i])
    return data


def rates_figure() -> go.Figure:
    """Outcome shares of both ensembles with Wilson 95% intervals and, below, the paired differences with Newcombe
    95% intervals: the skeleton `rates_data` fills."""
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.2, row_heights=[0.6, 0.4],
                        subplot_titles=("Share of runs ending in each outcome (Wilson 95% interval)",
                                        "Your settings minus the scenario, same seeds (Newcombe 95% interval)"))
    for key, name, color in ENSEMBLES:
        fig.add_trace(go.Bar(meta=f"rate_{key}", name=name, x=[], y=[], marker=dict(color=color),
                             error_y=dict(type="data", symmetric=False, array=[], arrayminus=[], color="#333"),
                             hovertemplate="%{customdata}<extra>" + name + "</extra>"), 1, 1)
    fig.add_trace(go.Scatter(meta="difference", name="Difference (percentage points)", x=[], y=[], mode="markers",
                             marker=dict(color=SETTINGS, size=10, symbol="diamond", line=dict(color="#333", width=1)),
                             error_y=dict(type="data", symmetric=False, array=[], arrayminus=[], color="#333"),
                             hovertemplate="%{customdata}<extra>difference</extra>", showlegend=False), 2, 1)
    fig.add_hline(y=0, line=dict(color=GREY, width=1), row=2, col=1)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="Share of runs (%)", range=[0, 100], row=1, col=1)
    fig.update_yaxes(title_text="Difference (points)", zeroline=True, row=2, col=1)
    fig.update_xaxes(title_text="Outcome", row=2, col=1)
    _layout(fig, "Outcomes", 560)
    fig.update_layout(hovermode="closest")
    return fig


def rates_data(rates: pd.DataFrame, differences: pd.DataFrame, written: str, settings: str) -> Updates:
    """The bars and differences from `ensemble.rates` and `ensemble.differences` (`written`, `settings`: the
    scenario labels in those tables)."""
    data: Updates = {}
    for (key, _, _), label in zip(ENSEMBLES, (written, settings)):
        rows = rates[rates["scenario"] == label]
        rate, low, high = (100 * rows[c].to_numpy() for c in ("rate", "low", "high"))
        data[f"rate_{key}"] = dict(x=rows["outcome"].tolist(), y=rate,
                                   error_y=dict(type="data", symmetric=False, array=high - rate, arrayminus=rate - low),
                                   customdata=[f"{r:.1f}% ({lo:.1f}–{hi:.1f})" for r, lo, hi in zip(rate, low, high)])
    d, low, high = (100 * differences[c].to_numpy() for c in ("difference", "low", "high"))
    data["difference"] = dict(x=differences["outcome"].tolist(), y=d,
                              error_y=dict(type="data", symmetric=False, array=high - d, arrayminus=d - low),
                              customdata=[f"{v:+.1f} points ({lo:+.1f} to {hi:+.1f})" for v, lo, hi in zip(d, low, high)])
    return data

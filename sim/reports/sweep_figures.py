"""Figures of a parameter sweep: heatmaps, rate curves, main effects and Sobol indices.

Inputs are the sweep's tidy tables:
- `points`: one row per design point: `point`, one column per varied parameter
  (named by its dotted scenario path, numeric or categorical), `runs`, `failed`,
  and for each outcome `<outcome>_rate`, `<outcome>_low`, `<outcome>_high`
  (Wilson 95% bounds), plus metric means.
- `params`: the varied parameters' dotted paths, in the sweep spec's order.
- `sobol`: SALib `sobol.analyze` results, one row per output and parameter:
  `output`, `parameter`, `S1`, `S1_conf`, `ST`, `ST_conf` (conf = 95% half-width).

Categorical parameters (strings, booleans) keep the order in which their values
first appear in `points` (the spec order), or their categories' order when the
column is a pandas Categorical. Numeric parameters are sorted.

As in sim.reports.figures, every function returns a `matplotlib.figure.Figure` built without
pyplot; write it with `sim.reports.figures.save`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from pydantic import BaseModel

from sim.reports import analysis
from sim.model.outcomes import OUTCOMES
from sim.reports.figures import OKABE_ITO, OUTCOME_COLORS, band
from sim.model.scenario import Scenario
from sim.reports.words import count

HEATMAP_OUTCOMES = ("deadlocked", "collapsed", "completed")  # where the exchange locks up or breaks, and where it ends
MAIN_EFFECT_OUTCOMES = ("deadlocked", "completed")
MAX_ANNOTATED = 12  # heatmap cells carry their value up to a 12 x 12 grid
BINS = 10  # quantile bins of a continuous parameter in main-effects panels
MAX_LEVELS = 12  # a numeric parameter with at most this many values gets one bin (or curve point) per value
HEATMAP_CMAP = "viridis"
NOT_UNITS = {"choice", "text", "yes/no"}  # bracketed tags in descriptions that are kinds, not units
INDEX_COLORS = {"S1": OKABE_ITO[0], "ST": OKABE_ITO[1]}


# ---------------------------------------------------------------- labels


def unit_of(path: str) -> str:
    """Unit of a dotted scenario parameter, from the trailing `[unit]` of its field description; "" if none."""
    model: type[BaseModel] = Scenario
    parts = path.split(".")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return ""
        if i == len(parts) - 1:
            match = re.search(r"\[([^\[\]]*)\]\s*$", field.description or "")
            return match.group(1).strip() if match else ""
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
    return ""


def axis_label(path: str) -> str:
    """"government.initial_trust (probability)"; kinds such as [choice] are not shown as units."""
    unit = unit_of(path)
    return f"{path} ({unit})" if unit and unit not in NOT_UNITS else path


def _outcome_label(outcome: str) -> str:
    return outcome.replace("_", " ").capitalize()


def _runs_text(points: pd.DataFrame) -> str:
    """"200 runs per point" (a range when points differ), with failed runs when there were any."""
    runs = points["runs"].astype(int)
    text = f"{count(runs.min(), 'run')} per point" if runs.min() == runs.max() else f"{runs.min():,}–{runs.max():,} runs per point"
    failed = int(points["failed"].sum()) if "failed" in points else 0
    return text + (f", {failed:,} failed" if failed else "")


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        else str(value)


# ---------------------------------------------------------------- levels, cells and bins


def is_categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _levels(values: pd.Series) -> list:
    """Distinct values in display order: categories in spec order (first appearance), numbers sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna())
        return [c for c in values.cat.categories if c in present]
    if is_categorical(values):
        return list(pd.unique(values.dropna()))
    return sorted(pd.unique(values.dropna()))


def _bins(values: pd.Series, bins: int = BINS) -> tuple[pd.Series, list, list[str], bool]:
    """Bin of each point, with each bin's x position, tick label and whether the parameter is categorical.

    Categories and numeric parameters with few values: one bin per value. Otherwise up to
    `bins` quantile bins, placed at the mean value of their points.
    """
    if is_categorical(values):
        levels = _levels(values)
        return values.map({v: i for i, v in enumerate(levels)}), list(range(len(levels))), [str(v) for v in levels], True
    levels = _levels(values)
    if len(levels) <= MAX_LEVELS:
        return values.map({v: i for i, v in enumerate(levels)}), list(levels), [_fmt(v) for v in levels], False
    codes = pd.Series(pd.qcut(values, bins, labels=False, duplicates="drop"), index=values.index)
    centres = values.groupby(codes).mean()
    return codes, list(centres.to_numpy()), [_fmt(v) for v in centres], False


def _dodge(i: int, n: int, width: float = 0.24) -> float:
    """Offset of series i of n around a category's position, so error bars do not overlap."""
    return (i - (n - 1) / 2) * width / max(n - 1, 1)


def _categorical_ticks(ax, axis: str, labels: list[str]) -> None:
    positions = range(len(labels))
    if axis == "x":
        long = max((len(s) for s in labels), default=0) > 8
        ax.set_xticks(positions, labels, rotation=25 if long else 0, ha="right" if long else "center")
    else:
        ax.set_yticks(positions, labels)


# ---------------------------------------------------------------- figures


def cell_label(percent: float) -> str:
    """A heatmap cell's share in percent: one decimal where it has one (57.5, not 57), none where it is whole."""
    text = f"{percent:.1f}"
    return text[:-2] if text.endswith(".0") else text


def heatmap_figure(points: pd.DataFrame, params: list[str], title: str) -> Figure:
    """Deadlock, collapse and completion rates over a two-parameter grid: the first parameter on y, the second on x.

    Cells show the share of runs (%, one decimal where needed), annotated when the grid is at most 12 x 12; panel
    titles give the widest Wilson 95% interval of their cells.
    """
    if len(params) != 2:
        raise ValueError(f"heatmap_figure needs two varied parameters, got {len(params)}: {params}")
    ypar, xpar = params
    ylev, xlev = _levels(points[ypar]), _levels(points[xpar])
    yidx, xidx = {v: i for i, v in enumerate(ylev)}, {v: i for i, v in enumerate(xlev)}
    annotate = max(len(ylev), len(xlev)) <= MAX_ANNOTATED
    cell_font = "medium" if max(len(ylev), len(xlev)) <= 6 else "small"
    width = min(19.0, 1.5 + len(HEATMAP_OUTCOMES) * max(3.6, 0.5 * len(xlev)))
    fig = Figure(figsize=(width, max(4.5, 1.5 + 0.45 * len(ylev))), layout="constrained")
    axes = fig.subplots(1, len(HEATMAP_OUTCOMES), sharey=True)
    cmap = colormaps[HEATMAP_CMAP].with_extremes(bad="0.85")  # cells without a point: light grey
    for ax, outcome in zip(axes, HEATMAP_OUTCOMES):
        cells = analysis.rates_by(points, [ypar, xpar], outcome)
        grid = np.full((len(ylev), len(xlev)), np.nan)
        grid[cells[ypar].map(yidx).to_numpy(int), cells[xpar].map(xidx).to_numpy(int)] = 100 * cells["rate"].astype(float)
        im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", cmap=cmap, vmin=0, vmax=100,
                       aspect="auto", interpolation="nearest")
        if annotate:
            for (yi, xi), value in np.ndenumerate(grid):
                if np.isnan(value):
                    continue
                r, g, b = to_rgb(im.cmap(im.norm(value)))
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(xi, yi, cell_label(value), ha="center", va="center", fontsize=cell_font, color=ink, gid="cell")
        half = 100 * float(((cells["high"] - cells["low"]) / 2).max())
        ax.set_title(f"{_outcome_label(outcome)}\n(Wilson 95% CI within ±{half:.0f} percentage points)", fontsize="medium")
        if is_categorical(points[xpar]):
            _categorical_ticks(ax, "x", [str(v) for v in xlev])
        else:
            step = max(1, int(np.ceil(len(xlev) / MAX_ANNOTATED)))
            ax.set_xticks(range(0, len(xlev), step), [_fmt(v) for v in xlev[::step]])
        ax.set_xlabel(axis_label(xpar))
    if is_categorical(points[ypar]):
        _categorical_ticks(axes[0], "y", [str(v) for v in ylev])
        axes[0].invert_yaxis()  # categories read top to bottom in spec order
    else:
        step = max(1, int(np.ceil(len(ylev) / MAX_ANNOTATED)))
        axes[0].set_yticks(range(0, len(ylev), step), [_fmt(v) for v in ylev[::step]])
    axes[0].set_ylabel(axis_label(ypar))
    fig.colorbar(im, ax=axes, label="Share of runs (%)", shrink=0.9, pad=0.02)
    fig.suptitle(f"{title}: deadlock, collapse and completion rates ({_runs_text(points)})", fontweight="bold")
    return fig


def curves_figure(points: pd.DataFrame, params: list[str], title: str) -> Figure:
    """Rate of each outcome against the one varied parameter, with Wilson 95% bands (error bars for categories)."""
    if len(params) != 1:
        raise ValueError(f"curves_figure needs one varied parameter, got {len(params)}: {params}")
    (par,) = params
    categorical = is_categorical(points[par])
    levels = _levels(points[par])
    fig = Figure(figsize=(9.5, 5.5), layout="constrained")
    ax = fig.subplots()
    for i, outcome in enumerate(OUTCOMES):
        cells = analysis.rates_by(points, [par], outcome)
        order = cells[par].map({v: j for j, v in enumerate(levels)})
        cells = cells.assign(_order=order).sort_values("_order")
        rate, low, high = (100 * cells[c].astype(float).to_numpy() for c in ("rate", "low", "high"))
        color = OUTCOME_COLORS.get(outcome, "0.5")
        if categorical:
            x = cells["_order"].to_numpy() + _dodge(i, len(OUTCOMES))
            ax.errorbar(x, rate, yerr=[rate - low, high - rate], fmt="o", color=color, capsize=4,
                        label=_outcome_label(outcome))
        else:
            x = cells[par].astype(float).to_numpy()
            band(ax, x, low, high, color, f"{_outcome_label(outcome)}: Wilson 95% interval")
            ax.plot(x, rate, marker="o", markersize=3, color=color, label=_outcome_label(outcome))
    handles, labels = ax.get_legend_handles_labels()
    if categorical:
        _categorical_ticks(ax, "x", [str(v) for v in levels])
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
              title="Outcome")
    ax.set_xlabel(axis_label(par))
    ax.set_ylabel("Share of runs (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    fig.suptitle(f"{title}: outcome rates by {par} ({_runs_text(points)}; Wilson 95% intervals)",
                 fontweight="bold")
    return fig


def _panel_top(highest: float) -> float:
    """A panel's upper y limit (%): 0 to a round 10 above its highest interval end, at most 100."""
    return float(min(100.0, max(10.0, 10 * np.ceil((highest + 2) / 10))))


def main_effects_figure(points: pd.DataFrame, params: list[str], title: str) -> Figure:
    """One panel per parameter: deadlock and completion rates of the points binned by that parameter.

    Continuous parameters: up to 10 quantile bins, each at the mean value of its points;
    categories and numeric parameters with at most 12 values: one bin per value. Each bin
    shows the mean rate of its points with a 95% interval (see `_bin_summary`). Each panel has
    its own y range, from 0 to a round 10% above its highest interval end, so no curve leaves it;
    a categorical panel shows its categories in the sweep spec's order (or first appearance), both
    outcomes on the category's tick, told apart by colour and marker.
    """
    if not params:
        raise ValueError("main_effects_figure needs at least one varied parameter")
    ncols = min(3, len(params))
    nrows = int(np.ceil(len(params) / ncols))
    fig = Figure(figsize=(4.6 * ncols, 3.6 * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    markers = {"deadlocked": "o", "completed": "s"}
    for ax, par in zip(axes, params):
        codes, xs, labels, categorical = _bins(points[par])
        highest = 0.0
        for outcome in MAIN_EFFECT_OUTCOMES:
            s = analysis.bin_rates(points, codes, outcome)
            x = np.asarray(xs, dtype=float)[s.index.to_numpy(dtype=int)]
            rate, low, high = (100 * s[c].to_numpy() for c in ("rate", "low", "high"))
            highest = max(highest, float(np.nanmax(high)) if len(high) else 0.0)
            color = OUTCOME_COLORS.get(outcome, "0.5")
            marker = markers.get(outcome, "o")
            if categorical:
                ax.errorbar(x, rate, yerr=[rate - low, high - rate], fmt=marker, color=color, capsize=4,
                            label=_outcome_label(outcome))
            else:
                band(ax, x, low, high, color, f"{_outcome_label(outcome)}: 95% interval of the bin mean")
                ax.plot(x, rate, marker=marker, markersize=3, color=color, label=_outcome_label(outcome))
        if categorical:
            ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.5, len(labels) - 0.5)
            spec_order = isinstance(points[par].dtype, pd.CategoricalDtype)
            ax.set_xlabel(f"{axis_label(par)}\n(in the order of the "
                          f"{'sweep spec' if spec_order else 'first points'})")
        else:
            ax.set_xlabel(axis_label(par))
        ax.set_ylim(0, _panel_top(highest))
        ax.set_ylabel("Share of runs (%)")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(params):]:
        ax.set_visible(False)
    numeric = next((ax for ax, par in zip(axes, params) if not is_categorical(points[par])), axes[0])
    handles, labels = numeric.get_legend_handles_labels()
    if numeric is axes[0] and is_categorical(points[params[0]]):  # only categories: error bars, no bands
        labels = [f"{label} (95% interval of the bin mean)" for label in labels]
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize="small",
               frameon=False)
    fig.suptitle(f"{title}: main effects on deadlock and completion ({len(points):,} points, {_runs_text(points)};"
                 f"\neach panel its own y range)", fontweight="bold")
    return fig


def sobol_figure(sobol: pd.DataFrame, title: str) -> Figure:
    """First-order (S1) and total (ST) Sobol indices per parameter, one panel per output, ±95% conf error bars."""
    present = list(pd.unique(sobol["output"]))
    outputs = [o for o in ("deadlocked", "completed") if o in present] + \
        [o for o in present if o not in ("deadlocked", "completed")]
    params = list(pd.unique(sobol["parameter"]))
    x = np.arange(len(params))
    width = 0.38
    fig = Figure(figsize=(max(7.0, 1.1 * len(params) + 2.5), 3.6 * len(outputs) + 1.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(outputs), 1, sharex=True, sharey=True, squeeze=False)).ravel()
    for ax, output in zip(axes, outputs):
        rows = sobol[sobol["output"] == output].set_index("parameter").reindex(params)
        for offset, index, name in ((-width / 2, "S1", "First-order index S1"), (width / 2, "ST", "Total-order index ST")):
            ax.bar(x + offset, rows[index], width, yerr=rows[f"{index}_conf"], color=INDEX_COLORS[index],
                   capsize=3, error_kw=dict(elinewidth=1, ecolor="0.2"), label=name)
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_title(_outcome_label(output), loc="left", fontsize="medium")
        ax.set_ylabel("Sobol index\n(share of variance)")
        ax.grid(True, axis="y", alpha=0.3)
    long = max((len(p) for p in params), default=0) > 12
    axes[-1].set_xticks(x, params, rotation=25 if long else 0, ha="right" if long else "center")
    axes[-1].set_xlabel("Varied parameter")
    handles, labels = axes[0].get_legend_handles_labels()
    whisker = next(c for c in axes[0].containers if isinstance(c, ErrorbarContainer))
    fig.legend(handles + [whisker],
               labels + ["95% confidence interval (bootstrap)"], loc="outside lower center", fontsize="small",
               frameon=False, ncols=3)
    fig.suptitle(f"{title}: Sobol sensitivity indices", fontweight="bold")
    return fig


def _is_grid(points: pd.DataFrame, params: list[str]) -> bool:
    """Every combination of the parameters' values is present (a full factorial)."""
    combos = points[params].drop_duplicates()
    return len(combos) == int(np.prod([points[p].nunique() for p in params]))


def sweep_figures(points: pd.DataFrame, params: list[str], title: str, sampler: str,
                  sobol: pd.DataFrame | None = None) -> dict[str, Figure]:
    """The figures that suit the sweep's shape, by file name.

    - sampler "sobol": "sobol" (when indices are given) and "main_effects";
    - two parameters on a full grid: "heatmap";
    - one parameter: "curves" (binned "main_effects" when it takes more than 40 values, as in a random design);
    - otherwise (more parameters, or a random or Latin hypercube design): "main_effects".
    """
    if not params or points.empty:
        return {}
    if sampler == "sobol":
        figures = {"sobol": sobol_figure(sobol, title)} if sobol is not None and not sobol.empty else {}
        return figures | {"main_effects": main_effects_figure(points, params, title)}
    if len(params) == 2 and _is_grid(points, params):
        return {"heatmap": heatmap_figure(points, params, title)}
    if len(params) == 1 and points[params[0]].nunique() <= 40:
        return {"curves": curves_figure(points, params, title)}
    return {"main_effects": main_effects_figure(points, params, title)}

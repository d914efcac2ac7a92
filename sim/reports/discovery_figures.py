"""Figures of a scenario discovery (`sim.reports.discovery`): PRIM's trade-off, feature scores, the box on the sweep.

Inputs are the discovery's tidy tables:
- `trajectory`: PRIM's peeling and pasting trajectory, one row per box in order: `coverage`,
  `density` (fractions), `res_dim` (restricted parameters);
- `scores`: feature scores, one row per outcome and parameter: `outcome`, `parameter`, `score`
  (NaN when the outcome never or always occurred);
- `points`: one row per design point: the parameters, `runs`, `cases` (runs ending in the
  outcomes studied) and `rate`.

As in sim.reports.figures, every function returns a `matplotlib.figure.Figure` built without
pyplot; write it with `sim.reports.figures.save`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps, patheffects
from matplotlib.colors import BoundaryNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from sim.reports.sweep_figures import HEATMAP_CMAP, MAX_ANNOTATED, axis_label

BOX_STYLE = {  # the chosen boxes, by their first label
    "min_rate": dict(color="#c62828", linestyle="-", outline="white"),
    "densest": dict(color="#c62828", linestyle="-", outline="white"),
    "knee": dict(color="white", linestyle="--", outline="black"),
}
MARKER_COLORS = {"min_rate": "#c62828", "densest": "#c62828", "knee": "#1f4e9c"}
NO_SCORE = "0.85"
MAX_BINS = 25  # a design that is not a grid is shown as up to 25 x 25 cells


def _first(label: str) -> str:
    return label.split("+")[0]


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def _ink(im, value: float) -> str:
    """Black on light cells, white on dark ones."""
    r, g, b = to_rgb(im.cmap(im.norm(value)))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def tradeoff_figure(trajectory: pd.DataFrame, chosen: Mapping[str, int], min_rate: float, title: str, what: str,
                    unit: str = "runs", note: str = "") -> Figure:
    """Coverage against density of every box on PRIM's trajectory, coloured by the number of restricted
    parameters, with the minimum rate, the chord of the knee rule and the chosen boxes (`chosen`: label -> index)
    marked and labelled. `what` names the outcomes ("collapse or deadlock"); `unit` what PRIM counted ("runs" or
    "points"); `note` goes under the title ("2,000 runs, 258 of them cases")."""
    c = 100 * trajectory["coverage"].to_numpy(dtype=float)
    d = 100 * trajectory["density"].to_numpy(dtype=float)
    r = trajectory["res_dim"].to_numpy(dtype=int)
    fig = Figure(figsize=(9.5, 7.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(c, d, color="0.7", linewidth=1, zorder=1, label="Peeling and pasting trajectory (box 0: everything)")
    top = max(int(r.max()), 1)
    cmap = colormaps["viridis"].resampled(top + 1)
    norm = BoundaryNorm(np.arange(-0.5, top + 1.5), cmap.N)
    dots = ax.scatter(c, d, c=r, cmap=cmap, norm=norm, s=30, zorder=2, edgecolors="0.3", linewidths=0.3)
    bar = fig.colorbar(dots, ax=ax, ticks=range(top + 1), pad=0.02)
    bar.set_label("Restricted parameters (count)")
    if len(c) >= 3:
        ax.plot([c[0], c[-1]], [d[0], d[-1]], linestyle=":", color="0.35", linewidth=1,
                label="Chord from the first to the last box (knee rule)")
    ax.axhline(100 * min_rate, linestyle="--", color="#c62828", linewidth=1, label=f"Minimum rate ({_pct(min_rate)})")
    offsets = [(-18, -42), (18, 28), (-60, 20)]
    for k, (label, i) in enumerate(chosen.items()):
        color = MARKER_COLORS.get(_first(label), "black")
        ax.scatter([c[i]], [d[i]], s=220, facecolors="none", edgecolors=color, linewidths=2.2, zorder=3,
                   label=f"{label} box (box {i}): coverage {c[i]:.0f}%, density {d[i]:.0f}%", gid="chosen")
        ax.annotate(f"{label}\n(box {i})", (c[i], d[i]), xytext=offsets[k % len(offsets)], textcoords="offset points",
                    ha="center", fontsize="small", color=color, fontweight="bold",
                    arrowprops=dict(arrowstyle="-", color=color, linewidth=1), gid="chosen_label")
    ax.set_xlim(0, 103)
    ax.set_ylim(0, 103)
    ax.set_xlabel("Coverage: share of all cases that lie inside the box (%)")
    ax.set_ylabel(f"Density: share of the box's {unit} that are cases (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small", framealpha=0.9)
    fig.suptitle(f"{title}: PRIM trade-off between coverage and density for {what}" + (f"\n({note})" if note else ""),
                 fontweight="bold")
    return fig


def feature_scores_figure(scores: pd.DataFrame, title: str, target: str, highlight: str | None = None,
                          note: str = "") -> Figure:
    """Heatmap of feature scores, parameters (rows) by outcomes (columns), each cell annotated; outcomes without a
    score are left out, and `note` (under the figure) says which and why. `highlight` (default: the first outcome,
    the one studied) is framed. `target` says what was scored ("each run's 0/1 case")."""
    scored = scores.groupby("outcome", sort=False)["score"].transform(lambda s: s.notna().any())
    outcomes = list(dict.fromkeys(scores.loc[scored.astype(bool), "outcome"]))
    params = list(dict.fromkeys(scores["parameter"]))
    grid = scores.pivot(index="parameter", columns="outcome", values="score").reindex(index=params, columns=outcomes)
    values = grid.to_numpy(dtype=float)
    highlight = outcomes[0] if highlight is None and outcomes else highlight
    fig = Figure(figsize=(max(7.0, 2.6 + 1.45 * len(outcomes)), max(4.6, 2.0 + 0.55 * len(params))),
                 layout="constrained")
    ax = fig.subplots()
    cmap = colormaps[HEATMAP_CMAP].with_extremes(bad=NO_SCORE)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    im = ax.imshow(np.ma.masked_invalid(values.reshape(len(params), len(outcomes))), cmap=cmap, vmin=0,
                   vmax=max(top, 1e-9), aspect="auto", interpolation="nearest")
    for (yi, xi), value in np.ndenumerate(values):
        text, ink = ("—", "0.3") if np.isnan(value) else (f"{value:.2f}", _ink(im, value))
        ax.text(xi, yi, text, ha="center", va="center", fontsize="small", color=ink, gid="cell")
    handles = []
    if highlight in outcomes:
        j = outcomes.index(highlight)
        ax.add_patch(Rectangle((j - 0.5, -0.5), 1, len(params), fill=False, edgecolor="#c62828", linewidth=2.5,
                               clip_on=False, gid="highlight"))
        handles.append(Patch(facecolor="none", edgecolor="#c62828", linewidth=2.5,
                             label=f"Outcomes studied: {highlight}"))
    if not outcomes:
        ax.text(0.5, 0.5, "No outcome has enough runs to be scored", transform=ax.transAxes, ha="center",
                va="center", gid="empty")
    long = max((len(o) for o in outcomes), default=0) > 11
    ax.set_xticks(range(len(outcomes)), outcomes, rotation=20 if long else 0, ha="right" if long else "center")
    ax.set_yticks(range(len(params)), params)
    ax.set_xlabel(f"Outcome (scored on {target})")
    ax.set_ylabel("Swept parameter")
    fig.colorbar(im, ax=ax, label="Feature score (share of importance)", pad=0.02)
    legend = fig.legend(handles=handles, loc="outside lower center", ncols=max(1, len(handles)), fontsize="small",
                        frameon=False, title=textwrap.fill(note, 110) or None, title_fontsize="small")
    legend.set_gid("note" if note else None)
    fig.suptitle(f"{title}: which swept parameters shape each outcome (extra-trees feature scores)",
                 fontweight="bold")
    return fig


def _edges(levels: Sequence[float]) -> np.ndarray:
    """Cell edges around sorted grid values: halfway between neighbours, half a step beyond the ends."""
    v = np.asarray(levels, dtype=float)
    if len(v) == 1:
        half = 0.5 if v[0] == 0 else abs(v[0]) * 0.05
        return np.array([v[0] - half, v[0] + half])
    mids = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mids[0] - v[0])], mids, [v[-1] + (v[-1] - mids[-1])]])


def _grid_cells(points: pd.DataFrame, ypar: str, xpar: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, list]:
    """Pooled rate per grid cell (one cell per pair of values), with the cells' edges and the values."""
    ylev = sorted(pd.unique(points[ypar]))
    xlev = sorted(pd.unique(points[xpar]))
    pooled = points.groupby([ypar, xpar])[["cases", "runs"]].sum()
    grid = np.full((len(ylev), len(xlev)), np.nan)
    yi, xi = {v: i for i, v in enumerate(ylev)}, {v: i for i, v in enumerate(xlev)}
    for (yv, xv), row in pooled.iterrows():
        if row["runs"] > 0:
            grid[yi[yv], xi[xv]] = row["cases"] / row["runs"]
    return grid, _edges(ylev), _edges(xlev), ylev, xlev


def _binned_cells(points: pd.DataFrame, ypar: str, xpar: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled rate in equal bins of each parameter (for designs that are not grids), with the bins' edges."""
    bins = int(np.clip(round(np.sqrt(len(points) / 6)), 4, MAX_BINS))
    y, x = points[ypar].to_numpy(dtype=float), points[xpar].to_numpy(dtype=float)
    yedges = np.linspace(y.min(), y.max() if y.max() > y.min() else y.min() + 1, bins + 1)
    xedges = np.linspace(x.min(), x.max() if x.max() > x.min() else x.min() + 1, bins + 1)
    cases, _, _ = np.histogram2d(y, x, [yedges, xedges], weights=points["cases"].to_numpy(dtype=float))
    runs, _, _ = np.histogram2d(y, x, [yedges, xedges], weights=points["runs"].to_numpy(dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(runs > 0, cases / runs, np.nan), yedges, xedges


def _span(limits: tuple[float | None, float | None], edges: np.ndarray, levels: list | None) -> tuple[float, float]:
    """A box's extent along one axis: its limits (the axis' ends where it does not restrict), snapped to the edges
    of the grid cells it includes when the sweep is a grid."""
    low, high = limits
    if levels is None:
        return (edges[0] if low is None else low), (edges[-1] if high is None else high)
    values = np.asarray(levels, dtype=float)
    tol = 1e-9 * max(1.0, float(np.abs(values).max()))
    inside = np.ones(len(values), dtype=bool)
    if low is not None:
        inside &= values >= low - tol
    if high is not None:
        inside &= values <= high + tol
    if not inside.any():
        return (edges[0] if low is None else low), (edges[-1] if high is None else high)
    idx = np.flatnonzero(inside)
    return float(edges[idx[0]]), float(edges[idx[-1] + 1])


def box_figure(points: pd.DataFrame, params: Sequence[str],
               boxes: Sequence[tuple[str, Mapping[str, tuple[float | None, float | None]], float, float]],
               title: str, what: str, grid: bool = False) -> Figure:
    """The rate of the outcomes over two numeric parameters (the first on y, the second on x, as in the sweep's
    heatmap) with the chosen boxes drawn over it as rectangles.

    `boxes`: (label, limits, coverage, density), limits by parameter as (low, high), None where the box does not
    restrict. A grid sweep shows one cell per point (rates pooled over its runs) and boxes snapped to the cells they
    include; another design shows the runs pooled in equal bins of both parameters.
    """
    if len(params) != 2:
        raise ValueError(f"box_figure needs two parameters, got {len(params)}: {list(params)}")
    ypar, xpar = params
    if grid:
        rates, yedges, xedges, ylev, xlev = _grid_cells(points, ypar, xpar)
    else:
        rates, yedges, xedges = _binned_cells(points, ypar, xpar)
        ylev = xlev = None
    fig = Figure(figsize=(9.0, 7.2), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps[HEATMAP_CMAP].with_extremes(bad="0.85")
    im = ax.pcolormesh(xedges, yedges, np.ma.masked_invalid(100 * rates), cmap=cmap, vmin=0, vmax=100)
    if grid and max(rates.shape) <= MAX_ANNOTATED:
        for (i, j), value in np.ndenumerate(100 * rates):
            if not np.isnan(value):
                ax.text(xlev[j], ylev[i], f"{value:.0f}", ha="center", va="center", fontsize="small",
                        color=_ink(im, value), gid="cell")
    fig.colorbar(im, ax=ax, label=f"Share of runs ending in {what} (%)", pad=0.02)
    handles = []
    for label, limits, coverage, density in boxes:
        style = BOX_STYLE.get(_first(label), BOX_STYLE["min_rate"])
        x0, x1 = _span(limits.get(xpar, (None, None)), xedges, xlev)
        y0, y1 = _span(limits.get(ypar, (None, None)), yedges, ylev)
        effects = [patheffects.withStroke(linewidth=4.5, foreground=style["outline"])]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=style["color"], linewidth=2.5,
                               linestyle=style["linestyle"], path_effects=effects, zorder=3, gid="box"))
        handles.append(Line2D([], [], color=style["color"], linewidth=2.5, linestyle=style["linestyle"],
                              path_effects=effects,
                              label=f"{label} box: coverage {_pct(coverage)}, density {_pct(density)}"))
    ax.set_xlim(xedges[0], xedges[-1])
    ax.set_ylim(yedges[0], yedges[-1])
    ax.set_xlabel(axis_label(xpar))
    ax.set_ylabel(axis_label(ypar))
    cells = "one cell per point, its runs pooled" if grid else \
        f"{len(points):,} points pooled in {rates.shape[1]} x {rates.shape[0]} equal bins"
    fig.legend(handles=handles, loc="outside lower center", ncols=max(1, len(handles)), fontsize="small",
               frameon=False, title="PRIM boxes")
    fig.suptitle(f"{title}: where {what} concentrates\n(share of runs, {cells}; PRIM boxes drawn over it)",
                 fontweight="bold")
    return fig

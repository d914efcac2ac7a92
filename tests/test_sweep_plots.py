"""Sweep figures: titled, labelled with units, banded, legends naming outcomes; the right figures per sweep shape."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from sim.reports import figures as plots

from sim.reports import sweep_figures as sweep_plots
from sim.reports import analysis
from sim.reports.analysis import wilson_interval
from sim.model.outcomes import OUTCOMES

NAME = "trust_sweep"
RUNS = 200
POLICIES = ["refuse", "first_batch", "verify_only", "after_fraction"]
POLICY_BONUS = {"refuse": -1.0, "first_batch": 0.5, "verify_only": 0.2, "after_fraction": 0.0}
PNG = b"\x89PNG\r\n\x1a\n"


def make_points(design: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Synthetic sweep results: completion rises with both trusts (and with a softer commander policy)."""
    rng = np.random.default_rng(seed)
    gov = design.get("government.initial_trust", pd.Series(0.4, index=design.index)).astype(float)
    tal = design.get("taliban.initial_trust", pd.Series(0.35, index=design.index)).astype(float)
    bonus = design.get("protocol.commander_policy", pd.Series("after_fraction", index=design.index)).map(POLICY_BONUS)
    score = 4 * (gov - 0.5) + 4 * (tal - 0.5) + bonus
    completed = 0.9 / (1 + np.exp(-score))
    collapsed = 0.3 * (1 - completed) * (1 - tal)
    deadlocked = 0.7 * (1 - completed - collapsed)
    partial = 1 - completed - collapsed - deadlocked
    probs = np.column_stack([completed, collapsed, deadlocked, partial])  # OUTCOMES order
    counts = np.array([rng.multinomial(RUNS, p / p.sum()) for p in probs])
    out = design.copy()
    out.insert(0, "point", np.arange(len(design)))
    out["runs"], out["failed"] = RUNS, 0
    for j, outcome in enumerate(OUTCOMES):
        out[f"{outcome}_count"] = counts[:, j]
        out[f"{outcome}_rate"] = counts[:, j] / RUNS
        out[f"{outcome}_low"], out[f"{outcome}_high"] = wilson_interval(counts[:, j], RUNS)
    both = counts[:, 1] + counts[:, 2]
    out["deadlock_or_collapse_rate"] = both / RUNS
    out["deadlock_or_collapse_low"], out["deadlock_or_collapse_high"] = wilson_interval(both, RUNS)
    out["mean_walkouts"] = rng.uniform(0, 3, len(design))
    out["mean_end_day"] = rng.uniform(100, 425, len(design))
    return out


def grid(**axes) -> pd.DataFrame:
    names = list(axes)
    return pd.DataFrame(list(itertools.product(*axes.values())), columns=names)


GRID_PARAMS = ["government.initial_trust", "taliban.initial_trust"]
CAT_PARAMS = ["protocol.commander_policy", "taliban.initial_trust"]
ONE_PARAM = ["government.initial_trust"]
RANDOM_PARAMS = ["government.initial_trust", "taliban.initial_trust", "spoilers.misattribution", "mediator.guarantee",
                 "taliban.patience_days", "protocol.commander_policy"]


@pytest.fixture(scope="module")
def grid_points() -> pd.DataFrame:
    return make_points(grid(**{p: np.round(np.linspace(0, 1, 11), 2) for p in GRID_PARAMS}))


@pytest.fixture(scope="module")
def cat_points() -> pd.DataFrame:
    return make_points(grid(**{CAT_PARAMS[0]: POLICIES, CAT_PARAMS[1]: [0.2, 0.4, 0.6]}))


@pytest.fixture(scope="module")
def one_points() -> pd.DataFrame:
    return make_points(pd.DataFrame({ONE_PARAM[0]: np.linspace(0.05, 0.95, 19)}))


@pytest.fixture(scope="module")
def random_points() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    design = pd.DataFrame({
        "government.initial_trust": rng.uniform(0, 1, n),
        "taliban.initial_trust": rng.uniform(0, 1, n),
        "spoilers.misattribution": rng.uniform(0, 1, n),
        "mediator.guarantee": rng.uniform(0, 0.5, n),
        "taliban.patience_days": rng.integers(10, 90, n),
        "protocol.commander_policy": rng.choice(POLICIES, n),
    })
    return make_points(design, seed=1)


@pytest.fixture(scope="module")
def sobol() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for output in ("deadlocked", "completed"):
        for p in RANDOM_PARAMS:
            s1 = rng.uniform(0, 0.4)
            rows.append(dict(output=output, parameter=p, S1=s1, S1_conf=rng.uniform(0.01, 0.08),
                             ST=s1 + rng.uniform(0, 0.2), ST_conf=rng.uniform(0.01, 0.08)))
    return pd.DataFrame(rows)


def visible_axes(fig: Figure):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def check_common(fig: Figure, tmp_path, name: str) -> None:
    assert NAME in fig.get_suptitle()
    for ax in visible_axes(fig):
        assert ax.get_xlabel() or ax.get_shared_x_axes().get_siblings(ax) != [ax]
    path = plots.save(fig, tmp_path / f"{name}.png")
    assert path.read_bytes()[:8] == PNG


def legend_texts(fig: Figure) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


# ---------------------------------------------------------------- labels


def test_unit_of_reads_the_field_description():
    assert sweep_plots.unit_of("government.initial_trust") == "probability"
    assert sweep_plots.unit_of("taliban.patience_days") == "days"
    assert sweep_plots.unit_of("protocol.conditions.max_attacks_per_day") == "attacks per day"
    assert sweep_plots.unit_of("protocol.commander_policy") == "choice"
    assert sweep_plots.unit_of("no.such.parameter") == ""
    assert sweep_plots.unit_of("protocol") == ""
    assert sweep_plots.axis_label("government.initial_trust") == "government.initial_trust (probability)"
    assert sweep_plots.axis_label("protocol.commander_policy") == "protocol.commander_policy"  # a kind, not a unit


# ---------------------------------------------------------------- heatmap


def test_heatmap_numeric_grid(grid_points, tmp_path):
    fig = sweep_plots.heatmap_figure(grid_points, GRID_PARAMS, NAME)
    assert f"{RUNS} runs per point" in fig.get_suptitle()
    panels = visible_axes(fig)
    assert [ax.get_title().split()[0] for ax in panels] == ["Deadlocked", "Collapsed", "Completed"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1 and colorbars[0].get_ylabel() == "Share of runs (%)"
    for ax in panels:
        cells = [t for t in ax.texts if t.get_gid() == "cell"]
        assert len(cells) == 11 * 11
        assert ax.get_xlabel() == "taliban.initial_trust (probability)"
    assert panels[0].get_ylabel() == "government.initial_trust (probability)"
    # Annotations are the rates in percent: the cell at gov = 1.0, tal = 1.0 is top right.
    top_right = next(t for t in panels[2].texts if t.get_position() == (10, 10))
    row = grid_points[(grid_points[GRID_PARAMS[0]] == 1.0) & (grid_points[GRID_PARAMS[1]] == 1.0)]
    assert float(top_right.get_text()) == pytest.approx(100 * row['completed_rate'].iloc[0], abs=0.05)
    check_common(fig, tmp_path, "heatmap")


@pytest.mark.parametrize("percent, label", [(57.5, "57.5"), (57.0, "57"), (100 / 3, "33.3"), (99.96, "100"),
                                            (0.04, "0"), (0.06, "0.1"), (12.5, "12.5")])
def test_heatmap_cells_carry_one_decimal_where_needed(percent, label):
    assert sweep_plots.cell_label(percent) == label


def test_heatmap_categorical_rows_keep_spec_order(cat_points, tmp_path):
    fig = sweep_plots.heatmap_figure(cat_points, CAT_PARAMS, NAME)
    panels = visible_axes(fig)
    assert [t.get_text() for t in panels[0].get_yticklabels()] == POLICIES
    assert panels[0].yaxis_inverted()  # the first category at the top
    assert panels[0].get_ylabel() == "protocol.commander_policy"
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["0.2", "0.4", "0.6"]
    for ax in panels:
        assert len([t for t in ax.texts if t.get_gid() == "cell"]) == 4 * 3
    # Categorical on x too (parameters swapped): tick labels are the categories in order.
    fig2 = sweep_plots.heatmap_figure(cat_points, CAT_PARAMS[::-1], NAME)
    assert [t.get_text() for t in visible_axes(fig2)[0].get_xticklabels()] == POLICIES
    check_common(fig, tmp_path, "heatmap_cat")


def test_heatmap_large_grid_is_not_annotated():
    points = make_points(grid(**{p: np.linspace(0, 1, 21) for p in GRID_PARAMS}))
    fig = sweep_plots.heatmap_figure(points, GRID_PARAMS, NAME)
    assert all(not ax.texts for ax in visible_axes(fig))


# ---------------------------------------------------------------- curves


def test_curves_have_wilson_bands_and_name_outcomes(one_points, tmp_path):
    fig = sweep_plots.curves_figure(one_points, ONE_PARAM, NAME)
    (ax,) = fig.axes
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == len(OUTCOMES)
    texts = legend_texts(fig)
    for outcome in OUTCOMES:
        assert outcome.capitalize() in texts
        assert f"{outcome.capitalize()}: Wilson 95% interval" in texts  # each band its own entry (outline, hatch)
    assert ax.get_xlabel() == "government.initial_trust (probability)"
    assert ax.get_ylabel() == "Share of runs (%)"
    # The completion curve is the rates in percent, in the parameter's order.
    completed = next(line for line in ax.get_lines() if line.get_label() == "Completed")
    np.testing.assert_allclose(completed.get_ydata(), 100 * one_points["completed_rate"])
    check_common(fig, tmp_path, "curves")


def test_curves_categorical_uses_error_bars(cat_points, tmp_path):
    points = cat_points[cat_points["taliban.initial_trust"] == 0.4].drop(columns="taliban.initial_trust")
    fig = sweep_plots.curves_figure(points, ["protocol.commander_policy"], NAME)
    (ax,) = fig.axes
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(ax.containers) == len(OUTCOMES)  # one errorbar container per outcome
    assert [t.get_text() for t in ax.get_xticklabels()] == POLICIES
    assert set(o.capitalize() for o in OUTCOMES) <= set(legend_texts(fig))
    check_common(fig, tmp_path, "curves_cat")


# ---------------------------------------------------------------- main effects


def test_main_effects_one_panel_per_parameter(random_points, tmp_path):
    fig = sweep_plots.main_effects_figure(random_points, RANDOM_PARAMS, NAME)
    panels = visible_axes(fig)
    assert len(panels) == len(RANDOM_PARAMS)
    assert [ax.get_xlabel().split()[0] for ax in panels] == RANDOM_PARAMS  # a category's label has a second line
    assert panels[5].get_xlabel().endswith("(in the order of the first points)")
    assert panels[0].get_xlabel() == "government.initial_trust (probability)"
    assert panels[4].get_xlabel() == "taliban.patience_days (days)"
    assert all(ax.get_ylabel() == "Share of runs (%)" for ax in panels)  # each panel its own y range
    for ax in panels[:5]:  # continuous: a band per outcome, up to 10 bins
        assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
        assert all(len(line.get_xdata()) <= sweep_plots.BINS for line in ax.get_lines())
    assert [t.get_text() for t in panels[5].get_xticklabels()] == list(pd.unique(random_points[RANDOM_PARAMS[5]]))
    texts = legend_texts(fig)
    assert "Deadlocked" in texts and "Completed" in texts
    # Completion rises with the government's trust in the synthetic data: the main effect shows it.
    completed = next(line for line in panels[0].get_lines() if line.get_label() == "Completed")
    y = completed.get_ydata()
    assert y[-1] > y[0] + 20
    check_common(fig, tmp_path, "main_effects")


def test_main_effects_panels_hold_their_curves_and_categories_sit_on_their_ticks(random_points):
    """Each panel's y range holds its highest interval end; a category's points sit on its tick, in the order given
    by a Categorical (the sweep spec's order) when there is one."""
    par = RANDOM_PARAMS[5]
    order = list(reversed(pd.unique(random_points[par])))
    shown = random_points.assign(**{par: pd.Categorical(random_points[par], categories=order)})
    panels = visible_axes(sweep_plots.main_effects_figure(shown, RANDOM_PARAMS, NAME))
    for ax in panels:
        top = max(float(np.max(line.get_ydata())) for line in ax.get_lines())
        assert top <= ax.get_ylim()[1]
    assert [t.get_text() for t in panels[5].get_xticklabels()] == order
    assert panels[5].get_xlabel().endswith("(in the order of the sweep spec)")
    ticks = set(panels[5].get_xticks())
    for line in panels[5].get_lines():
        if line.get_linestyle() == "None" and len(line.get_xdata()) == len(order):
            assert set(np.asarray(line.get_xdata(), dtype=float)) <= ticks


def test_main_effects_interval_covers_the_bin_mean(random_points):
    codes, *_ = sweep_plots._bins(random_points["government.initial_trust"])
    s = analysis.bin_rates(random_points, codes, "completed")
    assert len(s) == sweep_plots.BINS
    assert ((s["low"] < s["rate"]) & (s["rate"] < s["high"])).all()
    np.testing.assert_allclose(s["rate"], random_points.groupby(codes)["completed_rate"].mean())


def test_pooling_counts_only_runs_that_did_not_fail(one_points):
    """Repeated points pool their counts; failed runs are in `runs` but not in the rate's denominator."""
    twice = pd.concat([one_points, one_points], ignore_index=True)
    twice.loc[: len(one_points) - 1, "failed"] = 50
    twice.loc[: len(one_points) - 1, "completed_count"] = 0
    twice.loc[: len(one_points) - 1, "completed_rate"] = 0.0
    cells = analysis.rates_by(twice, ONE_PARAM, "completed")
    assert len(cells) == len(one_points)
    expected = one_points["completed_count"].to_numpy() / (RUNS - 50 + RUNS)
    np.testing.assert_allclose(cells["rate"], expected)
    assert ((cells["low"] <= cells["rate"]) & (cells["rate"] <= cells["high"])).all()
    fig = sweep_plots.curves_figure(twice, ONE_PARAM, NAME)
    assert "100 failed" not in fig.get_suptitle() and f"{50 * len(one_points)} failed" in fig.get_suptitle()


# ---------------------------------------------------------------- sobol


def test_sobol_bars_with_error_bars(sobol, tmp_path):
    fig = sweep_plots.sobol_figure(sobol, NAME)
    panels = visible_axes(fig)
    assert [ax.get_title(loc="left") for ax in panels] == ["Deadlocked", "Completed"]
    for ax in panels:
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert sum(len(c) for c in bars) == 2 * len(RANDOM_PARAMS)
        assert all(c.errorbar is not None for c in bars)
        assert "Sobol index" in ax.get_ylabel()
    assert [t.get_text() for t in panels[-1].get_xticklabels()] == RANDOM_PARAMS
    texts = legend_texts(fig)
    assert any("S1" in t for t in texts) and any("ST" in t for t in texts)
    check_common(fig, tmp_path, "sobol")


# ---------------------------------------------------------------- choosing


def test_sweep_figures_pick_by_shape(grid_points, cat_points, one_points, random_points, sobol, tmp_path):
    cases = [
        (grid_points, GRID_PARAMS, "grid", None, {"heatmap"}),
        (cat_points, CAT_PARAMS, "grid", None, {"heatmap"}),
        (one_points, ONE_PARAM, "grid", None, {"curves"}),
        (random_points, RANDOM_PARAMS, "random", None, {"main_effects"}),
        (random_points, RANDOM_PARAMS[:2], "lhs", None, {"main_effects"}),  # two parameters, not a grid
        (random_points, RANDOM_PARAMS, "sobol", sobol, {"sobol", "main_effects"}),
        (random_points, RANDOM_PARAMS, "sobol", None, {"main_effects"}),
    ]
    for points, params, sampler, sob, keys in cases:
        figures = sweep_plots.sweep_figures(points, params, NAME, sampler, sob)
        assert set(figures) == keys, (sampler, params)
        assert all(isinstance(f, Figure) for f in figures.values())
    assert sweep_plots.sweep_figures(grid_points.iloc[:0], GRID_PARAMS, NAME, "grid") == {}

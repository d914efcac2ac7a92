"""A comparison you can read: paired differences of run metrics, their table and file, and the figure with
its forest plot of the paired differences of outcome rates."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from sim.experiments import comparisons as compare
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import load
from sim.reports import comparison as report
from sim.reports import figures as plots
from sim.reports.analysis import paired_mean_difference

ROOT = Path(__file__).resolve().parents[1]
DECREE = ROOT / "scenarios" / "decree_2020.yaml"
UNCONDITIONAL = ROOT / "scenarios" / "doha_unconditional.yaml"
COMMANDERS = ROOT / "scenarios" / "commanders_first.yaml"


# ---------------------------------------------------------------- paired_mean_difference


def test_paired_mean_difference_matches_a_hand_computation():
    a = [10, 12, 9, 15, 11]
    b = [12, 15, 9, 18, 14]  # differences 2, 3, 0, 3, 3: mean 2.2, variance 6.8 / 4 = 1.7
    d = paired_mean_difference(a, b)
    assert (d["n"], d["dropped"]) == (5, 0)
    assert d["mean_a"] == pytest.approx(11.4) and d["mean_b"] == pytest.approx(13.6)
    assert d["difference"] == pytest.approx(2.2)
    assert d["sd"] == pytest.approx(math.sqrt(1.7))
    half = 2.7764451 * math.sqrt(1.7) / math.sqrt(5)  # t(0.975, 4 degrees of freedom) from the tables
    assert (d["low"], d["high"]) == pytest.approx((2.2 - half, 2.2 + half), abs=1e-6)
    t = 2.2 / (math.sqrt(1.7) / math.sqrt(5))
    assert t == pytest.approx(3.7730, abs=1e-4)
    assert d["p_value"] == pytest.approx(2 * stats.t.sf(t, 4))
    assert 0.01 < d["p_value"] < 0.05 and d["significant"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_mean_difference_agrees_with_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.poisson(40, 60).astype(float)
    b = a + rng.normal(1.5, 4, 60).round()
    d = paired_mean_difference(a, b)
    ref = stats.ttest_rel(b, a)
    ci = ref.confidence_interval(0.95)
    assert d["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert (d["low"], d["high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert d["difference"] == pytest.approx(np.mean(b - a))
    assert d["significant"] == (ref.pvalue < 0.05)


def test_pairs_with_a_missing_value_are_dropped_and_counted():
    a = np.array([5.0, np.nan, 7.0, 9.0, 4.0, np.nan])
    b = np.array([6.0, 3.0, np.nan, 12.0, 4.5, np.nan])
    d = paired_mean_difference(a, b)
    assert (d["n"], d["dropped"]) == (3, 3)
    assert d["mean_a"] == pytest.approx(6.0) and d["mean_b"] == pytest.approx(22.5 / 3)
    assert d["difference"] == pytest.approx((1 + 3 + 0.5) / 3)
    ref = stats.ttest_rel(b, a, nan_policy="omit")
    assert d["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_zero_variance_differences_give_a_clear_answer_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = paired_mean_difference([3, 8, 1, 4], [3, 8, 1, 4])
        shifted = paired_mean_difference([3, 8, 1, 4], [5, 10, 3, 6])
        down = paired_mean_difference([3.0, 8.0, np.nan], [1.0, 6.0, 2.0])
    assert same["difference"] == 0 and same["low"] == same["high"] == 0 and same["sd"] == 0
    assert same["p_value"] == 1.0 and not same["significant"]
    assert shifted["difference"] == 2 and shifted["low"] == shifted["high"] == 2
    assert shifted["p_value"] == 0.0 and shifted["significant"]
    assert down["n"] == 2 and down["low"] == down["high"] == down["difference"] == -2


def test_too_few_pairs_give_no_interval_and_no_test():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = paired_mean_difference([1.0, np.nan], [4.0, 2.0])
        none = paired_mean_difference([np.nan, 1.0], [2.0, np.nan])
    assert one["n"] == 1 and one["difference"] == 3
    assert math.isnan(one["low"]) and math.isnan(one["high"]) and math.isnan(one["p_value"])
    assert not one["significant"]
    assert none["n"] == 0 and none["dropped"] == 2
    assert all(math.isnan(none[k]) for k in ("mean_a", "mean_b", "difference", "low", "high", "p_value"))
    assert not none["significant"]


def test_paired_mean_difference_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        paired_mean_difference([1, 2], [1])
    with pytest.raises(ValueError, match="one-dimensional"):
        paired_mean_difference([[1, 2]], [[1, 2]])
    with pytest.raises(ValueError, match="alpha"):
        paired_mean_difference([1, 2], [1, 2], alpha=1.5)


# ---------------------------------------------------------------- the table, on hand-made runs


def hand_runs() -> pd.DataFrame:
    """Three scenarios of four replicates each (seeds 100..103), rows shuffled: pairing goes by `run`."""
    rows = []
    end = {"a": [100, 120, 90, 110], "b": [80, 100, 95, 85], "c": [100, 120, 90, 110]}
    first = {"a": [10, np.nan, 12, 14], "b": [15, 20, np.nan, 16], "c": [10, 20, 12, 14]}
    for name in ("a", "b", "c"):
        for k in range(4):
            rows.append({"scenario": name, "run": k, "seed": 100 + k, "outcome": "completed",
                         "end_day": end[name][k], "first_release_day": first[name][k]})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)


def test_metric_differences_pair_runs_by_replicate():
    table = report.metric_differences_of(hand_runs(), ["a", "b", "c"])
    assert list(table.columns) == report.METRIC_DIFFERENCE_COLUMNS
    assert list(zip(table["scenario"], table["metric"])) == [
        ("b", "end_day"), ("b", "first_release_day"), ("c", "end_day"), ("c", "first_release_day")]
    assert (table["baseline"] == "a").all() and (table["runs"] == 4).all()
    rows = table.set_index(["scenario", "metric"])
    b_end = rows.loc[("b", "end_day")]  # differences -20, -20, +5, -25
    assert (b_end["pairs"], b_end["baseline_mean"], b_end["mean"]) == (4, 105.0, 90.0)
    assert b_end["difference"] == pytest.approx(-15.0)
    ref = stats.ttest_rel([80, 100, 95, 85], [100, 120, 90, 110])
    ci = ref.confidence_interval()
    assert (b_end["low"], b_end["high"], b_end["p_value"]) == pytest.approx((ci.low, ci.high, ref.pvalue))
    b_first = rows.loc[("b", "first_release_day")]  # replicates 0 and 3 only: +5 and +2
    assert b_first["pairs"] == 2
    assert (b_first["baseline_mean"], b_first["mean"], b_first["difference"]) == pytest.approx((12.0, 15.5, 3.5))
    c_end = rows.loc[("c", "end_day")]  # the same values: no difference, clearly
    assert (c_end["difference"], c_end["low"], c_end["high"], c_end["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    assert not c_end["significant"]
    assert rows.loc[("c", "first_release_day"), "pairs"] == 3


def test_metric_differences_take_another_baseline_and_check_their_input():
    runs = hand_runs()
    table = report.metric_differences_of(runs, ["a", "b", "c"], baseline="b", metrics=["end_day"])
    assert list(table["scenario"]) == ["a", "c"] and (table["baseline"] == "b").all()
    assert table.set_index("scenario").loc["a", "difference"] == pytest.approx(15.0)
    with pytest.raises(ValueError, match="no such run metric"):
        report.metric_differences_of(runs, metrics=["end_day", "bogus"])
    with pytest.raises(ValueError, match="baseline"):
        report.metric_differences_of(runs, baseline="z")
    other_seeds = runs.assign(seed=np.where(runs["scenario"] == "c", runs["seed"] + 1, runs["seed"]))
    with pytest.raises(ValueError, match="same seeds"):
        report.metric_differences_of(other_seeds, ["a", "b", "c"])


# ---------------------------------------------------------------- real comparisons: table, files, figure


@pytest.fixture(scope="module")
def three() -> compare.Comparison:
    return compare.compare([load(DECREE), load(COMMANDERS), load(UNCONDITIONAL)], runs=40, seed=7)


@pytest.fixture(scope="module")
def single() -> compare.Comparison:
    return compare.compare([load(DECREE)], runs=10, seed=7)


def test_metric_differences_of_a_real_comparison(three):
    table = report.metric_differences(three)
    metrics = report.numeric_metrics(three.runs)
    assert {"end_day", "government_released", "taliban_released", "walkouts", "longest_stall_days",
            "first_release_day"} <= set(metrics)
    assert "outcome" not in metrics and "seed" not in metrics
    assert len(table) == 2 * len(metrics)
    assert (table["baseline"] == "decree_2020").all() and (table["runs"] == 40).all()
    for row in table.itertuples():  # each row from its own pairs, as the function computes it alone
        base = three.runs[three.runs["scenario"] == "decree_2020"][row.metric].to_numpy(dtype=float)
        other = three.runs[three.runs["scenario"] == row.scenario][row.metric].to_numpy(dtype=float)
        keep = ~(np.isnan(base) | np.isnan(other))
        assert row.pairs == keep.sum()
        assert row.difference == pytest.approx(np.mean(other[keep] - base[keep]))
        assert row.mean - row.baseline_mean == pytest.approx(row.difference)
        assert row.low <= row.difference <= row.high
    assert report.metric_differences(compare.compare([load(DECREE)], runs=3, seed=1)).empty


def test_format_table_has_a_readable_metric_section(three):
    text = report.format_table(three)
    assert "Wilson 95% interval" in text and "Newcombe" in text  # the sections before stay
    section = text[text.index("Run metrics against decree_2020"):]
    assert "paired t 95% interval" in section
    assert max(len(line) for line in section.splitlines()) <= 100
    table = report.metric_differences(three, metrics=report.KEY_METRICS).set_index(["metric", "scenario"])
    lines = section.splitlines()
    for metric in report.KEY_METRICS:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  {metric}: "))
        for offset, name in enumerate(("commanders_first", "doha_unconditional"), start=1):
            row = table.loc[(metric, name)]
            cells = lines[at + offset].split()
            assert cells[0] == name
            assert cells[1:4] == [f"{row.baseline_mean:,.1f}", f"{row['mean']:,.1f}", f"{row.difference:+,.1f}"]
            assert cells[4:7] == [f"{row.low:+,.1f}", "to", f"{row.high:+,.1f}"]
            assert cells[-1] == f"{row.pairs:,}"


def test_format_table_of_one_scenario_has_no_difference_sections(single):
    text = report.format_table(single)
    assert "Outcome rates (Wilson 95% interval)" in text
    assert "Differences against" not in text and "Run metrics against" not in text


def test_save_writes_metric_differences(three, tmp_path):
    out = report.save(three, tmp_path / "cmp")
    table = pd.read_csv(out / "metric_differences.csv")
    assert list(table.columns) == report.METRIC_DIFFERENCE_COLUMNS
    expected = report.metric_differences(three)
    assert list(table["metric"]) == list(expected["metric"])
    np.testing.assert_allclose(table["difference"], expected["difference"])
    info = json.loads((out / "comparison.json").read_text())
    assert "metric_differences.csv" in info["files"] and "figures/comparison.png" in info["files"]
    assert "paired t" in info["methods"]["metric_differences"]


def test_save_of_one_scenario_writes_every_file(single, tmp_path):
    out = report.save(single, tmp_path / "one")
    assert list(pd.read_csv(out / "metric_differences.csv").columns) == report.METRIC_DIFFERENCE_COLUMNS
    assert pd.read_csv(out / "metric_differences.csv").empty
    assert mpimg.imread(out / "figures" / "comparison.png").shape[2] in (3, 4)


def test_comparison_figure_has_bars_and_a_forest_of_differences(three, tmp_path):
    rates, diffs = report.rates(three), report.differences(three)
    fig = report.figure(three)
    assert isinstance(fig, Figure)
    bar_ax, diff_ax = fig.axes
    assert fig.get_suptitle() == report.default_title(three)
    assert "(%)" in bar_ax.get_ylabel() and bar_ax.get_xlabel()
    legend = [t.get_text() for t in bar_ax.get_legend().get_texts()]
    assert "Wilson 95% interval" in legend and any("commanders_first" in label for label in legend)
    assert diff_ax.get_xlabel() == "Difference from decree_2020 (percentage points)"
    assert "Newcombe 95% interval" in diff_ax.get_title(loc="left")
    labels = [t.get_text() for t in diff_ax.get_yticklabels()]
    assert labels == [f"{o.capitalize()}: {n}" for o in OUTCOMES for n in ("commanders_first", "doha_unconditional")]
    # one point with its interval per row, at the difference in points, the first row on top
    points = diff_ax.containers
    assert len(points) == len(diffs)
    xs = sorted(round(float(c.lines[0].get_xdata()[0]), 6) for c in points)
    assert xs == sorted(round(100 * d, 6) for d in diffs["difference"])
    bottom, top = diff_ax.get_ylim()
    assert top < bottom
    assert any(list(line.get_xdata()) == [0, 0] for line in diff_ax.get_lines())  # the zero line
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Difference and 95% interval" in key and "No difference (0)" in key
    notes = [t.get_text() for t in diff_ax.texts if t.get_gid() == "diff_label"]
    assert len(notes) == len(diffs) and all("(" in n and "p" in n for n in notes)
    path = plots.save(fig, tmp_path / "comparison.png")
    image = mpimg.imread(path)
    assert image.shape[0] > 1000 and image.shape[1] > 1000


def test_comparison_figure_of_one_scenario_has_the_bars_alone(single):
    fig = report.figure(single)
    (ax,) = fig.axes
    assert ax.get_title() == report.default_title(single)
    assert len(ax.patches) == len(OUTCOMES)


def test_bar_labels_have_one_decimal():
    rates = pd.DataFrame({
        "scenario": ["a"] * 4 + ["b"] * 4, "outcome": list(OUTCOMES) * 2,
        "count": [835, 7, 51, 107, 1000, 0, 0, 0], "runs": [1000] * 8,
    })
    rates["rate"] = rates["count"] / rates["runs"]
    rates["low"], rates["high"] = (rates["rate"] - 0.001).clip(lower=0), (rates["rate"] + 0.001).clip(upper=1)
    fig = plots.comparison_figure(rates, "labels")
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "bar_label"]
    assert labels == ["83.5%", "0.7%", "5.1%", "10.7%", "100.0%", "0.0%", "0.0%", "0.0%"]

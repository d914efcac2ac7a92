"""Scenarios compared on the same seeds: paired statistics, real runs, precision mode, files and figure."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sim.experiments import comparisons as compare
from sim.experiments import runs as runner
from sim.experiments.seeds import replicate_seeds
from sim.reports import comparison as report
from sim.reports import figures as plots
from sim.reports.analysis import paired_difference
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import Scenario, load

ROOT = Path(__file__).resolve().parents[1]
DECREE = ROOT / "scenarios" / "decree_2020.yaml"
UNCONDITIONAL = ROOT / "scenarios" / "doha_unconditional.yaml"


def pairs(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([True] * both + [True] * a_only + [False] * b_only + [False] * neither)
    b = np.array([True] * both + [False] * a_only + [True] * b_only + [False] * neither)
    return a, b


# ---------------------------------------------------------------- paired_difference


def test_paired_difference_counts_discordant_pairs():
    a, b = pairs(both=5, a_only=3, b_only=7, neither=10)
    d = paired_difference(a, b)
    assert (d["both"], d["discordant_a_only"], d["discordant_b_only"], d["neither"], d["n"]) == (5, 3, 7, 10, 25)
    assert d["rate_a"] == pytest.approx(8 / 25) and d["rate_b"] == pytest.approx(12 / 25)
    assert d["difference"] == pytest.approx(4 / 25)
    assert d["low"] <= d["difference"] <= d["high"]


def test_identical_outcomes_show_no_difference():
    a = np.array([True, False] * 30 + [True] * 15)
    d = paired_difference(a, a.copy())
    assert d["difference"] == 0
    assert d["p_value"] == 1.0 and not d["significant"]
    assert d["discordant_a_only"] == d["discordant_b_only"] == 0
    assert d["low"] < 0 < d["high"]


def test_strongly_different_outcomes_are_significant():
    a, b = pairs(both=10, a_only=1, b_only=40, neither=49)
    d = paired_difference(a, b)
    assert d["p_value"] < 0.001 and d["significant"]
    assert 0 < d["low"] < d["difference"] < d["high"] <= 1


def test_mcnemar_exact_p_value():
    # all 10 discordant pairs one way: two-sided binomial p = 2 * 0.5**10
    a, b = pairs(both=4, a_only=0, b_only=10, neither=6)
    assert paired_difference(a, b)["p_value"] == pytest.approx(2 * 0.5**10)
    # swapping the scenarios mirrors the difference and its interval and keeps p
    d, r = paired_difference(*pairs(20, 6, 16, 30)), paired_difference(*pairs(20, 16, 6, 30))
    assert r["difference"] == pytest.approx(-d["difference"])
    assert (r["low"], r["high"]) == pytest.approx((-d["high"], -d["low"]))
    assert r["p_value"] == pytest.approx(d["p_value"])


def test_newcombe_interval_matches_published_example():
    # Cavo et al. 2012, complete response before (rows) and after (columns) consolidation
    # therapy: 59, 6 / 16, 80. Fagerland, Lydersen & Laake, Statistical Analysis of
    # Contingency Tables (2017), ch. 8: Newcombe square-and-add, p1+ − p+1 = −0.0621
    # (95% CI −0.1186 to −0.0046). Here the difference is columns − rows: mirrored.
    d = paired_difference(*pairs(both=59, a_only=6, b_only=16, neither=80))
    assert d["difference"] == pytest.approx(0.0621, abs=5e-5)
    assert d["low"] == pytest.approx(0.0046, abs=5e-5)
    assert d["high"] == pytest.approx(0.1186, abs=5e-5)
    assert d["p_value"] == pytest.approx(0.0525, abs=5e-5)  # exact conditional McNemar: binomial(6 of 22)


@pytest.mark.parametrize("counts", [(0, 0, 0, 30), (30, 0, 0, 0), (0, 30, 0, 0), (0, 0, 30, 0), (0, 1, 0, 0),
                                    (12, 3, 9, 1), (1, 0, 2, 0)])
def test_interval_is_inside_minus_one_to_one_and_holds_the_estimate(counts):
    d = paired_difference(*pairs(*counts))
    assert -1 <= d["low"] <= d["difference"] <= d["high"] <= 1
    assert 0 <= d["p_value"] <= 1


def test_interval_narrows_as_pairs_grow():
    widths = []
    for k in (1, 4, 16):
        d = paired_difference(*pairs(both=10 * k, a_only=3 * k, b_only=8 * k, neither=19 * k))
        assert d["difference"] == pytest.approx(5 / 40)
        widths.append(d["high"] - d["low"])
    assert widths[0] > widths[1] > widths[2]


def test_paired_difference_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        paired_difference([True, False], [True])
    with pytest.raises(ValueError, match="empty"):
        paired_difference([], [])
    with pytest.raises(ValueError, match="booleans"):
        paired_difference([0, 2], [1, 0])


# ---------------------------------------------------------------- real comparisons


@pytest.fixture(scope="module")
def different() -> compare.Comparison:
    return compare.compare([load(DECREE), load(UNCONDITIONAL)], runs=150, seed=11)


def test_a_scenario_compared_with_itself_shows_no_difference():
    cmp = compare.compare([Scenario(), Scenario()], runs=40, seed=3)
    assert cmp.names == ["scenario", "scenario#2"]
    diffs = report.differences(cmp)
    assert len(diffs) == len(OUTCOMES)
    assert (diffs["difference"] == 0).all()
    assert (diffs["discordant_a_only"] == 0).all() and (diffs["discordant_b_only"] == 0).all()
    assert (diffs["p_value"] == 1.0).all() and not diffs["significant"].any()
    assert ((diffs["low"] <= 0) & (diffs["high"] >= 0)).all()
    first, second = (cmp.runs[cmp.runs["scenario"] == n].drop(columns="scenario").reset_index(drop=True)
                     for n in cmp.names)
    pd.testing.assert_frame_equal(first, second)


def test_two_clearly_different_scenarios_differ(different):
    diffs = report.differences(different).set_index("outcome")
    completed = diffs.loc["completed"]
    assert completed["scenario"] == "doha_unconditional" and completed["baseline"] == "decree_2020"
    assert completed["difference"] > 0.2
    assert completed["p_value"] < 0.001 and completed["significant"]
    assert completed["low"] > 0
    assert completed["discordant_b_only"] > completed["discordant_a_only"]
    assert set(diffs.columns) >= {"scenario", "baseline", "difference", "low", "high", "discordant_a_only",
                                  "discordant_b_only", "p_value", "significant"}


def test_every_scenario_runs_on_the_same_seeds(different):
    runs = different.runs
    decree = runs[runs["scenario"] == "decree_2020"]
    unconditional = runs[runs["scenario"] == "doha_unconditional"]
    assert list(decree["run"]) == list(unconditional["run"]) == list(range(150))
    assert list(decree["seed"]) == list(unconditional["seed"]) == different.seeds
    assert different.seeds == replicate_seeds(11, 150).tolist()
    assert set(runs["outcome"]) <= set(OUTCOMES)


def test_runs_are_those_the_runner_gives(different):
    alone = runner.run(load(UNCONDITIONAL), runs=30, seed=11, series=False).runs
    mine = different.runs[different.runs["scenario"] == "doha_unconditional"].drop(columns="scenario").head(30)
    assert list(mine.columns) == list(alone.columns)
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), alone)


def test_rates_keep_the_given_order_and_sum_to_one(different):
    rates = report.rates(different)
    assert list(rates.columns) == ["scenario", "outcome", "count", "runs", "rate", "low", "high"]
    assert list(rates["scenario"]) == ["decree_2020"] * 4 + ["doha_unconditional"] * 4
    assert list(rates["outcome"]) == list(OUTCOMES) * 2
    assert rates.groupby("scenario", sort=False)["rate"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert ((rates["low"] <= rates["rate"]) & (rates["rate"] <= rates["high"])).all()
    reverse = compare.compare([load(UNCONDITIONAL), load(DECREE)], runs=10, seed=11)
    assert list(report.rates(reverse)["scenario"].unique()) == ["doha_unconditional", "decree_2020"]


def test_workers_do_not_change_results():
    scenarios = [load(DECREE), load(UNCONDITIONAL)]
    one = compare.compare(scenarios, runs=16, seed=5, workers=1)
    two = compare.compare(scenarios, runs=16, seed=5, workers=2)
    pd.testing.assert_frame_equal(one.runs, two.runs)


# ---------------------------------------------------------------- precision mode


def test_precision_mode_adds_runs_until_intervals_are_narrow():
    cmp = report.to_precision([load(DECREE)], 0.08, runs=20, seed=2)
    assert cmp.precision_reached is True
    assert cmp.runs_per_scenario > 20
    assert cmp.rounds[0] == 20 and cmp.rounds == sorted(cmp.rounds)
    assert (report.half_widths(cmp) < 0.08).all()
    # the first replicates are kept as they were: adding runs does not change them
    start = compare.compare([load(DECREE)], runs=20, seed=2)
    pd.testing.assert_frame_equal(cmp.runs.head(20), start.runs)
    assert list(cmp.runs["run"]) == list(range(cmp.runs_per_scenario))
    assert list(cmp.runs["seed"]) == replicate_seeds(2, cmp.runs_per_scenario).tolist()


def test_precision_mode_stops_at_the_ceiling():
    cmp = report.to_precision([load(DECREE), load(UNCONDITIONAL)], 0.01, runs=10, seed=2, max_runs=30)
    assert cmp.precision_reached is False
    assert cmp.runs_per_scenario == 30 and cmp.rounds == [10, 20, 30]
    assert (cmp.runs.groupby("scenario").size() == 30).all()
    assert "NOT reached" in report.format_table(cmp)


def test_precision_and_runs_are_checked():
    with pytest.raises(ValueError, match="precision"):
        report.to_precision([Scenario()], 0, runs=5)
    with pytest.raises(ValueError, match="max_runs"):
        report.to_precision([Scenario()], 0.1, runs=50, max_runs=20)
    with pytest.raises(ValueError, match="at least one scenario"):
        compare.compare([], runs=5)


# ---------------------------------------------------------------- table, files, figure


def test_format_table_shows_rates_differences_and_markers(different):
    text = report.format_table(different)
    assert "150 runs each, root seed 11" in text
    assert "Wilson 95% interval" in text and "McNemar" in text and "Newcombe" in text
    assert "decree_2020" in text and "doha_unconditional" in text
    completed = next(line for line in text.splitlines() if "doha_unconditional" in line and "completed" in line
                     and "<0.001" in line)
    assert completed.rstrip().endswith("*")


def test_save_writes_every_file(different, tmp_path):
    out = report.save(different, tmp_path / "cmp", command=["swapsim", "compare", "a.yaml", "b.yaml"])
    for name in ("rates.csv", "differences.csv", "runs.parquet", "comparison.json", "figures/comparison.png"):
        assert (out / name).is_file(), name
    info = json.loads((out / "comparison.json").read_text())
    assert info["root_seed"] == 11 and info["runs_per_scenario"] == 150 and info["seed_count"] == 150
    assert info["scenarios"] == ["decree_2020", "doha_unconditional"]
    assert info["resolved_scenarios"]["doha_unconditional"]["protocol"]["conditions"]["enabled"] is False
    assert info["precision"]["target_half_width"] is None and info["precision"]["reached"] is None
    assert info["command"] == "swapsim compare a.yaml b.yaml" and "numpy" in info["versions"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), different.runs)
    assert len(pd.read_csv(out / "differences.csv")) == len(OUTCOMES)
    with pytest.raises(FileExistsError):
        report.save(different, out)
    report.save(different, out, force=True)
    assert not list(tmp_path.glob(".*partial"))


def test_comparison_figure_is_readable(different):
    rates = report.rates(different)
    fig = plots.comparison_figure(rates, "Decree against unconditional release")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "Decree against unconditional release"
    assert ax.get_xlabel() and "(%)" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for name in ("decree_2020", "doha_unconditional"):
        assert any(name in label for label in legend)
    assert len(ax.patches) == 2 * len(OUTCOMES)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted(round(100 * r, 6) for r in rates["rate"])
    assert [t.get_text() for t in ax.get_xticklabels()] == [o.capitalize() for o in OUTCOMES]

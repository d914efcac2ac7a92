"""Scoring a forecast against the record: the CRPS and interval score of each point against hand-computed values,
lower bounds, the summary per side and in words, and properties of the CRPS that hold for any ensemble."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.reports import scoring

GOV = "government_released_taliban"
TAL = "taliban_released_government"
DAY = dt.date(2020, 4, 8)


def points(values, *, lower=None, side=GOV, confidence="high") -> pd.DataFrame:
    """Record points with the given values, all on one side and grade unless told otherwise."""
    n = len(values)
    return pd.DataFrame({
        "date": [DAY + dt.timedelta(days=i) for i in range(n)],
        "side": side if isinstance(side, list) else [side] * n,
        "value": [float(v) for v in values],
        "confidence": confidence if isinstance(confidence, list) else [confidence] * n,
        "lower": lower if lower is not None else [False] * n,
    })


def same_for_each(members, n: int) -> np.ndarray:
    """An ensemble runs x n whose every column holds `members`."""
    return np.tile(np.asarray(members, dtype=float)[:, None], (1, n))


HUNDRED = np.arange(101.0)  # linear quantiles: q05 = 5, q50 = 50, q95 = 95 exactly


# ---------------------------------------------------------------- the scores of each point


def test_crps_of_a_three_member_ensemble_is_the_hand_computed_one():
    # E|X - y| - E|X - X'| / 2 over members 0, 1, 2: E|X - X'| = (0+1+2+1+0+1+2+1+0)/9 = 8/9.
    scored = scoring.score_points(same_for_each([0, 1, 2], 3), points([1, 5, -1]))
    assert scored["crps"].tolist() == pytest.approx([2 / 3 - 4 / 9, 4 - 4 / 9, 2 - 4 / 9])
    # The band of [0, 1, 2] is [0.1, 1.9] (linear quantiles), 1.8 wide: 1 is inside, 5 is 3.1 above, -1 1.1 below.
    assert scored["q05"].tolist() == pytest.approx([0.1] * 3)
    assert scored["q50"].tolist() == pytest.approx([1.0] * 3)
    assert scored["q95"].tolist() == pytest.approx([1.9] * 3)
    assert scored["interval_score"].tolist() == pytest.approx([1.8, 1.8 + 20 * 3.1, 1.8 + 20 * 1.1])
    assert scored["covered"].tolist() == [True, False, False]


def test_a_one_member_ensemble_scores_the_absolute_error():
    scored = scoring.score_points(np.array([[7.0, 7.0, 7.0]]), points([3, 7, 10.5]))
    assert scored["crps"].tolist() == pytest.approx([4.0, 0.0, 3.5])
    # A band of no width: the interval score is all penalty, 2 / 0.1 times the miss.
    assert scored["interval_score"].tolist() == pytest.approx([80.0, 0.0, 70.0])
    assert scored["covered"].tolist() == [False, True, False]


def test_interval_score_is_the_width_inside_and_adds_the_penalty_outside():
    values = [50, 5, 95, 0, 100, 4, 120]
    scored = scoring.score_points(same_for_each(HUNDRED, len(values)), points(values))
    assert scored[["q05", "q50", "q95"]].drop_duplicates().values.tolist() == [[5.0, 50.0, 95.0]]
    # Width 90; below: + 20 (5 - y); above: + 20 (y - 95).
    assert scored["interval_score"].tolist() == pytest.approx([90, 90, 90, 90 + 100, 90 + 100, 90 + 20, 90 + 500])
    assert scored["covered"].tolist() == [True, True, True, False, False, False, False]


def test_another_level_moves_the_band_and_the_penalty():
    scored = scoring.score_points(same_for_each(HUNDRED, 2), points([50, 0]), level=0.5)
    assert scored[["q05", "q95"]].values.tolist() == [[25.0, 75.0], [25.0, 75.0]]
    # alpha = 0.5: width 50, and 2 / 0.5 = 4 times the miss of 25 below.
    assert scored["interval_score"].tolist() == pytest.approx([50.0, 150.0])
    assert scored["covered"].tolist() == [True, False]


def test_lower_bounds_are_not_scored_and_are_covered_when_the_band_reaches_them():
    values = [95, 96, 0, -10, 50]
    scored = scoring.score_points(same_for_each(HUNDRED, 5), points(values, lower=[True, True, True, True, False]))
    assert scored["crps"].isna().tolist() == [True, True, True, True, False]
    assert scored["interval_score"].isna().tolist() == [True, True, True, True, False]
    # "Over 95" is reached by a band up to 95, "over 96" is not; a bound below the band is reached, unlike a
    # point figure there.
    assert scored["covered"].tolist() == [True, False, True, True, True]
    assert scored["interval_score"].iloc[4] == pytest.approx(90.0)


def test_the_table_has_one_row_per_point_in_order_with_the_named_columns():
    record = points([10, 20], side=[GOV, TAL], confidence=["high", "low"]).assign(note="dropped", day=[38, 39])
    record.index = [7, 3]
    scored = scoring.score_points(np.array([[10.0, 25.0], [12.0, 15.0]]), record)
    assert scored.columns.tolist() == ["date", "side", "value", "confidence", "lower", "q05", "q50", "q95",
                                       "crps", "interval_score", "covered"]
    assert scored.index.tolist() == [0, 1]
    assert scored["date"].tolist() == [DAY, DAY + dt.timedelta(days=1)]
    assert scored["side"].tolist() == [GOV, TAL]
    assert scored["confidence"].tolist() == ["high", "low"]
    # Members 10 and 12 at 10: E|X - y| = 1, E|X - X'| = 1; members 25 and 15 at 20: 5 - 2.5.
    assert scored["crps"].tolist() == pytest.approx([0.5, 2.5])
    assert scored["q50"].tolist() == pytest.approx([11.0, 20.0])


@pytest.mark.parametrize("ensemble, fragments", [
    (np.zeros((10, 3)), ["3 column(s)", "2 record point(s)"]),
    (np.zeros((0, 2)), ["no runs"]),
    (np.zeros(2), ["2-D", "runs x points"]),
])
def test_an_ensemble_of_the_wrong_shape_is_refused(ensemble, fragments):
    with pytest.raises(ValueError) as err:
        scoring.score_points(ensemble, points([1, 2]))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_points_missing_a_column_or_a_level_out_of_range_are_refused():
    with pytest.raises(ValueError, match="missing column.*lower"):
        scoring.score_points(np.zeros((3, 1)), points([1]).drop(columns="lower"))
    with pytest.raises(ValueError, match="level"):
        scoring.score_points(np.zeros((3, 1)), points([1]), level=1.0)


# ---------------------------------------------------------------- the summary


def scored_by_hand() -> pd.DataFrame:
    """Three government points (two figures, one bound) and one Taliban bound, with their scores set by hand."""
    return pd.DataFrame({
        "date": [DAY] * 4,
        "side": [GOV, GOV, TAL, GOV],
        "value": [100.0, 200.0, 400.0, 300.0],
        "confidence": ["high", "low", "medium", "medium"],
        "lower": [False, False, True, True],
        "q05": [0.0] * 4, "q50": [0.0] * 4, "q95": [0.0] * 4,
        "crps": [10.0, 20.0, np.nan, np.nan],
        "interval_score": [100.0, 200.0, np.nan, np.nan],
        "covered": [True, False, False, True],
    })


def test_summary_counts_and_means_per_side_and_overall():
    summary = scoring.summarize(scored_by_hand())
    assert list(summary) == [GOV, TAL, "all"]
    assert summary[GOV] == {
        "points": 3, "lower_bounds": 1, "scored": 2, "mean_crps": 15.0, "mean_interval_score": 150.0,
        "covered": 2, "coverage": pytest.approx(2 / 3),
        "scored_high_medium": 1, "mean_crps_high_medium": 10.0, "mean_interval_score_high_medium": 100.0}
    # Only a lower bound: nothing scored, and None rather than NaN.
    assert summary[TAL] == {
        "points": 1, "lower_bounds": 1, "scored": 0, "mean_crps": None, "mean_interval_score": None,
        "covered": 0, "coverage": 0.0,
        "scored_high_medium": 0, "mean_crps_high_medium": None, "mean_interval_score_high_medium": None}
    assert summary["all"] == {
        "points": 4, "lower_bounds": 2, "scored": 2, "mean_crps": 15.0, "mean_interval_score": 150.0,
        "covered": 2, "coverage": 0.5,
        "scored_high_medium": 1, "mean_crps_high_medium": 10.0, "mean_interval_score_high_medium": 100.0}


def test_summary_is_plain_python_and_goes_to_json():
    summary = scoring.summarize(scoring.score_points(same_for_each(HUNDRED, 4), points(
        [50, 0, 97, 120], lower=[False, False, True, False], side=[GOV, TAL, TAL, GOV])))
    for entry in summary.values():
        for key, value in entry.items():
            assert type(value) in (int, float, type(None)), (key, type(value))
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["all"]["mean_crps"] == pytest.approx(np.mean(scoring.score_points(
        same_for_each(HUNDRED, 3), points([50, 0, 120]))["crps"]))


def test_a_point_figure_the_ensemble_cannot_score_is_counted_but_not_scored():
    table = scored_by_hand()
    table.loc[1, ["crps", "interval_score"]] = np.nan
    summary = scoring.summarize(table)
    assert (summary[GOV]["points"], summary[GOV]["scored"], summary[GOV]["mean_crps"]) == (3, 1, 10.0)


# ---------------------------------------------------------------- the paragraph


def test_the_paragraph_says_each_side_and_the_counts():
    text = scoring.summary_paragraph(scoring.summarize(scored_by_hand()))
    assert text == (
        "Scored on 4 record points (2 point figures, 2 lower bounds). "
        "Government releases: mean CRPS 15 prisoners and mean 90% interval score 150 prisoners over 2 figures; "
        "the 90% band covers 2 of 3 points. "
        "Taliban releases: no point figure to score; the 90% band covers 0 of 1 point. "
        "Overall: mean CRPS 15 prisoners and mean 90% interval score 150 prisoners over 2 figures "
        "(10 prisoners over 1 high- or medium-confidence figure); the 90% band covers 2 of 4 points.")


def test_the_paragraph_rounds_to_three_figures_and_keeps_unknown_sides_as_given():
    table = scored_by_hand().assign(side=["north", "north", "south", "north"],
                                    crps=[1234.5, 1234.5, np.nan, np.nan],
                                    interval_score=[23456.0, 23456.0, np.nan, np.nan])
    text = scoring.summary_paragraph(scoring.summarize(table), level=0.95, unit="people")
    assert "north: mean CRPS 1,230 people and mean 95% interval score 23,500 people over 2 figures" in text
    assert "south: no point figure to score; the 95% band covers 0 of 1 point." in text
    assert [scoring.format_score(x) for x in (2 / 9, 12.345, 99.96, 231.4, 0.0, None, float("nan"))] == [
        "0.222", "12.3", "100", "231", "0", "n/a", "n/a"]


# ---------------------------------------------------------------- properties of the CRPS

members = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40)
observation = st.floats(-1e6, 1e6, allow_nan=False)


@given(members, observation)
def test_crps_is_between_zero_and_the_mean_absolute_error(ensemble, y):
    crps = scoring.score_points(np.array(ensemble)[:, None], points([y]))["crps"].iloc[0]
    tolerance = 1e-9 * (max(abs(x) for x in ensemble) + abs(y) + 1)
    assert crps >= -tolerance
    assert crps <= np.mean(np.abs(np.array(ensemble) - y)) + tolerance


@given(observation, st.integers(1, 40))
def test_crps_of_an_ensemble_all_at_the_value_is_zero(y, size):
    scored = scoring.score_points(np.full((size, 1), y), points([y]))
    assert scored["crps"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert scored["interval_score"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert bool(scored["covered"].iloc[0])

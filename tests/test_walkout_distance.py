"""The Taliban team's walkouts scored beside the releases (`walkouts:` in a calibration spec): the count by the
window's end, its error, its weight in the distance, and the spec's validation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import yaml

from sim.experiments import calibration, calibration_spec
from sim.experiments import record as records
from sim.model.scenario import ScenarioError
from test_calibration import SPEC, tiny
from test_cli import assert_user_error, swapsim

START = dt.date(2020, 3, 1)
WALKED = [dt.date(2020, 4, 7)]


def test_walkouts_are_counted_by_the_end_of_the_window_alone():
    by_july = records.walkouts_by(WALKED, start=START, until=dt.date(2020, 7, 31), weight=1.0)
    assert (by_july.day, by_july.count, by_july.weight) == (152, 1, 1.0)
    # A fit to a window that ends before the walkout sees none; the day is the window's last.
    before = records.walkouts_by(WALKED, start=START, until=dt.date(2020, 4, 6), weight=0.5)
    assert (before.day, before.count) == (36, 0)
    # A walkout before the calendar's start is not the model's to make.
    assert records.walkouts_by([dt.date(2020, 2, 1), *WALKED], start=START, until=dt.date(2020, 7, 31),
                               weight=1.0).count == 1


def test_walkout_error_is_relative_to_the_count_on_record_for_a_scalar_and_an_array():
    assert records.walkout_error(simulated=1, observed=1) == 0.0
    assert records.walkout_error(simulated=3, observed=1) == 2.0
    assert records.walkout_error(simulated=0, observed=2) == -1.0
    # None on record: an error of one a walkout, not a division by zero.
    assert records.walkout_error(simulated=2, observed=0) == 2.0
    errors = records.walkout_error(simulated=np.array([0, 1, 2, 4]), observed=1)
    assert errors.tolist() == [-1.0, 0.0, 1.0, 3.0]


def _record(walkouts: records.Walkouts | None) -> records.Record:
    record = calibration_spec.load_record(calibration_spec.load_spec(SPEC))  # the release points, whatever its key
    record.walkouts = walkouts
    return record


def test_the_distance_adds_the_walkouts_with_their_weight():
    without = _record(None)
    with_them = _record(records.Walkouts(day=152, count=1, weight=1.0))
    exact = without.points["value"].to_numpy()[None, :].astype(float)
    runs = np.vstack([exact, exact, exact])
    # The same releases, walkouts on record and not: no change without walkouts, or with the record's count.
    assert records.distance(runs, without).tolist() == [0.0, 0.0, 0.0]
    d = records.distance(runs, with_them, np.array([1.0, 2.0, 4.0]))
    total = without.points["weight"].sum() + 1.0
    assert d[0] == 0.0
    assert d[1] == pytest.approx(np.sqrt(1.0 / total))
    assert d[2] == pytest.approx(np.sqrt(9.0 / total))
    # Releases off by 10% everywhere: the walkouts' term adds to theirs, and a right count costs only its weight.
    off = runs * 1.1
    assert records.distance(off, with_them, np.array([1.0, 1.0, 1.0]))[0] < records.distance(off, without)[0]
    assert records.distance(off, with_them, np.array([3.0, 3.0, 3.0]))[0] > records.distance(off, without)[0]
    with pytest.raises(ValueError, match="walkouts"):
        records.distance(runs, with_them)


def test_a_record_that_scores_walkouts_reads_the_window_end_and_the_runs_walkouts_there(tmp_path):
    path = tiny(tmp_path, walkouts={"dates": ["2020-04-07"], "source": "events.csv, 2020-04-07"})
    spec = calibration_spec.load_spec(path)
    record = calibration_spec.load_record(spec)
    end = (spec.until - START).days
    assert record.walkouts == records.Walkouts(day=end, count=1, weight=1.0)
    assert end in record.days and record.days[-1] == end
    base = calibration_spec.base_scenario(spec)
    snaps = calibration.simulate(base, {}, np.array([1, 2, 3]), record.days, end)
    walked = records.walkouts_at(snaps, record, 3)
    assert walked.shape == (3,) and (walked >= 0).all()
    # The count there is the runs' own walkouts: those at the end of the window are the most of any day.
    assert (walked == snaps.groupby("run")["walkouts"].max().to_numpy()).all()
    # An earlier window is scored at its own end; without the key nothing is scored.
    assert calibration_spec.load_record(spec, until=dt.date(2020, 4, 8)).walkouts == records.Walkouts(38, 1, 1.0)
    assert calibration_spec.load_record(calibration_spec.load_spec(tiny(tmp_path, "plain"))).walkouts is None
    assert records.walkouts_at(snaps, calibration_spec.load_record(calibration_spec.load_spec(
        tiny(tmp_path, "plain"))), 3) is None


@pytest.mark.parametrize("walkouts, fragments", [
    ({"dates": ["2020-04-07"], "confidence": "certain"}, ["walkouts.confidence", "'certain'", "no weight"]),
    ({"dates": ["2020-04-07", "2020-04-07"]}, ["walkouts.dates", "once"]),
    ({"dates": ["April"]}, ["walkouts.dates"]),
    ({"dates": ["2020-04-07"], "wieght": 2}, ["walkouts.wieght", "unknown key"]),
])
def test_bad_walkouts_get_one_line_naming_the_file_and_field(tmp_path, walkouts, fragments):
    path = tiny(tmp_path, walkouts=walkouts)
    with pytest.raises(ScenarioError) as err:
        calibration_spec.load_spec(path)
    text = str(err.value)
    assert len(err.value.problems) == 1, text
    for fragment in [str(path), *fragments]:
        assert fragment in text, text
    assert_user_error(swapsim("calibrate", path, "--out", tmp_path / "out"), str(path), *fragments)


def test_walkouts_change_the_spec_hash():
    data = yaml.safe_load(SPEC.read_text())
    data.pop("walkouts", None)
    folder = SPEC.parent
    plain = calibration_spec.spec_from_dict(data, str(SPEC), folder)
    scored = calibration_spec.spec_from_dict({**data, "walkouts": {"dates": ["2020-04-07"]}}, str(SPEC), folder)
    assert calibration_spec.spec_hash(plain) != calibration_spec.spec_hash(scored)

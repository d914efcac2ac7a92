"""Calibration on the 2020 record: the spec and the record, the distance, the ABC (reproducible, resumable,
the same for any workers), recovering known parameters from a record the model made, forecasts that carry
on the accepted histories, and --posterior in run, compare and sweep.

The ABC here runs on small budgets, so that the suite stays fast; the full check over 50 synthetic
records is benchmarks/sbc_calibration.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.experiments import calibration, calibration_spec
from sim.experiments import posterior as posteriors
from sim.experiments import record as records
from sim.experiments import pool
from sim.experiments.seeds import replicate_seeds
from sim.model.scenario import ScenarioError, load, with_overrides
from sim.model.streams import Streams
from sim.reports import calibration as report
from test_cli import ROOT, assert_user_error, swapsim

SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"
RECORD = ROOT / "sim" / "data" / "observed_2020" / "releases.csv"
FITTED = {
    "government.willing_trust": {"low": 0.2, "high": 1.0},
    "verification.arrears_share": {"low": 0.0, "high": 1.0},
    "verification.rate_with_team": {"low": 20, "high": 600, "scale": "log"},
}


def tiny(tmp_path: Path, name: str = "tiny", **changes) -> Path:
    """The shipped spec, cut down to three parameters and a small budget, fitted to 30 June so that July is there
    to forecast and score, written beside the test."""
    data = yaml.safe_load(SPEC.read_text())
    # The parameters the shipped spec fits and this one does not stay at the decree's defaults. The mediator's
    # chance is now a fixed value (1) and its lag the fitted one, so it is switched off here as it was when the
    # chance was fitted: at this budget, with the lag held at the shipped median (25 days), willing_trust's 90%
    # interval missed its truth in 3 of 6 synthetic records; benchmarks/sbc_calibration.py checks the whole spec,
    # mediator included, at the shipped budget.
    data["fixed"] = {**data["fixed"], "mediator.stall_break_rate": 0.0}
    data.update(base=str(ROOT / "scenarios" / "decree_2020.yaml"), until="2020-06-30", parameters=FITTED, particles=60,
                simulations=2400, min_acceptance=0.05, predictive_runs=200, seed=5)
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def finished(spec: calibration_spec.CalibrationSpec, out: Path, workers: int = 1, executor=None) -> pd.DataFrame:
    fit = calibration.Calibration(spec, out, workers, executor)
    for generation in fit.generations():
        fit.save(generation)
    fit.finish()
    return fit.posterior()


# ---------------------------------------------------------------- the spec and the record


@pytest.mark.parametrize("change, fragments", [
    ({"particle": 10}, ["particle", "unknown key"]),
    ({"parameters": {"government.willing_trust": {"low": 0.9, "high": 0.2}}}, ["government.willing_trust", "low"]),
    ({"parameters": {"government.no_such_thing": {"low": 0, "high": 1}}}, ["government.no_such_thing"]),
    ({"parameters": {"protocol.commander_policy": {"low": 0, "high": 1}}}, ["protocol.commander_policy", "numeric"]),
    ({"parameters": {"taliban.initial_trust": {"low": 0.1, "high": 1.5}}}, ["taliban.initial_trust"]),
    ({"until": "June"}, ["until"]),
    ({"observed": "nowhere.csv"}, ["observed", "nowhere.csv"]),
    ({"fixed": {"verification.list_size": -3}}, ["fixed.verification.list_size"]),
    ({"method": "mcmc"}, ["method"]),
    ({"particles": 1000, "simulations": 2000}, ["simulations", "first generation", "4,000"]),
])
def test_bad_specs_get_one_line_naming_the_file_and_field(tmp_path, change, fragments):
    path = tiny(tmp_path, **change)
    with pytest.raises(ScenarioError) as err:
        calibration_spec.load_spec(path)
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, text
    assert str(path) in text
    assert_user_error(swapsim("calibrate", path, "--out", tmp_path / "out"), str(path), *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_record_missing_a_column_or_with_an_unknown_side_is_refused(tmp_path):
    frame = pd.read_csv(RECORD)
    frame.drop(columns="confidence").to_csv(tmp_path / "no_confidence.csv", index=False)
    frame.assign(side="someone_else").to_csv(tmp_path / "bad_side.csv", index=False)
    for name, fragment in (("no_confidence.csv", "missing column(s) confidence"),
                           ("bad_side.csv", "unknown side 'someone_else'")):
        proc = swapsim("calibrate", tiny(tmp_path, observed=name), "--out", tmp_path / "out")
        assert_user_error(proc, "observed", fragment)


BAD_RECORD = """date,side,cumulative_released,confidence,note
10 April 2020,government_released_taliban,100,high,
2020-04-20,taliban_released_government,abc,medium,"a note
over two lines"

2020-04-21,taliban_releasd_government,-5,hi,
2020-04-22,taliban_released_government,5.5,medium,
2020-02-30,government_released_taliban,,low,
2020-04-23,government_released_taliban,300,high,
"""


def test_every_bad_row_of_the_record_is_one_line_naming_its_row_and_columns(tmp_path):
    (tmp_path / "bad.csv").write_text(BAD_RECORD)
    proc = swapsim("validate", tiny(tmp_path, observed="bad.csv"))
    assert_user_error(proc)
    where = f"{tmp_path / 'tiny.yaml'}: observed bad.csv: "
    assert proc.stderr.splitlines() == [f"swapsim: {where}{line}" for line in (
        # rows as a spreadsheet counts them: the header is row 1, a quoted cell over two lines is one row, an empty
        # line an (empty) row; every bad row at once, each naming every bad column of it, in order
        "row 2 (the header is row 1): column date: expected a date as YYYY-MM-DD, got '10 April 2020'",
        "row 3 (the header is row 1): column cumulative_released: expected a whole number of prisoners, 0 or more, "
        "got 'abc'",
        "row 5 (the header is row 1): column side: unknown side 'taliban_releasd_government' (did you mean "
        "'taliban_released_government'?); expected one of government_released_taliban, taliban_released_government; "
        "column cumulative_released: expected a whole number of prisoners, 0 or more, got '-5'; column confidence: "
        "unknown confidence grade 'hi'; expected one of high, medium, low",
        "row 6 (the header is row 1): column cumulative_released: expected a whole number of prisoners, 0 or more, "
        "got '5.5'",
        "row 7 (the header is row 1): column date: '2020-02-30' is no calendar date (day is out of range for month); "
        "column cumulative_released: empty; expected a whole number of prisoners, 0 or more",
    )]
    # calibrate refuses it the same way, before any run
    assert_user_error(swapsim("calibrate", tmp_path / "tiny.yaml", "--out", tmp_path / "out"), *proc.stderr.split(
        "swapsim: ")[1:2])
    assert not (tmp_path / "out").exists()


def test_a_record_with_many_bad_rows_prints_twenty_and_counts_the_rest(tmp_path):
    rows = "".join(f"2020-04-{day:02d},government_released_taliban,many,high\n" for day in range(1, 31))
    (tmp_path / "many.csv").write_text("date,side,cumulative_released,confidence\n" + rows)
    frame = records.read_frame(tmp_path / "many.csv", "many.csv")
    problems = records.frame_problems(frame, where="many.csv", weights={"high": 1.0})
    assert len(problems) == records.MAX_ROW_LINES + 1
    assert problems[0].startswith("many.csv: row 2 ") and problems[19].startswith("many.csv: row 21 ")
    assert problems[-1] == "many.csv: and 10 more bad rows"
    (tmp_path / "grade.csv").write_text("date,side,cumulative_released,confidence\n"
                                        "2020-04-01,government_released_taliban,3,medum\n")
    frame = records.read_frame(tmp_path / "grade.csv", "grade.csv")
    assert records.frame_problems(frame, where="grade.csv", weights={"high": 1.0, "medium": 0.5}) == [
        "grade.csv: row 2 (the header is row 1): column confidence: unknown confidence grade 'medum' (did you mean "
        "'medium'?); expected one of high, medium"]
    (tmp_path / "cols.csv").write_text("when,side,count\n2020-04-01,government_released_taliban,3\n")
    frame = records.read_frame(tmp_path / "cols.csv", "cols.csv")
    assert records.frame_problems(frame, where="cols.csv", weights={"high": 1.0}) == [
        "cols.csv: missing column(s) date, cumulative_released, confidence (needed: date, side, cumulative_released, "
        "confidence; optional: note, bound)"]


def test_the_record_stops_at_until_and_reads_lower_bounds_from_the_note():
    spec = calibration_spec.load_spec(SPEC)
    record = calibration_spec.load_record(spec)
    p = record.points
    assert p["date"].max() <= spec.until
    assert len(p) == 35 and p["date"].max().isoformat() == "2020-07-31"
    # "More than 400" on 6 June is a lower bound, and so are the "over" and "at least" figures of July.
    lower = p[p["lower"]]
    assert lower[["date", "side", "value"]].astype(str).values.tolist() == [
        ["2020-07-01", "government_released_taliban", "3895.0"],
        ["2020-07-11", "government_released_taliban", "4000.0"],
        ["2020-07-17", "government_released_taliban", "4000.0"],
        ["2020-07-20", "government_released_taliban", "4200.0"],
        ["2020-07-29", "government_released_taliban", "4400.0"],
        ["2020-06-06", "taliban_released_government", "400.0"],
        ["2020-07-29", "taliban_released_government", "800.0"]]
    # The days count from the calendar's start (1 March 2020): 8 April is day 38.
    assert p.loc[p["date"].astype(str) == "2020-04-08", "day"].tolist() == [38]
    # An earlier `until` holds out more.
    assert len(calibration_spec.load_record(spec, until=pd.Timestamp("2020-05-11").date()).points) == 15


def test_distance_weighs_points_by_confidence_and_treats_lower_bounds_as_one_sided():
    record = calibration_spec.load_record(calibration_spec.load_spec(SPEC))
    p = record.points
    exact = p["value"].to_numpy()[None, :].astype(float)
    assert records.distance(exact, record)[0] == 0.0
    bound = int(np.flatnonzero(p["lower"])[0])
    above, below = exact.copy(), exact.copy()
    above[0, bound] += 300
    below[0, bound] -= 300
    assert records.distance(above, record)[0] == 0.0  # more than "over 400" is no error
    assert records.distance(below, record)[0] > 0.0
    # The same relative miss costs more on a high-confidence point than on a low one (neither in a plateau).
    alone = (p.groupby("plateau")["plateau"].transform("size") == 1).to_numpy()
    high = int(np.flatnonzero((p["confidence"] == "high").to_numpy() & alone)[0])
    low = int(np.flatnonzero((p["confidence"] == "low").to_numpy() & ~p["lower"].to_numpy() & alone)[0])
    miss_high, miss_low = exact.copy(), exact.copy()
    miss_high[0, high] += 0.2 * p["scale"].iloc[high]
    miss_low[0, low] += 0.2 * p["scale"].iloc[low]
    assert records.distance(miss_high, record)[0] == pytest.approx(2 * records.distance(miss_low, record)[0])
    # Many runs at once: one distance each.
    assert records.distance(np.vstack([exact, below, above]), record).tolist() == [0.0, records.distance(below, record)[0], 0.0]


def test_a_count_reported_again_unchanged_counts_as_one_fact():
    """361 on 13 April (high) and 18 April (medium), 60 on 18 and 22 April, 3,000 on 2 and 9 June, 700 on 11 and 17
    July: each plateau's points share the weight of its best-graded point, in proportion to their grades."""
    p = calibration_spec.load_record(calibration_spec.load_spec(SPEC)).points
    plateaus = p[p.groupby("plateau")["plateau"].transform("size") > 1]
    found = {(row.side, row.value) for row in plateaus.itertuples()}
    assert found == {("government_released_taliban", 361.0), ("taliban_released_government", 60.0),
                     ("government_released_taliban", 3000.0), ("taliban_released_government", 700.0)}
    for _, points in plateaus.groupby("plateau"):
        assert points["weight"].sum() == pytest.approx(points["grade_weight"].max())
        assert (points["weight"] / points["grade_weight"]).nunique() == 1
    gov_361 = p[(p["value"] == 361.0)].set_index("confidence")["weight"]
    assert gov_361["high"] == pytest.approx(2 / 3) and gov_361["medium"] == pytest.approx(1 / 3)
    # A point on its own keeps its grade's weight.
    alone = p[p.groupby("plateau")["plateau"].transform("size") == 1]
    assert (alone["weight"] == alone["grade_weight"]).all()
    # A run that stays flat over the plateau gains one fact's worth, not two: missing both dates of the 3,000
    # plateau by 10% costs as much as missing one point graded medium alone... once, with half its weight each.
    record = calibration_spec.load_record(calibration_spec.load_spec(SPEC))
    exact = record.points["value"].to_numpy()[None, :].astype(float)
    both = exact.copy()
    both[0, (record.points["value"] == 3000.0).to_numpy()] *= 1.1
    one_alone = exact.copy()
    medium_alone = int(np.flatnonzero(((p["confidence"] == "medium") & ~p["lower"]).to_numpy()
                                      & (p.groupby("plateau")["plateau"].transform("size") == 1).to_numpy())[0])
    one_alone[0, medium_alone] *= 1.1
    assert records.distance(both, record)[0] == pytest.approx(records.distance(one_alone, record)[0])


# ---------------------------------------------------------------- the ABC


@pytest.mark.slow
def test_calibration_is_reproducible_and_the_same_for_any_workers(tmp_path):
    spec = calibration_spec.load_spec(tiny(tmp_path))
    one = finished(spec, tmp_path / "one")
    with pool.process_pool(2) as executor:
        two = finished(spec, tmp_path / "two", workers=2, executor=executor)
    again = finished(spec, tmp_path / "again")
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    pd.testing.assert_frame_equal(one, again, check_exact=True)
    assert one["generation"].iloc[0] >= 2  # it got past the prior
    assert len(one) == spec.particles and np.isclose(one["weight"].sum(), 1.0)
    for path, prior in spec.priors().items():
        assert one[path].between(prior.low, prior.high).all()


@pytest.mark.slow
def test_an_interrupted_calibration_resumes_to_the_same_posterior(tmp_path):
    spec = calibration_spec.load_spec(tiny(tmp_path))
    whole = finished(spec, tmp_path / "whole")
    cut = calibration.Calibration(spec, tmp_path / "cut")
    for generation in cut.generations():
        cut.save(generation)
        if generation.index == 1:
            break  # as if interrupted after generation 1 was written
    resumed = calibration.Calibration(spec, tmp_path / "cut")
    resumed.resume()
    assert [g.index for g in resumed.progress.generations] == [0, 1]
    for generation in resumed.generations():
        resumed.save(generation)
    resumed.finish()
    pd.testing.assert_frame_equal(whole, resumed.posterior(), check_exact=True)
    state = json.loads((tmp_path / "whole" / "calibration_state.json").read_text())
    assert resumed.state() == state


def test_resume_refuses_another_spec(tmp_path):
    spec = calibration_spec.load_spec(tiny(tmp_path))
    finished(spec, tmp_path / "fit")
    other = calibration_spec.load_spec(tiny(tmp_path, name="other", seed=6))
    with pytest.raises(calibration.ResumeError) as err:
        calibration.Calibration(other, tmp_path / "fit").resume()
    assert str(err.value) == (f"{tmp_path / 'fit'}: the calibration spec changed since this folder was started "
                              "(seed: 5 there, 6 now); use a new --out, or --force to start over")
    # the same spec over an edited base scenario: the spec is the same, so the base or the record changed
    base = tmp_path / "base.yaml"
    base.write_text(f"extends: {ROOT / 'scenarios' / 'decree_2020.yaml'}\n")
    path = tiny(tmp_path, name="own_base", base=str(base))
    calibration.open_folder(calibration.Calibration(calibration_spec.load_spec(path), tmp_path / "fit2"), False, False)
    base.write_text(f"extends: {ROOT / 'scenarios' / 'decree_2020.yaml'}\ngovernment: {{memory: 0.9}}\n")
    with pytest.raises(calibration.ResumeError) as err:
        calibration.Calibration(calibration_spec.load_spec(path), tmp_path / "fit2").resume()
    assert "its base scenario or its record changed since this folder was started (the spec is the same; its base " \
           "scenario or its record was edited)" in str(err.value)


@pytest.mark.slow
def test_calibration_recovers_the_parameters_of_a_record_the_model_made(tmp_path):
    """A fast version of benchmarks/sbc_calibration.py: known values in, a posterior around them out, and a
    parameter the record cannot inform (it only judges outcomes at the horizon) left at its prior."""
    truth = {"government.willing_trust": 0.35, "verification.arrears_share": 0.7,
             "verification.rate_with_team": 250.0}
    parameters = {**FITTED, "outcomes.deadlock_window_days": {"low": 30, "high": 120}}
    spec = calibration_spec.load_spec(tiny(tmp_path, parameters=parameters, particles=200, simulations=30_000,
                              min_acceptance=0.02))
    synthetic = calibration.synthetic_record(spec, truth, seed=3)
    synthetic.to_csv(tmp_path / "synthetic.csv", index=False)
    spec = calibration_spec.load_spec(tiny(tmp_path, parameters=parameters, particles=200, simulations=30_000,
                              min_acceptance=0.02, observed="synthetic.csv"))
    posterior = finished(spec, tmp_path / "fit")
    priors = spec.priors()
    for path, value in truth.items():
        q05, q95 = np.quantile(posterior[path], [0.05, 0.95])
        assert q05 <= value <= q95, (path, q05, value, q95)
    # The record narrows what drives releases...
    share = {path: float(np.diff(prior.to_unit(np.quantile(posterior[path], [0.05, 0.95])))[0])
             for path, prior in priors.items()}
    assert share["government.willing_trust"] < 0.6, share
    # ...and leaves the parameter it cannot see about as wide as its prior (90% of it).
    assert share["outcomes.deadlock_window_days"] > 0.75, share


# ---------------------------------------------------------------- drawing from the posterior, forecasts


def test_posterior_draws_depend_on_the_run_seed_alone_and_follow_the_weights():
    frame = pd.DataFrame({"government.willing_trust": [0.2, 0.5, 0.8], "weight": [0.0, 0.25, 0.75]})
    seeds = replicate_seeds(1, 4000)
    rows = posteriors.posterior_rows(frame, seeds)
    assert np.array_equal(rows, posteriors.posterior_rows(frame, seeds))
    assert np.array_equal(rows[100:200], posteriors.posterior_rows(frame, seeds[100:200]))  # whatever the company
    assert not (rows == 0).any()
    assert abs((rows == 2).mean() - 0.75) < 0.03


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """A calibration folder written by the command, as a user gets it."""
    tmp = tmp_path_factory.mktemp("calibration")
    out = tmp / "fit"
    proc = swapsim("calibrate", tiny(tmp), "--out", out, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    assert "in-sample coverage" in proc.stdout and "90% forecast band" in proc.stdout
    (tmp / "printed.txt").write_text(proc.stdout)
    return out


def test_calibrate_prints_each_sides_median_and_band_on_the_windows_last_day(fitted):
    predictive = pd.read_csv(fitted / "predictive.csv")
    until = json.loads((fitted / "calibration.json").read_text())["record"]["until"]
    printed = (fitted.parent / "printed.txt").read_text()
    assert f"on {until}, the fit window's last day" in printed
    rows = predictive[predictive["date"] == until]
    assert len(rows) == 2
    for row in rows.itertuples():
        assert (f"{row.side}: median {row.q50:,.0f}, 90% band {row.q05:,.0f}–{row.q95:,.0f} "
                f"({row.q95 - row.q05:,.0f} wide)") in printed


def test_calibrate_writes_the_posterior_its_fit_and_figures(fitted):
    posterior = pd.read_parquet(fitted / "posterior.parquet")
    assert list(posterior.columns[:3]) == list(FITTED)
    assert {"distance", "weight", "seed"} <= set(posterior.columns)
    info = json.loads((fitted / "calibration.json").read_text())
    for key in ("spec_hash", "method", "simulations", "acceptance", "root_seed", "seed_rule", "in_sample_coverage",
                "posterior", "sharpness", "versions", "git_commit", "command"):
        assert key in info, key
    assert info["simulations"] <= 2400 and info["method"]["name"] == "abc-smc"
    cov = info["in_sample_coverage"]
    assert {p["side"] for p in cov["points"]} == set(records.SIDES)
    assert all(p["q05"] <= p["q95"] for p in cov["points"])
    for name in ("predictive", "marginals", "pairs"):
        assert (fitted / "figures" / f"{name}.png").stat().st_size > 10_000
    predictive = pd.read_csv(fitted / "predictive.csv")
    q = predictive[["q05", "q25", "q50", "q75", "q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()


def test_calibrated_yaml_is_a_valid_scenario_with_the_posterior_medians(fitted):
    proc = swapsim("validate", fitted / "calibrated.yaml")
    assert proc.returncode == 0, proc.stderr
    scenario = load(fitted / "calibrated.yaml")
    posterior = pd.read_parquet(fitted / "posterior.parquet")
    assert scenario.verification.enabled and scenario.government.reciprocity_gate == 1.0
    assert scenario.government.willing_trust == pytest.approx(posterior["government.willing_trust"].median(), abs=1e-6)
    assert "NOT the posterior" in (fitted / "calibrated.yaml").read_text()


@pytest.mark.slow
def test_resume_of_a_finished_calibration_gives_it_back(fitted, tmp_path):
    copy = tmp_path / "fit"
    shutil.copytree(fitted, copy)
    before = pd.read_parquet(copy / "posterior.parquet")
    proc = swapsim("calibrate", tiny(tmp_path), "--out", copy, "--workers", 1, "--resume")
    assert proc.returncode == 0, proc.stderr
    pd.testing.assert_frame_equal(before, pd.read_parquet(copy / "posterior.parquet"))
    assert_user_error(swapsim("calibrate", tiny(tmp_path), "--out", copy, "--resume", "--force"), "contradict")


def test_forecast_continues_the_histories_the_calibration_accepted(fitted):
    posterior = posteriors.load_posterior(fitted)
    scenario = load(fitted / "calibrated.yaml")
    base = with_overrides(posterior.base, posterior.fixed)
    start = pd.Timestamp("2020-03-01")
    until = (pd.Timestamp("2020-06-30") - start).days
    replay = (pd.Timestamp(posterior.info["record"]["last_date"]) - start).days
    assert replay == 100  # 9 June, the last day the record reports before 30 June
    seeds = replicate_seeds(9, 40)
    ahead = posteriors.continue_runs(posterior.frame, base, seeds, until + 40, replay)
    rows = posteriors.posterior_rows(posterior.frame, seeds)
    own = calibration.simulate(base, {p: posterior.frame[p].to_numpy()[rows] for p in FITTED},
                               posterior.frame["seed"].to_numpy()[rows], list(range(until + 1)), until)
    window = ahead[ahead["day"] <= replay].drop(columns="cluster").reset_index(drop=True)
    pd.testing.assert_frame_equal(window, own[own["day"] <= replay].reset_index(drop=True))  # day for day
    # ...and that history is the one the calibration judged: its distance to the record is the stored one.
    spec = calibration_spec.load_spec(fitted.parent / "tiny.yaml")
    record = calibration_spec.load_record(spec)
    judged = records.distance(records.at_points(own, record, len(seeds)), record)
    np.testing.assert_allclose(judged, posterior.frame["distance"].to_numpy()[rows])
    assert (posterior.frame["distance"] <= posterior.info["tolerance"]).all()
    assert np.array_equal(ahead.groupby("run")["cluster"].first().to_numpy(), posteriors.clusters(posterior.frame)[rows])
    assert scenario.metadata.name.endswith("_calibrated")
    # After the replay, each run draws from its own seed: runs continuing one history may part.
    streams = Streams(seeds[:2], history_seeds=[11, 11], history_until=replay)
    assert np.array_equal(streams.draw(replay)["return"], Streams([11, 11]).draw(replay)["return"])
    assert np.array_equal(streams.draw(replay + 1)["return"], Streams(seeds[:2]).draw(replay + 1)["return"])


QUANTILE_COLUMNS = ["q05", "q25", "q50", "q75", "q95"]


@pytest.mark.slow
def test_forecast_writes_bands_completion_and_a_figure(fitted, tmp_path):
    out = tmp_path / "forecast"
    proc = swapsim("forecast", fitted, "--until", "2020-08-31", "--runs", 300, "--out", out, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    assert "Monte Carlo" in proc.stdout and "distinct histories" in proc.stdout
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == ["date", "day", "side", *QUANTILE_COLUMNS, "q05_low", "q05_high", "q50_low",
                                   "q50_high", "q95_low", "q95_high"]
    assert set(table["side"]) == set(records.SIDES)
    assert len(table) == 2 * 184 and table["date"].iloc[-1] == "2020-08-31"
    assert (np.diff(table[QUANTILE_COLUMNS].to_numpy(), axis=1) >= 0).all()
    for q in ("q05", "q50", "q95"):  # each quantile inside its Monte Carlo interval
        assert (table[f"{q}_low"] <= table[q]).all() and (table[q] <= table[f"{q}_high"]).all(), q
    for side, part in table.groupby("side"):
        assert (np.diff(part["q50"].to_numpy()) >= 0).all(), side  # cumulative
    completion = pd.read_csv(out / "completion.csv", keep_default_na=False)
    assert completion["side"].tolist() == ["government", "taliban", "exchange"]
    assert list(completion.columns) == ["side", "share_completed", "share_low", "share_high",
                                        *[f"{q}_date{end}" for q in ("q05", "q50", "q95") for end in ("", "_low", "_high")]]
    shares = completion.set_index("side")
    assert shares.loc["exchange", "share_completed"] <= shares[["share_completed"]].iloc[:2].min().item()
    assert ((shares["share_low"] <= shares["share_completed"]) & (shares["share_completed"] <= shares["share_high"])).all()
    curve = pd.read_csv(out / "completion_curve.csv")
    last = curve[curve["date"] == "2020-08-31"].set_index("side")
    np.testing.assert_allclose(last.loc[list(shares.index), "share"], shares["share_completed"])
    ensemble = pd.read_parquet(out / "ensemble.parquet")
    assert ensemble["run"].nunique() == 300 and ensemble["day"].max() == 183
    info = json.loads((out / "forecast.json").read_text())
    assert info["runs"] == 300 and "replays" in info["draws"] and info["replay_until"] == "2020-06-09"
    assert 1 <= info["distinct_histories"] <= 60
    for name in ("forecast", "completion"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    # The same command gives the same forecast, whatever the workers.
    again = tmp_path / "again"
    assert swapsim("forecast", fitted, "--until", "2020-08-31", "--runs", 300, "--out", again,
                   "--workers", 1).returncode == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(again / "forecast.csv"))
    pd.testing.assert_frame_equal(completion, pd.read_csv(again / "completion.csv", keep_default_na=False))


@pytest.mark.slow
def test_forecast_errors_are_one_line(fitted, tmp_path):
    assert_user_error(swapsim("forecast", fitted, "--until", "2031-01-01", "--out", tmp_path / "f"), "--until")
    assert_user_error(swapsim("forecast", fitted, "--until", "July", "--out", tmp_path / "f"), "YYYY-MM-DD")
    assert_user_error(swapsim("forecast", fitted, "--until", "2020-06-15", "--out", tmp_path / "f"),
                      "--until 2020-06-15", "inside the fit window")
    assert_user_error(swapsim("forecast", fitted, "--until", "2020-08-01", "--replay-until", "2020-07-15",
                              "--out", tmp_path / "f"), "--replay-until 2020-07-15", "fit window")
    assert_user_error(swapsim("forecast", tmp_path, "--until", "2020-08-01"), "not a calibration folder")
    assert not (tmp_path / "f").exists()


@pytest.mark.slow
def test_score_judges_a_forecast_on_the_record_after_its_window(fitted, tmp_path):
    forecast = tmp_path / "forecast"
    assert swapsim("forecast", fitted, "--until", "2020-07-31", "--runs", 200, "--out", forecast).returncode == 0
    proc = swapsim("score", forecast, "--out", tmp_path / "score")
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(tmp_path / "score" / "score.csv")
    # The July record: 8 government and 6 Taliban points after 30 June, 6 of them lower bounds.
    assert len(scored) == 14 and scored["date"].min() == "2020-07-01" and scored["date"].max() == "2020-07-31"
    assert scored["lower"].sum() == 6
    assert scored.loc[~scored["lower"], "crps"].notna().all() and scored.loc[scored["lower"], "crps"].isna().all()
    info = json.loads((tmp_path / "score" / "score.json").read_text())
    assert info["after"] == "2020-06-30" and info["summary"]["all"]["points"] == 14
    assert "mean CRPS" in info["paragraph"] and info["paragraph"] in proc.stdout
    # Against the forecast's own ensemble, by hand, for one point: 4,199 on 13 July.
    ensemble = pd.read_parquet(forecast / "ensemble.parquet")
    day = (pd.Timestamp("2020-07-13") - pd.Timestamp("2020-03-01")).days
    x = np.sort(ensemble.loc[ensemble["day"] == day, "government_released"].to_numpy(dtype=float))
    by_hand = np.abs(x - 4199).mean() - 0.5 * np.abs(x[:, None] - x[None, :]).mean()
    row = scored[(scored["date"] == "2020-07-13") & (scored["side"] == "government_released_taliban")]
    assert row["crps"].item() == pytest.approx(by_hand, rel=1e-9)
    # An earlier cut scores more points; a cut outside the forecast, or a folder that is not one, is one line.
    earlier = swapsim("score", forecast, "--after", "2020-05-31", "--out", tmp_path / "earlier")
    assert earlier.returncode == 0, earlier.stderr
    assert len(pd.read_csv(tmp_path / "earlier" / "score.csv")) > 14
    assert_user_error(swapsim("score", forecast, "--after", "2020-09-01"), "--after 2020-09-01", "outside the forecast")
    assert_user_error(swapsim("score", fitted), "not a forecast folder")
    assert_user_error(swapsim("score", forecast, "--observed", tmp_path / "none.csv", "--out", tmp_path / "x"),
                      "none.csv")
    (tmp_path / "bad.csv").write_text(BAD_RECORD)
    assert_user_error(swapsim("score", forecast, "--observed", tmp_path / "bad.csv", "--out", tmp_path / "x"),
                      f"--observed {tmp_path / 'bad.csv'}: row 2 (the header is row 1): column date: expected a date")


def _damage(folder: Path, how: str) -> None:
    info_path, frame_path = folder / "calibration.json", folder / "posterior.parquet"
    if how == "invalid JSON":
        info_path.write_text("{bad")
    elif how == "missing key":
        info = json.loads(info_path.read_text())
        del info["spec_hash"]
        info_path.write_text(json.dumps(info))
    elif how == "not Parquet":
        frame_path.write_text("garbage")
    elif how == "NaN weight":
        frame = pd.read_parquet(frame_path)
        frame.loc[0, "weight"] = np.nan
        frame.to_parquet(frame_path)
    elif how == "no weight column":
        pd.read_parquet(frame_path).drop(columns="weight").to_parquet(frame_path)


@pytest.mark.parametrize("how, fragment", [
    ("invalid JSON", "calibration.json: not a calibration's JSON (JSONDecodeError)"),
    ("missing key", "calibration.json: spec_hash: missing"),
    ("not Parquet", "posterior.parquet: not a readable Parquet table"),
    ("NaN weight", "posterior.parquet: weight: a value that is not a finite number"),
    ("no weight column", "posterior.parquet: no column 'weight'"),
])
@pytest.mark.slow
def test_a_damaged_calibration_folder_is_one_line_wherever_it_is_read(fitted, tmp_path, how, fragment):
    damaged = tmp_path / "damaged"
    shutil.copytree(fitted, damaged)
    _damage(damaged, how)
    decree = ROOT / "scenarios" / "decree_2020.yaml"
    assert_user_error(swapsim("forecast", damaged, "--until", "2020-09-30", "--out", tmp_path / "f"), fragment)
    assert_user_error(swapsim("run", decree, "--runs", 10, "--posterior", damaged, "--out", tmp_path / "r"),
                      fragment)
    assert not (tmp_path / "f").exists() and not (tmp_path / "r").exists()


def test_a_calibration_too_big_for_this_machine_is_refused_before_it_starts(tmp_path):
    path = tiny(tmp_path, particles=1_000_000, simulations=100_000_000, simulations_per_particle=100)
    proc = swapsim("calibrate", path, "--out", tmp_path / "out")
    assert_user_error(proc, str(path), "100,000,000 simulations needs about 600.0 GB")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_forecast_too_big_for_this_machine_is_refused_before_it_starts(fitted, tmp_path):
    proc = swapsim("forecast", fitted, "--until", "2020-09-30", "--runs", 10**12, "--out", tmp_path / "f")
    assert_user_error(proc, "1,000,000,000,000 runs need up to")
    assert "--no-series" not in proc.stderr and not (tmp_path / "f").exists()


@pytest.mark.slow
def test_run_and_compare_draw_from_the_posterior_paired_across_scenarios(fitted, tmp_path):
    decree = ROOT / "scenarios" / "decree_2020.yaml"
    out = tmp_path / "run"
    proc = swapsim("run", decree, "--runs", 30, "--posterior", fitted, "--out", out, "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["posterior"]["folder"] == str(fitted)
    plain = tmp_path / "plain"
    assert swapsim("run", decree, "--runs", 30, "--out", plain, "--workers", 1).returncode == 0
    with_posterior = pd.read_parquet(out / "runs.parquet")
    assert not with_posterior.equals(pd.read_parquet(plain / "runs.parquet"))

    commanders = ROOT / "scenarios" / "commanders_first.yaml"
    cmp = tmp_path / "cmp"
    proc = swapsim("compare", decree, commanders, "--runs", 30, "--posterior", fitted, "--out", cmp)
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(cmp / "runs.parquet")
    # Run k of the decree in the comparison is run k of `swapsim run --posterior`: same seed, same draw.
    mine = runs[runs["scenario"] == "decree_2020"].reset_index(drop=True)
    cols = ["seed", "particle", "outcome", "government_released", "taliban_released"]
    pd.testing.assert_frame_equal(mine[cols], with_posterior[cols])


@pytest.mark.slow
def test_shares_drawn_from_a_posterior_carry_their_monte_carlo_interval(fitted, tmp_path):
    """Every run records the distinct particle it drew; rates and paired differences get the 90% interval of a
    cluster bootstrap over those particles, beside the Wilson and Newcombe intervals of the runs."""
    decree = ROOT / "scenarios" / "decree_2020.yaml"
    out = tmp_path / "run"
    proc = swapsim("run", decree, "--runs", 40, "--posterior", fitted, "--out", out, "--workers", 1, "--no-series")
    assert proc.returncode == 0, proc.stderr
    assert "90% over the posterior's particles" in proc.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    posterior = posteriors.load_posterior(fitted)
    assert np.array_equal(runs["particle"], posterior.clusters(runs["seed"].to_numpy()))
    rates = pd.read_csv(out / "outcome_rates.csv")
    assert ((rates["mc_low"] <= rates["rate"] + 1e-12) & (rates["rate"] <= rates["mc_high"] + 1e-12)).all()
    summary = json.loads((out / "summary.json").read_text())
    assert all(len(o["mc90"]) == 2 for o in summary["outcomes"].values())
    # By hand for one outcome: the same bootstrap on the runs table.
    from sim.reports import bootstrap

    collapsed = rates.set_index("outcome").loc["collapsed"]
    expected = bootstrap.share_interval(runs["outcome"].to_numpy() == "collapsed", runs["particle"].to_numpy())
    assert (collapsed["mc_low"], collapsed["mc_high"]) == pytest.approx(expected[1:])

    cmp = tmp_path / "cmp"
    proc = swapsim("compare", decree, ROOT / "scenarios" / "doha_unconditional.yaml", "--runs", 40, "--posterior",
                   fitted, "--out", cmp)
    assert proc.returncode == 0, proc.stderr
    differences = pd.read_csv(cmp / "differences.csv")
    assert {"mc_low", "mc_high"} <= set(differences.columns)
    inside = (differences["mc_low"] <= differences["difference"] + 1e-12) & \
        (differences["difference"] <= differences["mc_high"] + 1e-12)
    assert inside.all()
    assert "90% over particles" in proc.stdout


def test_sweep_points_draw_from_the_posterior_but_keep_their_own_values(fitted, tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({
        "base": str(ROOT / "scenarios" / "decree_2020.yaml"), "replications": 8, "seed": 3, "sampler": "grid",
        "parameters": {"government.willing_trust": [0.3, 0.9]}}))
    out = tmp_path / "sweep"
    proc = swapsim("sweep", spec, "--posterior", fitted, "--out", out, "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((out / "sweep.json").read_text())
    assert info["posterior"]["folder"] == str(fitted)
    points = pd.read_csv(out / "points.csv")
    for outcome in ("completed", "collapsed"):
        assert (points[f"{outcome}_mc_low"] <= points[f"{outcome}_rate"] + 1e-12).all()
        assert (points[f"{outcome}_rate"] <= points[f"{outcome}_mc_high"] + 1e-12).all()
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["government.willing_trust"].unique().tolist()) == [0.3, 0.9]
    # A sweep's own parameter is left to the sweep; the posterior gives the others, the same at every point.
    posterior = posteriors.load_posterior(fitted)
    decree = load(ROOT / "scenarios" / "decree_2020.yaml")
    seeds = replicate_seeds(3, 8)
    drawn = posterior.overrides(decree, seeds, keep=frozenset({"government.willing_trust"}))
    assert "government.willing_trust" not in drawn
    assert set(drawn) >= {"verification.arrears_share", "verification.rate_with_team", "verification.enabled"}
    assert np.array_equal(drawn["verification.arrears_share"], posterior.overrides(decree, seeds)[
        "verification.arrears_share"])


# ---------------------------------------------------------------- comparative statics under the 2020 mechanisms


# A point the 2020 posterior supports (its medians, rounded): lists, verification, the gate and pledges at work.
RECORD_POINT = {
    "verification.rate_with_team": 300.0, "verification.rate_without_team": 45.0, "verification.list_gap_days": 16,
    "verification.arrears_share": 0.65, "government.willing_trust": 0.33, "taliban.ratio_share": 0.8,
    "protocol.taliban_daily_capacity": 36, "taliban.return_on_release": 0.26,
    "protocol.conditions.max_attacks_per_day": 13.0, "taliban.base_attacks": 13.5,
    "government.initial_trust": 0.2, "taliban.initial_trust": 0.3, "mediator.stall_break_after_days": 25,
    "protocol.cover_rate": 0.06, "taliban.finish_after": 0.75, "taliban.settled_patience_days": 53,
}


@pytest.fixture(scope="module")
def record_runs():
    """200 runs of the record_2020 base at RECORD_POINT with some values changed (common random numbers), over
    the whole horizon or, with `until_record`, to the end of the record (31 July 2020)."""
    from sim.experiments import runs as runner

    base = calibration_spec.base_scenario(calibration_spec.load_spec(SPEC))

    def get(until_record: bool = False, **changes):
        scenario = with_overrides(base, {**RECORD_POINT, **changes,
                                         **({"calendar.horizon_days": 153} if until_record else {})})
        return runner.run(scenario, runs=200, seed=17, workers=1, series=False).runs

    return get


def test_trust_still_raises_releases_under_the_2020_mechanisms(record_runs):
    """By the end of the record: with the end game most runs complete within the horizon whatever their trust,
    so what trust changes is how far the exchange has got by 31 July."""
    runs = [record_runs(until_record=True, **{"government.initial_trust": t, "taliban.initial_trust": t})
            for t in (0.1, 0.3, 0.5)]
    released = [r["government_released"].mean() + r["taliban_released"].mean() for r in runs]
    print("prisoners released at initial trust 0.1/0.3/0.5:", released)
    assert released[0] <= released[1] <= released[2]
    assert released[2] > released[0]


def test_spoilers_still_do_not_help_under_the_2020_mechanisms(record_runs):
    """Releases by the end of the record (at the horizon most runs are complete whatever the spoilers do), and
    breakdowns over the whole horizon."""
    rates = (0.5, 2.0, 5.0)
    released = [r["government_released"].mean() + r["taliban_released"].mean()
                for r in (record_runs(until_record=True, **{"spoilers.attack_rate": a}) for a in rates)]
    # Breakdowns need a stall nobody breaks: the mediator off, and cover for the contested slow.
    stalls = {"mediator.stall_break_rate": 0.0, "protocol.cover_rate": 0.005}
    broken = [r["outcome"].isin(["deadlocked", "collapsed"]).mean()
              for r in (record_runs(**stalls, **{"spoilers.attack_rate": a}) for a in rates)]
    print("released / breakdown at ISKP attack rate 0.5/2/5:", released, broken)
    assert released[0] >= released[1] >= released[2] and released[2] < released[0]
    assert broken[0] <= broken[1] <= broken[2] and broken[2] > 0


def test_the_figures_of_a_fit_with_one_parameter(tmp_path):
    """One fitted parameter has no pairs: the pairs figure shows its histogram alone instead of failing."""
    from sim.reports import calibration_figures

    spec = calibration_spec.load_spec(tiny(tmp_path, parameters={"government.initial_trust": {"low": 0.1,
                                                                                               "high": 0.7}}))
    posterior = pd.DataFrame({"government.initial_trust": np.linspace(0.1, 0.7, 50), "weight": 1.0})
    fig = calibration_figures.pairs_figure(spec, posterior)
    assert len(fig.axes[0].patches) == 20  # the histogram's bars
    assert calibration_figures.marginals_figure(spec, posterior).axes[0].get_visible()


def test_dry_run_prints_the_design_budget_and_time_and_fits_nothing(tmp_path):
    path = tiny(tmp_path)
    proc = swapsim("calibrate", path, "--dry-run", "--seed", 11, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("tiny: abc-smc over 3 fitted parameters") and lines[0].endswith("root seed 11")
    assert "to 2020-06-30" in lines[0]
    assert any(line.startswith("  budget: at most 2,400 simulations; 60 particles × 4 seeds = 240") for line in lines)
    assert any(line.startswith("  estimated time: the first generation about") for line in lines)
    assert lines[-1] == "nothing was fitted (--dry-run)"
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_seed_on_the_command_line_replaces_the_specs(tmp_path):
    path = tiny(tmp_path, simulations=480)
    runs = {}
    for seed in (5, 6):
        out = tmp_path / f"seed{seed}"
        proc = swapsim("calibrate", path, "--seed", seed, "--out", out, "--workers", 1)
        assert proc.returncode == 0, proc.stderr
        assert json.loads((out / "calibration.json").read_text())["root_seed"] == seed
        runs[seed] = pd.read_parquet(out / "posterior.parquet")
    assert runs[5]["seed"].tolist() != runs[6]["seed"].tolist()
    resumed = swapsim("calibrate", path, "--seed", 6, "--out", tmp_path / "seed5", "--resume")
    assert_user_error(resumed, "the calibration spec changed since this folder was started (seed: 5 there, 6 now)")


def test_every_problem_of_a_spec_is_reported_in_one_pass(tmp_path):
    """A bad prior does not hide a misspelt path beside it, a misspelt key under `fixed:` or a bad record row."""
    (tmp_path / "bad.csv").write_text(BAD_RECORD)
    path = tiny(tmp_path, observed="bad.csv", fixed={"verification.enabled": True, "verificaton.start_day": 27},
                parameters={"government.initial_trust": {"low": 0.1, "high": 0.7, "scael": "log"},
                            "government.initial_trus": {"low": 0.1, "high": 0.7}, "taliban.initial_trust": 3})
    with pytest.raises(ScenarioError) as err:
        calibration_spec.load_spec(path)
    lines = [line.removeprefix(f"{path}: ") for line in err.value.problems]
    assert lines[:4] == [
        "parameters.government.initial_trust.scael: unknown key; did you mean 'scale'? (`swapsim schema "
        "--calibration` lists every key)",
        "parameters.taliban.initial_trust: expected a mapping with the keys low, high, scale, got 3",
        "parameters.government.initial_trus: no such scenario parameter; did you mean 'government.initial_trust'?",
        "fixed.verificaton.start_day: no such scenario parameter; did you mean 'verification.start_day'?",
    ]
    assert len(lines) == 9 and all(line.startswith("observed bad.csv: row ") for line in lines[4:]), lines
    # with the spec's own errors fixed, the others are still there, and no new one appears
    path = tiny(tmp_path, observed="bad.csv", fixed={"verificaton.start_day": 27})
    with pytest.raises(ScenarioError) as err:
        calibration_spec.load_spec(path)
    assert [line.removeprefix(f"{path}: ") for line in err.value.problems] == lines[3:]


def test_a_misspelt_key_does_not_hide_the_budget_check(tmp_path):
    path = tiny(tmp_path, particle=10, particles=1000, simulations=2000)
    with pytest.raises(ScenarioError) as err:
        calibration_spec.load_spec(path)
    assert [line.removeprefix(f"{path}: ").split(":")[0] for line in err.value.problems] == ["particle", "simulations"]

"""Scenario discovery: PRIM recovers known regions, the box rules, the wording, the folder, and a real sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.experiments import storage
from sim.model.outcomes import OUTCOMES
from sim.reports import discovery
from sim.reports.discovery import Restriction

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
NUMERIC = ["x1", "x2", "x3", "x4"]
POLICIES = ["refuse", "first_batch", "verify_only"]
TREES = 40  # fewer trees than the default keep the tests quick; the scores stay stable enough for the checks


def lhs(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """A Latin hypercube in [0, 1]^d, as `swapsim sweep` samples it."""
    strata = np.column_stack([rng.permutation(n) for _ in range(d)])
    return (strata + rng.random((n, d))) / n


def synthetic(inside, n: int = 4000, seed: int = 7, numeric: list[str] = NUMERIC, policy: bool = True,
              hit: float = 0.9, miss: float = 0.05) -> discovery.Sweep:
    """A runs table shaped like a real sweep's (one replicate per point): runs inside `inside(x)` deadlock with
    probability `hit`, the others with probability `miss`; the rest complete or collapse."""
    rng = np.random.default_rng(seed)
    runs = pd.DataFrame(lhs(rng, n, len(numeric)), columns=numeric)
    params = list(numeric)
    if policy:
        runs["policy"] = rng.choice(POLICIES, n)
        params.append("policy")
    is_in = inside(runs).to_numpy(dtype=bool)
    deadlock = np.where(is_in, rng.random(n) < hit, rng.random(n) < miss)
    other = rng.choice(["completed", "collapsed"], n, p=[0.8, 0.2])
    runs["outcome"] = np.where(deadlock, "deadlocked", other)
    runs.insert(0, "point", np.arange(n))
    runs.insert(1, "replicate", 0)
    runs["seed"] = 12345
    runs["end_day"] = rng.integers(30, 425, n)
    runs["error"] = ""
    return discovery.Sweep(runs=runs, parameters=params, name="synthetic", sampler="lhs", root_seed=3)


def in_corner(x: pd.DataFrame) -> pd.Series:
    return (x["x1"] <= 0.3) & (x["x2"] >= 0.6)


@pytest.fixture(scope="module")
def corner() -> discovery.Discovery:
    return discovery.discover(synthetic(in_corner), ["deadlocked"], min_rate=0.8, trees=TREES)


@pytest.fixture(scope="module")
def two_params() -> discovery.Discovery:
    """Two numeric parameters only: the box figure is drawn."""
    sweep = synthetic(in_corner, n=1500, numeric=["x1", "x2"], policy=False, seed=11)
    return discovery.discover(sweep, ["deadlocked", "collapsed"], min_rate=0.5, trees=TREES)


def restriction(d: discovery.Discovery, box: discovery.Box, name: str) -> Restriction | None:
    return next((r for r in box.restrictions if r.parameter == name), None)


def barely(r: Restriction | None) -> bool:
    """Not restricted, or restricted so little that the box keeps at least 85% of the range / all but no choice."""
    if r is None:
        return True
    if r.kind == "categorical":
        return len(r.dropped) == 0
    return (r.high - r.low) >= 0.85


# ---------------------------------------------------------------- PRIM recovers known regions


def test_prim_recovers_a_corner_of_two_numeric_parameters(corner):
    box = corner.box("min_rate")
    assert box is not None and box.meets_min_rate and corner.reached
    x1, x2 = restriction(corner, box, "x1"), restriction(corner, box, "x2")
    assert x1.restricts == "upper" and abs(x1.high - 0.3) <= 0.05, x1
    assert x2.restricts == "lower" and abs(x2.low - 0.6) <= 0.05, x2
    for name in ("x3", "x4", "policy"):
        assert barely(restriction(corner, box, name)), restriction(corner, box, name)
    # truth: 12% of the runs inside, 90% of them deadlock; 5% outside: coverage about 0.108 / 0.152 = 71%
    assert 0.6 <= box.coverage <= 0.85
    assert 0.8 <= box.density <= 0.97
    assert 0.09 <= box.mass <= 0.16
    assert box.density == box.run_density  # per run the two are one
    assert x1.quasi_p < 1e-6 and x2.quasi_p < 1e-6
    assert np.isnan(x1.quasi_p_low) and np.isnan(x2.quasi_p_high)  # one-sided: no quasi-p on the open side
    # the box statistics agree with the box applied to the runs by hand
    runs = discovery.valid_runs(corner.sweep.runs)
    mask = discovery.in_box(runs, box.restrictions)
    assert mask.sum() == box.rows
    assert (runs["outcome"][mask] == "deadlocked").sum() == box.cases


def test_knee_of_the_corner_is_near_the_truth_too(corner):
    knee = corner.box("knee")
    x1, x2 = restriction(corner, knee, "x1"), restriction(corner, knee, "x2")
    assert x1 is not None and x2 is not None
    assert abs(x1.high - 0.3) <= 0.08 and abs(x2.low - 0.6) <= 0.08
    assert knee.index == discovery.knee(corner.trajectory)


def test_prim_recovers_one_category_of_a_choice():
    sweep = synthetic(lambda x: x["policy"] == "refuse", seed=5)
    d = discovery.discover(sweep, ["deadlocked"], min_rate=0.8, trees=TREES)
    box = d.box("min_rate")
    policy = restriction(d, box, "policy")
    assert policy is not None and policy.kind == "categorical" and policy.restricts == "set"
    assert policy.kept == ("refuse",) and set(policy.dropped) == {"first_batch", "verify_only"}
    assert policy.quasi_p < 1e-6
    for name in NUMERIC:
        assert barely(restriction(d, box, name)), restriction(d, box, name)
    assert 0.8 <= box.coverage <= 0.97 and 0.8 <= box.density <= 0.97
    assert "policy is refuse" in d.summary


def test_feature_scores_name_the_parameters_that_matter(corner):
    scores = corner.feature_scores
    assert list(scores.columns) == ["outcome", "parameter", "score", "rank", "cases"]
    assert list(dict.fromkeys(scores["outcome"])) == list(OUTCOMES)  # one outcome asked: no separate union
    assert len(scores) == len(OUTCOMES) * len(corner.parameters)
    dead = scores[scores["outcome"] == "deadlocked"].set_index("parameter")["score"]
    assert set(dead.nlargest(2).index) == {"x1", "x2"}
    assert dead.sum() == pytest.approx(1.0)
    partial = scores[scores["outcome"] == "partial"]
    assert partial["score"].isna().all() and partial["rank"].isna().all()  # never happened: no score


def test_an_outcome_with_too_few_runs_is_not_scored_and_named():
    """An outcome below MIN_SCORED_RUNS runs (here 10 partial exchanges of 4,000) gets no score; the figure leaves
    its column out and says so, as do the summary and discovery.json; a common outcome is still scored."""
    sweep = synthetic(in_corner)
    rare = sweep.runs.index[sweep.runs["outcome"] == "completed"][:10]
    sweep.runs.loc[rare, "outcome"] = "partial"
    d = discovery.discover(sweep, ["deadlocked"], min_rate=0.8, trees=TREES)
    assert discovery.MIN_SCORED_RUNS > 10
    scores = d.feature_scores.set_index("outcome")
    assert scores.loc["partial", "score"].isna().all() and (scores.loc["partial", "cases"] == 10).all()
    assert scores.loc["collapsed", "score"].notna().all()
    assert discovery.unscored(d) == {"partial": 10}
    note = discovery.unscored_note(d)
    assert "partial (10 of 4,000 runs)" in note and f"Fewer than {discovery.MIN_SCORED_RUNS} runs" in note
    fig = discovery.figures(d)["feature_scores"]
    assert "partial" not in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert fig.legends[0].get_title().get_text().replace("\n", " ") == note
    assert "Not scored: partial" in discovery.format_summary(d)
    assert discovery.manifest(d)["not_scored"]["outcomes"] == {"partial": 10}


def test_union_comes_first_in_the_feature_scores(two_params):
    outcomes = list(dict.fromkeys(two_params.feature_scores["outcome"]))
    assert outcomes == ["collapsed or deadlocked", *OUTCOMES]
    union = two_params.feature_scores.query("outcome == 'collapsed or deadlocked'")
    assert int(union["cases"].iloc[0]) == int(discovery.cases(two_params.sweep.runs, ["deadlocked", "collapsed"]).sum())


def test_per_point_counts_points(tmp_path):
    rng = np.random.default_rng(2)
    levels = np.round(np.linspace(0, 1, 11), 2)
    design = pd.DataFrame([(a, b) for a in levels for b in levels], columns=["x1", "x2"])
    design["point"] = np.arange(len(design))
    runs = design.loc[design.index.repeat(20)].reset_index(drop=True)
    runs["replicate"] = np.tile(np.arange(20), len(design))
    p = np.where((runs["x1"] <= 0.3) & (runs["x2"] >= 0.6), 0.85, 0.1)
    runs["outcome"] = np.where(rng.random(len(runs)) < p, "deadlocked", "completed")
    runs["error"] = None
    sweep = discovery.Sweep(runs=runs, parameters=["x1", "x2"], name="grid", sampler="grid")
    d = discovery.discover(sweep, ["deadlocked"], min_rate=0.8, per="point", point_rate=0.5, trees=TREES)
    assert d.rows == 121 and d.per == "point" and d.point_rate == 0.5
    assert d.cases == 4 * 5  # x1 in {0, .1, .2, .3} and x2 in {.6, ..., 1}: every one at 85% of 20 runs
    box = d.box("min_rate")
    assert restriction(d, box, "x1").high == pytest.approx(0.3, abs=0.051)
    assert restriction(d, box, "x2").low == pytest.approx(0.6, abs=0.051)
    assert 0.7 <= box.run_density <= 0.95  # the runs at the box's points
    assert "of the points" in d.summary and "Of the runs at those points" in d.summary
    assert "box" in discovery.figures(d)
    with pytest.raises(ValueError, match="point_rate applies only"):
        discovery.discover(sweep, ["deadlocked"], point_rate=0.5)


def test_failed_runs_are_left_out():
    sweep = synthetic(in_corner, n=1200, seed=3)
    sweep.runs.loc[:9, "error"] = "ValueError: boom"
    d = discovery.discover(sweep, ["deadlocked"], trees=10)
    assert d.dropped_runs == 10 and d.rows == 1190


# ---------------------------------------------------------------- cases, rules and words


def test_cases_marks_the_chosen_outcomes():
    runs = pd.DataFrame({"outcome": ["completed", "deadlocked", "collapsed", "partial", "deadlocked"]})
    assert discovery.cases(runs, ["deadlocked"]).tolist() == [False, True, False, False, True]
    assert discovery.cases(runs, ["deadlocked", "collapsed"]).tolist() == [False, True, True, False, True]
    assert discovery.cases(runs, "partial").dtype == bool


@pytest.mark.parametrize("outcomes, message", [
    (["deadlock"], "unknown outcome 'deadlock': choose from completed, collapsed, deadlocked, partial"),
    (["deadlocked", "exploded"], "unknown outcome 'exploded'"),
    ([], "no outcome given"),
])
def test_cases_rejects_unknown_outcomes_in_one_line(outcomes, message):
    runs = pd.DataFrame({"outcome": ["completed"]})
    with pytest.raises(ValueError) as err:
        discovery.cases(runs, outcomes)
    assert message in str(err.value) and "\n" not in str(err.value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(OUTCOMES), max_size=30), st.sets(st.sampled_from(OUTCOMES), min_size=1))
def test_cases_agrees_with_membership(outcomes, wanted):
    runs = pd.DataFrame({"outcome": pd.Series(outcomes, dtype=object)})
    assert discovery.cases(runs, sorted(wanted)).tolist() == [o in wanted for o in outcomes]


def trajectory(coverage, density, res_dim=None) -> pd.DataFrame:
    res_dim = res_dim or [min(i, 2) for i in range(len(coverage))]
    return pd.DataFrame({"coverage": coverage, "density": density, "res_dim": res_dim})


def test_knee_is_the_box_farthest_above_the_chord():
    t = trajectory([1.0, 0.95, 0.9, 0.6, 0.3], [0.2, 0.5, 0.8, 0.85, 0.9])
    assert discovery.knee(t) == 2
    # a straight trade-off has no box above the chord: the last box
    assert discovery.knee(trajectory([1.0, 0.75, 0.5, 0.25], [0.2, 0.4, 0.6, 0.8])) == 3
    assert discovery.knee(trajectory([1.0, 0.8], [0.2, 0.5])) == 1
    assert discovery.knee(trajectory([1.0], [0.2])) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), min_size=1, max_size=40))
def test_knee_is_on_the_trajectory_and_not_below_the_chord(points):
    c = [1.0] + [p[0] for p in points]
    d = [0.1] + [p[1] for p in points]
    k = discovery.knee(trajectory(c, d, [1] * len(c)))
    assert 0 <= k < len(c)
    if 0 < k < len(c) - 1:
        dc, dd = c[-1] - c[0], d[-1] - d[0]
        assert dd * (c[k] - c[0]) - dc * (d[k] - d[0]) > 0


def test_min_rate_box_is_the_largest_that_reaches_the_rate():
    t = trajectory([1.0, 0.95, 0.9, 0.9, 0.6, 0.3], [0.2, 0.5, 0.8, 0.82, 0.85, 0.9])
    assert discovery.min_rate_index(t, 0.5) == (1, True)
    assert discovery.min_rate_index(t, 0.8) == (3, True)  # same coverage as box 2, denser
    assert discovery.min_rate_index(t, 0.95) == (5, False)  # none reaches it: the densest
    assert discovery.choose_boxes(t, 0.5) == [(("min_rate",), 1), (("knee",), discovery.knee(t))]
    assert discovery.choose_boxes(t, 0.95)[0] == (("densest",), 5)
    knee = discovery.knee(t)
    threshold = float(t["density"][knee])
    assert discovery.choose_boxes(t, threshold) == [(("min_rate", "knee"), knee)]


def numeric(name, low, high, low_r, high_r, kind="numeric") -> Restriction:
    return Restriction(name, kind, low, high, low_r, high_r, quasi_p_low=0.01 if low_r else np.nan,
                       quasi_p_high=0.2 if high_r else np.nan)


def test_restrictions_in_words():
    assert discovery.restriction_text(numeric("taliban.initial_trust", 0.0, 0.25, False, True)) == \
        "taliban.initial_trust ≤ 0.25"
    assert discovery.restriction_text(numeric("government.memory", 0.97012, 0.995, True, False)) == \
        "government.memory ≥ 0.97"
    assert discovery.restriction_text(numeric("government.initial_trust", 0.123456, 0.4567, True, True)) == \
        "government.initial_trust is between 0.123 and 0.457"
    assert discovery.restriction_text(numeric("protocol.daily_capacity", 50, 1250, False, True, "integer")) == \
        "protocol.daily_capacity ≤ 1,250"
    choice = Restriction("protocol.commander_policy", "categorical", kept=("refuse", "first_batch"),
                         dropped=("verify_only",), quasi_p_low=0.003)
    assert discovery.restriction_text(choice) == "protocol.commander_policy is one of refuse, first_batch"
    assert discovery.restriction_text(Restriction("p", "categorical", kept=("refuse",))) == "p is refuse"
    assert discovery.restriction_text(Restriction("flag", "categorical", kept=(True,))) == "flag is true"
    both = numeric("x", 0.2, 0.4, True, True)
    assert both.restricts == "both" and both.quasi_p == 0.2  # the weaker side
    assert choice.restricts == "set" and choice.quasi_p == 0.003


def test_outcomes_in_words():
    assert discovery.outcome_words(["deadlocked"]) == ("deadlock", "deadlocks", "deadlock")
    assert discovery.outcome_words(["deadlocked", "collapsed"]) == \
        ("collapse or deadlock", "collapses and deadlocks", "collapse or deadlock")
    assert discovery.outcome_label(["deadlocked", "collapsed", "deadlocked"]) == "collapsed or deadlocked"
    assert [discovery.percent(v) for v in (0.84, 0.072, 0.0035, 0.996, 1.0, 0.0)] == \
        ["84%", "7.2%", "0.35%", "99.6%", "100%", "0%"]


def test_summary_paragraph(corner, two_params):
    text = corner.summary
    box = corner.box("min_rate")
    x1, x2 = restriction(corner, box, "x1"), restriction(corner, box, "x2")
    assert text.startswith(f"Deadlock concentrates where x1 ≤ {x1.high:.3g} and x2 ≥ {x2.low:.3g}")
    assert f"{discovery.percent(box.coverage)} of deadlocks (coverage)" in text
    assert f"in {discovery.percent(box.mass)} of the runs (mass)" in text
    assert f"{discovery.percent(box.density)} of runs there deadlock (density)" in text
    assert "\n" not in text
    assert two_params.summary.startswith("Collapse or deadlock concentrates where")
    assert "of collapses and deadlocks (coverage)" in two_params.summary
    console = discovery.format_summary(corner)
    assert "min_rate" in console and "quasi-p" in console and "x1 ≤" in console


def test_summary_says_plainly_when_no_box_reaches_the_rate():
    sweep = synthetic(in_corner, n=1500, seed=9, hit=0.6)
    d = discovery.discover(sweep, ["deadlocked"], min_rate=0.99, trees=10)
    assert not d.reached and d.boxes[0].labels[0] == "densest"
    assert d.summary.startswith("No box reaches the 99% threshold")
    assert "The densest box PRIM found is where" in d.summary
    assert d.boxes[0].restrictions  # the best box is still reported


def test_summary_when_nothing_or_everything_happens():
    sweep = synthetic(lambda x: x["x1"] < -1, n=600, seed=4, miss=0.0)
    d = discovery.discover(sweep, ["deadlocked"], trees=10)
    assert d.cases == 0 and d.summary == "No run ended in deadlock (600 runs): there is nothing to discover."
    d = discovery.discover(sweep, ["completed", "collapsed"], trees=10)
    assert d.summary.startswith("Every run ended in completion or collapse")


def test_discover_checks_its_inputs(corner):
    with pytest.raises(ValueError, match="min_rate"):
        discovery.discover(corner.sweep, ["deadlocked"], min_rate=1.5)
    with pytest.raises(ValueError, match="per must be"):
        discovery.discover(corner.sweep, ["deadlocked"], per="replicate")
    with pytest.raises(ValueError, match="unknown outcome"):
        discovery.discover(corner.sweep, ["stalemate"])
    with pytest.raises(ValueError, match="not a sweep folder"):
        discovery.discover(ROOT / "scenarios", ["deadlocked"])


def test_missing_ema_workbench_says_how_to_install_it(monkeypatch, corner):
    monkeypatch.setitem(sys.modules, "ema_workbench", None)  # as if it were not installed
    with pytest.raises(ImportError) as err:
        discovery.discover(corner.sweep, ["deadlocked"])
    assert str(err.value) == "scenario discovery needs EMA Workbench: pip install 'swapsim[discover]'"


# ---------------------------------------------------------------- the folder and figures


def test_save_writes_every_file(two_params, tmp_path):
    out = discovery.save(two_params, tmp_path / "disc", command=["swapsim", "discover"])
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["boxes.csv", "discovery.json", "feature_scores.csv", "figures/box.png",
                     "figures/feature_scores.png", "figures/tradeoff.png", "summary.txt", "trajectory.csv"]
    for png in (out / "figures").iterdir():
        assert png.read_bytes().startswith(PNG)
    boxes = pd.read_csv(out / "boxes.csv")
    assert {"box", "trajectory_index", "parameter", "kind", "low", "high", "kept", "quasi_p", "coverage",
            "density", "mass", "res_dim"} <= set(boxes.columns)
    assert set(boxes["box"]) == {b.label for b in two_params.boxes}
    trajectory = pd.read_csv(out / "trajectory.csv")
    assert len(trajectory) == len(two_params.trajectory) and trajectory["chosen"].notna().sum() == len(two_params.boxes)
    info = json.loads((out / "discovery.json").read_text())
    assert info["outcomes"] == ["collapsed", "deadlocked"] and info["per"] == "run" and info["min_rate"] == 0.5
    assert info["seed"] == 3 and info["ema_workbench"] and info["command"] == "swapsim discover"
    assert info["boxes"][0]["coverage"] == pytest.approx(two_params.boxes[0].coverage)
    assert "discovery.json" in info["files"] and info["summary"] == two_params.summary
    assert two_params.summary in (out / "summary.txt").read_text().replace("\n", " ")


@pytest.mark.slow
def test_save_refuses_an_existing_folder_without_force(two_params, tmp_path):
    out = discovery.save(two_params, tmp_path / "disc")
    stamp = (out / "discovery.json").stat().st_mtime_ns
    with pytest.raises(storage.UnsafeOutput, match="exists already"):
        discovery.save(two_params, out)
    assert (out / "discovery.json").stat().st_mtime_ns == stamp
    discovery.save(two_params, out, force=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(storage.UnsafeOutput, match="not a discovery folder"):
        discovery.save(two_params, other, force=True)
    assert (other / "mine.txt").read_text() == "keep"
    assert not list(tmp_path.glob(".*partial"))


def test_figures_have_titles_labels_and_legends(two_params, corner):
    figs = discovery.figures(two_params)
    assert set(figs) == {"tradeoff", "feature_scores", "box"}
    assert set(discovery.figures(corner)) == {"tradeoff", "feature_scores"}  # more than two parameters: no box
    for name, fig in figs.items():
        assert fig.get_suptitle().startswith("synthetic:"), name
        ax = fig.axes[0]
        assert ax.get_xlabel() and ax.get_ylabel(), name
        assert ax.get_legend() is not None or fig.legends, name
    assert "(%)" in figs["tradeoff"].axes[0].get_xlabel() and "(%)" in figs["tradeoff"].axes[0].get_ylabel()
    assert "collapse or deadlock" in figs["box"].get_suptitle()
    for d in (two_params, corner):  # the studied outcome's column is the one framed, a union or a single outcome
        ax = discovery.figures(d)["feature_scores"].axes[0]
        frame = next(p for p in ax.patches if p.get_gid() == "highlight")
        studied = discovery.outcome_label(d.outcomes)
        assert [t.get_text() for t in ax.get_xticklabels()][round(frame.get_x() + 0.5)] == studied
    chosen = [t.get_text() for t in figs["tradeoff"].axes[0].texts]
    assert any("min_rate" in t for t in chosen)
    boxes = [p for p in figs["box"].axes[0].patches if p.get_gid() == "box"]
    assert len(boxes) == len(two_params.boxes)
    # the min-rate box's rectangle sits on its limits (open sides reach the axes' ends)
    lo_x, hi_x = figs["box"].axes[0].get_xlim()
    rect = boxes[0]
    x1 = restriction(two_params, two_params.boxes[0], "x2")
    assert rect.get_x() == pytest.approx(x1.low if x1 and x1.low_restricted else lo_x)


@pytest.mark.slow
def test_same_inputs_and_seed_give_identical_files(tmp_path):
    sweep = synthetic(in_corner, n=1500, seed=21)
    first = discovery.save(discovery.discover(sweep, ["deadlocked"], seed=5, trees=20), tmp_path / "a")
    again = discovery.save(discovery.discover(sweep, ["deadlocked"], seed=5, trees=20), tmp_path / "b")
    other = discovery.save(discovery.discover(sweep, ["deadlocked"], seed=6, trees=20), tmp_path / "c")
    for name in ("boxes.csv", "feature_scores.csv", "trajectory.csv"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert (first / "boxes.csv").read_bytes() == (other / "boxes.csv").read_bytes()  # PRIM itself is deterministic
    assert (first / "feature_scores.csv").read_bytes() != (other / "feature_scores.csv").read_bytes()


# ---------------------------------------------------------------- a real sweep


@pytest.mark.slow
def test_discovery_on_a_real_sweep_made_with_the_cli(tmp_path):
    spec = tmp_path / "trust_lhs.yaml"
    spec.write_text(
        f"base: {ROOT / 'scenarios' / 'decree_2020.yaml'}\n"
        "sampler: lhs\nsamples: 1000\nreplications: 1\nseed: 17\n"
        "parameters:\n"
        "  government.initial_trust: {low: 0.0, high: 1.0}\n"
        "  taliban.initial_trust: {low: 0.0, high: 1.0}\n", encoding="utf-8")
    out = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(spec), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = discovery.discover(out, ["deadlocked", "collapsed"])
    assert d.sweep.name == "trust_lhs" and d.seed == 17 and d.rows == 1000
    head = d.headline
    assert head.res_dim >= 1
    trusts = [r for r in head.restrictions if r.parameter.endswith("initial_trust")]
    assert trusts and any(r.restricts == "upper" for r in trusts), head  # breakdowns come with low trust
    assert head.density > d.base_rate
    knee = d.box("knee")
    assert knee.density > d.base_rate + 0.1 and knee.coverage > 0.5
    folder = discovery.save(d, out / "discovery")
    assert (folder / "figures" / "box.png").read_bytes().startswith(PNG)


@pytest.mark.slow
def test_discover_and_export_ema_commands(tmp_path):
    """The two commands on a real sweep, as a user runs them: output, files, EMA's reader, and one-line refusals."""
    from sim import ema  # noqa: F401  (imports EMA Workbench quietly)

    import ema_workbench

    spec = tmp_path / "small.yaml"
    spec.write_text(
        f"base: {ROOT / 'scenarios' / 'decree_2020.yaml'}\n"
        "sampler: lhs\nsamples: 600\nreplications: 1\n"
        "parameters:\n"
        "  protocol.conditions.max_attacks_per_day: {low: 0.0, high: 20.0}\n"
        "  government.memory: {low: 0.9, high: 0.995}\n"
        "  protocol.commander_policy: [refuse, first_batch]\n", encoding="utf-8")

    def swapsim(*args):
        return subprocess.run([sys.executable, "-m", "sim.cli", *map(str, args)], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)

    assert swapsim("sweep", spec, "--out", tmp_path / "small").returncode == 0
    found = swapsim("discover", tmp_path / "small", "--outcome", "deadlocked")
    assert found.returncode == 0, found.stderr
    assert "Deadlock concentrates where protocol.conditions.max_attacks_per_day ≤" in found.stdout
    written = tmp_path / "small_deadlocked"
    assert {p.name for p in written.iterdir()} >= {"boxes.csv", "summary.txt", "discovery.json", "figures"}
    again = swapsim("discover", tmp_path / "small", "--outcome", "deadlocked")
    assert again.returncode == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1

    exported = swapsim("export-ema", tmp_path / "small")
    assert exported.returncode == 0, exported.stderr
    experiments, outcomes = ema_workbench.load_results(tmp_path / "small_ema.tar.gz")
    runs = pd.read_parquet(tmp_path / "small" / "runs.parquet")
    assert len(experiments) == len(runs) == 600
    assert (outcomes["deadlocked"] == (runs["outcome"] == "deadlocked")).all()

    for args, fragment in ((("discover", tmp_path / "small", "--outcome", "deadlock"), "unknown outcome 'deadlock'"),
                           (("discover", tmp_path, "--outcome", "deadlocked"), "not a sweep folder"),
                           (("export-ema", tmp_path / "small"), "exists: pass --force"),
                           (("export-ema", tmp_path / "nowhere"), "nowhere")):
        proc = swapsim(*args)
        assert proc.returncode == 2 and fragment in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr

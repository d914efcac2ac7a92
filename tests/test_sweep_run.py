"""Running sweeps: chunks on real executors, interruption and resume, Dask, and the CLI."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pandas as pd
import pytest

import numpy as np

from sim.experiments import batches, chunks
from sim.experiments import sweep_spec as sweep
from sim.model.scenario import Scenario
from sim.reports import analysis
from sim.reports import sweep as sweep_runner
from test_cli import interruptible, swapsim, wait_for

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "name": "small",
    "base": {"calendar": {"horizon_days": 160}},
    "parameters": {
        "government.initial_trust": [0.2, 0.5],
        "protocol.commander_policy": ["refuse", "first_batch", "verify_only"],
    },
    "sampler": "grid",
    "replications": 7,
    "seed": 11,
}


def small_spec(**changes) -> sweep.SweepSpec:
    return sweep.spec_from_dict({**SMALL, **changes}, source="small.yaml", folder=ROOT)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> sweep_runner.SweepResults:
    """The small sweep run in this process, one chunk at a time."""
    return sweep_runner.sweep(small_spec(chunk_size=5), tmp_path_factory.mktemp("ref") / "small", workers=1)


def test_every_run_once_with_common_random_numbers(reference):
    runs = reference.runs()
    assert len(runs) == 6 * 7
    assert not runs.duplicated(["point", "replicate"]).any()
    assert list(runs["point"]) == sorted(runs["point"])
    seeds = runs.pivot(index="replicate", columns="point", values="seed")
    assert (seeds.nunique(axis=1) == 1).all(), "replicate k must share its seed across points"
    assert seeds.iloc[:, 0].is_unique
    assert set(runs["outcome"]) <= {"completed", "collapsed", "deadlocked", "partial"}


def test_points_table_agrees_with_runs(reference):
    runs, points = reference.runs(), reference.points
    assert len(points) == 6 and (points["runs"] == 7).all() and (points["failed"] == 0).all()
    for _, row in points.iterrows():
        mine = runs[runs["point"] == row["point"]]
        assert row["completed_count"] == (mine["outcome"] == "completed").sum()
        assert row["completed_rate"] == pytest.approx((mine["outcome"] == "completed").mean())
        assert row["completed_low"] <= row["completed_rate"] <= row["completed_high"]
        assert row["mean_walkouts"] == pytest.approx(mine["walkouts"].mean())
    totals = points[[f"{o}_rate" for o in ("completed", "collapsed", "deadlocked", "partial")]].sum(axis=1)
    assert totals.tolist() == pytest.approx([1.0] * len(points))


def test_outputs_on_disk(reference):
    out = reference.out
    for name in ("sweep.json", "design.parquet", "runs.parquet", "runs.csv", "points.parquet", "points.csv",
                 "summary.json", "figures/heatmap.png"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["complete"] and manifest["spec_hash"] == sweep.spec_hash(small_spec(chunk_size=5))
    assert manifest["total_runs"] == 42 and len(manifest["seeds"]) == 7
    assert len(pd.read_csv(out / "runs.csv")) == 42
    assert len(list((out / "chunks").glob("chunk-*.parquet"))) == 9  # ceil(42 / 5)
    assert not list(out.rglob("*.tmp"))


def test_same_results_whatever_the_workers_and_chunk_size(reference, tmp_path):
    other = sweep_runner.sweep(small_spec(chunk_size=17), tmp_path / "pool", workers=2)
    pd.testing.assert_frame_equal(reference.runs(), other.runs())
    pd.testing.assert_frame_equal(reference.points, other.points)


@pytest.mark.parametrize("workers, chunk_size, lanes", [(2, 17, None), (1, 3, 2), (2, 42, 7)])
def test_the_points_table_is_the_same_bytes_whatever_the_workers_chunks_and_lanes(reference, tmp_path, workers,
                                                                                  chunk_size, lanes):
    """Means over a point's runs are summed exactly, so no digit depends on how the runs were grouped."""
    other = sweep_runner.sweep(small_spec(chunk_size=chunk_size), tmp_path / "other", workers=workers, lanes=lanes,
                               figures=False)
    assert (other.out / "points.parquet").read_bytes() == (reference.out / "points.parquet").read_bytes()
    assert (other.out / "points.csv").read_bytes() == (reference.out / "points.csv").read_bytes()


@pytest.mark.slow
def test_same_results_on_a_dask_cluster(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        on_dask = sweep_runner.sweep(small_spec(chunk_size=4), tmp_path / "dask", address=cluster.scheduler_address)
    pd.testing.assert_frame_equal(reference.runs(), on_dask.runs())
    pd.testing.assert_frame_equal(reference.points, on_dask.points)


def test_a_run_that_raises_is_recorded_and_the_rest_go_on():
    base = Scenario(calendar={"horizon_days": 60})
    batch = batches.Batch(index=0, scenarios=(base,), scenario_of_lane=np.zeros(4, dtype=np.int64),
                          seeds=np.array([1, 2, 1, 2]), labels={"point": np.array([0, 0, 1, 1])},
                          overrides={"government.initial_trust": np.array([0.3, 0.3, 7.0, 7.0])})
    frame = batches.run_batch(batch).runs
    assert "error" not in set(frame["outcome"][:2])
    assert list(frame["outcome"][2:]) == ["error", "error"]
    assert frame["error"][2].startswith("ScenarioError") and "government.initial_trust" in frame["error"][2]
    assert frame["error"][:2].eq("").all()
    # The runs that did not fail are those the batch would have given without the failing lanes.
    alone = batches.run_batch(batches.Batch(index=0, scenarios=(base,), scenario_of_lane=np.zeros(2, dtype=np.int64),
                                            seeds=np.array([1, 2]), labels={"point": np.array([0, 0])},
                                            overrides={"government.initial_trust": np.array([0.3, 0.3])})).runs
    # (Whole-number metrics are floats in the frame with failures, which hold NaN there.)
    pd.testing.assert_frame_equal(frame.head(2), alone, check_dtype=False)


def test_existing_folder_needs_resume_or_force(reference, tmp_path):
    with pytest.raises(chunks.ResumeError, match="--resume"):
        sweep_runner.sweep(small_spec(chunk_size=5), reference.out, workers=1)
    with pytest.raises(chunks.ResumeError, match="the sweep spec changed .*replications: .* there, 8 now"):
        sweep_runner.sweep(small_spec(chunk_size=5, replications=8), reference.out, workers=1, resume=True)


def _spec_file(tmp_path: Path, replications: int) -> Path:
    path = tmp_path / "resumable.yaml"
    path.write_text(
        "name: resumable\n"
        f"base: {ROOT / 'scenarios' / 'decree_2020.yaml'}\n"
        "parameters:\n  government.initial_trust: [0.3, 0.45, 0.6]\n  taliban.initial_trust: [0.3, 0.5]\n"
        f"replications: {replications}\nchunk_size: 10\nseed: 3\n"
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_interrupted_sweep_resumes_to_identical_results(tmp_path, how):
    spec = _spec_file(tmp_path, replications=60)  # 360 runs in 36 chunks
    out = tmp_path / "interrupted"
    proc = interruptible("sweep", spec, "--workers", "1", "--out", out)
    wait_for(lambda: len(list((out / "chunks").glob("chunk-*.parquet"))) >= 3, "three chunks written")
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    written = len(list((out / "chunks").glob("chunk-*.parquet")))
    assert 3 <= written < 36, "the sweep should have been stopped part-way"
    assert not (out / "runs.parquet").exists()
    if how == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err

    again = swapsim("sweep", spec, "--out", out)
    assert again.returncode == 2 and "--resume" in again.stderr

    stray = out / "chunks" / ".chunk-000035.parquet.a1b2c3d4.tmp"  # as a kill in the middle of a write leaves
    stray.write_bytes(b"half a chunk")
    resumed = swapsim("sweep", spec, "--workers", "2", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(out.rglob("*.tmp")), "a resumed sweep leaves no partial file behind"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chunks_run_this_time"] == 36 - written

    whole = swapsim("sweep", spec, "--workers", "2", "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    a, b = pd.read_parquet(out / "runs.parquet"), pd.read_parquet(tmp_path / "whole" / "runs.parquet")
    assert len(a) == 360 and not a.duplicated(["point", "replicate"]).any()
    pd.testing.assert_frame_equal(a, b)
    assert (out / "points.parquet").read_bytes() == (tmp_path / "whole" / "points.parquet").read_bytes()

    spec.write_text(spec.read_text().replace("seed: 3", "seed: 4"))
    changed = swapsim("sweep", spec, "--out", out, "--resume")
    assert changed.returncode == 2 and "Traceback" not in changed.stderr
    assert "the sweep spec changed since this folder was started (seed: 3 there, 4 now)" in changed.stderr


@pytest.mark.slow
def test_cli_sweep_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: ../nowhere.yaml\nparameters:\n  government.intial_trust: [0.1]\n")
    proc = swapsim("sweep", bad, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad.yaml" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = swapsim("sweep", ROOT / "scenarios" / "sweeps" / "trust_grid.yaml", "--resume", "--force")
    assert proc.returncode == 2 and "contradict" in proc.stderr
    proc = swapsim("sweep", _spec_file(tmp_path, 2), "--address", "tcp://127.0.0.1:9", "--out", tmp_path / "x")
    assert proc.returncode == 2 and "Dask scheduler" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_every_bundled_sweep_spec_loads():
    specs = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
    assert {p.stem for p in specs} >= {"trust_grid", "commander_policy", "sensitivity"}
    for path in specs:
        spec = sweep.load_spec(path)
        assert len(sweep.expand(spec)) > 1


@pytest.mark.slow
def test_a_sweep_never_writes_into_or_replaces_a_foreign_folder(tmp_path):
    spec = _spec_file(tmp_path, replications=2)
    precious = tmp_path / "paper"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    for extra in ([], ["--force"]):
        proc = swapsim("sweep", spec, "--out", precious, *extra)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.tex"]


@pytest.mark.slow
def test_force_replaces_a_sweep_folder_and_leaves_nothing_aside(tmp_path):
    spec = _spec_file(tmp_path, replications=2)
    out = tmp_path / "sweep"
    assert swapsim("sweep", spec, "--workers", "1", "--out", out).returncode == 0
    spec.write_text(spec.read_text().replace("replications: 2", "replications: 3"))
    proc = swapsim("sweep", spec, "--workers", "1", "--out", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == 6 * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resumable.yaml", "sweep"]


# ---------------------------------------------------------------- paired differences between points, console, dry run


def test_a_grid_of_a_choice_parameter_compares_its_values_paired_by_replicate(reference):
    """SMALL varies the commander policy at two trust levels: each policy against `refuse`, at each trust level,
    exactly as `swapsim compare` pairs scenarios run on the same seeds."""
    from sim.reports import comparison

    table = reference.differences
    assert table is not None and (reference.out / "point_differences.csv").is_file()
    assert set(table["parameter"]) == {"protocol.commander_policy"}
    assert set(table["baseline_value"]) == {"refuse"} and set(table["value"]) == {"first_batch", "verify_only"}
    assert len(table) == 2 * 2 * 4  # two values against refuse, at two trust levels, four outcomes
    runs = reference.runs()
    for trust, group in runs.groupby("government.initial_trust"):
        paired = group.assign(scenario=group["protocol.commander_policy"], run=group["replicate"])
        expected = comparison.differences_of(paired, names=["refuse", "first_batch", "verify_only"], baseline="refuse")
        mine = table[table["government.initial_trust"] == trust].reset_index(drop=True)
        assert mine["difference"].tolist() == pytest.approx(expected["difference"].tolist())
        assert mine["p_value"].tolist() == pytest.approx(expected["p_value"].tolist())
        assert mine["low"].tolist() == pytest.approx(expected["low"].tolist())


def test_a_grid_of_numbers_has_no_point_differences(tmp_path):
    done = sweep_runner.sweep(small_spec(parameters={"government.initial_trust": [0.2, 0.5]}, replications=3),
                              tmp_path / "numbers", workers=1, figures=False)
    assert done.differences is None and not (tmp_path / "numbers" / "point_differences.csv").exists()


def test_console_shows_wilson_intervals_and_the_paired_differences(reference):
    text = sweep_runner.format_summary(reference)
    points = reference.points
    row = points.iloc[0]
    expected = (f"{100 * row['completed_rate']:5.1f}% [{100 * row['completed_low']:.1f}–"
                f"{100 * row['completed_high']:.1f}]")
    assert expected in text
    assert "paired differences against the first value of protocol.commander_policy" in text


def test_one_run_per_point_reports_trends_not_tied_points(tmp_path):
    """With one run a point, every point's rate is 0% or 100%: the summary says how the rates move with each
    parameter instead of ranking tied points, and its numbers are the pooled runs'."""
    spec = small_spec(sampler="lhs", samples=40, replications=1, base={"calendar": {"horizon_days": 120}},
                      parameters={"government.initial_trust": {"low": 0.0, "high": 1.0},
                                  "protocol.commander_policy": ["refuse", "first_batch"]})
    done = sweep_runner.sweep(spec, tmp_path / "lhs", workers=1, figures=False)
    text = sweep_runner.format_summary(done)
    assert "too few to rank points" in text and "the 6 points with the most" not in text
    assert max(len(line) for line in text.replace(str(done.out), "OUT").splitlines()) < 140  # the folder's is the user's
    runs = done.runs()
    broken = runs["outcome"].isin(["deadlocked", "collapsed"])
    by_policy = broken.groupby(runs["protocol.commander_policy"]).agg(["sum", "count"])
    worst = (by_policy["sum"] / by_policy["count"]).idxmax()
    k, n = by_policy.loc[worst]
    low, high = analysis.wilson_interval(k, n)
    line = next(line for line in text.splitlines() if line.strip().startswith("protocol.commander_policy"))
    shown = re.search(rf"{worst}: +([0-9.]+)% \[([0-9.]+)–([0-9.]+)\]", line)
    assert shown, line
    rate, shown_low, shown_high = map(float, shown.groups())
    assert rate == round(100 * k / n, 1)
    assert shown_low <= round(100 * low, 1) and shown_high >= round(100 * high, 1)  # never narrower than Wilson's


def test_dry_run_prints_the_design_and_an_estimate_and_writes_nothing(tmp_path):
    spec = _spec_file(tmp_path, replications=60)
    proc = swapsim("sweep", spec, "--dry-run", "--workers", "2", "--replications", "25", "--seed", "9",
                   "--out", tmp_path / "never")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "6 points × 25 replications = 150 runs" in out and "root seed 9" in out
    assert "government.initial_trust: 3 distinct values (0.3, 0.45, 0.6)" in out
    assert "estimated time: about" in out and "on 2 workers" in out and "nothing was run" in out
    assert not (tmp_path / "never").exists() and not (ROOT / "results" / "resumable").exists()


@pytest.mark.slow
def test_replications_and_seed_on_the_command_line_replace_the_spec_values(tmp_path):
    spec = _spec_file(tmp_path, replications=60)
    out = tmp_path / "quick"
    proc = swapsim("sweep", spec, "--replications", "3", "--seed", "5", "--workers", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 * 3
    info = json.loads((out / "sweep.json").read_text())
    assert info["replications"] == 3 and info["root_seed"] == 5 and info["spec"]["seed"] == 5
    assert_bad = swapsim("sweep", spec, "--replications", "0", "--out", tmp_path / "x")
    assert assert_bad.returncode == 2 and "--replications" in assert_bad.stderr


def test_an_event_field_swept_by_id_gives_the_runs_of_the_scenario_with_that_value(tmp_path):
    """Varying events.eid_ceasefire.release_boost: each point's runs equal runs of the base scenario with the
    event's value changed by hand (an event field shapes the timeline, so each point gets its scenario)."""
    from sim.experiments import runs as runner
    from sim.model.scenario import load

    spec = sweep.spec_from_dict({
        "base": str(ROOT / "scenarios" / "decree_2020.yaml"), "replications": 6, "seed": 3, "sampler": "grid",
        "parameters": {"events.eid_ceasefire.release_boost": [0.0, 0.6], "events.2.duration_days": [1, 9]},
    }, source="events.yaml")
    done = sweep_runner.sweep(spec, tmp_path / "events", workers=1, figures=False)
    runs = done.runs()
    decree = load(ROOT / "scenarios" / "decree_2020.yaml")
    for (boost, days), group in runs.groupby(["events.eid_ceasefire.release_boost", "events.2.duration_days"]):
        data = decree.model_dump(mode="json")
        data["events"][2].update(release_boost=boost, duration_days=int(days))
        by_hand = runner.run(Scenario.model_validate(data), runs=6, seed=3, series=False).runs
        cols = ["seed", "outcome", "end_day", "government_released", "taliban_released", "final_trust_government"]
        pd.testing.assert_frame_equal(group[cols].reset_index(drop=True), by_hand[cols].reset_index(drop=True))
    assert runs.groupby("point")["government_released"].mean().nunique() > 1  # the event matters


def test_a_sobol_sweep_prints_each_outputs_indices_largest_total_first():
    sobol = pd.DataFrame({"output": ["completed"] * 3,
                          "parameter": ["government.memory", "taliban.initial_trust", "government.initial_trust"],
                          "S1": [-0.0149, 0.479, 0.1687], "S1_conf": [0.0312, 0.1523, 0.1034],
                          "ST": [0.0406, 0.6812, 0.2835], "ST_conf": [0.0232, 0.1208, 0.0999]})
    lines = sweep_runner._sobol_text(sobol)
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == ["taliban.initial_trust", "government.initial_trust", "government.memory"]
    assert rows[0][1:] == ["0.48", "±", "0.15", "0.68", "±", "0.12"]
    assert rows[2][1:4] == ["-0.01", "±", "0.03"]

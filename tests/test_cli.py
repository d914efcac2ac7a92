"""The `swapsim` command end to end, as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from sim.model.outcomes import METRIC_NAMES, OUTCOMES
from sim.model.exchange import SERIES

ROOT = Path(__file__).resolve().parents[1]
DECREE = ROOT / "scenarios" / "decree_2020.yaml"
SWAPSIM = Path(sys.executable).with_name("swapsim")


def swapsim(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = [str(SWAPSIM)] if SWAPSIM.exists() else [sys.executable, "-m", "sim.cli"]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([*exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, a clear message naming what is wrong, and no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    for line in proc.stderr.strip().splitlines():
        assert line.strip(), proc.stderr


@pytest.fixture(scope="module")
def decree_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("run") / "decree"
    proc = swapsim("run", DECREE, "--runs", 24, "--workers", 2, "--seed", 7, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_run_writes_every_output(decree_run):
    out, proc = decree_run
    for name in ("manifest.json", "summary.json", "runs.parquet", "runs.csv", "series.parquet",
                 "outcome_rates.csv", "scenario.yaml"):
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".*partial")), "a staging folder was left behind"
    assert "decree_2020: 24 runs, root seed 7" in proc.stdout
    assert "95% interval" in proc.stdout


def test_manifest_records_how_to_reproduce(decree_run):
    out, _ = decree_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["root_seed"] == 7
    assert manifest["runs"] == 24 and len(manifest["seeds"]) == 24 and len(set(manifest["seeds"])) == 24
    assert manifest["scenario"]["metadata"]["name"] == "decree_2020"
    assert manifest["scenario"]["protocol"]["government_prisoners"] == 5000
    for key in ("python", "mesa", "numpy", "pydantic", "swapsim"):
        assert manifest["versions"][key] != "not installed"
    assert "swapsim run" in manifest["command"] and "--seed 7" in manifest["command"]
    assert manifest["date"].startswith("20")
    assert "figures/releases.png" in manifest["files"]


def test_runs_table_and_series_are_sound(decree_run):
    out, _ = decree_run
    runs = pd.read_parquet(out / "runs.parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(runs["run"]) == list(range(24))
    assert list(runs["seed"]) == manifest["seeds"]
    assert set(METRIC_NAMES) <= set(runs.columns)
    assert set(runs["outcome"]) <= set(OUTCOMES)
    assert ((runs["government_released"] >= 0) & (runs["government_released"] <= 5000)).all()
    csv = pd.read_csv(out / "runs.csv")
    assert len(csv) == 24 and list(csv["seed"]) == list(runs["seed"])

    series = pd.read_parquet(out / "series.parquet")
    assert {"run", "day", "date", *SERIES} <= set(series.columns)
    last_day = series.groupby("run")["day"].max()
    assert (last_day.values == runs["end_day"].values).all()
    assert series["date"].min() == pd.Timestamp("2020-03-01")


def test_summary_rates_have_wilson_intervals(decree_run):
    out, _ = decree_run
    summary = json.loads((out / "summary.json").read_text())
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(summary["outcomes"]) == set(OUTCOMES)
    assert sum(o["count"] for o in summary["outcomes"].values()) == 24
    for name, o in summary["outcomes"].items():
        assert o["count"] == int((runs["outcome"] == name).sum())
        lo, hi = o["ci95"]
        assert 0.0 <= lo <= o["rate"] <= hi <= 1.0
        assert hi - lo > 0.02  # 24 runs cannot pin a rate down


def test_figures_are_readable_pngs(decree_run):
    out, _ = decree_run
    for name in ("releases", "trust", "attacks", "outcomes"):
        path = out / "figures" / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 400 and image.shape[1] > 600
        assert image[..., :3].std() > 0.05, f"{name}.png looks blank"


@pytest.mark.slow
def test_results_do_not_depend_on_workers(decree_run, tmp_path):
    out, _ = decree_run
    proc = swapsim("run", DECREE, "--runs", 24, "--workers", 1, "--seed", 7, "--out", tmp_path / "one")
    assert proc.returncode == 0, proc.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), pd.read_parquet(tmp_path / "one" / "runs.parquet"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "series.parquet"), pd.read_parquet(tmp_path / "one" / "series.parquet")
    )


@pytest.mark.slow
def test_existing_results_are_kept_without_force(decree_run, tmp_path):
    out = tmp_path / "kept"
    assert swapsim("run", DECREE, "--runs", 2, "--out", out).returncode == 0
    before = (out / "runs.parquet").read_bytes()
    proc = swapsim("run", DECREE, "--runs", 3, "--out", out)
    assert_user_error(proc, str(out), "--force")
    assert (out / "runs.parquet").read_bytes() == before
    proc = swapsim("run", DECREE, "--runs", 3, "--out", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == 3


@pytest.mark.slow
def test_default_output_folder_is_named_after_the_scenario(tmp_path):
    proc = swapsim("run", DECREE, "--runs", 1, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results" / "decree_2020" / "summary.json").is_file()


def interruptible(*args: str) -> subprocess.Popen:
    """`swapsim ARGS` in a process that Ctrl-C (SIGINT) interrupts, even when this test process was started with
    SIGINT ignored (as commands started in the background of a non-interactive shell are, and their children)."""
    exe = [str(SWAPSIM)] if SWAPSIM.exists() else [sys.executable, "-m", "sim.cli"]
    return subprocess.Popen([*exe, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(found, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not found():
        assert time.time() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
                                  pytest.param(signal.SIGHUP, marks=pytest.mark.slow)], ids=lambda s: s.name)
def test_interrupted_run_leaves_nothing_half_written(tmp_path, stop):
    out = tmp_path / "interrupted"
    # Many runs, so that it is still running when interrupted on any machine; interrupted once it has started.
    proc = interruptible("run", DECREE, "--runs", 200_000, "--no-series", "--out", out)
    wait_for(lambda: any(tmp_path.glob(".interrupted*")), "the staging folder")
    time.sleep(0.5)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.iterdir()), "staging files were left behind"



@pytest.mark.slow
def test_the_next_command_removes_what_a_killed_one_left(tmp_path):
    """kill -9 leaves a staging folder no process can remove; the next command writing to the same --out
    removes it, and leaves alone the stage of a command still running."""
    out = tmp_path / "killed"
    proc = interruptible("run", DECREE, "--runs", 200_000, "--no-series", "--out", out)
    wait_for(lambda: any(tmp_path.glob(".killed.*.partial")), "the staging folder")
    proc.kill()
    proc.communicate(timeout=60)
    [orphan] = tmp_path.glob(".killed.*.partial")
    running = interruptible("run", DECREE, "--runs", 200_000, "--no-series", "--out", out)
    wait_for(lambda: set(tmp_path.glob(".killed.*.partial")) - {orphan}, "the second command's stage")
    assert not orphan.exists(), "the killed command's stage was kept"
    [live] = tmp_path.glob(".killed.*.partial")
    done = swapsim("run", DECREE, "--runs", 2, "--no-series", "--out", out)
    assert done.returncode == 0, done.stderr
    assert live.exists(), "the stage of a command still running was removed"
    running.send_signal(signal.SIGINT)
    running.communicate(timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed"]
    assert not (out / ".swapsim-owner").exists()

BAD_FILES = {
    "unknown_key.yaml": ("protocol:\n  tranche_sise: 400\n", "protocol.tranche_sise", "unknown key"),
    "out_of_range.yaml": ("government:\n  initial_trust: 1.5\n", "government.initial_trust", "1.5"),
    "wrong_type.yaml": ("protocol:\n  tranche_size: many\n", "protocol.tranche_size", "expected a whole number"),
    "malformed.yaml": ("protocol: [1,\n", "malformed YAML", "line"),
    "inconsistent.yaml": ("protocol:\n  tranche_size: 6000\n", "protocol.tranche_size", "government_prisoners"),
    "late_event.yaml": ("events:\n  - type: ceasefire\n    day: 500\n", "events.0", "horizon"),
    "bad_event.yaml": ("events:\n  - type: truce\n    day: 5\n", "events.0", "unknown event type"),
    "not_a_mapping.yaml": ("- 1\n- 2\n", "expected a mapping", "list"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_scenario_files_get_one_clear_line(tmp_path, name, command):
    text, *fragments = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text)
    proc = swapsim(command, path, *(["--out", tmp_path / "out"] if command == "run" else []))
    assert_user_error(proc, str(path), *fragments)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


SWEEP_SPEC = ROOT / "scenarios" / "sweeps" / "trust_grid.yaml"
CALIBRATION_SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"


@pytest.mark.parametrize("command, path, fragment", [
    (["sweep", "--dry-run"], DECREE, "this is a scenario file, not a sweep spec: run it with `swapsim run`"),
    (["calibrate", "--dry-run"], DECREE, "this is a scenario file, not a calibration spec: run it with `swapsim run`"),
    (["sweep", "--dry-run"], CALIBRATION_SPEC, "this is a calibration spec, not a sweep spec: fit it with "
                                               "`swapsim calibrate`"),
    (["calibrate", "--dry-run"], SWEEP_SPEC, "this is a sweep spec, not a calibration spec: run it with `swapsim sweep`"),
    (["run"], SWEEP_SPEC, "this is a sweep or calibration spec, not a scenario file"),
], ids=["scenario to sweep", "scenario to calibrate", "calibration to sweep", "sweep to calibrate", "spec to run"])
def test_a_file_of_the_wrong_kind_is_named_for_what_it_is(tmp_path, command, path, fragment):
    proc = swapsim(command[0], path, *command[1:], "--out", tmp_path / "out")
    assert_user_error(proc, str(path), fragment)
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()

@pytest.mark.parametrize("args, fragment", [
    (["run", DECREE, "--runs", "0"], "swapsim: argument --runs: must be at least 1, got 0 (see `swapsim run --help`)"),
    (["run"], "swapsim: the following arguments are required: SCENARIO (see `swapsim run --help`)"),
    (["bogus"], "swapsim: argument COMMAND: invalid choice: 'bogus'"),
    ([], "swapsim: the following arguments are required: COMMAND (see `swapsim --help`)"),
])
def test_a_mistake_in_the_command_line_is_one_line(args, fragment):
    proc = swapsim(*args)
    assert_user_error(proc, fragment)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr

@pytest.mark.slow
def test_missing_file(tmp_path):
    assert_user_error(swapsim("run", tmp_path / "nope.yaml"), "nope.yaml", "no such file")
    assert_user_error(swapsim("validate", tmp_path / "nope.yaml"), "nope.yaml", "no such file")


@pytest.mark.parametrize("args,fragment", [
    (["--runs", "0"], "--runs"),
    (["--runs", "many"], "--runs"),
    (["--workers", "-1"], "--workers"),
    (["--seed", "x"], "--seed"),
])
def test_bad_options(args, fragment):
    proc = swapsim("run", DECREE, *args)
    assert_user_error(proc, fragment)


def test_validate_reports_every_file_and_prints_resolved_values(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("taliban:\n  patience_days: 0\n")
    proc = swapsim("validate", DECREE, ROOT / "scenarios" / "high_trust.yaml", bad)
    assert_user_error(proc, "bad.yaml: taliban.patience_days")
    assert "decree_2020.yaml: valid" in proc.stdout and "high_trust.yaml: valid" in proc.stdout
    ok = swapsim("validate", ROOT / "scenarios" / "high_trust.yaml")
    assert ok.returncode == 0
    assert "initial_trust: 0.6" in ok.stdout and "commander_policy: refuse" in ok.stdout


def test_every_bundled_scenario_validates():
    files = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert len(files) >= 7
    proc = swapsim("validate", "-q", *files)
    assert proc.returncode == 0, proc.stderr


def test_schema_is_json_and_parameters_doc_is_current():
    proc = swapsim("schema")
    schema = json.loads(proc.stdout)
    assert schema["additionalProperties"] is False
    assert "protocol" in schema["properties"]
    doc = (ROOT / "docs" / "parameters.md").read_text()
    markdown = swapsim("schema", "--markdown").stdout
    assert markdown == doc, "docs/parameters.md is stale: swapsim schema --markdown > docs/parameters.md"


@pytest.mark.slow
def test_force_never_replaces_a_folder_that_is_not_swapsims(tmp_path):
    precious = tmp_path / "paper"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    for force in ([], ["--force"]):
        proc = swapsim("run", DECREE, "--runs", 1, "--out", precious, *force)
        assert_user_error(proc, str(precious))
    assert (precious / "thesis.tex").read_text() == "years of work"
    proc = swapsim("run", DECREE, "--runs", 1, "--out", ".", "--force", cwd=tmp_path)
    assert_user_error(proc, "working folder")


def test_output_that_cannot_be_written_fails_before_any_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = swapsim("run", DECREE, "--runs", 5000, "--out", blocker / "sub")
    assert_user_error(proc, "cannot write there")


@pytest.mark.parametrize("files,fragment", [
    ({"s.yaml": "calendar:\n  start_date: 2020-02-30\n"}, "malformed YAML"),
    ({"s.yaml": ""}, "s.yaml: empty file"),
    ({"s.yaml": "# only a comment\n"}, "s.yaml: empty file"),
    ({"p.yaml": "metadata: foo\n", "s.yaml": "extends: p.yaml\n"}, "metadata"),
    ({"p.yaml": "- a list\n", "s.yaml": "extends: p.yaml\n"}, "s.yaml: extends 'p.yaml': "),
    ({"s.yaml": "extends: " + "y" * 3000 + "\n"}, "s.yaml: extends: no such file"),
    ({"s.yaml": "base: " + "x" * 3000 + "\nparameters:\n  government.initial_trust: [0.1]\n"},
     "s.yaml: base: no such scenario file"),
], ids=["bad date", "empty", "comment only", "bad parent", "parent not a mapping", "parent name too long",
        "sweep base name too long"])
def test_more_bad_files_get_one_line(tmp_path, files, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    proc = swapsim("validate", tmp_path / "s.yaml")
    assert_user_error(proc, "s.yaml", fragment)


def test_an_empty_parent_is_named(tmp_path):
    (tmp_path / "p.yaml").write_text("")
    (tmp_path / "s.yaml").write_text("extends: p.yaml\n")
    assert_user_error(swapsim("run", tmp_path / "s.yaml", "--out", tmp_path / "out"), "p.yaml: empty file")
    assert not (tmp_path / "out").exists()


def test_compare_reports_every_bad_file(tmp_path):
    (tmp_path / "a.yaml").write_text("bogus: 1\n")
    (tmp_path / "b.yaml").write_text("government:\n  memory: 2\n")
    proc = swapsim("compare", DECREE, tmp_path / "a.yaml", tmp_path / "b.yaml", "--out", tmp_path / "out")
    assert_user_error(proc, "a.yaml: bogus", "b.yaml: government.memory")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_summary_is_strict_json_when_nothing_is_ever_released(tmp_path):
    never = tmp_path / "never.yaml"
    never.write_text("metadata:\n  name: never\ncalendar:\n  horizon_days: 40\n"
                     "government:\n  initial_trust: 0.0\n  prior_weight_days: 1000\n  exploitation_loss: 100\n"
                     "mediator:\n  initial_pressure: 0.0\n  pressure_growth: 0.0\n  guarantee: 0.0\n")
    assert swapsim("run", never, "--runs", 3, "--out", tmp_path / "out").returncode == 0

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    summary = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=refuse)
    assert summary["outcomes"]["deadlocked"]["count"] == 3
    assert summary["metrics"]["first_release_day"]["mean"] is None


def test_sweep_schema_is_printed():
    schema = json.loads(swapsim("schema", "--sweep").stdout)
    assert {"base", "parameters", "sampler", "replications", "seed"} <= set(schema["properties"])


@pytest.mark.parametrize("kind, keys", [("--sweep", ["replications", "sampler"]),
                                        ("--calibration", ["particles", "until"])])
def test_spec_schemas_print_as_markdown_when_asked(kind, keys):
    from sim.model.schema import fields_markdown
    from sim.experiments import calibration_spec, sweep_spec

    text = swapsim("schema", "--markdown", kind).stdout
    model = sweep_spec.SweepSpec if kind == "--sweep" else calibration_spec.CalibrationSpec
    assert text.startswith("# ") and text.rstrip("\n") == fields_markdown(model, text.splitlines()[0][2:]).rstrip("\n")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(model.model_fields)
    for key in keys:
        assert any(row.startswith(f"| `{key}` |") for row in rows)


# ---------------------------------------------------------------- conveniences


def test_version_prints_the_package_version_and_commit():
    from importlib.metadata import version

    proc = swapsim("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"swapsim {version('swapsim')}")
    if (ROOT / ".git").exists():
        assert "(git " in proc.stdout


def test_validate_recognises_sweep_and_calibration_specs(tmp_path):
    sweep = ROOT / "scenarios" / "sweeps" / "commander_policy.yaml"
    calibration = ROOT / "scenarios" / "calibration" / "record_2020.yaml"
    proc = swapsim("validate", "-q", sweep, calibration, DECREE)
    assert proc.returncode == 0, proc.stderr
    assert f"{sweep}: valid sweep spec: 12 points × 200 replications = 2,400 runs" in proc.stdout
    assert f"{calibration}: valid calibration spec: 16 parameters fitted to the record up to 2020-07-31" in proc.stdout
    bad = tmp_path / "bad_sweep.yaml"
    bad.write_text(f"base: {DECREE}\nparameters:\n  government.intial_trust: [0.1]\n")
    assert_user_error(swapsim("validate", bad), "government.intial_trust", "did you mean 'government.initial_trust'")


def test_every_command_that_runs_the_model_has_the_same_workers_default():
    from sim.cli import build_parser
    from sim.experiments.pool import default_workers

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("run", "compare", "sweep", "calibrate", "forecast"):
        workers = next(a for a in commands[name]._actions if "--workers" in a.option_strings)
        assert workers.default is None, name  # None: every core this process may use
        assert f"{default_workers()} here" in workers.help, name
    helps = {action.dest: action.help for action in parser._subparsers._group_actions[0]._choices_actions}
    assert set(helps) == set(commands) and all(helps.values()), "every subcommand has a line in --help"


@pytest.mark.slow
def test_one_run_reads_one_run(tmp_path):
    proc = swapsim("run", DECREE, "--runs", 1, "--out", tmp_path / "one", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "decree_2020: 1 run, root seed" in proc.stdout and "1 runs" not in proc.stdout


def test_written_to_lists_only_what_was_written(tmp_path):
    proc = swapsim("run", DECREE, "--runs", 5, "--no-series", "--out", tmp_path / "bare", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert f"written to {tmp_path / 'bare'}/ (summary.json, runs.parquet, figures/)" in proc.stdout
    assert not (tmp_path / "bare" / "series.parquet").exists()
    # --no-series skips the time-series figures only, as its help says
    assert sorted(p.name for p in (tmp_path / "bare" / "figures").iterdir()) == ["outcomes.png"]


@pytest.mark.parametrize("args, fragments", [
    (["compare", DECREE, DECREE, "--runs", 10**12, "--out", "out"], ["2,000,000,000,000 runs need up to", "on disk"]),
    (["compare", DECREE, DECREE, "--runs", 10**8, "--out", "out"], ["200,000,000 runs need"]),
    (["sweep", ROOT / "scenarios" / "sweeps" / "trust_grid.yaml", "--replications", 10**12, "--dry-run"],
     ["replications: must be at most 100000"]),
    (["sweep", ROOT / "scenarios" / "sweeps" / "trust_grid.yaml", "--replications", 10**12, "--out", "out"],
     ["replications: must be at most 100000"]),
])
def test_every_command_checks_its_size_before_it_starts(tmp_path, args, fragments):
    """What cannot fit is refused in one line, before any run, and nothing is written."""
    started = time.monotonic()
    assert_user_error(swapsim(*args, cwd=tmp_path, timeout=60), *fragments)
    assert time.monotonic() - started < 30  # refused at once, not after a run (a loose bound: machines are noisy)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_empty_existing_out_folder_is_used(tmp_path):
    """An empty folder given with --out is filled, for run and compare alike, not refused after the runs."""
    for command in (["run", DECREE], ["compare", DECREE, ROOT / "scenarios" / "high_trust.yaml"]):
        out = tmp_path / command[0]
        out.mkdir()
        proc = swapsim(*command, "--runs", 5, "--workers", 1, "--out", out)
        assert proc.returncode == 0, proc.stderr
        assert (out / "runs.parquet").is_file()


def test_messages_name_what_the_user_named_not_partial_files():
    from sim.experiments.storage import public_path

    assert public_path("/r/.out.ab_cd123.partial/.runs.parquet.x1y2z3w4.tmp") == "/r/out/runs.parquet"
    assert public_path("results/x.yaml") == "results/x.yaml"


def test_discover_refuses_its_out_before_it_computes(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    started = time.monotonic()
    proc = swapsim("discover", ROOT / "scenarios", "--outcome", "deadlocked", "--out", afile)
    assert_user_error(proc, f"{afile}: exists and is not a folder")
    assert time.monotonic() - started < 30


def test_discover_names_a_misspelt_outcome_with_the_one_meant(tmp_path):
    proc = swapsim("discover", ROOT / "scenarios", "--outcome", "deadlok,colapsed", "--out", tmp_path / "d")
    assert_user_error(proc)
    assert proc.stderr.strip() == (
        "swapsim: --outcome deadlok,colapsed: unknown outcome 'deadlok' (did you mean 'deadlocked'?); unknown outcome "
        "'colapsed' (did you mean 'collapsed'?); choose one or more of completed, collapsed, deadlocked, partial")
    assert_user_error(swapsim("discover", ROOT / "scenarios", "--outcome", ","), "--outcome ,: no outcome given")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("change, fragments", [
    (lambda t: t.replace("until: 2020-07-31\n", ""), ["until: required"]),
    (lambda t: t.replace("until: 2020-07-31\n", "untill: 2020-07-31\n"), ["until: required", "did you mean 'until'"]),
])
def test_a_calibration_spec_without_until_is_still_judged_as_one(tmp_path, change, fragments):
    source = ROOT / "scenarios" / "calibration"
    for name in ("record_2020.yaml", "record_2020_base.yaml"):
        (tmp_path / name).write_text((source / name).read_text().replace("../decree_2020.yaml",
                                                                          str(ROOT / "scenarios" / "decree_2020.yaml")))
    spec = tmp_path / "record_2020.yaml"
    spec.write_text(change(spec.read_text()))
    proc = swapsim("validate", "-q", spec)
    assert_user_error(proc, *fragments)
    assert len(proc.stderr.strip().splitlines()) == len(fragments)


def test_one_bad_value_in_a_list_is_one_line_and_long_values_are_cut(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"base: {DECREE}\nparameters:\n  government.initial_trust: [0.1, {{a: 1}}, 0.3]\n")
    proc = swapsim("validate", "-q", spec)
    assert_user_error(proc, "parameters.government.initial_trust.1: expected")
    assert len(proc.stderr.strip().splitlines()) == 1
    spec.write_text("government:\n  initial_trust: " + "y" * 20_000 + "\n")
    proc = swapsim("validate", "-q", spec)
    assert_user_error(proc, "government.initial_trust")
    assert len(proc.stderr) < 400


def _session(sid: int) -> list[str]:
    """The processes of session `sid` still running (zombies are gone already, as far as memory goes)."""
    table = subprocess.run(["ps", "-eo", "pid,sid,stat"], capture_output=True, text=True).stdout.splitlines()[1:]
    return [row for row in table if row.split()[1] == str(sid) and not row.split()[2].startswith("Z")]


@pytest.mark.slow
def test_workers_exit_when_their_command_is_killed(tmp_path):
    """kill -9 of a command leaves no worker, forkserver or resource tracker holding memory behind."""
    exe = [str(SWAPSIM)] if SWAPSIM.exists() else [sys.executable, "-m", "sim.cli"]
    proc = subprocess.Popen([*exe, "run", str(DECREE), "--runs", "200000", "--workers", "2", "--no-series", "--out",
                             str(tmp_path / "out")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for(lambda: len(_session(proc.pid)) >= 4, "the workers' start")  # command, server, tracker, 2 workers
    proc.kill()
    proc.wait()
    wait_for(lambda: not _session(proc.pid), "the workers' exit", timeout=20)


def test_a_control_character_in_a_key_stays_inside_its_one_line(tmp_path):
    """str.splitlines breaks at \\x1e and \\x85 too: a key holding one is shown by its escape."""
    path = tmp_path / "rs.yaml"
    path.write_text('government:\n  "\\x1E": 0\n  "a\\x85b": 1\n')
    proc = swapsim("validate", path)
    assert_user_error(proc, "government.\\x1e: unknown key", "government.a\\x85b: unknown key")
    assert len(proc.stderr.splitlines()) == 2 and all(line.startswith("swapsim: ") for line in proc.stderr.splitlines())


def test_every_command_that_runs_a_scenario_many_times_has_one_default_run_count():
    """One default for the batch commands; the dashboard, which reruns its ensemble on every slider change, half of
    it, and says so."""
    from sim import DEFAULT_RUNS
    from sim.cli import build_parser

    parser = build_parser()
    commands = [["run", "s.yaml"], ["compare", "a.yaml", "b.yaml"], ["forecast", "fit", "--until", "2020-09-30"]]
    assert {parser.parse_args(words).runs for words in commands} == {DEFAULT_RUNS} == {1000}
    assert parser.parse_args(["dashboard"]).runs == DEFAULT_RUNS // 2
    help_text = swapsim("dashboard", "--help").stdout
    assert "half the 1,000 of the other commands" in " ".join(help_text.split())


@pytest.mark.parametrize("words, name, expected", [
    (["run", "s.yaml"], "decree_2020", "results/decree_2020"),
    (["run", "s.yaml", "--posterior", "fit"], "decree_2020", "results/decree_2020-posterior"),
    (["compare", "a.yaml", "b.yaml", "--posterior", "fit"], "compare_a_vs_b", "results/compare_a_vs_b-posterior"),
    (["sweep", "g.yaml", "--posterior", "fit"], "grid", "results/grid-posterior"),
    (["run", "s.yaml", "--posterior", "fit", "--out", "mine"], "decree_2020", "mine"),
])
def test_runs_drawn_from_a_posterior_never_share_the_default_folder_of_runs_without(words, name, expected):
    from sim.cli import _out, build_parser

    assert _out(build_parser().parse_args(words), name) == Path(expected)

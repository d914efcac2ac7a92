"""Fuzzing the inputs: mutated scenario files, sweep specs and calibration specs, and hostile command lines, end
valid or refused in one clear line each (exit 2), never in a traceback or a hang. The larger run, with counts,
is benchmarks/fuzz_inputs.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import cli

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "scenario": ROOT / "scenarios" / "decree_2020.yaml",
    "sweep": ROOT / "scenarios" / "sweeps" / "trust_grid.yaml",
    "calibration": ROOT / "scenarios" / "calibration" / "record_2020.yaml",
}
SWAPSIM = Path(sys.executable).with_name("swapsim")


def source(kind: str) -> dict:
    path = SOURCES[kind]
    data = yaml.safe_load(path.read_text())
    for key in ("base", "extends"):
        if isinstance(data.get(key), str):
            data[key] = str((path.parent / data[key]).resolve())
    return json.loads(json.dumps(data, default=str))


def paths_of(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        yield from paths_of(value, (*prefix, key))


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from(["2020-13-01", "1e400", "x" * 1000, "../../etc/passwd", "-0", ".nan"]),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=1) | st.dictionaries(st.just("k"), inner,
                                                                                              max_size=1),
                 max_leaves=40),
)


@st.composite
def mutated(draw, kind: str) -> str:
    data = source(kind)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in paths_of(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "delete", "rename"]))
        if op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "rename" and isinstance(parent, dict):
            parent[f"{path[-1]}{draw(st.sampled_from(['_', 's', 'x']))}"] = parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(HOSTILE)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) and draw(st.booleans()) else text


def validate_in_process(path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["validate", "-q", str(path)])
    return code, err.getvalue()


def assert_valid_or_refused(code: int, stderr: str, name: str) -> None:
    assert "Traceback" not in stderr
    if code == 0:
        return
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert lines, "a refusal must say why"
    for line in lines:
        assert line.startswith("swapsim: ") and name in line and len(line) <= 400, line


def _check(kind: str, text: str, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp(kind) / f"{kind}.yaml"
    path.write_text(text)
    assert_valid_or_refused(*validate_in_process(path), str(path))


FILES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FILES
@given(text=mutated("scenario"))
@pytest.mark.slow
def test_a_mutated_scenario_is_valid_or_refused_in_clear_lines(tmp_path_factory, text):
    _check("scenario", text, tmp_path_factory)


@FILES
@given(text=mutated("sweep"))
def test_a_mutated_sweep_spec_is_valid_or_refused_in_clear_lines(tmp_path_factory, text):
    _check("sweep", text, tmp_path_factory)


@FILES
@given(text=mutated("calibration"))
def test_a_mutated_calibration_spec_is_valid_or_refused_in_clear_lines(tmp_path_factory, text):
    _check("calibration", text, tmp_path_factory)


NUMBERS = st.sampled_from(["-1", "0", "nan", "inf", "1e12", "99999999999999999999", "abc", "", "0x10", "2"])
PLACES = st.sampled_from(["/", "/proc/self", "/etc/passwd", "no/such/place", "", "x" * 300, "out"])


@st.composite
def command_line(draw) -> list[str]:
    decree, grid = str(SOURCES["scenario"]), str(SOURCES["sweep"])
    options = {
        "run": ([decree], ["--runs", "--seed", "--workers", "--lanes", "--out"]),
        "compare": ([decree, decree], ["--runs", "--precision", "--max-runs", "--out"]),
        "sweep": ([grid, "--dry-run"], ["--replications", "--seed", "--workers"]),
        "forecast": ([draw(PLACES)], ["--until", "--runs", "--out"]),
        "calibrate": ([draw(st.sampled_from(["/etc/passwd", "/dev/null", "none.yaml", decree]))], ["--out"]),
        "discover": ([draw(PLACES)], ["--outcome", "--min-rate", "--out"]),
        "export-ema": ([draw(PLACES)], ["--out"]),
        "score": ([draw(PLACES)], ["--after", "--out"]),
    }
    name = draw(st.sampled_from(sorted(options)))
    positional, names = options[name]
    argv = [name, *positional]
    for option in names:
        if draw(st.booleans()):
            value = draw(PLACES) if option == "--out" else draw(NUMBERS)
            argv += [option, value]
    if name in ("run", "compare"):
        argv += ["--runs", "3"] if "--runs" not in argv else []
    return argv


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(argv=command_line())
@pytest.mark.slow
def test_a_hostile_command_line_is_done_or_refused_in_clear_lines(tmp_path, argv):
    exe = [str(SWAPSIM)] if SWAPSIM.exists() else [sys.executable, "-m", "sim.cli"]
    done = subprocess.run([*exe, *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert "Traceback" not in done.stderr, (argv, done.stderr)
    assert done.returncode in (0, 2), (argv, done.returncode, done.stderr)
    if done.returncode == 2:
        lines = done.stderr.strip().splitlines()
        assert lines and all(line.startswith("swapsim: ") for line in lines), done.stderr

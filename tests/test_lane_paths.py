"""Every path gives the same tables whatever the batch size: `--lanes 1` (one run at a time) against the default,
for `swapsim run` over every shipped scenario, and for sweeps and comparisons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.experiments import comparisons
from sim.experiments import sweep_spec
from sim.model.scenario import load
from sim.reports import results, sweep

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SWAPSIM = Path(sys.executable).with_name("swapsim")


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(folder / name) for name in ("runs.parquet", "series.parquet")}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
@pytest.mark.slow
def test_run_folders_are_identical_with_one_lane_and_with_many(path, tmp_path):
    scenario = load(path)
    one = results.run_to_folder(scenario, tmp_path / "one", runs=10, seed=3, lanes=1, figures=False)
    many = results.run_to_folder(scenario, tmp_path / "many", runs=10, seed=3, figures=False)
    assert one == many
    for name, frame in tables(tmp_path / "one").items():
        assert frame.equals(tables(tmp_path / "many")[name]), name


@pytest.mark.slow
def test_the_command_line_gives_the_same_files_with_lanes_1(tmp_path):
    decree = ROOT / "scenarios" / "decree_2020.yaml"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for name, extra in (("one", ["--lanes", "1"]), ("many", ["--workers", "2"])):
        subprocess.run([str(SWAPSIM), "run", str(decree), "--runs", "12", "--out", str(tmp_path / name), *extra],
                       check=True, capture_output=True, env=env, timeout=300)
    for name, frame in tables(tmp_path / "one").items():
        assert frame.equals(tables(tmp_path / "many")[name]), name


@pytest.mark.slow
def test_sweeps_are_identical_with_one_lane_and_with_many(tmp_path):
    spec = sweep_spec.spec_from_dict({
        "name": "lanes", "base": "scenarios/decree_2020.yaml", "replications": 4, "seed": 2,
        "parameters": {"government.initial_trust": [0.3, 0.6], "protocol.commander_policy": ["refuse", "first_batch"]},
    }, source="lanes.yaml", folder=ROOT)
    one = sweep.sweep(spec, tmp_path / "one", workers=1, lanes=1, figures=False)
    many = sweep.sweep(spec, tmp_path / "many", workers=1, figures=False)
    assert one.runs().equals(many.runs())
    assert one.points.equals(many.points)


@pytest.mark.slow
def test_comparisons_are_identical_with_one_lane_and_with_many():
    scenarios = [load(ROOT / "scenarios" / "decree_2020.yaml"), load(ROOT / "scenarios" / "commanders_first.yaml")]
    one = comparisons.compare(scenarios, runs=8, seed=4, lanes=1)
    many = comparisons.compare(scenarios, runs=8, seed=4)
    assert one.runs.equals(many.runs)

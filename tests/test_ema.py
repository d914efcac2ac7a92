"""EMA Workbench interoperability, with the real EMA Workbench: swapsim as an EMA model, a sweep as EMA's results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ema_workbench = pytest.importorskip("ema_workbench")

from ema_workbench import (  # noqa: E402
    BooleanParameter,
    CategoricalParameter,
    IntegerParameter,
    MultiprocessingEvaluator,
    RealParameter,
    Samplers,
    SequentialEvaluator,
    load_results,
)
from ema_workbench.analysis import feature_scoring, prim  # noqa: E402

from sim import ema  # noqa: E402
from sim.experiments import runs  # noqa: E402
from sim.model.outcomes import OUTCOMES  # noqa: E402
from sim.model.scenario import ScenarioError, keyword, resolve, with_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

UNCERTAINTIES = {
    "government.initial_trust": (0.2, 0.7),
    "taliban.memory": (0.9, 0.995),
    "protocol.commander_policy": ["refuse", "first_batch", "verify_only"],
}
ROOT_SEED = 7
REPLICATIONS = 10
SAMPLING = {"rng": 5}  # EMA's Latin hypercube, seeded: the same 8 parameter sets on every call


def perform(model, scenarios: int = 8, evaluator=SequentialEvaluator, **kwargs):
    with evaluator(model, **kwargs) as ev:
        return ev.perform_experiments(scenarios=scenarios, uncertainty_sampling_kwargs=SAMPLING)


@pytest.fixture(scope="module")
def model():
    return ema.ema_model("decree_2020", UNCERTAINTIES, replications=REPLICATIONS, seed=ROOT_SEED)


@pytest.fixture(scope="module")
def results(model):
    return perform(model)


# ---------------------------------------------------------------- swapsim as an EMA model


def test_experiments_name_parameters_by_keyword_like_ema_own(results):
    experiments, outcomes = results
    assert list(experiments.columns) == [keyword(p) for p in UNCERTAINTIES] + ["scenario", "policy", "model"]
    assert len(experiments) == 8
    assert experiments["government__initial_trust"].between(0.2, 0.7).all()
    assert experiments["taliban__memory"].between(0.9, 0.995).all()
    policy = experiments["protocol__commander_policy"]
    assert isinstance(policy.dtype, pd.CategoricalDtype)
    assert set(policy) <= {"refuse", "first_batch", "verify_only"} and policy.nunique() > 1
    assert set(experiments["model"]) == {"swapsim"}
    assert list(outcomes) == [*OUTCOMES, *ema.DEFAULT_METRICS]
    assert all(values.shape == (8,) for values in outcomes.values())
    rates = np.column_stack([outcomes[name] for name in OUTCOMES])
    assert ((rates >= 0) & (rates <= 1)).all() and np.allclose(rates.sum(axis=1), 1)
    assert np.allclose(rates * REPLICATIONS, np.round(rates * REPLICATIONS))  # shares of 10 runs


@pytest.mark.slow
def test_each_experiment_is_its_runs_with_the_replicate_seeds(results):
    experiments, outcomes = results
    base = resolve("decree_2020")
    for i, row in experiments.iterrows():
        values = {path: row[keyword(path)] for path in UNCERTAINTIES}
        values = {path: v.item() if isinstance(v, np.generic) else v for path, v in values.items()}
        table = runs.run(with_overrides(base, values), runs=REPLICATIONS, seed=ROOT_SEED, series=False).runs
        for name in OUTCOMES:
            assert outcomes[name][i] == (table["outcome"] == name).mean(), (i, name)
        for name in ("end_day", "government_released", "taliban_released", "walkouts"):
            assert outcomes[name][i] == table[name].mean(), (i, name)


@pytest.mark.slow
def test_same_inputs_same_outcomes_in_any_evaluator(model, results):
    experiments, outcomes = results
    again_experiments, again = perform(model)
    pd.testing.assert_frame_equal(experiments.drop(columns="scenario"), again_experiments.drop(columns="scenario"))
    assert all(np.array_equal(outcomes[k], again[k], equal_nan=True) for k in outcomes)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # EMA's fork pool
def test_a_process_pool_gives_the_same_outcomes(model, results):
    experiments, outcomes = results
    pooled_experiments, pooled = perform(model, evaluator=MultiprocessingEvaluator, n_processes=2)
    pd.testing.assert_frame_equal(experiments.drop(columns="scenario"), pooled_experiments.drop(columns="scenario"))
    assert all(np.array_equal(outcomes[k], pooled[k], equal_nan=True) for k in outcomes)


def test_parameters_follow_the_field_type():
    made = {p.name: p for p in ema.ema_parameters({
        "government.initial_trust": (0, 1),
        "protocol.tranche_size": (100, 800),
        "protocol__commander_policy": None,  # a keyword works as well as a dotted path
        "verification.enabled": None,
        "spoilers.attack_rate": [0.5, 1, 2],
    })}
    assert isinstance(made["government__initial_trust"], RealParameter)
    assert isinstance(made["protocol__tranche_size"], IntegerParameter)
    assert [c.value for c in made["protocol__commander_policy"].categories] == \
        ["refuse", "first_batch", "verify_only", "after_fraction"]
    assert isinstance(made["verification__enabled"], BooleanParameter)
    assert isinstance(made["spoilers__attack_rate"], CategoricalParameter)
    assert [c.value for c in made["spoilers__attack_rate"].categories] == [0.5, 1.0, 2.0]
    assert made["government__initial_trust"].variable_name == ["government.initial_trust"]
    default = ema.ema_model()
    assert [p.variable_name[0] for p in default.uncertainties] == list(ema.DEFAULT_UNCERTAINTIES)


def test_parameter_mistakes_are_named_one_line_each():
    with pytest.raises(ScenarioError) as err:
        ema.ema_parameters({"government.intial_trust": (0, 1), "government.memory": (0.5, 1.5),
                            "protocol.commander_policy": ["refuse", "hand_over"], "spoilers.attack_rate": (2, 1)})
    lines = err.value.problems
    assert len(lines) == 4, lines
    assert "government.intial_trust" in lines[0] and "government.initial_trust" in lines[0]
    assert "government.memory" in lines[1]
    assert "protocol.commander_policy" in lines[2]
    assert "spoilers.attack_rate" in lines[3] and "low < high" in lines[3]
    with pytest.raises(ValueError, match="replications"):
        ema.ema_model(replications=0)
    with pytest.raises(ValueError, match="identifier"):
        ema.ema_model(name="swap sim")


# ---------------------------------------------------------------- a sweep as EMA's results tarball

GRID = {
    "protocol.commander_policy": ["refuse", "first_batch"],
    "government.initial_trust": [0.3, 0.6],
}
SWEEP_SEED = 11


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A real small sweep, made with the CLI."""
    folder = tmp_path_factory.mktemp("sweep")
    spec = folder / "grid.yaml"
    spec.write_text(json.dumps({"name": "ema_grid", "base": str(ROOT / "scenarios" / "decree_2020.yaml"),
                                "parameters": GRID, "sampler": "grid", "replications": REPLICATIONS,
                                "seed": SWEEP_SEED}), encoding="utf-8")
    out = folder / "out"
    done = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(spec), "--out", str(out), "--workers", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def exported(sweep_dir, tmp_path_factory) -> tuple[Path, pd.DataFrame, dict[str, np.ndarray]]:
    path = ema.export_sweep(sweep_dir, tmp_path_factory.mktemp("export") / "grid.tar.gz")
    return path, *load_results(str(path))


def test_load_results_gives_back_the_runs(sweep_dir, exported):
    path, experiments, outcomes = exported
    table = pd.read_parquet(sweep_dir / "runs.parquet")
    assert len(table) == 4 * REPLICATIONS and len(experiments) == len(table)
    assert list(experiments.columns) == [*GRID, "scenario", "policy", "model"]
    policy = experiments["protocol.commander_policy"]
    pd.testing.assert_series_equal(policy, table["protocol.commander_policy"].astype("category"))
    assert list(policy.cat.categories) == ["first_batch", "refuse"]  # sorted, as EMA's own categories come back
    assert experiments["government.initial_trust"].dtype == np.float64
    assert np.array_equal(experiments["government.initial_trust"], table["government.initial_trust"])
    assert np.array_equal(experiments["scenario"].astype(np.int64), table["point"])
    assert set(experiments["model"]) == {"swapsim"}
    assert list(outcomes) == [*OUTCOMES, *ema.DEFAULT_METRICS]
    for name in OUTCOMES:
        assert np.array_equal(outcomes[name], (table["outcome"] == name).astype(np.int64)), name
    for name in ema.DEFAULT_METRICS:
        assert outcomes[name].shape == (len(table),)
        assert np.array_equal(outcomes[name], table[name].to_numpy(), equal_nan=True), name
    again = ema.sweep_results(sweep_dir)  # what was written is what sweep_results gives
    assert np.array_equal(again[0]["government.initial_trust"], experiments["government.initial_trust"])


def test_the_model_over_the_same_grid_gives_each_points_mean(exported):
    """EMA's full factorial design over the sweep's grid, on the model with the sweep's root seed: each
    experiment's rates and means are the mean over that point's exported runs."""
    _, experiments, outcomes = exported
    model = ema.ema_model("decree_2020", GRID, replications=REPLICATIONS, seed=SWEEP_SEED, name="grid")
    with SequentialEvaluator(model) as ev:
        design, result = ev.perform_experiments(scenarios=4, uncertainty_sampling=Samplers.FF)
    assert len(design) == 4
    points = experiments[list(GRID)].astype(object).apply(tuple, axis=1)
    for i, row in design.iterrows():
        rows = (points == tuple(row[keyword(path)] for path in GRID)).to_numpy()
        assert rows.sum() == REPLICATIONS
        for name in (*OUTCOMES, "end_day", "taliban_released", "final_trust_government"):
            assert result[name][i] == pytest.approx(outcomes[name][rows].mean(), rel=1e-12, abs=1e-12), (i, name)


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop is deprecated")  # inside EMA's Prim
def test_ema_analysis_accepts_the_export(exported):
    _, experiments, outcomes = exported
    x = experiments[list(GRID)]
    broken = outcomes["deadlocked"].astype(bool) | outcomes["collapsed"].astype(bool)
    box = prim.Prim(x, broken).find_box()  # EMA 3.0's Prim takes no threshold
    assert box is not None and len(box.peeling_trajectory) >= 1
    scores = feature_scoring.get_feature_scores_all(x, {name: outcomes[name] for name in OUTCOMES})
    assert set(scores.index) == set(GRID) and set(scores.columns) == set(OUTCOMES)


def test_a_failed_run_has_nan_outcomes_as_ema_leaves_a_failed_experiment(tmp_path, sweep_dir):
    folder = tmp_path / "with_failure"
    folder.mkdir()
    (folder / "sweep.json").write_bytes((sweep_dir / "sweep.json").read_bytes())
    table = pd.read_parquet(sweep_dir / "runs.parquet")
    table[list(ema.DEFAULT_METRICS)] = table[list(ema.DEFAULT_METRICS)].astype(float)
    table.loc[3, ["outcome", "error"]] = ["error", "RuntimeError: boom"]
    table.loc[3, list(ema.DEFAULT_METRICS)] = np.nan
    table.to_parquet(folder / "runs.parquet", index=False)
    path = ema.export_sweep(folder, tmp_path / "f.tar.gz")
    experiments, outcomes = load_results(str(path))
    assert len(experiments) == len(table)
    assert all(np.isnan(values[3]) for values in outcomes.values())
    others = np.arange(len(table)) != 3
    for name in OUTCOMES:
        assert np.array_equal(outcomes[name][others], (table["outcome"] == name).to_numpy()[others]), name
    for name in ema.DEFAULT_METRICS:
        assert np.array_equal(outcomes[name][others], table[name].to_numpy()[others], equal_nan=True), name


def test_export_refuses_what_is_not_a_finished_sweep(tmp_path, sweep_dir):
    target = tmp_path / "out.tar.gz"
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    (unfinished / "sweep.json").write_text(json.dumps({**manifest, "complete": False}))
    (tmp_path / "empty").mkdir()
    for folder, words in ((tmp_path / "missing", "no such folder"), (tmp_path / "empty", "not a sweep folder"),
                          (unfinished, "not finished")):
        with pytest.raises(ema.NotASweep) as err:
            ema.export_sweep(folder, target)
        message = str(err.value)
        assert isinstance(err.value, ValueError)
        assert "\n" not in message and str(folder) in message and words in message, message
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "unfinished"]


def test_export_never_leaves_a_partial_file(tmp_path, sweep_dir, monkeypatch):
    target = tmp_path / "grid.tar.gz"
    target.write_bytes(b"the previous export")
    real = ema_workbench.save_results

    def interrupted(results, file_name):
        real(results, file_name)
        raise KeyboardInterrupt

    monkeypatch.setattr(ema_workbench, "save_results", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ema.export_sweep(sweep_dir, target)
    assert target.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.tar.gz"]  # no temporary file left beside it

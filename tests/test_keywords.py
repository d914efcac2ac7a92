"""The model built from keywords alone, as Mesa's tools build it: parameter keywords (the dotted path
with `__` for each dot), bundled scenarios by name, their errors, and `mesa.batch_run` giving the very
numbers `swapsim run` gives."""

from __future__ import annotations

import inspect
import multiprocessing
import subprocess
import sys
from pathlib import Path

import mesa
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.model.exchange import SERIES, ExchangeModel
from sim.model.scenario import (BUNDLED, Scenario, ScenarioError, bundled_names, keyword, load,
                                overrides_from_keywords, parameter_fields, path_of, resolve, with_overrides)

ROOT = Path(__file__).resolve().parents[1]
DECREE = ROOT / "scenarios" / "decree_2020.yaml"


def assert_same_runs(a: ExchangeModel, b: ExchangeModel) -> None:
    """Same metrics, every float bit included (NaN equals NaN), and the same daily series."""
    pd.testing.assert_frame_equal(a.run(), b.run(), check_exact=True)
    pd.testing.assert_frame_equal(a.series(), b.series(), check_exact=True)


@pytest.fixture
def batch_run():
    """`mesa.batch_run`, with the process start method put back afterwards (batch_run forces "spawn")."""
    before = multiprocessing.get_start_method(allow_none=True)
    yield mesa.batch_run
    multiprocessing.set_start_method(before, force=True)


# --------------------------------------------------------------------------------------
# Keyword names.

def test_every_parameter_has_a_keyword_that_leads_back_to_its_path():
    paths = list(parameter_fields())
    keywords = [keyword(path) for path in paths]
    for path, kw in zip(paths, keywords):
        assert path_of(kw) == path
        assert kw.isidentifier() and "." not in kw, kw
        assert kw == path.replace(".", "__")
    assert len(set(keywords)) == len(paths), "two parameters share a keyword"
    assert keyword("protocol.conditions.max_attacks_per_day") == "protocol__conditions__max_attacks_per_day"
    assert path_of("government__initial_trust") == "government.initial_trust"


def test_no_keyword_is_taken_by_the_model_or_by_mesa():
    """A parameter keyword never shadows one of ExchangeModel's own arguments (batch_run passes `seed`)."""
    own = {name for name, p in inspect.signature(ExchangeModel).parameters.items() if p.kind != p.VAR_KEYWORD}
    assert {"scenario", "seed", "rng", "overrides", "collect"} <= own
    assert not own & {keyword(path) for path in parameter_fields()}
    assert "seed" in inspect.signature(ExchangeModel).parameters  # so batch_run seeds through `seed`


def test_overrides_from_keywords_maps_keywords_to_paths_in_order():
    given = {"protocol__commander_policy": "first_batch", "government__initial_trust": 0.3,
             "protocol__conditions__max_attacks_per_day": 5}
    assert overrides_from_keywords(given) == {"protocol.commander_policy": "first_batch",
                                              "government.initial_trust": 0.3,
                                              "protocol.conditions.max_attacks_per_day": 5}
    assert list(overrides_from_keywords(given)) == [path_of(kw) for kw in given]
    assert overrides_from_keywords({}) == {}


# --------------------------------------------------------------------------------------
# Errors: one line each, naming the keyword or the path.

def one_line_error(call) -> str:
    with pytest.raises(ScenarioError) as err:
        call()
    assert len(err.value.problems) == 1, err.value.problems
    line = err.value.problems[0]
    assert "\n" not in line and line.strip() == line
    return line


def test_an_unknown_keyword_is_named_with_what_it_likely_meant():
    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, government__initial_trus=0.3))
    assert line.startswith("ExchangeModel: government__initial_trus: unknown parameter; ")
    assert "did you mean 'government__initial_trust'?" in line

    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, initial_trust=0.3))
    assert "initial_trust: unknown parameter; did you mean 'government__initial_trust' or " \
           "'taliban__initial_trust'?" in line

    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, **{"government.initial_trust": 0.3}))
    assert "government.initial_trust: unknown parameter; did you mean 'government__initial_trust'?" in line

    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, zebra=3))
    assert line.startswith("ExchangeModel: zebra: unknown parameter; check the spelling")


def test_every_unknown_keyword_gets_its_own_line():
    with pytest.raises(ScenarioError) as err:
        overrides_from_keywords({"zebra": 1, "government__initial_trust": 0.3, "spoilers__atack_rate": 2},
                                source="mine")
    assert err.value.problems == [
        "mine: zebra: unknown parameter; check the spelling (`swapsim schema --markdown` lists every keyword)",
        "mine: spoilers__atack_rate: unknown parameter; did you mean 'spoilers__attack_rate'? "
        "(`swapsim schema --markdown` lists every keyword)",
    ]


def test_a_value_out_of_range_is_caught_by_the_schema_at_its_path():
    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, government__initial_trust=1.5))
    assert line == "ExchangeModel: government.initial_trust: must be at most 1.0 (got 1.5)"

    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, protocol__commander_policy="never"))
    assert line.startswith("ExchangeModel: protocol.commander_policy: ")
    assert "expected one of refuse, first_batch" in line

    line = one_line_error(lambda: ExchangeModel("decree_2020", 1, protocol__upfront_batch=6000))
    assert line == "ExchangeModel: protocol.upfront_batch: is more than protocol.government_prisoners"


def test_a_bad_scenario_name_lists_the_bundled_ones():
    line = one_line_error(lambda: ExchangeModel("decree_2021", 1))
    assert line == ("decree_2021: no such scenario: not a file, nor one of the bundled commanders_first, "
                    "decree_2020, doha_unconditional, high_trust, no_us_pressure, spoiler_surge, verification_only")
    assert one_line_error(lambda: resolve("nowhere/decree_2020.yaml")) == "nowhere/decree_2020.yaml: no such file"
    assert "expected a Scenario" in one_line_error(lambda: ExchangeModel(3, 1))


def test_a_bad_scenario_file_is_named_with_its_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("government:\n  initial_trust: 2\n")
    assert one_line_error(lambda: ExchangeModel(str(bad), 1)) == \
        f"{bad}: government.initial_trust: must be at most 1.0 (got 2)"


# --------------------------------------------------------------------------------------
# Bundled scenarios by name.

def test_bundled_names_are_the_shipped_files():
    assert BUNDLED == ROOT / "scenarios"
    assert bundled_names() == sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert {"decree_2020", "commanders_first", "doha_unconditional", "high_trust", "no_us_pressure",
            "spoiler_surge", "verification_only"} <= set(bundled_names())


@pytest.mark.parametrize("name", bundled_names())
def test_a_bundled_name_loads_its_file(name):
    assert resolve(name) == load(BUNDLED / f"{name}.yaml")
    assert resolve(name).metadata.name == name


def test_resolve_takes_scenarios_paths_and_none():
    s = Scenario(government={"initial_trust": 0.5})
    assert resolve(s) is s
    assert resolve(None) == load(DECREE)
    assert resolve(DECREE) == load(DECREE) == resolve(str(DECREE))


def test_the_default_scenario_is_the_decree_and_none_keeps_the_schema_defaults():
    assert_same_runs(ExchangeModel(seed=11), ExchangeModel(load(DECREE), 11))
    assert_same_runs(ExchangeModel(None, 11), ExchangeModel(Scenario(), 11))
    assert load(DECREE) != Scenario()  # so the two checks above tell the defaults apart


# --------------------------------------------------------------------------------------
# Keywords give the run that dotted overrides give.

@pytest.mark.parametrize("seed", [0, 7, 2**62 + 3])
def test_keywords_give_exactly_the_run_with_overrides_gives(seed):
    by_keyword = ExchangeModel(scenario="decree_2020", seed=seed, government__initial_trust=0.3)
    by_path = ExchangeModel(with_overrides(load(DECREE), {"government.initial_trust": 0.3}), seed=seed)
    assert_same_runs(by_keyword, by_path)
    assert by_keyword.params.government.initial_trust.tolist() == [0.3]


PARAMETERS = {
    "government.initial_trust": st.floats(0, 1),
    "taliban.initial_trust": st.floats(0, 1),
    "protocol.commander_policy": st.sampled_from(["refuse", "first_batch", "verify_only", "after_fraction"]),
    "protocol.conditions.max_attacks_per_day": st.floats(0, 20),
    "protocol.daily_capacity": st.integers(1, 300),
    "spoilers.attack_rate": st.floats(0, 5),
    "verification.enabled": st.booleans(),
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**63 - 1), name=st.sampled_from(["decree_2020", "high_trust"]))
@pytest.mark.slow
def test_any_keywords_give_the_run_their_paths_give(data, seed, name):
    paths = data.draw(st.lists(st.sampled_from(list(PARAMETERS)), min_size=1, max_size=4, unique=True))
    values = {path: data.draw(PARAMETERS[path]) for path in paths}
    by_keyword = ExchangeModel(name, seed, **{keyword(path): value for path, value in values.items()})
    by_path = ExchangeModel(with_overrides(load(BUNDLED / f"{name}.yaml"), values), seed)
    assert_same_runs(by_keyword, by_path)


def test_keywords_apply_to_every_scenario_of_a_list_and_overrides_apply_on_top():
    names, seeds = ["decree_2020", "high_trust", "decree_2020"], [3, 4, 5]
    model = ExchangeModel(names, seeds, government__initial_trust=0.25, protocol__commander_policy="first_batch")
    assert model.params.government.initial_trust.tolist() == [0.25] * 3
    metrics = model.run()
    for lane, (name, seed) in enumerate(zip(names, seeds)):
        alone = with_overrides(load(BUNDLED / f"{name}.yaml"),
                               {"government.initial_trust": 0.25, "protocol.commander_policy": "first_batch"})
        expected = ExchangeModel(alone, seed).run()
        pd.testing.assert_frame_equal(metrics.iloc[[lane]].drop(columns="lane").reset_index(drop=True),
                                      expected.drop(columns="lane"), check_exact=True)
    on_top = ExchangeModel("decree_2020", [1, 2], overrides={"government.initial_trust": [0.2, 0.6]},
                           government__initial_trust=0.3, taliban__initial_trust=0.5)
    assert on_top.params.government.initial_trust.tolist() == [0.2, 0.6]
    assert on_top.params.taliban.initial_trust.tolist() == [0.5, 0.5]


# --------------------------------------------------------------------------------------
# Mesa's tools.

@pytest.mark.slow
def test_batch_run_gives_the_numbers_swapsim_run_gives(tmp_path, batch_run):
    out = tmp_path / "decree"
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(DECREE), "--runs", "6", "--workers", "1",
                           "--out", str(out), "--no-series"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(out / "runs.parquet").set_index("seed")
    seeds = [int(s) for s in runs.index]
    assert len(set(seeds)) == 6

    rows = batch_run(ExchangeModel, parameters={"scenario": "decree_2020"}, rng=seeds, max_steps=10_000,
                     number_processes=1, data_collection_period=-1, display_progress=False)
    assert len(rows) == 6
    assert sorted(row["seed"] for row in rows) == sorted(seeds)
    for row in rows:
        run = runs.loc[row["seed"]]
        assert row["scenario"] == "decree_2020"
        assert set(SERIES) <= set(row)
        assert row["government_released"] == run["government_released"]
        assert row["taliban_released"] == run["taliban_released"]
        # Mesa's Step is the model's time at the last collection: day d is step d + 1, and a run ends after
        # its end_day, so the last row is step end_day + 1 (the days simulated).
        assert row["Step"] == run["end_day"] + 1
    # the runs differ, so matching each seed's row is a real check
    assert runs["end_day"].nunique() > 1


def test_batch_run_over_a_grid_of_keywords(batch_run):
    seeds = [5, 6]
    grid = {"scenario": "decree_2020", "government__initial_trust": [0.2, 0.6]}
    rows = batch_run(ExchangeModel, parameters=grid, rng=seeds, max_steps=10_000, number_processes=1,
                     data_collection_period=-1, display_progress=False)
    assert len(rows) == 4
    assert sorted((row["government__initial_trust"], row["seed"]) for row in rows) == \
        [(0.2, 5), (0.2, 6), (0.6, 5), (0.6, 6)]
    for row in rows:
        alone = ExchangeModel(with_overrides(load(DECREE), {"government.initial_trust": row["government__initial_trust"]}),
                              row["seed"])
        metrics = alone.run().iloc[0]
        assert (row["government_released"], row["taliban_released"], row["Step"]) == \
            (metrics["government_released"], metrics["taliban_released"], metrics["end_day"] + 1)


def test_solara_rebuilds_the_model_with_the_scenario_chosen():
    """SolaraViz checks `model_params` against the signature and, on Reset, rebuilds the model from them; a
    Mesa `scenario` on the model would make it pass that in place of the one chosen (hence `scenario` is None)."""
    from mesa.visualization.solara_viz import _build_model_init_kwargs, _check_model_params

    params = {"scenario": "high_trust", "government__initial_trust": 0.3, "seed": 4}
    model = ExchangeModel(**params)
    assert model.scenario is None
    _check_model_params(ExchangeModel.__init__, params)
    _check_model_params(model, params)
    kwargs = _build_model_init_kwargs(model, params, add_scenario_when_empty=True,
                                      require_model_accepts_scenario=True)
    assert kwargs == params
    again = ExchangeModel(**kwargs)
    assert again.lanes.scenarios[0].metadata.name == "high_trust"
    assert again.params.government.initial_trust.tolist() == [0.3]
    assert_same_runs(again, ExchangeModel(with_overrides(load(BUNDLED / "high_trust.yaml"),
                                                         {"government.initial_trust": 0.3}), 4))

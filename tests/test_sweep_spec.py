"""Sweep specs: loading, validation messages, design expansion for every sampler, seeds and hashes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.experiments import seeds as seeding

from sim.experiments import sweep_spec as sweep
from sim.model.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "scenarios" / "sweeps"
DECREE = ROOT / "scenarios" / "decree_2020.yaml"
ELEVEN = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def write_spec(folder: Path, body: str, name: str = "spec.yaml", base: str | None = None) -> Path:
    """A spec file in `folder` whose base is the decree (unless the body gives one)."""
    head = f"base: {base or DECREE}\n" if "base:" not in body else ""
    path = folder / name
    path.write_text(head + body, encoding="utf-8")
    return path


def spec_from(tmp_path: Path, body: str) -> sweep.SweepSpec:
    return sweep.load_spec(write_spec(tmp_path, body))


def bounded(sampler: str, samples: int, seed: int = 7, extra: str = "") -> str:
    return (
        f"sampler: {sampler}\nsamples: {samples}\nseed: {seed}\n"
        "parameters:\n"
        "  government.initial_trust: {low: 0.1, high: 0.9}\n"
        "  taliban.memory: {low: 0.9, high: 0.995}\n"
        "  protocol.tranche_size: {low: 100, high: 900}\n" + extra
    )


# ---------------------------------------------------------------- the bundled specs


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
@pytest.mark.slow
def test_every_bundled_spec_loads_and_opens_with_its_question(path):
    spec = sweep.load_spec(path)
    assert spec.name == path.stem
    assert spec.description
    assert path.read_text(encoding="utf-8").startswith("# ")
    assert len(sweep.expand(spec)) >= 1


def test_bundled_specs_have_the_promised_sizes():
    sizes = {name: len(sweep.expand(sweep.load_spec(SWEEPS / f"{name}.yaml"))) for name in
             ("trust_grid", "commander_policy", "sensitivity")}
    assert sizes == {"trust_grid": 121, "commander_policy": 12, "sensitivity": 256 * (6 + 2)}
    assert sweep.load_spec(SWEEPS / "trust_grid.yaml").replications == 200
    assert sweep.load_spec(SWEEPS / "sensitivity.yaml").replications == 20


def test_trust_grid_is_an_ordered_product_of_clean_values():
    design = sweep.expand(sweep.load_spec(SWEEPS / "trust_grid.yaml"))
    assert list(design.columns) == ["point", "government.initial_trust", "taliban.initial_trust"]
    assert design["point"].tolist() == list(range(121))
    # The first parameter varies slowest; values are exactly the decimals, 1.0 included.
    assert design["government.initial_trust"].tolist() == [v for v in ELEVEN for _ in ELEVEN]
    assert design["taliban.initial_trust"].tolist() == ELEVEN * 11


def test_commander_policy_covers_the_four_policies():
    design = sweep.expand(sweep.load_spec(SWEEPS / "commander_policy.yaml"))
    assert set(design["protocol.commander_policy"]) == {"refuse", "first_batch", "verify_only", "after_fraction"}
    assert len(design) <= 12


# ---------------------------------------------------------------- ranges and grids


def test_range_with_count_includes_both_ends(tmp_path):
    spec = spec_from(tmp_path, "parameters:\n  government.initial_trust: {start: 0.0, stop: 1.0, count: 5}\n")
    assert sweep.expand(spec)["government.initial_trust"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_range_stop_off_the_grid_is_left_out(tmp_path):
    spec = spec_from(tmp_path, "parameters:\n  government.initial_trust: {start: 0.1, stop: 0.65, step: 0.2}\n")
    assert sweep.expand(spec)["government.initial_trust"].tolist() == [0.1, 0.3, 0.5]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(-300, 300).map(lambda i: i / 100),
    step=st.sampled_from([0.01, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5]),
    k=st.integers(0, 60),
)
def test_range_with_step_lands_on_clean_values_and_includes_stop(start, step, k):
    stop = round(start + k * step, 2)
    values = sweep.Range(start=start, stop=stop, step=step).values()
    assert len(values) == k + 1
    assert values[0] == start and values[-1] == stop
    assert values == [round(start + i * step, 2) for i in range(k + 1)]


def test_integer_range_gives_integers(tmp_path):
    spec = spec_from(tmp_path, "parameters:\n  protocol.tranche_size: {start: 100, stop: 500, count: 5}\n")
    column = sweep.expand(spec)["protocol.tranche_size"]
    assert column.tolist() == [100, 200, 300, 400, 500]
    assert all(isinstance(v, int) for v in column.tolist())


def test_grid_of_three_parameters_keeps_the_spec_order(tmp_path):
    spec = spec_from(
        tmp_path,
        "parameters:\n"
        "  taliban.initial_trust: [0.2, 0.6]\n"
        "  protocol.commander_policy: [refuse, first_batch, verify_only]\n"
        "  protocol.tranche_size: {start: 250, stop: 500, step: 250}\n",
    )
    design = sweep.expand(spec)
    assert list(design.columns)[1:] == ["taliban.initial_trust", "protocol.commander_policy", "protocol.tranche_size"]
    assert len(design) == 2 * 3 * 2
    first = design.iloc[0]
    assert (first["taliban.initial_trust"], first["protocol.commander_policy"], first["protocol.tranche_size"]) == (
        0.2, "refuse", 250)
    assert design["protocol.tranche_size"].tolist()[:4] == [250, 500, 250, 500]


def test_point_scenario_applies_the_row(tmp_path):
    spec = spec_from(tmp_path, "parameters:\n  protocol.commander_policy: [first_batch]\n  protocol.tranche_size: [250]\n")
    row = sweep.expand(spec).iloc[0]
    scenario = sweep.point_scenario(sweep.base_scenario(spec), row)
    assert scenario.protocol.commander_policy == "first_batch"
    assert scenario.protocol.tranche_size == 250
    assert scenario.government == load(DECREE).government


# ---------------------------------------------------------------- samplers


@pytest.mark.parametrize("sampler", ["random", "lhs"])
def test_sampled_designs_are_within_bounds_sized_and_deterministic(tmp_path, sampler):
    design = sweep.expand(spec_from(tmp_path, bounded(sampler, 40)))
    assert len(design) == 40 and design["point"].tolist() == list(range(40))
    assert design["government.initial_trust"].between(0.1, 0.9).all()
    assert design["taliban.memory"].between(0.9, 0.995).all()
    assert design["protocol.tranche_size"].between(100, 900).all()
    again = sweep.expand(spec_from(tmp_path, bounded(sampler, 40)))
    assert design.equals(again)
    other = sweep.expand(spec_from(tmp_path, bounded(sampler, 40, seed=8)))
    assert not np.allclose(design["government.initial_trust"], other["government.initial_trust"])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 60), d=st.integers(1, 5), seed=st.integers(0, 2**32))
def test_lhs_puts_one_sample_in_each_stratum_of_each_dimension(n, d, seed):
    names = ["government.initial_trust", "taliban.initial_trust", "government.memory", "taliban.memory",
             "spoilers.misattribution"][:d]
    spec = sweep.SweepSpec(
        base={}, sampler="lhs", samples=n, seed=seed,
        parameters={name: {"low": 0.2, "high": 0.7} for name in names},
    )
    design = sweep.expand(spec)
    for name in names:
        strata = np.floor((design[name].to_numpy() - 0.2) / 0.5 * n).astype(int)
        assert sorted(strata.tolist()) == list(range(n))


@pytest.mark.parametrize("sampler", ["random", "lhs"])
def test_random_and_lhs_draw_a_choice_from_its_list(tmp_path, sampler):
    policies = ["refuse", "first_batch", "verify_only", "after_fraction"]
    spec = spec_from(tmp_path, f"sampler: {sampler}\nsamples: 400\nparameters:\n"
                               "  government.initial_trust: {low: 0.1, high: 0.9}\n"
                               f"  protocol.commander_policy: [{', '.join(policies)}]\n")
    design = sweep.expand(spec)
    counts = design["protocol.commander_policy"].value_counts()
    assert set(counts.index) == set(policies)
    if sampler == "lhs":  # equal strata: each value drawn exactly n / k times
        assert (counts == 100).all()
    else:
        assert counts.min() > 60
    base = sweep.base_scenario(spec)
    row = design.iloc[0]
    assert sweep.point_scenario(base, row).protocol.commander_policy == row["protocol.commander_policy"]


def test_a_choice_beside_bounds_keeps_the_numeric_strata(tmp_path):
    design = sweep.expand(spec_from(tmp_path, bounded("lhs", 40) + "  protocol.commander_policy: [refuse, first_batch]\n"))
    strata = np.floor((design["government.initial_trust"].to_numpy() - 0.1) / 0.8 * 40).astype(int)
    assert sorted(strata.tolist()) == list(range(40))
    assert design["government.initial_trust"].dtype == float and design["protocol.tranche_size"].dtype.kind == "i"
    assert (design["protocol.commander_policy"].value_counts() == 20).all()


def test_sobol_design_has_n_times_d_plus_2_points_within_bounds(tmp_path):
    spec = spec_from(tmp_path, bounded("sobol", 16))
    design = sweep.expand(spec)
    assert len(design) == 16 * (3 + 2)
    assert design["government.initial_trust"].between(0.1, 0.9).all()
    assert design["taliban.memory"].between(0.9, 0.995).all()
    assert design.equals(sweep.expand(spec))
    assert sweep.problem(spec) == {
        "num_vars": 3,
        "names": ["government.initial_trust", "taliban.memory", "protocol.tranche_size"],
        "bounds": [[0.1, 0.9], [0.9, 0.995], [100.0, 900.0]],
    }


@pytest.mark.parametrize("sampler", ["random", "lhs", "sobol"])
def test_integer_parameters_get_integers_that_validate(tmp_path, sampler):
    spec = spec_from(tmp_path, bounded(sampler, 8))
    design = sweep.expand(spec)
    assert design["protocol.tranche_size"].dtype.kind == "i"
    base = sweep.base_scenario(spec)
    for _, row in design.head(10).iterrows():
        assert sweep.point_scenario(base, row).protocol.tranche_size == row["protocol.tranche_size"]


def test_sobol_without_salib_says_how_to_install_it(tmp_path, monkeypatch):
    real = sweep.importlib.util.find_spec
    monkeypatch.setattr(sweep.importlib.util, "find_spec", lambda name, *a: None if name == "SALib" else real(name, *a))
    path = write_spec(tmp_path, bounded("sobol", 16))
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    assert err.value.problems == [f"{path}: sampler: sampler sobol needs SALib: pip install 'swapsim[sensitivity]'"]


# ---------------------------------------------------------------- seeds and hashes


def test_replicate_seeds_are_common_across_points_distinct_and_stable(tmp_path):
    grid = spec_from(tmp_path, "seed: 11\nreplications: 50\nparameters:\n  government.initial_trust: [0.2, 0.4, 0.6]\n")
    other = spec_from(tmp_path, bounded("lhs", 5, seed=11) + "replications: 50\n")
    seeds = sweep.replicate_seeds(grid).tolist()
    assert len(seeds) == 50 and len(set(seeds)) == 50
    # One list for the whole sweep: replicate k's seed depends on the root seed only, never on the point.
    assert seeds == sweep.replicate_seeds(other).tolist() == seeding.replicate_seeds(11, 50).tolist()
    assert seeds != sweep.replicate_seeds(grid.model_copy(update={"seed": 12})).tolist()


def test_spec_hash_is_stable_and_follows_the_spec_and_its_base(tmp_path):
    shutil.copy(DECREE, tmp_path / "decree_2020.yaml")
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    path = sweeps / "trust_grid.yaml"
    shutil.copy(SWEEPS / "trust_grid.yaml", path)
    first = sweep.spec_hash(sweep.load_spec(path))
    assert first == sweep.spec_hash(sweep.load_spec(path))
    assert len(first) == 64 and int(first, 16) >= 0

    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("replications: 200", "replications: 100"), encoding="utf-8")
    assert sweep.spec_hash(sweep.load_spec(path)) != first
    path.write_text(text.replace("stop: 1.0, step: 0.1}\n", "stop: 1.0, step: 0.2}\n", 1), encoding="utf-8")
    assert sweep.spec_hash(sweep.load_spec(path)) != first
    path.write_text(text, encoding="utf-8")
    assert sweep.spec_hash(sweep.load_spec(path)) == first

    base = tmp_path / "decree_2020.yaml"
    base.write_text(base.read_text(encoding="utf-8").replace("memory: 0.98", "memory: 0.97", 1), encoding="utf-8")
    assert sweep.spec_hash(sweep.load_spec(path)) != first


def test_inline_base_may_extend_a_scenario_file(tmp_path):
    shutil.copy(DECREE, tmp_path / "decree_2020.yaml")
    spec = sweep.load_spec(write_spec(
        tmp_path,
        "base:\n  extends: decree_2020.yaml\n  protocol: {commander_policy: verify_only}\n"
        "parameters:\n  government.initial_trust: [0.3]\n",
    ))
    base = sweep.base_scenario(spec)
    assert base.protocol.commander_policy == "verify_only"
    assert base.events == load(DECREE).events


def test_a_sweep_may_extend_another_and_keeps_its_own_name(tmp_path):
    parent = write_spec(tmp_path, "description: parent\nreplications: 7\nparameters:\n  government.initial_trust: [0.2]\n",
                        name="parent.yaml")
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {parent.name}\nseed: 5\n", encoding="utf-8")
    spec = sweep.load_spec(child)
    assert (spec.name, spec.description, spec.replications, spec.seed) == ("child", "", 7, 5)


def test_json_schema_describes_the_spec():
    schema = sweep.json_schema()
    assert schema["title"] == "swapsim sweep"
    assert {"base", "parameters", "sampler", "samples", "replications", "seed", "chunk_size", "outputs"} <= set(
        schema["properties"])
    assert all(prop.get("description") for name, prop in schema["properties"].items())


# ---------------------------------------------------------------- bad specs


BAD = {
    "unknown parameter": (
        "parameters:\n  government.intial_trust: [0.1]\n",
        "parameters.government.intial_trust: no such scenario parameter",
    ),
    "list value out of range": (
        "parameters:\n  government.initial_trust: [0.5, 1.5]\n",
        "parameters.government.initial_trust: value 1.5 is out of range (0 to 1)",
    ),
    "range value out of range": (
        "parameters:\n  taliban.initial_trust: {start: 0.8, stop: 1.1, step: 0.1}\n",
        "parameters.taliban.initial_trust: value 1.1 is out of range (0 to 1)",
    ),
    "bounds out of range": (
        "sampler: lhs\nsamples: 10\nparameters:\n  government.memory: {low: 0.5, high: 1.2}\n",
        "parameters.government.memory: value 1.2 is out of range (0 to 1)",
    ),
    "empty range": (
        "parameters:\n  government.initial_trust: {start: 0.9, stop: 0.1, step: 0.1}\n",
        "parameters.government.initial_trust.stop: empty range",
    ),
    "count zero": (
        "parameters:\n  government.initial_trust: {start: 0.1, stop: 0.9, count: 0}\n",
        "parameters.government.initial_trust.count: empty range",
    ),
    "step and count": (
        "parameters:\n  government.initial_trust: {start: 0.1, stop: 0.9, step: 0.1, count: 9}\n",
        "parameters.government.initial_trust: give exactly one of 'step' or 'count'",
    ),
    "unknown sampler": (
        "sampler: foo\nparameters:\n  government.initial_trust: [0.1]\n",
        "sampler: unknown sampler 'foo'; expected one of grid, random, lhs, sobol",
    ),
    "bounds with grid": (
        "parameters:\n  government.initial_trust: {low: 0.1, high: 0.9}\n",
        "parameters.government.initial_trust: bounds are for the random, lhs and sobol samplers",
    ),
    "range with lhs": (
        "sampler: lhs\nsamples: 8\nparameters:\n  government.initial_trust: {start: 0.1, stop: 0.9, step: 0.1}\n",
        "parameters.government.initial_trust: the lhs sampler needs bounds {low, high} or a list of values to draw "
        "from; got a range",
    ),
    "list with sobol": (
        "sampler: sobol\nsamples: 8\nparameters:\n  protocol.commander_policy: [refuse, first_batch]\n",
        "parameters.protocol.commander_policy: the sobol sampler needs bounds {low, high}; got a list",
    ),
    "random without samples": (
        "sampler: random\nparameters:\n  government.initial_trust: {low: 0.1, high: 0.9}\n",
        "samples: required by the random sampler",
    ),
    "unknown top-level key": (
        "replicates: 10\nparameters:\n  government.initial_trust: [0.1]\n",
        "replicates: unknown key",
    ),
    "low above high": (
        "sampler: random\nsamples: 4\nparameters:\n  government.initial_trust: {low: 0.9, high: 0.1}\n",
        "parameters.government.initial_trust.high: must be greater than low",
    ),
    "unknown commander policy": (
        "parameters:\n  protocol.commander_policy: [refuse, release_all]\n",
        "parameters.protocol.commander_policy: value 'release_all' is not one of refuse, first_batch",
    ),
    "a scalar instead of values": (
        "parameters:\n  government.initial_trust: 0.5\n",
        "parameters.government.initial_trust: expected a list of values, a range",
    ),
    "value the base scenario rejects": (
        "parameters:\n  protocol.tranche_size: [500, 6000]\n",
        "parameters.protocol.tranche_size: value 6000 makes the base scenario invalid",
    ),
    "combination the base scenario rejects": (
        "parameters:\n  protocol.upfront_batch: [1000, 3000]\n  protocol.government_prisoners: [2000, 5000]\n",
        "parameters: point 2 (protocol.upfront_batch=3000, protocol.government_prisoners=2000)",
    ),
    "unknown sobol output": (
        "sampler: sobol\nsamples: 8\noutputs: [deadlock]\nparameters:\n  government.initial_trust: {low: 0.1, high: 0.9}\n",
        "outputs.0: unknown outcome 'deadlock' (did you mean 'deadlocked'?)",
    ),
    "a quoted number": (
        "parameters:\n  government.initial_trust: ['0.5']\n",
        "parameters.government.initial_trust: value '0.5': expected a number",
    ),
    "a fraction for an integer": (
        "parameters:\n  protocol.tranche_size: {start: 100, stop: 200, count: 3}\n  protocol.daily_capacity: [2.5]\n",
        "parameters.protocol.daily_capacity: value 2.5: expected a whole number",
    ),
    "a range over choices": (
        "parameters:\n  protocol.commander_policy: {start: 0, stop: 3, step: 1}\n",
        "parameters.protocol.commander_policy: a range needs a numeric parameter",
    ),
    "a section instead of a parameter": (
        "parameters:\n  government: [0.1]\n",
        "parameters.government: is a section, not a parameter",
    ),
    "inline base out of range": (
        "base: {government: {initial_trust: 3}}\nparameters:\n  taliban.initial_trust: [0.1]\n",
        "base.government.initial_trust: must be at most 1",
    ),
    "missing base file": (
        "base: no_such_scenario.yaml\nparameters:\n  government.initial_trust: [0.1]\n",
        "base: no such scenario file 'no_such_scenario.yaml'",
    ),
    "malformed YAML": (
        "parameters: [\n",
        "malformed YAML: line",
    ),
}


@pytest.mark.parametrize("body,expected", BAD.values(), ids=BAD.keys())
def test_bad_specs_get_one_clear_line_per_problem(tmp_path, body, expected):
    path = write_spec(tmp_path, body, name="bad.yaml")
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    problems = err.value.problems
    assert problems and all(line.startswith(f"{path}: ") and "\n" not in line for line in problems), problems
    assert any(line.startswith(f"{path}: {expected}") for line in problems), problems


def test_several_problems_are_reported_together(tmp_path):
    path = write_spec(tmp_path, "sampler: foo\nparameters:\n  government.intial_trust: [0.1]\n  taliban.initial_trust: [2]\n")
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    assert len(err.value.problems) == 3


def test_missing_spec_file(tmp_path):
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(tmp_path / "nope.yaml")
    assert err.value.problems == [f"{tmp_path / 'nope.yaml'}: no such file"]


@pytest.mark.parametrize("text", ["", "# a comment and nothing else\n"])
def test_an_empty_spec_is_an_error_not_a_sweep_of_defaults(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    assert err.value.problems == [f"{path}: empty file: it holds no settings (a file of only comments is empty too)"]


# ---------------------------------------------------------------- event fields by id or position


def test_event_fields_are_named_by_id_or_position(tmp_path):
    spec = spec_from(tmp_path, "parameters:\n  events.eid_ceasefire.duration_days: [1, 5]\n"
                               "  events.1.amount: {start: 0.1, stop: 0.3, step: 0.1}\n")
    design = sweep.expand(spec)
    assert design["events.eid_ceasefire.duration_days"].tolist() == [1, 1, 1, 5, 5, 5]
    scenario = sweep.point_scenario(load(DECREE), design.iloc[4])
    assert scenario.events[2].duration_days == 5 and scenario.events[1].amount == pytest.approx(0.2)
    assert scenario.events[0] == load(DECREE).events[0]


def test_an_integer_event_field_gets_whole_numbers_from_a_sampler(tmp_path):
    spec = spec_from(tmp_path, "sampler: lhs\nsamples: 12\nparameters:\n"
                               "  events.eid_ceasefire.duration_days: {low: 1, high: 20}\n")
    values = sweep.expand(spec)["events.eid_ceasefire.duration_days"]
    assert values.dtype.kind == "i" and values.between(1, 20).all()


@pytest.mark.parametrize("body, fragment", [
    ("  events.eid_cesefire.duration_days: [1]\n", "no event with id 'eid_cesefire' (did you mean 'eid_ceasefire'?) "
                                                   "(its ids: rival_presidents, aid_cut, eid_ceasefire)"),
    ("  events.eid_ceasefire.duraton_days: [1]\n", "a ceasefire event has no field 'duraton_days' (did you mean "
                                                   "'duration_days'?) to vary"),
    ("  events.7.amount: [0.1]\n", "the base scenario has 3 events (positions 0 to 2)"),
    ("  events.aid_cut.duration_days: [3]\n", "a pressure_shock event has no field 'duration_days' to vary"),
    ("  events.aid_cut: [3]\n", "events.<id or position>.<field>"),
    ("  events.eid_ceasefire.duration_days: [0, 5]\n", "must be at least 1"),
])
def test_bad_event_paths_get_one_line(tmp_path, body, fragment):
    with pytest.raises(ScenarioError) as err:
        spec_from(tmp_path, "parameters:\n" + body)
    assert any(fragment in line for line in err.value.problems), err.value.problems


def test_every_problem_of_a_spec_is_reported_in_one_pass(tmp_path):
    """A bad parameter does not hide a misspelt path beside it, nor the spec's errors its base scenario's."""
    base = tmp_path / "base.yaml"
    base.write_text("protocol:\n  tranche_sise: 400\n")
    path = tmp_path / "s.yaml"
    path.write_text("base: base.yaml\nreplicatons: 5\nparameters:\n  government.initial_trust: 0.5\n"
                    "  government.intial_trust: [0.2]\n")
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    assert sorted(err.value.problems) == sorted([
        f"{path}: replicatons: unknown key; did you mean 'replications'? (`swapsim schema --sweep` lists every key)",
        f"{path}: parameters.government.initial_trust: expected a list of values, a range {{start, stop, step or "
        "count} or bounds {low, high}",
        f"{path}: parameters.government.intial_trust: no such scenario parameter; did you mean "
        "'government.initial_trust'?",
        f"{base}: protocol.tranche_sise: unknown key; did you mean 'tranche_size'? (`swapsim schema` lists every key)",
    ])


def test_a_misspelt_key_hides_neither_the_checks_between_fields_nor_the_base_scenarios(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"base: {DECREE}\nreplicatons: 5\nsampler: lhs\noutputs: [deadlok]\n"
                    "parameters:\n  government.initial_trust: {low: 0.1, high: 0.9}\n")
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    assert [line.removeprefix(f"{path}: ").split(":")[0] for line in err.value.problems] == [
        "replicatons", "samples", "outputs.0"]
    # with the checks between fields passed, the values are tried on the base scenario, an unknown event aside
    path.write_text(f"base: {DECREE}\nreplicatons: 5\nsampler: lhs\nsamples: 10\n"
                    "parameters:\n  government.initial_trust: {low: 0.1, high: 0.9}\n"
                    "  protocol.tranche_size: [100, 9000]\n  events.nope.amount: [1]\n")
    with pytest.raises(ScenarioError) as err:
        sweep.load_spec(path)
    assert [line.removeprefix(f"{path}: ") for line in err.value.problems] == [
        "replicatons: unknown key; did you mean 'replications'? (`swapsim schema --sweep` lists every key)",
        "parameters.events.nope.amount: the base scenario has no event with id 'nope' (its ids: rival_presidents, "
        "aid_cut, eid_ceasefire)",
        "parameters.protocol.tranche_size: value 9000 makes the base scenario invalid: protocol.tranche_size: is "
        "more than protocol.government_prisoners",
    ]

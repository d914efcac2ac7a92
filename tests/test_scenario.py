"""Scenario files at the API level: defaults, bundled files, `extends`, errors that name the
file and the field, the JSON Schema, and dotted overrides."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import typing
from pathlib import Path

import pandas.testing as pd_testing
import pytest
import yaml
from pydantic import BaseModel

from sim.experiments import runs
from sim.model import scenario as sc
from sim.model.events import COMMANDER_POLICIES, BaseEvent, PolicyChange
from sim.model.schema import needs_of
from sim.model.scenario import Scenario, ScenarioError, json_schema, load, read_raw, with_overrides

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DECREE = SCENARIOS / "decree_2020.yaml"
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))


def flatten(data, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}; lists are leaves."""
    out = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def model_leaves(model: type[BaseModel], prefix="") -> list[str]:
    """Dotted paths of every leaf field of a pydantic model (events, a list, is one leaf)."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(model_leaves(ann, f"{prefix}{name}."))
        else:
            out.append(f"{prefix}{name}")
    return out


# --------------------------------------------------------------------------------------
# Defaults and bundled files.

def test_defaults_come_from_the_record():
    s = Scenario()
    p = s.protocol
    assert p.government_prisoners == 5000
    assert p.taliban_prisoners == 1000
    assert p.commanders == 15
    assert p.upfront_batch == 1500
    assert p.tranche_size == 500
    assert p.tranche_interval_days == 14
    assert p.daily_capacity == 100
    assert p.reciprocity_ratio == 0.2
    assert p.reciprocity_ratio == p.taliban_prisoners / p.government_prisoners
    assert s.calendar.start_date == dt.date(2020, 3, 1)
    assert s.calendar.horizon_days == 425
    assert s.events == []


def test_default_scenario_is_valid_and_round_trips():
    s = Scenario()
    assert Scenario.model_validate(s.model_dump()) == s
    assert sc.from_dict(yaml.safe_load(sc.to_yaml(s))) == s


def test_bundled_scenarios_exist():
    names = {p.stem for p in BUNDLED}
    assert "decree_2020" in names and "commanders_first" in names
    assert len(BUNDLED) >= 2


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_scenario_loads(path):
    s = load(path)
    assert isinstance(s, Scenario)
    assert s.metadata.name == yaml.safe_load(path.read_text())["metadata"]["name"]
    # Events fall inside the horizon and are ordered by day.
    days = [d for d, _ in s.event_days()]
    assert days == sorted(days) and all(0 <= d < s.calendar.horizon_days for d in days)


def test_commanders_first_differs_from_the_decree_only_in_commander_policy():
    decree = flatten(load(DECREE).model_dump())
    child = flatten(load(SCENARIOS / "commanders_first.yaml").model_dump())
    assert decree.keys() == child.keys()
    differing = {k for k in decree if decree[k] != child[k]}
    assert differing - {"metadata.name", "metadata.description"} == {"protocol.commander_policy"}
    assert child["protocol.commander_policy"] == "first_batch"
    assert decree["protocol.commander_policy"] == "refuse"
    # Inherited events come through unchanged.
    assert child["events"] == decree["events"] and len(decree["events"]) == 3


EXTENDING = [p for p in BUNDLED if (yaml.safe_load(p.read_text()) or {}).get("extends")]


@pytest.mark.parametrize("path", EXTENDING, ids=[p.stem for p in EXTENDING])
def test_extends_overrides_only_what_the_child_sets(path):
    """Whatever a child file sets wins; everything else is its parent's value."""
    own = yaml.safe_load(path.read_text())
    parent = load(path.parent / own.pop("extends"))
    child = load(path)
    own_keys = set(flatten(own))
    p, c = flatten(parent.model_dump(mode="json")), flatten(child.model_dump(mode="json"))
    for key in p:
        if key in own_keys or key.startswith("metadata."):
            continue
        assert c[key] == p[key], key
    assert any(c[k] != p[k] for k in own_keys if not k.startswith("metadata.")), "child changes nothing"


def test_extends_resolves_relative_to_the_child_and_deep_merges(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text("protocol:\n  tranche_size: 250\n  conditions:\n    window_days: 7\n")
    (tmp_path / "sub" / "child.yaml").write_text(
        "extends: ../base.yaml\nprotocol:\n  conditions:\n    enabled: false\n"
    )
    s = load(tmp_path / "sub" / "child.yaml")
    assert s.protocol.tranche_size == 250
    assert s.protocol.conditions.window_days == 7
    assert s.protocol.conditions.enabled is False
    assert s.metadata.name == "child"


def test_decree_spells_out_every_parameter():
    raw = yaml.safe_load(DECREE.read_text())
    assert "extends" not in raw
    present = set(flatten(raw))
    missing = [leaf for leaf in model_leaves(Scenario) if leaf not in present]
    assert missing == []
    # And each of its events spells out every field of its type (day or date, not both).
    union = typing.get_args(typing.get_args(sc.Event)[0])
    by_type = {m.model_fields["type"].annotation.__args__[0]: m for m in union}
    assert raw["events"]
    for ev in raw["events"]:
        fields = set(by_type[ev["type"]].model_fields) - {"day", "date"}
        assert fields <= set(ev), (ev["type"], fields - set(ev))
        assert ("day" in ev) != ("date" in ev)


# --------------------------------------------------------------------------------------
# Error paths of load(): one line per problem, each naming file and field, no traceback.

ERROR_CASES = {
    "malformed_yaml": ("protocol: [1, 2\ngovernment: {\n", ["malformed YAML"]),
    "top_level_list": ("- 1\n- 2\n", ["(top level)"]),
    "top_level_scalar": ("just a string\n", ["(top level)"]),
    "unknown_top_level_key": ("bogus_section:\n  x: 1\n", ["bogus_section"]),
    "unknown_nested_key": ("protocol:\n  conditions:\n    bogus: 1\n", ["protocol.conditions.bogus"]),
    "unknown_key_in_event": ("events:\n  - type: ceasefire\n    day: 3\n    bogus: 1\n", ["events.0.bogus"]),
    "wrong_type": ("government:\n  initial_trust: high\n", ["government.initial_trust"]),
    "wrong_type_section": ("protocol: 5\n", ["protocol"]),
    "out_of_range": ("government:\n  memory: 1.5\n", ["government.memory"]),
    "out_of_range_negative": ("protocol:\n  commanders: -3\n", ["protocol.commanders"]),
    "tranche_above_prisoners": (
        "protocol:\n  government_prisoners: 100\n  upfront_batch: 50\n  commanders: 5\n  tranche_size: 200\n",
        ["protocol.tranche_size"],
    ),
    "commanders_above_prisoners": (
        "protocol:\n  government_prisoners: 10\n  upfront_batch: 0\n  tranche_size: 5\n  commanders: 12\n",
        ["protocol.commanders"],
    ),
    "upfront_above_prisoners": (
        "protocol:\n  government_prisoners: 100\n  tranche_size: 50\n  commanders: 5\n  upfront_batch: 200\n",
        ["protocol.upfront_batch"],
    ),
    "event_after_horizon": (
        "calendar:\n  horizon_days: 100\nevents:\n  - type: ceasefire\n    day: 150\n", ["events.0"]
    ),
    "event_date_after_horizon": (
        "calendar:\n  horizon_days: 100\nevents:\n  - type: pressure_shock\n    day: 5\n"
        "  - type: ceasefire\n    date: 2021-01-01\n",
        ["events.1"],
    ),
    "event_day_and_date": ("events:\n  - type: ceasefire\n    day: 3\n    date: 2020-03-04\n", ["events.0"]),
    "event_neither_day_nor_date": ("events:\n  - type: ceasefire\n", ["events.0"]),
    "event_unknown_type": ("events:\n  - type: truce\n    day: 3\n", ["events.0"]),
    "event_missing_type": ("events:\n  - day: 3\n", ["events.0"]),
}


def assert_good_problems(err: ScenarioError, path: Path, fields: list[str]):
    problems = err.problems
    assert isinstance(problems, list) and len(problems) == len(fields), problems
    assert str(err).splitlines() == problems
    for line, field in zip(problems, fields):
        assert line.startswith(str(path)), line
        assert field in line, (field, line)
        assert "Traceback" not in line
        assert "\n" not in line


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_load_reports_each_problem_with_file_and_field(tmp_path, case):
    text, fields = ERROR_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert_good_problems(info.value, path, fields)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("calendar:\n  horizon_days: 100\nprotocol: [1, 2\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert "line " in str(info.value)


def test_event_type_errors_say_what_would_be_right(tmp_path):
    path = tmp_path / "ev.yaml"
    path.write_text("events:\n  - type: truce\n    day: 3\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert "ceasefire" in str(info.value) and "truce" in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert_good_problems(info.value, path, ["no such file"])


@pytest.mark.parametrize("files,fragments", [
    ({"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"}, ["extends", "circular"]),
    ({"a.yaml": "extends: a.yaml\n"}, ["extends", "circular"]),
    ({"a.yaml": "extends: nothere.yaml\n"}, ["extends", "nothere.yaml"]),
    ({"a.yaml": "extends: 3\n"}, ["extends", "file path"]),
], ids=["circular", "self", "missing target", "not a path"])
def test_bad_extends_names_the_referring_file_and_the_field(tmp_path, files, fragments):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ScenarioError) as info:
        load(tmp_path / "a.yaml")
    assert_good_problems(info.value, tmp_path / "a.yaml", fragments[:1])
    assert fragments[1] in str(info.value)


def test_two_field_problems_give_two_lines(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("government:\n  memory: 1.5\nprotocol:\n  conditions:\n    bogus: 1\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert_good_problems(info.value, path, ["protocol.conditions.bogus", "government.memory"])


def test_two_consistency_problems_give_two_lines(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("protocol:\n  government_prisoners: 100\n  commanders: 5\n  upfront_batch: 200\n"
                    "  tranche_size: 300\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert_good_problems(info.value, path, ["protocol.upfront_batch", "protocol.tranche_size"])


def test_field_problem_and_consistency_problem_give_two_lines(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("government:\n  memory: 1.5\nprotocol:\n  tranche_size: 6000\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert len(info.value.problems) == 2, info.value.problems


def test_errors_from_dict_name_the_source():
    with pytest.raises(ScenarioError) as info:
        sc.from_dict({"taliban": {"restraint": 2}}, source="notebook")
    assert_good_problems(info.value, Path("notebook"), ["taliban.restraint"])


# --------------------------------------------------------------------------------------
# JSON Schema.

def _objects(schema):
    yield "(root)", schema
    for name, sub in schema.get("$defs", {}).items():
        yield name, sub


def _is_leaf(prop: dict) -> bool:
    if "$ref" in prop or prop.get("type") in ("object", "array"):
        return False
    return not any("$ref" in alt for alt in prop.get("anyOf", []) + prop.get("allOf", []))


# Properties that are not parameters: the `type` tag of each event (a required constant that
# selects the event's kind) and `extends` (a file path, optional). They are checked separately.
NOT_PARAMETERS = {"type", "extends"}


def test_json_schema_is_json_and_closed():
    schema = json_schema()
    text = json.dumps(schema)
    assert json.loads(text) == schema
    objects = dict(_objects(schema))
    assert len(objects) >= 10
    for name, obj in objects.items():
        assert obj.get("type") == "object", name
        assert obj.get("additionalProperties") is False, name


def test_every_parameter_in_the_schema_has_unit_and_default():
    schema = json_schema()
    checked = 0
    for name, obj in _objects(schema):
        for key, prop in obj["properties"].items():
            if not _is_leaf(prop) or key in NOT_PARAMETERS:
                continue
            description = prop.get("description", "")
            assert "[" in description and description.rstrip().endswith("]"), (name, key, description)
            unit = description[description.rindex("[") + 1: -1]
            assert unit.strip(), (name, key)
            assert "default" in prop, (name, key)
            checked += 1
    assert checked >= len(model_leaves(Scenario)) - 1  # every Scenario leaf except the events list


def test_schema_defaults_and_bounds_match_the_models():
    schema = json_schema()
    protocol = schema["$defs"]["Protocol"]["properties"]
    assert protocol["government_prisoners"]["default"] == 5000
    assert protocol["government_prisoners"]["minimum"] == 1
    government = schema["$defs"]["Government"]["properties"]
    assert government["memory"]["minimum"] == 0 and government["memory"]["maximum"] == 1
    assert set(protocol["commander_policy"]["enum"]) == set(COMMANDER_POLICIES)


def test_event_type_tags_and_extends_in_the_schema():
    schema = json_schema()
    for name in ("Ceasefire", "PressureShock", "PolicyChange", "PoliticalSplit", "SpoilerSurge"):
        obj = schema["$defs"][name]
        assert "const" in obj["properties"]["type"], name
        assert "type" in obj.get("required", []), name
    assert schema["properties"]["extends"]["type"] == "string"
    assert "[path]" in schema["properties"]["extends"]["description"]


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def test_decree_validates_against_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    raw = _jsonable(read_raw(DECREE))
    jsonschema.validate(raw, schema)
    # And the schema really rejects what load() rejects.
    bad = dict(raw, protocol=dict(raw["protocol"], bogus=1))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# --------------------------------------------------------------------------------------
# with_overrides.

def test_with_overrides_replaces_dotted_paths():
    base = Scenario()
    s = with_overrides(base, {"government.initial_trust": 0.6, "protocol.conditions.enabled": False,
                              "protocol.commander_policy": "first_batch"})
    assert s.government.initial_trust == 0.6
    assert s.protocol.conditions.enabled is False
    assert s.protocol.commander_policy == "first_batch"
    # Nothing else changes, and the original is untouched.
    a, b = flatten(base.model_dump()), flatten(s.model_dump())
    assert {k for k in a if a[k] != b[k]} == {
        "government.initial_trust", "protocol.conditions.enabled", "protocol.commander_policy"
    }
    assert base.government.initial_trust == 0.4


def test_with_overrides_out_of_range_names_the_path():
    with pytest.raises(ScenarioError) as info:
        with_overrides(Scenario(), {"government.memory": 1.5})
    assert len(info.value.problems) == 1
    assert "government.memory" in info.value.problems[0]


def test_with_overrides_revalidates_consistency():
    with pytest.raises(ScenarioError) as info:
        with_overrides(Scenario(), {"protocol.tranche_size": 6000})
    assert any("protocol.tranche_size" in line for line in info.value.problems)


def test_with_overrides_wrong_type_names_the_path():
    with pytest.raises(ScenarioError) as info:
        with_overrides(Scenario(), {"protocol.commander_policy": "release_all"})
    assert "protocol.commander_policy" in str(info.value)


@pytest.mark.parametrize("path", ["government.bogus", "nosuch.initial_trust", "protocol.conditions.enabled.x",
                                  "bogus"])
def test_with_overrides_unknown_path_raises(path):
    with pytest.raises(ScenarioError) as info:
        with_overrides(Scenario(), {path: 1})
    assert path in str(info.value)


# --------------------------------------------------------------------------------------
# Messages a user can act on: each one line naming the file, the field and what would be right.

MESSAGE_CASES = {
    "bad_start_date": ("calendar:\n  start_date: 01/03/2020\n",
                       [("calendar.start_date", "expected a date as YYYY-MM-DD (got '01/03/2020')")]),
    "no_such_event_date": ("events:\n  - type: ceasefire\n    date: 2020-13-01\n",
                           [("events.0.date", "expected a date as YYYY-MM-DD (got '2020-13-01'")]),
    "quoted_no_such_date": ("calendar:\n  start_date: '2020-02-30'\n",
                            [("calendar.start_date", "expected a date as YYYY-MM-DD (got '2020-02-30')")]),
    "number_for_date": ("calendar:\n  start_date: 0\n", [("calendar.start_date", "expected a date as YYYY-MM-DD")]),
    "quoted_number": ("protocol:\n  tranche_size: '400'\n",
                      [("protocol.tranche_size", "expected a number, got the text '400'")]),
    "name_of_dots": ("metadata:\n  name: '..'\n", [("metadata.name", "not dots alone (got '..')")]),
    "name_with_a_slash": ("metadata:\n  name: a/b\n", [("metadata.name", "letters, digits")]),
    "dotted_top_level": ("government.initial_trust: 0.5\n", [
        ("government.initial_trust",
         "dotted keys are not read here; nest it: `government: {initial_trust: 0.5}`")]),
    "dotted_in_section": ("protocol: {conditions.enabled: false}\n", [
        ("protocol.conditions.enabled",
         "dotted keys are not read here; nest it: `protocol: {conditions: {enabled: false}}`")]),
    "dotted_deep": ("protocol.conditions.window_days: 7\n", [
        ("protocol.conditions.window_days", "nest it: `protocol: {conditions: {window_days: 7}}`")]),
    "misspelt_section": ("governmnet:\n  initial_trust: 0.5\n",
                         [("governmnet", "unknown key; did you mean 'government'? (`swapsim schema` lists every key)")]),
    "misspelt_key": ("protocol:\n  tranche_sise: 400\n", [("protocol.tranche_sise", "did you mean 'tranche_size'?")]),
    "misspelt_event_key": ("events:\n  - type: ceasefire\n    day: 3\n    duration_dys: 4\n",
                           [("events.0.duration_dys", "did you mean 'duration_days'?")]),
    "misspelt_event_type": ("events:\n  - type: cesefire\n    day: 3\n",
                            [("events.0", "unknown event type 'cesefire' (did you mean 'ceasefire'?)")]),
    "unknown_key_far_from_any": ("protocol:\n  xyzzy: 1\n",
                                 [("protocol.xyzzy", "unknown key (check the spelling; `swapsim schema` lists every key)")]),
    "dotted_key_to_nothing": ("government.nonsense: 1\n", [("government.nonsense", "unknown key (check the spelling")]),
    "true_for_a_number": ("government:\n  initial_trust: true\n",
                          [("government.initial_trust", "expected a number, got true")]),
    "yes_for_a_whole_number": ("protocol:\n  tranche_size: yes\n",
                               [("protocol.tranche_size", "expected a number, got true (YAML reads yes/no")]),
    "no_for_an_event_number": ("events:\n  - type: ceasefire\n    day: 3\n    violence_factor: no\n",
                               [("events.0.violence_factor", "expected a number, got false")]),
    "one_for_yes_no": ("protocol:\n  conditions:\n    enabled: 1\n",
                       [("protocol.conditions.enabled", "expected true or false, got 1")]),
    "quoted_on_for_yes_no": ("mediator:\n  presses_taliban: 'on'\n",
                             [("mediator.presses_taliban", "expected true or false, got 'on'")]),
    "repeated_event_id": ("events:\n  - {type: ceasefire, id: eid, day: 3}\n  - {type: ceasefire, id: eid, day: 9}\n",
                          [("events.1.id", "'eid' is also the id of events.0 (ids must be unique)")]),
    "zero_for_an_event_yes_no": ("events:\n  - type: policy_change\n    day: 3\n    conditions_enabled: 0\n",
                                 [("events.0.conditions_enabled", "expected true or false, got 0")]),
}


@pytest.mark.parametrize("case", sorted(MESSAGE_CASES))
def test_messages_say_what_would_be_right(tmp_path, case):
    text, expected = MESSAGE_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert_good_problems(info.value, path, [field for field, _ in expected])
    for line, (field, fragment) in zip(info.value.problems, expected):
        assert line.startswith(f"{path}: {field}: "), line
        assert fragment in line, line


def test_every_problem_of_a_file_gets_its_line(tmp_path):
    """Wrong kinds of value are reported beside the file's other problems, each at its field."""
    path = tmp_path / "many.yaml"
    path.write_text("government:\n  initial_trust: true\n  memory: 1.5\nprotocol:\n  tranche_sise: 4\n"
                    "  conditions:\n    enabled: 1\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert_good_problems(info.value, path, ["protocol.conditions.enabled", "protocol.tranche_sise",
                                            "government.initial_trust", "government.memory"])


def test_missing_extends_target_says_where_it_looked(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "a.yaml"
    path.write_text("extends: ../nothere.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    looked = (tmp_path / "nothere.yaml").resolve()
    assert info.value.problems == [f"{path}: extends: no such file '../nothere.yaml' (looked for {looked})"]


def test_numbers_and_yes_no_values_that_are_right_are_taken(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("government:\n  initial_trust: 0\n  memory: 1\nprotocol:\n  conditions:\n    enabled: no\n"
                    "mediator:\n  presses_taliban: yes\ncalendar:\n  start_date: '2020-03-02'\n"
                    "events:\n  - type: policy_change\n    date: 2020-03-05\n    conditions_enabled: on\n")
    s = load(path)
    assert s.government.initial_trust == 0.0 and isinstance(s.government.initial_trust, float)
    assert s.government.memory == 1.0
    assert s.protocol.conditions.enabled is False and s.mediator.presses_taliban is True
    assert s.calendar.start_date == dt.date(2020, 3, 2) and s.events[0].conditions_enabled is True


def test_assignment_refuses_a_yes_no_for_a_number():
    s = Scenario()
    with pytest.raises(ValueError):
        s.government.initial_trust = True
    with pytest.raises(ValueError):
        s.protocol.conditions.enabled = 1
    s.government.initial_trust = 1
    assert s.government.initial_trust == 1.0


def test_with_overrides_refuses_a_yes_no_for_a_number():
    with pytest.raises(ScenarioError) as info:
        with_overrides(Scenario(), {"protocol.tranche_size": True})
    assert info.value.problems == ["<overrides>: protocol.tranche_size: expected a number, got true "
                                   "(YAML reads yes/no and on/off as true/false)"]


def test_spec_files_get_did_you_mean_and_their_schema_command(tmp_path):
    """format_errors serves sweep specs too: a close key is suggested, with the sweep's schema command."""
    from sim.experiments import sweep_spec

    with pytest.raises(ScenarioError) as info:
        sweep_spec.spec_from_dict({"base": str(DECREE), "replicatons": 5, "seed": True,
                                   "parameters": {"government.initial_trust": [0.2]}}, "s.yaml")
    assert sorted(info.value.problems) == [
        "s.yaml: replicatons: unknown key; did you mean 'replications'? (`swapsim schema --sweep` lists every key)",
        "s.yaml: seed: expected a number, got true (YAML reads yes/no and on/off as true/false)",
    ]


@pytest.mark.parametrize("text,fragment", [
    ("government.initial_trust: 0.5\n", "government.initial_trust: dotted keys are not read here; nest it: "
                                         "`government: {initial_trust: 0.5}`"),
    ("protocol:\n  tranche_size: yes\n", "protocol.tranche_size: expected a number, got true"),
    ("events:\n  - type: ceasefire\n    date: 2020-13-01\n", "events.0.date: expected a date as YYYY-MM-DD"),
    ("extends: nothere.yaml\n", "extends: no such file 'nothere.yaml' (looked for "),
], ids=["dotted", "yes for a number", "no such date", "missing extends"])
def test_the_cli_prints_one_line_and_exits_2(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    swapsim = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "swapsim"
    proc = subprocess.run([str(swapsim), "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f"swapsim: {path}: {fragment}"), proc.stderr


# --------------------------------------------------------------------------------------
# Parameters that depend on a switch: declared on the field, reported by inert_parameters, and truly
# without effect (two values give identical runs) while the switch is off.

DECLARED = {path: needs_of(field) for path, field in sc.parameter_fields().items() if needs_of(field)}

TEAM_WALKS_OUT = {"taliban.walkout_trust": 0.9}
# For each declared parameter: overrides of the short decree under which it does change the runs.
MATTERS = {
    "protocol.conditions.window_days": {},
    "protocol.conditions.max_attacks_per_day": {},
    "protocol.conditions.require_engagement": {},
    "protocol.conditions.apply_to_upfront": {},
    "protocol.commander_release_fraction": {"protocol.commander_policy": "after_fraction"},
    "government.commander_weight": {"protocol.commander_policy": "first_batch"},
    "government.gate_after": {"government.reciprocity_gate": 1.0},
    "taliban.commander_demand": {},
    "taliban.demand_half_life_days": {},
    "taliban.verification_softening": {"protocol.commander_policy": "verify_only"},
    "taliban.commander_credit": {"protocol.commander_policy": "first_batch"},
    "taliban.verify_only_credit": {"protocol.commander_policy": "verify_only", **TEAM_WALKS_OUT},
    "taliban.unverified_credit": TEAM_WALKS_OUT,
    "spoilers.progress_timing": {},
    "spoilers.misattribution": {},
    **{f"verification.{name}": {"verification.enabled": True, "government.willing_trust": 0.0}
       for name in ("start_day", "rate_with_team", "list_size", "list_gap_days", "arrears_share")},
    "verification.rate_without_team": {"verification.enabled": True, **TEAM_WALKS_OUT},
    "verification.next_list_size": {"verification.enabled": True, "verification.list_size": 300,
                                    "verification.list_gap_days": 0},
    "mediator.stall_break_rate": {"government.reciprocity_gate": 2.0, "government.gate_after": 100},
    "mediator.stall_break_after_days": {"government.reciprocity_gate": 2.0, "government.gate_after": 100,
                                        "mediator.stall_break_rate": 1.0},
    "protocol.cover_rate": {"protocol.contested": 4000},
    "protocol.cover_share": {"protocol.contested": 4000, "protocol.cover_rate": 1.0},
}


@pytest.fixture(scope="module")
def short_decree() -> Scenario:
    return with_overrides(load(DECREE), {"calendar.horizon_days": 120})


def _two_values(path: str) -> tuple:
    """The ends of a parameter's range (false and true for a yes/no)."""
    field = sc.parameter_fields()[path]
    if field.annotation is bool:
        return False, True
    bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in field.metadata}
    return field.annotation(bounds["Ge"]), field.annotation(bounds["Le"])


def _switched_off(need: dict) -> dict:
    """Overrides that leave one need unmet: the bound itself for `above`, else a value not among those needed."""
    field = sc.parameter_fields()[need["path"]]
    if "above" in need:
        return {need["path"]: field.annotation(need["above"])}
    choices = (False, True) if field.annotation is bool else typing.get_args(field.annotation)
    return {need["path"]: next(c for c in choices if c not in need["in"])}


def _runs_table(scenario: Scenario, path: str, value):
    return runs.run(with_overrides(scenario, {path: value}), runs=40, seed=1, series=False).runs


def test_every_declared_dependency_has_an_empirical_check():
    assert set(DECLARED) == set(MATTERS)
    assert {"protocol.commander_release_fraction", "taliban.verification_softening", "taliban.verify_only_credit",
            "government.gate_after", "spoilers.progress_timing", "spoilers.misattribution",
            "protocol.conditions.window_days", "verification.arrears_share"} <= set(DECLARED)
    for path, needs in DECLARED.items():
        for need in needs:
            assert need["path"] in sc.parameter_fields() and need["path"] != path, (path, need)


@pytest.mark.parametrize("path", sorted(MATTERS))
def test_a_declared_parameter_matters_when_its_switches_are_on(short_decree, path):
    """The check below is meaningful: with every switch on, the two values give different runs."""
    scenario = with_overrides(short_decree, MATTERS[path])
    assert sc.inert_parameters(scenario, [path]) == {}
    low, high = _two_values(path)
    assert not _runs_table(scenario, path, low).equals(_runs_table(scenario, path, high)), path


@pytest.mark.parametrize("path,need", [(p, n) for p in sorted(DECLARED) for n in DECLARED[p]],
                         ids=[f"{p}-{n['path']}" for p in sorted(DECLARED) for n in DECLARED[p]])
def test_a_declared_parameter_has_no_effect_while_a_switch_is_off(short_decree, path, need):
    """A wrong declaration fails here: two values of an inert parameter must give identical runs."""
    scenario = with_overrides(short_decree, {**MATTERS[path], **_switched_off(need)})
    reason = sc.inert_parameters(scenario, [path, "government.initial_trust"])
    assert list(reason) == [path]
    assert reason[path].startswith("has no effect unless ") and need["path"] in reason[path]
    low, high = _two_values(path)
    pd_testing.assert_frame_equal(_runs_table(scenario, path, low), _runs_table(scenario, path, high))


def test_inert_parameters_reads_the_reason_in_words():
    s = with_overrides(Scenario(), {"protocol.commanders": 0})
    reasons = sc.inert_parameters(s, ["protocol.commander_release_fraction", "government.gate_after",
                                      "verification.list_size", "government.initial_trust", "events.x.factor"])
    assert reasons == {
        "protocol.commander_release_fraction":
            "has no effect unless protocol.commander_policy is after_fraction (here refuse, and no policy_change "
            "event makes it after_fraction) and protocol.commanders is above 0 (here 0)",
        "government.gate_after": "has no effect unless government.reciprocity_gate is above 0 (here 0.0)",
        "verification.list_size": "has no effect unless verification.enabled is true (here false)",
    }


def test_a_switch_that_is_varied_too_makes_nothing_inert():
    paths = ["protocol.commander_policy", "protocol.commander_release_fraction", "verification.enabled",
             "verification.list_size"]
    assert sc.inert_parameters(Scenario(), paths) == {}


@pytest.mark.parametrize("event,path", [
    ({"type": "policy_change", "day": 20, "commander_policy": "after_fraction"}, "protocol.commander_release_fraction"),
    ({"type": "policy_change", "day": 20, "conditions_enabled": True}, "protocol.conditions.max_attacks_per_day"),
])
def test_a_policy_change_event_can_turn_a_switch_on(short_decree, event, path):
    data = short_decree.model_dump(mode="json")
    data["protocol"]["conditions"]["enabled"] = False
    data["events"].append(event)
    scenario = sc.from_dict(data)
    assert sc.inert_parameters(scenario, [path]) == {}
    low, high = _two_values(path)
    assert not _runs_table(scenario, path, low).equals(_runs_table(scenario, path, high))
    data["events"].pop()
    assert path in sc.inert_parameters(sc.from_dict(data), [path])


def test_every_policy_change_field_is_known_to_set_its_parameter():
    own = set(PolicyChange.model_fields) - set(BaseEvent.model_fields) - {"type"}
    assert {name for tag, name in sc.SET_BY_EVENTS.values() if tag == "policy_change"} == own
    for path, (tag, name) in sc.SET_BY_EVENTS.items():
        assert path in sc.parameter_fields(), path


def test_the_schema_and_the_reference_say_what_a_parameter_needs():
    protocol = json_schema()["$defs"]["Protocol"]["properties"]
    assert protocol["commander_release_fraction"]["needs"] == [
        {"path": "protocol.commander_policy", "in": ["after_fraction"]}, {"path": "protocol.commanders", "above": 0}]
    assert "only with protocol.commander_policy: after_fraction" in protocol["commander_release_fraction"]["description"]
    assert "only with verification.enabled: true" in sc.reference_markdown()


# ---------------------------------------------------------------- every problem at once, in the project's words


def test_one_pass_reports_the_checks_between_fields_beside_every_other_problem(tmp_path):
    """A misspelt event type, a bad value or an unknown key does not hide the checks between fields: those that
    read only valid values run, every event that can be dated is checked against the horizon."""
    path = tmp_path / "many.yaml"
    path.write_text("calendar: {horizon_days: 100}\n"
                    "protocol: {upfront_batch: abc, tranche_size: 6000, comanders: 1}\n"
                    "events:\n"
                    "  - {type: ceasfire, day: 500, id: a}\n"
                    "  - {type: ceasefire, day: 300, duration_days: 3, id: a}\n"
                    "  - {type: ceasefire, day: 50, duration_days: 3}\n")
    with pytest.raises(ScenarioError) as err:
        load(path)
    assert sorted(line.removeprefix(f"{path}: ") for line in err.value.problems) == sorted([
        "protocol.upfront_batch: expected a whole number (got 'abc')",
        "protocol.comanders: unknown key; did you mean 'commanders'? (`swapsim schema` lists every key)",
        "events.0: unknown event type 'ceasfire' (did you mean 'ceasefire'?); expected one of ceasefire, "
        "policy_change, political_split, pressure_shock, spoiler_surge",
        "protocol.tranche_size: is more than protocol.government_prisoners",
        "events.1.id: 'a' is also the id of events.0 (ids must be unique)",
        "events.0: falls on day 500, outside the horizon 0..99",
        "events.1: falls on day 300, outside the horizon 0..99",
    ])


def test_a_check_reading_a_bad_value_is_skipped_not_run_on_the_default(tmp_path):
    path = tmp_path / "bad.yaml"
    # government_prisoners is wrong itself: comparing tranche_size with its default (5,000) would mislead
    path.write_text("calendar: {horizon_days: xyz}\nprotocol: {government_prisoners: xyz, tranche_size: 6000}\n"
                    "events:\n  - {type: ceasefire, day: 500, duration_days: 3}\n")
    with pytest.raises(ScenarioError) as err:
        load(path)
    assert [line.split(": ")[1] for line in err.value.problems] == ["calendar.horizon_days",
                                                                    "protocol.government_prisoners"]


PYDANTIC_PHRASES = ("Input should", "String should", "instance of", "valid dictionary", "pattern", "type=",
                    "Value error", "validation error", "Field required", "Extra inputs")
# Every kind of pydantic error a file can cause, as (kind of file, text, a fragment of the line it must give).
WORDING_CASES = {
    "a mapping for a number": ("scenario", "government:\n  initial_trust: {a: 1}\n",
                               "government.initial_trust: expected a number"),
    "a list for a section": ("scenario", "government: [1, 2]\n",
                             "government: expected a mapping of its keys (`swapsim schema` lists them), got a list"),
    "text for a whole number": ("scenario", "protocol:\n  tranche_size: lots\n",
                                "protocol.tranche_size: expected a whole number (got 'lots')"),
    "a fraction for a whole number": ("scenario", "protocol:\n  tranche_size: 2.5\n",
                                      "protocol.tranche_size: expected a whole number (got 2.5)"),
    "infinity": ("scenario", "government:\n  initial_trust: .inf\n", "government.initial_trust: "),
    "a number for text": ("scenario", "metadata:\n  description: 5\n", "metadata.description: expected text (got 5)"),
    "a name with a space": ("scenario", "metadata:\n  name: 'a b'\n", "metadata.name: a name is letters"),
    "a long name": ("scenario", f"metadata:\n  name: {'a' * 90}\n", "metadata.name: must have at most 80 characters"),
    "a bad event id": ("scenario", "events:\n  - {type: ceasefire, day: 3, id: '1 x'}\n",
                       "events.0.id: has characters that are not allowed here"),
    "a misspelt choice": ("scenario", "protocol:\n  commander_policy: refuze\n",
                          "protocol.commander_policy: unknown value 'refuze' (did you mean 'refuse'?); expected one of "
                          "refuse, first_batch, verify_only, after_fraction"),
    "text for a section": ("scenario", "protocol: '-9448249482485840.0'\n",
                           "protocol: expected a mapping of its keys (`swapsim schema` lists them), got '-94482"),
    "events not a list": ("scenario", "events: 5\n", "events: expected a list (got 5)"),
    "an event without a type": ("scenario", "events:\n  - {day: 3}\n", "events.0: missing 'type'"),
    "a number for a prior": ("calibration", "parameters:\n  taliban.initial_trust: 3\n",
                             "parameters.taliban.initial_trust: expected a mapping with the keys low, high, scale, "
                             "got 3"),
    "a misspelt scale": ("calibration", "parameters:\n  taliban.initial_trust: {low: 0.1, high: 0.5, scale: logg}\n",
                         "parameters.taliban.initial_trust.scale: unknown value 'logg' (did you mean 'log'?); expected "
                         "one of linear, log"),
    "a misspelt prior key": ("calibration", "parameters:\n  taliban.initial_trust: {low: 0.1, hihg: 0.5}\n",
                             "parameters.taliban.initial_trust.hihg: unknown key; did you mean 'high'?"),
    "a missing prior end": ("calibration", "parameters:\n  taliban.initial_trust: {low: 0.1}\n",
                            "parameters.taliban.initial_trust.high: required"),
    "a misspelt method": ("calibration", "method: abc-smx\n",
                          "method: unknown value 'abc-smx' (did you mean 'abc-smc'?)"),
    "a negative weight": ("calibration", "weights: {high: -1}\n", "weights.high: must be more than 0"),
    "no parameters": ("calibration", "parameters: {}\n", "parameters: no parameters to fit"),
    "a misspelt sampler": ("sweep", "sampler: grd\n", "sampler: unknown sampler 'grd' (did you mean 'grid'?)"),
    "a misspelt output": ("sweep", "outputs: [deadlok]\n", "outputs.0: unknown outcome 'deadlok' (did you mean "
                                                             "'deadlocked'?)"),
    "no outputs": ("sweep", "outputs: []\n", "outputs: must have at least 1 entries"),
    "a text value": ("sweep", "parameters:\n  government.initial_trust: ['0.5']\n",
                     "parameters.government.initial_trust: value '0.5': expected a number"),
    "a bad shape": ("sweep", "parameters:\n  government.initial_trust: 0.5\n",
                    "parameters.government.initial_trust: expected a list of values, a range"),
    "text for replications": ("sweep", "replications: many\n", "replications: expected a whole number (got 'many')"),
    "a misspelt range key": ("sweep", "parameters:\n  protocol.tranche_size: {start: 1, stop: 9, steps: 2}\n",
                             "parameters.protocol.tranche_size.steps: unknown key; did you mean 'step'?"),
}
SPEC_BASES = {
    "scenario": "",
    "sweep": f"base: {DECREE}\nparameters:\n  government.initial_trust: [0.2, 0.4]\n",
    "calibration": f"base: {DECREE}\nuntil: 2020-07-31\nparticles: 10\nsimulations: 100\n"
                   "parameters:\n  government.initial_trust: {{low: 0.1, high: 0.7}}\n",
}


def _spec_text(kind: str, text: str) -> str:
    """A file of `kind` whose keys are those of a valid one with `text`'s top-level keys in their place."""
    data = yaml.safe_load(SPEC_BASES[kind].replace("{{", "{").replace("}}", "}")) or {}
    data.update(yaml.safe_load(text))
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("case", sorted(WORDING_CASES))
def test_every_kind_of_error_is_in_the_projects_words(tmp_path, case):
    from sim.experiments import calibration_spec, sweep_spec

    kind, text, fragment = WORDING_CASES[case]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(_spec_text(kind, text))
    loader = {"scenario": load, "sweep": sweep_spec.load_spec, "calibration": calibration_spec.load_spec}[kind]
    with pytest.raises(ScenarioError) as err:
        loader(path)
    lines = err.value.problems
    assert any(fragment in line for line in lines), lines
    for line in lines:
        assert line.startswith(f"{path}: "), line
        assert not any(phrase in line for phrase in PYDANTIC_PHRASES) and len(line) <= 400, line


def test_no_pydantic_error_kind_is_passed_on_in_pydantics_words():
    """Each error kind pydantic has, given with pydantic's wording: the message is ours whatever the kind."""
    from pydantic_core.core_schema import ErrorType

    for kind in typing.get_args(ErrorType):
        e = {"type": kind, "loc": ("x",), "msg": "Input should be a valid thing [type=x]", "input": 1, "ctx": {}}
        words = sc._message(e, "swapsim schema", None)
        assert words and not any(phrase in words for phrase in PYDANTIC_PHRASES), (kind, words)

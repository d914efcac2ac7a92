"""Scenario files at the API level: defaults, bundled files, `extends`, errors that name the
file and the field, the JSON Schema, and dotted overrides."""

from __future__ import annotations

import datetime as dt
import json
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from sim.model import scenario as sc
from sim.model.events import COMMANDER_POLICIES
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

"""The one YAML reader: every hostile or damaged file is one ScenarioError line naming the file, in every loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.experiments import calibration_spec, sweep_spec
from sim.model import yaml_files
from sim.model.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parents[1]
LOADERS = {"scenario": load, "sweep spec": sweep_spec.load_spec, "calibration spec": calibration_spec.load_spec}


def one_line_naming(err: ScenarioError, path: Path, *fragments: str) -> None:
    assert len(err.problems) == 1, err.problems
    line = err.problems[0]
    assert "\n" not in line and str(path) in line, line
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("case,text,fragments", [
    ("deep", "parameters: {a: " + "[" * 600 + "]" * 600 + "}\n", ["nested deeper than", "line 1"]),
    ("deep_block", "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "x: 1\n",
     ["nested deeper than"]),
    ("duplicate", "metadata:\n  name: a\ncalendar:\n  horizon_days: 30\nmetadata:\n  name: b\n",
     ["'metadata' given twice", "line 5"]),
    ("duplicate_inner", "protocol:\n  daily_capacity: 10\n  daily_capacity: 20\n", ["'daily_capacity' given twice"]),
])
def test_hostile_files_are_one_line_in_every_loader(tmp_path, loader, case, text, fragments):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        LOADERS[loader](path)
    one_line_naming(info.value, path, *fragments)


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("metadata:\n  name: big\n" + "# padding\n" * 200)
    monkeypatch.setattr(yaml_files, "MAX_BYTES", 1000)
    with pytest.raises(ScenarioError) as info:
        load(path)
    one_line_naming(info.value, path, "more than the 1,000")


def test_a_long_value_in_a_message_is_cut():
    assert len(yaml_files._short("x" * 20_000)) < 120
    assert yaml_files._short("short") == "'short'"


def test_real_files_are_far_inside_the_limits():
    for path in [*ROOT.glob("scenarios/**/*.yaml")]:
        assert path.stat().st_size < yaml_files.MAX_BYTES / 50
        yaml_files.read_yaml(path)  # no real file nests too deep or repeats a key


# Text made of YAML's own punctuation, keys and values: whatever it is, reading it ends in a mapping or one
# ScenarioError line, never another exception.
_PIECES = st.sampled_from(["{", "}", "[", "]", ":", " ", "\n", "  ", "- ", "a", "metadata", "name", "x", "1",
                           "'", '"', "&a", "*a", "!!str", "2020-13-01", ",", "#", "?", "|", ">", "\t", "."])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=80).map("".join))
def test_any_text_is_a_mapping_or_one_clear_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "f.yaml"
    path.write_text(text)
    try:
        data = yaml_files.read_yaml(path)
    except ScenarioError as err:
        one_line_naming(err, path)
    else:
        assert isinstance(data, dict)

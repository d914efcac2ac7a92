"""Golden results: the metrics of the first five replicates of every shipped scenario, pinned.

Any change that moves a number of the model fails here, float bits included. When the
change is meant, regenerate the file (`.venv/bin/python tests/golden/regenerate.py`) and
commit it with the change, saying why the numbers moved.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("regenerate", Path(__file__).with_name("golden") / "regenerate.py")
regenerate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(regenerate)
EXPECTED = json.loads(regenerate.GOLDEN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def actual() -> dict[str, list[dict]]:
    return regenerate.golden_metrics()


def test_every_shipped_scenario_is_pinned(actual):
    assert sorted(actual) == sorted(EXPECTED), "a scenario was added or removed: regenerate tests/golden/metrics.json"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_metrics_are_those_pinned(actual, name):
    assert len(actual[name]) == len(EXPECTED[name]) == regenerate.REPLICATES
    for want, got in zip(EXPECTED[name], actual[name]):
        assert got == want, (name, {k: (want[k], got.get(k)) for k in want if got.get(k) != want[k]})

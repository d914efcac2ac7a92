"""What the dashboard lets a user change, and how a page's settings become a validated scenario.

The sliders are Mesa `model_params` entries keyed by the model's keyword names (the dotted path
with `__` for each dot), so the same dictionary builds `ExchangeModel(**settings)` and drives
Mesa's own `UserInputs`. Nothing from the page reaches a run without passing the scenario schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.experiments import storage
from sim.model.scenario import Scenario, ScenarioError, keyword, path_of, to_yaml, value_at, with_overrides

# The parameters a user will want to move first: dotted path -> (label, low, high, step).
SLIDERS: dict[str, tuple[str, float, float, float]] = {
    "government.initial_trust": ("Government's trust, day 0", 0.0, 1.0, 0.01),
    "taliban.initial_trust": ("Taliban's trust, day 0", 0.0, 1.0, 0.01),
    "government.memory": ("Government's memory", 0.9, 1.0, 0.001),
    "taliban.memory": ("Taliban's memory", 0.9, 1.0, 0.001),
    "protocol.conditions.max_attacks_per_day": ("Attack limit per day", 0.0, 30.0, 0.5),
    "mediator.pressure_weight": ("US pressure weight", 0.0, 3.0, 0.05),
    "spoilers.attack_rate": ("ISKP attacks per day", 0.0, 5.0, 0.1),
}
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "protocol.commander_policy": ("The 15 commanders", ("refuse", "first_batch", "verify_only", "after_fraction")),
}
ENSEMBLE_RUNS = 500
SOURCE = "dashboard"


def model_params(scenario: Scenario, settings: dict[str, Any] | None = None,
                 start: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Mesa `model_params` for the sliders and selects: at the scenario's values (or `start`'s, keyword -> value:
    a posterior's medians), or at `settings` (keyword -> value) where given, each slider's label showing its
    value. The range always holds the starting value."""
    settings = settings or {}
    start = start or {}
    params: dict[str, dict[str, Any]] = {}
    for path, (label, low, high, step) in SLIDERS.items():
        own = float(start.get(keyword(path), value_at(scenario, path)))
        value = float(settings.get(keyword(path), own))
        params[keyword(path)] = {"type": "SliderFloat", "label": f"{label}: {value:g}", "value": value,
                                 "min": min(low, own), "max": max(high, own), "step": step}
    for path, (label, values) in CHOICES.items():
        params[keyword(path)] = {"type": "Select", "label": label,
                                 "value": settings.get(keyword(path), value_at(scenario, path)), "values": list(values)}
    return params


def on_step(name: str, value: float) -> float:
    """`value` rounded to the step of the slider called `name` (a posterior's median as a slider can hold it)."""
    step = SLIDERS[path_of(name)][3]
    return round(round(value / step) * step, 6)


def defaults(scenario: Scenario, start: dict[str, float] | None = None) -> dict[str, Any]:
    """The settings (keyword -> value) the page starts with: the scenario's values, or `start`'s."""
    return {name: entry["value"] for name, entry in model_params(scenario, start=start).items()}


def apply(scenario: Scenario, settings: dict[str, Any]) -> Scenario:
    """The scenario with the page's settings, validated by the schema; ScenarioError (one line each) otherwise.

    Settings equal to the scenario's own values are left out, so an unmoved slider never
    rewrites a value (a float slider's 0.4 is the scenario's 0.4).
    """
    changed = {path_of(name): value for name, value in settings.items()
               if value_at(scenario, path_of(name)) != value}
    if not changed:
        return scenario
    return with_overrides(scenario, changed, SOURCE)


def safe_name(name: str) -> str:
    """A file stem made of letters, digits, '-' and '_' only: no folder, no hidden file, no traversal."""
    stem = name.strip()
    stem = stem[: -len(".yaml")] if stem.lower().endswith(".yaml") else stem
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")
    if not stem:
        raise ValueError(f"{name!r} is no usable file name: use letters, digits, '-' or '_'")
    return stem[:80]


@dataclass
class Saved:
    path: Path
    replaced: bool


def save(scenario: Scenario, folder: str | Path, name: str, replace: bool = False) -> Saved:
    """Write the scenario as `<folder>/<safe name>.yaml` (atomically), named after the file.

    Raises FileExistsError when the file exists and `replace` is false, and ValueError for a
    name with nothing usable in it.
    """
    stem = safe_name(name)
    folder = Path(folder)
    path = folder / f"{stem}.yaml"
    existed = path.exists()
    if existed and not replace:
        raise FileExistsError(f"{path} exists: tick 'replace' to overwrite it")
    named = scenario.model_copy(update={"metadata": scenario.metadata.model_copy(update={"name": stem})})
    text = to_yaml(named)
    storage.atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Saved(path, existed)

"""The parameters of a batch of runs ("lanes"), every one an array over lanes.

Lane k is one run: its own scenario (lanes may share one, or each have its own, as
the points of a sweep do) and, optionally, parameter values that override it
(`overrides`: a dotted path to a value per lane, the cheap way to give thousands of
lanes different values without building a scenario for each). Every parameter is
then an array of shape (L,), and each day's protocol values and events (the
scenario's `Timeline`) are gathered per lane, so that the model's arithmetic is the
same elementwise whatever the other lanes hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

from sim.model import rules
from sim.model.scenario import Scenario, ScenarioError, parameter_fields, value_at, with_overrides
from sim.model.timeline import DAILY, Timeline

# Parameters that shape the timeline, or that a check between fields compares: lanes that
# override them are grouped, and each group is validated as a whole scenario.
GROUPED = frozenset({
    "calendar.start_date", "calendar.horizon_days", "protocol.government_prisoners", "protocol.commanders",
    "protocol.upfront_batch", "protocol.upfront_start_day", "protocol.daily_capacity", "protocol.tranche_size",
    "protocol.tranche_interval_days", "protocol.conditions.enabled", "protocol.commander_policy",
})
# Labels, not parameters of a run.
_NOT_NUMERIC = frozenset({"metadata.name", "metadata.description", "calendar.start_date"})


def _first_seen(keys: Sequence) -> tuple[list[int], np.ndarray]:
    """The lane where each distinct key first appears, and for each lane the number of its key in that order."""
    number: dict = {}
    index = np.empty(len(keys), dtype=np.int64)
    for lane, key in enumerate(keys):
        index[lane] = number.setdefault(key, len(number))
    firsts = [0] * len(number)
    for lane in range(len(keys) - 1, -1, -1):
        firsts[index[lane]] = lane
    return firsts, index


def overridable(path: str) -> bool:
    """Whether lanes can take this parameter as a per-lane override (every numeric, yes/no or choice parameter)."""
    return path in parameter_fields() and path not in _NOT_NUMERIC


def _encode(path: str, values: ArrayLike) -> np.ndarray:
    """Values of one parameter as a numeric array: policies as codes, yes/no as bool."""
    kind = parameter_fields()[path].annotation
    if getattr(kind, "__origin__", None) is Literal:
        return np.array([rules.POLICY_CODES[v] for v in np.asarray(values, dtype=object).ravel()], dtype=np.int64)
    dtype = {bool: bool, int: np.int64, float: np.float64}[kind]
    return np.asarray(values).astype(dtype)


class Lanes:
    """Parameters (`params.section.name`, arrays of shape (L,)) and daily timelines of L runs."""

    def __init__(self, scenarios: Scenario | Sequence[Scenario], size: int | None = None,
                 overrides: Mapping[str, ArrayLike] | None = None):
        if isinstance(scenarios, Scenario):
            scenarios = [scenarios] * (size or 1)
        self.size = len(scenarios)
        if self.size < 1 or (size is not None and size != self.size):
            raise ValueError(f"expected {size or 'at least 1'} lanes, got {self.size} scenarios")
        self.scenarios, self.scenario_of_lane = self._distinct(scenarios)
        self.overrides = self._checked(overrides or {})
        self.params = self._params()
        self.timelines, self.group_of_lane = self._timelines()
        self.horizon = max(t.horizon for t in self.timelines)
        self._daily = {name: self._stack(name) for name in DAILY}

    @staticmethod
    def _distinct(scenarios: Sequence[Scenario]) -> tuple[list[Scenario], np.ndarray]:
        firsts, index = _first_seen([id(s) for s in scenarios])
        return [scenarios[lane] for lane in firsts], index

    def _checked(self, overrides: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
        """Overrides as arrays of shape (L,), each value within its parameter's bounds and choices."""
        fields, problems, out = parameter_fields(), [], {}
        for path, values in overrides.items():
            if not overridable(path):
                problems.append(f"<overrides>: {path}: no such parameter")
                continue
            array = np.broadcast_to(np.asarray(values, dtype=object if isinstance(values, str) else None),
                                    (self.size,))
            kind, meta = fields[path].annotation, fields[path].metadata
            if getattr(kind, "__origin__", None) is Literal:
                bad = [v for v in set(array.tolist()) if v not in get_args(kind)]
                if bad:
                    problems.append(f"<overrides>: {path}: {bad[0]!r} is not one of {', '.join(get_args(kind))}")
                    continue
            else:
                numbers = array.astype(float)
                low = next((m.ge for m in meta if hasattr(m, "ge")), None)
                high = next((m.le for m in meta if hasattr(m, "le")), None)
                if (low is not None and (numbers < low).any()) or (high is not None and (numbers > high).any()) \
                        or not np.isfinite(numbers).all():
                    problems.append(f"<overrides>: {path}: values must lie in {low} to {high}")
                    continue
                if kind is int and not (numbers == np.round(numbers)).all():
                    problems.append(f"<overrides>: {path}: values must be whole numbers")
                    continue
            out[path] = array
        if problems:
            raise ScenarioError(problems)
        return out

    def _params(self) -> SimpleNamespace:
        root = SimpleNamespace()
        for path in parameter_fields():
            if path in _NOT_NUMERIC:
                continue
            if path in self.overrides:
                values = _encode(path, self.overrides[path])
            else:
                values = _encode(path, [value_at(s, path) for s in self.scenarios])[self.scenario_of_lane]
            node = root
            *sections, name = path.split(".")
            for section in sections:
                node = node.__dict__.setdefault(section, SimpleNamespace())
            setattr(node, name, values)
        return root

    def _timelines(self) -> tuple[list[Timeline], np.ndarray]:
        """One timeline per distinct scenario, or per distinct scenario and grouped overrides."""
        grouped = [p for p in self.overrides if p in GROUPED]
        if not grouped:
            return [Timeline.of(s) for s in self.scenarios], self.scenario_of_lane
        keys = list(zip(self.scenario_of_lane.tolist(), *(self.overrides[p].tolist() for p in grouped)))
        firsts, index = _first_seen(keys)
        timelines = [Timeline.of(with_overrides(self.scenarios[keys[lane][0]], dict(zip(grouped, keys[lane][1:]))))
                     for lane in firsts]
        return timelines, index

    def _stack(self, name: str) -> np.ndarray:
        """One daily value of every timeline as an array (horizon, groups), padded with its last day."""
        columns = [np.pad(getattr(t, name), (0, self.horizon - t.horizon), mode="edge") for t in self.timelines]
        return np.stack(columns, axis=1)

    def today(self, day: int) -> SimpleNamespace:
        """The protocol values and event effects of day `day`, one per lane."""
        return SimpleNamespace(**{name: values[day, self.group_of_lane] for name, values in self._daily.items()})

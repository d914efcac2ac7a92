"""The protocol and the scenario's events as per-day values: what a run reads on day d.

Everything here depends on the scenario alone, never on what happens in a run, so
it is computed once, before the first day: the release schedule (rewritten from
the day of a policy change), the protocol values that events change, and the
factors and shifts of ceasefires, splits, surges and shocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.model import rules

if TYPE_CHECKING:
    from sim.model.scenario import Scenario

# What the model reads each day, in the order of `Timeline`'s fields.
DAILY = ("schedule", "daily_capacity", "tranche_size", "conditions_enabled", "commander_policy",
         "ceasefire_factor", "release_boost", "threshold_shift", "spoiler_surge", "pressure_shock")


@dataclass
class Timeline:
    """Per-day values of one scenario over its horizon (arrays of length horizon_days)."""

    schedule: np.ndarray  # government releases due by the end of day d
    daily_capacity: np.ndarray
    tranche_size: np.ndarray
    tranche_interval: np.ndarray
    conditions_enabled: np.ndarray
    commander_policy: np.ndarray
    ceasefire_factor: np.ndarray  # Taliban attacks multiplied by this
    release_boost: np.ndarray  # fall in the government's release threshold
    threshold_shift: np.ndarray  # rise in the government's release threshold
    spoiler_surge: np.ndarray  # ISKP attack rate multiplied by this
    pressure_shock: np.ndarray  # change of US pressure at the start of day d
    upfront_batch: int
    upfront_start_day: int
    total: int

    @classmethod
    def of(cls, scenario: Scenario) -> Timeline:
        """The scenario's protocol, then each event applied in order of day (file order within a day)."""
        p, n = scenario.protocol, scenario.calendar.horizon_days
        days = np.arange(n)

        def constant(value, dtype):
            return np.full(n, value, dtype=dtype)

        timeline = cls(
            schedule=np.asarray(rules.scheduled_released(
                day=days, upfront_batch=p.upfront_batch, upfront_start_day=p.upfront_start_day,
                daily_capacity=p.daily_capacity, tranche_size=p.tranche_size,
                tranche_interval=p.tranche_interval_days, total=p.government_prisoners,
            ), dtype=np.int64),
            daily_capacity=constant(p.daily_capacity, np.int64),
            tranche_size=constant(p.tranche_size, np.int64),
            tranche_interval=constant(p.tranche_interval_days, np.int64),
            conditions_enabled=constant(p.conditions.enabled, bool),
            commander_policy=constant(rules.POLICY_CODES[p.commander_policy], np.int64),
            ceasefire_factor=constant(1.0, float),
            release_boost=constant(0.0, float),
            threshold_shift=constant(0.0, float),
            spoiler_surge=constant(1.0, float),
            pressure_shock=constant(0.0, float),
            upfront_batch=p.upfront_batch,
            upfront_start_day=p.upfront_start_day,
            total=p.government_prisoners,
        )
        for day, event in scenario.event_days():
            event.apply(timeline, day)
        return timeline

    @property
    def horizon(self) -> int:
        return len(self.schedule)

    def span(self, day: int, duration: int) -> slice:
        """Days day .. day + duration - 1, cut at the horizon."""
        return slice(day, day + duration)

    def reschedule(self, day: int) -> None:
        """Continue the schedule from `day` with that day's capacity, tranche size and interval.

        What was due by yesterday stays due. The rest of the up-front batch continues
        at the new capacity, then tranches follow every new interval; if the up-front
        batch is done, the tranche cycle keeps its phase (counted from the last day
        something fell due), so restating the old values changes nothing.
        """
        capacity, size, interval = (int(a[day]) for a in (self.daily_capacity, self.tranche_size,
                                                          self.tranche_interval))
        due = int(self.schedule[day - 1]) if day > 0 else 0
        days = np.arange(day, self.horizon)
        if due < self.upfront_batch:
            tail = rules.scheduled_released(
                day=days, upfront_batch=self.upfront_batch - due, upfront_start_day=max(day, self.upfront_start_day),
                daily_capacity=capacity, tranche_size=size, tranche_interval=interval, total=self.total - due,
            )
        else:
            rises = np.flatnonzero(np.diff(self.schedule[:day], prepend=0) > 0)
            anchor = int(rises[-1]) if len(rises) else self.upfront_start_day - 1
            tail = np.maximum(days - anchor, 0) // interval * size
        self.schedule[day:] = np.minimum(due + tail, self.total)

"""Dated events of a scenario. Each type is one class: its fields (the schema), how it
changes the per-day values of a `Timeline`, and its label on figures.

Events are applied in order of day, and in file order within a day. Overlapping
events combine: factors multiply, shifts add.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from sim.model import rules
from sim.model.schema import F, Section
from sim.model.timeline import Timeline

COMMANDER_POLICIES = tuple(rules.POLICY_CODES)


class BaseEvent(Section):
    """What every event has: a day (days since calendar.start_date) or a date, and an optional name."""

    id: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40,
                           description="A name for the event, unique in the scenario, to refer to it: a sweep varies "
                                       "events.<id>.<field> [text]")
    day: int | None = Field(None, ge=0, description="Day of the event, days since start_date [day]")
    date: dt.date | None = Field(None, description="Date of the event; give day or date, not both [date]")

    @model_validator(mode="after")
    def _one_of_day_or_date(self):
        if (self.day is None) == (self.date is None):
            raise ValueError("give exactly one of 'day' or 'date'")
        return self

    def resolve_day(self, start: dt.date) -> int:
        return self.day if self.day is not None else (self.date - start).days

    def apply(self, timeline: Timeline, day: int) -> None:
        """Change the timeline's per-day values from `day`, the event's resolved day."""
        raise NotImplementedError

    def label(self) -> str:
        """A short label for figures."""
        text = self.type.replace("_", " ").capitalize()
        duration = getattr(self, "duration_days", None)
        return text + (f" ({duration} d)" if duration is not None else "")


class Ceasefire(BaseEvent):
    """A truce: fewer Taliban attacks, and a government readier to release, for some days."""

    type: Literal["ceasefire"]
    duration_days: int = F(3, "days", "Days the ceasefire lasts", 1, 3650)
    violence_factor: float = F(0.1, "share", "Taliban attacks multiplied by this during the ceasefire", 0, 1)
    release_boost: float = F(0.3, "trust units", "Fall in the government's release threshold during the ceasefire", 0, 1)

    def apply(self, timeline: Timeline, day: int) -> None:
        span = timeline.span(day, self.duration_days)
        timeline.ceasefire_factor[span] *= self.violence_factor
        timeline.release_boost[span] += self.release_boost


class PressureShock(BaseEvent):
    """A one-off change of US pressure (the aid cut of March 2020 raised it)."""

    type: Literal["pressure_shock"]
    amount: float = F(0.3, "pressure", "Change of US pressure (the $1bn aid cut raised it)", -1, 1)

    def apply(self, timeline: Timeline, day: int) -> None:
        timeline.pressure_shock[day] += self.amount

    def label(self) -> str:
        return f"{super().label()} {self.amount:+.2f}"


class PolicyChange(BaseEvent):
    """New protocol terms from this day on: the schedule continues from here without re-judging the past."""

    type: Literal["policy_change"]
    tranche_size: int | None = Field(None, ge=1, description="New tranche size [prisoners]")
    tranche_interval_days: int | None = Field(None, ge=1, description="New days between tranches [days]")
    daily_capacity: int | None = Field(None, ge=1, description="New daily capacity [prisoners per day]")
    conditions_enabled: bool | None = Field(None, description="Switch the tranche conditions on or off [yes/no]")
    commander_policy: Literal["refuse", "first_batch", "verify_only", "after_fraction"] | None = Field(
        None, description="New commander policy [choice]"
    )

    def apply(self, timeline: Timeline, day: int) -> None:
        changes = {"tranche_size": self.tranche_size, "tranche_interval": self.tranche_interval_days,
                   "daily_capacity": self.daily_capacity}
        if any(value is not None for value in changes.values()):
            for name, value in changes.items():
                if value is not None:
                    getattr(timeline, name)[day:] = value
            timeline.reschedule(day)
        if self.conditions_enabled is not None:
            timeline.conditions_enabled[day:] = self.conditions_enabled
        if self.commander_policy is not None:
            timeline.commander_policy[day:] = rules.POLICY_CODES[self.commander_policy]


class PoliticalSplit(BaseEvent):
    """A divided government (rival inaugurations): a higher release threshold for some days."""

    type: Literal["political_split"]
    duration_days: int = F(60, "days", "Days the split lasts", 1, 3650)
    threshold_shift: float = F(0.15, "trust units", "Rise in the government's release threshold while divided", 0, 1)

    def apply(self, timeline: Timeline, day: int) -> None:
        timeline.threshold_shift[timeline.span(day, self.duration_days)] += self.threshold_shift


class SpoilerSurge(BaseEvent):
    """More ISKP attacks for some days."""

    type: Literal["spoiler_surge"]
    duration_days: int = F(14, "days", "Days the surge lasts", 1, 3650)
    factor: float = F(3.0, "multiplier", "ISKP attack rate multiplied by this during the surge", 0, 20)

    def apply(self, timeline: Timeline, day: int) -> None:
        timeline.spoiler_surge[timeline.span(day, self.duration_days)] *= self.factor


EVENT_TYPES = (Ceasefire, PressureShock, PolicyChange, PoliticalSplit, SpoilerSurge)
EVENT_TAGS = {cls.model_fields["type"].annotation.__args__[0]: cls for cls in EVENT_TYPES}

Event = Annotated[
    Ceasefire | PressureShock | PolicyChange | PoliticalSplit | SpoilerSurge,
    Field(discriminator="type"),
]

"""The Mesa model: one step is one day, in the fixed order of DESIGN.md."""

from __future__ import annotations

import math

import mesa
import numpy as np
import pandas as pd

from sim.model import outcomes

from sim.model import rules
from sim.model.agents import GovernmentAgent, TalibanAgent
from sim.model.scenario import Scenario

# Daily series: column name -> model attribute read by the DataCollector.
SERIES = {
    "government_scheduled": "scheduled",
    "government_released": "government_released",
    "taliban_released": "taliban_released",
    "commanders_released": "commanders_released",
    "trust_government": "trust_government",
    "trust_taliban": "trust_taliban",
    "engaged": "engaged",
    "offensive": "offensive",
    "pressure": "pressure",
    "taliban_attacks": "taliban_attacks",
    "iskp_attacks": "iskp_attacks",
    "attributed_attacks": "attributed_attacks",
}


class ExchangeModel(mesa.Model):
    """A batched prisoner exchange between the Afghan government and the Taliban.

    `seed` is the run's integer seed; all randomness comes from the numpy Generator it
    seeds, drawn as a fixed block of uniforms per day. With `collect=False` the daily
    series is not recorded (sweeps need only the metrics); nothing else changes.
    """

    def __init__(self, scenario: Scenario, seed: int, collect: bool = True):
        super().__init__(rng=int(seed))
        self.seed = int(seed)
        self.scenario_ = scenario
        self.protocol = p = scenario.protocol
        self.horizon = scenario.calendar.horizon_days
        self.uniforms = self.rng.random((self.horizon, rules.UNIFORMS_PER_DAY))

        # Protocol values that events may change.
        self.commander_policy = rules.POLICY_CODES[p.commander_policy]
        self.tranche_size = p.tranche_size
        self.tranche_interval = p.tranche_interval_days
        self.daily_capacity = p.daily_capacity
        self.conditions_enabled = p.conditions.enabled
        days = np.arange(self.horizon)
        self.schedule = rules.scheduled_released(
            days, p.upfront_batch, p.upfront_start_day, p.daily_capacity, p.tranche_size, p.tranche_interval_days,
            p.government_prisoners,
        )
        self.insistence = rules.demand_insistence(days, scenario.taliban.demand_half_life_days)

        self._expand_events()
        self.pressure = float(scenario.mediator.initial_pressure)
        self.government = GovernmentAgent(self, scenario.government, p.government_prisoners, p.commanders)
        self.taliban = TalibanAgent(self, scenario.taliban, p.taliban_prisoners)

        self.day = 0
        self.last_move_day = p.upfront_start_day - 1
        self.longest_stall = 0
        self.first_release_day = math.nan
        self.broken_days = 0
        self._window = np.zeros(p.conditions.window_days, dtype=np.int64)
        self.iskp_total = 0
        self.attributed_total = 0
        self.taliban_attacks_total = 0
        self.outcome: str | None = None
        self.end_day = self.horizon - 1
        self.collect = collect
        self.datacollector = mesa.DataCollector(model_reporters=dict(SERIES))
        self.running = True

    def _expand_events(self) -> None:
        """Turn dated events into per-day factors and a list of policy changes."""
        n = self.horizon
        self.ceasefire_factor = np.ones(n)
        self.release_boost = np.zeros(n)
        self.threshold_shift = np.zeros(n)
        self.spoiler_surge = np.ones(n)
        self.pressure_shock = np.zeros(n)
        self.policy_changes: dict[int, list] = {}
        for day, ev in self.scenario_.event_days():
            span = slice(day, day + getattr(ev, "duration_days", 1))
            if ev.type == "ceasefire":
                self.ceasefire_factor[span] *= ev.violence_factor
                self.release_boost[span] += ev.release_boost
            elif ev.type == "pressure_shock":
                self.pressure_shock[day] += ev.amount
            elif ev.type == "policy_change":
                self.policy_changes.setdefault(day, []).append(ev)
            elif ev.type == "political_split":
                self.threshold_shift[span] += ev.threshold_shift
            elif ev.type == "spoiler_surge":
                self.spoiler_surge[span] *= ev.factor

    # Values read by the DataCollector.
    scheduled = 0
    government_released = property(lambda self: self.government.released)
    taliban_released = property(lambda self: self.taliban.released)
    commanders_released = property(lambda self: self.government.commanders_released)
    trust_government = property(lambda self: self.government.trust)
    trust_taliban = property(lambda self: self.taliban.trust)
    engaged = property(lambda self: self.taliban.engaged)
    offensive = False  # whether releases are blocked today (set at step 2)
    taliban_attacks = property(lambda self: self.taliban.attacks_today)
    iskp_attacks = 0
    attributed_attacks = 0

    def _apply_policy_changes(self) -> None:
        for ev in self.policy_changes.get(self.day, ()):
            if any(v is not None for v in (ev.tranche_size, ev.tranche_interval_days, ev.daily_capacity)):
                self.tranche_size = ev.tranche_size or self.tranche_size
                self.tranche_interval = ev.tranche_interval_days or self.tranche_interval
                self.daily_capacity = ev.daily_capacity or self.daily_capacity
                self._reschedule()
            if ev.conditions_enabled is not None:
                self.conditions_enabled = ev.conditions_enabled
            if ev.commander_policy is not None:
                self.commander_policy = rules.POLICY_CODES[ev.commander_policy]

    def _reschedule(self) -> None:
        """Continue the schedule from today with the new capacity, size and interval, without re-judging the past.

        What was due by yesterday stays due. The rest of the up-front batch continues
        at the new capacity, then tranches follow every new interval; if the up-front
        batch is done, the tranche cycle keeps its phase (counted from the last day
        something fell due), so restating the old values changes nothing.
        """
        p, day, total = self.protocol, self.day, self.government.total
        due = int(self.schedule[day - 1]) if day > 0 else 0
        days = np.arange(day, self.horizon)
        if due < p.upfront_batch:
            tail = rules.scheduled_released(
                days, p.upfront_batch - due, max(day, p.upfront_start_day), self.daily_capacity,
                self.tranche_size, self.tranche_interval, total - due,
            )
        else:
            rises = np.flatnonzero(np.diff(self.schedule[:day], prepend=0) > 0)
            anchor = int(rises[-1]) if len(rises) else p.upfront_start_day - 1
            tail = np.maximum(days - anchor, 0) // self.tranche_interval * self.tranche_size
        self.schedule[day:] = np.minimum(due + tail, total)

    def step(self) -> None:
        """One day, in the fixed order of DESIGN.md."""
        day, u = self.day, self.uniforms[self.day]
        gov, tal, p = self.government, self.taliban, self.protocol

        # 1. Events of the day.
        self._apply_policy_changes()
        if self.pressure_shock[day]:
            self.pressure = float(rules.pressure_update(self.pressure, 0, 0, 0, 0, self.pressure_shock[day]))

        # 2. Government: release what the schedule owes, when conditions and trust allow.
        self.scheduled = int(self.schedule[day])
        self.offensive = gov.offensive_left > 0
        in_upfront = gov.released < p.upfront_batch
        allowed = rules.conditions_met(
            self.conditions_enabled and (p.conditions.apply_to_upfront or not in_upfront),
            self._window.sum(), p.conditions.window_days, p.conditions.max_attacks_per_day,
            p.conditions.require_engagement, tal.engaged,
        )
        gov.release(self.scheduled - gov.released, allowed, u[rules.U_GOV_RELEASE])
        behind = max(self.scheduled - gov.released, 0)

        # 3. Taliban: judge, reciprocate, fight, walk out or come back.
        tal.judge(behind)
        target = int(rules.reciprocal_target(gov.released, gov.total, p.reciprocity_ratio, tal.total))
        tal.reciprocate(target, u[rules.U_TAL_RELEASE])
        tal.fight(u[rules.U_TAL_ATTACKS])
        moved = gov.released_today > 0 or tal.released_today > 0
        if moved:
            self.last_move_day = day
            if math.isnan(self.first_release_day) and gov.released_today > 0:
                self.first_release_day = day
        stalled = day - self.last_move_day
        self.longest_stall = max(self.longest_stall, stalled)
        tal.decide_engagement(stalled, u[rules.U_RETURN])

        # 4. Spoilers: ISKP attacks, some booked against the Taliban.
        s = self.scenario_.spoilers
        progress = (gov.released + tal.released) / (gov.total + tal.total)
        rate_attr, rate_other = rules.spoiler_rates(
            s.attack_rate, s.progress_timing, progress, self.spoiler_surge[day], s.misattribution
        )
        misattributed = int(rules.poisson_from_uniform(u[rules.U_ISKP_ATTRIBUTED], rate_attr))
        self.iskp_attacks = misattributed + int(rules.poisson_from_uniform(u[rules.U_ISKP_OTHER], rate_other))
        self.attributed_attacks = tal.attacks_today + misattributed
        self._window[day % len(self._window)] = self.attributed_attacks

        # 5. Government trust; a spike of attributed attacks starts offensive mode.
        gov.react(self.attributed_attacks, target - tal.released)

        # 6. US pressure.
        m = self.scenario_.mediator
        self.pressure = float(rules.pressure_update(
            self.pressure, behind > 0, moved, m.pressure_growth, m.pressure_decay, 0.0
        ))

        # 7. Record the day; check the end.
        self.iskp_total += self.iskp_attacks
        self.attributed_total += self.attributed_attacks
        self.taliban_attacks_total += tal.attacks_today
        if self.collect:
            self.datacollector.collect(self)
        self._check_end(stalled)
        self.day += 1

    def _check_end(self, stalled: int) -> None:
        gov, tal, o = self.government, self.taliban, self.scenario_.outcomes
        broken = outcomes.is_broken(tal.engaged, gov.trust, tal.trust, o.collapse_trust)
        self.broken_days = int(rules.streak(self.broken_days, broken))
        if outcomes.is_completed(gov.held, gov.total, tal.held, tal.total, self.protocol.completion_tolerance):
            self.outcome = outcomes.COMPLETED
        elif self.broken_days >= o.collapse_window_days:
            self.outcome = outcomes.COLLAPSED
        elif self.day >= self.horizon - 1:
            moved_ever = self.government.released > 0 or self.taliban.released > 0
            self.outcome = str(outcomes.horizon_outcome(stalled, o.deadlock_window_days, moved_ever))
        if self.outcome is not None:
            self.end_day = self.day
            self.running = False

    def run(self) -> outcomes.RunMetrics:
        """Run to the end and return the run's metrics."""
        while self.running:
            self.step()
        return self.metrics()

    def metrics(self) -> outcomes.RunMetrics:
        gov, tal = self.government, self.taliban
        return outcomes.RunMetrics(
            outcome=self.outcome or outcomes.PARTIAL,
            end_day=self.end_day,
            government_released=gov.released,
            taliban_released=tal.released,
            commanders_released=gov.commanders_released,
            first_release_day=self.first_release_day,
            longest_stall_days=self.longest_stall,
            walkouts=tal.walkouts,
            offensive_days=gov.offensive_days,
            taliban_attacks=self.taliban_attacks_total,
            iskp_attacks=self.iskp_total,
            attributed_attacks=self.attributed_total,
            final_trust_government=gov.trust,
            final_trust_taliban=tal.trust,
            final_pressure=self.pressure,
        )

    def series(self) -> pd.DataFrame:
        """The daily series of this run, one row per simulated day."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        df.insert(0, "day", np.arange(len(df)))
        return df

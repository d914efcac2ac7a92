"""The Mesa model: one step is one day, in a fixed order; many runs ("lanes") at once.

Lane k is one run with its own seed and, in a sweep, its own parameter values. Every
state variable of the model and of the two agents is an array over lanes; the day's
order is written once, in `step()`, and never branches on a lane's value. A lane that
has ended is frozen, and the model stops when every lane has ended. Lane k gives
exactly the same metrics and daily series as a one-lane model with the same seed and
parameters, whatever the other lanes hold. One lane is the classic single run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sim.model import outcomes, rules
from sim.model.agents import GovernmentAgent, TalibanAgent
from sim.model.lanes import Lanes
from sim.model.scenario import Scenario, overrides_from_keywords, resolve, with_overrides
from sim.model.streams import Streams

# The daily series: column -> the attribute read after each day (`_report`), through agents where dotted.
SERIES = {
    "government_scheduled": "scheduled",
    "government_released": "government.released",
    "taliban_released": "taliban.released",
    "commanders_released": "government.commanders_released",
    "trust_government": "government.trust",
    "trust_taliban": "taliban.trust",
    "engaged": "taliban.engaged",
    "offensive": "offensive",
    "suspended": "government.suspended",
    "pledged": "government.pledged",
    "government_cleared": "government.cleared",
    "pressure": "pressure",
    "taliban_attacks": "taliban.attacks_today",
    "iskp_attacks": "iskp_attacks",
    "attributed_attacks": "attributed_attacks",
}

# The model's own state, frozen with the agents' once a lane has ended.
MODEL_STATE = ("pressure", "scheduled", "offensive", "last_move_day", "longest_stall", "first_release_day",
               "broken_days", "window_sum", "iskp_attacks", "attributed_attacks", "taliban_attacks_total",
               "iskp_total", "attributed_total")


def _seeds(seed: int | Sequence[int] | ArrayLike | None, rng: int | None) -> np.ndarray:
    if seed is None:
        seed = rng
    if seed is None:  # a fresh seed from entropy, kept so that the run can be repeated
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    seeds = np.atleast_1d(np.asarray(seed, dtype=object)).astype(np.int64)
    if seeds.ndim != 1 or (seeds < 0).any():
        raise ValueError("seed must be a non-negative integer or a list of them, one per lane")
    return seeds


def _scenarios(scenario: str | Path | Scenario | Sequence[str | Path | Scenario] | None,
               keywords: Mapping[str, Any]) -> Scenario | list[Scenario]:
    """The scenario (or one per lane) that `scenario` names, with the keyword parameters' values (dotted paths).

    None is the schema's defaults, `Scenario()`, as it has always been. Each distinct scenario is
    loaded, and re-validated with the keywords, once, however many lanes share it.
    """
    single = isinstance(scenario, str) or not isinstance(scenario, Sequence)  # a list or tuple: one per lane
    done: dict[Any, Scenario] = {}

    def one(given: str | Path | Scenario | None) -> Scenario:
        key = (type(given), given) if isinstance(given, (str, Path)) else id(given)
        if key not in done:
            base = Scenario() if given is None else resolve(given)
            done[key] = with_overrides(base, dict(keywords), "ExchangeModel") if keywords else base
        return done[key]

    return one(scenario) if single else [one(s) for s in scenario]


class ExchangeModel(mesa.Model):
    """A batched prisoner exchange between the Afghan government and the Taliban, for one or many runs.

    - `scenario`: one scenario for every lane, or a list with one per lane. A scenario is a
      Scenario, a bundled scenario's name (`"decree_2020"`, the default, loads
      scenarios/decree_2020.yaml; `sim.model.scenario.bundled_names()` lists them) or a
      scenario file's path. `None` is the schema's defaults, `Scenario()` (no events: not the
      same as decree_2020);
    - `seed`: the run's integer seed, or a list with one per lane (the number of lanes);
      `rng` is Mesa's name for a single seed;
    - `overrides`: dotted parameter path -> one value per lane (or one for all), on top of
      the scenario (how sweeps give each lane its point without building a scenario each);
    - `collect`: record the daily series with Mesa's DataCollector (sweeps need only metrics);
    - `snapshot_days`: days at whose end both sides' cumulative releases and the walkouts are kept (`snapshots()`),
      a cheap record for calibration and forecasts;
    - `history_seeds`, `history_until`: lane k draws its chance from `history_seeds[k]` up to day
      `history_until`, then from its own seed (a forecast continuing a history a calibration accepted);
    - `**parameters`: scenario parameters as keywords, each its dotted path with `__` for each dot
      (`government__initial_trust=0.3`, `protocol__conditions__max_attacks_per_day=5`,
      `protocol__commander_policy="first_batch"`). They replace the scenario's values (every
      scenario's, given a list) and are validated as a scenario file's are, before the lanes are
      built; `overrides` then apply on top of them. This is how Mesa's tools build the model from
      keywords alone: `mesa.batch_run(ExchangeModel, parameters={"scenario": "decree_2020",
      "government__initial_trust": [0.2, 0.6]}, rng=seeds, max_steps=10_000)`, or SolaraViz's
      `model_params`. A row of batch_run has `Step` = the days simulated (`end_day` + 1).

    An unknown keyword, a value out of its range or an unknown scenario name raises
    ScenarioError, one line per problem naming the keyword or the dotted path.
    """

    def __init__(
        self,
        scenario: str | Path | Scenario | Sequence[str | Path | Scenario] | None = "decree_2020",
        seed: int | Sequence[int] | None = None,
        *,
        overrides: Mapping[str, ArrayLike] | None = None,
        collect: bool = True,
        snapshot_days: Sequence[int] = (),
        history_seeds: Sequence[int] | ArrayLike | None = None,
        history_until: int = -1,
        rng: int | None = None,
        **parameters: Any,
    ):
        scenarios = _scenarios(scenario, overrides_from_keywords(parameters))
        seeds = _seeds(seed, rng)
        super().__init__(rng=int(seeds[0]))
        self.seeds = seeds
        self.lanes = Lanes(scenarios, size=len(seeds), overrides=overrides)
        self.n_lanes = self.lanes.size
        self.params = params = self.lanes.params
        if history_seeds is not None:
            history_seeds = _seeds(history_seeds, None)
        self.streams = Streams(seeds, history_seeds, history_until)
        self.horizon = self.lanes.horizon
        lanes = self.n_lanes

        p = params.protocol
        v = params.verification
        self.government = GovernmentAgent(self, params.government, p.government_prisoners, p.commanders, v)
        self.taliban = TalibanAgent(self, params.taliban, p.taliban_prisoners,
                                    arrival_day=np.where(v.enabled, v.start_day, -1))

        self.day = 0
        self.pressure = params.mediator.initial_pressure
        self.scheduled = np.zeros(lanes, dtype=np.int64)
        self.offensive = np.zeros(lanes, dtype=bool)
        self.last_move_day = p.upfront_start_day - 1
        self.longest_stall = np.zeros(lanes, dtype=np.int64)
        self.first_release_day = np.full(lanes, np.nan)
        self.broken_days = np.zeros(lanes, dtype=np.int64)
        self.window_sum = np.zeros(lanes, dtype=np.int64)  # attributed attacks over the conditions' window
        self._attributed = np.zeros((self.horizon, lanes), dtype=np.int64)  # each day's, for the window
        self.iskp_attacks = np.zeros(lanes, dtype=np.int64)
        self.attributed_attacks = np.zeros(lanes, dtype=np.int64)
        self.taliban_attacks_total = np.zeros(lanes, dtype=np.int64)
        self.iskp_total = np.zeros(lanes, dtype=np.int64)
        self.attributed_total = np.zeros(lanes, dtype=np.int64)

        self.live = np.ones(lanes, dtype=bool)
        self.outcome = np.full(lanes, outcomes.UNDECIDED, dtype=np.int8)
        self.end_day = params.calendar.horizon_days - 1
        self.collect = collect
        self.snapshot_days = np.asarray(sorted(set(int(d) for d in snapshot_days)), dtype=np.int64)
        self._snapshots = np.zeros((3, len(self.snapshot_days), lanes), dtype=np.int64)
        self.datacollector = mesa.DataCollector(
            model_reporters={name: (lambda m, path=path: m._report(path)) for name, path in SERIES.items()})
        self.running = True

    # Mesa's own `scenario` (mesa.experimental.scenarios), which Model.__init__ sets to one holding only the seed,
    # is not kept: were it there, SolaraViz would rebuild the model (its Reset) with that object as the
    # `scenario` keyword, in place of the scenario the user chose. The scenarios the lanes run: `lanes.scenarios`.
    @property
    def scenario(self) -> None:
        """None: this model has no Mesa scenario (see `lanes.scenarios` for the scenarios it runs)."""
        return None

    @scenario.setter
    def scenario(self, value: Any) -> None:
        """Mesa's Model.__init__ sets its scenario here; it is let go."""

    # ------------------------------------------------------------------ the day

    def step(self) -> None:
        """One day, in a fixed order (docs/ODD.md, section 3)."""
        day, gov, tal, p = self.day, self.government, self.taliban, self.params
        u = self.streams.draw(day)
        today = self.lanes.today(day)
        before = self._state()

        # 1. Events of the day: a pressure shock (the others act through `today`); the Taliban team may arrive;
        #    political cover may free contested prisoners and the mediator may break a stalled gate; the
        #    government pledges what is overdue if willing, lists open and listed prisoners are verified.
        self.pressure = rules.pressure_update(pressure=self.pressure, slipping=False, moved=False, growth=0.0,
                                              decay=0.0, shock=today.pressure_shock)
        broke = gov.mediated(pressure=self.pressure, u=u["mediator"])
        self.pressure = np.where(broke, 0.0, self.pressure)  # breaking a stall spends the mediator's pressure
        tal.arrive(called=broke)
        gov.prepare(team_present=tal.engaged, scheduled=today.schedule, today=today, broke=broke, u=u["cover"])

        # 2. Government: release what the schedule owes and verification has cleared, when the conditions, the
        #    reciprocity gate and trust allow.
        self.scheduled = today.schedule
        self.offensive = gov.offensive
        conditions = p.protocol.conditions
        past_upfront = gov.released >= p.protocol.upfront_batch
        allowed = rules.conditions_met(
            enabled=today.conditions_enabled & (conditions.apply_to_upfront | past_upfront),
            attributed_in_window=self.window_sum, window_days=conditions.window_days,
            max_attacks_per_day=conditions.max_attacks_per_day, require_engagement=conditions.require_engagement,
            engaged=tal.engaged,
        )
        gov.release(scheduled=self.scheduled, allowed=allowed, today=today, u=u["government_release"])
        behind = np.maximum(self.scheduled - gov.released, 0)

        # 3. Taliban: judge, reciprocate, fight; then, with today's moves known, walk out or come back.
        tal.judge(behind=behind, today=today)
        target = rules.reciprocal_target(government_released=gov.released, government_total=gov.total,
                                         ratio=p.protocol.reciprocity_ratio * p.taliban.ratio_share,
                                         taliban_total=tal.total, finish_after=p.taliban.finish_after)
        tal.reciprocate(target=target, today=today, u=u["taliban_release"])
        tal.fight(today=today, u=u["taliban_attacks"])
        moved = (gov.released_today > 0) | (tal.released_today > 0)
        self.last_move_day = np.where(moved, day, self.last_move_day)
        self.first_release_day = np.where(np.isnan(self.first_release_day) & (gov.released_today > 0), day,
                                          self.first_release_day)
        stalled = day - self.last_move_day
        self.longest_stall = np.maximum(self.longest_stall, stalled)
        tal.decide_engagement(stalled_days=stalled, today=today, u=u["return"])

        # 4. Spoilers: ISKP attacks, some booked against the Taliban.
        s = p.spoilers
        rate_booked, rate_other = rules.spoiler_rates(
            attack_rate=s.attack_rate, progress_timing=s.progress_timing, surge=today.spoiler_surge,
            misattribution=s.misattribution,
            progress=rules.progress(government_released=gov.released, taliban_released=tal.released,
                                    government_total=gov.total, taliban_total=tal.total),
        )
        misattributed, other = rules.poisson_from_uniform(u=np.stack([u["iskp_attributed"], u["iskp_other"]]),
                                                          rate=np.stack([rate_booked, rate_other]))
        self.iskp_attacks = misattributed + other
        self.attributed_attacks = tal.attacks_today + misattributed
        self._remember_attributed(day)

        # 5. Government: trust on what the Taliban did; a spike of attributed attacks starts offensive mode.
        gov.react(attributed_attacks=self.attributed_attacks)

        # 6. US pressure: grows while the schedule slips, fades on days with progress.
        m = p.mediator
        self.pressure = rules.pressure_update(pressure=self.pressure, slipping=behind > 0, moved=moved,
                                              growth=m.pressure_growth, decay=m.pressure_decay, shock=0.0)

        # 7. Totals, the collapse clock; lanes that had ended keep yesterday's state; record; check the end.
        self.taliban_attacks_total = self.taliban_attacks_total + tal.attacks_today
        self.iskp_total = self.iskp_total + self.iskp_attacks
        self.attributed_total = self.attributed_total + self.attributed_attacks
        broken = outcomes.is_broken(engaged=tal.engaged, trust_government=gov.trust, trust_taliban=tal.trust,
                                    floor=p.outcomes.collapse_trust)
        self.broken_days = rules.streak(length=self.broken_days, today=broken)
        self._freeze(before)
        if self.collect:
            self.datacollector.collect(self)
        self._snapshot(day)
        self._check_end(stalled)
        self.day += 1

    def _snapshot(self, day: int) -> None:
        """Keep both sides' cumulative releases and the team's walkouts so far at the end of a snapshot day (ended
        lanes hold their final state)."""
        at = np.searchsorted(self.snapshot_days, day)
        if at < len(self.snapshot_days) and self.snapshot_days[at] == day:
            self._snapshots[0, at] = self.government.released
            self._snapshots[1, at] = self.taliban.released
            self._snapshots[2, at] = self.taliban.walkouts

    def _remember_attributed(self, day: int) -> None:
        """Keep today's attributed attacks and move the conditions' window on by one day."""
        window = self.params.protocol.conditions.window_days
        leaving = day - window
        dropped = np.where(leaving >= 0, self._attributed[np.maximum(leaving, 0), np.arange(self.n_lanes)], 0)
        self._attributed[day] = self.attributed_attacks
        self.window_sum = self.window_sum + self.attributed_attacks - dropped

    def _check_end(self, stalled: np.ndarray) -> None:
        gov, tal, p = self.government, self.taliban, self.params
        code = outcomes.decide(
            completed=outcomes.is_completed(government_held=gov.held, government_total=gov.total,
                                            taliban_held=tal.held, taliban_total=tal.total,
                                            tolerance=p.protocol.completion_tolerance),
            broken_days=self.broken_days, collapse_window=p.outcomes.collapse_window_days,
            at_horizon=self.day >= p.calendar.horizon_days - 1, stalled_days=stalled,
            deadlock_window=p.outcomes.deadlock_window_days, any_release=(gov.released > 0) | (tal.released > 0),
        )
        ending = self.live & (code != outcomes.UNDECIDED)
        self.outcome = np.where(ending, code, self.outcome)
        self.end_day = np.where(ending, self.day, self.end_day)
        self.live = self.live & ~ending
        self.running = bool(self.live.any())

    # ------------------------------------------------------------------ frozen lanes

    def _holders(self) -> list[tuple[object, tuple[str, ...]]]:
        return [(self, MODEL_STATE), (self.government, self.government.STATE), (self.taliban, self.taliban.STATE)]

    def _state(self) -> list[tuple[object, str, np.ndarray]]:
        """References to every state array (updates always make new arrays, so these stay as they were)."""
        return [(holder, name, getattr(holder, name)) for holder, names in self._holders() for name in names]

    def _freeze(self, before: list[tuple[object, str, np.ndarray]]) -> None:
        """Lanes that had ended before today get their state back: today changed nothing for them."""
        if self.live.all():
            return
        ended = ~self.live
        for holder, name, old in before:
            setattr(holder, name, np.where(ended, old, getattr(holder, name)))

    # ------------------------------------------------------------------ results

    def _report(self, path: str):
        """A value of the daily series: a number for one lane, an array (copied) for several."""
        holder: object = self
        *parts, name = path.split(".")
        for part in parts:
            holder = getattr(holder, part)
        value = np.asarray(getattr(holder, name))
        return value.item() if self.n_lanes == 1 else value  # the DataCollector stores a copy

    def run(self, until: int | None = None) -> pd.DataFrame:
        """Run every lane to its end, or to the end of day `until`; return the metrics, one row per lane."""
        while self.running and (until is None or self.day <= until):
            self.step()
        if not self.running:  # snapshot days after every lane ended: their final state
            for day in self.snapshot_days[self.snapshot_days >= self.day]:
                self._snapshot(int(day))
        return self.metrics()

    def snapshots(self) -> pd.DataFrame:
        """Cumulative releases of both sides and the Taliban team's walkouts so far at the end of each snapshot day:
        one row per lane and day."""
        lanes, days = self.n_lanes, len(self.snapshot_days)
        return pd.DataFrame({
            "lane": np.repeat(np.arange(lanes), days),
            "day": np.tile(self.snapshot_days, lanes),
            "government_released": self._snapshots[0].T.reshape(-1),
            "taliban_released": self._snapshots[1].T.reshape(-1),
            "walkouts": self._snapshots[2].T.reshape(-1),
        })

    def metrics(self) -> pd.DataFrame:
        """One row per lane: `lane`, `seed`, then the run metrics (outcomes.METRICS).

        A lane not yet ended reads as partial, with the current day's values.
        """
        gov, tal = self.government, self.taliban
        columns = {
            "lane": np.arange(self.n_lanes),
            "seed": self.seeds,
            "outcome": outcomes.names(self.outcome),
            "end_day": np.where(self.live, self.day - 1, self.end_day),
            "government_released": gov.released,
            "taliban_released": tal.released,
            "commanders_released": gov.commanders_released,
            "first_release_day": self.first_release_day,
            "longest_stall_days": self.longest_stall,
            "walkouts": tal.walkouts,
            "offensive_days": gov.offensive_days,
            "suspended_days": gov.suspended_days,
            "taliban_attacks": self.taliban_attacks_total,
            "iskp_attacks": self.iskp_total,
            "attributed_attacks": self.attributed_total,
            "final_trust_government": gov.trust,
            "final_trust_taliban": tal.trust,
            "final_pressure": self.pressure,
        }
        return pd.DataFrame({k: np.broadcast_to(v, (self.n_lanes,)) for k, v in columns.items()})

    def release(self) -> None:
        """Let go of the recorded series and the attack history, the model's large arrays, once read.

        A Mesa model sits in reference cycles (agents and model, the model and its step
        schedule) that only Python's occasional full garbage collection frees; a batch
        runner calls this so that memory does not pile up between collections.
        """
        self.datacollector = mesa.DataCollector(model_reporters=dict(self.datacollector.model_reporters))
        self._attributed = None

    def series(self) -> pd.DataFrame:
        """The daily series, one row per lane and simulated day (`lane`, `day`, then SERIES), each lane to its end."""
        recorded = self.datacollector.model_vars
        days = len(next(iter(recorded.values()), []))
        last = np.where(self.live, self.day - 1, self.end_day)
        within = (np.arange(days)[None, :] <= last[:, None])  # lane x day
        lane, day = np.nonzero(within)
        frame = {"lane": lane, "day": day}
        for name in SERIES:
            values = np.asarray(recorded.get(name, [])).reshape(days, self.n_lanes)
            frame[name] = values.T[within]
        return pd.DataFrame(frame)

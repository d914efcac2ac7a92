"""The two Mesa agents. Thin: they hold a side's state, one value per lane, and call `sim.model.rules`.

Every state variable is an array over the model's lanes (runs). Methods compute
every lane at once and never branch on a lane's value; the model freezes the lanes
that have ended (see `ExchangeModel.step`).
"""

from __future__ import annotations

from types import SimpleNamespace

import mesa
import numpy as np

from sim.model import rules


class Side(mesa.Agent):
    """What both sides share: a Beta reputation of the other side, and prisoners held and released."""

    STATE = ("r", "s", "trust", "released", "released_today")

    def __init__(self, model: mesa.Model, params: SimpleNamespace, total: np.ndarray):
        super().__init__(model)
        self.params = params
        self.r, self.s = rules.beta_prior(initial_trust=params.initial_trust, prior_weight=params.prior_weight_days)
        self.trust = rules.trust(r=self.r, s=self.s)
        self.total = total
        self.released = np.zeros_like(total)
        self.released_today = np.zeros_like(total)

    @property
    def held(self) -> np.ndarray:
        return self.total - self.released

    def observe(self, *, cooperation: np.ndarray, defection: np.ndarray) -> None:
        """Update trust in the other side with today's evidence."""
        self.r, self.s = rules.beta_update(r=self.r, s=self.s, cooperation=cooperation, defection=defection,
                                           memory=self.params.memory)
        self.trust = rules.trust(r=self.r, s=self.s)


class GovernmentAgent(Side):
    """The Afghan government: holds the Taliban prisoners, commanders among them, and releases on the decree's terms."""

    STATE = Side.STATE + ("commanders_released", "commanders_today", "offensive_left", "offensive_days",
                          "listed", "list_opens_day", "verified", "cleared", "pledged", "suspended", "suspended_days",
                          "gate_held_days", "covered", "stall_breaks")

    def __init__(self, model: mesa.Model, params: SimpleNamespace, total: np.ndarray, commanders: np.ndarray,
                 verification: SimpleNamespace):
        super().__init__(model, params, total)
        self.commanders_total = commanders
        self.commanders_released = np.zeros_like(commanders)
        self.commanders_today = np.zeros_like(commanders)
        self.offensive_left = np.zeros_like(total)
        self.offensive_days = np.zeros_like(total)
        # Lists and verification: with verification off, every prisoner is listed and cleared from the start.
        # Contested prisoners are on no list until political cover frees them, a stage at a time.
        self.verification = verification
        on = verification.enabled
        self.contested = np.minimum(model.params.protocol.contested, total)
        self.covered = np.zeros_like(total)
        listable = total - self.contested
        self.listed = np.where(on, 0, listable)
        self.list_opens_day = np.where(on, verification.start_day, -1)
        self.verified = np.where(on, 0.0, listable.astype(float))
        self.cleared = np.where(on, 0, listable)
        self.pledged = np.zeros(total.shape, dtype=bool)
        self.suspended = np.zeros(total.shape, dtype=bool)
        self.suspended_days = np.zeros_like(total)
        self.gate_held_days = np.zeros_like(total)  # consecutive days the gate has held releases back
        self.stall_breaks = np.zeros_like(total)

    @property
    def fighters_total(self) -> np.ndarray:
        return self.total - self.commanders_total

    @property
    def fighters_released(self) -> np.ndarray:
        return self.released - self.commanders_released

    @property
    def offensive(self) -> np.ndarray:
        """Whether releases are blocked today by offensive mode."""
        return self.offensive_left > 0

    @property
    def listable(self) -> np.ndarray:
        """Prisoners that lists may hold: all but the contested ones still without political cover."""
        return self.total - self.contested + self.covered

    def mediated(self, *, pressure: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Whether the mediator breaks the stall of a closed reciprocity gate today; if so, a list being prepared
        opens at once (the government is bound in `prepare`)."""
        broke = rules.stall_break(suspended=self.suspended, pressure=pressure,
                                  rate=self.model.params.mediator.stall_break_rate, u=u,
                                  held_days=self.gate_held_days,
                                  after=self.model.params.mediator.stall_break_after_days)
        self.stall_breaks = self.stall_breaks + broke
        self.list_opens_day = np.where(broke & (self.list_opens_day >= 0), self.model.day, self.list_opens_day)
        return broke

    def prepare(self, *, team_present: np.ndarray, scheduled: np.ndarray, today: SimpleNamespace,
                broke: np.ndarray, u: np.ndarray) -> None:
        """Free a stage of the contested prisoners if political cover comes; be bound by a broken stall; pledge
        what is overdue if willing; open the next list when one is due; and verify listed prisoners: a list is
        cleared once all of it is verified."""
        v, p, day = self.verification, self.params, self.model.day
        protocol = self.model.params.protocol
        stage = rules.contested_stage(listed=self.listed, listable=self.listable,
                                      contested_left=self.contested - self.covered, rate=protocol.cover_rate,
                                      share=protocol.cover_share, u=u)
        staged = stage > 0  # cleared at once: the dispute is political, the prisoners long verified
        self.covered, self.listed = self.covered + stage, self.listed + stage
        self.verified, self.cleared = self.verified + stage, self.cleared + stage
        behind = scheduled - self.released
        willing = rules.willing(trust_value=self.trust, threshold_shift=today.threshold_shift,
                                release_boost=today.release_boost, willing_trust=p.willing_trust)
        self.pledged, pledging = rules.pledged(pledged=self.pledged | broke | staged, willing=willing, behind=behind,
                                               tranche_size=today.tranche_size, released=self.released,
                                               listed=self.listed)
        later = np.where(v.next_list_size > 0, v.next_list_size, v.list_size)
        self.listed, self.list_opens_day = rules.lists(
            listed=self.listed, opens_day=self.list_opens_day, released=self.released, total=self.listable,
            size=np.where(self.listed > 0, later, v.list_size), gap=v.list_gap_days, day=day,
            pledge=np.floor(v.arrears_share * behind * pledging).astype(np.int64))
        self.verified, self.cleared = rules.verified(
            verified=self.verified, cleared=self.cleared, listed=self.listed, started=day >= v.start_day,
            team_present=team_present, rate_with_team=v.rate_with_team, rate_without_team=v.rate_without_team)

    def release(self, *, scheduled: np.ndarray, allowed: np.ndarray, today: SimpleNamespace, u: np.ndarray) -> None:
        """Release today's batch if the schedule owes one and verification has cleared it, the conditions and
        the reciprocity gate allow it, and trust clears the threshold."""
        m, p = self.model, self.params
        self.suspended = rules.reciprocity_gate(
            gate=p.reciprocity_gate, government_released=self.released, after=p.gate_after,
            credited=m.taliban.released * p.credited_share, ratio=m.params.protocol.reciprocity_ratio,
            bound=self.pledged, other_side_done=m.taliban.released >= m.taliban.total)
        self.suspended_days = self.suspended_days + self.suspended
        self.gate_held_days = rules.streak(length=self.gate_held_days, today=self.suspended)
        today_capacity = rules.capacity(daily_capacity=today.daily_capacity, behind=scheduled - self.released,
                                        tranche_size=today.tranche_size, catch_up=p.catch_up, bound=self.pledged)
        owed = np.minimum(scheduled, self.cleared) - self.released
        fighters, commanders = rules.batch(
            owed=owed, capacity=today_capacity, fighters_held=self.fighters_total - self.fighters_released,
            commanders_held=self.commanders_total - self.commanders_released, policy=today.commander_policy,
            fighters_released=self.fighters_released, fighters_total=self.fighters_total,
            fraction=m.params.protocol.commander_release_fraction,
        )
        loss = rules.government_loss(exploitation_loss=p.exploitation_loss, fighters=fighters, commanders=commanders,
                                     commander_weight=p.commander_weight, daily_capacity=today_capacity)
        threshold = rules.release_threshold(
            loss=loss, guarantee=m.params.mediator.guarantee, pressure=m.pressure,
            pressure_weight=m.params.mediator.pressure_weight, gain=p.cooperation_gain,
        ) + today.threshold_shift - today.release_boost
        chance, allowed, offensive = rules.committed_chance(
            chance=rules.choice_probability(trust_value=self.trust, threshold=threshold, temperature=p.temperature),
            allowed=allowed, offensive=self.offensive, bound=self.pledged, commitment=p.commitment)
        go = rules.release_decision(u=u, chance=chance, allowed=allowed, blocked=offensive | self.suspended,
                                    owed=fighters + commanders)
        self.released_today = (fighters + commanders) * go
        self.commanders_today = commanders * go
        self.released = self.released + self.released_today
        self.commanders_released = self.commanders_released + self.commanders_today

    def react(self, *, attributed_attacks: np.ndarray) -> None:
        """Update trust on what the Taliban did, and start offensive mode on a spike of attributed attacks.

        What the Taliban owe is judged at the agreed ratio, on the releases the government credits.
        """
        p, m = self.params, self.model
        taliban_owed = rules.reciprocal_target(
            government_released=self.released, government_total=self.total,
            ratio=m.params.protocol.reciprocity_ratio, taliban_total=m.taliban.total,
        ) - m.taliban.released * p.credited_share
        cooperation, defection = rules.government_evidence(
            taliban_released_today=self.model.taliban.released_today, reciprocity_credit=p.reciprocity_credit,
            attributed_attacks=attributed_attacks, calm_attacks=p.calm_attacks, calm_credit=p.calm_credit,
            attack_debit=p.attack_debit, owed=taliban_owed, owed_grace=p.owed_grace, owed_debit=p.owed_debit,
        )
        self.observe(cooperation=cooperation, defection=defection)
        self.offensive_left, counted = rules.offensive_update(
            left=self.offensive_left, attributed=attributed_attacks, trigger=p.offensive_trigger,
            duration=p.offensive_days)
        self.offensive_days = self.offensive_days + counted


class TalibanAgent(Side):
    """The Taliban: hold government personnel, reciprocate at the agreed ratio, decide violence and engagement."""

    STATE = Side.STATE + ("engaged", "returned_day", "settled", "walkouts", "attacks_today")

    def __init__(self, model: mesa.Model, params: SimpleNamespace, total: np.ndarray, arrival_day: np.ndarray):
        super().__init__(model, params, total)
        self.arrival_day = arrival_day  # the technical team is in Kabul from this day (-1: from the start)
        self.engaged = arrival_day < 0
        self.returned_day = np.full(total.shape, -1, dtype=np.int64)
        self.settled = np.zeros(total.shape, dtype=bool)  # this stay has seen the government release (false while away)
        self.walkouts = np.zeros_like(total)
        self.attacks_today = np.zeros_like(total)

    def arrive(self, *, called: np.ndarray = False) -> None:
        """The technical team arrives in Kabul on its day, or comes back when the mediator breaks a stall
        (`called`): engaged, its patience counting from then."""
        arriving = (self.model.day == self.arrival_day) | (np.asarray(called, dtype=bool) & ~self.engaged
                                                            & (self.model.day > self.arrival_day))
        self.engaged = self.engaged | arriving
        self.returned_day = np.where(arriving, self.model.day, self.returned_day)

    def judge(self, *, behind: np.ndarray, today: SimpleNamespace) -> None:
        """Update trust on what the government did today."""
        gov, p = self.model.government, self.params
        credit = rules.policy_value(policy=today.commander_policy, verify_only=p.verify_only_credit,
                                    otherwise=p.unverified_credit)
        cooperation, defection = rules.taliban_evidence(
            released_today=gov.released_today, commanders_today=gov.commanders_today, engaged=self.engaged,
            unverified_credit=credit, release_credit=p.release_credit, commander_credit=p.commander_credit,
            behind=behind, tranche_size=today.tranche_size, behind_debit=p.behind_debit, offensive=gov.offensive,
            offensive_debit=p.offensive_debit,
        )
        self.observe(cooperation=cooperation, defection=defection)

    def reciprocate(self, *, target: np.ndarray, today: SimpleNamespace, u: np.ndarray) -> None:
        """Release at the agreed ratio, more likely with trust, less while the commander demand is unmet."""
        m, p, gov = self.model, self.params, self.model.government
        owed = target - self.released
        unmet = rules.unmet_share(commanders_total=gov.commanders_total, commanders_released=gov.commanders_released)
        softening = rules.policy_value(policy=today.commander_policy, verify_only=p.verification_softening,
                                       otherwise=0.0)
        insistence = rules.demand_insistence(day=m.day, half_life=p.demand_half_life_days)
        loss = rules.taliban_loss(exploitation_loss=p.exploitation_loss, commander_demand=p.commander_demand,
                                  insistence=insistence, unmet_share=unmet, softening=softening)
        mediator = m.params.mediator
        threshold = rules.release_threshold(
            loss=loss, guarantee=mediator.guarantee, pressure=np.where(mediator.presses_taliban, m.pressure, 0.0),
            pressure_weight=mediator.pressure_weight, gain=p.cooperation_gain,
        )
        chance = rules.choice_probability(trust_value=self.trust, threshold=threshold, temperature=p.temperature)
        go = rules.release_decision(u=u, chance=chance, allowed=True, blocked=False, owed=owed)
        self.released_today = np.minimum(owed, m.params.protocol.taliban_daily_capacity) * go
        self.released = self.released + self.released_today

    def fight(self, *, today: SimpleNamespace, u: np.ndarray) -> None:
        """Attacks today: Poisson around the base rate, restrained in proportion to trust while engaged, raised in retaliation."""
        p = self.params
        rate = rules.taliban_attack_rate(
            base=p.base_attacks, restraint=p.restraint, cohesion=p.cohesion, cooperating=self.engaged * self.trust,
            ceasefire_factor=today.ceasefire_factor, retaliation=p.retaliation,
            offensive=self.model.government.offensive,
        )
        self.attacks_today = rules.poisson_from_uniform(u=u, rate=rate)

    def decide_engagement(self, *, stalled_days: np.ndarray, today: SimpleNamespace, u: np.ndarray) -> None:
        """Walk out or come back (generous tit-for-tat); patience counts from the team's return."""
        p, day = self.params, self.model.day
        engaged, walked = rules.engagement(
            engaged=self.engaged, trust_value=self.trust, walkout_trust=p.walkout_trust,
            waited_days=rules.patience_clock(stalled_days=stalled_days, day=day, returned_day=self.returned_day),
            patience=p.patience_days, government_released_today=self.model.government.released_today,
            daily_capacity=today.daily_capacity, u=u, return_rate=p.return_rate, return_on_release=p.return_on_release,
            settled=self.settled, settled_patience=p.settled_patience_days,
        )
        engaged = engaged & (day >= self.arrival_day)  # no coming back before having come
        self.returned_day = np.where(engaged & ~self.engaged, day, self.returned_day)
        self.settled = engaged & self.engaged & (self.settled | (self.model.government.released_today > 0))
        self.engaged = engaged
        self.walkouts = self.walkouts + walked

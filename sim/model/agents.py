"""The two Mesa agents. Thin: they hold a side's state and call `sim.rules` for behaviour."""

from __future__ import annotations

import mesa

from sim.model import rules


class Side(mesa.Agent):
    """What both sides share: a Beta reputation of the other side, and prisoners held and released."""

    def __init__(self, model: mesa.Model, params, total: int):
        super().__init__(model)
        self.params = params
        self.r, self.s = rules.beta_prior(params.initial_trust, params.prior_weight_days)
        self.trust = rules.trust(self.r, self.s)
        self.total = int(total)
        self.released = 0
        self.released_today = 0

    @property
    def held(self) -> int:
        return self.total - self.released

    def observe(self, cooperation: float, defection: float) -> None:
        """Update trust in the other side with today's evidence."""
        self.r, self.s = rules.beta_update(self.r, self.s, cooperation, defection, self.params.memory)
        self.trust = rules.trust(self.r, self.s)


class GovernmentAgent(Side):
    """The Afghan government: holds the Taliban prisoners, commanders among them, and releases on the decree's terms."""

    def __init__(self, model: mesa.Model, params, total: int, commanders: int):
        super().__init__(model, params, total)
        self.commanders_total = int(commanders)
        self.commanders_released = 0
        self.commanders_today = 0
        self.offensive_left = 0
        self.offensive_days = 0

    @property
    def fighters_total(self) -> int:
        return self.total - self.commanders_total

    @property
    def fighters_released(self) -> int:
        return self.released - self.commanders_released

    def release(self, owed: int, allowed: bool, u: float) -> None:
        """Release today's batch if the schedule owes one, conditions allow it and trust clears the threshold."""
        m = self.model
        fighters, commanders = rules.batch(
            owed, m.daily_capacity, self.fighters_total - self.fighters_released,
            self.commanders_total - self.commanders_released, m.commander_policy, self.fighters_released,
            self.fighters_total, m.protocol.commander_release_fraction,
        )
        loss = rules.government_loss(
            self.params.exploitation_loss, fighters, commanders, self.params.commander_weight, m.daily_capacity
        )
        threshold = rules.release_threshold(
            loss, m.scenario_.mediator.guarantee, m.pressure, m.scenario_.mediator.pressure_weight,
            self.params.cooperation_gain,
        ) + m.threshold_shift[m.day] - m.release_boost[m.day]
        chance = rules.choice_probability(self.trust, threshold, self.params.temperature)
        go = rules.release_decision(u, chance, allowed, self.offensive_left > 0, fighters + commanders)
        self.released_today = int((fighters + commanders) * go)
        self.commanders_today = int(commanders * go)
        self.released += self.released_today
        self.commanders_released += self.commanders_today

    def react(self, attributed_attacks: int, taliban_owed: int) -> None:
        """Update trust on what the Taliban did, and start offensive mode on a spike of attributed attacks."""
        p = self.params
        cooperation, defection = rules.government_evidence(
            self.model.taliban.released_today, p.reciprocity_credit, attributed_attacks, p.calm_attacks,
            p.calm_credit, p.attack_debit, taliban_owed, p.owed_grace, p.owed_debit,
        )
        self.observe(cooperation, defection)
        left, counted = rules.offensive_update(self.offensive_left, attributed_attacks, p.offensive_trigger, p.offensive_days)
        self.offensive_left = int(left)
        self.offensive_days += int(counted)


class TalibanAgent(Side):
    """The Taliban: hold government personnel, reciprocate at the agreed ratio, decide violence and engagement."""

    def __init__(self, model: mesa.Model, params, total: int):
        super().__init__(model, params, total)
        self.engaged = True
        self.returned_day = -1
        self.walkouts = 0
        self.attacks_today = 0

    def judge(self, behind: int) -> None:
        """Update trust on what the government did today."""
        m, p = self.model, self.params
        credit = rules.policy_value(m.commander_policy, p.verify_only_credit, p.unverified_credit)
        cooperation, defection = rules.taliban_evidence(
            m.government.released_today, m.government.commanders_today, self.engaged, credit, p.release_credit,
            p.commander_credit, behind, m.tranche_size,
            p.behind_debit, m.government.offensive_left > 0, p.offensive_debit,
        )
        self.observe(cooperation, defection)

    def reciprocate(self, target: int, u: float) -> None:
        """Release at the agreed ratio, more likely with trust, less while the commander demand is unmet."""
        m, p = self.model, self.params
        owed = target - self.released
        gov = m.government
        unmet = rules.unmet_share(gov.commanders_total, gov.commanders_released)
        softening = rules.policy_value(m.commander_policy, p.verification_softening, 0.0)
        loss = rules.taliban_loss(p.exploitation_loss, p.commander_demand, m.insistence[m.day], unmet, softening)
        pressure = m.pressure if m.scenario_.mediator.presses_taliban else 0.0
        threshold = rules.release_threshold(
            loss, m.scenario_.mediator.guarantee, pressure, m.scenario_.mediator.pressure_weight, p.cooperation_gain
        )
        chance = rules.choice_probability(self.trust, threshold, p.temperature)
        go = rules.release_decision(u, chance, True, False, owed)
        self.released_today = int(min(owed, m.protocol.taliban_daily_capacity) * go)
        self.released += self.released_today

    def fight(self, u: float) -> None:
        """Attacks today: Poisson around the base rate, restrained in proportion to trust while engaged, raised in retaliation."""
        m, p = self.model, self.params
        rate = rules.taliban_attack_rate(
            p.base_attacks, p.restraint, p.cohesion, self.engaged * self.trust, m.ceasefire_factor[m.day], p.retaliation,
            m.government.offensive_left > 0,
        )
        self.attacks_today = int(rules.poisson_from_uniform(u, rate))

    def decide_engagement(self, stalled_days: int, u: float) -> None:
        """Walk out or come back (generous tit-for-tat); patience counts from the team's return."""
        p, day = self.params, self.model.day
        engaged, walked = rules.engagement(
            self.engaged, self.trust, p.walkout_trust, rules.patience_clock(stalled_days, day, self.returned_day),
            p.patience_days,
            self.model.government.released_today, u, p.return_rate, p.return_on_release,
        )
        if engaged and not self.engaged:
            self.returned_day = day
        self.engaged = bool(engaged)
        self.walkouts += int(walked)

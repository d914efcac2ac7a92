"""The end game in whole runs (docs/ODD.md, section 7.17): contested prisoners wait for political cover, the
Taliban finish their side, the mediator breaks a closed gate at the cost of its pressure, a commitment is
carried out. The rules themselves are tested in test_rules.py; here, what they do to a run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.experiments.seeds import replicate_seeds
from sim.model.exchange import ExchangeModel
from sim.model.scenario import Scenario, load, with_overrides

SEEDS = replicate_seeds(15, 64)
RECORD_BASE = "scenarios/calibration/record_2020_base.yaml"


def run(scenario: Scenario, seeds=SEEDS) -> ExchangeModel:
    model = ExchangeModel(scenario, seed=seeds)
    model.run()
    return model


def series(model: ExchangeModel) -> pd.DataFrame:
    return model.series()


def test_contested_prisoners_stay_until_political_cover_comes():
    base = Scenario(calendar={"horizon_days": 400}, government={"initial_trust": 0.8},
                    taliban={"initial_trust": 0.8})
    never = run(with_overrides(base, {"protocol.contested": 600, "protocol.cover_rate": 0.0}))
    assert never.government.released.max() <= 4400
    assert (never.government.covered == 0).all()
    covered = run(with_overrides(base, {"protocol.contested": 600, "protocol.cover_rate": 0.2,
                                        "protocol.cover_share": 0.25}))
    assert (covered.government.covered <= 600).all()
    assert covered.government.released.max() > 4400  # cover came, in stages
    # Lanes that got past 4,400 got there only after a stage of cover had listed the contested prisoners.
    passed = covered.government.released > 4400
    assert (covered.government.covered[passed] >= 150).all()


def test_the_taliban_finish_their_side_once_the_government_is_far_enough():
    base = Scenario(calendar={"horizon_days": 400}, government={"initial_trust": 0.8},
                    taliban={"initial_trust": 0.8, "ratio_share": 0.6},
                    protocol={"contested": 1000, "cover_rate": 0.0})
    late = run(base)  # the government stops at 4,000: the Taliban stay at 0.6 of 1:5 of it
    assert late.taliban.released.max() <= 0.6 * 0.2 * 4000 + 1
    early = run(with_overrides(base, {"taliban.finish_after": 0.75}))  # 3,750 of 5,000 is enough
    done = early.government.released >= 3750
    assert done.any() and (early.taliban.released[done] == 1000).sum() > done.sum() // 2


def test_the_mediator_breaks_a_closed_gate_and_spends_its_pressure():
    gated = load(RECORD_BASE).model_copy(deep=True)
    gated = with_overrides(gated, {"government.reciprocity_gate": 1.0, "government.gate_after": 1000,
                                   "government.credited_share": 0.5, "taliban.ratio_share": 0.5,
                                   "calendar.horizon_days": 300})
    shut = run(gated)
    assert (shut.government.stall_breaks == 0).all()
    assert shut.government.released.max() <= 1100  # the gate holds at 1,000 (plus a day's batch)
    broken = with_overrides(gated, {"mediator.stall_break_rate": 0.5})
    model = ExchangeModel(broken, seed=SEEDS)
    spent = []
    while model.running:
        before = model.government.stall_breaks.copy()
        model.step()
        broke_today = model.government.stall_breaks > before
        spent.extend(model.pressure[broke_today] <= broken.mediator.pressure_growth + 1e-12)
    assert model.government.stall_breaks.sum() > 0 and all(spent)
    assert model.government.released.max() > shut.government.released.max()


def test_a_commitment_carries_out_a_pledge_whatever_the_trust():
    pledge = load(RECORD_BASE)
    pledge = with_overrides(pledge, {"verification.enabled": True, "verification.arrears_share": 1.0,
                                     "government.willing_trust": 0.0, "government.initial_trust": 0.05,
                                     "calendar.horizon_days": 200})
    distrustful = run(pledge)
    committed = run(with_overrides(pledge, {"government.commitment": 1.0}))
    assert np.mean(committed.government.released) > np.mean(distrustful.government.released)


def test_the_end_game_is_off_by_default():
    defaults = Scenario()
    p = defaults.protocol
    assert (p.contested, defaults.taliban.finish_after, defaults.mediator.stall_break_rate,
            defaults.government.commitment, defaults.verification.next_list_size) == (0, 1.0, 0.0, 0.0, 0)


def test_the_mediator_breaks_no_stall_shorter_than_its_lag():
    gated = with_overrides(load(RECORD_BASE), {"government.reciprocity_gate": 1.0, "government.gate_after": 1000,
                                               "government.credited_share": 0.5, "taliban.ratio_share": 0.5,
                                               "calendar.horizon_days": 300, "mediator.stall_break_rate": 1.0,
                                               "mediator.stall_break_after_days": 20})
    model = ExchangeModel(gated, seed=SEEDS)
    lengths = []
    while model.running:
        stalled = model.government.gate_held_days.copy()  # the gate's streak at the end of yesterday
        before = model.government.stall_breaks.copy()
        model.step()
        lengths.extend(stalled[model.government.stall_breaks > before])
    assert lengths and min(lengths) >= 20


def test_a_settled_team_stays_through_a_stall_that_sends_a_new_one_home():
    base = with_overrides(load(RECORD_BASE), {"government.reciprocity_gate": 1.0, "government.gate_after": 1000,
                                              "government.credited_share": 0.5, "taliban.ratio_share": 0.5,
                                              "taliban.walkout_trust": 0.0, "taliban.patience_days": 7,
                                              "calendar.horizon_days": 200})
    restless = run(base)
    settled = run(with_overrides(base, {"taliban.settled_patience_days": 365}))
    # The gate's stalls send a team of 7 days' patience home again and again; a team that has seen releases in
    # its stay sits them out, and walks out only over a stay with nothing freed.
    assert restless.taliban.walkouts.mean() > 4 * settled.taliban.walkouts.mean()


def test_a_commitment_is_carried_out_in_offensive_mode():
    pledge = with_overrides(load(RECORD_BASE), {"verification.enabled": True, "verification.arrears_share": 1.0,
                                                "government.willing_trust": 0.0,
                                                "government.offensive_trigger": 1, "government.offensive_days": 30,
                                                "calendar.horizon_days": 200})
    free = run(pledge)
    committed = run(with_overrides(pledge, {"government.commitment": 1.0}))
    # A trigger of one attack keeps the government in offensive mode almost always: only a commitment releases.
    assert np.mean(committed.government.released) > np.mean(free.government.released) + 500

"""The Mesa model: invariants over random valid scenarios, the outcome rules (docs/ODD.md 7.14),
determinism and the random streams, lanes (lane k of a batch equals the run on its own, bit for
bit), frozen lanes, the runs API, comparative statics with common random numbers, and events."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.experiments import runs as runner
from sim.experiments.seeds import replicate_seed, replicate_seeds
from sim.model import rules, streams
from sim.model.exchange import SERIES, ExchangeModel
from sim.model.outcomes import COLLAPSED, COMPLETED, DEADLOCKED, OUTCOMES, PARTIAL
from sim.model.scenario import Scenario, load, with_overrides
from sim.model.timeline import Timeline

POLICIES = ["refuse", "first_batch", "verify_only", "after_fraction"]


# --------------------------------------------------------------------------------------
# A strategy of valid scenarios.

@st.composite
def events_in(draw, horizon: int):
    kinds = draw(st.lists(st.sampled_from(
        ["ceasefire", "pressure_shock", "policy_change", "political_split", "spoiler_surge"]), max_size=2))
    out = []
    for kind in kinds:
        ev = {"type": kind, "day": draw(st.integers(0, horizon - 1))}
        if kind == "ceasefire":
            ev.update(duration_days=draw(st.integers(1, 20)), violence_factor=draw(st.floats(0, 1)))
        elif kind == "pressure_shock":
            ev.update(amount=draw(st.floats(-1, 1)))
        elif kind == "policy_change":
            ev.update(conditions_enabled=draw(st.none() | st.booleans()),
                      commander_policy=draw(st.none() | st.sampled_from(POLICIES)),
                      tranche_size=draw(st.none() | st.integers(1, 2000)),
                      daily_capacity=draw(st.none() | st.integers(1, 300)))
        elif kind == "political_split":
            ev.update(duration_days=draw(st.integers(1, 90)), threshold_shift=draw(st.floats(0, 1)))
        else:
            ev.update(duration_days=draw(st.integers(1, 60)), factor=draw(st.floats(0, 10)))
        out.append(ev)
    return out


@st.composite
def scenarios(draw):
    horizon = draw(st.integers(60, 250))
    gov_n = draw(st.integers(20, 6000))
    data = {
        "calendar": {"horizon_days": horizon},
        "protocol": {
            "government_prisoners": gov_n,
            "taliban_prisoners": draw(st.integers(1, 1500)),
            "commanders": draw(st.integers(0, min(gov_n, 40))),
            "upfront_batch": draw(st.integers(0, gov_n)),
            "upfront_start_day": draw(st.integers(0, min(30, horizon - 1))),
            "daily_capacity": draw(st.integers(1, 400)),
            "tranche_size": draw(st.integers(1, gov_n)),
            "tranche_interval_days": draw(st.integers(1, 30)),
            "reciprocity_ratio": draw(st.floats(0, 1)),
            "taliban_daily_capacity": draw(st.integers(1, 200)),
            "commander_policy": draw(st.sampled_from(POLICIES)),
            "commander_release_fraction": draw(st.floats(0, 1)),
            "completion_tolerance": draw(st.sampled_from([0.0, 0.0, 0.05, 0.2])),
            "contested": draw(st.sampled_from([0, 0, gov_n // 10, gov_n])), "cover_rate": draw(st.floats(0, 1)),
            "cover_share": draw(st.floats(0, 1)),
            "conditions": {"enabled": draw(st.booleans()), "window_days": draw(st.integers(1, 30)),
                           "max_attacks_per_day": draw(st.floats(0, 20)),
                           "require_engagement": draw(st.booleans())},
        },
        "government": {"initial_trust": draw(st.floats(0, 1)), "prior_weight_days": draw(st.floats(0, 200)),
                       "memory": draw(st.floats(0.5, 1)), "offensive_trigger": draw(st.integers(1, 40)),
                       "reciprocity_gate": draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
                       "gate_after": draw(st.integers(0, gov_n)), "willing_trust": draw(st.floats(0, 1)),
                       "credited_share": draw(st.floats(0, 1)), "catch_up": draw(st.floats(1, 12)),
                       "commitment": draw(st.sampled_from([0.0, 0.0, 0.5, 1.0]))},
        "taliban": {"initial_trust": draw(st.floats(0, 1)), "prior_weight_days": draw(st.floats(0, 200)),
                    "memory": draw(st.floats(0.5, 1)), "base_attacks": draw(st.floats(0, 30)),
                    "patience_days": draw(st.integers(1, 60)), "ratio_share": draw(st.floats(0, 1)),
                    "return_on_release": draw(st.floats(0, 1)), "finish_after": draw(st.floats(0, 1)),
                    "settled_patience_days": draw(st.sampled_from([0, 0, 14, 60]))},
        "verification": {"enabled": draw(st.booleans()), "start_day": draw(st.integers(0, horizon)),
                         "rate_with_team": draw(st.floats(0, 500)), "rate_without_team": draw(st.floats(0, 200)),
                         "list_size": draw(st.integers(1, gov_n)), "list_gap_days": draw(st.integers(0, 40)),
                         "arrears_share": draw(st.floats(0, 1)), "next_list_size": draw(st.integers(0, gov_n))},
        "spoilers": {"attack_rate": draw(st.floats(0, 5)), "misattribution": draw(st.floats(0, 1))},
        "mediator": {"initial_pressure": draw(st.floats(0, 1)), "stall_break_rate": draw(st.floats(0, 1)),
                     "stall_break_after_days": draw(st.integers(0, 40))},
        "outcomes": {"deadlock_window_days": draw(st.integers(5, 90)),
                     "collapse_window_days": draw(st.integers(5, 90)),
                     "collapse_trust": draw(st.floats(0, 0.5))},
        "events": draw(events_in(horizon)),
    }
    return Scenario.model_validate(data)


def run_model(scenario: Scenario, seed: int):
    """One run on its own (a one-lane model): the model, its metrics (a row) and its daily series."""
    model = ExchangeModel(scenario, seed)
    metrics = model.run().iloc[0]
    return model, metrics, model.series().drop(columns="lane")


def completed_mask(df, s: Scenario):
    p, tol = s.protocol, s.protocol.completion_tolerance
    return ((p.government_prisoners - df["government_released"] <= tol * p.government_prisoners)
            & (p.taliban_prisoners - df["taliban_released"] <= tol * p.taliban_prisoners)).to_numpy()


def moved_days(df) -> np.ndarray:
    """Days on which either side released someone."""
    gov = np.diff(df["government_released"].to_numpy(), prepend=0) > 0
    tal = np.diff(df["taliban_released"].to_numpy(), prepend=0) > 0
    return np.nonzero(gov | tal)[0]


def longest_true_run(mask) -> int:
    best = cur = 0
    for v in mask:
        cur = cur + 1 if v else 0
        best = max(best, cur)
    return best


# --------------------------------------------------------------------------------------
# Invariants on every day of random valid scenarios.

@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(s=scenarios(), seed=st.integers(0, 2**63 - 1))
@pytest.mark.slow
def test_invariants_hold_on_every_day(s, seed):
    check_invariants(s, seed)


# Fixed scenarios and seeds that between them reach every outcome, so that each outcome's
# checks above run on every test run, whatever hypothesis draws.
PANEL = {
    "defaults": Scenario(),
    "low_trust": Scenario(government={"initial_trust": 0.2}, taliban={"initial_trust": 0.2}),
    "short_horizon": Scenario(calendar={"horizon_days": 120}),
    "first_batch_events": Scenario(
        protocol={"commander_policy": "first_batch"},
        events=[{"type": "ceasefire", "day": 40}, {"type": "pressure_shock", "day": 20, "amount": 0.5},
                {"type": "policy_change", "day": 100, "tranche_size": 250, "daily_capacity": 50}],
    ),
}


@pytest.mark.slow
def test_invariants_on_a_fixed_panel_reaching_every_outcome():
    seen = set()
    for s in PANEL.values():
        for seed in runner.replicate_seeds(7, 12):
            seen.add(check_invariants(s, seed))
    assert seen == set(OUTCOMES)


def check_invariants(s: Scenario, seed: int) -> str:
    """Run once and check every invariant; returns the outcome."""
    model, m, df = run_model(s, seed)
    p, o = s.protocol, s.outcomes
    H = s.calendar.horizon_days
    gov, tal = model.government, model.taliban
    gov_held, tal_held = int(gov.held[0]), int(tal.held[0])

    # The series: one row per simulated day, ending on the end day.
    assert list(df.columns) == ["day", *SERIES]
    assert df.equals(model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
                     .assign(day=np.arange(len(df)))[["day", *SERIES]].astype(df.dtypes.to_dict()))
    assert df["day"].tolist() == list(range(len(df)))
    assert m.end_day == df["day"].iloc[-1] == len(df) - 1
    assert 0 <= m.end_day <= H - 1

    # Prisoners: released + held == total, bounds, never negative, never falling.
    assert gov.released[0] + gov_held == p.government_prisoners
    assert tal.released[0] + tal_held == p.taliban_prisoners
    g, t, c = (df[k].to_numpy() for k in ("government_released", "taliban_released", "commanders_released"))
    assert (g >= 0).all() and (g <= p.government_prisoners).all()
    assert (t >= 0).all() and (t <= p.taliban_prisoners).all()
    assert (c >= 0).all() and (c <= p.commanders).all() and (c <= g).all()
    assert (g - c <= p.government_prisoners - p.commanders).all()
    for col in (g, t, c, df["government_scheduled"].to_numpy()):
        assert (np.diff(col) >= 0).all()
    # Never more in a day than the capacity allows, nor more than the schedule says.
    capacities = [p.daily_capacity] + [ev.daily_capacity for ev in s.events
                                       if ev.type == "policy_change" and ev.daily_capacity]
    assert (np.diff(g, prepend=0) <= math.floor(max(capacities) * s.government.catch_up)).all()
    # Lists and verification: none released before cleared; none on a day the reciprocity gate suspends releases.
    assert (g <= df["government_cleared"].to_numpy()).all()
    assert not (df["suspended"].to_numpy(dtype=bool) & (np.diff(g, prepend=0) > 0)).any()
    if not s.verification.enabled:  # everyone cleared from the start, but the contested until cover frees them
        cleared = df["government_cleared"].to_numpy()
        assert (cleared >= p.government_prisoners - min(p.contested, p.government_prisoners)).all()
        assert (cleared <= p.government_prisoners).all() and (np.diff(cleared) >= 0).all()
        if p.contested == 0:
            assert (cleared == p.government_prisoners).all()
    assert (np.diff(t, prepend=0) <= p.taliban_daily_capacity).all()
    assert (g <= df["government_scheduled"].to_numpy()).all()
    # The Taliban never release ahead of the agreed ratio, unless finishing their side.
    target = rules.reciprocal_target(government_released=g, government_total=p.government_prisoners,
                                     ratio=p.reciprocity_ratio, taliban_total=p.taliban_prisoners,
                                     finish_after=s.taliban.finish_after)
    assert (t <= target).all()

    # Trust and pressure in [0, 1]; attacks never negative; attributed = Taliban's + misattributed ISKP.
    for col in ("trust_government", "trust_taliban", "pressure"):
        assert df[col].between(0.0, 1.0).all(), col
    for col in ("taliban_attacks", "iskp_attacks", "attributed_attacks", "government_scheduled"):
        assert (df[col] >= 0).all(), col
    assert (df["attributed_attacks"] >= df["taliban_attacks"]).all()
    assert (df["attributed_attacks"] <= df["taliban_attacks"] + df["iskp_attacks"]).all()

    # Metrics agree with the series.
    last = df.iloc[-1]
    assert m.government_released == last["government_released"]
    assert m.taliban_released == last["taliban_released"]
    assert m.commanders_released == last["commanders_released"]
    assert m.taliban_attacks == df["taliban_attacks"].sum()
    assert m.iskp_attacks == df["iskp_attacks"].sum()
    assert m.attributed_attacks == df["attributed_attacks"].sum()
    assert m.final_trust_government == last["trust_government"]
    assert m.final_trust_taliban == last["trust_taliban"]
    assert m.final_pressure == last["pressure"]
    gov_days = np.nonzero(np.diff(g, prepend=0) > 0)[0]
    if gov_days.size:
        assert m.first_release_day == gov_days[0]
    else:
        assert math.isnan(m.first_release_day)
    engaged = df["engaged"].to_numpy(dtype=bool)
    # The team is there from the start, or (with verification) arrives at the start of its start day.
    before = np.concatenate([[not s.verification.enabled], engaged[:-1]])
    if s.verification.enabled and s.verification.start_day < len(before):
        before[s.verification.start_day] = True
    walked = np.sum(before & ~engaged)
    if s.government.reciprocity_gate > 0 and s.mediator.stall_break_rate > 0:
        # A team the mediator calls back may walk out again the same day, which the end-of-day series cannot show.
        assert m.walkouts >= walked
    else:
        assert m.walkouts == walked
    assert m.offensive_days >= 0 and m.longest_stall_days >= 0

    # Outcome: exactly one kind; the end rules of docs/ODD.md, section 7.14.
    assert m.outcome in OUTCOMES
    done = completed_mask(df, s)
    broken = (~engaged & (df["trust_government"] < o.collapse_trust)
              & (df["trust_taliban"] < o.collapse_trust)).to_numpy()
    # The run stops on the first day either ending holds, and not before.
    assert not done[:-1].any()
    assert longest_true_run(broken[:-1]) < o.collapse_window_days
    moves = moved_days(df)
    if m.outcome == COMPLETED:
        assert done[-1]
        assert gov_held <= p.completion_tolerance * p.government_prisoners
        assert tal_held <= p.completion_tolerance * p.taliban_prisoners
    else:
        assert not done[-1]
    if m.outcome == COLLAPSED:
        assert broken[-o.collapse_window_days:].all() and len(df) >= o.collapse_window_days
    if m.outcome in (DEADLOCKED, PARTIAL):
        assert m.end_day == H - 1
        assert longest_true_run(broken) < o.collapse_window_days
    if m.outcome == DEADLOCKED:
        # Nobody released anyone during the last deadlock_window days.
        assert not (moves >= H - o.deadlock_window_days).any()
    if m.outcome == PARTIAL and moves.size:
        # Still moving: a release within the last deadlock_window days. (A run that never
        # released anyone is the subject of test_run_that_never_moves_is_not_partial.)
        assert (moves >= H - o.deadlock_window_days).any()
    return m.outcome


def test_run_that_never_moves_is_not_partial():
    s = Scenario(
        calendar={"horizon_days": 70},
        government={"initial_trust": 0.0, "prior_weight_days": 1000, "exploitation_loss": 100},
        mediator={"initial_pressure": 0.0, "pressure_growth": 0.0, "guarantee": 0.0},
    )
    model, m, df = run_model(s, 0)
    assert df["government_released"].iloc[-1] == 0 and df["taliban_released"].iloc[-1] == 0  # nothing moved
    assert m.outcome == DEADLOCKED


def test_run_that_never_moves_on_a_long_horizon_is_deadlocked():
    s = Scenario(
        calendar={"horizon_days": 200},
        government={"initial_trust": 0.0, "prior_weight_days": 1000, "exploitation_loss": 100},
        mediator={"initial_pressure": 0.0, "pressure_growth": 0.0, "guarantee": 0.0},
        taliban={"walkout_trust": 0.0, "patience_days": 3650},  # the team stays: no collapse
    )
    model, m, df = run_model(s, 0)
    assert df["government_released"].iloc[-1] == 0
    assert m.outcome == DEADLOCKED and m.end_day == 199


# --------------------------------------------------------------------------------------
# Determinism and the random stream.

def _metrics_equal(a: pd.Series, b: pd.Series) -> bool:
    """Every metric equal, float bits included (NaN equals NaN; 0.0 and -0.0 differ)."""
    return a.index.equals(b.index) and all(_same_bits(a[k], b[k]) for k in a.index)


def _same_bits(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return np.asarray(a).dtype.kind == np.asarray(b).dtype.kind and np.asarray(a).tobytes() == np.asarray(b).tobytes()


def assert_same_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Two tables with the same columns, dtypes and values, bit for bit."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        assert x.dtype == y.dtype, column
        assert (x == y).all() if x.dtype == object else x.tobytes() == y.tobytes(), column


@pytest.mark.parametrize("seed", [0, 1, 20200311, 2**63 - 1])
def test_same_scenario_and_seed_give_identical_runs(seed):
    s = Scenario(calendar={"horizon_days": 200})
    _, m1, df1 = run_model(s, seed)
    _, m2, df2 = run_model(s, seed)
    assert _metrics_equal(m1, m2)
    assert df1.equals(df2)


def test_different_seeds_give_different_series():
    s = Scenario(calendar={"horizon_days": 200})
    frames = [run_model(s, seed)[2] for seed in (1, 2, 3)]
    assert not frames[0].equals(frames[1])
    assert not frames[1].equals(frames[2])
    assert not frames[0]["taliban_attacks"].equals(frames[1]["taliban_attacks"])


# --------------------------------------------------------------------------------------
# Random streams: one per mechanism, derived from the run's seed.

def _splitmix64_outputs(key: int, n: int) -> list[int]:
    """A plain-Python SplitMix64 (Steele, Lea and Flood 2014) seeded with `key`: its first n outputs."""
    mask, out, state = (1 << 64) - 1, [], key
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


def test_each_stream_is_splitmix64_keyed_from_the_runs_seed_sequence():
    seed = 20200311
    keys = streams.stream_keys([seed])
    words = np.random.SeedSequence(seed).generate_state(len(streams.STREAMS), np.uint64)
    assert keys[:, 0].tolist() == words.tolist()
    for j, key in enumerate(words.tolist()):
        expected = [(x >> 11) * 2.0 ** -53 for x in _splitmix64_outputs(key, 40)]
        assert [float(streams.uniforms(keys[j:j + 1, :], day)[0, 0]) for day in range(40)] == expected


def test_a_stream_added_later_leaves_every_other_stream_unchanged():
    seeds = replicate_seeds(3, 5)
    six = streams.stream_keys(seeds, len(streams.STREAMS))
    nine = streams.stream_keys(seeds, len(streams.STREAMS) + 3)
    assert np.array_equal(six, nine[: len(streams.STREAMS)])


def test_uniforms_depend_only_on_seed_stream_and_day():
    keys = streams.stream_keys([42, 43])
    days = [streams.uniforms(keys, d) for d in range(300)]
    block = np.stack(days)  # day x stream x run
    assert ((block >= 0) & (block < 1)).all()
    assert not np.array_equal(block[:, :, 0], block[:, :, 1])  # another seed, other numbers
    assert len({tuple(block[:, j, 0]) for j in range(len(streams.STREAMS))}) == len(streams.STREAMS)
    # Uniform in [0, 1): mean and variance of the 300 x 6 x 2 draws.
    assert block.mean() == pytest.approx(0.5, abs=0.02) and block.var() == pytest.approx(1 / 12, rel=0.05)
    # A run's draws do not depend on which other runs share its batch.
    alone = np.stack([streams.uniforms(streams.stream_keys([42]), d) for d in range(300)])
    assert np.array_equal(alone[:, :, 0], block[:, :, 0])


def test_a_shorter_horizon_is_a_prefix_of_a_longer_one():
    """Same seed: the first days of a run do not depend on how long it will last."""
    for seed in (3, 4, 5):
        _, _, short = run_model(Scenario(calendar={"horizon_days": 150}), seed)
        _, _, long = run_model(Scenario(calendar={"horizon_days": 300}), seed)
        n = min(len(short), len(long))
        assert short.iloc[:n].reset_index(drop=True).equals(long.iloc[:n].reset_index(drop=True))


# --------------------------------------------------------------------------------------
# Lanes: lane k of a batch gives exactly the run its seed gives on its own.

def assert_lanes_equal_single_runs(scenarios: list[Scenario], seeds, overrides: dict | None = None,
                                   collect: bool = True) -> pd.DataFrame:
    """Run the lanes in one model, then each lane on its own; every metric and series value must match bit for bit."""
    batch = ExchangeModel(scenarios, seeds, overrides=overrides, collect=collect)
    metrics = batch.run()
    series = batch.series() if collect else None
    for lane, seed in enumerate(seeds):
        own = {path: np.asarray(values)[lane:lane + 1] for path, values in (overrides or {}).items()}
        alone = ExchangeModel(scenarios[lane], seed, overrides=own or None, collect=collect)
        single = alone.run().iloc[0].drop("lane")
        assert _metrics_equal(metrics.iloc[lane].drop("lane"), single), (lane, metrics.iloc[lane], single)
        if collect:
            mine = series[series["lane"] == lane].drop(columns="lane").reset_index(drop=True)
            assert_same_bits(mine, alone.series().drop(columns="lane"))
    return metrics


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.slow
def test_lanes_equal_single_runs_for_every_shipped_scenario(path):
    scenario = load(path)
    seeds = replicate_seeds(17, 24).tolist()
    metrics = assert_lanes_equal_single_runs([scenario] * len(seeds), seeds)
    assert metrics["end_day"].nunique() > 1  # lanes ended on different days: frozen lanes were exercised


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(st.tuples(scenarios(), st.integers(0, 2**63 - 1)), min_size=2, max_size=5))
@pytest.mark.slow
def test_lanes_of_random_scenarios_equal_single_runs(batch):
    """Lanes with different scenarios (events and policy changes included) in one model."""
    assert_lanes_equal_single_runs([s for s, _ in batch], [seed for _, seed in batch])


@pytest.mark.slow
def test_sweep_points_mixed_in_one_batch_equal_single_runs():
    """Overrides give each lane its own parameter values (as sweeps do), grouped timelines included."""
    base = load(SHIPPED[[p.stem for p in SHIPPED].index("decree_2020")])
    n = 24
    rng = np.random.default_rng(5)
    overrides = {
        "government.initial_trust": rng.uniform(0, 1, n),
        "taliban.memory": rng.uniform(0.9, 1.0, n),
        "protocol.commander_policy": rng.choice(["refuse", "first_batch", "verify_only", "after_fraction"], n),
        "protocol.daily_capacity": rng.integers(50, 200, n),
        "protocol.conditions.enabled": rng.integers(0, 2, n).astype(bool),
        "protocol.conditions.window_days": rng.integers(3, 30, n),
        "calendar.horizon_days": rng.integers(120, 300, n),
        "spoilers.attack_rate": rng.uniform(0.5, 3.0, n),
    }
    seeds = replicate_seeds(9, n).tolist()
    assert_lanes_equal_single_runs([base] * n, seeds, overrides)
    # And the overrides are what a scenario with those values gives.
    batch = ExchangeModel([base] * n, seeds, overrides=overrides).run()
    for lane in (0, 7):
        own = with_overrides(base, {k: (v[lane].item() if hasattr(v[lane], "item") else v[lane])
                                    for k, v in overrides.items()})
        assert _metrics_equal(batch.iloc[lane].drop("lane"), ExchangeModel(own, seeds[lane]).run().iloc[0].drop("lane"))


def test_lanes_do_not_depend_on_the_other_lanes_or_their_number():
    s = Scenario()
    seeds = replicate_seeds(4, 30).tolist()
    full = ExchangeModel(s, seeds, collect=False).run()
    for subset in (seeds[:1], seeds[5:6], seeds[3:20], seeds[::-1]):
        part = ExchangeModel(s, subset, collect=False).run()
        for lane, seed in enumerate(subset):
            assert _metrics_equal(part.iloc[lane].drop("lane"), full.iloc[seeds.index(seed)].drop("lane"))


def test_an_ended_lane_is_frozen_while_the_others_run_on():
    s = Scenario()
    seeds = replicate_seeds(1, 40).tolist()
    model = ExchangeModel(s, seeds, collect=False)
    while model.live.all():
        model.step()
    ended = np.flatnonzero(~model.live)
    snapshot = {(type(holder).__name__, name): np.asarray(getattr(holder, name))[ended].copy()
                for holder, names in model._holders() for name in names}
    metrics = model.metrics().iloc[ended]
    for _ in range(30):
        model.step()
    for holder, names in model._holders():
        for name in names:
            now = np.asarray(getattr(holder, name))[ended]
            assert np.array_equal(now, snapshot[type(holder).__name__, name], equal_nan=True), name
    assert model.metrics().iloc[ended].equals(metrics)
    model.run()
    assert not model.running and not model.live.any()


def test_one_lane_is_a_normal_mesa_model():
    model = ExchangeModel(Scenario(calendar={"horizon_days": 90}), seed=3)
    assert model.n_lanes == 1 and len(model.agents) == 2
    for _ in range(10):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 10 and list(frame.columns) == list(SERIES)
    assert all(np.isscalar(v) for v in frame.iloc[-1])  # one run: plain numbers, as in any Mesa model
    model.run()
    assert not model.running


def test_skipping_the_daily_series_changes_no_metric():
    scenario = Scenario(calendar={"horizon_days": 200})
    seeds = [1, 2, 3]
    assert ExchangeModel(scenario, seeds).run().equals(ExchangeModel(scenario, seeds, collect=False).run())


def test_bad_overrides_and_seeds_are_refused():
    with pytest.raises(ValueError, match="government.initial_trust"):
        ExchangeModel(Scenario(), [1, 2], overrides={"government.initial_trust": [0.5, 1.5]})
    with pytest.raises(ValueError, match="no such parameter"):
        ExchangeModel(Scenario(), [1], overrides={"government.trust": [0.5]})
    with pytest.raises(ValueError, match="whole numbers"):
        ExchangeModel(Scenario(), [1], overrides={"protocol.daily_capacity": [10.5]})
    with pytest.raises(ValueError, match="not one of"):
        ExchangeModel(Scenario(), [1], overrides={"protocol.commander_policy": ["never"]})
    with pytest.raises(ValueError, match="upfront_batch"):  # a grouped override is validated as a whole scenario
        ExchangeModel(Scenario(), [1], overrides={"protocol.upfront_batch": [6000]})
    with pytest.raises(ValueError, match="non-negative"):
        ExchangeModel(Scenario(), [-1])


# --------------------------------------------------------------------------------------
# The runs API.

@pytest.mark.slow
def test_runs_are_the_same_for_any_lanes_and_workers():
    s = Scenario()
    one = runner.run(s, runs=12, seed=5, workers=1, lanes=1, series=True)
    batched = runner.run(s, runs=12, seed=5, workers=1, lanes=5, series=True)
    two = runner.run(s, runs=12, seed=5, workers=2, series=True)
    assert len(one.runs) == 12 and one.runs["run"].tolist() == list(range(12))
    for other in (batched, two):
        assert one.runs.equals(other.runs)
        assert one.series is not None and one.series.equals(other.series)
    assert one.runs["seed"].tolist() == replicate_seeds(5, 12).tolist()
    # Each row is the run its seed gives on its own.
    for row in one.runs.itertuples():
        _, m, _ = run_model(s, row.seed)
        assert m.outcome == row.outcome and m.end_day == row.end_day


def test_replicate_seed_is_stable_distinct_and_63_bit():
    seeds = [replicate_seed(20200311, k) for k in range(1000)]
    assert seeds == replicate_seeds(20200311, 1000).tolist()
    assert len(set(seeds)) == 1000
    assert all(isinstance(x, int) and 0 <= x < 2**63 for x in seeds)
    assert replicate_seed(1, 0) != replicate_seed(2, 0)
    # The rule the manifest documents.
    ss = np.random.SeedSequence(20200311, spawn_key=(7,))
    assert seeds[7] == int(ss.generate_state(1, np.uint64)[0]) >> 1


# --------------------------------------------------------------------------------------
# Comparative statics on fixed seeds with common random numbers.

CS_RUNS, CS_SEED = 300, 11


@pytest.fixture(scope="module")
def runs_of():
    cache: dict[str, pd.DataFrame] = {}

    def get(overrides: dict) -> pd.DataFrame:
        s = with_overrides(Scenario(), overrides)
        key = s.model_dump_json()
        if key not in cache:
            cache[key] = runner.run(s, runs=CS_RUNS, seed=CS_SEED, workers=2, series=False).runs
        return cache[key]

    return get


def _rate(runs: pd.DataFrame, *kinds) -> float:
    return float(runs["outcome"].isin(kinds).mean())


def test_higher_initial_trust_does_not_lower_completion(runs_of):
    rates = [_rate(runs_of({"government.initial_trust": t, "taliban.initial_trust": t}), COMPLETED)
             for t in (0.2, 0.4, 0.6)]
    print("completion rate at initial trust 0.2/0.4/0.6:", rates)
    assert rates[0] <= rates[1] <= rates[2]
    assert rates[2] > rates[0]


def test_conceding_the_commanders_does_not_raise_walkouts(runs_of):
    refuse = runs_of({"protocol.commander_policy": "refuse"})["walkouts"].mean()
    first = runs_of({"protocol.commander_policy": "first_batch"})["walkouts"].mean()
    print("mean walkouts refuse / first_batch:", refuse, first)
    assert first <= refuse


def test_more_spoiler_attacks_do_not_lower_breakdowns(runs_of):
    rates = [_rate(runs_of({"spoilers.attack_rate": a}), DEADLOCKED, COLLAPSED) for a in (0.5, 1.0, 2.0)]
    print("deadlock+collapse rate at ISKP attack rate 0.5/1/2:", rates)
    assert rates[0] <= rates[1] <= rates[2]
    assert rates[2] > rates[0]


# --------------------------------------------------------------------------------------
# Events.

EVENT_SEEDS = replicate_seeds(99, 40).tolist()


@pytest.mark.slow
def test_ceasefire_lowers_taliban_attacks_on_its_days():
    day, length = 60, 5
    base = Scenario(calendar={"horizon_days": 120})
    truce = Scenario(calendar={"horizon_days": 120},
                     events=[{"type": "ceasefire", "day": day, "duration_days": length, "violence_factor": 0.1}])
    with_cf, without = [], []
    for seed in EVENT_SEEDS:
        a, b = run_model(truce, seed)[2], run_model(base, seed)[2]
        if len(a) < day + length or len(b) < day + length:
            continue  # ended before the ceasefire
        # Identical until the ceasefire starts.
        assert a.iloc[:day].equals(b.iloc[:day])
        with_cf.append(a["taliban_attacks"].iloc[day:day + length].mean())
        without.append(b["taliban_attacks"].iloc[day:day + length].mean())
    assert len(with_cf) >= 20
    assert np.mean(with_cf) < 0.5 * np.mean(without)


def test_policy_change_disabling_conditions_on_day_0_equals_conditions_disabled():
    event = Scenario(events=[{"type": "policy_change", "day": 0, "conditions_enabled": False}])
    protocol = with_overrides(Scenario(), {"protocol.conditions.enabled": False})
    a = runner.run(event, runs=40, seed=8, workers=1, series=False).runs
    b = runner.run(protocol, runs=40, seed=8, workers=1, series=False).runs
    assert _rate(a, COMPLETED) == _rate(b, COMPLETED)
    assert a.equals(b)
    # And it matters: with conditions on, some runs differ.
    c = runner.run(Scenario(), runs=40, seed=8, workers=1, series=False).runs
    assert not a.equals(c)


def test_pressure_shock_raises_pressure_on_its_day():
    day = 30
    shock = Scenario(calendar={"horizon_days": 60},
                     events=[{"type": "pressure_shock", "day": day, "amount": 0.3}])
    base = Scenario(calendar={"horizon_days": 60})
    for seed in EVENT_SEEDS[:10]:
        a, b = run_model(shock, seed)[2], run_model(base, seed)[2]
        assert a.iloc[:day].equals(b.iloc[:day])
        before = a["pressure"].iloc[day - 1]
        assert before < 0.7  # room for the shock to show
        assert a["pressure"].iloc[day] > b["pressure"].iloc[day]
        assert a["pressure"].iloc[day] > before


def test_policy_change_during_upfront_batch_keeps_the_upfront_batch():
    """A new tranche size on day 20 (mid up-front batch) leaves the up-front batch whole, then applies."""
    s = Scenario(calendar={"horizon_days": 60}, events=[{"type": "policy_change", "day": 20, "tranche_size": 250}])
    model = ExchangeModel(s, 0)
    for _ in range(45):
        model.step()
    scheduled = model.series()["government_scheduled"]
    assert scheduled.iloc[27] == 1500  # the up-front batch is due in full by day 27, as without the event
    assert scheduled.iloc[40] == 1500 and scheduled.iloc[41] == 1750  # then tranches of the new size


def test_policy_change_restating_the_protocol_changes_nothing():
    restate = {"type": "policy_change", "tranche_size": 500, "tranche_interval_days": 14, "daily_capacity": 100,
               "conditions_enabled": True, "commander_policy": "refuse"}
    for day in (5, 20, 60):
        s = Scenario(calendar={"horizon_days": 200}, events=[dict(restate, day=day)])
        for seed in (1, 2):
            _, m1, df1 = run_model(s, seed)
            _, m2, df2 = run_model(Scenario(calendar={"horizon_days": 200}), seed)
            assert df1.equals(df2), day
            assert _metrics_equal(m1, m2)


def test_policy_change_lowering_capacity_never_lowers_what_is_due():
    s = Scenario(calendar={"horizon_days": 120}, events=[{"type": "policy_change", "day": 20, "daily_capacity": 30}])
    model = ExchangeModel(s, 3)
    model.run()
    scheduled = model.series()["government_scheduled"].to_numpy()
    assert (np.diff(scheduled) >= 0).all()
    assert scheduled[19] == 700 and scheduled[20] >= 700
    released = model.series()["government_released"].to_numpy()
    assert (np.diff(released[20:], prepend=released[19]) <= 30).all()


def test_valid_spoiler_surge_gets_the_attack_rate_it_asks_for():
    s = Scenario(calendar={"horizon_days": 80},
                 spoilers={"attack_rate": 100.0, "progress_timing": 0.0, "misattribution": 0.0},
                 events=[{"type": "spoiler_surge", "day": 10, "duration_days": 30, "factor": 20.0}])
    df = run_model(s, 1)[2]
    surge = df["iskp_attacks"].iloc[10:40]
    assert len(surge) == 30
    assert surge.mean() == pytest.approx(2000.0, rel=0.02)


def _schedule_after(day: int, **change) -> tuple[np.ndarray, np.ndarray]:
    """The decree's schedule without and with a policy_change on `day`."""
    plain = Timeline.of(Scenario()).schedule
    changed = Timeline.of(Scenario(events=[{"type": "policy_change", "day": day, **change}])).schedule
    return plain, changed


@pytest.mark.parametrize("day,change", [
    (100, {"tranche_size": 500}), (60, {"tranche_interval_days": 14}), (20, {"daily_capacity": 100}),
])
def test_policy_change_restating_the_values_changes_nothing(day, change):
    plain, changed = _schedule_after(day, **change)
    assert np.array_equal(plain, changed)


def test_policy_change_continues_the_schedule_without_rejudging_the_past():
    plain, smaller = _schedule_after(100, tranche_size=250)
    assert np.array_equal(plain[:100], smaller[:100])
    assert smaller[110] == plain[99] and smaller[111] == plain[99] + 250  # the cycle keeps its phase (last rise day 97)
    plain, faster = _schedule_after(20, daily_capacity=200)
    assert list(faster[19:24]) == [700, 900, 1100, 1300, 1500]  # the rest of the up-front batch at the new pace
    assert np.all(np.diff(faster) >= 0) and faster[-1] == 5000
    _, slower = _schedule_after(60, tranche_interval_days=28)
    assert slower[60] == plain[59] and np.all(np.diff(slower[55:]) >= 0)

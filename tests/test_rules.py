"""The pure rules of sim/model/rules.py: one run (floats) and many runs (arrays) agree exactly,
values stay in their bounds, and the rules move in the direction the theory says.

Monotonicity of release_threshold allows a few ulps: p* = L'/(gain + L') is not exactly
monotone in IEEE arithmetic (the rounding of the denominator can jump by one ulp while the
numerator moves by less), which is rounding, not behaviour. Every other property is exact.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.model import outcomes, rules

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------
# Strategies for one run's valid inputs.

def unit():
    return st.floats(0.0, 1.0)


def nonneg(hi=100.0):
    return st.floats(0.0, hi)


def count(hi=100_000, lo=0):
    return st.integers(lo, hi)


def uniform01():
    return st.floats(0.0, 1.0, exclude_max=True)


@st.composite
def batch_args(draw):
    fighters_total = draw(count(20_000))
    fighters_held = draw(st.integers(0, fighters_total))
    commanders_held = draw(count(50))
    return (
        draw(st.integers(-200, 20_000)),  # owed (the rule clips a negative value)
        draw(count(2_000, lo=1)),  # capacity
        fighters_held,
        commanders_held,
        draw(st.sampled_from([rules.REFUSE, rules.FIRST_BATCH, rules.VERIFY_ONLY, rules.AFTER_FRACTION])),
        fighters_total - fighters_held,  # fighters released
        fighters_total,
        draw(unit()),  # fraction
    )


@st.composite
def reciprocal_args(draw):
    gov_total = draw(count(lo=1))
    return (draw(st.integers(0, gov_total)), gov_total, draw(nonneg(10.0)), draw(count(lo=1)),
            draw(st.floats(0.0, 1.0)))


@st.composite
def contested_args(draw):
    listable = draw(count(5000))
    return (draw(st.integers(0, listable)), listable, draw(count(1000)), draw(unit()), draw(unit()), draw(uniform01()))


@st.composite
def progress_args(draw):
    gov_total, tal_total = draw(count(lo=1)), draw(count(lo=1))
    return (draw(st.integers(0, gov_total)), draw(st.integers(0, tal_total)), gov_total, tal_total)


@st.composite
def lists_args(draw):
    total = draw(count(20_000, lo=1))
    listed = draw(st.integers(0, total))
    return (listed, draw(st.integers(-1, 400)), draw(st.integers(0, listed)), total, draw(count(5000, lo=1)),
            draw(count(60)), draw(count(400)), draw(st.one_of(st.just(0), count(5000))))


@st.composite
def pledged_args(draw):
    listed = draw(count(5000))
    return (draw(st.booleans()), draw(st.booleans()), draw(st.integers(-500, 5000)), draw(count(1000, lo=1)),
            draw(st.integers(0, listed)), listed)


@st.composite
def verified_args(draw):
    listed = draw(count(5000))
    cleared = draw(st.sampled_from([0, listed]))
    return (float(draw(st.integers(cleared, listed))), cleared, listed, draw(st.booleans()), draw(st.booleans()),
            draw(nonneg(1000.0)), draw(nonneg(1000.0)))


CASES = {
    "lists": lists_args(),
    "pledged": pledged_args(),
    "verified": verified_args(),
    "reciprocity_gate": st.tuples(nonneg(2.0), count(5000), count(5000), nonneg(5000.0), nonneg(1.0), st.booleans(),
                                  st.booleans()),
    "stall_break": st.tuples(st.booleans(), unit(), unit(), uniform01(), count(365), count(60)),
    "committed_chance": st.tuples(unit(), st.booleans(), st.booleans(), st.booleans(), unit()),
    "contested_stage": contested_args(),
    "capacity": st.tuples(count(1000, lo=1), st.integers(-500, 5000), count(1000, lo=1), st.floats(1.0, 50.0),
                          st.booleans()),
    "willing": st.tuples(unit(), unit(), unit(), unit()),
    "beta_prior": st.tuples(unit(), nonneg(1000.0)),
    "beta_update": st.tuples(st.floats(-1.0, 1e4), st.floats(-1.0, 1e4), nonneg(), nonneg(), unit()),
    "trust": st.tuples(nonneg(1e6), nonneg(1e6)),
    "release_threshold": st.tuples(nonneg(1e4), unit(), unit(), nonneg(), st.floats(0.01, 100.0)),
    "choice_probability": st.tuples(unit(), st.floats(-1.0, 1.0), st.floats(0.001, 10.0)),
    "poisson_from_uniform": st.tuples(uniform01(), st.one_of(nonneg(60.0), nonneg(1000.0))),
    "scheduled_released": st.tuples(
        count(3650), count(), count(3650), count(lo=1), count(lo=1), count(365, lo=1), count(lo=1)
    ),
    "demand_insistence": st.tuples(count(3650), st.floats(1.0, 10_000.0)),
    "batch": batch_args(),
    "government_loss": st.tuples(nonneg(), count(), count(1000), st.floats(1.0, 1000.0), count(lo=1)),
    "taliban_loss": st.tuples(nonneg(), nonneg(), unit(), unit(), unit()),
    "reciprocal_target": reciprocal_args(),
    "taliban_attack_rate": st.tuples(nonneg(1000.0), unit(), unit(), unit(), unit(), nonneg(10.0), st.booleans()),
    "spoiler_rates": st.tuples(nonneg(1000.0), nonneg(), unit(), nonneg(), unit()),
    "progress": progress_args(),
    "taliban_evidence": st.tuples(
        count(2000), count(50), st.booleans(), unit(), nonneg(), nonneg(), count(), count(lo=1), nonneg(),
        st.booleans(), nonneg(),
    ),
    "government_evidence": st.tuples(
        count(200), nonneg(), count(500), nonneg(1000.0), nonneg(), nonneg(), st.integers(-100, 2000), count(),
        nonneg(),
    ),
    "engagement": st.tuples(
        st.booleans(), unit(), unit(), st.integers(-30, 3650), count(3650, lo=1), count(2000), count(1000, lo=1),
        uniform01(), unit(), unit(), st.booleans(), count(3650),
    ),
    "conditions_met": st.tuples(
        st.booleans(), count(10_000), count(365, lo=1), nonneg(1000.0), st.booleans(), st.booleans()
    ),
    "pressure_update": st.tuples(unit(), st.booleans(), st.booleans(), unit(), unit(), st.floats(-1.0, 1.0)),
    "release_decision": st.tuples(uniform01(), unit(), st.booleans(), st.booleans(), st.integers(-50, 2000)),
    "policy_value": st.tuples(
        st.sampled_from([rules.REFUSE, rules.FIRST_BATCH, rules.VERIFY_ONLY, rules.AFTER_FRACTION]), unit(), unit()
    ),
    "unmet_share": st.integers(0, 1000).flatmap(lambda t: st.tuples(st.just(t), st.integers(0, t))),
    "offensive_update": st.tuples(count(365), count(500), count(500, lo=1), count(365)),
    "patience_clock": st.tuples(st.integers(-30, 3650), count(3650), st.integers(-1, 3650)),
    "streak": st.tuples(count(3650), st.booleans()),
}

PUBLIC = sorted(
    name for name, obj in vars(rules).items()
    if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", None) == rules.__name__
)

def test_every_public_rule_is_covered():
    """The scalar-versus-array check below must cover every public function of sim/model/rules.py."""
    assert set(PUBLIC) == set(CASES), set(PUBLIC) ^ set(CASES)
    # ...and every one takes its arguments by keyword only, which _kwargs relies on.
    for name in PUBLIC:
        kinds = {p.kind for p in inspect.signature(getattr(rules, name)).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}, (name, kinds)


def _kwargs(fn, args):
    """A CASES tuple (the arguments in signature order) as the keyword arguments of fn."""
    names = list(inspect.signature(fn).parameters)
    assert len(names) == len(args), (fn.__name__, names, args)
    return dict(zip(names, args))


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("name", sorted(CASES))
@SETTINGS
@given(data=st.data())
def test_scalar_and_array_calls_agree_exactly(name, data):
    """Each run called alone with Python numbers equals its element of one call on arrays of all runs."""
    fn = getattr(rules, name)
    runs = data.draw(st.lists(CASES[name], min_size=1, max_size=60), label="runs")
    scalar = [_as_tuple(fn(**_kwargs(fn, args))) for args in runs]
    columns = [np.array(col) for col in zip(*runs)]
    vector = _as_tuple(fn(**_kwargs(fn, columns)))
    assert len(vector) == len(scalar[0])
    for j, part in enumerate(vector):
        part = np.asarray(part)
        assert part.shape == (len(runs),), (name, j, part.shape)
        expected = np.array([np.asarray(s[j]).item() for s in scalar])
        assert np.array_equal(expected, part), (name, j, expected, part)
        # Bitwise for floats: also the sign of zero.
        if part.dtype.kind == "f":
            assert np.array_equal(np.signbit(expected.astype(float)), np.signbit(part))


def test_demand_insistence_day_17_half_life_60():
    assert rules.demand_insistence(day=17, half_life=60.0) == rules.demand_insistence(
        day=np.array([17]), half_life=60.0
    )[0]


def test_poisson_one_element_does_not_depend_on_the_others():
    """One vectorized path serves floats and arrays: an element's count is the same for a scalar input
    (0-d, integer), a 1-element array, and that element inside long arrays of other values
    (other rates, above EXACT_RATE too, and u at the edges), which is what lane k of many runs relies on."""
    rng = np.random.default_rng(3)
    n = 1000
    u = rng.random(n)
    u[:4] = [0.0, 1.0 - 2.0**-53, 0.5, 1e-300]
    lam = rng.choice([0.0, 0.5, 3.0, 40.0, 650.0, 800.0, 5000.0], size=n)
    lam = np.where(rng.random(n) < 0.5, rng.uniform(0, 40, n), lam)
    one = []
    for a, b in zip(u, lam):
        k = rules.poisson_from_uniform(u=float(a), rate=float(b))
        # 0-d: a 0-d array, or the numpy integer that arithmetic on one gives back.
        assert isinstance(k, (np.ndarray, np.integer)) and np.shape(k) == () and k.dtype.kind == "i"
        single = rules.poisson_from_uniform(u=np.array([a]), rate=np.array([b]))
        assert single.shape == (1,) and single.dtype.kind == "i"
        assert single[0] == k
        one.append(k.item())
    one = np.array(one)
    many = rules.poisson_from_uniform(u=u, rate=lam)
    assert many.dtype.kind == "i" and many.shape == (n,)
    assert np.array_equal(one, many)
    # The same elements in other company: shuffled, and amid a long background of other values.
    order = rng.permutation(n)
    assert np.array_equal(rules.poisson_from_uniform(u=u[order], rate=lam[order]), one[order])
    m = 20_000
    background_u = rng.random(m)
    background_u[:2] = [1.0 - 2.0**-53, 0.0]
    background_lam = rng.choice([0.0, 7.5, 650.0, 699.0, 701.0, 1e4], size=m)
    at = np.sort(rng.choice(m + n, size=n, replace=False))
    mixed_u = np.insert(background_u, at - np.arange(n), u)
    mixed_lam = np.insert(background_lam, at - np.arange(n), lam)
    assert np.array_equal(mixed_u[at], u) and np.array_equal(mixed_lam[at], lam)
    assert np.array_equal(rules.poisson_from_uniform(u=mixed_u, rate=mixed_lam)[at], one)
    # Broadcasting a scalar rate against many uniforms gives the same counts too.
    assert np.array_equal(
        rules.poisson_from_uniform(u=u, rate=7.5), [rules.poisson_from_uniform(u=float(a), rate=7.5).item() for a in u]
    )


# --------------------------------------------------------------------------------------
# Bounds.

@SETTINGS
@given(r=nonneg(1e9), s=nonneg(1e9))
def test_trust_in_unit_interval_for_nonnegative_evidence(r, s):
    t = rules.trust(r=r, s=s)
    assert 0.0 <= t <= 1.0


@SETTINGS
@given(t0=unit(), w=nonneg(1000.0))
def test_beta_prior_gives_back_initial_trust(t0, w):
    r, s = rules.beta_prior(initial_trust=t0, prior_weight=w)
    assert rules.trust(r=r, s=s) == pytest.approx(t0, abs=1e-12)
    # w is the weight in days of evidence: r + s == w.
    assert r + s == pytest.approx(w, abs=1e-9)


@SETTINGS
@given(t=unit(), p=st.floats(-1.0, 2.0), tau=st.floats(0.001, 10.0))
def test_choice_probability_in_unit_interval(t, p, tau):
    assert 0.0 <= rules.choice_probability(trust_value=t, threshold=p, temperature=tau) <= 1.0


def test_choice_probability_is_one_half_at_the_threshold():
    assert rules.choice_probability(trust_value=0.37, threshold=0.37, temperature=0.08) == 0.5


def _threshold(loss, guarantee, pressure, weight, gain):
    return rules.release_threshold(loss=loss, guarantee=guarantee, pressure=pressure, pressure_weight=weight,
                                   gain=gain)


@SETTINGS
@given(loss=nonneg(1e8), g=unit(), pressure=unit(), weight=nonneg(), gain=st.floats(0.01, 100.0))
def test_release_threshold_in_zero_one(loss, g, pressure, weight, gain):
    p = _threshold(loss, g, pressure, weight, gain)
    assert 0.0 <= p < 1.0


def _pressure(pressure, slipping, moved, growth, decay, shock):
    return rules.pressure_update(pressure=pressure, slipping=slipping, moved=moved, growth=growth, decay=decay,
                                 shock=shock)


@SETTINGS
@given(p=unit(), slip=st.booleans(), moved=st.booleans(), growth=unit(), decay=unit(), shock=st.floats(-1.0, 1.0))
def test_pressure_update_in_unit_interval(p, slip, moved, growth, decay, shock):
    assert 0.0 <= _pressure(p, slip, moved, growth, decay, shock) <= 1.0


@SETTINGS
@given(u=st.lists(uniform01(), min_size=1, max_size=50), lam=nonneg(200.0))
def test_poisson_counts_are_nonnegative_integers(u, lam):
    k = rules.poisson_from_uniform(u=np.array(u), rate=lam)
    assert k.dtype.kind == "i" and (k >= 0).all()
    one = rules.poisson_from_uniform(u=u[0], rate=lam)
    assert np.shape(one) == () and one.dtype.kind == "i" and one >= 0


def test_poisson_zero_rate_gives_zero():
    u = np.random.default_rng(1).random(1000)
    assert (rules.poisson_from_uniform(u=u, rate=0.0) == 0).all()
    assert rules.poisson_from_uniform(u=0.999, rate=0.0) == 0


# --------------------------------------------------------------------------------------
# Monotonicity.

def _ulps(x, n=4):
    return n * np.spacing(max(abs(float(x)), 1e-300))


@SETTINGS
@given(l1=nonneg(1e4), l2=nonneg(1e4), g=unit(), pressure=unit(), weight=nonneg(), gain=st.floats(0.01, 100.0))
def test_release_threshold_nondecreasing_in_loss(l1, l2, g, pressure, weight, gain):
    lo, hi = sorted((l1, l2))
    a = _threshold(lo, g, pressure, weight, gain)
    b = _threshold(hi, g, pressure, weight, gain)
    assert b >= a - _ulps(a)


@SETTINGS
@given(loss=nonneg(1e4), g1=unit(), g2=unit(), pressure=unit(), weight=nonneg(), gain=st.floats(0.01, 100.0))
def test_release_threshold_nonincreasing_in_guarantee(loss, g1, g2, pressure, weight, gain):
    lo, hi = sorted((g1, g2))
    a = _threshold(loss, lo, pressure, weight, gain)
    b = _threshold(loss, hi, pressure, weight, gain)
    assert b <= a + _ulps(a)


@SETTINGS
@given(loss=nonneg(1e4), g=unit(), p1=unit(), p2=unit(), weight=nonneg(), gain=st.floats(0.01, 100.0))
def test_release_threshold_nonincreasing_in_pressure(loss, g, p1, p2, weight, gain):
    lo, hi = sorted((p1, p2))
    a = _threshold(loss, g, lo, weight, gain)
    b = _threshold(loss, g, hi, weight, gain)
    assert b <= a + _ulps(a)


def test_release_threshold_theory_values():
    """p* = L'/((b-e)+L'): zero with no loss, one half when L' equals the gain, lower with guarantee and pressure."""
    assert rules.release_threshold(loss=0.0, guarantee=0.0, pressure=0.0, pressure_weight=0.8, gain=2.0) == 0.0
    assert rules.release_threshold(loss=2.0, guarantee=0.0, pressure=0.0, pressure_weight=0.8, gain=2.0) == 0.5
    # full guarantee
    assert rules.release_threshold(loss=1.0, guarantee=1.0, pressure=0.0, pressure_weight=0.8, gain=2.0) == 0.0
    # pressure outweighs the loss
    assert rules.release_threshold(loss=1.0, guarantee=0.0, pressure=1.0, pressure_weight=2.0, gain=2.0) == 0.0
    assert rules.release_threshold(loss=4.0, guarantee=0.5, pressure=0.0, pressure_weight=0.8, gain=2.0) == 0.5


@SETTINGS
@given(t1=unit(), t2=unit(), p=unit(), tau=st.floats(0.001, 10.0))
def test_choice_probability_nondecreasing_in_trust(t1, t2, p, tau):
    lo, hi = sorted((t1, t2))
    assert (rules.choice_probability(trust_value=hi, threshold=p, temperature=tau)
            >= rules.choice_probability(trust_value=lo, threshold=p, temperature=tau))


@SETTINGS
@given(t=unit(), p1=unit(), p2=unit(), tau=st.floats(0.001, 10.0))
def test_choice_probability_nonincreasing_in_threshold(t, p1, p2, tau):
    lo, hi = sorted((p1, p2))
    assert (rules.choice_probability(trust_value=t, threshold=hi, temperature=tau)
            <= rules.choice_probability(trust_value=t, threshold=lo, temperature=tau))


def _taliban_loss(loss, demand, insistence, unmet, softening):
    return rules.taliban_loss(exploitation_loss=loss, commander_demand=demand, insistence=insistence,
                              unmet_share=unmet, softening=softening)


@SETTINGS
@given(loss=nonneg(), demand=nonneg(), insistence=unit(), u1=unit(), u2=unit(), soft=unit())
def test_taliban_loss_nondecreasing_in_unmet_share(loss, demand, insistence, u1, u2, soft):
    lo, hi = sorted((u1, u2))
    assert _taliban_loss(loss, demand, insistence, hi, soft) >= _taliban_loss(loss, demand, insistence, lo, soft)


def test_taliban_loss_demand_raises_it_and_softening_lowers_it():
    base = _taliban_loss(0.5, 1.5, 1.0, 0.0, 0.0)
    assert base == 0.5
    assert _taliban_loss(0.5, 1.5, 1.0, 1.0, 0.0) == 2.0
    assert _taliban_loss(0.5, 1.5, 1.0, 1.0, 0.5) == 1.25
    assert _taliban_loss(0.5, 1.5, 1.0, 1.0, 1.0) == 0.5


# u stays below 1 - 1e-9 here: for u within a few ulps of 1 the inversion hits the loop cap,
# a separate defect with its own test below.
@SETTINGS
@given(u1=st.floats(0.0, 1 - 1e-9), u2=st.floats(0.0, 1 - 1e-9), lam=nonneg(80.0))
def test_poisson_nondecreasing_in_u(u1, u2, lam):
    lo, hi = sorted((u1, u2))
    assert rules.poisson_from_uniform(u=hi, rate=lam) >= rules.poisson_from_uniform(u=lo, rate=lam)


@SETTINGS
@given(u=st.floats(0.0, 1 - 1e-9), l1=nonneg(80.0), l2=nonneg(80.0))
def test_poisson_nondecreasing_in_rate(u, l1, l2):
    lo, hi = sorted((l1, l2))
    assert rules.poisson_from_uniform(u=u, rate=hi) >= rules.poisson_from_uniform(u=u, rate=lo)


def test_poisson_nondecreasing_in_rate_on_a_grid():
    u = np.random.default_rng(11).random(5000)
    previous = rules.poisson_from_uniform(u=u, rate=0.0)
    for lam in np.linspace(0.0, 30.0, 121)[1:]:
        k = rules.poisson_from_uniform(u=u, rate=lam)
        assert (k >= previous).all(), lam
        previous = k


DECREE = dict(upfront_batch=1500, upfront_start_day=13, daily_capacity=100, tranche_size=500, tranche_interval=14,
              total=5000)


def _schedule(day, p=DECREE):
    return rules.scheduled_released(day=day, upfront_batch=p["upfront_batch"],
                                    upfront_start_day=p["upfront_start_day"], daily_capacity=p["daily_capacity"],
                                    tranche_size=p["tranche_size"], tranche_interval=p["tranche_interval"],
                                    total=p["total"])


def test_scheduled_released_follows_the_decree():
    """1,500 from day 13 at 100 a day (done on day 27), then 500 every 14 days, capped at 5,000."""
    days = np.arange(425)
    s = _schedule(days)
    assert s[12] == 0 and s[13] == 100 and s[14] == 200
    assert s[26] == 1400 and s[27] == 1500
    assert s[40] == 1500 and s[41] == 2000 and s[54] == 2000 and s[55] == 2500
    assert s.max() == 5000 and s[-1] == 5000
    assert (s <= 5000).all()


@st.composite
def schedule_params(draw):
    total = draw(count(50_000, lo=1))
    return dict(
        upfront_batch=draw(st.integers(0, total)), upfront_start_day=draw(count(400)),
        daily_capacity=draw(count(5000, lo=1)), tranche_size=draw(st.integers(1, total)),
        tranche_interval=draw(count(365, lo=1)), total=total,
    )


@SETTINGS
@given(p=schedule_params())
def test_scheduled_released_nondecreasing_and_capped(p):
    s = _schedule(np.arange(800), p)
    assert (np.diff(s) >= 0).all()
    assert (s <= p["total"]).all() and (s >= 0).all()
    # Nothing is due before the start day; then it moves at most the daily capacity in the up-front phase.
    assert (s[: p["upfront_start_day"]] == 0).all()


@SETTINGS
@given(d1=count(3650), d2=count(3650), h=st.floats(1.0, 10_000.0))
def test_demand_insistence_decreasing_in_day(d1, d2, h):
    assume(d1 != d2)
    lo, hi = sorted((d1, d2))
    a, b = rules.demand_insistence(day=lo, half_life=h), rules.demand_insistence(day=hi, half_life=h)
    if hi / h <= 1000:  # below that, both values are normal floats and the fall is visible
        assert b < a
    else:
        assert b <= a


@SETTINGS
@given(h=st.floats(1.0, 10_000.0))
def test_demand_insistence_one_at_start_half_at_half_life(h):
    assert rules.demand_insistence(day=0, half_life=h) == 1.0
    assert rules.demand_insistence(day=h, half_life=h) == pytest.approx(0.5, rel=1e-15)
    assert rules.demand_insistence(day=2 * h, half_life=h) == pytest.approx(0.25, rel=1e-15)


# --------------------------------------------------------------------------------------
# Poisson correctness.

@pytest.mark.parametrize("lam", [0.5, 3.0, 12.0])
def test_poisson_mean_and_variance_match_rate(lam):
    n = 200_000
    k = rules.poisson_from_uniform(u=np.random.default_rng(0).random(n), rate=lam)
    se_mean = math.sqrt(lam / n)
    se_var = math.sqrt((lam + 2 * lam * lam) / n)
    assert abs(k.mean() - lam) < 4 * se_mean
    assert abs(k.var() - lam) < 4 * se_var
    # The share of zeros is exp(-lam).
    p0 = math.exp(-lam)
    assert abs((k == 0).mean() - p0) < 4 * math.sqrt(p0 * (1 - p0) / n) + 1e-12


def _exact_inverse_cdf(u, lam):
    """Smallest k with P(K <= k) >= u, the CDF summed exactly term by term."""
    cdf, k = 0.0, 0
    terms = []
    while True:
        terms.append(math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) if lam > 0 else float(k == 0))
        cdf = math.fsum(terms)
        if cdf >= u:
            return k, cdf, cdf - terms[-1]
        k += 1


@pytest.mark.parametrize("lam", [0.5, 3.0, 12.0, 40.0])
@pytest.mark.parametrize("u", [0.0, 0.01, 0.2, 0.5, 0.77, 0.95, 0.999])
def test_poisson_equals_exact_inverse_cdf(u, lam):
    k, upper, lower = _exact_inverse_cdf(u, lam)
    # The fixed u are far from any CDF step, so rounding cannot decide the count.
    assert u == 0.0 or (upper - u > 1e-9 and u - lower > 1e-9)
    assert rules.poisson_from_uniform(u=u, rate=lam) == k
    assert rules.poisson_from_uniform(u=np.array([u]), rate=np.array([lam]))[0] == k


@pytest.mark.parametrize("lam", [150.0, 400.0, 650.0])
def test_poisson_mean_for_large_rates(lam):
    """Large rates too: exp(-lam) must not underflow below EXACT_RATE."""
    n = 20_000
    k = rules.poisson_from_uniform(u=np.random.default_rng(0).random(n), rate=lam)
    assert abs(k.mean() - lam) < 4 * math.sqrt(lam / n)
    assert abs(k.var() - lam) < 4 * math.sqrt((lam + 2 * lam * lam) / n)


@pytest.mark.parametrize("lam", [800.0, 5000.0])
def test_poisson_above_the_exact_range_is_normal_with_the_right_moments(lam):
    """Above EXACT_RATE the one uniform goes through the normal approximation: same mean and variance."""
    u = np.random.default_rng(5).random(20_000)
    k = rules.poisson_from_uniform(u=u, rate=lam)
    assert abs(k.mean() - lam) < 4 * math.sqrt(lam / len(u))
    assert abs(k.var() / lam - 1) < 0.05
    assert [rules.poisson_from_uniform(u=float(x), rate=lam).item() for x in u[:50]] == k[:50].tolist()
    assert np.all(np.diff(k[np.argsort(u)]) >= 0), "still an inversion: monotone in u"


def test_poisson_tail_for_u_next_to_one_is_plausible():
    u = 1.0 - 2.0**-53  # the largest value Generator.random() can return
    assert rules.poisson_from_uniform(u=u, rate=12.0) < 100


# --------------------------------------------------------------------------------------
# Beta reputation semantics.

prior = st.tuples(unit(), nonneg(500.0)).map(lambda a: rules.beta_prior(initial_trust=a[0], prior_weight=a[1]))


def _update(r, s, cooperation, defection, memory):
    return rules.beta_update(r=r, s=s, cooperation=cooperation, defection=defection, memory=memory)


def _trust(rs):
    r, s = rs
    return rules.trust(r=r, s=s)


@SETTINGS
@given(rs=prior, c=st.floats(0.01, 10.0), m=unit())
def test_cooperation_raises_trust_defection_lowers_it(rs, c, m):
    r, s = rs
    # Trust at (or within rounding of) 1 or 0 cannot visibly rise or fall further: that happens when the
    # prior puts (almost) no mass on the other side, e.g. initial trust 1 with a small prior weight, where
    # trust is 1 - 1e-16 and one more day of cooperation rounds to the same double.
    before = _trust(_update(r, s, 0.0, 0.0, m))
    up = _trust(_update(r, s, c, 0.0, m))
    down = _trust(_update(r, s, 0.0, c, m))
    assert up > before or before >= 1.0 - 1e-12
    assert down < before or before <= 1e-12
    assert 0.0 <= down <= before <= up <= 1.0
    if m == 1.0:
        t = rules.trust(r=r, s=s)
        assert before == t


@SETTINGS
@given(rs=prior)
def test_full_memory_and_no_evidence_leaves_trust_unchanged(rs):
    r, s = rs
    r2, s2 = _update(r, s, 0.0, 0.0, 1.0)
    assert (r2, s2) == (r, s)
    assert rules.trust(r=r2, s=s2) == rules.trust(r=r, s=s)


@SETTINGS
@given(rs=prior, m=st.floats(0.0, 0.999))
def test_forgetting_without_evidence_drifts_towards_one_half(rs, m):
    r, s = rs
    t = rules.trust(r=r, s=s)
    t2 = _trust(_update(r, s, 0.0, 0.0, m))
    assert abs(t2 - 0.5) <= abs(t - 0.5) + 1e-15
    assert (t2 - 0.5) * (t - 0.5) >= 0  # drifts towards 0.5, never past it
    if abs(t - 0.5) > 1e-6:
        assert abs(t2 - 0.5) < abs(t - 0.5)


def test_forgetting_converges_to_one_half():
    r, s = rules.beta_prior(initial_trust=0.9, prior_weight=40.0)
    for _ in range(2000):
        r, s = _update(r, s, 0.0, 0.0, 0.98)
    assert rules.trust(r=r, s=s) == pytest.approx(0.5, abs=1e-6)


# --------------------------------------------------------------------------------------
# batch(): who goes in today's batch.

def _batch(owed, capacity, fighters_held, commanders_held, policy, fighters_released, fighters_total, fraction):
    return rules.batch(owed=owed, capacity=capacity, fighters_held=fighters_held, commanders_held=commanders_held,
                       policy=policy, fighters_released=fighters_released, fighters_total=fighters_total,
                       fraction=fraction)


@SETTINGS
@given(args=batch_args())
def test_batch_never_exceeds_owed_capacity_or_held(args):
    owed, capacity, fighters_held, commanders_held, policy, fighters_released, fighters_total, fraction = args
    f, c = _batch(*args)
    assert f >= 0 and c >= 0
    assert f + c <= max(owed, 0)
    assert f + c <= capacity
    assert f <= fighters_held and c <= commanders_held
    # And it fills what is owed from whoever the policy lets go.
    eligible = (
        policy == rules.FIRST_BATCH
        or (policy == rules.AFTER_FRACTION and fighters_released >= fraction * fighters_total)
        or fighters_held == 0
    )
    available = fighters_held + (commanders_held if eligible else 0)
    assert f + c == min(max(owed, 0), capacity, available)


@SETTINGS
@given(owed=count(5000, lo=1), capacity=count(500, lo=1), commanders=count(50, lo=1), fighters=count(10_000, lo=1))
def test_first_batch_puts_the_commanders_in_the_first_batch(owed, capacity, commanders, fighters):
    f, c = _batch(owed, capacity, fighters, commanders, rules.FIRST_BATCH, 0, fighters, 0.6)
    size = min(owed, capacity)
    assert c == min(commanders, size)
    assert f == min(size - c, fighters)


@pytest.mark.parametrize("policy", [rules.REFUSE, rules.VERIFY_ONLY])
@SETTINGS
@given(owed=count(5000, lo=1), capacity=count(500, lo=1), commanders=count(50, lo=1), total=count(10_000, lo=1),
       share=unit())
def test_refuse_and_verify_only_release_commanders_only_when_fighters_are_out(policy, owed, capacity, commanders,
                                                                              total, share):
    released = min(int(share * total), total)
    held = total - released
    f, c = _batch(owed, capacity, held, commanders, policy, released, total, 0.0)
    if held > 0:
        assert c == 0
        assert f == min(owed, capacity, held)
    else:
        assert f == 0
        assert c == min(commanders, owed, capacity)


@SETTINGS
@given(owed=count(5000, lo=1), capacity=count(500, lo=1), commanders=count(50, lo=1), total=count(10_000, lo=2),
       share=unit(), fraction=st.floats(0.01, 1.0))
def test_after_fraction_releases_commanders_after_the_fraction(owed, capacity, commanders, total, share, fraction):
    released = min(int(share * total), total)
    held = total - released
    f, c = _batch(owed, capacity, held, commanders, rules.AFTER_FRACTION, released, total, fraction)
    if released >= fraction * total:
        assert c == min(commanders, owed, capacity)
    else:
        assert c == 0


def test_policies_differ_on_the_first_batch():
    """The decree's first day: 100 owed, 4,985 fighters and 15 commanders held."""
    first = {p: _batch(100, 100, 4985, 15, p, 0, 4985, 0.6) for p in rules.POLICY_CODES.values()}
    assert first[rules.FIRST_BATCH] == (85, 15)
    assert first[rules.REFUSE] == (100, 0)
    assert first[rules.VERIFY_ONLY] == (100, 0)
    assert first[rules.AFTER_FRACTION] == (100, 0)
    # After 60% of the fighters: after_fraction lets them go, refuse still does not.
    assert _batch(100, 100, 1994, 15, rules.AFTER_FRACTION, 2991, 4985, 0.6) == (85, 15)
    assert _batch(100, 100, 1994, 15, rules.REFUSE, 2991, 4985, 0.6) == (100, 0)


# --------------------------------------------------------------------------------------
# The other rules: the meaning the docstrings give them.

def _target(government_released, government_total, ratio, taliban_total):
    return rules.reciprocal_target(government_released=government_released, government_total=government_total,
                                   ratio=ratio, taliban_total=taliban_total)


def test_reciprocal_target_at_ratio_and_everything_at_the_end():
    assert _target(1500, 5000, 0.2, 1000) == 300
    assert _target(1504, 5000, 0.2, 1000) == 300  # floor
    assert _target(4985, 5000, 0.2, 1000) == 997
    assert _target(5000, 5000, 0.2, 1000) == 1000
    assert _target(5000, 5000, 0.1, 1000) == 1000  # everything once the government is done
    assert _target(4000, 5000, 1.0, 1000) == 1000  # never above the total


@SETTINGS
@given(args=reciprocal_args())
def test_reciprocal_target_within_bounds(args):
    gov_released, gov_total, ratio, tal_total, finish_after = args
    t = int(_target(gov_released, gov_total, ratio, tal_total))
    assert 0 <= t <= tal_total
    assert t <= gov_released * ratio or gov_released >= gov_total


def test_progress_is_the_share_of_all_prisoners_released():
    assert rules.progress(government_released=0, taliban_released=0, government_total=5000, taliban_total=1000) == 0.0
    assert rules.progress(government_released=1500, taliban_released=300, government_total=5000,
                          taliban_total=1000) == 0.3
    # Either side's releases count alike: the keywords are not interchangeable totals and counts.
    assert rules.progress(government_released=0, taliban_released=600, government_total=5000,
                          taliban_total=1000) == 0.1
    assert rules.progress(government_released=5000, taliban_released=1000, government_total=5000,
                          taliban_total=1000) == 1.0


@SETTINGS
@given(args=progress_args())
def test_progress_in_unit_interval(args):
    p = rules.progress(**_kwargs(rules.progress, args))
    assert 0.0 <= p <= 1.0
    gov_released, tal_released, gov_total, tal_total = args
    assert (p == 1.0) == (gov_released == gov_total and tal_released == tal_total)


def _attack_rate(base, restraint, cohesion, cooperating, ceasefire_factor, retaliation, offensive):
    return rules.taliban_attack_rate(base=base, restraint=restraint, cohesion=cohesion, cooperating=cooperating,
                                     ceasefire_factor=ceasefire_factor, retaliation=retaliation, offensive=offensive)


def test_taliban_attack_rate_meaning():
    assert _attack_rate(10.0, 0.9, 0.7, 0.0, 1.0, 0.8, False) == 10.0
    assert _attack_rate(10.0, 0.9, 0.7, 1.0, 1.0, 0.8, False) == pytest.approx(10.0 * (1 - 0.63))
    assert _attack_rate(10.0, 0.9, 0.7, 0.0, 0.1, 0.8, False) == pytest.approx(1.0)
    assert _attack_rate(10.0, 0.9, 0.7, 0.0, 1.0, 0.8, True) == pytest.approx(18.0)


@SETTINGS
@given(rate=nonneg(1000.0), timing=nonneg(), progress=unit(), surge=nonneg(), mis=unit())
def test_spoiler_rates_split_the_total(rate, timing, progress, surge, mis):
    attributed, other = rules.spoiler_rates(attack_rate=rate, progress_timing=timing, progress=progress, surge=surge,
                                            misattribution=mis)
    total = rate * (1 + timing * progress) * surge
    assert attributed >= 0 and other >= 0
    assert attributed + other == pytest.approx(total, rel=1e-12, abs=1e-300)


def _taliban_evidence(released_today, commanders_today, engaged, unverified_credit, release_credit,
                      commander_credit, behind, tranche_size, behind_debit, offensive, offensive_debit):
    return rules.taliban_evidence(released_today=released_today, commanders_today=commanders_today, engaged=engaged,
                                  unverified_credit=unverified_credit, release_credit=release_credit,
                                  commander_credit=commander_credit, behind=behind, tranche_size=tranche_size,
                                  behind_debit=behind_debit, offensive=offensive, offensive_debit=offensive_debit)


def _government_evidence(taliban_released_today, reciprocity_credit, attributed_attacks, calm_attacks, calm_credit,
                         attack_debit, owed, owed_grace, owed_debit):
    return rules.government_evidence(taliban_released_today=taliban_released_today,
                                     reciprocity_credit=reciprocity_credit, attributed_attacks=attributed_attacks,
                                     calm_attacks=calm_attacks, calm_credit=calm_credit, attack_debit=attack_debit,
                                     owed=owed, owed_grace=owed_grace, owed_debit=owed_debit)


def test_evidence_rules_meaning():
    # A verified release with 2 commanders: 1 + 2 * 0.5; unverified: 0.4 of that.
    assert _taliban_evidence(100, 2, True, 0.4, 1.0, 0.5, 0, 500, 0.5, False, 1.0) == (2.0, 0.0)
    coop, defect = _taliban_evidence(100, 2, False, 0.4, 1.0, 0.5, 500, 500, 0.5, True, 1.0)
    assert coop == pytest.approx(0.8) and defect == 1.5
    assert _taliban_evidence(0, 0, True, 0.4, 1.0, 0.5, 499, 500, 0.5, False, 1.0) == (0.0, 0.0)
    # Government: a reciprocal release on a calm day; attacks and arrears beyond the grace.
    assert _government_evidence(40, 1.0, 2, 4.0, 0.3, 0.05, 10, 50, 0.3) == (1.3, pytest.approx(0.1))
    assert _government_evidence(0, 1.0, 10, 4.0, 0.3, 0.05, 51, 50, 0.3) == (0.0, pytest.approx(0.8))


def _engagement(engaged, trust_value, walkout_trust, waited_days, patience, government_released_today, u,
                return_rate, return_on_release, daily_capacity=100):
    return rules.engagement(engaged=engaged, trust_value=trust_value, walkout_trust=walkout_trust,
                            waited_days=waited_days, patience=patience,
                            government_released_today=government_released_today, daily_capacity=daily_capacity,
                            u=u, return_rate=return_rate, return_on_release=return_on_release)


def test_engagement_meaning():
    # Walks out on low trust or lost patience; stays otherwise.
    assert _engagement(True, 0.1, 0.2, 0, 30, 0, 0.99, 0.02, 0.3) == (False, True)
    assert _engagement(True, 0.5, 0.2, 30, 30, 0, 0.99, 0.02, 0.3) == (False, True)
    assert _engagement(True, 0.5, 0.2, 29, 30, 0, 0.0, 0.02, 0.3) == (True, False)
    # Out: returns with the small daily chance, the larger one on a release day.
    assert _engagement(False, 0.5, 0.2, 0, 30, 0, 0.1, 0.02, 0.3) == (False, False)
    assert _engagement(False, 0.5, 0.2, 0, 30, 100, 0.1, 0.02, 0.3) == (True, False)
    assert _engagement(False, 0.5, 0.2, 0, 30, 0, 0.01, 0.02, 0.3) == (True, False)
    # A release of nine days' capacity is nine chances: 1 - 0.7**9 = 0.96 (exactly return_on_release up to one).
    assert _engagement(False, 0.5, 0.2, 0, 30, 900, 0.95, 0.02, 0.3) == (True, False)
    assert _engagement(False, 0.5, 0.2, 0, 30, 100, 0.95, 0.02, 0.3) == (False, False)
    assert _engagement(False, 0.5, 0.2, 0, 30, 50, 0.29, 0.02, 0.3) == (True, False)
    assert _engagement(False, 0.5, 0.2, 0, 30, 50, 0.3, 0.02, 0.3) == (False, False)


def test_a_settled_team_waits_its_own_patience():
    kw = dict(engaged=True, trust_value=0.5, walkout_trust=0.2, patience=7, government_released_today=0,
              daily_capacity=100, u=0.99, return_rate=0.02, return_on_release=0.3)
    # A stay that has seen a release waits settled_patience days, not patience; 0 keeps patience.
    assert rules.engagement(waited_days=7, settled=True, settled_patience=40, **kw) == (True, False)
    assert rules.engagement(waited_days=40, settled=True, settled_patience=40, **kw) == (False, True)
    assert rules.engagement(waited_days=7, settled=False, settled_patience=40, **kw) == (False, True)
    assert rules.engagement(waited_days=7, settled=True, settled_patience=0, **kw) == (False, True)
    # Distrust still sends a settled team away.
    assert rules.engagement(waited_days=0, settled=True, settled_patience=40, **{**kw, "trust_value": 0.1}) == (
        False, True)
    waited = np.arange(60)
    engaged, walked = rules.engagement(waited_days=waited, settled=waited % 2 == 0, settled_patience=40, **kw)
    assert (walked == np.where(waited % 2 == 0, waited >= 40, waited >= 7)).all()


def _conditions(enabled, attributed_in_window, window_days, max_attacks_per_day, require_engagement, engaged):
    return rules.conditions_met(enabled=enabled, attributed_in_window=attributed_in_window, window_days=window_days,
                                max_attacks_per_day=max_attacks_per_day, require_engagement=require_engagement,
                                engaged=engaged)


def test_conditions_met_meaning():
    assert _conditions(False, 10_000, 14, 7.0, True, False)  # disabled: always allowed
    assert _conditions(True, 98, 14, 7.0, True, True)  # 7 a day: still allowed
    assert not _conditions(True, 99, 14, 7.0, True, True)
    assert not _conditions(True, 0, 14, 7.0, True, False)  # team away
    assert _conditions(True, 0, 14, 7.0, False, False)


def test_pressure_update_meaning():
    assert _pressure(0.3, True, False, 0.01, 0.05, 0.0) == pytest.approx(0.31)
    assert _pressure(0.3, False, True, 0.01, 0.05, 0.0) == pytest.approx(0.285)
    assert _pressure(0.3, False, False, 0.01, 0.05, 0.3) == pytest.approx(0.6)
    assert _pressure(0.9, False, False, 0.01, 0.05, 0.3) == 1.0
    assert _pressure(0.1, False, False, 0.01, 0.05, -0.3) == 0.0


def test_government_loss_commander_counts_as_many_fighters():
    assert rules.government_loss(exploitation_loss=1.0, fighters=100, commanders=0, commander_weight=6.0,
                                 daily_capacity=100) == 1.0
    assert rules.government_loss(exploitation_loss=1.0, fighters=85, commanders=15, commander_weight=6.0,
                                 daily_capacity=100) == pytest.approx(1.75)


def test_offensive_mode_runs_its_course_once_triggered():
    left, days, trace = 0, 0, []
    for attacks in [3, 30, 0, 40, 0, 0, 0, 0]:
        left, counted = rules.offensive_update(left=left, attributed=attacks, trigger=25, duration=3)
        days += int(counted)
        trace.append(int(left))
    assert trace == [0, 3, 2, 1, 0, 0, 0, 0]  # a spike while on does not extend it
    assert days == 3


def test_release_decision_needs_every_condition():
    assert rules.release_decision(u=0.1, chance=0.5, allowed=True, blocked=False, owed=100)
    assert not rules.release_decision(u=0.6, chance=0.5, allowed=True, blocked=False, owed=100)
    assert not rules.release_decision(u=0.1, chance=0.5, allowed=False, blocked=False, owed=100)
    assert not rules.release_decision(u=0.1, chance=0.5, allowed=True, blocked=True, owed=100)
    assert not rules.release_decision(u=0.1, chance=0.5, allowed=True, blocked=False, owed=0)


def test_streak_counts_consecutive_days_and_resets():
    length, seen = 0, []
    for today in [True, True, False, True]:
        length = rules.streak(length=length, today=today)
        seen.append(int(length))
    assert seen == [1, 2, 0, 1]


# --------------------------------------------------------------------------------------
# Outcomes: the code each lane gets today.

def test_decide_gives_each_lane_its_code_in_order_of_precedence():
    """Completed first, then collapsed, then at the horizon deadlocked or partial; otherwise undecided."""
    completed = np.array([True, True, False, False, False, False, False, False, False, False])
    broken_days = np.array([9, 9, 5, 9, 4, 4, 4, 4, 4, 0])
    at_horizon = np.array([True, False, True, False, True, True, True, True, False, False])
    stalled_days = np.array([99, 0, 99, 0, 30, 29, 0, 29, 99, 99])
    any_release = np.array([True, False, True, True, True, True, False, True, False, False])
    expected = [
        outcomes.COMPLETED,  # completed beats collapse and the horizon
        outcomes.COMPLETED,  # completed before the horizon
        outcomes.COLLAPSED,  # broken for the whole window, at the horizon too
        outcomes.COLLAPSED,  # before the horizon
        outcomes.DEADLOCKED,  # at the horizon, nothing moved during the whole window
        outcomes.PARTIAL,  # at the horizon, moved one day within the window
        outcomes.DEADLOCKED,  # at the horizon, nothing released ever
        outcomes.PARTIAL,
        None,  # still running: broken a day short of the window, stalled, nothing released
        None,
    ]
    codes = outcomes.decide(completed=completed, broken_days=broken_days, collapse_window=5, at_horizon=at_horizon,
                            stalled_days=stalled_days, deadlock_window=30, any_release=any_release)
    assert codes.dtype == np.int8 and codes.shape == (len(expected),)
    want = [outcomes.UNDECIDED if name is None else outcomes.CODES[name] for name in expected]
    assert codes.tolist() == want
    assert outcomes.names(codes).tolist() == [outcomes.PARTIAL if name is None else name for name in expected]
    # Windows per lane: each lane is judged by its own, and each lane alone gets the same code.
    collapse_window = np.array([1, 10, 5, 9, 5, 5, 5, 4, 5, 5])
    deadlock_window = np.array([30, 30, 30, 30, 30, 29, 30, 30, 30, 30])
    per_lane = outcomes.decide(completed=completed, broken_days=broken_days, collapse_window=collapse_window,
                               at_horizon=at_horizon, stalled_days=stalled_days, deadlock_window=deadlock_window,
                               any_release=any_release)
    want[1] = outcomes.CODES[outcomes.COMPLETED]
    want[5] = outcomes.CODES[outcomes.DEADLOCKED]  # 29 days still is the whole of a 29-day window
    want[7] = outcomes.CODES[outcomes.COLLAPSED]  # broken 4 days of a 4-day window
    assert per_lane.tolist() == want
    for i in range(len(want)):
        alone = outcomes.decide(completed=completed[i:i + 1], broken_days=broken_days[i:i + 1],
                                collapse_window=collapse_window[i:i + 1], at_horizon=at_horizon[i:i + 1],
                                stalled_days=stalled_days[i:i + 1], deadlock_window=deadlock_window[i:i + 1],
                                any_release=any_release[i:i + 1])
        assert alone.tolist() == [want[i]], i


# --------------------------------------------------------------------------------------
# Lists, verification, pledges and the reciprocity gate (the 2020 mechanisms, docs/ODD.md 7.13).

@SETTINGS
@given(args=lists_args())
def test_lists_only_grow_and_stay_within_the_total(args):
    listed, opens_day, released, total, size, gap, day, pledge = args
    new, opens = rules.lists(listed=listed, opens_day=opens_day, released=released, total=total, size=size, gap=gap,
                             day=day, pledge=pledge)
    assert listed <= new <= total
    if pledge > 0:  # a pledge lists at least what it promises, and supersedes a pending list
        assert new >= min(released + pledge, total) and opens == -1


def test_the_next_list_opens_a_gap_after_the_last_is_out():
    kw = dict(total=5000, size=1500, gap=10, pledge=0)
    listed, opens = rules.lists(listed=1500, opens_day=-1, released=1500, day=50, **kw)
    assert (listed, opens) == (1500, 60)
    listed, opens = rules.lists(listed=1500, opens_day=60, released=1500, day=59, **kw)
    assert (listed, opens) == (1500, 60)
    listed, opens = rules.lists(listed=1500, opens_day=60, released=1500, day=60, **kw)
    assert (listed, opens) == (3000, -1)
    # Still prisoners to release on the list: nothing is prepared.
    assert rules.lists(listed=1500, opens_day=-1, released=1400, day=50, **kw) == (1500, -1)


def test_a_pledge_binds_until_the_list_is_out_and_needs_willingness_and_arrears():
    kw = dict(tranche_size=500, listed=3000)
    assert rules.pledged(pledged=False, willing=True, behind=2500, released=1000, **kw) == (True, True)
    assert rules.pledged(pledged=False, willing=True, behind=499, released=1000, **kw) == (False, False)
    assert rules.pledged(pledged=False, willing=False, behind=2500, released=1000, **kw) == (False, False)
    # Bound while prisoners on the list are held, even if no longer willing; free once they are out.
    assert rules.pledged(pledged=True, willing=False, behind=2500, released=2999, **kw) == (True, False)
    assert rules.pledged(pledged=True, willing=False, behind=2500, released=3000, **kw) == (False, False)


@SETTINGS
@given(args=verified_args())
def test_a_list_is_cleared_only_once_all_of_it_is_verified(args):
    verified, cleared, listed, started, team, with_team, without_team = args
    v, c = rules.verified(verified=verified, cleared=cleared, listed=listed, started=started, team_present=team,
                          rate_with_team=with_team, rate_without_team=without_team)
    assert verified <= v <= listed
    assert c == (listed if v >= listed else cleared)
    if not started:
        assert v == verified


def test_verification_goes_at_the_team_pace_when_the_team_is_there():
    kw = dict(cleared=0, listed=1500, started=True, rate_with_team=100.0, rate_without_team=25.0)
    assert rules.verified(verified=0.0, team_present=True, **kw) == (100.0, 0)
    assert rules.verified(verified=0.0, team_present=False, **kw) == (25.0, 0)
    assert rules.verified(verified=1450.0, team_present=True, **kw) == (1500.0, 1500)


def test_reciprocity_gate_meaning():
    kw = dict(gate=1.0, after=1000, ratio=0.2)
    # 1,000 out and 105 credited: short of 200, suspended; not before 1,000; not when bound by a pledge.
    assert rules.reciprocity_gate(government_released=1000, credited=105.0, bound=False, **kw)
    assert not rules.reciprocity_gate(government_released=999, credited=105.0, bound=False, **kw)
    assert not rules.reciprocity_gate(government_released=1000, credited=105.0, bound=True, **kw)
    assert not rules.reciprocity_gate(government_released=1000, credited=200.0, bound=False, **kw)
    assert not rules.reciprocity_gate(government_released=5000, credited=0.0, bound=False, gate=0.0, after=0,
                                      ratio=0.2)


@SETTINGS
@given(args=st.tuples(count(1000, lo=1), st.integers(-500, 5000), count(1000, lo=1), st.floats(1.0, 50.0),
                      st.booleans()))
def test_capacity_rises_only_when_bound_and_behind(args):
    daily, behind, tranche, catch_up, bound = args
    c = rules.capacity(daily_capacity=daily, behind=behind, tranche_size=tranche, catch_up=catch_up, bound=bound)
    if bound and behind >= tranche:
        assert c == math.floor(daily * catch_up)
    else:
        assert c == daily


def test_willing_means_trust_less_split_plus_boost_above_the_bar():
    assert rules.willing(trust_value=0.4, threshold_shift=0.0, release_boost=0.0, willing_trust=0.4)
    assert not rules.willing(trust_value=0.4, threshold_shift=0.1, release_boost=0.0, willing_trust=0.4)
    assert rules.willing(trust_value=0.2, threshold_shift=0.0, release_boost=0.3, willing_trust=0.4)


def test_the_gate_cannot_ask_for_more_than_everything():
    # 4,400 out and the Taliban's 1,000 all freed (610 credited, short of 880): no longer suspended.
    kw = dict(gate=1.0, after=1000, ratio=0.2, government_released=4400, credited=610.0, bound=False)
    assert rules.reciprocity_gate(other_side_done=False, **kw)
    assert not rules.reciprocity_gate(other_side_done=True, **kw)


def test_the_taliban_finish_their_side_after_a_share_of_the_government_s():
    kw = dict(government_total=5000, ratio=0.2 * 0.76, taliban_total=1000)
    assert rules.reciprocal_target(government_released=4400, **kw) == 668  # at 0.76 of 1:5
    assert rules.reciprocal_target(government_released=4400, finish_after=0.85, **kw) == 1000
    assert rules.reciprocal_target(government_released=4200, finish_after=0.85, **kw) == 638
    assert rules.reciprocal_target(government_released=5000, **kw) == 1000  # the default: once all are out


@SETTINGS
@given(args=reciprocal_args())
def test_finishing_earlier_never_lowers_the_target(args):
    released, total, ratio, taliban_total, finish_after = args
    kw = dict(government_released=released, government_total=total, ratio=ratio, taliban_total=taliban_total)
    assert rules.reciprocal_target(finish_after=finish_after, **kw) >= rules.reciprocal_target(**kw)
    assert rules.reciprocal_target(finish_after=finish_after, **kw) <= taliban_total


def test_the_mediator_breaks_only_a_stalled_gate_and_with_pressure():
    assert rules.stall_break(suspended=True, pressure=0.8, rate=0.1, u=0.05)
    assert not rules.stall_break(suspended=True, pressure=0.8, rate=0.1, u=0.09)  # 0.09 >= 0.1 * 0.8
    assert not rules.stall_break(suspended=False, pressure=1.0, rate=1.0, u=0.0)
    assert not rules.stall_break(suspended=True, pressure=0.0, rate=1.0, u=0.0)
    assert not rules.stall_break(suspended=True, pressure=1.0, rate=0.0, u=0.0)  # off by default


def test_the_mediator_waits_out_its_lag_before_breaking_a_stall():
    kw = dict(suspended=True, pressure=0.8, rate=1.0, u=0.5, after=20)
    assert not rules.stall_break(held_days=19, **kw)
    assert rules.stall_break(held_days=20, **kw)
    assert not rules.stall_break(held_days=30, **{**kw, "u": 0.85})  # after the lag, still a chance of the pressure
    days = np.arange(60)
    assert (rules.stall_break(held_days=days, **kw) == (days >= 20)).all()


def test_contested_prisoners_come_in_stages_once_the_rest_are_listed():
    kw = dict(listable=4403, rate=0.1, share=0.25)
    assert rules.contested_stage(listed=4403, contested_left=597, u=0.05, **kw) == 150  # ceil(0.25 * 597)
    assert rules.contested_stage(listed=4403, contested_left=597, u=0.15, **kw) == 0  # no cover today
    assert rules.contested_stage(listed=4000, contested_left=597, u=0.0, **kw) == 0  # the dispute is not open yet
    assert rules.contested_stage(listed=4403, contested_left=0, u=0.0, **kw) == 0
    assert rules.contested_stage(listed=4403, contested_left=3, u=0.0, listable=4403, rate=0.1, share=0.01) == 1


@SETTINGS
@given(args=contested_args())
def test_a_stage_frees_at_least_one_and_never_more_than_are_contested(args):
    listed, listable, left, rate, share, u = args
    stage = rules.contested_stage(listed=listed, listable=listable, contested_left=left, rate=rate, share=share, u=u)
    assert 0 <= stage <= left
    if listed >= listable and left > 0 and u < rate:
        assert stage >= 1
    else:
        assert stage == 0


def test_a_commitment_is_carried_out_whatever_the_trust_the_conditions_and_offensive_mode():
    kw = dict(offensive=True)
    assert rules.committed_chance(chance=0.01, allowed=False, bound=True, commitment=1.0, **kw) == (1.0, True, False)
    assert rules.committed_chance(chance=0.01, allowed=False, bound=False, commitment=1.0, **kw) == (0.01, False, True)
    assert rules.committed_chance(chance=0.7, allowed=True, bound=True, commitment=0.5, **kw) == (0.7, True, False)
    assert rules.committed_chance(chance=0.01, allowed=False, bound=True, commitment=0.0, **kw) == (0.01, False, True)
    assert rules.committed_chance(chance=0.01, allowed=True, offensive=False, bound=True, commitment=1.0)[2] == False  # noqa: E712

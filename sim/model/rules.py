"""Pure decision and update rules: the one source of truth for behaviour.

Every function takes state and parameters by keyword and returns new values, using
only numpy operations and arithmetic, so that it gives the same result on one run
(floats) and on many runs at once (arrays over lanes). No function branches in
Python on a value. Keyword-only arguments keep two same-typed values from being
swapped silently.

Sources: Beta reputation (Jøsang and Ismail 2002); reassurance threshold (Kydd
2000, 2005) with third-party guarantees (Walter 2002); quantal response (McKelvey
and Palfrey 1995). See docs/ODD.md, section 7.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Commander policies as integers, so that arrays of runs can mix them.
REFUSE, FIRST_BATCH, VERIFY_ONLY, AFTER_FRACTION = 0, 1, 2, 3
POLICY_CODES = {"refuse": REFUSE, "first_batch": FIRST_BATCH, "verify_only": VERIFY_ONLY, "after_fraction": AFTER_FRACTION}

# exp(-rate) underflows past about 745; above this, a Poisson is normal to within 0.04 skewness.
EXACT_RATE = 700.0
_LN2 = float(np.log(2.0))


def _positive(x: ArrayLike) -> ArrayLike:
    """max(x, 0) for floats and arrays alike, without numpy's slow scalar path."""
    return x * (x > 0)


def beta_prior(*, initial_trust: ArrayLike, prior_weight: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Evidence (r, s) that gives trust `initial_trust` with the weight of `prior_weight` days."""
    total = prior_weight + 2.0
    return initial_trust * total - 1.0, (1.0 - initial_trust) * total - 1.0


def beta_update(*, r: ArrayLike, s: ArrayLike, cooperation: ArrayLike, defection: ArrayLike,
                memory: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Discount yesterday's evidence by the memory factor and add today's."""
    return memory * r + cooperation, memory * s + defection


def trust(*, r: ArrayLike, s: ArrayLike) -> ArrayLike:
    """Expected value of the Beta reputation: (r + 1) / (r + s + 2), in [0, 1]."""
    return (r + 1.0) / (r + s + 2.0)


def release_threshold(*, loss: ArrayLike, guarantee: ArrayLike, pressure: ArrayLike, pressure_weight: ArrayLike,
                      gain: ArrayLike) -> ArrayLike:
    """Kydd's trust threshold p* = L' / ((b - e) + L'), with L' = max(L (1 - g) - pi P, 0).

    It rises with the loss if exploited and falls with a third-party guarantee and with
    the cost of refusing under pressure.
    """
    effective = _positive(loss * (1.0 - guarantee) - pressure_weight * pressure)
    return effective / (gain + effective)


def choice_probability(*, trust_value: ArrayLike, threshold: ArrayLike, temperature: ArrayLike) -> ArrayLike:
    """Quantal (logistic) response: the chance of cooperating today given trust and threshold."""
    z = (threshold - trust_value) / temperature
    return 1.0 / (1.0 + np.exp(np.minimum(z, 700.0)))


def poisson_from_uniform(*, u: ArrayLike, rate: ArrayLike) -> np.ndarray:
    """Poisson count by inversion of one uniform, so each day uses a fixed count of draws.

    The count is the smallest k with u <= F(k; rate), the CDF summed term by term
    (p_k = p_(k-1) * rate / k), stopping where adding a term no longer changes F in
    double precision. Each element's arithmetic is the same whatever the others hold
    (a finished element is masked out), so lane k of many runs equals one run exactly.
    Above EXACT_RATE a day, where exp(-rate) underflows, the normal approximation with
    continuity correction, from the same uniform.
    """
    u, lam = np.asarray(u, dtype=float), _positive(np.asarray(rate, dtype=float))
    if u.shape != lam.shape:
        u, lam = np.broadcast_arrays(u, lam)
    exact = np.minimum(lam, EXACT_RATE)
    term = np.exp(-exact)
    cdf = term
    k = np.zeros(u.shape, dtype=np.int64)
    searching = u > cdf
    i = 0
    while searching.any():
        i += 1
        term = term * exact / i
        grown = cdf + term
        step = searching & (grown != cdf)  # rounding left the CDF just below u: the tail adds nothing more
        k = k + step
        cdf = np.where(step, grown, cdf)
        searching = step & (u > cdf)
    large = lam > EXACT_RATE
    if large.any():
        k = np.where(large, _normal_count(u, lam), k)
    return np.asarray(k)


def _normal_count(u: ArrayLike, lam: ArrayLike) -> np.ndarray:
    from scipy.special import ndtri  # only for rates above EXACT_RATE

    z = ndtri(np.clip(u, 1e-16, 1.0 - 1e-16))
    return np.maximum(np.floor(lam + np.sqrt(lam) * z + 0.5), 0).astype(np.int64)


def scheduled_released(*, day: ArrayLike, upfront_batch: ArrayLike, upfront_start_day: ArrayLike,
                       daily_capacity: ArrayLike, tranche_size: ArrayLike, tranche_interval: ArrayLike,
                       total: ArrayLike) -> ArrayLike:
    """How many government prisoners the decree says should be out by the end of `day`.

    The up-front batch at the daily capacity from its start day, then one tranche every
    interval counted from the day the up-front batch is due to be complete.
    """
    since_start = _positive(day - upfront_start_day + 1)
    upfront = np.minimum(since_start * daily_capacity, upfront_batch)
    upfront_days = -(-upfront_batch // daily_capacity)  # ceiling division
    tranches = _positive(since_start - upfront_days) // tranche_interval
    return np.minimum(upfront + tranches * tranche_size, total)


def demand_insistence(*, day: ArrayLike, half_life: ArrayLike) -> ArrayLike:
    """How hard the Taliban still press the commander demand: 1 on day 0, halving every half-life."""
    return np.exp(np.multiply(day, -_LN2 / half_life))


def batch(*, owed: ArrayLike, capacity: ArrayLike, fighters_held: ArrayLike, commanders_held: ArrayLike,
          policy: ArrayLike, fighters_released: ArrayLike, fighters_total: ArrayLike,
          fraction: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Fighters and commanders in today's batch if the government releases.

    Commanders go first once the policy lets them: at once (first_batch), after a share of
    the others (after_fraction), or only when every other prisoner is out (refuse, verify_only).
    """
    eligible = (
        (policy == FIRST_BATCH)
        | ((policy == AFTER_FRACTION) & (fighters_released >= fraction * fighters_total))
        | (fighters_held <= 0)
    )
    size = _positive(np.minimum(owed, capacity))
    commanders = np.minimum(commanders_held, size) * eligible
    fighters = np.minimum(size - commanders, fighters_held)
    return fighters, commanders


def government_loss(*, exploitation_loss: ArrayLike, fighters: ArrayLike, commanders: ArrayLike,
                    commander_weight: ArrayLike, daily_capacity: ArrayLike) -> ArrayLike:
    """Loss if exploited: the batch's military value (a commander counts as many fighters) per day's capacity."""
    return exploitation_loss * (fighters + commanders * commander_weight) / daily_capacity


def taliban_loss(*, exploitation_loss: ArrayLike, commander_demand: ArrayLike, insistence: ArrayLike,
                 unmet_share: ArrayLike, softening: ArrayLike) -> ArrayLike:
    """The Taliban's loss if exploited, raised while the demanded commanders are still held."""
    return exploitation_loss + commander_demand * insistence * unmet_share * (1.0 - softening)


def reciprocal_target(*, government_released: ArrayLike, government_total: ArrayLike, ratio: ArrayLike,
                      taliban_total: ArrayLike, finish_after: ArrayLike = 1.0) -> ArrayLike:
    """Taliban releases owed in total at the agreed ratio; everything once the government has released
    `finish_after` of its total (all of it, by default).

    Below 1, the Taliban finish their side ahead of the government's last releases (in 2020 they declared
    their 1,000 complete on 30 July, with the government's last 400 still disputed).
    """
    at_ratio = np.minimum(government_released * ratio // 1, taliban_total)
    done = government_released >= np.multiply(finish_after, government_total)
    return np.asarray(at_ratio + (taliban_total - at_ratio) * done, dtype=np.int64)


def taliban_attack_rate(*, base: ArrayLike, restraint: ArrayLike, cohesion: ArrayLike, cooperating: ArrayLike,
                        ceasefire_factor: ArrayLike, retaliation: ArrayLike, offensive: ArrayLike) -> ArrayLike:
    """Expected Taliban attacks today: restraint while cooperating, limited by command cohesion."""
    return base * (1.0 - restraint * cohesion * cooperating) * ceasefire_factor * (1.0 + retaliation * offensive)


def spoiler_rates(*, attack_rate: ArrayLike, progress_timing: ArrayLike, progress: ArrayLike, surge: ArrayLike,
                  misattribution: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Expected ISKP attacks (booked against the Taliban, not booked), rising as the exchange nears completion.

    Splitting a Poisson count by a probability gives two independent Poisson counts
    (thinning), so each part takes one uniform.
    """
    total = attack_rate * (1.0 + progress_timing * progress) * surge
    return total * misattribution, total * (1.0 - misattribution)


def progress(*, government_released: ArrayLike, taliban_released: ArrayLike, government_total: ArrayLike,
             taliban_total: ArrayLike) -> ArrayLike:
    """Share of all prisoners released by either side: how near the exchange is to completion."""
    return (government_released + taliban_released) / (government_total + taliban_total)


def taliban_evidence(*, released_today: ArrayLike, commanders_today: ArrayLike, engaged: ArrayLike,
                     unverified_credit: ArrayLike, release_credit: ArrayLike, commander_credit: ArrayLike,
                     behind: ArrayLike, tranche_size: ArrayLike, behind_debit: ArrayLike, offensive: ArrayLike,
                     offensive_debit: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Cooperation and defection the Taliban see in what the government did today.

    A release is cooperation, credited less when the technical team is not there to
    verify it, and each demanded commander freed adds more; a tranche or more behind
    schedule, and offensive mode, are defection.
    """
    verified = unverified_credit + (1.0 - unverified_credit) * engaged
    cooperation = ((released_today > 0) * release_credit + commanders_today * commander_credit) * verified
    defection = (behind >= tranche_size) * behind_debit + offensive * offensive_debit
    return cooperation, defection


def government_evidence(*, taliban_released_today: ArrayLike, reciprocity_credit: ArrayLike,
                        attributed_attacks: ArrayLike, calm_attacks: ArrayLike, calm_credit: ArrayLike,
                        attack_debit: ArrayLike, owed: ArrayLike, owed_grace: ArrayLike,
                        owed_debit: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Cooperation and defection the government sees: reciprocal releases and calm versus attacks and arrears."""
    cooperation = (taliban_released_today > 0) * reciprocity_credit + (attributed_attacks <= calm_attacks) * calm_credit
    defection = attributed_attacks * attack_debit + (owed > owed_grace) * owed_debit
    return cooperation, defection


def engagement(*, engaged: ArrayLike, trust_value: ArrayLike, walkout_trust: ArrayLike, waited_days: ArrayLike,
               patience: ArrayLike, government_released_today: ArrayLike, daily_capacity: ArrayLike, u: ArrayLike,
               return_rate: ArrayLike, return_on_release: ArrayLike, settled: ArrayLike = False,
               settled_patience: ArrayLike = 0) -> tuple[ArrayLike, ArrayLike]:
    """Tomorrow's engagement of the technical team, and whether it walked out today.

    The team walks out when trust falls below a threshold or nothing has moved for
    `patience` days, or `settled_patience` days once its stay has seen the government
    release (`settled`; 0: `patience`): in 2020 the team left after 7 days of a stay
    with nothing freed, and stayed through June's stall of three weeks after the
    releases of late May. Once out, it comes back with a small daily chance, a larger
    one on a day the government releases (generous tit-for-tat). A release of several
    days' capacity at once counts as that many chances (the team came back to Kabul two
    days after the 900 of 26 May 2020).
    """
    limit = np.where(np.asarray(settled, dtype=bool) & (np.asarray(settled_patience) > 0), settled_patience, patience)
    walks = engaged & ((trust_value < walkout_trust) | (waited_days >= limit))
    released = government_released_today > 0
    batches = np.divide(government_released_today, daily_capacity)
    on_release = np.where(batches > 1, 1.0 - np.power(1.0 - return_on_release, batches), return_on_release)
    chance = np.where(released, on_release, return_rate)
    returns = np.logical_not(engaged) & (u < chance)
    return (engaged & np.logical_not(walks)) | returns, walks


def conditions_met(*, enabled: ArrayLike, attributed_in_window: ArrayLike, window_days: ArrayLike,
                   max_attacks_per_day: ArrayLike, require_engagement: ArrayLike, engaged: ArrayLike) -> ArrayLike:
    """Whether the decree's conditions allow a release today."""
    calm = attributed_in_window / window_days <= max_attacks_per_day
    present = engaged | np.logical_not(require_engagement)
    return np.logical_not(enabled) | (calm & present)


def lists(*, listed: ArrayLike, opens_day: ArrayLike, released: ArrayLike, total: ArrayLike, size: ArrayLike,
          gap: ArrayLike, day: ArrayLike, pledge: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Prisoners on lists so far, and the day the next list opens (-1: none pending), at the start of `day`.

    Once every listed prisoner is out, the next list of `size` is prepared for `gap` days. A
    pledge (`pledge` prisoners beyond those already out, 0: none) lists them at once, whatever
    is pending (in 2020 the government listed 2,000 when it answered the Eid ceasefire).
    """
    exhausted = (released >= listed) & (listed < total) & (opens_day < 0)
    opens_day = np.where(exhausted, day + gap, opens_day)
    opening = (opens_day >= 0) & (day >= opens_day)
    listed = np.where(opening, np.minimum(listed + size, total), listed)
    pledging = pledge > 0
    listed = np.where(pledging, np.minimum(np.maximum(listed, released + pledge), total), listed)
    return listed, np.where(opening | pledging, -1, opens_day)


def pledged(*, pledged: ArrayLike, willing: ArrayLike, behind: ArrayLike, tranche_size: ArrayLike,
            released: ArrayLike, listed: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Whether the government is bound by a pledge today, and whether it makes one today.

    Willing and a tranche or more behind, it pledges to make up what is overdue; the pledge binds
    it until every listed prisoner is out, whatever its trust does meanwhile.
    """
    making = np.logical_not(pledged) & willing & (behind >= tranche_size)
    return (pledged & (released < listed)) | making, making


def verified(*, verified: ArrayLike, cleared: ArrayLike, listed: ArrayLike, started: ArrayLike,
             team_present: ArrayLike, rate_with_team: ArrayLike, rate_without_team: ArrayLike
             ) -> tuple[ArrayLike, ArrayLike]:
    """Prisoners verified so far, and those cleared for release: a list is cleared once all of it is verified.

    Verification goes at a pace that the technical team's presence sets (it came to Kabul
    to verify the lists in 2020).
    """
    rate = rate_without_team + (rate_with_team - rate_without_team) * team_present
    verified = np.minimum(verified + rate * started, listed)
    return verified, np.where(verified >= listed, listed, cleared)


def reciprocity_gate(*, gate: ArrayLike, government_released: ArrayLike, after: ArrayLike, credited: ArrayLike,
                     ratio: ArrayLike, bound: ArrayLike, other_side_done: ArrayLike = False) -> ArrayLike:
    """Whether the government suspends releases until the Taliban reciprocate more (as on 11 May 2020).

    Unless bound by a pledge, it insists on `gate` times the agreed ratio in releases it credits,
    once it has released `after` prisoners. It cannot insist on more than everything: once the Taliban
    hold no one (`other_side_done`), the gate is open.
    """
    short = credited < gate * ratio * government_released
    return ((gate > 0) & (government_released >= after) & short & np.logical_not(bound)
            & np.logical_not(other_side_done))


def stall_break(*, suspended: ArrayLike, pressure: ArrayLike, rate: ArrayLike, u: ArrayLike,
                held_days: ArrayLike = 0, after: ArrayLike = 0) -> ArrayLike:
    """Whether the mediator breaks a stalled reciprocity gate today: a chance of `rate` times US pressure on each
    day the gate held the government's releases back, once it has held them `after` days in a row (in 2020 the
    US envoy pressed for "speedy releases" on 7 June, with the gate closed again at 3,000 since 2 June, and
    releases went on in late June)."""
    return (np.asarray(suspended, dtype=bool) & (np.asarray(held_days) >= after)
            & (u < np.multiply(rate, pressure)))


def contested_stage(*, listed: ArrayLike, listable: ArrayLike, contested_left: ArrayLike, rate: ArrayLike,
                    share: ArrayLike, u: ArrayLike) -> ArrayLike:
    """Contested prisoners the government agrees to free today: once every other prisoner is listed the dispute
    is open, and political cover for a stage of `share` of those still contested comes with a chance of `rate`
    a day (in 2020: 597 refused on 11 July, 50 of them freed on 17 July, 400 left on 31 July)."""
    open_ = (np.asarray(listed) >= listable) & (np.asarray(contested_left) > 0)
    stage = np.ceil(np.multiply(share, contested_left) - 1e-9).astype(np.int64)
    return np.where(open_ & (u < rate), np.minimum(np.maximum(stage, 1), contested_left), 0)


def capacity(*, daily_capacity: ArrayLike, behind: ArrayLike, tranche_size: ArrayLike, catch_up: ArrayLike,
             bound: ArrayLike) -> ArrayLike:
    """Prisoners the government can release today: more, by `catch_up`, while bound by a pledge and a tranche or
    more behind (900 were released on the last day of the Eid ceasefire in 2020)."""
    bulk = bound & (behind >= tranche_size)
    return np.where(bulk, np.floor(np.multiply(daily_capacity, catch_up)).astype(np.int64), daily_capacity)


def willing(*, trust_value: ArrayLike, threshold_shift: ArrayLike, release_boost: ArrayLike,
            willing_trust: ArrayLike) -> ArrayLike:
    """Whether the government is willing to pledge what is overdue: its trust, less a political split's shift
    and plus a ceasefire's boost, at or above `willing_trust`."""
    return trust_value - threshold_shift + release_boost >= willing_trust


def pressure_update(*, pressure: ArrayLike, slipping: ArrayLike, moved: ArrayLike, growth: ArrayLike,
                    decay: ArrayLike, shock: ArrayLike) -> ArrayLike:
    """US pressure: grows while the schedule slips, fades on days with progress, jumps with shocks; in [0, 1]."""
    value = (pressure + slipping * growth) * (1.0 - moved * decay) + shock
    return np.minimum(_positive(value), 1.0)


def committed_chance(*, chance: ArrayLike, allowed: ArrayLike, offensive: ArrayLike, bound: ArrayLike,
                     commitment: ArrayLike) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
    """The chance of releasing today, whether the decree's conditions allow it, and whether offensive mode blocks
    it, for a government bound by a commitment (a pledge, a stall the mediator broke, political cover): with
    `commitment` above 0, at least that chance, whatever its trust, the conditions and offensive mode (in 2020
    the pledge of 24 May was carried out in days, 900 on 26 May and 3,000 out by 2 June, with the violence the
    conditions and offensive mode answer going on; the record to 31 July has no pause of a bound government)."""
    committed = np.asarray(bound, dtype=bool) & (np.asarray(commitment) > 0)
    return (np.where(committed, np.maximum(chance, commitment), chance), np.asarray(allowed, dtype=bool) | committed,
            np.asarray(offensive, dtype=bool) & np.logical_not(committed))


def release_decision(*, u: ArrayLike, chance: ArrayLike, allowed: ArrayLike, blocked: ArrayLike,
                     owed: ArrayLike) -> ArrayLike:
    """Whether a side releases today: something is owed, nothing blocks it, and the logistic draw says yes."""
    return allowed & np.logical_not(blocked) & (owed > 0) & (u < chance)


def policy_value(*, policy: ArrayLike, verify_only: ArrayLike, otherwise: ArrayLike) -> ArrayLike:
    """A value that differs when commanders join verification (verify_only) from every other policy."""
    return otherwise + (verify_only - otherwise) * (policy == VERIFY_ONLY)


def unmet_share(*, commanders_total: ArrayLike, commanders_released: ArrayLike) -> ArrayLike:
    """Share of the demanded commanders still held (0 when none were demanded)."""
    return (commanders_total - commanders_released) / np.maximum(commanders_total, 1)


def offensive_update(*, left: ArrayLike, attributed: ArrayLike, trigger: ArrayLike,
                     duration: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Offensive mode: counts down while on; a day with `trigger` attributed attacks or more starts it.

    Returns tomorrow's days left and whether today was an offensive day.
    """
    active = left > 0
    starts = np.logical_not(active) & (attributed >= trigger)
    return (left - 1) * active + duration * starts, active


def patience_clock(*, stalled_days: ArrayLike, day: ArrayLike, returned_day: ArrayLike) -> ArrayLike:
    """Days the team has waited: since the last release by either side, or since it came back if later."""
    return np.minimum(stalled_days, day - returned_day)


def streak(*, length: ArrayLike, today: ArrayLike) -> ArrayLike:
    """Length of a run of consecutive days on which `today` holds (such as a broken process)."""
    return (length + 1) * today

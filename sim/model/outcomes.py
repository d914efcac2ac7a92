"""Outcome kinds, the rules that decide them, and the metrics of a run."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

COMPLETED, COLLAPSED, DEADLOCKED, PARTIAL = "completed", "collapsed", "deadlocked", "partial"
OUTCOMES = (COMPLETED, COLLAPSED, DEADLOCKED, PARTIAL)
CODES = {name: code for code, name in enumerate(OUTCOMES)}
UNDECIDED = -1  # the code of a lane still running

# One row of the runs table: what one run produced.
METRICS = {
    "outcome": "the run's outcome",
    "end_day": "day the outcome was decided",
    "government_released": "Taliban prisoners freed by the government",
    "taliban_released": "government personnel freed by the Taliban",
    "commanders_released": "demanded commanders freed",
    "first_release_day": "day of the first government release (NaN if none)",
    "longest_stall_days": "most days in a row without a release by either side",
    "walkouts": "times the Taliban technical team walked out",
    "offensive_days": "days of government offensive mode",
    "suspended_days": "days the government suspended releases until the Taliban reciprocated more",
    "taliban_attacks": "Taliban attacks in all",
    "iskp_attacks": "ISKP attacks in all",
    "attributed_attacks": "attacks the government attributed to the Taliban in all",
    "final_trust_government": "the government's trust in the Taliban at the end",
    "final_trust_taliban": "the Taliban's trust in the government at the end",
    "final_pressure": "US pressure at the end",
}
METRIC_NAMES = tuple(METRICS)


def is_completed(*, government_held: ArrayLike, government_total: ArrayLike, taliban_held: ArrayLike,
                 taliban_total: ArrayLike, tolerance: ArrayLike) -> ArrayLike:
    """Both sides have released all, within the tolerance (a share of each side's total)."""
    return (np.asarray(government_held) <= np.multiply(tolerance, government_total)) & (
        np.asarray(taliban_held) <= np.multiply(tolerance, taliban_total)
    )


def is_broken(*, engaged: ArrayLike, trust_government: ArrayLike, trust_taliban: ArrayLike,
              floor: ArrayLike) -> ArrayLike:
    """A day on which the process is broken: Taliban out and both trusts below the floor."""
    return ~np.asarray(engaged, dtype=bool) & (np.asarray(trust_government) < floor) & (np.asarray(trust_taliban) < floor)


def decide(*, completed: ArrayLike, broken_days: ArrayLike, collapse_window: ArrayLike, at_horizon: ArrayLike,
           stalled_days: ArrayLike, deadlock_window: ArrayLike, any_release: ArrayLike) -> np.ndarray:
    """Today's outcome code of each lane, or UNDECIDED: completed, else collapsed, else at the horizon
    deadlocked (nothing moved during the window, or ever) or partial (still moving)."""
    stuck = (np.asarray(stalled_days) >= deadlock_window) | ~np.asarray(any_release, dtype=bool)
    at_end = np.where(stuck, CODES[DEADLOCKED], CODES[PARTIAL])
    undecided = np.where(at_horizon, at_end, UNDECIDED)
    collapsed = np.where(np.asarray(broken_days) >= collapse_window, CODES[COLLAPSED], undecided)
    return np.where(completed, CODES[COMPLETED], collapsed).astype(np.int8)


def names(codes: ArrayLike) -> np.ndarray:
    """Outcome names of codes; a lane still undecided reads as partial (not done, not broken)."""
    codes = np.asarray(codes)
    return np.asarray(OUTCOMES, dtype=object)[np.where(codes == UNDECIDED, CODES[PARTIAL], codes)]

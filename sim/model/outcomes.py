"""Outcome kinds and the metrics of one run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

COMPLETED, COLLAPSED, DEADLOCKED, PARTIAL = "completed", "collapsed", "deadlocked", "partial"
OUTCOMES = (COMPLETED, COLLAPSED, DEADLOCKED, PARTIAL)


def is_completed(government_held: ArrayLike, government_total: ArrayLike, taliban_held: ArrayLike,
                 taliban_total: ArrayLike, tolerance: ArrayLike) -> ArrayLike:
    """Both sides have released all, within the tolerance (a share of each side's total)."""
    return (np.asarray(government_held) <= np.multiply(tolerance, government_total)) & (
        np.asarray(taliban_held) <= np.multiply(tolerance, taliban_total)
    )


def is_broken(engaged: ArrayLike, trust_government: ArrayLike, trust_taliban: ArrayLike, floor: ArrayLike) -> ArrayLike:
    """A day on which the process is broken: Taliban out and both trusts below the floor."""
    return ~np.asarray(engaged, dtype=bool) & (np.asarray(trust_government) < floor) & (np.asarray(trust_taliban) < floor)


def horizon_outcome(days_since_any_release: ArrayLike, deadlock_window: ArrayLike, any_release: ArrayLike) -> ArrayLike:
    """At the horizon: deadlocked if nothing moved during the window (or ever), otherwise partial."""
    stuck = (np.asarray(days_since_any_release) >= np.asarray(deadlock_window)) | ~np.asarray(any_release, dtype=bool)
    return np.where(stuck, DEADLOCKED, PARTIAL)


@dataclass
class RunMetrics:
    """What one run produced; one row of the runs table."""

    outcome: str
    end_day: int
    government_released: int
    taliban_released: int
    commanders_released: int
    first_release_day: float
    longest_stall_days: int
    walkouts: int
    offensive_days: int
    taliban_attacks: int
    iskp_attacks: int
    attributed_attacks: int
    final_trust_government: float
    final_trust_taliban: float
    final_pressure: float

    def as_dict(self) -> dict:
        return asdict(self)


METRIC_NAMES = tuple(f.name for f in fields(RunMetrics))

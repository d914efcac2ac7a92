"""Outcome rates with Wilson intervals, and summaries of run metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sim.outcomes import OUTCOMES

Z95 = 1.959963984540054


def wilson_interval(successes: ArrayLike, trials: ArrayLike, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (Wilson 1927); sound near 0 and 1 and for small n."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def outcome_rates(runs: pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """Rate of each outcome with its Wilson 95% interval; one row per outcome (per group with `by`)."""
    keys = [by] if isinstance(by, str) else list(by or [])
    counts = (
        runs.assign(outcome=pd.Categorical(runs["outcome"], categories=OUTCOMES))
        .groupby(keys + ["outcome"], observed=False)
        .size()
        .rename("count")
        .reset_index()
    )
    totals = counts.groupby(keys)["count"].transform("sum") if keys else counts["count"].sum()
    counts["runs"] = totals
    counts["rate"] = counts["count"] / counts["runs"]
    counts["low"], counts["high"] = wilson_interval(counts["count"], counts["runs"])
    counts["outcome"] = counts["outcome"].astype(str)
    return counts


METRIC_COLUMNS = (
    "end_day",
    "government_released",
    "taliban_released",
    "commanders_released",
    "first_release_day",
    "longest_stall_days",
    "walkouts",
    "offensive_days",
    "taliban_attacks",
    "iskp_attacks",
    "final_trust_government",
    "final_trust_taliban",
)


def metric_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, median and 5–95% range of each run metric."""
    cols = [c for c in METRIC_COLUMNS if c in runs]
    table = runs[cols].astype(float).describe(percentiles=[0.05, 0.5, 0.95]).T
    return table[["count", "mean", "5%", "50%", "95%"]].rename(columns={"50%": "median"})

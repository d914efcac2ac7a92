"""Outcome rates with Wilson intervals, and summaries of run metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from sim.model.outcomes import OUTCOMES

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


def point_table(frames: Iterable[pd.DataFrame], params: Sequence[str]) -> pd.DataFrame:
    """One row per design point from run tables given chunk by chunk (memory bounded by the points).

    Rates of each outcome with Wilson 95% intervals, the rate of deadlock or collapse,
    failed runs, and the mean of each metric over the runs that did not fail.
    """
    counts, sums, firsts = [], [], []
    metrics = list(METRIC_COLUMNS)
    for frame in frames:
        ok = frame[frame["outcome"] != "error"]
        tally = pd.crosstab(frame["point"], frame["outcome"]).reindex(columns=[*OUTCOMES, "error"], fill_value=0)
        counts.append(tally)
        sums.append(ok.groupby("point")[metrics].sum(min_count=1).reindex(tally.index))
        firsts.append(frame.groupby("point")[list(params)].first())
    tally = pd.concat(counts).groupby(level=0).sum()
    total = pd.concat(sums).groupby(level=0).sum(min_count=1)
    table = pd.concat(firsts).groupby(level=0).first()
    table["runs"] = tally.sum(axis=1)
    table["failed"] = tally["error"]
    valid = table["runs"] - table["failed"]
    for name in OUTCOMES:
        _rate_columns(table, name, tally[name], valid)
    _rate_columns(table, "deadlock_or_collapse", tally["deadlocked"] + tally["collapsed"], valid)
    for name in metrics:
        table[f"mean_{name}"] = total[name] / valid
    return table.rename_axis("point").reset_index()


def _rate_columns(table: pd.DataFrame, name: str, count: pd.Series, n: pd.Series) -> None:
    table[f"{name}_count"] = count
    table[f"{name}_rate"] = count / n
    table[f"{name}_low"], table[f"{name}_high"] = wilson_interval(count, n)


def sobol_indices(problem: dict, points: pd.DataFrame, outputs: Sequence[str], seed: int) -> pd.DataFrame:
    """First-order and total Sobol indices of outcome rates over a Saltelli design (SALib), with 95% intervals."""
    from SALib.analyze import sobol

    rows = []
    for output in outputs:
        y = points.sort_values("point")[f"{output}_rate"].to_numpy(dtype=float)
        result = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
        for k, name in enumerate(problem["names"]):
            rows.append({
                "output": output, "parameter": name,
                "S1": result["S1"][k], "S1_conf": result["S1_conf"][k],
                "ST": result["ST"][k], "ST_conf": result["ST_conf"][k],
            })
    return pd.DataFrame(rows)

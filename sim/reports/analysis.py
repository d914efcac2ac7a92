"""The statistics of swapsim's reports: outcome rates with Wilson intervals, summaries of run
metrics, paired differences between scenarios (of outcome rates and of mean run metrics),
rates of groups of sweep points, Sobol indices, and per-day distributions of many runs'
daily series (`DailyBands`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


from sim.model.outcomes import OUTCOMES
from sim.reports import bootstrap

Z95 = 1.959963984540054
ALPHA = 0.05  # significance level of the tests and 1 - confidence of the intervals


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
    """Rate of each outcome with its Wilson 95% interval; one row per outcome (per group with `by`).

    Runs that drew their parameters from a posterior (a `particle` column) also get `mc_low`, `mc_high`: the 90%
    interval of a cluster bootstrap over the distinct particles drawn (`sim.reports.bootstrap`)."""
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
    if "particle" in runs:  # runs drew from a posterior: the Monte Carlo error over its particles too
        groups = dict(iter(runs.groupby(keys, sort=False))) if keys else {(): runs}
        by_particle = {key: pd.crosstab(group["particle"], group["outcome"]).reindex(columns=OUTCOMES, fill_value=0)
                       for key, group in groups.items()}
        bounds = []
        for row in counts.to_dict(orient="records"):
            part = by_particle[tuple(row[name] for name in keys)]
            bounds.append(bootstrap.cluster_mean_interval(part[row["outcome"]], part.sum(axis=1))[1:])
        counts["mc_low"], counts["mc_high"] = np.array(bounds).T
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


# Metrics that are fractions (the rest are whole numbers, whose sums in floating point are exact). A point's mean
# must not depend on how its runs were grouped into chunks, that is on workers and lanes; so fractions are summed
# as whole multiples of QUANTUM, exactly, and divided once (a value moves by at most QUANTUM / 2, about 5e-13).
FRACTIONAL = ("final_trust_government", "final_trust_taliban")
QUANTUM = 2.0**-40


def _whole(frame: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The runs with each fractional metric as a whole number of QUANTUM (int64: exact sums up to 2**23 runs)."""
    wanted = [name for name in FRACTIONAL if name in metrics]
    if not wanted:
        return frame
    return frame.assign(**{name: np.rint(frame[name].to_numpy(dtype=float) / QUANTUM).astype(np.int64)
                           for name in wanted})


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
    counts, sums, firsts, drawn = [], [], [], []
    metrics = list(METRIC_COLUMNS)
    for frame in frames:
        ok = frame[frame["outcome"] != "error"]
        tally = pd.crosstab(frame["point"], frame["outcome"]).reindex(columns=[*OUTCOMES, "error"], fill_value=0)
        counts.append(tally)
        if "particle" in frame:
            drawn.append(pd.crosstab([ok["point"], ok["particle"]], ok["outcome"]).reindex(columns=OUTCOMES,
                                                                                             fill_value=0))
        # fill_value=0: a point with no valid run in this chunk keeps the whole-number sums int64 (valid is 0 there)
        sums.append(_whole(ok, metrics).groupby("point")[metrics].sum(min_count=1).reindex(tally.index,
                                                                                         fill_value=0))
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
        table[f"mean_{name}"] = (total[name] * QUANTUM if name in FRACTIONAL else total[name]) / valid
    if drawn:
        _monte_carlo_columns(table, pd.concat(drawn).groupby(level=[0, 1]).sum())
    return table.rename_axis("point").reset_index()


def _monte_carlo_columns(table: pd.DataFrame, by_particle: pd.DataFrame) -> None:
    """Each point's outcome rates' 90% interval over the posterior's particles (a cluster bootstrap), from the
    counts of each outcome per point and particle."""
    points = set(by_particle.index.get_level_values(0))
    bounds = {name: ([], []) for name in OUTCOMES}
    for point in table.index:
        part = by_particle.loc[point] if point in points else None  # None: every run of the point failed
        for name, (low, high) in bounds.items():
            lo, hi = (np.nan, np.nan) if part is None else \
                bootstrap.cluster_mean_interval(part[name], part.sum(axis=1))[1:]
            low.append(lo)
            high.append(hi)
    for name, (low, high) in bounds.items():
        table[f"{name}_mc_low"], table[f"{name}_mc_high"] = low, high


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


# ---------------------------------------------------------------- paired statistics


def paired_difference(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA) -> dict:
    """Difference p_b − p_a of two paired binary outcomes, its interval and McNemar's exact test.

    `a[k]` and `b[k]` are the outcomes of the same replicate (same seed) under two
    scenarios. The interval is Newcombe's method 10, the hybrid score interval for
    paired data (Newcombe RG, "Improved confidence intervals for the difference
    between binomial proportions based on paired data", Stat Med 1998;17:2635–2650):
    the Wilson score limits of each proportion are combined by square-and-add,
    corrected by the estimated correlation φ between the pairs (φ with Newcombe's
    continuity correction: ad − bc replaced by ad − bc − n/2 when it exceeds n/2 and
    by 0 when it lies in [0, n/2]; φ = 0 when any margin is empty). It stays within
    [−1, 1] and behaves well with few discordant pairs and near 0 and 1.

    The test is McNemar's exact test: a two-sided binomial test of the discordant
    pairs against 1/2 (scipy.stats.binomtest); p = 1 when there are no discordant
    pairs. `significant` is p < alpha. The interval and the test are different
    procedures and can disagree at the margin; `significant` follows the test.

    Returns a dict: n, rate_a, rate_b, difference, low, high, both, neither,
    discordant_a_only (a true, b false), discordant_b_only (b true, a false),
    p_value, significant.
    """
    a = _binary(a, "a")
    b = _binary(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need the same length: a has {a.size}, b has {b.size}")
    if a.size == 0:
        raise ValueError("paired outcomes are empty: at least one pair is needed")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")
    n = int(a.size)
    both = int(np.sum(a & b))
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(~a & b))
    neither = n - both - a_only - b_only

    from scipy import stats

    z = float(stats.norm.ppf(1 - alpha / 2))
    pa, pb = (both + a_only) / n, (both + b_only) / n
    lows, highs = wilson_interval([both + a_only, both + b_only], n, z)
    (la, lb), (ua, ub) = lows.tolist(), highs.tolist()
    phi = _newcombe_phi(both, a_only, b_only, neither)
    diff = pb - pa
    down = math.sqrt(max((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2, 0.0))
    up = math.sqrt(max((ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2, 0.0))

    discordant = a_only + b_only
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(b_only, discordant, 0.5).pvalue)
    p_value = min(p_value, 1.0)
    return {
        "n": n,
        "rate_a": pa,
        "rate_b": pb,
        "difference": diff,
        "low": max(diff - down, -1.0),
        "high": min(diff + up, 1.0),
        "both": both,
        "neither": neither,
        "discordant_a_only": a_only,
        "discordant_b_only": b_only,
        "p_value": p_value,
        "significant": bool(p_value < alpha),
    }


def _binary(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array of paired outcomes, got shape {arr.shape}")
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected booleans (or 0/1), got other values")
        arr = arr.astype(bool)
    return arr


def _newcombe_phi(both: int, a_only: int, b_only: int, neither: int) -> float:
    """Estimated correlation of the paired outcomes, with Newcombe's (1998) continuity correction."""
    n = both + a_only + b_only + neither
    margins = float(both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    if margins == 0:
        return 0.0
    cross = both * neither - a_only * b_only
    if cross > n / 2:
        cross -= n / 2
    elif cross >= 0:
        cross = 0.0
    return cross / math.sqrt(margins)


def paired_mean_difference(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA) -> dict:
    """Mean difference b − a of a paired numeric metric, its paired t interval and the paired t-test.

    `a[k]` and `b[k]` are the values of the same replicate (same seed) under two
    scenarios. Pairs where either value is NaN are dropped (e.g. `first_release_day`
    of a run without a release); `n` counts the pairs used, `dropped` the others, and
    the means are over the pairs used, so `difference` = `mean_b` − `mean_a`.

    The interval is mean ± t(1 − alpha/2, n − 1) · sd/√n of the differences and the
    p-value the two-sided paired t-test (scipy.stats.ttest_rel gives the same). When
    every difference is the same value d (zero variance; common with common random
    numbers) the answer is clear and given without dividing by zero: the interval is
    [d, d] and p = 1 if d = 0, else 0 (the t-test's limit). With fewer than two pairs
    the interval and p are NaN (no spread to estimate) and `significant` is False.

    Returns a dict: n, dropped, mean_a, mean_b, difference, sd (of the differences),
    low, high, p_value, significant (p < alpha).
    """
    a, b = _numeric(a, "a"), _numeric(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length: a has {a.size}, b has {b.size}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = int(a.size)
    out = {"n": n, "dropped": int(keep.size - n), "mean_a": math.nan, "mean_b": math.nan, "difference": math.nan,
           "sd": math.nan, "low": math.nan, "high": math.nan, "p_value": math.nan, "significant": False}
    if n == 0:
        return out
    d = b - a
    out.update(mean_a=float(a.mean()), mean_b=float(b.mean()))
    constant = bool(np.all(d == d[0]))
    out["difference"] = float(d[0]) if constant else float(d.mean())
    if n < 2:
        return out
    out.update(_t_inference(d, out["difference"], constant, alpha))
    out["significant"] = bool(out["p_value"] < alpha)
    return out


def _t_inference(d: np.ndarray, mean: float, constant: bool, alpha: float) -> dict:
    """The sd of the differences, the paired t interval around their mean and the two-sided p-value."""
    if constant:
        return {"sd": 0.0, "low": mean, "high": mean, "p_value": 1.0 if mean == 0 else 0.0}
    from scipy import stats

    n = d.size
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * se
    p_value = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return {"sd": sd, "low": mean - half, "high": mean + half, "p_value": min(p_value, 1.0)}


def _numeric(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array of paired values, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------- rates of groups of sweep points


def point_counts(points: pd.DataFrame, outcome: str) -> tuple[pd.Series, pd.Series]:
    """Runs ending in `outcome` and runs that did not fail, per point.

    `<outcome>_count` when the table has it; otherwise rate x valid runs (rates count only the
    runs that did not fail).
    """
    valid = points["runs"] - (points["failed"] if "failed" in points else 0)
    count = points[f"{outcome}_count"] if f"{outcome}_count" in points else points[f"{outcome}_rate"] * valid
    return count.astype(float).fillna(0.0), valid.astype(float)


def rates_by(points: pd.DataFrame, keys: list[str], outcome: str) -> pd.DataFrame:
    """Rate and Wilson 95% bounds of `outcome` per combination of `keys`.

    One point per combination (a grid): the point's own rate and bounds. Several: pooled
    counts with a Wilson interval on the pooled runs.
    """
    cols = [f"{outcome}_rate", f"{outcome}_low", f"{outcome}_high"]
    frame = points[keys + cols].rename(columns=dict(zip(cols, ("rate", "low", "high"))))
    if (frame.groupby(keys, sort=False, observed=True).size() <= 1).all():
        return frame.reset_index(drop=True)
    count, valid = point_counts(points, outcome)
    pooled = frame[keys].assign(count=count, valid=valid).groupby(keys, sort=False, observed=True)[
        ["count", "valid"]].sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled["rate"] = pooled["count"] / pooled["valid"]
    pooled["low"], pooled["high"] = wilson_interval(np.round(pooled["count"]), pooled["valid"])
    return pooled.drop(columns=["count", "valid"])


def bin_rates(points: pd.DataFrame, codes: pd.Series, outcome: str) -> pd.DataFrame:
    """Mean rate of the points in each bin with a 95% interval.

    The interval is the wider of two: the normal interval of the mean across the bin's
    points (which counts the spread due to the other parameters as well as run noise), and
    the Wilson interval of the pooled runs (which stays honest when every point is at 0 or
    1 or the bin holds a single point).
    """
    count, valid = point_counts(points, outcome)
    frame = pd.DataFrame({"code": codes, "rate": points[f"{outcome}_rate"].astype(float), "count": count,
                          "valid": valid})
    g = frame.groupby("code")
    out = pd.DataFrame({"rate": g["rate"].mean(), "sd": g["rate"].std(ddof=1).fillna(0.0), "n": g["rate"].count(),
                        "count": g["count"].sum(), "valid": g["valid"].sum()})
    half = Z95 * out["sd"] / np.sqrt(out["n"])
    w_low, w_high = wilson_interval(np.round(out["count"]), out["valid"])
    out["low"] = np.clip(np.minimum(out["rate"] - half, w_low), 0, 1)
    out["high"] = np.clip(np.maximum(out["rate"] + half, w_high), 0, 1)
    return out


# ---------------------------------------------------------------- per-day distributions of many runs


# Columns of the daily series that figures summarise: how each is counted, and its kind of value.
# "state" columns are carried forward after a run ends (a completed run stays completed); "day"
# columns count only the runs still going. "count": whole numbers; "unit": values in [0, 1];
# "share": yes/no, summarised as the share of runs.
BAND_COLUMNS = {
    "government_released": ("state", "count"),
    "taliban_released": ("state", "count"),
    "commanders_released": ("state", "count"),
    "trust_government": ("state", "unit"),
    "trust_taliban": ("state", "unit"),
    "pressure": ("state", "unit"),
    "engaged": ("state", "share"),
    "offensive": ("day", "share"),
    "taliban_attacks": ("day", "count"),
    "iskp_attacks": ("day", "count"),
    "attributed_attacks": ("day", "count"),
}
MAX_BINS = 8192
UNIT_BINS = 1000
COUNT = np.int32  # runs per day and bin


def team_moves(engaged: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """A run's days (indices of its daily series) on which the Taliban team walked out, and on which it came back
    after a walkout; its state on the first day is where it starts (the team of a scenario with lists arrives on
    its day, which is not a return)."""
    engaged = np.asarray(engaged, dtype=bool)
    before = np.concatenate([engaged[:1], engaged[:-1]])
    walks = before & ~engaged
    returns = ~before & engaged & (np.cumsum(walks) > 0)
    return np.flatnonzero(walks), np.flatnonzero(returns)


class _DayHistogram:
    """Counts of values per day in equal bins from 0, the bins widening (by doubling) when a value needs room.

    With `carry`, a run's final value also counts on every day after its last one.
    """

    def __init__(self, days: int, upper: float, integer: bool, carry: bool):
        self.integer = integer
        self.width = max(1, -(-(int(upper) + 1) // MAX_BINS)) if integer else 1.0 / UNIT_BINS
        bins = -(-(int(upper) + 1) // self.width) if integer else UNIT_BINS
        self.counts = np.zeros((days, bins), dtype=COUNT)
        self.carry = np.zeros((days + 1, bins), dtype=COUNT) if carry else None  # runs ending the day before

    def _bins(self, values: np.ndarray) -> np.ndarray:
        if not self.integer:
            return np.minimum((values * UNIT_BINS).astype(np.int64), UNIT_BINS - 1)
        while len(values) and values.max() >= self.width * self.counts.shape[1]:
            widen = 2 * self.counts.shape[1] > MAX_BINS
            self.counts, self.carry = (None if c is None else self._grow(c) for c in (self.counts, self.carry))
            self.width *= 2 if widen else 1
        return (values // self.width).astype(np.int64)

    def _grow(self, counts: np.ndarray) -> np.ndarray:
        """Twice the room: twice the bins up to MAX_BINS, then bins twice as wide."""
        bins = counts.shape[1]
        if 2 * bins <= MAX_BINS:
            return np.pad(counts, ((0, 0), (0, bins)))
        if bins % 2:
            counts = np.pad(counts, ((0, 0), (0, 1)))
        merged = counts.reshape(counts.shape[0], -1, 2).sum(axis=2)
        return np.pad(merged, ((0, 0), (0, MAX_BINS - merged.shape[1])))

    @staticmethod
    def _count(counts: np.ndarray, days: np.ndarray, bins: np.ndarray) -> None:
        counts += np.bincount(days * counts.shape[1] + bins, minlength=counts.size).reshape(counts.shape)

    def add(self, days: np.ndarray, values: np.ndarray, last: np.ndarray) -> None:
        """Values on their days; with carry, the values at `last` (each run's last row) from the next day on."""
        bins = self._bins(np.asarray(values))
        self._count(self.counts, days, bins)
        if self.carry is not None:
            self._count(self.carry, days[last] + 1, bins[last])

    def quantiles(self, qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Per day and quantile, the value at that share of the counts (a bin's value, its centre for wide bins);
        and the counts per day."""
        counts = self.counts if self.carry is None else self.counts + np.cumsum(self.carry, axis=0)[:-1]
        cumulative = np.cumsum(counts, axis=1)
        total = cumulative[:, -1]
        centre = 0.0 if self.integer and self.width == 1 else self.width / 2
        out = np.empty((counts.shape[0], len(qs)))
        for j, q in enumerate(qs):
            index = (cumulative < np.maximum(q * total, 1)[:, None]).sum(axis=1)  # first bin reaching q
            out[:, j] = index * self.width + centre
        return out, total


class DailyBands:
    """Per-day distributions of the daily series of many runs, built batch by batch in bounded memory.

    Each day of a state column is summarised over every run (a run that has ended
    counts at its final value); each day of a per-day column over the runs still going
    that day. Quantiles come from per-day histograms: exact for whole numbers in bins
    of one, within half a bin otherwise (a bin is at most 1/2048 of the range, 1/1000
    for trusts and pressure).
    """

    @staticmethod
    def bytes_needed(horizon: int, upper: dict[str, float] | None = None) -> int:
        """Memory of the histograms, with room for the copies `quantiles` makes and for the per-day counts'
        growth: what a results folder's figures need whatever the number of runs."""
        total = 0
        for name, (when, kind) in BAND_COLUMNS.items():
            if kind == "unit":
                bins = UNIT_BINS
            elif kind == "count":
                top = (upper or {}).get(name, 0)
                bins = min(MAX_BINS, max(int(top) + 1, 1024))
            else:
                continue
            total += bins * (horizon + (horizon + 1 if when == "state" else 0)) * np.dtype(COUNT).itemsize
        return 3 * total

    def __init__(self, horizon: int, upper: dict[str, float] | None = None):
        self.horizon = horizon
        self.runs = 0
        self.going = np.zeros(horizon, dtype=np.int64)  # runs still going on each day
        self._ended = np.zeros(horizon + 1, dtype=np.int64)  # runs whose last day was the day before
        self._sums: dict[str, np.ndarray] = {}
        self._hists: dict[str, _DayHistogram] = {}
        for name, (when, kind) in BAND_COLUMNS.items():
            if kind == "share":
                self._sums[name] = np.zeros((2, horizon + 1))  # on the day; carried from the day after the end
            else:
                top = (upper or {}).get(name, 1.0 if kind == "unit" else 64)
                self._hists[name] = _DayHistogram(horizon, top, kind == "count", carry=when == "state")

    def add(self, series: pd.DataFrame) -> None:
        """Add runs' daily series: rows `run`, `day`, columns, each run from day 0 to its last day, in order."""
        if series.empty:
            return
        run = series["run"].to_numpy()
        day = series["day"].to_numpy().astype(np.int64)
        last = np.r_[run[1:] != run[:-1], True]  # each run's last row
        self.runs += int(last.sum())
        self.going += np.bincount(day, minlength=self.horizon)[: self.horizon]
        self._ended += np.bincount(day[last] + 1, minlength=self.horizon + 1)
        for name, (when, kind) in BAND_COLUMNS.items():
            values = series[name].to_numpy()
            if kind == "share":
                sums = self._sums[name]
                sums[0] += np.bincount(day, weights=values.astype(float), minlength=self.horizon + 1)
                if when == "state":
                    sums[1] += np.bincount(day[last] + 1, weights=values[last].astype(float),
                                           minlength=self.horizon + 1)
            else:
                self._hists[name].add(day, values, last)

    def counted(self, name: str) -> np.ndarray:
        """Runs counted per day for a column: every run for states, the runs still going otherwise."""
        if BAND_COLUMNS[name][0] == "state":
            return self.going + np.cumsum(self._ended)[: self.horizon]
        return self.going

    def quantiles(self, name: str, qs: Sequence[float] = (0.05, 0.5, 0.95), min_runs: int = 1) -> np.ndarray:
        """Quantiles of a column per day (days x qs); NaN where fewer than `min_runs` runs count that day."""
        values, counted = self._hists[name].quantiles(qs)
        values[counted < max(min_runs, 1)] = np.nan
        return values

    def share(self, name: str, min_runs: int = 1) -> np.ndarray:
        """Per day, the share of counted runs for which a yes/no column holds (NaN under `min_runs`)."""
        on_day, carried = self._sums[name]
        total = (on_day + np.cumsum(carried))[: self.horizon]
        counted = self.counted(name)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counted >= max(min_runs, 1), total / counted, np.nan)

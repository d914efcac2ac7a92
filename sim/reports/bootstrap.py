"""Monte Carlo error of shares and quantiles from runs that drew their parameters (and histories) from a
posterior: a cluster bootstrap over the distinct particles the runs drew.

Runs that drew one particle share its parameter set and, in a forecast, its history: they are not
independent, and a share can rest on a handful of particles repeated many times. Resampling the particles
(each with all of its runs) with replacement and recomputing the statistic gives its spread over what the
finite posterior sample happened to hold (Davison and Hinkley 1997, section 3.8). Every resample comes from
one seed, so the intervals are reproducible.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 1000
LEVEL = 0.9


def _resampled(n: int, resamples: int, seed: int) -> np.ndarray:
    """How many times each of n clusters is drawn in each resample (resamples x n)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(n, resamples)))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def cluster_weights(clusters: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Weights of each run in each resample (resamples x runs): how many times its cluster (in sorted order) was
    drawn."""
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    return _resampled(len(ids), resamples, seed)[:, inverse.reshape(-1)]


def mean_interval(values: np.ndarray, clusters: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES,
                  seed: int = 0) -> tuple[float, float, float]:
    """The mean of the runs' values (a share, for flags), with the `level` percentile interval of its cluster
    bootstrap. Works on the clusters' sums, so its memory does not grow with the runs."""
    values = np.asarray(values, dtype=float)
    inverse = np.unique(np.asarray(clusters), return_inverse=True)[1].reshape(-1)
    _, low, high = cluster_mean_interval(np.bincount(inverse, weights=values), np.bincount(inverse), level=level,
                                         resamples=resamples, seed=seed)
    return float(values.mean()), low, high


def cluster_mean_interval(sums: np.ndarray, sizes: np.ndarray, *, level: float = LEVEL,
                          resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """`mean_interval` from each cluster's sum of values and number of runs (clusters in sorted order, as
    `mean_interval` orders them): for tables that already hold counts per cluster, such as outcomes per
    particle."""
    sums, sizes = np.asarray(sums, dtype=float), np.asarray(sizes, dtype=float)
    drawn = _resampled(len(sums), resamples, seed)
    means = (drawn @ sums) / (drawn @ sizes)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(sums.sum() / sizes.sum()), float(low), float(high)


def share_interval(flags: np.ndarray, clusters: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[float, float, float]:
    """A share of runs (flags true), with the `level` percentile interval of its cluster bootstrap."""
    return mean_interval(np.asarray(flags, dtype=bool), clusters, level=level, resamples=resamples, seed=seed)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: float, block: int = 50) -> np.ndarray:
    """The inverted-CDF quantile q of `values` (runs) under each row of `weights` (resamples x runs), a block of
    resamples at a time so that memory stays bounded."""
    order = np.argsort(values, kind="stable")
    ranked = np.asarray(values)[order]
    out = []
    for first in range(0, len(weights), block):
        cumulative = np.cumsum(weights[first:first + block][:, order], axis=1)
        at = np.argmax(cumulative >= q * cumulative[:, -1:] - 1e-9, axis=1)
        out.append(ranked[at])
    return np.concatenate(out)


def quantile_interval(values: np.ndarray, clusters: np.ndarray, q: float, *, level: float = LEVEL,
                      resamples: int = RESAMPLES, seed: int = 0, weights: np.ndarray | None = None
                      ) -> tuple[float, float, float]:
    """Quantile q of the runs' values (inverted CDF, infinities allowed), with the `level` percentile interval
    of its cluster bootstrap. `weights` (from `cluster_weights`) may be passed to share resamples."""
    values = np.asarray(values, dtype=float)
    if weights is None:
        weights = cluster_weights(clusters, resamples=resamples, seed=seed)
    point = float(np.quantile(values, q, method="inverted_cdf"))
    spread = weighted_quantiles(values, weights, q)
    low, high = np.quantile(spread, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return point, float(low), float(high)

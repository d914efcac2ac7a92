"""Weighted kernel densities of posterior samples, for figures of marginal posteriors.

A weighted histogram of ABC-SMC particles is spiky: a few heavy particles make tall bars that look like modes.
A Gaussian kernel density smooths them by a bandwidth set for the sample's information, its effective size
(Kish: (sum w)^2 / sum w^2), by Silverman's rule of thumb:

    h = 0.9 * min(sd, IQR / 1.349) * n_eff ** (-1/5)

with the weighted standard deviation and interquartile range. Mass the kernels put beyond the prior's bounds
is reflected back inside, so the density does not sag at a bound the posterior presses against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sim.experiments.abc_smc import kish_ess

NORMAL_IQR = 1.349  # interquartile range of a standard normal
FLOOR = 1e-3  # smallest bandwidth, as a share of the range: samples that are all equal still draw a narrow peak


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cumulative = np.cumsum(w[order])
    return float(np.interp(q * cumulative[-1], cumulative - w[order] / 2, x[order]))


def silverman_bandwidth(*, values: ArrayLike, weights: ArrayLike, ids: ArrayLike | None = None,
                        span: float) -> float:
    """Silverman's rule-of-thumb bandwidth of weighted samples, the sample size being Kish's effective size
    (copies of one particle, same `ids`, counted once); at least FLOOR x `span` (the range drawn)."""
    x, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    w = w / w.sum()
    mean = float(np.sum(w * x))
    sd = float(np.sqrt(np.sum(w * (x - mean) ** 2)))
    iqr = _weighted_quantile(x, w, 0.75) - _weighted_quantile(x, w, 0.25)
    spread = min(sd, iqr / NORMAL_IQR) if iqr > 0 else sd
    n_eff = max(kish_ess(w, None if ids is None else np.asarray(ids)), 1.0)
    return max(0.9 * spread * n_eff ** -0.2, FLOOR * span)


def weighted_kde(*, values: ArrayLike, weights: ArrayLike, grid: ArrayLike, low: float, high: float,
                 bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of weighted samples on `grid`, reflected at `low` and `high` so that it
    integrates to 1 over [low, high]."""
    x, w, g = (np.asarray(a, dtype=float) for a in (values, weights, grid))
    w = w / w.sum()
    density = np.zeros_like(g)
    for centres in (x, 2 * low - x, 2 * high - x):  # the samples and their mirror images at both bounds
        z = (g[:, None] - centres[None, :]) / bandwidth
        density += np.exp(-0.5 * z**2) @ w
    return density / (bandwidth * np.sqrt(2 * np.pi))

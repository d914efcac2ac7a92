"""Weighted kernel densities of posterior samples: a density over the prior's range, a bandwidth from the
effective sample size."""

from __future__ import annotations

import numpy as np
import pytest

from sim.reports.density import silverman_bandwidth, weighted_kde


def test_the_density_integrates_to_one_over_the_bounds_even_against_one():
    rng = np.random.default_rng(1)
    values = np.clip(rng.normal(0.05, 0.1, 500), 0, 1)  # pressed against the lower bound
    weights = rng.gamma(0.5, size=500)
    grid = np.linspace(0, 1, 2001)
    width = silverman_bandwidth(values=values, weights=weights, span=1.0)
    density = weighted_kde(values=values, weights=weights, grid=grid, low=0.0, high=1.0, bandwidth=width)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)
    assert density[0] >= density[grid.searchsorted(0.3)]  # no sag at the bound: reflected, not cut


def test_the_bandwidth_follows_the_effective_sample_size():
    """Silverman's rule on Kish's n_eff: the same values with one heavy particle get a wider kernel, and copies of
    one particle (same id) count once."""
    rng = np.random.default_rng(2)
    values = rng.normal(0.5, 0.1, 400)
    even = np.ones(400)
    h_even = silverman_bandwidth(values=values, weights=even, span=1.0)
    sd = values.std()
    iqr = np.subtract(*np.quantile(values, [0.75, 0.25]))
    assert h_even == pytest.approx(0.9 * min(sd, iqr / 1.349) * 400 ** -0.2, rel=0.03)
    heavy = even.copy()
    heavy[:10] = 40.0  # Kish n_eff drops from 400 to about 58
    assert silverman_bandwidth(values=values, weights=heavy, span=1.0) > 1.3 * h_even
    copies = silverman_bandwidth(values=values, weights=even, ids=np.arange(400) // 4, span=1.0)
    assert copies == pytest.approx(h_even * 4 ** 0.2, rel=1e-9)


def test_a_weighted_sample_matches_the_resampled_one():
    """Weights act as counts: a density of weighted distinct values equals that of the values repeated."""
    values = np.array([0.2, 0.4, 0.7])
    grid = np.linspace(0, 1, 101)
    weighted = weighted_kde(values=values, weights=[1, 2, 3], grid=grid, low=0, high=1, bandwidth=0.05)
    repeated = weighted_kde(values=np.repeat(values, [1, 2, 3]), weights=np.ones(6), grid=grid, low=0, high=1,
                            bandwidth=0.05)
    np.testing.assert_allclose(weighted, repeated)

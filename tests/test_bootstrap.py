"""The cluster bootstrap behind every Monte Carlo interval of a posterior's shares and quantiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.reports import bootstrap


def test_one_cluster_has_no_spread_between_clusters():
    flags = np.array([1, 1, 0, 0, 0], dtype=bool)
    assert bootstrap.share_interval(flags, np.zeros(5)) == (0.4, 0.4, 0.4)


def test_runs_repeating_one_particle_widen_the_interval():
    """2,000 runs: as independent draws the share 0.3 is known to about ±2 points; the same runs resting on 20
    particles (each all or nothing, as a history replayed over and over) are known to about ±17."""
    rng = np.random.default_rng(0)
    independent = rng.random(2000) < 0.3
    _, low, high = bootstrap.share_interval(independent, np.arange(2000))
    assert 0.02 < high - low < 0.05
    particles = np.repeat(np.arange(20), 100)
    lucky = particles < 6  # 6 of 20 particles complete in every run that draws them
    share, low, high = bootstrap.share_interval(lucky, particles)
    assert share == pytest.approx(0.3)
    # Binomial(20, 0.3)/20: its 5% and 95% quantiles are 0.15 and 0.45.
    assert low == pytest.approx(0.15, abs=0.051) and high == pytest.approx(0.45, abs=0.051)


def test_the_interval_is_reproducible_and_holds_the_estimate():
    rng = np.random.default_rng(1)
    values = rng.normal(size=300)
    clusters = rng.integers(0, 40, 300)
    first = bootstrap.quantile_interval(values, clusters, 0.5)
    assert first == bootstrap.quantile_interval(values, clusters, 0.5)
    assert first[1] <= first[0] <= first[2]
    assert first[0] == np.quantile(values, 0.5, method="inverted_cdf")


def test_weighted_quantiles_by_hand():
    values = np.array([3.0, 1.0, 2.0, np.inf])
    weights = np.array([[1, 1, 1, 1], [0, 2, 2, 0], [0, 0, 0, 4], [4, 0, 0, 0]], dtype=float)
    assert bootstrap.weighted_quantiles(values, weights, 0.5).tolist() == [2.0, 1.0, np.inf, 3.0]
    assert bootstrap.weighted_quantiles(values, weights, 0.75).tolist() == [3.0, 2.0, np.inf, 3.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9)), min_size=1, max_size=60))
def test_the_interval_lies_between_the_lowest_and_highest_cluster_share(rows):
    flags = np.array([f for f, _ in rows])
    clusters = np.array([c for _, c in rows])
    share, low, high = bootstrap.share_interval(flags, clusters, resamples=200)
    per_cluster = [flags[clusters == c].mean() for c in np.unique(clusters)]
    assert min(per_cluster) - 1e-12 <= low <= high <= max(per_cluster) + 1e-12
    assert share == pytest.approx(flags.mean())

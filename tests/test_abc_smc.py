"""The ABC-SMC sampler on its own: a toy model whose ABC posterior is known exactly, its pieces (ESS,
resampling, the next tolerance), and the moves leaving the prior as it is when the data say nothing, on
swapsim itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.experiments import abc_smc, calibration, calibration_spec
from test_calibration import SPEC


class NormalMean:
    """Ten observations of N(mu, 1) summarised by their mean; prior mu ~ N(0, 2^2); distance |mean - observed|.

    At tolerance eps the ABC posterior is prior(mu) * P(|mu + se Z - ybar| <= eps), known in closed form."""

    dimension = 1

    def __init__(self, ybar: float = 1.3, n: int = 10, tau: float = 2.0):
        self.ybar, self.se, self.tau = ybar, 1.0 / np.sqrt(n), tau
        self.calls = 0

    def sample_prior(self, rng, n):
        return rng.normal(0.0, self.tau, (n, 1))

    def log_prior(self, y):
        return -0.5 * (y[:, 0] / self.tau) ** 2

    def distances(self, y, seeds):
        self.calls += seeds.size
        u = ((seeds.astype(np.uint64) >> np.uint64(10)).astype(float) + 0.5) * 2.0**-53
        return np.abs(y[:, [0]] + self.se * stats.norm.ppf(u) - self.ybar)

    def exact(self, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """The ABC posterior at `eps` on a grid: values and CDF."""
        grid = np.linspace(-8, 8, 40001)
        density = stats.norm.pdf(grid, 0, self.tau) * (stats.norm.cdf((self.ybar + eps - grid) / self.se)
                                                       - stats.norm.cdf((self.ybar - eps - grid) / self.se))
        return grid, np.cumsum(density) / density.sum()


@pytest.mark.parametrize("replicates", [1, 3])
def test_the_sampled_posterior_matches_the_exact_abc_posterior(replicates):
    toy = NormalMean()
    sampler = abc_smc.Sampler(toy, abc_smc.Settings(particles=2000, simulations=400_000, seed=4,
                                                    replicates=replicates, min_acceptance=0.05))
    generations = list(sampler.generations())
    last = generations[-1]
    assert sampler.stop is not None and last.index >= 4
    assert toy.calls == sampler.spent <= 400_000
    # It got close to the data: the exact posterior (tolerance 0) has mean 1.268 and sd 0.312.
    assert last.epsilon < 0.15
    grid, cdf = toy.exact(last.epsilon)
    mean = np.interp(0.5, cdf, grid)
    q05, q95 = np.interp([0.05, 0.95], cdf, grid)
    sample = last.y[:, 0]
    spread = (q95 - q05) / 3.29
    tolerance = 4 * spread / np.sqrt(last.ess / 2)  # the population's copies are not independent
    assert abs(np.median(sample) - mean) < tolerance
    assert abs(np.quantile(sample, 0.05) - q05) < 1.5 * tolerance
    assert abs(np.quantile(sample, 0.95) - q95) < 1.5 * tolerance
    assert 0.85 < np.std(sample) / spread < 1.15
    for g in generations[1:]:
        assert g.ess >= 0.5 * 2000  # every generation kept half its population distinct
        assert g.epsilon < generations[g.index - 1].epsilon


def test_the_same_settings_give_the_same_population():
    runs = [list(abc_smc.Sampler(NormalMean(), abc_smc.Settings(particles=200, simulations=20_000, seed=9))
                 .generations())[-1] for _ in range(2)]
    assert np.array_equal(runs[0].y, runs[1].y) and np.array_equal(runs[0].seeds, runs[1].seeds)


def test_kish_ess_merges_copies_of_one_particle():
    assert abc_smc.kish_ess(np.full(10, 0.1)) == pytest.approx(10)
    assert abc_smc.kish_ess(np.array([0.5, 0.5, 0.0])) == pytest.approx(2)
    # 359 distinct particles, one of them 64 times over 1,000 (as in the posterior before this sampler).
    ids = np.concatenate([np.zeros(64), np.resize(np.arange(1, 359), 936)])
    counts = np.bincount(ids.astype(int))
    assert len(counts) == 359 and counts[0] == 64
    assert abc_smc.kish_ess(np.full(1000, 1e-3), ids) == pytest.approx(1000**2 / np.square(counts).sum())
    assert abc_smc.kish_ess(np.full(1000, 1e-3), ids) < 359


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=40), st.integers(1, 200))
def test_systematic_resampling_takes_each_particle_n_w_times_give_or_take_one(weights, n):
    w = np.array(weights)
    if w.sum() == 0:
        w = np.ones_like(w)
    picks = abc_smc.systematic(np.random.default_rng(1), w, n)
    counts = np.bincount(picks, minlength=len(w))
    assert counts.sum() == n
    assert (np.abs(counts - n * w / w.sum()) < 1 + 1e-9).all()


def test_the_next_tolerance_keeps_the_asked_share_of_the_ess():
    rng = np.random.default_rng(3)
    distances = rng.random((1000, 1))
    eps = abc_smc.next_tolerance(distances, np.full(1000, 1e-3), 1.0, 0.5)
    assert (distances <= eps).sum() == 500  # with one simulation each, the median
    many = rng.random((1000, 4))
    eps = abc_smc.next_tolerance(many, np.full(1000, 1e-3), 1.0, 0.3)
    within = (many <= eps).sum(axis=1)
    assert abc_smc.kish_ess(within / 4.0) >= 300
    smaller = many[many < eps].max()  # the next smaller candidate would not do
    assert abc_smc.kish_ess((many <= smaller).sum(axis=1) / 4.0) < 300


def test_a_generation_that_cannot_reach_its_ess_is_discarded():
    toy = NormalMean()
    sampler = abc_smc.Sampler(toy, abc_smc.Settings(particles=500, simulations=1_000_000, seed=2, max_rounds=3,
                                                    min_acceptance=1e-6))
    generations = list(sampler.generations())
    assert sampler.stop.reason == "ess" and sampler.stop.simulations > 0
    assert all(g.ess >= 250 for g in generations)


# ---------------------------------------------------------------- no data: the moves keep the prior


def nothing_record(tmp_path) -> str:
    """A record that says nothing: every point a lower bound of 0, so every run is at distance 0."""
    frame = pd.read_csv(SPEC.parent.parent.parent / "sim" / "data" / "observed_2020" / "releases.csv")
    frame = frame[frame["date"] <= "2020-06-30"].assign(cumulative_released=0, note="lower bound")
    frame.to_csv(tmp_path / "nothing.csv", index=False)
    return "nothing.csv"


@pytest.mark.slow
def test_with_no_data_the_population_stays_at_the_prior(tmp_path):
    """Every parameter of the shipped spec, whole numbers included: after 15 generations of moves the final
    population's positions are uniform in their prior ranges (Kolmogorov-Smirnov), and the whole-number
    parameters put on each value what the prior does, their ends included."""
    data = yaml.safe_load(SPEC.read_text())
    data.update(base=str(SPEC.parent / data["base"]), observed=nothing_record(tmp_path), until="2020-06-30",
                particles=1000,
                simulations=16_000, simulations_per_particle=1, seed=11, min_acceptance=0.001)
    (tmp_path / "nothing.yaml").write_text(yaml.safe_dump(data))
    spec = calibration_spec.load_spec(tmp_path / "nothing.yaml")
    fit = calibration.Calibration(spec, tmp_path / "fit")
    generations = list(fit.generations())
    last = generations[-1]
    assert last.index == 15 and last.epsilon == 0.0 and last.distinct == 1000
    unit = 0.5 * (1.0 + np.tanh(0.5 * last.y))
    priors = spec.priors()
    for j, (path, prior) in enumerate(priors.items()):
        assert stats.kstest(unit[:, j], "uniform").pvalue > 0.01, path
    values = calibration.parameter_values(priors, unit)
    for path in ("verification.list_gap_days", "protocol.taliban_daily_capacity"):
        prior = priors[path]
        draws = calibration.parameter_values({path: prior}, np.random.default_rng(0).random((200_000, 1)))[path]
        support = np.arange(draws.min(), draws.max() + 1)
        expected = np.array([(draws == v).mean() for v in support]) * len(values[path])
        observed = np.array([(values[path] == v).sum() for v in support])
        assert stats.chisquare(observed, expected).pvalue > 0.01, path
        ends = np.isin(values[path], [support[0], support[-1]]).mean()
        prior_ends = np.isin(draws, [support[0], support[-1]]).mean()
        assert abs(ends - prior_ends) < 0.02, (path, ends, prior_ends)

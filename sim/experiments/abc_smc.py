"""ABC-SMC on any simulator and distance: a population of particles moved towards ever smaller tolerances.

The sampler knows nothing of swapsim. A `Problem` gives a prior on an unconstrained space (a sampler and a
log density) and a function that simulates each particle K times, with given seeds, and returns the
distances of its simulations to the data. The target at tolerance eps is the ABC posterior
pi(y) P(d(x) <= eps | y), estimated for each particle from its K simulations by the share within eps
(Del Moral, Doucet and Jasra 2012). With K > 1 a parameter set accepted on one lucky simulation carries
1/K of the weight of one that matches on all K, and the Metropolis-Hastings moves, whose acceptance uses
the ratio of these shares, leave such a particle more easily.

One generation: lower the tolerance until the effective sample size (ESS) of the reweighted particles is
`keep` times what it was; resample (systematic); then move every particle by Metropolis-Hastings steps
(a Gaussian random walk with the population's covariance), round after round, until the population holds
enough distinct particles: Kish's ESS, with copies of one particle counted as one particle carrying their
summed weight, at least `min_ess` of the population. A generation that cannot get there within its
budget of rounds, or of simulations, is discarded and the last complete one stands.

The random walk's scale is tuned on what it controls: each particle proposes with the current scale times
1/2, 1 or 2, and the next generation takes the multiplier whose moves went furthest on average (the
expected squared jump distance, in units of the population's covariance; Fearnhead and Taylor 2013). Every
draw comes from streams of the root seed, the generation and the round, so the same settings give the
same population whatever order the simulations are computed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# Spawn keys of the sampler's random streams, far from replicate numbers.
PROPOSAL_KEY, SIMULATION_KEY, CHOICE_KEY = 2**32 - 11, 2**32 - 12, 2**32 - 14
MULTIPLIERS = (0.5, 1.0, 2.0)  # of the random walk's scale, tried side by side in each generation
SCALE_LIMITS = (0.01, 5.0)


class Problem(Protocol):
    """What the sampler needs of a model: a prior on an unconstrained space and simulated distances."""

    dimension: int

    def sample_prior(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n draws from the prior: an array n x dimension."""

    def log_prior(self, y: np.ndarray) -> np.ndarray:
        """Log prior density (up to a constant) of each row of y."""

    def distances(self, y: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Simulate row i of y once with each of seeds[i] (n x K) and return the distances (n x K)."""


@dataclass(frozen=True)
class Settings:
    """How the sampler runs: population, budget, replicates per particle, and when it stops."""

    particles: int
    simulations: int  # budget, in simulations (a particle's K replicates count K)
    seed: int
    replicates: int = 1  # K: simulations per particle
    keep: float = 0.5  # each new tolerance keeps this share of the effective sample size
    min_ess: float = 0.5  # a generation is complete once its ESS of distinct particles reaches this share
    min_acceptance: float = 0.005  # stop after a generation whose moves were accepted less often than this
    max_rounds: int = 100  # Metropolis-Hastings rounds per generation, at the most
    min_rounds: int = 1


@dataclass
class Generation:
    """One population: latent positions, each particle's K distances and seeds, weights, and what it took."""

    index: int
    epsilon: float
    y: np.ndarray  # particles x dimension
    distances: np.ndarray  # particles x K
    seeds: np.ndarray  # particles x K
    weights: np.ndarray  # sum to 1
    ids: np.ndarray  # identity of each particle: copies of one particle share it
    simulations: int  # simulations this generation ran
    rounds: int = 0
    proposed: int = 0
    accepted: int = 0
    scale: float = 1.0  # the random walk's scale used by this generation
    next_scale: float = 1.0  # the scale the next generation starts from
    jumps: dict[str, float] = field(default_factory=dict)  # mean squared jump per multiplier
    next_id: int = 0

    @property
    def acceptance(self) -> float:
        """Share of this generation's moves accepted (1 for the prior sample)."""
        return self.accepted / self.proposed if self.proposed else 1.0

    @property
    def ess(self) -> float:
        return kish_ess(self.weights, self.ids)

    @property
    def distinct(self) -> int:
        return int(len(np.unique(self.ids)))

    def within(self, epsilon: float | None = None) -> np.ndarray:
        """How many of each particle's K simulations are within the tolerance."""
        return (self.distances <= (self.epsilon if epsilon is None else epsilon)).sum(axis=1)

    def stats(self) -> dict:
        """What a calibration folder records of the generation (JSON-ready)."""
        return {"index": self.index, "epsilon": self.epsilon, "simulations": self.simulations,
                "rounds": self.rounds, "proposed": self.proposed, "accepted": self.accepted,
                "acceptance": self.acceptance, "ess": self.ess, "distinct": self.distinct,
                "scale": self.scale, "next_scale": self.next_scale, "jumps": self.jumps, "next_id": self.next_id}


@dataclass
class Stop:
    """Why the sampler stopped."""

    reason: str  # "budget", "acceptance", "ess" or "tolerance"
    detail: str
    simulations: int = 0  # spent on a generation that was then discarded


def kish_ess(weights: np.ndarray, ids: np.ndarray | None = None) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2, copies of a particle (same id) merged into one."""
    w = np.asarray(weights, dtype=float)
    if ids is not None:
        _, inverse = np.unique(ids, return_inverse=True)
        w = np.bincount(inverse.reshape(-1), weights=w)
    total = w.sum()
    return float(total**2 / np.square(w).sum()) if total > 0 else 0.0


def systematic(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """n indices drawn by systematic resampling: particle i is taken n w_i times, give or take one."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    cumulative /= cumulative[-1]
    points = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(cumulative, points, side="right"), len(cumulative) - 1)


def seeds_for(seed: int, generation: int, round_: int, shape: tuple[int, int]) -> np.ndarray:
    """The simulations' seeds of one round of one generation: 63-bit integers from the root seed."""
    state = np.random.SeedSequence(seed, spawn_key=(SIMULATION_KEY, generation, round_)).generate_state(
        shape[0] * shape[1], np.uint64)
    return (state >> np.uint64(1)).astype(np.int64).reshape(shape)


def stream(seed: int, key: int, generation: int, round_: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key, generation, round_)))


def next_tolerance(distances: np.ndarray, weights: np.ndarray, epsilon: float, keep: float) -> float:
    """The smallest tolerance at or below `epsilon` whose reweighted population keeps `keep` of the ESS.

    Weights become w * a(eps') / a(eps), a the number of a particle's simulations within the tolerance.
    """
    before = (distances <= epsilon).sum(axis=1)
    live = before > 0
    target = keep * kish_ess(weights[live]) * (1 - 1e-9)  # not fooled by rounding in the sums
    candidates = np.unique(distances[live][distances[live] <= epsilon])

    def ess_at(eps: float) -> float:
        now = (distances[live] <= eps).sum(axis=1)
        return kish_ess(weights[live] * now / before[live])

    lo, hi = 0, len(candidates) - 1  # ess_at(candidates[hi]) is the ESS itself
    while lo < hi:
        mid = (lo + hi) // 2
        if ess_at(float(candidates[mid])) >= target:
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo])


def weighted_covariance(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    w = weights / weights.sum()
    centred = y - w @ y
    cov = (centred * w[:, None]).T @ centred
    return np.atleast_2d(cov)


def _cholesky(cov: np.ndarray) -> np.ndarray:
    jitter = 1e-10 * max(float(np.trace(cov)), 1e-12)
    return np.linalg.cholesky(cov + jitter * np.eye(len(cov)))


class Sampler:
    """ABC-SMC on a problem: `generations(last)` yields each complete generation; `stop` says why it ended."""

    def __init__(self, problem: Problem, settings: Settings, spent: int = 0):
        self.problem, self.settings = problem, settings
        self.spent = spent  # simulations run so far, failed generations included
        self.stop: Stop | None = None

    @property
    def _round_cost(self) -> int:
        return self.settings.particles * self.settings.replicates

    def _affordable(self) -> bool:
        return self.spent + self._round_cost <= self.settings.simulations

    def first(self) -> Generation | None:
        """Generation 0: the prior, each particle simulated K times; the tolerance is the largest distance."""
        s, p = self.settings, self.problem
        if not self._affordable():
            self.stop = Stop("budget", f"the budget of {s.simulations:,} simulations cannot pay for the prior sample "
                                       f"({self._round_cost:,})")
            return None
        y = p.sample_prior(stream(s.seed, PROPOSAL_KEY, 0), s.particles)
        seeds = seeds_for(s.seed, 0, 0, (s.particles, s.replicates))
        distances = np.asarray(p.distances(y, seeds), dtype=float)
        self.spent += self._round_cost
        n = s.particles
        return Generation(0, float(np.max(distances)), y, distances, seeds, np.full(n, 1.0 / n), np.arange(n),
                          self._round_cost, scale=2.38 / math.sqrt(p.dimension),
                          next_scale=2.38 / math.sqrt(p.dimension), next_id=n)

    def next(self, last: Generation) -> Generation | None:
        """Lower the tolerance, resample, and move until the population is diverse enough; None if it cannot be."""
        s, p = self.settings, self.problem
        index, n, k = last.index + 1, s.particles, s.replicates
        if not self._affordable():
            self.stop = Stop("budget", f"the budget of {s.simulations:,} simulations is spent")
            return None
        epsilon = next_tolerance(last.distances, last.weights, last.epsilon, s.keep)
        before = last.within()
        weights = last.weights * np.where(before > 0, (last.distances <= epsilon).sum(axis=1) / np.maximum(before, 1),
                                          0.0)
        cov = weighted_covariance(last.y, weights)
        chol = _cholesky(cov)
        precision = np.linalg.inv(chol @ chol.T)
        pick = systematic(stream(s.seed, PROPOSAL_KEY, index), weights, n)
        y, dist, seeds, ids = last.y[pick], last.distances[pick], last.seeds[pick], last.ids[pick]
        log_prior = p.log_prior(y)
        within = (dist <= epsilon).sum(axis=1)
        multiplier = np.array(MULTIPLIERS)[np.arange(n) % len(MULTIPLIERS)]
        jumps, tries = np.zeros(len(MULTIPLIERS)), np.zeros(len(MULTIPLIERS))
        next_id, spent, accepted, rounds = last.next_id, 0, 0, 0
        scale = last.next_scale
        equal = np.full(n, 1.0 / n)
        history: list[float] = []
        while True:
            rng = stream(s.seed, PROPOSAL_KEY, index, rounds + 1)
            step = (rng.standard_normal((n, p.dimension)) @ chol.T) * (scale * multiplier)[:, None]
            proposal = y + step
            new_seeds = seeds_for(s.seed, index, rounds, (n, k))
            new_dist = np.asarray(p.distances(proposal, new_seeds), dtype=float)
            spent += n * k
            self.spent += n * k
            rounds += 1
            new_within = (new_dist <= epsilon).sum(axis=1)
            new_log_prior = p.log_prior(proposal)
            # Metropolis-Hastings on the ABC target: the prior ratio times the ratio of shares within the tolerance
            # (every particle left after resampling has at least one simulation within it).
            ratio = np.minimum(np.exp(np.minimum(new_log_prior - log_prior, 700.0)) * new_within / within, 1.0)
            move = (new_within > 0) & (rng.random(n) < ratio)
            size = np.einsum("ij,jk,ik->i", step, precision, step)
            np.add.at(jumps, np.arange(n) % len(MULTIPLIERS), size * move)
            np.add.at(tries, np.arange(n) % len(MULTIPLIERS), 1)
            y = np.where(move[:, None], proposal, y)
            dist = np.where(move[:, None], new_dist, dist)
            seeds = np.where(move[:, None], new_seeds, seeds)
            within = np.where(move, new_within, within)
            log_prior = np.where(move, new_log_prior, log_prior)
            ids = np.where(move, next_id + np.arange(n), ids)
            next_id += n
            accepted += int(move.sum())
            history.append(kish_ess(equal, ids))
            if history[-1] >= s.min_ess * n and rounds >= s.min_rounds:
                break
            short = self._shortfall(history, s.min_ess * n, rounds)
            if short:
                self.stop = Stop("ess", f"generation {index} (tolerance {epsilon:.4g}) reached an ESS of "
                                        f"{history[-1]:.0f} of {n} distinct particles in {rounds} rounds (acceptance "
                                        f"{accepted / (rounds * n):.2%}); {short}", spent)
                return None
        esjd = jumps / np.maximum(tries, 1)
        best = float(MULTIPLIERS[int(np.argmax(esjd))])
        return Generation(index, epsilon, y, dist, seeds, equal, ids, spent, rounds, rounds * n, accepted, scale,
                          float(np.clip(scale * best, *SCALE_LIMITS)),
                          {str(m): float(j) for m, j in zip(MULTIPLIERS, esjd)}, next_id)

    def _shortfall(self, history: list[float], target: float, rounds: int) -> str:
        """Why more rounds cannot reach the target ESS ("" while they may): the rounds or the budget run out, or
        they would even at the pace of the last three rounds (a pace that only slows, so this is optimistic)."""
        s = self.settings
        if rounds >= s.max_rounds:
            return f"the {s.max_rounds} rounds allowed ran out"
        if not self._affordable():
            return "the budget of simulations ran out"
        if rounds >= 4:
            pace = (history[-1] - history[-4]) / 3
            needed = math.inf if pace <= 0 else (target - history[-1]) / pace
            if rounds + needed > s.max_rounds:
                return f"at its pace it would need about {rounds + needed:.0f} rounds, more than the {s.max_rounds} allowed"
            if self.spent + needed * self._round_cost > s.simulations:
                return "at its pace it would need more simulations than the budget has left"
        return ""

    def generations(self, last: Generation | None = None) -> Iterator[Generation]:
        """Generations after `last` (from the prior when None), until the budget, the acceptance or the ESS says
        stop (`self.stop`)."""
        if last is None:
            last = self.first()
            if last is None:
                return
            yield last
        while True:
            if last.index > 0 and last.acceptance < self.settings.min_acceptance:
                self.stop = Stop("acceptance", f"generation {last.index} accepted {last.acceptance:.2%} of its "
                                               f"moves, below {self.settings.min_acceptance:.2%}")
                return
            nxt = self.next(last)
            if nxt is None:
                return
            yield nxt
            last = nxt


def choose_replicate(generation: Generation, seed: int) -> np.ndarray:
    """For each particle, one of its simulations within the tolerance, uniformly: with the particle drawn by
    weight, a draw from the ABC posterior of parameters and simulated history together."""
    rng = stream(seed, CHOICE_KEY, generation.index)
    inside = generation.distances <= generation.epsilon
    count = inside.sum(axis=1)
    pick = np.floor(rng.random(len(count)) * np.maximum(count, 1)).astype(np.int64)
    order = np.cumsum(inside, axis=1) - 1  # rank of each inside replicate among its particle's
    chosen = np.argmax(inside & (order == pick[:, None]), axis=1)
    return chosen

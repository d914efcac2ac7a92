"""Seeds: replicate k of any batch of runs is seeded from the root seed and k alone.

Replicate k has the same seed in every scenario and at every point of a sweep
(common random numbers), so differences between scenarios are paired comparisons.
Within a run, each mechanism has its own stream derived from the run's seed
(`sim.model.streams`).
"""

from __future__ import annotations

import numpy as np

from sim.model.streams import STREAM_RULE

SEED_RULE = (
    "replicate k (the same k at every point and in every scenario) has the seed "
    "seed_k = SeedSequence(root_seed, spawn_key=(k,)).generate_state(1, uint64)[0] >> 1; "
    + STREAM_RULE
)


def replicate_seed(root: int, replicate: int) -> int:
    """The seed of replicate `replicate` under root seed `root` (SeedSequence spawn, 63 bits)."""
    state = np.random.SeedSequence(int(root), spawn_key=(int(replicate),)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def replicate_seeds(root: int, n: int, start: int = 0) -> np.ndarray:
    """Seeds of replicates start .. start + n - 1, as int64."""
    return np.array([replicate_seed(root, k) for k in range(start, start + n)], dtype=np.int64)

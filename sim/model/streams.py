"""Random streams: each mechanism draws from a stream of its own, derived from the run's seed.

Stream j of the run with seed s has the key `SeedSequence(s).generate_state(J, uint64)[j]`
(numpy's SeedSequence gives the same first words whatever J, so a stream added at the
end of STREAMS leaves every key before it unchanged). The stream is a SplitMix64
generator seeded with that key (Steele, Lea and Flood 2014): its uniform on day d is
the (d + 1)-th output, `mix64(key + (d + 1) * 0x9E3779B97F4A7C15) >> 11` times 2**-53.
A day's uniform therefore depends only on the seed, the stream and the day: not on the
horizon, not on any other mechanism, and not on which other runs share the batch. Every
stream is drawn every day, whether or not its mechanism acts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

# One stream per random mechanism. Append new ones at the end: a stream's key is its position.
STREAMS = ("government_release", "taliban_release", "taliban_attacks", "iskp_attributed", "iskp_other", "return",
           "mediator", "cover")

GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(n) for n in (30, 27, 31, 11))
_UNIT = 2.0 ** -53

STREAM_RULE = (
    "mechanism j of the run with seed s draws, on day d, the (d+1)-th output of a SplitMix64 generator keyed with "
    "SeedSequence(s).generate_state(J, uint64)[j], mapped to [0, 1) as (output >> 11) * 2**-53; streams: "
    + ", ".join(f"{j} {name}" for j, name in enumerate(STREAMS))
)


def stream_keys(seeds: Sequence[int] | ArrayLike, streams: int = len(STREAMS)) -> np.ndarray:
    """Keys of each stream for each run: an array (streams, runs) of uint64."""
    seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
    unique, lanes = np.unique(seeds, return_inverse=True)
    table = np.stack([np.random.SeedSequence(int(s)).generate_state(streams, np.uint64) for s in unique], axis=1)
    return table[:, lanes.reshape(-1)]


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (a bijection of 64-bit words); wraps modulo 2**64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def uniforms(keys: np.ndarray, day: int) -> np.ndarray:
    """Day `day`'s uniform in [0, 1) of every stream whose key is in `keys` (any shape)."""
    step = np.uint64(((day + 1) * GOLDEN_GAMMA) & _MASK)
    return (mix64(keys + step) >> _S11).astype(np.float64) * _UNIT


class Streams:
    """The random streams of a batch of runs: `draw(day)` gives each mechanism's uniforms, one per run.

    With `history_seeds`, days up to `history_until` draw from those seeds' streams instead: a run
    then replays another run's chance up to that day (the simulation a calibration accepted, whose
    history matched the record) and goes on with its own seed after it.
    """

    def __init__(self, seeds: Sequence[int] | ArrayLike, history_seeds: Sequence[int] | ArrayLike | None = None,
                 history_until: int = -1):
        self.keys = stream_keys(seeds)
        self.history_keys = self.keys if history_seeds is None else stream_keys(history_seeds)
        if self.history_keys.shape != self.keys.shape:
            raise ValueError("history_seeds needs one seed per run")
        self.history_until = history_until

    def draw(self, day: int) -> dict[str, np.ndarray]:
        block = uniforms(self.history_keys if day <= self.history_until else self.keys, day)
        return {name: block[j] for j, name in enumerate(STREAMS)}

"""A calibration's posterior, drawn from: parameter sets for any run, and histories for a forecast to replay.

Run k draws its posterior row by weight from a stream of its own seed, so it draws the same parameter set
in every scenario and at every point of a sweep (comparisons stay paired). A forecast run also replays the
chance of the simulation its row stands for, up to the last day the record reports, and goes on with its
own seed after it. Runs that drew the same particle share that particle's luck: `clusters` says which, so
that a share's Monte Carlo error can be bootstrapped over distinct particles (`sim.reports.bootstrap`).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.calibration import simulate
from sim.experiments.calibration_folder import read_folder
from sim.model.scenario import Scenario, ScenarioError, from_dict, parameter_fields, value_at

PREDICTIVE_KEY = 2**32 - 13  # spawn key of the stream a run draws its posterior row from


@dataclass
class Posterior:
    """A calibration's result, to draw parameter sets from: the accepted sets and their weights, the values the
    calibration fixed, and the base scenario (before them) that tells which values a scenario set on purpose."""

    frame: pd.DataFrame
    fixed: dict[str, Any]
    base: Scenario
    source: Path
    info: dict

    def identity(self) -> dict:
        """What a results folder records of the posterior its runs drew from: its folder and its spec's hash."""
        return {"folder": str(self.source), "spec_hash": self.info["spec_hash"],
                "parameter_sets": int(len(self.frame)), "distinct": int(len(np.unique(clusters(self.frame))))}

    @property
    def fitted(self) -> list[str]:
        return [c for c in self.frame.columns if c in parameter_fields()]

    def rows(self, seeds: np.ndarray) -> np.ndarray:
        return posterior_rows(self.frame, seeds)

    def clusters(self, seeds: np.ndarray) -> np.ndarray:
        """The distinct particle each run with these seeds draws (a cluster id per run)."""
        return clusters(self.frame)[self.rows(seeds)]

    def overrides(self, scenario: Scenario, seeds: np.ndarray, keep: frozenset[str] = frozenset()
                  ) -> dict[str, np.ndarray]:
        """Per-run values of the fixed and fitted parameters for runs of `scenario` with these seeds.

        A parameter the scenario sets to a value other than the calibration base's is the scenario's
        question and is left alone, as are the parameters in `keep` (a sweep's own).
        """
        rows = self.rows(seeds)
        n = len(seeds)
        out: dict[str, np.ndarray] = {}
        for path, value in self.fixed.items():
            if path not in keep and value_at(scenario, path) == value_at(self.base, path):
                out[path] = np.full(n, value, dtype=object if isinstance(value, str) else None)
        for path in self.fitted:
            if path not in keep and value_at(scenario, path) == value_at(self.base, path):
                out[path] = self.frame[path].to_numpy()[rows]
        return out


def load_posterior(folder: str | Path) -> Posterior:
    """The posterior of a calibration folder (`swapsim calibrate`); a one-line error when it is not one."""
    folder = Path(folder)
    info, frame = read_folder(folder)
    base = from_dict(info["base_scenario"], f"{folder / 'calibration.json'}: base_scenario")
    return Posterior(frame, info["fixed"], base, folder, info)


def clusters(frame: pd.DataFrame) -> np.ndarray:
    """A cluster id per posterior row: rows that are copies of one particle (same parameter set and history)
    share it."""
    if "particle" in frame:
        return pd.factorize(frame["particle"])[0]
    keys = [c for c in frame.columns if c in parameter_fields()] + (["seed"] if "seed" in frame else [])
    return frame.groupby(keys, sort=False).ngroup().to_numpy()


def posterior_rows(posterior: pd.DataFrame, seeds: np.ndarray) -> np.ndarray:
    """The posterior row each run draws, by weight, from a stream of its seed alone: the same run draws the
    same parameter set in every scenario and at every point of a sweep (a paired comparison)."""
    weights = posterior["weight"].to_numpy(dtype=float)
    cumulative = np.cumsum(weights / weights.sum())
    u = np.array([np.random.SeedSequence(int(s), spawn_key=(PREDICTIVE_KEY,)).generate_state(1, np.uint64)[0]
                  for s in np.asarray(seeds, dtype=np.int64)], dtype=np.uint64)
    unit = (u >> np.uint64(11)).astype(float) * 2.0**-53
    return np.minimum(np.searchsorted(cumulative, unit, side="right"), len(cumulative) - 1)


def continue_runs(frame: pd.DataFrame, scenario: Scenario, seeds: np.ndarray, last: int, replay_until: int,
                  workers: int = 1, executor: Executor | None = None, lanes: int | None = None) -> pd.DataFrame:
    """A forecast's runs: each draws an accepted simulation from the posterior by weight, replays its parameter
    set and its chance up to day `replay_until` (the history that matched the record), then goes on to day
    `last` with its own seed. Both sides' cumulative releases on every day, as `simulate`, with `cluster`: the
    distinct particle each run drew."""
    rows = posterior_rows(frame, seeds)
    values = {path: frame[path].to_numpy()[rows] for path in frame.columns if path in parameter_fields()}
    snaps = simulate(scenario, values, seeds, list(range(last + 1)), last, workers, executor, lanes,
                     history_seeds=frame["seed"].to_numpy(dtype=np.int64)[rows], history_until=replay_until)
    return snaps.assign(cluster=np.repeat(clusters(frame)[rows], last + 1))

"""Scenarios run on the same seeds, so that their runs pair up replicate by replicate.

Every scenario is run with the same root seed, so replicate k has the same seed in
every scenario (common random numbers). The statistics of a comparison (rates,
paired differences, McNemar tests) and its folder are in `sim.reports.comparison`.

    from sim.model.scenario import load
    from sim.experiments import comparisons
    c = comparisons.compare([load("scenarios/decree_2020.yaml"), load("scenarios/doha_unconditional.yaml")],
                            runs=200, seed=1)
    c.runs                 # one row per scenario and replicate
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim import DEFAULT_RUNS, DEFAULT_SEED
from sim.experiments import batches
from sim.experiments.posterior import Posterior
from sim.experiments.seeds import replicate_seeds
from sim.model.scenario import Scenario, value_at


@dataclass
class Comparison:
    """Runs of several scenarios on the same seeds.

    `runs` has one row per scenario and replicate: `scenario` (its name, made unique
    with #2, #3... when names collide), `run`, `seed`, `outcome` and the run metrics,
    ordered by scenario (as given) then replicate. Replicate k has the same seed in
    every scenario.
    """

    scenarios: list[Scenario]
    names: list[str]
    root_seed: int
    runs: pd.DataFrame
    precision: float | None = None
    precision_reached: bool | None = None  # None when no precision target was set
    max_runs: int | None = None
    rounds: list[int] = field(default_factory=list)  # runs per scenario after each round
    meta: dict = field(default_factory=dict)
    posterior: Posterior | None = None  # the calibration each run drew its parameters from, if any

    @property
    def runs_per_scenario(self) -> int:
        return int(self.runs["run"].nunique()) if len(self.runs) else 0

    @property
    def seeds(self) -> list[int]:
        """The seeds of replicates 0, 1, ...: the same in every scenario."""
        first = self.runs[self.runs["scenario"] == self.names[0]].sort_values("run")
        return first["seed"].astype(int).tolist()


def unique_names(scenarios: Sequence[Scenario]) -> list[str]:
    """Scenario names, the second and later of a repeated name suffixed #2, #3, ..."""
    names, seen = [], set()
    for scenario in scenarios:
        base = scenario.metadata.name
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}#{k}"
        seen.add(name)
        names.append(name)
    return names


def compare(scenarios: Sequence[Scenario], runs: int = DEFAULT_RUNS, seed: int = DEFAULT_SEED, workers: int = 1,
            lanes: int | None = None, progress: bool = False, executor: Executor | None = None,
            posterior: Posterior | None = None) -> Comparison:
    """Run every scenario `runs` times on the same seeds; the same results for any lanes and workers.

    With `posterior`, run k draws the same parameter set from it in every scenario (still paired)."""
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("compare needs at least one scenario")
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    comparison = Comparison(scenarios, unique_names(scenarios), int(seed), pd.DataFrame(),
                            meta={"workers": workers, "lanes": lanes or batches.DEFAULT_LANES,
                                  "posterior": None if posterior is None else str(posterior.source)},
                            posterior=posterior)
    return extend(comparison, runs, workers, lanes, progress, executor)


def extend(comparison: Comparison, runs: int, workers: int = 1, lanes: int | None = None, progress: bool = False,
           executor: Executor | None = None) -> Comparison:
    """The comparison with `runs` replicates per scenario: only the replicates not yet run are run."""
    start = comparison.runs_per_scenario
    if runs > start:
        new = replicates(comparison.scenarios, comparison.names, comparison.root_seed, start, runs, workers, lanes,
                         progress, executor, comparison.posterior)
        table = pd.concat([comparison.runs, new], ignore_index=True) if len(comparison.runs) else new
        order = table["scenario"].map({name: i for i, name in enumerate(comparison.names)})
        comparison.runs = table.assign(_order=order).sort_values(["_order", "run"], kind="stable") \
            .drop(columns="_order").reset_index(drop=True)
    comparison.rounds.append(comparison.runs_per_scenario)
    return comparison


def replicates(scenarios: Sequence[Scenario], names: Sequence[str], root: int, start: int, stop: int,
               workers: int = 1, lanes: int | None = None, progress: bool = False,
               executor: Executor | None = None, posterior: Posterior | None = None) -> pd.DataFrame:
    """Replicates start..stop-1 of every scenario, one row per scenario and replicate, in that order."""
    per = stop - start
    total = per * len(scenarios)
    scenario_of_run = np.repeat(np.arange(len(scenarios)), per)
    seeds = np.tile(replicate_seeds(root, per, start), len(scenarios))
    labels = {"scenario": np.repeat(np.asarray(names, dtype=object), per),
              "run": np.tile(np.arange(start, stop), len(scenarios))}
    overrides = None
    if posterior is not None:
        overrides = _posterior_overrides(scenarios, seeds[:per], posterior)
        labels["particle"] = np.tile(posterior.clusters(seeds[:per]), len(scenarios))
    plan = batches.batches_of(scenarios, scenario_of_run, seeds, labels, batches.cut(total, lanes, workers),
                              overrides=overrides)
    label = (total, f"compare: replicates {start + 1}–{stop}") if progress else None
    parts = [result.runs.drop(columns="error") for result in batches.run_all(plan, workers, executor, label)]
    return pd.concat(parts, ignore_index=True)


def _posterior_overrides(scenarios: Sequence[Scenario], seeds: np.ndarray, posterior: Posterior) -> dict[str, np.ndarray]:
    """Per-run values for every scenario's runs, scenario after scenario: the posterior's draw for replicate k is
    the same in each; a parameter a scenario sets itself keeps its own value there."""
    per_scenario = [posterior.overrides(s, seeds) for s in scenarios]
    paths = list(dict.fromkeys(path for o in per_scenario for path in o))
    out = {}
    for path in paths:
        parts = [o[path] if path in o else np.full(len(seeds), value_at(s, path), dtype=object)
                 for s, o in zip(scenarios, per_scenario)]
        out[path] = np.concatenate(parts).astype(parts[0].dtype if all(p.dtype == parts[0].dtype for p in parts)
                                                 else object)
    return out

"""Many seeded runs of one scenario: all in memory (`run`), or batch by batch in run order (`stream`),
which is how `sim.reports.results.run_to_folder` writes a results folder in bounded memory.

Run k has the seed `replicate_seed(root, k)` and is computed as a lane of a batch
(`sim.experiments.batches`); results are the same for any batch size and any number
of workers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim import DEFAULT_RUNS, DEFAULT_SEED
from sim.experiments import batches
from sim.experiments.batches import RunError  # noqa: F401  (what a failed run raises)
from sim.experiments.posterior import Posterior
from sim.experiments.seeds import replicate_seeds
from sim.model.scenario import Scenario


@dataclass
class Results:
    """What a batch of runs produced, with what is needed to reproduce it.

    `runs`: one row per run (run, seed, outcome, metrics); `series`: one row per run
    and day, or None; `snapshots`: both sides' cumulative releases at the end of each
    snapshot day, one row per run and day, or None (a cheap record where the series'
    other columns are not needed). Statistics, figures and results folders:
    `sim.reports.results`.
    """

    scenario: Scenario
    root_seed: int
    runs: pd.DataFrame
    series: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)
    snapshots: pd.DataFrame | None = None

    @property
    def seeds(self) -> list[int]:
        return self.runs["seed"].tolist()


def plan(scenario: Scenario, runs: int, seed: int = DEFAULT_SEED, lanes: int | None = None, workers: int = 1,
         series: bool = True, posterior: Posterior | None = None,
         snapshot_days: Sequence[int] = ()) -> Iterator[batches.Batch]:
    """Runs 0 .. runs - 1 of a scenario as batches of lanes; with a posterior, each run draws its parameter set."""
    seeds = replicate_seeds(seed, runs)
    labels = {"run": np.arange(runs)}
    if posterior is not None:  # which distinct particle each run drew: the Monte Carlo error's clusters
        labels["particle"] = posterior.clusters(seeds)
    return batches.batches_of(
        [scenario], np.zeros(runs, dtype=np.int64), seeds, labels,
        batches.cut(runs, lanes, workers, series), series=series,
        overrides=posterior.overrides(scenario, seeds) if posterior is not None else None,
        snapshot_days=snapshot_days,
    )


def stream(scenario: Scenario, runs: int, seed: int = DEFAULT_SEED, workers: int = 1, lanes: int | None = None,
           series: bool = True, progress: bool = False, executor: Executor | None = None,
           posterior: Posterior | None = None, snapshot_days: Sequence[int] = ()) -> Iterator[batches.BatchResult]:
    """The runs' results batch by batch, in run order; raises RunError if a run fails. With `posterior`, each
    run draws its parameter set from a calibration's posterior (`sim.experiments.calibration.load_posterior`);
    with `snapshot_days`, each batch keeps both sides' cumulative releases at the end of those days."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    label = (runs, scenario.metadata.name) if progress and runs > 1 else None
    return batches.run_all(plan(scenario, runs, seed, lanes, workers, series, posterior, snapshot_days), workers,
                           executor, label)


def run(scenario: Scenario, runs: int = DEFAULT_RUNS, seed: int = DEFAULT_SEED, workers: int = 1, lanes: int | None = None,
        series: bool = True, progress: bool = False, executor: Executor | None = None,
        posterior: Posterior | None = None, snapshot_days: Sequence[int] = ()) -> Results:
    """Run a scenario `runs` times from root seed `seed`, in memory; identical results for any lanes and workers.
    `snapshot_days`: days at whose end both sides' cumulative releases are kept (`Results.snapshots`)."""
    parts = list(stream(scenario, runs, seed, workers, lanes, series, progress, executor, posterior, snapshot_days))
    table = pd.concat([p.runs for p in parts], ignore_index=True).drop(columns="error")
    daily = with_dates(pd.concat([p.series for p in parts], ignore_index=True), scenario) if series else None
    snapshots = pd.concat([p.snapshots for p in parts], ignore_index=True) if len(snapshot_days) else None
    return Results(scenario, int(seed), table, daily, {"workers": workers, "lanes": lanes or batches.default_lanes(series)},
                   snapshots)


def with_dates(series: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The daily series with a `date` column after `day`."""
    if "date" not in series:
        start = pd.Timestamp(scenario.calendar.start_date)
        series.insert(series.columns.get_loc("day") + 1, "date", start + pd.to_timedelta(series["day"], unit="D"))
    return series


# Bytes on disk per run (runs.parquet and runs.csv) and per run-day of series.parquet, measured on
# decree_2020 with margin; enough to refuse what cannot fit, not to predict file sizes.
BYTES_PER_RUN = 400
BYTES_PER_RUN_DAY = 40
BYTES_PER_RUN_IN_MEMORY = 600  # the runs table read back for the summary
BYTES_PER_LANE_DAY = 40  # a batch's arrays per lane and simulated day, without the daily series
BYTES_PER_LANE_DAY_WITH_SERIES = 300  # with them: the DataCollector's arrays and the long table made of them


class TooBig(ValueError):
    """A request that cannot fit on this machine; the message says why."""


def check_fits(out: Path, runs: int, scenario: Scenario, series: bool, lanes: int | None = None,
               fixed_memory: int = 0, optional_series: bool = True) -> None:
    """Refuse at once what cannot fit: the disk the tables need, or the memory of a batch, of the summary
    and of `fixed_memory` (what the caller needs besides, such as a figure's histograms); `optional_series`:
    whether the command has --no-series to suggest."""
    folder = out.parent if not out.exists() else out
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    disk = runs * (BYTES_PER_RUN + (BYTES_PER_RUN_DAY * scenario.calendar.horizon_days if series else 0))
    if disk > free:
        what = "the runs table and daily series" if series else "the runs table"
        raise TooBig(f"{runs:,} runs need up to {_size(disk)} on disk for {what}, and {folder} has {_size(free)} "
                     f"free; ask for fewer runs{' or pass --no-series' if series and optional_series else ''}")
    batch = min(runs, lanes or batches.default_lanes(series)) * scenario.calendar.horizon_days * \
        (BYTES_PER_LANE_DAY_WITH_SERIES if series else BYTES_PER_LANE_DAY)
    memory = runs * BYTES_PER_RUN_IN_MEMORY + batch + fixed_memory
    available = available_memory()
    if available is not None and memory > available:
        raise TooBig(f"{runs:,} runs need about {_size(memory)} of memory, and this machine has "
                     f"{_size(available)} available; ask for fewer runs or lanes")


def available_memory() -> int | None:
    """Memory available to new work now, in bytes (None where the system does not say)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _size(n: float) -> str:
    """Bytes in words: 12.3 GB."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} PB"

"""Many seeded runs of one scenario, in parallel, and their results on disk with a manifest."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim import DEFAULT_SEED

from sim.reports import analysis

from sim.experiments import storage
from sim.model.exchange import ExchangeModel
from sim.model.outcomes import METRIC_NAMES
from sim.experiments.provenance import provenance
from sim.model.scenario import Scenario, to_yaml

SEED_RULE = (
    "replicate k (the same k at every point and in every scenario) runs with numpy default_rng(seed_k), "
    "seed_k = SeedSequence(root_seed, spawn_key=(k,)).generate_state(1, uint64)[0] >> 1"
)


def replicate_seed(root: int, replicate: int) -> int:
    """The seed of replicate `replicate` under root seed `root` (SeedSequence spawn, 63 bits)."""
    state = np.random.SeedSequence(int(root), spawn_key=(int(replicate),)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def replicate_seeds(root: int, n: int, start: int = 0) -> list[int]:
    return [replicate_seed(root, k) for k in range(start, start + n)]


def run_one(scenario: Scenario, seed: int, series: bool = True) -> tuple[dict, pd.DataFrame | None]:
    """One run: its metrics as a dict, and its daily series (or None)."""
    model = ExchangeModel(scenario, seed, collect=series)
    metrics = model.run().as_dict()
    return metrics, (model.series() if series else None)


def run_chunk(scenario: Scenario, seeds: Sequence[int], first_run: int = 0, series: bool = True):
    """Runs for consecutive replicates; the unit of work a worker process receives."""
    rows, frames = [], []
    for offset, seed in enumerate(seeds):
        metrics, daily = run_one(scenario, seed, series)
        rows.append({"run": first_run + offset, "seed": seed, **metrics})
        if daily is not None:
            daily.insert(0, "run", first_run + offset)
            frames.append(daily)
    runs = pd.DataFrame(rows, columns=["run", "seed", *METRIC_NAMES])
    return runs, (pd.concat(frames, ignore_index=True) if frames else None)


def chunk_bounds(n: int, workers: int, most: int = 50) -> list[tuple[int, int]]:
    """Split n runs into chunks: a few per worker for balance, never huge."""
    size = max(1, min(most, -(-n // (max(workers, 1) * 4))))
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def process_pool(workers: int) -> Executor:
    """A real process pool, its workers started at once.

    Forking is safe, and fastest, while this process runs a single thread: the
    workers start at once, before pyarrow or a progress bar start threads of their
    own. Otherwise (a notebook kernel, a Dask client, pytest with threads) workers
    start from a clean `forkserver`, so a script needs the usual
    `if __name__ == "__main__":` guard; a script read from standard input cannot be
    re-imported by workers and gets `fork` anyway.
    """
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if _single_threaded() or (main_file is not None and not os.path.exists(main_file)):
        context = multiprocessing.get_context("fork")
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["sim.experiments.runs", "sim.experiments.chunks"])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pool.submit(int).result()  # with fork, this starts every worker now
    return pool


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # not Linux: do not guess
        return False


@dataclass
class Results:
    """Everything a batch of runs produced, with what is needed to reproduce it."""

    scenario: Scenario
    root_seed: int
    runs: pd.DataFrame
    series: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return self.runs["seed"].tolist()

    def rates(self) -> pd.DataFrame:
        """Rate of each outcome with its Wilson 95% interval."""
        return analysis.outcome_rates(self.runs)

    def summary(self) -> dict:
        rates = self.rates().set_index("outcome")
        return {
            "scenario": self.scenario.metadata.name,
            "runs": int(len(self.runs)),
            "root_seed": self.root_seed,
            "outcomes": {
                name: {
                    "count": int(row["count"]),
                    "rate": float(row["rate"]),
                    "ci95": [float(row["low"]), float(row["high"])],
                }
                for name, row in rates.iterrows()
            },
            "metrics": analysis.metric_summary(self.runs).round(4).to_dict(orient="index"),
        }

    def figures(self, observed: pd.DataFrame | None = None) -> dict:
        """The standard figures (releases, trust, attacks, outcomes) as matplotlib Figures."""
        from sim.reports import figures as plots

        if self.series is None:
            raise ValueError("these results were run without daily series; run with series=True for figures")
        return plots.run_figures(self.series, self.rates(), self.scenario, observed)

    def save(self, out: str | Path, force: bool = False, command: list[str] | None = None, figures: bool = True) -> Path:
        """Write the results folder atomically: it appears complete or not at all."""
        from sim.experiments import observed as record
        from sim.reports import figures as plots

        with storage.staged_directory(out, force) as stage:
            storage.write_parquet(stage / "runs.parquet", self.runs)
            storage.write_csv(stage / "runs.csv", self.runs)
            if self.series is not None:
                storage.write_parquet(stage / "series.parquet", self.series)
            storage.write_csv(stage / "outcome_rates.csv", self.rates())
            storage.write_json(stage / "summary.json", self.summary())
            storage.write_text(stage / "scenario.yaml", to_yaml(self.scenario))
            if figures and self.series is not None:
                seen = record.releases() if self.scenario.calendar.start_date.isoformat() == "2020-03-01" else None
                for name, fig in self.figures(seen).items():
                    plots.save(fig, stage / "figures" / f"{name}.png")
            manifest = {
                "scenario": self.scenario.model_dump(mode="json"),
                "root_seed": self.root_seed,
                "runs": int(len(self.runs)),
                "seeds": self.seeds,
                "seed_rule": SEED_RULE,
                **self.meta,
                **provenance(command),
                "files": sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()),
            }
            storage.write_json(stage / "manifest.json", manifest)
        return Path(out)


def run(
    scenario: Scenario,
    runs: int = 100,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
    series: bool = True,
    progress: bool = False,
    executor: Executor | None = None,
) -> Results:
    """Run a scenario `runs` times from root seed `seed`; identical results for any number of workers."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    seeds = replicate_seeds(seed, runs)
    bounds = chunk_bounds(runs, workers)
    bar = progress_bar(runs, scenario.metadata.name) if progress and runs > 1 else None
    parts: dict[int, tuple] = {}
    try:
        if workers <= 1 and executor is None:
            for lo, hi in bounds:
                parts[lo] = run_chunk(scenario, seeds[lo:hi], lo, series)
                if bar:
                    bar.update(hi - lo)
        else:
            pool = executor or process_pool(workers)
            try:
                futures = {pool.submit(run_chunk, scenario, seeds[lo:hi], lo, series): (lo, hi) for lo, hi in bounds}
                for fut in as_completed(futures):
                    lo, hi = futures[fut]
                    parts[lo] = fut.result()
                    if bar:
                        bar.update(hi - lo)
            finally:
                if executor is None:
                    pool.shutdown(cancel_futures=True)
    finally:
        if bar:
            bar.close()
    ordered = [parts[lo] for lo, _ in bounds]
    runs_table = pd.concat([r for r, _ in ordered], ignore_index=True)
    series_table = None
    if series:
        series_table = pd.concat([s for _, s in ordered], ignore_index=True)
        start = pd.Timestamp(scenario.calendar.start_date)
        series_table.insert(2, "date", start + pd.to_timedelta(series_table["day"], unit="D"))
    return Results(scenario, int(seed), runs_table, series_table, {"workers": workers})


def progress_bar(total: int, desc: str, initial: int = 0, leave: bool = False):
    """A terminal progress bar of runs: done, runs per second, time left."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: worker processes may be forked after this
    return tqdm(total=total, initial=initial, desc=desc, unit="run", dynamic_ncols=True, smoothing=0.1, leave=leave)

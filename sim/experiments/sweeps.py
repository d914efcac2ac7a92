"""A sweep run end to end: design points x replicates, cut into chunks of lanes, on any executor, resumable.

Each chunk is one batch of lanes (`sim.experiments.batches`); swept parameters reach
the lanes as per-lane overrides of the base scenario, without building a scenario per
point. Chunks are written as they come back (`sim.experiments.chunks`), so an
interrupted sweep resumes where it stopped. The sweep's statistics, figures and
summary are in `sim.reports.sweep`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments import batches, chunks, pool, storage
from sim.experiments import sweep_spec as spec_module
from sim.experiments.provenance import code_version, provenance
from sim.experiments.posterior import Posterior
from sim.experiments.seeds import SEED_RULE
from sim.model.lanes import overridable
from sim.model.scenario import Scenario


@dataclass
class SweepRun:
    """A sweep whose chunks are all written: where it is and how it was cut."""

    spec: spec_module.SweepSpec
    out: Path
    layout: chunks.Layout
    manifest: dict
    chunks_run: int
    seconds: float
    aside: Path | None = None  # the folder a forced sweep replaced, removed once the new one is complete

    @property
    def params(self) -> list[str]:
        return list(self.spec.parameters)

    def runs(self) -> pd.DataFrame:
        """Every run (point, replicate, seed, parameters, outcome, metrics, error); loads runs.parquet."""
        return pd.read_parquet(self.out / "runs.parquet")


def run_sweep(spec: spec_module.SweepSpec, out: str | Path, workers: int | None = None, lanes: int | None = None,
              address: str | None = None, resume: bool = False, force: bool = False, progress: bool = False,
              command: list[str] | None = None, executor: Executor | None = None,
              posterior: Posterior | None = None) -> SweepRun:
    """Run every (point, replicate) of the spec, chunk by chunk, resumable; then combine the runs table.

    Replicate k uses the same seed at every point (common random numbers). Results
    do not depend on the executor, the number of workers or the chunk size.
    """
    out = Path(out)
    workers = workers or pool.default_workers()
    base = spec_module.base_scenario(spec)
    design = spec_module.expand(spec)
    seeds = spec_module.replicate_seeds(spec)
    with batches.open_executor(workers, address, executor) as executor:  # an unreachable cluster fails before anything
        manifest, aside = chunks.prepare(out, _manifest(spec, base, design, seeds, workers, lanes, command, posterior),
                                         resume, force)
        storage.write_parquet(out / "design.parquet", design)
        layout = chunks.Layout(out, len(design) * len(seeds), manifest["chunk_size"])
        todo = [i for i in range(layout.n_chunks) if i not in layout.done()]
        runs_left = sum(layout.bounds(i)[1] - layout.bounds(i)[0] for i in todo)
        bar = batches.progress_bar(layout.total_runs, spec.name, layout.total_runs - runs_left, leave=True) \
            if progress else None
        started = time.perf_counter()
        plan = _batches(layout, todo, base, design, list(spec.parameters), seeds, posterior)
        try:
            with contextlib.closing(batches.execute(plan, executor, bar.update if bar else None)) as done:
                for result in done:
                    layout.write(result.index, result.runs)
        finally:
            if bar:
                bar.close()
    chunks.combine(layout, out / "runs.parquet", out / "runs.csv")
    return SweepRun(spec, out, layout, manifest, len(todo), time.perf_counter() - started, aside)


class NotASweep(ValueError):
    """A folder that is not a finished sweep: one line naming it and saying what it is instead."""


@dataclass
class FinishedSweep:
    """A finished sweep folder as `swapsim sweep` leaves it: its manifest (sweep.json) and its runs."""

    out: Path
    manifest: dict
    runs: pd.DataFrame

    @property
    def parameters(self) -> list[str]:
        """The swept parameters (dotted paths), in the spec's order."""
        return list(self.manifest["spec"]["parameters"])


def read_finished(folder: str | Path) -> FinishedSweep:
    """The manifest and runs of a finished sweep folder, for the analyses that read one back (scenario
    discovery, EMA export); NotASweep, one line naming the folder, for anything else."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotASweep(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    marker = folder / "sweep.json"
    if not marker.is_file():
        raise NotASweep(f"{folder}: not a sweep folder (no sweep.json); "
                        f"make one with `swapsim sweep SPEC --out {folder}`")
    try:
        manifest = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NotASweep(f"{folder}: sweep.json cannot be read ({_first_line(err)})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict) \
            or not isinstance(manifest["spec"].get("parameters"), dict):
        raise NotASweep(f"{folder}: sweep.json is not a swapsim sweep manifest")
    if manifest.get("complete") is not True or not (folder / "runs.parquet").is_file():
        raise NotASweep(f"{folder}: the sweep is not finished; "
                        f"finish it with `swapsim sweep SPEC --out {folder} --resume`")
    try:
        runs = pd.read_parquet(folder / "runs.parquet")
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise NotASweep(f"{folder}: runs.parquet cannot be read ({type(err).__name__}: {_first_line(err)})") from None
    finished = FinishedSweep(folder, manifest, runs)
    missing = [c for c in ("point", "outcome", *finished.parameters) if c not in runs]
    if missing:
        raise NotASweep(f"{folder}: runs.parquet lacks the column(s) {', '.join(missing)}; is it a swapsim sweep?")
    return finished


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@dataclass
class Plan:
    """What a sweep would run, without running it: the design, its size and a timed estimate (`--dry-run`)."""

    spec: spec_module.SweepSpec
    design: pd.DataFrame
    replications: int
    chunk_size: int
    workers: int
    timed_runs: int
    timed_seconds: float

    @property
    def total_runs(self) -> int:
        return len(self.design) * self.replications

    @property
    def seconds(self) -> float:
        """Estimated computing time of every run on the workers, from this process's pace on a sample of the runs
        (spread over the design); writing and figures come on top."""
        return self.total_runs / (self.timed_runs / self.timed_seconds) / self.workers


def plan(spec: spec_module.SweepSpec, workers: int | None = None, lanes: int | None = None) -> Plan:
    """The sweep's design, and the time one chunk's worth of its runs (points spread over the design, replicate
    seeds in turn; at most 4,000) takes as one batch of lanes in this process."""
    workers = workers or pool.default_workers()
    base = spec_module.base_scenario(spec)
    design = spec_module.expand(spec)
    seeds = spec_module.replicate_seeds(spec)
    total = len(design) * len(seeds)
    chunk_size = spec.chunk_size or chunks.auto_chunk_size(total, workers, lanes or batches.DEFAULT_LANES)
    run = np.unique(np.linspace(0, total - 1, min(chunk_size, total, 4000)).round().astype(np.int64))
    started = time.perf_counter()
    batches.run_batch(_batch(0, run, base, design, list(spec.parameters), seeds))
    return Plan(spec, design, len(seeds), chunk_size, workers, len(run), time.perf_counter() - started)


def _manifest(spec, base: Scenario, design: pd.DataFrame, seeds, workers: int, lanes: int | None, command,
              posterior: Posterior | None) -> dict:
    total = len(design) * len(seeds)
    return {
        "posterior": None if posterior is None else posterior.identity(),
        "name": spec.name,
        "spec_hash": spec_module.spec_hash(spec),
        "spec": json.loads(spec.model_dump_json()),
        "base_scenario": base.model_dump(mode="json"),
        "sampler": spec.sampler,
        "points": len(design),
        "replications": len(seeds),
        "total_runs": total,
        "chunk_size": spec.chunk_size or chunks.auto_chunk_size(total, workers, lanes or batches.DEFAULT_LANES),
        "code": code_version(),
        "root_seed": spec.seed,
        "seeds": [int(s) for s in seeds],
        "seed_rule": SEED_RULE,
        **provenance(command),
    }


def _batches(layout: chunks.Layout, todo: list[int], base: Scenario, design: pd.DataFrame, params: list[str],
             seeds: np.ndarray, posterior: Posterior | None = None) -> Iterator[batches.Batch]:
    """The batch of lanes of each chunk still to run."""
    for index in todo:
        first, last = layout.bounds(index)
        yield _batch(index, np.arange(first, last), base, design, params, seeds, posterior)


def _batch(index: int, run: np.ndarray, base: Scenario, design: pd.DataFrame, params: list[str], seeds: np.ndarray,
           posterior: Posterior | None = None) -> batches.Batch:
    """One batch of lanes for these runs (by number): their points, replicates, seeds and parameter values.

    Parameters the lanes can take as overrides go as arrays; any other (a date, an event's
    field) gets a scenario per point.
    """
    replications = len(seeds)
    direct = [p for p in params if overridable(p)]
    rebuilt = [p for p in params if not overridable(p)]
    point, replicate = run // replications, run % replications
    rows = design.iloc[point]
    if rebuilt:
        distinct = sorted(set(point.tolist()))
        scenarios = tuple(spec_module.point_scenario(base, design.iloc[p][rebuilt]) for p in distinct)
        scenario_of_lane = np.searchsorted(distinct, point)
    else:
        scenarios, scenario_of_lane = (base,), np.zeros(len(run), dtype=np.int64)
    labels = {"point": point, "replicate": replicate}
    if posterior:
        labels["particle"] = posterior.clusters(seeds[replicate])
    labels.update({p: rows[p].to_numpy() for p in params})
    overrides = posterior.overrides(base, seeds[replicate], keep=frozenset(params)) if posterior else {}
    overrides.update({p: rows[p].to_numpy() for p in direct})
    return batches.Batch(index=index, scenarios=scenarios, scenario_of_lane=scenario_of_lane,
                         seeds=seeds[replicate], labels=labels, overrides=overrides)

"""Run a sweep spec end to end: design points, chunks on an executor, tables, figures, summary."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.reports import analysis

from sim.experiments import chunks

from sim.experiments import storage

from sim.experiments import sweep_spec as sweep
from sim.model.outcomes import OUTCOMES
from sim.experiments.provenance import code_version, provenance
from sim.experiments.runs import SEED_RULE, process_pool, progress_bar


class ExecutorError(RuntimeError):
    """The requested executor cannot be had (Dask missing, scheduler unreachable)."""


@contextlib.contextmanager
def open_executor(workers: int, address: str | None = None) -> Iterator[Executor]:
    """A concurrent.futures Executor: a Dask cluster's when `address` names a scheduler, else a local pool."""
    if address:
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError("--address needs Dask: pip install 'swapsim[dask]'") from None
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            yield client.get_executor()
        finally:
            client.close()
    elif workers > 1:
        with process_pool(workers) as pool:
            yield pool
    else:
        yield chunks.InlineExecutor()


@dataclass
class SweepResults:
    """A finished sweep: its folder, its point table and, for Sobol designs, the indices."""

    spec: sweep.SweepSpec
    out: Path
    points: pd.DataFrame
    sobol: pd.DataFrame | None
    summary: dict

    def runs(self) -> pd.DataFrame:
        """Every run (point, replicate, seed, parameters, outcome, metrics); loads runs.parquet."""
        return pd.read_parquet(self.out / "runs.parquet")


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def run_sweep(
    spec: sweep.SweepSpec,
    out: str | Path,
    workers: int | None = None,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
    command: list[str] | None = None,
    figures: bool = True,
) -> SweepResults:
    """Run every (point, replicate) of the spec, chunk by chunk, resumable; then write the tables.

    Replicate k uses the same seed at every point (common random numbers). Results
    do not depend on the executor, the number of workers or the chunk size.
    """
    out = Path(out)
    workers = workers or default_workers()
    base = sweep.base_scenario(spec)
    design = sweep.expand(spec)
    seeds = sweep.replicate_seeds(spec)
    with open_executor(workers, address) as executor:  # an unreachable cluster fails before anything is written
        manifest, aside = chunks.prepare(out, _manifest(spec, base, design, seeds, workers, command), resume, force)
        storage.write_parquet(out / "design.parquet", design)
        layout = chunks.Layout(out, len(design) * len(seeds), manifest["chunk_size"])
        todo = [i for i in range(layout.n_chunks) if i not in layout.done()]
        runs_left = sum(layout.bounds(i)[1] - layout.bounds(i)[0] for i in todo)
        bar = progress_bar(layout.total_runs, spec.name, layout.total_runs - runs_left, leave=True) if progress else None
        started = time.perf_counter()
        try:
            plan = _chunk_plan(layout, base, design, list(spec.parameters), seeds)
            chunks.execute((plan(i) for i in todo), layout, executor, bar.update if bar else None)
        finally:
            if bar:
                bar.close()
    results = finish(spec, out, layout, list(spec.parameters), manifest, time.perf_counter() - started, len(todo), figures)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return results


def _manifest(spec, base, design: pd.DataFrame, seeds: list[int], workers: int, command) -> dict:
    total = len(design) * len(seeds)
    return {
        "name": spec.name,
        "spec_hash": sweep.spec_hash(spec),
        "spec": json.loads(spec.model_dump_json()),
        "base_scenario": base.model_dump(mode="json"),
        "sampler": spec.sampler,
        "points": len(design),
        "replications": len(seeds),
        "total_runs": total,
        "chunk_size": spec.chunk_size or chunks.auto_chunk_size(total, workers),
        "code": code_version(),
        "root_seed": spec.seed,
        "seeds": seeds,
        "seed_rule": SEED_RULE,
        **provenance(command),
    }


def _chunk_plan(layout: chunks.Layout, base, design: pd.DataFrame, params: list[str], seeds: list[int]):
    """A function from chunk index to the Chunk a worker computes: its runs and the points they touch."""
    values = {int(point): row for point, row in zip(design["point"], design[params].itertuples(index=False, name=None))}
    replications = len(seeds)

    def make(index: int) -> chunks.Chunk:
        first, last = layout.bounds(index)
        touched = range(first // replications, (last - 1) // replications + 1)
        return chunks.Chunk(index, first, last, base, tuple(params), {p: values[p] for p in touched}, tuple(seeds))

    return make


def finish(spec, out: Path, layout: chunks.Layout, params: list[str], manifest: dict, elapsed: float,
           chunks_run: int, figures: bool) -> SweepResults:
    """Combine the chunks into runs and point tables, with CSV copies, figures and a summary."""
    n_rows = chunks.combine(layout, out / "runs.parquet")
    storage.atomic_write(out / "runs.csv", lambda tmp: _stream_csv(layout, tmp))
    points = analysis.point_table(chunks.iter_chunk_frames(layout), params)
    storage.write_parquet(out / "points.parquet", points)
    storage.write_csv(out / "points.csv", points)
    sobol = None
    if spec.sampler == "sobol":
        sobol = analysis.sobol_indices(sweep.problem(spec), points, spec.outputs, spec.seed)
        storage.write_csv(out / "sobol.csv", sobol)
    if figures:
        from sim.reports import figures as plots
        from sim.reports import sweep_figures as sweep_plots

        for name, fig in sweep_plots.sweep_figures(points, params, spec.name, spec.sampler, sobol).items():
            plots.save(fig, out / "figures" / f"{name}.png")
    failed = int(points["failed"].sum())
    valid = int(points["runs"].sum()) - failed
    summary = {
        "name": spec.name,
        "points": int(len(points)),
        "replications": manifest["replications"],
        "runs": n_rows,
        "failed_runs": failed,
        "outcomes": {
            name: {"count": int(points[f"{name}_count"].sum()),
                   "rate": float(points[f"{name}_count"].sum() / valid) if valid else None}
            for name in OUTCOMES
        },
        "chunks": layout.n_chunks,
        "chunks_run_this_time": chunks_run,
        "seconds_this_time": round(elapsed, 2),
    }
    storage.write_json(out / "summary.json", summary)
    manifest = {**manifest, "complete": True,
                "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "chunks" not in p.parts)}
    storage.write_json(out / "sweep.json", manifest)
    return SweepResults(spec, out, points, sobol, summary)


def _stream_csv(layout: chunks.Layout, dest: Path) -> None:
    header = True
    with open(dest, "w", encoding="utf-8", newline="") as fh:
        for frame in chunks.iter_chunk_frames(layout):
            frame.to_csv(fh, index=False, header=header)
            header = False


def format_summary(results: SweepResults, shown: int = 6) -> str:
    """The terminal summary: totals and overall rates, then the points most and least prone to break down."""
    s, points = results.summary, results.points
    rates = ", ".join(f"{name} {o['rate']:.1%}" for name, o in s["outcomes"].items() if o["rate"] is not None)
    lines = [f"{s['name']}: {s['points']} points × {s['replications']} replications = {s['runs']:,} runs"
             f" ({s['failed_runs']} failed); {s['chunks_run_this_time']} of {s['chunks']} chunks run now"
             f" in {s['seconds_this_time']:.1f} s", f"  over all runs: {rates}", ""]
    cols = [c for c in points.columns if c in results.spec.parameters]
    table = points[["point", *cols, "completed_rate", "deadlocked_rate", "collapsed_rate", "runs"]].copy()
    ranked = table.assign(_broken=points["deadlock_or_collapse_rate"]).sort_values(["_broken", "point"])
    for c in ("completed_rate", "deadlocked_rate", "collapsed_rate"):
        table[c] = (100 * table[c]).map("{:5.1f}%".format)
    if len(table) <= 2 * shown:
        lines.append(table.to_string(index=False))
    else:
        lines += [f"  the {shown} points with the most deadlock or collapse:",
                  table.loc[ranked.index[::-1][:shown]].to_string(index=False), "",
                  f"  the {shown} points with the least:", table.loc[ranked.index[:shown]].to_string(index=False), "",
                  f"  every point: {results.out / 'points.csv'}"]
    lines += ["", f"written to {results.out}/ (runs.parquet, points.parquet, CSV copies, summary.json, figures/)"]
    return "\n".join(lines)

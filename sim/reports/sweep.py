"""A sweep's report: the point table (rates with Wilson intervals), Sobol indices, figures and summary.

    from sim.experiments import sweep_spec
    from sim.reports import sweep
    spec = sweep_spec.load_spec("scenarios/sweeps/trust_grid.yaml")
    grid = sweep.sweep(spec, "results/trust_grid", workers=2, resume=True)
    grid.points          # one row per point: rates with Wilson intervals, metric means
    grid.runs()          # every run, with its point, replicate and seed
"""

from __future__ import annotations

import shutil
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.experiments import chunks, storage
from sim.experiments import sweep_spec as spec_module
from sim.experiments.calibration import Posterior
from sim.experiments.sweeps import SweepRun, run_sweep
from sim.model.outcomes import OUTCOMES
from sim.reports import analysis
from sim.reports import figures as drawing
from sim.reports import sweep_figures


@dataclass
class SweepResults:
    """A finished sweep: its folder, its point table and, for Sobol designs, the indices."""

    spec: spec_module.SweepSpec
    out: Path
    points: pd.DataFrame
    sobol: pd.DataFrame | None
    summary: dict

    def runs(self) -> pd.DataFrame:
        """Every run (point, replicate, seed, parameters, outcome, metrics); loads runs.parquet."""
        return pd.read_parquet(self.out / "runs.parquet")


def sweep(spec: spec_module.SweepSpec, out: str | Path, workers: int | None = None, lanes: int | None = None,
          address: str | None = None, resume: bool = False, force: bool = False, progress: bool = False,
          command: list[str] | None = None, figures: bool = True, executor: Executor | None = None,
          posterior: Posterior | None = None) -> SweepResults:
    """Run a sweep (resumable) and write its report: `run_sweep`, then `report`."""
    done = run_sweep(spec, out, workers, lanes, address, resume, force, progress, command, executor, posterior)
    return report(done, figures)


def report(done: SweepRun, figures: bool = True) -> SweepResults:
    """Point table with CSV copy, Sobol indices, figures and summary of a sweep whose chunks are written."""
    spec, out, layout, params = done.spec, done.out, done.layout, done.params
    points = analysis.point_table(chunks.iter_chunk_frames(layout), params)
    storage.write_parquet(out / "points.parquet", points)
    storage.write_csv(out / "points.csv", points)
    sobol = None
    if spec.sampler == "sobol":
        sobol = analysis.sobol_indices(spec_module.problem(spec), points, spec.outputs, spec.seed)
        storage.write_csv(out / "sobol.csv", sobol)
    if figures:
        for name, fig in sweep_figures.sweep_figures(points, params, spec.name, spec.sampler, sobol).items():
            drawing.save(fig, out / "figures" / f"{name}.png")
    failed = int(points["failed"].sum())
    valid = int(points["runs"].sum()) - failed
    summary = {
        "name": spec.name,
        "points": int(len(points)),
        "replications": done.manifest["replications"],
        "runs": int(points["runs"].sum()),
        "failed_runs": failed,
        "outcomes": {
            name: {"count": int(points[f"{name}_count"].sum()),
                   "rate": float(points[f"{name}_count"].sum() / valid) if valid else None}
            for name in OUTCOMES
        },
        "chunks": layout.n_chunks,
        "chunks_run_this_time": done.chunks_run,
        "seconds_this_time": round(done.seconds, 2),
    }
    storage.write_json(out / "summary.json", summary)
    manifest = {**done.manifest, "complete": True,
                "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "chunks" not in p.parts)}
    storage.write_json(out / "sweep.json", manifest)
    if done.aside is not None:
        shutil.rmtree(done.aside, ignore_errors=True)
    return SweepResults(spec, out, points, sobol, summary)


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

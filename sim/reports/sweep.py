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

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.experiments import chunks, storage
from sim.experiments import sweep_spec as spec_module
from sim.experiments.posterior import Posterior
from sim.experiments.sweeps import Plan, SweepRun, run_sweep
from sim.model.outcomes import OUTCOMES
from sim.reports import analysis, comparison
from sim.reports import figures as drawing
from sim.reports import sweep_figures
from sim.reports.words import count


@dataclass
class SweepResults:
    """A finished sweep: its folder, its point table and, for Sobol designs, the indices."""

    spec: spec_module.SweepSpec
    out: Path
    points: pd.DataFrame
    sobol: pd.DataFrame | None
    summary: dict
    differences: pd.DataFrame | None = None  # grids with a choice parameter: paired differences between its values

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
    differences = point_differences(spec, layout, params)
    if differences is not None:
        storage.write_csv(out / "point_differences.csv", differences)
    if figures:
        for name, fig in sweep_figures_of(spec, points, params, sobol).items():
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
    return SweepResults(spec, out, points, sobol, summary, differences)


def sweep_figures_of(spec: spec_module.SweepSpec, points: pd.DataFrame, params: list[str],
                     sobol: pd.DataFrame | None = None) -> dict[str, Figure]:
    """The figures a sweep's folder gets, by file name: those that suit its design, choices in the spec's order."""
    return sweep_figures.sweep_figures(in_spec_order(spec, points, params), params, spec.name, spec.sampler, sobol)


def in_spec_order(spec: spec_module.SweepSpec, points: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """`points` with each listed choice (a commander policy, a yes/no) as a pandas Categorical in the spec's order, so
    figures show its values as the spec lists them, not in the order a random design first drew them."""
    listed = {p: spec.parameters[p].values() for p in params if isinstance(spec.parameters[p], spec_module.ValuesList)}
    choices = {p: values for p, values in listed.items() if sweep_figures.is_categorical(points[p])}
    return points.assign(**{p: pd.Categorical(points[p], categories=v) for p, v in choices.items()}) if choices \
        else points


def categorical_parameters(spec: spec_module.SweepSpec, params: list[str]) -> list[str]:
    """The grid's parameters whose values are choices (a commander policy, a yes/no), not numbers."""
    if spec.sampler != "grid":
        return []
    design = spec_module.expand(spec)
    return [p for p in params if not pd.api.types.is_numeric_dtype(design[p]) or pd.api.types.is_bool_dtype(design[p])]


def point_differences(spec: spec_module.SweepSpec, layout: chunks.Layout, params: list[str]) -> pd.DataFrame | None:
    """For each choice parameter of a grid, each of its values against the first, at every combination of the other
    parameters: the paired difference of each outcome rate (replicate k has the same seed at every point), as
    `swapsim compare` gives between scenarios. None when the sweep has no choice parameter."""
    choices = categorical_parameters(spec, params)
    if not choices:
        return None
    runs = pd.concat(frame[["point", "replicate", "seed", "outcome", *params]] for frame in chunks.iter_chunk_frames(layout))
    runs = runs[runs["outcome"] != "error"]
    tables = []
    for choice in choices:
        others = [p for p in params if p != choice]
        levels = [str(v) for v in dict.fromkeys(spec_module.expand(spec)[choice])]
        groups = runs.groupby(others, sort=False) if others else [((), runs)]
        for key, group in groups:
            paired = group.assign(scenario=group[choice].astype(str), run=group["replicate"])
            table = comparison.differences_of(paired, names=levels, baseline=levels[0])
            fixed = dict(zip(others, key if isinstance(key, tuple) else (key,)))
            tables.append(table.rename(columns={"scenario": "value", "baseline": "baseline_value"})
                          .assign(parameter=choice, **fixed))
    table = pd.concat(tables, ignore_index=True)
    first = ["parameter", "value", "baseline_value", *[p for p in params if p in table]]
    return table[first + [c for c in table.columns if c not in first]]


def _rate_text(rate: float, low: float, high: float) -> str:
    """"45.0% [38.2–51.9]": a rate and its Wilson 95% interval, in one column of a table."""
    return "—" if np.isnan(rate) else f"{100 * rate:5.1f}% [{100 * low:.1f}–{100 * high:.1f}]"


def format_plan(plan: Plan) -> str:
    """What `swapsim sweep --dry-run` prints: the design, its size and the estimated time."""
    spec, design = plan.spec, plan.design
    lines = [f"{spec.name}: {spec.sampler} design over {count(len(spec.parameters), 'parameter')}: "
             f"{count(len(design), 'point')} × {count(plan.replications, 'replication')} = "
             f"{count(plan.total_runs, 'run')}, in chunks of {plan.chunk_size:,}; root seed {spec.seed}"]
    for path in spec.parameters:
        values = design[path].drop_duplicates()
        text = (lambda v: f"{v:.4g}") if pd.api.types.is_float_dtype(values) else str
        shown = ", ".join(map(text, values.head(6).tolist())) + (", ..." if len(values) > 6 else "")
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        span = f"{text(values.min())} to {text(values.max())}, " if numeric and len(values) > 6 else ""
        lines.append(f"  {path}: {span}{count(len(values), 'distinct value')} ({shown})")
    lines.append(f"  estimated time: about {plan.seconds:,.1f} s of runs on {count(plan.workers, 'worker')}, "
                 f"from {plan.timed_runs:,} of its runs timed here in "
                 f"{plan.timed_seconds:.2f} s (writing and figures come on top)")
    lines.append("nothing was run (--dry-run)")
    return "\n".join(lines)


def _differences_text(differences: pd.DataFrame, shown: int) -> list[str]:
    """The paired differences of the completion and collapse rates, each value of a choice against the first."""
    rows = differences[differences["outcome"].isin(["completed", "collapsed"])]
    fixed = [c for c in rows.columns[3:] if c not in comparison.DIFFERENCE_COLUMNS and c != "parameter"]
    table = rows[["value", "baseline_value", *fixed, "outcome"]].copy()
    table["difference (95% interval), points"] = [
        f"{100 * d:+5.1f} [{100 * lo:+.1f} to {100 * hi:+.1f}]" for d, lo, hi in rows[["difference", "low", "high"]].to_numpy()]
    table["McNemar p"] = rows["p_value"].map(lambda v: "<0.001" if v < 0.001 else f"{v:.3f}")
    head = [f"  paired differences against the first value of {', '.join(dict.fromkeys(rows['parameter']))}"
            " (replicate k has the same seed at every point):"]
    if len(table) > 4 * shown:
        head[0] += f" the first {4 * shown} of {len(table)}"
        table = table.head(4 * shown)
    return head + [table.to_string(index=False)]


# Below this many runs per point a point's own rate is mostly noise (its Wilson interval is over
# 30 points wide at 20 runs), so the summary reports how rates move with each parameter instead.
MIN_RUNS_PER_POINT = 20
TREND_BINS = 5  # quantile bins of a continuous parameter in the trend lines


def _bin_names(values: pd.Series, codes: pd.Series, labels: list[str], categorical: bool) -> dict[int, str]:
    """Each bin's name: its value, or the range of its points' values for a quantile bin."""
    if categorical or values.nunique() == len(labels):
        return dict(enumerate(labels))
    low, high = values.groupby(codes).min(), values.groupby(codes).max()
    span = float(values.max() - values.min())
    decimals = max(0, 2 - round(np.log10(span))) if span > 0 else 2
    return {int(c): f"{low[c]:.{decimals}f}–{high[c]:.{decimals}f}" for c in low.index}


def trend_lines(points: pd.DataFrame, params: list[str], outcome: str = "deadlock_or_collapse") -> list[str]:
    """For a sweep with few runs per point: for each parameter, the bins of its values (fifths of its range, or
    each of its values) where `outcome` is least and most frequent, pooled over the other parameters."""
    rows = []
    for par in params:
        codes, _, labels, categorical = sweep_figures._bins(points[par], bins=TREND_BINS)
        names = _bin_names(points[par], codes, labels, categorical)
        rates = analysis.bin_rates(points, codes, outcome)
        if len(rates) < 2:
            continue
        low, high = rates["rate"].idxmin(), rates["rate"].idxmax()
        rows.append({"parameter": par,
                     "where least": f"{names[int(low)]}: {_rate_text(*rates.loc[low, ['rate', 'low', 'high']])}",
                     "where most": f"{names[int(high)]}: {_rate_text(*rates.loc[high, ['rate', 'low', 'high']])}",
                     "spread": 100 * (rates.loc[high, "rate"] - rates.loc[low, "rate"])})
    if not rows:
        return []
    table = pd.DataFrame(rows).sort_values("spread", ascending=False)
    table["spread"] = table["spread"].map(lambda v: f"{v:.1f}")
    what = outcome.replace("_or_", " or ")
    return [f"  {what} by each parameter, pooled over the others: the fifth of its range (or its value) where",
            "  least and most frequent, with 95% intervals; spread in points, widest first:",
            table.to_string(index=False)]


def _sobol_text(sobol: pd.DataFrame) -> list[str]:
    """Each output's first-order and total Sobol indices with their 95% half-widths, largest total first."""
    lines = ["  Sobol indices, first-order (S1) and total (ST), each ± its 95% confidence half-width:"]
    for output, rows in sobol.groupby("output", sort=False):
        rows = rows.sort_values("ST", ascending=False)
        table = pd.DataFrame({output: rows["parameter"].str.ljust(rows["parameter"].str.len().max()),
                              "S1": [f"{v:.2f} ± {h:.2f}" for v, h in rows[["S1", "S1_conf"]].to_numpy()],
                              "ST": [f"{v:.2f} ± {h:.2f}" for v, h in rows[["ST", "ST_conf"]].to_numpy()]})
        lines += ["    " + line for line in table.to_string(index=False).splitlines()]
    return lines


def format_summary(results: SweepResults, shown: int = 6) -> str:
    """The terminal summary: totals and overall rates, then the points most and least prone to break down."""
    s, points = results.summary, results.points
    valid = s["runs"] - s["failed_runs"]
    rates = ", ".join(f"{name} {_rate_text(o['rate'], *analysis.wilson_interval(o['count'], valid)).strip()}"
                      for name, o in s["outcomes"].items() if o["rate"] is not None)
    lines = [f"{s['name']}: {count(s['points'], 'point')} × {count(s['replications'], 'replication')} = "
             f"{count(s['runs'], 'run')} ({s['failed_runs']} failed); {s['chunks_run_this_time']} of "
             f"{count(s['chunks'], 'chunk')} run now"
             f" in {s['seconds_this_time']:.1f} s", "  over all runs, with 95% intervals:", f"    {rates}", ""]
    cols = [c for c in points.columns if c in results.spec.parameters]
    table = points[["point", *cols]].copy()
    for name in ("completed", "deadlocked", "collapsed"):
        table[f"{name} (95% interval)"] = [_rate_text(*row) for row in
                                           points[[f"{name}_rate", f"{name}_low", f"{name}_high"]].to_numpy()]
    table["runs"] = points["runs"]
    ranked = table.assign(_broken=points["deadlock_or_collapse_rate"]).sort_values(["_broken", "point"])
    if points["runs"].median() < MIN_RUNS_PER_POINT and len(table) > 2 * shown:
        lines += [f"  {count(round(points['runs'].median()), 'run')} per point: too few to rank points "
                  f"(see {results.out / 'points.csv'}).", *trend_lines(points, cols)]
    elif len(table) <= 2 * shown:
        lines.append(table.to_string(index=False))
    else:
        lines += [f"  the {shown} points with the most deadlock or collapse:",
                  table.loc[ranked.index[::-1][:shown]].to_string(index=False), "",
                  f"  the {shown} points with the least:", table.loc[ranked.index[:shown]].to_string(index=False), "",
                  f"  every point: {results.out / 'points.csv'}"]
    if results.sobol is not None:
        lines += ["", *_sobol_text(results.sobol), f"  every index: {results.out / 'sobol.csv'}"]
    if results.differences is not None:
        lines += ["", *_differences_text(results.differences, shown), f"  every difference: {results.out / 'point_differences.csv'}"]
    lines += ["", f"written to {results.out}/ (runs.parquet, points.parquet, CSV copies, summary.json, figures/)"]
    return "\n".join(lines)

"""A run's report: outcome rates, summary, figures and the results folder `swapsim run` writes.

`run_to_folder` streams the runs batch by batch into the folder (tables to Parquet
and CSV, figures from per-day histograms), so memory stays bounded however many
runs there are; `save` writes the same folder from results held in memory.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

import pandas as pd

from sim import DEFAULT_RUNS, DEFAULT_SEED
from sim.experiments import batches, storage
from sim.experiments import observed as record
from sim.experiments.provenance import provenance
from sim.experiments.posterior import Posterior
from sim.experiments.runs import Results, check_fits, stream, with_dates
from sim.experiments.seeds import SEED_RULE
from sim.model.outcomes import METRIC_NAMES
from sim.model.scenario import Scenario, to_yaml
from sim.reports import analysis
from sim.reports import figures as drawing
from sim.reports.words import count

MANIFEST_SEEDS = 10_000  # the manifest lists every run's seed up to this many runs (runs.parquet always does)


def rates(results: Results) -> pd.DataFrame:
    """Rate of each outcome with its Wilson 95% interval."""
    return analysis.outcome_rates(results.runs)


def summary(scenario: Scenario, root_seed: int, runs: pd.DataFrame, rates: pd.DataFrame | None = None) -> dict:
    """Outcome counts and rates with Wilson intervals (`rates`, if already computed), and the metrics'
    means, medians and 5-95% ranges."""
    table = (analysis.outcome_rates(runs) if rates is None else rates).set_index("outcome")
    return {
        "scenario": scenario.metadata.name,
        "runs": int(len(runs)),
        "root_seed": int(root_seed),
        "outcomes": {
            name: {"count": int(row["count"]), "rate": float(row["rate"]), "ci95": [float(row["low"]), float(row["high"])],
                   **({"mc90": [float(row["mc_low"]), float(row["mc_high"])]} if "mc_low" in row else {})}
            for name, row in table.iterrows()
        },
        "metrics": analysis.metric_summary(runs).round(4).to_dict(orient="index"),
    }


def figures(results: Results, observed: pd.DataFrame | None = None) -> dict:
    """The standard figures (releases, trust, attacks, outcomes) as matplotlib Figures."""
    if results.series is None:
        raise ValueError("these results were run without daily series; run with series=True for figures")
    writer = FolderWriter(None, results.scenario, series=True)
    writer.add(results.runs, results.series)
    return writer.figures(observed, rates(results))


def save(results: Results, out: str | Path, force: bool = False, command: list[str] | None = None,
         figures: bool = True) -> Path:
    """Write the results folder atomically: it appears complete or not at all."""
    with storage.staged_directory(out, force) as stage:
        writer = FolderWriter(stage, results.scenario, series=results.series is not None, figures=figures)
        writer.add(results.runs, results.series)
        writer.close(results.root_seed, results.meta, command)
    return Path(out)


def _uppers(scenario: Scenario) -> dict[str, int]:
    """The most each side can release: the range of the releases' histograms."""
    p = scenario.protocol
    return {"government_released": p.government_prisoners, "taliban_released": p.taliban_prisoners,
            "commanders_released": p.commanders}


class FolderWriter:
    """A results folder written batch by batch: tables streamed to Parquet and CSV, the figures'
    per-day statistics accumulated; summary, figures and manifest on `close`.

    With `stage` None nothing is written (only the figures are wanted).
    """

    def __init__(self, stage: Path | None, scenario: Scenario, series: bool, figures: bool = True):
        self.stage, self.scenario, self.figures_wanted = stage, scenario, figures
        self.bands = analysis.DailyBands(scenario.calendar.horizon_days, _uppers(scenario)) if series else None
        self.first_run: pd.DataFrame | None = None  # kept for one-run figures
        self.runs = 0
        if stage is not None:
            self.tables = {"runs": storage.TableStream(stage / "runs.parquet", stage / "runs.csv")}
            if series:
                self.tables["series"] = storage.TableStream(stage / "series.parquet")

    def add(self, runs: pd.DataFrame, series: pd.DataFrame | None) -> None:
        runs = runs.drop(columns="error", errors="ignore")
        self.runs += len(runs)
        if self.stage is not None:
            self.tables["runs"].write(runs)
        if series is not None and self.bands is not None:
            series = with_dates(series, self.scenario)
            if self.stage is not None:
                self.tables["series"].write(series)
            self.bands.add(series)
            if self.first_run is None:
                self.first_run = series[series["run"] == series["run"].iloc[0]]

    def figures(self, observed: pd.DataFrame | None, rates: pd.DataFrame) -> dict:
        single = self.first_run if self.runs == 1 else None
        return drawing.run_figures(self.bands, single, rates, self.scenario, observed)

    def abandon(self) -> None:
        """Close the table files of a folder that will not be finished (its staged folder is removed)."""
        for table in self.tables.values():
            table.close()

    def close(self, root_seed: int, meta: dict, command: list[str] | None) -> dict:
        """Finish the tables, then write rates, summary, scenario, figures and the manifest; return the summary."""
        for table in self.tables.values():
            table.close()
        drew = ["particle"] if meta.get("posterior") else []
        runs = pd.read_parquet(self.stage / "runs.parquet", columns=["run", "seed", *drew, *METRIC_NAMES])
        rates = analysis.outcome_rates(runs)
        result = summary(self.scenario, root_seed, runs, rates)
        if meta.get("posterior"):
            result["posterior"] = meta["posterior"]
        storage.write_csv(self.stage / "outcome_rates.csv", rates)
        storage.write_json(self.stage / "summary.json", result)
        storage.write_text(self.stage / "scenario.yaml", to_yaml(self.scenario))
        if self.figures_wanted and self.bands is not None:
            seen = record.releases() if self.scenario.calendar.start_date.isoformat() == "2020-03-01" else None
            for name, fig in self.figures(seen, rates).items():
                drawing.save(fig, self.stage / "figures" / f"{name}.png")
        elif self.figures_wanted:  # without daily series only the time-series figures are skipped
            drawing.save(drawing.scenario_outcomes_figure(rates, self.scenario, len(runs)),
                         self.stage / "figures" / "outcomes.png")
        seeds = runs["seed"].tolist() if len(runs) <= MANIFEST_SEEDS else \
            f"{len(runs):,} seeds: column `seed` of runs.parquet (rule: seed_rule)"
        manifest = {
            "scenario": self.scenario.model_dump(mode="json"),
            "root_seed": int(root_seed),
            "runs": int(len(runs)),
            "seeds": seeds,
            "seed_rule": SEED_RULE,
            **meta,
            **provenance(command),
            "files": sorted(str(p.relative_to(self.stage)) for p in self.stage.rglob("*") if p.is_file())
            + ["manifest.json"],
        }
        storage.write_json(self.stage / "manifest.json", manifest)
        return result


def run_to_folder(scenario: Scenario, out: str | Path, runs: int = DEFAULT_RUNS, seed: int = DEFAULT_SEED,
                  workers: int = 1, lanes: int | None = None, series: bool = True, force: bool = False,
                  command: list[str] | None = None, progress: bool = False, executor: Executor | None = None,
                  figures: bool = True, posterior: Posterior | None = None) -> dict:
    """Run a scenario and write its results folder as the runs come, in bounded memory; return the summary.

    The folder is built beside `out` and renamed into place when complete.
    """
    out = Path(out)
    storage.check_output(out, force)
    check_fits(out, runs, scenario, series, lanes,
               analysis.DailyBands.bytes_needed(scenario.calendar.horizon_days, _uppers(scenario)) if series else 0)
    with storage.staged_directory(out, force) as stage:
        writer = FolderWriter(stage, scenario, series, figures)
        try:
            for result in stream(scenario, runs, seed, workers, lanes, series, progress, executor, posterior):
                writer.add(result.runs, result.series)
                del result  # let the batch go while the next one runs
        except BaseException:
            writer.abandon()
            raise
        meta = {"workers": workers, "lanes": lanes or batches.default_lanes(series),
                "posterior": None if posterior is None else posterior.identity()}
        return writer.close(seed, meta, command)


def format_summary(result: dict, scenario: Scenario, out: Path | None = None) -> str:
    """A short readable summary: outcome rates with intervals and a few medians."""
    lines = [f"{result['scenario']}: {result['runs']:,} run{'s' if result['runs'] != 1 else ''}, "
             f"root seed {result['root_seed']}"]
    if result.get("posterior"):
        drawn = result["posterior"]
        lines.append(f"  each run drew its parameter set from the posterior in {drawn['folder']}"
                     + (f" ({drawn['distinct']:,} distinct particles)" if "distinct" in drawn else ""))
    drew = any("mc90" in o for o in result["outcomes"].values())
    lines.append("")
    lines.append(f"  {'outcome':<11} {'rate':>7}   95% interval" + ("      90% over the posterior's particles" if drew else ""))
    for name, o in result["outcomes"].items():
        lo, hi = o["ci95"]
        mc = f"   {o['mc90'][0]:6.1%} – {o['mc90'][1]:6.1%}" if drew else ""
        lines.append(f"  {name:<11} {o['rate']:>6.1%}   {lo:6.1%} – {hi:6.1%}{mc}   ({count(o['count'], 'run')})")
    m = result["metrics"]
    lines += [
        "",
        f"  median government releases {m['government_released']['median']:,.0f}"
        f" of {scenario.protocol.government_prisoners:,};"
        f" Taliban releases {m['taliban_released']['median']:,.0f} of {scenario.protocol.taliban_prisoners:,}",
        f"  median end day {m['end_day']['median']:.0f}; median walkouts {m['walkouts']['median']:.0f};"
        f" median longest stall {m['longest_stall_days']['median']:.0f} days",
    ]
    if out is not None:
        written = [name for name in ("summary.json", "runs.parquet", "series.parquet", "figures/")
                   if (Path(out) / name.rstrip("/")).exists()]
        lines += ["", f"  written to {out}/ ({', '.join(written)})"]
    return "\n".join(lines)

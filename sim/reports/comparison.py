"""A comparison's statistics, table and folder: outcome rates, paired differences and tests.

Runs are paired by replicate (the same seed in every scenario): the difference of an
outcome's rate between two scenarios gets Newcombe's interval for paired proportions
and McNemar's exact test, narrower and more powerful than their unpaired
counterparts when the scenarios' runs are positively correlated. The difference of a
run metric's mean (end day, releases, walkouts...) gets the paired t interval and test.

    from sim.model.scenario import load
    from sim.experiments import comparisons
    from sim.reports import comparison
    c = comparisons.compare([load("scenarios/decree_2020.yaml"), load("scenarios/doha_unconditional.yaml")],
                            runs=200, seed=1)
    comparison.rates(c)        # rate of each outcome per scenario, Wilson 95% interval
    comparison.differences(c)  # against the first scenario: paired interval, McNemar p-value
    comparison.metric_differences(c)  # mean run metrics against the first: paired t interval and test
    print(comparison.format_table(c))
    comparison.save(c, "results/compare")

`to_precision` keeps doubling the replications (the first ones are kept: replicate
k's seed depends only on the root seed and k) until every Wilson interval's
half-width is below a target, or until a ceiling of runs per scenario.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path

import pandas as pd

from sim import DEFAULT_RUNS, DEFAULT_SEED
from sim.experiments import batches, storage
from sim.experiments.posterior import Posterior
from sim.experiments.comparisons import Comparison, compare, extend
from sim.experiments.provenance import provenance
from sim.experiments.seeds import SEED_RULE
from sim.model.outcomes import METRICS, METRIC_NAMES, OUTCOMES
from sim.model.scenario import Scenario
from sim.reports import analysis, bootstrap
from sim.reports import figures as drawing
from sim.reports.analysis import ALPHA, paired_difference, paired_mean_difference
from sim.reports.words import count

RATE_COLUMNS = ["scenario", "outcome", "count", "runs", "rate", "low", "high"]
DIFFERENCE_COLUMNS = [
    "scenario", "outcome", "baseline", "runs", "baseline_rate", "rate", "difference", "low", "high",
    "discordant_a_only", "discordant_b_only", "p_value", "significant",
]
MONTE_CARLO_COLUMNS = ["mc_low", "mc_high"]  # with --posterior: 90% over the posterior's particles
METRIC_DIFFERENCE_COLUMNS = [
    "scenario", "metric", "baseline", "runs", "pairs", "baseline_mean", "mean", "difference", "low", "high",
    "p_value", "significant",
]
# Run metrics of the console's section on metrics (metric_differences.csv has every numeric one).
KEY_METRICS = ("end_day", "government_released", "taliban_released", "first_release_day", "longest_stall_days",
               "walkouts")


def rates(comparison: Comparison) -> pd.DataFrame:
    """Rate of each outcome per scenario with its Wilson 95% interval, in the scenarios' order.

    Columns: scenario, outcome, count, runs, rate, low, high.
    """
    return rates_of(comparison.runs, comparison.names)


def differences(comparison: Comparison, baseline: str | None = None, alpha: float = ALPHA) -> pd.DataFrame:
    """Each scenario against the baseline (default: the first), outcome by outcome, paired by replicate.

    Columns: scenario, outcome, baseline, runs (pairs), baseline_rate, rate,
    difference (rate − baseline_rate), low, high (Newcombe's paired 95% interval),
    discordant_a_only (runs where only the baseline had the outcome),
    discordant_b_only (only this scenario), p_value (McNemar exact),
    significant (p < alpha). No correction for multiple comparisons is made.
    """
    return differences_of(comparison.runs, comparison.names, baseline, alpha)


def metric_differences(comparison: Comparison, baseline: str | None = None, alpha: float = ALPHA,
                       metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Each scenario against the baseline (default: the first), run metric by run metric, paired by replicate.

    Columns: scenario, metric, baseline, runs (replicates paired), pairs (those where
    both values are present: fewer for first_release_day, NaN without a release),
    baseline_mean, mean (over those pairs), difference (mean − baseline_mean, the
    mean paired difference), low, high (paired t 95% interval), p_value (paired
    t-test), significant (p < alpha). Metrics: every numeric run metric by default.
    No correction for multiple comparisons is made.
    """
    return metric_differences_of(comparison.runs, comparison.names, baseline, alpha, metrics)


def half_widths(comparison: Comparison) -> pd.Series:
    """Half-width of every Wilson interval, indexed by (scenario, outcome)."""
    r = rates(comparison)
    return ((r["high"] - r["low"]) / 2).set_axis(pd.MultiIndex.from_frame(r[["scenario", "outcome"]]))


def to_precision(scenarios: Sequence[Scenario], precision: float, runs: int = DEFAULT_RUNS, max_runs: int = 20000,
                 seed: int = DEFAULT_SEED, workers: int = 1, lanes: int | None = None,
                 progress: bool = False, executor: Executor | None = None,
                 posterior: Posterior | None = None) -> Comparison:
    """Compare, doubling the replications until every half-width is below `precision` or `max_runs` is reached.

    The replicates already run are kept; `precision_reached` says whether the target was met.
    """
    if not 0 < precision < 1:
        raise ValueError(f"precision is a half-width of a proportion: it must lie between 0 and 1, got {precision}")
    if max_runs < runs:
        raise ValueError(f"max_runs ({max_runs}) is below the starting runs ({runs})")
    with batches.open_executor(workers, executor=executor) as pool:
        c = compare(scenarios, runs, seed, workers, lanes, progress, executor=pool, posterior=posterior)
        c.precision, c.max_runs = precision, max_runs
        while True:
            if bool((half_widths(c) < precision).all()):
                c.precision_reached = True
                return c
            if c.runs_per_scenario >= max_runs:
                c.precision_reached = False
                return c
            extend(c, min(2 * c.runs_per_scenario, max_runs), workers, lanes, progress, executor=pool)


def _order(names: Sequence[str] | None, runs: pd.DataFrame) -> list[str]:
    return list(names) if names is not None else list(dict.fromkeys(runs["scenario"]))


def rates_of(runs: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Outcome rates per scenario (Wilson 95%), scenarios in the order given (default: as they appear)."""
    names = _order(names, runs)
    table = analysis.outcome_rates(runs, by="scenario")
    table["scenario"] = table["scenario"].astype(str)
    table = table[table["scenario"].isin(names)]
    key = table["scenario"].map({n: i for i, n in enumerate(names)}) * len(OUTCOMES) + \
        table["outcome"].map({o: i for i, o in enumerate(OUTCOMES)})
    columns = RATE_COLUMNS + (MONTE_CARLO_COLUMNS if "mc_low" in table else [])
    return table.assign(_key=key).sort_values("_key").drop(columns="_key")[columns].reset_index(drop=True)


def _pairs(runs: pd.DataFrame, names: Sequence[str] | None, baseline: str | None
           ) -> Iterator[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(scenario, baseline, baseline's runs, scenario's runs) for every other scenario, both on their common
    replicates in the same order: row k of each is replicate k, on the same seed."""
    names = _order(names, runs)
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of the scenarios: {', '.join(names)}")
    by_name = {name: frame.set_index("run").sort_index() for name, frame in runs.groupby("scenario", sort=False)}
    base = by_name[baseline]
    for name in names:
        if name == baseline:
            continue
        other = by_name[name]
        common = base.index.intersection(other.index)
        if len(common) == 0:
            raise ValueError(f"{name} and {baseline} share no replicate to pair")
        if not (base.loc[common, "seed"].to_numpy() == other.loc[common, "seed"].to_numpy()).all():
            raise ValueError(f"{name} and {baseline} were not run on the same seeds: their runs cannot be paired")
        yield name, baseline, base.loc[common], other.loc[common]


def differences_of(runs: pd.DataFrame, names: Sequence[str] | None = None, baseline: str | None = None,
                alpha: float = ALPHA) -> pd.DataFrame:
    """Every other scenario against the baseline, per outcome, paired by replicate (`run`)."""
    rows = []
    for name, baseline, base, other in _pairs(runs, names, baseline):
        for outcome in OUTCOMES:
            d = paired_difference(base["outcome"].to_numpy() == outcome, other["outcome"].to_numpy() == outcome,
                                  alpha)
            rows.append({
                "scenario": name, "outcome": outcome, "baseline": baseline, "runs": d["n"],
                "baseline_rate": d["rate_a"], "rate": d["rate_b"], "difference": d["difference"],
                "low": d["low"], "high": d["high"], "discordant_a_only": d["discordant_a_only"],
                "discordant_b_only": d["discordant_b_only"], "p_value": d["p_value"], "significant": d["significant"],
                **_monte_carlo(base, other, outcome),
            })
    drew = "particle" in runs
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS + (MONTE_CARLO_COLUMNS if drew else []))


def _monte_carlo(base: pd.DataFrame, other: pd.DataFrame, outcome: str) -> dict:
    """With runs drawn from a posterior, the 90% interval of the paired difference over its particles."""
    if "particle" not in base:
        return {}
    change = (other["outcome"].to_numpy() == outcome).astype(float) - (base["outcome"].to_numpy() == outcome)
    _, low, high = bootstrap.mean_interval(change, base["particle"].to_numpy())
    return {"mc_low": low, "mc_high": high}


def numeric_metrics(runs: pd.DataFrame) -> list[str]:
    """The run metrics of a runs table that are numbers (every one but the outcome), in METRIC_NAMES' order."""
    return [m for m in METRIC_NAMES if m in runs and pd.api.types.is_numeric_dtype(runs[m])
            and not pd.api.types.is_bool_dtype(runs[m])]


def metric_differences_of(runs: pd.DataFrame, names: Sequence[str] | None = None, baseline: str | None = None,
                          alpha: float = ALPHA, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Every other scenario against the baseline, per run metric, paired by replicate (`run`)."""
    metrics = numeric_metrics(runs) if metrics is None else list(metrics)
    missing = [m for m in metrics if m not in runs]
    if missing:
        raise ValueError(f"no such run metric: {', '.join(missing)}")
    rows = []
    for name, baseline, base, other in _pairs(runs, names, baseline):
        for metric in metrics:
            d = paired_mean_difference(base[metric].to_numpy(dtype=float), other[metric].to_numpy(dtype=float),
                                       alpha)
            rows.append({
                "scenario": name, "metric": metric, "baseline": baseline, "runs": len(base), "pairs": d["n"],
                "baseline_mean": d["mean_a"], "mean": d["mean_b"], "difference": d["difference"],
                "low": d["low"], "high": d["high"], "p_value": d["p_value"], "significant": d["significant"],
            })
    return pd.DataFrame(rows, columns=METRIC_DIFFERENCE_COLUMNS)



def default_title(comparison: Comparison) -> str:
    title = f"Outcomes compared: {count(comparison.runs_per_scenario, 'run')} per scenario on the same seeds"
    if comparison.posterior is not None:
        title += f",\neach drawing its parameters from the posterior in {comparison.posterior.source.name}/"
    return title


def format_table(comparison: Comparison) -> str:
    """A readable terminal table: rates with intervals, then differences against the first scenario
    (of the outcome rates, then of the means of key run metrics)."""
    n = comparison.runs_per_scenario
    width = max(12, *(len(name) for name in comparison.names))
    k = len(comparison.names)
    lines = [f"{count(k, 'scenario')}, {count(n, 'run')} each, root seed {comparison.root_seed}"
             " (replicate k has the same seed in every scenario)"]
    if comparison.posterior is not None:
        lines.append(f"each run draws its parameter set from the posterior in {comparison.posterior.source} "
                     "(replicate k: the same set in every scenario)")
    if comparison.precision is not None:
        state = ("reached" if comparison.precision_reached
                 else f"NOT reached: stopped at the ceiling of {comparison.max_runs:,} runs")
        worst = float(half_widths(comparison).max())
        lines.append(f"precision target: every half-width below {comparison.precision:.1%} — {state}"
                     f" (widest ±{worst:.1%}; runs per scenario by round: {', '.join(map(str, comparison.rounds))})")
    drew = comparison.posterior is not None
    mc_head = f"  {'90% over particles':<18}" if drew else ""
    lines += ["", "Outcome rates (Wilson 95% interval" + ("; and the Monte Carlo 90% interval over the posterior's "
                                                          "distinct particles, a cluster bootstrap)" if drew else ")"),
              f"  {'scenario':<{width}}  {'outcome':<10}  {'rate':>6}   {'95% interval':<17}{mc_head}  runs"]
    previous = None
    for row in rates(comparison).itertuples():
        label = row.scenario if row.scenario != previous else ""
        previous = row.scenario
        mc = f"  {row.mc_low:>6.1%} – {row.mc_high:>6.1%}   " if drew else ""
        lines.append(f"  {label:<{width}}  {row.outcome:<10}  {row.rate:>6.1%}   "
                     f"{row.low:>6.1%} – {row.high:>6.1%}{mc}  {row.count:>6,} of {row.runs:,}")
    diffs = differences(comparison)
    if len(diffs):
        baseline = diffs["baseline"].iloc[0]
        lines += ["", f"Differences against {baseline}, in percentage points (paired by seed; Newcombe 95% interval;"
                      " McNemar exact test)",
                  f"  {'scenario':<{width}}  {'outcome':<10}  {'difference':>10}   {'95% interval':<19}"
                  + (f"  {'90% over particles':<19}" if drew else "")
                  + f"  {'only base':>9}  {'only this':>9}  {'p-value':>8}"]
        previous = None
        for row in diffs.itertuples():
            label = row.scenario if row.scenario != previous else ""
            previous = row.scenario
            mark = " *" if row.significant else ""
            mc = f"  {100 * row.mc_low:>+7.1f} to {100 * row.mc_high:>+6.1f}" if drew else ""
            lines.append(f"  {label:<{width}}  {row.outcome:<10}  {100 * row.difference:>+10.1f}   "
                         f"{100 * row.low:>+7.1f} to {100 * row.high:>+6.1f}{mc}  {row.discordant_a_only:>9,}"
                         f"  {row.discordant_b_only:>9,}  {_p_text(row.p_value):>8}{mark}")
        lines.append(f"  * p < {ALPHA:g} (McNemar exact test on the discordant runs; no correction for multiple"
                     " comparisons)")
    lines += _metric_lines(comparison, width)
    return "\n".join(lines)


def _p_text(p: float) -> str:
    return "—" if math.isnan(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _number(x: float, signed: bool = False) -> str:
    """A metric value with one decimal and thousands separators; a dash when there is none (NaN)."""
    return "—" if math.isnan(x) else f"{x:+,.1f}" if signed else f"{x:,.1f}"


def _metric_lines(comparison: Comparison, width: int) -> list[str]:
    """The console section on run metrics: for each key metric, each scenario's mean beside the baseline's and
    the mean paired difference with its t interval and p-value; nothing with a single scenario."""
    metrics = [m for m in KEY_METRICS if m in comparison.runs]
    table = metric_differences(comparison, metrics=metrics)
    if table.empty:
        return []
    lines = ["", f"Run metrics against {table['baseline'].iloc[0]}: mean per scenario and mean paired difference"
                 " (paired by seed;", "  paired t 95% interval, paired t-test; means over the pairs used)",
             f"    {'scenario':<{width}}  {'base mean':>9}  {'mean':>9}  {'difference':>10}   {'95% interval':<20}"
             f"  {'p-value':>8}    {'pairs':>6}"]
    for metric, rows in table.groupby("metric", sort=False):
        lines.append(f"  {metric}: {METRICS[metric]}")
        for row in rows.itertuples():
            mark = " *" if row.significant else "  "
            interval = "—" if math.isnan(row.low) else f"{_number(row.low, True):>8} to {_number(row.high, True):>8}"
            lines.append(f"    {row.scenario:<{width}}  {_number(row.baseline_mean):>9}  {_number(row.mean):>9}"
                         f"  {_number(row.difference, True):>10}   {interval:<20}  {_p_text(row.p_value):>8}{mark}"
                         f"  {row.pairs:>6,}")
    lines.append(f"  * p < {ALPHA:g} (paired t-test; no correction for multiple comparisons)")
    lines.append("  pairs: replicates where both runs have a value (first_release_day: a release in both)")
    return lines




def figure(comparison: Comparison, title: str | None = None) -> drawing.Figure:
    """The outcome rates per scenario (Wilson 95%) and the paired differences from the first (Newcombe 95%)."""
    return drawing.comparison_figure(rates(comparison), title or default_title(comparison), differences(comparison))


def save(comparison: Comparison, out: str | Path, force: bool = False, command: list[str] | None = None) -> Path:
    """Write the comparison folder atomically: rates.csv, differences.csv, metric_differences.csv,
    runs.parquet, comparison.json (seeds, runs, precision, resolved scenarios, provenance) and
    figures/comparison.png. An existing folder is replaced only with `force`.
    """
    rate_table, diff_table = rates(comparison), differences(comparison)
    with storage.staged_directory(out, force) as stage:
        storage.write_csv(stage / "rates.csv", rate_table)
        storage.write_csv(stage / "differences.csv", diff_table)
        storage.write_csv(stage / "metric_differences.csv", metric_differences(comparison))
        storage.write_parquet(stage / "runs.parquet", comparison.runs)
        drawing.save(figure(comparison), stage / "figures" / "comparison.png")
        info = {
            "scenarios": comparison.names,
            "baseline": comparison.names[0],
            "root_seed": comparison.root_seed,
            "runs_per_scenario": comparison.runs_per_scenario,
            "seed_count": len(comparison.seeds),
            "seed_rule": SEED_RULE,
            "same_seeds_in_every_scenario": True,
            "precision": {
                "target_half_width": comparison.precision,
                "reached": comparison.precision_reached,
                "max_runs": comparison.max_runs,
                "widest_half_width": float(half_widths(comparison).max()),
                "runs_by_round": comparison.rounds,
            },
            "methods": {
                "rates": "Wilson score interval, 95%",
                "differences": "Newcombe (1998) method 10 hybrid score interval for paired proportions, 95%",
                "test": "McNemar exact test (two-sided binomial test of the discordant pairs)",
                "metric_differences": "mean paired difference of each run metric, paired t 95% interval and"
                                      " two-sided paired t-test; pairs with a missing value dropped",
                "significance_level": ALPHA,
            },
            "resolved_scenarios": {name: s.model_dump(mode="json")
                                   for name, s in zip(comparison.names, comparison.scenarios)},
            **comparison.meta,
            **provenance(command),
            "files": [],
        }
        info["files"] = sorted([str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()]
                               + ["comparison.json"])
        storage.write_json(stage / "comparison.json", info)
    return Path(out)

"""Scenarios compared on the same seeds: outcome rates, paired differences and tests.

Every scenario is run with the same root seed, so replicate k has the same seed in
every scenario (common random numbers). Runs are then paired by replicate: the
difference of an outcome's rate between two scenarios gets an interval for paired
proportions and McNemar's exact test, which are narrower and more powerful than
their unpaired counterparts when the scenarios' runs are positively correlated.

    from sim.model.scenario import load
    from sim.experiments import comparisons as compare
    cmp = compare.compare([load("scenarios/decree_2020.yaml"), load("scenarios/doha_unconditional.yaml")],
                          runs=200, seed=1)
    cmp.rates()            # rate of each outcome per scenario, Wilson 95% interval
    cmp.differences()      # against the first scenario: paired interval, McNemar p-value
    print(compare.format_table(cmp))
    compare.save(cmp, "results/compare")

With `precision=E` the comparison keeps doubling the replications (the first ones
are kept: replicate k's seed depends only on the root seed and k) until every
Wilson interval's half-width is below E, or until `max_runs` per scenario.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from sim import DEFAULT_SEED

from sim.reports import analysis

from sim.experiments import runs as runner

from sim.experiments import storage
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import Scenario

ALPHA = 0.05  # significance level of the tests and 1 - confidence of the intervals

RATE_COLUMNS = ["scenario", "outcome", "count", "runs", "rate", "low", "high"]
DIFFERENCE_COLUMNS = [
    "scenario", "outcome", "baseline", "runs", "baseline_rate", "rate", "difference", "low", "high",
    "discordant_a_only", "discordant_b_only", "p_value", "significant",
]


# ---------------------------------------------------------------- paired statistics


def paired_difference(a: ArrayLike, b: ArrayLike, alpha: float = ALPHA) -> dict:
    """Difference p_b − p_a of two paired binary outcomes, its interval and McNemar's exact test.

    `a[k]` and `b[k]` are the outcomes of the same replicate (same seed) under two
    scenarios. The interval is Newcombe's method 10, the hybrid score interval for
    paired data (Newcombe RG, "Improved confidence intervals for the difference
    between binomial proportions based on paired data", Stat Med 1998;17:2635–2650):
    the Wilson score limits of each proportion are combined by square-and-add,
    corrected by the estimated correlation φ between the pairs (φ with Newcombe's
    continuity correction: ad − bc replaced by ad − bc − n/2 when it exceeds n/2 and
    by 0 when it lies in [0, n/2]; φ = 0 when any margin is empty). It stays within
    [−1, 1] and behaves well with few discordant pairs and near 0 and 1.

    The test is McNemar's exact test: a two-sided binomial test of the discordant
    pairs against 1/2 (scipy.stats.binomtest); p = 1 when there are no discordant
    pairs. `significant` is p < alpha. The interval and the test are different
    procedures and can disagree at the margin; `significant` follows the test.

    Returns a dict: n, rate_a, rate_b, difference, low, high, both, neither,
    discordant_a_only (a true, b false), discordant_b_only (b true, a false),
    p_value, significant.
    """
    a = _binary(a, "a")
    b = _binary(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need the same length: a has {a.size}, b has {b.size}")
    if a.size == 0:
        raise ValueError("paired outcomes are empty: at least one pair is needed")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")
    n = int(a.size)
    both = int(np.sum(a & b))
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(~a & b))
    neither = n - both - a_only - b_only

    z = float(stats.norm.ppf(1 - alpha / 2))
    pa, pb = (both + a_only) / n, (both + b_only) / n
    lows, highs = analysis.wilson_interval([both + a_only, both + b_only], n, z)
    (la, lb), (ua, ub) = lows.tolist(), highs.tolist()
    phi = _newcombe_phi(both, a_only, b_only, neither)
    diff = pb - pa
    down = math.sqrt(max((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2, 0.0))
    up = math.sqrt(max((ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2, 0.0))

    discordant = a_only + b_only
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(b_only, discordant, 0.5).pvalue)
    p_value = min(p_value, 1.0)
    return {
        "n": n,
        "rate_a": pa,
        "rate_b": pb,
        "difference": diff,
        "low": max(diff - down, -1.0),
        "high": min(diff + up, 1.0),
        "both": both,
        "neither": neither,
        "discordant_a_only": a_only,
        "discordant_b_only": b_only,
        "p_value": p_value,
        "significant": bool(p_value < alpha),
    }


def _binary(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional array of paired outcomes, got shape {arr.shape}")
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: expected booleans (or 0/1), got other values")
        arr = arr.astype(bool)
    return arr


def _newcombe_phi(both: int, a_only: int, b_only: int, neither: int) -> float:
    """Estimated correlation of the paired outcomes, with Newcombe's (1998) continuity correction."""
    n = both + a_only + b_only + neither
    margins = float(both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    if margins == 0:
        return 0.0
    cross = both * neither - a_only * b_only
    if cross > n / 2:
        cross -= n / 2
    elif cross >= 0:
        cross = 0.0
    return cross / math.sqrt(margins)


# ---------------------------------------------------------------- comparisons


@dataclass
class Comparison:
    """Runs of several scenarios on the same seeds, and the analyses of them.

    `runs` has one row per scenario and replicate: `scenario` (its name, made unique
    with #2, #3... when names collide), `run`, `seed`, `outcome` and the run metrics.
    Replicate k has the same seed in every scenario.
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

    @property
    def runs_per_scenario(self) -> int:
        return int(self.runs["run"].nunique()) if len(self.runs) else 0

    @property
    def seeds(self) -> list[int]:
        """The seeds of replicates 0, 1, ...: the same in every scenario."""
        first = self.runs[self.runs["scenario"] == self.names[0]].sort_values("run")
        return first["seed"].astype(int).tolist()

    def rates(self) -> pd.DataFrame:
        """Rate of each outcome per scenario with its Wilson 95% interval, in the scenarios' order.

        Columns: scenario, outcome, count, runs, rate, low, high.
        """
        return rates(self.runs, self.names)

    def differences(self, baseline: str | None = None, alpha: float = ALPHA) -> pd.DataFrame:
        """Each scenario against the baseline (default: the first), outcome by outcome, paired by replicate.

        Columns: scenario, outcome, baseline, runs (pairs), baseline_rate, rate,
        difference (rate − baseline_rate), low, high (Newcombe's paired 95% interval),
        discordant_a_only (runs where only the baseline had the outcome),
        discordant_b_only (only this scenario), p_value (McNemar exact),
        significant (p < alpha). No correction for multiple comparisons is made.
        """
        return differences(self.runs, self.names, baseline, alpha)

    def half_widths(self) -> pd.Series:
        """Half-width of every Wilson interval, indexed by (scenario, outcome)."""
        r = self.rates()
        return ((r["high"] - r["low"]) / 2).set_axis(pd.MultiIndex.from_frame(r[["scenario", "outcome"]]))

    def figure(self, title: str | None = None):
        from sim.reports import figures as plots

        return plots.comparison_figure(self.rates(), title or default_title(self))

    def save(self, out: str | Path, force: bool = False, command: list[str] | None = None) -> Path:
        return save(self, out, force, command)


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


def compare(
    scenarios: Sequence[Scenario],
    runs: int = 100,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
    precision: float | None = None,
    max_runs: int = 20000,
    progress: bool = False,
) -> Comparison:
    """Run every scenario on the same seeds and return the Comparison.

    Without `precision`: `runs` replicates per scenario. With it: start with `runs`
    replicates and double them, round after round, keeping the replicates already
    run (only the new replicate indices are run), until every outcome's Wilson 95%
    half-width ((high − low) / 2) in every scenario is below `precision`, or until
    `max_runs` per scenario; `precision_reached` says which. Results are the same
    for any number of workers.
    """
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("compare needs at least one scenario")
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if precision is not None:
        if not 0 < precision < 1:
            raise ValueError(f"precision is a half-width of a proportion: it must lie between 0 and 1, got {precision}")
        if max_runs < runs:
            raise ValueError(f"max_runs ({max_runs}) is below the starting runs ({runs})")
    names = unique_names(scenarios)
    root = int(seed)
    pool = runner.process_pool(workers) if workers > 1 else None
    parts: list[pd.DataFrame] = []
    rounds: list[int] = []
    reached: bool | None = None
    try:
        done, target = 0, runs
        while True:
            parts.append(_run_range(scenarios, names, root, done, target, workers, pool, progress))
            done = target
            rounds.append(done)
            if precision is None:
                break
            table = _assemble(parts, names)
            widths = rates(table, names)
            if bool((((widths["high"] - widths["low"]) / 2) < precision).all()):
                reached = True
                break
            if done >= max_runs:
                reached = False
                break
            target = min(2 * done, max_runs)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return Comparison(
        scenarios=scenarios,
        names=names,
        root_seed=root,
        runs=_assemble(parts, names),
        precision=precision,
        precision_reached=reached,
        max_runs=max_runs if precision is not None else None,
        rounds=rounds,
        meta={"workers": workers},
    )


def _run_range(scenarios, names, root: int, start: int, stop: int, workers: int, pool: Executor | None,
               progress: bool) -> pd.DataFrame:
    """Replicates start..stop-1 of every scenario, as runner.run would have run them."""
    seeds = runner.replicate_seeds(root, stop - start, start)
    tasks = [(i, start + lo, start + hi) for i in range(len(scenarios))
             for lo, hi in runner.chunk_bounds(stop - start, workers)]
    bar = runner.progress_bar(len(scenarios) * (stop - start), f"compare: replicates {start + 1}–{stop}") if progress else None
    done: dict[tuple, pd.DataFrame] = {}
    try:
        if pool is None:
            for i, lo, hi in tasks:
                done[(i, lo)] = runner.run_chunk(scenarios[i], seeds[lo - start:hi - start], lo, series=False)[0]
                if bar:
                    bar.update(hi - lo)
        else:
            futures = {pool.submit(runner.run_chunk, scenarios[i], seeds[lo - start:hi - start], lo, False):
                       (i, lo, hi) for i, lo, hi in tasks}
            for fut in as_completed(futures):
                i, lo, hi = futures[fut]
                done[(i, lo)] = fut.result()[0]
                if bar:
                    bar.update(hi - lo)
    finally:
        if bar:
            bar.close()
    frames = []
    for i, lo, _ in tasks:
        frame = done[(i, lo)]
        frame.insert(0, "scenario", names[i])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _assemble(parts: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """All runs, ordered by scenario (as given) then replicate."""
    table = pd.concat(parts, ignore_index=True)
    order = table["scenario"].map({name: i for i, name in enumerate(names)})
    return table.assign(_order=order).sort_values(["_order", "run"], kind="stable").drop(columns="_order") \
        .reset_index(drop=True)


# ---------------------------------------------------------------- tables


def _order(names: Sequence[str] | None, runs: pd.DataFrame) -> list[str]:
    return list(names) if names is not None else list(dict.fromkeys(runs["scenario"]))


def rates(runs: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Outcome rates per scenario (Wilson 95%), scenarios in the order given (default: as they appear)."""
    names = _order(names, runs)
    table = analysis.outcome_rates(runs, by="scenario")
    table["scenario"] = table["scenario"].astype(str)
    table = table[table["scenario"].isin(names)]
    key = table["scenario"].map({n: i for i, n in enumerate(names)}) * len(OUTCOMES) + \
        table["outcome"].map({o: i for i, o in enumerate(OUTCOMES)})
    return table.assign(_key=key).sort_values("_key").drop(columns="_key")[RATE_COLUMNS].reset_index(drop=True)


def differences(runs: pd.DataFrame, names: Sequence[str] | None = None, baseline: str | None = None,
                alpha: float = ALPHA) -> pd.DataFrame:
    """Every other scenario against the baseline, per outcome, paired by replicate (`run`)."""
    names = _order(names, runs)
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of the scenarios: {', '.join(names)}")
    by_name = {name: frame.set_index("run").sort_index() for name, frame in runs.groupby("scenario", sort=False)}
    base = by_name[baseline]
    rows = []
    for name in names:
        if name == baseline:
            continue
        other = by_name[name]
        common = base.index.intersection(other.index)
        if len(common) == 0:
            raise ValueError(f"{name} and {baseline} share no replicate to pair")
        if not (base.loc[common, "seed"].to_numpy() == other.loc[common, "seed"].to_numpy()).all():
            raise ValueError(f"{name} and {baseline} were not run on the same seeds: their runs cannot be paired")
        for outcome in OUTCOMES:
            d = paired_difference(base.loc[common, "outcome"].to_numpy() == outcome,
                                  other.loc[common, "outcome"].to_numpy() == outcome, alpha)
            rows.append({
                "scenario": name, "outcome": outcome, "baseline": baseline, "runs": d["n"],
                "baseline_rate": d["rate_a"], "rate": d["rate_b"], "difference": d["difference"],
                "low": d["low"], "high": d["high"], "discordant_a_only": d["discordant_a_only"],
                "discordant_b_only": d["discordant_b_only"], "p_value": d["p_value"], "significant": d["significant"],
            })
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


def default_title(comparison: Comparison) -> str:
    return f"Outcomes compared: {comparison.runs_per_scenario:,} runs per scenario on the same seeds"


def format_table(comparison: Comparison) -> str:
    """A readable terminal table: rates with intervals, then differences against the first scenario."""
    n = comparison.runs_per_scenario
    width = max(12, *(len(name) for name in comparison.names))
    k = len(comparison.names)
    lines = [f"{k} scenario{'s' if k != 1 else ''}, {n:,} runs each, root seed {comparison.root_seed}"
             " (replicate k has the same seed in every scenario)"]
    if comparison.precision is not None:
        state = ("reached" if comparison.precision_reached
                 else f"NOT reached: stopped at the ceiling of {comparison.max_runs:,} runs")
        worst = float(comparison.half_widths().max())
        lines.append(f"precision target: every half-width below {comparison.precision:.1%} — {state}"
                     f" (widest ±{worst:.1%}; runs per scenario by round: {', '.join(map(str, comparison.rounds))})")
    lines += ["", "Outcome rates (Wilson 95% interval)",
              f"  {'scenario':<{width}}  {'outcome':<10}  {'rate':>6}   {'95% interval':<17}  runs"]
    previous = None
    for row in comparison.rates().itertuples():
        label = row.scenario if row.scenario != previous else ""
        previous = row.scenario
        lines.append(f"  {label:<{width}}  {row.outcome:<10}  {row.rate:>6.1%}   "
                     f"{row.low:>6.1%} – {row.high:>6.1%}  {row.count:>6,} of {row.runs:,}")
    diffs = comparison.differences()
    if len(diffs):
        baseline = diffs["baseline"].iloc[0]
        lines += ["", f"Differences against {baseline}, in percentage points (paired by seed; Newcombe 95% interval;"
                      " McNemar exact test)",
                  f"  {'scenario':<{width}}  {'outcome':<10}  {'difference':>10}   {'95% interval':<19}"
                  f"  {'only base':>9}  {'only this':>9}  {'p-value':>8}"]
        previous = None
        for row in diffs.itertuples():
            label = row.scenario if row.scenario != previous else ""
            previous = row.scenario
            p = "<0.001" if row.p_value < 0.001 else f"{row.p_value:.3f}"
            mark = " *" if row.significant else ""
            lines.append(f"  {label:<{width}}  {row.outcome:<10}  {100 * row.difference:>+10.1f}   "
                         f"{100 * row.low:>+7.1f} to {100 * row.high:>+6.1f}  {row.discordant_a_only:>9,}"
                         f"  {row.discordant_b_only:>9,}  {p:>8}{mark}")
        lines.append(f"  * p < {ALPHA:g} (McNemar exact test on the discordant runs; no correction for multiple"
                     " comparisons)")
    return "\n".join(lines)


# ---------------------------------------------------------------- files


def save(comparison: Comparison, out: str | Path, force: bool = False, command: list[str] | None = None) -> Path:
    """Write the comparison folder atomically: rates.csv, differences.csv, runs.parquet,
    comparison.json (seeds, runs, precision, resolved scenarios, provenance) and
    figures/comparison.png. An existing folder is replaced only with `force`.
    """
    from sim.reports import figures as plots
    from sim.experiments.provenance import provenance

    rate_table, diff_table = comparison.rates(), comparison.differences()
    with storage.staged_directory(out, force) as stage:
        storage.write_csv(stage / "rates.csv", rate_table)
        storage.write_csv(stage / "differences.csv", diff_table)
        storage.write_parquet(stage / "runs.parquet", comparison.runs)
        plots.save(comparison.figure(), stage / "figures" / "comparison.png")
        info = {
            "scenarios": comparison.names,
            "baseline": comparison.names[0],
            "root_seed": comparison.root_seed,
            "runs_per_scenario": comparison.runs_per_scenario,
            "seed_count": len(comparison.seeds),
            "seed_rule": runner.SEED_RULE,
            "same_seeds_in_every_scenario": True,
            "precision": {
                "target_half_width": comparison.precision,
                "reached": comparison.precision_reached,
                "max_runs": comparison.max_runs,
                "widest_half_width": float(comparison.half_widths().max()),
                "runs_by_round": comparison.rounds,
            },
            "methods": {
                "rates": "Wilson score interval, 95%",
                "differences": "Newcombe (1998) method 10 hybrid score interval for paired proportions, 95%",
                "test": "McNemar exact test (two-sided binomial test of the discordant pairs)",
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

"""Recompute every number and figure that README.md and docs/ODD.md quote, after a change to the model.

    .venv/bin/python docs/reproduce.py            # print the numbers, write docs/figures/*.png
    .venv/bin/python docs/reproduce.py --quick    # fewer runs, for a look
    .venv/bin/python docs/reproduce.py --only-readme  # the README's commands, verbatim, against its numbers

It first runs the README's own commands verbatim, in order, in a fresh folder, and checks the numbers the
README quotes from them (docs/readme_check.py); then it recomputes the rest.

Each block prints what it measured and how; paste the numbers into the documents.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

import end_game
import pandas as pd
import readme_check

from sim.experiments import comparisons, runs, sweep_spec
from sim.experiments import observed as record
from sim.experiments.calibration_spec import load_spec
from sim.experiments.posterior import load_posterior
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import Scenario, load, with_overrides
from sim.reports import analysis, forecast, results, score, sweep
from sim.reports import calibration as fit_report
from sim.reports import comparison as comparison_report

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
SCENARIOS = ROOT / "scenarios"
DECREE = load(SCENARIOS / "decree_2020.yaml")


def mix(table: pd.DataFrame) -> str:
    rates = analysis.outcome_rates(table).set_index("outcome")
    return ", ".join(f"{o} {100 * rates.loc[o, 'rate']:.1f}% [{100 * rates.loc[o, 'low']:.1f}–"
                     f"{100 * rates.loc[o, 'high']:.1f}]" for o in OUTCOMES)


def short_mix(table: pd.DataFrame) -> str:
    share = table["outcome"].value_counts(normalize=True)
    return "/".join(f"{100 * share.get(o, 0.0):.0f}" for o in ("completed", "collapsed", "deadlocked"))


def quick_quantiles(values: pd.Series) -> str:
    return f"{values.median():.0f} ({values.quantile(0.1):.0f}–{values.quantile(0.9):.0f})"


def quickstart_figures(n: int) -> None:
    """The README's Quick start run, its releases figure, and the decree's outcome figure."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = results.run_to_folder(DECREE, Path(tmp) / "decree", runs=n, workers=1)
        print(results.format_summary(summary, DECREE))
        for name in ("releases", "outcomes"):
            shutil.copy(Path(tmp) / "decree" / "figures" / f"{name}.png", FIGURES / f"decree_2020_{name}.png")


def defaults_and_statics(n: int) -> None:
    print(f"\ndecree_2020, {n} runs from root seed 1: {mix(runs.run(DECREE, n, seed=1, series=False).runs)}")
    base = Scenario()  # the defaults, as tests/test_model.py's comparative statics use them
    for label, overrides in (
        ("initial trust 0.2 both", {"government.initial_trust": 0.2, "taliban.initial_trust": 0.2}),
        ("initial trust 0.4 both", {"government.initial_trust": 0.4, "taliban.initial_trust": 0.4}),
        ("initial trust 0.6 both", {"government.initial_trust": 0.6, "taliban.initial_trust": 0.6}),
    ):
        table = runs.run(with_overrides(base, overrides), 300, seed=11, series=False).runs
        print(f"  comparative statics, {label} (300 runs, seed 11): completed {100 * (table.outcome == 'completed').mean():.1f}%")


def sensitivity_table(n: int) -> None:
    print(f"\nSensitivity of the decree's mix: completed/collapsed/deadlocked in %, {n} runs from root seed 1")
    table = {
        "protocol.conditions.max_attacks_per_day": (6.0, 7.0, 8.0),
        "taliban.base_attacks": (8.0, 10.0, 12.0),
        "taliban.cohesion": (0.6, 0.7, 0.8),
        "spoilers.misattribution": (0.2, 0.4, 0.6),
        "government.initial_trust": (0.35, 0.40, 0.45),
        "taliban.initial_trust": (0.30, 0.35, 0.40),
        "taliban.patience_days": (20, 30, 45),
        "protocol.taliban_daily_capacity": (20, 40, 80),
        "outcomes.collapse_trust": (0.05, 0.10, 0.15),
    }
    for path, values in table.items():
        cells = [f"{v}: {short_mix(runs.run(with_overrides(DECREE, {path: v}), n, seed=1, series=False).runs)}"
                 for v in values]
        print(f"| `{path}` | " + " | ".join(cells) + " |")
    memories = [f"{m}: {short_mix(runs.run(with_overrides(DECREE, {'government.memory': m, 'taliban.memory': m}), n, seed=1, series=False).runs)}"
                for m in (0.95, 0.98, 0.99)]
    print("| `government.memory` and `taliban.memory` together | " + " | ".join(memories) + " |")


def commander_weights(n: int) -> None:
    print(f"\nCommander weight: commanders_first and decree_2020, {n} runs from root seed 1")
    first = load(SCENARIOS / "commanders_first.yaml")
    for w in (1, 4, 6, 8, 10, 15):
        a = runs.run(with_overrides(first, {"government.commander_weight": w}), n, seed=1, series=False).runs
        b = runs.run(with_overrides(DECREE, {"government.commander_weight": w}), n, seed=1, series=False).runs
        print(f"  weight {w}: commanders_first completed {100 * (a.outcome == 'completed').mean():.1f}%, collapsed "
              f"{100 * (a.outcome == 'collapsed').mean():.1f}%, median first release day "
              f"{a.first_release_day.median():.0f}, mean walkouts {a.walkouts.mean():.2f}; decree completed "
              f"{100 * (b.outcome == 'completed').mean():.1f}%")


def against_the_record(n: int) -> None:
    print(f"\nComparison with 2020: decree_2020, {n} runs from root seed 1 (medians, 10–90% ranges)")
    res = runs.run(DECREE, n, seed=1, series=True)
    table, series = res.runs, res.series
    print(f"  outcomes of these runs: {mix(table)}")
    print("  first government release day:", quick_quantiles(table.first_release_day),
          f"earliest {table.first_release_day.min():.0f}, latest {table.first_release_day.max():.0f}")
    early = series[series.day <= 3].groupby("run").taliban_attacks.sum()
    print(f"  Taliban attacks in days 0-3: median {early.median():.0f}")
    print(f"  government's trust on day 13: median {series[series.day == 13].trust_government.median():.2f}")
    print("  first Taliban release day:", quick_quantiles(series[series.taliban_released > 0].groupby("run").day.min()))
    wide = {c: series.pivot(index="day", columns="run", values=c).reindex(range(DECREE.calendar.horizon_days)).ffill()
            for c in ("government_released", "taliban_released")}
    for day in sorted(record.releases()["day"].unique()):
        print(f"  day {day}: government {quick_quantiles(wide['government_released'].loc[day])}, "
              f"Taliban {quick_quantiles(wide['taliban_released'].loc[day])}")
    seen = record.releases()
    seen = seen[seen.day <= 85]
    below = sum(int((wide[{"government_released_taliban": "government_released",
                           "taliban_released_government": "taliban_released"}[row.side]].loc[row.day]
                     <= row.cumulative_released).sum()) for row in seen.itertuples())
    print(f"  run-days at or below the record's count, on the reported dates up to day 85: {below}")
    collapsed = table[table.outcome == "collapsed"]
    print(f"  collapsed runs stopping at 1,500-1,600 government releases: "
          f"{collapsed.government_released.between(1500, 1600).sum()} of {len(collapsed)}")
    high = runs.run(load(SCENARIOS / "high_trust.yaml"), 2 * n, seed=1, series=False).runs
    print(f"  high_trust: completed {(high.outcome == 'completed').sum()} of {len(high)}")
    walked = series[~series.engaged].groupby("run").day.min()
    print(f"  runs with a walkout: {len(walked)} of {n}; first walkout day {quick_quantiles(walked)}")
    print(f"  runs with offensive mode: {(table.offensive_days > 0).sum()}")
    for outcome in ("completed", "collapsed"):
        print(f"  end day of {outcome} runs: {quick_quantiles(table[table.outcome == outcome].end_day)}")


def trust_grid(replications: int) -> None:
    spec = sweep_spec.load_spec(SCENARIOS / "sweeps" / "trust_grid.yaml").model_copy(
        update={"replications": replications})
    with tempfile.TemporaryDirectory() as tmp:
        done = sweep.sweep(spec, Path(tmp) / "grid", workers=2)
        shutil.copy(done.out / "figures" / "heatmap.png", FIGURES / "trust_grid_heatmap.png")
    print(f"\ntrust grid, {replications} replications: " + ", ".join(
        f"{name} {o['rate']:.1%}" for name, o in done.summary["outcomes"].items()))


def discovery_example() -> None:
    """The README's "Where does it lock up?": the discovery sweep, PRIM on its deadlocks, the trade-off figure."""
    from sim.reports import discovery

    spec = sweep_spec.load_spec(SCENARIOS / "sweeps" / "discovery.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        done = sweep.sweep(spec, Path(tmp) / "discovery", workers=2)
        found = discovery.discover(done.out, ["deadlocked"])
        print()
        print(discovery.format_summary(found))
        folder = discovery.save(found, Path(tmp) / "found")
        shutil.copy(folder / "figures" / "tradeoff.png", FIGURES / "discovery_tradeoff.png")
        shutil.copy(folder / "figures" / "feature_scores.png", FIGURES / "discovery_feature_scores.png")


def compare_protocols(n: int) -> None:
    names = ("decree_2020", "commanders_first", "doha_unconditional")
    c = comparisons.compare([load(SCENARIOS / f"{name}.yaml") for name in names], runs=n, seed=1)
    from sim.reports import comparison

    print()
    print(comparison.format_table(c))


def calibrated(workers: int, runs_per_scenario: int) -> None:
    """The calibration on the 2020 record, its forecast, and the protocols compared under its posterior."""
    spec = load_spec(SCENARIOS / "calibration" / "record_2020.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record_2020"
        result = fit_report.calibrate(spec, out, workers=workers)
        print("\n" + fit_report.format_summary(result))
        for name in ("predictive", "marginals", "pairs"):
            shutil.copy(out / "figures" / f"{name}.png", FIGURES / f"calibration_{name}.png")
        done = forecast.forecast(out, AHEAD, runs=2000, out=Path(tmp) / "forecast", workers=workers)
        print("\n" + forecast.format_forecast(done))
        registered(done)
        for name in ("forecast", "completion"):
            shutil.copy(Path(tmp) / "forecast" / "figures" / f"{name}.png", FIGURES / f"{name}_2020.png")
        names = ("decree_2020", "commanders_first", "doha_unconditional")
        posterior = load_posterior(out)
        c = comparisons.compare([load(SCENARIOS / f"{name}.yaml") for name in names], runs=runs_per_scenario,
                                seed=1, workers=workers, posterior=posterior)
        print(f"\nProtocols under the 2020 posterior, {runs_per_scenario} runs each from root seed 1:")
        print(comparison_report.format_table(c))
        comparison_report.save(c, Path(tmp) / "compare")
        shutil.copy(Path(tmp) / "compare" / "figures" / "comparison.png", FIGURES / "posterior_comparison.png")


AHEAD = "2020-12-31"
BANDS_ON = ("2020-08-02", "2020-08-15", "2020-08-31", "2020-09-15", "2020-09-30")
COMPLETE_BY = ("2020-07-31", "2020-08-31", "2020-09-30", "2020-12-31")  # 31 July: histories already complete


def registered(done: dict) -> None:
    """The numbers the documents register before the record after 31 July is seen: the government's band on
    five dates and the exchange's completion by three, each with its Monte Carlo interval."""
    table, curve = done["forecast"], done["curve"]
    print("\nThe government's releases: median [Monte Carlo 90%], 90% band [Monte Carlo 90% of its ends]")
    for day in BANDS_ON:
        r = table[(table["date"].astype(str) == day) & (table["side"] == "government_released_taliban")].iloc[0]
        print(f"  {day}: {r.q50:,.0f} [{r.q50_low:,.0f}–{r.q50_high:,.0f}], band {r.q05:,.0f} "
              f"[{r.q05_low:,.0f}–{r.q05_high:,.0f}] – {r.q95:,.0f} [{r.q95_low:,.0f}–{r.q95_high:,.0f}]")
    exchange = curve[curve["side"] == "exchange"]
    dates = done["completion"].set_index("side").loc["exchange"]
    print("The exchange's completion dates [Monte Carlo 90%]: " + "; ".join(
        f"{q} {dates[f'{q}_date']} [{dates[f'{q}_date_low']}–{dates[f'{q}_date_high'] or 'not reached'}]"
        if dates[f"{q}_date"] else f"{q} not reached" for q in ("q05", "q50", "q95")))
    print("The exchange complete by: share [Monte Carlo 90%]")
    for day in COMPLETE_BY:
        r = exchange[exchange["date"].astype(str) == day].iloc[0]
        print(f"  {day}: {r.share:.1%} [{r.low:.1%}–{r.high:.1%}]")


ORIGINS = ("2020-05-31", "2020-06-30")
CODES = ("before", "now", "replayed")  # "replayed": this code's fit, its histories replayed to the origin
SCORED_UNTIL = "2020-07-31"


def rolling_origin(workers: int, runs: int) -> None:
    """Fit to each origin, forecast to 31 July 2020 and score on the record after the origin: with this code and
    with the code before the self-scoring posterior (a git worktree of benchmarks/baseline.py's BEFORE)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from baseline import BEFORE, checkout, old_fit_and_forecast

    spec_path = SCENARIOS / "calibration" / "record_2020.yaml"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, checkout() as tree:
        tmp = Path(tmp)
        for origin in ORIGINS:
            spec = load_spec(spec_path).model_copy(update={"until": dt.date.fromisoformat(origin)})
            fit_report.calibrate(spec, tmp / f"now_{origin}", workers=workers, figures_wanted=False)
            forecast.forecast(tmp / f"now_{origin}", SCORED_UNTIL, runs=runs, out=tmp / f"now_{origin}_ahead",
                              workers=workers)
            # The same fit, its histories replayed to the origin as the code before did: which part of the change
            # is the posterior and which the replay.
            forecast.forecast(tmp / f"now_{origin}", SCORED_UNTIL, runs=runs, out=tmp / f"replayed_{origin}_ahead",
                              workers=workers, replay_until=dt.date.fromisoformat(origin))
            old_fit_and_forecast(tree, origin, tmp / f"before_{origin}", tmp / f"before_{origin}_ahead",
                                 SCORED_UNTIL, runs=runs, workers=workers)
            for code in CODES:
                scored = score.score_forecast(tmp / f"{code}_{origin}_ahead", after=origin)
                print(f"\n{code}, origin {origin}:\n" + score.format_score(scored))
                rows += [{"origin": origin, "code": code, "side": side, **scored["summary"][side]}
                         for side in scored["summary"]]
    table = pd.DataFrame(rows)
    print(f"\nRolling origin: fit to each origin, {runs:,} forecast runs to {SCORED_UNTIL}, scored on the record "
          f"after the origin; 'before' is the code at {BEFORE}; 'replayed' is this code's fit with its histories "
          "replayed to the origin, as before")
    print("| origin | side | points (lower bounds) | mean CRPS before / now / replayed | 90% coverage before / now / "
          "replayed |")
    print("|---|---|---|---|---|")
    for (origin, side), rows in table.groupby(["origin", "side"], sort=False):
        each = [rows[rows["code"] == code].iloc[0] for code in CODES]
        crps = " / ".join("–" if r.mean_crps is None or pd.isna(r.mean_crps) else f"{r.mean_crps:,.0f}" for r in each)
        cover = " / ".join(f"{r.covered}" for r in each)
        print(f"| {origin} | {side} | {each[0].points} ({each[0].lower_bounds}) | {crps} | {cover} of {each[0].points} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only-calibration", action="store_true", help="only the calibration block")
    parser.add_argument("--only-discovery", action="store_true", help="only the scenario discovery block")
    parser.add_argument("--only-rolling-origin", action="store_true",
                        help="only issue 14's rolling-origin scores: before the posterior was rebuilt, and now")
    parser.add_argument("--only-readme", action="store_true",
                        help="only the README's commands, run verbatim and checked against the numbers it quotes")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        problems = readme_check.check(Path(tmp), quick=args.quick)
    print("\n".join(f"README: {p}" for p in problems) or "README: every quoted number as its command prints it")
    if args.only_readme:
        return
    scale = 0.25 if args.quick else 1.0
    FIGURES.mkdir(parents=True, exist_ok=True)
    if args.only_discovery:
        return discovery_example()
    if args.only_rolling_origin:
        return rolling_origin(args.workers, int(2000 * scale))
    calibrated(args.workers, int(1000 * scale))
    if args.only_calibration:
        return
    end_game.main(["--workers", str(args.workers), "--present", end_game.PRESENT])
    quickstart_figures(200)
    defaults_and_statics(int(400 * scale))
    sensitivity_table(int(400 * scale))
    commander_weights(int(400 * scale))
    against_the_record(int(200 * scale))
    compare_protocols(int(500 * scale))
    trust_grid(int(200 * scale))
    discovery_example()


if __name__ == "__main__":
    main()

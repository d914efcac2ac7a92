"""How the exchange ends (issue 15): the fit to 31 July 2020 with each end-game mechanism switched off in turn,
and the rolling-origin scores of each, beside the model before the end game (a git worktree of PRESENT) at both
models' shipped budgets. docs/reproduce.py runs it after the calibration; on its own:

    .venv/bin/python docs/end_game.py --present 722d1f9 [--workers 2] [--only ablation|compare]

Prints the tables that README.md and docs/ODD.md quote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import pandas as pd

from sim.experiments.calibration_spec import CalibrationSpec, load_spec
from sim.reports import calibration as fit_report
from sim.reports import forecast, score

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "scenarios" / "calibration" / "record_2020.yaml"
ORIGINS = ("2020-05-31", "2020-06-30")
SCORED_UNTIL = "2020-07-31"
PRESENT = "722d1f9"  # main before the end game: the self-scoring posterior of issue 14


# Each mechanism off: the fixed values that turn it off, the fitted parameters it no longer has, and (for the
# ceasefire, an event) the base without it.
OFF = {
    "commitment": ({"government.commitment": 0.0}, ("government.commitment",)),
    "next lists": ({"verification.next_list_size": 0}, ()),
    "mediator": ({"mediator.stall_break_rate": 0.0}, ("mediator.stall_break_after_days",)),
    "contested remainder": ({"protocol.contested": 0}, ("protocol.cover_rate",)),
    "settled team": ({"taliban.settled_patience_days": 0}, ("taliban.settled_patience_days",)),
    "Taliban finishing": ({"taliban.finish_after": 1.0}, ("taliban.finish_after",)),
    "Eid al-Adha ceasefire": ({}, ()),
}
MECHANISMS = tuple(OFF)


def switched_off(spec: CalibrationSpec, mechanism: str) -> CalibrationSpec:
    """The spec with one end-game mechanism off: its values at the defaults that turn it off, its parameters no
    longer fitted."""
    fixed, dropped = OFF[mechanism]
    base = "../decree_2020.yaml" if mechanism == "Eid al-Adha ceasefire" else spec.base
    return spec.model_copy(update={
        "fixed": {**spec.fixed, **fixed}, "base": base,
        "parameters": {path: prior for path, prior in spec.parameters.items() if path not in dropped}})


def _summary(result: fit_report.CalibrationResult) -> dict:
    info = result.info
    cov = result.coverage
    last = info["generations"][-1]
    return {"tolerance": last["epsilon"], "ess": last["ess"], "simulations": info["simulations"],
            **{f"{side[:3]}_covered": f"{cov[side]['high_and_medium']['covered']} of {cov[side]['high_and_medium']['of']}"
               for side in ("government_released_taliban", "taliban_released_government")}}


def ablation(workers: int, runs: int, tmp: Path, budget: dict) -> pd.DataFrame:
    """Fit each variant to 31 July (in-sample fit) and to each origin (forecast scored on what follows), all at
    the same `budget` (particles, simulations)."""
    rows = []
    for variant in ("all", *MECHANISMS):
        spec = load_spec(SPEC).model_copy(update=budget)
        if variant != "all":
            spec = switched_off(spec, variant)
        for until in (*ORIGINS, SCORED_UNTIL):
            folder = tmp / f"{variant.replace(' ', '_')}_{until}"
            result = fit_report.calibrate(spec.model_copy(update={"until": dt.date.fromisoformat(until)}), folder,
                                          workers=workers, figures_wanted=False)
            row = {"variant": variant, "until": until, "parameters": len(spec.parameters), **_summary(result)}
            if until != SCORED_UNTIL:
                forecast.forecast(folder, SCORED_UNTIL, runs=runs, out=folder / "ahead", workers=workers)
                scored = score.score_forecast(folder / "ahead", after=until)["summary"]
                row.update({f"{side[:3]}_crps": scored[side]["mean_crps"] for side in scored})
                row["all_covered"] = f"{scored['all']['covered']} of {scored['all']['points']}"
            rows.append(row)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return pd.DataFrame(rows)


def present_model(workers: int, runs: int, tmp: Path, ref: str) -> pd.DataFrame:
    """The model before the end game (a git worktree of `ref`, its own spec) and this one, both at their shipped
    budgets, fitted to each origin, their forecasts scored as above."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from baseline import checkout, cli_fit_and_forecast

    rows = []
    for until in ORIGINS:
        folder = tmp / f"shipped_{until}"
        fit_report.calibrate(load_spec(SPEC).model_copy(update={"until": dt.date.fromisoformat(until)}), folder,
                             workers=workers, figures_wanted=False)
        forecast.forecast(folder, SCORED_UNTIL, runs=runs, out=folder / "ahead", workers=workers)
        scored = score.score_forecast(folder / "ahead", after=until)
        print(f"\nthis model, origin {until}:\n" + score.format_score(scored), flush=True)
        rows.append({"variant": "this model, shipped budget", "until": until,
                     **{f"{side[:3]}_crps": scored["summary"][side]["mean_crps"] for side in scored["summary"]},
                     "all_covered": f"{scored['summary']['all']['covered']} of {scored['summary']['all']['points']}"})
    with checkout(ref) as tree:
        for until in ORIGINS:
            ahead = tmp / f"present_{until}"
            cli_fit_and_forecast(tree, until, tmp / f"present_fit_{until}", ahead, SCORED_UNTIL, runs, workers)
            scored = score.score_forecast(ahead, after=until)["summary"]
            rows.append({"variant": f"before the end game ({ref})", "until": until,
                         **{f"{side[:3]}_crps": scored[side]["mean_crps"] for side in scored},
                         "all_covered": f"{scored['all']['covered']} of {scored['all']['points']}"})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--only", choices=("ablation", "compare"))
    parser.add_argument("--present", default=None, help="git ref of the model before the end game")
    parser.add_argument("--particles", type=int, default=1000, help="of each ablation fit (default: the spec's)")
    parser.add_argument("--simulations", type=int, default=1_000_000,
                        help="budget of each ablation fit (default: the spec's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = None
        if args.only in (None, "ablation"):
            budget = {"particles": args.particles, "simulations": args.simulations}
            print(f"\nAblation at {args.particles} particles and {args.simulations:,} simulations a fit", flush=True)
            table = ablation(args.workers, args.runs, tmp, budget)
        if args.present and args.only in (None, "compare"):
            table = pd.concat([table, present_model(args.workers, args.runs, tmp, args.present)])
        if table is not None:
            print("\n" + table.to_string(index=False, float_format=lambda x: f"{x:,.3g}"))


if __name__ == "__main__":
    main()

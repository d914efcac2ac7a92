"""The `swapsim` command: a thin shell over the Python API.

User mistakes (a bad file, a bad value, an existing output folder) end with one
clear line per problem on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

from sim import DEFAULT_RUNS, DEFAULT_SEED
from sim.experiments import storage
from sim.experiments.pool import default_workers
from sim.model.errors import did_you_mean
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import ScenarioError, json_schema, load, reference_markdown, to_yaml

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in how the command was called; its message is shown as is."""


class Interrupted(Exception):
    """Ctrl-C, with a word on what was kept."""


def _whole_number(minimum: int):
    """An argparse type: a whole number no smaller than `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _whole_number(1)
_seed = _whole_number(0)


def _real_number(holds, expected: str):
    """An argparse type: a number for which `holds(value)` is true; `expected` says which, after "must be"."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not holds(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {value}")
        return value

    return parse


_fraction = _real_number(lambda v: 0 < v < 0.5, "between 0 and 0.5 (a half-width of a rate)")
_share = _real_number(lambda v: 0 < v <= 1, "above 0 and at most 1")


def _warn(lines: list[str]) -> None:
    """Warnings that do not stop the command, one line each on stderr."""
    for line in lines:
        print(f"swapsim: warning: {line}", file=sys.stderr, flush=True)


def _posterior(args: argparse.Namespace):
    """The calibration posterior named by --posterior, or None."""
    if not getattr(args, "posterior", None):
        return None
    from sim.experiments.posterior import load_posterior

    return load_posterior(args.posterior)


def _with_seed(spec, seed: int | None):
    """The spec with --seed in place of its own root seed (its hash follows, so a resume with another seed is
    refused)."""
    return spec if seed is None else spec.model_copy(update={"seed": seed})


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.dry_run:
        from sim.experiments import calibration_plan, calibration_spec

        spec = _with_seed(calibration_spec.load_spec(args.spec), args.seed)
        _warn(calibration_spec.inert_warnings(spec))
        print(calibration_plan.format_plan(calibration_plan.plan(spec, _workers(args))))
        return 0
    if args.resume and args.force:
        raise UsageError("--resume and --force contradict each other: resume keeps the generations, force discards them")
    workers_wanted = _workers(args)
    with _workers_pool(workers_wanted) as workers:
        from sim.experiments import calibration, calibration_spec
        from sim.reports import calibration as report

        from sim.experiments.runs import TooBig

        spec = _with_seed(calibration_spec.load_spec(args.spec), args.seed)
        _warn(calibration_spec.inert_warnings(spec))
        out = Path(args.out) if args.out else Path("results") / spec.name
        try:
            calibration.check_memory(spec)
        except TooBig as err:
            raise UsageError(f"{args.spec}: {err}") from None
        try:
            result = report.calibrate(spec, out, workers=workers_wanted, lanes=args.lanes, resume=args.resume,
                                      force=args.force, progress=True, command=["swapsim", *sys.argv[1:]],
                                      executor=workers)
        except calibration.ResumeError as err:
            raise UsageError(str(err)) from None
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted; the generations already written are kept in {out}/generations: "
                              "run the same command with --resume to go on") from None
    print(report.format_summary(result))
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    workers_wanted = _workers(args)
    with _workers_pool(workers_wanted) as workers:
        from sim.experiments.runs import TooBig
        from sim.reports import forecast as report

        try:
            done = report.forecast(args.folder, args.until, runs=args.runs, out=args.out, seed=args.seed,
                                   workers=workers_wanted, lanes=args.lanes, force=args.force,
                                   command=["swapsim", *sys.argv[1:]], executor=workers,
                                   replay_until=args.replay_until)
        except TooBig as err:
            raise UsageError(str(err)) from None
    print(report.format_forecast(done))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from sim.reports import score

    out = Path(args.out) if args.out else Path(args.folder) / "score"
    storage.check_output(out, args.force)
    result = score.score_forecast(args.folder, observed=args.observed, after=args.after)
    score.save(result, out, force=args.force, command=["swapsim", *sys.argv[1:]])
    print(score.format_score(result))
    print(f"\nwritten to {out}/ (score.csv, score.json)")
    return 0


def _workers_pool(workers: int, address: str | None = None) -> contextlib.AbstractContextManager:
    """Worker processes that start at once, in the background, while this process imports and reads its input."""
    if workers > 1 and not address:
        from sim.experiments import pool

        return pool.process_pool(workers, warm=True)
    return contextlib.nullcontext()


def _out(args: argparse.Namespace, name: str) -> Path:
    """--out, or results/<name>/, and results/<name>-posterior/ for runs drawn from a posterior, so that the two
    never write to one folder."""
    if args.out:
        return Path(args.out)
    return Path("results") / (f"{name}-posterior" if args.posterior else name)


def cmd_run(args: argparse.Namespace) -> int:
    args.workers = _workers(args)
    with _workers_pool(args.workers) as workers:
        from sim.experiments.runs import TooBig  # imports Mesa and pandas: only the commands that run pay for it
        from sim.reports import results

        scenario = load(args.scenario)
        posterior = _posterior(args)
        out = _out(args, scenario.metadata.name)
        try:
            summary = results.run_to_folder(scenario, out, runs=args.runs, seed=args.seed, workers=args.workers,
                                            lanes=args.lanes, series=args.series, force=args.force,
                                            command=["swapsim", *sys.argv[1:]], progress=args.runs > 1,
                                            executor=workers, posterior=posterior)
        except TooBig as err:
            raise UsageError(str(err)) from None
    print(results.format_summary(summary, scenario, out))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.dry_run:
        from sim.experiments import sweep_spec, sweeps
        from sim.reports import sweep

        spec = sweep_spec.load_spec(args.spec, replications=args.replications, seed=args.seed)
        _warn(sweep_spec.inert_warnings(spec))
        print(sweep.format_plan(sweeps.plan(spec, _workers(args), args.lanes)))
        return 0
    if args.resume and args.force:
        raise UsageError("--resume and --force contradict each other: resume keeps the chunks, force discards them")
    workers_wanted = _workers(args)
    with _workers_pool(workers_wanted, args.address) as workers:
        from sim.experiments import batches, chunks, sweep_spec
        from sim.reports import sweep

        spec = sweep_spec.load_spec(args.spec, replications=args.replications, seed=args.seed)
        _warn(sweep_spec.inert_warnings(spec))
        posterior = _posterior(args)
        out = _out(args, spec.name)
        try:
            done = sweep.sweep(spec, out, workers=workers_wanted, lanes=args.lanes, address=args.address,
                               resume=args.resume, force=args.force, progress=True,
                               command=["swapsim", *sys.argv[1:]], executor=workers, posterior=posterior)
        except (chunks.ResumeError, batches.ExecutorError) as err:
            raise UsageError(str(err)) from None
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted; the chunks already written are kept in {out}/chunks: "
                f"run the same command with --resume to finish"
            ) from None
    print(sweep.format_summary(done))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    args.workers = _workers(args)
    with _workers_pool(args.workers) as workers:
        return _compare(args, workers)


def _compare(args: argparse.Namespace, workers) -> int:
    from sim.experiments import comparisons
    from sim.experiments.runs import TooBig, check_fits
    from sim.reports import comparison

    scenarios, problems = [], []
    for path in args.scenarios:
        try:
            scenarios.append(load(path))
        except ScenarioError as err:
            problems.extend(err.problems)
    if problems:
        raise ScenarioError(problems)
    posterior = _posterior(args)
    out = _out(args, "compare_" + "_vs_".join(s.metadata.name for s in scenarios[:3]))
    storage.check_output(out, args.force)
    runs_each = args.runs if args.precision is None else max(args.runs, args.max_runs)
    try:
        check_fits(out, runs_each * len(scenarios), scenarios[0], series=False, lanes=args.lanes)
    except TooBig as err:
        raise UsageError(str(err)) from None
    try:
        if args.precision is None:
            result = comparisons.compare(scenarios, runs=args.runs, seed=args.seed, workers=args.workers,
                                         lanes=args.lanes, progress=True, executor=workers, posterior=posterior)
        else:
            result = comparison.to_precision(scenarios, args.precision, runs=args.runs, max_runs=args.max_runs,
                                             seed=args.seed, workers=args.workers, lanes=args.lanes, progress=True,
                                             executor=workers, posterior=posterior)
    except ValueError as err:
        raise UsageError(str(err)) from None
    comparison.save(result, out, force=args.force, command=["swapsim", *sys.argv[1:]])
    print(comparison.format_table(result))
    print(f"\n  written to {out}/ (rates.csv, differences.csv, metric_differences.csv, runs.parquet, comparison.json, "
          "figures/)")
    return 0


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def cmd_validate(args: argparse.Namespace) -> int:
    problems = []
    for path in args.files:
        try:
            kind, text = _validated(path)
        except ScenarioError as err:
            problems.extend(err.problems)
            continue
        print(f"# {path}: valid{kind}", flush=True)
        if not args.quiet:
            print(text)
    if problems:
        raise ScenarioError(problems)
    return 0


def _validated(path: str) -> tuple[str, str]:
    """Validate a scenario, a sweep spec or a calibration spec, told apart by their keys: what it is (after
    "valid"), and its resolved values."""
    import yaml

    from sim.model.scenario import read_yaml

    data = read_yaml(path)
    if "base" in data and "parameters" in data:
        from sim.experiments.file_kinds import looks_like_calibration

        if looks_like_calibration(data):
            from sim.experiments import calibration_spec

            spec = calibration_spec.load_spec(path)
            _warn(calibration_spec.inert_warnings(spec))
            return (f" calibration spec: {len(spec.parameters)} parameters fitted to the record up to {spec.until}",
                    yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        from sim.experiments import sweep_spec
        from sim.reports.words import count

        spec = sweep_spec.load_spec(path)
        _warn(sweep_spec.inert_warnings(spec))
        design = sweep_spec.expand(spec)
        return (f" sweep spec: {count(len(design), 'point')} × {count(spec.replications, 'replication')} = "
                f"{count(len(design) * spec.replications, 'run')}",
                yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    return "", to_yaml(load(path))


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sim.dashboard import assets, server
    from sim.model.scenario import resolve

    if args.fetch_assets:
        try:
            fetched = assets.fetch(say=lambda line: print(f"swapsim: {line}", file=sys.stderr, flush=True))
        except RuntimeError as err:
            raise UsageError(f"--fetch-assets: {err}") from None
        print(f"front-end files {'fetched into' if fetched else 'already in'} {assets.cache_dir()}")
        return 0
    resolve(args.scenario)  # a bad scenario or posterior is a one-line error here, before the server starts
    _posterior(args)
    from sim.dashboard.ensemble import check_runs
    from sim.experiments.runs import TooBig

    try:
        check_runs(args.runs)
    except TooBig as err:
        raise UsageError(str(err)) from None
    allow = [Path(folder) for folder in args.allow]
    for folder in allow:
        if not folder.is_dir():
            raise UsageError(f"--allow {folder}: not a folder")
    problem = server.check_port(args.host, args.port)  # before the URL is shown as if served
    if problem:
        raise UsageError(problem)
    if args.host not in server.LOCAL_HOSTS:
        _warn([f"--host {args.host}: the dashboard is reachable from other machines, with no password; "
               "anyone who reaches it can run simulations and save scenario files into --out"])
    lacking = assets.missing()
    if lacking:  # without them the page is blank: fetch them now if npm can, else say so plainly
        print(f"swapsim: the page's front-end files are not cached ({', '.join(f'{n}@{v}' for n, v in lacking)}); "
              "fetching them with npm", file=sys.stderr, flush=True)
        try:
            assets.fetch(say=lambda line: print(f"swapsim: {line}", file=sys.stderr, flush=True))
        except RuntimeError as err:
            _warn([f"front-end files missing and not fetched ({err}): the page will be blank unless this machine "
                   "reaches the CDN; run `swapsim dashboard --fetch-assets` once on a machine with access to the "
                   "npm registry (or copy its .venv/share/solara/cdn/ here)"])
    shown = "localhost" if args.host in server.LOCAL_HOSTS else args.host
    print(f"swapsim dashboard on http://{shown}:{args.port}/ (Ctrl-C to stop)", flush=True)
    env = server.environment(args.scenario, Path(args.out), args.posterior, args.runs, allow)
    server.serve(args.host, args.port, env)
    return 0  # not reached: the process has become the server


def cmd_discover(args: argparse.Namespace) -> int:
    outcomes = [o.strip() for o in args.outcome.split(",") if o.strip()]
    wrong = [f"unknown outcome {o!r}{did_you_mean(o, OUTCOMES)}" for o in outcomes if o not in OUTCOMES]
    if wrong or not outcomes:
        raise UsageError(f"--outcome {args.outcome}: {'; '.join(wrong) or 'no outcome given'}; choose one or more "
                         f"of {', '.join(OUTCOMES)}")
    folder = Path(args.sweep)
    out = Path(args.out) if args.out else folder.parent / f"{folder.resolve().name}_{'_or_'.join(outcomes)}"
    storage.check_output(out, args.force)  # before the boxes are computed, not after
    try:
        from sim.reports import discovery

        found = discovery.discover(folder, outcomes, min_rate=args.min_rate, per=args.per, seed=args.seed)
    except (ImportError, ValueError) as err:
        raise UsageError(str(err)) from None
    print(discovery.format_summary(found))
    discovery.save(found, out, force=args.force, command=["swapsim", *sys.argv[1:]])
    print(f"\n  written to {out}/ (boxes.csv, trajectory.csv, feature_scores.csv, summary.txt, discovery.json, figures/)")
    return 0


def cmd_export_ema(args: argparse.Namespace) -> int:
    try:
        from sim.ema import NotASweep, export_sweep
    except ImportError as err:
        raise UsageError(str(err)) from None

    folder = Path(args.sweep)
    out = Path(args.out) if args.out else folder.parent / f"{folder.resolve().name}_ema.tar.gz"
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; --out names the archive to write, such as results.tar.gz")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists: pass --force to replace it")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise UsageError(f"{out}: cannot write there (no such folder, or not writable)")
    try:
        written = export_sweep(folder, out)
    except NotASweep as err:
        raise UsageError(str(err)) from None
    print(f"written to {written} (EMA Workbench results: ema_workbench.load_results reads it)")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.calibration or args.sweep:
        from sim.experiments import calibration_spec, sweep_spec
        from sim.model.schema import fields_markdown

        module, model, title = (calibration_spec, calibration_spec.CalibrationSpec, "Calibration spec keys") \
            if args.calibration else (sweep_spec, sweep_spec.SweepSpec, "Sweep spec keys")
        print(fields_markdown(model, title) if args.markdown else json.dumps(module.json_schema(), indent=2))
    else:
        print(reference_markdown() if args.markdown else json.dumps(json_schema(), indent=2))
    return 0


def _add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="local worker processes (default: every core this process may use, "
                        f"{default_workers()} here); results do not depend on it")


DASHBOARD_RUNS = DEFAULT_RUNS // 2  # the page recomputes them on every slider change
MAX_WORKERS = 1024  # more would exceed what the OS gives one process (semaphores, file descriptors)


def _workers(args: argparse.Namespace) -> int:
    """--workers, or every core this process may use."""
    if args.workers and args.workers > MAX_WORKERS:
        raise UsageError(f"--workers {args.workers}: at most {MAX_WORKERS} (this machine has {default_workers()} cores)")
    return args.workers or default_workers()


def _add_lanes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lanes", type=_positive_int, default=None, metavar="N",
                   help="runs computed together in one model (default 4000, or 2000 with daily series; "
                        "1 runs them one at a time); results do not depend on it")


def _add_batch_options(p: argparse.ArgumentParser, runs_help: str, out_help: str) -> None:
    """The options shared by commands that run scenarios many times."""
    _add_runs(p, runs_help)
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help="root seed (default %(default)s)")
    _add_workers(p)
    _add_lanes(p)
    p.add_argument("--out", help=f"results folder (default {out_help}; with --posterior, its name ends in -posterior)")
    p.add_argument("--force", action="store_true", help="replace an existing results folder")
    _add_posterior(p)


def _add_runs(p: argparse.ArgumentParser, runs_help: str) -> None:
    p.add_argument("--runs", type=_positive_int, default=DEFAULT_RUNS, help=f"{runs_help} (default %(default)s)")


def _add_posterior(p: argparse.ArgumentParser) -> None:
    p.add_argument("--posterior", metavar="DIR",
                   help="a calibration folder (swapsim calibrate): each run draws its parameters from its posterior "
                        "(default: none, the scenario's own values)")


class _Version(argparse.Action):
    """--version: the package version and, in a git checkout, the commit; computed only when asked."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from sim.experiments.provenance import git_commit, versions

        commit = git_commit()
        print(f"swapsim {versions()['swapsim']}" + (f" (git {commit})" if commit else ""))
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake in the command line said in one line (and where to read more), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"swapsim: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="swapsim",
        description="Simulate the 2020 Afghan government–Taliban prisoner exchange under a scenario file.",
    )
    parser.add_argument("--version", action=_Version, help="print swapsim's version (and git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", help="run a scenario many times and write tables, a summary and figures")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML)")
    _add_batch_options(p, runs_help="number of seeded runs", out_help="results/<scenario name>/")
    p.add_argument("--no-series", dest="series", action="store_false",
                   help="skip the daily series (series.parquet) and the time-series figures")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run a parameter sweep spec: many points, many seeded replications")
    p.add_argument("spec", metavar="SPEC", help="sweep spec file (YAML)")
    _add_workers(p)
    _add_lanes(p)
    p.add_argument("--address", metavar="tcp://HOST:PORT",
                   help="run on the Dask scheduler at this address (default: local worker processes)")
    p.add_argument("--out", help="results folder (default results/<sweep name>/, or results/<sweep name>-posterior/ with --posterior)")
    p.add_argument("--replications", type=_positive_int, metavar="N",
                   help="seeded runs per point, instead of the spec's `replications` (default: the spec's)")
    p.add_argument("--seed", type=_seed, metavar="S", help="root seed, instead of the spec's `seed` (default: the spec's)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the design, its size and an estimate of the time from a short timing run; run nothing")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep: run only the missing chunks")
    p.add_argument("--force", action="store_true", help="discard an existing sweep folder and start over")
    _add_posterior(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("calibrate", help="fit a scenario's parameters to the 2020 record (ABC); resumable")
    p.add_argument("spec", metavar="SPEC", help="calibration spec file (YAML)")
    p.add_argument("--out", help="calibration folder (default results/<spec name>/)")
    _add_workers(p)
    _add_lanes(p)
    p.add_argument("--seed", type=_seed, default=None, help="root seed (default: the spec's `seed`)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the design, the budget and an estimated time, and fit nothing")
    p.add_argument("--resume", action="store_true", help="go on with an interrupted calibration")
    p.add_argument("--force", action="store_true", help="discard an existing calibration folder and start over")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("forecast", help="run a calibration's posterior forward to a date")
    p.add_argument("folder", metavar="DIR", help="calibration folder (swapsim calibrate)")
    p.add_argument("--until", required=True, type=_date, help="last day of the forecast (YYYY-MM-DD)")
    _add_runs(p, "runs, each drawing from the posterior")
    p.add_argument("--seed", type=_seed, default=None, help="root seed (default: the calibration's, plus 2)")
    p.add_argument("--out", help="forecast folder (default DIR/forecast_<date>/)")
    _add_workers(p)
    _add_lanes(p)
    p.add_argument("--replay-until", type=_date, metavar="DATE",
                   help="replay the accepted histories up to this date in the fit window (default: the last date "
                        "the fitted record reports)")
    p.add_argument("--force", action="store_true", help="replace an existing forecast folder")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("score", help="score a forecast against a record: CRPS, interval score, coverage")
    p.add_argument("folder", metavar="FORECAST_DIR", help="forecast folder (swapsim forecast)")
    p.add_argument("--observed", metavar="CSV", help="record to score against (default: the bundled 2020 record)")
    p.add_argument("--after", type=_date, metavar="DATE",
                   help="score the record points after this date (default: the end of the forecast's fit window)")
    p.add_argument("--out", help="folder for score.csv and score.json (default FORECAST_DIR/score/)")
    p.add_argument("--force", action="store_true", help="replace an existing score folder")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("compare", help="compare scenarios on the same seeds: rates, paired differences, McNemar tests")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files; the first is the baseline")
    _add_batch_options(p, runs_help="runs per scenario", out_help="results/compare_<names>/")
    p.add_argument("--precision", type=_fraction, metavar="E",
                   help="add runs until every rate's 95%% interval half-width is below E, e.g. 0.02 "
                        "(default: none, exactly --runs runs)")
    p.add_argument("--max-runs", type=_positive_int, default=20000,
                   help="ceiling on runs per scenario with --precision (default %(default)s)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("dashboard", help="serve the dashboard in the browser: one run step by step and an ensemble "
                                         "that follows the sliders")
    p.add_argument("scenario", nargs="?", default="decree_2020", metavar="SCENARIO",
                   help="a bundled scenario's name or a scenario file (default decree_2020)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_whole_number(1), default=8765, help="port (default %(default)s)")
    p.add_argument("--out", default="results/dashboard",
                   help="folder the Save button writes scenario files into (default %(default)s)")
    p.add_argument("--runs", type=_positive_int, default=DASHBOARD_RUNS,
                   help=f"runs in the ensemble (default %(default)s: half the {DEFAULT_RUNS:,} of the other commands, "
                        "so that the page follows a slider in about a second)")
    p.add_argument("--allow", action="append", default=[], metavar="DIR",
                   help="a folder whose scenario files the page may open by path (repeatable); the page can "
                        "always open the bundled scenarios, --out and the folder of SCENARIO, and nothing else")
    _add_posterior(p)
    p.add_argument("--fetch-assets", action="store_true",
                   help="put the page's front-end files into the local cache (needs npm and the npm registry, "
                        "once), so that the dashboard works offline; then exit")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("discover", help="where the sweep's runs end in an outcome: PRIM boxes and feature scores "
                                        "(needs swapsim[discover])")
    p.add_argument("sweep", metavar="SWEEP_DIR", help="a finished sweep's folder (swapsim sweep)")
    p.add_argument("--outcome", required=True, metavar="OUTCOME[,OUTCOME]",
                   help="the outcome of interest, or several joined by commas (collapsed,deadlocked: either)")
    p.add_argument("--min-rate", type=_share, default=0.5, metavar="R",
                   help="the share of runs in a box that must end so (its density) (default %(default)s)")
    p.add_argument("--per", choices=("run", "point"), default="run",
                   help="cases are runs, or points whose share of such runs is at least --min-rate (default run)")
    p.add_argument("--seed", type=_seed, default=None, help="seed of the feature scoring (default: the sweep's)")
    p.add_argument("--out", help="folder to write (default: beside the sweep, <sweep name>_<outcomes>/)")
    p.add_argument("--force", action="store_true", help="replace an existing discovery folder")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("export-ema", help="write a finished sweep as EMA Workbench results (needs swapsim[discover])")
    p.add_argument("sweep", metavar="SWEEP_DIR", help="a finished sweep's folder (swapsim sweep)")
    p.add_argument("--out", help="tarball to write (default: beside the folder, <sweep name>_ema.tar.gz)")
    p.add_argument("--force", action="store_true", help="replace an existing tarball")
    p.set_defaults(func=cmd_export_ema)

    p = sub.add_parser("validate", help="check scenario files, sweep specs or calibration specs and print their "
                                        "resolved values")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario files, sweep specs or calibration specs (YAML)")
    p.add_argument("-q", "--quiet", action="store_true", help="only say which files are valid")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table of every parameter instead")
    p.add_argument("--sweep", action="store_true", help="print the JSON Schema of sweep specs instead")
    p.add_argument("--calibration", action="store_true", help="print the JSON Schema of calibration specs instead")
    p.set_defaults(func=cmd_schema)
    return parser


_LONG_WORD = re.compile(r"\S{120,}")  # a path or value that would fill the screen


def _say(text: str) -> None:
    """One line of error on stderr, any word of 120 characters or more cut to its first 80, and any character
    that is not printable (a line break, a control character from a file's key) written as its escape."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    print("swapsim: " + _LONG_WORD.sub(lambda m: f"{m[0][:80]}…", shown), file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminations_interrupt():
    """SIGTERM and SIGHUP end a command as Ctrl-C does, so that what it was writing is removed and what it had
    written is kept (only the main thread can take signals; elsewhere, as when a test calls `main`, no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with _terminations_interrupt():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except ScenarioError as err:
        for line in err.problems:
            _say(line)
    except (UsageError, storage.UnsafeOutput) as err:
        _say(str(err))
    except BrokenPipeError:  # the reader went away (`swapsim validate ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:
        where = f"{storage.public_path(err.filename)}: " if err.filename else ""
        _say(f"{where}{err.strerror or err}")
    except Interrupted as err:
        _say(str(err))
        return 130
    except KeyboardInterrupt:
        _say("interrupted; nothing was written for this command")
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

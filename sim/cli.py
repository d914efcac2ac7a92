"""The `swapsim` command: a thin shell over the Python API.

User mistakes (a bad file, a bad value, an existing output folder) end with one
clear line per problem on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sim import DEFAULT_SEED
from sim.scenario import ScenarioError, json_schema, load, reference_markdown, to_yaml

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in how the command was called; its message is shown as is."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    from sim import runner  # imports Mesa and pandas: only the commands that run pay for it

    scenario = load(args.scenario)
    out = Path(args.out) if args.out else Path("results") / scenario.metadata.name
    if out.exists() and not args.force:
        raise UsageError(f"{out}: results folder exists already; pass --force to replace it, or --out DIR")
    results = runner.run(scenario, runs=args.runs, seed=args.seed, workers=args.workers, progress=args.runs > 1)
    results.save(out, force=args.force, command=["swapsim", *sys.argv[1:]])
    print(format_summary(results, out))
    return 0


def format_summary(results, out: Path | None = None) -> str:
    """A short readable summary: outcome rates with intervals and a few medians."""
    s = results.summary()
    lines = [f"{s['scenario']}: {s['runs']} runs, root seed {s['root_seed']}", ""]
    lines.append(f"  {'outcome':<11} {'rate':>7}   95% interval")
    for name, o in s["outcomes"].items():
        lo, hi = o["ci95"]
        lines.append(f"  {name:<11} {o['rate']:>6.1%}   {lo:6.1%} – {hi:6.1%}   ({o['count']} runs)")
    m = s["metrics"]
    lines += [
        "",
        f"  median government releases {m['government_released']['median']:,.0f}"
        f" of {results.scenario.protocol.government_prisoners:,};"
        f" Taliban releases {m['taliban_released']['median']:,.0f} of {results.scenario.protocol.taliban_prisoners:,}",
        f"  median end day {m['end_day']['median']:.0f}; median walkouts {m['walkouts']['median']:.0f};"
        f" median longest stall {m['longest_stall_days']['median']:.0f} days",
    ]
    if out is not None:
        lines += ["", f"  written to {out}/ (summary.json, runs.parquet, series.parquet, figures/)"]
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    problems = []
    for path in args.files:
        try:
            scenario = load(path)
        except ScenarioError as err:
            problems.extend(err.problems)
            continue
        print(f"# {path}: valid", flush=True)
        if not args.quiet:
            print(to_yaml(scenario))
    if problems:
        raise ScenarioError(problems)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(reference_markdown() if args.markdown else json.dumps(json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swapsim",
        description="Simulate the 2020 Afghan government–Taliban prisoner exchange under a scenario file.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a scenario many times and write tables, a summary and figures")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML)")
    p.add_argument("--runs", type=_positive_int, default=100, help="number of seeded runs (default 100)")
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help="root seed (default %(default)s)")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", help="results folder (default results/<scenario name>/)")
    p.add_argument("--force", action="store_true", help="replace an existing results folder")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check scenario files and print their resolved values")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="only say which files are valid")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table of every parameter instead")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as err:
        for line in err.problems:
            print(f"swapsim: {line}", file=sys.stderr)
    except UsageError as err:
        print(f"swapsim: {err}", file=sys.stderr)
    except OSError as err:
        print(f"swapsim: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("swapsim: interrupted; nothing was written for this command", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz swapsim's inputs: mutated scenario files, sweep specs and calibration specs through `swapsim validate`,
and hostile option sets through every command. Prints how each ended; the target is 0 tracebacks and 0 hangs.

    python benchmarks/fuzz_inputs.py                      # 3,000 files of each kind, 500 option sets
    python benchmarks/fuzz_inputs.py --files 300 --options 50

A file ends "valid" (exit 0) or "refused" (exit 2, every line "swapsim: FILE: ...", at most 400 characters);
anything else is a "traceback" (an exception escaped), a "hang" (over --timeout seconds) or a "bad message".
Files are checked in this process (the CLI's own `main`), options in fresh processes, two at a time. Every
mutation is drawn from numpy's SeedSequence(--seed), so a failing case can be made again.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from common import ROOT, SWAPSIM

KINDS = {"scenario": sorted((ROOT / "scenarios").glob("*.yaml")),
         "sweep": sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml")),
         "calibration": [ROOT / "scenarios" / "calibration" / "record_2020.yaml"]}
HOSTILE = [None, True, False, 0, -1, 1.5, -1e308, 1e308, float("nan"), float("inf"), 2**64, 10**12, "", "x" * 5000,
           "2020-13-45", "../../etc/passwd", [], {}, [1, "a", None], {"a": {"b": {"c": 1}}}, "0x10", "1e3", "  7 "]


class Hang(Exception):
    pass


def _absolute(data: dict, folder: Path) -> dict:
    """The spec with its base (and a scenario's extends) as absolute paths, so that a copy elsewhere resolves."""
    for key in ("base", "extends"):
        if isinstance(data.get(key), str):
            data[key] = str((folder / data[key]).resolve())
    return data


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _set(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def mutate(data: dict, rng: np.random.Generator) -> str:
    """The text of a mutated copy of `data`: values replaced by hostile ones, keys dropped, renamed or nested, or
    the YAML text cut, repeated or given a stray character."""
    data = json.loads(json.dumps(data, default=str))
    for _ in range(int(rng.integers(1, 4))):
        paths = [p for p in _paths(data) if p]
        path = paths[int(rng.integers(len(paths)))]
        op = rng.integers(6)
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if op == 0:
            _set(data, path, HOSTILE[int(rng.integers(len(HOSTILE)))])
        elif op == 1 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == 2 and isinstance(parent, dict):
            parent[f"{path[-1]}{'xs'[int(rng.integers(2))]}"] = parent.pop(path[-1])
        elif op == 3:
            value = 1
            for _ in range(int(rng.integers(2, 40))):
                value = [value] if rng.random() < 0.5 else {"k": value}
            _set(data, path, value)
        elif op == 4:
            _set(data, path, str(rng.normal() * 10 ** int(rng.integers(0, 20))))
        else:
            _set(data, path, -abs(float(rng.normal())) if rng.random() < 0.5 else int(rng.integers(-5, 5)))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    cut = rng.random()
    if cut < 0.1:
        text = text[: int(rng.integers(len(text)))]
    elif cut < 0.15:
        text = text + text  # every key twice
    elif cut < 0.2:
        at = int(rng.integers(len(text)))
        text = text[:at] + "\t{[:&*!|>'\"%@`"[int(rng.integers(14))] + text[at:]
    return text


@contextlib.contextmanager
def deadline(seconds: float):
    def ring(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def judge(code: int | None, stderr: str, name: str) -> str:
    if "Traceback" in stderr:
        return "traceback"
    if code == 0:
        return "valid"
    lines = stderr.strip().splitlines()
    if code == 2 and lines and all(line.startswith("swapsim: ") and len(line) <= 400 and (not name or name in line)
                                   for line in lines):
        return "refused"
    return "bad message"


def fuzz_files(kind: str, n: int, seed: int, timeout: float, tmp: Path, examples: dict) -> Counter:
    from sim import cli

    sources = [_absolute(yaml.safe_load(p.read_text()), p.parent) for p in KINDS[kind]]
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, list(KINDS).index(kind)]).spawn(n)]
    counts: Counter = Counter()
    for i, rng in enumerate(rngs):
        path = tmp / f"{kind}_{i}.yaml"
        path.write_text(mutate(sources[int(rng.integers(len(sources)))], rng))
        err = io.StringIO()
        try:
            with deadline(timeout), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(["validate", "-q", str(path)])
        except Hang:
            code, outcome = None, "hang"
        except SystemExit as exc:
            code, outcome = exc.code, None
        except BaseException as exc:  # noqa: BLE001 - what escapes the CLI is what we count
            code, outcome = None, "traceback"
            err.write(f"Traceback: {type(exc).__name__}: {exc}")
        else:
            outcome = None
        outcome = outcome or judge(code, err.getvalue(), str(path))
        counts[outcome] += 1
        if outcome not in ("valid", "refused"):
            examples.setdefault(f"{kind} {outcome}", (path.read_text()[:300], err.getvalue()[-500:]))
    return counts


def option_sets(n: int, seed: int, tmp: Path, fitted: Path) -> list[list[str]]:
    """Hostile and ordinary command lines for every command but the dashboard (which becomes a server)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    numbers = ["-1", "0", "1", "2", "nan", "inf", "1e12", "99999999999999999999", "abc", "", "3.5", "0x10"]
    places = [str(tmp / "out"), str(tmp), "/", "/proc/self", "/etc/passwd", str(tmp / "no" / "such"), "",
              "../" * 20, "x" * 3000]
    files = [str(ROOT / "scenarios" / "decree_2020.yaml"), str(ROOT / "scenarios" / "sweeps" / "trust_grid.yaml"),
             str(tmp / "none.yaml"), "/etc/passwd", str(tmp), "/dev/null", str(fitted)]
    dates = ["2020-09-30", "2020-07-01", "2019-01-01", "2031-01-01", "2020-02-30", "x", ""]
    commands = {
        "run": (lambda: [files[int(rng.integers(len(files)))]],
                {"--runs": numbers, "--seed": numbers, "--workers": numbers, "--lanes": numbers, "--out": places}),
        "compare": (lambda: [files[int(rng.integers(len(files)))] for _ in range(int(rng.integers(1, 3)))],
                    {"--runs": numbers, "--precision": numbers, "--max-runs": numbers, "--out": places}),
        "sweep": (lambda: [files[int(rng.integers(len(files)))], "--dry-run"] if rng.random() < 0.7 else
                  [files[int(rng.integers(len(files)))]],
                  {"--replications": numbers, "--seed": numbers, "--workers": numbers, "--out": places}),
        "forecast": (lambda: [str(fitted) if rng.random() < 0.6 else places[int(rng.integers(len(places)))]],
                     {"--until": dates, "--runs": numbers, "--replay-until": dates, "--out": places}),
        "score": (lambda: [places[int(rng.integers(len(places)))]], {"--after": dates, "--observed": files}),
        "calibrate": (lambda: [files[int(rng.integers(len(files)))]], {"--out": places, "--workers": numbers}),
        "validate": (lambda: [files[int(rng.integers(len(files)))]], {}),
        "discover": (lambda: [places[int(rng.integers(len(places)))]],
                     {"--outcome": ["deadlocked", "nothing", "", "completed,x"], "--min-rate": numbers,
                      "--out": places}),
        "export-ema": (lambda: [places[int(rng.integers(len(places)))]], {"--out": places}),
    }
    sets = []
    for _ in range(n):
        name = list(commands)[int(rng.integers(len(commands)))]
        positional, options = commands[name]
        argv = [name, *positional()]
        for option in [o for o in options if rng.random() < 0.5]:
            argv += [option, options[option][int(rng.integers(len(options[option])))]]
        if name in ("run", "compare") and "--runs" not in argv:
            argv += ["--runs", "3"]  # keep the ordinary cases short
        sets.append(argv)
    return sets


def fuzz_options(sets: list[list[str]], timeout: float, tmp: Path, examples: dict) -> Counter:
    def one(argv: list[str]) -> str:
        try:
            done = subprocess.run([str(SWAPSIM), *argv], capture_output=True, text=True, timeout=timeout, cwd=tmp,
                                  env={**os.environ, "MPLBACKEND": "Agg"})
        except subprocess.TimeoutExpired:
            outcome, stderr = "hang", ""
        else:
            outcome, stderr = judge(done.returncode, done.stderr, ""), done.stderr
        if outcome not in ("valid", "refused"):
            examples.setdefault(f"options {outcome}", (" ".join(argv)[:300], stderr[-500:]))
        return outcome

    with ThreadPoolExecutor(2) as pool:
        return Counter(pool.map(one, sets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000, help="mutated files of each kind")
    parser.add_argument("--options", type=int, default=500, help="option sets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    args = parser.parse_args()
    examples: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for kind in KINDS:
            started = time.perf_counter()
            counts = fuzz_files(kind, args.files, args.seed, args.timeout, tmp, examples)
            print(f"{kind} files: {args.files:,} in {time.perf_counter() - started:.0f} s: "
                  + ", ".join(f"{k} {counts[k]:,}" for k in ("valid", "refused", "traceback", "hang", "bad message")),
                  flush=True)
        fitted = tmp / "fitted"
        spec = yaml.safe_load(KINDS["calibration"][0].read_text())
        spec.update(base=str(ROOT / "scenarios" / "decree_2020.yaml"), particles=20, simulations=400,
                    predictive_runs=20, parameters={"government.initial_trust": {"low": 0.1, "high": 0.7}})
        (tmp / "tiny.yaml").write_text(yaml.safe_dump(spec))
        subprocess.run([str(SWAPSIM), "calibrate", str(tmp / "tiny.yaml"), "--out", str(fitted), "--workers", "1"],
                       check=True, capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
        started = time.perf_counter()
        counts = fuzz_options(option_sets(args.options, args.seed, tmp, fitted), args.timeout, tmp, examples)
        print(f"option sets: {args.options:,} in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{k} {counts[k]:,}" for k in ("valid", "refused", "traceback", "hang", "bad message")))
    for label, (case, stderr) in examples.items():
        print(f"\nfirst {label}:\n  input: {case!r}\n  stderr: {stderr!r}")


if __name__ == "__main__":
    sys.exit(main())

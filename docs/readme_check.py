"""Run the README's own `swapsim` commands verbatim, in the README's order, in a fresh folder, and check the
numbers the README quotes from them against what they print.

    .venv/bin/python docs/readme_check.py            # every command (the calibration takes minutes)
    .venv/bin/python docs/readme_check.py --quick    # only the commands that take seconds

Two kinds of number are checked. An output block marked `<!-- printed by: swapsim SUBCOMMAND -->` must
appear, number for number, in what the last such command printed. A quoted figure in the prose is a
`Claim`: a pattern of the README and a pattern of a command's output, each capturing the same numbers.
Installs, the test command and the dashboard (a server) are not run here; the Speed table's commands are
timed by benchmarks/, not run. docs/reproduce.py runs this first; tests/test_readme_check.py runs the quick part.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
MARKER = re.compile(r"<!-- printed by: swapsim (\S+) -->")
SLOW = {"calibrate", "forecast", "score"}  # and any command drawing from a posterior, or over 10,000 runs
NOT_RUN = {"dashboard": "a server: tests/test_dashboard_browser.py drives it"}


@dataclass
class Step:
    """One command of the README, where it stands, and the output block it promises (if any)."""

    line: int
    words: list[str]
    expected: list[str] = field(default_factory=list)  # the numbers of its output block, in order

    @property
    def command(self) -> str:
        return self.words[0]

    @property
    def slow(self) -> bool:
        runs = next((int(w) for a, w in zip(self.words, self.words[1:]) if a == "--runs"), 0)
        return self.command in SLOW or "--posterior" in self.words or runs > 10_000

    def __str__(self) -> str:
        return f"README line {self.line}: swapsim {' '.join(self.words)}"


@dataclass
class Claim:
    """A figure the prose quotes: `readme` finds it in the README; `printed` in the output of the first step whose
    command line contains `step`, or `written` reads it from the files that step wrote (given the folder the
    commands ran in). Both give the same numbers in the same order, the README's rounded as it writes them."""

    step: str
    readme: str
    printed: str = ""
    written: Callable[[Path], list[float]] | None = None


FORECAST = "results/forecast_2020"
GOVERNMENT = "government_released_taliban"


def _forecast_at(folder: Path, dates: list[str], columns: list[str]) -> list[float]:
    table = pd.read_csv(folder / FORECAST / "forecast.csv")
    rows = table[table["side"] == GOVERNMENT].set_index("date")
    return [float(rows.loc[d, c]) for d in dates for c in columns]


def _same_band(folder: Path, dates: list[str]) -> list[float]:
    """The band's ends when they are the same on every date (the README says "each with"), else every end."""
    ends = _forecast_at(folder, dates, ["q05", "q95"])
    return ends[:2] if all(ends[i:i + 2] == ends[:2] for i in range(0, len(ends), 2)) else ends


def _complete_by(folder: Path, dates: list[str]) -> list[float]:
    curve = pd.read_csv(folder / FORECAST / "completion_curve.csv")
    rows = curve[curve["side"] == "exchange"].set_index("date")
    return [100 * float(rows.loc[d, c]) for d in dates for c in ("share", "low", "high")]


def _completion_days(folder: Path, quantile: str) -> list[float]:
    """The exchange's completion date at a quantile (`q05`, `q50`, ...) and its Monte Carlo interval, as days of
    the month."""
    row = pd.read_csv(folder / FORECAST / "completion.csv").set_index("side").loc["exchange"]
    return [float(str(row[c])[-2:]) for c in (f"{quantile}_date", f"{quantile}_date_low", f"{quantile}_date_high")]


def _protocol_row(outcome: str) -> Claim:
    """A row of the README's table of protocols under the posterior: each scenario's rate, Wilson and Monte Carlo
    intervals."""
    cell = r"([\d.]+)% \(([\d.]+)–([\d.]+); ([\d.]+)–([\d.]+)\)"
    line = r" +([\d.]+)% +([\d.]+)% – +([\d.]+)% +([\d.]+)% – +([\d.]+)%"
    return Claim("--posterior results/record_2020 --runs 1000 --seed 1",
                 rf"\| {outcome} \| {cell} \| {cell} \| {cell} \|",
                 r"(?s)" + r".*?".join(f"{name} .*?{outcome}{line}"
                                       for name in ("decree_2020", "commanders_first", "doha_unconditional")))


CLAIMS = [
    Claim("sweep scenarios/sweeps/sensitivity.yaml",
          r"first-order index ([\d.]+) ± ([\d.]+), total ([\d.]+) ± ([\d.]+)\)",
          r"completed +S1 +ST\n *taliban\.initial_trust +([\d.]+) ± ([\d.]+) +([\d.]+) ± ([\d.]+)"),
    Claim("discover results/discovery --outcome deadlocked",
          r"feature scores ([\d.]+) for the attack limit, ([\d.]+) and ([\d.]+) for the two memories",
          r"max_attacks_per_day ([\d.]+), government\.memory ([\d.]+), taliban\.memory ([\d.]+)"),
    Claim("calibrate scenarios/calibration/record_2020.yaml",
          r"\(the first command above, about [\d,]+ seconds on two cores: ([\d,]+) simulations in (\d+) generations\)",
          r"record_2020: ([\d,]+) simulations in (\d+) generations"),
    Claim("calibrate scenarios/calibration/record_2020.yaml",
          r"ends at a tolerance of ([\d.]+) with an effective sample size of ([\d,]+) and ([\d,]+) distinct particles",
          r"\n +\d+ +([\d.]+) +\d+ +[\d.]+% +([\d,]+) +([\d,]+)\n  stopped"),
    Claim("calibrate scenarios/calibration/record_2020.yaml",
          r"covers all (\d+) of the government's points of high and medium confidence and all (\d+) of the Taliban's",
          r"(?s)government_released_taliban: (\d+) of \1 high.*taliban_released_government: (\d+) of \2 high"),
    Claim("calibrate scenarios/calibration/record_2020.yaml",
          r"the government's median reaches ([\d,]+) on 31 July \(record: 4,600\), the Taliban's ([\d,]+) ",
          r"(?s)fit window's last day.*?government_released_taliban: median ([\d,]+),.*?"
          r"taliban_released_government: median ([\d,]+),"),
    Claim("calibrate scenarios/calibration/record_2020.yaml",
          r"the band of the government's releases on 31 July runs from ([\d,]+) to ([\d,]+)\.",
          r"fit window's last day.*\n *government_released_taliban: median [\d,]+, 90% band ([\d,]+)–([\d,]+) "),
    Claim("forecast results/record_2020 --until 2020-12-31",
          r"median ([\d,]+) \[([\d,]+)–([\d,]+)\] on 2 August, ([\d,]+) on 15 August, ([\d,]+) on 31 August, "
          r"([\d,]+) on 15 September and ([\d,]+) \[([\d,]+)–([\d,]+)\] on 30 September",
          written=lambda folder: (_forecast_at(folder, ["2020-08-02"], ["q50", "q50_low", "q50_high"])
                                  + _forecast_at(folder, ["2020-08-15", "2020-08-31", "2020-09-15"], ["q50"])
                                  + _forecast_at(folder, ["2020-09-30"], ["q50", "q50_low", "q50_high"]))),
    Claim("forecast results/record_2020 --until 2020-12-31",
          r"with a 90% band of ([\d,]+)–([\d,]+) on 2 August and of ([\d,]+)–([\d,]+) on each later date",
          written=lambda folder: (_same_band(folder, ["2020-08-02"])
                                  + _same_band(folder, ["2020-08-15", "2020-08-31", "2020-09-15", "2020-09-30"]))),
    Claim("forecast results/record_2020 --until 2020-12-31",
          r"by 31 August in ([\d.]+)% \[([\d.]+)–([\d.]+)%\] of runs, by 30 September in ([\d.]+)% "
          r"\[([\d.]+)–([\d.]+)%\], by 31 December in ([\d.]+)% \[([\d.]+)–([\d.]+)%\]",
          written=lambda folder: _complete_by(folder, ["2020-08-31", "2020-09-30", "2020-12-31"])),
    Claim("forecast results/record_2020 --until 2020-12-31",
          r"one run in twenty completes by (\d+) August \[(\d+)–(\d+) August\]",
          written=lambda folder: _completion_days(folder, "q05")),
    Claim("forecast results/record_2020 --until 2020-12-31",
          r"([\d.]+)% of these runs \[([\d.]+)–([\d.]+)%\] had completed by 31 July",
          written=lambda folder: _complete_by(folder, ["2020-07-31"])),
    *(_protocol_row(outcome) for outcome in ("completed", "collapsed", "deadlocked", "partial")),
    Claim("--posterior results/record_2020 --runs 1000 --seed 1",
          r"conceding the commanders first changes completion by ([+−][\d.]+) points \(Newcombe 95% interval "
          r"([+−][\d.]+) to ([+−][\d.]+), McNemar p = ([\d.]+)\)",
          r"commanders_first +completed +([+-][\d.]+) +([+-][\d.]+) to +([+-][\d.]+) .* ([\d.]+)(?: \*)?\n"),
]


def numbers(text: str) -> list[str]:
    """The numbers of a text, thousands separators and a trailing % dropped: "4,600" and "4600" are one number."""
    return [n.replace(",", "") for n in NUMBER.findall(text.replace("−", "-"))]


def _inline_commands(line: str) -> list[str]:
    return re.findall(r"`((?:\.venv/bin/)?swapsim [^`]*)`", line)


def _concrete(words: list[str]) -> bool:
    """A command one can type as it stands: it names a bundled file or a results folder, and no placeholder."""
    if any("[" in w or (w.isupper() and len(w) > 1) for w in words):
        return False
    files = [w for w in words if w.endswith((".yaml", ".yml", ".csv"))]
    return all((ROOT / f).is_file() for f in files) and any(w.endswith((".yaml", ".yml")) or w.startswith("results/")
                                                            for w in words)


def steps(text: str | None = None) -> list[Step]:
    """The README's swapsim commands in order, from its shell blocks and its prose (not its tables), each with
    the numbers of the output block marked as its own."""
    lines = (text if text is not None else README.read_text()).splitlines()
    found: list[Step] = []
    in_block, kind, pending = False, "", None
    for number, line in enumerate(lines, start=1):
        if line.startswith("```"):
            in_block, kind = (not in_block), line[3:].strip()
            continue
        marker = MARKER.search(line)
        if marker:
            pending = marker.group(1)
            continue
        if in_block and kind == "" and pending:
            owner = next((s for s in reversed(found) if s.command == pending), None)
            if owner is None:
                raise ValueError(f"README line {number}: an output block of `swapsim {pending}` with no such command before it")
            owner.expected += numbers(line)
            continue
        if in_block and kind != "bash":
            continue
        if not in_block:
            pending = None
        candidates = line.split("&&") if in_block else ([] if line.startswith("|") else _inline_commands(line))
        for part in candidates:
            words = shlex.split(part.strip(), comments=True)
            if len(words) < 2 or not words[0].endswith("swapsim"):
                continue
            if _concrete(words[1:]) and words[1:] not in [s.words for s in found]:
                found.append(Step(number, words[1:]))
    return found


def claims(text: str | None = None) -> list[tuple[Claim, list[str]]]:
    """Each claim with the numbers the README quotes for it; an error if the README no longer says it."""
    text = text if text is not None else README.read_text()
    out = []
    for claim in CLAIMS:
        found = re.search(claim.readme, re.sub(r"\s+", " ", text))
        if not found:
            raise ValueError(f"the README no longer quotes {claim.readme!r}: mend the claim in docs/readme_check.py")
        out.append((claim, list(found.groups())))
    return out


def agrees(quoted: list[str], got: list[float | str] | None) -> bool:
    """Whether each quoted number is the one got, rounded to as many decimals as the README writes."""
    if got is None or len(got) != len(quoted):
        return False
    for q, g in zip(quoted, got):
        q = q.replace(",", "").replace("−", "-")
        decimals = len(q.split(".")[1]) if "." in q else 0
        if round(float(str(g).replace(",", "")), decimals) != float(q):
            return False
    return True


def contains_in_order(needle: list[str], haystack: list[str]) -> bool:
    """Whether `needle` appears in `haystack` as a run of consecutive items."""
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def run(step: Step, folder: Path, swapsim: Path, timeout: float = 3600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([str(swapsim), *step.words], cwd=folder, capture_output=True, text=True, timeout=timeout,
                          env=env)


def check(folder: Path, quick: bool = False, swapsim: Path | None = None, say=print) -> list[str]:
    """Run the README's commands in `folder` (which gets a link to the bundled scenarios); the problems found."""
    swapsim = swapsim or Path(sys.executable).with_name("swapsim")
    (folder / "scenarios").symlink_to(ROOT / "scenarios")
    problems, printed = [], {}
    for step in steps():
        if step.command in NOT_RUN:
            say(f"skip  {step}  ({NOT_RUN[step.command]})")
            continue
        if quick and step.slow:
            say(f"skip  {step}  (slow; run without --quick)")
            continue
        started = time.perf_counter()
        proc = run(step, folder, swapsim)
        say(f"ran   {step}  ({time.perf_counter() - started:.1f} s, exit {proc.returncode})")
        if proc.returncode != 0:
            problems.append(f"{step}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
            continue
        printed[" ".join(step.words)] = proc.stdout
        if step.expected and not contains_in_order(step.expected, numbers(proc.stdout)):
            problems.append(f"{step}: its output block's numbers {' '.join(step.expected)} are not what it printed:\n"
                            f"{proc.stdout}")
    return problems + check_claims(folder, printed, quick, say)


def check_claims(folder: Path, printed: dict[str, str], quick: bool = False, say=print) -> list[str]:
    """Each claim against what its command printed (`printed`: command line -> output) or wrote in `folder`."""
    problems = []
    for claim, quoted in claims():
        output = next((text for command, text in printed.items() if claim.step in command), None)
        if output is None:
            if not quick:
                problems.append(f"no command ran whose line contains {claim.step!r}, for the claim {claim.readme!r}")
            continue
        if claim.written is not None:
            got = claim.written(folder)
        else:
            found = re.search(claim.printed, output)
            got = list(found.groups()) if found else None
        if not agrees(quoted, got):
            problems.append(f"README quotes {quoted} ({claim.readme!r}); `swapsim {claim.step}` gave {got}")
        else:
            say(f"ok    {claim.step}: {', '.join(quoted)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the commands that take seconds")
    parser.add_argument("--keep", metavar="DIR", help="run in this new folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True)
        problems = check(folder, args.quick)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            problems = check(Path(tmp), args.quick)
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

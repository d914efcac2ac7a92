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
    """A figure the prose quotes: `readme` finds it in the README, `printed` in the output of the first step whose
    command line contains `step`; both capture the same numbers in the same order."""

    step: str
    readme: str
    printed: str


CLAIMS = [
    Claim("sweep scenarios/sweeps/sensitivity.yaml",
          r"first-order index ([\d.]+) ± ([\d.]+), total ([\d.]+) ± ([\d.]+)\)",
          r"completed +S1 +ST\n *taliban\.initial_trust +([\d.]+) ± ([\d.]+) +([\d.]+) ± ([\d.]+)"),
    Claim("discover results/discovery --outcome deadlocked",
          r"feature scores ([\d.]+) for the attack limit, ([\d.]+) and ([\d.]+) for the two memories",
          r"max_attacks_per_day ([\d.]+), government\.memory ([\d.]+), taliban\.memory ([\d.]+)"),
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
    files = [w for w in words if w.endswith((".yaml", ".yml"))]
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
        out.append((claim, [n.replace(",", "") for n in found.groups()]))
    return out


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
    for claim, quoted in claims():
        output = next((text for command, text in printed.items() if claim.step in command), None)
        if output is None:
            if not quick:
                problems.append(f"no command ran whose line contains {claim.step!r}, for the claim {claim.readme!r}")
            continue
        found = re.search(claim.printed, output)
        got = [n.replace(",", "") for n in found.groups()] if found else None
        if got != quoted:
            problems.append(f"README quotes {quoted} ({claim.readme!r}); `swapsim {claim.step}` printed {got}")
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

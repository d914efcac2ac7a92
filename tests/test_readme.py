"""The README as a new user reads it: every Python block runs on its own, once, as a script file (and, where it
starts worker processes, pasted into an interpreter with no script file), from a fresh folder beside the
bundled scenarios; every `swapsim` command it shows names files that exist, from the repository root, and
options the command takes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
END = "README-BLOCK-END"


def _run_block(code: str, folder: Path, how: str) -> tuple[subprocess.CompletedProcess, float]:
    (folder / "scenarios").symlink_to(ROOT / "scenarios")
    code += f'\nprint("{END}", __name__)\n'
    env = {**os.environ, "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    if how == "script":
        (folder / "block.py").write_text(code)
        proc = subprocess.run([sys.executable, "block.py"], cwd=folder, capture_output=True, text=True,
                              timeout=600, env=env)
    else:  # pasted: the code comes on standard input, as in an interpreter or a notebook, with no file behind it
        proc = subprocess.run([sys.executable, "-"], input=code, cwd=folder, capture_output=True, text=True,
                              timeout=600, env=env)
    return proc, time.perf_counter() - started


CASES = [(i, "script") for i in range(len(BLOCKS))] + \
        [(i, "pasted") for i, block in enumerate(BLOCKS) if re.search(r"workers\s*=\s*[2-9]", block)]


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4, "the README's Python examples were not found"


@pytest.mark.slow
@pytest.mark.parametrize("index, how", CASES, ids=[f"block{i}-{how}" for i, how in CASES])
def test_python_block_runs_on_its_own_once(index, how, tmp_path):
    proc, seconds = _run_block(BLOCKS[index], tmp_path, how)
    assert proc.returncode == 0, f"README Python block {index} failed:\n{proc.stderr[-3000:]}"
    ends = re.findall(rf"^{END} (\S+)$", proc.stdout, flags=re.M)
    assert ends == ["__main__"], f"block {index} ran {len(ends)} times ({ends}): worker processes re-ran it"
    print(f"README block {index} ({how}): {seconds:.1f} s")


def _commands() -> list[list[str]]:
    """Every swapsim command line the README shows: in shell blocks, and quoted inline."""
    lines = [line for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S) for line in block.splitlines()]
    lines += re.findall(r"`((?:\.venv/bin/)?swapsim [^`]*)`", README)
    commands = []
    for line in lines:
        for part in line.split("&&"):
            words = shlex.split(part.strip(), comments=True)
            if not words or not words[0].endswith("swapsim") or len(words) < 2:
                continue
            words = words[1:]
            usage = any("[" in w or w.isupper() for w in words)  # a synopsis: `swapsim run SCENARIO [--runs N]`
            concrete = any(w.endswith((".yaml", ".yml")) or w.startswith(("results/", "-")) for w in words)
            if concrete and not usage and words not in commands:
                commands.append(words)
    return commands


COMMANDS = _commands()
PLACEHOLDERS = {"my.yaml", "scenario.yaml"}  # files the text asks the reader to imagine


def test_the_readme_shows_commands():
    assert {c[0] for c in COMMANDS} >= {"run", "sweep", "compare", "calibrate", "forecast", "schema"}


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses_and_its_files_exist_from_the_repository_root(words):
    try:
        build_parser().parse_args(words)
    except SystemExit as exit_:  # --help and --version exit 0
        assert exit_.code == 0, f"`swapsim {' '.join(words)}` is refused by the command line (exit {exit_.code})"
    outputs = {w for i, w in enumerate(words) if i and words[i - 1] in ("--out", "--posterior")}
    for word in words[1:]:
        if word.startswith("-") or word in outputs or word in PLACEHOLDERS or not word.endswith((".yaml", ".yml")):
            continue
        assert (ROOT / word).is_file(), f"`swapsim {' '.join(words)}`: no {word} from the repository root"


@pytest.mark.slow
def test_the_discovery_example_runs_as_written_and_prints_its_box(tmp_path):
    """The commands of "Where does it lock up?", verbatim (the install aside), from a fresh folder."""
    section = README.split("## Where does it lock up?", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0].splitlines()
             if "swapsim " in line]
    assert [shlex.split(line, comments=True)[1] for line in lines] == ["sweep", "discover"]
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    printed = ""
    for line in lines:
        proc = subprocess.run(line, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "MPLBACKEND": "Agg"})
        assert proc.returncode == 0, f"`{line}` failed:\n{proc.stderr[-2000:]}"
        printed = proc.stdout
    quoted = re.search(r"The command prints:\n\n(?:<!-- printed by: [^>]*-->\n)?```\n(.*?)```", section,
                       flags=re.S).group(1)
    assert " ".join(quoted.split()) in " ".join(printed.split()), "the README quotes another box than the command prints"

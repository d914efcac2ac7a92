"""docs/readme_check.py: the README's commands, run verbatim in its order, print the numbers it quotes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import readme_check  # noqa: E402

SYNTHETIC = """# A project

```bash
python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/swapsim run scenarios/decree_2020.yaml --runs 20
.venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest -q
```

It prints:

<!-- printed by: swapsim run -->
```
decree_2020: 20 runs, root seed 20200311
  completed    55.0%    34.2% –  74.2%   (11 runs)
```

| table | `swapsim run scenarios/high_trust.yaml --runs 5` |
|---|---|

Then `swapsim sweep scenarios/sweeps/trust_grid.yaml --dry-run` shows a design, and
`swapsim run SCENARIO [--runs N]` is a synopsis, `swapsim run my.yaml` a placeholder.
"""


def test_commands_are_read_in_order_with_the_numbers_of_their_output_blocks():
    found = readme_check.steps(SYNTHETIC)
    assert [s.words for s in found] == [["run", "scenarios/decree_2020.yaml", "--runs", "20"],
                                        ["sweep", "scenarios/sweeps/trust_grid.yaml", "--dry-run"]]
    assert found[0].line == 4 and found[1].line == 19
    assert found[0].expected == ["20", "20200311", "55.0", "34.2", "74.2", "11"]
    assert found[1].expected == []


def test_an_output_block_for_a_command_the_readme_has_not_shown_is_an_error():
    text = "<!-- printed by: swapsim discover -->\n```\n99.4% of deadlocks\n```\n"
    with pytest.raises(ValueError, match="README line 3: an output block of `swapsim discover`"):
        readme_check.steps(text)


def test_numbers_compare_as_written_without_thousands_separators():
    assert readme_check.numbers("4,600 of 5,000 (−0.7 to +2.1, p = 0.392) on 2020-07-31") == \
        ["4600", "5000", "-0.7", "2.1", "0.392", "2020", "07", "31"]
    printed = readme_check.numbers("decree_2020: 200 runs, completed 57.5% (50.6–64.1)")
    assert readme_check.contains_in_order(["200", "57.5"], printed)
    assert not readme_check.contains_in_order(["200", "57.6"], printed)
    assert not readme_check.contains_in_order(["57.5", "200"], printed)


def test_every_claim_is_still_quoted_by_the_readme_and_names_a_command_it_shows():
    commands = [" ".join(s.words) for s in readme_check.steps()]
    for claim, quoted in readme_check.claims():
        assert quoted and all(readme_check.numbers(q) for q in quoted)
        assert any(claim.step in c for c in commands), claim.step


def test_a_changed_number_is_reported(tmp_path, monkeypatch):
    """The check fails when the README quotes a number the command does not print (a fake swapsim prints it)."""
    fake = tmp_path / "bin" / "swapsim"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'decree_2020: 20 runs, root seed 20200311'\necho '  completed 55.1% 34.2% – 74.2% "
                    "(11 runs)'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(readme_check, "README", type("Text", (), {"read_text": staticmethod(lambda: SYNTHETIC)}))
    monkeypatch.setattr(readme_check, "CLAIMS", [])
    work = tmp_path / "work"
    work.mkdir()
    problems = readme_check.check(work, quick=True, swapsim=fake, say=lambda _: None)
    assert len(problems) == 1 and "55.0" in problems[0] and "README line 4" in problems[0]


@pytest.mark.slow
def test_the_readme_commands_print_the_numbers_it_quotes(tmp_path):
    """Every README command, verbatim and in order, from a fresh folder (the calibration takes minutes)."""
    problems = readme_check.check(tmp_path, quick=False)
    assert problems == []

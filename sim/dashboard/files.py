"""What the dashboard may read: scenario files only from the folders it was told of.

A dashboard is a server: whoever reaches its page types paths that the server's user opens. So a path from
the page is opened only inside the bundled scenarios, the Save folder (`--out`), the folder of a scenario
given on the command line and the folders given with `--allow`, with symbolic links followed before the
check, and the files it `extends` likewise. Outside them the answer is the same whether or not the file
exists, and no message quotes more of a file than a key or a value cut short.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from sim.model.scenario import BUNDLED, Scenario, ScenarioError, load, resolve

ALLOW = "SWAPSIM_ALLOW"  # the server's allowed folders, joined with os.pathsep
LONGEST_MESSAGE = 300  # characters of an error line the page shows


def allowed_folders(env: Mapping[str, str] = os.environ) -> tuple[Path, ...]:
    """The folders a path typed into the page may lie in, resolved: the bundled scenarios and the server's."""
    given = [part for part in env.get(ALLOW, "").split(os.pathsep) if part]
    return tuple(dict.fromkeys(Path(folder).resolve() for folder in [str(BUNDLED), *given]))


def is_bundled_name(choice: str) -> bool:
    return "/" not in choice and "\\" not in choice and not Path(choice).suffix


def open_scenario(choice: str, folders: Sequence[Path] | None) -> Scenario:
    """The scenario a bundled name or a path names, a path only inside `folders` (None: anywhere, for the
    operator's own choice); ScenarioError otherwise."""
    if is_bundled_name(choice):
        return resolve(choice)
    return load(Path(choice).expanduser(), within=folders)


def message(err: BaseException) -> str:
    """An error as the page shows it: its first problem on one line, cut to LONGEST_MESSAGE characters; an
    error that is not a user's mistake is named by its kind only (the server's log has the rest)."""
    problems = getattr(err, "problems", None) if isinstance(err, ScenarioError) else None
    if problems:
        text = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    else:
        text = f"could not be done ({type(err).__name__}); see the server's log"
    text = " ".join(text.split())
    return text if len(text) <= LONGEST_MESSAGE else text[:LONGEST_MESSAGE - 1] + "…"

"""The error every user mistake becomes: one line per problem, naming the file and the field; and the one
"did you mean" of every misspelt key, name or value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ScenarioError(ValueError):
    """A user mistake in a scenario file (or a spec, or an option): one line per problem, naming file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The one of `choices` a misspelt word most likely meant, or None when none is close."""
    near = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.75)
    return near[0] if near else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'x'?)" when one of `choices` is close to `word`, else ""."""
    near = closest(word, choices)
    return f" (did you mean {near!r}?)" if near else ""

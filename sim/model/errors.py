"""The error every user mistake becomes: one line per problem, naming the file and the field."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A user mistake in a scenario file (or a spec, or an option): one line per problem, naming file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))

"""Hypothesis draws the same examples on every CI run, so a red CI is reproducible, not a roll of the dice."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

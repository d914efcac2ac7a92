"""Counts in words for titles and summaries: "1 run", "2,000 runs"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for one ("1 run", "1 replication", "24,200 runs")."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"

"""Posterior mode (`swapsim dashboard --posterior DIR`): what the posterior says of each slider's parameter, and
runs that draw from it except where the user has moved a slider.

A slider's parameter is the posterior's when the calibration fitted or fixed it and the scenario leaves it at
the calibration base's value (`Posterior.overrides`' rule). Such a slider starts at the posterior's median and
shows the median and 90% interval; moving it holds that one parameter at the slider's value in every run,
while the others are still drawn from the posterior.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sim.experiments.posterior import Posterior
from sim.model.scenario import Scenario, keyword, value_at, with_overrides

INTERVAL = (0.05, 0.5, 0.95)  # a 90% interval around the median


@dataclass
class Overridden(Posterior):
    """A posterior whose runs leave the parameters in `held` (dotted paths) at the scenario's values."""

    held: frozenset[str] = frozenset()

    def overrides(self, scenario: Scenario, seeds: np.ndarray, keep: frozenset[str] = frozenset()
                  ) -> dict[str, np.ndarray]:
        return super().overrides(scenario, seeds, keep | self.held)


def holding(posterior: Posterior, held: frozenset[str]) -> Posterior:
    """The posterior with the parameters in `held` left to the scenario (the posterior itself when none are)."""
    if not held:
        return posterior
    base = {f.name: getattr(posterior, f.name) for f in fields(Posterior)}
    return Overridden(**base, held=frozenset(held))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs=INTERVAL) -> np.ndarray:
    """Quantiles of a weighted sample (the inverse of its weighted distribution function)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    at = np.minimum(np.searchsorted(cumulative, qs, side="left"), len(values) - 1)
    return values[order][at]


def summary(posterior: Posterior, scenario: Scenario, paths) -> dict[str, tuple[float, float, float]]:
    """Keyword -> (5%, median, 95%) of the posterior, for the `paths` the posterior governs in `scenario` (a fixed
    value gives three equal numbers)."""
    out: dict[str, tuple[float, float, float]] = {}
    weights = posterior.frame["weight"].to_numpy(dtype=float)
    for path in paths:
        if value_at(scenario, path) != value_at(posterior.base, path):
            continue  # the scenario's own question: the posterior leaves it alone
        if path in posterior.fitted:
            low, mid, high = weighted_quantiles(posterior.frame[path].to_numpy(dtype=float), weights)
            out[keyword(path)] = (float(low), float(mid), float(high))
        elif path in posterior.fixed and not isinstance(posterior.fixed[path], str):
            value = float(posterior.fixed[path])
            out[keyword(path)] = (value, value, value)
    return out


def described(name: str, low: float, mid: float, high: float) -> str:
    """One line for beside a slider: the posterior's median and 90% interval (or its fixed value)."""
    if low == high:
        return f"Posterior: fixed by the calibration at {mid:.3g}"
    return f"Posterior median {mid:.3g}, 90% interval {low:.3g}–{high:.3g}"


def draw(posterior: Posterior, scenario: Scenario, seed: int) -> tuple[Scenario, dict[str, object]]:
    """The scenario with the parameter set the posterior gives a run of `seed` (the same draw the ensemble's run
    with that seed would make), and the drawn values by dotted path."""
    drawn = {path: values[0].item() if hasattr(values[0], "item") else values[0]
             for path, values in posterior.overrides(scenario, np.array([seed], dtype=np.int64)).items()}
    return (with_overrides(scenario, drawn, "posterior draw") if drawn else scenario), drawn


def integrates(posterior: Posterior | None, held: frozenset[str]) -> str:
    """What the ensemble averages over, in one line."""
    if posterior is None:
        return ("The ensemble integrates over chance alone: every run has the sliders' values and its own seed "
                "(attacks, reactions, timing).")
    distinct = posterior.identity()["distinct"]
    kept = f"; held at your values: {', '.join(sorted(held))}" if held else ""
    return (f"The ensemble integrates over the calibration's posterior ({distinct:,} distinct parameter sets, each "
            f"run drawing one by weight) and over chance (each run's seed){kept}.")

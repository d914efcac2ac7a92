"""Proper scores of a forecast against the record: the CRPS of the ensemble and the interval score of its band
at each record point, their means per side, and a paragraph that says them in words.

The scores come from `scoringrules` (always on its numpy backend, so numba is never needed). Lower is better
for both; both are in the unit of the counts (prisoners), so they can be read as "off by about so many".

    from sim.reports import scoring
    scored = scoring.score_points(ensemble, record.points)   # ensemble: runs x points
    summary = scoring.summarize(scored)                       # plain dict, JSON-serialisable
    print(scoring.summary_paragraph(summary))
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scoringrules as sr

NEEDED = ("date", "side", "value", "confidence", "lower")
STRONG = ("high", "medium")  # the confidence grades of the `_high_medium` means
SIDE_WORDS = {"government_released_taliban": "Government releases",
              "taliban_released_government": "Taliban releases"}


def score_points(ensemble: np.ndarray, points: pd.DataFrame, *, level: float = 0.9) -> pd.DataFrame:
    """Score each record point against the ensemble's simulated values for it.

    `ensemble` is runs x points (column j is the simulated value of row j of `points` in each run); `points` has
    at least date, side, value, confidence and lower (the report is a lower bound, "over N"). Returns one row
    per point, in order: date, side, value, confidence, lower, q05, q50, q95, crps, interval_score, covered.

    q05 and q95 are the ends of the central `level` band, the quantiles (1 - level) / 2 and 1 - (1 - level) / 2
    (named for the default level 0.9); q50 is the median. For a point figure, crps is the CRPS of the ensemble's
    empirical distribution at the value, interval_score the interval score of [q05, q95] with
    alpha = 1 - level, and covered says q05 <= value <= q95.

    A lower bound b says only that the true value is at least b. The CRPS or interval score at b would punish a
    forecast for putting its mass above b, where the truth may well be, so neither is a proper score for that
    report: both are NaN, and covered says the band reaches the bound (q95 >= b), as in the calibration's
    in-sample coverage.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level!r}")
    missing = [column for column in NEEDED if column not in points.columns]
    if missing:
        raise ValueError(f"points: missing column(s) {', '.join(missing)} (needed: {', '.join(NEEDED)})")
    sims = np.asarray(ensemble, dtype=float)
    if sims.ndim != 2:
        raise ValueError(f"ensemble must be a 2-D array runs x points, got {sims.ndim} dimension(s) {sims.shape}")
    runs, columns = sims.shape
    if runs == 0:
        raise ValueError("ensemble has no runs (0 rows): there is nothing to score")
    if columns != len(points):
        raise ValueError(f"ensemble has {columns} column(s) but there are {len(points)} record point(s): "
                         "it must be runs x points, one column per point, in the points' order")

    value = points["value"].to_numpy(dtype=float)
    lower = points["lower"].to_numpy(dtype=bool)
    # Rounded, so that level 0.9 asks for the quantiles 0.05 and 0.95 themselves, not 1 - 0.9 = 0.0999...98
    # halved: with 101 members 0..100 the band is then [5, 95], not [4.999..., 95], and 5 is inside it.
    alpha = round(1.0 - level, 12)
    tail = alpha / 2.0
    q05, q50, q95 = np.quantile(sims, [tail, 0.5, 1.0 - tail], axis=0, method="linear")
    # The quantile-decomposition estimator (scoringrules' default, named so a change of default cannot move the
    # scores) is the CRPS of the ensemble's empirical distribution, E|X - y| - E|X - X'| / 2, in O(m log m).
    crps = np.asarray(sr.crps_ensemble(value, sims.T, estimator="qd", backend="numpy"), dtype=float)
    interval = np.asarray(sr.interval_score(value, q05, q95, alpha, backend="numpy"), dtype=float)
    covered = np.where(lower, q95 >= value, (q05 <= value) & (value <= q95))

    out = points.loc[:, list(NEEDED)].reset_index(drop=True)
    out["value"] = value
    out["lower"] = lower
    return out.assign(q05=q05, q50=q50, q95=q95, crps=np.where(lower, np.nan, crps),
                      interval_score=np.where(lower, np.nan, interval), covered=covered.astype(bool))


def summarize(scored: pd.DataFrame) -> dict:
    """The scores of `score_points` per side (in order of first appearance) and over "all" points.

    Each entry: points, lower_bounds, scored (point figures with a finite CRPS), mean_crps and
    mean_interval_score over those, covered (over all points, lower bounds included) and coverage (covered /
    points), and scored_high_medium, mean_crps_high_medium, mean_interval_score_high_medium over the high- and
    medium-confidence figures. Plain ints and floats, None for a mean over nothing, so it goes straight to JSON.
    """
    sides = [str(side) for side in pd.unique(scored["side"])]
    if "all" in sides:
        raise ValueError("a side is named 'all', which is the key of the overall summary")
    out = {side: _summary_of(scored[scored["side"] == side]) for side in sides}
    out["all"] = _summary_of(scored)
    return out


def _summary_of(rows: pd.DataFrame) -> dict:
    lower = rows["lower"].to_numpy(dtype=bool)
    crps = rows["crps"].to_numpy(dtype=float)
    interval = rows["interval_score"].to_numpy(dtype=float)
    figures = ~lower & np.isfinite(crps)
    strong = figures & rows["confidence"].isin(STRONG).to_numpy()
    covered = int(rows["covered"].to_numpy(dtype=bool).sum())
    return {"points": len(rows), "lower_bounds": int(lower.sum()), "scored": int(figures.sum()),
            "mean_crps": _mean(crps[figures]), "mean_interval_score": _mean(interval[figures]),
            "covered": covered, "coverage": covered / len(rows) if len(rows) else None,
            "scored_high_medium": int(strong.sum()), "mean_crps_high_medium": _mean(crps[strong]),
            "mean_interval_score_high_medium": _mean(interval[strong])}


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def summary_paragraph(summary: dict, *, level: float = 0.9, unit: str = "prisoners") -> str:
    """The summary in one paragraph of plain English: how many points were scored, then each side's mean CRPS
    and interval score and how many points its band covers, then the same overall."""
    band = f"{level * 100:g}%"
    total = summary["all"]
    lower = total["lower_bounds"]
    figures = total["points"] - lower
    sentences = [f"Scored on {_count(total['points'], 'record point')} "
                 f"({_count(figures, 'point figure')}, {_count(lower, 'lower bound')})."]
    for side, s in summary.items():
        if side != "all":
            sentences.append(f"{side_words(side)}: {_side_sentence(s, band, unit)}")
    strong, extra = total["scored_high_medium"], ""
    if total["mean_crps"] is not None and 0 < strong < total["scored"]:
        strong_figures = _count(strong, "high- or medium-confidence figure")
        extra = f" ({_amount(total['mean_crps_high_medium'], unit)} over {strong_figures})"
    overall = _side_sentence(total, band, unit, extra)
    sentences.append(f"Overall: {overall}")
    return " ".join(sentences)


def _side_sentence(s: dict, band: str, unit: str, extra: str = "") -> str:
    covers = f"the {band} band covers {s['covered']:,} of {_count(s['points'], 'point')}."
    if s["mean_crps"] is None:
        return f"no point figure to score; {covers}"
    return (f"mean CRPS {_amount(s['mean_crps'], unit)} and mean {band} interval score "
            f"{_amount(s['mean_interval_score'], unit)} over {_count(s['scored'], 'figure')}{extra}; {covers}")


def side_words(side: str) -> str:
    """A side's name as words in a sentence: "Government releases", "Taliban releases", anything else as is."""
    return SIDE_WORDS.get(side, side)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun if n == 1 else noun + 's'}"


def _amount(x: float | None, unit: str) -> str:
    return f"{format_score(x)} {unit}".strip()


def format_score(x: float | None) -> str:
    """A score with thousands separators and at most 3 significant figures, no decimals from 100 up:
    0.222, 12.3, 231, 1,230; "n/a" for None or NaN."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    decimals = 2 - math.floor(math.log10(abs(x)))
    rounded = round(x, decimals)
    if abs(rounded) >= 100:
        return f"{rounded:,.0f}"
    text = f"{rounded:,.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text

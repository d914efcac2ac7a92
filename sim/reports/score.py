"""`swapsim score`: a forecast folder scored against a record by proper scoring rules (`sim.reports.scoring`).

Each record point after the cut-off date (by default the end of the fit window) and within the forecast is
compared with the forecast's runs on that day: the CRPS of the ensemble, the interval score of its 90%
band, and whether the band covers the point.

    from sim.reports import score
    result = score.score_forecast("results/forecast_2020", after="2020-06-30")
    print(result["paragraph"])
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments import record as records
from sim.experiments import storage
from sim.experiments.provenance import provenance
from sim.model.scenario import ScenarioError
from sim.reports import scoring

GRADES = {"high": 1.0, "medium": 0.5, "low": 0.25}  # every grade is scored; the weights only name them
ENSEMBLE_COLUMNS = {"run", "day", "government_released", "taliban_released"}


def read_forecast(folder: Path) -> tuple[dict, pd.DataFrame]:
    """A forecast folder's forecast.json and ensemble; a one-line error when it is not a forecast folder."""
    info_path, ensemble_path = folder / "forecast.json", folder / "ensemble.parquet"
    if not info_path.is_file() or not ensemble_path.is_file():
        raise ScenarioError([f"{folder}: not a forecast folder (no forecast.json and ensemble.parquet; "
                             "make one with `swapsim forecast`)"])
    try:
        info = json.loads(info_path.read_text())
        for key in ("calendar_start", "until", "fit_until"):
            dt.date.fromisoformat(info[key])
        if set(info["totals"]) != set(records.SIDES) or min(int(v) for v in info["totals"].values()) <= 0:
            raise ValueError("totals")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ScenarioError([f"{info_path}: not a forecast's description (unreadable, or missing calendar_start, "
                             "until, fit_until or totals); make the folder again with `swapsim forecast`"]) from None
    try:
        ensemble = pd.read_parquet(ensemble_path, columns=sorted(ENSEMBLE_COLUMNS))
    except Exception:  # noqa: BLE001 - pyarrow's errors vary; all mean a damaged file
        raise ScenarioError([f"{ensemble_path}: cannot be read as the forecast's ensemble (columns "
                             f"{', '.join(sorted(ENSEMBLE_COLUMNS))})"]) from None
    return info, ensemble


def _date(text: str | dt.date | None, what: str) -> dt.date | None:
    if text is None or isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise ScenarioError([f"{what}: expected a date as YYYY-MM-DD (got {str(text)[:80]!r})"]) from None


def score_forecast(folder: str | Path, observed: str | Path | None = None, after: str | dt.date | None = None,
                   level: float = 0.9) -> dict:
    """Score a forecast on the record points after `after` (default: the end of its fit window) up to its last
    day. Returns the per-point table, the summary per side, a paragraph, and what was scored."""
    folder = Path(folder)
    info, ensemble = read_forecast(folder)
    start, until = dt.date.fromisoformat(info["calendar_start"]), dt.date.fromisoformat(info["until"])
    fit_until = dt.date.fromisoformat(info["fit_until"])
    after = _date(after, "--after") or fit_until
    if not start <= after < until:
        raise ScenarioError([f"--after {after}: outside the forecast, which runs from {start} to {until}"])
    if observed is None:
        frame, source = records.bundled_frame(), "sim/data/observed_2020/releases.csv"
    else:
        frame, source = records.read_frame(Path(observed), "--observed"), str(observed)
    totals = {records.SIDES[side]: total for side, total in info["totals"].items()}
    record = records.record_points(frame, where=f"--observed {source}", weights=GRADES, start=start, totals=totals,
                                   until=until, after=after)
    days = np.sort(ensemble["day"].unique())
    runs = int(ensemble["run"].nunique())
    if len(ensemble) != runs * len(days) or not set(record.days) <= set(days.tolist()):
        raise ScenarioError([f"{folder}/ensemble.parquet: does not hold every run on every day of the forecast"])
    ordered = ensemble.sort_values(["run", "day"], kind="stable")
    simulated = records.at_points(ordered, record, runs)
    scored = scoring.score_points(simulated, record.points, level=level)
    summary = scoring.summarize(scored)
    paragraph = (f"Forecast {folder} (fit to {fit_until}, {runs:,} runs) scored on the record after {after} up to "
                 f"{until}. " + scoring.summary_paragraph(summary, level=level))
    return {"points": scored, "summary": summary, "paragraph": paragraph,
            "scored": {"forecast": str(folder), "observed": source, "after": after.isoformat(),
                       "until": until.isoformat(), "fit_until": fit_until.isoformat(), "runs": runs,
                       "level": level}}


def save(result: dict, out: str | Path, force: bool = False, command: list[str] | None = None) -> Path:
    """Write score.csv (one row per record point) and score.json (what was scored, the summary, the paragraph)."""
    out = Path(out)
    storage.check_output(out, force)
    with storage.staged_directory(out, force) as stage:
        storage.write_csv(stage / "score.csv", result["points"])
        storage.write_json(stage / "score.json", {**result["scored"], "summary": result["summary"],
                                                  "paragraph": result["paragraph"],
                                                  "rules": "CRPS of the ensemble and interval score of its band "
                                                           "(scoringrules); lower bounds are not scored, only "
                                                           "checked for coverage",
                                                  **provenance(command)})
    return out


def format_score(result: dict) -> str:
    """The console summary: the paragraph, then one line per record point."""
    lines = [result["paragraph"], "",
             f"  {'date':<10} {'side':<28} {'record':>8} {'90% band':>17} {'CRPS':>8} {'interval':>9}  covered"]
    for row in result["points"].itertuples():
        bound = "≥" if row.lower else " "
        crps = "" if not np.isfinite(row.crps) else scoring.format_score(row.crps)
        interval = "" if not np.isfinite(row.interval_score) else scoring.format_score(row.interval_score)
        lines.append(f"  {row.date!s:<10} {row.side:<28} {bound}{row.value:>7,.0f} {row.q05:>8,.0f}–{row.q95:<8,.0f} "
                     f"{crps:>8} {interval:>9}  {'yes' if row.covered else 'no'}")
    return "\n".join(lines)

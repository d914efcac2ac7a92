"""The observed record as data for a calibration: its points, their weights, and the distance of a run to them.

A record is a CSV of cumulative releases reported on a date (columns date, side, cumulative_released,
confidence; a `note` saying "lower bound", or a `bound` column saying "lower", marks an "over N" figure).
Each point is weighed by its confidence grade, and repeated reports of an unchanged count (a plateau) share
the weight of one fact (docs/ODD.md, "Calibration"). A spec may add the Taliban team's walkouts on record, whose
count by the end of the fit window is scored beside the releases (`Walkouts`).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sim.model.errors import ScenarioError, did_you_mean
from sim.model.yaml_files import is_file

# The record's sides and the model column each is compared with.
SIDES = {"government_released_taliban": "government_released", "taliban_released_government": "taliban_released"}
# Errors are relative to the reported count, counts below this share of a side's total counting as that share.
ERROR_FLOOR = 0.05
COLUMNS = ("date", "side", "cumulative_released", "confidence")


@dataclass(frozen=True)
class Walkouts:
    """The Taliban team's walkouts on record by the end of the fit window (`day`), and the weight of that count
    among the record's points."""

    day: int
    count: int
    weight: float


@dataclass
class Record:
    """The observed points of a window: day, model column, value, weight, and whether a lower bound; and, if the
    spec scores them, the walkouts on record by the window's end."""

    points: pd.DataFrame  # date, day, side, column, value, confidence, weight, lower, scale, plateau
    walkouts: Walkouts | None = None

    @property
    def days(self) -> list[int]:
        """The days a run is read on: the points' days, and the window's end when walkouts are scored."""
        extra = {self.walkouts.day} if self.walkouts is not None else set()
        return sorted(set(self.points["day"].tolist()) | extra)

    @property
    def last_day(self) -> int:
        return int(self.points["day"].max())


def bundled_frame() -> pd.DataFrame:
    """The bundled 2020 record (sim/data/observed_2020/releases.csv), as read from the CSV."""
    with resources.as_file(resources.files("sim") / "data" / "observed_2020" / "releases.csv") as path:
        return read_frame(path, "sim/data/observed_2020/releases.csv")


def read_frame(path: Path, where: str) -> pd.DataFrame:
    """A record's CSV, every cell as the text written (so that a bad cell is reported as written, not as a
    pandas guess); a one-line error naming `where` when it is missing or not CSV. The frame's `attrs["rows"]`
    holds each data row's number, counted as a spreadsheet shows them (the header is row 1, a quoted cell over
    several lines is one row, an empty line an empty row)."""
    if not is_file(path):
        raise ScenarioError([f"{where}: no such file {str(path)!r}"])
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        with open(path, newline="", encoding="utf-8") as stream:
            rows = [number for number, row in enumerate(csv.reader(stream), start=1) if row]
    except (ValueError, OSError, csv.Error) as exc:
        raise ScenarioError([f"{where}: {path} cannot be read as CSV: {str(exc).splitlines()[0]}"]) from None
    # csv counts rows as a spreadsheet does; pandas skips the empty ones, as `if row` does
    frame.attrs["rows"] = rows[1:] if len(rows) == len(frame) + 1 else [i + 2 for i in range(len(frame))]
    return frame


MAX_ROW_LINES = 20  # lines of bad rows printed; the rest counted in one more line
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
WHOLE = re.compile(r"\d+")


def frame_problems(frame: pd.DataFrame, *, where: str, weights: dict[str, float]) -> list[str]:
    """Every problem of a record's table, one line per bad row naming the row (the header being row 1) and
    each bad column: a required column missing, a date not written YYYY-MM-DD, a count that is not a whole
    number of prisoners, a side or confidence grade that is not one of those known. At most MAX_ROW_LINES
    lines of bad rows, then how many more."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        return [f"{where}: missing column(s) {', '.join(missing)} (needed: {', '.join(COLUMNS)}; optional: note, "
                f"bound)"]
    rows = frame.attrs.get("rows") or [i + 2 for i in range(len(frame))]
    problems = []
    for row, (date, side, count, grade) in zip(rows, frame[list(COLUMNS)].itertuples(index=False)):
        bad = [f"column {column}: {why}" for column, why in (
            ("date", _date_problem(date)), ("side", _choice_problem(side, "side", SIDES)),
            ("cumulative_released", _count_problem(count)),
            ("confidence", _choice_problem(grade, "confidence grade", weights))) if why]
        if bad:
            problems.append(f"{where}: row {row} (the header is row 1): {'; '.join(bad)}")
    if len(problems) > MAX_ROW_LINES:
        problems[MAX_ROW_LINES:] = [f"{where}: and {len(problems) - MAX_ROW_LINES} more bad rows"]
    return problems


def _cut(text: str, limit: int = 40) -> str:
    """A cell as a message quotes it: cut to `limit` characters, so that a bad row stays one readable line."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text):,} characters)"


def _date_problem(value: object) -> str | None:
    text = str(value).strip()
    try:
        if ISO_DATE.fullmatch(text):
            dt.date.fromisoformat(text)
            return None
    except ValueError as exc:
        return f"{text!r} is no calendar date ({exc})"
    return f"expected a date as YYYY-MM-DD, got {_cut(text)}" if text else "empty; expected a date as YYYY-MM-DD"


def _count_problem(value: object) -> str | None:
    text = str(value).strip()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0 or WHOLE.fullmatch(text):
        return None
    return f"expected a whole number of prisoners, 0 or more, got {_cut(text)}" if text else \
        "empty; expected a whole number of prisoners, 0 or more"


def _choice_problem(value: object, what: str, known: Iterable[str]) -> str | None:
    text = str(value).strip()
    if text in known:
        return None
    return f"unknown {what} {_cut(text)}{did_you_mean(text, known)}; expected one of {', '.join(known)}" if text else \
        f"empty; expected one of {', '.join(known)}"


def record_points(frame: pd.DataFrame, *, where: str, weights: dict[str, float], start: dt.date,
                  totals: dict[str, int], until: dt.date | None = None, after: dt.date | None = None) -> Record:
    """The record's points after `after` and up to `until`, as days since `start`, weighed by confidence.

    `totals` gives each model column's total (prisoners held at the start): small counts are compared at
    ERROR_FLOOR of it. Raises ScenarioError with every problem of the table (`frame_problems`).
    """
    problems = frame_problems(frame, where=where, weights=weights)
    if problems:
        raise ScenarioError(problems)
    frame = frame.assign(side=frame["side"].astype(str).str.strip(),
                         confidence=frame["confidence"].astype(str).str.strip())
    dates = pd.to_datetime(frame["date"].astype(str).str.strip(), format="%Y-%m-%d")
    begin = pd.Timestamp(start)
    frame = frame.assign(date=dates, day=(dates - begin).dt.days)
    keep = frame["day"] >= 0
    if until is not None:
        keep &= frame["date"] <= pd.Timestamp(until)
    if after is not None:
        keep &= frame["date"] > pd.Timestamp(after)
    frame = frame[keep].reset_index(drop=True)
    if frame.empty:
        window = f"after {after} and " if after else ""
        raise ScenarioError([f"{where}: no point {window}between the calendar's start ({start}) and {until}"])
    notes, bound = (frame[c].fillna("").astype(str).str.strip().str.lower() if c in frame
                    else pd.Series("", index=frame.index) for c in ("note", "bound"))
    points = pd.DataFrame({
        "date": frame["date"].dt.date, "day": frame["day"].astype(int), "side": frame["side"],
        "column": frame["side"].map(SIDES), "value": frame["cumulative_released"].astype(float),
        "confidence": frame["confidence"], "grade_weight": frame["confidence"].map(weights).astype(float),
        "lower": notes.str.contains("lower bound") | (bound == "lower"),
    })
    floor = points["column"].map(totals).astype(float) * ERROR_FLOOR
    points["scale"] = np.maximum(points["value"], floor)
    points["plateau"], points["weight"] = plateaus(points)
    return Record(points)


def plateaus(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each point's plateau (consecutive reports of one side with the same count and bound), and its weight:
    the points of a plateau share the largest grade weight among them, in proportion to their grades.

    A count reported again unchanged says one thing, that nothing moved in between; counted at full weight on
    both dates it would reward a run for staying flat twice. Both dates are kept, so the plateau's length
    still counts.
    """
    order = points.sort_values(["side", "date"], kind="stable").index
    label = np.zeros(len(points), dtype=np.int64)
    current, previous = -1, None
    for i in order:
        key = (points.at[i, "side"], points.at[i, "value"], bool(points.at[i, "lower"]))
        if key != previous:
            current += 1
            previous = key
        label[i] = current
    grade = points["grade_weight"].to_numpy(dtype=float)
    top = pd.Series(grade).groupby(label).transform("max").to_numpy()
    total = pd.Series(grade).groupby(label).transform("sum").to_numpy()
    return label, grade * top / total


def walkouts_by(dates: list[dt.date], *, start: dt.date, until: dt.date, weight: float) -> Walkouts:
    """The walkouts on record (their dates) counted by `until`, the end of the fit window, as a day since `start`:
    a fit to an earlier window sees only the walkouts inside it."""
    return Walkouts(day=(until - start).days, count=sum(1 for d in dates if start <= d <= until), weight=weight)


def walkout_error(*, simulated: np.ndarray | float, observed: int) -> np.ndarray | float:
    """A run's walkouts against the record's, relative to the count on record (at least one), as the release
    counts' errors are relative to theirs: one walkout too many or too few against one on record is an error of
    1, as large as a run releasing twice the count reported."""
    return (np.asarray(simulated, dtype=float) - observed) / max(observed, 1)


def distance(simulated: np.ndarray, record: Record, walkouts: np.ndarray | None = None) -> np.ndarray:
    """Weighted root-mean-square relative error of simulated cumulative releases (runs x points): each error
    relative to the reported count (small counts as ERROR_FLOOR of the side's total); a lower bound counts
    only when the run falls short of it. When the record scores walkouts, each run's walkouts by the window's
    end (`walkouts`, one per run) add their `walkout_error` with the record's weight for them."""
    p = record.points
    error = (simulated - p["value"].to_numpy()) / p["scale"].to_numpy()
    error = np.where(p["lower"].to_numpy() & (error >= 0), 0.0, error)
    w = p["weight"].to_numpy()
    total, weight = (error**2 * w).sum(axis=-1), w.sum()
    if record.walkouts is not None:
        if walkouts is None:
            raise ValueError("the record scores walkouts: give each run's walkouts by the window's end")
        total = total + walkout_error(simulated=walkouts, observed=record.walkouts.count) ** 2 * record.walkouts.weight
        weight = weight + record.walkouts.weight
    return np.sqrt(total / weight)


def at_points(snapshots: pd.DataFrame, record: Record, runs: int) -> np.ndarray:
    """The simulated value of each record point for each run: an array runs x points (`snapshots` holds the same
    days for every run, in order, the record's days among them)."""
    days = {day: i for i, day in enumerate(np.unique(snapshots["day"]).tolist())}
    wide = {column: snapshots[column].to_numpy().reshape(runs, len(days))
            for column in ("government_released", "taliban_released")}
    p = record.points
    return np.stack([wide[c][:, days[d]] for c, d in zip(p["column"], p["day"])], axis=1).astype(float)


def walkouts_at(snapshots: pd.DataFrame, record: Record, runs: int) -> np.ndarray | None:
    """Each run's walkouts by the window's end, when the record scores them (`snapshots` as for `at_points`)."""
    if record.walkouts is None:
        return None
    days = np.unique(snapshots["day"]).tolist()
    return snapshots["walkouts"].to_numpy().reshape(runs, len(days))[:, days.index(record.walkouts.day)].astype(float)

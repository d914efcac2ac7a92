"""A calibration folder as read back: calibration.json and posterior.parquet checked as a whole.

Whatever reads a calibration's results (`--posterior`, `forecast`, the dashboard) reads them here, so that a
damaged, truncated or hand-edited folder is one line naming the file and the field, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.model.scenario import ScenarioError, parameter_fields

# calibration.json's keys that readers use, and the JSON type each must have
INFO_KEYS: dict[str, type | tuple[type, ...]] = {
    "spec_hash": str, "root_seed": int, "base_scenario": dict, "fixed": dict, "record": dict,
    "in_sample_coverage": dict,
}
POSTERIOR_COLUMNS = ("weight", "seed")  # besides one column per fitted parameter


def read_folder(folder: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """calibration.json and posterior.parquet of `folder`, checked; ScenarioError (one line) otherwise."""
    info_path, frame_path = folder / "calibration.json", folder / "posterior.parquet"
    if not info_path.is_file() or not frame_path.is_file():
        raise ScenarioError([f"{folder}: not a calibration folder (no calibration.json and posterior.parquet)"])
    return _info(info_path), _frame(frame_path)


def _info(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ScenarioError([f"{path}: not a calibration's JSON ({type(exc).__name__}); recalibrate or restore "
                             "the folder"]) from None
    if not isinstance(info, dict):
        raise ScenarioError([f"{path}: (top level): expected a mapping, got {type(info).__name__}"])
    for key, kind in INFO_KEYS.items():
        if key not in info:
            raise ScenarioError([f"{path}: {key}: missing; the folder is damaged or not swapsim's"])
        if not isinstance(info[key], kind) or isinstance(info[key], bool):
            raise ScenarioError([f"{path}: {key}: expected {kind.__name__}, got {type(info[key]).__name__}"])
    if not isinstance(info["record"].get("until"), str):
        raise ScenarioError([f"{path}: record.until: missing or not a date"])
    points = info["in_sample_coverage"].get("points")
    if not isinstance(points, list) or not all(isinstance(p, dict) and isinstance(p.get("date"), str)
                                               for p in points):
        raise ScenarioError([f"{path}: in_sample_coverage.points: expected a list of points with dates"])
    return info


def _frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own kinds for every way a file can be damaged
        raise ScenarioError([f"{path}: not a readable Parquet table ({type(exc).__name__}); recalibrate or "
                             "restore the folder"]) from None
    missing = [c for c in POSTERIOR_COLUMNS if c not in frame]
    fitted = [c for c in frame.columns if c in parameter_fields()]
    if missing or not fitted or frame.empty:
        what = f"no column {missing[0]!r}" if missing else "no fitted parameter" if not fitted else "no rows"
        raise ScenarioError([f"{path}: {what}; the folder is damaged or not swapsim's"])
    for column in ["weight", *fitted]:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ScenarioError([f"{path}: {column}: a value that is not a finite number"])
    weights = frame["weight"].to_numpy(dtype=float)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ScenarioError([f"{path}: weight: negative, or all zero"])
    return frame

"""What happened in 2020: reported cumulative releases and dated events (news reports, with sources)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

_DATA = resources.files("sim") / "data" / "observed_2020"


def releases() -> pd.DataFrame:
    """Cumulative releases reported on a date, per side, with confidence and source (see the folder's README)."""
    with resources.as_file(_DATA / "releases.csv") as path:
        frame = pd.read_csv(path, parse_dates=["date"])
    return frame


def events() -> pd.DataFrame:
    """Dated events from 29 February to 30 June 2020, each with its source."""
    with resources.as_file(_DATA / "events.csv") as path:
        return pd.read_csv(path, parse_dates=["date"])

"""Per-day distributions of many runs (`DailyBands`), built batch by batch: exact where bins are one wide,
within half a bin after they widen, ended runs carried at their final value, per-day columns over the runs
still going."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.reports.analysis import BAND_COLUMNS, DailyBands

QS = (0.05, 0.5, 0.95)


def random_series(rng: np.random.Generator, runs: int, horizon: int, top: int, first: int = 0) -> pd.DataFrame:
    """Runs of random lengths: releases rising to at most `top`, attacks up to `top`, trusts in [0, 1]."""
    frames = []
    for run in range(first, first + runs):
        days = int(rng.integers(1, horizon + 1))
        frame = {"run": run, "day": np.arange(days)}
        for name, (_, kind) in BAND_COLUMNS.items():
            if kind == "count":
                frame[name] = np.sort(rng.integers(0, top + 1, days)) if name.endswith("released") \
                    else rng.integers(0, top + 1, days)
            elif kind == "unit":
                frame[name] = rng.random(days)
            else:
                frame[name] = rng.random(days) < 0.5
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)


def reference(series: pd.DataFrame, name: str, horizon: int, carried: bool) -> np.ndarray:
    wide = series.pivot(index="day", columns="run", values=name).reindex(range(horizon)).astype(float)
    if carried:
        wide = wide.ffill()
    values = wide.to_numpy()
    out = np.full((horizon, len(QS)), np.nan)
    for day in range(horizon):
        row = values[day][~np.isnan(values[day])]
        if len(row):
            out[day] = np.quantile(row, QS, method="inverted_cdf")
    return out


def test_quantiles_are_exact_in_bins_of_one_and_built_batch_by_batch():
    rng = np.random.default_rng(1)
    horizon, top = 60, 300
    series = random_series(rng, 50, horizon, top)
    bands = DailyBands(horizon, {name: top for name in BAND_COLUMNS})
    for _, part in series.groupby(series["run"] // 7):
        bands.add(part)
    for name, (when, kind) in BAND_COLUMNS.items():
        if kind == "count":
            want = reference(series, name, horizon, carried=when == "state")
            np.testing.assert_array_equal(bands.quantiles(name, QS), want, err_msg=name)
        elif kind == "unit":
            got, want = bands.quantiles(name, QS), reference(series, name, horizon, carried=True)
            assert np.nanmax(np.abs(got - want)) <= 0.5 / 1000 + 1e-12, name
    assert bands.runs == 50
    assert bands.going[0] == 50 and (np.diff(bands.going) <= 0).all()


def test_bins_widen_when_values_outgrow_them_and_stay_within_half_a_bin():
    rng = np.random.default_rng(2)
    horizon = 40
    small = random_series(rng, 30, horizon, 50)
    large = random_series(rng, 30, horizon, 100_000, first=30)  # far beyond the first bins
    bands = DailyBands(horizon)
    bands.add(small)
    bands.add(large)
    both = pd.concat([small, large], ignore_index=True)
    hist = bands._hists["taliban_attacks"]
    assert hist.width > 1 and hist.counts.shape[1] <= 8192
    got, want = bands.quantiles("taliban_attacks", QS), reference(both, "taliban_attacks", horizon, carried=False)
    assert np.nanmax(np.abs(got - want)) <= hist.width / 2
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_ended_runs_carry_their_final_state_and_leave_per_day_columns():
    rows = []
    for run, days, released in ((0, 3, 100), (1, 6, 200), (2, 6, 300)):
        for day in range(days):
            rows.append(dict(run=run, day=day, government_released=released, taliban_released=0,
                             commanders_released=0, trust_government=0.5, trust_taliban=0.5, pressure=0.1,
                             engaged=run != 0, offensive=False, taliban_attacks=10 * (run + 1),
                             iskp_attacks=0, attributed_attacks=0))
    bands = DailyBands(10, {"government_released": 300})
    bands.add(pd.DataFrame(rows))
    released = bands.quantiles("government_released", (0.5,))[:, 0]
    assert released[4] == 200 and released[9] == 200  # run 0 counts at 100 after day 2: median of 100, 200, 300
    attacks = bands.quantiles("taliban_attacks", (0.0, 1.0))
    assert attacks[4].tolist() == [20, 30]  # run 0 is over: only runs 1 and 2 count
    assert np.isnan(attacks[7]).all()  # no run going
    assert bands.share("engaged")[9] == pytest.approx(2 / 3)  # run 0 carried out of the process
    assert bands.counted("taliban_attacks").tolist() == [3, 3, 3, 2, 2, 2, 0, 0, 0, 0]
    assert bands.counted("government_released").tolist() == [3] * 10


def test_memory_needed_is_stated_before_any_run():
    small = DailyBands.bytes_needed(425, {"government_released": 5000, "taliban_released": 1000})
    large = DailyBands.bytes_needed(3650, {"government_released": 100_000, "taliban_released": 100_000})
    assert 10e6 < small < 200e6 and large > 10 * small

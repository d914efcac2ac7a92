"""Figures: readable (titles, labels, date axes, legends, bands) and saved atomically."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from sim.reports import figures as plots
from sim.model.exchange import ExchangeModel
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import Scenario
from sim.reports.analysis import DailyBands

NAME = "plots_test"
EVENTS = [
    {"type": "pressure_shock", "date": "2020-03-23", "amount": 0.3},
    {"type": "ceasefire", "day": 84, "duration_days": 3},
]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario(metadata={"name": NAME}, calendar={"horizon_days": 200}, events=EVENTS)


def run_series(scenario: Scenario, seeds) -> tuple[pd.DataFrame, list[str]]:
    frames, outcomes = [], []
    for seed in seeds:
        model = ExchangeModel(scenario, seed=seed)
        outcomes.append(model.run()["outcome"].iloc[0])
        df = model.series().drop(columns="lane")
        df.insert(0, "run", seed)
        frames.append(df)
    series = pd.concat(frames, ignore_index=True)
    series["date"] = pd.Timestamp(scenario.calendar.start_date) + pd.to_timedelta(series["day"], unit="D")
    return series, outcomes


def bands(series: pd.DataFrame, scenario: Scenario) -> DailyBands:
    """The per-day distributions the figures draw, from runs' series."""
    b = DailyBands(scenario.calendar.horizon_days, {"government_released": scenario.protocol.government_prisoners,
                                                    "taliban_released": scenario.protocol.taliban_prisoners})
    b.add(series)
    return b


def rates_frame(outcomes: list[str]) -> pd.DataFrame:
    n, z, rows = len(outcomes), 1.96, []
    for kind in OUTCOMES:
        k = outcomes.count(kind)
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        rows.append(dict(outcome=kind, count=k, runs=n, rate=p, low=max(centre - half, 0), high=min(centre + half, 1)))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def many(scenario):
    return run_series(scenario, range(20))


@pytest.fixture(scope="module")
def single(scenario):
    """One run that walks out at least once, preferably with offensive-mode days too."""
    with_walkout = None
    for seed in range(60):
        series, _ = run_series(scenario, [seed])
        if walkout_days(series):
            if series["offensive"].any():
                return series
            with_walkout = series if with_walkout is None else with_walkout
    if with_walkout is None:
        pytest.fail("no seed in 0..59 gives a walkout")
    return with_walkout


@pytest.fixture(scope="module")
def observed() -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2020-04-08", "2020-05-11", "2020-05-25", "2020-04-12"]),
        "day": [38, 71, 85, 42],
        "side": ["government_released_taliban"] * 3 + ["taliban_released_government"],
        "cumulative_released": [100, 1000, 1100, 20],
        "confidence": ["high", "high", "low", "medium"],
    })


# ---------------------------------------------------------------- checks shared by the figures


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None, f"axes {ax.get_ylabel()!r} has no legend"
    return [t.get_text() for t in legend.get_texts()]


def has_band(ax) -> bool:
    return any(isinstance(c, PolyCollection) and "5–95%" in c.get_label() for c in ax.collections)


def check_readable(fig: Figure, scenario: Scenario, runs: str, time_axes: bool = True) -> list:
    title = fig.get_suptitle() or fig.axes[0].get_title()
    assert scenario.metadata.name in title and runs in title
    axes = fig.axes
    for ax in axes:
        assert ax.get_ylabel().strip(), "every panel needs a y label"
        legend_texts(ax)
    # Stacked panels share one date axis: the bottom panel carries the x label.
    assert axes[-1].get_xlabel().strip()
    if time_axes:
        start = pd.Timestamp(scenario.calendar.start_date)
        for ax in axes:
            assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
            left = pd.Timestamp(mdates.num2date(ax.get_xlim()[0])).tz_localize(None)
            assert abs(left - start) < pd.Timedelta(days=30), "x axis should start near the calendar start"
        fig.canvas.draw()
        labels = [t.get_text() for t in axes[-1].get_xticklabels() if t.get_text()]
        assert {"Apr", "May", "Jun"} <= set(labels), labels
    return axes


def gids(ax, gid: str) -> int:
    return sum(artist.get_gid() == gid for artist in ax.get_children())


def walkout_days(series: pd.DataFrame) -> list[int]:
    engaged = series["engaged"].to_numpy()
    previous = np.concatenate([[True], engaged[:-1]])
    return series["day"][previous & ~engaged].tolist()


# ---------------------------------------------------------------- many runs


def test_releases_many_runs(many, scenario, observed):
    series, _ = many
    fig = plots.releases_figure(bands(series, scenario), scenario, observed)
    gov_ax, tal_ax = check_readable(fig, scenario, "20 runs")
    for ax in (gov_ax, tal_ax):
        assert ax.get_ylabel() == "Prisoners released (cumulative)"
        assert has_band(ax)
        assert gids(ax, "event") == len(EVENTS)
    gov_legend, tal_legend = legend_texts(gov_ax), legend_texts(tal_ax)
    assert "Released by the government: median (ended runs count at their final value)" in gov_legend
    assert any(t.startswith("Scheduled") for t in gov_legend)
    assert any(t.startswith("Owed at 1:5") for t in tal_legend)
    assert "Released by the Taliban: median (ended runs count at their final value)" in tal_legend
    assert any("Observed 2020 (news reports)" in t and "high" in t for t in gov_legend)
    assert any("Observed 2020 (news reports)" in t and "medium" in t for t in tal_legend)
    assert gov_ax.get_ylim()[1] >= 5000 and tal_ax.get_ylim()[1] < 2000, "each side on its own scale"


def test_paired_releases_draw_each_ensemble_with_its_band(many, scenario, observed):
    series, _ = many
    first, second = series[series["run"] < 10], series[series["run"] >= 10]
    fig = plots.paired_releases_figure({"as written": bands(first, scenario), "changed": bands(second, scenario)},
                                       scenario, observed)
    gov_ax, tal_ax = check_readable(fig, scenario, "10 runs")
    assert "changed against as written" in fig.get_suptitle()
    for ax in (gov_ax, tal_ax):
        legend = legend_texts(ax)
        for name in ("as written", "changed"):
            assert f"{name}: median (ended runs count at their final value)" in legend
            assert any(t.startswith(f"{name}: 5–95% of runs") for t in legend)
        assert gids(ax, "event") == len(EVENTS)
    assert any("Observed 2020 (news reports)" in t for t in legend_texts(gov_ax))


def line_labelled(ax, start: str):
    return next(line for line in ax.lines if line.get_label().startswith(start))


def test_cumulative_values_carried_forward_after_a_run_ends(many, scenario):
    series, _ = many
    fig = plots.releases_figure(bands(series, scenario), scenario)
    median = line_labelled(fig.axes[0], "Released by the government: median")
    finals = series.sort_values("day").groupby("run")["government_released"].last()
    assert median.get_ydata()[-1] == np.quantile(finals, 0.5, method="inverted_cdf")
    assert len(median.get_xdata()) == scenario.calendar.horizon_days  # the whole calendar


def synthetic(scenario: Scenario) -> pd.DataFrame:
    """Eleven runs: six end on day 9 with no attacks and 100 released, five go on to day 19 with 10 attacks a
    day and 200 released."""
    rows = []
    for run in range(11):
        short = run < 6
        for day in range(10 if short else 20):
            rows.append(dict(run=run, day=day, government_scheduled=100 * day, government_released=100 if short else 200,
                             taliban_released=20, commanders_released=0, trust_government=0.5, trust_taliban=0.5,
                             engaged=True, offensive=False, pressure=0.3, taliban_attacks=0 if short else 10,
                             iskp_attacks=1, attributed_attacks=1))
    frame = pd.DataFrame(rows)
    frame["date"] = pd.Timestamp(scenario.calendar.start_date) + pd.to_timedelta(frame["day"], unit="D")
    return frame


def test_per_day_counts_use_only_the_runs_still_going(scenario):
    """Medians are the lower (inverted-CDF) median: of six 0s and five 10s, 0."""
    series = synthetic(scenario)
    attacks = plots.attacks_figure(bands(series, scenario), scenario).axes[0]
    median = next(line for line in attacks.lines if line.get_label().startswith("Taliban attacks") and "median" in line.get_label())
    y = np.asarray(median.get_ydata(), dtype=float)
    assert y[3] == 0.0  # eleven runs going: six at 0, five at 10
    assert y[15] == 10.0  # five going, all at 10: ended runs neither carried forward nor zero
    assert np.isnan(y[25])  # no run going
    releases = plots.releases_figure(bands(series, scenario), scenario).axes[0]
    released = line_labelled(releases, "Released by the government: median")
    assert released.get_ydata()[15] == 100.0  # ended runs carried forward (six at 100), not dropped (would be 200)


def test_trust_many_runs(many, scenario):
    series, _ = many
    fig = plots.trust_figure(bands(series, scenario), scenario)
    trust_ax, share_ax = check_readable(fig, scenario, "20 runs")
    assert trust_ax.get_ylabel() == "Trust (probability, 0–1)"
    assert trust_ax.get_ylim() == (0, 1)
    assert has_band(trust_ax)
    texts = legend_texts(trust_ax)
    assert any(t.startswith("Government's trust in the Taliban: median") for t in texts)
    assert any(t.startswith("Taliban's trust in the government: median") for t in texts)
    assert any("engaged" in t for t in legend_texts(share_ax))


def test_attacks_many_runs(many, scenario):
    series, _ = many
    fig = plots.attacks_figure(bands(series, scenario), scenario)
    ax = check_readable(fig, scenario, "20 runs")[0]
    assert "Attacks per day" in ax.get_ylabel() and "still going" in ax.get_ylabel()
    assert has_band(ax)
    texts = legend_texts(ax)
    assert any(t.startswith("Taliban attacks") for t in texts) and any(t.startswith("ISKP attacks") for t in texts)


# ---------------------------------------------------------------- one run


def test_single_run_marks_walkouts_returns_offensive_and_events(single, scenario):
    run = int(single["run"].iloc[0])
    walkouts = walkout_days(single)
    engaged = single["engaged"].to_numpy()
    returns = int((~np.concatenate([[True], engaged[:-1]]) & engaged).sum())
    offensive_spans = int((np.diff(np.concatenate([[0], single["offensive"].to_numpy(int)])) == 1).sum())
    b = bands(single, scenario)
    figures = [plots.releases_figure(b, scenario, single=single), plots.trust_figure(b, scenario, single=single),
               plots.attacks_figure(b, scenario, single=single)]
    for fig in figures:
        axes = check_readable(fig, scenario, f"run {run}")
        for ax in axes:
            assert gids(ax, "walkout") == len(walkouts) > 0
            assert gids(ax, "return") == returns
            assert gids(ax, "offensive") == offensive_spans
            assert gids(ax, "event") == len(EVENTS)
            assert "Taliban team walks out" in legend_texts(ax)
            assert "Scenario event" in legend_texts(ax)
        labels = " ".join(t.get_text() for t in axes[0].texts if t.get_gid() == "event_label")
        assert "Pressure shock" in labels and "Ceasefire" in labels
    assert not has_band(figures[0].axes[0]), "one run: plain lines, no band"


# ---------------------------------------------------------------- outcomes, all figures, saving


def test_outcomes_figure(many):
    _, outcomes = many
    rates = rates_frame(outcomes)
    fig = plots.outcomes_figure(rates, f"{NAME}: outcomes of 20 runs")
    (ax,) = fig.axes
    assert NAME in ax.get_title()
    assert ax.get_ylabel() == "Share of runs (%)" and ax.get_xlabel()
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == pytest.approx(list(100 * rates["rate"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == [o.capitalize() for o in OUTCOMES]
    assert "Wilson 95% interval" in legend_texts(ax)
    notes = [t.get_text() for t in ax.texts]
    for _, row in rates.iterrows():
        assert f"{100 * row['rate']:.1f}%\n{row['count']} of 20" in notes


def test_run_figures(many, scenario, observed):
    series, outcomes = many
    figures = plots.run_figures(bands(series, scenario), None, rates_frame(outcomes), scenario, observed)
    assert set(figures) == {"releases", "trust", "attacks", "outcomes"}
    assert all(isinstance(fig, Figure) for fig in figures.values())
    assert "20 runs" in figures["outcomes"].axes[0].get_title()


def test_save_writes_a_png_atomically(tmp_path, many, scenario):
    series, outcomes = many
    fig = plots.outcomes_figure(rates_frame(outcomes), "test")
    target = tmp_path / "figures" / "nested" / "outcomes.png"
    for _ in range(2):  # a second save replaces the first
        assert plots.save(fig, target) == target
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = mpimg.imread(target).shape[:2]
    assert 400 < width < 3000 and 300 < height < 3000
    assert [p.name for p in target.parent.iterdir()] == ["outcomes.png"], "no temporary file left behind"


def test_no_pyplot_needed():
    code = "import sys, sim.reports.figures; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_team_moves_are_walkouts_and_returns_after_them_not_an_arrival():
    """The team of a scenario with lists arrives on its day (not a return); one engaged from the start that walks
    out and comes back is marked on both days."""
    from sim.reports.analysis import team_moves

    arrives = [False] * 3 + [True] * 2 + [False] * 2 + [True]
    assert [d.tolist() for d in team_moves(arrives)] == [[5], [7]]
    assert [d.tolist() for d in team_moves([True, True, False, True])] == [[2], [3]]
    assert [d.tolist() for d in team_moves([])] == [[], []]

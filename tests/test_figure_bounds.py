"""Every figure type the package makes, rendered on a small real fixture: its data lie inside its axes, and it has
titles, axis labels and a legend wherever two or more series are labelled.

`check_figure` reads the drawn figure, not the code that drew it: each data artist (lines, bands and other
collections, scatter points, bars and patches, images) is taken to display coordinates through its own transform
(so dates, log axes and blended transforms such as axhline's count alike) and must lie within its axes' box.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.collections import Collection, PathCollection, QuadMesh
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path as Path_

from sim.experiments import calibration_spec, comparisons, runs, sweep_spec
from sim.experiments import observed as observed_2020
from sim.model.scenario import load, with_overrides
from sim.reports import calibration_figures, comparison, discovery, figures, forecast, results, sweep
from sim.reports import calibration as calibration_report

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "scenarios" / "sweeps"
DECREE = load(ROOT / "scenarios" / "decree_2020.yaml")
SLACK = 1.0  # display pixels: rounding of the transforms


# ---------------------------------------------------------------- the check


def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar")


def _display_points(artist) -> np.ndarray:
    """The artist's data points in display coordinates (n x 2); empty for artists without data."""
    if isinstance(artist, Line2D):
        xy = np.column_stack([np.asarray(artist.get_xdata(orig=False), dtype=float),
                              np.asarray(artist.get_ydata(orig=False), dtype=float)])
        return artist.get_transform().transform(xy) if len(xy) else np.empty((0, 2))
    if isinstance(artist, PathCollection):  # scatter: one marker per offset
        offsets = np.asarray(artist.get_offsets(), dtype=float).reshape(-1, 2)
        return artist.get_offset_transform().transform(offsets) if len(offsets) else np.empty((0, 2))
    if isinstance(artist, QuadMesh):
        return artist.get_transform().transform(np.asarray(artist.get_coordinates(), dtype=float).reshape(-1, 2))
    if isinstance(artist, Collection):  # bands (fill_between), error bars, polygons
        parts = [path.vertices if path.codes is None else path.vertices[path.codes != Path_.CLOSEPOLY]
                 for path in artist.get_paths()]
        parts = [v for v in parts if len(v)]
        return artist.get_transform().transform(np.concatenate(parts)) if parts else np.empty((0, 2))
    if isinstance(artist, Patch):
        return np.asarray(artist.get_verts(), dtype=float).reshape(-1, 2)
    if isinstance(artist, AxesImage):
        x0, x1, y0, y1 = artist.get_extent()
        return artist.axes.transData.transform([[x0, y0], [x1, y1]])
    return np.empty((0, 2))


def outside(ax) -> list[str]:
    """The data artists of `ax` with a point outside its box (a value off the axis' limits)."""
    box = ax.bbox
    found = []
    artists = [*ax.lines, *ax.collections, *ax.patches, *ax.images]
    for artist in artists:
        if not artist.get_visible() or artist is ax.patch:
            continue
        points = _display_points(artist)
        points = points[~np.isnan(points).any(axis=1)]  # gaps (NaN) are not drawn
        if not len(points):
            continue
        bad = ~np.isfinite(points).all(axis=1)  # a value a log axis cannot show
        bad |= (points[:, 0] < box.x0 - SLACK) | (points[:, 0] > box.x1 + SLACK)
        bad |= (points[:, 1] < box.y0 - SLACK) | (points[:, 1] > box.y1 + SLACK)
        if bad.any():
            (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
            found.append(f"{type(artist).__name__} {artist.get_label()!r}: {int(bad.sum())} of {len(points)} points "
                         f"outside the axes (x {x0:g} to {x1:g}, y {y0:g} to {y1:g})")
    return found


def _labelled(ax) -> set[str]:
    """Labels of the series drawn on `ax` that a legend would show."""
    handles, labels = ax.get_legend_handles_labels()
    return set(labels)


def _has_label(ax, axis: str) -> bool:
    """A label on this axis, or on an axes sharing it (stacked panels label the shared date axis once)."""
    shared = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    return any((a.get_xlabel() if axis == "x" else a.get_ylabel()).strip() for a in shared.get_siblings(ax))


def problems(fig: Figure) -> list[str]:
    """Everything wrong with a drawn figure, one line each."""
    fig.draw_without_rendering()
    found = []
    axes = [ax for ax in fig.axes if ax.get_visible() and not _is_colorbar(ax)]
    legends = list(fig.legends)
    for i, ax in enumerate(axes):
        name = ax.get_title(loc="left") or ax.get_title() or f"axes {i}"
        found += [f"{name}: {line}" for line in outside(ax)]
        if not (ax.get_title() or ax.get_title(loc="left") or ax.get_title(loc="right") or fig.get_suptitle()):
            found.append(f"{name}: no title, nor one on the figure")
        for axis in ("x", "y"):
            if not _has_label(ax, axis):
                found.append(f"{name}: no {axis} axis label")
        if len(_labelled(ax)) >= 2 and ax.get_legend() is None and not legends:
            found.append(f"{name}: {len(_labelled(ax))} labelled series and no legend")
    for ax in fig.axes:
        if _is_colorbar(ax) and ax.get_visible() and not (ax.get_ylabel() or ax.get_xlabel()):
            found.append("a colour bar without a label")
    return found


def check(figs: dict[str, Figure]) -> None:
    assert figs
    found = [f"{name}: {line}" for name, fig in figs.items() for line in problems(fig)]
    assert not found, "\n".join(found)


# ---------------------------------------------------------------- the check can fail


def test_the_check_finds_a_curve_above_its_axes_a_missing_label_and_a_missing_legend():
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1, 2], [0, 50, 90], label="a")
    ax.fill_between([0, 1], [0, 0], [10, 120], label="b")
    ax.set_ylim(0, 75)
    ax.set_xlabel("x (units)")
    found = problems(fig)
    assert any("Line2D 'a'" in f and "outside" in f for f in found)
    assert any("'b'" in f and "outside" in f for f in found)
    assert any("no title" in f for f in found) and any("no y axis label" in f for f in found)
    assert any("no legend" in f for f in found)
    log = Figure()
    lax = log.subplots()
    lax.plot([1, 10, 100], [0.0, 1.0, 2.0])
    lax.set_xscale("log")
    lax.set_xlim(5, 1000)
    assert any("outside" in f for f in problems(log))  # 1 lies left of a log axis from 5


def test_the_check_passes_a_figure_whose_data_fit():
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.axhline(0.5, label="b")
    ax.scatter([0.5], [0.5], label="c")
    ax.set(xlabel="x (units)", ylabel="y (units)", title="t")
    ax.legend()
    assert problems(fig) == []


# ---------------------------------------------------------------- fixtures: small real runs


@pytest.fixture(scope="module")
def decree_runs():
    return runs.run(DECREE, 8, seed=3, series=True)


def test_run_figures(decree_runs):
    check(results.figures(decree_runs, observed_2020.releases()))


def test_one_run_figures():
    check(results.figures(runs.run(DECREE, 1, seed=5, series=True)))


def test_paired_releases_figure_of_the_dashboard(decree_runs):
    other = runs.run(with_overrides(DECREE, {"taliban.initial_trust": 0.6}), 8, seed=3, series=True)
    ensembles = {"as written": decree_runs, "changed": other}
    bands = {name: results.FolderWriter(None, r.scenario, series=True) for name, r in ensembles.items()}
    for name, r in ensembles.items():
        bands[name].add(r.runs, r.series)
    check({"paired": figures.paired_releases_figure({n: w.bands for n, w in bands.items()}, DECREE,
                                                    observed_2020.releases())})


def test_comparison_figure():
    scenarios = [DECREE, load(ROOT / "scenarios" / "commanders_first.yaml")]
    check({"comparison": comparison.figure(comparisons.compare(scenarios, runs=12, seed=2))})


def _sweep(tmp_path: Path, name: str, **changes) -> sweep.SweepResults:
    spec = sweep_spec.load_spec(SWEEPS / f"{name}.yaml", **changes)
    return sweep.sweep(spec, tmp_path / name, workers=1)


def _sweep_figures(done: sweep.SweepResults) -> dict[str, Figure]:
    return sweep.sweep_figures_of(done.spec, done.points, list(done.spec.parameters), done.sobol)


@pytest.fixture(scope="module")
def discovery_sweep(tmp_path_factory) -> sweep.SweepResults:
    """The README's discovery sweep, cut to 400 points: main effects with a choice, and PRIM's input."""
    return _sweep(tmp_path_factory.mktemp("sweeps"), "discovery", samples=400)


@pytest.mark.slow  # a real sweep of a few hundred runs, or PRIM on one: over 3 s
def test_main_effects_of_the_discovery_sweep(discovery_sweep):
    figs = _sweep_figures(discovery_sweep)
    assert set(figs) == {"main_effects"}
    check(figs)


@pytest.mark.slow  # a real sweep of a few hundred runs, or PRIM on one: over 3 s
def test_heatmap_and_curves_of_grid_sweeps(tmp_path):
    check(_sweep_figures(_sweep(tmp_path, "trust_grid", replications=2)))
    check(_sweep_figures(_sweep(tmp_path, "commander_policy", replications=3)))  # categorical x: curves


@pytest.mark.slow  # a real sweep of a few hundred runs, or PRIM on one: over 3 s
def test_sobol_figures(tmp_path):
    figs = _sweep_figures(_sweep(tmp_path, "sensitivity", samples=8, replications=2))
    assert set(figs) == {"sobol", "main_effects"}
    check(figs)


@pytest.mark.slow  # a real sweep of a few hundred runs, or PRIM on one: over 3 s
def test_discovery_figures(discovery_sweep):
    check(discovery.figures(discovery.discover(discovery_sweep.out, ["deadlocked"], trees=20)))


@pytest.mark.slow  # a real sweep of a few hundred runs, or PRIM on one: over 3 s
def test_discovery_box_figure(tmp_path):
    grid = _sweep(tmp_path, "trust_grid", replications=2)
    figs = discovery.figures(discovery.discover(grid.out, ["deadlocked", "collapsed"], per="point", trees=20))
    assert "box" in figs
    check(figs)


# ---------------------------------------------------------------- calibration and forecast


def test_marginals_and_pairs_of_a_weighted_posterior():
    """Heavy and light particles on a linear and a log prior, as ABC-SMC leaves them."""
    spec = calibration_spec.spec_from_dict(_tiny_spec(), source="<tiny>", folder=ROOT / "scenarios" / "calibration")
    rng = np.random.default_rng(4)
    n = 200
    posterior = pd.DataFrame({
        "government.willing_trust": rng.uniform(0.5, 1.0, n),
        "verification.arrears_share": rng.beta(2, 5, n),
        "verification.rate_with_team": np.exp(rng.uniform(np.log(20), np.log(600), n)),
        "weight": rng.gamma(0.5, size=n)})
    check({"marginals": calibration_figures.marginals_figure(spec, posterior),
           "pairs": calibration_figures.pairs_figure(spec, posterior)})


def _tiny_spec(**changes) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / "calibration" / "record_2020.yaml").read_text())
    data.update(base=str(ROOT / "scenarios" / "decree_2020.yaml"), until="2020-06-30", particles=20,
                simulations=200, min_acceptance=0.05, predictive_runs=40, seed=5,
                parameters={"government.willing_trust": {"low": 0.2, "high": 1.0},
                            "verification.arrears_share": {"low": 0.0, "high": 1.0},
                            "verification.rate_with_team": {"low": 20, "high": 600, "scale": "log"}})
    data.update(changes)
    return data


@pytest.mark.slow
def test_calibration_and_forecast_figures(tmp_path):
    """A small real calibration (200 simulations), its figures as written, and a forecast from it."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(_tiny_spec(), sort_keys=False))
    spec = calibration_spec.load_spec(path)
    calibration_report.calibrate(spec, tmp_path / "fit", workers=1)
    base = calibration_spec.base_scenario(spec)
    record = calibration_spec.load_record(spec, base=base)
    posterior = pd.read_parquet(tmp_path / "fit" / "posterior.parquet")
    predictive = pd.read_csv(tmp_path / "fit" / "predictive.csv")
    check(calibration_figures.calibration_figures(spec, base, record, posterior, predictive))
    done = forecast.forecast(tmp_path / "fit", until=dt.date(2020, 9, 30), runs=60, out=tmp_path / "forecast")
    check(done["figures"])

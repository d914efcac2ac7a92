"""Scenario discovery over a finished sweep: in which region of the swept parameters do chosen outcomes concentrate?

    from sim.reports import discovery
    d = discovery.discover("results/lhs", ["deadlocked", "collapsed"], min_rate=0.5)
    print(discovery.format_summary(d))   # a paragraph in plain words, then the chosen boxes
    d.boxes                              # the chosen boxes: limits, coverage, density, mass, quasi-p values
    d.trajectory                         # PRIM's peeling and pasting trajectory, one row per box
    d.feature_scores                     # extra-trees feature scores, one row per outcome and parameter
    discovery.save(d, "results/lhs/discovery")

Cases. A run is a case when its outcome is one of the requested outcomes (`cases`); failed
runs are left out. With `per="run"` (the default) PRIM sees one row per run: coverage is the
share of the case runs inside a box, density the share of a box's runs that are cases, mass
the share of all runs in the box, so replicates weigh every point by its runs. With
`per="point"` PRIM sees one row per design point, and a point is a case when at least
`point_rate` (default: `min_rate`) of its runs are cases: coverage, density and mass then
count points, each point weighing the same whatever its number of replicates. That suits
sweeps with many replicates per point, whose rates are precise; each chosen box also reports
`run_density`, the share of the runs of its points that are cases.

PRIM is EMA Workbench's (`ema_workbench.analysis.prim.Prim`, its default "lenient1"
objective); parameters that are choices (strings, yes/no) enter as pandas categories, which
PRIM peels a category at a time. EMA Workbench 3 has no `threshold` argument: the minimum
rate is applied here, when boxes are chosen from the trajectory `find_box` returns.

Boxes chosen from the trajectory (density only rises along it, coverage mostly falls):
- "min_rate": the box with the greatest coverage among those whose density is at least
  `min_rate` (ties: the greater density, then fewer restricted parameters), that is the
  largest region in which at least that share of the rows are cases. The last box of the
  trajectory is not taken: PRIM keeps peeling until the box holds `mass_min` of the data, and
  its last peels mostly fit noise. When no box reaches `min_rate`, the densest box is
  reported instead, labelled "densest", and the summary says so.
- "knee": the box farthest from the straight line (the chord) joining the first box (every
  row) and the last box in the coverage-density plane, on the side of greater coverage and
  density; if no box lies above the chord, the last box. The knee balances coverage against
  density where the trade-off turns.
A box chosen by both rules is reported once, labelled "min_rate+knee".

Each restriction of a chosen box has its quasi-p value (Bryant and Lempert 2010), as EMA
computes it: the one-sided binomial probability of the box's density if that restriction
were dropped; a two-sided numeric restriction has one per side, and `quasi_p` is the larger.

Feature scores: EMA's `get_feature_scores_all` (extra trees, seeded) scores every swept
parameter against every outcome and the requested union: each run's 0/1 case with
`per="run"`, each point's rate of the outcome with `per="point"`. The scores of an outcome sum
to 1; an outcome with fewer than MIN_SCORED_RUNS runs in it (or outside it) has no score (NaN), and the
figure, the summary and discovery.json name it.

EMA Workbench is an optional dependency (`pip install 'swapsim[discover]'`), imported only when
needed; its informational logging and its own deprecation warnings are kept off the console.
"""

from __future__ import annotations

import contextlib
import logging
import math
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sim import DEFAULT_SEED
from sim.experiments import storage
from sim.experiments.provenance import provenance
from sim.experiments.sweeps import read_finished
from sim.model.outcomes import OUTCOMES
from sim.reports import discovery_figures
from sim.reports import figures as drawing
from sim.reports.words import count

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.experiments.sweeps import SweepRun
    from sim.reports.sweep import SweepResults

INSTALL_HINT = "scenario discovery needs EMA Workbench: pip install 'swapsim[discover]'"
PERS = ("run", "point")
MIN_RATE, DENSEST, KNEE = "min_rate", "densest", "knee"
SIGNIFICANT = 0.05  # a restriction whose quasi-p value is above this is called weak in the summary
FEATURE_STREAM = 7  # spawn key of the feature-scoring seed, apart from the sweep's own streams
# An outcome is scored only when at least this many runs end in it and as many do not: below, the extra trees
# split on a handful of runs and the scores are mostly noise. Measured on the discovery sweep (20,000 runs; the full
# deadlock scores give protocol.conditions.max_attacks_per_day 0.77), keeping all other runs and k of its 5,171
# deadlocks, four draws each: the scores' total-variation distance from the full ones is 0.50-0.56 for k = 4, 10
# and 25, almost that of a flat score (0.64), then falls: 0.38-0.47 at 50, 0.35-0.37 at 100, 0.29-0.33 at 200.
MIN_SCORED_RUNS = 50
DISCOVERY_FILES = ("boxes.csv", "trajectory.csv", "feature_scores.csv", "summary.txt", "discovery.json")

# How each outcome reads in a sentence: noun ("ended in ..."), plural ("84% of ..."), verb ("runs there ...").
WORDS = {
    "completed": ("completion", "completions", "complete"),
    "collapsed": ("collapse", "collapses", "collapse"),
    "deadlocked": ("deadlock", "deadlocks", "deadlock"),
    "partial": ("a partial exchange", "partial exchanges", "end in a partial exchange"),
}


# ---------------------------------------------------------------- EMA Workbench, imported when needed


def _ema() -> tuple[Any, Any, str]:
    """EMA Workbench's prim and feature_scoring modules and its version; ImportError with the install hint if absent."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="ipyparallel not installed", category=UserWarning)
            warnings.filterwarnings("ignore", message="altair based interactive", category=ImportWarning)
            import ema_workbench
            from ema_workbench.analysis import feature_scoring, prim
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return prim, feature_scoring, str(getattr(ema_workbench, "__version__", "unknown"))


@contextlib.contextmanager
def _quiet_ema() -> Iterator[None]:
    """EMA's informational log lines and its own pandas deprecation warnings off the console; warnings and errors
    of every other kind, and EMA's log records of level WARNING and above, still come through."""
    logger = logging.getLogger("EMA")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
                warnings.filterwarnings("ignore", category=category, module=r"ema_workbench(\.|$)")
            yield
    finally:
        logger.setLevel(level)


# ---------------------------------------------------------------- cases and outcomes


def _check_outcomes(outcomes: Sequence[str]) -> tuple[str, ...]:
    """The requested outcomes, checked, without repeats, in OUTCOMES' order."""
    if isinstance(outcomes, str):
        outcomes = [outcomes]
    wanted = list(outcomes)
    if not wanted:
        raise ValueError(f"no outcome given: choose one or more of {', '.join(OUTCOMES)}")
    unknown = [o for o in wanted if o not in OUTCOMES]
    if unknown:
        raise ValueError(f"unknown outcome {', '.join(map(repr, unknown))}: choose from {', '.join(OUTCOMES)}")
    return tuple(o for o in OUTCOMES if o in wanted)


def cases(runs: pd.DataFrame, outcomes: Sequence[str]) -> np.ndarray:
    """Boolean array, True where the run's outcome is one of `outcomes` (names from OUTCOMES; ValueError otherwise)."""
    wanted = _check_outcomes(outcomes)
    if "outcome" not in runs:
        raise ValueError("the runs table has no `outcome` column")
    return runs["outcome"].isin(wanted).to_numpy(dtype=bool)


def outcome_label(outcomes: Sequence[str]) -> str:
    """The outcomes' name as a column or file label: "deadlocked", "collapsed or deadlocked"."""
    return " or ".join(_check_outcomes(outcomes))


def outcome_words(outcomes: Sequence[str]) -> tuple[str, str, str]:
    """(noun, plural, verb) of the outcomes for sentences: ("collapse or deadlock", "collapses and deadlocks",
    "collapse or deadlock")."""
    chosen = _check_outcomes(outcomes)
    nouns, plurals, verbs = zip(*(WORDS[o] for o in chosen))
    return " or ".join(nouns), " and ".join(plurals), " or ".join(verbs)


# ---------------------------------------------------------------- the sweep


@dataclass
class Sweep:
    """What discovery needs of a finished sweep: its runs and the parameters it varied (dotted paths, spec order)."""

    runs: pd.DataFrame
    parameters: list[str]
    name: str = "sweep"
    sampler: str = "unknown"
    root_seed: int = DEFAULT_SEED
    out: Path | None = None


def load_sweep(source: str | Path | Sweep | SweepResults | SweepRun) -> Sweep:
    """A finished sweep from its folder (sweep.json and runs.parquet, as `swapsim sweep` writes them), or from a
    sweep already in memory (`sim.reports.sweep.SweepResults`, `sim.experiments.sweeps.SweepRun`)."""
    if isinstance(source, Sweep):
        return source
    finished = read_finished(getattr(source, "out", source))
    out, manifest, spec = finished.out, finished.manifest, finished.manifest["spec"]
    return Sweep(runs=finished.runs, parameters=finished.parameters,
                 name=str(manifest.get("name") or spec.get("name") or out.name),
                 sampler=str(manifest.get("sampler") or spec.get("sampler") or "unknown"),
                 root_seed=int(manifest.get("root_seed", spec.get("seed", DEFAULT_SEED))), out=out)


def valid_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not fail: an outcome among OUTCOMES and no error message."""
    ok = runs["outcome"].isin(OUTCOMES)
    if "error" in runs:
        error = runs["error"]
        ok &= error.isna() | (error.astype(str).str.strip() == "")
    return runs[ok.to_numpy()].reset_index(drop=True)


def _is_categorical(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def parameter_frame(table: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    """The swept parameters as PRIM's x: numbers as they are, choices as pandas categories in order of first
    appearance (the spec's order)."""
    x = table[list(parameters)].reset_index(drop=True).copy()
    for p in parameters:
        if isinstance(x[p].dtype, pd.CategoricalDtype):
            x[p] = x[p].cat.remove_unused_categories()
        elif _is_categorical(x[p]):
            x[p] = pd.Categorical(x[p], categories=list(dict.fromkeys(x[p].dropna())))
    return x


def point_rates(runs: pd.DataFrame, parameters: Sequence[str], outcomes: Sequence[str]) -> pd.DataFrame:
    """One row per design point: `point`, its parameters, `runs` (that did not fail), `cases` and `rate` of the
    outcomes, and the rate of every outcome of OUTCOMES (`<outcome>_rate`). Points are told apart by the runs'
    `point` column, or by their parameter values when there is none."""
    runs = valid_runs(runs)
    parameters = list(parameters)
    frame = runs[parameters].copy()
    frame["point"] = (runs["point"] if "point" in runs
                      else runs.groupby(parameters, sort=False, observed=True).ngroup()).to_numpy()
    frame["cases"] = cases(runs, outcomes).astype(int)
    for o in OUTCOMES:
        frame[f"{o}_rate"] = (runs["outcome"] == o).to_numpy(dtype=float)
    grouped = frame.groupby("point", sort=True)
    table = grouped[parameters].first()
    table["runs"] = grouped.size()
    table["cases"] = grouped["cases"].sum()
    table["rate"] = table["cases"] / table["runs"]
    for o in OUTCOMES:
        table[f"{o}_rate"] = grouped[f"{o}_rate"].mean()
    return table.reset_index()[["point", *parameters, "runs", "cases", "rate", *(f"{o}_rate" for o in OUTCOMES)]]


# ---------------------------------------------------------------- boxes


@dataclass(frozen=True)
class Restriction:
    """One parameter's limit in a box: numeric (kind "numeric" or "integer": `low` ≤ x ≤ `high`, with which sides
    restrict) or a choice (kind "categorical": the values kept)."""

    parameter: str
    kind: str
    low: float | None = None
    high: float | None = None
    low_restricted: bool = False
    high_restricted: bool = False
    kept: tuple = ()
    dropped: tuple = ()
    quasi_p_low: float = math.nan
    quasi_p_high: float = math.nan

    @property
    def restricts(self) -> str:
        """"upper" (x ≤ high), "lower" (x ≥ low), "both" (between) or "set" (one of the kept values)."""
        if self.kind == "categorical":
            return "set"
        return "both" if self.low_restricted and self.high_restricted else "lower" if self.low_restricted else "upper"

    @property
    def quasi_p(self) -> float:
        """The restriction's quasi-p value: the larger of its sides' (the weaker side) when both restrict."""
        values = [v for v in (self.quasi_p_low, self.quasi_p_high) if not math.isnan(v)]
        return max(values) if values else math.nan


@dataclass(frozen=True)
class Box:
    """A box chosen from PRIM's trajectory, with its statistics (fractions of the rows PRIM saw) and restrictions."""

    labels: tuple[str, ...]
    index: int  # position on the peeling and pasting trajectory
    coverage: float
    density: float
    mass: float
    res_dim: int
    rows: int  # rows (runs or points) in the box
    cases: int  # case rows in the box
    run_density: float  # share of the box's runs that are cases (the density itself with per="run")
    meets_min_rate: bool
    restrictions: tuple[Restriction, ...] = ()

    @property
    def label(self) -> str:
        return "+".join(self.labels)


@dataclass
class Discovery:
    """A scenario discovery's inputs and results; `summary` is the plain-language paragraph."""

    sweep: Sweep
    outcomes: tuple[str, ...]
    min_rate: float
    per: str
    point_rate: float | None
    seed: int
    data: pd.DataFrame  # the rows PRIM saw: the parameters and `case` (per point also `point`, `runs`, `rate`)
    trajectory: pd.DataFrame
    boxes: list[Box]
    feature_scores: pd.DataFrame
    points: pd.DataFrame  # per point: runs, cases and rate of the outcomes (`point_rates`)
    settings: dict
    ema_version: str
    dropped_runs: int
    summary: str = ""
    prim_box: Any = field(default=None, repr=False)  # EMA's PrimBox, for interactive inspection

    @property
    def parameters(self) -> list[str]:
        return list(self.sweep.parameters)

    @property
    def label(self) -> str:
        return outcome_label(self.outcomes)

    @property
    def rows(self) -> int:
        return int(len(self.data))

    @property
    def cases(self) -> int:
        return int(self.data["case"].sum())

    @property
    def base_rate(self) -> float:
        return self.cases / self.rows if self.rows else math.nan

    @property
    def runs(self) -> int:
        return int(self.points["runs"].sum())

    @property
    def reached(self) -> bool:
        """Whether some box reaches `min_rate`."""
        return self.headline.meets_min_rate

    @property
    def headline(self) -> Box:
        """The min-rate box (or, when none reaches min_rate, the densest)."""
        return self.boxes[0]

    def box(self, label: str) -> Box | None:
        """The chosen box with this label ("min_rate", "densest", "knee"), None if there is none."""
        return next((b for b in self.boxes if label in b.labels), None)


def knee(trajectory: pd.DataFrame) -> int:
    """Index of the trade-off knee: the box farthest from the chord joining the first and last boxes in the
    coverage-density plane (fractions, unscaled), on the side of greater coverage and density; the last box when
    none lies above the chord (as with fewer than three boxes)."""
    c = trajectory["coverage"].to_numpy(dtype=float)
    d = trajectory["density"].to_numpy(dtype=float)
    last = len(c) - 1
    if len(c) < 3:
        return max(last, 0)
    dc, dd = c[-1] - c[0], d[-1] - d[0]
    length = math.hypot(dc, dd)
    if length == 0:
        return last
    above = (dd * (c - c[0]) - dc * (d - d[0])) / length  # > 0: toward more coverage and density than the chord
    i = int(np.argmax(above))
    return i if above[i] > 1e-12 else last


def min_rate_index(trajectory: pd.DataFrame, min_rate: float) -> tuple[int, bool]:
    """Index of the box of greatest coverage whose density is at least `min_rate` (ties: greater density, fewer
    restricted parameters, earlier), and True; when none reaches it, the densest box (ties: greater coverage) and
    False."""
    t = trajectory.reset_index(drop=True)
    order = np.arange(len(t))
    ok = t["density"].to_numpy(dtype=float) >= min_rate - 1e-12
    if ok.any():
        rows = t[ok].assign(_i=order[ok])
        best = rows.sort_values(["coverage", "density", "res_dim", "_i"], ascending=[False, False, True, True])
        return int(best["_i"].iloc[0]), True
    best = t.assign(_i=order).sort_values(["density", "coverage", "_i"], ascending=[False, False, True])
    return int(best["_i"].iloc[0]), False


def choose_boxes(trajectory: pd.DataFrame, min_rate: float) -> list[tuple[tuple[str, ...], int]]:
    """The chosen boxes as (labels, trajectory index): the min-rate box ("min_rate", or "densest" when no box
    reaches min_rate) first, then the knee; one entry with both labels when they are the same box."""
    i, reached = min_rate_index(trajectory, min_rate)
    k = knee(trajectory)
    first = MIN_RATE if reached else DENSEST
    return [((first, KNEE), i)] if i == k else [((first,), i), ((KNEE,), k)]


def _qp(value: Any) -> float:
    value = float(value)
    return math.nan if value < 0 or math.isnan(value) else value  # EMA marks an unrestricted side with -1


def _restrictions(prim: Any, prim_box: Any, i: int, parameters: Sequence[str]) -> tuple[Restriction, ...]:
    """Box i's restrictions, in the parameters' order, from EMA's box limits and quasi-p values."""
    lims, init, qps = prim_box.box_lims[i], prim.box_init, prim_box.p_values[i]
    found = []
    for p in parameters:
        if p not in qps or p not in lims:
            continue
        values = prim.x[p]
        if _is_categorical(values):
            kept_set = set(lims.loc[0, p])
            order = list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype) else sorted(kept_set)
            found.append(Restriction(p, "categorical", kept=tuple(v for v in order if v in kept_set),
                                     dropped=tuple(v for v in order if v not in kept_set),
                                     quasi_p_low=_qp(qps[p][0])))
        else:
            low, high = float(lims.loc[0, p]), float(lims.loc[1, p])
            found.append(Restriction(p, "integer" if pd.api.types.is_integer_dtype(values) else "numeric", low, high,
                                     bool(low != float(init.loc[0, p])), bool(high != float(init.loc[1, p])),
                                     quasi_p_low=_qp(qps[p][0]), quasi_p_high=_qp(qps[p][1])))
    return tuple(found)


def in_box(frame: pd.DataFrame, restrictions: Sequence[Restriction]) -> np.ndarray:
    """Which rows of `frame` (with the parameters as columns) lie inside a box with these restrictions."""
    inside = np.ones(len(frame), dtype=bool)
    for r in restrictions:
        values = frame[r.parameter]
        if r.kind == "categorical":
            inside &= values.isin(r.kept).to_numpy(dtype=bool)
        else:
            x = values.to_numpy(dtype=float)
            if r.low_restricted:
                inside &= x >= r.low
            if r.high_restricted:
                inside &= x <= r.high
    return inside


# ---------------------------------------------------------------- discovery


def _check_settings(min_rate: float, per: str, point_rate: float | None, peel_alpha: float, paste_alpha: float,
                    mass_min: float, seed: int, trees: int) -> None:
    if not 0 < min_rate <= 1:
        raise ValueError(f"min_rate is a share of rows: it must lie in (0, 1], got {min_rate}")
    if per not in PERS:
        raise ValueError(f"per must be 'run' or 'point', got {per!r}")
    if point_rate is not None and not 0 < point_rate <= 1:
        raise ValueError(f"point_rate is a share of a point's runs: it must lie in (0, 1], got {point_rate}")
    if point_rate is not None and per != "point":
        raise ValueError("point_rate applies only with per='point'")
    for name, value in (("peel_alpha", peel_alpha), ("paste_alpha", paste_alpha)):
        if not 0 < value < 0.5:
            raise ValueError(f"{name} is the share of a box peeled or pasted at a time: it must lie in (0, 0.5), "
                             f"got {value}")
    if not 0 < mass_min < 1:
        raise ValueError(f"mass_min is the smallest box as a share of the rows: it must lie in (0, 1), got {mass_min}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if trees < 1:
        raise ValueError(f"trees must be at least 1, got {trees}")


def too_few(cases: int, runs: int) -> bool:
    """Whether an outcome with `cases` of `runs` runs is too rare (or too common) to be scored: fewer than
    MIN_SCORED_RUNS runs end in it, or fewer than that do not."""
    return min(cases, runs - cases) < MIN_SCORED_RUNS


def feature_scores(x: pd.DataFrame, targets: dict[str, np.ndarray], seed: int, trees: int = 100,
                   counts: dict[str, int] | None = None, runs: int | None = None) -> pd.DataFrame:
    """Extra-trees feature scores (EMA's `get_feature_scores_all`, regression on each target: a 0/1 case or a
    rate) of every column of `x` against every target, seeded; a constant target has no score (NaN), nor, given
    `counts` and `runs`, a target with too few runs in it or out of it (`too_few`).

    Tidy: one row per target and parameter: `outcome`, `parameter`, `score`, `rank` (1 = most influential),
    `cases` (from `counts`, when given), in the targets' then the columns' order.
    """
    _, scoring, _ = _ema()
    parameters = list(x.columns)
    scored = {name: y for name, y in targets.items()
              if counts is None or runs is None or not too_few(counts[name], runs)}
    varying = {name: np.asarray(y, dtype=float) for name, y in scored.items() if np.ptp(np.asarray(y, float)) > 0}
    scores = pd.DataFrame(index=parameters, dtype=float)
    if varying:
        random_state = int(np.random.SeedSequence(int(seed), spawn_key=(FEATURE_STREAM,)).generate_state(1)[0])
        with _quiet_ema():
            table = scoring.get_feature_scores_all(
                x, varying, alg="extra trees", mode=scoring.RuleInductionType.REGRESSION, nr_trees=trees,
                max_features=max(1, round(len(parameters) / 3)), oob_score=False, random_state=random_state)
        scores = table.reindex(parameters)
    rows = []
    for name in targets:
        column = scores[name] if name in scores else pd.Series(math.nan, index=parameters)
        ranks = column.rank(ascending=False, method="min")
        for p in parameters:
            rows.append({"outcome": name, "parameter": p, "score": float(column[p]),
                         "rank": None if math.isnan(ranks[p]) else int(ranks[p]),
                         "cases": None if counts is None else counts.get(name)})
    table = pd.DataFrame(rows, columns=["outcome", "parameter", "score", "rank", "cases"])
    table["rank"] = table["rank"].astype("Int64")
    table["cases"] = table["cases"].astype("Int64")
    return table


def discover(sweep: str | Path | Sweep | SweepResults | SweepRun, outcomes: Sequence[str], min_rate: float = 0.5,
             per: Literal["run", "point"] = "run", *, point_rate: float | None = None, seed: int | None = None,
             peel_alpha: float = 0.05, paste_alpha: float = 0.05, mass_min: float = 0.05,
             trees: int = 100) -> Discovery:
    """Find where in the swept parameters the runs end in one of `outcomes`: PRIM's boxes, feature scores, summary.

    `sweep`: a finished sweep's folder, or a sweep in memory. `min_rate`: the density a box must reach. `per`:
    "run" (each run a row) or "point" (each design point a row, a case when at least `point_rate`, default
    `min_rate`, of its runs are). `seed` (default: the sweep's root seed) seeds the feature scoring; PRIM itself
    is deterministic. `peel_alpha`, `paste_alpha`, `mass_min`: PRIM's settings, EMA's defaults.
    """
    chosen = _check_outcomes(outcomes)  # the user's mistakes first, before the slow import of EMA Workbench
    data_source = load_sweep(sweep)
    seed = data_source.root_seed if seed is None else seed
    _check_settings(min_rate, per, point_rate, peel_alpha, paste_alpha, mass_min, seed, trees)
    prim_module, _, version = _ema()
    parameters = list(data_source.parameters)
    runs = valid_runs(data_source.runs)
    if runs.empty:
        raise ValueError(f"{data_source.out or data_source.name}: no run finished without error; nothing to discover")
    label = outcome_label(chosen)
    points = point_rates(runs, parameters, chosen)
    threshold = min_rate if point_rate is None else point_rate
    if per == "run":
        source, y = runs, cases(runs, chosen)
        targets = {o: (runs["outcome"] == o).to_numpy(dtype=float) for o in OUTCOMES}
        counts = {o: int((runs["outcome"] == o).sum()) for o in OUTCOMES}
    else:
        source, y = points, points["rate"].to_numpy(dtype=float) >= threshold - 1e-12
        targets = {o: points[f"{o}_rate"].to_numpy(dtype=float) for o in OUTCOMES}
        counts = {o: int(round((points[f"{o}_rate"] * points["runs"]).sum())) for o in OUTCOMES}
    if len(chosen) > 1:  # the union first; a single outcome is among OUTCOMES already
        union = y.astype(float) if per == "run" else points["rate"].to_numpy(dtype=float)
        targets, counts = {label: union, **targets}, {label: int(cases(runs, chosen).sum()), **counts}
    x = parameter_frame(source, parameters)
    with _quiet_ema():
        prim = prim_module.Prim(x, y.astype(bool), peel_alpha=peel_alpha, paste_alpha=paste_alpha, mass_min=mass_min)
        prim_box = prim.find_box()
    trajectory = _trajectory(prim_box.peeling_trajectory)
    data = x.assign(case=y.astype(bool))
    if per == "point":
        data = data.assign(point=points["point"].to_numpy(), runs=points["runs"].to_numpy(),
                           rate=points["rate"].to_numpy())
    run_x, run_y = parameter_frame(runs, parameters), cases(runs, chosen)
    boxes = []
    for labels, i in choose_boxes(trajectory, min_rate):
        row = trajectory.iloc[i]
        restrictions = _restrictions(prim, prim_box, i, parameters)
        inside = in_box(run_x, restrictions)
        boxes.append(Box(labels=labels, index=int(i), coverage=float(row["coverage"]), density=float(row["density"]),
                         mass=float(row["mass"]), res_dim=int(row["res_dim"]), rows=int(row["n"]),
                         cases=int(row["k"]),
                         run_density=float(run_y[inside].mean()) if inside.any() else math.nan,
                         meets_min_rate=bool(row["density"] >= min_rate - 1e-12), restrictions=restrictions))
    scores = feature_scores(x, targets, seed, trees, counts, int(len(runs)))
    settings = {"peel_alpha": peel_alpha, "paste_alpha": paste_alpha, "mass_min": mass_min,
                "objective": "lenient1", "trees": trees}
    result = Discovery(sweep=data_source, outcomes=chosen, min_rate=float(min_rate), per=per,
                       point_rate=None if per == "run" else float(threshold), seed=int(seed), data=data,
                       trajectory=trajectory, boxes=boxes, feature_scores=scores, points=points, settings=settings,
                       ema_version=version, dropped_runs=int(len(data_source.runs) - len(runs)), prim_box=prim_box)
    result.summary = summary_text(result)
    return result


def _trajectory(peeling: pd.DataFrame) -> pd.DataFrame:
    """EMA's peeling trajectory, tidied: index, coverage, density, mass, res_dim, n (rows in the box), k (cases)."""
    t = peeling.reset_index(drop=True)
    table = pd.DataFrame({
        "index": np.arange(len(t), dtype=int),
        "coverage": t["coverage"].astype(float), "density": t["density"].astype(float),
        "mass": t["mass"].astype(float), "res_dim": t["res_dim"].astype(int),
        "n": t["n"].astype(int), "k": t["k"].astype(int),
    })
    return table


# ---------------------------------------------------------------- words


def _number(value: float, integer: bool = False) -> str:
    """A limit to 3 significant digits ("0.25", "0.975", "1,250"); whole numbers of integer parameters in full."""
    if integer or (float(value).is_integer() and abs(value) >= 1):
        return f"{value:,.0f}"
    text = f"{value:.3g}"
    if "e" in text and abs(value) >= 1:
        return f"{float(text):,.0f}"
    return text


def _value(value: Any) -> str:
    return str(value).lower() if isinstance(value, (bool, np.bool_)) else str(value)


def percent(share: float) -> str:
    """A share as a percentage for prose: "84%", "7.2%", "0.35%", "99.6%"."""
    if share is None or math.isnan(share):
        return "—"
    p = 100 * share
    if p in (0, 100) or 10 <= p <= 99:
        return f"{p:.0f}%"
    if p < 1:
        return f"{p:.2g}%"
    return f"{p:.1f}%"


def restriction_text(r: Restriction) -> str:
    """"taliban.initial_trust ≤ 0.25", "government.memory ≥ 0.97", "x is between 0.2 and 0.4",
    "protocol.commander_policy is one of refuse, first_batch" (or "is refuse")."""
    if r.kind == "categorical":
        kept = [_value(v) for v in r.kept]
        return f"{r.parameter} is {kept[0]}" if len(kept) == 1 else f"{r.parameter} is one of {', '.join(kept)}"
    integer = r.kind == "integer"
    if r.restricts == "both":
        return f"{r.parameter} is between {_number(r.low, integer)} and {_number(r.high, integer)}"
    if r.restricts == "lower":
        return f"{r.parameter} ≥ {_number(r.low, integer)}"
    return f"{r.parameter} ≤ {_number(r.high, integer)}"


def _join(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def _where(box: Box) -> str:
    return _join([restriction_text(r) for r in box.restrictions])


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _box_numbers(d: Discovery, box: Box) -> str:
    """"84% of deadlocks (coverage) in 12% of the runs (mass); 71% of runs there deadlock (density)"."""
    _, plural, verb = outcome_words(d.outcomes)
    if d.per == "run":
        return (f"{percent(box.coverage)} of {plural} (coverage) in {percent(box.mass)} of the runs (mass); "
                f"{percent(box.density)} of runs there {verb} (density)")
    rate = percent(d.point_rate)
    return (f"{percent(box.coverage)} of the points where at least {rate} of runs {verb} (coverage) in "
            f"{percent(box.mass)} of the points (mass); {percent(box.density)} of the points there are such points "
            f"(density)")


def _runs_there(d: Discovery, box: Box) -> str:
    """Per point: how many of the box's runs end in the outcomes (per run that is the density itself)."""
    if d.per == "run":
        return ""
    verb = outcome_words(d.outcomes)[2]
    return f" Of the runs at those points, {percent(box.run_density)} {verb}."


def _weak(box: Box) -> str:
    weak = [r for r in box.restrictions if not math.isnan(r.quasi_p) and r.quasi_p > SIGNIFICANT]
    if not weak:
        return ""
    names = _join([f"{r.parameter} (quasi-p {r.quasi_p:.2g})" for r in weak])
    one = len(weak) == 1
    return (f" The restriction{'' if one else 's'} on {names} {'is' if one else 'are'} not significant at "
            f"{SIGNIFICANT:g}: treat {'it' if one else 'them'} with caution.")


def summary_text(d: Discovery) -> str:
    """One paragraph in plain words: where the outcomes concentrate, how much of them the box holds (coverage), how
    much of the sweep it takes (mass) and how often they happen inside (density); the knee when it differs."""
    noun, _, verb = outcome_words(d.outcomes)
    unit, rows = ("run", d.rows) if d.per == "run" else ("point", d.rows)
    overall = f"{percent(d.base_rate)} over all {unit}s"
    if d.per == "point":
        overall = f"{percent(d.base_rate)} of all points"
    if d.cases == 0:
        what = (f"No run ended in {noun}" if d.per == "run"
                else f"No point had at least {percent(d.point_rate)} of its runs {verb}")
        return f"{what} ({count(rows, unit)}): there is nothing to discover."
    if d.cases == d.rows:
        what = f"Every run ended in {noun}" if d.per == "run" else \
            f"Every point had at least {percent(d.point_rate)} of its runs {verb}"
        return f"{what} ({count(rows, unit)}): there is no region to single out."
    head, knee_box = d.headline, d.box(KNEE)
    threshold = percent(d.min_rate)
    if head.res_dim == 0 and head.meets_min_rate:
        text = (f"{_capital(noun)} is common throughout the sweep: {overall}, already at least the {threshold} "
                f"threshold, so no restriction is needed.")
    elif head.res_dim == 0:
        text = (f"PRIM found no region where {noun} concentrates: {overall}, below the {threshold} threshold, and "
                f"no restriction of the parameters raises it.")
    elif head.meets_min_rate:
        text = f"{_capital(noun)} concentrates where {_where(head)}: {_box_numbers(d, head)}, against {overall}."
        text += _runs_there(d, head)
    else:
        text = (f"No box reaches the {threshold} threshold for {noun}. The densest box PRIM found is where "
                f"{_where(head)}: {_box_numbers(d, head)}, against {overall}.")
        text += _runs_there(d, head)
    text += _weak(head)
    if KNEE in head.labels:
        if head.res_dim:
            text += " This box is also the trade-off knee between coverage and density."
    elif knee_box is not None:
        if knee_box.res_dim == 0:
            text += " The trade-off knee is the whole sweep."
        else:
            kind = "broader" if knee_box.coverage > head.coverage else "tighter"
            text += (f" The trade-off knee, a {kind} box, is where {_where(knee_box)}: coverage "
                     f"{percent(knee_box.coverage)}, density {percent(knee_box.density)}, mass "
                     f"{percent(knee_box.mass)}.")
    return text


# ---------------------------------------------------------------- tables


BOX_COLUMNS = ["box", "trajectory_index", "meets_min_rate", "parameter", "kind", "restricts", "low", "high", "kept",
               "quasi_p", "quasi_p_low", "quasi_p_high", "coverage", "density", "mass", "res_dim", "rows", "cases",
               "run_density"]


def boxes_table(d: Discovery) -> pd.DataFrame:
    """One row per chosen box and restricted parameter (one row with no parameter for a box without restriction)."""
    rows = []
    for box in d.boxes:
        stats = {"coverage": box.coverage, "density": box.density, "mass": box.mass, "res_dim": box.res_dim,
                 "rows": box.rows, "cases": box.cases, "run_density": box.run_density}
        head = {"box": box.label, "trajectory_index": box.index, "meets_min_rate": box.meets_min_rate}
        if not box.restrictions:
            rows.append({**head, "parameter": "", **stats})
        for r in box.restrictions:
            numeric = r.kind != "categorical"
            rows.append({**head, "parameter": r.parameter, "kind": r.kind, "restricts": r.restricts,
                         "low": r.low if numeric else None, "high": r.high if numeric else None,
                         "kept": "; ".join(_value(v) for v in r.kept) if not numeric else "",
                         "quasi_p": r.quasi_p, "quasi_p_low": r.quasi_p_low if numeric else None,
                         "quasi_p_high": r.quasi_p_high if numeric else None, **stats})
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


def trajectory_table(d: Discovery) -> pd.DataFrame:
    """The peeling and pasting trajectory with the chosen boxes' labels (`chosen`)."""
    chosen = {b.index: b.label for b in d.boxes}
    t = d.trajectory.rename(columns={"n": "rows", "k": "cases"})
    return t.assign(chosen=t["index"].map(chosen).fillna(""))


def unscored(d: Discovery) -> dict[str, int]:
    """The outcomes left without feature scores (too few runs in or out of them, `too_few`), with their cases."""
    rows = d.feature_scores.groupby("outcome", sort=False)
    return {o: int(r["cases"].iloc[0]) for o, r in rows if r["score"].isna().all() and not pd.isna(r["cases"].iloc[0])}


def unscored_note(d: Discovery) -> str:
    """One sentence on the outcomes not scored and why; "" when every outcome is scored."""
    left = unscored(d)
    if not left:
        return ""
    which = ", ".join(f"{o} ({n:,} of {d.runs:,} runs)" for o, n in left.items())
    return (f"Not scored: {which}. Fewer than {MIN_SCORED_RUNS} runs end in {'it' if len(left) == 1 else 'each'} "
            f"(or outside it), too few for stable scores.")


def _top_features(d: Discovery, shown: int = 3) -> dict[str, list[list]]:
    top = {}
    for outcome, rows in d.feature_scores.groupby("outcome", sort=False):
        rows = rows.dropna(subset=["score"]).sort_values(["rank", "parameter"])
        top[outcome] = [[p, round(float(s), 4)] for p, s in rows[["parameter", "score"]].head(shown).to_numpy()]
    return top


def format_summary(d: Discovery) -> str:
    """The console summary: what was analysed, the paragraph, the chosen boxes as a small table, then the most
    influential parameters of the requested outcomes."""
    unit = "run" if d.per == "run" else "point"
    head = (f"{d.sweep.name}: scenario discovery of {d.label} over {count(len(d.parameters), 'parameter')}, per "
            f"{unit}: {count(d.rows, unit)}, {d.cases:,} cases ({percent(d.base_rate)}); min rate "
            f"{percent(d.min_rate)}" + (f", a point is a case at {percent(d.point_rate)} of its runs"
                                        if d.per == "point" else ""))
    if d.dropped_runs:
        head += f"; {count(d.dropped_runs, 'failed run')} left out"
    lines = [head, "", textwrap.fill(d.summary, width=110), "", "Chosen boxes (percentages of the "
             f"{unit}s; quasi-p: one-sided binomial test of each restriction):"]
    table = pd.DataFrame([{"box": b.label, "trajectory": b.index, "coverage": percent(b.coverage),
                           "density": percent(b.density), "mass": percent(b.mass), "restricted": b.res_dim,
                           **({"run density": percent(b.run_density)} if d.per == "point" else {})}
                          for b in d.boxes])
    lines += ["  " + line for line in table.to_string(index=False).splitlines()]
    for b in d.boxes:
        lines.append(f"  {b.label} (box {b.index}):" + ("" if b.restrictions else " no restriction"))
        width = max((len(restriction_text(r)) for r in b.restrictions), default=0)
        for r in b.restrictions:
            lines.append(f"    {restriction_text(r):<{width}}  quasi-p {_p_text(r.quasi_p)}")
    top = _top_features(d).get(d.label, [])
    if top:
        lines += ["", f"Most influential parameters for {d.label} (extra-trees feature scores): "
                  + ", ".join(f"{p} {s:.2f}" for p, s in top)]
    if unscored_note(d):
        lines += ["", textwrap.fill("Feature scores. " + unscored_note(d), width=110)]
    return "\n".join(lines)


def _p_text(p: float) -> str:
    """A quasi-p value for the console: "0.038", "1.6e-14", "<1e-300" (below what a float holds)."""
    if math.isnan(p):
        return "—"
    return "<1e-300" if p < 1e-300 else f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


# ---------------------------------------------------------------- figures and folder


def figures(d: Discovery) -> dict[str, Figure]:
    """The discovery's figures by file name: "tradeoff", "feature_scores", and "box" when the sweep has exactly two
    parameters and both are numeric."""
    title, (noun, _, verb) = d.sweep.name, outcome_words(d.outcomes)
    chosen = {b.label: b.index for b in d.boxes}
    if d.per == "run":
        unit, note = "runs", f"PRIM over {count(d.rows, 'run')}, {d.cases:,} of them ending in {noun}"
    else:
        unit, note = "points", (f"PRIM over {count(d.rows, 'point')}; a point is a case when at least "
                                f"{percent(d.point_rate)} of its runs {verb}: {d.cases:,} are")
    found = {
        "tradeoff": discovery_figures.tradeoff_figure(d.trajectory, chosen, d.min_rate, title, noun, unit, note),
        "feature_scores": discovery_figures.feature_scores_figure(
            d.feature_scores, title, "each run's 0/1 case" if d.per == "run" else "each point's rate",
            highlight=outcome_label(d.outcomes), note=unscored_note(d)),
    }
    numeric = [p for p in d.parameters if not _is_categorical(d.points[p])]
    if len(d.parameters) == 2 and len(numeric) == 2:
        overlays = [(b.label, {r.parameter: (r.low if r.low_restricted else None, r.high if r.high_restricted else None)
                               for r in b.restrictions}, b.coverage, b.density) for b in d.boxes]
        found["box"] = discovery_figures.box_figure(d.points, d.parameters, overlays, title, noun,
                                                    grid=d.sweep.sampler == "grid")
    return found


def _folder_problem(out: Path, d: Discovery) -> str | None:
    """Why `out` must not be replaced, if it must not."""
    here = Path.cwd().resolve()
    target = out.resolve()
    if target == here or target in here.parents:
        return f"{out}: is the working folder or one above it; give the discovery a folder of its own"
    sweep = d.sweep.out.resolve() if d.sweep.out is not None else None
    if sweep is not None and (target == sweep or target in sweep.parents):
        return f"{out}: is the sweep's folder or one above it; give the discovery a folder of its own"
    if out.exists() and not out.is_dir():
        return f"{out}: exists and is not a folder"
    if out.is_dir() and any(out.iterdir()) and not (out / "discovery.json").is_file():
        return f"{out}: not a discovery folder (no discovery.json); refusing to replace it"
    return None


def save(d: Discovery, out: str | Path, force: bool = False, command: list[str] | None = None) -> Path:
    """Write the discovery folder atomically: boxes.csv, trajectory.csv, feature_scores.csv, summary.txt,
    discovery.json and figures/ (tradeoff.png, feature_scores.png, box.png for two numeric parameters). An
    existing folder is replaced only with `force`, and only if it is a discovery folder (storage.UnsafeOutput
    otherwise)."""
    out = Path(out)
    if out.exists() and not force:
        raise storage.UnsafeOutput(f"{out}: results folder exists already; pass --force to replace it, or --out DIR")
    problem = _folder_problem(out, d)
    if problem:
        raise storage.UnsafeOutput(problem)
    with storage.staged_directory(out, force) as stage:
        storage.write_csv(stage / "boxes.csv", boxes_table(d))
        storage.write_csv(stage / "trajectory.csv", trajectory_table(d))
        storage.write_csv(stage / "feature_scores.csv", d.feature_scores)
        storage.write_text(stage / "summary.txt", format_summary(d) + "\n")
        for name, fig in figures(d).items():
            drawing.save(fig, stage / "figures" / f"{name}.png")
        info = manifest(d) | provenance(command)
        info["files"] = sorted([str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()]
                               + ["discovery.json"])
        storage.write_json(stage / "discovery.json", info)
    return out


def manifest(d: Discovery) -> dict:
    """discovery.json without provenance: the inputs, the method and the headline results."""
    return {
        "sweep": str(d.sweep.out.resolve()) if d.sweep.out is not None else None,
        "sweep_name": d.sweep.name,
        "sampler": d.sweep.sampler,
        "parameters": d.parameters,
        "outcomes": list(d.outcomes),
        "outcome_label": d.label,
        "min_rate": d.min_rate,
        "per": d.per,
        "point_rate": d.point_rate,
        "seed": d.seed,
        "ema_workbench": d.ema_version,
        "rows": d.rows,
        "runs": d.runs,
        "failed_runs_left_out": d.dropped_runs,
        "cases": d.cases,
        "base_rate": d.base_rate,
        "reached_min_rate": d.reached,
        "boxes": [{
            "label": b.label, "trajectory_index": b.index, "meets_min_rate": b.meets_min_rate,
            "coverage": b.coverage, "density": b.density, "mass": b.mass, "res_dim": b.res_dim, "rows": b.rows,
            "cases": b.cases, "run_density": b.run_density,
            "restrictions": [{"parameter": r.parameter, "kind": r.kind, "restricts": r.restricts,
                              "low": r.low, "high": r.high, "kept": [_value(v) for v in r.kept],
                              "quasi_p": r.quasi_p, "text": restriction_text(r)} for r in b.restrictions],
        } for b in d.boxes],
        "top_features": _top_features(d),
        "not_scored": {"outcomes": unscored(d), "min_runs": MIN_SCORED_RUNS, "note": unscored_note(d)},
        "summary": d.summary,
        "method": {
            "prim": {"implementation": "ema_workbench.analysis.prim.Prim, find_box()", **d.settings},
            "cases": ("each run whose outcome is one of the outcomes" if d.per == "run" else
                      "each point where at least point_rate of the runs end in one of the outcomes"),
            "min_rate_box": "greatest coverage among the boxes with density >= min_rate (ties: greater density, "
                            "fewer restricted parameters); the densest box when none reaches min_rate",
            "knee_box": "farthest from the chord joining the first and last boxes in the coverage-density plane, "
                        "on the side of greater coverage and density; the last box when none lies above it",
            "quasi_p": "one-sided binomial test of the box's density against the box with that restriction dropped "
                       "(Bryant and Lempert 2010), as EMA Workbench computes it",
            "feature_scoring": ("ema_workbench get_feature_scores_all, extra trees (regression), on "
                                + ("each run's 0/1 case" if d.per == "run" else "each point's rate")
                                + "; scores of an outcome sum to 1; NaN for an outcome with fewer than "
                                  f"{MIN_SCORED_RUNS} runs in it or outside it"),
        },
    }

"""Calibration: scenario parameters fitted to a record of cumulative releases by approximate Bayesian
computation (ABC-SMC), on the lanes engine, resumable generation by generation.

A calibration spec (YAML) names a base scenario, the observed record (by default the bundled
2020 record), the fit window (`until`), the parameters to fit with their prior ranges, the
method and the budget of simulations. Each simulation is one run with its own parameter set
and seed, stopped at the end of the fit window; its distance to the record weighs each point
by its confidence and treats figures the record gives as lower bounds as one-sided.

ABC-SMC with Markov moves (Del Moral, Doucet and Jasra 2012): generation 0 samples the prior
and keeps the closest `particles`; each later generation lowers the tolerance to the
`quantile` of the last distances, resamples the particles within it, and moves each by one
Metropolis-Hastings step (a Gaussian random walk with twice the population's covariance, on
the logit of each parameter's place in its prior range) that is accepted only if its own
simulation is within the tolerance. Particles keep equal weights, so the population does not
degenerate as importance weights do in many dimensions. It stops when the budget of
simulations would be exceeded or fewer than `min_acceptance` of the moves are accepted. With
`method: rejection`, one generation samples the prior with the whole budget and keeps the
closest (rejection with an adaptive tolerance).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from sim import DEFAULT_SEED
from sim.experiments import batches, storage
from sim.experiments.provenance import code_version
from sim.experiments.seeds import SEED_RULE
from sim.experiments.sweep_spec import Bounds, SpecFile, _problems, _static_problems, is_event_path, \
    scenario_from_base
from sim.model.scenario import Scenario, ScenarioError, Section, format_errors, inert_parameters, \
    parameter_fields, read_raw, read_yaml, value_at, with_overrides

SIDES = {"government_released_taliban": "government_released", "taliban_released_government": "taliban_released"}
METHODS = ("abc-smc", "rejection")
# Spawn keys of the calibration's random streams, far from replicate numbers.
PROPOSAL_KEY, SIMULATION_KEY, PREDICTIVE_KEY = 2**32 - 11, 2**32 - 12, 2**32 - 13
# The random walk's scale starts at 2.38 / sqrt(parameters) (Roberts and Rosenthal 2001) and is tuned so
# that about this share of moves is accepted.
TARGET_ACCEPTANCE = 0.234
MAX_MOVES = 50  # Markov moves per particle and generation, at the most
# Errors are relative to the reported count, counts below this share of a side's total counting as that share.
ERROR_FLOOR = 0.05
ResumeError = storage.ResumeError  # a calibration folder that cannot be resumed as asked


class Prior(Section):
    """A parameter's prior: uniform between low and high, on a linear or a log scale."""

    low: float = Field(description="Lowest value [the parameter's unit]")
    high: float = Field(description="Highest value; above low [the parameter's unit]")
    scale: Literal["linear", "log"] = Field("linear", description="Uniform in the value, or in its logarithm [choice]")

    @model_validator(mode="after")
    def _ordered(self):
        problems = []
        if not self.low < self.high:
            problems.append(("high", f"must be greater than low ({self.low}); got {self.high}"))
        if self.scale == "log" and self.low <= 0:
            problems.append(("low", f"a log-scale prior needs low above 0; got {self.low}"))
        if problems:
            raise _problems(problems)
        return self

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Place of the values in the prior range, in [0, 1] (uniform under the prior)."""
        if self.scale == "log":
            return (np.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


class CalibrationSpec(SpecFile):
    """What to fit, to what, how, and with how many simulations."""

    name: str = Field("calibration", pattern=r"^[A-Za-z0-9_.-]+$", max_length=80,
                      description="Short name; the default output folder is results/<name>/ [text]")
    description: str = Field("", max_length=4000, description="What the calibration asks [text]")
    base: str | dict[str, Any] = Field(
        description="Base scenario: a file path relative to this spec, or a scenario written inline [path or mapping]")
    fixed: dict[str, Any] = Field(default_factory=dict,
                                  description="Parameter values set on the base before fitting, by dotted path [values]")
    observed: str | None = Field(
        None, description="CSV of the record (columns date, side, cumulative_released, confidence; optional note or "
                          "bound); empty for the bundled 2020 record [path]")
    until: dt.date = Field(description="Last day of the fit window: later points are held out [date, YYYY-MM-DD]")
    parameters: dict[str, Prior] = Field(json_schema_extra={"minProperties": 1},
                                         description="Parameters to fit by dotted path, each with its prior")
    method: Literal["abc-smc", "rejection"] = Field("abc-smc", description="abc-smc or rejection [choice]")
    particles: int = Field(1000, ge=10, le=1_000_000, description="Parameter sets kept in each generation [sets]")
    simulations: int = Field(200_000, ge=100, le=100_000_000, description="Budget of simulations in all [runs]")
    quantile: float = Field(0.5, gt=0, lt=1, description="Next tolerance: this quantile of the last distances [share]")
    min_acceptance: float = Field(0.03, gt=0, lt=1,
                                  description="Stop once a generation accepts fewer of its proposals [share]")
    weights: dict[str, float] = Field(
        default_factory=lambda: {"high": 1.0, "medium": 0.5, "low": 0.25},
        description="Weight of a record point by its confidence grade [weight]")
    seed: int = Field(DEFAULT_SEED, ge=0, description="Root seed of proposals and simulations [integer]")
    predictive_runs: int = Field(1000, ge=10, le=1_000_000,
                                 description="Runs drawn from the posterior for the fit's bands and coverage [runs]")

    _source: str = PrivateAttr("<calibration>")

    @field_validator("parameters")
    @classmethod
    def _known(cls, parameters: dict[str, Prior]) -> dict[str, Prior]:
        problems = []
        for path, prior in parameters.items():
            if is_event_path(path):
                problems.append((path, "an event's fields cannot be fitted; fit scenario parameters (dotted paths "
                                       "such as government.initial_trust)"))
                continue
            if path in parameter_fields() and parameter_fields()[path].annotation not in (int, float):
                problems.append((path, "only numeric parameters can be fitted (whole numbers or fractions)"))
                continue
            ends = Bounds(low=prior.low, high=prior.high)
            problems += [(path, message) for message in _static_problems(path, ends)]
        if problems:
            raise _problems(problems)
        return parameters

    def priors(self) -> dict[str, Prior]:
        return dict(self.parameters)


# ---------------------------------------------------------------- loading


def json_schema() -> dict:
    """The JSON Schema of a calibration spec file."""
    schema = CalibrationSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "swapsim calibration"
    return schema


def spec_from_dict(data: dict, source: str = "<calibration>", folder: str | Path | None = None) -> CalibrationSpec:
    """Validate a calibration spec given as a dict; errors name `source`, paths are relative to `folder`."""
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(format_errors(source, err, "swapsim schema --calibration")) from None
    spec._source, spec._folder = source, (Path(folder) if folder is not None else None)
    base_scenario(spec)  # the base, its fixed values and the record must be valid too
    load_record(spec)
    return spec


def load_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec file. Raises ScenarioError with one line per problem."""
    path = Path(path)
    data = read_raw(path)
    own = read_yaml(path)
    data["name"] = own.get("name", path.stem)
    return spec_from_dict(data, str(path), path.parent)


def base_scenario(spec: CalibrationSpec) -> Scenario:
    """The base scenario with the spec's fixed values."""
    base = scenario_from_base(spec.base, spec.folder, spec.source, spec.name)
    if not spec.fixed:
        return base
    try:
        return with_overrides(base, spec.fixed, f"{spec.source}: fixed")
    except ScenarioError as err:
        raise ScenarioError([line.replace(f"{spec.source}: fixed: ", f"{spec.source}: fixed.") for line in err.problems]) \
            from None


def inert_warnings(spec: CalibrationSpec) -> list[str]:
    """One line for each fitted parameter that has no effect under the base scenario with the fixed values: the
    record cannot inform it, and its posterior will be its prior."""
    inert = inert_parameters(base_scenario(spec), spec.parameters)
    return [f"{spec.source}: parameters.{path}: {reason}" for path, reason in inert.items()]


@dataclass
class Record:
    """The observed points of the fit window: day, model column, value, weight, and whether a lower bound."""

    points: pd.DataFrame  # date, day, side, column, value, confidence, weight, lower, scale

    @property
    def days(self) -> list[int]:
        return sorted(set(self.points["day"].tolist()))


def _bundled_record() -> pd.DataFrame:
    with resources.as_file(resources.files("sim") / "data" / "observed_2020" / "releases.csv") as path:
        return pd.read_csv(path)


def load_record(spec: CalibrationSpec, until: dt.date | None = None, base: Scenario | None = None) -> Record:
    """The record's points up to `until` (default: the spec's), as days of the base scenario's calendar."""
    base = base or base_scenario(spec)
    where = f"{spec.source}: observed"
    if spec.observed is None:
        frame = _bundled_record()
    else:
        path = spec.folder / spec.observed
        if not path.is_file():
            raise ScenarioError([f"{where}: no such file {spec.observed!r} (looked for {path})"])
        try:
            frame = pd.read_csv(path)
        except (ValueError, OSError) as exc:
            raise ScenarioError([f"{where}: {path} cannot be read as CSV: {exc}"]) from None
    missing = {"date", "side", "cumulative_released", "confidence"} - set(frame.columns)
    if missing:
        raise ScenarioError([f"{where}: missing column(s) {', '.join(sorted(missing))} "
                             "(needed: date, side, cumulative_released, confidence)"])
    problems = []
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        problems.append(f"{where}: row {int(dates.isna().idxmax()) + 2}: date is not YYYY-MM-DD")
    unknown = sorted(set(frame["side"]) - set(SIDES))
    if unknown:
        problems.append(f"{where}: unknown side {unknown[0]!r}; expected one of {', '.join(SIDES)}")
    grades = sorted(set(frame["confidence"]) - set(spec.weights))
    if grades:
        problems.append(f"{where}: confidence {grades[0]!r} has no weight in `weights` ({', '.join(spec.weights)})")
    if problems:
        raise ScenarioError(problems)
    start = pd.Timestamp(base.calendar.start_date)
    last = pd.Timestamp(until or spec.until)
    frame = frame.assign(date=dates, day=(dates - start).dt.days)
    frame = frame[(frame["date"] <= last) & (frame["day"] >= 0)].reset_index(drop=True)
    if frame.empty:
        raise ScenarioError([f"{where}: no point between the calendar's start and until ({last.date()})"])
    notes = frame["note"].fillna("").str.lower() if "note" in frame else pd.Series("", index=frame.index)
    bound = frame["bound"].fillna("").str.lower() if "bound" in frame else pd.Series("", index=frame.index)
    totals = {"government_released": base.protocol.government_prisoners,
              "taliban_released": base.protocol.taliban_prisoners}
    points = pd.DataFrame({
        "date": frame["date"].dt.date, "day": frame["day"].astype(int), "side": frame["side"],
        "column": frame["side"].map(SIDES), "value": frame["cumulative_released"].astype(float),
        "confidence": frame["confidence"], "weight": frame["confidence"].map(spec.weights).astype(float),
        "lower": notes.str.contains("lower bound") | (bound == "lower"),
    })
    floor = points["column"].map(totals).astype(float) * ERROR_FLOOR
    points["scale"] = np.maximum(points["value"], floor)
    return Record(points)


# ---------------------------------------------------------------- distance and simulation


def distance(simulated: np.ndarray, record: Record) -> np.ndarray:
    """Weighted root-mean-square relative error of simulated cumulative releases (runs x points): each error
    relative to the reported count (small counts as ERROR_FLOOR of the side's total); a lower bound counts
    only when the run falls short of it."""
    p = record.points
    error = (simulated - p["value"].to_numpy()) / p["scale"].to_numpy()
    error = np.where(p["lower"].to_numpy() & (error >= 0), 0.0, error)
    w = p["weight"].to_numpy()
    return np.sqrt((error**2 * w).sum(axis=1) / w.sum())


def simulate(base: Scenario, values: dict[str, np.ndarray], seeds: np.ndarray, days: list[int], until: int,
             workers: int = 1, executor: Executor | None = None, lanes: int | None = None,
             on_done=None, history_seeds: np.ndarray | None = None, history_until: int = -1) -> pd.DataFrame:
    """Run each parameter set once with its seed, to the end of day `until`; both sides' cumulative releases
    on `days`, one row per run and day (`run`, `day`, `government_released`, `taliban_released`).

    With `history_seeds`, run k replays the chance of `history_seeds[k]` up to day `history_until`."""
    n = len(seeds)
    plan = batches.batches_of([base], np.zeros(n, dtype=np.int64), np.asarray(seeds, dtype=np.int64),
                              {"run": np.arange(n)}, batches.cut(n, lanes, workers), overrides=values,
                              until=until, snapshot_days=days,
                              history_seeds=None if history_seeds is None else np.asarray(history_seeds, np.int64),
                              history_until=history_until)
    parts = [result.snapshots for result in batches.run_all(plan, workers, executor)]
    if on_done:
        on_done(n)
    return pd.concat(parts, ignore_index=True)


def at_points(snapshots: pd.DataFrame, record: Record, runs: int) -> np.ndarray:
    """The simulated value of each record point for each run: an array runs x points (`snapshots` holds the same
    days for every run, in order, the record's days among them)."""
    days = {day: i for i, day in enumerate(np.unique(snapshots["day"]).tolist())}
    wide = {column: snapshots[column].to_numpy().reshape(runs, len(days))
            for column in ("government_released", "taliban_released")}
    p = record.points
    return np.stack([wide[c][:, days[d]] for c, d in zip(p["column"], p["day"])], axis=1).astype(float)


def parameter_values(priors: dict[str, Prior], unit: np.ndarray) -> dict[str, np.ndarray]:
    """Parameter values from places in the prior ranges (sets x parameters); whole numbers where the parameter is."""
    out = {}
    for j, (path, prior) in enumerate(priors.items()):
        values = prior.from_unit(np.clip(unit[:, j], 0.0, 1.0))
        if parameter_fields()[path].annotation is int:
            values = np.rint(values).astype(np.int64)
        out[path] = values
    return out


def units_of(priors: dict[str, Prior], frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([prior.to_unit(frame[path].to_numpy(dtype=float)) for path, prior in priors.items()])


def synthetic_record(spec: CalibrationSpec, values: dict[str, float], seed: int) -> pd.DataFrame:
    """The record the model itself makes with these parameter values and seed: the spec's record points (dates,
    sides, confidence, lower bounds) with the simulated counts. What a calibration must recover (docs/ODD.md,
    "Calibration", and benchmarks/sbc_calibration.py)."""
    base = base_scenario(spec)
    record = load_record(spec, base=base)
    until = (spec.until - base.calendar.start_date).days
    snaps = simulate(base, {path: np.array([value]) for path, value in values.items()}, np.array([seed]),
                     record.days, until)
    p = record.points
    return pd.DataFrame({"date": p["date"].astype(str), "side": p["side"],
                         "cumulative_released": at_points(snaps, record, 1)[0].astype(np.int64),
                         "confidence": p["confidence"], "bound": np.where(p["lower"], "lower", "")})


# ---------------------------------------------------------------- ABC-SMC


def _logit(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 1e-9, 1 - 1e-9)
    return np.log(u) - np.log1p(-u)


def _sigmoid(y: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-y))


def _log_prior(y: np.ndarray) -> np.ndarray:
    """Log density, in logit space, of parameters uniform in their prior ranges: -|y| - 2 log(1 + e^-|y|)."""
    return (-np.abs(y) - 2.0 * np.log1p(np.exp(-np.abs(y)))).sum(axis=1)


def _systematic(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """n indices among k equally weighted particles, by systematic resampling (each taken n/k times, give or take one)."""
    return np.minimum(((rng.random() + np.arange(n)) * k / n).astype(np.int64), k - 1)


@dataclass
class Generation:
    """One population of accepted parameter sets."""

    index: int
    epsilon: float
    proposed: int  # simulations this generation ran
    population: pd.DataFrame  # one column per parameter, then distance, weight, seed, generation
    moved: int | None = None  # particles whose move was accepted (generations after the first)
    step: float = 1.0  # the next generation's random-walk scale, tuned towards TARGET_ACCEPTANCE

    @property
    def acceptance(self) -> float:
        """Share of proposals accepted: moves accepted, or (generation 0) the prior samples kept."""
        accepted = len(self.population) if self.moved is None else self.moved
        return accepted / self.proposed if self.proposed else float("nan")


@dataclass
class Progress:
    """What a calibration has done so far (the state a resumed calibration starts from)."""

    generations: list[Generation] = field(default_factory=list)
    simulations: int = 0


def spec_hash(spec: CalibrationSpec) -> str:
    """sha256 of the spec, its resolved base and its record: changes whenever the calibration would."""
    body = spec.model_dump(mode="json", exclude={"description", "name", "predictive_runs"})
    body["base"] = base_scenario(spec).model_dump(mode="json")
    body["base"]["metadata"].pop("description", None)
    body["record"] = load_record(spec).points.astype(str).to_dict(orient="list")
    canonical = json.dumps({"swapsim_calibration": 1, **body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _seeds(spec: CalibrationSpec, generation: int, round_: int, n: int) -> np.ndarray:
    state = np.random.SeedSequence(spec.seed, spawn_key=(SIMULATION_KEY, generation, round_)).generate_state(n, np.uint64)
    return (state >> np.uint64(1)).astype(np.int64)


def _proposal_rng(spec: CalibrationSpec, generation: int, round_: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(PROPOSAL_KEY, generation, round_)))


class Calibration:
    """An ABC calibration in a folder: generations written as they complete, so that it can be resumed."""

    def __init__(self, spec: CalibrationSpec, out: Path, workers: int = 1, executor: Executor | None = None,
                 lanes: int | None = None, on_done=None):
        self.spec, self.out, self.workers, self.executor, self.lanes = spec, Path(out), workers, executor, lanes
        self.on_done = on_done
        self.base = base_scenario(spec)
        self.record = load_record(spec, base=self.base)
        self.priors = spec.priors()
        self.until = (spec.until - self.base.calendar.start_date).days  # the last day of the fit window
        self.progress = Progress()

    # ---------------------------------------------------------------- running

    def _evaluate(self, unit: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        values = parameter_values(self.priors, unit)
        snaps = simulate(self.base, values, seeds, self.record.days, self.until, self.workers, self.executor,
                         self.lanes, self.on_done)
        self.progress.simulations += len(seeds)
        return distance(at_points(snaps, self.record, len(seeds)), self.record)

    def _population(self, unit: np.ndarray, dist: np.ndarray, weight: np.ndarray, seeds: np.ndarray,
                    index: int) -> pd.DataFrame:
        frame = pd.DataFrame(parameter_values(self.priors, unit))
        return frame.assign(distance=dist, weight=weight / weight.sum(), seed=seeds, generation=index)

    def first_generation(self) -> Generation | None:
        """Sample the prior and keep the closest: generation 0 (with `rejection`, the whole budget)."""
        spec = self.spec
        n = spec.simulations if spec.method == "rejection" else min(
            spec.simulations, int(math.ceil(spec.particles / spec.quantile)))
        if n < spec.particles:
            return None
        unit = _proposal_rng(spec, 0, 0).random((n, len(self.priors)))
        seeds = _seeds(spec, 0, 0, n)
        dist = self._evaluate(unit, seeds)
        keep = np.argsort(dist, kind="stable")[: spec.particles]
        population = self._population(unit[keep], dist[keep], np.ones(len(keep)), seeds[keep], 0)
        return Generation(0, float(dist[keep].max()), n, population, step=2.38 / math.sqrt(len(self.priors)))

    def next_generation(self, last: Generation) -> Generation | None:
        """Tighten the tolerance to the `quantile` of the last distances, resample the particles within it, and
        move each by Metropolis-Hastings steps that must stay within it (Del Moral et al. 2012), as many as give
        each particle a 99% chance to move once at the last acceptance rate (Drovandi and Pettitt 2011)."""
        spec, index, n = self.spec, last.index + 1, len(last.population)
        moves = int(np.clip(math.ceil(math.log(0.01) / math.log(1.0 - min(max(last.acceptance, 0.01), 0.99))), 1, MAX_MOVES))
        if self.progress.simulations + n > spec.simulations:
            return None  # the budget would be overrun: the last complete generation stands
        moves = min(moves, (spec.simulations - self.progress.simulations) // n)
        rng = _proposal_rng(spec, index, 0)
        dist = last.population["distance"].to_numpy()
        epsilon = float(np.quantile(dist, spec.quantile))
        inside = np.flatnonzero(dist <= epsilon)
        picked = inside[_systematic(rng, len(inside), n)]
        y = _logit(units_of(self.priors, last.population))[picked]
        dist, seeds = dist[picked], last.population["seed"].to_numpy()[picked]
        cov = last.step**2 * np.atleast_2d(np.cov(y, rowvar=False)) + 1e-9 * np.eye(y.shape[1])
        moved = 0
        for move_round in range(moves):
            proposal = y + rng.multivariate_normal(np.zeros(len(cov)), cov, size=n)
            new_seeds = _seeds(spec, index, move_round, n)
            new_dist = self._evaluate(_sigmoid(proposal), new_seeds)
            ratio = np.exp(np.minimum(_log_prior(proposal) - _log_prior(y), 0.0))
            move = (new_dist <= epsilon) & (rng.random(n) < ratio)
            y = np.where(move[:, None], proposal, y)
            dist, seeds = np.where(move, new_dist, dist), np.where(move, new_seeds, seeds)
            moved += int(move.sum())
        population = self._population(_sigmoid(y), dist, np.ones(n), seeds, index)
        accepted = moved / (n * moves)
        step = float(np.clip(last.step * math.exp(accepted - TARGET_ACCEPTANCE), 0.02, 3.0))
        return Generation(index, epsilon, n * moves, population, moved=moved, step=step)

    def generations(self) -> Iterator[Generation]:
        """Generations after those already done, until the budget or the acceptance says stop."""
        last = self.progress.generations[-1] if self.progress.generations else None
        if last is None:
            first = self.first_generation()
            if first is None:
                return
            yield first
            last = first
        if self.spec.method == "rejection":
            return
        while last.acceptance >= self.spec.min_acceptance or last.index == 0:
            nxt = self.next_generation(last)
            if nxt is None:
                return
            yield nxt
            last = nxt

    # ---------------------------------------------------------------- the folder

    def state_path(self) -> Path:
        return self.out / "calibration_state.json"

    def generation_path(self, index: int) -> Path:
        return self.out / "generations" / f"gen-{index:03d}.parquet"

    def save(self, generation: Generation) -> None:
        storage.write_parquet(self.generation_path(generation.index), generation.population)
        self.progress.generations.append(generation)
        storage.write_json(self.state_path(), self.state())

    def state(self) -> dict:
        return {
            "spec_hash": spec_hash(self.spec), "code": code_version(), "seed_rule": SEED_RULE,
            "simulations": self.progress.simulations,
            "generations": [{"index": g.index, "epsilon": g.epsilon, "proposed": g.proposed, "moved": g.moved,
                             "acceptance": g.acceptance, "step": g.step} for g in self.progress.generations],
        }

    def resume(self) -> None:
        """Reload the generations a previous run of this calibration wrote; refuse another spec or code."""
        path = self.state_path()
        if not path.is_file():
            raise ResumeError(f"{self.out}: not a calibration folder (no calibration_state.json); nothing to resume")
        old = json.loads(path.read_text())
        now = self.state()
        for key, what in (("spec_hash", "the calibration spec, its base or its record"),
                          ("code", "swapsim's version or commit"), ("seed_rule", "the random-number rule")):
            if old.get(key) != now[key]:
                raise ResumeError(f"{self.out}: {what} changed since this folder was started; "
                                  "use a new --out, or --force to start over")
        self.progress.simulations = int(old["simulations"])
        for g in old["generations"]:
            population = pd.read_parquet(self.generation_path(g["index"]))
            self.progress.generations.append(
                Generation(g["index"], g["epsilon"], g["proposed"], population, g.get("moved"), g["step"]))

    def posterior(self) -> pd.DataFrame:
        """The last complete generation: one row per accepted parameter set, with distance and weight."""
        if not self.progress.generations:
            raise ValueError("no generation completed: raise the budget of simulations")
        return self.progress.generations[-1].population


def open_folder(calibration: Calibration, resume: bool, force: bool) -> Path | None:
    """Start a calibration folder, or reopen one with `resume`; returns where a forced run set the old one aside."""
    out = calibration.out
    if resume and calibration.state_path().is_file():
        calibration.resume()
        return None
    aside = storage.start_folder(out, "calibration_state.json", "calibration", resume, force)
    storage.write_json(calibration.state_path(), calibration.state())
    return aside


# ---------------------------------------------------------------- the posterior, drawn from


@dataclass
class Posterior:
    """A calibration's result, to draw parameter sets from: the accepted sets and their weights, the values the
    calibration fixed, and the base scenario (before them) that tells which values a scenario set on purpose."""

    frame: pd.DataFrame
    fixed: dict[str, Any]
    base: Scenario
    source: Path

    def identity(self) -> dict:
        """What a results folder records of the posterior its runs drew from: its folder and its spec's hash."""
        info = json.loads((self.source / "calibration.json").read_text())
        return {"folder": str(self.source), "spec_hash": info["spec_hash"], "parameter_sets": int(len(self.frame))}

    @property
    def fitted(self) -> list[str]:
        return [c for c in self.frame.columns if c in parameter_fields()]

    def overrides(self, scenario: Scenario, seeds: np.ndarray, keep: frozenset[str] = frozenset()
                  ) -> dict[str, np.ndarray]:
        """Per-run values of the fixed and fitted parameters for runs of `scenario` with these seeds.

        A parameter the scenario sets to a value other than the calibration base's is the scenario's
        question and is left alone, as are the parameters in `keep` (a sweep's own).
        """
        rows = posterior_rows(self.frame, seeds)
        n = len(seeds)
        out: dict[str, np.ndarray] = {}
        for path, value in self.fixed.items():
            if path not in keep and value_at(scenario, path) == value_at(self.base, path):
                out[path] = np.full(n, value, dtype=object if isinstance(value, str) else None)
        for path in self.fitted:
            if path not in keep and value_at(scenario, path) == value_at(self.base, path):
                out[path] = self.frame[path].to_numpy()[rows]
        return out


def load_posterior(folder: str | Path) -> Posterior:
    """The posterior of a calibration folder (`swapsim calibrate`); a one-line error when it is not one."""
    folder = Path(folder)
    info_path, frame_path = folder / "calibration.json", folder / "posterior.parquet"
    if not info_path.is_file() or not frame_path.is_file():
        raise ScenarioError([f"{folder}: not a calibration folder (no calibration.json and posterior.parquet)"])
    info = json.loads(info_path.read_text())
    from sim.model.scenario import from_dict

    base = from_dict(info["base_scenario"], f"{info_path}: base_scenario")
    return Posterior(pd.read_parquet(frame_path), info.get("fixed", {}), base, folder)


# ---------------------------------------------------------------- drawing from a posterior


def posterior_rows(posterior: pd.DataFrame, seeds: np.ndarray) -> np.ndarray:
    """The posterior row each run draws, by weight, from a stream of its seed alone: the same run draws the
    same parameter set in every scenario and at every point of a sweep (a paired comparison)."""
    weights = posterior["weight"].to_numpy(dtype=float)
    cumulative = np.cumsum(weights / weights.sum())
    u = np.array([np.random.SeedSequence(int(s), spawn_key=(PREDICTIVE_KEY,)).generate_state(1, np.uint64)[0]
                  for s in np.asarray(seeds, dtype=np.int64)], dtype=np.uint64)
    unit = (u >> np.uint64(11)).astype(float) * 2.0**-53
    return np.minimum(np.searchsorted(cumulative, unit, side="right"), len(cumulative) - 1)


def continue_runs(frame: pd.DataFrame, scenario: Scenario, seeds: np.ndarray, last: int, fit_until: int,
                  workers: int = 1, executor: Executor | None = None, lanes: int | None = None) -> pd.DataFrame:
    """A forecast's runs: each draws an accepted simulation from the posterior by weight, replays its parameter
    set and its chance up to the end of the fit window (`fit_until`: the history that matched the record), then
    goes on to day `last` with its own seed. Both sides' cumulative releases on every day, as `simulate`."""
    rows = posterior_rows(frame, seeds)
    values = {path: frame[path].to_numpy()[rows] for path in frame.columns if path in parameter_fields()}
    return simulate(scenario, values, seeds, list(range(last + 1)), last, workers, executor, lanes,
                    history_seeds=frame["seed"].to_numpy(dtype=np.int64)[rows], history_until=fit_until)

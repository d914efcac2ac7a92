"""Calibration specs: what to fit (parameters and priors), to what (a record up to a date), how and at what cost.

A spec (YAML) names a base scenario, values fixed from the record, the observed record (by default the
bundled 2020 record), the fit window (`until`), the parameters to fit with their prior ranges, the method
and the budget of simulations. It is validated like a scenario file: one line per problem, naming the file
and the field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr, TypeAdapter, ValidationError, field_validator, model_validator

from sim import DEFAULT_SEED
from sim.experiments import record as records
from sim.experiments.sweep_spec import Bounds, SpecFile, _problems, _static_problems, is_event_path, joined, \
    scenario_from_base, without_failing_keys
from sim.model.scenario import Scenario, ScenarioError, Section, format_errors, inert_parameters, \
    parameter_fields, path_problem, read_raw, read_yaml, with_overrides
from sim.model.schema import NAME_PATTERN

METHODS = ("abc-smc", "rejection")
UNHASHED = frozenset({"description", "name", "predictive_runs"})  # keys that change no simulation of the fit
Weight = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]


class Prior(Section):
    """A parameter's prior: uniform between low and high, on a linear or a log scale."""

    low: float = Field(allow_inf_nan=False, description="Lowest value [the parameter's unit]")
    high: float = Field(allow_inf_nan=False, description="Highest value; above low [the parameter's unit]")
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


class WalkoutRecord(Section):
    """The Taliban team's walkouts on record: their count by the end of the fit window is scored beside the
    releases, so that a fit cannot accept histories in which the team walks out far more often than it did."""

    dates: list[dt.date] = Field(description="Each day the team walked out, from the record of events [dates, "
                                             "YYYY-MM-DD]")
    confidence: str = Field("high", description="Confidence grade of the count: its weight is the grade's in "
                                                "`weights` [grade]")
    source: str = Field("", max_length=2000, description="Where the dates come from [text]")

    @field_validator("dates")
    @classmethod
    def _distinct(cls, dates: list[dt.date]) -> list[dt.date]:
        if len(set(dates)) != len(dates):
            raise _problems([("dates", "a day can be listed once (one walkout a day at most)")])
        return sorted(dates)


class CalibrationSpec(SpecFile):
    """What to fit, to what, how, and with how many simulations."""

    name: str = Field("calibration", pattern=NAME_PATTERN, max_length=80,
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
    simulations_per_particle: int = Field(
        1, ge=1, le=100, description="Seeds each parameter set is simulated with; its ABC likelihood is the share "
                                     "of them within the tolerance [runs]")
    quantile: float = Field(0.5, gt=0, lt=1, description="Each new tolerance keeps this share of the effective "
                                                        "sample size (with one simulation per particle, this "
                                                        "quantile of the distances) [share]")
    min_ess: float = Field(0.5, gt=0, le=1, description="A generation is complete once its effective sample size "
                                                       "of distinct particles reaches this share of the "
                                                       "particles [share]")
    max_moves: int = Field(100, ge=1, le=10_000,
                           description="Metropolis-Hastings rounds a generation may take to get there [rounds]")
    min_acceptance: float = Field(0.03, gt=0, lt=1,
                                  description="Stop once a generation accepts fewer of its moves [share]")
    weights: dict[str, Weight] = Field(
        default_factory=lambda: {"high": 1.0, "medium": 0.5, "low": 0.25}, json_schema_extra={"minProperties": 1},
        description="Weight of a record point by its confidence grade (a number above 0) [weight]")
    walkouts: WalkoutRecord | None = Field(
        None, description="The team's walkouts on record, their count by the window's end scored beside the "
                          "releases; empty to score releases only [mapping]")
    seed: int = Field(DEFAULT_SEED, ge=0, lt=2**63, description="Root seed of proposals and simulations [integer]")
    predictive_runs: int = Field(1000, ge=10, le=1_000_000,
                                 description="Runs drawn from the posterior for the fit's bands and coverage [runs]")

    _source: str = PrivateAttr("<calibration>")

    @field_validator("parameters")
    @classmethod
    def _known(cls, parameters: dict[str, Prior]) -> dict[str, Prior]:
        if not parameters:
            raise _problems([("", "no parameters to fit; give at least one dotted path with its prior, e.g. "
                                  "government.initial_trust: {low: 0.1, high: 0.7}")])
        problems = []
        for path, prior in parameters.items():
            wrong = fit_path_problem(path)
            if wrong:
                problems.append((path, wrong))
                continue
            ends = Bounds(low=prior.low, high=prior.high)
            problems += [(path, message) for message in _static_problems(path, ends)]
        if problems:
            raise _problems(problems)
        return parameters

    @property
    def first_generation(self) -> int:
        """Simulations of the first generation: the whole budget for rejection, else particles x seeds each."""
        return self.simulations if self.method == "rejection" else self.particles * self.simulations_per_particle

    @model_validator(mode="after")
    def _budget(self):
        first = self.first_generation
        if self.method == "abc-smc" and first > self.simulations:
            raise _problems([("simulations", f"the first generation alone needs particles x simulations_per_particle "
                                             f"= {first:,} simulations; raise simulations to at least that, or lower "
                                             f"particles ({self.simulations:,} given)")])
        return self

    @model_validator(mode="after")
    def _walkout_grade(self):
        if self.walkouts is not None and self.walkouts.confidence not in self.weights:
            raise _problems([("walkouts.confidence", f"{self.walkouts.confidence!r} has no weight in `weights` "
                                                     f"({', '.join(self.weights)})")])
        return self

    def priors(self) -> dict[str, Prior]:
        return dict(self.parameters)


def fit_path_problem(path: str) -> str | None:
    """Why a dotted path cannot be fitted (an event's field, no parameter, not a number), or None."""
    if is_event_path(path):
        return "an event's fields cannot be fitted; fit scenario parameters (dotted paths such as " \
               "government.initial_trust)"
    if path not in parameter_fields():
        return path_problem(path)
    if parameter_fields()[path].annotation not in (int, float):
        return "only numeric parameters can be fitted (whole numbers or fractions)"
    return None


def json_schema() -> dict:
    """The JSON Schema of a calibration spec file."""
    schema = CalibrationSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "swapsim calibration"
    return schema


def spec_from_dict(data: dict, source: str = "<calibration>", folder: str | Path | None = None) -> CalibrationSpec:
    """Validate a calibration spec given as a dict; errors name `source`, paths are relative to `folder`.

    Every problem is reported at once: the spec's own, its base scenario's with the fixed values, and its
    record's, each checked as far as the rest allows."""
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as err:
        lines = format_errors(source, err, "swapsim schema --calibration")
        _, after = without_failing_keys(CalibrationSpec, data, err, source, "swapsim schema --calibration",
                                        reads={"method", "particles", "simulations", "simulations_per_particle"})
        raise ScenarioError(joined(lines, after, _unvalidated_problems(data, source, folder))) from None
    spec._source, spec._folder = source, (Path(folder) if folder is not None else None)
    base, problems = _base_and_record_problems(spec)
    if problems:
        raise ScenarioError(problems)
    load_record(spec, base=base)  # the fit window must hold points
    return spec


def _base_and_record_problems(spec: CalibrationSpec) -> tuple[Scenario | None, list[str]]:
    """The spec's base scenario (None if it has none or it fails) and the problems of the base, with its fixed
    values, and of the record, each checked whatever the other's."""
    base, problems = None, []
    if spec.base is not None:
        try:
            base = base_scenario(spec)
        except ScenarioError as err:
            problems += err.problems
    try:
        problems += records.frame_problems(record_frame(spec), where=record_where(spec), weights=spec.weights)
    except ScenarioError as err:
        problems += err.problems
    return base, problems


def _unvalidated_problems(data: dict, source: str, folder: str | Path | None) -> list[str]:
    """The problems of a spec that does not validate that its own errors do not show: parameter paths beside a
    bad prior, the base scenario and its fixed values, and the record (read with its weights, or the default
    ones when those are bad)."""
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    lines = [f"{source}: parameters.{path}: {wrong}" for path in parameters if (wrong := fit_path_problem(str(path)))]
    ready = {}
    for key in ("base", "fixed", "observed", "weights"):
        field = CalibrationSpec.model_fields[key]
        try:
            ready[key] = TypeAdapter(field.annotation).validate_python(data[key]) if key in data else \
                field.get_default(call_default_factory=True)
        except ValidationError:  # reported by the spec's errors; the default stands in, or no base at all
            ready[key] = None if key == "base" else field.get_default(call_default_factory=True)
    spec = CalibrationSpec.model_construct(**ready)
    spec._source, spec._folder = source, (Path(folder) if folder is not None else None)
    return lines + _base_and_record_problems(spec)[1]


def load_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec file. Raises ScenarioError with one line per problem."""
    from sim.experiments import file_kinds  # it reads this module's field names

    path = Path(path)
    own = read_yaml(path)
    file_kinds.expect(own, file_kinds.CALIBRATION, str(path))
    data = read_raw(path)
    data["name"] = own.get("name", path.stem)
    return spec_from_dict(data, str(path), path.parent)


def base_scenario(spec: CalibrationSpec) -> Scenario:
    """The base scenario with the spec's fixed values."""
    try:
        base = scenario_from_base(spec.base, spec.folder, spec.source, spec.name)
    except ScenarioError as err:  # the fixed values' paths can be checked without it
        raise ScenarioError(err.problems + [f"{spec.source}: fixed.{path}: {path_problem(str(path))}"
                                            for path in spec.fixed if path not in parameter_fields()]) from None
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


def record_frame(spec: CalibrationSpec):
    """The spec's record as read from its CSV (the bundled 2020 record when `observed` is empty)."""
    if spec.observed is None:
        return records.bundled_frame()
    return records.read_frame(spec.folder / spec.observed, f"{spec.source}: observed")


def record_where(spec: CalibrationSpec) -> str:
    """How messages name the spec's record: the spec's `observed` key and the CSV it names."""
    return f"{spec.source}: observed" + (f" {spec.observed}" if spec.observed is not None else "")


def load_record(spec: CalibrationSpec, until: dt.date | None = None, base: Scenario | None = None,
                after: dt.date | None = None) -> records.Record:
    """The record's points up to `until` (default: the spec's), as days of the base scenario's calendar."""
    base = base or base_scenario(spec)
    totals = {"government_released": base.protocol.government_prisoners,
              "taliban_released": base.protocol.taliban_prisoners}
    record = records.record_points(record_frame(spec), where=record_where(spec), weights=spec.weights,
                                   start=base.calendar.start_date, totals=totals, until=until or spec.until,
                                   after=after)
    if spec.walkouts is not None:
        record.walkouts = records.walkouts_by(spec.walkouts.dates, start=base.calendar.start_date,
                                              until=until or spec.until,
                                              weight=spec.weights[spec.walkouts.confidence])
    return record


def spec_hash(spec: CalibrationSpec) -> str:
    """sha256 of the spec, its resolved base and its record: changes whenever the calibration would."""
    body = spec.model_dump(mode="json", exclude=UNHASHED)
    body["base"] = base_scenario(spec).model_dump(mode="json")
    body["base"]["metadata"].pop("description", None)
    body["record"] = load_record(spec).points.astype(str).to_dict(orient="list")
    canonical = json.dumps({"swapsim_calibration": 2, **body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

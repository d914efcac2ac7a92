"""Sweep specs: which scenario parameters to vary, how to sample them, how many seeded runs per point.

A sweep file (YAML) names a base scenario, the parameters to vary by their dotted
path in the scenario, a sampler (grid, random, lhs, sobol), replications per point
and a root seed. Every value the sweep will use is checked against the scenario
schema when the spec loads, so a bad spec fails with one line per problem before
any run starts. Replicate k uses the same seed at every point (common random
numbers), so differences between points are paired comparisons.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    PrivateAttr,
    RootModel,
    StrictBool,
    StrictInt,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from sim import DEFAULT_SEED
from sim.experiments import seeds
from sim.model.outcomes import OUTCOMES
from sim.model.scenario import (
    Scenario,
    ScenarioError,
    Section,
    error_words,
    format_errors,
    from_dict,
    path_problem,
    inert_parameters,
    parameter_fields,
    load,
    read_raw,
    read_yaml,
    resolve_extends,
    with_overrides,
)
from sim.model.errors import did_you_mean
from sim.model.schema import NAME_PATTERN
from sim.model.yaml_files import is_file

SAMPLERS = ("grid", "random", "lhs", "sobol")
BOUNDED_SAMPLERS = ("random", "lhs", "sobol")
CHOICE_SAMPLERS = ("random", "lhs")  # also draw from a list of values (a choice such as commander_policy)
MAX_RANGE_VALUES = 10_000
MAX_POINTS = 1_000_000
MAX_REPLICATIONS = 100_000  # its seeds take 2 s to derive; a sweep that needs more is better as more points
MAX_CHECKED_POINTS = 50_000
# Spawn key of the design's random stream: far from the replicate keys 0, 1, 2, ...
DESIGN_STREAM = 2**32 - 1
_REL_TOL = 1e-9

Number = Union[StrictInt, Annotated[float, Field(strict=True, allow_inf_nan=False)]]
Value = Union[StrictBool, StrictInt, Annotated[float, Field(strict=True, allow_inf_nan=False)], dt.date, str]


def _problems(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """Several problems, each at a field below the one being validated ("" = that field itself)."""
    summary = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
    return PydanticCustomError("sweep_problems", "{summary}", {"summary": summary, "problems": problems})


class ValuesList(RootModel[list[Value]]):
    """A plain list of the values a parameter takes, in order: numbers, choices, yes/no, dates."""

    root: list[Value] = Field(description="The values the parameter takes, in this order")

    @model_validator(mode="after")
    def _non_empty_and_distinct(self):
        if not self.root:
            raise _problems([("", "empty list of values; give at least one")])
        seen: list[Any] = []
        for value in self.root:
            if any(value == s and type(value) is type(s) for s in seen):
                raise _problems([("", f"value {value!r} is listed twice")])
            seen.append(value)
        return self

    def values(self) -> list[Any]:
        """The listed values."""
        return list(self.root)


class Range(Section):
    """Evenly spaced values from start to stop (stop included when it lands on the grid)."""

    start: Number = Field(description="First value [the parameter's unit]")
    stop: Number = Field(description="Last value, included when start + k·step lands on it (within float tolerance) [the parameter's unit]")
    step: Number | None = Field(None, description="Spacing of the values; give step or count, not both [the parameter's unit]")
    count: StrictInt | None = Field(None, description="Number of values from start to stop inclusive; give step or count, not both [values]")

    @model_validator(mode="after")
    def _not_empty(self):
        problems: list[tuple[str, str]] = []
        if (self.step is None) == (self.count is None):
            problems.append(("", "give exactly one of 'step' or 'count'"))
        elif self.step is not None:
            if self.step == 0:
                problems.append(("step", "must not be 0"))
            elif (self.stop - self.start) / self.step < -_REL_TOL:
                side = "below" if self.step > 0 else "above"
                problems.append(("stop", f"empty range: stop {self.stop} is {side} start {self.start} with step {self.step}"))
            elif (self.stop - self.start) / self.step >= MAX_RANGE_VALUES:
                problems.append(("step", f"gives more than {MAX_RANGE_VALUES:,} values; use a larger step"))
        else:
            if self.count < 1:
                problems.append(("count", f"empty range: count is {self.count}; give at least 1"))
            elif self.count > MAX_RANGE_VALUES:
                problems.append(("count", f"more than {MAX_RANGE_VALUES:,} values"))
            elif self.count > 1 and self.start == self.stop:
                problems.append(("count", f"start equals stop, so count {self.count} repeats one value; use count 1 or a list"))
        if problems:
            raise _problems(problems)
        return self

    def values(self) -> list[int | float]:
        """The values, rounded so that 0.1 steps give 0.3 and not 0.30000000000000004."""
        whole = all(isinstance(x, int) for x in (self.start, self.stop, self.step if self.step is not None else 0))
        if self.count is not None:
            if self.count == 1:
                return [self.start]
            raw = np.linspace(self.start, self.stop, self.count)
            if whole and all(float(v).is_integer() for v in raw):
                return [int(v) for v in raw]
            return [float(np.round(v, 12)) for v in raw]
        n = math.floor((self.stop - self.start) / self.step + _REL_TOL) + 1
        if whole:
            return [self.start + i * self.step for i in range(n)]
        digits = max(_decimals(self.start), _decimals(self.step))
        out = [round(self.start + i * self.step, digits) for i in range(n)]
        if math.isclose(out[-1], self.stop, rel_tol=_REL_TOL, abs_tol=_REL_TOL * abs(self.step)):
            out[-1] = self.stop
        return out


class Bounds(Section):
    """An interval to sample from (random, lhs and sobol samplers); integer parameters get rounded values."""

    low: Number = Field(description="Lowest value [the parameter's unit]")
    high: Number = Field(description="Highest value; must be above low [the parameter's unit]")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise _problems([("high", f"must be greater than low ({self.low}); got {self.high}")])
        return self


def _shape(value: Any) -> str | None:
    if isinstance(value, (list, ValuesList)):
        return "values"
    if isinstance(value, (Range, Bounds)):
        return "range" if isinstance(value, Range) else "bounds"
    if isinstance(value, dict):
        if "low" in value or "high" in value:
            return "bounds"
        if value.keys() & {"start", "stop", "step", "count"}:
            return "range"
    return None


Parameter = Annotated[
    Union[Annotated[ValuesList, Tag("values")], Annotated[Range, Tag("range")], Annotated[Bounds, Tag("bounds")]],
    Discriminator(
        _shape,
        custom_error_type="parameter_shape",
        custom_error_message="expected a list of values, a range {start, stop, step or count} or bounds {low, high}",
    ),
]


class SpecFile(Section):
    """A spec read from a file (a sweep's, a calibration's): where it came from, and where its paths start."""

    _folder: Path | None = PrivateAttr(None)
    _source: str = PrivateAttr("<spec>")

    @property
    def source(self) -> str:
        """The file this spec came from (for messages), or a placeholder when built in Python."""
        return self._source

    @property
    def folder(self) -> Path:
        """The folder a base path is relative to: the spec file's, else the working folder."""
        return self._folder if self._folder is not None else Path.cwd()


class SweepSpec(SpecFile):
    """A sweep: a base scenario, the parameters to vary, a sampler, replications and a root seed."""

    name: str = Field(
        "sweep",
        pattern=NAME_PATTERN,
        max_length=80,
        description="Short name; the default output folder is results/<name>/ (default: the file's stem) [text]",
    )
    description: str = Field("", max_length=4000, description="What question the sweep asks [text]")
    base: str | dict[str, Any] = Field(
        description="Base scenario: a file path relative to this spec, or a scenario written inline (may use extends) [path or mapping]"
    )
    parameters: dict[str, Parameter] = Field(
        json_schema_extra={"minProperties": 1},
        description=(
            "Parameters to vary, by dotted path in the scenario (government.initial_trust), in order: "
            "a list of values, a range {start, stop, step or count}, or bounds {low, high} for sampling"
        ),
    )
    sampler: Literal["grid", "random", "lhs", "sobol"] = Field(
        "grid",
        description=(
            "grid: every combination of the lists and ranges (first parameter varies slowest); "
            "random: uniform in the bounds; lhs: Latin hypercube in the bounds (both also draw from a list of "
            "values, such as a choice: random each equally likely, lhs in equal strata); "
            "sobol: Saltelli design for Sobol indices (needs SALib) [choice]"
        ),
    )
    samples: int | None = Field(
        None,
        ge=1,
        description=(
            "random and lhs: number of points; sobol: base sample size N, giving N·(D+2) points for D parameters "
            "(a power of 2 is advisable) [points]"
        ),
    )
    replications: int = Field(100, ge=1, le=MAX_REPLICATIONS,
                              description="Seeded runs per point; replicate k has the same seed at every point [runs]")
    seed: int = Field(DEFAULT_SEED, ge=0, lt=2**63,
                      description="Root seed of the replicate seeds and of the sampler [integer]")
    chunk_size: int | None = Field(None, ge=1, description="Runs per task; empty for automatic [runs]")
    outputs: list[str] = Field(
        default_factory=lambda: ["deadlocked", "completed"],
        min_length=1,
        description="sobol: the outcomes whose rates get Sobol indices [outcome names]",
    )

    _source: str = PrivateAttr("<sweep>")

    @field_validator("base", mode="before")
    @classmethod
    def _path_or_mapping(cls, value: Any) -> Any:
        if not isinstance(value, (str, dict)):
            raise _problems([("", f"expected a scenario file path or an inline scenario mapping; got {value!r}")])
        return value

    @field_validator("parameters")
    @classmethod
    def _known_and_in_range(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        if not parameters:
            raise _problems([("", "no parameters to vary; give at least one dotted path, e.g. government.initial_trust")])
        problems = [(path, msg) for path, value in parameters.items() for msg in _static_problems(path, value)]
        if problems:
            raise _problems(problems)
        return parameters

    @model_validator(mode="after")
    def _consistent(self):
        problems = []
        for path, value in self.parameters.items():
            where = f"parameters.{path}"
            if self.sampler == "grid" and isinstance(value, Bounds):
                problems.append((where, "bounds are for the random, lhs and sobol samplers; give a list or a range for grid"))
            if self.sampler in BOUNDED_SAMPLERS and not isinstance(value, Bounds) and not (
                    self.sampler in CHOICE_SAMPLERS and isinstance(value, ValuesList)):
                kind = "a list" if isinstance(value, ValuesList) else "a range"
                also = " or a list of values to draw from" if self.sampler in CHOICE_SAMPLERS else ""
                problems.append((where, f"the {self.sampler} sampler needs bounds {{low, high}}{also}; got {kind}"))
        if self.sampler in BOUNDED_SAMPLERS and self.samples is None:
            what = "the base sample size N" if self.sampler == "sobol" else "the number of points"
            problems.append(("samples", f"required by the {self.sampler} sampler: {what}"))
        if not problems and _size(self) > MAX_POINTS:
            problems.append(("parameters", f"the design has {_size(self):,} points, more than {MAX_POINTS:,}"))
        if self.sampler == "grid" and self.samples is not None:
            problems.append(("samples", "not used by the grid sampler: its size is the product of the value counts; remove it"))
        if self.sampler == "sobol" and importlib.util.find_spec("SALib") is None:
            problems.append(("sampler", "sampler sobol needs SALib: pip install 'swapsim[sensitivity]'"))
        for i, name in enumerate(self.outputs):
            if name not in OUTCOMES:
                problems.append((f"outputs.{i}", f"unknown outcome {name!r}{did_you_mean(name, OUTCOMES)}; "
                                                 f"expected one of {', '.join(OUTCOMES)}"))
        if problems:
            raise _problems(problems)
        return self


# ---------------------------------------------------------------- scenario parameters


EVENT_PATH = re.compile(r"^events\.(?P<ref>[A-Za-z0-9_]+)\.(?P<field>[a-z_]+)$")


def is_event_path(path: str) -> bool:
    """Whether a dotted path names a field of one of the scenario's events (events.<id or position>.<field>)."""
    return path.startswith("events.")


def event_field(base: Scenario, path: str) -> tuple[int, FieldInfo]:
    """The position of the event a path names in the base scenario's list, by id or by position, and the field's
    schema; a ValueError says what is wrong."""
    match = EVENT_PATH.match(path)
    if not match:
        raise ValueError("an event parameter is named events.<id or position>.<field>, "
                         "for instance events.eid_ceasefire.duration_days")
    ref, name = match["ref"], match["field"]
    events = base.events
    if ref.isdigit():
        index = int(ref)
        if index >= len(events):
            raise ValueError(f"the base scenario has {len(events)} events (positions 0 to {len(events) - 1})")
    else:
        found = [i for i, event in enumerate(events) if event.id == ref]
        if not found:
            ids = ", ".join(e.id for e in events if e.id) or "none"
            raise ValueError(f"the base scenario has no event with id {ref!r}"
                             f"{did_you_mean(ref, [e.id for e in events if e.id])} (its ids: {ids})")
        index = found[0]
    fields = type(events[index]).model_fields
    if name not in fields or name in ("type", "id"):
        names = [f for f in fields if f not in ("type", "id")]
        raise ValueError(f"a {events[index].type} event has no field {name!r}{did_you_mean(name, names)} to vary "
                         f"(its fields: {', '.join(names)})")
    return index, fields[name]


def apply_overrides(base: Scenario, overrides: Mapping[str, Any], source: str = "<overrides>") -> Scenario:
    """The base scenario with values by dotted path: scenario parameters and event fields (events.<id>.<field>);
    raises ScenarioError naming `source` and the path."""
    events = {path: value for path, value in overrides.items() if is_event_path(path)}
    if events:
        data = base.model_dump(mode="json")
        for path, value in events.items():
            try:
                index, _ = event_field(base, path)
            except ValueError as err:
                raise ScenarioError([f"{source}: {path}: {err}"]) from None
            field = path.rsplit(".", 1)[1]
            data["events"][index][field] = _plain(value)
            if field in ("day", "date"):  # an event has one or the other
                data["events"][index]["date" if field == "day" else "day"] = None
        base = from_dict(data, source)
    rest = {path: value for path, value in overrides.items() if not is_event_path(path)}
    return with_overrides(base, rest, source) if rest else base


@functools.cache
def _adapter(path: str) -> TypeAdapter:
    field = parameter_fields()[path]
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


def _is_integer(path: str, base: Scenario | None = None) -> bool:
    if is_event_path(path):
        return base is not None and _event_annotation(base, path) is int
    return parameter_fields()[path].annotation is int


def _is_numeric(path: str) -> bool:
    return is_event_path(path) or parameter_fields()[path].annotation in (int, float)


def _event_annotation(base: Scenario, path: str) -> Any:
    """The type of an event field (int, float...), the optional `| None` of the event classes aside."""
    annotation = event_field(base, path)[1].annotation
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def _span(path: str) -> str:
    limits = {type(m).__name__: getattr(m, type(m).__name__.lower(), None) for m in parameter_fields()[path].metadata}
    lo, hi = limits.get("Ge"), limits.get("Le")
    if lo is not None and hi is not None:
        return f"{lo:g} to {hi:g}"
    return f"at least {lo:g}" if lo is not None else f"at most {hi:g}" if hi is not None else "any"


def _value_problem(path: str, value: Any) -> str | None:
    """Why `value` cannot be given to the scenario parameter at `path`, or None."""
    lax = parameter_fields()[path].annotation is dt.date  # dates may come quoted, as strings
    try:
        _adapter(path).validate_python(value, strict=not lax)
    except ValidationError as err:
        e = err.errors()[0]
        if e["type"] in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
            return f"value {value!r} is out of range ({_span(path)})"
        if e["type"] == "literal_error":
            return f"value {value!r} is not one of {', '.join(map(str, parameter_fields()[path].annotation.__args__))}"
        return f"value {value!r}: {error_words(e)}"
    return None


def path_problems(path: str) -> list[str]:
    """Problems of a parameter's dotted path alone (an event's is checked against the base scenario's events
    once it is loaded, in `check`)."""
    if is_event_path(path):
        return [] if EVENT_PATH.match(path) else [
            "an event parameter is named events.<id or position>.<field>, for instance events.eid_ceasefire.duration_days"]
    return [] if path in parameter_fields() else [path_problem(path)]


def _static_problems(path: str, value: ValuesList | Range | Bounds) -> list[str]:
    """Problems of one parameter that need no base scenario: its path and the type and range of its values."""
    if is_event_path(path) or path not in parameter_fields():
        return path_problems(path)
    if isinstance(value, (Range, Bounds)) and not _is_numeric(path):
        kind = "a range" if isinstance(value, Range) else "bounds"
        return [f"{kind} needs a numeric parameter; give a list of values instead"]
    problems = list(dict.fromkeys(m for m in (_value_problem(path, v) for v in _used_values(path, value)) if m))
    if len(problems) > 3:
        problems[3:] = [f"and {len(problems) - 3} more values with problems"]
    return problems


def _used_values(path: str, value: ValuesList | Range | Bounds, base: Scenario | None = None) -> list[Any]:
    """The values the sweep will give this parameter (both ends for bounds)."""
    if isinstance(value, Bounds):
        ends = [value.low, value.high]
        return [int(round(v)) for v in ends] if _is_integer(path, base) else ends
    return [_as_field_type(path, v, base) for v in value.values()]


def _as_field_type(path: str, value: Any, base: Scenario | None = None) -> Any:
    """An int for an integer field when the value is whole (500.0 -> 500), a float for a float field (1 -> 1.0)."""
    if is_event_path(path):
        if base is None:
            return value
        kind = _event_annotation(base, path)
    else:
        kind = parameter_fields()[path].annotation
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _decimals(x: float) -> int:
    return max(0, -Decimal(repr(x)).normalize().as_tuple().exponent)


# ---------------------------------------------------------------- loading


def spec_from_dict(data: dict, source: str = "<sweep>", folder: str | Path | None = None) -> SweepSpec:
    """Validate a sweep given as a dict (for notebooks); errors name `source`, base paths are relative to `folder`."""
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        lines = format_errors(source, err, "swapsim schema --sweep")
        paths = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
        extra = [f"{source}: parameters.{path}: {line}" for path in paths for line in path_problems(str(path))]
        spec, after = without_failing_keys(SweepSpec, data, err, source, "swapsim schema --sweep",
                                           reads={"sampler", "samples", "parameters", "outputs"})
        deep = []
        if spec is not None and not failing_keys(err) & {"base", "parameters", "sampler", "samples", "seed"}:
            spec._source, spec._folder = source, Path(folder) if folder is not None else None
            try:
                check(spec)
            except ScenarioError as again:
                deep = again.problems
        raise ScenarioError(joined(lines, extra, after, base_problems(data, source, folder, "sweep"), deep)) from None
    spec._source = source
    spec._folder = Path(folder) if folder is not None else None
    check(spec)
    return spec


def load_spec(path: str | Path, **changes: Any) -> SweepSpec:
    """Read and validate a sweep file, its base scenario and every value it will use; `changes` replace the
    file's top-level values (`replications=20`, `seed=1`: a quick try without a copy of the spec).

    Raises ScenarioError with one line per problem ("FILE: dotted.field: what is wrong").
    """
    from sim.experiments import file_kinds  # it reads this module's field names

    path = Path(path)
    own = read_yaml(path)
    file_kinds.expect(own, file_kinds.SWEEP, str(path))
    data = {**read_raw(path), **{key: value for key, value in changes.items() if value is not None}}
    # read_raw merges a parent's keys under `extends`; name and description belong to this file alone.
    data["name"] = own.get("name", path.stem)
    if "description" not in own:
        data.pop("description", None)
    return spec_from_dict(data, str(path), path.parent)


def failing_keys(err: ValidationError) -> set[str]:
    """The top-level keys of a file that a validation error is about (unknown keys among them)."""
    return {str(e["loc"][0]) for e in err.errors() if e["loc"]}


def without_failing_keys(model: type[SpecFile], data: dict, err: ValidationError, source: str, schema_command: str,
                         reads: set[str]) -> tuple[SpecFile | None, list[str]]:
    """The spec validated again without the keys that failed, so that its checks between fields (which pydantic
    skips once a field fails) report beside them: the spec (None if it still fails) and the problems of those
    checks. Nothing when the failing keys include one the checks read (`reads`): they would judge a default."""
    bad = failing_keys(err)
    if not bad or bad & reads or any(not e["loc"] for e in err.errors()):
        return None, []
    try:
        return model.model_validate({k: v for k, v in data.items() if k not in bad}), []
    except ValidationError as again:
        lines = format_errors(source, again, schema_command)
        return None, [line for line in lines if not any(line.startswith((f"{source}: {key}:", f"{source}: {key}."))
                                                        for key in bad)]


def joined(*groups: list[str]) -> list[str]:
    """Lines of problems found by several checks, each once, in order."""
    return list(dict.fromkeys(line for group in groups for line in group))


def base_problems(data: dict, source: str, folder: str | Path | None, name: str) -> list[str]:
    """The problems of a spec's `base:` when the spec as a whole does not validate, so that they are reported
    beside the spec's own (none when `base` is not even a path or a mapping: the spec's errors say so)."""
    base = data.get("base")
    if not isinstance(base, (str, dict)):
        return []
    own = data.get("name")
    name = own if isinstance(own, str) and re.fullmatch(NAME_PATTERN, own) else name
    try:
        scenario_from_base(base, Path(folder) if folder is not None else Path.cwd(), source, name)
    except ScenarioError as err:
        return err.problems
    return []


def check(spec: SweepSpec) -> None:
    """Apply every value the sweep uses, then the design points, to the base scenario; raise on any problem.

    The first pass names the parameter and value; the second catches combinations
    that break a cross-field rule (tranche_size above government_prisoners, say).
    """
    base = base_scenario(spec)
    problems = _value_problems(spec, base) or _point_problems(spec, base)
    if problems:
        raise ScenarioError(problems)


def _value_problems(spec: SweepSpec, base: Scenario) -> list[str]:
    problems: list[str] = []
    unknown = set()  # event paths the base scenario has no field for: their values cannot be tried
    for path in spec.parameters:
        if is_event_path(path):
            try:
                event_field(base, path)
            except ValueError as err:
                problems.append(f"{spec.source}: parameters.{path}: {err}")
                unknown.add(path)
    for path, value in spec.parameters.items():
        for v in [] if path in unknown else _used_values(path, value, base):
            for line in _override_problems(base, {path: v}):
                msg = f"{spec.source}: parameters.{path}: value {v!r} makes the base scenario invalid: {line}"
                if msg not in problems:
                    problems.append(msg)
    return problems


def _point_problems(spec: SweepSpec, base: Scenario, shown: int = 3) -> list[str]:
    problems, bad = [], 0
    for label, overrides in _points_to_check(spec):
        lines = _override_problems(base, overrides)
        if lines:
            bad += 1
            if bad <= shown:
                values = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
                problems.append(f"{spec.source}: parameters: {label} ({values}) makes the base scenario invalid: {lines[0]}")
    if bad > shown:
        problems.append(f"{spec.source}: parameters: {bad - shown} more points make the base scenario invalid")
    return problems


def _points_to_check(spec: SweepSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every design point of a modest design; for a large one, the corners of the parameter box.

    The scenario's cross-field rules compare two values (a <= b), so a combination
    breaks one only if some corner breaks it too.
    """
    if _size(spec) <= MAX_CHECKED_POINTS:
        design = expand(spec)
        for row in design.itertuples(index=False):
            point = dict(zip(design.columns, row))
            yield f"point {point['point']}", _overrides(point)
        return
    ends = []
    for path, value in spec.parameters.items():
        used = _used_values(path, value)
        ends.append([used[0]] if isinstance(used[0], str) else sorted({min(used), max(used)}))
    for corner in itertools.islice(itertools.product(*ends), MAX_CHECKED_POINTS):
        yield "corner", dict(zip(spec.parameters, corner))


def _size(spec: SweepSpec) -> int:
    """Number of design points."""
    if spec.sampler == "grid":
        return math.prod(len(_used_values(p, v)) for p, v in spec.parameters.items())
    return spec.samples * (len(spec.parameters) + 2) if spec.sampler == "sobol" else spec.samples


_PROBE = "\x00probe"


def _override_problems(base: Scenario, overrides: dict[str, Any]) -> list[str]:
    try:
        apply_overrides(base, overrides, _PROBE)
    except ScenarioError as err:
        return [line.removeprefix(f"{_PROBE}: ") for line in err.problems]
    return []


def inert_warnings(spec: SweepSpec) -> list[str]:
    """One line for each varied parameter that has no effect under the base scenario (a sweep of it would give
    the same runs at every point): `SPEC: parameters.PATH: has no effect unless ...`."""
    inert = inert_parameters(base_scenario(spec), spec.parameters)
    return [f"{spec.source}: parameters.{path}: {reason}" for path, reason in inert.items()]


def base_scenario(spec: SweepSpec) -> Scenario:
    """The resolved, validated base scenario: a file relative to the spec's folder, or the inline mapping."""
    return scenario_from_base(spec.base, spec.folder, spec.source, spec.name)


def scenario_from_base(base: str | dict, folder: Path, source: str, name: str) -> Scenario:
    """A spec's `base:` as a validated scenario: a file relative to the spec's folder, or an inline mapping
    (named after the spec unless it says otherwise); problems name the spec and `base`."""
    if isinstance(base, str):
        path = folder / base
        if not is_file(path):
            raise ScenarioError([f"{source}: base: no such scenario file {base!r} (looked for {path})"])
        return load(path)
    data = resolve_extends(base, folder, f"{source}: base")
    data.setdefault("metadata", {})
    if isinstance(data["metadata"], dict):
        data["metadata"].setdefault("name", name)
    try:
        return from_dict(data, _PROBE)
    except ScenarioError as err:
        raise ScenarioError([f"{source}: base.{line.removeprefix(f'{_PROBE}: ')}" for line in err.problems]) from None


# ---------------------------------------------------------------- design


def _design_rng(spec: SweepSpec) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_STREAM,)))


def expand(spec: SweepSpec) -> pd.DataFrame:
    """The design points, one row each: `point` (0..P-1), then one column per parameter in the spec's order."""
    names = list(spec.parameters)
    base = base_scenario(spec) if any(is_event_path(p) for p in names) else None
    if spec.sampler == "grid":
        columns = [_used_values(p, v, base) for p, v in spec.parameters.items()]
        rows = list(itertools.product(*columns))
        table = pd.DataFrame(rows, columns=names)
    else:
        table = _bounded_design(spec)
        for name in names:
            if isinstance(spec.parameters[name], Bounds) and _is_integer(name, base):
                table[name] = np.rint(table[name]).astype(np.int64)
    table.insert(0, "point", np.arange(len(table), dtype=np.int64))
    return table


def _bounded_design(spec: SweepSpec) -> pd.DataFrame:
    """Points for the random, lhs and sobol samplers, one row each: values within each parameter's bounds, or
    drawn from its list of values (random: each equally likely; lhs: the list's values in equal strata)."""
    names = list(spec.parameters)
    d, n = len(names), spec.samples
    if spec.sampler == "sobol":
        from SALib.sample import sobol

        seed = int(np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_STREAM,)).generate_state(1)[0])
        return pd.DataFrame(sobol.sample(problem(spec), n, calc_second_order=False, seed=seed), columns=names)
    rng = _design_rng(spec)
    if spec.sampler == "random":
        unit = rng.random((n, d))
    else:
        # Latin hypercube: one point in each stratum [i/n, (i+1)/n) of every dimension, strata paired at random.
        strata = np.column_stack([rng.permutation(n) for _ in range(d)])
        unit = (strata + rng.random((n, d))) / n
    columns = {}
    for j, (name, value) in enumerate(spec.parameters.items()):
        if isinstance(value, Bounds):
            columns[name] = float(value.low) + unit[:, j] * (float(value.high) - float(value.low))
        else:
            choices = [_as_field_type(name, v) for v in value.values()]
            index = np.minimum((unit[:, j] * len(choices)).astype(np.int64), len(choices) - 1)
            columns[name] = [choices[i] for i in index]
    return pd.DataFrame(columns)


def problem(spec: SweepSpec) -> dict:
    """The SALib problem (num_vars, names, bounds) of a bounded design, for Sobol analysis."""
    if spec.sampler == "grid":
        raise ValueError("a grid sweep has no SALib problem: its parameters are lists and ranges, not bounds")
    names = list(spec.parameters)
    return {
        "num_vars": len(names),
        "names": names,
        "bounds": [[float(spec.parameters[p].low), float(spec.parameters[p].high)] for p in names],
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _overrides(row: Mapping[str, Any]) -> dict[str, Any]:
    paths = parameter_fields()
    return {k: _plain(v) for k, v in row.items() if k in paths or is_event_path(k)}


def point_scenario(base: Scenario, row: Mapping[str, Any] | pd.Series) -> Scenario:
    """The base scenario with one design row's parameter values applied (columns that are not parameters are ignored)."""
    return apply_overrides(base, _overrides(row.to_dict() if isinstance(row, pd.Series) else row))


def replicate_seeds(spec: SweepSpec) -> np.ndarray:
    """Seed of each replicate, the same at every point (common random numbers: comparisons are paired)."""
    return seeds.replicate_seeds(spec.seed, spec.replications)


def spec_hash(spec: SweepSpec) -> str:
    """sha256 of the spec and its fully resolved base scenario: changes whenever the runs would change.

    Descriptions are left out (prose changes no run); parameters keep their order,
    which sets the design's order.
    """
    body = spec.model_dump(mode="json", exclude={"description"})
    body["parameters"] = [[path, value] for path, value in body["parameters"].items()]
    scenario = base_scenario(spec).model_dump(mode="json")
    scenario["metadata"].pop("description", None)
    body["base"] = scenario
    canonical = json.dumps({"swapsim_sweep": 1, **body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def json_schema() -> dict:
    """The JSON Schema of a sweep file."""
    schema = SweepSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "swapsim sweep"
    schema["properties"]["extends"] = {
        "type": "string",
        "description": (
            "Path of a sweep file this one starts from, relative to this file; its keys apply unless this file "
            "sets them (name and description excepted), and its base path is read relative to this file [path]"
        ),
    }
    return schema

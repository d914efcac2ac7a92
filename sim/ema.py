"""EMA Workbench interoperability: swapsim as an EMA model, and a finished sweep as EMA's results tarball.

    from ema_workbench import SequentialEvaluator, perform_experiments, load_results
    from sim import ema
    model = ema.ema_model("decree_2020", replications=20)       # DEFAULT_UNCERTAINTIES
    experiments, outcomes = perform_experiments(model, scenarios=200)
    outcomes["completed"]        # each experiment's completion rate over its 20 replications

    ema.export_sweep("results/commander_policy", "commander_policy.tar.gz")
    experiments, outcomes = load_results("commander_policy.tar.gz")   # one row per run

Names. EMA 3.0 wants parameter names that are Python identifiers (a dotted name only draws a
DeprecationWarning today), so the model's parameters are named by keyword (`government__initial_trust`,
`sim.model.scenario.keyword`) and carry the dotted path as their EMA `variable_name`: the experiments
table has keyword columns, the model function receives dotted paths. An exported sweep keeps its
runs table's column names, the dotted paths.

Outcomes. Both sides use the same names with the same meaning at different grains: in the model an
experiment is one parameter set run `replications` times, and `completed` is the share of its runs
that completed (a rate), `end_day` the mean over its runs; in an export each row is one run, and
`completed` is 0 or 1, `end_day` that run's value. The mean over a point's runs of an export is what
the model gives for that point with the same root seed.

Needs EMA Workbench (`pip install 'swapsim[discover]'`); only this module imports it.
"""

from __future__ import annotations

import math
import typing
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

try:
    with warnings.catch_warnings():  # EMA warns at import that an optional evaluator is missing: not our user's news
        warnings.filterwarnings("ignore", message="ipyparallel not installed")
        import ema_workbench
        from ema_workbench import (
            BooleanParameter,
            CategoricalParameter,
            IntegerParameter,
            Model,
            RealParameter,
            ScalarOutcome,
        )
        from ema_workbench.em_framework.parameters import Parameter
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("EMA Workbench interoperability needs EMA Workbench: pip install 'swapsim[discover]'") from err

from sim import DEFAULT_SEED
from sim.experiments import runs as runs_module
from sim.experiments import storage
from sim.experiments.sweeps import NotASweep, read_finished
from sim.model.outcomes import METRIC_NAMES, OUTCOMES
from sim.model.scenario import (Scenario, ScenarioError, closest, keyword, parameter_fields, path_of, resolve,
                                with_overrides)

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_UNCERTAINTIES",
    "NotASweep",
    "SwapsimFunction",
    "ema_model",
    "ema_parameters",
    "export_sweep",
    "summarize",
    "sweep_results",
]

# How a parameter may vary: (low, high) for a numeric range, a list of choices, or None for the field's whole
# domain (its bounds, its Literal choices, or False and True).
Spec = tuple[float, float] | Sequence[Any] | None

DEFAULT_UNCERTAINTIES: Mapping[str, Spec] = MappingProxyType({
    "government.initial_trust": (0.0, 1.0),
    "taliban.initial_trust": (0.0, 1.0),
    "government.memory": (0.9, 0.995),
    "taliban.memory": (0.9, 0.995),
    "protocol.conditions.max_attacks_per_day": (0.0, 20.0),
    "spoilers.attack_rate": (0.0, 3.0),
    "mediator.pressure_weight": (0.0, 2.0),
    "protocol.commander_policy": ["refuse", "first_batch", "verify_only", "after_fraction"],
})
"""What `ema_model` varies unless told otherwise: both sides' trust and memory, the ceasefire condition,
spoiler attacks, US pressure and the four commander policies."""

DEFAULT_METRICS: tuple[str, ...] = tuple(name for name in METRIC_NAMES if name != "outcome")
"""The numeric run metrics (`sim.model.outcomes.METRICS`), each an outcome of the model and of an export."""

MODEL_NAME = "swapsim"


# ---------------------------------------------------------------- swapsim as an EMA model


class SwapsimFunction:
    """The function an EMA `Model` calls: one parameter set (dotted paths) -> outcome rates and metric means.

    The set's `replications` runs are lanes of one model (`runs.run`, series=False), seeded with
    replicates 0 .. replications - 1 of `seed`: every experiment gets the same seeds (common random
    numbers), so experiments are paired comparisons and the same values give the same outcomes in
    any evaluator, process or order. A class, not a closure, so that process pools can pickle it.
    """

    def __init__(self, scenario: Scenario, replications: int, seed: int, metrics: Sequence[str] = DEFAULT_METRICS):
        self.scenario = scenario
        self.replications = int(replications)
        self.seed = int(seed)
        self.metrics = tuple(metrics)

    def __call__(self, **values: Any) -> dict[str, float]:
        overrides = {path_of(name): _plain(value) for name, value in values.items()}
        scenario = with_overrides(self.scenario, overrides, source="EMA experiment") if overrides else self.scenario
        table = runs_module.run(scenario, runs=self.replications, seed=self.seed, series=False).runs
        return summarize(table, self.metrics)


def summarize(table: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """One experiment's outcomes from its runs table: each outcome's rate, then each metric's mean (NaNs aside)."""
    outcome = table["outcome"].to_numpy()
    result = {name: float(np.mean(outcome == name)) for name in OUTCOMES}
    result.update({name: float(table[name].mean()) for name in metrics})
    return result


def ema_model(
    scenario: str | Path | Scenario = "decree_2020",
    uncertainties: Mapping[str, Spec] = DEFAULT_UNCERTAINTIES,
    replications: int = 20,
    seed: int = DEFAULT_SEED,
    name: str = MODEL_NAME,
    levers: Mapping[str, Spec] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> Model:
    """swapsim as an EMA Workbench `Model`: give it to `perform_experiments`, any evaluator, PRIM, optimize.

    `scenario`: the base (a bundled name, a file, a Scenario); `uncertainties` and `levers`: the
    parameters EMA samples, by dotted path (or keyword), each a (low, high) range, a list of choices
    or None for the field's whole domain (see `ema_parameters`). Outcomes, all ScalarOutcome: the
    rate of each outcome (`completed`, `collapsed`, `deadlocked`, `partial`) over the experiment's
    `replications` runs, then the mean of each of `metrics`. Runs use replicate seeds 0 .. n-1 of
    `seed` (see `SwapsimFunction`). Raises ScenarioError (one line per problem) for an unknown
    parameter or a value the scenario refuses, ValueError for a bad count, name or metric.
    """
    if not isinstance(replications, (int, np.integer)) or isinstance(replications, bool) or replications < 1:
        raise ValueError(f"replications must be a whole number of at least 1, got {replications!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number of at least 0, got {seed!r}")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (EMA Workbench 3 requires it), got {name!r}")
    unknown = [m for m in metrics if m not in DEFAULT_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {', '.join(map(repr, unknown))}; "
                         f"the metrics are {', '.join(DEFAULT_METRICS)}")
    base = resolve(scenario)
    model = Model(name, function=SwapsimFunction(base, int(replications), int(seed), metrics))
    model.uncertainties = ema_parameters(uncertainties, base, what="uncertainties")
    if levers:
        model.levers = ema_parameters(levers, base, what="levers")
        both = sorted(set(model.uncertainties.keys()) & set(model.levers.keys()))
        if both:
            raise ScenarioError([f"levers: {path_of(k)}: is also an uncertainty; give each parameter once"
                                 for k in both])
    model.outcomes = [ScalarOutcome(outcome) for outcome in (*OUTCOMES, *metrics)]
    return model


def ema_parameters(specs: Mapping[str, Spec], base: Scenario | None = None,
                   what: str = "uncertainties") -> list[Parameter]:
    """EMA parameters for scenario fields, each named by keyword with its dotted path as `variable_name`.

    The kind follows the field: a bool field gives a BooleanParameter (categories False, True); a
    Literal field or a list of choices, a CategoricalParameter; an int field with (low, high), an
    IntegerParameter; a float field, a RealParameter. On a numeric field a 2-tuple is a range and a
    list is choices; on any other field every sequence is choices. None takes the field's domain.
    Every end and choice is checked against `base` (default decree_2020): ScenarioError, one line each.
    """
    base = resolve(base)
    fields = parameter_fields()
    problems: list[str] = []
    out: list[Parameter] = []
    for key, spec in specs.items():
        path = key if key in fields else path_of(key) if path_of(key) in fields else None
        if path is None:
            problems.append(f"{what}: {key}: {_unknown(key, fields)}")
            continue
        try:
            parameter, values = _parameter(path, fields[path].annotation, fields[path].metadata, spec)
        except ValueError as err:
            problems.append(f"{what}: {path}: {err}")
            continue
        for value in values:
            try:
                with_overrides(base, {path: value}, source=what)
            except ScenarioError as err:
                problems += [line for line in err.problems if line not in problems]
        out.append(parameter)
    if problems:
        raise ScenarioError(problems)
    return out


def _parameter(path: str, annotation: Any, metadata: Sequence[Any], spec: Spec) -> tuple[Parameter, list[Any]]:
    """The EMA parameter for one field and spec, and the values to check against the scenario."""
    name = keyword(path)
    if annotation is bool:
        choices = [False, True] if spec is None else _choices(spec)
        if sorted(set(choices)) != [False, True] or any(not isinstance(c, (bool, np.bool_)) for c in choices):
            raise ValueError(f"a yes/no parameter varies over False and True, got {spec!r}")
        return BooleanParameter(name, variable_name=path), [False, True]
    literal = typing.get_origin(annotation) is typing.Literal
    numeric = annotation in (int, float)
    if spec is None:
        if literal:
            spec = list(typing.get_args(annotation))
        elif numeric:
            low, high = _bounds(metadata)
            if low is None or high is None:
                raise ValueError("the field has no lower and upper bound; give (low, high)")
            spec = (low, high)
        else:
            raise ValueError("give a list of choices")
    if numeric and isinstance(spec, tuple):
        if len(spec) != 2 or not all(_is_number(v) for v in spec):
            raise ValueError(f"a range is (low, high), two numbers; got {spec!r} (a list gives choices)")
        low, high = spec
        if not low < high:
            raise ValueError(f"a range needs low < high, got ({low!r}, {high!r})")
        if annotation is int:
            if not (float(low).is_integer() and float(high).is_integer()):
                raise ValueError(f"a whole-number parameter needs whole-number ends, got ({low!r}, {high!r})")
            low, high = int(low), int(high)
            return IntegerParameter(name, low, high, variable_name=path), [low, high]
        low, high = float(low), float(high)
        return RealParameter(name, low, high, variable_name=path), [low, high]
    choices = _choices(spec)
    if len(set(map(repr, choices))) != len(choices):
        raise ValueError(f"choices repeat a value: {spec!r}")
    if len(choices) < 2:
        raise ValueError(f"give at least two choices (a single value belongs in the scenario), got {spec!r}")
    if annotation is float:
        choices = [float(c) if _is_number(c) else c for c in choices]
    return CategoricalParameter(name, choices, variable_name=path), choices


def _choices(spec: Any) -> list[Any]:
    if isinstance(spec, np.ndarray):
        spec = spec.tolist()
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise ValueError(f"expected (low, high), a list of choices or None, got {spec!r}")
    return [_plain(v) for v in spec]


def _bounds(metadata: Sequence[Any]) -> tuple[float | None, float | None]:
    limits = {type(m).__name__: getattr(m, type(m).__name__.lower(), None) for m in metadata}
    return limits.get("Ge"), limits.get("Le")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (EMA samples np.float64 and np.int64; the scenario wants int, float)."""
    return value.item() if isinstance(value, np.generic) else value


def _unknown(key: str, fields: Mapping[str, Any]) -> str:
    near = closest(path_of(key), fields)
    return "no such scenario parameter" + (f"; did you mean {near!r}?" if near else
                                           " (`swapsim schema --markdown` lists every one)")


# ---------------------------------------------------------------- a finished sweep as EMA's results


def sweep_results(sweep_dir: str | Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A finished sweep as EMA's `(experiments, outcomes)`, one row per run in runs.parquet's order.

    experiments: one column per swept parameter (named by dotted path; text choices as category
    dtype, as EMA's own CategoricalParameter columns), then `scenario` (the run's point), `policy`
    ("None", as EMA writes when there are no levers) and `model` ("swapsim"), those three as
    category dtype like EMA's. Run i is replicate i % R of point i // R (R: the sweep's
    replications), every point with the same seeds. outcomes: `completed`, `collapsed`,
    `deadlocked`, `partial` as 0/1 and each numeric metric; a failed run (outcome "error") has NaN
    in every outcome, as EMA leaves a failed experiment. A sweep with `--posterior` also drew unswept
    parameters per run; only the swept ones are columns. Raises NotASweep (one line naming the folder).
    """
    finished = read_finished(sweep_dir)
    table, params = finished.runs, finished.parameters
    experiments = pd.DataFrame({p: _experiment_column(table[p]) for p in params})
    experiments["scenario"] = table["point"].astype("category")
    experiments["policy"] = pd.Categorical(["None"] * len(table))  # EMA's name for "no levers" (reads back as NaN)
    experiments["model"] = pd.Categorical([MODEL_NAME] * len(table))
    failed = (table["outcome"] == "error").to_numpy()
    outcomes: dict[str, np.ndarray] = {}
    for name in OUTCOMES:
        hit = (table["outcome"] == name).to_numpy()
        outcomes[name] = np.where(failed, np.nan, hit) if failed.any() else hit.astype(np.int64)
    for name in (m for m in DEFAULT_METRICS if m in table):  # a sweep made before a metric existed lacks it
        values = table[name].to_numpy()
        outcomes[name] = np.where(failed, np.nan, values) if failed.any() else values
    return experiments, outcomes


def export_sweep(sweep_dir: str | Path, path: str | Path) -> Path:
    """Write a finished sweep (`swapsim sweep ... --out DIR`) as EMA's results tarball; returns `path`.

    The file is what `ema_workbench.save_results((experiments, outcomes), path)` writes (see
    `sweep_results` for the columns and outcomes), read back with `ema_workbench.load_results`, for
    PRIM, CART, feature scoring and EMA's plots. Written atomically: `path` is complete or untouched.
    Raises NotASweep (a ValueError; one line naming the folder) for a folder that is not a
    finished sweep, before anything is written.
    """
    experiments, outcomes = sweep_results(sweep_dir)
    for name in outcomes:  # save_results looks each outcome's kind up in EMA's registry of outcome names
        ScalarOutcome(name)
    return storage.atomic_write(path, lambda tmp: ema_workbench.save_results((experiments, outcomes), str(tmp)))


def _experiment_column(column: pd.Series) -> pd.Series:
    """A swept parameter's column as EMA types it: numbers and yes/no as they are, text choices as category."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.reset_index(drop=True)
    return column.astype("category").reset_index(drop=True)

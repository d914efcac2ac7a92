"""Scenario files: pydantic models, YAML loading with `extends`, JSON Schema.

Every field carries a unit, bounds, a default and a description; the JSON Schema
that `swapsim schema` prints is generated from these models. Unknown keys are
errors, and every error names the file and the dotted field path.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, Tag, TypeAdapter, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core.core_schema import ErrorType

from sim.model.errors import ScenarioError, closest, did_you_mean
from sim.model.events import EVENT_TAGS, BaseEvent, Event
from sim.model.schema import NAME_PATTERN, F, Section, WrongKind, above, needs_of, one_of, yaml_word
from sim.model.yaml_files import NoSuchDate, is_file, read_yaml



class Metadata(Section):
    name: str = Field(
        "scenario",
        pattern=NAME_PATTERN,
        max_length=80,
        description="Short name; the default output folder is results/<name>/ [text]",
    )
    description: str = Field("", max_length=4000, description="What question the scenario asks [text]")


class Calendar(Section):
    start_date: dt.date = Field(
        dt.date(2020, 3, 1), description="Calendar date of day 0 [date, YYYY-MM-DD]"
    )
    horizon_days: int = F(425, "days", "Days simulated; 425 is the 14-month withdrawal window", 1, 3650)


CONDITIONS_ON = one_of("protocol.conditions.enabled", True)
AFTER_FRACTION = one_of("protocol.commander_policy", "after_fraction")
VERIFY_ONLY = one_of("protocol.commander_policy", "verify_only")
HAS_COMMANDERS = above("protocol.commanders", 0)
HAS_DEMAND = above("taliban.commander_demand", 0)
SPOILERS_ACT = above("spoilers.attack_rate", 0)
VERIFICATION_ON = one_of("verification.enabled", True)


class Conditions(Section):
    """The decree's conditions on tranches after the up-front batch."""

    enabled: bool = Field(True, description="Whether tranches wait for the conditions below [yes/no]")
    window_days: int = F(14, "days", "Window over which attributed Taliban attacks are averaged", 1, 365,
                         needs=[CONDITIONS_ON])
    max_attacks_per_day: float = F(
        7.0, "attacks per day", "Highest mean of attacks attributed to the Taliban over the window that still allows a tranche", 0, 1000,
        needs=[CONDITIONS_ON]
    )
    require_engagement: bool = F(
        True, "yes/no", "Whether tranches also need the Taliban technical team engaged", needs=[CONDITIONS_ON]
    )
    apply_to_upfront: bool = F(
        False, "yes/no", "Whether the up-front batch is also conditional (the decree asked only written pledges)",
        needs=[CONDITIONS_ON]
    )


class Protocol(Section):
    government_prisoners: int = F(5000, "prisoners", "Taliban prisoners held by the government, commanders included", 1, 100000)
    taliban_prisoners: int = F(1000, "prisoners", "Government personnel held by the Taliban", 1, 100000)
    commanders: int = F(15, "prisoners", "Senior commanders among the government's prisoners whom the Taliban demand first", 0, 1000)
    upfront_batch: int = F(1500, "prisoners", "Released up front on written assurances", 0, 100000)
    upfront_start_day: int = F(13, "day", "Day the up-front releases may begin (14 March 2020 = day 13)", 0, 3650)
    daily_capacity: int = F(100, "prisoners per day", "Most the government can process and release in one day", 1, 100000)
    tranche_size: int = F(500, "prisoners", "Size of each conditional tranche after the up-front batch", 1, 100000)
    tranche_interval_days: int = F(14, "days", "Days between scheduled tranches", 1, 365)
    conditions: Conditions = Field(default_factory=Conditions, description="Conditions on tranches")
    reciprocity_ratio: float = F(
        0.2, "Taliban releases per government release", "Agreed ratio of releases (1,000 / 5,000 = 1:5)", 0, 10
    )
    taliban_daily_capacity: int = F(40, "prisoners per day", "Most the Taliban hand over in one day", 1, 100000)
    commander_policy: Literal["refuse", "first_batch", "verify_only", "after_fraction"] = Field(
        "refuse",
        description=(
            "How the government treats the demanded commanders: refuse (released only once everyone else is out), "
            "first_batch (conceded in the first release), verify_only (they join verification, unreleased), "
            "after_fraction (released once commander_release_fraction of the rest is out) [choice]"
        ),
    )
    commander_release_fraction: float = F(
        0.6, "share", "Share of the other prisoners out before the commanders go", 0, 1,
        needs=[AFTER_FRACTION, HAS_COMMANDERS]
    )
    completion_tolerance: float = F(
        0.0, "share", "Share of each side's prisoners that may still be held when the exchange counts as completed", 0, 0.2
    )
    contested: int = F(
        0, "prisoners", "Prisoners of the government's total that it refuses to list until political cover comes "
        "(0: none)", 0, 100000)
    cover_rate: float = F(
        0.05, "chance per day", "Once every other prisoner is listed, the daily chance that political cover frees a "
        "stage of the contested prisoners", 0, 1, needs=[above("protocol.contested", 0)])
    cover_share: float = F(
        0.25, "share", "Share of the still-contested prisoners that one stage of political cover frees", 0, 1,
        needs=[above("protocol.contested", 0)])


class Government(Section):
    initial_trust: float = F(0.40, "probability", "Government's initial trust that the Taliban reciprocate", 0, 1)
    prior_weight_days: float = F(40.0, "days of evidence", "Weight of the initial trust: how slowly trust moves", 0, 1000)
    memory: float = F(0.98, "per day", "Share of yesterday's evidence kept each day (lambda)", 0, 1)
    exploitation_loss: float = F(
        1.0, "utility per daily batch", "Loss if a full day's batch (daily_capacity fighters) returns to battle", 0, 100
    )
    commander_weight: float = F(6.0, "fighters per commander", "Military value of one commander in fighters", 1, 1000,
                                needs=[HAS_COMMANDERS])
    cooperation_gain: float = F(2.0, "utility", "Gain from cooperating rather than withholding (b - e)", 0.01, 100)
    temperature: float = F(0.08, "trust units", "Decision temperature of the logistic choice (tau)", 0.001, 10)
    reciprocity_credit: float = F(1.0, "evidence per day", "Cooperation credited on a day the Taliban release", 0, 100)
    calm_credit: float = F(0.3, "evidence per day", "Cooperation credited on a day with few attributed attacks", 0, 100)
    calm_attacks: float = F(4.0, "attacks per day", "Most attributed attacks on a day that still counts as calm", 0, 1000)
    attack_debit: float = F(0.05, "evidence per attack", "Defection booked per attack attributed to the Taliban", 0, 100)
    owed_debit: float = F(0.3, "evidence per day", "Defection booked on a day the Taliban owe releases they do not make", 0, 100)
    owed_grace: int = F(50, "prisoners", "Reciprocal releases the Taliban may owe before it counts as defection", 0, 100000)
    offensive_trigger: int = F(25, "attacks per day", "Attributed attacks in one day that start offensive mode", 1, 100000)
    offensive_days: int = F(14, "days", "Days of offensive mode (no releases) once triggered", 0, 365)
    reciprocity_gate: float = F(
        0.0, "share of the agreed ratio",
        "Suspend releases while the Taliban's credited releases are below this share of the agreed ratio of the "
        "government's (0: never)", 0, 2)
    gate_after: int = F(1000, "prisoners", "Government releases before the reciprocity gate applies", 0, 100000,
                        needs=[above("government.reciprocity_gate", 0)])
    willing_trust: float = F(
        1.0, "trust units",
        "Willingness (trust, less the day's political split, plus a ceasefire's boost) at which the government, a "
        "tranche or more behind, pledges what is overdue: bound until it is out, it drops the reciprocity gate and "
        "releases in bulk (catch_up) (1: never)", 0, 1)
    credited_share: float = F(
        1.0, "share", "Share of the Taliban's releases the government counts as its personnel (the rest civilians)",
        0, 1)
    commitment: float = F(
        0.0, "probability", "Least daily chance of releasing while bound by a commitment (a pledge, a broken stall, "
        "political cover), whatever the government's trust, the decree's conditions and offensive mode (0: they "
        "decide as on any day)", 0, 1)
    catch_up: float = F(
        1.0, "multiplier",
        "Daily capacity multiplied by this while the government is bound by a pledge and a tranche or more behind",
        1, 50)


class Taliban(Section):
    initial_trust: float = F(0.35, "probability", "Taliban's initial trust that the government releases", 0, 1)
    prior_weight_days: float = F(40.0, "days of evidence", "Weight of the initial trust: how slowly trust moves", 0, 1000)
    memory: float = F(0.98, "per day", "Share of yesterday's evidence kept each day (lambda)", 0, 1)
    exploitation_loss: float = F(0.5, "utility", "Loss if they release and the government does not follow", 0, 100)
    cooperation_gain: float = F(2.0, "utility", "Gain from reciprocating rather than withholding (b - e)", 0.01, 100)
    temperature: float = F(0.08, "trust units", "Decision temperature of the logistic choice (tau)", 0.001, 10)
    commander_demand: float = F(
        1.5, "utility", "Extra loss felt in reciprocating while the commanders are still held", 0, 100,
        needs=[HAS_COMMANDERS]
    )
    demand_half_life_days: float = F(60.0, "days", "Days for the commander demand's insistence to halve", 1, 10000,
                                     needs=[HAS_COMMANDERS, HAS_DEMAND])
    verification_softening: float = F(
        0.5, "share", "Share of the demand dropped because commanders join verification", 0, 1,
        needs=[VERIFY_ONLY, HAS_COMMANDERS, HAS_DEMAND]
    )
    release_credit: float = F(1.0, "evidence per day", "Cooperation credited on a day the government releases", 0, 100)
    commander_credit: float = F(
        0.5, "evidence per commander", "Extra cooperation credited for each demanded commander freed", 0, 100,
        needs=[HAS_COMMANDERS]
    )
    unverified_credit: float = F(0.4, "share", "Share of release_credit given when the technical team is not there", 0, 1,
                                 needs=[one_of("protocol.commander_policy", "refuse", "first_batch", "after_fraction")])
    verify_only_credit: float = F(0.8, "share", "Share of credit given without the team, in place of unverified_credit", 0, 1,
                                  needs=[VERIFY_ONLY])
    behind_debit: float = F(0.5, "evidence per day", "Defection booked on a day the government is a tranche or more behind", 0, 100)
    offensive_debit: float = F(1.0, "evidence per day", "Defection booked on a day of government offensive mode", 0, 100)
    base_attacks: float = F(10.0, "attacks per day", "Taliban attacks per day with no restraint", 0, 200)
    restraint: float = F(0.9, "share", "Share of attacks held back while engaged in the process", 0, 1)
    cohesion: float = F(0.7, "share", "Share of fighters who obey the leadership's restraint", 0, 1)
    retaliation: float = F(0.8, "share", "Rise in attacks during government offensive mode", 0, 3)
    walkout_trust: float = F(0.2, "probability", "Trust below which the technical team walks out", 0, 1)
    patience_days: int = F(30, "days", "Days without a release by either side before the team walks out", 1, 3650)
    settled_patience_days: int = F(
        0, "days", "Days without a release by either side before a team whose stay has seen the government release "
        "walks out (0: patience_days)", 0, 3650)
    return_rate: float = F(0.02, "probability per day", "Chance of coming back on a day with no release", 0, 1)
    return_on_release: float = F(0.3, "probability", "Chance of coming back on a day the government releases", 0, 1)
    ratio_share: float = F(1.0, "share", "Share of the agreed ratio the Taliban aim to release", 0, 1)
    finish_after: float = F(
        1.0, "share", "Share of the government's total released after which the Taliban free everyone they hold "
        "(1: only once the government has freed all)", 0, 1)


class Spoilers(Section):
    attack_rate: float = F(1.0, "attacks per day", "ISKP attacks per day before the exchange progresses", 0, 100)
    progress_timing: float = F(1.5, "share", "Rise in ISKP attacks as the exchange nears completion (at 100% progress)",
                               0, 5, needs=[SPOILERS_ACT])
    misattribution: float = F(0.4, "probability", "Chance the government books an ISKP attack against the Taliban", 0, 1,
                              needs=[SPOILERS_ACT])


class Mediator(Section):
    guarantee: float = F(0.1, "share", "Third-party guarantee: share of the loss if exploited that it covers (g)", 0, 1)
    pressure_weight: float = F(0.8, "utility per unit pressure", "Cost of refusing under full US pressure (pi)", 0, 100)
    initial_pressure: float = F(0.3, "pressure, 0 to 1", "US pressure on day 0", 0, 1)
    pressure_growth: float = F(0.01, "pressure per day", "Rise in pressure on each day the schedule slips", 0, 1)
    pressure_decay: float = F(0.05, "share per day", "Share of pressure that fades on a day with a release", 0, 1)
    presses_taliban: bool = Field(True, description="Whether US pressure also lowers the Taliban's threshold [yes/no]")
    stall_break_rate: float = F(
        0.0, "chance per day at full pressure", "Daily chance, times US pressure, that the mediator makes the "
        "government release past a closed reciprocity gate (its next list, bound as by a pledge); the pressure is "
        "spent (0: never)", 0, 1, needs=[above("government.reciprocity_gate", 0)])
    stall_break_after_days: int = F(
        0, "days", "Days a closed reciprocity gate must have held the government's releases back before the "
        "mediator can break the stall", 0, 3650, needs=[above("mediator.stall_break_rate", 0)])


class Verification(Section):
    """Lists and verification: a prisoner can be released only once on a list and verified."""

    enabled: bool = Field(
        False, description="Whether releases wait for lists and verification (off: every prisoner cleared at once) [yes/no]")
    start_day: int = F(27, "day", "Day the first list is exchanged and the Taliban technical team arrives", 0, 3650,
                       needs=[VERIFICATION_ON])
    rate_with_team: float = F(100.0, "prisoners per day", "Prisoners verified per day while the team is engaged", 0,
                              100000, needs=[VERIFICATION_ON])
    rate_without_team: float = F(
        25.0, "prisoners per day", "Prisoners verified per day while the team is away (the government alone)", 0, 100000,
        needs=[VERIFICATION_ON])
    list_size: int = F(1500, "prisoners", "Prisoners on each list", 1, 100000, needs=[VERIFICATION_ON])
    next_list_size: int = F(0, "prisoners", "Prisoners on each list after the first (0: list_size)", 0, 100000,
                            needs=[VERIFICATION_ON])
    list_gap_days: int = F(14, "days", "Days to prepare the next list once every prisoner on a list is out", 0, 3650,
                           needs=[VERIFICATION_ON])
    arrears_share: float = F(
        0.0, "share", "A pledge (government.willing_trust) lists this share of the releases the schedule says are "
        "overdue", 0, 1, needs=[VERIFICATION_ON])


class Outcomes(Section):
    deadlock_window_days: int = F(60, "days", "At the horizon: no release on either side for this long is a deadlock", 1, 3650)
    collapse_trust: float = F(0.1, "probability", "Trust floor below which both sides count as broken", 0, 1)
    collapse_window_days: int = F(60, "days", "Days the Taliban stay out with both trusts below the floor before collapse", 1, 3650)


class Scenario(Section):
    """A full scenario: what the exchange looks like and how the two sides behave."""

    metadata: Metadata = Field(default_factory=Metadata, description="Name and question")
    calendar: Calendar = Field(default_factory=Calendar, description="Start date and horizon")
    protocol: Protocol = Field(default_factory=Protocol, description="The release schedule and its conditions")
    government: Government = Field(default_factory=Government, description="The Afghan government's trust and choices")
    taliban: Taliban = Field(default_factory=Taliban, description="The Taliban's trust, reciprocity and violence")
    spoilers: Spoilers = Field(default_factory=Spoilers, description="ISKP spoiler attacks")
    mediator: Mediator = Field(default_factory=Mediator, description="US pressure and third-party guarantee")
    verification: Verification = Field(default_factory=Verification, description="Lists and their verification")
    outcomes: Outcomes = Field(default_factory=Outcomes, description="How a run's outcome is judged")
    events: list[Event] = Field(default_factory=list, description="Dated events, applied in order of day")

    @model_validator(mode="after")
    def _consistent(self):
        problems = cross_field_problems(self.protocol, self.calendar, self.events)
        if problems:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in problems))
        return self

    def event_days(self) -> list[tuple[int, Any]]:
        """Events with their resolved day, in order of day (stable for equal days)."""
        start = self.calendar.start_date
        return sorted(((ev.resolve_day(start), ev) for ev in self.events), key=lambda t: t[0])


def cross_field_problems(protocol: Protocol | None, calendar: Calendar | None, events: list | None,
                         broken: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Checks between fields, as (path, message). A check whose section is missing (None), or that reads a field
    named in `broken` (`protocol.tranche_size`: a value that failed its own check), is skipped; so is an event
    given as None."""

    def readable(*paths: str) -> bool:
        return not broken.intersection(paths)

    problems = []
    if protocol is not None:
        for name in ("commanders", "upfront_batch", "tranche_size"):
            if readable(f"protocol.{name}", "protocol.government_prisoners") \
                    and getattr(protocol, name) > protocol.government_prisoners:
                problems.append((f"protocol.{name}", "is more than protocol.government_prisoners"))
    if protocol is not None and calendar is not None \
            and readable("protocol.upfront_start_day", "calendar.horizon_days") \
            and protocol.upfront_start_day >= calendar.horizon_days:
        problems.append(("protocol.upfront_start_day", "is not before calendar.horizon_days"))
    if events is not None:
        seen: dict[str, int] = {}
        for i, ev in enumerate(events):
            if ev is not None and ev.id is not None and seen.setdefault(ev.id, i) != i:
                problems.append((f"events.{i}.id", f"'{ev.id}' is also the id of events.{seen[ev.id]} (ids must be unique)"))
    if calendar is not None and events is not None and readable("calendar.start_date", "calendar.horizon_days"):
        for i, ev in enumerate(events):
            day = None if ev is None else ev.resolve_day(calendar.start_date)
            if day is not None and not 0 <= day < calendar.horizon_days:
                problems.append((f"events.{i}", f"falls on day {day}, outside the horizon 0..{calendar.horizon_days - 1}"))
    return problems


def _sections_that_validate(data: dict) -> tuple[Protocol | None, Calendar | None, list | None, frozenset[str]]:
    """The protocol, calendar and events of a file that fails, as far as they are valid, so that the checks
    between fields run beside the other problems: a section with its failing fields at their defaults (and
    those fields named, as `protocol.tranche_size`, for the checks to skip them), each event that is valid (an
    event that is not only with its id, day and date, when those are), and None for what cannot be read."""
    broken: set[str] = set()

    def section(model: type[BaseModel], key: str):
        value = data.get(key)
        part, bad = _valid_part(model, {} if value is None else value)
        broken.update(f"{key}.{name}" for name in bad)
        return part

    items = data.get("events")
    events = [_valid_event(item) for item in items] if isinstance(items, list) else None if items else []
    return section(Protocol, "protocol"), section(Calendar, "calendar"), events, frozenset(broken)


def _valid_part(model: type[BaseModel], value: Any) -> tuple[BaseModel | None, set[str]]:
    """`value` validated as `model` with the keys that fail left out, and those keys; None if even so it fails."""
    if not isinstance(value, dict):
        return None, set()
    try:
        return model.model_validate(value), set()
    except ValidationError as err:
        bad = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    try:
        return model.model_validate({k: v for k, v in value.items() if k not in bad}), bad
    except (ValidationError, TypeError):
        return None, bad


def _valid_event(item: Any) -> Any:
    """An event of a file, validated; or, when it fails (an unknown type, say), its id, day and date alone, when
    those are valid; else None."""
    try:
        return TypeAdapter(Event).validate_python(item)
    except ValidationError:
        pass
    if not isinstance(item, dict):
        return None
    try:
        return BaseEvent.model_validate({k: v for k, v in item.items() if k in ("id", "day", "date")})
    except ValidationError:
        return None


def json_schema() -> dict:
    """The JSON Schema of a scenario file."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "swapsim scenario"
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "Path of a scenario file this one starts from, relative to this file [path]",
    }
    return schema


@functools.cache
def parameter_fields() -> dict[str, FieldInfo]:
    """Every scenario parameter by dotted path (events aside), with its pydantic field."""
    out: dict[str, FieldInfo] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
            elif name != "events":
                out[f"{prefix}{name}"] = field

    walk(Scenario, "")
    return out


# --------------------------------------------------------------------------------------
# Parameters as Python keywords, and the bundled scenarios by name (for Mesa's tools:
# `ExchangeModel(scenario="decree_2020", government__initial_trust=0.3)`, `mesa.batch_run`, SolaraViz).

KEYWORD_SEPARATOR = "__"  # a field's own name may hold single underscores, never two


def keyword(path: str) -> str:
    """A parameter's keyword name: its dotted path with `__` for each dot (`government__initial_trust`)."""
    return path.replace(".", KEYWORD_SEPARATOR)


def path_of(keyword: str) -> str:
    """The dotted path a keyword name stands for (`government__initial_trust` -> `government.initial_trust`)."""
    return keyword.replace(KEYWORD_SEPARATOR, ".")


def overrides_from_keywords(kwargs: Mapping[str, Any], source: str = "ExchangeModel") -> dict[str, Any]:
    """Keyword parameters as dotted-path overrides (for `with_overrides`), in the order given.

    Raises ScenarioError with one line per keyword that names no parameter, with the one
    it most likely meant.
    """
    known = {keyword(path): path for path in parameter_fields()}
    problems = [f"{source}: {kw}: unknown parameter; {_keyword_hint(kw, known)}" for kw in kwargs if kw not in known]
    if problems:
        raise ScenarioError(problems)
    return {known[kw]: value for kw, value in kwargs.items()}


def _keyword_hint(kw: str, known: Mapping[str, str]) -> str:
    """What an unknown keyword most likely meant, in words: the keyword of a dotted path given as is, the
    keywords whose last part it is (`initial_trust`), or the closest spelling."""
    if kw in known.values():
        return f"did you mean {keyword(kw)!r}? (a keyword has `__` for each dot of the path)"
    near = [k for k, path in known.items() if path.rsplit(".", 1)[-1] == kw] or \
        ([near] if (near := closest(kw, known)) else [])
    if not near:
        return "check the spelling (`swapsim schema --markdown` lists every keyword)"
    return f"did you mean {' or '.join(map(repr, near))}? (`swapsim schema --markdown` lists every keyword)"


BUNDLED = Path(__file__).resolve().parents[2] / "scenarios"  # the scenario files shipped with swapsim


def bundled_names() -> list[str]:
    """The names of the bundled scenarios (their file names without `.yaml`), sorted."""
    return sorted(path.stem for path in BUNDLED.glob("*.yaml"))


def resolve(scenario: str | Path | Scenario | None) -> Scenario:
    """A scenario from what names it: a Scenario as is; None, the bundled decree_2020; a bundled scenario's
    name (`"high_trust"`: no suffix, no folder); else a scenario file's path, loaded with `load`.

    Raises ScenarioError (one line per problem, naming the file and the field).
    """
    if isinstance(scenario, Scenario):
        return scenario
    if scenario is None:
        return load(BUNDLED / "decree_2020.yaml")
    if not isinstance(scenario, (str, Path)):
        raise ScenarioError([f"{scenario!r}: expected a Scenario, a bundled scenario's name or a scenario file's "
                             f"path, got {type(scenario).__name__}"])
    text = str(scenario)
    is_name = isinstance(scenario, str) and "/" not in text and "\\" not in text and not Path(text).suffix
    if is_name and (BUNDLED / f"{text}.yaml").is_file():
        return load(BUNDLED / f"{text}.yaml")
    if is_name and not Path(text).is_file():
        raise ScenarioError([f"{text}: no such scenario: not a file, nor one of the bundled "
                             f"{', '.join(bundled_names())}"])
    return load(scenario)


REFERENCE_HEAD = """# Scenario parameters

Generated by `swapsim schema --markdown` (this file is exactly its output; a test checks it). Why each
default has its value: [ODD.md](ODD.md#parameters-and-defaults).

Every parameter is named by its dotted path (`government.initial_trust`): in a scenario file it is
nested under its section; a sweep (`parameters:`) names it by the path. Within one
model, every parameter is an array over the lanes (runs) it holds, so each lane may have its own value:
`ExchangeModel(scenario, seeds, overrides={"government.initial_trust": [0.3, 0.5, ...]})`. Random numbers
are not parameters: each run's seed and one stream per mechanism derived from it (ODD section 4,
Stochasticity) decide them.

As a Python keyword, a parameter is named by its path with `__` for each dot (column "keyword"), so that
the model can be built from keywords alone, as Mesa's tools (`mesa.batch_run`, SolaraViz's
`model_params`) build it: `ExchangeModel(scenario="decree_2020", seed=7, government__initial_trust=0.3)`.
`scenario` is a bundled scenario's name (the files in `scenarios/`: decree_2020, high_trust, ...), a
scenario file's path or a `Scenario`; the keywords replace its values and are checked as a file's are. A
grid of runs: `mesa.batch_run(ExchangeModel, parameters={"scenario": "decree_2020",
"government__initial_trust": [0.2, 0.6]}, rng=[1, 2, 3], max_steps=10_000, data_collection_period=-1)`
gives one row per run, its `Step` the days simulated (its `end_day` + 1), its columns the keywords and the
daily series' last values.

"""


def value_at(scenario: Scenario, path: str) -> Any:
    """A scenario's value of the parameter at a dotted path."""
    node: Any = scenario
    for part in path.split("."):
        node = getattr(node, part)
    return node


def reference_markdown() -> str:
    """docs/parameters.md: every scenario parameter as a Markdown table (path, keyword, unit, default, range,
    meaning), then every event field."""
    rows = ["| parameter | keyword | unit | default | range | meaning |", "|---|---|---|---|---|---|"]
    for path, field in parameter_fields().items():
        ann = field.annotation
        meaning, _, unit = (field.description or "").rpartition(" [")
        bounds = {type(m).__name__: getattr(m, type(m).__name__.lower(), None) for m in field.metadata}
        lo, hi = bounds.get("Ge"), bounds.get("Le")
        span = f"{lo} to {hi}" if lo is not None and hi is not None else ""
        if getattr(ann, "__origin__", None) is Literal:
            span = ", ".join(ann.__args__)
        default = field.get_default(call_default_factory=True)
        rows.append(f"| `{path}` | `{keyword(path)}` | {unit.rstrip(']')} | {default} | {span} | {meaning} |")
    events = ["", "Events (`events:` list; each has `type` and `day` or `date`):", ""]
    events += ["| event type | field | unit | default | meaning |", "|---|---|---|---|---|"]
    for tag, cls in EVENT_TAGS.items():
        for name, field in cls.model_fields.items():
            if name in ("type", "day", "date"):
                continue
            meaning, _, unit = (field.description or "").rpartition(" [")
            events.append(f"| `{tag}` | `{name}` | {unit.rstrip(']')} | {field.default} | {meaning} |")
    return REFERENCE_HEAD + "\n".join(rows + events) + "\n"


def format_errors(source: str, err: ValidationError, schema_command: str = "swapsim schema",
                  model: type[BaseModel] | None = None) -> list[str]:
    """One line per problem of a pydantic error: `SOURCE: dotted.path: message`, in words a user can act on.

    Serves scenario files and sweep and calibration specs alike: the tags pydantic puts
    inside tagged unions are dropped from paths, errors that carry several problems (a
    `problems` list in their context) give a line each, and a check between fields
    reports its own paths. `model`, the model validated (by default the Section subclass
    the error is titled after), tells which keys are valid where: an unknown key gets a
    "did you mean" and a dotted key is shown nested.
    """
    model = model or _model_named(err.title)
    lines = []
    for e in _merged_branches(err.errors()):
        loc = [str(part) for j, part in enumerate(e["loc"]) if not (j == 2 and str(part) in UNION_TAGS)]
        path = ".".join(loc)
        ctx = e.get("ctx") or {}
        if "problems" in ctx:
            lines += [f"{source}: {'.'.join(p for p in (path, sub) if p) or '(top level)'}: {text}"
                      for sub, text in ctx["problems"]]
        elif e["type"] == "value_error" and not loc:  # checks between fields carry their own paths
            lines += [f"{source}: {part}" for part in e["msg"].removeprefix("Value error, ").split("; ")]
        else:
            lines.append(f"{source}: {path or '(top level)'}: {_message(e, schema_command, model)}")
    return [_LONG_QUOTE.sub(lambda m: f"{m[1]}{m[2]}…{m[1]}", line) for line in lines]


def _message(e: dict, schema_command: str, model: type[BaseModel] | None) -> str:
    """What is wrong, for one pydantic error, in words naming what is allowed, with the value given where it
    helps: never pydantic's own wording ("Input should be ...")."""
    kind, ctx, given = e["type"], e.get("ctx") or {}, e.get("input")
    if isinstance(given, WrongKind):
        return given.message
    if kind == "extra_forbidden":
        return _unknown_key(e["loc"], given, schema_command, model)
    if kind.startswith("date_"):
        why = f": malformed YAML date, {given.reason}" if isinstance(given, NoSuchDate) else ""
        return f"expected a date as YYYY-MM-DD (got {str(given)!r}{why})"
    if kind == "union_tag_invalid":
        return f"unknown event type {ctx.get('tag')!r}{did_you_mean(ctx.get('tag'), EVENT_TAGS)}; " \
               f"expected one of {', '.join(sorted(EVENT_TAGS))}"
    if kind == "union_tag_not_found":
        return f"missing 'type'; expected one of {', '.join(sorted(EVENT_TAGS))}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or [str(ctx.get("expected", "?"))]
        what = "sampler" if e["loc"] and e["loc"][-1] == "sampler" else "value"
        return f"unknown {what} {str(given)!r}{did_you_mean(str(given), choices)}; expected one of {', '.join(choices)}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return f"a name is letters, digits, '.', '_' and '-', and not dots alone (got {given!r})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        inner = _model_at(model, e["loc"]) if model is not None else None
        keys = "" if inner is None else f" with the keys {', '.join(inner.model_fields)}" \
            if len(inner.model_fields) <= 6 else f" of its keys (`{schema_command}` lists them)"
        return f"expected a mapping{keys}, got {_kind_said(given)}"
    if kind in _PLAIN_WORDS:
        words = _PLAIN_WORDS[kind].format_map(_Blank(ctx))
    elif kind in _PYDANTIC_KINDS:  # pydantic's own wording would leak: say it in ours
        words = "not an accepted value here"
    else:  # a check of ours, in our words already
        return e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return words + (f" (got {given!r})" if "input" in e and not isinstance(given, (dict, list)) else "")


def error_words(e: dict) -> str:
    """One pydantic error (of a value checked alone, not of a file) in swapsim's words, without the value."""
    return _message({k: v for k, v in e.items() if k != "input"}, "swapsim schema", None)


def _kind_said(value: Any) -> str:
    """A value for a message saying it is of the wrong kind: a list or mapping by its kind, others as given."""
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)


class _Blank(dict):
    """A pydantic error's context for str.format_map: a missing entry reads as '?'."""

    def __missing__(self, key: str) -> str:
        return "?"


# Every pydantic error a swapsim file can cause, in words naming what is allowed (the line names the field).
_PLAIN_WORDS = {
    "less_than_equal": "must be at most {le}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "greater_than": "must be more than {gt}",
    "missing": "required",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_parsing_size": "expected a whole number of a sensible size",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number (not .inf or .nan)",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "string_pattern_mismatch": "has characters that are not allowed here",
    "list_type": "expected a list",
    "too_short": "must have at least {min_length} entries",
    "too_long": "must have at most {max_length} entries",
    "multiple_of": "must be a multiple of {multiple_of}",
    "none_required": "must be empty",
}
_PYDANTIC_KINDS = frozenset(typing.get_args(ErrorType))


# Tags pydantic adds inside tagged unions (events.0.ceasefire.day, parameters.x.range.step): not part of a path.
UNION_TAGS = frozenset(EVENT_TAGS) | {"values", "range", "bounds"}
# The names pydantic gives the members of a union of plain types, as the last part of an error's location
BRANCH_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "text",
                "date": "a date as YYYY-MM-DD", "list": "a list", "dict": "a mapping"}
LONGEST_VALUE = 80  # characters of a value a message quotes
_LONG_QUOTE = re.compile(r"(['\"])([^'\"]{%d})[^'\"]{20,}\1" % LONGEST_VALUE)  # a quoted value, cut where long


def _merged_branches(errors: list[dict]) -> list[dict]:
    """The errors of one value that matched no member of a union of plain types (`x.1.bool`, `x.1.int`, ...) as
    one error at the value's own location, saying what it may be."""
    groups: dict[tuple, list[dict]] = {}
    for e in errors:
        if len(e["loc"]) > 1 and str(e["loc"][-1]) in BRANCH_WORDS:
            groups.setdefault(tuple(e["loc"][:-1]), []).append(e)
    merged, done = [], set()
    for e in errors:
        key = tuple(e["loc"][:-1])
        if key not in groups or len(groups[key]) < 2:
            merged.append(e)
        elif key not in done:
            done.add(key)
            kinds = [BRANCH_WORDS[str(g["loc"][-1])] for g in groups[key]]
            merged.append({"type": "union_members", "loc": key, "input": e.get("input"),
                           "msg": f"expected {', '.join(kinds[:-1])} or {kinds[-1]}"})
    return merged


def _unknown_key(loc: tuple, value: Any, schema_command: str, model: type[BaseModel] | None) -> str:
    """An unknown key: nested if it is a dotted path to a real key, else the closest valid key at its place."""
    key = str(loc[-1])
    place = _model_at(model, loc[:-1])
    *parents, leaf = key.split(".")
    inner = _model_at(place, parents) if parents else None
    if inner is not None and leaf in inner.model_fields:
        outer = [str(loc[-2])] if len(loc) > 1 and isinstance(loc[-2], str) and loc[-2] not in UNION_TAGS else []
        return f"dotted keys are not read here; nest it: `{_nested([*outer, *parents, leaf], value)}`"
    near = closest(key, place.model_fields) if place is not None else None
    if near is None:
        return f"unknown key (check the spelling; `{schema_command}` lists every key)"
    return f"unknown key; did you mean {near!r}? (`{schema_command}` lists every key)"


def _nested(keys: list[str], value: Any) -> str:
    """`a: {b: value}` for keys [a, b], in YAML's one-line (flow) style."""
    if len(keys) == 1:
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        return f"{keys[0]}: {text.removesuffix('...').strip()}"
    return f"{keys[0]}: {{{_nested(keys[1:], value)}}}"


def _model_at(model: Any, loc: Sequence) -> type[BaseModel] | None:
    """The model whose keys are valid at `loc` (keys, list positions and union tags, as in pydantic's errors)
    inside `model`, or None if there is none to be found."""
    node = model
    for part in loc:
        if node is None:
            return None
        node = _inside(node, part)
    node = _bare(node)
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _inside(node: Any, part: Any) -> Any:
    """The type at one step (a key, a list position or a union's tag) inside a type, or None."""
    node = _bare(node)
    args = typing.get_args(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    if typing.get_origin(node) is list:
        return args[0] if isinstance(part, int) else None
    if typing.get_origin(node) is dict:
        return args[1]
    if typing.get_origin(node) in (typing.Union, types.UnionType):
        members = [m for m in args if m is not type(None)]
        tagged = [m for m in members if part in _tags(m)]
        return tagged[0] if tagged else _inside(members[0], part) if len(members) == 1 else None
    return None


def _bare(node: Any) -> Any:
    """A type without its Annotated metadata."""
    while typing.get_origin(node) is typing.Annotated:
        node = typing.get_args(node)[0]
    return node


def _tags(member: Any) -> set[str]:
    """The tags that select a member of a tagged union: its Tag, or the values of its `type` literal."""
    tags = {m.tag for m in getattr(member, "__metadata__", ()) if isinstance(m, Tag)}
    bare = _bare(member)
    if isinstance(bare, type) and issubclass(bare, BaseModel) and "type" in bare.model_fields:
        tags |= {str(t) for t in typing.get_args(bare.model_fields["type"].annotation)}
    return tags


def _model_named(title: str) -> type[BaseModel] | None:
    """The one Section subclass named `title` (pydantic titles a model's errors after it), or None."""
    found, todo = [], [Section]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        found += [cls] if cls.__name__ == title else []
    return found[0] if len(set(found)) == 1 else None


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_extends(data: dict, folder: Path, where: str, _seen: tuple[Path, ...] = (),
                    within: Sequence[Path] | None = None) -> dict:
    """`data` merged over the scenario its `extends` names (relative to `folder`); the parent's name and
    description are not inherited. With `within`, a parent outside those folders is refused (see `read_raw`)."""
    data = dict(data)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError([f"{where}: extends: expected a file path, got {parent!r}"])
    parent_path = folder / parent
    if within is not None and not inside(parent_path, within):
        raise ScenarioError([f"{where}: extends: {parent!r} is outside the folders that may be read"])
    if not is_file(parent_path):
        raise ScenarioError([f"{where}: extends: no such file {parent!r} (looked for {parent_path.resolve()})"])
    try:
        base = read_raw(parent_path, _seen, within)
    except ScenarioError as err:  # named from the file given, so that the user sees where the chain starts
        raise ScenarioError([f"{where}: extends {parent!r}: {line}" for line in err.problems]) from None
    if isinstance(base.get("metadata"), dict):
        base["metadata"] = {k: v for k, v in base["metadata"].items() if k not in ("name", "description")}
    return deep_merge(base, data)


def inside(path: Path, folders: Sequence[Path]) -> bool:
    """Whether `path`, its symbolic links followed, lies in one of `folders` (themselves resolved)."""
    real = Path(path).resolve()
    return any(real.is_relative_to(Path(folder).resolve()) for folder in folders)


def read_raw(path: str | Path, _seen: tuple[Path, ...] = (), within: Sequence[Path] | None = None) -> dict:
    """The scenario file as a dict, with `extends` resolved (child keys override the parent's).

    With `within` (a server's allowed folders), the file and every file it extends must lie in one of those
    folders, and one that does not is refused before anything is learnt of it, its existence included."""
    path = Path(path)
    resolved = path.resolve()
    if within is not None and not inside(path, within):
        raise ScenarioError([f"{path}: outside the folders that may be read"])
    if resolved in _seen:
        raise ScenarioError([f"{path}: extends: circular chain of extends"])
    return resolve_extends(read_yaml(path), path.parent, str(path), _seen + (resolved,), within)


def from_dict(data: dict, source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (for notebooks); errors name `source`."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        lines = format_errors(source, err, model=Scenario)
        # Pydantic skips cross-field checks when a field fails; run those whose sections are valid.
        extra = cross_field_problems(*_sections_that_validate(data)) if isinstance(data, dict) else []
        lines += [line for path, msg in extra if (line := f"{source}: {path}: {msg}") not in lines]
        raise ScenarioError(lines) from None


def load(path: str | Path, within: Sequence[Path] | None = None) -> Scenario:
    """Read, resolve and validate a scenario file (only from the folders `within`, when given). Raises
    ScenarioError with one line per problem."""
    path = Path(path)
    data = read_raw(path, within=within)
    if "base" in data and "parameters" in data:  # sim.experiments.file_kinds tells the two apart
        raise ScenarioError([f"{path}: this is a sweep or calibration spec, not a scenario file: run it with "
                             "`swapsim sweep` or `swapsim calibrate`"])
    data.setdefault("metadata", {})
    if isinstance(data["metadata"], dict):
        data["metadata"].setdefault("name", path.stem)
    return from_dict(data, str(path))


def to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML, every value spelled out."""
    return yaml.safe_dump(json.loads(scenario.model_dump_json()), sort_keys=False, allow_unicode=True)


def with_overrides(scenario: Scenario, overrides: dict[str, Any], source: str = "<overrides>") -> Scenario:
    """A copy of `scenario` with dotted-path values replaced and re-validated (for sweeps); every path that
    names no parameter and every value the scenario refuses is a line of the ScenarioError raised."""
    data = json.loads(scenario.model_dump_json())
    problems = []
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = str(dotted).split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node or isinstance(node[leaf], dict):
            problems.append(f"{source}: {dotted}: {path_problem(str(dotted))}")
        else:
            node[leaf] = value
    if problems:  # with the values' own problems, if any
        try:
            from_dict(data, source)
        except ScenarioError as err:
            problems += err.problems
        raise ScenarioError(problems)
    return from_dict(data, source)


def path_problem(path: str) -> str:
    """Why a dotted path names no scenario parameter, in words: a section's name, or a misspelling and the
    parameter it most likely meant."""
    paths = parameter_fields()
    if path in {p.split(".")[0] for p in paths} | {"protocol.conditions"}:
        first = next(p for p in paths if p.startswith(path + "."))
        return f"is a section, not a parameter; give a dotted path like {first}"
    return "no such scenario parameter" + (f"; did you mean {near!r}?" if (near := closest(path, paths)) else "")


# Scenario parameters that an event sets from its day on: path -> (event type, the event's field).
SET_BY_EVENTS = {
    "protocol.tranche_size": ("policy_change", "tranche_size"),
    "protocol.tranche_interval_days": ("policy_change", "tranche_interval_days"),
    "protocol.daily_capacity": ("policy_change", "daily_capacity"),
    "protocol.conditions.enabled": ("policy_change", "conditions_enabled"),
    "protocol.commander_policy": ("policy_change", "commander_policy"),
}


def values_during_run(scenario: Scenario, path: str) -> list[Any]:
    """Every value a parameter takes during a run: the scenario's, then those events set (SET_BY_EVENTS)."""
    values = [value_at(scenario, path)]
    if path in SET_BY_EVENTS:
        tag, name = SET_BY_EVENTS[path]
        values += [getattr(ev, name) for ev in scenario.events if ev.type == tag and getattr(ev, name) is not None]
    return values


def inert_parameters(scenario: Scenario, paths: Iterable[str]) -> dict[str, str]:
    """The given parameter paths that have no effect under this scenario, each with the reason, in words.

    A parameter has no effect when a switch it needs (`needs=` on its field) is off for the
    whole run: the scenario's value and every event's leave it off. A switch that is itself
    among `paths` may be turned on (a sweep varying both), so it does not make anything inert;
    paths that are not scenario parameters (events.<id>.<field>) are never reported.
    """
    paths = list(paths)
    fields = parameter_fields()
    out = {}
    for path in paths:
        unmet = [_unmet(scenario, need) for need in (needs_of(fields[path]) if path in fields else [])
                 if need["path"] not in paths]
        if any(unmet):
            out[path] = "has no effect unless " + " and ".join(reason for reason in unmet if reason)
    return out


def _unmet(scenario: Scenario, need: dict) -> str | None:
    """Why a switch is off for the whole run ("X is Y (here Z)"), or None if some value it takes turns it on."""
    values = values_during_run(scenario, need["path"])
    met = [v > need["above"] if "above" in need else v in need["in"] for v in values]
    if any(met):
        return None
    wanted = f"above {yaml_word(need['above'])}" if "above" in need else " or ".join(map(yaml_word, need["in"]))
    events = f", and no {SET_BY_EVENTS[need['path']][0]} event makes it {wanted}" if need["path"] in SET_BY_EVENTS \
        else ""
    return f"{need['path']} is {wanted} (here {yaml_word(values[0])}{events})"

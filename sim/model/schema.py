"""Building blocks of scenario files: sections that refuse unknown keys, fields that carry their unit
and the switches they depend on."""

from __future__ import annotations

import datetime as dt
import functools
import types
import typing
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

# A condition a parameter needs to have any effect: {"path": switch, "in": [values]} or {"path": switch, "above": x}.
Need = dict[str, Any]


def one_of(path: str, *values: Any) -> Need:
    """The parameter at `path` (dotted) must take one of `values` for the dependent parameter to matter."""
    return {"path": path, "in": list(values)}


def above(path: str, bound: float) -> Need:
    """The parameter at `path` (dotted) must be above `bound` for the dependent parameter to matter."""
    return {"path": path, "above": bound}


def yaml_word(value: Any) -> str:
    """A value as it is written in a scenario file: true/false for yes/no, bare words for choices."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def need_words(need: Need) -> str:
    """A condition in words, as a scenario file would say it: `protocol.conditions.enabled: true`."""
    if "above" in need:
        return f"{need['path']} > {yaml_word(need['above'])}"
    return f"{need['path']}: {' or '.join(yaml_word(v) for v in need['in'])}"


def F(default: Any, unit: str, description: str, ge: float | None = None, le: float | None = None,
      needs: Sequence[Need] = ()) -> Any:
    """A field with its unit in the description and the JSON Schema, and the switches (`needs`, made with
    `one_of` and `above`) without which it has no effect: the description says so, and the schema keeps them
    (`sim.model.scenario.inert_parameters` reads them) so that a sweep of an ignored parameter can be warned of."""
    extra: dict[str, Any] = {"unit": unit}
    if needs:
        extra["needs"] = list(needs)
        description = f"{description} (only with {' and '.join(need_words(n) for n in needs)})"
    return Field(default, ge=ge, le=le, description=f"{description} [{unit}]", json_schema_extra=extra)


def needs_of(field: Any) -> list[Need]:
    """The switches a field made with `F` depends on (none for other fields)."""
    extra = field.json_schema_extra
    return list(extra.get("needs", ())) if isinstance(extra, dict) else []


def _plain_kind(annotation: Any) -> str | None:
    """The kind of value a field of this type takes (optional or not): number, yes/no, date, or None for others."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else None
    if annotation in (int, float):
        return "number"
    if annotation is bool:
        return "yes/no"
    return "date" if annotation is dt.date else None


def _is_yes_no(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _said(value: Any) -> str:
    """A value as the user wrote it, for messages: true/false for yes/no, quoted text, plain numbers."""
    if _is_yes_no(value):
        return yaml_word(value)
    return repr(str(value)) if isinstance(value, (str, dt.date)) else repr(value)


_YAML_YES_NO = "YAML reads yes/no and on/off as true/false"


# A name that becomes a folder (results/<name>/): letters, digits, `.`, `_` and `-`, not dots alone (`.`, `..`).
NAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"


def kind_problem(kind: str | None, value: Any) -> str | None:
    """Why `value` is the wrong kind for a field of `kind` ("number", "yes/no", "date"), or None.

    Pydantic alone takes true for 1 in a number, 1 or "on" for true in a yes/no, and a number
    for a date (seconds since 1970): in a scenario file each of these is a mistake.
    """
    if kind == "number" and _is_yes_no(value):
        return f"expected a number, got {_said(value)} ({_YAML_YES_NO})"
    if kind == "number" and isinstance(value, str) and _looks_numeric(value):  # other text fails as itself
        return f"expected a number, got the text {_said(value)} (write the number without quotes)"
    if kind == "yes/no" and value is not None and not _is_yes_no(value):
        return f"expected true or false, got {_said(value)}"
    if kind == "date" and isinstance(value, (int, float, np.number, np.bool_)):
        return f"expected a date as YYYY-MM-DD (got {_said(value)})"
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class WrongKind:
    """A value of the wrong kind, put in its field's place so that pydantic reports a type error at that
    field, beside any other problem of the file; `message` says what is wrong (`format_errors` prints it)."""

    __slots__ = ("value", "message")

    def __init__(self, value: Any, message: str):
        self.value, self.message = value, message

    def __repr__(self) -> str:
        return _said(self.value)


def _marked(kinds: dict[str, str | None], data: dict) -> dict:
    """`data` with each value of the wrong kind for its field replaced by a WrongKind."""
    out = data
    for key, value in data.items():
        message = kind_problem(kinds.get(key), value)
        if message is not None:
            out = dict(out) if out is data else out
            out[key] = WrongKind(value, message)
    return out


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are checked on assignment, and
    numbers, yes/no values and dates are not taken for one another."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _right_kinds(cls, data: Any) -> Any:
        return _marked(_field_kinds(cls), data) if isinstance(data, dict) else data

    def __setattr__(self, name: str, value: Any) -> None:
        message = kind_problem(_field_kinds(type(self)).get(name), value)
        super().__setattr__(name, value if message is None else WrongKind(value, message))


@functools.cache
def _field_kinds(model: type[BaseModel]) -> dict[str, str | None]:
    return {name: _plain_kind(field.annotation) for name, field in model.model_fields.items()}


def fields_markdown(model: type[BaseModel], title: str) -> str:
    """A spec's top-level keys as a Markdown table (key, unit, default, range, meaning), for `swapsim schema
    --markdown` of sweep and calibration specs: what docs/parameters.md is for scenarios."""
    rows = [f"# {title}", "", "| key | unit | default | range | meaning |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        meaning, _, unit = (field.description or "").rpartition(" [")
        if not meaning:
            meaning, unit = unit, ""
        bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in field.metadata
                  if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")}
        low = bounds.get("Ge", bounds.get("Gt"))
        high = bounds.get("Le", bounds.get("Lt"))
        below = "below " if "Lt" in bounds else ""
        span = f"{low:,} to {below}{high:,}" if low is not None and high is not None else ""
        default = "required" if field.is_required() else field.get_default(call_default_factory=True)
        shown = default if default == "required" else "empty" if default in ("", None) else f"`{default}`"
        rows.append(f"| `{name}` | {unit.rstrip(']')} | {shown} | {span} | {meaning} |")
    return "\n".join(rows) + "\n"

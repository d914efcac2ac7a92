"""Building blocks of scenario files: sections that refuse unknown keys, fields that carry their unit."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def F(default: Any, unit: str, description: str, ge: float | None = None, le: float | None = None) -> Any:
    """A field with its unit in the description and the JSON Schema."""
    return Field(
        default,
        ge=ge,
        le=le,
        description=f"{description} [{unit}]",
        json_schema_extra={"unit": unit},
    )


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

"""The one YAML reader of every swapsim file (scenarios, sweep and calibration specs).

It reads a file's top-level mapping and turns every way a file can be wrong into one ScenarioError line
naming the file: missing, a folder, too large, not text, malformed, nested deeper than any real file,
a key given twice, empty, or not a mapping. Limits are far above what a real file needs, so that a
hostile or damaged file is refused at once instead of exhausting memory or the interpreter's stack.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from sim.model.errors import ScenarioError

MAX_BYTES = 1_000_000  # the largest bundled file is under 10 kB
MAX_DEPTH = 16  # sections, their mappings and lists of events: a real file nests 4 or 5 levels


class NoSuchDate(str):
    """A YAML date that is no calendar date, as text; `reason` says why (month must be in 1..12)."""

    reason = ""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a date that is no calendar date (2020-13-01) stays text, so that the
    schema reports it at its field rather than the whole file failing to parse, and that a key given twice in
    one mapping is an error rather than silently the last value."""

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                twice = key in seen
            except TypeError:  # an unhashable key: PyYAML reports it below
                break
            if twice:
                raise yaml.constructor.ConstructorError(None, None, f"key {_short(key)} given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        text = NoSuchDate(loader.construct_scalar(node))
        text.reason = str(exc)
        return text


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _short(value: Any, limit: int = 80) -> str:
    """A value as a message shows it: its repr, cut to about `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _mode(path: str | Path) -> int | None:
    try:
        return Path(path).stat().st_mode
    except (OSError, ValueError):  # a name the system cannot even look up: too long, or with a NUL in it
        return None


def is_file(path: str | Path) -> bool:
    """Whether `path` names a file (following links); a name the system cannot look up names none."""
    mode = _mode(path)
    return mode is not None and stat.S_ISREG(mode)


def read_yaml(path: str | Path) -> dict:
    """A YAML file's top-level mapping; every problem (missing, unreadable, too large or deep, malformed, a
    duplicate key) as a ScenarioError line."""
    path = Path(path)
    if not is_file(path):
        mode = _mode(path)
        raise ScenarioError([f"{path}: is a folder, not a YAML file" if mode is not None and stat.S_ISDIR(mode)
                             else f"{path}: no such file"])
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot be read: {exc.strerror}"]) from None
    if size > MAX_BYTES:
        raise ScenarioError([f"{path}: {size:,} bytes, more than the {MAX_BYTES:,} a swapsim file may have"])
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError([f"{path}: malformed YAML: {where}{problem}"]) from None
    except UnicodeDecodeError:
        raise ScenarioError([f"{path}: not a text file (UTF-8 expected)"]) from None
    except RecursionError:
        raise ScenarioError([f"{path}: malformed YAML: nested deeper than {MAX_DEPTH} levels"]) from None
    except ValueError as exc:  # a value PyYAML cannot build (a date that is none is left to the schema)
        raise ScenarioError([f"{path}: malformed YAML: {_short(str(exc))}"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot be read: {exc.strerror}"]) from None
    if data is None:
        raise ScenarioError([f"{path}: empty file: it holds no settings (a file of only comments is empty too)"])
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}: (top level): expected a mapping of sections, got {type(data).__name__}"])
    return data

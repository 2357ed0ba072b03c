"""Workspace documents (YAML and TOML) parsed into pydantic models, with errors that name file:line.

Every rubric, agent card, runbook and ``agentdeck.toml`` goes through here, so a person who made a
typo gets one line that says which file, which line and what is wrong, never a traceback.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DocumentError(Exception):
    """A workspace file is malformed. ``str(err)`` is the one-line message for the person."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else f"{self.path}"
        super().__init__(f"{where}: {message}")


class LocatedError(ValueError):
    """Raised by a validator about one part of the value it checks.

    A model-level check (two criteria sharing a key, a reviewer missing from the roster) fails
    on the whole object, so pydantic reports it at the object's line; ``loc`` is the path from
    that object to the part at fault, so the file:line points where the person has to look.
    """

    def __init__(self, message: str, loc: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.loc = loc


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item."""


def _walk(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    dups: list[tuple[int, str]],
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen and key != "<<":
                dups.append((key_node.start_mark.line + 1, ".".join(map(str, path + (key,)))))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _walk(item, path + (i,), lines, dups)


def _line_for(loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    # pydantic's loc can be longer than the document path (union tags, "value_error" parts);
    # the longest known prefix is where the person has to look.
    for n in range(len(loc), -1, -1):
        if tuple(loc[:n]) in lines:
            return lines[tuple(loc[:n])]
    return None


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg}" if loc else msg


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DocumentError(path, None, f"cannot read: {exc.strerror}") from None


def load_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Read a YAML file; return its data and a map from key path to line number."""
    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context
        if exc.context_mark is not None and (mark is None or mark.index >= len(text)):
            # "found unexpected end of stream" is reported past the last line; the construct
            # left open (a quote, a bracket) starts at the context mark.
            mark = exc.context_mark
            problem = f"{exc.problem} {exc.context}" if exc.problem else exc.context
        line = mark.line + 1 if mark else None
        raise DocumentError(path, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(path, None, f"invalid YAML: {exc}") from None
    lines: dict[tuple[Any, ...], int] = {}
    dups: list[tuple[int, str]] = []
    if node is not None:
        _walk(node, (), lines, dups)
    if dups:
        # PyYAML keeps the last of two equal keys without a word, so a second `required:`
        # would silently override the first; TOML refuses it, and so do we.
        line, key = dups[0]
        raise DocumentError(path, line, f"{key}: this key is already set above")
    return data, lines


def parse_model(
    model: type[M], data: Any, path: Path, lines: Mapping[tuple[Any, ...], int] | None = None
) -> M:
    """Validate ``data`` as ``model``; on failure raise DocumentError naming file:line."""
    if data is None:
        raise DocumentError(path, 1, "the file is empty")
    if not isinstance(data, dict):
        raise DocumentError(path, 1, f"expected a mapping at the top, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first: dict[str, Any] = dict(exc.errors()[0])
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedError):
            first["loc"] = (*first["loc"], *cause.loc)
        line = _line_for(tuple(first["loc"]), lines or {})
        more = exc.error_count() - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise DocumentError(path, line, _describe(first) + tail) from None


def load_yaml_model(model: type[M], path: Path) -> M:
    """Load a YAML file into ``model``; errors name file:line."""
    data, lines = load_yaml(path)
    return parse_model(model, data, path, lines)


def _toml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Best-effort key-path to line map for TOML (tables and top-level keys of each table)."""
    lines: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    counters: dict[tuple[Any, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            name = tuple(p.strip().strip('"') for p in stripped.strip("[]").split("."))
            index = counters.get(name, 0)
            counters[name] = index + 1
            table = name + (index,)
            lines.setdefault(name, number)
            lines[table] = number
        elif stripped.startswith("["):
            table = tuple(p.strip().strip('"') for p in stripped.strip("[]").split("."))
            lines[table] = number
        elif "=" in stripped:
            key = stripped.split("=", 1)[0].strip().strip('"')
            lines[table + tuple(k.strip().strip('"') for k in key.split("."))] = number
    return lines


def load_toml_model(model: type[M], path: Path) -> M:
    """Load a TOML file into ``model``; errors name file:line."""
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" at the end of its message.
        msg = str(exc)
        line = None
        if "(at line " in msg:
            head, _, tail = msg.rpartition(" (at line ")
            try:
                line = int(tail.split(",")[0])
                msg = head
            except ValueError:
                pass
        raise DocumentError(path, line, f"invalid TOML: {msg}") from None
    return parse_model(model, data, path, _toml_lines(text))

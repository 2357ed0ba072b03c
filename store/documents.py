"""Workspace documents (YAML and TOML) parsed into pydantic models, with errors that name file:line.

Every rubric, agent card, runbook and ``agentdeck.toml`` goes through here, so a person who made a
typo gets one line that says which file, which line and what is wrong, never a traceback.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    import yaml

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


#: Aliases may repeat this many nodes in one document, in all: far more than a rubric, card or
#: runbook reuses (a shared list of levels is a few nodes), far less than a "billion laughs" bomb
#: expands to (nine levels of nine aliases is 9**9 nodes).
MAX_ALIAS_NODES = 10_000
#: Deeper nesting than this is refused before Python's recursion limit is reached.
MAX_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")

#: A pattern over key paths; "*" matches any one key or index.
PathPattern = tuple[Any, ...]


class _Refused(Exception):
    """Valid YAML that a workspace document may not use (an alias bomb, absurd nesting)."""

    def __init__(self, mark: yaml.Mark, message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1
        self.message = message


@functools.cache
def _line_loader() -> type[yaml.SafeLoader]:
    """The loader class, made on first use: PyYAML is imported only when a YAML file is read
    (opening the desk from cached documents reads none)."""
    import yaml

    class _LineLoader(yaml.SafeLoader):
        """SafeLoader that bounds what aliases may repeat, checked while composing.

        Composing keeps one node per anchor, so a bomb is small until something walks or builds it;
        counting the nodes each alias repeats, as the alias is read, refuses it before that happens.
        """

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._repeated = 0
            self._sizes: dict[int, tuple[int, int]] = {}
            self._depth = 0

        def _measure(self, node: yaml.Node) -> tuple[int, int]:
            """Nodes under ``node`` and its height, aliases expanded (each node measured once)."""
            known = self._sizes.get(id(node))
            if known is not None:
                return known
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            measured = [self._measure(child) for child in children]
            size = 1 + sum(m[0] for m in measured)
            height = 1 + max((m[1] for m in measured), default=0)
            self._sizes[id(node)] = (size, height)
            return size, height

        def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
            node: yaml.ScalarNode = super().compose_scalar_node(anchor)
            if _SURROGATE.search(node.value):
                # A "\udc80" escape is half of a UTF-16 pair, not a character: no file, database
                # or terminal could take it, so it is refused here rather than failing far away.
                raise _Refused(
                    node.start_mark,
                    "a \\u escape that is half of a surrogate pair is not a character",
                )
            return node

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                target = self.anchors.get(event.anchor)
                if target is not None:
                    if target.end_mark is None:
                        # The anchored collection is still open: the alias sits inside it.
                        raise _Refused(
                            event.start_mark,
                            f"alias *{event.anchor} refers to a node that contains it; "
                            "recursive aliases are refused",
                        )
                    size, height = self._measure(target)
                    self._repeated += size
                    if self._repeated > MAX_ALIAS_NODES:
                        raise _Refused(
                            event.start_mark,
                            f"alias *{event.anchor} makes aliases repeat more than "
                            f"{MAX_ALIAS_NODES} nodes in this file (a YAML alias bomb?); "
                            "aliases are allowed up to that budget",
                        )
                    if self._depth + height > MAX_DEPTH:
                        raise _Refused(
                            event.start_mark, f"nested more than {MAX_DEPTH} levels deep"
                        )
                return super().compose_node(parent, index)
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise _Refused(
                        self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep"
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return _LineLoader


def _matches(path: tuple[Any, ...], pattern: PathPattern) -> bool:
    if len(path) != len(pattern):
        return False
    return all(p == "*" or p == k for k, p in zip(path, pattern, strict=True))


_BOOL_TAG = "tag:yaml.org,2002:bool"


def _walk(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    dups: list[tuple[int, str]],
    words: Sequence[PathPattern],
    kept: list[tuple[tuple[Any, ...], str]],
) -> None:
    import yaml

    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen and key != "<<":
                dups.append((key_node.start_mark.line + 1, ".".join(map(str, path + (key,)))))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, dups, words, kept)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _walk(item, path + (i,), lines, dups, words, kept)
    elif node.tag == _BOOL_TAG and any(_matches(path, w) for w in words):
        kept.append((path, node.value))


def _put(data: Any, path: tuple[Any, ...], value: str) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _line_for(
    loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int], *, root: bool = True
) -> int | None:
    # pydantic's loc can be longer than the document path (union tags, "value_error" parts);
    # the longest known prefix is where the person has to look.
    for n in range(len(loc), -1 if root else 0, -1):
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


def load_yaml(
    path: Path, *, words: Sequence[PathPattern] = ()
) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Read a YAML file; return its data and a map from key path to line number.

    YAML 1.1 reads a bare ``yes``/``no``/``on``/``off``/``true``/``false`` as a boolean. At the
    key paths in ``words`` (where a person writes an answer, not a switch) the word is kept as
    written instead. Aliases may repeat at most ``MAX_ALIAS_NODES`` nodes per file.
    """
    import yaml

    text = _read_text(path)
    loader = _line_loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise DocumentError(path, exc.line, exc.message) from None
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
    finally:
        loader.dispose()
    lines: dict[tuple[Any, ...], int] = {}
    dups: list[tuple[int, str]] = []
    kept: list[tuple[tuple[Any, ...], str]] = []
    if node is not None:
        _walk(node, (), lines, dups, words, kept)
    for at, word in kept:
        _put(data, at, word)
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
        known = lines or {}
        errors = [_located(dict(err)) for err in exc.errors()]
        # Report first an error that has a place in the file: a misspelt table is where to
        # look, rather than the required one it leaves missing (which has no line at all).
        first = next(
            (e for e in errors if _line_for(e["loc"], known, root=False) is not None), errors[0]
        )
        # Nothing in the file to point at (a whole table is missing): the top of the file.
        line = _line_for(first["loc"], known) or 1
        more = exc.error_count() - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise DocumentError(path, line, _describe(first) + tail) from None


def _located(err: dict[str, Any]) -> dict[str, Any]:
    """The error with its loc extended by a LocatedError's own loc, if it carries one."""
    cause = (err.get("ctx") or {}).get("error")
    extra = cause.loc if isinstance(cause, LocatedError) else ()
    return {**err, "loc": (*err["loc"], *extra)}


def load_yaml_model(model: type[M], path: Path, *, words: Sequence[PathPattern] = ()) -> M:
    """Load a YAML file into ``model``; errors name file:line. ``words``: see :func:`load_yaml`."""
    data, lines = load_yaml(path, words=words)
    return parse_model(model, data, path, lines)


_TOML_KEY_PART = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")
_TOML_HEADER = re.compile(r"^(\[\[?)(.*?)\]\]?\s*(?:#.*)?$")


def _toml_key(text: str) -> tuple[str, ...] | None:
    """A dotted TOML key (``a."b.c".d``) as its parts; None if it is not one."""
    parts: list[str] = []
    pos = 0
    while True:
        match = _TOML_KEY_PART.match(text, pos)
        if match is None:
            return None
        parts.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
        if pos == len(text):
            return tuple(parts)
        if text[pos] != ".":
            return None
        pos += 1


def _toml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Best-effort key-path to line map for TOML (tables and top-level keys of each table)."""
    lines: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    counters: dict[tuple[Any, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _TOML_HEADER.match(stripped)
        if header is not None:
            name = _toml_key(header.group(2))
            if name is None:
                continue
            if header.group(1) == "[[":
                index = counters.get(name, 0)
                counters[name] = index + 1
                table = name + (index,)
                lines.setdefault(name, number)
            else:
                table = name
            lines[table] = number
        elif "=" in stripped:
            key = _toml_key(stripped.split("=", 1)[0])
            if key is not None:
                lines[table + key] = number
    return lines


def toml_line(path: Path, loc: tuple[Any, ...]) -> int | None:
    """The line of ``loc`` (or of the nearest table around it) in a TOML file, if known."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return _line_for(loc, _toml_lines(text), root=False)


def load_toml_model(model: type[M], path: Path) -> M:
    """Load a TOML file into ``model``; errors name file:line."""
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" or "(at end of document)" at the end.
        msg = str(exc)
        line = None
        if msg.endswith(" (at end of document)"):
            msg = msg.removesuffix(" (at end of document)")
            line = max(1, len(text.splitlines()))
        elif "(at line " in msg:
            head, _, tail = msg.rpartition(" (at line ")
            try:
                line = int(tail.split(",")[0])
                msg = head
            except ValueError:
                pass
        raise DocumentError(path, line, f"invalid TOML: {msg}") from None
    return parse_model(model, data, path, _toml_lines(text))

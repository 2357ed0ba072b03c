"""Reading JSON Lines files written by other programs: what every file-backed store shares.

Bytes that are not UTF-8 and JSON escapes of lone surrogates are shown as U+FFFD, never an
exception; a bad line is said with its file:line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from store.connectors.base import ConnectorError

M = TypeVar("M", bound=BaseModel)

#: A JSON escape of a UTF-16 surrogate: valid JSON, but alone it is no character at all.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode(raw: bytes) -> str:
    """Bytes as text; invalid UTF-8 from a model or a customer becomes U+FFFD."""
    return raw.decode("utf-8", errors="replace")


def scrub(value: Any) -> Any:
    """Replace lone surrogates (from ``\\udc80`` escapes) with U+FFFD, keys included."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    return value


def parse(model: type[M], raw: bytes) -> M:
    """One JSON line as ``model``. A lone surrogate escape is shown as U+FFFD, as invalid UTF-8
    is: pydantic's JSON parser refuses it, so such a line goes through ``json`` instead."""
    text = decode(raw)
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        if exc.errors()[0]["type"] != "json_invalid" or not SURROGATE_ESCAPE.search(raw):
            raise
    try:
        data = scrub(json.loads(text))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return model.model_validate(data)


def unreadable_json(exc: Exception) -> bool:
    """The line is not JSON at all (as opposed to JSON that is not a valid record)."""
    if isinstance(exc, ValidationError):
        return exc.errors()[0]["type"] == "json_invalid"
    return True


def problem(name: str, line: int, exc: Exception) -> str:
    """One line naming ``name:line`` and what is wrong with the record there."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            return f"{name}:{line}: not valid JSON (a truncated or corrupt line)"
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"{name}:{line}: {loc}: {msg}" if loc else f"{name}:{line}: {msg}"
    return f"{name}:{line}: not valid JSON (a truncated or corrupt line)"


def read_bytes(path: Path) -> bytes:
    """The whole file; a read error is a ConnectorError naming the file."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConnectorError(f"{path}: cannot read ({exc.strerror})") from None


def lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Numbered lines of a whole file, blank ones left out."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            yield number, raw

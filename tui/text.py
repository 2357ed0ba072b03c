"""Untrusted text made safe to show: control sequences neutralised, previews of huge strings.

Everything a run carries (input, output, tool arguments, errors, business refs) was written by a
model, a customer or a tool. It reaches the screen only through :func:`safe_text` and is then
wrapped in ``Text``/``Content`` built from plain strings, so markup such as ``[@click=app.quit]``
is shown as those characters and an escape sequence never reaches the terminal.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: C0 controls except tab and newline, DEL, C1 controls, and the bidi overrides/isolates that
#: can make text read differently from what it is (RTL spoofing).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_NAMED = {"\x1b": "␛", "\r": "␍", "\x00": "␀", "\x07": "␇", "\x08": "␈", "\x7f": "␡"}

TAB_SIZE = 4


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def safe_text(s: str | None) -> str:
    """``s`` with every control character that could act on a terminal made visible.

    Newlines stay; tabs expand to spaces; ESC shows as ``␛``, BEL as ``␇``, other controls and
    bidi overrides as ``\\xNN``/``\\uNNNN``. The scan is one regex pass, so a 10 MB string costs
    tens of milliseconds, not seconds.
    """
    if not s:
        return ""
    if "\t" in s:
        s = s.expandtabs(TAB_SIZE)
    return _UNSAFE.sub(_visible, s)


def one_line(s: str | None, limit: int = 120) -> str:
    """A safe single-line rendering (newlines shown as ``⏎``), cut to ``limit`` characters."""
    text = safe_text((s or "")[: limit * 2]).replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_size(n: int) -> str:
    """Characters as a short human figure: 950, 12.3 K, 9.8 M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f} K"
    return f"{n / 1_000_000:.1f} M"


def preview(s: str, *, max_chars: int = 4000, max_lines: int = 60) -> tuple[str, int]:
    """The head of ``s`` to show at first, and how many characters were left out."""
    head = s[:max_chars]
    pos = -1
    for _ in range(max_lines):
        pos = head.find("\n", pos + 1)
        if pos < 0:
            break
    else:
        head = head[:pos]
    return head, len(s) - len(head)


def pretty_json(raw: str | None) -> str:
    """Stored JSON (tool arguments, results) indented for reading; other text as it is."""
    if raw is None:
        return ""
    stripped = raw.lstrip()
    if len(raw) < 200_000 and stripped[:1] in ("{", "["):
        try:
            value: Any = json.loads(raw)
        except ValueError:
            return raw
        return json.dumps(value, indent=2, ensure_ascii=False)
    return raw


def wrap_lines(s: str, width: int) -> list[str]:
    """Split ``s`` into lines no wider than ``width`` characters (hard wrap), for line views."""
    width = max(width, 1)
    out: list[str] = []
    for line in s.split("\n"):
        if len(line) <= width:
            out.append(line)
        else:
            out.extend(line[i : i + width] for i in range(0, len(line), width))
    return out

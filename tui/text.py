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

from rich.cells import cell_len, split_graphemes

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


def _one_cell_each(s: str) -> bool:
    return s.isascii() and s.isprintable()


def cut_cells(s: str, cells: int) -> str:
    """The longest head of ``s`` that fits in ``cells`` terminal cells, whole graphemes only.

    A wide character (CJK, emoji) takes two cells and a combining mark none, so the head is cut
    by cells, never by characters, and never between a letter and its accent.
    """
    if _one_cell_each(s):
        return s[: max(cells, 0)]
    if cell_len(s) <= cells:
        return s
    spans, _ = split_graphemes(s)
    used = 0
    for start, _end, width in spans:
        if used + width > cells:
            return s[:start]
        used += width
    return s


def one_line(s: str | None, limit: int = 120) -> str:
    """A safe single-line rendering (newlines shown as ``⏎``), cut to ``limit`` cells with ``…``."""
    raw = s or ""
    # Sanitise only a head, so a 10 MB field costs what a line costs; if zero-width marks made
    # that head fit, the ``…`` still says that something was cut.
    head = raw[: limit * 2]
    text = safe_text(head).replace("\n", "⏎")
    if len(head) == len(raw) and cell_len(text) <= limit:
        return text
    return cut_cells(text, limit - 1) + "…"


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


#: Characters that always take one cell (as rich.cells counts them): printable ASCII, Latin,
#: Greek, Cyrillic, box drawing, braille.
_ONE_CELL = "\x20-\x7e\xa0-\xac\xae-\u02ff\u0370-\u0482\u2500-\u25fc\u2800-\u28ff"
#: A run of those, each not followed by another kind of character (which could be an accent or
#: a variation selector that belongs to it): each is a grapheme of one cell, to cut anywhere.
_PLAIN_RUN = re.compile(f"(?:[{_ONE_CELL}](?![^{_ONE_CELL}]))+")


def wrap_lines(s: str, width: int) -> list[str]:
    """Split ``s`` into lines no wider than ``width`` cells (hard wrap), for line views.

    Lines are cut between graphemes, by cells: a wide character takes two, a combining mark
    stays with its letter. Joined together the lines of one input line give it back exactly. A
    grapheme wider than ``width`` (an emoji at width 1) gets a line of its own.
    """
    width = max(width, 1)
    out: list[str] = []
    for line in s.split("\n"):
        if _one_cell_each(line):
            if len(line) <= width:
                out.append(line)
            else:
                out.extend(line[i : i + width] for i in range(0, len(line), width))
        elif len(line) <= width and cell_len(line) <= width:
            out.append(line)
        else:
            out.extend(_wrap_line(line, width))
    return out


def _wrap_line(line: str, width: int) -> list[str]:
    # Runs of one-cell characters are cut by slicing; only the rest is split into graphemes
    # (slow, in Python), so a long line with one emoji costs about what an ASCII line costs.
    out: list[str] = []
    begin = used = pos = 0
    for match in [*_PLAIN_RUN.finditer(line), None]:
        a, b = match.span() if match else (len(line), len(line))
        if a > pos:
            spans, _ = split_graphemes(line[pos:a])
            for start, _end, cells in spans:
                if used + cells > width and pos + start > begin:
                    out.append(line[begin : pos + start])
                    begin, used = pos + start, 0
                used += cells
        while b - a > max(width - used, 0):
            cut = a + max(width - used, 0)
            out.append(line[begin:cut])
            begin = a = cut
            used = 0
        used += b - a
        pos = b
    out.append(line[begin:])
    return out

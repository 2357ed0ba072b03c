"""Untrusted text made safe to show, previewed, and wrapped or cut by terminal cells.

Everything a run carries (input, output, tool arguments, errors, business refs) was written by a
model, a customer or a tool. It reaches the screen only through :func:`safe_text` and is then
wrapped in ``Text``/``Content`` built from plain strings, so markup such as ``[@click=app.quit]``
is shown as those characters, an escape sequence never reaches the terminal, and characters that
draw nothing (zero-width spaces, tag characters) are shown as escapes. Widths are cells, not
characters: CJK and emoji take two, combining marks none (``rich.cells``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.cells import cell_len, split_graphemes
from rich.text import Text

#: What could act on a terminal or hide from a reader:
#: - C0 controls except tab and newline, DEL, C1 controls;
#: - every format character (Unicode category Cf): zero-width space and joiners, LRM/RLM and the
#:   bidi embeddings, overrides and isolates (RTL spoofing), word joiner and invisible operators,
#:   BOM, soft hyphen, interlinear annotation, the Arabic and Kaithi prepended marks (terminals
#:   do not shape them), Egyptian, shorthand and musical format controls, the language tag and
#:   the tag characters U+E0020..U+E007F ("ASCII smuggling");
#: - the line and paragraph separators U+2028/U+2029;
#: - other default-ignorable code points that draw nothing: combining grapheme joiner U+034F,
#:   Hangul fillers U+115F, U+1160, U+3164, U+FFA0, Khmer inherent vowels U+17B4/U+17B5, and
#:   the unassigned U+2065, U+FFF0..U+FFF8, U+E0000..U+E0FFF;
#: - variation selectors (U+FE00..U+FE0F, U+E0100..U+E01EF, Mongolian U+180B..U+180D, U+180F).
#: :func:`_visible` keeps the few of these that are legitimate where they stand.
_UNSAFE_BMP = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
)
_UNSAFE_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff"
)
# Astral ranges make a character class four times slower to scan, so they are only looked for
# in text that has an astral character at all (emoji, tags): most text is scanned at full speed.
_UNSAFE_IN_BMP = re.compile(f"[{_UNSAFE_BMP}]")
_UNSAFE = re.compile(f"[{_UNSAFE_BMP}{_UNSAFE_ASTRAL}]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

_NAMED = {"\x1b": "␛", "\r": "␍", "\x00": "␀", "\x07": "␇", "\x08": "␈", "\x7f": "␡"}

_ZWNJ = "\u200c"
_ZWJ = "\u200d"
_VARIATION_SELECTORS = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)]
    + [chr(c) for c in range(0xE0100, 0xE01F0)]
    + ["\u180b", "\u180c", "\u180d", "\u180f"]
)
_TAG_FLAG = "\U0001f3f4"
#: The tag runs of the RGI subdivision flags (England, Scotland, Wales) after U+1F3F4.
_FLAG_TAGS = frozenset(
    "".join(chr(0xE0000 + ord(c)) for c in code) + "\U000e007f"
    for code in ("gbeng", "gbsct", "gbwls")
)
_FLAG_LEN = 6

TAB_SIZE = 4


def _pictographic(ch: str) -> bool:
    """Near enough to Extended_Pictographic for the parts of emoji ZWJ sequences.

    Skin tone modifiers count too, so 👩🏽‍💻 keeps its joiner.
    """
    code = ord(ch)
    return 0x1F000 <= code <= 0x1FFFF or 0x2190 <= code <= 0x2BFF or code in (0x3030, 0x303D)


def _joining_script(ch: str) -> bool:
    """Arabic, Syriac, Thaana, N'Ko ... Sinhala: scripts whose words use ZWNJ."""
    return "\u0600" <= ch <= "\u0dff"


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _visible(match: re.Match[str]) -> str:
    """The escape for one unsafe character, or the character itself where it is legitimate.

    Kept as they are: a ZWJ between two emoji (a family, a flag, a profession: 👩‍💻), because
    the sequence draws as one picture; a ZWNJ between two letters of a joining script (Persian
    writes it inside words); one variation selector right after a visible character (❤️, an
    ideographic variant), while a selector after nothing, after a space or after another selector
    (how data is hidden in "invisible" emoji suffixes) is shown; and the tag runs of the three
    subdivision flags after 🏴. Everything else is shown as ``\\xNN``, ``\\uNNNN``,
    ``\\UNNNNNNNN`` or a control picture (``␛``).
    """
    ch = match.group()
    s = match.string
    i = match.start()
    prev = s[i - 1] if i else ""
    if "\U000e0020" <= ch <= "\U000e007f":  # a tag character
        # Kept only inside 🏴 + one of the three flag tag runs; at most 6 places to look.
        for start in range(max(i - _FLAG_LEN + 1, 1), i + 1):
            if s[start - 1] == _TAG_FLAG and s[start : start + _FLAG_LEN] in _FLAG_TAGS:
                return ch
    elif ch in _VARIATION_SELECTORS:
        if prev and not prev.isspace() and prev not in _VARIATION_SELECTORS:
            return ch
    elif ch == _ZWJ:
        emoji = s[i - 2] if prev == "\ufe0f" and i > 1 else prev  # skip a VS16: 🏳️‍🌈
        nxt = s[i + 1 : i + 2]
        if emoji and nxt and _pictographic(emoji) and _pictographic(nxt):
            return ch
    elif ch == _ZWNJ:
        nxt = s[i + 1 : i + 2]
        if prev and nxt and _joining_script(prev) and _joining_script(nxt):
            return ch
    return _escape(ch)


def safe_text(s: str | None) -> str:
    """``s`` with every control character that could act on a terminal made visible.

    Newlines stay; tabs expand to spaces; ESC shows as ``␛``, BEL as ``␇``, other controls, bidi
    overrides and invisible format characters as ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN`` (see
    :func:`_visible` for the joiners and selectors that stay). The scan is a regex pass or two,
    so a 10 MB string costs tens of milliseconds, not seconds.
    """
    if not s:
        return ""
    if "\t" in s:
        s = s.expandtabs(TAB_SIZE)
    if s.isascii() or not _ASTRAL.search(s):
        return _UNSAFE_IN_BMP.sub(_visible, s)
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
    """Split ``s`` into lines no wider than ``width`` cells, words kept whole, for line views.

    A line breaks at a space (the spaces at the break are dropped); a word wider than
    ``width`` is cut between graphemes, by cells: a wide character takes two, a combining mark
    stays with its letter, so text without spaces (CJK, a long token) fills every line. A
    grapheme wider than ``width`` (an emoji at width 1) gets a line of its own.
    """
    width = max(width, 1)
    out: list[str] = []
    for line in s.split("\n"):
        if _one_cell_each(line):
            if len(line) <= width:
                out.append(line)
            else:
                out.extend(_wrap_ascii(line, width))
        elif len(line) <= width and cell_len(line) <= width:
            out.append(line)
        else:
            out.extend(_wrap_words(line, width))
    return out


def _wrap_ascii(line: str, width: int) -> list[str]:
    # One cell per character: each break is found with one rfind, so a 10 MB line costs a
    # pass of C, not a Python step per word. Gives what _wrap_words gives.
    out: list[str] = []
    pos, n = 0, len(line)
    while n - pos > width:
        end = pos + width
        cut = end if line[end] == " " else line.rfind(" ", pos, end)
        head = line[pos:cut].rstrip(" ") if cut > pos else ""
        if head:
            out.append(head)
            pos = cut
        while pos < n and line[pos] == " ":
            pos += 1
        if head:
            continue
        # Nothing fits before a break: the word here is wider than the line; cut it.
        word_end = line.find(" ", pos)
        word_end = n if word_end < 0 else word_end
        while word_end - pos > width:
            out.append(line[pos : pos + width])
            pos += width
    tail = line[pos:].rstrip(" ")
    if tail or not out:
        out.append(tail)
    return out


_TOKEN = re.compile("[^ ]+| +")


def _wrap_words(line: str, width: int) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    used = 0
    for match in _TOKEN.finditer(line):
        token = match.group()
        if token[0] == " ":
            # Spaces that do not fit are the break itself.
            take = min(len(token), width - used)
            if take > 0:
                current.append(token[:take])
                used += take
            continue
        cells = len(token) if _one_cell_each(token) else cell_len(token)
        if used + cells <= width:
            current.append(token)
            used += cells
            continue
        head = "".join(current).rstrip(" ")
        if head:  # (spaces alone, an indent too wide for the word after it, are dropped)
            out.append(head)
        if cells <= width:
            current, used = [token], cells
        else:
            pieces = (
                [token[i : i + width] for i in range(0, len(token), width)]
                if _one_cell_each(token)
                else _wrap_line(token, width)
            )
            out.extend(pieces[:-1])
            current, used = [pieces[-1]], cell_len(pieces[-1])
    tail = "".join(current).rstrip(" ")
    if tail or not out:
        out.append(tail)
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


def counted(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the word, singular for one: ``1 run``, ``2 runs``, ``1 entry``/``2 entries``."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def guidance_text(markdown: str, *, indent: str = "", limit: int | None = None) -> Text:
    """A rubric's guidance (Markdown the team wrote) as ``Text``: bold, italics and code kept,
    list items as ``•``, links as their words, everything else as plain characters (never
    markup). Lines after the first start with ``indent``; ``limit`` cuts it to that many cells
    on one line (the compact rubric pane)."""
    from markdown_it import MarkdownIt

    out = Text()
    styles: list[str] = []
    first = True
    for block in MarkdownIt("commonmark").parse(markdown):
        if block.type == "list_item_open":
            out.append(("" if first else "\n" + indent) + "• ")
            first = True
            continue
        if block.type != "inline" or block.children is None:
            continue
        if not first:
            out.append("\n" + indent)
        first = False
        for tok in block.children:
            if tok.type in ("strong_open", "em_open"):
                styles.append("bold" if tok.type == "strong_open" else "italic")
            elif tok.type in ("strong_close", "em_close") and styles:
                styles.pop()
            elif tok.type in ("softbreak", "hardbreak"):
                out.append(" " if limit else "\n" + indent)
            elif tok.type == "code_inline":
                out.append(safe_text(tok.content), "bold")
            elif tok.type in ("text", "html_inline"):
                out.append(safe_text(tok.content), " ".join(styles))
    if limit is not None:
        plain = out.plain.replace("\n" + indent, " ")
        if cell_len(plain) > limit or "\n" in out.plain:
            flat = Text(" ".join(plain.split()))
            return flat if cell_len(flat.plain) <= limit else Text(one_line(flat.plain, limit))
    return out

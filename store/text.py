"""Untrusted text made safe for one line of a message: what a server or a file said."""

from __future__ import annotations

import unicodedata


def clean_line(text: str, limit: int = 120) -> str:
    """``text`` on one line: control and format characters (escape sequences, bidi overrides)
    dropped, whitespace runs made one space, cut to ``limit`` characters with an ellipsis."""
    out: list[str] = []
    space = False
    for ch in text:
        if ch.isspace():
            space = bool(out)
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        if space:
            out.append(" ")
            space = False
        out.append(ch)
        if len(out) > limit:
            return "".join(out[: limit - 1]) + "…"
    return "".join(out)

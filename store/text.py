"""Untrusted text made safe for one line of a message: what a server or a file said, and the
URLs messages name. Every connector, alert source and kill-switch backend uses these, so a reply
can never break a message into lines, hide in escape sequences or leak a secret."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

#: What a secret is replaced with in messages and plans.
MASK = "****"


def clean_excerpt(text: str, *, secrets: Iterable[str | None] = (), limit: int = 80) -> str:
    """Untrusted text made safe for a one-line message: secrets masked, control and format
    characters (newlines, escapes, bidi overrides) turned into spaces, runs of spaces made one,
    cut to ``limit`` characters with an ellipsis."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def display_url(url: str) -> str:
    """``url`` fit for messages and plans: a user or password in it and query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def json_cut_off(text: str, exc: json.JSONDecodeError) -> bool:
    """The text is JSON that stops short (a reply cut off), not text that never was JSON."""
    rest = text[exc.pos :].rstrip()
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return True
    if exc.msg.startswith("Invalid \\uXXXX escape") and len(rest) <= 6:
        return True
    # Cut inside a literal (`tru`, `nul`) or a number's exponent (`1e`): what is left is the
    # start of something JSON would accept.
    return bool(rest) and (
        any(word.startswith(rest) for word in ("true", "false", "null"))
        or re.fullmatch(r"-?\d+(\.\d*)?([eE][+-]?)?|-", rest) is not None
    )

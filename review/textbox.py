"""One line of text being typed, with a cursor: what an editing key does to (text, cursor).

The desk's comment, skip and find boxes (``review/tape.py``) and the Reports area's rationale
box edit with the same keys: left/right, home/end (ctrl+a/ctrl+e), backspace and delete at the
cursor, ctrl+w (the word before the cursor), ctrl+u (all of it), and typed or pasted text
inserted at the cursor (a paste on one line, only printable characters). ``enter`` and
``escape`` are the box's own business, not an edit.
"""

from __future__ import annotations

__all__ = ["edit_line", "printable"]


def printable(text: str) -> str:
    """``text`` without control characters."""
    return "".join(ch for ch in text if ch.isprintable())


def edit_line(
    text: str,
    cursor: int,
    key: str,
    *,
    char: str | None = None,
    paste: str | None = None,
    limit: int | None = None,
) -> tuple[str, int] | None:
    """``(text, cursor)`` after the key ``key`` (its character ``char``, or the pasted
    ``paste``); None when the key does not edit (tab, function keys, enter, escape). Typed
    text stops at ``limit`` characters."""
    cur = min(max(cursor, 0), len(text))
    if key == "backspace":
        return (text[: cur - 1] + text[cur:], cur - 1) if cur > 0 else (text, cur)
    if key == "delete":
        return text[:cur] + text[cur + 1 :], cur
    if key == "left":
        return text, max(cur - 1, 0)
    if key == "right":
        return text, min(cur + 1, len(text))
    if key in ("home", "ctrl+a"):
        return text, 0
    if key in ("end", "ctrl+e"):
        return text, len(text)
    if key == "ctrl+w":
        # The word before the cursor, and the spaces after it.
        head = text[:cur].rstrip()
        head = head[: len(head) - len(head.split()[-1])] if head.split() else ""
        return head + text[cur:], len(head)
    if key == "ctrl+u":
        return "", 0
    if paste is not None:
        typed = printable(" ".join(paste.splitlines()))
    elif char and len(char) == 1 and char.isprintable():
        typed = char
    else:
        return None
    if limit is not None:
        typed = typed[: max(limit - len(text), 0)]
    return text[:cur] + typed + text[cur:], cur + len(typed)

"""Text from runs, stores and files, made safe for the report formats it is exported in: one
line without control or bidi characters, Markdown that renders as itself, an HTML table, and a
CSV cell a spreadsheet will not run as a formula. One home for every report's exports."""

from __future__ import annotations

import html
import re

#: Control characters (C0, C1) and the invisible and bidi-override marks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
#: What Markdown could read as markup inside a table cell or a heading (HTML is escaped first).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~<>])")


def plain(text: object) -> str:
    """One line: control and bidi characters become spaces, runs of white space one space."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def md(text: object) -> str:
    """Text that Markdown renders as itself: no HTML, no emphasis, links or table breaks."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(plain(text), quote=True))


def html_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """An HTML table, every header and cell escaped, as lines."""
    e = html.escape
    out = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{e(plain(c))}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return out


def spreadsheet_cell(value: object) -> object:
    """A CSV cell: text starting with ``= + - @`` (or a tab or CR) is quoted so a spreadsheet
    shows it instead of running it as a formula; None is empty."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value

"""The adjudication queue (``agentdeck report disputes``) as JSON, CSV, Markdown and HTML: one
row per disputed run and reviewer, then the final grade where one was set
(:func:`review.adjudication.queue_rows`).

Run ids, workflows, reviewers, values and comments come from runs and people: HTML escapes each
one, Markdown escapes what would make a table or a link of it, and CSV neutralises cells a
spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from review.adjudication import queue_rows
from review.export_text import html_table, md, spreadsheet_cell


def headers(data: dict[str, Any]) -> list[str]:
    """The columns of :func:`review.adjudication.queue_rows`: run, workflow, reviewer, a
    column per criterion of the rubric, comment."""
    return ["run", "workflow", "reviewer", *data["criteria"], "comment"]


def title(data: dict[str, Any]) -> str:
    """``Disputed overlap runs under support-quality 966e62144d62``."""
    rubric = data["rubric"]
    return f"Disputed overlap runs under {rubric['id']} {rubric['version']}"


def to_json(data: dict[str, Any]) -> str:
    """The queue as indented JSON (:func:`review.adjudication.queue_dict`), ending with a
    newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_csv(data: dict[str, Any]) -> str:
    """A header row, then one row per run and reviewer."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers(data))
    writer.writerows([spreadsheet_cell(c) for c in row] for row in queue_rows(data))
    return buf.getvalue()


def to_html(data: dict[str, Any]) -> str:
    """A standalone HTML page holding the table; every cell escaped."""
    page = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8"><title>Disputed runs</title></head><body>',
        *html_table(headers(data), queue_rows(data)),
        "</body></html>",
    ]
    return "\n".join(page) + "\n"


def to_markdown(data: dict[str, Any]) -> str:
    """The table in Markdown; every cell escaped."""
    head = headers(data)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in queue_rows(data)]
    return "\n".join(lines) + "\n"


#: The queue's file formats, by the name ``--format`` gives them.
EXPORTS = {"json": to_json, "markdown": to_markdown, "html": to_html, "csv": to_csv}

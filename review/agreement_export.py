"""The agreement report as JSON, Markdown, HTML and CSV (the terminal table is drawn in tui/).

Rater, unit and criterion names come from whoever wrote the ratings: they are data, never
markup. Markdown escapes HTML and Markdown punctuation; HTML escapes every value with
``html.escape``; CSV prefixes a text cell that a spreadsheet would run as a formula
(``= + - @``, tab, carriage return) with ``'``.

CSV: one row per criterion and figure, columns
``criterion,rubric_id,rubric_version,statistic,rater_a,rater_b,units,value,low,high``;
``statistic`` is ``percent_agreement``, ``krippendorff_alpha.LEVEL``, ``fleiss_kappa``,
``gwet_ac1`` or ``cohen_kappa.WEIGHTING`` (with the pair in ``rater_a``/``rater_b``); ``low`` and
``high`` are the 95 % bootstrap interval; an empty cell is undefined or not computed.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from typing import Any

from review.agreement import LEVELS, WEIGHTS
from review.export_text import html_table, md, plain, spreadsheet_cell

Figure = tuple[str, str, str, int | None, float | None, list[float] | None]


def figures(c: dict[str, Any]) -> Iterator[Figure]:
    """(statistic, rater a, rater b, units, value, interval) of one criterion, in report order."""
    iv = c.get("intervals") or {}
    yield (
        "percent_agreement",
        "",
        "",
        c["units"],
        c["percent_agreement"],
        iv.get("percent_agreement"),
    )
    for lv in LEVELS:
        ivl = (iv.get("krippendorff_alpha") or {}).get(lv)
        yield (f"krippendorff_alpha.{lv}", "", "", c["units"], c["krippendorff_alpha"][lv], ivl)
    yield ("fleiss_kappa", "", "", c.get("fleiss_units"), c["fleiss_kappa"], iv.get("fleiss_kappa"))
    yield ("gwet_ac1", "", "", c["units"], c["gwet_ac1"], iv.get("gwet_ac1"))
    for pair in c["cohen_kappa"]:
        a, b = pair["raters"]
        for name in WEIGHTS:
            ivp = (pair.get("intervals") or {}).get(name)
            yield (f"cohen_kappa.{name}", a, b, pair["units"], pair[name], ivp)


def number(x: float | None) -> str:
    """A figure for people: three decimals, ``—`` when undefined."""
    return "—" if x is None else f"{x:.3f}"


def interval(iv: list[float] | None) -> str:
    """A 95 % interval for people, empty when there is none."""
    return "" if iv is None else f"{iv[0]:.3f} – {iv[1]:.3f}"


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON (the contract: ``null`` for an undefined figure)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def criterion_title(c: dict[str, Any]) -> str:
    """The criterion's name, with its rubric id and version when it has them."""
    if c.get("rubric_id"):
        return f"{c['criterion']} ({c['rubric_id']} {c['rubric_version']})"
    return str(c["criterion"])


def reviewer_rows(report: dict[str, Any]) -> list[list[str]]:
    """The per-reviewer table's rows, as text."""
    rows = []
    for r in report.get("reviewers", []):
        drift = r["drift"]
        rows.append(
            [
                r["reviewer"],
                f"{r['rubric_id']} {r['rubric_version']}",
                str(r["runs_graded"]),
                "—" if r["median_seconds"] is None else f"{r['median_seconds']:.0f}",
                number(r["agreement_with_consensus"]),
                number(r["leniency"]),
                f"{r['passes_consensus_fails']} / {r['fails_consensus_passes']}",
                number(drift["change"]),
            ]
        )
    return rows


REVIEWER_HEADERS = [
    "reviewer",
    "rubric",
    "runs",
    "median s",
    "agrees with consensus",
    "leniency",
    "passes it fails / fails it passes",
    "drift",
]
FIGURE_HEADERS = ["statistic", "raters", "units", "value", "95 % interval"]


def figure_rows(c: dict[str, Any]) -> list[list[str]]:
    """The rows of one criterion's table, as text (for Markdown, HTML and the terminal)."""
    rows = []
    for stat, a, b, units, value, iv in figures(c):
        raters = f"{a} × {b}" if a else ""
        rows.append(
            [stat, raters, "" if units is None else str(units), number(value), interval(iv)]
        )
    return rows


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a table per criterion, then the reviewers."""
    out = ["# Agreement", ""]
    for c in report["criteria"]:
        out.append(f"## {md(criterion_title(c))}")
        out.append("")
        out.append(f"{c['units']} units, {c['raters']} raters, {md(c.get('scale', ''))} values")
        out.append("")
        out.append("| " + " | ".join(FIGURE_HEADERS) + " |")
        out.append("|" + "---|" * len(FIGURE_HEADERS))
        for stat, *rest in figure_rows(c):
            out.append("| " + " | ".join([f"`{stat}`", *(md(cell) for cell in rest)]) + " |")
        out.append("")
    if report.get("reviewers"):
        out += ["## Reviewers", ""]
        out.append("| " + " | ".join(REVIEWER_HEADERS) + " |")
        out.append("|" + "---|" * len(REVIEWER_HEADERS))
        for row in reviewer_rows(report):
            out.append("| " + " | ".join(md(cell) for cell in row) + " |")
        out.append("")
    return "\n".join(out)


def to_html(report: dict[str, Any]) -> str:
    """The report as a standalone HTML page; every value escaped."""
    e = html.escape
    out = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8"><title>Agreement</title></head><body>',
        "<h1>Agreement</h1>",
    ]
    for c in report["criteria"]:
        out.append(f"<h2>{e(plain(criterion_title(c)))}</h2>")
        out.append(
            f"<p>{c['units']} units, {c['raters']} raters, {e(str(c.get('scale', '')))} values</p>"
        )
        out += html_table(FIGURE_HEADERS, figure_rows(c))
    if report.get("reviewers"):
        out.append("<h2>Reviewers</h2>")
        out += html_table(REVIEWER_HEADERS, reviewer_rows(report))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


CSV_HEADERS = [
    "criterion",
    "rubric_id",
    "rubric_version",
    "statistic",
    "rater_a",
    "rater_b",
    "units",
    "value",
    "low",
    "high",
]


def to_csv(report: dict[str, Any]) -> str:
    """The report as CSV, one row per criterion and figure (see the module)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADERS)
    for c in report["criteria"]:
        for stat, a, b, units, value, iv in figures(c):
            w.writerow(
                [
                    spreadsheet_cell(str(c["criterion"])),
                    spreadsheet_cell(str(c.get("rubric_id") or "")),
                    spreadsheet_cell(str(c.get("rubric_version") or "")),
                    stat,
                    spreadsheet_cell(a),
                    spreadsheet_cell(b),
                    "" if units is None else units,
                    "" if value is None else repr(value),
                    "" if iv is None else repr(iv[0]),
                    "" if iv is None else repr(iv[1]),
                ]
            )
    return buf.getvalue()

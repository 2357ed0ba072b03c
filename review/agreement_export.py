"""The agreement report as JSON, Markdown, HTML and CSV (the terminal table is drawn in tui/).

Rater, unit and criterion names come from whoever wrote the ratings: they are data, never
markup. Markdown escapes HTML and Markdown punctuation; HTML escapes every value with
``html.escape``; CSV prefixes a text cell that a spreadsheet would run as a formula
(``= + - @``, tab, carriage return) with ``'``.

CSV: one row per criterion and figure, columns
``criterion,rubric_id,rubric_version,statistic,rater_a,rater_b,units,value,low,high,
too_few,undefined_resamples``; ``statistic`` is ``percent_agreement``,
``krippendorff_alpha.LEVEL``, ``fleiss_kappa``, ``gwet_ac1`` or ``cohen_kappa.WEIGHTING`` (with
the pair in ``rater_a``/``rater_b``); ``units`` is n, the units the figure *compares* (rated by
two raters or more; for Fleiss' kappa rated by every rater; for a pair rated by both), not the
units rated; ``low`` and ``high`` are the 95 % bootstrap interval; ``too_few`` is ``true`` when
n is under ``review.agreement.MIN_UNITS`` (10); ``undefined_resamples`` how many bootstrap
resamples had no value for the figure and are not in the interval; an empty cell is undefined or
not computed.

Every format shows n beside each figure, marks figures from too few units, counts undefined
resamples and carries the criterion's notes (high percent agreement beside a low alpha).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator
from typing import Any

from review.agreement import LEVELS, MIN_UNITS, WEIGHTS, too_few
from review.export_text import html_table, md, plain, spreadsheet_cell

#: (statistic, rater a, rater b, n compared, value, interval, undefined resamples)
Figure = tuple[str, str, str, int | None, float | None, list[float] | None, int | None]


def figures(c: dict[str, Any]) -> Iterator[Figure]:
    """Each figure of one criterion, in report order, with n: the units it compares."""
    iv = c.get("intervals") or {}
    bad = iv.get("undefined_resamples") or {}
    compared = c.get("pairable_units", c["units"])
    yield (
        "percent_agreement",
        "",
        "",
        compared,
        c["percent_agreement"],
        iv.get("percent_agreement"),
        bad.get("percent_agreement"),
    )
    for lv in LEVELS:
        ivl = (iv.get("krippendorff_alpha") or {}).get(lv)
        badl = (bad.get("krippendorff_alpha") or {}).get(lv)
        value = c["krippendorff_alpha"][lv]
        yield (f"krippendorff_alpha.{lv}", "", "", compared, value, ivl, badl)
    yield (
        "fleiss_kappa",
        "",
        "",
        c.get("fleiss_units"),
        c["fleiss_kappa"],
        iv.get("fleiss_kappa"),
        bad.get("fleiss_kappa"),
    )
    yield ("gwet_ac1", "", "", compared, c["gwet_ac1"], iv.get("gwet_ac1"), bad.get("gwet_ac1"))
    for pair in c["cohen_kappa"]:
        a, b = pair["raters"]
        piv = pair.get("intervals") or {}
        pbad = piv.get("undefined_resamples") or {}
        for name in WEIGHTS:
            yield (
                f"cohen_kappa.{name}",
                a,
                b,
                pair["units"],
                pair[name],
                piv.get(name),
                pbad.get(name),
            )


def note_text(value: float | None, n: int | None, undefined: int | None, resamples: int) -> str:
    """The note beside a figure: too few units, resamples left out of its interval."""
    parts = []
    # An undefined figure (—) from a handful of units is marked too: its n is the reason.
    if too_few(n) and (value is not None or n):
        parts.append(f"too few (n < {MIN_UNITS})")
    if value is not None and undefined:
        parts.append(f"{undefined} of {resamples} resamples undefined")
    return "; ".join(parts)


def criterion_head(c: dict[str, Any]) -> str:
    """``29 of 124 units compared, 5 raters, categorical values`` (and too few when it is)."""
    compared = c.get("pairable_units", c["units"])
    head = (
        f"{compared:,} of {c['units']:,} units compared (two ratings or more), "
        f"{c['raters']} raters, {c.get('scale', '')} values"
    )
    if c.get("too_few"):
        head += f"; too few to read (under {MIN_UNITS} compared)"
    return head


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


def window_text(report: dict[str, Any]) -> str | None:
    """``Agreement on runs started in 2026-W45 to 2026-W46 (UTC), workflow billing-support``
    for a report narrowed to some weeks or a workflow; None for one that is not."""
    window = report.get("window")
    if not window:
        return None
    where = []
    if window.get("from_week"):
        span = f"{window['from_week']}"
        if window["to_week"] != window["from_week"]:
            span += f" to {window['to_week']}"
        where.append(f"runs started in {span} (UTC)")
    if window.get("workflow"):
        where.append(f"workflow {window['workflow']}")
    return "Agreement on " + ", ".join(where)


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
FIGURE_HEADERS = ["statistic", "raters", "n", "value", "95 % interval", "note"]


def figure_rows(c: dict[str, Any]) -> list[list[str]]:
    """The rows of one criterion's table, as text (for Markdown, HTML and the terminal)."""
    rows = []
    resamples = int((c.get("intervals") or {}).get("resamples") or 0)
    for stat, a, b, units, value, iv, bad in figures(c):
        raters = f"{a} × {b}" if a else ""
        rows.append(
            [
                stat,
                raters,
                "" if units is None else str(units),
                number(value),
                interval(iv),
                note_text(value, units, bad, resamples),
            ]
        )
    return rows


#: The figures of a criterion shown on one row per criterion (the app's summary), in report
#: order, with their short headings.
SUMMARY_FIGURES = (
    ("percent_agreement", "% agree"),
    ("krippendorff_alpha.nominal", "α nominal"),
    ("krippendorff_alpha.ordinal", "α ordinal"),
    ("fleiss_kappa", "Fleiss κ"),
    ("gwet_ac1", "AC1"),
)


def summary_cells(c: dict[str, Any]) -> list[tuple[str, str, int | None, int | None]]:
    """Each of :data:`SUMMARY_FIGURES` of one criterion as (value, 95 % interval, n compared,
    undefined resamples), the value and interval written as :func:`figure_rows` writes them."""
    found = {
        stat: (number(value), interval(iv), units, bad)
        for stat, a, _, units, value, iv, bad in figures(c)
        if not a
    }
    return [found[stat] for stat, _ in SUMMARY_FIGURES]


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a table per criterion, then the reviewers."""
    out = ["# Agreement", ""]
    for c in report["criteria"]:
        out.append(f"## {md(criterion_title(c))}")
        out.append("")
        out.append(md(criterion_head(c)))
        out.append("")
        for note in c.get("notes") or []:
            out += [f"Note: {md(note)}", ""]
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
        out.append(f"<p>{e(criterion_head(c))}</p>")
        out += [f"<p>Note: {e(plain(note))}</p>" for note in c.get("notes") or []]
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
    "too_few",
    "undefined_resamples",
]


def to_csv(report: dict[str, Any]) -> str:
    """The report as CSV, one row per criterion and figure (see the module)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADERS)
    for c in report["criteria"]:
        for stat, a, b, units, value, iv, bad in figures(c):
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
                    "" if value is None else str(too_few(units)).lower(),
                    "" if bad is None else bad,
                ]
            )
    return buf.getvalue()


#: The report's file formats, by the name ``--format`` gives them.
EXPORTS = {"json": to_json, "markdown": to_markdown, "html": to_html, "csv": to_csv}

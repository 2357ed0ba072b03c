"""The weekly report's figures as text, and the report as JSON, CSV, Markdown and HTML
(review/weekly.py computes it). Each figure is written by one function here (a rate with its
interval, a change, a coverage, a cost, a budget, agreement): the exports, the command line's
table and the app's Reports area all show it through that function.

Workflow names and every other text come from runs and cards other people wrote: HTML escapes
each one, Markdown escapes the characters that would make a table or a link of them, and CSV
neutralises cells a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict
from typing import Any

from review.export_text import md, spreadsheet_cell
from review.weekly import Rate, WeeklyReport, WorkflowReport

#: Eight heights for a trend drawn in text, lowest first.
_BARS = "▁▂▃▄▅▆▇█"

#: Columns of the CSV export, one row per workflow and week.
CSV_COLUMNS = (
    "workflow",
    "week",
    "week_start",
    "runs",
    "cost_usd",
    "cost_per_run",
    "sampled",
    "graded",
    "coverage",
    "verdicts",
    "tied",
    "adjudicated",
    "task_success_n",
    "task_success_k",
    "task_success_rate",
    "task_success_low",
    "task_success_high",
    "intervention_n",
    "intervention_k",
    "intervention_rate",
    "intervention_low",
    "intervention_high",
    "flagged",
    "incidents",
    "agreement_criterion",
    "agreement_level",
    "agreement_alpha",
    "agreement_runs",
    "agreement_too_few",
    "budget_month",
    "budget_spent_usd",
    "budget_monthly_usd",
    "budget_used",
    "budget_alert",
)


def sparkline(values: list[float | None], low: float = 0.0, high: float = 1.0) -> str:
    """A rate series as bars (``▁`` = ``low``, ``█`` = ``high``); a gap is a space."""
    out = []
    for v in values:
        if v is None:
            out.append(" ")
            continue
        share = 0.0 if high <= low else (min(max(v, low), high) - low) / (high - low)
        out.append(_BARS[min(len(_BARS) - 1, int(share * len(_BARS)))])
    return "".join(out)


def to_dict(report: WeeklyReport) -> dict[str, Any]:
    """The report as plain data (the JSON shape documented in the README)."""
    workflows = []
    for wf in report.workflows:
        entry: dict[str, Any] = {
            "workflow": wf.workflow,
            "weeks": [asdict(w) for w in wf.weeks],
            "trend": {
                m: {"series": wf.series(m), "change": wf.change(m)}
                for m in ("task_success", "intervention")
            },
            "budget": asdict(wf.budget),
        }
        entry["budget"]["thresholds"] = list(wf.budget.thresholds)
        workflows.append(entry)
    return {
        "rubric": {"id": report.rubric_id, "version": report.rubric_version},
        "week": report.week,
        "weeks": report.weeks,
        "as_of": report.as_of,
        "workflows": workflows,
    }


def to_json(report: WeeklyReport) -> str:
    """The report as indented JSON, ending with a newline."""
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


def to_csv(report: WeeklyReport) -> str:
    """One row per workflow and week, columns :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for wf in report.workflows:
        b = wf.budget
        for w in wf.weeks:
            row = [
                wf.workflow,
                w.week,
                w.start,
                w.runs,
                round(w.cost_usd, 6),
                w.cost_per_run,
                w.sampled,
                w.graded,
                w.coverage,
                w.verdicts,
                w.tied,
                w.adjudicated,
                *_rate_cells(w.task_success),
                *_rate_cells(w.intervention),
                w.flagged,
                w.incidents,
                *_agreement_cells(w),
                b.month,
                round(b.spent_usd, 6),
                b.monthly_usd,
                b.used,
                b.alert,
            ]
            writer.writerow([spreadsheet_cell(_rounded(v)) for v in row])
    return out.getvalue()


def _agreement_cells(w: Any) -> list[object]:
    a = w.agreement
    if a is None:
        return ["", "", "", 0, ""]
    return [a.criterion, a.level, a.alpha, a.compared, str(a.too_few).lower()]


def agreement_parts(w: Any) -> tuple[str, str] | None:
    """A week's agreement as (value, its n): ``("α 0.74", "(n 12)")``, ``("α 0.00", "(n 3,
    too few)")``; None when no run was graded twice."""
    a = w.agreement
    if a is None or a.compared == 0:
        return None
    value = "–" if a.alpha is None else f"{a.alpha:.2f}"
    few = ", too few" if a.too_few else ""
    return f"α {value}", f"(n {a.compared}{few})"


def agreement_text(w: Any) -> str:
    """``α 0.74 (n 12)``; ``α 0.00 (n 3, too few)``; ``–`` when no run was graded twice."""
    parts = agreement_parts(w)
    return "–" if parts is None else " ".join(parts)


def _rate_cells(rate: Rate) -> list[object]:
    return [rate.n, rate.k, rate.rate, rate.low, rate.high]


def _rounded(value: object) -> object:
    """A float as the CSV writes it: six decimals, no float noise (0.243148, not
    0.24314799999999984)."""
    return round(value, 6) if isinstance(value, float) else value


def pct(value: float | None, digits: int = 0) -> str:
    """``81 %``; an en dash for a figure that does not exist."""
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def rate_parts(rate: Rate) -> tuple[str, str, str] | None:
    """A rate as (value, 95 % interval, counts): ``("31 %", "[26–37]", "(81/263)")``; None
    without verdicts. A view may style the parts; :func:`rate_text` joins them."""
    if rate.rate is None or rate.low is None or rate.high is None:
        return None
    return (
        f"{rate.rate * 100:.0f} %",
        f"[{rate.low * 100:.0f}–{rate.high * 100:.0f}]",
        f"({rate.k}/{rate.n})",
    )


def rate_text(rate: Rate) -> str:
    """``31 % [26–37] (81/263)``; ``–`` without verdicts."""
    parts = rate_parts(rate)
    return "–" if parts is None else " ".join(parts)


def change_text(change: float | None) -> str:
    """``+4 pts`` / ``−3 pts`` against the previous week; ``–`` when there is nothing to compare."""
    if change is None:
        return "–"
    points = change * 100
    sign = "+" if points >= 0 else "−"
    return f"{sign}{abs(points):.0f} pts"


def money(value: float | None, *, fine: bool = False) -> str:
    """``$12.34``; ``fine``: four decimals under a dollar, for cost per run (``$0.0043``)."""
    if value is None:
        return "–"
    return f"${value:,.4f}" if fine and abs(value) < 1 else f"${value:,.2f}"


def budget_text(wf: WorkflowReport) -> str:
    """``$1.22 of $5.00 (24 %) in 2026-11; alert 50 %`` or ``no budget``."""
    b = wf.budget
    if b.monthly_usd is None:
        return f"{money(b.spent_usd)} in {b.month}; no budget on a card"
    alert = f"; ALERT {pct(b.alert)} crossed" if b.alert is not None else ""
    return f"{money(b.spent_usd)} of {money(b.monthly_usd)} ({pct(b.used)}) in {b.month}{alert}"


#: The week-by-week table's columns (:func:`week_cells`), as the exports and the command line's
#: table head them.
WEEK_HEADERS = (
    "week",
    "runs",
    "task success [95 % CI]",
    "intervention [95 % CI]",
    "coverage",
    "tied",
    "flagged",
    "incidents",
    "cost/run",
    "agreement (n)",
)
#: The same columns headed for a narrow terminal (:func:`week_cells` with ``compact``).
WEEK_HEADERS_COMPACT = (
    "week",
    "runs",
    "success",
    "interv",
    "cover",
    "tied",
    "flag",
    "incid",
    "$/run",
    "α",
)


def week_cells(w: Any, *, compact: bool = False) -> list[str]:
    """One week of a workflow as the table's cells, in :data:`WEEK_HEADERS` order; ``compact``:
    the week without its year, rates and coverage without their intervals and counts, agreement
    without its n (for a narrow terminal, under :data:`WEEK_HEADERS_COMPACT`)."""
    if compact:
        agreement = agreement_parts(w)
        return [
            w.week[-3:],
            str(w.runs),
            pct(w.task_success.rate),
            pct(w.intervention.rate),
            pct(w.coverage),
            str(w.tied),
            str(w.flagged),
            str(w.incidents),
            money(w.cost_per_run, fine=True),
            "–" if agreement is None else agreement[0].removeprefix("α "),
        ]
    return [
        w.week,
        str(w.runs),
        rate_text(w.task_success),
        rate_text(w.intervention),
        f"{pct(w.coverage)} ({w.graded}/{w.sampled})",
        str(w.tied),
        str(w.flagged),
        str(w.incidents),
        money(w.cost_per_run, fine=True),
        agreement_text(w),
    ]


def trend_line(wf: WorkflowReport) -> str:
    """``task success  █▇▃ −48 pts   intervention  ▃▃▇ +46 pts   budget: …``: both rates' trends
    on one 0–100 % scale with the change against the previous week, then the budget."""
    return (
        f"task success {sparkline(wf.series('task_success'))} "
        f"{change_text(wf.change('task_success'))}   intervention "
        f"{sparkline(wf.series('intervention'))} "
        f"{change_text(wf.change('intervention'))}   budget: {budget_text(wf)}"
    )


def to_markdown(report: WeeklyReport) -> str:
    """A section per workflow: its weeks as a table, the trend and the budget."""
    lines = [
        f"# Weekly report {report.week}",
        "",
        f"Weeks {report.weeks[0]} to {report.weeks[-1]} (UTC, Monday start); rubric "
        f"{md(report.rubric_id)} version {report.rubric_version}; spend as of "
        f"{report.as_of}.",
        "",
    ]
    if not report.workflows:
        lines += ["No runs, grades or budgets in these weeks.", ""]
    for wf in report.workflows:
        lines += [f"## {md(wf.workflow)}", ""]
        lines.append("| " + " | ".join(WEEK_HEADERS) + " |")
        lines.append("|" + "|".join("---" for _ in WEEK_HEADERS) + "|")
        for w in wf.weeks:
            lines.append("| " + " | ".join(week_cells(w)) + " |")
        lines += [
            "",
            f"- Task success trend: `{sparkline(wf.series('task_success'))}` "
            f"{change_text(wf.change('task_success'))} vs the previous week",
            f"- Intervention trend: `{sparkline(wf.series('intervention'))}` "
            f"{change_text(wf.change('intervention'))} vs the previous week",
            f"- Budget: {budget_text(wf)}",
            "",
        ]
    return "\n".join(lines)


def to_html(report: WeeklyReport) -> str:
    """A standalone HTML page; every text from outside is escaped."""
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Weekly report {e(report.week)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.alert{color:#b00}</style>",
        "</head><body>",
        f"<h1>Weekly report {e(report.week)}</h1>",
        f"<p>Weeks {e(report.weeks[0])} to {e(report.weeks[-1])} (UTC, Monday start); rubric "
        f"{e(report.rubric_id)} version {e(report.rubric_version)}; spend as of "
        f"{e(report.as_of)}.</p>",
    ]
    if not report.workflows:
        parts.append("<p>No runs, grades or budgets in these weeks.</p>")
    for wf in report.workflows:
        parts.append(f"<h2>{e(wf.workflow)}</h2>")
        parts.append("<table><thead><tr>")
        parts += [f"<th>{e(h)}</th>" for h in WEEK_HEADERS]
        parts.append("</tr></thead><tbody>")
        for w in wf.weeks:
            parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in week_cells(w)) + "</tr>")
        parts.append("</tbody></table>")
        alert = ' class="alert"' if wf.budget.alert is not None else ""
        parts.append(
            "<ul>"
            f"<li>Task success trend: {e(sparkline(wf.series('task_success')))} "
            f"{e(change_text(wf.change('task_success')))} vs the previous week</li>"
            f"<li>Intervention trend: {e(sparkline(wf.series('intervention')))} "
            f"{e(change_text(wf.change('intervention')))} vs the previous week</li>"
            f"<li{alert}>Budget: {e(budget_text(wf))}</li>"
            "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


#: The report's file formats, by the name ``--format`` gives them.
EXPORTS = {"json": to_json, "markdown": to_markdown, "html": to_html, "csv": to_csv}

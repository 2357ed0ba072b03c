"""What the Reports area draws, as Rich renderables built from the domain's figures.

Each figure's text (labels, rounding, order) comes from the one function in ``review/`` that
writes it for the command line and the files too (:mod:`review.weekly_export`); here it is only
laid out and styled.

Every name in them (workflows, reviewers, criteria, comments) comes from runs, stores or files:
it is shown as plain ``Text`` (through :func:`tui.text.one_line`), never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from review import weekly_export as weekly_text
from review.progress import WorkflowProgress
from review.scorecard import Cell, ScorecardRow
from review.weekly import Rate, WeeklyReport, WorkflowReport
from tui.text import one_line

#: Under this many columns the tables leave the intervals out (and say where they are).
WIDE = 110


class Fitted:
    """A renderable built for the width it is drawn at: a report's table keeps its intervals
    when there is room for them and drops them on an 80-column terminal, instead of cutting
    every figure to "0.9…"."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        yield self.build(options.max_width)


STATUS_STYLE = {"ok": "green", "warn": "yellow", "bad": "bold red", "gap": "bold red"}
STATUS_MARK = {"ok": "✓", "warn": "!", "bad": "✗", "gap": "∅ gap:"}


def progress_table(rows: list[WorkflowProgress]) -> Table:
    """Your own review so far, per workflow."""
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.title = Text("Your review", "bold")
    for label in ("workflow", "assigned", "graded", "task success", "intervention", "flagged"):
        table.add_column(label, justify="left" if label == "workflow" else "right")
    for r in rows:
        table.add_row(
            Text(one_line(r.workflow, 40)),
            f"{r.assigned:,}",
            f"{r.graded:,}",
            weekly_text.pct(r.task_success_rate),
            weekly_text.pct(r.intervention_rate),
            f"{r.flagged:,}",
        )
    return table


def rate_text(r: Rate) -> Text:
    """``31 % [19–46] (12/39)``: the rate (bold), its Wilson 95 % interval and the counts."""
    parts = weekly_text.rate_parts(r)
    if parts is None:
        return Text("–", "dim")
    value, interval, counts = parts
    t = Text(value, "bold")
    t.append(f" {interval} {counts}", "dim")
    return t


def change_text(change: float | None) -> Text:
    """`` −48 pts`` against the previous week; nothing when there is nothing to compare."""
    return Text("") if change is None else Text(f" {weekly_text.change_text(change)}", "dim")


def trend_text(wf: WorkflowReport) -> Text:
    """Both rates week by week as bars on one fixed 0–100 % scale (a bar's height is the rate,
    not its place between this workflow's own lowest and highest week, which would make a
    9-point dip look like a collapse), each with its figure; a week without verdicts is blank."""
    t = Text()
    for i, (label, metric, style) in enumerate(
        (("success", "task_success", "green"), ("intervention", "intervention", "yellow"))
    ):
        values = wf.series(metric)  # type: ignore[arg-type]
        if i:
            t.append("\n")
        t.append(f"{label:<13}", "dim")
        t.append(" ".join(weekly_text.sparkline([v]) * 3 for v in values), style)
        t.append("   ")
        t.append(" ".join(f"{weekly_text.pct(v):>5}" for v in values), "dim")
    t.append("\n" + " " * 13 + " ".join(w.week[-3:] for w in wf.weeks), "dim")
    t.append("\n")
    t.append_text(agreement_line(wf))
    return t


def weekly_header(report: WeeklyReport, *, reference: str) -> Text:
    t = Text(f"Weekly report · {report.week}", "bold")
    t.append(f"  ({reference}; weeks {report.weeks[0]} to {report.weeks[-1]})", "dim")
    t.append(f"\nrubric {report.rubric_id}@{report.rubric_version[:12]}", "dim")
    return t


def workflow_title(wf: WorkflowReport) -> Text:
    """The workflow and its rates in the report's week, or in the latest week that has them
    (named) when the report's week has no verdict yet."""
    t = Text(one_line(wf.workflow, 40), "bold")
    for label, metric in (("success", "task_success"), ("intervention", "intervention")):
        t.append(f"   {label} ")
        week = next((w for w in reversed(wf.weeks) if getattr(w, metric).rate is not None), None)
        if week is None:
            t.append("—", "dim")
            continue
        t.append_text(rate_text(getattr(week, metric)))
        if week is wf.current:
            t.append_text(change_text(wf.change(metric)))  # type: ignore[arg-type]
        else:
            t.append(f" in {week.week}", "dim")
    return t


def budget_text(wf: WorkflowReport) -> Text:
    """The month's spend against the card's budget, and the share used as a bar."""
    b = wf.budget
    style = "red" if b.alert is not None and b.alert >= 1 else "yellow" if b.alert else ""
    t = Text("budget ", "dim")
    t.append(weekly_text.budget_text(wf), style or ("yellow" if b.monthly_usd is None else ""))
    if b.monthly_usd is not None:
        filled = min(20, round((b.used or 0.0) * 20))
        t.append("  " + "█" * filled + "░" * (20 - filled), style or "green")
    return t


def weeks_table(wf: WorkflowReport, width: int = WIDE) -> Table:
    """The workflow week by week, as the command line's table; when it is wider than ``width``:
    short headings, rates without their intervals (the title line keeps the report week's)."""
    for compact in (False, True):
        table = Table(box=None, expand=False, header_style="bold", pad_edge=False)
        for i, label in enumerate(
            weekly_text.WEEK_HEADERS_COMPACT if compact else weekly_text.WEEK_HEADERS
        ):
            table.add_column(label, justify="left" if i == 0 else "right", no_wrap=True)
        for w in wf.weeks:
            table.add_row(
                *(
                    Text(c, "dim" if c == "–" else "")
                    for c in weekly_text.week_cells(w, compact=compact)
                )
            )
        if compact or _width(table) <= width:
            return table
    raise AssertionError("unreachable")


def _width(table: Table) -> int:
    """The columns ``table`` takes at most."""
    from rich.measure import Measurement

    console = Console(width=1000)
    return Measurement.get(console, console.options, table).maximum


def week_agreement_text(w: Any) -> Text:
    """A week's agreement with its n: ``α 0.75 (n 10)``; from fewer than 10 runs compared it
    says so (``α 1.00 (n 3, too few)``); ``–`` without runs graded twice."""
    parts = weekly_text.agreement_parts(w)
    if parts is None:
        return Text("–", "dim")
    value, n = parts
    few = w.agreement is not None and w.agreement.too_few
    t = Text(value, "dim" if few or value.endswith("–") else "bold")
    t.append(f" {n}", "yellow" if few else "dim")
    return t


def agreement_line(wf: WorkflowReport) -> Text:
    """Agreement between reviewers week by week (alpha on the outcome criterion, with n, the
    runs graded by two reviewers or more), and the note for a week where one level dominates."""
    t = Text(f"{'agreement':<13}", "dim")
    shown = [w for w in wf.weeks if w.agreement is not None and w.agreement.compared]
    if not shown:
        t.append("no run of these weeks graded by two reviewers", "dim")
    for i, w in enumerate(shown):
        if i:
            t.append(" · ", "dim")
        t.append(f"{w.week[-3:]} ", "dim")
        t.append_text(week_agreement_text(w))
    for w in shown:
        if w.agreement is not None and w.agreement.note:
            t.append(f"\n{'':<13}{w.week[-3:]}: {one_line(w.agreement.note, 200)}", "yellow")
    return t


# --- agreement ------------------------------------------------------------------------------


def agreement_table(report: dict[str, Any], width: int = WIDE) -> Table:
    """One row per criterion: the figures as the command line writes them, each with its 95 %
    bootstrap interval under it when there is room (``width`` of ``WIDE`` or more)."""
    from review.agreement_export import SUMMARY_FIGURES, summary_cells

    wide = width >= WIDE
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    table.add_column("criterion", min_width=12, no_wrap=True)
    table.add_column("compared" if wide else "n/rated", justify="right", no_wrap=True)
    table.add_column("raters", justify="right", no_wrap=True)
    for _, label in SUMMARY_FIGURES:
        table.add_column(label, justify="right", no_wrap=True)
    for c in report.get("criteria", []):
        units, pairable = c.get("units", 0), c.get("pairable_units", c.get("units", 0))
        name = Text(one_line(str(c.get("criterion")), 30))
        if c.get("too_few"):
            name.append(" few", "yellow")
        cells = []
        for (stat, _), (value, interval, n, _bad) in zip(
            SUMMARY_FIGURES, summary_cells(c), strict=True
        ):
            cell = Text(value, "dim" if value == "—" else "bold")
            if stat == "fleiss_kappa" and value != "—":
                # Fleiss' kappa compares only the runs every reviewer rated: its own n.
                cell.append(f" n {n or 0:,}", "dim")
            if wide and interval:
                cell.append(f"\n{interval}", "dim")
            cells.append(cell)
        table.add_row(
            name,
            f"{pairable:,} of {units:,}" if wide else f"{pairable:,}/{units:,}",
            f"{c.get('raters', 0):,}",
            *cells,
        )
    if not wide:
        table.caption = Text(f"95 % intervals at {WIDE} columns or wider", "dim")
    return table


def pairs_table(report: dict[str, Any]) -> Table:
    """Cohen's kappa per pair of reviewers and criterion."""
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    from review.agreement import too_few
    from review.agreement_export import number

    labels = ("criterion", "reviewers", "n", "κ", "κ linear", "κ quadratic", "undefined")
    for label in labels:
        table.add_column(label, justify="left" if label in ("criterion", "reviewers") else "right")
    for c in report.get("criteria", []):
        resamples = (c.get("intervals") or {}).get("resamples") or 0
        for pair in c.get("cohen_kappa") or []:
            a, b = (one_line(str(r), 20) for r in pair.get("raters", ["?", "?"]))
            n = Text(f"{pair.get('units', 0):,}")
            if too_few(pair.get("units", 0)):
                n.append(" too few", "yellow")
            bad = ((pair.get("intervals") or {}).get("undefined_resamples") or {}).get("unweighted")
            table.add_row(
                Text(one_line(str(c.get("criterion")), 30)),
                Text(f"{a} · {b}"),
                n,
                number(pair.get("unweighted")),
                number(pair.get("linear")),
                number(pair.get("quadratic")),
                Text(f"{bad}/{resamples}" if bad else "", "dim"),
            )
    return table


def undefined_text(report: dict[str, Any]) -> Text | None:
    """Per criterion, the bootstrap resamples in which a shown figure was undefined (they are
    not in its interval); None when every resample gave every figure."""
    from review.agreement_export import SUMMARY_FIGURES, summary_cells

    lines = []
    for c in report.get("criteria", []):
        iv = c.get("intervals") or {}
        parts = [
            f"{label} {bad}"
            for (_, label), (*_, bad) in zip(SUMMARY_FIGURES, summary_cells(c), strict=True)
            if bad
        ]
        if parts:
            lines.append(
                f"{one_line(str(c.get('criterion')), 30)}: {', '.join(parts)} "
                f"of {iv.get('resamples')} resamples"
            )
    if not lines:
        return None
    return Text(
        "Undefined bootstrap resamples (left out of the intervals):\n" + "\n".join(lines), "dim"
    )


def reviewers_table(report: dict[str, Any]) -> Table:
    """Per reviewer: runs graded, median time, agreement with the consensus, leniency, drift
    (the command line's columns and figures)."""
    from review.agreement_export import REVIEWER_HEADERS, reviewer_rows

    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    for i, label in enumerate(REVIEWER_HEADERS):
        # The figures keep one line each; a long heading wraps instead.
        table.add_column(label, justify="left" if i < 2 else "right", no_wrap=i < 2)
    for row in reviewer_rows(report):
        table.add_row(*(Text(one_line(cell, 40)) for cell in row))
    return table


def agreement_group(report: dict[str, Any]) -> Group:
    if not report.get("criteria"):
        return Group(
            Text(
                "No run has been graded by two reviewers yet: agreement needs the overlap "
                "share of the sample (overlap in [review]).",
                "dim",
            )
        )
    from review.agreement import MIN_UNITS

    # The reviewers counted from the report, never assumed (the demo has three, a team four).
    raters = max(int(c.get("raters") or 0) for c in report["criteria"])
    note = Text(
        "compared (runs): n, the runs rated by two reviewers or more, of the runs rated; "
        f"few (beside a criterion): under {MIN_UNITS} compared, too few for the figures to say "
        "much. Fleiss' kappa "
        "counts only the runs every reviewer of the criterion rated (its own n); "
        f"when no run was rated by all {raters} reviewers it is undefined (—): read "
        "Krippendorff's alpha and Gwet's AC1, which take any number of ratings a run.",
        "dim",
    )
    notes = [
        Text(f"{one_line(str(c.get('criterion')), 30)}: {one_line(n, 200)}", "yellow")
        for c in report.get("criteria", [])
        for n in c.get("notes") or []
    ]
    undefined = undefined_text(report)
    parts: list[Any] = [
        Text("Agreement per criterion (95 % bootstrap intervals)", "bold"),
        Fitted(lambda width: agreement_table(report, width)),
        *notes,
        note,
        *([undefined] if undefined is not None else []),
        Text(""),
        Text("Cohen's kappa per pair", "bold"),
        pairs_table(report),
    ]
    if report.get("reviewers"):
        parts += [Text(""), Text("Reviewers", "bold"), reviewers_table(report)]
    return Group(*parts)


# --- scorecard ------------------------------------------------------------------------------


def cell_text(cell: Cell) -> Text:
    """A scorecard cell: its mark, then each of its facts on a line of its own."""
    t = Text(STATUS_MARK[cell.status] + " ", STATUS_STYLE[cell.status])
    style = STATUS_STYLE[cell.status] if cell.status != "ok" else ""
    for i, part in enumerate(cell.text.split(" · ")):
        if i:
            t.append("\n  ")
        t.append(one_line(part, 40), style)
    return t


def scorecard_table(rows: list[ScorecardRow]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True, show_lines=False)
    table.add_column("workflow")
    for name in ("OWN", "TEST", "RUN", "SEE", "SAFE", "$"):
        table.add_column(name, ratio=1)
    for row in rows:
        table.add_row(
            Text(one_line(row.workflow, 24), "bold"), *(cell_text(c) for _, c in row.cells)
        )
        table.add_row("", "", "", "", "", "", "")
    return table

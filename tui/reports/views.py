"""What the Reports area draws, as Rich renderables built from the domain's figures.

Every name in them (workflows, reviewers, criteria, comments) comes from runs, stores or files:
it is shown as plain ``Text`` (through :func:`tui.text.one_line`), never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from review.progress import WorkflowProgress
from review.scorecard import Cell, ScorecardRow
from review.weekly import Rate, WeeklyReport, WorkflowReport
from tui.text import one_line

if TYPE_CHECKING:  # numpy stays off the app's start path
    from review.agreement import OutcomeAgreement

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


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


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
            pct(r.task_success_rate),
            pct(r.intervention_rate),
            f"{r.flagged:,}",
        )
    return table


def rate_text(r: Rate, *, counts: bool = True) -> Text:
    """``72% (61–81%) 18/25``: the rate, its Wilson 95 % interval and the counts."""
    if r.rate is None:
        return Text("—", "dim")
    t = Text(f"{r.rate:.0%}", "bold")
    t.append(f" ({pct(r.low)[:-1]}–{pct(r.high)})", "dim")
    if counts:
        t.append(f" {r.k}/{r.n}", "dim")
    return t


def change_text(change: float | None) -> Text:
    if change is None:
        return Text("")
    points = change * 100
    arrow = "▲" if points > 0 else "▼" if points < 0 else "="
    return Text(f" {arrow}{abs(points):.0f} pts", "dim")


def trend_text(wf: WorkflowReport) -> Text:
    """Both rates week by week as bars on one fixed 0–100 % scale (a bar's height is the rate,
    not its place between this workflow's own lowest and highest week, which would make a
    9-point dip look like a collapse), each with its figure; a week without verdicts is blank."""
    from review.weekly_export import sparkline

    t = Text()
    for i, (label, metric, style) in enumerate(
        (("success", "task_success", "green"), ("intervention", "intervention", "yellow"))
    ):
        values = wf.series(metric)  # type: ignore[arg-type]
        if i:
            t.append("\n")
        t.append(f"{label:<13}", "dim")
        t.append(" ".join(sparkline([v]) * 3 for v in values), style)
        t.append("   ")
        t.append("  ".join(f"{pct(v):>4}" for v in values), "dim")
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
    b = wf.budget
    t = Text("spend ", "dim")
    t.append(f"${b.spent_usd:,.2f}")
    if b.monthly_usd is None:
        t.append(" · no budget on the card", "yellow")
        return t
    t.append(f" of ${b.monthly_usd:,.2f} in {b.month} ", "dim")
    used = b.used or 0.0
    filled = min(20, round(used * 20))
    style = "red" if b.alert is not None and b.alert >= 1 else "yellow" if b.alert else "green"
    t.append("█" * filled + "░" * (20 - filled), style)
    t.append(f" {pct(b.used)}", style)
    if b.alert is not None:
        t.append(f"  past the {b.alert:.0%} alert", f"bold {style}")
    return t


def weeks_table(wf: WorkflowReport, width: int = WIDE) -> Table:
    """The workflow week by week; narrower than ``WIDE``: short headings, rates without
    their intervals (the title line keeps the report week's)."""
    wide = width >= WIDE
    table = Table(box=None, expand=False, header_style="bold", pad_edge=False)
    labels = (
        (
            "week",
            "runs",
            "cost/run",
            "sampled",
            "graded",
            "coverage",
            "success",
            "intervention",
            "tied",
            "flagged",
            "incidents",
        )
        if wide
        else (
            "week",
            "runs",
            "$/run",
            "sampl",
            "grade",
            "cover",
            "succ",
            "interv",
            "tied",
            "flag",
            "incid",
        )
    )
    for label in labels:
        table.add_column(label, justify="left" if label == "week" else "right", no_wrap=True)
    for w in wf.weeks:
        table.add_row(
            w.week if wide else w.week[-3:],
            f"{w.runs:,}",
            "—" if w.cost_per_run is None else f"${w.cost_per_run:.4f}",
            f"{w.sampled:,}",
            f"{w.graded:,}",
            pct(w.coverage),
            rate_text(w.task_success, counts=False) if wide else pct(w.task_success.rate),
            rate_text(w.intervention, counts=False) if wide else pct(w.intervention.rate),
            f"{w.tied:,}",
            f"{w.flagged:,}",
            f"{w.incidents:,}",
        )
    return table


def week_agreement_text(a: OutcomeAgreement | None) -> Text:
    """A week's agreement with its n: ``0.75 (n 10)``; from fewer than 10 runs compared it says
    so (``1.00 (n 3, too few)``); ``—`` without runs graded twice."""
    if a is None or a.compared == 0:
        return Text("—", "dim")
    t = Text(_num(a.alpha), "dim" if a.too_few or a.alpha is None else "bold")
    t.append(f" (n {a.compared}", "dim")
    if a.too_few:
        t.append(", too few", "yellow")
    t.append(")", "dim")
    return t


def agreement_line(wf: WorkflowReport) -> Text:
    """Agreement between reviewers week by week (alpha on the outcome criterion, with n, the
    runs graded by two reviewers or more), and the note for a week where one level dominates."""
    t = Text(f"{'agreement α':<13}", "dim")
    shown = [w for w in wf.weeks if w.agreement is not None and w.agreement.compared]
    if not shown:
        t.append("no run of these weeks graded by two reviewers", "dim")
    for i, w in enumerate(shown):
        if i:
            t.append(" · ", "dim")
        t.append(f"{w.week[-3:]} ", "dim")
        t.append_text(week_agreement_text(w.agreement))
    for w in shown:
        if w.agreement is not None and w.agreement.note:
            t.append(f"\n{'':<13}{w.week[-3:]}: {one_line(w.agreement.note, 200)}", "yellow")
    return t


# --- agreement ------------------------------------------------------------------------------


def points(share: float) -> str:
    """A change of a share in points, signed (no "-0")."""
    value = round(share * 100)
    return "±0 pts" if value == 0 else f"{value:+d} pts"


def _num(x: Any, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _with_interval(c: dict[str, Any], key: str, value: Any, *, wide: bool = True) -> Text:
    t = Text(_num(value), "bold" if value is not None else "dim")
    if not wide:
        return t
    iv: Any = c.get("intervals") or {}
    for part in key.split("."):
        iv = iv.get(part) if isinstance(iv, dict) else None
    if isinstance(iv, list) and len(iv) == 2 and value is not None:
        t.append(f" [{_num(iv[0])},{_num(iv[1])}]", "dim")
    return t


def agreement_table(report: dict[str, Any], width: int = WIDE) -> Table:
    """One row per criterion: the figures, with their 95 % bootstrap intervals when there is
    room (``width`` of ``WIDE`` or more)."""
    wide = width >= WIDE
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    table.add_column("criterion", min_width=12, no_wrap=True)
    labels = (
        ("compared", "raters", "% agree", "α nominal", "α ordinal", "Fleiss*", "AC1")
        if wide
        else ("n/rated", "raters", "agree", "α nom", "α ord", "Fleiss*", "AC1")
    )
    for label in labels:
        table.add_column(label, justify="right", no_wrap=True)
    for c in report.get("criteria", []):
        alpha = c.get("krippendorff_alpha") or {}
        units, pairable = c.get("units", 0), c.get("pairable_units", c.get("units", 0))

        def figure(key: str, value: Any, c: dict[str, Any] = c) -> Text:
            return _with_interval(c, key, value, wide=wide)

        name = Text(one_line(str(c.get("criterion")), 30))
        if c.get("too_few"):
            name.append(" few", "yellow")
        fleiss = figure("fleiss_kappa", c.get("fleiss_kappa"))
        if wide and c.get("fleiss_kappa") is not None:
            fleiss.append(f" n {c.get('fleiss_units', 0):,}", "dim")
        table.add_row(
            name,
            f"{pairable:,} of {units:,}" if wide else f"{pairable:,}/{units:,}",
            f"{c.get('raters', 0):,}",
            figure("percent_agreement", c.get("percent_agreement")),
            figure("krippendorff_alpha.nominal", alpha.get("nominal")),
            figure("krippendorff_alpha.ordinal", alpha.get("ordinal")),
            fleiss,
            figure("gwet_ac1", c.get("gwet_ac1")),
        )
    if not wide:
        table.caption = Text(f"95 % intervals at {WIDE} columns or wider", "dim")
    return table


def pairs_table(report: dict[str, Any]) -> Table:
    """Cohen's kappa per pair of reviewers and criterion."""
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    from review.agreement import too_few

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
                _num(pair.get("unweighted")),
                _num(pair.get("linear")),
                _num(pair.get("quadratic")),
                Text(f"{bad}/{resamples}" if bad else "", "dim"),
            )
    return table


def undefined_text(report: dict[str, Any]) -> Text | None:
    """Per criterion, the bootstrap resamples in which a shown figure was undefined (they are
    not in its interval); None when every resample gave every figure."""
    names = (
        ("% agree", ("percent_agreement",)),
        ("α nominal", ("krippendorff_alpha", "nominal")),
        ("α ordinal", ("krippendorff_alpha", "ordinal")),
        ("Fleiss κ", ("fleiss_kappa",)),
        ("AC1", ("gwet_ac1",)),
    )
    lines = []
    for c in report.get("criteria", []):
        iv = c.get("intervals") or {}
        bad: Any = iv.get("undefined_resamples") or {}
        parts = []
        for label, path in names:
            count: Any = bad
            for key in path:
                count = count.get(key) if isinstance(count, dict) else None
            if count:
                parts.append(f"{label} {count}")
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


def reviewers_table(rows: list[dict[str, Any]]) -> Table:
    """Per reviewer: runs graded, median time, agreement with the consensus, leniency, drift."""
    table = Table(box=None, header_style="bold", pad_edge=False, expand=True)
    for label in ("reviewer", "runs", "median s/run", "vs consensus", "leniency", "drift"):
        table.add_column(label, justify="left" if label == "reviewer" else "right")
    for r in rows:
        drift = r.get("drift") or {}
        leniency = r.get("leniency")
        lean = "—"
        if isinstance(leniency, int | float):
            lean = points(leniency)
        change = drift.get("change") if isinstance(drift, dict) else None
        table.add_row(
            Text(one_line(str(r.get("reviewer")), 20)),
            f"{r.get('runs_graded', 0):,}",
            _num(r.get("median_seconds"), 0),
            pct(r.get("agreement_with_consensus")),
            lean,
            "—" if change is None else points(change),
        )
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
        "much. * Fleiss' kappa "
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
        parts += [Text(""), Text("Reviewers", "bold"), reviewers_table(report["reviewers"])]
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

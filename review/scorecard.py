"""The scorecard: one row per workflow, the six parts of the operating model an agent in
production needs, each as a cell that is fine, needs a look, is failing, or is missing.

- **OWN**: the owners on the agent card (business, technical, model steward).
- **TEST**: the golden set (its size and age) and the last agreement between reviewers.
- **RUN**: runbooks present and valid, and the last drill.
- **SEE**: review coverage, task success rate and intervention rate, in the report's week.
- **SAFE**: the autonomy tier and whether the kill switch's target answered at the last check.
- **$**: spend in the month to date against the card's monthly budget.

A part that does not exist (no card, no runbook, no golden set, no check, no budget) is a
**gap** and says so; it is never shown as fine. What the scorecard knows of cards, runbooks,
golden sets and switch checks comes in as plain data (:class:`WorkflowFacts`): ``review`` does
not import ``runbooks``; the caller (the app, the CLI) reads them. Rates, coverage, spend and
agreement are computed here from the local database (:mod:`review.weekly`,
:func:`review.ratings.workflow_agreement`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from review.rubric import Rubric
from review.weekly import BudgetLimit, WorkflowReport, weekly_report
from store.timestamps import instant_or_none

Status = Literal["ok", "warn", "bad", "gap"]
#: Worst first: a part shows its worst finding.
_RANK: dict[Status, int] = {"gap": 0, "bad": 1, "warn": 2, "ok": 3}

#: A golden set smaller than this, or older than ``GOLDEN_MAX_AGE_DAYS``, needs a look.
GOLDEN_MIN_CASES = 30
GOLDEN_MAX_AGE_DAYS = 30
#: Krippendorff's alpha under this is too low to rely on the grades (his tentative threshold).
ALPHA_TENTATIVE = 0.667
#: No drill in this many days needs a look.
DRILL_MAX_AGE_DAYS = 90
#: Review coverage (graded of sampled) under this needs a look.
COVERAGE_LOW = 0.8


@dataclass(frozen=True)
class Cell:
    status: Status
    text: str


@dataclass(frozen=True)
class SwitchCheck:
    """A kill-switch channel's last live read."""

    channel: str
    checked_at: str
    reachable: bool
    state: str | None
    #: Why it could not be read (one line, e.g. "no token in the keyring ...").
    error: str | None = None


@dataclass(frozen=True)
class WorkflowFacts:
    """What the caller read from files and the on-call room for one workflow."""

    workflow: str
    #: Role to name, from the agent card; None when the workflow has no card.
    owners: Mapping[str, str] | None = None
    tier: str | None = None
    #: The kill switch's primary target, as a person reads it (``flagd flags/x.json``).
    switch: str | None = None
    budget: BudgetLimit | None = None
    runbooks: int = 0
    #: Runbook files that fail their checks (workspace-wide; said on every row).
    runbook_problems: int = 0
    last_drill: str | None = None
    golden_cases: int | None = None
    golden_written: str | None = None
    checks: list[SwitchCheck] = field(default_factory=list)


@dataclass(frozen=True)
class ScorecardRow:
    workflow: str
    own: Cell
    test: Cell
    run: Cell
    see: Cell
    safe: Cell
    spend: Cell

    @property
    def cells(self) -> list[tuple[str, Cell]]:
        return [
            ("OWN", self.own),
            ("TEST", self.test),
            ("RUN", self.run),
            ("SEE", self.see),
            ("SAFE", self.safe),
            ("$", self.spend),
        ]


def _worst(*cells: Cell) -> Status:
    return min((c.status for c in cells), key=lambda s: _RANK[s])


def _days(since: str | None, now: datetime) -> float | None:
    moment = instant_or_none(since) if since else None
    return None if moment is None else (now - moment).total_seconds() / 86400


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def own_cell(f: WorkflowFacts) -> Cell:
    if f.owners is None:
        return Cell("gap", "no agent card")
    names = {role: name for role, name in f.owners.items() if name}
    missing = [r for r in ("business", "technical", "model_steward") if r not in names]
    text = " · ".join(names.values())
    if missing:
        return Cell("gap", f"{text} · no {', '.join(missing)}".strip(" ·"))
    return Cell("ok", text)


def evaluation_cell(
    f: WorkflowFacts, alpha: float | None, now: datetime, n: int | None = None
) -> Cell:
    """The golden set and the agreement between reviewers; ``n`` is the runs the agreement
    compares (graded by two reviewers or more): under 10 the figure is marked as too few."""
    if f.golden_cases is None:
        golden = Cell("gap", "no golden set")
    else:
        age = _days(f.golden_written, now)
        when = "" if age is None else f", {age:.0f} d old"
        status: Status = (
            "warn"
            if f.golden_cases < GOLDEN_MIN_CASES or (age is not None and age > GOLDEN_MAX_AGE_DAYS)
            else "ok"
        )
        golden = Cell(status, f"golden {f.golden_cases} cases{when}")
    if alpha is None:
        agreement = Cell("warn", "agreement —")
    else:
        from review.agreement import MIN_UNITS

        few = n is not None and n < MIN_UNITS
        size = "" if n is None else f" (n {n}, too few)" if few else f" (n {n})"
        status = "warn" if alpha < ALPHA_TENTATIVE or few else "ok"
        agreement = Cell(status, f"α {alpha:.2f}{size}")
    return Cell(_worst(golden, agreement), f"{golden.text} · {agreement.text}")


def runbook_cell(f: WorkflowFacts, now: datetime) -> Cell:
    if f.runbooks == 0:
        return Cell("gap", "no runbook")
    age = _days(f.last_drill, now)
    drill = "never drilled" if age is None else f"drill {age:.0f} d ago"
    status: Status = "ok" if age is not None and age <= DRILL_MAX_AGE_DAYS else "warn"
    text = f"{f.runbooks} runbook{'s' if f.runbooks > 1 else ''} · {drill}"
    if f.runbook_problems:
        status = "warn"
        text += f" · {f.runbook_problems} invalid file{'s' if f.runbook_problems > 1 else ''}"
    return Cell(status, text)


def see_cell(report: WorkflowReport | None) -> Cell:
    """Coverage in the report's week; the rates of the latest week that has verdicts (named
    when it is not the report's week: this week's grading may not be done yet)."""
    week = report.current if report is not None else None
    if report is None or week is None or not week.sampled:
        return Cell("gap", "nothing sampled this week")
    coverage = week.coverage
    status: Status = "ok" if coverage is not None and coverage >= COVERAGE_LOW else "warn"
    rated = next((w for w in reversed(report.weeks) if w.verdicts), None)
    if rated is None:
        return Cell("warn", f"cover {_pct(coverage)} · no verdicts yet")
    when = "" if rated is week else f" in {rated.week}"
    success, interv = rated.task_success, rated.intervention
    return Cell(
        status,
        f"cover {_pct(coverage)} · success {_pct(success.rate)} of {success.n}{when} · "
        f"interv {_pct(interv.rate)} of {interv.n}{when}",
    )


def safe_cell(f: WorkflowFacts, now: datetime) -> Cell:
    if f.tier is None:
        return Cell("gap", "no agent card")
    if not f.checks:
        return Cell("gap", f"{f.tier} · switch never checked")
    primary = f.checks[0]
    age = _days(primary.checked_at, now)
    when = "" if age is None else f" {age:.0f} d ago" if age >= 1 else " today"
    if primary.reachable:
        # The live tier as last read, beside the card's configured one when they differ.
        if primary.state and primary.state != f.tier:
            return Cell("ok", f"{primary.state} live{when} · configured {f.tier}")
        return Cell("ok", f"{f.tier} · switch answered{when}")
    why = _reason(primary.error)
    backup = next((c for c in f.checks[1:] if c.reachable), None)
    if backup is not None:
        return Cell("warn", f"{f.tier} · primary not read{when}: {why} · {backup.channel} answered")
    return Cell("bad", f"{f.tier} · switch not read{when}: {why}")


def _reason(error: str | None) -> str:
    """The short cause of a failed read, from the backend's one-line error."""
    text = (error or "no answer").lower()
    for needle, short in (
        ("no token", "no token (agentdeck login)"),
        ("cannot connect", "unreachable"),
        ("timed out", "no answer in time"),
        ("token was refused", "token refused"),
        ("not found", "flag not found"),
    ):
        if needle in text:
            return short
    return (error or "no answer")[:40]


def spend_cell(report: WorkflowReport | None, budget: BudgetLimit | None) -> Cell:
    if budget is None:
        return Cell("gap", "no budget")
    status = report.budget if report is not None else None
    used = status.used if status is not None else 0.0
    spent = status.spent_usd if status is not None else 0.0
    text = f"{_pct(used)} of ${budget.monthly_usd:,.2f} (${spent:,.2f})"
    alert = status.alert if status is not None else None
    if alert is not None and alert >= 1.0:
        return Cell("bad", text + " · over budget")
    if alert is not None:
        return Cell("warn", text + f" · past {alert:.0%}")
    return Cell("ok", text)


def scorecard(
    conn: sqlite3.Connection,
    rubric: Rubric,
    facts: Mapping[str, WorkflowFacts],
    *,
    week: date | None = None,
    now: datetime | None = None,
) -> list[ScorecardRow]:
    """One row per workflow (every workflow with facts, runs or grades), sorted by name."""
    from review.ratings import workflow_agreement

    now = (now or datetime.now(UTC)).astimezone(UTC)
    budgets = {w: f.budget for w, f in facts.items() if f.budget is not None}
    report = weekly_report(conn, rubric, weeks=4, week=week, budgets=budgets, now=now)
    by_workflow = {wf.workflow: wf for wf in report.workflows}
    outcome = next((c for c in rubric.criteria if c.metric == "task_success"), None)
    alphas = workflow_agreement(conn, rubric.id, rubric.version, outcome.id) if outcome else {}
    rows = []
    for workflow in sorted(set(facts) | set(by_workflow)):
        f = facts.get(workflow, WorkflowFacts(workflow))
        wf = by_workflow.get(workflow)
        rows.append(
            ScorecardRow(
                workflow=workflow,
                own=own_cell(f),
                test=evaluation_cell(
                    f,
                    a.alpha if (a := alphas.get(workflow)) is not None else None,
                    now,
                    a.compared if a is not None else None,
                ),
                run=runbook_cell(f, now),
                see=see_cell(wf),
                safe=safe_cell(f, now),
                spend=spend_cell(wf, f.budget),
            )
        )
    return rows

"""What the scorecard needs from files and the on-call room, read into plain data
(:class:`review.scorecard.WorkflowFacts`): agent cards, runbooks, golden sets, the last drill and
the last kill-switch checks. Run it off the UI thread (it reads files and the database)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from review.scorecard import SwitchCheck, WorkflowFacts
from review.weekly import BudgetLimit
from store.workspace import Workspace


def golden_path(ws: Workspace, workflow: str) -> Path:
    """Where a workflow's golden set is kept (``agentdeck export golden`` writes it there)."""
    from review.golden import golden_path as path

    return path(ws.root, workflow)


def _golden(path: Path) -> tuple[int | None, str | None]:
    try:
        with path.open("rb") as fh:
            cases = sum(1 for line in fh if line.strip())
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None, None
    return cases, written.isoformat().replace("+00:00", "Z")


def workflow_facts(ws: Workspace, conn: sqlite3.Connection) -> dict[str, WorkflowFacts]:
    """Facts per workflow with an agent card or a runbook."""
    from runbooks.cards import check_cards
    from runbooks.catalog import check_runbooks
    from runbooks.engine import last_drills
    from runbooks.killswitch import last_checks

    cards, _ = check_cards(ws.cards_dir)
    catalog = check_runbooks(ws.runbooks_dir, cards)
    drills = last_drills(conn)
    checks = last_checks(conn)
    workflows = set(cards) | {lr.runbook.workflow for lr in catalog.runbooks.values()}
    out: dict[str, WorkflowFacts] = {}
    for workflow in sorted(workflows):
        card = cards.get(workflow)
        cases, written = _golden(golden_path(ws, workflow))
        target = card.kill_switch if card else None
        out[workflow] = WorkflowFacts(
            workflow=workflow,
            owners=card.owners.model_dump() if card else None,
            tier=card.tier if card else None,
            switch=f"{target.backend} {target.flag}" if target else None,
            budget=BudgetLimit(card.budget.monthly_usd, tuple(card.budget.alerts))
            if card
            else None,
            runbooks=len(catalog.for_workflow(workflow)),
            runbook_problems=len(catalog.problems),
            last_drill=drills.get(workflow),
            golden_cases=cases,
            golden_written=written,
            checks=[
                SwitchCheck(c.channel, c.checked_at, c.reachable, c.state, c.error)
                for c in checks.get(workflow, [])
            ],
        )
    return out

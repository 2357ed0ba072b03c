"""The scorecard: each part of the operating model fine, needing a look, failing, or a gap; and
the scorecard of the demo workspace from its real files and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from review.scorecard import (
    SwitchCheck,
    WorkflowFacts,
    evaluation_cell,
    own_cell,
    runbook_cell,
    safe_cell,
    scorecard,
    spend_cell,
)
from review.session import load_setup
from review.weekly import BudgetLimit, BudgetStatus
from store.db import connect
from store.workspace import Workspace
from tui.cli import cli
from tui.reports.facts import golden_path, workflow_facts

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
OWNERS = {"business": "ops", "technical": "platform", "model_steward": "ml"}


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def test_a_missing_part_is_a_gap_never_fine() -> None:
    bare = WorkflowFacts("w")
    assert own_cell(bare).status == "gap"
    assert evaluation_cell(bare, None, NOW).status == "gap"
    assert runbook_cell(bare, NOW).status == "gap"
    assert safe_cell(bare, NOW).status == "gap"
    assert spend_cell(None, None).status == "gap"
    partial = WorkflowFacts("w", owners={"business": "ops", "technical": "platform"})
    assert own_cell(partial) == own_cell(partial).__class__(
        "gap", "ops · platform · no model_steward"
    )
    assert own_cell(WorkflowFacts("w", owners=OWNERS)).status == "ok"


def test_test_run_and_safe_thresholds() -> None:
    fresh = WorkflowFacts("w", golden_cases=40, golden_written=ago(3))
    assert evaluation_cell(fresh, 0.9, NOW).status == "ok"
    assert evaluation_cell(fresh, 0.5, NOW).status == "warn"  # α under 0.667
    assert evaluation_cell(fresh, None, NOW).status == "warn"  # no overlap yet
    small = WorkflowFacts("w", golden_cases=12, golden_written=ago(3))
    assert evaluation_cell(small, 0.9, NOW).status == "warn"
    stale = WorkflowFacts("w", golden_cases=40, golden_written=ago(45))
    assert evaluation_cell(stale, 0.9, NOW).text == "golden 40 cases, 45 d old · α 0.90"
    # With n, the runs compared: under 10 it is marked too few and is not fine.
    assert evaluation_cell(fresh, 0.9, NOW, 12) == evaluation_cell(fresh, 0.9, NOW, 12).__class__(
        "ok", "golden 40 cases, 3 d old · α 0.90 (n 12)"
    )
    few = evaluation_cell(fresh, 1.0, NOW, 4)
    assert (few.status, few.text.split(" · ")[1]) == ("warn", "α 1.00 (n 4, too few)")

    assert runbook_cell(WorkflowFacts("w", runbooks=2), NOW).text == "2 runbooks · never drilled"
    drilled = WorkflowFacts("w", runbooks=1, last_drill=ago(10))
    assert runbook_cell(drilled, NOW).status == "ok"
    assert runbook_cell(WorkflowFacts("w", runbooks=1, last_drill=ago(120)), NOW).status == "warn"

    up = SwitchCheck("primary", ago(0.5), True, "auto-act")
    down = SwitchCheck("primary", ago(2), False, None, "unleash x: cannot connect (refused)")
    tokenless = SwitchCheck(
        "primary", ago(2), False, None, "unleash x: no token in the keyring for 'u'; run ..."
    )
    second = SwitchCheck("second channel", ago(2), True, "human-approve")
    assert safe_cell(WorkflowFacts("w", tier="auto-act"), NOW).status == "gap"
    assert safe_cell(WorkflowFacts("w", tier="auto-act", checks=[up]), NOW).status == "ok"
    # Lowered by a kill switch: the live tier as last read, the card's labelled as configured.
    lowered = SwitchCheck("primary", ago(0.5), True, "suggest-only")
    cell = safe_cell(WorkflowFacts("w", tier="auto-act", checks=[lowered]), NOW)
    assert (cell.status, cell.text) == ("ok", "suggest-only live today · configured auto-act")
    failing = safe_cell(WorkflowFacts("w", tier="auto-act", checks=[down]), NOW)
    assert (failing.status, failing.text) == (
        "bad",
        "auto-act · switch not read 2 d ago: unreachable",
    )
    # The cause is named, and a second channel that answered is said: a look, not a failure.
    backed = safe_cell(WorkflowFacts("w", tier="auto-act", checks=[tokenless, second]), NOW)
    assert (backed.status, backed.text) == (
        "warn",
        "auto-act · primary not read 2 d ago: no token (agentdeck login) · second channel answered",
    )


def test_spend_against_the_budget() -> None:
    from types import SimpleNamespace

    budget = BudgetLimit(10.0, (0.5, 0.8, 1.0))

    def report(spent: float, alert: float | None):  # type: ignore[no-untyped-def]
        status = BudgetStatus("2026-11", spent, 10.0, spent / 10, alert, (0.5, 0.8, 1.0))
        return SimpleNamespace(budget=status)

    assert spend_cell(report(2.0, None), budget).status == "ok"
    assert spend_cell(report(8.5, 0.8), budget).text == "85% of $10.00 ($8.50) · past 80%"
    over = spend_cell(report(12.0, 1.0), budget)
    assert (over.status, over.text.endswith("over budget")) == ("bad", True)


def test_the_demo_scorecard_from_its_files_and_database(demo_workspace: Workspace) -> None:
    setup = load_setup(demo_workspace)
    assert CliRunner().invoke(cli, ["-w", str(demo_workspace.root), "sync"]).exit_code in (0, 1)
    # A golden set written where the scorecard looks for it.
    done = CliRunner().invoke(
        cli, ["-w", str(demo_workspace.root), "export", "golden", "--workflow", "billing-support"]
    )
    assert done.exit_code in (0, 1), done.output  # 1: under the minimum, still written
    path = golden_path(demo_workspace, "billing-support")
    cases = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert cases > 0
    conn = connect(demo_workspace.db_path)
    facts = workflow_facts(demo_workspace, conn)
    rows = {r.workflow: r for r in scorecard(conn, setup.rubric, facts)}
    assert sorted(rows) == ["billing-support", "crm-update", "refund-approvals"]
    billing = rows["billing-support"]
    assert billing.own.status == "ok" and "billing-operations-lead" in billing.own.text
    assert billing.test.text.startswith(f"golden {cases} cases")
    assert rows["crm-update"].test.text.startswith("no golden set")
    assert billing.run.text.startswith("1 runbook")
    assert billing.safe.text == "auto-act · switch never checked"
    assert "of $5.00" in billing.spend.text

"""Golden sets: only settled runs, balanced across outcomes, bounded, the same for a seed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from review import grading
from review.adjudication import adjudicate
from review.golden import golden_set
from review.session import ReviewSetup, sync
from store.db import transaction
from tests.helpers import make_workspace, open_setup, run_record
from tests.test_cli import agentdeck

WF = "billing-support"
PASS = {"task_success": "pass", "intervention": "no", "policy": "safe"}
FAIL = {"task_success": "fail", "intervention": "yes", "policy": "safe"}

#: Run index to its story: 40 unanimous passes, 10 unanimous fails, 6 disputed (4 settled by
#: an adjudicator: 2 pass, 2 fail), 4 with one reviewer only.
PLAN = (
    [("agree", PASS)] * 40
    + [("agree", FAIL)] * 10
    + [("adjudicated", PASS)] * 2
    + [("adjudicated", FAIL)] * 2
    + [("disputed", PASS)] * 2
    + [("single", FAIL)] * 4
)


def _runs() -> list[dict[str, Any]]:
    out = []
    for i in range(len(PLAN)):
        rec = run_record(i, workflow=WF, start=f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z")
        rec["input"] = {"message": f"customer {i}: «refund» \x1b[31m"}
        out.append(rec)
    out.append(run_record(999, workflow="crm-update"))
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReviewSetup]:
    root = make_workspace(
        tmp_path_factory.mktemp("golden") / "ws", _runs(), overlap=1.0, default_rate=1.0
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    rubric = setup.rubric
    with transaction(conn):
        for i, (story, values) in enumerate(PLAN):
            run = int(
                conn.execute(
                    "SELECT id FROM runs WHERE run_id = ?", (f"trace-{i:05d}",)
                ).fetchone()[0]
            )
            other = values if story == "agree" else (FAIL if values is PASS else PASS)
            for c, v in values.items():
                grading.set_value(conn, run, "ana", rubric, c, v)
            if story == "single":
                continue
            for c, v in other.items():
                grading.set_value(conn, run, "ben", rubric, c, v)
            if story == "adjudicated":
                adjudicate(conn, run, rubric, "dana", values, "settled")
    conn.close()
    return root, setup


def _conn(root: Path) -> sqlite3.Connection:
    conn, _ = open_setup(root)
    return conn


def test_only_settled_runs_balanced_across_outcomes(graded: Any) -> None:
    root, setup = graded
    conn = _conn(root)
    full = golden_set(conn, setup.rubric, WF)
    assert full.available == {"fail": 12, "pass": 42}
    assert len(full.cases) == 54 and not full.under_minimum
    ids = {c["trace_id"] for c in full.cases}
    for i, (story, _) in enumerate(PLAN):
        assert (f"trace-{i:05d}" in ids) == (story in ("agree", "adjudicated")), (i, story)

    small = golden_set(conn, setup.rubric, WF, maximum=20, seed=7)
    assert small.chosen == {"fail": 10, "pass": 10}
    # The adjudicated runs (hard cases) are taken first in each outcome.
    assert sum(c["basis"] == "adjudicated" for c in small.cases) == 4
    # Fewer fails than half of --max: every fail, the rest passes.
    assert golden_set(conn, setup.rubric, WF, maximum=40).chosen == {"fail": 12, "pass": 28}
    assert golden_set(conn, setup.rubric, WF, maximum=3).chosen == {"fail": 2, "pass": 1}
    starts = [c["started_at"] for c in small.cases]
    assert starts == sorted(starts)


def test_the_same_seed_gives_the_same_set(graded: Any) -> None:
    root, setup = graded
    conn = _conn(root)
    a = golden_set(conn, setup.rubric, WF, maximum=20, seed=1)
    assert golden_set(conn, setup.rubric, WF, maximum=20, seed=1).jsonl() == a.jsonl()
    b = golden_set(conn, setup.rubric, WF, maximum=20, seed=2)
    assert {c["trace_id"] for c in a.cases} != {c["trace_id"] for c in b.cases}


def test_a_case_has_input_the_runs_output_outcome_and_verdict(graded: Any) -> None:
    root, setup = graded
    conn = _conn(root)
    cases = {c["trace_id"]: c for c in golden_set(conn, setup.rubric, WF).cases}
    agreed, settled = cases["trace-00000"], cases["trace-00050"]
    assert agreed["input"] == {"message": "customer 0: «refund» \x1b[31m"}
    assert agreed["output"] == "agent reply 0"
    assert agreed["final_action"] == {"kind": "reply", "summary": "answered", "status": "done"}
    # A failing run's output is the run's output beside a failing verdict, never "expected".
    assert all("expected" not in c for c in cases.values())
    failing = [c for c in cases.values() if c["outcome"] == "fail"]
    assert failing and all("output" in c and "final_action" in c for c in failing)
    assert (agreed["verdict"], agreed["outcome"], agreed["basis"]) == (PASS, "pass", "unanimous")
    assert (agreed["reviewers"], agreed["adjudicator"]) == (["ana", "ben"], None)
    assert (agreed["rubric_id"], agreed["rubric_version"]) == (
        setup.rubric.id,
        setup.rubric.version,
    )
    assert (agreed["source"], agreed["workflow"], agreed["case_id"]) == (
        "demo",
        WF,
        "demo/trace-00000",
    )
    assert (settled["basis"], settled["adjudicator"], settled["verdict"]) == (
        "adjudicated",
        "dana",
        PASS,
    )
    # Untrusted text is data: each case is one line of plain JSON, escapes and all.
    for line in golden_set(conn, setup.rubric, WF).jsonl().splitlines():
        assert "\x1b" not in line and json.loads(line)["workflow"] == WF


def test_cli_writes_the_set_and_says_when_it_is_under_the_minimum(
    graded: Any, tmp_path: Path
) -> None:
    root, _ = graded
    out = tmp_path / "golden.jsonl"
    done = agentdeck("export", "golden", "--workflow", WF, "--max", "20", "-o", str(out), cwd=root)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 20
    assert "20 cases (task_success: fail 10, pass 10)" in done.stderr

    done = agentdeck("export", "golden", "--workflow", WF, "--min", "100", "-o", "-", cwd=root)
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 54  # written all the same
    assert "under the minimum of 100" in done.stderr

    done = agentdeck("export", "golden", "--workflow", "nope", cwd=root)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "no runs of workflow 'nope'" in line and "billing-support" in line
    done = agentdeck("export", "golden", "--workflow", WF, "--min", "5", "--max", "3", cwd=root)
    assert done.returncode == 2 and "--min 5 is more than --max 3" in done.stderr


def test_cli_keeps_the_set_in_the_workspace_by_default(graded: Any) -> None:
    """The scorecard reads golden/WORKFLOW.jsonl (its size and age)."""
    root, _ = graded
    done = agentdeck("export", "golden", "--workflow", WF, "--max", "10", cwd=root)
    assert done.returncode == 0, done.stderr
    kept = root / "golden" / f"{WF}.jsonl"
    assert len(kept.read_text(encoding="utf-8").splitlines()) == 10
    assert done.stdout == "" and str(kept) in done.stderr

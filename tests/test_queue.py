"""The review queue: windows, counts, positions and search over a reviewer's assignments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from review import queue
from review.queue import QueueFilter
from store.db import connect
from store.models import Run, RunSummary
from store.sync import assign, run_pk, store_runs, upsert_summaries
from tests.helpers import run_record

# (trace id, workflow, status, started_at, business ref, reviewers)
ROWS = [
    ("t-a", "billing-support", "ok", "2026-01-03T10:00:00Z", "ORD-100", ("ana",)),
    ("t-b", "crm-update", "error", "2026-01-01T10:00:00Z", "ORD-200", ("ana", "ben")),
    ("t-c", "billing-support", "error", "2026-01-02T10:00:00Z", "ORD_300", ("ana",)),
    ("t-d", "refund-approvals", "ok", "2026-01-02T10:00:00Z", "REF-1", ("ana",)),
    ("t-e", "billing-support", "ok", "2026-01-02T10:00:00Z", None, ("ana",)),
    ("t-f", "crm-update", "ok", "2026-01-04T10:00:00Z", "ORDX400", ("ben",)),
    ("t-g", "billing-support", "ok", "2026-01-05T10:00:00Z", "ORD-101", ("ana",)),
]


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(tmp_path / "q.db")
    conn.execute("BEGIN")
    for trace, workflow, status, start, ref, reviewers in ROWS:
        summary = RunSummary(
            trace_id=trace, workflow=workflow, status=status, start_time=start, business_ref=ref
        )
        upsert_summaries(conn, "demo", [summary])
        pk = run_pk(conn, "demo", trace)
        assert pk is not None
        assign(conn, pk, summary, "sample", reviewers)
    conn.execute("COMMIT")
    # t-d is graded by ana
    conn.execute(
        "UPDATE assignments SET graded = 1 WHERE reviewer = 'ana' AND run = ?",
        (run_pk(conn, "demo", "t-d"),),
    )
    return conn


def _ids(rows: list[queue.QueueRow]) -> list[str]:
    return [r.run_id for r in rows]


def _pk(conn: sqlite3.Connection, trace: str) -> int:
    pk = run_pk(conn, "demo", trace)
    assert pk is not None
    return pk


# Oldest first; ties on started_at in insertion (run id) order.
ANA = ["t-b", "t-c", "t-d", "t-e", "t-a", "t-g"]


def test_window_is_ordered_oldest_first(db: sqlite3.Connection) -> None:
    everything = queue.window(db, "ana", QueueFilter(), 0, 100)
    assert _ids(everything) == ANA
    assert queue.count(db, "ana") == len(ANA)
    # Windows are slices of the same order.
    assert _ids(queue.window(db, "ana", QueueFilter(), 2, 3)) == ANA[2:5]
    assert _ids(queue.window(db, "ana", QueueFilter(), 5, 3)) == ANA[5:]
    assert queue.window(db, "ana", QueueFilter(), 10, 3) == []
    assert _ids(queue.window(db, "ana", QueueFilter(), -4, 2)) == ANA[:2]
    first = everything[0]
    assert (first.workflow, first.status, first.business_ref, first.reason) == (
        "crm-update",
        "error",
        "ORD-200",
        "sample",
    )
    # Stable: asking again gives the same order.
    assert queue.window(db, "ana", QueueFilter(), 0, 100) == everything


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (QueueFilter(workflow="billing-support"), ["t-c", "t-e", "t-a", "t-g"]),
        (QueueFilter(status="error"), ["t-b", "t-c"]),
        (QueueFilter(workflow="billing-support", status="error"), ["t-c"]),
        (QueueFilter(graded=True), ["t-d"]),
        (QueueFilter(graded=False), ["t-b", "t-c", "t-e", "t-a", "t-g"]),
        (QueueFilter(workflow="nope"), []),
    ],
)
def test_filters(db: sqlite3.Connection, flt: QueueFilter, expected: list[str]) -> None:
    assert _ids(queue.window(db, "ana", flt, 0, 100)) == expected
    assert queue.count(db, "ana", flt) == len(expected)
    for i, trace in enumerate(expected):
        assert queue.position_of(db, "ana", flt, _pk(db, trace)) == i


def test_position_of_runs_outside_the_queue(db: sqlite3.Connection) -> None:
    assert queue.position_of(db, "ana", QueueFilter(), _pk(db, "t-f")) is None  # ben's only
    assert queue.position_of(db, "ben", QueueFilter(), _pk(db, "t-f")) == 1
    assert queue.position_of(db, "ana", QueueFilter(status="error"), _pk(db, "t-a")) is None
    assert queue.position_of(db, "ana", QueueFilter(), 99_999) is None


def test_progress_and_workflows(db: sqlite3.Connection) -> None:
    assert queue.progress(db, "ana") == (1, len(ANA))
    assert queue.progress(db, "nobody") == (0, 0)
    assert queue.workflows(db, "ana") == ["billing-support", "crm-update", "refund-approvals"]
    assert queue.workflows(db, "ben") == ["crm-update"]


def test_find_by_trace_id_and_business_ref(db: sqlite3.Connection) -> None:
    assert queue.find(db, "ana", "t-c") == _pk(db, "t-c")
    assert queue.find(db, "ana", "  t-c  ") == _pk(db, "t-c")
    assert queue.find(db, "ana", "ORD-200") == _pk(db, "t-b")
    assert queue.find(db, "ana", "REF") == _pk(db, "t-d")
    # A prefix shared by several runs finds the oldest of them.
    assert queue.find(db, "ana", "ORD-10") == _pk(db, "t-a")
    assert queue.find(db, "ana", "ORD-101") == _pk(db, "t-g")
    # Only the reviewer's own queue is searched.
    assert queue.find(db, "ana", "ORDX") is None
    assert queue.find(db, "ben", "ORDX") == _pk(db, "t-f")
    assert queue.find(db, "ana", "") is None
    assert queue.find(db, "ana", "zzz") is None


def test_find_treats_like_wildcards_literally(db: sqlite3.Connection) -> None:
    # "_" and "%" are characters a person types, not SQL wildcards.
    assert queue.find(db, "ana", "ORD_") == _pk(db, "t-c")
    assert queue.find(db, "ben", "ORD_") is None  # would match ORDX400 as a wildcard
    assert queue.find(db, "ben", "%") is None


def test_exact_match_beats_an_older_prefix_match(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    conn.execute("BEGIN")
    for trace, start in (("abc-long", "2026-01-01T00:00:00Z"), ("abc", "2026-01-02T00:00:00Z")):
        s = RunSummary(trace_id=trace, workflow="w", start_time=start)
        upsert_summaries(conn, "demo", [s])
        assign(conn, _pk(conn, trace), s, "sample", ["ana"])
    conn.execute("COMMIT")
    assert queue.find(conn, "ana", "abc") == _pk(conn, "abc")


def test_run_detail_has_steps_in_order(tmp_path: Path) -> None:
    conn = connect(tmp_path / "d.db")
    record = run_record(7, steps=12)
    record["steps"] = list(reversed(record["steps"]))  # stored in the run's own order
    conn.execute("BEGIN")
    store_runs(conn, "demo", [Run.model_validate(record)])
    conn.execute("COMMIT")
    pk = _pk(conn, "trace-00007")
    detail = queue.run_detail(conn, pk)
    assert detail is not None
    assert [s.idx for s in detail.steps] == list(range(12))
    assert [s.name for s in detail.steps] == [f"step-{i}" for i in reversed(range(12))]
    assert detail.hydrated
    assert detail.run_id == "trace-00007" and detail.source == "demo"
    assert detail.business_ref == "ORD-00007"
    assert detail.final_action == {"kind": "reply", "summary": "answered", "status": "done"}
    assert detail.tags == ["t1", "n7"]
    assert detail.output == "agent reply 7"
    assert detail.input is not None and "customer message 7" in detail.input
    errored = [s for s in detail.steps if s.error_type]
    assert [(s.name, s.error_type, s.error_message) for s in errored] == [
        ("step-11", "Timeout", "slow")
    ]
    assert detail.steps[0].tokens_in == 11
    assert queue.run_detail(conn, 99_999) is None


def test_run_detail_of_a_summary_only_run(db: sqlite3.Connection) -> None:
    detail = queue.run_detail(db, _pk(db, "t-a"))
    assert detail is not None
    assert not detail.hydrated
    assert detail.steps == [] and detail.tags == [] and detail.final_action is None


# -- weeks, drafts, the whole local copy (issue 14) ------------------------------------------------


def test_weeks_of_the_queue_newest_first_and_the_week_filter(db: sqlite3.Connection) -> None:
    # 2026-01-01 is a Thursday: the 1st to the 4th are in 2026-W01, the 5th starts W02.
    assert queue.weeks(db, "ana") == ["2026-W02", "2026-W01"]
    assert queue.weeks(db, "ben") == ["2026-W01"]
    assert queue.weeks(db, "nobody") == []
    w1 = QueueFilter(week="2026-W01")
    assert _ids(queue.window(db, "ana", w1, 0, 100)) == ["t-b", "t-c", "t-d", "t-e", "t-a"]
    assert queue.count(db, "ana", QueueFilter(week="2026-W02")) == 1
    both = QueueFilter(week="2026-W01", workflow="billing-support", graded=False)
    assert _ids(queue.window(db, "ana", both, 0, 100)) == ["t-c", "t-e", "t-a"]
    assert queue.position_of(db, "ana", w1, _pk(db, "t-g")) is None
    assert queue.week_bounds("2026-W01") == (
        "2025-12-29T00:00:00.000000Z",
        "2026-01-05T00:00:00.000000Z",
    )


@pytest.mark.parametrize(
    "flt",
    [
        QueueFilter(week="2026-W01"),
        QueueFilter(week="2026-W01", graded=False),
        QueueFilter(week="2026-W01", workflow="crm-update"),
        QueueFilter(week="2026-W01", status="error"),
    ],
)
def test_the_week_filter_is_an_index_range(db: sqlite3.Connection, flt: QueueFilter) -> None:
    where, args = flt.where("ana")
    plan = " ".join(
        r[3]
        for r in db.execute(
            f"EXPLAIN QUERY PLAN SELECT a.run FROM assignments a WHERE {where} "
            "ORDER BY a.started_at, a.run LIMIT 1",
            args,
        )
    )
    assert "USING COVERING INDEX" in plan, plan
    assert "started_at>? AND started_at<?" in plan, plan  # a range, not a scan
    assert "TEMP B-TREE" not in plan, plan  # read in queue order, no sort


def test_a_started_grade_is_a_draft_in_the_queue(db: sqlite3.Connection) -> None:
    def grade(trace: str, values: str, complete: int, comment: str | None = None) -> None:
        db.execute(
            'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", comment, '
            "complete, created_at, updated_at) VALUES (?, 'ana', 'r', 'v', ?, ?, ?, 'x', 'x')",
            (_pk(db, trace), values, comment, complete),
        )

    grade("t-c", '{"task_success": "pass"}', 0)  # half graded
    grade("t-e", "{}", 0)  # every answer taken back: nothing started
    grade("t-a", "{}", 0, comment="look again")  # a comment alone is a start
    grade("t-d", '{"task_success": "pass"}', 1)  # graded (assignments.graded = 1)
    rows = {r.run_id: r for r in queue.window(db, "ana", QueueFilter(), 0, 100)}
    assert {k for k, r in rows.items() if r.draft} == {"t-c", "t-a"}
    assert rows["t-d"].graded and not rows["t-d"].draft
    row = queue.row_of(db, "ana", _pk(db, "t-c"))
    assert row is not None and row.draft


def test_find_anywhere_searches_every_run_in_the_local_copy(db: sqlite3.Connection) -> None:
    assert queue.find_anywhere(db, "t-f") == _pk(db, "t-f")  # ben's only
    assert queue.find_anywhere(db, "ORDX") == _pk(db, "t-f")
    assert queue.find_anywhere(db, "ORD-101") == _pk(db, "t-g")
    assert queue.find_anywhere(db, "nothing") is None
    assert queue.find_anywhere(db, " ") is None
    assert queue.assigned_to(db, _pk(db, "t-f")) == ["ben"]
    assert queue.assigned_to(db, _pk(db, "t-b")) == ["ana", "ben"]
    assert queue.assigned_to(db, 99_999) == []
    for sql, args in (
        ("SELECT id FROM runs WHERE business_ref = ? ORDER BY id LIMIT 1", ("ORD-101",)),
        (
            "SELECT id FROM runs WHERE business_ref >= ? AND business_ref < ? "
            "ORDER BY business_ref, id LIMIT 1",
            ("ORD", "ORD\U0010ffff"),
        ),
    ):
        plan = " ".join(r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "SEARCH runs USING" in plan and "INDEX" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # index order: no sort of the matches

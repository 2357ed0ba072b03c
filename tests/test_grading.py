"""Grading: grades with their outbox rows, pushing idempotently, retries, undo, durability."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from review import grading
from review.rubric import Rubric
from review.session import ReviewSetup, sync
from store.connectors import ConnectorError, make_connector
from store.connectors.base import StoreConnector, StoreUnreachable
from store.connectors.file import FileConnector
from store.db import connect
from store.identity import score_id
from store.models import Score
from store.outbox import BACKOFF_BASE_S, due, pending_count, push
from tests.helpers import REQUIRED, make_workspace, open_setup, run_record, scalar

COMPLETE = {"task_success": "pass", "intervention": "no", "policy": "safe"}


@pytest.fixture
def desk(tmp_path: Path) -> tuple[sqlite3.Connection, ReviewSetup, FileConnector, list[int]]:
    """A synced workspace where every run is sampled and both ana and ben review all of them."""
    root = make_workspace(
        tmp_path / "ws",
        [run_record(i) for i in range(5)],
        roster=("ana", "ben"),
        overlap=1.0,
        default_rate=1.0,
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    connector = make_connector(setup.workspace, setup.workspace.config.stores[0])
    assert isinstance(connector, FileConnector)
    runs = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")]
    assert len(runs) == 5
    assert scalar(conn, "SELECT count(*) FROM assignments WHERE reviewer = 'ana'") == 5
    return conn, setup, connector, runs


def _outbox(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [
        dict(r) | {"payload": json.loads(r["payload"])}
        for r in conn.execute("SELECT * FROM outbox ORDER BY id")
    ]


def _graded(conn: sqlite3.Connection, reviewer: str, run: int) -> int:
    return int(
        scalar(conn, "SELECT graded FROM assignments WHERE reviewer = ? AND run = ?", reviewer, run)
    )


def _grade_all(conn: sqlite3.Connection, run: int, rubric: Rubric, who: str = "ana") -> None:
    for criterion, value in COMPLETE.items():
        grading.set_value(conn, run, who, rubric, criterion, value)


def test_grade_completes_with_one_outbox_row(desk: Any) -> None:
    conn, setup, _, runs = desk
    run, rubric = runs[0], setup.rubric

    g = grading.set_value(conn, run, "ana", rubric, "task_success", "pass", seconds=4)
    assert not g.complete and g.values == {"task_success": "pass"}
    g = grading.set_value(conn, run, "ana", rubric, "intervention", "no", seconds=3)
    assert not g.complete
    assert _outbox(conn) == []
    assert _graded(conn, "ana", run) == 0

    g = grading.set_value(conn, run, "ana", rubric, "policy", "safe")
    assert g.complete
    assert g.seconds_spent == 7
    [row] = _outbox(conn)
    assert (row["store"], row["run"], row["reviewer"], row["pushed_at"]) == (
        "demo",
        run,
        "ana",
        None,
    )
    assert {s["name"]: s["value"] for s in row["payload"]["upsert"]} == COMPLETE
    assert _graded(conn, "ana", run) == 1
    assert _graded(conn, "ben", run) == 0
    assert pending_count(conn) == 1

    # The stored grade matches what set_value returned.
    stored = grading.get_grade(conn, run, "ana", rubric)
    assert stored == g
    assert scalar(conn, "SELECT rubric_version FROM grades WHERE run = ?", run) == rubric.version

    # Editing a complete grade queues it again.
    grading.set_value(conn, run, "ana", rubric, "tone", 5)
    rows = _outbox(conn)
    assert len(rows) == 2
    assert {s["name"]: s["value"] for s in rows[1]["payload"]["upsert"]} == COMPLETE | {"tone": 5}
    assert pending_count(conn) == 1  # still one grade waiting, not two


def test_set_value_refuses_unknown_criteria_and_levels(desk: Any) -> None:
    conn, setup, _, runs = desk
    with pytest.raises(KeyError):
        grading.set_value(conn, runs[0], "ana", setup.rubric, "nope", "pass")
    with pytest.raises(ValueError):
        grading.set_value(conn, runs[0], "ana", setup.rubric, "task_success", "maybe")
    assert scalar(conn, "SELECT count(*) FROM grades") == 0
    # Values are matched by text ("3" is the ordinal level 3) and stored as the level's value.
    g = grading.set_value(conn, runs[0], "ana", setup.rubric, "tone", "3")
    assert g.values == {"tone": 3}


def test_push_writes_one_score_per_criterion_and_is_idempotent(desk: Any) -> None:
    conn, setup, connector, runs = desk
    run = runs[1]
    _grade_all(conn, run, setup.rubric)
    run_id = scalar(conn, "SELECT run_id FROM runs WHERE id = ?", run)

    report = push(conn, connector)
    assert (report.pushed, report.failed) == (1, 0)
    lines = [json.loads(x) for x in connector.scores_path.read_text().splitlines()]
    assert len(lines) == len(REQUIRED)
    assert {x["id"] for x in lines} == {score_id("demo", run_id, c, "ana") for c in REQUIRED}
    for x in lines:
        assert x["trace_id"] == run_id
        assert x["value"] == COMPLETE[x["name"]]
        assert x["metadata"]["reviewer"] == "ana"
        assert x["metadata"]["rubric_version"] == setup.rubric.version
    assert pending_count(conn) == 0
    assert scalar(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == 0

    before = connector.scores_path.read_bytes()
    assert push(conn, connector).pushed == 0
    assert connector.scores_path.read_bytes() == before

    # A crash between "sent" and "marked sent" repeats the push: still nothing new remotely.
    conn.execute("UPDATE outbox SET pushed_at = NULL")
    assert push(conn, connector).pushed == 1
    assert connector.scores_path.read_bytes() == before

    # An edit updates the same remote ids (the file store's latest line for each id wins).
    grading.set_value(conn, run, "ana", setup.rubric, "task_success", "fail")
    push(conn, connector)
    scores = {s.name: s for s in connector.list_scores()}
    assert set(scores) == set(REQUIRED)
    assert scores["task_success"].value == "fail"
    assert scores["task_success"].id == score_id("demo", run_id, "task_success", "ana")


def test_older_rows_are_superseded_by_the_newest(desk: Any) -> None:
    conn, setup, connector, runs = desk
    _grade_all(conn, runs[0], setup.rubric)
    grading.set_value(conn, runs[0], "ana", setup.rubric, "tone", 1)
    grading.set_value(conn, runs[0], "ana", setup.rubric, "tone", 5)
    assert len(due(conn, "demo", datetime.now(UTC))) == 1
    assert push(conn, connector).pushed == 1
    assert scalar(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == 0
    assert {s.name: s.value for s in connector.list_scores()}["tone"] == 5


class _Down(StoreConnector):
    """A store that is unreachable."""

    name = "demo"

    def push_scores(self, scores: Sequence[Score]) -> None:
        raise ConnectorError("http://127.0.0.1:1/api/scores: connection refused")

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        raise ConnectorError("http://127.0.0.1:1/api/scores: connection refused")


def test_failed_push_backs_off_then_succeeds(desk: Any) -> None:
    conn, setup, connector, runs = desk
    _grade_all(conn, runs[2], setup.rubric)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    report = push(conn, _Down(), now=t0, rng=random.Random(1))  # type: ignore[arg-type]
    assert (report.pushed, report.failed) == (0, 1)
    assert "connection refused" in report.errors[0]
    [row] = _outbox(conn)
    assert row["attempts"] == 1
    assert row["pushed_at"] is None
    assert "connection refused" in row["last_error"]
    next_at = datetime.fromisoformat(row["next_attempt_at"])
    assert t0 < next_at <= t0 + timedelta(seconds=BACKOFF_BASE_S)
    assert not connector.scores_path.exists()

    # Not due yet: even a working store gets nothing.
    assert push(conn, connector, now=t0).pushed == 0
    assert not connector.scores_path.exists()

    # A second failure backs off further (the cap of the window doubles).
    later = next_at + timedelta(milliseconds=1)
    push(conn, _Down(), now=later, rng=random.Random(1))  # type: ignore[arg-type]
    row = _outbox(conn)[0]
    assert row["attempts"] == 2
    assert (
        later
        < datetime.fromisoformat(row["next_attempt_at"])
        <= later + timedelta(seconds=2 * BACKOFF_BASE_S)
    )

    report = push(conn, connector, now=t0 + timedelta(hours=1))
    assert report.pushed == 1
    row = _outbox(conn)[0]
    assert row["pushed_at"] is not None and row["last_error"] is None
    assert len(connector.list_scores()) == len(REQUIRED)


def test_undo_walks_back_and_retracts_a_pushed_grade(desk: Any) -> None:
    conn, setup, connector, runs = desk
    run, rubric = runs[3], setup.rubric
    _grade_all(conn, run, rubric)
    push(conn, connector)
    assert len(connector.list_scores()) == 3

    # Undo the completing change: the grade is incomplete again and its scores are retracted.
    restored = grading.undo(conn, "ana", rubric)
    assert restored is not None
    assert restored.values == {"task_success": "pass", "intervention": "no"}
    assert not restored.complete
    assert grading.get_grade(conn, run, "ana", rubric) == restored
    assert _graded(conn, "ana", run) == 0
    last = _outbox(conn)[-1]
    assert last["payload"]["upsert"] == []
    run_id = scalar(conn, "SELECT run_id FROM runs WHERE id = ?", run)
    assert set(last["payload"]["delete"]) >= {score_id("demo", run_id, c, "ana") for c in REQUIRED}
    push(conn, connector)
    assert connector.list_scores() == []

    # Repeated undo walks further back, down to no grade at all.
    assert grading.undo(conn, "ana", rubric).values == {"task_success": "pass"}  # type: ignore[union-attr]
    assert grading.get_grade(conn, run, "ana", rubric).values == {"task_success": "pass"}  # type: ignore[union-attr]
    gone = grading.undo(conn, "ana", rubric)
    assert gone is not None and gone.values == {}
    assert grading.get_grade(conn, run, "ana", rubric) is None
    assert grading.undo(conn, "ana", rubric) is None
    # Undoing incomplete states queued nothing more.
    assert len(_outbox(conn)) == 2


def test_undo_is_per_reviewer_and_spans_runs(desk: Any) -> None:
    conn, setup, _, runs = desk
    rubric = setup.rubric
    grading.set_value(conn, runs[0], "ana", rubric, "task_success", "pass")
    grading.set_value(conn, runs[0], "ben", rubric, "task_success", "fail")
    grading.set_value(conn, runs[1], "ana", rubric, "policy", "violation")

    grading.undo(conn, "ana", rubric)
    assert grading.get_grade(conn, runs[1], "ana", rubric) is None
    assert grading.get_grade(conn, runs[0], "ana", rubric).values == {"task_success": "pass"}  # type: ignore[union-attr]
    assert grading.get_grade(conn, runs[0], "ben", rubric).values == {"task_success": "fail"}  # type: ignore[union-attr]


def test_undo_of_an_edit_to_a_complete_grade_pushes_the_old_values(desk: Any) -> None:
    conn, setup, connector, runs = desk
    run, rubric = runs[4], setup.rubric
    _grade_all(conn, run, rubric)
    grading.set_value(conn, run, "ana", rubric, "task_success", "fail")
    push(conn, connector)
    assert {s.name: s.value for s in connector.list_scores()}["task_success"] == "fail"
    restored = grading.undo(conn, "ana", rubric)
    assert restored is not None and restored.complete and restored.values == COMPLETE
    assert _graded(conn, "ana", run) == 1
    push(conn, connector)
    assert {s.name: s.value for s in connector.list_scores()}["task_success"] == "pass"


def test_clearing_a_required_value_retracts(desk: Any) -> None:
    conn, setup, _, runs = desk
    _grade_all(conn, runs[0], setup.rubric)
    g = grading.set_value(conn, runs[0], "ana", setup.rubric, "policy", None)
    assert not g.complete and "policy" not in g.values
    assert _graded(conn, "ana", runs[0]) == 0
    assert _outbox(conn)[-1]["payload"]["upsert"] == []


def test_comment_and_escalate_are_durable(desk: Any, tmp_path: Path) -> None:
    conn, setup, connector, runs = desk
    rubric = setup.rubric
    grading.set_comment(conn, runs[0], "ana", rubric, "  refund over the limit  ")
    grading.set_escalate(conn, runs[0], "ana", rubric, True)
    assert _outbox(conn) == []  # incomplete grades stay local

    other = connect(setup.workspace.db_path)
    g = grading.get_grade(other, runs[0], "ana", rubric)
    assert g is not None
    assert g.comment == "refund over the limit"
    assert g.escalate is True

    _grade_all(conn, runs[0], rubric)
    push(conn, connector)
    scores = connector.list_scores()
    assert {s.comment for s in scores} == {"refund over the limit"}
    assert all(s.metadata.escalate for s in scores)

    grading.set_comment(conn, runs[0], "ana", rubric, "   ")
    assert grading.get_grade(other, runs[0], "ana", rubric).comment is None  # type: ignore[union-attr]
    assert len(_outbox(conn)) == 2  # the comment change on a complete grade is queued


def test_a_second_connection_sees_the_grade_at_once(desk: Any) -> None:
    conn, setup, _, runs = desk
    grading.set_value(conn, runs[0], "ana", setup.rubric, "task_success", "pass")
    # No close, no checkpoint: another connection (another thread or process) reads it.
    other = connect(setup.workspace.db_path)
    g = grading.get_grade(other, runs[0], "ana", setup.rubric)
    assert g is not None and g.values == {"task_success": "pass"}
    assert not other.in_transaction and not conn.in_transaction


def test_a_grade_survives_the_process_being_killed(desk: Any, tmp_path: Path) -> None:
    conn, setup, _, runs = desk
    rubric_path = setup.workspace.rubrics_dir / "support-quality.yaml"
    snippet = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from review import grading
        from review.rubric import load_rubric
        from store.db import connect
        conn = connect(Path({str(setup.workspace.db_path)!r}))
        rubric = load_rubric(Path({str(rubric_path)!r}))
        for criterion, value in {COMPLETE!r}.items():
            grading.set_value(conn, {runs[1]}, "ana", rubric, criterion, value)
        os._exit(1)  # no close, no checkpoint, no atexit
        """
    )
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr

    fresh = connect(setup.workspace.db_path)
    g = grading.get_grade(fresh, runs[1], "ana", setup.rubric)
    assert g is not None and g.complete and g.values == COMPLETE
    assert scalar(fresh, "SELECT count(*) FROM outbox WHERE run = ?", runs[1]) == 1
    assert _graded(fresh, "ana", runs[1]) == 1


def test_toggle_escalate_flips_what_the_database_holds(desk: Any) -> None:
    conn, setup, _connector, runs = desk
    rubric = setup.rubric
    assert grading.toggle_escalate(conn, runs[0], "ana", rubric).escalate is True
    # Another writer flags the same grade off in between; the next toggle flips that state.
    other = connect(setup.workspace.db_path)
    grading.set_escalate(other, runs[0], "ana", rubric, False)
    assert grading.toggle_escalate(conn, runs[0], "ana", rubric).escalate is True
    assert grading.get_grade(other, runs[0], "ana", rubric).escalate is True  # type: ignore[union-attr]


# -- the first wrong step --------------------------------------------------------------------------


def test_first_wrong_step_toggles_moves_and_undoes(desk: Any) -> None:
    conn, setup, _connector, runs = desk
    rubric, run = setup.rubric, runs[2]
    g = grading.toggle_first_wrong_step(conn, run, "ana", rubric, 1)
    assert g.first_wrong_step == 1 and not g.complete
    assert scalar(conn, "SELECT first_wrong_step FROM grades WHERE run = ?", run) == 1
    assert grading.toggle_first_wrong_step(conn, run, "ana", rubric, 0).first_wrong_step == 0
    assert grading.toggle_first_wrong_step(conn, run, "ana", rubric, 0).first_wrong_step is None
    assert grading.undo(conn, "ana", rubric).first_wrong_step == 0  # type: ignore[union-attr]
    assert grading.undo(conn, "ana", rubric).first_wrong_step == 1  # type: ignore[union-attr]
    grading.undo(conn, "ana", rubric)
    assert grading.get_grade(conn, run, "ana", rubric) is None
    # An incomplete grade waits for completion, like its criteria: no outbox row yet.
    assert _outbox(conn) == []


def test_first_wrong_step_is_pushed_on_the_steps_span(desk: Any) -> None:
    conn, setup, connector, runs = desk
    rubric, run = setup.rubric, runs[1]
    run_id = scalar(conn, "SELECT run_id FROM runs WHERE id = ?", run)
    conn.execute("UPDATE steps SET span_id = 'span-' || idx WHERE run = ?", (run,))
    grading.toggle_first_wrong_step(conn, run, "ana", rubric, 1)
    _grade_all(conn, run, rubric)
    sid = score_id("demo", run_id, "first_wrong_step", "ana")
    payload = _outbox(conn)[-1]["payload"]
    step = [s for s in payload["upsert"] if s["name"] == "first_wrong_step"]
    assert len(step) == 1
    # Step index 1 is the second step: the store receives its number as the desk shows it.
    assert step[0]["id"] == sid and step[0]["span_id"] == "span-1" and step[0]["value"] == 2
    assert step[0]["trace_id"] == run_id and step[0]["metadata"]["reviewer"] == "ana"
    assert {s.get("span_id") for s in payload["upsert"] if s["name"] != "first_wrong_step"} == {
        None
    }

    assert push(conn, connector).pushed == 1
    scores = {s.name: s for s in connector.list_scores()}
    assert scores["first_wrong_step"].span_id == "span-1"
    assert scores["first_wrong_step"].value == 2
    assert set(scores) == {*REQUIRED, "first_wrong_step"}

    # Moved: the same remote score, on the other step. Cleared: deleted.
    grading.toggle_first_wrong_step(conn, run, "ana", rubric, 0)
    push(conn, connector)
    scores = {s.name: s for s in connector.list_scores()}
    assert (scores["first_wrong_step"].id, scores["first_wrong_step"].span_id) == (sid, "span-0")
    assert scores["first_wrong_step"].value == 1
    grading.toggle_first_wrong_step(conn, run, "ana", rubric, 0)
    assert sid in _outbox(conn)[-1]["payload"]["delete"]
    push(conn, connector)
    assert "first_wrong_step" not in {s.name for s in connector.list_scores()}


def test_a_step_without_a_span_is_pushed_with_its_number(desk: Any) -> None:
    conn, setup, connector, runs = desk
    rubric, run = setup.rubric, runs[3]
    assert scalar(conn, "SELECT count(span_id) FROM steps WHERE run = ?", run) == 0
    grading.toggle_first_wrong_step(conn, run, "ana", rubric, 1)
    _grade_all(conn, run, rubric)
    push(conn, connector)
    (step,) = [s for s in connector.list_scores() if s.name == "first_wrong_step"]
    assert step.span_id is None and step.value == 2
    # Pulled back, the number finds the step again (index 1), the same one the desk marked.
    from review.pulled import pull_scores

    conn.execute("UPDATE grades SET first_wrong_step = NULL, updated_at = '2000-01-01T00:00:00Z'")
    pull_scores(conn, connector, lambda rid, v: set(REQUIRED))
    assert scalar(conn, "SELECT first_wrong_step FROM grades WHERE run = ?", run) == 1


def test_grades_without_a_mark_push_as_before(desk: Any) -> None:
    conn, setup, _connector, runs = desk
    _grade_all(conn, runs[0], setup.rubric)
    grading.set_value(conn, runs[0], "ana", setup.rubric, "task_success", None)
    payload = _outbox(conn)[-1]["payload"]
    run_id = scalar(conn, "SELECT run_id FROM runs WHERE id = ?", runs[0])
    every = [score_id("demo", run_id, c.id, "ana") for c in setup.rubric.criteria]
    assert sorted(payload["delete"]) == sorted(every)


def test_a_pulled_grade_keeps_its_first_wrong_step(desk: Any) -> None:
    """Pushed, then pulled back (the store is the truth once pushed): the mark comes back as
    the grade's step, never as a criterion value."""
    from review.pulled import pull_scores

    conn, setup, connector, runs = desk
    rubric, run = setup.rubric, runs[4]
    grading.toggle_first_wrong_step(conn, run, "ana", rubric, 1)
    _grade_all(conn, run, rubric)
    push(conn, connector)
    conn.execute("UPDATE grades SET first_wrong_step = NULL, updated_at = '2000-01-01T00:00:00Z'")
    pull_scores(conn, connector, lambda rid, v: set(REQUIRED))
    g = grading.get_grade(conn, run, "ana", rubric)
    assert g is not None and g.first_wrong_step == 1 and "first_wrong_step" not in g.values


class _Unreachable(StoreConnector):
    """A store that does not answer at all (no connection), counting what was tried."""

    name = "demo"
    push_batch = 2

    def __init__(self) -> None:
        self.calls = 0

    def push_scores(self, scores: Sequence[Score]) -> None:
        self.calls += 1
        raise StoreUnreachable("demo POST http://127.0.0.1:1/api/scores: cannot connect")

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        self.calls += 1
        raise StoreUnreachable("demo DELETE http://127.0.0.1:1/api/scores: cannot connect")


def test_an_unreachable_store_ends_the_round_and_the_rest_wait_untried(desk: Any) -> None:
    conn, setup, connector, runs = desk
    for run in runs[:5]:
        _grade_all(conn, run, setup.rubric)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    down = _Unreachable()
    report = push(conn, down, now=t0, rng=random.Random(1))  # type: ignore[arg-type]
    # One request found the store down: its two grades fail, the other three are not tried.
    assert down.calls == 1
    assert (report.pushed, report.failed, report.untried) == (0, 2, 3)
    rows = _outbox(conn)
    assert [r["attempts"] for r in rows] == [1, 1, 0, 0, 0]
    # The untried grades are still due: a store that answers takes them at once.
    assert push(conn, connector, now=t0).pushed == 3
    assert push(conn, connector, now=t0 + timedelta(hours=1)).pushed == 2


def test_a_skip_is_kept_never_pushed_and_taken_back_by_an_answer_or_undo(desk: Any) -> None:
    """Skipping a complete grade withdraws its scores and counts the run as skipped (graded =
    2), neither graded nor to do; a sync pushes nothing of it; an answer takes the skip back
    and the grade is pushed again; undo walks back through the skip."""
    conn, setup, connector, runs = desk
    run, rubric = runs[0], setup.rubric
    g = grading.set_skip(conn, run, "ana", rubric, "   ")
    assert g.skipped is None and _graded(conn, "ana", run) == grading.TODO
    g = grading.set_skip(conn, run, "ana", rubric, " no\noutput ")
    assert g.skipped == "no output" and not g.complete
    assert _graded(conn, "ana", run) == grading.SKIPPED
    assert _outbox(conn) == [], "a skip of an incomplete grade pushes nothing"
    grading.undo(conn, "ana", rubric)
    assert grading.get_grade(conn, run, "ana", rubric).skipped is None  # type: ignore[union-attr]
    assert _graded(conn, "ana", run) == grading.TODO

    _grade_all(conn, run, rubric)
    push(conn, connector)
    assert {s.name for s in connector.list_scores()} == set(REQUIRED)
    g = grading.set_skip(conn, run, "ana", rubric, "cannot judge the tone")
    assert not g.complete and g.values == COMPLETE
    assert _graded(conn, "ana", run) == grading.SKIPPED
    assert _outbox(conn)[-1]["payload"]["upsert"] == []
    push(conn, connector)
    assert list(connector.list_scores()) == [], "the skipped grade is withdrawn"
    g = grading.set_value(conn, run, "ana", rubric, "policy", "safe")  # an answer: un-skipped
    assert g.skipped is None and g.complete and _graded(conn, "ana", run) == grading.GRADED
    grading.undo(conn, "ana", rubric)
    g = grading.get_grade(conn, run, "ana", rubric)
    assert g is not None and g.skipped == "cannot judge the tone" and not g.complete
    # Escalating or commenting keeps the skip.
    g = grading.set_escalate(conn, run, "ana", rubric, True)
    assert g.skipped == "cannot judge the tone" and g.escalate


def test_the_first_wrong_step_is_set_kept_and_cleared(desk: Any) -> None:
    conn, setup, _, runs = desk
    run, rubric = runs[0], setup.rubric
    assert grading.set_first_wrong_step(conn, run, "ana", rubric, 2).first_wrong_step == 2
    assert grading.set_first_wrong_step(conn, run, "ana", rubric, 2).first_wrong_step == 2
    assert grading.set_first_wrong_step(conn, run, "ana", rubric, None).first_wrong_step is None
    with pytest.raises(ValueError):
        grading.set_first_wrong_step(conn, run, "ana", rubric, -1)

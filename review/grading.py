"""Grades: one reviewer's verdict on one run under one rubric version.

Every change a reviewer makes (a level, a comment, the escalation flag, the first wrong step,
an undo) is one SQLite
transaction that writes the grade, an event for undo and audit, and, when the grade is or was
complete, the outbox row that carries it to the store. Nothing waits in memory.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from review.rubric import Rubric
from store.db import transaction
from store.identity import FIRST_WRONG_STEP, score_id
from store.outbox import enqueue
from store.sync import now_iso


@dataclass(frozen=True)
class Grade:
    """The state of one grade. ``values`` maps criterion id to the chosen level value;
    ``first_wrong_step`` is the index (``steps.idx``) of the step marked as the first wrong one."""

    run: int
    reviewer: str
    rubric_id: str
    rubric_version: str
    values: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    escalate: bool = False
    seconds_spent: float = 0.0
    complete: bool = False
    first_wrong_step: int | None = None
    #: Why the reviewer could not judge the run (None: not skipped). A skipped grade is never
    #: complete, so it is never pushed; its assignment counts as skipped, not graded or to do.
    skipped: str | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "values": self.values,
            "comment": self.comment,
            "escalate": self.escalate,
            "seconds_spent": self.seconds_spent,
            "complete": self.complete,
        }
        # Only when set: the events of grades without a mark read as they always did.
        if self.first_wrong_step is not None:
            body["first_wrong_step"] = self.first_wrong_step
        if self.skipped is not None:
            body["skipped"] = self.skipped
        return json.dumps(body, sort_keys=True, ensure_ascii=False)


def _from_row(row: sqlite3.Row | tuple[Any, ...]) -> Grade:
    return Grade(
        run=row[0],
        reviewer=row[1],
        rubric_id=row[2],
        rubric_version=row[3],
        values=json.loads(row[4]),
        comment=row[5],
        escalate=bool(row[6]),
        seconds_spent=float(row[7]),
        complete=bool(row[8]),
        first_wrong_step=None if row[9] is None else int(row[9]),
        skipped=row[10],
    )


_SELECT = (
    'SELECT run, reviewer, rubric_id, rubric_version, "values", comment, escalate, '
    "seconds_spent, complete, first_wrong_step, skip_reason FROM grades "
    "WHERE run = ? AND reviewer = ? AND rubric_id = ? AND rubric_version = ?"
)


def get_grade(conn: sqlite3.Connection, run: int, reviewer: str, rubric: Rubric) -> Grade | None:
    """The reviewer's grade on ``run`` under this rubric version, if any."""
    row = conn.execute(_SELECT, (run, reviewer, rubric.id, rubric.version)).fetchone()
    return _from_row(row) if row else None


def _remote_payload(
    conn: sqlite3.Connection, grade: Grade, rubric: Rubric, *, live: bool, at: str
) -> tuple[str, dict[str, object]]:
    source, run_id = conn.execute(
        "SELECT source, run_id FROM runs WHERE id = ?", (grade.run,)
    ).fetchone()
    upsert: list[dict[str, object]] = []
    delete: list[str] = []
    for criterion in rubric.criteria:
        sid = score_id(source, run_id, criterion.id, grade.reviewer)
        value = grade.values.get(criterion.id)
        if live and value is not None:
            upsert.append(
                {
                    "id": sid,
                    "trace_id": run_id,
                    "name": criterion.id,
                    "value": value,
                    "comment": grade.comment,
                    "created_at": at,
                    "metadata": {
                        "reviewer": grade.reviewer,
                        "rubric_id": grade.rubric_id,
                        "rubric_version": grade.rubric_version,
                        "escalate": grade.escalate,
                        "seconds_spent": round(grade.seconds_spent, 3),
                    },
                }
            )
        else:
            delete.append(sid)
    _step_payload(conn, grade, source, run_id, live=live, at=at, upsert=upsert, delete=delete)
    return source, {"trace_id": run_id, "upsert": upsert, "delete": delete}


def _step_payload(
    conn: sqlite3.Connection,
    grade: Grade,
    source: str,
    run_id: str,
    *,
    live: bool,
    at: str,
    upsert: list[dict[str, object]],
    delete: list[str],
) -> None:
    """The first wrong step as a score on that step's span (None when the store gave the step
    no span id: the value, the step's number as the desk shows it, from 1, still says which
    step). One id per grade, so moving the mark updates the same remote score (Langfuse moves
    its ``observationId``)."""
    sid = score_id(source, run_id, FIRST_WRONG_STEP, grade.reviewer)
    idx = grade.first_wrong_step
    if live and idx is not None:
        row = conn.execute(
            "SELECT span_id FROM steps WHERE run = ? AND idx = ?", (grade.run, idx)
        ).fetchone()
        upsert.append(
            {
                "id": sid,
                "trace_id": run_id,
                "span_id": row[0] if row else None,
                "name": FIRST_WRONG_STEP,
                "value": idx + 1,  # the step's number, as a person reads it (steps.idx + 1)
                "comment": None,
                "created_at": at,
                "metadata": {
                    "reviewer": grade.reviewer,
                    "rubric_id": grade.rubric_id,
                    "rubric_version": grade.rubric_version,
                    "escalate": grade.escalate,
                    "seconds_spent": round(grade.seconds_spent, 3),
                },
            }
        )
        return
    # Deleted only if this grade ever had a mark: grades without one push exactly as before.
    marked = conn.execute(
        "SELECT 1 FROM grade_events WHERE run = ? AND reviewer = ? AND rubric_id = ? "
        "AND rubric_version = ? AND action = ? LIMIT 1",
        (grade.run, grade.reviewer, grade.rubric_id, grade.rubric_version, FIRST_WRONG_STEP),
    ).fetchone()
    if marked is not None:
        delete.append(sid)


def _write(
    conn: sqlite3.Connection,
    before: Grade | None,
    after: Grade | None,
    rubric: Rubric,
    action: str,
    *,
    undone: bool = False,
) -> None:
    """Persist ``after`` (None deletes), its event and its outbox row. Caller holds the txn."""
    at = now_iso()
    key = after or before
    assert key is not None
    if after is None:
        conn.execute(
            "DELETE FROM grades WHERE run = ? AND reviewer = ? AND rubric_id = ? "
            "AND rubric_version = ?",
            (key.run, key.reviewer, key.rubric_id, key.rubric_version),
        )
    else:
        conn.execute(
            'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", comment, '
            "escalate, seconds_spent, complete, first_wrong_step, skip_reason, origin, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'local', ?, ?) "
            "ON CONFLICT (run, reviewer, rubric_id, rubric_version) DO UPDATE SET "
            '"values" = excluded."values", comment = excluded.comment, '
            "escalate = excluded.escalate, seconds_spent = excluded.seconds_spent, "
            "complete = excluded.complete, first_wrong_step = excluded.first_wrong_step, "
            "skip_reason = excluded.skip_reason, origin = 'local', "
            "updated_at = excluded.updated_at",
            (
                after.run,
                after.reviewer,
                after.rubric_id,
                after.rubric_version,
                json.dumps(after.values, sort_keys=True, ensure_ascii=False),
                after.comment,
                int(after.escalate),
                after.seconds_spent,
                int(after.complete),
                after.first_wrong_step,
                after.skipped,
                at,
                at,
            ),
        )
    conn.execute(
        "INSERT INTO grade_events (run, reviewer, rubric_id, rubric_version, action, before, "
        "after, at, undone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key.run,
            key.reviewer,
            key.rubric_id,
            key.rubric_version,
            action,
            before.to_json() if before else None,
            after.to_json() if after else None,
            at,
            int(undone),
        ),
    )
    was_live = bool(before and before.complete)
    is_live = bool(after and after.complete)
    if is_live or was_live:
        store, payload = _remote_payload(
            conn, after if is_live and after else key, rubric, live=is_live, at=at
        )
        enqueue(
            conn, store=store, run=key.run, reviewer=key.reviewer, payload=payload, created_at=at
        )
    was_state, is_state = _queue_state(before), _queue_state(after)
    if is_state != was_state:
        conn.execute(
            "UPDATE assignments SET graded = ? WHERE reviewer = ? AND run = ?",
            (is_state, key.reviewer, key.run),
        )


#: ``assignments.graded``: to do, graded (a complete grade), skipped (with a reason).
TODO, GRADED, SKIPPED = 0, 1, 2


def write_pulled(conn: sqlite3.Connection, grade: Grade, created_at: str, updated_at: str) -> None:
    """Write a grade as the store holds it (inside the caller's transaction; the rules of
    which copy wins are :mod:`review.pulled`'s), and its reviewer's assignment as graded or
    to do. A grade new here is ``remote``; one here already keeps its origin, and keeps its
    ``updated_at`` when the store's copy says the same (a pull that brings nothing new moves
    nothing). No event and no outbox row: it came from the store."""
    conn.execute(
        'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", comment, '
        "escalate, seconds_spent, complete, first_wrong_step, origin, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'remote', ?, ?) "
        "ON CONFLICT (run, reviewer, rubric_id, rubric_version) DO UPDATE SET "
        'updated_at = CASE WHEN grades."values" = excluded."values" '
        "AND grades.comment IS excluded.comment AND grades.escalate = excluded.escalate "
        "AND grades.complete = excluded.complete "
        "AND grades.first_wrong_step IS excluded.first_wrong_step "
        "THEN grades.updated_at ELSE excluded.updated_at END, "
        '"values" = excluded."values", comment = excluded.comment, '
        "escalate = excluded.escalate, seconds_spent = excluded.seconds_spent, "
        "complete = excluded.complete, "
        # Every connector reads step-level scores back, so a mark the store no longer
        # holds was taken back by its reviewer.
        "first_wrong_step = excluded.first_wrong_step",
        (
            grade.run,
            grade.reviewer,
            grade.rubric_id,
            grade.rubric_version,
            json.dumps(grade.values, sort_keys=True, ensure_ascii=False),  # as a grade typed here
            grade.comment,
            int(grade.escalate),
            grade.seconds_spent,
            int(grade.complete),
            grade.first_wrong_step,
            created_at,
            updated_at,
        ),
    )
    conn.execute(
        "UPDATE assignments SET graded = ? WHERE reviewer = ? AND run = ?",
        (int(grade.complete), grade.reviewer, grade.run),
    )


def _queue_state(grade: Grade | None) -> int:
    if grade is not None and grade.skipped is not None:
        return SKIPPED
    return GRADED if grade is not None and grade.complete else TODO


def _change(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    action: str,
    seconds: float,
    change: Callable[[Grade], dict[str, Any]],
) -> Grade:
    # The read happens inside the write transaction, so two writers never lose an update.
    # Inside a caller's transaction (the desk commits a burst of keys at once) it is a savepoint.
    with transaction(conn):
        before = get_grade(conn, run, reviewer, rubric)
        base = before or Grade(run, reviewer, rubric.id, rubric.version)
        after = replace(base, seconds_spent=base.seconds_spent + max(seconds, 0.0), **change(base))
        after = replace(after, complete=after.skipped is None and rubric.is_complete(after.values))
        _write(conn, before, after, rubric, action)
    return after


def set_value(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    criterion: str,
    value: Any,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Set one criterion (None clears it) and commit; the grade is complete when every required
    criterion has a value. ``seconds`` is time spent on the run since the last commit. An answer
    on a skipped run takes the skip back: the reviewer judged it after all."""
    c = rubric.criterion(criterion)
    if c is None:
        raise KeyError(f"rubric {rubric.id} has no criterion {criterion!r}")
    level = None if value is None else c.level_for_value(value)
    if value is not None and level is None:
        raise ValueError(f"{value!r} is not a level of {criterion!r}")

    def change(base: Grade) -> dict[str, Any]:
        values = dict(base.values)
        if level is None:
            values.pop(criterion, None)
        else:
            values[criterion] = level.value
            return {"values": values, "skipped": None}
        return {"values": values}

    return _change(conn, run, reviewer, rubric, f"set:{criterion}", seconds, change)


def set_comment(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    comment: str | None,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Set or clear the reviewer's comment and commit."""
    text = (comment or "").strip() or None
    return _change(conn, run, reviewer, rubric, "comment", seconds, lambda _: {"comment": text})


def set_escalate(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    escalate: bool,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Flag (or unflag) the run for escalation and commit."""
    return _change(
        conn, run, reviewer, rubric, "escalate", seconds, lambda _: {"escalate": escalate}
    )


def toggle_escalate(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Flip the escalation flag as it stands in the database (read and write in one
    transaction, so a concurrent writer cannot make the flip land twice) and commit."""
    return _change(
        conn,
        run,
        reviewer,
        rubric,
        "escalate",
        seconds,
        lambda base: {"escalate": not base.escalate},
    )


def toggle_first_wrong_step(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    step: int,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Mark step ``step`` (``steps.idx``) of ``run`` as the first wrong one; on the step already
    marked, clear the mark. Read and written in one transaction, like the escalation flag."""
    if step < 0:
        raise ValueError(f"step {step} is not a step of run {run}")
    return _change(
        conn,
        run,
        reviewer,
        rubric,
        FIRST_WRONG_STEP,
        seconds,
        lambda base: {"first_wrong_step": None if base.first_wrong_step == step else step},
    )


def set_first_wrong_step(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    step: int | None,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Mark step ``step`` as the first wrong one (None clears the mark) and commit. Marking the
    step already marked keeps it."""
    if step is not None and step < 0:
        raise ValueError(f"step {step} is not a step of run {run}")
    return _change(
        conn, run, reviewer, rubric, FIRST_WRONG_STEP, seconds, lambda _: {"first_wrong_step": step}
    )


def set_skip(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    rubric: Rubric,
    reason: str | None,
    *,
    seconds: float = 0.0,
) -> Grade:
    """Skip the run with ``reason`` (None or blank takes the skip back) and commit. Answers
    already given stay, but a skipped grade is not complete: what was pushed of it is deleted
    from the store and nothing of it is pushed until the skip is taken back."""
    text = " ".join((reason or "").split()) or None
    return _change(conn, run, reviewer, rubric, "skip", seconds, lambda _: {"skipped": text})


def _parse_state(text: str | None, key: Grade) -> Grade | None:
    if text is None:
        return None
    body = json.loads(text)
    return replace(
        key,
        values=body["values"],
        comment=body["comment"],
        escalate=body["escalate"],
        seconds_spent=body["seconds_spent"],
        complete=body["complete"],
        first_wrong_step=body.get("first_wrong_step"),
        skipped=body.get("skipped"),
    )


def undo(conn: sqlite3.Connection, reviewer: str, rubric: Rubric) -> Grade | None:
    """Undo the reviewer's latest change under this rubric version; return the restored grade
    (``None`` values mean the grade is gone). Returns None if there is nothing to undo."""
    with transaction(conn):
        row = conn.execute(
            "SELECT id, run, before FROM grade_events WHERE reviewer = ? AND rubric_id = ? "
            "AND rubric_version = ? AND undone = 0 ORDER BY id DESC LIMIT 1",
            (reviewer, rubric.id, rubric.version),
        ).fetchone()
        if row is None:
            return None
        event_id, run, before_text = row
        current = get_grade(conn, run, reviewer, rubric)
        key = Grade(run, reviewer, rubric.id, rubric.version)
        restored = _parse_state(before_text, key)
        conn.execute("UPDATE grade_events SET undone = 1 WHERE id = ?", (event_id,))
        _write(conn, current, restored, rubric, "undo", undone=True)
    return restored or key

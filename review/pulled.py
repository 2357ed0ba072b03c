"""Pulled grades: review's rules for the grades a store holds, merged with the copy here.

A sync (``store.sync``) lists agentdeck's scores in a store, one per criterion, and hands them to
:class:`PulledGrades` inside the transaction that commits them. The rules:

- A grade (or adjudication) changed here and not yet pushed wins; once pushed, the store is the
  truth, so an edit made on another laptop comes back. One changed here after the store's copy
  was written is newer and wins too (its push may have finished while the scores were listed).
- Adjudicated scores (``metadata.kind == "adjudicated"``, or the pseudo-reviewer
  :data:`~store.identity.ADJUDICATED`) are final grades, not a reviewer's: they go to the
  ``adjudications`` table (:func:`review.adjudication.write_adjudication`), never to ``grades``.
- The step-level score is the grade's first wrong step (:func:`marked_step`), not a criterion.
- A pulled grade is complete when every required criterion of its rubric version has a value.
- Its times are the store's (when its scores were made and last changed), never the pull's.

:func:`pull` and :func:`pull_scores` are ``store.sync``'s with these rules handed in.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from review.adjudication import Adjudication, write_adjudication
from review.grading import Grade, write_pulled
from store import sync
from store.identity import ADJUDICATED, FIRST_WRONG_STEP
from store.sync import MAX_VALUE_CHARS, run_pk
from store.timestamps import canonical, instant_or_none

if TYPE_CHECKING:
    from store.connectors.base import StoreConnector as Connector
    from store.models import Score
    from store.sync import PullReport, SamplePlan

#: ``required(rubric_id, version)``: the required criteria of a rubric version this database
#: knows (None: unknown, and a pulled grade counts as complete).
Required = Callable[[str, str], "set[str] | None"]


def _unknown(rubric_id: str, version: str) -> set[str] | None:
    return None


class PulledGrades:
    """The rules that merge a store's scores with the grades and adjudications here
    (``store.sync.ScoreMerge``). ``required`` tells complete remote grades from partial ones."""

    def __init__(self, required: Required = _unknown) -> None:
        self.required = required

    def merge(
        self, conn: sqlite3.Connection, source: str, scores: Sequence[Score], now: str
    ) -> int:
        """Write the store's grades and adjudications that win over the copy here (inside the
        caller's transaction); how many were written. ``now``: the pull's time, for a grade
        whose scores carry none."""
        groups: dict[tuple[str, str, str, str], list[Score]] = defaultdict(list)
        finals: dict[tuple[str, str, str], list[Score]] = defaultdict(list)
        for score in scores:
            m = score.metadata
            if m.kind == ADJUDICATED or m.reviewer == ADJUDICATED:
                finals[(score.trace_id, m.rubric_id, m.rubric_version)].append(score)
                continue
            groups[(score.trace_id, m.reviewer, m.rubric_id, m.rubric_version)].append(score)
        count = 0
        for (trace_id, reviewer, rubric_id, version), graded in sorted(groups.items()):
            pk = run_pk(conn, source, trace_id)
            if pk is not None and self._grade(conn, pk, reviewer, rubric_id, version, graded, now):
                count += 1
        for (trace_id, rubric_id, version), scored in sorted(finals.items()):
            pk = run_pk(conn, source, trace_id)
            if pk is not None and _final(conn, pk, rubric_id, version, scored, now):
                count += 1
        return count

    def _grade(
        self,
        conn: sqlite3.Connection,
        pk: int,
        reviewer: str,
        rubric_id: str,
        version: str,
        graded: list[Score],
        now: str,
    ) -> bool:
        """Write one reviewer's grade from the store unless the copy here wins."""
        local_at = conn.execute(
            "SELECT updated_at FROM grades WHERE run = ? AND reviewer = ? AND rubric_id = ? "
            "AND rubric_version = ? AND origin = 'local'",
            (pk, reviewer, rubric_id, version),
        ).fetchone()
        stamped = [s.created_at for s in graded if s.created_at is not None]
        if kept_here(conn, pk, reviewer, local_at[0] if local_at else None, stamped):
            return False
        steps = [s for s in graded if s.name == FIRST_WRONG_STEP]
        values = {s.name: s.value for s in graded if s.name != FIRST_WRONG_STEP}
        need = self.required(rubric_id, version)
        grade = Grade(
            run=pk,
            reviewer=reviewer,
            rubric_id=rubric_id,
            rubric_version=version,
            values=values,
            comment=next((s.comment for s in graded if s.comment), None),
            escalate=any(s.metadata.escalate for s in graded),
            seconds_spent=max((s.metadata.seconds_spent or 0.0) for s in graded),
            complete=all(values.get(c) is not None for c in need) if need is not None else True,
            first_wrong_step=marked_step(conn, pk, steps[0]) if steps else None,
        )
        # When the grade was made, as the store dates its scores (the last of them), never
        # when this laptop heard of it; a pull that brings nothing new keeps the time it had
        # (a grade typed here and pulled back keeps the time it was typed).
        created = canonical(min(stamped)) if stamped else now
        changed = canonical(max(stamped)) if stamped else now
        write_pulled(conn, grade, created, changed)
        return True


def _final(
    conn: sqlite3.Connection,
    pk: int,
    rubric_id: str,
    version: str,
    scored: list[Score],
    now: str,
) -> bool:
    """Write an adjudication from the store unless the one here wins (not yet pushed, or
    changed after the store's copy)."""
    local_at = conn.execute(
        "SELECT updated_at FROM adjudications WHERE run = ? AND rubric_id = ? "
        "AND rubric_version = ?",
        (pk, rubric_id, version),
    ).fetchone()
    stamped = [s.created_at for s in scored if s.created_at is not None]
    if kept_here(conn, pk, ADJUDICATED, local_at[0] if local_at else None, stamped):
        return False
    newest_remote = max(stamped) if stamped else None
    write_adjudication(
        conn,
        Adjudication(
            run=pk,
            rubric_id=rubric_id,
            rubric_version=version,
            values={s.name: s.value for s in scored if s.name != FIRST_WRONG_STEP},
            comment=next((s.comment for s in scored if s.comment), None),
            adjudicator=next(
                (s.metadata.adjudicator for s in scored if s.metadata.adjudicator), ADJUDICATED
            ),
            created_at=canonical(min(stamped)) if stamped else now,
            # When it was decided (the store's time), not when this laptop heard of it.
            updated_at=canonical(newest_remote) if newest_remote else now,
        ),
    )
    return True


def kept_here(
    conn: sqlite3.Connection,
    run: int,
    reviewer: str,
    local_at: str | None,
    stamped: list[datetime],
) -> bool:
    """Whether the copy here wins over the store's (``stamped``: its scores' times).

    A grade (or adjudication) changed here and not yet pushed wins; once pushed, the store is
    the truth, so an edit made on another laptop comes back. One changed here after the store's
    copy was written is newer and wins too (its push may have finished while the scores were
    being listed). Compared as instants: the store may write its times in another shape."""
    unsent = conn.execute(
        "SELECT 1 FROM outbox WHERE run = ? AND reviewer = ? AND pushed_at IS NULL LIMIT 1",
        (run, reviewer),
    ).fetchone()
    if unsent is not None:
        return True
    if local_at is None:
        return False
    newest_remote = max(stamped) if stamped else None
    local = instant_or_none(local_at)
    return newest_remote is None or local is None or local > newest_remote


def marked_step(conn: sqlite3.Connection, run: int, score: Score) -> int | None:
    """The index (``steps.idx``) of the step a first-wrong-step score marks: the step whose span
    it sits on when the run's steps have spans, else the step numbered by its value (from 1, as
    the desk shows it; Phoenix sends labels as text)."""
    if score.span_id is not None:
        row = conn.execute(
            "SELECT idx FROM steps WHERE run = ? AND span_id = ?", (run, score.span_id)
        ).fetchone()
        if row is not None:
            return int(row[0])
    try:
        number = float(str(score.value))
    except ValueError:
        return None
    return int(number) - 1 if number.is_integer() and number >= 1 else None


def pull(
    conn: sqlite3.Connection,
    connector: Connector,
    plan: SamplePlan,
    *,
    required: Required = _unknown,
    page_size: int | None = None,
    progress: Callable[[PullReport], None] | None = None,
    dry_run: bool = False,
    max_value_chars: int = MAX_VALUE_CHARS,
) -> PullReport:
    """``store.sync.pull`` with review's rules for the store's grades (see the module)."""
    return sync.pull(
        conn,
        connector,
        plan,
        PulledGrades(required),
        page_size=page_size,
        progress=progress,
        dry_run=dry_run,
        max_value_chars=max_value_chars,
    )


def pull_scores(
    conn: sqlite3.Connection,
    connector: Connector,
    required: Required = _unknown,
    *,
    report: PullReport | None = None,
) -> int:
    """Import agentdeck's scores from the store as grades and adjudications (the runs' scores
    only: no listing); local unsent or newer ones win. ``store.sync.pull_scores`` with these
    rules."""
    return sync.pull_scores(conn, connector, PulledGrades(required), report=report)

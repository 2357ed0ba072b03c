"""Where a reviewer was at the desk: the run open and the filters, per reviewer and rubric.

The desk reopens there (:meth:`review.tape.DeskTape` reads it when it opens). Saving it is a
write, and moving through the queue is read-only (a burst of ``j`` takes no write lock), so the
tape does not write it on every move: it saves the place with the next batch that writes anyway
(a grade), on quit, and now and then when the write lock is free. A crash loses at most the
moves since the last save; the grades are never at stake.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from review.queue import QueueFilter
from store.timestamps import now_iso


@dataclass(frozen=True)
class Place:
    """The run that was open (None: none) and the filters it was open under."""

    run: int | None
    flt: QueueFilter


def load_place(conn: sqlite3.Connection, reviewer: str, rubric_id: str) -> Place | None:
    """The place saved for ``reviewer`` under rubric ``rubric_id``, or None."""
    row = conn.execute(
        "SELECT run, workflow, status, graded, week FROM desk_places "
        "WHERE reviewer = ? AND rubric_id = ?",
        (reviewer, rubric_id),
    ).fetchone()
    if row is None:
        return None
    graded = None if row[3] is None else bool(row[3])
    return Place(row[0], QueueFilter(workflow=row[1], status=row[2], graded=graded, week=row[4]))


def save_place(conn: sqlite3.Connection, reviewer: str, rubric_id: str, place: Place) -> None:
    """Keep ``place`` as where ``reviewer`` is under rubric ``rubric_id`` (one upsert)."""
    flt = place.flt
    conn.execute(
        "INSERT INTO desk_places (reviewer, rubric_id, run, workflow, status, graded, week, "
        "saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reviewer, rubric_id) DO UPDATE "
        "SET run = excluded.run, workflow = excluded.workflow, status = excluded.status, "
        "graded = excluded.graded, week = excluded.week, saved_at = excluded.saved_at",
        (
            reviewer,
            rubric_id,
            place.run,
            flt.workflow,
            flt.status,
            None if flt.graded is None else int(flt.graded),
            flt.week,
            now_iso(),
        ),
    )

"""The review queue: a reviewer's assigned runs, read from SQLite by window, and one run's detail.

The desk never holds the whole queue: with a million runs it asks for the rows it shows, so
opening the desk and moving to the next run cost the same with 1k or 1M runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any


def week_bounds(week: str) -> tuple[str, str]:
    """The stored-timestamp range ``[monday, next monday)`` (UTC) of an ISO week ``YYYY-Www``:
    a range on ``started_at``, so the week filter is an index range, not a scan."""
    year, _, num = week.partition("-W")
    monday = date.fromisocalendar(int(year), int(num), 1)
    return _stamp(monday), _stamp(monday + timedelta(days=7))


def week_label(started_at: str) -> str:
    """The ISO week ``YYYY-Www`` (UTC) of a stored timestamp."""
    year, week, _ = date.fromisoformat(started_at[:10]).isocalendar()
    return f"{year}-W{week:02d}"


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000000Z"


@dataclass(frozen=True)
class QueueFilter:
    """What the reviewer narrowed the queue to. ``graded``: None all, True graded, False to do
    (a skipped run is in neither, only in all); ``week``: an ISO week ``YYYY-Www`` (UTC) the run
    started in, None any."""

    workflow: str | None = None
    status: str | None = None
    graded: bool | None = None
    week: str | None = None

    def where(self, reviewer: str) -> tuple[str, list[Any]]:
        clauses = ["a.reviewer = ?"]
        args: list[Any] = [reviewer]
        if self.workflow:
            clauses.append("a.workflow = ?")
            args.append(self.workflow)
        if self.status:
            clauses.append("a.status = ?")
            args.append(self.status)
        if self.graded is not None:
            clauses.append("a.graded = ?")
            args.append(int(self.graded))
        if self.week:
            clauses.append("a.started_at >= ? AND a.started_at < ?")
            args.extend(week_bounds(self.week))
        return " AND ".join(clauses), args


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue."""

    run: int
    run_id: str
    workflow: str
    started_at: str
    status: str
    graded: bool
    reason: str
    business_ref: str | None
    cost_usd: float | None
    #: Not graded, but the reviewer has started: some answer, a comment, the escalation flag or
    #: a marked step is saved (a half-graded run).
    draft: bool = False
    #: Skipped with a reason (``assignments.graded`` = 2): neither graded nor to do.
    skipped: bool = False


#: Whether the reviewer's grade of ``a.run`` is a draft (one probe of the grades' unique index).
_DRAFT = (
    "(a.graded = 0 AND EXISTS (SELECT 1 FROM grades g WHERE g.run = a.run "
    "AND g.reviewer = a.reviewer AND g.complete = 0 AND (g.\"values\" <> '{}' "
    "OR coalesce(g.comment, '') <> '' OR g.escalate OR g.first_wrong_step IS NOT NULL)))"
)

_ORDER = "ORDER BY a.started_at, a.run"


def count(conn: sqlite3.Connection, reviewer: str, flt: QueueFilter = QueueFilter()) -> int:
    """How many runs match the filter."""
    where, args = flt.where(reviewer)
    return int(
        conn.execute(f"SELECT count(*) FROM assignments a WHERE {where}", args).fetchone()[0]
    )


def progress(conn: sqlite3.Connection, reviewer: str) -> tuple[int, int]:
    """(graded, assigned) for the reviewer; both counts come from indexes."""
    assigned = count(conn, reviewer)
    graded = count(conn, reviewer, QueueFilter(graded=True))
    return graded, assigned


def empty_queue_note(conn: sqlite3.Connection, reviewer: str, roster: Sequence[str]) -> str | None:
    """Why the reviewer's queue is empty when runs were sampled for others (a roster or an
    overlap that gives this reviewer nothing), or None when the queue is not empty that way."""
    if count(conn, reviewer):
        return None
    others = int(conn.execute("SELECT count(DISTINCT run) FROM assignments").fetchone()[0])
    if not others:
        return None
    runs = "run" if others == 1 else "runs"
    return f"{others} {runs} sampled, none for you ({reviewer}); roster: {', '.join(roster)}"


def window(
    conn: sqlite3.Connection,
    reviewer: str,
    flt: QueueFilter,
    offset: int,
    limit: int,
) -> list[QueueRow]:
    """Rows ``offset .. offset+limit`` of the filtered queue, oldest first."""
    where, args = flt.where(reviewer)
    # Skip on the assignments index alone, then join only the rows we return: an OFFSET over
    # the join would look up a runs row for every skipped assignment.
    # The inner query reads only indexed columns, so skipping touches no table rows.
    rows = conn.execute(
        "SELECT a.run, r.run_id, a.workflow, a.started_at, a.status, a.graded, a.reason, "
        f"r.business_ref, r.cost_usd, {_DRAFT} FROM ("
        f"  SELECT a.run FROM assignments a WHERE {where} {_ORDER} LIMIT ? OFFSET ?"
        ") k CROSS JOIN assignments a CROSS JOIN runs r "
        f"WHERE a.reviewer = ? AND a.run = k.run AND r.id = k.run {_ORDER}",
        [*args, limit, max(offset, 0), reviewer],
    ).fetchall()
    return [_row(r) for r in rows]


def position_of(conn: sqlite3.Connection, reviewer: str, flt: QueueFilter, run: int) -> int | None:
    """The index of ``run`` in the filtered queue, or None when it is not in it."""
    where, args = flt.where(reviewer)
    row = conn.execute(
        f"SELECT a.started_at FROM assignments a WHERE {where} AND a.run = ?", [*args, run]
    ).fetchone()
    if row is None:
        return None
    # A row-value comparison lets SQLite range-scan the index; an OR of the two would not.
    before = conn.execute(
        f"SELECT count(*) FROM assignments a WHERE {where} AND (a.started_at, a.run) < (?, ?)",
        [*args, row[0], run],
    ).fetchone()[0]
    return int(before)


#: Where a run sits in queue order: (started_at, run). The desk moves by these keys (keyset
#: navigation), so the next run costs one index seek however deep into a million-run queue.
Key = tuple[str, int]


def key_of(conn: sqlite3.Connection, reviewer: str, flt: QueueFilter, run: int) -> Key | None:
    """The queue key of ``run`` when it is in the filtered queue, else None."""
    where, args = flt.where(reviewer)
    row = conn.execute(
        f"SELECT a.started_at FROM assignments a WHERE {where} AND a.run = ?", [*args, run]
    ).fetchone()
    return (row[0], run) if row else None


def step(
    conn: sqlite3.Connection,
    reviewer: str,
    flt: QueueFilter,
    key: Key | None,
    *,
    forward: bool = True,
    todo: bool = False,
) -> Key | None:
    """The first run after ``key`` (before it when not ``forward``) in the filtered queue; only
    runs still to grade when ``todo``. ``key`` None starts from the end it moves away from."""
    where, args = (replace(flt, graded=False) if todo else flt).where(reviewer)
    order = "ORDER BY a.started_at, a.run" if forward else "ORDER BY a.started_at DESC, a.run DESC"
    if key is not None:
        where += (
            " AND (a.started_at, a.run) > (?, ?)"
            if forward
            else " AND (a.started_at, a.run) < (?, ?)"
        )
        args = [*args, key[0], key[1]]
    row = conn.execute(
        f"SELECT a.started_at, a.run FROM assignments a WHERE {where} {order} LIMIT 1", args
    ).fetchone()
    return (row[0], row[1]) if row else None


def between(conn: sqlite3.Connection, reviewer: str, flt: QueueFilter, low: Key, high: Key) -> int:
    """How many runs of the filtered queue lie strictly between ``low`` and ``high``."""
    where, args = flt.where(reviewer)
    return int(
        conn.execute(
            f"SELECT count(*) FROM assignments a WHERE {where} "
            "AND (a.started_at, a.run) > (?, ?) AND (a.started_at, a.run) < (?, ?)",
            [*args, low[0], low[1], high[0], high[1]],
        ).fetchone()[0]
    )


def _row(r: Any) -> QueueRow:
    # ``assignments.graded``: 0 to do, 1 graded, 2 skipped; the tenth column is the draft probe.
    return QueueRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5] == 1,
        r[6],
        r[7],
        r[8],
        draft=bool(r[9]),
        skipped=r[5] == 2,
    )


def row_of(conn: sqlite3.Connection, reviewer: str, run: int) -> QueueRow | None:
    """The reviewer's queue line for ``run`` (whatever the filter), or None."""
    r = conn.execute(
        "SELECT a.run, r.run_id, a.workflow, a.started_at, a.status, a.graded, a.reason, "
        f"r.business_ref, r.cost_usd, {_DRAFT} FROM assignments a JOIN runs r ON r.id = a.run "
        "WHERE a.reviewer = ? AND a.run = ?",
        (reviewer, run),
    ).fetchone()
    return _row(r) if r else None


def find(conn: sqlite3.Connection, reviewer: str, text: str) -> int | None:
    """The run in the reviewer's queue whose trace id or business reference matches ``text``:
    an exact match first (earliest run), then the first match by prefix; None when none does."""
    text = text.strip()
    if not text:
        return None
    exact = conn.execute(
        # CROSS JOIN keeps SQLite on the runs indexes first, then one primary-key probe each.
        "SELECT a.run FROM (SELECT id FROM runs WHERE run_id = ? "
        "                   UNION SELECT id FROM runs WHERE business_ref = ?) m "
        "CROSS JOIN assignments a WHERE a.reviewer = ? AND a.run = m.id "
        f"{_ORDER} LIMIT 1",
        (text, text, reviewer),
    ).fetchone()
    if exact:
        return int(exact[0])
    # A prefix as an index range: [text, text + U+10FFFF) holds every string starting with it.
    high = text + "\U0010ffff"
    for column in ("run_id", "business_ref"):
        row = conn.execute(
            "SELECT a.run FROM runs r CROSS JOIN assignments a "
            f"WHERE r.{column} >= ? AND r.{column} < ? AND a.reviewer = ? AND a.run = r.id "
            f"ORDER BY r.{column}, r.id LIMIT 1",
            (text, high, reviewer),
        ).fetchone()
        if row:
            return int(row[0])
    return None


def find_anywhere(conn: sqlite3.Connection, text: str) -> int | None:
    """Any run in the local database whose trace id or business reference matches ``text``
    (exact first, then by prefix), whoever's queue it is in: index seeks on ``runs``, never a
    scan (of runs sharing a reference, the first stored: index order, no sort). None when none
    does."""
    text = text.strip()
    if not text:
        return None
    for column in ("run_id", "business_ref"):
        row = conn.execute(
            f"SELECT id FROM runs WHERE {column} = ? ORDER BY id LIMIT 1", (text,)
        ).fetchone()
        if row:
            return int(row[0])
    high = text + "\U0010ffff"
    for column in ("run_id", "business_ref"):
        row = conn.execute(
            f"SELECT id FROM runs WHERE {column} >= ? AND {column} < ? "
            f"ORDER BY {column}, id LIMIT 1",
            (text, high),
        ).fetchone()
        if row:
            return int(row[0])
    return None


def assigned_to(conn: sqlite3.Connection, run: int) -> list[str]:
    """The reviewers ``run`` is assigned to (empty: it is in nobody's sample)."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT reviewer FROM assignments WHERE run = ? ORDER BY reviewer", (run,)
        )
    ]


def weeks(conn: sqlite3.Connection, reviewer: str) -> list[str]:
    """The ISO weeks (UTC) that have runs in the reviewer's queue, newest first: one index
    seek per week (skip back from the newest run to the last one before its Monday)."""
    out: list[str] = []
    row = conn.execute(
        "SELECT max(started_at) FROM assignments WHERE reviewer = ?", (reviewer,)
    ).fetchone()
    while row and row[0]:
        try:
            week = week_label(row[0])
        except ValueError:
            break  # not a timestamp (kept as sent): no week to offer
        out.append(week)
        monday, _ = week_bounds(week)
        row = conn.execute(
            "SELECT max(started_at) FROM assignments WHERE reviewer = ? AND started_at < ?",
            (reviewer, monday),
        ).fetchone()
    return out


def workflows(conn: sqlite3.Connection, reviewer: str) -> list[str]:
    """The workflows present in the reviewer's queue (a skip-scan: one index seek each)."""
    return [
        r[0]
        for r in conn.execute(
            "WITH RECURSIVE w(name) AS ("
            "  SELECT min(workflow) FROM assignments WHERE reviewer = :r"
            "  UNION ALL"
            "  SELECT (SELECT min(workflow) FROM assignments"
            "          WHERE reviewer = :r AND workflow > w.name)"
            "  FROM w WHERE w.name IS NOT NULL"
            ") SELECT name FROM w WHERE name IS NOT NULL",
            {"r": reviewer},
        )
    ]


@dataclass(frozen=True)
class StepView:
    idx: int
    kind: str
    name: str
    started_at: str | None
    latency_ms: int | None
    arguments: str | None
    result: str | None
    error_type: str | None
    error_message: str | None
    tokens_in: int | None
    tokens_out: int | None


@dataclass(frozen=True)
class RunDetail:
    """Everything the desk shows about one run. All text in it is untrusted."""

    run: int
    source: str
    run_id: str
    workflow: str
    started_at: str
    ended_at: str | None
    status: str
    feedback: str | None
    business_ref: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    latency_ms: int | None
    hydrated: bool
    input: str | None
    output: str | None
    final_action: dict[str, Any] | None
    tags: list[str]
    steps: list[StepView] = field(default_factory=list)


def run_detail(conn: sqlite3.Connection, run: int) -> RunDetail | None:
    """Load one run with its steps."""
    r = conn.execute(
        "SELECT id, source, run_id, workflow, started_at, ended_at, status, feedback, "
        "business_ref, tokens_in, tokens_out, cost_usd, latency_ms, hydrated, input, output, "
        "final_action, tags FROM runs WHERE id = ?",
        (run,),
    ).fetchone()
    if r is None:
        return None
    steps = [
        StepView(*s)
        for s in conn.execute(
            "SELECT idx, kind, name, started_at, latency_ms, arguments, result, error_type, "
            "error_message, tokens_in, tokens_out FROM steps WHERE run = ? ORDER BY idx",
            (run,),
        )
    ]
    final = json.loads(r[16]) if r[16] else None
    return RunDetail(
        run=r[0],
        source=r[1],
        run_id=r[2],
        workflow=r[3],
        started_at=r[4],
        ended_at=r[5],
        status=r[6],
        feedback=r[7],
        business_ref=r[8],
        tokens_in=r[9],
        tokens_out=r[10],
        cost_usd=r[11],
        latency_ms=r[12],
        hydrated=bool(r[13]),
        input=r[14],
        output=r[15],
        final_action=final if isinstance(final, dict) else None,
        tags=json.loads(r[17]) if r[17] else [],
        steps=steps,
    )

"""The outbox: grades waiting to go to their store, drained with retries and backoff.

A grade and its outbox row are written in one transaction (see ``review.grading``). The pusher
sends the newest row for each (run, reviewer) and marks older rows for the same grade as sent
with it, since every push carries the grade's whole remote state. Pushes are idempotent on the
deterministic score ids, so a crash between "sent" and "marked" only repeats an upsert.

A connector whose store takes many scores in one request says how many grades a push may carry
(``push_batch``, e.g. Phoenix); the pusher then sends that many grades together, and only when
such a batch fails sends its grades one by one, so each row keeps its own error and next
attempt (an upsert repeated that way is harmless). Without ``push_batch``, one grade a call.

**Deletes only what the store holds.** A grade's row names a delete for every criterion it
leaves unset (and an absent first-wrong-step mark); most were never pushed, and a store may
ration deletes (Langfuse Cloud: 50 a day on its free plan). ``held_scores`` remembers the score
ids each store holds, or may: a row's upserts are written there (committed) before the row is
sent, since the store may take them and the answer never arrive, and by every pull that lists
them; a delete that succeeds forgets its id. Only held ids are sent as deletes (one that finds
nothing, for an upsert the store never took, is the price of never leaving a cleared score).
A crash after the store took a push and before the commit
repeats it next time: the upsert is idempotent on the score id, and a delete not yet forgotten
is sent again.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from store.connectors.base import ConnectorError, StoreUnreachable
from store.db import transaction
from store.timestamps import canonical

if TYPE_CHECKING:
    from store.connectors.base import StoreConnector as Connector

#: Backoff after the n-th failed attempt: base * 2**(n-1), capped, with equal jitter (half fixed,
#: half random), so a retry never comes right away and retries from many laptops spread out.
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 15 * 60.0


@dataclass
class OutboxEntry:
    id: int
    store: str
    run: int
    reviewer: str
    payload: dict[str, object]


@dataclass
class PushReport:
    pushed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    #: Grades not tried because the store did not answer at all (they wait, still due).
    untried: int = 0


def enqueue(
    conn: sqlite3.Connection,
    *,
    store: str,
    run: int,
    reviewer: str,
    payload: dict[str, object],
    created_at: str,
    kind: str = "grade",
) -> int:
    """Add an outbox row (inside the caller's transaction, next to the grade it carries).

    ``kind`` is ``"grade"`` or ``"adjudication"`` (then ``reviewer`` is the pseudo-reviewer
    :data:`store.identity.ADJUDICATED`); both push the same way."""
    cur = conn.execute(
        "INSERT INTO outbox (store, kind, run, reviewer, payload, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            store,
            kind,
            run,
            reviewer,
            json.dumps(payload, sort_keys=True, ensure_ascii=False),
            created_at,
        ),
    )
    return int(cur.lastrowid or 0)


def pending_count(conn: sqlite3.Connection) -> int:
    """How many grades wait to be pushed (distinct grades, not rows)."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT DISTINCT run, reviewer FROM outbox WHERE pushed_at IS NULL)"
    ).fetchone()
    return int(row[0])


def due(conn: sqlite3.Connection, store: str, now: datetime, limit: int = 500) -> list[OutboxEntry]:
    """The newest unsent row of each grade whose backoff has passed."""
    rows = conn.execute(
        "SELECT o.id, o.store, o.run, o.reviewer, o.payload FROM outbox o "
        "JOIN (SELECT max(id) AS id FROM outbox WHERE store = ? AND pushed_at IS NULL "
        "      GROUP BY run, reviewer) latest ON latest.id = o.id "
        "WHERE o.next_attempt_at IS NULL OR o.next_attempt_at <= ? ORDER BY o.id LIMIT ?",
        (store, canonical(now), limit),
    ).fetchall()
    return [OutboxEntry(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def push(
    conn: sqlite3.Connection,
    connector: Connector,
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> PushReport:
    """Send every due grade to ``connector``; failures back off and stay in the outbox."""
    # Imported here: grading enqueues through this module on every key, and only a push needs
    # the store's models (building them costs start-up time the desk does not need).
    from store.models import Score

    now = now or datetime.now(UTC)
    rng = rng or random.Random()
    report = PushReport()
    entries = due(conn, connector.name, now)
    size = max(1, connector.push_batch)
    held = _held(conn, connector.name, [d for e in entries for d in _named_deletes(e)])

    def failed(entry: OutboxEntry, exc: ConnectorError) -> None:
        attempts = conn.execute("SELECT attempts FROM outbox WHERE id = ?", (entry.id,)).fetchone()[
            0
        ]
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempts)
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
            "WHERE id = ?",
            (canonical(now + timedelta(seconds=delay)), str(exc), entry.id),
        )
        report.failed += 1
        report.errors.append(str(exc))

    alone: list[OutboxEntry] = []
    for i in range(0, len(entries), size):
        group = entries[i : i + size]
        if len(group) == 1:
            alone += group
            continue
        _may_hold(conn, group, held)
        try:
            _push_together(connector, group, held)
        except StoreUnreachable as exc:
            # No answer at all: every other grade would wait out the same retries. Stop here;
            # the grades not tried stay due, untouched, for the next sync.
            for entry in group:
                failed(entry, exc)
            report.untried = len(entries) - i - len(group) + len(alone)
            return report
        except ConnectorError:
            alone += group  # one of them was refused: each alone, with its own error
            continue
        _pushed(conn, group, now, held)
        report.pushed += len(group)
    for n, entry in enumerate(alone):
        upserts = [Score.model_validate(s) for s in entry.payload.get("upsert", [])]  # type: ignore[attr-defined]
        deletes = [d for d in _named_deletes(entry) if d in held]
        _may_hold(conn, [entry], held)
        try:
            if upserts:
                connector.push_scores(upserts)
            if deletes:
                connector.delete_scores(deletes, _trace_ids([entry]))
        except StoreUnreachable as exc:
            failed(entry, exc)
            report.untried = len(alone) - n - 1
            return report
        except ConnectorError as exc:
            failed(entry, exc)
            continue
        _pushed(conn, [entry], now, held)
        report.pushed += 1
    return report


def _push_together(connector: Connector, group: list[OutboxEntry], held: set[str]) -> None:
    """Send these grades in as few calls as the connector takes; ConnectorError if one failed."""
    from store.models import Score

    upserts = [Score.model_validate(s) for e in group for s in e.payload.get("upsert", [])]  # type: ignore[attr-defined]
    deleting = [e for e in group if any(d in held for d in _named_deletes(e))]
    deletes = [d for e in deleting for d in _named_deletes(e) if d in held]
    if upserts:
        connector.push_scores(upserts)
    if deletes:
        connector.delete_scores(deletes, _trace_ids(deleting))


def _upserted(entry: OutboxEntry) -> list[str]:
    """The score ids this row's grade puts in the store."""
    return [str(s["id"]) for s in entry.payload.get("upsert", [])]  # type: ignore[attr-defined]


def _named_deletes(entry: OutboxEntry) -> list[str]:
    """The score ids this row's grade wants gone (held by the store or not)."""
    return [str(s) for s in entry.payload.get("delete", [])]  # type: ignore[attr-defined]


def _held(conn: sqlite3.Connection, store: str, ids: list[str]) -> set[str]:
    """Which of these score ids the store holds, as far as this database knows."""
    out: set[str] = set()
    unique = sorted(set(ids))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        out.update(
            r[0]
            for r in conn.execute(
                f"SELECT score_id FROM held_scores WHERE store = ? AND score_id IN ({marks})",
                (store, *chunk),
            )
        )
    return out


def hold(conn: sqlite3.Connection, store: str, score_ids: list[str]) -> None:
    """Remember that the store holds these scores (inside the caller's transaction): a pull
    that lists them, a push that put them there."""
    conn.executemany(
        "INSERT OR IGNORE INTO held_scores (store, score_id) VALUES (?, ?)",
        [(store, sid) for sid in score_ids],
    )


def _may_hold(conn: sqlite3.Connection, entries: list[OutboxEntry], held: set[str]) -> None:
    """Before sending, count these rows' upserts as held (committed): the store may take them
    and the answer never arrive (a kill, a timeout after the write). If the reviewer then
    clears that criterion, the newer row's delete must still be sent. Counting a score the
    store never took costs at most one delete that finds nothing."""
    fresh = [sid for e in entries for sid in _upserted(e) if sid not in held]
    if not fresh:
        return
    with transaction(conn):
        hold(conn, entries[0].store, fresh)
    held.update(fresh)


def _trace_ids(entries: list[OutboxEntry]) -> list[str]:
    """The runs (trace ids) these outbox rows' grades are on."""
    found = (e.payload.get("trace_id") for e in entries)  # type: ignore[attr-defined]
    return sorted({str(t) for t in found if t})


def _pushed(
    conn: sqlite3.Connection, entries: list[OutboxEntry], now: datetime, held: set[str]
) -> None:
    """Mark ``entries`` sent, and the older rows of the same grades they superseded, in one
    transaction with what the store now holds: their upserts, and not their deletes (only
    the held ones were sent)."""
    with transaction(conn):
        for entry in entries:
            conn.execute(
                "UPDATE outbox SET pushed_at = ?, last_error = NULL WHERE pushed_at IS NULL "
                "AND store = ? AND run = ? AND reviewer = ? AND id <= ?",
                (canonical(now), entry.store, entry.run, entry.reviewer, entry.id),
            )
            hold(conn, entry.store, _upserted(entry))
            conn.executemany(
                "DELETE FROM held_scores WHERE store = ? AND score_id = ?",
                [(entry.store, d) for d in _named_deletes(entry) if d in held],
            )

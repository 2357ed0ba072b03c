"""The local SQLite database: schema, migrations keyed on ``PRAGMA user_version``, connections.

Every connection is opened in WAL mode with ``synchronous=FULL``: a grade is on disk when its
transaction commits, and a reader (the desk) never blocks a writer (sync). A connection belongs
to the thread that opened it; open one per thread with :func:`connect`.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

#: Each entry upgrades the schema from version ``i`` to ``i + 1``. Append; never edit a shipped one.
MIGRATIONS: list[str] = [
    # 1: runs and steps, incidents, rubrics, review queue, grades with their history, the outbox.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        run_id TEXT NOT NULL,
        workflow TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        feedback TEXT,
        business_ref TEXT,
        tokens_in INTEGER,
        tokens_out INTEGER,
        cost_usd REAL,
        latency_ms INTEGER,
        hydrated INTEGER NOT NULL DEFAULT 0,
        input TEXT,
        output TEXT,
        final_action TEXT,
        tags TEXT,
        UNIQUE (source, run_id)
    );
    CREATE INDEX runs_workflow_time ON runs (workflow, started_at);
    CREATE INDEX runs_business_ref ON runs (business_ref);
    CREATE TABLE steps (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        started_at TEXT,
        latency_ms INTEGER,
        arguments TEXT,
        result TEXT,
        error_type TEXT,
        error_message TEXT,
        tokens_in INTEGER,
        tokens_out INTEGER,
        PRIMARY KEY (run, idx)
    ) WITHOUT ROWID;
    CREATE TABLE incidents (
        source TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        workflow TEXT,
        title TEXT NOT NULL,
        severity TEXT,
        status TEXT,
        starts_at TEXT NOT NULL,
        ends_at TEXT,
        summary TEXT,
        labels TEXT,
        PRIMARY KEY (source, incident_id)
    );
    CREATE TABLE rubrics (
        rubric_id TEXT NOT NULL,
        version TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (rubric_id, version)
    );
    CREATE TABLE assignments (
        reviewer TEXT NOT NULL,
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        workflow TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        reason TEXT NOT NULL,
        graded INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (reviewer, run)
    ) WITHOUT ROWID;
    CREATE INDEX assignments_queue ON assignments (reviewer, started_at, run);
    CREATE TABLE grades (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        reviewer TEXT NOT NULL,
        rubric_id TEXT NOT NULL,
        rubric_version TEXT NOT NULL,
        "values" TEXT NOT NULL DEFAULT '{}',
        comment TEXT,
        escalate INTEGER NOT NULL DEFAULT 0,
        seconds_spent REAL NOT NULL DEFAULT 0,
        complete INTEGER NOT NULL DEFAULT 0,
        origin TEXT NOT NULL DEFAULT 'local',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (run, reviewer, rubric_id, rubric_version)
    );
    CREATE INDEX grades_reviewer ON grades (reviewer, rubric_id, rubric_version);
    CREATE TABLE grade_events (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL,
        reviewer TEXT NOT NULL,
        rubric_id TEXT NOT NULL,
        rubric_version TEXT NOT NULL,
        action TEXT NOT NULL,
        before TEXT,
        after TEXT,
        at TEXT NOT NULL,
        undone INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX grade_events_reviewer ON grade_events (reviewer, id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        store TEXT NOT NULL,
        kind TEXT NOT NULL,
        run INTEGER NOT NULL,
        reviewer TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        pushed_at TEXT,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (store, id) WHERE pushed_at IS NULL;
    CREATE TABLE sync_state (
        store TEXT PRIMARY KEY,
        cursor TEXT,
        synced_at TEXT,
        skipped INTEGER NOT NULL DEFAULT 0,
        note TEXT
    );
    """,
    # 2: indexes that keep the desk flat at a million runs: each queue filter in queue order,
    # the workflow list by skip-scan, and find by trace id without a table scan.
    """
    CREATE INDEX assignments_todo ON assignments (reviewer, graded, started_at, run);
    CREATE INDEX assignments_workflow ON assignments (reviewer, workflow, started_at, run);
    CREATE INDEX assignments_status ON assignments (reviewer, status, started_at, run);
    CREATE INDEX runs_run_id ON runs (run_id);
    """,
    # 3: every timestamp in one text form, UTC with microseconds ("2026-11-12T08:00:00.000000Z"),
    # so text order is time order; earlier versions stored whatever shape the store sent.
    # canonical_ts() is registered by migrate_db; text that is not a timestamp is kept.
    """
    UPDATE runs SET started_at = canonical_ts(started_at), ended_at = canonical_ts(ended_at);
    UPDATE steps SET started_at = canonical_ts(started_at) WHERE started_at IS NOT NULL;
    UPDATE incidents SET starts_at = canonical_ts(starts_at), ends_at = canonical_ts(ends_at);
    UPDATE assignments SET started_at = canonical_ts(started_at);
    UPDATE grades SET created_at = canonical_ts(created_at), updated_at = canonical_ts(updated_at);
    UPDATE grade_events SET at = canonical_ts(at);
    UPDATE outbox SET created_at = canonical_ts(created_at),
        next_attempt_at = canonical_ts(next_attempt_at), pushed_at = canonical_ts(pushed_at);
    UPDATE sync_state SET synced_at = canonical_ts(synced_at) WHERE synced_at IS NOT NULL;
    """,
    # 4: on call. Runbook sessions, saved after every step so a walkthrough resumes where it was;
    # the audit trail, append-only (triggers refuse UPDATE and DELETE) and hash-chained, with its
    # head kept apart so a deleted last entry is found too.
    """
    CREATE TABLE runbook_sessions (
        id TEXT PRIMARY KEY,
        runbook_id TEXT NOT NULL,
        runbook_version TEXT NOT NULL,
        workflow TEXT NOT NULL,
        incident_source TEXT,
        incident_id TEXT,
        operator TEXT NOT NULL,
        drill INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX runbook_sessions_incident ON runbook_sessions (incident_source, incident_id);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        incident TEXT,
        session TEXT,
        drill INTEGER NOT NULL DEFAULT 0,
        body TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_incident ON audit (incident, seq);
    CREATE TABLE audit_head (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    """,
    # 5: the runs a sync has hydrated (the sample), found without reading every run.
    """
    CREATE INDEX runs_hydrated ON runs (source, run_id) WHERE hydrated = 1;
    """,
    # 6: a step's span (or observation) id in its store, for grades on one step.
    """
    ALTER TABLE steps ADD COLUMN span_id TEXT;
    """,
    # 7: the step a reviewer marked as the first wrong one (steps.idx of the graded run).
    """
    ALTER TABLE grades ADD COLUMN first_wrong_step INTEGER;
    """,
    # 8: calibration. The final grade an adjudicator sets on a run where reviewers disagree; the
    # reviewers' own grades stay as they were.
    """
    CREATE TABLE adjudications (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        rubric_id TEXT NOT NULL,
        rubric_version TEXT NOT NULL,
        "values" TEXT NOT NULL DEFAULT '{}',
        comment TEXT,
        adjudicator TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (run, rubric_id, rubric_version)
    );
    """,
    # 9: the weekly report without touching the runs table: runs of a workflow by time with
    # their cost (covering), sampled runs of a workflow by time, and a run's assignments.
    """
    CREATE INDEX runs_workflow_time_cost ON runs (workflow, started_at, cost_usd);
    CREATE INDEX assignments_workflow_time ON assignments (workflow, started_at, run);
    CREATE INDEX assignments_run ON assignments (run);
    """,
    # 10: the last live read of each kill-switch channel (`switch status`, the scorecard), so
    # the scorecard says whether the target answered at the last check, and when.
    """
    CREATE TABLE switch_checks (
        workflow TEXT NOT NULL,
        channel TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        backend TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        state TEXT,
        error TEXT,
        PRIMARY KEY (workflow, channel)
    ) WITHOUT ROWID;
    """,
    # 11: the sampling plan a store's queue was last decided with (a fingerprint of salt, rates,
    # always-include rules, roster and overlap), so a changed plan re-decides the runs already
    # here instead of only the runs listed from then on.
    """
    ALTER TABLE sync_state ADD COLUMN plan TEXT;
    """,
    # 12: an audit trail that holds off the laptop. Entries written from now on (scheme 2) name
    # the OS user and host beside the reviewer and the key that signed them (an HMAC key in the
    # OS keyring; NULL: written unkeyed); entries written before keep scheme 1 (plain SHA-256)
    # and are never rewritten. The database gets an id of its own, which names its keys in the
    # keyring and its anchors outside the database.
    """
    ALTER TABLE audit ADD COLUMN scheme INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE audit ADD COLUMN os_user TEXT;
    ALTER TABLE audit ADD COLUMN host TEXT;
    ALTER TABLE audit ADD COLUMN key_id TEXT;
    CREATE TABLE audit_identity (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        db_id TEXT NOT NULL
    );
    INSERT INTO audit_identity (one, db_id) VALUES (1, lower(hex(randomblob(16))));
    """,
    # 13: where each reviewer was at the desk, per rubric: the run open and the filters, so the
    # desk reopens there. Written with the next write batch, on quit and now and then when the
    # write lock is free (never in front of a move); `run` is no foreign key: a run gone since
    # falls back to the first run to grade.
    """
    CREATE TABLE desk_places (
        reviewer TEXT NOT NULL,
        rubric_id TEXT NOT NULL,
        run INTEGER,
        workflow TEXT,
        status TEXT,
        graded INTEGER,
        week TEXT,
        saved_at TEXT NOT NULL,
        PRIMARY KEY (reviewer, rubric_id)
    ) WITHOUT ROWID;
    """,
    # 14: a run the reviewer cannot judge is skipped with a reason, kept on the grade (never
    # pushed). Its assignment's `graded` is then 2 (0 to do, 1 graded, 2 skipped): it leaves the
    # to-do view like a graded run and the same index serves both.
    """
    ALTER TABLE grades ADD COLUMN skip_reason TEXT;
    """,
    # 15: the score ids each store holds that a push may delete (written with the push that put
    # them there and by every pull that lists them; a delete that succeeds forgets its id), so
    # a push deletes only what is there. Filled from what is known already: the scores of every
    # row marked sent, and of every grade and adjudication pulled from a store (score_id() is
    # store.identity.score_id, registered by migrate_db). Too many is harmless (one delete that
    # finds nothing); too few would leave a cleared score in the store.
    """
    CREATE TABLE held_scores (
        store TEXT NOT NULL,
        score_id TEXT NOT NULL,
        PRIMARY KEY (store, score_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO held_scores (store, score_id)
    SELECT o.store, json_extract(u.value, '$.id')
    FROM outbox o, json_each(o.payload, '$.upsert') u
    WHERE o.pushed_at IS NOT NULL AND json_extract(u.value, '$.id') IS NOT NULL;
    INSERT OR IGNORE INTO held_scores (store, score_id)
    SELECT r.source, score_id(r.source, r.run_id, v.key, g.reviewer)
    FROM grades g JOIN runs r ON r.id = g.run, json_each(g."values") v
    WHERE g.origin = 'remote';
    INSERT OR IGNORE INTO held_scores (store, score_id)
    SELECT r.source, score_id(r.source, r.run_id, 'first_wrong_step', g.reviewer)
    FROM grades g JOIN runs r ON r.id = g.run
    WHERE g.origin = 'remote' AND g.first_wrong_step IS NOT NULL;
    INSERT OR IGNORE INTO held_scores (store, score_id)
    SELECT r.source, score_id(r.source, r.run_id, v.key, 'adjudicated')
    FROM adjudications a JOIN runs r ON r.id = a.run, json_each(a."values") v;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The database was written by a newer agentdeck; we refuse to touch it."""

    def __init__(self, path: Path, found: int) -> None:
        self.path = path
        self.found = found
        super().__init__(
            f"{path}: database schema version {found} is newer than this agentdeck supports "
            f"({SCHEMA_VERSION}); upgrade agentdeck. The database was not modified."
        )


class NotADatabase(Exception):
    """The file at the database path is not an SQLite database."""


# SQLite's primary result codes that the desk explains to people (sqlite.org/rescode.html).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26


def primary_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of ``exc`` (extended codes folded), or None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    # An error raised without a code (a wrapper, a test double) is read from its message.
    text = str(exc)
    for needle, guess in (
        ("disk is full", SQLITE_FULL),
        ("database is locked", SQLITE_BUSY),
        ("disk I/O error", SQLITE_IOERR),
        ("readonly database", SQLITE_READONLY),
        ("unable to open database", SQLITE_CANTOPEN),
        ("file is not a database", SQLITE_NOTADB),
    ):
        if needle in text:
            return guess
    return None


def explain(exc: BaseException) -> str:
    """One line for a person: what went wrong with the database and what to do about it."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    code = primary_code(exc)
    if code == SQLITE_FULL:
        return "the disk is full: free some space"
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return (
            "the database is busy (another program is writing to it): "
            "close the other program if this lasts"
        )
    if code == SQLITE_READONLY:
        return "the database is read-only: check the permissions of the .agentdeck folder"
    if code == SQLITE_IOERR:
        return "the disk reported an I/O error: check the disk and free space"
    if code == SQLITE_CANTOPEN:
        return (
            "the database cannot be opened: check that the .agentdeck folder exists and is writable"
        )
    return f"database error: {exc}"


def transient(exc: BaseException) -> bool:
    """True when retrying later can succeed (full disk, lock, I/O) rather than a fault in us."""
    if isinstance(exc, DatabaseUnavailable):
        exc = exc.cause
    return isinstance(exc, sqlite3.OperationalError) and primary_code(exc) in (
        SQLITE_BUSY,
        SQLITE_LOCKED,
        SQLITE_FULL,
        SQLITE_IOERR,
        SQLITE_CANTOPEN,
        SQLITE_READONLY,
    )


class DatabaseUnavailable(Exception):
    """The database exists but cannot be read now (full disk, lock, I/O error)."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        self.path = path
        self.cause = exc
        # Opening a WAL database on a full disk fails creating its -shm file, which SQLite
        # reports as an I/O error or "unable to open": the disk's free space tells them apart.
        if primary_code(exc) in (SQLITE_IOERR, SQLITE_CANTOPEN) and _disk_full(path):
            reason = "the disk is full: free some space"
        else:
            reason = explain(exc)
        super().__init__(f"{path}: {reason}")


def _disk_full(path: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


_savepoints = itertools.count()


def _quietly(conn: sqlite3.Connection, sql: str) -> None:
    # After SQLITE_FULL or an I/O error SQLite may already have rolled back; a failing ROLLBACK
    # must not replace the error that matters.
    with suppress(sqlite3.Error):
        conn.execute(sql)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or a savepoint inside a transaction already open.

    On any error everything inside is rolled back and the original error is raised.
    """
    if conn.in_transaction:
        name = f"sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            _quietly(conn, f"ROLLBACK TO {name}")
            _quietly(conn, f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            _quietly(conn, "ROLLBACK")
        raise


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(path: Path) -> int:
    """Return the schema version of an existing database without writing to it."""
    # A read-only open of a WAL database still creates -wal and -shm files beside it (and leaves
    # them); with no WAL or journal to read, ``immutable`` reads the header touching nothing.
    side = [path.with_name(path.name + suffix) for suffix in ("-wal", "-journal")]
    flags = "mode=ro" if any(p.exists() for p in side) else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True)
    try:
        return _user_version(conn)
    except sqlite3.DatabaseError as exc:
        # Only SQLITE_NOTADB means the file is something else; a full disk, a lock or an I/O
        # error on the way in is that, and says so.
        if primary_code(exc) == SQLITE_NOTADB:
            raise NotADatabase(f"{path}: not an agentdeck database ({exc})") from None
        raise DatabaseUnavailable(path, exc) from None
    finally:
        conn.close()


def connect(path: Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open the database for this thread: check the version, migrate, WAL, synchronous=FULL."""
    if path.exists():
        found = check_version(path)
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(path, found)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True, timeout=30)
    except sqlite3.OperationalError as exc:
        raise DatabaseUnavailable(path, exc) from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        if migrate:
            migrate_db(conn)
    except sqlite3.OperationalError as exc:
        conn.close()
        raise DatabaseUnavailable(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def migrate_db(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own transaction; return the resulting version."""
    version = _user_version(conn)
    if version < SCHEMA_VERSION:
        # Imported here: the timestamp rules live with the models (pydantic).
        from store.identity import score_id
        from store.timestamps import canonical_text

        conn.create_function("canonical_ts", 1, canonical_text, deterministic=True)
        conn.create_function("score_id", 4, score_id, deterministic=True)
    while version < SCHEMA_VERSION:
        script = MIGRATIONS[version]
        # executescript commits first; wrap the script and the version bump in one transaction.
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        )
        version += 1
    return version


def database(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """Wrap a connection (owned by this thread) in sqlite-utils."""
    # Imported here: the desk opens a connection at start-up and never needs sqlite-utils.
    import sqlite_utils

    return sqlite_utils.Database(conn)

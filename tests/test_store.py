"""store.db: schema creation, migrations, WAL, refusing newer schemas and non-databases."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from store import db as store_db
from store.db import (
    SCHEMA_VERSION,
    NotADatabase,
    SchemaTooNew,
    check_version,
    connect,
    migrate_db,
)

TABLES = {
    "runs",
    "steps",
    "incidents",
    "rubrics",
    "assignments",
    "grades",
    "grade_events",
    "outbox",
    "sync_state",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str | None]]:
    return [
        tuple(r)
        for r in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
    ]


def test_connect_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "agentdeck.db"
    conn = connect(path)
    assert path.is_file()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert SCHEMA_VERSION == len(store_db.MIGRATIONS) >= 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= TABLES
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # synchronous=FULL is 2: a committed grade is on disk.
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    conn.close()


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a.db")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO steps (run, idx, kind, name) VALUES (12345, 0, 'llm', 'x')")


def test_reopening_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = connect(path)
    conn.execute(
        "INSERT INTO runs (source, run_id, workflow, started_at, status) "
        "VALUES ('demo', 't1', 'w', '2026-01-01T00:00:00Z', 'ok')"
    )
    before = _schema(conn)
    conn.close()
    again = connect(path)
    assert _schema(again) == before
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [r[0] for r in again.execute("SELECT run_id FROM runs")] == ["t1"]
    assert migrate_db(again) == SCHEMA_VERSION
    assert _schema(again) == before


def test_migrations_apply_from_an_empty_file(tmp_path: Path) -> None:
    # An empty file is an empty SQLite database at version 0: it gets the whole schema.
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_migrate_false_leaves_the_version(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = connect(path, migrate=False)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    assert check_version(path) == 0


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_newer_schema_is_refused_untouched(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "future.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA journal_mode={journal}")
    raw.execute("CREATE TABLE future (x)")
    raw.execute("INSERT INTO future VALUES ('from a newer agentdeck')")
    raw.commit()
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    before_files = sorted(p.name for p in tmp_path.iterdir())
    assert before_files == ["future.db"]
    digest = _sha(path)

    with pytest.raises(SchemaTooNew) as info:
        connect(path)
    assert info.value.found == SCHEMA_VERSION + 1
    assert str(path) in str(info.value)
    assert _sha(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == before_files
    assert not (tmp_path / "future.db-wal").exists()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "agentdeck.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 20)
    digest = _sha(path)
    with pytest.raises(NotADatabase) as info:
        connect(path)
    assert str(path) in str(info.value)
    assert _sha(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agentdeck.db"]


def test_two_connections_see_each_others_commits(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    writer = connect(path)
    reader = connect(path)
    writer.execute(
        "INSERT INTO runs (source, run_id, workflow, started_at, status) "
        "VALUES ('demo', 't1', 'w', '2026-01-01T00:00:00Z', 'ok')"
    )
    assert reader.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_a_version_1_database_upgrades_in_place_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(store_db.MIGRATIONS[0])
    old.execute("PRAGMA user_version = 1")
    old.execute(
        "INSERT INTO runs (source, run_id, workflow, started_at, status) "
        "VALUES ('demo', 'abc', 'billing-support', '2026-11-01T00:00:00Z', 'ok')"
    )
    old.close()

    conn = store_db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION >= 2
    assert [tuple(r) for r in conn.execute("SELECT run_id FROM runs")] == [("abc",)]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"assignments_todo", "assignments_workflow", "runs_run_id"} <= indexes

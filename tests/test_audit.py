"""The audit trail: append-only, hash-chained; verify finds what went around the triggers."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooks import audit, audit_keys
from store.db import connect, migrate_db, transaction
from tests.conftest import HOSTILE

N = 6


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "db" / "agentdeck.db")
    with transaction(c):
        for i in range(1, N + 1):
            audit.append(
                c,
                actor="ana",
                kind="note",
                body={"step": "confirm", "text": f"note {i}"},
                incident="alertmanager/INC-1",
                session="s1",
                drill=i % 2 == 0,
            )
    yield c
    c.close()


def tamper(conn: sqlite3.Connection, *sql: str) -> None:
    """What a person with the file and sqlite3 can do: drop the triggers and edit."""
    conn.executescript(
        "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;"
    )
    for statement in sql:
        conn.execute(statement)


def findings(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    _, found = audit.verify(conn)
    return [(f.seq, f.problem) for f in found]


# --- append and verify ----------------------------------------------------------------------


def _key(conn: sqlite3.Connection) -> tuple[bytes, str]:
    """This machine's key for the trail, as an attacker who holds the keyring reads it."""
    found = audit_keys.signing_key(audit.database_id(conn), create=False)
    assert found is not None
    return found


def test_append_chains_every_entry_to_the_one_before(conn: sqlite3.Connection) -> None:
    entries = audit.entries(conn)
    assert [e.seq for e in entries] == list(range(1, N + 1))
    assert entries[0].prev == audit.GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev == before.hash
    key, kid = _key(conn)
    user, host = audit.whoami()
    for e in entries:
        assert (e.scheme, e.key_id, e.os_user, e.host) == (audit.SCHEME_V2, kid, user, host)
        assert e.hash == audit.entry_digest(
            e.seq,
            e.at,
            e.actor,
            e.os_user,
            e.host,
            e.kind,
            e.incident,
            e.session,
            e.drill,
            json.dumps(e.body, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
            e.prev,
            kid,
            key,
        )
        # Without the key the same fields hash to something else: the chain cannot be
        # recomputed by someone who does not hold it.
        assert e.hash != audit.entry_digest(
            e.seq, e.at, e.actor, e.os_user, e.host, e.kind, e.incident, e.session, e.drill,
            _canonical(e.body), e.prev, kid, None,
        )  # fmt: skip
    assert [e.drill for e in entries] == [i % 2 == 0 for i in range(1, N + 1)]
    head = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    assert tuple(head) == (N, entries[-1].hash)
    assert audit.verify(conn) == (N, [])


def _canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_an_empty_trail_verifies(tmp_path: Path) -> None:
    c = connect(tmp_path / "empty.db")
    assert audit.verify(c) == (0, [])


def test_entries_of_one_incident(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        audit.append(conn, actor="ben", kind="note", body={}, incident="pagerduty/P-2")
    assert [e.seq for e in audit.entries(conn, incident="pagerduty/P-2")] == [N + 1]
    assert len(audit.entries(conn, incident="alertmanager/INC-1")) == N
    assert audit.verify(conn) == (N + 1, [])


def test_an_entry_is_written_inside_the_callers_transaction(conn: sqlite3.Connection) -> None:
    with pytest.raises(RuntimeError), transaction(conn):
        audit.append(conn, actor="ana", kind="note", body={"text": "lost"})
        raise RuntimeError("the change it records failed")
    assert len(audit.entries(conn)) == N
    assert audit.verify(conn) == (N, [])


# --- the triggers ---------------------------------------------------------------------------


def test_the_triggers_refuse_update_and_delete(conn: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'eve' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
    assert [e.actor for e in audit.entries(conn)] == ["ana"] * N
    assert audit.verify(conn) == (N, [])


# --- what verify finds --------------------------------------------------------------------------


def edited(conn: sqlite3.Connection) -> str:
    return (
        f"its content does not match its hash under key {_key(conn)[1]} "
        "(edited or forged without the key)"
    )


@pytest.mark.parametrize(
    "change",
    [
        'body = \'{"step":"confirm","text":"nothing to see"}\'',
        "actor = 'eve'",
        "os_user = 'eve'",
        "host = 'elsewhere'",
        "at = '2026-01-01T00:00:00.000000Z'",
        "kind = 'step.shown'",
        "drill = 1 - drill",
        "incident = NULL",
    ],
)
def test_an_edited_entry_is_named(conn: sqlite3.Connection, change: str) -> None:
    tamper(conn, f"UPDATE audit SET {change} WHERE seq = 3")
    assert findings(conn) == [(3, edited(conn))]


def _sign(conn: sqlite3.Connection, seq: int, body: str, prev: str, *, keyed: bool = True) -> str:
    """The hash a forger computes for an entry by eve at ``seq``: with the keyring's key (an
    attacker who holds the keyring), or with plain SHA-256 claiming the same key id."""
    key, kid = _key(conn)
    at = "2026-11-12T14:00:00.000000Z"
    return audit.entry_digest(
        seq, at, "eve", "eve", "host", "note", "alertmanager/INC-1", "s1", False, body, prev, kid,
        key if keyed else None,
    )  # fmt: skip


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(
    conn: sqlite3.Connection,
) -> None:
    # An attacker who holds the keyring can sign entry 3 again; entry 4 still names the old 3.
    row = conn.execute(
        "SELECT at, actor, os_user, host, kind, incident, session, drill, prev, key_id "
        "FROM audit WHERE seq = 3"
    ).fetchone()
    body = '{"text":"forged"}'
    key, kid = _key(conn)
    digest = audit.entry_digest(3, *row[:7], bool(row[7]), body, row[8], kid, key)
    tamper(conn, f"UPDATE audit SET body = '{body}', hash = '{digest}' WHERE seq = 3")
    assert findings(conn) == [(3, "was replaced: entry 4 was written after another one")]


def test_an_edited_entry_rehashed_without_the_key_is_named(conn: sqlite3.Connection) -> None:
    row = conn.execute(
        "SELECT at, actor, os_user, host, kind, incident, session, drill, prev, key_id "
        "FROM audit WHERE seq = 3"
    ).fetchone()
    body = '{"text":"forged"}'
    digest = audit.entry_digest(3, *row[:7], bool(row[7]), body, row[8], row[9], None)
    tamper(conn, f"UPDATE audit SET body = '{body}', hash = '{digest}' WHERE seq = 3")
    assert findings(conn) == [
        (3, "was replaced: entry 4 was written after another one"),
        (3, edited(conn)),
    ]


def _forge(conn: sqlite3.Connection, seq: int, prev: str, *, keyed: bool = True) -> None:
    body = '{"text":"all fine, nothing happened"}'
    conn.execute(
        "INSERT INTO audit (seq, at, actor, os_user, host, kind, incident, session, drill, body, "
        "prev, hash, scheme, key_id) VALUES (?, '2026-11-12T14:00:00.000000Z', 'eve', 'eve', "
        "'host', 'note', 'alertmanager/INC-1', 's1', 0, ?, ?, ?, 2, ?)",
        (seq, body, prev, _sign(conn, seq, body, prev, keyed=keyed), _key(conn)[1]),
    )


def test_an_inserted_entry_is_named(conn: sqlite3.Connection) -> None:
    # The attacker makes room at 3 (renumbering 3..6 to 4..7) and writes a well-formed entry
    # that follows entry 2.
    tamper(
        conn,
        "UPDATE audit SET seq = seq + 1000 WHERE seq >= 3",
        "UPDATE audit SET seq = seq - 999 WHERE seq >= 1000",
    )
    prev = conn.execute("SELECT hash FROM audit WHERE seq = 2").fetchone()[0]
    _forge(conn, 3, prev)
    assert findings(conn) == [
        (3, "was inserted: entry 4 was written after entry 2"),
        (4, "was renumbered, and so were the entries after it up to 7 (written as 3–6)"),
    ]


def test_an_entry_appended_behind_the_heads_back_is_named(conn: sqlite3.Connection) -> None:
    last = conn.execute("SELECT hash FROM audit WHERE seq = ?", (N,)).fetchone()[0]
    _forge(conn, N + 1, last)  # no trigger stops an INSERT; the head is not moved
    assert findings(conn) == [(N + 1, "was added after the trail's head (inserted)")]


def test_a_deleted_middle_entry_is_named(conn: sqlite3.Connection) -> None:
    tamper(conn, "DELETE FROM audit WHERE seq = 3")
    assert findings(conn) == [(3, "is missing (deleted)")]


def test_deleted_middle_entries_are_named_from_the_first(conn: sqlite3.Connection) -> None:
    tamper(conn, "DELETE FROM audit WHERE seq IN (2, 3, 4)")
    assert findings(conn) == [(2, "is missing (deleted), and so are the entries after it up to 4")]


def test_a_deleted_first_entry_is_named(conn: sqlite3.Connection) -> None:
    tamper(conn, "DELETE FROM audit WHERE seq = 1")
    assert findings(conn) == [(1, "is missing (deleted)")]


def test_a_deleted_entry_hidden_by_renumbering_is_found(conn: sqlite3.Connection) -> None:
    tamper(conn, "DELETE FROM audit WHERE seq = 3", "UPDATE audit SET seq = seq - 1 WHERE seq > 3")
    conn.execute("DROP TABLE audit_head")
    conn.execute("CREATE TABLE audit_head (one INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    conn.execute("INSERT INTO audit_head VALUES (1, ?, ?)", tuple(last))
    assert findings(conn) == [
        (3, "the entry written before it is missing (deleted)"),
        (3, "was renumbered, and so were the entries after it up to 5 (written as 4–6)"),
    ]


def test_a_deleted_last_entry_is_found_by_the_head(conn: sqlite3.Connection) -> None:
    tamper(conn, f"DELETE FROM audit WHERE seq = {N}")
    assert findings(conn) == [(N, "is missing (deleted from the end)")]
    tamper_more = f"DELETE FROM audit WHERE seq = {N - 1}"
    conn.execute(tamper_more)
    assert findings(conn) == [
        (N - 1, f"is missing (deleted from the end), and so are the entries after it up to {N}")
    ]


def test_a_deleted_head_is_found(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit_head")
    assert findings(conn) == [(N, "the trail's head is missing")]


# --- the postmortem timeline ------------------------------------------------------------------


def _hostile_trail(tmp_path: Path) -> sqlite3.Connection:
    c = connect(tmp_path / "hostile.db")
    with transaction(c):
        for kind, body in [
            ("session.start", {"runbook": "rb", "title": HOSTILE}),
            ("step.shown", {"step": "a", "step_title": HOSTILE, "n": 1}),
            ("check.result", {"step": "a", "outcome": "warn", "summary": HOSTILE}),
            ("note", {"step": "a", "text": HOSTILE + "\n| injected | row |\n# heading"}),
            ("choice", {"step": "a", "label": HOSTILE}),
            ("skip", {"step": "a", "reason": HOSTILE}),
            ("switch.result", {"workflow": "w", "state": "x", "backend": "b", "error": HOSTILE}),
            ("session.abandon", {"runbook": "rb", "reason": HOSTILE}),
        ]:
            audit.append(c, actor=HOSTILE, kind=kind, body=body, incident="am/INC|1\n#x")
    return c


def test_markdown_export_escapes_hostile_text(tmp_path: Path) -> None:
    c = _hostile_trail(tmp_path)
    data = audit.timeline(c, "am/INC|1\n#x")
    assert data["verified"] and len(data["entries"]) == 8
    md = audit.timeline_markdown(data)
    lines = md.splitlines()
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| time")]
    # One line per entry: no newline from the text broke out of its row.
    assert len(table) == 8
    assert len(lines) == 6 + 8
    for ch in md:
        assert ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf"), repr(ch)
    for row in table:
        # Exactly the five pipes of four cells; every other pipe is escaped.
        assert len(re.findall(r"(?<!\\)\|", row)) == 5, row
        assert not re.search(r"(?<!\\)[\[\]`*_<>#]", row), row
    assert "\\[bold red\\]X\\[/\\]" in md
    assert lines[0] == "# Incident am/INC\\|1 \\#x: timeline"


def test_json_export_keeps_the_text_as_written(tmp_path: Path) -> None:
    c = _hostile_trail(tmp_path)
    data = audit.timeline(c, "am/INC|1\n#x")
    again = json.loads(json.dumps(data))
    assert again["entries"][0]["actor"] == HOSTILE
    assert again["entries"][2]["body"]["summary"] == HOSTILE


def test_a_broken_chain_says_so_in_the_export(conn: sqlite3.Connection) -> None:
    tamper(conn, "DELETE FROM audit WHERE seq = 3")
    data = audit.timeline(conn, "alertmanager/INC-1")
    assert data["verified"] is False
    assert data["problems"] == ["entry 3: is missing (deleted)"]
    md = audit.timeline_markdown(data)
    assert "**Audit trail NOT verified:** entry 3: is missing (deleted)" in md


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=1, max_value=8),
    data=st.data(),
    how=st.sampled_from(["delete", "actor", "body", "prev"]),
)
def test_any_single_change_is_found_at_its_entry(n: int, data: st.DataObject, how: str) -> None:
    c = sqlite3.connect(":memory:", isolation_level=None)
    migrate_db(c)
    with transaction(c):
        for i in range(n):
            audit.append(c, actor="ana", kind="note", body={"i": i})
    seq = data.draw(st.integers(min_value=1, max_value=n))
    tamper(
        c,
        {
            "delete": f"DELETE FROM audit WHERE seq = {seq}",
            "actor": f"UPDATE audit SET actor = 'eve' WHERE seq = {seq}",
            "body": f"UPDATE audit SET body = '{{}}' WHERE seq = {seq}",
            "prev": f"UPDATE audit SET prev = '{'f' * 64}' WHERE seq = {seq}",
        }[how],
    )
    found = findings(c)
    assert found, how
    assert found[0][0] == seq, (how, found)


# --- a database from before keys (schema 11) --------------------------------------------------


def _schema_11_trail(path: Path, n: int) -> None:
    """A database as agentdeck wrote it before keys: plain SHA-256 entries, schema 11."""
    from store import db as store_db
    from store.timestamps import canonical_text

    c = sqlite3.connect(path, isolation_level=None)
    c.create_function("canonical_ts", 1, canonical_text, deterministic=True)
    for i, script in enumerate(store_db.MIGRATIONS[:11]):
        c.executescript(f"BEGIN; {script}; PRAGMA user_version = {i + 1}; COMMIT;")
    prev = audit.GENESIS
    for seq in range(1, n + 1):
        at, body = f"2026-01-0{seq}T00:00:00.000000Z", f'{{"i":{seq}}}'
        digest = audit.entry_hash(seq, at, "ana", "note", None, None, False, body, prev)
        c.execute(
            "INSERT INTO audit (seq, at, actor, kind, drill, body, prev, hash) "
            "VALUES (?, ?, 'ana', 'note', 0, ?, ?, ?)",
            (seq, at, body, prev, digest),
        )
        prev = digest
    c.execute("INSERT INTO audit_head VALUES (1, ?, ?)", (n, prev))
    c.close()


def test_an_old_unkeyed_trail_is_kept_as_written_and_goes_on_keyed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _schema_11_trail(path, 3)
    before = sqlite3.connect(path).execute("SELECT * FROM audit ORDER BY seq").fetchall()
    c = connect(path)
    after = c.execute(
        "SELECT seq, at, actor, kind, incident, session, drill, body, prev, hash FROM audit"
    ).fetchall()
    assert [tuple(r) for r in after] == before  # the migration rewrote no old row
    report = audit.check(c)
    assert (report.count, report.findings) == (3, [])
    assert "entries 1–3 written before keys (plain SHA-256), checked unkeyed" in report.notes
    entry = audit.record(c, actor="ana", kind="note", body={"i": 4})
    assert entry.scheme == audit.SCHEME_V2 and entry.key_id == _key(c)[1]
    assert audit.verify(c) == (4, [])
    # An old-form entry written after the keyed one can only be a forgery.
    tamper(c)
    prev = entry.hash
    body = '{"i":5}'
    digest = audit.entry_hash(5, "2026-02-01T00:00:00.000000Z", "eve", "note", None, None, False,
                              body, prev)  # fmt: skip
    c.execute(
        "INSERT INTO audit (seq, at, actor, kind, drill, body, prev, hash) "
        "VALUES (5, '2026-02-01T00:00:00.000000Z', 'eve', 'note', 0, ?, ?, ?)",
        (body, prev, digest),
    )
    c.execute("UPDATE audit_head SET seq = 5, hash = ?", (digest,))
    assert findings(c) == [
        (5, "is in the form from before keys, after newer entries (forged without the key)")
    ]

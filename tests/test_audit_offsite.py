"""An audit trail that holds off the laptop: keyed hashes, the actor's OS user and host, anchors
outside the database, and what `agentdeck audit verify` says about each tampering.

The attacker here has the database file and sqlite3 but not the keyring: they drop the
append-only triggers, edit, and recompute hashes the only way they can (SHA-256). The keyring is
a real one (keyrings.alt's file backend in a temporary folder, set up in conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooks import anchors, audit, audit_keys, engine
from runbooks.cards import load_cards
from runbooks.catalog import check_runbooks
from store.db import connect, transaction
from tests.cli_oncall_helpers import ROOT, keyring_env, make_oncall_workspace, run


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AGENTDECK_WORKSPACE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return make_oncall_workspace(tmp_path / "ws")


def db_of(ws: Path) -> Path:
    return ws / ".agentdeck" / "agentdeck.db"


def walk(ws: Path, *, incident: tuple[str, str] = ("prom", "INC-1")) -> None:
    """A runbook walked to its end (real entries), anchored at its end as the app does, then
    a note written after the anchor (the trail goes on)."""
    cards = load_cards(ws / "cards")
    rb = check_runbooks(ws / "runbooks", cards).runbooks["billing-outage"].runbook
    conn = connect(db_of(ws))
    try:
        s = engine.start(conn, rb, operator="ana", incident=incident)
        engine.act(conn, rb, s.id, engine.CheckDone("confirm", {"outcome": "warn", "summary": "x"}))
        engine.act(conn, rb, s.id, engine.Choose("confirm", "Errors are high"))
        engine.act(conn, rb, s.id, engine.Skip("stop", "switched by hand"))
        assert audit.anchor(conn) == []
        audit.record(conn, actor="ana", kind="note", body={"text": "after the anchor"})
    finally:
        conn.close()


def rows(ws: Path) -> list[tuple]:
    conn = sqlite3.connect(db_of(ws))
    try:
        return conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    finally:
        conn.close()


def tamper(ws: Path, *sql: str, params: list[tuple] | None = None) -> None:
    """What an attacker with the file does: drop the append-only triggers, then edit."""
    conn = sqlite3.connect(db_of(ws))
    conn.execute("DROP TRIGGER IF EXISTS audit_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_append_only_delete")
    for i, statement in enumerate(sql):
        conn.execute(statement, (params or [])[i] if params and i < len(params) else ())
    conn.commit()
    conn.close()


def verify(ws: Path) -> tuple[int, list[str], str]:
    """`agentdeck audit verify`: exit code, its problem lines, and its standard output."""
    done = run("-w", str(ws), "audit", "verify")
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.output
    lines = done.stderr.strip().splitlines()
    problems = [ln for ln in lines if not ln.endswith("found")]
    return done.exit_code, problems, done.stdout


def named(problems: list[str], entry: int | None, *words: str) -> bool:
    """Some line names ``entry`` (when given) and every one of ``words``."""
    return any(
        (entry is None or re.search(rf"(?<![\d]){entry}(?![\d])", ln))
        and all(w in ln for w in words)
        for ln in problems
    )


# --- intact, keyed, with the actor's OS user and host ------------------------------------------


def test_an_intact_trail_is_keyed_anchored_and_names_os_user_and_host(ws: Path) -> None:
    walk(ws)
    code, problems, out = verify(ws)
    assert code == 0 and problems == [], problems
    conn = connect(db_of(ws))
    (kid,) = audit.key_ids(conn)
    assert out.splitlines()[0] == "8 entries, chain intact"
    assert f"keyed: signed with key {kid}" in out
    assert "anchored: 1 head checked, the latest entry 7" in out
    user, host = audit.whoami()
    assert {(e.actor, e.os_user, e.host, e.key_id) for e in audit.entries(conn)} == {
        ("ana", user, host, kid)
    }
    assert audit.key_status(conn) is None


def test_the_key_is_only_in_the_keyring(ws: Path, tmp_path: Path) -> None:
    walk(ws)
    conn = connect(db_of(ws))
    key, kid = audit_keys.signing_key(audit.database_id(conn), create=False) or (b"", "")
    assert key and audit_keys.key_id(key) == kid
    exported = run("-w", str(ws), "audit", "export", "INC-1", "--format", "json")
    verified = run("-w", str(ws), "audit", "verify")
    conn.close()
    secret = key.hex().encode()
    for folder in (ws, Path(os.environ["AGENTDECK_STATE_DIR"])):
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                assert secret not in (Path(dirpath) / name).read_bytes(), name
    assert key.hex() not in exported.output + verified.output
    assert kid in exported.stdout  # the key's id is public: it names the key, not its value


# --- the seven tamperings, each named by `audit verify` ---------------------------------------


def test_an_edit_is_named(ws: Path) -> None:
    walk(ws)
    tamper(
        ws, "UPDATE audit SET body = replace(body, 'switched by hand', 'all fine') WHERE seq = 6"
    )
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, 6, "does not match its hash under key", "edited"), problems


def test_an_insert_is_named(ws: Path) -> None:
    walk(ws)
    at, prev, kid = rows(ws)[2][1], rows(ws)[2][9], rows(ws)[2][13]
    body = '{"text":"all fine"}'
    forged = audit.entry_digest(
        4, at, "ana", "ana", "h", "note", "prom/INC-1", None, False, body, prev, kid, None
    )
    tamper(
        ws,
        "UPDATE audit SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE audit SET seq = seq - 99 WHERE seq >= 100",
        "INSERT INTO audit (seq, at, actor, os_user, host, kind, incident, session, drill, body, "
        "prev, hash, scheme, key_id) VALUES (4, ?, 'ana', 'ana', 'h', 'note', 'prom/INC-1', NULL, "
        "0, ?, ?, ?, 2, ?)",
        "UPDATE audit_head SET seq = seq + 1",
        params=[(), (), (at, body, prev, forged, kid)],
    )
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, 4, "was inserted"), problems


def test_a_delete_is_named(ws: Path) -> None:
    walk(ws)
    tamper(ws, "DELETE FROM audit WHERE seq = 3")
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, 3, "is missing (deleted)"), problems


def _recompute(ws: Path, *, keep_key_ids: bool) -> None:
    """Rewrite every entry as another actor with another reason and chain them again with the
    only hash an attacker without the key can compute; the head follows."""
    prev = audit.GENESIS
    new_rows = []
    for r in rows(ws):
        seq, at, _actor, kind, incident, session, drill, body, _prev, _hash = r[:10]
        _scheme, _user, _host, kid = r[10:14]
        body = body.replace("switched by hand", "nothing happened")
        kid = kid if keep_key_ids else None
        digest = audit.entry_digest(
            seq, at, "mallory", "mallory", "h", kind, incident, session, bool(drill), body,
            prev, kid, None,
        )  # fmt: skip
        new_rows.append((seq, at, kind, incident, session, drill, body, prev, digest, kid))
        prev = digest
    conn = sqlite3.connect(db_of(ws))
    conn.execute("DROP TRIGGER audit_append_only_delete")
    conn.execute("DELETE FROM audit")
    conn.executemany(
        "INSERT INTO audit (seq, at, actor, os_user, host, kind, incident, session, drill, body, "
        "prev, hash, scheme, key_id) "
        "VALUES (?, ?, 'mallory', 'mallory', 'h', ?, ?, ?, ?, ?, ?, ?, 2, ?)",
        new_rows,
    )
    conn.execute("UPDATE audit_head SET hash = ?", (prev,))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("keep_key_ids", [False, True], ids=["marked-unkeyed", "same-key-ids"])
@pytest.mark.parametrize("anchors_too", [False, True], ids=["anchors-kept", "anchors-deleted"])
def test_a_chain_recomputed_without_the_key_is_named(
    ws: Path, keep_key_ids: bool, anchors_too: bool
) -> None:
    walk(ws)
    _recompute(ws, keep_key_ids=keep_key_ids)
    if anchors_too:
        for f in anchors.anchors_dir().glob("*.jsonl"):
            f.unlink()
    code, problems, _ = verify(ws)
    assert code == 1
    if keep_key_ids:
        assert named(problems, 1, "does not match its hash under key", "up to 8"), problems
    else:
        assert named(problems, None, "no entry is signed with it", "rewritten without"), problems
    assert named(problems, 7, "does not match the head anchored") != anchors_too, problems


def test_deleting_everything_is_named(ws: Path) -> None:
    walk(ws)
    tamper(ws, "DELETE FROM audit", "DELETE FROM audit_head")
    code, problems, out = verify(ws)
    assert code == 1
    assert named(problems, 1, "the trail is empty", "every entry was deleted", "up to 7"), problems
    assert "chain intact" not in out


def test_a_cut_tail_with_the_head_moved_back_is_named(ws: Path) -> None:
    walk(ws)
    four = rows(ws)[3][9]
    tamper(
        ws,
        "DELETE FROM audit WHERE seq > 4",
        "UPDATE audit_head SET seq = 4, hash = ?",
        params=[(), (four,)],
    )
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, 5, "the tail was cut", "up to 7", "trail ends at 4"), problems


def test_a_forged_append_with_the_head_moved_is_named(ws: Path) -> None:
    walk(ws)
    last = rows(ws)[-1]
    seq, prev, kid = last[0] + 1, last[9], last[13]
    body = '{"text":"restored by the owner, all fine"}'
    at = "2026-11-12T14:00:00.000000Z"
    forged = audit.entry_digest(
        seq, at, "ana", "ana", "h", "note", "prom/INC-1", None, False, body, prev, kid, None
    )
    tamper(
        ws,
        "INSERT INTO audit (seq, at, actor, os_user, host, kind, incident, session, drill, body, "
        "prev, hash, scheme, key_id) VALUES (?, ?, 'ana', 'ana', 'h', 'note', 'prom/INC-1', NULL, "
        "0, ?, ?, ?, 2, ?)",
        "UPDATE audit_head SET seq = ?, hash = ?",
        params=[(seq, at, body, prev, forged, kid), (seq, forged)],
    )
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, seq, "does not match its hash under key", "forged"), problems


def test_a_forged_append_written_unkeyed_is_named(ws: Path) -> None:
    walk(ws)
    last = rows(ws)[-1]
    seq, prev = last[0] + 1, last[9]
    body = '{"text":"all fine"}'
    at = "2026-11-12T14:00:00.000000Z"
    forged = audit.entry_digest(
        seq, at, "ana", "ana", "h", "note", None, None, False, body, prev, None, None
    )
    tamper(
        ws,
        "INSERT INTO audit (seq, at, actor, os_user, host, kind, drill, body, prev, hash, scheme) "
        "VALUES (?, ?, 'ana', 'ana', 'h', 'note', 0, ?, ?, ?, 2)",
        "UPDATE audit_head SET seq = ?, hash = ?",
        params=[(seq, at, body, prev, forged), (seq, forged)],
    )
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, seq, "is unkeyed after keyed entries"), problems


def test_a_replaced_database_is_named(ws: Path) -> None:
    walk(ws)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_of(ws)}{suffix}").unlink(missing_ok=True)
    conn = connect(db_of(ws))
    audit.record(conn, actor="eve", kind="note", body={"text": "a fresh start"})
    conn.close()
    code, problems, _ = verify(ws)
    assert code == 1
    assert named(problems, None, "was replaced", "anchors another trail", "entry 7"), problems


# --- no keyring; a keyring without the key (a new laptop) ----------------------------------------


def child_env(tmp_path: Path, name: str, keyring: str | None) -> dict[str, str]:
    env = keyring_env(tmp_path / f"{name}-keyring.cfg", tmp_path / f"{name}-home")
    if keyring:
        env["PYTHON_KEYRING_BACKEND"] = keyring
    env["AGENTDECK_STATE_DIR"] = str(tmp_path / f"{name}-state")
    return env


def agentdeck(
    ws: Path, env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "-w", str(ws), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


SWITCH = ("switch", "set", "billing-support", "suggest-only", "--reason", "payments down")


def test_without_a_keyring_the_trail_is_unkeyed_and_says_so(ws: Path, tmp_path: Path) -> None:
    env = child_env(tmp_path, "server", "keyring.backends.fail.Keyring")
    done = agentdeck(ws, env, *SWITCH, "--confirm", "billing-support")
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    checked = agentdeck(ws, env, "audit", "verify")
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0] == "2 entries, chain intact"
    assert any(ln.strip().startswith("unkeyed: no keyring on this machine") for ln in lines)
    conn = sqlite3.connect(db_of(ws))
    assert conn.execute("SELECT DISTINCT scheme, key_id FROM audit").fetchall() == [(2, None)]
    conn.close()


def test_without_a_keyring_a_walkthrough_works_and_key_status_says_unkeyed(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring.core
    from keyring.backends import fail

    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    audit_keys.clear_cache()
    walk(ws)  # a runbook to its end, anchored, and a note after
    conn = connect(db_of(ws))
    assert {e.key_id for e in audit.entries(conn)} == {None}
    status = audit.key_status(conn)
    assert status is not None and status.startswith("unkeyed: no keyring on this machine")
    report = audit.check(conn)
    assert (report.count, report.findings) == (8, [])
    assert any(n.startswith("unkeyed: no keyring on this machine") for n in report.notes)
    assert any(n.startswith("anchored: 1 head checked") for n in report.notes)


def test_a_new_laptop_says_which_key_is_missing_and_nothing_else_changes(
    ws: Path, tmp_path: Path
) -> None:
    old = child_env(tmp_path, "old", None)
    new = child_env(tmp_path, "new", None)
    assert agentdeck(ws, old, *SWITCH, "--confirm", "billing-support").returncode == 0
    conn = sqlite3.connect(db_of(ws))
    (old_kid,) = {r[0] for r in conn.execute("SELECT key_id FROM audit")}
    conn.close()

    checked = agentdeck(ws, new, "audit", "verify")
    assert checked.returncode == 1
    problems = checked.stderr.splitlines()[:-1]
    assert len(problems) == 1, problems
    assert old_kid in problems[0] and "audit key import" in problems[0], problems
    assert "audit key export" in problems[0]

    # The switch still works here; the new laptop signs with a key of its own, visibly another.
    back = ("switch", "set", "billing-support", "disabled", "--reason", "still down")
    assert agentdeck(ws, new, *back, "--confirm", "billing-support").returncode == 0
    conn = sqlite3.connect(db_of(ws))
    kids = [r[0] for r in conn.execute("SELECT key_id FROM audit ORDER BY seq")]
    conn.close()
    assert kids[:2] == [old_kid, old_kid] and kids[2] == kids[3] != old_kid

    exported = agentdeck(ws, old, "audit", "key", "export")
    assert exported.returncode == 0, exported.stderr
    imported = agentdeck(ws, new, "audit", "key", "import", stdin=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert old_kid in imported.stdout
    again = agentdeck(ws, new, "audit", "verify")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("4 entries, chain intact")


def test_a_bad_key_line_is_one_line_and_keeps_nothing(ws: Path) -> None:
    walk(ws)
    done = run("-w", str(ws), "audit", "key", "import", input="agentdeck-audit-key-v1 abc 00\n")
    assert done.exit_code == 2
    assert done.stderr.count("\n") == 1 and "not 64 hex digits" in done.stderr


# --- anchors --------------------------------------------------------------------------------


def test_an_anchor_is_one_line_in_the_state_directory_and_a_post(ws: Path) -> None:
    from tests.servers import Reply, ScriptedServer

    walk(ws)
    conn = connect(db_of(ws))
    with ScriptedServer({"/anchor": Reply(201, b"{}")}) as server:
        assert audit.anchor(conn, url=f"{server.url}/anchor") == []
        assert [r[0] for r in server.requests] == ["POST"]
    files = list(anchors.anchors_dir().glob("*.jsonl"))
    assert len(files) == 1 and files[0].name.startswith(audit.database_id(conn))
    last = json.loads(files[0].read_text().splitlines()[-1])
    assert (last["seq"], last["hash"], last["key"]) == (8, rows(ws)[-1][9], rows(ws)[-1][13])
    assert last["db"] == audit.database_id(conn) and last["path"] == str(db_of(ws).resolve())


@pytest.mark.parametrize("status", [500, None], ids=["http-500", "unreachable"])
def test_an_anchor_url_failure_is_one_line_and_changes_nothing_else(
    ws: Path, status: int | None
) -> None:
    from tests.servers import Reply, ScriptedServer, free_port

    walk(ws)
    conn = connect(db_of(ws))
    before = audit.entries(conn)
    lines_before = sum(len(f.read_text().splitlines()) for f in anchors.anchors_dir().iterdir())
    if status is None:
        url = f"http://127.0.0.1:{free_port()}/anchor?token=s3cret"
        problems = audit.anchor(conn, url=url, timeout=2.0)
    else:
        with ScriptedServer({"/anchor": Reply(status, b"boom\nsecond line")}) as server:
            problems = audit.anchor(conn, url=f"{server.url}/anchor?token=s3cret", timeout=2.0)
    assert len(problems) == 1 and "\n" not in problems[0], problems
    assert problems[0].startswith("anchor URL http://127.0.0.1:")
    assert "s3cret" not in problems[0]
    assert audit.entries(conn) == before
    lines_after = sum(len(f.read_text().splitlines()) for f in anchors.anchors_dir().iterdir())
    assert lines_after == lines_before + 1  # the file anchor was still written
    assert audit.verify(conn) == (8, [])


def test_an_anchor_file_that_cannot_be_written_is_one_line(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk(ws)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("AGENTDECK_STATE_DIR", str(blocker))
    conn = connect(db_of(ws))
    problems = audit.anchor(conn)
    assert len(problems) == 1 and problems[0].startswith("anchor file "), problems
    assert audit.verify(conn)[1] == []


def test_anchor_inside_a_transaction_anchors_nothing(ws: Path) -> None:
    walk(ws)
    conn = connect(db_of(ws))
    with transaction(conn):
        audit.append(conn, actor="ana", kind="note", body={})
        assert "inside an open transaction" in audit.anchor(conn)[0]


# --- any single tampering is found ------------------------------------------------------------

TAMPERINGS = ["edit", "insert", "delete", "recompute", "delete-all", "cut-tail", "forged-append"]


def _apply(conn: sqlite3.Connection, how: str, seq: int, n: int) -> None:
    conn.execute("DROP TRIGGER audit_append_only_update")
    conn.execute("DROP TRIGGER audit_append_only_delete")
    data = conn.execute(
        "SELECT seq, at, actor, kind, incident, session, drill, body, prev, hash, key_id "
        "FROM audit ORDER BY seq"
    ).fetchall()
    kid = data[0][10]

    def unkeyed(s: int, prev: str, body: str) -> str:
        return audit.entry_digest(
            s, "2026-01-01T00:00:00.000000Z", "eve", "eve", "h", "note", None, None, False, body,
            prev, kid, None,
        )  # fmt: skip

    def put(s: int, prev: str, body: str) -> str:
        digest = unkeyed(s, prev, body)
        conn.execute(
            "INSERT INTO audit (seq, at, actor, os_user, host, kind, drill, body, prev, hash, "
            "scheme, key_id) VALUES (?, '2026-01-01T00:00:00.000000Z', 'eve', 'eve', 'h', "
            "'note', 0, ?, ?, ?, 2, ?)",
            (s, body, prev, digest, kid),
        )
        return digest

    if how == "edit":
        conn.execute("UPDATE audit SET actor = 'eve' WHERE seq = ?", (seq,))
    elif how == "delete":
        conn.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    elif how == "insert":
        conn.execute("UPDATE audit SET seq = seq + 1000 WHERE seq >= ?", (seq,))
        conn.execute("UPDATE audit SET seq = seq - 999 WHERE seq >= 1000")
        put(seq, data[seq - 2][9] if seq > 1 else audit.GENESIS, '{"i":"forged"}')
        conn.execute("UPDATE audit_head SET seq = seq + 1")
    elif how == "recompute":
        conn.execute("DELETE FROM audit")
        prev = audit.GENESIS
        for i in range(1, n + 1):
            prev = put(i, prev, '{"i":"rewritten"}')
        conn.execute("UPDATE audit_head SET hash = ?", (prev,))
    elif how == "delete-all":
        conn.execute("DELETE FROM audit")
        conn.execute("DELETE FROM audit_head")
    elif how == "cut-tail":
        conn.execute("DELETE FROM audit WHERE seq >= ?", (seq,))
        if seq > 1:
            conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq - 1, data[seq - 2][9]))
        else:
            conn.execute("DELETE FROM audit_head")
    elif how == "forged-append":
        digest = put(n + 1, data[-1][9], '{"i":"forged"}')
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (n + 1, digest))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(min_value=1, max_value=6), data=st.data(), how=st.sampled_from(TAMPERINGS))
def test_any_single_tampering_is_found(
    tmp_path: Path, n: int, data: st.DataObject, how: str
) -> None:
    seq = data.draw(st.integers(min_value=1, max_value=n))
    path = tmp_path / f"{os.urandom(6).hex()}.db"
    conn = connect(path)
    try:
        for i in range(n):
            audit.record(conn, actor="ana", kind="note", body={"i": i})
        assert audit.anchor(conn) == []
        assert audit.verify(conn) == (n, [])
        _apply(conn, how, seq, n)
        checked, found = audit.verify(conn)
        assert found, (how, seq, n)
    finally:
        conn.close()

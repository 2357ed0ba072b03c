"""The on-call commands: login, validate's runbook checks, schema runbook, the kill-switch paths
that refuse before anything is sent, audit verify and export, oncall --drill, sync with alert
sources. (Setting a switch through a flag file is in test_cli_switch.py.)"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runbooks import audit, engine
from runbooks.cards import load_cards
from runbooks.catalog import check_runbooks
from runbooks.model import WORD_PATHS
from store.db import connect
from store.documents import load_yaml
from tests.cli_oncall_helpers import (
    ROOT,
    agentdeck,
    files_containing,
    kept_in,
    keyring_env,
    make_oncall_workspace,
    run,
)
from tests.conftest import mend_demo_store


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Nowhere else to find a workspace, and a home of its own.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("AGENTDECK_WORKSPACE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return make_oncall_workspace(tmp_path / "ws")


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real keyring backend (keyrings.alt's plain file) in a temporary folder, for this
    process and for child processes; the developer's own keyring is never touched."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    path = tmp_path / "keyring" / "keyring_pass.cfg"
    backend = PlaintextKeyring()
    backend.file_path = str(path)  # type: ignore[misc]
    # set_keyring has no undo; monkeypatch puts the previous backend back after the test.
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("KEYRING_PROPERTY_FILE_PATH", str(path))
    yield path


def no_traceback(done) -> None:  # type: ignore[no-untyped-def]
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.output


def one_line_error(done, *needles: str) -> str:  # type: ignore[no-untyped-def]
    no_traceback(done)
    assert done.exit_code == 2, (done.exit_code, done.output)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return str(lines[0])


def audit_rows(ws: Path) -> list[tuple]:
    db = ws / ".agentdeck" / "agentdeck.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT seq, kind, actor, incident, drill, body FROM audit").fetchall()
    finally:
        conn.close()


# -- login --------------------------------------------------------------------------------------

SECRET = "s3cr3t-Token-value-9f8e7d"


def test_login_keeps_the_token_in_the_keyring_only(ws: Path, keyring_file: Path) -> None:
    done = run("-w", str(ws), "login", "unleash", input=SECRET + "\n")
    no_traceback(done)
    assert done.exit_code == 0, done.output
    assert "unleash" in done.stdout and "keyring" in done.stdout
    assert SECRET not in done.output

    from store.credentials import get_secret

    assert get_secret("unleash") == SECRET
    assert files_containing(keyring_file.parent, SECRET) == [keyring_file]
    run("-w", str(ws), "sync")  # the database exists too, and still holds no secret
    assert (ws / ".agentdeck" / "agentdeck.db").exists()
    assert files_containing(ws, SECRET) == []


def test_login_knows_stores_alert_sources_and_every_kill_switch_credential(
    ws: Path, keyring_file: Path
) -> None:
    cfg = ws / "agentdeck.toml"
    cfg.write_text(
        cfg.read_text()
        + '\n[[stores]]\nname = "px"\nkind = "phoenix"\nurl = "http://127.0.0.1:6006"\n'
        + '\n[[alerts]]\nname = "prom"\nkind = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
    )
    from store.credentials import get_secret

    # a store, an alert source, a card's primary, a card's second channel
    for name in ("px", "prom", "unleash", "ops-switch"):
        done = run("-w", str(ws), "login", name, input=f"token-for-{name}\n")
        assert done.exit_code == 0, (name, done.output)
        assert get_secret(name) == f"token-for-{name}"

    done = run("-w", str(ws), "login", "nope", input="x\n")
    line = one_line_error(done, "'nope'", "known:")
    for name in ("px", "prom", "unleash", "ops-switch"):
        assert name in line
    assert get_secret("nope") is None
    # A file store keeps no token (its kind's login is None): said, nothing stored.
    line = one_line_error(run("-w", str(ws), "login", "demo", input="x\n"), "'demo'", "file store")
    assert "keeps no token" in line and get_secret("demo") is None


def test_login_delete_forgets_the_token(ws: Path, keyring_file: Path) -> None:
    from store.credentials import get_secret

    run("-w", str(ws), "login", "ops-switch", input=SECRET + "\n")
    done = run("-w", str(ws), "login", "ops-switch", "--delete")
    assert done.exit_code == 0 and "removed" in done.stdout
    assert get_secret("ops-switch") is None
    assert files_containing(keyring_file.parent, SECRET) == []
    again = run("-w", str(ws), "login", "ops-switch", "--delete")
    assert again.exit_code == 0 and "no token" in again.stdout


def test_login_with_nothing_typed_stores_nothing(ws: Path, keyring_file: Path) -> None:
    from store.credentials import get_secret

    one_line_error(run("-w", str(ws), "login", "unleash", input="\n"), "no token given")
    assert get_secret("unleash") is None


def test_login_from_a_pipe_in_a_child_process(ws: Path, keyring_file: Path, tmp_path: Path) -> None:
    env = keyring_env(keyring_file, tmp_path / "home")
    done = agentdeck("-w", str(ws), "login", "unleash", env=env, input=SECRET + "\n")
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert kept_in(keyring_file, "unleash") == SECRET
    assert files_containing(keyring_file.parent, SECRET) == [keyring_file]
    assert files_containing(ws, SECRET) == []


def test_login_on_a_terminal_does_not_echo_the_token(
    ws: Path, keyring_file: Path, tmp_path: Path
) -> None:
    env = keyring_env(keyring_file, tmp_path / "home")
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "-w", str(ws), "login", "unleash"],
        cwd=ROOT,
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    seen = b""

    def read_until(needle: bytes, deadline: float) -> None:
        nonlocal seen
        while needle not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                seen += chunk

    try:
        read_until(b"Token for unleash", time.monotonic() + 60)
        assert b"Token for unleash" in seen, seen
        os.write(main, SECRET.encode() + b"\r")
        read_until(b"keyring", time.monotonic() + 60)
        assert proc.wait(timeout=60) == 0, seen
        read_until(b"\x00never", time.monotonic() + 0.5)  # drain what is left
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert b"keyring" in seen, seen
    assert SECRET.encode() not in seen
    assert kept_in(keyring_file, "unleash") == SECRET


# -- sync with alert sources ----------------------------------------------------------------------


def test_sync_says_which_alert_source_failed_and_exits_1(ws: Path, keyring_file: Path) -> None:
    cfg = ws / "agentdeck.toml"
    cfg.write_text(
        cfg.read_text() + '\n[[alerts]]\nname = "pd"\nkind = "pagerduty"\n'
        'url = "https://api.pagerduty.example"\nservices = { PABC123 = "billing-support" }\n'
    )
    done = run("-w", str(ws), "sync")
    no_traceback(done)
    assert done.exit_code == 1
    failing = [ln for ln in done.stderr.splitlines() if ln.startswith("pd:")]
    assert len(failing) == 1 and "agentdeck login pd" in failing[0], done.stderr
    assert "demo: listed" in done.stdout  # the store was still pulled


# -- validate: runbooks -------------------------------------------------------------------------

GRAPH = """\
id: graph
workflow: billing-support
title: Graph problems
steps:
  - id: start
    title: Start
    choices:
      - {label: Loop, next: loop-a}
      - {label: Nowhere, next: nowhere}
      - {label: Done, next: done}
  - id: loop-a
    title: Loop A
    next: loop-b
  - id: loop-b
    title: Loop B
    next: loop-a
  - id: orphan
    title: Nobody comes here
    next: done
  - id: done
    title: Done
"""

REFS = """\
id: refs
workflow: billing-support
title: Reference problems
steps:
  - id: rate
    title: Error rate
    check: {kind: sql, query: no_such_query, args: {minutes: 5}}
    next: args
  - id: args
    title: Bad argument
    check:
      kind: sql
      query: tool_error_rate
      args: {tool: payments_api, colour: blue}
    next: end
  - id: end
    title: End
"""

SWITCH = """\
id: switch
workflow: refund-approvals
title: Switch problems
steps:
  - id: stop
    title: Turn it off
    kill_switch: {set_tier: disabled}
"""

NO_CARD = """\
id: ghost
workflow: ghost-agent
title: No card
steps:
  - id: only
    title: Only step
"""

MALFORMED = """\
id: malformed
workflow: billing-support
title: A typo
steps:
  - id: only
    title: Only step
    nxet: only
"""


def test_validate_names_every_runbook_problem_with_its_file_and_line(ws: Path) -> None:
    books = ws / "runbooks"
    for name, text in {
        "graph": GRAPH,
        "refs": REFS,
        "switch": SWITCH,
        "ghost": NO_CARD,
        "malformed": MALFORMED,
    }.items():
        (books / f"{name}.yaml").write_text(text)
    mend_demo_store(ws)  # the demo store's corrupt lines are not this test's
    done = run("-w", str(ws), "validate")
    no_traceback(done)
    assert done.exit_code == 1
    # Warnings (a kill switch's token not in the keyring) are not problems.
    lines = [ln for ln in done.stderr.strip().splitlines() if " warning: " not in ln]
    assert lines[-1] == "9 problems found", done.stderr
    found = {ln.split(": ", 1)[0]: [] for ln in lines[:-1]}
    for ln in lines[:-1]:
        where, message = ln.split(": ", 1)
        found[where].append(message)

    def at(name: str, line: int) -> str:
        return "\n".join(found[f"{books / name}.yaml:{line}"])

    assert "goes to 'nowhere', which is not a step id" in at("graph", 9)
    assert "step 'loop-a' has no way out" in at("graph", 11)
    assert "step 'loop-b' has no way out" in at("graph", 14)
    assert "step 'orphan' is unreachable from 'start'" in at("graph", 17)
    assert "unknown check query 'no_such_query'" in at("refs", 7)
    assert "takes no argument 'colour'" in at("refs", 14)
    assert "primary kill switch of refund-approvals" in at("switch", 7)
    assert "cannot set disabled" in at("switch", 7)
    assert "workflow 'ghost-agent' has no agent card" in at("ghost", 2)
    assert "nxet" in at("malformed", 7)
    assert f"{books / 'billing-outage.yaml'}" not in done.stderr
    assert len(found) == 9 and sum(map(len, found.values())) == 9


def test_validate_passes_the_demo_runbooks(tmp_path: Path) -> None:
    done = run("validate", "-w", str(ROOT / "sample-data"))
    # The only problems are the two corrupt lines the demo's store ends with on purpose.
    lines = [ln for ln in done.stderr.strip().splitlines() if " warning: " not in ln]
    assert done.exit_code == 1, done.stderr
    assert lines[-1] == "2 problems found", done.stderr
    assert all("store/runs.jsonl:91" in ln for ln in lines[:-1]), done.stderr


# -- schema runbook -----------------------------------------------------------------------------


def test_schema_runbook_is_a_json_schema_the_runbooks_conform_to(ws: Path) -> None:
    import jsonschema

    done = run("schema", "runbook")
    assert done.exit_code == 0
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    books = [
        *sorted((ROOT / "sample-data" / "runbooks").glob("*.yaml")),
        ws / "runbooks" / "billing-outage.yaml",
    ]
    assert len(books) >= 2
    for path in books:
        # Read as agentdeck reads it: a choice labelled `No` is the word, not a boolean.
        data, _lines = load_yaml(path, words=WORD_PATHS)
        errors = list(validator.iter_errors(data))
        assert errors == [], (path, [e.message for e in errors])
    # It would catch a typo: the strict model forbids unknown keys, and so does the schema.
    broken = yaml.safe_load(MALFORMED)
    assert any("nxet" in e.message for e in validator.iter_errors(broken))
    assert list(validator.iter_errors({"id": "x", "workflow": "w", "title": "t"}))


# -- switch set: refused before anything is sent --------------------------------------------------


def switch_set(ws: Path, *args: str):  # type: ignore[no-untyped-def]
    return run("-w", str(ws), "switch", "set", *args)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ("ghost", "disabled", "--reason", "r", "--confirm", "ghost"),
            ("no agent card for workflow 'ghost'", "billing-support"),
        ),
        (
            ("billing-support", "off", "--reason", "r", "--confirm", "billing-support"),
            ("unknown tier 'off'", "suggest-only"),
        ),
        (
            ("refund-approvals", "disabled", "--reason", "r", "--confirm", "refund-approvals"),
            ("on/off flag holds only human-approve (on) or suggest-only (off), not disabled",),
        ),
        (
            ("billing-support", "disabled", "--channel", "second", "--reason", "r"),
            ("no second channel",),
        ),
        (
            ("billing-support", "disabled", "--incident", "INC-1", "--reason", "r"),
            ("--incident 'INC-1'", "SOURCE/ID"),
        ),
    ],
)
def test_switch_set_bad_usage_sends_nothing_and_audits_nothing(
    ws: Path, keyring_file: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    before = (ws / "flags" / "agents.flagd.json").read_bytes()
    one_line_error(switch_set(ws, *args), *needles)
    assert (ws / "flags" / "agents.flagd.json").read_bytes() == before
    assert audit_rows(ws) == []


@pytest.mark.parametrize(
    ("confirm", "reason", "needle"),
    [
        ("", "provider down", "type the workflow name 'refund-approvals' to confirm"),
        ("refund-aprovals", "provider down", "--confirm refund-approvals"),
        ("refund-approvals", "", "a reason is required"),
        ("refund-approvals", "   ", "a reason is required"),
    ],
)
def test_switch_set_without_confirmation_or_reason_is_refused(
    ws: Path, keyring_file: Path, confirm: str, reason: str, needle: str
) -> None:
    done = switch_set(
        ws, "refund-approvals", "suggest-only", "--confirm", confirm, "--reason", reason
    )
    line = one_line_error(done, needle)
    assert "nothing was sent" in line
    # The preflight was shown (it sends nothing): the target, and why it is not ready.
    assert "refund-approvals → suggest-only" in done.stdout
    assert "agentdeck login unleash" in done.stdout
    assert audit_rows(ws) == []


def test_a_switch_that_cannot_be_reached_fails_audited_with_next_steps(
    ws: Path, keyring_file: Path
) -> None:
    done = switch_set(
        ws,
        "refund-approvals",
        "suggest-only",
        "--confirm",
        "refund-approvals",
        "--reason",
        "provider down",
        "--incident",
        "prom/INC-7",
    )
    no_traceback(done)
    assert done.exit_code == 1
    assert "failed: nothing changed" in done.stdout
    assert "agentdeck login unleash" in done.stderr
    assert "second channel" in done.stderr and "refunds@example.com" in done.stderr
    rows = audit_rows(ws)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("switch.attempt", "ana", "prom/INC-7", 0),
        ("switch.result", "ana", "prom/INC-7", 0),
    ]
    attempt, result = (json.loads(r[5]) for r in rows)
    assert attempt["reason"] == "provider down" and attempt["state"] == "suggest-only"
    assert result["sent"] is False and "agentdeck login unleash" in result["error"]
    verified = run("-w", str(ws), "audit", "verify")
    assert verified.exit_code == 0 and "2 entries, chain intact" in verified.stdout


def test_switch_status_of_an_unknown_workflow_is_bad_usage(ws: Path, keyring_file: Path) -> None:
    one_line_error(run("-w", str(ws), "switch", "status", "ghost"), "'ghost'", "refund-approvals")


# -- audit verify -------------------------------------------------------------------------------


def walk_a_runbook(ws: Path, *, incident: tuple[str, str] = ("prom", "INC-1")) -> int:
    """Start the workspace's runbook for an incident and take a few steps: real entries."""
    cards = load_cards(ws / "cards")
    catalog = check_runbooks(ws / "runbooks", cards)
    rb = catalog.runbooks["billing-outage"].runbook
    conn = connect(ws / ".agentdeck" / "agentdeck.db")
    try:
        s = engine.start(conn, rb, operator="ana", incident=incident)
        engine.act(conn, rb, s.id, engine.CheckDone("confirm", {"outcome": "warn", "summary": "x"}))
        engine.act(conn, rb, s.id, engine.Choose("confirm", "Errors are high"))
        engine.act(conn, rb, s.id, engine.Skip("stop", "switched by hand"))
        return audit.verify(conn)[0]
    finally:
        conn.close()


def tamper(ws: Path, *sql: str) -> None:
    """What an attacker with the file does: drop the append-only triggers, then edit."""
    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    conn.execute("DROP TRIGGER audit_append_only_update")
    conn.execute("DROP TRIGGER audit_append_only_delete")
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_audit_verify_an_intact_chain(ws: Path) -> None:
    n = walk_a_runbook(ws)
    assert n >= 6
    done = run("-w", str(ws), "audit", "verify")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0] == f"{n} entries, chain intact"
    # Then how it is keyed and anchored, indented.
    assert all(ln.startswith("  ") for ln in done.stdout.splitlines()[1:]), done.stdout


def test_audit_verify_without_a_database_is_an_empty_chain(ws: Path) -> None:
    done = run("-w", str(ws), "audit", "verify")
    assert done.exit_code == 0 and "0 entries, chain intact" in done.stdout
    assert not (ws / ".agentdeck").exists()


def names(lines: list[str], n: int, word: str) -> bool:
    """Some finding names entry ``n`` (as the entry at fault, or in what it says) and ``word``."""
    return any(re.search(rf"(?<![\d]){n}(?![\d])", ln) and word in ln for ln in lines)


@pytest.mark.parametrize(
    ("sql", "entry", "word"),
    [
        (
            (
                "UPDATE audit SET body = replace(body, 'switched by hand', 'all fine') "
                "WHERE seq = 6",
            ),
            6,
            "edited",
        ),
        (("UPDATE audit SET actor = 'mallory' WHERE seq = 2",), 2, "edited"),
        (("DELETE FROM audit WHERE seq = 3",), 3, "missing"),
        (("DELETE FROM audit WHERE seq IN (3, 4, 5)",), 3, "missing"),
        (("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",), 7, "missing"),
        (("DELETE FROM audit WHERE seq >= 5",), 7, "missing"),
    ],
    ids=["edit-body", "edit-actor", "delete-one", "delete-three", "cut-one", "cut-three"],
)
def test_audit_verify_names_the_tampered_entry(
    ws: Path, sql: tuple[str, ...], entry: int, word: str
) -> None:
    assert walk_a_runbook(ws) == 7
    tamper(ws, *sql)
    done = run("-w", str(ws), "audit", "verify")
    no_traceback(done)
    assert done.exit_code == 1, done.output
    lines = done.stderr.strip().splitlines()
    assert lines[-1].endswith("found"), done.stderr
    assert all(ln.startswith("entry ") for ln in lines[:-1]), lines
    assert names(lines[:-1], entry, word), (entry, word, lines)
    assert "chain intact" not in done.stdout


def test_audit_verify_finds_an_entry_inserted_with_a_good_hash(ws: Path) -> None:
    walk_a_runbook(ws)
    db = ws / ".agentdeck" / "agentdeck.db"
    conn = sqlite3.connect(db)
    at, prev = conn.execute("SELECT at, hash FROM audit WHERE seq = 3").fetchone()
    conn.close()
    # The forged entry is hashed correctly over the one before it: only what follows betrays it.
    body = '{"step":"confirm","text":"all fine"}'
    forged = audit.entry_hash(4, at, "ana", "note", "prom/INC-1", None, False, body, prev)
    tamper(
        ws,
        "UPDATE audit SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE audit SET seq = seq - 99 WHERE seq >= 100",
        "INSERT INTO audit (seq, at, actor, kind, incident, session, drill, body, prev, hash) "
        f"VALUES (4, '{at}', 'ana', 'note', 'prom/INC-1', NULL, 0, '{body}', '{prev}', "
        f"'{forged}')",
    )
    done = run("-w", str(ws), "audit", "verify")
    assert done.exit_code == 1
    lines = done.stderr.strip().splitlines()[:-1]
    assert lines and all(ln.startswith("entry ") for ln in lines), lines
    assert names(lines, 4, "entry"), lines
    assert not names(lines, 2, "entry"), lines


def test_audit_verify_stays_light(ws: Path) -> None:
    walk_a_runbook(ws)
    probe = (
        "import sys; from tui.cli import cli\n"
        f"try:\n    cli(['-w', {str(ws)!r}, 'audit', 'verify'], prog_name='agentdeck')\n"
        "except SystemExit as exc:\n    print('EXIT', exc.code)\n"
        "heavy = sorted(m for m in ('textual', 'sqlite_utils', 'httpx') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "chain intact" in done.stdout and "HEAVY []" in done.stdout, (done.stdout, done.stderr)


# -- audit export -------------------------------------------------------------------------------


def test_audit_export_markdown_by_id_alone(ws: Path) -> None:
    walk_a_runbook(ws)
    done = run("-w", str(ws), "audit", "export", "INC-1", "--format", "md")
    assert done.exit_code == 0, done.output
    text = done.stdout
    assert text.startswith("# Incident prom/INC-1: timeline")
    assert "chain intact" in text
    assert "skipped Stop automatic refunds: switched by hand" in text
    assert "chose 'Errors are high'" in text


def test_audit_export_json_to_a_file(ws: Path, tmp_path: Path) -> None:
    walk_a_runbook(ws)
    walk_a_runbook(ws, incident=("prom", "INC-2"))
    out = tmp_path / "timeline.json"
    done = run("-w", str(ws), "audit", "export", "prom/INC-2", "--format", "json", "-o", str(out))
    assert done.exit_code == 0, done.output
    data = json.loads(out.read_text())
    assert data["incident"] == "prom/INC-2" and data["verified"] is True
    kinds = [e["kind"] for e in data["entries"]]
    assert kinds[0] == "session.start" and "skip" in kinds
    assert all(e["actor"] == "ana" for e in data["entries"])
    assert str(out) in done.stdout


def test_audit_export_of_an_ambiguous_or_unknown_incident(ws: Path) -> None:
    walk_a_runbook(ws, incident=("prom", "INC-1"))
    walk_a_runbook(ws, incident=("pd", "INC-1"))
    one_line_error(
        run("-w", str(ws), "audit", "export", "INC-1"), "ambiguous", "pd/INC-1", "prom/INC-1"
    )
    done = run("-w", str(ws), "audit", "export", "pd/INC-1", "--format", "json")
    assert done.exit_code == 0 and json.loads(done.stdout)["incident"] == "pd/INC-1"
    one_line_error(run("-w", str(ws), "audit", "export", "INC-404"), "INC-404", "prom/INC-1")


def test_audit_export_of_a_tampered_trail_says_so_and_exits_1(ws: Path) -> None:
    walk_a_runbook(ws)
    tamper(ws, "UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    done = run("-w", str(ws), "audit", "export", "INC-1")
    assert done.exit_code == 1
    assert "NOT verified" in done.stdout and "entry 3" in done.stdout
    assert "audit verify" in done.stderr


# -- oncall --drill -----------------------------------------------------------------------------


def test_oncall_drill_opens_the_on_call_area_in_drill_mode(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tui.cli

    opened: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        tui.cli, "_open_desk", lambda w, area="review", *, drill=False: opened.append((area, drill))
    )
    assert run("-w", str(ws), "oncall", "--drill").exit_code == 0
    assert run("-w", str(ws), "oncall").exit_code == 0
    assert opened == [("oncall", True), ("oncall", False)]


def test_an_optional_token_may_be_left_out(ws: Path, keyring_file: Path) -> None:
    """An Alertmanager's ``login`` is optional: Enter alone stores nothing and is no error; a
    PagerDuty source's is not."""
    from store.credentials import get_secret

    cfg = ws / "agentdeck.toml"
    cfg.write_text(
        cfg.read_text()
        + '\n[[alerts]]\nname = "prom"\nkind = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
        + '\n[[alerts]]\nname = "pd"\nkind = "pagerduty"\nurl = "https://api.pagerduty.com"\n'
        + 'services = { P1 = "billing-support" }\n'
    )
    done = run("-w", str(ws), "login", "prom", input="\n")
    assert done.exit_code == 0, done.output
    assert "used without one" in done.output and get_secret("prom") is None
    one_line_error(run("-w", str(ws), "login", "pd", input="\n"), "no token given")
    assert get_secret("pd") is None

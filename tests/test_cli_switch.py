"""`agentdeck switch status` and `switch set` through a real flagd flag file: live state, the
preflight shown, the confirmation, the write, the read-back, and the audit trail."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from review.session import load_setup, sync
from store.db import connect
from store.workspace import load_workspace
from tests.cli_oncall_helpers import default_variant, make_oncall_workspace, run


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("AGENTDECK_WORKSPACE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return make_oncall_workspace(tmp_path / "ws")


@pytest.fixture(autouse=True)
def empty_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real, empty file keyring: the Unleash and HTTP channels have no token here."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")  # type: ignore[misc]
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    yield


def audit_rows(ws: Path) -> list[tuple[str, str, str | None, int, dict]]:
    db = ws / ".agentdeck" / "agentdeck.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT kind, actor, incident, drill, body FROM audit ORDER BY seq")
        return [(k, a, i, d, json.loads(b)) for k, a, i, d, b in rows]
    finally:
        conn.close()


def lines_of(out: str) -> dict[tuple[str, str], str]:
    """``switch status`` rows by (workflow, channel)."""
    rows: dict[tuple[str, str], str] = {}
    for line in out.splitlines()[1:]:
        workflow, rest = line.split(None, 1)
        channel = "second channel" if rest.startswith("second channel") else rest.split()[0]
        rows[(workflow, channel)] = line
    return rows


# -- status -------------------------------------------------------------------------------------


def test_status_reads_every_channel_live_and_exits_1_when_one_cannot_be_read(ws: Path) -> None:
    flags = ws / "flags" / "agents.flagd.json"
    doc = json.loads(flags.read_text())
    doc["flags"]["crm-update-tier"]["defaultVariant"] = "human-approve"
    flags.write_text(json.dumps(doc))
    done = run("-w", str(ws), "switch", "status")
    assert done.exit_code == 1, done.output
    assert done.stdout.splitlines()[0].split() == [
        "workflow",
        "channel",
        "backend",
        "endpoint",
        "state",
    ]
    rows = lines_of(done.stdout)
    assert set(rows) == {
        ("billing-support", "primary"),
        ("crm-update", "primary"),
        ("crm-update", "second channel"),
        ("refund-approvals", "primary"),
        ("refund-approvals", "second channel"),
    }
    billing = rows[("billing-support", "primary")]
    assert "flagd" in billing and str(flags) in billing
    assert billing.endswith("auto-act (card tier auto-act)")
    assert rows[("crm-update", "primary")].endswith("human-approve (card tier auto-act)")
    assert "error:" in rows[("crm-update", "second channel")]
    assert "agentdeck login ops-switch" in rows[("crm-update", "second channel")]
    assert "agentdeck login unleash" in rows[("refund-approvals", "primary")]
    assert rows[("refund-approvals", "second channel")].endswith(
        "human-approve (card tier human-approve)"
    )
    # Each channel's read is kept as its last check, for the scorecard.
    import sqlite3

    from runbooks.killswitch import last_checks
    from store.workspace import load_workspace

    with sqlite3.connect(load_workspace(ws).db_path) as conn:
        kept = last_checks(conn)
    seen = {(c.workflow, c.channel): (c.state, c.reachable) for cs in kept.values() for c in cs}
    assert seen == {
        ("billing-support", "primary"): ("auto-act", True),
        ("crm-update", "primary"): ("human-approve", True),
        ("crm-update", "second channel"): (None, False),
        ("refund-approvals", "primary"): (None, False),
        ("refund-approvals", "second channel"): ("human-approve", True),
    }
    assert [c.channel for c in kept["crm-update"]] == ["primary", "second channel"]
    assert "agentdeck login ops-switch" in (kept["crm-update"][1].error or "")


def test_status_of_one_workflow(ws: Path) -> None:
    done = run("-w", str(ws), "switch", "status", "billing-support")
    assert done.exit_code == 0, done.output
    assert len(done.stdout.strip().splitlines()) == 2


def test_status_of_a_missing_flag_file_is_one_line_and_exit_1(ws: Path) -> None:
    (ws / "flags" / "agents.flagd.json").unlink()
    done = run("-w", str(ws), "switch", "status", "billing-support")
    assert done.exit_code == 1
    row = lines_of(done.stdout)[("billing-support", "primary")]
    assert "error:" in row and "agents.flagd.json" in row
    assert "Traceback" not in done.output


# -- set ----------------------------------------------------------------------------------------


def test_set_lowers_the_tier_verifies_and_audits_both_ends(ws: Path) -> None:
    done = run(
        "-w",
        str(ws),
        "switch",
        "set",
        "billing-support",
        "suggest-only",
        "--reason",
        "provider down",
        "--confirm",
        "billing-support",
        "--incident",
        "prom/INC-7",
    )
    assert done.exit_code == 0, done.output
    out = done.stdout
    assert "billing-support → suggest-only (lower)" in out
    assert "now:       auto-act" in out
    assert "will send:" in out and '"defaultVariant": "suggest-only"' in out
    assert "\nverified\n" in out
    assert default_variant(ws, "billing-support-tier") == "suggest-only"
    assert default_variant(ws, "crm-update-tier") == "auto-act"  # the rest of the file is kept

    rows = audit_rows(ws)
    assert [(k, a, i, d) for k, a, i, d, _b in rows] == [
        ("switch.attempt", "ana", "prom/INC-7", 0),
        ("switch.result", "ana", "prom/INC-7", 0),
    ]
    attempt, result = rows[0][4], rows[1][4]
    assert attempt["reason"] == "provider down"
    assert attempt["before"] == "auto-act" and attempt["state"] == "suggest-only"
    assert attempt["request"]["body"]["defaultVariant"] == "suggest-only"
    assert result["verified"] is True and result["after"] == "suggest-only"

    verified = run("-w", str(ws), "audit", "verify").stdout.splitlines()
    assert verified[0] == "2 entries, chain intact"
    assert verified[1].startswith("  keyed: signed with key ")
    status = run("-w", str(ws), "switch", "status", "billing-support")
    assert status.stdout.strip().endswith("suggest-only (card tier auto-act)")


def test_a_looser_tier_without_restore_exits_2_and_sends_nothing(ws: Path) -> None:
    base = ("-w", str(ws), "switch", "set", "billing-support")
    confirm = ("--confirm", "billing-support")
    assert run(*base, "disabled", "--reason", "stop it", *confirm).exit_code == 0
    flag_file = ws / "flags" / "agents.flagd.json"
    before, trail = flag_file.read_bytes(), audit_rows(ws)
    done = run(*base, "suggest-only", "--reason", "provider back", *confirm)
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "only lowers" in lines[0] and "--restore" in lines[0]
    assert flag_file.read_bytes() == before
    assert audit_rows(ws) == trail


def test_restore_puts_the_cards_tier_back(ws: Path) -> None:
    base = ("-w", str(ws), "switch", "set", "billing-support")
    confirm = ("--confirm", "billing-support")
    assert run(*base, "disabled", "--reason", "stop it", *confirm).exit_code == 0
    assert default_variant(ws, "billing-support-tier") == "disabled"
    done = run(*base, "auto-act", "--reason", "provider back", *confirm, "--restore")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("restore: billing-support → auto-act (raise)")
    assert default_variant(ws, "billing-support-tier") == "auto-act"
    result = [b for k, _, _, _, b in audit_rows(ws) if k == "switch.result"][-1]
    assert (result["mode"], result["action"], result["verdict"]) == ("restore", "raise", "verified")


def test_restore_never_goes_above_the_cards_tier(ws: Path) -> None:
    base = ("-w", str(ws), "switch", "set", "refund-approvals")
    text = (ws / "cards" / "refund-approvals.yaml").read_text(encoding="utf-8")
    assert "tier: human-approve" in text
    done = run(*base, "auto-act", "--reason", "x", "--confirm", "refund-approvals", "--restore")
    assert done.exit_code == 2 and "at most" in done.stderr


def test_a_brake_already_safer_sends_nothing_and_is_audited(ws: Path) -> None:
    base = ("-w", str(ws), "switch", "set", "billing-support")
    confirm = ("--confirm", "billing-support")
    assert run(*base, "disabled", "--reason", "stop it", *confirm).exit_code == 0
    flag_file = ws / "flags" / "agents.flagd.json"
    before = flag_file.read_bytes()
    done = run(*base, "disabled", "--reason", "again", *confirm)
    assert done.exit_code == 0, done.output
    assert "already disabled (or safer): nothing to send" in done.stdout
    assert flag_file.read_bytes() == before
    kinds = [(k, b.get("action"), b.get("sent")) for k, _, _, _, b in audit_rows(ws)]
    assert kinds[-1] == ("switch.result", "none", False)


def test_a_drill_sends_nothing_and_is_audited_as_a_drill(ws: Path) -> None:
    before = (ws / "flags" / "agents.flagd.json").read_bytes()
    done = run(
        "-w",
        str(ws),
        "switch",
        "set",
        "billing-support",
        "disabled",
        "--reason",
        "practice",
        "--confirm",
        "billing-support",
        "--drill",
    )
    assert done.exit_code == 0, done.output
    assert "VERIFIED, DRILL: nothing was sent" in done.stdout
    assert (ws / "flags" / "agents.flagd.json").read_bytes() == before
    assert [(k, d) for k, _a, _i, d, _b in audit_rows(ws)] == [
        ("switch.attempt", 1),
        ("switch.result", 1),
    ]


def test_a_wrong_confirmation_sends_nothing_and_audits_nothing(ws: Path) -> None:
    before = (ws / "flags" / "agents.flagd.json").read_bytes()
    done = run(
        "-w",
        str(ws),
        "switch",
        "set",
        "billing-support",
        "suggest-only",
        "--reason",
        "provider down",
        "--confirm",
        "crm-update",
    )
    assert done.exit_code == 2
    assert "will send:" in done.stdout  # the preflight was shown
    assert len(done.stderr.strip().splitlines()) == 1 and "nothing was sent" in done.stderr
    assert (ws / "flags" / "agents.flagd.json").read_bytes() == before
    assert audit_rows(ws) == []


def test_the_second_channel_when_the_first_is_down(ws: Path) -> None:
    primary = run(
        "-w",
        str(ws),
        "switch",
        "set",
        "refund-approvals",
        "suggest-only",
        "--reason",
        "unleash down",
        "--confirm",
        "refund-approvals",
    )
    assert primary.exit_code == 1
    assert "next: retry; second channel; escalate to refunds@example.com" in primary.stderr
    done = run(
        "-w",
        str(ws),
        "switch",
        "set",
        "refund-approvals",
        "suggest-only",
        "--channel",
        "second",
        "--reason",
        "unleash down",
        "--confirm",
        "refund-approvals",
    )
    assert done.exit_code == 0, done.output
    assert "through the second channel" in done.stdout
    assert default_variant(ws, "refund-approvals-tier") == "suggest-only"
    kinds = [(k, b.get("channel"), b.get("verified")) for k, _a, _i, _d, b in audit_rows(ws)]
    assert kinds == [
        ("switch.attempt", "primary", None),
        ("switch.result", "primary", False),
        ("switch.attempt", "second channel", None),
        ("switch.result", "second channel", True),
    ]


def test_a_flag_file_that_is_gone_fails_audited_with_next_steps(ws: Path) -> None:
    (ws / "flags" / "agents.flagd.json").unlink()
    done = run(
        "-w",
        str(ws),
        "switch",
        "set",
        "crm-update",
        "suggest-only",
        "--reason",
        "cost spike",
        "--confirm",
        "crm-update",
    )
    assert done.exit_code == 1
    assert "preflight FAILED" in done.stdout and "agents.flagd.json" in done.stdout
    assert "failed: nothing changed" in done.stdout
    assert "second channel" in done.stderr and "#crm-oncall" in done.stderr
    assert not (ws / "flags" / "agents.flagd.json").exists()
    [_attempt, result] = audit_rows(ws)
    assert result[4]["sent"] is False and "agents.flagd.json" in result[4]["error"]


def test_set_shows_the_agents_recent_actions_taken_on_its_own(ws: Path) -> None:
    conn = connect(load_workspace(ws).db_path)
    sync(conn, load_setup(load_workspace(ws)), push_grades=False)
    newest = conn.execute(
        "SELECT run_id FROM runs WHERE workflow = 'billing-support' "
        "AND final_action LIKE '%\"executed\"%' ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    conn.close()
    assert newest is not None, "the demo store has billing-support runs that acted on their own"
    done = run("-w", str(ws), "switch", "set", "billing-support", "suggest-only")
    assert done.exit_code == 2  # no reason, no confirmation: shown, not sent
    section = done.stdout.split("recent actions billing-support took on its own")[1]
    assert f"(run {newest[0]})" in section.splitlines()[1]
    assert default_variant(ws, "billing-support-tier") == "auto-act"

"""End to end against real servers on 127.0.0.1: an alert fired into a real Alertmanager is
pulled by the app, walked with real key presses, and ends in a kill switch turned off on a real
Unleash, read back as off both by the app and straight from Unleash's Admin API."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import settle

from runbooks.audit import verify
from store.workspace import Workspace, load_workspace
from tui.app import make_app
from tui.oncall.runbook_view import RunbookView
from tui.oncall.switch_panel import SwitchPanel

WORKFLOW = "refund-approvals"


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[Any]:
    """A real keyring backend (keyrings.alt's plaintext file) in a temporary folder, in place
    of the OS keyring for the length of the test."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    before = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


def fire(alertmanager_url: str, labels: dict[str, str], summary: str) -> None:
    """Send one alert as Prometheus does."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    reply = httpx.post(
        f"{alertmanager_url}/api/v2/alerts",
        json=[{"labels": labels, "annotations": {"summary": summary}, "startsAt": now}],
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def wire(ws: Workspace, alertmanager_url: str, unleash_url: str, flag: str) -> Workspace:
    """Point the demo at the real servers: an alert source, and the refund agent's switch."""
    config = ws.config_path.read_text(encoding="utf-8")
    config += f'\n[[alerts]]\nname = "am"\nkind = "alertmanager"\nurl = "{alertmanager_url}"\n'
    ws.config_path.write_text(config, encoding="utf-8")
    card = ws.cards_dir / f"{WORKFLOW}.yaml"
    text = card.read_text(encoding="utf-8")
    text = text.replace("url: http://127.0.0.1:4242", f"url: {unleash_url}")
    text = text.replace("flag: refund-approvals-auto", f"flag: {flag}")
    card.write_text(text, encoding="utf-8")
    return load_workspace(ws.root)


async def test_alertmanager_incident_to_a_verified_unleash_switch(
    demo_workspace: Workspace, alertmanager_url: str, unleash: Any, file_keyring: Any
) -> None:
    flag = unleash.create_flag(f"refund-auto-{uuid.uuid4().hex[:8]}", enabled_in=("production",))
    file_keyring.set_password("agentdeck", "unleash", unleash.admin_token)
    marker = uuid.uuid4().hex[:8]
    fire(
        alertmanager_url,
        {
            "alertname": "RefundPolicyViolation",
            "workflow": WORKFLOW,
            "severity": "critical",
            "failure_mode": "policy_violation",
            "run": marker,
        },
        f"Refund proposals over $500 filed without a manager note ({marker})",
    )
    ws = wire(demo_workspace, alertmanager_url, unleash.url, flag)
    app = make_app(ws, area="oncall")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        board = app.screen
        index = next(
            i
            for i, line in enumerate(board.incidents)
            if line.source == "am" and line.labels.get("run") == marker
        )
        incident = board.incidents[index]
        assert incident.workflow == WORKFLOW and incident.status == "firing"
        for _ in range(index - board.query_one("#board").cursor_row):
            await pilot.press("down")
        await settle(pilot)
        # The runbook that names the alert's failure mode comes first.
        await pilot.press("enter")
        await settle(pilot)
        view = board.runbook
        assert isinstance(view, RunbookView) and view.runbook.id == "refund-policy-violation"
        await pilot.press("enter")  # past the error-rate check
        await settle(pilot)
        await pilot.press("y")  # proposals are filed without a manager note
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert view.session is not None and view.session.current == "drafts-only"
        await pilot.press("k")
        await settle(pilot)
        await pilot.press(*WORKFLOW, "enter", *"policy broken", "enter")
        await settle(pilot)
        assert isinstance(view.switch, SwitchPanel)
        outcome = view.switch.outcome
        assert outcome is not None and outcome.verified, outcome
        assert (outcome.before, outcome.after) == ("human-approve", "suggest-only")
        # The alert source was told: the panel says so, and Alertmanager holds the silence.
        assert any(line.startswith("silenced am alert RefundPolicyViolation") for line in view.told)
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert view.session.current == "escalate"
    assert unleash.enabled(flag, "production") is False
    conn = sqlite3.connect(ws.db_path)
    try:
        key = f"am/{incident.incident_id}"
        bodies = [
            json.loads(b)
            for (b,) in conn.execute(
                "SELECT body FROM audit WHERE incident = ? AND kind = 'switch.result'", (key,)
            )
        ]
        assert [b["verdict"] for b in bodies] == ["verified"]
        assert bodies[0]["backend"] == "unleash" and bodies[0]["endpoint"].startswith(unleash.url)
        assert unleash.admin_token not in json.dumps(bodies)
        assert verify(conn)[1] == []
        told = [
            json.loads(b)
            for (b,) in conn.execute(
                "SELECT body FROM audit WHERE incident = ? AND kind = 'alert.silence.result'",
                (key,),
            )
        ]
        assert len(told) == 1 and told[0]["holds"]
    finally:
        conn.close()
    silences = httpx.get(f"{alertmanager_url}/api/v2/silences", timeout=10).json()
    ours = [
        s
        for s in silences
        if {"name": "run", "value": marker, "isRegex": False, "isEqual": True} in s["matchers"]
    ]
    assert [s["id"] for s in ours] == [told[0]["holds"]]
    assert ours[0]["status"]["state"] == "active" and ours[0]["createdBy"] == ws.reviewer
    assert "policy broken" in ours[0]["comment"]

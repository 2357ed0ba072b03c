"""Telling Alertmanager someone is on an alert (``runbooks.notify``), against the real
Alertmanager on 127.0.0.1 (tests/servers.py): a silence created for exactly the incident's
alert, read back, expired on release; refusals and an unreachable server are one line and
change nothing else; every call and its result is in the audit trail.

Each test labels its alert with a tag of its own, so tests sharing the session's Alertmanager
never see each other's alerts or silences.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbooks import audit, notify
from store.alert_sync import pull_source
from store.alerts.alertmanager import AlertmanagerSource, label_fingerprint
from store.alerts.base import Acknowledges
from store.db import connect, transaction
from store.models import Incident
from store.sync import store_incidents
from store.workspace import Workspace, load_workspace

SOURCE = "am"


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "notify.db")


def with_source(ws: Workspace, url: str, *, minutes: int | None = None) -> Workspace:
    """The demo workspace with an Alertmanager alert source named ``am`` at ``url``."""
    text = ws.config_path.read_text(encoding="utf-8")
    if minutes is not None:
        assert "[oncall]" not in text
        text += f"\n[oncall]\nsilence_minutes = {minutes}\n"
    text += f'\n[[alerts]]\nname = "{SOURCE}"\nkind = "alertmanager"\nurl = "{url}"\n'
    ws.config_path.write_text(text, encoding="utf-8")
    return load_workspace(ws.root)


def fire(url: str, labels: dict[str, str]) -> None:
    reply = httpx.post(f"{url}/api/v2/alerts", json=[{"labels": labels}], timeout=30)
    assert reply.status_code == 200, reply.text


def pulled(conn: sqlite3.Connection, url: str, tag: str) -> Incident:
    """Pull the tagged alert into the local copy the way a sync does; the one incident."""
    source = AlertmanagerSource(SOURCE, url, filters=[f'test="{tag}"'])
    report = pull_source(conn, source)
    assert report.error is None and report.listed == 1, report
    (incident,) = source.list_incidents()
    return incident


def silences_by(url: str, operator: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/api/v2/silences", timeout=30)
    assert reply.status_code == 200, reply.text
    return [s for s in reply.json() if s["createdBy"] == operator]


def trail(conn: sqlite3.Connection, incident: tuple[str, str]) -> list[audit.Entry]:
    return audit.entries(conn, incident=f"{incident[0]}/{incident[1]}")


def incident_row(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM incidents ORDER BY source, incident_id").fetchall()


def test_the_alertmanager_source_declares_it_can_be_told() -> None:
    assert isinstance(AlertmanagerSource(SOURCE, "http://127.0.0.1:9"), Acknowledges)


def test_the_fingerprint_is_alertmanagers(alertmanager_url: str, tag: str) -> None:
    labels = {"alertname": "Ünïcode ✓", "workflow": "billing-support", "test": tag, "a": ""}
    fire(alertmanager_url, labels)
    reply = httpx.get(
        f"{alertmanager_url}/api/v2/alerts", params={"filter": f'test="{tag}"'}, timeout=30
    )
    (alert,) = reply.json()
    # Alertmanager drops a label with an empty value; the fingerprint is of what it keeps.
    assert alert["labels"] == {k: v for k, v in labels.items() if v}
    assert label_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_silence_created_read_back_then_expired(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    ws = with_source(demo_workspace, alertmanager_url, minutes=90)
    labels = {
        "alertname": "PaymentsTimeout",
        "workflow": "billing-support",
        "severity": "critical",
        "test": tag,
    }
    fire(alertmanager_url, labels)
    # Another alert sharing all but one label: the silence must not reach it.
    fire(alertmanager_url, {**labels, "alertname": "PaymentsSlow"})
    source = AlertmanagerSource(SOURCE, alertmanager_url, filters=[f'test="{tag}"'])
    pull_source(conn, source)
    by_name = {i.labels["alertname"]: i for i in source.list_incidents()}
    incident = (SOURCE, by_name["PaymentsTimeout"].id)
    operator = f"dana-{tag}"
    now = datetime.now(UTC)

    result = notify.acknowledge(
        conn, ws, incident, operator=operator, reason="payments provider down", now=now
    )

    assert result.ok and result.told and result.sent and result.error is None
    (silence_id,) = result.holds
    end = now.replace(microsecond=0) + timedelta(minutes=90)
    assert result.until == end
    assert result.summary == (
        f"silenced am alert PaymentsTimeout until {end:%H:%M} UTC (silence {silence_id[:8]}…)"
    )
    (silence,) = silences_by(alertmanager_url, operator)
    assert silence["id"] == silence_id
    assert silence["status"]["state"] == "active"
    assert {m["name"]: m["value"] for m in silence["matchers"]} == labels
    assert all(m["isRegex"] is False and m["isEqual"] is True for m in silence["matchers"])
    entries = trail(conn, incident)
    assert [e.kind for e in entries] == ["alert.silence", "alert.silence.result"]
    assert silence["comment"] == f"payments provider down (agentdeck audit #{entries[0].seq})"
    assert entries[0].actor == operator and not entries[0].drill
    assert entries[0].body["request"]["endsAt"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entries[1].body["ok"] is True
    assert entries[1].body["holds"] == silence_id
    assert entries[1].body["read_back"]["state"] == "active"
    assert result.entries == [e.seq for e in entries]
    assert notify.held(conn, incident) == [silence_id]
    states = {i.labels["alertname"]: i.status for i in source.list_incidents()}
    assert states == {"PaymentsTimeout": "suppressed", "PaymentsSlow": "firing"}

    released = notify.release(conn, ws, incident, operator=operator, reason="provider back")

    assert released.ok and released.sent and released.freed == (silence_id,)
    assert released.summary == f"expired silence {silence_id[:8]}… on am (alert PaymentsTimeout)"
    (silence,) = silences_by(alertmanager_url, operator)
    assert silence["status"]["state"] == "expired"
    entries = trail(conn, incident)
    assert [e.kind for e in entries[2:]] == ["alert.unsilence", "alert.unsilence.result"]
    assert entries[3].body["freed"] == silence_id
    assert notify.held(conn, incident) == []
    assert {i.status for i in source.list_incidents()} == {"firing"}

    again = notify.release(conn, ws, incident, operator=operator, reason="twice")
    assert again.ok and not again.sent
    assert again.summary == "nothing to release: no silence from agentdeck on alert PaymentsTimeout"
    assert len(trail(conn, incident)) == 4


def test_the_comment_names_the_audit_entry_given(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    ws = with_source(demo_workspace, alertmanager_url)
    fire(alertmanager_url, {"alertname": "RefundSpike", "test": tag})
    incident = (SOURCE, pulled(conn, alertmanager_url, tag).id)
    kill = audit.record(conn, actor="dana", kind="killswitch.result", body={"verdict": "ok"})
    now = datetime.now(UTC)

    result = notify.acknowledge(
        conn, ws, incident, operator=f"op-{tag}", reason="refunds off", audit_seq=kill.seq, now=now
    )

    assert result.ok, result.error
    (silence,) = silences_by(alertmanager_url, f"op-{tag}")
    assert silence["comment"] == f"refunds off (agentdeck audit #{kill.seq})"
    # The default [oncall] silence_minutes is 120.
    assert result.until == now.replace(microsecond=0) + timedelta(minutes=120)
    assert trail(conn, incident)[0].body["refers_to"] == kill.seq
    notify.release(conn, ws, incident, operator=f"op-{tag}", reason="done")


def test_a_refused_silence_is_one_line_and_changes_nothing_else(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    ws = with_source(demo_workspace, alertmanager_url)
    # Labels Alertmanager cannot match on (a name with a space), kept with their fingerprint.
    labels = {"alertname": "Broken", "bad name": "x", "test": tag}
    incident = (SOURCE, label_fingerprint(labels))
    with transaction(conn):
        store_incidents(
            conn,
            SOURCE,
            [
                Incident(
                    id=incident[1],
                    source=SOURCE,
                    title="Broken",
                    status="firing",
                    starts_at=datetime.now(UTC),
                    labels=labels,
                )
            ],
        )
    before = incident_row(conn)

    result = notify.acknowledge(conn, ws, incident, operator=f"op-{tag}", reason="try")

    assert not result.ok and result.told and result.sent
    assert result.summary == result.error
    assert result.error is not None and "\n" not in result.error
    assert result.error.startswith(
        f"am POST {alertmanager_url}/api/v2/silences: HTTP 400, Alertmanager refused the silence "
        "(the server says 'silence invalid: invalid label matcher 1: invalid label name "
    )
    assert result.error.endswith(
        "run `agentdeck sync` so the alert's labels are current, or silence it in "
        "Alertmanager's web page"
    )
    assert silences_by(alertmanager_url, f"op-{tag}") == []
    assert incident_row(conn) == before
    assert notify.held(conn, incident) == []
    call, outcome = trail(conn, incident)
    assert (call.kind, outcome.kind) == ("alert.silence", "alert.silence.result")
    assert outcome.body == {"ok": False, "error": result.error, "incident": incident[1]}


def test_an_alertmanager_that_is_down_is_one_line(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    fire(alertmanager_url, {"alertname": "Down", "test": tag})
    incident = (SOURCE, pulled(conn, alertmanager_url, tag).id)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ws = with_source(demo_workspace, f"http://127.0.0.1:{port}")
    before = incident_row(conn)

    result = notify.acknowledge(conn, ws, incident, operator="dana", reason="r")

    assert not result.ok and result.error is not None and "\n" not in result.error
    assert result.error.startswith(
        f"am POST http://127.0.0.1:{port}/api/v2/silences: cannot connect ("
    )
    assert result.error.endswith("check that Alertmanager is running and `url` in agentdeck.toml")
    assert incident_row(conn) == before
    assert [e.body["ok"] for e in trail(conn, incident) if e.kind.endswith(".result")] == [False]


def test_labels_that_do_not_give_the_fingerprint_send_nothing(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    ws = with_source(demo_workspace, alertmanager_url)
    fire(alertmanager_url, {"alertname": "Cut", "team": "billing", "test": tag})
    incident = (SOURCE, pulled(conn, alertmanager_url, tag).id)
    # The local copy lost a label: a silence on the rest would catch other alerts too.
    conn.execute(
        "UPDATE incidents SET labels = ? WHERE incident_id = ?",
        (json.dumps({"alertname": "Cut", "test": tag}), incident[1]),
    )

    result = notify.acknowledge(conn, ws, incident, operator=f"op-{tag}", reason="r")

    assert not result.ok and not result.sent
    assert result.error == (
        f"am POST {alertmanager_url}/api/v2/silences: the labels kept for alert Cut do not give "
        f"its fingerprint {incident[1]}, so a silence could catch other alerts; nothing sent; "
        "run `agentdeck sync` and try again"
    )
    assert silences_by(alertmanager_url, f"op-{tag}") == []
    assert trail(conn, incident) == []


def test_a_drill_sends_nothing_and_records_what_it_would_send(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    ws = with_source(demo_workspace, alertmanager_url)
    fire(alertmanager_url, {"alertname": "Drill", "test": tag})
    incident = (SOURCE, pulled(conn, alertmanager_url, tag).id)
    now = datetime.now(UTC)

    result = notify.acknowledge(
        conn, ws, incident, operator=f"op-{tag}", reason="practice", drill=True, now=now
    )

    end = now.replace(microsecond=0) + timedelta(minutes=120)
    assert result.ok and result.drill and not result.sent and result.holds == ()
    assert result.summary == (
        f"DRILL: would silence am alert Drill until {end:%H:%M} UTC for op-{tag}; nothing sent"
    )
    assert silences_by(alertmanager_url, f"op-{tag}") == []
    (entry,) = trail(conn, incident)
    assert entry.kind == "alert.silence" and entry.drill and entry.body["sent"] is False
    assert {m["name"]: m["value"] for m in entry.body["request"]["matchers"]} == {
        "alertname": "Drill",
        "test": tag,
    }
    assert notify.held(conn, incident) == []


def test_an_incident_from_a_store_has_nobody_to_tell(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    with transaction(conn):
        store_incidents(
            conn,
            "demo",
            [
                Incident(
                    id="INC-1",
                    source="demo",
                    title="Refunds failing",
                    status="firing",
                    starts_at=datetime.now(UTC),
                )
            ],
        )

    result = notify.acknowledge(conn, demo_workspace, ("demo", "INC-1"), operator="d", reason="r")

    assert result.ok and not result.told and not result.sent and result.error is None
    assert result.summary == (
        "nothing to tell: incident demo/INC-1 came from demo (a file store: its incidents are "
        "records), which is not an [[alerts]] source in agentdeck.toml"
    )
    assert audit.entries(conn) == []


def test_an_incident_missing_from_the_local_copy_is_one_line(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    ws = with_source(demo_workspace, "http://127.0.0.1:9")
    result = notify.acknowledge(conn, ws, (SOURCE, "0123456789abcdef"), operator="d", reason="r")
    assert not result.ok
    assert result.error == (
        "am/0123456789abcdef: no such incident in the local copy; run `agentdeck sync` and "
        "try again"
    )


# -- replies a real Alertmanager rarely gives -------------------------------------------------

LABELS = {"alertname": "PaymentsTimeout", "workflow": "billing-support"}
TOKEN = "am-proxy-token-3f9c1e"


def stored(conn: sqlite3.Connection) -> tuple[str, str]:
    incident = (SOURCE, label_fingerprint(LABELS))
    with transaction(conn):
        store_incidents(
            conn,
            SOURCE,
            [
                Incident(
                    id=incident[1],
                    source=SOURCE,
                    title="t",
                    status="firing",
                    starts_at=datetime.now(UTC),
                    labels=LABELS,
                )
            ],
        )
    return incident


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (
            httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
            "the reply is not JSON but text/html ('<html>login</html>'); check that `url` is "
            "Alertmanager's API, not a web page or a login proxy",
        ),
        (
            httpx.Response(200, text='{"silenceID": '),
            "the reply ended in the middle of its JSON (14 bytes); the silence may have been "
            "made: look in Alertmanager's web page first",
        ),
        (
            httpx.Response(200, json={"id": "x"}),
            "the reply is not the new silence's id (silenceID: Field required)",
        ),
        (
            httpx.Response(503, text="overloaded"),
            "HTTP 503 (the server says 'overloaded'); check that `url` is Alertmanager and "
            "that it is healthy, then try again",
        ),
        (
            httpx.Response(401, text=f"bad token Bearer {TOKEN}"),
            "HTTP 401, the request was refused (the server says 'bad token Bearer ****'); run "
            "`agentdeck login am` with a token that may write silences",
        ),
    ],
)
def test_a_bad_reply_is_one_line_without_the_token(
    demo_workspace: Workspace, conn: sqlite3.Connection, reply: httpx.Response, says: str
) -> None:
    ws = with_source(demo_workspace, "http://127.0.0.1:9093")
    incident = stored(conn)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply

    result = notify.acknowledge(
        conn,
        ws,
        incident,
        operator="dana",
        reason="r",
        secret=lambda name: TOKEN if name == SOURCE else None,
        transport=httpx.MockTransport(handle),
    )

    assert [r.headers["authorization"] for r in seen] == [f"Bearer {TOKEN}"]
    assert not result.ok and result.error is not None
    assert result.error.startswith("am POST http://127.0.0.1:9093/api/v2/silences: ")
    assert says in result.error and "\n" not in result.error
    assert TOKEN not in result.error
    assert all(TOKEN not in json.dumps(e.body) for e in audit.entries(conn))
    assert notify.held(conn, incident) == []


def test_a_silence_that_reads_back_wrong_is_said_and_still_expired_on_release(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    ws = with_source(demo_workspace, "http://127.0.0.1:9093")
    incident = stored(conn)
    posted: dict[str, Any] = {}
    state = {"now": "pending"}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.update(json.loads(request.content))
            return httpx.Response(200, json={"silenceID": "s-1"})
        if request.method == "DELETE":
            state["now"] = "expired"
            return httpx.Response(200)
        return httpx.Response(200, json={**posted, "id": "s-1", "status": {"state": state["now"]}})

    transport = httpx.MockTransport(handle)
    result = notify.acknowledge(
        conn, ws, incident, operator="dana", reason="r", secret=lambda _: None, transport=transport
    )

    assert not result.ok and result.holds == ("s-1",)
    assert result.error == (
        "am GET http://127.0.0.1:9093/api/v2/silence/s-1: the silence reads back pending; "
        "check it in Alertmanager (it is expired on restore)"
    )
    assert notify.held(conn, incident) == ["s-1"]
    released = notify.release(
        conn, ws, incident, operator="dana", reason="r", secret=lambda _: None, transport=transport
    )
    assert released.ok and released.freed == ("s-1",)
    assert notify.held(conn, incident) == []


def test_a_silence_alertmanager_no_longer_knows_is_released_without_sending(
    demo_workspace: Workspace, conn: sqlite3.Connection, alertmanager_url: str, tag: str
) -> None:
    ws = with_source(demo_workspace, alertmanager_url)
    fire(alertmanager_url, {"alertname": "Forgotten", "test": tag})
    incident = (SOURCE, pulled(conn, alertmanager_url, tag).id)
    gone = str(uuid.uuid4())
    audit.record(
        conn,
        actor="dana",
        kind="alert.silence.result",
        body={"ok": True, "silence_id": gone, "holds": gone},
        incident=f"{SOURCE}/{incident[1]}",
    )
    assert notify.held(conn, incident) == [gone]

    result = notify.release(conn, ws, incident, operator="dana", reason="done")

    assert result.ok and not result.sent and result.freed == (gone,)
    assert notify.held(conn, incident) == []
    assert trail(conn, incident)[-1].body["state"] == "gone"

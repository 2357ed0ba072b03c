"""The Alertmanager alert source against a real Alertmanager on 127.0.0.1 (tests/servers.py),
and against a scripted HTTP server for the replies a real one rarely gives.

Every test labels its alerts with a tag of its own and lists them through a ``filter`` on that
tag, so tests sharing the session's Alertmanager never see each other's alerts.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from store.alerts.alertmanager import AlertmanagerSource
from store.alerts.base import AlertSource
from store.connectors.base import ConnectorError, Listed
from store.models import Incident
from tests.servers import Reply, ScriptedServer, free_port

ALERTS = "/api/v2/alerts"


def post_alerts(url: str, alerts: list[dict[str, Any]]) -> None:
    """Send alerts the way Prometheus does (``POST /api/v2/alerts``)."""
    reply = httpx.post(f"{url}{ALERTS}", json=alerts, timeout=30)
    assert reply.status_code == 200, reply.text


def raw_alerts(url: str, **params: str) -> list[dict[str, Any]]:
    """Alertmanager's own list, without the client."""
    reply = httpx.get(f"{url}{ALERTS}", params=params, timeout=30)
    assert reply.status_code == 200, reply.text
    result: list[dict[str, Any]] = reply.json()
    return result


def poll(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Call ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:12]


def source_for(url: str, tag: str, **kwargs: Any) -> AlertmanagerSource:
    return AlertmanagerSource("prod-am", url, filters=[f'test="{tag}"'], **kwargs)


def listed(source: AlertmanagerSource, count: int) -> Listed[Incident]:
    """The source's incidents, once it lists ``count`` of them."""

    def ready() -> Listed[Incident] | None:
        incidents = source.list_incidents()
        return incidents if len(incidents) == count else None

    result: Listed[Incident] = poll(ready, f"{count} alerts listed")
    return result


def test_firing_alerts_become_incidents(alertmanager_url: str, tag: str) -> None:
    started = datetime.now(UTC).replace(microsecond=123000) - timedelta(minutes=7)
    post_alerts(
        alertmanager_url,
        [
            {
                "labels": {
                    "alertname": "PaymentsToolErrors",
                    "severity": "critical",
                    "workflow": "billing-support",
                    "failure_mode": "vendor_outage",
                    "test": tag,
                },
                "annotations": {
                    "summary": "payments_api errors above 20 %",
                    "description": "Refunds are failing for most customers.",
                },
                "startsAt": iso(started),
            },
            {"labels": {"alertname": "CrmSlow", "test": tag}, "startsAt": iso(started)},
        ],
    )
    source = source_for(alertmanager_url, tag)
    assert isinstance(source, AlertSource)
    incidents = listed(source, 2)
    assert incidents.problems == []
    by_title = {i.title: i for i in incidents}
    assert set(by_title) == {"payments_api errors above 20 %", "CrmSlow"}

    payments = by_title["payments_api errors above 20 %"]
    fingerprints = {
        a["labels"]["alertname"]: a["fingerprint"] for a in raw_alerts(alertmanager_url)
    }
    assert payments.id == fingerprints["PaymentsToolErrors"]
    assert payments.source == "prod-am"
    assert payments.workflow == "billing-support"
    assert payments.severity == "critical"
    assert payments.status == "firing"
    assert payments.starts_at == started
    # A firing alert's endsAt is Alertmanager's timeout guess, not an end: the window is open.
    assert payments.ends_at is None
    assert payments.summary == "Refunds are failing for most customers."
    assert payments.labels["failure_mode"] == "vendor_outage"
    assert payments.labels["alertname"] == "PaymentsToolErrors"
    assert source.failure_mode(payments) == "vendor_outage"

    crm = by_title["CrmSlow"]
    assert crm.id == fingerprints["CrmSlow"]
    assert (crm.workflow, crm.severity, crm.summary) == (None, None, None)
    assert source.failure_mode(crm) is None


def test_configured_labels_name_the_workflow_and_failure_mode(
    alertmanager_url: str, tag: str
) -> None:
    post_alerts(
        alertmanager_url,
        [{"labels": {"alertname": "X", "agent": "crm-update", "mode": "cost_spike", "test": tag}}],
    )
    source = source_for(alertmanager_url, tag, workflow_label="agent", failure_mode_label="mode")
    (incident,) = listed(source, 1)
    assert incident.workflow == "crm-update"
    assert source.failure_mode(incident) == "cost_spike"


def test_filters_select_alerts(alertmanager_url: str, tag: str) -> None:
    post_alerts(
        alertmanager_url,
        [
            {"labels": {"alertname": "A", "team": "billing", "test": tag}},
            {"labels": {"alertname": "B", "team": "crm", "test": tag}},
        ],
    )
    listed(source_for(alertmanager_url, tag), 2)
    billing = AlertmanagerSource(
        "am", alertmanager_url, filters=[f'test="{tag}"', 'team="billing"']
    ).list_incidents()
    assert [i.title for i in billing] == ["A"]


def test_a_bad_filter_is_one_line_naming_the_endpoint(alertmanager_url: str) -> None:
    source = AlertmanagerSource("am", alertmanager_url, filters=["team=~("])
    with pytest.raises(ConnectorError) as err:
        source.list_incidents()
    message = str(err.value)
    assert message.startswith(f"am GET {alertmanager_url}{ALERTS}: HTTP 400")
    assert "filters" in message
    assert "\n" not in message


def test_a_silenced_alert_is_listed_as_suppressed(alertmanager_url: str, tag: str) -> None:
    now = datetime.now(UTC)
    post_alerts(alertmanager_url, [{"labels": {"alertname": "Quiet", "test": tag}}])
    source = source_for(alertmanager_url, tag)
    listed(source, 1)
    silence = {
        "matchers": [{"name": "test", "value": tag, "isRegex": False, "isEqual": True}],
        "startsAt": iso(now),
        "endsAt": iso(now + timedelta(hours=1)),
        "createdBy": "agentdeck tests",
        "comment": "a silenced alert is still open",
    }
    reply = httpx.post(f"{alertmanager_url}/api/v2/silences", json=silence, timeout=30)
    assert reply.status_code == 200, reply.text
    (incident,) = poll(
        lambda: [i for i in source.list_incidents() if i.status == "suppressed"],
        "the alert to be suppressed",
    )
    assert incident.title == "Quiet"
    assert incident.ends_at is None


def test_a_resolved_alert_disappears_from_the_list(alertmanager_url: str, tag: str) -> None:
    """Alertmanager's v2 API does not list resolved alerts at all, whatever the ``active``,
    ``silenced`` or ``inhibited`` filters say: resolving shows as the alert disappearing (the
    sync then marks the incident resolved)."""
    started = datetime.now(UTC) - timedelta(minutes=10)
    alert = {"labels": {"alertname": "Flapping", "test": tag}, "startsAt": iso(started)}
    post_alerts(alertmanager_url, [alert])
    source = source_for(alertmanager_url, tag)
    (incident,) = listed(source, 1)
    assert incident.status == "firing"

    post_alerts(
        alertmanager_url, [{**alert, "endsAt": iso(datetime.now(UTC) - timedelta(minutes=1))}]
    )
    poll(lambda: len(source.list_incidents()) == 0, "the resolved alert to leave the list")
    for params in ({}, {"active": "false"}, {"active": "true", "unprocessed": "true"}):
        mine = [a for a in raw_alerts(alertmanager_url, **params) if a["labels"].get("test") == tag]
        assert mine == [], params

    # Firing again (a new startsAt), it is listed again under the same fingerprint.
    post_alerts(alertmanager_url, [{**alert, "startsAt": iso(datetime.now(UTC))}])
    (again,) = listed(source, 1)
    assert again.id == incident.id
    assert again.status == "firing"


# --- Replies a real Alertmanager rarely gives: a scripted server on 127.0.0.1 -----------------


def alert_json(fingerprint: str, **fields: Any) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "labels": {"alertname": f"Alert {fingerprint}"},
        "annotations": {},
        "startsAt": "2026-11-25T08:00:00.000Z",
        "endsAt": "2026-11-25T08:05:00.000Z",
        "updatedAt": "2026-11-25T08:00:00.000Z",
        "receivers": [{"name": "null"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        **fields,
    }


HOSTILE = "\x1b[2J\x1b]8;;https://evil.example\x07boom\u202e\r\nTraceback (most recent call last):"

BAD_REPLIES = {
    "html": (
        Reply(200, b"<!DOCTYPE html><html><title>Sign in</title>", "text/html"),
        "not JSON but text/html",
    ),
    "truncated": (
        Reply(200, json.dumps([alert_json("a1")]).encode()[:50]),
        "the reply ended in the middle of its JSON (50 bytes)",
    ),
    "wrong": (Reply(200, b"ok", "text/plain"), "the reply is not valid JSON ('ok')"),
    "empty": (Reply(200, b""), "the reply is empty"),
    "object": (Reply(200, b'{"status": "success", "data": []}'), "JSON object, not a list"),
    "number": (Reply(200, b"42"), "JSON number, not a list"),
    "error500": (
        Reply(500, (HOSTILE + "x" * 500).encode(), "text/plain"),
        "HTTP 500",
    ),
    "error503": (Reply(503, b""), "HTTP 503 (no message)"),
    "refused401": (Reply(401, b'{"error": "bad token"}'), "run `agentdeck login prod-am`"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPLIES))
def test_a_bad_reply_is_one_line_naming_the_endpoint(case: str) -> None:
    reply, expected = BAD_REPLIES[case]
    token = "s3cret-token-value"
    with ScriptedServer({f"/{case}{ALERTS}": reply}) as server:
        source = AlertmanagerSource("prod-am", f"{server.url}/{case}/", token=token)
        with pytest.raises(ConnectorError) as err:
            source.list_incidents()
        assert server.requests[0][2]["Authorization"] == f"Bearer {token}"
    message = str(err.value)
    assert message.startswith(f"prod-am GET {server.url}/{case}{ALERTS}: ")
    assert expected in message
    assert "; " in message  # what happened; what to do
    assert "\n" not in message and "\r" not in message
    assert "\x1b" not in message and "\x07" not in message and "\u202e" not in message
    assert token not in message
    assert len(message) < 400
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_bad_alerts_in_a_good_list_are_skipped_and_said() -> None:
    alerts = [
        alert_json("good1", labels={"alertname": "Good", "workflow": "billing-support"}),
        alert_json("bad1", startsAt="yesterday"),
        {"fingerprint": "bad2", "labels": "not a mapping"},
        "not an alert",
        alert_json("bad3", status={"state": "exploded"}),
        alert_json("good2"),
    ]
    with ScriptedServer({ALERTS: Reply(200, json.dumps(alerts).encode())}) as server:
        incidents = AlertmanagerSource("am", server.url).list_incidents()
    assert [i.id for i in incidents] == ["good1", "good2"]
    assert incidents.skipped == 4
    assert len(incidents.problems) == 4
    assert all(p.startswith(f"am GET {server.url}{ALERTS}: alert ") for p in incidents.problems)
    assert "alert 2 skipped: startsAt" in incidents.problems[0]
    assert all("\n" not in p for p in incidents.problems)


def test_endsat_past_by_the_servers_clock_is_resolved() -> None:
    """The server's ``Date`` decides whether an alert's end has passed: a laptop's clock that
    is behind must not keep a resolved alert firing (nor one ahead end a firing one)."""
    server_now = datetime.now(UTC) + timedelta(hours=2)
    ended = datetime.now(UTC) + timedelta(hours=1)  # past for the server, future here
    alerts = [
        alert_json("ended", endsAt=iso(ended)),
        alert_json("open", endsAt=iso(server_now + timedelta(minutes=5))),
        alert_json(
            "muted", endsAt=iso(server_now + timedelta(minutes=5)), status={"state": "suppressed"}
        ),
    ]
    reply = Reply(
        200, json.dumps(alerts).encode(), headers={"Date": format_datetime(server_now, usegmt=True)}
    )
    with ScriptedServer({ALERTS: reply}) as server:
        incidents = {i.id: i for i in AlertmanagerSource("am", server.url).list_incidents()}
    assert incidents["ended"].status == "resolved"
    assert incidents["ended"].ends_at == ended
    assert (incidents["open"].status, incidents["open"].ends_at) == ("firing", None)
    assert (incidents["muted"].status, incidents["muted"].ends_at) == ("suppressed", None)


def test_connection_refused_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectorError) as err:
        AlertmanagerSource("am", url).list_incidents()
    message = str(err.value)
    assert message.startswith(f"am GET {url}{ALERTS}: cannot connect")
    assert "check that Alertmanager is running" in message
    assert "\n" not in message


def test_a_server_that_does_not_answer_times_out() -> None:
    hold = threading.Event()
    with ScriptedServer({ALERTS: Reply(200, b"[]", hold=hold)}) as server:
        with pytest.raises(ConnectorError) as err:
            AlertmanagerSource("am", server.url, timeout=0.5).list_incidents()
        hold.set()
    assert str(err.value).startswith(f"am GET {server.url}{ALERTS}: no answer within 0.5 s")


def test_a_password_in_the_url_is_never_shown() -> None:
    url = f"http://ops:hunter2@127.0.0.1:{free_port()}"
    source = AlertmanagerSource("am", url)
    with pytest.raises(ConnectorError) as err:
        source.list_incidents()
    assert "hunter2" not in str(err.value)
    assert "hunter2" not in source.endpoint and "hunter2" not in repr(source)

"""Telling PagerDuty someone is on an incident (``runbooks.notify``): contract tests against a
mock that checks every request against PagerDuty's published OpenAPI operations
(``getIncident``, ``updateIncident``, ``createIncidentNote`` in
tests/fixtures/pagerduty/list-incidents.openapi.json) and answers with their published examples.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbooks import audit, notify
from store.alerts.base import Acknowledges
from store.alerts.pagerduty import PagerDutySource
from store.db import connect, transaction
from store.models import Incident
from store.sync import store_incidents
from store.workspace import Workspace, load_workspace
from tests.openapi_subset import problems
from tests.test_pagerduty import KNOWN_NULLS, SPEC, pd_error

TOKEN = "y_NbAkKc66ryYTWUXYEu"
SOURCE = "pd"
INCIDENT = (SOURCE, "PT4KHLK")
EMAIL = "dana@example.com"
BASE = "https://api.pagerduty.com"

#: The operations agentdeck calls to tell PagerDuty, by method and path template.
OPERATIONS = {
    ("GET", "/incidents/{id}"): SPEC["paths"]["/incidents/{id}"]["get"],
    ("PUT", "/incidents/{id}"): SPEC["paths"]["/incidents/{id}"]["put"],
    ("POST", "/incidents/{id}/notes"): SPEC["paths"]["/incidents/{id}/notes"]["post"],
}
EMAIL_FORMAT = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        here: Any = SPEC
        for part in node["$ref"][2:].split("/"):
            here = here[part.replace("~1", "/")]
        node = here
    return node


def example(method: str, template: str) -> Any:
    content = OPERATIONS[(method, template)]["responses"]["200"]["content"]["application/json"]
    return copy.deepcopy(content["examples"]["response"]["value"])


def reply_problems(method: str, template: str, status: int, body: Any) -> list[str]:
    responses = OPERATIONS[(method, template)]["responses"]
    response = _resolve(responses[str(status)])
    schema = response["content"]["application/json"]["schema"]
    found = problems(SPEC, schema, body)
    return [p for p in found if not any(f".{f}: null where" in p for f in KNOWN_NULLS)]


def contract_problems(request: httpx.Request) -> list[str]:
    """Every way ``request`` breaks the operation it calls (method, path, headers, body)."""
    template = re.sub(r"^/incidents/[^/]+", "/incidents/{id}", request.url.path)
    op = OPERATIONS.get((request.method, template))
    if op is None:
        return [f"{request.method} {request.url.path} is none of the operations"]
    out: list[str] = []
    for param in (_resolve(p) for p in op["parameters"]):
        if param["in"] == "header":
            value = request.headers.get(param["name"])
            if value is None:
                if param.get("required"):
                    out.append(f"header {param['name']} is required")
                continue
            schema = param["schema"]
            if "enum" in schema and value not in schema["enum"]:
                out.append(f"header {param['name']}: {value!r} is not one of {schema['enum']}")
            if schema.get("format") == "email" and not EMAIL_FORMAT.match(value):
                out.append(f"header {param['name']}: {value!r} is not an email")
        elif param["in"] == "path" and not request.url.path.split("/")[2]:
            out.append(f"path parameter {param['name']} is empty")
        elif param["in"] == "query" and param.get("required"):
            out.append(f"query {param['name']} is required")
    declared = {_resolve(p)["name"] for p in op["parameters"] if _resolve(p)["in"] == "query"}
    out += [f"query {name} is not declared" for name in request.url.params if name not in declared]
    if "requestBody" in op:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        out += problems(SPEC, schema, json.loads(request.content))
    elif request.content:
        out.append("a body where the operation takes none")
    if request.headers.get("authorization") != f"Token token={TOKEN}":
        out.append("no API token")
    return out


Handler = Callable[[httpx.Request], httpx.Response]


def pagerduty(
    sent: list[httpx.Request],
    *,
    live: str = "triggered",
    overrides: dict[tuple[str, str], httpx.Response] | None = None,
) -> httpx.MockTransport:
    """PagerDuty as its schema says: each request checked, each reply the published example
    (the incident ``live`` before it is acknowledged); ``overrides`` replace a reply."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert contract_problems(request) == []
        sent.append(request)
        template = re.sub(r"^/incidents/[^/]+", "/incidents/{id}", request.url.path)
        key = (request.method, template)
        if overrides and key in overrides:
            return overrides[key]
        body = example(*key)
        if "incident" in body:
            body["incident"]["status"] = "acknowledged" if request.method == "PUT" else live
        if request.method == "POST":
            body["note"]["content"] = json.loads(request.content)["note"]["content"]
        assert reply_problems(*key, 200, body) == []
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    conn = connect(tmp_path / "notify.db")
    with transaction(conn):
        store_incidents(
            conn,
            SOURCE,
            [
                Incident(
                    id=INCIDENT[1],
                    source=SOURCE,
                    workflow="billing-support",
                    title="The server is on fire.",
                    status="triggered",
                    starts_at=datetime(2026, 11, 25, 1, 0, tzinfo=UTC),
                    labels={"service_id": "PBILL42"},
                )
            ],
        )
    return conn


def workspace(ws: Workspace, *, from_email: str | None = EMAIL) -> Workspace:
    text = ws.config_path.read_text(encoding="utf-8")
    text += (
        f'\n[[alerts]]\nname = "{SOURCE}"\nkind = "pagerduty"\nurl = "{BASE}"\n'
        'services = { PBILL42 = "billing-support" }\n'
    )
    if from_email:
        text += f'from_email = "{from_email}"\n'
    ws.config_path.write_text(text, encoding="utf-8")
    return load_workspace(ws.root)


def secret(name: str) -> str | None:
    return TOKEN if name == SOURCE else None


def tell(
    conn: sqlite3.Connection, ws: Workspace, transport: httpx.BaseTransport, **kwargs: Any
) -> notify.NotifyResult:
    options = {"operator": "dana", "reason": "payments provider down", **kwargs}
    return notify.acknowledge(conn, ws, INCIDENT, secret=secret, transport=transport, **options)


def kinds(conn: sqlite3.Connection) -> list[str]:
    return [e.kind for e in audit.entries(conn, incident="pd/PT4KHLK")]


# -- the contract itself ----------------------------------------------------------------------


def test_the_fragment_holds_the_three_operations_as_published() -> None:
    assert {op["operationId"] for op in OPERATIONS.values()} == {
        "getIncident",
        "updateIncident",
        "createIncidentNote",
    }
    from_header = SPEC["components"]["parameters"]["from_header"]
    assert from_header["in"] == "header" and from_header["required"] is True
    assert from_header["schema"] == {"type": "string", "format": "email"}
    put = OPERATIONS[("PUT", "/incidents/{id}")]
    assert put["requestBody"]["content"]["application/json"]["examples"]["request"]["value"] == {
        "incident": {"type": "incident_reference", "status": "acknowledged"}
    }


def test_the_contract_check_catches_a_request_that_breaks_it() -> None:
    bad = httpx.Request(
        "PUT",
        f"{BASE}/incidents/PT4KHLK?force=1",
        headers={"From": "dana", "Content-Type": "text/plain"},
        json={"incident": {"status": "open"}},
    )
    found = contract_problems(bad)
    assert "header Accept is required" in found
    assert "header From: 'dana' is not an email" in found
    assert any(p.startswith("header Content-Type: 'text/plain' is not one of") for p in found)
    assert "query force is not declared" in found
    assert "$.incident: type is required" in found
    assert any("'open' is not one of" in p for p in found)
    assert "no API token" in found
    assert contract_problems(httpx.Request("DELETE", f"{BASE}/incidents/P1")) == [
        "DELETE /incidents/P1 is none of the operations"
    ]


def test_the_pagerduty_source_declares_it_can_be_told() -> None:
    src = PagerDutySource(SOURCE, token=TOKEN, services={"P": "w"}, from_email=EMAIL)
    assert isinstance(src, Acknowledges)


# -- acknowledge and note ---------------------------------------------------------------------


def test_acknowledge_then_note_as_the_api_documents(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    ws = workspace(demo_workspace)
    sent: list[httpx.Request] = []

    result = tell(conn, ws, pagerduty(sent), audit_seq=None)

    assert result.ok and result.told and result.sent and result.error is None
    assert result.summary == "acknowledged pd incident PT4KHLK (note added)"
    assert [(r.method, r.url.path) for r in sent] == [
        ("GET", "/incidents/PT4KHLK"),
        ("PUT", "/incidents/PT4KHLK"),
        ("POST", "/incidents/PT4KHLK/notes"),
    ]
    get, put, post = sent
    assert "from" not in get.headers
    assert put.headers["from"] == EMAIL and post.headers["from"] == EMAIL
    assert put.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert json.loads(put.content) == {
        "incident": {"type": "incident_reference", "status": "acknowledged"}
    }
    entries = audit.entries(conn, incident="pd/PT4KHLK")
    assert [e.kind for e in entries] == [
        "alert.ack",
        "alert.ack.result",
        "alert.note",
        "alert.note.result",
    ]
    content = f"dana is on it: payments provider down (agentdeck audit #{entries[0].seq})"
    assert json.loads(post.content) == {"note": {"content": content}}
    assert entries[0].body["live_status"] == "triggered"
    assert entries[0].body["from"] == EMAIL
    assert entries[1].body == {"ok": True, "status": "acknowledged", "incident": "PT4KHLK"}
    assert entries[3].body["note_id"] == "PWL7QXS"
    assert all(e.actor == "dana" for e in entries)
    assert all(TOKEN not in json.dumps(e.body) for e in entries)
    assert result.entries == [e.seq for e in entries]
    # Nothing is held: an acknowledgement is not something a release can take back.
    assert notify.held(conn, INCIDENT) == []


def test_the_note_names_the_audit_entry_given(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    sent: list[httpx.Request] = []
    result = tell(conn, workspace(demo_workspace), pagerduty(sent), audit_seq=41)
    assert result.ok
    assert json.loads(sent[-1].content)["note"]["content"].endswith("(agentdeck audit #41)")


def test_a_resolved_incident_is_not_reopened(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    sent: list[httpx.Request] = []
    result = tell(conn, workspace(demo_workspace), pagerduty(sent, live="resolved"))
    assert result.ok and not result.sent
    assert result.summary == (
        "pd incident PT4KHLK is already resolved: not acknowledged (that would reopen it)"
    )
    assert [r.method for r in sent] == ["GET"]
    (entry,) = audit.entries(conn, incident="pd/PT4KHLK")
    assert entry.kind == "alert.ack" and entry.body["sent"] is False


def test_without_from_email_nothing_is_sent_and_the_key_is_named(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    sent: list[httpx.Request] = []
    result = tell(conn, workspace(demo_workspace, from_email=None), pagerduty(sent))
    assert not result.ok and sent == [] and kinds(conn) == []
    assert result.error == (
        "pd https://api.pagerduty.com: no `from_email` for alert source 'pd' in agentdeck.toml; "
        "PagerDuty needs a user's email as From to acknowledge: add "
        'from_email = "you@example.com" to its [[alerts]] table; nothing sent'
    )


def test_without_a_token_it_says_to_log_in(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    sent: list[httpx.Request] = []
    result = notify.acknowledge(
        conn,
        workspace(demo_workspace),
        INCIDENT,
        operator="dana",
        reason="r",
        secret=lambda name: None,
        transport=pagerduty(sent),
    )
    assert not result.ok and sent == [] and kinds(conn) == []
    assert result.error == (
        "pagerduty https://api.pagerduty.com: no token in the keyring for 'pd'; "
        "run `agentdeck login pd`"
    )


PUT_URL = "pd PUT https://api.pagerduty.com/incidents/PT4KHLK"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            httpx.Response(401, json=pd_error(2006, f"Authentication Required {TOKEN}")),
            f"{PUT_URL}: the token was refused (401: Authentication Required ****); "
            "run `agentdeck login pd`",
        ),
        (
            httpx.Response(404, json=pd_error(2100, "Not Found")),
            f"{PUT_URL}: no such incident (404: Not Found); it may have been merged or "
            "deleted: run `agentdeck sync`",
        ),
        (
            httpx.Response(
                429, headers={"Retry-After": "17"}, json=pd_error(2020, "Rate Limit Exceeded")
            ),
            f"{PUT_URL}: HTTP 429, too many requests (Rate Limit Exceeded); try again in 17 s",
        ),
        (
            httpx.Response(
                400,
                json=pd_error(2001, "Invalid Input Provided", "Requester User Not Found"),
            ),
            f"{PUT_URL}: refused (400: Invalid Input Provided: Requester User Not Found); "
            "check that from_email in agentdeck.toml is the email of a PagerDuty user",
        ),
        (
            httpx.Response(
                502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}
            ),
            f"{PUT_URL}: HTTP 502 (an HTML page); try again later",
        ),
        (
            httpx.Response(200, text="<!DOCTYPE html><title>Log In</title>"),
            f"{PUT_URL}: the reply is not JSON but text/plain ('<!DOCTYPE html><title>Log "
            "In</title>'); the url must be PagerDuty's REST API (https://api.pagerduty.com), "
            "not the web app or a proxy's login page",
        ),
        (
            httpx.Response(200, json={"incidents": []}),
            f"{PUT_URL}: the reply is not an incident (incident: Field required); check the "
            "source's url points at PagerDuty's REST API (https://api.pagerduty.com)",
        ),
    ],
)
def test_a_refused_acknowledgement_is_one_line_and_no_note_follows(
    demo_workspace: Workspace, conn: sqlite3.Connection, reply: httpx.Response, error: str
) -> None:
    if reply.status_code in (401, 404, 429):
        key = "Unauthorized" if reply.status_code == 401 else None
        key = key or ("NotFound" if reply.status_code == 404 else "TooManyRequests")
        schema = SPEC["components"]["responses"][key]["content"]["application/json"]["schema"]
        assert problems(SPEC, schema, reply.json()) == []
    sent: list[httpx.Request] = []
    before = conn.execute("SELECT * FROM incidents").fetchall()
    transport = pagerduty(sent, overrides={("PUT", "/incidents/{id}"): reply})

    result = tell(conn, workspace(demo_workspace), transport)

    assert not result.ok and result.error == error and result.summary == error
    assert [r.method for r in sent] == ["GET", "PUT"]
    assert kinds(conn) == ["alert.ack", "alert.ack.result"]
    assert audit.entries(conn)[-1].body["error"] == error
    assert conn.execute("SELECT * FROM incidents").fetchall() == before
    assert all(TOKEN not in json.dumps(e.body) for e in audit.entries(conn))


def test_a_note_that_fails_after_the_acknowledgement_says_both(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    reply = httpx.Response(503, json=pd_error(2003, "Service Unavailable"))
    transport = pagerduty([], overrides={("POST", "/incidents/{id}/notes"): reply})
    result = tell(conn, workspace(demo_workspace), transport)
    assert not result.ok and result.sent
    assert result.error == (
        "acknowledged pd incident PT4KHLK, but pd POST "
        "https://api.pagerduty.com/incidents/PT4KHLK/notes: HTTP 503 (Service Unavailable); "
        "try again later"
    )
    assert kinds(conn) == ["alert.ack", "alert.ack.result", "alert.note", "alert.note.result"]


def test_an_unreachable_pagerduty_is_one_line(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = tell(conn, workspace(demo_workspace), httpx.MockTransport(refuse))
    assert not result.ok and kinds(conn) == []
    assert result.error == (
        "pd GET https://api.pagerduty.com/incidents/PT4KHLK: cannot connect ([Errno 111] "
        "Connection refused); check the source's url in agentdeck.toml and the network"
    )


def test_a_drill_sends_nothing(demo_workspace: Workspace, conn: sqlite3.Connection) -> None:
    sent: list[httpx.Request] = []
    result = tell(conn, workspace(demo_workspace), pagerduty(sent), drill=True)
    assert result.ok and result.drill and not result.sent and sent == []
    assert result.summary == (
        "DRILL: would acknowledge pd incident PT4KHLK as dana@example.com and add a note; "
        "nothing sent"
    )
    (entry,) = audit.entries(conn)
    assert entry.kind == "alert.ack" and entry.drill and entry.body["sent"] is False


def test_release_adds_a_restore_note(demo_workspace: Workspace, conn: sqlite3.Connection) -> None:
    sent: list[httpx.Request] = []
    result = notify.release(
        conn,
        workspace(demo_workspace),
        INCIDENT,
        operator="dana",
        reason="provider back",
        audit_seq=7,
        secret=secret,
        transport=pagerduty(sent),
    )
    assert result.ok and result.sent
    assert result.summary == "added a restore note to pd incident PT4KHLK"
    assert [(r.method, r.url.path) for r in sent] == [("POST", "/incidents/PT4KHLK/notes")]
    assert json.loads(sent[0].content) == {
        "note": {"content": "dana restored: provider back (agentdeck audit #7)"}
    }
    assert kinds(conn) == ["alert.note", "alert.note.result"]


def test_from_email_belongs_to_a_pagerduty_source(demo_workspace: Workspace) -> None:
    from store.documents import DocumentError

    text = demo_workspace.config_path.read_text(encoding="utf-8")
    text += (
        '\n[[alerts]]\nname = "am"\nkind = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
        'from_email = "dana@example.com"\n'
    )
    demo_workspace.config_path.write_text(text, encoding="utf-8")
    with pytest.raises(DocumentError) as err:
        load_workspace(demo_workspace.root)
    assert "`from_email` is the From header of a pagerduty source" in str(err.value)

"""The PagerDuty alert source against a mock of ``GET /incidents`` that answers with replies
shaped like PagerDuty's published OpenAPI schema (tests/fixtures/pagerduty/README.md)."""

from __future__ import annotations

import copy
import json
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.alerts.base import AlertSource
from store.alerts.pagerduty import PagerDutyIncident, PagerDutySource, severity_of
from store.connectors.base import ConnectorError
from tests.openapi_subset import problems

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pagerduty"
SPEC = json.loads((FIXTURES / "list-incidents.openapi.json").read_text())
LIST = SPEC["paths"]["/incidents"]["get"]
PAGE_SCHEMA = LIST["responses"]["200"]["content"]["application/json"]["schema"]
ERROR_SCHEMA = {"$ref": "#/components/responses/Conflict/content/application~1json/schema"}

TOKEN = "y_NbAkKc66ryYTWUXYEu"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SERVICES = {"PBILL42": "billing-support", "PIJ90N7": "crm-update"}
ENDPOINT = "https://api.pagerduty.com/incidents"

#: Fields the schema does not mark nullable but whose own description (or the published example)
#: says are null: "resolved_at ... or null if the incident is not resolved", "alert_grouping ...
#: Will be null if the incident has no alerts", and the example's "resolve_reason": null.
KNOWN_NULLS = ("resolved_at", "alert_grouping", "alert_grouping.ended_at", "resolve_reason")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def schema_problems(reply: Any, schema: Any = PAGE_SCHEMA) -> list[str]:
    found = problems(SPEC, schema, reply)
    return [p for p in found if not any(f".{f}: null where" in p for f in KNOWN_NULLS)]


OPEN_PAGES = {0: "open-page-1.json", 2: "open-page-2.json", 4: "open-page-3.json"}


def pagerduty(requests: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """Open incidents in three pages; the resolved listing is the published example (which
    says more) and then an empty last page."""

    def handle(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        params = request.url.params
        offset = int(params["offset"])
        if params.get_list("statuses[]") == ["resolved"]:
            if offset == 0:
                return httpx.Response(200, json=fixture("list-incidents.example.json"))
            return httpx.Response(
                200, json={"incidents": [], "limit": 1, "offset": 1, "more": False}
            )
        return httpx.Response(200, json=fixture(OPEN_PAGES[offset]))

    return httpx.MockTransport(handle)


def source(transport: httpx.BaseTransport, **kwargs: Any) -> PagerDutySource:
    return PagerDutySource(
        "pagerduty",
        token=TOKEN,
        services=SERVICES,
        now=lambda: NOW,
        transport=transport,
        **kwargs,
    )


def answering(
    *replies: httpx.Response | Callable[[httpx.Request], httpx.Response],
) -> httpx.MockTransport:
    """A server that answers each request with the next reply (the last one repeats)."""
    queue = list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) else reply

    return httpx.MockTransport(handle)


def failure(transport: httpx.BaseTransport) -> str:
    with pytest.raises(ConnectorError) as err:
        source(transport).list_incidents()
    message = str(err.value)
    assert "\n" not in message and TOKEN not in message
    assert message.startswith(f"pagerduty GET {ENDPOINT}: ")
    return message


# -- the fixtures are PagerDuty's shape -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["list-incidents.example.json", "open-page-1.json", "open-page-2.json", "open-page-3.json"],
)
def test_the_replies_conform_to_the_published_schema(name: str) -> None:
    assert schema_problems(fixture(name)) == []


def test_the_schema_check_catches_a_reply_that_does_not_conform() -> None:
    page = fixture("open-page-1.json")
    page["incidents"][0]["status"] = "open"
    page["incidents"][1]["service"] = {"summary": "no id"}
    page["more"] = "yes"
    found = schema_problems(page)
    assert any("status: 'open' is not one of" in p for p in found)
    assert any("service: matches 0 of oneOf" in p for p in found)
    assert any("more: str where boolean" in p for p in found)
    assert schema_problems({"incidents": None}) != []


def test_the_published_example_deviates_from_its_schema_only_by_known_nulls() -> None:
    everything = problems(SPEC, PAGE_SCHEMA, fixture("list-incidents.example.json"))
    assert everything == [
        "$.incidents[0].alert_grouping.ended_at: null where string is expected",
        "$.incidents[0].resolve_reason: null where object is expected",
    ]


# -- listing ----------------------------------------------------------------------------------


def test_it_is_an_alert_source() -> None:
    src = source(pagerduty())
    assert isinstance(src, AlertSource)
    assert (src.name, src.endpoint) == ("pagerduty", "https://api.pagerduty.com")
    assert TOKEN not in repr(src)


def test_open_incidents_across_three_pages_and_the_recently_resolved() -> None:
    listed = source(pagerduty()).list_incidents()
    assert listed.problems == [] and listed.skipped == 0
    by_id = {i.id: i for i in listed}
    assert list(by_id) == ["Q1AAAAA", "Q1BBBBB", "Q1CCCCC", "Q1DDDDD", "Q1EEEEE", "PT4KHLK"]
    assert {i.source for i in listed} == {"pagerduty"}
    summary = {
        i.id: (i.workflow, i.status, i.severity, i.starts_at.isoformat(), i.ends_at) for i in listed
    }
    assert summary == {
        "Q1AAAAA": ("billing-support", "triggered", "critical", "2026-11-24T23:10:00+00:00", None),
        "Q1BBBBB": ("billing-support", "acknowledged", "high", "2026-11-24T23:20:00+00:00", None),
        "Q1CCCCC": ("crm-update", "triggered", "warning", "2026-11-25T00:05:00+00:00", None),
        "Q1DDDDD": ("crm-update", "triggered", "high", "2026-11-25T00:40:00.123456+00:00", None),
        "Q1EEEEE": ("billing-support", "triggered", "info", "2026-11-25T00:15:00+00:00", None),
        "PT4KHLK": (
            "crm-update",
            "resolved",
            "high",
            "2015-10-06T21:30:42+00:00",
            datetime(2015, 10, 6, 21, 38, 23, tzinfo=UTC),
        ),
    }
    assert by_id["Q1AAAAA"].title == "Refund tool returning 502"
    assert by_id["Q1AAAAA"].labels == {
        "service_id": "PBILL42",
        "service": "Billing support agent",
        "urgency": "high",
        "priority": "P1",
        "incident_number": "1301",
        "url": "https://acme.pagerduty.com/incidents/Q1AAAAA",
    }
    assert "priority" not in by_id["Q1CCCCC"].labels
    assert "failure_mode" not in by_id["Q1AAAAA"].labels


def test_the_requests_carry_the_token_the_version_and_the_documented_query() -> None:
    sent: list[httpx.Request] = []
    source(pagerduty(sent)).list_incidents()

    for request in sent:
        assert request.method == "GET"
        assert request.url.path == "/incidents"
        assert request.headers["authorization"] == f"Token token={TOKEN}"
        assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"
        assert request.url.params.get_list("service_ids[]") == ["PBILL42", "PIJ90N7"]
        assert request.url.params["limit"] == "100"
    opened = [r.url.params for r in sent if "triggered" in r.url.params.get_list("statuses[]")]
    resolved = [r.url.params for r in sent if r.url.params.get_list("statuses[]") == ["resolved"]]
    assert len(opened) + len(resolved) == len(sent)
    assert [p["offset"] for p in opened] == ["0", "2", "4"]
    for params in opened:
        assert params.get_list("statuses[]") == ["triggered", "acknowledged"]
        assert params["date_range"] == "all"  # an open incident older than the window still shows
        assert "since" not in params
    assert [p["offset"] for p in resolved] == ["0", "1"]
    for params in resolved:
        assert (params["since"], params["until"]) == (
            "2026-11-18T02:00:00Z",
            "2026-11-25T02:00:00Z",
        )
        assert "date_range" not in params


def test_every_query_parameter_sent_is_one_the_operation_declares() -> None:
    declared: dict[str, dict[str, Any]] = {}
    for param in LIST["parameters"]:
        ref = param["$ref"].rsplit("/", 1)[1]
        spec = SPEC["components"]["parameters"][ref]
        declared[spec["name"]] = spec
    sent: list[httpx.Request] = []
    source(pagerduty(sent)).list_incidents()
    for request in sent:
        for name, value in request.url.params.multi_items():
            assert name in declared, name
            schema = declared[name]["schema"]
            allowed = schema.get("enum") or schema.get("items", {}).get("enum")
            if allowed:
                assert value in allowed, (name, value)
    assert declared["Accept"]["schema"]["default"] == "application/vnd.pagerduty+json;version=2"


def test_an_incident_on_two_pages_is_listed_once() -> None:
    page = fixture("open-page-1.json")
    page["more"] = False
    resolved = copy.deepcopy(page)
    resolved["incidents"][1]["status"] = "resolved"
    resolved["incidents"][1]["resolved_at"] = "2026-11-25T01:00:00Z"
    transport = httpx.MockTransport(
        lambda r: httpx.Response(
            200, json=resolved if r.url.params.get_list("statuses[]") == ["resolved"] else page
        )
    )
    listed = source(transport).list_incidents()
    assert [(i.id, i.status) for i in listed] == [("Q1AAAAA", "triggered"), ("Q1BBBBB", "resolved")]


def test_a_server_that_says_more_forever_is_cut_off() -> None:
    calls: list[httpx.Request] = []

    def forever(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        page = fixture("open-page-1.json")
        for i, incident in enumerate(page["incidents"]):
            incident["id"] = f"Q{len(calls)}X{i}"
        return httpx.Response(200, json=page)

    message = failure(httpx.MockTransport(forever))
    assert "still says more incidents follow after 100 pages (200 incidents)" in message
    assert len(calls) == 100


def test_an_empty_page_that_says_more_is_an_error() -> None:
    message = failure(answering(httpx.Response(200, json={"incidents": [], "more": True})))
    assert "empty but says more follow" in message


# -- bad incidents are problems, not failures -------------------------------------------------


def test_bad_incidents_are_left_out_with_a_problem_each() -> None:
    page = fixture("open-page-1.json")
    page["more"] = False
    good = page["incidents"][0]
    no_date = copy.deepcopy(good) | {"id": "QNODATE"}
    del no_date["created_at"]
    bad_date = copy.deepcopy(good) | {"id": "QBADDATE", "created_at": "yesterday"}
    elsewhere = copy.deepcopy(good) | {"id": "QOTHER"}
    elsewhere["service"]["id"] = "PUNKNOWN"
    hostile = copy.deepcopy(good) | {"id": "Q\x1b[31mRED\u202e", "status": None}
    page["incidents"] = [no_date, good, "not an incident", bad_date, elsewhere, hostile]
    transport = answering(
        lambda r: httpx.Response(
            200,
            json=page
            if r.url.params.get_list("statuses[]") != ["resolved"]
            else {"incidents": [], "more": False},
        )
    )

    listed = source(transport).list_incidents()

    assert [i.id for i in listed] == ["Q1AAAAA"]
    assert listed.skipped == 5
    assert listed.problems == [
        f"pagerduty GET {ENDPOINT}: incident QNODATE left out (created_at: Field required)",
        f"pagerduty GET {ENDPOINT}: incident at position 2 left out (the incident: "
        "Input should be a valid dictionary or instance of PagerDutyIncident)",
        f"pagerduty GET {ENDPOINT}: incident QBADDATE left out (created_at: Value error, "
        "not an ISO 8601 timestamp: 'yesterday')",
        f"pagerduty GET {ENDPOINT}: incident QOTHER left out (its service PUNKNOWN is not in this "
        "source's services)",
        f"pagerduty GET {ENDPOINT}: incident Q [31mRED left out "
        "(status: Input should be a valid string)",
    ]


def test_severity_comes_from_a_p_priority_then_from_urgency() -> None:
    def incident(priority: Any, urgency: str | None) -> PagerDutyIncident:
        return PagerDutyIncident.model_validate(
            {
                "id": "Q",
                "status": "triggered",
                "service": {"id": "S"},
                "created_at": "2026-11-25T00:00:00Z",
                "priority": priority,
                "urgency": urgency,
            }
        )

    assert severity_of(incident({"summary": "P1"}, "low")) == "critical"
    assert severity_of(incident({"summary": "p3"}, "high")) == "warning"
    assert severity_of(incident({"summary": "P5"}, "high")) == "info"
    assert severity_of(incident({"summary": "Sev 1"}, "high")) == "high"
    assert severity_of(incident(None, "high")) == "high"
    assert severity_of(incident(None, "low")) == "warning"
    assert severity_of(incident(None, None)) is None


# -- failures: one line naming the endpoint, never the token ----------------------------------


def pd_error(code: int, message: str, *errors: str) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if errors:
        body["error"]["errors"] = list(errors)
    assert problems(SPEC, ERROR_SCHEMA, body) == []
    return body


def test_401_says_to_log_in_again() -> None:
    message = failure(
        answering(httpx.Response(401, json=pd_error(2006, "Authentication Required")))
    )
    assert message == (
        f"pagerduty GET {ENDPOINT}: the token was refused (401: Authentication Required); "
        "run `agentdeck login pagerduty`"
    )


def test_403_says_the_token_may_not_read_the_incidents() -> None:
    message = failure(answering(httpx.Response(403, json=pd_error(2010, "Access Denied"))))
    assert "the token may not read these incidents (403: Access Denied)" in message


def test_429_says_when_to_sync_again() -> None:
    reply = httpx.Response(
        429, headers={"Retry-After": "17"}, json=pd_error(2020, "Rate Limit Exceeded")
    )
    message = failure(answering(reply))
    assert message.endswith("HTTP 429, too many requests (Rate Limit Exceeded); sync again in 17 s")


def test_429_with_a_retry_after_date_says_when_to_sync_again() -> None:
    """Both forms of Retry-After are read (it was digits only); PagerDuty requests are sent once,
    so the wait is said, not waited."""
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    reply = httpx.Response(
        429, headers={"Retry-After": when}, json=pd_error(2020, "Rate Limit Exceeded")
    )
    message = failure(answering(reply))
    assert re.search(r"\(Rate Limit Exceeded\); sync again in (299|300) s$", message), message
    reset = httpx.Response(
        429, headers={"ratelimit-reset": "42"}, json=pd_error(2020, "Rate Limit Exceeded")
    )
    assert failure(answering(reset)).endswith("; sync again in 42 s")


def test_400_names_what_pagerduty_refused() -> None:
    body = pd_error(2001, "Invalid Input Provided", "Service Ids is invalid.")
    message = failure(answering(httpx.Response(400, json=body)))
    assert "refused the query (400: Invalid Input Provided: Service Ids is invalid.)" in message
    assert message.endswith("check the source's services (PagerDuty service ids) in agentdeck.toml")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_say_to_sync_later(status: int) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    message = failure(
        answering(httpx.Response(status, text=html, headers={"content-type": "text/html"}))
    )
    assert message.endswith(f"HTTP {status} (an HTML page); sync again later")


def test_an_html_page_is_not_incidents() -> None:
    login = "<!DOCTYPE html>\n<html><head><title>Log In | PagerDuty</title></head></html>"
    message = failure(
        answering(httpx.Response(200, text=login, headers={"content-type": "text/html"}))
    )
    assert (
        "the reply is not JSON but text/html ('<!DOCTYPE html> <html><head><title>Log …')"
        in message
    )
    assert message.endswith(
        "the url must be PagerDuty's REST API (https://api.pagerduty.com), not the web app or "
        "a proxy's login page"
    )


def test_a_redirect_is_not_followed() -> None:
    reply = httpx.Response(
        302, headers={"location": "https://acme.pagerduty.com/sign_in?token=abc"}
    )
    message = failure(answering(reply))
    assert "redirected (302) to https://acme.pagerduty.com/sign_in?token=****" in message


def test_a_truncated_reply_is_an_error_wherever_it_is_cut() -> None:
    text = json.dumps(fixture("open-page-3.json"), indent=1)
    for cut in range(1, len(text) - 1, 3):
        message = failure(answering(httpx.Response(200, text=text[:cut])))
        assert "the reply ended in the middle of its JSON" in message, text[:cut][-30:]


def test_text_that_is_not_json_is_quoted_short_and_clean() -> None:
    message = failure(answering(httpx.Response(200, text="upstream \x1b[2Jreset\r\n" + "x" * 500)))
    assert "the reply is not valid JSON ('upstream [2Jreset xxxx" in message
    assert "\x1b" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ({"alerts": []}, "(incidents: Field required)"),
        ({"incidents": {"id": "Q1"}}, "(incidents: Input should be a valid list)"),
        ([{"id": "Q1"}], "(the reply: Input should be a valid dictionary"),
        ({"incidents": [], "more": "maybe"}, "(more: Input should be a valid boolean"),
    ],
)
def test_a_reply_of_the_wrong_shape_is_an_error(reply: Any, says: str) -> None:
    message = failure(answering(httpx.Response(200, json=reply)))
    assert f"the reply is not a page of incidents {says}" in message


def test_a_refused_connection_is_an_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    src = PagerDutySource(
        "pd", f"http://127.0.0.1:{port}", token=TOKEN, services=SERVICES, timeout=5
    )
    with pytest.raises(ConnectorError) as err:
        src.list_incidents()
    message = str(err.value)
    assert message.startswith(f"pd GET http://127.0.0.1:{port}/incidents: cannot connect (")
    assert message.endswith("check the source's url in agentdeck.toml and the network")
    assert TOKEN not in message


def test_a_timeout_is_an_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    assert "no answer within 10 s" in failure(httpx.MockTransport(slow))


def test_a_server_echoing_the_token_does_not_leak_it() -> None:
    body = pd_error(2006, f"Bad token: Token token={TOKEN}")
    message = failure(answering(httpx.Response(401, json=body)))
    assert "Bad token: Token token=****" in message

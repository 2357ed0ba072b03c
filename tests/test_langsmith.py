"""The LangSmith connector against a fake LangSmith whose replies and the request bodies it
receives are checked against the API models LangSmith publishes in its ``langsmith`` package
(tests/fixtures/langsmith/; README.md there lists what they do not cover), served over real HTTP
on 127.0.0.1 (tests/servers.py ``TransportServer``)."""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from review import grading
from review.pulled import pull
from review.rubric import Rubric
from store.connectors.base import ConnectorError
from store.connectors.langsmith import (
    LangsmithConnector,
    LangsmithStoreConfig,
    decode_cursor,
    encode_cursor,
)
from store.db import connect
from store.identity import FIRST_WRONG_STEP, score_id
from store.models import RunSummary, Score, ScoreMetadata
from store.outbox import push
from tests.helpers import REQUIRED, rubric_file, scalar
from tests.servers import TransportServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "langsmith"
#: JSON Schemas of the ``langsmith`` package's API models (tests/fixtures/langsmith/README.md).
CONTRACT: dict[str, Any] = json.loads((FIXTURES / "contract.json").read_text())

KEY = "lsv2_pt_0f3c9a1e7b2d4c68a5e1_5d2c9e7f1a"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
PROJECT = "support-agents"
SESSION = str(uuid.uuid5(uuid.NAMESPACE_URL, "langsmith/session/support-agents"))
TENANT = str(uuid.uuid5(uuid.NAMESPACE_URL, "langsmith/tenant"))
QUEUE = str(uuid.uuid5(uuid.NAMESPACE_URL, "langsmith/queue"))
#: What every ``RunSchema`` carries whatever ``select`` asks for.
RUN_REQUIRED = ("name", "run_type", "trace_id", "dotted_order", "id", "status", "session_id")

_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


def model(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


#: What each operation the connector uses replies (200) and receives, as the ``langsmith``
#: package models them (README.md names the SDK code that reads or sends each). An operation part
#: the package has no model for is not listed, so not checked: see README.md.
REPLIES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/v1/sessions"): {"type": "array", "items": model("TracerSession")},
    # Client.list_runs reads `runs` (each a schemas.Run) and `cursors.next`.
    ("POST", "/api/v1/runs/query"): {
        "type": "object",
        "required": ["runs"],
        "properties": {"runs": {"type": "array", "items": model("Run")}},
    },
    ("GET", "/api/v1/feedback"): {"type": "array", "items": model("Feedback")},
    ("GET", "/api/v1/feedback/{feedback_id}"): model("Feedback"),
    ("GET", "/api/v1/annotation-queues/{queue_id}/runs"): {
        "type": "array",
        "items": model("RunSchemaWithAnnotationQueueInfo"),
    },
}
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/feedback"): model("FeedbackCreate"),
    ("POST", "/api/v1/annotation-queues/status/{annotation_queue_run_id}"): model(
        "AnnotationQueueCreateRunStatusParams"
    ),
}
#: Query parameters, by the package's params model.
QUERIES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/annotation-queues/{queue_id}/runs"): "RunListParams",
}


def schema_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Every way ``value`` breaks ``schema`` (JSON Schema 2020-12, as pydantic writes it), its
    ``#/components/...`` references resolved in the contract."""
    rooted = {**schema, "components": CONTRACT["components"]}
    validator = jsonschema.Draft202012Validator(rooted, format_checker=_FORMATS)
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '$'}: {e.message[:200]}"
        for e in validator.iter_errors(value)
    ]


def reply_problems(method: str, template: str, status: int, body: Any) -> list[str]:
    schema = REPLIES.get((method, template)) if status == 200 else None
    return [] if schema is None else schema_problems(schema, body)


def request_problems(method: str, template: str, body: Any) -> list[str]:
    schema = REQUESTS.get((method, template))
    return [] if schema is None else schema_problems(schema, body)


def query_problems(method: str, template: str, params: httpx.QueryParams) -> list[str]:
    """Query parameters the package's params model does not name."""
    known = CONTRACT["components"]["schemas"][QUERIES[(method, template)]]["properties"]
    return [f"query parameter {name!r} is not in the API" for name in params if name not in known]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def rid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(str(p) for p in parts)))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def run_record(
    run_id: str,
    trace_id: str,
    start: datetime,
    *,
    parent: dict[str, Any] | None = None,
    run_type: str = "chain",
    name: str = "agent",
    end: datetime | None = None,
    error: str | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    tokens: tuple[int, int] = (0, 0),
    cost: str | None = None,
    session: str = SESSION,
) -> dict[str, Any]:
    """A run as ``RunSchema`` has it (every field agentdeck may select)."""
    dotted = f"{_stamp(start)}{run_id}"
    if parent is not None:
        dotted = f"{parent['dotted_order']}.{dotted}"
    return {
        "id": run_id,
        "name": name,
        "run_type": run_type,
        "trace_id": trace_id,
        "dotted_order": dotted,
        "parent_run_id": parent["id"] if parent else None,
        "status": "error" if error else "success",
        "error": error,
        "session_id": session,
        "app_path": f"/o/{TENANT}/projects/p/{session}/r/{run_id}",
        "start_time": iso(start),
        "end_time": iso(end or start + timedelta(seconds=1)),
        "extra": {"metadata": metadata or {}, "runtime": {"sdk": "langsmith-py"}},
        "inputs": inputs,
        "outputs": outputs,
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "total_tokens": sum(tokens),
        "total_cost": cost,
        "tags": ["prod"],
    }


def trace(n: int, minutes_ago: float, workflow: str = "billing-support") -> list[dict[str, Any]]:
    """A support agent's trace: a root chain, a model call, and a tool call (failing in even
    traces)."""
    start = NOW - timedelta(minutes=minutes_ago)
    tid = rid("trace", n)
    failing = n % 2 == 0
    root = run_record(
        tid,
        tid,
        start,
        end=start + timedelta(seconds=4),
        inputs={"question": f"refund order {n}?"},
        outputs={"answer": "done" if not failing else "sorry"},
        metadata={"workflow": workflow},
        tokens=(150, 40),
        cost="0.0021",
        error="tool failed" if failing else None,
    )
    llm = run_record(
        rid("llm", n),
        tid,
        start + timedelta(seconds=1),
        parent=root,
        run_type="llm",
        name="ChatOpenAI",
        inputs={"messages": [{"role": "user", "content": f"refund order {n}?"}]},
        outputs={"generations": [{"text": "call payments_api"}]},
        tokens=(150, 40),
    )
    tool = run_record(
        rid("tool", n),
        tid,
        start + timedelta(seconds=2),
        parent=root,
        run_type="tool",
        name="payments_api.refund",
        inputs={"amount": "49.00"},
        outputs=None if failing else {"status": "succeeded"},
        error="upstream timeout" if failing else None,
    )
    return [root, llm, tool]


FIVE = [r for n in range(1, 6) for r in trace(n, minutes_ago=60 - n * 10)]


def tid(n: int) -> str:
    return rid("trace", n)


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response] | None

_LT = re.compile(r'^lt\(start_time, "([^"]+)"\)$')


class FakeLangSmith:
    """The parts of LangSmith's API the connector uses, with state (feedback kept by id),
    checked against the package's API models on the way in and out."""

    def __init__(self, runs: list[dict[str, Any]], *, projects: tuple[str, ...] = (PROJECT,)):
        self.runs = runs
        self.projects = {n: SESSION if n == PROJECT else rid("session", n) for n in projects}
        self.feedback: dict[str, dict[str, Any]] = {}
        self.queue: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        #: Replies to serve instead of the real handling, per (method, path).
        self.script: dict[tuple[str, str], list[Reply]] = {}
        self.page_cap = 100
        #: Every way a reply or a request broke the document (served over HTTP, an assertion
        #: in the server's thread would only drop the connection: the fixture checks this).
        self.violations: list[str] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queued = self.script.get((request.method, request.url.path))
        if queued:
            reply = queued.pop(0)
            if isinstance(reply, Exception):
                raise reply
            if isinstance(reply, httpx.Response):
                return reply
            if reply is not None:
                return reply(request)
        if request.headers.get("x-api-key") != KEY:
            return httpx.Response(401, json={"detail": "Invalid token"})
        return self.route(request)

    def answer(self, method: str, template: str, body: Any, status: int = 200) -> httpx.Response:
        found = reply_problems(method, template, status, body)
        self.violations += found
        assert found == [], f"the fake's reply breaks LangSmith's API models: {found}"
        return httpx.Response(status, json=body)

    def checked(self, method: str, template: str, body: Any) -> None:
        found = request_problems(method, template, body)
        self.violations += found
        assert found == [], f"the connector's request breaks LangSmith's API models: {found}"

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        method = request.method
        body = json.loads(request.content) if request.content else None
        q = request.url.params
        if path == "/api/v1/sessions" and method == "GET":
            rows = [
                {"id": sid, "name": name, "tenant_id": TENANT, "start_time": iso(NOW)}
                for name, sid in sorted(self.projects.items())
                if q.get("name") in (None, name)
            ]
            return self.answer("GET", path, rows)
        if path == "/api/v1/runs/query" and method == "POST":
            self.checked("POST", path, body)
            return self.query_runs(body)
        if path == "/api/v1/feedback" and method == "POST":
            self.checked("POST", path, body)
            return self.create_feedback(body)
        if path == "/api/v1/feedback" and method == "GET":
            return self.list_feedback(q)
        if path.startswith("/api/v1/feedback/"):
            fid = path.rsplit("/", 1)[1]
            template = "/api/v1/feedback/{feedback_id}"
            if fid not in self.feedback:
                return httpx.Response(404, json={"detail": "Feedback not found"})
            if method == "GET":
                return self.answer("GET", template, self.feedback[fid])
            if method == "PATCH":
                self.checked("PATCH", template, body)
                stored = self.feedback[fid]
                for field in ("score", "value", "comment", "correction"):
                    if field in body:
                        stored[field] = body[field]
                stored["modified_at"] = iso(NOW + timedelta(minutes=len(self.requests)))
                return self.answer("PATCH", template, stored)
            if method == "DELETE":
                del self.feedback[fid]
                return self.answer("DELETE", template, {})
        if path == f"/api/v1/annotation-queues/{QUEUE}/runs" and method == "GET":
            found = query_problems("GET", "/api/v1/annotation-queues/{queue_id}/runs", q)
            self.violations += found
            assert found == [], f"the connector's query breaks LangSmith's API: {found}"
            limit, offset = int(q.get("limit", 100)), int(q.get("offset", 0))
            if limit > 100:
                return httpx.Response(
                    422, json={"detail": [{"msg": "limit", "loc": [], "type": "x"}]}
                )
            rows = [i for i in self.queue if q.get("archived") != "false" or not i["archived"]]
            shown = [{k: v for k, v in i.items() if k not in ("archived", "state")} for i in rows]
            return self.answer(
                "GET", "/api/v1/annotation-queues/{queue_id}/runs", shown[offset : offset + limit]
            )
        if path.startswith("/api/v1/annotation-queues/status/") and method == "POST":
            template = "/api/v1/annotation-queues/status/{annotation_queue_run_id}"
            self.checked("POST", template, body)
            item = next(i for i in self.queue if i["queue_run_id"] == path.rsplit("/", 1)[1])
            item["state"] = body["status"]
            return self.answer("POST", template, {})
        return httpx.Response(404, json={"detail": "Not Found"})

    def query_runs(self, body: dict[str, Any]) -> httpx.Response:
        rows = [r for r in self.runs if r["session_id"] in (body.get("session") or [])]
        if body.get("is_root"):
            rows = [r for r in rows if r["parent_run_id"] is None]
        if body.get("trace"):
            rows = [r for r in rows if r["trace_id"] == body["trace"]]
        if body.get("start_time"):
            start = datetime.fromisoformat(body["start_time"])
            rows = [r for r in rows if datetime.fromisoformat(r["start_time"]) >= start]
        if body.get("filter"):
            match = _LT.match(body["filter"])
            if match is None:
                return httpx.Response(400, json={"detail": "unsupported filter"})
            end = datetime.fromisoformat(match[1])
            rows = [r for r in rows if datetime.fromisoformat(r["start_time"]) < end]
        rows = sorted(
            rows,
            key=lambda r: (r["start_time"] or "", r["id"]),
            reverse=body.get("order", "desc") == "desc",
        )
        query = json.dumps({k: v for k, v in body.items() if k != "cursor"}, sort_keys=True)
        offset = 0
        if body.get("cursor"):
            state = json.loads(base64.b64decode(body["cursor"]))
            if state["query"] != query:
                return httpx.Response(400, json={"detail": "cursor does not match the query"})
            offset = state["offset"]
        size = min(body.get("limit", 100), self.page_cap)
        keep = set(body.get("select") or []) | set(RUN_REQUIRED) | {"app_path"}
        chunk = [{k: copy.deepcopy(v) for k, v in r.items() if k in keep} for r in rows]
        chunk = chunk[offset : offset + size]
        following = None
        if offset + size < len(rows):
            state = {"query": query, "offset": offset + size}
            following = base64.b64encode(json.dumps(state).encode()).decode()
        reply = {"runs": chunk, "cursors": {"next": following, "prev": None}}
        return self.answer("POST", "/api/v1/runs/query", reply)

    def create_feedback(self, body: dict[str, Any]) -> httpx.Response:
        fid = body.get("id") or str(uuid.uuid4())
        if fid in self.feedback:
            return httpx.Response(409, json={"detail": "Feedback already exists"})
        source = body.get("feedback_source") or {"type": "api", "metadata": {}}
        stored = {
            "id": fid,
            "key": body["key"],
            "score": body.get("score"),
            "value": body.get("value"),
            "comment": body.get("comment"),
            "correction": body.get("correction"),
            "run_id": body.get("run_id"),
            "trace_id": body.get("trace_id"),
            "session_id": body.get("session_id"),
            "is_root": body.get("run_id") == body.get("trace_id"),
            "created_at": iso(NOW),
            "modified_at": iso(NOW),
            "feedback_source": {
                "type": source["type"],
                "metadata": source.get("metadata"),
                "user_id": None,
                "ls_user_id": None,
                "user_name": None,
            },
            "extra": None,
        }
        self.feedback[fid] = stored
        return self.answer("POST", "/api/v1/feedback", stored)

    def list_feedback(self, q: httpx.QueryParams) -> httpx.Response:
        limit, offset = int(q.get("limit", 100)), int(q.get("offset", 0))
        if limit > 100:
            return httpx.Response(422, json={"detail": [{"msg": "limit", "loc": [], "type": "x"}]})
        rows = sorted(self.feedback.values(), key=lambda f: f["id"])
        if runs := q.get_list("run"):
            rows = [f for f in rows if f["run_id"] in runs]
        if sessions := q.get_list("session"):
            rows = [f for f in rows if f["session_id"] in sessions]
        if keys := q.get_list("key"):
            rows = [f for f in rows if f["key"] in keys]
        if sources := q.get_list("source"):
            rows = [f for f in rows if f["feedback_source"]["type"] in sources]
        page = copy.deepcopy(rows[offset : offset + limit])
        return self.answer("GET", "/api/v1/feedback", page)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def add_to_queue(self, trace_id: str) -> None:
        root = next(r for r in self.runs if r["id"] == trace_id)
        self.queue.append(
            {
                **copy.deepcopy(root),
                "queue_run_id": rid("queue-item", trace_id),
                "added_at": iso(NOW),
                "archived": False,
                "state": None,
            }
        )


def connector(fake: FakeLangSmith | httpx.BaseTransport, **kwargs: Any) -> LangsmithConnector:
    transport = fake.transport() if isinstance(fake, FakeLangSmith) else fake
    kwargs.setdefault("sleep", lambda seconds: None)
    kwargs.setdefault("now", lambda: NOW)
    kwargs.setdefault("project", PROJECT)
    return LangsmithConnector(
        "langsmith",
        "https://api.smith.example.com",
        api_key=KEY,
        timeout=5.0,
        transport=transport,
        rng=random.Random(7),
        **kwargs,
    )


@pytest.fixture
def served() -> Iterator[Callable[[FakeLangSmith], str]]:
    """Serve a fake over real HTTP on 127.0.0.1; yields a function returning its URL."""
    servers: list[tuple[TransportServer, FakeLangSmith]] = []

    def serve(fake: FakeLangSmith) -> str:
        server = TransportServer(fake.handle)
        server.__enter__()
        servers.append((server, fake))
        return str(server.url)

    yield serve
    for server, fake in servers:
        server.__exit__(None, None, None)
        assert fake.violations == []


def over_http(fake: FakeLangSmith, url: str, **kwargs: Any) -> LangsmithConnector:
    kwargs.setdefault("sleep", lambda seconds: None)
    kwargs.setdefault("now", lambda: NOW)
    kwargs.setdefault("project", PROJECT)
    return LangsmithConnector("langsmith", url, api_key=KEY, timeout=5.0, **kwargs)


def list_all(
    ls: LangsmithConnector, cursor: str | None, limit: int
) -> tuple[list[RunSummary], str]:
    runs: list[RunSummary] = []
    while True:
        page = ls.list_runs(cursor, limit)
        runs += page.runs
        assert page.cursor is not None
        cursor = page.cursor
        if page.done:
            return runs, cursor


class SampleAll:
    def reason(self, run: RunSummary, incidents: Any) -> str | None:
        return "sample"

    def reviewers(self, run: RunSummary) -> list[str]:
        return ["ana"]


def required_of(rubric: Rubric) -> Callable[[str, str], set[str] | None]:
    return lambda rid_, ver: set(REQUIRED) if (rid_, ver) == (rubric.id, rubric.version) else None


def meta(reviewer: str = "ana", **marks: Any) -> ScoreMetadata:
    return ScoreMetadata(
        reviewer=reviewer, rubric_id="support-quality", rubric_version="abc123", **marks
    )


def scores(reviewer: str = "ana", trace_id: str | None = None) -> list[Score]:
    trace_id = trace_id or tid(1)
    values: dict[str, int | str] = {"task_success": "fail", "tone": 3}
    return [
        Score(
            id=score_id("langsmith", trace_id, c, reviewer),
            trace_id=trace_id,
            name=c,
            value=v,
            comment="refund went through twice" if c == "task_success" else None,
            metadata=meta(reviewer),
        )
        for c, v in values.items()
    ]


# -- the fixtures are LangSmith's shape --------------------------------------------------------


def test_the_contract_is_the_langsmith_packages_models() -> None:
    assert CONTRACT["info"] == {"title": "LangSmith", "source": "langsmith 0.15.1 (PyPI)"}
    schemas = CONTRACT["components"]["schemas"]
    # The API's own run schema (Stainless, generated from LangSmith's OpenAPI document) requires
    # what every RunSchema carries; the SDK's Run the fields agentdeck reads.
    queued = schemas["RunSchemaWithAnnotationQueueInfo"]
    assert set(RUN_REQUIRED) | {"app_path", "queue_run_id"} == set(queued["required"])
    run = schemas["Run"]["properties"]
    assert {"inputs", "outputs", "extra", "prompt_tokens", "completion_tokens"} <= set(run)
    assert {"total_cost", "parent_run_id", "dotted_order", "status", "session_id"} <= set(run)
    create = schemas["FeedbackCreate"]
    assert {"id", "run_id", "trace_id", "key", "feedback_source"} <= set(create["required"])
    assert {"score", "value", "comment", "correction"} <= set(create["properties"])
    assert {"type", "metadata"} <= set(schemas["FeedbackSourceBase"]["properties"])
    assert {"archived", "limit", "offset"} <= set(schemas["RunListParams"]["properties"])
    assert set(schemas["AnnotationQueueCreateRunStatusParams"]["properties"]) >= {"status"}


def test_the_schema_check_catches_what_langsmith_would_not_send() -> None:
    good = {"runs": [FIVE[0]], "cursors": {"next": None}}
    assert reply_problems("POST", "/api/v1/runs/query", 200, good) == []
    for field, bad_value in (("trace_id", "not-a-uuid"), ("start_time", "yesterday")):
        bad = copy.deepcopy(good)
        bad["runs"][0][field] = bad_value
        assert reply_problems("POST", "/api/v1/runs/query", 200, bad) != [], field
    missing = copy.deepcopy(good)
    del missing["runs"][0]["run_type"]
    assert reply_problems("POST", "/api/v1/runs/query", 200, missing) != []
    queued = {**FIVE[0], "queue_run_id": rid("q")}
    template = "/api/v1/annotation-queues/{queue_id}/runs"
    assert reply_problems("GET", template, 200, [queued]) == []
    del queued["dotted_order"]
    assert reply_problems("GET", template, 200, [queued]) != []
    feedback = {
        "id": rid("f"),
        "run_id": tid(1),
        "trace_id": tid(1),
        "key": "tone",
        "score": 3,
        "feedback_source": {"type": "api", "metadata": {}},
    }
    assert request_problems("POST", "/api/v1/feedback", feedback) == []
    for field in ("trace_id", "key", "feedback_source"):
        without = {k: v for k, v in feedback.items() if k != field}
        assert request_problems("POST", "/api/v1/feedback", without) != [], field
    assert request_problems("POST", "/api/v1/feedback", {**feedback, "run_id": "run-1"}) != []
    assert query_problems("GET", template, httpx.QueryParams({"archived": "false"})) == []
    assert query_problems("GET", template, httpx.QueryParams({"archive": "false"})) != []


# -- runs --------------------------------------------------------------------------------------


def test_root_runs_are_listed_page_by_page_oldest_first(
    served: Callable[[FakeLangSmith], str],
) -> None:
    fake = FakeLangSmith(FIVE)
    ls = over_http(fake, served(fake))
    runs, cursor = list_all(ls, None, 2)
    assert [r.trace_id for r in runs] == [tid(n) for n in range(1, 6)]
    first = runs[0]
    assert first.workflow == "billing-support"
    assert (first.status, runs[1].status) == ("ok", "error")
    assert (first.tokens.input, first.tokens.output) == (150, 40)
    assert first.cost_usd == pytest.approx(0.0021)
    assert first.latency_ms == 4000
    queries = [json.loads(r.content) for r in fake.calls("POST", "/api/v1/runs/query")]
    assert len(queries) == 3
    assert all(q["is_root"] is True and q["session"] == [SESSION] for q in queries)
    assert all(q["order"] == "asc" and q["limit"] == 2 for q in queries)
    assert {q["filter"] for q in queries} == {
        f'lt(start_time, "{iso(NOW - timedelta(minutes=5))}")'
    }
    assert "cursor" not in queries[0] and queries[1]["cursor"] and queries[2]["cursor"]
    assert decode_cursor(cursor) == (iso(NOW - timedelta(minutes=5)), None, None)
    assert all(r.headers["x-api-key"] == KEY for r in fake.requests)


def test_the_next_sync_lists_only_runs_that_started_since() -> None:
    fake = FakeLangSmith(list(FIVE))
    _, cursor = list_all(connector(fake), None, 100)
    fake.runs += trace(6, minutes_ago=4.5)  # too recent for the settle time at NOW
    later = NOW + timedelta(minutes=10)
    runs, _ = list_all(connector(fake, now=lambda: later), cursor, 100)
    assert [r.trace_id for r in runs] == [tid(6)]
    query = json.loads(fake.calls("POST", "/api/v1/runs/query")[-1].content)
    assert query["start_time"] == iso(NOW - timedelta(minutes=5))


def test_an_interrupted_sweep_resumes_with_its_own_window() -> None:
    fake = FakeLangSmith(FIVE)
    page = connector(fake).list_runs(None, 2)
    assert not page.done and page.cursor is not None
    start, end, inner = decode_cursor(page.cursor)
    assert (start, end) == (None, iso(NOW - timedelta(minutes=5))) and inner
    later = NOW + timedelta(hours=1)
    rest, _ = list_all(connector(fake, now=lambda: later), page.cursor, 2)
    assert [r.trace_id for r in page.runs + rest] == [tid(n) for n in range(1, 6)]


def test_a_root_without_the_workflow_key_falls_back_to_the_run_name() -> None:
    runs = trace(1, 30)
    runs[0]["extra"] = {"metadata": {}}
    runs[0]["name"] = "support-bot"
    [summary] = connector(FakeLangSmith(runs)).list_runs(None, 10).runs
    assert summary.workflow == "support-bot"


def test_a_run_is_hydrated_from_its_child_runs_across_pages() -> None:
    fake = FakeLangSmith(FIVE)
    fake.page_cap = 2  # three runs a trace: two pages
    [run] = connector(fake).fetch_runs([tid(2)])
    assert run.trace_id == tid(2) and run.workflow == "billing-support"
    assert run.input == {"question": "refund order 2?"}
    assert run.output == {"answer": "sorry"}
    assert run.status == "error" and run.tags == ["prod"]
    assert [(s.kind, s.name, s.span_id) for s in run.steps] == [
        ("llm", "ChatOpenAI", rid("llm", 2)),
        ("tool", "payments_api.refund", rid("tool", 2)),
    ]
    llm, tool = run.steps
    assert llm.tokens is not None and (llm.tokens.input, llm.tokens.output) == (150, 40)
    assert llm.arguments == {"messages": [{"role": "user", "content": "refund order 2?"}]}
    assert tool.arguments == {"amount": "49.00"} and tool.result is None
    assert tool.error is not None and tool.error.message == "upstream timeout"
    assert tool.tokens is None and tool.latency_ms == 1000
    bodies = [json.loads(r.content) for r in fake.calls("POST", "/api/v1/runs/query")]
    assert [b["trace"] for b in bodies] == [tid(2), tid(2)]
    assert "inputs" in bodies[0]["select"] and "outputs" in bodies[0]["select"]


def test_a_trace_with_an_unreadable_run_is_left_out_whole() -> None:
    runs = copy.deepcopy(FIVE)
    runs[2]["start_time"] = None  # trace 1's tool call
    fake = FakeLangSmith(runs)
    fake.answer = lambda method, template, body, status=200: httpx.Response(status, json=body)  # type: ignore[method-assign]
    fetched = connector(fake).fetch_runs([tid(1), tid(3)])
    assert [r.trace_id for r in fetched] == [tid(3)]
    [problem] = fetched.problems
    assert problem.startswith(
        f"langsmith POST https://api.smith.example.com/api/v1/runs/query: trace {tid(1)} left out"
    )
    assert "start_time" in problem and "\n" not in problem


# -- feedback ----------------------------------------------------------------------------------


def test_push_creates_feedback_with_its_deterministic_id(
    served: Callable[[FakeLangSmith], str],
) -> None:
    fake = FakeLangSmith(FIVE)
    ls = over_http(fake, served(fake))
    step = Score(
        id=score_id("langsmith", tid(1), FIRST_WRONG_STEP, "ana"),
        trace_id=tid(1),
        span_id=rid("tool", 1),
        name=FIRST_WRONG_STEP,
        value=2,
        metadata=meta(),
    )
    ls.push_scores([*scores(), step])
    bodies = [json.loads(r.content) for r in fake.calls("POST", "/api/v1/feedback")]
    assert [b["id"] for b in bodies] == [s.id for s in [*scores(), step]]
    verdict, tone, mark = bodies
    assert verdict["key"] == "task_success" and verdict["value"] == "fail"
    assert verdict["score"] is None and verdict["comment"] == "refund went through twice"
    assert tone["key"] == "tone" and tone["score"] == 3 and tone["value"] is None
    assert verdict["run_id"] == verdict["trace_id"] == tid(1)
    assert verdict["session_id"] == SESSION
    assert verdict["feedback_source"] == {
        "type": "api",
        "metadata": {
            "reviewer": "ana",
            "rubric_id": "support-quality",
            "rubric_version": "abc123",
            "escalate": False,
        },
    }
    assert mark["run_id"] == rid("tool", 1) and mark["trace_id"] == tid(1)
    assert len(fake.feedback) == 3


def test_pushing_twice_updates_each_feedback_in_place() -> None:
    fake = FakeLangSmith(FIVE)
    ls = connector(fake)
    ls.push_scores(scores())
    edited = [
        s.model_copy(update={"value": "pass", "comment": None}) if s.name == "task_success" else s
        for s in scores()
    ]
    ls.push_scores(edited)
    assert len(fake.feedback) == 2  # exactly one feedback per criterion
    verdict = fake.feedback[score_id("langsmith", tid(1), "task_success", "ana")]
    assert (verdict["value"], verdict["comment"]) == ("pass", None)
    patches = fake.calls("PATCH", f"/api/v1/feedback/{verdict['id']}")
    assert [json.loads(p.content) for p in patches] == [
        {"comment": None, "score": None, "value": "pass"}
    ]
    assert fake.calls("DELETE", f"/api/v1/feedback/{verdict['id']}") == []
    # Metadata an update cannot carry (a new rubric version): the same id, written again.
    newer = [
        s.model_copy(update={"metadata": meta().model_copy(update={"rubric_version": "d4"})})
        for s in edited
    ]
    ls.push_scores(newer)
    assert len(fake.feedback) == 2
    assert {f["feedback_source"]["metadata"]["rubric_version"] for f in fake.feedback.values()} == {
        "d4"
    }
    assert fake.feedback[verdict["id"]]["value"] == "pass"


def test_feedback_reads_back_as_sent_with_other_reviewers_and_without_strangers() -> None:
    fake = FakeLangSmith(FIVE)
    ls = connector(fake)
    mark = Score(
        id=score_id("langsmith", tid(1), FIRST_WRONG_STEP, "ana"),
        trace_id=tid(1),
        span_id=rid("tool", 1),
        name=FIRST_WRONG_STEP,
        value=2,
        metadata=meta(),
    )
    ls.push_scores([*scores(), mark, *scores("ben"), *scores("ana", tid(3))])
    # An evaluator's feedback and a user's thumbs are not agentdeck's.
    fake.feedback[rid("judge")] = {
        **fake.feedback[mark.id],
        "id": rid("judge"),
        "key": "correctness",
        "feedback_source": {"type": "api", "metadata": {"__run": {"run_id": tid(1)}}},
    }
    back = ls.list_scores([tid(1)])
    assert back.problems == []
    got = {(s.metadata.reviewer, s.name): s for s in back}
    assert set(got) == {
        ("ana", "task_success"),
        ("ana", "tone"),
        ("ana", FIRST_WRONG_STEP),
        ("ben", "task_success"),
        ("ben", "tone"),
    }
    assert got["ana", "tone"].value == 3 and isinstance(got["ana", "tone"].value, int)
    assert got["ana", "task_success"].value == "fail"
    assert got["ana", "task_success"].comment == "refund went through twice"
    assert got["ana", FIRST_WRONG_STEP].span_id == rid("tool", 1)
    assert got["ana", FIRST_WRONG_STEP].trace_id == tid(1)
    assert got["ana", "tone"].created_at == NOW
    assert len(ls.list_scores(None)) == 2 + 1 + 2 + 2


def test_feedback_with_bad_metadata_is_left_out_and_said() -> None:
    fake = FakeLangSmith(FIVE)
    ls = connector(fake)
    ls.push_scores(scores())
    [one, _] = fake.feedback.values()
    one["feedback_source"]["metadata"]["escalate"] = "maybe"
    back = ls.list_scores([tid(1)])
    assert len(back) == 1 and back.skipped == 1
    [problem] = back.problems
    assert problem.startswith("langsmith GET https://api.smith.example.com/api/v1/feedback: ")
    assert "escalate" in problem


def test_delete_removes_feedback_and_a_missing_one_is_fine() -> None:
    fake = FakeLangSmith(FIVE)
    ls = connector(fake)
    ls.push_scores(scores())
    gone = [s.id for s in scores()]
    ls.delete_scores([gone[0]])
    assert set(fake.feedback) == {gone[1]}
    ls.delete_scores(gone)
    assert fake.feedback == {}


def test_an_adjudicated_grade_is_feedback_marked_final() -> None:
    fake = FakeLangSmith(FIVE)
    ls = connector(fake)
    final = Score(
        id=score_id("langsmith", tid(1), "task_success", "adjudicated"),
        trace_id=tid(1),
        name="task_success",
        value="fail",
        metadata=meta("adjudicated", kind="adjudicated", adjudicator="dana"),
    )
    ls.push_scores([final])
    stored = fake.feedback[final.id]["feedback_source"]["metadata"]
    assert (stored["kind"], stored["adjudicator"]) == ("adjudicated", "dana")
    [back] = ls.list_scores([tid(1)])
    assert (back.metadata.kind, back.metadata.adjudicator) == ("adjudicated", "dana")
    assert LangsmithConnector.adjudication is False  # no final value in the published API


# -- bad replies -------------------------------------------------------------------------------


def always(response: httpx.Response) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: response)


def test_a_refused_key_names_the_endpoint_and_never_the_key() -> None:
    fake = FakeLangSmith(FIVE)
    ls = LangsmithConnector(
        "langsmith",
        "https://api.smith.example.com",
        api_key="lsv2_wrong",
        project=PROJECT,
        transport=fake.transport(),
    )
    with pytest.raises(ConnectorError) as err:
        ls.list_runs(None, 10)
    assert str(err.value) == (
        "langsmith GET https://api.smith.example.com/api/v1/sessions: the API key was refused "
        "(401: Invalid token); run `agentdeck login langsmith`"
    )


def test_a_key_the_server_echoes_is_masked_in_the_line() -> None:
    echo = httpx.Response(400, json={"detail": f"bad header x-api-key: {KEY}"})
    with pytest.raises(ConnectorError) as err:
        connector(always(echo)).list_runs(None, 10)
    assert KEY not in str(err.value) and "refused the request (400: bad header" in str(err.value)


def test_timeouts_and_5xx_are_retried_then_succeed_and_429_waits() -> None:
    fake = FakeLangSmith(FIVE)
    waits: list[float] = []
    fake.script[("POST", "/api/v1/runs/query")] = [
        httpx.ReadTimeout("slow"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
    ]
    page = connector(fake, sleep=waits.append).list_runs(None, 10)
    assert len(page.runs) == 5
    assert len(waits) == 3 and waits[2] == 7.0


def test_an_unreachable_store_is_said_as_unreachable() -> None:
    from store.connectors.base import StoreUnreachable

    transport = httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")))
    with pytest.raises(
        StoreUnreachable, match=r"^langsmith GET .*/api/v1/sessions: cannot connect"
    ):
        connector(transport).list_runs(None, 10)


BAD_PAGES = {
    "html": (
        httpx.Response(200, headers={"content-type": "text/html"}, text="<html>Sign in</html>"),
        "the reply is not JSON but text/html",
    ),
    "truncated": (
        httpx.Response(200, text='{"runs": [{"id": "'),
        "the reply ended in the middle of its JSON",
    ),
    "wrong shape": (
        httpx.Response(200, json=[{"runs": []}]),
        "the reply is not what LangSmith sends",
    ),
    "missing fields": (
        httpx.Response(
            200,
            json={"runs": [{k: v for k, v in FIVE[9].items() if k != "trace_id"}], "cursors": {}},
        ),
        "is not what LangSmith sends (trace_id: Field required)",
    ),
}


@pytest.mark.parametrize("bad", sorted(BAD_PAGES))
def test_a_bad_page_is_one_line_and_leaves_cursor_and_database_as_they_were(
    tmp_path: Path, bad: str
) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangSmith(FIVE)
    reply, said = BAD_PAGES[bad]
    fake.script[("POST", "/api/v1/runs/query")] = [
        None,  # page 1
        None,  # its two traces
        None,
        reply,  # page 2
    ]
    with pytest.raises(ConnectorError) as err:
        pull(conn, connector(fake), SampleAll(), required=required_of(rubric), page_size=2)
    line = str(err.value)
    assert line.startswith("langsmith POST https://api.smith.example.com/api/v1/runs/query: ")
    assert said in line and "\n" not in line and KEY not in line
    saved = scalar(conn, "SELECT cursor FROM sync_state WHERE store = 'langsmith'")
    assert scalar(conn, "SELECT count(*) FROM runs") == 2
    assert scalar(conn, "SELECT count(*) FROM steps") == 4  # no half run
    fake.requests.clear()
    report = pull(conn, connector(fake), SampleAll(), required=required_of(rubric), page_size=2)
    assert report.listed == 3
    first = json.loads(fake.requests[1].content)  # after the project lookup
    assert first["cursor"] == decode_cursor(saved)[2]
    assert scalar(conn, "SELECT count(*) FROM runs WHERE hydrated = 1") == 5
    assert scalar(conn, "SELECT count(*) FROM steps") == 10
    conn.close()


def test_a_project_that_does_not_exist_is_named(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangSmith(FIVE)
    report = pull(
        conn,
        connector(fake, project="suport-agents"),
        SampleAll(),
        required=required_of(rubric),
    )
    assert report.listed == 0
    assert report.problems == [
        "langsmith: LangSmith at https://api.smith.example.com has no project 'suport-agents', "
        "so no runs were listed; check `project` in agentdeck.toml (a new project appears "
        "with its first trace)"
    ]
    assert scalar(conn, "SELECT count(*) FROM runs") == 0
    assert fake.calls("POST", "/api/v1/runs/query") == []
    conn.close()


def test_the_cursor_round_trips() -> None:
    cursor = encode_cursor("2026-11-25T01:00:00.000000Z", None, "abc")
    assert decode_cursor(cursor) == ("2026-11-25T01:00:00.000000Z", None, "abc")
    with pytest.raises(ValueError):
        decode_cursor("lf1.e30")
    with pytest.raises(ConnectorError, match="is not this store's"):
        connector(FakeLangSmith(FIVE)).list_runs("lf1.e30", 10)


# -- through the sync engine and the outbox, on a real SQLite file -------------------------------


def test_grades_reach_langsmith_once_and_edits_update_in_place(
    tmp_path: Path, served: Callable[[FakeLangSmith], str]
) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangSmith(FIVE)
    url = served(fake)
    report = pull(conn, over_http(fake, url), SampleAll(), required=required_of(rubric))
    assert (report.listed, report.sampled, report.hydrated) == (5, 5, 5)
    pk = scalar(conn, "SELECT id FROM runs WHERE run_id = ?", tid(2))
    values = {"task_success": "pass", "intervention": "no", "policy": "safe", "tone": 5}
    for criterion, value in values.items():
        grading.set_value(conn, pk, "ana", rubric, criterion, value)
    assert push(conn, over_http(fake, url), now=NOW).pushed == 1
    grading.set_value(conn, pk, "ana", rubric, "tone", 3)
    assert push(conn, over_http(fake, url), now=NOW).pushed == 1
    expected = {score_id("langsmith", tid(2), c, "ana"): v for c, v in values.items()}
    expected[score_id("langsmith", tid(2), "tone", "ana")] = 3
    assert {
        f["id"]: f["value"] if f["value"] is not None else f["score"]
        for f in fake.feedback.values()
    } == expected
    assert push(conn, over_http(fake, url), now=NOW).pushed == 0

    # Ben grades the same run on his laptop: his grade arrives with the next sync.
    over_http(fake, url).push_scores(
        [
            Score(
                id=score_id("langsmith", tid(2), c, "ben"),
                trace_id=tid(2),
                name=c,
                value=v,
                metadata=ScoreMetadata(
                    reviewer="ben", rubric_id=rubric.id, rubric_version=rubric.version
                ),
            )
            for c, v in {"task_success": "fail", "intervention": "yes", "policy": "safe"}.items()
        ]
    )
    pull(conn, over_http(fake, url), SampleAll(), required=required_of(rubric))
    grades = {
        r[0]: (json.loads(r[1]), r[2])
        for r in conn.execute('SELECT reviewer, "values", origin FROM grades WHERE run = ?', (pk,))
    }
    assert grades == {
        "ana": (values | {"tone": 3}, "local"),
        "ben": ({"task_success": "fail", "intervention": "yes", "policy": "safe"}, "remote"),
    }
    conn.close()


def test_a_queue_is_the_sample_and_grading_completes_its_item(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangSmith(FIVE)
    for n in (1, 4):
        fake.add_to_queue(tid(n))
    fake.queue.append(
        {
            **copy.deepcopy(fake.queue[0]),
            "queue_run_id": rid("old"),
            "id": tid(5),
            "trace_id": tid(5),
            "archived": True,
        }
    )
    ls = connector(fake, queue_id=QUEUE)
    assert ls.server_sample is True
    report = pull(conn, ls, SampleAll(), required=required_of(rubric), page_size=2)
    assert (report.listed, report.sampled, report.hydrated) == (5, 2, 2)
    hydrated = {r for (r,) in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    assert hydrated == {tid(1), tid(4)}
    assert {r for (r,) in conn.execute("SELECT DISTINCT reason FROM assignments")} == {"queue"}

    pk = scalar(conn, "SELECT id FROM runs WHERE run_id = ?", tid(1))
    for criterion, value in {
        "task_success": "pass",
        "intervention": "no",
        "policy": "safe",
    }.items():
        grading.set_value(conn, pk, "ana", rubric, criterion, value)
    assert push(conn, connector(fake, queue_id=QUEUE), now=NOW).pushed == 1
    assert [i["state"] for i in fake.queue] == ["completed", None, None]
    assert len(fake.feedback) == 3
    again = pull(conn, connector(fake, queue_id=QUEUE), SampleAll(), required=required_of(rubric))
    assert (again.sampled, again.hydrated) == (0, 0)
    conn.close()


def test_no_connector_without_the_sampling_queue_chooses_the_sample() -> None:
    assert connector(FakeLangSmith(FIVE)).sample_ids() is None


# -- configuration and agentdeck login ---------------------------------------------------------


def test_the_config_model_has_the_documented_defaults() -> None:
    cfg = LangsmithStoreConfig.model_validate(
        {"name": "langsmith", "kind": "langsmith", "project": "support-agents"}
    )
    assert cfg.url == "https://api.smith.langchain.com"
    assert (cfg.workflow_attribute, cfg.queue) == ("metadata.workflow", None)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="project"):
        LangsmithStoreConfig.model_validate({"name": "langsmith", "kind": "langsmith"})
    assert LangsmithConnector.login is not None
    assert LangsmithConnector.login.prompt == "LangSmith API key"


def test_a_langsmith_store_may_name_a_queue(tmp_path: Path) -> None:
    from store.workspace import load_workspace
    from tests.helpers import make_workspace

    root = make_workspace(tmp_path / "ws", [])
    with (root / "agentdeck.toml").open("a") as fh:
        fh.write(
            f'\n[[stores]]\nname = "ls"\nkind = "langsmith"\nproject = "p"\nqueue = "{QUEUE}"\n'
        )
    [cfg] = [s for s in load_workspace(root).config.stores if s.name == "ls"]
    assert isinstance(cfg, LangsmithStoreConfig) and cfg.queue == QUEUE


def test_a_langsmith_store_without_a_project_names_the_config_line(tmp_path: Path) -> None:
    from store.documents import DocumentError
    from store.workspace import load_workspace
    from tests.helpers import make_workspace

    root = make_workspace(tmp_path / "ws", [])
    with (root / "agentdeck.toml").open("a") as fh:
        fh.write('\n[[stores]]\nname = "ls"\nkind = "langsmith"\n')
    with pytest.raises(DocumentError, match="needs `project`"):
        load_workspace(root)


def test_login_keeps_the_api_key_that_the_connector_sends(
    tmp_path: Path, keyring_file: Path, served: Callable[[FakeLangSmith], str]
) -> None:
    from click.testing import CliRunner

    from store.connectors import make_connector
    from store.credentials import get_secret
    from store.workspace import load_workspace
    from tests.helpers import make_workspace
    from tui.cli import cli

    fake = FakeLangSmith(FIVE)
    url = served(fake)
    root = make_workspace(tmp_path / "ws", [])
    with (root / "agentdeck.toml").open("a") as fh:
        fh.write(
            f'\n[[stores]]\nname = "ls"\nkind = "langsmith"\nurl = "{url}"\nproject = "{PROJECT}"\n'
        )
    done = CliRunner().invoke(cli, ["-w", str(root), "login", "ls"], input=f"{KEY}\n")
    assert done.exit_code == 0, done.output
    assert KEY not in done.output
    assert get_secret("ls") == KEY
    # In the keyring's own file (keyrings.alt keeps it base64-encoded), under service agentdeck.
    assert base64.b64encode(KEY.encode()).decode() in keyring_file.read_text()

    workspace = load_workspace(root)
    [cfg] = [s for s in workspace.config.stores if s.name == "ls"]
    ls = make_connector(workspace, cfg)
    assert isinstance(ls, LangsmithConnector)
    assert len(ls.list_runs(None, 10).runs) == 5
    assert {r.headers["x-api-key"] for r in fake.requests} == {KEY}
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


async def test_configure_login_sync_grade_at_the_desk_push_exactly_once(
    tmp_path: Path, keyring_file: Path, served: Callable[[FakeLangSmith], str]
) -> None:
    from tests.test_store_journeys import (
        agentdeck,
        closed_port_url,
        grade_two_runs_offline,
        rows,
        set_url,
        workspace_with,
    )

    fake = FakeLangSmith(FIVE)
    url = served(fake)
    root = workspace_with(
        tmp_path / "ws",
        f'[[stores]]\nname = "langsmith"\nkind = "langsmith"\nurl = "{url}"\n'
        f'project = "{PROJECT}"\nworkflow_attribute = "metadata.workflow"\n',
    )
    agentdeck(root, "login", "langsmith", input=f"{KEY}\n")
    agentdeck(root, "sync")
    assert rows(root, "SELECT count(*) FROM runs WHERE hydrated = 1") == [(5,)]

    away = closed_port_url()
    set_url(root, url, away)
    graded = await grade_two_runs_offline(root)  # real key presses at the desk
    set_url(root, away, url)
    assert fake.feedback == {}

    out = agentdeck(root, "sync")
    assert "2 grade" in out, out
    first_tool = next(
        r["id"] for r in FIVE if r["trace_id"] == graded[0] and r["run_type"] == "tool"
    )
    expected = sorted(
        [
            (graded[0], graded[0], "intervention", "yes"),
            (graded[0], graded[0], "policy", "violation"),
            (graded[0], graded[0], "task_success", "fail"),
            (graded[0], graded[0], "tone", 3),
            (graded[0], first_tool, FIRST_WRONG_STEP, 2),  # the second step, as the desk numbers
            (graded[1], graded[1], "intervention", "no"),
            (graded[1], graded[1], "policy", "safe"),
            (graded[1], graded[1], "task_success", "pass"),
        ],
        key=repr,
    )

    def found() -> list[tuple[Any, ...]]:
        # One feedback per criterion and id, the reviewer named in its source's metadata.
        assert {f["feedback_source"]["metadata"]["reviewer"] for f in fake.feedback.values()} == {
            "ana"
        }
        return sorted(
            (
                (
                    f["trace_id"],
                    f["run_id"],
                    f["key"],
                    f["value"] if f["value"] is not None else f["score"],
                )
                for f in fake.feedback.values()
            ),
            key=repr,
        )

    assert found() == expected
    posted = len(fake.calls("POST", "/api/v1/feedback"))
    agentdeck(root, "sync")
    assert found() == expected
    assert len(fake.calls("POST", "/api/v1/feedback")) == posted, "nothing pushed twice"
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path

"""The Langfuse connector against a fake Langfuse whose every reply (and every request body it
receives) is checked against Langfuse's published OpenAPI schema (tests/fixtures/langfuse/)."""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from review import grading
from review.pulled import pull
from review.rubric import Rubric
from store.connectors.base import Connector, ConnectorError
from store.connectors.langfuse import LangfuseConnector, decode_cursor, encode_cursor
from store.db import connect
from store.identity import score_id
from store.models import RunSummary, Score, ScoreMetadata
from store.outbox import push
from store.timestamps import canonical
from tests.helpers import REQUIRED, rubric_file, scalar
from tests.openapi_subset import problems

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "langfuse"
SPEC: dict[str, Any] = json.loads((FIXTURES / "openapi-fragment.json").read_text())

PUBLIC = "pk-lf-5c1e0d2a-public-7a11"
SECRET = "sk-lf-93b4e1f0-secret-c0ffee"
BASIC = base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
URL = "https://langfuse.example.com"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
PROJECT = "proj-agentdeck"

#: Observation field groups, as the ``fields`` parameter of GET /api/public/v2/observations
#: describes them. ``ObservationV2`` also requires ``modelId`` and the three prices in every
#: reply: "Null when the `model` field group is not requested" (MODEL_ALWAYS).
GROUPS = {
    "core": ("id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"),
    "basic": (
        "name",
        "level",
        "statusMessage",
        "version",
        "environment",
        "bookmarked",
        "public",
        "userId",
        "sessionId",
        "isRootObservation",
    ),
    "time": ("completionStartTime", "createdAt", "updatedAt"),
    "io": ("input", "output"),
    "metadata": ("metadata",),
    "model": (
        "providedModelName",
        "internalModelId",
        "modelParameters",
        "modelId",
        "inputPrice",
        "outputPrice",
        "totalPrice",
    ),
    "usage": ("usageDetails", "costDetails", "totalCost", "usagePricingTierName"),
    "prompt": ("promptId", "promptName", "promptVersion"),
    "metrics": ("latency", "timeToFirstToken"),
    "trace_context": ("tags", "release", "traceName"),
}
MODEL_ALWAYS = ("modelId", "inputPrice", "outputPrice", "totalPrice")
SCORE_CORE = (
    "id",
    "projectId",
    "name",
    "value",
    "dataType",
    "source",
    "timestamp",
    "environment",
    "createdAt",
    "updatedAt",
)
SCORE_GROUPS = {
    "details": ("comment", "configId", "metadata"),
    "subject": ("subject",),
    "annotation": ("authorUserId", "queueId"),
}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def at(minutes: float) -> str:
    """A time ``minutes`` before NOW."""
    return iso(NOW - timedelta(minutes=minutes))


def operation(method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = SPEC["paths"][template][method.lower()]
    return op


def reply_problems(method: str, template: str, status: int, body: Any) -> list[str]:
    response = operation(method, template)["responses"][str(status)]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return [] if body is None else ["a body where the schema has none"]
    return problems(SPEC, schema, body)


def request_problems(method: str, template: str, body: Any) -> list[str]:
    schema = operation(method, template)["requestBody"]["content"]["application/json"]["schema"]
    return problems(SPEC, schema, body)


def observation(
    oid: str,
    trace: str,
    start: str,
    *,
    end: str | None = None,
    parent: str | None = None,
    type: str = "SPAN",
    name: str = "step",
    level: str = "DEFAULT",
    status: str | None = None,
    input: Any = None,
    output: Any = None,
    metadata: dict[str, Any] | None = None,
    usage: dict[str, int] | None = None,
    cost: float | None = None,
    tags: list[str] | None = None,
    trace_name: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """An ``ObservationV2`` with every field group filled in (input/output as raw strings)."""
    return {
        "id": oid,
        "traceId": trace,
        "startTime": start,
        "endTime": end,
        "projectId": PROJECT,
        "parentObservationId": parent,
        "type": type,
        "name": name,
        "level": level,
        "statusMessage": status,
        "version": None,
        "environment": "production",
        "bookmarked": False,
        "public": False,
        "userId": None,
        "sessionId": None,
        "isRootObservation": parent is None,
        "completionStartTime": None,
        "createdAt": start,
        "updatedAt": start,
        "input": None if input is None else json.dumps(input),
        "output": None if output is None else json.dumps(output),
        "metadata": metadata or {},
        "providedModelName": model,
        "internalModelId": None,
        "modelParameters": None,
        "modelId": "model-gpt-4.1-mini" if model else None,
        "inputPrice": "0.0000004" if model else None,
        "outputPrice": "0.0000016" if model else None,
        "totalPrice": None,
        "usageDetails": usage or {},
        "costDetails": {"total": cost} if cost is not None else {},
        "totalCost": cost,
        "usagePricingTierName": None,
        "promptId": None,
        "promptName": None,
        "promptVersion": None,
        "latency": None,
        "timeToFirstToken": None,
        "tags": tags or [],
        "release": None,
        "traceName": trace_name,
    }


def trace(n: int, minutes_ago: float, workflow: str = "billing-support") -> list[dict[str, Any]]:
    """A run: a root agent span, a generation and a tool call (the tool fails in trace 3)."""
    tid = f"trace-{n:03d}"
    start = NOW - timedelta(minutes=minutes_ago)

    def t(seconds: float) -> str:
        return iso(start + timedelta(seconds=seconds))

    failing = n == 3
    return [
        observation(
            f"{tid}-root",
            tid,
            t(0),
            end=t(4),
            type="AGENT",
            name="support-agent",
            level="ERROR" if failing else "DEFAULT",
            input={"ticket": f"T-{n}"},
            output="Refund issued",
            metadata={"workflow": workflow, "team": "billing"},
            tags=["production"],
            trace_name="support",
        ),
        observation(
            f"{tid}-gen",
            tid,
            t(0.5),
            end=t(2),
            parent=f"{tid}-root",
            type="GENERATION",
            name="plan",
            input=[{"role": "user", "content": "refund?"}],
            output={"role": "assistant", "content": "call payments"},
            usage={"input": 120, "output": 30, "total": 150},
            cost=0.0025,
            model="gpt-4.1-mini",
        ),
        observation(
            f"{tid}-tool",
            tid,
            t(2.5),
            end=t(3),
            parent=f"{tid}-root",
            type="TOOL",
            name="payments_api.refund",
            level="ERROR" if failing else "DEFAULT",
            status="upstream timeout" if failing else None,
            input={"amount": "49.00"},
            output=None if failing else {"status": "succeeded"},
        ),
    ]


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response] | None


class FakeLangfuse:
    """The parts of Langfuse's public API the connector uses, with state (scores kept by id,
    upserted), checked against the published schema on the way in and out."""

    def __init__(self, observations: list[dict[str, Any]]) -> None:
        self.observations = observations
        self.scores: dict[str, dict[str, Any]] = {}
        self.configs: list[dict[str, Any]] = []
        self.queue: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        #: Replies to serve instead of (or, for a "lost" reply, after) the real handling,
        #: per (method, path): an exception is raised as the transport's.
        self.script: dict[tuple[str, str], list[Reply]] = {}
        self.lost: dict[tuple[str, str], list[Exception]] = {}
        self.page_cap = 1000

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        queued = self.script.get(key)
        if queued:
            reply = queued.pop(0)
            if isinstance(reply, Exception):
                raise reply
            if isinstance(reply, httpx.Response):
                return reply
            if reply is not None:
                return reply(request)
        if request.headers.get("authorization") != f"Basic {BASIC}":
            return httpx.Response(401, json={"message": "Invalid credentials"})
        response = self.route(request)
        lost = self.lost.get(key)
        if lost:
            raise lost.pop(0)  # done on the server, but the answer never arrives
        return response

    def answer(self, method: str, template: str, status: int, body: Any) -> httpx.Response:
        found = reply_problems(method, template, status, body)
        assert found == [], f"the fake's reply breaks Langfuse's schema: {found}"
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, json=body)

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        method = request.method
        body = json.loads(request.content) if request.content else None
        if path == "/api/public/v2/observations" and method == "GET":
            return self.list_observations(request)
        if path == "/api/public/scores" and method == "POST":
            found = request_problems("POST", path, body)
            assert found == [], f"the connector's score breaks Langfuse's schema: {found}"
            return self.create_score(body)
        if path.startswith("/api/public/scores/") and method == "DELETE":
            sid = path.rsplit("/", 1)[1]
            if self.scores.pop(sid, None) is None:
                return httpx.Response(404, json={"message": "Score not found"})
            return self.answer("DELETE", "/api/public/scores/{scoreId}", 204, None)
        if path == "/api/public/v3/scores" and method == "GET":
            return self.list_scores(request)
        if path == "/api/public/score-configs":
            if method == "POST":
                found = request_problems("POST", path, body)
                assert found == [], f"the connector's config breaks Langfuse's schema: {found}"
                config = {
                    "id": f"cfg-{len(self.configs) + 1}",
                    "createdAt": iso(NOW),
                    "updatedAt": iso(NOW),
                    "projectId": PROJECT,
                    "isArchived": False,
                    **body,
                }
                self.configs.append(config)
                return self.answer("POST", path, 200, config)
            return self.numbered("/api/public/score-configs", request, self.configs)
        if path.startswith("/api/public/annotation-queues/"):
            parts = path.split("/")
            if method == "GET":
                status = request.url.params.get("status")
                items = [i for i in self.queue.values() if status in (None, i["status"])]
                return self.numbered(
                    "/api/public/annotation-queues/{queueId}/items", request, items
                )
            template = "/api/public/annotation-queues/{queueId}/items/{itemId}"
            found = request_problems("PATCH", template, body)
            assert found == [], found
            item = self.queue[parts[-1]]
            item.update(status=body["status"], completedAt=iso(NOW), updatedAt=iso(NOW))
            return self.answer("PATCH", template, 200, item)
        return httpx.Response(404, json={"message": "no such route"})

    def numbered(self, template: str, request: httpx.Request, rows: list[Any]) -> httpx.Response:
        page = int(request.url.params.get("page", 1))
        limit = int(request.url.params.get("limit", 50))
        chunk = rows[(page - 1) * limit : page * limit]
        total_pages = max(1, -(-len(rows) // limit))
        meta = {"page": page, "limit": limit, "totalItems": len(rows), "totalPages": total_pages}
        return self.answer("GET", template, 200, {"data": chunk, "meta": meta})

    def list_observations(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit = int(q.get("limit", 50))
        if limit > 1000:
            return httpx.Response(400, json={"message": "limit must be at most 1000"})
        groups = (q.get("fields") or "core,basic").split(",")
        if unknown := [g for g in groups if g not in GROUPS]:
            return httpx.Response(400, json={"message": f"unknown field group {unknown}"})
        rows = self.observations
        if q.get("isRootObservation") == "true":
            rows = [o for o in rows if o["isRootObservation"]]
        if "traceId" in q:
            rows = [o for o in rows if o["traceId"] == q["traceId"]]
        if "fromStartTime" in q:
            start = datetime.fromisoformat(q["fromStartTime"])
            rows = [o for o in rows if datetime.fromisoformat(o["startTime"]) >= start]
        if "toStartTime" in q:
            end = datetime.fromisoformat(q["toStartTime"])
            rows = [o for o in rows if datetime.fromisoformat(o["startTime"]) < end]
        rows = sorted(rows, key=lambda o: (o["startTime"], o["id"]), reverse=True)
        filters = json.dumps(sorted((k, v) for k, v in q.multi_items() if k != "cursor"))
        offset = 0
        if "cursor" in q:
            state = json.loads(base64.b64decode(q["cursor"]))
            if state["filters"] != filters:
                return httpx.Response(400, json={"message": "cursor does not match the query"})
            offset = state["offset"]
        size = min(limit, self.page_cap)
        chunk = rows[offset : offset + size]
        keep = [f for g in ["core", *groups] for f in GROUPS[g]]
        expand = (q.get("expandMetadata") or "").split(",")
        data = []
        for o in chunk:
            shown = {f: copy.deepcopy(o[f]) for f in keep}
            for f in MODEL_ALWAYS:
                shown.setdefault(f, None)
            if isinstance(shown.get("metadata"), dict):
                shown["metadata"] = {
                    k: v[:200] if isinstance(v, str) and k not in expand else v
                    for k, v in shown["metadata"].items()
                }
            data.append(shown)
        meta: dict[str, Any] = {}
        if offset + size < len(rows):
            state = {"filters": filters, "offset": offset + size}
            meta["cursor"] = base64.b64encode(json.dumps(state).encode()).decode()
        return self.answer("GET", "/api/public/v2/observations", 200, {"data": data, "meta": meta})

    def create_score(self, body: dict[str, Any]) -> httpx.Response:
        config = next((c for c in self.configs if c["id"] == body.get("configId")), None)
        if body.get("configId") and config is None:
            return httpx.Response(400, json={"message": "config not found"})
        kind = body.get("dataType") or (config or {}).get("dataType") or "NUMERIC"
        value = body["value"]
        if kind == "CATEGORICAL" and not isinstance(value, str):
            return httpx.Response(400, json={"message": "categorical value must be a string"})
        if kind == "NUMERIC" and isinstance(value, str):
            return httpx.Response(400, json={"message": "numeric value must be a number"})
        labels = [c["label"] for c in (config or {}).get("categories") or []]
        if config is not None and kind == "CATEGORICAL" and value not in labels:
            return httpx.Response(400, json={"message": "value is not a category"})
        sid = body.get("id") or f"generated-{len(self.scores) + 1}"
        before = self.scores.get(sid)
        if body.get("observationId"):
            subject = {
                "kind": "observation",
                "id": body["observationId"],
                "traceId": body["traceId"],
            }
        else:
            subject = {"kind": "trace", "id": body["traceId"]}
        self.scores[sid] = {
            "id": sid,
            "projectId": PROJECT,
            "name": body["name"],
            "value": bool(value)
            if kind == "BOOLEAN"
            else (float(value) if kind == "NUMERIC" else value),
            "dataType": kind,
            "source": body.get("source") or "API",
            "timestamp": iso(NOW),
            "environment": body.get("environment") or "default",
            "createdAt": before["createdAt"] if before else iso(NOW),
            "updatedAt": iso(NOW),
            "comment": body.get("comment"),
            "configId": body.get("configId"),
            "metadata": body.get("metadata"),
            "authorUserId": None,
            "queueId": body.get("queueId"),
            "subject": subject,
        }
        return self.answer("POST", "/api/public/scores", 200, {"id": sid})

    def list_scores(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit = int(q.get("limit", 50))
        if limit > 100:
            return httpx.Response(400, json={"message": "limit must be at most 100"})
        groups = [g for g in (q.get("fields") or "").split(",") if g]
        if unknown := [g for g in groups if g not in SCORE_GROUPS]:
            return httpx.Response(400, json={"message": f"unknown field group {unknown}"})
        rows = sorted(self.scores.values(), key=lambda s: s["id"])
        if "traceId" in q:
            wanted = set(q["traceId"].split(","))
            rows = [
                s for s in rows if (s["subject"].get("traceId") or s["subject"]["id"]) in wanted
            ]
        if "source" in q:
            rows = [s for s in rows if s["source"] in q["source"].upper().split(",")]
        offset = int(base64.urlsafe_b64decode(q["cursor"])) if "cursor" in q else 0
        chunk = rows[offset : offset + limit]
        keep = [*SCORE_CORE, *(f for g in groups for f in SCORE_GROUPS[g])]
        data = [{f: copy.deepcopy(s[f]) for f in keep} for s in chunk]
        meta: dict[str, Any] = {"limit": limit}
        if offset + limit < len(rows):
            meta["cursor"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        return self.answer("GET", "/api/public/v3/scores", 200, {"data": data, "meta": meta})

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def connector(fake: FakeLangfuse | httpx.BaseTransport, **kwargs: Any) -> LangfuseConnector:
    transport = fake.transport() if isinstance(fake, FakeLangfuse) else fake
    kwargs.setdefault("sleep", lambda seconds: None)
    kwargs.setdefault("now", lambda: NOW)
    return LangfuseConnector(
        "langfuse",
        URL,
        public_key=PUBLIC,
        secret_key=SECRET,
        workflow_attribute="metadata.workflow",
        timeout=5.0,
        transport=transport,
        rng=random.Random(7),
        **kwargs,
    )


FIVE = [o for n in range(1, 6) for o in trace(n, minutes_ago=60 - n * 10)]


def list_all(lf: LangfuseConnector, cursor: str | None, limit: int) -> tuple[list[RunSummary], str]:
    runs: list[RunSummary] = []
    while True:
        page = lf.list_runs(cursor, limit)
        runs += page.runs
        assert page.cursor is not None
        cursor = page.cursor
        if page.done:
            return runs, cursor


# -- the fixtures are Langfuse's shape ---------------------------------------------------------


def test_the_fragment_is_langfuses_published_document() -> None:
    assert SPEC["openapi"] == "3.0.1"
    observations = operation("GET", "/api/public/v2/observations")
    assert observations["operationId"] == "observations_getMany"
    names = {p["name"] for p in observations["parameters"]}
    assert {"isRootObservation", "fromStartTime", "toStartTime", "cursor", "limit"} <= names
    scores = operation("GET", "/api/public/v3/scores")
    limit = next(p for p in scores["parameters"] if p["name"] == "limit")
    assert "Maximum 100" in limit["description"]
    assert "id" in SPEC["components"]["schemas"]["CreateScoreRequest"]["properties"]


def test_the_schema_check_catches_what_langfuse_would_not_send() -> None:
    good = {"data": [observation("o", "t", at(5))], "meta": {}}
    assert reply_problems("GET", "/api/public/v2/observations", 200, good) == []
    bad = copy.deepcopy(good)
    bad["data"][0]["startTime"] = "yesterday"
    bad["data"][0]["level"] = "FATAL"
    del bad["meta"]
    found = reply_problems("GET", "/api/public/v2/observations", 200, bad)
    assert len(found) == 3
    score = {
        "id": "s",
        "projectId": PROJECT,
        "name": "tone",
        "value": "five",
        "dataType": "NUMERIC",
        "source": "API",
        "timestamp": iso(NOW),
        "environment": "default",
        "createdAt": iso(NOW),
        "updatedAt": iso(NOW),
    }
    assert reply_problems(
        "GET", "/api/public/v3/scores", 200, {"data": [score], "meta": {"limit": 1}}
    )
    assert request_problems("POST", "/api/public/scores", {"name": "x", "value": True})


# -- listing runs ------------------------------------------------------------------------------


def test_runs_are_listed_page_by_page_from_root_observations() -> None:
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    first = lf.list_runs(None, 2)
    assert not first.done and len(first.runs) == 2
    runs, cursor = list_all(lf, first.cursor, 2)
    runs = first.runs + runs
    assert sorted(r.trace_id for r in runs) == [f"trace-{n:03d}" for n in range(1, 6)]
    assert len(fake.calls("GET", "/api/public/v2/observations")) == 3
    for request in fake.requests:
        q = request.url.params
        assert q["isRootObservation"] == "true"
        assert q["toStartTime"] == "2026-11-25T01:55:00.000Z"  # now minus the settle time
        assert "fromStartTime" not in q  # the first sync reads from the beginning
        assert q["limit"] == "2"
        assert q["expandMetadata"] == "workflow"
    failing = next(r for r in runs if r.trace_id == "trace-003")
    assert failing.status == "error"
    assert failing.workflow == "billing-support"
    assert failing.latency_ms == 4000
    assert failing.start_time == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert decode_cursor(cursor) == ("2026-11-25T01:55:00.000Z", None, None)


def test_the_next_sync_lists_only_runs_that_started_since() -> None:
    fake = FakeLangfuse(FIVE + trace(9, minutes_ago=2))  # trace 9 is still settling
    lf = connector(fake)
    runs, cursor = list_all(lf, None, 10)
    assert "trace-009" not in {r.trace_id for r in runs}

    fake.observations += trace(10, minutes_ago=1)
    later = connector(fake, now=lambda: NOW + timedelta(minutes=30))
    fake.requests.clear()
    runs, cursor = list_all(later, cursor, 10)
    assert sorted(r.trace_id for r in runs) == ["trace-009", "trace-010"]
    [request] = fake.requests
    assert request.url.params["fromStartTime"] == "2026-11-25T01:55:00.000Z"
    assert request.url.params["toStartTime"] == "2026-11-25T02:25:00.000Z"

    # Nothing new: one request, no run, the same high-water mark.
    fake.requests.clear()
    runs, again = list_all(later, cursor, 10)
    assert runs == [] and decode_cursor(again) == decode_cursor(cursor)


def test_an_interrupted_sweep_resumes_with_its_own_window() -> None:
    fake = FakeLangfuse(FIVE)
    page = connector(fake).list_runs(None, 2)
    start, end, lf_cursor = decode_cursor(page.cursor or "")
    assert (start, end) == (None, "2026-11-25T01:55:00.000Z") and lf_cursor

    # Resumed an hour later: same window, Langfuse's cursor (which the fake ties to the query).
    fake.requests.clear()
    rest, _ = list_all(connector(fake, now=lambda: NOW + timedelta(hours=1)), page.cursor, 2)
    assert len(page.runs) + len(rest) == 5
    assert {r.trace_id for r in page.runs}.isdisjoint(r.trace_id for r in rest)
    assert fake.requests[0].url.params["toStartTime"] == "2026-11-25T01:55:00.000Z"
    assert fake.requests[0].url.params["cursor"] == lf_cursor


def test_a_root_without_the_workflow_key_falls_back_to_the_trace_name() -> None:
    root = trace(1, 30)[0]
    root["metadata"] = {}
    nameless = observation("orphan", "trace-x", at(20), metadata={})
    fake = FakeLangfuse([root, nameless])
    page = connector(fake).list_runs(None, 10)
    assert [r.workflow for r in page.runs] == ["support"]
    assert page.skipped == 1
    assert "observation orphan left out (no metadata.workflow" in page.problems[0]


def test_a_bad_cursor_is_refused_naming_the_endpoint() -> None:
    with pytest.raises(ConnectorError) as err:
        connector(FakeLangfuse([])).list_runs("12:3", 10)
    assert str(err.value).startswith(f"langfuse GET {URL}/api/public/v2/observations: ")


# -- hydrating ---------------------------------------------------------------------------------


def test_a_run_is_hydrated_from_its_trace_observations_across_pages() -> None:
    fake = FakeLangfuse(FIVE)
    fake.page_cap = 2  # three observations per trace: two pages each
    got = connector(fake).fetch_runs(["trace-003", "trace-001", "trace-404"])
    assert [r.trace_id for r in got] == ["trace-003", "trace-001"]  # the unknown one left out
    assert got.problems == []
    run = got[0]
    assert run.workflow == "billing-support" and run.status == "error"
    assert run.input == {"ticket": "T-3"} and run.output == "Refund issued"
    assert run.tags == ["production"]
    assert run.tokens.input == 120 and run.tokens.output == 30
    assert run.cost_usd == pytest.approx(0.0025)
    llm, tool = run.steps
    assert (llm.kind, llm.name, llm.latency_ms) == ("llm", "plan", 1500)
    assert llm.arguments == [{"role": "user", "content": "refund?"}]
    assert llm.result == {"role": "assistant", "content": "call payments"}
    assert llm.tokens is not None and (llm.tokens.input, llm.tokens.output) == (120, 30)
    assert llm.error is None
    assert (tool.kind, tool.name, tool.arguments, tool.result) == (
        "tool",
        "payments_api.refund",
        {"amount": "49.00"},
        None,
    )
    assert tool.error is not None and tool.error.message == "upstream timeout"
    assert tool.tokens is None
    assert run.steps[0].start_time == datetime(2026, 11, 25, 1, 30, 0, 500000, tzinfo=UTC)
    calls = fake.calls("GET", "/api/public/v2/observations")
    assert len(calls) == 2 + 2 + 1
    assert {c.url.params["fields"] for c in calls} == {
        "core,basic,time,io,metadata,model,usage,trace_context"
    }


def test_a_trace_with_an_unreadable_observation_is_left_out_whole() -> None:
    broken = trace(1, 30)
    broken[2]["startTime"] = None  # the schema says a date-time; the fake would refuse it
    fake = FakeLangfuse(broken + trace(2, 20))

    def serve_broken(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("traceId") == "trace-001":
            return httpx.Response(200, json={"data": broken, "meta": {}})
        return fake.route(request)

    got = connector(httpx.MockTransport(serve_broken)).fetch_runs(["trace-001"])
    assert list(got) == [] and got.skipped == 1
    assert "trace trace-001 left out (an observation: startTime" in got.problems[0]


# -- scores ------------------------------------------------------------------------------------


def meta(reviewer: str = "ana") -> ScoreMetadata:
    return ScoreMetadata(
        reviewer=reviewer, rubric_id="support-quality", rubric_version="abc123", seconds_spent=12.5
    )


def scores(reviewer: str = "ana", trace_id: str = "trace-001") -> list[Score]:
    def sid(name: str) -> str:
        return score_id("langfuse", trace_id, name, reviewer)

    return [
        Score(id=sid("task_success"), trace_id=trace_id, name="task_success", value="pass",
              comment="refund was right", metadata=meta(reviewer)),
        Score(id=sid("tone"), trace_id=trace_id, name="tone", value=5, metadata=meta(reviewer)),
        Score(id=sid("first_wrong_step"), trace_id=trace_id, span_id=f"{trace_id}-tool",
              name="first_wrong_step", value="wrong_arguments", metadata=meta(reviewer)),
    ]  # fmt: skip


def test_push_sends_each_score_with_its_deterministic_id() -> None:
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    lf.push_scores(scores())
    bodies = [json.loads(r.content) for r in fake.calls("POST", "/api/public/scores")]
    assert [b["id"] for b in bodies] == [s.id for s in scores()]
    assert bodies[0] == {
        "id": scores()[0].id,
        "traceId": "trace-001",
        "name": "task_success",
        "value": "pass",
        "dataType": "CATEGORICAL",
        "comment": "refund was right",
        "metadata": {
            "reviewer": "ana",
            "rubric_id": "support-quality",
            "rubric_version": "abc123",
            "escalate": False,
            "seconds_spent": 12.5,
        },
    }
    assert (bodies[1]["value"], bodies[1]["dataType"]) == (5, "NUMERIC")
    assert bodies[2]["observationId"] == "trace-001-tool"
    assert fake.scores[scores()[2].id]["subject"] == {
        "kind": "observation",
        "id": "trace-001-tool",
        "traceId": "trace-001",
    }
    for request in fake.requests:
        assert request.headers["authorization"] == f"Basic {BASIC}"


def test_a_re_push_updates_the_same_scores() -> None:
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    lf.push_scores(scores())
    lf.push_scores(scores())
    edited = scores()
    edited[1] = edited[1].model_copy(update={"value": 3})
    lf.push_scores(edited)
    assert len(fake.calls("POST", "/api/public/scores")) == 9
    # The score configs are read once per connector (one is built per sync).
    assert len(fake.calls("GET", "/api/public/score-configs")) == 1
    assert sorted(fake.scores) == sorted(s.id for s in scores())
    assert fake.scores[edited[1].id]["value"] == 3


def test_pushed_scores_read_back_as_they_were_sent() -> None:
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    mine, theirs, elsewhere = scores("ana"), scores("ben"), scores("ana", "trace-002")
    lf.push_scores(mine + theirs + elsewhere)
    # A score that is not agentdeck's (an evaluator's, no reviewer in its metadata).
    fake.create_score({"traceId": "trace-001", "name": "hallucination", "value": 0.1})

    got = lf.list_scores(["trace-001"])
    assert got.problems == []
    assert sorted(got, key=lambda s: s.id) == sorted(
        [s.model_copy(update={"created_at": NOW}) for s in mine + theirs], key=lambda s: s.id
    )
    [request] = fake.calls("GET", "/api/public/v3/scores")
    assert request.url.params["traceId"] == "trace-001"
    assert request.url.params["fields"] == "details,subject"
    assert int(request.url.params["limit"]) <= 100

    # Every score, over pages of 100.
    for n in range(150):
        lf.push_scores(
            [Score(id=f"s-{n}", trace_id="trace-003", name="tone", value=1, metadata=meta())]
        )
    assert len(lf.list_scores()) == len(mine + theirs + elsewhere) + 150
    assert len(fake.calls("GET", "/api/public/v3/scores")) == 1 + 2


def test_a_score_read_back_with_bad_metadata_is_left_out_and_said() -> None:
    fake = FakeLangfuse(FIVE)
    fake.create_score(
        {
            "id": "odd",
            "traceId": "trace-001",
            "name": "tone",
            "value": 3,
            "metadata": {"reviewer": "ana", "rubric_id": "r", "rubric_version": None},
        }
    )
    got = connector(fake).list_scores(["trace-001"])
    assert list(got) == [] and got.skipped == 1
    assert got.problems[0].startswith(
        f"langfuse GET {URL}/api/public/v3/scores: score odd left out"
    )


def test_delete_removes_scores_and_a_missing_one_is_fine() -> None:
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    lf.push_scores(scores())
    lf.delete_scores([scores()[0].id, "never-there"])
    assert sorted(fake.scores) == sorted(s.id for s in scores()[1:])
    lf.delete_scores([scores()[0].id])  # again: already gone
    assert [r.url.path for r in fake.calls("DELETE", f"/api/public/scores/{scores()[0].id}")]


# -- score configs -----------------------------------------------------------------------------


def test_score_configs_are_checked_created_and_then_used(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    missing = lf.check_score_configs(rubric)
    assert missing == [f"{c.id}: no score config of that name (create it)" for c in rubric.criteria]

    # One exists but differs: it is said, and left alone by create.
    fake.configs.append(
        {
            "id": "cfg-0",
            "name": "policy",
            "createdAt": iso(NOW),
            "updatedAt": iso(NOW),
            "projectId": PROJECT,
            "dataType": "CATEGORICAL",
            "isArchived": False,
            "categories": [{"label": "safe", "value": 1}],
        }
    )
    created = lf.create_score_configs(rubric)
    assert created == ["task_success", "intervention", "tool_use", "tone"]
    assert lf.check_score_configs(rubric) == [
        "policy: the score config lacks the categories violation (it has safe)"
    ]
    tone = next(c for c in fake.configs if c["name"] == "tone")
    assert (tone["dataType"], tone["minValue"], tone["maxValue"]) == ("NUMERIC", 1, 5)
    task = next(c for c in fake.configs if c["name"] == "task_success")
    assert task["categories"] == [{"label": "pass", "value": 0}, {"label": "fail", "value": 1}]

    # Scores now name their config when it admits the value; policy's does not admit "violation".
    lf = connector(fake)
    m = meta()
    lf.push_scores(
        [
            Score(id="a", trace_id="trace-001", name="task_success", value="fail", metadata=m),
            Score(id="b", trace_id="trace-001", name="tone", value=3, metadata=m),
            Score(id="c", trace_id="trace-001", name="policy", value="violation", metadata=m),
        ]
    )
    assert {sid: fake.scores[sid]["configId"] for sid in "abc"} == {
        "a": task["id"],
        "b": tone["id"],
        "c": None,
    }


def test_a_config_of_another_type_is_a_mismatch(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    fake = FakeLangfuse([])
    connector(fake).create_score_configs(rubric)
    tone = next(c for c in fake.configs if c["name"] == "tone")
    tone.update(dataType="CATEGORICAL", categories=[{"label": "1", "value": 1}])
    del tone["minValue"], tone["maxValue"]
    task = next(c for c in fake.configs if c["name"] == "task_success")
    task["isArchived"] = True
    assert connector(fake).check_score_configs(rubric) == [
        "task_success: the score config is archived",
        "tone: the score config is CATEGORICAL, the rubric needs NUMERIC",
    ]


# -- annotation queues -------------------------------------------------------------------------


def test_an_annotation_queue_is_a_sample_and_its_items_are_completed() -> None:
    fake = FakeLangfuse(FIVE)
    for n, status in ((1, "PENDING"), (2, "COMPLETED"), (4, "PENDING")):
        fake.queue[f"item-{n}"] = {
            "id": f"item-{n}",
            "queueId": "q-1",
            "objectId": f"trace-{n:03d}",
            "objectType": "TRACE",
            "status": status,
            "completedAt": None,
            "createdAt": iso(NOW),
            "updatedAt": iso(NOW),
        }
    lf = connector(fake, queue_id="q-1")
    items = lf.queue_items("q-1")
    assert [i.objectId for i in items] == ["trace-001", "trace-004"]
    [request] = fake.calls("GET", "/api/public/annotation-queues/q-1/items")
    assert request.url.params["status"] == "PENDING"

    lf.push_scores(scores("ana", "trace-001") + scores("ana", "trace-005"))
    queued = {s["subject"]["id"] if s["subject"]["kind"] == "trace" else s["subject"]["traceId"]:
              s["queueId"] for s in fake.scores.values()}  # fmt: skip
    assert queued == {"trace-001": "q-1", "trace-005": None}

    lf.complete_queue_item("q-1", "item-1")
    assert fake.queue["item-1"]["status"] == "COMPLETED"
    assert [i.objectId for i in lf.queue_items("q-1")] == ["trace-004"]


# -- errors ------------------------------------------------------------------------------------


def failure(transport: httpx.BaseTransport, call: Callable[[LangfuseConnector], Any]) -> str:
    with pytest.raises(ConnectorError) as err:
        call(connector(transport))
    message = str(err.value)
    assert "\n" not in message
    for secret in (PUBLIC, SECRET, BASIC):
        assert secret not in message
    return message


LIST = (lambda lf: lf.list_runs(None, 10), f"langfuse GET {URL}/api/public/v2/observations: ")
PUSH = (lambda lf: lf.push_scores(scores()[:1]), f"langfuse POST {URL}/api/public/scores: ")
READ = (lambda lf: lf.list_scores(["t"]), f"langfuse GET {URL}/api/public/v3/scores: ")


def always(response: httpx.Response) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: response)


@pytest.mark.parametrize("call, prefix", [LIST, READ])
@pytest.mark.parametrize(
    "reply, says",
    [
        (httpx.Response(401, json={"message": f"Invalid public key {PUBLIC}"}),
         "the keys were refused (401: Invalid public key ****); run `agentdeck login langfuse`"),
        (httpx.Response(429, headers={"Retry-After": "120"}, json={"message": "slow down"}),
         "HTTP 429, too many requests (slow down); sync again in 120 s"),
        (httpx.Response(500, json={"message": "Internal Server Error"}),
         "HTTP 500 (Internal Server Error) after 4 attempts; sync again later"),
        (httpx.Response(200, headers={"content-type": "text/html"}, text="<html>Sign in</html>"),
         "the reply is not JSON but text/html ('<html>Sign in</html>'); the url must be "
         "Langfuse's"),
        (httpx.Response(200, text='{"data": [{"id": "o1", "startTi'),
         "the reply ended in the middle of its JSON"),
        (httpx.Response(200, json={"data": {"id": "o1"}, "meta": {}}),
         "the reply is not what Langfuse sends (data: Input should be a valid list)"),
        (httpx.Response(200, json=[]), "the reply is not what Langfuse sends"),
    ],
)  # fmt: skip
def test_a_bad_reply_is_one_line_naming_the_endpoint(
    call: Callable[[LangfuseConnector], Any], prefix: str, reply: httpx.Response, says: str
) -> None:
    message = failure(always(reply), call)
    assert message.startswith(prefix)
    assert says in message


def test_a_push_refused_names_the_endpoint_and_no_key() -> None:
    def refuse_scores(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/public/score-configs":
            meta = {"page": 1, "limit": 100, "totalItems": 0, "totalPages": 0}
            return httpx.Response(200, json={"data": [], "meta": meta})
        return httpx.Response(400, json={"message": f"bad body from {SECRET}"})

    message = failure(httpx.MockTransport(refuse_scores), PUSH[0])
    assert message.startswith(PUSH[1])
    assert "refused the request (400: bad body from ****)" in message


def test_timeouts_and_5xx_are_retried_with_backoff_then_succeed() -> None:
    fake = FakeLangfuse(FIVE)
    fake.script[("GET", "/api/public/v2/observations")] = [
        httpx.ReadTimeout("timed out"),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(503, json={"message": "maintenance"}),
    ]
    waits: list[float] = []
    page = connector(fake, sleep=waits.append).list_runs(None, 10)
    assert len(page.runs) == 5
    assert len(fake.requests) == 4
    # Equal jitter: each wait in [ceiling/2, ceiling], the ceiling doubling from 0.5 s.
    assert len(waits) == 3
    for wait, ceiling in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_a_429_waits_what_retry_after_asks() -> None:
    fake = FakeLangfuse(FIVE)
    fake.script[("POST", "/api/public/scores")] = [
        httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "rate limited"})
    ]
    waits: list[float] = []
    connector(fake, sleep=waits.append).push_scores(scores()[:1])
    assert waits == [7.0]
    assert list(fake.scores) == [scores()[0].id]


def test_a_429_waits_until_a_retry_after_date() -> None:
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=9), usegmt=True)
    fake = FakeLangfuse(FIVE)
    fake.script[("POST", "/api/public/scores")] = [
        httpx.Response(429, headers={"Retry-After": when}, json={"message": "rate limited"})
    ]
    waits: list[float] = []
    connector(fake, sleep=waits.append).push_scores(scores()[:1])
    assert len(waits) == 1 and 7 < waits[0] <= 9
    assert list(fake.scores) == [scores()[0].id]


def test_a_score_config_is_created_once_even_when_the_reply_is_lost(tmp_path: Path) -> None:
    """Creating a config is not keyed: a 503 after it may have been made is not retried."""
    fake = FakeLangfuse([])
    fake.script[("POST", "/api/public/score-configs")] = [httpx.Response(503, text="busy")]
    with pytest.raises(ConnectorError) as caught:
        connector(fake).create_score_configs(rubric_file(tmp_path))
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 1
    assert str(caught.value) == (
        f"langfuse POST {URL}/api/public/score-configs: HTTP 503 (busy); sync again later"
    )


def test_a_timeout_that_persists_names_the_endpoint() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out")

    message = failure(httpx.MockTransport(hang), LIST[0])
    assert message == (
        f"langfuse GET {URL}/api/public/v2/observations: no answer within 5 s after 4 attempts; "
        "check the network, or raise this store's timeout in agentdeck.toml"
    )


def test_from_config_reads_the_key_pair_from_the_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store import credentials
    from store.connectors.langfuse import LangfuseStoreConfig

    secrets = {"langfuse": f"{PUBLIC}:{SECRET}", "half": PUBLIC}
    monkeypatch.setattr(credentials, "get_secret", secrets.get)
    cfg = LangfuseStoreConfig(name="langfuse", kind="langfuse", url=URL + "/", timeout=12)
    lf = LangfuseConnector.from_config(None, cfg)  # type: ignore[arg-type]
    assert isinstance(lf, Connector)
    assert (lf.name, lf.endpoint, lf.timeout) == ("langfuse", URL, 12)
    with pytest.raises(ConnectorError) as err:
        LangfuseConnector.from_config(None, cfg.model_copy(update={"name": "half"}))  # type: ignore[arg-type]
    assert "run `agentdeck login half` and give them as PUBLIC:SECRET" in str(err.value)
    assert PUBLIC not in str(err.value)
    assert PUBLIC not in repr(lf) and SECRET not in repr(lf)


def test_the_cursor_round_trips() -> None:
    cursor = encode_cursor("2026-11-25T01:55:00.000Z", None, None)
    assert decode_cursor(cursor) == ("2026-11-25T01:55:00.000Z", None, None)
    for bad in ("lf1.!!!", "lf1." + base64.urlsafe_b64encode(b"[1]").decode(), "x"):
        with pytest.raises(ValueError):
            decode_cursor(bad)


# -- through the sync engine and the outbox, on a real SQLite file -------------------------------


class SampleAll:
    def reason(self, run: RunSummary, incidents: Any) -> str | None:
        return "sample"

    def reviewers(self, run: RunSummary) -> list[str]:
        return ["ana"]


def required_of(rubric: Rubric) -> Callable[[str, str], set[str] | None]:
    return lambda rid, ver: set(REQUIRED) if (rid, ver) == (rubric.id, rubric.version) else None


def test_a_grade_reaches_langfuse_exactly_once_through_retries(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)

    report = pull(conn, lf, SampleAll(), required=required_of(rubric), page_size=2)
    assert (report.listed, report.sampled, report.hydrated) == (5, 5, 5)
    assert scalar(conn, "SELECT count(*) FROM runs WHERE source = 'langfuse' AND hydrated = 1") == 5
    assert scalar(conn, "SELECT count(*) FROM steps") == 10

    pk = scalar(conn, "SELECT id FROM runs WHERE run_id = 'trace-002'")
    values = {"task_success": "pass", "intervention": "no", "policy": "safe", "tone": 5}
    for criterion, value in values.items():
        grading.set_value(conn, pk, "ana", rubric, criterion, value)

    # The first score is stored but its answer is lost; the connector sends it again. Then the
    # server goes down for longer than the connector's retries: the grade stays in the outbox.
    fake.lost[("POST", "/api/public/scores")] = [httpx.ReadTimeout("connection reset")]
    fake.script[("POST", "/api/public/scores")] = [
        None,  # the first try goes through (and its answer is lost)
        None,  # its retry
        None,  # the second score
        *[httpx.Response(503, text="upstream unavailable")] * 4,
    ]
    first = push(conn, lf, now=NOW)
    assert (first.pushed, first.failed) == (0, 1)
    assert first.errors == [
        f"langfuse POST {URL}/api/public/scores: HTTP 503 (upstream unavailable) after 4 "
        "attempts; sync again later"
    ]
    row = conn.execute(
        "SELECT attempts, last_error FROM outbox WHERE pushed_at IS NULL ORDER BY id DESC"
    ).fetchone()
    assert row[0] == 1 and "503" in row[1]
    assert len(fake.scores) == 2

    # Not due yet: nothing is sent.
    assert push(conn, lf, now=NOW).pushed == 0
    second = push(conn, lf, now=NOW + timedelta(hours=1))
    assert (second.pushed, second.failed) == (1, 0)
    assert scalar(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == 0

    expected = {score_id("langfuse", "trace-002", c, "ana"): v for c, v in values.items()}
    assert {sid: s["value"] for sid, s in fake.scores.items()} == expected
    assert len(fake.calls("POST", "/api/public/scores")) == 2 + 1 + 4 + 4

    # Pushing again sends nothing; another reviewer's grade comes back; ours stay as they are.
    assert push(conn, lf, now=NOW + timedelta(hours=2)).pushed == 0
    lf.push_scores(
        [
            Score(
                id=score_id("langfuse", "trace-002", c, "ben"),
                trace_id="trace-002",
                name=c,
                value=v,
                metadata=ScoreMetadata(
                    reviewer="ben", rubric_id=rubric.id, rubric_version=rubric.version
                ),
            )
            for c, v in {"task_success": "fail", "intervention": "yes", "policy": "safe"}.items()
        ]
    )
    again = pull(conn, lf, SampleAll(), required=required_of(rubric), page_size=2)
    assert again.listed == 0  # nothing started since the last sync
    assert again.scores >= 1
    grades = {
        r[0]: (json.loads(r[1]), r[2])
        for r in conn.execute('SELECT reviewer, "values", origin FROM grades WHERE run = ?', (pk,))
    }
    assert grades == {
        "ana": (values, "local"),
        "ben": ({"task_success": "fail", "intervention": "yes", "policy": "safe"}, "remote"),
    }
    assert len(fake.scores) == 4 + 3
    conn.close()


def test_a_pulled_grade_keeps_the_time_langfuse_last_changed_its_scores(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    pull(conn, lf, SampleAll(), required=required_of(rubric), page_size=2)
    pk = scalar(conn, "SELECT id FROM runs WHERE run_id = 'trace-002'")

    def bens(values: dict[str, str]) -> list[Score]:
        return [
            Score(
                id=score_id("langfuse", "trace-002", c, "ben"),
                trace_id="trace-002",
                name=c,
                value=v,
                metadata=ScoreMetadata(
                    reviewer="ben", rubric_id=rubric.id, rubric_version=rubric.version
                ),
            )
            for c, v in values.items()
        ]

    def times() -> tuple[str, str]:
        row = conn.execute(
            "SELECT created_at, updated_at FROM grades WHERE run = ? AND reviewer = 'ben'", (pk,)
        ).fetchone()
        return row[0], row[1]

    # Ben grades on his laptop (Langfuse dates the scores NOW); this pull runs days later.
    first = {"task_success": "fail", "intervention": "yes", "policy": "safe"}
    lf.push_scores(bens(first))
    pull(conn, lf, SampleAll(), required=required_of(rubric))
    assert times() == (canonical(NOW), canonical(NOW))
    # He changes one answer an hour later: Langfuse keeps createdAt and moves updatedAt.
    lf.push_scores(bens(first | {"intervention": "no"}))
    later = NOW + timedelta(hours=1)
    for score in fake.scores.values():
        score["updatedAt"] = iso(later)
    pull(conn, lf, SampleAll(), required=required_of(rubric))
    assert times() == (canonical(NOW), canonical(later))
    conn.close()


def test_a_bad_page_leaves_the_cursor_and_the_database_as_they_were(tmp_path: Path) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangfuse(FIVE)
    path = ("GET", "/api/public/v2/observations")
    fake.script[path] = [
        None,  # page 1
        None,  # its hydration (two traces: two requests)
        None,
        httpx.Response(200, text='{"data": [{"id": "trace-'),  # page 2, cut off
    ]
    with pytest.raises(ConnectorError, match="ended in the middle of its JSON"):
        pull(conn, connector(fake), SampleAll(), required=required_of(rubric), page_size=2)
    saved = scalar(conn, "SELECT cursor FROM sync_state WHERE store = 'langfuse'")
    assert scalar(conn, "SELECT count(*) FROM runs") == 2
    fake.requests.clear()
    report = pull(conn, connector(fake), SampleAll(), required=required_of(rubric), page_size=2)
    assert report.listed == 3
    assert fake.requests[0].url.params["cursor"] == decode_cursor(saved)[2]
    assert scalar(conn, "SELECT count(*) FROM runs") == 5


# -- agentdeck login for a Langfuse store ------------------------------------------------------


def test_login_keeps_the_key_pair_that_the_connector_uses(
    tmp_path: Path, keyring_file: Path
) -> None:
    from click.testing import CliRunner

    from store.connectors import make_connector
    from store.credentials import get_secret
    from store.workspace import load_workspace
    from tests.helpers import make_workspace
    from tui.cli import cli

    root = make_workspace(tmp_path / "ws", [])
    with (root / "agentdeck.toml").open("a") as fh:
        fh.write(f'\n[[stores]]\nname = "lf"\nkind = "langfuse"\nurl = "{URL}"\n')

    half = CliRunner().invoke(cli, ["-w", str(root), "login", "lf"], input=f"{SECRET}\n")
    assert half.exit_code == 2
    assert "give the Langfuse public and secret key as PUBLIC:SECRET" in half.output
    assert SECRET not in half.output and get_secret("lf") is None

    done = CliRunner().invoke(cli, ["-w", str(root), "login", "lf"], input=f"{PUBLIC}:{SECRET}\n")
    assert done.exit_code == 0, done.output
    assert PUBLIC not in done.output and SECRET not in done.output
    assert get_secret("lf") == f"{PUBLIC}:{SECRET}"

    workspace = load_workspace(root)
    [cfg] = [s for s in workspace.config.stores if s.name == "lf"]
    lf = make_connector(workspace, cfg)
    assert isinstance(lf, LangfuseConnector)
    fake = FakeLangfuse(FIVE)
    lf._api.transport = fake.transport()  # the keys are what is under test, not the network
    assert len(lf.list_runs(None, 10).runs) == 5
    assert fake.requests[0].headers["authorization"] == f"Basic {BASIC}"
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_queue_is_the_sample_through_pull_and_grading_completes_its_item(
    tmp_path: Path,
) -> None:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangfuse(FIVE)
    for n in (1, 4):
        fake.queue[f"item-{n}"] = {
            "id": f"item-{n}",
            "queueId": "q-1",
            "objectId": f"trace-{n:03d}",
            "objectType": "TRACE",
            "status": "PENDING",
            "completedAt": None,
            "createdAt": iso(NOW),
            "updatedAt": iso(NOW),
        }
    lf = connector(fake, queue_id="q-1")
    # The plan would take every run; with a queue, the queue is the sample.
    report = pull(conn, lf, SampleAll(), required=required_of(rubric), page_size=2)
    assert (report.listed, report.sampled, report.hydrated) == (5, 2, 2)
    hydrated = [
        r for (r,) in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1 ORDER BY run_id")
    ]
    assert hydrated == ["trace-001", "trace-004"]
    reasons = {r for (r,) in conn.execute("SELECT DISTINCT reason FROM assignments")}
    assert reasons == {"queue"}

    pk = scalar(conn, "SELECT id FROM runs WHERE run_id = 'trace-001'")
    values = {"task_success": "pass", "intervention": "no", "policy": "safe", "tone": 5}
    for criterion, value in values.items():
        grading.set_value(conn, pk, "ana", rubric, criterion, value)
    pushed = push(conn, connector(fake, queue_id="q-1"), now=NOW)
    assert (pushed.pushed, pushed.failed) == (1, 0)
    assert {s["queueId"] for s in fake.scores.values()} == {"q-1"}
    assert len(fake.scores) == len(values)
    assert fake.queue["item-1"]["status"] == "COMPLETED"
    assert fake.queue["item-4"]["status"] == "PENDING"
    # Nothing new to fetch: the one pending item's run is here already.
    again = pull(conn, connector(fake, queue_id="q-1"), SampleAll(), required=required_of(rubric))
    assert (again.sampled, again.hydrated) == (0, 0)


def test_an_adjudicated_score_keeps_its_marks_and_a_grade_sends_none() -> None:
    fake = FakeLangfuse(FIVE)
    lf = connector(fake)
    final = Score(
        id=score_id("langfuse", "trace-001", "task_success", "adjudicated"),
        trace_id="trace-001",
        name="task_success",
        value="fail",
        metadata=ScoreMetadata(
            reviewer="adjudicated",
            rubric_id="support-quality",
            rubric_version="abc123",
            kind="adjudicated",
            adjudicator="dana",
        ),
    )
    lf.push_scores([final, *scores()])
    bodies = [json.loads(r.content) for r in fake.calls("POST", "/api/public/scores")]
    assert bodies[0]["metadata"]["kind"] == "adjudicated"
    assert bodies[0]["metadata"]["adjudicator"] == "dana"
    assert all("kind" not in b["metadata"] for b in bodies[1:])
    [back] = [s for s in lf.list_scores(["trace-001"]) if s.id == final.id]
    assert (back.metadata.kind, back.metadata.adjudicator) == ("adjudicated", "dana")

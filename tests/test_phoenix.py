"""The Phoenix connector against a real Phoenix (tests/servers.py), and against bad replies.

One Phoenix serves the session; each test writes to a project of its own, with span ids of its
own (Phoenix refuses a span id it already holds).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from review.pulled import pull
from review.session import ReviewSetup, load_setup
from store.connectors.base import Connector, ConnectorError
from store.connectors.phoenix import ATTEMPTS, PhoenixConnector, lookup
from store.db import connect
from store.identity import score_id
from store.models import Score
from store.outbox import enqueue, push
from store.sync import run_pk
from store.timestamps import canonical, instant_or_none, now_iso
from store.workspace import Workspace
from tests.conftest import PhoenixServer
from tests.servers import Reply, ScriptedServer

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args)]


def _hex(seed: str, digits: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:digits]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def trace(
    project: str, n: int, workflow: str, *, error: bool = False, flat: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """A run as Phoenix spans: a root, an LLM call and a tool call (failing when ``error``).

    ``flat`` sends the workflow as a nested attribute (Phoenix lists it as
    ``metadata.workflow``) instead of OpenInference's JSON-string ``metadata``."""
    trace_id = _hex(f"{project}/{n}", 32)
    root_id = _hex(f"{project}/{n}/root", 16)
    t0 = START + timedelta(minutes=n)
    metadata: object = {"workflow": workflow} if flat else json.dumps({"workflow": workflow})

    def span(suffix: str, parent: str | None, kind: str, offset: float, length: float, **kw: Any):  # type: ignore[no-untyped-def]
        return {
            "name": kw.pop("name", suffix),
            "context": {
                "trace_id": trace_id,
                "span_id": kw.pop("span_id", None) or _hex(f"{project}/{n}/{suffix}", 16),
            },
            "span_kind": kind,
            "parent_id": parent,
            "start_time": _iso(t0 + timedelta(seconds=offset)),
            "end_time": _iso(t0 + timedelta(seconds=offset + length)),
            "status_code": kw.pop("status_code", "OK"),
            "status_message": kw.pop("status_message", ""),
            "attributes": kw.pop("attributes", {}),
            "events": kw.pop("events", []),
        }

    spans = [
        span(
            "root",
            None,
            "AGENT",
            0,
            5,
            span_id=root_id,
            name="support-agent",
            status_code="ERROR" if error else "OK",
            attributes={
                "metadata": metadata,
                "input.value": f"customer question {n}",
                "output.value": f"answer {n}",
            },
        ),
        span(
            "llm",
            root_id,
            "LLM",
            0.5,
            1.25,
            name="ChatCompletion",
            attributes={
                "llm.model_name": "gpt-4.1-mini",
                "llm.token_count.prompt": 100 + n,
                "llm.token_count.completion": 20,
                "input.value": "plan the refund",
                "output.value": "call payments_api",
            },
        ),
        span(
            "tool",
            root_id,
            "TOOL",
            2,
            0.5,
            name="payments_api",
            attributes={
                "tool.name": "payments_api.refund",
                "input.value": json.dumps({"order": f"ORD-{n}", "amount": 20}),
                "output.value": "timeout" if error else json.dumps({"ok": True}),
            },
            status_code="ERROR" if error else "OK",
            status_message="payments_api timed out" if error else "",
            events=[
                {
                    "name": "exception",
                    "timestamp": _iso(t0 + timedelta(seconds=2.5)),
                    "attributes": {"exception.type": "TimeoutError"},
                }
            ]
            if error
            else [],
        ),
    ]
    return trace_id, spans


def _seed(
    phoenix: PhoenixServer, project: str, runs: list[tuple[int, str, bool, bool]]
) -> list[str]:
    ids, spans = [], []
    for n, workflow, error, flat in runs:
        trace_id, more = trace(project, n, workflow, error=error, flat=flat)
        ids.append(trace_id)
        spans += more
    phoenix.seed(project, spans)
    return ids


def _connector(phoenix: PhoenixServer, project: str) -> PhoenixConnector:
    return PhoenixConnector("phoenix", phoenix.url, project=project, timeout=10)


def _setup(demo_workspace: Workspace, tmp_path: Path) -> tuple[sqlite3.Connection, ReviewSetup]:
    return connect(tmp_path / "agentdeck.db"), load_setup(demo_workspace)


def _annotations(phoenix: PhoenixServer, project: str, span_ids: list[str]) -> list[dict[str, Any]]:
    query = urlencode([("span_ids", s) for s in span_ids] + [("limit", "1000")])
    status, reply = phoenix.api("GET", f"/projects/{project}/span_annotations?{query}")
    assert status == 200 and isinstance(reply, dict), (status, reply)
    assert reply["next_cursor"] is None
    return sorted(reply["data"], key=lambda a: (a["span_id"], a["name"], a["identifier"]))


def _score(trace_id: str, criterion: str, value: Any, reviewer: str = "ana", **kw: Any) -> Score:
    return Score.model_validate(
        {
            "id": score_id("phoenix", trace_id, criterion, reviewer),
            "trace_id": trace_id,
            "name": criterion,
            "value": value,
            "metadata": {
                "reviewer": reviewer,
                "rubric_id": "support-quality",
                "rubric_version": "v-abc",
                "seconds_spent": 42.5,
            },
            **kw,
        }
    )


def test_workflow_attribute_is_read_flattened_nested_or_from_json_text() -> None:
    assert lookup({"metadata.workflow": "a"}, "metadata.workflow") == "a"
    assert lookup({"metadata": {"workflow": "b"}}, "metadata.workflow") == "b"
    assert lookup({"metadata": '{"workflow": "c"}'}, "metadata.workflow") == "c"
    assert lookup({"metadata": "not json"}, "metadata.workflow") is None
    assert lookup({"a": '{"b": {"c": 1}}'}, "a.b.c") == 1


def test_sync_lists_roots_hydrates_the_sample_and_resumes_incrementally(
    phoenix: PhoenixServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "sync-agents"
    first = _seed(
        phoenix,
        project,
        [
            (0, "billing-support", True, False),
            (1, "billing-support", False, False),
            (2, "crm-update", False, True),
            (3, "refund-approvals", True, True),
            (4, "crm-update", False, False),
        ],
    )
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(phoenix, project)
    assert isinstance(connector, Connector)

    report = pull(conn, connector, setup.plan, page_size=2)
    assert report.problems == []
    assert report.listed == 5
    rows = _rows(conn, "SELECT run_id, workflow, status, latency_ms FROM runs")
    assert sorted(rows) == sorted(
        [
            (first[0], "billing-support", "error", 5000),
            (first[1], "billing-support", "ok", 5000),
            (first[2], "crm-update", "ok", 5000),
            (first[3], "refund-approvals", "error", 5000),
            (first[4], "crm-update", "ok", 5000),
        ]
    )
    hydrated = {r for (r,) in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    # Errors are always in the sample; the rest as the plan's hash decides.
    assert {first[0], first[3]} <= hydrated
    assert report.hydrated == len(hydrated) == report.sampled

    steps = _rows(
        conn,
        "SELECT s.idx, s.kind, s.name, s.latency_ms, s.arguments, s.result, s.error_type, "
        "s.error_message, s.tokens_in, s.tokens_out FROM steps s JOIN runs r ON r.id = s.run "
        "WHERE r.run_id = ? ORDER BY s.idx",
        first[0],
    )
    assert steps == [
        (
            0,
            "llm",
            "gpt-4.1-mini",
            1250,
            "plan the refund",
            "call payments_api",
            None,
            None,
            100,
            20,
        ),
        (
            1,
            "tool",
            "payments_api.refund",
            500,
            json.dumps({"amount": 20, "order": "ORD-0"}, sort_keys=True),
            "timeout",
            "TimeoutError",
            "payments_api timed out",
            None,
            None,
        ),
    ]
    run = _rows(
        conn, "SELECT input, output, tokens_in, tokens_out FROM runs WHERE run_id = ?", first[0]
    )
    assert run == [("customer question 0", "answer 0", 100, 20)]

    # Nothing new: the next sync lists nothing (the last root is not listed twice).
    again = pull(conn, connector, setup.plan, page_size=2)
    assert again.listed == 0

    # Two runs arrive, one of them started *before* every run already listed (a long run
    # exported late): the next sync lists exactly those two.
    later = _seed(
        phoenix, project, [(5, "billing-support", True, False), (-30, "crm-update", True, False)]
    )
    third = pull(conn, connector, setup.plan, page_size=2)
    assert third.listed == 2
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 7
    hydrated = {r for (r,) in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    assert set(later) <= hydrated


def test_grades_pushed_through_the_outbox_land_once_and_come_back(
    phoenix: PhoenixServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "grade-agents"
    ids = _seed(
        phoenix, project, [(0, "billing-support", True, False), (1, "crm-update", True, False)]
    )
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(phoenix, project)
    pull(conn, connector, setup.plan)
    root = _hex(f"{project}/0/root", 16)
    tool = _hex(f"{project}/0/tool", 16)

    def grade(tone: int, comment: str) -> None:
        scores = [
            _score(ids[0], "task_success", "pass", comment=comment),
            _score(ids[0], "intervention", "no", comment=comment),
            _score(ids[0], "tone", tone, comment=comment),
            _score(ids[0], "first_wrong_step", "tool", span_id=tool),
        ]
        pk = run_pk(conn, "phoenix", ids[0])
        assert pk is not None
        conn.execute("BEGIN IMMEDIATE")
        enqueue(
            conn,
            store="phoenix",
            run=pk,
            reviewer="ana",
            payload={"upsert": [s.model_dump(mode="json") for s in scores]},
            created_at=now_iso(),
        )
        conn.execute("COMMIT")
        result = push(conn, connector)
        assert (result.pushed, result.failed, result.errors) == (1, 0, [])

    grade(5, "refund was right")
    grade(3, "a bit curt")  # an edit: the same annotations, updated in place
    found = _annotations(phoenix, project, [root, tool])
    assert [
        (a["span_id"], a["name"], a["identifier"], a["annotator_kind"]) for a in found
    ] == sorted(
        [
            (root, "intervention", "ana", "HUMAN"),
            (root, "task_success", "ana", "HUMAN"),
            (root, "tone", "ana", "HUMAN"),
            (tool, "first_wrong_step", "ana", "HUMAN"),
        ]
    )
    by_name = {a["name"]: a for a in found}
    assert by_name["tone"]["result"] == {"label": "3", "score": 3.0, "explanation": "a bit curt"}
    assert by_name["task_success"]["result"] == {
        "label": "pass",
        "score": None,
        "explanation": "a bit curt",
    }
    assert by_name["tone"]["metadata"] == {
        "agentdeck_score_id": score_id("phoenix", ids[0], "tone", "ana"),
        "trace_id": ids[0],
        "reviewer": "ana",
        "rubric_id": "support-quality",
        "rubric_version": "v-abc",
        "seconds_spent": 42.5,
        "escalate": False,
        "value_type": "int",
    }

    # Read back: the root's three scores, values in their own types, and the step's mark on
    # its own span.
    back = connector.list_scores(ids)
    assert back.problems == []
    assert sorted(
        (s.id, s.trace_id, s.span_id, s.name, s.value, s.comment) for s in back
    ) == sorted(
        [
            *(
                (score_id("phoenix", ids[0], c, "ana"), ids[0], None, c, v, "a bit curt")
                for c, v in (("task_success", "pass"), ("intervention", "no"), ("tone", 3))
            ),
            (
                score_id("phoenix", ids[0], "first_wrong_step", "ana"),
                ids[0],
                tool,
                "first_wrong_step",
                "tool",
                None,
            ),
        ]
    )
    assert all(s.metadata.rubric_version == "v-abc" for s in back)


def test_another_reviewers_annotation_arrives_and_others_are_ignored(
    phoenix: PhoenixServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "team-agents"
    ids = _seed(phoenix, project, [(0, "billing-support", True, False)])
    root = _hex(f"{project}/0/root", 16)
    meta = {
        "agentdeck_score_id": score_id("phoenix", ids[0], "task_success", "ben"),
        "trace_id": ids[0],
        "reviewer": "ben",
        "rubric_id": "support-quality",
        "rubric_version": "v-abc",
        "seconds_spent": 12.0,
        "escalate": True,
        "value_type": "str",
    }
    notes = [
        {
            "span_id": root,
            "name": "task_success",
            "annotator_kind": "HUMAN",
            "identifier": "ben",
            "result": {"label": "fail", "explanation": "refunded twice"},
            "metadata": meta,
        },
        # An LLM judge and a person in Phoenix's UI: not agentdeck grades.
        {
            "span_id": root,
            "name": "hallucination",
            "annotator_kind": "LLM",
            "identifier": "judge",
            "result": {"label": "no", "score": 0.0},
            "metadata": {},
        },
        {
            "span_id": root,
            "name": "task_success",
            "annotator_kind": "HUMAN",
            "identifier": "ui",
            "result": {"label": "pass"},
        },
    ]
    status, reply = phoenix.api("POST", "/span_annotations?sync=true", {"data": notes})
    assert status == 200, reply

    connector = _connector(phoenix, project)
    back = connector.list_scores(ids)
    assert back.problems == []
    assert [
        (s.id, s.name, s.value, s.comment, s.metadata.reviewer, s.metadata.escalate) for s in back
    ] == [(meta["agentdeck_score_id"], "task_success", "fail", "refunded twice", "ben", True)]

    conn, setup = _setup(demo_workspace, tmp_path)
    report = pull(conn, connector, setup.plan)
    assert report.scores == 1
    grades = _rows(
        conn,
        'SELECT g.reviewer, g."values", g.comment, g.origin FROM grades g JOIN runs r '
        "ON r.id = g.run WHERE r.run_id = ?",
        ids[0],
    )
    assert grades == [("ben", json.dumps({"task_success": "fail"}), "refunded twice", "remote")]


def test_an_unknown_run_fails_alone(phoenix: PhoenixServer) -> None:
    project = "mixed-agents"
    ids = _seed(phoenix, project, [(0, "billing-support", False, False)])
    root = _hex(f"{project}/0/root", 16)
    ghost = _hex("no such trace", 32)
    connector = _connector(phoenix, project)
    scores = [
        _score(ids[0], "task_success", "pass"),
        _score(ghost, "task_success", "fail", span_id=_hex("no such span", 16)),
    ]
    with pytest.raises(ConnectorError) as caught:
        connector.push_scores(scores)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"phoenix POST {phoenix.url}/v1/span_annotations: ")
    assert ghost in message and ids[0] not in message
    found = _annotations(phoenix, project, [root])
    assert [(a["name"], a["result"]["label"]) for a in found] == [("task_success", "pass")]


def test_a_project_that_does_not_exist_yet_has_no_runs(phoenix: PhoenixServer) -> None:
    """No runs, no failure (a project appears with its first span), but a problem line naming
    the project and what to check, which `agentdeck sync` prints."""
    page = _connector(phoenix, "nobody-here").list_runs(None, 100)
    assert (page.runs, page.done) == ([], True)
    [problem] = page.problems
    assert "'nobody-here'" in problem and "`project` in agentdeck.toml" in problem
    assert phoenix.url in problem


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (
            Reply(200, b"<html><body>Sign in</body></html>", "text/html"),
            "the reply is not JSON but text/html",
        ),
        (
            Reply(200, b'{"data": [', "application/json"),
            "the reply ended in the middle of its JSON (10 bytes); sync again",
        ),
        (Reply(200, b"OK", "text/plain"), "the reply is not valid JSON ('OK')"),
        (
            Reply(200, b'{"items": []}', "application/json"),
            "the reply is not a page of results (data:",
        ),
    ],
)
def test_a_bad_reply_is_one_line_naming_the_endpoint(reply: Reply, says: str) -> None:
    path = "/v1/projects/p/spans"
    with ScriptedServer({path: reply}) as server:
        connector = PhoenixConnector("phoenix", server.url, project="p", timeout=5)
        with pytest.raises(ConnectorError) as caught:
            connector.list_runs(None, 10)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"phoenix GET {server.url}{path}: {says}")


def test_5xx_is_retried_with_backoff_then_fails_naming_the_endpoint() -> None:
    path = "/v1/projects/p/spans"
    waits: list[float] = []
    with ScriptedServer({path: Reply(500, b"Internal Server Error", "text/plain")}) as server:
        connector = PhoenixConnector("phoenix", server.url, project="p", sleep=waits.append)
        with pytest.raises(ConnectorError) as caught:
            connector.fetch_runs(["abc"])
    assert len(server.requests) == ATTEMPTS
    assert len(waits) == ATTEMPTS - 1 and waits == sorted(waits)
    assert str(caught.value) == (
        f"phoenix GET {server.url}{path}: HTTP 500 (Internal Server Error) after {ATTEMPTS} "
        "attempts; Phoenix is failing; the next sync retries"
    )


def test_429_waits_for_retry_after() -> None:
    path = "/v1/projects/p/spans"
    waits: list[float] = []
    with ScriptedServer({path: Reply(429, b"{}", headers={"Retry-After": "7"})}) as server:
        connector = PhoenixConnector("phoenix", server.url, project="p", sleep=waits.append)
        with pytest.raises(ConnectorError, match="HTTP 429"):
            connector.list_runs(None, 10)
    assert waits == [7.0] * (ATTEMPTS - 1)
    assert len(server.requests) == ATTEMPTS


def test_429_waits_for_a_retry_after_date() -> None:
    """The HTTP-date form of Retry-After is honoured too (read against the server's clock
    here: the date is 5 s after now, so the wait is at most 5 s and more than 0)."""
    from email.utils import format_datetime

    path = "/v1/projects/p/spans"
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    waits: list[float] = []
    with ScriptedServer({path: Reply(429, b"{}", headers={"Retry-After": when})}) as server:
        connector = PhoenixConnector("phoenix", server.url, project="p", sleep=waits.append)
        with pytest.raises(ConnectorError) as caught:
            connector.list_runs(None, 10)
    assert len(waits) == ATTEMPTS - 1 and all(0 < w <= 5 for w in waits)
    assert len(server.requests) == ATTEMPTS
    assert str(caught.value).startswith(f"phoenix GET {server.url}{path}: HTTP 429")


def test_a_retry_after_date_hours_away_is_not_waited() -> None:
    from email.utils import format_datetime

    path = "/v1/projects/p/spans"
    when = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    waits: list[float] = []
    with ScriptedServer({path: Reply(429, b"{}", headers={"Retry-After": when})}) as server:
        connector = PhoenixConnector("phoenix", server.url, project="p", sleep=waits.append)
        with pytest.raises(ConnectorError) as caught:
            connector.list_runs(None, 10)
    assert waits == [] and len(server.requests) == 1
    assert "; sync again in 7" in str(caught.value)


def test_the_api_key_is_sent_and_never_said() -> None:
    path = "/v1/projects/p/spans"
    with ScriptedServer({path: Reply(401, b'{"detail": "bad key"}')}) as server:
        connector = PhoenixConnector("phoenix", server.url, project="p", api_key="sekrit-123")
        with pytest.raises(ConnectorError) as caught:
            connector.list_runs(None, 10)
    assert server.requests[0][2]["Authorization"] == "Bearer sekrit-123"
    assert "sekrit" not in str(caught.value)
    assert "agentdeck login phoenix" in str(caught.value)


@pytest.mark.parametrize("secret", [None, "sekrit-456"])
def test_a_configured_store_is_built_by_kind_with_its_key_from_the_keyring(
    tmp_path: Path, keyring_file: Path, secret: str | None
) -> None:
    from store.connectors import make_connector
    from store.credentials import set_secret
    from store.workspace import load_workspace
    from tests.conftest import copy_sample_data

    path = "/v1/projects/support-agents/spans"
    with ScriptedServer({path: Reply(200, b'{"data": [], "next_cursor": null}')}) as server:
        root = copy_sample_data(tmp_path / "ws")
        cfg = root / "agentdeck.toml"
        cfg.write_text(
            cfg.read_text()
            + f'\n[[stores]]\nname = "px"\nkind = "phoenix"\nurl = "{server.url}/"\n'
            'project = "support-agents"\nworkflow_attribute = "agent.workflow"\ntimeout = 3\n'
        )
        if secret:
            set_secret("px", secret)
        workspace = load_workspace(root)
        connector = make_connector(workspace, workspace.config.stores[-1])
        assert isinstance(connector, PhoenixConnector)
        assert (connector.name, connector.url, connector.project) == (
            "px",
            server.url,
            "support-agents",
        )
        assert (connector.workflow_attribute, connector.timeout) == ("agent.workflow", 3)
        page = connector.list_runs(None, 50)
    assert (page.runs, page.done) == ([], True)
    [(method, target, headers)] = server.requests
    assert method == "GET"
    assert target == f"{path}?parent_id=null&sort=id&order=asc&limit=50"
    assert headers.get("Authorization") == (f"Bearer {secret}" if secret else None)


def test_grade_in_the_desk_sync_and_find_it_in_phoenix_exactly_once(
    phoenix: PhoenixServer, tmp_path: Path, keyring_file: Path
) -> None:
    from review import grading
    from review.session import sync
    from store.workspace import load_workspace
    from tests.conftest import copy_sample_data

    project = "desk-agents"
    ids = _seed(
        phoenix, project, [(0, "billing-support", True, False), (1, "crm-update", True, True)]
    )
    root = copy_sample_data(tmp_path / "ws")
    cfg = root / "agentdeck.toml"
    text = cfg.read_text()
    old = 'name = "demo"\nkind = "file"'
    assert old in text
    cfg.write_text(
        text.replace(
            old, f'name = "px"\nkind = "phoenix"\nurl = "{phoenix.url}"\nproject = "{project}"\n#'
        )
    )
    setup = load_setup(load_workspace(root))
    conn = connect(setup.workspace.db_path)

    [(name, pulled, _)] = sync(conn, setup)
    assert (name, pulled.listed, pulled.hydrated, pulled.problems) == ("px", 2, 2, [])
    pk, reviewer = _rows(
        conn,
        "SELECT a.run, a.reviewer FROM assignments a JOIN runs r ON r.id = a.run "
        "WHERE r.run_id = ? ORDER BY a.reviewer LIMIT 1",
        ids[0],
    )[0]
    grading.set_value(conn, pk, reviewer, setup.rubric, "task_success", "fail", seconds=30)
    grading.set_value(conn, pk, reviewer, setup.rubric, "intervention", "yes", seconds=5)
    grading.set_value(conn, pk, reviewer, setup.rubric, "tone", 5, seconds=5)
    grading.set_value(conn, pk, reviewer, setup.rubric, "policy", "safe", seconds=5)

    for _ in range(2):  # the second sync pushes nothing new and duplicates nothing
        [(_, _, pushed)] = sync(conn, setup)
        assert pushed is not None and pushed.failed == 0
    span = _hex(f"{project}/0/root", 16)
    found = _annotations(phoenix, project, [span])
    assert [
        (a["name"], a["identifier"], a["result"]["label"], a["metadata"]["rubric_version"])
        for a in found
    ] == [
        ("intervention", reviewer, "yes", setup.rubric.version),
        ("policy", reviewer, "safe", setup.rubric.version),
        ("task_success", reviewer, "fail", setup.rubric.version),
        ("tone", reviewer, "5", setup.rubric.version),
    ]
    assert {a["metadata"]["seconds_spent"] for a in found} == {45.0}
    # Read back by the sync, the grade is the same one grade, values in their own types.
    [(values,)] = _rows(conn, 'SELECT "values" FROM grades WHERE run = ?', pk)
    assert json.loads(values) == {
        "intervention": "yes",
        "policy": "safe",
        "task_success": "fail",
        "tone": 5,
    }
    assert _rows(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]


def test_annotation_configs_are_checked_created_once_and_differences_said(
    phoenix: PhoenixServer, demo_workspace: Workspace
) -> None:
    from types import SimpleNamespace

    project = "config-agents"
    _seed(phoenix, project, [(0, "billing-support", False, False)])
    rubric = load_setup(demo_workspace).rubric
    names = [c.id for c in rubric.criteria]
    connector = _connector(phoenix, project)

    assert connector.check_annotation_configs(rubric) == [
        f"phoenix: annotation config {n!r} missing" for n in names
    ]
    assert connector.create_annotation_configs(rubric) == names
    assert connector.check_annotation_configs(rubric) == []
    assert connector.create_annotation_configs(rubric) == []

    status, reply = phoenix.api("GET", f"/projects/{project}/annotation_configs")
    assert status == 200 and isinstance(reply, dict)
    assigned = {c["name"]: c for c in reply["data"]}
    assert sorted(assigned) == sorted(names)
    assert assigned["tone"]["type"] == "CATEGORICAL"
    assert [(v["label"], v["score"]) for v in assigned["tone"]["values"]] == [
        ("1", 1.0),
        ("3", 3.0),
        ("5", 5.0),
    ]
    assert [(v["label"], v["score"]) for v in assigned["task_success"]["values"]] == [
        ("pass", None),
        ("fail", None),
    ]

    # A config of the same name made by someone else, with other levels: said, not overwritten.
    other = SimpleNamespace(
        criteria=[
            SimpleNamespace(
                id="tone",
                question="Tone",
                scale=SimpleNamespace(levels=[SimpleNamespace(value=v) for v in (1, 2)]),
            )
        ]
    )
    assert connector.check_annotation_configs(other) == [
        "phoenix: annotation config 'tone' has other labels or scores than the rubric's levels"
    ]
    with pytest.raises(ConnectorError, match="annotation config 'tone' has other labels"):
        connector.create_annotation_configs(other)


def _enqueue(conn: sqlite3.Connection, trace_id: str, payload: dict[str, Any]) -> None:
    pk = run_pk(conn, "phoenix", trace_id)
    assert pk is not None
    conn.execute("BEGIN IMMEDIATE")
    enqueue(conn, store="phoenix", run=pk, reviewer="ana", payload=payload, created_at=now_iso())
    conn.execute("COMMIT")


def test_a_cleared_criterion_and_a_moved_or_taken_back_mark_leave_phoenix_too(
    phoenix: PhoenixServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "delete-agents"
    ids = _seed(
        phoenix, project, [(0, "billing-support", True, False), (1, "crm-update", True, False)]
    )
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(phoenix, project)
    pull(conn, connector, setup.plan)
    root, llm, tool = (_hex(f"{project}/0/{part}", 16) for part in ("root", "llm", "tool"))
    other = _hex(f"{project}/1/root", 16)
    spans = [root, llm, tool, other]

    def names() -> list[tuple[str, str]]:
        return sorted((a["span_id"], a["name"]) for a in _annotations(phoenix, project, spans))

    full = [
        _score(ids[0], "task_success", "fail"),
        _score(ids[0], "tone", 3),
        _score(ids[0], "first_wrong_step", 1, span_id=tool),
    ]
    # The other run's grade, with the same criterion names: never touched by run 0's deletes.
    _enqueue(
        conn,
        ids[1],
        {"trace_id": ids[1], "upsert": [_score(ids[1], "tone", 5).model_dump(mode="json")]},
    )
    _enqueue(
        conn, ids[0], {"trace_id": ids[0], "upsert": [x.model_dump(mode="json") for x in full]}
    )
    assert push(conn, connector).pushed == 2
    assert names() == sorted(
        [(root, "task_success"), (root, "tone"), (tool, "first_wrong_step"), (other, "tone")]
    )

    # The mark moves to the LLM step: one mark, on the new span.
    moved = [full[0], full[1], _score(ids[0], "first_wrong_step", 0, span_id=llm)]
    _enqueue(
        conn, ids[0], {"trace_id": ids[0], "upsert": [x.model_dump(mode="json") for x in moved]}
    )
    assert push(conn, connector).pushed == 1
    assert names() == sorted(
        [(root, "task_success"), (root, "tone"), (llm, "first_wrong_step"), (other, "tone")]
    )

    # Tone is cleared and the mark taken back: both leave Phoenix; a delete of a score never
    # pushed (tool_use) is no error.
    gone = [full[1].id, moved[2].id, score_id("phoenix", ids[0], "tool_use", "ana")]
    payload = {"trace_id": ids[0], "upsert": [full[0].model_dump(mode="json")], "delete": gone}
    _enqueue(conn, ids[0], payload)
    result = push(conn, connector)
    assert (result.pushed, result.errors) == (1, [])
    assert names() == sorted([(root, "task_success"), (other, "tone")])
    _enqueue(conn, ids[0], payload)  # again, as a retry after a lost reply would
    assert push(conn, connector).pushed == 1
    assert names() == sorted([(root, "task_success"), (other, "tone")])
    assert connector.problems == []


def test_another_reviewers_first_wrong_step_arrives_as_their_grades_mark(
    phoenix: PhoenixServer,
    demo_workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = "mark-agents"
    ids = _seed(phoenix, project, [(0, "billing-support", True, False)])
    conn, setup = _setup(demo_workspace, tmp_path)
    ben = _connector(phoenix, project)
    pull(conn, ben, setup.plan)
    tool = _hex(f"{project}/0/tool", 16)
    ben.push_scores(
        [
            _score(ids[0], "task_success", "fail", reviewer="ben"),
            # The tool call is the run's second step: its number, as the desk shows it, is 2.
            _score(ids[0], "first_wrong_step", 2, reviewer="ben", span_id=tool),
        ]
    )
    # Ana's laptop syncs, much later: Ben's grade arrives with his mark on the tool call (the
    # step at index 1), dated when Phoenix wrote his annotations, not when it was pulled.
    monkeypatch.setattr("store.sync.now_iso", lambda: "2031-01-01T00:00:00.000000Z")
    report = pull(conn, _connector(phoenix, project), setup.plan)
    assert report.problems == []
    assert _rows(
        conn,
        'SELECT g.reviewer, g."values", g.first_wrong_step, g.origin FROM grades g '
        "JOIN runs r ON r.id = g.run WHERE r.run_id = ?",
        ids[0],
    ) == [("ben", json.dumps({"task_success": "fail"}), 1, "remote")]
    root = _hex(f"{project}/0/root", 16)
    written = [
        instant_or_none(a["updated_at"])
        for a in _annotations(phoenix, project, [root, tool])
        if a["identifier"] == "ben"
    ]
    assert len(written) == 2
    assert _rows(
        conn,
        "SELECT g.created_at, g.updated_at FROM grades g JOIN runs r ON r.id = g.run "
        "WHERE r.run_id = ?",
        ids[0],
    ) == [(canonical(min(written)), canonical(max(written)))]


def test_an_adjudicated_grade_goes_to_phoenix_and_comes_back_as_an_adjudication(
    phoenix: PhoenixServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "adjudicated-agents"
    ids = _seed(phoenix, project, [(0, "billing-support", True, False)])
    marks = {"kind": "adjudicated", "adjudicator": "dana"}
    final = [
        _score(ids[0], c, v, reviewer="adjudicated", comment="settled").model_copy(
            update={
                "metadata": _score(ids[0], c, v, reviewer="adjudicated").metadata.model_copy(
                    update=marks
                )
            }
        )
        for c, v in (("task_success", "fail"), ("intervention", "yes"), ("policy", "safe"))
    ]
    connector = _connector(phoenix, project)
    connector.push_scores(final)
    connector.push_scores(final)  # again: the same annotations, upserted
    back = connector.list_scores(ids)
    assert back.problems == []
    assert sorted((s.id, s.metadata.kind, s.metadata.adjudicator) for s in back) == sorted(
        (s.id, "adjudicated", "dana") for s in final
    )
    root = _hex(f"{project}/0/root", 16)
    assert {a["identifier"] for a in _annotations(phoenix, project, [root])} == {"adjudicated"}

    conn, setup = _setup(demo_workspace, tmp_path)
    pull(conn, connector, setup.plan)
    assert _rows(conn, "SELECT count(*) FROM grades") == [(0,)]
    [(values, comment, who)] = _rows(
        conn, 'SELECT "values", comment, adjudicator FROM adjudications'
    )
    assert json.loads(values) == {"task_success": "fail", "intervention": "yes", "policy": "safe"}
    assert (comment, who) == ("settled", "dana")


def test_an_adjudications_rationale_is_the_annotations_explanation_in_phoenix(
    phoenix: PhoenixServer, tmp_path: Path, keyring_file: Path
) -> None:
    """A final grade that overrides what both reviewers agreed on carries its rationale: through
    the outbox to Phoenix as each annotation's explanation, and back on another laptop."""
    import pytest

    from review import grading
    from review.adjudication import RationaleRequired, adjudicate, get_adjudication
    from review.session import sync
    from store.workspace import load_workspace
    from tests.conftest import copy_sample_data

    project = "rationale-agents"
    # An error run: always in the sample, so both laptops hold it in full.
    ids = _seed(phoenix, project, [(0, "billing-support", True, False)])
    root = copy_sample_data(tmp_path / "ws")
    cfg = root / "agentdeck.toml"
    old = 'name = "demo"\nkind = "file"'
    cfg.write_text(
        cfg.read_text().replace(
            old, f'name = "px"\nkind = "phoenix"\nurl = "{phoenix.url}"\nproject = "{project}"\n#'
        )
    )
    setup = load_setup(load_workspace(root))
    rubric = setup.rubric
    conn = connect(setup.workspace.db_path)
    sync(conn, setup)
    [(pk,)] = _rows(conn, "SELECT id FROM runs WHERE run_id = ?", ids[0])
    agreed = {"task_success": "pass", "intervention": "no"}
    for who, policy in (("ben", "safe"), ("chen", "violation")):
        for criterion, value in (agreed | {"policy": policy}).items():
            grading.set_value(conn, pk, who, rubric, criterion, value)
    final = agreed | {"task_success": "fail", "policy": "violation"}
    with pytest.raises(RationaleRequired):
        adjudicate(conn, pk, rubric, "ana", final)
    said = "Refunded $80: over the $50 cap on the card"
    adjudicate(conn, pk, rubric, "ana", final, said)
    [(_, _, pushed)] = sync(conn, setup)
    assert pushed is not None and pushed.failed == 0

    root_span = _hex(f"{project}/0/root", 16)
    mine = [
        a for a in _annotations(phoenix, project, [root_span]) if a["identifier"] == "adjudicated"
    ]
    assert {a["name"]: a["result"]["label"] for a in mine} == {k: str(v) for k, v in final.items()}
    assert {a["result"]["explanation"] for a in mine} == {said}
    assert {a["metadata"]["adjudicator"] for a in mine} == {"ana"}

    other = connect(tmp_path / "laptop2" / "agentdeck.db")
    sync(other, setup)
    [(theirs,)] = _rows(other, "SELECT id FROM runs WHERE run_id = ?", ids[0])
    back = get_adjudication(other, theirs, rubric)
    assert back is not None and (back.comment, back.adjudicator) == (said, "ana")

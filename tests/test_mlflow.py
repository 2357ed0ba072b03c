"""The MLflow connector against a real MLflow 3.18 tracking server (tests/servers.py), and
against bad replies.

One MLflow serves the session; each test writes to an experiment of its own. Traces are written
by MLflow's own client (tests/servers/mlflow/seed.py), as an instrumented agent writes them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from review.pulled import pull
from review.session import ReviewSetup, load_setup
from store.connectors.base import Connector, ConnectorError
from store.connectors.mlflow import MlflowConnector, assessment_id
from store.db import connect
from store.identity import ADJUDICATED, score_id
from store.models import Score
from store.outbox import enqueue, push
from store.sync import run_pk
from store.timestamps import now_iso
from store.workspace import Workspace
from tests.conftest import MlflowServer
from tests.servers import Reply, ScriptedServer

RUBRIC = {"rubric_id": "support-quality", "rubric_version": "v-abc"}


def spec(n: int, workflow: str, *, error: str | None = None, fail: bool = False) -> dict[str, Any]:
    """One agent trace: a question, a model call, a tool call (failing with ``error``; the
    whole run failing too with ``fail``)."""
    return {
        "workflow": workflow,
        "question": f"customer question {n}",
        "answer": f"answer {n}",
        "tool": "payments_api.refund",
        "arguments": {"order": f"ORD-{n}", "amount": 20},
        "result": {"refunded": True},
        "error": error,
        "fail_run": fail,
        "tokens": [100 + n, 20],
    }


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args)]


def _setup(demo_workspace: Workspace, tmp_path: Path) -> tuple[sqlite3.Connection, ReviewSetup]:
    return connect(tmp_path / "agentdeck.db"), load_setup(demo_workspace)


def _connector(server: MlflowServer, experiment: str, **kw: Any) -> MlflowConnector:
    return MlflowConnector("mlflow", server.url, experiment=experiment, timeout=10, **kw)


def _score(trace_id: str, criterion: str, value: Any, reviewer: str = "ana", **kw: Any) -> Score:
    return Score.model_validate(
        {
            "id": score_id("mlflow", trace_id, criterion, reviewer),
            "trace_id": trace_id,
            "name": criterion,
            "value": value,
            "metadata": {"reviewer": reviewer, **RUBRIC, "seconds_spent": 42.5},
            **kw,
        }
    )


def _enqueue(conn: sqlite3.Connection, trace_id: str, payload: dict[str, Any]) -> None:
    pk = run_pk(conn, "mlflow", trace_id)
    assert pk is not None
    conn.execute("BEGIN IMMEDIATE")
    payload = {"trace_id": trace_id, **payload}
    enqueue(conn, store="mlflow", run=pk, reviewer="ana", payload=payload, created_at=now_iso())
    conn.execute("COMMIT")


def _upsert(scores: list[Score]) -> dict[str, Any]:
    return {"upsert": [s.model_dump(mode="json") for s in scores]}


def _found(server: MlflowServer, trace_id: str) -> list[tuple[Any, ...]]:
    """The trace's assessments as MLflow holds them: (id, span, name, source, value, rationale)."""
    return sorted(
        (
            a["assessment_id"],
            a.get("span_id"),
            a["assessment_name"],
            a["source"]["source_type"],
            a["source"]["source_id"],
            a["feedback"]["value"],
            a.get("rationale") or None,  # a patch without a comment leaves ""
        )
        for a in server.assessments(trace_id)
    )


def test_sync_lists_a_fixed_window_hydrates_the_sample_and_moves_on(
    mlflow_server: MlflowServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    experiment = "sync-agents"
    written = mlflow_server.seed(
        experiment,
        [
            spec(0, "billing-support", error="payments_api timed out"),
            spec(1, "billing-support"),
            spec(2, "crm-update"),
            spec(3, "refund-approvals"),
            spec(4, "crm-update"),
        ],
    )
    ids = [w["trace_id"] for w in written]
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(mlflow_server, experiment)
    assert isinstance(connector, Connector)

    report = pull(conn, connector, setup.plan, page_size=2)
    assert report.problems == []
    assert report.listed == 5
    got = _rows(conn, "SELECT run_id, workflow, status, tokens_in, tokens_out FROM runs")
    assert sorted(got) == sorted(
        (t, w, "ok", 100 + n, 20)
        for n, (t, w) in enumerate(
            zip(
                ids,
                ["billing-support", "billing-support", "crm-update", "refund-approvals"]
                + ["crm-update"],
                strict=True,
            )
        )
    )
    # Make every run hydrated (the plan's hash chose some): read what a run holds.
    [run] = connector.fetch_runs([ids[0]])
    assert (run.input, run.output) == ({"question": "customer question 0"}, {"answer": "answer 0"})
    assert [
        (s.kind, s.name, s.span_id, s.arguments, s.result, s.error, s.tokens) for s in run.steps
    ] == [
        (
            "llm",
            "chat",
            written[0]["llm"],
            {"messages": [{"role": "user", "content": "customer question 0"}]},
            {"content": "calling payments_api.refund"},
            None,
            run.steps[0].tokens,
        ),
        (
            "tool",
            "payments_api.refund",
            written[0]["tool"],
            {"order": "ORD-0", "amount": 20},
            None,
            run.steps[1].error,
            None,
        ),
    ]
    assert run.steps[0].tokens is not None
    assert (run.steps[0].tokens.input, run.steps[0].tokens.output) == (100, 20)
    assert run.steps[1].error is not None
    assert (run.steps[1].error.type, run.steps[1].error.message) == (
        "RuntimeError",
        "RuntimeError: payments_api timed out",
    )
    hydrated = {r for (r,) in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    assert report.hydrated == len(hydrated) == report.sampled

    # The next sync looks back a little (a run ends after it starts): the same runs again,
    # written over, none twice.
    steps_before = _rows(conn, "SELECT run, idx, kind, name FROM steps ORDER BY run, idx")
    again = pull(conn, connector, setup.plan, page_size=2)
    assert again.listed == 5
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 5
    assert _rows(conn, "SELECT run, idx, kind, name FROM steps ORDER BY run, idx") == steps_before

    # A run that arrives is in the next sync's window, and (an error) in the sample.
    new = mlflow_server.seed(experiment, [spec(5, "billing-support", error="declined", fail=True)])
    third = pull(conn, connector, setup.plan, page_size=2)
    assert third.listed == 6
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 6
    assert _rows(
        conn, "SELECT hydrated, status FROM runs WHERE run_id = ?", new[0]["trace_id"]
    ) == [(1, "error")]
    # The window moves on: its next start is a little before this sync began.
    saved = json.loads(conn.execute("SELECT cursor FROM sync_state").fetchone()[0])
    assert saved["hi"] is None and saved["token"] is None
    assert saved["lo"] > int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)


def test_a_window_is_paged_to_its_end_whatever_arrives_meanwhile(
    mlflow_server: MlflowServer,
) -> None:
    experiment = "paging-agents"
    ids = [
        w["trace_id"]
        for w in mlflow_server.seed(experiment, [spec(n, "crm-update") for n in range(5)])
    ]
    connector = _connector(mlflow_server, experiment)
    first = connector.list_runs(None, 2)
    assert not first.done and [r.trace_id for r in first.runs] == ids[:2]
    saved = json.loads(first.cursor or "")
    assert saved["token"] and saved["hi"] > saved["lo"] == 0
    # Traces written mid-listing are after the window: the next pages are exactly the rest.
    extra = [w["trace_id"] for w in mlflow_server.seed(experiment, [spec(9, "crm-update")])]
    # A new connector (a sync that crashed and started again) resumes from the saved cursor.
    resumed = _connector(mlflow_server, experiment)
    second = resumed.list_runs(first.cursor, 2)
    third = resumed.list_runs(second.cursor, 2)
    assert [r.trace_id for r in second.runs + third.runs] == ids[2:]
    assert third.done
    # The next window starts a little before that one ended, so the new trace is in it.
    nxt = resumed.list_runs(third.cursor, 100)
    assert extra[0] in [r.trace_id for r in nxt.runs]


class _Busy(httpx.BaseTransport):
    """Real HTTP to the MLflow server, except that the first ``traces/search`` requests get
    the ``before`` replies (what a proxy or load balancer in front of MLflow answers)."""

    def __init__(self, before: list[httpx.Response]) -> None:
        self.inner = httpx.HTTPTransport()
        self.before = before
        self.searches: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/3.0/mlflow/traces/search":
            reply = self.before.pop(0) if self.before else self.inner.handle_request(request)
            self.searches.append(reply.status_code)
            return reply
        return self.inner.handle_request(request)


def test_a_failing_then_busy_listing_is_retried_as_the_server_asks(
    mlflow_server: MlflowServer,
) -> None:
    experiment = "busy-agents"
    ids = [
        w["trace_id"] for w in mlflow_server.seed(experiment, [spec(n, "refunds") for n in (1, 2)])
    ]
    now = datetime.now(UTC)
    wire = _Busy(
        [
            httpx.Response(503, json={"message": "upstream restarting"}),
            # Retry-After as an HTTP-date, 7 s after the connector's clock.
            httpx.Response(
                429,
                json={"message": "slow down"},
                headers={"Retry-After": format_datetime(now + timedelta(seconds=7), usegmt=True)},
            ),
        ]
    )
    waits: list[float] = []
    connector = _connector(
        mlflow_server, experiment, transport=wire, sleep=waits.append, clock=lambda: now
    )
    page = connector.list_runs(None, 10)
    assert [r.trace_id for r in page.runs] == ids
    assert wire.searches == [503, 429, 200]
    # A backoff with jitter after the 503 (the first wait is within [0.25, 0.5] s), then
    # exactly what Retry-After asked (the date is whole seconds: within one second of 7).
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5
    assert 6.0 < waits[1] <= 7.0


def test_grades_pushed_twice_land_once_and_update_in_place(
    mlflow_server: MlflowServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    experiment = "grade-agents"
    written = mlflow_server.seed(experiment, [spec(0, "billing-support", error="timeout")])
    trace_id, tool = written[0]["trace_id"], written[0]["tool"]
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(mlflow_server, experiment)
    pull(conn, connector, setup.plan)

    def grade(tone: int, comment: str) -> list[Score]:
        scores = [
            _score(trace_id, "task_success", "pass", comment=comment),
            _score(trace_id, "intervention", "no", comment=comment),
            _score(trace_id, "tone", tone, comment=comment),
            _score(trace_id, "first_wrong_step", 2, span_id=tool),
        ]
        _enqueue(conn, trace_id, _upsert(scores))
        result = push(conn, connector)
        assert (result.pushed, result.failed, result.errors) == (1, 0, [])
        return scores

    grade(5, "refund was right")
    created = {a["assessment_id"]: a["create_time"] for a in mlflow_server.assessments(trace_id)}
    scores = grade(3, "a bit curt")  # an edit: the same assessments, updated in place
    found = _found(mlflow_server, trace_id)
    assert found == sorted(
        [
            (assessment_id(trace_id, s.id), s.span_id, s.name, "HUMAN", "ana", float(v), s.comment)
            if isinstance(v := s.value, int)
            else (assessment_id(trace_id, s.id), None, s.name, "HUMAN", "ana", v, s.comment)
            for s in scores
        ]
    )
    after = {a["assessment_id"]: a for a in mlflow_server.assessments(trace_id)}
    assert {k: a["create_time"] for k, a in after.items()} == created
    tone = after[assessment_id(trace_id, scores[2].id)]
    assert tone["metadata"] == {
        "agentdeck_score_id": scores[2].id,
        "reviewer": "ana",
        "rubric_id": "support-quality",
        "rubric_version": "v-abc",
        "seconds_spent": "42.5",
        "escalate": "false",
        "value_type": "int",
    }

    # Read back: values as the rubric has them (MLflow says 3.0), the mark on its step.
    back = connector.list_scores([trace_id])
    assert back.problems == []
    assert sorted((s.id, s.span_id, s.name, s.value, s.comment) for s in back) == sorted(
        (s.id, s.span_id, s.name, s.value, s.comment) for s in scores
    )
    assert [type(s.value) for s in back if s.name == "tone"] == [int]
    assert all(s.metadata.seconds_spent == 42.5 for s in back)


def test_a_moved_mark_and_a_cleared_criterion_leave_mlflow_too(
    mlflow_server: MlflowServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    experiment = "moved-agents"
    written = mlflow_server.seed(experiment, [spec(0, "billing-support", error="timeout")])
    trace_id, llm, tool = (written[0][k] for k in ("trace_id", "llm", "tool"))
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(mlflow_server, experiment)
    pull(conn, connector, setup.plan)
    tone = _score(trace_id, "tone", 4)
    _enqueue(conn, trace_id, _upsert([tone, _score(trace_id, "first_wrong_step", 2, span_id=tool)]))
    _enqueue(conn, trace_id, _upsert([tone, _score(trace_id, "first_wrong_step", 1, span_id=llm)]))
    assert push(conn, connector).failed == 0
    mark = assessment_id(trace_id, score_id("mlflow", trace_id, "first_wrong_step", "ana"))
    assert [(a[0], a[1], a[5]) for a in _found(mlflow_server, trace_id) if a[2] != "tone"] == [
        (mark, llm, 1.0)
    ]
    gone = [score_id("mlflow", trace_id, c, "ana") for c in ("first_wrong_step", "tone")]
    _enqueue(conn, trace_id, {"delete": gone})
    _enqueue(conn, trace_id, {"delete": gone})  # already gone: still fine
    result = push(conn, connector)
    assert (result.failed, result.errors) == (0, [])
    assert _found(mlflow_server, trace_id) == []


def test_another_reviewers_assessment_arrives_as_their_grade(
    mlflow_server: MlflowServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    experiment = "team-agents"
    # A failed run: always in the sample, so the sync reads its grades.
    written = mlflow_server.seed(
        experiment, [spec(0, "billing-support", error="timeout", fail=True)]
    )
    trace_id, tool = written[0]["trace_id"], written[0]["tool"]
    path = f"/api/3.0/mlflow/traces/{trace_id}/assessments"

    def post(body: dict[str, Any]) -> None:
        status, reply = mlflow_server.api(
            "POST", path, {"assessment": {"trace_id": trace_id, **body}}
        )
        assert status == 200, reply

    ben = {"reviewer": "ben", **RUBRIC, "escalate": "true", "seconds_spent": "12"}
    for criterion, value, span in (("task_success", "fail", None), ("first_wrong_step", 2.0, tool)):
        sid = score_id("mlflow", trace_id, criterion, "ben")
        post(
            {
                "assessment_id": assessment_id(trace_id, sid),
                "assessment_name": criterion,
                "source": {"source_type": "HUMAN", "source_id": "ben"},
                "feedback": {"value": value},
                "rationale": "refunded twice" if span is None else None,
                "metadata": {"agentdeck_score_id": sid, **ben},
                **({"span_id": span} if span else {}),
            }
        )
    # An LLM judge and a person's note in MLflow's UI: not agentdeck grades.
    post(
        {
            "assessment_name": "correctness",
            "source": {"source_type": "LLM_JUDGE", "source_id": "gpt"},
            "feedback": {"value": "yes"},
        }
    )
    post(
        {
            "assessment_name": "task_success",
            "source": {"source_type": "HUMAN", "source_id": "someone"},
            "feedback": {"value": "pass"},
        }
    )
    conn, setup = _setup(demo_workspace, tmp_path)
    report = pull(conn, _connector(mlflow_server, experiment), setup.plan)
    assert report.problems == []
    assert report.scores == 1
    grades = _rows(
        conn,
        'SELECT g.reviewer, g."values", g.comment, g.escalate, g.first_wrong_step, g.origin '
        "FROM grades g JOIN runs r ON r.id = g.run WHERE r.run_id = ?",
        trace_id,
    )
    # The mark is on the tool span: the run's second step (index 1).
    assert grades == [
        ("ben", json.dumps({"task_success": "fail"}), "refunded twice", 1, 1, "remote")
    ]


def test_an_adjudication_overrides_the_disputed_assessment_and_comes_back(
    mlflow_server: MlflowServer,
) -> None:
    experiment = "settle-agents"
    [trace_id, other] = [
        w["trace_id"]
        for w in mlflow_server.seed(
            experiment, [spec(0, "billing-support"), spec(1, "billing-support")]
        )
    ]
    connector = _connector(mlflow_server, experiment)
    ana = _score(trace_id, "task_success", "pass")
    ben = _score(trace_id, "task_success", "fail", reviewer="ben")
    connector.push_scores([ana, ben])
    final = Score.model_validate(
        {
            "id": score_id("mlflow", trace_id, "task_success", ADJUDICATED),
            "trace_id": trace_id,
            "name": "task_success",
            "value": "fail",
            "comment": "the refund went out twice",
            "metadata": {
                "reviewer": ADJUDICATED,
                **RUBRIC,
                "kind": ADJUDICATED,
                "adjudicator": "chen",
            },
        }
    )
    connector.push_scores([final])
    connector.push_scores([final])  # again: still one
    held = {a["assessment_id"]: a for a in mlflow_server.assessments(trace_id)}
    assert len(held) == 3
    settled = held[assessment_id(trace_id, final.id)]
    assert settled["source"] == {"source_type": "HUMAN", "source_id": "chen"}
    assert settled["overrides"] in {assessment_id(trace_id, s.id) for s in (ana, ben)}
    assert held[settled["overrides"]]["valid"] is False
    back = connector.list_scores([trace_id])
    assert sorted((s.metadata.reviewer, s.value, s.metadata.adjudicator) for s in back) == [
        ("adjudicated", "fail", "chen"),
        ("ana", "pass", None),
        ("ben", "fail", None),
    ]

    # Settled in MLflow's own UI (an assessment overriding an agentdeck one): a final grade.
    theirs = _score(other, "tone", 2)
    connector.push_scores([theirs])
    status, reply = mlflow_server.api(
        "POST",
        f"/api/3.0/mlflow/traces/{other}/assessments",
        {
            "assessment": {
                "trace_id": other,
                "assessment_name": "tone",
                "source": {"source_type": "HUMAN", "source_id": "chen"},
                "feedback": {"value": 4},
                "overrides": assessment_id(other, theirs.id),
            }
        },
    )
    assert status == 200, reply
    back = connector.list_scores([other])
    assert sorted(
        (
            s.id,
            s.metadata.reviewer,
            s.value,
            s.metadata.kind,
            s.metadata.adjudicator,
            s.metadata.rubric_version,
        )
        for s in back
    ) == sorted(
        [
            (theirs.id, "ana", 2, None, None, "v-abc"),
            (
                score_id("mlflow", other, "tone", ADJUDICATED),
                "adjudicated",
                4,
                "adjudicated",
                "chen",
                "v-abc",
            ),
        ]
    )


def test_a_run_mlflow_does_not_know_fails_alone(mlflow_server: MlflowServer) -> None:
    experiment = "mixed-agents"
    [trace_id] = [w["trace_id"] for w in mlflow_server.seed(experiment, [spec(0, "crm-update")])]
    connector = _connector(mlflow_server, experiment)
    ghost = "tr-00000000000000000000000000000000"
    with pytest.raises(ConnectorError) as caught:
        connector.push_scores([_score(ghost, "tone", 3), _score(trace_id, "tone", 4)])
    assert ghost in str(caught.value) and "\n" not in str(caught.value)
    assert [a[5] for a in _found(mlflow_server, trace_id)] == [4.0]


def test_an_experiment_that_does_not_exist_is_named(
    mlflow_server: MlflowServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    conn, setup = _setup(demo_workspace, tmp_path)
    connector = _connector(mlflow_server, "suport-agents")
    with pytest.raises(ConnectorError) as caught:
        pull(conn, connector, setup.plan)
    assert str(caught.value) == (
        f"mlflow GET {mlflow_server.url}/api/2.0/mlflow/experiments/get-by-name: MLflow has no "
        "experiment named 'suport-agents'; check `experiment` in agentdeck.toml (the "
        "experiment's name, not its id)"
    )
    assert _rows(conn, "SELECT count(*) FROM runs") == [(0,)]
    assert _rows(conn, "SELECT count(*) FROM sync_state") == [(0,)]


def test_an_empty_experiment_syncs_to_nothing_and_so_does_a_quiet_window(
    mlflow_server: MlflowServer, demo_workspace: Workspace, tmp_path: Path
) -> None:
    """MLflow 3.18 answers ``{}`` (no ``traces`` key) when nothing matches: a new experiment,
    or a window with no new trace. That is an empty page, not a bad reply."""
    name = f"empty-{tmp_path.name}"
    made = httpx.post(
        f"{mlflow_server.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=10
    )
    assert made.status_code == 200, made.text
    search = httpx.post(
        f"{mlflow_server.url}/api/3.0/mlflow/traces/search",
        json={
            "locations": [
                {
                    "type": "MLFLOW_EXPERIMENT",
                    "mlflow_experiment": {"experiment_id": made.json()["experiment_id"]},
                }
            ]
        },
        timeout=10,
    )
    assert search.status_code == 200 and "traces" not in search.json(), search.text
    conn, setup = _setup(demo_workspace, tmp_path)
    first = pull(conn, _connector(mlflow_server, name), setup.plan)
    again = pull(conn, _connector(mlflow_server, name), setup.plan)
    assert (first.listed, again.listed) == (0, 0)
    assert not first.problems and not again.problems
    assert _rows(conn, "SELECT count(*) FROM runs") == [(0,)]


def test_a_trace_with_a_span_that_is_not_valid_is_left_out_whole() -> None:
    """A run is never stored without one of its steps (the others' numbers, and a first wrong
    step, would shift): the trace is left out with one line and fetched again next sync."""
    from store.connectors.mlflow import _Trace

    info = {"trace_id": "tr-1", "request_time": "2026-12-01T10:00:00Z"}
    root = {"span_id": "AAAAAAAAAAE=", "name": "agent", "start_time_unix_nano": 1}
    child = {"span_id": "AAAAAAAAAAI=", "parent_span_id": "AAAAAAAAAAE=", "name": "tool"}
    connector = MlflowConnector("mlflow", "http://127.0.0.1:9", experiment="x", timeout=1)
    whole: list[str] = []
    assert connector._run(
        _Trace.model_validate({"trace_info": info, "spans": [root, child]}), whole
    )
    assert whole == []
    problems: list[str] = []
    bad = {**child, "start_time_unix_nano": "not a time"}
    trace = _Trace.model_validate({"trace_info": info, "spans": [root, bad]})
    assert connector._run(trace, problems) is None
    assert len(problems) == 1 and "trace tr-1 (a span) left out" in problems[0], problems


EXPERIMENT = Reply(200, b'{"experiment": {"experiment_id": "7", "name": "x"}}')


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (
            Reply(200, b"<html><body>Sign in</body></html>", "text/html"),
            "the reply is not JSON but text/html",
        ),
        (
            Reply(200, b'{"traces": [{"trace_id": "tr-1"', "application/json"),
            "the reply ended in the middle of its JSON",
        ),
        (
            Reply(200, b'{"traces": {"trace_id": "tr-1"}}', "application/json"),
            "the reply is not what MLflow sends (traces:",
        ),
    ],
)
def test_a_bad_reply_is_one_line_and_leaves_the_cursor(
    reply: Reply, says: str, demo_workspace: Workspace, tmp_path: Path
) -> None:
    path = "/api/3.0/mlflow/traces/search"
    replies = {"/api/2.0/mlflow/experiments/get-by-name": EXPERIMENT, path: reply}
    conn, setup = _setup(demo_workspace, tmp_path)
    conn.execute(
        "INSERT INTO sync_state (store, cursor, synced_at, skipped) VALUES ('mlflow', ?, ?, 0)",
        ('{"lo": 5}', now_iso()),
    )
    with ScriptedServer(replies) as server:
        connector = MlflowConnector("mlflow", server.url, experiment="x", timeout=5)
        with pytest.raises(ConnectorError) as caught:
            pull(conn, connector, setup.plan)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"mlflow POST {server.url}{path}: {says}")
    assert _rows(conn, "SELECT cursor FROM sync_state") == [('{"lo": 5}',)]
    assert _rows(conn, "SELECT count(*) FROM runs") == [(0,)]


def test_the_token_is_sent_and_never_said() -> None:
    path = "/api/2.0/mlflow/experiments/get-by-name"
    with ScriptedServer({path: Reply(401, b'{"message": "bad token sekrit-123"}')}) as server:
        connector = MlflowConnector("mlflow", server.url, experiment="x", token="sekrit-123")
        with pytest.raises(ConnectorError) as caught:
            connector.list_runs(None, 10)
    assert server.requests[0][2]["Authorization"] == "Bearer sekrit-123"
    assert "sekrit" not in str(caught.value)
    assert "agentdeck login mlflow" in str(caught.value)


async def test_configure_sync_grade_at_the_desk_offline_sync_again_exactly_once(
    mlflow_server: MlflowServer, tmp_path: Path, keyring_file: Path
) -> None:
    from tests.test_store_journeys import (
        agentdeck,
        closed_port_url,
        grade_two_runs_offline,
        rows,
        set_url,
        workspace_with,
    )

    experiment = "journey-agents"
    written = mlflow_server.seed(
        experiment, [spec(0, "billing-support", error="timeout"), spec(1, "crm-update")]
    )
    root = workspace_with(
        tmp_path / "ws",
        f'[[stores]]\nname = "mlflow"\nkind = "mlflow"\nurl = "{mlflow_server.url}"\n'
        f'experiment = "{experiment}"\nworkflow_attribute = "metadata.workflow"\n',
    )
    # A tracking server without authentication: `agentdeck login` is Enter for none.
    agentdeck(root, "sync")
    assert rows(root, "SELECT count(*) FROM runs WHERE hydrated = 1") == [(2,)]

    away = closed_port_url()
    set_url(root, mlflow_server.url, away)
    graded = await grade_two_runs_offline(root)
    assert graded == [w["trace_id"] for w in written]
    set_url(root, away, mlflow_server.url)

    out = agentdeck(root, "sync")
    assert "2 grade" in out, out
    tool = written[0]["tool"]
    expected = [
        (graded[0], None, "intervention", "yes"),
        (graded[0], None, "policy", "violation"),
        (graded[0], None, "task_success", "fail"),
        (graded[0], None, "tone", 3.0),
        (graded[0], tool, "first_wrong_step", 2.0),  # the second step, as the desk numbers it
        (graded[1], None, "intervention", "no"),
        (graded[1], None, "policy", "safe"),
        (graded[1], None, "task_success", "pass"),
    ]

    def found() -> list[tuple[Any, ...]]:
        held = [(t, a) for t in graded for a in _found(mlflow_server, t)]
        assert {(a[3], a[4]) for _, a in held} == {("HUMAN", "ana")}
        assert len({a[0] for _, a in held}) == len(held)  # each once
        return sorted((t, a[1] or "root", a[2], a[5]) for t, a in held)

    assert found() == sorted((t, span or "root", name, v) for t, span, name, v in expected)
    agentdeck(root, "sync")
    assert found() == sorted((t, span or "root", name, v) for t, span, name, v in expected)
    assert rows(root, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]


@pytest.mark.parametrize("secret", [None, "sekrit-456"])
def test_a_configured_store_is_built_by_kind_with_its_token_from_the_keyring(
    tmp_path: Path, keyring_file: Path, secret: str | None
) -> None:
    from store.connectors import make_connector
    from store.credentials import set_secret
    from store.workspace import load_workspace
    from tests.conftest import copy_sample_data

    path = "/api/2.0/mlflow/experiments/get-by-name"
    with ScriptedServer({path: EXPERIMENT}) as server:
        root = copy_sample_data(tmp_path / "ws")
        cfg = root / "agentdeck.toml"
        cfg.write_text(
            cfg.read_text() + f'\n[[stores]]\nname = "ml"\nkind = "mlflow"\nurl = "{server.url}/"\n'
            'experiment = "support agents"\nworkflow_attribute = "tags.flow"\ntimeout = 3\n'
        )
        if secret:
            set_secret("ml", secret)
        workspace = load_workspace(root)
        connector = make_connector(workspace, workspace.config.stores[-1])
        assert isinstance(connector, MlflowConnector)
        assert (connector.name, connector.url, connector.experiment) == (
            "ml",
            server.url,
            "support agents",
        )
        assert (connector.workflow_attribute, connector.timeout) == ("tags.flow", 3)
        assert connector.experiment_id() == "7"
    [(method, target, headers)] = server.requests
    assert (method, target) == ("GET", f"{path}?experiment_name=support+agents")
    assert headers.get("Authorization") == (f"Bearer {secret}" if secret else None)


def test_an_mlflow_store_needs_its_experiment(tmp_path: Path) -> None:
    from store.documents import DocumentError
    from store.workspace import load_workspace
    from tests.conftest import copy_sample_data

    root = copy_sample_data(tmp_path / "ws")
    cfg = root / "agentdeck.toml"
    cfg.write_text(
        cfg.read_text() + '\n[[stores]]\nname = "ml"\nkind = "mlflow"\nurl = "http://x"\n'
    )
    with pytest.raises(DocumentError) as caught:
        load_workspace(root)
    assert "store 'ml' needs `experiment`" in str(caught.value)
    # The line of the table that lacks it (the last [[stores]] appended above).
    table = cfg.read_text().splitlines().index('name = "ml"')
    assert str(caught.value).startswith(f"{cfg}:{table}: ")


def test_sync_names_an_experiment_that_does_not_exist_in_one_line_and_exits_2(
    mlflow_server: MlflowServer, tmp_path: Path, keyring_file: Path
) -> None:
    from click.testing import CliRunner

    from tests.test_store_journeys import rows, workspace_with
    from tui.cli import cli

    root = workspace_with(
        tmp_path / "ws",
        f'[[stores]]\nname = "mlflow"\nkind = "mlflow"\nurl = "{mlflow_server.url}"\n'
        'experiment = "suport-agents"\n',
    )
    result = CliRunner().invoke(cli, ["-w", str(root), "sync"])
    assert result.exit_code == 2, result.output
    said = [line for line in result.output.splitlines() if "suport-agents" in line]
    assert len(said) == 1 and "Traceback" not in result.output
    assert "MLflow has no experiment named 'suport-agents'" in said[0]
    assert "check `experiment` in agentdeck.toml" in said[0]
    assert rows(root, "SELECT count(*) FROM runs") == [(0,)]

"""Exactly once under an MLflow that goes away: stop the real tracking server in the middle of a
push or a sync, start it again on the same port and SQLite file, and find every grade and every
run exactly once.

These tests stop and start an MLflow of their own (the session's shared one serves the other
tests). Nothing here waits on a clock: a transport wrapper counts the replies MLflow gives and
stops the server right after the N-th one (tests/test_phoenix_restarts.py's Tripwire).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from review.pulled import pull
from review.session import load_setup
from store.connectors.base import ConnectorError
from store.connectors.mlflow import SEARCH_PATH, MlflowConnector, assessment_id
from store.db import connect
from store.models import Score
from store.outbox import enqueue, push
from store.sync import run_pk
from store.timestamps import now_iso
from store.workspace import Workspace
from tests.conftest import MlflowServer, OwnServer, _running
from tests.test_mlflow import _score, spec
from tests.test_phoenix_restarts import LATER, Tripwire

OwnMlflow = OwnServer


@pytest.fixture(scope="module")
def own_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServer]:
    from tests import servers

    def start(folder: Path) -> OwnServer:
        return OwnServer(folder, servers.start_mlflow, servers.restart_mlflow, MlflowServer)

    with _running(start, tmp_path_factory.mktemp("mlflow-restarts")) as started:
        yield started


@pytest.fixture
def mlflow_up(own_mlflow: OwnServer) -> OwnServer:
    """The module's MLflow, running (a test that failed half-way may have left it stopped)."""
    return own_mlflow.up()


def _connector(server: OwnMlflow, experiment: str, transport: Tripwire) -> MlflowConnector:
    # No waiting between retries: a stopped server refuses at once, and time decides nothing.
    return MlflowConnector(
        "mlflow",
        server.url,
        experiment=experiment,
        timeout=10,
        transport=transport,
        sleep=lambda s: None,
    )


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args)]


def _grade(conn: sqlite3.Connection, n: int, trace_id: str, tool: str) -> list[Score]:
    """Enqueue one grade (three criteria and the first wrong step) as the desk does."""
    scores = [
        _score(trace_id, "task_success", "pass" if n % 2 else "fail", comment=f"run {n}"),
        _score(trace_id, "intervention", "no", comment=f"run {n}"),
        _score(trace_id, "tone", n % 5 + 1, comment=f"run {n}"),
        _score(trace_id, "first_wrong_step", 2, span_id=tool),
    ]
    pk = run_pk(conn, "mlflow", trace_id)
    assert pk is not None
    conn.execute("BEGIN IMMEDIATE")
    enqueue(
        conn,
        store="mlflow",
        run=pk,
        reviewer="ana",
        payload={"trace_id": trace_id, "upsert": [s.model_dump(mode="json") for s in scores]},
        created_at=now_iso(),
    )
    conn.execute("COMMIT")
    return scores


def _held(server: OwnMlflow, trace_ids: list[str]) -> list[tuple[Any, ...]]:
    return sorted(
        (t, a["assessment_id"], a.get("span_id"), a["assessment_name"], a["feedback"]["value"])
        for t in trace_ids
        for a in server.api.assessments(t)
    )


def _expected(scores: list[Score]) -> list[tuple[Any, ...]]:
    return [
        (
            s.trace_id,
            assessment_id(s.trace_id, s.id),
            s.span_id,
            s.name,
            float(s.value) if isinstance(s.value, int) else s.value,
        )
        for s in scores
    ]


def test_a_push_cut_by_a_stopped_server_lands_every_grade_exactly_once_after_restart(
    mlflow_up: OwnMlflow, demo_workspace: Workspace, tmp_path: Path
) -> None:
    experiment = "restart-push"
    written = mlflow_up.api.seed(
        experiment, [spec(n, "billing-support", error="timeout", fail=True) for n in range(6)]
    )
    ids = [w["trace_id"] for w in written]
    conn = connect(tmp_path / "agentdeck.db")
    plan = load_setup(demo_workspace).plan
    assert pull(conn, _connector(mlflow_up, experiment, Tripwire(bool)), plan).hydrated == 6
    graded = {n: _grade(conn, n, ids[n], written[n]["tool"]) for n in range(6)}

    # The second grade's second assessment is committed by MLflow, which stops before its
    # reply is out; the first grade was confirmed whole.
    wire = Tripwire(
        lambda r: r.method == "POST" and r.url.path.endswith("/assessments"),
        after=6,
        trip=mlflow_up.stop,
        lose_reply=True,
    )
    t0 = datetime.now(UTC)
    first = push(conn, _connector(mlflow_up, experiment, wire), now=t0)
    assert (first.pushed, first.failed, first.untried) == (1, 1, 4)
    [error] = first.errors
    assert "\n" not in error and error.startswith(f"mlflow POST {mlflow_up.url}/api/3.0/")
    assert "cannot connect" in error
    assert not mlflow_up.running

    mlflow_up.restart()
    # MLflow kept what it had committed, including the one whose reply was lost.
    assert _held(mlflow_up, ids) == sorted(_expected(graded[0]) + _expected(graded[1][:2]))
    # The untried rows go at once; the failed one waits for its next attempt, then goes (its
    # first two assessments exist: updated in place, not made twice).
    assert push(conn, _connector(mlflow_up, experiment, Tripwire(bool)), now=t0).pushed == 4
    second = push(conn, _connector(mlflow_up, experiment, Tripwire(bool)), now=t0 + LATER)
    assert (second.pushed, second.failed, second.errors) == (1, 0, [])
    assert _rows(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]

    held = _held(mlflow_up, ids)
    assert len(held) == 24 == len({row[1] for row in held})
    assert held == sorted(row for n in range(6) for row in _expected(graded[n]))


def _state(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "runs": sorted(_rows(conn, "SELECT run_id, workflow, status, hydrated FROM runs")),
        "steps": sorted(
            _rows(
                conn,
                "SELECT r.run_id, s.idx, s.span_id, s.name FROM steps s "
                "JOIN runs r ON r.id = s.run",
            )
        ),
        "assignments": sorted(
            _rows(
                conn,
                "SELECT a.reviewer, r.run_id, a.reason FROM assignments a "
                "JOIN runs r ON r.id = a.run",
            )
        ),
    }


def test_a_sync_cut_by_a_stopped_server_resumes_from_its_cursor_after_restart(
    mlflow_up: OwnMlflow, demo_workspace: Workspace, tmp_path: Path
) -> None:
    experiment = "restart-sync"
    workflows = ["billing-support", "crm-update", "refund-approvals"]
    ids = [
        w["trace_id"]
        for w in mlflow_up.api.seed(
            experiment,
            [spec(n, workflows[n % 3], error="x", fail=n % 4 == 0) for n in range(12)],
        )
    ]
    plan = load_setup(demo_workspace).plan
    conn = connect(tmp_path / "cut.db")

    def listing(request: httpx.Request) -> bool:
        return request.method == "POST" and request.url.path == SEARCH_PATH

    # MLflow answers the second page of the listing and stops before the answer is out.
    wire = Tripwire(listing, after=2, trip=mlflow_up.stop, lose_reply=True)
    with pytest.raises(ConnectorError) as caught:
        pull(conn, _connector(mlflow_up, experiment, wire), plan, page_size=5)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"mlflow POST {mlflow_up.url}{SEARCH_PATH}: cannot connect")

    # Exactly the page committed before: its runs, and the cursor of the page after it.
    pages = [[t["trace_id"] for t in reply["traces"]] for reply in wire.replies]
    assert pages == [ids[:5], ids[5:10]]
    assert [r for (r, *_) in _state(conn)["runs"]] == sorted(ids[:5])
    [(cursor,)] = _rows(conn, "SELECT cursor FROM sync_state WHERE store = 'mlflow'")
    assert json.loads(cursor)["token"] == wire.replies[0]["next_page_token"]

    mlflow_up.restart()
    wire = Tripwire(listing)
    asked: list[dict[str, Any]] = []
    resumed = _connector(mlflow_up, experiment, wire)
    real = resumed._api.request

    def call(method: str, path: str, **kw: Any) -> httpx.Response:
        if path == SEARCH_PATH:
            asked.append(kw["json"])
        return real(method, path, **kw)

    resumed._api.request = call  # type: ignore[method-assign]
    report = pull(conn, resumed, plan, page_size=5)
    assert report.problems == []
    # It resumed on the saved page of the saved window: the second page first.
    assert asked[0]["page_token"] == json.loads(cursor)["token"]
    assert asked[0]["filter"] == (
        f"trace.timestamp_ms >= 0 AND trace.timestamp_ms < {json.loads(cursor)['hi']}"
    )
    assert pages[1] == [t["trace_id"] for t in wire.replies[0]["traces"]]

    state = _state(conn)
    assert [r for (r, *_) in state["runs"]] == sorted(ids)
    assert _rows(conn, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(12, 12)]
    hydrated = [r for (r, _, _, h) in state["runs"] if h]
    assert len(state["steps"]) == 2 * len(hydrated) == len({s[2] for s in state["steps"]})

    # The same as a sync that was never interrupted.
    whole = connect(tmp_path / "whole.db")
    pull(whole, _connector(mlflow_up, experiment, Tripwire(bool)), plan, page_size=5)
    assert state == _state(whole)

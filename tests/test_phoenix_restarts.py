"""Exactly once under a Phoenix that goes away: stop the real server in the middle of a push or
a sync, start it again on the same data, and find every grade and every run exactly once.

These tests stop and start a Phoenix of their own (the session's shared one serves the other
tests). Nothing here waits on a clock: a transport wrapper counts the replies Phoenix gives and
stops the server right after the N-th one, so each test stops it at the same point every time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from review.pulled import pull
from review.session import load_setup
from store.connectors.base import ConnectorError
from store.connectors.phoenix import PhoenixConnector
from store.db import connect
from store.models import Score
from store.outbox import enqueue, push
from store.sync import run_pk
from store.timestamps import canonical, now_iso
from store.workspace import Workspace
from tests.conftest import OwnServer, PhoenixServer, _running
from tests.test_phoenix import _annotations, _hex, _score, trace

LATER = timedelta(hours=1)  # past any outbox backoff (its ceiling is 15 minutes)


OwnPhoenix = OwnServer


@pytest.fixture(scope="module")
def own_phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServer]:
    from tests import servers

    def start(folder: Path) -> OwnServer:
        return OwnServer(folder, servers.start_phoenix, servers.restart_phoenix, PhoenixServer)

    with _running(start, tmp_path_factory.mktemp("phoenix-restarts")) as started:
        yield started


@pytest.fixture
def phoenix_up(own_phoenix: OwnServer) -> OwnServer:
    """The module's Phoenix, running (a test that failed half-way may have left it stopped)."""
    return own_phoenix.up()


class Tripwire(httpx.BaseTransport):
    """Real HTTP, and a tripwire: after the ``after``-th 2xx reply to a request that ``match``
    accepts, ``trip`` runs (it stops the server). With ``lose_reply`` that last reply is lost
    too, as when a server commits a request and dies before its answer is out.

    Every request is logged (method, path with query, status or the error's name), and the JSON
    of each matching reply kept in ``replies``."""

    def __init__(
        self,
        match: Callable[[httpx.Request], bool],
        *,
        after: int = 0,
        trip: Callable[[], None] = lambda: None,
        lose_reply: bool = False,
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.match = match
        self.after = after
        self.trip = trip
        self.lose_reply = lose_reply
        self.matched = 0
        self.log: list[tuple[str, str, int | str]] = []
        self.replies: list[Any] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode()
        try:
            response = self.inner.handle_request(request)
            response.read()
        except httpx.HTTPError as exc:
            self.log.append((request.method, target, type(exc).__name__))
            raise
        self.log.append((request.method, target, response.status_code))
        if self.match(request) and response.is_success:
            self.matched += 1
            self.replies.append(json.loads(response.content))
            if self.matched == self.after:
                self.trip()
                if self.lose_reply:
                    response.close()
                    raise httpx.ReadError("the server went away", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def _connector(server: OwnPhoenix, project: str, transport: Tripwire) -> PhoenixConnector:
    # No waiting between retries: a stopped server refuses at once, and time decides nothing.
    return PhoenixConnector(
        "phoenix",
        server.url,
        project=project,
        timeout=10,
        transport=transport,
        sleep=lambda s: None,
    )


def _seed(server: OwnPhoenix, project: str, runs: list[tuple[int, str, bool]]) -> list[str]:
    ids, spans = [], []
    for n, workflow, error in runs:
        trace_id, more = trace(project, n, workflow, error=error)
        ids.append(trace_id)
        spans += more
    server.api.seed(project, spans)
    return ids


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args)]


def _grade(
    conn: sqlite3.Connection, project: str, n: int, trace_id: str, tone: int, comment: str
) -> list[Score]:
    """Enqueue one grade (three root criteria and the first wrong step) as the desk does."""
    scores = [
        _score(trace_id, "task_success", "pass" if n % 2 else "fail", comment=comment),
        _score(trace_id, "intervention", "no", comment=comment),
        _score(trace_id, "tone", tone, comment=comment),
        _score(trace_id, "first_wrong_step", "tool", span_id=_hex(f"{project}/{n}/tool", 16)),
    ]
    pk = run_pk(conn, "phoenix", trace_id)
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
    return scores


def _expected(project: str, n: int, scores: list[Score]) -> list[tuple[Any, ...]]:
    root, tool = _hex(f"{project}/{n}/root", 16), _hex(f"{project}/{n}/tool", 16)
    return [
        (
            s.span_id or root,
            s.name,
            "ana",
            str(s.value),
            s.comment,
            s.id,
        )
        for s in scores
        if (s.span_id or root) in (root, tool)
    ]


def _found(server: OwnPhoenix, project: str, runs: list[int]) -> list[tuple[Any, ...]]:
    spans = [_hex(f"{project}/{n}/{part}", 16) for n in runs for part in ("root", "tool")]
    return [
        (
            a["span_id"],
            a["name"],
            a["identifier"],
            a["result"]["label"],
            a["result"]["explanation"],
            a["metadata"]["agentdeck_score_id"],
        )
        for a in _annotations(server.api, project, spans)
    ]


@pytest.mark.parametrize("batch", [1, 3])
def test_a_push_cut_by_a_stopped_server_lands_every_grade_exactly_once_after_restart(
    phoenix_up: OwnPhoenix, demo_workspace: Workspace, tmp_path: Path, batch: int
) -> None:
    """``batch``: grades a push request carries (one, or three: a failed batch is then sent
    grade by grade, each grade's row keeping its own error and next attempt)."""
    project = f"restart-push-{batch}"
    runs = list(range(12))
    ids = _seed(phoenix_up, project, [(n, "billing-support", True) for n in runs])
    conn = connect(tmp_path / "agentdeck.db")
    plan = load_setup(demo_workspace).plan
    assert pull(conn, _connector(phoenix_up, project, Tripwire(bool)), plan).hydrated == 12
    graded = {n: _grade(conn, project, n, ids[n], 5, f"run {n}") for n in runs}

    # The second request's annotations (the 4th grade, or the 4th to 6th) are committed by
    # Phoenix, which stops before its reply is out; the first request's grades were confirmed.
    wire = Tripwire(
        lambda r: r.method == "POST" and r.url.path == "/v1/span_annotations",
        after=1 + 3 // batch,
        trip=phoenix_up.stop,
        lose_reply=True,
    )
    cut = _connector(phoenix_up, project, wire)
    cut.push_batch = batch
    t0 = datetime.now(UTC)
    first = push(conn, cut, now=t0)
    # The store stopped answering: the grades of the request that found it down fail (each
    # with its error and next attempt); the round stops there, and the rest wait untried.
    assert (first.pushed, first.failed, first.untried) == (3, batch, 9 - batch)
    assert all("\n" not in e and e.startswith("phoenix ") for e in first.errors)
    assert all(phoenix_up.url + "/v1/" in e for e in first.errors)
    assert not phoenix_up.running
    waiting = _rows(
        conn,
        "SELECT attempts, last_error IS NOT NULL, coalesce(next_attempt_at > ?, 0) FROM outbox "
        "WHERE pushed_at IS NULL ORDER BY id",
        canonical(t0),
    )
    assert waiting == [(1, 1, 1)] * batch + [(0, 0, 0)] * (9 - batch)

    phoenix_up.restart()
    # Phoenix kept what it had committed, including the grades whose reply was lost.
    assert sorted(_found(phoenix_up, project, runs)) == sorted(
        row for n in runs[: 3 + batch] for row in _expected(project, n, graded[n])
    )
    # The untried rows go at once; the failed ones wait for their next attempt, then go.
    wire = Tripwire(lambda r: r.method == "POST")
    assert push(conn, _connector(phoenix_up, project, wire), now=t0).pushed == 9 - batch
    second = push(conn, _connector(phoenix_up, project, wire), now=t0 + LATER)
    assert (second.pushed, second.failed, second.errors) == (batch, 0, [])
    assert _rows(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]

    found = _found(phoenix_up, project, runs)
    assert len(found) == 48 == len({row[:3] for row in found})
    assert sorted(found) == sorted(row for n in runs for row in _expected(project, n, graded[n]))


def test_a_grade_edited_while_the_server_is_down_is_updated_in_place_after_restart(
    phoenix_up: OwnPhoenix, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "restart-edit"
    runs = [0, 1, 2]
    ids = _seed(phoenix_up, project, [(n, "crm-update", True) for n in runs])
    conn = connect(tmp_path / "agentdeck.db")
    plan = load_setup(demo_workspace).plan
    pull(conn, _connector(phoenix_up, project, Tripwire(bool)), plan)
    graded = {n: _grade(conn, project, n, ids[n], 5, "fine") for n in runs}
    t0 = datetime.now(UTC)
    assert push(conn, _connector(phoenix_up, project, Tripwire(bool)), now=t0).pushed == 3
    spans = [_hex(f"{project}/{n}/{p}", 16) for n in runs for p in ("root", "tool")]
    before = {(a["span_id"], a["name"]): a for a in _annotations(phoenix_up.api, project, spans)}
    assert len(before) == 12

    phoenix_up.stop()
    graded[1] = _grade(conn, project, 1, ids[1], 3, "a bit curt")  # edited offline
    down = push(conn, _connector(phoenix_up, project, Tripwire(bool)), now=t0)
    assert (down.pushed, down.failed) == (0, 1)
    phoenix_up.restart()
    up = push(conn, _connector(phoenix_up, project, Tripwire(bool)), now=t0 + LATER)
    assert (up.pushed, up.failed) == (1, 0)

    after = {(a["span_id"], a["name"]): a for a in _annotations(phoenix_up.api, project, spans)}
    assert sorted(after) == sorted(before)
    # The same annotations (same ids), run 1's updated, the others untouched.
    assert {k: a["id"] for k, a in after.items()} == {k: a["id"] for k, a in before.items()}
    assert sorted(_found(phoenix_up, project, runs)) == sorted(
        row for n in runs for row in _expected(project, n, graded[n])
    )
    tone = after[(_hex(f"{project}/1/root", 16), "tone")]
    assert tone["result"] == {"label": "3", "score": 3.0, "explanation": "a bit curt"}
    untouched = (_hex(f"{project}/0/root", 16), "tone")
    assert after[untouched] == before[untouched]
    assert _rows(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]


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
    phoenix_up: OwnPhoenix, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "restart-sync"
    workflows = ["billing-support", "crm-update", "refund-approvals"]
    ids = _seed(phoenix_up, project, [(n, workflows[n % 3], n % 4 == 0) for n in range(23)])
    plan = load_setup(demo_workspace).plan
    conn = connect(tmp_path / "cut.db")

    def listing(request: httpx.Request) -> bool:
        return request.method == "GET" and request.url.params.get("sort") == "id"

    # Phoenix answers the third page of the listing and stops before the answer is out.
    wire = Tripwire(listing, after=3, trip=phoenix_up.stop, lose_reply=True)
    with pytest.raises(ConnectorError) as caught:
        pull(conn, _connector(phoenix_up, project, wire), plan, page_size=5)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"phoenix GET {phoenix_up.url}/v1/projects/{project}/spans: ")
    assert "cannot connect" in message

    # Exactly the two pages committed before: their runs, and the cursor after the second.
    pages = [[s["context"]["trace_id"] for s in reply["data"]] for reply in wire.replies]
    assert [len(p) for p in pages] == [5, 5, 5]
    assert sorted(r for (r, *_) in _state(conn)["runs"]) == sorted(pages[0] + pages[1])
    [(cursor,)] = _rows(conn, "SELECT cursor FROM sync_state WHERE store = 'phoenix'")
    assert json.loads(cursor) == {"after": wire.replies[1]["next_cursor"], "seen": None}

    phoenix_up.restart()
    wire = Tripwire(listing)
    report = pull(conn, _connector(phoenix_up, project, wire), plan, page_size=5)
    assert report.problems == []
    assert report.listed == 13
    # It started from the saved cursor: the first listing asked for the third page.
    first = next(target for method, target, _ in wire.log if "sort=id" in target)
    assert httpx.URL(first).params.get("cursor") == json.loads(cursor)["after"]

    state = _state(conn)
    assert sorted(r for (r, *_) in state["runs"]) == sorted(ids)
    assert _rows(conn, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(23, 23)]
    steps = state["steps"]
    assert len(steps) == len({s[:2] for s in steps}) == len({s[2] for s in steps})
    hydrated = [r for (r, _, _, h) in state["runs"] if h]
    assert len(steps) == 2 * len(hydrated)

    # The same as a sync that was never interrupted.
    whole = connect(tmp_path / "whole.db")
    pull(whole, _connector(phoenix_up, project, Tripwire(bool)), plan, page_size=5)
    assert state == _state(whole)
    assert pull(conn, _connector(phoenix_up, project, Tripwire(bool)), plan).listed == 0


def test_what_phoenix_could_not_do_is_said_in_the_sync_report(
    phoenix_up: OwnPhoenix, demo_workspace: Workspace, tmp_path: Path
) -> None:
    project = "restart-undo"
    ids = _seed(phoenix_up, project, [(0, "billing-support", True)])
    conn = connect(tmp_path / "agentdeck.db")
    plan = load_setup(demo_workspace).plan
    connector = _connector(phoenix_up, project, Tripwire(bool))
    pull(conn, connector, plan)
    scores = _grade(conn, project, 0, ids[0], 5, "fine")
    assert push(conn, connector).pushed == 1
    # Scores to retract from an outbox row that does not name its run (written by an older
    # agentdeck): Phoenix finds annotations only through their runs, so they stay, and it is said.
    pk = run_pk(conn, "phoenix", ids[0])
    assert pk is not None
    conn.execute("BEGIN IMMEDIATE")
    enqueue(
        conn,
        store="phoenix",
        run=pk,
        reviewer="ana",
        payload={"upsert": [], "delete": [s.id for s in scores]},
        created_at=now_iso(),
    )
    conn.execute("COMMIT")
    assert push(conn, connector).pushed == 1  # as `agentdeck sync` does: push, then pull
    report = pull(conn, connector, plan)
    assert report.problems == [
        "phoenix: 4 score(s) were not deleted in Phoenix (their runs were not named); "
        "they stay there as last pushed"
    ]
    assert connector.problems == []
    assert pull(conn, connector, plan).problems == []  # said once
    assert len(_found(phoenix_up, project, [0])) == 4

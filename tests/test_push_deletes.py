"""A push deletes only the scores a store holds (``held_scores``), counted in requests: against
the Langfuse fake (tests/test_langfuse.py, whose every request is checked against Langfuse's
published schema) and the real Phoenix (tests/servers.py).

A grade's outbox row names a delete for every optional criterion it leaves unset; before
``held_scores`` each of those was sent, though almost none had ever been pushed (Langfuse Cloud
rations deletes). "Killed mid-push" is a ``BaseException`` raised by the transport right after
the server has done the request: nothing in the pusher catches it and no transaction is open
then (a push commits only after the store answered), so the database is left exactly as a
killed process leaves it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from review import grading
from review.pulled import pull
from review.rubric import Rubric
from store.connectors.phoenix import PhoenixConnector
from store.db import connect
from store.identity import score_id
from store.outbox import push
from tests.conftest import PhoenixServer
from tests.helpers import rubric_file, scalar
from tests.test_langfuse import FIVE, NOW, FakeLangfuse, SampleAll, connector, required_of
from tests.test_phoenix import _annotations, _hex, _seed, _setup

REQUIRED_VALUES = {"task_success": "pass", "intervention": "no", "policy": "safe"}


class Killed(BaseException):
    """The pusher's process dies here (nothing catches a BaseException on the way out)."""


def _grade(conn: sqlite3.Connection, run: int, rubric: Rubric, **more: Any) -> None:
    for criterion, value in {**REQUIRED_VALUES, **more}.items():
        grading.set_value(conn, run, "ana", rubric, criterion, value)


def _held(conn: sqlite3.Connection, store: str) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT score_id FROM held_scores WHERE store = ?", (store,))
    }


def _unsent(conn: sqlite3.Connection) -> int:
    """Grades waiting in the outbox (each edit is a row; the newest carries the grade)."""
    return int(scalar(conn, "SELECT count(DISTINCT run) FROM outbox WHERE pushed_at IS NULL"))


# -- Langfuse (the fake) -------------------------------------------------------------------------


def _langfuse(tmp_path: Path) -> tuple[sqlite3.Connection, Rubric, FakeLangfuse, list[int]]:
    rubric = rubric_file(tmp_path)
    conn = connect(tmp_path / "agentdeck.db")
    fake = FakeLangfuse(FIVE)
    pull(conn, connector(fake), SampleAll(), required=required_of(rubric))
    runs = [r[0] for r in conn.execute("SELECT id FROM runs WHERE hydrated = 1 ORDER BY run_id")]
    assert len(runs) == 5
    fake.requests.clear()
    return conn, rubric, fake, runs


def _deletes(fake: FakeLangfuse) -> list[str]:
    return [
        r.url.path.rsplit("/", 1)[1]
        for r in fake.requests
        if r.method == "DELETE" and r.url.path.startswith("/api/public/scores/")
    ]


def test_grading_runs_with_optional_criteria_unset_sends_no_delete_to_langfuse(
    tmp_path: Path,
) -> None:
    conn, rubric, fake, runs = _langfuse(tmp_path)
    for run in runs:
        _grade(conn, run, rubric)
        # Each row still names the unset optional criteria (tool_use, tone) to delete.
        assert len(grading.get_grade(conn, run, "ana", rubric).values) == 3  # type: ignore[union-attr]
    report = push(conn, connector(fake), now=NOW)
    assert (report.pushed, report.failed) == (5, 0)
    assert _deletes(fake) == []
    assert len(fake.calls("POST", "/api/public/scores")) == 5 * 3
    assert len(fake.scores) == 5 * 3
    assert len(_held(conn, "langfuse")) == 5 * 3


def test_clearing_a_pushed_criterion_sends_exactly_one_delete_to_langfuse(tmp_path: Path) -> None:
    conn, rubric, fake, runs = _langfuse(tmp_path)
    _grade(conn, runs[0], rubric, tone=5)
    assert push(conn, connector(fake), now=NOW).pushed == 1
    tone = score_id("langfuse", "trace-001", "tone", "ana")
    assert tone in fake.scores and _deletes(fake) == []

    grading.set_value(conn, runs[0], "ana", rubric, "tone", None)
    fake.requests.clear()
    assert push(conn, connector(fake), now=NOW).pushed == 1
    assert _deletes(fake) == [tone]
    assert tone not in fake.scores and tone not in _held(conn, "langfuse")
    assert len(fake.calls("POST", "/api/public/scores")) == 3  # the grade's other scores

    # Edited again with tone still unset: nothing left to delete, nothing sent to delete.
    grading.set_value(conn, runs[0], "ana", rubric, "policy", "violation")
    fake.requests.clear()
    assert push(conn, connector(fake), now=NOW).pushed == 1
    assert _deletes(fake) == []


def test_a_score_pulled_from_langfuse_counts_as_held(tmp_path: Path) -> None:
    """Ana graded tone on another laptop; here her grade comes back with the pull, and clearing
    tone here deletes it in the store."""
    conn, rubric, fake, runs = _langfuse(tmp_path)
    other = tmp_path / "laptop-2"
    other.mkdir()
    conn2, _, _, runs2 = _langfuse(other)
    conn2.close()
    # The other laptop's push, straight to the same fake.
    conn_b = connect(other / "agentdeck.db")
    _grade(conn_b, runs2[0], rubric, tone=3)
    assert push(conn_b, connector(fake), now=NOW).pushed == 1
    conn_b.close()
    tone = score_id("langfuse", "trace-001", "tone", "ana")
    assert tone not in _held(conn, "langfuse")

    pull(conn, connector(fake), SampleAll(), required=required_of(rubric))
    assert tone in _held(conn, "langfuse")
    assert grading.get_grade(conn, runs[0], "ana", rubric).values["tone"] == 3  # type: ignore[union-attr]
    grading.set_value(conn, runs[0], "ana", rubric, "tone", None)
    fake.requests.clear()
    assert push(conn, connector(fake), now=NOW).pushed == 1
    assert _deletes(fake) == [tone] and tone not in fake.scores


@pytest.mark.parametrize("where", ["POST", "DELETE"])
def test_a_push_killed_after_langfuse_took_it_converges_exactly_once(
    tmp_path: Path, where: str
) -> None:
    conn, rubric, fake, runs = _langfuse(tmp_path)
    _grade(conn, runs[0], rubric, tone=5)
    assert push(conn, connector(fake), now=NOW).pushed == 1
    tone = score_id("langfuse", "trace-001", "tone", "ana")

    # Tone cleared and a value changed; the process dies right after Langfuse did the first
    # upsert (POST) or the delete (DELETE), before anything was committed here.
    grading.set_value(conn, runs[0], "ana", rubric, "tone", None)
    grading.set_value(conn, runs[0], "ana", rubric, "policy", "violation")
    key = (
        ("POST", "/api/public/scores")
        if where == "POST"
        else ("DELETE", f"/api/public/scores/{tone}")
    )
    fake.lost[key] = [Killed()]
    fake.requests.clear()
    with pytest.raises(Killed):
        push(conn, connector(fake), now=NOW)
    conn.close()
    if where == "DELETE":
        assert tone not in fake.scores  # gone in the store, still remembered here

    conn = connect(tmp_path / "agentdeck.db")
    assert _unsent(conn) == 1 and tone in _held(conn, "langfuse")
    fake.requests.clear()
    assert push(conn, connector(fake), now=NOW).pushed == 1
    # The delete is sent (again, after a kill at DELETE: Langfuse's 404 is "already gone").
    assert _deletes(fake) == [tone]
    assert len(fake.calls("POST", "/api/public/scores")) == 3
    expected = {
        score_id("langfuse", "trace-001", c, "ana"): v
        for c, v in {**REQUIRED_VALUES, "policy": "violation"}.items()
    }
    assert {sid: s["value"] for sid, s in fake.scores.items()} == expected
    assert _unsent(conn) == 0 and _held(conn, "langfuse") == set(expected)
    fake.requests.clear()
    assert push(conn, connector(fake), now=NOW).pushed == 0
    assert fake.requests == []


def test_a_score_langfuse_took_before_a_kill_is_deleted_when_cleared_later(
    tmp_path: Path,
) -> None:
    """The first push dies right after Langfuse took its first score; before the next push the
    reviewer clears that criterion, so the newest row (the only one pushed) names it only as a
    delete. The store must lose it: it was counted as held before it was sent."""
    conn, rubric, fake, runs = _langfuse(tmp_path)
    _grade(conn, runs[0], rubric, tone=5)
    fake.lost[("POST", "/api/public/scores")] = [Killed()]
    with pytest.raises(Killed):
        push(conn, connector(fake), now=NOW)
    conn.close()
    assert len(fake.scores) == 1
    (taken,) = fake.scores
    criterion = fake.scores[taken]["name"]

    conn = connect(tmp_path / "agentdeck.db")
    grading.set_value(conn, runs[0], "ana", rubric, criterion, None)
    fake.requests.clear()
    assert push(conn, connector(fake), now=NOW).pushed == 1
    assert taken in _deletes(fake)
    assert taken not in fake.scores and taken not in _held(conn, "langfuse")
    assert _unsent(conn) == 0


# -- Phoenix (the real server) -------------------------------------------------------------------


class Counting(httpx.BaseTransport):
    """Real HTTP, each request logged as (method, path); ``kill`` raises :class:`Killed` right
    after Phoenix answered the first request it matches."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.log: list[tuple[str, str]] = []
        self.kill: tuple[str, str] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        key = (request.method, request.url.path)
        self.log.append(key)
        if key == self.kill:
            self.kill = None
            raise Killed()
        return response

    def deletes(self) -> int:
        """Phoenix deletes annotations only through GraphQL: one request a delete."""
        return self.log.count(("POST", "/graphql"))


def _phoenix(
    phoenix: PhoenixServer, project: str, n: int, demo_workspace: Any, tmp_path: Path
) -> tuple[sqlite3.Connection, Rubric, list[str], list[int]]:
    ids = _seed(phoenix, project, [(i, "billing-support", False, False) for i in range(n)])
    conn, setup = _setup(demo_workspace, tmp_path)
    # Every run, whatever the demo plan's rate: this test grades them all.
    pull(conn, PhoenixConnector("phoenix", phoenix.url, project=project, timeout=10), SampleAll())
    runs = [
        r[0] for r in conn.execute("SELECT id FROM runs WHERE hydrated = 1 ORDER BY started_at")
    ]
    assert len(runs) == n
    return conn, setup.rubric, ids, runs


def _counted(phoenix: PhoenixServer, project: str) -> tuple[PhoenixConnector, Counting]:
    counting = Counting()
    return (
        PhoenixConnector("phoenix", phoenix.url, project=project, timeout=10, transport=counting),
        counting,
    )


def test_grading_runs_with_optional_criteria_unset_sends_no_delete_to_phoenix(
    phoenix: PhoenixServer, demo_workspace: Any, tmp_path: Path
) -> None:
    project = "held-none"
    conn, rubric, ids, runs = _phoenix(phoenix, project, 4, demo_workspace, tmp_path)
    for run in runs:
        _grade(conn, run, rubric)
    connector, counting = _counted(phoenix, project)
    report = push(conn, connector)
    assert (report.pushed, report.failed, report.errors) == (4, 0, [])
    assert counting.deletes() == 0
    # Only the writes: no annotation was looked for to delete.
    assert ("GET", f"/v1/projects/{project}/span_annotations") not in counting.log
    assert counting.log.count(("POST", "/v1/span_annotations")) == 1  # one batch
    roots = [_hex(f"{project}/{i}/root", 16) for i in range(4)]
    assert len(_annotations(phoenix, project, roots)) == 4 * 3


def test_clearing_a_pushed_criterion_sends_exactly_one_delete_to_phoenix(
    phoenix: PhoenixServer, demo_workspace: Any, tmp_path: Path
) -> None:
    project = "held-one"
    conn, rubric, ids, runs = _phoenix(phoenix, project, 2, demo_workspace, tmp_path)
    for run in runs:
        _grade(conn, run, rubric, tone=5)
    connector, counting = _counted(phoenix, project)
    assert push(conn, connector).pushed == 2
    assert counting.deletes() == 0

    grading.set_value(conn, runs[0], "ana", rubric, "tone", None)
    connector, counting = _counted(phoenix, project)
    assert push(conn, connector).pushed == 1
    assert counting.deletes() == 1
    roots = [_hex(f"{project}/{i}/root", 16) for i in range(2)]
    found = sorted((a["span_id"], a["name"]) for a in _annotations(phoenix, project, roots))
    assert ("tone" in {n for s, n in found if s == roots[0]}) is False
    assert ("tone" in {n for s, n in found if s == roots[1]}) is True
    assert len(found) == 3 + 4
    assert score_id("phoenix", ids[0], "tone", "ana") not in _held(conn, "phoenix")


def test_a_push_killed_after_phoenix_deleted_converges_exactly_once(
    phoenix: PhoenixServer, demo_workspace: Any, tmp_path: Path
) -> None:
    project = "held-killed"
    conn, rubric, ids, runs = _phoenix(phoenix, project, 1, demo_workspace, tmp_path)
    _grade(conn, runs[0], rubric, tone=5, tool_use="good")
    connector, _ = _counted(phoenix, project)
    assert push(conn, connector).pushed == 1

    # Tone cleared and a value changed; the process dies right after Phoenix deleted tone.
    grading.set_value(conn, runs[0], "ana", rubric, "tone", None)
    grading.set_value(conn, runs[0], "ana", rubric, "policy", "violation")
    connector, counting = _counted(phoenix, project)
    counting.kill = ("POST", "/graphql")
    with pytest.raises(Killed):
        push(conn, connector)
    conn.close()
    root = _hex(f"{project}/0/root", 16)
    assert "tone" not in {a["name"] for a in _annotations(phoenix, project, [root])}

    conn = connect(tmp_path / "agentdeck.db")
    tone = score_id("phoenix", ids[0], "tone", "ana")
    assert _unsent(conn) == 1 and tone in _held(conn, "phoenix")
    connector, counting = _counted(phoenix, project)
    assert push(conn, connector).pushed == 1
    # Sent again: the annotation is looked for, found gone, and the id forgotten.
    assert ("GET", f"/v1/projects/{project}/span_annotations") in counting.log
    assert tone not in _held(conn, "phoenix") and _unsent(conn) == 0
    found = {(a["name"], a["result"]["label"]) for a in _annotations(phoenix, project, [root])}
    assert found == {
        ("task_success", "pass"),
        ("intervention", "no"),
        ("policy", "violation"),
        ("tool_use", "good"),
    }
    connector, counting = _counted(phoenix, project)
    assert push(conn, connector).pushed == 0 and counting.log == []


# -- the migration -------------------------------------------------------------------------------


def test_the_migration_remembers_what_earlier_pushes_and_pulls_put_in_the_store(
    tmp_path: Path,
) -> None:
    """A database from before ``held_scores``: the scores of rows marked sent and of grades
    and adjudications pulled from the store are held; an unsent row's are not (yet)."""
    import json

    from store import db as store_db
    from store.timestamps import canonical_text

    path = tmp_path / "old.db"
    version = store_db.SCHEMA_VERSION - 1  # the schema before held_scores
    assert "held_scores" in store_db.MIGRATIONS[version]
    c = sqlite3.connect(path, isolation_level=None)
    c.create_function("canonical_ts", 1, canonical_text, deterministic=True)
    for i, script in enumerate(store_db.MIGRATIONS[:version]):
        c.executescript(f"BEGIN; {script}; PRAGMA user_version = {i + 1}; COMMIT;")
    at = "2026-01-01T00:00:00.000000Z"
    for pk, run_id in ((1, "t-1"), (2, "t-2"), (3, "t-3")):
        c.execute(
            "INSERT INTO runs (id, source, run_id, workflow, started_at, status, hydrated) "
            "VALUES (?, 'lf', ?, 'w', ?, 'ok', 1)",
            (pk, run_id, at),
        )
    sent, waiting = score_id("lf", "t-1", "tone", "ana"), score_id("lf", "t-1", "policy", "ana")
    for payload, pushed in (
        ({"upsert": [{"id": sent}]}, at),
        ({"upsert": [{"id": waiting}]}, None),
    ):
        c.execute(
            "INSERT INTO outbox (store, kind, run, reviewer, payload, created_at, pushed_at) "
            "VALUES ('lf', 'grade', 1, 'ana', ?, ?, ?)",
            (json.dumps(payload), at, pushed),
        )
    c.execute(
        'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", complete, '
        "first_wrong_step, origin, created_at, updated_at) "
        "VALUES (2, 'ben', 'r', 'v', ?, 1, 0, 'remote', ?, ?)",
        (json.dumps({"task_success": "pass"}), at, at),
    )
    c.execute(
        'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", complete, '
        "origin, created_at, updated_at) VALUES (2, 'ana', 'r', 'v', ?, 1, 'local', ?, ?)",
        (json.dumps({"task_success": "fail"}), at, at),
    )
    c.execute(
        'INSERT INTO adjudications (run, rubric_id, rubric_version, "values", adjudicator, '
        "created_at, updated_at) VALUES (3, 'r', 'v', ?, 'dana', ?, ?)",
        (json.dumps({"tone": 3}), at, at),
    )
    c.close()

    conn = connect(path)
    assert _held(conn, "lf") == {
        sent,
        score_id("lf", "t-2", "task_success", "ben"),
        score_id("lf", "t-2", "first_wrong_step", "ben"),
        score_id("lf", "t-3", "tone", "adjudicated"),
    }

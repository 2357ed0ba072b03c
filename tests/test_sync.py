"""Sync: list -> sample -> hydrate, resumable cursors, remote scores becoming grades."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review import grading
from review.pulled import pull
from review.sampling import assign_reviewers, in_sample
from review.session import ReviewSetup, sync
from store.connectors import make_connector
from store.connectors.file import FileConnector
from store.identity import score_id
from store.models import RunPage
from store.sync import now_iso
from tests.helpers import (
    config_toml,
    make_workspace,
    open_setup,
    run_record,
    scalar,
    write_jsonl,
)

SALT = "sync-salt"
DEFAULT_RATE = 0.1
RATES = {"crm-update": 0.3}
INCIDENT = {
    "id": "inc-7",
    "title": "Refund tool failing",
    "workflow": "refund-approvals",
    "starts_at": "2026-01-10T00:00:00Z",
    "ends_at": "2026-01-11T23:59:59Z",
}


def _records(start: int, stop: int) -> list[dict[str, Any]]:
    return [
        run_record(
            i,
            status="error" if i % 17 == 0 else "ok",
            feedback="negative" if i % 13 == 0 else ("positive" if i % 5 == 0 else None),
        )
        for i in range(start, stop)
    ]


RECORDS = _records(0, 240)


def _expected_reason(rec: dict[str, Any]) -> str | None:
    """The sample decision, written out independently of ReviewPlan."""
    if in_sample(SALT, rec["trace_id"], RATES.get(rec["workflow"], DEFAULT_RATE)):
        return "sample"
    if rec["status"] == "error":
        return "always:status=error"
    if rec["feedback"] == "negative":
        return "always:feedback=negative"
    t = datetime.fromisoformat(rec["start_time"])
    if rec["workflow"] == INCIDENT["workflow"] and datetime.fromisoformat(
        INCIDENT["starts_at"]
    ) <= t <= datetime.fromisoformat(INCIDENT["ends_at"]):
        return "always:incident=inc-7"
    return None


EXPECTED = {r["trace_id"]: why for r in RECORDS if (why := _expected_reason(r)) is not None}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = make_workspace(
        tmp_path / "ws",
        RECORDS,
        incidents=[INCIDENT],
        salt=SALT,
        default_rate=DEFAULT_RATE,
        rates=RATES,
    )
    with (root / "store" / "runs.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"trace_id": "trace-99999", "workfl\n')
        fh.write("garbage\n")
    return root


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        t: scalar(conn, f"SELECT count(*) FROM {t}")
        for t in ("runs", "steps", "assignments", "grades", "incidents", "outbox")
    }


def _sync(conn: sqlite3.Connection, setup: ReviewSetup, **kw: Any) -> Any:
    [(name, pulled, pushed)] = sync(conn, setup, **kw)
    assert name == "demo"
    return pulled


def test_sync_counts_and_sample(ws: Path) -> None:
    conn, setup = open_setup(ws)
    report = _sync(conn, setup)
    assert 0 < len(EXPECTED) < len(RECORDS)
    assert {"sample", "always:status=error", "always:feedback=negative"} <= set(EXPECTED.values())
    assert "always:incident=inc-7" in EXPECTED.values()

    assert report.listed == len(RECORDS)
    assert report.skipped == 2
    assert len(report.problems) == 2
    assert report.sampled == len(EXPECTED)
    assert report.hydrated == len(EXPECTED)
    assert report.incidents == 1
    assert scalar(conn, "SELECT count(*) FROM runs") == len(RECORDS)
    assert scalar(conn, "SELECT skipped FROM sync_state WHERE store = 'demo'") == 2

    # Only sampled runs are hydrated; the others are summaries only, with no steps.
    hydrated = {r[0] for r in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    assert hydrated == set(EXPECTED)
    with_steps = {
        r[0]
        for r in conn.execute("SELECT DISTINCT r.run_id FROM steps s JOIN runs r ON r.id = s.run")
    }
    assert with_steps == set(EXPECTED)
    assert scalar(conn, "SELECT count(*) FROM runs WHERE hydrated = 0 AND input IS NOT NULL") == 0

    # Every sampled run is in the queue of exactly its assigned reviewers, with its reason.
    rows = conn.execute(
        "SELECT r.run_id, a.reviewer, a.reason FROM assignments a JOIN runs r ON r.id = a.run"
    ).fetchall()
    got: dict[str, set[str]] = {}
    for run_id, reviewer, reason in rows:
        assert reason == EXPECTED[run_id]
        got.setdefault(run_id, set()).add(reviewer)
    assert got == {
        rid: set(assign_reviewers(SALT, rid, ("ana", "ben", "chen"), 0.2)) for rid in EXPECTED
    }


def test_sync_again_is_idempotent_and_resumes(ws: Path) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    counts = _counts(conn)
    cursor = scalar(conn, "SELECT cursor FROM sync_state")

    again = _sync(conn, setup)
    assert (again.listed, again.sampled, again.hydrated, again.skipped) == (0, 0, 0, 0)
    assert _counts(conn) == counts
    assert scalar(conn, "SELECT cursor FROM sync_state") == cursor

    # New runs appended to the store are the only ones listed next time.
    new = _records(240, 300)
    write_jsonl(ws / "store" / "runs.jsonl", new)
    third = _sync(conn, setup)
    assert third.listed == len(new)
    assert scalar(conn, "SELECT count(*) FROM runs") == len(RECORDS) + len(new)


class _Flaky:
    """A connector that dies after ``pages`` pages, like a sync killed halfway."""

    def __init__(self, inner: FileConnector, pages: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.pages = pages
        self.listed: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        if self.pages == 0:
            raise RuntimeError("killed")
        self.pages -= 1
        page = self.inner.list_runs(cursor, limit)
        self.listed += [r.trace_id for r in page.runs]
        return page


def test_interrupted_sync_resumes_without_listing_twice(ws: Path) -> None:
    conn, setup = open_setup(ws)
    connector = make_connector(setup.workspace, setup.workspace.config.stores[0])
    assert isinstance(connector, FileConnector)
    flaky = _Flaky(connector, pages=3)
    with pytest.raises(RuntimeError):
        pull(conn, flaky, setup.plan, page_size=25)  # type: ignore[arg-type]
    assert len(flaky.listed) == 75
    assert scalar(conn, "SELECT count(*) FROM runs") == 75

    rest = _Flaky(connector, pages=1000)
    report = pull(conn, rest, setup.plan, page_size=25)  # type: ignore[arg-type]
    assert report.listed == len(RECORDS) - 75
    assert sorted(flaky.listed + rest.listed) == sorted(r["trace_id"] for r in RECORDS)
    assert scalar(conn, "SELECT count(*) FROM runs") == len(RECORDS)
    hydrated = {r[0] for r in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    assert hydrated == set(EXPECTED)


def _remote_scores(
    run_id: str,
    reviewer: str,
    setup: ReviewSetup,
    values: dict[str, Any],
    comment: str = "",
    created_at: str = "2026-02-01T00:00:00.000Z",
) -> list[dict[str, Any]]:
    return [
        {
            "id": score_id("demo", run_id, name, reviewer),
            "trace_id": run_id,
            "name": name,
            "value": value,
            "comment": comment or None,
            "created_at": created_at,
            "metadata": {
                "reviewer": reviewer,
                "rubric_id": setup.rubric.id,
                "rubric_version": setup.rubric.version,
                "escalate": False,
                "seconds_spent": 12.5,
            },
        }
        for name, value in values.items()
    ]


def _queued(conn: sqlite3.Connection, reviewer: str) -> list[tuple[int, str]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT a.run, r.run_id FROM assignments a JOIN runs r ON r.id = a.run "
            "WHERE a.reviewer = ? ORDER BY a.run",
            (reviewer,),
        )
    ]


def test_remote_scores_become_remote_grades(ws: Path) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    (full_pk, full_id), (part_pk, part_id) = _queued(conn, "ben")[:2]
    complete = {"task_success": "fail", "intervention": "yes", "policy": "safe", "tone": 3}
    write_jsonl(
        ws / "store" / "scores.jsonl",
        _remote_scores(full_id, "ben", setup, complete, comment="looked at refunds")
        + _remote_scores(part_id, "ben", setup, {"task_success": "pass"}),
    )
    report = _sync(conn, setup)
    assert report.scores == 2

    row = conn.execute(
        'SELECT origin, complete, "values", comment, seconds_spent FROM grades '
        "WHERE run = ? AND reviewer = 'ben'",
        (full_pk,),
    ).fetchone()
    assert row[0] == "remote"
    assert row[1] == 1
    assert json.loads(row[2]) == complete
    assert row[3] == "looked at refunds"
    assert row[4] == 12.5
    assert scalar(conn, "SELECT graded FROM assignments WHERE reviewer='ben' AND run=?", full_pk)

    partial = conn.execute(
        "SELECT origin, complete FROM grades WHERE run = ? AND reviewer = 'ben'", (part_pk,)
    ).fetchone()
    assert tuple(partial) == ("remote", 0)
    assert not scalar(
        conn, "SELECT graded FROM assignments WHERE reviewer='ben' AND run=?", part_pk
    )
    # Importing remote grades does not send anything back.
    assert scalar(conn, "SELECT count(*) FROM outbox") == 0

    # Pulling the same scores again changes nothing.
    before = conn.execute('SELECT run, "values", complete FROM grades ORDER BY run').fetchall()
    _sync(conn, setup)
    after = conn.execute('SELECT run, "values", complete FROM grades ORDER BY run').fetchall()
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


def test_a_local_grade_is_not_overwritten_by_a_remote_one(ws: Path) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    pk, run_id = _queued(conn, "ana")[0]
    mine = {"task_success": "pass", "intervention": "no", "policy": "safe"}
    for criterion, value in mine.items():
        grading.set_value(conn, pk, "ana", setup.rubric, criterion, value)

    theirs = {"task_success": "fail", "intervention": "yes", "policy": "violation"}
    write_jsonl(ws / "store" / "scores.jsonl", _remote_scores(run_id, "ana", setup, theirs))
    _sync(conn, setup, push_grades=False)

    grade = grading.get_grade(conn, pk, "ana", setup.rubric)
    assert grade is not None and grade.values == mine
    assert scalar(conn, "SELECT origin FROM grades WHERE run = ?", pk) == "local"


def test_an_edit_from_another_laptop_comes_back_once_ours_is_pushed(ws: Path) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    pk, run_id = _queued(conn, "ana")[0]
    for criterion, value in {
        "task_success": "pass",
        "intervention": "no",
        "policy": "safe",
    }.items():
        grading.set_value(conn, pk, "ana", setup.rubric, criterion, value)
    _sync(conn, setup)  # pushes our grade; the outbox is empty afterwards
    assert scalar(conn, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == 0

    # A stale copy in the store (written before our edit) does not overwrite it...
    mine = {"task_success": "pass", "intervention": "no", "policy": "safe"}
    stale = {"task_success": "fail", "intervention": "no", "policy": "safe"}
    write_jsonl(ws / "store" / "scores.jsonl", _remote_scores(run_id, "ana", setup, stale))
    _sync(conn, setup, push_grades=False)
    grade = grading.get_grade(conn, pk, "ana", setup.rubric)
    assert grade is not None and grade.values == mine

    # ...but the same reviewer changing their mind later on another laptop comes back.
    elsewhere = {"task_success": "fail", "intervention": "yes", "policy": "safe"}
    later = now_iso()
    write_jsonl(
        ws / "store" / "scores.jsonl",
        _remote_scores(run_id, "ana", setup, elsewhere, created_at=later),
    )
    _sync(conn, setup)
    grade = grading.get_grade(conn, pk, "ana", setup.rubric)
    assert grade is not None and grade.values == elsewhere
    assert scalar(conn, "SELECT graded FROM assignments WHERE reviewer='ana' AND run=?", pk) == 1


def test_a_grade_keeps_the_time_it_was_made_through_sync_and_export(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from review.exchange import export_grades

    conn, setup = open_setup(ws)
    _sync(conn, setup)
    (pk, _), (ben_pk, ben_run) = _queued(conn, "ana")[0], _queued(conn, "ben")[0]
    for criterion, value in {
        "task_success": "pass",
        "intervention": "no",
        "policy": "safe",
    }.items():
        grading.set_value(conn, pk, "ana", setup.rubric, criterion, value)
    typed_at = scalar(conn, "SELECT updated_at FROM grades WHERE run = ?", pk)

    def times(run: int, reviewer: str) -> tuple[str, str]:
        row = conn.execute(
            "SELECT created_at, updated_at FROM grades WHERE run = ? AND reviewer = ?",
            (run, reviewer),
        ).fetchone()
        return row[0], row[1]

    def graded_at(reviewer: str) -> str:
        return next(
            g["graded_at"] for g in export_grades(conn, everyone=True, reviewers=[reviewer])
        )

    # Every sync from here on happens years later: nothing it writes may carry its own time.
    monkeypatch.setattr("store.sync.now_iso", lambda: "2031-01-01T00:00:00.000000Z")
    _sync(conn, setup)  # pushes ana's grade, and pulls it back from the store
    assert times(pk, "ana")[1] == typed_at
    assert graded_at("ana") == typed_at

    # Ben's grade, made on his laptop on Feb 1st, pulled here: it keeps the store's time.
    theirs = {"task_success": "fail", "intervention": "yes", "policy": "safe"}
    scores = ws / "store" / "scores.jsonl"
    with scores.open("a", encoding="utf-8") as fh:
        for score in _remote_scores(ben_run, "ben", setup, theirs):
            fh.write(json.dumps(score) + "\n")
    _sync(conn, setup)
    feb_1 = "2026-02-01T00:00:00.000000Z"
    assert times(ben_pk, "ben") == (feb_1, feb_1)
    assert graded_at("ben") == feb_1
    _sync(conn, setup)  # nothing new: nothing moves
    assert times(ben_pk, "ben") == (feb_1, feb_1) and times(pk, "ana")[1] == typed_at

    # He changes his mind on Feb 3rd: the grade takes that time, and keeps when it was first made.
    changed = theirs | {"intervention": "no"}
    with scores.open("a", encoding="utf-8") as fh:
        for score in _remote_scores(
            ben_run, "ben", setup, changed, created_at="2026-02-03T09:30:00Z"
        ):
            fh.write(json.dumps(score) + "\n")
    _sync(conn, setup)
    assert times(ben_pk, "ben") == (feb_1, "2026-02-03T09:30:00.000000Z")
    assert graded_at("ben") == "2026-02-03T09:30:00.000000Z"


def test_scores_for_an_unsampled_run_hydrate_it(ws: Path) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    unsampled = next(r["trace_id"] for r in RECORDS if r["trace_id"] not in EXPECTED)
    write_jsonl(
        ws / "store" / "scores.jsonl",
        _remote_scores(unsampled, "chen", setup, {"task_success": "pass"}),
    )
    _sync(conn, setup)
    assert scalar(conn, "SELECT hydrated FROM runs WHERE run_id = ?", unsampled) == 1
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM grades g JOIN runs r ON r.id = g.run WHERE r.run_id = ?",
            unsampled,
        )
        == 1
    )


DEMO_STORE = Path(__file__).resolve().parent.parent / "sample-data" / "store" / "runs.jsonl"


@pytest.mark.skipif(not DEMO_STORE.is_file(), reason="the demo store is not generated")
def test_demo_workspace_syncs(tmp_path: Path) -> None:
    from store.workspace import copy_demo

    conn, setup = open_setup(copy_demo(tmp_path / "demo"))
    report = _sync(conn, setup)
    assert report.listed > 0
    assert report.listed == scalar(conn, "SELECT count(*) FROM runs")
    assert 0 < report.sampled < report.listed
    assert report.sampled == scalar(conn, "SELECT count(DISTINCT run) FROM assignments")
    # Sampled runs are hydrated; beyond them only runs someone already graded remotely.
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM assignments a JOIN runs r ON r.id = a.run WHERE r.hydrated = 0",
        )
        == 0
    )
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM runs r WHERE r.hydrated = 1 AND r.id NOT IN "
            "(SELECT run FROM assignments) AND r.id NOT IN (SELECT run FROM grades)",
        )
        == 0
    )
    counts = _counts(conn)
    again = _sync(conn, setup)
    assert (again.listed, again.sampled) == (0, 0)
    assert _counts(conn) == counts


def test_a_dry_run_says_what_a_sync_would_do_and_changes_nothing(ws: Path) -> None:
    conn, setup = open_setup(ws)
    before = _counts(conn)
    dry = _sync(conn, setup, dry_run=True)
    assert _counts(conn) == before
    assert scalar(conn, "SELECT count(*) FROM sync_state") == 0
    assert (dry.listed, dry.sampled, dry.hydrated) == (len(RECORDS), len(EXPECTED), len(EXPECTED))
    real = _sync(conn, setup)
    assert (real.listed, real.sampled, real.hydrated) == (dry.listed, dry.sampled, dry.hydrated)
    # After the sync: nothing new to list, nothing to fetch.
    again = _sync(conn, setup, dry_run=True)
    assert (again.listed, again.hydrated) == (0, 0)


def test_a_value_past_the_limit_is_cut_with_a_marker(tmp_path: Path) -> None:
    big = run_record(1, status="error")  # always sampled: hydrated
    big["output"] = "x" * 5_000
    big["steps"][0]["result"] = {"rows": ["y" * 100] * 50}
    root = make_workspace(tmp_path / "ws", [big, run_record(2, status="error")])
    config = root / "agentdeck.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n[sync]\nmax_value_chars = 1000\n", encoding="utf-8"
    )
    conn, setup = open_setup(root)
    _sync(conn, setup)
    output, small = (
        r[0] for r in conn.execute("SELECT output FROM runs WHERE hydrated = 1 ORDER BY run_id")
    )
    assert output == "x" * 1000 + "… [cut by agentdeck: 4,000 more characters]"
    assert small == "agent reply 2"  # under the limit: as it was
    result = scalar(
        conn,
        "SELECT s.result FROM steps s JOIN runs r ON r.id = s.run "
        "WHERE r.run_id = 'trace-00001' AND s.idx = 0",
    )
    assert result.startswith('{"rows": ["yyy') and len(result) < 1100
    left = len(json.dumps({"rows": ["y" * 100] * 50})) - 1000
    assert result.endswith(f"… [cut by agentdeck: {left:,} more characters]")


def _queue(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return {
        (reviewer, run_id)
        for reviewer, run_id in conn.execute(
            "SELECT a.reviewer, r.run_id FROM assignments a JOIN runs r ON r.id = a.run"
        )
    }


def _replan(ws: Path, **config: Any) -> None:
    """Rewrite the workspace's agentdeck.toml with another sampling plan (same store)."""
    (ws / "agentdeck.toml").write_text(config_toml(**config), encoding="utf-8")


def test_a_changed_plan_resamples_the_runs_already_synced(ws: Path) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    assert {r for r, _ in _queue(conn)} == {"ana", "ben", "chen"}
    # Ben graded one of his runs (partly): his work stays whatever the plan says next.
    [(ben_pk, ben_run)] = _queued(conn, "ben")[:1]
    grading.set_value(conn, ben_pk, "ben", setup.rubric, "task_success", "pass")

    # Only ana now, and a higher rate: the runs already here are decided again.
    _replan(ws, roster=("ana",), salt=SALT, default_rate=0.5, rates=RATES)
    conn2, setup2 = open_setup(ws)
    dry = _sync(conn2, setup2, dry_run=True)
    before = _queue(conn2)
    new_rates = {**RATES}
    wanted = {
        r["trace_id"]
        for r in RECORDS
        if in_sample(SALT, r["trace_id"], new_rates.get(r["workflow"], 0.5))
        or _expected_reason(r) not in (None, "sample")
    }
    fetch = wanted - set(EXPECTED)
    assert fetch, "the higher rate samples runs not fetched before"
    assert dry.plan_changed and dry.resampled > 0 and dry.hydrated == len(fetch)
    assert _queue(conn2) == before  # a dry run changes nothing

    report = _sync(conn2, setup2)
    assert report.listed == 0
    assert report.plan_changed and report.resampled == dry.resampled
    assert report.hydrated == len(fetch)
    queue = _queue(conn2)
    assert {run for who, run in queue if who == "ana"} == wanted
    # Ungraded work for ben and chen is gone; ben's graded run stays his.
    assert {(who, run) for who, run in queue if who != "ana"} == {("ben", ben_run)}
    hydrated = {r for (r,) in conn2.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    assert wanted <= hydrated
    assert (
        scalar(
            conn2,
            "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run WHERE r.run_id = ?",
            sorted(fetch)[0],
        )
        > 0
    )

    again = _sync(conn2, setup2)
    assert (again.plan_changed, again.resampled, again.hydrated) == (False, 0, 0)
    assert _queue(conn2) == queue


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plans=st.lists(
        st.tuples(
            st.sampled_from([("ana",), ("ana", "chen"), ("ana", "ben"), ("ana", "ben", "chen")]),
            st.sampled_from([0.0, 0.1, 0.4]),
            st.sampled_from([0.0, 0.5, 1.0]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_after_any_plan_changes_the_queue_is_the_one_a_fresh_sync_computes(
    tmp_path_factory: pytest.TempPathFactory,
    plans: list[tuple[tuple[str, ...], float, float]],
) -> None:
    """Every laptop computes the same queue: one that synced under a string of plans holds,
    apart from graded work, what a laptop syncing the last plan from scratch holds."""
    records = _records(0, 80)
    base = tmp_path_factory.mktemp("replan")
    ws = make_workspace(base / "ws", records, incidents=[INCIDENT], salt=SALT)
    for roster, rate, overlap in plans:
        _replan(ws, roster=roster, salt=SALT, default_rate=rate, overlap=overlap)
        conn, setup = open_setup(ws)
        _sync(conn, setup)
        conn.close()
    fresh = make_workspace(base / "fresh", records, incidents=[INCIDENT], salt=SALT)
    roster, rate, overlap = plans[-1]
    _replan(fresh, roster=roster, salt=SALT, default_rate=rate, overlap=overlap)
    conn_f, setup_f = open_setup(fresh)
    _sync(conn_f, setup_f)
    conn, _ = open_setup(ws)
    assert _queue(conn) == _queue(conn_f)


def test_a_database_from_before_plans_were_kept_resamples_quietly_unless_the_queue_changes(
    ws: Path,
) -> None:
    conn, setup = open_setup(ws)
    _sync(conn, setup)
    queue = _queue(conn)
    conn.execute("UPDATE sync_state SET plan = NULL")  # as schema 10 left it
    again = _sync(conn, setup)
    assert (again.plan_changed, again.resampled) == (False, 0)
    assert _queue(conn) == queue
    assert scalar(conn, "SELECT plan FROM sync_state") == setup.plan.fingerprint()
    # Changed before the upgrade (no fingerprint to compare): the queue is put right, and said.
    conn.execute("UPDATE sync_state SET plan = NULL")
    _replan(ws, roster=("ana",), salt=SALT, default_rate=DEFAULT_RATE, rates=RATES)
    conn2, setup2 = open_setup(ws)
    third = _sync(conn2, setup2)
    assert third.plan_changed and third.resampled > 0
    assert {who for who, _ in _queue(conn2)} == {"ana"}

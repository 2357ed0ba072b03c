"""Timestamps are instants: parsed at the edge in any ISO 8601 shape, stored as one UTC text.

Each case here mixes shapes that text comparison orders wrongly: "2026-11-12T09:00:00+02:00"
(07:00 UTC) is before "2026-11-12T08:00:00Z", though its text sorts after.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from review import grading
from review.sampling import always_reason
from review.session import sync
from store import db as store_db
from store.connectors.file import FileConnector
from store.models import Incident, RunSummary, Score
from store.timestamps import canonical, parse_instant
from store.workspace import AlwaysInclude
from tests.helpers import make_workspace, open_setup, run_record, scalar, write_jsonl

#: The same kind of instants written the ways stores write them, and their UTC reading.
SHAPES = {
    "2026-11-12T08:00:00Z": "2026-11-12T08:00:00.000000Z",
    "2026-11-12T09:00:00+02:00": "2026-11-12T07:00:00.000000Z",
    "2026-11-12T08:00:00.5+00:00": "2026-11-12T08:00:00.500000Z",
    "2026-11-12T08:00:00.123Z": "2026-11-12T08:00:00.123000Z",
    "2026-11-12T08:00:00.123456Z": "2026-11-12T08:00:00.123456Z",
    "2026-11-12T08:00:00.123456789Z": "2026-11-12T08:00:00.123456Z",
    "2026-11-12T07:59:59.999999999-00:00": "2026-11-12T07:59:59.999999Z",
    "2026-11-12T03:30:00-05:00": "2026-11-12T08:30:00.000000Z",
    "2026-11-12T08:15:00": "2026-11-12T08:15:00.000000Z",  # no offset: UTC
    "2026-11-12 08:20:00.25": "2026-11-12T08:20:00.250000Z",
}


@pytest.mark.parametrize(("text", "stored"), SHAPES.items())
def test_every_shape_parses_to_an_aware_instant_and_one_stored_form(text: str, stored: str) -> None:
    moment = parse_instant(text)
    assert moment.tzinfo is not None and moment.utcoffset() == UTC.utcoffset(None)
    assert canonical(moment) == stored
    assert len(stored) == 27


def test_stored_text_sorts_as_time_where_the_original_text_does_not() -> None:
    texts = list(SHAPES)
    by_time = sorted(texts, key=parse_instant)
    assert sorted(texts) != by_time  # the premise: text order is wrong on these
    assert sorted(texts, key=lambda t: canonical(parse_instant(t))) == by_time


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "", "2026-13-01T00:00:00Z", "2026-11-12T25:00:00Z", "0001-01-01T00:00+01:00"],
)
def test_text_that_is_not_an_instant_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_instant(bad)


def test_numbers_are_not_taken_as_epoch_seconds() -> None:
    with pytest.raises(ValueError, match="ISO 8601 text"):
        parse_instant(1_700_000_000)


def test_models_parse_at_the_edge_and_dump_the_stored_form() -> None:
    score = Score.model_validate(
        {
            "id": "s",
            "trace_id": "t",
            "name": "c",
            "value": "pass",
            "created_at": "2026-11-12T09:00:00+02:00",
            "metadata": {"reviewer": "ana", "rubric_id": "r", "rubric_version": "v"},
        }
    )
    assert score.created_at == datetime(2026, 11, 12, 7, tzinfo=UTC)
    assert score.model_dump(mode="json")["created_at"] == "2026-11-12T07:00:00.000000Z"
    run = RunSummary(trace_id="t", workflow="w", start_time="2026-11-12T08:00:00")  # type: ignore[arg-type]
    assert run.start_time == datetime(2026, 11, 12, 8, tzinfo=UTC)


def test_incident_windows_compare_instants() -> None:
    rules = AlwaysInclude(incidents=True)
    inc = Incident(
        id="i",
        title="down",
        starts_at="2026-11-12T09:00:00+02:00",  # type: ignore[arg-type]  # 07:00Z
        ends_at="2026-11-12T10:00:00+02:00",  # type: ignore[arg-type]  # 08:00Z
    )

    def run(start: str) -> RunSummary:
        return RunSummary(trace_id="t", workflow="w", start_time=start)  # type: ignore[arg-type]

    # Text comparison puts 07:30Z before "09:00+02:00" and outside the window.
    assert always_reason(run("2026-11-12T07:30:00Z"), rules, [inc]) == "always:incident=i"
    # ...and 08:30Z before "10:00+02:00", inside it.
    assert always_reason(run("2026-11-12T08:30:00Z"), rules, [inc]) is None
    assert always_reason(run("2026-11-12T06:59:59.999Z"), rules, [inc]) is None
    assert always_reason(run("2026-11-12T08:00:00.000000001Z"), rules, [inc]) is not None


def test_the_queue_is_in_time_order_whatever_the_store_wrote(tmp_path: Path) -> None:
    starts = {
        "late": "2026-11-12T08:00:00Z",
        "early": "2026-11-12T09:00:00+02:00",  # 07:00Z
        "middle": "2026-11-12T07:30:00.123456789Z",
        "naive": "2026-11-12T07:45:00",
        "first": "2026-11-11T23:30:00-05:00",  # 2026-11-12T04:30Z
    }
    runs = [
        {**run_record(i), "trace_id": name, "start_time": start, "workflow": "billing-support"}
        for i, (name, start) in enumerate(starts.items())
    ]
    root = make_workspace(tmp_path / "ws", runs, default_rate=1.0, roster=("ana",), overlap=0.0)
    conn, setup = open_setup(root)
    sync(conn, setup)
    order = [
        r[0]
        for r in conn.execute(
            "SELECT r.run_id FROM assignments a JOIN runs r ON r.id = a.run "
            "WHERE a.reviewer = 'ana' ORDER BY a.started_at, a.run"
        )
    ]
    assert order == ["first", "early", "middle", "naive", "late"]
    stored = dict(conn.execute("SELECT run_id, started_at FROM runs").fetchall())
    assert stored["early"] == "2026-11-12T07:00:00.000000Z"
    assert stored["middle"] == "2026-11-12T07:30:00.123456Z"
    steps = [r[0] for r in conn.execute("SELECT started_at FROM steps")]
    assert steps and all(len(s) == 27 and s.endswith("Z") for s in steps)


def _scores(run_id: str, setup: Any, values: dict[str, str], created_at: str) -> list[dict]:
    from store.identity import score_id

    return [
        {
            "id": score_id("demo", run_id, name, "ana"),
            "trace_id": run_id,
            "name": name,
            "value": value,
            "created_at": created_at,
            "metadata": {
                "reviewer": "ana",
                "rubric_id": setup.rubric.id,
                "rubric_version": setup.rubric.version,
            },
        }
        for name, value in values.items()
    ]


def test_a_remote_grade_newer_as_an_instant_wins_over_an_older_local_one(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws", [run_record(1)], default_rate=1.0, roster=("ana",), overlap=0.0
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    pk = scalar(conn, "SELECT id FROM runs")
    mine = {"task_success": "pass", "intervention": "no", "policy": "safe"}
    for criterion, value in mine.items():
        grading.set_value(conn, pk, "ana", setup.rubric, criterion, value)
    sync(conn, setup)  # pushed: the store is the truth from now on
    conn.execute("UPDATE grades SET updated_at = '2030-01-01T10:00:00.000000Z'")
    # 09:30 at UTC-2 is 11:30Z, after our 10:00Z, though "09:30" < "10:00" as text.
    theirs = {"task_success": "fail", "intervention": "yes", "policy": "safe"}
    write_jsonl(
        root / "store" / "scores.jsonl",
        _scores("trace-00001", setup, theirs, "2030-01-01T09:30:00-02:00"),
    )
    sync(conn, setup, push_grades=False)
    grade = grading.get_grade(conn, pk, "ana", setup.rubric)
    assert grade is not None and grade.values == theirs
    # And one older as an instant, though later as text, does not.
    conn.execute("UPDATE grades SET updated_at = '2030-01-01T12:00:00.000000Z', origin = 'local'")
    older = {"task_success": "pass", "intervention": "yes", "policy": "violation"}
    write_jsonl(
        root / "store" / "scores.jsonl",
        _scores("trace-00001", setup, older, "2030-01-01T13:00:00+02:00"),
    )
    sync(conn, setup, push_grades=False)
    grade = grading.get_grade(conn, pk, "ana", setup.rubric)
    assert grade is not None and grade.values == theirs


def test_timestamps_agentdeck_writes_are_in_the_stored_form(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws", [run_record(1)], default_rate=1.0, roster=("ana",), overlap=0.0
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    pk = scalar(conn, "SELECT id FROM runs")
    for criterion, value in {
        "task_success": "pass",
        "intervention": "no",
        "policy": "safe",
    }.items():
        grading.set_value(conn, pk, "ana", setup.rubric, criterion, value)
    sync(conn, setup)
    texts = [
        *conn.execute("SELECT created_at, updated_at FROM grades").fetchone(),
        *conn.execute("SELECT at FROM grade_events").fetchone(),
        *conn.execute("SELECT created_at, pushed_at FROM outbox").fetchone(),
        *conn.execute("SELECT synced_at FROM sync_state").fetchone(),
    ]
    for text in texts:
        assert len(text) == 27 and text.endswith("Z"), text
        assert canonical(parse_instant(text)) == text
    pushed = [
        json.loads(line) for line in (root / "store" / "scores.jsonl").read_text().splitlines()
    ]
    assert pushed and all(len(p["created_at"]) == 27 for p in pushed)


def test_a_run_with_an_unreadable_timestamp_is_a_problem_naming_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    bad_step = run_record(2)
    bad_step["steps"][0]["start_time"] = "half past nine"
    write_jsonl(
        folder / "runs.jsonl",
        [run_record(0), {**run_record(1), "start_time": "yesterday"}, bad_step],
    )
    connector = FileConnector("demo", folder)
    page = connector.list_runs(None, 100)
    assert [r.trace_id for r in page.runs] == ["trace-00000", "trace-00002"]
    assert page.problems == ["runs.jsonl:2: start_time: not an ISO 8601 timestamp: 'yesterday'"]
    # The summary is fine; the step's time is not, so the run cannot be hydrated.
    fetched = connector.fetch_runs(["trace-00002"])
    assert fetched == []
    assert fetched.problems == [
        "runs.jsonl:3: steps.0.start_time: not an ISO 8601 timestamp: 'half past nine' "
        "(run not fetched)"
    ]


def test_an_older_database_is_migrated_to_the_stored_form(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    old = sqlite3.connect(path, isolation_level=None)
    for script in store_db.MIGRATIONS[:2]:
        old.executescript(script)
    old.execute("PRAGMA user_version = 2")
    rows = [
        ("late", "2026-11-12T08:00:00.000Z"),
        ("early", "2026-11-12T09:00:00+02:00"),
        ("odd", "not a time"),
    ]
    for i, (rid, start) in enumerate(rows, start=1):
        old.execute(
            "INSERT INTO runs (id, source, run_id, workflow, started_at, status) "
            "VALUES (?, 'demo', ?, 'w', ?, 'ok')",
            (i, rid, start),
        )
        old.execute(
            "INSERT INTO assignments (reviewer, run, workflow, status, started_at, reason) "
            "VALUES ('ana', ?, 'w', 'ok', ?, 'sample')",
            (i, start),
        )
    old.execute(
        "INSERT INTO grades (run, reviewer, rubric_id, rubric_version, created_at, updated_at) "
        "VALUES (1, 'ana', 'r', 'v', '2026-11-24T00:00:00.000Z', '2026-11-24T01:00:00.000Z')"
    )
    old.close()

    conn = store_db.connect(path)
    assert scalar(conn, "PRAGMA user_version") == store_db.SCHEMA_VERSION >= 3
    assert dict(conn.execute("SELECT run_id, started_at FROM runs").fetchall()) == {
        "late": "2026-11-12T08:00:00.000000Z",
        "early": "2026-11-12T07:00:00.000000Z",
        "odd": "not a time",  # kept as it was: nothing to read it as
    }
    order = [r[0] for r in conn.execute("SELECT run FROM assignments ORDER BY started_at, run")]
    assert order == [2, 1, 3]
    assert conn.execute("SELECT created_at, updated_at FROM grades").fetchone()[:] == (
        "2026-11-24T00:00:00.000000Z",
        "2026-11-24T01:00:00.000000Z",
    )


def test_the_migration_rewrites_agentdecks_old_form_and_keeps_the_new_one() -> None:
    from store.timestamps import canonical_text

    assert canonical_text("2026-11-24T00:00:00.123Z") == "2026-11-24T00:00:00.123000Z"
    assert canonical_text("2026-11-24T00:00:00.123456Z") == "2026-11-24T00:00:00.123456Z"
    assert canonical_text("2026-11-24T02:00:00.123+02:00") == "2026-11-24T00:00:00.123000Z"
    assert canonical_text("soon") == "soon"
    assert canonical_text(None) is None

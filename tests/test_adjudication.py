"""Adjudication: the disputed queue, the final grade with its outbox row, its push as its own
scores, and how a sync reads them back (into adjudications, never as a reviewer's grade)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from review import grading
from review.adjudication import (
    ADJUDICATED,
    NotAllowed,
    RationaleRequired,
    adjudicate,
    disputed,
    get_adjudication,
    overlap_runs,
    overridden,
    queue_dict,
    queue_rows,
    refusal,
    unanimous,
)
from review.rubric import Rubric
from review.session import ReviewSetup, sync
from store.connectors import make_connector
from store.connectors.file import FileConnector
from store.db import connect
from store.identity import score_id
from store.models import ScoreMetadata
from store.outbox import pending_count, push
from tests.helpers import make_workspace, open_setup, run_record, scalar

AGREE = {"task_success": "pass", "intervention": "no", "policy": "safe"}


@pytest.fixture
def desk(tmp_path: Path) -> tuple[sqlite3.Connection, ReviewSetup, FileConnector, list[int]]:
    """A synced workspace with five runs, in start order, and no grades yet."""
    root = make_workspace(
        tmp_path / "ws",
        [run_record(i, start=f"2026-01-0{5 - i}T08:00:00Z") for i in range(5)],
        roster=("ana", "ben", "chen"),
        overlap=1.0,
        default_rate=1.0,
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    connector = make_connector(setup.workspace, setup.workspace.config.stores[0])
    assert isinstance(connector, FileConnector)
    # Runs by start time: trace-00004 starts first.
    runs = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started_at")]
    assert len(runs) == 5
    return conn, setup, connector, runs


def grade(
    conn: sqlite3.Connection,
    run: int,
    who: str,
    rubric: Rubric,
    values: dict[str, Any],
    comment: str | None = None,
) -> None:
    for criterion, value in values.items():
        grading.set_value(conn, run, who, rubric, criterion, value)
    if comment:
        grading.set_comment(conn, run, who, rubric, comment)


def grades_table(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every grade's content (a pull of the store's copy refreshes only ``updated_at``)."""
    return [
        tuple(r)
        for r in conn.execute(
            'SELECT run, reviewer, rubric_id, rubric_version, "values", comment, escalate, '
            "seconds_spent, complete, origin, first_wrong_step FROM grades ORDER BY id"
        )
    ]


def test_agreeing_and_disagreeing_runs_and_three_reviewers(desk: Any) -> None:
    conn, setup, _, runs = desk
    rubric = setup.rubric
    # runs[0]: two reviewers agree (an optional criterion only one of them rated is no dispute).
    grade(conn, runs[0], "ana", rubric, AGREE | {"tone": 5})
    grade(conn, runs[0], "ben", rubric, AGREE)
    # runs[1]: they disagree on task_success, with comments.
    grade(conn, runs[1], "ana", rubric, AGREE, "solved it")
    grade(conn, runs[1], "ben", rubric, AGREE | {"task_success": "fail"}, "wrong refund")
    # runs[2]: three reviewers, one of them differs on an optional criterion.
    grade(conn, runs[2], "ana", rubric, AGREE | {"tone": 5})
    grade(conn, runs[2], "ben", rubric, AGREE | {"tone": 5})
    grade(conn, runs[2], "chen", rubric, AGREE | {"tone": 3})
    # runs[3]: one complete grade and one draft: not an overlap run.
    grade(conn, runs[3], "ana", rubric, AGREE)
    grade(conn, runs[3], "ben", rubric, {"task_success": "fail"})
    # runs[4]: one reviewer only.
    grade(conn, runs[4], "chen", rubric, AGREE)

    overlap = overlap_runs(conn, rubric)
    assert [o.run for o in overlap] == runs[:3]  # in run start order

    queue = disputed(conn, rubric)
    assert [(o.run, o.differing) for o in queue] == [
        (runs[1], ("task_success",)),
        (runs[2], ("tone",)),
    ]
    two = queue[0]
    assert two.reviewers == ("ana", "ben")
    assert [(g.reviewer, g.values["task_success"], g.comment) for g in two.grades] == [
        ("ana", "pass", "solved it"),
        ("ben", "fail", "wrong refund"),
    ]
    assert not two.adjudicated and two.final_values() is None
    assert two.agreed == {"intervention": "no", "policy": "safe"}
    assert queue[1].reviewers == ("ana", "ben", "chen")

    [agreed] = unanimous(conn, rubric)
    assert agreed.run == runs[0]
    # tone was rated by one reviewer only: not part of what they agreed on.
    assert agreed.final_values() == AGREE
    assert [o.run for o in disputed(conn, rubric, workflow=two.workflow)] == [runs[1]]


def test_adjudicate_refuses_bad_values_and_writes_nothing(desk: Any) -> None:
    conn, setup, _, runs = desk
    rubric = setup.rubric
    grade(conn, runs[1], "ana", rubric, AGREE)
    grade(conn, runs[1], "ben", rubric, AGREE | {"policy": "violation"})
    outbox_before = scalar(conn, "SELECT count(*) FROM outbox")
    bad: list[tuple[dict[str, Any], str]] = [
        (AGREE | {"policy": "maybe"}, "is not a level of 'policy'"),
        ({"task_success": "pass", "intervention": "no"}, "missing: policy"),
        (AGREE | {"vibes": "good"}, "has no criterion 'vibes'"),
    ]
    for values, said in bad:
        with pytest.raises(ValueError, match=said):
            adjudicate(conn, runs[1], rubric, "dana", values)
    with pytest.raises(ValueError, match="adjudicator"):
        adjudicate(conn, runs[1], rubric, "  ", AGREE)
    with pytest.raises(ValueError, match="not in the local database"):
        adjudicate(conn, 99999, rubric, "dana", AGREE)
    assert scalar(conn, "SELECT count(*) FROM adjudications") == 0
    assert scalar(conn, "SELECT count(*) FROM outbox") == outbox_before


def test_adjudicate_pushes_its_own_scores_and_leaves_the_grades(desk: Any) -> None:
    conn, setup, connector, runs = desk
    rubric = setup.rubric
    run = runs[1]
    grade(conn, run, "ana", rubric, AGREE, "fine")
    grade(conn, run, "ben", rubric, AGREE | {"task_success": "fail"}, "not fine")
    push(conn, connector)
    grades_before = grades_table(conn)
    run_id = scalar(conn, "SELECT run_id FROM runs WHERE id = ?", run)

    final = adjudicate(
        conn, run, rubric, "dana", AGREE | {"task_success": "fail", "tone": "3"}, " refund wrong "
    )
    assert final.values == AGREE | {"task_success": "fail", "tone": 3}  # "3" is the level 3
    assert (final.adjudicator, final.comment) == ("dana", "refund wrong")
    assert get_adjudication(conn, run, rubric) == final
    [queued] = disputed(conn, rubric)
    assert queued.adjudicated and queued.final_values() == final.values
    assert disputed(conn, rubric, pending_only=True) == []

    [row] = conn.execute(
        "SELECT kind, reviewer, run, payload FROM outbox WHERE pushed_at IS NULL"
    ).fetchall()
    assert (row[0], row[1], row[2]) == ("adjudication", ADJUDICATED, run)
    payload = json.loads(row[3])
    assert payload["trace_id"] == run_id and payload["delete"] == []
    ids = {s["name"]: s["id"] for s in payload["upsert"]}
    assert ids == {c: score_id("demo", run_id, c, "adjudicated") for c in [*AGREE, "tone"]}
    for s in payload["upsert"]:
        assert s["metadata"]["kind"] == "adjudicated"
        assert s["metadata"]["adjudicator"] == "dana"
        assert s["metadata"]["reviewer"] == ADJUDICATED
        assert s["metadata"]["rubric_version"] == rubric.version
    assert pending_count(conn) == 1

    report = push(conn, connector)
    assert (report.pushed, report.failed) == (1, 0)
    live = [s for s in connector.list_scores() if s.metadata.kind == "adjudicated"]
    assert sorted(s.id for s in live) == sorted(ids.values())

    # Re-adjudicating updates the same remote scores; tone no longer set is deleted.
    adjudicate(conn, run, rubric, "erin", AGREE, "on reflection it passed")
    push(conn, connector)
    live = [s for s in connector.list_scores() if s.metadata.kind == "adjudicated"]
    assert sorted(s.id for s in live) == sorted(ids[c] for c in AGREE)
    assert {s.name: s.value for s in live} == AGREE
    assert {s.metadata.adjudicator for s in live} == {"erin"}

    # The same final grade again writes nothing: no outbox row, no new line in the store.
    size = connector.scores_path.stat().st_size
    outbox = scalar(conn, "SELECT count(*) FROM outbox")
    adjudicate(conn, run, rubric, "erin", AGREE, "on reflection it passed")
    assert scalar(conn, "SELECT count(*) FROM outbox") == outbox
    push(conn, connector)
    assert connector.scores_path.stat().st_size == size

    # A sync reads them back once, into adjudications; the reviewers' grades are unchanged.
    sync(conn, setup)
    assert scalar(conn, "SELECT count(*) FROM grades WHERE reviewer = ?", ADJUDICATED) == 0
    assert grades_table(conn) == grades_before
    assert scalar(conn, "SELECT count(*) FROM adjudications") == 1
    back = get_adjudication(conn, run, rubric)
    assert back is not None and back.values == AGREE and back.adjudicator == "erin"


def test_another_laptop_sees_the_adjudication(desk: Any, tmp_path: Path) -> None:
    conn, setup, connector, runs = desk
    rubric = setup.rubric
    grade(conn, runs[2], "ana", rubric, AGREE)
    grade(conn, runs[2], "ben", rubric, AGREE | {"intervention": "yes"})
    adjudicate(conn, runs[2], rubric, "dana", AGREE | {"intervention": "yes"}, "needed a human")
    sync(conn, setup)  # pushes, then pulls

    other = connect(tmp_path / "laptop2" / "agentdeck.db")
    sync(other, setup)
    trace = scalar(conn, "SELECT run_id FROM runs WHERE id = ?", runs[2])
    pk = scalar(other, "SELECT id FROM runs WHERE run_id = ?", trace)
    seen = get_adjudication(other, pk, rubric)
    assert seen is not None
    assert (seen.values, seen.comment, seen.adjudicator) == (
        AGREE | {"intervention": "yes"},
        "needed a human",
        "dana",
    )
    assert scalar(other, "SELECT count(*) FROM grades WHERE reviewer = ?", ADJUDICATED) == 0
    [queued] = disputed(other, rubric)
    assert queued.adjudicated
    # Nothing of it is this laptop's to push.
    assert pending_count(other) == 0


def test_a_local_unsent_adjudication_wins_over_the_store(desk: Any) -> None:
    conn, setup, connector, runs = desk
    rubric = setup.rubric
    grade(conn, runs[1], "ana", rubric, AGREE)
    grade(conn, runs[1], "ben", rubric, AGREE | {"policy": "violation"})
    adjudicate(conn, runs[1], rubric, "dana", AGREE)
    push(conn, connector)
    adjudicate(conn, runs[1], rubric, "dana", AGREE | {"policy": "violation"})
    sync(conn, setup, push_grades=False)
    final = get_adjudication(conn, runs[1], rubric)
    assert final is not None and final.values["policy"] == "violation"


def test_the_final_grade_and_its_outbox_row_commit_together(
    desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, setup, _, runs = desk

    def broken(*args: Any, **kwargs: Any) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("review.adjudication.enqueue", broken)
    with pytest.raises(sqlite3.OperationalError):
        adjudicate(conn, runs[0], setup.rubric, "dana", AGREE)
    assert scalar(conn, "SELECT count(*) FROM adjudications") == 0
    assert not conn.in_transaction


def test_score_metadata_of_a_grade_dumps_as_before() -> None:
    """The marks only appear on adjudicated scores: a re-pushed old grade writes no new line."""
    m = ScoreMetadata(reviewer="ana", rubric_id="r", rubric_version="v")
    assert set(m.model_dump(mode="json")) == {
        "reviewer",
        "rubric_id",
        "rubric_version",
        "escalate",
        "seconds_spent",
    }
    marked = ScoreMetadata.model_validate(
        {"reviewer": ADJUDICATED, "rubric_id": "r", "rubric_version": "v", "kind": "adjudicated"}
        | {"adjudicator": "dana"}
    )
    assert marked.model_dump(mode="json")["adjudicator"] == "dana"

    from store.connectors.phoenix import PhoenixConnector
    from store.models import Score

    score = Score(id="x", trace_id="t", name="policy", value="safe", metadata=marked)
    meta = PhoenixConnector._annotation(score, "span")["metadata"]
    assert (meta["kind"], meta["adjudicator"], meta["reviewer"]) == (
        "adjudicated",
        "dana",
        ADJUDICATED,
    )
    plain = Score(id="x", trace_id="t", name="policy", value="safe", metadata=m)
    assert "kind" not in PhoenixConnector._annotation(plain, "span")["metadata"]


def test_the_pseudo_reviewer_cannot_be_on_the_roster(tmp_path: Path) -> None:
    from store.documents import DocumentError
    from store.workspace import load_workspace

    root = make_workspace(tmp_path / "ws", [run_record(0)], roster=("ana", "adjudicated"))
    with pytest.raises(DocumentError, match="reserved for final grades"):
        load_workspace(root)


def test_the_demo_has_an_adjudication_queue(demo_workspace: Any) -> None:
    """The demo's overlap grades disagree on a realistic share of runs (about one in five)."""
    from review.session import load_setup

    setup = load_setup(demo_workspace)
    conn = connect(demo_workspace.db_path)
    sync(conn, setup)
    overlap = overlap_runs(conn, setup.rubric)
    queue = disputed(conn, setup.rubric)
    assert len(overlap) >= 20
    assert 0.15 <= len(queue) / len(overlap) <= 0.3
    assert {o.workflow for o in unanimous(conn, setup.rubric)} == {
        "billing-support",
        "crm-update",
        "refund-approvals",
    }


def test_overriding_what_every_reviewer_agreed_on_needs_a_rationale(desk: Any) -> None:
    conn, setup, connector, runs = desk
    rubric = setup.rubric
    run = runs[1]
    grade(conn, run, "ana", rubric, AGREE)
    grade(conn, run, "ben", rubric, AGREE | {"policy": "violation"})
    [queued] = disputed(conn, rubric)
    assert overridden(queued, AGREE) == []
    assert overridden(queued, AGREE | {"task_success": "fail"}) == ["task_success"]
    assert overridden(queued, {"policy": "safe"}) == ["task_success", "intervention"]
    outbox = scalar(conn, "SELECT count(*) FROM outbox")
    for blank in (None, "", "   "):
        with pytest.raises(RationaleRequired, match=r"task_success: pass → fail"):
            adjudicate(conn, run, rubric, "dana", AGREE | {"task_success": "fail"}, blank)
    assert scalar(conn, "SELECT count(*) FROM adjudications") == 0
    assert scalar(conn, "SELECT count(*) FROM outbox") == outbox
    # Settling only what they differ on needs none; overriding with a rationale is kept.
    adjudicate(conn, run, rubric, "dana", AGREE)
    final = adjudicate(
        conn, run, rubric, "dana", AGREE | {"task_success": "fail"}, "refund over the cap"
    )
    assert final.comment == "refund over the cap"
    push(conn, connector)
    live = [s for s in connector.list_scores() if s.metadata.kind == "adjudicated"]
    assert {s.name for s in live} == set(AGREE)
    assert {s.comment for s in live} == {"refund over the cap"}


def test_nobody_settles_a_run_they_graded_and_only_the_named_adjudicators(desk: Any) -> None:
    conn, setup, _, runs = desk
    rubric = setup.rubric
    run = runs[1]
    grade(conn, run, "ana", rubric, AGREE)
    grade(conn, run, "ben", rubric, AGREE | {"policy": "violation"})
    [queued] = disputed(conn, rubric)
    assert refusal(queued, "ana") == "you graded this run — ask another adjudicator"
    assert refusal(queued, "chen") is None
    assert refusal(queued, "chen", ["dana"]) is not None
    assert refusal(queued, "dana", ["dana"]) is None
    with pytest.raises(NotAllowed, match="ana graded this run"):
        adjudicate(conn, run, rubric, "ana", AGREE)
    with pytest.raises(NotAllowed, match="adjudicators names dana"):
        adjudicate(conn, run, rubric, "chen", AGREE, adjudicators=["dana"])
    assert scalar(conn, "SELECT count(*) FROM adjudications") == 0
    adjudicate(conn, run, rubric, "dana", AGREE, adjudicators=["dana"])
    assert scalar(conn, "SELECT adjudicator FROM adjudications") == "dana"


def test_report_disputes_marks_a_final_grade_set_by_one_of_its_reviewers(desk: Any) -> None:
    """Made before the rule (or pulled from a laptop without it): kept, and marked."""
    conn, setup, _, runs = desk
    rubric = setup.rubric
    grade(conn, runs[1], "ana", rubric, AGREE)
    grade(conn, runs[1], "ben", rubric, AGREE | {"policy": "violation"})
    conn.execute(
        'INSERT INTO adjudications (run, rubric_id, rubric_version, "values", comment, '
        "adjudicator, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, 'ben', 'x', 'x')",
        (runs[1], rubric.id, rubric.version, json.dumps(AGREE)),
    )
    data = queue_dict(disputed(conn, rubric), rubric)
    assert data["runs"][0]["adjudication"]["self_adjudicated"] is True
    assert queue_rows(data)[-1][2] == "final (ben, graded it too)"


def test_adjudicators_must_be_on_the_roster(tmp_path: Path) -> None:
    from store.documents import DocumentError
    from store.workspace import load_workspace

    root = make_workspace(tmp_path / "ws", [run_record(0)], roster=("ana", "ben"))
    config = root / "agentdeck.toml"
    text = config.read_text()
    config.write_text(text.replace("[review]\n", '[review]\nadjudicators = ["ben", "bne"]\n'))
    with pytest.raises(DocumentError, match=r"agentdeck.toml:\d+: .*adjudicator 'bne' is not in"):
        load_workspace(root)
    config.write_text(text.replace("[review]\n", '[review]\nadjudicators = ["ben"]\n'))
    assert load_workspace(root).config.review.adjudicators == ["ben"]

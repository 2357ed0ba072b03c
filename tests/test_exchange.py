"""Grades files: export on one laptop, import on another; idempotent, all-or-nothing, never over
a grade typed here, the same result whatever order lines and files arrive in."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review import grading
from review.exchange import GradesFileError, dumps_lines, export_grades, import_grades
from review.session import ReviewSetup, sync
from store.db import transaction
from store.outbox import pending_count
from tests.helpers import make_workspace, open_setup, run_record, scalar
from tests.test_cli import agentdeck

AGREE = {"task_success": "pass", "intervention": "no", "policy": "safe"}
RUNS = [run_record(i) for i in range(4)]


def laptop(root: Path, reviewer: str) -> tuple[sqlite3.Connection, ReviewSetup]:
    """A synced workspace over the same runs, as ``reviewer`` would have it."""
    ws = make_workspace(
        root, RUNS, reviewer=reviewer, roster=("ana", "ben", "chen"), overlap=1.0, default_rate=1.0
    )
    conn, setup = open_setup(ws)
    sync(conn, setup)
    return conn, setup


def pk(conn: sqlite3.Connection, trace_id: str) -> int:
    return int(scalar(conn, "SELECT id FROM runs WHERE run_id = ?", trace_id))


def grades(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in conn.execute(
            'SELECT r.run_id, g.reviewer, g.rubric_version, g."values", g.comment, g.escalate, '
            "g.seconds_spent, g.complete, g.first_wrong_step, g.origin, g.created_at, "
            "g.updated_at FROM grades g JOIN runs r ON r.id = g.run ORDER BY r.run_id, g.reviewer"
        )
    ]


@pytest.fixture
def two(tmp_path: Path) -> tuple[Any, Any]:
    return laptop(tmp_path / "a", "ana"), laptop(tmp_path / "b", "ben")


def test_round_trip_between_two_laptops(two: Any, tmp_path: Path) -> None:
    (a, setup_a), (b, _) = two
    rubric = setup_a.rubric
    hostile = "\x1b[2J[bold]refund[/] 退款 \u202eevil"
    for i, extra in enumerate([{}, {"tone": 5}, {"tool_use": "wrong"}]):
        run = pk(a, f"trace-{i:05d}")
        for c, v in (AGREE | extra).items():
            grading.set_value(a, run, "ana", rubric, c, v, seconds=3.5)
    grading.set_comment(a, pk(a, "trace-00001"), "ana", rubric, hostile)
    grading.toggle_first_wrong_step(a, pk(a, "trace-00002"), "ana", rubric, 1)
    grading.set_escalate(a, pk(a, "trace-00002"), "ana", rubric, True)
    grading.set_value(a, pk(a, "trace-00003"), "ana", rubric, "tone", 3)  # a draft: not exported

    sent = export_grades(a)
    assert [r["run_id"] for r in sent] == ["trace-00000", "trace-00001", "trace-00002"]
    # The mark on step index 1 is the run's second step: the file says 2, as the desk shows it.
    assert [r["first_wrong_step"] for r in sent] == [None, None, 2]
    file = tmp_path / "ana.jsonl"
    file.write_text(dumps_lines(sent), encoding="utf-8")

    done = import_grades(b, file)
    assert (done.lines, done.imported, done.unchanged, done.kept_local) == (3, 3, 0, 0)
    assert pending_count(b) == 0  # other reviewers' grades are never pushed from here
    assert scalar(b, "SELECT count(*) FROM grades WHERE origin = 'remote'") == 3
    # Imported grades count as graded in the queues that list them.
    assert (
        scalar(
            b,
            "SELECT count(*) FROM assignments a JOIN grades g ON g.run = a.run "
            "AND g.reviewer = a.reviewer WHERE g.complete = 1 AND a.graded = 0",
        )
        == 0
    )
    assert scalar(b, "SELECT count(*) FROM assignments WHERE graded = 1") > 0
    # B passes on exactly what A sent.
    assert export_grades(b, everyone=True, reviewers=["ana"]) == sent
    assert export_grades(b) == []  # nothing typed on B yet
    row = b.execute(
        "SELECT comment, first_wrong_step, escalate FROM grades WHERE run = ?",
        (pk(b, "trace-00002"),),
    ).fetchone()
    assert tuple(row) == (None, 1, 1)  # the same step (the database keeps its index)
    assert scalar(b, "SELECT comment FROM grades WHERE run = ?", pk(b, "trace-00001")) == hostile

    # Importing the same file again changes nothing.
    before = grades(b)
    again = import_grades(b, file)
    assert (again.imported, again.unchanged) == (0, 3)
    assert grades(b) == before

    # A file that comes back (B relays everything) never replaces a grade typed on A.
    back = tmp_path / "relay.jsonl"
    back.write_text(dumps_lines(export_grades(b, everyone=True)), encoding="utf-8")
    mine = grades(a)
    done = import_grades(a, back)
    assert (done.imported, done.kept_local) == (0, 3)
    assert grades(a) == mine


def test_a_newer_grade_replaces_an_older_one_never_a_local_one(two: Any, tmp_path: Path) -> None:
    (a, setup), (b, _) = two
    rubric = setup.rubric
    run_b = pk(b, "trace-00000")
    for c, v in AGREE.items():
        grading.set_value(b, run_b, "ben", rubric, c, v)
    line = {
        "source": "demo",
        "run_id": "trace-00000",
        "rubric_id": rubric.id,
        "rubric_version": rubric.version,
        "values": AGREE | {"task_success": "fail"},
        "graded_at": "2030-01-01T00:00:00Z",
    }
    file = tmp_path / "g.jsonl"
    file.write_text(
        dumps_lines([line | {"reviewer": "ben"}, line | {"reviewer": "chen"}]), encoding="utf-8"
    )
    done = import_grades(b, file)
    assert (done.imported, done.kept_local) == (1, 1)
    assert (
        json.loads(
            scalar(b, "SELECT \"values\" FROM grades WHERE reviewer = 'ben' AND run = ?", run_b)
        )
        == AGREE
    )
    older = tmp_path / "older.jsonl"
    older.write_text(
        dumps_lines(
            [line | {"reviewer": "chen", "graded_at": "2029-01-01T00:00:00Z"} | {"values": AGREE}]
        ),
        encoding="utf-8",
    )
    assert import_grades(b, older).unchanged == 1
    chen = scalar(b, "SELECT \"values\" FROM grades WHERE reviewer = 'chen' AND run = ?", run_b)
    assert json.loads(chen)["task_success"] == "fail"


def good_line(setup: ReviewSetup, run: str = "trace-00000", who: str = "chen") -> dict[str, Any]:
    return {
        "source": "demo",
        "run_id": run,
        "reviewer": who,
        "rubric_id": setup.rubric.id,
        "rubric_version": setup.rubric.version,
        "values": AGREE,
        "comment": None,
        "seconds_spent": 12.0,
        "graded_at": "2026-01-02T10:00:00Z",
    }


BAD_LINES: list[tuple[str, Any, str]] = [
    ("not json", '{"source": "demo", "run_id": ', "not valid JSON"),
    ("an array", "[1, 2]", "not a JSON object"),
    ("missing reviewer", {"drop": "reviewer"}, "reviewer"),
    ("bad level", {"values": AGREE | {"policy": "meh"}}, "'meh' is not a level of 'policy'"),
    ("unknown criterion", {"values": AGREE | {"vibes": "ok"}}, "no criterion 'vibes'"),
    ("unknown run", {"run_id": "trace-99999"}, "agentdeck sync"),
    ("unknown rubric version", {"rubric_version": "000000000000"}, "is not known here"),
    ("reserved reviewer", {"reviewer": "adjudicated"}, "reserved"),
    ("twice", {"run_id": "trace-00001", "reviewer": "ben"}, "also on line 2"),
    ("bad time", {"graded_at": "yesterday"}, "graded_at"),
    (
        "step 0",
        {"first_wrong_step": 0},
        "first_wrong_step: Input should be greater than or equal to 1",
    ),
    ("a draft", {"values": {"task_success": "fail"}}, "not complete (no intervention, policy)"),
]


@pytest.mark.parametrize(("name", "bad", "said"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_a_bad_line_imports_nothing(
    two: Any, tmp_path: Path, name: str, bad: Any, said: str
) -> None:
    _, (b, setup) = two
    lines = [good_line(setup), good_line(setup, "trace-00001", "ben")]
    if isinstance(bad, str):
        text = dumps_lines(lines) + bad + "\n"
    else:
        third = good_line(setup, "trace-00002") | {k: v for k, v in bad.items() if k != "drop"}
        third.pop(bad.get("drop", ""), None)
        text = dumps_lines([*lines, third])
    file = tmp_path / "bad.jsonl"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(GradesFileError) as err:
        import_grades(b, file)
    message = str(err.value)
    assert message.startswith(f"{file}:3: ") and said in message, message
    assert "\n" not in message
    assert scalar(b, "SELECT count(*) FROM grades") == 0
    assert not b.in_transaction


def test_cli_import_and_export(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", RUNS, reviewer="ben", overlap=1.0, default_rate=1.0)
    done = agentdeck("sync", cwd=ws)
    assert done.returncode == 0, done.stderr
    conn, setup = open_setup(ws)
    good = tmp_path / "good.jsonl"
    good.write_text(dumps_lines([good_line(setup)]), encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        dumps_lines([good_line(setup, "trace-00001"), good_line(setup) | {"values": {"x": 1}}]),
        encoding="utf-8",
    )
    done = agentdeck("import", "grades", str(bad), cwd=ws)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"{bad}:2: " in line and "nothing was imported" in line
    assert scalar(conn, "SELECT count(*) FROM grades") == 0

    done = agentdeck("import", "grades", str(good), cwd=ws)
    assert done.returncode == 0, done.stderr
    assert "1 imported" in done.stdout
    done = agentdeck("import", "grades", str(good), cwd=ws)
    assert "0 imported, 1 already here" in done.stdout

    out = tmp_path / "out.jsonl"
    done = agentdeck("export", "grades", "--all", "-o", str(out), cwd=ws)
    assert done.returncode == 0, done.stderr
    [record] = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert record == good_line(setup) | {
        "graded_at": "2026-01-02T10:00:00.000000Z",
        "escalate": False,
        "first_wrong_step": None,
    }
    done = agentdeck("export", "grades", cwd=ws)
    assert (done.returncode, done.stdout) == (0, "")  # nothing typed here


# -- order does not matter ------------------------------------------------------------------

KEYS = [(r, who) for r in ("trace-00000", "trace-00001", "trace-00002") for who in ("ana", "chen")]
TIMES = ["2026-01-02T10:00:00Z", "2026-01-02T10:00:00.000Z", "2026-01-03T10:00:00+02:00"]

versions = st.lists(
    st.tuples(
        st.sampled_from(KEYS),
        st.sampled_from(TIMES),
        st.sampled_from(["pass", "fail"]),
        st.sampled_from([None, "ok", "not ok"]),
    ),
    min_size=1,
    max_size=10,
)


def _files(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split lines, in order, into files that never hold the same grade twice."""
    files: list[list[dict[str, Any]]] = [[]]
    for line in lines:
        if any(
            (x["run_id"], x["reviewer"]) == (line["run_id"], line["reviewer"]) for x in files[-1]
        ):
            files.append([])
        files[-1].append(line)
    return files


@pytest.fixture
def base(tmp_path: Path) -> tuple[sqlite3.Connection, ReviewSetup]:
    return laptop(tmp_path / "b", "ben")


def _copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    fresh = sqlite3.connect(":memory:", isolation_level=None)
    conn.backup(fresh)
    return fresh


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(versions=versions, order=st.randoms(use_true_random=False), typed_at=st.integers(0, 12))
def test_import_order_and_local_grading_do_not_change_the_result(
    base: Any, tmp_path_factory: pytest.TempPathFactory, versions: Any, order: Any, typed_at: int
) -> None:
    conn, setup = base
    rubric = setup.rubric
    lines = [
        good_line(setup, run, who)
        | {"graded_at": at, "values": AGREE | {"task_success": ts}, "comment": note}
        for (run, who), at, ts, note in versions
    ]
    folder = tmp_path_factory.mktemp("files")

    def play(sequence: list[dict[str, Any]], typed: int) -> list[tuple[Any, ...]]:
        db = _copy(conn)
        steps: list[Any] = [("file", f) for f in _files(sequence)]
        steps.insert(min(typed, len(steps)), ("type", None))
        for n, (kind, batch) in enumerate(steps):
            if kind == "type":
                # ben grades a run here, between imports; chen's and ana's lines never touch it.
                run = int(scalar(db, "SELECT id FROM runs WHERE run_id = 'trace-00003'"))
                with transaction(db):
                    for c, v in AGREE.items():
                        grading.set_value(db, run, "ben", rubric, c, v)
                continue
            path = folder / f"{id(sequence)}-{n}.jsonl"
            path.write_text(dumps_lines(batch), encoding="utf-8")
            import_grades(db, path)
        return [
            row[:10]  # ben's local timestamps are the wall clock's
            for row in grades(db)
        ]

    shuffled = list(lines)
    order.shuffle(shuffled)
    assert play(shuffled, typed_at) == play(lines, 0)


def test_export_with_nothing_typed_here_points_at_all(tmp_path: Path) -> None:
    """The demo's grades all came from the store: the default export is empty, and says how
    to write them."""
    from tests.conftest import copy_sample_data

    root = copy_sample_data(tmp_path / "demo")
    assert agentdeck("sync", "--no-push", cwd=root).returncode in (0, 1)
    done = agentdeck("export", "grades", cwd=root)
    assert done.returncode == 0 and done.stdout == ""
    assert "--all writes the" in done.stderr and "complete grades here" in done.stderr
    everyone = agentdeck("export", "grades", "--all", cwd=root)
    assert everyone.returncode == 0 and len(everyone.stdout.splitlines()) > 100

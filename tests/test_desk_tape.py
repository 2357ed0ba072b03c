"""The desk in the app, as keys really arrive: bursts, random gaps, a slow disk, quitting at once,
a database that fails to read or to write. Each test checks the database afterwards."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import settle
from helpers import make_workspace, open_setup, run_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tape_model import SlowDesk, db_final
from textual import events

from review.session import load_setup, sync
from store.workspace import Workspace, load_workspace
from tui.app import make_app

SIZE = (120, 40)
#: What `p n s` and `f y v` grade on the demo rubric.
PNS = {"task_success": "pass", "intervention": "no", "policy": "safe"}
FYV = {"task_success": "fail", "intervention": "yes", "policy": "violation"}
CHARS = {"tab": "\t", "ctrl+q": None, "backspace": "\x7f", "enter": "\r", "escape": "\x1b"}
#: Keys named by their character in the tests, and their names in Textual.
NAMES = {".": "full_stop", ",": "comma", "!": "exclamation_mark", ";": "semicolon"}


def key_event(key: str) -> events.Key:
    return events.Key(NAMES.get(key, key), CHARS.get(key, key))


def burst(app, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Every key into the app's queue at once, as a terminal delivers keys read in one go."""
    for key in keys:
        app.post_message(key_event(key))


def todo_order(ws: Workspace) -> list[int]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT run FROM assignments WHERE reviewer = ? AND graded = 0 "
                "ORDER BY started_at, run",
                (ws.reviewer,),
            )
        ]
    finally:
        conn.close()


def local_grades(ws: Workspace) -> dict[int, dict]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return {
            run: {"values": json.loads(values), "complete": complete}
            for run, values, complete in conn.execute(
                'SELECT run, "values", complete FROM grades WHERE reviewer = ? AND origin = '
                "'local'",
                (ws.reviewer,),
            )
        }
    finally:
        conn.close()


@pytest.fixture
def synced_demo(demo_workspace: Workspace) -> Workspace:
    """The demo workspace with its store pulled into the database (so the queue is known)."""
    from store.db import connect

    conn = connect(demo_workspace.db_path)
    sync(conn, load_setup(demo_workspace))
    conn.close()
    return demo_workspace


async def wait_until(pilot, cond, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    # Polling for a state, not timing it: the limit only stops a hung test.
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


async def test_eight_runs_in_one_burst_land_on_eight_runs(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = todo_order(demo_workspace)[:9]
        assert app.desk.current_run == todo[0]
        burst(app, list("pns" * 8))
        await settle(pilot)
        assert app.desk.current_run == todo[8], "the ninth run to grade is open"
    grades = local_grades(demo_workspace)
    assert sorted(grades) == sorted(todo[:8])
    for run in todo[:8]:
        assert grades[run]["complete"] == 1
        assert grades[run]["values"] == PNS


async def test_quitting_right_after_a_burst_saves_every_key(synced_demo: Workspace) -> None:
    demo_workspace = synced_demo
    app = make_app(demo_workspace, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = todo_order(demo_workspace)[:14]
        assert len(todo) == 14
        # 43 keys: fourteen runs and a half, then ctrl+q in the same read.
        burst(app, [*("fyv" * 14), "p", "ctrl+q"])
        await wait_until(pilot, lambda: not app.is_running, "the app to quit")
    grades = local_grades(demo_workspace)
    for run in todo:
        assert grades[run]["values"] == FYV, run
    half = [run for run, g in grades.items() if g["complete"] == 0]
    assert len(half) == 1 and grades[half[0]]["values"] == {"task_success": "pass"}
    assert len(grades) == 15


async def test_keys_typed_before_the_desk_opens_apply_to_the_first_run(
    synced_demo: Workspace,
) -> None:
    demo_workspace = synced_demo
    app = make_app(demo_workspace, sync_on_start=False)
    first = todo_order(demo_workspace)[0]
    async with app.run_test(size=SIZE) as pilot:
        burst(app, list("pns"))
        await settle(pilot)
    assert local_grades(demo_workspace)[first]["complete"] == 1


# -- the property: any keys, any pace, any disk, end as the slow model -----------------------------

KEYS = ["p", "f", "y", "n", "s", "v", "g", "3", "j", "k", "u", "e", "tab", ".", ",", "!", ";"]
KEYS += ["a", "escape", "backspace", "z", "enter"]
WHOLE = [
    ["p", "n", "s"],
    ["f", "y", "v"],
    ["p", "n"],
    [".", "!"],
    ["p", "p"],
    ["backspace", "p"],
    ["backspace", "e"],
    ["z", "n", "o", "enter"],
    ["z", "j", "escape"],
]


@pytest.fixture(scope="module")
def small_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 runs, all in ana's queue, synced; a few graded already."""
    from review import grading

    root = make_workspace(
        tmp_path_factory.mktemp("desk") / "ws",
        [run_record(i) for i in range(14)],
        roster=("ana",),
        default_rate=1.0,
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    order = [r[0] for r in conn.execute("SELECT run FROM assignments ORDER BY started_at, run")]
    for run in (order[1], order[4]):
        for criterion, value in (
            ("task_success", "pass"),
            ("intervention", "no"),
            ("policy", "safe"),
        ):
            grading.set_value(conn, run, "ana", setup.rubric, criterion, value)
    conn.close()
    return root


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=st.lists(
        st.one_of(st.sampled_from(KEYS).map(lambda k: [k]), st.sampled_from(WHOLE)),
        max_size=14,
    ).map(lambda chunks: [k for chunk in chunks for k in chunk]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_keys_at_any_pace_on_a_slow_disk_end_as_the_slow_model(
    small_workspace: Path, tmp_path_factory: pytest.TempPathFactory, keys: list[str], seed: int
) -> None:
    root = tmp_path_factory.mktemp("ex") / "ws"
    shutil.copytree(small_workspace, root)
    ws = load_workspace(root)
    rubric = load_setup(ws).rubric
    conn = sqlite3.connect(ws.db_path)
    model = SlowDesk.from_db(conn, "ana", rubric)
    conn.close()
    for key in keys:
        model.press(key)
    rng = random.Random(seed)

    async def drive() -> tuple[int | None, int | None, int | None]:
        app = make_app(ws, sync_on_start=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            submit = app.services.writer.submit

            def slow(fn):  # type: ignore[no-untyped-def]
                delay = rng.choice([0.0, 0.0, 0.002, 0.02])

                def run(conn):  # type: ignore[no-untyped-def]
                    time.sleep(delay)
                    return fn(conn)

                return submit(run)

            app.services.writer.submit = slow  # type: ignore[method-assign]
            for key in keys:
                app.post_message(key_event(key))
                if rng.random() < 0.4:
                    await asyncio.sleep(rng.choice([0.0, 0.001, 0.01]))
            await settle(pilot)
            return app.desk.current_run, app.desk.index, app.desk.total

    shown, index, total = asyncio.run(drive())
    conn = sqlite3.connect(ws.db_path)
    try:
        assert db_final(conn, "ana", rubric, model.order) == model.final()
    finally:
        conn.close()
    assert shown == model.cur
    # Where the queue shows the cursor and how long it says the view is, kept up to date by
    # the reports alone, match the model's view.
    view = model.view()
    assert total == len(view)
    assert index == (view.index(model.cur) if model.cur in view else None)


# -- errors never end the app ----------------------------------------------------------------------


async def test_a_failing_read_is_shown_and_the_desk_runs_on(synced_demo: Workspace) -> None:
    demo_workspace = synced_demo
    app = make_app(demo_workspace, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        submit = app.services.reader.submit
        failing = threading.Event()
        failing.set()

        def broken(fn):  # type: ignore[no-untyped-def]
            def run(conn):  # type: ignore[no-untyped-def]
                if failing.is_set():
                    raise sqlite3.OperationalError("database is locked")
                return fn(conn)

            return submit(run)

        app.services.reader.submit = broken  # type: ignore[method-assign]
        # j needs the next run's details from the read thread: the read fails.
        await pilot.press("j")
        await settle(pilot)
        assert app.is_running
        assert "busy" in (app.services.status.error or "")
        failing.clear()
        await pilot.press("k", "p", "n", "s")
        await settle(pilot)
        assert app.is_running
        assert local_grades(demo_workspace)[first]["complete"] == 1


async def test_a_full_disk_keeps_the_keys_and_saves_them_when_there_is_room(
    synced_demo: Workspace, small_disk
) -> None:  # type: ignore[no-untyped-def]
    demo_workspace = synced_demo
    # The database moves onto a small filesystem that the test then fills: a real full disk.
    db = small_disk.path / "agentdeck.db"
    src, dst = sqlite3.connect(demo_workspace.db_path), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    demo_workspace.config.workspace.database = str(db)
    app = make_app(demo_workspace, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = todo_order(demo_workspace)[:2]
        small_disk.fill()
        burst(app, list("pnsfyv"))
        await wait_until(pilot, lambda: app.services.status.error is not None, "the error")
        assert "disk is full" in app.services.status.error
        status = str(app.desk.query_one("#status").render())
        assert "disk is full" in status
        assert app.is_running
        assert local_grades(demo_workspace) == {}, "nothing half-saved"
        small_disk.free()
        app.services.tape.retry_now()
        await settle(pilot)
        assert app.services.status.error is None
        assert app.is_running
    grades = local_grades(demo_workspace)
    assert grades[todo[0]]["values"] == PNS
    assert grades[todo[1]]["values"] == FYV


def test_opening_on_a_full_disk_says_the_disk_is_full(synced_demo: Workspace, small_disk) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    ws = synced_demo
    for name in ("agentdeck.db", "agentdeck.db-wal"):
        source = ws.db_path.with_name(name)
        if source.exists():
            shutil.copy(source, small_disk.path / name)
    config = ws.config_path.read_text(encoding="utf-8")
    database = small_disk.path / "agentdeck.db"
    ws.config_path.write_text(
        config.replace("[workspace]\n", f'[workspace]\ndatabase = "{database}"\n', 1),
        encoding="utf-8",
    )
    small_disk.fill()
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "-w", str(ws.root)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert "disk is full" in done.stderr
    assert "not an agentdeck database" not in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# -- after a sync ----------------------------------------------------------------------------------


async def test_a_grade_pulled_by_a_sync_shows_on_the_open_run(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        conn = sqlite3.connect(demo_workspace.db_path)
        source, run_id = conn.execute(
            "SELECT source, run_id FROM runs WHERE id = ?", (run,)
        ).fetchone()
        version = conn.execute("SELECT version FROM rubrics").fetchone()[0]
        conn.close()
        # Another laptop of the same reviewer graded this run and pushed it to the store.
        from store.identity import score_id

        lines = [
            {
                "id": score_id(source, run_id, criterion, "ana"),
                "trace_id": run_id,
                "name": criterion,
                "value": value,
                "comment": None,
                "created_at": "2026-11-20T10:00:00.000Z",
                "metadata": {
                    "reviewer": "ana",
                    "rubric_id": "support-quality",
                    "rubric_version": version,
                    "escalate": False,
                    "seconds_spent": 3.0,
                },
            }
            for criterion, value in (("task_success", "fail"), ("intervention", "yes"))
        ]
        with (demo_workspace.root / "store" / "scores.jsonl").open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line) + "\n")
        app.desk.action_sync()
        await settle(pilot)
        assert app.desk.current_run == run
        assert app.desk.grade is not None
        assert app.desk.grade.values == {"task_success": "fail", "intervention": "yes"}
        panel = str(app.desk.query_one("#rubric").render())
        assert "2 of 3 required set" in panel


async def test_a_push_skipped_during_a_sync_happens_when_it_ends(synced_demo: Workspace) -> None:
    demo_workspace = synced_demo
    app = make_app(demo_workspace, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        await pilot.press("p", "n", "s")
        await settle(pilot)
        assert app.services.status.pending == 1
        app.services.set_status(syncing=True)  # a sync is running
        app.services.push_due()  # the push timer fires: it must wait, not be lost
        await pilot.pause(0.1)
        assert not [w for w in app.workers if w.group == "push"], "no push during a sync"
        assert app.services.status.pending == 1
        app.services.sync_finished(None)  # the sync ends
        await settle(pilot)
        assert app.services.status.pending == 0
    conn = sqlite3.connect(demo_workspace.db_path)
    pushed = conn.execute(
        "SELECT count(*) FROM outbox WHERE run = ? AND pushed_at IS NOT NULL", (first,)
    ).fetchone()[0]
    conn.close()
    assert pushed == 1


async def test_f_keys_switch_areas_and_back(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        await pilot.press("f2")
        await settle(pilot)
        assert app.current_mode == "oncall"
        board = app.screen.query_one("#board")
        assert board.row_count == 8, "the demo's eight incidents"
        await pilot.press("p")  # not a grade here
        await pilot.press("f3")
        await settle(pilot)
        assert app.current_mode == "reports"
        await pilot.press("f1")
        await settle(pilot)
        assert app.current_mode == "review"
        assert app.desk.current_run == run
    assert local_grades(demo_workspace) == {}


async def test_escape_typed_fast_before_a_key_is_escape_then_the_key(
    synced_demo: Workspace,
) -> None:
    """A terminal sends escape as ESC and alt+p as ESC p, so escape typed just before `p`
    arrives as alt+p. The desk binds nothing to alt: it is escape, then p."""
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        burst(app, ["c", "x", "y", "z"])
        app.post_message(events.Key("alt+p", None))
        burst(app, ["n", "s"])
        await settle(pilot)
        assert app.desk.state.mode == "desk"
    grades = local_grades(ws)
    assert grades[first]["values"] == PNS
    conn = sqlite3.connect(ws.db_path)
    comment = conn.execute("SELECT comment FROM grades WHERE run = ?", (first,)).fetchone()[0]
    conn.close()
    assert comment is None, "escape cancelled the comment"


async def test_a_failing_write_keeps_the_keys_and_the_app_runs(synced_demo: Workspace) -> None:
    """Without a small filesystem to fill: every write fails as SQLite fails on a full disk
    (the error raised inside the tape's transaction), then the disk recovers."""
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = todo_order(ws)[:2]
        failing = threading.Event()
        failing.set()
        submit = app.services.writer.submit

        def broken(fn):  # type: ignore[no-untyped-def]
            def run(conn):  # type: ignore[no-untyped-def]
                if failing.is_set():
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("ROLLBACK")
                    raise sqlite3.OperationalError("database or disk is full")
                return fn(conn)

            return submit(run)

        app.services.writer.submit = broken  # type: ignore[method-assign]
        burst(app, list("pnsfyv"))
        await wait_until(pilot, lambda: app.services.status.error is not None, "the error")
        assert "disk is full" in app.services.status.error
        assert app.is_running
        assert app.services.unsaved() == 6, "every key waits, in order"
        assert local_grades(ws) == {}
        failing.clear()
        app.services.tape.retry_now()
        await settle(pilot)
        assert app.services.status.error is None
    grades = local_grades(ws)
    assert grades[todo[0]]["values"] == PNS
    assert grades[todo[1]]["values"] == FYV


# -- the step cursor and the first wrong step ------------------------------------------------------


def grade_row(ws: Workspace, run: int) -> tuple[dict, int | None, int] | None:
    conn = sqlite3.connect(ws.db_path)
    try:
        row = conn.execute(
            'SELECT "values", first_wrong_step, complete FROM grades WHERE reviewer = ? '
            "AND run = ?",
            (ws.reviewer, run),
        ).fetchone()
    finally:
        conn.close()
    return (json.loads(row[0]), row[1], row[2]) if row else None


def step_score(ws: Workspace, run: int) -> list[dict]:
    conn = sqlite3.connect(ws.db_path)
    try:
        row = conn.execute(
            "SELECT payload FROM outbox WHERE run = ? ORDER BY id DESC LIMIT 1", (run,)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None, "no outbox row"
    return [s for s in json.loads(row[0])["upsert"] if s["name"] == "first_wrong_step"]


async def test_step_keys_move_the_cursor_mark_undo_and_push(synced_demo: Workspace) -> None:
    from tui.widgets.run_view import MARK, RunView

    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        view = app.screen.query_one(RunView)
        await pilot.press("full_stop", "full_stop", "comma", "full_stop")
        await settle(pilot)
        assert app.desk.state.step == 1 and view.step_cursor == 1
        await pilot.press("exclamation_mark")
        await settle(pilot)
        assert grade_row(ws, first) == ({}, 1, 0)
        assert view.marked_step == 1 and MARK in view.section_text("steps")
        await pilot.press("exclamation_mark")  # again on the same step: it stays
        await settle(pilot)
        assert grade_row(ws, first) == ({}, 1, 0)
        await pilot.press("backspace", "exclamation_mark")  # clear, then the mark
        await settle(pilot)
        assert grade_row(ws, first) == ({}, None, 0)
        await pilot.press("u")  # undo brings the mark back
        await settle(pilot)
        assert grade_row(ws, first) == ({}, 1, 0)
        assert view.marked_step == 1
        # Completing the grade pushes the mark on its step (the demo's file store has no span
        # ids: span_id None; the value is the step's number as a person reads it, from 1).
        await pilot.press("p", "n", "s")
        await settle(pilot)
        assert app.desk.current_run != first and app.desk.state.step is None
        assert view.step_cursor is None and MARK not in view.section_text("steps")
    (score,) = step_score(ws, first)
    assert score["value"] == 2 and score["span_id"] is None  # index 1 is the second step
    assert score["metadata"]["reviewer"] == ws.reviewer
    assert grade_row(ws, first) == (PNS, 1, 1)


async def test_a_burst_of_step_and_level_keys_lands_on_the_right_runs(
    synced_demo: Workspace,
) -> None:
    """`. . ! p n s , ! f y v` in one read: run 1 marked on step 2 and graded, run 2 marked on
    its last step and graded, run 3 open with no step cursor."""
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = todo_order(ws)[:3]
        assert app.desk.current_run == todo[0]
        burst(app, list("..!pns,!fyv"))
        await settle(pilot)
        assert app.desk.current_run == todo[2] and app.desk.state.step is None
    conn = sqlite3.connect(ws.db_path)
    last = conn.execute("SELECT count(*) - 1 FROM steps WHERE run = ?", (todo[1],)).fetchone()[0]
    conn.close()
    assert grade_row(ws, todo[0]) == (PNS, 1, 1)
    assert grade_row(ws, todo[1]) == (FYV, last, 1)
    assert [s["value"] for s in step_score(ws, todo[1])] == [last + 1]  # a number, from 1


def last_payload(ws: Workspace, run: int) -> dict:
    conn = sqlite3.connect(ws.db_path)
    try:
        row = conn.execute(
            "SELECT payload FROM outbox WHERE run = ? ORDER BY id DESC LIMIT 1", (run,)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None, "no outbox row"
    return json.loads(row[0])


async def test_a_double_tapped_level_keeps_it_and_clear_then_undo_work(
    synced_demo: Workspace,
) -> None:
    """A level key on the level already set keeps it (a double tap never takes an answer
    back); backspace then a level key clears that criterion; `u` undoes the clear. Clearing a
    required criterion of a complete grade withdraws its scores; undo pushes them again."""
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        await pilot.press("g", "g", "3", "3")
        await settle(pilot)
        assert grade_row(ws, first) == ({"tool_use": "good", "tone": 3}, None, 0)
        await pilot.press("backspace")
        await settle(pilot)
        status = str(app.desk.query_one("#status").render())
        assert "clear: press the answer's key" in status
        await pilot.press("g")  # clear tool_use
        await settle(pilot)
        assert "clear:" not in str(app.desk.query_one("#status").render())
        assert grade_row(ws, first) == ({"tone": 3}, None, 0)
        await pilot.press("backspace", "escape", "j")  # cancelled: the j after it moves
        await settle(pilot)
        assert grade_row(ws, first) == ({"tone": 3}, None, 0)
        assert app.desk.current_run != first
        await pilot.press("u")  # undo the clear: reopens the run, tool_use is back
        await settle(pilot)
        assert app.desk.current_run == first
        assert grade_row(ws, first) == ({"tool_use": "good", "tone": 3}, None, 0)
        await pilot.press("p", "p", "n", "n", "s")  # doubled taps still complete this run
        await settle(pilot)
        assert app.desk.current_run != first
        assert grade_row(ws, first) == ({**PNS, "tool_use": "good", "tone": 3}, None, 1)
        for _ in range(50):  # back to it (graded runs may lie between)
            if app.desk.current_run == first:
                break
            await pilot.press("k")
            await settle(pilot)
        assert app.desk.current_run == first
        await pilot.press("n")  # the level already chosen: kept, still complete
        await settle(pilot)
        assert grade_row(ws, first)[2] == 1
        await pilot.press("backspace", "n")  # clear a required criterion
        await settle(pilot)
        assert app.desk.current_run == first
        assert grade_row(ws, first) == (
            {"task_success": "pass", "policy": "safe", "tool_use": "good", "tone": 3},
            None,
            0,
        )
        payload = last_payload(ws, first)
        assert payload["upsert"] == [] and len(payload["delete"]) >= 4
        await pilot.press("u")  # undo: complete again, pushed again
        await settle(pilot)
        assert grade_row(ws, first) == ({**PNS, "tool_use": "good", "tone": 3}, None, 1)
        assert {s["name"] for s in last_payload(ws, first)["upsert"]} == {
            *PNS,
            "tool_use",
            "tone",
        }


async def test_a_burst_through_the_card_and_a_run_outside_the_queue_lands_in_order(
    synced_demo: Workspace,
) -> None:
    """In one burst: the card opened (a level key over it grades nothing), closed, a level
    key; then a run outside the queue found (a level key on it is refused), escape, and a level
    key that lands on the queue run the desk went back to."""
    ws = synced_demo
    conn = sqlite3.connect(ws.db_path)
    outside = conn.execute(
        "SELECT id, run_id FROM runs WHERE id NOT IN "
        "(SELECT run FROM assignments WHERE reviewer = ?) LIMIT 1",
        (ws.reviewer,),
    ).fetchone()
    conn.close()
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        keys = ["a", "f", "escape", "p", "slash", *outside[1], "enter", "f", "escape", "y"]
        burst(app, keys)
        await settle(pilot)
        assert app.desk.current_run == first and not app.desk.state.foreign
    grades = local_grades(ws)
    assert grades[first]["values"] == {"task_success": "pass", "intervention": "yes"}
    assert outside[0] not in grades


def rubric_pane(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.desk.query_one("#rubric").render())


async def test_grading_top_to_bottom_puts_every_answer_on_the_run_shown(
    synced_demo: Workspace,
) -> None:
    """The pane lists the optional criteria first and marks the answer that completes the
    grade; answering in the pane's order, optional ones included, grades one run."""
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        pane = rubric_pane(app)
        order = [pane.index(c) for c in ("tool_use", "tone", "task_success", "intervention")]
        assert order == sorted(order), "optional criteria above the required block"
        assert pane.index("policy *") > order[-1]
        # The pane's order, top to bottom: w 3 (optional), then f y s (required).
        await pilot.press("w", "3", "f", "y")
        await settle(pilot)
        assert "policy * ← saves and opens the next" in rubric_pane(app)
        await pilot.press("s")
        await settle(pilot)
        assert grade_row(ws, first) == (
            {**FYV, "policy": "safe", "tool_use": "wasteful", "tone": 3},
            None,
            1,
        )
        second = app.desk.current_run
        assert second != first
        assert grade_row(ws, second) is None, "nothing landed on the next run"


async def test_advance_enter_waits_for_enter(synced_demo: Workspace) -> None:
    ws = synced_demo
    toml = ws.config_path.read_text(encoding="utf-8")
    ws.config_path.write_text(
        toml.replace("[review]\n", '[review]\nadvance = "enter"\n', 1), encoding="utf-8"
    )
    ws = load_workspace(ws.root)
    assert ws.config.review.advance == "enter"
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        await pilot.press("f", "y", "s", "w")  # the grade completes on s; w lands here too
        await settle(pilot)
        assert app.desk.current_run == first, "enter mode waits"
        assert grade_row(ws, first) == ({**FYV, "policy": "safe", "tool_use": "wasteful"}, None, 1)
        assert "enter: next run" in rubric_pane(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.desk.current_run != first
        assert grade_row(ws, app.desk.current_run) is None


async def test_skip_with_a_reason_is_kept_shown_not_pushed_and_undone(
    synced_demo: Workspace,
) -> None:
    from tui.widgets.queue_list import QueueList, row_cells

    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        conn = sqlite3.connect(ws.db_path)
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        conn.close()
        await pilot.press("z", "enter")  # a reason is required: the box stays
        await settle(pilot)
        assert app.desk.state.mode == "skip" and app.desk.current_run == first
        await pilot.press(*"output cut off", "enter")
        await settle(pilot)
        assert app.desk.current_run != first, "a skip opens the next run to grade"
        conn = sqlite3.connect(ws.db_path)
        try:
            reason, complete = conn.execute(
                "SELECT skip_reason, complete FROM grades WHERE run = ? AND reviewer = ?",
                (first, ws.reviewer),
            ).fetchone()
            graded = conn.execute(
                "SELECT graded FROM assignments WHERE run = ? AND reviewer = ?",
                (first, ws.reviewer),
            ).fetchone()[0]
            assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == outbox
        finally:
            conn.close()
        assert (reason, complete, graded) == ("output cut off", 0, 2)
        queue = app.desk.query_one(QueueList)
        row = next(
            queue.row(i)
            for i in range(queue.total)
            if queue.row(i) is not None and queue.row(i).run == first
        )
        assert row.skipped and row_cells(row, 60).startswith("»")
        for _ in range(50):  # back to it (graded runs may lie between)
            if app.desk.current_run == first:
                break
            await pilot.press("k")
            await settle(pilot)
        assert app.desk.current_run == first
        assert "skipped: output cut off" in rubric_pane(app)
        await pilot.press("u")
        await settle(pilot)
        assert grade_row(ws, first) is None
        assert "skipped" not in rubric_pane(app)


async def test_a_key_with_no_meaning_says_so(synced_demo: Workspace) -> None:
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        # Said in the status line (not in a toast), until the next key.
        for key, said in [
            ("J", "J is not bound — Caps Lock on? j is Next."),
            ("2", "2 is not an answer: tone takes 1, 3 or 5."),
            ("P", "P is not bound — Caps Lock on? p is pass (task_success)."),
        ]:
            await pilot.press(key)
            await settle(pilot)
            status = str(app.desk.query_one("#status").render())
            assert status.startswith(" " + said), status
            assert "outbox" in status
        assert not app._notifications
        assert app.desk.current_run == first
        assert grade_row(ws, first) is None
        await pilot.press("down")  # the next key takes the message away
        await settle(pilot)
        assert "not bound" not in str(app.desk.query_one("#status").render())


async def test_a_burst_counts_no_time_on_runs_it_never_saw_drawn(synced_demo: Workspace) -> None:
    """Time spent counts from when the run is on screen: a burst that grades three runs before
    the second and third are drawn records 0 s on those two (not 0.0001 s)."""
    ws = synced_demo
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = todo_order(ws)
        burst(app, ["p", "n", "s", "f", "y", "v", "p", "n", "s"])
        await settle(pilot)
    conn = sqlite3.connect(ws.db_path)
    try:
        spent = dict(
            conn.execute(
                "SELECT run, seconds_spent FROM grades WHERE reviewer = ? AND complete = 1 "
                "AND run IN (?, ?, ?)",
                (ws.reviewer, *todo[:3]),
            ).fetchall()
        )
    finally:
        conn.close()
    assert set(spent) == set(todo[:3])
    assert spent[todo[0]] >= 0.0
    assert spent[todo[1]] == 0.0 and spent[todo[2]] == 0.0

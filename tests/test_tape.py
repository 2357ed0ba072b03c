"""The key tape without a terminal: keys applied on the database thread, in order, in batches.

The property test feeds random key sequences with random gaps into a real database thread whose
every call is delayed by a random amount, and checks the database ends exactly as a plain model
that applies the same keys slowly (tests/tape_model.py).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import make_workspace, open_setup, run_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tape_model import SlowDesk, db_final

from review import grading
from review import tape as t
from review.rubric import Rubric
from review.session import sync
from store.db import connect
from store.db_thread import DbThread

ACTIONS = {
    "j": t.NEXT,
    "k": t.PREV,
    "u": t.UNDO,
    "e": t.ESCALATE,
    "tab": t.FILTER_GRADED,
    ".": t.NEXT_STEP,
    ",": t.PREV_STEP,
    "!": t.MARK_STEP,
    ";": t.FILTER_WEEK,
    "a": t.CARD,
    "backspace": t.CLEAR,
    "z": t.SKIP,
    "enter": t.NEXT_TODO,
}
LEVELS = ["p", "f", "y", "n", "s", "v", "g", "1"]
KEYS = [*LEVELS, *ACTIONS, "escape"]
WHOLE = [
    ["p", "n", "s"],
    ["f", "y", "v"],
    ["p", "n", "s", "g"],
    ["g", "3", "p", "n", "s"],
    ["p", "n"],
    ["p", "p"],
    [".", "!"],
    [".", ".", "!"],
    [",", "!"],
    ["backspace", "p"],
    ["backspace", "e"],
    ["backspace", "!"],
    ["backspace", "z"],
    ["z", "n", "o", "enter"],
    ["z", "enter", "x", "enter"],
    ["z", "j", "escape"],
]
#: Characters the terminal sends with named keys (none for tab: a tab never types text).
CHARS = {"tab": None, "backspace": None, "enter": "\r", "escape": "\x1b"}


def press(key: str, at: float = 0.0) -> t.Press:
    """A key as the screen sends it: its name, its character, and the desk action it is bound to."""
    names = {
        " ": "space",
        ".": "full_stop",
        ",": "comma",
        "!": "exclamation_mark",
        ";": "semicolon",
    }
    char = CHARS.get(key, key)
    return t.Press(names.get(key, key), char, ACTIONS.get(key), at)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Rubric]:
    """A synced workspace of 14 runs, all in ana's queue; some graded, one half graded."""
    root = make_workspace(
        tmp_path_factory.mktemp("tape") / "ws",
        [run_record(i) for i in range(14)],
        roster=("ana",),
        default_rate=1.0,
    )
    conn, setup = open_setup(root)
    sync(conn, setup)
    rubric = setup.rubric
    order = [r[0] for r in conn.execute("SELECT run FROM assignments ORDER BY started_at, run")]
    assert len(order) == 14
    for run in (order[1], order[4], order[5]):
        for criterion, value in (
            ("task_success", "pass"),
            ("intervention", "no"),
            ("policy", "safe"),
        ):
            grading.set_value(conn, run, "ana", rubric, criterion, value)
    grading.set_value(conn, order[7], "ana", rubric, "task_success", "fail")
    conn.close()
    return setup.workspace.db_path, rubric


def fresh_db(template: tuple[Path, Rubric], tmp: Path) -> Path:
    src, _ = template
    tmp.mkdir(parents=True, exist_ok=True)
    dst = tmp / "agentdeck.db"
    src_conn = sqlite3.connect(src)
    dst_conn = sqlite3.connect(dst)
    src_conn.backup(dst_conn)
    src_conn.close()
    dst_conn.close()
    return dst


class SlowDb(DbThread):
    """The database thread with every call held back a random moment: a slow, uneven disk."""

    def __init__(self, path: Path, rng: random.Random, most: float) -> None:
        super().__init__(path)
        self.rng, self.most = rng, most

    def submit(self, fn):  # type: ignore[no-untyped-def]
        delay = self.rng.uniform(0, self.most)

        def slow(conn):  # type: ignore[no-untyped-def]
            time.sleep(delay)
            return fn(conn)

        return super().submit(slow)


def run_tape(
    db_path: Path,
    rubric: Rubric,
    keys: list[str],
    rng: random.Random,
    *,
    gap: float,
    delay: float,
    advance: str = t.AUTO,
) -> t.DeskTape:
    db = SlowDb(db_path, rng, delay)
    tape = t.DeskTape("ana", rubric, advance=advance)
    reports: list[t.DeskReport] = []
    errors: list[str] = []

    def report(r: t.DeskReport | None, error: str | None) -> None:
        if r is not None:
            reports.append(r)
        if error:
            errors.append(error)

    runner = t.TapeRunner(db, tape, report)
    runner.put(t.Op("open", time.monotonic()))
    for key in keys:
        if gap and rng.random() < 0.5:
            time.sleep(rng.uniform(0, gap))
        runner.put(press(key, time.monotonic()))
    assert runner.flush(timeout=60), "the tape did not drain"
    db.close()
    assert not errors
    assert not [e for r in reports for e in r.errors]
    return tape


def model_for(db_path: Path, rubric: Rubric, advance: str = t.AUTO) -> SlowDesk:
    conn = sqlite3.connect(db_path)
    try:
        return SlowDesk.from_db(conn, "ana", rubric, advance)
    finally:
        conn.close()


def final_of(db_path: Path, rubric: Rubric, order: list[int]) -> dict:
    conn = sqlite3.connect(db_path)
    try:
        return db_final(conn, "ana", rubric, order)
    finally:
        conn.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=st.lists(
        # Whole grades as well as single keys, so runs complete often and the queue's end,
        # the wrap-around and undo across runs are reached.
        st.one_of(st.sampled_from(KEYS).map(lambda k: [k]), st.sampled_from(WHOLE).map(list)),
        max_size=25,
    ).map(lambda chunks: [k for chunk in chunks for k in chunk]),
    seed=st.integers(0, 2**32 - 1),
    gap=st.sampled_from([0.0, 0.002]),
    delay=st.sampled_from([0.0, 0.003]),
    advance=st.sampled_from([t.AUTO, t.AUTO, t.ENTER]),
)
def test_any_keys_end_as_the_slow_model(  # type: ignore[no-untyped-def]
    template, tmp_path_factory, keys, seed, gap, delay, advance
) -> None:
    db_path = fresh_db(template, tmp_path_factory.mktemp("ex"))
    rubric = template[1]
    model = model_for(db_path, rubric, advance)
    for key in keys:
        model.press(key)
    tape = run_tape(
        db_path, rubric, keys, random.Random(seed), gap=gap, delay=delay, advance=advance
    )
    assert final_of(db_path, rubric, model.order) == model.final()
    assert tape.state.run == model.cur
    assert tape.state.flt.graded == model.graded_filter
    assert tape.state.flt.week == model.week_filter
    assert tape.state.kept == model.kept
    mode = t.SKIPPING if model.reason is not None else "card" if model.mode == "card" else t.DESK
    assert tape.state.mode == mode
    assert tape.state.step == model.step
    assert tape.state.clearing == model.clearing


def test_a_burst_of_eight_runs_grades_eight_runs(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    model = model_for(db_path, rubric)
    todo = [r for r in model.order if not model.complete(r)][:8]
    keys = list("pns" * 8)
    run_tape(db_path, rubric, keys, random.Random(1), gap=0.0, delay=0.005)
    conn = sqlite3.connect(db_path)
    complete = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT run, \"values\" FROM grades WHERE complete = 1 AND reviewer = 'ana'"
        )
    }
    conn.close()
    for run in todo:
        assert run in complete, f"run {run} was not graded"
        assert '"task_success": "pass"' in complete[run] and '"policy": "safe"' in complete[run]


def test_a_key_that_fails_for_a_passing_reason_is_kept_and_applied_later(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A full disk (SQLite's max_page_count) rolls the batch back; the keys wait, in order,
    and land on the right runs once there is room again."""
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    model = model_for(db_path, rubric)
    for key in "pnspns":
        model.press(key)

    full = threading_event()
    db = DbThread(db_path)
    pages = db.submit(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0]).result()
    db.submit(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}")).result()
    errors: list[str] = []
    tape = t.DeskTape("ana", rubric)
    runner = t.TapeRunner(
        db, tape, lambda r, e: errors.append(e) if e else None, retry_after=lambda n: 0.05
    )
    runner.put(t.Op("open"))
    for key in "pnspns":
        runner.put(press(key))
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors and "disk is full" in errors[0], errors
    assert runner.waiting() >= 6
    full.set()
    db.submit(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823")).result()
    assert runner.flush(timeout=30)
    db.close()
    assert final_of(db_path, rubric, model.order) == model.final()
    assert tape.state.run == model.cur


def threading_event():  # type: ignore[no-untyped-def]
    import threading

    return threading.Event()


def test_comment_and_find_take_the_keys_typed_after_them(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    first = tape.state.run
    keys = [t.Press("c", "c", t.COMMENT)] + [press(ch) for ch in "pns j"] + [t.Press("enter")]
    tape.apply(conn, keys)
    grade = grading.get_grade(conn, first, "ana", rubric)
    assert grade is not None and grade.comment == "pns j" and grade.values == {}
    assert tape.state.run == first and tape.state.mode == t.DESK
    ref = conn.execute(
        "SELECT r.business_ref, a.run FROM assignments a JOIN runs r ON r.id = a.run "
        "ORDER BY a.started_at DESC LIMIT 1"
    ).fetchone()
    tape.apply(
        conn,
        [
            t.Press("slash", "/", t.FIND),
            *[press(ch) for ch in ref[0]],
            t.Press("enter"),
            press("p"),
        ],
    )
    assert tape.state.run == ref[1]
    assert grading.get_grade(conn, ref[1], "ana", rubric).values == {"task_success": "pass"}
    conn.close()


def test_moving_needs_no_write_lock(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """While a sync holds the write lock, j and k still move: they only read."""
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    conn.execute("PRAGMA busy_timeout = 200")  # a wait for the lock would fail fast
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    first = tape.state.run
    sync_conn = sqlite3.connect(db_path, isolation_level=None)
    sync_conn.execute("BEGIN IMMEDIATE")  # a sync writing a page
    try:
        tape.apply(conn, [press("j"), press("j"), press("k"), press("."), press(",")])
        assert tape.state.run != first and tape.state.step == 0
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            tape.apply(conn, [press("p")])  # a grade waits for the lock (here: gives up)
    finally:
        sync_conn.execute("ROLLBACK")
        sync_conn.close()
    tape.apply(conn, [press("p")])
    # The key applies once the lock is free (on a run already set to pass, it keeps it).
    now = grading.get_grade(conn, tape.state.run, "ana", rubric)
    assert now is not None and now.values.get("task_success") == "pass"
    conn.close()


# -- the step cursor and the first wrong step ------------------------------------------------------


def test_the_step_cursor_moves_stops_at_the_ends_and_stays_with_its_run(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    assert tape.state.step is None  # no cursor until the reviewer moves it
    report = tape.apply(conn, [press(".")])
    assert tape.state.step == 0 and report.state.step == 0 and not report.wrote
    tape.apply(conn, [press("."), press("."), press(".")])
    assert tape.state.step == 1  # two steps: it stops on the last
    tape.apply(conn, [press(","), press(","), press(",")])
    assert tape.state.step == 0
    tape.apply(conn, [press("j")])
    assert tape.state.step is None  # another run starts without a cursor
    tape.apply(conn, [press(",")])
    assert tape.state.step == 1  # backwards from nothing: the last step
    conn.close()


def test_the_mark_stays_moves_clears_and_undoes_on_the_run_under_the_cursor(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    run = tape.state.run
    report = tape.apply(conn, [press("!")])
    assert not report.wrote and grading.get_grade(conn, run, "ana", rubric) is None
    assert [e.kind for e in report.effects] == ["notice"]
    report = tape.apply(conn, [press("."), press("."), press("!")])
    assert report.wrote and report.grade is not None and report.grade.first_wrong_step == 1
    report = tape.apply(conn, [press("!")])  # again: it stays, nothing written
    assert not report.wrote and report.grade.first_wrong_step == 1
    assert tape.apply(conn, [press(","), press("!")]).grade.first_wrong_step == 0
    report = tape.apply(conn, [press("backspace"), press("!")])  # clear, then the mark
    assert report.wrote and report.grade.first_wrong_step is None
    report = tape.apply(conn, [press("u")])
    assert report.grade is not None and report.grade.first_wrong_step == 0
    report = tape.apply(conn, [press("u")])
    assert report.grade is not None and report.grade.first_wrong_step == 1
    assert tape.state.run == run and tape.state.step == 0  # undo on this run keeps the cursor
    conn.close()


def test_a_burst_marks_grades_and_marks_the_next_run(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`. . ! p n s . !` in one batch: the mark and the grade land on the first run, the grade
    opens the next run, and the last `. !` marks that run's first step."""
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    first = tape.state.run
    tape.apply(conn, [press(k) for k in "..!pns.!"])
    second = tape.state.run
    assert second != first and tape.state.step == 0
    g1 = grading.get_grade(conn, first, "ana", rubric)
    g2 = grading.get_grade(conn, second, "ana", rubric)
    assert g1 is not None and g1.complete and g1.first_wrong_step == 1
    assert g2 is not None and not g2.complete and g2.first_wrong_step == 0
    payload = conn.execute(
        "SELECT payload FROM outbox WHERE run = ? ORDER BY id DESC LIMIT 1", (first,)
    ).fetchone()[0]
    import json

    (step,) = [s for s in json.loads(payload)["upsert"] if s["name"] == "first_wrong_step"]
    assert step["value"] == 2 and step["span_id"] is None  # step number (from 1); no span ids
    conn.close()


# -- where you were (issue 14) ---------------------------------------------------------------------


def test_a_filter_change_that_brings_the_open_run_back_reopens_it(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    conn = connect(db_path)
    tape = t.DeskTape("ana", template[1])
    tape.apply(conn, [t.Op("open")])
    tape.apply(conn, [press("tab"), press("j"), press("j")])  # to-do, two runs on
    place = tape.state.run
    tape.apply(conn, [press("tab")])  # graded: the place is not in it
    assert tape.state.run != place and tape.state.kept == place
    tape.apply(conn, [press("tab")])  # all: back on it
    assert tape.state.run == place and tape.state.kept is None
    # A move in the view that left it out makes that the place: it is forgotten.
    tape.apply(conn, [press("tab"), press("tab"), press("j"), press("tab")])
    assert tape.state.kept is None and tape.state.run != place
    # So does a run opened by find.
    tape.apply(conn, [press("tab"), press("j"), press("j")])  # to do
    place = tape.state.run
    tape.apply(conn, [press("tab")])  # graded
    assert tape.state.kept == place
    found = tape.state.run
    ref = conn.execute("SELECT business_ref FROM runs WHERE id = ?", (found,)).fetchone()[0]
    other = conn.execute(
        "SELECT a.run, r.business_ref FROM assignments a JOIN runs r ON r.id = a.run "
        "WHERE a.graded = 1 AND a.run <> ? LIMIT 1",
        (found,),
    ).fetchone()
    assert ref and other
    find = [t.Press("slash", "/", t.FIND), *[press(ch) for ch in other[1]], t.Press("enter")]
    tape.apply(conn, find)
    assert tape.state.run == other[0] and tape.state.kept is None
    tape.apply(conn, [press("tab")])  # all: the run found stays open
    assert tape.state.run == other[0]
    conn.close()


def test_a_run_outside_the_queue_opens_read_only_and_escape_goes_back(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    outside = int(conn.execute("SELECT id FROM runs WHERE run_id = 'trace-00003'").fetchone()[0])
    conn.execute("DELETE FROM assignments WHERE run = ?", (outside,))  # in nobody's sample
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    tape.apply(conn, [press("j")])
    place = tape.state.run
    keys = [t.Press("slash", "/", t.FIND), *[press(ch) for ch in "trace-00003"], t.Press("enter")]
    report = tape.apply(conn, keys)
    assert tape.state.run == outside and tape.state.foreign and tape.state.back is not None
    assert any("read-only" in e.args[0] for e in report.effects if e.kind == "notice")
    events = conn.execute("SELECT count(*) FROM grade_events").fetchone()[0]
    comment = t.Press("c", "c", t.COMMENT)
    report = tape.apply(conn, [press("p"), press("e"), press("."), press("!"), comment])
    assert not report.wrote and tape.state.mode == t.DESK
    assert grading.get_grade(conn, outside, "ana", rubric) is None
    assert conn.execute("SELECT count(*) FROM grade_events").fetchone()[0] == events
    refused = [e for e in report.effects if e.kind == "notice" and "Read-only" in e.args[0]]
    assert len(refused) == 4  # p, e, ! and c; "." only moves the step cursor
    tape.apply(conn, [t.Press("escape", "\x1b")])
    assert tape.state.run == place and not tape.state.foreign
    # The place saved while away is the queue run, not the run outside it.
    tape.apply(conn, [*keys, t.Op(t.LEAVE)])
    assert conn.execute("SELECT run FROM desk_places").fetchone()[0] == place
    tape.apply(conn, [press("k")])  # k goes back too
    assert tape.state.run == place
    conn.close()


def test_the_desk_reopens_where_it_was_and_falls_back_when_that_run_is_gone(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    first = t.DeskTape("ana", rubric)
    first.apply(conn, [t.Op("open")])
    opened_on = first.state.run
    first.apply(conn, [press(";"), press(";"), press("j")])
    place, flt = first.state.run, first.state.flt
    assert flt.week is not None and place != opened_on
    first.apply(conn, [t.Op(t.LEAVE)])
    again = t.DeskTape("ana", rubric)
    again.apply(conn, [t.Op("open")])
    assert (again.state.run, again.state.flt) == (place, flt)
    conn.execute("DELETE FROM assignments WHERE run = ?", (place,))
    third = t.DeskTape("ana", rubric)
    third.apply(conn, [t.Op("open")])
    assert third.state.run == opened_on and third.state.flt == t.QueueFilter()
    conn.close()


def test_the_periodic_save_never_waits_for_the_write_lock(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Moves with a save op take no write lock; the save is skipped while a sync holds it and
    made at the next chance."""
    db_path = fresh_db(template, tmp_path)
    conn = connect(db_path)
    tape = t.DeskTape("ana", template[1])
    tape.apply(conn, [t.Op("open")])
    sync_conn = sqlite3.connect(db_path, isolation_level=None)
    sync_conn.execute("BEGIN IMMEDIATE")  # a sync writing a page
    try:
        started = time.monotonic()
        tape.apply(conn, [press("j"), press(";"), press("a"), t.Op(t.SAVE)])
        tape.apply(conn, [press("j"), t.Press("escape", "\x1b"), press("k")])  # card, then back
        assert time.monotonic() - started < 5  # busy_timeout is 30 s: it did not wait
        assert tape.place_dirty()
    finally:
        sync_conn.execute("ROLLBACK")
        sync_conn.close()
    tape.apply(conn, [t.Op(t.SAVE)])
    assert not tape.place_dirty()
    row = conn.execute("SELECT run, week FROM desk_places WHERE reviewer = 'ana'").fetchone()
    assert tuple(row) == (tape.state.run, tape.state.flt.week)


def notices(report: t.DeskReport) -> list[str]:
    return [str(e.args[0]) for e in report.effects if e.kind == "notice"]


def test_time_counts_from_when_the_run_was_drawn_and_pauses_are_capped(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Keys before the run is drawn count nothing; after, the time since the drawing or the last
    answer; a pause longer than IDLE_CAP counts as IDLE_CAP. A drawing of another run counts
    nothing for this one."""
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open", 100.0)])
    run = tape.state.run
    assert run is not None
    tape.apply(conn, [press("g", 101.0)])  # typed before the run was on screen
    assert grading.get_grade(conn, run, "ana", rubric).seconds_spent == 0.0
    tape.apply(conn, [t.Op("drawn", 102.0, run + 1000)])  # not this run: ignored
    tape.apply(conn, [press("1", 103.0)])
    assert grading.get_grade(conn, run, "ana", rubric).seconds_spent == 0.0
    tape.apply(conn, [t.Op("drawn", 110.0, run), press("3", 117.5)])
    assert grading.get_grade(conn, run, "ana", rubric).seconds_spent == 7.5
    tape.apply(conn, [t.Op("drawn", 200.0, run)])  # drawn again: the first drawing counts
    tape.apply(conn, [press("3", 118.0)])  # the same level: nothing written, nothing counted
    tape.apply(conn, [press("5", 117.5 + 4 * 3600)])  # left open over lunch
    assert grading.get_grade(conn, run, "ana", rubric).seconds_spent == 7.5 + t.IDLE_CAP
    conn.close()


def test_a_key_with_no_meaning_says_what_would_work(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    run = tape.state.run
    report = tape.apply(conn, [press("2")])
    assert notices(report) == ["2 is not an answer: tone takes 1, 3 or 5."]
    report = tape.apply(conn, [press("P")])
    assert notices(report) == ["P is not bound — Caps Lock on? p is pass (task_success)."]
    report = tape.apply(conn, [press("h")])
    assert notices(report) == ["h is not bound here: ? lists every key."]
    report = tape.apply(conn, [t.Press("f12", None, None)])
    assert notices(report) == ["f12 does nothing here: ? lists every key."]
    assert not tape.apply(conn, [press("escape")]).effects, "escape on the desk is quiet"
    report = tape.apply(conn, [t.Press("paste", None, None, text="pns")])
    assert notices(report) == ["A paste does nothing here: paste into a box (c comment, / find)."]
    assert grading.get_grade(conn, run, "ana", rubric) is None
    conn.close()


def test_the_text_box_edits_at_its_cursor_and_never_runs_a_command(
    template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    run = tape.state.run

    def keys(*names: str) -> None:
        tape.apply(conn, [t.Press(n, n if len(n) == 1 else None, None) for n in names])

    tape.apply(conn, [t.Press("c", "c", t.COMMENT)])
    keys(*"good reply")
    assert (tape.state.text, tape.state.cursor) == ("good reply", 10)
    keys("home", "delete", "G", "end", "left", "left", "left", "left", "left")
    assert (tape.state.text, tape.state.cursor) == ("Good reply", 5)
    keys("ctrl+e", "ctrl+w")
    assert (tape.state.text, tape.state.cursor) == ("Good ", 5)
    keys("backspace")
    assert (tape.state.text, tape.state.cursor) == ("Good", 4)
    keys("ctrl+a")
    tape.apply(conn, [t.Press("paste", None, None, text="Very\ngood: ")])
    assert (tape.state.text, tape.state.cursor) == ("Very good: Good", 11)
    keys("right", "j", "k", "u", "e", "q")  # letters bound on the desk are only text here
    assert tape.state.text == "Very good: Gjkueqood" and tape.state.run == run
    keys("ctrl+u")
    assert (tape.state.text, tape.state.cursor) == ("", 0)
    keys(*"fine", "enter")
    g = grading.get_grade(conn, run, "ana", rubric)
    assert g is not None and g.comment == "fine" and not g.escalate and g.values == {}
    conn.close()


def test_a_skip_needs_a_reason_is_kept_not_pushed_and_undone(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A skipped run leaves the to-do view like a graded one and is not in the graded view; a
    complete grade skipped withdraws its scores from the store; an answer takes the skip back;
    `u` undoes the skip."""
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric)
    tape.apply(conn, [t.Op("open")])
    first = tape.state.run
    assert first is not None

    def graded_col(run: int) -> int:
        return conn.execute(
            "SELECT graded FROM assignments WHERE run = ? AND reviewer = 'ana'", (run,)
        ).fetchone()[0]

    outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    report = tape.apply(conn, [press("z"), press("enter")])
    assert tape.state.mode == t.SKIPPING and "needs a reason" in notices(report)[0]
    report = tape.apply(conn, [press(c) for c in "no  output"] + [press("enter")])
    g = grading.get_grade(conn, first, "ana", rubric)
    assert g is not None and g.skipped == "no output" and not g.complete
    assert graded_col(first) == grading.SKIPPED and report.skipped == {first: True}
    assert tape.state.run != first, "a skip opens the next run to grade"
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == outbox, "never pushed"
    from review import queue as rq

    assert rq.key_of(conn, "ana", rq.QueueFilter(graded=False), first) is None
    assert rq.key_of(conn, "ana", rq.QueueFilter(graded=True), first) is None
    assert rq.row_of(conn, "ana", first).skipped
    tape.apply(conn, [press("u")])
    assert tape.state.run == first and graded_col(first) == grading.TODO
    assert grading.get_grade(conn, first, "ana", rubric) is None, "undone: no grade at all"
    # A complete grade, then skipped: its scores are withdrawn; an answer takes the skip back.
    tape.apply(conn, [press("p"), press("n"), press("s"), press("k")])
    while tape.state.run != first:
        tape.apply(conn, [press("k")])
    tape.apply(conn, [press("z")] + [press(c) for c in "unsure"] + [press("enter")])
    payload = json.loads(
        conn.execute(
            "SELECT payload FROM outbox WHERE run = ? ORDER BY id DESC", (first,)
        ).fetchone()[0]
    )
    assert payload["upsert"] == [] and payload["delete"]
    assert graded_col(first) == grading.SKIPPED
    while tape.state.run != first:
        tape.apply(conn, [press("k")])
    report = tape.apply(conn, [press("p")])  # the level already set: answers, un-skips
    g = grading.get_grade(conn, first, "ana", rubric)
    assert g.skipped is None and g.complete and graded_col(first) == grading.GRADED
    assert "no longer skipped" in notices(report)[0]
    conn.close()


def test_advance_enter_stays_on_the_run_until_enter(template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db_path = fresh_db(template, tmp_path)
    rubric = template[1]
    conn = connect(db_path)
    tape = t.DeskTape("ana", rubric, advance=t.ENTER)
    tape.apply(conn, [t.Op("open")])
    first = tape.state.run
    report = tape.apply(conn, [press("p"), press("n"), press("s"), press("g")])
    assert tape.state.run == first and report.grade is not None and report.grade.complete
    assert report.grade.values["tool_use"] == "good", "every answer lands on the run shown"
    tape.apply(conn, [press("enter")])
    assert tape.state.run != first
    conn.close()

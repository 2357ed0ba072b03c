"""Pilot tests of the review desk: real key presses, then the database is checked."""

from __future__ import annotations

import json
import sqlite3

from conftest import settle

from review.grading import get_grade
from review.session import load_setup
from store.workspace import Workspace
from tui.app import make_app
from tui.widgets.queue_list import QueueList

SIZE = (120, 40)


def db(ws: Workspace) -> sqlite3.Connection:
    """A fresh connection, independent of the app's."""
    conn = sqlite3.connect(ws.db_path)
    conn.row_factory = sqlite3.Row
    return conn


def queue_order(ws: Workspace, where: str = "") -> list[int]:
    with db(ws) as conn:
        rows = conn.execute(
            f"SELECT run FROM assignments WHERE reviewer = ? {where} ORDER BY started_at, run",
            (ws.reviewer,),
        ).fetchall()
    return [r[0] for r in rows]


def grade_row(ws: Workspace, run: int) -> sqlite3.Row | None:
    with db(ws) as conn:
        return conn.execute(
            'SELECT "values", comment, escalate, complete FROM grades '
            "WHERE run = ? AND reviewer = ?",
            (run, ws.reviewer),
        ).fetchone()


async def test_opens_on_first_todo_run_after_sync(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = queue_order(demo_workspace, "AND graded = 0")
        assert todo, "the demo should give ana runs to grade"
        assert app.desk.current_run == todo[0]
        graded, assigned = app.desk.progress
        assert assigned == len(queue_order(demo_workspace))
        assert graded == assigned - len(todo)
        assert app.desk.query_one(QueueList).total == assigned


async def test_three_keys_grade_save_and_open_next(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        order = queue_order(demo_workspace)
        todo = queue_order(demo_workspace, "AND graded = 0")
        first = app.desk.current_run
        assert first == todo[0]
        await pilot.press("p", "n")
        await settle(pilot)
        assert app.desk.current_run == first, "a partial grade stays on the run"
        row = grade_row(demo_workspace, first)
        assert row is not None and not row["complete"]
        await pilot.press("s")
        await settle(pilot)
        row = grade_row(demo_workspace, first)
        assert row is not None and row["complete"] == 1
        assert json.loads(row["values"]) == {
            "task_success": "pass",
            "intervention": "no",
            "policy": "safe",
        }
        with db(demo_workspace) as conn:
            outbox = conn.execute("SELECT payload FROM outbox WHERE run = ?", (first,)).fetchall()
            graded = conn.execute(
                "SELECT graded FROM assignments WHERE run = ? AND reviewer = ?",
                (first, demo_workspace.reviewer),
            ).fetchone()[0]
        assert len(outbox) == 1
        assert {s["name"] for s in json.loads(outbox[0][0])["upsert"]} >= {"policy"}
        assert graded == 1
        # The next run still to grade opens, skipping runs graded earlier.
        assert app.desk.current_run == todo[1], "the next run to grade opens"
        assert order.index(todo[1]) > order.index(first) + 1, "graded runs lie between"


async def test_fast_typing_grades_two_runs(demo_workspace: Workspace) -> None:
    """Keys pressed before any commit returns still land on the right runs."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = queue_order(demo_workspace, "AND graded = 0")
        first = app.desk.current_run
        second = todo[1]
        await pilot.press("p", "n", "s", "f", "y", "v")
        await settle(pilot)
        assert json.loads(grade_row(demo_workspace, first)["values"])["task_success"] == "pass"
        values = json.loads(grade_row(demo_workspace, second)["values"])
        assert {k: values[k] for k in ("task_success", "intervention", "policy")} == {
            "task_success": "fail",
            "intervention": "yes",
            "policy": "violation",
        }


async def test_j_and_k_move_through_the_queue(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        order = queue_order(demo_workspace)
        start = order.index(app.desk.current_run)
        await pilot.press("j", "j")
        await settle(pilot)
        assert app.desk.current_run == order[start + 2]
        await pilot.press("k")
        await settle(pilot)
        assert app.desk.current_run == order[start + 1]
        await pilot.press("down")
        await settle(pilot)
        assert app.desk.current_run == order[start + 2]
        assert grade_row(demo_workspace, order[start]) is None, "moving never grades"


async def test_comment_modal_saves_text_and_does_not_grade(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        await pilot.press("c")
        await settle(pilot)
        assert app.desk.state.mode == "comment"
        assert app.desk.query_one("#prompt").display
        await pilot.press("p", "n", "s", "space", "o", "k")
        await pilot.press("enter")
        await settle(pilot)
        assert app.desk.state.mode == "desk"
        assert not app.desk.query_one("#overlay").display
        row = grade_row(demo_workspace, run)
        assert row["comment"] == "pns ok"
        assert json.loads(row["values"]) == {}, "letters typed in the modal are not grades"
        assert app.desk.current_run == run
        # Escape cancels: the comment is unchanged.
        await pilot.press("c", "x", "escape")
        await settle(pilot)
        assert grade_row(demo_workspace, run)["comment"] == "pns ok"


async def test_escalation_flag_stays_until_cleared(demo_workspace: Workspace) -> None:
    """`e` flags; `e` again keeps the flag; backspace then `e` clears it; `u` restores it."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        await pilot.press("e")
        await settle(pilot)
        assert grade_row(demo_workspace, run)["escalate"] == 1
        assert "FLAGGED" in str(app.desk.query_one("#rubric").render())
        await pilot.press("e")
        await settle(pilot)
        assert grade_row(demo_workspace, run)["escalate"] == 1, "a second e keeps the flag"
        await pilot.press("backspace", "e")
        await settle(pilot)
        assert grade_row(demo_workspace, run)["escalate"] == 0
        await pilot.press("u")
        await settle(pilot)
        assert grade_row(demo_workspace, run)["escalate"] == 1


async def test_undo_reopens_the_run_and_reverts_the_grade(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        graded_before = app.desk.progress[0]
        await pilot.press("p", "n", "s")
        await settle(pilot)
        assert app.desk.current_run != first
        assert app.desk.progress[0] == graded_before + 1
        await pilot.press("u")
        await settle(pilot)
        assert app.desk.current_run == first, "undo reopens the run it changed"
        row = grade_row(demo_workspace, first)
        assert row["complete"] == 0
        assert json.loads(row["values"]) == {"task_success": "pass", "intervention": "no"}
        assert app.desk.progress[0] == graded_before
        with db(demo_workspace) as conn:
            payloads = [
                json.loads(r[0])
                for r in conn.execute(
                    "SELECT payload FROM outbox WHERE run = ? ORDER BY id", (first,)
                )
            ]
        assert payloads[-1]["upsert"] == [] and payloads[-1]["delete"], "the score is withdrawn"


async def test_filters_narrow_the_queue(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.desk.query_one(QueueList)
        await pilot.press("tab")  # to-do
        await settle(pilot)
        assert app.desk.flt.graded is False
        assert queue.total == len(queue_order(demo_workspace, "AND graded = 0"))
        await pilot.press("tab")  # graded
        await settle(pilot)
        graded = queue_order(demo_workspace, "AND graded = 1")
        assert queue.total == len(graded)
        assert app.desk.current_run in graded
        await pilot.press("tab")  # all again
        await settle(pilot)
        assert queue.total == len(queue_order(demo_workspace))
        await pilot.press("left_square_bracket")  # first workflow
        await settle(pilot)
        workflow = app.desk.flt.workflow
        assert workflow
        assert queue.total == len(queue_order(demo_workspace, f"AND workflow = '{workflow}'"))
        await pilot.press("right_square_bracket")  # status: error
        await settle(pilot)
        assert app.desk.flt.status == "error"
        where = f"AND workflow = '{workflow}' AND status = 'error'"
        assert queue.total == len(queue_order(demo_workspace, where))


async def test_grading_in_todo_view_moves_on_and_recounts(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await settle(pilot)
        todo = queue_order(demo_workspace, "AND graded = 0")
        first = app.desk.current_run
        assert first == todo[0]
        await pilot.press("p", "n", "s")
        await settle(pilot)
        queue = app.desk.query_one(QueueList)
        assert queue.total == len(todo) - 1
        assert app.desk.current_run == todo[1]
        assert queue.row(queue.cursor).run == todo[1]


async def test_find_by_business_ref(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        with db(demo_workspace) as conn:
            target, ref = conn.execute(
                "SELECT a.run, r.business_ref FROM assignments a JOIN runs r ON r.id = a.run "
                "WHERE a.reviewer = ? AND r.business_ref IS NOT NULL "
                "ORDER BY a.started_at DESC LIMIT 1",
                (demo_workspace.reviewer,),
            ).fetchone()
        await pilot.press("slash")
        await settle(pilot)
        assert app.desk.state.mode == "find"
        await pilot.press(*ref)
        await pilot.press("enter")
        await settle(pilot)
        assert app.desk.current_run == target
        queue = app.desk.query_one(QueueList)
        assert queue.row(queue.cursor).run == target
        assert grade_row(demo_workspace, target) is None, "typing a ref never grades"


async def test_help_lists_bindings_and_rubric_keys(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert app.desk.state.mode == "help"
        text = str(app.desk.query_one("#help-text").render())
        for needle in ("Comment", "Undo", "Find", "task_success", "violation", "Quit"):
            assert needle in text
        # The clear and skip keys, and the policy criterion's guidance under it.
        assert "⌫" in text and "Clear" in text and "Skip" in text
        assert "Check the agent card's never list" in text
        assert text.index("tool_use") < text.index("task_success"), "optional first, as the pane"
        await pilot.press("escape")
        await settle(pilot)
        assert app.desk.state.mode == "desk"
        assert not app.desk.query_one("#overlay").display


async def test_the_clear_key_is_remappable_and_in_the_footer(demo_workspace: Workspace) -> None:
    from textual.widgets import Footer

    demo_workspace.config.keys["desk.clear"] = "ctrl+d"
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        await pilot.press("g")
        await settle(pilot)
        await pilot.press("backspace", "g")  # backspace is no longer the clear key
        await settle(pilot)
        assert json.loads(grade_row(demo_workspace, run)["values"]) == {"tool_use": "good"}
        await pilot.press("ctrl+d", "g")
        await settle(pilot)
        assert json.loads(grade_row(demo_workspace, run)["values"]) == {}
        footer = app.desk.query_one(Footer)
        assert "Clear" in " ".join(str(w.render()) for w in footer.query("FooterKey"))


async def test_keymap_from_config_remaps_a_binding(demo_workspace: Workspace) -> None:
    demo_workspace.config.keys["desk.next"] = "ctrl+n"
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        order = queue_order(demo_workspace)
        start = order.index(app.desk.current_run)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.desk.current_run == order[start + 1]


async def test_grades_survive_closing_the_desk(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        graded = app.desk.progress[0]
        await pilot.press("f", "y", "v")
        # No settle: quitting right after the key press must not lose the grade.
    rubric = load_setup(demo_workspace).rubric
    from store.db import connect

    conn = connect(demo_workspace.db_path)
    grade = get_grade(conn, first, demo_workspace.reviewer, rubric)
    conn.close()
    assert grade is not None and grade.complete
    assert grade.values == {"task_success": "fail", "intervention": "yes", "policy": "violation"}

    again = make_app(demo_workspace, sync_on_start=False)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert again.desk.progress[0] == graded + 1
        assert again.desk.current_run != first, "the desk opens on the next run to do"
        status = str(again.desk.query_one("#status").render())
        assert f"{graded + 1}/" in status


async def test_outbox_is_pushed_after_grading(demo_workspace: Workspace) -> None:
    """A commit arms the push a moment later; its timer is driven here (no clock, no sleep)."""
    app = make_app(demo_workspace)
    services = app.services
    assert services.push_delay == 3.0
    services.push_delay = 3600.0  # armed, but only this test fires it
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        await pilot.press("p", "n", "s")
        await settle(pilot)
        assert app.desk.pending == 1
        timer = services._push_timer
        assert timer is not None and timer._interval == 3600.0, "the commit armed the push"
        timer.stop()
        services.push_due()  # the timer fires
        await settle(pilot)
        assert app.desk.pending == 0
        assert "outbox 0" in str(app.desk.query_one("#status").render())
    with db(demo_workspace) as conn:
        assert conn.execute(
            "SELECT count(*) FROM outbox WHERE run = ? AND pushed_at IS NOT NULL", (first,)
        ).fetchone()[0]
    scores = (demo_workspace.root / "store" / "scores.jsonl").read_text()
    assert '"reviewer": "ana"' in scores


async def test_unreachable_store_shows_offline_and_grading_still_works(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    # The store goes away; the desk opens on the local copy and says it is offline.
    store = demo_workspace.root / "store"
    store.rename(demo_workspace.root / "store-gone")
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.desk.online is False
        assert "offline" in str(app.desk.query_one("#status").render())
        run = app.desk.current_run
        await pilot.press("p", "n", "s")
        await settle(pilot)
        assert grade_row(demo_workspace, run)["complete"] == 1
        assert app.is_running
        # The grade waits for the next sync, and the status line says so.
        status = str(app.desk.query_one("#status").render())
        assert "offline · 1 grade waiting" in status


async def test_walking_the_queue_does_not_pile_up_widgets(demo_workspace: Workspace) -> None:
    """Holding `j` through a long queue keeps memory flat: no widget is made per run."""
    import gc

    from textual.widget import Widget

    def live_widgets() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, Widget))

    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("k", "j")
        await settle(pilot)
        before = live_widgets()
        for _ in range(60):
            await pilot.press("j")
        await settle(pilot)
        after = live_widgets()
    # The demo has one run with a cut output on the way, which may rebuild the footer once.
    assert after - before < 20, (before, after)


async def test_the_cursor_follows_k_after_the_queue_has_scrolled(demo_workspace: Workspace) -> None:
    """Moving up inside a scrolled queue repaints the old and the new cursor rows."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(45):
            await pilot.press("j")
        await settle(pilot)
        queue = app.desk.query_one(QueueList)
        assert queue.scroll_offset.y > 0
        await pilot.press("k", "k", "k")
        await settle(pilot)
        region = queue.content_region
        screen = app.screen._compositor.render_strips()
        bold = [
            y - region.y
            for y in range(region.y, region.bottom)
            if any(seg.style and seg.style.bold for seg in screen[y].crop(region.x, region.right))
        ]
        assert bold == [queue.cursor - queue.scroll_offset.y]


async def test_the_start_up_heap_is_frozen_while_the_app_runs(demo_workspace: Workspace) -> None:
    """Full collections skip what the app built to start (a frame paid ~50 ms for one); the
    app unfreezes it on exit, so a process that runs many apps can collect it."""
    import gc

    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


async def test_keys_land_on_the_right_run_when_commits_return_out_of_step(
    demo_workspace: Workspace,
) -> None:
    """A slow disk: the first commit comes back while the next key is still queued. The desk
    must keep predicting from every key pressed, so `s` completes run A and `f` lands on B."""
    import threading

    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        todo = queue_order(demo_workspace, "AND graded = 0")
        first, second = todo[0], todo[1]
        assert app.desk.current_run == first

        gates: list[threading.Event] = []
        open_all = threading.Event()
        submit = app.db.submit

        def gated(fn):  # type: ignore[no-untyped-def]
            gate = threading.Event()
            gates.append(gate)

            def run(conn):  # type: ignore[no-untyped-def]
                if not open_all.is_set():
                    gate.wait(20)
                return fn(conn)

            return submit(run)

        app.db.submit = gated  # type: ignore[method-assign]
        await pilot.press("p", "n")
        assert gates, "the keys wait on the (held) disk"
        gates[0].set()  # the disk lets the first write through
        for _ in range(200):
            await pilot.pause(0.01)
            if grade_row(demo_workspace, first) is not None:
                break
        row = grade_row(demo_workspace, first)
        assert row is not None and json.loads(row["values"])["task_success"] == "pass"
        await pilot.pause(0.2)  # the desk hears back
        await pilot.press("s", "f")
        open_all.set()
        for gate in gates:
            gate.set()
        app.db.submit = submit  # type: ignore[method-assign]
        await settle(pilot)

    a = json.loads(grade_row(demo_workspace, first)["values"])
    assert a == {"task_success": "pass", "intervention": "no", "policy": "safe"}
    b = grade_row(demo_workspace, second)
    assert b is not None and json.loads(b["values"]) == {"task_success": "fail"}


async def test_an_empty_queue_says_the_sample_went_to_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from review.sampling import rendezvous
    from store.workspace import load_workspace
    from tests.helpers import make_workspace, run_record
    from tui.widgets.run_view import RunView

    record = next(
        rec
        for i in range(100)
        if rendezvous("s", (rec := run_record(i))["trace_id"], ["ana", "ben"])[0] == "ben"
    )
    root = make_workspace(
        tmp_path / "ws", [record], salt="s", default_rate=1.0, overlap=0.0, roster=("ana", "ben")
    )
    ws = load_workspace(root)
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.desk.current_run is None
        view = app.desk.query_one(RunView)
        text = " ".join(" ".join(view.render_line(y).text for y in range(3)).split())
        assert "1 run sampled, none for you (ana); roster: ana, ben" in text
    with db(ws) as conn:
        assert [tuple(r) for r in conn.execute("SELECT reviewer FROM assignments")] == [("ben",)]


async def test_a_failed_sync_is_not_the_last_sync(demo_workspace: Workspace) -> None:
    """Only a sync that reached the store says "synced … ago"; a failed one leaves the time."""
    store = demo_workspace.root / "store"
    store.rename(demo_workspace.root / "store-gone")
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.desk.online is False
        assert app.services.status.last_sync is None
        assert "synced" not in str(app.desk.query_one("#status").render())


async def test_the_desk_syncs_again_when_the_store_comes_back(demo_workspace: Workspace) -> None:
    """Offline, a retry is armed after each sync ends; its callback (driven here, no clock)
    syncs and pushes the waiting grade; then the periodic sync is armed. Never two at once."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    store = demo_workspace.root / "store"
    store.rename(demo_workspace.root / "store-gone")
    app = make_app(demo_workspace)
    services = app.services
    assert (services.retry_offline, services.sync_every) == (30.0, 300.0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.desk.online is False
        assert services._sync_timer is not None
        assert services._sync_timer._interval == services.retry_offline
        run = app.desk.current_run
        await pilot.press("p", "n", "s")
        await settle(pilot)
        with db(demo_workspace) as conn:
            waiting = conn.execute("SELECT count(*) FROM outbox WHERE pushed_at IS NULL")
            assert waiting.fetchone()[0] == 1
        (demo_workspace.root / "store-gone").rename(store)

        started: list[int] = []
        inner = services._sync

        def counting(setup):  # type: ignore[no-untyped-def]
            started.append(1)
            inner(setup)

        services._sync = counting  # type: ignore[method-assign]
        services.sync_due()  # the timer fires
        services.sync_due()  # fires again while the first runs: no second sync
        assert services.status.syncing
        await pilot.press("k")  # keys are not held up by the sync
        await settle(pilot)
        assert started == [1]
        assert app.desk.online is True
        assert services.status.last_sync is not None
        assert services._sync_timer is not None
        assert services._sync_timer._interval == services.sync_every
    with db(demo_workspace) as conn:
        row = conn.execute(
            "SELECT count(*), count(pushed_at) FROM outbox WHERE run = ?",
            (run,),
        ).fetchone()
    assert row[0] >= 1 and row[0] == row[1]


async def test_queue_rows_without_a_business_ref_show_a_short_trace_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Runs from an OpenTelemetry file carry no business ref: each queue row names its run by
    a short trace id (head and tail), so rows are told apart."""
    from store.workspace import load_workspace
    from tests.helpers import make_workspace, run_record
    from tui.widgets.queue_list import QueueList

    records = []
    for i in range(4):
        rec = run_record(i)
        rec.pop("business_ref", None)
        rec["trace_id"] = f"4bf92f3577b34da6a3ce929d0e0e{i:04x}"
        records.append(rec)
    root = make_workspace(tmp_path / "ws", records, default_rate=1.0, roster=("ana",))
    ws = load_workspace(root)
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.desk.query_one(QueueList)
        if not app.desk.query_one("#queue-pane").display:
            await pilot.press("q")
            await settle(pilot)
        assert queue.scrollable_content_region.width > 0
        rows = [queue.render_line(y).text for y in range(4)]
    with db(ws) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT r.run_id FROM assignments a JOIN runs r ON r.id = a.run "
                "WHERE a.reviewer = 'ana' ORDER BY a.started_at, a.run"
            )
        ]
    assert len(ids) == 4
    for row, run_id in zip(rows, ids, strict=True):
        assert "—" not in row
        assert f"{run_id[:5]}…{run_id[-6:]}" in row, row


# -- where you were (issue 14) --------------------------------------------------------------------


def card_text(app) -> str:  # type: ignore[no-untyped-def]
    """What the card overlay shows, as plain text."""
    import io

    from rich.console import Console

    visual = app.desk.query_one("#card-text").visual
    if not hasattr(visual, "_renderable"):
        return str(visual.plain)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(visual._renderable)
    return out.getvalue()


def iso_week(started_at: str) -> str:
    from datetime import date

    year, week, _ = date.fromisoformat(started_at[:10]).isocalendar()
    return f"{year}-W{week:02d}"


async def test_the_week_filter_cycles_the_weeks_of_the_queue_newest_first(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        with db(demo_workspace) as conn:
            started = {
                r[0]: r[1]
                for r in conn.execute(
                    "SELECT run, started_at FROM assignments WHERE reviewer = ?",
                    (demo_workspace.reviewer,),
                )
            }
        weeks = sorted({iso_week(s) for s in started.values()}, reverse=True)
        assert len(weeks) >= 2, "the demo spans several weeks"
        queue = app.desk.query_one(QueueList)
        for week in weeks:
            await pilot.press("semicolon")
            await settle(pilot)
            assert app.desk.flt.week == week
            in_week = [r for r, s in started.items() if iso_week(s) == week]
            assert queue.total == len(in_week)
            assert app.desk.current_run in in_week
            assert week in str(app.desk.query_one("#queue-title").render())
            assert f"week {week}" in str(app.desk.query_one("#status").render())
        await pilot.press("semicolon")  # back to every week
        await settle(pilot)
        assert app.desk.flt.week is None and queue.total == len(started)
        await pilot.press("semicolon", "tab")  # newest week, to do; then clear every filter
        await settle(pilot)
        assert app.desk.flt.week == weeks[0] and app.desk.flt.graded is False
        # Clear-filters (from the palette) clears the week too.
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Filter: clear")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.desk.flt == type(app.desk.flt)()
        assert queue.total == len(started)


async def test_help_and_the_palette_name_the_week_filter_and_the_card(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.desk)]
        # The palette lists the desk's bindings with their keys (as remapped).
        assert "Week  ;" in titles and "Card  a" in titles, titles
        await pilot.press("question_mark")
        await settle(pilot)
        text = str(app.desk.query_one("#help-text").render())
        assert "Week" in text and "Card" in text and ";" in text


async def test_the_desk_reopens_where_you_were(demo_workspace: Workspace) -> None:
    """Quit with a filter on and a run open that is not the first to grade: the app opened
    again on the same workspace opens that run under that filter (read from the database)."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("semicolon", "j", "j")
        await settle(pilot)
        there, flt = app.desk.current_run, app.desk.flt
        assert flt.week is not None
        first = queue_order(demo_workspace, "AND graded = 0")[0]
        assert there != first
        await pilot.press("ctrl+q")
        await settle(pilot)
    with db(demo_workspace) as conn:
        saved = conn.execute(
            "SELECT run, week, graded FROM desk_places WHERE reviewer = ?",
            (demo_workspace.reviewer,),
        ).fetchone()
    assert saved is not None and saved["run"] == there and saved["week"] == flt.week
    again = make_app(demo_workspace, sync_on_start=False)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert again.desk.current_run == there
        assert again.desk.flt == flt
        queue = again.desk.query_one(QueueList)
        assert queue.row(queue.cursor).run == there
    # The run gone from the queue: today's behaviour, the first run to grade, no filter.
    with db(demo_workspace) as conn:
        conn.execute("UPDATE desk_places SET run = -1")
    third = make_app(demo_workspace, sync_on_start=False)
    async with third.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert third.desk.current_run == first
        assert third.desk.flt.week is None


async def test_a_grade_saves_the_place_and_moves_alone_do_not_write(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j", "j")
        await settle(pilot)
        moved_to = app.desk.current_run
        with db(demo_workspace) as conn:
            saved = conn.execute("SELECT run FROM desk_places").fetchone()
            # Moves are read-only batches: the place saved is still the one opened on.
            assert saved is None or saved[0] != moved_to
        await pilot.press("e")  # a write: the place goes with it
        await settle(pilot)
        here = app.desk.current_run
        with db(demo_workspace) as conn:
            assert conn.execute("SELECT run FROM desk_places").fetchone()[0] == here


async def test_drafts_are_marked_in_the_queue_and_the_run_header(
    demo_workspace: Workspace,
) -> None:
    from tui.widgets.queue_list import row_cells

    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        await pilot.press("p")  # one answer of three: a draft
        await settle(pilot)
        row = grade_row(demo_workspace, run)
        assert row is not None and not row["complete"]
        queue = app.desk.query_one(QueueList)
        mine = queue.row(queue.cursor)
        assert mine.run == run and mine.draft
        assert row_cells(mine, 40).startswith("◐")
        assert "[draft]" in app.desk.query_one("#run").section_text("header")
        await pilot.press("j")
        await settle(pilot)
        nxt = app.desk.current_run
        graded = nxt in queue_order(demo_workspace, "AND graded = 1")
        word = "[graded]" if graded else "[to grade]"
        assert word in app.desk.query_one("#run").section_text("header")
    # Read again from the database by a fresh app: still a draft, other rows not.
    again = make_app(demo_workspace, sync_on_start=False)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = again.desk.query_one(QueueList)
        index = queue.index_of(run)
        assert index is not None
        assert queue.row(index).draft
        drafts = [queue.row(i).run for i in range(min(queue.total, 50)) if queue.row(i).draft]
        assert drafts == [run]


async def test_filters_keep_your_place(demo_workspace: Workspace) -> None:
    """tab (to-do), j: a run to grade; tab (graded) leaves it out and opens a graded one; tab
    (all) brings it back: it is open again, and the queue's cursor is on it."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab", "j", "j")
        await settle(pilot)
        place = app.desk.current_run
        assert place in queue_order(demo_workspace, "AND graded = 0")
        await pilot.press("tab")
        await settle(pilot)
        assert app.desk.current_run in queue_order(demo_workspace, "AND graded = 1")
        await pilot.press("tab")
        await settle(pilot)
        assert app.desk.flt.graded is None
        assert app.desk.current_run == place
        queue = app.desk.query_one(QueueList)
        assert queue.row(queue.cursor).run == place
        assert grade_row(demo_workspace, place) is None


async def test_the_card_key_shows_the_runs_agent_card(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        with db(demo_workspace) as conn:
            workflow = conn.execute("SELECT workflow FROM runs WHERE id = ?", (run,)).fetchone()[0]
        await pilot.press("a")
        await settle(pilot)
        assert app.desk.state.mode == "card"
        text = card_text(app)
        assert workflow in text and "never" in text and "escalate to" in text
        # The card is read-only: a level key typed over it grades nothing.
        await pilot.press("p")
        await settle(pilot)
        assert grade_row(demo_workspace, run) is None
        await pilot.press("escape")
        await settle(pilot)
        assert app.desk.state.mode == "desk" and not app.desk.query_one("#overlay").display
        await pilot.press("p")
        await settle(pilot)
        assert json.loads(grade_row(demo_workspace, run)["values"]) == {"task_success": "pass"}


async def test_a_workflow_without_a_card_says_so(demo_workspace: Workspace) -> None:
    for card in demo_workspace.cards_dir.glob("*.yaml"):
        card.unlink()
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert "No agent card for workflow" in card_text(app)


async def test_find_opens_a_run_outside_the_queue_read_only(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        place = app.desk.current_run
        with db(demo_workspace) as conn:
            other, trace, owner = conn.execute(
                "SELECT r.id, r.run_id, a.reviewer FROM runs r JOIN assignments a "
                "ON a.run = r.id WHERE a.run NOT IN "
                "(SELECT run FROM assignments WHERE reviewer = ?) LIMIT 1",
                (demo_workspace.reviewer,),
            ).fetchone()
            nobody = conn.execute(
                "SELECT run_id FROM runs WHERE id NOT IN (SELECT run FROM assignments) LIMIT 1"
            ).fetchone()[0]
            grades_before = conn.execute("SELECT count(*) FROM grades").fetchone()[0]
        await pilot.press("slash", *trace, "enter")
        await settle(pilot)
        assert app.desk.current_run == other and app.desk.state.foreign
        header = app.desk.query_one("#run").section_text("header")
        assert "read-only" in header and owner in header
        assert "read-only" in str(app.desk.query_one("#status").render())
        # The rubric pane says so too, with no keys to grade and no blind-review count.
        pane = str(app.desk.query_one("#rubric").render())
        assert pane.startswith("read-only"), pane
        assert "required set" not in pane and "hidden until" not in pane
        assert "(c)" not in pane and "(e)" not in pane
        assert " p " not in pane and "○" not in pane
        queue = app.desk.query_one(QueueList)
        assert queue.row(queue.cursor).run == place  # the queue keeps your place
        await pilot.press("p", "e", "c")  # refused: nothing is written, no comment box
        await settle(pilot)
        assert app.desk.state.mode == "desk"
        assert "read-only" in str(app.desk.query_one("#status").render()).split(" · ")[0].lower()
        assert not [n for n in app._notifications if "read-only" in str(n.message).lower()]
        with db(demo_workspace) as conn:
            assert conn.execute("SELECT count(*) FROM grades").fetchone()[0] == grades_before
        await pilot.press("escape")
        await settle(pilot)
        assert app.desk.current_run == place and not app.desk.state.foreign
        await pilot.press("slash", *nobody, "enter")
        await settle(pilot)
        assert "not in anyone's sample" in app.desk.query_one("#run").section_text("header")
        await pilot.press("j")  # j goes back too
        await settle(pilot)
        assert app.desk.current_run == place


async def test_the_comment_box_edits_at_the_cursor(demo_workspace: Workspace) -> None:
    """Left, home/end, ctrl+a, delete, backspace at the cursor, ctrl+w and a paste at the cursor;
    keys bound on the desk (j, e, !, backspace) only edit the text."""
    from textual import events

    from tui.widgets.overlays import PromptBox

    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        await pilot.press("c", *"od reply", "home", "G", "end", "left", "left")
        await pilot.press("left", "left", "left", "backspace", "ctrl+a", "delete")
        await settle(pilot)
        assert (app.desk.state.text, app.desk.state.cursor) == ("odreply", 0)
        shown = str(app.desk.query_one(PromptBox).query_one("#prompt-text").render())
        assert shown == "▏odreply"
        app.desk.post_message(events.Paste("Go"))
        await pilot.press("right", "right", "space", "end", "space", "j", "e", "!")
        await settle(pilot)
        assert app.desk.state.text == "Good reply je!"
        await pilot.press("ctrl+w", "backspace", "enter")
        await settle(pilot)
        row = grade_row(demo_workspace, run)
        assert row["comment"] == "Good reply" and row["escalate"] == 0
        assert app.desk.current_run == run

"""The review desk: queue on the left, the open run in the centre, the rubric on the right.

The screen routes keys and presents; every read and write goes to the database thread
(:class:`tui.db_thread.DbThread`) through the domain functions of ``review`` and ``store``.
A level key commits at once. When it completes the grade, the next run opens straight away
(predicted from the grade state we already hold, confirmed by the commit), so a fast reviewer's
next key never lands on the run they just finished.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from review import grading
from review import queue as rq
from review.grading import Grade
from review.queue import QueueFilter, QueueRow, RunDetail
from review.rubric import Criterion, Level
from review.session import ReviewSetup, load_setup
from tui.screens.modals import CommentScreen, FindScreen, HelpScreen, OutputScreen
from tui.text import one_line
from tui.widgets.queue_list import BLOCK, QueueList
from tui.widgets.rubric_panel import RubricPanel
from tui.widgets.run_view import RunView

if TYPE_CHECKING:
    from tui.app import DeskApp

T = TypeVar("T")

#: The statuses the status filter cycles through (None: any). The queue API has no list of the
#: statuses present, and these are the ones the stores emit.
STATUSES: tuple[str | None, ...] = (None, "error", "ok")
GRADED: tuple[bool | None, ...] = (None, False, True)
GRADED_LABEL = {None: "all", False: "to-do", True: "graded"}
DETAIL_CACHE = 12
NARROW = 100


class SyncFinished(Message):
    """The sync thread is done: ``error`` is set when a store could not be reached."""

    def __init__(self, problems: list[str], error: str | None) -> None:
        super().__init__()
        self.problems = problems
        self.error = error


class PushFinished(Message):
    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error


class DeskScreen(Screen[None]):
    """The one screen of the review desk."""

    BINDINGS = [
        Binding("j,down", "next_run", "Next", tooltip="Open the next run", id="desk.next"),
        Binding("k,up", "prev_run", "Prev", tooltip="Open the previous run", id="desk.prev"),
        Binding(
            "c", "comment", "Comment", tooltip="Write a comment on this run", id="desk.comment"
        ),
        Binding(
            "e", "escalate", "Escalate", tooltip="Flag or unflag for escalation", id="desk.escalate"
        ),
        Binding(
            "u", "undo", "Undo", tooltip="Undo your last change (reopens its run)", id="desk.undo"
        ),
        Binding("o", "expand_output", "Output", tooltip="Open the whole output", id="desk.output"),
        Binding(
            "slash",
            "find",
            "Find",
            tooltip="Find a run by trace id or business ref",
            id="desk.find",
        ),
        Binding(
            "tab",
            "cycle_graded",
            "To-do",
            show=False,
            tooltip="Filter: all / to-do / graded",
            id="desk.filter_graded",
        ),
        Binding(
            "left_square_bracket",
            "cycle_workflow",
            "Workflow",
            show=False,
            tooltip="Filter: next workflow",
            id="desk.filter_workflow",
        ),
        Binding(
            "right_square_bracket",
            "cycle_status",
            "Status",
            show=False,
            tooltip="Filter: next status",
            id="desk.filter_status",
        ),
        Binding(
            "q",
            "toggle_queue",
            "Queue",
            show=False,
            tooltip="Show or hide the queue",
            id="desk.toggle_queue",
        ),
        Binding(
            "space,pagedown",
            "scroll_run(1)",
            "Scroll",
            show=False,
            tooltip="Scroll the run down a page",
            id="desk.scroll_down",
        ),
        Binding(
            "shift+space,pageup",
            "scroll_run(-1)",
            "Scroll up",
            show=False,
            tooltip="Scroll the run up a page",
            id="desk.scroll_up",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            tooltip="Every key, and the rubric's keys",
            id="desk.help",
        ),
        Binding(
            "colon",
            "app.command_palette",
            "Commands",
            show=False,
            tooltip="Open the command palette",
            id="desk.palette",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.setup: ReviewSetup | None = None
        self.key_map: dict[str, tuple[Criterion, Level]] = {}
        self.flt = QueueFilter()
        self.workflow_choices: list[str | None] = [None]
        self.current_run: int | None = None
        self.current_row: QueueRow | None = None
        self.details: OrderedDict[int, RunDetail | None] = OrderedDict()
        self._footer_output_cut = False
        self._held: dict[int, list[tuple[Criterion, Level, float]]] = {}
        self._inflight: Counter[int] = Counter()
        # Sync and push each use their own thread; one at a time, so a pull never reads the
        # store while a push is half done (it would import the grade's older remote state).
        self._store_lock = threading.Lock()
        self.grades: dict[int, Grade | None] = {}
        self.progress: tuple[int, int] | None = None
        self.pending: int | None = None
        self.online: bool | None = None
        self.syncing = False
        self.error: str | None = None
        self._pending_index: int | None = None
        self._clock = time.monotonic()
        self._push_timer: Any = None

    @property
    def deskapp(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def is_busy(self) -> bool:
        """Loading, syncing or with a commit in flight."""
        return (
            (self.setup is None and self.error is None)
            or self.syncing
            or self._pending_index is not None
            or self.deskapp.db.queued() > 0
        )

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="desk"):
            with Vertical(id="queue-pane"):
                yield Static(Text("Queue", "bold"), id="queue-title")
                yield QueueList(id="queue")
            yield RunView(id="run")
            yield RubricPanel(id="rubric")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._open(), group="open", exit_on_error=False)

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self.query_one(RubricPanel).set_compact(narrow)

    # -- database plumbing --------------------------------------------------------------------

    async def db(self, fn: Callable[[sqlite3.Connection], T], *, keep: bool = False) -> T:
        """Run ``fn(conn)`` on the database thread. ``keep``: finish even if we stop waiting."""
        future: Future[T] = self.deskapp.db.submit(fn)
        wrapped = asyncio.wrap_future(future)
        return await (asyncio.shield(wrapped) if keep else wrapped)

    @property
    def reviewer(self) -> str:
        return self.deskapp.workspace.reviewer

    async def _open(self) -> None:
        ws = self.deskapp.workspace
        self.setup = await self.db(lambda conn: load_setup(ws))
        self.key_map = self.setup.rubric.key_map()
        self.query_one(RubricPanel).show(self.setup.rubric, None)
        self.update_status()
        await self._reload(first_todo=True)
        self.run_worker(self._refresh_counts(), group="counts", exclusive=True, exit_on_error=False)
        if self.deskapp.sync_on_start:
            self.start_sync()
        else:
            # Nothing has talked to the store yet: the status line says so until a push does.
            self.update_status()

    async def _reload(self, *, anchor: int | None = None, first_todo: bool = False) -> None:
        """Recount the filtered queue and show the block around ``anchor`` (or the first to-do)."""
        reviewer, flt = self.reviewer, self.flt

        def load(conn: sqlite3.Connection) -> tuple[int, list[QueueRow]]:
            pos = rq.position_of(conn, reviewer, flt, anchor) if anchor is not None else None
            if pos is None and first_todo:
                todo = replace(flt, graded=False) if flt.graded is None else flt
                first = rq.window(conn, reviewer, todo, 0, 1)
                if first:
                    pos = rq.position_of(conn, reviewer, flt, first[0].run)
            pos = pos or 0
            return pos, rq.window(conn, reviewer, flt, pos // BLOCK * BLOCK, BLOCK)

        # Show the rows around the run first; the count (a scan on a big queue) comes after.
        pos, rows = await self.db(load)
        queue = self.query_one(QueueList)
        start = pos // BLOCK * BLOCK
        provisional = start + len(rows) + (1 if len(rows) == BLOCK else 0)
        queue.reset(provisional, cursor=pos)
        queue.set_block(pos // BLOCK, rows, queue.generation)
        generation = queue.generation
        if rows:
            self.go_to(queue.cursor)
        total = await self.db(lambda conn: rq.count(conn, reviewer, flt))
        if queue.generation == generation:
            queue.set_total(total)
        self.update_title()
        if total == 0:
            self.current_run = None
            self.current_row = None
            if not self.syncing:
                self.query_one(RunView).show_message("No runs in this view of the queue.")
            self.show_grade()
        self.update_status()

    async def _refresh_counts(self) -> None:
        reviewer = self.reviewer
        from store.outbox import pending_count

        def load(conn: sqlite3.Connection) -> tuple[tuple[int, int], int, list[str]]:
            return (
                rq.progress(conn, reviewer),
                pending_count(conn),
                rq.workflows(conn, reviewer),
            )

        self.progress, self.pending, workflows = await self.db(load)
        self.workflow_choices = [None, *workflows]
        self.update_status()

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.error = f"{type(error).__name__}: {error}"
            if event.worker.group == "open":
                self.query_one(RunView).show_message(f"Cannot open the desk: {error}")
            self.app.notify(self.error, title="Error", severity="error", markup=False)
            self.update_status()

    # -- sync and push ------------------------------------------------------------------------

    def start_sync(self) -> None:
        if self.setup is None:
            return
        self.syncing = True
        self.update_status()
        if self.current_run is None:
            self.query_one(RunView).show_message("Syncing the store…")
        self._sync(self.setup)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync")
    def _sync(self, setup: ReviewSetup) -> None:
        from review.session import sync
        from store.connectors.base import ConnectorError
        from store.db import connect

        problems: list[str] = []
        error: str | None = None
        try:
            with self._store_lock:
                conn = connect(setup.workspace.db_path)
                try:
                    for _name, pulled, pushed in sync(conn, setup):
                        problems.extend(pulled.problems)
                        if pushed and pushed.errors:
                            error = pushed.errors[-1]
                finally:
                    conn.close()
        except ConnectorError as exc:
            error = str(exc)
        except Exception as exc:  # anything else still ends the sync, and says why
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.post_message(SyncFinished(problems, error))

    async def on_sync_finished(self, message: SyncFinished) -> None:
        self.syncing = False
        self.online = message.error is None
        if message.error:
            self.app.notify(message.error, title="Offline", severity="warning", markup=False)
        if message.problems:
            self.app.notify(
                f"{len(message.problems)} lines in the store were skipped: {message.problems[0]}",
                title="Sync",
                severity="warning",
                markup=False,
            )
        await self._reload(anchor=self.current_run, first_todo=True)
        await self._refresh_counts()

    def schedule_push(self) -> None:
        """Push the outbox a moment after the last commit (grades are safe meanwhile)."""
        if self._push_timer is not None:
            self._push_timer.stop()
        self._push_timer = self.set_timer(3.0, self._push)

    def _push(self) -> None:
        if self.setup is not None and not self.syncing:
            self._push_worker(self.setup)

    @work(thread=True, exclusive=True, exit_on_error=False, group="push")
    def _push_worker(self, setup: ReviewSetup) -> None:
        from store.connectors import make_connector
        from store.connectors.base import ConnectorError
        from store.db import connect
        from store.outbox import push

        error: str | None = None
        try:
            with self._store_lock:
                conn = connect(setup.workspace.db_path)
                try:
                    for cfg in setup.workspace.config.stores:
                        report = push(conn, make_connector(setup.workspace, cfg))
                        if report.errors:
                            error = report.errors[-1]
                finally:
                    conn.close()
        except ConnectorError as exc:
            error = str(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.post_message(PushFinished(error))

    async def on_push_finished(self, message: PushFinished) -> None:
        self.online = message.error is None
        from store.outbox import pending_count

        self.pending = await self.db(pending_count)
        self.update_status()

    # -- the queue ----------------------------------------------------------------------------

    @on(QueueList.NeedBlock)
    def need_block(self, message: QueueList.NeedBlock) -> None:
        self.run_worker(self._load_block(message.block, message.generation), group="block")

    async def _load_block(self, block: int, generation: int) -> None:
        reviewer, flt = self.reviewer, self.flt
        rows = await self.db(lambda conn: rq.window(conn, reviewer, flt, block * BLOCK, BLOCK))
        queue = self.query_one(QueueList)
        queue.set_block(block, rows, generation)
        index = self._pending_index
        if index is not None and index // BLOCK == block and generation == queue.generation:
            self._pending_index = None
            self.go_to(index)

    def go_to(self, index: int) -> None:
        """Put the cursor on ``index`` and open its run (fetching its block if needed)."""
        queue = self.query_one(QueueList)
        if not queue.total:
            return
        index = max(0, min(index, queue.total - 1))
        queue.move_cursor(index)
        row = queue.row(index)
        if row is None:
            self._pending_index = index
            queue.ask(index)
            return
        self._pending_index = None
        self.open_row(row)
        self.update_status()

    def open_row(self, row: QueueRow) -> None:
        self.current_row = row
        if row.run == self.current_run:
            return
        self.current_run = row.run
        self._clock = time.monotonic()
        if row.run in self.details:
            self._show(row.run)
        else:
            self.run_worker(self._load_detail(row.run), group="detail", exclusive=True)
        self.show_grade()

    def _show(self, run: int) -> None:
        detail = self.details.get(run)
        view = self.query_one(RunView)
        if detail is None:
            view.show_message("This run is no longer in the local database.")
        else:
            view.show(detail, self.current_row.reason if self.current_row else None)
        # Only `o` depends on the run. Refreshing the footer recomposes every key widget, and
        # doing that on every run would pile up widgets while someone holds `j`.
        if view.output_cut != self._footer_output_cut:
            self._footer_output_cut = view.output_cut
            self.refresh_bindings()
        self.show_grade()
        self.run_worker(self._prefetch(), group="prefetch", exclusive=True)

    async def _load_detail(self, run: int) -> None:
        await self._fetch_details([run])
        if self.current_run == run:
            self._show(run)

    async def _fetch_details(self, runs: list[int]) -> None:
        reviewer = self.reviewer
        rubric = self.setup.rubric if self.setup else None

        def load(conn: sqlite3.Connection) -> list[tuple[int, RunDetail | None, Grade | None]]:
            out = []
            for run in runs:
                grade = grading.get_grade(conn, run, reviewer, rubric) if rubric else None
                out.append((run, rq.run_detail(conn, run), grade))
            return out

        for run, detail, grade in await self.db(load):
            self.details[run] = detail
            self.details.move_to_end(run)
            if run not in self.grades:
                self.grades[run] = grade
        while len(self.details) > DETAIL_CACHE:
            self.details.popitem(last=False)

    async def _prefetch(self) -> None:
        queue = self.query_one(QueueList)
        wanted = []
        for index in (queue.cursor + 1, queue.cursor + 2, queue.cursor - 1):
            row = queue.row(index) if 0 <= index < queue.total else None
            if row is not None and row.run not in self.details:
                wanted.append(row.run)
        if wanted:
            await self._fetch_details(wanted)

    def update_title(self) -> None:
        queue = self.query_one(QueueList)
        parts = [f"Queue {queue.total:,}"]
        if self.flt.graded is not None:
            parts.append(GRADED_LABEL[self.flt.graded])
        if self.flt.workflow:
            parts.append(one_line(self.flt.workflow, 24))
        if self.flt.status:
            parts.append(one_line(self.flt.status, 12))
        self.query_one("#queue-title", Static).update(Text(" · ".join(parts), "bold"))

    # -- grading ------------------------------------------------------------------------------

    def show_grade(self) -> None:
        if self.setup is None:
            return
        grade = self.grades.get(self.current_run) if self.current_run is not None else None
        self.query_one(RubricPanel).show(self.setup.rubric, grade)

    def _take_seconds(self) -> float:
        now = time.monotonic()
        spent, self._clock = now - self._clock, now
        return spent

    def on_key(self, event: events.Key) -> None:
        char = event.character
        if not char or self.setup is None or event.key.startswith(("ctrl+", "alt+")):
            return
        hit = self.key_map.get(char)
        if hit is None:
            return
        event.stop()
        event.prevent_default()
        self.grade_key(*hit)

    def grade_key(self, criterion: Criterion, level: Level) -> None:
        run = self.current_run
        if run is None or self.setup is None:
            return
        seconds = self._take_seconds()
        if run not in self.grades or run in self._held:
            # The run's grade is not known yet, so whether this key completes it cannot be told:
            # hold the key (in order) until the grade is loaded, rather than guess.
            first = run not in self._held
            self._held.setdefault(run, []).append((criterion, level, seconds))
            if first:
                self.run_worker(self._load_grade_then_release(run), group="held")
            return
        self._grade(run, criterion, level, seconds)

    async def _load_grade_then_release(self, run: int) -> None:
        reviewer = self.reviewer
        rubric = self.setup.rubric if self.setup else None
        if rubric is None:
            return
        # Runs on the database thread after everything already queued, so it sees every commit.
        grade = await self.db(
            lambda conn: grading.get_grade(conn, run, reviewer, rubric), keep=True
        )
        if run not in self.grades:
            self.grades[run] = grade
        for criterion, level, seconds in self._held.pop(run, []):
            self._grade(run, criterion, level, seconds)

    def _grade(self, run: int, criterion: Criterion, level: Level, seconds: float) -> None:
        """Commit one level on ``run``; open the next run at once if it completes the grade."""
        assert self.setup is not None
        rubric = self.setup.rubric
        before = self.grades[run] or Grade(run, self.reviewer, rubric.id, rubric.version)
        values = {**before.values, criterion.id: level.value}
        after = replace(before, values=values, complete=rubric.is_complete(values))
        self.grades[run] = after
        if run == self.current_run:
            self.show_grade()
        reviewer = self.reviewer
        self.commit(
            run,
            lambda conn: grading.set_value(
                conn, run, reviewer, rubric, criterion.id, level.value, seconds=seconds
            ),
        )
        if after.complete and not before.complete and run == self.current_run:
            self.advance()

    def advance(self) -> None:
        """Open the next run still to grade after the cursor (the next row if none is cached)."""
        queue = self.query_one(QueueList)
        if queue.cursor + 1 >= queue.total:
            self.app.notify("That was the last run in this view of the queue.")
            return
        index = queue.cursor + 1
        while index < queue.total:
            row = queue.row(index)
            if row is None:
                break
            if not row.graded and row.run not in self._completed():
                self.go_to(index)
                return
            index += 1
        if index >= queue.total:
            self.go_to(queue.cursor + 1)
            return
        # The next to-do is beyond the cached rows: look for it on the database thread, and
        # move one row at once so the next key never lands on the run just graded.
        self.go_to(queue.cursor + 1)
        self.run_worker(self._advance_far(index), group="advance", exclusive=True)

    def _completed(self) -> set[int]:
        return {run for run, grade in self.grades.items() if grade is not None and grade.complete}

    async def _advance_far(self, start: int) -> None:
        reviewer, flt = self.reviewer, self.flt
        queue = self.query_one(QueueList)
        generation, opened = queue.generation, self.current_run

        def scan(conn: sqlite3.Connection) -> int | None:
            for offset in range(start, start + 20 * BLOCK, BLOCK):
                rows = rq.window(conn, reviewer, flt, offset, BLOCK)
                for i, row in enumerate(rows):
                    if not row.graded:
                        return offset + i
                if len(rows) < BLOCK:
                    return None
            return None

        index = await self.db(scan)
        if index is not None and queue.generation == generation and self.current_run == opened:
            self.go_to(index)

    def commit(self, run: int, change: Callable[[sqlite3.Connection], Grade]) -> None:
        """Commit ``change`` on the database thread now; fold the result into the desk later."""
        rubric = self.setup.rubric if self.setup else None
        reviewer = self.reviewer
        from store.outbox import pending_count

        def write(conn: sqlite3.Connection) -> tuple[Grade | None, Grade, int]:
            before = grading.get_grade(conn, run, reviewer, rubric) if rubric else None
            after = change(conn)
            return before, after, pending_count(conn)

        self._inflight[run] += 1
        future = self.deskapp.db.submit(write)
        self.run_worker(self._committed(run, future), group="write", exit_on_error=False)

    async def _committed(self, run: int, future: Future[Any]) -> None:
        try:
            before, after, pending = await asyncio.shield(asyncio.wrap_future(future))
        except Exception as exc:  # the grade was not saved: say so and show the truth
            self._settle_inflight(run)
            self.app.notify(f"Not saved: {exc}", severity="error", markup=False)
            self.grades.pop(run, None)
            self.details.pop(run, None)
            if run == self.current_run:
                self.run_worker(self._load_detail(run), group="detail", exclusive=True)
            return
        if self._settle_inflight(run):
            # Only the newest commit for the run says what the run holds; an older one coming
            # back must not undo keys pressed since (the desk already shows those).
            self.grades[run] = after
        self.pending = pending
        was, now = bool(before and before.complete), after.complete
        if was != now:
            self._count_graded(run, now)
        if run == self.current_run:
            self.show_grade()
        self.update_status()
        self.schedule_push()

    def _settle_inflight(self, run: int) -> bool:
        """Count one commit for ``run`` as returned; True when none is left in flight."""
        self._inflight[run] -= 1
        if self._inflight[run] <= 0:
            del self._inflight[run]
            return True
        return False

    def _count_graded(self, run: int, graded: bool) -> None:
        if self.progress is not None:
            done, total = self.progress
            self.progress = (done + (1 if graded else -1), total)
        self.query_one(QueueList).mark_graded(run, graded)
        if self.flt.graded is not None:
            # The run left (or joined) this view: recount around the run that is open now.
            self.run_worker(self._reload(anchor=self.current_run), group="reload", exclusive=True)

    # -- actions ------------------------------------------------------------------------------

    def action_next_run(self) -> None:
        self.go_to(self.query_one(QueueList).cursor + 1)

    def action_prev_run(self) -> None:
        self.go_to(self.query_one(QueueList).cursor - 1)

    def action_scroll_run(self, pages: int) -> None:
        view = self.query_one(RunView)
        if pages > 0:
            view.scroll_page_down(animate=False)
        else:
            view.scroll_page_up(animate=False)

    def action_comment(self) -> None:
        run = self.current_run
        if run is None or self.setup is None:
            return
        grade = self.grades.get(run)
        rubric, reviewer = self.setup.rubric, self.reviewer

        def done(text: str | None) -> None:
            if text is None:
                return
            seconds = self._take_seconds()
            if run in self.grades:
                base = self.grades[run] or Grade(run, reviewer, rubric.id, rubric.version)
                self.grades[run] = replace(base, comment=text.strip() or None)
                self.show_grade()
            self.commit(
                run,
                lambda conn: grading.set_comment(
                    conn, run, reviewer, rubric, text, seconds=seconds
                ),
            )

        self.app.push_screen(CommentScreen(grade.comment or "" if grade else ""), done)

    def action_escalate(self) -> None:
        run = self.current_run
        if run is None or self.setup is None:
            return
        rubric, reviewer = self.setup.rubric, self.reviewer
        if run in self.grades:
            base = self.grades[run] or Grade(run, reviewer, rubric.id, rubric.version)
            self.grades[run] = replace(base, escalate=not base.escalate)
            self.show_grade()
        seconds = self._take_seconds()

        self.commit(
            run,
            lambda conn: grading.toggle_escalate(conn, run, reviewer, rubric, seconds=seconds),
        )

    def action_undo(self) -> None:
        if self.setup is None:
            return
        self.run_worker(self._undo(), group="write", exit_on_error=False)

    async def _undo(self) -> None:
        assert self.setup is not None
        rubric, reviewer = self.setup.rubric, self.reviewer
        from store.outbox import pending_count

        def undo(conn: sqlite3.Connection) -> tuple[Grade | None, tuple[int, int], int]:
            restored = grading.undo(conn, reviewer, rubric)
            return restored, rq.progress(conn, reviewer), pending_count(conn)

        restored, progress, pending = await self.db(undo, keep=True)
        if restored is None:
            self.app.notify("Nothing to undo.")
            return
        self.progress, self.pending = progress, pending
        run = restored.run
        self.grades[run] = (
            restored if restored.values or restored.comment or restored.escalate else None
        )
        self.query_one(QueueList).mark_graded(run, restored.complete)
        self.app.notify("Undone.", timeout=2)
        await self.jump_to(run)
        self.show_grade()
        self.update_status()
        self.schedule_push()

    async def jump_to(self, run: int) -> None:
        """Open ``run``, clearing the filters if it is not in the current view."""
        reviewer, flt = self.reviewer, self.flt
        pos = await self.db(lambda conn: rq.position_of(conn, reviewer, flt, run))
        if pos is None:
            self.flt = QueueFilter()
        if pos is None or not self.query_one(QueueList).row(pos):
            await self._reload(anchor=run)
        else:
            self.go_to(pos)

    def action_find(self) -> None:
        def done(text: str | None) -> None:
            if text and text.strip():
                self.run_worker(self._find(text), group="find", exclusive=True)

        self.app.push_screen(FindScreen(), done)

    async def _find(self, text: str) -> None:
        reviewer = self.reviewer
        run = await self.db(lambda conn: rq.find(conn, reviewer, text))
        if run is None:
            self.app.notify(f"No run in your queue matches {text.strip()!r}.", markup=False)
            return
        await self.jump_to(run)

    def _set_filter(self, flt: QueueFilter) -> None:
        self.flt = flt
        self.run_worker(
            self._reload(anchor=self.current_run, first_todo=flt.graded is not True),
            group="reload",
            exclusive=True,
        )

    def action_cycle_graded(self) -> None:
        i = GRADED.index(self.flt.graded)
        self._set_filter(replace(self.flt, graded=GRADED[(i + 1) % len(GRADED)]))

    def action_cycle_workflow(self) -> None:
        choices = self.workflow_choices
        i = choices.index(self.flt.workflow) if self.flt.workflow in choices else 0
        self._set_filter(replace(self.flt, workflow=choices[(i + 1) % len(choices)]))

    def action_cycle_status(self) -> None:
        i = STATUSES.index(self.flt.status) if self.flt.status in STATUSES else 0
        self._set_filter(replace(self.flt, status=STATUSES[(i + 1) % len(STATUSES)]))

    def action_clear_filters(self) -> None:
        self._set_filter(QueueFilter())

    def action_toggle_queue(self) -> None:
        pane = self.query_one("#queue-pane")
        if self.has_class("-narrow"):
            self.toggle_class("-show-queue")
        else:
            pane.display = not pane.display

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The footer shows the keys that matter now: "o" only when the output was cut.
        if action == "expand_output":
            return self.query_one(RunView).output_cut
        return True

    def action_expand_output(self) -> None:
        detail = self.query_one(RunView).detail
        if detail is None:
            return
        if not detail.output:
            self.app.notify("This run has no output.")
            return
        self.app.push_screen(
            OutputScreen(f"Output of {one_line(detail.run_id, 60)}", detail.output)
        )

    def action_sync(self) -> None:
        if not self.syncing:
            self.start_sync()

    def help_rows(self) -> list[tuple[str, str, str]]:
        keymap = self.app._keymap  # the keys in effect after agentdeck.toml's [keys]
        rows = []
        for binding in [*self.BINDINGS, *self.app.BINDINGS]:
            if not isinstance(binding, Binding):
                continue
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            shown = ", ".join(self.app.get_key_display(Binding(k, "")) for k in keys.split(","))
            rows.append((shown, binding.description, binding.tooltip))
        return rows

    def action_help(self) -> None:
        self.app.push_screen(
            HelpScreen(self.help_rows(), self.setup.rubric if self.setup else None)
        )

    # -- status line --------------------------------------------------------------------------

    def update_status(self) -> None:
        t = Text()
        queue = self.query_one(QueueList)
        if self.progress is not None:
            done, total = self.progress
            t.append(f" {done:,}/{total:,} graded", "bold")
        else:
            t.append(" …/… graded", "bold")
        if queue.total:
            t.append(f" · run {queue.cursor + 1:,} of {queue.total:,}")
        t.append(" · outbox ")
        t.append("…" if self.pending is None else f"{self.pending:,}")
        t.append(" · ")
        if self.syncing:
            t.append("syncing…", "yellow")
        elif self.online is None:
            t.append("…")
        elif self.online:
            t.append("online", "green")
        else:
            t.append("offline", "bold red")
        if self.setup is not None:
            t.append(f" · {self.setup.rubric.id}@{self.setup.rubric.version}", "dim")
        filters = []
        if self.flt.graded is not None:
            filters.append(GRADED_LABEL[self.flt.graded])
        if self.flt.workflow:
            filters.append(self.flt.workflow)
        if self.flt.status:
            filters.append(self.flt.status)
        if filters:
            t.append(" · filter: " + ", ".join(one_line(f, 30) for f in filters), "cyan")
        self.query_one("#status", Static).update(t)

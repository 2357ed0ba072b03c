"""The Review area: the desk. Queue on the left, the open run in the centre, the rubric right.

The screen only routes keys and draws. Every key it receives goes onto the desk's key tape
(:mod:`review.tape`), which applies the keys in order on the write thread and reports back once
they are committed; the screen draws the report. Reads that only draw (run details, queue rows,
counts) go to the read thread, so they never wait behind a burst of keys and never delay one.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from review import queue as rq
from review import tape as t
from review.blind import OtherGrade, other_grades, others_view
from review.grading import Grade
from review.queue import QueueRow, RunDetail
from tui.keymap import area_bindings, help_rows
from tui.messages import QuitRequested, TapeReported
from tui.screens.area import AreaScreen
from tui.services import Services
from tui.text import one_line
from tui.widgets.card_panel import CardPanel
from tui.widgets.key_footer import KeyFooter
from tui.widgets.overlays import HelpPanel, OutputPanel, PromptBox
from tui.widgets.queue_list import BLOCK, QueueList
from tui.widgets.rubric_panel import RubricPanel
from tui.widgets.run_view import RunView
from tui.widgets.status_line import Part, StatusLine

T = TypeVar("T")

GRADED_LABEL = {None: "all", False: "to-do", True: "graded"}
DETAIL_CACHE = 12
NARROW = 100
#: Seconds between saves of where the reviewer is (only when it changed, and only when the
#: write lock is free: see review/place.py).
PLACE_EVERY = 15.0

DESK_BINDINGS = [
    Binding("j,down", "next_run", "Next", tooltip="Open the next run", id="desk.next"),
    Binding("k,up", "prev_run", "Prev", tooltip="Open the previous run", id="desk.prev"),
    Binding(
        "full_stop",
        "next_step",
        "Next step",
        show=False,
        tooltip="Move the step cursor to the next step",
        id="desk.next_step",
    ),
    Binding(
        "comma",
        "prev_step",
        "Prev step",
        show=False,
        tooltip="Move the step cursor to the previous step",
        id="desk.prev_step",
    ),
    Binding(
        "exclamation_mark",
        "mark_step",
        "Wrong step",
        tooltip="Mark the step under the cursor as the first wrong step (again: it stays)",
        id="desk.mark_step",
    ),
    Binding("c", "comment", "Comment", tooltip="Write a comment on this run", id="desk.comment"),
    Binding(
        "e",
        "escalate",
        "Escalate",
        tooltip="Flag for escalation (again: stays flagged; the clear key, then e, unflags)",
        id="desk.escalate",
    ),
    Binding("u", "undo", "Undo", tooltip="Undo your last change (reopens its run)", id="desk.undo"),
    Binding(
        "backspace",
        "clear",
        "Clear",
        tooltip="Then an answer's key (a level key, e, ! or the skip key): take that answer back",
        id="desk.clear",
    ),
    Binding(
        "z",
        "skip",
        "Skip",
        show=False,
        tooltip="Skip a run you cannot judge, with a reason (kept, never pushed as a grade)",
        id="desk.skip",
    ),
    Binding(
        "enter",
        "next_todo",
        "Next to grade",
        show=False,
        tooltip="Open the next run still to grade (how the desk moves on with advance = enter)",
        id="desk.next_todo",
    ),
    Binding("o", "expand_output", "Output", tooltip="Open the whole output", id="desk.output"),
    Binding(
        "slash", "find", "Find", tooltip="Find a run by trace id or business ref", id="desk.find"
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
        "semicolon",
        "cycle_week",
        "Week",
        show=False,
        tooltip="Filter: next week (newest first)",
        id="desk.filter_week",
    ),
    Binding(
        "a",
        "card",
        "Card",
        show=False,
        tooltip="The agent card of this run's workflow",
        id="desk.card",
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
        "scroll_down",
        "Scroll",
        show=False,
        tooltip="Scroll the run down a page",
        id="desk.scroll_down",
    ),
    Binding(
        "shift+space,pageup",
        "scroll_up",
        "Scroll up",
        show=False,
        tooltip="Scroll the run up a page",
        id="desk.scroll_up",
    ),
    Binding(
        "question_mark", "help", "Help", tooltip="Every key, and the rubric's keys", id="desk.help"
    ),
    Binding(
        "colon",
        "palette",
        "Commands",
        show=False,
        tooltip="Open the command palette",
        id="desk.palette",
    ),
]

#: The screen's action names that are desk actions on the tape (the same names).
TAPE_ACTIONS = {b.action for b in DESK_BINDINGS} | {t.CLEAR_FILTERS}


class ReviewScreen(AreaScreen):
    """The review desk."""

    CSS_PATH = "../review.tcss"
    AREA = "review"
    # Nothing on the desk takes focus: every key comes to the screen, and so to the tape.
    AUTO_FOCUS = None
    BINDINGS = [*area_bindings("review"), *DESK_BINDINGS]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.state = t.DeskState()
        self.grade: Grade | None = None
        self.details: OrderedDict[int, tuple[RunDetail | None, QueueRow | None]] = OrderedDict()
        #: Other reviewers' grades of the runs in ``details`` (shown only as blind review allows).
        self.others: dict[int, list[OtherGrade]] = {}
        self.index: int | None = None
        self.total: int | None = None
        self.progress: tuple[int, int] | None = None
        self.error: str | None = None
        self._early: list[t.Item] = []
        self._reads = 0
        self._view_gen = 0
        self._progress_gen = 0
        self._locate_gen = 0
        self._seq = 0
        self._redo: set[str] = set()
        self._started = False
        self._footer_output_cut = False
        self._footer_step = False
        self._quitting = False
        self._quit_anyway = False
        #: Whose runs found outside the queue are (run -> reviewers; empty: nobody's).
        self.owners: dict[int, list[str]] = {}
        #: The workspace's agent cards (read when the card is first asked for), by workflow,
        #: or the line saying why they could not be read.
        self._cards: dict[str, object] | None = None
        self._cards_error: str | None = None

    # -- what tests and the app read ---------------------------------------------------------------

    @property
    def current_run(self) -> int | None:
        """The run the desk shows as open (the tape's, as last committed)."""
        return self.state.run

    @property
    def flt(self) -> rq.QueueFilter:
        return self.state.flt

    @property
    def pending(self) -> int | None:
        return self.services.status.pending

    @property
    def online(self) -> bool | None:
        return self.services.status.online

    def is_busy(self) -> bool:
        """Loading, syncing, reading, or with keys not yet applied."""
        tape = self.services.tape
        return (
            (tape is None and self.error is None)
            or (tape is not None and not self._started)
            or bool(self._early)
            or (tape is not None and not tape.idle())
            or self._reads > 0
            or self.services.status.syncing
        )

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.area_bar()
        with Horizontal(id="desk"):
            with Vertical(id="queue-pane"):
                yield Static(Text("Queue", "bold"), id="queue-title")
                yield QueueList(id="queue")
            yield RunView(id="run")
            with VerticalScroll(id="rubric-pane", can_focus=False):
                yield RubricPanel(id="rubric")
        yield StatusLine(self.services, id="status")
        yield KeyFooter()
        with Vertical(id="overlay"):
            yield PromptBox(id="prompt", classes="dialog")
            yield OutputPanel(id="output", classes="dialog output")
            yield HelpPanel(id="help", classes="dialog help")
            yield CardPanel(id="card", classes="dialog help")

    def on_mount(self) -> None:
        self.query_one("#overlay").display = False
        self.query_one(RunView).show_message("Opening the desk…")
        self._work(self._open(), "open")
        self.set_interval(PLACE_EVERY, self._save_place)

    def _save_place(self) -> None:
        # Opportunistic: the tape writes it only if the write lock is free at once.
        tape = self.services.tape
        if tape is not None and tape.idle() and tape.tape.place_dirty():
            tape.put(t.Op(t.SAVE, time.monotonic()))

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self.query_one(RubricPanel).set_compact(narrow)

    # -- database plumbing -------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, scan: bool = False) -> T:
        """Run ``fn(conn)`` on the read thread; ``scan``: on the counting thread, so a count
        over a million rows never holds up the next run's details."""
        import asyncio

        thread = self.services.counter if scan else self.services.reader
        future: Future[T] = thread.submit(fn)
        self._reads += 1
        try:
            return await asyncio.wrap_future(future)
        finally:
            self._reads -= 1

    async def _open(self) -> None:
        from review.session import load_setup

        services = self.services
        ws = services.workspace
        try:
            setup = await self.read(lambda conn: load_setup(ws))
        except Exception as exc:
            self.error = str(exc)
            self.query_one(RunView).show_message(f"Cannot open the desk: {exc}")
            raise
        services.setup = setup
        advance = ws.config.review.advance
        self.query_one(RubricPanel).advance = advance
        self.query_one(RubricPanel).show(setup.rubric, None)
        runner = t.TapeRunner(
            services.writer,
            t.DeskTape(services.reviewer, setup.rubric, advance=advance),
            lambda report, error: self.post_message(TapeReported(report, error)),
        )
        services.tape = runner
        runner.put(t.Op("open", time.monotonic()))
        for item in self._early:
            runner.put(item)
        self._early.clear()
        # The counts and the sync start once the first run is on screen (_first_drawn): they
        # scan the queue and take the write lock, and the first run must not wait for them.
        services.on_synced(self._synced)

    def _synced(self) -> None:
        # The sync may have changed runs and grades: the open run shows what the database holds.
        self.forget_details()
        if self.services.tape is not None:
            self.services.tape.put(t.Op("refresh", time.monotonic()))
        self._count_progress()

    # -- keys --------------------------------------------------------------------------------------

    def _binding_for(self, key: str) -> tuple[Binding | None, bool]:
        """The binding ``key`` resolves to here, and whether the app handles it (quit, areas,
        the palette) rather than the desk."""
        for namespace, bindings in self._modal_binding_chain:
            for binding in bindings.key_to_bindings.get(key, ()):
                if namespace is self:
                    return binding, binding.action.startswith("app.")
                if namespace is self.app:
                    return binding, True
        return None, False

    def on_key(self, event: events.Key) -> None:
        binding, for_app = self._binding_for(event.key)
        if for_app:
            return  # quit, areas, palette: the app handles them at once
        event.stop()
        event.prevent_default()
        # The last key's message stays until the next key.
        self.query_one(StatusLine).clear_message()
        now = time.monotonic()
        key, char = event.key, event.character
        if key.startswith("alt+") and binding is None:
            # A terminal sends escape as ESC and alt+x as ESC x: escape typed just before a
            # key arrives as alt+key. The desk binds nothing to alt, so it is escape, then the
            # key, in that order.
            self.feed(t.Press("escape", "\x1b", None, now))
            key = key[len("alt+") :]
            char = key if len(key) == 1 else {"space": " "}.get(key)
            binding, for_app = self._binding_for(key)
            if for_app:
                return
        action = binding.action if binding is not None and binding.action in TAPE_ACTIONS else None
        lower = None
        if binding is None and char and char.isupper():
            # Caps Lock on? Say what the lower case does (the tape says so in its notice).
            low, _ = self._binding_for(char.lower())
            lower = low.description if low is not None else None
        self.feed(t.Press(key, char, action, now, lower=lower))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.feed(t.Press("paste", None, None, time.monotonic(), text=event.text))

    def feed(self, item: t.Item) -> None:
        """Put a key on the tape (held until the desk has opened)."""
        if self.services.tape is None:
            self._early.append(item)
        else:
            self.services.tape.put(item)

    def _action(self, action: str) -> None:
        # Bindings reached by a click in the footer or from the palette: on the tape too.
        self.feed(t.Press("", None, action, time.monotonic()))

    def action_next_run(self) -> None:
        self._action(t.NEXT)

    def action_prev_run(self) -> None:
        self._action(t.PREV)

    def action_next_step(self) -> None:
        self._action(t.NEXT_STEP)

    def action_prev_step(self) -> None:
        self._action(t.PREV_STEP)

    def action_mark_step(self) -> None:
        self._action(t.MARK_STEP)

    def action_comment(self) -> None:
        self._action(t.COMMENT)

    def action_escalate(self) -> None:
        self._action(t.ESCALATE)

    def action_undo(self) -> None:
        self._action(t.UNDO)

    def action_clear(self) -> None:
        self._action(t.CLEAR)

    def action_skip(self) -> None:
        self._action(t.SKIP)

    def action_next_todo(self) -> None:
        self._action(t.NEXT_TODO)

    def action_expand_output(self) -> None:
        self._action(t.OUTPUT)

    def action_find(self) -> None:
        self._action(t.FIND)

    def action_cycle_graded(self) -> None:
        self._action(t.FILTER_GRADED)

    def action_cycle_workflow(self) -> None:
        self._action(t.FILTER_WORKFLOW)

    def action_cycle_status(self) -> None:
        self._action(t.FILTER_STATUS)

    def action_cycle_week(self) -> None:
        self._action(t.FILTER_WEEK)

    def action_card(self) -> None:
        self._action(t.CARD)

    def action_clear_filters(self) -> None:
        self._action(t.CLEAR_FILTERS)

    def action_toggle_queue(self) -> None:
        self._action(t.TOGGLE_QUEUE)

    def action_scroll_down(self) -> None:
        self._action(t.SCROLL_DOWN)

    def action_scroll_up(self) -> None:
        self._action(t.SCROLL_UP)

    def action_help(self) -> None:
        self._action(t.HELP)

    def show_help(self) -> None:
        self.action_help()

    def action_palette(self) -> None:
        self.app.action_command_palette()

    def action_sync(self) -> None:
        if not self.services.start_sync():
            self.query_one(StatusLine).say("A sync is already running.")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The footer shows the keys that matter now: "o" only when the output was cut.
        if action == "expand_output":
            return self.query_one(RunView).output_cut
        # "!" once there is a step cursor to mark with.
        if action == "mark_step":
            return self.state.step is not None
        return True

    # -- what the tape reports ---------------------------------------------------------------------

    def on_tape_reported(self, message: TapeReported) -> None:
        if message.report is None:
            self.error = message.error
            self.services.set_status(error=message.error)
            self.notify(message.error or "", title="Not saved yet", severity="error", markup=False)
            return
        if self.error is not None:
            self.error = None
            self.services.set_status(error=None)
        r = message.report
        before = self.state
        self.state = r.state
        self.grade = r.grade
        self._seq = r.seq
        # Counts and the position are kept by the reports' deltas once known; while one is
        # being read (None), the read itself says which reports it includes (see _fresh).
        if r.graded_delta and self.progress is not None:
            done, assigned = self.progress
            self.progress = (done + r.graded_delta, assigned)
        if r.pending is not None:
            self.services.set_status(pending=r.pending)
        if r.wrote:
            self.services.schedule_push()
        queue = self.query_one(QueueList)
        for run, graded in r.graded.items():
            queue.mark_graded(run, graded)
        for run, draft in r.drafts.items():
            queue.mark_draft(run, draft)
        for run, skipped in r.skipped.items():
            queue.mark_skipped(run, skipped)
        # The run first: its details are read before the queue is looked up again.
        if r.state.run != before.run or r.filter_changed:
            self._open_run(r.state.run)
        if r.view_changed:
            self._view_gen += 1
        if r.filter_changed or r.moved is None:
            self._locate()
        elif self.index is None and r.state.run != before.run:
            # The last run was not in the view (or its place is being read): look this one up.
            self._locate()
        else:
            if self.index is not None:
                self.index += r.moved
            if r.membership and self.total is not None:
                self.total += r.membership
            if r.view_changed:
                # Runs left or joined the view: the rows are read again as they are drawn.
                queue.reset(
                    self.total if self.total is not None else queue.total, cursor=self.index or 0
                )
            elif r.moved and self.index is not None:
                queue.move_cursor(self.index)
        redo, self._redo = self._redo, set()
        if "locate" in redo:
            self._locate()
        elif "count" in redo:
            self._recount()
        if "progress" in redo:
            self._count_progress()
        self.show_grade()
        self._draw_steps()
        self._draw_mode(before)
        for effect in r.effects:
            self._effect(effect)
        notices = [str(e.args[0]) for e in r.effects if e.kind == "notice"]
        if r.errors:
            # A key that could not be applied: said where the keys' messages are, in red.
            self.query_one(StatusLine).say("Key skipped: " + r.errors[-1], "bold red")
        elif notices:
            self.query_one(StatusLine).say(notices[-1])
        self.update_title()
        self.update_status()

    def _effect(self, effect: t.Effect) -> None:
        if effect.kind == "notice":
            pass  # said in the status line once the batch is drawn (on_tape_reported)
        elif effect.kind == "scroll":
            target, unit, amount = effect.args
            if target == "run":
                view = self.query_one(RunView)
                if amount > 0:
                    view.scroll_page_down(animate=False)
                else:
                    view.scroll_page_up(animate=False)
            elif target == t.READING_OUTPUT:
                self.query_one(OutputPanel).scroll(unit, amount)
            elif target == t.READING_HELP:
                self.query_one(HelpPanel).scroll(unit, amount)
            elif target == t.READING_CARD:
                self.query_one(CardPanel).scroll(unit, amount)
        elif effect.kind == "toggle_queue":
            pane = self.query_one("#queue-pane")
            if self.has_class("-narrow"):
                self.toggle_class("-show-queue")
            else:
                pane.display = not pane.display
            queue = self.query_one(QueueList)
            queue.call_after_refresh(queue.scroll_to_cursor)
        elif effect.kind == "palette":
            self.app.action_command_palette()

    def _draw_mode(self, before: t.DeskState) -> None:
        mode = self.state.mode
        overlay = self.query_one("#overlay")
        overlay.display = mode != t.DESK
        prompt, output, help_ = (
            self.query_one(PromptBox),
            self.query_one(OutputPanel),
            self.query_one(HelpPanel),
        )
        prompt.display = mode in t.TEXT_MODES
        output.display = mode == t.READING_OUTPUT
        help_.display = mode == t.READING_HELP
        # Under a reader the desk is hidden, not just covered: Textual cuts every line of the
        # overlay where a widget beneath starts or ends, and a wide character (CJK, emoji)
        # straddling such a cut is drawn as spaces.
        self.set_class(mode in (t.READING_OUTPUT, t.READING_HELP), "-reading")
        self.query_one(CardPanel).display = mode == t.READING_CARD
        if mode == t.READING_CARD and before.mode != t.READING_CARD:
            self.query_one(CardPanel).show_message("Reading the agent card…")
            self._work(self._show_card(self.state.run), "card")
        if mode == t.COMMENTING:
            prompt.show("Comment on this run", self.state.text, cursor=self.state.cursor)
        elif mode == t.SKIPPING:
            prompt.show(
                "Skip this run: why can it not be judged? (a reason is required)",
                self.state.text,
                cursor=self.state.cursor,
                hint="enter skip · escape cancel · ctrl+w word · ctrl+u clear · ←/→ home/end move",
            )
        elif mode == t.FINDING:
            prompt.show(
                "Find a run by trace id or business reference, e.g. order:ORD-1042 "
                "(a prefix is enough)",
                self.state.text,
                cursor=self.state.cursor,
                hint="enter find · escape cancel · ctrl+w word · ctrl+u clear · ←/→ home/end move",
            )
        elif mode == t.READING_OUTPUT and before.mode != t.READING_OUTPUT:
            detail = self.details.get(self.state.run or -1, (None, None))[0]
            if detail is not None and detail.output:
                output.show(f"Output of {one_line(detail.run_id, 60)}", detail.output)
            else:
                self._work(self._show_output(self.state.run), "output")
        elif mode == t.READING_HELP and before.mode != t.READING_HELP:
            setup = self.services.setup
            help_.show(
                help_rows(self.app, [*self.BINDINGS, *self.app.BINDINGS]),
                setup.rubric if setup else None,
            )

    async def _show_card(self, run: int | None) -> None:
        """The agent card of ``run``'s workflow (the cards are read once, off the UI thread;
        review/ never reads them: the desk hands nothing of them to the tape)."""
        import asyncio

        from runbooks.cards import check_cards

        if run is None:
            return
        if self._cards is None:
            try:
                cards, problems = await asyncio.to_thread(
                    check_cards, self.services.workspace.cards_dir
                )
            except OSError as exc:
                cards, problems = {}, []
                self._cards_error = f"Cannot read the agent cards: {exc}"
            self._cards = dict(cards)
            if problems and self._cards_error is None:
                first = problems[0]
                self._cards_error = one_line(str(first), 200)
        detail = self.details.get(run, (None, None))[0]
        if detail is None:
            detail = await self.read(lambda conn: rq.run_detail(conn, run))
        if self.state.mode != t.READING_CARD or self.state.run != run:
            return
        panel = self.query_one(CardPanel)
        if detail is None:
            panel.show_message("This run is no longer in the local database.")
            return
        card = self._cards.get(detail.workflow)
        if card is None:
            note = f"No agent card for workflow {one_line(detail.workflow, 60)}."
            if self._cards_error:
                note += f"\n\nA card that does not validate: {self._cards_error}"
            panel.show_message(note)
        else:
            from runbooks.cards import AgentCard

            assert isinstance(card, AgentCard)
            panel.show_card(card)

    async def _show_output(self, run: int | None) -> None:
        if run is None:
            return
        detail = await self.read(lambda conn: rq.run_detail(conn, run))
        if detail is not None and self.state.mode == t.READING_OUTPUT and self.state.run == run:
            self.query_one(OutputPanel).show(
                f"Output of {one_line(detail.run_id, 60)}", detail.output or ""
            )

    def _fresh(self, seq: int, again: str) -> bool:
        """Whether a read taken at batch ``seq`` matches what the screen has drawn. An older
        read is asked again now; a newer one again once the reports it saw have arrived."""
        if seq == self._seq:
            return True
        if seq < self._seq:
            {"locate": self._locate, "count": self._recount, "progress": self._count_progress}[
                again
            ]()
        else:
            self._redo.add(again)
        return False

    def _snapshot_read(
        self, fn: Callable[[sqlite3.Connection], T]
    ) -> Callable[[sqlite3.Connection], tuple[int, T]]:
        tape = self.services.tape.tape if self.services.tape is not None else None

        def read(conn: sqlite3.Connection) -> tuple[int, T]:
            if tape is None:
                return 0, fn(conn)
            seq = tape.snapshot(conn)
            try:
                return seq, fn(conn)
            finally:
                conn.execute("COMMIT")

        return read

    def _count_progress(self) -> None:
        """Count graded/assigned on the read thread; a newer count supersedes an older one."""
        self.progress = None
        self._progress_gen += 1
        self._work(self._progress_worker(self._progress_gen), "progress")

    async def _progress_worker(self, gen: int) -> None:
        from store.outbox import pending_count

        reviewer = self.services.reviewer

        def count(conn: sqlite3.Connection) -> tuple[tuple[int, int], int]:
            return rq.progress(conn, reviewer), pending_count(conn)

        seq, (progress, pending) = await self.read(self._snapshot_read(count), scan=True)
        if gen == self._progress_gen and self._fresh(seq, "progress"):
            self.progress = progress
            self.services.set_status(pending=pending)
            self.update_status()

    # -- the queue and the open run ----------------------------------------------------------------

    def _locate(self) -> None:
        """Look up where the open run sits in the view, and the view's size, on the read thread."""
        # Until it answers, the position and the size are unknown.
        self.index = None
        self.total = None
        self._locate_gen += 1
        self._work(self._locate_worker(self._locate_gen, self.state), "locate")

    async def _locate_worker(self, ask: int, state: t.DeskState) -> None:
        reviewer = self.services.reviewer
        flt, run = state.flt, state.run
        if state.foreign:
            # A run outside the queue: the queue keeps its cursor on the run escape goes back to.
            run = state.back[1] if state.back is not None else None

        def locate(conn: sqlite3.Connection) -> tuple[int | None, list[QueueRow]]:
            pos = rq.position_of(conn, reviewer, flt, run) if run is not None else None
            start = (pos or 0) // BLOCK * BLOCK
            return pos, rq.window(conn, reviewer, flt, start, BLOCK)

        seq, (pos, rows) = await self.read(self._snapshot_read(locate), scan=True)
        if ask != self._locate_gen or not self._fresh(seq, "locate"):
            return
        queue = self.query_one(QueueList)
        self.index = pos
        start = (pos or 0) // BLOCK * BLOCK
        provisional = start + len(rows) + (1 if len(rows) == BLOCK else 0)
        queue.reset(max(provisional, queue.total if queue.loaded else 0), cursor=pos or 0)
        queue.set_block(start // BLOCK, rows, queue.generation)
        self.update_status()
        # The count scans the view: after the rows are up, never before.
        await self._count_worker(ask)

    def _recount(self) -> None:
        self.total = None
        self._work(self._count_worker(self._locate_gen), "count")

    async def _count_worker(self, ask: int) -> None:
        reviewer, flt = self.services.reviewer, self.state.flt
        seq, total = await self.read(
            self._snapshot_read(lambda conn: rq.count(conn, reviewer, flt)), scan=True
        )
        if ask != self._locate_gen or not self._fresh(seq, "count"):
            return
        if self.state.flt != flt:
            self._recount()
            return
        self.total = total
        queue = self.query_one(QueueList)
        queue.set_total(total)
        if self.index is not None:
            queue.move_cursor(self.index)
        self.update_title()
        self.update_status()

    @on(QueueList.NeedBlock)
    def need_block(self, message: QueueList.NeedBlock) -> None:
        self._work(self._load_block(message.block, message.generation), "block")

    async def _load_block(self, block: int, generation: int) -> None:
        reviewer, flt = self.services.reviewer, self.state.flt
        rows = await self.read(lambda conn: rq.window(conn, reviewer, flt, block * BLOCK, BLOCK))
        self.query_one(QueueList).set_block(block, rows, generation)

    def _open_run(self, run: int | None) -> None:
        view = self.query_one(RunView)
        if run is None:
            self._first_drawn()
            syncing = self.services.status.syncing
            view.show_message(
                "Syncing the store…" if syncing else "No runs in this view of the queue."
            )
            setup = self.services.setup
            if not syncing and setup is not None and self.state.flt == rq.QueueFilter():
                self._work(self._explain_empty(setup.plan.roster), "empty")
            return
        if run in self.details:
            self._show(run)
        else:
            self._work(self._load_detail(run), "detail")

    async def _explain_empty(self, roster: tuple[str, ...]) -> None:
        """An empty queue while runs were sampled for others says so, and names the roster."""
        reviewer = self.services.reviewer
        note = await self.read(lambda conn: rq.empty_queue_note(conn, reviewer, roster))
        if note is not None and self.state.run is None and not self.services.status.syncing:
            self.query_one(RunView).show_message(f"No runs for you to grade: {note}.")

    def _first_drawn(self) -> None:
        if self._started:
            return
        self._started = True
        self._count_progress()
        if self.services.sync_on_start:
            self.services.start_sync()

    def _show(self, run: int) -> None:
        self.call_after_refresh(self._first_drawn)
        detail, row = self.details[run]
        self.show_grade()  # the others' grades of this run are known now
        view = self.query_one(RunView)
        if detail is None:
            view.show_message("This run is no longer in the local database.")
        else:
            view.show(
                detail,
                row.reason if row else self._whose(run),
                cursor=self.state.step,
                marked=self._marked_step(),
                mark=self._grade_mark(),
            )
        # Time spent on the run counts from when it is on screen, not from when it was opened.
        self.call_after_refresh(self._drawn, run)
        # Only `o` depends on the run. Refreshing the footer recomposes every key widget, and
        # doing that on every run would pile up widgets while someone holds `j`.
        if view.output_cut != self._footer_output_cut:
            self._footer_output_cut = view.output_cut
            self.refresh_bindings()
        self._work(self._prefetch, "prefetch", exclusive=True)

    def _drawn(self, run: int) -> None:
        if self.state.run == run and not self.state.shown and self.services.tape is not None:
            self.services.tape.put(t.Op("drawn", time.monotonic(), run))

    async def _load_detail(self, run: int) -> None:
        await self._fetch_details([run])
        if self.state.run == run and run in self.details:
            self._show(run)

    async def _fetch_details(self, runs: list[int]) -> None:
        reviewer = self.services.reviewer

        setup = self.services.setup

        def load(
            conn: sqlite3.Connection,
        ) -> list[tuple[int, RunDetail | None, QueueRow | None, list[OtherGrade], list[str]]]:
            out = []
            for run in runs:
                row = rq.row_of(conn, reviewer, run)
                out.append(
                    (
                        run,
                        rq.run_detail(conn, run),
                        row,
                        other_grades(conn, run, reviewer, setup.rubric) if setup else [],
                        rq.assigned_to(conn, run) if row is None else [reviewer],
                    )
                )
            return out

        for run, detail, row, others, owners in await self.read(load):
            self.details[run] = (detail, row)
            self.details.move_to_end(run)
            self.others[run] = others
            self.owners[run] = owners
        while len(self.details) > DETAIL_CACHE:
            gone, _ = self.details.popitem(last=False)
            self.others.pop(gone, None)
            self.owners.pop(gone, None)

    async def _prefetch(self) -> None:
        queue = self.query_one(QueueList)
        if self.index is None:
            return
        wanted = []
        for index in (self.index + 1, self.index + 2, self.index - 1):
            row = queue.row(index) if 0 <= index < queue.total else None
            if row is not None and row.run not in self.details:
                wanted.append(row.run)
        if wanted:
            await self._fetch_details(wanted)

    def forget_details(self) -> None:
        """A sync may have changed runs: read them again when next shown."""
        self.details.clear()
        self.others.clear()
        self.owners.clear()

    # -- drawing -----------------------------------------------------------------------------------

    def show_grade(self) -> None:
        setup = self.services.setup
        if setup is None:
            return
        run = self.state.run
        own = self.grade if self.grade is not None and self.grade.run == run else None
        view = others_view(
            self.others.get(run, []) if run is not None else [],
            own.values if own else None,
            bool(own and own.complete),
        )
        self.query_one(RubricPanel).show(
            setup.rubric, self.grade, view, read_only=self.state.foreign
        )

    def _whose(self, run: int) -> str:
        """The header's sample line for a run outside the reviewer's queue."""
        owners = self.owners.get(run, [])
        whose = (
            "assigned to " + ", ".join(one_line(o, 30) for o in owners)
            if owners
            else "not in anyone's sample"
        )
        return f"not in your queue, read-only: {whose}"

    def _grade_mark(self) -> str:
        """The run header's word for the reviewer's grade: graded, draft or to grade."""
        if self.state.foreign:
            return "read-only"
        grade = self.grade if self.grade is not None and self.grade.run == self.state.run else None
        if grade is not None and grade.complete:
            return "graded"
        return "draft" if t.is_draft(grade) else "to grade"

    def _marked_step(self) -> int | None:
        grade = self.grade
        return grade.first_wrong_step if grade is not None and grade.run == self.state.run else None

    def _draw_steps(self) -> None:
        """The step cursor and the marked step, once the open run is on screen."""
        view = self.query_one(RunView)
        if view.detail is not None and view.detail.run == self.state.run:
            view.set_steps(self.state.step, self._marked_step(), mark=self._grade_mark())
        has_cursor = self.state.step is not None
        if has_cursor != self._footer_step:
            self._footer_step = has_cursor
            self.refresh_bindings()

    def update_title(self) -> None:
        flt = self.state.flt
        parts = [f"Queue {self.total:,}" if self.total is not None else "Queue …"]
        if flt.graded is not None:
            parts.append(GRADED_LABEL[flt.graded])
        if flt.workflow:
            parts.append(one_line(flt.workflow, 24))
        if flt.status:
            parts.append(one_line(flt.status, 12))
        if flt.week:
            parts.append(flt.week)
        self.query_one("#queue-title", Static).update(Text(" · ".join(parts), "bold"))

    def update_status(self) -> None:
        """The desk's parts of the status line, ranked: what stays longest when it is narrow."""
        parts: list[Part] = []
        if self.state.clearing:
            parts.append(
                Part(Text("clear: press the answer's key (escape cancels)", "bold yellow"))
            )
        if self.progress is not None:
            done, total = self.progress
            parts.append(Part(Text(f"{done:,}/{total:,} graded", "bold"), 1))
        else:
            parts.append(Part(Text("…/… graded", "bold"), 1))
        if self.state.foreign:
            parts.append(
                Part(Text("read-only: not in your queue (escape goes back)", "bold magenta"), 2)
            )
        elif self.state.run is not None:
            where = f"{self.index + 1:,}" if self.index is not None else "…"
            of = f"{self.total:,}" if self.total is not None else "…"
            parts.append(Part(Text(f"run {where} of {of}"), 2))
        flt = self.state.flt
        filters = []
        if flt.graded is not None:
            filters.append(GRADED_LABEL[flt.graded])
        if flt.workflow:
            filters.append(flt.workflow)
        if flt.status:
            filters.append(flt.status)
        if flt.week:
            filters.append(f"week {flt.week}")
        if filters:
            parts.append(
                Part(Text("filter: " + ", ".join(one_line(f, 30) for f in filters), "cyan"), 3)
            )
        setup = self.services.setup
        if setup is not None:
            parts.append(Part(Text(f"{setup.rubric.id}@{setup.rubric.version}", "dim"), 4))
        waiting = self.services.unsaved()
        if waiting > 1:
            parts.append(Part(Text(f"saving {waiting} keys…", "yellow"), 1))
        self.query_one(StatusLine).set_parts(parts)

    # -- quitting ----------------------------------------------------------------------------------

    def on_quit_requested(self, message: QuitRequested) -> None:
        """Every key typed before the quit is on the tape by now: save them all, then exit."""
        message.stop()
        if self._quitting:
            if self._quit_anyway:
                lost = self.services.unsaved()
                self.app.exit(
                    return_code=1,
                    message=f"agentdeck: quit with {lost} key(s) not saved: {self.error}",
                )
            return
        self._quitting = True
        self.run_worker(self._save_then_exit, thread=True, group="quit", exit_on_error=False)

    def _save_then_exit(self) -> None:
        tape = self.services.tape
        if tape is None or tape.flush(timeout=60, stop_on_error=True):
            self.app.call_from_thread(self.app.exit)
            return
        self._quit_anyway = True
        self._quitting = True
        self.app.call_from_thread(
            self.notify,
            f"{tape.waiting()} key(s) are not saved yet: {tape.last_error} "
            "Free the disk and they are saved; press ctrl+q again to quit without them.",
            title="Not quitting yet",
            severity="error",
            timeout=30,
            markup=False,
        )

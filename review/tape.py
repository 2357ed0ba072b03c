"""The review desk's keys as a tape: every key applied in order, against the database.

A reviewer's keys (level keys, next and previous, undo, escalate, comment, find, filters, the
output viewer, help, the agent card, and the step cursor with its first-wrong-step mark) form one
ordered stream.
:class:`DeskTape` applies them one after another on the database thread, reading the truth from
SQLite before each key, so the result of any sequence equals pressing the keys one at a time,
each after the previous one's effect is on screen: a level key lands on the run that is open
when the tape reaches it, and a key after a completing key lands on the run the desk opened
next, however fast the keys came and however slow the disk. The screen only feeds keys in and
draws the :class:`DeskReport` that comes back.

:class:`TapeRunner` is the plumbing: an inbox the UI thread appends to without waiting, drained
on the database thread in batches. A batch is one transaction (one fsync for a burst of keys);
its report is sent only after it committed, so the screen never shows a grade the database does
not hold. A batch that fails for a reason that can pass (a full disk, a lock) is rolled back,
its keys go back to the front of the inbox and are tried again later, in order: nothing typed
is lost or applied to the wrong run. Nothing here imports Textual.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from review import grading
from review import queue as rq
from review.grading import Grade
from review.place import Place, load_place, save_place
from review.queue import Key, QueueFilter
from review.rubric import Criterion, Level, Rubric
from review.textbox import edit_line
from store.db import explain, transient
from store.db_thread import DbThread
from store.outbox import pending_count

# -- what goes on the tape -------------------------------------------------------------------------

#: Desk actions a key can be bound to (binding ids map onto these in the UI's keymap).
NEXT = "next_run"
PREV = "prev_run"
COMMENT = "comment"
ESCALATE = "escalate"
UNDO = "undo"
OUTPUT = "expand_output"
FIND = "find"
FILTER_GRADED = "cycle_graded"
FILTER_WORKFLOW = "cycle_workflow"
FILTER_STATUS = "cycle_status"
CLEAR_FILTERS = "clear_filters"
FILTER_WEEK = "cycle_week"
CARD = "card"
TOGGLE_QUEUE = "toggle_queue"
SCROLL_DOWN = "scroll_down"
SCROLL_UP = "scroll_up"
HELP = "help"
PALETTE = "palette"
NEXT_STEP = "next_step"
PREV_STEP = "prev_step"
MARK_STEP = "mark_step"
#: The next key names the answer to take back (a level key, escalate, the step mark, skip).
CLEAR = "clear"
#: Skip a run that cannot be judged, with a reason (a text box).
SKIP = "skip"
#: Open the next run still to grade (how the desk moves on with ``[review] advance = "enter"``).
NEXT_TODO = "next_todo"

#: ``[review] advance``: "auto", the last required answer opens the next run; "enter" waits.
AUTO, ENTER = "auto", "enter"

#: Desk actions that never write (a batch of only these needs no write lock).
_READ_ONLY = frozenset(
    {
        NEXT,
        PREV,
        FILTER_GRADED,
        FILTER_WORKFLOW,
        FILTER_STATUS,
        CLEAR_FILTERS,
        TOGGLE_QUEUE,
        SCROLL_DOWN,
        SCROLL_UP,
        NEXT_STEP,
        PREV_STEP,
        FILTER_WEEK,
        CARD,
    }
)

#: The keys that change the filter (a filter change keeps your place; see _set_filter).
_FILTERS = frozenset({FILTER_GRADED, FILTER_WORKFLOW, FILTER_STATUS, FILTER_WEEK, CLEAR_FILTERS})

#: Ops that save where the reviewer is: ``save`` when the write lock is free (never waits for
#: it: the periodic save), ``leave`` in a write batch of its own (quitting).
SAVE = "save"
LEAVE = "leave"

#: Modes: the desk itself, or one of its overlays, which take the keys while they are open.
DESK = "desk"
COMMENTING = "comment"
FINDING = "find"
SKIPPING = "skip"
#: The text boxes: the keys edit the text, only enter and escape act.
TEXT_MODES = (COMMENTING, FINDING, SKIPPING)
READING_OUTPUT = "output"
READING_HELP = "help"
READING_CARD = "card"

GRADED_CYCLE: tuple[bool | None, ...] = (None, False, True)
#: The statuses the status filter cycles through (None: any): the ones the stores emit.
STATUS_CYCLE: tuple[str | None, ...] = (None, "error", "ok")
COMMENT_LIMIT = 4000
FIND_LIMIT = 200
SKIP_LIMIT = 500
#: Time spent on a run counts from when it was drawn; a pause longer than this with no key
#: (a run left open over lunch) counts as this much.
IDLE_CAP = 300.0

#: Keys that scroll an overlay, and by how much ("page" or "line", sign is the direction).
_OVERLAY_SCROLL = {
    "space": ("page", 1),
    "pagedown": ("page", 1),
    "j": ("line", 1),
    "down": ("line", 1),
    "shift+space": ("page", -1),
    "pageup": ("page", -1),
    "k": ("line", -1),
    "up": ("line", -1),
    "home": ("home", -1),
    "end": ("end", 1),
}


@dataclass(frozen=True)
class Press:
    """One key as it arrived. ``action`` is the desk binding the key resolves to (None when it
    is bound to nothing); overlays read ``key`` and ``char`` instead. ``text`` is a paste."""

    key: str
    char: str | None = None
    action: str | None = None
    at: float = 0.0
    text: str | None = None
    #: For a key bound to nothing: what its lower case does here (the screen knows the
    #: bindings), for the Caps Lock hint.
    lower: str | None = None


@dataclass(frozen=True)
class Op:
    """Not a key: ``open`` the desk, ``refresh`` it after a sync changed the database, or
    ``drawn``: the screen drew ``run`` at ``at`` (time spent on it counts from then)."""

    name: str
    at: float = 0.0
    run: int | None = None


Item = Press | Op


# -- what comes back -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskState:
    """Where the desk is: the filter, the open run (with its queue key), the step cursor in
    that run and the mode."""

    flt: QueueFilter = QueueFilter()
    run: int | None = None
    key: Key | None = None
    #: The step under the cursor (``steps.idx``); None until the reviewer moves it on this run.
    step: int | None = None
    mode: str = DESK
    text: str = ""
    #: Where the text box's cursor is (an index into ``text``).
    cursor: int = 0
    #: Time spent is counted up to here (the last key that wrote, or when the run was drawn).
    opened_at: float = 0.0
    opened: bool = False
    #: The run a filter change left out of view: a later filter change that brings it back
    #: reopens it. Forgotten once another run is opened any other way.
    kept: int | None = None
    #: The open run is outside the reviewer's queue (found with ``/``): read-only; ``back`` is
    #: the queue run to go back to.
    foreign: bool = False
    back: Key | None = None
    #: The open run has been drawn: keys before that count no time.
    shown: bool = False
    #: The clear key was pressed: the next key names what to clear.
    clearing: bool = False


@dataclass(frozen=True)
class Effect:
    """Something for the screen to do, in order: ``notice`` (text), ``scroll`` (target, unit,
    amount), ``toggle_queue``, ``palette``."""

    kind: str
    args: tuple[Any, ...] = ()


@dataclass
class DeskReport:
    """What one batch of the tape did, sent once it is committed."""

    state: DeskState
    #: The batch's number: reads taken at :meth:`DeskTape.snapshot` ``seq`` include it.
    seq: int = 0
    grade: Grade | None = None
    #: Net rows the cursor moved in an unchanged view, or None when the screen must look the
    #: position up (a jump, a new view).
    moved: int | None = 0
    #: Runs joined or left the filtered view (rows shift: reload them); ``membership`` is the
    #: net change in its size, and ``moved`` still holds.
    view_changed: bool = False
    membership: int = 0
    #: The filter changed or the database changed under the desk: look everything up again.
    filter_changed: bool = False
    #: Runs whose complete/incomplete state flipped in this batch.
    graded: dict[int, bool] = field(default_factory=dict)
    #: Net change in the reviewer's count of complete grades.
    graded_delta: int = 0
    #: Runs written in this batch: whether each is now a draft (started, not complete).
    drafts: dict[int, bool] = field(default_factory=dict)
    #: Runs skipped (True) or taken back from skipped (False) in this batch.
    skipped: dict[int, bool] = field(default_factory=dict)
    pending: int | None = None
    effects: list[Effect] = field(default_factory=list)
    #: A key that could not be applied (not a transient failure): it was skipped, and why.
    errors: list[str] = field(default_factory=list)
    wrote: bool = False


# -- the tape --------------------------------------------------------------------------------------


class DeskTape:
    """Applies desk keys in order against the database; holds the desk's state between them.

    Used from one thread (the database thread); :meth:`apply` takes that thread's connection.
    """

    def __init__(self, reviewer: str, rubric: Rubric, *, advance: str = AUTO) -> None:
        self.reviewer = reviewer
        self.rubric = rubric
        self.advance = advance
        self.key_map = rubric.key_map()
        self.state = DeskState()
        self._workflows: list[str] | None = None
        self._weeks: list[str] | None = None
        #: The place last saved (or read when the desk opened); see review/place.py.
        self._saved: Place | None = None
        #: Batches committed so far; each report carries its number (``seq``).
        self.committed = 0
        self.commit_lock = threading.Lock()

    def snapshot(self, conn: sqlite3.Connection) -> int:
        """Begin a read transaction on ``conn`` (another thread's connection) and return the
        number of batches it sees: reads in it reflect exactly reports ``1 .. seq``. The caller
        ends it with ``COMMIT``."""
        conn.execute("BEGIN")
        with self.commit_lock:
            # The first read fixes the WAL snapshot; no batch commits while it is taken.
            conn.execute("SELECT 1 FROM sync_state LIMIT 1").fetchall()
            return self.committed

    # -- batches -------------------------------------------------------------------------------

    def apply(self, conn: sqlite3.Connection, items: Iterable[Item]) -> DeskReport:
        """Apply ``items`` in one transaction and return what happened, once committed.

        A transient database error (full disk, lock, I/O) rolls the whole batch back, restores
        the state and is raised: the caller retries the same items later. Any other error in one
        key drops that key alone (reported in ``errors``) and the batch goes on.
        """
        items = list(items)
        start = self.state
        saved = self._saved
        report = DeskReport(state=start)
        # Moving and filtering only read: they need no write lock, so a sync writing a page
        # never holds them up. Anything that may write takes the lock before its first read.
        reads_only = self._reads_only(items)
        conn.execute("BEGIN" if reads_only else "BEGIN IMMEDIATE")
        try:
            for item in items:
                before = self.state
                part = DeskReport(state=before)
                conn.execute("SAVEPOINT press")
                try:
                    self._apply_one(conn, item, part)
                except Exception as exc:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK TO press")
                        conn.execute("RELEASE press")
                    if transient(exc) or not conn.in_transaction:
                        raise
                    self.state = before
                    report.errors.append(f"{_describe(item)} was not applied: {exc}")
                    continue
                conn.execute("RELEASE press")
                _merge(report, part)
            if report.wrote:
                report.pending = pending_count(conn)
            report.state = self.state
            if self.state.run is not None:
                report.grade = grading.get_grade(conn, self.state.run, self.reviewer, self.rubric)
            if not reads_only and self.place_dirty():
                # The batch holds the write lock anyway: the place costs one row, no fsync more.
                self._save(conn)
            with self.commit_lock:
                conn.execute("COMMIT")
                self.committed += 1
                report.seq = self.committed
        except BaseException:
            if conn.in_transaction:
                # SQLite may already have rolled back (full disk): keep the error that matters.
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self.state = start
            self._saved = saved
            raise
        if reads_only and self.place_dirty() and any(_is_op(i, SAVE) for i in items):
            self._save_if_free(conn)
        return report

    # -- where the reviewer is -------------------------------------------------------------------

    def place(self) -> Place | None:
        """Where the reviewer is now (the queue run to go back to while a run outside the queue
        is open), or None before the desk opened."""
        s = self.state
        if not s.opened:
            return None
        run = (s.back[1] if s.back else None) if s.foreign else s.run
        return Place(run, s.flt)

    def place_dirty(self) -> bool:
        """Whether the place changed since it was last saved (read from any thread: a hint)."""
        place = self.place()
        return place is not None and place != self._saved

    def _save(self, conn: sqlite3.Connection) -> None:
        place = self.place()
        if place is not None:
            save_place(conn, self.reviewer, self.rubric.id, place)
            self._saved = place

    def _save_if_free(self, conn: sqlite3.Connection) -> None:
        """Save the place in a transaction of its own if the write lock is free at once; a sync
        holding it wins, and the place waits for the next chance (nothing waits for it)."""
        before = self._saved
        timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._save(conn)
            conn.execute("COMMIT")
        except sqlite3.OperationalError:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._saved = before
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")

    def _reads_only(self, items: list[Item]) -> bool:
        # The card only reads: a key that may write is caught below, whatever the mode it meets.
        if self.state.mode not in (DESK, READING_CARD) or self.state.clearing:
            return False
        for item in items:
            if _is_op(item, SAVE) or _is_op(item, "drawn"):
                continue
            if isinstance(item, Press) and item.key == "escape" and item.action is None:
                continue  # closes the card, goes back from a run outside the queue: a move
            if not isinstance(item, Press) or item.action not in _READ_ONLY:
                return False
            if item.char and item.char in self.key_map:
                return False
        return True

    # -- one key -------------------------------------------------------------------------------

    def _apply_one(self, conn: sqlite3.Connection, item: Item, out: DeskReport) -> None:
        if isinstance(item, Op):
            if item.name == "open":
                self._open(conn, item.at, out)
            elif item.name == "refresh":
                self._refresh(conn, item.at, out)
            elif item.name == "drawn":
                s = self.state
                if item.run is not None and item.run == s.run and not s.shown:
                    self.state = replace(s, shown=True, opened_at=item.at)
            return
        mode, run = self.state.mode, self.state.run
        if mode == DESK:
            self._desk_key(conn, item, out)
        elif mode in TEXT_MODES:
            self._text_key(conn, item, out)
        else:
            self._reading_key(item, out)
        if self.state.run != run and (mode != DESK or item.action not in _FILTERS):
            # Opened by a move, find, undo or a completed grade: that is the place now.
            self.state = replace(self.state, kept=None)

    def _level_of(self, press: Press) -> tuple[Criterion, Level] | None:
        if (
            press.char
            and press.char in self.key_map
            and not press.key.startswith(("ctrl+", "alt+"))
        ):
            return self.key_map[press.char]
        return None

    def _desk_key(self, conn: sqlite3.Connection, press: Press, out: DeskReport) -> None:
        s = self.state
        hit = self._level_of(press)
        if s.foreign:
            # A run outside the queue is read-only; escape, j and k go back to the queue.
            if hit is not None or press.action in (COMMENT, ESCALATE, MARK_STEP, CLEAR, SKIP):
                out.effects.append(
                    Effect("notice", ("Read-only: not in your queue (escape goes back).",))
                )
                return
            if press.key == "escape" or press.action in (NEXT, PREV, NEXT_TODO):
                self._go_back(conn, press.at, out)
                return
            if press.action in _FILTERS:
                self._go_back(conn, press.at, out)
                s = self.state
        if s.clearing:
            self.state = replace(s, clearing=False)
            self._clear(conn, press, out)
            return
        if hit is not None:
            criterion, level = hit
            if s.run is None:
                out.effects.append(Effect("notice", ("No run is open in this view.",)))
                return
            self._set_level(conn, criterion.id, level.value, press.at, out)
            return
        action = press.action
        if action is None:
            self._unbound(press, out)
            return
        if action in (NEXT, PREV):
            self._move(conn, forward=action == NEXT, at=press.at, out=out)
        elif action in (NEXT_STEP, PREV_STEP):
            self._move_step(conn, forward=action == NEXT_STEP, out=out)
        elif action == MARK_STEP:
            self._mark_step(conn, press.at, out)
        elif action == ESCALATE:
            if s.run is None:
                return
            before = grading.get_grade(conn, s.run, self.reviewer, self.rubric)
            if before is not None and before.escalate:
                return  # flagged already: pressing again keeps it (clear with the clear key)
            seconds = self._take_seconds(press.at)
            after = grading.set_escalate(
                conn, s.run, self.reviewer, self.rubric, True, seconds=seconds
            )
            self._wrote(s.run, before, after, out)
        elif action == CLEAR:
            if s.run is None:
                out.effects.append(Effect("notice", ("No run is open in this view.",)))
                return
            self.state = replace(s, clearing=True)
            out.effects.append(
                Effect(
                    "notice",
                    (
                        "Clear: press the answer to take back (a level key, e, ! or the skip key); "
                        "escape cancels.",
                    ),
                )
            )
        elif action == SKIP:
            if s.run is None:
                out.effects.append(Effect("notice", ("No run is open in this view.",)))
                return
            grade = grading.get_grade(conn, s.run, self.reviewer, self.rubric)
            reason = (grade.skipped or "") if grade else ""
            self.state = replace(s, mode=SKIPPING, text=reason, cursor=len(reason))
        elif action == NEXT_TODO:
            if s.run is None:
                return
            if s.flt.graded is True:
                out.effects.append(Effect("notice", ("The graded view has no run to grade.",)))
                return
            self._advance(conn, press.at, out)
        elif action == UNDO:
            self._undo(conn, press.at, out)
        elif action == COMMENT:
            if s.run is None:
                out.effects.append(Effect("notice", ("No run is open in this view.",)))
                return
            grade = grading.get_grade(conn, s.run, self.reviewer, self.rubric)
            comment = (grade.comment or "") if grade else ""
            self.state = replace(s, mode=COMMENTING, text=comment, cursor=len(comment))
        elif action == FIND:
            self.state = replace(s, mode=FINDING, text="", cursor=0)
        elif action == OUTPUT:
            if s.run is None:
                return
            row = conn.execute("SELECT length(output) FROM runs WHERE id = ?", (s.run,)).fetchone()
            if not row or not row[0]:
                out.effects.append(Effect("notice", ("This run has no output.",)))
                return
            self.state = replace(s, mode=READING_OUTPUT)
        elif action == HELP:
            self.state = replace(s, mode=READING_HELP)
        elif action == CARD:
            if s.run is None:
                out.effects.append(Effect("notice", ("No run is open in this view.",)))
                return
            self.state = replace(s, mode=READING_CARD)
        elif action == FILTER_WEEK:
            if self._weeks is None:
                self._weeks = rq.weeks(conn, self.reviewer)
            weeks: list[str | None] = [None, *self._weeks]
            w = weeks.index(s.flt.week) if s.flt.week in weeks else 0
            flt = replace(s.flt, week=weeks[(w + 1) % len(weeks)])
            self._set_filter(conn, flt, press.at, out)
        elif action == FILTER_GRADED:
            i = GRADED_CYCLE.index(s.flt.graded)
            graded = GRADED_CYCLE[(i + 1) % len(GRADED_CYCLE)]
            self._set_filter(conn, replace(s.flt, graded=graded), press.at, out)
        elif action == FILTER_WORKFLOW:
            if self._workflows is None:
                self._workflows = rq.workflows(conn, self.reviewer)
            choices: list[str | None] = [None, *self._workflows]
            i = choices.index(s.flt.workflow) if s.flt.workflow in choices else 0
            flt = replace(s.flt, workflow=choices[(i + 1) % len(choices)])
            self._set_filter(conn, flt, press.at, out)
        elif action == FILTER_STATUS:
            j = STATUS_CYCLE.index(s.flt.status) if s.flt.status in STATUS_CYCLE else 0
            flt = replace(s.flt, status=STATUS_CYCLE[(j + 1) % len(STATUS_CYCLE)])
            self._set_filter(conn, flt, press.at, out)
        elif action == CLEAR_FILTERS:
            self._set_filter(conn, QueueFilter(), press.at, out)
        elif action == TOGGLE_QUEUE:
            out.effects.append(Effect("toggle_queue"))
        elif action in (SCROLL_DOWN, SCROLL_UP):
            out.effects.append(
                Effect("scroll", ("run", "page", 1 if action == SCROLL_DOWN else -1))
            )
        elif action == PALETTE:
            out.effects.append(Effect("palette"))

    def _text_key(self, conn: sqlite3.Connection, press: Press, out: DeskReport) -> None:
        """A key in a text box: only enter and escape act; every other key edits the text at
        the cursor, so typed text never becomes a command."""
        s = self.state
        limit = {COMMENTING: COMMENT_LIMIT, FINDING: FIND_LIMIT}.get(s.mode, SKIP_LIMIT)
        text, cur = s.text, min(max(s.cursor, 0), len(s.text))
        key = press.key
        if key == "escape":
            self.state = replace(s, mode=DESK, text="", cursor=0)
            if s.mode == SKIPPING:
                out.effects.append(Effect("notice", ("Not skipped.",)))
        elif key == "enter":
            if s.mode == SKIPPING and not text.strip():
                out.effects.append(
                    Effect(
                        "notice",
                        (
                            "A skip needs a reason: type why this run cannot be judged "
                            "(escape cancels).",
                        ),
                    )
                )
                return
            self.state = replace(s, mode=DESK, text="", cursor=0)
            if s.mode == FINDING:
                self._find(conn, text, press.at, out)
                return
            if s.run is None:
                return
            seconds = self._take_seconds(press.at)
            before = grading.get_grade(conn, s.run, self.reviewer, self.rubric)
            if s.mode == COMMENTING:
                after = grading.set_comment(
                    conn, s.run, self.reviewer, self.rubric, text, seconds=seconds
                )
            else:
                after = grading.set_skip(
                    conn, s.run, self.reviewer, self.rubric, text, seconds=seconds
                )
            self._wrote(s.run, before, after, out)
            if s.mode == SKIPPING:
                out.effects.append(Effect("notice", ("Skipped (u undoes).",)))
                if not (before and before.skipped) and self.advance == AUTO:
                    self._advance(conn, press.at, out)
        else:
            edited = edit_line(text, cur, key, char=press.char, paste=press.text, limit=limit)
            if edited is not None:
                self.state = replace(s, text=edited[0], cursor=edited[1])

    def _reading_key(self, press: Press, out: DeskReport) -> None:
        s = self.state
        closer = {READING_OUTPUT: OUTPUT, READING_CARD: CARD}.get(s.mode, HELP)
        if press.key in ("escape", "q") or press.action == closer:
            self.state = replace(s, mode=DESK)
            return
        scroll = _OVERLAY_SCROLL.get(press.key)
        if scroll is not None:
            out.effects.append(Effect("scroll", (s.mode, *scroll)))

    # -- what keys do --------------------------------------------------------------------------

    def _take_seconds(self, at: float) -> float:
        """Time on the open run since it was drawn or since the last key that wrote, whichever
        came later. Keys before the run was drawn count nothing; a pause longer than
        :data:`IDLE_CAP` counts as :data:`IDLE_CAP`."""
        s = self.state
        if not s.shown:
            return 0.0
        spent = min(max(0.0, at - s.opened_at), IDLE_CAP)
        self.state = replace(s, opened_at=max(at, s.opened_at))
        return spent

    def _unbound(self, press: Press, out: DeskReport) -> None:
        """A key that means nothing here says so, naming what would work."""
        key, ch = press.key, press.char
        if not key or key == "escape":
            return
        if press.text is not None:
            said = "A paste does nothing here: paste into a box (c comment, / find)."
            out.effects.append(Effect("notice", (said,)))
            return
        if ch and len(ch) == 1 and ch.isprintable() and not key.startswith(("ctrl+", "alt+")):
            lower = ch.lower()
            criterion = _criterion_like(self.rubric, ch)
            if lower != ch and lower in self.key_map:
                c, lv = self.key_map[lower]
                said = f"{ch} is not bound — Caps Lock on? {lower} is {lv.label} ({c.id})."
            elif lower != ch and press.lower:
                said = f"{ch} is not bound — Caps Lock on? {lower} is {press.lower}."
            elif criterion is not None:
                keys = [lv.key for lv in criterion.scale.levels]
                said = f"{ch} is not an answer: {criterion.id} takes {_either(keys)}."
            else:
                said = f"{ch} is not bound here: ? lists every key."
        else:
            said = f"{key} does nothing here: ? lists every key."
        out.effects.append(Effect("notice", (said,)))

    def _clear(self, conn: sqlite3.Connection, press: Press, out: DeskReport) -> None:
        """The key after the clear key: take back the answer it names on the open run."""
        run = self.state.run
        if press.key == "escape" or run is None:
            out.effects.append(Effect("notice", ("Nothing cleared.",)))
            return
        before = grading.get_grade(conn, run, self.reviewer, self.rubric)
        hit = self._level_of(press)
        me, rubric = self.reviewer, self.rubric
        # What the key names: (is it set, the word when it is not, the word once cleared, the
        # write that clears it).
        target: tuple[bool, str, str, Callable[[float], Grade]] | None = None
        if hit is not None:
            cid = hit[0].id
            target = (
                before is not None and before.values.get(cid) is not None,
                f"{cid} has no answer",
                f"Cleared {cid}",
                lambda s: grading.set_value(conn, run, me, rubric, cid, None, seconds=s),
            )
        elif press.action == ESCALATE:
            target = (
                before is not None and before.escalate,
                "the run is not flagged",
                "Escalation flag cleared",
                lambda s: grading.set_escalate(conn, run, me, rubric, False, seconds=s),
            )
        elif press.action == MARK_STEP:
            target = (
                before is not None and before.first_wrong_step is not None,
                "no step is marked",
                "First wrong step cleared",
                lambda s: grading.set_first_wrong_step(conn, run, me, rubric, None, seconds=s),
            )
        elif press.action == SKIP:
            target = (
                before is not None and before.skipped is not None,
                "the run is not skipped",
                "Skip taken back",
                lambda s: grading.set_skip(conn, run, me, rubric, None, seconds=s),
            )
        after: Grade | None = None
        if target is None:
            said = f"Nothing cleared: {press.char or press.key} is not an answer."
        elif not target[0]:
            said = f"Nothing cleared: {target[1]}."
        else:
            after = target[3](self._take_seconds(press.at))
            said = f"{target[2]} (u undoes)."
        if after is not None:
            self._wrote(run, before, after, out)
        out.effects.append(Effect("notice", (said,)))

    def _wrote(self, run: int, before: Grade | None, after: Grade, out: DeskReport) -> None:
        out.wrote = True
        out.drafts[run] = is_draft(after)
        was, now = bool(before and before.complete), after.complete
        if was != now:
            out.graded[run] = now
            out.graded_delta += 1 if now else -1
        # In the to-do view a run is neither graded nor skipped; in the graded view, graded.
        was_todo = not was and not (before and before.skipped)
        now_todo = not now and not after.skipped
        flt = self.state.flt.graded
        if flt is not None:
            was_in = was if flt else was_todo
            now_in = now if flt else now_todo
            if was_in != now_in:
                out.view_changed = True
                out.membership += 1 if now_in else -1
        if bool(before and before.skipped) != bool(after.skipped):
            out.skipped[run] = after.skipped is not None

    def _set_level(
        self, conn: sqlite3.Connection, criterion: str, value: Any, at: float, out: DeskReport
    ) -> None:
        run = self.state.run
        assert run is not None
        before = grading.get_grade(conn, run, self.reviewer, self.rubric)
        if (
            before is not None
            and before.skipped is None
            and str(before.values.get(criterion)) == str(value)
        ):
            # The level already chosen: pressing it again keeps it (a double tap or key repeat
            # never takes an answer back; the clear key does).
            return
        seconds = self._take_seconds(at)
        after = grading.set_value(
            conn, run, self.reviewer, self.rubric, criterion, value, seconds=seconds
        )
        self._wrote(run, before, after, out)
        if before is not None and before.skipped is not None:
            out.effects.append(Effect("notice", ("Answered: the run is no longer skipped.",)))
        if after.complete and not (before and before.complete):
            if self.advance == AUTO:
                self._advance(conn, at, out)
            else:
                out.effects.append(Effect("notice", ("Graded: enter opens the next run.",)))

    def _open_run(self, key: Key | None, at: float) -> None:
        run = key[1] if key else None
        same = run == self.state.run
        self.state = replace(
            self.state,
            run=run,
            key=key,
            # Time on another run counts once the screen has drawn it (Op "drawn").
            opened_at=self.state.opened_at if same else at,
            shown=self.state.shown if same else False,
            # The step cursor belongs to the run: another run starts without one.
            step=self.state.step if same else None,
            foreign=False,
            back=None,
        )

    def _open_foreign(self, run: int, at: float, out: DeskReport) -> None:
        """Open ``run``, outside the reviewer's queue, read-only; the queue place is kept."""
        s = self.state
        back = s.back if s.foreign else s.key
        self.state = replace(
            s, run=run, key=None, foreign=True, back=back, step=None, opened_at=at, shown=False
        )
        out.moved = None
        out.effects.append(Effect("notice", ("Not in your queue: read-only (escape goes back).",)))

    def _go_back(self, conn: sqlite3.Connection, at: float, out: DeskReport) -> None:
        """From a run outside the queue back to the queue run it was opened from (when it
        left the view since, the first run to grade there)."""
        s = self.state
        back = s.back
        key = rq.key_of(conn, self.reviewer, s.flt, back[1]) if back is not None else None
        if key is None and s.flt.graded is not True:
            key = rq.step(conn, self.reviewer, s.flt, None, todo=True)
        if key is None:
            key = rq.step(conn, self.reviewer, s.flt, None)
        self.state = replace(s, key=None)
        out.moved = None
        self._open_run(key, at)

    def _move_step(self, conn: sqlite3.Connection, *, forward: bool, out: DeskReport) -> None:
        """Move the step cursor; the first move on a run lands on its first step (``next``) or
        its last (``prev``). It stops at either end."""
        s = self.state
        if s.run is None:
            return
        count = int(
            conn.execute("SELECT count(*) FROM steps WHERE run = ?", (s.run,)).fetchone()[0]
        )
        if count == 0:
            out.effects.append(Effect("notice", ("This run has no steps.",)))
            return
        if s.step is None:
            step = 0 if forward else count - 1
        else:
            step = min(max(s.step + (1 if forward else -1), 0), count - 1)
        self.state = replace(s, step=step)

    def _mark_step(self, conn: sqlite3.Connection, at: float, out: DeskReport) -> None:
        """Mark the step under the cursor as the first wrong one (again: it stays marked)."""
        s = self.state
        if s.run is None:
            out.effects.append(Effect("notice", ("No run is open in this view.",)))
            return
        exists = (
            s.step is not None
            and conn.execute(
                "SELECT 1 FROM steps WHERE run = ? AND idx = ?", (s.run, s.step)
            ).fetchone()
            is not None
        )
        if s.step is None or not exists:
            out.effects.append(Effect("notice", ("Move to a step first (. and ,).",)))
            return
        before = grading.get_grade(conn, s.run, self.reviewer, self.rubric)
        if before is not None and before.first_wrong_step == s.step:
            return  # marked already: pressing again keeps it
        seconds = self._take_seconds(at)
        after = grading.set_first_wrong_step(
            conn, s.run, self.reviewer, self.rubric, s.step, seconds=seconds
        )
        self._wrote(s.run, before, after, out)

    def _advance(self, conn: sqlite3.Connection, at: float, out: DeskReport) -> None:
        """After a grade completes: the next run still to grade after this one, else the first
        one before it (wrapping), else stay and say every run in the view is graded."""
        s = self.state
        if s.flt.graded is True:
            return  # the graded view holds no run to grade: stay on the one just edited
        nxt = rq.step(conn, self.reviewer, s.flt, s.key, todo=True)
        if nxt is not None:
            if out.moved is not None and s.key is not None and s.run is not None:
                # The rows in between, plus the open run's own row if it is still in the view
                # (a graded run leaves the to-do view, and the next row takes its place).
                still = rq.key_of(conn, self.reviewer, s.flt, s.run) is not None
                out.moved += int(still) + rq.between(conn, self.reviewer, s.flt, s.key, nxt)
            self._open_run(nxt, at)
            return
        wrapped = rq.step(conn, self.reviewer, s.flt, None, todo=True)
        if wrapped is not None and wrapped != s.key:
            out.moved = None
            self._open_run(wrapped, at)
            out.effects.append(Effect("notice", ("Back to the first run still to grade.",)))
            return
        out.effects.append(Effect("notice", ("Every run in this view is graded.",)))

    def _move(self, conn: sqlite3.Connection, *, forward: bool, at: float, out: DeskReport) -> None:
        s = self.state
        if s.key is None:
            return
        target = rq.step(conn, self.reviewer, s.flt, s.key, forward=forward)
        if target is None:
            where = "last" if forward else "first"
            out.effects.append(Effect("notice", (f"That is the {where} run in this view.",)))
            return
        if out.moved is not None:
            # The open run may have left a graded/to-do view: then the neighbour is one row
            # closer; the screen looks the position up instead of guessing.
            if rq.key_of(conn, self.reviewer, s.flt, s.run or 0) is None:
                out.moved = None
            else:
                out.moved += 1 if forward else -1
        self._open_run(target, at)

    def _undo(self, conn: sqlite3.Connection, at: float, out: DeskReport) -> None:
        # The change undone may be on another run than the open one: undo reopens it.
        event = conn.execute(
            "SELECT e.run, e.action, coalesce(r.business_ref, r.run_id) FROM grade_events e "
            "LEFT JOIN runs r ON r.id = e.run WHERE e.reviewer = ? AND e.rubric_id = ? "
            "AND e.rubric_version = ? AND e.undone = 0 ORDER BY e.id DESC LIMIT 1",
            (self.reviewer, self.rubric.id, self.rubric.version),
        ).fetchone()
        if event is None:
            out.effects.append(Effect("notice", ("Nothing to undo.",)))
            return
        run, action, ref = int(event[0]), str(event[1]), event[2]
        was = grading.get_grade(conn, run, self.reviewer, self.rubric)
        restored = grading.undo(conn, self.reviewer, self.rubric)
        assert restored is not None
        self._wrote(run, was, restored, out)
        what = action.removeprefix("set:")
        out.effects.append(Effect("notice", (f"Undone: {what} on {ref or f'run {run}'}.",)))
        self._jump(conn, run, at, out)

    def _jump(self, conn: sqlite3.Connection, run: int, at: float, out: DeskReport) -> None:
        """Open ``run``, clearing the filters when it is not in the current view."""
        s = self.state
        key = rq.key_of(conn, self.reviewer, s.flt, run)
        if key is None:
            key = rq.key_of(conn, self.reviewer, QueueFilter(), run)
            if key is None:
                out.effects.append(Effect("notice", ("That run is not in your queue.",)))
                return
            self.state = replace(self.state, flt=QueueFilter())
            out.view_changed = out.filter_changed = True
        if key != s.key:
            out.moved = None
        self._open_run(key, at)

    def _find(self, conn: sqlite3.Connection, text: str, at: float, out: DeskReport) -> None:
        """Your queue first; then every run in the local copy (opened read-only)."""
        if not text.strip():
            return
        run = rq.find(conn, self.reviewer, text)
        if run is None:
            run = rq.find_anywhere(conn, text)
            if run is None:
                out.effects.append(
                    Effect("notice", (f"No run in the local copy matches {text.strip()!r}.",))
                )
                return
            if rq.key_of(conn, self.reviewer, QueueFilter(), run) is None:
                self._open_foreign(run, at, out)
                return
        self._jump(conn, run, at, out)

    def _set_filter(
        self, conn: sqlite3.Connection, flt: QueueFilter, at: float, out: DeskReport
    ) -> None:
        """Show ``flt``: reopen the run an earlier filter change left out of view when it is
        in this one; else keep the open run if it is in the new view, else remember it and open
        the first run still to grade there (the first run at all in the graded view), else
        nothing."""
        s = self.state
        self.state = replace(s, flt=flt)
        out.view_changed = out.filter_changed = True
        out.moved = None
        kept = s.kept
        if kept is not None:
            back = rq.key_of(conn, self.reviewer, flt, kept)
            if back is not None:
                self._open_run(back, at)
                self.state = replace(self.state, kept=None)
                return
        key = rq.key_of(conn, self.reviewer, flt, s.run) if s.run is not None else None
        if key is None and s.run is not None and kept is None:
            kept = s.run
        if key is None and flt.graded is not True:
            key = rq.step(conn, self.reviewer, flt, None, todo=True)
        if key is None:
            key = rq.step(conn, self.reviewer, flt, None)
        self._open_run(key, at)
        self.state = replace(self.state, kept=kept)

    def _open(
        self, conn: sqlite3.Connection, at: float, out: DeskReport, *, anew: bool = True
    ) -> None:
        """Open where the reviewer was (the run and filters saved, see review/place.py) when
        that run is still in that view; else on the first run still to grade (the first run
        when all are graded), with no filter."""
        if anew and not self.state.opened:
            place = load_place(conn, self.reviewer, self.rubric.id)
            self._saved = place
            if place is not None and place.run is not None:
                key = rq.key_of(conn, self.reviewer, place.flt, place.run)
                if key is not None:
                    self.state = replace(self.state, flt=place.flt, opened=True)
                    self._open_run(key, at)
                    out.view_changed = out.filter_changed = True
                    out.moved = None
                    return
            self.state = replace(self.state, flt=QueueFilter())
        flt = self.state.flt
        key = rq.step(conn, self.reviewer, flt, None, todo=True) or rq.step(
            conn, self.reviewer, flt, None
        )
        self.state = replace(self.state, opened=True)
        self._open_run(key, at)
        out.view_changed = out.filter_changed = True
        out.moved = None

    def _refresh(self, conn: sqlite3.Connection, at: float, out: DeskReport) -> None:
        """The database changed under the desk (a sync): keep the open run if it is still in
        the view, else open as if anew. The counts and the workflow list are read again."""
        s = self.state
        if not s.opened:
            return
        self._workflows = None
        self._weeks = None
        if s.foreign:
            out.view_changed = out.filter_changed = True
            out.moved = None
            return  # the run outside the queue stays open; escape goes back
        key = rq.key_of(conn, self.reviewer, s.flt, s.run) if s.run is not None else None
        if key is None:
            self._open(conn, at, out, anew=False)
        else:
            self._open_run(key, at)
        out.view_changed = out.filter_changed = True
        out.moved = None


def _merge(into: DeskReport, part: DeskReport) -> None:
    if part.moved is None or into.moved is None:
        into.moved = None
    else:
        into.moved += part.moved
    into.view_changed |= part.view_changed
    into.filter_changed |= part.filter_changed
    into.membership += part.membership
    for run, graded in part.graded.items():
        into.graded[run] = graded
    into.graded_delta += part.graded_delta
    into.drafts.update(part.drafts)
    into.skipped.update(part.skipped)
    into.effects.extend(part.effects)
    into.errors.extend(part.errors)
    into.wrote |= part.wrote


def is_draft(grade: Grade | None) -> bool:
    """A grade started and not complete: an answer, a comment, the flag or a marked step."""
    return bool(
        grade is not None
        and not grade.complete
        and (grade.values or grade.comment or grade.escalate or grade.first_wrong_step is not None)
    )


def _is_op(item: Item, name: str) -> bool:
    return isinstance(item, Op) and item.name == name


def _criterion_like(rubric: Rubric, char: str) -> Criterion | None:
    """The criterion whose keys ``char`` looks like one of: a digit on a scale of digits."""
    if not char.isdigit():
        return None
    for c in rubric.criteria:
        if any(lv.key.isdigit() for lv in c.scale.levels):
            return c
    return None


def _either(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} or {keys[-1]}"


def _describe(item: Item) -> str:
    if isinstance(item, Op):
        return f"{item.name!r}"
    return f"key {item.key!r}"


# -- the runner ------------------------------------------------------------------------------------


class TapeRunner:
    """Feeds the tape from the UI thread to the database thread, in order, in batches.

    ``put`` never blocks. ``report`` is called on the database thread after each committed
    batch (and with ``error`` set when a batch must wait and be retried); it must not block.
    """

    MAX_BATCH = 256

    def __init__(
        self,
        db: DbThread,
        tape: DeskTape,
        report: Callable[[DeskReport | None, str | None], None],
        *,
        retry_after: Callable[[int], float] = lambda attempt: min(0.5 * 2**attempt, 15.0),
    ) -> None:
        self.db = db
        self.tape = tape
        self._report = report
        self._retry_after = retry_after
        self._inbox: deque[Item] = deque()
        self._lock = threading.Condition()
        self._scheduled = False
        self._busy = False
        self._attempt = 0
        self._timer: threading.Timer | None = None
        self._closed = False
        self.last_error: str | None = None

    def put(self, item: Item) -> None:
        """Append ``item`` to the tape; it is applied after everything put before it."""
        with self._lock:
            self._inbox.append(item)
            self._schedule_locked()

    def _schedule_locked(self) -> None:
        if self._scheduled or self._timer is not None or self._closed:
            return
        self._scheduled = True
        self.db.submit(self._drain).add_done_callback(self._drain_failed)

    def _drain_failed(self, future: Future[None]) -> None:
        # The drain itself could not start (the database would not even open): same as a
        # failed batch, the keys wait in the inbox and are tried again later.
        exc = future.exception()
        if exc is None:
            return
        self._failed(exc, waiting_batch=[])

    def _failed(self, exc: BaseException, waiting_batch: list[Item]) -> None:
        with self._lock:
            self._inbox.extendleft(reversed(waiting_batch))
            self._busy = False
            self._scheduled = False
            waiting = len(self._inbox)
            delay = self._retry_after(self._attempt)
            self._attempt += 1
            if not self._closed and self._timer is None:
                self._timer = threading.Timer(delay, self._retry)
                self._timer.daemon = True
                self._timer.start()
            self._lock.notify_all()
        reason = explain(exc) if transient(exc) else f"{type(exc).__name__}: {exc}"
        self.last_error = (
            f"Not saved yet: {reason}. {waiting} key(s) wait and are retried in "
            f"{delay:.0f} s, in order."
        )
        self._report(None, self.last_error)

    def waiting(self) -> int:
        """Items put and not yet applied (including a batch being applied now)."""
        with self._lock:
            return len(self._inbox) + (1 if self._busy else 0)

    def idle(self) -> bool:
        with self._lock:
            return not self._inbox and not self._busy and not self._scheduled

    def _drain(self, conn: sqlite3.Connection) -> None:
        while True:
            with self._lock:
                if not self._inbox:
                    self._scheduled = False
                    self._lock.notify_all()
                    return
                batch = [
                    self._inbox.popleft() for _ in range(min(len(self._inbox), self.MAX_BATCH))
                ]
                self._busy = True
            try:
                report = self.tape.apply(conn, batch)
            except Exception as exc:
                self._failed(exc, batch)
                return
            with self._lock:
                self._busy = False
                self._attempt = 0
                self.last_error = None
                self._lock.notify_all()
            self._report(report, None)

    def _retry(self) -> None:
        with self._lock:
            self._timer = None
            if self._inbox:
                self._schedule_locked()

    def retry_now(self) -> None:
        """Try waiting keys again at once (the person freed some space)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._inbox:
                self._schedule_locked()

    def flush(self, timeout: float | None = None, *, stop_on_error: bool = False) -> bool:
        """Wait until every item put so far is applied (retries included); False if that did
        not happen in time, or at once when ``stop_on_error`` and the last batch failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._inbox or self._busy or self._scheduled:
                if stop_on_error and self._timer is not None:
                    return False  # waiting for a retry: the disk is not taking writes
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining if remaining is not None else 0.1)
            return True

    def close(self) -> int:
        """Stop retrying; return how many keys were never applied (ops such as saving the
        place are not keys)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return sum(isinstance(item, Press) for item in self._inbox)

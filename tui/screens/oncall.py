"""The On call area: the incident board.

Open incidents first, by severity and then newest; for the highlighted one, its workflow's runs
in the incident window from the local database (count, error rate, top errors, cost against the
weeks before) and the runbooks that match its workflow and failure mode. Everything is read from
the local copy, so the board works offline from the last sync. When the workspace has alert
sources, the board polls them on a timer that starts again only after a poll has ended, so polls
never pile up.

Enter (or 1–9) opens a runbook for the incident; ``c`` shows the agent card; ``x`` is the
emergency stop for the incident's workflow (the same preflight, typed confirmation, read-back
and audit as a runbook's kill-switch step, recorded against the incident); ``p`` lists the
cards and runbooks that do not validate (a banner on the board says how many), ``?`` shows help.
Nothing broken is hidden: an incident whose runbook does not validate says which runbook and
where, instead of saying it has none.

The board, the runbook walkthrough and the card are views of this one screen. Its keys are a
tape: ``on_key`` only queues them, and one consumer reads them in order, each after the one
before it has been applied (saved, checked, sent), and gives it to the view open at that
moment. A burst so does what the same keys typed slowly would, however slow the disk or the
check.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Static

from runbooks.cards import AgentCard
from runbooks.catalog import Catalog, OnCallFiles
from runbooks.engine import sessions
from runbooks.incidents import IncidentDetail, IncidentLine, incident_detail, incident_lines
from store.documents import DocumentError
from tui.keymap import AREAS, area_bindings, help_rows, key_display, scroll_by_key
from tui.oncall.runbook_view import RunbookView
from tui.screens.area import BoardScreen
from tui.services import Services
from tui.text import one_line, safe_text
from tui.widgets.overlays import help_text
from tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from tui.oncall.emergency import EmergencyStop

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "page": "bold white on red",
    "error": "bold red",
    "high": "bold red",
    "warning": "yellow",
}

#: Seconds between alert polls (counted from the end of the last one).
POLL_SECONDS = 60.0


#: Keys of each view besides its bindings, for help: (keys, what, why).
VIEW_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "board": [
        ("j, k, up, down", "Move", "Highlight the next or previous incident"),
        ("2-9", "Other runbooks", "Open the incident's other runbooks, in the order listed"),
    ],
    "card": [
        ("j, k, space, pgup", "Scroll", "Scroll the card"),
        ("escape, c", "Back", "Back to where the card was opened from"),
    ],
    "problems": [
        ("j, k, space, pgup", "Scroll", "Scroll the list"),
        ("escape, p", "Back", "Back to the board"),
    ],
    "runbook": [
        ("1-9", "Choose", "Take one of the step's choices"),
        ("enter", "Go on", "Go on to the next step, or finish at an end"),
        ("b", "Back", "Back to the step before"),
        ("y, n", "Answer", "Answer the step's yes/no question"),
        ("w", "Note", "Write a note on the step (enter saves)"),
        ("s", "Skip", "Type the word skip, enter, then the reason"),
        ("a", "Abandon", "Type the word abandon, enter, then the reason"),
        ("r", "Recheck", "Run the step's check again"),
        ("k", "Kill switch", "Lower the agent (only ever lowers) on a kill-switch step"),
        ("R", "Restore", "Raise the agent back to its card's tier on a restore step"),
        ("t", "Tell the source", "Silence or acknowledge the incident's alert"),
        ("c", "Card", "The workflow's agent card"),
        ("escape", "Board", "Back to the board (saved; resumes); after a refused key: go on"),
    ],
    "stop": [
        ("type, enter", "Confirm", "Type the workflow's name, enter, the reason, enter: send"),
        ("escape", "Cancel", "Back to the board; nothing is sent"),
    ],
}
#: The runbook walkthrough's keys, for its help.
RUNBOOK_KEYS = VIEW_KEYS["runbook"]
VIEW_TITLES = {
    "board": "the incident board",
    "card": "the agent card",
    "problems": "cards and runbooks that do not validate",
    "runbook": "the runbook walkthrough (the keys of each step are shown under it)",
}


def load_catalog(root: Path, cards_dir: Path, runbooks_dir: Path) -> OnCallFiles:
    """Cards, runbooks and every problem of the ones that do not validate (read from files:
    run it off the UI thread)."""
    from runbooks.catalog import load_oncall_files

    return load_oncall_files(cards_dir, runbooks_dir)


def problem_where(problem: DocumentError, root: Path) -> str:
    """``file:line`` of a problem, the file relative to the workspace when it is inside it."""
    path = problem.path
    with suppress(ValueError):
        path = path.resolve().relative_to(root.resolve())
    return f"{path}:{problem.line}" if problem.line else str(path)


def problems_banner(files: OnCallFiles) -> Text:
    """The board's one line about cards and runbooks that do not validate (empty when none)."""
    if not files.problems:
        return Text("")
    n, count = files.broken_files, len(files.problems)
    t = Text(f" {n} runbook{'s' if n != 1 else ''}/card{'s' if n != 1 else ''} ", "bold")
    t.append("does" if n == 1 else "do", "bold")
    t.append(" not validate", "bold")
    if count != n:
        t.append(f" ({count} problems)", "bold")
    t.append(": p shows them ")
    t.stylize("white on dark_red")
    return t


def problems_text(files: OnCallFiles | None, root: Path) -> Text:
    """Every problem as ``file:line: what``, cards first (file contents are untrusted text)."""
    t = Text()
    t.append(" Cards and runbooks that do not validate ", "bold reverse")
    t.append("\n")
    if files is None:
        t.append("Reading the cards and runbooks…", "dim")
        return t
    if not files.problems:
        t.append("Every card and runbook validates.", "green")
    for problem in files.problems:
        t.append("\n")
        t.append(safe_text(problem_where(problem, root)), "bold")
        t.append(": ")
        t.append(safe_text(problem.message))
    t.append(
        "\n\nA runbook that does not validate never starts; its incident names it. "
        "Fix the file (agentdeck validate checks it), then press r on the board to read it again.",
        "dim",
    )
    t.append("\nescape: back", "dim")
    return t


def detail_text(
    line: IncidentLine,
    detail: IncidentDetail | None,
    runbooks: list[str],
    *,
    in_progress: dict[int, int] | None = None,
    broken: Sequence[tuple[str, str]] = (),
    tier: tuple[str, str | None, str | None] | None = None,
) -> Text:
    """The highlighted incident: what it is, its runbooks (first: what enter does), its runs in
    the window, and the alert's summary. ``in_progress`` maps a runbook's index to the step an
    unfinished walkthrough of it is at; ``broken`` lists the workflow's runbooks that do not
    validate, as (name, ``file:line``); ``tier`` is the card's configured tier, the live state
    of its switch at the last check (None: never read, or unreadable) and when it was read."""
    in_progress = in_progress or {}
    t = Text()
    t.append(one_line(line.title, 200), "bold")
    t.append("\n")
    if runbooks:
        t.append("runbooks ", "dim")
        for i, title in enumerate(runbooks[:9]):
            t.append(f"{'enter' if i == 0 else i + 1}", "bold reverse")
            t.append(f" {one_line(title, 50)}")
            if i in in_progress:
                t.append(f" (resume at step {in_progress[i]})", "bold yellow")
            t.append("  ")
    elif not broken:
        t.append("no runbook for this workflow: escalate to the card's contact (c)", "yellow")
    for i, (name, where) in enumerate(broken):
        if runbooks or i:
            t.append("\n")
        t.append(f"runbook {one_line(name, 50)} does not validate: ", "bold red")
        t.append(one_line(where, 80), "red")
        t.append(" (p)", "dim")
    t.append(f"\n{one_line(line.source, 20)}/{one_line(line.incident_id, 40)}", "dim")
    t.append(f" · {one_line(line.workflow or 'no workflow', 40)}")
    if tier is not None:
        configured, live, at = tier
        if live == "" and at:
            t.append(f" · configured tier {configured} (live: unreadable at ", "dim")
            t.append(f"{at[5:16].replace('T', ' ')})", "dim")
        elif live:
            t.append(" · tier ", "dim")
            t.append(live, "bold" if live == configured else "bold red")
            t.append(f" (live, read {at[5:16].replace('T', ' ')})" if at else " (live)", "dim")
            t.append(f" · configured {configured}", "dim")
        else:
            t.append(f" · configured tier {configured} (live: not read yet)", "dim")
    t.append(f" · since {line.starts_at[5:16].replace('T', ' ')} UTC", "dim")
    if line.ends_at:
        t.append(f" · ended {line.ends_at[5:16].replace('T', ' ')}", "dim")
    if detail is not None and line.workflow:
        t.append("\nruns in window ", "dim")
        t.append(f"{detail.runs:,}", "bold")
        if detail.error_rate is not None:
            t.append(" · errors ", "dim")
            t.append(f"{detail.error_rate:.0%}", "bold red" if detail.error_rate > 0.1 else "bold")
        if detail.cost_per_run is not None:
            t.append(" · cost/run ", "dim")
            t.append(f"${detail.cost_per_run:.4f}")
            if detail.baseline_cost_per_run:
                ratio = detail.cost_per_run / detail.baseline_cost_per_run
                t.append(
                    f" ({ratio:.1f}× the {detail.baseline_weeks} weeks before)",
                    "bold red" if ratio > 1.5 else "dim",
                )
        if detail.top_errors:
            t.append("\ntop errors ", "dim")
            t.append(" · ".join(f"{one_line(name, 50)} ({n})" for name, n in detail.top_errors))
    if line.summary:
        t.append("\n")
        t.append(one_line(line.summary, 400))
    return t


class OnCallScreen(BoardScreen):
    """The incident board."""

    CSS_PATH = "../oncall.tcss"
    AREA = "oncall"
    AUTO_FOCUS = None
    BINDINGS = [
        *area_bindings("oncall"),
        Binding(
            "enter",
            "open_runbook(0)",
            "Runbook",
            tooltip="Open the incident's runbook (2-9: the others)",
            id="oncall.runbook",
        ),
        Binding("c", "card", "Card", tooltip="The workflow's agent card", id="oncall.card"),
        Binding(
            "x",
            "emergency_stop",
            "Stop",
            tooltip="Emergency stop: lower the incident's workflow to its safest tier",
            id="oncall.stop",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            tooltip="Every key of the view that is open",
            id="oncall.help",
        ),
        Binding(
            "r", "refresh", "Refresh", tooltip="Poll the alert sources now", id="oncall.refresh"
        ),
        Binding(
            "p",
            "problems",
            "Problems",
            tooltip="Cards and runbooks that do not validate, each with file:line",
            id="oncall.problems",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the board (the runbook is saved)",
            id="oncall.back",
        ),
    ]
    #: Keys the board's table moves with.
    MOVES = {
        "up": "cursor_up",
        "down": "cursor_down",
        "k": "cursor_up",
        "j": "cursor_down",
        "pageup": "page_up",
        "pagedown": "page_down",
        "home": "scroll_top",
        "end": "scroll_bottom",
    }

    def __init__(self, services: Services, *, opened_on_firing: int = 0) -> None:
        super().__init__(services)
        self.incidents: list[IncidentLine] = []
        self.cards: dict[str, AgentCard] = {}
        self.catalog: Catalog | None = None
        #: The cards, runbooks and problems read from the workspace's files.
        self.files: OnCallFiles | None = None
        #: Incidents firing when the app opened here on its own (0: it was asked to).
        self.opened_on_firing = opened_on_firing
        self._polling = False
        #: "board", "runbook", "card", "problems" or "help"; the view that was open before the
        #: card, the problems and help (each goes back to it).
        self.view = "board"
        self._card_from = "board"
        self._problems_from = "board"
        self._help_from = "board"
        self.runbook: RunbookView | None = None
        #: Unfinished walkthroughs: incident key -> runbook id -> the step number it is at.
        self.walking: dict[tuple[str, str], dict[str, int]] = {}
        #: Keys waiting to be read, in the order typed (see the module's docstring).
        self._keys: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._reading = 0
        self._quitting = False
        #: ``r`` reads the cards and runbooks again at the next load.
        self._reread = False
        #: Each workflow's primary switch at its last check: (live state, when read).
        self.live: dict[str, tuple[str | None, str]] = {}
        #: The board's emergency stop while it is open.
        self.stop: EmergencyStop | None = None

    def compose(self) -> ComposeResult:
        yield self.area_bar()
        with Vertical(id="board-view"):
            yield Static(Text(""), id="board-banner")
            title = Text("Incidents (from the last sync)", "bold")
            if self.services.drill:
                title = Text.assemble(
                    (" DRILL: nothing is sent ", "bold black on yellow"), " ", title
                )
            yield Static(title, id="board-title")
            table: DataTable[Text] = DataTable(id="board", cursor_type="row", zebra_stripes=True)
            table.can_focus = False  # every key goes through on_key, in order
            yield table
            yield Static(Text(""), id="incident-detail")
        yield Vertical(id="runbook-host")
        with VerticalScroll(id="card-view"):
            yield Static(Text(""), id="card-body")
        with VerticalScroll(id="problems-view"):
            yield Static(Text(""), id="problems-body")
        with VerticalScroll(id="help-view"):
            yield Static(Text(""), id="help-body")
        yield StatusLine(self.services, id="status")
        yield Footer()

    def prepare(self) -> None:
        self._show("board")
        self._draw_banner()
        table = self.query_one(DataTable)
        for label in ("severity", "status", "incident", "workflow", "started", "runs", "errors"):
            table.add_column(label, key=label)
        if self.services.workspace.config.alerts:
            self.set_timer(1.0, self._poll)

    # -- polling -------------------------------------------------------------------------------

    def _poll(self) -> None:
        """Pull the alert sources once; the next poll is scheduled when this one has ended."""
        if self._polling:
            return
        self._polling = True
        self._work(self._poll_once, "oncall-poll", exclusive=True)

    async def _poll_once(self) -> None:
        try:
            await asyncio.to_thread(self.services.pull_alerts)
        finally:
            self._polling = False
            self.set_timer(POLL_SECONDS, self._poll)
        self.reload()

    def action_refresh(self) -> None:
        # The cards and runbooks are read again too: a file fixed since shows as fixed.
        self._reread = True
        self.notify("Reading the alert sources, cards and runbooks again…", markup=False)
        if self.services.workspace.config.alerts:
            self._poll()
        else:
            self.reload()

    # -- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        def read(conn: sqlite3.Connection) -> list[IncidentLine]:
            return incident_lines(conn)

        if self.catalog is None or self._reread:
            self._reread = False
            ws = self.services.workspace
            files = await asyncio.to_thread(load_catalog, ws.root, ws.cards_dir, ws.runbooks_dir)
            self.files, self.cards, self.catalog = files, files.cards, files.catalog
            self._draw_banner()
            self.refresh_bindings()
            if self.view == "problems":
                self._draw_problems()
        drill = self.services.drill

        def walking(conn: sqlite3.Connection) -> dict[tuple[str, str], dict[str, int]]:
            # Unfinished walkthroughs (of this mode: real or drill), by incident and runbook.
            out: dict[tuple[str, str], dict[str, int]] = {}
            for s in sessions(conn):
                if s.status == "active" and s.drill == drill and s.incident_id is not None:
                    key = (s.incident_source or "", s.incident_id)
                    out.setdefault(key, {}).setdefault(s.runbook_id, len(s.path))
            return out

        self.incidents = await asyncio.wrap_future(self.services.reader.submit(read))
        self.walking = await asyncio.wrap_future(self.services.reader.submit(walking))

        def live(conn: sqlite3.Connection) -> dict[str, tuple[str | None, str]]:
            from runbooks.killswitch import last_checks

            # The primary's last read; a second channel read later (after the primary failed)
            # says the live state as well.
            out: dict[str, tuple[str | None, str]] = {}
            for w, checks in last_checks(conn).items():
                read = [c for c in checks if c.reachable]
                newest = max(read, key=lambda c: c.checked_at) if read else None
                if newest is not None:
                    out[w] = (newest.state, newest.checked_at)
                elif checks:
                    out[w] = ("", checks[0].checked_at)
            return out

        self.live = await asyncio.wrap_future(self.services.reader.submit(live))
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for i in self.incidents:
            mark = "▶ " if i.key in self.walking else ""
            table.add_row(
                Text(one_line(i.severity or "—", 10), SEVERITY_STYLE.get(i.severity or "", "")),
                Text(one_line(i.status or "—", 12), "bold" if i.status != "resolved" else "dim"),
                Text(mark + one_line(i.title, 38), "bold yellow" if mark else ""),
                Text(one_line(i.workflow or "—", 20)),
                Text(one_line(i.starts_at[5:16].replace("T", " "), 11)),
                Text(f"{i.runs:,}", justify="right"),
                Text(f"{i.errors:,}", "red" if i.errors else "", justify="right"),
                key=f"{i.source}/{i.incident_id}",
            )
        if self.incidents:
            table.move_cursor(row=min(max(keep, 0), len(self.incidents) - 1))
        open_count = sum(1 for i in self.incidents if i.status != "resolved")
        self.query_one(StatusLine).set_area(
            Text(f" {open_count} open · {len(self.incidents)} incidents", "bold")
        )
        await self._show_detail()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._work(self._show_detail, "oncall-detail", exclusive=True)

    def current(self) -> IncidentLine | None:
        table = self.query_one(DataTable)
        if not self.incidents or table.cursor_row < 0:
            return None
        return self.incidents[min(table.cursor_row, len(self.incidents) - 1)]

    def runbooks_for(self, line: IncidentLine) -> list[str]:
        if self.catalog is None:
            return []
        return [rb.id for rb in self.catalog.matching(line.workflow, line.labels)]

    async def _show_detail(self) -> None:
        line = self.current()
        panel = self.query_one("#incident-detail", Static)
        if line is None:
            panel.update(Text("No incidents in the local copy. Sync to pull them.", "dim"))
            return

        def read(conn: sqlite3.Connection) -> IncidentDetail:
            return incident_detail(conn, line)

        detail = await asyncio.wrap_future(self.services.reader.submit(read))
        if self.current() is not line:
            return
        assert self.catalog is not None
        ids = self.runbooks_for(line)
        titles = [self.catalog.runbooks[rid].runbook.title for rid in ids]
        walking = self.walking.get(line.key, {})
        at = {i: walking[rid] for i, rid in enumerate(ids) if rid in walking}
        root = self.services.workspace.root
        broken = [
            (b.name, problem_where(b.problems[0], root))
            for b in self.catalog.broken_for(line.workflow)
        ]
        card = self.cards.get(line.workflow or "")
        tier = None
        if card is not None:
            state, read_at = self.live.get(card.workflow, (None, None))
            tier = (card.tier, state, read_at)
        panel.update(detail_text(line, detail, titles, in_progress=at, broken=broken, tier=tier))

    # -- banners, problems and help ---------------------------------------------------------------

    def _draw_banner(self) -> None:
        t = Text()
        if self.opened_on_firing:
            n = self.opened_on_firing
            review = next(
                b for b in self.BINDINGS if isinstance(b, Binding) and b.id == AREAS[0][3]
            )
            t.append(
                f" {n} incident{'s' if n != 1 else ''} open: opened On call "
                f"({key_display(self.app, review)} for Review) ",
                "bold black on yellow",
            )
        if self.files is not None and self.files.problems:
            if t:
                t.append("\n")
            t.append_text(problems_banner(self.files))
        banner = self.query_one("#board-banner", Static)
        banner.update(t)
        banner.display = bool(t)

    def on_screen_suspend(self) -> None:
        # The "opened On call" banner explains one opening; once the operator has gone to another
        # area it would only be stale.
        if self.opened_on_firing:
            self.opened_on_firing = 0
            self._draw_banner()

    def _draw_problems(self) -> None:
        body = self.query_one("#problems-body", Static)
        body.update(problems_text(self.files, self.services.workspace.root))

    def action_problems(self) -> None:
        """The cards and runbooks that do not validate, each ``file:line: what``."""
        if self.view in ("problems", "help"):
            return
        self._problems_from = self.view
        self._draw_problems()
        self.query_one("#problems-view", VerticalScroll).scroll_home(animate=False)
        self._show("problems")

    def action_help(self) -> None:
        self.show_help()

    def show_help(self, rows: Sequence[tuple[str, str, str]] | None = None) -> None:
        """Open help for the view that is open now; escape (or ``?``) goes back to it.

        The runbook view calls this for ``?`` typed outside text entry; ``rows`` (keys, what,
        why) replace this screen's list of that view's keys when the caller knows them better.
        """
        if self.view == "help":
            return
        shown = list(rows) if rows is not None else VIEW_KEYS.get(self.view, [])
        bindings = [*self.BINDINGS, *self.app.BINDINGS]
        if self.view != "board":
            # Board-only keys would mislead in another view; quit, the palette, the areas stay.
            bindings = [
                b
                for b in bindings
                if not (isinstance(b, Binding) and (b.id or "").startswith("oncall."))
            ]
        t = Text()
        t.append(f" Help: {VIEW_TITLES.get(self.view, self.view)} ", "bold reverse")
        t.append("  escape or ? closes\n\n", "dim")
        # Laid out for the screen's width (padding and the scrollbar off): a description that
        # wraps stays under its column.
        width = max(self.size.width - 3, 40)
        t.append_text(help_text([*shown, *help_rows(self.app, bindings)], None, width=width))
        self.query_one("#help-body", Static).update(t)
        self.query_one("#help-view", VerticalScroll).scroll_home(animate=False)
        self._help_from = self.view
        self._show("help")

    # -- views and keys --------------------------------------------------------------------------

    def _show(self, view: str) -> None:
        self.view = view
        self.query_one("#board-view").display = view in ("board", "stop")
        self.query_one("#runbook-host").display = view == "runbook"
        self.query_one("#card-view").display = view == "card"
        self.query_one("#problems-view").display = view == "problems"
        self.query_one("#help-view").display = view == "help"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_runbook", "refresh", "emergency_stop"):
            return self.view == "board"
        if action == "problems":
            # In the footer only when there are some (p always answers, and the banner says it).
            return self.view == "board" and self.files is not None and bool(self.files.problems)
        if action == "card":
            return self.view in ("board", "runbook")
        if action == "back":
            return self.view != "board"
        if action == "help":
            return self.view in ("board", "card", "problems", "runbook")
        return True

    def is_busy(self) -> bool:
        if self._reading or not self._keys.empty():
            return True
        if self.stop is not None and self.stop.is_busy():
            return True
        return self.runbook is not None and self.runbook.is_busy()

    def on_key(self, event: events.Key) -> None:
        key = event.key
        if key in ("ctrl+q", "ctrl+p", "f1", "f2", "f3"):
            return  # quit, the palette and the areas are the app's
        event.stop()
        event.prevent_default()
        if key.startswith("alt+"):
            # A terminal sends escape as ESC and alt+x as ESC x: escape typed just before a key
            # arrives as alt+key. On call binds nothing to alt: escape, then the key, in order.
            self._queue(("escape", "\x1b"))
            key = key[len("alt+") :]
            self._queue((key, key if len(key) == 1 else {"space": " "}.get(key)))
            return
        self._queue((key, event.character))

    def quit_after_keys(self) -> bool:
        """Whether keys typed before quitting are still to be applied: then quitting waits for
        them (it is queued behind them) and this says True."""
        if self._quitting or (not self._reading and self._keys.empty()):
            return False
        self._queue(("app:quit", None))
        return True

    def _queue(self, item: tuple[str, str | None]) -> None:
        self._keys.put_nowait(item)
        if not self._reading:
            self._reading = 1
            self._work(self._read_keys, "oncall-keys")

    async def _read_keys(self) -> None:
        """The one reader of this screen's keys: each applied before the next is read; it
        ends when none is waiting (the next key starts it again)."""
        try:
            while not self._keys.empty():
                key, character = self._keys.get_nowait()
                try:
                    await self._route(key, character)
                except Exception as exc:  # one line, and the next key is still read
                    self.services.worker_failed(exc)
        finally:
            self._reading = 0

    def queue_recheck(self, step_id: str) -> None:
        """A wait step's recheck fell due: it goes behind the keys already typed."""
        self._queue((f"recheck:{step_id}", None))

    async def _route(self, key: str, character: str | None) -> None:
        if key == "app:quit":
            self._quitting = True
            await self.run_action("app.quit")
            return
        if key.startswith("recheck:"):
            view = self.runbook
            due = key.split(":", 1)[1]
            if view is not None and view.session is not None and view.session.current == due:
                await view.recheck()
                view.redraw()
            return
        if self.view == "help":
            if key in ("escape", "question_mark", "q"):
                self._show(self._help_from)
            else:
                scroll_by_key(self.query_one("#help-view", VerticalScroll), key)
        elif self.view == "problems":
            if key in ("escape", "p", "q"):
                self._show(self._problems_from)
            elif key == "question_mark":
                self.show_help()
            else:
                scroll_by_key(self.query_one("#problems-view", VerticalScroll), key)
        elif self.view == "runbook" and self.runbook is not None:
            await self.runbook.handle(key, character)
        elif self.view == "stop" and self.stop is not None:
            await self.stop.handle(key, character)
            if self.stop.closed:
                self._close_stop()
        elif self.view == "card":
            if key in ("escape", "c", "q"):
                self._show(self._card_from)
            elif key == "question_mark":
                self.show_help()
            else:
                scroll_by_key(self.query_one("#card-view", VerticalScroll), key)
        elif key in self.MOVES:
            getattr(self.query_one(DataTable), f"action_{self.MOVES[key]}")()
        elif key == "enter":
            await self._open_runbook(0)
        elif key.isdigit() and key != "0":
            await self._open_runbook(int(key) - 1)
        elif key == "c":
            self.action_card()
        elif key == "r":
            self.action_refresh()
        elif key == "x":
            await self._emergency_stop()
        elif key == "p":
            self.action_problems()
        elif key == "question_mark":
            self.show_help()

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.view == "runbook" and self.runbook is not None:
            self.runbook.paste(event.text)
        elif self.view == "stop" and self.stop is not None:
            self.stop.paste(event.text)

    def action_back(self) -> None:
        if self.view == "help":
            self._show(self._help_from)
        elif self.view == "problems":
            self._show(self._problems_from)
        elif self.view == "card":
            self._show(self._card_from)
        elif self.view == "runbook":
            self._leave_runbook()

    def action_card(self) -> None:
        from tui.oncall.card_view import card_view

        if self.view == "runbook" and self.runbook is not None:
            card: AgentCard | None = self.runbook.card
        else:
            line = self.current()
            card = self.cards.get(line.workflow or "") if line else None
        if card is None:
            self.notify("This incident's workflow has no agent card.", markup=False)
            return
        self.query_one("#card-body", Static).update(card_view(card))
        self._card_from = self.view
        self._show("card")

    def _leave_runbook(self) -> None:
        view, self.runbook = self.runbook, None
        if view is not None:
            view.remove()
        self._show("board")
        self.reload()

    def action_open_runbook(self, index: int) -> None:
        self._queue(("enter", None) if index == 0 else (str(index + 1), str(index + 1)))

    def action_emergency_stop(self) -> None:
        self._queue(("x", "x"))

    async def _emergency_stop(self) -> None:
        from tui.oncall.emergency import EmergencyStop

        line = self.current()
        if line is None:
            return
        card = self.cards.get(line.workflow or "")
        if card is None:
            self.notify("This incident's workflow has no agent card.", markup=False)
            return
        # An emergency stop closed by the key just before may still be on its way out.
        await self.query(EmergencyStop).remove()
        self.stop = EmergencyStop(self.services, card, line)
        await self.query_one("#board-view").mount(self.stop)
        self.query_one("#incident-detail").display = False
        self._show("stop")
        await self.stop.begin()
        if self.stop is not None and self.stop.closed:
            self._close_stop()

    def _close_stop(self) -> None:
        stop, self.stop = self.stop, None
        if stop is not None:
            stop.remove()
        self.query_one("#incident-detail").display = True
        self._show("board")
        self.reload()

    async def _open_runbook(self, index: int) -> None:
        from tui.oncall.runbook_view import RunbookView

        line = self.current()
        if line is None or self.catalog is None:
            return
        ids = self.runbooks_for(line)
        if index >= len(ids):
            broken = self.catalog.broken_for(line.workflow)
            if broken:
                # Said, not hidden: the runbook exists and cannot start until its file is fixed.
                where = problem_where(broken[0].problems[0], self.services.workspace.root)
                self.notify(
                    f"runbook {one_line(broken[0].name, 50)} does not validate: "
                    f"{one_line(where, 80)} (p lists every problem)",
                    severity="warning",
                    markup=False,
                )
            else:
                self.notify("No such runbook for this incident.", markup=False)
            return
        card = self.cards.get(line.workflow or "")
        if card is None:
            self.notify("This incident's workflow has no agent card.", markup=False)
            return
        loaded = self.catalog.runbooks[ids[index]]
        view = RunbookView(
            self.services,
            loaded.runbook,
            card,
            line,
            on_leave=self._leave_runbook,
            on_card=self.action_card,
            on_help=lambda: self.show_help(RUNBOOK_KEYS),
            on_recheck_due=self.queue_recheck,
        )
        self.runbook = view
        host = self.query_one("#runbook-host")
        # A runbook left by the key just before may still be on its way out: it goes first, so
        # the new one never meets the old one's id (a burst reopens at once).
        await host.remove_children()
        await host.mount(view)
        self._show("runbook")
        # The session starts (and its first check answers) before the next key is read.
        await view.start()

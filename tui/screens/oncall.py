"""The On call area: the incident board.

Open incidents first, by severity and then newest; for the highlighted one, its workflow's runs
in the incident window from the local database (count, error rate, top errors, cost against the
weeks before) and the runbooks that match its workflow and failure mode. Everything is read from
the local copy, so the board works offline from the last sync. When the workspace has alert
sources, the board polls them on a timer that starts again only after a poll has ended, so polls
never pile up.

Enter (or 1–9) opens a runbook for the incident; ``c`` shows the agent card; ``x`` is the
emergency stop for the incident's workflow (the same preflight, typed confirmation, read-back
and audit as a runbook's kill-switch step, recorded against the incident).

The board, the runbook walkthrough and the card are views of this one screen. Its keys are a
tape: ``on_key`` only queues them, and one consumer reads them in order, each after the one
before it has been applied (saved, checked, sent), and gives it to the view open at that
moment. A burst so does what the same keys typed slowly would, however slow the disk or the
check.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Static

from runbooks.cards import AgentCard
from runbooks.catalog import Catalog
from runbooks.engine import sessions
from runbooks.incidents import IncidentDetail, IncidentLine, incident_detail, incident_lines
from tui.keymap import area_bindings
from tui.oncall.runbook_view import RunbookView
from tui.screens.area import BoardScreen
from tui.services import Services
from tui.text import one_line
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


def load_catalog(
    root: Path, cards_dir: Path, runbooks_dir: Path
) -> tuple[dict[str, AgentCard], Catalog]:
    """Cards and the runbooks that validate (read from files: run it off the UI thread)."""
    from runbooks.cards import check_cards
    from runbooks.catalog import check_runbooks

    cards, _problems = check_cards(cards_dir)
    return cards, check_runbooks(runbooks_dir, cards)


def detail_text(
    line: IncidentLine,
    detail: IncidentDetail | None,
    runbooks: list[str],
    *,
    in_progress: dict[int, int] | None = None,
) -> Text:
    """The highlighted incident: what it is, its runbooks (first: what enter does), its runs in
    the window, and the alert's summary. ``in_progress`` maps a runbook's index to the step an
    unfinished walkthrough of it is at."""
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
    else:
        t.append("no runbook for this workflow: escalate to the card's contact (c)", "yellow")
    t.append(f"\n{one_line(line.source, 20)}/{one_line(line.incident_id, 40)}", "dim")
    t.append(f" · {one_line(line.workflow or 'no workflow', 40)}")
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
            "r", "refresh", "Refresh", tooltip="Poll the alert sources now", id="oncall.refresh"
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

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.incidents: list[IncidentLine] = []
        self.cards: dict[str, AgentCard] = {}
        self.catalog: Catalog | None = None
        self._polling = False
        #: "board", "runbook" or "card"; the view that was open before the card.
        self.view = "board"
        self._card_from = "board"
        self.runbook: RunbookView | None = None
        #: Unfinished walkthroughs: incident key -> runbook id -> the step number it is at.
        self.walking: dict[tuple[str, str], dict[str, int]] = {}
        #: Keys waiting to be read, in the order typed (see the module's docstring).
        self._keys: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self._reading = 0
        #: The board's emergency stop while it is open.
        self.stop: EmergencyStop | None = None

    def compose(self) -> ComposeResult:
        yield self.area_bar()
        with Vertical(id="board-view"):
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
        yield StatusLine(self.services, id="status")
        yield Footer()

    def prepare(self) -> None:
        self._show("board")
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
        if self.services.workspace.config.alerts:
            self._poll()
        else:
            self.reload()

    # -- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        def read(conn: sqlite3.Connection) -> list[IncidentLine]:
            return incident_lines(conn)

        if self.catalog is None:
            ws = self.services.workspace
            self.cards, self.catalog = await asyncio.to_thread(
                load_catalog, ws.root, ws.cards_dir, ws.runbooks_dir
            )
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
        panel.update(detail_text(line, detail, titles, in_progress=at))

    # -- views and keys --------------------------------------------------------------------------

    def _show(self, view: str) -> None:
        self.view = view
        self.query_one("#board-view").display = view in ("board", "stop")
        self.query_one("#runbook-host").display = view == "runbook"
        self.query_one("#card-view").display = view == "card"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_runbook", "refresh", "emergency_stop"):
            return self.view == "board"
        if action == "card":
            return self.view in ("board", "runbook")
        if action == "back":
            return self.view != "board"
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
        self._queue((key, event.character))

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
        if key.startswith("recheck:"):
            view = self.runbook
            due = key.split(":", 1)[1]
            if view is not None and view.session is not None and view.session.current == due:
                await view.recheck()
                view.redraw()
            return
        if self.view == "runbook" and self.runbook is not None:
            await self.runbook.handle(key, character)
        elif self.view == "stop" and self.stop is not None:
            await self.stop.handle(key, character)
            if self.stop.closed:
                self._close_stop()
        elif self.view == "card":
            scroll = self.query_one("#card-view", VerticalScroll)
            if key in ("escape", "c", "q"):
                self._show(self._card_from)
            elif key in ("down", "j"):
                scroll.scroll_down(animate=False)
            elif key in ("up", "k"):
                scroll.scroll_up(animate=False)
            elif key in ("pagedown", "space"):
                scroll.scroll_page_down(animate=False)
            elif key == "pageup":
                scroll.scroll_page_up(animate=False)
            elif key == "home":
                scroll.scroll_home(animate=False)
            elif key == "end":
                scroll.scroll_end(animate=False)
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

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.view == "runbook" and self.runbook is not None:
            self.runbook.paste(event.text)
        elif self.view == "stop" and self.stop is not None:
            self.stop.paste(event.text)

    def action_back(self) -> None:
        if self.view == "card":
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
            on_help=self.show_help,
            on_recheck_due=self.queue_recheck,
        )
        self.runbook = view
        await self.query_one("#runbook-host").mount(view)
        self._show("runbook")
        # The session starts (and its first check answers) before the next key is read.
        await view.start()

    def show_help(self) -> None:
        """Help for the view that is open (the board's, a runbook's keys)."""
        self.notify(
            "runbook: 1-9 choose · enter go on · b back · w note · s skip · a abandon · "
            "k kill switch · R restore · r recheck · c card · esc board",
            title="Keys",
            markup=False,
        )

"""The On call area: incidents from the last sync, with the runs of their workflow.

The incident board reads the local database, so it works offline; it reloads after every sync.
Runbook walkthroughs and kill switches open from here as they arrive.
"""

from __future__ import annotations

import sqlite3

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from runbooks.incidents import IncidentLine, incident_lines
from tui.keymap import area_bindings
from tui.screens.area import BoardScreen
from tui.services import Services
from tui.text import one_line
from tui.widgets.status_line import StatusLine

SEVERITY_STYLE = {"critical": "bold white on red", "page": "bold white on red", "warning": "yellow"}


class OnCallScreen(BoardScreen):
    """The incident board."""

    CSS_PATH = "../oncall.tcss"
    AREA = "oncall"
    BINDINGS = [*area_bindings("oncall")]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.incidents: list[IncidentLine] = []

    def compose(self) -> ComposeResult:
        yield self.area_bar()
        yield Static(Text("Incidents (from the last sync)", "bold"), id="board-title")
        table: DataTable[Text] = DataTable(id="board", cursor_type="row", zebra_stripes=True)
        yield table
        yield StatusLine(self.services, id="status")
        yield Footer()

    def prepare(self) -> None:
        table = self.query_one(DataTable)
        for label in ("severity", "status", "workflow", "started", "runs", "errors", "incident"):
            table.add_column(label, key=label)

    async def load(self) -> None:
        import asyncio

        def load(conn: sqlite3.Connection) -> list[IncidentLine]:
            return incident_lines(conn)

        self.incidents = await asyncio.wrap_future(self.services.reader.submit(load))
        table = self.query_one(DataTable)
        table.clear()
        for i in self.incidents:
            table.add_row(
                Text(one_line(i.severity or "—", 10), SEVERITY_STYLE.get(i.severity or "", "")),
                Text(one_line(i.status or "—", 12), "bold" if i.status != "resolved" else "dim"),
                Text(one_line(i.workflow or "—", 20)),
                Text(one_line(i.starts_at[5:16].replace("T", " "), 11)),
                Text(f"{i.runs:,}", justify="right"),
                Text(f"{i.errors:,}", "red" if i.errors else "", justify="right"),
                Text(one_line(i.title, 60)),
                key=f"{i.source}/{i.incident_id}",
            )
        open_count = sum(1 for i in self.incidents if i.status != "resolved")
        self.query_one(StatusLine).set_area(
            Text(f" {open_count} open · {len(self.incidents)} incidents", "bold")
        )

"""The Reports area: your review so far, per workflow, from the local database."""

from __future__ import annotations

import sqlite3

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from review.progress import WorkflowProgress, progress_by_workflow
from tui.keymap import area_bindings
from tui.screens.area import BoardScreen
from tui.services import Services
from tui.text import one_line
from tui.widgets.status_line import StatusLine


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def progress_table(rows: list[WorkflowProgress]) -> Table:
    table = Table(expand=True, box=None, header_style="bold")
    for label in ("workflow", "assigned", "graded", "task success", "intervention", "flagged"):
        table.add_column(label, justify="left" if label == "workflow" else "right")
    for r in rows:
        table.add_row(
            Text(one_line(r.workflow, 40)),
            f"{r.assigned:,}",
            f"{r.graded:,}",
            _pct(r.task_success_rate),
            _pct(r.intervention_rate),
            f"{r.flagged:,}",
        )
    return table


class ReportsScreen(BoardScreen):
    """Your review progress and what your grades say, per workflow."""

    CSS_PATH = "../reports.tcss"
    AREA = "reports"
    BINDINGS = [*area_bindings("reports")]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.rows: list[WorkflowProgress] = []

    def compose(self) -> ComposeResult:
        yield self.area_bar()
        with VerticalScroll(id="reports"):
            yield Static(Text("Your review, per workflow", "bold"), id="reports-title")
            yield Static(id="progress")
        yield StatusLine(self.services, id="status")
        yield Footer()

    async def load(self) -> None:
        import asyncio

        from review.session import load_setup

        services = self.services
        reviewer, ws = services.reviewer, services.workspace

        def load(conn: sqlite3.Connection) -> list[WorkflowProgress]:
            rubric = (services.setup or load_setup(ws)).rubric
            return progress_by_workflow(conn, reviewer, rubric)

        self.rows = await asyncio.wrap_future(services.reader.submit(load))
        self.query_one("#progress", Static).update(progress_table(self.rows))
        graded = sum(r.graded for r in self.rows)
        assigned = sum(r.assigned for r in self.rows)
        self.query_one(StatusLine).set_area(Text(f" {graded:,}/{assigned:,} graded", "bold"))

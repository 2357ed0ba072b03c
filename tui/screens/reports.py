"""The Reports area: your review so far, per workflow, from the local database."""

from __future__ import annotations

import sqlite3

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from review.progress import WorkflowProgress, progress_by_workflow
from tui.keymap import area_bindings
from tui.services import Services
from tui.text import one_line
from tui.widgets.area_bar import AreaBar
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


class ReportsScreen(Screen[None]):
    """Your review progress and what your grades say, per workflow."""

    CSS_PATH = "../reports.tcss"
    AREA = "reports"
    BINDINGS = [*area_bindings("reports")]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.rows: list[WorkflowProgress] = []

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        # Worker state messages do not bubble: hand errors to the app's one handler.
        if event.state == WorkerState.ERROR:
            self.services.worker_failed(event.worker.error)

    def compose(self) -> ComposeResult:
        yield AreaBar(self.AREA, self.services.workspace.config.workspace.name)
        with VerticalScroll(id="reports"):
            yield Static(Text("Your review, per workflow", "bold"), id="reports-title")
            yield Static(id="progress")
        yield StatusLine(self.services, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.services.on_synced(self.reload)
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.run_worker(self._load, group="reports", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
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

"""What every area's screen shares: the services, the one way worker errors leave a screen,
and, for the areas that show a read of the database, reloading on show and after a sync."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui.services import Services
from tui.widgets.area_bar import AreaBar


class AreaScreen(Screen[None]):
    """The base screen of an area (a Textual mode)."""

    AREA: ClassVar[str] = ""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        # Worker state messages do not bubble: hand errors to the app's one handler.
        if event.state == WorkerState.ERROR:
            self.services.worker_failed(event.worker.error)

    def show_help(self) -> None:
        """Open this area's help over what is open (escape closes it): ``?`` and the palette's
        Keys command."""
        raise NotImplementedError

    def area_bar(self) -> AreaBar:
        return AreaBar(self.AREA, self.services.workspace.config.workspace.name)

    def _work(self, work: Any, group: str, *, exclusive: bool = False) -> None:
        """Run ``work`` as a worker whose error goes to the app's one handler (never exits)."""
        self.run_worker(work, group=group, exclusive=exclusive, exit_on_error=False)


class BoardScreen(AreaScreen):
    """An area that shows what :meth:`load` reads, again each time it is shown and after every
    sync; the board works offline from the last sync."""

    def on_mount(self) -> None:
        self.prepare()
        self.services.on_synced(self._synced)
        self.reload()

    def _synced(self) -> None:
        # An area not on screen reads again when it is shown (``on_screen_resume``): a sync
        # while the reviewer is at the desk does not fill the read thread with its reports.
        if self.is_current:
            self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def prepare(self) -> None:
        """Set up widgets before the first load."""

    def reload(self) -> None:
        self._work(self.load, f"{self.AREA}-load", exclusive=True)

    async def load(self) -> None:
        raise NotImplementedError

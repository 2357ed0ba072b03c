"""The status line every area shows: its own part on the left, the shared state on the right
(outbox, online/offline/syncing, last sync, the last error)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tui.services import Services, Status
from tui.text import one_line


def status_text(area: Text, status: Status, *, now: float | None = None) -> Text:
    t = Text()
    t.append_text(area)
    if status.online is False and not status.syncing:
        # Offline is a normal state: say what waits for the next sync.
        t.append(" · ")
        t.append("offline", "bold red")
        waiting = "…" if status.pending is None else f"{status.pending:,}"
        t.append(f" · {waiting} grade{'' if status.pending == 1 else 's'} waiting")
        if status.last_sync is not None:
            ago = max(0, int((now or time.time()) - status.last_sync))
            t.append(" · synced ", "dim")
            t.append("just now" if ago < 60 else f"{ago // 60} min ago", "dim")
        if status.error:
            t.append(" · ")
            t.append(one_line(status.error, 200), "bold red")
        return t
    t.append(" · outbox ")
    t.append("…" if status.pending is None else f"{status.pending:,}")
    t.append(" · ")
    if status.syncing:
        t.append("syncing…", "yellow")
    elif status.online is None:
        t.append("…")
    elif status.online:
        t.append("online", "green")
    else:
        t.append("offline", "bold red")
    if status.last_sync is not None:
        ago = max(0, int((now or time.time()) - status.last_sync))
        t.append(" · synced ", "dim")
        t.append("just now" if ago < 60 else f"{ago // 60} min ago", "dim")
    if status.error:
        t.append(" · ")
        t.append(one_line(status.error, 200), "bold red")
    return t


class StatusLine(Static):
    """One line at the bottom of an area. The area sets its part with :meth:`set_area`."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
    }
    """

    def __init__(self, services: Services, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.services = services
        self.area = Text(" ")
        self.status = services.status
        self._unsubscribe = None

    def on_mount(self) -> None:
        self._unsubscribe = self.services.subscribe(self._changed)
        self.set_interval(30, self._redraw)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _changed(self, status: Status) -> None:
        self.status = status
        self._redraw()

    def set_area(self, text: Text) -> None:
        self.area = text
        self._redraw()

    def _redraw(self) -> None:
        self.update(status_text(self.area, self.status))

"""Every problem found in the stores, each ``file:line: what``: a list to read, not a toast.

A sync says a corrupt line once, as it reads past it, and its toast can show only so much. This
view lists what the syncs said since the app opened and, read again when the view opens, every
corrupt or torn line of the stores kept in files (what ``agentdeck validate`` lists), so the
lines a sync read past on another day are listed too. It opens from the palette ("Store
problems") in every area; ``escape`` closes it. The shape is On call's problems view.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from store.connectors.base import Findings
from tui.services import Services
from tui.text import one_line, safe_text

TITLE = "Store problems"


def toast_text(problems: Sequence[str], palette_key: str) -> str:
    """What the toast says when a sync found problems: the one problem, or how many; and where
    every one of them is listed."""
    said = one_line(problems[0], 200) if len(problems) == 1 else f"{len(problems)} problems"
    return f"{said} in the store. Every one with its file:line: {palette_key}, {TITLE}."


def _where(line: str, root: Path) -> tuple[str, str]:
    """``(file:line, what)`` of a problem line, the file relative to the workspace when it is
    inside it."""
    where, sep, what = line.partition(": ")
    if not sep:
        return "", line
    path, colon, number = where.rpartition(":")
    if colon and number.isdigit() and Path(path).is_absolute():
        with suppress(ValueError):
            where = f"{Path(path).resolve().relative_to(root.resolve())}:{number}"
    return where, what


def _covers(found: Findings, line: str) -> bool:
    """A problem a sync said that reading the files found again (the sync names the file only)."""
    bare = line.replace(": warning: ", ": ", 1)
    return any(
        f.replace(": warning: ", ": ", 1).endswith("/" + bare)
        for f in [*found.problems, *found.warnings]
    )


def store_problems_text(
    found: Findings | None, said: Sequence[str], root: Path, *, error: str | None = None
) -> Text:
    """Every problem as ``file:line: what`` (text from files and servers is data, shown safe):
    the files read now (``found``; None while they are being read, ``error`` when they could
    not be), then what the syncs said that the files do not show (server stores, problems since
    mended)."""
    t = Text()
    t.append(f" {TITLE} ", "bold reverse")
    t.append("  escape closes\n", "dim")

    def rows(lines: Sequence[str]) -> None:
        for line in lines:
            where, what = _where(line, root)
            t.append("\n")
            if where:
                t.append(safe_text(where), "bold")
                t.append(": ")
            t.append(safe_text(what))

    t.append("\nIn the files of the stores, read now", "bold underline")
    if error is not None:
        t.append(f"\nCould not read them: {one_line(error, 300)}", "bold red")
    elif found is None:
        t.append("\nReading the stores' files…", "dim")
    elif not found.problems and not found.warnings:
        t.append("\nNo corrupt or torn line.", "green")
    else:
        n = len(found.problems)
        t.append(f"\n{n} problem{'s' if n != 1 else ''}", "bold")
        rows([*found.problems, *found.warnings])
    rest = [s for s in said if found is None or not _covers(found, s)]
    if rest:
        t.append("\n\nSaid by the syncs since agentdeck opened", "bold underline")
        rows(rest)
    t.append(
        "\n\nA corrupt line is skipped: its run is not in the queue. Fix the line (or have the "
        "exporter write it again); `agentdeck validate` lists the same lines.",
        "dim",
    )
    return t


class StoreProblemsScreen(ModalScreen[None]):
    """The list of every store problem, over the area it was opened from."""

    BINDINGS = [
        Binding(
            "escape,q", "close", "Close", tooltip="Back to where you were", id="problems.close"
        ),
        Binding(
            "j,down",
            "scroll('down')",
            "Down",
            show=False,
            tooltip="Scroll down",
            id="problems.down",
        ),
        Binding("k,up", "scroll('up')", "Up", show=False, tooltip="Scroll up", id="problems.up"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.found: Findings | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="store-problems", classes="dialog help"):
            yield Static(self._text(), id="store-problems-body")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.run_worker(self._read, thread=True, exit_on_error=False, group="store-problems")

    def _text(self) -> Text:
        return store_problems_text(
            self.found, self.services.store_problems, self.services.workspace.root, error=self.error
        )

    def _read(self) -> None:
        from store.connectors import check_store_files

        found = check_store_files(self.services.workspace)
        self.app.call_from_thread(self._shown, found)

    def _shown(self, found: Findings) -> None:
        self.found = found
        self.query_one("#store-problems-body", Static).update(self._text())

    def is_busy(self) -> bool:
        return self.found is None and self.error is None

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.error = f"{type(event.worker.error).__name__}: {event.worker.error}"
            self.query_one("#store-problems-body", Static).update(self._text())
            self.services.worker_failed(event.worker.error)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one(VerticalScroll)
        if direction == "down":
            scroll.scroll_down(animate=False)
        else:
            scroll.scroll_up(animate=False)

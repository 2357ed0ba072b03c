"""The review desk app and its factory, shared by the CLI and the tests.

``make_app(workspace).run()`` opens the desk; tests call ``make_app(ws).run_test(...)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from store.workspace import Workspace
from tui.db_thread import DbThread
from tui.screens.desk import DeskScreen


class DeskApp(App[None]):
    """agentdeck's review desk."""

    CSS_PATH = "desk.tcss"
    TITLE = "agentdeck"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding(
            "ctrl+q", "quit", "Quit", tooltip="Quit (every grade is already saved)", id="app.quit"
        ),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            tooltip="Open the command palette",
            id="app.command_palette",
        ),
    ]

    def __init__(self, workspace: Workspace, *, sync_on_start: bool = True) -> None:
        super().__init__()
        self.workspace = workspace
        self.sync_on_start = sync_on_start
        self.db = DbThread(workspace.db_path)
        self.sub_title = workspace.config.workspace.name

    def get_default_screen(self) -> Screen:
        return DeskScreen()

    @property
    def desk(self) -> DeskScreen:
        for screen in self.screen_stack:
            if isinstance(screen, DeskScreen):
                return screen
        raise LookupError("the desk screen is not open")

    def is_busy(self) -> bool:
        """True while the desk is still loading, syncing or committing (tests wait on this)."""
        try:
            desk = self.desk
        except LookupError:
            return False
        return desk.is_busy()

    def on_mount(self) -> None:
        if self.workspace.config.keys:
            self.set_keymap(self.workspace.config.keys)

    def on_unmount(self) -> None:
        # Queued commits finish before the connection closes: a grade keyed is a grade kept.
        self.db.close()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        desk = self.desk
        commands = [
            ("Filter: all / to-do / graded", "Cycle the graded filter", desk.action_cycle_graded),
            ("Filter: next workflow", "Cycle the workflow filter", desk.action_cycle_workflow),
            ("Filter: next status", "Cycle the status filter", desk.action_cycle_status),
            ("Filter: clear", "Show every run in your queue", desk.action_clear_filters),
            ("Find run", "By trace id or business reference", desk.action_find),
            ("Sync now", "Pull runs and scores, push the outbox", desk.action_sync),
            ("Toggle queue", "Show or hide the queue", desk.action_toggle_queue),
            ("Expand output", "Open the whole output of this run", desk.action_expand_output),
            ("Undo", "Undo your last change", desk.action_undo),
            ("Help", "Every key and the rubric's keys", desk.action_help),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)


def make_app(workspace: Workspace, *, sync_on_start: bool = True) -> DeskApp:
    """The desk on ``workspace``; ``sync_on_start`` pulls the stores in a worker on open."""
    return DeskApp(workspace, sync_on_start=sync_on_start)

"""The review desk app and its factory, shared by the CLI and the tests.

``make_app(workspace).run()`` opens the desk; tests call ``make_app(ws).run_test(...)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from review.rubric import Rubric
from store.documents import DocumentError
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


def check_keymap(workspace: Workspace, rubric: Rubric) -> None:
    """Refuse a ``[keys]`` entry that names no binding or takes a rubric level's key.

    Raises DocumentError naming the line of agentdeck.toml, before the screen takes over.
    """
    bindings = [b for b in (*DeskApp.BINDINGS, *DeskScreen.BINDINGS) if isinstance(b, Binding)]
    ids = sorted(b.id for b in bindings if b.id)
    levels = rubric.key_map()
    lines = workspace.config_path.read_text(encoding="utf-8").splitlines()

    def line_of(binding_id: str) -> int | None:
        return next(
            (
                n
                for n, text in enumerate(lines, 1)
                if text.strip().strip('"').startswith(binding_id)
            ),
            None,
        )

    for binding_id, keys in workspace.config.keys.items():
        if binding_id not in ids:
            raise DocumentError(
                workspace.config_path,
                line_of(binding_id),
                f"keys: no binding has the id {binding_id!r} (ids: {', '.join(ids)})",
            )
        for key in (k.strip() for k in keys.split(",")):
            if key in levels:
                criterion, level = levels[key]
                raise DocumentError(
                    workspace.config_path,
                    line_of(binding_id),
                    f"keys.{binding_id}: {key!r} already grades {criterion.id}={level.label} "
                    f"in rubric {rubric.id}; pick another key",
                )

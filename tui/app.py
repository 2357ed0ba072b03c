"""The agentdeck app: one shell, several areas, and its factory for the CLI and the tests.

Each area is a Textual mode with its own screen, styles and bindings: Review (the desk), On call
and Reports. The app owns :class:`tui.services.Services` (the database threads, sync and push,
the store lock, the status) and hands it to each screen; one handler turns any worker's error
into a visible line while the app stays up. ``make_app(workspace).run()`` opens it; tests call
``make_app(ws).run_test(...)``.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from review.rubric import Rubric
from store.documents import DocumentError
from store.workspace import Workspace
from tui.keymap import AREAS
from tui.messages import PushFinished, QuitRequested, SyncFinished
from tui.screens.review import ReviewScreen
from tui.services import Services
from tui.text import one_line

#: How long a signalled app may take to quit before it saves the tape and leaves regardless.
LAST_RESORT_S = 5.0


class AgentDeckApp(App[None]):
    """agentdeck: the review desk, on call, reports."""

    CSS_PATH = "app.tcss"
    TITLE = "agentdeck"
    ENABLE_COMMAND_PALETTE = True
    DEFAULT_MODE = "review"
    BINDINGS = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            tooltip="Quit; every key typed is saved first",
            priority=True,
            id="app.quit",
        ),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            tooltip="Open the command palette",
            id="app.command_palette",
        ),
        *[
            Binding(
                key,
                f"area('{mode}')",
                title,
                show=False,
                tooltip=f"Switch to the {title} area",
                id=binding_id,
            )
            for mode, title, key, binding_id in AREAS
        ],
    ]

    def __init__(
        self,
        workspace: Workspace,
        *,
        sync_on_start: bool = True,
        area: str = "review",
        drill: bool = False,
        opened_on_firing: int = 0,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.services = Services(self, workspace, sync_on_start=sync_on_start, drill=drill)
        self.sub_title = workspace.config.workspace.name
        self._first_area = area
        self._opened_on_firing = opened_on_firing if area == "oncall" else 0
        self._last_resort: threading.Thread | None = None
        self._gc_paused = False
        #: A person asked for this sync (Sync now): its result is reported when it ends.
        self._report_sync = False
        self.add_mode("review", lambda: ReviewScreen(self.services))
        self.add_mode("oncall", self._oncall_screen)
        self.add_mode("reports", self._reports_screen)

    def _oncall_screen(self) -> Screen[None]:
        from tui.screens.oncall import OnCallScreen

        # The banner explains the first opening only (a mode's screen is built once).
        firing, self._opened_on_firing = self._opened_on_firing, 0
        return OnCallScreen(self.services, opened_on_firing=firing)

    def _reports_screen(self) -> Screen[None]:
        from tui.screens.reports import ReportsScreen

        return ReportsScreen(self.services)

    # -- what tests and the CLI use ----------------------------------------------------------------

    @property
    def desk(self) -> ReviewScreen:
        """The review desk's screen (created on first use)."""
        stack = self._screen_stacks.get("review") or []
        for screen in stack:
            if isinstance(screen, ReviewScreen):
                return screen
        raise LookupError("the review area is not open")

    @property
    def db(self) -> Any:
        """The write thread (the desk's key tape runs on it)."""
        return self.services.writer

    def is_busy(self) -> bool:
        """True while an area is still loading, syncing, reading or saving (tests wait on it)."""
        screen_busy = getattr(self.screen, "is_busy", None)
        if callable(screen_busy) and screen_busy():
            return True
        try:
            desk = self.desk
        except LookupError:
            return self.services.status.syncing
        return desk.is_busy()

    # -- the shell ---------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.workspace.config.keys:
            self.set_keymap(self.workspace.config.keys)
        if self._first_area != "review":
            self.switch_mode(self._first_area)
        import asyncio

        loop = asyncio.get_running_loop()
        signals = [signal.SIGTERM]
        if hasattr(signal, "SIGHUP"):  # the terminal closed: POSIX only
            signals.append(signal.SIGHUP)
        for sig in signals:
            # Only the main thread can install them (tests run the app elsewhere).
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._signalled, sig)

    async def run_async(self, **kwargs: Any) -> None:
        # Start-up allocates a great deal that lives as long as the app (modules, styles, the
        # first screen); the cyclic collector, triggered by those allocations, walked it again
        # and again: about a fifth of the time to the first frame. What is imported is frozen
        # now, and collection waits for the first frame (on_ready; or the end of the run).
        gc.freeze()
        self._gc_paused = gc.isenabled()
        gc.disable()
        try:
            return await super().run_async(**kwargs)
        finally:
            self._resume_gc()

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def on_ready(self) -> None:
        # What is built to start (modules, styles, the first screen: most of the heap) lives as
        # long as the app. Frozen, Python's full collections stop walking it: a frame pays ~5 ms
        # for one instead of ~50 ms, and every frame's Textual strips are cyclic garbage, so one
        # falls in the frame that paints the next run every few runs. (Garbage already made at
        # this point, ~1,600 objects, is kept until exit.) With collection paused for start-up,
        # the young generation holds everything made since run_async: one young collection
        # (~4 ms) drops its garbage (~5,600 objects) before the rest is frozen.
        if self._gc_paused:
            gc.collect(0)
        gc.freeze()
        self._resume_gc()

    def _signalled(self, sig: int) -> None:
        # Through the app's own queue: keys that arrived before the signal reach the tape first.
        self.post_message(QuitRequested(signal.Signals(sig).name))
        if self._last_resort is None:
            # If the terminal is gone the app may never finish quitting: after a grace period,
            # save what is on the tape and leave anyway.
            self._last_resort = threading.Thread(
                target=self._leave_anyway, name="agentdeck-last-resort", daemon=True
            )
            self._last_resort.start()

    def _leave_anyway(self) -> None:
        time.sleep(LAST_RESORT_S)
        lost = self.services.close()
        os._exit(1 if lost else 0)

    def on_quit_requested(self, message: QuitRequested) -> None:
        self._quit()

    async def action_quit(self) -> None:
        """Quit once every key typed before is saved (the desk's tape is drained first)."""
        self._quit()

    def _quit(self) -> None:
        # On call applies every key typed before quitting first (it queues the quit behind them).
        waits = getattr(self.screen, "quit_after_keys", None)
        if callable(waits) and waits():
            return
        try:
            desk = self.desk
        except LookupError:
            self.exit()
            return
        if self.services.tape is None:
            self.exit()
            return
        # Posted where the keys go (the focused widget bubbles to the desk): it lands after
        # every key already on its way to the desk.
        focused = self.focused
        target = focused if focused is not None and focused.screen is desk else desk
        target.post_message(QuitRequested("quit"))

    def action_area(self, mode: str) -> None:
        """Switch to the area ``mode`` (review, oncall, reports)."""
        if mode != self.current_mode:
            self.switch_mode(mode)

    def on_unmount(self) -> None:
        # Keys typed are saved before the database threads close: a key typed is a key kept.
        self.services.close()
        gc.unfreeze()  # what the app froze can be collected again (tests run many apps)

    @on(SyncFinished)
    def sync_finished(self, message: SyncFinished) -> None:
        self.services.sync_finished(message.error, reached=message.reached)
        if self._report_sync:
            self._report_sync = False
            if message.error is None:
                self.notify(message.summary, title="Sync now", markup=False)
            else:
                self.notify(
                    f"sync failed: {one_line(message.error, 200)}",
                    title="Sync now",
                    severity="error",
                    markup=False,
                )
        elif message.error:
            self.notify(message.error, title="Offline", severity="warning", markup=False)
        if message.problems:
            from tui.keymap import key_display
            from tui.screens.store_problems import TITLE, toast_text

            # A toast shows little and goes: the store problems view lists every one.
            self.services.problems_said(message.problems)
            palette = next(
                b for b in self.BINDINGS if isinstance(b, Binding) and b.id == "app.command_palette"
            )
            self.notify(
                toast_text(message.problems, key_display(self, palette)),
                title=TITLE,
                severity="warning",
                markup=False,
            )

    def show_store_problems(self) -> None:
        """Every problem found in the stores, each file:line (from the palette, in every area)."""
        from tui.screens.store_problems import StoreProblemsScreen

        if not isinstance(self.screen, StoreProblemsScreen):
            self.push_screen(StoreProblemsScreen(self.services))

    @on(PushFinished)
    def push_finished(self, message: PushFinished) -> None:
        self.services.push_finished(message.error, message.pending)

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """Errors of the app's own workers (sync, push); screens send theirs the same way."""
        if event.state == WorkerState.ERROR:
            self.services.worker_failed(event.worker.error)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """agentdeck's commands, not the framework's: every key of what is open (with its keys,
        as remapped), quit, help and the other areas, and the desk's commands without a key."""
        from functools import partial

        from tui.keymap import key_display
        from tui.screens.area import AreaScreen

        # A binding as declared (active bindings are split per key): its keys, as remapped.
        declared = {
            b.id: b for b in (*screen.BINDINGS, *self.BINDINGS) if isinstance(b, Binding) and b.id
        }
        seen: set[str] = set()
        if isinstance(screen, AreaScreen):
            # Each area's own help; Textual's "Keys" panel is left out (no area's escape closes
            # it, and it finds the desk's help as if it were that panel).
            help_key = next((b for i, b in declared.items() if i.endswith(".help")), None)
            keys = f"  {key_display(self, help_key)}" if help_key is not None else ""
            seen.update(i for i in declared if i.endswith(".help"))
            yield SystemCommand(
                f"Help and keys{keys}",
                "Every key of what is open (escape closes it)",
                screen.show_help,
            )
        for node, binding, enabled, _tooltip in screen.active_bindings.values():
            if (
                not enabled
                or not binding.id
                or binding.id in seen
                or binding.action in ("command_palette", "app.command_palette", "palette")
                or binding.action.endswith(f"area('{self.current_mode}')")
            ):
                continue
            seen.add(binding.id)
            yield SystemCommand(
                f"{binding.description}  {key_display(self, declared.get(binding.id, binding))}",
                binding.tooltip or binding.description,
                partial(self.run_action, binding.action, node),
            )
        yield SystemCommand(
            "Store problems",
            "Every corrupt line and problem found in the stores, each file:line",
            self.show_store_problems,
        )
        if isinstance(screen, ReviewScreen):
            yield SystemCommand(
                "Filter: clear", "Show every run in your queue", screen.action_clear_filters
            )
        if self.services.setup is not None:
            yield SystemCommand("Sync now", "Pull runs and scores, push the outbox", self.sync_now)

    def sync_now(self) -> None:
        """Sync at once, and say how it went when it ends (the palette's Sync now)."""
        self._report_sync = True
        if self.services.start_sync():
            self.services.set_status(error=None)
            self.notify("Syncing…", title="Sync now", timeout=3, markup=False)
        elif self.services.status.syncing:
            self.notify("A sync is running; its result follows.", title="Sync now", markup=False)
        else:
            self._report_sync = False


def make_app(
    workspace: Workspace,
    *,
    sync_on_start: bool = True,
    area: str = "review",
    drill: bool = False,
    opened_on_firing: int = 0,
) -> AgentDeckApp:
    """The app on ``workspace``, opened on ``area``; ``sync_on_start`` pulls the stores in a
    worker on open; ``drill`` walks runbooks and kill switches with nothing sent;
    ``opened_on_firing`` (with ``area="oncall"``): the app chose On call because that many
    incidents fire, and the board says so (see :func:`first_area`)."""
    return AgentDeckApp(
        workspace,
        sync_on_start=sync_on_start,
        area=area,
        drill=drill,
        opened_on_firing=opened_on_firing,
    )


def first_area(workspace: Workspace, conn: Any) -> tuple[str, int]:
    """Where ``agentdeck`` opens when no area was asked for: On call with the number of incidents
    firing in the local copy (``conn``) when there are some and ``[oncall] open_on_firing`` is
    on (the default), else Review with 0."""
    from runbooks.incidents import firing_count

    if not workspace.config.oncall.open_on_firing:
        return "review", 0
    firing = firing_count(conn)
    return ("oncall", firing) if firing else ("review", 0)


def check_keymap(workspace: Workspace, rubric: Rubric) -> None:
    """Refuse a ``[keys]`` entry that names no binding or takes a rubric level's key.

    Raises DocumentError naming the line of agentdeck.toml, before the screen takes over.
    """
    if not workspace.config.keys:
        return  # nothing to check: the other areas' screens are not imported to open the desk
    from tui.screens.oncall import OnCallScreen
    from tui.screens.reports import ReportsScreen
    from tui.screens.store_problems import StoreProblemsScreen

    bindings = [
        b
        for b in (
            *AgentDeckApp.BINDINGS,
            *ReviewScreen.BINDINGS,
            *OnCallScreen.BINDINGS,
            *ReportsScreen.BINDINGS,
            *StoreProblemsScreen.BINDINGS,
        )
        if isinstance(b, Binding)
    ]
    ids = sorted({b.id for b in bindings if b.id})
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

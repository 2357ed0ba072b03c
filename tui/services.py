"""What every area of the app receives: the workspace, the database threads, sync and push,
the store lock and the status line's state. The app owns one :class:`Services`; screens get it
in their constructor and never reach into the app or into each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from store.db_thread import DbThread
from store.workspace import Workspace

if TYPE_CHECKING:
    from textual.app import App

    from review.session import ReviewSetup
    from review.tape import TapeRunner

#: Seconds from the last commit to the push (a burst of grades goes in one push).
PUSH_DELAY = 3.0
#: Seconds from the end of a sync that could not reach a store (or left grades unsent) to the
#: next try, while the desk is open.
RETRY_OFFLINE = 30.0
#: Seconds from the end of a sync that reached every store to the next periodic one.
SYNC_EVERY = 300.0


@dataclass(frozen=True)
class Status:
    """The shared half of the status line: outbox, store reachability, last sync, last error."""

    pending: int | None = None
    online: bool | None = None
    syncing: bool = False
    last_sync: float | None = None  # time.time() of the last sync that reached the stores
    error: str | None = None


class Services:
    """The app's one owner of the database threads, sync and push, and the status."""

    def __init__(
        self, app: App[Any], workspace: Workspace, *, sync_on_start: bool, drill: bool = False
    ) -> None:
        self._app = app
        self.workspace = workspace
        self.sync_on_start = sync_on_start
        #: Drill mode: runbooks and kill switches are walked with nothing sent, marked as drills.
        self.drill = drill
        #: The clock the on-call screens use (tests pin it).
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        #: Writes and the desk's key tape, in the order they were typed.
        self.writer = DbThread(workspace.db_path, name="agentdeck-write")
        #: Reads that only draw (run details, queue rows, counts): never behind a burst of keys.
        self.reader = DbThread(workspace.db_path, name="agentdeck-read")
        #: Reads that scan (counts, positions): apart, so they never delay the reads above.
        self.counter = DbThread(workspace.db_path, name="agentdeck-count")
        # Sync and push each use their own thread; one at a time, so a pull never reads the
        # store while a push is half done (it would import the grade's older remote state).
        self.store_lock = threading.Lock()
        self.status = Status()
        self.setup: ReviewSetup | None = None
        self.tape: TapeRunner | None = None
        self._listeners: list[Callable[[Status], None]] = []
        self._push_timer: Any = None
        self.push_delay = PUSH_DELAY
        #: The next background sync (Dolphie-style: armed only when the last one has ended, so
        #: syncs never pile up). Offline, or with grades left unsent, it comes after
        #: ``retry_offline`` seconds; otherwise after ``sync_every``. Only when the app syncs
        #: by itself (``sync_on_start``).
        self._sync_timer: Any = None
        self.retry_offline = RETRY_OFFLINE
        self.sync_every = SYNC_EVERY
        self._push_after_sync = False
        self._sync_listeners: list[Callable[[], None]] = []
        self._closing = threading.Lock()
        self._lost: int | None = None
        #: Every problem the syncs said since the app opened (a corrupt line, a store's bad
        #: reply), each once, in the order said: the store problems view lists them all.
        self.store_problems: list[str] = []

    @property
    def reviewer(self) -> str:
        return self.workspace.reviewer

    # -- status ----------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Status], None]) -> Callable[[], None]:
        """Call ``listener`` (on the UI thread) whenever the status changes; returns an
        unsubscribe function."""
        self._listeners.append(listener)
        listener(self.status)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def set_status(self, **changes: Any) -> None:
        self.status = replace(self.status, **changes)
        for listener in list(self._listeners):
            listener(self.status)

    def on_synced(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every sync that ended (the database may have changed)."""
        self._sync_listeners.append(listener)

    # -- sync and push ---------------------------------------------------------------------------

    def start_sync(self) -> bool:
        """Pull and push every store in a thread; False when there is no setup or one is running."""
        if self.setup is None or self.status.syncing:
            return False
        self.set_status(syncing=True)
        self._in_thread(lambda: self._sync(self.setup), "sync")  # type: ignore[arg-type]
        return True

    def pull_alerts(self) -> None:
        """Pull every alert source once (blocking: call it in a thread). A source that fails
        leaves its stored incidents as they were and says so in the status line."""
        from store.alert_sync import pull_alerts
        from store.db import connect

        conn = connect(self.workspace.db_path)
        try:
            reports = pull_alerts(conn, self.workspace)
        finally:
            conn.close()
        errors = [r.error for r in reports if r.error]
        if errors:
            self._app.call_from_thread(self.set_status, error=errors[-1])

    def _in_thread(self, fn: Callable[[], None], group: str) -> None:
        """One at a time per group, in a thread; an error is reported, never ends the app."""
        self._app.run_worker(fn, thread=True, exclusive=True, exit_on_error=False, group=group)

    def _sync(self, setup: ReviewSetup) -> None:
        from review.session import sync
        from store.connectors.base import ConnectorError
        from store.db import connect, explain
        from tui.messages import SyncFinished
        from tui.text import counted

        problems: list[str] = []
        error: str | None = None
        reached = False
        runs = grades = 0
        try:
            with self.store_lock:
                conn = connect(setup.workspace.db_path)
                try:
                    results = sync(conn, setup)
                    reached = True
                    for alerts in results.alerts:
                        problems.extend(alerts.problems)
                        if alerts.error:
                            problems.append(alerts.error)
                    for _name, pulled, pushed in results:
                        problems.extend(pulled.problems)
                        runs += pulled.hydrated
                        grades += pushed.pushed if pushed else 0
                        if pushed and pushed.errors:
                            error = pushed.errors[-1]
                finally:
                    conn.close()
        except ConnectorError as exc:
            error = str(exc)
        except Exception as exc:  # anything else still ends the sync, and says why
            error = explain(exc) if _is_sqlite(exc) else f"{type(exc).__name__}: {exc}"
        finally:
            summary = f"synced: {counted(runs, 'run')}, {counted(grades, 'grade')} pushed"
            self._app.post_message(SyncFinished(problems, error, reached=reached, summary=summary))

    def problems_said(self, problems: list[str]) -> None:
        """Keep what a sync said about the stores (each problem once)."""
        seen = set(self.store_problems)
        for problem in problems:
            if problem not in seen:
                seen.add(problem)
                self.store_problems.append(problem)

    def sync_finished(self, error: str | None, *, reached: bool = False) -> None:
        """The app calls this on the UI thread when a sync ends; ``reached``: it ran to its end
        against every store (a failed sync leaves the last sync's time as it was)."""
        if reached:
            self.set_status(syncing=False, online=error is None, last_sync=time.time())
        else:
            self.set_status(syncing=False, online=error is None)
        for listener in list(self._sync_listeners):
            listener()
        if self._push_after_sync:
            self._push_after_sync = False
            self.push_due()
        self._arm_sync(retry=error is not None)

    def _arm_sync(self, *, retry: bool) -> None:
        """Arm the one background sync timer, replacing any armed one: soon when ``retry``
        (the store was not reached or grades were left unsent), else after ``sync_every``."""
        if not self.sync_on_start:
            return
        if self._sync_timer is not None:
            self._sync_timer.stop()
        delay = self.retry_offline if retry else self.sync_every
        self._sync_timer = self._app.set_timer(delay, self.sync_due)

    def sync_due(self) -> None:
        """The background timer fired: sync, unless one is running (its end re-arms)."""
        self._sync_timer = None
        if self.setup is None:
            return
        self.start_sync()

    def schedule_push(self) -> None:
        """Push the outbox a moment after the last commit (grades are safe meanwhile)."""
        if self._push_timer is not None:
            self._push_timer.stop()
        self._push_timer = self._app.set_timer(self.push_delay, self.push_due)

    def push_due(self) -> None:
        """The push timer fired: push the outbox, or after the running sync."""
        self._push_timer = None
        if self.setup is None:
            return
        if self.status.syncing:
            # The sync pushes too, but a grade committed after its push began waits: push
            # again when the sync ends.
            self._push_after_sync = True
            return
        self._in_thread(lambda: self._push_worker(self.setup), "push")  # type: ignore[arg-type]

    def _push_worker(self, setup: ReviewSetup) -> None:
        from store.connectors import make_connector
        from store.connectors.base import ConnectorError
        from store.db import connect, explain
        from store.outbox import pending_count, push
        from tui.messages import PushFinished

        error: str | None = None
        pending: int | None = None
        try:
            with self.store_lock:
                conn = connect(setup.workspace.db_path)
                try:
                    for cfg in setup.workspace.config.stores:
                        report = push(conn, make_connector(setup.workspace, cfg))
                        if report.errors:
                            error = report.errors[-1]
                    pending = pending_count(conn)
                finally:
                    conn.close()
        except ConnectorError as exc:
            error = str(exc)
        except Exception as exc:
            error = explain(exc) if _is_sqlite(exc) else f"{type(exc).__name__}: {exc}"
        finally:
            self._app.post_message(PushFinished(error, pending))

    def push_finished(self, error: str | None, pending: int | None) -> None:
        if pending is None:
            self.set_status(online=error is None)
        else:
            self.set_status(online=error is None, pending=pending)
        if error is not None and not self.status.syncing:
            # Grades wait in the outbox: try again soon rather than at the periodic sync.
            self._arm_sync(retry=True)

    # -- errors ----------------------------------------------------------------------------------

    def worker_failed(self, error: BaseException | None) -> None:
        """The one place a worker's error goes: one line in the status and a notification,
        saying what happened and what to do. The app stays up."""
        from store.db import explain

        if error is not None and _is_sqlite(error):
            text = f"Could not read the database: {explain(error)}"
        else:
            text = f"{type(error).__name__}: {error}"
        self.set_status(error=text)
        self._app.notify(text, title="Error", severity="error", markup=False, timeout=10)

    # -- closing ---------------------------------------------------------------------------------

    def unsaved(self) -> int:
        """Keys typed and not yet saved."""
        return self.tape.waiting() if self.tape is not None else 0

    def close(self) -> int:
        """Save every key typed (as long as the disk takes them), then close the database
        threads. Returns how many keys could not be saved."""
        with self._closing:
            if self._lost is not None:
                return self._lost
            lost = 0
            if self.tape is not None:
                from review.tape import LEAVE, Op

                # Where the reviewer is, saved behind every key typed (the desk reopens there).
                self.tape.put(Op(LEAVE))
                self.tape.flush(timeout=30, stop_on_error=True)
                lost = self.tape.close()
            self.writer.close()
            self.reader.close()
            self.counter.close()
            self._lost = lost
            return lost


def _is_sqlite(exc: BaseException) -> bool:
    import sqlite3

    from store.db import DatabaseUnavailable

    return isinstance(exc, sqlite3.Error | DatabaseUnavailable)

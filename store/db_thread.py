"""A database thread: one thread, one SQLite connection, every call in order.

Grade commits, queue windows and run details all go through this single thread, so a key press
is committed in the order it was pressed and the connection never crosses threads (it is opened
on the thread that uses it). Sync runs on its own thread with its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from store.db import connect

T = TypeVar("T")


class DbThread:
    """A single worker thread owning one connection to the workspace database."""

    def __init__(self, path: Path, *, name: str = "agentdeck-db") -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None  # touched only on the pool's thread
        self._closed = False
        self._inflight = 0
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self._path)
        return self._conn

    def queued(self) -> int:
        """Calls submitted and not finished yet."""
        return self._inflight

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run ``fn(conn)`` on the database thread, after everything submitted before it."""
        with self._lock:
            self._inflight += 1
        future = self._pool.submit(lambda: fn(self._connection()))
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._inflight -= 1

    def close(self) -> None:
        """Finish every queued call (queued grades are committed), then close the connection."""
        if self._closed:
            return
        self._closed = True

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._pool.submit(_close)
        self._pool.shutdown(wait=True)

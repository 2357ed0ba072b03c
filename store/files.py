"""Files several processes share: exclusive locks and durable renames, alike on POSIX and Windows.

Locks go through the ``filelock`` library: ``flock`` where it exists, ``LockFileEx`` on Windows,
and a lock file holding its owner's pid where neither does. A lock is held through a lock file
of its own, never through the data file it guards (Windows locks are mandatory: a locked data
file could not be read by anyone else meanwhile). A native lock is held by an open file, so it
goes with the process however it ends; a soft one is taken over once its owner's pid is gone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first lock (30 ms with its logging): reading a config takes none
    from filelock import SoftFileLock

#: Overrides the user's state directory (tests, or a folder the database's owner cannot write).
STATE_DIR_ENV = "AGENTDECK_STATE_DIR"


def state_dir() -> Path:
    """agentdeck's folder in the user's state directory (anchors, locks kept off shared folders)."""
    base = os.environ.get(STATE_DIR_ENV)
    if not base:
        from platformdirs import user_state_dir

        base = user_state_dir("agentdeck")
    return Path(base)


def folder_lock_path(folder: Path) -> Path:
    """The lock file for writers taking turns on ``folder`` on this machine, kept in the state
    directory so the folder itself holds only what its owners put there."""
    key = hashlib.sha256(os.fsencode(os.path.realpath(folder))).hexdigest()[:16]
    return state_dir() / "locks" / f"folder-{key}.lock"


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` is its pid as it wrote it, or ``""``."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by {holder or 'another process'}")
        self.path = path
        self.holder = holder


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing; its folder must exist),
    waiting for it."""
    from filelock import FileLock

    lock = FileLock(lock_path)
    with lock:
        yield


def hold(lock_path: Path) -> SoftFileLock:
    """Take an exclusive lock on ``lock_path`` at once, and write this process's pid in it.

    The lock is held until ``release()`` or the process ends. Raises ``LockHeld`` (with the
    holder's pid) when another process holds it; ``OSError`` when it cannot be taken at all.
    """
    from filelock import FileLock, SoftFileLock, Timeout

    if issubclass(FileLock, SoftFileLock):
        # Neither flock nor Windows: the lock file is a marker naming its owner's pid itself.
        lock = FileLock(lock_path, timeout=0, thread_local=False)
    else:
        lock = FileLock(lock_path, timeout=0, thread_local=False, on_acquired=_write_pid)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(lock_path, _holder(lock, lock_path)) from None
    return lock


def _write_pid(fd: int) -> None:
    # Byte 0 stays a space: it is the byte Windows locks, which nobody else may read.
    text = f" {os.getpid()}".encode("ascii")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text)
    os.ftruncate(fd, len(text))


def _holder(lock: SoftFileLock, lock_path: Path) -> str:
    try:
        pid = lock.pid  # a soft lock's marker names its owner
    except AttributeError:
        pass
    else:
        return "" if pid is None else str(pid)
    try:
        with lock_path.open("rb") as fh:
            fh.seek(1)
            return fh.read(32).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a crash, where the OS lets a folder be
    synced (POSIX). Windows cannot open a folder to sync it: there a rename is as durable as
    the file system makes it."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Shared fixtures. Keep them generic: any room's tests may use them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from store.workspace import Workspace, load_workspace

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample-data"


def copy_sample_data(target: Path) -> Path:
    """Copy ``sample-data/`` (without any local database) to ``target``."""
    shutil.copytree(
        SAMPLE_DATA,
        target,
        ignore=shutil.ignore_patterns(".agentdeck", "__pycache__", "generate.py"),
    )
    return target


@pytest.fixture
def demo_workspace(tmp_path: Path) -> Workspace:
    """A private copy of the demo workspace (config, rubric, file store), not yet synced."""
    return load_workspace(copy_sample_data(tmp_path / "demo"))


async def settle(pilot, *, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until a Textual app is idle: no worker running, no queued work, twice in a row.

    Works for any app; for the desk it also waits for sync, the queue and the open run.
    """
    import asyncio
    import time

    app = pilot.app
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not settle")
        await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(w.is_running for w in app.workers)
        is_busy = getattr(app, "is_busy", None)
        if callable(is_busy) and is_busy():
            busy = True
        quiet = 0 if busy else quiet + 1
        if busy:
            await asyncio.sleep(0.01)
    await pilot.pause()

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


#: Text that tries every trick: Rich/Textual markup, actions, ANSI CSI and OSC 8, BEL, bidi
#: override, C1 CSI, NUL, and a marker where the fixture writes invalid UTF-8 bytes.
HOSTILE = (
    "[bold red]X[/] [link=https://evil.example]y[/link] [@click=app.quit]z[/] "
    "\x1b[2J\x1b[31mred \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 bell\x07 "
    "\u202eevil\u202c \x9b31m \x00nul @@BAD@@ end"
)
INVALID_UTF8 = b"\xff\xfe\xc3"


def add_run(workspace: Workspace, record: dict, *, invalid_utf8_marker: str = "@@BAD@@") -> str:
    """Append a run to the workspace's file store, assigned to the workspace's reviewer.

    The trace id is chosen so rendezvous assignment gives the run to the reviewer; the marker
    is replaced by invalid UTF-8 bytes, as a broken producer would write them. Returns the id.
    """
    import json

    from review.sampling import assign_reviewers

    cfg = workspace.config
    prefix = record.get("trace_id", "hostile")
    for n in range(1000):
        trace_id = f"{prefix}-{n}"
        chosen = assign_reviewers(
            cfg.sampling.salt,
            trace_id,
            cfg.review.roster,
            cfg.review.overlap,
            cfg.review.overlap_reviewers,
        )
        if workspace.reviewer in chosen:
            break
    line = json.dumps({**record, "trace_id": trace_id}, ensure_ascii=False).encode("utf-8")
    line = line.replace(invalid_utf8_marker.encode(), INVALID_UTF8)
    store = next(s for s in cfg.stores if s.kind == "file")
    runs = workspace.path(store.path or ".") / "runs.jsonl"
    with runs.open("ab") as fh:
        fh.write(line + b"\n")
    return trace_id


def hostile_record(output: str) -> dict:
    """A run whose every text field is hostile; status error, so it is always sampled, and
    the earliest start time, so it opens first."""
    return {
        "trace_id": "hostile",
        "workflow": "billing-support",
        "start_time": "2026-01-01T00:00:00.000Z",
        "end_time": "2026-01-01T00:00:04.000Z",
        "status": "error",
        "business_ref": "order:[@click=app.quit]\x1b[2J",
        "tokens": {"input": 10, "output": 20},
        "cost_usd": 0.001,
        "latency_ms": 4000,
        "input": HOSTILE,
        "output": output,
        "steps": [
            {
                "kind": "tool",
                "name": "payments_api[@click=app.quit]",
                "latency_ms": 12,
                "arguments": {"note": HOSTILE},
                "result": HOSTILE,
                "error": {"type": "Timeout\x1b[5m", "message": HOSTILE},
            }
        ],
        "final_action": {"kind": "refund", "status": "failed", "summary": HOSTILE},
        "tags": ["[b]tag[/b]", "\x1b]0;title\x07"],
    }


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 16 MB filesystem (tmpfs) that a test can fill up: a full disk, not a simulation.

    Needs the permission to mount (root, as on CI); skipped where that is not allowed.
    """
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")

    class Disk:
        path = mount
        filler = mount / "filler"

        def fill(self) -> None:
            """Write until the filesystem is full (ENOSPC), big blocks then small ones."""
            import os

            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                for size in (65536, 4096, 512, 1):
                    try:
                        while True:
                            os.write(fd, b"\0" * size)
                    except OSError:
                        pass
            finally:
                os.close(fd)

        def free(self) -> None:
            self.filler.unlink(missing_ok=True)

    try:
        yield Disk()
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)

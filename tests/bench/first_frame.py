"""Child process: open the desk (or a bare Textual app) headless and exit on its first frame.

    python -m tests.bench.first_frame desk WORKSPACE   # agentdeck until the first run is drawn
    python -m tests.bench.first_frame bare             # a bare Textual app until its first frame

Both run the same way (``App.run_async(headless=True, size=(120, 40))`` under ``asyncio.run``,
which is what ``App.run(headless=True, ...)`` does), so the bare app is a fair baseline: the cost
of Python, Textual and one 120x40 frame. A task of this script polls every 2 ms; once the desk's
run view holds a run (``app.desk.query_one(RunView).detail``, the only hook it relies on), it asks
for a callback after the next refresh (``call_after_refresh``: Textual runs it once every dirty
widget has been laid out and composited), prints one JSON line of timestamps and ends the process
with ``os._exit(0)``. The bare app does the same as soon as its screen is up. Ending with
``os._exit`` stops the clock when the frame is drawn, not after the app's teardown.

Headless means the composited frame is not turned into escape sequences for a terminal (the last
step of ``App._display``); both sides skip it alike.

Each mark also carries the process's CPU time (``time.process_time``, every thread): on a shared
machine it moves much less than wall time when other processes take the cores.

``--profile FILE`` writes a cProfile of the main thread from the first line of this script to the
drawn frame (imports included); the database thread's own work is not in it.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()
WALL_START = time.time()
CPU_START = time.process_time()

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SIZE = (120, 40)
POLL_S = 0.002
TIMEOUT_S = 120.0


def _report(
    marks: dict[str, float],
    profiler: Any,
    profile_path: str | None,
    extra: dict[str, str] | None = None,
) -> None:
    """Print the marks (seconds from this script's first line) and end the process now."""
    now = time.perf_counter()
    cpu = time.process_time()
    out: dict[str, Any] = {k: v - T_START for k, v in marks.items() if not k.startswith("cpu_")}
    out.update({k: v - CPU_START for k, v in marks.items() if k.startswith("cpu_")})
    out["cpu_drawn"] = cpu - CPU_START
    out.update(extra or {})
    out["drawn"] = now - T_START
    out["wall_start"] = WALL_START
    out["wall_drawn"] = WALL_START + (now - T_START)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)


async def _poll(app: Any, ready: Any, marks: dict[str, float], done: Any) -> None:
    """Every POLL_S, check ``ready()``; then ask for ``done`` after the next refresh."""
    deadline = time.perf_counter() + TIMEOUT_S
    while True:
        await asyncio.sleep(POLL_S)
        if time.perf_counter() > deadline:
            sys.stderr.write(f"first_frame: nothing drawn after {TIMEOUT_S:.0f} s\n")
            os._exit(3)
        try:
            if ready():
                break
        except Exception:  # the screen is not there yet
            continue
    marks["shown"] = time.perf_counter()
    app.call_after_refresh(done)


async def _run(app: Any, ready: Any, marks: dict[str, float], done: Any) -> None:
    poller = asyncio.create_task(_poll(app, ready, marks, done))
    await app.run_async(headless=True, size=SIZE)
    poller.cancel()
    sys.stderr.write("first_frame: the app ended before its first frame was drawn\n")
    os._exit(4)


def run_desk(root: Path, profile_path: str | None = None, profiler: Any = None) -> None:
    """agentdeck on ``root`` until its first run is drawn."""
    marks: dict[str, float] = {}
    marks_text: dict[str, str] = {}
    from tui.app import make_app

    marks["imported"] = time.perf_counter()
    marks["cpu_imported"] = time.process_time()
    from store.workspace import load_workspace
    from tui.widgets.run_view import RunView

    ws = load_workspace(root)
    marks["workspace"] = time.perf_counter()
    marks["cpu_workspace"] = time.process_time()
    app = make_app(ws, sync_on_start=False)

    def ready() -> bool:
        detail = app.desk.query_one(RunView).detail
        if detail is None:
            return False
        marks_text["run_id"] = detail.run_id
        return True

    asyncio.run(_run(app, ready, marks, lambda: _report(marks, profiler, profile_path, marks_text)))


def run_bare(profile_path: str | None = None, profiler: Any = None) -> None:
    """A Textual app with one line of text, until its first frame is drawn."""
    marks: dict[str, float] = {}
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    marks["imported"] = marks["workspace"] = time.perf_counter()
    marks["cpu_imported"] = marks["cpu_workspace"] = time.process_time()

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("agentdeck bench: a bare Textual app")

    app = Bare()
    asyncio.run(
        _run(
            app,
            lambda: app.screen.is_mounted,
            marks,
            lambda: _report(marks, profiler, profile_path),
        )
    )


def main(argv: list[str]) -> None:
    profile_path = None
    if "--profile" in argv:
        i = argv.index("--profile")
        profile_path = argv[i + 1]
        del argv[i : i + 2]
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if argv[0] == "bare":
        run_bare(profile_path, profiler)
    elif argv[0] == "desk":
        run_desk(Path(argv[1]), profile_path, profiler)
    else:
        raise SystemExit(f"usage: {__doc__.splitlines()[2].strip()}")


if __name__ == "__main__":
    main(sys.argv[1:])

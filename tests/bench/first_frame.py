"""Child process: open the desk (or a bare Textual app) headless and exit on its first frame.

    python -m tests.bench.first_frame desk WORKSPACE   # agentdeck until the first run is drawn
    python -m tests.bench.first_frame bare             # a bare Textual app until its first frame

Both run the same way (``App.run_async(headless=True, size=(120, 40))`` under ``asyncio.run``,
which is what ``App.run(headless=True, ...)`` does), so the bare app is a fair baseline: the cost
of Python, Textual and one 120x40 frame.

"Drawn" is the end of the screen refresh that lays out and composites the frame:

- desk: a task of this script polls every 2 ms until the desk screen runs, then subscribes to its
  public ``screen_layout_refresh_signal`` (published at the end of each layout refresh, after the
  compositor has rendered the frame); the first refresh that finds a run in the run view
  (``app.desk.query_one(RunView).detail``, the only hook into the app) is the first run drawn.
  Every run shown goes through a layout refresh (the run view's text changes size).
- bare: Textual's ``Ready`` event, which it posts after the app's first layout refresh (the one
  refresh that does not publish the signal).

Then the child prints one JSON line of marks and ends with ``os._exit(0)``: the clock stops when
the frame is drawn, not after the app's teardown. Headless, a composited frame is not turned into
escape sequences for a terminal (the last step of ``App._display``); both sides skip it alike.

Each mark also carries the process's CPU time (``time.process_time``, every thread): on a shared
machine it moves much less than wall time when other processes take the cores.

``--profile FILE`` writes a cProfile of the main thread from the start of the run to the drawn
frame (imports included); the database thread's own work is not in it.
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


class Marks:
    """Timestamps (wall and CPU) of the child's milestones, printed when the frame is drawn."""

    def __init__(self, profile_path: str | None) -> None:
        self.at: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.text: dict[str, str] = {}
        self.profile_path = profile_path
        self.profiler: Any = None
        if profile_path:
            import cProfile

            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def mark(self, name: str) -> None:
        self.at[name] = time.perf_counter() - T_START
        self.cpu[f"cpu_{name}"] = time.process_time() - CPU_START

    def drawn(self) -> None:
        """Print every mark and end the process now."""
        self.mark("drawn")
        if self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(self.profile_path)
        out: dict[str, Any] = {**self.at, **self.cpu, **self.text}
        out["wall_start"] = WALL_START
        out["wall_drawn"] = WALL_START + self.at["drawn"]
        _write(1, json.dumps(out) + "\n")
        os._exit(0)


def _write(fd: int, text: str) -> None:
    """Write ``text`` to the process's own file descriptor ``fd``, all of it, now.

    While the app runs, ``sys.stdout`` and ``sys.stderr`` are Textual's capture objects, which
    buffer what is printed; ``os._exit`` skips every flush, so a line written through them is
    lost unless Python happens to be unbuffered (``PYTHONUNBUFFERED``). The descriptor is what
    the parent's pipe is.
    """
    data = text.encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


def _fail(code: int, message: str) -> None:
    _write(2, f"first_frame: {message}\n")
    os._exit(code)


async def _run(app: Any, watch: Any = None) -> None:
    """Run ``app`` headless; ``watch`` (a coroutine function) runs beside it."""
    watcher = asyncio.create_task(watch()) if watch else None
    await app.run_async(headless=True, size=SIZE)
    if watcher:
        watcher.cancel()
    _fail(4, "the app ended before its first frame was drawn")


def run_desk(root: Path, marks: Marks) -> None:
    """agentdeck on ``root`` until its first run is drawn."""
    from tui.app import make_app

    marks.mark("imported")
    from store.workspace import load_workspace
    from tui.widgets.run_view import RunView

    ws = load_workspace(root)
    marks.mark("workspace")
    app = make_app(ws, sync_on_start=False)

    def shown() -> bool:
        detail = app.desk.query_one(RunView).detail
        if detail is None:
            return False
        marks.text["run_id"] = detail.run_id
        return True

    def on_layout(_screen: Any) -> None:
        if shown():
            marks.drawn()

    async def watch() -> None:
        deadline = time.perf_counter() + TIMEOUT_S
        while True:
            await asyncio.sleep(POLL_S)
            if time.perf_counter() > deadline:
                _fail(3, f"no run drawn after {TIMEOUT_S:.0f} s")
            try:
                desk = app.desk
                if desk.is_running:
                    break
            except LookupError:  # the desk is not there yet
                continue
        if shown():
            _fail(5, "the run was shown before the desk could be watched")
        desk.screen_layout_refresh_signal.subscribe(app, on_layout, immediate=True)

    asyncio.run(_run(app, watch))


def run_bare(marks: Marks) -> None:
    """A Textual app with one line of text, until its first frame is drawn."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    marks.mark("imported")
    marks.mark("workspace")

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("agentdeck bench: a bare Textual app")

        def on_ready(self) -> None:
            marks.drawn()

    asyncio.run(_run(Bare()))


def main(argv: list[str]) -> None:
    profile_path = None
    if "--profile" in argv:
        i = argv.index("--profile")
        profile_path = argv[i + 1]
        del argv[i : i + 2]
    marks = Marks(profile_path)
    if argv[:1] == ["bare"]:
        run_bare(marks)
    elif argv[:1] == ["desk"] and len(argv) == 2:
        run_desk(Path(argv[1]), marks)
    else:
        raise SystemExit(f"usage: {__doc__.splitlines()[2].strip()}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The review desk at 1k and at 1M runs: time to open, moving to the next run, peak memory.

Targets (from the issue), on a generated database of 1,000,000 runs all in the reviewer's queue:

- the desk opens in under 1 s;
- moving to the next run and rendering it has p95 at 1M no more than 1.5x the p95 at 1k;
- peak RSS stays under 250 MB.

Each size runs in fresh subprocesses, so memory is the desk's own (peak RSS is the child's
``VmHWM``) and nothing is shared between sizes: one child drives the real app
(``tui.app.make_app(ws, sync_on_start=False)`` under ``App.run_test``), one times the domain
calls alone (the baseline: ``review.queue.window`` + ``run_detail`` for the next position, and
the queries the desk makes when it opens), and ``python -c 'import tui.app'`` is timed on its
own. The OS page cache is warm (the database was just generated or used), which is the everyday
case of a reviewer reopening the desk.

Time to open: from just before ``make_app`` until the run view shows the first run and the
screen has been composited. Next run: from sending the ``j`` key event (as ``pilot.press`` sends
it, minus pilot's own idle waits of 20 ms and more, which would swamp the figure) until the run view
shows the next run and the screen has been composited ("shown"); then the bench waits for every
worker (prefetch, block loads) to finish before the next key ("settled", reported apart).
"first j" is a key pressed the moment the first run is shown, before the desk has settled.

Figures only: nothing here passes or fails on time.

    uv run pytest tests/bench/bench_desk.py -s
    uv run python -m tests.bench.bench_desk [--sizes 1000,1000000] [--presses 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench.figures import percentile, ratio, summary_ms, table

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1_000, 1_000_000)
PRESSES = 300
TARGET_OPEN_S = 1.0
TARGET_RATIO = 1.5
TARGET_RSS_MB = 250.0
WAIT_S = 60.0
TAIL_STEPS = 20


def _rss_mb() -> dict[str, float]:
    """Peak and current RSS of this process, in MB, from /proc (VmHWM, VmRSS).

    Not ``getrusage().ru_maxrss``: Linux carries the parent's peak across fork and exec into it,
    so a child started by a process that has just generated the 1M database would report the
    generator's gigabyte. ``ru_maxrss`` is kept only as a fallback where /proc is missing.
    """
    out = {"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "now": float("nan")}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak"] = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                out["now"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


# -- child: the real app --------------------------------------------------------------------------


async def _until(pilot: Any, cond: Any, what: str) -> None:
    """Poll ``cond()`` every half millisecond, letting the app run in between."""
    deadline = time.perf_counter() + WAIT_S
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"waited {WAIT_S:.0f} s for {what}")
        await asyncio.sleep(0.0005)


async def _composited(pilot: Any) -> None:
    """Let every widget handle its pending messages, then lay out and paint what changed now
    (what Textual's screen update timer would do at its next tick)."""
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


def _send_key(app: Any, key: str) -> None:
    """Deliver a key press exactly as ``pilot.press`` does, without its two ``wait_for_idle``
    pauses (each at least 20 ms, longer while the app is busy), which would be measured too."""
    from textual import events

    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)


async def _settle(pilot: Any) -> None:
    """Wait until no worker is running (prefetch, block loads, counts) and the screen is idle."""
    app = pilot.app
    deadline = time.perf_counter() + WAIT_S
    while any(not w.is_finished for w in app.workers):
        if time.perf_counter() > deadline:
            raise TimeoutError("workers still running")
        await app.workers.wait_for_complete()
        await pilot._wait_for_screen()
    await _composited(pilot)


async def _walk(pilot: Any, shown: Any, presses: int) -> tuple[list[float], list[float]]:
    """Press ``j`` ``presses`` times: (until shown, until settled) per press, in seconds."""
    shown_s: list[float] = []
    settled_s: list[float] = []
    for i in range(presses):
        before = shown()
        t = time.perf_counter()
        _send_key(pilot.app, "j")
        await _until(pilot, lambda b=before: shown() not in (None, b), f"the run after press {i}")
        await _composited(pilot)
        shown_s.append(time.perf_counter() - t)
        await _settle(pilot)
        settled_s.append(time.perf_counter() - t)
    return shown_s, settled_s


def depth_of(total: int, presses: int) -> int:
    """Where the second walk starts: near the end of the queue, with room for every press."""
    return max(total - presses - 50, 0)


async def _drive_app(root: Path, presses: int) -> dict[str, Any]:
    from review import queue as rq
    from store.db import connect
    from store.workspace import load_workspace
    from tui.app import make_app
    from tui.widgets.queue_list import QueueList
    from tui.widgets.run_view import RunView

    ws = load_workspace(root)
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    app = make_app(ws, sync_on_start=False)
    out: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:

        def view() -> RunView:
            return app.screen.query_one(RunView)

        def shown() -> int | None:
            d = view().detail
            return d.run if d is not None else None

        await _until(pilot, lambda: shown() is not None, "the first run")
        await _composited(pilot)
        out["open_s"] = time.perf_counter() - t0
        spawned = os.environ.get("AGENTDECK_BENCH_SPAWNED")
        out["spawn_to_first_s"] = time.time() - float(spawned) if spawned else float("nan")
        out["first_run_id"] = view().detail.run_id  # type: ignore[union-attr]
        out["rss_open"] = _rss_mb()

        # A key the moment the first run is up, while the desk may still be loading counts.
        first = shown()
        t = time.perf_counter()
        _send_key(app, "j")
        await _until(pilot, lambda: shown() not in (None, first), "the run after the first")
        await _composited(pilot)
        out["first_j_s"] = time.perf_counter() - t
        t = time.perf_counter()
        await _settle(pilot)
        out["settle_s"] = time.perf_counter() - t

        out["shown_s"], out["settled_s"] = await _walk(pilot, shown, presses)
        queue = app.screen.query_one(QueueList)
        out["queue_total"] = queue.total
        out["cursor"] = queue.cursor
        out["last_run"] = shown()

        # Near the end of the queue, where a reviewer is late in the week: jump there as find
        # does, then walk again (every 100 runs the list loads its next block).
        depth = depth_of(queue.total, presses)
        conn = connect(ws.db_path)
        target = rq.window(conn, ws.reviewer, rq.QueueFilter(), depth, 1)[0].run
        conn.close()
        desk = app.screen
        t = time.perf_counter()
        desk.run_worker(desk.jump_to(target), group="find", exclusive=True)  # type: ignore[attr-defined]
        await _until(pilot, lambda: shown() == target, f"the run at position {depth:,}")
        await _composited(pilot)
        out["jump_s"] = time.perf_counter() - t
        await _settle(pilot)
        out["depth"] = depth
        out["depth_shown_s"], out["depth_settled_s"] = await _walk(pilot, shown, presses)
        out["depth_cursor"] = queue.cursor
        out["depth_last_run"] = shown()
    out["rss_before_app"] = rss_before
    out["rss_end"] = _rss_mb()
    out["peak_rss_mb"] = out["rss_end"]["peak"]
    return out


def child_app(root: Path, presses: int) -> dict[str, Any]:
    """Open the desk on ``root``, press ``j`` ``presses`` times from the top and again from near
    the end; figures, plus what the desk showed and what the domain says it should have."""
    import tui.app  # noqa: F401  (import cost is measured on its own)

    out = asyncio.run(_drive_app(root, presses))

    from review import queue as rq
    from store.db import connect
    from store.workspace import load_workspace

    ws = load_workspace(root)
    conn = connect(ws.db_path)
    flt = rq.QueueFilter()
    first_todo = rq.window(conn, ws.reviewer, rq.QueueFilter(graded=False), 0, 1)[0]
    pos = rq.position_of(conn, ws.reviewer, flt, first_todo.run) or 0
    out["expected_first_run_id"] = first_todo.run_id
    out["expected_cursor"] = pos + 1 + presses
    out["expected_last_run"] = rq.window(conn, ws.reviewer, flt, pos + 1 + presses, 1)[0].run
    out["expected_depth_cursor"] = out["depth"] + presses
    out["expected_depth_last_run"] = rq.window(conn, ws.reviewer, flt, out["depth"] + presses, 1)[
        0
    ].run
    out["expected_total"] = rq.count(conn, ws.reviewer)
    conn.close()
    return out


# -- child: the domain alone -------------------------------------------------------------------


def _best_of(fn: Any, k: int = 3) -> float:
    best = float("inf")
    for _ in range(k):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def child_domain(root: Path, steps: int) -> dict[str, Any]:
    """Time, without any UI, what the desk asks the database for: per next run, and on open."""
    from review import grading
    from review import queue as rq
    from review.session import load_setup
    from store.db import connect
    from store.outbox import pending_count
    from store.workspace import load_workspace

    ws = load_workspace(root)
    rubric = load_setup(ws).rubric
    reviewer = ws.reviewer
    conn = connect(ws.db_path)
    flt = rq.QueueFilter()
    total = rq.count(conn, reviewer, flt)

    def walk(start: int, steps: int) -> list[float]:
        times = []
        for pos in range(start, min(start + steps, total)):
            t = time.perf_counter()
            row = rq.window(conn, reviewer, flt, pos, 1)[0]
            rq.run_detail(conn, row.run)
            grading.get_grade(conn, row.run, reviewer, rubric)
            times.append(time.perf_counter() - t)
        return times

    head = walk(1, steps)
    # The end of the queue: an OFFSET scan costs what lies before it, so keep this walk short.
    tail = walk(max(total - TAIL_STEPS, 0), TAIL_STEPS)
    first = rq.window(conn, reviewer, rq.QueueFilter(graded=False), 0, 1)[0]
    last = rq.window(conn, reviewer, flt, total - 1, 1)[0]
    calls = {
        "position_of(first)": lambda: rq.position_of(conn, reviewer, flt, first.run),
        "position_of(last)": lambda: rq.position_of(conn, reviewer, flt, last.run),
        "window(0, 100)": lambda: rq.window(conn, reviewer, flt, 0, 100),
        "window(end, 100)": lambda: rq.window(conn, reviewer, flt, max(total - 100, 0), 100),
        "count": lambda: rq.count(conn, reviewer, flt),
        "count(to-do)": lambda: rq.count(conn, reviewer, rq.QueueFilter(graded=False)),
        "progress": lambda: rq.progress(conn, reviewer),
        "workflows": lambda: rq.workflows(conn, reviewer),
        "pending_count": lambda: pending_count(conn),
        "find(no match)": lambda: rq.find(conn, reviewer, "no-such-trace"),
    }
    once = {name: _best_of(fn) for name, fn in calls.items()}
    conn.close()
    return {"head_s": head, "tail_s": tail, "calls_s": once, "total": total}


# -- parent -----------------------------------------------------------------------------------


def _child(mode: str, root: Path, count: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "tests.bench.bench_desk", "--child", mode, str(root), str(count)]
    env = {**os.environ, "AGENTDECK_BENCH_SPAWNED": repr(time.time())}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_cost(repeat: int = 3) -> dict[str, float]:
    """Wall time of ``python -c 'import tui.app'`` and of a bare interpreter, medians."""

    def wall(code: str) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return {
        "python": wall("pass"),
        "textual.app": wall("import textual.app"),
        "tui.app": wall("import tui.app"),
    }


def run(sizes: tuple[int, ...] = SIZES, presses: int = PRESSES) -> dict[str, Any]:
    from tests.bench.dbgen import cached_db

    results: dict[str, Any] = {"sizes": {}, "presses": presses, "imports": import_cost()}
    for n in sizes:
        # Generate in a child: this process stays small, and so do the children it starts.
        subprocess.run([sys.executable, "-m", "tests.bench.dbgen", str(n)], cwd=ROOT, check=True)
        gen = cached_db(n)
        print(f"[bench_desk] {gen.describe()}", flush=True)
        domain = _child("domain", gen.root, presses)
        print(f"[bench_desk] {n:,}: domain done, driving the app…", flush=True)
        app = _child("app", gen.root, presses)
        results["sizes"][n] = {"gen": gen.describe(), "domain": domain, "app": app}
    return results


def _flag(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(res: dict[str, Any]) -> str:
    sizes = list(res["sizes"])
    imp = res["imports"]
    lines = [
        f"desk benchmark: {res['presses']} presses of j per walk; 120x40 terminal",
        f"import cost (wall, median of 3 subprocesses): python {imp['python']:.3f} s, "
        f"import textual.app {imp['textual.app']:.3f} s, import tui.app {imp['tui.app']:.3f} s",
        "",
        "open: make_app -> first run shown; start -> first: process start (imports included);",
        "first j: a key pressed as soon as the first run is up; settle: until no worker runs",
    ]
    rows = []
    for n in sizes:
        a = res["sizes"][n]["app"]
        rows.append(
            (
                f"{n:,}",
                a["open_s"],
                a["spawn_to_first_s"],
                a["first_j_s"] * 1000,
                a["settle_s"] * 1000,
                a["jump_s"] * 1000,
                a["peak_rss_mb"],
            )
        )
    lines.append(
        table(
            (
                "N",
                "open s",
                "start -> first s",
                "first j ms",
                "settle ms",
                "find-jump ms",
                "peak RSS MB",
            ),
            rows,
        )
    )
    lines += ["", "next run (j): until the run view shows it and the screen is composited"]
    rows = []
    for n in sizes:
        a = res["sizes"][n]["app"]
        for where, shown_key, settled_key in (
            ("top", "shown_s", "settled_s"),
            (f"@{a['depth']:,}", "depth_shown_s", "depth_settled_s"),
        ):
            s, st = summary_ms(a[shown_key]), summary_ms(a[settled_key])
            rows.append((f"{n:,}", where, s["p50"], s["p95"], s["max"], st["p95"], st["max"]))
    lines.append(
        table(
            (
                "N",
                "from",
                "next p50 ms",
                "next p95 ms",
                "next max ms",
                "settled p95 ms",
                "settled max ms",
            ),
            rows,
        )
    )
    lines.append("")
    drows = []
    for n in sizes:
        d = res["sizes"][n]["domain"]
        h, t = summary_ms(d["head_s"]), summary_ms(d["tail_s"])
        drows.append((f"{n:,}", h["p50"], h["p95"], t["n"], t["p50"], t["p95"]))
    lines.append("domain baseline, per next run: window(pos, 1) + run_detail + get_grade")
    lines.append(
        table(
            ("N", "top p50 ms", "top p95 ms", "end n", "end p50 ms", "end p95 ms"),
            drows,
        )
    )
    lines.append("")
    names = list(res["sizes"][sizes[0]]["domain"]["calls_s"])
    crow = [
        (name, *(res["sizes"][n]["domain"]["calls_s"][name] * 1000 for n in sizes))
        for name in names
    ]
    lines.append("domain calls the desk makes on open / on filter / on find (best of 3, ms)")
    lines.append(table(("call", *(f"N={n:,}" for n in sizes)), crow))
    lines.append("")
    if len(sizes) >= 2:
        small, big = res["sizes"][sizes[0]], res["sizes"][sizes[-1]]

        def p95(r: dict[str, Any], key: str) -> float:
            return percentile(r[key], 95)

        r = ratio(p95(big["app"], "shown_s"), p95(small["app"], "shown_s"))
        rd = ratio(p95(big["app"], "depth_shown_s"), p95(small["app"], "depth_shown_s"))
        rs = ratio(p95(big["app"], "depth_settled_s"), p95(small["app"], "depth_settled_s"))
        dr = ratio(p95(big["domain"], "head_s"), p95(small["domain"], "head_s"))
        lines += [
            f"ratio p95 {sizes[-1]:,}/{sizes[0]:,} = {r:.2f} from the top "
            f"(domain baseline {dr:.2f}); target <= {TARGET_RATIO}: {_flag(r <= TARGET_RATIO)}",
            f"ratio p95 {sizes[-1]:,}/{sizes[0]:,} = {rd:.2f} near the end of the queue "
            f"(settled {rs:.2f}); target <= {TARGET_RATIO}: {_flag(rd <= TARGET_RATIO)}",
        ]
    big = res["sizes"][sizes[-1]]["app"]
    lines += [
        f"open at {sizes[-1]:,}: {big['open_s']:.3f} s; target < {TARGET_OPEN_S:.0f} s: "
        f"{_flag(big['open_s'] < TARGET_OPEN_S)} (from process start, imports included: "
        f"{big['spawn_to_first_s']:.3f} s: {_flag(big['spawn_to_first_s'] < TARGET_OPEN_S)})",
        f"peak RSS at {sizes[-1]:,}: {big['peak_rss_mb']:.0f} MB; target < {TARGET_RSS_MB:.0f} MB: "
        f"{_flag(big['peak_rss_mb'] < TARGET_RSS_MB)}",
    ]
    return "\n".join(lines)


def check(res: dict[str, Any]) -> None:
    """The figures mean something only if the desk really showed the runs it should have."""
    for n, r in res["sizes"].items():
        a = r["app"]
        assert a["queue_total"] == a["expected_total"] == n, (n, a["queue_total"])
        assert a["first_run_id"] == a["expected_first_run_id"], (n, a["first_run_id"])
        assert a["cursor"] == a["expected_cursor"], (n, a["cursor"], a["expected_cursor"])
        assert a["last_run"] == a["expected_last_run"], (n, a["last_run"])
        assert a["depth_cursor"] == a["expected_depth_cursor"], (n, a["depth_cursor"])
        assert a["depth_last_run"] == a["expected_depth_last_run"], (n, a["depth_last_run"])
        assert len(a["shown_s"]) == res["presses"]


def test_desk_scaling() -> None:
    sizes = tuple(int(s) for s in os.environ.get("AGENTDECK_BENCH_SIZES", "").split(",") if s)
    res = run(sizes or SIZES)
    print("\n" + report(res))
    check(res)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--presses", type=int, default=PRESSES)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "ROOT", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        mode, root, count = args.child
        fn = child_app if mode == "app" else child_domain
        print(json.dumps(fn(Path(root), int(count))))
        return
    res = run(tuple(int(s.replace("_", "")) for s in args.sizes.split(",")), args.presses)
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    check(res)


if __name__ == "__main__":
    main()

"""Moving to the next run (``j``) at 1k and 1M demo-shaped runs, from the top and deep in the queue.

Target (from the issue): next run at 1M, p95 <= 33 ms (two frames at 60 Hz).

Each repetition is a fresh process (``python -m tests.bench.bench_desk --child ...``) that opens
the desk under ``App.run_test(size=(120, 40))`` on a generated workspace and, once the first run is
shown and everything it started has finished, presses ``j`` a number of times. The benchmark
relies only on the app's stable contract: ``tui.app.make_app(workspace, sync_on_start=False)``,
``app.desk`` (the review screen), ``app.desk.query_one(RunView).detail`` (the run shown) and the
``j`` key (the next run in queue order).

Per press, timed from posting the key event (``app.post_message(events.Key("j", "j"))``, the path a
terminal's key takes from the driver, without ``pilot.press``'s idle waits of 20 ms and more):

- **shown**: the run view holds the next run (polled every 0.5 ms);
- **painted**: the end of the first layout refresh of the desk that shows it (the desk's public
  ``screen_layout_refresh_signal``, published once the frame is laid out and composited; every
  run shown changes the run view's text, so it is laid out). This is what a person waits for;
- **idle**: then the screen has nothing left to do (``desk.wait_for_refresh()``);
- **settled**: then no worker runs (prefetch, block loads) and the screen is idle; the next key
  is pressed only then, at reading pace.

Also per process: **first j**, a key pressed the moment the first run is painted, before the
desk has settled (counts and prefetch still running), and the peak RSS (``VmHWM``).

Workspaces: at each size the default one (a few runs graded: the desk opens near the top of the
queue) and, at the largest size, one with 60 % graded, where the desk opens 600,000 rows down the
queue (deep: block loads there pay what the queue's windows cost at that depth).

After each process the runs it showed are checked against the database (schema, not
``review.queue``): the first run still to grade, then the next rows in queue order.

Figures only: nothing here passes or fails on time.

    uv run python -m tests.bench.bench_desk [--sizes 1000,1000000] [--reps 10] [--presses 50]
    uv run pytest tests/bench/bench_desk.py -s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench.figures import percentile, table

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1_000, 1_000_000)
GRADED_SHARE = 0.6
REPS = 10
PRESSES = 50
TARGET_P95_MS = 33.0
WAIT_S = 60.0
POLL_S = 0.0005
SEED = 7


def _rss_mb() -> dict[str, float]:
    """Peak and current RSS of this process in MB (VmHWM, VmRSS).

    Not ``getrusage().ru_maxrss``: Linux carries a parent's peak across fork and exec, so a child
    of a process that has just generated the 1M database would report the generator's gigabytes.
    """
    out = {"peak": float("nan"), "now": float("nan")}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak"] = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                out["now"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


# -- child: one process, one desk ------------------------------------------------------------------


async def _until(cond: Any, what: str) -> None:
    deadline = time.perf_counter() + WAIT_S
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"waited {WAIT_S:.0f} s for {what}")
        await asyncio.sleep(POLL_S)


async def _settle(app: Any) -> None:
    """Until no worker runs and a refresh has gone by with nothing left to do."""
    deadline = time.perf_counter() + WAIT_S
    while True:
        await app.workers.wait_for_complete()
        await app.desk.wait_for_refresh()
        if all(w.is_finished for w in app.workers):
            return
        if time.perf_counter() > deadline:
            raise TimeoutError("workers still running")


async def _press_j(app: Any, shown: Any, layouts: list[tuple[float, Any]]) -> dict[str, Any]:
    """One ``j``: seconds until shown, painted and idle, and the run id shown."""
    from textual import events

    before = shown()
    t = time.perf_counter()
    app.post_message(events.Key("j", "j"))
    await _until(lambda: shown() not in (None, before), "the next run")
    t_shown = time.perf_counter() - t
    run = shown()
    await _until(
        lambda: any(at >= t and seen == run for at, seen in layouts[-4:]), "the next run drawn"
    )
    painted = next(at for at, seen in layouts if at >= t and seen == run) - t
    await app.desk.wait_for_refresh()
    return {"shown": t_shown, "painted": painted, "idle": time.perf_counter() - t, "run": run}


async def _drive(root: Path, presses: int) -> dict[str, Any]:
    from store.workspace import load_workspace
    from tests.bench.dbgen import forget_place
    from tui.app import make_app
    from tui.widgets.run_view import RunView

    forget_place(root)
    ws = load_workspace(root)
    t0 = time.perf_counter()
    app = make_app(ws, sync_on_start=False)
    out: dict[str, Any] = {"reviewer": ws.reviewer, "db": str(ws.db_path)}
    async with app.run_test(size=(120, 40)):

        def shown() -> str | None:
            try:
                detail = app.desk.query_one(RunView).detail
            except Exception:  # the desk is not mounted yet
                return None
            return detail.run_id if detail is not None else None

        def desk_running() -> bool:
            try:
                return bool(app.desk.is_running)
            except LookupError:
                return False

        # Each layout refresh of the desk (the end of a frame: laid out and composited), with the
        # run it showed. Every run shown changes the run view's text, so it is laid out.
        layouts: list[tuple[float, Any]] = []
        await _until(desk_running, "the desk")
        app.desk.screen_layout_refresh_signal.subscribe(
            app, lambda _s: layouts.append((time.perf_counter(), shown())), immediate=True
        )
        await _until(lambda: any(seen for _, seen in layouts), "the first run drawn")
        out["open_s"] = next(at for at, seen in layouts if seen) - t0
        await app.desk.wait_for_refresh()
        runs = [shown()]
        first = await _press_j(app, shown, layouts)
        out["first_j_shown_s"], out["first_j_s"] = first["shown"], first["painted"]
        runs.append(first["run"])
        t = time.perf_counter()
        await _settle(app)
        out["first_settle_s"] = time.perf_counter() - t
        for key in ("shown_s", "painted_s", "idle_s", "settled_s"):
            out[key] = []
        for _ in range(presses):
            t = time.perf_counter()
            press = await _press_j(app, shown, layouts)
            await _settle(app)
            out["shown_s"].append(press["shown"])
            out["painted_s"].append(press["painted"])
            out["idle_s"].append(press["idle"])
            out["settled_s"].append(time.perf_counter() - t)
            runs.append(press["run"])
        out["runs"] = runs
        out["rss"] = _rss_mb()
    return out


def expected_runs(db: Path, reviewer: str, count: int) -> list[str]:
    """The first run still to grade and the ``count - 1`` runs after it, in queue order
    (``started_at``, then the run's row id), read from the schema."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        first = conn.execute(
            "SELECT started_at, run FROM assignments WHERE reviewer = ? AND graded = 0 "
            "ORDER BY started_at, run LIMIT 1",
            (reviewer,),
        ).fetchone()
        return [
            r[0]
            for r in conn.execute(
                "SELECT r.run_id FROM assignments a JOIN runs r ON r.id = a.run "
                "WHERE a.reviewer = ? AND (a.started_at, a.run) >= (?, ?) "
                "ORDER BY a.started_at, a.run LIMIT ?",
                (reviewer, first[0], first[1], count),
            )
        ]
    finally:
        conn.close()


def child(root: Path, presses: int) -> dict[str, Any]:
    """Open the desk on ``root``, press ``j`` ``presses + 1`` times; figures and what it showed."""
    import tui.app  # noqa: F401  (imports are not part of these figures)

    out = asyncio.run(_drive(root, presses))
    out["expected"] = expected_runs(Path(out["db"]), out["reviewer"], len(out["runs"]))
    return out


# -- parent ------------------------------------------------------------------------------------


def _spawn(root: Path, presses: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "tests.bench.bench_desk", "--child", str(root), str(presses)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"desk child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def workspaces(sizes: tuple[int, ...], graded_share: float) -> dict[str, dict[str, Any]]:
    """Per label: the generated workspace (built or reused), its size and graded runs."""
    from tests.bench.dbgen import cached_db, default_graded

    out: dict[str, dict[str, Any]] = {}
    for n in sizes:
        graded = [default_graded(n)]
        if n == max(sizes) and int(n * graded_share) > graded[0]:
            graded.append(int(n * graded_share))
        for g in graded:
            subprocess.run(
                [sys.executable, "-m", "tests.bench.dbgen", str(n), "--graded", str(g)],
                cwd=ROOT,
                check=True,
            )
            gen = cached_db(n, graded=g, progress=False)
            print(f"[bench_desk] {gen.describe()}", flush=True)
            out[f"{n:,} runs, opens at {g:,}"] = {"root": str(gen.root), "n": n, "graded": g}
    return out


def run_reps(named: dict[str, dict[str, Any]], reps: int, presses: int) -> dict[str, Any]:
    """``reps`` rounds, each a fresh process per workspace in a shuffled (seeded) order."""
    rng = random.Random(SEED)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in named}
    for r in range(reps):
        order = list(named)
        rng.shuffle(order)
        for name in order:
            results[name].append(_spawn(Path(named[name]["root"]), presses))
        print(f"[bench_desk] round {r + 1}/{reps} done", flush=True)
    return {"workspaces": named, "results": results, "presses": presses, "reps": reps}


def run(
    sizes: tuple[int, ...] = SIZES,
    reps: int = REPS,
    presses: int = PRESSES,
    graded_share: float = GRADED_SHARE,
) -> dict[str, Any]:
    return run_reps(workspaces(sizes, graded_share), reps, presses)


def _ms(values: list[float]) -> tuple[float, float, float]:
    ms = [v * 1000 for v in values]
    return percentile(ms, 50), percentile(ms, 95), max(ms)


def report(res: dict[str, Any]) -> str:
    results = res["results"]
    lines = [
        f"next run (j): {res['reps']} processes x {res['presses']} presses per workspace, "
        "120x40; ms over every press of every process",
        "",
    ]
    rows = []
    for name, reps in results.items():
        row: list[object] = [name]
        for key in ("shown_s", "painted_s", "idle_s", "settled_s"):
            row += _ms([v for rep in reps for v in rep[key]])
        per_rep_p95 = [percentile([v * 1000 for v in rep["painted_s"]], 95) for rep in reps]
        row += [statistics.median(per_rep_p95), percentile(per_rep_p95, 95)]
        rows.append(row)
    heads = ["workspace"]
    for key in ("shown", "painted", "idle", "settled"):
        heads += [f"{key} p50", "p95", "max"]
    heads += ["painted p95/process p50", "p95"]
    lines.append(table(heads, rows))
    lines += ["", "per process (median and p95 over the processes)"]
    rows = []
    for name, reps in results.items():
        row = [name]
        for key, scale in (
            ("open_s", 1000),
            ("first_j_s", 1000),
            ("first_settle_s", 1000),
        ):
            xs = [rep[key] * scale for rep in reps]
            row += [statistics.median(xs), percentile(xs, 95)]
        peaks = [rep["rss"]["peak"] for rep in reps]
        row += [statistics.median(peaks), max(peaks)]
        rows.append(row)
    lines.append(
        table(
            (
                "workspace",
                "open ms p50",
                "p95",
                "first j ms p50",
                "p95",
                "first settle ms p50",
                "p95",
                "peak RSS MB p50",
                "max",
            ),
            rows,
        )
    )
    lines.append("")
    for name, reps in results.items():
        p95 = percentile([v * 1000 for rep in reps for v in rep["painted_s"]], 95)
        flag = "met" if p95 <= TARGET_P95_MS else "MISSED"
        lines.append(f"{name}: j painted p95 {p95:.1f} ms; aim <= {TARGET_P95_MS:.0f} ms: {flag}")
    return "\n".join(lines)


def check(res: dict[str, Any]) -> None:
    """The figures mean something only if the desk showed the runs it should have."""
    for name, reps in res["results"].items():
        for rep in reps:
            assert rep["runs"] == rep["expected"], (name, rep["runs"][:3], rep["expected"][:3])
            assert len(rep["painted_s"]) == res["presses"]


def test_next_run() -> None:
    sizes = tuple(int(s) for s in os.environ.get("AGENTDECK_BENCH_SIZES", "").split(",") if s)
    res = run(sizes or SIZES)
    print("\n" + report(res))
    check(res)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument("--presses", type=int, default=PRESSES)
    parser.add_argument("--graded-share", type=float, default=GRADED_SHARE)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "PRESSES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child[0]), int(args.child[1]))))
        return
    sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
    res = run(sizes, args.reps, args.presses, args.graded_share)
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    check(res)


if __name__ == "__main__":
    main()

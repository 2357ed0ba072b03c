"""How long a reviewer's key press takes to be on disk: ``review.grading.set_value`` commits.

Target (from the issue): committing a grade durably — the grade, its event and its outbox row in
one transaction, WAL, ``synchronous=FULL`` — has a median under 5 ms.

On a copy of a generated 10k-run workspace, 500 runs each get one ``set_value`` per required
criterion of the rubric: every call but the last is a partial commit (grade + event), the last
completes the grade (grade + event + outbox row + assignment). After each call a bare
``INSERT`` + ``COMMIT`` on the same database and connection is timed too: that is what the disk
charges for one durable commit on this machine right now, the floor no grade can go under. A
short second pass with ``synchronous=OFF`` gives the CPU-only cost of the same calls.

Figures only: nothing here passes or fails on time.

    uv run pytest tests/bench/bench_grading.py -s
    uv run python -m tests.bench.bench_grading [--runs 10000] [--grades 500]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.dbgen import cached_db
from tests.bench.figures import ratio, summary_ms, table

TARGET_MEDIAN_MS = 5.0


def _levels(rubric: Any, i: int) -> list[tuple[str, object]]:
    """One value for each required criterion, varied by ``i`` (deterministic)."""
    out = []
    for c in rubric.criteria:
        if c.required:
            levels = c.scale.levels
            out.append((c.id, levels[i % len(levels)].value))
    return out


def _probe(conn: sqlite3.Connection, i: int) -> float:
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO bench_probe (n, at) VALUES (?, ?)", (i, "2026-11-24T00:00:00.000Z"))
    conn.execute("COMMIT")
    return time.perf_counter() - t


def run(n_runs: int = 10_000, grades: int = 500, workdir: Path | None = None) -> dict[str, Any]:
    """Time ``grades`` complete grades (plus the bare-commit baseline); return the figures."""
    from review import grading, queue
    from review.session import load_setup
    from store.db import connect
    from store.workspace import load_workspace

    gen = cached_db(n_runs)
    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="agentdeck-bench-grading.")) if own_tmp else workdir
    assert base is not None
    try:
        root = base / "ws"
        shutil.copytree(gen.root, root)
        ws = load_workspace(root)
        rubric = load_setup(ws).rubric
        reviewer = ws.reviewer
        conn = connect(ws.db_path)
        conn.execute("CREATE TABLE IF NOT EXISTS bench_probe (id INTEGER PRIMARY KEY, n, at)")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync_level = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            conn.execute("PRAGMA synchronous").fetchone()[0]
        ]
        todo = queue.window(conn, reviewer, queue.QueueFilter(graded=False), 0, grades + 100)
        runs = [r.run for r in todo]
        if len(runs) < grades + 100:
            raise RuntimeError(f"only {len(runs)} ungraded runs; generate more than {n_runs}")

        partial: list[float] = []
        completing: list[float] = []
        bare: list[float] = []
        events_before = conn.execute("SELECT count(*) FROM grade_events").fetchone()[0]
        outbox_before = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        for i, run_pk in enumerate(runs[:grades]):
            values = _levels(rubric, i)
            for j, (criterion, value) in enumerate(values):
                t = time.perf_counter()
                g = grading.set_value(conn, run_pk, reviewer, rubric, criterion, value, seconds=2.5)
                dt = time.perf_counter() - t
                last = j == len(values) - 1
                if g.complete != last:
                    raise RuntimeError(f"run {run_pk}: complete={g.complete} after {criterion}")
                (completing if last else partial).append(dt)
                bare.append(_probe(conn, len(bare)))
        events = conn.execute("SELECT count(*) FROM grade_events").fetchone()[0] - events_before
        outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0] - outbox_before

        # The same calls without waiting for the disk: what the Python and SQLite work costs.
        conn.execute("PRAGMA synchronous=OFF")
        cpu_partial: list[float] = []
        cpu_completing: list[float] = []
        for i, run_pk in enumerate(runs[grades : grades + 100]):
            values = _levels(rubric, i)
            for j, (criterion, value) in enumerate(values):
                t = time.perf_counter()
                grading.set_value(conn, run_pk, reviewer, rubric, criterion, value, seconds=2.5)
                dt = time.perf_counter() - t
                (cpu_completing if j == len(values) - 1 else cpu_partial).append(dt)
        conn.close()
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)
    return {
        "n_runs": n_runs,
        "grades": grades,
        "journal_mode": mode,
        "synchronous": sync_level,
        "db": gen.describe(),
        "partial": summary_ms(partial),
        "completing": summary_ms(completing),
        "all": summary_ms(partial + completing),
        "bare": summary_ms(bare),
        "cpu_partial": summary_ms(cpu_partial),
        "cpu_completing": summary_ms(cpu_completing),
        "events": events,
        "outbox": outbox,
    }


def report(f: dict[str, Any]) -> str:
    rows = []
    for key, label in (
        ("completing", "set_value, completing (grade+event+outbox)"),
        ("partial", "set_value, partial / per keystroke (grade+event)"),
        ("all", "set_value, every commit"),
        ("bare", "baseline: bare INSERT + COMMIT (same db, FULL)"),
        ("cpu_completing", "completing, synchronous=OFF (CPU only)"),
        ("cpu_partial", "partial, synchronous=OFF (CPU only)"),
    ):
        s = f[key]
        rows.append((label, s["n"], s["p50"], s["p95"], s["max"]))
    c, b = f["completing"], f["bare"]
    lines = [
        f"grading commits on {f['db']}",
        f"journal_mode={f['journal_mode']} synchronous={f['synchronous']}; "
        f"{f['grades']} complete grades, {f['events']} grade events and {f['outbox']} outbox "
        "rows written",
        "",
        table(("commit", "n", "p50 ms", "p95 ms", "max ms"), rows),
        "",
        f"ratio completing/bare: p50 {ratio(c['p50'], b['p50']):.2f}x, "
        f"p95 {ratio(c['p95'], b['p95']):.2f}x",
        f"ratio partial/bare:    p50 {ratio(f['partial']['p50'], b['p50']):.2f}x",
        f"target: completing median < {TARGET_MEDIAN_MS:.0f} ms -> measured "
        f"{c['p50']:.2f} ms ({'met' if c['p50'] < TARGET_MEDIAN_MS else 'MISSED'})",
    ]
    return "\n".join(lines)


def test_grading_commit_latency(tmp_path: Path) -> None:
    figures = run(workdir=tmp_path)
    print("\n" + report(figures))
    # Not a timing check: the figures only mean something if every grade was really written.
    assert figures["outbox"] == figures["grades"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--grades", type=int, default=500)
    args = parser.parse_args()
    print(report(run(args.runs, args.grades)))


if __name__ == "__main__":
    main()

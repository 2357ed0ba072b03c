"""The on-call reads at 1k and 1M demo-shaped runs: the board, an incident's detail, each check.

What an operator waits for at 2 a.m.: the board (every incident with its run and error counts),
the highlighted incident's detail (runs, error rate, top errors, cost against the weeks before),
each named check a runbook runs over the local copy, and one walkthrough step saved (a session
row and its audit entries, one fsynced transaction). Each is timed ``--reps`` times on the
generated workspaces of ``tests/bench/dbgen.py`` (cached between runs), and reported as p50/p95
in milliseconds with the 1M/1k ratio. Figures only: nothing here passes or fails on time.

    uv run python -m tests.bench.bench_oncall [--sizes 1000,1000000] [--reps 20]
    uv run pytest tests/bench/bench_oncall.py -s
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runbooks.checks import QUERIES, CheckContext
from runbooks.engine import Intent, act_intent, start
from runbooks.incidents import incident_detail, incident_lines
from runbooks.model import load_runbook
from store.db import connect
from store.timestamps import parse_instant
from tests.bench import dbgen
from tests.bench.figures import percentile, ratio, table

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1_000, 1_000_000)
REPS = 20
ARGS = {
    "tool_error_rate": {"tool": "payments_api", "minutes": 1440},
    "tool_timeouts": {"tool": "payments_api", "minutes": 1440},
    "schema_errors": {"minutes": 1440},
    "run_error_rate": {"minutes": 1440},
    "cost_per_run": {"minutes": 1440, "baseline_days": 14},
    "repeated_tool_calls": {"minutes": 1440},
    "agent_version_change": {"minutes": 1440, "baseline_days": 7},
}


def _time(fn: Callable[[], object], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(db_path: Path, reps: int) -> dict[str, list[float]]:
    """Milliseconds per operation on one database (read-only but for the walkthrough step,
    which runs on a copy)."""
    conn = connect(db_path)
    lines = incident_lines(conn)
    line = max(lines, key=lambda i: i.runs)
    ctx = CheckContext(
        line.workflow or "",
        parse_instant(line.starts_at),
        parse_instant(line.ends_at) if line.ends_at else None,
        monthly_budget_usd=5.0,
    )
    out: dict[str, list[float]] = {
        "board (every incident)": _time(lambda: incident_lines(conn), reps),
        "incident detail": _time(lambda: incident_detail(conn, line), reps),
    }
    for name, query in QUERIES.items():
        out[f"check {name}"] = _time(lambda q=query, n=name: q(conn, ctx, dict(ARGS[n])), reps)
    conn.close()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "db.sqlite"
        shutil.copy(db_path, copy)
        wconn = connect(copy)
        rb = load_runbook(ROOT / "sample-data" / "runbooks" / "crm-cost-spike.yaml").runbook
        session = start(wconn, rb, operator="bench", incident=(line.source, line.incident_id))

        def step() -> None:
            nonlocal session
            # Forward (choose 1) and back, so every repetition saves one step and its entries.
            intent = Intent("back") if len(session.path) > 1 else Intent("choose", index=0)
            session = act_intent(wconn, rb, session.id, intent)

        out["walkthrough step saved"] = _time(step, reps)
        wconn.close()
    return out


def run(sizes: tuple[int, ...], reps: int) -> str:
    results: dict[int, dict[str, list[float]]] = {}
    for n in sizes:
        gen = dbgen.cached_db(n, progress=False)
        print(gen.describe())
        results[n] = measure(gen.db_path, reps)
    small, large = min(sizes), max(sizes)
    rows = []
    for op in results[small]:
        a, b = results[small][op], results[large][op]
        rows.append(
            [
                op,
                percentile(a, 50),
                percentile(a, 95),
                percentile(b, 50),
                percentile(b, 95),
                ratio(percentile(b, 50), percentile(a, 50)),
            ]
        )
    headers = [
        "operation (ms)",
        f"{small:,} p50",
        f"{small:,} p95",
        f"{large:,} p50",
        f"{large:,} p95",
        f"p50 {large:,}/{small:,}",
    ]
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--reps", type=int, default=REPS)
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    print(run(sizes, args.reps))
    return 0


def test_bench_oncall() -> None:
    print()
    print(run(SIZES, REPS))


if __name__ == "__main__":
    raise SystemExit(main())

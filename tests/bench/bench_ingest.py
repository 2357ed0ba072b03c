"""Ingest: a file store of N demo-shaped runs synced into SQLite, against a raw baseline.

The store is ``runs.jsonl`` with N runs made from the demo's runs (each a whole line: summary,
steps, input and output, as a store exports them), new trace ids, spread over four weeks; it is
generated once and cached. Measured in one process, best of ``--reps``:

- **sync**: ``store.sync.pull`` with the file connector into a fresh database, sampling 2 % of
  runs (the demo's plan at 2 % for every workflow, no always-include rules), which it hydrates;
- **raw**: the same lines read with ``json.loads`` and written with one ``executemany`` of the
  same summary columns into a fresh database with the same schema, in one transaction: no
  validation, no sampling, no hydration, no per-page commits. The figure is sync's runs/s as a
  share of raw's. Both end with a checkpoint, so both count the rows reaching the database file
  (sync checkpoints once at its end).

Figures only: nothing here passes or fails on time.

    uv run python -m tests.bench.bench_ingest [--runs 100000] [--reps 3]
    uv run pytest tests/bench/bench_ingest.py -s
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.db import connect
from tests.bench import dbgen

RUNS = 100_000
REPS = 3
SEED = 7


def store_path(n_runs: int) -> Path:
    """A cached file store of ``n_runs`` demo-shaped runs (its folder)."""
    folder = dbgen.cache_dir() / f"ingest-v1-n{n_runs}-s{SEED}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    demo = []
    with dbgen.demo_runs_path().open(encoding="utf-8") as fh:
        for line in fh:
            try:
                demo.append(json.loads(line, strict=False))
            except ValueError:
                continue  # the demo's deliberately corrupt lines
    rng = random.Random(SEED)
    start = datetime(2026, 10, 26, tzinfo=UTC)
    span = 28 * 24 * 3600
    with (folder / "runs.jsonl").open("w", encoding="utf-8") as out:
        for i in range(n_runs):
            run = dict(rng.choice(demo))
            begin = start + timedelta(seconds=span * i / n_runs)
            run["trace_id"] = f"{rng.getrandbits(128):032x}"
            run["start_time"] = begin.isoformat().replace("+00:00", "Z")
            run["end_time"] = (begin + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
            out.write(json.dumps(run, ensure_ascii=False) + "\n")
    (folder / "incidents.jsonl").write_text("", encoding="utf-8")
    done.write_text("ok", encoding="utf-8")
    return folder


def _workspace(tmp: Path, store: Path) -> Path:
    """A copy of the demo workspace whose file store is ``store`` (linked, not copied)."""
    root = tmp / "ws"
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "sample-data",
        root,
        ignore=shutil.ignore_patterns(".agentdeck", "__pycache__", "generate.py", "store"),
    )
    (root / "store").symlink_to(store)
    config = root / "agentdeck.toml"
    text = config.read_text(encoding="utf-8")
    text = text[: text.index("[sampling]")] + (
        '[sampling]\nsalt = "bench"\ndefault_rate = 0.02\n\n[paths]\n'
        'rubrics = "rubrics"\ncards = "cards"\nrunbooks = "runbooks"\n'
    )
    config.write_text(text, encoding="utf-8")
    return root


def sync_once(store: Path) -> tuple[float, int, int]:
    """Seconds for one full pull into a fresh database; runs listed and hydrated."""
    from review.pulled import pull
    from review.session import load_setup
    from store.connectors.file import FileConnector
    from store.workspace import load_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = load_workspace(_workspace(Path(tmp), store))
        setup = load_setup(ws)
        conn = connect(ws.db_path)
        t0 = time.perf_counter()
        report = pull(conn, FileConnector("demo", ws.path("store")), setup.plan)
        seconds = time.perf_counter() - t0
        hydrated = conn.execute("SELECT count(*) FROM runs WHERE hydrated = 1").fetchone()[0]
        conn.close()
        return seconds, report.listed, int(hydrated)


def raw_once(store: Path) -> tuple[float, int]:
    """Seconds for the baseline: json.loads every line, one executemany of the summaries."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(Path(tmp) / "raw.db")
        t0 = time.perf_counter()
        rows = []
        with (store / "runs.jsonl").open("rb") as fh:
            for raw in fh:
                r = json.loads(raw)
                tokens = r.get("tokens") or {}
                rows.append(
                    (
                        "demo",
                        r["trace_id"],
                        r["workflow"],
                        r["start_time"],
                        r.get("end_time"),
                        r.get("status", "ok"),
                        r.get("feedback"),
                        r.get("business_ref"),
                        tokens.get("input", 0),
                        tokens.get("output", 0),
                        r.get("cost_usd"),
                        r.get("latency_ms"),
                    )
                )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO runs (source, run_id, workflow, started_at, ended_at, status, feedback, "
            "business_ref, tokens_in, tokens_out, cost_usd, latency_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        # Both sides end with the rows in the database file, not only in the write-ahead log.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        seconds = time.perf_counter() - t0
        conn.close()
        return seconds, len(rows)


def run(n_runs: int, reps: int) -> str:
    store = store_path(n_runs)
    syncs = [sync_once(store) for _ in range(reps)]
    raws = [raw_once(store) for _ in range(reps)]
    sync_s, listed, hydrated = min(syncs)
    raw_s, rows = min(raws)
    sync_rate, raw_rate = listed / sync_s, rows / raw_s
    return (
        f"{n_runs:,} runs ({hydrated:,} hydrated by the sample), best of {reps}:\n"
        f"  sync  {sync_s:7.2f} s  {sync_rate:9,.0f} runs/s\n"
        f"  raw   {raw_s:7.2f} s  {raw_rate:9,.0f} runs/s\n"
        f"  sync / raw: {sync_rate / raw_rate:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--reps", type=int, default=REPS)
    args = parser.parse_args(argv)
    print(run(args.runs, args.reps))
    return 0


def test_bench_ingest() -> None:
    print()
    print(run(RUNS, REPS))


if __name__ == "__main__":
    raise SystemExit(main())

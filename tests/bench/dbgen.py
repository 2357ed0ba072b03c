"""Generate a review workspace whose database holds N hydrated runs, all in one reviewer's queue.

Sync is far too slow to fill a database with a million runs, so rows are written directly with
bulk ``executemany`` in big transactions, following the schema of ``store.db``. The data is
deterministic (seeded): two builds with the same arguments are the same database.

The runs are as heavy as the demo's: each generated run is a run of the demo's ``runs.jsonl``,
drawn at random, exactly as a sync stores it (read by the file connector, written by
``store.sync.store_runs``), with its own trace id and start time. The draw is by queue position
counted from the first run still to grade, so every workspace (1k or 1M runs, few or most graded)
opens on the same run and ``j`` walks the same runs after it: like is compared with like.
Step counts, input, output, argument and result sizes, workflows, errors and feedback so follow
the demo's distribution (``python -m tests.bench.dbgen N --shape`` prints both side by side).

Every run is assigned to the reviewer (reason "sample"), so the queue itself is N long: the worst
case for the desk. The oldest ``graded`` runs carry a complete grade, as a reviewer who works from
the top of the queue leaves them, so the desk opens ``graded`` rows down the queue.

Generation runs with ``journal_mode=OFF`` and ``synchronous=OFF``; the finished database is
switched back to WAL, the mode every agentdeck connection expects.

    uv run python -m tests.bench.dbgen 1000000                  # build (or reuse) the 1M workspace
    uv run python -m tests.bench.dbgen 1000000 --graded 600000  # the same runs, 600k graded
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from store.db import SCHEMA_VERSION, migrate_db

#: Bump when the generated data changes shape: cached databases of older versions are ignored.
GENERATOR_VERSION = 3
SEED = 20261124
#: Runs per transaction while generating.
CHUNK = 100_000

#: The window the runs are spread over: four weeks, like the demo.
_BASE_EPOCH = 1_793_318_400  # 2026-10-30T00:00:00Z
_SPAN_S = 28 * 24 * 3600

_MINIMAL_CONFIG = """\
[workspace]
name = "agentdeck bench"
reviewer = "{reviewer}"

[[stores]]
name = "bench"
kind = "file"
path = "store"

[review]
rubric = "support-quality"
roster = ["{reviewer}", "ben"]

[sampling]
salt = "bench"
default_rate = 1.0
"""

_MINIMAL_RUBRIC = """\
id: support-quality
title: Support agent weekly review
criteria:
  - id: task_success
    metric: task_success
    question: Did the agent complete the customer's task correctly?
    scale: {kind: binary, levels: [{value: pass, key: p}, {value: fail, key: f}]}
  - id: intervention
    metric: intervention
    question: Would a human have had to step in?
    scale: {kind: binary, levels: [{value: "yes", key: y}, {value: "no", key: n}]}
  - id: tone
    question: Tone and clarity
    required: false
    scale:
      kind: ordinal
      levels: [{value: 1, key: "1"}, {value: 3, key: "3"}, {value: 5, key: "5"}]
"""


@dataclass(frozen=True)
class GenResult:
    """Where a generated workspace is and what it cost."""

    root: Path
    db_path: Path
    n_runs: int
    n_steps: int
    seconds: float
    db_bytes: int
    cached: bool = False
    n_graded: int = 0

    def describe(self) -> str:
        how = "reused from cache" if self.cached else f"generated in {self.seconds:.1f} s"
        return (
            f"{self.n_runs:,} runs ({self.n_graded:,} graded), {self.n_steps:,} steps, "
            f"{self.db_bytes / 1e6:,.1f} MB database, {how} ({self.db_path})"
        )


# -- the workspace folder -----------------------------------------------------------------------


def _make_workspace(root: Path, reviewer: str, source: Path | None) -> None:
    """Copy the demo (or ``source``) workspace into ``root`` and make ``reviewer`` its reviewer."""
    from store.workspace import CONFIG_NAME, copy_demo

    if source is not None:
        shutil.copytree(
            source,
            root,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", ".agentdeck", "generate.py"),
        )
    else:
        try:
            copy_demo(root)
        except FileNotFoundError:
            (root / "rubrics").mkdir(parents=True, exist_ok=True)
            (root / CONFIG_NAME).write_text(_MINIMAL_CONFIG.format(reviewer=reviewer))
            (root / "rubrics" / "support-quality.yaml").write_text(_MINIMAL_RUBRIC)
    # The generated database stands in for sync: never let a stray sync pull demo runs into it.
    shutil.rmtree(root / "store", ignore_errors=True)
    (root / "store").mkdir()
    config = root / CONFIG_NAME
    text = config.read_text()
    text = re.sub(
        r'(?m)^(reviewer\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{reviewer}"', text, count=1
    )
    config.write_text(text)


# -- demo-shaped content --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    """One demo run as sync stores it, with its timestamps turned into offsets from its start."""

    workflow: str
    status: str
    feedback: str | None
    business_ref: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    latency_ms: int | None
    input: str | None
    output: str | None
    final_action: str | None
    tags: str | None
    duration_s: float | None
    #: (kind, name, offset_s or None, started_at if no offset, latency, arguments, result,
    #: error_type, error_message, tokens_in, tokens_out)
    steps: tuple[tuple[object, ...], ...]


def demo_runs_path() -> Path:
    """The demo's ``runs.jsonl``: the runs every generated run is drawn from."""
    from store.workspace import demo_source

    path = demo_source() / "store" / "runs.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the demo's runs are missing; dbgen draws from them")
    return path


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


@functools.cache
def _templates(runs_path: Path) -> tuple[_Template, ...]:
    """Every run of ``runs_path`` read by the file connector and written by ``store_runs`` (into
    a database in memory), exactly as a sync would store it; then read back as templates."""
    from store.connectors.file import FileConnector
    from store.sync import store_runs

    connector = FileConnector("demo", runs_path.parent)
    page = connector.list_runs(None, 10**9)
    runs = connector.fetch_runs([r.trace_id for r in page.runs])
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate_db(conn)
    conn.execute("BEGIN")
    store_runs(conn, "demo", runs)
    conn.execute("COMMIT")
    steps: dict[int, list[tuple[object, ...]]] = {}
    for row in conn.execute(
        "SELECT run, kind, name, started_at, latency_ms, arguments, result, error_type, "
        "error_message, tokens_in, tokens_out FROM steps ORDER BY run, idx"
    ):
        steps.setdefault(row[0], []).append(row[1:])
    out = []
    for row in conn.execute(
        "SELECT id, started_at, ended_at, workflow, status, feedback, business_ref, tokens_in, "
        "tokens_out, cost_usd, latency_ms, input, output, final_action, tags FROM runs "
        "WHERE hydrated = 1 ORDER BY id"
    ):
        start, end = _epoch(row[1]), _epoch(row[2])
        own = []
        for kind, name, at, *rest in steps.get(row[0], []):
            t = _epoch(at)
            offset = t - start if t is not None and start is not None else None
            own.append((kind, name, offset, None if offset is not None else at, *rest))
        duration = end - start if start is not None and end is not None else None
        out.append(_Template(*row[3:], duration_s=duration, steps=tuple(own)))  # type: ignore[arg-type]
    conn.close()
    if not out:
        raise ValueError(f"{runs_path}: no run could be read")
    return tuple(out)


def _iso(seconds: float) -> str:
    whole = int(seconds)
    ms = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}000Z"


def _template_order(seed: int, n_runs: int, n_templates: int) -> array[int]:
    """Which demo run each queue position copies, counted from the first run still to grade.

    Drawn from a stream of its own, so position ``i`` after the first to-do run copies the same
    demo run in every workspace of any size or graded share: the desk opens on the same run, and
    ``j`` walks the same runs, whatever the queue holds before them.
    """
    rng = random.Random(f"{seed}/templates")
    return array("I", (rng.randrange(n_templates) for _ in range(n_runs)))


def _runs_and_steps(
    rng: random.Random,
    templates: Sequence[_Template],
    order: Sequence[int],
    n_graded: int,
    source: str,
    first: int,
    last: int,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Rows for runs ``first..last`` (1-based ids): (runs, steps, assignments-without-reviewer).

    Each run copies a demo run (so step counts, sizes and the mix of workflows, errors and
    feedback follow the demo's), with its own trace id and start time.
    """
    n_runs = len(order)
    spacing = _SPAN_S / max(n_runs, 1)
    runs: list[tuple[object, ...]] = []
    steps: list[tuple[object, ...]] = []
    queue: list[tuple[object, ...]] = []
    iso = _iso
    for pk in range(first, last + 1):
        tp = templates[order[(pk - 1 - n_graded) % n_runs]]
        start = _BASE_EPOCH + (pk - 1) * spacing + rng.random() * spacing * 0.9
        started_at = iso(start)
        for idx, (kind, name, offset, at, *rest) in enumerate(tp.steps):
            steps.append(
                (pk, idx, kind, name, iso(start + offset) if offset is not None else at, *rest)
            )
        runs.append(
            (
                pk,
                source,
                f"{rng.getrandbits(128):032x}",
                tp.workflow,
                started_at,
                iso(start + tp.duration_s) if tp.duration_s is not None else None,
                tp.status,
                tp.feedback,
                tp.business_ref,
                tp.tokens_in,
                tp.tokens_out,
                tp.cost_usd,
                tp.latency_ms,
                1,
                tp.input,
                tp.output,
                tp.final_action,
                tp.tags,
            )
        )
        queue.append((pk, tp.workflow, tp.status, started_at))
    return runs, steps, queue


_INSERT_RUN = (
    "INSERT INTO runs (id, source, run_id, workflow, started_at, ended_at, status, feedback, "
    "business_ref, tokens_in, tokens_out, cost_usd, latency_ms, hydrated, input, output, "
    "final_action, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STEP = (
    "INSERT INTO steps (run, idx, kind, name, started_at, latency_ms, arguments, result, "
    "error_type, error_message, tokens_in, tokens_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def default_graded(n_runs: int) -> int:
    """How many runs carry a complete grade unless told: N/200, at least 1, at most 500."""
    return min(500, max(1, n_runs // 200))


def graded_runs(n_runs: int, graded: int | None = None) -> range:
    """The run ids that carry a complete grade: the oldest ``graded`` runs (default
    :func:`default_graded`), as a reviewer who works from the top of the queue leaves them.
    Run ids rise with ``started_at``, so these are the head of the queue and the first run
    still to grade is at position ``graded``."""
    k = default_graded(n_runs) if graded is None else graded
    if not 0 <= k <= n_runs:
        raise ValueError(f"graded must be between 0 and {n_runs}, got {k}")
    return range(1, k + 1)


def build_db(
    path: Path,
    n_runs: int,
    *,
    graded: int | None = None,
    reviewer: str = "ana",
    workspace: Path | None = None,
    seed: int = SEED,
    progress: bool = False,
) -> GenResult:
    """Create a workspace at ``path`` (copied from ``workspace``, default the demo) whose
    database holds ``n_runs`` hydrated demo-shaped runs, all assigned to ``reviewer``, the
    oldest ``graded`` of them (default :func:`default_graded`) with a complete grade."""
    from review.session import load_setup, register_rubric
    from store.workspace import load_workspace

    t0 = time.perf_counter()
    path = Path(path)
    graded_ids = graded_runs(n_runs, graded)
    templates = _templates(demo_runs_path())
    _make_workspace(path, reviewer, workspace)
    ws = load_workspace(path)
    if ws.reviewer not in ws.config.review.roster:
        raise ValueError(f"reviewer {reviewer!r} is not in the roster of {ws.config_path}")
    setup = load_setup(ws)
    source = ws.config.stores[0].name
    db_path = ws.db_path
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db_path, db_path.with_name(db_path.name + "-wal")):
        stale.unlink(missing_ok=True)

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-524288")  # 512 MiB: the run_id index is filled at random
    conn.execute("PRAGMA temp_store=MEMORY")
    migrate_db(conn)

    rng = random.Random(seed)
    order = _template_order(seed, n_runs, len(templates))
    n_steps = 0
    n_graded = len(graded_ids)
    for first in range(1, n_runs + 1, CHUNK):
        last = min(first + CHUNK - 1, n_runs)
        runs, steps, queue = _runs_and_steps(rng, templates, order, n_graded, source, first, last)
        conn.execute("BEGIN")
        conn.executemany(_INSERT_RUN, runs)
        conn.executemany(_INSERT_STEP, steps)
        conn.executemany(
            "INSERT INTO assignments (reviewer, run, workflow, status, started_at, reason, "
            "graded) VALUES (?, ?, ?, ?, ?, 'sample', ?)",
            [(reviewer, pk, wf, st, at, int(pk <= n_graded)) for pk, wf, st, at in queue],
        )
        conn.execute("COMMIT")
        n_steps += len(steps)
        if progress:
            print(
                f"  dbgen: {last:,}/{n_runs:,} runs  {time.perf_counter() - t0:6.1f} s", flush=True
            )

    rubric = setup.rubric
    values = json.dumps(
        {c.id: c.scale.levels[0].value for c in rubric.criteria if c.required}, sort_keys=True
    )
    stamp = _iso(_BASE_EPOCH + _SPAN_S)
    conn.execute("BEGIN")
    register_rubric(conn, rubric)
    conn.executemany(
        'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", comment, '
        "escalate, seconds_spent, complete, origin, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, NULL, 0, 42.0, 1, 'remote', ?, ?)",
        ((pk, reviewer, rubric.id, rubric.version, values, stamp, stamp) for pk in graded_ids),
    )
    workflows = sorted({t.workflow for t in templates})
    conn.executemany(
        "INSERT INTO incidents (source, incident_id, workflow, title, severity, status, "
        "starts_at, ends_at, summary, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                source,
                f"INC-{i:04d}",
                workflows[i % len(workflows)],
                f"Elevated tool errors in {workflows[i % len(workflows)]}",
                ("warning", "critical")[i % 2],
                "resolved",
                _iso(_BASE_EPOCH + i * _SPAN_S / 8),
                _iso(_BASE_EPOCH + i * _SPAN_S / 8 + 3600),
                "payments_api timeouts above 20% for an hour",
                json.dumps({"team": "payments"}),
            )
            for i in range(8)
        ],
    )
    conn.executemany(
        "INSERT INTO sync_state (store, cursor, synced_at, skipped, note) VALUES (?, ?, ?, 0, ?)",
        [
            (s.name, "bench:end", stamp, "generated by tests/bench/dbgen.py")
            for s in ws.config.stores
        ],
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return GenResult(
        root=path,
        db_path=db_path,
        n_runs=n_runs,
        n_steps=n_steps,
        seconds=time.perf_counter() - t0,
        db_bytes=db_path.stat().st_size,
        n_graded=n_graded,
    )


# -- the cache ----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where generated workspaces are kept between runs ($AGENTDECK_BENCH_CACHE to move it)."""
    env = os.environ.get("AGENTDECK_BENCH_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "agentdeck-bench-cache"


def _cache_key(n_runs: int, graded: int, reviewer: str, seed: int, workspace: Path | None) -> str:
    """Generator and schema version, arguments, the source config and rubrics, and the demo runs
    drawn from: a change to any of them makes a new database rather than reusing a stale one."""
    from store.workspace import demo_source

    h = hashlib.sha256(
        f"{GENERATOR_VERSION}/{SCHEMA_VERSION}/{n_runs}/{graded}/{reviewer}/{seed}".encode()
    )
    try:
        src = workspace or demo_source()
    except FileNotFoundError:
        src = None
    if src is not None:
        for f in sorted([src / "agentdeck.toml", *sorted((src / "rubrics").glob("*.yaml"))]):
            if f.is_file():
                h.update(f.name.encode() + f.read_bytes())
    h.update(demo_runs_path().read_bytes())
    return f"v{GENERATOR_VERSION}-n{n_runs}-g{graded}-{h.hexdigest()[:12]}"


def cached_db(
    n_runs: int,
    *,
    graded: int | None = None,
    reviewer: str = "ana",
    workspace: Path | None = None,
    seed: int = SEED,
    progress: bool = True,
) -> GenResult:
    """The generated workspace for these arguments, built once and then reused.

    Reuse means benchmarks that write (grades, the desk's own state) leave their traces for the
    next run; the desk benchmark only moves and reads, the grading benchmark works on a copy.
    """
    n_graded = default_graded(n_runs) if graded is None else graded
    root = cache_dir() / _cache_key(n_runs, n_graded, reviewer, seed, workspace)
    done = root / ".complete"
    if done.is_file():
        info = json.loads(done.read_text())
        db_path = Path(info["db_path"])
        return GenResult(
            root,
            db_path,
            n_runs,
            info["n_steps"],
            info["seconds"],
            db_path.stat().st_size,
            cached=True,
            n_graded=n_graded,
        )
    cache_dir().mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=cache_dir()))
    try:
        result = build_db(
            building / "ws",
            n_runs,
            graded=n_graded,
            reviewer=reviewer,
            workspace=workspace,
            seed=seed,
            progress=progress,
        )
        shutil.rmtree(root, ignore_errors=True)
        # The workspace's database path is relative to its folder, so moving the folder is safe.
        (building / "ws").rename(root)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    db_path = root / result.db_path.relative_to(result.root)
    (root / ".complete").write_text(
        json.dumps({"db_path": str(db_path), "n_steps": result.n_steps, "seconds": result.seconds})
    )
    return GenResult(
        root, db_path, n_runs, result.n_steps, result.seconds, result.db_bytes, n_graded=n_graded
    )


# -- how heavy the runs are ---------------------------------------------------------------------

_SHAPE_SQL = {
    "steps per run": "SELECT count(*) FROM steps WHERE run IN ({runs}) GROUP BY run",
    "input chars": "SELECT coalesce(length(input), 0) FROM runs WHERE id IN ({runs})",
    "output chars": "SELECT coalesce(length(output), 0) FROM runs WHERE id IN ({runs})",
    "step arguments chars": (
        "SELECT coalesce(length(arguments), 0) FROM steps WHERE run IN ({runs})"
    ),
    "step result chars": "SELECT coalesce(length(result), 0) FROM steps WHERE run IN ({runs})",
    "text chars per run": (
        "SELECT coalesce(length(r.input), 0) + coalesce(length(r.output), 0) + "
        "coalesce((SELECT sum(coalesce(length(arguments), 0) + coalesce(length(result), 0)) "
        "FROM steps s WHERE s.run = r.id), 0) FROM runs r WHERE r.id IN ({runs})"
    ),
}


def shape(conn: sqlite3.Connection, runs: str = "SELECT id FROM runs") -> dict[str, list[float]]:
    """Distribution of step counts and text sizes over ``runs`` (a SELECT of run ids):
    p10, p50, p90, p99, max and mean of each, in characters as stored."""
    out = {}
    for name, sql in _SHAPE_SQL.items():
        xs = sorted(r[0] for r in conn.execute(sql.format(runs=runs)))
        qs = [xs[round(p * (len(xs) - 1))] for p in (0.10, 0.50, 0.90, 0.99)]
        out[name] = [*qs, xs[-1], sum(xs) / len(xs)]
    return out


def demo_shape() -> dict[str, list[float]]:
    """:func:`shape` of the demo's runs as a sync stores them."""
    from store.connectors.file import FileConnector
    from store.sync import store_runs

    connector = FileConnector("demo", demo_runs_path().parent)
    page = connector.list_runs(None, 10**9)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate_db(conn)
    store_runs(conn, "demo", connector.fetch_runs([r.trace_id for r in page.runs]))
    try:
        return shape(conn, "SELECT id FROM runs WHERE hydrated = 1")
    finally:
        conn.close()


def shape_report(db_path: Path, sample: int = 20_000) -> str:
    """The demo's shape beside that of the first ``sample`` runs of a generated database."""
    from tests.bench.figures import table

    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        generated = shape(conn, f"SELECT id FROM runs WHERE id <= {int(sample)}")
    finally:
        conn.close()
    demo = demo_shape()
    rows = [
        (f"{name} ({who})", *values)
        for name in _SHAPE_SQL
        for who, values in (("demo", demo[name]), ("generated", generated[name]))
    ]
    return table(("", "p10", "p50", "p90", "p99", "max", "mean"), rows)


def forget_place(root: Path) -> None:
    """Forget where an earlier run left the desk (``desk_places``): a benchmark measures a first
    opening, on the first run still to grade, whatever ran on the workspace before."""
    from store.workspace import load_workspace

    conn = sqlite3.connect(load_workspace(root).db_path)
    try:
        with conn:
            conn.execute("DELETE FROM desk_places")
    except sqlite3.OperationalError:
        pass  # a database from before the table: nothing saved
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", default="1000000", help="how many runs (default 1M)")
    parser.add_argument("--graded", type=lambda s: int(s.replace("_", "")), default=None)
    parser.add_argument("--shape", action="store_true", help="compare its runs with the demo's")
    args = parser.parse_args(argv)
    result = cached_db(int(args.runs.replace("_", "")), graded=args.graded)
    print(result.describe())
    if args.shape:
        print(shape_report(result.db_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

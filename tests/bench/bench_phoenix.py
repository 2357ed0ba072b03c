"""Sync from and push to a real Phoenix: wall time, requests made, bytes received.

A Phoenix of its own (tests/servers.py) is seeded with ``--runs`` runs (a root span and three
child spans each, fixed ids, through ``POST /v1/projects/{project}/spans`` in large batches),
and the benchmark waits until every root span is listed. Phoenix inserts about 125 spans a
second here, so the seeded data folder is kept (``cache_dir``) and later runs copy it and start
Phoenix on it (``--fresh`` seeds again). Then:

- **sync** into a fresh database at a ``--rate`` sample (2 %), and at 100 % (every run fetched),
  counting requests and bytes in a transport wrapper handed to the connector, split by kind:
  listing the root spans (the same for any rate), fetching the sampled traces, reading grades
  back. Fetch bytes should track the sample rate; listing is the fixed floor.
- **push** ``--grade-runs`` x 4 criteria grades through the outbox (``store.outbox.push`` until
  nothing is due) with a fresh connector, as ``agentdeck sync`` pushes before it pulls: once one
  grade a request (reviewer ``ana``), once in the connector's batches (reviewer ``ben``); then
  read each reviewer's back (``list_scores``) and count them.

Figures only: nothing here passes or fails on time.

    uv run python -m tests.bench.bench_phoenix [--runs 10000] [--rate 0.02] [--grade-runs 2500]
    uv run pytest tests/bench/bench_phoenix.py -s          # AGENTDECK_BENCH_PHOENIX_RUNS=1000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.bench.figures import ratio, table

PROJECT = "bench-agents"
WORKFLOWS = ("billing-support", "crm-update", "refund-approvals", "kb-answers")
CRITERIA = (("task_success", "pass"), ("intervention", "no"), ("tone", 5), ("policy", "safe"))
#: Runs a seeding request carries (four spans each).
SEED_BATCH = 2_500
START = datetime(2026, 11, 2, tzinfo=UTC)
#: Bumped whenever ``spans`` changes, so a cached seeded Phoenix is never taken for another.
SHAPE = "v1"


def _hex(seed: str, digits: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:digits]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def trace_id(n: int) -> str:
    return _hex(f"{PROJECT}/{n}", 32)


def spans(n: int) -> list[dict[str, Any]]:
    """Run ``n`` as Phoenix spans: an agent root, an LLM call, a retrieval and a tool call."""
    tid, root = trace_id(n), _hex(f"{PROJECT}/{n}/root", 16)
    t0 = START + timedelta(seconds=7 * n)

    def span(part: str, kind: str, offset: float, attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": part,
            "context": {
                "trace_id": tid,
                "span_id": root if part == "root" else _hex(f"{PROJECT}/{n}/{part}", 16),
            },
            "span_kind": kind,
            "parent_id": None if part == "root" else root,
            "start_time": _iso(t0 + timedelta(seconds=offset)),
            "end_time": _iso(t0 + timedelta(seconds=offset + 1)),
            "status_code": "OK",
            "status_message": "",
            "attributes": attrs,
            "events": [],
        }

    return [
        span(
            "root",
            "AGENT",
            0,
            {
                "metadata": json.dumps({"workflow": WORKFLOWS[n % len(WORKFLOWS)]}),
                "input.value": f"customer question {n}: where is my refund for order ORD-{n}?",
                "output.value": f"answer {n}: the refund was issued today.",
            },
        ),
        span(
            "llm",
            "LLM",
            0.1,
            {
                "llm.model_name": "gpt-4.1-mini",
                "llm.token_count.prompt": 400 + n % 97,
                "llm.token_count.completion": 60,
                "input.value": "plan the refund lookup for the customer",
                "output.value": "call payments_api.lookup, then answer",
            },
        ),
        span(
            "retrieve",
            "RETRIEVER",
            1.2,
            {"input.value": "refund policy", "output.value": "Refunds under $50 are automatic."},
        ),
        span(
            "tool",
            "TOOL",
            2.4,
            {
                "tool.name": "payments_api.lookup",
                "input.value": json.dumps({"order": f"ORD-{n}"}),
                "output.value": json.dumps({"status": "refunded", "amount": 20 + n % 30}),
            },
        ),
    ]


class Counting(httpx.BaseTransport):
    """Real HTTP, counting requests and bytes received (on the wire and decoded) by kind."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: Counter[str] = Counter()
        self.wire: Counter[str] = Counter()
        self.body: Counter[str] = Counter()

    @staticmethod
    def kind(request: httpx.Request) -> str:
        path, params = request.url.path, request.url.params
        if path.endswith("/span_annotations"):
            return "annotations: post" if request.method == "POST" else "annotations: read"
        if path.endswith("/spans"):
            if params.get("sort") == "id":
                return "spans: list roots"
            return "spans: root lookup" if params.get("parent_id") == "null" else "spans: fetch"
        return f"{request.method} {path}"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        kind = self.kind(request)
        self.requests[kind] += 1
        self.wire[kind] += response.num_bytes_downloaded
        self.body[kind] += len(response.content)
        return response

    def close(self) -> None:
        self.inner.close()

    def figures(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "wire": dict(self.wire),
            "body": dict(self.body),
            "total_requests": sum(self.requests.values()),
            "total_wire": sum(self.wire.values()),
            "total_body": sum(self.body.values()),
        }


def _post(url: str, path: str, body: object) -> tuple[int, str]:
    reply = httpx.post(f"{url}/v1{path}", json=body, timeout=600)
    return reply.status_code, reply.text[:200]


def _roots_listed(url: str) -> int:
    """How many root spans Phoenix lists for the project right now (0 before it exists)."""
    count, cursor = 0, None
    with httpx.Client(base_url=url, timeout=120) as client:
        while True:
            params = [("parent_id", "null"), ("limit", "1000"), ("sort", "id"), ("order", "asc")]
            if cursor:
                params.append(("cursor", cursor))
            reply = client.get(f"/v1/projects/{PROJECT}/spans", params=params)
            if reply.status_code == 404:
                return 0
            reply.raise_for_status()
            page = reply.json()
            count += len(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return count


def seed(url: str, n_runs: int, *, timeout: float = 900.0) -> dict[str, float]:
    """Post ``n_runs`` runs in batches and wait (bounded poll) until every root is listed."""
    t = time.perf_counter()
    deadline = time.monotonic() + timeout
    full = 0
    for first in range(0, n_runs, SEED_BATCH):
        batch = [s for n in range(first, min(n_runs, first + SEED_BATCH)) for s in spans(n)]
        while True:
            status, says = _post(url, f"/projects/{PROJECT}/spans", {"data": batch})
            # 503 "at capacity": Phoenix's insert queue is full; let it drain.
            if status != 503 or time.monotonic() > deadline:
                break
            full += 1
            time.sleep(1.0)
        if status != 202:
            raise RuntimeError(f"Phoenix refused the seed batch at run {first}: {status} {says}")
    posted = time.perf_counter() - t
    while (listed := _roots_listed(url)) < n_runs:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Phoenix listed {listed} of {n_runs} roots after {timeout:.0f} s")
        time.sleep(1.0)
    # The last run's child spans too (a trace's spans are inserted together, in order).
    last = trace_id(n_runs - 1)
    with httpx.Client(base_url=url, timeout=120) as client:
        while True:
            reply = client.get(f"/v1/projects/{PROJECT}/spans", params={"trace_id": last})
            if len(reply.json()["data"]) == 4:
                break
            time.sleep(0.5)
    return {"post_s": posted, "queryable_s": time.perf_counter() - t, "full": full}


def _plan(rate: float) -> Any:
    from review.sampling import ReviewPlan
    from store.workspace import SamplingSection

    return ReviewPlan(
        sampling=SamplingSection(salt="bench-phoenix", default_rate=rate),
        roster=("ana",),
        overlap=0.0,
    )


def _connector(url: str, transport: Counting) -> Any:
    from store.connectors.phoenix import PhoenixConnector

    return PhoenixConnector("phoenix", url, project=PROJECT, timeout=120, transport=transport)


def sync_once(url: str, db: Path, rate: float) -> dict[str, Any]:
    """A first sync into a fresh database at ``rate``; its figures."""
    from review.pulled import pull
    from store.db import connect

    conn = connect(db)
    counting = Counting()
    connector = _connector(url, counting)
    t = time.perf_counter()
    report = pull(conn, connector, _plan(rate), page_size=1000)
    wall = time.perf_counter() - t
    connector.close()
    steps = conn.execute("SELECT count(*) FROM steps").fetchone()[0]
    runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    return {
        "rate": rate,
        "wall_s": wall,
        "listed": report.listed,
        "hydrated": report.hydrated,
        "runs": runs,
        "steps": steps,
        "problems": len(report.problems),
        **counting.figures(),
    }


def push_grades(
    url: str, db: Path, grade_runs: int, reviewer: str, batch: int | None, deletes: bool = False
) -> dict[str, Any]:
    """Enqueue ``grade_runs`` x 4 scores by ``reviewer`` in the synced database, push them all
    (``batch`` grades a request; None: the connector's own ``push_batch``), read them back.

    ``deletes``: each outbox row as the desk writes it, naming its run and the score of the
    rubric's optional criterion left unset to delete (never pushed: the store does not hold it,
    so since ``held_scores`` no delete is sent; before, the cost was Phoenix looking)."""
    from store.db import connect
    from store.identity import score_id
    from store.outbox import enqueue, push
    from store.timestamps import now_iso

    conn = connect(db)
    pks = conn.execute(
        "SELECT id, run_id FROM runs WHERE hydrated = 1 ORDER BY started_at LIMIT ?",
        (grade_runs,),
    ).fetchall()
    if len(pks) < grade_runs:
        raise RuntimeError(f"only {len(pks)} runs to grade, not {grade_runs}")
    conn.execute("BEGIN IMMEDIATE")
    for pk, run_id in pks:
        scores = [
            {
                "id": score_id("phoenix", run_id, name, reviewer),
                "trace_id": run_id,
                "name": name,
                "value": value,
                "comment": "benchmark",
                "metadata": {
                    "reviewer": reviewer,
                    "rubric_id": "support-quality",
                    "rubric_version": "v-bench",
                    "seconds_spent": 12.5,
                },
            }
            for name, value in CRITERIA
        ]
        payload: dict[str, Any] = {"upsert": scores}
        if deletes:
            payload["trace_id"] = run_id
            payload["delete"] = [score_id("phoenix", run_id, "tool_use", reviewer)]
        enqueue(
            conn,
            store="phoenix",
            run=pk,
            reviewer=reviewer,
            payload=payload,
            created_at=now_iso(),
        )
    conn.execute("COMMIT")
    counting = Counting()
    connector = _connector(url, counting)
    if batch is not None:
        connector.push_batch = batch
    calls = pushed = failed = 0
    t = time.perf_counter()
    while True:
        report = push(conn, connector)
        calls += 1
        pushed += report.pushed
        failed += report.failed
        if report.pushed + report.failed == 0:
            break
    wall = time.perf_counter() - t
    connector.close()
    waiting = conn.execute("SELECT count(*) FROM outbox WHERE pushed_at IS NULL").fetchone()[0]

    reader = _connector(url, Counting())
    t = time.perf_counter()
    back = [s for s in reader.list_scores([r for _, r in pks]) if s.metadata.reviewer == reviewer]
    read_s = time.perf_counter() - t
    reader.close()
    conn.close()
    return {
        "batch": connector.push_batch,
        "deletes": deletes,
        "grades": len(pks) * len(CRITERIA),
        "runs": len(pks),
        "wall_s": wall,
        "push_calls": calls,
        "pushed": pushed,
        "failed": failed,
        "waiting": waiting,
        "read_back": len(back),
        "read_back_distinct": len({(s.trace_id, s.name, s.metadata.reviewer) for s in back}),
        "read_s": read_s,
        **counting.figures(),
    }


def client_overhead(n: int = 3_000, repeats: int = 5) -> dict[str, float]:
    """Per-request cost of the shared client (``store.jsonapi.JsonApi.json``) against the same
    GET and ``json.loads`` through a bare ``httpx.Client``, both over one in-process transport
    (no network: what is left is the clients' own work). Best of ``repeats`` rounds, in µs."""
    from store.jsonapi import JsonApi

    body = json.dumps({"data": [{"id": str(i)} for i in range(20)], "next_cursor": None}).encode()

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(reply)
    raw = httpx.Client(base_url="http://bench.invalid", transport=transport, timeout=5)
    api = JsonApi("bench", "http://bench.invalid", timeout=5, transport=transport, attempts=4)
    params = {"limit": "1000"}

    def bare() -> None:
        response = raw.get("/v1/projects/p/spans", params=params)
        response.raise_for_status()
        json.loads(response.content)

    def shared() -> None:
        api.json("GET", "/v1/projects/p/spans", params=params)

    best: dict[str, float] = {}
    for name, call in (("httpx", bare), ("jsonapi", shared)) * repeats:
        t = time.perf_counter()
        for _ in range(n):
            call()
        each = (time.perf_counter() - t) / n * 1e6
        best[name] = min(best.get(name, each), each)
    raw.close()
    api.close()
    return {"n": n, "httpx_us": best["httpx"], "jsonapi_us": best["jsonapi"]}


def cache_dir(n_runs: int) -> Path:
    """Where a seeded Phoenix's data folder is kept between runs (``$AGENTDECK_BENCH_CACHE``,
    else ``$TMPDIR/agentdeck-bench-cache``), by Phoenix version, run count and span shape."""
    from tests import servers

    root = os.environ.get("AGENTDECK_BENCH_CACHE")
    base = Path(root) if root else Path(tempfile.gettempdir()) / "agentdeck-bench-cache"
    return base / f"phoenix-{servers.PHOENIX_VERSION}-{n_runs}-{SHAPE}"


def run(
    n_runs: int = 10_000,
    rate: float = 0.02,
    grade_runs: int = 2_500,
    workdir: Path | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Start a Phoenix of its own on seeded data (seeding it, or copying what an earlier run
    seeded unless ``fresh``), sync at ``rate`` and at 100 %, push grades."""
    from tests import servers

    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="agentdeck-bench-phoenix.")) if own_tmp else workdir
    assert base is not None
    workdir_phoenix = base / "phoenix"
    cache = cache_dir(n_runs)
    seeded: dict[str, Any]
    if fresh or not (cache / "seed.json").is_file():
        t = time.perf_counter()
        server = servers.start_phoenix(workdir_phoenix)
        started_s = time.perf_counter() - t
        try:
            seeded = {**seed(server.url, n_runs), "cached": False}
        finally:
            server.stop()
        # Keep the seeded data: the next run copies it instead of seeding for minutes.
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(workdir_phoenix / "data", cache / "data")
        (cache / "seed.json").write_text(json.dumps(seeded))
        server = servers.restart_phoenix(server, workdir_phoenix)
    else:
        t = time.perf_counter()
        shutil.copytree(cache / "data", workdir_phoenix / "data")
        copied = time.perf_counter() - t
        seeded = {**json.loads((cache / "seed.json").read_text()), "cached": True}
        seeded["copy_s"] = copied
        t = time.perf_counter()
        server = servers.start_phoenix(workdir_phoenix)
        started_s = time.perf_counter() - t
    try:
        sampled = sync_once(server.url, base / "sampled.db", rate)
        everything = sync_once(server.url, base / "all.db", 1.0)
        graded = min(grade_runs, n_runs)
        one = push_grades(server.url, base / "all.db", graded, "ana", 1)
        batched = push_grades(server.url, base / "all.db", graded, "ben", None)
        desk = push_grades(server.url, base / "all.db", graded, "chen", None, deletes=True)
    finally:
        server.stop()
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)
    try:
        overhead: dict[str, float] | None = client_overhead()
    except ImportError:  # a checkout from before the shared client
        overhead = None
    return {
        "n_runs": n_runs,
        "rate": rate,
        "client": overhead,
        "start_s": started_s,
        "seed": seeded,
        "sampled": sampled,
        "all": everything,
        "push": [one, batched, desk],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Phoenix {servers.PHOENIX_VERSION} on SQLite",
    }


def _kb(n: float) -> float:
    return n / 1024


def report(f: dict[str, Any]) -> str:
    s, a, pushes = f["sampled"], f["all"], f["push"]
    kinds = sorted(set(s["requests"]) | set(a["requests"]))
    rows: list[list[object]] = []
    for kind in kinds:
        rows.append(
            [
                kind,
                s["requests"].get(kind, 0),
                a["requests"].get(kind, 0),
                _kb(s["wire"].get(kind, 0)),
                _kb(a["wire"].get(kind, 0)),
                ratio(s["wire"].get(kind, 0), a["wire"].get(kind, 0)),
            ]
        )
    rows.append(
        [
            "total",
            s["total_requests"],
            a["total_requests"],
            _kb(s["total_wire"]),
            _kb(a["total_wire"]),
            ratio(s["total_wire"], a["total_wire"]),
        ]
    )
    pct = f"{f['rate'] * 100:g} %"
    out = [
        f"Phoenix sync and push — {f['n_runs']:,} runs (root + 3 child spans each); {f['machine']}",
        f"server start {f['start_s']:.1f} s; seeding"
        + (
            f" (cached: data copied in {f['seed']['copy_s']:.1f} s; when seeded)"
            if f["seed"]["cached"]
            else ""
        )
        + f": posted in {f['seed']['post_s']:.1f} s, all {f['n_runs']:,} roots queryable after "
        f"{f['seed']['queryable_s']:.1f} s ({f['seed']['full']} waits of 1 s on a full insert "
        "queue)",
        "",
        table(
            ["sync", "wall s", "listed", "fetched", "steps", "requests", "KiB wire", "KiB body"],
            [
                [
                    f"sample {pct}",
                    s["wall_s"],
                    s["listed"],
                    s["hydrated"],
                    s["steps"],
                    s["total_requests"],
                    _kb(s["total_wire"]),
                    _kb(s["total_body"]),
                ],
                [
                    "every run (100 %)",
                    a["wall_s"],
                    a["listed"],
                    a["hydrated"],
                    a["steps"],
                    a["total_requests"],
                    _kb(a["total_wire"]),
                    _kb(a["total_body"]),
                ],
            ],
        ),
        "",
        table(
            ["by kind", f"req {pct}", "req 100 %", f"KiB {pct}", "KiB 100 %", "bytes ratio"],
            rows,
        ),
        "",
        f"fetched runs ratio {ratio(s['hydrated'], a['hydrated']):.4f}; "
        f"wall ratio {ratio(s['wall_s'], a['wall_s']):.3f}",
        "",
        table(
            ["push", "grades", "runs", "wall s", "grades/s", "requests", "push() calls", "failed"],
            [
                [
                    f"{p['batch']} grade(s) a request"
                    + (", as the desk writes them (+1 delete)" if p.get("deletes") else ""),
                    p["grades"],
                    p["runs"],
                    p["wall_s"],
                    ratio(p["grades"], p["wall_s"]),
                    p["total_requests"],
                    p["push_calls"],
                    p["failed"],
                ]
                for p in pushes
            ],
        ),
        *(
            f"batch {p['batch']}: requests by kind: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(p["requests"].items()))
            + f"; read back {p['read_back']:,} scores ({p['read_back_distinct']:,} distinct "
            f"span/name/reviewer) in {p['read_s']:.1f} s; outbox rows still waiting: "
            f"{p['waiting']}"
            for p in pushes
        ),
    ]
    if c := f.get("client"):
        out += [
            "",
            f"client overhead per request (in-process transport, best of 5 x {c['n']:,}): "
            f"httpx {c['httpx_us']:.1f} µs, JsonApi {c['jsonapi_us']:.1f} µs, "
            f"ratio {ratio(c['jsonapi_us'], c['httpx_us']):.2f} "
            f"(+{c['jsonapi_us'] - c['httpx_us']:.1f} µs a request)",
        ]
    return "\n".join(out)


def test_bench_phoenix() -> None:
    """``uv run pytest tests/bench/bench_phoenix.py -s``: prints the figures, checks only that
    what was pushed and synced is all there (never time)."""
    import pytest

    from tests import servers

    try:
        servers.phoenix_python()
    except servers.ServerMissing as exc:
        pytest.skip(str(exc))
    n = int(os.environ.get("AGENTDECK_BENCH_PHOENIX_RUNS", "10000"))
    figures = run(n_runs=n, grade_runs=max(1, n // 4))
    print()
    print(report(figures))
    assert figures["all"]["hydrated"] == figures["all"]["listed"] == n
    assert all(p["read_back"] == p["grades"] for p in figures["push"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.02)
    parser.add_argument("--grade-runs", type=int, default=2_500)
    parser.add_argument("--fresh", action="store_true", help="seed again, ignoring the cache")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    figures = run(n_runs=args.runs, rate=args.rate, grade_runs=args.grade_runs, fresh=args.fresh)
    print(report(figures))
    if args.json:
        print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Sync from and push to a real MLflow tracking server: wall time, requests made, bytes received.

An MLflow of its own (tests/servers.py: 3.18.0, SQLite, one worker) is seeded with ``--runs``
traces (a root AGENT span and LLM, RETRIEVER and TOOL child spans each, with MLflow's span
attributes and the workflow as a trace tag) through MLflow's OTLP endpoint (``POST
/v1/traces``, OTLP/JSON, :data:`SEED_BATCH` traces a request): MLflow's own client writes about
eight traces a second here, OTLP some two hundred. Then:

- **sync** into a fresh database at a ``--rate`` sample (2 %), and at 100 % (every run fetched),
  counting requests and bytes in a transport wrapper handed to the connector, by endpoint:
  listing (``traces/search``, the same for any rate), fetching the sampled traces
  (``traces/batchGet``), reading grades back (``traces/batchGetInfos``). Fetch bytes should
  track the sample rate; listing is the fixed floor.
- **push** ``--grade-runs`` x 4 criteria grades through the outbox (``store.outbox.push`` until
  nothing is due), one assessment a request; then the same grades edited and pushed again
  (each an update in place: the create answers "exists", then a ``PATCH``); then read back.

Figures only: nothing here passes or fails on time.

    uv run python -m tests.bench.bench_mlflow [--runs 10000] [--rate 0.02] [--grade-runs 2500]
    uv run pytest tests/bench/bench_mlflow.py -s          # AGENTDECK_BENCH_MLFLOW_RUNS=1000
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.bench.bench_phoenix import Counting as _Counting
from tests.bench.figures import ratio, table

EXPERIMENT = "bench-agents"
WORKFLOWS = ("billing-support", "crm-update", "refund-approvals", "kb-answers")
CRITERIA = (("task_success", "pass"), ("intervention", "no"), ("tone", 5), ("policy", "safe"))
#: Traces an OTLP seeding request carries (four spans each).
SEED_BATCH = 500


def _hex(seed: str, digits: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:digits]


def spans(n: int, t0_ns: int) -> list[dict[str, Any]]:
    """Trace ``n`` as OTLP/JSON spans with MLflow's attributes: an agent root, an LLM call, a
    retrieval and a tool call; it starts ``n`` tenths of a second after ``t0_ns``."""
    tid, root = _hex(f"{EXPERIMENT}/{n}", 32), _hex(f"{EXPERIMENT}/{n}/root", 16)
    start = t0_ns + n * 100_000_000

    def span(part: str, kind: str, offset_ms: int, attrs: dict[str, Any]) -> dict[str, Any]:
        values = {"mlflow.spanType": json.dumps(kind), **attrs}
        return {
            "traceId": tid,
            "spanId": root if part == "root" else _hex(f"{EXPERIMENT}/{n}/{part}", 16),
            "parentSpanId": "" if part == "root" else root,
            "name": part,
            "startTimeUnixNano": str(start + offset_ms * 1_000_000),
            "endTimeUnixNano": str(start + (offset_ms + 50) * 1_000_000),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in values.items()],
            "status": {"code": 1},
        }

    return [
        span(
            "root",
            "AGENT",
            0,
            {
                "mlflow.traceTag.workflow": WORKFLOWS[n % len(WORKFLOWS)],
                "mlflow.spanInputs": json.dumps(
                    {"question": f"customer question {n}: where is my refund for ORD-{n}?"}
                ),
                "mlflow.spanOutputs": json.dumps({"answer": f"answer {n}: refunded today."}),
            },
        ),
        span(
            "llm",
            "LLM",
            1,
            {
                "mlflow.spanInputs": json.dumps(
                    {"messages": [{"role": "user", "content": "plan the refund lookup"}]}
                ),
                "mlflow.spanOutputs": json.dumps("call payments_api.lookup, then answer"),
                "mlflow.chat.tokenUsage": json.dumps(
                    {"input_tokens": 400 + n % 97, "output_tokens": 60, "total_tokens": 460}
                ),
            },
        ),
        span(
            "retrieve",
            "RETRIEVER",
            2,
            {
                "mlflow.spanInputs": json.dumps("refund policy"),
                "mlflow.spanOutputs": json.dumps("Refunds under $50 are automatic."),
            },
        ),
        span(
            "tool",
            "TOOL",
            3,
            {
                "mlflow.spanInputs": json.dumps({"order": f"ORD-{n}"}),
                "mlflow.spanOutputs": json.dumps({"status": "refunded", "amount": 20 + n % 30}),
            },
        ),
    ]


class Counting(_Counting):
    """Real HTTP, counting requests and bytes received by MLflow endpoint."""

    @staticmethod
    def kind(request: httpx.Request) -> str:
        path = request.url.path
        if path.endswith("/assessments"):
            return "assessments: create"
        if "/assessments/" in path:
            return f"assessments: {request.method.lower()}"
        return path.rsplit("/mlflow/", 1)[-1]


def seed(url: str, n_runs: int) -> dict[str, Any]:
    """Create the experiment and post ``n_runs`` traces through OTLP; every trace is listed
    once its request is answered (MLflow writes them before answering)."""
    t = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as client:
        made = client.post("/api/2.0/mlflow/experiments/create", json={"name": EXPERIMENT})
        made.raise_for_status()
        experiment = made.json()["experiment_id"]
        # Long enough ago that every trace is before the first sync's window closes.
        t0 = int((datetime.now(UTC).timestamp() - n_runs / 10 - 3600) * 1e9)
        for first in range(0, n_runs, SEED_BATCH):
            batch = [s for n in range(first, min(n_runs, first + SEED_BATCH)) for s in spans(n, t0)]
            reply = client.post(
                "/v1/traces",
                json={"resourceSpans": [{"scopeSpans": [{"spans": batch}]}]},
                headers={"x-mlflow-experiment-id": experiment},
            )
            if reply.status_code != 200:
                raise RuntimeError(f"MLflow refused seed batch {first}: {reply.text[:200]}")
    return {"seed_s": time.perf_counter() - t}


def _plan(rate: float) -> Any:
    from review.sampling import ReviewPlan
    from store.workspace import SamplingSection

    return ReviewPlan(
        sampling=SamplingSection(salt="bench-mlflow", default_rate=rate),
        roster=("ana",),
        overlap=0.0,
    )


def _connector(url: str, transport: Counting) -> Any:
    from store.connectors.mlflow import MlflowConnector

    return MlflowConnector("mlflow", url, experiment=EXPERIMENT, timeout=120, transport=transport)


def sync_once(url: str, db: Path, rate: float) -> dict[str, Any]:
    """A first sync into a fresh database at ``rate``; its figures."""
    from review.pulled import pull
    from store.db import connect

    conn = connect(db)
    counting = Counting()
    connector = _connector(url, counting)
    t = time.perf_counter()
    report = pull(conn, connector, _plan(rate))
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


def push_grades(url: str, db: Path, grade_runs: int, comment: str) -> dict[str, Any]:
    """Enqueue ``grade_runs`` x 4 scores by ``ana`` in the synced database with ``comment``,
    push them all, read them back."""
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
                "id": score_id("mlflow", run_id, name, "ana"),
                "trace_id": run_id,
                "name": name,
                "value": value,
                "comment": comment,
                "metadata": {
                    "reviewer": "ana",
                    "rubric_id": "support-quality",
                    "rubric_version": "v-bench",
                    "seconds_spent": 12.5,
                },
            }
            for name, value in CRITERIA
        ]
        enqueue(
            conn,
            store="mlflow",
            run=pk,
            reviewer="ana",
            payload={"trace_id": run_id, "upsert": scores},
            created_at=now_iso(),
        )
    conn.execute("COMMIT")
    counting = Counting()
    connector = _connector(url, counting)
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

    reading = Counting()
    reader = _connector(url, reading)
    t = time.perf_counter()
    back = list(reader.list_scores([r for _, r in pks]))
    read_s = time.perf_counter() - t
    reader.close()
    conn.close()
    return {
        "comment": comment,
        "grades": len(pks) * len(CRITERIA),
        "runs": len(pks),
        "wall_s": wall,
        "push_calls": calls,
        "pushed": pushed,
        "failed": failed,
        "waiting": waiting,
        "read_back": len(back),
        "read_back_current": sum(1 for s in back if s.comment == comment),
        "read_back_distinct": len({(s.trace_id, s.name, s.metadata.reviewer) for s in back}),
        "read_s": read_s,
        "read_requests": reading.figures()["total_requests"],
        **counting.figures(),
    }


def run(
    n_runs: int = 10_000, rate: float = 0.02, grade_runs: int = 2_500, workdir: Path | None = None
) -> dict[str, Any]:
    """Start an MLflow of its own, seed it, sync at ``rate`` and at 100 %, push grades twice."""
    from tests import servers

    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="agentdeck-bench-mlflow.")) if own_tmp else workdir
    assert base is not None
    t = time.perf_counter()
    server = servers.start_mlflow(base / "mlflow")
    started_s = time.perf_counter() - t
    try:
        seeded = seed(server.url, n_runs)
        sampled = sync_once(server.url, base / "sampled.db", rate)
        everything = sync_once(server.url, base / "all.db", 1.0)
        graded = min(grade_runs, n_runs)
        first = push_grades(server.url, base / "all.db", graded, "benchmark")
        again = push_grades(server.url, base / "all.db", graded, "benchmark, edited")
    finally:
        server.stop()
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)
    return {
        "n_runs": n_runs,
        "rate": rate,
        "start_s": started_s,
        "seed": seeded,
        "sampled": sampled,
        "all": everything,
        "push": [first, again],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, MLflow {servers.MLFLOW_VERSION} on SQLite, 1 worker",
    }


def _kb(n: float) -> float:
    return n / 1024


def report(f: dict[str, Any]) -> str:
    s, a, pushes = f["sampled"], f["all"], f["push"]
    kinds = sorted(set(s["requests"]) | set(a["requests"]))
    rows: list[list[object]] = [
        [
            kind,
            s["requests"].get(kind, 0),
            a["requests"].get(kind, 0),
            _kb(s["wire"].get(kind, 0)),
            _kb(a["wire"].get(kind, 0)),
            ratio(s["wire"].get(kind, 0), a["wire"].get(kind, 0)),
        ]
        for kind in kinds
    ]
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
        f"MLflow sync and push — {f['n_runs']:,} traces (root + 3 child spans each); "
        f"{f['machine']}",
        f"server start {f['start_s']:.1f} s; seeded through OTLP in {f['seed']['seed_s']:.1f} s",
        "",
        table(
            ["sync", "wall s", "listed", "fetched", "steps", "requests", "KiB wire", "KiB body"],
            [
                [
                    label,
                    x["wall_s"],
                    x["listed"],
                    x["hydrated"],
                    x["steps"],
                    x["total_requests"],
                    _kb(x["total_wire"]),
                    _kb(x["total_body"]),
                ]
                for label, x in ((f"sample {pct}", s), ("every run (100 %)", a))
            ],
        ),
        "",
        table(
            ["by endpoint", f"req {pct}", "req 100 %", f"KiB {pct}", "KiB 100 %", "bytes ratio"],
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
                    label,
                    p["grades"],
                    p["runs"],
                    p["wall_s"],
                    ratio(p["grades"], p["wall_s"]),
                    p["total_requests"],
                    p["push_calls"],
                    p["failed"],
                ]
                for label, p in zip(
                    ("first push (create)", "pushed again, edited (update)"), pushes, strict=True
                )
            ],
        ),
        *(
            "requests by kind: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(p["requests"].items()))
            + f"; read back {p['read_back']:,} assessments ({p['read_back_distinct']:,} distinct "
            f"run/criterion/reviewer, {p['read_back_current']:,} with this push's comment) in "
            f"{p['read_s']:.1f} s, {p['read_requests']} requests; outbox rows still waiting: "
            f"{p['waiting']}"
            for p in pushes
        ),
    ]
    return "\n".join(out)


def test_bench_mlflow() -> None:
    """``uv run pytest tests/bench/bench_mlflow.py -s``: prints the figures, checks only that
    what was pushed and synced is all there (never time)."""
    import pytest

    from tests import servers

    try:
        servers.mlflow_python()
    except servers.ServerMissing as exc:
        pytest.skip(str(exc))
    n = int(os.environ.get("AGENTDECK_BENCH_MLFLOW_RUNS", "10000"))
    figures = run(n_runs=n, grade_runs=max(1, n // 4))
    print()
    print(report(figures))
    assert figures["all"]["hydrated"] == figures["all"]["listed"] == n
    assert all(
        p["read_back"] == p["read_back_distinct"] == p["read_back_current"] == p["grades"]
        for p in figures["push"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.02)
    parser.add_argument("--grade-runs", type=int, default=2_500)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    figures = run(n_runs=args.runs, rate=args.rate, grade_runs=args.grade_runs)
    print(report(figures))
    if args.json:
        print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()

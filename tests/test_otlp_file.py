"""The otlp-file store: OTLP/JSON lines from a collector's file exporter read as runs.

The files are written here in the exporter's shape (tests/fixtures/otlp/README.md): hex ids,
int64 times as strings, typed attribute values, a run's spans over several lines.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from review.pulled import pull
from review.session import load_setup
from store.connectors import ConnectorError, make_connector
from store.connectors.base import Connector
from store.connectors.otlp_file import OtlpFileConnector, OtlpFileStoreConfig
from store.db import connect
from store.identity import score_id
from store.models import Score, ScoreMetadata, Step, StepError, Tokens
from store.plugins import STORES
from store.workspace import Workspace
from tests.conftest import HOSTILE, INVALID_UTF8

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, in seconds


def _tid(n: int) -> str:
    return hashlib.md5(f"trace-{n}".encode()).hexdigest()


def _sid(n: int, k: int) -> str:
    return hashlib.md5(f"span-{n}-{k}".encode()).hexdigest()[:16]


def _attr(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": _any(value)}


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 is a JSON string in OTLP/JSON
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [_attr(k, v) for k, v in value.items()]}}
    return {"stringValue": value}


def _span(
    n: int,
    k: int,
    name: str,
    attrs: dict[str, Any],
    *,
    start: float,
    end: float,
    parent: int | None = 0,
    error: str | None = None,
    exception: str | None = None,
) -> dict[str, Any]:
    """Span ``k`` of trace ``n``; ``parent`` None makes the root (span 0 is the root's id)."""
    span: dict[str, Any] = {
        "traceId": _tid(n),
        "spanId": _sid(n, k),
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(int((T0 + start) * 1e9)),
        "endTimeUnixNano": str(int((T0 + end) * 1e9)),
        "attributes": [_attr(key, v) for key, v in attrs.items()],
        "status": {"code": 2, "message": error} if error is not None else {"code": 1},
    }
    if parent is not None:
        span["parentSpanId"] = _sid(n, parent)
    if exception:
        span["events"] = [
            {
                "name": "exception",
                "timeUnixNano": span["endTimeUnixNano"],
                "attributes": [
                    _attr("exception.type", exception),
                    _attr("exception.message", "raised"),
                ],
            }
        ]
    return span


def _line(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> bytes:
    request = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _attr(k, v) for k, v in (resource or {"service.name": "agent"}).items()
                    ]
                },
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(request).encode("utf-8") + b"\n"


def _oi_trace(n: int, workflow: str = "billing-support", *, failed: bool = False) -> list[bytes]:
    """An OpenInference run over three lines, the root last: LLM, then a tool, then the root."""
    meta = json.dumps({"workflow": workflow, "customer": "c-1"})
    llm = _span(
        n,
        1,
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "input.value": "what is my balance?",
            "output.value": "call payments_api",
            "llm.token_count.prompt": 120,
            "llm.token_count.completion": 30,
            "llm.cost.total": 0.0021,
            "metadata": meta,
        },
        start=n + 0.1,
        end=n + 0.6,
    )
    tool = _span(
        n,
        2,
        "payments_api",
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "payments_api",
            "input.value": '{"account": "A-1"}',
            "output.value": "timeout" if failed else '{"balance": 12}',
        },
        start=n + 0.7,
        end=n + 1.2,
        error="payments_api timed out" if failed else None,
        exception="TimeoutError" if failed else None,
    )
    root = _span(
        n,
        0,
        "support-agent",
        {
            "openinference.span.kind": "CHAIN",
            "input.value": "what is my balance?",
            "output.value": "Your balance is $12.",
            "metadata": meta,
            "tag.tags": ["vip", "billing"],
        },
        start=n,
        end=n + 1.5,
        parent=None,
        error="tool failed" if failed else None,
    )
    return [_line([llm]), _line([tool]), _line([root])]


def _genai_trace(n: int, *, flat: bool = True) -> list[bytes]:
    """A GenAI-conventions run in one line: agent root, a chat call and a tool call. The
    workflow is a flattened ``metadata.workflow`` attribute, or a resource attribute."""
    root_attrs: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "crm",
    }
    if flat:
        root_attrs["metadata.workflow"] = "crm-update"
    spans = [
        _span(
            n,
            1,
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 40,
                "gen_ai.usage.output_tokens": 8,
            },
            start=n + 0.2,
            end=n + 0.4,
        ),
        _span(
            n,
            2,
            "execute_tool crm_lookup",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "crm_lookup",
                "gen_ai.tool.call.arguments": '{"id": 7}',
                "gen_ai.tool.call.result": '{"name": "Ada"}',
            },
            start=n + 0.5,
            end=n + 0.9,
        ),
        _span(n, 0, "invoke_agent crm", root_attrs, start=n, end=n + 1, parent=None),
    ]
    resource = None if flat else {"service.name": "crm", "metadata.workflow": "crm-update"}
    return [_line(spans, resource)]


def _write(path: Path, *chunks: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        for chunk in chunks:
            fh.write(chunk)
    return path


def _all(conn: OtlpFileConnector, cursor: str | None = None, limit: int = 1000) -> Any:
    """Every page from ``cursor``: (summaries, last cursor, problems, skipped)."""
    runs, problems, skipped = [], [], 0
    while True:
        page = conn.list_runs(cursor, limit)
        runs += page.runs
        problems += page.problems
        skipped += page.skipped
        cursor = page.cursor
        if page.done or not page.runs:
            return runs, cursor, problems, skipped


def _pos(cursor: str) -> str:
    """The cursor without the file fingerprint at its end."""
    return cursor.rsplit(":", 1)[0]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


# -- reading runs ---------------------------------------------------------------------------


def test_openinference_run_from_three_lines_root_last(tmp_path: Path) -> None:
    path = _write(tmp_path / "traces.jsonl", *_oi_trace(3, failed=True))
    conn = OtlpFileConnector("otel", path)
    assert isinstance(conn, Connector)
    runs, _, problems, skipped = _all(conn)
    assert problems == [] and skipped == 0
    [summary] = runs
    assert summary.trace_id == _tid(3)
    assert summary.workflow == "billing-support"  # inside the metadata JSON string
    assert summary.start_time == _at(3)
    assert summary.end_time == _at(4.5)
    assert summary.latency_ms == 1500
    assert summary.status == "error"
    assert summary.tokens == Tokens(input=120, output=30)
    assert summary.cost_usd == pytest.approx(0.0021)

    [run] = conn.fetch_runs([_tid(3)])
    assert run.input == "what is my balance?"
    assert run.output == "Your balance is $12."
    assert run.tags == ["vip", "billing"]
    assert run.steps == [
        Step(
            kind="llm",
            name="ChatCompletion",
            span_id=_sid(3, 1),
            start_time=_at(3.1),
            latency_ms=500,
            arguments="what is my balance?",
            result="call payments_api",
            tokens=Tokens(input=120, output=30),
        ),
        Step(
            kind="tool",
            name="payments_api",
            span_id=_sid(3, 2),
            start_time=_at(3.7),
            latency_ms=500,
            arguments='{"account": "A-1"}',
            result="timeout",
            error=StepError(type="TimeoutError", message="payments_api timed out"),
        ),
    ]
    assert conn.list_incidents() == []


@pytest.mark.parametrize("flat", [True, False], ids=["flattened-attribute", "resource"])
def test_genai_run(tmp_path: Path, flat: bool) -> None:
    path = _write(tmp_path / "traces.jsonl", *_genai_trace(5, flat=flat))
    conn = OtlpFileConnector("otel", path)
    runs, _, problems, _ = _all(conn)
    assert problems == []
    [summary] = runs
    assert (summary.workflow, summary.status) == ("crm-update", "ok")
    assert summary.tokens == Tokens(input=40, output=8)
    assert summary.cost_usd is None
    [run] = conn.fetch_runs([_tid(5).upper()])  # ids are hex: either case names the trace
    assert [(s.kind, s.name, s.arguments, s.result, s.tokens) for s in run.steps] == [
        ("llm", "chat gpt-4o", None, None, Tokens(input=40, output=8)),
        ("tool", "crm_lookup", '{"id": 7}', '{"name": "Ada"}', None),
    ]


def test_other_spellings_of_the_encoding_are_read(tmp_path: Path) -> None:
    """int64 as a JSON number, the status by its enum name, proto field names (snake_case),
    ``metadata`` as a key-value list, upper-case hex ids: all say the same run."""
    tid = _tid(9).upper()
    line = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": tid,
                                "span_id": "00000000000000A1",
                                "name": "agent",
                                "start_time_unix_nano": (T0 + 9) * 10**9,
                                "end_time_unix_nano": (T0 + 10) * 10**9,
                                "attributes": [
                                    _attr("metadata", {"workflow": "refund-approvals"}),
                                    {"key": "llm.token_count.prompt", "value": {"intValue": 7}},
                                    _attr("openinference.span.kind", "LLM"),
                                ],
                                "status": {"code": "STATUS_CODE_ERROR", "message": "refused"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    path = _write(tmp_path / "traces.jsonl", json.dumps(line).encode() + b"\n")
    runs, _, problems, _ = _all(OtlpFileConnector("otel", path))
    assert problems == []
    [summary] = runs
    assert (summary.trace_id, summary.workflow, summary.status) == (
        _tid(9),
        "refund-approvals",
        "error",
    )
    assert (summary.start_time, summary.latency_ms) == (_at(9), 1000)
    assert summary.tokens == Tokens(input=7, output=0)


def test_a_root_without_a_workflow_is_said_with_its_line(tmp_path: Path) -> None:
    root = _span(1, 0, "agent", {"input.value": "x"}, start=0, end=1, parent=None)
    path = _write(tmp_path / "traces.jsonl", *_oi_trace(2), _line([root]))
    runs, _, problems, skipped = _all(OtlpFileConnector("otel", path))
    assert [r.trace_id for r in runs] == [_tid(2)]
    assert skipped == 1
    assert problems == [
        f"traces.jsonl:4: trace {_tid(1)}: no `metadata.workflow` attribute names its "
        "workflow; not listed"
    ]


def test_a_trace_waits_for_its_root_and_an_appended_line_completes_it(tmp_path: Path) -> None:
    first, second, root = _oi_trace(7)
    path = _write(tmp_path / "traces.jsonl", first, *_oi_trace(8), second)
    conn = OtlpFileConnector("otel", path)
    runs, cursor, problems, _ = _all(conn)
    assert [r.trace_id for r in runs] == [_tid(8)]
    assert problems == []
    # Trace 7 waits from line 1: the cursor keeps that floor.
    assert _pos(cursor) == f"otlp1:{path.stat().st_size}:5:0:0"

    _write(path, root)
    # A fresh connector (a later `agentdeck sync`) re-reads from the floor to learn the spans
    # before the cursor: the summary counts the LLM span of line 1.
    later = OtlpFileConnector("otel", path)
    runs, cursor, problems, _ = _all(later, cursor)
    assert [(r.trace_id, r.tokens) for r in runs] == [(_tid(7), Tokens(input=120, output=30))]
    assert problems == []
    # Both runs were listed recently: the floor stays at their first line, for late steps.
    assert _pos(cursor) == f"otlp1:{path.stat().st_size}:6:0:0"
    assert _all(later, cursor)[0] == []
    # Hydrating reads every line of the trace, with or without a listing first.
    for conn in (later, OtlpFileConnector("otel", path)):
        [run] = conn.fetch_runs([_tid(7)])
        assert [s.name for s in run.steps] == ["ChatCompletion", "payments_api"]
    assert later.fetch_runs([_tid(99), "not-hex"]) == []


def test_paging_lists_every_run_once(tmp_path: Path) -> None:
    lines = [chunk for n in range(10) for chunk in _oi_trace(n)]
    # Interleave: every child line of trace n+1 comes before the root of trace n.
    order = []
    for n in range(10):
        order += [lines[3 * n], lines[3 * n + 1]]
        if n:
            order.append(lines[3 * (n - 1) + 2])
    order.append(lines[-1])
    path = _write(tmp_path / "traces.jsonl", *order)
    conn = OtlpFileConnector("otel", path)
    runs, _, _, _ = _all(conn, limit=3)
    assert sorted(r.trace_id for r in runs) == sorted(_tid(n) for n in range(10))
    assert len(runs) == 10
    assert all(r.tokens == Tokens(input=120, output=30) for r in runs)


def test_corrupt_lines_are_said_and_a_torn_last_line_waits(tmp_path: Path) -> None:
    a, b = _oi_trace(1), _oi_trace(2)
    torn = b[2][:50]
    path = _write(
        tmp_path / "traces.jsonl",
        *a,
        b"this is not json\n",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "1"}]}]}]}\n',
        b[0],
        b[1],
        torn,
    )
    conn = OtlpFileConnector("otel", path)
    runs, cursor, problems, skipped = _all(conn)
    assert [r.trace_id for r in runs] == [_tid(1)]
    assert skipped == 2
    assert problems[0] == "traces.jsonl:4: not valid JSON (a truncated or corrupt line)"
    assert problems[1].startswith("traces.jsonl:5: resourceSpans.0.scopeSpans.0.spans.0.traceId")
    assert problems[2] == (
        "traces.jsonl:8: the last line is not complete JSON and has no newline "
        "(still being written, or cut off); read once complete"
    )
    # The writer finishes the line: the next sync reads it, and trace 2 is complete.
    _write(path, b[2][50:])
    runs, _, problems, skipped = _all(OtlpFileConnector("otel", path), cursor)
    assert [r.trace_id for r in runs] == [_tid(2)]
    assert (problems, skipped) == ([], 0)


def test_hostile_text_is_data_and_a_huge_value_is_cut(tmp_path: Path) -> None:
    attrs = {
        "openinference.span.kind": "TOOL",
        "tool.name": HOSTILE,
        "input.value": "x" * 2000,
        "output.value": HOSTILE,
    }
    root = _span(
        1,
        0,
        HOSTILE,
        {"metadata": json.dumps({"workflow": HOSTILE}), "input.value": HOSTILE},
        start=0,
        end=1,
        parent=None,
    )
    data = _line([_span(1, 1, "t", attrs, start=0, end=1), root])
    data = data.replace(b"@@BAD@@", INVALID_UTF8)
    path = _write(tmp_path / "traces.jsonl", data)
    conn = OtlpFileConnector("otel", path, max_value_chars=1000)
    runs, _, problems, _ = _all(conn)
    shown = HOSTILE.replace("@@BAD@@", "\ufffd\ufffd\ufffd")
    assert problems == []
    assert runs[0].workflow == shown
    [run] = conn.fetch_runs([_tid(1)])
    assert run.input == shown
    [step] = run.steps
    assert step.name == shown and step.result == shown
    assert step.arguments == "x" * 1000 + "… [cut by agentdeck: 1000 more characters]"


def test_a_trace_waiting_too_long_stops_holding_the_floor(tmp_path: Path) -> None:
    orphan = _oi_trace(1)[0]  # an LLM span whose root never comes
    path = _write(tmp_path / "traces.jsonl", orphan, *_oi_trace(2))
    window = len(orphan) + 10
    conn = OtlpFileConnector("otel", path, pending_window=window)
    runs, cursor, problems, _ = _all(conn)
    assert [r.trace_id for r in runs] == [_tid(2)]
    # The orphan stops waiting; the floor moves to the first line of the run listed since.
    assert _pos(cursor) == f"otlp1:{path.stat().st_size}:4:{len(orphan)}:1"
    assert problems == [
        f"traces.jsonl:1: trace {_tid(1)}: no root span within {window} bytes of this line "
        "(its root was listed long before, or never written); these spans are read only when "
        "the run is fetched"
    ]
    # Once a listed run's root is further back than the recent window, the floor passes it.
    conn = OtlpFileConnector("otel", path, pending_window=window, recent_window=0)
    _, cursor, _, _ = _all(conn)
    assert _pos(cursor) == f"otlp1:{path.stat().st_size}:4:{path.stat().st_size}:4"


def test_a_late_step_lists_the_run_again_as_replaced(tmp_path: Path) -> None:
    path = _write(tmp_path / "traces.jsonl", *_oi_trace(1), *_oi_trace(2))
    _, cursor, _, _ = _all(OtlpFileConnector("otel", path))
    late = _span(
        1,
        3,
        "ChatCompletion",
        {"openinference.span.kind": "LLM", "llm.token_count.prompt": 5},
        start=1 + 1.3,
        end=1 + 1.4,
    )
    _write(path, _line([late]))
    page = OtlpFileConnector("otel", path).list_runs(cursor, 100)
    assert [(r.trace_id, r.tokens) for r in page.runs] == [(_tid(1), Tokens(input=125, output=30))]
    assert page.replaced == [_tid(1)]
    assert page.problems == []
    [run] = OtlpFileConnector("otel", path).fetch_runs([_tid(1)])
    assert [s.name for s in run.steps] == ["ChatCompletion", "payments_api", "ChatCompletion"]


def test_a_rotated_or_rewritten_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = _write(tmp_path / "traces.jsonl", *_oi_trace(1), *_oi_trace(2))
    conn = OtlpFileConnector("otel", path)
    _, cursor, _, _ = _all(conn)
    # The collector rotates: a new, shorter file under the same name.
    path.write_bytes(b"".join(_oi_trace(3)))
    runs, cursor, problems, _ = _all(conn, cursor)
    assert [r.trace_id for r in runs] == [_tid(3)]
    assert problems == [
        "traces.jsonl: the file is not the one the last sync read up to byte "
        f"{len(b''.join(_oi_trace(1) + _oi_trace(2)))} (rotated or rewritten?); read again "
        "from the start"
    ]
    # Rotated again, and the new file has already grown past the cursor by the next sync.
    path.write_bytes(b"".join(c for n in range(4, 8) for c in _oi_trace(n)))
    runs, _, problems, _ = _all(OtlpFileConnector("otel", path), cursor)
    assert [r.trace_id for r in runs] == [_tid(n) for n in range(4, 8)]
    assert len(problems) == 1 and "rotated or rewritten?" in problems[0]
    # The first connector's index of trace lines was for the old file: it is rebuilt.
    wanted = [_tid(1), _tid(3), *(_tid(n) for n in range(4, 8))]
    assert [r.trace_id for r in conn.fetch_runs(wanted)] == [_tid(n) for n in range(4, 8)]


def test_a_bad_cursor_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "traces.jsonl", *_oi_trace(1))
    with pytest.raises(ConnectorError, match="traces.jsonl: bad saved cursor"):
        OtlpFileConnector("otel", path).list_runs("120:3", 10)


# -- sync into the real database ------------------------------------------------------------


def _otel_store(ws: Workspace) -> Connector:
    cfg = OtlpFileStoreConfig(name="otel", kind="otlp-file", path="exports/traces.jsonl")
    return make_connector(ws, cfg)


def test_incremental_sync_through_pull_has_no_duplicate_runs(demo_workspace: Workspace) -> None:
    assert "otlp-file" in STORES.kinds()
    traces = demo_workspace.root / "exports" / "traces.jsonl"
    # 20 runs, every fourth failed (failed runs are always in the demo plan's sample).
    batches = [_oi_trace(n, failed=n % 4 == 0) for n in range(20)]
    _write(traces, *(c for b in batches[:12] for c in b), batches[12][0], batches[12][1])
    setup = load_setup(demo_workspace)
    conn = connect(demo_workspace.db_path)
    connector = _otel_store(demo_workspace)
    assert isinstance(connector, OtlpFileConnector) and connector.path == traces.resolve()

    report = pull(conn, connector, setup.plan, page_size=5)
    assert report.listed == 12 and report.problems == []
    count = "SELECT count(*) FROM runs WHERE source = 'otel'"
    assert conn.execute(count).fetchone()[0] == 12

    # Trace 12's root arrives with the rest; the next sync is a new connector, as after restart.
    _write(traces, batches[12][2], *(c for b in batches[13:] for c in b))
    report = pull(conn, _otel_store(demo_workspace), setup.plan, page_size=5)
    assert report.listed == 8 and report.problems == []
    ids = [r for (r,) in conn.execute("SELECT run_id FROM runs WHERE source = 'otel'")]
    assert sorted(ids) == sorted(_tid(n) for n in range(20))
    failed = {_tid(n) for n in range(0, 20, 4)}
    hydrated = {
        r for (r,) in conn.execute("SELECT run_id FROM runs WHERE source = 'otel' AND hydrated")
    }
    assert failed <= hydrated
    steps = [
        tuple(row)
        for row in conn.execute(
            "SELECT s.kind, s.name, s.error_type, s.tokens_in FROM steps s "
            "JOIN runs r ON r.id = s.run WHERE r.run_id = ? ORDER BY s.idx",
            (_tid(12),),
        )
    ]
    assert steps == [
        ("llm", "ChatCompletion", None, 120),
        ("tool", "payments_api", "TimeoutError", None),
    ]

    again = pull(conn, _otel_store(demo_workspace), setup.plan, page_size=5)
    assert (again.listed, again.sampled) == (0, 0)
    assert conn.execute(count).fetchone()[0] == 20

    # A step of run 12 written after its root: the run is listed again and hydrated again.
    late = _span(12, 3, "kb_search", {"openinference.span.kind": "TOOL"}, start=13.6, end=13.7)
    _write(traces, _line([late]))
    again = pull(conn, _otel_store(demo_workspace), setup.plan, page_size=5)
    assert (again.listed, again.hydrated, again.problems) == (1, 1, [])
    assert conn.execute(count).fetchone()[0] == 20
    names = [
        name
        for (name,) in conn.execute(
            "SELECT s.name FROM steps s JOIN runs r ON r.id = s.run WHERE r.run_id = ? "
            "ORDER BY s.idx",
            (_tid(12),),
        )
    ]
    assert names == ["ChatCompletion", "payments_api", "kb_search"]


# -- scores ---------------------------------------------------------------------------------


def _score(trace: str, name: str, value: Any, span: str | None = None) -> Score:
    return Score(
        id=score_id("otel", trace, name, "ana"),
        trace_id=trace,
        span_id=span,
        name=name,
        value=value,
        comment="wrong account",
        created_at=datetime(2026, 2, 1, tzinfo=UTC),
        metadata=ScoreMetadata(reviewer="ana", rubric_id="support-quality", rubric_version="v1"),
    )


def test_grades_are_pushed_and_read_back_exactly_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "exports" / "traces.jsonl", *_oi_trace(1))
    conn = OtlpFileConnector("otel", path)
    scores = [
        _score(_tid(1), "task_success", "fail"),
        _score(_tid(1), "first_wrong_step", "tool", span=_sid(1, 2)),
    ]
    conn.push_scores(scores)
    conn.push_scores(scores)  # a retry after a crash
    assert conn.scores_path == tmp_path / "exports" / "traces.scores.jsonl"
    assert len(conn.scores_path.read_text(encoding="utf-8").splitlines()) == 2
    assert sorted(conn.list_scores(), key=lambda s: s.name) == [scores[1], scores[0]]

    edited = _score(_tid(1), "task_success", "pass")
    OtlpFileConnector("otel", path).push_scores([edited])
    back = conn.list_scores()
    assert sorted((s.name, s.value) for s in back) == [
        ("first_wrong_step", "tool"),
        ("task_success", "pass"),
    ]
    conn.delete_scores([scores[1].id])
    conn.delete_scores([scores[1].id])
    assert [s.name for s in conn.list_scores()] == ["task_success"]
    assert len(conn.scores_path.read_text(encoding="utf-8").splitlines()) == 4
    # The traces file is never written.
    assert path.read_bytes() == b"".join(_oi_trace(1))


def test_check_names_every_corrupt_or_torn_line_and_the_scores_files(tmp_path: Path) -> None:
    """What `agentdeck validate` reads: the whole file and its scores file, ``path:line: what``."""
    a, b = _oi_trace(1), _oi_trace(2)
    path = _write(tmp_path / "traces.jsonl", *a, b"this is not json\n", b[0], b[1], b[2][:50])
    (tmp_path / "traces.scores.jsonl").write_text('{"id": "s-1", "value": \n')
    found = OtlpFileConnector("otel", path).check()
    assert found.problems == [
        f"{tmp_path}/traces.jsonl:4: not valid JSON (a truncated or corrupt line)",
        f"{tmp_path}/traces.jsonl:7: the last line is not complete JSON and has no newline "
        "(still being written, or cut off); read once complete",
        f"{tmp_path}/traces.scores.jsonl:1: not valid JSON (a truncated or corrupt line)",
    ]
    # Completed, only the line that is not JSON is left.
    _write(path, b[2][50:])
    (tmp_path / "traces.scores.jsonl").unlink()
    assert OtlpFileConnector("otel", path).check().problems == [
        f"{tmp_path}/traces.jsonl:4: not valid JSON (a truncated or corrupt line)"
    ]

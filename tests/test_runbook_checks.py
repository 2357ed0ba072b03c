"""Runbook checks: the named queries on the synced demo database, their windows, HTTP checks
against a real server on 127.0.0.1, and manual ticks.

The expected values are computed here, from the demo's runs.jsonl in plain Python (and, for what
needs steps, from the runs the sync hydrated), never copied from the code under test.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from review.session import load_setup, sync
from runbooks.checks import (
    QUERIES,
    QUERY_ARGS,
    CheckContext,
    manual_result,
    run_http_check,
    run_sql_check,
)
from runbooks.model import HttpCheck, SqlCheck
from store.db import connect
from store.timestamps import canonical
from store.workspace import Workspace, load_workspace
from tests.conftest import HOSTILE, copy_sample_data

#: After every demo run (the last starts 2026-11-22 23:58): the checks never read the clock.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = load_workspace(copy_sample_data(tmp_path_factory.mktemp("checks") / "demo"))
    conn = connect(ws.db_path)
    sync(conn, load_setup(ws))
    conn.close()
    return ws


@pytest.fixture
def conn(demo: Workspace) -> Iterator[sqlite3.Connection]:
    c = connect(demo.db_path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def records(demo: Workspace) -> list[dict[str, Any]]:
    """Every readable run record of the demo store (the file has two broken lines)."""
    out = []
    for line in (demo.root / "store" / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@pytest.fixture(scope="module")
def hydrated(demo: Workspace) -> set[str]:
    c = connect(demo.db_path)
    try:
        return {r[0] for r in c.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    finally:
        c.close()


def incident(conn: sqlite3.Connection, incident_id: str) -> CheckContext:
    workflow, starts, ends = conn.execute(
        "SELECT workflow, starts_at, ends_at FROM incidents WHERE incident_id = ?", (incident_id,)
    ).fetchone()
    return CheckContext(
        workflow, ts(starts), ts(ends) if ends else None, now=NOW, monthly_budget_usd=None
    )


def in_window(
    records: list[dict[str, Any]], workflow: str, lo: datetime, hi: datetime
) -> list[dict[str, Any]]:
    return [r for r in records if r["workflow"] == workflow and lo <= ts(r["start_time"]) < hi]


def is_tool(step: dict[str, Any], tool: str) -> bool:
    return step["name"] == tool or step["name"].startswith(tool + ".")


def sql(query: str, **args: Any) -> SqlCheck:
    return SqlCheck(kind="sql", query=query, args=args)


# --- the demo incidents -----------------------------------------------------------------------


def test_payment_outage_shows_payments_api_failing(
    conn: sqlite3.Connection, records: list[dict[str, Any]]
) -> None:
    ctx = incident(conn, "INC-2026-1112-01")
    assert ctx.incident_start == ts("2026-11-12T13:43:00Z")
    runs = in_window(
        records, "billing-support", ctx.incident_start, ctx.incident_start + timedelta(hours=1)
    )
    failed = [
        r
        for r in runs
        if r["status"] == "error"
        and any(is_tool(s, "payments_api") and s.get("error") for s in r["steps"])
    ]
    check = SqlCheck(
        kind="sql",
        query="tool_error_rate",
        args={"tool": "payments_api", "minutes": 60},
        warn_above=0.2,
    )
    result = run_sql_check(conn, check, ctx)
    assert result.value == pytest.approx(len(failed) / len(runs))
    assert result.value > 0.5  # an outage, not noise
    assert result.outcome == "warn"
    assert result.rows == [("runs", str(len(runs))), ("failed on the tool", str(len(failed)))]
    assert "payments_api" in result.summary and "11-12 13:43–14:43 UTC" in result.summary


def test_payment_outage_recheck_at_the_end_counts_timeouts(
    conn: sqlite3.Connection, records: list[dict[str, Any]], hydrated: set[str]
) -> None:
    ctx = incident(conn, "INC-2026-1112-01")
    assert ctx.incident_end is not None
    lo, hi = ctx.incident_end - timedelta(minutes=30), ctx.incident_end
    calls = [
        s
        for r in in_window(records, "billing-support", lo, hi)
        if r["trace_id"] in hydrated
        for s in r["steps"]
        if s["kind"] == "tool" and is_tool(s, "payments_api")
    ]
    timeouts = [s for s in calls if (s.get("error") or {}).get("type") == "timeout"]
    check = sql("tool_timeouts", tool="payments_api", minutes=30, anchor="end")
    result = run_sql_check(conn, check, ctx)
    assert calls, "the demo has payments_api calls in the last half hour of the outage"
    assert result.value == pytest.approx(len(timeouts) / len(calls))
    assert result.rows == [("tool calls", str(len(calls))), ("timeout", str(len(timeouts)))]


def test_crm_cost_spike_is_about_twice_the_baseline(
    conn: sqlite3.Connection, records: list[dict[str, Any]]
) -> None:
    ctx = incident(conn, "INC-2026-1119-01")
    assert ctx.incident_end is None  # still open
    lo = ctx.incident_start
    assert lo is not None
    now = [r["cost_usd"] for r in in_window(records, "crm-update", lo, lo + timedelta(days=1))]
    before = [r["cost_usd"] for r in in_window(records, "crm-update", lo - timedelta(days=14), lo)]
    expected = (sum(now) / len(now)) / (sum(before) / len(before))
    check = SqlCheck(
        kind="sql",
        query="cost_per_run",
        args={"minutes": 1440, "baseline_days": 14},
        warn_above=1.5,
    )
    result = run_sql_check(conn, check, ctx)
    assert result.value == pytest.approx(expected)
    assert 1.7 < expected < 2.3
    assert result.outcome == "warn"
    assert f"{expected:.1f}×" in result.summary


def test_crm_cost_spike_projects_the_month_against_the_budget(
    conn: sqlite3.Connection, records: list[dict[str, Any]]
) -> None:
    base = incident(conn, "INC-2026-1119-01")
    ctx = CheckContext(base.workflow, base.incident_start, None, now=NOW, monthly_budget_usd=3)
    lo = base.incident_start
    assert lo is not None
    now = [r["cost_usd"] for r in in_window(records, "crm-update", lo, lo + timedelta(days=1))]
    before = in_window(records, "crm-update", lo - timedelta(days=14), lo)
    month = sum(now) / len(now) * len(before) / 14 * 30
    result = run_sql_check(conn, sql("cost_per_run", minutes=1440, baseline_days=14), ctx)
    assert ("month at this rate", f"${month:.2f} of $3 budget") in result.rows


def test_crm_cost_spike_runs_repeat_get_account_notes(
    conn: sqlite3.Connection, records: list[dict[str, Any]], hydrated: set[str]
) -> None:
    ctx = incident(conn, "INC-2026-1119-01")
    lo = ctx.incident_start
    assert lo is not None
    sampled = [
        r
        for r in in_window(records, "crm-update", lo, lo + timedelta(days=1))
        if r["trace_id"] in hydrated and r["steps"]
    ]
    looping: Counter[str] = Counter()
    for r in sampled:
        calls = Counter(
            (s["name"], json.dumps(s.get("arguments"), sort_keys=True))
            for s in r["steps"]
            if s["kind"] == "tool"
        )
        tools = {name for (name, _), n in calls.items() if n >= 3}
        looping.update(tools)
    looping_runs = sum(
        1
        for r in sampled
        if max(
            Counter(
                (s["name"], json.dumps(s.get("arguments"), sort_keys=True))
                for s in r["steps"]
                if s["kind"] == "tool"
            ).values(),
            default=0,
        )
        >= 3
    )
    check = SqlCheck(
        kind="sql",
        query="repeated_tool_calls",
        args={"minutes": 1440, "min_repeats": 3},
        warn_above=0.1,
    )
    result = run_sql_check(conn, check, ctx)
    assert result.value == pytest.approx(looping_runs / len(sampled))
    assert result.outcome == "warn"
    top, _ = looping.most_common(1)[0]
    assert "get_account_notes" in top
    assert result.rows[0] == (top, f"{looping[top]} runs")


def test_crm_cost_spike_has_a_new_agent_version(
    conn: sqlite3.Connection, records: list[dict[str, Any]], hydrated: set[str]
) -> None:
    ctx = incident(conn, "INC-2026-1119-01")
    lo = ctx.incident_start
    assert lo is not None

    def versions(a: datetime, b: datetime) -> Counter[str]:
        return Counter(
            t[len("agent:") :]
            for r in in_window(records, "crm-update", a, b)
            if r["trace_id"] in hydrated
            for t in r.get("tags") or []
            if t.startswith("agent:")
        )

    window = versions(lo, lo + timedelta(days=2))
    new = sorted(set(window) - set(versions(lo - timedelta(days=7), lo)))
    assert new == ["crm-update@2.8.0"]
    check = SqlCheck(
        kind="sql",
        query="agent_version_change",
        args={"minutes": 2880, "baseline_days": 7},
        warn_above=0,
    )
    result = run_sql_check(conn, check, ctx)
    assert result.value == len(new)
    assert result.outcome == "warn"
    assert result.summary == "new in the window: crm-update@2.8.0"
    assert ("crm-update@2.8.0", f"{window['crm-update@2.8.0']} runs (new)") in result.rows


def test_schema_incident_shows_schema_errors(
    conn: sqlite3.Connection, records: list[dict[str, Any]], hydrated: set[str]
) -> None:
    ctx = incident(conn, "INC-2026-1120-01")
    lo = ctx.incident_start
    assert lo is not None
    calls = [
        s
        for r in in_window(records, "crm-update", lo, lo + timedelta(days=1))
        if r["trace_id"] in hydrated
        for s in r["steps"]
        if s["kind"] == "tool" and is_tool(s, "crm.update_record")
    ]
    bad = [
        s
        for s in calls
        if (s.get("error") or {}).get("type") in ("schema_error", "validation_error", "http_422")
    ]
    check = SqlCheck(
        kind="sql",
        query="schema_errors",
        args={"tool": "crm.update_record", "minutes": 1440},
        warn_above=0.01,
    )
    result = run_sql_check(conn, check, ctx)
    assert bad, "the demo's schema incident has rejected writes in its first day"
    assert result.value == pytest.approx(len(bad) / len(calls))
    assert result.outcome == "warn"


def test_a_tool_name_is_matched_exactly_not_as_a_pattern(conn: sqlite3.Connection) -> None:
    ctx = incident(conn, "INC-2026-1120-01")
    # `_` and `%` are LIKE wildcards: "crm_update_record" must not match "crm.update_record".
    result = run_sql_check(conn, sql("schema_errors", tool="crm_update%", minutes=1440), ctx)
    assert result.value is None and result.outcome == "unknown"


# --- windows ----------------------------------------------------------------------------------

START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_window_starts_at_the_incident() -> None:
    long = CheckContext("w", START, START + timedelta(hours=5), now=NOW)
    assert long.window(60) == (START, START + timedelta(hours=1))
    # An incident shorter than the window: the window is the last hour before it ended.
    short_end = START + timedelta(minutes=20)
    short = CheckContext("w", START, short_end, now=NOW)
    assert short.window(60) == (short_end - timedelta(hours=1), short_end)
    # An open incident that began 10 minutes ago: the last hour before now.
    now = START + timedelta(minutes=10)
    fresh = CheckContext("w", START, None, now=now)
    assert fresh.window(60) == (now - timedelta(hours=1), now)


def test_window_anchored_at_the_end() -> None:
    end = START + timedelta(hours=5)
    ended = CheckContext("w", START, end, now=NOW)
    assert ended.window(30, "end") == (end - timedelta(minutes=30), end)
    open_ = CheckContext("w", START, None, now=NOW)
    assert open_.window(30, "end") == (NOW - timedelta(minutes=30), NOW)


def test_window_without_an_incident_is_the_last_minutes() -> None:
    ctx = CheckContext("w", now=NOW)
    assert ctx.window(45) == (NOW - timedelta(minutes=45), NOW)
    assert ctx.window(45, "end") == (NOW - timedelta(minutes=45), NOW)


def _empty_db(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "db" / "agentdeck.db")


def _run(conn: sqlite3.Connection, n: int, at: datetime, status: str) -> None:
    conn.execute(
        "INSERT INTO runs (source, run_id, workflow, started_at, status) VALUES (?,?,?,?,?)",
        ("s", f"r{n}", "w", canonical(at), status),
    )


def test_a_query_counts_exactly_the_runs_inside_its_window(tmp_path: Path) -> None:
    conn = _empty_db(tmp_path)
    # Runs every 10 minutes from an hour before the incident to 14:50 (2 h 50 into it);
    # errors on the odd ones.
    for n in range(-6, 18):
        _run(conn, n, START + timedelta(minutes=10 * n), "error" if n % 2 else "ok")
    ctx = CheckContext("w", START, START + timedelta(hours=4), now=NOW)
    inside = [n for n in range(-6, 18) if 0 <= n < 6]  # [start, start + 60 min)
    result = run_sql_check(conn, sql("run_error_rate", minutes=60), ctx)
    assert result.rows == [
        ("runs", str(len(inside))),
        ("errors", str(sum(1 for n in inside if n % 2))),
    ]
    # Anchored at the end: the hour before 16:00 has no runs at all.
    none = run_sql_check(conn, sql("run_error_rate", minutes=60, anchor="end"), ctx)
    assert none.outcome == "unknown" and none.value is None
    assert none.summary == "no w runs in 01-10 15:00–16:00 UTC"


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_no_runs_is_unknown(tmp_path: Path, query: str) -> None:
    conn = _empty_db(tmp_path)
    check = SqlCheck(kind="sql", query=query, warn_above=0, warn_below=0)
    result = run_sql_check(conn, check, CheckContext("w", START, None, now=NOW))
    assert result.outcome == "unknown"
    assert result.value is None
    assert set(QUERY_ARGS[query]) >= {"minutes", "anchor"}


def test_an_unknown_query_is_unknown(conn: sqlite3.Connection) -> None:
    result = run_sql_check(conn, sql("drop_tables"), CheckContext("billing-support", now=NOW))
    assert result.outcome == "unknown"
    assert result.summary == "no query named 'drop_tables'"


def test_a_bad_argument_value_is_unknown_not_an_exception(conn: sqlite3.Connection) -> None:
    result = run_sql_check(
        conn, sql("run_error_rate", minutes="an hour"), CheckContext("billing-support", now=NOW)
    )
    assert result.outcome == "unknown"
    assert result.summary.startswith("the query run_error_rate failed")


def test_warn_below_and_above() -> None:
    conn = sqlite3.connect(":memory:")
    from store.db import migrate_db

    migrate_db(conn)
    for n in range(4):
        conn.execute(
            "INSERT INTO runs (source, run_id, workflow, started_at, status) VALUES (?,?,?,?,?)",
            ("s", f"r{n}", "w", canonical(NOW - timedelta(minutes=5 + n)), "error" if n else "ok"),
        )
    ctx = CheckContext("w", now=NOW)
    rate = 3 / 4
    for above, below, outcome in [
        (0.5, None, "warn"),
        (0.75, None, "ok"),  # equal is not above
        (None, 0.8, "warn"),
        (None, 0.75, "ok"),
        (None, None, "ok"),
    ]:
        check = SqlCheck(
            kind="sql",
            query="run_error_rate",
            args={"minutes": 60},
            warn_above=above,
            warn_below=below,
        )
        result = run_sql_check(conn, check, ctx)
        assert (result.value, result.outcome) == (rate, outcome), (above, below)


# --- HTTP checks against a real server ----------------------------------------------------------

STATUS = {
    "/up": (200, "application/json", json.dumps({"status": {"indicator": "none"}})),
    "/down": (200, "application/json", json.dumps({"status": {"indicator": "major"}})),
    "/null": (200, "application/json", json.dumps({"status": {"indicator": None}})),
    "/list": (200, "application/json", json.dumps({"components": [{"status": "operational"}]})),
    "/num": (200, "application/json", json.dumps({"v": 2.0, "up": True})),
    "/empty": (200, "application/json", "{}"),
    "/broken": (503, "application/json", json.dumps({"status": {"indicator": "none"}})),
    "/html": (200, "text/html", "<html><body>All systems operational</body></html>"),
    "/hostile": (200, "application/json", json.dumps({"status": {"indicator": HOSTILE}})),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        code, kind, body = STATUS.get(self.path, (404, "text/plain", "not found"))
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http(url: str, **expect: Any) -> HttpCheck:
    return HttpCheck.model_validate({"kind": "http", "url": url, "expect": expect, "timeout": 0.5})


def clean(text: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cf") for ch in text)


def test_http_equals_match_is_ok(server: str) -> None:
    result = run_http_check(http(server + "/up", json="status.indicator", equals="none"))
    assert result.outcome == "ok"
    assert result.summary == "status.indicator is 'none'"


def test_http_equals_mismatch_is_warn(server: str) -> None:
    result = run_http_check(http(server + "/down", json="status.indicator", equals="none"))
    assert result.outcome == "warn"
    assert result.summary == "status.indicator is 'major', expected 'none'"


def test_http_a_json_null_is_not_the_word_none(server: str) -> None:
    # Statuspage's "all clear" is the string "none"; a null is not all clear.
    result = run_http_check(http(server + "/null", json="status.indicator", equals="none"))
    assert result.outcome == "warn"


def test_http_a_path_into_a_list(server: str) -> None:
    result = run_http_check(
        http(server + "/list", json="components.0.status", equals="operational")
    )
    assert result.outcome == "ok"


def test_http_numbers_and_booleans_compare_by_value(server: str) -> None:
    assert run_http_check(http(server + "/num", json="v", equals=2)).outcome == "ok"
    assert run_http_check(http(server + "/num", json="v", equals="2")).outcome == "ok"
    assert run_http_check(http(server + "/num", json="v", equals=3)).outcome == "warn"
    assert run_http_check(http(server + "/num", json="up", equals="true")).outcome == "ok"
    assert run_http_check(http(server + "/num", json="up", equals=False)).outcome == "warn"


def test_http_missing_json_path_is_unknown(server: str) -> None:
    result = run_http_check(http(server + "/empty", json="status.indicator", equals="none"))
    assert result.outcome == "unknown"
    assert result.summary.endswith("no status.indicator in the reply")


def test_http_non_200_is_warn(server: str) -> None:
    result = run_http_check(http(server + "/broken", json="status.indicator", equals="none"))
    assert result.outcome == "warn"
    assert result.value == 503
    assert "HTTP 503, expected 200" in result.summary


def test_http_html_where_json_was_expected_is_unknown(server: str) -> None:
    result = run_http_check(http(server + "/html", json="status.indicator", equals="none"))
    assert result.outcome == "unknown"


def test_http_contains(server: str) -> None:
    assert run_http_check(http(server + "/html", contains="operational")).outcome == "ok"
    missing = run_http_check(http(server + "/html", contains="degraded"))
    assert missing.outcome == "warn"


def test_http_no_server_is_unknown() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port now.
    result = run_http_check(http(f"http://127.0.0.1:{port}/up", json="a", equals="b"))
    assert result.outcome == "unknown"
    assert "no answer" in result.summary


def test_http_a_server_that_never_answers_is_unknown() -> None:
    # A socket that listens (the kernel completes the handshake) and never reads or replies.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        result = run_http_check(http(f"http://127.0.0.1:{port}/up", json="a", equals="b"))
    assert result.outcome == "unknown"
    assert "no answer (ReadTimeout)" in result.summary


def test_http_a_malformed_url_is_unknown_not_an_exception() -> None:
    for url in ("http://[::1", "http://\u202eevil.example/"):
        result = run_http_check(http(url))
        assert result.outcome == "unknown"
        assert clean(result.summary)


def test_http_untrusted_reply_text_is_cleaned(server: str) -> None:
    result = run_http_check(http(server + "/hostile", json="status.indicator", equals="none"))
    assert result.outcome == "warn"
    assert clean(result.summary), result.summary
    assert "\x1b" not in result.summary and "\u202e" not in result.summary
    assert "\n" not in result.summary
    # The words are kept (as plain text), cut to one short line.
    assert "[bold red]X[/]" in result.summary
    ok = run_http_check(http(server + "/hostile", json="status.indicator"))
    assert ok.outcome == "ok" and clean(ok.summary)


# --- manual -----------------------------------------------------------------------------------


def test_manual_results() -> None:
    assert manual_result(True, "warn").outcome == "warn"
    assert manual_result(False, "warn").outcome == "ok"
    assert manual_result(True, "ok").outcome == "ok"
    assert manual_result(False, "ok").outcome == "warn"
    assert manual_result(True, "warn").summary == "the operator answered yes"
    assert manual_result(False, "ok").to_json() == {
        "outcome": "warn",
        "summary": "the operator answered no",
        "value": None,
        "rows": [],
    }

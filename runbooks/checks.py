"""Runbook checks: named queries over the local database, HTTP GETs, and manual ticks.

Every check answers with a :class:`CheckResult`: an outcome (``ok``, ``warn`` or ``unknown``), the
measured value, and one line for the operator. A check that fails, times out or has nothing to
judge by says ``unknown``, and the operator goes on by hand; a check never raises.

The queries read the local copy, so they work offline. Two-phase sync keeps every run's summary
(status, cost, times) but the steps only of sampled runs, and every run that ended in an error is
sampled; so rates over runs use every run, and what needs steps (which tool failed, repeated
calls, the agent version) is measured over the runs whose steps are here, and says how many.

A query's window is ``minutes`` long. With an incident, it starts when the incident started and
ends ``minutes`` later, or when the incident ended, or now, whichever is first (at least the
last ``minutes`` before that end); with ``anchor: end`` it is the last ``minutes`` before the
incident ended (or now, while it is open), for a recheck. Without an incident, it is the last
``minutes`` before now.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runbooks.model import HttpCheck, Outcome, SqlCheck
from store.timestamps import canonical as format_ts
from store.timestamps import parse_instant as parse_ts


@dataclass(frozen=True)
class CheckResult:
    """What a check found. ``summary`` is one plain-text line; ``rows`` are details to show."""

    outcome: Outcome
    summary: str
    value: float | None = None
    rows: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "summary": self.summary,
            "value": self.value,
            "rows": [list(r) for r in self.rows],
        }


@dataclass(frozen=True)
class CheckContext:
    """What a check runs against: the workflow, the incident window, and the card's budget."""

    workflow: str
    incident_start: datetime | None = None
    incident_end: datetime | None = None
    now: datetime | None = None
    monthly_budget_usd: float | None = None

    def window(self, minutes: float, anchor: str = "start") -> tuple[datetime, datetime]:
        now = self.now or datetime.now(UTC)
        span = timedelta(minutes=minutes)
        if self.incident_start is None:
            return now - span, now
        if anchor == "end":
            end = min(self.incident_end or now, now)
            return end - span, end
        end = min(self.incident_start + span, self.incident_end or now, now)
        start = min(self.incident_start, end - span)
        return start, end


@dataclass(frozen=True)
class Measured:
    value: float | None
    summary: str
    rows: list[tuple[str, str]] = field(default_factory=list)


Query = Callable[[sqlite3.Connection, CheckContext, dict[str, Any]], Measured]


def _range(ctx: CheckContext, args: dict[str, Any]) -> tuple[str, str, str]:
    minutes = float(args.get("minutes", 60))
    start, end = ctx.window(minutes, str(args.get("anchor", "start")))
    same_day = start.date() == end.date()
    label = (
        f"{start:%m-%d %H:%M}–{end:%H:%M} UTC"
        if same_day
        else (f"{start:%m-%d %H:%M}–{end:%m-%d %H:%M} UTC")
    )
    return format_ts(start), format_ts(end), label


def _runs(conn: sqlite3.Connection, ctx: CheckContext, lo: str, hi: str) -> tuple[int, int]:
    total, errors = conn.execute(
        "SELECT count(*), coalesce(sum(status = 'error'), 0) FROM runs "
        "WHERE workflow = ? AND started_at >= ? AND started_at < ?",
        (ctx.workflow, lo, hi),
    ).fetchone()
    return int(total), int(errors)


def _tool_clause(args: dict[str, Any]) -> tuple[str, list[Any]]:
    tool = args.get("tool")
    if not tool:
        return "", []
    return " AND (s.name = ? OR s.name LIKE ? ESCAPE '\\')", [
        str(tool),
        str(tool).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%",
    ]


def tool_error_rate(conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]) -> Measured:
    """Share of the workflow's runs in the window that ended in error with a failed call to
    ``tool`` (every failed run's steps are here, so the count is exact)."""
    lo, hi, label = _range(ctx, args)
    total, _ = _runs(conn, ctx, lo, hi)
    clause, params = _tool_clause(args)
    failed = conn.execute(
        "SELECT count(DISTINCT r.id) FROM runs r JOIN steps s ON s.run = r.id "
        "WHERE r.workflow = ? AND r.started_at >= ? AND r.started_at < ? AND r.status = 'error' "
        f"AND s.error_type IS NOT NULL{clause}",
        (ctx.workflow, lo, hi, *params),
    ).fetchone()[0]
    if total == 0:
        return Measured(None, f"no {ctx.workflow} runs in {label}")
    rate = failed / total
    tool = args.get("tool", "any tool")
    return Measured(
        rate,
        f"{rate:.0%} of {total} runs failed on {tool} ({label})",
        [("runs", str(total)), ("failed on the tool", str(failed))],
    )


def _error_types(
    conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any], kinds: tuple[str, ...]
) -> Measured:
    lo, hi, label = _range(ctx, args)
    clause, params = _tool_clause(args)
    marks = ",".join("?" * len(kinds))
    calls, hits = conn.execute(
        "SELECT count(*), coalesce(sum(s.error_type IN (" + marks + ")), 0) "
        "FROM runs r JOIN steps s ON s.run = r.id "
        "WHERE r.workflow = ? AND r.started_at >= ? AND r.started_at < ? AND s.kind = 'tool'"
        f"{clause}",
        (*kinds, ctx.workflow, lo, hi, *params),
    ).fetchone()
    if not calls:
        return Measured(None, f"no tool calls of {ctx.workflow} in {label}")
    what = "/".join(kinds)
    return Measured(
        hits / calls,
        f"{hits} {what} in {calls} tool calls of sampled runs ({label})",
        [("tool calls", str(calls)), (what, str(hits))],
    )


def tool_timeouts(conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]) -> Measured:
    """Share of tool calls (of ``tool``, if given) that timed out, over the steps in the copy."""
    return _error_types(conn, ctx, args, ("timeout",))


def schema_errors(conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]) -> Measured:
    """Share of tool calls rejected for their shape (schema or validation errors)."""
    return _error_types(conn, ctx, args, ("schema_error", "validation_error", "http_422"))


def run_error_rate(conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]) -> Measured:
    """Share of the workflow's runs in the window that ended in an error."""
    lo, hi, label = _range(ctx, args)
    total, errors = _runs(conn, ctx, lo, hi)
    if total == 0:
        return Measured(None, f"no {ctx.workflow} runs in {label}")
    return Measured(
        errors / total,
        f"{errors} of {total} runs ended in an error ({label})",
        [("runs", str(total)), ("errors", str(errors))],
    )


def cost_per_run(conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]) -> Measured:
    """Cost per run in the window against the ``baseline_days`` before it (value: the ratio),
    and what the month would cost at this rate against the card's budget."""
    lo, hi, label = _range(ctx, args)
    days = float(args.get("baseline_days", 14))
    base_lo = format_ts(parse_ts(lo) - timedelta(days=days))
    now_cost, now_runs = conn.execute(
        "SELECT avg(cost_usd), count(*) FROM runs WHERE workflow = ? AND started_at >= ? "
        "AND started_at < ? AND cost_usd IS NOT NULL",
        (ctx.workflow, lo, hi),
    ).fetchone()
    base_cost, base_runs = conn.execute(
        "SELECT avg(cost_usd), count(*) FROM runs WHERE workflow = ? AND started_at >= ? "
        "AND started_at < ? AND cost_usd IS NOT NULL",
        (ctx.workflow, base_lo, lo),
    ).fetchone()
    if not now_runs:
        return Measured(None, f"no {ctx.workflow} runs with a cost in {label}")
    rows = [("cost per run now", f"${now_cost:.4f} ({now_runs} runs)")]
    if base_runs and base_cost:
        rows.append((f"the {days:g} days before", f"${base_cost:.4f} ({base_runs} runs)"))
    if ctx.monthly_budget_usd:
        per_day = base_runs / days if base_runs else 0.0
        month = now_cost * per_day * 30
        rows.append(("month at this rate", f"${month:.2f} of ${ctx.monthly_budget_usd:g} budget"))
    if not base_runs or not base_cost:
        return Measured(None, f"${now_cost:.4f} per run; no runs before to compare", rows)
    ratio = now_cost / base_cost
    return Measured(
        ratio, f"${now_cost:.4f} per run, {ratio:.1f}× the {days:g} days before ({label})", rows
    )


def repeated_tool_calls(
    conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]
) -> Measured:
    """Share of sampled runs in the window that call one tool with the same arguments
    ``min_repeats`` times or more (default 3): an agent stuck in a loop."""
    lo, hi, label = _range(ctx, args)
    repeats = int(args.get("min_repeats", 3))
    runs = conn.execute(
        "SELECT count(DISTINCT r.id) FROM runs r JOIN steps s ON s.run = r.id "
        "WHERE r.workflow = ? AND r.started_at >= ? AND r.started_at < ?",
        (ctx.workflow, lo, hi),
    ).fetchone()[0]
    if not runs:
        return Measured(None, f"no sampled {ctx.workflow} runs in {label}")
    looping = conn.execute(
        "SELECT s.name, count(*) FROM (SELECT s.run, s.name, s.arguments, count(*) AS n "
        "FROM runs r JOIN steps s ON s.run = r.id WHERE r.workflow = ? AND r.started_at >= ? "
        "AND r.started_at < ? AND s.kind = 'tool' GROUP BY s.run, s.name, s.arguments "
        "HAVING n >= ?) s GROUP BY s.run ORDER BY 2 DESC",
        (ctx.workflow, lo, hi, repeats),
    ).fetchall()
    tools: dict[str, int] = {}
    for name, _ in looping:
        tools[name] = tools.get(name, 0) + 1
    rows = [(name, f"{n} runs") for name, n in sorted(tools.items(), key=lambda t: -t[1])[:5]]
    share = len(looping) / runs
    return Measured(
        share,
        f"{len(looping)} of {runs} sampled runs repeat a tool call {repeats}+ times ({label})",
        rows,
    )


def _versions(conn: sqlite3.Connection, workflow: str, lo: str, hi: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for (tags,) in conn.execute(
        "SELECT tags FROM runs WHERE workflow = ? AND started_at >= ? AND started_at < ? "
        "AND tags IS NOT NULL",
        (workflow, lo, hi),
    ):
        try:
            values = json.loads(tags)
        except ValueError:
            continue
        for tag in values if isinstance(values, list) else []:
            if isinstance(tag, str) and tag.startswith("agent:"):
                out[tag[6:]] = out.get(tag[6:], 0) + 1
    return out


def agent_version_change(
    conn: sqlite3.Connection, ctx: CheckContext, args: dict[str, Any]
) -> Measured:
    """How many agent versions seen in the window were not seen in the ``baseline_days``
    before it (from the ``agent:NAME@VERSION`` tag of sampled runs)."""
    lo, hi, label = _range(ctx, args)
    days = float(args.get("baseline_days", 7))
    before = _versions(conn, ctx.workflow, format_ts(parse_ts(lo) - timedelta(days=days)), lo)
    now = _versions(conn, ctx.workflow, lo, hi)
    if not now:
        return Measured(None, f"no sampled {ctx.workflow} runs with a version tag in {label}")
    new = sorted(v for v in now if v not in before)
    rows = [(v, f"{n} runs" + (" (new)" if v in new else "")) for v, n in sorted(now.items())]
    if new:
        return Measured(float(len(new)), f"new in the window: {', '.join(new)}", rows)
    return Measured(0.0, f"no new agent version in {label}", rows)


#: The queries a runbook may name in a ``kind: sql`` check.
QUERIES: dict[str, Query] = {
    "tool_error_rate": tool_error_rate,
    "tool_timeouts": tool_timeouts,
    "schema_errors": schema_errors,
    "run_error_rate": run_error_rate,
    "cost_per_run": cost_per_run,
    "repeated_tool_calls": repeated_tool_calls,
    "agent_version_change": agent_version_change,
}

#: The arguments each query understands (``agentdeck validate`` refuses others).
QUERY_ARGS: dict[str, set[str]] = {
    "tool_error_rate": {"tool", "minutes", "anchor"},
    "tool_timeouts": {"tool", "minutes", "anchor"},
    "schema_errors": {"tool", "minutes", "anchor"},
    "run_error_rate": {"minutes", "anchor"},
    "cost_per_run": {"minutes", "baseline_days", "anchor"},
    "repeated_tool_calls": {"minutes", "min_repeats", "anchor"},
    "agent_version_change": {"minutes", "baseline_days", "anchor"},
}


def _judge(value: float | None, above: float | None, below: float | None) -> Outcome:
    if value is None:
        return "unknown"
    if above is not None and value > above:
        return "warn"
    if below is not None and value < below:
        return "warn"
    return "ok"


def run_sql_check(conn: sqlite3.Connection, check: SqlCheck, ctx: CheckContext) -> CheckResult:
    """Run a named query; an unknown query or a database error is ``unknown``."""
    query = QUERIES.get(check.query)
    if query is None:
        return CheckResult("unknown", f"no query named {check.query!r}")
    try:
        measured = query(conn, ctx, dict(check.args))
    except (sqlite3.Error, ValueError, TypeError) as exc:
        return CheckResult("unknown", f"the query {check.query} failed: {exc}")
    outcome = _judge(measured.value, check.warn_above, check.warn_below)
    return CheckResult(outcome, measured.summary, measured.value, measured.rows)


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise KeyError(path)
    return data


def _same(found: Any, expected: str | int | float | bool) -> bool:
    """A JSON value against the runbook's: text case-insensitively (``equals: true`` is read
    as the word), numbers by value. A null or a missing value never matches: Statuspage's
    "all clear" is the string ``"none"``, and a null is not that."""
    if found is None or isinstance(found, dict | list):
        return False
    if isinstance(found, int | float) and not isinstance(found, bool):
        try:
            return float(found) == float(expected)
        except ValueError:
            return False
    if isinstance(found, bool):
        found = "true" if found else "false"
    if isinstance(expected, bool):
        expected = "true" if expected else "false"
    return str(found).lower() == str(expected).lower()


def run_http_check(check: HttpCheck, *, transport: Any = None) -> CheckResult:
    """GET the check's URL and compare; no answer (or an unreadable one) is ``unknown``."""
    import httpx

    from store.text import clean_excerpt

    url = clean_excerpt(check.url, limit=120)
    try:
        with httpx.Client(timeout=check.timeout, transport=transport) as client:
            reply = client.get(check.url, headers={"Accept": "application/json, */*"})
    # InvalidURL is not an HTTPError: a URL httpx cannot parse must not raise either.
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return CheckResult("unknown", f"GET {url}: no answer ({type(exc).__name__})")
    expect = check.expect
    if reply.status_code != expect.status:
        return CheckResult(
            "warn",
            f"GET {url}: HTTP {reply.status_code}, expected {expect.status}",
            float(reply.status_code),
        )
    if expect.json_path:
        try:
            found = _dig(reply.json(), expect.json_path)
        except (ValueError, KeyError):
            return CheckResult("unknown", f"GET {url}: no {expect.json_path} in the reply")
        shown = clean_excerpt(str(found), limit=60)
        if expect.equals is not None and not _same(found, expect.equals):
            return CheckResult(
                "warn", f"{expect.json_path} is {shown!r}, expected {expect.equals!r}"
            )
        return CheckResult("ok", f"{expect.json_path} is {shown!r}")
    if expect.contains is not None and expect.contains not in reply.text:
        return CheckResult("warn", f"GET {url}: the reply does not say {expect.contains!r}")
    return CheckResult("ok", f"GET {url}: HTTP {reply.status_code} as expected")


def manual_result(answer: bool, yes_means: Outcome) -> CheckResult:
    """The operator's tick: yes means ``yes_means``; no means the other one."""
    if answer:
        return CheckResult(yes_means, "the operator answered yes")
    return CheckResult("ok" if yes_means == "warn" else "warn", "the operator answered no")

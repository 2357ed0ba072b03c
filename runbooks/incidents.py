"""Incidents as the on-call board lists them: from the local database, so the board works
offline from the last sync. Each incident comes with the runs of its workflow in its window."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

#: Most severe first; anything unknown sorts after these.
SEVERITY_RANK = {"critical": 0, "page": 0, "error": 1, "high": 1, "warning": 2, "info": 3}


@dataclass(frozen=True)
class IncidentLine:
    """One incident with the runs of its workflow inside its window. Text is untrusted."""

    source: str
    incident_id: str
    title: str
    severity: str | None
    status: str | None
    workflow: str | None
    starts_at: str
    ends_at: str | None
    runs: int
    errors: int
    summary: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.incident_id)


def _labels(text: str | None) -> dict[str, str]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def incident_lines(
    conn: sqlite3.Connection, *, include_resolved: bool = True
) -> list[IncidentLine]:
    """Open incidents first, then by severity and newest first; with run and error counts from
    the local copy of the store (``runs`` by workflow and start time, an index range each)."""
    rows = conn.execute(
        "SELECT source, incident_id, title, severity, status, workflow, starts_at, ends_at, "
        "summary, labels FROM incidents"
    ).fetchall()
    out = []
    for row in rows:
        source, incident_id, title, severity, status, workflow, starts_at, ends_at = row[:8]
        summary, labels = row[8], row[9]
        if not include_resolved and status == "resolved":
            continue
        runs = errors = 0
        if workflow:
            high = ends_at or "9999"
            runs, errors = conn.execute(
                "SELECT count(*), coalesce(sum(status = 'error'), 0) FROM runs "
                "WHERE workflow = ? AND started_at >= ? AND started_at <= ?",
                (workflow, starts_at, high),
            ).fetchone()
        out.append(
            IncidentLine(
                source,
                incident_id,
                title,
                severity,
                status,
                workflow,
                starts_at,
                ends_at,
                int(runs),
                int(errors),
                summary,
                _labels(labels),
            )
        )
    out.sort(key=lambda i: i.starts_at, reverse=True)
    out.sort(key=lambda i: (i.status == "resolved", SEVERITY_RANK.get(i.severity or "", 9)))
    return out


@dataclass(frozen=True)
class IncidentDetail:
    """The runs of an incident's workflow in its window, against the weeks before."""

    runs: int
    errors: int
    top_errors: list[tuple[str, int]]
    cost_per_run: float | None
    baseline_cost_per_run: float | None
    baseline_weeks: int

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.runs if self.runs else None


def incident_detail(
    conn: sqlite3.Connection, line: IncidentLine, *, baseline_weeks: int = 4, now: str | None = None
) -> IncidentDetail:
    """Run count, error rate, the commonest errors (tool and error type, from the steps of the
    failed runs, all of which are in the local copy) and cost per run, in the incident's window
    and in the ``baseline_weeks`` before it."""
    from datetime import timedelta

    from store.timestamps import canonical, now_iso, parse_instant

    if not line.workflow:
        return IncidentDetail(0, 0, [], None, None, baseline_weeks)
    high = line.ends_at or now or now_iso()
    runs, errors, cost = conn.execute(
        "SELECT count(*), coalesce(sum(status = 'error'), 0), avg(cost_usd) FROM runs "
        "WHERE workflow = ? AND started_at >= ? AND started_at <= ?",
        (line.workflow, line.starts_at, high),
    ).fetchone()
    top = conn.execute(
        "SELECT s.name || ': ' || s.error_type, count(DISTINCT r.id) AS n FROM runs r "
        "JOIN steps s ON s.run = r.id WHERE r.workflow = ? AND r.started_at >= ? "
        "AND r.started_at <= ? AND s.error_type IS NOT NULL "
        "GROUP BY s.name, s.error_type ORDER BY n DESC, 1 LIMIT 3",
        (line.workflow, line.starts_at, high),
    ).fetchall()
    base_lo = canonical(parse_instant(line.starts_at) - timedelta(weeks=baseline_weeks))
    (base_cost,) = conn.execute(
        "SELECT avg(cost_usd) FROM runs WHERE workflow = ? AND started_at >= ? AND started_at < ?",
        (line.workflow, base_lo, line.starts_at),
    ).fetchone()
    return IncidentDetail(
        int(runs),
        int(errors),
        [(str(name), int(n)) for name, n in top],
        cost,
        base_cost,
        baseline_weeks,
    )


def firing_count(conn: sqlite3.Connection) -> int:
    """How many incidents in the local copy are not resolved (one count, no run counting: cheap
    enough to decide where the app opens)."""
    row = conn.execute(
        "SELECT count(*) FROM incidents WHERE status IS NULL OR status != 'resolved'"
    ).fetchone()
    return int(row[0])

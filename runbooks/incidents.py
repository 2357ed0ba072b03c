"""Incidents as the on-call board lists them: from the local database, so the board works
offline from the last sync. Each incident comes with the runs of its workflow in its window."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

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


def incident_lines(
    conn: sqlite3.Connection, *, include_resolved: bool = True
) -> list[IncidentLine]:
    """Open incidents first, then by severity and newest first; with run and error counts from
    the local copy of the store (``runs`` by workflow and start time, an index range each)."""
    rows = conn.execute(
        "SELECT source, incident_id, title, severity, status, workflow, starts_at, ends_at "
        "FROM incidents"
    ).fetchall()
    out = []
    for source, incident_id, title, severity, status, workflow, starts_at, ends_at in rows:
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
            )
        )
    out.sort(key=lambda i: i.starts_at, reverse=True)
    out.sort(key=lambda i: (i.status == "resolved", SEVERITY_RANK.get(i.severity or "", 9)))
    return out

"""Pulling alert sources into the local copy: upsert, resolve what is no longer listed, leave
everything as it was when a source fails, never duplicate.

The source here is a plain class implementing ``store.alerts.base.AlertSource``: it stands in for
the server only to test the merge; the real Alertmanager and PagerDuty clients are tested against
real servers in their own modules.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from review.session import load_setup, sync
from store.alert_sync import AlertPullReport, pull_alerts, pull_source
from store.alerts.base import AlertSource
from store.connectors.base import ConnectorError, Listed
from store.db import connect
from store.models import Incident
from store.timestamps import now_iso
from store.workspace import Workspace, load_workspace


class StaticSource:
    """Says what ``firing`` holds; raises ``fail`` instead when it is set."""

    endpoint = "http://127.0.0.1:9093"

    def __init__(self, name: str = "am") -> None:
        self.name = name
        self.firing: list[Incident] = []
        self.fail: Exception | None = None

    def list_incidents(self) -> Listed[Incident]:
        if self.fail is not None:
            raise self.fail
        return Listed(self.firing)


def incident(iid: str, *, status: str = "firing", title: str = "Error rate high") -> Incident:
    return Incident(
        id=iid,
        source="am",
        workflow="billing-support",
        title=title,
        severity="critical",
        status=status,
        starts_at="2026-11-12T08:00:00Z",  # type: ignore[arg-type]
        labels={"alertname": "ToolErrorRateHigh", "failure_mode": "tool_timeout"},
    )


def stored(conn: sqlite3.Connection, source: str = "am") -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT incident_id, title, status, ends_at, labels FROM incidents WHERE source = ? "
        "ORDER BY incident_id",
        (source,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "agentdeck.db")


def test_the_source_satisfies_the_protocol() -> None:
    assert isinstance(StaticSource(), AlertSource)


def test_listed_incidents_are_stored_and_refreshed(conn: sqlite3.Connection) -> None:
    src = StaticSource()
    src.firing = [incident("a"), incident("b")]
    report = pull_source(conn, src)
    assert (report.listed, report.opened, report.resolved, report.error) == (2, 2, 0, None)
    assert sorted(stored(conn)) == ["a", "b"]
    assert stored(conn)["a"][:3] == ("Error rate high", "firing", None)

    src.firing = [incident("a", title="Error rate very high"), incident("b")]
    again = pull_source(conn, src)
    assert (again.listed, again.opened, again.resolved) == (2, 0, 0)
    assert stored(conn)["a"][0] == "Error rate very high"
    count = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    assert count == 2


def test_no_duplicates_on_repeat(conn: sqlite3.Connection) -> None:
    src = StaticSource()
    src.firing = [incident("a"), incident("b"), incident("c")]
    for _ in range(3):
        pull_source(conn, src)
    assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 3


def test_an_incident_no_longer_listed_is_resolved_now(conn: sqlite3.Connection) -> None:
    src = StaticSource()
    src.firing = [incident("a"), incident("b")]
    pull_source(conn, src)
    before = now_iso()
    src.firing = [incident("b")]
    report = pull_source(conn, src)
    after = now_iso()
    assert (report.listed, report.resolved) == (1, 1)
    title, status, ends_at, _labels = stored(conn)["a"]
    assert status == "resolved"
    assert before <= ends_at <= after
    assert stored(conn)["b"][1:3] == ("firing", None)

    # Resolved once: a later pull does not move its end.
    again = pull_source(conn, src, now="2099-01-01T00:00:00.000000Z")
    assert again.resolved == 0
    assert stored(conn)["a"][2] == ends_at

    # Firing again: open again, counted as opened.
    src.firing = [incident("a"), incident("b")]
    back = pull_source(conn, src)
    assert back.opened == 1
    assert stored(conn)["a"][1:3] == ("firing", None)


def test_an_empty_list_resolves_every_open_incident_of_that_source_only(
    conn: sqlite3.Connection,
) -> None:
    other = StaticSource("pd")
    other.firing = [incident("x")]
    pull_source(conn, other)
    src = StaticSource()
    src.firing = [incident("a")]
    pull_source(conn, src)
    src.firing = []
    report = pull_source(conn, src)
    assert report.resolved == 1
    assert stored(conn)["a"][1] == "resolved"
    assert stored(conn, "pd")["x"][1] == "firing"


def test_a_failing_source_leaves_its_incidents_exactly_as_they_were(
    conn: sqlite3.Connection,
) -> None:
    src = StaticSource()
    src.firing = [incident("a"), incident("b")]
    pull_source(conn, src)
    src.firing = []
    pull_source(conn, src, now="2026-11-12T09:00:00.000000Z")
    src.firing = [incident("c")]
    pull_source(conn, src)
    snapshot = stored(conn)
    src.fail = ConnectorError("alertmanager http://127.0.0.1:9093: HTTP 502 from /api/v2/alerts")
    report = pull_source(conn, src)
    assert report.error == str(src.fail)
    assert (report.listed, report.opened, report.resolved) == (0, 0, 0)
    assert stored(conn) == snapshot
    assert snapshot["c"][1] == "firing"


def test_the_source_name_keys_its_incidents_whatever_a_record_says(
    conn: sqlite3.Connection,
) -> None:
    src = StaticSource("prod-am")
    src.firing = [incident("a")]  # source="am" in the record
    pull_source(conn, src)
    assert list(stored(conn, "prod-am")) == ["a"]
    assert stored(conn, "am") == {}


def with_alerts(ws: Workspace, text: str) -> Workspace:
    cfg = ws.config_path
    cfg.write_text(cfg.read_text() + "\n" + text)
    return load_workspace(ws.root)


PAGERDUTY = """
[[alerts]]
name = "pd"
kind = "pagerduty"
url = "https://api.pagerduty.example"
services = { PABC123 = "billing-support" }
"""


def test_pagerduty_without_a_token_says_how_to_add_one(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    ws = with_alerts(demo_workspace, PAGERDUTY)
    pull_source(conn, _named(StaticSource("pd"), [incident("p1")]))
    [report] = pull_alerts(conn, ws, secret=lambda name: None)
    assert isinstance(report, AlertPullReport)
    assert report.name == "pd"
    assert report.error is not None and "agentdeck login pd" in report.error
    assert "\n" not in report.error
    assert stored(conn, "pd")["p1"][1] == "firing"


def test_a_keyring_that_cannot_be_read_is_the_sources_error(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    from store.credentials import CredentialError

    def locked(name: str) -> str | None:
        raise CredentialError(f"the OS keyring could not be read for {name!r}; unlock it")

    ws = with_alerts(demo_workspace, PAGERDUTY)
    [report] = pull_alerts(conn, ws, secret=locked)
    assert report.error is not None and "could not be read for 'pd'" in report.error


def test_sync_pulls_alert_sources_and_keeps_going_when_one_fails(
    demo_workspace: Workspace, conn: sqlite3.Connection
) -> None:
    ws = with_alerts(demo_workspace, PAGERDUTY)
    results = sync(conn, load_setup(ws), push_grades=False, secret=lambda name: None)
    [alerts] = results.alerts
    assert alerts.error is not None and "agentdeck login pd" in alerts.error
    [(name, pulled, _pushed)] = results
    assert name == "demo" and pulled.listed > 0


def _named(src: StaticSource, firing: list[Incident]) -> StaticSource:
    src.firing = firing
    return src

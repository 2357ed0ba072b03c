"""Pull incidents from the workspace's alert sources (``[[alerts]]``) into the local copy.

Each source is pulled on its own: a source that cannot be reached, refuses, or answers something
unexpected leaves its stored incidents exactly as they were and says why in one line. A source
that answers is merged in one transaction: every listed incident is inserted or refreshed (with
the same writer as the file store's incidents), and every stored incident of that source that is
still open but no longer listed is resolved now, because Alertmanager drops an alert once it is
resolved instead of reporting it resolved.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from store.alerts.base import SecretReader
from store.connectors.base import ConnectorError
from store.credentials import CredentialError, get_secret
from store.db import transaction
from store.timestamps import now_iso

if TYPE_CHECKING:
    from store.alerts.base import AlertSource, AlertSourceConfigBase
    from store.workspace import Workspace


@dataclass
class AlertPullReport:
    """What one pull from one alert source did.

    ``listed``: incidents the source reported; ``opened``: of those, the ones that were not open
    here before (new, or firing again); ``resolved``: stored ones resolved because the source no
    longer lists them. ``error`` is one line when the source could not be pulled (then nothing
    changed); ``problems`` are records the source left out, or warnings, one line each.
    """

    name: str
    listed: int = 0
    opened: int = 0
    resolved: int = 0
    error: str | None = None
    problems: list[str] = field(default_factory=list)


def make_source(
    cfg: AlertSourceConfigBase,
    *,
    secret: SecretReader = get_secret,
    transport: Any = None,
    problems: list[str] | None = None,
) -> AlertSource:
    """Build the client for one configured source (its kind's ``from_config``).

    A PagerDuty source needs a token (CredentialError saying ``agentdeck login NAME`` if there is
    none); an Alertmanager token is optional (most sit behind no auth), so a keyring that cannot
    be read is a warning added to ``problems`` and the pull goes on without one.
    """
    from store.plugins import ALERTS

    plugin = ALERTS.get(cfg.kind)
    if plugin is None:  # the config was validated: only a module removed since
        raise ConnectorError(
            f"{cfg.name}: alert source kind {cfg.kind!r} is not supported "
            f"(supported: {', '.join(ALERTS.kinds())})"
        )
    source: AlertSource = plugin.from_config(
        cfg, secret=secret, transport=transport, problems=problems
    )
    return source


def pull_source(
    conn: sqlite3.Connection, source: AlertSource, *, now: str | None = None
) -> AlertPullReport:
    """List one source's open incidents and merge them into the local copy (one transaction).

    A ConnectorError from the source is the report's error and nothing is written.
    """
    # Imported here: the writer pulls in sqlite-utils, which a pull that fails never needs.
    from store.sync import store_incidents

    name = source.name
    report = AlertPullReport(name)
    try:
        listed = source.list_incidents()
    except ConnectorError as exc:
        report.error = str(exc)
        return report
    report.problems.extend(listed.problems)
    # The source's name is the key of its incidents here, whatever a record says.
    incidents = [i if i.source == name else i.model_copy(update={"source": name}) for i in listed]
    ids = [i.id for i in incidents]
    report.listed = len(ids)
    with transaction(conn):
        before = dict(
            conn.execute(
                "SELECT incident_id, status FROM incidents WHERE source = ?", (name,)
            ).fetchall()
        )
        report.opened = sum(
            1
            for i in incidents
            if i.status != "resolved" and (i.id not in before or before[i.id] == "resolved")
        )
        store_incidents(conn, name, incidents)
        gone = conn.execute(
            "UPDATE incidents SET status = 'resolved', ends_at = ? WHERE source = ? "
            "AND (status IS NULL OR status != 'resolved') "
            "AND incident_id NOT IN (SELECT value FROM json_each(?))",
            (now or now_iso(), name, json.dumps(ids)),
        )
        report.resolved = gone.rowcount
    return report


def pull_alerts(
    conn: sqlite3.Connection,
    workspace: Workspace,
    *,
    secret: SecretReader = get_secret,
    transports: Mapping[str, Any] | None = None,
) -> list[AlertPullReport]:
    """Pull every ``[[alerts]]`` source of the workspace, each on its own (see the module)."""
    reports: list[AlertPullReport] = []
    for cfg in workspace.config.alerts:
        problems: list[str] = []
        try:
            source = make_source(
                cfg,
                secret=secret,
                transport=(transports or {}).get(cfg.name),
                problems=problems,
            )
        except (CredentialError, ConnectorError) as exc:
            reports.append(AlertPullReport(cfg.name, error=str(exc), problems=problems))
            continue
        report = pull_source(conn, source)
        report.problems[:0] = problems
        reports.append(report)
    return reports

"""Tell an incident's alert source that someone is on it, and that they are done.

The page keeps repeating while the operator works unless the source is told: on Alertmanager a
silence for exactly the incident's alert (for ``[oncall] silence_minutes``), on PagerDuty an
acknowledgement and a note. :func:`acknowledge` does that for one incident of the local copy;
:func:`release` undoes what can be undone (expires the silences agentdeck created; on PagerDuty
it adds a note, because an acknowledgement cannot be taken back without paging again).

The source is found by the incident's ``source``: the name of an ``[[alerts]]`` table in
``agentdeck.toml``. What it does is the source's own (``store.alerts``, through the
:class:`store.alerts.base.Acknowledges` ability); this module reads the incident, builds the
source with its token from the keyring, gives it a journal that writes the audit trail, and
turns whatever happens into one :class:`NotifyResult`.

Every call that changes something is in the audit trail, against the incident (``source/id``):
the request before it is sent (``alert.silence``, ``alert.ack``, ``alert.note``,
``alert.unsilence``) and its result after (the same kind with ``.result``), including the
silence id a release needs. Tokens are never in an entry or a message. A drill sends nothing and
records what would be sent. An incident that came from a store rather than an alert source has
nobody to tell: that is said, not an error. Nothing here raises: every failure is one line in
``NotifyResult.error`` naming the source, the endpoint and what to do, and nothing else changes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runbooks import audit
from store.text import clean_excerpt

if TYPE_CHECKING:
    from store.alerts.base import Acknowledges, AlertTarget, Told
    from store.workspace import Workspace

#: Reads a secret by name (``store.credentials.get_secret``, or a stand-in in tests).
SecretReader = Callable[[str], str | None]


@dataclass(frozen=True)
class NotifyResult:
    """What telling the alert source did.

    ``summary`` is one line for the screen (the error itself when it failed). ``ok`` is false
    only when something went wrong, and then ``error`` is that line. ``told`` is true when the
    incident has an alert source to tell (false for an incident from a store); ``sent`` when a
    request that changes something reached it. ``holds`` are the silence ids created,
    ``freed`` those a release expired; ``until`` is when a silence ends. ``entries`` are the
    audit entries written, in order.
    """

    ok: bool
    summary: str
    error: str | None = None
    told: bool = False
    sent: bool = False
    drill: bool = False
    until: datetime | None = None
    holds: tuple[str, ...] = ()
    freed: tuple[str, ...] = ()
    entries: list[int] = field(default_factory=list)


def acknowledge(
    conn: sqlite3.Connection,
    ws: Workspace,
    incident: tuple[str, str],
    *,
    operator: str,
    reason: str,
    audit_seq: int | None = None,
    drill: bool = False,
    secret: SecretReader | None = None,
    transport: Any = None,
    now: datetime | None = None,
) -> NotifyResult:
    """Tell the alert source of ``incident`` (``(source, incident_id)``) that ``operator`` is on
    it, because of ``reason``.

    Alertmanager: a silence on exactly the alert's labels from now for ``[oncall]
    silence_minutes``, read back active. PagerDuty: an acknowledgement and a note. ``audit_seq``
    is the audit entry the action answers (e.g. the kill-switch entry), named in the silence's
    comment or the note; None names the first entry this call writes. ``drill``: send nothing
    and record what would be sent. ``secret`` reads tokens (default the OS keyring);
    ``transport`` is an ``httpx`` transport for tests; ``now`` the clock.
    Never raises; see :class:`NotifyResult`.
    """
    return _tell(
        conn,
        ws,
        incident,
        operator=operator,
        reason=reason,
        audit_seq=audit_seq,
        drill=drill,
        secret=secret,
        transport=transport,
        now=now,
        releasing=False,
    )


def release(
    conn: sqlite3.Connection,
    ws: Workspace,
    incident: tuple[str, str],
    *,
    operator: str,
    reason: str,
    audit_seq: int | None = None,
    drill: bool = False,
    secret: SecretReader | None = None,
    transport: Any = None,
) -> NotifyResult:
    """Undo what :func:`acknowledge` left in force for ``incident`` (on restore).

    Alertmanager: every silence agentdeck created for the incident and has not expired yet (as
    the audit trail records them) is expired and read back expired; with none, the result says
    there is nothing to release. PagerDuty: a note that the action was restored, and why (the
    acknowledgement stays). Never raises; see :class:`NotifyResult`.
    """
    return _tell(
        conn,
        ws,
        incident,
        operator=operator,
        reason=reason,
        audit_seq=audit_seq,
        drill=drill,
        secret=secret,
        transport=transport,
        now=None,
        releasing=True,
    )


def held(conn: sqlite3.Connection, incident: tuple[str, str]) -> list[str]:
    """What agentdeck's acknowledgements of ``incident`` still hold (silence ids), oldest
    first: every ``holds`` in a result entry without a later ``freed`` of the same id. Drill
    entries hold nothing."""
    found: dict[str, None] = {}
    for entry in audit.entries(conn, incident=_key(incident)):
        if entry.drill or not entry.kind.startswith("alert."):
            continue
        if isinstance(entry.body.get("holds"), str):
            found[entry.body["holds"]] = None
        if isinstance(entry.body.get("freed"), str):
            found.pop(entry.body["freed"], None)
    return list(found)


def _key(incident: tuple[str, str]) -> str:
    return f"{incident[0]}/{incident[1]}"


def _tell(
    conn: sqlite3.Connection,
    ws: Workspace,
    incident: tuple[str, str],
    *,
    operator: str,
    reason: str,
    audit_seq: int | None,
    drill: bool,
    secret: SecretReader | None,
    transport: Any,
    now: datetime | None,
    releasing: bool,
) -> NotifyResult:
    source_name, incident_id = incident
    name = clean_excerpt(source_name, limit=40)
    shown = f"{name}/{clean_excerpt(incident_id, limit=40)}"
    config = next((a for a in ws.config.alerts if a.name == source_name), None)
    if config is None:
        stores = {s.name: s.kind for s in ws.config.stores}
        what = (
            f" (a {stores[source_name]} store: its incidents are records)"
            if source_name in stores
            else ""
        )
        return NotifyResult(
            True,
            f"nothing to tell: incident {shown} came from {name}{what}, which is not an "
            "[[alerts]] source in agentdeck.toml",
            drill=drill,
        )
    try:
        target = _target(conn, incident)
    except sqlite3.Error as exc:
        return _failed(f"{shown}: the local copy could not be read ({_db_error(exc)})", drill)
    if target is None:
        return _failed(
            f"{shown}: no such incident in the local copy; run `agentdeck sync` and try again",
            drill,
        )
    try:
        source = _source(config, secret, transport)
    except Exception as exc:  # the keyring, or a config the source cannot use: one line
        return _failed(_one_line(exc, name), drill)
    if source is None:
        return NotifyResult(
            True,
            f"nothing to tell: alert source {name} cannot be told about incidents",
            drill=drill,
        )
    written: list[int] = []

    def journal(kind: str, body: dict[str, Any]) -> int:
        entry = audit.record(
            conn,
            actor=operator,
            kind=kind,
            body={**body, "incident": incident_id},
            incident=_key(incident),
            drill=drill,
        )
        written.append(entry.seq)
        return entry.seq

    try:
        if releasing:
            told = source.release(
                target,
                operator=operator,
                reason=reason,
                refers_to=audit_seq,
                holds=held(conn, incident),
                journal=journal,
                drill=drill,
            )
        else:
            told = source.acknowledge(
                target,
                operator=operator,
                reason=reason,
                refers_to=audit_seq,
                minutes=ws.config.oncall.silence_minutes,
                journal=journal,
                drill=drill,
                now=now,
            )
    except sqlite3.Error as exc:
        sent = "nothing was sent" if not written else f"check {name} by hand"
        error = f"{shown}: the audit trail could not be written ({_db_error(exc)}); {sent}"
        return _failed(error, drill, written)
    except Exception as exc:  # the promise is one line, never a traceback
        error = (
            f"{name}: unexpected {type(exc).__name__} while telling it about {shown}; "
            f"check {name} by hand and report this"
        )
        return _failed(error, drill, written)
    return _result(told, drill, written)


def _result(told: Told, drill: bool, written: list[int]) -> NotifyResult:
    return NotifyResult(
        told.ok,
        told.summary,
        told.error,
        told=True,
        sent=told.sent,
        drill=drill,
        until=told.until,
        holds=told.holds,
        freed=told.freed,
        entries=written,
    )


def _failed(error: str, drill: bool, written: list[int] | None = None) -> NotifyResult:
    line = clean_excerpt(error, limit=400)
    return NotifyResult(False, line, line, drill=drill, entries=list(written or []))


def _target(conn: sqlite3.Connection, incident: tuple[str, str]) -> AlertTarget | None:
    from store.alerts.base import AlertTarget

    row = conn.execute(
        "SELECT title, status, labels FROM incidents WHERE source = ? AND incident_id = ?",
        incident,
    ).fetchone()
    if row is None:
        return None
    title, status, labels_text = row
    try:
        raw = json.loads(labels_text) if labels_text else {}
    except ValueError:
        raw = {}
    labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return AlertTarget(incident[0], incident[1], title or "", status, labels)


def _source(config: Any, secret: SecretReader | None, transport: Any) -> Acknowledges | None:
    from store.alert_sync import make_source
    from store.alerts.base import Acknowledges

    if secret is None:
        from store.credentials import get_secret

        secret = get_secret
    problems: list[str] = []
    source = make_source(config, secret=secret, transport=transport, problems=problems)
    return source if isinstance(source, Acknowledges) else None


def _one_line(exc: Exception, name: str) -> str:
    from store.connectors.base import ConnectorError
    from store.credentials import CredentialError

    if isinstance(exc, CredentialError | ConnectorError):
        return str(exc)
    return (
        f"{name}: the alert source could not be set up ({type(exc).__name__}); check agentdeck.toml"
    )


def _db_error(exc: sqlite3.Error) -> str:
    from store.db import explain

    return clean_excerpt(explain(exc), limit=120)

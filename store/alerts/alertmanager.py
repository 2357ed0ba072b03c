"""Prometheus Alertmanager as an alert source: ``GET /api/v2/alerts``, one incident per alert.

Each alert in the reply (the v2 API's ``gettableAlert``) becomes an :class:`Incident`: the id is
the alert's fingerprint, the workflow comes from a label (``workflow`` unless configured), the
title from the ``summary`` annotation (else ``alertname``), the summary from ``description``,
and every label is kept (the failure mode is one of them).

What Alertmanager lists, and how it maps:

- ``active`` (and ``unprocessed``, just received) alerts are ``firing``; ``suppressed`` ones
  (silenced or inhibited) are listed too, as ``suppressed``: a silenced alert has not stopped,
  and leaving it out would let the sync mark it resolved.
- Alertmanager's v2 API leaves resolved alerts out of the list altogether (an alert whose
  ``endsAt`` has passed is skipped by the server), so resolution normally shows as the alert
  disappearing, which the sync turns into ``resolved``. Should a listed alert's ``endsAt``
  already have passed by the server's clock (its ``Date`` header; a laptop's clock may be
  wrong), it is ``resolved`` with that end.
- A firing alert's ``endsAt`` is only Alertmanager's guess of when it will time out if no one
  re-sends it; it is not kept as the incident's end, which stays open.

A reply that is not a JSON list of alerts, an HTTP error or a server that cannot be reached
raises :class:`ConnectorError`, one line naming the endpoint and what to do; one bad alert in a
good list is skipped and said in ``Listed.problems``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, NoReturn

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store.connectors.base import ConnectorError, Listed
from store.models import Incident
from store.text import clean_excerpt, display_url
from store.timestamps import Instant


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AlertStatus(_Model):
    """``alertStatus``: ``state`` is what Alertmanager decided about the alert."""

    state: Literal["unprocessed", "active", "suppressed"]
    silencedBy: list[str] = Field(default_factory=list)
    inhibitedBy: list[str] = Field(default_factory=list)


class GettableAlert(_Model):
    """One alert as ``GET /api/v2/alerts`` returns it (the fields agentdeck reads)."""

    fingerprint: str = Field(min_length=1)
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Instant
    endsAt: Instant | None = None
    updatedAt: Instant | None = None
    status: AlertStatus


class AlertmanagerSource:
    """Open alerts of one Alertmanager, as incidents (implements :class:`AlertSource`)."""

    kind = "alertmanager"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        workflow_label: str = "workflow",
        failure_mode_label: str = "failure_mode",
        filters: Sequence[str] = (),
        timeout: float = 10.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.workflow_label = workflow_label
        self.failure_mode_label = failure_mode_label
        self.filters = list(filters)
        self.timeout = timeout
        self._token = token
        self._transport = transport
        self.alerts_url = f"{self.url}/api/v2/alerts"
        #: The API's base URL, for messages (never with a password in it).
        self.endpoint = display_url(self.url)
        self._where = f"GET {display_url(self.alerts_url)}"

    def __repr__(self) -> str:
        return f"AlertmanagerSource({self.name!r}, {self.endpoint!r})"

    def failure_mode(self, incident: Incident) -> str | None:
        """The failure mode an incident from this source names (its failure-mode label)."""
        return incident.labels.get(self.failure_mode_label)

    def list_incidents(self) -> Listed[Incident]:
        """Alerts that are firing or suppressed now, as incidents; bad alerts are skipped
        and said in ``problems``. ConnectorError when the reply as a whole is unusable."""
        reply = self._get()
        raw = self._json(reply)
        if not isinstance(raw, list):
            self._fail(
                f"the reply is a JSON {_json_kind(raw)}, not a list of alerts",
                "check that `url` is Alertmanager's address (API v2)",
            )
        now = _server_time(reply)
        incidents: list[Incident] = []
        problems: list[str] = []
        for position, item in enumerate(raw, start=1):
            try:
                alert = GettableAlert.model_validate(item)
            except ValidationError as exc:
                problems.append(f"{self._where}: alert {position} skipped: {_first_error(exc)}")
                continue
            incidents.append(self._incident(alert, now))
        return Listed(incidents, problems=problems, skipped=len(problems))

    def _incident(self, alert: GettableAlert, now: datetime) -> Incident:
        if alert.endsAt is not None and alert.endsAt <= now:
            status, ends_at = "resolved", alert.endsAt
        else:
            status = "suppressed" if alert.status.state == "suppressed" else "firing"
            ends_at = None
        title = (
            alert.annotations.get("summary")
            or alert.labels.get("alertname")
            or f"alert {alert.fingerprint}"
        )
        return Incident(
            id=alert.fingerprint,
            source=self.name,
            workflow=alert.labels.get(self.workflow_label) or None,
            title=title,
            severity=alert.labels.get("severity") or None,
            status=status,
            starts_at=alert.startsAt,
            ends_at=ends_at,
            summary=alert.annotations.get("description") or None,
            labels=dict(alert.labels),
        )

    def _get(self) -> httpx.Response:
        # Every state Alertmanager lists (the API's defaults, said out loud): suppressed alerts
        # are still open, and an alert left out would be marked resolved by the sync.
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("active", "true"),
            ("silenced", "true"),
            ("inhibited", "true"),
            ("unprocessed", "true"),
        ]
        params += [("filter", matcher) for matcher in self.filters]
        headers = {"Accept": "application/json", "User-Agent": "agentdeck"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            with httpx.Client(
                timeout=httpx.Timeout(self.timeout), transport=self._transport
            ) as client:
                reply = client.get(self.alerts_url, params=params, headers=headers)
                reply.read()
        except httpx.TimeoutException:
            self._fail(
                f"no answer within {self.timeout:g} s",
                "check that Alertmanager is up, or raise `timeout` in agentdeck.toml",
            )
        except httpx.ConnectError as exc:
            self._fail(
                f"cannot connect ({clean_excerpt(str(exc), limit=60) or 'connection failed'})",
                "check that Alertmanager is running and `url` in agentdeck.toml",
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            self._fail("the URL cannot be used", "fix `url` in agentdeck.toml (http://host:9093)")
        except httpx.HTTPError as exc:
            self._fail(
                f"the request failed ({type(exc).__name__})",
                "check the network and that Alertmanager is running",
            )
        if reply.status_code in (401, 403):
            self._fail(
                f"HTTP {reply.status_code}, the request was refused ({self._says(reply)})",
                f"run `agentdeck login {self.name}` with a token the proxy accepts",
            )
        if reply.status_code == 400:
            self._fail(
                f"HTTP 400, Alertmanager refused the query ({self._says(reply)})",
                'check `filters` in agentdeck.toml (matchers like team="billing")',
            )
        if not 200 <= reply.status_code < 300:
            self._fail(
                f"HTTP {reply.status_code} ({self._says(reply)})",
                "check that `url` is Alertmanager and that it is healthy; the next sync retries",
            )
        return reply

    def _json(self, reply: httpx.Response) -> Any:
        text = reply.content.decode("utf-8", errors="replace")
        kind = reply.headers.get("content-type", "").split(";")[0].strip() or "no content type"
        if text.lstrip().startswith("<"):
            self._fail(
                f"the reply is not JSON but {kind} ({clean_excerpt(text, limit=40)!r})",
                "check that `url` is Alertmanager's API, not a web page or a login proxy",
            )
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            what = (
                f"not valid JSON ({clean_excerpt(text, limit=40)!r})" if text.strip() else "empty"
            )
            self._fail(
                f"the reply is {what}",
                "try again, and if it persists check what sits between agentdeck and Alertmanager",
            )

    def _says(self, reply: httpx.Response) -> str:
        text = clean_excerpt(reply.content.decode("utf-8", errors="replace"))
        return f"the server says {text!r}" if text else "no message"

    def _fail(self, what: str, todo: str) -> NoReturn:
        raise ConnectorError(f"{self._where}: {what}; {todo}") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the alert"
    return clean_excerpt(f"{where}: {error['msg']}")


def _server_time(reply: httpx.Response) -> datetime:
    """The server's clock from its ``Date`` header, else this machine's."""
    try:
        moment = parsedate_to_datetime(reply.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

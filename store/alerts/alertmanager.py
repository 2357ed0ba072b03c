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

Telling Alertmanager someone is on an alert (:class:`~store.alerts.base.Acknowledges`) is a
silence for exactly that alert: ``POST /api/v2/silences`` with one exact matcher per label of the
alert (``isRegex: false, isEqual: true``), ``createdBy`` the operator, ``comment`` the reason and
the audit entry's number, from now for ``[oncall] silence_minutes``; then
``GET /api/v2/silence/{id}`` must read it back active with what was sent. Before sending, the
labels kept locally must give the alert's fingerprint (the incident id), so a silence never
covers more or fewer alerts than the one on the board. A release reads each silence it created,
expires the ones still active or pending (``DELETE /api/v2/silence/{id}``) and reads them back
expired; one that has already expired is left as it is (Alertmanager refuses to expire it twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.alerts.base import (
    AlertSourceConfigBase,
    AlertSourcePlugin,
    AlertTarget,
    Journal,
    SecretReader,
    Told,
)
from store.connectors.base import ConnectorError, Listed
from store.documents import LocatedError
from store.jsonapi import JsonApi
from store.models import Incident
from store.plugins import LazyModule, Login
from store.text import clean_excerpt, display_url
from store.timestamps import Instant

#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "check that Alertmanager is up, or raise `timeout` in agentdeck.toml",
    "connect": "check that Alertmanager is running and `url` in agentdeck.toml",
    "url": "fix `url` in agentdeck.toml (http://host:9093)",
    "server": "check that `url` is Alertmanager and that it is healthy, then try again",
    "html": "check that `url` is Alertmanager's API, not a web page or a login proxy",
    "json": "check that `url` is Alertmanager's API (v2), then try again",
    "cut": "try again, and if it persists check what sits between agentdeck and Alertmanager",
}
#: Listing alerts (a sync): the next sync is the retry.
_LIST_TODO = {
    "server": "check that `url` is Alertmanager and that it is healthy; the next sync retries",
    "json": "try again, and if it persists check what sits between agentdeck and Alertmanager",
}
if TYPE_CHECKING:
    import httpx
else:  # imported on first use: reading the config does not need it
    httpx = LazyModule("httpx")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


_M = TypeVar("_M", bound=_Model)


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


class SilenceMatcher(_Model):
    """``matcher``: one label test of a silence."""

    name: str
    value: str
    isRegex: bool
    isEqual: bool = True


class SilenceStatus(_Model):
    state: Literal["expired", "active", "pending"]


class GettableSilence(_Model):
    """One silence as ``GET /api/v2/silence/{id}`` returns it (the fields agentdeck reads)."""

    id: str = Field(min_length=1)
    status: SilenceStatus
    matchers: list[SilenceMatcher]
    startsAt: Instant
    endsAt: Instant
    createdBy: str
    comment: str


class PostedSilence(_Model):
    """The reply to ``POST /api/v2/silences``."""

    silenceID: str = Field(min_length=1)


class SilenceGone(ConnectorError):
    """Alertmanager does not know the silence (HTTP 404): deleted, or expired long enough ago
    that its retention dropped it."""


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (Prometheus ``LabelSet.Fingerprint``: FNV-1a
    64 over the names in order, each name and value followed by a 0xff byte), as 16 hex digits."""
    digest = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8") + b"\xff":
                digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def _stamp(moment: datetime) -> str:
    # Whole seconds: Alertmanager answers in milliseconds, and the read-back compares instants.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(silence_id: str) -> str:
    return silence_id[:8] + "…" if len(silence_id) > 8 else silence_id


class AlertmanagerConfig(AlertSourceConfigBase):
    """``kind = "alertmanager"``: ``url``, ``workflow_label``, ``failure_mode_label``,
    ``filters``."""

    kind: Literal["alertmanager"]

    @model_validator(mode="after")
    def _needs(self) -> AlertmanagerConfig:
        if self.from_email is not None:
            raise LocatedError(
                "`from_email` is the From header of a pagerduty source", ("from_email",)
            )
        return self


class AlertmanagerSource(AlertSourcePlugin):
    """Open alerts of one Alertmanager, as incidents (implements :class:`AlertSource`)."""

    kind = "alertmanager"
    config_model = AlertmanagerConfig
    #: Most Alertmanagers sit behind no auth: the token is optional.
    login: ClassVar[Login | None] = Login("Token (Enter for none)", optional=True)

    @classmethod
    def from_config(
        cls,
        cfg: AlertSourceConfigBase,
        *,
        secret: SecretReader,
        transport: Any = None,
        problems: list[str] | None = None,
    ) -> AlertmanagerSource:
        """A keyring that cannot be read is a warning in ``problems``: pulled without a token."""
        from store.credentials import CredentialError

        try:
            optional = secret(cfg.name)
        except CredentialError as exc:
            optional = None
            if problems is not None:
                problems.append(f"{cfg.name}: {exc}; pulled without a token")
        return cls(
            cfg.name,
            cfg.url,
            workflow_label=cfg.workflow_label,
            failure_mode_label=cfg.failure_mode_label,
            filters=list(cfg.filters),
            timeout=cfg.timeout,
            token=optional or None,
            transport=transport,
        )

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
        self.alerts_url = f"{self.url}/api/v2/alerts"
        #: The API's base URL, for messages (never with a password in it).
        self.endpoint = display_url(self.url)
        # Sent once, never retried (as before the shared client): a sync is the retry, and a
        # silence is not keyed, so a POST repeated after a lost reply would make two.
        self._api = JsonApi(
            name,
            self.url,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            timeout=timeout,
            transport=transport,
            error=ConnectorError,
            todo=_TODO,
            says=self._says,
        )
        self._where = self._api.where("GET", "/api/v2/alerts")

    def __repr__(self) -> str:
        return f"AlertmanagerSource({self.name!r}, {self.endpoint!r})"

    def failure_mode(self, incident: Incident) -> str | None:
        """The failure mode an incident from this source names (its failure-mode label)."""
        return incident.labels.get(self.failure_mode_label)

    def list_incidents(self) -> Listed[Incident]:
        """Alerts that are firing or suppressed now, as incidents; bad alerts are skipped
        and said in ``problems``. ConnectorError when the reply as a whole is unusable."""
        reply = self._get()
        raw = self._api.parse("GET", "/api/v2/alerts", reply, todo=_LIST_TODO)
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

    # -- telling Alertmanager someone is on an alert ------------------------------------------

    def silence_request(
        self,
        labels: Mapping[str, str],
        *,
        created_by: str,
        comment: str,
        starts_at: datetime,
        ends_at: datetime,
    ) -> dict[str, Any]:
        """The ``postableSilence`` for exactly the alert with these labels."""
        return {
            "matchers": [
                {"name": name, "value": labels[name], "isRegex": False, "isEqual": True}
                for name in sorted(labels)
            ],
            "startsAt": _stamp(starts_at),
            "endsAt": _stamp(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }

    def create_silence(self, request: Mapping[str, Any]) -> str:
        """``POST /api/v2/silences``; the new silence's id. ConnectorError (one line) else."""
        reply = self._call("POST", "/api/v2/silences", body=request)
        return self._model(
            PostedSilence, reply, "POST", "/api/v2/silences", "the new silence's id"
        ).silenceID

    def read_silence(self, silence_id: str) -> GettableSilence:
        """``GET /api/v2/silence/{id}``. ConnectorError (one line) when it cannot be read."""
        path = f"/api/v2/silence/{quote(silence_id, safe='')}"
        reply = self._call("GET", path)
        return self._model(GettableSilence, reply, "GET", path, "a silence")

    def expire_silence(self, silence_id: str) -> None:
        """``DELETE /api/v2/silence/{id}``. ConnectorError (one line) when refused."""
        path = f"/api/v2/silence/{quote(silence_id, safe='')}"
        self._call("DELETE", path)

    def acknowledge(
        self,
        target: AlertTarget,
        *,
        operator: str,
        reason: str,
        refers_to: int | None,
        minutes: int,
        journal: Journal,
        drill: bool = False,
        now: datetime | None = None,
    ) -> Told:
        """Silence exactly this alert for ``minutes`` and read the silence back (see the module).

        Journal: ``alert.silence`` (what is sent, before sending) and ``alert.silence.result``
        (the silence id as ``holds``, the read-back, or the error). A drill journals
        ``alert.silence`` with ``sent: false`` only.
        """
        alert = _alert_name(target)
        where = f"{self.name} POST {display_url(self.url)}/api/v2/silences"
        labels = dict(target.labels)
        if not labels or label_fingerprint(labels) != target.incident_id:
            error = (
                f"{where}: the labels kept for alert {alert} do not give its fingerprint "
                f"{clean_excerpt(target.incident_id, limit=20)}, so a silence could catch other "
                "alerts; nothing sent; run `agentdeck sync` and try again"
            )
            return Told(False, error, error)
        start = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        end = start + timedelta(minutes=minutes)
        note = f"(agentdeck audit #{refers_to})" if refers_to is not None else None
        request = self.silence_request(
            labels,
            created_by=operator,
            comment=f"{reason} {note}" if note else reason,
            starts_at=start,
            ends_at=end,
        )
        attempt: dict[str, Any] = {
            "source": self.name,
            "call": f"POST {display_url(self.url)}/api/v2/silences",
            "alert": alert,
            "request": request,
            "minutes": minutes,
            "refers_to": refers_to,
            "sent": not drill,
        }
        if note is None:
            # Nothing else to point at: the comment names the entry that records the request,
            # whose number is known once it is written.
            attempt["request"] = {**request, "comment": f"{reason} (agentdeck audit #this entry)"}
        if drill:
            journal("alert.silence", attempt)
            summary = (
                f"DRILL: would silence {self.name} alert {alert} until {_clock(end)} "
                f"for {operator}; nothing sent"
            )
            return Told(True, summary, until=end)
        seq = journal("alert.silence", attempt)
        if note is None:
            request["comment"] = f"{reason} (agentdeck audit #{seq})"
        try:
            silence_id = self.create_silence(request)
        except ConnectorError as exc:
            error = str(exc)
            journal("alert.silence.result", {"ok": False, "error": error})
            return Told(False, error, error, sent=True)
        result: dict[str, Any] = {"ok": False, "silence_id": silence_id, "holds": silence_id}
        try:
            back = self.read_silence(silence_id)
        except ConnectorError as exc:
            error = f"{exc} (silence {silence_id} was created and is expired on restore)"
            journal("alert.silence.result", {**result, "error": error})
            return Told(False, error, error, sent=True, holds=(silence_id,), until=end)
        result["read_back"] = _silence_record(back)
        wrong = _differences(back, request)
        if wrong:
            error = (
                f"{self.name} GET {display_url(self.url)}/api/v2/silence/{silence_id}: the "
                f"silence reads back {wrong}; check it in Alertmanager (it is expired on restore)"
            )
            journal("alert.silence.result", {**result, "error": error})
            return Told(False, error, error, sent=True, holds=(silence_id,), until=end)
        journal("alert.silence.result", {**result, "ok": True})
        summary = (
            f"silenced {self.name} alert {alert} until {_clock(back.endsAt)} "
            f"(silence {_short(silence_id)})"
        )
        return Told(True, summary, sent=True, holds=(silence_id,), until=back.endsAt)

    def release(
        self,
        target: AlertTarget,
        *,
        operator: str,
        reason: str,
        refers_to: int | None,
        holds: Sequence[str],
        journal: Journal,
        drill: bool = False,
    ) -> Told:
        """Expire the silences agentdeck created for this alert that are still in force.

        Each silence is read first: an expired one is only noted (``freed``); an active or
        pending one is expired and read back expired. Journal per silence: ``alert.unsilence``
        before the DELETE, ``alert.unsilence.result`` after (``freed`` on success).
        """
        alert = _alert_name(target)
        if not holds:
            return Told(True, f"nothing to release: no silence from agentdeck on alert {alert}")
        freed: list[str] = []
        expired: list[str] = []
        sent = False
        for silence_id in holds:
            try:
                before = self.read_silence(silence_id)
            except SilenceGone:
                # Nothing left to expire: Alertmanager dropped it (retention) or someone deleted it.
                journal(
                    "alert.unsilence.result",
                    {
                        "ok": True,
                        "silence_id": silence_id,
                        "freed": silence_id,
                        "sent": False,
                        "state": "gone",
                        "note": "Alertmanager no longer knows it",
                    },
                )
                freed.append(silence_id)
                continue
            except ConnectorError as exc:
                error = f"{exc}; silence {silence_id} was left as it is"
                return Told(False, error, error, sent=sent, freed=tuple(freed))
            if before.status.state == "expired":
                journal(
                    "alert.unsilence.result",
                    {
                        "ok": True,
                        "silence_id": silence_id,
                        "freed": silence_id,
                        "sent": False,
                        "state": "expired",
                        "note": "had already expired",
                    },
                )
                freed.append(silence_id)
                continue
            call = f"DELETE {display_url(self.url)}/api/v2/silence/{silence_id}"
            attempt = {
                "source": self.name,
                "call": call,
                "alert": alert,
                "silence_id": silence_id,
                "reason": reason,
                "refers_to": refers_to,
                "sent": not drill,
            }
            journal("alert.unsilence", attempt)
            if drill:
                expired.append(silence_id)
                continue
            sent = True
            try:
                self.expire_silence(silence_id)
                after = self.read_silence(silence_id)
            except ConnectorError as exc:
                error = f"{exc}; silence {silence_id} may still be in force"
                journal(
                    "alert.unsilence.result",
                    {"ok": False, "silence_id": silence_id, "error": error},
                )
                return Told(False, error, error, sent=sent, freed=tuple(freed))
            if after.status.state != "expired":
                error = (
                    f"{self.name} {call}: the silence reads back {after.status.state}, not "
                    "expired; expire it in Alertmanager's web page"
                )
                journal(
                    "alert.unsilence.result",
                    {"ok": False, "silence_id": silence_id, "state": after.status.state},
                )
                return Told(False, error, error, sent=sent, freed=tuple(freed))
            journal(
                "alert.unsilence.result",
                {"ok": True, "silence_id": silence_id, "freed": silence_id, "state": "expired"},
            )
            freed.append(silence_id)
            expired.append(silence_id)
        names = ", ".join(_short(s) for s in expired)
        if drill:
            summary = f"DRILL: would expire silence {names} on {self.name}; nothing sent"
        elif expired:
            summary = f"expired silence {names} on {self.name} (alert {alert})"
        else:
            summary = f"the silence on {self.name} alert {alert} had already expired"
        return Told(True, summary, sent=sent, freed=tuple(freed))

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        return self._api.request(method, path, json=body, refuse=self._refuse_call)

    def _refuse_call(self, method: str, path: str, reply: httpx.Response) -> NoReturn:
        code = reply.status_code
        if code in (401, 403):
            self._api.fail(
                method,
                path,
                f"HTTP {code}, the request was refused ({self._api.says(reply)})",
                f"run `agentdeck login {self.name}` with a token that may write silences",
            )
        if code == 400:
            self._api.fail(
                method,
                path,
                f"HTTP 400, Alertmanager refused the silence ({self._api.says(reply)})",
                "run `agentdeck sync` so the alert's labels are current, or silence it in "
                "Alertmanager's web page",
            )
        if code == 404:
            raise SilenceGone(
                f"{self._api.where(method, path)}: HTTP 404, no such silence "
                f"({self._api.says(reply)}); it may have been deleted, or `url` is not this "
                "Alertmanager"
            )
        self._api.fail(method, path, f"HTTP {code} ({self._api.says(reply)})", _TODO["server"])

    def _model(
        self, model: type[_M], reply: httpx.Response, method: str, path: str, what: str
    ) -> _M:
        cut = {"cut": "the silence may have been made: look in Alertmanager's web page first"}
        data = self._api.parse(method, path, reply, todo=cut if method == "POST" else None)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self._api.fail(
                method, path, f"the reply is not {what} ({_first_error(exc)})", _TODO["json"]
            )

    def _clean(self, text: str, limit: int) -> str:
        return self._api.clean(text, limit)

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
        return self._api.request(
            "GET", "/api/v2/alerts", params=params, todo=_LIST_TODO, refuse=self._refuse_list
        )

    def _refuse_list(self, method: str, path: str, reply: httpx.Response) -> NoReturn:
        code = reply.status_code
        if code in (401, 403):
            self._fail(
                f"HTTP {code}, the request was refused ({self._api.says(reply)})",
                f"run `agentdeck login {self.name}` with a token the proxy accepts",
            )
        if code == 400:
            self._fail(
                f"HTTP 400, Alertmanager refused the query ({self._api.says(reply)})",
                'check `filters` in agentdeck.toml (matchers like team="billing")',
            )
        self._fail(f"HTTP {code} ({self._api.says(reply)})", _LIST_TODO["server"])

    def _says(self, reply: httpx.Response) -> str:
        text = reply.content.decode("utf-8", errors="replace")
        try:
            # Alertmanager's API answers an error as a JSON string: say the words, unquoted.
            said = json.loads(text)
        except (ValueError, RecursionError):
            said = None
        if isinstance(said, str):
            text = said
        text = self._api.clean(text)
        return f"the server says {text!r}" if text else "no message"

    def _fail(self, what: str, todo: str) -> NoReturn:
        raise ConnectorError(f"{self._where}: {what}; {todo}") from None


def _alert_name(target: AlertTarget) -> str:
    name = target.labels.get("alertname") or target.title or target.incident_id
    return clean_excerpt(name, limit=60)


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _silence_record(silence: GettableSilence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "state": silence.status.state,
        "startsAt": _stamp(silence.startsAt),
        "endsAt": _stamp(silence.endsAt),
        "createdBy": silence.createdBy,
        "comment": silence.comment,
        "matchers": len(silence.matchers),
    }


def _differences(silence: GettableSilence, request: Mapping[str, Any]) -> str:
    """How a read-back silence differs from what was sent ("" when it is what was asked)."""
    if silence.status.state != "active":
        return silence.status.state
    sent = {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in request["matchers"]}
    back = {(m.name, m.value, m.isRegex, m.isEqual) for m in silence.matchers}
    if sent != back:
        return "with other matchers than were sent"
    if _stamp(silence.endsAt) != request["endsAt"]:
        return f"ending at {_stamp(silence.endsAt)}, not {request['endsAt']}"
    if silence.createdBy != request["createdBy"] or silence.comment != request["comment"]:
        return "with another author or comment than were sent"
    return ""


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
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(reply.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


PLUGIN = AlertmanagerSource

"""PagerDuty incidents as an alert source, through the REST API v2 (``GET /incidents``).

Two listings make one answer:

- open incidents (``statuses[]=triggered&statuses[]=acknowledged``) with ``date_range=all``,
  because ``since``/``until`` bound when an incident was *created*, and an incident opened
  eight days ago that still burns must not drop off the board;
- incidents resolved recently (``statuses[]=resolved``, ``since``/``until`` over ``window``, a
  week by default), so an incident that ends between two syncs shows as resolved with its end.

Both are filtered to the configured services (``service_ids[]``) and read with offset paging
(``limit``/``offset`` until ``more`` is false). A server that keeps saying ``more`` is cut off
after ``max_pages`` with an error rather than half a list, because the sync marks an incident
missing from the list as resolved.

How an incident becomes an :class:`~store.models.Incident`:

- ``workflow``: the workflow configured for its service id (an incident on a service that was
  not asked for is left out, with a problem);
- ``severity``: a priority named ``P1``…``P5`` (PagerDuty's default priority names) gives
  ``critical`` (P1), ``high`` (P2), ``warning`` (P3) or ``info`` (P4, P5); otherwise the urgency
  does: ``high`` → ``high``, ``low`` → ``warning``. Priorities are account-defined, so any other
  name falls back to the urgency;
- ``status``: PagerDuty's own (triggered, acknowledged, resolved); ``starts_at`` is
  ``created_at``; ``ends_at`` is ``resolved_at`` (or ``last_status_change_at``) once resolved;
- ``labels``: ``service_id``, ``service``, ``urgency``, ``priority``, ``incident_number`` and
  ``url`` when PagerDuty gives them. PagerDuty has no alert labels, so there is no
  ``failure_mode`` label.

Telling PagerDuty someone is on an incident (:class:`~store.alerts.base.Acknowledges`): read the
incident (``GET /incidents/{id}``), because acknowledging a resolved incident would reopen it;
then acknowledge it (``PUT /incidents/{id}`` with ``{"incident": {"type":
"incident_reference", "status": "acknowledged"}}``) and add a note with the operator, the reason
and the audit entry's number (``POST /incidents/{id}/notes``). Both writes carry the ``From``
header PagerDuty requires, the source's ``from_email``; without it nothing is sent. A release
cannot take an acknowledgement back (setting ``triggered`` would page again), so it adds a note
saying the action was restored, and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn
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
from store.jsonapi import JsonApi
from store.models import Incident
from store.plugins import LazyModule, Login
from store.text import display_url
from store.timestamps import Instant

if TYPE_CHECKING:
    import httpx
else:  # imported on first use: reading the config does not need it
    httpx = LazyModule("httpx")

ACCEPT = "application/vnd.pagerduty+json;version=2"
#: What to do, per kind of failure, when listing (a sync) and when writing (an operator's act).
_SYNC_TODO = {
    "timeout": "check the network, or raise this source's timeout in agentdeck.toml",
    "connect": "check the source's url in agentdeck.toml and the network",
    "server": "sync again later",
    "html": "the url must be PagerDuty's REST API (https://api.pagerduty.com), "
    "not the web app or a proxy's login page",
    "json": "check the source's url in agentdeck.toml",
    "cut": "sync again; if it persists, a proxy is cutting replies short",
}
_WRITE_TODO = {
    "server": "try again later",
    "busy": "try again {when}",
    "cut": "try again; if it persists, a proxy is cutting replies short",
}
OPEN_STATUSES = ("triggered", "acknowledged")

#: One query parameter; a name may repeat (``statuses[]``, ``service_ids[]``).
_Param = tuple[str, str | int | float | bool | None]

_PRIORITY = re.compile(r"^\s*P([1-9])\s*$", re.IGNORECASE)
_PRIORITY_SEVERITY = {1: "critical", 2: "high", 3: "warning"}
_URGENCY_SEVERITY = {"high": "high", "low": "warning"}


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class PagerDutyReference(_Reply):
    """A ``*_reference`` object (service, priority): an id and a short summary."""

    id: str | None = None
    summary: str | None = None
    name: str | None = None


class PagerDutyIncident(_Reply):
    """The fields of PagerDuty's ``Incident`` schema that agentdeck reads."""

    id: str = Field(min_length=1)
    incident_number: int | None = None
    title: str | None = None
    summary: str | None = None
    #: Not in the published schema, but in replies of older accounts; the title if absent.
    description: str | None = None
    status: str = Field(min_length=1)
    urgency: str | None = None
    priority: PagerDutyReference | None = None
    service: PagerDutyReference
    created_at: Instant
    last_status_change_at: Instant | None = None
    resolved_at: Instant | None = None
    html_url: str | None = None


class PagerDutyPage(_Reply):
    """One page of ``GET /incidents``: the incidents (each checked on its own) and paging."""

    incidents: list[Any]
    limit: int | None = None
    offset: int | None = None
    #: Strict: a "true" string is not PagerDuty's reply, and guessing could page forever.
    more: bool | None = Field(default=None, strict=True)
    total: int | None = None


class PagerDutyIncidentReply(_Reply):
    """``{"incident": Incident}``: the reply of ``GET`` and ``PUT /incidents/{id}``."""

    incident: PagerDutyIncident


class PagerDutyNote(_Reply):
    id: str | None = None
    content: str


class PagerDutyNoteReply(_Reply):
    """``{"note": IncidentNote}``: the reply of ``POST /incidents/{id}/notes``."""

    note: PagerDutyNote


def ack_body() -> dict[str, Any]:
    """The request body of ``PUT /incidents/{id}`` that acknowledges an incident."""
    return {"incident": {"type": "incident_reference", "status": "acknowledged"}}


def note_body(content: str) -> dict[str, Any]:
    """The request body of ``POST /incidents/{id}/notes``."""
    return {"note": {"content": content}}


def severity_of(incident: PagerDutyIncident) -> str | None:
    """``critical``/``high``/``warning``/``info`` from a P1–P5 priority, else from urgency."""
    priority = incident.priority
    name = priority and (priority.summary or priority.name)
    if name:
        match = _PRIORITY.match(name)
        if match:
            return _PRIORITY_SEVERITY.get(int(match.group(1)), "info")
    return _URGENCY_SEVERITY.get(incident.urgency or "")


class PagerDutyConfig(AlertSourceConfigBase):
    """``kind = "pagerduty"``: ``url``, ``services`` (service id = workflow), ``from_email``."""

    kind: Literal["pagerduty"]

    @model_validator(mode="after")
    def _needs(self) -> PagerDutyConfig:
        if not self.services:
            raise ValueError(
                "a pagerduty source needs `services` (service id = workflow), "
                'e.g. services = { PABC123 = "billing-support" }'
            )
        return self


class PagerDutySource(AlertSourcePlugin):
    """Incidents of some PagerDuty services, each service standing for one workflow."""

    kind = "pagerduty"
    config_model = PagerDutyConfig
    login: ClassVar[Login | None] = Login("Token")

    @classmethod
    def from_config(
        cls,
        cfg: AlertSourceConfigBase,
        *,
        secret: SecretReader,
        transport: Any = None,
        problems: list[str] | None = None,
    ) -> PagerDutySource:
        """The token is required: none is a CredentialError saying ``agentdeck login NAME``."""
        from store.credentials import CredentialError

        token = secret(cfg.name)
        if not token:
            raise CredentialError(
                f"pagerduty {cfg.url}: no token in the keyring for {cfg.name!r}; "
                f"run `agentdeck login {cfg.name}`"
            )
        return cls(
            cfg.name,
            cfg.url,
            token=token,
            services=dict(cfg.services),
            timeout=cfg.timeout,
            transport=transport,
            from_email=cfg.from_email,
        )

    def __init__(
        self,
        name: str,
        url: str = "https://api.pagerduty.com",
        *,
        token: str,
        services: Mapping[str, str],
        timeout: float = 10.0,
        now: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
        window: timedelta = timedelta(days=7),
        page_limit: int = 100,
        max_pages: int = 100,
        from_email: str | None = None,
    ) -> None:
        self.name = name
        #: The ``From`` of acknowledgements and notes (a PagerDuty user's email), from config.
        self.from_email = from_email
        self.endpoint = url.rstrip("/")
        self.services = dict(services)
        self.timeout = timeout
        self.window = window
        self.page_limit = page_limit
        self.max_pages = max_pages
        self._token = token
        self._now = now or (lambda: datetime.now(UTC))
        # Sent once, never retried (as before the shared client): a sync is the retry.
        self._api = JsonApi(
            name,
            self.endpoint,
            headers={
                "Accept": ACCEPT,
                "Content-Type": "application/json",
                "Authorization": f"Token token={token}",
            },
            timeout=timeout,
            transport=transport,
            error=ConnectorError,
            todo=_SYNC_TODO,
            refuse=self._refuse,
            says=self._server_says,
            wait_headers=("retry-after", "ratelimit-reset"),
        )
        self._where = self._api.where("GET", "/incidents")

    def __repr__(self) -> str:
        return f"PagerDutySource({self.name!r}, {self.endpoint!r})"

    def list_incidents(self) -> Listed[Incident]:
        """Open incidents of the configured services, and those resolved within ``window``."""
        now = self._now().astimezone(UTC)
        services: list[_Param] = [("service_ids[]", sid) for sid in self.services]
        open_query: list[_Param] = [*(("statuses[]", s) for s in OPEN_STATUSES)]
        open_query.append(("date_range", "all"))
        resolved_query: list[_Param] = [
            ("statuses[]", "resolved"),
            ("since", _iso(now - self.window)),
            ("until", _iso(now)),
        ]
        found: dict[str, Incident] = {}
        problems: list[str] = []
        skipped = 0
        for query in (open_query, resolved_query):
            for position, raw in self._incidents([*query, *services]):
                incident, problem = self._incident(raw, position)
                if incident is None:
                    skipped += 1
                    problems.append(problem)
                else:
                    # A later listing wins: an incident resolved between the two is resolved.
                    found[incident.id] = incident
        return Listed(found.values(), problems=problems, skipped=skipped)

    # -- telling PagerDuty someone is on an incident ------------------------------------------

    def read_incident(self, incident_id: str) -> PagerDutyIncident:
        """``GET /incidents/{id}``: the incident as PagerDuty has it now."""
        path = f"/incidents/{quote(incident_id, safe='')}"
        data = self._write("GET", path, None)
        return self._incident_reply(data, f"{self.name} GET {display_url(self.endpoint + path)}")

    def acknowledge_incident(self, incident_id: str) -> PagerDutyIncident:
        """``PUT /incidents/{id}`` to ``acknowledged``, ``From`` the source's ``from_email``;
        the incident as PagerDuty returns it."""
        path = f"/incidents/{quote(incident_id, safe='')}"
        data = self._write("PUT", path, ack_body())
        return self._incident_reply(data, f"{self.name} PUT {display_url(self.endpoint + path)}")

    def add_note(self, incident_id: str, content: str) -> str:
        """``POST /incidents/{id}/notes``, ``From`` the source's ``from_email``; the note's id
        (empty when PagerDuty gives none)."""
        path = f"/incidents/{quote(incident_id, safe='')}/notes"
        data = self._write("POST", path, note_body(content))
        where = f"{self.name} POST {display_url(self.endpoint + path)}"
        try:
            note = PagerDutyNoteReply.model_validate(data).note
        except ValidationError as exc:
            self._fail(f"the reply is not a note ({_first(exc)})", "check the source's url", where)
        return note.id or ""

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
        """Acknowledge the incident and add a note saying who is on it and why (see the module).

        ``minutes`` does not apply (PagerDuty's acknowledgement timeout is the service's).
        Journal: ``alert.ack`` and ``alert.ack.result``, then ``alert.note`` and
        ``alert.note.result``; a drill journals ``alert.ack`` with ``sent: false`` only.
        """
        incident = self._clean(target.incident_id, 30)
        missing = self._needs_from()
        if missing:
            return Told(False, missing, missing)
        put = f"PUT {display_url(self.endpoint)}/incidents/{incident}"
        attempt: dict[str, Any] = {
            "source": self.name,
            "call": put,
            "from": self.from_email,
            "request": ack_body(),
            "reason": reason,
            "refers_to": refers_to,
            "sent": not drill,
        }
        if drill:
            journal("alert.ack", attempt)
            summary = (
                f"DRILL: would acknowledge {self.name} incident {incident} as {self.from_email} "
                "and add a note; nothing sent"
            )
            return Told(True, summary)
        try:
            live = self.read_incident(target.incident_id)
        except ConnectorError as exc:
            return Told(False, str(exc), str(exc))
        if live.status == "resolved":
            journal("alert.ack", {**attempt, "sent": False, "live_status": "resolved"})
            summary = (
                f"{self.name} incident {incident} is already resolved: not acknowledged "
                "(that would reopen it)"
            )
            return Told(True, summary)
        seq = journal("alert.ack", {**attempt, "live_status": live.status})
        try:
            acked = self.acknowledge_incident(target.incident_id)
        except ConnectorError as exc:
            journal("alert.ack.result", {"ok": False, "error": str(exc)})
            return Told(False, str(exc), str(exc), sent=True)
        if acked.status != "acknowledged":
            error = (
                f"{self.name} {put}: PagerDuty answered status {self._clean(acked.status, 20)}, "
                "not acknowledged; check the incident in PagerDuty"
            )
            journal("alert.ack.result", {"ok": False, "status": acked.status, "error": error})
            return Told(False, error, error, sent=True)
        journal("alert.ack.result", {"ok": True, "status": acked.status})
        number = refers_to if refers_to is not None else seq
        content = f"{operator} is on it: {reason} (agentdeck audit #{number})"
        noted = self._note(target.incident_id, content, refers_to, journal)
        if noted:
            error = f"acknowledged {self.name} incident {incident}, but {noted}"
            return Told(False, error, error, sent=True)
        return Told(True, f"acknowledged {self.name} incident {incident} (note added)", sent=True)

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
        """Add a note that the action was restored, and why. The acknowledgement stays:
        PagerDuty cannot take one back without paging again (``triggered``)."""
        incident = self._clean(target.incident_id, 30)
        missing = self._needs_from()
        if missing:
            return Told(False, missing, missing)
        content = f"{operator} restored: {reason}"
        if refers_to is not None:
            content += f" (agentdeck audit #{refers_to})"
        if drill:
            journal(
                "alert.note",
                {
                    "source": self.name,
                    "call": f"POST {display_url(self.endpoint)}/incidents/{incident}/notes",
                    "from": self.from_email,
                    "request": note_body(content),
                    "sent": False,
                },
            )
            return Told(True, f"DRILL: would add a note to {self.name} incident {incident}")
        noted = self._note(target.incident_id, content, refers_to, journal)
        if noted:
            return Told(False, noted, noted, sent=True)
        return Told(True, f"added a restore note to {self.name} incident {incident}", sent=True)

    def _note(self, incident_id: str, content: str, refers_to: int | None, journal: Journal) -> str:
        """Add a note, journalled; "" on success, else the one-line error."""
        call = f"POST {display_url(self.endpoint)}/incidents/{self._clean(incident_id, 30)}/notes"
        journal(
            "alert.note",
            {
                "source": self.name,
                "call": call,
                "from": self.from_email,
                "request": note_body(content),
                "refers_to": refers_to,
                "sent": True,
            },
        )
        try:
            note_id = self.add_note(incident_id, content)
        except ConnectorError as exc:
            journal("alert.note.result", {"ok": False, "error": str(exc)})
            return str(exc)
        journal("alert.note.result", {"ok": True, "note_id": note_id})
        return ""

    def _needs_from(self) -> str:
        if self.from_email:
            return ""
        return (
            f"{self.name} {display_url(self.endpoint)}: no `from_email` for alert source "
            f"{self.name!r} in agentdeck.toml; PagerDuty needs a user's email as From to "
            'acknowledge: add from_email = "you@example.com" to its [[alerts]] table; nothing sent'
        )

    def _write(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"From": self.from_email} if method != "GET" and self.from_email else None
        return self._api.json(
            method, path, json=body, headers=headers, todo=_WRITE_TODO, refuse=self._refuse_write
        )

    def _refuse_write(self, method: str, path: str, response: httpx.Response) -> NoReturn:
        where = self._api.where(method, path)
        code = response.status_code
        said = self._server_says(response)
        status = f"{code}: {said}" if said else str(code)
        if code == 401:
            self._fail(
                f"the token was refused ({status})", f"run `agentdeck login {self.name}`", where
            )
        if code == 403:
            self._fail(
                f"not allowed ({status})",
                "use an API key that may write incidents, and a from_email of a user who may "
                "acknowledge them",
                where,
            )
        if code == 404:
            self._fail(
                f"no such incident ({status})",
                "it may have been merged or deleted: run `agentdeck sync`",
                where,
            )
        if 300 <= code < 400:
            target = self._clean(display_url(response.headers.get("location", "")), 60)
            self._fail(
                f"redirected ({code}) to {target or 'somewhere else'}",
                "the url must be PagerDuty's REST API (https://api.pagerduty.com)",
                where,
            )
        self._fail(
            f"refused ({status})",
            "check that from_email in agentdeck.toml is the email of a PagerDuty user",
            where,
        )

    def _incident_reply(self, data: Any, where: str) -> PagerDutyIncident:
        try:
            return PagerDutyIncidentReply.model_validate(data).incident
        except ValidationError as exc:
            self._fail(
                f"the reply is not an incident ({_first(exc)})",
                "check the source's url points at PagerDuty's REST API (https://api.pagerduty.com)",
                where,
            )

    # -- paging -------------------------------------------------------------------------------

    def _incidents(self, query: list[_Param]) -> Iterator[tuple[int, Any]]:
        offset = 0
        for _ in range(self.max_pages):
            params = [*query, ("limit", self.page_limit), ("offset", offset)]
            page = self._page(params)
            for i, raw in enumerate(page.incidents):
                yield offset + i, raw
            if not page.more:
                return
            if not page.incidents:
                self._fail(
                    f"a page at offset {offset} is empty but says more follow",
                    "sync again later; if it persists, report it to PagerDuty",
                )
            offset += len(page.incidents)
        self._fail(
            f"still says more incidents follow after {self.max_pages} pages ({offset} incidents)",
            "list fewer services in this source, or sync again later",
        )

    def _page(self, params: list[_Param]) -> PagerDutyPage:
        data = self._api.json("GET", "/incidents", params=params)
        try:
            return PagerDutyPage.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the reply"
            self._fail(
                f"the reply is not a page of incidents ({where}: {first['msg']})",
                "check the source's url points at PagerDuty's REST API (https://api.pagerduty.com)",
            )

    # -- replies ------------------------------------------------------------------------------

    def _refuse(self, method: str, path: str, response: httpx.Response) -> NoReturn:
        code = response.status_code
        said = self._server_says(response)
        status = f"{code}: {said}" if said else str(code)
        if code == 401:
            self._fail(f"the token was refused ({status})", f"run `agentdeck login {self.name}`")
        if code == 403:
            self._fail(
                f"the token may not read these incidents ({status})",
                "use an API key that can read incidents of these services",
            )
        if 300 <= code < 400:
            target = self._clean(display_url(response.headers.get("location", "")), 60)
            self._fail(
                f"redirected ({code}) to {target or 'somewhere else'}",
                "the url must be PagerDuty's REST API (https://api.pagerduty.com)",
            )
        if code == 404:
            self._fail(
                f"not found ({status})",
                "the url must be PagerDuty's REST API (https://api.pagerduty.com)",
            )
        self._fail(
            f"refused the query ({status})",
            "check the source's services (PagerDuty service ids) in agentdeck.toml",
        )

    def _server_says(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            return "an HTML page" if "<" in response.text[:1] else self._clean(response.text, 60)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            words = [error.get("message")]
            if isinstance(error.get("errors"), list):
                words += error["errors"]
            text = ": ".join(w for w in words if isinstance(w, str) and w)
            if text:
                return self._clean(text, 80)
        return self._clean(response.text, 60)

    def _incident(self, raw: Any, position: int) -> tuple[Incident | None, str]:
        label = f"incident at position {position}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            label = f"incident {self._clean(raw['id'], 20)}"
        try:
            pd = PagerDutyIncident.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the incident"
            return None, f"{self._where}: {label} left out ({where}: {first['msg']})"
        workflow = self.services.get(pd.service.id or "")
        if workflow is None:
            service = self._clean(pd.service.id or "?", 20)
            return None, (
                f"{self._where}: {label} left out (its service {service} is not in this "
                "source's services)"
            )
        labels: dict[str, str] = {"service_id": pd.service.id or ""}
        if pd.service.summary:
            labels["service"] = pd.service.summary
        if pd.urgency:
            labels["urgency"] = pd.urgency
        priority = pd.priority and (pd.priority.summary or pd.priority.name)
        if priority:
            labels["priority"] = priority
        if pd.incident_number is not None:
            labels["incident_number"] = str(pd.incident_number)
        if pd.html_url:
            labels["url"] = pd.html_url
        title = pd.title or pd.summary or pd.description or pd.id
        ends_at = None
        if pd.status == "resolved":
            ends_at = pd.resolved_at or pd.last_status_change_at
        incident = Incident(
            id=pd.id,
            source=self.name,
            workflow=workflow,
            title=title,
            severity=severity_of(pd),
            status=pd.status,
            starts_at=pd.created_at,
            ends_at=ends_at,
            summary=pd.description if pd.description and pd.description != title else None,
            labels=labels,
        )
        return incident, ""

    def _clean(self, text: str, limit: int) -> str:
        return self._api.clean(text, limit)

    def _fail(self, what: str, todo: str, where: str | None = None) -> NoReturn:
        raise ConnectorError(f"{where or self._where}: {what}; {todo}") from None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the reply"
    return f"{where}: {first['msg']}"


PLUGIN = PagerDutySource

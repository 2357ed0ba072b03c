"""A kill switch behind a plain HTTP endpoint, and what every HTTP kill switch shares.

The card says how to set the flag (``method`` to ``url`` with a JSON ``body`` template) and how to
read it back (GET ``read_url`` and take the dotted path ``read_json`` from the JSON reply)::

    kill_switch:
      backend: http
      url: https://flags.internal/api/flags/billing
      body: '{"flag": "{flag}", "state": "{state}", "env": "{environment}"}'
      read_json: data.state

``{flag}``, ``{state}`` and ``{environment}`` are replaced by the JSON-escaped text of each value,
so a value holding quotes or backslashes stays inside its string; the filled-in body must parse
as JSON or nothing is sent. The token, if any, goes as ``Authorization: Bearer …``.

:class:`HttpSwitchClient` is the part every HTTP backend shares: one request with explicit
timeouts, and every failure turned into one :class:`SwitchError` line
``"<kind> <endpoint>: <what happened>; <what to do>"`` that never holds the token. Whatever the
server said is untrusted text: it is cut short, control characters are removed, and the token is
masked should the server echo it back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from pydantic import model_validator

from store.jsonapi import JsonApi, looks_html, retry_after
from store.plugins import LazyModule, Login
from store.switches.base import (
    FlagReading,
    FlagValue,
    SwitchError,
    SwitchPlugin,
    SwitchRequest,
    SwitchTargetBase,
)
from store.text import MASK, clean_excerpt, display_url

#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "check the service is up and try again",
    "connect": "check the URL in the agent card and that the service is up; "
    "use the card's fallback channel if it stays down",
    "url": "fix the URL in the card",
    "cut": "try again; if it persists the server or a proxy cuts replies short",
}
_WRITE_TIMEOUT = "the change may or may not have been made: read the flag back first"

if TYPE_CHECKING:
    import httpx
else:  # imported on first use: reading the cards does not need it
    httpx = LazyModule("httpx")

#: The placeholders a body template may hold.
_PLACEHOLDER = re.compile(r"\{(flag|state|environment)\}")


def wait_hint(response: httpx.Response) -> str:
    """How long a 429 asks us to wait, from ``Retry-After`` (seconds or a date) or a
    ``X-Ratelimit-Reset`` epoch in milliseconds; "" when it does not say."""
    seconds = retry_after(response.headers.get("retry-after"))
    if seconds is not None:
        return f"the server asks to wait {round(seconds)} s (Retry-After)"
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    if reset.isdigit():
        seconds = int(reset) / 1000 - time.time()
        return f"the rate limit resets in {max(0, round(seconds))} s"
    return ""


#: Every status comes back to the backend, which says what each means for a kill switch.
_EVERY_STATUS = range(100, 600)


class HttpSwitchClient:
    """One backend's requests: explicit timeouts, and failures as one-line SwitchErrors."""

    def __init__(
        self,
        *,
        kind: str,
        endpoint: str,
        credential: str,
        token: str | None,
        timeout: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.credential = credential
        self._token = token
        self.timeout = timeout
        # One request each, never retried: an operator is watching, and a write repeated
        # after a lost reply is not what they asked for.
        self._api = JsonApi(
            kind,
            "",
            secrets=[token],
            timeout=timeout,
            transport=transport,
            error=SwitchError,
            where=lambda method, path: f"{kind} {endpoint}",
            todo=_TODO,
        )

    def fail(self, what: str, todo: str) -> NoReturn:
        """Raise the one-line error for this backend (without the low-level exception chained:
        it may hold request details that are not ours to show)."""
        raise SwitchError(f"{self.kind} {self.endpoint}: {what}; {todo}") from None

    def excerpt(self, text: str, limit: int = 80) -> str:
        """Untrusted text from the server, safe for a message."""
        return clean_excerpt(text, secrets=[self._token], limit=limit)

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: Any = None,
        writes: bool = False,
    ) -> httpx.Response:
        """Send one request; a network failure becomes a SwitchError. ``writes`` marks a
        request that changes the flag: if it times out, the change may have been made."""
        content = None if body is None else json.dumps(body).encode("utf-8")
        todo = {"timeout": _WRITE_TIMEOUT} if writes else None
        return self._api.request(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            allow=_EVERY_STATUS,
            retry=False,
            todo=todo,
        )

    def server_says(self, response: httpx.Response) -> str:
        """The server's own words about a failure, as a short clean excerpt ("" if none)."""
        if looks_html(response):
            return "an HTML page"
        try:
            data = response.json()
        except ValueError:
            return self.excerpt(response.text, 60)
        if isinstance(data, dict):
            error = data.get("error")
            for said in (
                data.get("message"),
                error.get("message") if isinstance(error, dict) else error,
            ):
                if isinstance(said, str) and said:
                    return self.excerpt(said, 60)
        return self.excerpt(response.text, 60)

    def refuse(
        self,
        response: httpx.Response,
        *,
        not_found: str,
        refused: str,
        overrides: Mapping[int, tuple[str, str]] | None = None,
    ) -> NoReturn:
        """Raise the error for a reply that is not a success. ``not_found`` and ``refused`` say
        what to do on a 404 and on another 4xx; ``overrides`` give (what, todo) per status."""
        code = response.status_code
        said = self.server_says(response)
        status = f"{code}: {said}" if said else str(code)
        if overrides and code in overrides:
            what, todo = overrides[code]
            self.fail(f"{what} ({status})", todo)
        if code == 401:
            self.fail(
                f"the token was refused ({status})", f"run `agentdeck login {self.credential}`"
            )
        if code == 403:
            self.fail(
                f"the token may not do this ({status})",
                f"give the token `{self.credential}` the right to change this flag",
            )
        if code == 404:
            self.fail(f"not found ({status})", not_found)
        if code == 429:
            hint = wait_hint(response)
            todo = f"{hint}, then try again" if hint else "wait a little and try again"
            self.fail(f"rate limited ({status})", todo)
        if 300 <= code < 400:
            target = display_url(response.headers.get("location", "")) or "somewhere else"
            self.fail(
                f"redirected ({code}) to {self.excerpt(target, 80)}",
                "put the final URL in the agent card",
            )
        if code >= 500:
            self.fail(
                f"server error ({status})",
                "try again shortly, or use the card's fallback channel",
            )
        self.fail(f"refused ({status})", refused)

    def json_of(self, response: httpx.Response, *, todo: str) -> Any:
        """The JSON of a successful reply; HTML, cut-off or non-JSON text is a SwitchError."""
        html = f"a login page or a proxy is in the way: {todo}"
        # The message names the backend's endpoint, whichever request this was the reply to.
        return self._api.parse("GET", "", response, todo={"html": html, "json": todo})


def dig(data: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (``data.flags.0.state``) into JSON: (found, value)."""
    here = data
    for step in path.split("."):
        if isinstance(here, dict) and step in here:
            here = here[step]
        elif isinstance(here, list) and step.isdigit() and int(step) < len(here):
            here = here[int(step)]
        else:
            return False, None
    return True, here


class HttpTarget(SwitchTargetBase):
    """``backend: http``: ``method`` to ``url`` with the ``body`` template (``{flag}``,
    ``{state}``, ``{environment}`` are filled in); read back with GET ``read_url`` (default
    ``url``) at the dotted JSON path ``read_json``."""

    backend: Literal["http"]

    @model_validator(mode="after")
    def _needs(self) -> HttpTarget:
        self.needs("url", "body", "read_json")
        return self


class HttpBackend(SwitchPlugin):
    """A flag set by one HTTP request and read back by a GET. Values are variant names."""

    kind = "http"
    values: Literal["binary", "variant"] = "variant"
    backend = "http"
    config_model = HttpTarget
    login: ClassVar[Login | None] = Login("Token")

    @classmethod
    def from_config(
        cls,
        target: SwitchTargetBase,
        root: Path,
        *,
        token: str | None,
        transport: Any = None,
    ) -> HttpBackend:
        return cls(
            target.url or "",
            method=target.method,
            body_template=target.body or "",
            read_url=target.read_url,
            read_json=target.read_json or "",
            flag=target.flag,
            environment=target.environment,
            token=token,
            credential=target.secret_name or cls.backend,
            timeout=target.timeout,
            transport=transport,
        )

    def __init__(
        self,
        url: str,
        *,
        method: str = "PUT",
        body_template: str,
        read_url: str | None = None,
        read_json: str,
        flag: str,
        environment: str | None = None,
        token: str | None = None,
        credential: str = "http",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.method = method.upper()
        self.body_template = body_template
        self.read_url = read_url or url
        self.read_json = read_json
        self.flag = flag
        self.environment = environment
        self.endpoint = display_url(url)
        self._token = token
        self._http = HttpSwitchClient(
            kind=self.kind,
            endpoint=self.endpoint,
            credential=credential,
            token=token,
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"HttpBackend({self.endpoint!r}, flag={self.flag!r})"

    def _headers(self, *, masked: bool = False) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = MASK if masked else f"Bearer {self._token}"
        return headers

    def body(self, value: FlagValue) -> Any:
        """The request body for ``value``: the template filled in, parsed as JSON."""
        if not isinstance(value, str):
            self._http.fail(
                f"an HTTP kill switch takes a state name, not {value!r}",
                "pass one of the switch states",
            )
        values = {"flag": self.flag, "state": value, "environment": self.environment}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            text = values[name]
            if text is None:
                self._http.fail(
                    "the body template uses {environment} but no environment is set",
                    "set kill_switch.environment in the agent card",
                )
            # The JSON escape of the text, without its quotes: it stays inside its string.
            return json.dumps(text, ensure_ascii=False)[1:-1]

        filled = _PLACEHOLDER.sub(fill, self.body_template)
        try:
            return json.loads(filled)
        except json.JSONDecodeError as exc:
            self._http.fail(
                f"the body template is not JSON once filled in ({exc.msg}, column {exc.colno})",
                "fix kill_switch.body in the agent card (placeholders go inside quotes)",
            )

    def probe(self) -> None:
        """The body template fills in, and the read-back URL answers with the flag's state."""
        self.body("disabled")
        reading = self.read()
        if reading.value is None:
            self._http.fail(
                f"cannot read the flag back ({reading.detail})",
                "check read_url and read_json in the agent card",
            )

    def read(self) -> FlagReading:
        """GET ``read_url`` and take ``read_json`` from the reply."""
        where = display_url(self.read_url)
        response = self._http.send("GET", self.read_url, headers=self._headers())
        if response.status_code == 404:
            return FlagReading(None, f"GET {where} answered 404")
        if not 200 <= response.status_code < 300:
            self._http.refuse(
                response,
                not_found="check read_url in the agent card",
                refused="check read_url in the agent card",
            )
        data = self._http.json_of(response, todo="check read_url in the agent card")
        found, value = dig(data, self.read_json)
        if not found or value is None:
            return FlagReading(None, f"GET {where}: no {self.read_json} in the reply")
        if not isinstance(value, str):
            self._http.fail(
                f"{self.read_json} in the reply is {type(value).__name__} "
                f"{self._http.excerpt(json.dumps(value), 30)}, not a state name",
                "point read_json at the text naming the state",
            )
        return FlagReading(value, f"GET {where}: {self.read_json} = {self._http.excerpt(value)!r}")

    def plan(self, value: FlagValue) -> SwitchRequest:
        """The request ``write(value)`` will send, the token masked."""
        headers = {**self._headers(masked=True), "Content-Type": "application/json"}
        return SwitchRequest(
            method=self.method, target=display_url(self.url), headers=headers, body=self.body(value)
        )

    def write(self, value: FlagValue) -> None:
        """Send the filled-in body; any 2xx is success (read the flag back to verify)."""
        body = self.body(value)
        headers = {**self._headers(), "Content-Type": "application/json"}
        response = self._http.send(self.method, self.url, headers=headers, body=body, writes=True)
        if not 200 <= response.status_code < 300:
            self._http.refuse(
                response,
                not_found="check url in the agent card",
                refused="check the body template and url in the agent card",
            )


PLUGIN = HttpBackend

"""Unleash as a kill-switch backend: one feature flag, on or off in one environment.

Through the Admin API with an admin (or suitably scoped personal) token, sent as Unleash wants
it, bare in ``Authorization``:

- read: ``GET /api/admin/projects/{project}/features/{flag}``, the environment's ``enabled``;
- write: ``POST …/features/{flag}/environments/{environment}/on`` (or ``/off``).

Turning an environment on that has no strategy makes Unleash add its default one (a 100 %
rollout), so ``on`` means on for everyone. Every failure is one :class:`SwitchError` line,
``"unleash <endpoint>: <what happened>; <what to do>"``; the token never appears in it (nor in
a plan, nor in ``repr``), and whatever the server said is cut short with control characters
removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from store.jsonapi import JsonApi
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

if TYPE_CHECKING:
    import httpx
else:  # imported on first use: reading the cards does not need it
    httpx = LazyModule("httpx")

#: Longest excerpt of a server's text quoted in a message.


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class FeatureEnvironment(_Model):
    """One environment of a feature as the Admin API lists it."""

    name: str
    enabled: bool


class Feature(_Model):
    """``GET /api/admin/projects/{project}/features/{flag}`` (the fields agentdeck reads)."""

    name: str
    archived: bool = False
    environments: list[FeatureEnvironment]


def base_url(url: str) -> str:
    """The server's base URL: ``http://host:4242/api/`` and ``http://host:4242/`` become
    ``http://host:4242``."""
    url = url.strip().rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")].rstrip("/")
    return url


def _segment(text: str) -> str:
    return quote(text, safe="")


#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "Unleash is unreachable: check that it is up",
    "connect": "Unleash is unreachable: check that it is running and the card's kill_switch url",
    "url": "fix the kill_switch url (http://host:4242)",
    "html": "check that the url is the Unleash server (e.g. http://host:4242)",
    "json": "check that the url is the Unleash server (e.g. http://host:4242)",
}
_WRITE_TIMEOUT = "the flag may or may not have changed: read it back, and check that Unleash is up"


class UnleashTarget(SwitchTargetBase):
    """``backend: unleash``: ``url`` (the server's base URL), ``project`` (default
    ``default``), ``environment``; the flag is on/off. On is the card's tier, off is
    ``off_state``."""

    backend: Literal["unleash"]

    @model_validator(mode="after")
    def _needs(self) -> UnleashTarget:
        self.needs("url", "environment")
        return self


class UnleashBackend(SwitchPlugin):
    """One Unleash flag in one project and environment (implements :class:`SwitchBackend`)."""

    kind = "unleash"
    values: Literal["binary", "variant"] = "binary"
    backend = "unleash"
    config_model = UnleashTarget
    login: ClassVar[Login | None] = Login("Token")
    binary = True

    @classmethod
    def from_config(
        cls,
        target: SwitchTargetBase,
        root: Path,
        *,
        token: str | None,
        transport: Any = None,
    ) -> UnleashBackend:
        return cls(
            target.url or "",
            project=target.project or "default",
            environment=target.environment or "",
            flag=target.flag,
            token=token or "",
            credential=target.secret_name or cls.backend,
            timeout=target.timeout,
            transport=transport,
        )

    def __init__(
        self,
        url: str,
        *,
        project: str = "default",
        environment: str,
        flag: str,
        token: str,
        credential: str = "unleash",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url(url)
        self.project = project
        self.environment = environment
        self.flag = flag
        self.credential = credential
        self.timeout = timeout
        self._token = token
        # One request each, never retried: an operator is watching, and a write repeated after
        # a lost reply is not what they asked for.
        self._api = JsonApi(
            "unleash",
            "",
            headers={"Authorization": token} if token else None,
            secrets=[token],
            timeout=timeout,
            transport=transport,
            error=SwitchError,
            where=lambda method, url: f"unleash {display_url(url)}",
            todo=_TODO,
        )
        self.feature_url = (
            f"{self.url}/api/admin/projects/{_segment(project)}/features/{_segment(flag)}"
        )
        #: Where the flag lives, for messages and the audit trail (never with a secret).
        self.endpoint = display_url(self.feature_url)

    def __repr__(self) -> str:
        return f"UnleashBackend({self.endpoint!r}, environment={self.environment!r})"

    def switch_url(self, value: bool) -> str:
        """The URL that turns the flag on (True) or off (False) in the environment."""
        state = "on" if value else "off"
        return f"{self.feature_url}/environments/{_segment(self.environment)}/{state}"

    def probe(self) -> None:
        """Reach the server, check the token is accepted and the flag exists."""
        feature = self._feature()
        if feature is None:
            self._fail(
                self.feature_url,
                f"flag {self.flag!r} or project {self.project!r} not found (HTTP 404)",
                "check the card's kill_switch flag and project",
            )
        if self._environment(feature) is None:
            self._fail(
                self.feature_url,
                f"the flag has no environment {self.environment!r} "
                f"(it has {', '.join(e.name for e in feature.environments) or 'none'})",
                "check the card's kill_switch environment and the project's environments",
            )

    def read(self) -> FlagReading:
        """The flag's state in the environment; value None if the flag or environment is
        not there."""
        feature = self._feature()
        if feature is None:
            return FlagReading(None, f"flag {self.flag!r} not found in project {self.project!r}")
        env = self._environment(feature)
        if env is None:
            return FlagReading(None, f"{self.environment}: no such environment on the flag")
        detail = f"{env.name}: {'on' if env.enabled else 'off'}"
        if feature.archived:
            detail += " (archived)"
        return FlagReading(env.enabled, detail)

    def plan(self, value: FlagValue) -> SwitchRequest:
        """The POST ``write(value)`` would send, the token masked."""
        return SwitchRequest(
            method="POST",
            target=display_url(self.switch_url(self._binary(value))),
            headers={"Authorization": MASK},
            body=None,
        )

    def write(self, value: FlagValue) -> None:
        """Turn the flag on or off in the environment."""
        url = self.switch_url(self._binary(value))
        reply = self._send("POST", url)
        if reply.status_code == 404:
            self._fail(
                url,
                f"not found (HTTP 404, {self._says(reply)})",
                "check the card's kill_switch flag, project and environment",
            )
        self._check(url, reply)

    # --- plumbing ----------------------------------------------------------------------------

    def _binary(self, value: FlagValue) -> bool:
        if not isinstance(value, bool):
            self._fail(
                self.feature_url,
                f"an Unleash flag is on or off, not {clean_excerpt(str(value), limit=40)!r}",
                "use true (on) or false (off)",
            )
        return value

    def _feature(self) -> Feature | None:
        """The flag as the Admin API has it; None when it answers 404 (no flag or project)."""
        reply = self._send("GET", self.feature_url)
        if reply.status_code == 404:
            return None
        self._check(self.feature_url, reply)
        data = self._api.parse("GET", self.feature_url, reply)
        try:
            return Feature.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "the reply"
            problem = clean_excerpt(f"{where}: {error['msg']}")
            self._fail(
                self.feature_url,
                f"the reply is not an Unleash feature ({problem})",
                "check that the url is the Unleash server (e.g. http://host:4242)",
            )

    def _environment(self, feature: Feature) -> FeatureEnvironment | None:
        return next((e for e in feature.environments if e.name == self.environment), None)

    def _send(self, method: str, url: str) -> httpx.Response:
        if not self._token:
            self._fail(url, "no token", f"run `agentdeck login {self.credential}`")
        todo = {"timeout": _WRITE_TIMEOUT} if method != "GET" else None
        return self._api.request(method, url, allow=range(100, 600), retry=False, todo=todo)

    def _check(self, url: str, reply: httpx.Response) -> None:
        if reply.status_code in (401, 403):
            self._fail(
                url,
                f"the token was refused (HTTP {reply.status_code}, {self._says(reply)})",
                f"run `agentdeck login {self.credential}` with an Unleash admin token",
            )
        if not 200 <= reply.status_code < 300:
            self._fail(
                url,
                f"HTTP {reply.status_code} ({self._says(reply)})",
                "check that Unleash is healthy and try again",
            )

    def _says(self, reply: httpx.Response) -> str:
        text = reply.content.decode("utf-8", errors="replace")
        try:
            data: Any = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        # Unleash errors are {"name": ..., "message": ...}: the message is the useful part.
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            text = data["message"]
        text = self._api.clean(text)
        return f"the server says {text!r}" if text else "no message"

    def _fail(self, url: str, what: str, todo: str) -> NoReturn:
        self._api.fail("", url, what, todo)


PLUGIN = UnleashBackend

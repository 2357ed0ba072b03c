"""A kill switch on a LaunchDarkly flag: on/off in one environment, through the REST API v2.

Turning the flag on or off is a *semantic patch* (LaunchDarkly's documented way to change one
thing without sending the whole flag)::

    PATCH /api/v2/flags/{project}/{flag}
    Content-Type: application/json; domain-model=launchdarkly.semanticpatch
    {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]}

and reading it back is ``GET /api/v2/flags/{project}/{flag}?env={environment}``, whose reply
holds ``environments.{environment}.on``. The access token goes in ``Authorization`` as it is (no
``Bearer``), as the API documents. Off serves the flag's off variation to every context, which
is why a kill switch maps "stop" to off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.plugins import LazyModule, Login
from store.switches.base import (
    FlagReading,
    FlagValue,
    SwitchPlugin,
    SwitchRequest,
    SwitchTargetBase,
)
from store.switches.http import MASK, HttpSwitchClient

if TYPE_CHECKING:
    import httpx
else:  # imported on first use: reading the cards does not need it
    httpx = LazyModule("httpx")

SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class FlagEnvironment(_Reply):
    """The part of a flag's ``FeatureFlagConfig`` a kill switch needs."""

    #: Strict: "yes" or 1 is a reply we do not understand, not "on".
    on: bool = Field(strict=True)
    version: int | None = None
    lastModified: int | None = None  # noqa: N815 - the API's name
    archived: bool | None = None


class FeatureFlagReply(_Reply):
    """``FeatureFlag`` from ``GET /api/v2/flags/{project}/{flag}``, the fields we use."""

    key: str
    kind: str | None = None
    archived: bool = False
    environments: dict[str, FlagEnvironment] = {}


class LaunchDarklyTarget(SwitchTargetBase):
    """``backend: launchdarkly``: ``project`` and ``environment`` (``url`` defaults to
    LaunchDarkly's API); on/off like Unleash."""

    backend: Literal["launchdarkly"]

    @model_validator(mode="after")
    def _needs(self) -> LaunchDarklyTarget:
        self.needs("project", "environment")
        return self


class LaunchDarklyBackend(SwitchPlugin):
    """One flag in one LaunchDarkly environment. Values are True (on) and False (off)."""

    kind = "launchdarkly"
    values: Literal["binary", "variant"] = "binary"
    backend = "launchdarkly"
    config_model = LaunchDarklyTarget
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
    ) -> LaunchDarklyBackend:
        return cls(
            target.url or "https://app.launchdarkly.com",
            project=target.project or "",
            environment=target.environment or "",
            flag=target.flag,
            token=token or "",
            credential=target.secret_name or cls.backend,
            timeout=target.timeout,
            transport=transport,
        )

    def __init__(
        self,
        url: str = "https://app.launchdarkly.com",
        *,
        project: str,
        environment: str,
        flag: str,
        token: str,
        credential: str = "launchdarkly",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.project = project
        self.environment = environment
        self.flag = flag
        base = url.rstrip("/")
        self.flag_url = f"{base}/api/v2/flags/{quote(project, safe='')}/{quote(flag, safe='')}"
        self.endpoint = self.flag_url
        self.credential = credential
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
        return f"LaunchDarklyBackend({self.endpoint!r}, environment={self.environment!r})"

    def _not_found(self) -> str:
        return (
            f"check kill_switch.project ({self.project!r}) and flag ({self.flag!r}) "
            "in the agent card"
        )

    def _headers(self, *, masked: bool = False, patch: bool = False) -> dict[str, str]:
        headers = {"Accept": "application/json", "Authorization": MASK if masked else self._token}
        if patch:
            headers["Content-Type"] = SEMANTIC_PATCH
        return headers

    def _body(self, value: FlagValue) -> dict[str, Any]:
        if not isinstance(value, bool):
            self._http.fail(
                f"a LaunchDarkly kill switch is on or off, not {value!r}", "pass True or False"
            )
        return {
            "environmentKey": self.environment,
            "instructions": [{"kind": "turnFlagOn" if value else "turnFlagOff"}],
        }

    def _flag(self, response: httpx.Response) -> FeatureFlagReply:
        data = self._http.json_of(response, todo="check the url in the agent card")
        try:
            return FeatureFlagReply.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the reply"
            self._http.fail(
                f"the reply is not a feature flag ({where}: {first['msg']})",
                "check the url in the agent card points at LaunchDarkly's API",
            )

    def probe(self) -> None:
        """The flag exists in the project and environment and the token may read it."""
        response = self._http.send(
            "GET", self.flag_url, headers=self._headers(), params={"env": self.environment}
        )
        if not 200 <= response.status_code < 300:
            self._refuse(response)
        if self.environment not in self._flag(response).environments:
            self._http.fail(
                f"the flag has no environment {self.environment!r}",
                "check kill_switch.environment in the agent card (the environment's key)",
            )

    def read(self) -> FlagReading:
        """Whether the flag is on in the environment; None when the flag or environment is
        not there."""
        response = self._http.send(
            "GET", self.flag_url, headers=self._headers(), params={"env": self.environment}
        )
        if response.status_code == 404:
            return FlagReading(None, f"no flag {self.flag!r} in project {self.project!r} (404)")
        if not 200 <= response.status_code < 300:
            self._refuse(response)
        flag = self._flag(response)
        env = flag.environments.get(self.environment)
        if env is None:
            return FlagReading(None, f"the flag has no environment {self.environment!r}")
        detail = f"{self.environment}: {'on' if env.on else 'off'}"
        if env.version is not None:
            detail += f", version {env.version}"
        if env.lastModified is not None:
            detail += f", lastModified {env.lastModified}"
        if flag.archived:
            detail += "; the flag is archived"
        return FlagReading(env.on, detail)

    def plan(self, value: FlagValue) -> SwitchRequest:
        """The semantic patch ``write(value)`` will send, the token masked."""
        return SwitchRequest(
            method="PATCH",
            target=self.flag_url,
            headers=self._headers(masked=True, patch=True),
            body=self._body(value),
        )

    def write(self, value: FlagValue) -> None:
        """Turn the flag on (True) or off (False) in the environment."""
        body = self._body(value)
        response = self._http.send(
            "PATCH", self.flag_url, headers=self._headers(patch=True), body=body, writes=True
        )
        if not 200 <= response.status_code < 300:
            self._refuse(response)
        env = self._flag(response).environments.get(self.environment)
        if env is not None and env.on is not value:
            self._http.fail(
                f"accepted the change but the flag is still {'on' if env.on else 'off'}",
                "read the flag back, and check LaunchDarkly for a pending approval",
            )

    def _refuse(self, response: httpx.Response) -> NoReturn:
        self._http.refuse(
            response,
            not_found=self._not_found(),
            refused="check the agent card's project, environment and flag",
            overrides={
                403: (
                    "the token may not change this flag",
                    f"give the token `{self.credential}` a role that may update flags in "
                    f"{self.environment!r}",
                ),
                405: (
                    "LaunchDarkly requires an approval for this change",
                    "request the approval in LaunchDarkly, or use the card's fallback channel",
                ),
                409: (
                    "the change conflicts with another one",
                    "read the flag back and try again",
                ),
            },
        )


PLUGIN = LaunchDarklyBackend

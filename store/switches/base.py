"""The interface every kill-switch backend implements.

A backend reads and writes one flag. Binary backends (Unleash, LaunchDarkly) hold ``True``/
``False`` (on/off); variant backends (a flagd file, a generic HTTP endpoint) hold a string (the
variant, e.g. ``"suggest-only"``). The caller always: ``probe()`` first (reachable, authorised),
shows ``plan(value)`` to the operator, then ``write(value)``, then ``read()`` to verify.

Errors are :class:`SwitchError`, one line naming the backend and the endpoint and what to do;
secrets never appear in them, nor in a :class:`SwitchRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializeAsAny,
    model_validator,
)

from store.documents import LocatedError
from store.plugins import SWITCHES, Login

#: What a flag holds: on/off for binary backends, a variant name for variant backends.
FlagValue = bool | str


class SwitchError(Exception):
    """A kill-switch backend could not be reached, refused, or answered something unexpected.

    ``str(err)`` is one line: ``"<backend> <endpoint>: <what happened>; <what to do>"``.
    """


@dataclass(frozen=True)
class SwitchRequest:
    """Exactly what ``write`` will send, for the operator to read before confirming.

    ``headers`` have secrets masked (``Authorization: ****``); ``body`` is the JSON body (or the
    file's new content for a flag file).
    """

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class FlagReading:
    """A flag as read from the backend. ``value`` is None when the flag could not be found."""

    value: FlagValue | None
    #: A short, secrets-free description of what was read (for the audit trail).
    detail: str = ""


@runtime_checkable
class SwitchBackend(Protocol):
    """One flag on one backend."""

    #: "unleash" | "flagd" | "http" | "launchdarkly"
    kind: str
    #: Where the flag lives, for messages: a URL or a file path (never a secret).
    endpoint: str
    #: "binary" (True/False) or "variant" (a string).
    values: Literal["binary", "variant"]

    def probe(self) -> None:
        """Check the backend is reachable and the credentials work; raise SwitchError if not."""
        ...

    def read(self) -> FlagReading:
        """Read the flag's current value from the backend; raise SwitchError if it cannot."""
        ...

    def plan(self, value: FlagValue) -> SwitchRequest:
        """What ``write(value)`` would send, secrets masked. Sends nothing."""
        ...

    def write(self, value: FlagValue) -> None:
        """Set the flag to ``value``; raise SwitchError if the backend refuses or is down."""
        ...


#: What a kill switch can set: a tier, or "disabled" (the workflow does nothing at all).
SwitchState = Literal["disabled", "suggest-only", "human-approve", "auto-act"]


class SwitchTargetBase(BaseModel):
    """Where a workflow's kill switch lives (an agent card's ``kill_switch``, or its
    ``fallback``): one flag on one backend. A backend's model subclasses it with
    ``backend: Literal["<backend>"]`` and its checks (store/plugins.py).

    ``credential`` names the keyring secret (``agentdeck login NAME``); it defaults to the
    backend name. A backend whose ``login`` is None (a flagd file) needs none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    backend: str
    flag: str = Field(min_length=1)
    environment: str | None = None
    project: str | None = None
    url: str | None = None
    path: str | None = None
    credential: str | None = None
    #: On/off backends: the state the agent falls to when the flag is off.
    off_state: SwitchState = "suggest-only"
    method: Literal["PUT", "POST", "PATCH"] = "PUT"
    body: str | None = None
    read_url: str | None = None
    read_json: str | None = None
    #: Seconds before a request gives up.
    timeout: float = Field(default=10.0, gt=0)
    #: The card's kill switch only: a second channel to use when the first fails.
    fallback: SwitchTarget | None = None

    @model_validator(mode="after")
    def _one_fallback(self) -> SwitchTargetBase:
        if self.fallback is not None and self.fallback.fallback is not None:
            raise LocatedError("a fallback has no fallback of its own", ("fallback", "fallback"))
        return self

    def needs(self, *keys: str) -> None:
        """Refuse the target when one of ``keys`` is not set, naming them all."""
        missing = [key for key in keys if not getattr(self, key)]
        if missing:
            raise ValueError(f"a {self.backend} kill switch needs {', '.join(missing)}")

    @property
    def plugin(self) -> type[SwitchPlugin]:
        plugin: type[SwitchPlugin] = SWITCHES.get(self.backend)
        return plugin

    @property
    def secret_name(self) -> str | None:
        """The keyring name of this target's token; None for a backend that needs none."""
        if self.plugin.login is None:
            return None
        return self.credential or self.backend

    @property
    def binary(self) -> bool:
        """True when the flag is only on/off (Unleash, LaunchDarkly)."""
        return self.plugin.binary


#: A kill switch in a card: the model of its ``backend``, found in ``store/switches/<backend>.py``
#: (a union discriminated on ``backend``, each member a :class:`SwitchTargetBase`).
SwitchTarget = Annotated[
    SerializeAsAny[SwitchTargetBase], PlainValidator(SWITCHES.validate), SWITCHES
]
# ``fallback`` names this type, defined only now: resolved here, so that each backend's model
# (in its own module) inherits the field complete.
SwitchTargetBase.model_rebuild()


class SwitchPlugin:
    """The base of every kill-switch backend: its declarations. A backend's module subclasses
    it, implements :class:`SwitchBackend` and ``from_config``, and ends with
    ``PLUGIN = <the class>``."""

    #: The ``backend`` of its cards' kill switches.
    backend: ClassVar[str]
    #: The pydantic model of such a kill switch (a :class:`SwitchTargetBase`).
    config_model: ClassVar[type[SwitchTargetBase]]
    #: What ``agentdeck login NAME`` asks for; None: it needs no secret (a flag file).
    login: ClassVar[Login | None]
    #: The flag is only on/off (the card's tier, or ``off_state``); else it holds the state.
    binary: ClassVar[bool] = False

    @classmethod
    def from_config(
        cls,
        target: SwitchTargetBase,
        root: Path,
        *,
        token: str | None,
        transport: Any = None,
    ) -> Self:
        """The client of one kill switch; ``root`` is the workspace (for relative paths),
        ``token`` the secret named by ``target.secret_name`` (None when ``login`` is None)."""
        raise NotImplementedError

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
from typing import Any, Literal, Protocol, runtime_checkable

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

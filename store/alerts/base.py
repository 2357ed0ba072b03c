"""The interface every alert source implements.

``list_incidents`` returns what the source says is firing or open *now*, as
:class:`store.models.Incident` records with ``source`` set to the source's configured name. The
sync marks an incident of that source that is no longer listed as resolved. A reply that is not
what the API documents (HTML, truncated JSON, the wrong shape) raises
:class:`store.connectors.base.ConnectorError` naming the endpoint; nothing is stored from it.

A source that can also be *told* that someone is on an incident declares it by implementing
:class:`Acknowledges` (Alertmanager: a silence; PagerDuty: an acknowledgement and a note).
``runbooks.notify`` drives it without knowing which kind it is: it hands the source an
:class:`AlertTarget` (what the local copy keeps of the incident) and a :data:`Journal` that
writes one audit entry per call made and one per result. A result entry whose body has
``"holds": REF`` created something a release undoes (an Alertmanager silence id); one with
``"freed": REF`` undid it. ``runbooks.notify`` finds what is still held from those two keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from store.plugins import Login

if TYPE_CHECKING:
    from store.connectors.base import Listed
    from store.models import Incident

#: Reads a secret by name (``store.credentials.get_secret``, or a stand-in in tests).
SecretReader = Callable[[str], str | None]

#: Writes one audit entry (``kind``, JSON ``body``) for the incident being told, committed when
#: it returns, and returns the entry's sequence number. Bodies never hold a secret.
Journal = Callable[[str, dict[str, Any]], int]


@runtime_checkable
class AlertSource(Protocol):
    """A source of incidents."""

    #: The source's name in ``agentdeck.toml``; the ``source`` of every incident it yields.
    name: str
    #: The API's base URL, for messages.
    endpoint: str

    def list_incidents(self) -> Listed[Incident]:
        """Open incidents now (and recently resolved ones, where the API says so)."""
        ...


@dataclass(frozen=True)
class AlertTarget:
    """What the local copy keeps of one incident: enough to tell its source about it.

    ``labels`` are the alert's labels as last synced (for Alertmanager, every label of the alert;
    the incident id is the alert's fingerprint). Everything here is untrusted text.
    """

    source: str
    incident_id: str
    title: str
    status: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Told:
    """What telling an alert source did, in one line.

    ``ok``: the source holds what was asked (or there was nothing to send). ``summary`` is the
    line for the screen; on failure it equals ``error``, which names the source, the endpoint
    and what to do. ``holds``: what this call created that a release undoes (silence ids);
    ``freed``: what a release undid. ``until``: when the quiet ends (a silence's ``endsAt``).
    ``sent``: whether any request that changes something reached the source.
    """

    ok: bool
    summary: str
    error: str | None = None
    sent: bool = False
    holds: tuple[str, ...] = ()
    freed: tuple[str, ...] = ()
    until: datetime | None = None


@runtime_checkable
class Acknowledges(Protocol):
    """An alert source that can be told someone is on an incident, and that they are done.

    Neither method raises for anything the source or the network does: a refusal, a server that
    cannot be reached, or a reply that is not what the API documents is ``Told(ok=False)`` with
    one line. Each request that changes something is journalled before it is sent and its result
    after; a drill journals what would be sent and sends nothing.
    """

    name: str
    endpoint: str

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
        """Tell the source ``operator`` is on ``target`` (for ``minutes``, where it applies).

        ``refers_to``: the audit entry the action answers (a kill-switch action), named in what
        is sent; None names the journal's own first entry.
        """
        ...

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
        """Undo what earlier acknowledgements still hold (``holds``), or say there is nothing."""
        ...


class AlertSourceConfigBase(BaseModel):
    """One ``[[alerts]]`` table of ``agentdeck.toml``. A kind's model subclasses it with
    ``kind: Literal["<kind>"]`` and its checks (store/plugins.py). Tokens are never here:
    ``agentdeck login NAME`` keeps them in the OS keyring under the source's name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: str
    url: str = Field(min_length=1)
    #: Alertmanager: the alert label that names the workflow, and the one naming the failure mode.
    workflow_label: str = "workflow"
    failure_mode_label: str = "failure_mode"
    #: Alertmanager: label matchers sent as ``filter`` (e.g. ``team="billing"``).
    filters: list[str] = Field(default_factory=list)
    #: PagerDuty: the services to list (``service_ids[]``), and the workflow of each service id.
    services: dict[str, str] = Field(default_factory=dict)
    #: Seconds before a request gives up.
    timeout: float = Field(default=10.0, gt=0)
    #: PagerDuty: the operator's email, sent as ``From`` to acknowledge an incident and add a
    #: note (PagerDuty requires a user of the account there). Without it nothing is sent.
    from_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AlertSourcePlugin:
    """The base of every alert source kind: its declarations. A kind's module subclasses it,
    implements :class:`AlertSource` (and :class:`Acknowledges` if it can be told) and
    ``from_config``, and ends with ``PLUGIN = <the class>``."""

    #: The ``kind`` of its ``[[alerts]]`` tables.
    kind: ClassVar[str]
    #: The pydantic model of such a table (an :class:`AlertSourceConfigBase`).
    config_model: ClassVar[type[AlertSourceConfigBase]]
    #: What ``agentdeck login NAME`` asks for; None: the kind needs no secret.
    login: ClassVar[Login | None]

    @classmethod
    def from_config(
        cls,
        cfg: AlertSourceConfigBase,
        *,
        secret: SecretReader,
        transport: Any = None,
        problems: list[str] | None = None,
    ) -> Self:
        """The client for one configured source; ``secret(name)`` reads the keyring. A
        missing required token is a CredentialError saying ``agentdeck login NAME``; a problem
        that does not stop the pull (an optional token unreadable) goes to ``problems``."""
        raise NotImplementedError

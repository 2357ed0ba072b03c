"""The interface every alert source implements.

``list_incidents`` returns what the source says is firing or open *now*, as
:class:`store.models.Incident` records with ``source`` set to the source's configured name. The
sync marks an incident of that source that is no longer listed as resolved. A reply that is not
what the API documents (HTML, truncated JSON, the wrong shape) raises
:class:`store.connectors.base.ConnectorError` naming the endpoint; nothing is stored from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from store.connectors.base import Listed
    from store.models import Incident


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

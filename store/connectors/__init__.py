"""Connectors to the stores a workspace names in ``agentdeck.toml``: one module per kind, each
ending with ``PLUGIN = <its StoreConnector class>`` (found by :data:`store.plugins.STORES`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.connectors.base import (
    Connector,
    ConnectorError,
    Findings,
    StoreConfigBase,
    StoreConnector,
)
from store.plugins import STORES

if TYPE_CHECKING:
    from store.documents import DocumentError
    from store.workspace import Workspace

__all__ = [
    "Connector",
    "ConnectorError",
    "StoreConnector",
    "check_store_files",
    "check_stores",
    "connector_class",
    "make_connector",
]


def connector_class(cfg: StoreConfigBase) -> type[StoreConnector]:
    """The connector class of a configured store's kind."""
    plugin: type[StoreConnector] | None = STORES.get(cfg.kind)
    if plugin is None:  # the config was validated, so only a module removed since
        raise ConnectorError(
            f"store {cfg.name!r}: kind {cfg.kind!r} is not supported "
            f"(supported: {', '.join(STORES.kinds())})"
        )
    return plugin


def make_connector(workspace: Workspace, cfg: StoreConfigBase) -> StoreConnector:
    """Build the connector for one configured store."""
    return connector_class(cfg).from_config(workspace, cfg)


def check_stores(workspace: Workspace) -> list[DocumentError]:
    """What ``sync`` would refuse about the configured stores, each naming its config line
    (a file store whose folder or ``runs.jsonl`` is missing): each kind's ``check_config``.

    Reads nothing but the file system's view of the paths; never contacts a server.
    """
    problems: list[DocumentError] = []
    for i, cfg in enumerate(workspace.config.stores):
        problems += connector_class(cfg).check_config(workspace, i, cfg)
    return problems


def check_store_files(workspace: Workspace) -> Findings:
    """Every corrupt or torn line of the stores kept in files (file, OTLP file, and their scores
    files), each ``path:line: what``. A missing file is left to :func:`check_stores`; a store
    on a server is not read (``agentdeck sync`` reaches it)."""
    found = Findings()
    for cfg in workspace.config.stores:
        try:
            store = connector_class(cfg).check_files(workspace, cfg)
        except ConnectorError as exc:
            found.problems.append(str(exc))
            continue
        if store is not None:
            found.problems += store.problems
            found.warnings += store.warnings
    return found

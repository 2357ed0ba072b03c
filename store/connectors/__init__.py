"""Connectors to the stores a workspace names in ``agentdeck.toml``."""

from __future__ import annotations

from store.connectors.base import Connector, ConnectorError
from store.workspace import StoreConfig, Workspace

__all__ = ["Connector", "ConnectorError", "make_connector"]


def make_connector(workspace: Workspace, cfg: StoreConfig) -> Connector:
    """Build the connector for one configured store."""
    if cfg.kind == "file":
        from store.connectors.file import FileConnector

        return FileConnector(cfg.name, workspace.path(cfg.path or "."))
    raise ConnectorError(
        f"{workspace.config_path}: store {cfg.name!r} of kind {cfg.kind!r} is not supported yet"
    )

"""Connectors to the stores a workspace names in ``agentdeck.toml``."""

from __future__ import annotations

from store.connectors.base import Connector, ConnectorError, Findings
from store.documents import DocumentError
from store.workspace import StoreConfig, Workspace

__all__ = ["Connector", "ConnectorError", "check_store_files", "check_stores", "make_connector"]

#: Where each store kind's connector lives: a class with ``from_config(workspace, cfg)``.
CONNECTORS = {
    "phoenix": "store.connectors.phoenix:PhoenixConnector",
    "langfuse": "store.connectors.langfuse:LangfuseConnector",
    "otlp-file": "store.connectors.otlp_file:OtlpFileConnector",
    "langsmith": "store.connectors.langsmith:LangsmithConnector",
}


#: Store kinds whose files ``agentdeck validate`` reads whole, offline: a function
#: ``check_store(workspace, cfg) -> Findings`` in the kind's module.
FILE_CHECKS = {
    "file": "store.connectors.file:check_store",
    "otlp-file": "store.connectors.otlp_file:check_store",
}


def _available(kind: str) -> bool:
    import importlib.util

    module = CONNECTORS[kind].split(":")[0]
    return importlib.util.find_spec(module) is not None


#: Store kinds this agentdeck can sync with (the config accepts the ones coming next).
SUPPORTED_KINDS = ("file", *(k for k in CONNECTORS if _available(k)))


def _unsupported(workspace: Workspace, index: int, cfg: StoreConfig) -> str:
    line = workspace.line_of("stores", index, "kind")
    where = f"{workspace.config_path}:{line}" if line else f"{workspace.config_path}"
    return (
        f"{where}: store {cfg.name!r} of kind {cfg.kind!r} is not supported yet "
        f"(supported: {', '.join(SUPPORTED_KINDS)})"
    )


def make_connector(workspace: Workspace, cfg: StoreConfig) -> Connector:
    """Build the connector for one configured store."""
    if cfg.kind == "file":
        from store.connectors.file import FileConnector

        return FileConnector(cfg.name, workspace.path(cfg.path or "."))
    if cfg.kind in SUPPORTED_KINDS:
        import importlib

        module, cls = CONNECTORS[cfg.kind].split(":")
        connector: Connector = getattr(importlib.import_module(module), cls).from_config(
            workspace, cfg
        )
        return connector
    index = workspace.config.stores.index(cfg) if cfg in workspace.config.stores else 0
    raise ConnectorError(_unsupported(workspace, index, cfg))


def check_stores(workspace: Workspace) -> list[DocumentError]:
    """What ``sync`` would refuse about the configured stores, each naming its config line:
    a kind not supported yet, a file store whose folder or ``runs.jsonl`` is missing.

    Reads nothing but the file system's view of the paths; never contacts a server.
    """
    from store.connectors.file import RUNS

    problems: list[DocumentError] = []
    for i, cfg in enumerate(workspace.config.stores):
        if cfg.kind not in SUPPORTED_KINDS:
            line = workspace.line_of("stores", i, "kind")
            problems.append(
                DocumentError(
                    workspace.config_path,
                    line,
                    f"store {cfg.name!r} of kind {cfg.kind!r} is not supported yet "
                    f"(supported: {', '.join(SUPPORTED_KINDS)})",
                )
            )
            continue
        if cfg.kind == "otlp-file":
            path = workspace.path(cfg.path or "")
            if not cfg.path or not path.is_file():
                line = workspace.line_of("stores", i, "path" if cfg.path else "kind")
                why = f"{path} is missing" if cfg.path else "no `path` to the exporter's file"
                problems.append(
                    DocumentError(
                        workspace.config_path,
                        line,
                        f"store {cfg.name!r}: {why} (the OpenTelemetry Collector's file "
                        "exporter output, OTLP/JSON lines)",
                    )
                )
            continue
        if cfg.kind != "file":
            continue  # a server store is checked by `agentdeck sync`, which reaches it
        folder = workspace.path(cfg.path or ".")
        line = workspace.line_of("stores", i, "path")
        if not folder.is_dir():
            problems.append(
                DocumentError(
                    workspace.config_path,
                    line,
                    f"store {cfg.name!r}: path {cfg.path!r} is not a folder ({folder} is missing)",
                )
            )
        elif not (folder / RUNS).is_file():
            problems.append(
                DocumentError(
                    workspace.config_path,
                    line,
                    f"store {cfg.name!r}: {folder / RUNS} is missing",
                )
            )
    return problems


def check_store_files(workspace: Workspace) -> Findings:
    """Every corrupt or torn line of the stores kept in files (file, OTLP file, and their scores
    files), each ``path:line: what``. A missing file is left to :func:`check_stores`; a store
    on a server is not read (``agentdeck sync`` reaches it)."""
    import importlib

    found = Findings()
    for cfg in workspace.config.stores:
        if cfg.kind not in FILE_CHECKS or cfg.kind not in SUPPORTED_KINDS:
            continue
        module, name = FILE_CHECKS[cfg.kind].split(":")
        try:
            store = getattr(importlib.import_module(module), name)(workspace, cfg)
        except ConnectorError as exc:
            found.problems.append(str(exc))
            continue
        found.problems += store.problems
        found.warnings += store.warnings
    return found

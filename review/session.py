"""What a review session needs from a workspace: its rubric, its plan, and sync.

The desk, the CLI and the benchmarks all open a workspace through here, so none of them
rebuilds the plan or the rubric lookup on its own.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from review.rubric import Rubric, load_rubrics
from review.sampling import ReviewPlan
from store.documents import DocumentError
from store.workspace import Workspace

if TYPE_CHECKING:
    from store.alert_sync import AlertPullReport, SecretReader
    from store.outbox import PushReport
    from store.sync import PullReport


@dataclass(frozen=True)
class ReviewSetup:
    """The active rubric and sampling plan of a workspace."""

    workspace: Workspace
    rubric: Rubric
    plan: ReviewPlan

    @property
    def reviewer(self) -> str:
        return self.workspace.reviewer


def load_setup(workspace: Workspace) -> ReviewSetup:
    """Load the workspace's active rubric and plan; DocumentError names file:line on bad input."""
    cfg = workspace.config
    rubrics = load_rubrics(workspace.rubrics_dir)
    rubric = rubrics.get(cfg.review.rubric)
    if rubric is None:
        raise DocumentError(
            workspace.config_path,
            workspace.line_of("review", "rubric"),
            f"review.rubric {cfg.review.rubric!r} is not among the rubrics in "
            f"{workspace.rubrics_dir} ({', '.join(sorted(rubrics)) or 'none found'})",
        )
    plan = ReviewPlan(
        sampling=cfg.sampling,
        roster=tuple(cfg.review.roster),
        overlap=cfg.review.overlap,
        overlap_reviewers=cfg.review.overlap_reviewers,
    )
    return ReviewSetup(workspace, rubric, plan)


def register_rubric(conn: sqlite3.Connection, rubric: Rubric) -> None:
    """Keep this rubric version in the database, so old grades stay readable after edits."""
    conn.execute(
        "INSERT OR IGNORE INTO rubrics (rubric_id, version, title, body) VALUES (?, ?, ?, ?)",
        (rubric.id, rubric.version, rubric.title, rubric.model_dump_json()),
    )


def required_lookup(conn: sqlite3.Connection) -> dict[tuple[str, str], set[str]]:
    """Required criteria of every rubric version the database knows."""
    out: dict[tuple[str, str], set[str]] = {}
    for rid, version, body in conn.execute("SELECT rubric_id, version, body FROM rubrics"):
        criteria = json.loads(body)["criteria"]
        out[(rid, version)] = {c["id"] for c in criteria if c.get("required", True)}
    return out


class SyncResults(list[tuple[str, "PullReport", "PushReport | None"]]):
    """Each store's ``(name, pulled, pushed)``, and ``alerts``: one report per alert source."""

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[AlertPullReport] = []


def sync(
    conn: sqlite3.Connection,
    setup: ReviewSetup,
    *,
    push_grades: bool = True,
    progress: Callable[[str, PullReport], None] | None = None,
    secret: SecretReader | None = None,
    alert_transports: dict[str, object] | None = None,
    dry_run: bool = False,
) -> SyncResults:
    """Pull every alert source, then pull from and push to every store of the workspace;
    ``progress(store, report)`` is called after each page of runs.

    An alert source that fails is in ``results.alerts`` with its error (its incidents stay as
    they were); a store that fails raises ConnectorError, as before.
    """
    # Imported here: opening the desk loads a setup, and only a sync needs the connectors.
    from review.pulled import pull
    from store.alert_sync import pull_alerts
    from store.connectors import make_connector
    from store.credentials import get_secret
    from store.outbox import push

    results = SyncResults()
    ws = setup.workspace
    if dry_run:
        # Nothing written, nothing pushed: list and sample each store, count the outbox.
        for i, cfg in enumerate(ws.config.stores):
            with _naming_the_store(ws, i):
                connector = make_connector(ws, cfg)
                on_dry: Callable[[PullReport], None] | None = None
                if progress is not None:
                    on_dry = functools.partial(progress, cfg.name)
                dry = pull(conn, connector, setup.plan, progress=on_dry, dry_run=True)
            results.append((cfg.name, dry, None))
        return results
    results.alerts = pull_alerts(
        conn, setup.workspace, secret=secret or get_secret, transports=alert_transports
    )
    register_rubric(conn, setup.rubric)
    known = required_lookup(conn)
    for i, cfg in enumerate(ws.config.stores):
        with _naming_the_store(ws, i):
            connector = make_connector(ws, cfg)
            on_page: Callable[[PullReport], None] | None = None
            if progress is not None:
                on_page = functools.partial(progress, cfg.name)
            pushed = push(conn, connector) if push_grades else None
            pulled = pull(
                conn,
                connector,
                setup.plan,
                required=lambda r, v: known.get((r, v)),
                progress=on_page,
                max_value_chars=ws.config.sync.max_value_chars,
            )
        results.append((cfg.name, pulled, pushed))
    return results


@contextlib.contextmanager
def _naming_the_store(workspace: Workspace, index: int) -> Iterator[None]:
    """A store's error that does not name the store (a file store's "…: cannot read") is
    prefixed with the config line and the store's name, as ``validate`` says it:
    ``agentdeck.toml:12: store 'otel': …``. A server's error already starts with its name."""
    from store.connectors.base import ConnectorError

    cfg = workspace.config.stores[index]
    try:
        yield
    except ConnectorError as exc:
        text = str(exc)
        if not text.startswith((f"{cfg.name} ", f"{cfg.name}:")):
            key = "path" if cfg.path is not None else ("url" if cfg.url else "name")
            line = workspace.line_of("stores", index, key)
            where = f"{workspace.config_path}:{line}" if line else str(workspace.config_path)
            exc.args = (f"{where}: store {cfg.name!r}: {text}",)
        raise

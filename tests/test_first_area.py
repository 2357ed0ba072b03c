"""Open where the work is: with an incident not resolved in the local copy, ``agentdeck`` opens
on On call (``[oncall] open_on_firing``, on by default) and the board says why; an area asked
for (``agentdeck oncall``, ``make_app(area=...)``) is where it opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import settle
from textual.widgets import Static

from store.db import connect
from store.workspace import Workspace, load_workspace
from tui.app import first_area, make_app
from tui.cli import cli


def synced(ws: Workspace) -> Workspace:
    done = CliRunner().invoke(cli, ["-w", str(ws.root), "sync", "--no-push"])
    assert done.exit_code == 0, done.output
    return ws


def open_count(ws: Workspace) -> int:
    conn = sqlite3.connect(ws.db_path)
    try:
        return int(
            conn.execute("SELECT count(*) FROM incidents WHERE status != 'resolved'").fetchone()[0]
        )
    finally:
        conn.close()


def decide(ws: Workspace) -> tuple[str, int]:
    conn = connect(ws.db_path)
    try:
        return first_area(ws, conn)
    finally:
        conn.close()


def test_an_incident_not_resolved_opens_on_call(demo_workspace: Workspace) -> None:
    assert decide(demo_workspace) == ("review", 0)  # nothing synced yet: nothing fires
    ws = synced(demo_workspace)
    assert open_count(ws) > 0
    assert decide(ws) == ("oncall", open_count(ws))
    conn = sqlite3.connect(ws.db_path)
    conn.execute("UPDATE incidents SET status = 'resolved'")
    conn.commit()
    conn.close()
    assert decide(ws) == ("review", 0)


def test_open_on_firing_off_opens_on_review(demo_workspace: Workspace) -> None:
    ws = synced(demo_workspace)
    cfg = ws.config_path
    cfg.write_text(cfg.read_text() + "\n[oncall]\nopen_on_firing = false\n")
    assert decide(load_workspace(ws.root)) == ("review", 0)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the CLI asked ``make_app`` for (the app itself is not run)."""
    import tui.app
    import tui.cli

    calls: list[dict[str, Any]] = []

    class NotRun:
        return_code = 0

        def run(self) -> None:
            pass

    def fake_make_app(ws: Workspace, **kwargs: Any) -> NotRun:
        calls.append(kwargs)
        return NotRun()

    monkeypatch.setattr(tui.app, "make_app", fake_make_app)
    monkeypatch.setattr(tui.cli, "_hold_workspace", lambda ws: None)
    return calls


def test_the_cli_opens_where_the_work_is_and_an_asked_area_wins(
    demo_workspace: Workspace, opened: list[dict[str, Any]]
) -> None:
    ws = synced(demo_workspace)
    n = open_count(ws)
    runner = CliRunner()
    assert runner.invoke(cli, ["-w", str(ws.root)]).exit_code == 0
    assert opened[-1]["area"] == "oncall" and opened[-1]["opened_on_firing"] == n
    assert runner.invoke(cli, ["-w", str(ws.root), "oncall"]).exit_code == 0
    assert opened[-1]["area"] == "oncall" and opened[-1]["opened_on_firing"] == 0
    assert runner.invoke(cli, ["demo", "--path", str(ws.root)]).exit_code == 0
    assert opened[-1]["area"] == "oncall" and opened[-1]["opened_on_firing"] == n


def test_a_fresh_demo_opens_on_review(tmp_path: Path, opened: list[dict[str, Any]]) -> None:
    # A fresh copy has no local incidents until its first sync: the desk, as the tmux tests see.
    assert CliRunner().invoke(cli, ["demo", "--path", str(tmp_path / "demo")]).exit_code == 0
    assert opened[-1]["area"] == "review" and opened[-1]["opened_on_firing"] == 0


async def test_the_board_says_why_it_opened_until_another_area_is_shown(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace, area="oncall", opened_on_firing=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#board-banner", Static)
        assert str(banner.render()).strip() == "2 incidents open: opened On call (f1 for Review)"
        await pilot.press("f1")
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        banner = app.screen.query_one("#board-banner", Static)
        assert not banner.display and str(banner.render()).strip() == ""


async def test_an_asked_area_has_no_banner(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#board-banner", Static).display

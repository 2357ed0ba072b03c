"""Store problems are listed, every one with its file:line, never "and 1 more": the toast after a
sync says how many and where the list is; the palette's Store problems opens it in every area,
with the lines read again from the stores' files (so a reopened app, whose sync reads past them,
still lists them). Real key presses in Pilot; the database checked after."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import DEMO_CORRUPT_LINES, palette, settle
from rich.text import Text
from textual.widgets import Static

from store.connectors.base import Findings
from store.workspace import Workspace
from tui.app import make_app
from tui.screens.store_problems import StoreProblemsScreen, store_problems_text, toast_text

NOT_JSON = "not valid JSON (a truncated or corrupt line)"
DEMO_LINES = [f"store/runs.jsonl:{n}: {NOT_JSON}" for n in DEMO_CORRUPT_LINES]


def body(app) -> list[str]:  # type: ignore[no-untyped-def]
    text = app.screen.query_one("#store-problems-body", Static).render()
    return str(text).splitlines()


def local_grades(ws: Workspace) -> list[tuple[str, str]]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return conn.execute(
            "SELECT reviewer, \"values\" FROM grades WHERE origin = 'local'"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("area", ["review", "oncall", "reports"])
async def test_every_store_problem_is_listed_from_the_palette(
    demo_workspace: Workspace, area: str
) -> None:
    app = make_app(demo_workspace, area=area)  # syncs on start: the demo's two corrupt lines
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.services.store_problems == [
            f"runs.jsonl:{n}: {NOT_JSON}" for n in DEMO_CORRUPT_LINES
        ]
        area_screen = app.screen
        before = local_grades(demo_workspace)
        await palette(pilot, "Store problems")
        assert isinstance(app.screen, StoreProblemsScreen)
        shown = body(app)
        assert [line for line in shown if line.startswith("store/")] == DEMO_LINES
        assert "2 problems" in shown
        # What the sync said is what the files show: listed once.
        assert not any(line.startswith("Said by the syncs") for line in shown)
        # Keys while the list is open are the list's: a level key grades nothing.
        await pilot.press("p", "f", "j")
        await settle(pilot)
        assert isinstance(app.screen, StoreProblemsScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is area_screen
        assert local_grades(demo_workspace) == before


async def test_a_reopened_app_still_lists_the_lines_its_sync_read_past(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
    # Another bad line arrives; the next sync reads only what is new.
    runs = demo_workspace.root / "store" / "runs.jsonl"
    with runs.open("a") as fh:
        fh.write('{"trace_id": "late", \n')
    app = make_app(demo_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.services.store_problems == [f"runs.jsonl:916: {NOT_JSON}"]
        await palette(pilot, "Store problems")
        shown = body(app)
        assert [line for line in shown if line.startswith("store/")] == [
            *DEMO_LINES,
            f"store/runs.jsonl:916: {NOT_JSON}",
        ]
        assert "3 problems" in shown
        await pilot.press("q")
        await settle(pilot)
        assert not isinstance(app.screen, StoreProblemsScreen)


def test_the_toast_says_how_many_and_where_the_list_is() -> None:
    one = toast_text(["runs.jsonl:914: not valid JSON"], "ctrl+p")
    assert one == (
        "runs.jsonl:914: not valid JSON in the store. Every one with its file:line: ctrl+p, "
        "Store problems."
    )
    two = toast_text(["a:1: x", "a:2: y"], "ctrl+p")
    assert two.startswith("2 problems in the store.") and "more" not in two


def test_the_list_is_data_and_keeps_what_the_files_do_not_show(tmp_path: Path) -> None:
    found = Findings()
    found.add(tmp_path / "store", "runs.jsonl:3: \x1b[2J[bold]boom[/]")
    said = ["runs.jsonl:3: \x1b[2J[bold]boom[/]", "phoenix GET http://x/v1/spans: server error"]
    text = store_problems_text(found, said, tmp_path)
    assert isinstance(text, Text)
    lines = text.plain.splitlines()
    assert "store/runs.jsonl:3: ␛[2J[bold]boom[/]" in lines
    assert "\x1b" not in text.plain
    # The server's problem is not in any file: listed under what the syncs said.
    assert lines[lines.index("Said by the syncs since agentdeck opened") + 1] == said[1]
    assert "Reading the stores' files…" in store_problems_text(None, [], tmp_path).plain


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_of_the_list(
    snap_compare, demo_workspace: Workspace, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    async def listed(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.clear_notifications()
        await palette(pilot, "Store problems")
        await settle(pilot)

    assert snap_compare(
        make_app(demo_workspace, area="reports"), terminal_size=size, run_before=listed
    )


async def test_the_list_keys_are_remappable(demo_workspace: Workspace) -> None:
    cfg = demo_workspace.config_path
    cfg.write_text(cfg.read_text() + '\n[keys]\n"problems.close" = "ctrl+g"\n')
    from review.session import load_setup
    from store.workspace import load_workspace
    from tui.app import check_keymap

    ws = load_workspace(demo_workspace.root)
    check_keymap(ws, load_setup(ws).rubric)  # the id is known: the app opens
    app = make_app(ws, sync_on_start=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await palette(pilot, "Store problems")
        assert isinstance(app.screen, StoreProblemsScreen)
        await pilot.press("escape")  # no longer its key
        await settle(pilot)
        assert isinstance(app.screen, StoreProblemsScreen)
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert not isinstance(app.screen, StoreProblemsScreen)

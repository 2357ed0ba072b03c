"""Snapshots of what a reviewer sees: the desk at 80×24 and 120×40, help, a hostile run.

Regenerate with ``uv run pytest tests/test_desk_snapshots.py --snapshot-update`` and look at
the SVGs before committing them.
"""

from __future__ import annotations

from conftest import HOSTILE, add_run, hostile_record, settle

from store.workspace import Workspace
from tui.app import make_app


async def _ready(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    # The demo store has a deliberately corrupt line; its toast would race the screenshot.
    pilot.app.clear_notifications()
    await pilot.pause()


def test_desk_120x40(snap_compare, demo_workspace: Workspace) -> None:
    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=_ready)


def test_desk_80x24(snap_compare, demo_workspace: Workspace) -> None:
    assert snap_compare(make_app(demo_workspace), terminal_size=(80, 24), run_before=_ready)


def test_desk_80x24_with_queue(snap_compare, demo_workspace: Workspace) -> None:
    async def show_queue(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("q")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(80, 24), run_before=show_queue)


def test_desk_after_grading_one_run(snap_compare, demo_workspace: Workspace) -> None:
    async def grade(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("p", "n", "s", "g")
        await _ready(pilot)

    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(120, 40), run_before=grade)


def test_help_screen(snap_compare, demo_workspace: Workspace) -> None:
    async def help_(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("question_mark")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=help_)


def test_hostile_run(snap_compare, demo_workspace: Workspace) -> None:
    add_run(demo_workspace, hostile_record(HOSTILE + "\n" + "long line " * 2000))
    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=_ready)


def test_area_switcher_oncall_80x24(snap_compare, demo_workspace: Workspace) -> None:
    async def oncall(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("f2")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(80, 24), run_before=oncall)


def test_area_switcher_oncall_120x40(snap_compare, demo_workspace: Workspace) -> None:
    async def oncall(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("f2")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=oncall)


def test_area_switcher_reports_120x40(snap_compare, demo_workspace: Workspace) -> None:
    async def reports(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("p", "n", "s")
        await _ready(pilot)
        await pilot.press("f3")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=reports)


def test_run_with_a_marked_first_wrong_step(snap_compare, demo_workspace: Workspace) -> None:
    """The step cursor on step 2, marked as the first wrong step."""

    async def mark(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("full_stop", "full_stop", "exclamation_mark")
        await _ready(pilot)

    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(120, 40), run_before=mark)


# -- the layout at 80×24 and 120×40: the rubric pane with five criteria, the footer ------------


def _comment(text: str):  # type: ignore[no-untyped-def]
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("c", *text, "enter")
        await _ready(pilot)

    return run


LONG_COMMENT = "the refund went to the wrong card and the customer was not told why " * 3


def test_rubric_with_a_long_comment_80x24(snap_compare, demo_workspace: Workspace) -> None:
    """Five criteria and a long comment: every key of the rubric is on screen."""
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_comment(LONG_COMMENT))


def test_rubric_with_a_long_comment_120x40(snap_compare, demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_comment(LONG_COMMENT))


def test_rubric_taller_than_the_pane_120x20(snap_compare, demo_workspace: Workspace) -> None:
    """Two answers given: the pane has scrolled to the open criterion, policy."""

    async def two(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("p", "n")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 20), run_before=two)


def test_footer_with_the_step_cursor_120x40(snap_compare, demo_workspace: Workspace) -> None:
    """The step cursor adds "! Wrong step": Help and the palette's key still fit."""

    async def step(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("full_stop")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=step)


def test_help_screen_80x24(snap_compare, demo_workspace: Workspace) -> None:
    """A description that wraps stays under its column."""

    async def help_(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("question_mark")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(80, 24), run_before=help_)


def test_output_with_emoji_rows_80x24(snap_compare, demo_workspace: Workspace) -> None:
    """Words wrap whole; wide characters are drawn whole wherever the desk's panes are."""
    record = hostile_record("ok 🙂 日本語 thanks 👩🏽‍💻 done ❤️ 👨‍👩‍👧 " * 40)
    add_run(demo_workspace, {**record, "input": "hi", "steps": []})

    async def output(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("o")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(80, 24), run_before=output)


def test_the_agent_card_over_the_run(snap_compare, demo_workspace: Workspace) -> None:
    async def card(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("a")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=card)


def test_a_week_a_draft_and_a_run_outside_the_queue(
    snap_compare, demo_workspace: Workspace
) -> None:
    """The newest week, a draft in the queue, then a run outside the queue, read-only."""

    async def away(pilot) -> None:  # type: ignore[no-untyped-def]
        import sqlite3

        await _ready(pilot)
        await pilot.press("semicolon", "p", "j")
        await _ready(pilot)
        conn = sqlite3.connect(demo_workspace.db_path)
        trace = conn.execute(
            "SELECT run_id FROM runs WHERE id NOT IN (SELECT run FROM assignments) "
            "ORDER BY started_at DESC, id LIMIT 1"
        ).fetchone()[0]
        conn.close()
        await pilot.press("slash", *trace, "enter")
        await _ready(pilot)

    assert snap_compare(make_app(demo_workspace), terminal_size=(120, 40), run_before=away)

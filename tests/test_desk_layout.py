"""What the desk looks like at 80×24 and 120×40, read off the screen the terminal gets: every
key of the rubric in view, the footer's keys by priority, toasts off the status line. Real keys
through Pilot; the snapshots in test_desk_snapshots.py pin the pictures."""

from __future__ import annotations

import io

import pytest
from conftest import settle
from rich.console import Console
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from store.workspace import Workspace
from tui.app import make_app
from tui.widgets.key_footer import KeyFooter, fit
from tui.widgets.status_line import StatusLine

SIZES = [(80, 24), (120, 40)]


def screen_lines(app) -> list[str]:  # type: ignore[no-untyped-def]
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False).split("\n")


def rubric_on_screen(app) -> str:  # type: ignore[no-untyped-def]
    """The rubric pane's text as drawn (its rows and columns of the screen)."""
    region = app.screen.query_one("#rubric-pane").content_region
    lines = screen_lines(app)[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


async def _open(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
async def test_every_key_of_the_five_criteria_is_on_screen(
    demo_workspace: Workspace, size: tuple[int, int]
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=size) as pilot:
        await _open(pilot)
        rubric = app.desk.services.setup.rubric
        assert len(rubric.criteria) == 5
        # A long comment keeps to its own rows: it does not push the rubric out.
        await pilot.press("c", *"the refund went to the wrong card " * 6, "enter")
        await settle(pilot)
        shown = rubric_on_screen(app)
        assert "comment the refund" in shown
        for criterion in rubric.criteria:
            assert criterion.id in shown
            for level in criterion.scale.levels:
                assert f"{level.key} {level.label}" in shown.replace("  ", " "), (
                    criterion.id,
                    level.key,
                    shown,
                )
        assert app.screen.query_one("#rubric-pane").scroll_offset.y == 0


async def test_a_rubric_taller_than_the_pane_keeps_the_open_criterion_in_view(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 20)) as pilot:
        await _open(pilot)
        panel = app.screen.query_one("#rubric-pane")
        assert panel.virtual_size.height > panel.scrollable_content_region.height
        assert "required set" in rubric_on_screen(app), "the state, while there is room"
        # The optional criteria (listed first), then task_success and intervention: policy,
        # the last of the required block, is open now.
        await pilot.press("g", "3", "p", "n")
        await settle(pilot)
        shown = rubric_on_screen(app)
        assert "○ policy" in shown and "saves and opens" in shown, shown
        assert "s  safe" in shown and "v  violation" in shown and "on the card" in shown
        assert panel.scroll_offset.y > 0, "scrolled to it"
        await pilot.press("u", "u", "u", "u")  # all undone: the first criterion is open again
        await settle(pilot)
        assert "○ tool_use" in rubric_on_screen(app)
        assert panel.scroll_offset.y == 0


@pytest.mark.parametrize(
    ("size", "keys"),
    [((80, 24), []), ((120, 40), ["full_stop"]), ((100, 30), ["full_stop"])],
    ids=["80x24", "120x40-step-cursor", "100x30-step-cursor"],
)
async def test_the_footer_keeps_quit_help_undo_and_the_areas(
    demo_workspace: Workspace, size: tuple[int, int], keys: list[str]
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=size) as pilot:
        await _open(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        footer = app.screen.query_one(KeyFooter)
        shown = {key.description: key for key in footer.query(FooterKey)}
        for needed in ("Quit", "Help", "Undo", "On call", "Reports", "Find"):
            assert needed in shown, (needed, list(shown))
        if keys:
            assert "Wrong step" in shown
        for key in shown.values():
            assert key.region.right <= size[0], (key.description, key.region)
        last = screen_lines(app)[size[1] - 1]
        for needed in ("Quit", "Help", "Undo", "Find"):
            assert needed in last, last


def test_the_footer_drops_the_least_needed_keys_first() -> None:
    keys = [(0, 10, 8), (7, 10, 8), (1, 10, 8), (7, 10, 8), (2, 10, 8)]
    assert fit(keys, 50) == (False, {0, 1, 2, 3, 4})
    assert fit(keys, 40) == (True, {0, 1, 2, 3, 4})
    assert fit(keys, 30) == (True, {0, 2, 4})
    assert fit(keys, 20) == (True, {0, 2})


@pytest.mark.parametrize("size", SIZES)
async def test_a_toast_never_covers_the_status_line(
    demo_workspace: Workspace, size: tuple[int, int]
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=size, notifications=True) as pilot:
        await _open(pilot)
        app.notify("a notice\nof two lines", title="Hello", timeout=30)
        await pilot.pause()
        await pilot.pause()
        status = app.screen.query_one(StatusLine).region
        footer = app.screen.query_one(KeyFooter).region
        toasts = list(app.screen.query(Toast))
        assert toasts
        for toast in toasts:
            assert toast.region.height > 0
            assert not toast.region.overlaps(status), (toast.region, status)
            assert not toast.region.overlaps(footer)


def test_help_descriptions_wrap_under_their_column() -> None:
    from rich.cells import cell_len

    from tui.widgets.overlays import help_text

    rows = [
        ("j, ↓", "Next", "Open the next run"),
        (
            "!",
            "Wrong step",
            "Mark the step under the cursor as the first wrong step (again: clear)",
        ),
        ("日本", "Wide", "a key two cells wide per character " * 3),
    ]
    lines = help_text(rows, None, width=60).plain.split("\n")
    assert all(cell_len(line) <= 60 for line in lines)
    columns = set()
    for _, _, tooltip in rows:
        line = next(line for line in lines if tooltip[:12] in line)
        columns.add(cell_len(line[: line.index(tooltip[:12])]))
    assert len(columns) == 1, "every description starts in one column"
    column = columns.pop()
    continued = [line for line in lines[1:] if line[:1] == " " and not line[:column].strip()]
    assert len(continued) >= 3, lines
    assert all(line[column] != " " for line in continued), "under the column, not before"
    # Without a width (other areas' help), the text is as before: one line per key.
    assert len(help_text(rows, None).plain.split("\n")) == 1 + len(rows) + 1


@pytest.mark.parametrize("size", SIZES)
async def test_the_status_line_keeps_the_outbox_and_a_message_when_narrow(
    demo_workspace: Workspace, size: tuple[int, int]
) -> None:
    """With a filter on and a message, the line drops whole parts by rank (the rubric version
    and the last sync first) and keeps the message and the outbox/online state, cut nowhere."""
    from rich.cells import cell_len

    app = make_app(demo_workspace)
    async with app.run_test(size=size) as pilot:
        await _open(pilot)
        await pilot.press("tab")  # a filter: to-do
        await settle(pilot)
        line = str(app.screen.query_one(StatusLine).render())
        assert "filter: to-do" in line, line
        assert "outbox" in line and ("online" in line or "offline" in line), line
        assert cell_len(line) <= size[0]
        assert not line.rstrip().endswith("·")
        await pilot.press("H")  # a key with no meaning: said first on the line
        await settle(pilot)
        line = str(app.screen.query_one(StatusLine).render())
        assert line.startswith(" H is not bound"), line
        assert "outbox" in line and cell_len(line) <= size[0]


def test_the_status_line_drops_parts_whole_by_rank() -> None:
    from rich.text import Text

    from tui.widgets.status_line import Part, fit_line

    parts = [
        Part(Text("said")),
        Part(Text("54/91 graded"), 1),
        Part(Text("run 3 of 36"), 2),
        Part(Text("filter: to-do"), 3),
        Part(Text("support-quality@966e62144d62"), 4),
        Part(Text("outbox 0 · online")),
        Part(Text("synced 2 min ago"), 9),
    ]
    assert str(fit_line(parts, 200)).count(" · ") == 7
    assert str(fit_line(parts, 80)) == (
        " said · 54/91 graded · run 3 of 36 · filter: to-do · outbox 0 · online"
    )
    assert str(fit_line(parts, 40)) == " said · 54/91 graded · outbox 0 · online"
    # Parts that always stay: the message is cut at a word, never inside one.
    long = [Part(Text("one two three four five six"), cut=True), Part(Text("outbox 0 · online"))]
    assert str(fit_line(long, 36)) == " one two three… · outbox 0 · online"


def test_the_text_box_hint_keeps_whole_items_that_fit() -> None:
    from rich.cells import cell_len

    from tui.widgets.overlays import PROMPT_HINT, fit_hint

    assert fit_hint(PROMPT_HINT, 200) == PROMPT_HINT
    for width in (30, 45, 60, 74):
        hint = fit_hint(PROMPT_HINT, width)
        assert cell_len(hint) <= width
        assert hint.startswith("enter save · escape cancel")
        assert all(item in PROMPT_HINT.split(" · ") for item in hint.split(" · "))


@pytest.mark.parametrize("size", SIZES)
async def test_the_skip_box_hint_fits_the_box(
    demo_workspace: Workspace, size: tuple[int, int]
) -> None:
    from tui.widgets.overlays import PromptBox

    app = make_app(demo_workspace)
    async with app.run_test(size=size) as pilot:
        await _open(pilot)
        await pilot.press("z")
        await settle(pilot)
        box = app.screen.query_one(PromptBox)
        assert box.display
        hint = str(box.query_one("#prompt-hint").render())
        assert hint.startswith("enter skip · escape cancel")
        assert any(hint in line for line in screen_lines(app)), hint

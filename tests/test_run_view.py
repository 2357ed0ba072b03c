"""The run view draws only the rows on screen: every row fits, paging reaches every row, a resize
wraps again, the text stays literal and can be selected with the mouse."""

from __future__ import annotations

import pytest
from conftest import HOSTILE, settle
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.selection import Selection

from review.queue import RunDetail, StepView
from tui.widgets.run_view import RunView

EMOJI = "🙂" * 300
CJK = "日本語のテキスト" * 40
MIXED = "abc日本🙂e\u0301👩🏽‍💻x" * 40
PROSE = "The refund was issued to the card on file after the customer confirmed it. " * 12


def detail(output: str, *, steps: int = 6) -> RunDetail:
    return RunDetail(
        run=1,
        source="test",
        run_id="run-1",
        workflow="billing-support",
        started_at="2026-11-04T10:21:08.000000Z",
        ended_at="2026-11-04T10:21:20.300000Z",
        status="ok",
        feedback=None,
        business_ref="ticket:T-1",
        tokens_in=1200,
        tokens_out=300,
        cost_usd=0.0073,
        latency_ms=12300,
        hydrated=True,
        input=PROSE,
        output=output,
        final_action={"kind": "refund", "status": "done", "summary": "THE-LAST-LINE"},
        tags=["production"],
        steps=[
            StepView(
                i, "tool", f"lookup_{i}", None, 40, '{"id": 1}', '{"ok": true}', None, None, 10, 5
            )
            for i in range(steps)
        ],
    )


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunView(id="run")


def drawn(view: RunView) -> list[str]:
    """The rows on screen, each checked to fill the view's width exactly."""
    width = view.scrollable_content_region.width
    rows = []
    for y in range(view.scrollable_content_region.height):
        strip = view.render_line(y)
        assert strip.cell_length == width, (y, strip.text)
        rows.append(strip.text)
    return rows


async def page_through(view: RunView, pilot) -> list[str]:  # type: ignore[no-untyped-def]
    """Every row of the run, read a page at a time from the top, as space pages the desk."""
    view.scroll_home(animate=False)
    await pilot.pause()
    seen: dict[int, str] = {}
    while True:
        top = view.scroll_offset.y
        for y, row in enumerate(drawn(view)):
            if top + y < view.virtual_size.height:
                seen[top + y] = row
        if top >= view.max_scroll_y:
            break
        view.scroll_page_down(animate=False)
        await pilot.pause()
    assert sorted(seen) == list(range(view.virtual_size.height)), "no row skipped"
    return [seen[i] for i in range(len(seen))]


@pytest.mark.parametrize("text", [EMOJI, CJK, MIXED], ids=["emoji", "cjk", "mixed"])
async def test_wide_output_is_wrapped_by_cells_and_every_character_is_reached(text: str) -> None:
    app = ViewApp()
    async with app.run_test(size=(41, 16)) as pilot:
        view = app.query_one(RunView)
        view.show(detail(text), "sample")
        await settle(pilot)
        assert view.show_vertical_scrollbar
        rows = await page_through(view, pilot)
        start = view.section_row("output")
        body = "".join(row.rstrip(" ") for row in rows[start:])
        assert body.startswith(text), "the output, folded by cells, nothing lost or cropped"
        assert "THE-LAST-LINE" in rows[-1]


async def test_prose_wraps_at_words_and_rewraps_on_resize() -> None:
    app = ViewApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(RunView)
        view.show(detail(PROSE), None)
        await settle(pilot)
        wide = await page_through(view, pilot)
        assert all(cell_len(row.rstrip()) <= view.scrollable_content_region.width for row in wide)
        start = view.section_row("input")
        assert wide[start].split()[0] == "The" and not wide[start + 1].startswith(" ")
        await pilot.resize_terminal(40, 20)
        await settle(pilot)
        assert view.scrollable_content_region.width < 40
        narrow = await page_through(view, pilot)
        assert len(narrow) > len(wide)
        assert narrow[-1].strip() == wide[-1].strip() == "THE-LAST-LINE"
        words = " ".join(narrow[view.section_row("input") :]).split()
        assert words[: len(PROSE.split())] == PROSE.split(), "no word cut or lost"


async def test_short_run_leaves_the_scrollbar_column_to_the_text() -> None:
    app = ViewApp()
    async with app.run_test(size=(60, 60)) as pilot:
        view = app.query_one(RunView)
        view.show(detail("ok", steps=0), None)
        await settle(pilot)
        assert not view.show_vertical_scrollbar
        assert view.virtual_size.width == view.scrollable_content_region.width == 60


async def test_hostile_text_is_literal_and_selectable() -> None:
    app = ViewApp()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(RunView)
        view.show(detail(HOSTILE), None)
        await settle(pilot)
        rows = await page_through(view, pilot)
        shown = "\n".join(rows)
        assert "[@click=app.quit]z[/]" in shown and "␛[2J" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        # Selecting everything (as a triple click does) gives the run's text, as drawn.
        text, _ = view.get_selection(Selection(None, None)) or ("", "")
        assert "[@click=app.quit]z[/]" in text and view.section_text("output") in text
        assert "run-1" in text.splitlines()[0]


async def test_message_replaces_the_run() -> None:
    app = ViewApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(RunView)
        view.show(detail("out"), None)
        view.show_message("No runs in this view of the queue.")
        await settle(pilot)
        assert view.detail is None and not view.output_cut
        rows = drawn(view)
        assert rows[0].strip() == "No runs in this view of the queue."
        assert not any(row.strip() for row in rows[1:])


def test_the_header_says_why_a_run_was_sampled_in_words() -> None:
    from tui.widgets.run_view import sample_reason

    assert sample_reason("sample") == "random (at the workflow's rate)"
    assert sample_reason("always:status=error") == "always included: status=error"
    assert sample_reason(None) == "—"
    said = "not in your queue, read-only: assigned to ben"
    assert sample_reason(said) == said


async def test_an_ordinarily_sampled_run_does_not_read_sample_sample(demo_workspace) -> None:  # type: ignore[no-untyped-def]
    from tui.app import make_app

    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        seen = set()
        for _ in range(6):
            header = app.screen.query_one("#run").section_text("header")
            assert "sample sample" not in header, header
            seen.add(header.split("\nsample ")[1].split("\n")[0])
            await pilot.press("j")
            await settle(pilot)
        assert "random (at the workflow's rate)" in seen, seen

"""Untrusted text: markup stays literal, control sequences never reach the terminal."""

from __future__ import annotations

import io
import re

import pytest
from conftest import HOSTILE, add_run, hostile_record, settle
from rich.console import Console
from rich.text import Text
from textual.selection import Selection

from store.workspace import Workspace
from tui.app import make_app
from tui.text import preview, safe_text
from tui.widgets.long_text import LongText
from tui.widgets.run_view import RunView, add_block

#: Anything that may act on a terminal: C0 but newline, DEL, C1, bidi controls.
DANGEROUS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# -- safe_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "\x1b[2J",  # CSI: clear screen
        "\x1b[31mred\x1b[0m",  # SGR colours
        "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",  # OSC 8 hyperlink
        "\x1b]0;window title\x07",  # OSC title
        "\x07",  # BEL
        "\x00",  # NUL
        "\x08\x0b\x0c\r",  # BS, VT, FF, CR
        "\x7f",  # DEL
        "\x9b31m",  # C1 CSI
        "\x85\x8d\x90\x9c\x9d",  # C1 NEL, RI, DCS, ST, OSC
        "\u202eevil",  # RLO
        "\u202a\u202b\u202c\u202d",  # LRE, RLE, PDF, LRO
        "\u2066\u2067\u2068\u2069",  # isolates
    ],
)
def test_safe_text_neutralises_control_sequences(raw: str) -> None:
    out = safe_text(raw)
    assert not DANGEROUS.search(out)
    assert out, "the characters are shown, not silently dropped"


def test_safe_text_shows_escape_visibly_and_keeps_the_rest() -> None:
    assert safe_text("\x1b[2J") == "␛[2J"
    assert safe_text("a\x07b") == "a␇b"
    assert safe_text("\x9b") == "\\x9b"
    assert safe_text("\u202e") == "\\u202e"


def test_safe_text_keeps_newlines_expands_tabs_and_keeps_text() -> None:
    assert safe_text("a\tb\nc") == "a   b\nc"
    text = "[bold]x[/] [@click=app.quit]z[/] héllo 日本 🙂 \ufffd"
    assert safe_text(text) == text
    assert safe_text(None) == "" and safe_text("") == ""


def test_safe_text_handles_10_mb() -> None:
    # How fast is a benchmark's business; this checks a big text comes out whole and clean.
    big = ("word " * 20 + "\x1b[31m\n") * 90_000
    out = safe_text(big)
    assert "\x1b" not in out
    assert out.count("␛[31m") == 90_000


def test_preview_cuts_by_chars_and_lines() -> None:
    head, rest = preview("x" * 10_000, max_chars=4000)
    assert len(head) == 4000 and rest == 6000
    head, rest = preview("line\n" * 100, max_lines=3)
    assert head.count("\n") == 2 and rest == 500 - len(head)


def test_blocks_render_markup_literally_and_emit_no_escapes() -> None:
    t = Text()
    add_block(t, HOSTILE, chars=4000, lines=60)
    console = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None)
    console.print(t)
    out = console.file.getvalue()
    assert "[@click=app.quit]z[/]" in out
    assert "[link=https://evil.example]" in out
    assert "\x1b" not in out and "\x07" not in out


# -- the desk ------------------------------------------------------------------------------


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    """What the terminal would show, as plain text (compositor output, no styles)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        record=True,
        color_system="truecolor",
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def hostile_workspace(demo_workspace: Workspace) -> Workspace:
    body = ("lorem ipsum dolor sit amet " * 37 + "\n") * (TEN_MB // 999 + 1)
    add_run(demo_workspace, hostile_record(HOSTILE + "\n" + body + "THE-END"))
    # A sync cuts values past 1,000,000 characters; this desk is to see the whole 10 MB.
    config = demo_workspace.config_path
    text = config.read_text(encoding="utf-8") + "\n[sync]\nmax_value_chars = 20000000\n"
    config.write_text(text, encoding="utf-8")
    from store.workspace import load_workspace

    return load_workspace(demo_workspace.root)


async def test_hostile_run_is_shown_literally_and_the_app_survives(
    hostile_workspace: Workspace,
) -> None:
    app = make_app(hostile_workspace)
    async with app.run_test(size=(160, 60)) as pilot:
        await settle(pilot, timeout=60)
        detail = app.desk.query_one("#run").detail
        assert detail is not None and detail.run_id.startswith("hostile-")
        assert len(detail.output) > TEN_MB
        assert "\ufffd" in detail.input, "invalid UTF-8 arrives as U+FFFD"
        assert app.is_running

        shown = screen_text(app)
        assert "[@click=app.quit]z[/]" in shown
        assert "[bold red]X[/]" in shown
        assert "␛[2J" in shown
        assert "\ufffd" in shown
        assert not DANGEROUS.search(shown.replace("\n", ""))
        svg = app.export_screenshot()
        assert not DANGEROUS.search(svg.replace("\n", ""))

        # The output is a preview that says how much is left out.
        view = app.desk.query_one(RunView)
        output = view.section_text("output")
        assert len(output) < 10_000
        assert "more characters" in output and "press o" in output

        # Clicking where the literal [@click=app.quit] is drawn does nothing to the app.
        column = view.section_text("input").index("[@click=app.quit]") + 3
        assert column < view.scrollable_content_region.width, "on the input's first row"
        row = view.section_row("input") - view.scroll_offset.y
        region = view.content_region
        widget, at = app.screen.get_widget_and_offset_at(region.x + column, region.y + row)
        assert widget is view and at is not None
        everything, _ = view.get_selection(Selection(None, None)) or ("", "")
        line = everything.splitlines()[at.y]
        assert line[at.x - 3 : at.x + 14] == "[@click=app.quit]", "the mouse is on the literal"
        await pilot.click(view, offset=(view.styles.padding.left + column, row))
        await settle(pilot)
        assert app.is_running

        await pilot.press("o")
        await settle(pilot, timeout=60)
        assert app.desk.state.mode == "output"
        assert app.desk.query_one("#overlay").display
        viewer = app.desk.query_one(LongText)
        assert len(viewer.lines) > 10_000
        await pilot.press("end")
        await settle(pilot)
        assert "THE-END" in screen_text(app)
        assert not DANGEROUS.search(screen_text(app).replace("\n", ""))
        await pilot.press("o")
        await settle(pilot)
        assert app.desk.state.mode == "desk"
        assert not app.desk.query_one("#overlay").display
        assert app.is_running


def test_queue_rows_neutralise_a_hostile_start_time() -> None:
    from review.queue import QueueRow
    from tui.widgets.queue_list import row_cells

    row = QueueRow(
        run=1,
        run_id="t",
        workflow="billing-support",
        started_at="2026-\x1b]0;pwned\x07x\x9b2J",
        status="ok",
        graded=False,
        reason="sample",
        business_ref="ticket:\x1b[2JT-1",
        cost_usd=None,
    )
    cells = row_cells(row, 80)
    assert not any(ch in cells for ch in "\x1b\x07\x9b")
    assert "␛" in cells

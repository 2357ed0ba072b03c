"""Wide characters (CJK, emoji) are laid out by cells: every line fits, nothing is cropped."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from conftest import settle
from rich.cells import cell_len, split_graphemes
from rich.console import Console
from textual.app import App, ComposeResult
from textual.screen import ModalScreen

import tui
from tui.text import cut_cells, one_line, wrap_lines
from tui.widgets.long_text import LongText, prepare
from tui.widgets.overlays import OutputPanel

EMOJI = "🙂" * 500
CJK = "日本語のテキスト" * 63  # 504 characters, 1008 cells
MIXED = "abc日本🙂e\u0301👩🏽‍💻x" * 60  # ASCII, CJK, emoji, a combining accent, a ZWJ sequence


def _pieces(seed: int) -> str:
    """A random line of ASCII, wide and zero-width pieces, as a run's output mixes them."""
    rng = random.Random(seed)
    pieces = [
        "a",
        "Z",
        " ",
        "é",
        "ж",
        "─",
        "日",
        "語",
        "한",
        "١",
        "🙂",
        "👍🏾",
        "❤️",
        "#\ufe0f\u20e3",
    ]
    pieces += ["e\u0301", "ü\u0308", "👨\u200d👩\u200d👧", "🏳️\u200d🌈"]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 400)))


@pytest.mark.parametrize("width", [40, 41, 7, 2])
@pytest.mark.parametrize("text", [EMOJI, CJK, MIXED], ids=["emoji", "cjk", "mixed"])
def test_prepare_wraps_by_cells_and_keeps_every_character(text: str, width: int) -> None:
    lines = prepare(text, width)
    assert all(cell_len(line) <= width for line in lines)
    assert "".join(lines) == text, "nothing cropped, nothing added"
    # Lines are full: a line ends only where the next grapheme would not fit.
    assert all(cell_len(line) >= width - 1 for line in lines[:-1])


@pytest.mark.parametrize("seed", range(200))
def test_wrap_lines_fits_any_mix_of_wide_and_zero_width(seed: int) -> None:
    sources = [_pieces(seed), _pieces(seed + 1000)]
    width = 1 + seed % 50
    lines = wrap_lines("\n".join(sources), width)
    assert lines == [line for source in sources for line in wrap_lines(source, width)]
    for source in sources:
        _check_wrapped(source, wrap_lines(source, width), width)
    # Only a lone emoji at width 1 may be wider than the width.
    assert all(cell_len(line) <= max(width, 2) for line in lines)
    # A combining accent or a joined emoji never starts a line: graphemes stay whole.
    assert not any(line[:1] in ("\u0301", "\u200d", "\ufe0f", "\U0001f3fe") for line in lines)


def _check_wrapped(source: str, lines: list[str], width: int) -> None:
    """``lines`` are ``source`` with only the spaces at each break left out; a word is cut only
    when it is wider than the line; and a line ends only where what comes next does not fit."""
    pos = 0
    for i, line in enumerate(lines):
        gap = 0
        if i or not line.startswith(" "):  # (an indent too wide for its first word is dropped)
            while source[pos : pos + 1] == " ":
                pos, gap = pos + 1, gap + 1
        if i:
            assert not line.startswith(" "), "a wrapped line never starts with a space"
        if not line and i:
            continue
        assert source.startswith(line, pos), (source[pos : pos + 40], line)
        if i and lines[i - 1]:
            before = lines[i - 1]
            word = source[pos:].split(" ")[0]
            if gap:  # broken at spaces: the next word did not fit after them
                assert cell_len(before) + gap + cell_len(word) > width or not before
            else:  # broken inside a word: only a word wider than the line is cut
                spans, _ = split_graphemes(line)
                assert cell_len(before) + spans[0][2] > width
        pos += len(line)
    assert source[pos:].strip(" ") == ""


@pytest.mark.parametrize("width", [1, 3, 8, 20])
@pytest.mark.parametrize("seed", range(50))
def test_ascii_lines_wrap_as_any_other_line(seed: int, width: int) -> None:
    """ASCII takes a faster path (one rfind a break); it must break where the general path does."""
    from tui.text import _wrap_ascii, _wrap_words

    rng = random.Random(seed)
    words = ["a", "bb", " ", "   ", "x" * 12, "word", "-"]
    line = "".join(rng.choice(words) for _ in range(rng.randrange(1, 60)))
    if len(line) > width:
        assert _wrap_ascii(line, width) == _wrap_words(line, width)
        _check_wrapped(line, _wrap_ascii(line, width), width)


def test_words_wrap_whole() -> None:
    text = "Hi Lucía 👋 sorry about the double charge! I've refunded the duplicate 🙂"
    assert wrap_lines(text, 20) == [
        "Hi Lucía 👋 sorry",
        "about the double",
        "charge! I've",
        "refunded the",
        "duplicate 🙂",
    ]
    assert wrap_lines("refund " * 3, 12) == ["refund", "refund", "refund"]
    assert wrap_lines("a " + "x" * 10, 4) == ["a", "xxxx", "xxxx", "xx"]
    assert wrap_lines("    indented text", 12) == ["    indented", "text"]


def test_an_emoji_wider_than_the_width_gets_its_own_line() -> None:
    assert wrap_lines("🙂🙂", 1) == ["🙂", "🙂"]
    assert wrap_lines("", 10) == [""]
    assert wrap_lines("a\n\nb", 10) == ["a", "", "b"]


# -- one_line and cut_cells ------------------------------------------------------------------


def test_one_line_cuts_by_cells() -> None:
    out = one_line("日本語" * 50, 10)
    assert cell_len(out) <= 10 and out.endswith("…")
    assert out == "日本語日…"
    assert one_line("🙂" * 3, 6) == "🙂" * 3, "fits exactly: not cut"
    assert one_line("🙂" * 3, 5) == "🙂🙂…"
    assert one_line("a" * 20, 10) == "a" * 9 + "…"
    assert one_line("café\u0301" * 40, 8) == "café\u0301caf…", "an accent stays with its letter"


def test_one_line_marks_a_cut_hidden_by_zero_width_marks() -> None:
    # 300 characters, 100 cells: the head sanitised fits in the limit, but text was cut.
    zalgo = "e\u0301\u0302" * 100
    out = one_line(zalgo, 120)
    assert out.endswith("…") and cell_len(out) <= 120


def test_cut_cells_never_splits_a_grapheme_or_overflows() -> None:
    assert cut_cells("日本語", 5) == "日本"
    assert cut_cells("👨‍👩‍👧x", 2) == "👨‍👩‍👧"
    assert cut_cells("👨‍👩‍👧x", 1) == ""
    assert cut_cells("abc", 2) == "ab"
    assert cut_cells("e\u0301e", 1) == "e\u0301"


# -- the viewer, mounted ---------------------------------------------------------------------


class ViewerApp(App[None]):
    """The bare viewer, its text area exactly 40 cells wide (plus the scrollbar gutter)."""

    CSS = "LongText { width: 42; height: 10; scrollbar-size-vertical: 2; }"

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield LongText(self.text)


def drawn(viewer: LongText) -> list[str]:
    """What the viewer draws in each of its rows now, trailing padding removed."""
    return [viewer.render_line(y).text.rstrip(" ") for y in range(viewer.size.height)]


def screen_text(app: App[None]) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


@pytest.mark.parametrize("text", [EMOJI, CJK, MIXED], ids=["emoji", "cjk", "mixed"])
async def test_viewer_at_40_cells_shows_every_character_down_to_the_end(text: str) -> None:
    app = ViewerApp(text)
    async with app.run_test(size=(60, 14)) as pilot:
        await settle(pilot)
        viewer = app.query_one(LongText)
        assert viewer.scrollable_content_region.width == 40
        assert viewer.lines and all(cell_len(line) <= 40 for line in viewer.lines)
        assert viewer.virtual_size.width <= 40, "nothing to scroll sideways to"

        seen: dict[int, str] = {}
        while True:
            top = viewer.scroll_offset.y
            for y, row in enumerate(drawn(viewer)):
                if top + y < len(viewer.lines):
                    seen[top + y] = row
            if top >= viewer.max_scroll_y:
                break
            await pilot.press("pagedown")
            await pilot.pause()
        assert "".join(seen[i] for i in range(len(viewer.lines))) == text

        await pilot.press("home")
        await pilot.press("end")
        await pilot.pause()
        assert viewer.scroll_offset.y == viewer.max_scroll_y > 0
        assert viewer.lines[-1] in screen_text(app)


class DeskStyles(App[None]):
    """An app with the shell's styles, where the output overlay has its real size."""

    CSS_PATH = Path(tui.__file__).parent / "app.tcss"


class OutputScreen(ModalScreen[None]):
    """Hosts the desk's output overlay alone, with the viewer focused so keys scroll it."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        yield OutputPanel(classes="dialog output")

    def on_mount(self) -> None:
        viewer = self.query_one(LongText)
        viewer.can_focus = True
        viewer.focus()
        self.query_one(OutputPanel).show(self.title_text, self.text)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (200, 50)])
@pytest.mark.parametrize("text", [EMOJI, "x" * 2000, MIXED], ids=["emoji", "ascii", "mixed"])
async def test_output_screen_wraps_to_the_viewer_width(text: str, size: tuple[int, int]) -> None:
    app = DeskStyles()
    async with app.run_test(size=size) as pilot:
        app.push_screen(OutputScreen("Output", text))
        await settle(pilot)
        viewer = app.screen.query_one(LongText)
        width = viewer.scrollable_content_region.width
        assert viewer.lines and all(cell_len(line) <= width for line in viewer.lines)
        assert "".join(viewer.lines) == text
        assert f"{len(viewer.lines):,} lines" in screen_text(app)
        await pilot.press("end")
        await pilot.pause()
        rows = drawn(viewer)
        assert viewer.lines[-1] in rows, "the last line can be scrolled to, uncropped"


async def test_viewer_rewraps_when_the_terminal_is_resized() -> None:
    app = DeskStyles()
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(OutputScreen("Output", CJK))
        await settle(pilot)
        viewer = app.screen.query_one(LongText)
        before = len(viewer.lines)
        await pilot.resize_terminal(60, 30)
        await settle(pilot)
        width = viewer.scrollable_content_region.width
        assert len(viewer.lines) > before
        assert all(cell_len(line) <= width for line in viewer.lines)
        assert "".join(viewer.lines) == CJK


# -- the desk's output overlay ---------------------------------------------------------------

EMOJI_ROWS = "ok 🙂 日本語 thanks 👩🏽‍💻 done ❤️ 👨‍👩‍👧 " * 200


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_emoji_rows_in_the_desks_output_viewer_draw_whole(
    demo_workspace, size: tuple[int, int]
) -> None:
    """Every row of the output, as the terminal gets it, holds its line whole: no wide
    character drawn as spaces where a pane of the desk beneath starts or ends."""
    from conftest import add_run, hostile_record

    from tui.app import make_app

    record = {**hostile_record(EMOJI_ROWS), "input": "hi", "steps": []}
    add_run(demo_workspace, record)
    app = make_app(demo_workspace)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        viewer = app.screen.query_one("#output-text", LongText)
        assert viewer.lines and app.screen.query_one("#output").display
        screen = screen_text(app)
        shown = viewer.lines[: viewer.scrollable_content_region.height]
        assert len(shown) > 5
        for line in shown:
            assert line in screen, line
        # Words wrap whole: every row ends at a word's end.
        assert all(
            line.endswith(("ok", "🙂", "語", "thanks", "💻", "done", "❤️", "👧")) for line in shown
        )
        await pilot.press("escape")
        await settle(pilot)
        assert "Input" in screen_text(app), "the desk is back when the viewer closes"

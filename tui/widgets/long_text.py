"""A read-only view of a very long text (a 10 MB output) that draws only the visible lines.

The text is sanitised and hard-wrapped once, off the UI thread (:func:`prepare`); drawing a line
is then a list lookup, so scrolling a 10 MB output costs what scrolling a page costs.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.text import safe_text, wrap_lines

WRAP = 200


def prepare(raw: str, width: int = WRAP) -> list[str]:
    """Sanitise and wrap ``raw`` into lines of at most ``width`` cells (call from a worker)."""
    return wrap_lines(safe_text(raw), width)


class LongText(ScrollView, can_focus=True):
    """Line-API viewer over a list of prepared lines."""

    DEFAULT_CSS = """
    LongText {
        background: $surface;
    }
    """

    BINDINGS = [
        ("space", "page_down", "Page down"),
        ("shift+space", "page_up", "Page up"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []

    def set_lines(self, lines: list[str]) -> None:
        self.lines = lines
        width = max((len(line) for line in lines[:5000]), default=0)
        self.virtual_size = Size(width, len(lines))
        self.scroll_home(animate=False)
        self.refresh()

    def action_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, style)
        strip = Strip([Segment(self.lines[index], style)])
        return strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, style)

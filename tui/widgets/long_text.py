"""A read-only view of a very long text (a 10 MB output) that draws only the visible lines.

The text is sanitised and wrapped (words whole) to the viewer's width in cells, off the UI thread
(:func:`prepare`), again whenever that width changes; drawing a line is then a list lookup, so
scrolling a 10 MB output costs what scrolling a page costs. No line is wider than the viewer, so
nothing is cropped and there is never anything to scroll sideways to.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual import events, work
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.text import safe_text, wrap_lines

WRAP = 200


def prepare(raw: str, width: int = WRAP) -> list[str]:
    """Sanitise and wrap ``raw`` into lines of at most ``width`` cells (call from a worker)."""
    return wrap_lines(safe_text(raw), width)


class LongText(ScrollView, can_focus=True):
    """Line-API viewer over a text wrapped to its own width (see :meth:`set_text`)."""

    DEFAULT_CSS = """
    LongText {
        background: $surface;
        scrollbar-gutter: stable;
    }
    """

    BINDINGS = [
        ("space", "page_down", "Page down"),
        ("shift+space", "page_up", "Page up"),
    ]

    class Wrapped(Message):
        """The text is laid out for the viewer's current width, in ``lines`` lines."""

        def __init__(self, viewer: LongText, lines: int) -> None:
            super().__init__()
            self.viewer = viewer
            self.lines = lines

        @property
        def control(self) -> LongText:
            return self.viewer

    def __init__(self, text: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        self._text = text
        # The width the lines are (being) wrapped to: the vertical scrollbar's gutter is kept
        # out of it whether or not the bar shows, so a long text never loses its last cells to it.
        self._wrap_width = 0

    def set_text(self, text: str) -> None:
        """Show ``text`` (untrusted, any size): sanitised and wrapped in a worker."""
        self._text = text
        self._wrap_width = 0
        self.lines = []
        self._rewrap()

    def on_resize(self, event: events.Resize) -> None:
        self._rewrap()

    def _rewrap(self) -> None:
        width = self.scrollable_content_region.width
        if self._text is None or width <= 0 or width == self._wrap_width:
            return
        self._wrap_width = width
        self._wrap(self._text, width)

    @work(thread=True, exclusive=True, exit_on_error=False, group="long-text")
    def _wrap(self, text: str, width: int) -> None:
        lines = prepare(text, width)
        self.app.call_from_thread(self._wrapped, width, lines)

    def _wrapped(self, width: int, lines: list[str]) -> None:
        if width != self._wrap_width or not self.is_attached:
            return  # a resize asked for another width meanwhile
        old = len(self.lines)
        top = self.scroll_offset.y
        self.set_lines(lines)
        if old and top:
            # Rewrapped after a resize: stay at about the same place in the text.
            self.scroll_to(y=top * len(lines) // old, animate=False)
        self.post_message(self.Wrapped(self, len(lines)))

    def set_lines(self, lines: list[str]) -> None:
        """Show lines already sanitised and wrapped (each at most the viewer's width)."""
        self.lines = lines
        width = max((cell_len(line) for line in lines[:5000]), default=0)
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

"""The review queue as a virtual list: only the rows on screen are ever fetched or drawn.

The list knows how many rows the filtered queue has and keeps a small cache of blocks of rows
around the viewport. A line whose block is missing is drawn as a placeholder and the list asks
for the block with a :class:`QueueList.NeedBlock` message; the desk fetches it from SQLite on its
database thread and hands it back with :meth:`QueueList.set_block`. A million-run queue costs
the same to open and scroll as a thousand-run one.
"""

from __future__ import annotations

from dataclasses import replace

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from review.queue import QueueRow
from tui.text import one_line

BLOCK = 100
MAX_BLOCKS = 24


def short_id(run_id: str) -> str:
    """A trace id short enough for a queue line and still telling runs apart: whole up to 12
    characters, else its head (what find matches as a prefix) and its tail (where sequential
    ids differ): ``4bf92…4736b0``."""
    text = one_line(run_id, 200)
    return text if len(text) <= 12 else f"{text[:5]}…{text[-6:]}"


def row_cells(row: QueueRow, width: int) -> str:
    """One queue line: mark (✓ graded, » skipped, ◐ draft: started, not complete, · to do),
    time, status, business ref (else a short trace id), then workflow if it fits."""
    mark = "✓" if row.graded else "»" if row.skipped else "◐" if row.draft else "·"
    when = one_line(row.started_at[5:16].replace("T", " "), 11)
    status = {"ok": " ", "error": "✗"}.get(row.status) or one_line(row.status, 1)
    ref = one_line(row.business_ref, 40) if row.business_ref else short_id(row.run_id)
    text = f"{mark} {when} {status} {ref}"
    room = width - len(text) - 2
    if room >= 8:
        text = f"{text:<{max(len(text), 31)}}  {one_line(row.workflow, room)}"
    return text


class QueueList(ScrollView, can_focus=False):
    """A virtual list over the filtered queue, with a cursor on the open run."""

    DEFAULT_CSS = """
    QueueList {
        background: $surface;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    QueueList > .queue-list--cursor {
        background: $accent 40%;
        text-style: bold;
    }
    QueueList > .queue-list--graded {
        color: $text-success;
    }
    QueueList > .queue-list--draft {
        color: $text-warning;
    }
    QueueList > .queue-list--loading {
        color: $text-muted;
    }
    """

    COMPONENT_CLASSES = {
        "queue-list--cursor",
        "queue-list--graded",
        "queue-list--draft",
        "queue-list--loading",
    }

    class NeedBlock(Message):
        """The list needs rows ``block * BLOCK`` .. ``+ BLOCK`` of generation ``generation``."""

        def __init__(self, block: int, generation: int) -> None:
            super().__init__()
            self.block = block
            self.generation = generation

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.total = 0
        self.cursor = 0
        self.generation = 0
        self.loaded = False
        self._blocks: dict[int, list[QueueRow]] = {}
        self._asked: set[int] = set()

    # -- data ---------------------------------------------------------------------------------

    def reset(self, total: int, *, cursor: int = 0) -> None:
        """A new filter or a new sync: forget every cached row."""
        self.generation += 1
        self.total = total
        self.cursor = max(0, min(cursor, total - 1)) if total else 0
        self.loaded = True
        self._blocks.clear()
        self._asked.clear()
        self.virtual_size = Size(self.size.width, total)
        self.refresh()
        self.call_after_refresh(self.scroll_to_cursor)

    def set_total(self, total: int) -> None:
        """The exact count arrived: keep the cached rows, resize the list."""
        self.total = total
        self.cursor = max(0, min(self.cursor, total - 1)) if total else 0
        self.virtual_size = Size(self.size.width, total)
        self.refresh()

    def set_block(self, block: int, rows: list[QueueRow], generation: int) -> None:
        if generation != self.generation:
            return
        self._asked.discard(block)
        self._blocks[block] = rows
        if len(self._blocks) > MAX_BLOCKS:
            here = self.cursor // BLOCK
            far = sorted(self._blocks, key=lambda b: abs(b - here), reverse=True)
            for b in far[: len(self._blocks) - MAX_BLOCKS]:
                del self._blocks[b]
        self.refresh()

    def has_block(self, block: int) -> bool:
        return block in self._blocks

    def row(self, index: int) -> QueueRow | None:
        rows = self._blocks.get(index // BLOCK)
        if rows is None:
            return None
        i = index % BLOCK
        return rows[i] if i < len(rows) else None

    def index_of(self, run: int) -> int | None:
        """Where ``run`` is among the cached rows, if it is cached."""
        for block, rows in self._blocks.items():
            for i, r in enumerate(rows):
                if r.run == run:
                    return block * BLOCK + i
        return None

    def mark_graded(self, run: int, graded: bool) -> None:
        for block, rows in self._blocks.items():
            for i, r in enumerate(rows):
                if r.run == run and r.graded != graded:
                    rows[i] = replace(r, graded=graded)
                    self.refresh_line(block * BLOCK + i)

    def mark_draft(self, run: int, draft: bool) -> None:
        """Redraw ``run``'s row as a draft (started, not complete) or not."""
        for block, rows in self._blocks.items():
            for i, r in enumerate(rows):
                if r.run == run and r.draft != draft:
                    rows[i] = replace(r, draft=draft)
                    self.refresh_line(block * BLOCK + i)

    def mark_skipped(self, run: int, skipped: bool) -> None:
        """Redraw ``run``'s row as skipped (not judgeable, with a reason) or not."""
        for block, rows in self._blocks.items():
            for i, r in enumerate(rows):
                if r.run == run and r.skipped != skipped:
                    rows[i] = replace(r, skipped=skipped)
                    self.refresh_line(block * BLOCK + i)

    def ask(self, index: int) -> None:
        """Ask for the block holding ``index`` unless it is cached or already asked for."""
        block = index // BLOCK
        if 0 <= index < self.total and block not in self._blocks and block not in self._asked:
            self._asked.add(block)
            self.post_message(self.NeedBlock(block, self.generation))

    # -- cursor -------------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        if not self.total:
            return
        index = max(0, min(index, self.total - 1))
        old = self.cursor
        self.cursor = index
        # ScrollView.refresh_line takes the line in the list; it subtracts the scroll itself.
        self.refresh_line(old)
        self.refresh_line(index)
        self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if height <= 0:
            return
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    # -- drawing ------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.total)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        # visual_style is cached per style change; rich_style walks every ancestor on each call,
        # which was most of the cost of a row (the list redraws every row each time it scrolls).
        base = self.visual_style.rich_style
        if index >= self.total:
            if y == 0 and not self.total:
                note = " loading the queue…" if not self.loaded else " no runs match"
                muted = base + self.get_component_rich_style("queue-list--loading")
                return Strip([Segment(note, muted)]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        row = self.row(index)
        if row is None:
            self.ask(index)
            muted = base + self.get_component_rich_style("queue-list--loading")
            return Strip([Segment(" …", muted)]).adjust_cell_length(width, base)
        style: Style = base
        if row.graded:
            style = style + self.get_component_rich_style("queue-list--graded")
        elif row.draft:
            style = style + self.get_component_rich_style("queue-list--draft")
        if index == self.cursor:
            style = style + self.get_component_rich_style("queue-list--cursor")
        text = row_cells(row, width)
        return Strip([Segment(text, style)]).crop(0, width).adjust_cell_length(width, style)

"""The open run: header, input, step timeline, output and final action.

Every string here came from a run and is untrusted: it goes through :func:`tui.text.safe_text`
and into ``rich.text.Text`` built from plain strings (never markup). Long fields are cut to a
preview before they are sanitised or laid out, so a 10 MB output costs what 4,000 characters
cost; the full output opens in :class:`tui.widgets.long_text.LongText` with ``o``.
"""

from __future__ import annotations

import json
from typing import Literal, NamedTuple

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.content import Content
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style

from review.queue import RunDetail, StepView
from tui.text import human_size, one_line, pretty_json, preview, safe_text

FIELD_CHARS = 4000
FIELD_LINES = 60
STEP_CHARS = 1500
STEP_LINES = 20

LABEL = "bold"
DIM = "dim"
ERROR = "bold white on red"
ERROR_TEXT = "red"
SECTION = "bold underline"
#: The tag on the step the reviewer marked as the first wrong one.
MARK = "✗ first wrong step"


def _num(n: int | None, unit: str = "") -> str:
    return "—" if n is None else f"{n:,}{unit}"


def _latency(ms: int | None) -> str:
    if ms is None:
        return "—"
    # No space before the unit: a figure and its unit never wrap apart.
    return f"{ms}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def _cost(usd: float | None) -> str:
    return "—" if usd is None else f"${usd:.4f}"


def add_block(
    text: Text, raw: str | None, *, chars: int, lines: int, style: str = "", more_key: str = ""
) -> bool:
    """Append a sanitised preview of ``raw``; return True when something was left out."""
    if raw is None or raw == "":
        text.append("(empty)", DIM)
        return False
    head, rest = preview(raw, max_chars=chars, max_lines=lines)
    text.append(safe_text(head), style)
    if rest:
        hint = f" — press {more_key} to expand" if more_key else ""
        text.append(f"\n… {human_size(rest)} more characters{hint}", "italic yellow")
        return True
    return False


def _when(iso: str | None) -> str:
    return "—" if not iso else one_line(iso.replace("T", " ").removesuffix("Z")[:19], 30)


#: The header's word for the reviewer's grade of the run, and its style.
MARKS = {
    "graded": "green",
    "draft": "bold yellow",
    "to grade": "dim",
    "read-only": "bold magenta",
}


def sample_reason(reason: str | None) -> str:
    """The header's words for why a run was sampled (the assignment's reason, from
    ``review.sampling``): "sample" is the random draw at the workflow's rate, "always:…" an
    always-include rule; anything else (the desk's own line for a run outside the queue) as is."""
    if not reason:
        return "—"
    if reason == "sample":
        return "random (at the workflow's rate)"
    if reason.startswith("always:"):
        return "always included: " + reason[len("always:") :]
    return reason


def header_text(detail: RunDetail, reason: str | None, mark: str | None = None) -> Text:
    t = Text()
    t.append(one_line(detail.run_id, 100), "bold")
    if mark:
        t.append(f"  [{mark}]", MARKS.get(mark, ""))
    t.append("\nworkflow ", LABEL)
    t.append(one_line(detail.workflow, 60))
    t.append(" · status ", LABEL)
    t.append(one_line(detail.status, 30), ERROR if detail.status == "error" else "bold")
    t.append("\nstarted ", LABEL)
    t.append(_when(detail.started_at))
    t.append(" → ")
    t.append(_when(detail.ended_at)[11:] or "—")
    t.append(" · ", LABEL)
    t.append(_latency(detail.latency_ms))
    t.append("\ntokens ", LABEL)
    t.append(f"{_num(detail.tokens_in)} in / {_num(detail.tokens_out)} out")
    t.append(" · cost ", LABEL)
    t.append(_cost(detail.cost_usd))
    t.append("\nref ", LABEL)
    t.append(one_line(detail.business_ref or "—", 60))
    t.append(" · feedback ", LABEL)
    fb = detail.feedback or "—"
    t.append(one_line(fb, 40), ERROR_TEXT if fb == "negative" else "")
    t.append("\nsample ", LABEL)
    t.append(one_line(sample_reason(reason), 60))
    if detail.tags:
        t.append("\ntags ", LABEL)
        t.append(one_line(", ".join(str(tag) for tag in detail.tags), 160), DIM)
    if not detail.hydrated:
        t.append("\n(only the summary of this run is stored locally)", "italic yellow")
    return t


def step_text(step: StepView, *, marked: bool = False) -> Text:
    t = Text()
    t.append(f"{step.idx + 1:>2} ", ERROR if marked else DIM)
    if marked:
        # First on the line, so a narrow view never wraps the tag apart.
        t.append(f" {MARK} ", ERROR)
        t.append(" ")
    t.append(one_line(step.kind, 12), "cyan")
    t.append(" ")
    t.append(one_line(step.name, 60), "bold")
    t.append(f"  {_latency(step.latency_ms)}", DIM)
    if step.tokens_in is not None or step.tokens_out is not None:
        t.append(f"  {_num(step.tokens_in)}→{_num(step.tokens_out)} tok", DIM)
    if step.error_type or step.error_message:
        t.append("\n   ✗ ", ERROR_TEXT)
        t.append(one_line(step.error_type or "error", 80), ERROR)
        t.append(" ")
        t.append(safe_text((step.error_message or "")[:STEP_CHARS]), ERROR_TEXT)
    if step.arguments is not None:
        t.append("\n   args  ", LABEL)
        add_block(t, pretty_json(step.arguments), chars=STEP_CHARS, lines=STEP_LINES)
    if step.result is not None:
        t.append("\n   result ", LABEL)
        add_block(t, pretty_json(step.result), chars=STEP_CHARS, lines=STEP_LINES)
    return t


def steps_text(detail: RunDetail, marked: int | None = None) -> tuple[Text, list[int]]:
    """The step timeline, and the line each step starts on within it (plus the end)."""
    t = Text()
    starts: list[int] = []
    line = 0
    if not detail.steps:
        t.append("(no steps)", DIM)
    for i, step in enumerate(detail.steps):
        if i:
            t.append("\n")
        one = step_text(step, marked=step.idx == marked)
        starts.append(line)
        line += one.plain.count("\n") + 1
        t.append_text(one)
    starts.append(line)
    return t, starts


def final_text(detail: RunDetail) -> Text:
    t = Text()
    final = detail.final_action
    if not final:
        t.append("(none)", DIM)
        return t
    t.append("kind ", LABEL)
    t.append(one_line(str(final.get("kind", "—")), 60))
    t.append("   status ", LABEL)
    t.append(one_line(str(final.get("status", "—")), 60))
    t.append("\n")
    summary = final.get("summary", "")
    if not isinstance(summary, str):
        summary = json.dumps(summary, ensure_ascii=False)
    add_block(t, summary, chars=FIELD_CHARS, lines=FIELD_LINES)
    return t


#: What each part of the run is drawn as.
Kind = Literal["header", "gap", "title", "body"]


class _Row(NamedTuple):
    """One screen line of the run: a piece of a source line, wrapped to the view's width."""

    kind: Kind
    content: Content
    x: int  # where the piece starts in its source line (characters), for text selection
    y: int  # the source line, counted over the whole run


class RunView(ScrollView, can_focus=False):
    """The centre pane: the open run as one virtual text. Scrolls with space / shift+space.

    The run is laid out once per run and width: each part (header, the sections' titles and
    bodies) is wrapped by cells, with Textual's own word wrap (what a ``Static`` does), into
    rows; drawing a frame renders only the rows on screen. The layout is what the widget tree of
    ``Static`` widgets it replaces drew: a header block with a 1-cell padding on its own
    background, then each section as a blank line, its title and its body.
    """

    DEFAULT_CSS = """
    RunView {
        height: 1fr;
        overflow-x: hidden;
    }
    RunView > .run-view--header {
        background: $boost;
    }
    RunView > .run-view--title {
        color: $text-accent;
    }
    RunView > .run-view--step-cursor {
        background: $primary 30%;
    }
    """

    COMPONENT_CLASSES = {"run-view--header", "run-view--title", "run-view--step-cursor"}

    #: Cells of padding on each side of the header block.
    HEADER_PAD = 1

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.detail: RunDetail | None = None
        self.output_cut = False
        # The run as source lines: (kind, content) blocks, and where each section starts.
        self._blocks: list[tuple[Kind, Content]] = []
        self._starts: dict[str, int] = {}
        self._rows: list[_Row] = []
        self._wrap_width = 0
        self._view = (0, 0)  # the content size the rows were fitted to
        self._styles: dict[Kind, Style] = {}
        self._reason: str | None = None
        self._mark: str | None = None
        # The step cursor and the marked step (``steps.idx``), and where each step's source
        # lines start and end in the run (the last entry is the end of the last step).
        self.step_cursor: int | None = None
        self.marked_step: int | None = None
        self._step_lines: list[int] = []
        self._step_offsets: list[int] = []

    # -- what the desk calls ----------------------------------------------------------------------

    def show_message(self, message: str) -> None:
        """Show one line of text instead of a run (loading, no runs, an error)."""
        self.detail = None
        self.output_cut = False
        self.step_cursor = self.marked_step = None
        self._step_offsets = []
        self._set_blocks([("header", Text(message, DIM))], {})

    def show(
        self,
        detail: RunDetail,
        reason: str | None,
        *,
        cursor: int | None = None,
        marked: int | None = None,
        keep_scroll: bool = False,
        mark: str | None = None,
    ) -> None:
        """Lay out ``detail`` with the step ``cursor`` and the ``marked`` first wrong step, and
        ``mark`` (graded, draft, to grade, read-only) in the header; only previews of long
        fields are sanitised and laid out."""
        self.detail = detail
        self._reason = reason
        self._mark = mark
        self.step_cursor, self.marked_step = cursor, marked
        inp = Text()
        add_block(inp, detail.input, chars=FIELD_CHARS, lines=FIELD_LINES)
        out = Text()
        self.output_cut = add_block(
            out, detail.output, chars=FIELD_CHARS, lines=FIELD_LINES, more_key="o"
        )
        steps, self._step_offsets = steps_text(detail, marked)
        self._set_blocks(
            [("header", header_text(detail, reason, mark))],
            {
                "input": ("Input", inp),
                "steps": (f"Steps ({len(detail.steps)})", steps),
                "output": ("Output", out),
                "final": ("Final action", final_text(detail)),
            },
            keep_scroll=keep_scroll,
        )
        self._keep_cursor_visible()

    def set_steps(self, cursor: int | None, marked: int | None, *, mark: str | None = None) -> None:
        """Move the step cursor and show the marked step (and the grade's ``mark``); the view
        scrolls to keep the cursor's step on screen. A new mark lays the run out again where it
        stands."""
        if self.detail is None:
            return
        if marked != self.marked_step or (mark is not None and mark != self._mark):
            self.show(
                self.detail,
                self._reason,
                cursor=cursor,
                marked=marked,
                keep_scroll=True,
                mark=mark if mark is not None else self._mark,
            )
            return
        if cursor != self.step_cursor:
            self.step_cursor = cursor
            self.refresh()
            self._keep_cursor_visible()

    def step_rows(self, step: int) -> tuple[int, int] | None:
        """The first and last row (before scrolling) of step ``step``'s lines."""
        lines = self._step_range(step)
        if lines is None:
            return None
        first, end = lines
        rows = [i for i, row in enumerate(self._rows) if first <= row.y < end]
        return (rows[0], rows[-1]) if rows else None

    def _step_range(self, step: int | None) -> tuple[int, int] | None:
        if step is None or not self._step_lines or not 0 <= step < len(self._step_lines) - 1:
            return None
        return self._step_lines[step], self._step_lines[step + 1]

    def _keep_cursor_visible(self) -> None:
        if self.step_cursor is None:
            return
        if not self._rows or self._wrap_width == 0:
            self.call_after_refresh(self._keep_cursor_visible)
            return
        rows = self.step_rows(self.step_cursor)
        if rows is None:
            return
        first, last = rows
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if first < top:
            self.scroll_to(y=first, animate=False, immediate=True)
        elif last >= top + height:
            self.scroll_to(y=max(min(first, last - height + 1), 0), animate=False, immediate=True)

    # -- what tests read --------------------------------------------------------------------------

    def section_text(self, name: str) -> str:
        """The plain text of a section (``header``, ``input``, ``steps``, ``output``, ``final``)."""
        start = self._starts[name]
        return str(self._blocks[start][1].plain) if start < len(self._blocks) else ""

    def section_row(self, name: str) -> int:
        """The first row of a section's text in the run (before scrolling)."""
        block = self._starts[name]
        y = sum(len(content.plain.split("\n")) for _, content in self._blocks[:block])
        return next(i for i, row in enumerate(self._rows) if row.y >= y)

    # -- layout ------------------------------------------------------------------------------------

    def _set_blocks(
        self,
        head: list[tuple[Kind, Text]],
        sections: dict[str, tuple[str, Text]],
        *,
        keep_scroll: bool = False,
    ) -> None:
        console = self.app.console
        # Content.from_rich_text never parses markup: the Text was built from plain strings.
        blocks: list[tuple[Kind, Content]] = [
            (kind, Content.from_rich_text(text, console=console)) for kind, text in head
        ]
        starts = {"header": 0}
        for name, (title, body) in sections.items():
            blocks.append(("gap", Content("")))
            blocks.append(("title", Content.from_rich_text(Text(title, SECTION), console=console)))
            starts[name] = len(blocks)
            blocks.append(("body", Content.from_rich_text(body, console=console)))
        self._blocks, self._starts = blocks, starts
        self._step_lines = []
        if "steps" in starts and self._step_offsets:
            y = sum(len(content.plain.split("\n")) for _, content in blocks[: starts["steps"]])
            self._step_lines = [y + offset for offset in self._step_offsets]
        self._wrap_width = 0
        top = self.scroll_offset.y
        self._fit(force=True)
        if keep_scroll:
            self.scroll_to(y=top, animate=False, immediate=True)
        else:
            self.scroll_home(animate=False)
        # Always laid out, even when the new run has as many rows as the last: the frame that
        # shows a run is a layout refresh (the desk's screen_layout_refresh_signal marks it).
        self.refresh(layout=True)

    def _fit(self, *, force: bool = False) -> None:
        """Wrap the run to the view's width: with room for the scrollbar when it will show."""
        width, height = self.content_region.size
        if width <= 0 or height <= 0:
            return  # not laid out yet: on_resize fits it
        if not force and (width, height) == self._view:
            return
        self._view = (width, height)
        bar = self.styles.scrollbar_size_vertical if self.styles.overflow_y == "auto" else 0
        self._wrap(max(width - bar, 1))
        if bar and len(self._rows) <= height:
            self._wrap(width)  # no scrollbar: the rows may use its column
        self.virtual_size = Size(self._wrap_width, len(self._rows))

    def _wrap(self, width: int) -> None:
        if width == self._wrap_width:
            return
        rows: list[_Row] = []
        y = 0
        pad = self.HEADER_PAD
        for kind, content in self._blocks:
            if kind == "gap":
                rows.append(_Row(kind, content, 0, y))
                y += 1
                continue
            inner = max(width - 2 * pad, 1) if kind == "header" else width
            for line in content.split("\n", allow_blank=True):
                plain = line.plain
                if len(plain) <= inner and "\t" not in plain and line.cell_length <= inner:
                    rows.append(_Row(kind, line, 0, y))  # most lines fit as they are
                else:
                    # Textual's own wrap, as a Static draws its content (by cells, words kept
                    # whole, words wider than the line folded); it says where each piece starts.
                    for piece in line._wrap_and_format(inner, overflow="fold"):
                        rows.append(_Row(kind, piece.content, piece.x, y))
                y += 1
        self._rows = rows
        self._wrap_width = width

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    # -- drawing -----------------------------------------------------------------------------------

    def _style(self, kind: Kind) -> Style:
        style = self._styles.get(kind)
        if style is None:
            if kind == "header":
                style = self.get_visual_style("run-view--header")
            elif kind == "title":
                style = self.get_visual_style("run-view--title")
            else:
                style = self.visual_style
            self._styles[kind] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._wrap_width and self._blocks:
            self._wrap(width)  # resized: on_resize fits the scrollbar and the height next
        return self._render_row(self.scroll_offset.y + y, width, self.text_selection)

    def _render_row(self, index: int, width: int, selection: Selection | None) -> Strip:
        base = self.visual_style.background_style.rich_style
        if index >= len(self._rows):
            return Strip.blank(width, base)
        kind, content, x, y = self._rows[index]
        if kind == "gap":
            return Strip.blank(width, base)
        style = self._style(kind)
        cursor = self._step_range(self.step_cursor)
        if cursor is not None and cursor[0] <= y < cursor[1]:
            style = style + self.get_visual_style("run-view--step-cursor")
            base = style.background_style.rich_style
        if selection is not None and (span := selection.get_span(y)) is not None:
            start, end = span
            end = len(content.plain) + x if end == -1 else end
            if start < x + len(content.plain) and end > x:
                screen = Style.from_styles(self.screen.get_component_styles("screen--selection"))
                content = content.stylize(screen, max(start - x, 0), end - x)
        fill = style.background_style.rich_style
        pad = self.HEADER_PAD if kind == "header" else 0
        segments = [Segment(" " * pad, fill)] if pad else []
        for text, text_style in content.render(style, end=""):
            # The offset in the source line lets the mouse select text, as in a Static.
            segments.append(Segment(text, (style + text_style).rich_style_with_offset(x, y)))
            x += len(text)
        used = pad + content.cell_length
        if used > width:  # never with rows wrapped to this width; a resize is on its way
            return Strip(segments).crop(0, width)
        if used < width:
            segments.append(Segment(" " * (width - used), fill if pad else base))
        return Strip(segments, width)

    # -- text selection ----------------------------------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        text = "\n".join(content.plain for _, content in self._blocks)
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

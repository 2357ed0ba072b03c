"""The desk's overlays: the comment and find boxes, the full output, help.

They are drawn inside the desk screen, not pushed as screens, so every key keeps reaching the
desk's key tape in order: a letter typed after ``c`` is part of the comment even when it arrives
before the box is on screen. None of them takes focus.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Label, Static

from review.rubric import Rubric
from tui.text import guidance_text, human_size, safe_text, wrap_lines
from tui.widgets.long_text import LongText

#: The text box's keys, most needed first: the hint keeps as many whole items as fit its width.
PROMPT_HINT = "enter save · escape cancel · ctrl+w word · ctrl+u clear · ←/→ home/end move"


def fit_hint(hint: str, width: int) -> str:
    """The items of ``hint`` (split at " · "), in order, that fit ``width`` cells: an item that
    does not fit is left out whole (the items are written most needed first)."""
    kept: list[str] = []
    used = 0
    for item in hint.split(" · "):
        size = cell_len(item) + (3 if kept else 0)
        if used + size <= width:
            kept.append(item)
            used += size
    return " · ".join(kept)


class PromptBox(Vertical):
    """One line of text being typed: the title, the text with a cursor, the keys."""

    _hint = PROMPT_HINT

    def on_resize(self, event: events.Resize) -> None:
        self._draw_hint()

    def _draw_hint(self) -> None:
        label = self.query_one("#prompt-hint", Label)
        # The box's width (the label is as wide as its text); 0 before the box is laid out,
        # and it is drawn again when it is (on_resize).
        width = self.content_region.width or 80
        label.update(Text(fit_hint(self._hint, width), "dim"))

    def compose(self) -> ComposeResult:
        yield Label(id="prompt-title")
        yield Static(id="prompt-text")
        yield Label(id="prompt-hint")

    def show(
        self,
        title: str,
        text: str,
        *,
        cursor: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.query_one("#prompt-title", Label).update(Text(title, "bold"))
        self._hint = PROMPT_HINT if hint is None else hint
        self._draw_hint()
        at = len(text) if cursor is None else min(max(cursor, 0), len(text))
        # The text typed is printable already (the tape keeps nothing else); safe_text anyway.
        t = Text(safe_text(text[:at]))
        t.append("▏", "bold")
        t.append(safe_text(text[at:]))
        self.query_one("#prompt-text", Static).update(t)


class OutputPanel(Vertical):
    """The whole output of a run: the viewer wraps it to its own width (by cells) in a worker
    and draws only the lines on screen."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title = ""
        self._chars = 0

    def compose(self) -> ComposeResult:
        yield Label(id="output-title")
        text = LongText(id="output-text")
        text.can_focus = False
        yield text
        yield Label(Text("space/pgdn/j scroll · escape or o close", "dim"))

    def show(self, title: str, raw: str) -> None:
        self._title, self._chars = title, len(raw)
        self.query_one("#output-title", Label).update(Text(f"{title} — wrapping…", "bold"))
        self.query_one(LongText).set_text(raw)

    @on(LongText.Wrapped)
    def _wrapped(self, event: LongText.Wrapped) -> None:
        self.query_one("#output-title", Label).update(
            Text(
                f"{self._title} — {human_size(self._chars)} characters, {event.lines:,} lines",
                "bold",
            )
        )

    def scroll(self, unit: str, amount: int) -> None:
        _scroll(self.query_one(LongText), unit, amount)


class HelpText(Widget):
    """The help's text laid out for its own width, so a wrapped description stays under its
    column (see :func:`help_text`)."""

    DEFAULT_CSS = """
    HelpText {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[tuple[str, str, str]] = []
        self.rubric: Rubric | None = None

    def show(self, rows: list[tuple[str, str, str]], rubric: Rubric | None) -> None:
        self.rows, self.rubric = rows, rubric
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(help_text(self.rows, self.rubric, width=width).plain.split("\n"))

    def render(self) -> Text:
        return help_text(self.rows, self.rubric, width=self.content_region.width or None)


class HelpPanel(VerticalScroll, can_focus=False):
    """Every key as remapped, and the rubric's keys and anchors."""

    def compose(self) -> ComposeResult:
        yield Label(Text("escape or ? closes · j/k/space scroll", "dim"))
        yield HelpText(id="help-text")

    def show(self, rows: list[tuple[str, str, str]], rubric: Rubric | None) -> None:
        self.query_one(HelpText).show(rows, rubric)
        self.scroll_home(animate=False)

    def scroll(self, unit: str, amount: int) -> None:
        _scroll(self, unit, amount)


def _scroll(widget: VerticalScroll | LongText, unit: str, amount: int) -> None:
    if unit == "page":
        if amount > 0:
            widget.scroll_page_down(animate=False)
        else:
            widget.scroll_page_up(animate=False)
    elif unit == "line":
        widget.scroll_relative(y=amount, animate=False)
    elif unit == "home":
        widget.scroll_home(animate=False)
    elif unit == "end":
        widget.scroll_end(animate=False)


def _hanging(t: Text, text: str, indent: int, width: int | None, style: str = "") -> None:
    """Append ``text`` from column ``indent``, its wrapped lines indented as far (by cells)."""
    if width is None or width - indent < 12:
        t.append(text, style)
        return
    lines = wrap_lines(text, width - indent)
    t.append(lines[0], style)
    for line in lines[1:]:
        t.append("\n" + " " * indent)
        t.append(line, style)


def help_text(
    rows: list[tuple[str, str, str]], rubric: Rubric | None, *, width: int | None = None
) -> Text:
    """Help as text: each key, what it does and why; the rubric's keys and anchors. With a
    ``width`` (cells), what wraps stays under its own column (a hanging indent)."""
    t = Text()
    t.append("Keys\n", "bold underline")
    key_cells = min(max((cell_len(key) for key, _, _ in rows), default=0) + 2, 22)
    what_cells = min(max((cell_len(what) for _, what, _ in rows), default=0) + 2, 18)
    for key, description, tooltip in rows:
        t.append("  " + key + " " * max(key_cells - cell_len(key), 1), "bold cyan")
        t.append(description + " " * max(what_cells - cell_len(description), 1))
        indent = 2 + max(key_cells, cell_len(key) + 1) + max(what_cells, cell_len(description) + 1)
        _hanging(t, tooltip, indent, width, "dim")
        t.append("\n")
    if rubric is not None:
        t.append("\nRubric keys", "bold underline")
        t.append(f"  ({rubric.id}@{rubric.version})\n", "dim")
        for criterion in rubric.display_order:
            t.append(f"  {criterion.id}", "bold")
            t.append(" (required)" if criterion.required else " (optional)", "dim")
            t.append("\n")
            if criterion.guidance:
                t.append("    ")
                start = len(t)
                t.append(guidance_text(criterion.guidance, indent="    "))
                t.stylize("italic", start, len(t))
                t.append("\n")
            for level in criterion.scale.levels:
                t.append(f"      {level.key}", "bold cyan")
                label = safe_text(level.label)
                t.append(f"  {label}")
                if level.anchor:
                    indent = 8 + cell_len(level.key) + cell_len(label) + 3
                    t.append(" — ", "dim")
                    _hanging(t, safe_text(level.anchor), indent, width, "dim")
                t.append("\n")
        t.append(
            "\nOptional criteria are listed first: the last required answer completes the grade\n"
            "(with advance = auto it opens the next run; with enter, enter does).\n"
            "The level already chosen, pressed again, stays chosen; the clear key, then an\n"
            "answer's key (a level key, e, ! or the skip key), takes it back (undo with u).\n"
            "Keys are applied in the order typed, however fast: each lands on the run that is\n"
            "open when it is reached, and every key typed is saved before the desk quits.\n",
            "italic",
        )
    return t

"""The open run: header, input, step timeline, output and final action.

Every string here came from a run and is untrusted: it goes through :func:`tui.text.safe_text`
and into ``rich.text.Text`` built from plain strings (never markup). Long fields are cut to a
preview before they are sanitised or laid out, so a 10 MB output costs what 4,000 characters
cost; the full output opens in :class:`tui.widgets.long_text.LongText` with ``o``.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

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


def header_text(detail: RunDetail, reason: str | None) -> Text:
    t = Text()
    t.append(one_line(detail.run_id, 100), "bold")
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
    t.append(one_line(reason or "—", 60))
    if detail.tags:
        t.append("\ntags ", LABEL)
        t.append(one_line(", ".join(str(tag) for tag in detail.tags), 160), DIM)
    if not detail.hydrated:
        t.append("\n(only the summary of this run is stored locally)", "italic yellow")
    return t


def step_text(step: StepView) -> Text:
    t = Text()
    t.append(f"{step.idx + 1:>2} ", DIM)
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


def steps_text(detail: RunDetail) -> Text:
    t = Text()
    if not detail.steps:
        t.append("(no steps)", DIM)
    for i, step in enumerate(detail.steps):
        if i:
            t.append("\n")
        t.append_text(step_text(step))
    return t


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


class RunView(VerticalScroll):
    """The centre pane. Scrolls with space / shift+space / pgup / pgdn from the desk."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=False)
        self.detail: RunDetail | None = None
        self.output_cut = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Loading…", DIM), id="run-header")
        yield Static(Text("Input", SECTION), classes="section-title")
        yield Static(id="run-input", classes="section")
        yield Static(Text("Steps", SECTION), id="steps-title", classes="section-title")
        yield Static(id="run-steps", classes="section")
        yield Static(Text("Output", SECTION), classes="section-title")
        yield Static(id="run-output", classes="section")
        yield Static(Text("Final action", SECTION), classes="section-title")
        yield Static(id="run-final", classes="section")

    def show_message(self, message: str) -> None:
        self.detail = None
        self.query_one("#run-header", Static).update(Text(message, DIM))
        for wid in ("#run-input", "#run-steps", "#run-output", "#run-final"):
            self.query_one(wid, Static).update("")

    def show(self, detail: RunDetail, reason: str | None) -> None:
        """Lay out ``detail``; only previews of long fields are sanitised and laid out."""
        self.detail = detail
        self.query_one("#run-header", Static).update(header_text(detail, reason))
        inp = Text()
        add_block(inp, detail.input, chars=FIELD_CHARS, lines=FIELD_LINES)
        self.query_one("#run-input", Static).update(inp)
        self.query_one("#steps-title", Static).update(Text(f"Steps ({len(detail.steps)})", SECTION))
        self.query_one("#run-steps", Static).update(steps_text(detail))
        out = Text()
        self.output_cut = add_block(
            out, detail.output, chars=FIELD_CHARS, lines=FIELD_LINES, more_key="o"
        )
        self.query_one("#run-output", Static).update(out)
        self.query_one("#run-final", Static).update(final_text(detail))
        self.scroll_home(animate=False)

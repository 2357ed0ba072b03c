"""The desk's modal screens: comment, find, help, and the full output viewer.

Keys typed in a modal stay in the modal: the desk handles rubric keys on its own screen, so a
``p`` typed into the comment box is a letter of the comment, never a grade.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from review.rubric import Rubric
from tui.text import human_size
from tui.widgets.long_text import LongText


class PromptScreen(ModalScreen[str | None]):
    """One line of input: enter returns it, escape returns None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without saving", id="cancel")]

    def __init__(self, title: str, *, value: str = "", placeholder: str = "", kind: str) -> None:
        super().__init__(classes=f"prompt {kind}")
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, "bold"))
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label(Text("enter save · escape cancel", "dim"))

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CommentScreen(PromptScreen):
    def __init__(self, value: str = "") -> None:
        super().__init__(
            "Comment on this run",
            value=value,
            placeholder="what should the team know?",
            kind="comment",
        )


class FindScreen(PromptScreen):
    def __init__(self) -> None:
        super().__init__(
            "Find a run by trace id or business reference (prefix)",
            placeholder="e.g. INV-1042 or tr_0a1b",
            kind="find",
        )


class HelpScreen(ModalScreen[None]):
    """Every desk binding (with the keys in effect after the keymap) and the rubric keys."""

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", tooltip="Close help", id="help.close")
    ]

    def __init__(self, bindings: list[tuple[str, str, str]], rubric: Rubric | None) -> None:
        super().__init__()
        self.bindings_rows = bindings
        self.rubric = rubric

    def compose(self) -> ComposeResult:
        t = Text()
        t.append("Desk keys\n", "bold underline")
        for key, description, tooltip in self.bindings_rows:
            t.append(f"  {key:<22}", "bold cyan")
            t.append(f"{description:<18}")
            t.append(f"{tooltip}\n", "dim")
        if self.rubric is not None:
            t.append("\nRubric keys", "bold underline")
            t.append(f"  ({self.rubric.id}@{self.rubric.version})\n", "dim")
            for criterion in self.rubric.criteria:
                t.append(f"  {criterion.id}", "bold")
                t.append(" (required)" if criterion.required else " (optional)", "dim")
                t.append("\n")
                for level in criterion.scale.levels:
                    t.append(f"      {level.key}", "bold cyan")
                    t.append(f"  {level.label}")
                    if level.anchor:
                        t.append(f" — {level.anchor}", "dim")
                    t.append("\n")
            t.append(
                "\nSetting the last required criterion saves the grade and opens the next run.\n",
                "italic",
            )
        with VerticalScroll(classes="dialog help"):
            yield Static(t, id="help-text")
            yield Label(Text("escape / ? close", "dim"))

    def action_close(self) -> None:
        self.dismiss(None)


class OutputScreen(ModalScreen[None]):
    """The whole output of a run, sanitised and wrapped in a worker, drawn line by line."""

    BINDINGS = [
        Binding("escape,o,q", "close", "Close", tooltip="Back to the desk", id="output.close"),
    ]

    def __init__(self, title: str, raw: str) -> None:
        super().__init__()
        self.title_text = title
        self.raw = raw

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog output"):
            yield Label(Text(self.title_text, "bold"), id="output-title")
            # The viewer wraps the text to its own width in cells, in a worker, and again on resize.
            yield LongText(self.raw, id="output-text")
            yield Label(Text("space/pgdn scroll · escape or o close", "dim"))

    def on_mount(self) -> None:
        self.query_one(LongText).focus()

    @on(LongText.Wrapped)
    def _show_size(self, event: LongText.Wrapped) -> None:
        size = f"{human_size(len(self.raw))} characters, {event.lines:,} lines"
        self.query_one("#output-title", Label).update(Text(f"{self.title_text} — {size}", "bold"))

    def action_close(self) -> None:
        self.dismiss(None)

"""The desk's agent card overlay: the open run's workflow's card, read-only, over the run.

Drawn inside the desk screen like the other overlays (it takes no focus, every key stays on the
tape). The card is On call's card view (purpose, never list, tools, tier, owners, escalation,
kill switch, budget); every value is untrusted text, drawn plain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from tui.text import one_line

if TYPE_CHECKING:
    from runbooks.cards import AgentCard

HINT = "escape or a closes · j/k/space scroll"


class CardPanel(VerticalScroll, can_focus=False):
    """The agent card of the open run's workflow (or why there is none)."""

    def compose(self) -> ComposeResult:
        yield Label(Text(HINT, "dim"))
        yield Static(id="card-text")

    def show_card(self, card: AgentCard) -> None:
        from tui.oncall.card_view import card_table

        title = Text(f"Agent card: {one_line(card.workflow, 60)}", "bold")
        self.query_one("#card-text", Static).update(Group(title, Text(""), card_table(card)))
        self.scroll_home(animate=False)

    def show_message(self, text: str) -> None:
        self.query_one("#card-text", Static).update(Text(text))
        self.scroll_home(animate=False)

    def scroll(self, unit: str, amount: int) -> None:
        from tui.widgets.overlays import _scroll

        _scroll(self, unit, amount)

"""The agent card in brief: who owns the agent, whom to call, its tier, its kill switch, its
budget. Shown beside every runbook step, so the operator never has to look it up."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from runbooks.cards import AgentCard
from tui.text import one_line


def card_brief(
    card: AgentCard,
    *,
    live_state: str | None = None,
    read_at: str | None = None,
    live_error: str | None = None,
) -> Text:
    """Two lines, each cut with an ellipsis rather than wrapped (a narrow terminal keeps both):
    the live tier (with when it was read) beside the card's configured one, then the owner and
    whom to call, the kill switch and the budget."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("tier ", "dim")
    if live_state:
        t.append(live_state, "bold" if live_state == card.tier else "bold red")
        when = f" {read_at[11:16]} UTC" if read_at and len(read_at) >= 16 else ""
        t.append(f" (live, read{when})", "dim")
        t.append(f" · configured {card.tier}", "dim")
    else:
        t.append(f"configured {card.tier}", "bold")
        t.append(" (live: unreadable)" if live_error else " (live: reading…)", "dim")
    ks = card.kill_switch
    t.append(" · switch ", "dim")
    t.append(f"{ks.backend} {one_line(ks.flag, 40)}")
    if ks.fallback is not None:
        t.append(f" (2nd: {ks.fallback.backend})", "dim")
    t.append("\n")
    t.append("call ", "dim")
    t.append(one_line(card.escalation.contact, 40), "bold yellow")
    t.append(f" ({one_line(card.escalation.rotation, 30)})", "dim")
    t.append(" · owner ", "dim")
    t.append(one_line(card.owners.technical, 40), "bold")
    t.append(" · budget ", "dim")
    t.append(f"${card.budget.monthly_usd:g}/month")
    return t


class CardBrief(Static):
    """The card in brief, two lines."""

    DEFAULT_CSS = """
    CardBrief {
        height: 2;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, card: AgentCard, *, id: str | None = None) -> None:
        super().__init__(card_brief(card), id=id)
        self.card = card

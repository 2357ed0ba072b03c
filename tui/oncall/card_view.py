"""The agent card in full: what the agent is for, what it must never do, its tools and limits,
who owns it, whom to call, its kill switch and its budget."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from runbooks.cards import AgentCard, SwitchTarget
from tui.text import one_line, safe_text


def _target(t: SwitchTarget) -> str:
    where = t.url or t.path or t.project or ""
    env = f" [{t.environment}]" if t.environment else ""
    off = f", off = {t.off_state}" if t.binary else ""
    return f"{t.backend} flag {t.flag}{env} at {where}{off}"


def card_table(card: AgentCard) -> Table:
    """The card as a two-column table (every value plain text)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")

    def row(label: str, value: str, style: str = "") -> None:
        table.add_row(label, Text(safe_text(value), style))

    row("purpose", card.purpose, "bold")
    if card.description:
        row("", card.description.strip())
    row("tier", card.tier, "bold")
    row("never", "\n".join(f"• {n}" for n in card.never) or "—", "red")
    row("tools", ", ".join(card.tools) or "—")
    if card.limits:
        row("limits", ", ".join(f"{k} = {v}" for k, v in card.limits.items()))
    row("business owner", card.owners.business)
    row("technical owner", card.owners.technical)
    row("model steward", card.owners.model_steward)
    row("escalate to", f"{card.escalation.contact} (rotation {card.escalation.rotation})", "yellow")
    row("kill switch", _target(card.kill_switch))
    if card.kill_switch.fallback is not None:
        row("second channel", _target(card.kill_switch.fallback))
    alerts = ", ".join(f"{a:.0%}" for a in card.budget.alerts)
    row("budget", f"${card.budget.monthly_usd:g} a month; alerts at {alerts or '—'}")
    return table


def card_view(card: AgentCard) -> Group:
    """The card with its title, for the card view."""
    title = Text(f" Agent card: {one_line(card.workflow, 60)} ", "bold reverse")
    hint = Text("escape: back", "dim")
    return Group(title, card_table(card), hint)

"""Agent cards: one YAML file per workflow saying what the agent may do and who answers for it.

A card is the on-call operator's first page at 2 a.m.: the agent's purpose, the things it must
never do, its tools, its autonomy tier, its owners, who to escalate to, the kill switch that
stops it, and its budget. Runbooks point at a card by workflow; the kill-switch step reads the
card to know which flag to flip.

Cards are validated strictly (unknown keys are an error) so a typo never silently disables a
field; every error names ``file:line`` through :mod:`store.documents`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from store.documents import DocumentError, load_yaml, load_yaml_model, parse_model
from store.switches.base import SwitchState as SwitchState
from store.switches.base import SwitchTarget as SwitchTarget

#: How much the agent may do on its own, from least to most autonomous.
Tier = Literal["suggest-only", "human-approve", "auto-act"]

#: Tiers in order of increasing autonomy (handy for "lower the tier" kill-switch steps).
TIERS: tuple[str, ...] = ("suggest-only", "human-approve", "auto-act")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Owners(_Strict):
    """Who answers for the agent: the business side, the engineers, and model quality."""

    business: str = Field(min_length=1)
    technical: str = Field(min_length=1)
    model_steward: str = Field(min_length=1)


class Escalation(_Strict):
    """Where "escalate" goes: a channel or address, and an on-call rotation."""

    contact: str = Field(min_length=1)
    rotation: str = Field(min_length=1)


#: Switch states from safest to most autonomous.
SWITCH_STATES: tuple[str, ...] = ("disabled", *TIERS)

#: Where a workflow's kill switch lives: one flag on one backend, the model of its ``backend``
#: (``store/switches/<backend>.py``, each documenting its keys); the card's own kill switch
#: may name a ``fallback``, a second channel to use when the first fails.
KillSwitch = SwitchTarget


class Budget(_Strict):
    """Monthly spend limit in US dollars, with alert thresholds as fractions of it (1.0 = 100 %)."""

    monthly_usd: float = Field(gt=0)
    alerts: list[float] = Field(default_factory=list)

    @field_validator("alerts")
    @classmethod
    def _fractions(cls, alerts: list[float]) -> list[float]:
        for a in alerts:
            if not 0 < a <= 2:
                raise ValueError(
                    f"alert threshold {a} must be a fraction of the budget in (0, 2], e.g. 0.8"
                )
        return alerts


class AgentCard(_Strict):
    """One production agent, identified by its workflow name."""

    workflow: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    purpose: str = Field(min_length=1)
    description: str | None = None
    never: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    tier: Tier
    #: Hard limits for "auto-act with limits", e.g. ``max_records_per_run: 3``.
    limits: dict[str, float | int | str] = Field(default_factory=dict)
    owners: Owners
    escalation: Escalation
    kill_switch: KillSwitch
    budget: Budget

    @model_validator(mode="after")
    def _distinct_tools(self) -> AgentCard:
        if len(set(self.tools)) != len(self.tools):
            dupes = sorted({t for t in self.tools if self.tools.count(t) > 1})
            raise ValueError(f"tools listed twice: {', '.join(dupes)}")
        return self


#: A limit written as bare ``yes``/``no``/``on``/``off`` stays that word (YAML 1.1 makes it 1/0).
LIMIT_PATHS = (("limits", "*"),)


def load_card(path: Path) -> AgentCard:
    """Load and validate one agent card; raise DocumentError naming file:line on a bad file."""
    return load_yaml_model(AgentCard, Path(path), words=LIMIT_PATHS)


def check_cards(folder: Path) -> tuple[dict[str, AgentCard], list[DocumentError]]:
    """Load every ``*.yaml``/``*.yml`` card in ``folder``, keyed by workflow, and every problem
    on the way (one per file): a bad file, or a second card for a workflow (on the later file,
    in name order)."""
    folder = Path(folder)
    cards: dict[str, AgentCard] = {}
    seen_in: dict[str, Path] = {}
    problems: list[DocumentError] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            data, lines = load_yaml(path, words=LIMIT_PATHS)
            card = parse_model(AgentCard, data, path, lines)
        except DocumentError as exc:
            problems.append(exc)
            continue
        if card.workflow in cards:
            problems.append(
                DocumentError(
                    path,
                    lines.get(("workflow",), 1),
                    f"workflow {card.workflow!r} already has a card in "
                    f"{seen_in[card.workflow].name}",
                )
            )
            continue
        cards[card.workflow] = card
        seen_in[card.workflow] = path
    return cards, problems


def load_cards(folder: Path) -> dict[str, AgentCard]:
    """Load every ``*.yaml``/``*.yml`` card in ``folder``, keyed by workflow.

    Files are read in name order; a second card for the same workflow is a DocumentError on
    the later file.
    """
    cards, problems = check_cards(folder)
    if problems:
        raise problems[0]
    return cards

"""The workspace's runbooks: loaded, checked against the cards and the queries, matched to
incidents.

A runbook that does not validate never starts: :func:`check_runbooks` returns only the runbooks
with no problem, and every problem names file:line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runbooks.cards import AgentCard
from runbooks.checks import QUERY_ARGS
from runbooks.killswitch import channels, supports
from runbooks.model import LoadedRunbook, Runbook, SqlCheck, graph_problems, load_runbook
from store.documents import DocumentError


def reference_problems(loaded: LoadedRunbook, cards: dict[str, AgentCard]) -> list[DocumentError]:
    """Unknown check queries (and their arguments), and kill-switch steps the workflow's card
    cannot carry out (no card, or a tier its switch cannot hold)."""
    rb = loaded.runbook
    problems: list[DocumentError] = []
    card = cards.get(rb.workflow)
    if card is None:
        problems.append(
            loaded.error(f"workflow {rb.workflow!r} has no agent card in cards/", "workflow")
        )
    for i, step in enumerate(rb.steps):
        if isinstance(step.check, SqlCheck):
            known = QUERY_ARGS.get(step.check.query)
            if known is None:
                problems.append(
                    loaded.error(
                        f"step {step.id!r}: unknown check query {step.check.query!r} "
                        f"(known: {', '.join(sorted(QUERY_ARGS))})",
                        "steps",
                        i,
                        "check",
                        "query",
                    )
                )
            else:
                for arg in step.check.args:
                    if arg not in known:
                        problems.append(
                            loaded.error(
                                f"step {step.id!r}: query {step.check.query} takes no "
                                f"argument {arg!r} (it takes {', '.join(sorted(known))})",
                                "steps",
                                i,
                                "check",
                                "args",
                                arg,
                            )
                        )
        if step.kill_switch and card is not None:
            state = card.tier if step.kill_switch.restore else step.kill_switch.set_tier
            assert state is not None
            for name, target in channels(card):
                if not supports(target, card, state):
                    problems.append(
                        loaded.error(
                            f"step {step.id!r}: the {name} kill switch of {card.workflow} "
                            f"({target.backend} flag {target.flag}) is on/off and cannot set "
                            f"{state} (it holds {card.tier} or {target.off_state})",
                            "steps",
                            i,
                            "kill_switch",
                        )
                    )
    return problems


@dataclass(frozen=True)
class Catalog:
    """Every runbook that validated, and every problem of the ones that did not."""

    runbooks: dict[str, LoadedRunbook]
    problems: list[DocumentError]

    def for_workflow(self, workflow: str | None) -> list[Runbook]:
        return [lr.runbook for lr in self.runbooks.values() if lr.runbook.workflow == workflow]

    def matching(
        self,
        workflow: str | None,
        labels: dict[str, str],
        *,
        failure_mode_label: str = "failure_mode",
    ) -> list[Runbook]:
        """The workflow's runbooks, those that name the incident's failure mode or alert first."""
        mode = labels.get(failure_mode_label)
        alert = labels.get("alertname")

        def rank(rb: Runbook) -> int:
            if mode and mode in rb.failure_modes:
                return 0
            if alert and alert in rb.alerts:
                return 0
            return 1

        return sorted(self.for_workflow(workflow), key=lambda rb: (rank(rb), rb.title))


def check_runbooks(folder: Path, cards: dict[str, AgentCard]) -> Catalog:
    """Load every runbook in ``folder``; keep the ones with no problem."""
    folder = Path(folder)
    good: dict[str, LoadedRunbook] = {}
    problems: list[DocumentError] = []
    if not folder.is_dir():
        return Catalog(good, problems)
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            loaded = load_runbook(path)
        except DocumentError as exc:
            problems.append(exc)
            continue
        found = graph_problems(loaded) + reference_problems(loaded, cards)
        if loaded.runbook.id in good:
            found.append(
                loaded.error(
                    f"runbook id {loaded.runbook.id!r} is already used by "
                    f"{good[loaded.runbook.id].path.name}",
                    "id",
                )
            )
        if found:
            problems.extend(found)
            continue
        good[loaded.runbook.id] = loaded
    return Catalog(good, problems)

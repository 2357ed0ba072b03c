"""The workspace's runbooks: loaded, checked against the cards and the queries, matched to
incidents.

A runbook that does not validate never starts: :func:`check_runbooks` keeps only the runbooks
with no problem for walking, and every problem names file:line. A broken runbook is not
forgotten: the catalog keeps its file, its problems and, when they could be read, its id,
workflow and title, so the incident it was written for can say which runbook is broken and
where instead of saying there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbooks.cards import AgentCard
from runbooks.checks import QUERY_ARGS
from runbooks.killswitch import channels, supports
from runbooks.model import WORD_PATHS, LoadedRunbook, Runbook, SqlCheck, graph_problems
from store.documents import DocumentError, load_yaml, parse_model


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
class BrokenRunbook:
    """A runbook file that does not validate: its problems (the first is where to look), and
    its id, workflow and title when the file says them (None when it could not be read that
    far, e.g. invalid YAML)."""

    path: Path
    problems: list[DocumentError]
    id: str | None = None
    workflow: str | None = None
    title: str | None = None

    @property
    def name(self) -> str:
        """The runbook's id, else its file name."""
        return self.id or self.path.name

    @property
    def where(self) -> str:
        """``file:line`` of the first problem (the file's name, not its folder)."""
        first = self.problems[0]
        return f"{first.path.name}:{first.line}" if first.line else first.path.name


@dataclass(frozen=True)
class Catalog:
    """Every runbook that validated, every problem of the ones that did not, and the broken
    runbooks themselves (one per file)."""

    runbooks: dict[str, LoadedRunbook]
    problems: list[DocumentError]
    broken: list[BrokenRunbook] = field(default_factory=list)

    def broken_for(self, workflow: str | None) -> list[BrokenRunbook]:
        """The broken runbooks written for ``workflow`` (by what their file says)."""
        if workflow is None:
            return []
        return [b for b in self.broken if b.workflow == workflow]

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


def _said(data: Any, key: str) -> str | None:
    """What a file that did not parse says at its top-level ``key``, if it is a plain string."""
    if isinstance(data, dict):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def check_runbooks(folder: Path, cards: dict[str, AgentCard]) -> Catalog:
    """Load every runbook in ``folder``; keep the ones with no problem for walking, and the
    others as :class:`BrokenRunbook`."""
    folder = Path(folder)
    good: dict[str, LoadedRunbook] = {}
    problems: list[DocumentError] = []
    broken: list[BrokenRunbook] = []
    if not folder.is_dir():
        return Catalog(good, problems, broken)
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        data: Any = None
        try:
            data, lines = load_yaml(path, words=WORD_PATHS)
            loaded = LoadedRunbook(parse_model(Runbook, data, path, lines), path, lines)
        except DocumentError as exc:
            problems.append(exc)
            broken.append(
                BrokenRunbook(
                    path, [exc], _said(data, "id"), _said(data, "workflow"), _said(data, "title")
                )
            )
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
            rb = loaded.runbook
            broken.append(BrokenRunbook(path, found, rb.id, rb.workflow, rb.title))
            continue
        good[loaded.runbook.id] = loaded
    return Catalog(good, problems, broken)


@dataclass(frozen=True)
class OnCallFiles:
    """What the On call area reads from the workspace's files: the cards that validated, the
    problems of those that did not, and the runbook catalog (with its broken runbooks)."""

    cards: dict[str, AgentCard]
    card_problems: list[DocumentError]
    catalog: Catalog

    @property
    def problems(self) -> list[DocumentError]:
        """Every problem, cards first, each naming file:line."""
        return [*self.card_problems, *self.catalog.problems]

    @property
    def broken_files(self) -> int:
        """How many card and runbook files do not validate."""
        return len({p.path for p in self.problems})


def load_oncall_files(cards_dir: Path, runbooks_dir: Path) -> OnCallFiles:
    """Read and check every card and runbook (file reads: keep it off a UI thread)."""
    from runbooks.cards import check_cards

    cards, card_problems = check_cards(cards_dir)
    return OnCallFiles(cards, card_problems, check_runbooks(runbooks_dir, cards))

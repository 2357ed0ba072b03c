"""Runbooks: the YAML an on-call operator walks one step at a time.

A runbook belongs to one workflow and names the failure modes it answers. Its steps form a graph:
a step moves on through ``next`` or through one of its ``choices``; a step with neither is an
end. A step may carry one piece of work:

- ``check``: a named query over the local database (``kind: sql``), an HTTP GET with an
  expectation (``kind: http``), or a question the operator ticks (``kind: manual``). A result
  suggests a choice (the choice's ``when``); the operator decides.
- ``note``: the operator writes what they saw (``required`` or not).
- ``escalate``: whom to call, taken from the agent card.
- ``wait``: wait and recheck the step's check after a while.
- ``kill_switch``: set the workflow's tier (or disable it, or restore it) through the card's
  kill switch, behind a typed confirmation.

The model is parsed strictly (unknown keys are errors); :func:`check_runbook` then checks the
graph and every reference (step ids, queries, the card and its kill switch) with file:line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.documents import DocumentError, LocatedError, load_yaml, parse_model

#: What a check result says. ``unknown``: it failed, timed out or found nothing to judge by.
Outcome = Literal["ok", "warn", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlCheck(_Strict):
    """A named query over the local database (see :data:`runbooks.checks.QUERIES`).

    ``warn_above``/``warn_below`` turn the query's value into ``warn`` or ``ok``.
    """

    kind: Literal["sql"]
    query: str = Field(min_length=1)
    args: dict[str, str | int | float] = Field(default_factory=dict)
    warn_above: float | None = None
    warn_below: float | None = None


class Expect(_Strict):
    """What an HTTP check expects: a status code, and optionally a JSON value or some text."""

    status: int = 200
    json_path: str | None = Field(default=None, alias="json")
    equals: str | int | float | bool | None = None
    contains: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HttpCheck(_Strict):
    """GET a URL (a vendor's status page) and compare the reply with ``expect``.

    The reply matching ``expect`` is ``ok``; not matching is ``warn``; no reply is ``unknown``.
    """

    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    expect: Expect = Field(default_factory=Expect)
    timeout: float = Field(default=5.0, gt=0, le=60)


class ManualCheck(_Strict):
    """A question the operator answers by looking: yes is ``warn`` (something is wrong) unless
    ``yes_means`` says ``ok``."""

    kind: Literal["manual"]
    prompt: str = Field(min_length=1)
    yes_means: Literal["ok", "warn"] = "warn"


Check = Annotated[SqlCheck | HttpCheck | ManualCheck, Field(discriminator="kind")]


class Choice(_Strict):
    """One way on from a step. ``when`` lists the check outcomes that suggest it."""

    label: str = Field(min_length=1)
    next: str = Field(min_length=1)
    when: list[Outcome] = Field(default_factory=list)


class Note(_Strict):
    prompt: str = "What did you see?"
    required: bool = False


Role = Literal["contact", "technical", "business", "model_steward"]
DEFAULT_ROLES: tuple[Role, ...] = ("contact", "technical")


class Escalate(_Strict):
    """Whom to call: a role from the card's owners, or the card's escalation contact."""

    to: list[Role] = Field(default_factory=lambda: list(DEFAULT_ROLES))


class Wait(_Strict):
    """Wait, then check again: the operator may recheck before the time is up."""

    minutes: float = Field(gt=0, le=24 * 60)


class KillSwitchStep(_Strict):
    """Lower (or restore) the workflow's tier through the card's kill switch.

    ``set_tier`` is the state to set; ``restore: true`` sets the card's own tier back instead.
    The operator always types the workflow name; a reason is asked unless ``reason_required``
    is false (restoring always asks for one).
    """

    set_tier: Literal["disabled", "suggest-only", "human-approve", "auto-act"] | None = None
    restore: bool = False
    reason_required: bool = True
    confirm: Literal["type-workflow"] = "type-workflow"

    @model_validator(mode="after")
    def _one(self) -> KillSwitchStep:
        if self.restore == (self.set_tier is not None):
            raise ValueError("a kill_switch step has either `set_tier` or `restore: true`")
        return self


class Step(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=1)
    text: str | None = None
    check: Check | None = None
    note: Note | None = None
    escalate: Escalate | None = None
    wait: Wait | None = None
    kill_switch: KillSwitchStep | None = None
    choices: list[Choice] = Field(default_factory=list)
    next: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Step:
        if self.next and self.choices:
            raise ValueError("a step has `next` or `choices`, not both")
        work = [n for n in ("note", "escalate", "kill_switch") if getattr(self, n) is not None]
        if len(work) > 1:
            raise ValueError(f"a step does one thing; this one has {' and '.join(work)}")
        if self.wait and not self.check:
            raise LocatedError("a `wait` step rechecks its `check`: add one", ("wait",))
        labels = [c.label for c in self.choices]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise LocatedError(f"choice {label!r} is listed twice", ("choices", i, "label"))
        return self

    @property
    def kind(self) -> str:
        """What the screen shows this step as."""
        if self.kill_switch:
            return "kill_switch"
        if self.escalate:
            return "escalate"
        if self.wait:
            return "wait"
        if self.note:
            return "note"
        if self.check:
            return "check"
        if self.choices:
            return "choice"
        return "info"

    @property
    def is_end(self) -> bool:
        return not self.next and not self.choices


class Runbook(_Strict):
    """One runbook for one workflow."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    workflow: str = Field(min_length=1)
    title: str = Field(min_length=1)
    failure_modes: list[str] = Field(default_factory=list)
    #: Alert names (Alertmanager ``alertname``) this runbook answers, besides failure modes.
    alerts: list[str] = Field(default_factory=list)
    description: str | None = None
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> Runbook:
        ids = [s.id for s in self.steps]
        for i, step_id in enumerate(ids):
            if step_id in ids[:i]:
                raise LocatedError(f"step id {step_id!r} is used twice", ("steps", i, "id"))
        return self

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def first(self) -> Step:
        return self.steps[0]

    @property
    def version(self) -> str:
        """A content hash: a session records which runbook text it walked."""
        body = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class LoadedRunbook:
    """A runbook, the file it came from, and the line of each key (for messages)."""

    runbook: Runbook
    path: Path
    lines: dict[tuple[Any, ...], int]

    def line(self, *loc: Any) -> int | None:
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def error(self, message: str, *loc: Any) -> DocumentError:
        return DocumentError(self.path, self.line(*loc), message)


#: Keys whose bare yes/no/on/off stay words (a choice labelled "yes" stays "yes").
WORD_PATHS = (
    ("steps", "*", "choices", "*", "label"),
    ("steps", "*", "check", "expect", "equals"),
    ("steps", "*", "check", "args", "*"),
)


def load_runbook(path: Path) -> LoadedRunbook:
    """Parse one runbook file; DocumentError naming file:line if it is malformed."""
    data, lines = load_yaml(Path(path), words=WORD_PATHS)
    return LoadedRunbook(parse_model(Runbook, data, Path(path), lines), Path(path), lines)


def graph_problems(loaded: LoadedRunbook) -> list[DocumentError]:
    """Unknown step ids, steps no path reaches, and steps from which no end can be reached."""
    rb = loaded.runbook
    ids = {s.id for s in rb.steps}
    problems: list[DocumentError] = []
    edges: dict[str, list[str]] = {}
    dangling: set[str] = set()
    for i, s in enumerate(rb.steps):
        targets: list[str] = []
        if s.next:
            if s.next not in ids:
                dangling.add(s.id)
                problems.append(
                    loaded.error(
                        f"step {s.id!r}: next {s.next!r} is not a step id", "steps", i, "next"
                    )
                )
            else:
                targets.append(s.next)
        for j, c in enumerate(s.choices):
            if c.next not in ids:
                dangling.add(s.id)
                problems.append(
                    loaded.error(
                        f"step {s.id!r}: choice {c.label!r} goes to {c.next!r}, "
                        "which is not a step id",
                        "steps",
                        i,
                        "choices",
                        j,
                        "next",
                    )
                )
            else:
                targets.append(c.next)
        edges[s.id] = targets
    reached = {rb.first.id}
    todo = [rb.first.id]
    while todo:
        for t in edges[todo.pop()]:
            if t not in reached:
                reached.add(t)
                todo.append(t)
    ends = {s.id for s in rb.steps if s.is_end}
    # Steps that can reach an end: walk the edges backwards from the ends.
    back: dict[str, list[str]] = {s.id: [] for s in rb.steps}
    for src, targets in edges.items():
        for t in targets:
            back[t].append(src)
    # A step with an unknown target is already reported; where that target leads is unknowable,
    # so it is not also called a loop (nor are the steps that lead to it).
    way_out = ends | dangling
    todo = list(way_out)
    while todo:
        for src in back[todo.pop()]:
            if src not in way_out:
                way_out.add(src)
                todo.append(src)
    for i, s in enumerate(rb.steps):
        if s.id not in reached:
            problems.append(
                loaded.error(f"step {s.id!r} is unreachable from {rb.first.id!r}", "steps", i, "id")
            )
        elif s.id not in way_out:
            problems.append(
                loaded.error(
                    f"step {s.id!r} has no way out: "
                    "every path from it loops without reaching an end",
                    "steps",
                    i,
                    "id",
                )
            )
    return problems


def runbook_schema() -> dict[str, Any]:
    """The JSON Schema of a runbook file, for editors."""
    schema = Runbook.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agentdeck runbook"
    return schema

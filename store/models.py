"""Records that cross the boundary with a store: runs, steps, incidents, scores.

Every line of a file store and every server reply is parsed into one of these at the edge;
inside agentdeck, code trusts their types. Timestamps are :data:`store.timestamps.Instant`:
aware UTC datetimes, whatever ISO 8601 shape the store sent (no offset means UTC).
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from store.timestamps import Instant


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Tokens(_Record):
    input: int = 0
    output: int = 0


class StepError(_Record):
    type: str
    message: str = ""


class Step(_Record):
    """One model call or tool call inside a run."""

    kind: str
    name: str
    #: The step's span (Phoenix, OpenTelemetry) or observation (Langfuse) id in its store.
    span_id: str | None = None
    start_time: Instant | None = None
    latency_ms: int | None = None
    arguments: Any = None
    result: Any = None
    error: StepError | None = None
    tokens: Tokens | None = None


class FinalAction(_Record):
    kind: str = "none"
    summary: str = ""
    status: str = ""


class RunSummary(_Record):
    """What the first sync phase lists: enough to decide the sample, nothing bulky."""

    trace_id: str = Field(min_length=1)
    workflow: str = Field(min_length=1)
    start_time: Instant
    end_time: Instant | None = None
    status: str = "ok"
    feedback: str | None = None
    business_ref: str | None = None
    tokens: Tokens = Field(default_factory=Tokens)
    cost_usd: float | None = None
    latency_ms: int | None = None


class Run(RunSummary):
    """A hydrated run: the summary plus everything a reviewer reads."""

    input: Any = None
    output: Any = None
    steps: list[Step] = Field(default_factory=list)
    final_action: FinalAction | None = None
    tags: list[str] = Field(default_factory=list)


class Incident(_Record):
    id: str = Field(min_length=1)
    #: The alert source (alertmanager, pagerduty); None means the store the incident came from.
    source: str | None = None
    workflow: str | None = None
    title: str
    severity: str | None = None
    status: str | None = None
    starts_at: Instant
    ends_at: Instant | None = None
    summary: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class ScoreMetadata(_Record):
    reviewer: str
    rubric_id: str
    rubric_version: str
    escalate: bool = False
    seconds_spent: float | None = None
    #: ``"adjudicated"`` on an adjudicator's final grade (``reviewer`` is then the pseudo-reviewer
    #: :data:`store.identity.ADJUDICATED`); None on a reviewer's own grade.
    kind: str | None = None
    #: Who set the final grade, on an adjudicated score.
    adjudicator: str | None = None

    @model_serializer(mode="wrap")
    def _without_unset_marks(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A reviewer's grade dumps exactly as before these fields existed, so a re-push of an
        # old grade to the scores file writes nothing new (the file store compares lines).
        data: dict[str, Any] = handler(self)
        for key in ("kind", "adjudicator"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class Score(_Record):
    """One criterion of one reviewer's grade on one run, as a trace store keeps it."""

    id: str
    trace_id: str
    #: The step's span (or observation) for a step-level score; None: the run's root.
    span_id: str | None = None
    name: str
    value: int | float | str
    comment: str | None = None
    #: When the score was last written: as pushed, the grade's last change; as read back, the
    #: store's time of its last change (a pulled grade is dated by it, never by the pull).
    created_at: Instant | None = None
    metadata: ScoreMetadata


class RunPage(_Record):
    """One page of run summaries from a store, and where to continue."""

    runs: list[RunSummary]
    cursor: str | None
    done: bool
    skipped: int = 0
    problems: list[str] = Field(default_factory=list)
    #: Trace ids on this page that replace a different record listed earlier (a later line,
    #: a newer version): a run already in the sample is hydrated again from the new one.
    replaced: list[str] = Field(default_factory=list)

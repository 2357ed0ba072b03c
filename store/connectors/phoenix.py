"""The Arize Phoenix connector: root spans as runs, span annotations as grades.

Written against Phoenix 20.26.1's REST API (``/v1``); the tests run that exact version.

**Runs.** A run is a root span (``parent_id`` null) of the configured project; its steps are the
trace's other spans, in start order. The workflow is read from ``workflow_attribute``, dotted:
OpenInference keeps ``metadata`` as one attribute holding a JSON string, so ``metadata.workflow``
is the key ``workflow`` inside it; Phoenix may also hold (and always lists) nested attributes
flattened (``"metadata.workflow": "x"``). Both are read. A root span without it is a run of
workflow ``unknown``.

**The cursor.** ``GET /v1/projects/{project}/spans`` lists newest first by default and has no
"changed since" filter. A time window on ``start_time`` would miss late arrivals: a root span is
exported when the run *ends*, carrying the time it *started*, so a long run lands behind any
high-water mark taken while it ran. Phoenix 20.26.1 also sorts by insertion (``sort=id``,
``order=asc``), which has no such gap, so that is what the cursor walks. The cursor agentdeck
saves is JSON, opaque to the caller: ``{"after": <Phoenix's next_cursor or the last span's
global id>, "seen": <that span's id, or null>}``. While pages remain it holds Phoenix's
``next_cursor``; when the listing is done it holds the last root span's own global id (which is
exactly Phoenix's cursor format for ``sort=id``), so the next sync starts there and drops that one
span (Phoenix's boundary is inclusive). A server that ignores ``sort`` (an older Phoenix) is
detected from descending ids and refused with a clear error. On PostgreSQL, ids are handed out
before commit, so a span committed late under a lower id than one already listed could be
missed; on SQLite (one writer) ids follow commits.

**Grades.** The outbox hands over up to :attr:`PhoenixConnector.push_batch` grades at once.
Each score becomes a span annotation on the run's root span (or on ``Score.span_id``
for a step-level score) through ``POST /v1/span_annotations?sync=true`` (without ``sync`` Phoenix
answers with no data): ``name`` = criterion id, ``annotator_kind`` HUMAN, ``identifier`` = the
reviewer, ``result.label`` = the value as text, ``result.score`` when it is a number,
``result.explanation`` = the comment, and always ``metadata`` (a re-post without it would reset
it): the agentdeck score id, reviewer, rubric id and version, seconds spent, escalate, trace id
and the value's type. Phoenix upserts on (span, name, identifier), so pushes are idempotent. One
unknown span fails a whole ``sync=true`` batch with 404: the batch is then split per run, the
known runs are written and the error names only the unknown ones (their outbox rows retry).

**Reading grades back.** ``GET /v1/projects/{project}/span_annotations`` needs ``span_ids`` (or
``identifier``) and names the span, not the trace: the runs' spans are listed first (every span
of each trace, so step-level annotations such as another reviewer's first wrong step come back
too), and only HUMAN annotations carrying agentdeck metadata become scores. Span and trace ids
go in the query string, in batches small enough for the server's request-line limit.

**Deleting** (a criterion cleared, a first-wrong-step mark taken back). Phoenix 20.26.1's REST API
deletes span annotations only by project-wide filters (name, identifier, time range), never one
annotation on one span. Its GraphQL API, the one Phoenix's own UI uses, deletes annotations by id
(``deleteSpanAnnotations``): :meth:`delete_scores` finds the annotations carrying the score ids on
the runs' spans (REST, as above) and deletes exactly those through ``POST /graphql``. The
trade-off: GraphQL is Phoenix's UI API, not its published REST contract; the tests pin it on
20.26.1. Without the runs' trace ids nothing is deleted and :attr:`PhoenixConnector.problems`
says so.

**Annotation configs.** Each criterion maps to a CATEGORICAL config named after it, one value
per level (``label`` the level as text, ``score`` when the level is a number).
:meth:`PhoenixConnector.check_annotation_configs` says which are missing or differ;
:meth:`PhoenixConnector.create_annotation_configs` creates the missing ones and assigns them to
the project (config names are global in Phoenix: a differing one is reported, never overwritten).

**Errors and retries** go through the shared client (:mod:`store.jsonapi`): timeouts, connection
errors and 5xx are retried with exponential backoff and jitter, a 429 after its ``Retry-After``
(seconds or an HTTP-date; over a minute it is not waited). Every request is retried, writes too:
annotation upserts are keyed on (span, name, identifier) and deletes name their ids. What still
fails is a :class:`ConnectorError` (:class:`StoreUnreachable` when nothing answered) of one line
naming the store, the method and the endpoint, and what to do (never the API key); this module
keeps only what each status means for Phoenix.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.connectors.base import (
    ConnectorError,
    Listed,
    RubricLike,
    StoreConfigBase,
    StoreConnector,
    StoreUnreachable,
    batches,
    value_type,
)
from store.jsonapi import JsonApi
from store.models import (
    Incident,
    Run,
    RunPage,
    RunSummary,
    Score,
    ScoreMetadata,
    Step,
    StepError,
    Tokens,
)
from store.plugins import LazyModule, Login
from store.span_dialects import (
    SpanReading,
    flatten,
    innermost,
    lookup,
    read_span,
    run_input_output,
)
from store.text import clean_excerpt, display_url
from store.timestamps import Instant

if TYPE_CHECKING:
    import httpx

    from store.workspace import Workspace
else:  # imported on first use: reading the config does not need it
    httpx = LazyModule("httpx")

#: Phoenix's own ceiling for ``limit`` on the spans endpoint.
MAX_PAGE = 1000
#: Ids per request: they travel in the query string, and uvicorn (h11) refuses a request line
#: over 16 KiB; 100 trace ids or 200 span ids stay well under it.
TRACE_BATCH = 100
SPAN_BATCH = 200
#: Attempts per request (the first and three retries), backoff base and ceiling in seconds.
ATTEMPTS = 4
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0
#: A Retry-After longer than this is not waited for: the request fails and the next sync retries.
RETRY_AFTER_CAP_S = 60.0
#: The metadata key that marks an annotation as agentdeck's.
SCORE_ID_KEY = "agentdeck_score_id"
#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "check that Phoenix is up, or raise `timeout` in agentdeck.toml",
    "connect": "check that Phoenix is running and `url` in agentdeck.toml",
    "server": "Phoenix is failing; the next sync retries",
    "html": "check that `url` is Phoenix's address, not a web page or a login proxy",
    "json": "check that `url` is Phoenix",
    "cut": "sync again; if it persists, something between agentdeck and Phoenix cuts replies",
}
#: Phoenix's GraphQL mutation deleting span annotations by global id (what its UI sends).
DELETE_ANNOTATIONS = (
    "mutation DeleteSpanAnnotations($ids: [ID!]!) "
    "{ deleteSpanAnnotations(input: {annotationIds: $ids}) { __typename } }"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class _SpanContext(_Model):
    trace_id: str = Field(min_length=1)
    span_id: str = Field(min_length=1)


class PhoenixSpan(_Model):
    """One span as ``GET /v1/projects/{project}/spans`` lists it (the fields agentdeck reads)."""

    id: str = ""
    name: str = ""
    context: _SpanContext
    span_kind: str = "UNKNOWN"
    parent_id: str | None = None
    start_time: Instant
    end_time: Instant | None = None
    status_code: str = "UNSET"
    status_message: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)


class _Page(_Model):
    data: list[Any]
    next_cursor: str | None = None


class _Result(_Model):
    label: str | None = None
    score: float | None = None
    explanation: str | None = None


class PhoenixAnnotation(_Model):
    """One span annotation as ``GET .../span_annotations`` lists it."""

    id: str = ""
    span_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    annotator_kind: str
    result: _Result | None = None
    metadata: dict[str, Any] | None = None
    identifier: str = ""
    created_at: Instant | None = None
    updated_at: Instant | None = None


class _Cursor(_Model):
    after: str | None = None
    seen: str | None = None


def _row_id(global_id: str) -> int | None:
    """The row number inside a Phoenix global id (base64 of ``Span:123``), if it is one."""
    try:
        kind, _, number = base64.b64decode(global_id, validate=True).decode().partition(":")
        return int(number) if kind == "Span" else None
    except (ValueError, UnicodeDecodeError):
        return None


def _maybe_json(value: Any) -> Any:
    """``input.value``/``output.value`` are text; JSON text is read as what it holds."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _reading(span: PhoenixSpan) -> SpanReading:
    """What the span says in whichever dialect it speaks (Phoenix keeps every span's attributes,
    OpenInference or not, and lists them nested: flattened first)."""
    events = [
        (str(e.get("name") or ""), flatten(e.get("attributes") or {}))
        for e in span.events
        if isinstance(e, dict) and isinstance(e.get("attributes") or {}, dict)
    ]
    return read_span(flatten(span.attributes), name=span.name, events=events)


def _ms(span: PhoenixSpan) -> int | None:
    if span.end_time is None:
        return None
    return max(0, int((span.end_time - span.start_time).total_seconds() * 1000))


class PhoenixStoreConfig(StoreConfigBase):
    """``kind = "phoenix"``: ``url`` of the server, ``project`` (default ``default``)."""

    kind: Literal["phoenix"]

    @model_validator(mode="after")
    def _needs(self) -> PhoenixStoreConfig:
        self.required("url", "the Phoenix server's base URL")
        return self


class PhoenixConnector(StoreConnector):
    """Runs and grades of one Phoenix project (implements :class:`Connector`)."""

    kind = "phoenix"
    config_model = PhoenixStoreConfig
    login: ClassVar[Login | None] = Login("API key (Enter for none)", optional=True)

    #: Grades the outbox may hand :meth:`push_scores` at once: their root spans are looked up
    #: in one request (``TRACE_BATCH`` traces) and their annotations written in one more.
    push_batch = TRACE_BATCH

    def __init__(
        self,
        name: str,
        url: str,
        *,
        project: str,
        workflow_attribute: str = "metadata.workflow",
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.project = project
        self.workflow_attribute = workflow_attribute
        self.timeout = timeout
        self._api = JsonApi(
            name,
            self.url,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            timeout=timeout,
            transport=transport,
            error=ConnectorError,
            down_error=StoreUnreachable,
            todo=_TODO,
            refuse=self._refuse,
            attempts=ATTEMPTS,
            backoff=BACKOFF_BASE_S,
            backoff_cap=BACKOFF_CAP_S,
            retry_after_cap=RETRY_AFTER_CAP_S,
            sleep=sleep,
            rng=rng,
        )
        #: Root span id of each trace seen, so a push needs no lookup for a listed run.
        self._roots: dict[str, str] = {}
        #: Span ids of each trace this connector has read whole (span id, whether the root):
        #: reading grades back after a sync fetched the runs needs no second listing.
        self._members: dict[str, list[tuple[str, bool]]] = {}
        #: What the last call left undone without failing (e.g. deletes Phoenix cannot do).
        self.problems: list[str] = []

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> PhoenixConnector:
        """The connector for one ``[[stores]]`` entry; the API key, if any, from the keyring
        under the store's name (a local Phoenix without authentication needs none)."""
        from store.credentials import get_secret

        return cls(
            cfg.name,
            cfg.url or "",
            project=cfg.project or "default",
            workflow_attribute=cfg.workflow_attribute,
            api_key=get_secret(cfg.name),
            timeout=cfg.timeout,
        )

    def __repr__(self) -> str:
        return f"PhoenixConnector({self.name!r}, {display_url(self.url)!r}, {self.project!r})"

    def close(self) -> None:
        """Close the HTTP connections (the connector opens them again when used)."""
        self._api.close()

    # --- HTTP ------------------------------------------------------------------------------

    def _refuse(self, method: str, path: str, reply: httpx.Response) -> NoReturn:
        status, said = reply.status_code, self._api.says(reply)
        if status in (401, 403):
            self._api.fail(
                method,
                path,
                f"HTTP {status}, the request was refused ({said})",
                f"run `agentdeck login {self.name}` with a Phoenix API key",
            )
        if status == 404:
            self._api.fail(
                method,
                path,
                f"HTTP 404 ({said})",
                f"check `project` ({self.project!r}) and `url` in agentdeck.toml",
            )
        self._api.fail(
            method,
            path,
            f"HTTP {status} ({said})",
            "check that `url` is Phoenix and its version is 20.26 or later",
        )

    def _page(
        self, path: str, params: list[tuple[str, str]], allow: tuple[int, ...] = ()
    ) -> _Page | None:
        """One page of a listing; None when the reply's status is one of ``allow``."""
        reply = self._api.request("GET", path, params=params, allow=allow)
        if reply.status_code in allow:
            return None
        try:
            return _Page.model_validate(self._api.parse("GET", path, reply))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "the reply"
            self._api.fail(
                "GET",
                path,
                f"the reply is not a page of results "
                f"({where}: {clean_excerpt(err['msg'], limit=60)})",
                "check that `url` is Phoenix 20.26 or later",
            )

    # --- runs ------------------------------------------------------------------------------

    @property
    def _spans_path(self) -> str:
        return f"/v1/projects/{self.project}/spans"

    def _parse_spans(self, raw: list[Any], problems: list[str]) -> list[PhoenixSpan]:
        spans = []
        for item in raw:
            try:
                spans.append(PhoenixSpan.model_validate(item))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                ident = item.get("context", {}) if isinstance(item, dict) else {}
                span_id = ident.get("span_id") if isinstance(ident, dict) else None
                problems.append(
                    f"{self.name} GET {display_url(self.url + self._spans_path)}: span "
                    f"{clean_excerpt(str(span_id or '?'), limit=20)} left out "
                    f"({where}: {clean_excerpt(err['msg'], limit=60)})"
                )
        return spans

    def _summary(self, span: PhoenixSpan) -> RunSummary:
        workflow = lookup(span.attributes, self.workflow_attribute)
        reading = _reading(span)
        return RunSummary(
            trace_id=span.context.trace_id,
            workflow=str(workflow) if workflow not in (None, "") else "unknown",
            start_time=span.start_time,
            end_time=span.end_time,
            status="error" if span.status_code.upper() == "ERROR" else "ok",
            tokens=reading.tokens or Tokens(),
            cost_usd=reading.cost,
            latency_ms=_ms(span),
        )

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """Root spans in insertion order after ``cursor`` (see the module's note on cursors)."""
        try:
            state = _Cursor.model_validate_json(cursor) if cursor else _Cursor()
        except ValidationError:
            state = _Cursor()  # not ours (another connector's): list from the start
        params = [
            ("parent_id", "null"),
            ("sort", "id"),
            ("order", "asc"),
            ("limit", str(max(1, min(limit, MAX_PAGE)))),
        ]
        if state.after:
            params.append(("cursor", state.after))
        page = self._page(self._spans_path, params, allow=(404,))
        if page is None:
            # Phoenix creates a project with its first span: no project yet is no runs yet. But
            # a misspelt project looks the same, so say which project was asked for.
            return RunPage(
                runs=[],
                cursor=cursor,
                done=True,
                problems=[
                    f"{self.name}: Phoenix at {display_url(self.url)} has no project "
                    f"{self.project!r} (HTTP 404), so no runs were listed; check `project` in "
                    "agentdeck.toml (a new project appears with its first span)"
                ],
            )
        problems: list[str] = []
        spans = [s for s in self._parse_spans(page.data, problems) if s.id != state.seen]
        rows = [_row_id(s.id) for s in spans]
        known = [r for r in rows if r is not None]
        if any(b < a for a, b in zip(known, known[1:], strict=False)):
            self._api.fail(
                "GET",
                self._spans_path,
                "spans came newest first although sort=id&order=asc was asked",
                "upgrade Phoenix to 20.26 or later",
            )
        runs = []
        for span in spans:
            self._roots[span.context.trace_id] = span.context.span_id
            runs.append(self._summary(span))
        if page.next_cursor:
            after = _Cursor(after=page.next_cursor)
            done = False
        else:
            last = spans[-1].id if spans and spans[-1].id else None
            after = _Cursor(after=last, seen=last) if last else state
            done = True
        return RunPage(
            runs=runs,
            cursor=after.model_dump_json(),
            done=done,
            skipped=len(problems),
            problems=problems,
        )

    def _trace_spans(self, trace_ids: Sequence[str], *, roots_only: bool = False) -> Listed[Any]:
        """Every span of these traces (or their root spans), page by page."""
        problems: list[str] = []
        spans: list[PhoenixSpan] = []
        for batch in batches(sorted(set(trace_ids)), TRACE_BATCH):
            cursor: str | None = None
            while True:
                params = [("trace_id", t) for t in batch] + [("limit", str(MAX_PAGE))]
                if roots_only:
                    params.append(("parent_id", "null"))
                if cursor:
                    params.append(("cursor", cursor))
                page = self._page(self._spans_path, params, allow=(404,))
                if page is None:
                    return Listed(spans, problems=problems)
                spans += self._parse_spans(page.data, problems)
                cursor = page.next_cursor
                if not cursor:
                    break
        return Listed(spans, problems=problems, skipped=len(problems))

    def _step(self, span: PhoenixSpan, reading: SpanReading) -> Step:
        attrs = span.attributes
        kind = span.span_kind.lower() if span.span_kind else "unknown"
        if kind == "unknown":
            kind = reading.kind
        if reading.kind == "tool":
            name = reading.name
        else:
            name = lookup(attrs, "llm.model_name") or reading.name
        error = None
        if span.status_code.upper() == "ERROR":
            kinds = [
                e.get("attributes", {}).get("exception.type")
                for e in span.events
                if isinstance(e, dict) and e.get("name") == "exception"
            ]
            error = StepError(
                type=str(next((k for k in kinds if k), "error")), message=span.status_message
            )
        return Step(
            kind=kind,
            name=str(name),
            span_id=span.context.span_id,
            start_time=span.start_time,
            latency_ms=_ms(span),
            arguments=_maybe_json(reading.input),
            result=_maybe_json(reading.output),
            error=error,
            tokens=reading.tokens,
        )

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """Full runs (root span, steps) for these trace ids; unknown ids are left out."""
        if not run_ids:
            return Listed()
        spans = self._trace_spans(run_ids)
        by_trace: dict[str, list[PhoenixSpan]] = defaultdict(list)
        for span in spans:
            by_trace[span.context.trace_id].append(span)
        runs = []
        problems = list(spans.problems)
        for trace_id, members in by_trace.items():
            roots = [s for s in members if s.parent_id is None]
            if not roots:
                problems.append(
                    f"{self.name}: trace {clean_excerpt(trace_id, limit=40)} has no root span yet; "
                    "it is fetched again on the next sync"
                )
                continue
            root = roots[0]
            self._roots[trace_id] = root.context.span_id
            self._members[trace_id] = [(m.context.span_id, m is root) for m in members]
            steps = sorted(
                (s for s in members if s is not root), key=lambda s: (s.start_time, s.id)
            )
            summary = self._summary(root)
            readings = [_reading(s) for s in steps]
            step_models = [self._step(s, r) for s, r in zip(steps, readings, strict=True)]
            if summary.tokens == Tokens():
                # Any span's tokens, whatever its kind; a span summing its children's not again.
                metered = {
                    s.context.span_id: m.tokens
                    for s, m in zip(steps, step_models, strict=True)
                    if m.tokens
                }
                parents = {s.context.span_id: s.parent_id or "" for s in steps}
                counted = [metered[i] for i in innermost(parents, metered)]
                summary.tokens = Tokens(
                    input=sum(t.input for t in counted), output=sum(t.output for t in counted)
                )
            run_input, run_output = run_input_output(
                _reading(root), [r for r in readings if r.kind == "llm"]
            )
            runs.append(
                Run(
                    **summary.model_dump(),
                    input=_maybe_json(run_input),
                    output=_maybe_json(run_output),
                    steps=step_models,
                )
            )
        return Listed(runs, problems=problems, skipped=spans.skipped)

    def list_incidents(self) -> Listed[Incident]:
        """Phoenix has no incidents."""
        return Listed()

    # --- grades ----------------------------------------------------------------------------

    def _root_spans(self, trace_ids: Sequence[str]) -> dict[str, str]:
        """Root span id of each of these traces that Phoenix knows."""
        missing = [t for t in set(trace_ids) if t not in self._roots]
        if missing:
            for span in self._trace_spans(missing, roots_only=True):
                self._roots[span.context.trace_id] = span.context.span_id
        return {t: self._roots[t] for t in trace_ids if t in self._roots}

    @staticmethod
    def _annotation(score: Score, span_id: str) -> dict[str, Any]:
        value = score.value
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        m = score.metadata
        # An adjudicated score says so (and who set it); a reviewer's grade posts as before.
        marks = {k: v for k, v in (("kind", m.kind), ("adjudicator", m.adjudicator)) if v}
        return {
            "span_id": span_id,
            "name": score.name,
            "annotator_kind": "HUMAN",
            "identifier": m.reviewer,
            "result": {
                "label": str(value),
                "score": float(value) if numeric else None,
                "explanation": score.comment,
            },
            "metadata": {
                SCORE_ID_KEY: score.id,
                "trace_id": score.trace_id,
                "reviewer": m.reviewer,
                "rubric_id": m.rubric_id,
                "rubric_version": m.rubric_version,
                "seconds_spent": m.seconds_spent,
                "escalate": m.escalate,
                "value_type": value_type(value),
                **marks,
            },
        }

    def _post_annotations(self, annotations: list[dict[str, Any]]) -> bool:
        """Write annotations in one request; False when Phoenix knows not every span."""
        path = "/v1/span_annotations"
        reply = self._api.request(
            "POST", path, params=[("sync", "true")], json={"data": annotations}, allow=(404,)
        )
        if reply.status_code == 404:
            return False
        data = self._api.parse("POST", path, reply)
        if not isinstance(data, dict) or len(data.get("data") or []) != len(annotations):
            self._api.fail(
                "POST",
                path,
                f"Phoenix confirmed {len((data or {}).get('data') or [])} of "
                f"{len(annotations)} annotations",
                "check that `url` is Phoenix 20.26 or later",
            )
        return True

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Upsert each score as a span annotation (idempotent: Phoenix keys on span, name and
        identifier). Runs Phoenix does not know fail alone: the others are written, then one
        ConnectorError names the unknown ones."""
        if not scores:
            return
        roots = self._root_spans([s.trace_id for s in scores if s.span_id is None])
        per_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
        unknown: set[str] = set()
        for score in scores:
            span_id = score.span_id or roots.get(score.trace_id)
            if span_id is None:
                unknown.add(score.trace_id)
                continue
            per_run[score.trace_id].append(self._annotation(score, span_id))
        everything = [a for group in per_run.values() for a in group]
        if everything and not self._post_annotations(everything):
            # One unknown span fails the whole batch: write run by run to find it.
            for trace_id, group in per_run.items():
                if not self._post_annotations(group):
                    unknown.add(trace_id)
        self._drop_moved_marks([s for s in scores if s.span_id and s.trace_id not in unknown])
        if unknown:
            names = ", ".join(clean_excerpt(t, limit=40) for t in sorted(unknown)[:3])
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            self._api.fail(
                "POST",
                "/v1/span_annotations",
                f"Phoenix does not know the span of run {names}{more}",
                "the other grades were written; these retry on the next sync",
            )

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """Delete the annotations carrying these score ids on the spans of ``trace_ids``
        (idempotent: one already gone is not looked for). See the module doc for why GraphQL."""
        if not score_ids:
            return
        if not trace_ids:
            self.problems.append(
                f"{self.name}: {len(score_ids)} score(s) were not deleted in Phoenix "
                "(their runs were not named); they stay there as last pushed"
            )
            return
        wanted = set(score_ids)
        for attempt in range(2):
            problems: list[str] = []
            found = [
                note.id
                for note, _trace, _root in self._notes(trace_ids, problems)
                if note.id and str((note.metadata or {}).get(SCORE_ID_KEY)) in wanted
            ]
            if not found or self._delete_annotations(found, last=attempt == 1):
                return

    def _drop_moved_marks(self, marks: Sequence[Score]) -> None:
        """A step-level score moved to another step: Phoenix keys annotations on (span, name,
        identifier), so the old step's annotation is still there. Delete it (only runs with a
        step-level score are looked at; a grade without a mark costs nothing here)."""
        if not marks:
            return
        target = {m.id: m.span_id for m in marks}
        for attempt in range(2):
            stale = [
                note.id
                for note, _trace, _root in self._notes(sorted({m.trace_id for m in marks}), [])
                if note.id
                and (sid := str((note.metadata or {}).get(SCORE_ID_KEY))) in target
                and note.span_id != target[sid]
            ]
            if not stale or self._delete_annotations(stale, last=attempt == 1):
                return

    def _delete_annotations(self, ids: list[str], *, last: bool) -> bool:
        """Delete span annotations by global id through Phoenix's GraphQL API. False when one
        was already gone (someone deleted it meanwhile; Phoenix then deletes none): list again."""
        path = "/graphql"
        reply = self._api.request(
            "POST", path, json={"query": DELETE_ANNOTATIONS, "variables": {"ids": ids}}
        )
        data = self._api.parse("POST", path, reply)
        errors = data.get("errors") if isinstance(data, dict) else None
        if not errors:
            if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
                self._api.fail("POST", path, "the reply is not a GraphQL answer", "check `url`")
            return True
        said = str((errors[0] or {}).get("message") if isinstance(errors[0], dict) else errors[0])
        if "could not find" in said.lower() and not last:
            return False
        self._api.fail(
            "POST",
            path,
            f"Phoenix did not delete {len(ids)} annotation(s) ({clean_excerpt(said, limit=80)})",
            "the delete is retried on the next sync",
        )

    def _score(self, note: PhoenixAnnotation, trace_id: str, root: bool) -> Score | None:
        meta = note.metadata or {}
        if note.annotator_kind != "HUMAN" or not meta.get(SCORE_ID_KEY):
            return None  # not agentdeck's: an LLM judge, the Phoenix UI, another tool
        result = note.result or _Result()
        kind = meta.get("value_type")
        value: int | float | str
        if result.label is not None and kind == "int":
            value = int(result.label)
        elif result.label is not None and kind == "float":
            value = float(result.label)
        elif result.label is not None:
            value = result.label
        elif result.score is not None:
            value = result.score
        else:
            raise ValueError("the annotation has neither a label nor a score")
        return Score(
            id=str(meta[SCORE_ID_KEY]),
            trace_id=trace_id,
            span_id=None if root else note.span_id,
            name=note.name,
            value=value,
            comment=result.explanation,
            created_at=note.updated_at or note.created_at,
            metadata=ScoreMetadata.model_validate(
                {**meta, "reviewer": meta.get("reviewer") or note.identifier}
            ),
        )

    def _notes(
        self, trace_ids: Sequence[str], problems: list[str]
    ) -> Iterator[tuple[PhoenixAnnotation, str, bool]]:
        """Every annotation on every span of these traces: (annotation, its trace, whether
        on the root span). Annotations that do not parse are said in ``problems``."""
        where: dict[str, tuple[str, bool]] = {}
        unread = [t for t in dict.fromkeys(trace_ids) if t not in self._members]
        if unread:
            spans = self._trace_spans(unread)
            problems.extend(spans.problems)
            for span in spans:
                trace, root = span.context.trace_id, span.parent_id is None
                self._members.setdefault(trace, []).append((span.context.span_id, root))
                if root:
                    self._roots[trace] = span.context.span_id
        for trace in trace_ids:
            for span_id, root in self._members.get(trace, ()):
                where[span_id] = (trace, root)
        path = f"/v1/projects/{self.project}/span_annotations"
        for batch in batches(sorted(where), SPAN_BATCH):
            cursor: str | None = None
            while True:
                params = [("span_ids", s) for s in batch] + [("limit", str(MAX_PAGE))]
                if cursor:
                    params.append(("cursor", cursor))
                page = self._page(path, params)
                assert page is not None
                for item in page.data:
                    try:
                        note = PhoenixAnnotation.model_validate(item)
                    except ValidationError as exc:
                        problems.append(self._left_out(path, exc.errors()[0]["msg"]))
                        continue
                    if note.span_id in where:
                        yield (note, *where[note.span_id])
                cursor = page.next_cursor
                if not cursor:
                    break

    def _left_out(self, path: str, what: object) -> str:
        return (
            f"{self.name} GET {display_url(self.url + path)}: an annotation left out "
            f"({clean_excerpt(str(what), limit=80)})"
        )

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """agentdeck's annotations (any reviewer's) on the spans of these runs: the grade's
        criteria on the root span, a first wrong step on its step's span."""
        if trace_ids is None:
            return Listed(problems=[f"{self.name}: Phoenix lists annotations only for named runs"])
        path = f"/v1/projects/{self.project}/span_annotations"
        scores: list[Score] = []
        problems: list[str] = []
        for note, trace, root in self._notes(trace_ids, problems):
            try:
                score = self._score(note, trace, root)
            except (ValidationError, ValueError) as exc:
                what = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else exc
                problems.append(self._left_out(path, what))
                continue
            if score is not None:
                scores.append(score)
        return Listed(scores, problems=problems, skipped=len(problems))

    # --- annotation configs ----------------------------------------------------------------

    @staticmethod
    def annotation_configs(rubric: RubricLike) -> list[dict[str, Any]]:
        """The CATEGORICAL annotation config each criterion of ``rubric`` maps to."""
        configs = []
        for criterion in rubric.criteria:
            values = []
            for level in criterion.scale.levels:
                numeric = isinstance(level.value, int | float) and not isinstance(level.value, bool)
                values.append(
                    {"label": str(level.value), "score": float(level.value) if numeric else None}
                )
            configs.append(
                {
                    "name": criterion.id,
                    "type": "CATEGORICAL",
                    "description": criterion.question,
                    "optimization_direction": "NONE",
                    "values": values,
                }
            )
        return configs

    def _differences(self, want: dict[str, Any]) -> str | None:
        """None when Phoenix's config named like ``want`` matches it; else what differs."""
        path = f"/v1/annotation_configs/{want['name']}"
        reply = self._api.request("GET", path, allow=(404,))
        if reply.status_code == 404:
            return "missing"
        data = self._api.parse("GET", path, reply)
        have = data.get("data") if isinstance(data, dict) else None
        if not isinstance(have, dict):
            self._api.fail("GET", path, "the reply holds no config", "check that `url` is Phoenix")
        if have.get("type") != "CATEGORICAL":
            return f"is {clean_excerpt(str(have.get('type')), limit=20)}, not CATEGORICAL"
        theirs = {(v.get("label"), v.get("score")) for v in have.get("values") or []}
        ours = {(v["label"], v["score"]) for v in want["values"]}
        if theirs != ours:
            return "has other labels or scores than the rubric's levels"
        return None

    def check_annotation_configs(self, rubric: RubricLike) -> list[str]:
        """One line per criterion whose annotation config is missing or differs; [] if all
        match."""
        problems = []
        for want in self.annotation_configs(rubric):
            differs = self._differences(want)
            if differs:
                problems.append(f"{self.name}: annotation config {want['name']!r} {differs}")
        return problems

    def create_annotation_configs(self, rubric: RubricLike) -> list[str]:
        """Create the missing configs and assign every matching one to the project; returns
        the names created. A config that exists and differs is left as it is (ConnectorError
        naming it): other projects may use it."""
        created, differing = [], []
        for want in self.annotation_configs(rubric):
            differs = self._differences(want)
            if differs == "missing":
                path = "/v1/annotation_configs"
                self._api.parse("POST", path, self._api.request("POST", path, json=want))
                created.append(want["name"])
            elif differs:
                differing.append(f"{want['name']!r} {differs}")
                continue
            assign = f"/v1/projects/{self.project}/annotation_configs/{want['name']}"
            self._api.request("PUT", assign)
        if differing:
            self._api.fail(
                "GET",
                "/v1/annotation_configs",
                "annotation config " + "; ".join(differing),
                "rename the criterion or change the config in Phoenix",
            )
        return created


PLUGIN = PhoenixConnector

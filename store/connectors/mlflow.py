"""The MLflow connector: traces of one experiment as runs, assessments as grades.

Written against the MLflow 3.18.0 tracking server's REST API; the tests run that exact version.

**Runs.** A run is a trace of the configured experiment (looked up by name through
``GET /api/2.0/mlflow/experiments/get-by-name``; one that does not exist is reported by name).
Its summary comes from the trace info, its steps from the trace's spans other than the root, in
start order (``GET /api/3.0/mlflow/traces/batchGet``, the batch form of ``traces/get``: the same
trace with its spans, for up to :data:`FETCH_BATCH` traces a request). A step's kind is
``mlflow.spanType``, its arguments and result ``mlflow.spanInputs``/``mlflow.spanOutputs``,
its tokens ``mlflow.chat.tokenUsage``; MLflow keeps every attribute value JSON-encoded, so
values are decoded first, and what MLflow's own keys do not say is read through the shared span
mapping (:func:`store.span_dialects.read_span`: OpenInference, OpenTelemetry GenAI, ...). The
workflow is ``workflow_attribute`` looked up in the trace's metadata (``metadata.workflow`` is
the metadata key ``workflow``, or the key spelt whole), then its tags, then the root span's
attributes; the listing has no spans, so a workflow kept only on the root span is known once
the run is fetched (sampling rates by workflow need it in the metadata or the tags).

**The cursor.** ``POST /api/3.0/mlflow/traces/search`` pages with a token that is an offset
into the result, so a trace arriving mid-listing would shift every later page. The listing
therefore walks a fixed window, ``trace.timestamp_ms`` from ``lo`` (inclusive) to ``hi``
(exclusive, the time the window was opened), ascending (MLflow breaks ties by trace id). The
saved cursor is JSON, opaque to the caller: ``{"lo", "hi", "token"}`` with MLflow's own page
token, so a sync stopped between pages resumes on exactly the next page of the same window.
When a window is done, the next starts :data:`LATE_MS` before its end: a trace is written when
it ends, stamped with the time it started, so one that ran across the boundary lands behind it.
Those overlapping traces are listed again; a summary is an upsert, so nothing is duplicated.

**Grades.** Each score is one assessment on its trace, ``POST
/api/3.0/mlflow/traces/{trace_id}/assessments``: ``assessment_id`` derived from the trace and
the agentdeck score id (MLflow's ids are unique across the whole server), ``source`` HUMAN with
the reviewer (an adjudicator, for a final grade) as ``source_id``, ``assessment_name`` the
criterion, ``feedback.value``, ``rationale`` the comment, and ``metadata`` (strings only: MLflow
3.18 silently drops metadata holding anything else) with the score id, reviewer, rubric id and
version, seconds spent, escalate and the value's type. A first wrong step sits on its step's
span (hex there, base64 in the spans: converted). An id that exists answers HTTP 500
"constraint violation" (not 409): the assessment is then updated in place with ``PATCH
.../assessments/{id}`` and an ``update_mask``; a step-level one is deleted and created again,
since a patch does not move it to another span. ``DELETE`` clears one (200 even when already
gone), so every write is idempotent.

**Reading grades back.** ``POST /api/3.0/mlflow/traces/batchGetInfos`` returns the runs'
trace infos with their assessments: HUMAN ones carrying agentdeck metadata are grades, by
whoever pushed them. MLflow returns numbers as floats: a value is read back as the type it was
pushed (or as an integer when whole). An adjudication is an assessment that ``overrides`` a
disputed one: a final grade pushed from here overrides one reviewer's assessment of the same
criterion, and an override made in MLflow's own UI on an agentdeck assessment is read as the
run's final value of that criterion.

**Errors.** Every request goes through the shared client (:class:`store.jsonapi.JsonApi`):
timeouts, connection errors, 5xx and 429 are retried with backoff and jitter; what still fails
is one line naming the store, the method and the endpoint, and what to do (never the token).
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.connectors.base import (
    ConnectorError,
    Listed,
    StoreConfigBase,
    StoreConnector,
    StoreUnreachable,
    batches,
    value_type,
)
from store.connectors.otlp_file import MAX_VALUE_CHARS, KeyValue, SpanEvent, attribute_values
from store.identity import ADJUDICATED, NAMESPACE, score_id
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
from store.span_dialects import lookup, read_span
from store.text import clean_excerpt, display_url
from store.timestamps import Instant

if TYPE_CHECKING:
    import httpx

    from store.workspace import Workspace
else:  # imported on first request: reading the config does not need it
    httpx = LazyModule("httpx")

EXPERIMENT_PATH = "/api/2.0/mlflow/experiments/get-by-name"
SEARCH_PATH = "/api/3.0/mlflow/traces/search"
FETCH_PATH = "/api/3.0/mlflow/traces/batchGet"
INFOS_PATH = "/api/3.0/mlflow/traces/batchGetInfos"
#: MLflow 3.18's ceiling for ``max_results`` on ``traces/search``.
MAX_PAGE = 500
#: Traces a ``batchGet`` asks for (their spans travel too) and a ``batchGetInfos`` asks for.
FETCH_BATCH = 50
INFOS_BATCH = 100
#: How far a new listing window reaches back before the end of the last one (milliseconds).
LATE_MS = 5 * 60 * 1000
#: Attempts per request (the first and three retries), backoff base and ceiling in seconds.
ATTEMPTS = 4
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0
#: A Retry-After longer than this is not waited for: the request fails and the next sync retries.
RETRY_AFTER_CAP_S = 60.0
#: The metadata key that marks an assessment as agentdeck's.
SCORE_ID_KEY = "agentdeck_score_id"
#: What MLflow 3.18 says when an assessment id exists already (HTTP 500).
EXISTS = "constraint violation"
#: ``mlflow.spanType`` as a step kind (the kinds Phoenix's and the OTLP reader's steps use).
SPAN_KINDS = {
    "LLM": "llm",
    "CHAT_MODEL": "llm",
    "TOOL": "tool",
    "AGENT": "agent",
    "CHAIN": "chain",
    "RETRIEVER": "retriever",
    "EMBEDDING": "embedding",
    "RERANKER": "reranker",
    "PARSER": "parser",
}


#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "check that MLflow is up, or raise `timeout` in agentdeck.toml",
    "connect": "check that the MLflow tracking server is running and `url` in agentdeck.toml",
    "server": "MLflow is failing; the next sync retries",
    "status": "check `url` and `experiment` in agentdeck.toml (MLflow 3.18 or later)",
    "html": "check that `url` is the MLflow tracking server, not a web page or a login proxy",
    "json": "check that `url` is the MLflow tracking server",
}


class MlflowStoreConfig(StoreConfigBase):
    """``kind = "mlflow"``: ``url`` of the tracking server, ``experiment`` its name (not its
    id); ``workflow_attribute`` is looked up in the trace's metadata, then its tags, then the
    root span's attributes."""

    kind: Literal["mlflow"]
    experiment: str | None = Field(default=None, description="the MLflow experiment's name")

    @model_validator(mode="after")
    def _needs(self) -> MlflowStoreConfig:
        self.required("url", "the MLflow tracking server's base URL")
        self.required("experiment", "the MLflow experiment's name, not its id")
        return self


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class _Source(_Model):
    source_type: str = ""
    source_id: str = ""


class _Feedback(_Model):
    value: Any = None


class MlflowAssessment(_Model):
    """One assessment as MLflow returns it (the fields agentdeck reads)."""

    assessment_id: str = Field(min_length=1)
    assessment_name: str = Field(min_length=1)
    span_id: str | None = None
    source: _Source = Field(default_factory=_Source)
    create_time: Instant | None = None
    last_update_time: Instant | None = None
    feedback: _Feedback | None = None
    rationale: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    overrides: str | None = None
    valid: bool = True


class MlflowTraceInfo(_Model):
    """A trace's info: what ``traces/search`` lists and ``batchGetInfos`` returns."""

    trace_id: str = Field(min_length=1)
    request_time: Instant
    execution_duration: str | None = None
    state: str = "OK"
    trace_metadata: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, Any] = Field(default_factory=dict)
    assessments: list[Any] = Field(default_factory=list)


class _SearchPage(_Model):
    #: MLflow 3.18 answers ``{}`` when no trace matches (an empty window, a new experiment).
    traces: list[Any] = Field(default_factory=list)
    next_page_token: str | None = None


class _Status(_Model):
    code: str | int = ""
    message: str = ""


class MlflowSpan(_Model):
    """One span of ``batchGet`` (OTLP's shape, ids in base64)."""

    span_id: str = Field(min_length=1)
    parent_span_id: str | None = None
    name: str = ""
    start_time_unix_nano: int | None = None
    end_time_unix_nano: int | None = None
    attributes: list[KeyValue] = Field(default_factory=list)
    events: list[SpanEvent] = Field(default_factory=list)
    status: _Status | None = None


class _Trace(_Model):
    trace_info: MlflowTraceInfo
    spans: list[Any] = Field(default_factory=list)


class _Cursor(_Model):
    lo: int = 0
    hi: int | None = None
    token: str | None = None


def span_hex(value: str) -> str:
    """A span id as hex (assessments' form) from base64 (spans' form); hex stays hex."""
    if len(value) == 16 and all(c in "0123456789abcdef" for c in value):
        return value
    try:
        return base64.b64decode(value, validate=True).hex()
    except ValueError:
        return value


def assessment_id(trace_id: str, score_id: str) -> str:
    """The deterministic assessment id of one agentdeck score on one trace (MLflow's ids are
    unique across the server, so the trace is part of it)."""
    return f"a-{uuid.uuid5(NAMESPACE, f'{trace_id}/{score_id}').hex}"


def _duration_ms(text: str | None) -> int | None:
    if not text or not text.endswith("s"):
        return None
    try:
        return max(0, round(float(text[:-1]) * 1000))
    except ValueError:
        return None


def _loads(value: Any) -> Any:
    """An attribute value as MLflow meant it (it JSON-encodes each one); text that is not JSON
    (another instrumentation's, or cut short) stays as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _decoded(kvs: list[KeyValue]) -> dict[str, Any]:
    return {k: _loads(v) for k, v in attribute_values(kvs, MAX_VALUE_CHARS).items()}


def _usage(value: Any) -> Tokens | None:
    usage = _loads(value)
    if not isinstance(usage, dict):
        return None
    try:
        return Tokens(
            input=int(usage.get("input_tokens") or 0), output=int(usage.get("output_tokens") or 0)
        )
    except (TypeError, ValueError):
        return None


class MlflowConnector(StoreConnector):
    """Runs and grades of one MLflow experiment."""

    kind = "mlflow"
    config_model = MlflowStoreConfig
    login: ClassVar[Login | None] = Login(prompt="MLflow token (Enter for none)", optional=True)
    list_page = MAX_PAGE
    push_batch = 1
    adjudication = True

    def __init__(
        self,
        name: str,
        url: str,
        *,
        experiment: str,
        workflow_attribute: str = "metadata.workflow",
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.experiment = experiment
        self.workflow_attribute = workflow_attribute
        self.timeout = timeout
        self._clock = clock
        self._api = JsonApi(
            name,
            self.url,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            secrets=[token],
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
            clock=lambda: self._clock().timestamp(),
            rng=rng,
        )
        self._experiment_id: str | None = None
        #: What the last call left undone without failing.
        self.problems: list[str] = []

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> MlflowConnector:
        """The connector for one ``[[stores]]`` entry; the token, if any, from the keyring under
        the store's name (a tracking server without authentication needs none)."""
        from store.credentials import get_secret

        assert isinstance(cfg, MlflowStoreConfig)
        assert cfg.url is not None and cfg.experiment is not None  # the config requires them
        return cls(
            cfg.name,
            cfg.url,
            experiment=cfg.experiment,
            workflow_attribute=cfg.workflow_attribute,
            token=get_secret(cfg.name),
            timeout=cfg.timeout,
        )

    def __repr__(self) -> str:
        return f"MlflowConnector({self.name!r}, {display_url(self.url)!r}, {self.experiment!r})"

    def close(self) -> None:
        """Close the HTTP connections (the connector opens them again when used)."""
        self._api.close()

    def _refuse(self, method: str, path: str, reply: httpx.Response) -> NoReturn:
        status = reply.status_code
        if status in (401, 403):
            self._api.fail(
                method,
                path,
                f"HTTP {status}, the request was refused ({self._api.says(reply)})",
                f"run `agentdeck login {self.name}` with an MLflow token",
            )
        self._api.fail(method, path, f"HTTP {status} ({self._api.says(reply)})", _TODO["status"])

    def _parse(self, model: type[BaseModel], method: str, path: str, data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "the reply"
            self._api.fail(
                method,
                path,
                "the reply is not what MLflow sends "
                f"({where}: {clean_excerpt(err['msg'], limit=60)})",
                "check that `url` is an MLflow 3.18 (or later) tracking server",
            )

    # --- runs --------------------------------------------------------------------------------

    def experiment_id(self) -> str:
        """The configured experiment's id, looked up by name once."""
        if self._experiment_id is None:
            path = EXPERIMENT_PATH
            data = self._api.json(
                "GET", path, params=[("experiment_name", self.experiment)], allow=(404,)
            )
            if data is None:
                self._api.fail(
                    "GET",
                    path,
                    f"MLflow has no experiment named {clean_excerpt(self.experiment, limit=80)!r}",
                    "check `experiment` in agentdeck.toml (the experiment's name, not its id)",
                )
            found = data.get("experiment") if isinstance(data, dict) else None
            if not isinstance(found, dict) or not found.get("experiment_id"):
                self._api.fail("GET", path, "the reply names no experiment", "check `url`")
            self._experiment_id = str(found["experiment_id"])
        return self._experiment_id

    def _workflow(self, info: MlflowTraceInfo, root: dict[str, Any] | None = None) -> str:
        dotted = self.workflow_attribute
        # ``metadata.workflow`` is the key ``workflow`` (or the key spelt whole) in each place.
        names = list(dict.fromkeys([dotted, dotted.split(".", 1)[-1]]))
        for place in (info.trace_metadata, info.tags, root or {}):
            for name in names:
                found = lookup(place, name)
                if found not in (None, ""):
                    return str(found)
        return "unknown"

    def _summary(self, info: MlflowTraceInfo, root: dict[str, Any] | None = None) -> RunSummary:
        latency = _duration_ms(info.execution_duration)
        return RunSummary(
            trace_id=info.trace_id,
            workflow=self._workflow(info, root),
            start_time=info.request_time,
            end_time=None
            if latency is None
            else info.request_time + timedelta(milliseconds=latency),
            status="error" if info.state.upper() == "ERROR" else "ok",
            tokens=_usage(info.trace_metadata.get("mlflow.trace.tokenUsage")) or Tokens(),
            latency_ms=latency,
        )

    def _left_out(self, method: str, path: str, what: str, err: Any) -> str:
        return (
            f"{self.name} {method} {display_url(self.url + path)}: {what} left out "
            f"({clean_excerpt(str(err), limit=80)})"
        )

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """Traces in a fixed time window, oldest first, after ``cursor`` (see the module doc)."""
        try:
            state = _Cursor.model_validate_json(cursor) if cursor else _Cursor()
        except ValidationError:
            state = _Cursor()  # not ours: list from the start
        if state.hi is None:
            state = _Cursor(lo=state.lo, hi=int(self._clock().timestamp() * 1000))
        body: dict[str, Any] = {
            "locations": [
                {
                    "type": "MLFLOW_EXPERIMENT",
                    "mlflow_experiment": {"experiment_id": self.experiment_id()},
                }
            ],
            "filter": f"trace.timestamp_ms >= {state.lo} AND trace.timestamp_ms < {state.hi}",
            "max_results": max(1, min(limit, MAX_PAGE)),
            "order_by": ["timestamp_ms ASC"],
        }
        if state.token:
            body["page_token"] = state.token
        page: _SearchPage = self._parse(
            _SearchPage, "POST", SEARCH_PATH, self._api.json("POST", SEARCH_PATH, json=body)
        )
        runs, problems = [], []
        for item in page.traces:
            try:
                runs.append(self._summary(MlflowTraceInfo.model_validate(item)))
            except ValidationError as exc:
                problems.append(
                    self._left_out("POST", SEARCH_PATH, "a trace", exc.errors()[0]["msg"])
                )
        if page.next_page_token:
            after = _Cursor(lo=state.lo, hi=state.hi, token=page.next_page_token)
        else:
            assert state.hi is not None
            after = _Cursor(lo=max(state.lo, state.hi - LATE_MS))
        return RunPage(
            runs=runs,
            cursor=after.model_dump_json(),
            done=not page.next_page_token,
            skipped=len(problems),
            problems=problems,
        )

    @staticmethod
    def _step(span: MlflowSpan, attrs: dict[str, Any]) -> Step:
        """One step: MLflow's own keys first, then what the shared span mapping reads."""
        events = [(e.name, _decoded(e.attributes)) for e in span.events]
        exception = dict(events).get("exception")
        reading = read_span(attrs, name=span.name, events=events)
        status = span.status or _Status()
        error = None
        if status.code in (2, "2", "STATUS_CODE_ERROR", "ERROR"):
            error = StepError(
                type=str((exception or {}).get("exception.type") or "error"),
                message=status.message or str((exception or {}).get("exception.message") or ""),
            )
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        return Step(
            kind=SPAN_KINDS.get(str(attrs.get("mlflow.spanType") or "").upper(), reading.kind),
            name=reading.name,
            span_id=span_hex(span.span_id),
            start_time=datetime.fromtimestamp(start // 1000 / 1e6, UTC) if start else None,
            latency_ms=(end - start) // 1_000_000 if start and end and end >= start else None,
            arguments=attrs.get("mlflow.spanInputs", reading.input),
            result=attrs.get("mlflow.spanOutputs", reading.output),
            error=error,
            tokens=_usage(attrs.get("mlflow.chat.tokenUsage")) or reading.tokens,
        )

    def _run(self, trace: _Trace, problems: list[str]) -> Run | None:
        info = trace.trace_info
        spans: list[tuple[MlflowSpan, dict[str, Any]]] = []
        for item in trace.spans:
            try:
                span = MlflowSpan.model_validate(item)
            except ValidationError as exc:
                # The whole run is left out, never stored without a step (the steps' numbers,
                # and so a first-wrong-step mark, would shift); it is fetched again next sync.
                problems.append(
                    self._left_out(
                        "GET",
                        FETCH_PATH,
                        f"trace {clean_excerpt(info.trace_id, limit=40)} (a span)",
                        exc.errors()[0]["msg"],
                    )
                )
                return None
            spans.append((span, _decoded(span.attributes)))
        roots = [(s, a) for s, a in spans if not s.parent_span_id]
        if not roots:
            problems.append(
                f"{self.name}: trace {clean_excerpt(info.trace_id, limit=40)} has no root span "
                "yet; it is fetched again on the next sync"
            )
            return None
        root, root_attrs = roots[0]
        steps = sorted(
            ((s, a) for s, a in spans if s is not root),
            key=lambda sa: (sa[0].start_time_unix_nano or 0, sa[0].span_id),
        )
        summary = self._summary(info, root_attrs)
        step_models = [self._step(s, a) for s, a in steps]
        if summary.tokens == Tokens():
            summary.tokens = Tokens(
                input=sum(s.tokens.input for s in step_models if s.tokens),
                output=sum(s.tokens.output for s in step_models if s.tokens),
            )
        meta = info.trace_metadata
        given = root_attrs.get("mlflow.spanInputs")
        answer = root_attrs.get("mlflow.spanOutputs")
        return Run(
            **summary.model_dump(),
            input=given if given is not None else _loads(meta.get("mlflow.traceInputs")),
            output=answer if answer is not None else _loads(meta.get("mlflow.traceOutputs")),
            steps=step_models,
        )

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """Full runs (root span, steps) for these trace ids; unknown ids are left out."""
        runs: list[Run] = []
        problems: list[str] = []
        for batch in batches(list(dict.fromkeys(run_ids)), FETCH_BATCH):
            data = self._api.json("GET", FETCH_PATH, params=[("trace_ids", t) for t in batch])
            traces = data.get("traces") if isinstance(data, dict) else None
            if not isinstance(traces, list):
                self._api.fail("GET", FETCH_PATH, "the reply holds no traces", "check `url`")
            for item in traces:
                try:
                    trace = _Trace.model_validate(item)
                except ValidationError as exc:
                    problems.append(
                        self._left_out("GET", FETCH_PATH, "a trace", exc.errors()[0]["msg"])
                    )
                    continue
                run = self._run(trace, problems)
                if run is not None:
                    runs.append(run)
        return Listed(runs, problems=problems, skipped=len(problems))

    def list_incidents(self) -> Listed[Incident]:
        """MLflow has no incidents."""
        return Listed()

    # --- grades ------------------------------------------------------------------------------

    def _infos(self, trace_ids: Sequence[str]) -> Iterator[MlflowTraceInfo]:
        """The trace infos (with their assessments) of these traces; unknown ones left out."""
        for batch in batches(list(dict.fromkeys(trace_ids)), INFOS_BATCH):
            data = self._api.json("POST", INFOS_PATH, json={"trace_ids": batch})
            infos = data.get("trace_infos", []) if isinstance(data, dict) else None
            if not isinstance(infos, list):
                self._api.fail("POST", INFOS_PATH, "the reply holds no trace infos", "check `url`")
            for item in infos:
                yield self._parse(MlflowTraceInfo, "POST", INFOS_PATH, item)

    def _assessment(self, score: Score, overrides: str | None = None) -> dict[str, Any]:
        m = score.metadata
        meta = {
            SCORE_ID_KEY: score.id,
            "reviewer": m.reviewer,
            "rubric_id": m.rubric_id,
            "rubric_version": m.rubric_version,
            "seconds_spent": "" if m.seconds_spent is None else str(m.seconds_spent),
            "escalate": "true" if m.escalate else "false",
            "value_type": value_type(score.value),
        }
        if m.kind:
            meta["kind"] = m.kind
        if m.adjudicator:
            meta["adjudicator"] = m.adjudicator
        body: dict[str, Any] = {
            "assessment_id": assessment_id(score.trace_id, score.id),
            "trace_id": score.trace_id,
            "assessment_name": score.name,
            "source": {"source_type": "HUMAN", "source_id": m.adjudicator or m.reviewer},
            "feedback": {"value": score.value},
            "metadata": meta,
        }
        if score.comment is not None:
            body["rationale"] = score.comment
        if score.span_id:
            body["span_id"] = score.span_id
        if overrides:
            body["overrides"] = overrides
        return body

    def _disputed(self, finals: Sequence[Score]) -> dict[str, str]:
        """For each adjudicated score, a reviewer's assessment of the same criterion on the
        same run that it overrides (by score id); none when no reviewer's is there."""
        if not finals:
            return {}
        ours = {assessment_id(s.trace_id, s.id) for s in finals}
        found: dict[str, str] = {}
        infos = {i.trace_id: i for i in self._infos(sorted({s.trace_id for s in finals}))}
        for score in finals:
            info = infos.get(score.trace_id)
            for raw in info.assessments if info else []:
                try:
                    other = MlflowAssessment.model_validate(raw)
                except ValidationError:
                    continue
                if (
                    other.assessment_name == score.name
                    and other.assessment_id not in ours
                    and other.source.source_type == "HUMAN"
                    and other.metadata.get("kind") != ADJUDICATED
                ):
                    found[score.id] = other.assessment_id
                    break
        return found

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Create or update one assessment per score (idempotent on the deterministic id).
        Runs MLflow does not know fail alone: the others are written, then one ConnectorError
        names the unknown ones."""
        finals = [s for s in scores if s.metadata.kind == ADJUDICATED]
        overrides = self._disputed(finals)
        unknown: set[str] = set()
        for score in scores:
            if not self._put(score, overrides.get(score.id)):
                unknown.add(score.trace_id)
        if unknown:
            names = ", ".join(clean_excerpt(t, limit=40) for t in sorted(unknown)[:3])
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            self._api.fail(
                "POST",
                "/api/3.0/mlflow/traces/{trace_id}/assessments",
                f"MLflow does not know trace {names}{more}",
                "the other grades were written; these retry on the next sync",
            )

    def _put(self, score: Score, overrides: str | None) -> bool:
        """Write one score; False when MLflow does not know its trace."""
        body = self._assessment(score, overrides)
        path = f"/api/3.0/mlflow/traces/{score.trace_id}/assessments"
        # The id is deterministic: a retried POST cannot duplicate (it answers "exists").
        reply = self._api.request("POST", path, json={"assessment": body}, allow=(404, 500))
        if reply.status_code == 404:
            return False
        if reply.status_code == 500:
            if EXISTS not in reply.content.decode("utf-8", errors="replace"):
                self._api.fail("POST", path, f"HTTP 500 ({self._api.says(reply)})", _TODO["server"])
            one = f"{path}/{body['assessment_id']}"
            patch: dict[str, Any] = {k: body[k] for k in ("feedback", "metadata")}
            patch["rationale"] = score.comment or ""
            held = self._api.json(
                "PATCH",
                one,
                json={"assessment": patch, "update_mask": "feedback,rationale,metadata"},
            )
            held = held.get("assessment") if isinstance(held, dict) else None
            if score.span_id and (
                not isinstance(held, dict) or held.get("span_id") != score.span_id
            ):
                # A patch keeps the span: a mark moved to another step is written anew.
                self._api.request("DELETE", one)
                self._api.request("POST", path, json={"assessment": body})
            return True
        self._api.parse("POST", path, reply)
        return True

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """Delete the assessments of these score ids on the runs ``trace_ids`` (idempotent:
        MLflow answers 200 for one already gone)."""
        if not score_ids:
            return
        if not trace_ids:
            self.problems.append(
                f"{self.name}: {len(score_ids)} score(s) were not deleted in MLflow "
                "(their runs were not named); they stay there as last pushed"
            )
            return
        for trace_id in dict.fromkeys(trace_ids):
            for sid in score_ids:
                path = (
                    f"/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id(trace_id, sid)}"
                )
                self._api.request("DELETE", path, allow=(404,))

    @staticmethod
    def _value(note: MlflowAssessment, kind: Any) -> int | float | str:
        value = (note.feedback or _Feedback()).value
        if value is None or isinstance(value, dict | list):
            raise ValueError("the assessment holds no feedback value")
        if kind == "str" or isinstance(value, str) and kind not in ("int", "float"):
            return str(value)
        if isinstance(value, bool):
            return str(value).lower()
        number = float(value)
        if kind == "float":
            return number
        # MLflow returns every number as a float: a whole one is the rubric's integer level.
        return int(number) if number.is_integer() else number

    def _score(
        self, note: MlflowAssessment, trace_id: str, by_id: dict[str, MlflowAssessment]
    ) -> Score | None:
        meta = note.metadata
        if note.source.source_type != "HUMAN":
            return None  # an LLM judge or code: not a person's grade
        if meta.get(SCORE_ID_KEY):
            reviewer = str(meta.get("reviewer") or note.source.source_id)
            seconds = meta.get("seconds_spent")
            return Score(
                id=str(meta[SCORE_ID_KEY]),
                trace_id=trace_id,
                span_id=note.span_id or None,
                name=note.assessment_name,
                value=self._value(note, meta.get("value_type")),
                comment=note.rationale or None,
                created_at=note.last_update_time or note.create_time,
                metadata=ScoreMetadata(
                    reviewer=reviewer,
                    rubric_id=str(meta.get("rubric_id") or ""),
                    rubric_version=str(meta.get("rubric_version") or ""),
                    escalate=str(meta.get("escalate")).lower() == "true",
                    seconds_spent=float(seconds) if seconds not in (None, "") else None,
                    kind=meta.get("kind") or None,
                    adjudicator=meta.get("adjudicator") or None,
                ),
            )
        settled = by_id.get(note.overrides or "")
        if settled is None or not settled.metadata.get(SCORE_ID_KEY):
            return None  # not agentdeck's, and overriding nothing of agentdeck's
        # Someone settled an agentdeck grade in MLflow itself: the run's final value.
        base = settled.metadata
        return Score(
            id=score_id(self.name, trace_id, note.assessment_name, ADJUDICATED),
            trace_id=trace_id,
            span_id=note.span_id or None,
            name=note.assessment_name,
            value=self._value(note, base.get("value_type")),
            comment=note.rationale or None,
            created_at=note.last_update_time or note.create_time,
            metadata=ScoreMetadata(
                reviewer=ADJUDICATED,
                rubric_id=str(base.get("rubric_id") or ""),
                rubric_version=str(base.get("rubric_version") or ""),
                kind=ADJUDICATED,
                adjudicator=note.source.source_id or None,
            ),
        )

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """agentdeck's assessments (any reviewer's) on these runs, and adjudications made on
        them in MLflow (an assessment overriding an agentdeck one)."""
        if trace_ids is None:
            return Listed(problems=[f"{self.name}: MLflow lists assessments only for named runs"])
        scores: list[Score] = []
        problems: list[str] = []
        for info in self._infos(trace_ids):
            notes: list[MlflowAssessment] = []
            for raw in info.assessments:
                try:
                    notes.append(MlflowAssessment.model_validate(raw))
                except ValidationError as exc:
                    problems.append(
                        self._left_out("POST", INFOS_PATH, "an assessment", exc.errors()[0]["msg"])
                    )
            by_id = {n.assessment_id: n for n in notes}
            for note in notes:
                try:
                    score = self._score(note, info.trace_id, by_id)
                except (ValidationError, ValueError) as exc:
                    what = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else exc
                    problems.append(self._left_out("POST", INFOS_PATH, "an assessment", what))
                    continue
                if score is not None:
                    scores.append(score)
        return Listed(scores, problems=problems, skipped=len(problems))


PLUGIN = MlflowConnector

"""Langfuse as a store: runs are traces, steps are observations, grades are scores.

Everything goes through Langfuse's public REST API (``/api/public``, Basic auth with the public
key as user and the secret key as password). The endpoints used, as published in
``web/public/generated/api/openapi.yml`` of langfuse/langfuse (see
``tests/fixtures/langfuse/README.md`` for the version the tests pin):

- runs: ``GET /api/public/v2/observations`` with ``isRootObservation=true``,
  ``fromStartTime``/``toStartTime`` and cursor paging (``meta.cursor``). The page-numbered
  ``GET /api/public/traces`` is retired on Langfuse Cloud and is not used;
- a run's steps: the same endpoint with ``traceId`` (every observation of the trace);
- grades: ``POST /api/public/scores`` (Langfuse upserts on the score ``id``, and agentdeck's ids
  are deterministic, so a re-push updates the same score), ``DELETE /api/public/scores/{id}``,
  and ``GET /api/public/v3/scores`` (cursor paging, ``limit`` at most 100) to read them back;
- score configs: ``GET``/``POST /api/public/score-configs``;
- annotation queues: ``GET /api/public/annotation-queues/{id}/items`` and ``PATCH`` of an item.

**The saved cursor.** Root observations are listed in *sweeps* over a fixed start-time window
``[from, to)``: ``from`` is where the previous sweep ended (nothing on the first sync) and ``to``
is "now minus ``settle``" when the sweep begins, so a run whose spans are still being ingested
is left for the next sync. Within a sweep Langfuse's own cursor pages. The opaque cursor agentdeck
saves after every page is ``lf1.`` + base64url of ``{"from": ..., "to": ..., "lf": ...}``: an
interrupted sync resumes the same sweep with the same window and Langfuse cursor; the last page
of a sweep saves ``{"from": <to>, "to": null, "lf": null}``, so the next sync lists only roots
that started since (``fromStartTime`` is inclusive and ``toStartTime`` exclusive: windows tile
with no gap and no overlap).

**A run** is a trace: its root observation gives the summary (``workflow`` from
``workflow_attribute``, ``metadata.workflow`` being the key ``workflow`` in the observation's
metadata, else the trace's name; ``status`` ``error`` when the root's level is ERROR). Hydrating
reads every observation of the trace: GENERATION and EMBEDDING become ``llm`` steps, every other
type a ``tool`` step (name, input, output, level ERROR with its status message as the error,
usage tokens, times); the run's tokens and cost are the sums over its observations.

**Scores** carry the reviewer, rubric id and version (and the rest of :class:`ScoreMetadata`) in
``metadata``, since the public API cannot set the author; only scores whose metadata names a
reviewer, a rubric and its version are read back as agentdeck's. ``dataType`` follows the value:
a number is NUMERIC, a word CATEGORICAL (a bool would be BOOLEAN, sent as 1/0). ``configId`` is
sent when a score config of the criterion's name exists, is not archived, has that data type and
admits the value (so a stale config never makes Langfuse refuse a grade forever).

**Errors** are one line naming the store, the method and the endpoint, never a key. Requests go
through the shared client (:mod:`store.jsonapi`): timeouts, connection errors and 5xx are retried
with exponential backoff and jitter; a 429 waits what ``Retry-After`` asks, seconds or an
HTTP-date (up to ``max_wait``; a longer wait fails at once and the next sync retries). Scores are
upserts on their deterministic id and queue items are set, so both are retried; creating a score
config is not keyed and is sent once. A 401 says to run ``agentdeck login NAME``.

**Keys** live in the keyring under the store's name as one secret ``PUBLIC:SECRET``
(``pk-lf-…:sk-lf-…``; Langfuse keys hold no colon), given to ``agentdeck login NAME``.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.connectors.base import (
    ConnectorError,
    CriterionLike,
    Listed,
    RubricLike,
    StoreConfigBase,
    StoreConnector,
    StoreUnreachable,
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
from store.text import clean_excerpt, display_url
from store.timestamps import Instant

if TYPE_CHECKING:
    import httpx

    from store.workspace import Workspace
else:  # imported on first use: reading the config does not need it
    httpx = LazyModule("httpx")

CURSOR_PREFIX = "lf1."
#: Langfuse's largest page of observations (``limit``: "Maximum 1000").
OBSERVATIONS_LIMIT = 1000
#: Langfuse's largest page of scores (v3 ``limit``: "Maximum 100 ... greater than 100 return 400").
SCORES_LIMIT = 100
#: Trace ids per ``GET /v3/scores`` (they travel comma-separated in the query string).
TRACE_IDS_PER_REQUEST = 50
#: Observation field groups read when listing roots, and when hydrating a trace.
LIST_FIELDS = "core,basic,metadata,usage,trace_context"
FETCH_FIELDS = "core,basic,time,io,metadata,model,usage,trace_context"
#: Langfuse's score config names: "Max 35 characters".
CONFIG_NAME_MAX = 35
LLM_TYPES = frozenset({"GENERATION", "EMBEDDING"})

_Params = dict[str, str | int | bool]


# -- replies, parsed at the edge ------------------------------------------------------------------


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class _Meta(_Reply):
    cursor: str | None = None


class _Page(_Reply):
    """A cursor-paged list (observations v2, scores v3): each item is checked on its own."""

    data: list[Any]
    meta: _Meta


class _PageMeta(_Reply):
    page: int
    totalPages: int


class _NumberedPage(_Reply):
    """A page-numbered list (score configs, annotation queue items)."""

    data: list[Any]
    meta: _PageMeta


class LangfuseObservation(_Reply):
    """The fields of Langfuse's ``ObservationV2`` that agentdeck reads."""

    id: str = Field(min_length=1)
    traceId: str | None = None
    startTime: Instant
    endTime: Instant | None = None
    parentObservationId: str | None = None
    type: str = "SPAN"
    isRootObservation: bool | None = None
    name: str | None = None
    level: str | None = None
    statusMessage: str | None = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    providedModelName: str | None = None
    usageDetails: dict[str, int] | None = None
    totalCost: float | None = None
    traceName: str | None = None
    tags: list[str] | None = None


class _Subject(_Reply):
    kind: str
    id: str
    traceId: str | None = None


class LangfuseScore(_Reply):
    """The fields of Langfuse's ``ScoreV3`` (with the ``details`` and ``subject`` groups)."""

    id: str = Field(min_length=1)
    name: str
    dataType: str
    value: float | str | bool
    comment: str | None = None
    configId: str | None = None
    metadata: dict[str, Any] | None = None
    subject: _Subject | None = None
    createdAt: Instant | None = None
    #: The score's last change (an upsert keeps ``createdAt``): when the grade was last made.
    updatedAt: Instant | None = None


class _Category(_Reply):
    label: str
    value: float


class LangfuseScoreConfig(_Reply):
    """The fields of Langfuse's ``ScoreConfig`` that agentdeck compares with a criterion."""

    id: str
    name: str
    dataType: str
    isArchived: bool = False
    minValue: float | None = None
    maxValue: float | None = None
    categories: list[_Category] | None = None


class QueueItem(_Reply):
    """An ``AnnotationQueueItem``: a trace (or observation, session) waiting for review."""

    id: str
    queueId: str
    objectId: str
    objectType: str
    status: str


# -- what a rubric looks like from here (store does not import review) ----------------------------


def config_for(criterion: CriterionLike) -> dict[str, Any]:
    """The ``CreateScoreConfigRequest`` a criterion maps to: NUMERIC from the lowest to the
    highest level when every level is a whole number (ordinal scales), else CATEGORICAL with one
    category per level (label: the level's value, value: its position, from 0)."""
    values = [lv.value for lv in criterion.scale.levels]
    body: dict[str, Any] = {"name": criterion.id, "description": criterion.question}
    if all(isinstance(v, int) for v in values):
        numbers = [int(v) for v in values]
        body.update(dataType="NUMERIC", minValue=min(numbers), maxValue=max(numbers))
    else:
        body.update(
            dataType="CATEGORICAL",
            categories=[{"label": str(v), "value": i} for i, v in enumerate(values)],
        )
    return body


def data_type(value: object) -> str:
    """Langfuse's ``dataType`` for a score value."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMERIC"
    return "CATEGORICAL"


def _admits(config: LangfuseScoreConfig, value: int | float | str) -> bool:
    kind = data_type(value)
    if config.isArchived or config.dataType != kind:
        return False
    if kind == "CATEGORICAL":
        return any(c.label == value for c in config.categories or [])
    if kind == "NUMERIC":
        assert not isinstance(value, str)
        low = config.minValue if config.minValue is not None else float("-inf")
        high = config.maxValue if config.maxValue is not None else float("inf")
        return low <= value <= high
    return True


# -- the cursor -----------------------------------------------------------------------------------


def encode_cursor(start: str | None, end: str | None, lf: str | None) -> str:
    raw = json.dumps({"from": start, "to": end, "lf": lf}, separators=(",", ":"))
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str | None, str | None, str | None]:
    """``(from, to, lf)`` of a saved cursor; ValueError if it is not one of ours."""
    if not cursor.startswith(CURSOR_PREFIX):
        raise ValueError("not a Langfuse cursor")
    body = cursor[len(CURSOR_PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("not a Langfuse cursor") from None
    if not isinstance(data, dict):
        raise ValueError("not a Langfuse cursor")
    parts = (data.get("from"), data.get("to"), data.get("lf"))
    if not all(p is None or isinstance(p, str) for p in parts):
        raise ValueError("not a Langfuse cursor")
    return parts


def iso(moment: datetime) -> str:
    """Langfuse's timestamp text: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _maybe_json(value: Any) -> Any:
    """Langfuse v2 returns input and output as raw strings; JSON in them is read as JSON."""
    if isinstance(value, str) and value[:1] in ("{", "[", '"'):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "check the network, or raise this store's timeout in agentdeck.toml",
    "connect": "check the store's url in agentdeck.toml and the network",
    "url": "fix the store's url in agentdeck.toml",
    "server": "sync again later",
    "html": "the url must be Langfuse's (https://cloud.langfuse.com or your own), "
    "not a proxy's login page",
    "json": "check the store's url in agentdeck.toml",
    "cut": "sync again; if it persists, a proxy is cutting replies short",
}

#: Traces fetched at once when hydrating the sample.
FETCH_CONCURRENCY = 4


class LangfuseStoreConfig(StoreConfigBase):
    """``kind = "langfuse"``: ``url`` of the server; ``queue``, an annotation queue whose
    pending items are the sample for this store (in place of the sampling plan); grading an
    item completes it."""

    kind: Literal["langfuse"]
    queue: str | None = Field(default=None, description="a Langfuse annotation queue id")

    @model_validator(mode="after")
    def _needs(self) -> LangfuseStoreConfig:
        self.required("url", "the Langfuse server's base URL")
        return self


class LangfuseConnector(StoreConnector):
    """Runs, steps and scores of one Langfuse project (the keys name the project)."""

    kind = "langfuse"
    config_model = LangfuseStoreConfig
    login: ClassVar[Login | None] = Login("Langfuse public and secret key", pair=True)
    server_sample = True

    def __init__(
        self,
        name: str,
        url: str,
        *,
        public_key: str,
        secret_key: str,
        workflow_attribute: str = "metadata.workflow",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        settle: timedelta = timedelta(minutes=5),
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        queue_id: str | None = None,
    ) -> None:
        self.name = name
        self.endpoint = url.rstrip("/")
        self.workflow_attribute = workflow_attribute
        self.timeout = timeout
        self.settle = settle
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        #: Scores pushed for a trace queued here carry ``queueId``.
        self.queue_id = queue_id
        self._pending: dict[str, str] | None = None
        self._now = now or (lambda: datetime.now(UTC))
        self._api = JsonApi(
            name,
            self.endpoint,
            auth=(public_key, secret_key),
            timeout=timeout,
            transport=transport,
            error=ConnectorError,
            down_error=StoreUnreachable,
            todo=_TODO,
            refuse=self._refuse,
            says=self._says,
            attempts=retries + 1,
            backoff=backoff,
            backoff_cap=float("inf"),
            retry_after_cap=max_wait,
            sleep=sleep,
            rng=rng,
        )
        self._configs: dict[str, LangfuseScoreConfig] | None = None
        self._queued: set[str] = set()

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> LangfuseConnector:
        """Build from ``agentdeck.toml``; the keys come from the keyring (``PUBLIC:SECRET``)."""
        from store.credentials import require_secret

        assert isinstance(cfg, LangfuseStoreConfig)
        secret = require_secret(cfg.name, purpose="Langfuse keys as public-key:secret-key")
        public, sep, private = secret.strip().partition(":")
        if not sep or not public or not private:
            raise ConnectorError(
                f"{cfg.name}: the keyring holds no public and secret key pair for this store; "
                f"run `agentdeck login {cfg.name}` and give them as PUBLIC:SECRET"
            )
        assert cfg.url is not None  # the config refuses a langfuse store without one
        return cls(
            cfg.name,
            cfg.url,
            public_key=public,
            secret_key=private,
            workflow_attribute=cfg.workflow_attribute,
            timeout=cfg.timeout,
            queue_id=cfg.queue,
        )

    def close(self) -> None:
        """Close the HTTP connections (they open again when used)."""
        self._api.close()

    def __repr__(self) -> str:
        return f"LangfuseConnector({self.name!r}, {self.endpoint!r})"

    # -- runs -----------------------------------------------------------------------------------

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """One page of root observations as run summaries (see the module doc for the cursor)."""
        start: str | None = None
        end: str | None = None
        lf: str | None = None
        if cursor:
            try:
                start, end, lf = decode_cursor(cursor)
            except ValueError:
                self._fail(
                    "GET",
                    "/api/public/v2/observations",
                    f"the saved cursor {clean_excerpt(cursor, limit=40)!r} is not this store's",
                    "reset this store's sync state",
                )
        if end is None:
            end = iso(self._now() - self.settle)
            lf = None
        if start is not None and start >= end:
            return RunPage(runs=[], cursor=encode_cursor(start, None, None), done=True)
        params: _Params = {
            "isRootObservation": "true",
            "toStartTime": end,
            "fields": LIST_FIELDS,
            "limit": max(1, min(limit, OBSERVATIONS_LIMIT)),
        }
        if start is not None:
            params["fromStartTime"] = start
        if key := self._metadata_key():
            params["expandMetadata"] = key
        if lf:
            params["cursor"] = lf
        page = self._page("/api/public/v2/observations", params)
        found: dict[str, RunSummary] = {}
        problems: list[str] = []
        for position, raw in enumerate(page.data):
            summary, problem = self._summary(raw, position)
            if summary is None:
                problems.append(problem)
                continue
            before = found.get(summary.trace_id)
            # Two logical roots in one trace (an app root below a physical one): the earliest.
            if before is None or summary.start_time < before.start_time:
                found[summary.trace_id] = summary
        next_lf = page.meta.cursor or None
        if next_lf is not None and next_lf == lf:
            self._fail(
                "GET",
                "/api/public/v2/observations",
                "answered the same cursor it was asked with",
                "sync again later; if it persists, report it to Langfuse",
            )
        done = next_lf is None
        saved = encode_cursor(end, None, None) if done else encode_cursor(start, end, next_lf)
        return RunPage(
            runs=list(found.values()),
            cursor=saved,
            done=done,
            skipped=len(problems),
            problems=problems,
        )

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """Every observation of each trace, as a run with its steps (unknown ids left out; a
        trace with an observation that cannot be read is left out whole, and said)."""
        from concurrent.futures import ThreadPoolExecutor

        runs: list[Run] = []
        problems: list[str] = []
        ids = list(dict.fromkeys(run_ids))

        # A few traces at a time (one client, its pool shared): the sample arrives in a
        # fraction of one-by-one round trips, and the server sees a bounded load.
        def observations(trace_id: str) -> list[Any]:
            return list(self._observations(trace_id))

        with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(ids) or 1)) as pool:
            fetched = list(pool.map(observations, ids))
        for trace_id, raws in zip(ids, fetched, strict=True):
            if not raws:
                continue
            run, problem = self._run(trace_id, raws)
            if run is None:
                problems.append(problem)
            else:
                runs.append(run)
        return Listed(runs, problems=problems, skipped=len(problems))

    def list_incidents(self) -> Listed[Incident]:
        """Langfuse keeps no incidents."""
        return Listed()

    def _observations(self, trace_id: str) -> Iterator[Any]:
        params: _Params = {"traceId": trace_id, "fields": FETCH_FIELDS, "limit": OBSERVATIONS_LIMIT}
        if key := self._metadata_key():
            params["expandMetadata"] = key
        yield from self._cursor_pages("/api/public/v2/observations", params)

    def _metadata_key(self) -> str | None:
        head, _, rest = self.workflow_attribute.partition(".")
        return rest.split(".")[0] if head == "metadata" and rest else None

    def _workflow(self, raw: dict[str, Any], obs: LangfuseObservation) -> str | None:
        head, _, rest = self.workflow_attribute.partition(".")
        here: Any = raw.get(head)
        if head == "metadata" and isinstance(here, str):
            here = _maybe_json(here)
        for step in rest.split(".") if rest else []:
            here = here.get(step) if isinstance(here, dict) else None
        if isinstance(here, str | int | float) and not isinstance(here, bool) and str(here):
            return str(here)
        return obs.traceName or None

    def _summary(self, raw: Any, position: int) -> tuple[RunSummary | None, str]:
        where = f"{self.name} GET {display_url(self.endpoint + '/api/public/v2/observations')}"
        label = f"observation at position {position}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            label = f"observation {self._api.clean(raw['id'], 40)}"
        try:
            obs = LangfuseObservation.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first["loc"]) or "the observation"
            return None, f"{where}: {label} left out ({at}: {first['msg']})"
        if not obs.traceId:
            return None, f"{where}: {label} left out (it names no trace)"
        assert isinstance(raw, dict)
        workflow = self._workflow(raw, obs)
        if workflow is None:
            return None, (
                f"{where}: {label} left out (no {self.workflow_attribute} and no trace name "
                "to name its workflow)"
            )
        usage = obs.usageDetails or {}
        return RunSummary(
            trace_id=obs.traceId,
            workflow=workflow,
            start_time=obs.startTime,
            end_time=obs.endTime,
            status="error" if obs.level == "ERROR" else "ok",
            tokens=Tokens(input=usage.get("input", 0), output=usage.get("output", 0)),
            cost_usd=obs.totalCost,
            latency_ms=_ms(obs.startTime, obs.endTime),
        ), ""

    def _run(self, trace_id: str, raws: list[Any]) -> tuple[Run | None, str]:
        where = f"{self.name} GET {display_url(self.endpoint + '/api/public/v2/observations')}"
        observations: list[tuple[dict[str, Any], LangfuseObservation]] = []
        for raw in raws:
            try:
                observations.append((raw, LangfuseObservation.model_validate(raw)))
            except ValidationError as exc:
                first = exc.errors()[0]
                at = ".".join(str(p) for p in first["loc"]) or "an observation"
                return None, (
                    f"{where}: trace {self._api.clean(trace_id, 40)} left out "
                    f"(an observation: {at}: {first['msg']})"
                )
        roots = [o for o in observations if o[1].isRootObservation or not o[1].parentObservationId]
        if not roots:
            return None, f"{where}: trace {self._api.clean(trace_id, 40)} left out (no root)"
        root_raw, root = min(
            roots, key=lambda o: (o[1].parentObservationId is not None, o[1].startTime)
        )
        summary, problem = self._summary(root_raw, 0)
        if summary is None:
            return None, problem
        steps: list[Step] = []
        tokens_in = tokens_out = 0
        costs = [o.totalCost for _, o in observations if o.totalCost is not None]
        for _, obs in sorted(observations, key=lambda o: o[1].startTime):
            usage = obs.usageDetails or {}
            tokens_in += usage.get("input", 0)
            tokens_out += usage.get("output", 0)
            if obs is root:
                continue
            llm = obs.type in LLM_TYPES
            steps.append(
                Step(
                    kind="llm" if llm else "tool",
                    name=obs.name or (obs.providedModelName if llm else None) or obs.type,
                    span_id=obs.id,
                    start_time=obs.startTime,
                    latency_ms=_ms(obs.startTime, obs.endTime),
                    arguments=_maybe_json(obs.input),
                    result=_maybe_json(obs.output),
                    error=StepError(type="ERROR", message=obs.statusMessage or "")
                    if obs.level == "ERROR"
                    else None,
                    tokens=Tokens(input=usage.get("input", 0), output=usage.get("output", 0))
                    if usage
                    else None,
                )
            )
        data = summary.model_dump()
        data.update(
            trace_id=trace_id,
            tokens=Tokens(input=tokens_in, output=tokens_out),
            cost_usd=sum(costs) if costs else None,
        )
        return Run(
            **data,
            input=_maybe_json(root.input),
            output=_maybe_json(root.output),
            steps=steps,
            tags=root.tags or [],
        ), ""

    # -- scores ---------------------------------------------------------------------------------

    def push_scores(self, scores: Sequence[Score]) -> None:
        """``POST /api/public/scores`` for each score, with its deterministic id (an upsert).

        With an annotation queue, a score on a queued trace carries ``queueId``, and the
        trace's item is marked COMPLETED once its scores are in (a retry after a crash finds it
        completed already, and the scores are upserts: nothing is done twice)."""
        if not scores:
            return
        configs = self._score_configs()
        pending = self._pending_items() if self.queue_id else {}
        for score in scores:
            self._call("POST", "/api/public/scores", body=self.score_body(score, configs))
        for trace_id in sorted({s.trace_id for s in scores} & set(pending)):
            self._call(
                "PATCH",
                f"/api/public/annotation-queues/{self.queue_id}/items/{pending[trace_id]}",
                body={"status": "COMPLETED"},
            )
            del pending[trace_id]

    def _pending_items(self) -> dict[str, str]:
        """Trace id -> item id of the queue's pending items, read once per connector."""
        if self._pending is None:
            self._pending = {}
            path = f"/api/public/annotation-queues/{self.queue_id}/items"
            for raw in self._numbered_pages(path, {"status": "PENDING"}):
                try:
                    item = QueueItem.model_validate(raw)
                except ValidationError:
                    continue  # said by sample_ids, which lists the same items
                if item.objectType == "TRACE":
                    self._pending[item.objectId] = item.id
            self._queued.update(self._pending)
        return self._pending

    def sample_ids(self) -> set[str] | None:
        """The runs to review when the store chooses them: the annotation queue's pending
        traces; None without a queue (the sampling plan decides)."""
        if not self.queue_id:
            return None
        return set(self._pending_items())

    def score_body(
        self, score: Score, configs: dict[str, LangfuseScoreConfig] | None = None
    ) -> dict[str, Any]:
        """The ``CreateScoreRequest`` for one score."""
        kind = data_type(score.value)
        value: Any = score.value
        if kind == "BOOLEAN":
            value = 1 if score.value else 0
        body: dict[str, Any] = {
            "id": score.id,
            "traceId": score.trace_id,
            "name": score.name,
            "value": value,
            "dataType": kind,
            "metadata": score.metadata.model_dump(mode="json", exclude_none=True),
        }
        if score.span_id:
            body["observationId"] = score.span_id
        if score.comment:
            body["comment"] = score.comment
        config = (configs or {}).get(score.name)
        if config is not None and _admits(config, score.value):
            body["configId"] = config.id
        if self.queue_id and score.trace_id in self._queued:
            body["queueId"] = self.queue_id
        return body

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """``DELETE /api/public/scores/{id}``; a 404 means it is already gone."""
        for score_id in score_ids:
            self._call("DELETE", f"/api/public/scores/{score_id}", missing_ok=True)

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """agentdeck's scores (their metadata names a reviewer and a rubric with its version),
        on these traces (None: on every trace of the project)."""
        base: _Params = {"fields": "details,subject", "source": "API", "limit": SCORES_LIMIT}
        batches: list[_Params]
        if trace_ids is None:
            batches = [base]
        else:
            ids = list(dict.fromkeys(trace_ids))
            batches = [
                {**base, "traceId": ",".join(ids[i : i + TRACE_IDS_PER_REQUEST])}
                for i in range(0, len(ids), TRACE_IDS_PER_REQUEST)
            ]
        found: dict[str, Score] = {}
        problems: list[str] = []
        for params in batches:
            for raw in self._cursor_pages("/api/public/v3/scores", params):
                score, problem = self._score(raw)
                if score is not None:
                    found[score.id] = score
                elif problem:
                    problems.append(problem)
        return Listed(found.values(), problems=problems, skipped=len(problems))

    def _score(self, raw: Any) -> tuple[Score | None, str]:
        where = f"{self.name} GET {display_url(self.endpoint + '/api/public/v3/scores')}"
        meta = raw.get("metadata") if isinstance(raw, dict) else None
        if not isinstance(meta, dict) or not {"reviewer", "rubric_id", "rubric_version"} <= set(
            meta
        ):
            return None, ""  # not agentdeck's: an evaluator's, or someone else's
        label = f"score {self._api.clean(str(raw.get('id')), 40)}"
        try:
            lf = LangfuseScore.model_validate(raw)
            if lf.subject is None or lf.subject.kind not in ("trace", "observation"):
                return None, f"{where}: {label} left out (it is not on a trace or observation)"
            value: int | float | str
            whole = isinstance(lf.value, float) and lf.value.is_integer()
            value = int(lf.value) if isinstance(lf.value, bool) or whole else lf.value
            if lf.subject.kind == "trace":
                trace_id, span_id = lf.subject.id, None
            else:
                if not lf.subject.traceId:
                    return None, f"{where}: {label} left out (its observation names no trace)"
                trace_id, span_id = lf.subject.traceId, lf.subject.id
            return Score(
                id=lf.id,
                trace_id=trace_id,
                span_id=span_id,
                name=lf.name,
                value=value,
                comment=lf.comment,
                created_at=lf.updatedAt or lf.createdAt,
                metadata=ScoreMetadata.model_validate(meta),
            ), ""
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first["loc"]) or "the score"
            return None, f"{where}: {label} left out ({at}: {first['msg']})"

    # -- score configs --------------------------------------------------------------------------

    def _score_configs(self) -> dict[str, LangfuseScoreConfig]:
        if self._configs is None:
            configs: dict[str, LangfuseScoreConfig] = {}
            for raw in self._numbered_pages("/api/public/score-configs", {}):
                try:
                    config = LangfuseScoreConfig.model_validate(raw)
                except ValidationError:
                    continue  # a config agentdeck cannot read is one it does not use
                if config.name not in configs or configs[config.name].isArchived:
                    configs[config.name] = config
            self._configs = configs
        return self._configs

    def check_score_configs(self, rubric: RubricLike) -> list[str]:
        """What is missing or different in Langfuse's score configs for this rubric, one line
        per criterion (empty: every criterion has a matching config)."""
        self._configs = None
        configs = self._score_configs()
        out: list[str] = []
        for criterion in rubric.criteria:
            want = config_for(criterion)
            name = criterion.id
            if len(name) > CONFIG_NAME_MAX:
                out.append(
                    f"{name}: longer than Langfuse's {CONFIG_NAME_MAX} characters for a score "
                    "config name; its scores go without a config"
                )
                continue
            have = configs.get(name)
            if have is None:
                out.append(f"{name}: no score config of that name (create it)")
                continue
            if have.isArchived:
                out.append(f"{name}: the score config is archived")
                continue
            if have.dataType != want["dataType"]:
                out.append(
                    f"{name}: the score config is {have.dataType}, the rubric needs "
                    f"{want['dataType']}"
                )
            elif want["dataType"] == "CATEGORICAL":
                labels = [c.label for c in have.categories or []]
                needed = [c["label"] for c in want["categories"]]
                if missing := [lb for lb in needed if lb not in labels]:
                    out.append(
                        f"{name}: the score config lacks the categories {', '.join(missing)} "
                        f"(it has {', '.join(labels) or 'none'})"
                    )
            else:
                low = have.minValue if have.minValue is not None else float("-inf")
                high = have.maxValue if have.maxValue is not None else float("inf")
                if low > want["minValue"] or high < want["maxValue"]:
                    out.append(
                        f"{name}: the score config admits {low:g} to {high:g}, the rubric "
                        f"needs {want['minValue']} to {want['maxValue']}"
                    )
        return out

    def create_score_configs(self, rubric: RubricLike) -> list[str]:
        """Create the score configs the rubric's criteria lack; returns their names. A config
        that exists but differs is left as it is (see :meth:`check_score_configs`)."""
        created: list[str] = []
        self._configs = None
        configs = self._score_configs()
        for criterion in rubric.criteria:
            if criterion.id in configs or len(criterion.id) > CONFIG_NAME_MAX:
                continue
            self._call(
                # A config is not keyed: a retry after a lost reply could create it twice.
                "POST",
                "/api/public/score-configs",
                body=config_for(criterion),
                retry=False,
            )
            created.append(criterion.id)
        self._configs = None
        return created

    # -- annotation queues ----------------------------------------------------------------------

    def queue_items(self, queue_id: str, status: str = "PENDING") -> Listed[QueueItem]:
        """The items of an annotation queue (pending ones by default). The traces among them
        are remembered, so scores pushed on them carry ``queueId`` when this connector was
        built with that queue."""
        path = f"/api/public/annotation-queues/{queue_id}/items"
        items: list[QueueItem] = []
        problems: list[str] = []
        for raw in self._numbered_pages(path, {"status": status}):
            try:
                items.append(QueueItem.model_validate(raw))
            except ValidationError as exc:
                first = exc.errors()[0]
                at = ".".join(str(p) for p in first["loc"]) or "the item"
                problems.append(
                    f"{self.name} GET {display_url(self.endpoint + path)}: "
                    f"an item left out ({at}: {first['msg']})"
                )
        if queue_id == self.queue_id:
            self._queued.update(i.objectId for i in items if i.objectType == "TRACE")
        return Listed(items, problems=problems, skipped=len(problems))

    def complete_queue_item(self, queue_id: str, item_id: str) -> None:
        """Mark an annotation queue item COMPLETED."""
        self._call(
            "PATCH",
            f"/api/public/annotation-queues/{queue_id}/items/{item_id}",
            body={"status": "COMPLETED"},
        )

    # -- HTTP -----------------------------------------------------------------------------------

    def _cursor_pages(self, path: str, params: _Params) -> Iterator[Any]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = {**params, "cursor": cursor} if cursor else params
            page = self._page(path, query)
            yield from page.data
            cursor = page.meta.cursor or None
            if cursor is None:
                return
            if cursor in seen:
                self._fail(
                    "GET",
                    path,
                    "answered a cursor it had already given",
                    "sync again later; if it persists, report it to Langfuse",
                )
            seen.add(cursor)

    def _numbered_pages(self, path: str, params: _Params) -> Iterator[Any]:
        number = 1
        while True:
            data = self._call("GET", path, params={**params, "page": number, "limit": 100})
            page = self._model(_NumberedPage, data, "GET", path)
            yield from page.data
            if number >= page.meta.totalPages or not page.data:
                return
            number += 1

    def _page(self, path: str, params: _Params) -> _Page:
        return self._model(_Page, self._call("GET", path, params=params), "GET", path)

    def _model(self, model: type[_Reply], data: Any, method: str, path: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first["loc"]) or "the reply"
            self._fail(
                method,
                path,
                f"the reply is not what Langfuse sends ({at}: {first['msg']})",
                "check the store's url points at Langfuse (its /api/public answers)",
            )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: _Params | None = None,
        body: Any = None,
        missing_ok: bool = False,
        retry: bool = True,
    ) -> Any:
        """One call through the shared client (retried on timeouts, connection errors, 5xx and
        429); its JSON, None for an empty body or (``missing_ok``) a 404."""
        return self._api.json(
            method,
            path,
            params=params,
            json=body,
            allow=(404,) if missing_ok else (),
            retry=retry,
            empty=True,
        )

    def _says(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            words = [data.get("message"), data.get("error")]
            return ": ".join(w for w in words if isinstance(w, str) and w)
        return "an HTML page" if response.text.lstrip()[:1] == "<" else response.text

    def _status(self, response: httpx.Response) -> str:
        said = self._api.clean(self._says(response))
        return f"{response.status_code}: {said}" if said else str(response.status_code)

    def _refuse(self, method: str, path: str, response: httpx.Response) -> NoReturn:
        code = response.status_code
        status = self._status(response)
        if code == 401:
            self._fail(
                method,
                path,
                f"the keys were refused ({status})",
                f"run `agentdeck login {self.name}`",
            )
        if code == 403:
            self._fail(
                method,
                path,
                f"the keys may not do this ({status})",
                "use a project API key of the project that holds these traces",
            )
        if 300 <= code < 400:
            target = self._api.clean(display_url(response.headers.get("location", "")), 60)
            self._fail(
                method,
                path,
                f"redirected ({code}) to {target or 'somewhere else'}",
                "the url must be Langfuse's own (https, no trailing path)",
            )
        if code == 404:
            self._fail(
                method, path, f"not found ({status})", "check the store's url in agentdeck.toml"
            )
        self._fail(method, path, f"refused the request ({status})", "check the store's settings")

    def _fail(self, method: str, path: str, what: str, todo: str) -> NoReturn:
        self._api.fail(method, path, what, todo)


PLUGIN = LangfuseConnector

"""LangSmith as a store: runs are root runs of a tracing project, steps their child runs, grades
feedback.

Everything goes through LangSmith's REST API (``/api/v1``, the API key in the ``x-api-key``
header). The endpoints used, as published in LangSmith's OpenAPI document
(https://api.smith.langchain.com/openapi.json; ``tests/fixtures/langsmith/README.md`` names the
``langsmith`` package models the tests check them against):

- the project: ``GET /api/v1/sessions?name=`` (a tracing project is a "session" there);
- runs: ``POST /api/v1/runs/query`` with the project's ``session``, ``is_root``, ``start_time``
  and a ``filter`` bounding the window, ascending order, and cursor paging (``cursors.next``);
- a run's steps: the same endpoint with ``trace`` (every run of the trace);
- grades: ``POST /api/v1/feedback`` with agentdeck's deterministic ``id``; on a conflict (the id
  exists) ``PATCH /api/v1/feedback/{id}``; ``DELETE /api/v1/feedback/{id}``; and
  ``GET /api/v1/feedback`` (offset paging, ``limit`` at most 100) to read them back;
- annotation queues: ``GET /api/v1/annotation-queues/{queue_id}/runs`` and
  ``POST /api/v1/annotation-queues/status/{queue_run_id}`` to mark an item completed.

**The saved cursor.** Root runs are listed in sweeps over a fixed start-time window
``[from, to)``, as for Langfuse: ``to`` is "now minus ``settle``" when a sweep begins, so a run
still being ingested is left for the next sync. The opaque cursor saved after each page is
``ls1.`` + base64url of ``{"from", "to", "c"}`` (``c``: LangSmith's own cursor); the last page of a
sweep saves ``{"from": <to>, "to": null, "c": null}``.

**A run** is a trace: its root run gives the summary (``workflow`` from ``workflow_attribute``
looked up in the run's ``extra``, so ``metadata.workflow`` is the key ``workflow`` of the run's
metadata; else the run's name), ``status`` ``error`` when the run failed. Its steps are the
trace's other runs in ``dotted_order`` (the order they started, parents first), each with its
``run_type`` (llm, tool, chain, retriever, ...), inputs, outputs, error and tokens.

**Feedback** carries the reviewer, rubric id and version (the rest of :class:`ScoreMetadata`
too) in ``feedback_source.metadata`` (type ``api``): ``key`` is the criterion, a number goes in
``score``, a word in ``value``, the reviewer's note in ``comment``. Only feedback whose metadata
names a reviewer, a rubric and its version is read back as agentdeck's. LangSmith's update
(``FeedbackUpdateSchema``) cannot change ``feedback_source``: when an edit also changes that
metadata (a new rubric version, time spent, escalation), the feedback is replaced under the same
id (deleted, then created again), so the store never holds a grade with stale metadata.

**Adjudication.** The published document has no final (adjudicated) value for a queue item or a
rubric key: an adjudicated grade is pushed as feedback like any other, marked final in its
metadata (``kind: adjudicated``) under the pseudo-reviewer, as for every store.

**Errors** are one line naming the store, the method and the endpoint, never the key. Requests go
through the shared client (:mod:`store.jsonapi`): timeouts, connection errors and 5xx are retried
with exponential backoff and jitter; a 429 waits what ``Retry-After`` asks (seconds or an HTTP
date, up to ``max_wait``). Every write is keyed (feedback on its deterministic id, a queue item's
status set), so every request may be retried. A 401 says to run ``agentdeck login NAME``.
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
    Listed,
    StoreConfigBase,
    StoreConnector,
    StoreUnreachable,
)
from store.identity import FIRST_WRONG_STEP
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

DEFAULT_URL = "https://api.smith.langchain.com"
CURSOR_PREFIX = "ls1."
#: LangSmith's largest page of runs (``limit``: "maximum": 100) and of feedback.
RUNS_LIMIT = 100
FEEDBACK_LIMIT = 100
#: Run ids per ``GET /api/v1/feedback`` (repeated ``run`` parameters in the query string).
RUN_IDS_PER_REQUEST = 50
#: Traces fetched at once when hydrating the sample.
FETCH_CONCURRENCY = 4
#: The columns read when listing roots, and when hydrating a trace (``RunSelect``).
LIST_SELECT = (
    "id",
    "name",
    "run_type",
    "start_time",
    "end_time",
    "status",
    "error",
    "extra",
    "trace_id",
    "dotted_order",
    "parent_run_id",
    "session_id",
    "app_path",
    "prompt_tokens",
    "completion_tokens",
    "total_cost",
    "tags",
)
FETCH_SELECT = (*LIST_SELECT, "inputs", "outputs")

_Params = dict[str, str | int | bool | list[str]]

#: What to do, per kind of failure (the shared client words the rest).
_TODO = {
    "timeout": "check the network, or raise this store's timeout in agentdeck.toml",
    "connect": "check the store's url in agentdeck.toml and the network",
    "url": "fix the store's url in agentdeck.toml",
    "server": "sync again later",
    "html": "the url must be LangSmith's API (https://api.smith.langchain.com or your own), "
    "not a proxy's login page or the web app",
    "json": "check the store's url in agentdeck.toml",
    "cut": "sync again; if it persists, a proxy is cutting replies short",
}


class LangsmithStoreConfig(StoreConfigBase):
    """``kind = "langsmith"``: ``project``, the tracing project's name; ``url`` of the API
    (LangSmith's own by default); ``queue``, an annotation queue whose runs are the sample for
    this store (in place of the sampling plan); grading a queued run completes its item. The
    API key is never here: see the keyring."""

    kind: Literal["langsmith"]
    url: str | None = DEFAULT_URL
    queue: str | None = Field(default=None, description="a LangSmith annotation queue id")

    @model_validator(mode="after")
    def _needs(self) -> LangsmithStoreConfig:
        self.required("project", "the LangSmith tracing project's name")
        return self


# -- replies, parsed at the edge ------------------------------------------------------------------


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class _RunsPage(_Reply):
    """``ListRunsResponse``: each run is checked on its own."""

    runs: list[Any]
    cursors: dict[str, str | None]


class LangsmithRun(_Reply):
    """The fields of LangSmith's ``RunSchema`` that agentdeck reads (required ones as published)."""

    id: str = Field(min_length=1)
    name: str
    run_type: str
    trace_id: str = Field(min_length=1)
    dotted_order: str
    status: str
    session_id: str
    start_time: Instant
    end_time: Instant | None = None
    parent_run_id: str | None = None
    error: str | None = None
    extra: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_cost: str | None = None
    tags: list[str] | None = None


class _Session(_Reply):
    id: str
    name: str


class _Source(_Reply):
    type: str | None = None
    metadata: dict[str, Any] | None = None


class LangsmithFeedback(_Reply):
    """The fields of LangSmith's ``FeedbackSchema`` that agentdeck reads."""

    id: str = Field(min_length=1)
    key: str
    score: float | bool | None = None
    value: Any = None
    comment: str | None = None
    run_id: str | None = None
    trace_id: str | None = None
    created_at: Instant | None = None
    modified_at: Instant | None = None
    feedback_source: _Source | None = None


class QueueRun(_Reply):
    """A ``RunSchemaWithAnnotationQueueInfo``: a run waiting in an annotation queue."""

    id: str
    trace_id: str
    queue_run_id: str


# -- the cursor -----------------------------------------------------------------------------------


def encode_cursor(start: str | None, end: str | None, ls: str | None) -> str:
    raw = json.dumps({"from": start, "to": end, "c": ls}, separators=(",", ":"))
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str | None, str | None, str | None]:
    """``(from, to, c)`` of a saved cursor; ValueError if it is not one of ours."""
    if not cursor.startswith(CURSOR_PREFIX):
        raise ValueError("not a LangSmith cursor")
    body = cursor[len(CURSOR_PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("not a LangSmith cursor") from None
    if not isinstance(data, dict):
        raise ValueError("not a LangSmith cursor")
    parts = (data.get("from"), data.get("to"), data.get("c"))
    if not all(p is None or isinstance(p, str) for p in parts):
        raise ValueError("not a LangSmith cursor")
    return parts


def iso(moment: datetime) -> str:
    """A timestamp as LangSmith takes it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def _cost(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _first(exc: ValidationError) -> str:
    first = exc.errors()[0]
    at = ".".join(str(p) for p in first["loc"]) or "the reply"
    return f"{at}: {first['msg']}"


def _query(params: _Params) -> list[tuple[str, str | int | bool]]:
    """Query pairs, a list value repeating its key (``run=a&run=b``)."""
    return [
        (key, item)
        for key, value in params.items()
        for item in (value if isinstance(value, list) else [value])
    ]


class LangsmithConnector(StoreConnector):
    """Runs, steps and feedback of one LangSmith tracing project."""

    kind = "langsmith"
    config_model = LangsmithStoreConfig
    login: ClassVar[Login | None] = Login(prompt="LangSmith API key")
    #: With a queue configured, :meth:`sample_ids` chooses the sample; without one it answers
    #: None and the sampling plan decides.
    server_sample = True
    #: The published API keeps no adjudicated value: a final grade is feedback marked final.
    adjudication = False

    def __init__(
        self,
        name: str,
        url: str,
        *,
        api_key: str,
        project: str,
        workflow_attribute: str = "metadata.workflow",
        timeout: float = 30.0,
        queue_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        settle: timedelta = timedelta(minutes=5),
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        self.name = name
        self.endpoint = url.rstrip("/")
        self.project = project
        self.workflow_attribute = workflow_attribute
        self.timeout = timeout
        self.queue_id = queue_id
        self.settle = settle
        self._now = now or (lambda: datetime.now(UTC))
        self._api = JsonApi(
            name,
            self.endpoint,
            headers={"x-api-key": api_key},
            secrets=[api_key],
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
        self._session: str | None = None
        #: Trace id -> queue item id of the queue's runs (read once per connector).
        self._queued: dict[str, str] | None = None

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> LangsmithConnector:
        """Build from ``agentdeck.toml``; the API key comes from the keyring."""
        from store.credentials import require_secret

        assert isinstance(cfg, LangsmithStoreConfig)
        assert cfg.project is not None  # the config refuses a langsmith store without one
        key = require_secret(cfg.name, purpose="the LangSmith API key").strip()
        return cls(
            cfg.name,
            cfg.url or DEFAULT_URL,
            api_key=key,
            project=cfg.project,
            workflow_attribute=cfg.workflow_attribute,
            timeout=cfg.timeout,
            queue_id=cfg.queue,
        )

    def close(self) -> None:
        """Close the HTTP connections (they open again when used)."""
        self._api.close()

    def __repr__(self) -> str:
        return f"LangsmithConnector({self.name!r}, {self.endpoint!r})"

    # -- the project ----------------------------------------------------------------------------

    def _project_id(self) -> str | None:
        """The tracing project's id (a "session" in the API); None when there is none of that
        name (LangSmith makes a project with its first trace, so a misspelt one looks the same)."""
        if self._session is None:
            path = "/api/v1/sessions"
            data = self._json("GET", path, params={"name": self.project, "limit": 100})
            if not isinstance(data, list):
                self._fail("GET", path, "the reply is not a list of projects", self._todo_url)
            for raw in data:
                try:
                    session = _Session.model_validate(raw)
                except ValidationError as exc:
                    self._fail(
                        "GET",
                        path,
                        f"a project is not what LangSmith sends ({_first(exc)})",
                        self._todo_url,
                    )
                if session.name == self.project:
                    self._session = session.id
                    break
        return self._session

    def _no_project(self) -> str:
        return (
            f"{self.name}: LangSmith at {display_url(self.endpoint)} has no project "
            f"{self.project!r}, so no runs were listed; check `project` in agentdeck.toml "
            "(a new project appears with its first trace)"
        )

    # -- runs -----------------------------------------------------------------------------------

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """One page of root runs as run summaries (see the module doc for the cursor)."""
        path = "/api/v1/runs/query"
        start: str | None = None
        end: str | None = None
        ls: str | None = None
        if cursor:
            try:
                start, end, ls = decode_cursor(cursor)
            except ValueError:
                self._fail(
                    "POST",
                    path,
                    f"the saved cursor {clean_excerpt(cursor, limit=40)!r} is not this store's",
                    "reset this store's sync state",
                )
        session = self._project_id()
        if session is None:
            return RunPage(runs=[], cursor=cursor, done=True, problems=[self._no_project()])
        if end is None:
            end = iso(self._now() - self.settle)
            ls = None
        if start is not None and start >= end:
            return RunPage(runs=[], cursor=encode_cursor(start, None, None), done=True)
        body: dict[str, Any] = {
            "session": [session],
            "is_root": True,
            "filter": f'lt(start_time, "{end}")',
            "order": "asc",
            "limit": max(1, min(limit, RUNS_LIMIT)),
            "select": list(LIST_SELECT),
        }
        if start is not None:
            body["start_time"] = start
        if ls:
            body["cursor"] = ls
        page = self._runs_page(body)
        runs: list[RunSummary] = []
        for position, raw in enumerate(page.runs):
            run = self._parse_run(raw, position, path)
            if run.parent_run_id is not None:
                continue  # not a root, whatever the filter said
            runs.append(self._summary(run))
        next_ls = page.cursors.get("next") or None
        if next_ls is not None and next_ls == ls:
            self._fail(
                "POST",
                path,
                "answered the same cursor it was asked with",
                "sync again later; if it persists, report it to LangSmith",
            )
        done = next_ls is None
        saved = encode_cursor(end, None, None) if done else encode_cursor(start, end, next_ls)
        return RunPage(runs=runs, cursor=saved, done=done)

    def _runs_page(self, body: dict[str, Any]) -> _RunsPage:
        path = "/api/v1/runs/query"
        data = self._json("POST", path, json=body)
        try:
            return _RunsPage.model_validate(data)
        except ValidationError as exc:
            self._fail(
                "POST",
                path,
                f"the reply is not what LangSmith sends ({_first(exc)})",
                self._todo_url,
            )

    def _parse_run(self, raw: Any, position: int, path: str) -> LangsmithRun:
        """A run of a page; a run that breaks the published schema refuses the whole page
        (nothing of it is stored, the cursor stays where it was)."""
        try:
            return LangsmithRun.model_validate(raw)
        except ValidationError as exc:
            label = f"the run at position {position}"
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                label = f"run {self._clean(raw['id'], 40)}"
            self._fail(
                "POST",
                path,
                f"{label} is not what LangSmith sends ({_first(exc)})",
                "sync again later; if it persists, report it to LangSmith",
            )

    def _workflow(self, run: LangsmithRun) -> str:
        here: Any = run.extra or {}
        for step in self.workflow_attribute.split("."):
            here = here.get(step) if isinstance(here, dict) else None
        if isinstance(here, str | int | float) and not isinstance(here, bool) and str(here):
            return str(here)
        return run.name or "unknown"

    def _summary(self, run: LangsmithRun) -> RunSummary:
        return RunSummary(
            trace_id=run.trace_id,
            workflow=self._workflow(run),
            start_time=run.start_time,
            end_time=run.end_time,
            status="error" if run.status == "error" or run.error else "ok",
            tokens=Tokens(input=run.prompt_tokens, output=run.completion_tokens),
            cost_usd=_cost(run.total_cost),
            latency_ms=_ms(run.start_time, run.end_time),
        )

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """Every run of each trace, as a run with its steps (unknown ids left out; a trace with a
        run that cannot be read is left out whole, and said)."""
        from concurrent.futures import ThreadPoolExecutor

        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return Listed()
        session = self._project_id()
        if session is None:
            return Listed(problems=[self._no_project()])

        def trace_runs(trace_id: str) -> list[Any]:
            return list(self._trace_runs(session, trace_id))

        with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(ids))) as pool:
            fetched = list(pool.map(trace_runs, ids))
        runs: list[Run] = []
        problems: list[str] = []
        for trace_id, raws in zip(ids, fetched, strict=True):
            if not raws:
                continue
            run, problem = self._run(trace_id, raws)
            if run is None:
                problems.append(problem)
            else:
                runs.append(run)
        return Listed(runs, problems=problems, skipped=len(problems))

    def _trace_runs(self, session: str, trace_id: str) -> Iterator[Any]:
        body: dict[str, Any] = {
            "session": [session],
            "trace": trace_id,
            "order": "asc",
            "limit": RUNS_LIMIT,
            "select": list(FETCH_SELECT),
        }
        seen: set[str] = set()
        while True:
            page = self._runs_page(body)
            yield from page.runs
            nxt = page.cursors.get("next") or None
            if nxt is None:
                return
            if nxt in seen:
                self._fail(
                    "POST",
                    "/api/v1/runs/query",
                    "answered a cursor it had already given",
                    "sync again later; if it persists, report it to LangSmith",
                )
            seen.add(nxt)
            body = {**body, "cursor": nxt}

    def _run(self, trace_id: str, raws: list[Any]) -> tuple[Run | None, str]:
        where = f"{self.name} POST {display_url(self.endpoint + '/api/v1/runs/query')}"
        parsed: list[LangsmithRun] = []
        for raw in raws:
            try:
                parsed.append(LangsmithRun.model_validate(raw))
            except ValidationError as exc:
                return None, (
                    f"{where}: trace {self._clean(trace_id, 40)} left out (a run: {_first(exc)})"
                )
        roots = [r for r in parsed if r.parent_run_id is None]
        if not roots:
            return None, f"{where}: trace {self._clean(trace_id, 40)} left out (no root run)"
        root = min(roots, key=lambda r: (r.id != trace_id, r.start_time))
        steps = [
            Step(
                kind=r.run_type,
                name=r.name,
                span_id=r.id,
                start_time=r.start_time,
                latency_ms=_ms(r.start_time, r.end_time),
                arguments=r.inputs,
                result=r.outputs,
                error=StepError(type=r.status, message=r.error) if r.error else None,
                tokens=Tokens(input=r.prompt_tokens, output=r.completion_tokens)
                if r.prompt_tokens or r.completion_tokens
                else None,
            )
            for r in sorted(parsed, key=lambda r: r.dotted_order)
            if r is not root
        ]
        summary = self._summary(root)
        return Run(
            **summary.model_dump(),
            input=root.inputs,
            output=root.outputs,
            steps=steps,
            tags=root.tags or [],
        ), ""

    def list_incidents(self) -> Listed[Incident]:
        """LangSmith keeps no incidents."""
        return Listed()

    # -- annotation queues ----------------------------------------------------------------------

    def sample_ids(self) -> set[str] | None:
        """The runs to review when the store chooses them: the traces in the annotation queue
        (not archived); None without a queue (the sampling plan decides)."""
        if not self.queue_id:
            return None
        return set(self._queue_items())

    def _queue_items(self) -> dict[str, str]:
        if self._queued is None:
            path = f"/api/v1/annotation-queues/{self.queue_id}/runs"
            found: dict[str, str] = {}
            offset = 0
            while True:
                params: _Params = {"archived": False, "limit": FEEDBACK_LIMIT, "offset": offset}
                data = self._json("GET", path, params=params)
                if not isinstance(data, list):
                    self._fail("GET", path, "the reply is not a list of runs", self._todo_url)
                for raw in data:
                    try:
                        item = QueueRun.model_validate(raw)
                    except ValidationError as exc:
                        self._fail(
                            "GET",
                            path,
                            f"a queued run is not what LangSmith sends ({_first(exc)})",
                            self._todo_url,
                        )
                    found.setdefault(item.trace_id, item.queue_run_id)
                if len(data) < FEEDBACK_LIMIT:
                    break
                offset += len(data)
            self._queued = found
        return self._queued

    # -- feedback -------------------------------------------------------------------------------

    def feedback_body(self, score: Score, session: str) -> dict[str, Any]:
        """The ``FeedbackCreateSchema`` for one score."""
        body: dict[str, Any] = {
            "id": score.id,
            "key": score.name,
            "run_id": score.span_id or score.trace_id,
            "trace_id": score.trace_id,
            "session_id": session,
            "comment": score.comment,
            "feedback_source": {"type": "api", "metadata": self._metadata(score)},
            **self._value(score),
        }
        return body

    @staticmethod
    def _value(score: Score) -> dict[str, Any]:
        if isinstance(score.value, str):
            return {"score": None, "value": score.value}
        return {"score": score.value, "value": None}

    @staticmethod
    def _metadata(score: Score) -> dict[str, Any]:
        return score.metadata.model_dump(mode="json", exclude_none=True)

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Create each score as feedback with its deterministic id; one that exists already is
        updated in place (``PATCH``), or replaced under the same id when its reviewer metadata
        changed (which an update cannot carry). With a queue, a queued trace's item is marked
        completed once its scores are in."""
        if not scores:
            return
        session = self._project_id()
        if session is None:
            self._fail(
                "GET",
                "/api/v1/sessions",
                f"no project {self.project!r} to put feedback in",
                "check `project` in agentdeck.toml",
            )
        for score in scores:
            self._put(score, session)
        if self.queue_id:
            queued = self._queue_items()
            for trace_id in sorted({s.trace_id for s in scores} & set(queued)):
                self._json(
                    "POST",
                    f"/api/v1/annotation-queues/status/{queued[trace_id]}",
                    json={"status": "completed"},
                )

    def _put(self, score: Score, session: str) -> None:
        body = self.feedback_body(score, session)
        created = self._api.request("POST", "/api/v1/feedback", json=body, allow=(409,))
        if created.status_code != 409:
            return
        path = f"/api/v1/feedback/{score.id}"
        update = {"comment": score.comment, **self._value(score)}
        stored = self._json("PATCH", path, json=update)
        try:
            feedback = LangsmithFeedback.model_validate(stored)
        except ValidationError as exc:
            self._fail(
                "PATCH",
                path,
                f"the reply is not what LangSmith sends ({_first(exc)})",
                self._todo_url,
            )
        source = (feedback.feedback_source.metadata if feedback.feedback_source else None) or {}
        ours = body["feedback_source"]["metadata"]
        if any(source.get(k) != ours.get(k) for k in ScoreMetadata.model_fields):
            # FeedbackUpdateSchema has no feedback_source: the same id, written again.
            self._api.request("DELETE", path, allow=(404,))
            self._api.request("POST", "/api/v1/feedback", json=body)

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """``DELETE /api/v1/feedback/{id}``; a 404 means it is already gone."""
        for score_id in score_ids:
            self._api.request("DELETE", f"/api/v1/feedback/{score_id}", allow=(404,))

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """agentdeck's feedback (its metadata names a reviewer and a rubric with its version)
        on these traces (None: on every trace of the project): the feedback on the traces'
        root runs, and the first-wrong-step marks of the project (they sit on child runs)."""
        session = self._project_id()
        if session is None:
            return Listed()
        base: _Params = {"source": ["api"]}
        queries: list[_Params]
        wanted: set[str] | None = None
        if trace_ids is None:
            queries = [{**base, "session": session}]
        else:
            ids = list(dict.fromkeys(trace_ids))
            wanted = set(ids)
            queries = [
                {**base, "run": ids[i : i + RUN_IDS_PER_REQUEST]}
                for i in range(0, len(ids), RUN_IDS_PER_REQUEST)
            ]
            if ids:
                queries.append({**base, "session": session, "key": [FIRST_WRONG_STEP]})
        found: dict[str, Score] = {}
        problems: list[str] = []
        for params in queries:
            for raw in self._feedback_pages(params):
                score, problem = self._score(raw)
                if score is not None and (wanted is None or score.trace_id in wanted):
                    found[score.id] = score
                elif problem:
                    problems.append(problem)
        return Listed(found.values(), problems=problems, skipped=len(problems))

    def _feedback_pages(self, params: _Params) -> Iterator[Any]:
        path = "/api/v1/feedback"
        offset = 0
        while True:
            data = self._json(
                "GET", path, params={**params, "limit": FEEDBACK_LIMIT, "offset": offset}
            )
            if not isinstance(data, list):
                self._fail("GET", path, "the reply is not a list of feedback", self._todo_url)
            yield from data
            if len(data) < FEEDBACK_LIMIT:
                return
            offset += len(data)

    def _score(self, raw: Any) -> tuple[Score | None, str]:
        where = f"{self.name} GET {display_url(self.endpoint + '/api/v1/feedback')}"
        source = raw.get("feedback_source") if isinstance(raw, dict) else None
        meta = source.get("metadata") if isinstance(source, dict) else None
        if not isinstance(meta, dict) or not {"reviewer", "rubric_id", "rubric_version"} <= set(
            meta
        ):
            return None, ""  # not agentdeck's: an evaluator's, a user's thumbs, ...
        label = f"feedback {self._clean(str(raw.get('id')), 40)}"
        try:
            fb = LangsmithFeedback.model_validate(raw)
            trace_id = fb.trace_id or fb.run_id
            if not trace_id:
                return None, f"{where}: {label} left out (it is on no run)"
            value: int | float | str
            if isinstance(fb.value, str):
                value = fb.value
            elif isinstance(fb.score, int | float) and not isinstance(fb.score, bool):
                whole = float(fb.score).is_integer()
                value = int(fb.score) if whole else float(fb.score)
            else:
                return None, f"{where}: {label} left out (no score or word value)"
            return Score(
                id=fb.id,
                trace_id=trace_id,
                span_id=fb.run_id if fb.run_id and fb.run_id != trace_id else None,
                name=fb.key,
                value=value,
                comment=fb.comment,
                created_at=fb.modified_at or fb.created_at,
                metadata=ScoreMetadata.model_validate(meta),
            ), ""
        except ValidationError as exc:
            return None, f"{where}: {label} left out ({_first(exc)})"

    # -- HTTP -----------------------------------------------------------------------------------

    _todo_url = "check the store's url in agentdeck.toml points at LangSmith's API"

    def _json(
        self, method: str, path: str, *, params: _Params | None = None, json: Any = None
    ) -> Any:
        """One call through the shared client; its JSON, None for an empty body."""
        query = _query(params) if params else None
        return self._api.json(method, path, params=query, json=json, empty=True)

    def _says(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            detail = data.get("detail")
            if isinstance(detail, list) and detail and isinstance(detail[0], dict):
                return str(detail[0].get("msg", ""))
            return detail if isinstance(detail, str) else ""
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
                f"the API key was refused ({status})",
                f"run `agentdeck login {self.name}`",
            )
        if code == 403:
            self._fail(
                method,
                path,
                f"the API key may not do this ({status})",
                "use a key of the workspace that holds this project",
            )
        if 300 <= code < 400:
            target = self._api.clean(display_url(response.headers.get("location", "")), 60)
            self._fail(
                method,
                path,
                f"redirected ({code}) to {target or 'somewhere else'}",
                "the url must be LangSmith's API itself (https, no trailing path)",
            )
        if code == 404:
            self._fail(method, path, f"not found ({status})", self._todo_url)
        self._fail(method, path, f"refused the request ({status})", "check the store's settings")

    def _clean(self, text: str, limit: int) -> str:
        return self._api.clean(text, limit)

    def _fail(self, method: str, path: str, what: str, todo: str) -> NoReturn:
        self._api.fail(method, path, what, todo)


PLUGIN = LangsmithConnector

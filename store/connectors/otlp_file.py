"""The OTLP-file connector: runs read from an OpenTelemetry Collector ``file`` exporter's output.

The file holds one ``ExportTraceServiceRequest`` in the OTLP/JSON encoding per line
(``resourceSpans[].scopeSpans[].spans[]``, hex ``traceId``/``spanId``, times in
``startTimeUnixNano``, attributes as ``{key, value: {stringValue|intValue|...}}``). A run is a
trace; its root span (no ``parentSpanId``) gives the run's times, status, input and output, and
every other span is a step. Attributes are read in whichever dialect the instrumentation speaks
(OpenInference, the OpenTelemetry GenAI conventions in their current and earlier forms with
their message events, OpenLLMetry, agent frameworks' own names): see :mod:`store.span_dialects`.
When the root holds no input or output, the run's are the first model call's input and the last
one's output.

**Workflow**: ``workflow_attribute`` is dotted. ``metadata.workflow`` is the attribute of that
exact name (Phoenix's flattened form), else the key ``workflow`` inside the ``metadata``
attribute (a JSON string or a key-value list); looked up on the root span, then the resource,
then any other span of the trace.

**Tokens and cost** come from any span that records them (``llm.token_count.*``,
``gen_ai.usage.*``, ``llm.cost.total``, ``gen_ai.usage.cost``...), whatever its operation, summed
over the innermost such spans (an agent span summing its calls is not counted again). The root
span's own cost is the run's when it has one; the root's own tokens when no other span has any.

**The cursor** is ``otlp1:OFFSET:LINE:FLOOR:FLOOR_LINE:HEAD``. OFFSET/LINE: the first byte (and
line count) not read yet. HEAD fingerprints the file's first bytes: a file that is shorter than
OFFSET or starts differently was rotated or rewritten, and is read again from the start (runs
listed again are upserted on their trace id, never duplicated). A trace is listed once its root
span has been read; spans read before the root wait with their trace. A span read after its run was
listed (a late step) lists the run again, updated and named in ``RunPage.replaced``, so a sampled
run is hydrated again. FLOOR/FLOOR_LINE: the first line of the oldest trace remembered, waiting for
its root or listed with its root less than :data:`RECENT_WINDOW` bytes back (OFFSET when there is
none). The next ``list_runs`` re-reads FLOOR..OFFSET only to gather those traces again (nothing
there is listed twice; its problems were already said), then reads on from OFFSET. A connector
remembers the traces of the cursor it last returned, so paging within one sync does not re-read.
The re-read is bounded: a trace whose first span is more than :data:`PENDING_WINDOW` bytes behind
the end of what was read stops waiting (said once); its run is still listed when its root arrives,
from the spans read since, and a step later than RECENT_WINDOW after its root is seen only when the
run is hydrated. A page may hold more than ``limit`` runs when one line holds several roots, or
late steps update runs.

A summary is built from the spans read up to the end of its page; ``fetch_runs`` reads every
line of the file that holds a span of the trace (offsets remembered in an index), so a hydrated
run has all its steps. A corrupt line is skipped and said with file:line; a last line that is not
complete JSON and has no newline is left for the next sync. Every string attribute longer than
``max_value_chars`` is cut, with a marker saying how much was left out.

Scores go to ``<traces file stem>.scores.jsonl`` beside the traces file, written exactly as the
file store's ``scores.jsonl`` (:mod:`store.connectors.scores_file`). There are no incidents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from store.connectors.base import (
    ConnectorError,
    Findings,
    Listed,
    StoreConfigBase,
    StoreConnector,
)
from store.connectors.jsonl import parse, problem, unreadable_json
from store.connectors.scores_file import ScoresFile
from store.models import Incident, Run, RunPage, RunSummary, Score, Step, StepError, Tokens
from store.span_dialects import (
    SpanReading,
    innermost,
    read_span,
    run_input_output,
    span_cost,
    span_kind,
    span_tokens,
)

if TYPE_CHECKING:
    from store.documents import DocumentError
    from store.plugins import Login
    from store.workspace import Workspace

#: How far (bytes) behind the end of what was read a trace may wait for its root span.
PENDING_WINDOW = 64 * 1024 * 1024
#: How far (bytes) behind the end of what was read a listed trace's root may be for a span
#: written after it (a late child) to list the run again, updated.
RECENT_WINDOW = 1024 * 1024
#: Default longest string attribute value kept whole (characters).
MAX_VALUE_CHARS = 1_000_000
CURSOR_PREFIX = "otlp1"
#: How many of the file's first bytes the cursor fingerprints, to notice a rotated file.
HEAD_BYTES = 4096

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- OTLP/JSON, parsed at the edge --------------------------------------------------------------


class _Otlp(BaseModel):
    # The JSON mapping writes lowerCamelCase; parsers accept the proto field names too.
    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, defer_build=True
    )


class _ArrayValue(_Otlp):
    values: list[_AnyValue] = Field(default_factory=list)


class _KvList(_Otlp):
    values: list[KeyValue] = Field(default_factory=list)


class _AnyValue(_Otlp):
    string_value: str | None = None
    bool_value: bool | None = None
    int_value: int | None = None  # int64: a JSON string in OTLP/JSON, a number accepted too
    double_value: float | None = None
    bytes_value: str | None = None  # base64, kept as written
    array_value: _ArrayValue | None = None
    kvlist_value: _KvList | None = None


class KeyValue(_Otlp):
    key: str
    value: _AnyValue | None = None


class _Status(_Otlp):
    code: int | str = 0  # 2 = ERROR; the enum's name is accepted too
    message: str = ""


class SpanEvent(_Otlp):
    name: str = ""
    attributes: list[KeyValue] = Field(default_factory=list)


class _Span(_Otlp):
    trace_id: str = Field(pattern=r"^[0-9a-fA-F]{32}$")
    span_id: str = Field(pattern=r"^[0-9a-fA-F]{16}$")
    parent_span_id: str = Field(default="", pattern=r"^([0-9a-fA-F]{16})?$")
    name: str = ""
    start_time_unix_nano: int | None = None
    end_time_unix_nano: int | None = None
    attributes: list[KeyValue] = Field(default_factory=list)
    events: list[SpanEvent] = Field(default_factory=list)
    status: _Status | None = None


class _ScopeSpans(_Otlp):
    spans: list[_Span] = Field(default_factory=list)


class _Resource(_Otlp):
    attributes: list[KeyValue] = Field(default_factory=list)


class _ResourceSpans(_Otlp):
    resource: _Resource | None = None
    scope_spans: list[_ScopeSpans] = Field(default_factory=list)


class _Export(_Otlp):
    """One line: an ``ExportTraceServiceRequest`` (or ``TracesData``) in OTLP/JSON."""

    resource_spans: list[_ResourceSpans] = Field(default_factory=list)


# -- spans as plain data --------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut by agentdeck: {len(text) - limit} more characters]"


def _value(v: _AnyValue | None, limit: int) -> Any:
    if v is None:
        return None
    if v.string_value is not None:
        return _cut(v.string_value, limit)
    if v.bool_value is not None:
        return v.bool_value
    if v.int_value is not None:
        return v.int_value
    if v.double_value is not None:
        return v.double_value
    if v.array_value is not None:
        return [_value(x, limit) for x in v.array_value.values]
    if v.kvlist_value is not None:
        return attribute_values(v.kvlist_value.values, limit)
    if v.bytes_value is not None:
        return _cut(v.bytes_value, limit)
    return None


def attribute_values(kvs: list[KeyValue], limit: int) -> dict[str, Any]:
    """OTLP key-values as a dict (long text cut at ``limit``); MLflow's spans use them too."""
    return {kv.key: _value(kv.value, limit) for kv in kvs}


def _instant(nanos: int | None) -> datetime | None:
    if not nanos:
        return None
    return _EPOCH + timedelta(microseconds=nanos // 1000)


@dataclass
class _SpanData:
    trace_id: str
    span_id: str
    parent: str
    name: str
    start_ns: int | None
    end_ns: int | None
    attrs: dict[str, Any]
    resource: dict[str, Any]
    error: bool
    status_message: str
    exception: tuple[str, str] | None
    #: The span's events other than ``exception`` (GenAI message events), name and attributes.
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def root(self) -> bool:
        return not self.parent

    @cached_property
    def reading(self) -> SpanReading:
        """What the span says, in whichever dialect it speaks (:mod:`store.span_dialects`)."""
        return read_span(self.attrs, name=self.name, events=self.events)

    @property
    def kind(self) -> str:
        return self.reading.kind

    def first(self, *keys: str) -> Any:
        for key in keys:
            value = self.attrs.get(key)
            if value is not None:
                return value
        return None

    def latency_ms(self) -> int | None:
        if self.start_ns is None or self.end_ns is None or self.end_ns < self.start_ns:
            return None
        return (self.end_ns - self.start_ns) // 1_000_000

    def step(self) -> Step:
        error = None
        if self.error:
            kind, message = self.exception or ("error", "")
            error = StepError(type=kind, message=self.status_message or message)
        reading = self.reading
        return Step(
            kind=reading.kind,
            name=reading.name,
            span_id=self.span_id,
            start_time=_instant(self.start_ns),
            latency_ms=self.latency_ms(),
            arguments=reading.input,
            result=reading.output,
            error=error,
            tokens=reading.tokens,
        )


def _is_error(status: _Status | None) -> bool:
    return status is not None and status.code in (2, "2", "STATUS_CODE_ERROR", "ERROR")


def _spans(export: _Export, limit: int) -> Iterator[_SpanData]:
    for rs in export.resource_spans:
        resource = attribute_values(rs.resource.attributes, limit) if rs.resource else {}
        for ss in rs.scope_spans:
            for s in ss.spans:
                exception = None
                events: list[tuple[str, dict[str, Any]]] = []
                for event in s.events:
                    if event.name == "exception":
                        if exception is None:
                            ev = attribute_values(event.attributes, limit)
                            exception = (
                                str(ev.get("exception.type") or "exception"),
                                str(ev.get("exception.message") or ""),
                            )
                    elif event.name.startswith("gen_ai."):
                        events.append((event.name, attribute_values(event.attributes, limit)))
                yield _SpanData(
                    trace_id=s.trace_id.lower(),
                    span_id=s.span_id.lower(),
                    parent=s.parent_span_id.lower(),
                    name=_cut(s.name, limit),
                    start_ns=s.start_time_unix_nano,
                    end_ns=s.end_time_unix_nano,
                    attrs=attribute_values(s.attributes, limit),
                    resource=resource,
                    error=_is_error(s.status),
                    status_message=_cut(s.status.message, limit) if s.status else "",
                    exception=exception,
                    events=events,
                )


def lookup(attrs: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted attribute path: the attribute of that exact name, else a key path
    inside a shorter attribute holding a mapping or a JSON-object string (``metadata``)."""
    if dotted in attrs:
        return attrs[dotted]
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if head not in attrs:
            continue
        found = _inside(attrs[head], parts[i:])
        if found is not None:
            return found
    return None


def _inside(value: Any, path: list[str]) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, dict):
        return None
    return lookup(value, ".".join(path))


def _workflow_of(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


@dataclass
class _Trace:
    """The spans of one trace read so far: the root, the steps (when kept) and the sums a
    summary needs."""

    first_offset: int
    first_line: int
    root: _SpanData | None = None
    root_line: int = 0
    root_offset: int = 0
    steps: list[_SpanData] = field(default_factory=list)
    #: Every other span's parent, and the tokens and cost of the spans that record any.
    parents: dict[str, str] = field(default_factory=dict)
    metered: dict[str, tuple[Tokens | None, float | None]] = field(default_factory=dict)
    workflow: str | None = None  # from a span other than the root

    def add(self, span: _SpanData, line: int, workflow_attribute: str, keep: bool) -> None:
        if span.root:
            if self.root is None:
                self.root, self.root_line = span, line
            return
        if keep:
            self.steps.append(span)
        if self.workflow is None:
            self.workflow = _workflow_of(lookup(span.attrs, workflow_attribute))
        self.parents[span.span_id] = span.parent
        # Whatever the span's operation: frameworks name their model calls in many ways.
        tokens, cost = span_tokens(span.attrs), span_cost(span.attrs)
        if tokens is not None or cost is not None:
            self.metered[span.span_id] = (tokens, cost)

    def _sums(self) -> tuple[Tokens | None, float | None]:
        """Tokens and cost summed over the innermost spans that record them (an agent span
        that already sums its model calls is not counted again)."""
        tokens: Tokens | None = None
        cost: float | None = None
        for span_id in sorted(innermost(self.parents, self.metered)):
            t, c = self.metered[span_id]
            if t is not None:
                sums = tokens or Tokens()
                tokens = Tokens(input=sums.input + t.input, output=sums.output + t.output)
            if c is not None:
                cost = (cost or 0.0) + c
        return tokens, cost

    def summary_fields(self, workflow_attribute: str) -> dict[str, Any]:
        """What a RunSummary needs; ValueError says what the root lacks."""
        root = self.root
        assert root is not None
        workflow = (
            _workflow_of(lookup(root.attrs, workflow_attribute))
            or _workflow_of(lookup(root.resource, workflow_attribute))
            or self.workflow
        )
        if workflow is None:
            raise ValueError(f"no `{workflow_attribute}` attribute names its workflow")
        start = _instant(root.start_ns)
        if start is None:
            raise ValueError("the root span has no startTimeUnixNano")
        tokens, steps_cost = self._sums()
        own = span_tokens(root.attrs)
        if tokens is None:
            tokens = own or Tokens()
        elif own is not None and span_kind(root.attrs) == "llm":
            tokens = Tokens(input=own.input + tokens.input, output=own.output + tokens.output)
        cost = span_cost(root.attrs)
        return {
            "trace_id": root.trace_id,
            "workflow": workflow,
            "start_time": start,
            "end_time": _instant(root.end_ns),
            "status": "error" if root.error else "ok",
            "tokens": tokens,
            "cost_usd": cost if cost is not None else steps_cost,
            "latency_ms": root.latency_ms(),
        }

    def run(self, workflow_attribute: str) -> Run:
        root = self.root
        assert root is not None
        tags = root.attrs.get("tag.tags")
        ordered = [
            s for _, s in sorted(enumerate(self.steps), key=lambda p: (p[1].start_ns or 0, p[0]))
        ]
        run_input, run_output = run_input_output(
            root.reading, [s.reading for s in ordered if s.kind == "llm"]
        )
        return Run(
            **self.summary_fields(workflow_attribute),
            input=run_input,
            output=run_output,
            steps=[s.step() for s in ordered],
            tags=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        )


# -- the connector --------------------------------------------------------------------------------


@dataclass
class _Index:
    """Which lines (offset, number) hold spans of each trace, over a prefix of the file."""

    lines: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    to: int = 0
    count: int = 0
    head: str = ""  # the file's fingerprint (see ``_head``) when ``to`` was reached

    def add(self, spans: list[_SpanData], offset: int, number: int) -> None:
        for tid in dict.fromkeys(s.trace_id for s in spans):
            self.lines.setdefault(tid, []).append((offset, number))


class OtlpFileStoreConfig(StoreConfigBase):
    """``kind = "otlp-file"``: ``path`` is the Collector file exporter's JSON-lines file."""

    kind: Literal["otlp-file"]

    @model_validator(mode="after")
    def _needs(self) -> OtlpFileStoreConfig:
        self.required("path", "the collector's JSON-lines file")
        return self


class OtlpFileConnector(StoreConnector):
    """Connector over an OpenTelemetry Collector file exporter's JSON-lines output."""

    kind = "otlp-file"
    config_model = OtlpFileStoreConfig
    login: ClassVar[Login | None] = None

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        workflow_attribute: str = "metadata.workflow",
        max_value_chars: int = MAX_VALUE_CHARS,
        pending_window: int = PENDING_WINDOW,
        recent_window: int = RECENT_WINDOW,
    ) -> None:
        self.name = name
        self.path = path
        self.workflow_attribute = workflow_attribute
        self.max_value_chars = max_value_chars
        self.pending_window = pending_window
        self.recent_window = recent_window
        #: The cursor last returned by ``list_runs``, the traces waiting for a root there and
        #: the recently listed ones.
        self._remembered: tuple[str, dict[str, _Trace], dict[str, _Trace]] | None = None
        self._index = _Index()
        self._scores = ScoresFile(
            path.parent / f"{path.stem}.scores.jsonl", path.parent / f".{path.stem}.scores.lock"
        )

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> OtlpFileConnector:
        """The connector for an ``otlp-file`` store; ``cfg.path`` is relative to the workspace."""
        if not cfg.path:
            raise ConnectorError(f"store {cfg.name!r}: an otlp-file store needs `path`")
        return cls(cfg.name, workspace.path(cfg.path), workflow_attribute=cfg.workflow_attribute)

    @property
    def scores_path(self) -> Path:
        return self._scores.path

    # -- runs ---------------------------------------------------------------------------------

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"{self.path}: cannot read ({exc.strerror})") from None

    def _parse_cursor(self, cursor: str | None) -> tuple[int, int, int, int, str]:
        if not cursor:
            return 0, 0, 0, 0, ""
        try:
            prefix, *numbers, head = cursor.split(":")
            offset, line, floor, floor_line = (int(n) for n in numbers)
            if prefix != CURSOR_PREFIX or not 0 <= floor <= offset or not 0 <= floor_line <= line:
                raise ValueError
        except ValueError:
            raise ConnectorError(f"{self.path}: bad saved cursor {cursor!r}") from None
        return offset, line, floor, floor_line, head

    @staticmethod
    def _head(fh: BinaryIO, offset: int) -> str:
        """A fingerprint of the file's first bytes (up to ``offset``): a rotated file that has
        already grown past the cursor still starts differently."""
        fh.seek(0)
        return hashlib.blake2b(fh.read(min(HEAD_BYTES, offset)), digest_size=8).hexdigest()

    def _read_spans(self, raw: bytes) -> list[_SpanData]:
        return list(_spans(parse(_Export, raw), self.max_value_chars))

    def _remember(
        self, fh: BinaryIO, floor: int, floor_line: int, offset: int
    ) -> tuple[dict[str, _Trace], dict[str, _Trace]]:
        """The traces still waiting for a root at ``offset`` and the ones listed since
        ``floor``, gathered again from the lines between."""
        waiting: dict[str, _Trace] = {}
        recent: dict[str, _Trace] = {}
        fh.seek(floor)
        number = floor_line
        while fh.tell() < offset:
            start = fh.tell()
            raw = fh.readline()
            if not raw:
                break
            if fh.tell() > offset:
                break  # the rest of a last line read without its newline
            number += 1
            if not raw.strip():
                continue
            try:
                spans = self._read_spans(raw)
            except (ValidationError, ValueError):
                continue  # said when it was first read
            for span in spans:
                self._take(span, start, number, waiting, recent, recent)
        return waiting, recent

    def _take(
        self,
        span: _SpanData,
        start: int,
        number: int,
        waiting: dict[str, _Trace],
        listed: dict[str, _Trace],
        ready: dict[str, _Trace],
    ) -> _Trace:
        """Add a span to its trace; a root moves a waiting trace to ``ready``."""
        tid = span.trace_id
        trace = ready.get(tid) or waiting.get(tid) or listed.get(tid)
        if trace is None:
            trace = waiting[tid] = _Trace(start, number)
        trace.add(span, number, self.workflow_attribute, keep=False)
        if span.root and tid in waiting:
            trace.root_offset = start
            ready[tid] = waiting.pop(tid)
        return trace

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """List the traces whose root span is read after ``cursor``, up to ``limit`` (more when
        one line holds several roots). See the module docstring for the cursor."""
        offset, line_no, floor, floor_line, head = self._parse_cursor(cursor)
        name = self.path.name
        problems: list[str] = []
        skipped = 0
        ready: dict[str, _Trace] = {}
        updated: dict[str, _Trace] = {}
        done = False
        with self._open() as fh:
            fh.seek(0, 2)
            size = fh.tell()
            if self._index.to and (
                size < self._index.to or self._head(fh, self._index.to) != self._index.head
            ):
                self._index = _Index()
            if size < offset or (cursor is not None and self._head(fh, offset) != head):
                # Rotated (the collector's `rotation`) or rewritten: a new file under the same
                # name. Runs listed again are the same runs (sync upserts on the trace id).
                problems.append(
                    f"{name}: the file is not the one the last sync read up to byte {offset} "
                    "(rotated or rewritten?); read again from the start"
                )
                offset = line_no = floor = floor_line = 0
                cursor = None
                self._index = _Index()
            if self._remembered is not None and self._remembered[0] == cursor:
                _, waiting, recent = self._remembered
            elif floor < offset:
                waiting, recent = self._remember(fh, floor, floor_line, offset)
            else:
                waiting, recent = {}, {}
            in_line = False
            if offset > 0:
                fh.seek(offset - 1)
                in_line = fh.read(1) != b"\n"
            fh.seek(offset)
            # Reading on from where the index of trace lines stops: teach it these lines too.
            indexing = offset == self._index.to
            while len(ready) < limit:
                start = fh.tell()
                raw = fh.readline()
                if not raw:
                    done = True
                    break
                whole = raw.endswith(b"\n")
                if in_line:
                    in_line = False
                    if raw.strip():
                        skipped += 1
                        problems.append(
                            f"{name}:{line_no}: text after the end of the record on this line "
                            "(a missing newline?); not read"
                        )
                    continue
                if not raw.strip():
                    if whole:
                        line_no += 1
                        continue
                    fh.seek(start)
                    done = True
                    break
                try:
                    spans = self._read_spans(raw)
                except (ValidationError, ValueError) as exc:
                    if not whole and unreadable_json(exc):
                        problems.append(
                            f"{name}:{line_no + 1}: the last line is not complete JSON and has "
                            "no newline (still being written, or cut off); read once complete"
                        )
                        fh.seek(start)
                        done = True
                        break
                    line_no += 1
                    skipped += 1
                    problems.append(problem(name, line_no, exc))
                    continue
                line_no += 1
                if indexing:
                    self._index.add(spans, start, line_no)
                for span in spans:
                    trace = self._take(span, start, line_no, waiting, recent, ready)
                    tid = span.trace_id
                    if not span.root and tid in recent and tid not in ready:
                        updated[tid] = trace  # a late step of a run listed before
            end = fh.tell()
            if not done:
                done = not fh.read(1)
            head = self._head(fh, end)
        if indexing:
            self._index.to, self._index.count, self._index.head = end, line_no, head
        runs: list[RunSummary] = []
        replaced: list[str] = []
        for tid, trace in (ready | updated).items():
            try:
                runs.append(RunSummary(**trace.summary_fields(self.workflow_attribute)))
            except (ValueError, ValidationError) as exc:
                skipped += 1
                problems.append(f"{name}:{trace.root_line}: trace {tid}: {exc}; not listed")
                continue
            if tid in updated:
                replaced.append(tid)
        recent.update(ready)
        for tid, trace in list(waiting.items()):
            if trace.first_offset < end - self.pending_window:
                del waiting[tid]
                problems.append(
                    f"{name}:{trace.first_line}: trace {tid}: no root span within "
                    f"{self.pending_window} bytes of this line (its root was listed long before, "
                    "or never written); these spans are read only when the run is fetched"
                )
        for tid, trace in list(recent.items()):
            if trace.root_offset < end - self.recent_window:
                del recent[tid]
        remembered = [*waiting.values(), *recent.values()]
        if remembered:
            first = min(remembered, key=lambda t: t.first_offset)
            floor, floor_line = first.first_offset, first.first_line - 1
        else:
            floor, floor_line = end, line_no
        new_cursor = f"{CURSOR_PREFIX}:{end}:{line_no}:{floor}:{floor_line}:{head}"
        self._remembered = (new_cursor, waiting, recent)
        return RunPage(
            runs=runs,
            cursor=new_cursor,
            done=done,
            skipped=skipped,
            problems=problems,
            replaced=replaced,
        )

    def _extend_index(self, fh: BinaryIO) -> None:
        """Learn which lines hold which traces, from where the index stops to the end."""
        fh.seek(0, 2)
        if self._index.to and (
            fh.tell() < self._index.to or self._head(fh, self._index.to) != self._index.head
        ):
            self._index = _Index()  # the file was rotated or rewritten
        fh.seek(self._index.to)
        number = self._index.count
        while True:
            start = fh.tell()
            raw = fh.readline()
            if not raw:
                break
            if not raw.endswith(b"\n"):
                try:
                    spans = self._read_spans(raw)
                except (ValidationError, ValueError):
                    fh.seek(start)
                    break  # a torn last line: indexed once complete
            else:
                try:
                    spans = self._read_spans(raw) if raw.strip() else []
                except (ValidationError, ValueError):
                    spans = []
            number += 1
            self._index.add(spans, start, number)
        self._index.to, self._index.count = fh.tell(), number
        self._index.head = self._head(fh, self._index.to)

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """The full runs for these trace ids: every span of each, from every line of the file.
        A trace with no root span (yet) is left out; unknown ids are left out."""
        out: Listed[Run] = Listed()
        name = self.path.name
        with self._open() as fh:
            self._extend_index(fh)
            for rid in dict.fromkeys(r.lower() for r in run_ids):
                where = self._index.lines.get(rid)
                if not where:
                    continue
                trace = _Trace(where[0][0], where[0][1])
                try:
                    for start, number in where:
                        fh.seek(start)
                        for span in self._read_spans(fh.readline()):
                            if span.trace_id == rid:
                                trace.add(span, number, self.workflow_attribute, keep=True)
                    if trace.root is None:
                        continue
                    out.append(trace.run(self.workflow_attribute))
                except (ValidationError, ValueError) as exc:
                    out.problems.append(f"{name}: trace {rid}: {exc} (run not fetched)")
        return out

    # -- incidents and scores ----------------------------------------------------------------

    def list_incidents(self) -> Listed[Incident]:
        """An OTLP file holds no incidents."""
        return Listed()

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """The live scores in the scores file (read whole, so ``trace_ids`` is not needed)."""
        return self._scores.live()

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Upsert scores by id; content already stored as the latest is not written again."""
        self._scores.push(scores)

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """Write a tombstone for each id that currently has a live score."""
        self._scores.delete(score_ids)

    # -- validate -----------------------------------------------------------------------------

    def check(self) -> Findings:
        """Read the whole file, as a sync would, and say every corrupt or torn line, every trace
        that cannot be listed or fetched, and every corrupt line of the scores file."""
        found = Findings()
        cursor: str | None = None
        ids: list[str] = []
        while True:
            page = self.list_runs(cursor, CHECK_PAGE)
            for line in page.problems:
                found.add(self.path.parent, line)
            ids += [r.trace_id for r in page.runs]
            cursor = page.cursor
            if page.done:
                break
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), CHECK_PAGE):
            for line in self.fetch_runs(ids[i : i + CHECK_PAGE]).problems:
                found.add(self.path.parent, line)
        for line in self.list_scores().problems:
            found.add(self.path.parent, line)
        return found

    @classmethod
    def check_config(
        cls, workspace: Workspace, index: int, cfg: StoreConfigBase
    ) -> list[DocumentError]:
        """The exporter's file must be there (named at the ``path`` line)."""
        from store.documents import DocumentError

        path = workspace.path(cfg.path or "")
        if cfg.path and path.is_file():
            return []
        line = workspace.line_of("stores", index, "path" if cfg.path else "kind")
        why = f"{path} is missing" if cfg.path else "no `path` to the exporter's file"
        return [
            DocumentError(
                workspace.config_path,
                line,
                f"store {cfg.name!r}: {why} (the OpenTelemetry Collector's file "
                "exporter output, OTLP/JSON lines)",
            )
        ]

    @classmethod
    def check_files(cls, workspace: Workspace, cfg: StoreConfigBase) -> Findings:
        """Every corrupt or torn line of an OpenTelemetry file store (see :meth:`check`);
        nothing when the file is missing (:meth:`check_config` says that)."""
        if not cfg.path or not workspace.path(cfg.path).is_file():
            return Findings()
        return cls.from_config(workspace, cfg).check()


#: Runs ``check`` lists and fetches at a time.
CHECK_PAGE = 5000

PLUGIN = OtlpFileConnector

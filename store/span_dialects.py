"""What a span says, whichever instrumentation wrote it: one attribute mapping for every store
that reads OpenTelemetry-style spans (the OTLP file, Phoenix, MLflow).

Real traces speak several dialects. This module reads, in this order of preference:

- **OpenInference** (Arize): ``openinference.span.kind``, ``input.value``/``output.value``,
  ``tool.name``, ``llm.token_count.prompt``/``completion``, ``llm.cost.total``, and the indexed
  ``llm.input_messages.N.message.*``/``llm.output_messages.N.message.*``.
- **OpenTelemetry GenAI**, current and earlier forms: ``gen_ai.operation.name``,
  ``gen_ai.input.messages``/``gen_ai.output.messages``, ``gen_ai.tool.name``,
  ``gen_ai.tool.call.arguments``/``gen_ai.tool.call.result``, ``gen_ai.usage.input_tokens``/
  ``output_tokens`` (and the older ``prompt_tokens``/``completion_tokens``), ``gen_ai.usage.cost``;
  the earlier ``gen_ai.prompt``/``gen_ai.completion`` (one JSON string) and indexed
  ``gen_ai.prompt.N.*``/``gen_ai.completion.N.*``; message events (``gen_ai.system.message``,
  ``gen_ai.user.message``, ``gen_ai.assistant.message``, ``gen_ai.tool.message``,
  ``gen_ai.choice``, and the older ``gen_ai.content.prompt``/``gen_ai.content.completion``),
  as span events or as Logfire's ``events`` attribute.
- **OpenLLMetry** (Traceloop): ``traceloop.span.kind``, ``traceloop.entity.name``,
  ``traceloop.entity.input``/``traceloop.entity.output``, ``llm.request.type``,
  ``llm.usage.prompt_tokens``/``completion_tokens``.
- **Agent frameworks' own names**: Pydantic AI's ``tool_arguments``/``tool_response`` (its
  instrumentation version 2), ``final_result`` and ``gen_ai.aggregated_usage.*``; the Vercel AI
  SDK's ``ai.operationId``, ``ai.toolCall.name``/``args``/``result``, ``ai.prompt``,
  ``ai.prompt.messages``, ``ai.response.text``/``object``, ``ai.usage.promptTokens``/
  ``completionTokens`` (``inputTokens``/``outputTokens``); Logfire's ``operation.cost`` and its
  rendered ``logfire.msg`` for span names that are templates; and the
  plain ``input``/``output`` some instrumentations put on tool and model spans (the OpenAI
  Agents SDK through Logfire, for one).

Values are returned as the span holds them (a JSON string stays a string); indexed attributes and
message events are gathered into lists of dicts. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from store.models import Tokens

#: ``gen_ai.operation.name`` values and the step kind each is.
GENAI_KINDS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "execute_tool": "tool",
    "embeddings": "embedding",
    "invoke_agent": "agent",
    "create_agent": "agent",
}

#: ``llm.request.type`` (OpenLLMetry) values that mean a model call.
_LLM_REQUEST_TYPES = {"chat", "completion", "rerank"}

#: Where a step's arguments (its input) are, most specific first.
INPUT_KEYS = (
    "input.value",
    "gen_ai.tool.call.arguments",
    "traceloop.entity.input",
    "tool_arguments",
    "ai.toolCall.args",
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "ai.prompt.messages",
    "ai.prompt",
)
#: Where a step's result (its output) is, most specific first.
OUTPUT_KEYS = (
    "output.value",
    "gen_ai.tool.call.result",
    "traceloop.entity.output",
    "tool_response",
    "ai.toolCall.result",
    "gen_ai.output.messages",
    "gen_ai.completion",
    "ai.response.text",
    "ai.response.object",
    "final_result",
)
#: Indexed message attributes (``PREFIX.N.field``) read when none of the keys above is set.
INPUT_INDEXED = ("llm.input_messages", "gen_ai.prompt")
OUTPUT_INDEXED = ("llm.output_messages", "gen_ai.completion")
#: The plain names, read last: they are common words other attributes could use.
PLAIN_INPUT, PLAIN_OUTPUT = "input", "output"

INPUT_TOKEN_KEYS = (
    "llm.token_count.prompt",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.prompt_tokens",
    "ai.usage.promptTokens",
    "ai.usage.inputTokens",
    "gen_ai.aggregated_usage.input_tokens",
)
OUTPUT_TOKEN_KEYS = (
    "llm.token_count.completion",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "ai.usage.completionTokens",
    "ai.usage.outputTokens",
    "gen_ai.aggregated_usage.output_tokens",
)
COST_KEYS = ("llm.cost.total", "gen_ai.usage.cost", "operation.cost")
TOOL_NAME_KEYS = ("tool.name", "gen_ai.tool.name", "ai.toolCall.name")

#: Message events that are a model call's input, and the role each speaks as.
INPUT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
OUTPUT_EVENTS = {"gen_ai.choice"}
#: The older single-event form: the whole prompt or completion in one attribute.
CONTENT_EVENTS = {"gen_ai.content.prompt", "gen_ai.content.completion"}

_INDEX = re.compile(r"^(\d+)(?:\.(.*))?$")


@dataclass(frozen=True)
class SpanReading:
    """What one span says, in agentdeck's terms."""

    kind: str  # llm | tool | agent | chain | embedding | ... | span
    name: str  # the tool's name for a tool call, else the span's (rendered) name
    input: Any = None
    output: Any = None
    tokens: Tokens | None = None
    cost: float | None = None


Event = tuple[str, Mapping[str, Any]]


def read_span(
    attributes: Mapping[str, Any], *, name: str = "", events: Iterable[Event] = ()
) -> SpanReading:
    """Read one span's attributes (flat, dotted keys, as OTLP carries them; see :func:`flatten`
    for nested ones) and its events (``(name, attributes)`` pairs) in whichever dialect it
    speaks. The MLflow and Phoenix connectors call this on a span's attribute dict too."""
    evs = [
        (n, a) for n, a in events if n in INPUT_EVENTS or n in OUTPUT_EVENTS or n in CONTENT_EVENTS
    ]
    evs += _logfire_events(attributes.get("events"))
    kind = span_kind(attributes)
    return SpanReading(
        kind=kind,
        name=step_name(attributes, name),
        input=span_input(attributes, evs),
        output=span_output(attributes, evs),
        tokens=span_tokens(attributes),
        cost=span_cost(attributes),
    )


def span_kind(attributes: Mapping[str, Any]) -> str:
    """The step kind: ``openinference.span.kind``, ``gen_ai.operation.name``,
    ``traceloop.span.kind``, OpenLLMetry's ``llm.request.type``, the Vercel AI SDK's
    ``ai.operationId``, else ``tool`` when a tool is named, else ``span``."""
    oi = attributes.get("openinference.span.kind")
    if isinstance(oi, str) and oi:
        return oi.lower()
    op = attributes.get("gen_ai.operation.name")
    if isinstance(op, str) and op:
        return GENAI_KINDS.get(op, op)
    tl = attributes.get("traceloop.span.kind")
    if isinstance(tl, str) and tl:
        return tl.lower()
    req = attributes.get("llm.request.type")
    if isinstance(req, str) and req in _LLM_REQUEST_TYPES:
        return "llm"
    ai = attributes.get("ai.operationId")
    if isinstance(ai, str) and ai.startswith("ai."):
        if ai == "ai.toolCall":
            return "tool"
        if ai.endswith((".doGenerate", ".doStream")):
            return "llm"
        if ai.endswith(".doEmbed"):
            return "embedding"
        return "chain"
    if any(key in attributes for key in TOOL_NAME_KEYS):
        return "tool"
    return "span"


def step_name(attributes: Mapping[str, Any], span_name: str = "") -> str:
    """The tool's name on a tool call; else the span's name, or Logfire's rendered message when
    the span's name is its template (``Function: {name}``)."""
    for key in TOOL_NAME_KEYS:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    if attributes.get("traceloop.span.kind") == "tool":
        value = attributes.get("traceloop.entity.name")
        if isinstance(value, str) and value:
            return value
    rendered = attributes.get("logfire.msg")
    if (
        isinstance(rendered, str)
        and rendered
        and (not span_name or span_name == attributes.get("logfire.msg_template"))
    ):
        return rendered
    return span_name or "(unnamed)"


def span_input(attributes: Mapping[str, Any], events: Sequence[Event] = ()) -> Any:
    """A span's input: its arguments for a tool call, its messages for a model call."""
    return _first(attributes, INPUT_KEYS, INPUT_INDEXED, PLAIN_INPUT, _event_input(events))


def span_output(attributes: Mapping[str, Any], events: Sequence[Event] = ()) -> Any:
    """A span's output: a tool call's result, a model call's reply, an agent's final answer."""
    return _first(attributes, OUTPUT_KEYS, OUTPUT_INDEXED, PLAIN_OUTPUT, _event_output(events))


def span_tokens(attributes: Mapping[str, Any]) -> Tokens | None:
    """Input and output tokens, from whichever dialect's usage attributes the span has."""
    prompt = _int(_value(attributes, INPUT_TOKEN_KEYS))
    completion = _int(_value(attributes, OUTPUT_TOKEN_KEYS))
    if prompt is None and completion is None:
        return None
    return Tokens(input=prompt or 0, output=completion or 0)


def span_cost(attributes: Mapping[str, Any]) -> float | None:
    """The span's cost in USD, when it records one."""
    value = _value(attributes, COST_KEYS)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def run_input_output(root: SpanReading, model_calls: Sequence[SpanReading]) -> tuple[Any, Any]:
    """A run's input and final answer: the root span's own, else the first model call's input
    and the last model call's output (``model_calls`` in start order)."""
    run_input, run_output = root.input, root.output
    if run_input is None:
        run_input = next((c.input for c in model_calls if c.input is not None), None)
    if run_output is None:
        run_output = next((c.output for c in reversed(model_calls) if c.output is not None), None)
    return run_input, run_output


def innermost(parents: Mapping[str, str], metered: Iterable[str]) -> set[str]:
    """Of the spans that record tokens or cost (``metered`` ids), the ones no other metered
    span descends from: an agent or workflow span that sums its model calls is not counted
    again. ``parents`` maps span id to parent id."""
    metered = set(metered)
    outer: set[str] = set()
    for span_id in metered:
        seen = {span_id}
        parent = parents.get(span_id)
        while parent and parent not in seen:
            seen.add(parent)
            if parent in metered:
                outer.add(parent)
            parent = parents.get(parent)
    return metered - outer


def lookup(attributes: Mapping[str, Any], dotted: str) -> Any:
    """The attribute ``dotted`` names, flattened (``a.b``), nested, or inside a JSON string.

    ``metadata.workflow`` finds ``{"metadata.workflow": x}``, ``{"metadata": {"workflow": x}}``
    and ``{"metadata": "{\\"workflow\\": x}"}`` (OpenInference's JSON-string metadata).
    """
    if dotted in attributes:
        return attributes[dotted]
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head not in attributes:
            continue
        value: Any = attributes[head]
        for part in parts[cut:]:
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    return None
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
        if value is not None:
            return value
    return None


def flatten(attributes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested attributes (Phoenix lists ``{"llm": {"token_count": {"prompt": 5}}}``) as the
    dotted keys OTLP carries (``llm.token_count.prompt``); lists of mappings get their index
    (``llm.input_messages.0.message.role``). Other values are kept as they are."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{dotted}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                out.update(flatten(item, f"{dotted}.{i}."))
        else:
            out[dotted] = value
    return out


# -- helpers --------------------------------------------------------------------------------------


def _first(
    attributes: Mapping[str, Any],
    keys: Sequence[str],
    indexed: Sequence[str],
    plain: str,
    from_events: Any,
) -> Any:
    value = _value(attributes, keys)
    if value is not None:
        return value
    for prefix in indexed:
        items = _indexed(attributes, prefix)
        if items:
            return items
    if from_events is not None:
        return from_events
    return attributes.get(plain)


def _value(attributes: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _indexed(attributes: Mapping[str, Any], prefix: str) -> list[Any]:
    """``prefix.0.role``, ``prefix.0.content``, ``prefix.1.tool_calls.0.name`` … as a list of
    (nested) dicts, in index order."""
    tree: dict[str, Any] = {}
    start = prefix + "."
    for key, value in attributes.items():
        if not key.startswith(start):
            continue
        parts = key[len(start) :].split(".")
        if not parts[0].isdigit():
            continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    listed = _lists(tree)
    return listed if isinstance(listed, list) else []


def _lists(node: Any) -> Any:
    """Dicts whose keys are all indexes become lists, in index order."""
    if not isinstance(node, dict):
        return node
    inner = {k: _lists(v) for k, v in node.items()}
    if inner and all(k.isdigit() for k in inner):
        return [inner[k] for k in sorted(inner, key=int)]
    return inner


def _logfire_events(value: Any) -> list[Event]:
    """Logfire keeps message events as one ``events`` attribute: a JSON list of dicts, each
    naming its event in ``event.name``. Its OpenAI integration appends the reply as
    ``gen_ai.assistant.message`` events (not ``gen_ai.choice``): without a choice, the trailing
    assistant messages are the reply."""
    if isinstance(value, str) and value[:1] == "[":
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return []
    if not isinstance(value, list):
        return []
    out: list[Event] = []
    for item in value:
        if isinstance(item, Mapping) and isinstance(item.get("event.name"), str):
            body = {k: v for k, v in item.items() if k != "event.name"}
            out.append((item["event.name"], body))
    if not any(name in OUTPUT_EVENTS for name, _ in out):
        cut = len(out)
        while cut > 0 and out[cut - 1][0] == "gen_ai.assistant.message":
            cut -= 1
        out[cut:] = [("gen_ai.choice", body) for _, body in out[cut:]]
    return out


def _event_input(events: Sequence[Event]) -> Any:
    messages: list[Any] = []
    for name, attrs in events:
        if name in INPUT_EVENTS:
            body = dict(attrs)
            body.setdefault("role", INPUT_EVENTS[name])
            messages.append(body)
        elif name == "gen_ai.content.prompt" and attrs.get("gen_ai.prompt") is not None:
            return attrs["gen_ai.prompt"]
    return messages or None


def _event_output(events: Sequence[Event]) -> Any:
    choices: list[Any] = []
    for name, attrs in events:
        if name in OUTPUT_EVENTS:
            choices.append(dict(attrs))
        elif name == "gen_ai.content.completion" and attrs.get("gen_ai.completion") is not None:
            return attrs["gen_ai.completion"]
    return choices or None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None

"""Real traces in several dialects, read through the otlp-file store; and each dialect's
attribute forms through :mod:`store.span_dialects`.

The fixtures (``tests/fixtures/<name>/``, each with a SOURCE.md) are agent runs traced by the
frameworks' own published packages (Pydantic AI, OpenInference, Strands Agents) with their
offline test models, recorded as Collector file lines by ``tests/fixtures/record_traces.py``.
Each test names the attributes it checks.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from store.connectors.otlp_file import OtlpFileConnector
from store.connectors.phoenix import PhoenixConnector
from store.models import Run, RunSummary, Tokens
from store.span_dialects import (
    SpanReading,
    flatten,
    innermost,
    read_span,
    run_input_output,
    span_kind,
)
from tests.conftest import PhoenixServer
from tests.test_phoenix import START, _hex, _iso

FIXTURES = Path(__file__).parent / "fixtures"


def _read(tmp_path: Path, fixture: str, workflow_attribute: str) -> tuple[RunSummary, Run]:
    """The one run in a fixture file, listed and fetched through the otlp-file store."""
    path = tmp_path / "traces.jsonl"
    shutil.copy(FIXTURES / fixture, path)
    store = OtlpFileConnector("otel", path, workflow_attribute=workflow_attribute)
    page = store.list_runs(None, 100)
    assert page.problems == [] and page.done
    [summary] = page.runs
    fetched = store.fetch_runs([summary.trace_id])
    assert fetched.problems == []
    [run] = list(fetched)
    return summary, run


def _json(value: Any) -> Any:
    assert isinstance(value, str), value
    return json.loads(value)


# -- pydantic-ai-slim 2.78.0: an agent run, traced by Pydantic AI's own instrumentation -----------


def test_pydantic_ai_run(tmp_path: Path) -> None:
    summary, run = _read(tmp_path, "pydantic-ai/traces.jsonl", "gen_ai.agent.name")
    assert summary.workflow == "agent"
    # Tokens: the two chat spans' gen_ai.usage.input_tokens/output_tokens (51+54, 9+15); the
    # root's gen_ai.aggregated_usage.* sums the same calls and is not counted again.
    assert summary.tokens == Tokens(input=105, output=24)
    assert (summary.cost_usd, summary.status) == (None, "ok")
    # Run input: the root (invoke_agent) holds none, so the first model call's
    # gen_ai.input.messages.
    assert _json(run.input) == [{"role": "user", "parts": [{"type": "text", "content": "foobar"}]}]
    # Run output: the root's final_result.
    assert run.output == '{"foobar":1,"spam":1.0}'
    assert [(s.kind, s.name) for s in run.steps] == [
        ("llm", "chat test"),
        ("tool", "foobar"),
        ("tool", "spam"),
        ("llm", "chat test"),
    ]
    first, foobar, spam, last = run.steps
    # The tool calls: gen_ai.tool.name, gen_ai.tool.call.arguments, gen_ai.tool.call.result.
    assert (_json(foobar.arguments), foobar.result) == ({"x": 0}, "1")
    assert (_json(spam.arguments), spam.result) == ({"y": 0.0}, "1.0")
    # The model calls: gen_ai.input.messages / gen_ai.output.messages and gen_ai.usage.*; the
    # first asked for both tool calls, the second answered with their results.
    assert _json(first.result) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "pyd_ai_tool_call_id__foobar",
                    "name": "foobar",
                    "arguments": {"x": 0},
                },
                {
                    "type": "tool_call",
                    "id": "pyd_ai_tool_call_id__spam",
                    "name": "spam",
                    "arguments": {"y": 0.0},
                },
            ],
        }
    ]
    assert first.tokens == Tokens(input=51, output=9)
    told = _json(last.arguments)
    assert [p["type"] for p in told[2]["parts"]] == ["tool_call_response", "tool_call_response"]
    assert {p["name"]: p["result"] for p in told[2]["parts"]} == {"foobar": 1, "spam": 1.0}
    assert _json(last.result) == [
        {"role": "assistant", "parts": [{"type": "text", "content": '{"foobar":1,"spam":1.0}'}]}
    ]
    assert last.tokens == Tokens(input=54, output=15)


# -- openinference-instrumentation-pydantic-ai 0.1.30: the same run as OpenInference spans --------


def test_openinference_run(tmp_path: Path) -> None:
    path = "openinference-pydantic-ai/traces.jsonl"
    summary, run = _read(tmp_path, path, "gen_ai.agent.name")
    # Tokens: llm.token_count.prompt/completion on the LLM spans (the same figures as the
    # gen_ai.usage.* these spans also keep), each call counted once.
    assert summary.tokens == Tokens(input=105, output=24)
    # Run input and output: the AGENT root's input.value / output.value.
    assert (run.input, run.output) == ("foobar", '{"foobar":1,"spam":1.0}')
    assert [(s.kind, s.name) for s in run.steps] == [
        ("llm", "chat test"),
        ("tool", "foobar"),
        ("tool", "spam"),
        ("llm", "chat test"),
    ]
    first, foobar, spam, last = run.steps
    # TOOL spans: input.value (the arguments) and output.value (the result).
    assert (foobar.arguments, foobar.result) == ('{"x":0}', "1")
    assert (spam.arguments, spam.result) == ('{"y":0.0}', "1.0")
    # LLM spans: input.value and output.value win over gen_ai.input/output.messages.
    assert first.arguments == "foobar"
    assert _json(first.result) == [
        {"id": "pyd_ai_tool_call_id__foobar", "name": "foobar", "arguments": {"x": 0}},
        {"id": "pyd_ai_tool_call_id__spam", "name": "spam", "arguments": {"y": 0.0}},
    ]
    assert (first.tokens, last.tokens) == (Tokens(input=51, output=9), Tokens(input=54, output=15))
    assert last.result == '{"foobar":1,"spam":1.0}'
    # The indexed llm.input_messages.N.* / llm.output_messages.N.* alone, read from the second
    # LLM span's attributes without its input.value / output.value and the GenAI messages.
    line = json.loads((FIXTURES / path).read_text())
    [scope] = line["resourceSpans"][0]["scopeSpans"]
    [span] = [
        s
        for s in scope["spans"]
        if s["name"] == "chat test"
        and any(a["key"] == "llm.input_messages.2.message.role" for a in s["attributes"])
    ]
    attrs = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
    for key in ("input.value", "output.value", "gen_ai.input.messages", "gen_ai.output.messages"):
        del attrs[key]
    reading = read_span(attrs)
    assert reading.input == [
        {
            "message": {
                "role": "user",
                "contents": [{"message_content": {"type": "text", "text": "foobar"}}],
            }
        },
        {
            "message": {
                "role": "assistant",
                "tool_calls": [
                    {
                        "tool_call": {
                            "id": "pyd_ai_tool_call_id__foobar",
                            "function": {"name": "foobar", "arguments": '{"x": 0}'},
                        }
                    },
                    {
                        "tool_call": {
                            "id": "pyd_ai_tool_call_id__spam",
                            "function": {"name": "spam", "arguments": '{"y": 0.0}'},
                        }
                    },
                ],
            }
        },
        {
            "message": {
                "role": "tool",
                "tool_call_id": "pyd_ai_tool_call_id__spam",
                "contents": [
                    {"message_content": {"text": "1"}},
                    {"message_content": {"text": "1.0"}},
                ],
            }
        },
    ]
    assert reading.output == [
        {"message": {"role": "assistant", "content": '{"foobar":1,"spam":1.0}'}}
    ]


# -- strands-agents 1.65.0: an agent run, traced by Strands' own tracer (message events) ----------


def test_strands_agents_run(tmp_path: Path) -> None:
    summary, run = _read(tmp_path, "strands-agents/traces.jsonl", "gen_ai.agent.name")
    assert summary.workflow == "Strands Agents"
    # Tokens: gen_ai.usage.input_tokens/output_tokens of the two chat spans (10+20, 5+5); the
    # root's and the cycles' totals repeat them and are not counted again.
    assert summary.tokens == Tokens(input=30, output=10)
    assert summary.status == "ok"
    # Run input and output: the invoke_agent root's gen_ai.user.message and gen_ai.choice events.
    assert run.input == [{"role": "user", "content": '[{"text": "what is 2+2?"}]'}]
    assert run.output == [{"message": "The answer is 4.\n", "finish_reason": "end_turn"}]
    assert [(s.kind, s.name) for s in run.steps] == [
        ("execute_event_loop_cycle", "execute_event_loop_cycle"),
        ("llm", "chat"),
        ("tool", "calculator"),
        ("execute_event_loop_cycle", "execute_event_loop_cycle"),
        ("llm", "chat"),
    ]
    _, first, tool, _, last = run.steps
    # The tool call: gen_ai.tool.name; its gen_ai.tool.message event (the arguments) and
    # gen_ai.choice event (the result).
    assert tool.arguments == [{"role": "tool", "content": '{"expression": "2+2"}', "id": "tool_1"}]
    assert tool.result == [{"message": '[{"text": "4"}]', "id": "tool_1"}]
    # The model calls: their message events and gen_ai.usage.*.
    assert first.result == [
        {
            "finish_reason": "tool_use",
            "message": '[{"toolUse": {"toolUseId": "tool_1", "name": "calculator", '
            '"input": {"expression": "2+2"}}}]',
        }
    ]
    assert first.tokens == Tokens(input=10, output=5)
    assert [m["role"] for m in last.arguments] == ["user", "assistant", "tool"]
    assert last.arguments[2]["content"] == (
        '[{"toolResult": {"toolUseId": "tool_1", "status": "success", "content": [{"text": "4"}]}}]'
    )
    assert last.result == [
        {"finish_reason": "end_turn", "message": '[{"text": "The answer is 4."}]'}
    ]
    assert last.tokens == Tokens(input=20, output=5)


# -- each dialect's attribute forms ---------------------------------------------------------------


def test_openinference_attributes() -> None:
    tool = read_span(
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "payments_api",
            "input.value": '{"account": "A-1"}',
            "output.value": '{"balance": 12}',
        },
        name="span-name",
    )
    assert tool == SpanReading(
        kind="tool",
        name="payments_api",
        input='{"account": "A-1"}',
        output='{"balance": 12}',
    )
    llm = read_span(
        {
            "openinference.span.kind": "LLM",
            "llm.token_count.prompt": 120,
            "llm.token_count.completion": 30,
            "llm.cost.total": 0.0021,
        },
        name="ChatCompletion",
    )
    assert (llm.kind, llm.name, llm.tokens, llm.cost) == (
        "llm",
        "ChatCompletion",
        Tokens(input=120, output=30),
        0.0021,
    )


@pytest.mark.parametrize(
    ("operation", "kind"),
    [
        ("chat", "llm"),
        ("text_completion", "llm"),
        ("generate_content", "llm"),
        ("execute_tool", "tool"),
        ("invoke_agent", "agent"),
        ("embeddings", "embedding"),
        ("rerank", "rerank"),
    ],
)
def test_genai_operation_names(operation: str, kind: str) -> None:
    assert span_kind({"gen_ai.operation.name": operation}) == kind


def test_genai_current_attributes() -> None:
    tool = read_span(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "crm_lookup",
            "gen_ai.tool.call.arguments": '{"id": 7}',
            "gen_ai.tool.call.result": '{"name": "Ada"}',
        },
        name="execute_tool crm_lookup",
    )
    assert (tool.kind, tool.name, tool.input, tool.output) == (
        "tool",
        "crm_lookup",
        '{"id": 7}',
        '{"name": "Ada"}',
    )
    chat = read_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": "[in]",
            "gen_ai.output.messages": "[out]",
            "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 8,
            "gen_ai.usage.cost": 0.5,
        }
    )
    assert (chat.input, chat.output, chat.tokens, chat.cost) == (
        "[in]",
        "[out]",
        Tokens(input=40, output=8),
        0.5,
    )


def test_genai_earlier_usage_names() -> None:
    # gen_ai.usage.prompt_tokens / completion_tokens (before input_tokens/output_tokens).
    reading = read_span({"gen_ai.usage.prompt_tokens": 11, "gen_ai.usage.completion_tokens": 3})
    assert reading.tokens == Tokens(input=11, output=3)


def test_genai_indexed_prompt_and_completion() -> None:
    # gen_ai.prompt.N.* / gen_ai.completion.N.* (OpenLLMetry and the early GenAI conventions),
    # tool calls indexed inside a completion.
    reading = read_span(
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Weather in Oslo?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"location": "Oslo"}',
        }
    )
    assert reading.kind == "llm"
    assert reading.input == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Weather in Oslo?"},
    ]
    assert reading.output == [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "tool_calls": [{"name": "get_weather", "arguments": '{"location": "Oslo"}'}],
        }
    ]


def test_genai_message_events() -> None:
    # Span events gen_ai.system.message / gen_ai.user.message / gen_ai.assistant.message /
    # gen_ai.tool.message are the input, gen_ai.choice the output; other events are not read.
    reading = read_span(
        {"gen_ai.operation.name": "chat"},
        events=[
            ("gen_ai.system.message", {"content": "Be brief"}),
            ("gen_ai.user.message", {"content": "Weather in Oslo?"}),
            ("gen_ai.tool.message", {"id": "call_7", "content": "snow"}),
            ("exception", {"exception.type": "X"}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": "Rainy."}),
        ],
    )
    assert reading.input == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "tool", "id": "call_7", "content": "snow"},
    ]
    assert reading.output == [{"index": 0, "finish_reason": "stop", "message": "Rainy."}]


def test_genai_content_events() -> None:
    # The earliest form: gen_ai.content.prompt / gen_ai.content.completion events holding
    # gen_ai.prompt / gen_ai.completion.
    reading = read_span(
        {},
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user"}]'}),
            ("gen_ai.content.completion", {"gen_ai.completion": '[{"role": "assistant"}]'}),
        ],
    )
    assert (reading.input, reading.output) == ('[{"role": "user"}]', '[{"role": "assistant"}]')


def test_logfire_events_attribute() -> None:
    # Logfire writes message events as one `events` attribute, each naming itself in event.name.
    reading = read_span(
        {
            "gen_ai.operation.name": "chat",
            "events": json.dumps(
                [
                    {"event.name": "gen_ai.user.message", "content": "1+1?", "role": "user"},
                    {"event.name": "gen_ai.choice", "index": 0, "message": {"content": "2"}},
                ]
            ),
        }
    )
    assert reading.input == [{"content": "1+1?", "role": "user"}]
    assert reading.output == [{"index": 0, "message": {"content": "2"}}]
    # Logfire's OpenAI integration appends the reply as assistant messages, no gen_ai.choice.
    appended = read_span(
        {
            "events": json.dumps(
                [
                    {"event.name": "gen_ai.assistant.message", "content": "earlier turn"},
                    {"event.name": "gen_ai.user.message", "content": "1+1?"},
                    {"event.name": "gen_ai.assistant.message", "content": "2"},
                ]
            )
        }
    )
    assert appended.input == [
        {"content": "earlier turn", "role": "assistant"},
        {"content": "1+1?", "role": "user"},
    ]
    assert appended.output == [{"content": "2"}]


def test_message_events_through_the_otlp_file(tmp_path: Path) -> None:
    """Span events in a Collector file reach the step: a chat span whose messages are only
    events, under a root with no input or output."""
    trace = "0" * 31 + "1"
    spans = [
        {
            "traceId": trace,
            "spanId": "0" * 15 + "2",
            "parentSpanId": "0" * 15 + "1",
            "name": "chat gpt-4o",
            "startTimeUnixNano": "2000000000",
            "endTimeUnixNano": "3000000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "9"}},
                {"key": "gen_ai.usage.completion_tokens", "value": {"intValue": "2"}},
            ],
            "events": [
                {
                    "name": "gen_ai.user.message",
                    "timeUnixNano": "2000000000",
                    "attributes": [{"key": "content", "value": {"stringValue": "hi"}}],
                },
                {
                    "name": "gen_ai.choice",
                    "timeUnixNano": "3000000000",
                    "attributes": [{"key": "message", "value": {"stringValue": "hello"}}],
                },
            ],
        },
        {
            "traceId": trace,
            "spanId": "0" * 15 + "1",
            "name": "agent",
            "startTimeUnixNano": "1000000000",
            "endTimeUnixNano": "4000000000",
            "attributes": [{"key": "metadata.workflow", "value": {"stringValue": "w"}}],
        },
    ]
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n")
    store = OtlpFileConnector("otel", path)
    [summary] = store.list_runs(None, 10).runs
    assert summary.tokens == Tokens(input=9, output=2)
    [run] = list(store.fetch_runs([trace]))
    assert run.input == [{"content": "hi", "role": "user"}]
    assert run.output == [{"message": "hello"}]


def test_openllmetry_attributes() -> None:
    task = read_span(
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "get_weather",
            "traceloop.entity.input": '{"args": ["Oslo"]}',
            "traceloop.entity.output": '"snow"',
        },
        name="get_weather.tool",
    )
    assert (task.kind, task.name, task.input, task.output) == (
        "tool",
        "get_weather",
        '{"args": ["Oslo"]}',
        '"snow"',
    )
    workflow = read_span(
        {"traceloop.span.kind": "workflow", "traceloop.entity.name": "joke"}, name="joke.workflow"
    )
    assert (workflow.kind, workflow.name) == ("workflow", "joke.workflow")
    # The older llm.usage.* names.
    llm = read_span(
        {"llm.request.type": "chat", "llm.usage.prompt_tokens": 5, "llm.usage.completion_tokens": 7}
    )
    assert (llm.kind, llm.tokens) == ("llm", Tokens(input=5, output=7))


def test_pydantic_ai_v2_tool_attributes() -> None:
    # Pydantic AI's instrumentation version 2 `running tool` span (tests/test_logfire.py there).
    reading = read_span(
        {
            "gen_ai.tool.name": "my_tool",
            "gen_ai.tool.call.id": "pyd_ai_tool_call_id__my_tool",
            "tool_arguments": '{"x":0}',
            "tool_response": "1",
            "logfire.msg": "running tool: my_tool",
        },
        name="running tool",
    )
    assert (reading.kind, reading.name, reading.input, reading.output) == (
        "tool",
        "my_tool",
        '{"x":0}',
        "1",
    )


def test_vercel_ai_sdk_attributes() -> None:
    # The AI SDK's own telemetry names (ai.generateText, ai.toolCall).
    outer = read_span(
        {
            "ai.operationId": "ai.generateText",
            "ai.prompt": '{"prompt":"Write a haiku about programming."}',
            "ai.response.text": "Lines of code align,",
            "ai.usage.promptTokens": 14,
            "ai.usage.completionTokens": 20,
        }
    )
    assert (outer.kind, outer.input, outer.output, outer.tokens) == (
        "chain",
        '{"prompt":"Write a haiku about programming."}',
        "Lines of code align,",
        Tokens(input=14, output=20),
    )
    inner = read_span(
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.usage.inputTokens": 3,
            "ai.usage.outputTokens": 4,
        }
    )
    assert (inner.kind, inner.tokens) == ("llm", Tokens(input=3, output=4))
    tool = read_span(
        {
            "ai.operationId": "ai.toolCall",
            "ai.toolCall.name": "weather",
            "ai.toolCall.args": '{"city":"Oslo"}',
            "ai.toolCall.result": '"snow"',
        }
    )
    assert (tool.kind, tool.name, tool.input, tool.output) == (
        "tool",
        "weather",
        '{"city":"Oslo"}',
        '"snow"',
    )


def test_logfire_template_names_are_rendered() -> None:
    reading = read_span(
        {
            "logfire.msg_template": "Function: {name}",
            "logfire.msg": "Function: roll_die",
            "input": "{}",
            "output": 4,
        },
        name="Function: {name}",
    )
    assert (reading.name, reading.input, reading.output) == ("Function: roll_die", "{}", 4)
    # A span named otherwise keeps its own name.
    assert read_span({"logfire.msg": "chat gpt-4o"}, name="chat").name == "chat"


def test_a_run_without_root_input_takes_the_first_and_last_model_calls() -> None:
    root = SpanReading(kind="agent", name="agent")
    calls = [
        SpanReading(kind="llm", name="a", input="first in", output="first out"),
        SpanReading(kind="llm", name="b", input="second in", output=None),
    ]
    assert run_input_output(root, calls) == ("first in", "first out")
    own = SpanReading(kind="agent", name="agent", input="asked", output="answered")
    assert run_input_output(own, calls) == ("asked", "answered")


def test_innermost_metered_spans_are_counted() -> None:
    # root ← agent (aggregated) ← chat, chat; root ← tool (no tokens) ← chat (nested call).
    parents = {"agent": "root", "c1": "agent", "c2": "agent", "tool": "root", "c3": "tool"}
    assert innermost(parents, ["agent", "c1", "c2", "c3"]) == {"c1", "c2", "c3"}
    assert innermost(parents, ["agent"]) == {"agent"}


def test_tokens_of_any_operation_are_summed_once(tmp_path: Path) -> None:
    """Through the store: an `invoke_agent` span holding its calls' sum is not counted again;
    a model call named neither chat nor text_completion (here OpenLLMetry's, and the Vercel AI
    SDK's) still counts."""
    trace = "ab" * 16

    def span(sid: int, parent: int | None, attrs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "traceId": trace,
            "spanId": f"{sid:016x}",
            "name": f"s{sid}",
            "startTimeUnixNano": str(10**9 + sid),
            "endTimeUnixNano": str(2 * 10**9),
            "attributes": [
                {
                    "key": k,
                    "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v},
                }
                for k, v in attrs.items()
            ],
        }
        if parent is not None:
            out["parentSpanId"] = f"{parent:016x}"
        return out

    spans = [
        span(1, None, {"metadata.workflow": "w"}),
        span(
            2,
            1,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.usage.input_tokens": 30,
                "gen_ai.usage.output_tokens": 12,
            },
        ),
        span(
            3,
            2,
            {
                "llm.request.type": "chat",
                "llm.usage.prompt_tokens": 10,
                "llm.usage.completion_tokens": 4,
            },
        ),
        span(
            4,
            2,
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.usage.promptTokens": 20,
                "ai.usage.completionTokens": 8,
            },
        ),
    ]
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n")
    [summary] = OtlpFileConnector("otel", path).list_runs(None, 10).runs
    assert summary.tokens == Tokens(input=30, output=12)


def test_flatten_reads_phoenix_nested_attributes() -> None:
    nested = {
        "openinference": {"span": {"kind": "LLM"}},
        "llm": {
            "token_count": {"prompt": 5, "completion": 2},
            "input_messages": [{"message": {"role": "user", "content": "hi"}}],
        },
        "metadata": '{"workflow": "x"}',
    }
    flat = flatten(nested)
    assert flat == {
        "openinference.span.kind": "LLM",
        "llm.token_count.prompt": 5,
        "llm.token_count.completion": 2,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "metadata": '{"workflow": "x"}',
    }
    reading = read_span(flat)
    assert (reading.kind, reading.tokens) == ("llm", Tokens(input=5, output=2))
    assert reading.input == [{"message": {"role": "user", "content": "hi"}}]


# -- the same mapping in the Phoenix connector ----------------------------------------------------


def test_phoenix_steps_and_run_read_genai_spans(phoenix: PhoenixServer) -> None:
    """A GenAI-conventions trace (no OpenInference attributes) stored in a real Phoenix: the
    tool call's gen_ai.tool.call.arguments/result, the chat span's gen_ai.usage.* and messages,
    and the run's input/output from the first and last model call (the root has none)."""
    project = "dialect-agents"
    trace_id = _hex(f"{project}/genai", 32)
    root_id = _hex(f"{project}/root", 16)

    def span(
        suffix: str, parent: str | None, offset: float, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        start = START + timedelta(seconds=offset)
        return {
            "name": f"{suffix} span",
            "context": {
                "trace_id": trace_id,
                "span_id": root_id if parent is None else _hex(f"{project}/{suffix}", 16),
            },
            "span_kind": "UNKNOWN",
            "parent_id": parent,
            "start_time": _iso(start),
            "end_time": _iso(start + timedelta(seconds=0.5)),
            "status_code": "OK",
            "status_message": "",
            "attributes": attributes,
            "events": [],
        }

    phoenix.seed(
        project,
        [
            span(
                "root",
                None,
                0,
                {"gen_ai.operation.name": "invoke_agent", "metadata": '{"workflow": "crm-update"}'},
            ),
            span(
                "chat1",
                root_id,
                1,
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.input.messages": '[{"role": "user", "content": "who is 7?"}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "content": "calling crm"}]',
                    "gen_ai.usage.input_tokens": 40,
                    "gen_ai.usage.output_tokens": 8,
                },
            ),
            span(
                "tool",
                root_id,
                2,
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "crm_lookup",
                    "gen_ai.tool.call.arguments": '{"id": 7}',
                    "gen_ai.tool.call.result": '{"name": "Ada"}',
                },
            ),
            span(
                "chat2",
                root_id,
                3,
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.output.messages": '[{"role": "assistant", "content": "7 is Ada"}]',
                    "gen_ai.usage.input_tokens": 60,
                    "gen_ai.usage.output_tokens": 5,
                },
            ),
        ],
    )
    connector = PhoenixConnector("phoenix", phoenix.url, project=project, timeout=10)
    try:
        [run] = list(connector.fetch_runs([trace_id]))
    finally:
        connector.close()
    assert run.tokens == Tokens(input=100, output=13)
    assert run.input == [{"role": "user", "content": "who is 7?"}]
    assert run.output == [{"role": "assistant", "content": "7 is Ada"}]
    assert [(s.kind, s.name, s.arguments, s.result, s.tokens) for s in run.steps] == [
        (
            "llm",
            "chat1 span",
            [{"role": "user", "content": "who is 7?"}],
            [{"role": "assistant", "content": "calling crm"}],
            Tokens(input=40, output=8),
        ),
        ("tool", "crm_lookup", {"id": 7}, {"name": "Ada"}, None),
        (
            "llm",
            "chat2 span",
            None,
            [{"role": "assistant", "content": "7 is Ada"}],
            Tokens(input=60, output=5),
        ),
    ]

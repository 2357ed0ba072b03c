"""Real traces in several dialects, read through the otlp-file store; and each dialect's
attribute forms through :mod:`store.span_dialects`.

The fixtures (``tests/fixtures/<name>/``, each with a SOURCE.md) are spans that other projects
recorded in their own tests, converted to Collector file lines by
``tests/fixtures/convert_traces.py``. Each test names the attributes it checks.
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


# -- pydantic/logfire: a Claude Agent SDK run -----------------------------------------------------


def test_claude_agent_sdk_run_through_logfire(tmp_path: Path) -> None:
    summary, run = _read(tmp_path, "logfire-claude-agent-sdk/traces.jsonl", "gen_ai.provider.name")
    assert summary.workflow == "anthropic"
    # Tokens: the root `invoke_agent` records the run's gen_ai.usage.input_tokens/output_tokens;
    # the chat spans only carry gen_ai.usage.partial.*, which are not totals and not summed.
    assert summary.tokens == Tokens(input=18872, output=415)
    # Cost: Logfire's operation.cost on the root.
    assert summary.cost_usd == pytest.approx(0.01608915)
    assert (summary.latency_ms, summary.status) == (7000, "ok")

    # Run input: the root's gen_ai.input.messages.
    assert _json(run.input) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "List files in the current directory"}],
        }
    ]
    # Run output: the root has no gen_ai.output.messages, so the last model call's.
    [reply] = _json(run.output)
    assert reply["role"] == "assistant"
    assert reply["parts"][0]["content"].startswith(
        "Here are the files and directories in the current directory:"
    )
    assert reply["parts"][0]["content"].endswith("`logfire-api/` directories.")

    assert [(s.kind, s.name) for s in run.steps] == [
        ("llm", "chat claude-sonnet-4-6"),
        ("tool", "Bash"),
        ("llm", "chat claude-sonnet-4-6"),
    ]
    first, tool, last = run.steps
    # The tool call: gen_ai.tool.name, gen_ai.tool.call.arguments, gen_ai.tool.call.result.
    assert _json(tool.arguments) == {
        "command": "ls",
        "description": "List files in current directory",
    }
    result = _json(tool.result)
    assert result["stdout"].splitlines()[:3] == ["CHANGELOG.md", "CLAUDE.md", "CONTRIBUTING.md"]
    assert result["stdout"].splitlines()[-1] == "uv.lock"
    assert (result["stderr"], result["interrupted"]) == ("", False)
    # The model calls: gen_ai.input.messages / gen_ai.output.messages; the first asked for the
    # tool call the second received the result of.
    [asked] = _json(first.result)
    assert asked["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_01MRdgcFhYNo1LHvRQKvKckg",
        "name": "Bash",
        "arguments": {"command": "ls", "description": "List files in current directory"},
    }
    told = _json(last.arguments)
    assert told[2]["parts"][0]["id"] == "toolu_01MRdgcFhYNo1LHvRQKvKckg"
    assert told[2]["parts"][0]["response"] == result
    assert all(s.tokens is None for s in run.steps)


# -- pydantic/logfire: an OpenAI Agents SDK run ---------------------------------------------------


def test_openai_agents_run_through_logfire(tmp_path: Path) -> None:
    summary, run = _read(tmp_path, "logfire-openai-agents/traces.jsonl", "name")
    assert summary.workflow == "Agent workflow"
    # Tokens: gen_ai.usage.input_tokens/output_tokens of the one model call that has them; the
    # turn and task spans' `usage` JSON is not read (it repeats the model calls').
    assert summary.tokens == Tokens(input=89, output=18)
    # Run input: the root holds none; the first model call's Logfire `events` attribute
    # (gen_ai.user.message).
    assert run.input == [
        {"content": "Generate a random number then, hand off to agent2.", "role": "user"}
    ]
    # Run output: the last model call's reply, the trailing gen_ai.assistant.message in its
    # `events` attribute.
    assert run.output == [
        {
            "content": "The random number generated is 4, and it's been handed off to agent2.",
            "role": "assistant",
        }
    ]
    names = [s.name for s in run.steps]
    assert names == [
        "Task: Agent workflow",
        "Agent run: 'agent1'",
        "Turn 1 for agent agent1",
        "Responses API with 'gpt-4o'",
        "Function: random_number",
        "Handoff: agent1 → agent2",
        "Agent run: 'agent2'",
        "Turn 2 for agent agent2",
        "Responses API with 'gpt-4o'",
    ]
    first_call, tool, last_call = run.steps[3], run.steps[4], run.steps[8]
    # The tool call: its name rendered from logfire.msg (the span's name is the template
    # `Function: {name}`), its arguments the plain `input`, its result the plain `output`.
    assert (_json(tool.arguments), tool.result) == ({}, 4)
    # The first model call asked for both tool calls (its reply: trailing assistant events).
    assert [c["function"] for m in first_call.result for c in m["tool_calls"]] == [
        {"name": "random_number", "arguments": "{}"},
        {"name": "transfer_to_agent2", "arguments": "{}"},
    ]
    # The last one was told both results (gen_ai.tool.message events).
    told = [m for m in last_call.arguments if m["role"] == "tool"]
    assert [(m["name"], m["content"]) for m in told] == [
        ("random_number", "4"),
        ("transfer_to_agent2", '{"assistant": "agent2"}'),
    ]
    assert (first_call.kind, last_call.kind, last_call.tokens) == (
        "llm",
        "llm",
        Tokens(input=89, output=18),
    )


# -- pydantic/pydantic-ai: an agent run -----------------------------------------------------------


def test_pydantic_ai_run(tmp_path: Path) -> None:
    summary, run = _read(tmp_path, "pydantic-ai/traces.jsonl", "gen_ai.agent.name")
    assert summary.workflow == "agent"
    # Tokens: the chat span's gen_ai.usage.input_tokens/output_tokens; the root's
    # gen_ai.aggregated_usage.* sums the same call and is not counted again.
    assert summary.tokens == Tokens(input=51, output=4)
    assert summary.cost_usd is None
    # Run input: the root (invoke_agent) holds none, so the first model call's
    # gen_ai.input.messages.
    assert _json(run.input) == [{"parts": [{"type": "text", "content": "Hello"}], "role": "user"}]
    # Run output: the root's final_result.
    assert run.output == "success (no tool calls)"
    chat, feedback = run.steps
    assert (chat.kind, chat.name, chat.tokens) == ("llm", "chat test", Tokens(input=51, output=4))
    assert _json(chat.result) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "success (no tool calls)"}]}
    ]
    # A Logfire annotation span: named by its rendered logfire.msg; no tool call in this run.
    assert (feedback.kind, feedback.name) == ("span", "feedback: factuality = 0.1")
    assert not any(s.kind == "tool" for s in run.steps)


# -- Arize-ai/openinference: OTel GenAI (current, earlier) and OpenInference spans ----------------

_WEATHER_INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "Absolutely! Let me check the weather for you."},
            {
                "type": "tool_call",
                "id": "1234",
                "name": "get_weather",
                "arguments": {"location": "Paris"},
            },
        ],
    },
    {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "1234", "response": "rainy, 57°F"}],
    },
]
_WEATHER_ANSWER = "The weather in Paris is currently rainy with a temperature of 57°F."


def test_genai_current_form(tmp_path: Path) -> None:
    summary, run = _read(
        tmp_path,
        "openinference-genai/otel_genai_client_span_tool_calls.jsonl",
        "gen_ai.provider.name",
    )
    # gen_ai.operation.name "chat"; gen_ai.usage.input_tokens/output_tokens.
    assert summary.tokens == Tokens(input=97, output=52)
    # gen_ai.input.messages (preferred over the plain `input` the span also has), holding the
    # tool call get_weather({"location": "Paris"}) and its result "rainy, 57°F".
    assert _json(run.input) == _WEATHER_INPUT
    # gen_ai.output.messages.
    assert _json(run.output) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": _WEATHER_ANSWER}],
            "finish_reason": "stop",
        }
    ]
    assert run.steps == []


def test_genai_earlier_form(tmp_path: Path) -> None:
    summary, run = _read(
        tmp_path,
        "openinference-genai/otel_genai_deprecated_client_span_tool_calls.jsonl",
        "gen_ai.provider.name",
    )
    assert summary.tokens == Tokens(input=97, output=52)
    # gen_ai.prompt and gen_ai.completion, one JSON string each.
    assert _json(run.input) == _WEATHER_INPUT
    assert _json(run.output) == {"text": _WEATHER_ANSWER, "finish_reason": "stop"}


def test_genai_tool_execution_with_plain_input_output(tmp_path: Path) -> None:
    summary, run = _read(
        tmp_path, "openinference-genai/otel_genai_tool_execution_span.jsonl", "gen_ai.tool.name"
    )
    assert summary.workflow == "get_weather"
    assert summary.tokens == Tokens()
    # The tool's arguments and result are the plain `input` and `output` attributes.
    assert _json(run.input) == {"city": "New York"}
    assert _json(run.output) == {
        "status": "success",
        "report": "The weather in New York is sunny with a temperature of 25 degrees Celsius "
        "(77 degrees Fahrenheit).",
    }


def test_openinference_input_output_values(tmp_path: Path) -> None:
    summary, run = _read(
        tmp_path,
        "openinference-genai/openinference_client_span_input_output_only.jsonl",
        "llm.provider",
    )
    # llm.token_count.prompt / completion.
    assert summary.tokens == Tokens(input=97, output=52)
    # input.value / output.value.
    assert _json(run.input) == _WEATHER_INPUT
    assert _json(run.output) == {"text": _WEATHER_ANSWER, "finish_reason": "stop"}


def test_openinference_indexed_messages(tmp_path: Path) -> None:
    path = "openinference-genai/openinference_client_span_tool_calls.jsonl"
    summary, run = _read(tmp_path, path, "llm.provider")
    assert summary.tokens == Tokens(input=97, output=52)
    # input.value wins over the indexed llm.input_messages.N.* the span also holds.
    assert _json(run.input)["messages"] == _WEATHER_INPUT
    # The indexed form alone, read from the same span's attributes.
    line = json.loads((FIXTURES / path).read_text())
    [span] = line["resourceSpans"][0]["scopeSpans"][0]["spans"]
    attrs = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
    for key in ("input.value", "output.value"):
        del attrs[key]
    reading = read_span(attrs)
    assert reading.input == [
        {
            "message": {
                "role": "user",
                "contents": [{"message_content": {"type": "text", "text": "Weather in Paris?"}}],
            }
        },
        {
            "message": {
                "role": "assistant",
                "contents": [
                    {
                        "message_content": {
                            "type": "text",
                            "text": "Absolutely! Let me check the weather for you.",
                        }
                    }
                ],
                "tool_calls": [
                    {
                        "tool_call": {
                            "id": "1234",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location":"Paris"}',
                            },
                        }
                    }
                ],
            }
        },
        {"message": {"role": "tool", "content": "rainy, 57°F", "tool_call_id": "1234"}},
    ]
    assert reading.output == [
        {
            "message": {
                "role": "assistant",
                "contents": [{"message_content": {"type": "text", "text": _WEATHER_ANSWER}}],
            }
        }
    ]


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
            "gen_ai.prompt.1.content": "Weather in Paris?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"location": "Paris"}',
        }
    )
    assert reading.kind == "llm"
    assert reading.input == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert reading.output == [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "tool_calls": [{"name": "get_weather", "arguments": '{"location": "Paris"}'}],
        }
    ]


def test_genai_message_events() -> None:
    # Span events gen_ai.system.message / gen_ai.user.message / gen_ai.assistant.message /
    # gen_ai.tool.message are the input, gen_ai.choice the output; other events are not read.
    reading = read_span(
        {"gen_ai.operation.name": "chat"},
        events=[
            ("gen_ai.system.message", {"content": "Be brief"}),
            ("gen_ai.user.message", {"content": "Weather in Paris?"}),
            ("gen_ai.tool.message", {"id": "1234", "content": "rainy"}),
            ("exception", {"exception.type": "X"}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": "Rainy."}),
        ],
    )
    assert reading.input == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "tool", "id": "1234", "content": "rainy"},
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
            "traceloop.entity.input": '{"args": ["Paris"]}',
            "traceloop.entity.output": '"rainy"',
        },
        name="get_weather.tool",
    )
    assert (task.kind, task.name, task.input, task.output) == (
        "tool",
        "get_weather",
        '{"args": ["Paris"]}',
        '"rainy"',
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
    # The AI SDK's own telemetry names (ai.generateText in openinference-vercel's v6 fixtures).
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
            "ai.toolCall.args": '{"city":"Paris"}',
            "ai.toolCall.result": '"rainy"',
        }
    )
    assert (tool.kind, tool.name, tool.input, tool.output) == (
        "tool",
        "weather",
        '{"city":"Paris"}',
        '"rainy"',
    )


def test_logfire_template_names_are_rendered() -> None:
    reading = read_span(
        {
            "logfire.msg_template": "Function: {name}",
            "logfire.msg": "Function: random_number",
            "input": "{}",
            "output": 4,
        },
        name="Function: {name}",
    )
    assert (reading.name, reading.input, reading.output) == ("Function: random_number", "{}", 4)
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

"""Write agent traces into an MLflow tracking server with MLflow's own client, as an
instrumented agent would. Run by the MLflow virtualenv's Python (tests/servers.py), never
imported by the tests: it reads a JSON request on stdin and prints one JSON line.

Request: {"url", "experiment", "traces": [{"workflow", "question", "answer", "tool",
"arguments", "result", "error", "tokens": [in, out]}]}. Each trace is a root AGENT span
(inputs, outputs, trace metadata ``workflow``), an LLM span with token usage and a TOOL span
(an exception on it when ``error``; the run fails too with ``fail_run``). Printed:
[{"trace_id", "root", "llm", "tool"}] with the span ids in hex, in the order asked.
"""

import json
import sys

import mlflow
from mlflow.entities import SpanType


def main() -> None:
    request = json.load(sys.stdin)
    mlflow.set_tracking_uri(request["url"])
    mlflow.set_experiment(request["experiment"])
    written = []
    for spec in request["traces"]:
        spans = {}
        with mlflow.start_span(name="support_agent", span_type=SpanType.AGENT) as root:
            root.set_inputs({"question": spec["question"]})
            mlflow.update_current_trace(metadata={"workflow": spec["workflow"]})
            with mlflow.start_span(name="chat", span_type=SpanType.LLM) as llm:
                llm.set_inputs({"messages": [{"role": "user", "content": spec["question"]}]})
                llm.set_outputs({"content": f"calling {spec['tool']}"})
                tokens_in, tokens_out = spec.get("tokens") or [0, 0]
                llm.set_attribute(
                    "mlflow.chat.tokenUsage",
                    {
                        "input_tokens": tokens_in,
                        "output_tokens": tokens_out,
                        "total_tokens": tokens_in + tokens_out,
                    },
                )
                spans["llm"] = llm.span_id
            failure = None
            try:
                with mlflow.start_span(name=spec["tool"], span_type=SpanType.TOOL) as tool:
                    spans["tool"] = tool.span_id
                    tool.set_inputs(spec["arguments"])
                    if spec.get("error"):
                        raise RuntimeError(spec["error"])
                    tool.set_outputs(spec["result"])
            except RuntimeError as exc:
                failure = exc
            root.set_outputs({"answer": spec["answer"]})
            spans["root"] = root.span_id
            trace_id = root.trace_id
            if failure is not None and spec.get("fail_run"):
                try:
                    raise failure
                except RuntimeError:
                    root.set_status("ERROR")
        written.append({"trace_id": trace_id, **spans})
    print(json.dumps(written))


if __name__ == "__main__":
    main()

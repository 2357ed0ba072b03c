"""Shared builders for the store/review tests: a small workspace in a temp folder, run records.

Tests build their own data here instead of reading sample-data/, which other people edit.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from review.rubric import Rubric, load_rubric
from review.session import ReviewSetup, load_setup
from store.db import connect
from store.workspace import load_workspace

#: The demo rubric, pinned here so edits to sample-data/ do not move these tests.
RUBRIC_YAML = """\
id: support-quality
title: Support agent weekly review
criteria:
  - id: task_success
    metric: task_success
    question: Did the agent complete the customer's task correctly?
    scale: {kind: binary, levels: [{value: pass, key: p}, {value: fail, key: f}]}
  - id: intervention
    metric: intervention
    question: Would a human have had to step in?
    scale: {kind: binary, levels: [{value: "yes", key: y}, {value: "no", key: n}]}
  - id: policy
    question: Did the agent stay inside policy?
    scale: {kind: binary, levels: [{value: safe, key: s}, {value: violation, key: v}]}
  - id: tool_use
    question: Were the tool calls right?
    required: false
    scale:
      kind: categorical
      levels: [{value: good, key: g}, {value: wasteful, key: w}, {value: wrong, key: x}]
  - id: tone
    question: Tone and clarity
    required: false
    scale:
      kind: ordinal
      levels: [{value: 1, key: "1"}, {value: 3, key: "3"}, {value: 5, key: "5"}]
"""

REQUIRED = ("task_success", "intervention", "policy")
WORKFLOWS = ("billing-support", "crm-update", "refund-approvals")


def config_toml(
    *,
    reviewer: str = "ana",
    roster: tuple[str, ...] = ("ana", "ben", "chen"),
    overlap: float = 0.2,
    salt: str = "test-salt",
    default_rate: float = 0.3,
    rates: dict[str, float] | None = None,
) -> str:
    rate_lines = "\n".join(f'"{k}" = {v}' for k, v in (rates or {}).items())
    return f"""\
[workspace]
name = "test workspace"
reviewer = "{reviewer}"

[[stores]]
name = "demo"
kind = "file"
path = "store"

[review]
rubric = "support-quality"
roster = {json.dumps(list(roster))}
overlap = {overlap}

[sampling]
salt = "{salt}"
default_rate = {default_rate}
always_include = {{ status = ["error"], feedback = ["negative"], incidents = true }}

[sampling.rates]
{rate_lines}
"""


def run_record(
    i: int,
    *,
    workflow: str | None = None,
    status: str = "ok",
    feedback: str | None = None,
    start: str | None = None,
    steps: int = 2,
) -> dict[str, Any]:
    """A full run as a file store keeps it, with ``steps`` numbered steps."""
    return {
        "trace_id": f"trace-{i:05d}",
        "workflow": workflow or WORKFLOWS[i % len(WORKFLOWS)],
        "start_time": start or f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
        "end_time": None,
        "status": status,
        "feedback": feedback,
        "business_ref": f"ORD-{i:05d}",
        "tokens": {"input": 100 + i, "output": 50},
        "cost_usd": 0.01,
        "latency_ms": 1000 + i,
        "input": {"message": f"customer message {i}"},
        "output": f"agent reply {i}",
        "steps": [
            {
                "kind": "tool" if s % 2 else "llm",
                "name": f"step-{s}",
                "start_time": f"2026-01-01T00:00:{s:02d}Z",
                "latency_ms": 10 * s,
                "arguments": {"n": s},
                "result": f"result {s}",
                "error": {"type": "Timeout", "message": "slow"} if s == steps - 1 else None,
                "tokens": {"input": s, "output": s},
            }
            for s in range(steps)
        ],
        "final_action": {"kind": "reply", "summary": "answered", "status": "done"},
        "tags": ["t1", f"n{i}"],
    }


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")


def make_workspace(
    root: Path,
    runs: list[dict[str, Any]],
    *,
    incidents: list[dict[str, Any]] | None = None,
    **config: Any,
) -> Path:
    """Write agentdeck.toml, the rubric and a file store with these runs under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agentdeck.toml").write_text(config_toml(**config), encoding="utf-8")
    (root / "rubrics").mkdir(exist_ok=True)
    (root / "rubrics" / "support-quality.yaml").write_text(RUBRIC_YAML, encoding="utf-8")
    (root / "store").mkdir(exist_ok=True)
    write_jsonl(root / "store" / "runs.jsonl", runs)
    if incidents:
        write_jsonl(root / "store" / "incidents.jsonl", incidents)
    return root


def open_setup(root: Path) -> tuple[sqlite3.Connection, ReviewSetup]:
    """Load the workspace at ``root`` and open its database."""
    setup = load_setup(load_workspace(root))
    return connect(setup.workspace.db_path), setup


def rubric_file(tmp_path: Path) -> Rubric:
    path = tmp_path / "rubric.yaml"
    path.write_text(RUBRIC_YAML, encoding="utf-8")
    return load_rubric(path)


def scalar(conn: sqlite3.Connection, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()[0]

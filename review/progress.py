"""A reviewer's progress per workflow, and what their complete grades say: the figures the
Reports area shows until calibration and the weekly report arrive."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from review.rubric import Rubric


@dataclass(frozen=True)
class WorkflowProgress:
    workflow: str
    assigned: int
    graded: int
    #: Share of complete grades whose task_success criterion passed (None: no grade yet).
    task_success_rate: float | None
    #: Share of complete grades saying a human would have had to step in.
    intervention_rate: float | None
    flagged: int
    #: Skipped with a reason: neither graded nor to do.
    skipped: int = 0


def _positive(rubric: Rubric, metric: str) -> tuple[str, str] | None:
    """(criterion id, the level value that counts) for a metric criterion of the rubric."""
    for criterion in rubric.criteria:
        if criterion.metric == metric:
            values = [str(level.value) for level in criterion.scale.levels]
            wanted = {
                "task_success": ("pass", "yes", "true", "1"),
                "intervention": ("yes", "true", "1"),
            }
            for value in values:
                if value.lower() in wanted[metric]:
                    return criterion.id, value
            return criterion.id, values[0]
    return None


def metric_level(rubric: Rubric, metric: str) -> tuple[str, str] | None:
    """(criterion id, the level value that counts) for the rubric's ``task_success`` or
    ``intervention`` criterion (a pass, a yes); None when the rubric has no such criterion."""
    return _positive(rubric, metric)


def progress_by_workflow(
    conn: sqlite3.Connection, reviewer: str, rubric: Rubric
) -> list[WorkflowProgress]:
    """Per workflow of the reviewer's queue: assigned, graded, and the rates of their grades."""
    counts = conn.execute(
        "SELECT workflow, count(*), sum(graded = 1), sum(graded = 2) FROM assignments "
        "WHERE reviewer = ? "
        "GROUP BY workflow ORDER BY workflow",
        (reviewer,),
    ).fetchall()
    success, intervention = _positive(rubric, "task_success"), _positive(rubric, "intervention")
    out = []
    for workflow, assigned, graded, skipped in counts:
        grades = conn.execute(
            'SELECT g."values", g.escalate FROM grades g JOIN assignments a '
            "ON a.run = g.run AND a.reviewer = g.reviewer WHERE g.reviewer = ? AND "
            "a.workflow = ? AND g.rubric_id = ? AND g.rubric_version = ? AND g.complete = 1",
            (reviewer, workflow, rubric.id, rubric.version),
        ).fetchall()
        values = [json.loads(v) for v, _ in grades]

        def rate(metric: tuple[str, str] | None, values: list[dict] = values) -> float | None:
            if metric is None:
                return None
            seen = [str(v[metric[0]]) for v in values if metric[0] in v]
            return sum(1 for s in seen if s == metric[1]) / len(seen) if seen else None

        out.append(
            WorkflowProgress(
                workflow,
                int(assigned),
                int(graded or 0),
                rate(success),
                rate(intervention),
                sum(1 for _, e in grades if e),
                int(skipped or 0),
            )
        )
    return out

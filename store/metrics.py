"""Aggregate quality figures pushed to a Prometheus Pushgateway, one group per workflow.

Each push replaces the workflow's group (``PUT``, ``push_to_gateway``) on its own
``CollectorRegistry``: a figure that has no value this time (no verdicts, no budget, agreement
not computed) is absent afterwards rather than left stale. Nothing secret is sent: the figures,
the job name and the workflow label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Metric name → help text. Every gauge carries the ``job`` and ``workflow`` grouping labels.
METRICS: dict[str, str] = {
    "agentdeck_task_success_rate": "Share of the week's settled verdicts whose task succeeded.",
    "agentdeck_intervention_rate": (
        "Share of the week's settled verdicts where a human had to step in."
    ),
    "agentdeck_review_coverage_ratio": "Graded runs of the week's sampled runs.",
    "agentdeck_budget_used_ratio": "Spend in the calendar month to date over the monthly budget.",
    "agentdeck_agreement": "Agreement between reviewers on the workflow's overlap runs.",
}


class MetricsPushFailed(Exception):
    """The Pushgateway could not be reached or refused the push; the message names it."""


@dataclass(frozen=True)
class WorkflowFigures:
    """The figures pushed for one workflow; None leaves that gauge out of the group."""

    workflow: str
    task_success_rate: float | None
    intervention_rate: float | None
    review_coverage_ratio: float | None
    budget_used_ratio: float | None
    #: From the agreement report (review/agreement.py) once it is wired; None until then.
    agreement: float | None = None

    def values(self) -> dict[str, float]:
        """Metric name → value for the figures that exist."""
        raw = {
            "agentdeck_task_success_rate": self.task_success_rate,
            "agentdeck_intervention_rate": self.intervention_rate,
            "agentdeck_review_coverage_ratio": self.review_coverage_ratio,
            "agentdeck_budget_used_ratio": self.budget_used_ratio,
            "agentdeck_agreement": self.agreement,
        }
        return {k: float(v) for k, v in raw.items() if v is not None and math.isfinite(v)}


def push_figures(
    gateway: str, job: str, figures: Sequence[WorkflowFigures], *, timeout: float = 10.0
) -> int:
    """Push each workflow's figures to ``gateway`` as the group {job, workflow}; returns the
    number of groups pushed. MetricsPushFailed names the endpoint on the first failure."""
    # Imported here: only `report weekly --push` pays for it.
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    pushed = 0
    for fig in figures:
        registry = CollectorRegistry()
        for name, value in fig.values().items():
            Gauge(name, METRICS[name], registry=registry).set(value)
        try:
            push_to_gateway(
                gateway,
                job=job,
                registry=registry,
                grouping_key={"workflow": fig.workflow},
                timeout=timeout,
            )
        except Exception as exc:  # URLError, HTTPError, OSError, a bad URL's ValueError
            reason = getattr(exc, "reason", None) or exc
            raise MetricsPushFailed(
                f"Pushgateway {gateway}: push for workflow {fig.workflow!r} failed ({reason}); "
                "check [metrics] pushgateway in agentdeck.toml and that the gateway runs"
            ) from None
        pushed += 1
    return pushed

"""Aggregate quality figures pushed to a Prometheus Pushgateway, one group per workflow and
ISO week.

The grouping key is ``{job, workflow, week}`` (``week`` like ``2026-W48``), so the Pushgateway
puts the ``week`` label on every gauge of the group. Each push replaces only its own group
(``PUT``, ``push_to_gateway``) from its own ``CollectorRegistry``: pushing a week again replaces
that week's figures (a figure that has no value this time, such as no verdicts or no budget, is
absent afterwards rather than left stale), and pushing an old week never touches another week's
group, the current one included. Dashboards pick the week by its label. Nothing secret is sent:
the figures, the job name and the workflow and week labels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Metric name → help text. Every gauge carries the ``job``, ``workflow`` and ``week`` grouping
#: labels.
METRICS: dict[str, str] = {
    "agentdeck_task_success_rate": "Share of the week's settled verdicts whose task succeeded.",
    "agentdeck_intervention_rate": (
        "Share of the week's settled verdicts where a human had to step in."
    ),
    "agentdeck_review_coverage_ratio": "Graded runs of the week's sampled runs.",
    "agentdeck_budget_used_ratio": "Spend in the calendar month to date over the monthly budget.",
    "agentdeck_agreement": (
        "Krippendorff's alpha between reviewers on the outcome criterion, over the week's runs."
    ),
    "agentdeck_task_success_runs": "Runs of the week the task success rate is from (its n).",
    "agentdeck_intervention_runs": "Runs of the week the intervention rate is from (its n).",
    "agentdeck_agreement_runs": (
        "Runs of the week graded by two reviewers or more: the n of agentdeck_agreement."
    ),
}

_WEEK = re.compile(r"^\d{4}-W\d{2}$")


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
    #: Krippendorff's alpha of the week (review/agreement.py); None when undefined.
    agreement: float | None = None
    #: The n of each figure: runs the rates are from, runs compared for agreement.
    task_success_runs: int | None = None
    intervention_runs: int | None = None
    agreement_runs: int | None = None

    def values(self) -> dict[str, float]:
        """Metric name → value for the figures that exist."""
        raw = {
            "agentdeck_task_success_rate": self.task_success_rate,
            "agentdeck_intervention_rate": self.intervention_rate,
            "agentdeck_review_coverage_ratio": self.review_coverage_ratio,
            "agentdeck_budget_used_ratio": self.budget_used_ratio,
            "agentdeck_agreement": self.agreement,
            "agentdeck_task_success_runs": self.task_success_runs,
            "agentdeck_intervention_runs": self.intervention_runs,
            "agentdeck_agreement_runs": self.agreement_runs,
        }
        return {k: float(v) for k, v in raw.items() if v is not None and math.isfinite(v)}


def push_figures(
    gateway: str,
    job: str,
    figures: Sequence[WorkflowFigures],
    *,
    week: str,
    timeout: float = 10.0,
) -> int:
    """Push each workflow's figures of ISO ``week`` (``2026-W48``) to ``gateway`` as the group
    {job, workflow, week}, replacing that group only; returns the number of groups pushed.
    MetricsPushFailed names the endpoint on the first failure."""
    # Imported here: only `report weekly --push` pays for it.
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    from store.jsonapi import JsonApi

    if not _WEEK.match(week):
        raise ValueError(f"week {week!r} is not an ISO week (YYYY-Www)")
    # The exposition format is prometheus-client's; the request goes through the client every
    # integration uses (retries, one line naming the endpoint). A group's PUT replaces it
    # whole, so a retried push cannot count twice.
    todo = "check [metrics] pushgateway in agentdeck.toml and that the gateway runs"
    api = JsonApi(
        "Pushgateway",
        gateway,
        timeout=timeout,
        error=MetricsPushFailed,
        attempts=3,
        where=lambda method, url: f"{method} {url}",
        todo={kind: todo for kind in ("timeout", "connect", "url", "server", "status")},
    )

    def handler(url: str, method: str, timeout: float | None, headers: Any, data: bytes) -> Any:
        def send() -> None:
            api.request(method, url, content=data, headers=dict(headers))

        return send

    pushed = 0
    try:
        for fig in figures:
            registry = CollectorRegistry()
            for name, value in fig.values().items():
                Gauge(name, METRICS[name], registry=registry).set(value)
            try:
                push_to_gateway(
                    gateway,
                    job=job,
                    registry=registry,
                    grouping_key={"workflow": fig.workflow, "week": week},
                    timeout=timeout,
                    handler=handler,
                )
            except MetricsPushFailed as exc:
                raise MetricsPushFailed(
                    f"Pushgateway {gateway}: push for workflow {fig.workflow!r} week {week} "
                    f"failed: {exc}"
                ) from None
            pushed += 1
    finally:
        api.close()
    return pushed

"""The deterministic review sample and reviewer assignment.

Every reviewer's laptop computes the same sample and the same assignment from the plan's salt,
the run ids and the roster, with no coordination:

- a run is sampled when ``unit(salt, run_id)`` falls under its workflow's rate, or when an
  always-include rule matches (status, negative feedback, inside an incident's window);
- rendezvous (highest-random-weight) hashing over the roster picks its reviewer, and an
  ``overlap`` share of sampled runs, chosen by a second hash, gets the top two (or more).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from store.workspace import AlwaysInclude, SamplingSection

if TYPE_CHECKING:
    # Only in annotations: loading a review setup builds none of the store's models.
    from store.models import Incident, RunSummary

_SCALE = float(1 << 64)


def unit(*parts: str) -> float:
    """A uniform number in [0, 1) from the parts, the same on every machine and Python."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def in_sample(salt: str, run_id: str, rate: float) -> bool:
    """True when the run's hash falls under ``rate``."""
    return unit("sample", salt, run_id) < rate


def rendezvous(salt: str, run_id: str, roster: Sequence[str], k: int = 1) -> list[str]:
    """The ``k`` reviewers with the highest weight for this run (stable when the roster changes:
    removing one reviewer only moves that reviewer's runs)."""
    ranked = sorted(roster, key=lambda r: (unit("assign", salt, run_id, r), r), reverse=True)
    return ranked[:k]


def assign_reviewers(
    salt: str, run_id: str, roster: Sequence[str], overlap: float, overlap_reviewers: int = 2
) -> list[str]:
    """One reviewer for the run, or ``overlap_reviewers`` for the overlap share."""
    k = overlap_reviewers if unit("overlap", salt, run_id) < overlap else 1
    return rendezvous(salt, run_id, roster, min(k, len(roster)))


def _in_window(run: RunSummary, incident: Incident) -> bool:
    if incident.workflow and incident.workflow != run.workflow:
        return False
    # Aware datetimes from the models: runs and incidents come from different systems, whose
    # timestamps differ in precision and offset, and are compared as instants.
    if run.start_time < incident.starts_at:
        return False
    return incident.ends_at is None or run.start_time <= incident.ends_at


def always_reason(
    run: RunSummary, rules: AlwaysInclude, incidents: Sequence[Incident]
) -> str | None:
    """The always-include rule this run matches, if any."""
    if run.status in rules.status:
        return f"always:status={run.status}"
    if run.feedback is not None and run.feedback in rules.feedback:
        return f"always:feedback={run.feedback}"
    if rules.incidents:
        for incident in incidents:
            if _in_window(run, incident):
                return f"always:incident={incident.id}"
    return None


@dataclass(frozen=True)
class ReviewPlan:
    """The sampling plan and roster of a workspace; implements ``store.sync.SamplePlan``."""

    sampling: SamplingSection
    roster: tuple[str, ...]
    overlap: float
    overlap_reviewers: int = 2

    def reason(self, run: RunSummary, incidents: Sequence[Incident]) -> str | None:
        """Why the run is in the sample, or None when it is not."""
        if in_sample(self.sampling.salt, run.trace_id, self.sampling.rate_for(run.workflow)):
            return "sample"
        return always_reason(run, self.sampling.always_include, incidents)

    def reviewers(self, run: RunSummary) -> list[str]:
        """Who grades the run."""
        return assign_reviewers(
            self.sampling.salt, run.trace_id, self.roster, self.overlap, self.overlap_reviewers
        )

    def fingerprint(self) -> str:
        """A digest of everything that decides the sample and who grades it (salt, default
        rate, rates, always-include rules, roster, overlap, overlap reviewers): when it changes,
        a sync re-decides the runs it already holds."""
        body = json.dumps(
            {
                "sampling": self.sampling.model_dump(mode="json"),
                "roster": sorted(self.roster),
                "overlap": self.overlap,
                "overlap_reviewers": self.overlap_reviewers,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.blake2b(body.encode("utf-8"), digest_size=12).hexdigest()

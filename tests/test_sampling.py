"""Deterministic sampling and reviewer assignment (review.sampling)."""

from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest

from review.sampling import ReviewPlan, always_reason, assign_reviewers, in_sample, rendezvous
from store.models import Incident, RunSummary
from store.workspace import AlwaysInclude, SamplingSection

N = 100_000
ROSTER = ("ana", "ben", "chen")


def _ids(seed: int = 7, n: int = N) -> list[str]:
    rng = random.Random(seed)
    return [uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(n)]


@pytest.fixture(scope="module")
def ids() -> list[str]:
    return _ids()


@pytest.mark.parametrize("rate", [0.01, 0.02, 0.05])
def test_realized_rate_is_close_to_the_plan(ids: list[str], rate: float) -> None:
    sampled = [rid for rid in ids if in_sample("salt-a", rid, rate)]
    assert abs(len(sampled) / len(ids) - rate) < 0.005


def test_sample_is_deterministic_and_order_free(ids: list[str]) -> None:
    first = {rid for rid in ids if in_sample("salt-a", rid, 0.05)}
    again = {rid for rid in ids if in_sample("salt-a", rid, 0.05)}
    shuffled = list(ids)
    random.Random(3).shuffle(shuffled)
    other_order = {rid for rid in shuffled if in_sample("salt-a", rid, 0.05)}
    assert first == again == other_order
    assert first  # not trivially empty


def test_a_different_salt_gives_a_different_sample(ids: list[str]) -> None:
    a = {rid for rid in ids if in_sample("salt-a", rid, 0.05)}
    b = {rid for rid in ids if in_sample("salt-b", rid, 0.05)}
    assert a != b
    # Independent samples overlap about rate * rate, far from identical.
    assert len(a & b) < 0.2 * len(a)


def test_sample_is_nested_in_the_rate(ids: list[str]) -> None:
    # Raising the rate only adds runs: nothing already reviewed drops out.
    small = {rid for rid in ids[:20_000] if in_sample("s", rid, 0.02)}
    large = {rid for rid in ids[:20_000] if in_sample("s", rid, 0.05)}
    assert small < large


def test_rate_bounds() -> None:
    assert not any(in_sample("s", rid, 0.0) for rid in _ids(n=2000))
    assert all(in_sample("s", rid, 1.0) for rid in _ids(n=2000))


# -- always-include rules ------------------------------------------------------------------------


def _run(**kw: object) -> RunSummary:
    base: dict[str, object] = {
        "trace_id": "t-1",
        "workflow": "billing-support",
        "start_time": "2026-01-05T10:00:00Z",
    }
    base.update(kw)
    return RunSummary.model_validate(base)


def _incident(**kw: object) -> Incident:
    base: dict[str, object] = {
        "id": "inc-1",
        "title": "Payments down",
        "workflow": "billing-support",
        "starts_at": "2026-01-05T09:00:00Z",
        "ends_at": "2026-01-05T11:00:00Z",
    }
    base.update(kw)
    return Incident.model_validate(base)


RULES = AlwaysInclude(status=["error"], feedback=["negative"], incidents=True)


def test_status_and_feedback_rules() -> None:
    assert always_reason(_run(status="error"), RULES, []) == "always:status=error"
    assert always_reason(_run(status="ok"), RULES, []) is None
    assert always_reason(_run(feedback="negative"), RULES, []) == "always:feedback=negative"
    assert always_reason(_run(feedback="positive"), RULES, []) is None
    assert always_reason(_run(status="error"), AlwaysInclude(), []) is None


def test_incident_window_rules() -> None:
    inc = _incident()
    assert always_reason(_run(), RULES, [inc]) == "always:incident=inc-1"
    # Edges are inside the window.
    assert always_reason(_run(start_time="2026-01-05T09:00:00Z"), RULES, [inc]) is not None
    assert always_reason(_run(start_time="2026-01-05T11:00:00Z"), RULES, [inc]) is not None
    # Before and after are not.
    assert always_reason(_run(start_time="2026-01-05T08:59:59Z"), RULES, [inc]) is None
    assert always_reason(_run(start_time="2026-01-05T11:00:01Z"), RULES, [inc]) is None
    # Another workflow's incident does not pull this run in ...
    assert always_reason(_run(), RULES, [_incident(workflow="crm-update")]) is None
    # ... but an incident without a workflow covers every workflow.
    assert always_reason(_run(workflow="crm-update"), RULES, [_incident(workflow=None)]) is not None
    # The rule can be off.
    assert always_reason(_run(), AlwaysInclude(incidents=False), [inc]) is None


def test_open_ended_incident_covers_everything_after_its_start() -> None:
    inc = _incident(ends_at=None)
    assert always_reason(_run(start_time="2026-03-01T00:00:00Z"), RULES, [inc]) is not None
    assert always_reason(_run(start_time="2026-01-05T08:00:00Z"), RULES, [inc]) is None


def test_incident_window_compares_instants_not_text() -> None:
    # Different systems write timestamps with different precision and offsets.
    inc = _incident(starts_at="2026-01-05T10:00:00.500Z", ends_at="2026-01-05T13:00:00+02:00")
    # 10:00:00Z is half a second before the start (as text it sorts after it).
    assert always_reason(_run(start_time="2026-01-05T10:00:00Z"), RULES, [inc]) is None
    assert always_reason(_run(start_time="2026-01-05T10:30:00Z"), RULES, [inc]) is not None
    # 13:00+02:00 is 11:00Z: a run at 11:30Z is after the end (as text it sorts before it).
    assert always_reason(_run(start_time="2026-01-05T11:30:00Z"), RULES, [inc]) is None


def test_plan_reason_prefers_sample_then_rules() -> None:
    sampling = SamplingSection(
        salt="s", default_rate=0.0, rates={"crm-update": 1.0}, always_include=RULES
    )
    plan = ReviewPlan(sampling=sampling, roster=ROSTER, overlap=0.0)
    assert plan.reason(_run(workflow="crm-update", status="error"), []) == "sample"
    assert plan.reason(_run(status="error"), []) == "always:status=error"
    assert plan.reason(_run(), []) is None
    assert plan.reason(_run(), [_incident()]) == "always:incident=inc-1"


# -- assignment ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assigned(ids: list[str]) -> list[list[str]]:
    return [assign_reviewers("salt-a", rid, ROSTER, 0.2) for rid in ids]


def test_primary_reviewers_share_the_load_evenly(assigned: list[list[str]]) -> None:
    primary = Counter(r[0] for r in assigned)
    assert set(primary) == set(ROSTER)
    for reviewer in ROSTER:
        assert abs(primary[reviewer] / len(assigned) - 1 / 3) < 0.02, primary


def test_overlap_share_gets_two_reviewers(assigned: list[list[str]]) -> None:
    sizes = Counter(len(r) for r in assigned)
    assert set(sizes) == {1, 2}
    assert abs(sizes[2] / len(assigned) - 0.2) < 0.005, sizes
    assert all(len(set(r)) == len(r) for r in assigned)
    assert all(set(r) <= set(ROSTER) for r in assigned)


def test_assignment_is_deterministic(ids: list[str], assigned: list[list[str]]) -> None:
    again = [assign_reviewers("salt-a", rid, list(reversed(ROSTER)), 0.2) for rid in ids[:20_000]]
    assert again == assigned[:20_000]


def test_overlap_reviewers_and_roster_size_bound_k() -> None:
    for rid in _ids(n=500):
        assert len(assign_reviewers("s", rid, ROSTER, 1.0, overlap_reviewers=3)) == 3
        assert assign_reviewers("s", rid, ("solo",), 1.0) == ["solo"]
        assert len(assign_reviewers("s", rid, ROSTER, 0.0)) == 1


def test_removing_a_reviewer_only_moves_their_runs(
    ids: list[str], assigned: list[list[str]]
) -> None:
    smaller = ("ana", "chen")
    moved = 0
    for rid, before in zip(ids, assigned, strict=True):
        after = assign_reviewers("salt-a", rid, smaller, 0.2)
        if "ben" not in before:
            assert after == before, rid
        else:
            moved += 1
            # Whoever shared the run with ben keeps it.
            assert set(before) - {"ben"} <= set(after), rid
            assert "ben" not in after
    assert moved > 0


def test_rendezvous_ranks_the_whole_roster() -> None:
    for rid in _ids(n=200):
        full = rendezvous("s", rid, ROSTER, k=3)
        assert sorted(full) == sorted(ROSTER)
        assert rendezvous("s", rid, ROSTER, k=1) == full[:1]
        assert rendezvous("s", rid, ROSTER, k=2) == full[:2]

"""Golden sets: settled runs of a workflow as test cases for the team's regression gate.

A run is *settled* under a rubric version when it has been adjudicated, or when two or more
reviewers graded it completely and chose the same level on every criterion they rated
(unanimous; see ``review.adjudication``). A single reviewer's grade is one opinion and is not
taken. Each case is the run's input, the run's own output and final action (what this agent
did, good or bad: never an "expected" answer, as a failing run's output is not one), the
reviewers' verdict per criterion (which says whether that output passed) and where it came from.

The cases are balanced across outcomes: runs are grouped by their verdict on the rubric's
``task_success`` criterion (else its first required criterion) and each group gets an equal
share of ``maximum`` (a group with fewer runs gives its unused share to the others).
Adjudicated runs are taken first in each group (the hard cases a regression gate most needs),
then a seeded hash decides, so the same database and seed always give the same set. Cases are
written in run start order.

One JSON object a line (see :func:`golden_set` for the keys).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review.adjudication import overlap_runs
from review.rubric import Criterion, Rubric
from review.sampling import unit

DEFAULT_MIN = 30
DEFAULT_MAX = 200


@dataclass(frozen=True)
class GoldenSet:
    """The chosen cases of one workflow, and the figures to report beside them."""

    workflow: str
    #: The criterion the cases are balanced on, and each case's verdict there is its outcome.
    outcome_criterion: str
    cases: list[dict[str, Any]]
    #: Settled runs available per outcome, before choosing.
    available: dict[str, int] = field(default_factory=dict)
    minimum: int = DEFAULT_MIN
    maximum: int = DEFAULT_MAX

    @property
    def chosen(self) -> dict[str, int]:
        """Cases chosen per outcome."""
        return dict(sorted(Counter(str(c["outcome"]) for c in self.cases).items()))

    @property
    def under_minimum(self) -> bool:
        return len(self.cases) < self.minimum

    def jsonl(self) -> str:
        """The cases as JSON Lines (keys sorted; text kept as UTF-8, escaped by JSON only)."""
        return "".join(json.dumps(c, sort_keys=True, ensure_ascii=False) + "\n" for c in self.cases)


def outcome_criterion(rubric: Rubric) -> Criterion:
    """The criterion cases are balanced on: ``metric: task_success``, else the first required."""
    return next((c for c in rubric.criteria if c.metric == "task_success"), rubric.required[0])


def _stored(text: str | None) -> Any:
    """A run's input or output as sync stored it: JSON text back to its value, other text as
    it is (sync keeps text as text and anything else as JSON)."""
    if text is None:
        return None
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _settled(
    conn: sqlite3.Connection, rubric: Rubric, workflow: str
) -> dict[int, tuple[dict[str, Any], str, list[str], str | None]]:
    """Run key to (verdict, basis, reviewers, adjudicator) for each settled run."""
    out: dict[int, tuple[dict[str, Any], str, list[str], str | None]] = {}
    for o in overlap_runs(conn, rubric, workflow=workflow):
        final = o.final_values()
        if final is None:
            continue
        if o.adjudication is not None:
            out[o.run] = (final, "adjudicated", list(o.reviewers), o.adjudication.adjudicator)
        else:
            out[o.run] = (final, "unanimous", list(o.reviewers), None)
    # A final grade set on a run that is not (or no longer) an overlap run is settled too.
    for run, values, adjudicator in conn.execute(
        'SELECT a.run, a."values", a.adjudicator FROM adjudications a JOIN runs r ON r.id = a.run '
        "WHERE a.rubric_id = ? AND a.rubric_version = ? AND r.workflow = ?",
        (rubric.id, rubric.version, workflow),
    ):
        if int(run) not in out:
            out[int(run)] = (json.loads(values), "adjudicated", [], adjudicator)
    return out


def _quotas(sizes: dict[str, int], maximum: int) -> dict[str, int]:
    """An equal share of ``maximum`` per group, a group's unused share going to the others;
    a remainder goes to the groups in name order."""
    quota = dict.fromkeys(sizes, 0)
    left = maximum
    open_ = sorted(k for k, n in sizes.items() if n > 0)
    while left > 0 and open_:
        each = max(left // len(open_), 1)
        for k in list(open_):
            if left == 0:
                break
            take = min(each, sizes[k] - quota[k], left)
            quota[k] += take
            left -= take
            if quota[k] == sizes[k]:
                open_.remove(k)
    return quota


def golden_set(
    conn: sqlite3.Connection,
    rubric: Rubric,
    workflow: str,
    *,
    minimum: int | None = None,
    maximum: int = DEFAULT_MAX,
    seed: int = 0,
) -> GoldenSet:
    """Choose up to ``maximum`` settled runs of ``workflow`` under this rubric version, balanced
    across outcomes, deterministic for ``seed``. Fewer than ``minimum`` is not refused here:
    the set says so (``under_minimum``) and the caller decides. ``minimum`` defaults to
    :data:`DEFAULT_MIN`, or ``maximum`` when that is smaller.

    Each case: ``case_id`` (``source/trace_id``), ``source``, ``trace_id``, ``workflow``,
    ``started_at``, ``input``, ``output`` and ``final_action`` (the run's own, whatever its
    verdict), ``verdict``
    (criterion id to level), ``outcome`` (the verdict on the outcome criterion), ``basis``
    (``adjudicated`` or ``unanimous``), ``reviewers``, ``adjudicator`` (or null),
    ``rubric_id``, ``rubric_version``.
    """
    if minimum is None:
        minimum = min(DEFAULT_MIN, maximum)
    if maximum < 1 or minimum < 0 or minimum > maximum:
        raise ValueError(f"need 0 <= min <= max and max >= 1 (got min {minimum}, max {maximum})")
    key = outcome_criterion(rubric)
    settled = _settled(conn, rubric, workflow)
    runs: dict[int, sqlite3.Row | tuple[Any, ...]] = {}
    ids = sorted(settled)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for row in conn.execute(
            "SELECT id, source, run_id, workflow, started_at, input, output, final_action "
            f"FROM runs WHERE hydrated = 1 AND id IN ({', '.join('?' * len(chunk))})",
            chunk,
        ):
            runs[int(row[0])] = row
    groups: dict[str, list[int]] = {}
    for run, (verdict, _basis, _who, _adj) in settled.items():
        if run in runs and verdict.get(key.id) is not None:
            groups.setdefault(str(verdict[key.id]), []).append(run)
    quotas = _quotas({k: len(v) for k, v in groups.items()}, maximum)
    chosen: list[int] = []
    for outcome, members in groups.items():
        members.sort(
            key=lambda r: (
                settled[r][1] != "adjudicated",
                unit("golden", str(seed), runs[r][1], runs[r][2]),
                runs[r][2],
            )
        )
        chosen.extend(members[: quotas[outcome]])
    chosen.sort(key=lambda r: (runs[r][4], runs[r][1], runs[r][2]))
    cases = []
    for run in chosen:
        row = runs[run]
        verdict, basis, reviewers, adjudicator = settled[run]
        cases.append(
            {
                "case_id": f"{row[1]}/{row[2]}",
                "source": row[1],
                "trace_id": row[2],
                "workflow": row[3],
                "started_at": row[4],
                "input": _stored(row[5]),
                "output": _stored(row[6]),
                "final_action": _stored(row[7]),
                "verdict": verdict,
                "outcome": verdict[key.id],
                "basis": basis,
                "reviewers": reviewers,
                "adjudicator": adjudicator,
                "rubric_id": rubric.id,
                "rubric_version": rubric.version,
            }
        )
    return GoldenSet(
        workflow=workflow,
        outcome_criterion=key.id,
        cases=cases,
        available={k: len(v) for k, v in sorted(groups.items())},
        minimum=minimum,
        maximum=maximum,
    )


#: Where a workflow's golden set is kept in the workspace (``agentdeck export golden`` writes it
#: there by default; the scorecard reads its size and age there).
GOLDEN_DIR = "golden"


def golden_path(root: Path, workflow: str) -> Path:
    """The workspace's golden set file for ``workflow``."""
    return root / GOLDEN_DIR / f"{workflow}.jsonl"

"""Blind review: on a run graded by more than one reviewer (the overlap share), a reviewer sees
no other reviewer's grade until their own grade of it is complete.

Agreement is only worth measuring if each grade is given alone: a reviewer who has seen a
colleague's verdict anchors on it. So the desk asks :func:`others_view` what to show, and it
answers with the others' grades only once the reviewer's own grade of the run under the same
rubric version is complete; before that, only how many there are. Other reviewers' grades
arrive through the store (a sync pulls them back) or from a grades file
(``agentdeck import grades``); both land in the ``grades`` table.

Undoing one's grade hides the others again; that is the honest state (the grade is no longer
committed), and it keeps the rule one line long.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from review.rubric import Rubric


@dataclass(frozen=True)
class OtherGrade:
    """Another reviewer's grade of a run, as the desk shows it beside one's own."""

    reviewer: str
    values: dict[str, Any]
    comment: str | None
    complete: bool
    first_wrong_step: int | None
    origin: str


@dataclass(frozen=True)
class OthersView:
    """What the desk may show of the other reviewers' grades of the open run."""

    #: How many other reviewers have graded the run (complete or not) under this rubric version.
    count: int
    #: Their grades; empty while the reviewer's own grade is not complete (blind).
    shown: list[OtherGrade] = field(default_factory=list)
    #: Criteria on which a shown grade differs from the reviewer's own.
    differ: frozenset[str] = frozenset()

    @property
    def hidden(self) -> bool:
        return self.count > 0 and not self.shown


def other_grades(
    conn: sqlite3.Connection, run: int, reviewer: str, rubric: Rubric
) -> list[OtherGrade]:
    """Every other reviewer's grade of ``run`` under ``rubric``'s id and version, by reviewer."""
    rows = conn.execute(
        'SELECT reviewer, "values", comment, complete, first_wrong_step, origin FROM grades '
        "WHERE run = ? AND reviewer != ? AND rubric_id = ? AND rubric_version = ? "
        "ORDER BY reviewer",
        (run, reviewer, rubric.id, rubric.version),
    ).fetchall()
    return [
        OtherGrade(
            reviewer=str(r[0]),
            values=json.loads(r[1]) if r[1] else {},
            comment=r[2],
            complete=bool(r[3]),
            first_wrong_step=None if r[4] is None else int(r[4]),
            origin=str(r[5]),
        )
        for r in rows
    ]


def others_view(
    others: list[OtherGrade], own_values: dict[str, Any] | None, own_complete: bool
) -> OthersView:
    """The blind rule: the others' grades once one's own is complete, else only their count."""
    if not own_complete or not others:
        return OthersView(count=len(others))
    own = own_values or {}
    differ = frozenset(
        criterion
        for other in others
        for criterion in set(own) | set(other.values)
        if str(own.get(criterion)) != str(other.values.get(criterion))
    )
    return OthersView(count=len(others), shown=list(others), differ=differ)

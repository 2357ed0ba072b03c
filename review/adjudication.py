"""Adjudication: settling overlap runs where reviewers disagree, with a final grade.

An *overlap run* is a run with complete grades from two or more reviewers under the same rubric
id and version. It is *disputed* when the reviewers chose different levels on some criterion
(a criterion one reviewer left blank is no disagreement), and *unanimous* otherwise.

The adjudicator's final grade lives in the ``adjudications`` table, one row per run and rubric
version; the reviewers' own grades are never touched. Like a grade, it is written in one
transaction with its outbox row, and pushed as its own scores: one per criterion under the fixed
pseudo-reviewer :data:`ADJUDICATED` (score id ``score_id(source, run_id, criterion,
"adjudicated")``), metadata ``{"kind": "adjudicated", "adjudicator": ...}``, so re-adjudicating
updates the same remote scores. A sync reads them back into ``adjudications`` on every laptop
(see :mod:`review.pulled`), never as a reviewer's grade.

The Reports area's adjudication screen calls :func:`disputed` for its queue,
:func:`adjudicate` to set the final grade, and :func:`get_adjudication` to show one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from review.rubric import Criterion, Rubric
from store.db import transaction
from store.identity import ADJUDICATED, score_id
from store.outbox import enqueue
from store.timestamps import now_iso

__all__ = [
    "ADJUDICATED",
    "Adjudication",
    "NotAllowed",
    "OverlapRun",
    "RationaleRequired",
    "ReviewerGrade",
    "adjudicate",
    "overridden",
    "refusal",
    "disputed",
    "write_adjudication",
    "get_adjudication",
    "overlap_runs",
    "unanimous",
]


@dataclass(frozen=True)
class ReviewerGrade:
    """One reviewer's complete grade on an overlap run, as it stands in ``grades``."""

    reviewer: str
    values: dict[str, Any]
    comment: str | None
    #: ``local`` (typed on this laptop) or ``remote`` (pulled from the store or imported).
    origin: str
    updated_at: str


@dataclass(frozen=True)
class Adjudication:
    """The final grade an adjudicator set on a run under one rubric version."""

    run: int
    rubric_id: str
    rubric_version: str
    values: dict[str, Any]
    comment: str | None
    adjudicator: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class OverlapRun:
    """A run graded by two or more reviewers under one rubric version, grades side by side."""

    run: int
    source: str
    run_id: str
    workflow: str
    started_at: str
    #: Each reviewer's complete grade, ordered by reviewer name.
    grades: tuple[ReviewerGrade, ...]
    #: The criteria (rubric order) on which two reviewers chose different levels.
    differing: tuple[str, ...]
    #: The final grade, when the run has been adjudicated under this rubric version.
    adjudication: Adjudication | None
    #: Criterion id to the level every reviewer who rated it chose, for the criteria they agree
    #: on; an optional criterion only one reviewer rated is left out (one voice, no agreement).
    agreed: dict[str, Any]

    @property
    def disputed(self) -> bool:
        return bool(self.differing)

    @property
    def adjudicated(self) -> bool:
        return self.adjudication is not None

    @property
    def reviewers(self) -> tuple[str, ...]:
        return tuple(g.reviewer for g in self.grades)

    def final_values(self) -> dict[str, Any] | None:
        """The run's settled verdict: the adjudication's values if there is one, else what the
        reviewers agreed on if they agree on everything, else None (disputed, not settled)."""
        if self.adjudication is not None:
            return dict(self.adjudication.values)
        return None if self.differing else dict(self.agreed)


class NotAllowed(ValueError):
    """This person may not settle this run: they graded it, or ``[review] adjudicators`` does
    not name them."""


class RationaleRequired(ValueError):
    """The final grade overrides a value every reviewer agreed on, and no rationale says why."""


def refusal(run: OverlapRun, adjudicator: str, adjudicators: list[str] | None = None) -> str | None:
    """Why ``adjudicator`` may not settle ``run``, in words for them; None when they may.

    ``adjudicators`` is ``[review] adjudicators`` (None: anyone on the roster). Nobody settles a
    run they graded: a dispute is settled by someone who was not a party to it.
    """
    if adjudicator in run.reviewers:
        return "you graded this run — ask another adjudicator"
    if adjudicators is not None and adjudicator not in adjudicators:
        return f"only {', '.join(adjudicators)} may settle disputes ([review] adjudicators)"
    return None


def overridden(run: OverlapRun, values: Mapping[str, Any]) -> list[str]:
    """The criteria (rubric order of ``run.agreed``) where ``values`` departs from the level
    every reviewer agreed on (a different level, or none): such a final grade needs a
    rationale."""
    return _departures(run.agreed, values)


def _departures(agreed: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    return [c for c, v in agreed.items() if str(values.get(c)) != str(v)]


def _level(criterion: Criterion, value: Any) -> Any:
    """The level's own value for ``value`` (a store may send ``"5"`` for 5), else as it is."""
    level = criterion.level_for_value(value)
    return level.value if level is not None else value


def _compare(rubric: Rubric, grades: list[ReviewerGrade]) -> tuple[tuple[str, ...], dict[str, Any]]:
    differing: list[str] = []
    agreed: dict[str, Any] = {}
    for c in rubric.criteria:
        given = [_level(c, g.values[c.id]) for g in grades if g.values.get(c.id) is not None]
        if len({str(v) for v in given}) > 1:
            differing.append(c.id)
        elif given and (c.required or len(given) >= 2):
            agreed[c.id] = given[0]
    return tuple(differing), agreed


def _adjudication(row: sqlite3.Row | tuple[Any, ...]) -> Adjudication:
    return Adjudication(
        run=int(row[0]),
        rubric_id=row[1],
        rubric_version=row[2],
        values=json.loads(row[3]),
        comment=row[4],
        adjudicator=row[5],
        created_at=row[6],
        updated_at=row[7],
    )


_ADJ_COLUMNS = (
    'run, rubric_id, rubric_version, "values", comment, adjudicator, created_at, updated_at'
)


def get_adjudication(conn: sqlite3.Connection, run: int, rubric: Rubric) -> Adjudication | None:
    """The final grade on ``run`` (``runs.id``) under this rubric version, if one was set."""
    row = conn.execute(
        f"SELECT {_ADJ_COLUMNS} FROM adjudications WHERE run = ? AND rubric_id = ? "
        "AND rubric_version = ?",
        (run, rubric.id, rubric.version),
    ).fetchone()
    return _adjudication(row) if row else None


def overlap_runs(
    conn: sqlite3.Connection, rubric: Rubric, *, workflow: str | None = None
) -> list[OverlapRun]:
    """Every overlap run under this rubric version (optionally of one workflow), disputed or
    not, ordered by run start time (then local run key), each reviewer's grade side by side."""
    where_wf = " AND r.workflow = ?4" if workflow is not None else ""
    args: list[Any] = [rubric.id, rubric.version, ADJUDICATED]
    rows = conn.execute(
        'SELECT g.run, r.source, r.run_id, r.workflow, r.started_at, g.reviewer, g."values", '
        "g.comment, g.origin, g.updated_at FROM grades g JOIN runs r ON r.id = g.run "
        "WHERE g.rubric_id = ?1 AND g.rubric_version = ?2 AND g.complete = 1 AND g.reviewer != ?3 "
        "AND g.run IN (SELECT run FROM grades WHERE rubric_id = ?1 AND rubric_version = ?2 "
        "AND complete = 1 AND reviewer != ?3 GROUP BY run HAVING count(*) >= 2)"
        + where_wf
        + " ORDER BY r.started_at, r.id, g.reviewer",
        [*args, workflow] if workflow is not None else args,
    ).fetchall()
    finals = {
        int(row[0]): _adjudication(row)
        for row in conn.execute(
            f"SELECT {_ADJ_COLUMNS} FROM adjudications WHERE rubric_id = ? AND rubric_version = ?",
            (rubric.id, rubric.version),
        )
    }
    out: list[OverlapRun] = []
    i = 0
    while i < len(rows):
        run = int(rows[i][0])
        head = rows[i]
        grades: list[ReviewerGrade] = []
        while i < len(rows) and int(rows[i][0]) == run:
            r = rows[i]
            grades.append(ReviewerGrade(r[5], json.loads(r[6]), r[7], r[8], r[9]))
            i += 1
        differing, agreed = _compare(rubric, grades)
        out.append(
            OverlapRun(
                run=run,
                source=head[1],
                run_id=head[2],
                workflow=head[3],
                started_at=head[4],
                grades=tuple(grades),
                differing=differing,
                adjudication=finals.get(run),
                agreed=agreed,
            )
        )
    return out


def disputed(
    conn: sqlite3.Connection,
    rubric: Rubric,
    *,
    workflow: str | None = None,
    pending_only: bool = False,
) -> list[OverlapRun]:
    """The adjudication queue: overlap runs where reviewers disagree on some criterion, in run
    start order, with whether each is already adjudicated (``pending_only``: only those not)."""
    return [
        o
        for o in overlap_runs(conn, rubric, workflow=workflow)
        if o.disputed and not (pending_only and o.adjudicated)
    ]


def unanimous(
    conn: sqlite3.Connection, rubric: Rubric, *, workflow: str | None = None
) -> list[OverlapRun]:
    """Overlap runs where every reviewer chose the same level on every criterion they rated."""
    return [o for o in overlap_runs(conn, rubric, workflow=workflow) if not o.disputed]


def _checked_values(rubric: Rubric, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as levels of the rubric (None entries dropped); ValueError on a criterion the
    rubric lacks, a value that is not one of its levels, or a required criterion missing."""
    out: dict[str, Any] = {}
    for cid, value in values.items():
        if value is None:
            continue
        c = rubric.criterion(cid)
        if c is None:
            known = ", ".join(x.id for x in rubric.criteria)
            raise ValueError(f"rubric {rubric.id} has no criterion {cid!r} (it has: {known})")
        level = c.level_for_value(value)
        if level is None:
            levels = ", ".join(lv.label for lv in c.scale.levels)
            raise ValueError(f"{value!r} is not a level of {cid!r} (levels: {levels})")
        out[cid] = level.value
    missing = [c.id for c in rubric.required if c.id not in out]
    if missing:
        raise ValueError(
            f"a final grade needs every required criterion; missing: {', '.join(missing)}"
        )
    return out


def write_adjudication(conn: sqlite3.Connection, final: Adjudication) -> None:
    """Insert or update the ``adjudications`` row of ``final`` (inside the caller's
    transaction): the one place that writes the table, for an adjudication set here and one
    pulled from a store. Its ``created_at`` stays what it was first."""
    conn.execute(
        f"INSERT INTO adjudications ({_ADJ_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run, rubric_id, rubric_version) DO UPDATE SET "
        '"values" = excluded."values", comment = excluded.comment, '
        "adjudicator = excluded.adjudicator, updated_at = excluded.updated_at",
        (
            final.run,
            final.rubric_id,
            final.rubric_version,
            json.dumps(final.values, sort_keys=True, ensure_ascii=False),
            final.comment,
            final.adjudicator,
            final.created_at,
            final.updated_at,
        ),
    )


def adjudicate(
    conn: sqlite3.Connection,
    run: int,
    rubric: Rubric,
    adjudicator: str,
    values: Mapping[str, Any],
    comment: str | None = None,
    *,
    adjudicators: list[str] | None = None,
) -> Adjudication:
    """Set (or change) the final grade on ``run`` (``runs.id``) under this rubric version.

    ``values`` maps criterion id to a level value; every required criterion must be there.
    ``comment`` is the rationale, required (:class:`RationaleRequired`) when a value departs
    from one every reviewer of the run agreed on. Raises :class:`NotAllowed` when the
    adjudicator graded the run or is not among ``adjudicators`` (``[review] adjudicators``;
    None: anyone). Raises ValueError, writing nothing, on a value that is not a level, a missing
    required criterion, an empty adjudicator or an unknown run. The reviewers' grades stay.

    Durable when it returns: the row and its outbox row commit together (a savepoint inside a
    caller's transaction). Setting the same values, comment and adjudicator again writes nothing.
    """
    who = (adjudicator or "").strip()
    if not who:
        raise ValueError("an adjudication needs the adjudicator's name")
    checked = _checked_values(rubric, values)
    text = (comment or "").strip() or None
    with transaction(conn):
        found = conn.execute("SELECT source, run_id FROM runs WHERE id = ?", (run,)).fetchone()
        if found is None:
            raise ValueError(f"run {run} is not in the local database")
        source, run_id = found
        _check_allowed(conn, run, rubric, who, checked, text, adjudicators)
        before = get_adjudication(conn, run, rubric)
        if (
            before is not None
            and before.values == checked
            and before.comment == text
            and before.adjudicator == who
        ):
            return before
        at = now_iso()
        write_adjudication(
            conn,
            Adjudication(run, rubric.id, rubric.version, checked, text, who, at, at),
        )
        payload = _payload(source, run_id, rubric, who, checked, text, before, at)
        enqueue(
            conn,
            store=source,
            run=run,
            reviewer=ADJUDICATED,
            payload=payload,
            created_at=at,
            kind="adjudication",
        )
        after = get_adjudication(conn, run, rubric)
    assert after is not None
    return after


def _check_allowed(
    conn: sqlite3.Connection,
    run: int,
    rubric: Rubric,
    who: str,
    values: dict[str, Any],
    comment: str | None,
    adjudicators: list[str] | None,
) -> None:
    """The rules of who settles and when a rationale is needed, for any caller."""
    graders = {r[0] for r in conn.execute("SELECT reviewer FROM grades WHERE run = ?", (run,))}
    if who in graders:
        raise NotAllowed(f"{who} graded this run — ask another adjudicator")
    if adjudicators is not None and who not in adjudicators:
        raise NotAllowed(
            f"{who} may not settle disputes: [review] adjudicators names {', '.join(adjudicators)}"
        )
    if comment:
        return
    rows = conn.execute(
        'SELECT reviewer, "values" FROM grades WHERE run = ? AND rubric_id = ? '
        "AND rubric_version = ? AND complete = 1 AND reviewer != ?",
        (run, rubric.id, rubric.version, ADJUDICATED),
    ).fetchall()
    if len(rows) < 2:
        return
    grades = [ReviewerGrade(r[0], json.loads(r[1]), None, "", "") for r in rows]
    _, agreed = _compare(rubric, grades)
    changed = _departures(agreed, values)
    if changed:
        said = ", ".join(f"{c}: {agreed[c]} → {values.get(c, '—')}" for c in changed)
        raise RationaleRequired(
            f"the final grade overrides what every reviewer agreed on ({said}): write the rationale"
        )


def _payload(
    source: str,
    run_id: str,
    rubric: Rubric,
    adjudicator: str,
    values: dict[str, Any],
    comment: str | None,
    before: Adjudication | None,
    at: str,
) -> dict[str, object]:
    """The outbox payload: one score per criterion set, under the pseudo-reviewer; criteria
    the previous final grade set and this one does not are deleted."""
    upsert: list[dict[str, object]] = []
    delete: list[str] = []
    for c in rubric.criteria:
        sid = score_id(source, run_id, c.id, ADJUDICATED)
        if c.id in values:
            upsert.append(
                {
                    "id": sid,
                    "trace_id": run_id,
                    "name": c.id,
                    "value": values[c.id],
                    "comment": comment,
                    "created_at": at,
                    "metadata": {
                        "reviewer": ADJUDICATED,
                        "rubric_id": rubric.id,
                        "rubric_version": rubric.version,
                        "escalate": False,
                        "seconds_spent": None,
                        "kind": ADJUDICATED,
                        "adjudicator": adjudicator,
                    },
                }
            )
        elif before is not None and c.id in before.values:
            delete.append(sid)
    return {"trace_id": run_id, "upsert": upsert, "delete": delete}


# --- the queue as a report (``agentdeck report disputes``) ----------------------------------------


def queue_dict(runs: list[OverlapRun], rubric: Rubric) -> dict[str, Any]:
    """The adjudication queue as plain data: each disputed run with every reviewer's grade side
    by side, the criteria they differ on, and the final grade if one was set."""
    return {
        "rubric": {"id": rubric.id, "version": rubric.version},
        "criteria": [c.id for c in rubric.criteria],
        "runs": [
            {
                "run_id": r.run_id,
                "source": r.source,
                "workflow": r.workflow,
                "started_at": r.started_at,
                "differing": list(r.differing),
                "grades": [
                    {"reviewer": g.reviewer, "values": g.values, "comment": g.comment}
                    for g in r.grades
                ],
                "adjudication": None
                if r.adjudication is None
                else {
                    "values": r.adjudication.values,
                    "comment": r.adjudication.comment,
                    "adjudicator": r.adjudication.adjudicator,
                    "updated_at": r.adjudication.updated_at,
                    # Settled by one of its own reviewers (made before the rule, or elsewhere).
                    "self_adjudicated": r.adjudication.adjudicator in r.reviewers,
                },
            }
            for r in runs
        ],
    }


def queue_rows(data: dict[str, Any]) -> list[list[str]]:
    """One row per run and reviewer (then the final grade): run, workflow, who, a value per
    criterion, comment. Every cell is text as given; the caller escapes for its format."""
    rows: list[list[str]] = []
    for r in data["runs"]:
        who = [(g["reviewer"], g["values"], g["comment"] or "") for g in r["grades"]]
        if r["adjudication"] is not None:
            a = r["adjudication"]
            mark = ", graded it too" if a.get("self_adjudicated") else ""
            who.append((f"final ({a['adjudicator']}{mark})", a["values"], a["comment"] or ""))
        for name, values, comment in who:
            cells = [str(values.get(c, "")) for c in data["criteria"]]
            rows.append([r["run_id"], r["workflow"], name, *cells, comment])
    return rows

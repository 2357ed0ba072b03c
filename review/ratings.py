"""Ratings for agreement: from a CSV file (the ratings-file contract) or the workspace's grades.

The ratings file
----------------
A CSV (UTF-8, a byte-order mark allowed) whose first line is a header naming the columns
``unit``, ``rater`` and ``value``, and optionally ``criterion``, in any order and any case. Any
other column is refused (a misspelt ``criterion`` would otherwise merge every criterion into one
without a word).
Each further line is one rater's rating of one unit; a missing rating is a missing line or an
empty value. Without a ``criterion`` column the whole file is one criterion named ``value``.
In a criterion whose values all read as numbers the values are numeric (ordinal order is numeric
order, ``3`` and ``3.0`` are the same value); otherwise they are categories, compared only as
equal or not, and only the nominal figures apply. A criterion mixing numbers and words is refused.

Every refusal is a ``DocumentError`` whose message is one line naming FILE:LINE (or the
criterion) and what to do: no header or no ratings, a missing or unknown column, a line with the
wrong number of fields or no unit or rater, a unit rated twice by one rater, numbers mixed with
words.

The workspace's grades
----------------------
``workspace_ratings`` reads the ``grades`` table: complete grades, local and pulled alike, per
rubric id and version and criterion; units are runs (``source/run_id``), raters are reviewers.
Adjudications (their own table) are final grades, not a rater, and are not read here.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from review.agreement import CriterionRatings, OutcomeAgreement
from store.documents import DocumentError

REQUIRED = ("unit", "rater", "value")
OPTIONAL = ("criterion",)
#: The criterion's name when the file has no ``criterion`` column.
DEFAULT_CRITERION = "value"


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    # "nan" and "inf" read as floats but are no rating anyone meant as a number.
    return x if math.isfinite(x) else None


class _Collect:
    """One criterion's ratings while they are read: names and value texts get integer ids, and
    the ratings are four integer arrays, so a million lines keep no million tuples."""

    def __init__(self) -> None:
        self.units: dict[str, int] = {}
        self.raters: dict[str, int] = {}
        self.values: dict[str, int] = {}
        self.first_at: list[int] = []  # where each value text was first seen
        self.unit, self.rater = array("q"), array("q")
        self.value, self.at = array("q"), array("q")  # value id (-1: empty), line or grade id

    def add(self, unit: str, rater: str, value: str, at: int) -> None:
        units, raters, values = self.units, self.raters, self.values
        u = units.get(unit)
        if u is None:
            u = units[unit] = len(units)
        r = raters.get(rater)
        if r is None:
            r = raters[rater] = len(raters)
        v = values.get(value, -1) if value else -1
        if v < 0 and value:
            v = values[value] = len(values)
            self.first_at.append(at)
        self.unit.append(u)
        self.rater.append(r)
        self.value.append(v)
        self.at.append(at)

    def first_repeat(self) -> tuple[int, int, str, str] | None:
        """The first line (in reading order) that rates a unit its rater already rated: (the
        earlier line, that line, unit, rater); None when every pair is rated once."""
        if not self.unit:
            return None
        keys = np.frombuffer(self.unit, dtype=np.int64) * len(self.raters) + np.frombuffer(
            self.rater, dtype=np.int_
        )
        order = np.argsort(keys, kind="stable")
        same = keys[order[1:]] == keys[order[:-1]]
        if not same.any():
            return None
        later, earlier = order[1:][same], order[:-1][same]
        i = int(np.argmin(later))
        at = np.frombuffer(self.at, dtype=np.int64)
        names_u, names_r = list(self.units), list(self.raters)
        return (
            int(at[earlier[i]]),
            int(at[later[i]]),
            names_u[self.unit[later[i]]],
            names_r[self.rater[later[i]]],
        )


def _build(
    name: str,
    col: _Collect,
    path: Path | str,
    rubric: tuple[str, str] | None = None,
    numeric: bool | None = None,
) -> CriterionRatings:
    texts = list(col.values)
    nums = [_number(t) for t in texts]
    number_at = [(col.first_at[i], t) for i, t in enumerate(texts) if nums[i] is not None]
    word_at = [(col.first_at[i], t) for i, t in enumerate(texts) if nums[i] is None]
    if number_at and word_at and numeric is not False:
        (ln, num), (lw, word) = min(number_at), min(word_at)
        raise DocumentError(
            path,
            None,
            f"criterion {name!r} mixes numbers (line {ln}: {num!r}) and words (line {lw}: "
            f"{word!r}); give one kind of value per criterion",
        )
    is_numeric = numeric if numeric is not None else not word_at
    categories: list[str | float]
    if is_numeric:
        ordered = sorted({x for x in nums if x is not None})
        index = {x: i for i, x in enumerate(ordered)}
        category_of = [index[x] for x in nums if x is not None]
        categories = list(ordered)
    else:
        words = sorted(texts)
        windex = {w: i for i, w in enumerate(words)}
        category_of = [windex[t] for t in texts]
        categories = list(words)
    codes = np.full((len(col.units), len(col.raters)), -1, dtype=np.int32)
    vid = np.frombuffer(col.value, dtype=np.int64)
    given = vid >= 0
    if given.any():
        u = np.frombuffer(col.unit, dtype=np.int64)[given]
        r = np.frombuffer(col.rater, dtype=np.int64)[given]
        codes[u, r] = np.asarray(category_of, dtype=np.int32)[vid[given]]
    return CriterionRatings(
        criterion=name,
        units=list(col.units),
        raters=list(col.raters),
        categories=categories,
        numeric=is_numeric,
        codes=codes,
        rubric_id=rubric[0] if rubric else None,
        rubric_version=rubric[1] if rubric else None,
    )


def read_ratings(path: Path) -> list[CriterionRatings]:
    """Read a ratings file (see the module); one ``CriterionRatings`` per criterion, in the
    order the criteria first appear. Raise ``DocumentError`` on bad input."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return parse_ratings(fh, path)


def parse_ratings(lines: Iterable[str], path: Path | str) -> list[CriterionRatings]:
    """Read ratings from CSV text (``path`` only names it in errors)."""
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DocumentError(path, 1, f"not a CSV file ({exc})") from None
    except UnicodeDecodeError:
        raise DocumentError(path, None, "not UTF-8 text; save the file as UTF-8 CSV") from None
    wanted = "unit,rater,value[,criterion]"
    if header is None or not any(h.strip() for h in header):
        raise DocumentError(
            path, None, f"the file is empty; a ratings file starts with the header {wanted}"
        )
    names = [h.strip().lower() for h in header]
    for i, name in enumerate(names):
        if name not in REQUIRED + OPTIONAL:
            raise DocumentError(
                path,
                1,
                f"unknown column {name!r}; the columns are {wanted} (remove or rename it)",
            )
        if name in names[:i]:
            raise DocumentError(path, 1, f"column {name!r} appears twice in the header")
    for name in REQUIRED:
        if name not in names:
            raise DocumentError(
                path, 1, f"missing column {name!r}; the header needs {wanted}, in any order"
            )
    at = {name: names.index(name) for name in names}
    crit_col = at.get("criterion")
    found: dict[str, _Collect] = {}
    at_unit, at_rater, at_value = at["unit"], at["rater"], at["value"]
    width = len(names)
    line = 1
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                raise DocumentError(path, start, f"{len(row)} fields where the header has {width}")
            unit, rater = row[at_unit].strip(), row[at_rater].strip()
            criterion = row[crit_col].strip() if crit_col is not None else DEFAULT_CRITERION
            if not unit or not rater or not criterion:
                empty = "unit" if not unit else "rater" if not rater else "criterion"
                raise DocumentError(path, start, f"no {empty}; every line names its {empty}")
            col = found.get(criterion)
            if col is None:
                col = found[criterion] = _Collect()
            # An empty value is a missing rating; it is still a line that rates the unit.
            col.add(unit, rater, row[at_value].strip(), start)
    except csv.Error as exc:
        raise DocumentError(path, line + 1, f"not valid CSV ({exc})") from None
    except UnicodeDecodeError:
        raise DocumentError(path, None, "not UTF-8 text; save the file as UTF-8 CSV") from None
    if not found:
        raise DocumentError(path, None, f"no ratings after the header {','.join(names)}")
    for criterion, col in found.items():
        repeat = col.first_repeat()
        if repeat is not None:
            earlier, later, unit, rater = repeat
            of = f" for criterion {criterion!r}" if crit_col is not None else ""
            raise DocumentError(
                path,
                later,
                f"rater {rater!r} rated unit {unit!r} twice{of} (lines {earlier} and "
                f"{later}); keep one of the two lines",
            )
    return [_build(name, col, path) for name, col in found.items()]


def _scale_is_numeric(criterion: dict[str, Any]) -> bool:
    """A rubric scale is numeric when it is not categorical and every level is a number."""
    scale = criterion.get("scale", {})
    levels = [lv.get("value") for lv in scale.get("levels", [])]
    return scale.get("kind") != "categorical" and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in levels
    )


def workspace_ratings(
    conn: sqlite3.Connection,
    *,
    workflow: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[CriterionRatings]:
    """The complete grades of the database as ratings: one ``CriterionRatings`` per rubric id,
    version and criterion (units: ``source/run_id``; raters: reviewers); ``workflow``: only the
    runs of that workflow; ``since``/``until``: only runs started in ``[since, until)`` (the
    database's timestamp text, e.g. an ISO week's bounds).

    The scale comes from the rubric version the database keeps (``rubrics``); a version it does
    not know is read as the CSV is (numbers when every value is one). A value that is not a
    level of a numeric scale makes that criterion categorical rather than being dropped.
    """
    scales: dict[tuple[str, str], dict[str, bool]] = {}
    order: dict[tuple[str, str], list[str]] = {}
    for rid, version, body in conn.execute("SELECT rubric_id, version, body FROM rubrics"):
        criteria = json.loads(body).get("criteria", [])
        scales[(rid, version)] = {c["id"]: _scale_is_numeric(c) for c in criteria}
        order[(rid, version)] = [c["id"] for c in criteria]
    where_sql, params = "", []
    for clause, value in (
        ("AND r.workflow = ? ", workflow),
        ("AND r.started_at >= ? ", since),
        ("AND r.started_at < ? ", until),
    ):
        if value is not None:
            where_sql += clause
            params.append(value)
    rows = conn.execute(
        'SELECT g.rubric_id, g.rubric_version, r.source, r.run_id, g.reviewer, g."values", g.id '
        "FROM grades g JOIN runs r ON r.id = g.run WHERE g.complete = 1 "
        + where_sql
        + "ORDER BY g.rubric_id, g.rubric_version, g.run, g.reviewer",
        params,
    )
    found: dict[tuple[str, str, str], _Collect] = {}
    where = "the local database (grades)"
    for rid, version, source, run_id, reviewer, values, grade_id in rows:
        try:
            parsed = json.loads(values)
        except json.JSONDecodeError:
            raise DocumentError(
                where, None, f"grade {grade_id} has unreadable values; re-grade that run"
            ) from None
        if not isinstance(parsed, dict):
            continue
        for criterion, value in parsed.items():
            if value is None or value == "":
                continue
            col = found.get((rid, version, criterion))
            if col is None:
                col = found[(rid, version, criterion)] = _Collect()
            col.add(f"{source}/{run_id}", reviewer, str(value), grade_id)

    def rank(key: tuple[str, str, str]) -> tuple[str, str, int, str]:
        known = order.get(key[:2], [])
        pos = known.index(key[2]) if key[2] in known else len(known)
        return (key[0], key[1], pos, key[2])

    out = []
    for key in sorted(found, key=rank):
        col = found[key]
        declared = scales.get(key[:2], {}).get(key[2])
        words = any(_number(text) is None for text in col.values)
        # A numeric scale with a word in it (an edited rubric, a hand-made grade) is read as
        # categories rather than losing the word.
        numeric = (declared is None or declared) and not words
        out.append(_build(key[2], col, where, rubric=key[:2], numeric=numeric))
    return out


def _passing(criteria: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(criterion, passing value) of the rubric's task-success criterion, if it has one."""
    for c in criteria:
        if c.get("metric") == "task_success":
            values = [str(lv.get("value")) for lv in c.get("scale", {}).get("levels", [])]
            for v in values:
                if v.lower() in ("pass", "yes", "true", "1"):
                    return c["id"], v
            return (c["id"], values[0]) if values else None
    return None


def workspace_reviewers(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per-reviewer figures (``review.agreement.reviewer_figures``) from the database's complete
    grades, with its adjudications as the consensus where a run has one."""
    from review.agreement import GradeRow, reviewer_figures

    positive: dict[tuple[str, str], tuple[str, str]] = {}
    for rid, version, body in conn.execute("SELECT rubric_id, version, body FROM rubrics"):
        found = _passing(json.loads(body).get("criteria", []))
        if found:
            positive[(rid, version)] = found
    grades = []
    rows = conn.execute(
        'SELECT g.rubric_id, g.rubric_version, r.source, r.run_id, g.reviewer, g."values", '
        "g.seconds_spent, g.created_at FROM grades g JOIN runs r ON r.id = g.run "
        "WHERE g.complete = 1"
    )
    for rid, version, source, run_id, reviewer, values, seconds, at in rows:
        parsed = json.loads(values)
        if isinstance(parsed, dict):
            unit = f"{source}/{run_id}"
            grades.append(GradeRow(rid, version, unit, reviewer, parsed, float(seconds), at))
    adjudicated: dict[tuple[str, str, str], dict[str, object]] = {}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "adjudications" in tables:
        for rid, version, source, run_id, values in conn.execute(
            'SELECT a.rubric_id, a.rubric_version, r.source, r.run_id, a."values" '
            "FROM adjudications a JOIN runs r ON r.id = a.run"
        ):
            parsed = json.loads(values)
            if isinstance(parsed, dict):
                adjudicated[(rid, version, f"{source}/{run_id}")] = parsed
    return reviewer_figures(grades, adjudicated, positive)


def grade_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many grades the report reads (complete) and leaves out (not complete yet)."""
    complete, incomplete = conn.execute(
        "SELECT coalesce(sum(complete = 1), 0), coalesce(sum(complete = 0), 0) FROM grades"
    ).fetchone()
    return {"complete_grades": int(complete), "incomplete_grades": int(incomplete)}


def window_agreement(
    conn: sqlite3.Connection,
    rubric_id: str,
    version: str,
    criterion: str,
    starts: list[str],
    end: str,
    workflow: str | None = None,
) -> dict[tuple[str, int], OutcomeAgreement]:
    """Agreement on one criterion per workflow and period of a window: ``starts`` are the
    periods' first moments in order (the database's timestamp text), ``end`` the window's end;
    keyed by (workflow, period index). One read of the window's complete grades under this
    rubric version (not of its runs); a workflow and period nobody graded is absent. The
    figures are :func:`workflow_agreement`'s, period by period."""
    import bisect

    from review.agreement import criterion_agreement, outcome_agreement

    declared = None
    for (body,) in conn.execute(
        "SELECT body FROM rubrics WHERE rubric_id = ? AND version = ?", (rubric_id, version)
    ):
        for c in json.loads(body).get("criteria", []):
            if c.get("id") == criterion:
                declared = _scale_is_numeric(c)
    sql = (
        "SELECT r.workflow, r.started_at, r.source, r.run_id, g.reviewer, "
        'json_extract(g."values", ?), g.id FROM grades g CROSS JOIN runs r ON r.id = g.run '
        "WHERE g.complete = 1 AND g.rubric_id = ? AND g.rubric_version = ? "
        "AND r.started_at >= ? AND r.started_at < ?"
    )
    args: list[object] = [f'$."{criterion}"', rubric_id, version, starts[0], end]
    if workflow is not None:
        sql += " AND r.workflow = ?"
        args.append(workflow)
    found: dict[tuple[str, int], _Collect] = {}
    for wf, started, source, run_id, reviewer, value, grade_id in conn.execute(sql, args):
        if value is None or value == "":
            continue
        key = (wf, bisect.bisect_right(starts, started) - 1)
        col = found.get(key)
        if col is None:
            col = found[key] = _Collect()
        col.add(f"{source}/{run_id}", reviewer, str(value), grade_id)
    out: dict[tuple[str, int], OutcomeAgreement] = {}
    where = "the local database (grades)"
    for key, col in found.items():
        words = any(_number(text) is None for text in col.values)
        numeric = (declared is None or declared) and not words
        cr = _build(criterion, col, where, rubric=(rubric_id, version), numeric=numeric)
        out[key] = outcome_agreement(criterion_agreement(cr, resamples=0))
    return out


def workflow_agreement(
    conn: sqlite3.Connection,
    rubric_id: str,
    version: str,
    criterion: str,
    *,
    since: str | None = None,
    until: str | None = None,
    workflows: Iterable[str] | None = None,
) -> dict[str, OutcomeAgreement | None]:
    """Per workflow, the agreement on one criterion (at the level its scale allows: interval
    for numbers, else nominal) over the workflow's runs graded by two or more reviewers under
    this rubric version, with n (runs compared); only runs started in ``[since, until)`` when
    given. None for a workflow nobody graded there. The one agreement figure the weekly report,
    the weekly push and the scorecard show per workflow (and week)."""
    from review.agreement import criterion_agreement, outcome_agreement

    out: dict[str, OutcomeAgreement | None] = {}
    if workflows is None:
        workflows = [w for (w,) in conn.execute("SELECT DISTINCT workflow FROM assignments")]
    for workflow in sorted(workflows):
        found = [
            cr
            for cr in workspace_ratings(conn, workflow=workflow, since=since, until=until)
            if (cr.rubric_id, cr.rubric_version) == (rubric_id, version)
            and cr.criterion == criterion
        ]
        out[workflow] = (
            outcome_agreement(criterion_agreement(found[0], resamples=0)) if found else None
        )
    return out

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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from review.agreement import CriterionRatings
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


@dataclass
class _Collect:
    """One criterion's ratings while the file is read."""

    units: dict[str, int]
    raters: dict[str, int]
    cells: list[tuple[int, int, str, int]]  # unit, rater, value, line
    seen: dict[tuple[int, int], int]  # (unit, rater) -> line
    first_number: tuple[int, str] | None = None
    first_word: tuple[int, str] | None = None


def _build(
    name: str,
    col: _Collect,
    path: Path | str,
    rubric: tuple[str, str] | None = None,
    numeric: bool | None = None,
) -> CriterionRatings:
    if col.first_number and col.first_word and numeric is not False:
        (ln, num), (lw, word) = col.first_number, col.first_word
        raise DocumentError(
            path,
            None,
            f"criterion {name!r} mixes numbers (line {ln}: {num!r}) and words (line {lw}: "
            f"{word!r}); give one kind of value per criterion",
        )
    is_numeric = numeric if numeric is not None else col.first_word is None
    codes = np.full((len(col.units), len(col.raters)), -1, dtype=np.int32)
    if is_numeric:
        nums = {v: _number(v) for _, _, v, _ in col.cells}
        ordered = sorted({x for x in nums.values() if x is not None})
        index = {x: i for i, x in enumerate(ordered)}
        categories: list[str | float] = list(ordered)
        for u, r, v, _ in col.cells:
            x = nums[v]
            assert x is not None
            codes[u, r] = index[x]
    else:
        words = sorted({v for _, _, v, _ in col.cells})
        windex = {w: i for i, w in enumerate(words)}
        categories = list(words)
        for u, r, v, _ in col.cells:
            codes[u, r] = windex[v]
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
    line = 1
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if len(row) != len(names):
                raise DocumentError(
                    path, start, f"{len(row)} fields where the header has {len(names)}"
                )
            unit, rater = row[at["unit"]].strip(), row[at["rater"]].strip()
            value = row[at["value"]].strip()
            criterion = row[crit_col].strip() if crit_col is not None else DEFAULT_CRITERION
            if not unit or not rater or not criterion:
                empty = "unit" if not unit else "rater" if not rater else "criterion"
                raise DocumentError(path, start, f"no {empty}; every line names its {empty}")
            col = found.get(criterion)
            if col is None:
                col = found[criterion] = _Collect({}, {}, [], {})
            u = col.units.setdefault(unit, len(col.units))
            r = col.raters.setdefault(rater, len(col.raters))
            earlier = col.seen.get((u, r))
            if earlier is not None:
                of = f" for criterion {criterion!r}" if crit_col is not None else ""
                raise DocumentError(
                    path,
                    start,
                    f"rater {rater!r} rated unit {unit!r} twice{of} (lines {earlier} and "
                    f"{start}); keep one of the two lines",
                )
            col.seen[(u, r)] = start
            if not value:
                continue  # an empty value is a missing rating
            if _number(value) is None:
                col.first_word = col.first_word or (start, value)
            else:
                col.first_number = col.first_number or (start, value)
            col.cells.append((u, r, value, start))
    except csv.Error as exc:
        raise DocumentError(path, line + 1, f"not valid CSV ({exc})") from None
    except UnicodeDecodeError:
        raise DocumentError(path, None, "not UTF-8 text; save the file as UTF-8 CSV") from None
    if not found:
        raise DocumentError(path, None, f"no ratings after the header {','.join(names)}")
    return [_build(name, col, path) for name, col in found.items()]


def _scale_is_numeric(criterion: dict[str, Any]) -> bool:
    """A rubric scale is numeric when it is not categorical and every level is a number."""
    scale = criterion.get("scale", {})
    levels = [lv.get("value") for lv in scale.get("levels", [])]
    return scale.get("kind") != "categorical" and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in levels
    )


def workspace_ratings(conn: sqlite3.Connection) -> list[CriterionRatings]:
    """The complete grades of the database as ratings: one ``CriterionRatings`` per rubric id,
    version and criterion (units: ``source/run_id``; raters: reviewers).

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
    rows = conn.execute(
        'SELECT g.rubric_id, g.rubric_version, r.source, r.run_id, g.reviewer, g."values", g.id '
        "FROM grades g JOIN runs r ON r.id = g.run WHERE g.complete = 1 "
        "ORDER BY g.rubric_id, g.rubric_version, g.run, g.reviewer"
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
                col = found[(rid, version, criterion)] = _Collect({}, {}, [], {})
            u = col.units.setdefault(f"{source}/{run_id}", len(col.units))
            r = col.raters.setdefault(reviewer, len(col.raters))
            text = str(value)
            if _number(text) is None:
                col.first_word = col.first_word or (grade_id, text)
            else:
                col.first_number = col.first_number or (grade_id, text)
            col.cells.append((u, r, text, grade_id))

    def rank(key: tuple[str, str, str]) -> tuple[str, str, int, str]:
        known = order.get(key[:2], [])
        pos = known.index(key[2]) if key[2] in known else len(known)
        return (key[0], key[1], pos, key[2])

    out = []
    for key in sorted(found, key=rank):
        col = found[key]
        declared = scales.get(key[:2], {}).get(key[2])
        numeric = bool(declared) and col.first_word is None
        if declared is None:
            numeric = col.first_word is None
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

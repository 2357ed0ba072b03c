"""Grades files: exchanging reviewers' grades between laptops without a shared store.

The format is JSON Lines, one grade a line (UTF-8; blank lines are ignored; keys not listed
here are ignored, so a newer agentdeck may add some)::

    {"source": "demo", "run_id": "<trace id>", "reviewer": "ben",
     "rubric_id": "support-quality", "rubric_version": "91ba4fd5f251",
     "values": {"task_success": "pass", "intervention": "no", "policy": "safe", "tone": 5},
     "comment": "…" | null, "escalate": false, "seconds_spent": 41.5,
     "first_wrong_step": 3 | null, "graded_at": "2026-11-03T09:31:02.118000Z"}

``source`` is the store's name in ``agentdeck.toml`` and ``run_id`` the run's trace id there;
``values`` maps criterion id to a level value of that rubric version; ``first_wrong_step`` is
the number of the step marked as the first wrong one, as the desk shows it (1 is the run's first
step; the database keeps the step's index, one less); ``graded_at`` is when the grade last
changed (ISO 8601; no offset means UTC): for a grade typed on the exporting laptop, its last
change there; for one imported there, the file's ``graded_at``; for one pulled from a store
(relayed with ``--all``), the store's time of its scores (a pull that brings nothing new keeps
the time it had). ``comment``, ``escalate``, ``seconds_spent`` and ``first_wrong_step`` may be
left out.

:func:`export_grades` writes complete grades in this form. :func:`import_grades` reads a whole
file and imports it in one transaction, or nothing at all: the first bad line raises
:class:`GradesFileError` naming ``FILE:LINE`` and what to do. Imported grades are stored with
origin ``remote``: never pushed from this laptop, never written over a grade typed here (origin
``local``), and a grade already here is replaced only by a newer one (``graded_at``, then the
content, decide, so the order lines and files arrive in does not matter). Importing the same
file twice changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from review.rubric import Rubric
from store.db import transaction
from store.identity import ADJUDICATED
from store.timestamps import Instant, canonical

__all__ = [
    "GradeLine",
    "GradesFileError",
    "ImportReport",
    "export_grades",
    "import_grades",
    "read_grades_file",
]

_AGAIN = "fix it and import again (nothing was imported)"


class GradesFileError(ValueError):
    """A grades file that cannot be imported; the message names FILE:LINE and what to do."""


class GradeLine(BaseModel):
    """One line of a grades file."""

    model_config = ConfigDict(extra="ignore")

    source: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    reviewer: str = Field(min_length=1)
    rubric_id: str = Field(min_length=1)
    rubric_version: str = Field(min_length=1)
    values: dict[str, int | str]
    comment: str | None = None
    escalate: bool = False
    seconds_spent: float = Field(default=0.0, ge=0)
    #: The step's number as the desk shows it (1 is the first step).
    first_wrong_step: int | None = Field(default=None, ge=1)
    graded_at: Instant

    @property
    def step_index(self) -> int | None:
        """The marked step as the database keeps it (``steps.idx``, from 0)."""
        return None if self.first_wrong_step is None else self.first_wrong_step - 1


@dataclass
class ImportReport:
    """What an import did: grades added or replaced by a newer one, grades already as the file
    has them (or newer here), and lines left alone because the grade here was typed here."""

    lines: int = 0
    imported: int = 0
    unchanged: int = 0
    kept_local: int = 0


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")


def read_grades_file(path: Path) -> list[tuple[int, GradeLine]]:
    """Parse every line of ``path`` (numbered from 1); GradesFileError on the first bad one,
    or on a grade given twice (the same run, reviewer and rubric version)."""
    from store.connectors.jsonl import decode, lines, problem, scrub

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GradesFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    out: list[tuple[int, GradeLine]] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, raw in lines(data):
        try:
            obj = scrub(json.loads(decode(raw)))
        except (ValueError, RecursionError):
            raise GradesFileError(
                f"{path}:{number}: not valid JSON (one grade a line); {_AGAIN}"
            ) from None
        if not isinstance(obj, dict):
            raise GradesFileError(
                f"{path}:{number}: not a JSON object (one grade a line); {_AGAIN}"
            )
        try:
            line = GradeLine.model_validate(obj)
        except ValidationError as exc:
            raise GradesFileError(f"{problem(str(path), number, exc)}; {_AGAIN}") from None
        if line.reviewer == ADJUDICATED:
            raise GradesFileError(
                f"{path}:{number}: reviewer {ADJUDICATED!r} is reserved for final grades "
                f"(adjudications travel through the store); {_AGAIN}"
            )
        key = (line.source, line.run_id, line.reviewer, line.rubric_id, line.rubric_version)
        if key in seen:
            raise GradesFileError(
                f"{path}:{number}: the same grade (run {_quote(line.run_id)}, reviewer "
                f"{_quote(line.reviewer)}) is also on line {seen[key]}; keep one and import again "
                "(nothing was imported)"
            )
        seen[key] = number
        out.append((number, line))
    return out


def _rubric(conn: sqlite3.Connection, rubric_id: str, version: str) -> Rubric | None:
    row = conn.execute(
        "SELECT body FROM rubrics WHERE rubric_id = ? AND version = ?", (rubric_id, version)
    ).fetchone()
    return Rubric.model_validate_json(row[0]) if row else None


def _content(values: dict[str, Any], line: GradeLine) -> str:
    """A grade's content as one comparable text (the tie-break between equal ``graded_at``)."""
    return json.dumps(
        [values, line.comment, line.escalate, line.seconds_spent, line.step_index],
        sort_keys=True,
        ensure_ascii=False,
    )


def _row_content(row: sqlite3.Row | tuple[Any, ...]) -> str:
    return json.dumps(
        [json.loads(row[1]), row[2], bool(row[3]), float(row[4]), row[5]],
        sort_keys=True,
        ensure_ascii=False,
    )


def import_grades(conn: sqlite3.Connection, path: Path) -> ImportReport:
    """Import the grades file at ``path`` in one transaction (all lines or none).

    Each run must be in the local database (sync first) and each rubric version known here
    (it is registered by a sync, or by loading the workspace); values must be levels of that
    version. GradesFileError names the first line that is not so. See the module docstring.
    """
    parsed = read_grades_file(path)
    report = ImportReport(lines=len(parsed))
    rubrics: dict[tuple[str, str], Rubric | None] = {}
    with transaction(conn):
        for number, line in parsed:
            where = f"{path}:{number}"
            row = conn.execute(
                "SELECT id FROM runs WHERE source = ? AND run_id = ?", (line.source, line.run_id)
            ).fetchone()
            if row is None:
                raise GradesFileError(
                    f"{where}: run {_quote(line.run_id)} of store {_quote(line.source)} is not in "
                    "the local database; run `agentdeck sync` first, then import again "
                    "(nothing was imported)"
                )
            run = int(row[0])
            key = (line.rubric_id, line.rubric_version)
            if key not in rubrics:
                rubrics[key] = _rubric(conn, *key)
            rubric = rubrics[key]
            if rubric is None:
                raise GradesFileError(
                    f"{where}: rubric {_quote(line.rubric_id)} version "
                    f"{_quote(line.rubric_version)} is not known here; sync, or add that rubric "
                    "version to rubrics/, then import again (nothing was imported)"
                )
            values = _levels(rubric, line, where)
            if not rubric.is_complete(values):
                missing = [c.id for c in rubric.required if values.get(c.id) is None]
                raise GradesFileError(
                    f"{where}: the grade is not complete (no {', '.join(missing)}); only "
                    f"complete grades are exchanged; {_AGAIN}"
                )
            _upsert(conn, run, line, values, True, report)
    return report


def _levels(rubric: Rubric, line: GradeLine, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cid, value in line.values.items():
        c = rubric.criterion(cid)
        if c is None:
            raise GradesFileError(
                f"{where}: rubric {rubric.id} has no criterion {_quote(cid)}; {_AGAIN}"
            )
        level = c.level_for_value(value)
        if level is None:
            levels = ", ".join(lv.label for lv in c.scale.levels)
            raise GradesFileError(
                f"{where}: {_quote(str(value))} is not a level of {cid!r} ({levels}); {_AGAIN}"
            )
        out[cid] = level.value
    return out


def _upsert(
    conn: sqlite3.Connection,
    run: int,
    line: GradeLine,
    values: dict[str, Any],
    complete: bool,
    report: ImportReport,
) -> None:
    at = canonical(line.graded_at)
    here = conn.execute(
        'SELECT origin, "values", comment, escalate, seconds_spent, first_wrong_step, updated_at '
        "FROM grades WHERE run = ? AND reviewer = ? AND rubric_id = ? AND rubric_version = ?",
        (run, line.reviewer, line.rubric_id, line.rubric_version),
    ).fetchone()
    content = _content(values, line)
    if here is not None and here[0] == "local":
        report.kept_local += 1
        return
    if here is not None and (at, content) <= (here[6], _row_content(here)):
        report.unchanged += 1
        return
    conn.execute(
        'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", comment, '
        "escalate, seconds_spent, complete, first_wrong_step, origin, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'remote', ?, ?) "
        "ON CONFLICT (run, reviewer, rubric_id, rubric_version) DO UPDATE SET "
        '"values" = excluded."values", comment = excluded.comment, '
        "escalate = excluded.escalate, seconds_spent = excluded.seconds_spent, "
        "complete = excluded.complete, first_wrong_step = excluded.first_wrong_step, "
        "updated_at = excluded.updated_at",
        (
            run,
            line.reviewer,
            line.rubric_id,
            line.rubric_version,
            json.dumps(values, sort_keys=True, ensure_ascii=False),
            line.comment,
            int(line.escalate),
            line.seconds_spent,
            int(complete),
            line.step_index,
            at,
            at,
        ),
    )
    conn.execute(
        "UPDATE assignments SET graded = ? WHERE reviewer = ? AND run = ?",
        (int(complete), line.reviewer, run),
    )
    report.imported += 1


def export_grades(
    conn: sqlite3.Connection,
    *,
    everyone: bool = False,
    reviewers: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Complete grades as grades-file records, in the order they were last changed.

    By default the grades typed on this laptop (origin ``local``); ``everyone``: every complete
    grade here, pulled and imported ones too (to pass them on); ``reviewers``: only theirs.
    Drafts (incomplete grades) are never exported.
    """
    where = ["g.complete = 1", "g.reviewer != ?"]
    args: list[Any] = [ADJUDICATED]
    if not everyone:
        where.append("g.origin = 'local'")
    if reviewers:
        where.append(f"g.reviewer IN ({', '.join('?' * len(reviewers))})")
        args.extend(reviewers)
    rows = conn.execute(
        'SELECT r.source, r.run_id, g.reviewer, g.rubric_id, g.rubric_version, g."values", '
        "g.comment, g.escalate, g.seconds_spent, g.first_wrong_step, g.updated_at "
        "FROM grades g JOIN runs r ON r.id = g.run WHERE "
        + " AND ".join(where)
        + " ORDER BY g.updated_at, r.source, r.run_id, g.reviewer, g.rubric_id, g.rubric_version",
        args,
    ).fetchall()
    return [
        {
            "source": r[0],
            "run_id": r[1],
            "reviewer": r[2],
            "rubric_id": r[3],
            "rubric_version": r[4],
            "values": json.loads(r[5]),
            "comment": r[6],
            "escalate": bool(r[7]),
            "seconds_spent": float(r[8]),
            # The step's number as the desk shows it; the database keeps its index.
            "first_wrong_step": None if r[9] is None else int(r[9]) + 1,
            "graded_at": r[10],
        }
        for r in rows
    ]


def dumps_lines(records: Sequence[dict[str, Any]]) -> str:
    """Records as JSON Lines text (keys sorted, UTF-8 kept as it is, one record a line)."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)

"""A plain model of the review desk that applies keys slowly: one at a time, in memory.

It is written from the desk's rules (README, "Keys"), not from ``review.tape``, so comparing the
two checks the tape's results as well as its timing. It knows the keys the property tests send:
level keys (the level already chosen, pressed again, stays; an answer on a skipped run takes the
skip back), ``j``/``k``, ``u`` (undo), ``e`` (escalate; again: stays flagged), ``tab`` (all /
to-do / graded; a skipped run is in neither filtered view), the step cursor: ``.``/``,`` (next /
previous step; the first move on a run lands on its first / last step, and it stops at either
end; another run starts without it) and ``!`` (mark the step under the cursor as the first wrong
one; again: stays), ``backspace`` (clear: the next key names the answer to take back, a level
key, ``e``, ``!`` or ``z``; any other key cancels and does nothing else), ``z`` (skip: the keys
up to ``enter`` are the reason, required; ``escape`` cancels) and ``enter`` (the next run still
to grade). With ``advance = "auto"`` the answer that completes a grade, and a new skip, open the
next run still to grade; with ``"enter"`` the desk stays. Also ``;`` (the week filter: all, then
each ISO week with runs, newest first, then all), a filter change that leaves the open run out
of view remembers it and a later one that brings it back reopens it (any other way of opening a
run forgets it), and ``a`` (the agent card, read-only: every key but ``escape``/``a``/``q``,
which close it, does nothing while it is open).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from review.rubric import Rubric

# (sorted values, escalate, first wrong step, skip reason)
GradeState = tuple[tuple[tuple[str, Any], ...], bool, int | None, str | None]


@dataclass
class SlowDesk:
    rubric: Rubric
    order: list[int]
    grades: dict[int, dict[str, Any]] = field(default_factory=dict)  # run -> {values, escalate}
    undo_stack: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)
    graded_filter: bool | None = None
    cur: int | None = None
    steps: dict[int, int] = field(default_factory=dict)  # run -> how many steps it has
    step: int | None = None  # the step cursor on the open run
    weeks: dict[int, str] = field(default_factory=dict)  # run -> its ISO week
    week_filter: str | None = None
    kept: int | None = None  # the run a filter change left out of view
    mode: str = "desk"  # or "card"
    advance: str = "auto"
    clearing: bool = False
    reason: str | None = None  # the skip reason being typed (None: not in the skip box)

    @classmethod
    def from_db(
        cls, conn: sqlite3.Connection, reviewer: str, rubric: Rubric, advance: str = "auto"
    ) -> SlowDesk:
        order = [
            r[0]
            for r in conn.execute(
                "SELECT run FROM assignments WHERE reviewer = ? ORDER BY started_at, run",
                (reviewer,),
            )
        ]
        desk = cls(rubric, order, advance=advance)
        for run, started in conn.execute(
            "SELECT run, started_at FROM assignments WHERE reviewer = ?", (reviewer,)
        ):
            year, week, _ = date.fromisoformat(started[:10]).isocalendar()
            desk.weeks[run] = f"{year}-W{week:02d}"
        desk.steps = dict(conn.execute("SELECT run, count(*) FROM steps GROUP BY run").fetchall())
        for run, values, escalate, step, skip in conn.execute(
            'SELECT run, "values", escalate, first_wrong_step, skip_reason FROM grades '
            "WHERE reviewer = ? AND rubric_id = ? AND rubric_version = ?",
            (reviewer, rubric.id, rubric.version),
        ):
            desk.grades[run] = {
                "values": json.loads(values),
                "escalate": bool(escalate),
                "step": step,
                "skip": skip,
            }
        for run, before in conn.execute(
            "SELECT run, before FROM grade_events WHERE reviewer = ? AND undone = 0 ORDER BY id",
            (reviewer,),
        ):
            state = json.loads(before) if before else None
            desk.undo_stack.append(
                (
                    run,
                    {
                        "values": state["values"],
                        "escalate": state["escalate"],
                        "step": state.get("first_wrong_step"),
                        "skip": state.get("skipped"),
                    }
                    if state
                    else None,
                )
            )
        desk.cur = desk._first(todo=True) or desk._first(todo=False)
        return desk

    # -- the rules -------------------------------------------------------------------------------

    def complete(self, run: int) -> bool:
        g = self.grades.get(run)
        return bool(g) and g["skip"] is None and self.rubric.is_complete(g["values"])  # type: ignore[index]

    def skipped(self, run: int) -> bool:
        g = self.grades.get(run)
        return bool(g) and g["skip"] is not None  # type: ignore[index]

    def todo(self, run: int) -> bool:
        return not self.complete(run) and not self.skipped(run)

    def in_view(self, run: int) -> bool:
        if self.week_filter is not None and self.weeks.get(run) != self.week_filter:
            return False
        if self.graded_filter is None:
            return True
        return self.complete(run) if self.graded_filter else self.todo(run)

    def view(self) -> list[int]:
        return [r for r in self.order if self.in_view(r)]

    def _first(self, *, todo: bool) -> int | None:
        for r in self.view():
            if not todo or self.todo(r):
                return r
        return None

    def _after(self, run: int, *, forward: bool, todo: bool) -> int | None:
        pos = self.order.index(run)
        seq = self.order[pos + 1 :] if forward else list(reversed(self.order[:pos]))
        for r in seq:
            if self.in_view(r) and (not todo or self.todo(r)):
                return r
        return None

    def _record(self, run: int) -> None:
        g = self.grades.get(run)
        self.undo_stack.append(
            (
                run,
                {
                    "values": dict(g["values"]),
                    "escalate": g["escalate"],
                    "step": g["step"],
                    "skip": g["skip"],
                }
                if g
                else None,
            )
        )

    def _grade(self, run: int) -> dict[str, Any]:
        return self.grades.setdefault(
            run, {"values": {}, "escalate": False, "step": None, "skip": None}
        )

    def press(self, key: str) -> None:
        if self.mode == "card":
            if key in ("escape", "a", "q"):
                self.mode = "desk"
            return
        opened = self.cur
        self._press(key)
        if self.cur != opened:
            self.step = None  # the step cursor stays with its run
            if key not in ("tab", ";"):
                self.kept = None

    def _press(self, key: str) -> None:
        cur = self.cur
        if self.reason is not None:
            self._reason_key(key)
            return
        if self.clearing:
            self.clearing = False
            self._clear(key)
            return
        hit = self.rubric.key_map().get(key)
        if hit is not None:
            if cur is None:
                return
            criterion, level = hit
            was = self.complete(cur)
            g = self.grades.get(cur)
            if g and g["skip"] is None and str(g["values"].get(criterion.id)) == str(level.value):
                return  # the level already chosen: pressing it again keeps it
            self._record(cur)
            g = self._grade(cur)
            g["values"] = {**g["values"], criterion.id: level.value}
            g["skip"] = None
            if self.complete(cur) and not was and self.advance == "auto":
                self._advance()
        elif key == "backspace":
            if cur is not None:
                self.clearing = True
        elif key == "z":
            if cur is not None:
                self.reason = (self.grades.get(cur) or {}).get("skip") or ""
        elif key == "enter":
            if cur is not None and self.graded_filter is not True:
                self._advance()
        elif key in ("j", "k"):
            if cur is not None:
                nxt = self._after(cur, forward=key == "j", todo=False)
                if nxt is not None:
                    self.cur = nxt
        elif key == "e":
            if cur is not None and not (self.grades.get(cur) or {}).get("escalate"):
                self._record(cur)
                self._grade(cur)["escalate"] = True
        elif key == "u":
            if not self.undo_stack:
                return
            run, before = self.undo_stack.pop()
            if before is None:
                self.grades.pop(run, None)
            else:
                self.grades[run] = {
                    "values": dict(before["values"]),
                    "escalate": before["escalate"],
                    "step": before["step"],
                    "skip": before["skip"],
                }
            if not self.in_view(run):
                self.graded_filter = None
                self.week_filter = None
            self.cur = run
        elif key in (".", ","):
            count = self.steps.get(cur, 0) if cur is not None else 0
            if count:
                if self.step is None:
                    self.step = 0 if key == "." else count - 1
                else:
                    self.step = min(max(self.step + (1 if key == "." else -1), 0), count - 1)
        elif key == "!":
            if cur is not None and self.step is not None:
                if (self.grades.get(cur) or {}).get("step") == self.step:
                    return  # marked already: it stays
                self._record(cur)
                self._grade(cur)["step"] = self.step
        elif key == "a":
            if cur is not None:
                self.mode = "card"
        elif key == "tab":
            cycle = (None, False, True)
            self.graded_filter = cycle[(cycle.index(self.graded_filter) + 1) % 3]
            self._filtered()
        elif key == ";":
            weeks: list[str | None] = [None, *sorted(set(self.weeks.values()), reverse=True)]
            self.week_filter = weeks[(weeks.index(self.week_filter) + 1) % len(weeks)]
            self._filtered()

    def _filtered(self) -> None:
        """After a filter change: back to the run an earlier one left out of view, else keep
        the open run, else remember it and open the first to grade (the first at all)."""
        cur = self.cur
        if self.kept is not None and self.in_view(self.kept):
            self.cur, self.kept = self.kept, None
            return
        if cur is not None and self.in_view(cur):
            return
        if cur is not None and self.kept is None:
            self.kept = cur
        pick = self._first(todo=True) if self.graded_filter is not True else None
        self.cur = pick if pick is not None else self._first(todo=False)

    def _clear(self, key: str) -> None:
        cur = self.cur
        g = self.grades.get(cur) if cur is not None else None
        if cur is None or g is None:
            return
        hit = self.rubric.key_map().get(key)
        if hit is not None:
            if g["values"].get(hit[0].id) is not None:
                self._record(cur)
                g["values"] = {k: v for k, v in g["values"].items() if k != hit[0].id}
        elif key == "e":
            if g["escalate"]:
                self._record(cur)
                g["escalate"] = False
        elif key == "!":
            if g["step"] is not None:
                self._record(cur)
                g["step"] = None
        elif key == "z" and g["skip"] is not None:
            self._record(cur)
            g["skip"] = None

    def _reason_key(self, key: str) -> None:
        assert self.reason is not None and self.cur is not None
        if key == "escape":
            self.reason = None
        elif key == "enter":
            reason = " ".join(self.reason.split())
            if not reason:
                return  # a reason is required: the box stays open
            self.reason = None
            was = self.skipped(self.cur)
            self._record(self.cur)
            self._grade(self.cur)["skip"] = reason
            if not was and self.advance == "auto":
                self._advance()
        elif key == "backspace":
            self.reason = self.reason[:-1]
        elif len(key) == 1 and key.isprintable():
            self.reason += key

    def _advance(self) -> None:
        assert self.cur is not None
        if self.graded_filter is True:
            return
        nxt = self._after(self.cur, forward=True, todo=True)
        if nxt is None:
            first = self._first(todo=True)
            nxt = first if first != self.cur else None
        if nxt is not None:
            self.cur = nxt

    # -- comparing ---------------------------------------------------------------------------------

    def final(self) -> dict[int, GradeState]:
        out = {}
        for run in self.order:
            g = self.grades.get(run) or {"values": {}, "escalate": False, "step": None}
            out[run] = (
                tuple(sorted(g["values"].items())),
                bool(g["escalate"]),
                g["step"],
                g.get("skip"),
            )
        return out


def db_final(
    conn: sqlite3.Connection, reviewer: str, rubric: Rubric, order: list[int]
) -> dict[int, GradeState]:
    rows = {
        run: (json.loads(values), bool(escalate), step, skip)
        for run, values, escalate, step, skip in conn.execute(
            'SELECT run, "values", escalate, first_wrong_step, skip_reason FROM grades '
            "WHERE reviewer = ? AND rubric_id = ? AND rubric_version = ?",
            (reviewer, rubric.id, rubric.version),
        )
    }
    out: dict[int, GradeState] = {}
    for run in order:
        values, escalate, step, skip = rows.get(run, ({}, False, None, None))
        out[run] = (tuple(sorted(values.items())), escalate, step, skip)
    return out

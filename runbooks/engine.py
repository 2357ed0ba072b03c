"""The runbook walkthrough: one step at a time, saved after every step, audited.

A session is a path through the runbook's steps (the current step is the last) and the answers
given on the way (check results, choices, notes, skips, kill-switch outcomes). Every action names
the step it was made on; :func:`act` reads the session from the database, refuses an action made
on a step that is no longer the current one (a key typed for a step already left), applies it,
saves the session and writes the audit entries, all in one transaction. So quitting, a crash or a
dropped SSH connection resumes at the same step with the same answers, and the trail matches.

Plain Python: the screen sends actions and shows what comes back.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from runbooks import audit
from runbooks.model import Runbook, Step
from store.db import transaction
from store.timestamps import now_iso


class EngineError(Exception):
    """An action that cannot be taken now; ``str(err)`` says why, for the operator."""


@dataclass(frozen=True)
class Session:
    """One operator's walk through one runbook, as saved."""

    id: str
    runbook_id: str
    runbook_version: str
    workflow: str
    incident_source: str | None
    incident_id: str | None
    operator: str
    drill: bool
    status: str  # active | finished | abandoned
    path: tuple[str, ...]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str = ""
    updated_at: str = ""

    @property
    def current(self) -> str:
        return self.path[-1]

    @property
    def incident(self) -> str | None:
        """The incident's key in the audit trail: ``source/id``."""
        if self.incident_id is None:
            return None
        return f"{self.incident_source}/{self.incident_id}"

    def answer(self, step_id: str) -> dict[str, Any]:
        return self.answers.get(step_id, {})


# --- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """Something the operator did on ``step`` (the step they were looking at)."""

    step: str


@dataclass(frozen=True)
class Choose(Action):
    label: str


@dataclass(frozen=True)
class Next(Action):
    """Go on from a step with one way on (``next``), or finish at an end."""


@dataclass(frozen=True)
class Back(Action):
    pass


@dataclass(frozen=True)
class Skip(Action):
    reason: str
    #: Where to go from a step with choices (a choice's label); ignored elsewhere.
    to: str | None = None


@dataclass(frozen=True)
class WriteNote(Action):
    text: str


@dataclass(frozen=True)
class CheckDone(Action):
    result: dict[str, Any]


@dataclass(frozen=True)
class SwitchDone(Action):
    """A kill-switch outcome on its step; ``audit`` is its ``switch.result`` entry's body."""

    outcome: dict[str, Any]
    audit: dict[str, Any] | None = None


@dataclass(frozen=True)
class Abandon(Action):
    reason: str


# --- reading and writing ----------------------------------------------------------------------

_COLUMNS = (
    "id, runbook_id, runbook_version, workflow, incident_source, incident_id, operator, drill, "
    "status, state, started_at, updated_at"
)


def _from_row(row: tuple[Any, ...]) -> Session:
    (sid, rid, version, workflow, src, iid, operator, drill, status, state, started, updated) = row
    data = json.loads(state)
    return Session(
        sid,
        rid,
        version,
        workflow,
        src,
        iid,
        operator,
        bool(drill),
        status,
        tuple(data["path"]),
        data.get("answers", {}),
        started,
        updated,
    )


def load_session(conn: sqlite3.Connection, session_id: str) -> Session:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM runbook_sessions WHERE id = ?", (session_id,)
    ).fetchone()
    if row is None:
        raise EngineError(f"no runbook session {session_id}")
    return _from_row(row)


def active_session(
    conn: sqlite3.Connection,
    runbook_id: str,
    incident: tuple[str, str] | None,
    *,
    drill: bool,
) -> Session | None:
    """The unfinished session of this runbook for this incident (and drill mode), if any."""
    src, iid = incident if incident else (None, None)
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM runbook_sessions WHERE runbook_id = ? AND status = 'active' "
        "AND incident_source IS ? AND incident_id IS ? AND drill = ? "
        "ORDER BY updated_at DESC LIMIT 1",
        (runbook_id, src, iid, int(drill)),
    ).fetchone()
    return _from_row(row) if row else None


def sessions(conn: sqlite3.Connection, *, incident: tuple[str, str] | None = None) -> list[Session]:
    """Sessions, newest first; only an incident's when given."""
    if incident is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM runbook_sessions ORDER BY updated_at DESC"
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM runbook_sessions WHERE incident_source = ? "
            "AND incident_id = ? ORDER BY updated_at DESC",
            incident,
        ).fetchall()
    return [_from_row(r) for r in rows]


def last_drills(conn: sqlite3.Connection) -> dict[str, str]:
    """Per workflow, when its last drill walkthrough (``--drill``) was last worked on."""
    return {
        str(workflow): str(at)
        for workflow, at in conn.execute(
            "SELECT workflow, max(updated_at) FROM runbook_sessions WHERE drill = 1 "
            "GROUP BY workflow"
        )
    }


def _save(conn: sqlite3.Connection, s: Session) -> None:
    state = json.dumps({"path": list(s.path), "answers": s.answers}, sort_keys=True)
    conn.execute(
        "INSERT INTO runbook_sessions (" + _COLUMNS + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state, "
        "updated_at = excluded.updated_at",
        (
            s.id,
            s.runbook_id,
            s.runbook_version,
            s.workflow,
            s.incident_source,
            s.incident_id,
            s.operator,
            int(s.drill),
            s.status,
            state,
            s.started_at,
            s.updated_at,
        ),
    )


def _log(conn: sqlite3.Connection, s: Session, kind: str, body: dict[str, Any]) -> None:
    audit.append(
        conn,
        actor=s.operator,
        kind=kind,
        body={"runbook": s.runbook_id, **body},
        incident=s.incident,
        session=s.id,
        drill=s.drill,
    )


def _shown(conn: sqlite3.Connection, s: Session, rb: Runbook, *, resumed: bool = False) -> None:
    step = rb.step(s.current)
    body: dict[str, Any] = {"step": step.id, "step_title": step.title, "n": len(s.path)}
    if resumed:
        body["resumed"] = True
    _log(conn, s, "step.shown", body)


def start(
    conn: sqlite3.Connection,
    rb: Runbook,
    *,
    operator: str,
    incident: tuple[str, str] | None = None,
    drill: bool = False,
) -> Session:
    """Resume this runbook's unfinished session for the incident, or start one at step 1."""
    with transaction(conn):
        found = active_session(conn, rb.id, incident, drill=drill)
        if found is not None:
            if found.current not in {s.id for s in rb.steps}:
                raise EngineError(
                    f"the runbook {rb.id} changed: step {found.current!r} is gone; "
                    "abandon the session to start again"
                )
            _shown(conn, found, rb, resumed=True)
            return found
        now = now_iso()
        s = Session(
            id=str(uuid.uuid4()),
            runbook_id=rb.id,
            runbook_version=rb.version,
            workflow=rb.workflow,
            incident_source=incident[0] if incident else None,
            incident_id=incident[1] if incident else None,
            operator=operator,
            drill=drill,
            status="active",
            path=(rb.first.id,),
            answers={},
            started_at=now,
            updated_at=now,
        )
        _save(conn, s)
        _log(
            conn,
            s,
            "session.start",
            {"title": rb.title, "version": rb.version, "workflow": rb.workflow},
        )
        _shown(conn, s, rb)
        return s


def suggested(step: Step, answer: dict[str, Any]) -> str | None:
    """The choice a check result suggests, by the choices' ``when``; with no ``when`` on any
    of exactly two choices, a warning suggests the first and ``ok`` the second."""
    check = answer.get("check")
    if not check or not step.choices:
        return None
    outcome = check.get("outcome")
    if any(c.when for c in step.choices):
        for c in step.choices:
            if outcome in c.when:
                return c.label
        return None
    if len(step.choices) == 2 and outcome in ("warn", "ok"):
        return step.choices[0 if outcome == "warn" else 1].label
    return None


def _answer(s: Session, step_id: str, **changes: Any) -> Session:
    answers = dict(s.answers)
    merged = dict(answers.get(step_id, {}))
    merged.update(changes)
    answers[step_id] = merged
    return replace(s, answers=answers)


def _move(conn: sqlite3.Connection, s: Session, rb: Runbook, to: str) -> Session:
    s = replace(s, path=(*s.path, to))
    _shown(conn, s, rb)
    return s


def _finish(conn: sqlite3.Connection, s: Session, step: Step) -> Session:
    s = replace(s, status="finished")
    _log(conn, s, "session.finish", {"step": step.id, "step_title": step.title})
    return s


def switch_satisfied(switch: dict[str, Any]) -> bool:
    """Whether a saved kill-switch outcome lets its step go on: verified (in a drill: the
    preflight passed), or nothing to send (already at or below the target)."""
    if "satisfied" in switch:
        return bool(switch["satisfied"])
    # Saved before outcomes said so themselves.
    return switch.get("verdict") == "verified" or bool(
        switch.get("drill") and not switch.get("error")
    )


def _ready_to_leave(step: Step, answer: dict[str, Any]) -> None:
    if step.note and step.note.required and not answer.get("note"):
        raise EngineError("this step needs a note first: write what you saw (w)")
    if step.kill_switch:
        switch = answer.get("switch") or {}
        if not switch:
            if step.kill_switch.restore:
                raise EngineError("restore first (R), or skip this step with a reason")
            raise EngineError("use the kill switch first (k), or skip this step with a reason")
        if not switch_satisfied(switch):
            key = "R" if step.kill_switch.restore else "k"
            raise EngineError(
                f"the switch was not verified: try again ({key}), or skip with a reason"
            )


def apply(conn: sqlite3.Connection, rb: Runbook, s: Session, action: Action) -> Session:
    """Apply one action to a session read from the database (inside a transaction)."""
    if s.status != "active":
        raise EngineError(f"this session is {s.status}")
    if action.step != s.current:
        raise EngineError(
            f"that was for step {action.step!r}, which is no longer open (now at {s.current!r})"
        )
    step = rb.step(s.current)
    answer = s.answer(step.id)
    base = {"step": step.id, "step_title": step.title}
    if isinstance(action, CheckDone):
        s = _answer(s, step.id, check=action.result)
        _log(conn, s, "check.result", {**base, **action.result})
        return s
    if isinstance(action, WriteNote):
        text = action.text.strip()
        if not text:
            raise EngineError("an empty note was not saved")
        s = _answer(s, step.id, note=text)
        _log(conn, s, "note", {**base, "text": text})
        return s
    if isinstance(action, SwitchDone):
        if action.audit is not None:
            _log(conn, s, "switch.result", {"step": step.id, **action.audit})
        kept = answer.get("switch")
        # A check that fails after the switch was done (the primary down, the second channel
        # used) does not undo what was done: the step stays satisfied; the trail has both.
        if kept is not None and switch_satisfied(kept) and not switch_satisfied(action.outcome):
            return s
        return _answer(s, step.id, switch=action.outcome)
    if isinstance(action, Choose):
        choice = next((c for c in step.choices if c.label == action.label), None)
        if choice is None:
            raise EngineError(f"step {step.id!r} has no choice {action.label!r}")
        _ready_to_leave(step, answer)
        s = _answer(s, step.id, choice=choice.label)
        hint = suggested(step, answer)
        _log(
            conn,
            s,
            "choice",
            {**base, "label": choice.label, "next": choice.next, "suggested": hint},
        )
        return _move(conn, s, rb, choice.next)
    if isinstance(action, Next):
        if step.choices:
            raise EngineError("choose one of the ways on")
        _ready_to_leave(step, answer)
        if step.next:
            return _move(conn, s, rb, step.next)
        return _finish(conn, s, step)
    if isinstance(action, Skip):
        reason = action.reason.strip()
        if not reason:
            raise EngineError("a skip needs a reason")
        s = _answer(s, step.id, skipped=reason)
        if step.choices:
            choice = next((c for c in step.choices if c.label == action.to), None)
            if choice is None:
                raise EngineError("say which way to go after skipping")
            _log(conn, s, "skip", {**base, "reason": reason, "next": choice.next})
            return _move(conn, s, rb, choice.next)
        _log(conn, s, "skip", {**base, "reason": reason, "next": step.next})
        if step.next:
            return _move(conn, s, rb, step.next)
        return _finish(conn, s, step)
    if isinstance(action, Back):
        if len(s.path) < 2:
            raise EngineError("this is the first step")
        s = replace(s, path=s.path[:-1])
        prev = rb.step(s.current)
        _log(conn, s, "back", {"from": step.id, "step": prev.id, "step_title": prev.title})
        _shown(conn, s, rb)
        return s
    if isinstance(action, Abandon):
        reason = action.reason.strip()
        if not reason:
            raise EngineError("abandoning needs a reason")
        s = replace(s, status="abandoned")
        _log(conn, s, "session.abandon", {**base, "reason": reason})
        return s
    raise EngineError(f"unknown action {type(action).__name__}")


def switch_result(
    conn: sqlite3.Connection,
    rb: Runbook,
    session_id: str,
    step_id: str,
    outcome: dict[str, Any],
    audit_body: dict[str, Any],
) -> Session:
    """Keep a kill-switch outcome in the session and its ``switch.result`` audit entry, in one
    transaction: the outcome is saved when it is known, before it is shown, so a crash right
    after it resumes with it on screen."""
    with transaction(conn):
        s = load_session(conn, session_id)
        if s.status != "active" or s.current != step_id:
            # Sent all the same: the trail says so even where the session cannot keep it.
            _log(conn, s, "switch.result", {"step": step_id, **audit_body})
            return s
        return act(conn, rb, session_id, SwitchDone(step_id, outcome, audit_body))


def act(conn: sqlite3.Connection, rb: Runbook, session_id: str, action: Action) -> Session:
    """Read the session, apply ``action``, save it with its audit entries; one transaction."""
    with transaction(conn):
        s = load_session(conn, session_id)
        if s.runbook_id != rb.id:
            raise EngineError(f"session {session_id} walks {s.runbook_id}, not {rb.id}")
        s = apply(conn, rb, s, action)
        s = replace(s, updated_at=now_iso())
        _save(conn, s)
        return s


# --- keys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """What a key on the runbook screen asks for, before it is bound to a step.

    Like the review desk's key tape, a key applies to the step that is current when it is
    read from the database, however fast keys come: pressing ``1`` twice chooses twice, on two
    steps, exactly as pressing it twice slowly would.
    """

    kind: str  # choose | next | back | note | skip | abandon | tick
    index: int = 0
    text: str = ""
    yes: bool = False


def resolve(s: Session, rb: Runbook, intent: Intent) -> Action:
    """The action ``intent`` means on the session's current step; EngineError if none."""
    from runbooks.checks import manual_result
    from runbooks.model import ManualCheck

    step = rb.step(s.current)
    if intent.kind == "choose":
        if not step.choices:
            raise EngineError("this step has no choices: enter goes on")
        if not 0 <= intent.index < len(step.choices):
            raise EngineError(f"there is no choice {intent.index + 1} on this step")
        return Choose(step.id, step.choices[intent.index].label)
    if intent.kind == "next":
        if step.choices:
            raise EngineError(f"choose a way on: 1–{len(step.choices)}")
        return Next(step.id)
    if intent.kind == "back":
        return Back(step.id)
    if intent.kind == "note":
        return WriteNote(step.id, intent.text)
    if intent.kind == "skip":
        if step.choices:
            raise EngineError("a step with choices is not skipped: choose a way on by hand")
        return Skip(step.id, intent.text)
    if intent.kind == "abandon":
        return Abandon(step.id, intent.text)
    if intent.kind == "tick":
        if not isinstance(step.check, ManualCheck):
            raise EngineError("this step asks no yes/no question")
        return CheckDone(step.id, manual_result(intent.yes, step.check.yes_means).to_json())
    raise EngineError(f"unknown key {intent.kind!r}")


def act_intent(conn: sqlite3.Connection, rb: Runbook, session_id: str, intent: Intent) -> Session:
    """Bind ``intent`` to the current step as saved, and apply it; one transaction."""
    with transaction(conn):
        s = load_session(conn, session_id)
        return act(conn, rb, session_id, resolve(s, rb, intent))

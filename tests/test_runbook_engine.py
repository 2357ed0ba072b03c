"""The runbook walkthrough: every action saved and audited, stale keys refused, sessions resumed
after the connection closes, and a property test against a small model of the rules."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooks import audit
from runbooks.engine import (
    Abandon,
    Action,
    Back,
    CheckDone,
    Choose,
    EngineError,
    Next,
    Session,
    Skip,
    SwitchDone,
    WriteNote,
    act,
    active_session,
    load_session,
    sessions,
    start,
    suggested,
)
from runbooks.model import Runbook, load_runbook
from store.db import connect

SAMPLE = Path(__file__).resolve().parents[1] / "sample-data"
RB = load_runbook(SAMPLE / "runbooks" / "billing-provider-outage.yaml").runbook
INCIDENT = ("alertmanager", "INC-2026-1112-01")
WARN = {"outcome": "warn", "summary": "91% of 11 runs failed on payments_api", "value": 0.91}
SWITCHED = {"verdict": "verified", "before": "auto-act", "after": "suggest-only"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db" / "agentdeck.db"


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db)
    yield c
    c.close()


def kinds(conn: sqlite3.Connection, session: Session) -> list[str]:
    return [e.kind for e in audit.entries(conn) if e.session == session.id]


def snapshot(conn: sqlite3.Connection, session_id: str) -> tuple[Any, ...]:
    s = load_session(conn, session_id)
    return (s.status, s.path, s.answers, len(audit.entries(conn)))


def walk_to(conn: sqlite3.Connection, step: str) -> Session:
    """Start the outage runbook and take the 'provider is down' way to ``step``."""
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    route = [
        ("confirm", Choose("confirm", "Errors are high")),
        ("vendor", Choose("vendor", "Provider is down")),
        ("stop-refunds", SwitchDone("stop-refunds", SWITCHED)),
        ("stop-refunds", Next("stop-refunds")),
        ("tell-support", WriteNote("tell-support", "posted in #support at 14:05")),
        ("tell-support", Next("tell-support")),
    ]
    for at, action in route:
        if s.current == step:
            break
        assert s.current == at
        s = act(conn, RB, s.id, action)
    assert s.current == step
    return s


# --- starting ---------------------------------------------------------------------------------


def test_start_shows_the_first_step_and_audits_it(conn: sqlite3.Connection) -> None:
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    assert (s.status, s.path, s.answers) == ("active", ("confirm",), {})
    assert (s.runbook_id, s.runbook_version, s.workflow) == (RB.id, RB.version, RB.workflow)
    assert s.incident == "alertmanager/INC-2026-1112-01"
    trail = audit.entries(conn)
    assert [e.kind for e in trail] == ["session.start", "step.shown"]
    shown = trail[1]
    assert shown.body == {
        "runbook": RB.id,
        "step": "confirm",
        "step_title": "Is the payment tool failing?",
        "n": 1,
    }
    assert (shown.actor, shown.incident, shown.session, shown.drill) == (
        "ana",
        s.incident,
        s.id,
        False,
    )
    assert load_session(conn, s.id) == s


def test_a_check_result_is_saved_and_suggests_a_choice(conn: sqlite3.Connection) -> None:
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    s = act(conn, RB, s.id, CheckDone("confirm", WARN))
    assert s.answer("confirm") == {"check": WARN}
    assert suggested(RB.step("confirm"), s.answer("confirm")) == "Errors are high"
    s = act(conn, RB, s.id, Choose("confirm", "Errors are high"))
    assert s.current == "vendor"
    entry = audit.entries(conn)[-2]
    assert entry.kind == "choice"
    assert entry.body["suggested"] == "Errors are high"
    assert entry.body["next"] == "vendor"
    assert kinds(conn, s) == [
        "session.start",
        "step.shown",
        "check.result",
        "choice",
        "step.shown",
    ]


def test_next_skip_back_note_and_abandon(conn: sqlite3.Connection) -> None:
    s = walk_to(conn, "recheck")
    s = act(conn, RB, s.id, Back("recheck"))
    assert s.current == "tell-support"
    assert s.answer("tell-support")["note"] == "posted in #support at 14:05"
    s = act(conn, RB, s.id, Next("tell-support"))
    assert s.current == "recheck"
    with pytest.raises(EngineError, match="which way"):
        act(conn, RB, s.id, Skip("recheck", "no data"))
    s = act(conn, RB, s.id, Skip("recheck", " no data yet ", to="Still failing"))
    assert s.current == "escalate" and s.answer("recheck")["skipped"] == "no data yet"
    with pytest.raises(EngineError, match="needs a reason"):
        act(conn, RB, s.id, Abandon("escalate", "   "))
    s = act(conn, RB, s.id, Abandon("escalate", "handed over to the owners"))
    assert s.status == "abandoned"
    with pytest.raises(EngineError, match="abandoned"):
        act(conn, RB, s.id, Next("escalate"))
    assert kinds(conn, s)[-6:] == [
        "back",
        "step.shown",
        "step.shown",
        "skip",
        "step.shown",
        "session.abandon",
    ]
    assert audit.verify(conn)[1] == []


def test_next_at_an_end_finishes(conn: sqlite3.Connection) -> None:
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    s = act(conn, RB, s.id, Choose("confirm", "Errors are normal"))
    s = act(conn, RB, s.id, Choose("other-cause", "No pattern"))
    assert s.current == "escalate"
    s = act(conn, RB, s.id, Next("escalate"))
    assert s.status == "finished"
    assert kinds(conn, s)[-1] == "session.finish"
    assert active_session(conn, RB.id, INCIDENT, drill=False) is None


def test_next_on_a_step_with_choices_is_refused(conn: sqlite3.Connection) -> None:
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    before = snapshot(conn, s.id)
    with pytest.raises(EngineError, match="choose"):
        act(conn, RB, s.id, Next("confirm"))
    with pytest.raises(EngineError, match="no choice"):
        act(conn, RB, s.id, Choose("confirm", "Errors are medium"))
    with pytest.raises(EngineError, match="first step"):
        act(conn, RB, s.id, Back("confirm"))
    assert snapshot(conn, s.id) == before


def test_a_required_note_blocks_leaving(conn: sqlite3.Connection) -> None:
    s = walk_to(conn, "tell-support")
    with pytest.raises(EngineError, match="needs a note"):
        act(conn, RB, s.id, Next("tell-support"))
    with pytest.raises(EngineError, match="empty note"):
        act(conn, RB, s.id, WriteNote("tell-support", " \n "))
    assert load_session(conn, s.id).current == "tell-support"
    s = act(conn, RB, s.id, WriteNote("tell-support", "posted in #support"))
    s = act(conn, RB, s.id, Next("tell-support"))
    assert s.current == "recheck"
    note = next(e for e in audit.entries(conn) if e.kind == "note")
    assert note.body["text"] == "posted in #support"


def test_a_kill_switch_step_blocks_leaving_until_a_switch_outcome(
    conn: sqlite3.Connection,
) -> None:
    s = walk_to(conn, "stop-refunds")
    with pytest.raises(EngineError, match="kill switch first"):
        act(conn, RB, s.id, Next("stop-refunds"))
    failed = {"verdict": "NOT verified", "before": "auto-act", "after": "auto-act"}
    s = act(conn, RB, s.id, SwitchDone("stop-refunds", failed))
    with pytest.raises(EngineError, match="not verified"):
        act(conn, RB, s.id, Next("stop-refunds"))
    s = act(conn, RB, s.id, SwitchDone("stop-refunds", SWITCHED))
    s = act(conn, RB, s.id, Next("stop-refunds"))
    assert s.current == "tell-support"
    assert s.answer("stop-refunds")["switch"] == SWITCHED


def test_a_kill_switch_step_can_be_skipped_with_a_reason(conn: sqlite3.Connection) -> None:
    s = walk_to(conn, "stop-refunds")
    with pytest.raises(EngineError, match="needs a reason"):
        act(conn, RB, s.id, Skip("stop-refunds", ""))
    s = act(conn, RB, s.id, Skip("stop-refunds", "already off by the payments team"))
    assert s.current == "tell-support"
    skip = [e for e in audit.entries(conn) if e.kind == "skip"][-1]
    assert skip.body["reason"] == "already off by the payments team"
    assert skip.body["next"] == "tell-support"


def test_an_action_for_a_step_no_longer_current_changes_nothing(
    conn: sqlite3.Connection,
) -> None:
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    s = act(conn, RB, s.id, Choose("confirm", "Errors are high"))
    before = snapshot(conn, s.id)
    for stale in (
        Choose("confirm", "Errors are normal"),
        CheckDone("confirm", WARN),
        WriteNote("confirm", "late"),
        Back("confirm"),
        Abandon("confirm", "typed late"),
        Skip("confirm", "typed late", to="Errors are normal"),
    ):
        with pytest.raises(EngineError, match="no longer open"):
            act(conn, RB, s.id, stale)
        assert snapshot(conn, s.id) == before
    assert audit.verify(conn)[1] == []


def test_an_action_on_another_runbook_or_session_is_refused(conn: sqlite3.Connection) -> None:
    s = start(conn, RB, operator="ana", incident=INCIDENT)
    other = RB.model_copy(update={"id": "other"})
    with pytest.raises(EngineError, match="walks billing-provider-outage"):
        act(conn, other, s.id, Choose("confirm", "Errors are high"))
    with pytest.raises(EngineError, match="no runbook session"):
        act(conn, RB, "no-such-session", Next("confirm"))


# --- resuming ---------------------------------------------------------------------------------


def test_reopening_the_database_resumes_the_same_session(db: Path) -> None:
    first = connect(db)
    s = walk_to(first, "tell-support")
    s = act(first, RB, s.id, WriteNote("tell-support", "half written"))
    first.close()  # the laptop lid closes

    again = connect(db)
    resumed = start(again, RB, operator="ana", incident=INCIDENT)
    assert resumed.id == s.id
    assert resumed.current == "tell-support"
    assert resumed.path == s.path
    assert resumed.answers == s.answers
    last = audit.entries(again)[-1]
    assert last.kind == "step.shown"
    assert last.body["resumed"] is True and last.body["step"] == "tell-support"
    assert len(sessions(again, incident=INCIDENT)) == 1
    resumed = act(again, RB, resumed.id, Next("tell-support"))
    assert resumed.current == "recheck"
    assert audit.verify(again)[1] == []
    again.close()


def test_a_runbook_that_lost_the_current_step_does_not_resume(conn: sqlite3.Connection) -> None:
    s = walk_to(conn, "tell-support")
    steps = [st for st in RB.steps if st.id != "tell-support"]
    changed = RB.model_copy(update={"steps": steps})
    before = len(audit.entries(conn))
    with pytest.raises(EngineError, match="step 'tell-support' is gone"):
        start(conn, changed, operator="ana", incident=INCIDENT)
    assert len(audit.entries(conn)) == before
    assert load_session(conn, s.id).status == "active"


def test_drill_sessions_are_separate_from_real_ones(conn: sqlite3.Connection) -> None:
    real = walk_to(conn, "vendor")
    drill = start(conn, RB, operator="ana", incident=INCIDENT, drill=True)
    assert drill.id != real.id and drill.drill and drill.current == "confirm"
    assert start(conn, RB, operator="ana", incident=INCIDENT).id == real.id
    assert start(conn, RB, operator="ana", incident=INCIDENT, drill=True).id == drill.id
    drill_entries = [e for e in audit.entries(conn) if e.session == drill.id]
    assert drill_entries and all(e.drill for e in drill_entries)
    assert not any(e.drill for e in audit.entries(conn) if e.session == real.id)
    # No incident at all: yet another session.
    practice = start(conn, RB, operator="ana", drill=True)
    assert practice.id not in (real.id, drill.id) and practice.incident is None


# --- the property test --------------------------------------------------------------------------


@dataclass
class Model:
    """The rules of a walkthrough, written out plainly."""

    rb: Runbook
    status: str = "active"
    path: list[str] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, a: Action) -> bool:
        """Apply ``a``; False (and no change) when the engine must refuse it."""
        if self.status != "active" or a.step != self.path[-1]:
            return False
        step = self.rb.step(self.path[-1])
        ans = self.answers.get(step.id, {})
        switched = ans.get("switch") or {}
        ready = not (step.note and step.note.required and not ans.get("note")) and not (
            step.kill_switch and switched.get("verdict") != "verified"
        )

        def put(**kw: Any) -> None:
            self.answers[step.id] = {**ans, **kw}

        def go(to: str | None) -> None:
            if to:
                self.path.append(to)
            else:
                self.status = "finished"

        if isinstance(a, CheckDone):
            put(check=a.result)
        elif isinstance(a, WriteNote):
            if not a.text.strip():
                return False
            put(note=a.text.strip())
        elif isinstance(a, SwitchDone):
            # A verified switch is not undone by a later outcome that is not (a recheck
            # through a channel that is down): the step stays done.
            kept = self.answers.get(step.id, {}).get("switch", {})
            if not (kept.get("verdict") == "verified" and a.outcome["verdict"] != "verified"):
                put(switch=a.outcome)
        elif isinstance(a, Choose):
            choice = next((c for c in step.choices if c.label == a.label), None)
            if choice is None or not ready:
                return False
            put(choice=a.label)
            go(choice.next)
        elif isinstance(a, Next):
            if step.choices or not ready:
                return False
            go(step.next)
        elif isinstance(a, Skip):
            if not a.reason.strip():
                return False
            if step.choices:
                choice = next((c for c in step.choices if c.label == a.to), None)
                if choice is None:
                    return False
                put(skipped=a.reason.strip())
                go(choice.next)
            else:
                put(skipped=a.reason.strip())
                go(step.next)
        elif isinstance(a, Back):
            if len(self.path) < 2:
                return False
            self.path.pop()
        elif isinstance(a, Abandon):
            if not a.reason.strip():
                return False
            self.status = "abandoned"
        return True


STEP_IDS = [s.id for s in RB.steps]
LABELS = sorted({c.label for s in RB.steps for c in s.choices})
WORDS = st.one_of(st.sampled_from(["", "  ", "why", " seen it \n"]), st.text(max_size=8))


@st.composite
def actions(draw: st.DrawFn, current: str) -> Action:
    # Mostly what a person can do on the open step (its own labels), sometimes a stale key,
    # another step's label or made-up text.
    own = [c.label for c in RB.step(current).choices] or LABELS
    label = st.one_of(
        st.sampled_from(own), st.sampled_from(own), st.sampled_from(LABELS), st.text(max_size=6)
    )
    step = draw(
        st.one_of(
            st.just(current),
            st.just(current),
            st.just(current),
            st.sampled_from(STEP_IDS),
            st.text(max_size=6),
        )
    )
    kinds = ["check", "note", "switch", "choose", "choose", "next", "next", "skip", "back"]
    kind = draw(st.sampled_from([*kinds, "abandon"] if draw(st.integers(0, 5)) == 0 else kinds))
    if kind == "check":
        return CheckDone(step, {"outcome": draw(st.sampled_from(["ok", "warn", "unknown"]))})
    if kind == "note":
        return WriteNote(step, draw(WORDS))
    if kind == "switch":
        return SwitchDone(step, {"verdict": draw(st.sampled_from(["verified", "NOT verified"]))})
    if kind == "choose":
        return Choose(step, draw(label))
    if kind == "next":
        return Next(step)
    if kind == "skip":
        to = draw(st.one_of(st.none(), label))
        return Skip(step, draw(WORDS), to=to)
    if kind == "back":
        return Back(step)
    return Abandon(step, draw(st.sampled_from(["", "done", "  "])))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), drill=st.booleans(), n=st.integers(min_value=0, max_value=40))
def test_any_sequence_of_actions_matches_the_model(
    data: st.DataObject, drill: bool, n: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agentdeck.db"
        conn = connect(path)
        s = start(conn, RB, operator="ana", incident=INCIDENT, drill=drill)
        model = Model(RB, path=[RB.first.id])
        for _ in range(n):
            action = data.draw(actions(model.path[-1]))
            before = snapshot(conn, s.id)
            expected_ok = model.apply(action)
            try:
                act(conn, RB, s.id, action)
                ok = True
            except EngineError:
                ok = False
            assert ok == expected_ok, action
            if not ok:
                assert snapshot(conn, s.id) == before, action
        conn.close()
        # What is on disk, read by a fresh connection, is what the model says.
        conn = connect(path)
        saved = load_session(conn, s.id)
        assert (saved.status, list(saved.path), saved.answers) == (
            model.status,
            model.path,
            model.answers,
        )
        checked, problems = audit.verify(conn)
        assert problems == []
        trail = [e for e in audit.entries(conn) if e.session == s.id]
        assert checked == len(trail)
        assert all(e.drill == drill for e in trail)
        shown = [e.body["step"] for e in trail if e.kind == "step.shown"]
        assert shown[-1] == saved.current or saved.status != "active"
        conn.close()

"""The runbook walkthrough: the 2 a.m. screen.

One step at a time: a large title, where you are (step n and the path taken), the card's owner
and escalation always in view, the step's text, its check and what the check suggests, and the
keys that apply. Keys go to the write thread in the order they were typed and apply to the step
that is current when each is read (like the desk's key tape), so a burst of keys does what the
same keys typed slowly would. The session is saved after every step; leaving, a crash or a
dropped connection resumes at the same step with the same answers.

Text typed after ``w`` (note), ``s`` (skip) or ``a`` (abandon) is collected by the screen itself
(no input widget to focus), so nothing typed fast lands anywhere else.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import Future
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from runbooks.cards import AgentCard
from runbooks.checks import CheckContext, CheckResult, run_http_check, run_sql_check
from runbooks.engine import (
    CheckDone,
    EngineError,
    Intent,
    Session,
    SwitchDone,
    act,
    act_intent,
    start,
    suggested,
)
from runbooks.incidents import IncidentLine
from runbooks.model import HttpCheck, Runbook, SqlCheck, Step
from tui.keymap import QUIT
from tui.screens.area import AreaScreen
from tui.services import Services
from tui.text import one_line, safe_text
from tui.widgets.card_brief import CardBrief
from tui.widgets.status_line import StatusLine

OUTCOME_STYLE = {"ok": "bold green", "warn": "bold yellow", "unknown": "bold magenta"}

TEXT_MODES = {"w": "note", "s": "skip", "a": "abandon"}
PROMPTS = {
    "note": "Note",
    "skip": "Why skip this step?",
    "abandon": "Why abandon the runbook?",
}


class RunbookScreen(AreaScreen):
    """Walk one runbook for one incident."""

    CSS_PATH = "../oncall.tcss"
    AREA = "oncall"
    AUTO_FOCUS = None
    BINDINGS = [
        QUIT,
        Binding("escape", "leave", "Board", tooltip="Back to the board (saved)", id="rb.leave"),
        Binding("enter", "noop", "Next", tooltip="Go on (or finish at an end)", id="rb.next"),
        Binding("b", "noop", "Back", tooltip="The step before", id="rb.back"),
        Binding("w", "noop", "Note", tooltip="Write a note on this step", id="rb.note"),
        Binding("s", "noop", "Skip", tooltip="Skip this step, with a reason", id="rb.skip"),
        Binding("r", "noop", "Recheck", tooltip="Run the step's check again", id="rb.recheck"),
        Binding("k", "noop", "Kill switch", tooltip="Open the kill switch", id="rb.kill"),
        Binding("c", "noop", "Card", tooltip="The agent card in full", id="rb.card"),
        Binding("a", "noop", "Abandon", tooltip="Abandon the runbook", id="rb.abandon"),
    ]

    def __init__(
        self,
        services: Services,
        runbook: Runbook,
        card: AgentCard,
        incident: IncidentLine | None,
    ) -> None:
        super().__init__(services)
        self.runbook = runbook
        self.card = card
        self.incident = incident
        self.session: Session | None = None
        self.message: Text | None = None
        self.mode: str | None = None
        self.buffer = ""
        self._pending = 0
        self._checks_started: set[tuple[str, int]] = set()
        self._due: dict[str, datetime] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._header(), id="rb-header")
        yield Static(Text(""), id="rb-title")
        yield Static(Text(""), id="rb-where")
        yield CardBrief(self.card, id="rb-card")
        with VerticalScroll(id="rb-body"):
            yield Static(Text(""), id="rb-step")
        yield Static(Text(""), id="rb-input")
        yield StatusLine(self.services, id="status")
        yield Footer()

    def _header(self) -> Text:
        t = Text()
        if self.services.drill:
            t.append(" DRILL: nothing is sent ", "bold black on yellow")
            t.append(" ")
        t.append(one_line(self.runbook.title, 60), "bold")
        if self.incident is not None:
            t.append(f" · {one_line(self.incident.incident_id, 40)}", "dim")
            if self.incident.severity:
                t.append(f" · {one_line(self.incident.severity, 12)}", "dim")
        return t

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        incident = self.incident.key if self.incident is not None else None

        def begin(conn: sqlite3.Connection) -> Session:
            return start(
                conn,
                self.runbook,
                operator=self.services.reviewer,
                incident=incident,
                drill=self.services.drill,
            )

        self._submit(begin)

    def is_busy(self) -> bool:
        return self._pending > 0 or self.session is None

    # -- the write thread ------------------------------------------------------------------------

    def _submit(self, fn: Any, *, quiet_stale: bool = False) -> None:
        """Run ``fn(conn)`` on the write thread after every key before it; show what it gives."""
        self._pending += 1
        future: Future[Session] = self.services.writer.submit(fn)
        loop = self._loop
        assert loop is not None

        def done(f: Future[Session]) -> None:
            with suppress(RuntimeError):  # the app has closed
                loop.call_soon_threadsafe(self._applied, f, quiet_stale)

        future.add_done_callback(done)

    def _applied(self, future: Future[Session], quiet_stale: bool) -> None:
        self._pending -= 1
        try:
            session = future.result()
        except EngineError as exc:
            if not quiet_stale:
                self.message = Text(str(exc), "bold yellow")
                self._redraw()
            return
        except Exception as exc:  # the database refused: one line, the app stays up
            self.services.worker_failed(exc)
            return
        self.session = session
        self._redraw()
        self._start_check()

    def _intent(self, intent: Intent) -> None:
        rb = self.runbook

        def apply(conn: sqlite3.Connection) -> Session:
            sid = self._session_id(conn)
            return act_intent(conn, rb, sid, intent)

        self.message = None
        self._submit(apply)

    def _session_id(self, conn: sqlite3.Connection) -> str:
        # Keys typed before the session was read (the very first frame) still belong to it: it
        # is the only active session of this runbook, incident and drill mode.
        from runbooks.engine import active_session

        if self.session is not None:
            return self.session.id
        found = active_session(
            conn,
            self.runbook.id,
            self.incident.key if self.incident else None,
            drill=self.services.drill,
        )
        if found is None:
            raise EngineError("this runbook has no open session")
        return found.id

    # -- keys ------------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        key = event.key
        if key in ("ctrl+q", "f1", "f2", "f3") or key.startswith("ctrl+"):
            return  # quit, areas and the palette are the app's
        event.stop()
        event.prevent_default()
        self._key(key, event.character)

    def _key(self, key: str, character: str | None) -> None:
        if self.mode is not None:
            self._text_key(key, character)
            return
        if key.isdigit() and key != "0":
            self._intent(Intent("choose", index=int(key) - 1))
        elif key == "enter":
            self._intent(Intent("next"))
        elif key == "b":
            self._intent(Intent("back"))
        elif key in ("y", "n"):
            self._intent(Intent("tick", yes=key == "y"))
        elif key in TEXT_MODES:
            self.mode = TEXT_MODES[key]
            self.buffer = ""
            self._render_input()
        elif key == "r":
            self._recheck()
        elif key == "k":
            self._kill_switch()
        elif key == "c":
            from tui.screens.card import CardScreen

            self.app.push_screen(CardScreen(self.card))
        elif key == "escape":
            self.action_leave()

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.mode is not None:
            self.buffer += " ".join(event.text.split())
            self._render_input()

    def _text_key(self, key: str, character: str | None) -> None:
        if key == "escape":
            self.mode = None
        elif key == "enter":
            mode, text = self.mode, self.buffer
            self.mode = None
            assert mode is not None
            self._intent(Intent(mode, text=text))
        elif key == "backspace":
            self.buffer = self.buffer[:-1]
        elif character and character.isprintable():
            self.buffer += character
        self._render_input()

    def action_noop(self) -> None:
        """Footer entries are shown for the keys; clicks do nothing (keys go through on_key)."""

    def action_leave(self) -> None:
        self.app.pop_screen()

    # -- checks ----------------------------------------------------------------------------------

    def _check_context(self) -> CheckContext:
        from store.timestamps import parse_instant

        start_at = end_at = None
        if self.incident is not None:
            start_at = parse_instant(self.incident.starts_at)
            if self.incident.ends_at:
                end_at = parse_instant(self.incident.ends_at)
        return CheckContext(
            self.runbook.workflow,
            start_at,
            end_at,
            now=self.services.now(),
            monthly_budget_usd=self.card.budget.monthly_usd,
        )

    def _start_check(self, *, again: bool = False) -> None:
        s = self.session
        if s is None or s.status != "active":
            return
        step = self.runbook.step(s.current)
        if step.check is None or step.check.kind == "manual":
            return
        mark = (step.id, len(s.path))
        if not again and (mark in self._checks_started or s.answer(step.id).get("check")):
            return
        self._checks_started.add(mark)
        if step.wait is not None:
            self._due[step.id] = self.services.now() + timedelta(minutes=step.wait.minutes)
            self.set_timer(step.wait.minutes * 60, lambda: self._due_recheck(step.id))
        self._work(self._run_check(step), "rb-check")

    def _due_recheck(self, step_id: str) -> None:
        if self.session is not None and self.session.current == step_id:
            self._recheck()

    def _recheck(self) -> None:
        self._start_check(again=True)

    async def _run_check(self, step: Step) -> None:
        check = step.check
        result: CheckResult
        if isinstance(check, SqlCheck):
            ctx = self._check_context()

            def read(conn: sqlite3.Connection) -> CheckResult:
                return run_sql_check(conn, check, ctx)

            result = await asyncio.wrap_future(self.services.reader.submit(read))
        elif isinstance(check, HttpCheck):
            result = await asyncio.to_thread(run_http_check, check)
        else:
            return
        rb = self.runbook

        def record(conn: sqlite3.Connection) -> Session:
            sid = self._session_id(conn)
            return act(conn, rb, sid, CheckDone(step.id, result.to_json()))

        # Bound to the step it checked: if the operator has moved on, it is dropped quietly.
        self._submit(record, quiet_stale=True)

    # -- kill switch -----------------------------------------------------------------------------

    def _kill_switch(self) -> None:
        from tui.screens.switch import SwitchResult, SwitchScreen

        def opened(ended: SwitchResult | None) -> None:
            outcome, after = ended if ended is not None else (None, [])
            if outcome is not None:
                step_id, result = outcome
                rb = self.runbook

                def record(conn: sqlite3.Connection) -> Session:
                    return act(conn, rb, self._session_id(conn), SwitchDone(step_id, result))

                self._submit(record)
            # Keys typed after the switch screen ended, in the same burst, come here in order.
            for key, character in after:
                self._key(key, character)

        # The screen first waits for every key before ``k`` to be applied, then checks that
        # the step it lands on is a kill-switch step.
        self.app.push_screen(
            SwitchScreen(self.services, self.runbook, self.card, self.incident, self._session_id),
            opened,
        )

    # -- drawing ---------------------------------------------------------------------------------

    def _render_input(self) -> None:
        panel = self.query_one("#rb-input", Static)
        if self.mode is None:
            panel.update(Text(""))
            return
        t = Text()
        t.append(f" {PROMPTS[self.mode]}: ", "bold reverse")
        t.append(" ")
        t.append(safe_text(self.buffer[-200:]))
        t.append("▏", "blink")
        t.append("  enter saves · esc cancels", "dim")
        panel.update(t)

    def _redraw(self) -> None:
        s = self.session
        if s is None:
            return
        step = self.runbook.step(s.current)
        title = Text(f" {step.title} ", "bold reverse")
        if s.status != "active":
            title = Text(f" Runbook {s.status}: {self.runbook.title} ", "bold reverse")
        self.query_one("#rb-title", Static).update(title)
        where = Text()
        where.append(f"Step {len(s.path)}", "bold")
        where.append(" · ")
        where.append(
            " › ".join(s.path[-6:]) if len(s.path) <= 6 else "… › " + " › ".join(s.path[-5:])
        )
        self.query_one("#rb-where", Static).update(where)
        self.query_one("#rb-step", Static).update(self._step_body(s, step))

    def _step_body(self, s: Session, step: Step) -> RenderableType:
        parts: list[RenderableType] = []
        answer = s.answer(step.id)
        if s.status != "active":
            done = Text(f"This runbook is {s.status}. ", "bold")
            done.append("escape returns to the board.", "dim")
            parts.append(done)
            return Group(*parts)
        if step.text:
            parts.append(Markdown(step.text.strip()))
        parts.append(self._work_panel(step, answer))
        if answer.get("note"):
            parts.append(Text.assemble(("note: ", "dim"), safe_text(str(answer["note"]))))
        if answer.get("skipped"):
            parts.append(Text.assemble(("skipped: ", "dim"), safe_text(str(answer["skipped"]))))
        parts.append(self._ways_on(step, answer))
        if self.message is not None:
            parts.append(self.message)
        return Group(*parts)

    def _work_panel(self, step: Step, answer: dict[str, Any]) -> RenderableType:
        t = Text()
        if step.check is not None:
            check = answer.get("check")
            if step.check.kind == "manual":
                t.append("Question: ", "bold")
                t.append(step.check.prompt)  # type: ignore[union-attr]
                t.append("  y yes · n no", "dim")
                if check:
                    t.append("\n")
            else:
                t.append("Check: ", "bold")
            if check:
                outcome = str(check.get("outcome", "unknown"))
                t.append(f" {outcome.upper()} ", OUTCOME_STYLE.get(outcome, "bold") + " reverse")
                t.append(" ")
                t.append(one_line(str(check.get("summary", "")), 300))
                for label, value in check.get("rows", [])[:5]:
                    t.append(f"\n  {one_line(str(label), 40)}: ", "dim")
                    t.append(one_line(str(value), 80))
                if outcome == "unknown":
                    t.append("\n  The check could not tell: decide by hand.", "magenta")
            elif step.check.kind != "manual":
                t.append("running…", "dim")
            if step.wait is not None:
                due = self._due.get(step.id)
                t.append(f"\nWait {step.wait.minutes:g} min, then check again", "bold")
                if due is not None:
                    t.append(f" (due {due:%H:%M} UTC)", "dim")
                t.append(" · r rechecks now", "dim")
        if step.escalate is not None:
            t.append("Call:", "bold")
            roles = {
                "contact": ("escalation", self.card.escalation.contact),
                "technical": ("technical owner", self.card.owners.technical),
                "business": ("business owner", self.card.owners.business),
                "model_steward": ("model steward", self.card.owners.model_steward),
            }
            for role in step.escalate.to:
                label, who = roles[role]
                t.append(f"\n  {label}: ", "dim")
                t.append(one_line(who, 60), "bold yellow")
            t.append(f"\n  rotation: {one_line(self.card.escalation.rotation, 40)}", "dim")
        if step.note is not None:
            t.append(f"Note: {step.note.prompt}", "bold")
            t.append("  w writes it" + (" (required)" if step.note.required else ""), "dim")
        if step.kill_switch is not None:
            ks = step.kill_switch
            state = self.card.tier if ks.restore else ks.set_tier
            verb = "Restore" if ks.restore else "Set"
            done = answer.get("switch")
            if done:
                verdict = str(done.get("verdict", ""))
                style = "bold white on green" if verdict == "verified" else "bold white on red"
                if done.get("drill"):
                    style = "bold black on yellow"
                t.append(f" {verdict.upper()} ", style)
                t.append(f" {self.card.workflow} → {done.get('after') or state}")
                if done.get("error"):
                    t.append(f"\n{one_line(str(done['error']), 300)}", "red")
                t.append("\n  k to try again", "dim")
            else:
                t.append(" k ", "bold white on red")
                t.append(f" {verb} {self.card.workflow} to {state}", "bold red")
                t.append(f"\n  through {self.card.kill_switch.backend} ", "dim")
                t.append(one_line(self.card.kill_switch.flag, 50), "dim")
                t.append(" · you will confirm by typing the workflow name", "dim")
        return t

    def _ways_on(self, step: Step, answer: dict[str, Any]) -> Text:
        t = Text()
        if step.choices:
            hint = suggested(step, answer)
            for i, c in enumerate(step.choices):
                t.append(f"\n {i + 1} ", "bold reverse")
                t.append(f" {c.label}", "bold" if c.label == hint else "")
                if c.label == hint:
                    t.append("  ← the check suggests this", "green")
                if answer.get("choice") == c.label:
                    t.append("  (chosen before)", "dim")
        elif step.next:
            t.append("\n enter ", "bold reverse")
            t.append(f" go on to {self.runbook.step(step.next).title}")
        else:
            t.append("\n enter ", "bold reverse")
            t.append(" finish the runbook")
        t.append("\n b back · w note · s skip · a abandon · c card · esc board", "dim")
        return t

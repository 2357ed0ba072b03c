"""The runbook walkthrough: the 2 a.m. view.

One step at a time: a large title, where you are (step n and the path taken), the card's owner
and escalation always in view, the step's text, its check and what the check suggests, and the
keys that apply. Keys go to the write thread in the order they were typed and apply to the step
that is current when each is read (like the desk's key tape), so a burst of keys does what the
same keys typed slowly would. The session is saved after every step; leaving, a crash or a
dropped connection resumes at the same step with the same answers.

Text typed after ``w`` (note), ``s`` (skip) or ``a`` (abandon) is collected by the view itself
(no input widget to focus), and the On call screen hands every key to the view that is open
when the key is read, so nothing typed fast lands anywhere else.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Static
from textual.worker import Worker, WorkerState

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
from tui.oncall.switch_panel import SwitchPanel, SwitchResult
from tui.services import Services
from tui.text import one_line, safe_text
from tui.widgets.card_brief import CardBrief

OUTCOME_STYLE = {"ok": "bold green", "warn": "bold yellow", "unknown": "bold magenta"}

TEXT_MODES = {"w": "note", "s": "skip", "a": "abandon"}
PROMPTS = {
    "note": "Note:",
    "skip": "Why skip this step?",
    "abandon": "Why abandon the runbook?",
}


class RunbookView(Vertical):
    """Walk one runbook for one incident. The screen calls :meth:`key` for every key."""

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        # Worker state messages do not bubble: hand errors to the app's one handler.
        if event.state == WorkerState.ERROR:
            self.services.worker_failed(event.worker.error)

    def _work(self, work: Any, group: str) -> None:
        self.run_worker(work, group=group, exclusive=True, exit_on_error=False)

    def __init__(
        self,
        services: Services,
        runbook: Runbook,
        card: AgentCard,
        incident: IncidentLine | None,
        *,
        on_leave: Callable[[], None],
        on_card: Callable[[], None],
    ) -> None:
        super().__init__(id="runbook-view")
        self.services = services
        self._on_leave = on_leave
        self._on_card = on_card
        self.switch: SwitchPanel | None = None
        #: Composed and mounted: widgets can be queried and workers started.
        self._ready = False
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
        self._ready = True
        # Keys may have been read before the view was on screen (the key that opened it and
        # the next ones came in one burst): draw, place, and check what they left.
        self._redraw()
        self._place_switch()
        self._start_check()

    def begin(self) -> None:
        """Resume or start the session: the first thing on the write thread, before any key."""
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
        if self.switch is not None and self.switch.phase in ("waiting", "checking", "sending"):
            return True
        return self._pending > 0 or self.session is None

    # -- the write thread ------------------------------------------------------------------------

    def _submit(self, fn: Any, *, quiet_stale: bool = False) -> None:
        """Run ``fn(conn)`` on the write thread after every key before it; show what it gives."""
        self._pending += 1
        future: Future[Session] = self.services.writer.submit(fn)
        loop = self._loop or asyncio.get_running_loop()

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

    def key(self, key: str, character: str | None) -> None:
        """One key, in the order typed: to the kill-switch panel while it is open."""
        if self.switch is not None:
            self.switch.key(key, character)
            return
        self._key(key, character)

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
            self.message = None  # an old message would read as the answer to this prompt
            self._redraw()
            self._render_input()
        elif key == "r":
            self._recheck()
        elif key == "k":
            self._kill_switch()
        elif key == "c":
            self._on_card()
        elif key == "escape":
            self._on_leave()

    def paste(self, text: str) -> None:
        if self.switch is not None:
            self.switch.paste(text)
        elif self.mode is not None:
            self.buffer += " ".join(text.split())
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
        if s is None or s.status != "active" or not self._ready:
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
        # The panel first waits for every key before ``k`` to be applied, then checks that
        # the step it lands on is a kill-switch step.
        self.switch = SwitchPanel(
            self.services,
            self.runbook,
            self.card,
            self.incident,
            self._session_id,
            self._switch_ended,
        )
        self.switch._on_late_key = self._key
        self._place_switch()

    def _place_switch(self) -> None:
        if self.switch is None or self.switch.parent is not None or not self._ready:
            return
        self.query_one("#rb-body").display = False
        self.mount(self.switch, before="#rb-input")

    def _switch_ended(self, result: SwitchResult) -> None:
        panel, self.switch = self.switch, None
        if panel is not None and panel.parent is not None:
            panel.remove()
        if self._ready:
            self.query_one("#rb-body").display = True
        if result is not None:
            step_id, outcome = result
            rb = self.runbook
            if outcome.get("verified") and outcome.get("after") and self._ready:
                from tui.widgets.card_brief import card_brief

                brief = self.query_one(CardBrief)
                brief.update(card_brief(self.card, live_state=str(outcome["after"])))

            def record(conn: sqlite3.Connection) -> Session:
                return act(conn, rb, self._session_id(conn), SwitchDone(step_id, outcome))

            self._submit(record)

    # -- drawing ---------------------------------------------------------------------------------

    def _render_input(self) -> None:
        try:
            panel = self.query_one("#rb-input", Static)
        except NoMatches:
            return
        if self.mode is None:
            panel.update(Text(""))
            return
        t = Text()
        t.append(f" {PROMPTS[self.mode]} ", "bold reverse")
        t.append(" ")
        t.append(safe_text(self.buffer[-200:]))
        t.append("▏", "blink")
        t.append("  enter saves · esc cancels", "dim")
        panel.update(t)

    def _redraw(self) -> None:
        s = self.session
        if s is None or not self._ready:
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
            done.append("\npath: ", "dim")
            done.append(" › ".join(s.path))
            for step_id, answer in s.answers.items():
                switch = answer.get("switch")
                if not switch:
                    continue
                done.append(f"\nkill switch at {step_id}: ", "dim")
                done.append(str(switch.get("verdict", "")), "bold")
                after = switch.get("after")
                if after and after != self.card.tier and not switch.get("drill"):
                    done.append(
                        f"\n{self.card.workflow} is still {after} (its card says "
                        f"{self.card.tier}): restore it when it is safe "
                        f"(agentdeck switch set {self.card.workflow} {self.card.tier} …)",
                        "bold yellow",
                    )
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
                if done.get("verdict") == "verified" or done.get("drill"):
                    t.append("\n  done: enter goes on (k would send it again)", "dim")
                else:
                    t.append("\n  k tries again, or s skips with a reason", "bold")
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
        skip = "" if step.choices else " · s skip"
        t.append(f"\n b back · w note{skip} · a abandon · c card · esc board", "dim")
        return t

"""The runbook walkthrough: the 2 a.m. view.

One step at a time: a large title, where you are (step n and the path taken), the card's owner
and escalation always in view, the step's text, its check and what the check suggests, and the
keys that apply. Keys go to the write thread in the order they were typed and apply to the step
that is current when each is read (like the desk's key tape), so a burst of keys does what the
same keys typed slowly would. The session is saved after every step; leaving, a crash or a
dropped connection resumes at the same step with the same answers.

The On call screen reads its keys one at a time and awaits :meth:`RunbookView.handle` for each,
so a key is applied only after the one before it has been saved, checked or sent: a choice typed
before the step's check has answered waits for the check, whose result and suggestion are
recorded first. What each key means where it lands is :mod:`runbooks.walk` (a key that means
nothing there is refused and the keys after it are dropped until escape).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
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

from runbooks import audit
from runbooks.cards import AgentCard
from runbooks.checks import CheckContext, CheckResult, run_http_check, run_sql_check
from runbooks.engine import (
    CheckDone,
    EngineError,
    Session,
    act,
    act_intent,
    start,
    suggested,
    switch_result,
    switch_satisfied,
)
from runbooks.incidents import IncidentLine
from runbooks.killswitch import Preflight, SwitchOutcome, execute
from runbooks.model import HttpCheck, Runbook, SqlCheck, Step
from runbooks.walk import Act, Command, Walk
from store.switches.base import SwitchBackend
from tui.oncall.switch_panel import (
    SwitchPanel,
    after_switch,
    anchor_trail,
    check_target,
    confirmed,
    on_own_connection,
    tell_source,
    verdict_style,
    verdict_words,
)
from tui.services import Services
from tui.text import one_line, safe_text
from tui.widgets.card_brief import CardBrief

#: What a ``switch.result`` body keeps in the session's answer.
_OUTCOME_KEYS = (
    "sent",
    "verified",
    "drill",
    "before",
    "after",
    "error",
    "readback",
    "verdict",
    "nothing_to_send",
    "satisfied",
    "mode",
    "next_steps",
    "channel",
    "state",
)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


OUTCOME_STYLE = {"ok": "bold green", "warn": "bold yellow", "unknown": "bold magenta"}

PROMPTS = {
    "note": "Note:",
    "skip": "Why skip this step?",
    "abandon": "Why abandon the runbook?",
}
CONFIRM_PROMPTS = {
    "skip": "Skip this step? Type skip, then enter:",
    "abandon": "Abandon the runbook? Type abandon, then enter:",
}


class RunbookView(Vertical):
    """Walk one runbook for one incident. The screen awaits :meth:`handle` for every key."""

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        # Worker state messages do not bubble: hand errors to the app's one handler.
        if event.state == WorkerState.ERROR:
            self.services.worker_failed(event.worker.error)

    def __init__(
        self,
        services: Services,
        runbook: Runbook,
        card: AgentCard,
        incident: IncidentLine | None,
        *,
        on_leave: Callable[[], None],
        on_card: Callable[[], None],
        on_help: Callable[[], None] | None = None,
        on_recheck_due: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(id="runbook-view")
        self.services = services
        self._on_leave = on_leave
        self._on_card = on_card
        self._on_help = on_help or (lambda: None)
        #: A wait step's recheck falls due: the screen queues it behind the keys typed before.
        self._on_recheck_due = on_recheck_due
        self.switch: SwitchPanel | None = None
        self._ready = False
        self.runbook = runbook
        self.card = card
        self.incident = incident
        self.session: Session | None = None
        self.walk = Walk()
        self.pre: Preflight | None = None
        self.backend: SwitchBackend | None = None
        self.outcome: SwitchOutcome | None = None
        self.recent: list[dict[str, Any]] = []
        self._busy = 0
        self._due: dict[str, datetime] = {}
        #: What telling the alert source and anchoring said after the last switch.
        self.told: list[str] = []
        #: The audit trail's key status (None: keyed and fine).
        self.trail_note: str | None = None
        #: The live tier of the card's primary switch and when it was read.
        self.live: tuple[str | None, str | None, str | None] = (None, None, None)

    @property
    def message(self) -> Text | None:
        return Text(self.walk.message, "bold yellow") if self.walk.message else None

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
        if self.trail_note:
            t.append(f"\naudit trail {one_line(self.trail_note, 120)}", "bold yellow")
        return t

    def on_mount(self) -> None:
        self._ready = True
        self._redraw()
        self.run_worker(self._read_live, group="rb-live", exclusive=True, exit_on_error=False)

    def is_busy(self) -> bool:
        return self._busy > 0 or self.session is None

    # -- the write thread ------------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """``fn(conn)`` on the write thread, after everything submitted before it."""
        return await asyncio.wrap_future(self.services.writer.submit(fn))

    async def start(self) -> None:
        """Resume or start the session, then run its step's check: every key waits for it."""
        incident = self.incident.key if self.incident is not None else None

        def begin(conn: sqlite3.Connection) -> Session:
            return start(
                conn,
                self.runbook,
                operator=self.services.reviewer,
                incident=incident,
                drill=self.services.drill,
            )

        self._busy += 1
        try:
            try:
                self.session = await self._write(begin)
            except EngineError as exc:
                self.walk.message = str(exc)
                return
            self._redraw()
            await self._check_if_due()
        finally:
            self._busy -= 1
            self._redraw()

    # -- keys ------------------------------------------------------------------------------------

    async def handle(self, key: str, character: str | None) -> None:
        """Apply one key, to the step current now; return once it is saved, checked, sent."""
        s = self.session
        if s is None:
            return
        self._busy += 1
        try:
            step = self.runbook.step(s.current)
            for command in self.walk.key(key, character, s, step):
                await self._do(command)
        finally:
            self._busy -= 1
        self._redraw()

    def paste(self, text: str) -> None:
        self.walk.paste(text)
        self._redraw()

    async def _do(self, command: Command) -> None:
        if isinstance(command, Act):
            await self._act(command)
            return
        what = command.what
        if what == "leave":
            self._on_leave()
        elif what == "card":
            self._on_card()
        elif what == "help":
            self._on_help()
        elif what == "recheck":
            await self.recheck()
        elif what == "tell":
            await self.tell()
        elif what == "preflight":
            await self._preflight()
        elif what == "send":
            await self._send()
        elif what.startswith("scroll:") and self._ready:
            body = self.query_one("#rb-body", VerticalScroll)
            moves = {
                "up": body.scroll_up,
                "down": body.scroll_down,
                "pageup": body.scroll_page_up,
                "pagedown": body.scroll_page_down,
                "home": body.scroll_home,
                "end": body.scroll_end,
            }
            moves[what.split(":", 1)[1]](animate=False)

    async def _act(self, command: Act) -> None:
        rb, intent = self.runbook, command.intent
        assert self.session is not None
        sid = self.session.id

        def apply(conn: sqlite3.Connection) -> Session:
            return act_intent(conn, rb, sid, intent)

        before = self.session
        try:
            self.session = await self._write(apply)
        except EngineError as exc:
            self.walk.refuse(str(exc))
            return
        if self.session.status != "active" and before.status == "active":
            await self._anchor()
        if self.session.path != before.path:
            self._redraw()
            await self._check_if_due()

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

    async def _check_if_due(self) -> None:
        """Run the current step's check when it has not answered yet (keys wait for it)."""
        s = self.session
        if s is None or s.status != "active":
            return
        step = self.runbook.step(s.current)
        if step.check is None or step.check.kind == "manual" or s.answer(step.id).get("check"):
            return
        await self._run_check(step)

    async def recheck(self) -> None:
        """Run the current step's check again (``r``, or a wait step falling due)."""
        s = self.session
        if s is None or s.status != "active":
            return
        step = self.runbook.step(s.current)
        if step.check is not None and step.check.kind != "manual":
            await self._run_check(step)

    async def _run_check(self, step: Step) -> None:
        check = step.check
        self.walk.message = None
        self._redraw()
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
        if step.wait is not None:
            self._due[step.id] = self.services.now() + timedelta(minutes=step.wait.minutes)
            if self._on_recheck_due is not None:
                due = self._on_recheck_due
                self.set_timer(step.wait.minutes * 60, lambda: due(step.id))
        rb = self.runbook
        body = {**result.to_json(), "at": _iso(self.services.now())}
        assert self.session is not None
        sid = self.session.id

        def record(conn: sqlite3.Connection) -> Session:
            return act(conn, rb, sid, CheckDone(step.id, body))

        try:
            self.session = await self._write(record)
        except EngineError:
            return  # the session moved on (another window): nothing to record here

    # -- kill switch -----------------------------------------------------------------------------

    def _place_switch(self) -> SwitchPanel:
        if self.switch is None:
            self.switch = SwitchPanel(
                self.card, drill=self.services.drill, root=str(self.services.workspace.root)
            )
        if self.switch.parent is None and self._ready:
            self.query_one("#rb-body").display = False
            self.mount(self.switch, before="#rb-input")
        return self.switch

    def _drop_switch(self) -> None:
        panel, self.switch = self.switch, None
        self.pre = self.backend = self.outcome = None
        if panel is not None and panel.parent is not None:
            panel.remove()
        if self._ready:
            self.query_one("#rb-body").display = True

    async def _preflight(self) -> None:
        form = self.walk.switch
        assert form is not None
        self.outcome = self.pre = None
        form.phase = "checking"
        self._place_switch()
        self._redraw()
        self.pre, self.backend, self.recent = await check_target(self.services, self.card, form)
        if self.pre.error is None and self.pre.current_state is not None and form.channel == 0:
            self.live = (self.pre.current_state, _iso(self.services.now()), None)
            self._draw_brief()
        if self.pre.error is not None or self.pre.nothing_to_send:
            # Nothing to confirm: a target that cannot be reached fails now (audited, with
            # the next steps); one already at or below the target is done, nothing sent.
            await self._execute("")
            return
        form.phase = "confirm"
        form.field = "confirm"

    async def _send(self) -> None:
        form = self.walk.switch
        assert form is not None and self.pre is not None
        ks = self.runbook.step(form.step).kill_switch if form.step else None
        if confirmed(self.card, form, reason_required=ks is None or ks.reason_required):
            await self._execute(form.reason.strip())

    async def _execute(self, reason: str) -> None:
        form = self.walk.switch
        assert form is not None and self.pre is not None and self.session is not None
        form.phase = "sending"
        form.problem = None
        self._redraw()
        session, rb = self.session, self.runbook
        step_id = form.step or session.current
        writer = self.services.writer
        saved: list[Session] = []

        def record(kind: str, body: dict[str, Any]) -> None:
            # Each entry is committed before the next thing happens (before sending, after
            # reading back); the result goes into the session in the same transaction as
            # its audit entry, so a crash right after it resumes with it on screen.
            if kind == "switch.result":
                outcome = {k: body[k] for k in _OUTCOME_KEYS if k in body}
                saved.append(
                    writer.submit(
                        lambda conn: switch_result(conn, rb, session.id, step_id, outcome, body)
                    ).result()
                )
                return
            writer.submit(
                lambda conn: audit.record(
                    conn,
                    actor=session.operator,
                    kind=kind,
                    body={"runbook": rb.id, "step": step_id, **body},
                    incident=session.incident,
                    session=session.id,
                    drill=session.drill,
                )
            ).result()

        self.outcome = await asyncio.to_thread(
            execute,
            self.card,
            self.pre,
            self.backend,
            reason=reason,
            drill=self.services.drill,
            record=record,
        )
        if saved:
            self.session = saved[-1]
        form.phase = "done"
        form.failed = not self.outcome.satisfied
        if self.outcome.verified and self.outcome.after and not self.outcome.drill:
            self.live = (self.outcome.after, _iso(self.services.now()), None)
            self._draw_brief()
        incident = self.incident.key if self.incident is not None else None
        lines = await after_switch(
            self.services,
            incident,
            self.outcome,
            reason=reason or self._reason(),
            card=self.card,
            pre=self.pre,
        )
        self.told = lines

    async def _anchor(self) -> None:
        """Anchor the audit trail's head outside the database (after a switch, a session's
        end); a problem is one line and changes nothing else."""
        problem = await anchor_trail(self.services)
        if problem:
            self.walk.message = problem

    async def tell(self) -> None:
        """``t``: tell the incident's alert source that someone is on it."""
        if self.incident is None:
            self.walk.message = "no incident: nothing to tell"
            return
        self.walk.message = "telling the alert source…"
        self._redraw()
        told = await tell_source(self.services, self.incident.key, reason=self._reason())
        self.walk.message = str(told.summary)
        await self._anchor()

    def _reason(self) -> str:
        """Why, for the alert source: the runbook and the step the operator is on."""
        s = self.session
        step = self.runbook.step(s.current).title if s is not None else ""
        return f"{self.runbook.title}: {step}".strip(": ")

    # -- the live tier ---------------------------------------------------------------------------

    async def _read_live(self) -> None:
        from runbooks.killswitch import read_status, record_checks
        from store.timestamps import now_iso

        statuses = await asyncio.to_thread(read_status, self.card, self.services.workspace.root)
        primary = statuses[0]
        self.live = (primary.state, _iso(self.services.now()), primary.error)

        def keep(conn: sqlite3.Connection) -> None:
            record_checks(conn, statuses, now_iso())

        await self._write(keep)
        # The keyring is read off the write thread: a slow keyring never holds up a key.
        self.trail_note = await asyncio.to_thread(
            on_own_connection, self.services, audit.key_status
        )
        self._draw_brief()
        if self.trail_note and self._ready:
            self.query_one("#rb-header", Static).update(self._header())

    def _draw_brief(self) -> None:
        if not self._ready:
            return
        from tui.widgets.card_brief import card_brief

        state, at, error = self.live
        self.query_one(CardBrief).update(
            card_brief(self.card, live_state=state, read_at=at, live_error=error)
        )

    # -- drawing ---------------------------------------------------------------------------------

    def _render_input(self) -> None:
        try:
            panel = self.query_one("#rb-input", Static)
        except NoMatches:
            return
        walk = self.walk
        t = Text()
        if walk.mode == "refused":
            t.append(" NOT TAKEN ", "bold white on red")
            t.append(" ")
            t.append(one_line(walk.refusal or "", 200), "bold")
            if walk.dropped:
                n = walk.dropped
                t.append(
                    f"\n{n} key{'s' if n != 1 else ''} typed after it "
                    f"{'were' if n != 1 else 'was'} not used",
                    "yellow",
                )
            t.append("  escape: go on", "dim")
        elif walk.mode == "confirm" and walk.text_kind:
            t.append(f" {CONFIRM_PROMPTS[walk.text_kind]} ", "bold reverse")
            t.append(" ")
            t.append(safe_text(walk.buffer), "bold")
            t.append("▏", "blink")
            t.append("  esc cancels", "dim")
        elif walk.mode == "text" and walk.text_kind:
            t.append(f" {PROMPTS[walk.text_kind]} ", "bold reverse")
            t.append(" ")
            t.append(safe_text(walk.buffer[-200:]))
            t.append("▏", "blink")
            t.append("  enter saves · esc cancels", "dim")
        panel.update(t)

    def redraw(self) -> None:
        """Draw the step, the form and the input line as they are now."""
        self._redraw()

    def _redraw(self) -> None:
        if not self._ready:
            return
        if self.walk.switch is None and self.switch is not None:
            self._drop_switch()
        if self.walk.switch is not None and self.switch is not None:
            self.switch.notes = self.told if self.outcome is not None else []
            self.switch.show(self.walk.switch, self.pre, self.outcome, self.recent)
        self._render_input()
        s = self.session
        if s is None:
            if self.walk.message:
                self.query_one("#rb-step", Static).update(Text(self.walk.message, "bold yellow"))
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
            last: dict[str, Any] | None = None
            for step_id in dict.fromkeys(s.path):  # in the order walked
                switch = s.answer(step_id).get("switch")
                if not switch:
                    continue
                word = "restore" if switch.get("mode") == "restore" else "kill switch"
                done.append(f"\n{word} at {step_id}: ", "dim")
                done.append(verdict_words(switch), "bold")
                if not switch.get("drill") and switch.get("after"):
                    last = switch
            # Only the agent's state after the last switch of the walk matters now.
            after = last.get("after") if last else None
            if after and after != self.card.tier:
                done.append(
                    f"\n{self.card.workflow} is still {after} (its card says "
                    f"{self.card.tier}): restore it when it is safe (agentdeck switch "
                    f"set {self.card.workflow} {self.card.tier} --restore …)",
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
                at = str(check.get("at") or "")
                if len(at) >= 16:
                    t.append(f" (ran {at[11:16]} UTC)", "dim")
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
            key = "R" if ks.restore else "k"
            done = answer.get("switch")
            if done:
                t.append(f" {verdict_words(done)} ", verdict_style(done))
                if done.get("nothing_to_send"):
                    t.append(
                        f" already {state}"
                        + ("" if ks.restore else " (or safer)")
                        + f": nothing to send ({self.card.workflow} is {done.get('after')})"
                    )
                else:
                    t.append(f" {self.card.workflow} → {done.get('after') or state}")
                if done.get("error"):
                    t.append(f"\n{one_line(str(done['error']), 300)}", "red")
                if switch_satisfied(done):
                    t.append(f"\n  done: enter goes on ({key} would check it again)", "dim")
                else:
                    second = ""
                    if self.card.kill_switch.fallback is not None:
                        second = ", then 2 for the second channel"
                    t.append(
                        f"\n  {key} tries again{second}; or escalate to "
                        f"{one_line(self.card.escalation.contact, 40)}, or s skips with a reason",
                        "bold",
                    )
            elif ks.restore:
                t.append(" R ", "bold white on blue")
                t.append(f" RESTORE {self.card.workflow} to {state}", "bold blue")
                t.append(" (raises it: only when it is safe)", "dim")
                t.append(f"\n  through {self.card.kill_switch.backend} ", "dim")
                t.append(one_line(self.card.kill_switch.flag, 50), "dim")
                t.append(f" · you will confirm by typing 'restore {self.card.workflow}'", "dim")
            else:
                t.append(" k ", "bold white on red")
                t.append(f" KILL SWITCH: lower {self.card.workflow} to {state}", "bold red")
                t.append(" (only ever lowers)", "dim")
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
        recheck = " · r recheck" if step.check is not None and step.check.kind != "manual" else ""
        tell = " · t tell the source" if self.incident is not None else ""
        t.append(
            f"\n b back · w note{skip} · a abandon{recheck}{tell} · c card · ? help · esc board",
            "dim",
        )
        return t

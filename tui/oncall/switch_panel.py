"""The kill switch: preflight, exactly what will be sent, a typed confirmation, then send, read
back, and say "verified" or "NOT verified" in plain words.

A panel inside the runbook view, not a screen of its own: every key of the area goes through
one screen, in order, so keys typed in one burst never land on the wrong view. It first waits
for every key typed before ``k`` to reach the database, then checks that the step it lands on
is a kill-switch step (a burst never opens the switch of a step the operator has not reached);
keys typed while it checks and sends are kept and applied in order.

The target is checked before anything is sent: reachable, the token accepted, its current
state; the agent's recent automatic actions are shown from the local copy. The operator types
the workflow's name and a reason; only then is anything sent. Every attempt is in the audit
trail, with its result. A failure offers the next steps: retry, the second channel, escalate
to the card's contact.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from runbooks import audit
from runbooks.cards import AgentCard
from runbooks.engine import Session, load_session
from runbooks.incidents import IncidentLine
from runbooks.killswitch import (
    Preflight,
    SwitchOutcome,
    SwitchRefused,
    channels,
    check_confirmation,
    execute,
    preflight,
    recent_auto_actions,
)
from runbooks.model import KillSwitchStep, Runbook
from store.switches.base import SwitchBackend
from tui.services import Services
from tui.text import one_line, safe_text

#: What the panel ends with: (step id, outcome), or None when nothing was attempted.
SwitchResult = tuple[str, dict[str, Any]] | None


class SwitchPanel(Static):
    """Confirm and send one kill-switch change; ``on_end(result)`` is called when it closes."""

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
        session_id: Callable[[sqlite3.Connection], str],
        on_end: Callable[[SwitchResult], None],
    ) -> None:
        super().__init__(Text("Kill switch", "bold"), id="switch-box")
        self._on_end = on_end
        self._on_late_key: Callable[[str, str | None], None] = lambda k, c: None
        self.services = services
        self.runbook = runbook
        self.card = card
        self.incident = incident
        self._session_id = session_id
        self.step_id: str | None = None
        self.ks: KillSwitchStep | None = None
        self.state: str | None = None
        self.channel = 0
        self.pre: Preflight | None = None
        self.backend: SwitchBackend | None = None
        self.recent: list[dict[str, Any]] = []
        self.typed = ""
        self.reason = ""
        self.field = "confirm"
        self.phase = "waiting"  # waiting | checking | confirm | sending | done
        self.problem: str | None = None
        self.outcome: SwitchOutcome | None = None
        self.session: Session | None = None
        #: Keys typed before the target was checked: replayed, in order, once it has been.
        self._early: list[tuple[str, str | None]] = []
        self._ended = False

    def on_mount(self) -> None:
        self._work(self._prepare(), "switch")

    # -- preparing -------------------------------------------------------------------------------

    async def _prepare(self) -> None:
        def where(conn: sqlite3.Connection) -> Session:
            return load_session(conn, self._session_id(conn))

        # Behind every key typed before ``k`` on the write thread.
        self.session = await asyncio.wrap_future(self.services.writer.submit(where))
        step = self.runbook.step(self.session.current)
        if self.session.status != "active" or step.kill_switch is None:
            self.app.notify("This step has no kill switch.", markup=False)
            self._end(None)
            self._replay()
            return
        self.step_id = step.id
        self.ks = step.kill_switch
        self.state = self.card.tier if self.ks.restore else self.ks.set_tier

        def recent(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return recent_auto_actions(conn, self.card.workflow)

        self.recent = await asyncio.wrap_future(self.services.reader.submit(recent))
        await self._preflight()

    async def _preflight(self) -> None:
        assert self.state is not None
        self.phase = "checking"
        self._redraw()
        root = self.services.workspace.root
        self.pre, self.backend = await asyncio.to_thread(
            preflight, self.card, self.state, channel=self.channel, root=root
        )
        self.phase = "confirm"
        self.field = "confirm"
        self._replay()

    # -- keys ------------------------------------------------------------------------------------

    def key(self, key: str, character: str | None) -> None:
        """One key for the panel (the screen routes every key of the area, in order)."""
        self._key(key, character)
        self._settle()

    def _end(self, result: SwitchResult) -> None:
        # Synchronous: the very next key already goes to the runbook, not here.
        self._ended = True
        self._on_end(result)

    def _settle(self) -> None:
        if not self._ended:
            self._redraw()

    def _key(self, key: str, character: str | None) -> None:
        if self._ended:
            return
        if self.phase == "done":
            self._done_key(key)
            return
        if key == "escape":
            self._end(None)
            return
        if self.phase in ("waiting", "checking", "sending"):
            # Typed before the target was checked (k and the name in one burst), or while the
            # change is on its way: kept, and replayed in order when the screen is ready.
            self._early.append((key, character))
            return
        if self.phase != "confirm":
            return
        if key == "tab":
            self.field = "reason" if self.field == "confirm" else "confirm"
        elif key == "enter":
            if self.field == "confirm":
                self.field = "reason"
            else:
                self._send()
        elif key == "backspace":
            if self.field == "confirm":
                self.typed = self.typed[:-1]
            else:
                self.reason = self.reason[:-1]
        elif character and character.isprintable():
            if self.field == "confirm":
                self.typed += character
            else:
                self.reason += character

    def paste(self, text: str) -> None:
        text = " ".join(text.split())
        if self.phase == "confirm":
            if self.field == "confirm":
                self.typed += text
            else:
                self.reason += text
            self._redraw()

    def _replay(self) -> None:
        early, self._early = self._early, []
        for key, character in early:
            if self._ended:
                # Typed after the panel closed, in the same burst: the runbook's keys.
                self._on_late_key(key, character)
            else:
                self._key(key, character)
        self._settle()

    def _done_key(self, key: str) -> None:
        assert self.outcome is not None
        ok = self.outcome.verified or self.outcome.drill
        if key in ("enter", "escape"):
            self._end((self.step_id, self.outcome.to_json()) if self.step_id else None)
        elif key == "r" and not ok:
            self._work(self._preflight(), "switch")
        elif key == "2" and not ok and len(channels(self.card)) > 1 and self.channel == 0:
            self.channel = 1
            self._work(self._preflight(), "switch")

    # -- sending ---------------------------------------------------------------------------------

    def _send(self) -> None:
        assert self.ks is not None
        try:
            check_confirmation(
                self.card.workflow,
                self.typed,
                self.reason,
                reason_required=self.ks.reason_required or self.ks.restore,
            )
        except SwitchRefused as exc:
            self.problem = str(exc)
            self._redraw()
            return
        self.problem = None
        self.phase = "sending"
        self._redraw()
        self._work(self._execute(), "switch")

    async def _execute(self) -> None:
        assert self.pre is not None and self.session is not None
        session = self.session
        writer = self.services.writer

        def record(kind: str, body: dict[str, Any]) -> None:
            # Each entry is committed before the next thing happens (before sending, after
            # reading back): the trail never misses an attempt.
            writer.submit(
                lambda conn: audit.record(
                    conn,
                    actor=session.operator,
                    kind=kind,
                    body={"runbook": self.runbook.id, "step": self.step_id, **body},
                    incident=session.incident,
                    session=session.id,
                    drill=self.services.drill,
                )
            ).result()

        self.outcome = await asyncio.to_thread(
            execute,
            self.card,
            self.pre,
            self.backend,
            reason=self.reason.strip(),
            drill=self.services.drill,
            record=record,
        )
        self.phase = "done"
        self._replay()

    # -- drawing ---------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self.update(self._body())

    def _where(self, text: str) -> str:
        """A path inside the workspace shown from the workspace (shorter, and the same on
        every machine)."""
        root = str(self.services.workspace.root)
        if text.startswith(root + "/"):
            return "./" + text[len(root) + 1 :]
        return text

    def _body(self) -> Group:
        parts: list[Any] = []
        title = Text()
        if self.services.drill:
            title.append(" DRILL: nothing is sent ", "bold black on yellow")
            title.append(" ")
        title.append(
            f" KILL SWITCH: {self.card.workflow} → {self.state or '…'} ", "bold white on red"
        )
        parts.append(title)
        if self.phase == "waiting":
            parts.append(Text("Waiting for the keys typed before…", "dim"))
            return Group(*parts)
        pre = self.pre
        if self.phase == "checking" or pre is None:
            parts.append(Text("Checking the target before anything is sent…", "dim"))
            return Group(*parts)
        if self.phase == "done" and self.outcome is not None:
            # After sending, only what happened: the verdict, and what to do next.
            via = Text(f"via {pre.channel}: {pre.target.backend} flag ", "dim")
            via.append(one_line(pre.target.flag, 40))
            via.append(f" · before: {self.outcome.before or 'unknown'}", "dim")
            parts.append(via)
            parts.append(self._result(self.outcome))
            return Group(*parts)
        t = Text()
        t.append(f"via {pre.channel}: ", "dim")
        t.append(f"{pre.target.backend} flag {one_line(pre.target.flag, 40)}", "bold")
        t.append(f" at {one_line(self._where(pre.endpoint), 60)}", "dim")
        t.append("\nnow: ", "dim")
        t.append(pre.current_state or "unknown", "bold")
        if pre.reading is not None and pre.reading.detail:
            t.append(f" (read: {one_line(pre.reading.detail, 60)})", "dim")
        if pre.current_state != self.card.tier:
            t.append(f" · card tier {self.card.tier}", "dim")
        parts.append(t)
        if pre.error:
            parts.append(Text.assemble(("NOT READY: ", "bold red"), one_line(pre.error, 300)))
        elif pre.current_state == pre.state:
            parts.append(
                Text(
                    f"already {pre.state}: sending it again changes nothing, but is recorded",
                    "bold yellow",
                )
            )
        elif pre.request is not None:
            req = pre.request
            sent = Text()
            sent.append("will send: ", "dim")
            sent.append(f"{req.method} {one_line(self._where(req.target), 90)}")
            for name, value in req.headers.items():
                sent.append(f"\n  {one_line(name, 30)}: {one_line(value, 60)}", "dim")
            body = json.dumps(req.body, ensure_ascii=False, sort_keys=True)
            sent.append(f"\n  {one_line(body, 140)}")
            parts.append(sent)
        if self.recent:
            r = Text("recent automatic actions:", "dim")
            for a in self.recent[:2]:
                r.append(f"\n  {a['at'][5:16].replace('T', ' ')} ", "dim")
                r.append(one_line(f"{a['kind']}: {a['summary']}", 70))
            parts.append(r)
        if self.phase in ("confirm", "sending"):
            parts.append(self._form())
        return Group(*parts)

    def _form(self) -> Text:
        t = Text()
        t.append("Type the workflow name to confirm: ", "bold")
        t.append(safe_text(self.typed[-60:]), "bold")
        if self.field == "confirm":
            t.append("▏", "blink")
        t.append("\nReason: ", "bold")
        t.append(safe_text(self.reason[-120:]))
        if self.field == "reason":
            t.append("▏", "blink")
        if self.problem:
            t.append(f"\n{self.problem}", "bold red")
        if self.phase == "sending":
            t.append("\nSending…", "bold")
        else:
            t.append("\nenter: next field, then send · tab: switch field · esc: cancel", "dim")
        return t

    def _result(self, outcome: SwitchOutcome) -> Text:
        t = Text("\n")
        if outcome.drill:
            t.append(" DRILL: nothing was sent ", "bold black on yellow")
            t.append(f" the switch would set {self.card.workflow} to {self.state}")
        elif outcome.verified:
            t.append(" VERIFIED ", "bold white on green")
            t.append(f" read back: {self.card.workflow} is {outcome.after}")
        else:
            t.append(f" {outcome.verdict.upper()} ", "bold white on red")
            if outcome.error:
                t.append(f"\n{one_line(outcome.error, 300)}", "red")
            steps = ["r retry"]
            if self.channel == 0 and len(channels(self.card)) > 1:
                steps.append("2 second channel")
            steps.append(f"escalate to {self.card.escalation.contact}")
            t.append("\nnext: " + " · ".join(steps), "bold")
        t.append("\nenter: back to the runbook", "dim")
        return t

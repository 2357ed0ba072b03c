"""The board's emergency stop: the selected incident's workflow lowered to the safest tier its
switch holds, with the same preflight, typed confirmation, read-back and audit as a runbook's
kill-switch step, recorded against the incident (no runbook session).

Keys come from the On call screen's one reader, in order; :mod:`runbooks.walk` decides what
each means in the form (text into its fields, escape cancels, anything unexpected after the
verdict is refused and the keys after it dropped until escape).
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from runbooks import audit
from runbooks.cards import AgentCard
from runbooks.incidents import IncidentLine
from runbooks.killswitch import Preflight, SwitchOutcome, brake_state, execute
from runbooks.walk import SwitchForm, Walk
from store.switches.base import SwitchBackend
from tui.oncall.switch_panel import SwitchPanel, after_switch, check_target, confirmed
from tui.services import Services
from tui.text import one_line


class EmergencyStop(Vertical):
    """One emergency stop; :meth:`handle` takes each key, ``closed`` says when it is done."""

    DEFAULT_CSS = """
    EmergencyStop { height: auto; }
    EmergencyStop > #stop-refusal { height: auto; }
    """

    def __init__(self, services: Services, card: AgentCard, incident: IncidentLine) -> None:
        super().__init__(id="emergency-stop")
        self.services = services
        self.card = card
        self.incident = incident
        self.walk = Walk()
        self.walk.switch = SwitchForm("brake", brake_state(card), emergency=True)
        self.walk.mode = "switch"
        self.panel = SwitchPanel(card, drill=services.drill, root=str(services.workspace.root))
        self.pre: Preflight | None = None
        self.backend: SwitchBackend | None = None
        self.outcome: SwitchOutcome | None = None
        self.recent: list[dict[str, Any]] = []
        self.closed = False
        self._busy = 0
        #: What telling the alert source and anchoring said.
        self.told: list[str] = []

    def compose(self) -> Any:
        yield self.panel
        yield Static(Text(""), id="stop-refusal")

    def is_busy(self) -> bool:
        return self._busy > 0

    async def begin(self) -> None:
        await self._preflight()
        self._draw()

    async def handle(self, key: str, character: str | None) -> None:
        if self.walk.mode == "refused":
            if key == "escape":
                self.closed = True
            else:
                self.walk.dropped += 1
            self._draw()
            return
        if self.walk.mode != "switch" or self.walk.switch is None:
            self.closed = True
            return
        # The form's own keys; the walk needs no session or step for them.
        commands = self.walk._switch_key(key, character)
        self._busy += 1
        try:
            for command in commands:
                what = getattr(command, "what", "")
                if what == "preflight":
                    await self._preflight()
                elif what == "send":
                    form = self.walk.switch
                    assert form is not None
                    if confirmed(self.card, form, reason_required=True):
                        await self._execute(form.reason.strip())
        finally:
            self._busy -= 1
        if self.walk.switch is None and self.walk.mode == "step":
            self.closed = True
        self._draw()

    def paste(self, text: str) -> None:
        self.walk.paste(text)
        self._draw()

    async def _preflight(self) -> None:
        form = self.walk.switch
        assert form is not None
        self._busy += 1
        try:
            self.pre = self.outcome = None
            self._draw()
            self.pre, self.backend, self.recent = await check_target(self.services, self.card, form)
            if self.pre.error is not None or self.pre.nothing_to_send:
                await self._execute("")
                return
            form.phase = "confirm"
            form.field = "confirm"
        finally:
            self._busy -= 1

    async def _execute(self, reason: str) -> None:
        form = self.walk.switch
        assert form is not None and self.pre is not None
        form.phase = "sending"
        self._draw()
        writer = self.services.writer
        operator = self.services.reviewer
        incident = f"{self.incident.source}/{self.incident.incident_id}"
        drill = self.services.drill

        def record(kind: str, body: dict[str, Any]) -> None:
            writer.submit(
                lambda conn: audit.record(
                    conn,
                    actor=operator,
                    kind=kind,
                    body={"emergency_stop": True, **body},
                    incident=incident,
                    drill=drill,
                )
            ).result()

        self.outcome = await asyncio.to_thread(
            execute, self.card, self.pre, self.backend, reason=reason, drill=drill, record=record
        )
        form.phase = "done"
        form.failed = not self.outcome.satisfied
        self.told = await after_switch(
            self.services,
            (self.incident.source, self.incident.incident_id),
            self.outcome,
            reason=reason,
            card=self.card,
            pre=self.pre,
        )

    def _draw(self) -> None:
        if self.walk.switch is not None:
            self.panel.show(self.walk.switch, self.pre, self.outcome, self.recent)
        refusal = self.query_one("#stop-refusal", Static)
        if self.told and self.walk.mode != "refused":
            refusal.update(Text("\n".join(one_line(line, 200) for line in self.told), "bold"))
        elif self.walk.mode == "refused":
            t = Text(" NOT TAKEN ", "bold white on red")
            t.append(f" {one_line(self.walk.refusal or '', 200)}")
            if self.walk.dropped:
                t.append(f"\n{self.walk.dropped} keys typed after it were not used", "yellow")
            t.append("  escape: back to the board", "dim")
            refusal.update(t)
        else:
            refusal.update(Text(""))

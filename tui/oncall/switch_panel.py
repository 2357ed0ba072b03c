"""The kill switch (and the restore) as the operator sees it: the target, the live state and
the direction of the change, exactly what will be sent, the typed confirmation, and then the
verdict in plain words.

A passive panel: the On call screen reads every key in order and :mod:`runbooks.walk` decides
what it means; this only draws the form it is given. A brake is red and says KILL SWITCH; a
restore (the one action that may raise a tier) is blue and says RESTORE, never KILL SWITCH. A
drill draws the same screens with DRILL beside every verdict.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from runbooks.cards import AgentCard
from runbooks.killswitch import Preflight, SwitchOutcome, confirmation_word
from runbooks.walk import SwitchForm
from tui.text import one_line, safe_text

BRAKE_STYLE = "bold white on red"
RESTORE_STYLE = "bold white on blue"
DRILL_STYLE = "bold black on yellow"


def verdict_style(outcome: SwitchOutcome | dict[str, Any]) -> str:
    """Green for verified, blue-grey for nothing to send, red for anything else."""
    get = outcome.get if isinstance(outcome, dict) else lambda k, d=None: getattr(outcome, k, d)
    if get("nothing_to_send"):
        return "bold white on dark_green"
    if get("verified"):
        return "bold white on green"
    return "bold white on red"


def verdict_words(outcome: dict[str, Any]) -> str:
    """The verdict as shown: ``VERIFIED``, ``NOT VERIFIED``, ``FAILED``, ``NOTHING TO SEND``;
    ``…, DRILL`` in a drill."""
    verdict = str(outcome.get("verdict", ""))
    word = verdict.split(":")[0].split(",")[0].strip()
    if verdict.startswith("drill"):  # saved by an older agentdeck
        word = "failed" if outcome.get("error") else "verified"
    text = word.upper()
    return f"{text}, DRILL" if outcome.get("drill") else text


class SwitchPanel(Static):
    """Draws one kill-switch (or restore) form; :meth:`show` redraws it."""

    def __init__(self, card: AgentCard, *, drill: bool, root: str) -> None:
        super().__init__(Text(""), id="switch-box")
        self.card = card
        self.drill = drill
        self.root = root
        self.form: SwitchForm | None = None
        self.pre: Preflight | None = None
        self.outcome: SwitchOutcome | None = None
        self.recent: list[dict[str, Any]] = []
        #: Lines from after the switch: the alert source told, an anchor's problem.
        self.notes: list[str] = []

    def show(
        self,
        form: SwitchForm,
        pre: Preflight | None,
        outcome: SwitchOutcome | None,
        recent: list[dict[str, Any]],
    ) -> None:
        self.form, self.pre, self.outcome, self.recent = form, pre, outcome, recent
        self.set_class(form.mode == "restore", "restore")
        self.update(self.body())

    @property
    def problem(self) -> str | None:
        return self.form.problem if self.form else None

    def _where(self, text: str) -> str:
        """A path inside the workspace shown from the workspace (shorter, the same on every
        machine)."""
        if text.startswith(self.root + "/"):
            return "./" + text[len(self.root) + 1 :]
        return text

    def body(self) -> Group:
        form, pre, outcome = self.form, self.pre, self.outcome
        assert form is not None
        restore = form.mode == "restore"
        parts: list[Any] = []
        title = Text()
        if self.drill:
            title.append(" DRILL: nothing is sent ", DRILL_STYLE)
            title.append(" ")
        state = form.state or self.card.tier
        if restore:
            title.append(f" RESTORE: {self.card.workflow} → {state} ", RESTORE_STYLE)
        else:
            word = "EMERGENCY STOP" if form.emergency else "KILL SWITCH"
            title.append(f" {word}: {self.card.workflow} → {state} ", BRAKE_STYLE)
        parts.append(title)
        if form.phase == "checking" or pre is None:
            parts.append(Text("Checking the target before anything is sent…", "dim"))
            return Group(*parts)
        head = Text()
        head.append(f"via {pre.channel}: ", "dim")
        head.append(f"{pre.target.backend} flag {one_line(pre.target.flag, 40)}", "bold")
        head.append(f" at {one_line(self._where(pre.endpoint), 60)}", "dim")
        # After the verdict the state read first is history: "before", not "now".
        head.append("\nbefore: " if form.phase == "done" and outcome else "\nnow: ", "dim")
        head.append(pre.current_state or "unknown", "bold")
        if pre.reading is not None and pre.reading.detail:
            head.append(f" (read: {one_line(pre.reading.detail, 60)})", "dim")
        head.append(f" · configured tier {self.card.tier}", "dim")
        parts.append(head)
        if form.phase == "done" and outcome is not None:
            parts.append(self._result(form, outcome))
            return Group(*parts)
        if pre.error:
            parts.append(Text.assemble(("NOT READY: ", "bold red"), one_line(pre.error, 300)))
        elif pre.action == "unknown":
            parts.append(
                Text(
                    f"the state now is not one of the tiers: setting {state} anyway "
                    "(it cannot be told whether this lowers it)",
                    "bold yellow",
                )
            )
        elif pre.action == "raise":
            parts.append(
                Text(f"RESTORE raises {self.card.workflow}: {pre.current_state} → {state}", "bold")
            )
        if pre.request is not None and not pre.error:
            req = pre.request
            sent = Text()
            sent.append("will send: ", "dim")
            sent.append(f"{req.method} {one_line(self._where(req.target), 90)}")
            for name, value in req.headers.items():
                sent.append(f"\n  {one_line(name, 30)}: {one_line(value, 60)}", "dim")
            body = json.dumps(req.body, ensure_ascii=False, sort_keys=True)
            sent.append(f"\n  {one_line(body, 140)}")
            parts.append(sent)
        if self.recent and not restore:
            r = Text("recent automatic actions:", "dim")
            for a in self.recent[:2]:
                r.append(f"\n  {a['at'][5:16].replace('T', ' ')} ", "dim")
                r.append(one_line(f"{a['kind']}: {a['summary']}", 70))
            parts.append(r)
        parts.append(self._form(form))
        return Group(*parts)

    def _form(self, form: SwitchForm) -> Text:
        t = Text()
        word = confirmation_word(self.card.workflow, form.mode)
        t.append(f"Type {word!r} to confirm: ", "bold")
        t.append(safe_text(form.typed[-60:]), "bold")
        if form.field == "confirm":
            t.append("▏", "blink")
        t.append("\nReason: ", "bold")
        t.append(safe_text(form.reason[-120:]))
        if form.field == "reason":
            t.append("▏", "blink")
        if form.problem:
            t.append(f"\n{form.problem}", "bold red")
        if form.phase == "sending":
            t.append("\nSending…", "bold")
        else:
            t.append("\nenter: next field, then send · tab: switch field · esc: cancel", "dim")
        return t

    def _result(self, form: SwitchForm, outcome: SwitchOutcome) -> Text:
        t = Text("\n")
        t.append(f" {verdict_words(outcome.to_json())} ", verdict_style(outcome))
        state = form.state or self.card.tier
        if outcome.nothing_to_send:
            pre = self.pre
            assert pre is not None
            t.append(f" {pre.already}")
            if pre.current_state and pre.current_state != state:
                t.append(f" ({self.card.workflow} is {pre.current_state})", "dim")
            done = "nothing was sent" if form.emergency else "the step is done"
            t.append(f"\n{done}; recorded in the audit trail", "dim")
        elif outcome.drill and outcome.verified:
            t.append(
                f" the target answered: {self.card.workflow} would go from "
                f"{outcome.before or 'unknown'} to {state}. Nothing was sent."
            )
        elif outcome.verified:
            t.append(f" read back: {self.card.workflow} is {outcome.after}")
        else:
            if outcome.error:
                t.append(f"\n{one_line(outcome.error, 300)}", "red")
            if outcome.drill:
                t.append("\nnothing was sent (drill): in a real incident this would fail", "bold")
            steps = ["r retry"]
            if form.has_second and form.channel == 0:
                steps.append("2 second channel")
            steps.append(f"escalate to {one_line(self.card.escalation.contact, 40)}")
            t.append("\nnext: " + " · ".join(steps), "bold")
        for note in self.notes:
            t.append(f"\n{one_line(note, 200)}", "bold")
        t.append("\nenter: back to the " + ("board" if form.emergency else "runbook"), "dim")
        return t


async def check_target(
    services: Any, card: AgentCard, form: SwitchForm
) -> tuple[Preflight, Any, list[dict[str, Any]]]:
    """The form's target checked before anything is sent (off the UI thread), with the
    agent's recent automatic actions from the local copy."""
    import asyncio
    import sqlite3

    from runbooks.killswitch import preflight, recent_auto_actions

    if form.mode == "restore":
        form.state = card.tier
    form.phase = "checking"
    form.problem = None
    form.failed = False
    form.has_second = card.kill_switch.fallback is not None

    def recent(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return recent_auto_actions(conn, card.workflow)

    actions = await asyncio.wrap_future(services.reader.submit(recent))
    pre, backend = await asyncio.to_thread(
        preflight,
        card,
        form.state,
        channel=form.channel,
        root=services.workspace.root,
        mode=form.mode,
    )
    return pre, backend, actions


def confirmed(card: AgentCard, form: SwitchForm, *, reason_required: bool) -> bool:
    """Whether the form's typed confirmation and reason are right (else ``form.problem``)."""
    from runbooks.killswitch import SwitchRefused, check_confirmation

    try:
        check_confirmation(
            card.workflow,
            form.typed,
            form.reason,
            reason_required=reason_required or form.mode == "restore",
            mode=form.mode,
        )
    except SwitchRefused as exc:
        form.problem = str(exc)
        return False
    form.problem = None
    return True


def on_own_connection(services: Any, fn: Any) -> Any:
    """``fn(conn)`` on a connection of this thread's own (network calls never hold the write
    thread, so keys and grades are never queued behind a slow server)."""
    from store.db import connect

    conn = connect(services.workspace.db_path)
    try:
        return fn(conn)
    finally:
        conn.close()


async def anchor_trail(services: Any) -> str | None:
    """Anchor the audit trail's head outside the database; a problem is one line."""
    import asyncio

    from runbooks import audit

    url = services.workspace.config.oncall.anchor_url

    def run(conn: Any) -> list[str]:
        return list(audit.anchor(conn, url=url))

    problems = await asyncio.to_thread(on_own_connection, services, run)
    return problems[0] if problems else None


async def tell_source(
    services: Any, incident: tuple[str, str], *, reason: str, restore: bool = False
) -> Any:
    """Tell the incident's alert source someone is on it (a restore releases what was held):
    an Alertmanager silence, a PagerDuty acknowledgement and note. Audited; never raises."""
    import asyncio

    from runbooks import notify

    call = notify.release if restore else notify.acknowledge

    def run(conn: Any) -> Any:
        return call(
            conn,
            services.workspace,
            incident,
            operator=services.reviewer,
            reason=reason,
            drill=services.drill,
        )

    return await asyncio.to_thread(on_own_connection, services, run)


async def after_switch(
    services: Any,
    incident: tuple[str, str] | None,
    outcome: SwitchOutcome,
    *,
    reason: str,
    card: AgentCard | None = None,
    pre: Preflight | None = None,
) -> list[str]:
    """What follows a switch: keep what was read as the channel's last check (the board and
    the scorecard show it), on a verified one for an incident tell its alert source, then
    anchor the trail. The lines to show (each problem is one line; nothing else changes)."""
    import asyncio

    from runbooks.killswitch import last_read, record_checks
    from store.timestamps import now_iso

    lines: list[str] = []
    if card is not None and pre is not None:
        status = last_read(card, pre, outcome)

        def keep(conn: Any) -> None:
            record_checks(conn, [status], now_iso())

        await asyncio.to_thread(on_own_connection, services, keep)
    if incident is not None and outcome.verified and not outcome.nothing_to_send:
        told = await tell_source(
            services, incident, reason=reason, restore=outcome.mode == "restore"
        )
        if told.told or not told.ok:
            lines.append(str(told.summary))
    problem = await anchor_trail(services)
    if problem:
        lines.append(problem)
    return lines

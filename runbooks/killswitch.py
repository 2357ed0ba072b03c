"""Kill-switch actions: lower, disable or restore a workflow's tier through its card's flag.

The card names where the switch lives (a primary channel and, optionally, a second one). This
module decides what value the flag must hold for a tier, checks the target before anything is
sent (reachable, authorised, its current state), shows exactly what will be sent, and then sends,
reads back and says "verified" or "NOT verified". Every attempt goes to the audit trail twice:
the attempt (who, why, the state before, what will be sent) before anything is sent, and the
result (the read-back, the verdict, or the error) after. A drill does everything but send.

Binary backends (Unleash, LaunchDarkly) hold on/off: on is the card's tier, off is the target's
``off_state``; they cannot express any other tier, and :func:`supports` says so for validation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbooks.cards import SWITCH_STATES, AgentCard, SwitchTarget
from store.plugins import SWITCHES, Login
from store.switches.base import FlagReading, FlagValue, SwitchBackend, SwitchError, SwitchRequest

#: Audit writer: ``record(kind, body)`` appends one entry (the caller knows who and which incident).
Recorder = Callable[[str, dict[str, Any]], None]


class SwitchRefused(Exception):
    """The operator's confirmation or reason is missing or wrong; nothing was sent."""


def channels(card: AgentCard) -> list[tuple[str, SwitchTarget]]:
    """The card's kill-switch channels in the order to try them."""
    out: list[tuple[str, SwitchTarget]] = [("primary", card.kill_switch)]
    if card.kill_switch.fallback is not None:
        out.append(("second channel", card.kill_switch.fallback))
    return out


def supports(target: SwitchTarget, card: AgentCard, state: str) -> bool:
    """Whether this target can hold ``state`` (binary flags hold only two)."""
    if state not in SWITCH_STATES:
        return False
    if target.binary:
        return state in (card.tier, target.off_state)
    return True


def value_for(target: SwitchTarget, card: AgentCard, state: str) -> FlagValue:
    """The flag value that puts the workflow in ``state`` on this target."""
    if not supports(target, card, state):
        raise SwitchError(
            f"{target.backend} flag {target.flag}: an on/off flag holds only "
            f"{card.tier} (on) or {target.off_state} (off), not {state}; "
            "use a flagd or http target for more tiers"
        )
    if target.binary:
        return state == card.tier
    return state


def state_for(target: SwitchTarget, card: AgentCard, value: FlagValue | None) -> str | None:
    """The state a flag value means on this target (None: unknown)."""
    if value is None:
        return None
    if target.binary:
        # Only a real on/off means a state: "false" or 0 from a misbehaving server is unknown.
        if value is True:
            return card.tier
        if value is False:
            return target.off_state
        return None
    return str(value)


def backend_for(
    target: SwitchTarget,
    root: Path,
    *,
    secret: Callable[[str], str | None] | None = None,
    transport: Any = None,
) -> SwitchBackend:
    """Build the backend client for a target (its backend's ``from_config``); a missing token
    is a SwitchError saying how to add it."""
    plugin = SWITCHES.get(target.backend)
    if plugin is None:  # the card was validated: only a module removed since
        raise SwitchError(
            f"{target.backend}: this agentdeck has no {target.backend} kill-switch backend; "
            "upgrade agentdeck"
        )
    if plugin.login is None:
        backend: SwitchBackend = plugin.from_config(target, root, token=None, transport=transport)
        return backend
    if secret is None:
        from store.credentials import get_secret

        secret = get_secret
    name = target.secret_name or target.backend
    try:
        token = secret(name)
    except Exception as exc:  # the keyring's own errors; the message says what to do
        raise SwitchError(f"{target.backend} {target.url or ''}: {exc}".strip()) from None
    if not token:
        raise SwitchError(
            f"{target.backend} {target.url or target.project or ''}: no token in the keyring "
            f"for {name!r}; run `agentdeck login {name}`"
        )
    backend = plugin.from_config(target, root, token=token, transport=transport)
    return backend


def secret_names(cards: dict[str, AgentCard]) -> dict[str, tuple[list[str], Login]]:
    """Every keyring name the cards' kill switches use (second channels too), with what uses
    each one ("billing-support primary") and what ``agentdeck login`` asks for it."""
    names: dict[str, tuple[list[str], Login]] = {}
    for workflow in sorted(cards):
        for channel, target in channels(cards[workflow]):
            login = target.plugin.login
            if target.secret_name and login is not None:
                names.setdefault(target.secret_name, ([], login))[0].append(f"{workflow} {channel}")
    return names


@dataclass(frozen=True)
class ChannelStatus:
    """One kill-switch channel as read now: the state it holds, or why it could not be read."""

    workflow: str
    channel: str
    backend: str
    endpoint: str
    tier: str
    state: str | None
    detail: str = ""
    error: str | None = None


def read_status(
    card: AgentCard,
    root: Path,
    *,
    secret: Callable[[str], str | None] | None = None,
    transport: Any = None,
) -> list[ChannelStatus]:
    """Read every channel of the card's kill switch; a channel that fails says why (one line)
    and the others are still read. Sends nothing."""
    out: list[ChannelStatus] = []
    for name, target in channels(card):
        endpoint = target.url or target.path or target.backend
        try:
            backend = backend_for(target, root, secret=secret, transport=transport)
            endpoint = backend.endpoint
            reading = backend.read()
        except SwitchError as exc:
            out.append(
                ChannelStatus(
                    card.workflow, name, target.backend, endpoint, card.tier, None, error=str(exc)
                )
            )
            continue
        state = state_for(target, card, reading.value)
        out.append(
            ChannelStatus(
                card.workflow,
                name,
                target.backend,
                endpoint,
                card.tier,
                state,
                reading.detail,
                None if state is not None else f"flag {target.flag} not found at {endpoint}",
            )
        )
    return out


def last_read(card: AgentCard, pre: Preflight, outcome: SwitchOutcome) -> ChannelStatus:
    """What a switch action read of its channel (the read-back, or the state it found), as
    that channel's last check: the board and the scorecard show the live tier from it."""
    state = outcome.after if outcome.sent or outcome.nothing_to_send else pre.current_state
    error = None if state is not None else (outcome.error or pre.error or "not read")
    return ChannelStatus(
        card.workflow,
        pre.channel,
        pre.target.backend,
        pre.endpoint,
        card.tier,
        state,
        outcome.readback or (pre.reading.detail if pre.reading else ""),
        error,
    )


def record_checks(conn: sqlite3.Connection, statuses: list[ChannelStatus], at: str) -> None:
    """Keep these reads as each channel's last check (one transaction), for the scorecard."""
    from store.db import transaction

    with transaction(conn):
        conn.executemany(
            "INSERT INTO switch_checks (workflow, channel, checked_at, backend, endpoint, state, "
            "error) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow, channel) DO UPDATE SET "
            "checked_at = excluded.checked_at, backend = excluded.backend, "
            "endpoint = excluded.endpoint, state = excluded.state, error = excluded.error",
            [
                (s.workflow, s.channel, at, s.backend, s.endpoint, s.state, s.error)
                for s in statuses
            ],
        )


@dataclass(frozen=True)
class LastCheck:
    """A channel's last live read, as kept by :func:`record_checks`."""

    workflow: str
    channel: str
    checked_at: str
    backend: str
    endpoint: str
    state: str | None
    error: str | None

    @property
    def reachable(self) -> bool:
        return self.error is None and self.state is not None


def last_checks(conn: sqlite3.Connection) -> dict[str, list[LastCheck]]:
    """Each workflow's channels as last read (primary first), by workflow."""
    out: dict[str, list[LastCheck]] = {}
    for row in conn.execute(
        "SELECT workflow, channel, checked_at, backend, endpoint, state, error FROM switch_checks "
        "ORDER BY workflow, channel != 'primary', channel"
    ):
        out.setdefault(row[0], []).append(LastCheck(*row))
    return out


def recent_auto_actions(
    conn: sqlite3.Connection, workflow: str, limit: int = 5
) -> list[dict[str, Any]]:
    """The agent's latest actions taken on its own (runs whose final action was executed)."""
    import json

    rows = conn.execute(
        "SELECT run_id, started_at, final_action FROM runs WHERE workflow = ? "
        "AND final_action IS NOT NULL AND final_action LIKE '%\"executed\"%' "
        "ORDER BY started_at DESC LIMIT ?",
        (workflow, limit * 4),
    ).fetchall()
    out: list[dict[str, Any]] = []
    for run_id, started_at, final in rows:
        try:
            action = json.loads(final)
        except ValueError:
            continue
        if not isinstance(action, dict) or action.get("status") != "executed":
            continue
        out.append(
            {
                "run_id": run_id,
                "at": started_at,
                "kind": str(action.get("kind", "")),
                "summary": str(action.get("summary", "")),
            }
        )
        if len(out) == limit:
            break
    return out


def rank(state: str | None) -> int | None:
    """A state's place in the order ``disabled < suggest-only < human-approve < auto-act``
    (None: not a known state)."""
    return SWITCH_STATES.index(state) if state in SWITCH_STATES else None


def direction(current: str | None, state: str) -> str:
    """lower | raise | none | unknown: what setting ``state`` does to the live ``current``."""
    now, to = rank(current), rank(state)
    if now is None or to is None:
        return "unknown"
    if to < now:
        return "lower"
    if to > now:
        return "raise"
    return "none"


def brake_state(card: AgentCard, target: SwitchTarget | None = None) -> str:
    """The safest state the card's (primary) switch can hold: the emergency stop's target."""
    target = target or card.kill_switch
    return target.off_state if target.binary else "disabled"


@dataclass(frozen=True)
class Preflight:
    """What the operator sees before confirming: the target, whether it answers, the live
    state, the direction of the change, and exactly what will be sent."""

    workflow: str
    #: lower | raise | none | unknown, from the live state read now.
    action: str
    state: str
    channel: str
    target: SwitchTarget
    endpoint: str
    value: FlagValue | None
    request: SwitchRequest | None
    reading: FlagReading | None
    current_state: str | None
    error: str | None
    mode: str = "brake"
    #: When the live state was read (ISO 8601, UTC).
    read_at: str = ""

    @property
    def nothing_to_send(self) -> bool:
        """A brake with the live state already at or below its target (or a restore already
        there): nothing is sent and the step is satisfied."""
        if self.error is not None:
            return False
        if self.mode == "brake":
            return self.action in ("none", "raise")
        return self.action == "none"

    @property
    def ready(self) -> bool:
        return self.error is None and self.request is not None

    @property
    def already(self) -> str:
        """What the screen says when there is nothing to send."""
        if self.mode == "brake":
            return f"already {self.state} (or safer): nothing to send"
        return f"already {self.state}: nothing to restore"


def preflight(
    card: AgentCard,
    state: str,
    *,
    channel: int = 0,
    root: Path,
    mode: str = "brake",
    secret: Callable[[str], str | None] | None = None,
    transport: Any = None,
    backend: SwitchBackend | None = None,
) -> tuple[Preflight, SwitchBackend | None]:
    """Check the channel's target before anything is sent. Never raises for a backend fault:
    the error is in ``Preflight.error`` and nothing has changed.

    ``mode`` is ``brake`` (the runbook's kill-switch step, the board's emergency stop, ``switch
    set``): it only ever lowers, so a live state already at or below ``state`` means nothing to
    send. ``restore`` is the explicit action that may raise, never above the card's tier."""
    from store.timestamps import now_iso

    name, target = channels(card)[channel]
    endpoint = target.url or target.path or target.backend
    reading: FlagReading | None = None
    request: SwitchRequest | None = None
    value: FlagValue | None = None
    error: str | None = None
    try:
        if mode == "restore" and (rank(state) or 0) > (rank(card.tier) or 0):
            raise SwitchError(
                f"{card.workflow}: restore goes back to the card's tier ({card.tier}) at most, "
                f"not {state}; change the card to allow more"
            )
        value = value_for(target, card, state)
        backend = backend or backend_for(target, root, secret=secret, transport=transport)
        endpoint = backend.endpoint
        backend.probe()
        reading = backend.read()
        request = backend.plan(value)
    except SwitchError as exc:
        error = str(exc)
    current = state_for(target, card, reading.value if reading else None)
    return (
        Preflight(
            workflow=card.workflow,
            action=direction(current, state),
            state=state,
            channel=name,
            target=target,
            endpoint=endpoint,
            value=value,
            request=request,
            reading=reading,
            current_state=current,
            error=error,
            mode=mode,
            read_at=now_iso(),
        ),
        backend if error is None else None,
    )


@dataclass(frozen=True)
class SwitchOutcome:
    """What happened. ``verified`` is True only when the read-back shows the value sent (in a
    drill: when the preflight found the target ready; nothing was sent)."""

    sent: bool
    verified: bool
    drill: bool
    before: str | None
    after: str | None
    error: str | None = None
    readback: str = ""
    next_steps: list[str] = field(default_factory=list)
    #: Nothing needed sending: the live state was already at (or, for a brake, below) it.
    nothing_to_send: bool = False
    mode: str = "brake"

    @property
    def satisfied(self) -> bool:
        """Whether the step this was for may go on."""
        return self.verified or self.nothing_to_send

    @property
    def word(self) -> str:
        """The verdict's word, the same in a drill (where DRILL stands beside it)."""
        if self.nothing_to_send:
            return "nothing to send"
        if self.error and not self.sent:
            return "failed"
        return "verified" if self.verified else "NOT verified"

    @property
    def verdict(self) -> str:
        """``verified``, ``NOT verified``, ``failed``, ``nothing to send``; ``…, drill`` in a
        drill, where nothing is ever sent."""
        if self.drill:
            return f"{self.word}, drill"
        if self.word == "failed":
            return "failed: nothing changed"
        return self.word

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "verified": self.verified,
            "drill": self.drill,
            "before": self.before,
            "after": self.after,
            "error": self.error,
            "readback": self.readback,
            "verdict": self.verdict,
            "nothing_to_send": self.nothing_to_send,
            "satisfied": self.satisfied,
            "mode": self.mode,
            "next_steps": list(self.next_steps),
        }


def confirmation_word(workflow: str, mode: str = "brake") -> str:
    """What the operator types to confirm: the workflow's name for a brake, ``restore`` and
    the name for a restore (so a name typed for the brake never confirms a restore)."""
    return f"restore {workflow}" if mode == "restore" else workflow


def check_confirmation(
    workflow: str, typed: str, reason: str, *, reason_required: bool, mode: str = "brake"
) -> None:
    """The operator typed the confirmation and (when asked) a reason; SwitchRefused if not."""
    word = confirmation_word(workflow, mode)
    if " ".join(typed.split()) != word:
        what = "the workflow name " if mode != "restore" else ""
        raise SwitchRefused(f"type {what}{word!r} to confirm")
    if reason_required and not reason.strip():
        raise SwitchRefused("say why: a reason is required")


def _request_json(request: SwitchRequest | None) -> dict[str, Any] | None:
    if request is None:
        return None
    return {
        "method": request.method,
        "target": request.target,
        "headers": dict(request.headers),
        "body": request.body,
    }


def next_steps_for(card: AgentCard, channel: str) -> list[str]:
    """What a failure offers: retry, the second channel (from the primary), escalation."""
    out = ["retry"]
    if channel == "primary" and card.kill_switch.fallback is not None:
        out.append("second channel")
    out.append(f"escalate to {card.escalation.contact}")
    return out


def execute(
    card: AgentCard,
    pre: Preflight,
    backend: SwitchBackend | None,
    *,
    reason: str,
    drill: bool,
    record: Recorder,
) -> SwitchOutcome:
    """Send the change the preflight showed, read it back, and record both ends.

    ``record("switch.attempt", body)`` is called before anything is sent and
    ``record("switch.result", body)`` once the outcome is known (a caller that keeps the
    outcome elsewhere, a runbook session, writes it in that same transaction). A brake whose
    target is already at or below its state sends nothing and records that. A failure changes
    nothing silently: the outcome says what failed and the next steps (retry, the second
    channel, escalate to the card's contact), in a drill too.
    """
    body: dict[str, Any] = {
        "workflow": card.workflow,
        "action": pre.action,
        "mode": pre.mode,
        "state": pre.state,
        "channel": pre.channel,
        "backend": pre.target.backend,
        "endpoint": pre.endpoint,
        "flag": pre.target.flag,
        "reason": reason,
        "before": pre.current_state,
        "before_read": pre.reading.detail if pre.reading else None,
        "read_at": pre.read_at,
        "request": _request_json(pre.request),
    }
    next_steps = next_steps_for(card, pre.channel)
    if pre.nothing_to_send:
        outcome = SwitchOutcome(
            False,
            False,
            drill,
            pre.current_state,
            pre.current_state,
            nothing_to_send=True,
            mode=pre.mode,
        )
        record("switch.result", {**body, "request": None, **outcome.to_json()})
        return outcome
    if pre.mode == "brake" and pre.action == "raise":  # pragma: no cover - nothing_to_send
        raise SwitchRefused("a kill switch only lowers")
    record("switch.attempt", body)
    if pre.error or backend is None or pre.value is None:
        outcome = SwitchOutcome(
            False,
            False,
            drill,
            pre.current_state,
            None,
            pre.error or "not ready",
            next_steps=next_steps,
            mode=pre.mode,
        )
        record("switch.result", {**body, **outcome.to_json()})
        return outcome
    if drill:
        outcome = SwitchOutcome(
            False, True, True, pre.current_state, pre.current_state, mode=pre.mode
        )
        record("switch.result", {**body, **outcome.to_json()})
        return outcome
    try:
        backend.write(pre.value)
    except SwitchError as exc:
        outcome = SwitchOutcome(
            False,
            False,
            False,
            pre.current_state,
            None,
            str(exc),
            next_steps=next_steps,
            mode=pre.mode,
        )
        record("switch.result", {**body, **outcome.to_json()})
        return outcome
    try:
        after = backend.read()
    except SwitchError as exc:
        outcome = SwitchOutcome(
            True,
            False,
            False,
            pre.current_state,
            None,
            f"sent, but the read-back failed: {exc}",
            next_steps=next_steps,
            mode=pre.mode,
        )
        record("switch.result", {**body, **outcome.to_json()})
        return outcome
    after_state = state_for(pre.target, card, after.value)
    verified = after.value == pre.value
    outcome = SwitchOutcome(
        True,
        verified,
        False,
        pre.current_state,
        after_state,
        None if verified else f"read back {after.detail or after.value!r}, expected {pre.value!r}",
        after.detail,
        [] if verified else next_steps,
        mode=pre.mode,
    )
    record("switch.result", {**body, **outcome.to_json()})
    return outcome

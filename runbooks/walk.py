"""What a key means on the runbook walkthrough, where it lands: plain Python, no terminal.

The On call screen reads its keys one at a time, in the order typed, and each waits for the
one before it to be applied (saved, checked, sent): a burst does what the same keys typed
slowly would. This module decides, for one key and the step it lands on, what it asks for.
:class:`Walk` keeps what is not saved in the session: the text being typed (a note, a reason),
the kill-switch form, and a refusal.

Typed text never becomes a command:

- A key that means nothing where it lands (``k`` on a step with no kill switch, a choice that
  does not exist, ``enter`` on a step that cannot be left yet) is **refused**: said on screen,
  and every key after it is dropped and counted until the operator presses escape. Text typed
  one step too early (``k billing-support⏎payments down⏎``) so never goes back, skips, abandons
  or chooses.
- Abandon and skip ask for their word (``abandon``, ``skip``) to be typed before the reason:
  a letter that does not spell it refuses, so text typed for something else cannot confirm.
- The kill-switch form takes text into its two fields only; ``escape`` cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass

from runbooks.engine import Intent, Session
from runbooks.model import ManualCheck, Step

#: The words that confirm skipping and abandoning.
CONFIRM_WORDS = {"skip": "skip", "abandon": "abandon"}

#: Keys that scroll the step and change nothing.
SCROLL_KEYS = ("up", "down", "pageup", "pagedown", "home", "end")


@dataclass
class SwitchForm:
    """The kill switch (or restore) being prepared on a step, or the board's emergency stop."""

    mode: str  # brake | restore
    state: str
    step: str | None = None
    channel: int = 0
    phase: str = "checking"  # checking | confirm | sending | done
    field: str = "confirm"  # confirm | reason
    typed: str = ""
    reason: str = ""
    problem: str | None = None
    #: Done and not satisfied: ``r`` retries, ``2`` tries the second channel (when there is one).
    failed: bool = False
    has_second: bool = False
    #: The board's emergency stop (no runbook step).
    emergency: bool = False


# What the screen is asked to do for a key (in order).
@dataclass(frozen=True)
class Act:
    """Apply an intent to the session (saved, audited)."""

    intent: Intent


@dataclass(frozen=True)
class Do:
    """Something only the screen does: ``card``, ``help``, ``leave``, ``recheck``, ``tell``,
    ``preflight`` (check the form's target), ``send`` (the form is confirmed),
    ``scroll:<key>``."""

    what: str


Command = Act | Do


@dataclass
class Walk:
    """The walkthrough's key state between keys (not saved: a crash forgets a half-typed
    note, never a saved step)."""

    mode: str = "step"  # step | confirm | text | refused | switch
    text_kind: str | None = None  # note | skip | abandon
    buffer: str = ""
    refusal: str | None = None
    dropped: int = 0
    #: The last thing said about a key (shown under the step until the next key).
    message: str | None = None
    switch: SwitchForm | None = None

    # -- refusing --------------------------------------------------------------------------------

    def refuse(self, why: str) -> list[Command]:
        """Say why the key was not taken; drop every key after it until escape."""
        self.mode = "refused"
        self.refusal = why
        self.dropped = 0
        self.text_kind = None
        self.buffer = ""
        return []

    def _refused_key(self, key: str) -> list[Command]:
        if key == "escape":
            n = self.dropped
            self.mode = "step"
            self.refusal = None
            self.message = (
                f"{n} key{'s' if n != 1 else ''} typed after it {'were' if n != 1 else 'was'} "
                "not used"
                if n
                else None
            )
            return []
        self.dropped += 1
        return []

    # -- keys ------------------------------------------------------------------------------------

    def key(self, key: str, character: str | None, session: Session, step: Step) -> list[Command]:
        """What ``key`` asks for on ``step`` of ``session`` (as saved now)."""
        if self.mode == "refused":
            return self._refused_key(key)
        self.message = None
        if self.mode == "switch":
            return self._switch_key(key, character)
        if self.mode == "confirm":
            return self._confirm_key(key, character)
        if self.mode == "text":
            return self._text_key(key, character)
        return self._step_key(key, character, session, step)

    def _step_key(
        self, key: str, character: str | None, session: Session, step: Step
    ) -> list[Command]:
        if key == "escape":
            return [Do("leave")]
        if key == "c":
            return [Do("card")]
        if key in ("question_mark", "?") or character == "?":
            return [Do("help")]
        if key in SCROLL_KEYS:
            return [Do(f"scroll:{key}")]
        if session.status != "active":
            return self.refuse(
                f"{_name(key, character)}: this runbook is {session.status}; "
                "escape returns to the board"
            )
        if key.isdigit() and key != "0":
            if not step.choices:
                return self.refuse(f"{key}: this step has no choices (enter goes on)")
            if int(key) > len(step.choices):
                return self.refuse(
                    f"{key}: there is no choice {key} on this step (1–{len(step.choices)})"
                )
            return [Act(Intent("choose", index=int(key) - 1))]
        if key == "enter":
            if step.choices:
                return self.refuse(f"enter: choose a way on first (1–{len(step.choices)})")
            return [Act(Intent("next"))]
        if key == "b":
            if len(session.path) < 2:
                return self.refuse("b: this is the first step")
            return [Act(Intent("back"))]
        if key in ("y", "n"):
            if not isinstance(step.check, ManualCheck):
                return self.refuse(f"{key}: this step asks no yes/no question")
            return [Act(Intent("tick", yes=key == "y"))]
        if key == "w":
            self.mode, self.text_kind, self.buffer = "text", "note", ""
            return []
        if key == "s":
            if step.choices:
                return self.refuse("s: a step with choices is not skipped; choose a way on")
            self.mode, self.text_kind, self.buffer = "confirm", "skip", ""
            return []
        if key == "a":
            self.mode, self.text_kind, self.buffer = "confirm", "abandon", ""
            return []
        if key == "t":
            return [Do("tell")]
        if key == "r":
            if step.check is None or step.check.kind == "manual":
                return self.refuse("r: this step has no check to run again")
            return [Do("recheck")]
        if key == "k":
            ks = step.kill_switch
            if ks is None:
                return self.refuse("k: this step has no kill switch")
            if ks.restore:
                return self.refuse("k: this step restores the agent (R); k only ever lowers")
            assert ks.set_tier is not None
            self.switch = SwitchForm("brake", ks.set_tier, step=step.id)
            self.mode = "switch"
            return [Do("preflight")]
        if key == "R":
            ks = step.kill_switch
            if ks is None or not ks.restore:
                return self.refuse("R: this step restores nothing")
            self.switch = SwitchForm("restore", "", step=step.id)
            self.mode = "switch"
            return [Do("preflight")]
        return self.refuse(f"{_name(key, character)}: not a key on this step (? shows them)")

    def _confirm_key(self, key: str, character: str | None) -> list[Command]:
        assert self.text_kind is not None
        word = CONFIRM_WORDS[self.text_kind]
        if key == "escape":
            self.mode, self.text_kind, self.buffer = "step", None, ""
            self.message = f"not {word}ped" if word == "skip" else "not abandoned"
            return []
        if key == "backspace":
            self.buffer = self.buffer[:-1]
            return []
        if key == "enter":
            if self.buffer == word:
                self.mode, self.buffer = "text", ""
                return []
            return self.refuse(f"not {_done(word)}: type the word {word!r}, then enter")
        if character and character.isprintable() and word.startswith(self.buffer + character):
            self.buffer += character
            return []
        return self.refuse(f"not {_done(word)}: {_name(key, character)} does not spell {word!r}")

    def _text_key(self, key: str, character: str | None) -> list[Command]:
        assert self.text_kind is not None
        if key == "escape":
            self.mode, self.text_kind, self.buffer = "step", None, ""
            self.message = "cancelled: nothing was saved"
            return []
        if key == "backspace":
            self.buffer = self.buffer[:-1]
            return []
        if key == "enter":
            kind, text = self.text_kind, self.buffer
            self.mode, self.text_kind, self.buffer = "step", None, ""
            return [Act(Intent(kind, text=text))]
        if character and character.isprintable():
            self.buffer += character
        return []

    def paste(self, text: str) -> None:
        """Pasted text goes only into a text field (never taken as keys)."""
        flat = " ".join(text.split())
        if self.mode == "text":
            self.buffer += flat
        elif self.mode == "switch" and self.switch and self.switch.phase == "confirm":
            if self.switch.field == "confirm":
                self.switch.typed += flat
            else:
                self.switch.reason += flat

    # -- the kill-switch form --------------------------------------------------------------------

    def _switch_key(self, key: str, character: str | None) -> list[Command]:
        form = self.switch
        assert form is not None
        if form.phase == "done":
            if key in ("enter", "escape"):
                self.close_switch()
                return []
            if key == "r" and form.failed:
                return [Do("preflight")]
            if key == "2" and form.failed and form.has_second and form.channel == 0:
                form.channel = 1
                return [Do("preflight")]
            failed = form.failed
            if not form.emergency:
                self.close_switch()
            if failed:
                return self.refuse(
                    f"{_name(key, character)}: not a key here; the switch failed "
                    "(escape, then the switch's key tries again)"
                )
            return self.refuse(f"{_name(key, character)}: the switch is done (enter goes back)")
        if form.phase != "confirm":  # checking | sending: the screen waits; never here
            return []
        if key == "escape":
            self.close_switch()
            self.message = "cancelled: nothing was sent"
            return []
        if key == "tab":
            form.field = "reason" if form.field == "confirm" else "confirm"
        elif key == "enter":
            if form.field == "confirm":
                form.field = "reason"
            else:
                return [Do("send")]
        elif key == "backspace":
            if form.field == "confirm":
                form.typed = form.typed[:-1]
            else:
                form.reason = form.reason[:-1]
        elif character and character.isprintable():
            if form.field == "confirm":
                form.typed += character
            else:
                form.reason += character
        return []

    def close_switch(self) -> None:
        self.switch = None
        self.mode = "step"


def _done(word: str) -> str:
    return "skipped" if word == "skip" else "abandoned"


def _name(key: str, character: str | None) -> str:
    """A key as the operator would name it."""
    if character and character.isprintable() and len(key) == 1:
        return repr(character)
    return key

"""The status line every area shows: its own parts on the left, the shared state on the right
(outbox, online/offline/syncing, last sync, the last error), and a message slot first for what
the last key did (a key with no meaning, a refusal).

The line is fitted to its width by rank: parts of a higher rank are dropped whole first; what is
left is cut only at a word, with an ellipsis. Widths are measured in cells (rich.cells)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

from tui.services import Services, Status
from tui.text import one_line

SEP = " · "

#: Ranks: lower stays longer. 0 is never dropped (the message, the outbox and online state, an
#: error); an area ranks its own parts from 1 (progress) upwards; the last sync goes first.
KEEP = 0
LAST_SYNC = 9


@dataclass(frozen=True)
class Part:
    text: Text
    rank: int = KEEP
    #: May be cut at a word when the parts that stay are too wide (a message, an area's text).
    cut: bool = False
    #: False when the text starts with its own separator (styled as the part is).
    sep: bool = True


def status_parts(status: Status, *, now: float | None = None) -> list[Part]:
    """The shared parts: outbox and online state (or offline and what waits), last sync, error."""
    parts: list[Part] = []
    if status.online is False and not status.syncing:
        # Offline is a normal state: say what waits for the next sync.
        waiting = "…" if status.pending is None else f"{status.pending:,}"
        t = Text()
        t.append("offline", "bold red")
        t.append(f" · {waiting} grade{'' if status.pending == 1 else 's'} waiting")
        parts.append(Part(t))
    else:
        t = Text("outbox ")
        t.append("…" if status.pending is None else f"{status.pending:,}")
        t.append(" · ")
        if status.syncing:
            t.append("syncing…", "yellow")
        elif status.online is None:
            t.append("…")
        elif status.online:
            t.append("online", "green")
        else:
            t.append("offline", "bold red")
        parts.append(Part(t))
    if status.last_sync is not None:
        ago = max(0, int((now or time.time()) - status.last_sync))
        t = Text(" · synced ", "dim")
        t.append("just now" if ago < 60 else f"{ago // 60} min ago", "dim")
        parts.append(Part(t, LAST_SYNC, sep=False))
    if status.error:
        parts.append(Part(Text(one_line(status.error, 200), "bold red")))
    return parts


def _crop_words(text: Text, width: int) -> Text:
    """``text`` cut at the last whole word that fits in ``width`` cells, with an ellipsis."""
    if cell_len(text.plain) <= width:
        return text
    if width <= 1:
        return Text("…")
    plain = text.plain
    # The longest prefix that fits with the ellipsis, then back to the last space in it.
    end = 0
    used = 0
    for i, ch in enumerate(plain):
        used += cell_len(ch)
        if used > width - 1:
            break
        end = i + 1
    cut = plain.rfind(" ", 0, end + 1)
    if cut <= 0:
        return Text("…")
    out = text[:cut].copy()
    out.rstrip()
    out.append("…")
    return out


def _join(parts: Sequence[Part], texts: Sequence[Text]) -> Text:
    """The texts after a leading space (unless the first has one), each after ' · ' unless its
    part carries its own separator."""
    line = Text()
    for i, (part, text) in enumerate(zip(parts, texts, strict=True)):
        if i == 0:
            if not text.plain.startswith(" "):
                line.append(" ")
        elif part.sep:
            line.append(SEP)
        line.append_text(text)
    return line


def fit_line(parts: Sequence[Part], width: int) -> Text:
    """The parts joined by ' · ' after a leading space, fitted to ``width`` cells: the highest
    ranks dropped whole first; if the parts that always stay are still too wide, the longest is
    cut at a word (a part marked ``cut`` first: the message, an area's text)."""
    kept = [p for p in parts if p.text.plain.strip()]
    while cell_len(_join(kept, [p.text for p in kept]).plain) > width:
        droppable = [p for p in kept if p.rank != KEEP]
        if not droppable:
            break
        worst = max(droppable, key=lambda p: p.rank)
        # The last of the worst rank goes first.
        drop = len(kept) - 1 - [p.rank for p in reversed(kept)].index(worst.rank)
        del kept[drop]
    texts = [p.text for p in kept]
    over = cell_len(_join(kept, texts).plain) - width
    cuttable = [i for i, p in enumerate(kept) if p.cut] or list(range(len(kept)))
    while over > 0 and texts:
        longest = max(cuttable, key=lambda i: cell_len(texts[i].plain))
        room = cell_len(texts[longest].plain) - over
        cropped = _crop_words(texts[longest], max(1, room))
        if cell_len(cropped.plain) >= cell_len(texts[longest].plain):
            break
        texts[longest] = cropped
        over = cell_len(_join(kept, texts).plain) - width
    return _join(kept, texts)


class StatusLine(Widget):
    """One line at the bottom of an area. The area sets its parts with :meth:`set_parts` (or one
    text with :meth:`set_area`) and says what a key did with :meth:`say`."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
    }
    """

    #: A message stays until the next key (:meth:`clear_message`) or this many seconds.
    MESSAGE_SECONDS = 8.0

    def __init__(self, services: Services, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.services = services
        self.parts: list[Part] = []
        self.message: Text | None = None
        self.status = services.status
        self._unsubscribe = None
        self._message_timer: Timer | None = None

    def on_mount(self) -> None:
        self._unsubscribe = self.services.subscribe(self._changed)
        self.set_interval(30, self.refresh)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _changed(self, status: Status) -> None:
        self.status = status
        self.refresh()

    def set_area(self, text: Text) -> None:
        """The area's part as one text (cut at a word when the line is narrow)."""
        self.set_parts([Part(text, cut=True)])

    def set_parts(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)
        self.refresh()

    def say(self, message: str, style: str = "bold") -> None:
        """Show ``message`` (one line, untrusted text kept as data) in the message slot."""
        self.message = Text(one_line(message, 200), style)
        if self._message_timer is not None:
            self._message_timer.stop()
        self._message_timer = self.set_timer(self.MESSAGE_SECONDS, self.clear_message)
        self.refresh()

    def clear_message(self) -> None:
        if self.message is None:
            return
        self.message = None
        if self._message_timer is not None:
            self._message_timer.stop()
            self._message_timer = None
        self.refresh()

    def line(self, width: int) -> Text:
        parts = [Part(self.message, cut=True)] if self.message is not None else []
        parts += self.parts
        parts += status_parts(self.status)
        return fit_line(parts, width)

    def render(self) -> Text:
        return self.line(self.size.width or 80)

"""The footer every area shows: the keys that fit, the most needed first.

Textual's ``Footer`` lays every shown binding out in a row and cuts what does not fit, so at 80
columns the last ones (help, undo) are lost. This one measures each key in cells, keeps them by
rank (:func:`tui.keymap.footer_rank`: quit, help, undo, the areas, then the rest in binding
order), goes compact when the full style does not fit, and draws the kept ones in binding order.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tui.keymap import footer_rank

#: What the command palette's key takes at the right: its key and description plus the border
#: and padding it is drawn with.
PALETTE_EXTRA = 2


def key_cells(key_display: str, description: str, *, compact: bool) -> int:
    """The cells one key takes in the footer (Textual's FooterKey padding and margins)."""
    if compact:
        # "key description" and a margin of one.
        return cell_len(key_display) + 1 + cell_len(description) + 1
    # " key description " with no margin.
    return cell_len(key_display) + 2 + cell_len(description) + 1


def fit(keys: list[tuple[str, int, int]], width: int) -> tuple[bool, set[int]]:
    """Which keys to show in ``width`` cells: ``keys`` are (rank, full, compact) widths by
    index. Returns whether to draw compact, and the indexes kept (by rank, then order)."""
    if sum(full for _, full, _ in keys) <= width:
        return False, set(range(len(keys)))
    kept: set[int] = set()
    used = 0
    for index in sorted(range(len(keys)), key=lambda i: (keys[i][0], i)):
        cells = keys[index][2]
        if used + cells <= width:
            kept.add(index)
            used += cells
    return True, kept


class KeyFooter(Footer):
    """A footer that keeps the most needed keys when the terminal is narrow."""

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)
        self._width = 0

    def on_resize(self, event: events.Resize) -> None:
        # The first size is the screen's width, which the first compose already used.
        if self._width and event.size.width != self._width:
            self.call_after_refresh(self.recompose)
        self._width = event.size.width

    def _shown(self) -> list[tuple[Binding, bool, str]]:
        out: list[tuple[Binding, bool, str]] = []
        seen: set[str] = set()
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                out.append((binding, enabled, tooltip))
        if self.app.ENABLE_COMMAND_PALETTE:
            palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None and palette[1].action not in seen:
                _, binding, enabled, tooltip = palette
                out.append((binding, enabled, tooltip))
        return out

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        yield from self._keys(self._shown(), self.size.width or self.screen.size.width)

    def _keys(self, shown: list[tuple[Binding, bool, str]], width: int) -> Iterator[FooterKey]:
        palette_key = self.app.COMMAND_PALETTE_BINDING
        sizes = []
        for binding, _, _ in shown:
            display = self.app.get_key_display(binding)
            extra = PALETTE_EXTRA if binding.key == palette_key else 0
            sizes.append(
                (
                    footer_rank(binding),
                    key_cells(display, binding.description, compact=False) + extra,
                    key_cells(display, binding.description, compact=True) + extra,
                )
            )
        compact, kept = fit(sizes, width)
        self.compact = compact
        for index, (binding, enabled, tooltip) in enumerate(shown):
            if index not in kept:
                continue
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip or binding.tooltip or binding.description,
                classes="-command-palette" if binding.key == palette_key else "",
            ).data_bind(compact=Footer.compact)

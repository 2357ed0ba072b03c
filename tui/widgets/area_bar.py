"""The top line of every area: the app's name, the areas with their keys, the workspace."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.keymap import AREAS
from tui.text import one_line


def area_text(current: str, keys: dict[str, str], workspace: str) -> Text:
    t = Text()
    t.append(" agentdeck ", "bold")
    for mode, title, _key, binding_id in AREAS:
        label = f" {keys.get(binding_id, '')} {title} "
        if mode == current:
            t.append(label, "bold reverse")
        else:
            t.append(label, "dim")
        t.append(" ")
    t.append("· ", "dim")
    t.append(one_line(workspace, 40), "italic")
    return t


class AreaBar(Static):
    """Which area is open, and the key to each one (as remapped)."""

    DEFAULT_CSS = """
    AreaBar {
        height: 1;
        background: $panel;
    }
    """

    def __init__(self, current: str, workspace: str) -> None:
        super().__init__(classes="area-bar")
        self.current = current
        self.workspace = workspace

    def on_mount(self) -> None:
        from textual.binding import Binding

        from tui.keymap import key_display

        keys = {
            binding_id: key_display(self.app, Binding(key, "", id=binding_id))
            for _mode, _title, key, binding_id in AREAS
        }
        self.update(area_text(self.current, keys, self.workspace))

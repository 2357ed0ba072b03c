"""Binding ids, the bindings every area shares, and the help rows built from the keymap.

Every binding has an id so ``[keys]`` in agentdeck.toml can remap it (``App.set_keymap``).
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.binding import Binding, BindingType

#: The areas of the app: mode name, title, key, binding id.
AREAS: tuple[tuple[str, str, str, str], ...] = (
    ("review", "Review", "f1", "app.area_review"),
    ("oncall", "On call", "f2", "app.area_oncall"),
    ("reports", "Reports", "f3", "app.area_reports"),
)

QUIT = Binding(
    "ctrl+q",
    "app.quit",
    "Quit",
    tooltip="Quit; every key typed is saved first",
    id="app.quit",
)


def area_bindings(current: str) -> list[BindingType]:
    """Quit first (so a narrow footer keeps it), then the keys to the other areas."""
    out: list[BindingType] = [QUIT]
    for mode, title, key, binding_id in AREAS:
        out.append(
            Binding(
                key,
                f"app.area('{mode}')",
                title,
                show=mode != current,
                tooltip=f"Switch to the {title} area",
                id=binding_id,
            )
        )
    return out


#: What a narrow footer keeps first, by the last part of a binding id: quit, help, undo, the
#: areas, find; every other key after them in binding order (see tui/widgets/key_footer.py).
FOOTER_FIRST = ("quit", "help", "undo", "area_review", "area_oncall", "area_reports", "find")


def footer_rank(binding: Binding) -> int:
    """Where ``binding`` stands when the footer has no room for every key (lower stays)."""
    name = (binding.id or "").rpartition(".")[2]
    return FOOTER_FIRST.index(name) if name in FOOTER_FIRST else len(FOOTER_FIRST)


def key_display(app: App[object], binding: Binding) -> str:
    """The keys of ``binding`` as remapped in agentdeck.toml, for help and hints."""
    keys = app._keymap.get(binding.id, binding.key) if binding.id else binding.key
    return ", ".join(app.get_key_display(Binding(k, "")) for k in keys.split(","))


def help_rows(app: App[object], bindings: list[BindingType]) -> list[tuple[str, str, str]]:
    """(keys, description, tooltip) for each binding with an id, keys as remapped."""
    rows = []
    seen: set[str] = set()
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.id or binding.id in seen:
            continue
        seen.add(binding.id)
        rows.append((key_display(app, binding), binding.description, binding.tooltip))
    return rows


#: The keys that scroll a view that reads (help, a report, a card, a run), everywhere alike.
SCROLL_KEYS = ("down", "j", "up", "k", "pagedown", "space", "pageup", "home", "end")


def scroll_by_key(widget: Any, key: str) -> None:
    """Scroll ``widget`` (anything with Textual's scroll methods) as ``key`` asks: a line, a
    page, or to either end."""
    if key in ("down", "j"):
        widget.scroll_down(animate=False)
    elif key in ("up", "k"):
        widget.scroll_up(animate=False)
    elif key in ("pagedown", "space"):
        widget.scroll_page_down(animate=False)
    elif key == "pageup":
        widget.scroll_page_up(animate=False)
    elif key == "home":
        widget.scroll_home(animate=False)
    elif key == "end":
        widget.scroll_end(animate=False)

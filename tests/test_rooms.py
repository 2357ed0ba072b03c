"""The rooms keep their borders: store, review and runbooks never import Textual (or tui).

Checked twice: statically (every import statement in every file) and dynamically (importing every
module in a fresh interpreter leaves no ``textual`` module loaded).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("store", "review", "runbooks")
ROOMS = ("store", "review", "runbooks", "tui")
#: Which other rooms each domain room may import.
ALLOWED = {"store": set(), "review": {"store"}, "runbooks": {"store"}}


def _files(room: str) -> list[Path]:
    return sorted(p for p in (ROOT / room).rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (module or _module(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # "from . import x" / "from store import db": the names may be modules too.
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def test_the_domain_rooms_have_files() -> None:
    for room in DOMAIN:
        assert _files(room), room


@pytest.mark.parametrize("room", DOMAIN)
def test_no_textual_or_tui_import(room: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in _files(room)
        for line, name in _imports(path)
        if _top(name) in ("textual", "tui")
    ]
    assert bad == []


@pytest.mark.parametrize("room", DOMAIN)
def test_rooms_import_only_the_rooms_below_them(room: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in _files(room)
        for line, name in _imports(path)
        if _top(name) in ROOMS and _top(name) != room and _top(name) not in ALLOWED[room]
    ]
    assert bad == []


def test_the_static_check_sees_through_tricks(tmp_path: Path) -> None:
    # The checker itself must catch the spellings people use.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, textual.app\n"
        "def f():\n    from textual import on\n"
        "from tui import cli\n"
        "from .. import tui\n",
        encoding="utf-8",
    )
    names = {name for _, name in _imports(probe, "store.connectors.probe")}
    assert {"textual.app", "textual", "tui", "tui.cli", "store.tui"} <= names


def test_importing_every_domain_module_loads_no_textual() -> None:
    modules = sorted(_module(p) for room in DOMAIN for p in _files(room))
    assert "review.grading" in modules and "store.sync" in modules and "runbooks.cards" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')"
        " or m == 'tui' or m.startswith('tui.'))\n"
        "assert not loaded, loaded\n"
        "print('ok', len(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")

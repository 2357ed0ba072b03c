"""What the on-call UI tests share: a demo workspace whose vendor status page is a real HTTP
server on 127.0.0.1, and the key presses that bring the board to an incident."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conftest import settle

from store.workspace import Workspace

OUTAGE = "INC-2026-1112-01"
#: The clock the snapshots see (the wait step shows when its recheck is due).
PINNED_NOW = datetime(2026, 11, 12, 14, 10, tzinfo=UTC)


@contextmanager
def status_page(indicator: str = "major", *, delay: float = 0.0) -> Iterator[str]:
    """A vendor status page (Statuspage's shape) answering on 127.0.0.1; yields its URL.
    ``delay``: seconds before it answers (a slow vendor, so keys arrive before the check)."""
    import time

    body = json.dumps({"status": {"indicator": indicator, "description": "Major outage"}})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            time.sleep(delay)
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/status.json"
    finally:
        server.shutdown()
        server.server_close()


def point_status_page(ws: Workspace, url: str) -> None:
    """Make the outage runbook read ``url`` as the provider's status page."""
    path = ws.runbooks_dir / "billing-provider-outage.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("https://status.payments-provider.example/api/v2/status.json", url)
    path.write_text(text, encoding="utf-8")


def flag_of(ws: Workspace, flag: str) -> str:
    """The flag's defaultVariant as the flag file says now."""
    doc = json.loads((ws.root / "flags" / "agents.flagd.json").read_text(encoding="utf-8"))
    return str(doc["flags"][flag]["defaultVariant"])


async def open_incident(pilot: Any, incident_id: str) -> None:
    """On the board, press down until ``incident_id`` is highlighted."""
    await settle(pilot)
    screen = pilot.app.screen
    index = next(i for i, line in enumerate(screen.incidents) if line.incident_id == incident_id)
    table = screen.query_one("#board")
    for _ in range(index - table.cursor_row):
        await pilot.press("down")
    await settle(pilot)


def db_path(ws: Workspace) -> Path:
    return ws.db_path


_NAMES = {"-": "minus", " ": "space", ",": "comma", ".": "full_stop", "/": "slash"}
_CHARS = {"enter": "\r", "escape": "\x1b", "backspace": "\x7f", "tab": "\t"}


def burst(app: Any, keys: list[str]) -> None:
    """Every key into the app's queue at once, as a terminal delivers keys read in one go.
    A key is a key name (``enter``) or one character (``a``, ``-``, `` ``)."""
    from textual import events

    for key in keys:
        if len(key) == 1:
            app.post_message(events.Key(_NAMES.get(key, key), key))
        else:
            app.post_message(events.Key(key, _CHARS.get(key)))

"""Anchors: the audit trail's head written down outside the database.

An anchor is one JSON line: the database's id and path, the head's sequence number and hash,
the key id that signed it and the time. Lines are appended, never rewritten, to a file per
database in the user's state directory (``AGENTDECK_STATE_DIR`` overrides it), under an
exclusive lock (a lock file beside it) and fsynced; the same JSON can also be POSTed to an HTTP
endpoint. Someone who cuts the trail, deletes it or moves its head back in the database cannot
make the anchors agree.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.files import fsync_folder, locked, state_dir


def anchors_dir() -> Path:
    """The folder anchor files live in."""
    return state_dir() / "anchors"


def anchor_path(db_id: str, db_path: str) -> Path:
    """The anchor file of the database ``db_id`` kept at ``db_path``."""
    where = hashlib.sha256(db_path.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return anchors_dir() / f"{db_id}-{where}.jsonl"


@dataclass(frozen=True)
class Anchor:
    """One anchored head, and where it was read."""

    db: str
    path: str
    seq: int
    hash: str
    key: str | None
    at: str
    file: Path
    line: int


def write(path: Path, record: dict[str, Any]) -> str | None:
    """Append ``record`` as one line to ``path`` (locked, fsynced); a problem line, or None."""
    line = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(path.with_name(f".{path.stem}.lock")):
            created = not path.exists()
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
            fd = os.open(path, flags, 0o600)
            try:
                size = os.fstat(fd).st_size
                # After a torn last line (a crash mid-write), start a fresh one.
                torn = False
                if size > 0:
                    os.lseek(fd, size - 1, os.SEEK_SET)
                    torn = os.read(fd, 1) != b"\n"
                record_bytes = (("\n" if torn else "") + line + "\n").encode(
                    "utf-8", "surrogatepass"
                )
                os.write(fd, record_bytes)
                os.fsync(fd)
            finally:
                os.close(fd)
        if created:
            fsync_folder(path.parent)
    except OSError as exc:
        return f"anchor file {path}: {exc.strerror or exc}; the head was not anchored there"
    return None


def post(url: str, record: dict[str, Any], timeout: float) -> str | None:
    """POST ``record`` as JSON to ``url``, once (an anchor is not keyed: a retry after a lost
    reply could anchor the head twice); a problem line (the URL's secrets masked), or None."""
    # Only here: `audit verify` and the desk never load the HTTP client.
    from store.jsonapi import JsonApi
    from store.text import display_url

    shown = display_url(url)
    api = JsonApi(
        "anchor",
        url,
        secrets=[url],
        timeout=timeout,
        error=_Problem,
        where=lambda method, path: f"anchor URL {shown}",
        todo=_POST_TODO,
    )
    try:
        with api:
            api.request("POST", url, json=record, retry=False)
    except _Problem as exc:
        return str(exc)
    return None


class _Problem(Exception):
    """An anchor POST that failed (its one line is the problem returned)."""


#: What a failed anchor POST says to do.
_POST_TODO = {kind: "the head was not sent" for kind in ("timeout", "connect", "url")} | {
    kind: "the head was not accepted" for kind in ("server", "busy", "status")
}


def read(db_id: str, db_path: str) -> tuple[list[Anchor], list[Anchor], list[str]]:
    """Every anchor of database ``db_id``, the anchors of other databases once kept at
    ``db_path`` (the database there was replaced), and one line per unreadable line."""
    mine: list[Anchor] = []
    others: list[Anchor] = []
    problems: list[str] = []
    folder = anchors_dir()
    try:
        files = sorted(folder.glob("*.jsonl"))
    except OSError as exc:
        return [], [], [f"anchor folder {folder}: {exc.strerror or exc}"]
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            problems.append(f"anchor file {file}: {exc.strerror or exc}")
            continue
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8", "surrogatepass"))
                anchor = Anchor(
                    db=str(obj["db"]),
                    path=str(obj["path"]),
                    seq=int(obj["seq"]),
                    hash=str(obj["hash"]),
                    key=None if obj.get("key") is None else str(obj["key"]),
                    at=str(obj["at"]),
                    file=file,
                    line=number,
                )
            except (ValueError, KeyError, TypeError):
                problems.append(f"{file}:{number}: not an anchor (skipped)")
                continue
            if anchor.db == db_id:
                mine.append(anchor)
            elif db_path and anchor.path == db_path:
                others.append(anchor)
    return mine, others, problems

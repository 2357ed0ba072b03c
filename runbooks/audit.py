"""The audit trail: append-only, each entry carrying the hash of the one before.

Every step shown, check result, choice, note, skip and kill-switch attempt is an entry: who, when,
what kind, which incident and session, whether it was a drill, and a JSON body. An entry's hash
covers all of that and the previous entry's hash, so editing, inserting or deleting an entry
breaks the chain where it happened; the head (last sequence number and hash) is kept apart, so
cutting entries off the end is found too. SQLite triggers refuse UPDATE and DELETE on the table;
:func:`verify` finds what a person who went around them changed.

Entries are written inside the caller's transaction, with the change they record (a session
step, a kill-switch attempt), so the trail never says something happened that did not, or
misses something that did.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from store.timestamps import now_iso

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    kind: str
    incident: str | None
    session: str | None
    drill: bool
    body: dict[str, Any]
    prev: str
    hash: str


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(
    seq: int,
    at: str,
    actor: str,
    kind: str,
    incident: str | None,
    session: str | None,
    drill: bool,
    body: str,
    prev: str,
) -> str:
    """The hash of one entry: every field, in order, and the previous entry's hash."""
    fields = [str(seq), at, actor, kind, incident or "", session or "", "1" if drill else "0"]
    text = "\x1f".join([*fields, body, prev])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def append(
    conn: sqlite3.Connection,
    *,
    actor: str,
    kind: str,
    body: dict[str, Any],
    incident: str | None = None,
    session: str | None = None,
    drill: bool = False,
    at: str | None = None,
) -> Entry:
    """Append one entry (inside the caller's transaction) and move the head to it."""
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = at or now_iso()
    text = _canonical(body)
    digest = entry_hash(seq, at, actor, kind, incident, session, drill, text, prev)
    conn.execute(
        "INSERT INTO audit (seq, at, actor, kind, incident, session, drill, body, prev, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, kind, incident, session, int(drill), text, prev, digest),
    )
    conn.execute(
        "INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, digest),
    )
    return Entry(seq, at, actor, kind, incident, session, drill, body, prev, digest)


def record(
    conn: sqlite3.Connection,
    *,
    actor: str,
    kind: str,
    body: dict[str, Any],
    incident: str | None = None,
    session: str | None = None,
    drill: bool = False,
) -> Entry:
    """Append one entry in a transaction of its own: committed (on disk) when this returns."""
    from store.db import transaction

    with transaction(conn):
        return append(
            conn,
            actor=actor,
            kind=kind,
            body=body,
            incident=incident,
            session=session,
            drill=drill,
        )


def _row_entry(row: tuple[Any, ...]) -> Entry:
    seq, at, actor, kind, incident, session, drill, body, prev, digest = row
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {"unreadable": body}
    return Entry(seq, at, actor, kind, incident, session, bool(drill), parsed, prev, digest)


_COLUMNS = "seq, at, actor, kind, incident, session, drill, body, prev, hash"


def entries(conn: sqlite3.Connection, *, incident: str | None = None) -> list[Entry]:
    """The trail in order; only one incident's entries when ``incident`` is given."""
    if incident is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq").fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM audit WHERE incident = ? ORDER BY seq", (incident,)
        ).fetchall()
    return [_row_entry(r) for r in rows]


def incidents(conn: sqlite3.Connection) -> list[str]:
    """The incidents the trail has entries for (``source/id``), in name order."""
    rows = conn.execute(
        "SELECT DISTINCT incident FROM audit WHERE incident IS NOT NULL ORDER BY incident"
    ).fetchall()
    return [r[0] for r in rows]


def match_incident(conn: sqlite3.Connection, text: str) -> list[str]:
    """The trail's incidents ``text`` names: ``source/id`` exactly, else every one whose id is
    ``text`` (more than one when two sources share an id)."""
    known = incidents(conn)
    if text in known:
        return [text]
    return [key for key in known if key.split("/", 1)[-1] == text]


@dataclass(frozen=True)
class Finding:
    """One break in the chain. ``seq`` is the entry at fault (or where the break shows)."""

    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}"


def verify(conn: sqlite3.Connection) -> tuple[int, list[Finding]]:
    """Walk the chain; return how many entries were checked and every break found.

    - an edited entry: its hash no longer matches its content;
    - a deleted entry: a gap in the sequence (the next entry names a previous hash no entry has);
    - an inserted entry: it does not follow the entry before it, or the next one does not
      follow it;
    - entries cut off the end: the head names a later entry than the last one.
    """
    findings: list[Finding] = []
    expected_seq, expected_prev = 1, GENESIS
    count = 0
    last_seq, last_hash = 0, GENESIS
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):
        count += 1
        seq, at, actor, kind, incident, session, drill, body, prev, digest = row
        if seq != expected_seq:
            if seq > expected_seq:
                missing = (
                    f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
                )
                findings.append(Finding(seq, f"entries {missing} are missing (deleted)"))
            else:
                findings.append(Finding(seq, "is out of sequence (inserted)"))
        if prev != expected_prev and seq == expected_seq:
            findings.append(
                Finding(
                    seq,
                    f"does not follow entry {seq - 1} (entry {seq - 1} was inserted or replaced)",
                )
            )
        actual = entry_hash(seq, at, actor, kind, incident, session, bool(drill), body, prev)
        if actual != digest:
            findings.append(Finding(seq, "its content does not match its hash (edited)"))
        expected_seq, expected_prev = seq + 1, digest
        last_seq, last_hash = seq, digest
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
    if head is not None and (head[0], head[1]) != (last_seq, last_hash):
        if head[0] > last_seq:
            findings.append(
                Finding(head[0], f"entries after {last_seq} up to {head[0]} are missing (deleted)")
            )
        else:
            findings.append(Finding(last_seq, "the trail's head does not name the last entry"))
    elif head is None and count:
        findings.append(Finding(last_seq, "the trail's head is missing"))
    return count, findings


def timeline(conn: sqlite3.Connection, incident: str) -> dict[str, Any]:
    """An incident's entries for the postmortem, with whether the whole chain verifies."""
    checked, findings = verify(conn)
    return {
        "incident": incident,
        "verified": not findings,
        "entries_checked": checked,
        "problems": [str(f) for f in findings],
        "entries": [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "kind": e.kind,
                "session": e.session,
                "drill": e.drill,
                "body": e.body,
                "hash": e.hash,
            }
            for e in entries(conn, incident=incident)
        ],
    }


def _describe(kind: str, body: dict[str, Any]) -> str:
    step = body.get("step_title") or body.get("step")
    if kind == "step.shown":
        return f"showed step {body.get('n', '?')}: {step}"
    if kind == "check.result":
        return f"check on {step}: {body.get('outcome')} — {body.get('summary', '')}"
    if kind == "choice":
        return f"chose {body.get('label')!r} at {step}"
    if kind == "note":
        return f"note at {step}: {body.get('text', '')}"
    if kind == "skip":
        return f"skipped {step}: {body.get('reason', '')}"
    if kind == "back":
        return f"went back from {body.get('from')} to {step}"
    if kind.startswith("switch."):
        what = (
            f"kill switch {body.get('action', '')} {body.get('workflow', '')} → "
            f"{body.get('state', '')} via {body.get('backend', '')}"
        )
        if kind == "switch.attempt":
            return f"{what}: attempt (reason: {body.get('reason', '')})"
        verdict = body.get("verdict") or body.get("error") or ""
        error = body.get("error")
        return f"{what}: {verdict}" + (f" ({error})" if error and error != verdict else "")
    if kind.startswith("session."):
        return f"{kind.split('.', 1)[1]} runbook {body.get('runbook', '')} {body.get('reason', '')}"
    return kind


def timeline_markdown(data: dict[str, Any]) -> str:
    """The timeline as Markdown, one line an entry (text from runs and people is escaped)."""

    def esc(text: str) -> str:
        out = "".join(ch if ch.isprintable() else " " for ch in text)
        for ch in "\\`*_[]<>|#":
            out = out.replace(ch, "\\" + ch)
        return out

    lines = [f"# Incident {esc(data['incident'])}: timeline", ""]
    if data["verified"]:
        lines.append(f"Audit trail verified: {data['entries_checked']} entries, chain intact.")
    else:
        lines.append("**Audit trail NOT verified:** " + "; ".join(esc(p) for p in data["problems"]))
    lines += ["", "| time (UTC) | who | what | drill |", "|---|---|---|---|"]
    for e in data["entries"]:
        lines.append(
            f"| {e['at'][:19].replace('T', ' ')} | {esc(e['actor'])} | "
            f"{esc(_describe(e['kind'], e['body']))} | {'drill' if e['drill'] else ''} |"
        )
    return "\n".join(lines) + "\n"

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


def _missing(first: int, last: int, where: str = "") -> str:
    tail = "" if first == last else f", and so are the entries after it up to {last}"
    return f"is missing (deleted{where}){tail}"


def _written_as(row: tuple[Any, ...], n: int) -> bool:
    """Whether the row's hash is that of its content written as entry ``n``."""
    _, at, actor, kind, incident, session, drill, body, prev, digest = row
    return bool(
        digest == entry_hash(n, at, actor, kind, incident, session, bool(drill), body, prev)
    )


#: How far back a renumbered entry is looked for when the one before it is gone.
_SHIFT_GUESSES = 16


def verify(conn: sqlite3.Connection) -> tuple[int, list[Finding]]:
    """Walk the chain; return how many entries were checked and every break found.

    Each finding names the entry at fault:

    - an edited entry: its hash no longer matches its content (or, with its hash recomputed,
      the entry after it was written after another one);
    - a deleted entry: the first missing sequence number (a gap, or the entry after it names a
      previous hash no entry has);
    - an inserted entry: the entry after it names an earlier entry as the one before it; entries
      renumbered to make room (or to close a gap) are named once, with where they were written;
    - entries cut off the end: the head names a later entry than the last one.
    """
    findings: list[Finding] = []
    count = 0
    # Every entry read so far: its stored hash -> (its seq now, the seq it was written with).
    seen: dict[str, tuple[int, int]] = {GENESIS: (0, 0)}
    order: list[str] = []
    last_seq, last_hash, last_orig = 0, GENESIS, 0
    moved: list[tuple[int, int]] = []  # (seq now, seq written) of renumbered entries
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):
        count += 1
        seq, at, actor, kind, incident, session, drill, body, prev, digest = row

        # Its place in the chain, by the previous hash it names.
        if prev == last_hash:
            expected = last_orig + 1
        elif prev in seen:
            # It follows an earlier entry: everything read since that one was inserted.
            idx = order.index(prev) + 1 if prev != GENESIS else 0
            for h in order[idx:]:
                findings.append(
                    Finding(
                        seen[h][0],
                        f"was inserted: entry {seq} was written after entry {seen[prev][0]}",
                    )
                )
            expected = seen[prev][1] + 1
        else:
            if seq > last_seq + 1:
                findings.append(Finding(last_seq + 1, _missing(last_seq + 1, seq - 1)))
            elif last_seq and last_seq == seq - 1 and _written_as(row, seq):
                # It was written as this seq after an entry that is not the one there now.
                findings.append(
                    Finding(last_seq, f"was replaced: entry {seq} was written after another one")
                )
            else:
                findings.append(Finding(seq, "the entry written before it is missing (deleted)"))
            expected = seq
        # Its content, at the seq it was written with.
        if _written_as(row, seq):
            orig = seq
        elif expected != seq and _written_as(row, expected):
            orig = expected
        else:
            guess = next(
                (n for n in range(seq + 1, seq + 1 + _SHIFT_GUESSES) if _written_as(row, n)), None
            )
            if guess is None:
                findings.append(Finding(seq, "its content does not match its hash (edited)"))
                orig = seq
            else:
                orig = guess
        if orig != seq:
            moved.append((seq, orig))
        seen[digest] = (seq, orig)
        order.append(digest)
        last_seq, last_hash, last_orig = seq, digest, orig
    # Renumbered entries, one finding per run shifted by the same amount.
    i = 0
    while i < len(moved):
        j = i
        while (
            j + 1 < len(moved)
            and moved[j + 1][0] == moved[j][0] + 1
            and moved[j + 1][0] - moved[j + 1][1] == moved[i][0] - moved[i][1]
        ):
            j += 1
        (a, wa), (b, wb) = moved[i], moved[j]
        if a == b:
            findings.append(Finding(a, f"was renumbered (written as entry {wa})"))
        else:
            findings.append(
                Finding(
                    a,
                    f"was renumbered, and so were the entries after it up to {b} "
                    f"(written as {wa}–{wb})",
                )
            )
        i = j + 1
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
    if head is None:
        if count:
            findings.append(Finding(last_seq, "the trail's head is missing"))
    elif head[1] != last_hash:
        if head[1] in seen and head[1] != GENESIS:
            after = order.index(head[1]) + 1
            for h in order[after:]:
                findings.append(Finding(seen[h][0], "was added after the trail's head (inserted)"))
        elif head[0] > last_seq:
            first = last_seq + 1
            findings.append(Finding(first, _missing(first, head[0], " from the end")))
        else:
            findings.append(Finding(last_seq, "the trail's head does not name the last entry"))
    findings.sort(key=lambda f: f.seq)
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

"""The audit trail: append-only, each entry carrying a keyed hash of itself and the one before.

Every step shown, check result, choice, note, skip and kill-switch attempt is an entry: who (the
reviewer, the OS user and the host), when, what kind, which incident and session, whether it
was a drill, and a JSON body. An entry's hash is an HMAC-SHA256, under a key kept only in the
OS keyring (:mod:`runbooks.audit_keys`), of all of that, the key's id and the previous entry's
hash: editing, inserting or deleting an entry breaks the chain where it happened, and so does
recomputing the chain without the key. The head (last sequence number and hash) is kept apart,
and :func:`anchor` writes it down outside the database (:mod:`runbooks.anchors`), so cutting
entries off the end, deleting them all or moving the head back is found too. SQLite triggers
refuse UPDATE and DELETE on the table; :func:`verify` finds what a person who went around them
changed.

On a machine with no usable keyring the trail is written unkeyed (plain SHA-256) and says so;
entries written before keys existed (scheme 1) are checked the same way and never rewritten.

Entries are written inside the caller's transaction, with the change they record (a session
step, a kill-switch attempt), so the trail never says something happened that did not, or
misses something that did.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from runbooks import anchors, audit_keys
from store.timestamps import now_iso

GENESIS = "0" * 64

#: Entries written before keys (plain SHA-256 over the fields of schema 4).
SCHEME_V1 = 1
#: Entries naming the OS user, host and key: HMAC-SHA256 under the key, or SHA-256 unkeyed.
SCHEME_V2 = 2


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
    os_user: str | None = None
    host: str | None = None
    key_id: str | None = None
    scheme: int = SCHEME_V1


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
    """The hash of an entry written before keys (scheme 1): SHA-256 of every field, in order,
    and the previous entry's hash. Anyone can compute it."""
    fields = [str(seq), at, actor, kind, incident or "", session or "", "1" if drill else "0"]
    text = "\x1f".join([*fields, body, prev])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def entry_digest(
    seq: int,
    at: str,
    actor: str,
    os_user: str | None,
    host: str | None,
    kind: str,
    incident: str | None,
    session: str | None,
    drill: bool,
    body: str,
    prev: str,
    key_id: str | None,
    key: bytes | None,
) -> str:
    """The hash of an entry (scheme 2): HMAC-SHA256 under ``key`` (whose id is ``key_id``) of
    every field, in order, and the previous entry's hash; SHA-256 when written unkeyed."""
    fields = [
        "agentdeck-audit-2",
        str(seq),
        at,
        actor,
        os_user or "",
        host or "",
        kind,
        incident or "",
        session or "",
        "1" if drill else "0",
        key_id or "",
    ]
    data = "\x1f".join([*fields, body, prev]).encode("utf-8", "surrogatepass")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


@cache
def whoami() -> tuple[str, str]:
    """The OS user and host this process runs as (asked once)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry and no LOGNAME/USER (a bare container)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    try:
        host = socket.gethostname() or "unknown"
    except OSError:
        host = "unknown"
    return user, host


def database_id(conn: sqlite3.Connection) -> str:
    """The id this database was given when its trail got keys (schema 12)."""
    row = conn.execute("SELECT db_id FROM audit_identity WHERE one = 1").fetchone()
    if row is None:
        # Only someone who deleted the row gets here; a new id keeps the trail writable, and
        # verify finds the anchors of the old one by the database's path.
        new = os.urandom(16).hex()
        conn.execute("INSERT INTO audit_identity (one, db_id) VALUES (1, ?)", (new,))
        return new
    return str(row[0])


def _database_path(conn: sqlite3.Connection) -> str:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return os.path.realpath(row[2]) if row[2] else ""
    return ""


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
    """Append one entry (inside the caller's transaction) and move the head to it.

    The entry names ``actor`` (the reviewer), this process's OS user and host, and is signed
    with this machine's key for the trail (made on first use); without a usable keyring it is
    written unkeyed.
    """
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = at or now_iso()
    text = _canonical(body)
    os_user, host = whoami()
    signing = audit_keys.signing_key(database_id(conn))
    key, kid = signing if signing else (None, None)
    digest = entry_digest(
        seq, at, actor, os_user, host, kind, incident, session, drill, text, prev, kid, key
    )
    conn.execute(
        "INSERT INTO audit (seq, at, actor, kind, incident, session, drill, body, prev, hash, "
        "scheme, os_user, host, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            at,
            actor,
            kind,
            incident,
            session,
            int(drill),
            text,
            prev,
            digest,
            SCHEME_V2,
            os_user,
            host,
            kid,
        ),
    )
    conn.execute(
        "INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, digest),
    )
    return Entry(
        seq,
        at,
        actor,
        kind,
        incident,
        session,
        drill,
        body,
        prev,
        digest,
        os_user,
        host,
        kid,
        SCHEME_V2,
    )


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
    seq, at, actor, kind, incident, session, drill, body, prev, digest = row[:10]
    scheme, os_user, host, kid = row[10:14]
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {"unreadable": body}
    return Entry(
        seq,
        at,
        actor,
        kind,
        incident,
        session,
        bool(drill),
        parsed,
        prev,
        digest,
        os_user,
        host,
        kid,
        scheme,
    )


_COLUMNS = (
    "seq, at, actor, kind, incident, session, drill, body, prev, hash, scheme, os_user, host, "
    "key_id"
)


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


# --- keys and anchors, as the UI and the lead's hooks use them -------------------------------


def _stored_id(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT db_id FROM audit_identity WHERE one = 1").fetchone()
    return None if row is None else str(row[0])


def _key_hint(kid: str) -> str:
    return (
        f"on the machine that wrote them run `agentdeck audit key export`, and here "
        f"`agentdeck audit key import`, to check key {kid}"
    )


def key_ids(conn: sqlite3.Connection) -> list[str]:
    """The ids of the keys the trail's entries are signed with, in the order first used."""
    rows = conn.execute(
        "SELECT key_id FROM audit WHERE key_id IS NOT NULL GROUP BY key_id ORDER BY min(seq)"
    )
    return [str(r[0]) for r in rows]


def export_keys(conn: sqlite3.Connection) -> list[str]:
    """One line per key of this trail that this keyring holds (the trail's keys, and the one
    this machine signs it with), for ``audit_keys.import_line`` on another machine. Secrets:
    for the person carrying them, never for a log or a file."""
    kids = key_ids(conn)
    db_id = _stored_id(conn)
    mine = None if db_id is None else audit_keys.signing_key(db_id, create=False)
    if mine is not None and mine[1] not in kids:
        kids.append(mine[1])
    return [line for kid in kids if (line := audit_keys.export_line(kid)) is not None]


def key_status(conn: sqlite3.Connection) -> str | None:
    """One line for screens when the trail cannot be kept or checked with its key here
    (no usable keyring, or entries signed with a key this keyring lacks); None when keyed and
    fine. Reads the keyring (once per process): call it off the UI thread."""
    db_id = _stored_id(conn)
    if db_id is not None:
        audit_keys.signing_key(db_id, create=False)  # warm the cache before the first append
    problem = audit_keys.keyring_problem()
    if problem:
        return f"{audit_keys.NO_KEYRING} ({problem}): the audit trail is written without its key"
    try:
        missing = [k for k in key_ids(conn) if audit_keys.lookup(k) is None]
    except audit_keys.KeyringUnusable as exc:
        return f"{audit_keys.NO_KEYRING} ({exc}): the audit trail is written without its key"
    if missing:
        return f"audit entries signed with key {', '.join(missing)} cannot be checked here: " + (
            _key_hint(missing[0])
        )
    return None


def anchor(conn: sqlite3.Connection, *, url: str | None = None, timeout: float = 5.0) -> list[str]:
    """Write the trail's head (sequence number, hash, key id, time, database id and path) down
    outside the database: appended to this database's anchor file in the user's state
    directory, and POSTed as JSON to ``url`` when given. Call it after the transaction that
    moved the head has committed (after a kill-switch action, at a session's end).

    Returns one line per problem (an empty list when anchored everywhere); never raises for a
    file or network fault, and changes nothing in the database.
    """
    if conn.in_transaction:
        return ["audit anchor: called inside an open transaction; the head was not anchored"]
    try:
        db_id = _stored_id(conn)
        head = conn.execute("SELECT seq, hash FROM audit_head WHERE one = 1").fetchone()
        seq, digest = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        row = conn.execute("SELECT key_id FROM audit WHERE seq = ?", (seq,)).fetchone()
        path = _database_path(conn)
    except sqlite3.Error as exc:
        from store.db import explain

        return [f"audit anchor: the database could not be read ({explain(exc)})"]
    if db_id is None:
        return ["audit anchor: the database has no id (audit_identity is empty); not anchored"]
    record = {
        "v": 1,
        "db": db_id,
        "path": path,
        "seq": seq,
        "hash": digest,
        "key": row[0] if row else None,
        "at": now_iso(),
    }
    problems: list[str] = []
    if not path:
        problems.append("audit anchor: an in-memory database has no anchor file")
    else:
        problem = anchors.write(anchors.anchor_path(db_id, path), record)
        if problem:
            problems.append(problem)
    if url:
        problem = anchors.post(url, record, timeout)
        if problem:
            problems.append(problem)
    return problems


# --- verify ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One break in the chain. ``seq`` is the entry at fault (or where the break shows); 0 for a
    problem with the whole trail."""

    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}" if self.seq else self.problem


@dataclass
class Report:
    """What :func:`check` found: entries checked, every break, and lines worth saying even
    when the trail is intact (how it is keyed, how it is anchored)."""

    count: int
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _missing(first: int, last: int, where: str = "") -> str:
    tail = "" if first == last else f", and so are the entries after it up to {last}"
    return f"is missing (deleted{where}){tail}"


def _span(seqs: list[int]) -> str:
    return f"entry {seqs[0]}" if len(seqs) == 1 else f"entries {seqs[0]}–{seqs[-1]}"


class _Keys:
    """Keys for checking, looked up once each; remembers the entries it could not check."""

    def __init__(self) -> None:
        self.found: dict[str, bytes | None] = {}
        self.unusable: str | None = None
        self.missing: dict[str, list[int]] = {}

    def get(self, kid: str) -> bytes | None:
        if kid not in self.found:
            try:
                self.found[kid] = audit_keys.lookup(kid)
            except audit_keys.KeyringUnusable as exc:
                self.unusable = str(exc)
                self.found[kid] = None
        return self.found[kid]


def _written_as(row: tuple[Any, ...], n: int, keys: _Keys) -> bool:
    """Whether the row's hash is that of its content written as entry ``n`` (True when it is
    signed with a key this machine does not hold: that cannot be told here)."""
    seq, at, actor, kind, incident, session, drill, body, prev, digest = row[:10]
    scheme, os_user, host, kid = row[10:14]
    if scheme == SCHEME_V1:
        return bool(
            digest == entry_hash(n, at, actor, kind, incident, session, bool(drill), body, prev)
        )
    if scheme != SCHEME_V2:
        return False
    key = None
    if kid is not None:
        key = keys.get(kid)
        if key is None:
            return True
    expected = entry_digest(
        n, at, actor, os_user, host, kind, incident, session, bool(drill), body, prev, kid, key
    )
    return hmac.compare_digest(str(digest), expected)


def _edited(row: tuple[Any, ...]) -> str:
    scheme, kid = row[10], row[13]
    if scheme not in (SCHEME_V1, SCHEME_V2):
        return f"is written in an unknown form (scheme {scheme!r}): forged"
    if scheme == SCHEME_V2 and kid is not None:
        return (
            f"its content does not match its hash under key {kid} "
            "(edited or forged without the key)"
        )
    return "its content does not match its hash (edited)"


#: How far back a renumbered entry is looked for when the one before it is gone.
_SHIFT_GUESSES = 16


def verify(conn: sqlite3.Connection) -> tuple[int, list[Finding]]:
    """Walk the chain and check it against its anchors; return how many entries were checked
    and every break found (see :func:`check`)."""
    report = check(conn)
    return report.count, report.findings


def check(conn: sqlite3.Connection) -> Report:
    """Walk the chain, check its keys and check it against its anchors.

    Each finding names the entry at fault:

    - an edited entry: its hash no longer matches its content (or, with its hash recomputed,
      the entry after it was written after another one); with a key, a hash recomputed
      without the key does not match either;
    - a deleted entry: the first missing sequence number (a gap, or the entry after it names a
      previous hash no entry has);
    - an inserted entry: the entry after it names an earlier entry as the one before it; entries
      renumbered to make room (or to close a gap) are named once, with where they were written;
    - entries cut off the end: the head names a later entry than the last one, or an anchor
      does;
    - a chain recomputed without the key: entries unkeyed (or in the old form) after keyed
      ones, signed with keys no one here holds, or none signed with the key this machine made
      for the trail; and the anchors no longer match;
    - every entry deleted, or the database replaced: an anchor names entries that are gone.

    Entries signed with a key this keyring lacks (written on another machine) cannot be
    checked: one finding per key says so and what to do.
    """
    report = Report(0)
    findings = report.findings
    keys = _Keys()
    count = 0
    # Every entry read so far: its stored hash -> (its seq now, the seq it was written with).
    seen: dict[str, tuple[int, int]] = {GENESIS: (0, 0)}
    order: list[str] = []
    last_seq, last_hash, last_orig = 0, GENESIS, 0
    moved: list[tuple[int, int]] = []  # (seq now, seq written) of renumbered entries
    edited: list[tuple[int, str]] = []
    rows_by_seq: dict[int, str] = {}
    legacy: list[int] = []
    unkeyed: list[int] = []
    downgraded: list[int] = []
    old_form_late: list[int] = []
    signed: dict[str, list[int]] = {}
    for row in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):
        count += 1
        seq, at, actor, kind, incident, session, drill, body, prev, digest = row[:10]
        scheme, kid = row[10], row[13]
        rows_by_seq[seq] = digest
        # How it is keyed, and whether that fits the entries before it.
        if scheme == SCHEME_V1:
            if signed or unkeyed:
                old_form_late.append(seq)
            legacy.append(seq)
        elif kid is None:
            if signed:
                downgraded.append(seq)
            unkeyed.append(seq)
        else:
            signed.setdefault(kid, []).append(seq)

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
            elif last_seq and last_seq == seq - 1 and _written_as(row, seq, keys):
                # It was written as this seq after an entry that is not the one there now.
                findings.append(
                    Finding(last_seq, f"was replaced: entry {seq} was written after another one")
                )
            else:
                findings.append(Finding(seq, "the entry written before it is missing (deleted)"))
            expected = seq
        # Its content, at the seq it was written with.
        if _written_as(row, seq, keys):
            orig = seq
        elif expected != seq and _written_as(row, expected, keys):
            orig = expected
        else:
            guess = next(
                (n for n in range(seq + 1, seq + 1 + _SHIFT_GUESSES) if _written_as(row, n, keys)),
                None,
            )
            if guess is None:
                edited.append((seq, _edited(row)))
                orig = seq
            else:
                orig = guess
        if kid is not None and scheme == SCHEME_V2 and keys.get(kid) is None:
            keys.missing.setdefault(kid, []).append(seq)
        if orig != seq:
            moved.append((seq, orig))
        seen[digest] = (seq, orig)
        order.append(digest)
        last_seq, last_hash, last_orig = seq, digest, orig
    report.count = count
    # Edited entries, one finding per run of entries edited the same way.
    i = 0
    while i < len(edited):
        j = i
        while (
            j + 1 < len(edited)
            and edited[j + 1][0] == edited[j][0] + 1
            and edited[j + 1][1] == edited[i][1]
        ):
            j += 1
        text = edited[i][1]
        if j > i:
            text += f", and so do the entries after it up to {edited[j][0]}"
        findings.append(Finding(edited[i][0], text))
        i = j + 1
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
    _check_keys(conn, report, keys, signed, legacy, unkeyed, downgraded, old_form_late, count)
    _check_anchors(conn, report, rows_by_seq, last_seq)
    findings.sort(key=lambda f: f.seq)
    return report


def _runs(seqs: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for n in seqs:
        if out and out[-1][-1] == n - 1:
            out[-1].append(n)
        else:
            out.append([n])
    return out


def _and_after(run: list[int]) -> str:
    return "" if len(run) == 1 else f", and so are the entries after it up to {run[-1]}"


def _check_keys(
    conn: sqlite3.Connection,
    report: Report,
    keys: _Keys,
    signed: dict[str, list[int]],
    legacy: list[int],
    unkeyed: list[int],
    downgraded: list[int],
    old_form_late: list[int],
    count: int,
) -> None:
    findings, notes = report.findings, report.notes
    for run in _runs(downgraded):
        findings.append(
            Finding(
                run[0],
                "is unkeyed after keyed entries (written without the keyring, or forged without "
                "the key)" + _and_after(run),
            )
        )
    for run in _runs(old_form_late):
        findings.append(
            Finding(
                run[0],
                "is in the form from before keys, after newer entries (forged without the key)"
                + _and_after(run),
            )
        )
    for kid, seqs in keys.missing.items():
        more = "" if len(seqs) == 1 else f" (and {len(seqs) - 1} more entries, up to {seqs[-1]})"
        why = (
            f"this machine has no usable keyring ({keys.unusable})"
            if keys.unusable
            else "this keyring does not hold it"
        )
        findings.append(
            Finding(
                seqs[0],
                f"is signed with key {kid}{more}, which cannot be checked: {why}; "
                + _key_hint(kid),
            )
        )
    problem = keys.unusable or audit_keys.keyring_problem()
    db_id = _stored_id(conn)
    mine = None if problem or db_id is None else audit_keys.signing_key(db_id, create=False)
    if mine is not None and count and mine[1] not in signed:
        findings.append(
            Finding(
                0,
                f"this machine made key {mine[1]} for this trail, but no entry is signed with "
                "it: the chain was rewritten without the key",
            )
        )
    if problem:
        notes.append(f"{audit_keys.NO_KEYRING} ({problem})")
    if legacy:
        notes.append(f"{_span(legacy)} written before keys (plain SHA-256), checked unkeyed")
    if unkeyed and not problem:
        notes.append(f"{_span(unkeyed)} written unkeyed (no keyring where they were written)")
    if signed:
        notes.append("keyed: signed with key " + ", ".join(signed))
        weak = audit_keys.weak_backend()
        if weak:
            notes.append(f"warning: {weak}")


def _check_anchors(
    conn: sqlite3.Connection, report: Report, rows_by_seq: dict[int, str], last_seq: int
) -> None:
    db_id = _stored_id(conn)
    if db_id is None:
        report.findings.append(
            Finding(0, "the database's id is missing (audit_identity emptied): anchors unchecked")
        )
        return
    path = _database_path(conn)
    mine, others, unreadable = anchors.read(db_id, path)
    report.notes.extend(unreadable)
    cut: anchors.Anchor | None = None
    rewritten: anchors.Anchor | None = None
    for a in mine:
        if a.seq == 0:
            continue
        digest = rows_by_seq.get(a.seq)
        if digest is None and a.seq > last_seq:
            if cut is None or a.seq > cut.seq:
                cut = a
        elif digest != a.hash and (rewritten is None or a.seq < rewritten.seq):
            rewritten = a
    if cut is not None:
        where = f"anchored at entry {cut.seq} on {cut.at} ({cut.file.name}:{cut.line})"
        if last_seq == 0:
            report.findings.append(
                Finding(
                    1,
                    _missing(1, cut.seq)
                    + f": the trail is empty, but its head was {where} (every entry was deleted)",
                )
            )
        else:
            report.findings.append(
                Finding(
                    last_seq + 1,
                    _missing(last_seq + 1, cut.seq, " from the end")
                    + f": the trail ends at {last_seq}, but its head was {where} "
                    "(the tail was cut)",
                )
            )
    if rewritten is not None:
        report.findings.append(
            Finding(
                rewritten.seq,
                f"does not match the head anchored on {rewritten.at} "
                f"({rewritten.file.name}:{rewritten.line}): the trail was rewritten up to here",
            )
        )
    if others:
        latest = max(others, key=lambda a: (a.at, a.seq))
        report.findings.append(
            Finding(
                0,
                f"the database at {path} was replaced: {latest.file} anchors another trail "
                f"there (database {latest.db}, entry {latest.seq} on {latest.at}); if it was "
                "removed on purpose, move that file aside",
            )
        )
    if mine:
        latest = max(mine, key=lambda a: (a.at, a.seq))
        report.notes.append(
            f"anchored: {len(mine)} head{'s' if len(mine) != 1 else ''} checked, the latest "
            f"entry {latest.seq} on {latest.at}"
        )
    else:
        report.notes.append(
            f"not anchored yet: no anchor for this trail in {anchors.anchors_dir()}"
        )


def timeline(conn: sqlite3.Connection, incident: str) -> dict[str, Any]:
    """An incident's entries for the postmortem, with whether the whole chain verifies, and
    how it is keyed and anchored (key ids only: never a key)."""
    report = check(conn)
    return {
        "incident": incident,
        "verified": not report.findings,
        "entries_checked": report.count,
        "problems": [str(f) for f in report.findings],
        "notes": report.notes,
        "entries": [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "os_user": e.os_user,
                "host": e.host,
                "kind": e.kind,
                "session": e.session,
                "drill": e.drill,
                "body": e.body,
                "key_id": e.key_id,
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
        word = "restore" if body.get("mode") == "restore" else "kill switch"
        if body.get("emergency_stop"):
            word = "emergency stop"
        if body.get("nothing_to_send"):
            return (
                f"{word} {body.get('workflow', '')} → {body.get('state', '')}: already "
                f"{body.get('before', '')}, nothing to send"
            )
        what = (
            f"{word} ({body.get('action', '')}) {body.get('workflow', '')} → "
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


def _who(e: dict[str, Any]) -> str:
    user, host = e.get("os_user"), e.get("host")
    return f"{e['actor']} ({user}@{host})" if user or host else str(e["actor"])


def timeline_markdown(data: dict[str, Any]) -> str:
    """The timeline as Markdown, one line an entry (text from runs and people is escaped)."""

    def esc(text: str) -> str:
        out = "".join(ch if ch.isprintable() else " " for ch in text)
        for ch in "\\`*_[]<>|#":
            out = out.replace(ch, "\\" + ch)
        return out

    lines = [f"# Incident {esc(data['incident'])}: timeline", ""]
    if data["verified"]:
        notes = "; ".join(esc(n) for n in data.get("notes", []))
        lines.append(
            f"Audit trail verified: {data['entries_checked']} entries, chain intact."
            + (f" ({notes})" if notes else "")
        )
    else:
        lines.append("**Audit trail NOT verified:** " + "; ".join(esc(p) for p in data["problems"]))
    lines += ["", "| time (UTC) | who | what | drill |", "|---|---|---|---|"]
    for e in data["entries"]:
        lines.append(
            f"| {e['at'][:19].replace('T', ' ')} | {esc(_who(e))} | "
            f"{esc(_describe(e['kind'], e['body']))} | {'drill' if e['drill'] else ''} |"
        )
    return "\n".join(lines) + "\n"

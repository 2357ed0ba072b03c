"""The audit trail's keys: random 32-byte HMAC keys kept only in the OS keyring.

A trail (one database, named by the id in its ``audit_identity`` row) is signed with one key
per machine: the keyring entry ``audit:<database id>`` names the key this machine signs that
trail with, and ``audit-key:<key id>`` holds each key by its id, so a key brought over from
another machine (``agentdeck audit key import``) verifies the entries it signed there. A key id
is an HMAC of a fixed text under the key: it names the key on every entry without revealing it,
and a new laptop's key has a visibly different id.

Nothing here writes a key anywhere but the keyring, and no message quotes one. Keys are cached
per process (the keyring is asked once, not on every append); a keyring that cannot be used is
remembered too, and the trail is then written unkeyed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

#: What every screen and ``audit verify`` say when this machine has no usable keyring.
NO_KEYRING = "unkeyed: no keyring on this machine"

_ID_TEXT = b"agentdeck audit key id v1"
_EXPORT_TAG = "agentdeck-audit-key-v1"

_lock = threading.Lock()
#: key id -> key (None: this keyring does not hold it).
_keys: dict[str, bytes | None] = {}
#: database id -> the key id this machine signs its trail with (None: none yet).
_signing: dict[str, str | None] = {}
#: Why the keyring cannot be used (None: it can, or it was not asked yet).
_unusable: list[str] = []


class KeyringUnusable(Exception):
    """The keyring cannot keep the audit key here. ``str(err)`` is one line, never the key."""


def key_id(key: bytes) -> str:
    """The key's public name: 16 hex digits of an HMAC of a fixed text under it."""
    return hmac.new(key, _ID_TEXT, hashlib.sha256).hexdigest()[:16]


def clear_cache() -> None:
    """Forget every key and keyring verdict this process holds (after an import, in tests)."""
    with _lock:
        _keys.clear()
        _signing.clear()
        _unusable.clear()


def _backend_problem() -> str | None:
    """Why the configured keyring backend cannot keep anything, or None."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken backend raises anything on load
        return f"the keyring could not be loaded ({type(exc).__name__})"
    if isinstance(backend, fail.Keyring):
        return "no keyring backend is installed"
    return None


def weak_backend() -> str | None:
    """A caveat when the keyring keeps secrets in a plain file (keyrings.alt's plaintext or
    file backends): the key is then as safe as that file, which sits beside the database on
    the same laptop. None for an OS keyring (Secret Service, Keychain, Windows)."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:
        return None
    module = type(backend).__module__
    if module.startswith("keyrings.alt"):
        where = getattr(backend, "file_path", "")
        return (
            f"the keyring is a plain file ({type(backend).__name__}{', ' + where if where else ''})"
            ": whoever can read it can sign entries; use an OS keyring to hold the audit key"
        )
    return None


def _get(name: str) -> str | None:
    from store.credentials import get_secret

    try:
        return get_secret(name)
    except Exception as exc:  # CredentialError, or whatever a broken backend raises
        raise KeyringUnusable(f"the keyring could not be read ({type(exc).__name__})") from None


def _set(name: str, value: str) -> None:
    from store.credentials import set_secret

    try:
        set_secret(name, value)
    except Exception as exc:
        raise KeyringUnusable(f"the keyring refused the key ({type(exc).__name__})") from None
    # A keyring that accepts and forgets (the null backend) would leave entries no one can check.
    if _get(name) != value:
        raise KeyringUnusable("the keyring did not keep the key")


def _usable() -> None:
    if _unusable:
        raise KeyringUnusable(_unusable[0])
    problem = _backend_problem()
    if problem:
        _unusable.append(problem)
        raise KeyringUnusable(problem)


def _decode(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        return None
    return key if len(key) == 32 else None


def lookup(kid: str) -> bytes | None:
    """The key named ``kid`` from this keyring (cached), or None when it does not hold it.

    Raises :class:`KeyringUnusable` when the keyring cannot be read at all.
    """
    with _lock:
        if kid in _keys:
            return _keys[kid]
        _usable()
        try:
            key = _decode(_get(f"audit-key:{kid}"))
        except KeyringUnusable as exc:
            _unusable.append(str(exc))
            raise
        if key is not None and key_id(key) != kid:
            key = None  # a value under the wrong name signs nothing
        _keys[kid] = key
        return key


def signing_key(db_id: str, *, create: bool = True) -> tuple[bytes, str] | None:
    """The key (and its id) this machine signs trail ``db_id`` with; made and kept in the
    keyring on first use when ``create``. None when the keyring cannot be used (the trail is
    then written unkeyed) or, without ``create``, when there is no key yet."""
    with _lock:
        kid = _signing.get(db_id)
        if kid is not None and _keys.get(kid) is not None:
            return _keys[kid], kid  # type: ignore[return-value]
        if _unusable or (db_id in _signing and not create):
            return None
        try:
            _usable()
            kid = _get(f"audit:{db_id}")
            key = _decode(_get(f"audit-key:{kid}")) if kid else None
            if key is not None and key_id(key) == kid:
                _keys[kid] = key  # type: ignore[index]
                _signing[db_id] = kid
                return key, kid  # type: ignore[return-value]
            if not create:
                _signing[db_id] = None
                return None
            key = secrets.token_bytes(32)
            kid = key_id(key)
            # The key first, then the pointer to it: a crash between leaves an unused key.
            _set(f"audit-key:{kid}", key.hex())
            _set(f"audit:{db_id}", kid)
        except KeyringUnusable as exc:
            if not _unusable:
                _unusable.append(str(exc))
            return None
        _keys[kid] = key
        _signing[db_id] = kid
        return key, kid


def keyring_problem() -> str | None:
    """Why this machine's keyring cannot keep the audit key (one line), or None."""
    with _lock:
        if _unusable:
            return _unusable[0]
        problem = _backend_problem()
        if problem:
            _unusable.append(problem)
        return problem


def export_line(kid: str) -> str | None:
    """One line carrying the key ``kid`` for ``import_line`` on another machine, or None."""
    key = lookup(kid)
    return None if key is None else f"{_EXPORT_TAG} {kid} {key.hex()}"


def import_line(line: str, db_id: str) -> str:
    """Keep the key carried by ``line`` in this keyring; return its id. This machine signs
    trail ``db_id`` with it too when it has no key of its own for that trail yet.

    Raises ValueError (one line, never the key) for a line that is not an exported key, and
    :class:`KeyringUnusable` when the keyring cannot keep it.
    """
    parts = line.split()
    if len(parts) != 3 or parts[0] != _EXPORT_TAG:
        raise ValueError(f"not an audit key: expected a line `{_EXPORT_TAG} KEY-ID KEY`")
    key = _decode(parts[2])
    if key is None:
        raise ValueError(f"the key for {parts[1]!r} is not 64 hex digits")
    if key_id(key) != parts[1]:
        raise ValueError(f"the key does not match its id {parts[1]!r} (cut or mistyped?)")
    kid = parts[1]
    with _lock:
        _usable()
        _set(f"audit-key:{kid}", key.hex())
        if not _get(f"audit:{db_id}"):
            _set(f"audit:{db_id}", kid)
    clear_cache()
    return kid

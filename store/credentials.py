"""Secrets in the OS keyring, and nowhere else.

A secret is named by what uses it: a store, an alert source or a kill-switch credential from
``agentdeck.toml`` or an agent card (``agentdeck login NAME``). It is kept under the keyring
service ``agentdeck`` with the name as the user name, so other tools can find (and revoke) it.
Nothing here logs or prints a secret; errors name the secret, never its value.
"""

from __future__ import annotations

SERVICE = "agentdeck"


class CredentialError(Exception):
    """The keyring could not be used. ``str(err)`` is one line saying what to do."""


def _keyring():  # type: ignore[no-untyped-def]
    # keyring picks its backend on first use (it scans entry points): import it only when a
    # command needs a secret, so `agentdeck --help` and the desk's first frame never pay for it.
    import keyring
    import keyring.errors

    try:
        keyring.get_keyring()  # loads the backend: a configured one may not be installed
    except Exception as exc:
        raise CredentialError(
            f"the keyring backend could not be loaded ({type(exc).__name__}: {exc}); "
            "check PYTHON_KEYRING_BACKEND and the keyring's configuration"
        ) from None
    return keyring, keyring.errors


def get_secret(name: str) -> str | None:
    """The secret stored for ``name``, or None if there is none."""
    keyring, errors = _keyring()
    try:
        value = keyring.get_password(SERVICE, name)
    except errors.KeyringError as exc:
        raise CredentialError(
            f"the OS keyring could not be read for {name!r} ({type(exc).__name__}); "
            "unlock it or install a keyring backend"
        ) from None
    return value


def set_secret(name: str, value: str) -> None:
    """Store ``value`` for ``name``, replacing any earlier one."""
    if not value:
        raise CredentialError(f"an empty secret for {name!r} was not stored")
    keyring, errors = _keyring()
    try:
        keyring.set_password(SERVICE, name, value)
    except errors.KeyringError as exc:
        raise CredentialError(
            f"the OS keyring refused the secret for {name!r} ({type(exc).__name__}); "
            "unlock it or install a keyring backend"
        ) from None


def delete_secret(name: str) -> bool:
    """Forget the secret for ``name``; False if there was none."""
    keyring, errors = _keyring()
    try:
        keyring.delete_password(SERVICE, name)
    except errors.PasswordDeleteError:
        return False
    except errors.KeyringError as exc:
        raise CredentialError(
            f"the OS keyring could not forget {name!r} ({type(exc).__name__})"
        ) from None
    return True


def require_secret(name: str, *, purpose: str) -> str:
    """The secret for ``name``; CredentialError telling how to add it when it is missing."""
    value = get_secret(name)
    if not value:
        raise CredentialError(
            f"no secret for {name!r} in the keyring ({purpose}): run `agentdeck login {name}`"
        )
    return value

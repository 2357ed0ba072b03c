"""What ``agentdeck validate`` can check of every card's kill switch without touching a network.

A kill switch that points at nothing is found at 2 a.m. otherwise. For each card's kill switch
and its second channel (``fallback``):

- a target that needs no credential (a flagd flag file) is read as a walkthrough would read it:
  the file exists, is a file and not a folder, parses, and holds the flag with its variants;
- every URL it names parses, with scheme http or https and a host;
- a target that needs a token has one in the keyring: a warning, not an error (a laptop that
  only validates may rightly have none).

Every finding names the card's file and the line of the key at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runbooks.cards import LIMIT_PATHS, AgentCard, SwitchTarget
from store.documents import DocumentError, load_yaml, parse_model


@dataclass(frozen=True)
class TargetFinding:
    """One thing wrong with a kill-switch target; ``warning`` when it does not make the card
    invalid (a token missing from this machine's keyring)."""

    problem: DocumentError
    warning: bool = False

    def __str__(self) -> str:
        p = self.problem
        where = f"{p.path}:{p.line}" if p.line else str(p.path)
        return f"{where}: {'warning: ' if self.warning else ''}{p.message}"


def _line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None


def _error_at(
    path: Path, lines: dict[tuple[Any, ...], int], base: tuple[str, ...], key: str, message: str
) -> DocumentError:
    return DocumentError(path, _line(lines, (*base, key)), message)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a kill switch's endpoint, or None when it parses as one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        return f"does not parse ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"has scheme {parts.scheme or 'none'!r}; use http:// or https://"
    if not parts.hostname:
        return "has no host"
    return None


def target_findings(
    target: SwitchTarget,
    root: Path,
    where: Callable[[str, str], DocumentError],
    *,
    label: str,
    secret: Callable[[str], str | None],
) -> list[TargetFinding]:
    """What is wrong with one target. ``where(key, message)`` is an error at that key of it;
    ``label`` names the channel in messages (``kill_switch``, ``kill_switch.fallback``)."""
    from runbooks.killswitch import backend_for
    from store.credentials import CredentialError
    from store.switches.base import SwitchError

    found: list[TargetFinding] = []
    for key, url in (("url", target.url), ("read_url", target.read_url)):
        if url is not None:
            why = url_problem(url)
            if why is not None:
                found.append(TargetFinding(where(key, f"{label}.{key} {url!r} {why}")))
    name = target.secret_name
    if name is None:
        # Nothing to log in to: the target is local, so read it as a walkthrough would.
        try:
            backend_for(target, root).read()
        except SwitchError as exc:
            key = "path" if target.path else "flag"
            found.append(TargetFinding(where(key, f"{label}: {exc}")))
        return found
    key = "credential" if target.credential else "backend"
    try:
        token = secret(name)
    except CredentialError as exc:
        found.append(TargetFinding(where(key, f"{label}: {exc}"), warning=True))
        return found
    if not token:
        found.append(
            TargetFinding(
                where(
                    key,
                    f"{label}: no token in the keyring for {name!r} ({target.backend}); "
                    f"run `agentdeck login {name}` on the machines that set this switch",
                ),
                warning=True,
            )
        )
    return found


def check_switch_targets(
    cards_dir: Path, root: Path, *, secret: Callable[[str], str | None] | None = None
) -> list[TargetFinding]:
    """Every card's kill switch and second channel, checked offline (see the module's text).

    Cards that do not parse are skipped: :func:`runbooks.cards.check_cards` reports them.
    ``secret`` reads a keyring name (default: the OS keyring).
    """
    if secret is None:
        from store.credentials import get_secret

        secret = get_secret
    found: list[TargetFinding] = []
    for path in sorted([*Path(cards_dir).glob("*.yaml"), *Path(cards_dir).glob("*.yml")]):
        try:
            data, lines = load_yaml(path, words=LIMIT_PATHS)
            card = parse_model(AgentCard, data, path, lines)
        except DocumentError:
            continue
        switch = card.kill_switch
        targets: list[tuple[tuple[str, ...], SwitchTarget]] = [(("kill_switch",), switch)]
        if switch.fallback is not None:
            targets.append((("kill_switch", "fallback"), switch.fallback))
        for base, target in targets:
            where = partial(_error_at, path, lines, base)
            found += target_findings(target, root, where, label=".".join(base), secret=secret)
    return found

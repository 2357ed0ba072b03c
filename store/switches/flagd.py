"""A kill switch in a flagd flag file: the agent evaluates the flag with an OpenFeature flagd
provider (in-process, file mode), and flipping the switch rewrites the flag's ``defaultVariant``.

The file is OpenFeature's flagd format (https://flagd.dev/schema/v0/flags.json)::

    {"flags": {"billing-support-tier": {"state": "ENABLED",
                                         "variants": {"auto-act": "auto-act", ...},
                                         "defaultVariant": "auto-act"}}}

The variant *key* is the switch state (``"suggest-only"``); what an agent receives is the
variant's value, which in agentdeck's files is the same word.

Other programs read this file while we write it (flagd polls it, or watches it), so a write is
atomic: the new content goes to a temporary file in the same folder, is fsynced, replaces the
old file in one ``os.replace``, and the folder is fsynced so the rename survives a crash. A
reader sees the old file or the new one, never half of one. Every other flag and key is written
back as it was read; only the flag's ``defaultVariant`` and ``state`` change.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn

from pydantic import model_validator

from store.files import folder_lock_path, fsync_folder, locked
from store.plugins import Login
from store.switches.base import (
    FlagReading,
    FlagValue,
    SwitchError,
    SwitchPlugin,
    SwitchRequest,
    SwitchTargetBase,
)

#: What an agent gets when its flag cannot be evaluated: its own code default.
_CODE_DEFAULT = "agents get their code default, which may not be a safe state"


class FlagdTarget(SwitchTargetBase):
    """``backend: flagd``: ``path`` to the flag file (relative to the workspace); the flag's
    variants are the switch states and ``defaultVariant`` is the one in force."""

    backend: Literal["flagd"]

    @model_validator(mode="after")
    def _needs(self) -> FlagdTarget:
        self.needs("path")
        return self


class FlagdFileBackend(SwitchPlugin):
    """One flag in a flagd flag file. Values are variant names; no credential is needed."""

    kind = "flagd"
    values: Literal["binary", "variant"] = "variant"
    backend = "flagd"
    config_model = FlagdTarget
    login: ClassVar[Login | None] = None

    @classmethod
    def from_config(
        cls,
        target: SwitchTargetBase,
        root: Path,
        *,
        token: str | None,
        transport: Any = None,
    ) -> FlagdFileBackend:
        path = Path(target.path or "")
        return cls(path if path.is_absolute() else root / path, target.flag)

    def __init__(self, path: Path, flag: str) -> None:
        self.path = Path(path)
        self.flag = flag
        self.endpoint = str(self.path)

    def __repr__(self) -> str:
        return f"FlagdFileBackend({self.endpoint!r}, flag={self.flag!r})"

    # -- the protocol -------------------------------------------------------------------------

    def probe(self) -> None:
        """The file exists and is a flagd file with this flag, and its folder takes a new file."""
        doc = self._load()
        self._flag(doc)
        folder = self._real_path().parent
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".agentdeck-probe-")
        except OSError as exc:
            self._fail(
                f"cannot create a file in {folder} ({_os_reason(exc)})",
                "agentdeck writes the flag through a temporary file there; make the folder "
                "writable for this user",
            )
        os.close(fd)
        os.unlink(tmp)

    def read(self) -> FlagReading:
        """The flag's ``defaultVariant``, and in ``detail`` anything that means agents may not
        be getting it (a DISABLED flag, targeting rules, a variant that does not exist)."""
        flag = self._flag(self._load())
        default = flag.get("defaultVariant")
        variants: dict[str, Any] = flag["variants"]
        state = flag.get("state", "ENABLED")
        notes = [f"defaultVariant {default!r}, state {state}"]
        value: str | None = default if isinstance(default, str) else None
        if value is None:
            notes.append(f"no defaultVariant: {_CODE_DEFAULT}")
        elif value not in variants:
            notes.append(f"{value!r} is not one of the variants: {_CODE_DEFAULT}")
        elif variants[value] != value:
            notes.append(f"variant value {_short(variants[value])}")
        if state == "DISABLED":
            notes.append(f"the flag is DISABLED: {_CODE_DEFAULT}")
        if flag.get("targeting"):
            notes.append("the flag has targeting rules, which may serve another variant")
        return FlagReading(value=value, detail="; ".join(notes))

    def plan(self, value: FlagValue) -> SwitchRequest:
        """The flag's object as ``write(value)`` will leave it. Writes nothing."""
        flag = self._flag(self._load())
        return SwitchRequest(
            method="WRITE", target=str(self.path), body=self._switched(flag, value)
        )

    def write(self, value: FlagValue) -> None:
        """Set the flag's ``defaultVariant`` to ``value`` and its state to ENABLED, atomically.

        Refuses a variant the flag does not define. Two agentdeck writers on one machine take
        turns (a lock on the folder, its file in agentdeck's state directory); the file's
        permission bits are kept.
        """
        real = self._real_path()
        with self._folder_locked(real.parent):
            doc = self._load()
            flags = doc["flags"]
            flags[self.flag] = self._switched(self._flag(doc), value)
            text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
            self._replace(real, text.encode("utf-8"))

    # -- reading ------------------------------------------------------------------------------

    def _real_path(self) -> Path:
        # Write through a symlink to the file it names, never over the link itself.
        return Path(os.path.realpath(self.path))

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._fail(
                "no such file",
                "check kill_switch.path in the agent card (it is relative to the workspace)",
            )
        except IsADirectoryError:
            self._fail("is a folder, not a flag file", "point kill_switch.path at the file")
        except OSError as exc:
            self._fail(f"cannot be read ({_os_reason(exc)})", "check the file's permissions")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self._fail(f"line {line} is not UTF-8", "save the file as UTF-8", at=line)
        try:
            doc = json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            self._fail(
                f"not valid JSON ({exc.msg}, column {exc.colno})",
                "fix the file or restore it from version control",
                at=exc.lineno,
            )
        except (ValueError, RecursionError) as exc:
            self._fail(f"not valid JSON ({exc})", "fix the file")
        if not isinstance(doc, dict) or not isinstance(doc.get("flags"), dict):
            self._fail(
                'not a flagd flag file (no "flags" object at the top)',
                "use the format of https://flagd.dev/schema/v0/flags.json",
            )
        return doc

    def _flag(self, doc: dict[str, Any]) -> dict[str, Any]:
        flags: dict[str, Any] = doc["flags"]
        flag = flags.get(self.flag)
        if flag is None:
            known = ", ".join(sorted(flags)[:8]) or "none"
            self._fail(
                f"has no flag {self.flag!r} (flags: {known})",
                "add the flag to the file or fix kill_switch.flag in the agent card",
            )
        if not isinstance(flag, dict):
            self._fail(f"flag {self.flag!r} is not an object", "fix the flag in the file")
        variants = flag.get("variants")
        if not isinstance(variants, dict) or not variants:
            self._fail(
                f"flag {self.flag!r} has no variants",
                "give it one variant per switch state (disabled, suggest-only, ...)",
            )
        return flag

    def _switched(self, flag: dict[str, Any], value: FlagValue) -> dict[str, Any]:
        """A copy of ``flag`` serving ``value``; every other key kept, in its place."""
        if not isinstance(value, str):
            self._fail(
                f"a flagd flag takes a variant name, not {value!r}",
                "pass one of the flag's variants",
            )
        variants: dict[str, Any] = flag["variants"]
        if value not in variants:
            self._fail(
                f"flag {self.flag!r} has no variant {value!r} "
                f"(it has: {', '.join(sorted(variants))})",
                "add the variant to the flag, or choose one it has",
            )
        switched = dict(flag)
        switched["state"] = "ENABLED"
        switched["defaultVariant"] = value
        return switched

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _folder_locked(self, folder: Path) -> Iterator[None]:
        if not folder.is_dir():
            self._fail(f"cannot open the folder {folder} (no such folder)", "check it exists")
        lock_path = folder_lock_path(folder)
        with contextlib.ExitStack() as held:
            try:
                lock_path.parent.mkdir(parents=True, exist_ok=True)
                held.enter_context(locked(lock_path))
            except OSError as exc:
                self._fail(
                    f"cannot take the lock {lock_path} ({_os_reason(exc)})",
                    "make agentdeck's state folder writable for this user",
                )
            yield

    def _replace(self, real: Path, content: bytes) -> None:
        try:
            before = os.stat(real)
        except OSError as exc:
            self._fail(f"cannot be read ({_os_reason(exc)})", "check the file")
        try:
            fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
        except OSError as exc:
            self._fail(
                f"cannot create a file in {real.parent} ({_os_reason(exc)})",
                "make the folder writable for this user",
            )
        try:
            try:
                if hasattr(os, "fchmod"):  # POSIX; on Windows the new file keeps the folder's ACL
                    os.fchmod(fd, stat.S_IMODE(before.st_mode))
                if hasattr(os, "fchown"):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, before.st_uid, before.st_gid)
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                # flagd's file provider reloads when the modification time grows; two writes
                # inside one tick of the file system's clock would otherwise look like one.
                after = os.fstat(fd)
                if after.st_mtime_ns <= before.st_mtime_ns:
                    bumped = before.st_mtime_ns + 1_000_000
                    # Windows sets a file's times by path only.
                    target = fd if os.utime in os.supports_fd else tmp
                    os.utime(target, ns=(time.time_ns(), bumped))
            finally:
                os.close(fd)
            os.replace(tmp, real)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._fail(
                f"could not be written ({_os_reason(exc)}); the file is unchanged",
                "free disk space or fix permissions, then try again",
            )
        try:
            fsync_folder(real.parent)
        except OSError as exc:
            self._fail(
                f"was replaced but the folder could not be synced ({_os_reason(exc)})",
                "read the flag back to check it",
            )

    def _fail(self, what: str, todo: str, *, at: int | None = None) -> NoReturn:
        where = f"{self.endpoint}:{at}" if at is not None else self.endpoint
        raise SwitchError(f"{self.kind} {where}: {what}; {todo}")


def _refuse_constant(name: str) -> Any:
    # json accepts NaN and Infinity, which are not JSON: writing them back would break readers.
    raise ValueError(f"{name} is not JSON")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:39] + "…"


PLUGIN = FlagdFileBackend

"""Scores kept in a JSON Lines file beside a file-backed store (the file and OTLP-file stores).

One JSON object per line; the last line for an id wins and ``{"id": ..., "deleted": true}``
removes one. Lines are appended under an exclusive lock and fsynced, and a push whose content is
already the latest for that id writes nothing, so retries never duplicate.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from store.connectors.base import ConnectorError, Listed
from store.connectors.jsonl import decode, lines, problem, read_bytes, scrub
from store.files import locked
from store.models import Score


class ScoresFile:
    """An append-only scores file, locked through ``lock_path`` (both in ``folder``)."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path

    @property
    def folder(self) -> Path:
        return self.path.parent

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock. A store folder that went away (unmounted share, moved demo)
        is an error to report, not something to recreate empty."""
        if not self.folder.is_dir():
            raise ConnectorError(f"{self.folder}: the store folder is missing")
        with locked(self.lock_path):
            yield

    def read(self) -> tuple[dict[str, tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
        """Each score id's latest line (number, object), tombstones included, and the lines that
        are not a JSON object with a string ``id``."""
        name = self.path.name
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        bad: list[tuple[int, str]] = []
        if not self.path.exists():
            return latest, bad
        for number, raw in lines(read_bytes(self.path)):
            try:
                obj = scrub(json.loads(decode(raw)))
            except (ValueError, RecursionError):
                bad.append((number, problem(name, number, ValueError())))
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                bad.append((number, f"{name}:{number}: not a score (no string `id`)"))
                continue
            latest[obj["id"]] = (number, obj)
        return latest, bad

    def latest(self) -> dict[str, str]:
        """Map score id to its latest line (canonical JSON), tombstones included."""
        latest, _ = self.read()
        return {
            sid: json.dumps(obj, sort_keys=True, ensure_ascii=False)
            for sid, (_, obj) in latest.items()
        }

    def live(self) -> Listed[Score]:
        """The live scores (the last line for each id, tombstones left out); a corrupt line is
        skipped, counted and said."""
        latest, bad = self.read()
        out: Listed[Score] = Listed()
        for number, obj in latest.values():
            if obj.get("deleted"):
                continue
            try:
                out.append(Score.model_validate(obj))
            except ValidationError as exc:
                bad.append((number, problem(self.path.name, number, exc)))
        out.skipped = len(bad)
        out.problems = [text for _, text in sorted(bad)]
        return out

    def append(self, new_lines: list[str]) -> None:
        """Append whole lines and fsync (the caller holds the lock)."""
        if not new_lines:
            return
        try:
            with self.path.open("a+b") as fh:
                # A line torn by a crash must not swallow the next score: start a fresh line.
                fh.seek(0, os.SEEK_END)
                if fh.tell() > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")
                fh.write("".join(line + "\n" for line in new_lines).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise ConnectorError(f"{self.path}: cannot write ({exc.strerror})") from None

    def push(self, scores: Sequence[Score]) -> None:
        """Upsert scores by id; content already stored as the latest is not written again."""
        with self.locked():
            latest = self.latest()
            new_lines = []
            for score in scores:
                record = score.model_dump(mode="json", exclude_none=False)
                if record.get("span_id") is None:
                    # A run-level score: the line as it always was (no churn on re-push).
                    record.pop("span_id", None)
                text = json.dumps(record, sort_keys=True, ensure_ascii=False)
                if latest.get(score.id) != text:
                    new_lines.append(text)
                    latest[score.id] = text
            self.append(new_lines)

    def delete(self, score_ids: Sequence[str]) -> None:
        """Write a tombstone for each id that currently has a live score."""
        with self.locked():
            latest = self.latest()
            new_lines = []
            for sid in score_ids:
                current = latest.get(sid)
                if current is not None and not json.loads(current).get("deleted"):
                    text = json.dumps({"deleted": True, "id": sid}, sort_keys=True)
                    new_lines.append(text)
                    latest[sid] = text
            self.append(new_lines)

"""The file connector: a folder with ``runs.jsonl``, ``incidents.jsonl`` and ``scores.jsonl``.

It is the demo's store and the reference implementation of the connector interface. Runs are
read with a byte-offset cursor; a corrupt line is skipped and counted, never fatal. Scores are
appended (one JSON object per line, the last line for an id wins, ``{"id": ..., "deleted": true}``
removes one) under an exclusive lock and fsynced, and a push whose content is already the latest
for that id writes nothing, so retries never duplicate.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from store.connectors.base import ConnectorError
from store.models import Incident, Run, RunPage, RunSummary, Score

RUNS = "runs.jsonl"
INCIDENTS = "incidents.jsonl"
SCORES = "scores.jsonl"


def _decode(raw: bytes) -> str:
    # Invalid UTF-8 from a model or a customer becomes U+FFFD, never an exception.
    return raw.decode("utf-8", errors="replace")


def _problem(path: Path, line: int, exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            return f"{path.name}:{line}: not valid JSON (a truncated or corrupt line)"
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"{path.name}:{line}: {loc}: {msg}" if loc else f"{path.name}:{line}: {msg}"
    return f"{path.name}:{line}: not valid JSON"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConnectorError(f"{path}: cannot read ({exc.strerror})") from None


class FileConnector:
    """Connector over a folder of JSON Lines files."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self._offsets: dict[str, int] = {}

    # -- runs ---------------------------------------------------------------------------------

    @property
    def runs_path(self) -> Path:
        return self.folder / RUNS

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """Read up to ``limit`` summaries after ``cursor`` ("offset:line")."""
        offset, line_no = (0, 0)
        if cursor:
            try:
                a, b = cursor.split(":")
                offset, line_no = int(a), int(b)
            except ValueError:
                raise ConnectorError(f"{self.runs_path}: bad saved cursor {cursor!r}") from None
        try:
            fh = self.runs_path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"{self.runs_path}: cannot read ({exc.strerror})") from None
        runs: list[RunSummary] = []
        problems: list[str] = []
        skipped = 0
        with fh:
            fh.seek(offset)
            while len(runs) < limit:
                start = fh.tell()
                raw = fh.readline()
                if not raw:
                    break
                if not raw.endswith(b"\n"):
                    # A line still being written by whoever appends to the file: read it next time.
                    fh.seek(start)
                    break
                line_no += 1
                if not raw.strip():
                    continue
                try:
                    summary = RunSummary.model_validate_json(_decode(raw))
                except (ValidationError, ValueError) as exc:
                    skipped += 1
                    problems.append(_problem(self.runs_path, line_no, exc))
                    continue
                self._offsets[summary.trace_id] = start
                runs.append(summary)
            end = fh.tell()
            done = not fh.read(1)
        return RunPage(
            runs=runs, cursor=f"{end}:{line_no}", done=done, skipped=skipped, problems=problems
        )

    def _scan_offsets(self) -> None:
        cursor: str | None = None
        while True:
            page = self.list_runs(cursor, 10_000)
            cursor = page.cursor
            if page.done or not page.runs:
                return

    def fetch_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Read the full runs for these ids, using offsets remembered from ``list_runs``."""
        if any(rid not in self._offsets for rid in run_ids):
            self._scan_offsets()
        out: list[Run] = []
        try:
            fh = self.runs_path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"{self.runs_path}: cannot read ({exc.strerror})") from None
        with fh:
            for rid in run_ids:
                offset = self._offsets.get(rid)
                if offset is None:
                    continue
                fh.seek(offset)
                try:
                    run = Run.model_validate_json(_decode(fh.readline()))
                except (ValidationError, ValueError):
                    continue
                # A rewritten file moves lines: trust an offset only if it still holds the run.
                if run.trace_id == rid:
                    out.append(run)
        return out

    # -- incidents ----------------------------------------------------------------------------

    def list_incidents(self) -> list[Incident]:
        path = self.folder / INCIDENTS
        if not path.exists():
            return []
        out: list[Incident] = []
        for raw in _read_bytes(path).splitlines():
            if not raw.strip():
                continue
            try:
                out.append(Incident.model_validate_json(_decode(raw)))
            except (ValidationError, ValueError):
                continue
        return out

    # -- scores -------------------------------------------------------------------------------

    @property
    def scores_path(self) -> Path:
        return self.folder / SCORES

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # A store folder that went away (unmounted share, moved demo) is an error to report,
        # not something to recreate empty.
        if not self.folder.is_dir():
            raise ConnectorError(f"{self.folder}: the store folder is missing")
        with (self.folder / ".scores.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _latest(self) -> dict[str, str]:
        """Map score id to its latest line (canonical JSON), tombstones included."""
        latest: dict[str, str] = {}
        if not self.scores_path.exists():
            return latest
        for raw in _read_bytes(self.scores_path).splitlines():
            if not raw.strip():
                continue
            try:
                obj = json.loads(_decode(raw))
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                latest[obj["id"]] = json.dumps(obj, sort_keys=True, ensure_ascii=False)
        return latest

    def list_scores(self) -> list[Score]:
        out: list[Score] = []
        for text in self._latest().values():
            obj = json.loads(text)
            if obj.get("deleted"):
                continue
            try:
                out.append(Score.model_validate(obj))
            except ValidationError:
                continue
        return out

    def _append(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            with self.scores_path.open("a+b") as fh:
                # A line torn by a crash must not swallow the next score: start a fresh line.
                fh.seek(0, os.SEEK_END)
                if fh.tell() > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")
                fh.write("".join(line + "\n" for line in lines).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise ConnectorError(f"{self.scores_path}: cannot write ({exc.strerror})") from None

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Upsert scores by id; content already stored as the latest is not written again."""
        with self._locked():
            latest = self._latest()
            lines = []
            for score in scores:
                text = json.dumps(
                    score.model_dump(mode="json", exclude_none=False),
                    sort_keys=True,
                    ensure_ascii=False,
                )
                if latest.get(score.id) != text:
                    lines.append(text)
                    latest[score.id] = text
            self._append(lines)

    def delete_scores(self, score_ids: Sequence[str]) -> None:
        """Write a tombstone for each id that currently has a live score."""
        with self._locked():
            latest = self._latest()
            lines = []
            for sid in score_ids:
                current = latest.get(sid)
                if current is not None and not json.loads(current).get("deleted"):
                    text = json.dumps({"deleted": True, "id": sid}, sort_keys=True)
                    lines.append(text)
                    latest[sid] = text
            self._append(lines)

"""The file connector: a folder with ``runs.jsonl``, ``incidents.jsonl`` and ``scores.jsonl``.

It is the demo's store and the reference implementation of the connector interface. Runs are
read with a byte-offset cursor; a corrupt line in any file is skipped, counted and reported with
its file:line, never fatal; when a trace id is on two lines of runs.jsonl the last one wins.
Scores are appended (one JSON object per line, the last line for an id wins,
``{"id": ..., "deleted": true}`` removes one) under an exclusive lock and fsynced, and a push
whose content is already the latest for that id writes nothing, so retries never duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from store.connectors.base import (
    ConnectorError,
    Findings,
    Listed,
    StoreConfigBase,
    StoreConnector,
)
from store.connectors.jsonl import lines as _lines
from store.connectors.jsonl import parse as _parse
from store.connectors.jsonl import problem as _problem
from store.connectors.jsonl import read_bytes as _read_bytes
from store.connectors.jsonl import unreadable_json as _unreadable_json
from store.connectors.scores_file import ScoresFile
from store.models import Incident, Run, RunPage, RunSummary, Score

if TYPE_CHECKING:
    from store.documents import DocumentError
    from store.plugins import Login
    from store.workspace import Workspace

RUNS = "runs.jsonl"
INCIDENTS = "incidents.jsonl"
SCORES = "scores.jsonl"
#: Ends the line said when a trace id comes again with other content: a warning, not a fault.
LAST_LINE_WINS = "(the last line wins)"


class _TraceId(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    trace_id: str


@dataclass
class _Line:
    """Where a trace id was last read in runs.jsonl (byte offset, line number)."""

    offset: int
    number: int


def _line_at(fh: BinaryIO, offset: int) -> bytes:
    """The line starting at ``offset``, leaving the file where it was. Only read when a trace id
    comes again (rare), to tell a re-export from a change: hashing every line to have the
    answer ready cost 5 % of an ingest (tests/bench/bench_ingest.py)."""
    here = fh.tell()
    fh.seek(offset)
    raw = fh.readline()
    fh.seek(here)
    return raw


class FileStoreConfig(StoreConfigBase):
    """``kind = "file"``: ``path`` is the folder with runs.jsonl (relative to the workspace)."""

    kind: Literal["file"]

    @model_validator(mode="after")
    def _needs(self) -> FileStoreConfig:
        self.required("path", "the folder with runs.jsonl")
        return self


class FileConnector(StoreConnector):
    """Connector over a folder of JSON Lines files."""

    kind = "file"
    config_model = FileStoreConfig
    login: ClassVar[Login | None] = None
    #: Summaries a sync lists a page (see the connector interface): fewer, bigger commits, since
    #: each commit of a page of random trace ids rewrites most of the run index
    #: (tests/bench/bench_ingest.py).
    list_page = 5000

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        #: Trace id to the line that wins for it (the last one), over the part of runs.jsonl
        #: this connector has read: offsets for ``fetch_runs``, line numbers for duplicates.
        self._lines: dict[str, _Line] = {}
        #: runs.jsonl is known up to this offset (and that many lines).
        self._known_to = 0
        self._known_lines = 0

    # -- runs ---------------------------------------------------------------------------------

    @property
    def runs_path(self) -> Path:
        return self.folder / RUNS

    def _open_runs(self) -> BinaryIO:
        try:
            return self.runs_path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"{self.runs_path}: cannot read ({exc.strerror})") from None

    def _learn_prefix(self, fh: BinaryIO, offset: int, line_no: int) -> None:
        """Learn the trace ids before a saved cursor, read by an earlier sync, so a duplicate
        further down is caught (one pass over what was already read; its problems were said)."""
        fh.seek(self._known_to)
        number = self._known_lines
        while fh.tell() < offset:
            start = fh.tell()
            raw = fh.readline()
            if not raw:
                break
            number += 1
            if not raw.strip():
                continue
            try:
                tid = _parse(_TraceId, raw).trace_id
            except (ValidationError, ValueError):
                continue
            self._lines[tid] = _Line(start, number)
        self._known_to, self._known_lines = offset, line_no

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """Read up to ``limit`` summaries after ``cursor`` ("offset:line").

        A last line without a newline is read when it is a whole JSON record; when it is not
        (still being written, or torn by a crash) it is left for the next read, and said. The
        same trace id on two lines: the last line wins; if the content differs, that is said.
        """
        offset, line_no = (0, 0)
        if cursor:
            try:
                a, b = cursor.split(":")
                offset, line_no = int(a), int(b)
            except ValueError:
                raise ConnectorError(f"{self.runs_path}: bad saved cursor {cursor!r}") from None
        page: dict[str, RunSummary] = {}
        problems: list[str] = []
        replaced: list[str] = []
        skipped = 0
        done = False
        with self._open_runs() as fh:
            if offset > self._known_to:
                self._learn_prefix(fh, offset, line_no)
            contiguous = offset <= self._known_to
            # A last line taken without its newline: what follows it is the rest of that line.
            in_line = False
            if offset > 0:
                fh.seek(offset - 1)
                in_line = fh.read(1) != b"\n"
            fh.seek(offset)
            while len(page) < limit:
                start = fh.tell()
                raw = fh.readline()
                if not raw:
                    done = True
                    break
                whole = raw.endswith(b"\n")
                if in_line:
                    in_line = False
                    if raw.strip():
                        skipped += 1
                        problems.append(
                            f"{RUNS}:{line_no}: text after the end of the record on this line "
                            "(a missing newline?); not read"
                        )
                    continue
                if not raw.strip():
                    if whole:
                        line_no += 1
                        continue
                    fh.seek(start)
                    done = True
                    break
                try:
                    summary = _parse(RunSummary, raw)
                except (ValidationError, ValueError) as exc:
                    if not whole and _unreadable_json(exc):
                        problems.append(
                            f"{RUNS}:{line_no + 1}: the last line is not complete JSON and has "
                            "no newline (still being written, or cut off); read once complete"
                        )
                        fh.seek(start)
                        done = True
                        break
                    line_no += 1
                    skipped += 1
                    problems.append(_problem(RUNS, line_no, exc))
                    continue
                line_no += 1
                tid = summary.trace_id
                before = self._lines.get(tid)
                if before is not None and before.number != line_no:
                    if _line_at(fh, before.offset).strip() == raw.strip():
                        # The same record again (a re-export): nothing new to take.
                        self._lines[tid] = _Line(start, line_no)
                        continue
                    problems.append(
                        f"{RUNS}:{line_no}: trace id {tid!r} is also on line {before.number} "
                        f"with different content; line {line_no} is used {LAST_LINE_WINS}"
                    )
                    page.pop(tid, None)
                    replaced.append(tid)
                self._lines[tid] = _Line(start, line_no)
                page[tid] = summary
            end = fh.tell()
            if not done:
                done = not fh.read(1)
        if contiguous and end > self._known_to:
            self._known_to, self._known_lines = end, line_no
        return RunPage(
            runs=list(page.values()),
            cursor=f"{end}:{line_no}",
            done=done,
            skipped=skipped,
            problems=problems,
            replaced=replaced,
        )

    def _scan_offsets(self) -> None:
        cursor: str | None = None
        while True:
            page = self.list_runs(cursor, 10_000)
            cursor = page.cursor
            if page.done or not page.runs:
                return

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """Read the full runs for these ids, using offsets remembered from ``list_runs``.

        A run whose summary was read but whose full record is invalid is left out, and said.
        """
        if any(rid not in self._lines for rid in run_ids):
            self._scan_offsets()
        out: Listed[Run] = Listed()
        with self._open_runs() as fh:
            for rid in run_ids:
                at = self._lines.get(rid)
                if at is None:
                    continue
                fh.seek(at.offset)
                try:
                    run = _parse(Run, fh.readline())
                except (ValidationError, ValueError) as exc:
                    out.problems.append(_problem(RUNS, at.number, exc) + " (run not fetched)")
                    continue
                # A rewritten file moves lines: trust an offset only if it still holds the run.
                if run.trace_id == rid:
                    out.append(run)
        return out

    # -- incidents ----------------------------------------------------------------------------

    def list_incidents(self) -> Listed[Incident]:
        """Every incident in incidents.jsonl; a corrupt line is skipped, counted and said."""
        path = self.folder / INCIDENTS
        out: Listed[Incident] = Listed()
        if not path.exists():
            return out
        for number, raw in _lines(_read_bytes(path)):
            try:
                out.append(_parse(Incident, raw))
            except (ValidationError, ValueError) as exc:
                out.skipped += 1
                out.problems.append(_problem(INCIDENTS, number, exc))
        return out

    # -- scores -------------------------------------------------------------------------------

    @property
    def scores_path(self) -> Path:
        return self.folder / SCORES

    @property
    def _scores(self) -> ScoresFile:
        return ScoresFile(self.scores_path, self.folder / ".scores.lock")

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """The live scores (the last line for each id, tombstones left out); a corrupt line is
        skipped, counted and said. The file is read whole, so ``trace_ids`` is not needed
        (every score is returned: the caller keeps what it knows)."""
        return self._scores.live()

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Upsert scores by id; content already stored as the latest is not written again."""
        self._scores.push(scores)

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """Write a tombstone for each id that currently has a live score."""
        self._scores.delete(score_ids)

    # -- validate -----------------------------------------------------------------------------

    def check(self) -> Findings:
        """Read every file of the store whole, as a sync would, and say every corrupt or torn
        line: runs.jsonl (each line's summary and its full record), incidents.jsonl and
        scores.jsonl. A trace id repeated with other content is a warning (the last line wins).
        """
        found = Findings()
        cursor: str | None = None
        ids: list[str] = []
        while True:
            page = self.list_runs(cursor, self.list_page)
            for line in page.problems:
                found.add(self.folder, line, warning=line.endswith(LAST_LINE_WINS))
            ids += [r.trace_id for r in page.runs]
            cursor = page.cursor
            if page.done:
                break
        ids = list(dict.fromkeys(ids))  # a trace id listed again (a later line) once
        for i in range(0, len(ids), self.list_page):
            for line in self.fetch_runs(ids[i : i + self.list_page]).problems:
                found.add(self.folder, line)
        for line in [*self.list_incidents().problems, *self.list_scores().problems]:
            found.add(self.folder, line)
        return found

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> FileConnector:
        return cls(cfg.name, workspace.path(cfg.path or "."))

    @classmethod
    def check_config(
        cls, workspace: Workspace, index: int, cfg: StoreConfigBase
    ) -> list[DocumentError]:
        """The folder and its runs.jsonl must be there (named at the ``path`` line)."""
        from store.documents import DocumentError

        folder = workspace.path(cfg.path or ".")
        line = workspace.line_of("stores", index, "path")
        if not folder.is_dir():
            why = f"path {cfg.path!r} is not a folder ({folder} is missing)"
        elif not (folder / RUNS).is_file():
            why = f"{folder / RUNS} is missing"
        else:
            return []
        return [DocumentError(workspace.config_path, line, f"store {cfg.name!r}: {why}")]

    @classmethod
    def check_files(cls, workspace: Workspace, cfg: StoreConfigBase) -> Findings:
        """Every corrupt or torn line of a file store's files (see :meth:`check`); nothing when
        runs.jsonl is missing (:meth:`check_config` says that, naming the config line)."""
        connector = cls.from_config(workspace, cfg)
        return connector.check() if connector.runs_path.is_file() else Findings()


PLUGIN = FileConnector

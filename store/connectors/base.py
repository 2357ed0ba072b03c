"""The interface every store connector implements: file, Phoenix, Langfuse.

Sync is two-phase: ``list_runs`` pages through run *summaries* with a saved cursor, the caller
decides the sample locally, then ``fetch_runs`` hydrates only the sampled runs. Grades go back
with ``push_scores``/``delete_scores``, which must be idempotent on ``Score.id``: a retry after a
crash updates the same remote score and never makes a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    # Only in annotations: importing this module (for ConnectorError) builds no pydantic model.
    from store.models import Incident, Run, RunPage, Score

T = TypeVar("T")


class ConnectorError(Exception):
    """A store could not be read or written. ``str(err)`` names the endpoint or file."""


class LevelLike(Protocol):
    @property
    def value(self) -> int | float | str: ...


class ScaleLike(Protocol):
    @property
    def levels(self) -> Sequence[LevelLike]: ...


class CriterionLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def scale(self) -> ScaleLike: ...


class RubricLike(Protocol):
    """What a store's score configs need of a rubric (``review.rubric.Rubric``; ``store`` is
    below ``review`` and does not import it)."""

    @property
    def criteria(self) -> Sequence[CriterionLike]: ...


class StoreUnreachable(ConnectorError):
    """No answer at all from the store (connection refused, no such host, timed out after every
    retry): the next request would fail the same way, so a push round stops at the first one
    and the other grades wait, untouched, for the next sync."""


class Listed(list[T], Generic[T]):
    """Records read from a store, and what was wrong with the rest.

    A list, so a caller that wants only the records uses it as one. ``problems`` are one line
    each, naming file:line (or the endpoint); ``skipped`` counts records left out as corrupt.
    """

    def __init__(
        self, items: Iterable[T] = (), *, problems: Iterable[str] = (), skipped: int = 0
    ) -> None:
        super().__init__(items)
        self.problems: list[str] = list(problems)
        self.skipped = skipped


class Findings:
    """What ``agentdeck validate`` found reading a file-backed store whole: ``problems`` (a
    corrupt or torn line, a record that is not valid) and ``warnings`` (said, refuse nothing:
    a trace id repeated with other content, where the last line wins). One line each,
    ``path:line: what`` with the file's path."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def add(self, folder: object, line: str, *, warning: bool = False) -> None:
        """Add a connector's ``name:line: what`` line, naming the file by its path in ``folder``
        (a warning says so after the place)."""
        text = f"{folder}/{line}"
        if warning:
            where, sep, what = text.partition(": ")
            text = f"{where}: warning: {what}" if sep else text
        (self.warnings if warning else self.problems).append(text)


@runtime_checkable
class Connector(Protocol):
    """A source of runs and incidents, and a sink for scores."""

    #: The store's name in ``agentdeck.toml``; it is the ``source`` of every run it yields.
    name: str

    # Optional: ``list_page``, how many summaries a sync asks ``list_runs`` for a page (each
    # page commits with its cursor). Without it a sync asks for 1,000, within every API's limit;
    # the file connector lists 5,000 a page, since each commit of a page of random trace ids
    # rewrites most of the run index (tests/bench/bench_ingest.py).

    def list_runs(self, cursor: str | None, limit: int) -> RunPage:
        """Return up to ``limit`` run summaries after ``cursor`` (None: from the start)."""
        ...

    def fetch_runs(self, run_ids: Sequence[str]) -> Listed[Run]:
        """Return full runs for these ids (unknown ids are left out; invalid ones are said)."""
        ...

    def list_incidents(self) -> Listed[Incident]:
        """Return the incidents the store knows, and the problems of the ones left out."""
        ...

    def list_scores(self, trace_ids: Sequence[str] | None = None) -> Listed[Score]:
        """Return the agentdeck scores in the store (grades by any reviewer), and the problems
        of the ones left out. ``trace_ids``: only scores on these runs (the runs this laptop
        holds); a store that cannot list scores without naming the runs (Phoenix) needs it,
        one that can may ignore it. None means every score."""
        ...

    def push_scores(self, scores: Sequence[Score]) -> None:
        """Create or update these scores, keyed on ``Score.id`` (idempotent)."""
        ...

    def delete_scores(self, score_ids: Sequence[str], trace_ids: Sequence[str] = ()) -> None:
        """Delete these scores if present (idempotent). ``trace_ids``: the runs they are on,
        for a store that finds scores only through their runs (Phoenix); others ignore it."""
        ...

"""The interface every store connector implements: file, Phoenix, Langfuse.

Sync is two-phase: ``list_runs`` pages through run *summaries* with a saved cursor, the caller
decides the sample locally, then ``fetch_runs`` hydrates only the sampled runs. Grades go back
with ``push_scores``/``delete_scores``, which must be idempotent on ``Score.id``: a retry after a
crash updates the same remote score and never makes a second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, Self, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from store.documents import DocumentError, LocatedError
from store.plugins import Login

if TYPE_CHECKING:
    # Only in annotations: importing this module (for ConnectorError) builds no pydantic model
    # (StoreConfigBase defers its validator to its first use).
    from store.models import Incident, Run, RunPage, Score
    from store.workspace import Workspace

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

    # Its abilities (``list_page``, ``push_batch``, ``server_sample``...) are declared on
    # :class:`StoreConnector`, which every kind subclasses.

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


def batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size`` (ids per request), in order."""
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def value_type(value: int | float | str) -> str:
    """The type a grade's value was pushed as (kept beside it where a server loses it)."""
    return "int" if isinstance(value, int) else "float" if isinstance(value, float) else "str"


class StoreConfigBase(BaseModel):
    """One ``[[stores]]`` table of ``agentdeck.toml``: what every kind has. A kind's model
    subclasses it with ``kind: Literal["<kind>"]`` and its own keys and checks (store/plugins.py).
    Tokens are never here: see the keyring."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: str
    path: str | None = None
    #: A server's base URL, with its scheme (``validate`` refuses one ``sync`` could not use).
    url: str | None = None
    project: str | None = None
    #: The span attribute (or observation metadata key) that names a run's workflow, dotted:
    #: ``metadata.workflow`` is the key ``workflow`` inside the ``metadata`` attribute.
    workflow_attribute: str = "metadata.workflow"
    #: Seconds before one request gives up.
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(
                f"{url!r} is not an http:// or https:// address (e.g. http://127.0.0.1:5000)"
            )
        return url

    def required(self, key: str, what: str) -> None:
        """Refuse the table when ``key`` is not set, naming the store and the key."""
        if not getattr(self, key):
            raise LocatedError(f"store {self.name!r} needs `{key}` ({what})", (key,))


class StoreConnector(Connector):
    """The base of every store kind's connector: its declarations, with their defaults.

    A kind's module subclasses it, sets the class attributes below, implements the
    :class:`Connector` methods and ``from_config``, and ends with ``PLUGIN = <the class>``.
    """

    #: The ``kind`` of its ``[[stores]]`` tables.
    kind: ClassVar[str]
    #: The pydantic model of such a table (a :class:`StoreConfigBase`).
    config_model: ClassVar[type[StoreConfigBase]]
    #: What ``agentdeck login NAME`` asks for; None: the kind needs no secret (a file).
    login: ClassVar[Login | None]
    #: Summaries per ``list_runs`` page (each page commits with its cursor): 1,000 is within
    #: every API's limit; a local file lists more a page.
    list_page: ClassVar[int] = 1000
    #: Scores per ``push_scores`` call.
    push_batch: ClassVar[int] = 1
    #: True: :meth:`sample_ids` chooses the sample (an annotation queue), not the plan.
    server_sample: ClassVar[bool] = False
    #: It can delete a score it pushed.
    deletes: ClassVar[bool] = True
    #: ``list_scores`` returns other reviewers' grades.
    reads_others: ClassVar[bool] = True
    #: The store keeps a final (adjudicated) value natively.
    adjudication: ClassVar[bool] = False

    #: The store's name in ``agentdeck.toml``; it is the ``source`` of every run it yields.
    name: str
    #: What the connector left undone without failing (e.g. deletes a store cannot do), said
    #: by the next pull and cleared.
    problems: list[str]

    def __new__(cls, *args: object, **kwargs: object) -> Self:
        self = super().__new__(cls)
        self.problems = []
        return self

    @classmethod
    def from_config(cls, workspace: Workspace, cfg: StoreConfigBase) -> Self:
        """The connector for one configured store (``cfg`` is a :attr:`config_model`)."""
        raise NotImplementedError

    @classmethod
    def check_config(
        cls, workspace: Workspace, index: int, cfg: StoreConfigBase
    ) -> list[DocumentError]:
        """What ``sync`` would refuse about this store (``stores[index]``), found offline (a
        missing file), each naming its config line. Never contacts a server."""
        return []

    @classmethod
    def check_files(cls, workspace: Workspace, cfg: StoreConfigBase) -> Findings | None:
        """Every corrupt or torn line of the files this store keeps (None: it keeps none)."""
        return None

    def sample_ids(self) -> set[str] | None:
        """The runs the store chose as the sample (``server_sample`` kinds); None: none chosen."""
        return None

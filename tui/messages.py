"""Typed messages the areas of the app share. Workers and the database threads post these;
``post_message`` is safe from any thread."""

from __future__ import annotations

from textual.message import Message

from review.tape import DeskReport


class TapeReported(Message):
    """The desk's key tape applied and committed a batch (``report``), or a batch is waiting to
    be retried (``error``)."""

    def __init__(self, report: DeskReport | None, error: str | None) -> None:
        super().__init__()
        self.report = report
        self.error = error


class SyncFinished(Message):
    """A sync ended: ``error`` is set when a store could not be reached (or a push failed);
    ``problems`` are lines of the store that were skipped; ``reached``: the sync ran to its end
    against every store (only such a sync counts as the last sync); ``summary`` says what it
    moved."""

    def __init__(
        self,
        problems: list[str],
        error: str | None,
        *,
        reached: bool = False,
        summary: str = "synced",
    ) -> None:
        super().__init__()
        self.problems = problems
        self.error = error
        self.reached = reached
        #: One line on what the sync did: "synced: 3 runs, 2 grades pushed".
        self.summary = summary


class PushFinished(Message):
    """A push ended; ``pending`` is the outbox left (None when it could not be read)."""

    def __init__(self, error: str | None, pending: int | None) -> None:
        super().__init__()
        self.error = error
        self.pending = pending


class QuitRequested(Message):
    """Quit once every key typed before this message is saved (ctrl+q, SIGTERM, SIGHUP)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

"""Sync: pull run summaries, decide the sample, hydrate sampled runs; pull scores; push the outbox.

The sample decision belongs to ``review`` (it knows the plan and the roster); it is handed in as
a :class:`SamplePlan`, so this module stays below ``review`` and never imports it. So are the
rules that merge the grades a store holds with the copy here (:class:`ScoreMerge`,
``review.pulled``): this module lists the scores and commits what the rules write.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from store.connectors.base import Listed
from store.db import database
from store.outbox import hold
from store.timestamps import canonical, canonical_or_none, instant_or_none, now_iso

if TYPE_CHECKING:
    # Only in annotations: the desk builds none of the store's models.
    from store.connectors.base import StoreConnector as Connector
    from store.models import Incident, Run, RunPage, RunSummary, Score


class SamplePlan(Protocol):
    """Decides, with no coordination, which runs are reviewed and by whom."""

    def reason(self, run: RunSummary, incidents: Sequence[Incident]) -> str | None:
        """Why this run is in the sample ("sample", "always:error", ...), or None."""
        ...

    def reviewers(self, run: RunSummary) -> list[str]:
        """Who grades this run (one, or more for the overlap share)."""
        ...


class ScoreMerge(Protocol):
    """Merges the agentdeck scores a store holds with the grades here (review's rules)."""

    def merge(
        self, conn: sqlite3.Connection, source: str, scores: Sequence[Score], now: str
    ) -> int:
        """Write the store's grades and adjudications that win over the copy here (inside
        the caller's transaction); how many were written. ``now``: this pull's time, for a
        score the store gives no time."""
        ...


@dataclass
class PullReport:
    listed: int = 0
    sampled: int = 0
    hydrated: int = 0
    skipped: int = 0
    incidents: int = 0
    scores: int = 0
    problems: list[str] = field(default_factory=list)
    #: The sampling plan differs from the one this store's queue was last decided with.
    plan_changed: bool = False
    #: Runs already here whose queue a changed plan altered (assignments added or dropped).
    resampled: int = 0


def _json(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


#: A run's input, output, or a step's arguments or result longer than this (in characters, as
#: stored) is cut, with a marker: a model that dumped 50 MB into one attribute must not fill
#: the laptop or stall the desk. ``[sync] max_value_chars`` in agentdeck.toml changes it.
MAX_VALUE_CHARS = 1_000_000


def _value(value: object, limit: int) -> str | None:
    """A value as stored (text as it is, anything else as JSON); past ``limit`` characters,
    its head as text with a marker saying how much was left out."""
    text = _json(value)
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut by agentdeck: {len(text) - limit:,} more characters]"


def _summary_row(source: str, run: RunSummary) -> tuple[object, ...]:
    return (
        source,
        run.trace_id,
        run.workflow,
        canonical(run.start_time),
        canonical_or_none(run.end_time),
        run.status,
        run.feedback,
        run.business_ref,
        run.tokens.input,
        run.tokens.output,
        run.cost_usd,
        run.latency_ms,
    )


# Positional parameters: binding a tuple is quicker than a dict by name (bench_ingest).
_UPSERT_SUMMARY = """
INSERT INTO runs (source, run_id, workflow, started_at, ended_at, status, feedback, business_ref,
                  tokens_in, tokens_out, cost_usd, latency_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, run_id) DO UPDATE SET
    workflow = excluded.workflow, started_at = excluded.started_at, ended_at = excluded.ended_at,
    status = excluded.status, feedback = excluded.feedback, business_ref = excluded.business_ref,
    tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out,
    cost_usd = excluded.cost_usd, latency_ms = excluded.latency_ms
"""


def upsert_summaries(conn: sqlite3.Connection, source: str, runs: Iterable[RunSummary]) -> None:
    """Insert or refresh run summaries (inside the caller's transaction)."""
    conn.executemany(_UPSERT_SUMMARY, [_summary_row(source, r) for r in runs])


def run_pk(conn: sqlite3.Connection, source: str, run_id: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM runs WHERE source = ? AND run_id = ?", (source, run_id)
    ).fetchone()
    return int(row[0]) if row else None


_STEP_INSERT = (
    "INSERT INTO steps (run, idx, kind, name, started_at, latency_ms, arguments, result, "
    "error_type, error_message, tokens_in, tokens_out, span_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def run_pks(conn: sqlite3.Connection, source: str, run_ids: Sequence[str]) -> dict[str, int]:
    """The local keys of these runs (those present), a few hundred ids a query."""
    out: dict[str, int] = {}
    for i in range(0, len(run_ids), 500):
        chunk = run_ids[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        for run_id, pk in conn.execute(
            f"SELECT run_id, id FROM runs WHERE source = ? AND run_id IN ({marks})",
            (source, *chunk),
        ):
            out[run_id] = int(pk)
    return out


def store_runs(
    conn: sqlite3.Connection,
    source: str,
    runs: Sequence[Run],
    *,
    max_value_chars: int = MAX_VALUE_CHARS,
) -> None:
    """Write hydrated runs and their steps (inside the caller's transaction).

    One statement a table for the whole batch (``executemany``): per-run inserts through
    sqlite-utils cost ~0.4 ms a run, which was most of a sync's time (tests/bench/bench_ingest).
    """
    latest = {run.trace_id: run for run in runs}  # a run listed twice: the last one wins
    if not latest:
        return
    batch = list(latest.values())
    upsert_summaries(conn, source, batch)
    pks = run_pks(conn, source, list(latest))
    conn.executemany(
        "UPDATE runs SET hydrated = 1, input = ?, output = ?, final_action = ?, tags = ? "
        "WHERE id = ?",
        [
            (
                _value(run.input, max_value_chars),
                _value(run.output, max_value_chars),
                _json(run.final_action.model_dump() if run.final_action else None),
                _json(run.tags),
                pks[run.trace_id],
            )
            for run in batch
        ],
    )
    conn.executemany("DELETE FROM steps WHERE run = ?", [(pks[r.trace_id],) for r in batch])
    conn.executemany(
        _STEP_INSERT,
        (
            (
                pks[run.trace_id],
                i,
                s.kind,
                s.name,
                canonical_or_none(s.start_time),
                s.latency_ms,
                _value(s.arguments, max_value_chars),
                _value(s.result, max_value_chars),
                s.error.type if s.error else None,
                s.error.message if s.error else None,
                s.tokens.input if s.tokens else None,
                s.tokens.output if s.tokens else None,
                s.span_id,
            )
            for run in batch
            for i, s in enumerate(run.steps)
        ),
    )


def store_incidents(conn: sqlite3.Connection, source: str, incidents: Sequence[Incident]) -> None:
    """Insert or refresh incidents (inside the caller's transaction)."""
    database(conn).table("incidents").upsert_all(
        (
            {
                "source": i.source or source,
                "incident_id": i.id,
                "workflow": i.workflow,
                "title": i.title,
                "severity": i.severity,
                "status": i.status,
                "starts_at": canonical(i.starts_at),
                "ends_at": canonical_or_none(i.ends_at),
                "summary": i.summary,
                "labels": _json(i.labels),
            }
            for i in incidents
        ),
        pk=("source", "incident_id"),
    )


def assign(
    conn: sqlite3.Connection, pk: int, run: RunSummary, reason: str, reviewers: Iterable[str]
) -> None:
    """Put a sampled run in each reviewer's queue (inside the caller's transaction)."""
    conn.executemany(
        "INSERT INTO assignments (reviewer, run, workflow, status, started_at, reason) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reviewer, run) DO UPDATE SET "
        "workflow = excluded.workflow, status = excluded.status, "
        "started_at = excluded.started_at, reason = excluded.reason",
        [(r, pk, run.workflow, run.status, canonical(run.start_time), reason) for r in reviewers],
    )


def _sampled_reason(
    conn: sqlite3.Connection, source: str, run: RunSummary, reviewers: Sequence[str]
) -> str | None:
    """Why this run is already in a queue, if it is."""
    pk = run_pk(conn, source, run.trace_id)
    if pk is None or not reviewers:
        return None
    marks = ", ".join("?" * len(reviewers))
    row = conn.execute(
        f"SELECT reason FROM assignments WHERE reviewer IN ({marks}) AND run = ? LIMIT 1",
        (*reviewers, pk),
    ).fetchone()
    return str(row[0]) if row else None


def _cursor(conn: sqlite3.Connection, store: str) -> str | None:
    row = conn.execute("SELECT cursor FROM sync_state WHERE store = ?", (store,)).fetchone()
    return row[0] if row else None


def _plan_fingerprint(plan: SamplePlan) -> str | None:
    """The plan's fingerprint, when it has one (``review.sampling.ReviewPlan`` does)."""
    fingerprint = getattr(plan, "fingerprint", None)
    return str(fingerprint()) if callable(fingerprint) else None


def _saved_plan(conn: sqlite3.Connection, store: str) -> tuple[bool, str | None]:
    """Whether the store has sync state, and the plan fingerprint saved with it."""
    row = conn.execute("SELECT plan FROM sync_state WHERE store = ?", (store,)).fetchone()
    return (row is not None, row[0] if row else None)


@dataclass
class _Replan:
    """What a changed plan does to the runs already here: one entry per run it changes."""

    #: (run pk, summary, reason, reviewers to add, hydrated)
    add: list[tuple[int, RunSummary, str, list[str], bool]] = field(default_factory=list)
    #: (reviewer, run pk): ungraded assignments the plan no longer gives
    drop: list[tuple[str, int]] = field(default_factory=list)
    runs: int = 0


def _known_incidents(
    conn: sqlite3.Connection, source: str, listed: Sequence[Incident]
) -> list[Incident]:
    """The incidents this store has given (kept in the database), and those just listed."""
    from store.models import Incident

    out: dict[tuple[str, str], Incident] = {}
    for iid, workflow, title, starts, ends in conn.execute(
        "SELECT incident_id, workflow, title, starts_at, ends_at FROM incidents WHERE source = ?",
        (source,),
    ):
        start = instant_or_none(starts)
        if start is None:
            continue
        out[(source, iid)] = Incident(
            id=iid, workflow=workflow, title=title, starts_at=start, ends_at=instant_or_none(ends)
        )
    for incident in listed:
        out[(incident.source or source, incident.id)] = incident
    return list(out.values())


def _replan(
    conn: sqlite3.Connection, source: str, plan: SamplePlan, incidents: Sequence[Incident]
) -> _Replan:
    """Decide the sample again over this store's runs in the database; graded work stays."""
    from store.models import RunSummary, Tokens

    have: dict[int, set[str]] = defaultdict(set)
    for reviewer, pk in conn.execute(
        "SELECT a.reviewer, a.run FROM assignments a JOIN runs r ON r.id = a.run "
        "WHERE r.source = ?",
        (source,),
    ):
        have[int(pk)].add(reviewer)
    graded = {
        (int(pk), reviewer)
        for pk, reviewer in conn.execute(
            "SELECT DISTINCT g.run, g.reviewer FROM grades g JOIN runs r ON r.id = g.run "
            "WHERE r.source = ?",
            (source,),
        )
    }
    out = _Replan()
    rows = conn.execute(
        "SELECT id, run_id, workflow, started_at, ended_at, status, feedback, business_ref, "
        "tokens_in, tokens_out, cost_usd, latency_ms, hydrated FROM runs WHERE source = ? "
        "ORDER BY id",
        (source,),
    )
    for pk, run_id, workflow, start, end, status, feedback, ref, t_in, t_out, cost, ms, hyd in rows:
        started = instant_or_none(start)
        if started is None:
            continue
        summary = RunSummary(
            trace_id=run_id,
            workflow=workflow,
            start_time=started,
            end_time=instant_or_none(end),
            status=status or "ok",
            feedback=feedback,
            business_ref=ref,
            tokens=Tokens(input=t_in or 0, output=t_out or 0),
            cost_usd=cost,
            latency_ms=ms,
        )
        why = plan.reason(summary, incidents)
        want = plan.reviewers(summary) if why is not None else []
        current = have.get(pk, set())
        new = [r for r in want if r not in current]
        gone = sorted(r for r in current - set(want) if (pk, r) not in graded)
        if new and why is not None:
            out.add.append((pk, summary, why, new, bool(hyd)))
        out.drop.extend((r, pk) for r in gone)
        if new or gone:
            out.runs += 1
    return out


def _resample(
    conn: sqlite3.Connection,
    connector: Connector,
    plan: SamplePlan,
    listed: Sequence[Incident],
    report: PullReport,
    page_size: int,
    max_value_chars: int,
    *,
    write: bool = True,
) -> None:
    """Apply a changed plan to the runs already here: queue what it now samples (fetching
    runs not fetched yet, a page at a time, as a listing would) and drop the ungraded
    assignments it no longer gives. ``write`` off (a dry run): count what it would fetch."""
    source = connector.name
    change = _replan(conn, source, plan, _known_incidents(conn, source, listed))
    report.resampled += change.runs
    if not write:
        report.hydrated += sum(1 for *_, hydrated in change.add if not hydrated)
        return
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("DELETE FROM assignments WHERE reviewer = ? AND run = ?", change.drop)
    conn.execute("COMMIT")
    for i in range(0, len(change.add), page_size):
        batch = change.add[i : i + page_size]
        missing = [summary.trace_id for _, summary, _, _, hydrated in batch if not hydrated]
        fetched = connector.fetch_runs(missing) if missing else []
        if isinstance(fetched, Listed):
            report.problems.extend(fetched.problems)
        conn.execute("BEGIN IMMEDIATE")
        store_runs(conn, source, list(fetched), max_value_chars=max_value_chars)
        for pk, summary, why, reviewers, _ in batch:
            assign(conn, pk, summary, why, reviewers)
        conn.execute("COMMIT")
        report.hydrated += len(fetched)


def _save_plan(conn: sqlite3.Connection, store: str, fingerprint: str | None) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE sync_state SET plan = ? WHERE store = ?", (fingerprint, store))
    conn.execute("COMMIT")


def pull(
    conn: sqlite3.Connection,
    connector: Connector,
    plan: SamplePlan,
    merge: ScoreMerge,
    *,
    page_size: int | None = None,
    progress: Callable[[PullReport], None] | None = None,
    dry_run: bool = False,
    max_value_chars: int = MAX_VALUE_CHARS,
) -> PullReport:
    """Pull incidents, run summaries (sampling as it goes), sampled runs, and scores.

    Each page commits with its cursor, so an interrupted sync resumes where it stopped and
    never lists a page twice (``page_size``: see ``list_page`` in the connector interface).
    ``merge`` holds review's rules for the grades the store holds (``review.pulled``, whose
    ``pull`` is this with them).

    ``dry_run``: the same listing and sampling with writing off: count what it would fetch
    (``report.hydrated``) and the scores the store holds (``report.scores``), writing nothing
    and leaving the saved cursor where it was.
    """
    # How many summaries a page lists (and commits with its cursor): the connector's own
    # figure (``list_page``: a local file lists more a page than an API gives), else 1,000.
    if page_size is None:
        page_size = connector.list_page
    if dry_run:
        return _pull(
            conn, connector, plan, merge, page_size, progress, max_value_chars, write=False
        )
    # What a pull writes can be pulled again (runs, incidents, the store's grades, the cursor),
    # so its page commits need not wait for the disk: a power cut loses at most the last pages
    # and the cursor with them (WAL keeps the two together), and the next sync lists them again.
    # Grades typed at the desk are written elsewhere, with synchronous=FULL.
    conn.execute("PRAGMA synchronous = NORMAL")
    # One checkpoint at the end instead of one every few pages: copying the log into the
    # database file page by page was a third of a long sync's time.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        return _pull(conn, connector, plan, merge, page_size, progress, max_value_chars)
    finally:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA wal_autocheckpoint = 1000")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _pull(
    conn: sqlite3.Connection,
    connector: Connector,
    plan: SamplePlan,
    merge: ScoreMerge,
    page_size: int,
    progress: Callable[[PullReport], None] | None,
    max_value_chars: int = MAX_VALUE_CHARS,
    *,
    write: bool = True,
) -> PullReport:
    """The sync; ``write`` off, the dry run: every step the same, reading what a sync reads
    (no run is fetched) and counting what it would fetch, with nothing written."""
    source = connector.name
    report = PullReport()
    incidents = connector.list_incidents()
    report.skipped += incidents.skipped
    report.problems.extend(incidents.problems)
    report.incidents = len(incidents)
    if write:
        conn.execute("BEGIN IMMEDIATE")
        store_incidents(conn, source, incidents)
        conn.execute("COMMIT")

    # A store that chooses the sample itself (a Langfuse annotation queue) names its runs; the
    # plan's sample is not drawn for it, and its runs are fetched after the listing, whether
    # or not this sync listed them (an item can be queued long after its run was listed).
    store_sample = connector.sample_ids() if connector.server_sample else None
    # A plan changed since this store's queue was decided (a roster, a rate, a salt): decide
    # again over the runs already here, or they would keep the old queue until listed again,
    # which a cursor past them never does.
    fingerprint = _plan_fingerprint(plan)
    known, saved = _saved_plan(conn, source)
    if store_sample is None and known and fingerprint is not None and saved != fingerprint:
        _resample(conn, connector, plan, incidents, report, page_size, max_value_chars, write=write)
        # A database from before plans were kept (no fingerprint yet) says so only when its
        # queue did change.
        report.plan_changed = saved is not None or report.resampled > 0
    # Writing off, what a sync would fetch is what it samples that is not here yet.
    here = set() if write else _hydrated_ids(conn, source)
    cursor = _cursor(conn, source)
    while True:
        page = connector.list_runs(cursor, page_size)
        report.listed += len(page.runs)
        report.skipped += page.skipped
        report.problems.extend(page.problems)
        chosen: list[tuple[RunSummary, str]] = []
        replaced = set(page.replaced)
        for summary in [] if store_sample is not None else page.runs:
            why = plan.reason(summary, incidents)
            if why is None and summary.trace_id in replaced:
                # Sampled for what it was before: keep it, with the new record's content.
                why = _sampled_reason(conn, source, summary, plan.reviewers(summary))
            if why is not None:
                chosen.append((summary, why))
        if write:
            report.hydrated += _store_page(
                conn, connector, plan, page, chosen, report, max_value_chars
            )
        else:
            report.hydrated += sum(1 for s, _ in chosen if s.trace_id not in here)
        report.sampled += len(chosen)
        cursor = page.cursor
        if progress:
            progress(report)
        if page.done or not page.runs:
            break
    if write and fingerprint is not None:
        _save_plan(conn, source, fingerprint)

    if store_sample:
        _pull_chosen(conn, connector, plan, store_sample, report, page_size, write=write)
    report.scores = pull_scores(conn, connector, merge, report=report, write=write)
    # What the connector left undone without failing, since it last said so (e.g. deletes
    # Phoenix cannot do, from the push before this pull): said once, here.
    left = connector.problems
    if left:
        report.problems.extend(str(p) for p in left)
        left.clear()
    return report


def _store_page(
    conn: sqlite3.Connection,
    connector: Connector,
    plan: SamplePlan,
    page: RunPage,
    chosen: list[tuple[RunSummary, str]],
    report: PullReport,
    max_value_chars: int,
) -> int:
    """Fetch the page's sampled runs and commit the page with its cursor; how many were
    fetched."""
    source = connector.name
    fetched = connector.fetch_runs([s.trace_id for s, _ in chosen])
    report.problems.extend(fetched.problems)
    full = {r.trace_id: r for r in fetched}
    conn.execute("BEGIN IMMEDIATE")
    upsert_summaries(conn, source, page.runs)
    store_runs(conn, source, list(full.values()), max_value_chars=max_value_chars)
    pks = run_pks(conn, source, [summary.trace_id for summary, _ in chosen])
    for summary, why in chosen:
        pk = pks.get(summary.trace_id)
        if pk is not None:
            assign(conn, pk, summary, why, plan.reviewers(summary))
    conn.execute(
        "INSERT INTO sync_state (store, cursor, synced_at, skipped) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (store) DO UPDATE SET cursor = excluded.cursor, "
        "synced_at = excluded.synced_at, skipped = sync_state.skipped + excluded.skipped",
        (source, page.cursor, now_iso(), page.skipped),
    )
    conn.execute("COMMIT")
    return len(full)


def _pull_chosen(
    conn: sqlite3.Connection,
    connector: Connector,
    plan: SamplePlan,
    chosen: set[str],
    report: PullReport,
    page_size: int,
    *,
    write: bool = True,
) -> None:
    """Fetch and queue the runs a store chose (those not here yet), a page at a time
    (``write`` off: count them)."""
    source = connector.name
    missing = sorted(chosen - _hydrated_ids(conn, source))
    if not write:
        report.sampled += len(missing)
        report.hydrated += len(missing)
        return
    for i in range(0, len(missing), page_size):
        fetched = connector.fetch_runs(missing[i : i + page_size])
        report.problems.extend(fetched.problems)
        conn.execute("BEGIN IMMEDIATE")
        store_runs(conn, source, list(fetched))
        pks = run_pks(conn, source, [r.trace_id for r in fetched])
        for run in fetched:
            if run.trace_id in pks:
                assign(conn, pks[run.trace_id], run, "queue", plan.reviewers(run))
        conn.execute("COMMIT")
        report.sampled += len(fetched)
        report.hydrated += len(fetched)


def _hydrated_ids(conn: sqlite3.Connection, source: str) -> set[str]:
    """The run ids of this store's runs fetched whole (the sample here)."""
    return {
        r
        for (r,) in conn.execute(
            "SELECT run_id FROM runs WHERE source = ? AND hydrated = 1", (source,)
        )
    }


def pull_scores(
    conn: sqlite3.Connection,
    connector: Connector,
    merge: ScoreMerge,
    *,
    report: PullReport | None = None,
    write: bool = True,
) -> int:
    """Read agentdeck's scores on the runs here from the store and hand them to ``merge``
    (review's rules: which win over the copy here), in one transaction that also fetches
    the runs they are on that are not here yet and remembers every score the store holds
    (``held_scores``: what a push may delete). Returns what ``merge`` wrote.

    ``write`` off (a dry run): only list them, and return how many the store holds. Corrupt
    score lines (and runs that could not be fetched) are added to ``report``."""
    source = connector.name
    scores = connector.list_scores(sorted(_hydrated_ids(conn, source)))
    if report is not None:
        report.skipped += scores.skipped
        report.problems.extend(scores.problems)
    if not write:
        return len(scores)
    missing = sorted({s.trace_id for s in scores if not _hydrated(conn, source, s.trace_id)})
    fetched = connector.fetch_runs(missing) if missing else []
    if report is not None and isinstance(fetched, Listed):
        report.problems.extend(fetched.problems)
    now = now_iso()
    conn.execute("BEGIN IMMEDIATE")
    store_runs(conn, source, fetched)
    hold(conn, source, [s.id for s in scores])
    count = merge.merge(conn, source, scores, now)
    conn.execute("COMMIT")
    return count


def _hydrated(conn: sqlite3.Connection, source: str, run_id: str) -> bool:
    row = conn.execute(
        "SELECT hydrated FROM runs WHERE source = ? AND run_id = ?", (source, run_id)
    ).fetchone()
    return bool(row and row[0])

"""The weekly report: per workflow and ISO week (UTC, Monday start), what the reviewers' grades
say about the agent and what it cost.

Per workflow and week: task success rate and intervention rate with Wilson 95 % score
intervals, their trend against the previous weeks, review coverage (graded of sampled), flagged
runs, incidents, runs and cost per run; per workflow, spend in the calendar month to date
against the agent card's monthly budget and the highest alert threshold crossed.

Everything is aggregated in SQL (``GROUP BY workflow, week``); Python only walks the graded
runs (a few percent of all runs) to settle each run's verdict with :func:`resolve_verdict`,
the one rule the adjudication screen and the golden set share.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from review.progress import metric_level
from review.rubric import Rubric
from store.metrics import WorkflowFigures

if TYPE_CHECKING:  # numpy stays off the import path of the weekly report's module
    from review.agreement import OutcomeAgreement

#: z for a two-sided 95 % interval.
Z95 = 1.959963984540054

#: Budget thresholds when a card lists none (fractions of the monthly budget).
DEFAULT_ALERTS: tuple[float, ...] = (0.5, 0.8, 1.0)

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


# --- Wilson score interval --------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its Wilson 95 % score interval; rate and bounds None when n = 0."""

    n: int
    k: int
    rate: float | None
    low: float | None
    high: float | None


def wilson(k: int, n: int, z: float = Z95) -> Rate:
    """The Wilson score interval for ``k`` successes in ``n`` trials (Wilson 1927).

    Unlike the normal approximation it stays inside [0, 1] and is honest at k = 0 or k = n
    and for the small weekly samples reviewers grade.
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Rate(0, 0, None, None, None)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At k = 0 (or k = n) the bound is exactly 0 (or 1); rounding must not push it past.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Rate(n, k, p, low, high)


# --- the per-run verdict ----------------------------------------------------------------------

Basis = Literal["adjudicated", "unanimous", "majority", "tied"]


@dataclass(frozen=True)
class Verdict:
    """What a run's grades settle on, per criterion.

    ``values`` holds a value for every criterion settled; a criterion whose reviewers tie is in
    ``tied`` and not in ``values``. ``basis``: ``adjudicated`` (an adjudicator's final grade,
    which wins outright), ``unanimous`` (every reviewer agrees on every criterion), ``majority``
    (some criterion settled by a majority, none tied) or ``tied`` (some criterion tied).
    """

    values: dict[str, Any]
    basis: Basis
    tied: tuple[str, ...] = ()
    reviewers: int = 0

    def is_tied(self, criteria: Iterable[str] | None = None) -> bool:
        """True when any of ``criteria`` (default: any criterion at all) is tied."""
        if criteria is None:
            return bool(self.tied)
        return any(c in self.tied for c in criteria)


def _key(value: object) -> object:
    # "pass" from one reviewer and "pass" from another are one vote; 5 and 5.0 too.
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float) and float(value).is_integer():
        return ("n", int(value))
    return ("j", json.dumps(value, sort_keys=True))


def resolve_verdict(
    grades: Sequence[Mapping[str, Any]],
    adjudication: Mapping[str, Any] | None = None,
) -> Verdict | None:
    """Settle one run: the adjudicated grade if there is one, else its reviewers' grades.

    ``grades`` are the values (criterion id → value) of the run's *complete* grades under one
    rubric version, one per reviewer. Per criterion: every reviewer agrees → that value; they
    disagree → the value most reviewers gave; the most-given values tie → the criterion is
    tied (no value). A criterion a reviewer left out is not a vote. Returns None when there
    is neither a grade nor an adjudication.
    """
    if adjudication is not None:
        return Verdict(dict(adjudication), "adjudicated", (), len(grades))
    if not grades:
        return None
    if len(grades) == 1:  # most runs: one reviewer, nothing to settle
        return Verdict({c: v for c, v in grades[0].items() if v is not None}, "unanimous", (), 1)
    votes: dict[str, dict[object, list[Any]]] = {}
    for values in grades:
        for criterion, value in values.items():
            if value is None:
                continue
            votes.setdefault(criterion, {}).setdefault(_key(value), []).append(value)
    settled: dict[str, Any] = {}
    tied: list[str] = []
    unanimous = True
    for criterion in sorted(votes):
        counts = votes[criterion]
        if len(counts) == 1:
            settled[criterion] = next(iter(counts.values()))[0]
            continue
        unanimous = False
        top = max(len(v) for v in counts.values())
        leaders = [v for v in counts.values() if len(v) == top]
        if len(leaders) > 1:
            tied.append(criterion)
        else:
            settled[criterion] = leaders[0][0]
    basis: Basis = "tied" if tied else "unanimous" if unanimous else "majority"
    return Verdict(settled, basis, tuple(tied), len(grades))


def run_verdicts(
    conn: sqlite3.Connection, rubric: Rubric, runs: Iterable[int] | None = None
) -> dict[int, Verdict]:
    """The verdict (:func:`resolve_verdict`) of every run with a complete grade or an
    adjudication under the rubric's current version, keyed by ``runs.id``; only ``runs`` if
    given."""
    wanted = None if runs is None else set(runs)
    grades: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run, values in conn.execute(
        'SELECT run, "values" FROM grades WHERE complete = 1 AND rubric_id = ? '
        "AND rubric_version = ? ORDER BY run, reviewer",
        (rubric.id, rubric.version),
    ):
        if wanted is None or run in wanted:
            grades[run].append(json.loads(values))
    adjudicated: dict[int, dict[str, Any]] = {}
    for run, values in conn.execute(
        'SELECT run, "values" FROM adjudications WHERE rubric_id = ? AND rubric_version = ?',
        (rubric.id, rubric.version),
    ):
        if wanted is None or run in wanted:
            adjudicated[run] = json.loads(values)
    out: dict[int, Verdict] = {}
    for run in sorted(grades.keys() | adjudicated.keys()):
        verdict = resolve_verdict(grades.get(run, []), adjudicated.get(run))
        if verdict is not None:
            out[run] = verdict
    return out


# --- weeks ------------------------------------------------------------------------------------


def parse_week(text: str) -> date:
    """The Monday of an ISO week written ``YYYY-Www`` (``2026-W47``); ValueError saying what
    is wrong otherwise."""
    match = _WEEK.match(text.strip())
    if not match:
        raise ValueError(f"week {text!r} is not an ISO week; write YYYY-Www, e.g. 2026-W47")
    year, week = int(match[1]), int(match[2])
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"week {text!r} does not exist: {year} has no week {week}") from None


def week_label(monday: date) -> str:
    """``2026-W47`` for the ISO week starting on ``monday``."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week holding ``moment``."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def default_week(conn: sqlite3.Connection, now: datetime) -> tuple[date, str]:
    """The week a report is about when none is asked for: the current one, or the last week
    with runs when the local copy ends earlier (a laptop last synced a week ago, the demo); and
    which of the two, said to the reader. The app and ``report weekly`` both use it."""
    from store.timestamps import instant_or_none

    current = week_of(now)
    (latest,) = conn.execute("SELECT max(started_at) FROM runs").fetchone()
    moment = instant_or_none(latest) if latest else None
    if moment is not None and week_of(moment) < current:
        return week_of(moment), "the last week with runs"
    return current, "this week"


def last_graded_week(conn: sqlite3.Connection, rubric: Rubric, now: datetime) -> date | None:
    """The Monday of the last complete ISO week (before the one holding ``now``) with a run
    that has a complete grade under the rubric's current version; None when there is none.
    What ``report weekly --push`` sends by default: the week whose figures are final."""
    from store.timestamps import instant_or_none

    (latest,) = conn.execute(
        "SELECT max(r.started_at) FROM grades g CROSS JOIN runs r ON r.id = g.run "
        "WHERE g.complete = 1 AND g.rubric_id = ? AND g.rubric_version = ? "
        "AND r.started_at < ?",
        (rubric.id, rubric.version, _ts(week_of(now))),
    ).fetchone()
    moment = instant_or_none(latest) if latest else None
    return week_of(moment) if moment is not None else None


def _ts(day: date) -> str:
    # The database's one timestamp form (store.timestamps): text order is time order.
    return f"{day.isoformat()}T00:00:00.000000Z"


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLimit:
    """A workflow's monthly budget, from its agent card (plain data: review does not read
    cards itself)."""

    monthly_usd: float
    alerts: tuple[float, ...] = DEFAULT_ALERTS


@dataclass(frozen=True)
class BudgetStatus:
    """Spend in the calendar month to date against the monthly budget."""

    month: str
    spent_usd: float
    monthly_usd: float | None
    #: spent / monthly budget; None without a budget.
    used: float | None
    #: The highest alert threshold crossed (0.5, 0.8, 1.0, ...), None when none is.
    alert: float | None
    thresholds: tuple[float, ...] = ()


@dataclass(frozen=True)
class WeekFigures:
    """One workflow in one ISO week."""

    week: str
    start: str
    runs: int
    cost_usd: float
    cost_per_run: float | None
    sampled: int
    graded: int
    #: graded / sampled; None when nothing was sampled.
    coverage: float | None
    #: Runs with a verdict (graded or adjudicated), tied ones included.
    verdicts: int
    tied: int
    adjudicated: int
    task_success: Rate
    intervention: Rate
    flagged: int
    incidents: int
    #: Agreement between reviewers on the outcome criterion over this week's runs, with n
    #: (runs compared); None when nobody graded them or the rubric has no outcome criterion.
    agreement: OutcomeAgreement | None = None
    #: Sampled runs skipped as not judgeable and graded by nobody: neither graded nor to do.
    skipped: int = 0


@dataclass(frozen=True)
class WorkflowReport:
    """One workflow over the report's weeks, oldest first; the last is the report's week."""

    workflow: str
    weeks: list[WeekFigures]
    budget: BudgetStatus

    @property
    def current(self) -> WeekFigures:
        return self.weeks[-1]

    @property
    def previous(self) -> WeekFigures | None:
        return self.weeks[-2] if len(self.weeks) > 1 else None

    def series(self, metric: Literal["task_success", "intervention"]) -> list[float | None]:
        """The metric's rate week by week, oldest first (None for a week without verdicts)."""
        return [getattr(w, metric).rate for w in self.weeks]

    def change(self, metric: Literal["task_success", "intervention"]) -> float | None:
        """This week's rate minus last week's; None when either is missing."""
        if self.previous is None:
            return None
        now, before = getattr(self.current, metric).rate, getattr(self.previous, metric).rate
        if now is None or before is None:
            return None
        return now - before


@dataclass(frozen=True)
class WeeklyReport:
    """The weekly report: the window's weeks and one :class:`WorkflowReport` per workflow."""

    rubric_id: str
    rubric_version: str
    #: The report's (last) week, e.g. ``2026-W47``, and every week of the window, oldest first.
    week: str
    weeks: list[str]
    #: The moment spend is counted up to (the end of the week, or now if earlier), UTC.
    as_of: str
    workflows: list[WorkflowReport] = field(default_factory=list)


def _week_case(column: str, starts: Sequence[str]) -> str:
    """A CASE giving the window's week index (0 = oldest) of ``column``; every bound is a
    parameter, so nothing from outside is spliced into the SQL."""
    if len(starts) == 1:
        return "0"
    arms = " ".join(f"WHEN {column} < ? THEN {i}" for i in range(len(starts) - 1))
    return f"CASE {arms} ELSE {len(starts) - 1} END"


def weekly_report(
    conn: sqlite3.Connection,
    rubric: Rubric,
    *,
    weeks: int = 4,
    week: date | None = None,
    workflow: str | None = None,
    budgets: Mapping[str, BudgetLimit] | None = None,
    now: datetime | None = None,
) -> WeeklyReport:
    """The weekly report over ``weeks`` ISO weeks ending with ``week`` (a Monday; default the
    current week), for every workflow with runs, grades or a budget, or only ``workflow``.

    A run belongs to the week its ``started_at`` falls in (UTC). The rates count one verdict
    per run (:func:`resolve_verdict`) under the rubric's current version; a run whose task
    success or intervention criterion is tied is counted as tied and left out of both
    rates. Coverage is graded of sampled: a run is sampled when it has an assignment and
    graded when it has a complete grade under the rubric's current version; a run skipped
    as not judgeable (and graded by nobody) is counted as skipped, in neither.
    """
    if weeks < 1:
        raise ValueError(f"weeks must be 1 or more, got {weeks}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    last = week if week is not None else week_of(now)
    if last.weekday() != 0:
        raise ValueError(f"{last} is not a Monday")
    mondays = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    starts = [_ts(m) for m in mondays]
    bounds = starts[1:]
    window = (starts[0], _ts(last + timedelta(weeks=1)))
    budgets = budgets or {}

    only = " AND {col} = ?" if workflow is not None else ""
    extra: tuple[str, ...] = (workflow,) if workflow is not None else ()

    def grouped(sql: str, column: str, wf: str) -> list[sqlite3.Row]:
        text = sql.format(wk=_week_case(column, starts), only=only.format(col=wf))
        return conn.execute(text, (*bounds, *window, *extra)).fetchall()

    cells: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)

    # Runs, cost and sampled runs: one range scan per workflow and week on schema 9's covering
    # indexes, (workflow, started_at, cost_usd) and (workflow, started_at, run). No sort, no
    # per-row CASE: this is the part that reads every run of the window.
    ends = [*bounds, window[1]]
    workflows = [workflow] if workflow is not None else workflows_with_runs(conn)
    for wf in workflows:
        for i, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
            runs, cost = conn.execute(
                "SELECT count(*), total(cost_usd) FROM runs "
                "WHERE workflow = ? AND started_at >= ? AND started_at < ?",
                (wf, lo, hi),
            ).fetchone()
            if runs:
                cells[wf, i].update(runs=runs, cost=cost)
            # A run given to two reviewers has two assignments, adjacent in index order (same
            # workflow and start): grouping on the index order counts it once without a sort.
            (sampled,) = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM assignments "
                "WHERE workflow = ? AND started_at >= ? "
                "AND started_at < ? GROUP BY started_at, run)",
                (wf, lo, hi),
            ).fetchone()
            if sampled:
                cells[wf, i]["sampled"] = sampled

    # Graded: sampled runs with a complete grade under this rubric version.
    graded_sql = (
        "SELECT r.workflow, {wk} AS wk, count(DISTINCT g.run) FROM grades g "
        "CROSS JOIN runs r ON r.id = g.run WHERE r.started_at >= ? AND r.started_at < ?{only} "
        "AND g.complete = 1 AND g.rubric_id = ? AND g.rubric_version = ? "
        "AND EXISTS (SELECT 1 FROM assignments a WHERE a.run = g.run) "
        "GROUP BY r.workflow, wk"
    )
    for wf, wk, graded in conn.execute(
        graded_sql.format(
            wk=_week_case("r.started_at", starts), only=only.format(col="r.workflow")
        ),
        (*bounds, *window, *extra, rubric.id, rubric.version),
    ):
        cells[wf, wk]["graded"] = graded
    skipped_sql = graded_sql.replace(
        "g.complete = 1",
        "g.skip_reason IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grades c WHERE c.run = g.run "
        "AND c.complete = 1 AND c.rubric_id = g.rubric_id AND c.rubric_version = g.rubric_version)",
    )
    for wf, wk, skipped in conn.execute(
        skipped_sql.format(
            wk=_week_case("r.started_at", starts), only=only.format(col="r.workflow")
        ),
        (*bounds, *window, *extra, rubric.id, rubric.version),
    ):
        cells[wf, wk]["skipped"] = skipped

    # Flagged: runs a reviewer escalated, whatever the rubric.
    for wf, wk, flagged in grouped(
        "SELECT r.workflow, {wk} AS wk, count(DISTINCT g.run) FROM grades g "
        "CROSS JOIN runs r ON r.id = g.run WHERE r.started_at >= ? AND r.started_at < ?{only} "
        "AND g.escalate = 1 GROUP BY r.workflow, wk",
        "r.started_at",
        "r.workflow",
    ):
        cells[wf, wk]["flagged"] = flagged

    for wf, wk, incidents in grouped(
        "SELECT workflow, {wk} AS wk, count(*) FROM incidents "
        "WHERE starts_at >= ? AND starts_at < ?{only} AND workflow IS NOT NULL "
        "GROUP BY workflow, wk",
        "starts_at",
        "workflow",
    ):
        cells[wf, wk]["incidents"] = incidents

    _verdict_counts(conn, rubric, cells, starts, bounds, window, only, extra)

    # Spend in the calendar month to date: up to the end of the report's week, or now.
    end_of_week = datetime.combine(last + timedelta(weeks=1), datetime.min.time(), UTC)
    as_of = min(now, end_of_week)
    month_day = (as_of - timedelta(microseconds=1)).date()
    month_start = month_day.replace(day=1)
    as_of_text = as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spend: dict[str, float] = {}
    for wf in workflows:
        (cost,) = conn.execute(
            "SELECT total(cost_usd) FROM runs "
            "WHERE workflow = ? AND started_at >= ? AND started_at < ?",
            (wf, _ts(month_start), as_of_text),
        ).fetchone()
        if cost:
            spend[wf] = cost

    names = {wf for wf, _ in cells} | set(spend) | set(budgets)
    if workflow is not None:
        names = {workflow}
    agreement = _week_agreement(conn, rubric, starts, ends, {wf for wf, _ in cells} & names)
    out = []
    for wf in sorted(names):
        figures = [
            _week_figures(mondays[i], cells.get((wf, i), {}), agreement.get((wf, i)))
            for i in range(weeks)
        ]
        out.append(
            WorkflowReport(wf, figures, _budget(month_start, spend.get(wf, 0.0), budgets.get(wf)))
        )
    return WeeklyReport(
        rubric.id,
        rubric.version,
        week_label(last),
        [week_label(m) for m in mondays],
        as_of_text,
        out,
    )


def workflows_with_runs(conn: sqlite3.Connection) -> list[str]:
    """Every workflow in the runs table, in order: one index seek per workflow (a skip over
    the (workflow, started_at) index), not a scan of the runs."""
    return [
        row[0]
        for row in conn.execute(
            "WITH RECURSIVE w(name) AS (SELECT min(workflow) FROM runs UNION ALL "
            "SELECT (SELECT min(workflow) FROM runs WHERE workflow > w.name) FROM w "
            "WHERE w.name IS NOT NULL) SELECT name FROM w WHERE name IS NOT NULL"
        )
    ]


def _verdict_counts(
    conn: sqlite3.Connection,
    rubric: Rubric,
    cells: dict[tuple[str, int], dict[str, Any]],
    starts: Sequence[str],
    bounds: Sequence[str],
    window: tuple[str, str],
    only: str,
    extra: tuple[str, ...],
) -> None:
    """Settle each graded run of the window and count verdicts, disputes and the two rates."""
    metrics = {m: metric_level(rubric, m) for m in ("task_success", "intervention")}
    criteria = [c for c, _ in (v for v in metrics.values() if v is not None)]
    if not criteria:
        paths: list[str] = []
    else:
        # Only the metric criteria are read out of the JSON, in SQL.
        paths = [f'$."{c}"' for c in criteria]
    picks = "".join(', json_extract(x."values", ?)' for _ in paths)
    wk = _week_case("r.started_at", starts)
    flt = only.format(col="r.workflow")
    grades: dict[int, list[dict[str, Any]]] = defaultdict(list)
    where: dict[int, tuple[str, int]] = {}
    for row in conn.execute(
        f"SELECT x.run, r.workflow, {wk}{picks} FROM grades x CROSS JOIN runs r ON r.id = x.run "
        f"WHERE r.started_at >= ? AND r.started_at < ?{flt} AND x.complete = 1 "
        "AND x.rubric_id = ? AND x.rubric_version = ?",
        (*bounds, *paths, *window, *extra, rubric.id, rubric.version),
    ):
        grades[row[0]].append(dict(zip(criteria, row[3:], strict=True)))
        where[row[0]] = (row[1], row[2])
    adjudicated: dict[int, dict[str, Any]] = {}
    for row in conn.execute(
        f"SELECT x.run, r.workflow, {wk}{picks} FROM adjudications x CROSS JOIN runs r "
        f"ON r.id = x.run WHERE r.started_at >= ? AND r.started_at < ?{flt} "
        "AND x.rubric_id = ? AND x.rubric_version = ?",
        (*bounds, *paths, *window, *extra, rubric.id, rubric.version),
    ):
        adjudicated[row[0]] = {
            c: v for c, v in zip(criteria, row[3:], strict=True) if v is not None
        }
        where[row[0]] = (row[1], row[2])
    for run, key in where.items():
        verdict = resolve_verdict(grades.get(run, []), adjudicated.get(run))
        if verdict is None:
            continue
        cell = cells[key]
        cell["verdicts"] = cell.get("verdicts", 0) + 1
        if verdict.basis == "adjudicated":
            cell["adjudicated"] = cell.get("adjudicated", 0) + 1
        if verdict.is_tied(criteria):
            cell["tied"] = cell.get("tied", 0) + 1
            continue
        for metric, level in metrics.items():
            if level is None or level[0] not in verdict.values:
                continue
            n_key, k_key = f"{metric}_n", f"{metric}_k"
            cell[n_key] = cell.get(n_key, 0) + 1
            if str(verdict.values[level[0]]) == level[1]:
                cell[k_key] = cell.get(k_key, 0) + 1


def _week_agreement(
    conn: sqlite3.Connection,
    rubric: Rubric,
    starts: Sequence[str],
    ends: Sequence[str],
    workflows: set[str],
) -> dict[tuple[str, int], OutcomeAgreement]:
    """Agreement on the outcome criterion per workflow and week of the window (runs graded
    by two reviewers or more), from one read of the window's grades: a few percent of the
    runs."""
    from review.golden import outcome_criterion
    from review.ratings import window_agreement

    if not workflows or not rubric.criteria:
        return {}
    criterion = outcome_criterion(rubric).id
    only = next(iter(workflows)) if len(workflows) == 1 else None
    found = window_agreement(
        conn, rubric.id, rubric.version, criterion, list(starts), ends[-1], workflow=only
    )
    return {key: figure for key, figure in found.items() if key[0] in workflows}


def _week_figures(
    monday: date, cell: Mapping[str, Any], agreement: OutcomeAgreement | None = None
) -> WeekFigures:
    runs, cost = int(cell.get("runs", 0)), float(cell.get("cost", 0.0))
    sampled, graded = int(cell.get("sampled", 0)), int(cell.get("graded", 0))
    return WeekFigures(
        week=week_label(monday),
        start=monday.isoformat(),
        runs=runs,
        cost_usd=cost,
        cost_per_run=cost / runs if runs else None,
        sampled=sampled,
        graded=graded,
        coverage=graded / sampled if sampled else None,
        verdicts=int(cell.get("verdicts", 0)),
        tied=int(cell.get("tied", 0)),
        adjudicated=int(cell.get("adjudicated", 0)),
        task_success=wilson(cell.get("task_success_k", 0), cell.get("task_success_n", 0)),
        intervention=wilson(cell.get("intervention_k", 0), cell.get("intervention_n", 0)),
        flagged=int(cell.get("flagged", 0)),
        incidents=int(cell.get("incidents", 0)),
        agreement=agreement,
        skipped=int(cell.get("skipped", 0)),
    )


def budget_alert(used: float, thresholds: Iterable[float]) -> float | None:
    """The highest threshold ``used`` (a fraction of the budget) has reached, or None."""
    crossed = [t for t in thresholds if used >= t]
    return max(crossed) if crossed else None


def _budget(month_start: date, spent: float, limit: BudgetLimit | None) -> BudgetStatus:
    month = month_start.strftime("%Y-%m")
    if limit is None:
        return BudgetStatus(month, spent, None, None, None)
    thresholds = tuple(sorted(limit.alerts or DEFAULT_ALERTS))
    used = spent / limit.monthly_usd
    return BudgetStatus(
        month, spent, limit.monthly_usd, used, budget_alert(used, thresholds), thresholds
    )


def metric_figures(
    report: WeeklyReport, agreement: Mapping[str, float | None] | None = None
) -> list[WorkflowFigures]:
    """What ``report weekly --push`` sends per workflow: the report week's rates with their n,
    coverage, agreement (the week's, with its n) and the month's budget use. ``agreement``
    (workflow → figure) replaces the week's agreement figure where given."""
    out = []
    for wf in report.workflows:
        week = wf.current
        alpha = week.agreement.alpha if week.agreement is not None else None
        if agreement is not None and wf.workflow in agreement:
            alpha = agreement[wf.workflow]
        out.append(
            WorkflowFigures(
                workflow=wf.workflow,
                task_success_rate=week.task_success.rate,
                intervention_rate=week.intervention.rate,
                review_coverage_ratio=week.coverage,
                budget_used_ratio=wf.budget.used,
                agreement=alpha,
                task_success_runs=week.task_success.n,
                intervention_runs=week.intervention.n,
                agreement_runs=week.agreement.compared if week.agreement is not None else None,
            )
        )
    return out

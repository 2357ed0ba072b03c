"""The weekly report (review/weekly.py): verdicts, Wilson intervals, coverage, budgets, weeks in
UTC, the exports, the CLI, and the Pushgateway round trip against a real server.

Every database here is built the way the app builds it: runs synced from a file store
(tests/helpers.py), grades written through review.grading. Adjudications are written as rows
of the schema-8 table (the adjudication screen that writes them is being built alongside).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review.grading import set_escalate, set_value
from review.session import ReviewSetup, sync
from review.weekly import (
    BudgetLimit,
    Verdict,
    budget_alert,
    metric_figures,
    parse_week,
    resolve_verdict,
    run_verdicts,
    week_label,
    weekly_report,
    wilson,
)
from review.weekly_export import CSV_COLUMNS, to_csv, to_dict, to_html, to_json, to_markdown
from store.metrics import MetricsPushFailed, WorkflowFigures, push_figures
from tests.helpers import make_workspace, open_setup, run_record

ROOT = Path(__file__).resolve().parent.parent
#: The report's week in these tests: Monday 16 November 2026 to Sunday 22 November (UTC).
W47 = date(2026, 11, 16)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# --- Wilson score interval --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),  # Wilson's worked example as quoted by Newcombe (1998)
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 2, 0.0945, 0.9055),
    ],
)
def test_wilson_matches_known_intervals(k: int, n: int, low: float, high: float) -> None:
    rate = wilson(k, n)
    assert (rate.n, rate.k) == (n, k)
    assert rate.rate == pytest.approx(k / n)
    assert rate.low == pytest.approx(low, abs=5e-5)
    assert rate.high == pytest.approx(high, abs=5e-5)


def test_wilson_with_nothing_to_count_is_none() -> None:
    assert wilson(0, 0) == wilson(0, 0)
    rate = wilson(0, 0)
    assert (rate.n, rate.k, rate.rate, rate.low, rate.high) == (0, 0, None, None, None)
    with pytest.raises(ValueError):
        wilson(3, 2)


@given(
    st.integers(min_value=1, max_value=5000).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_wilson_interval_holds_the_rate_inside_zero_one(kn: tuple[int, int]) -> None:
    k, n = kn
    rate = wilson(k, n)
    assert rate.low is not None and rate.high is not None and rate.rate is not None
    assert 0.0 <= rate.low <= rate.rate <= rate.high <= 1.0
    # Symmetric: the interval of the failures mirrors the interval of the successes.
    other = wilson(n - k, n)
    assert other.low == pytest.approx(1 - rate.high, abs=1e-12)


# --- the per-run verdict ----------------------------------------------------------------------


def test_reviewers_who_agree_give_that_verdict() -> None:
    v = resolve_verdict([{"task_success": "pass"}, {"task_success": "pass"}])
    assert v == Verdict({"task_success": "pass"}, "unanimous", (), 2)


def test_reviewers_who_disagree_give_the_majority() -> None:
    grades = [{"task_success": "pass"}, {"task_success": "fail"}, {"task_success": "pass"}]
    v = resolve_verdict(grades)
    assert v is not None and v.values == {"task_success": "pass"} and v.basis == "majority"


def test_a_tie_is_tied_and_settles_nothing() -> None:
    v = resolve_verdict(
        [{"task_success": "pass", "tone": 5}, {"task_success": "fail", "tone": 5.0}]
    )
    assert v is not None and v.basis == "tied"
    assert v.tied == ("task_success",) and v.values == {"tone": 5}
    assert v.is_tied() and v.is_tied(["task_success"]) and not v.is_tied(["tone"])


def test_an_adjudication_wins_over_the_reviewers() -> None:
    grades = [{"task_success": "pass"}, {"task_success": "pass"}]
    v = resolve_verdict(grades, {"task_success": "fail"})
    assert v == Verdict({"task_success": "fail"}, "adjudicated", (), 2)
    assert resolve_verdict([]) is None


@settings(max_examples=200)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"task_success": st.sampled_from(["pass", "fail"])},
            optional={"intervention": st.sampled_from(["yes", "no"])},
        ),
        min_size=1,
        max_size=6,
    ),
    st.randoms(),
)
def test_the_verdict_does_not_depend_on_the_order_of_the_grades(grades, rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(grades)
    rnd.shuffle(shuffled)
    assert resolve_verdict(grades) == resolve_verdict(shuffled)


# --- weeks ------------------------------------------------------------------------------------


def test_weeks_parse_and_name_iso_weeks() -> None:
    assert parse_week("2026-W47") == W47
    assert parse_week("2027-W01") == date(2027, 1, 4)
    assert week_label(date(2026, 12, 28)) == "2026-W53"
    for bad in ("2026-47", "2026-W7", "W47", "2025-W53", "2026-W00"):
        with pytest.raises(ValueError):
            parse_week(bad)


# --- a workspace with runs and grades ---------------------------------------------------------


def _workspace(
    tmp_path: Path, runs: list[dict[str, Any]], **kw: Any
) -> tuple[sqlite3.Connection, ReviewSetup]:
    root = make_workspace(tmp_path / "ws", runs, default_rate=1.0, **kw)
    conn, setup = open_setup(root)
    sync(conn, setup, push_grades=False)
    return conn, setup


def _run(
    i: int, start: str, workflow: str = "billing-support", cost: float = 0.01
) -> dict[str, Any]:
    rec = run_record(i, workflow=workflow, start=start)
    rec["cost_usd"] = cost
    return rec


def _pk(conn: sqlite3.Connection, i: int) -> int:
    return int(
        conn.execute("SELECT id FROM runs WHERE run_id = ?", (f"trace-{i:05d}",)).fetchone()[0]
    )


def _grade(
    conn: sqlite3.Connection,
    setup: ReviewSetup,
    i: int,
    reviewer: str,
    success: str,
    intervention: str = "no",
) -> None:
    run = _pk(conn, i)
    for criterion, value in (
        ("task_success", success),
        ("intervention", intervention),
        ("policy", "safe"),
    ):
        set_value(conn, run, reviewer, setup.rubric, criterion, value)


def _adjudicate(
    conn: sqlite3.Connection, setup: ReviewSetup, i: int, values: dict[str, str]
) -> None:
    stamp = "2026-11-24T09:00:00.000000Z"
    conn.execute(
        'INSERT INTO adjudications (run, rubric_id, rubric_version, "values", adjudicator, '
        "created_at, updated_at) VALUES (?, ?, ?, ?, 'lead', ?, ?)",
        (_pk(conn, i), setup.rubric.id, setup.rubric.version, json.dumps(values), stamp, stamp),
    )


def _week(report, workflow: str = "billing-support", index: int = -1):  # type: ignore[no-untyped-def]
    wf = next(w for w in report.workflows if w.workflow == workflow)
    return wf.weeks[index]


@pytest.fixture
def graded(tmp_path: Path) -> tuple[sqlite3.Connection, ReviewSetup]:
    """Ten billing-support runs in 2026-W47, graded so every verdict rule is used once."""
    runs = [_run(i, f"2026-11-{16 + i % 7:02d}T10:00:00Z") for i in range(10)]
    conn, setup = _workspace(tmp_path, runs)
    _grade(conn, setup, 0, "ana", "pass")  # one reviewer: pass
    _grade(conn, setup, 1, "ana", "pass")  # agree: pass
    _grade(conn, setup, 1, "ben", "pass")
    _grade(conn, setup, 2, "ana", "fail", "yes")  # majority: fail, intervention yes
    _grade(conn, setup, 2, "ben", "fail", "yes")
    _grade(conn, setup, 2, "chen", "pass", "yes")
    _grade(conn, setup, 3, "ana", "pass")  # tie: disputed, out of the rates
    _grade(conn, setup, 3, "ben", "fail")
    _grade(conn, setup, 4, "ana", "pass")  # tie settled by an adjudicator: fail
    _grade(conn, setup, 4, "ben", "fail")
    _adjudicate(conn, setup, 4, {"task_success": "fail", "intervention": "yes"})
    set_escalate(conn, _pk(conn, 2), "ana", setup.rubric, True)
    return conn, setup


def test_rates_follow_the_verdict_rules(graded: tuple[sqlite3.Connection, ReviewSetup]) -> None:
    conn, setup = graded
    week = _week(weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW))
    assert (week.verdicts, week.tied, week.adjudicated) == (5, 1, 1)
    # pass (0), pass (1), fail (2, majority), fail (4, adjudicated); 3 is disputed.
    assert (week.task_success.k, week.task_success.n) == (2, 4)
    assert (week.intervention.k, week.intervention.n) == (2, 4)
    assert week.task_success.low == pytest.approx(wilson(2, 4).low)
    assert week.flagged == 1
    verdicts = run_verdicts(conn, setup.rubric)
    assert verdicts[_pk(conn, 4)].basis == "adjudicated"
    assert verdicts[_pk(conn, 3)].basis == "tied"
    assert verdicts[_pk(conn, 2)].values["task_success"] == "fail"
    assert set(run_verdicts(conn, setup.rubric, [_pk(conn, 0)])) == {_pk(conn, 0)}


def test_coverage_is_graded_of_sampled(graded: tuple[sqlite3.Connection, ReviewSetup]) -> None:
    conn, setup = graded
    week = _week(weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW))
    sampled = conn.execute("SELECT count(DISTINCT run) FROM assignments").fetchone()[0]
    assert week.runs == 10 and week.sampled == sampled == 10
    assert week.graded == 5 and week.coverage == pytest.approx(0.5)
    # An incomplete grade is not graded.
    set_value(conn, _pk(conn, 5), "ana", setup.rubric, "task_success", "pass")
    week = _week(weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW))
    assert week.graded == 5


def test_agreement_is_per_week_with_its_n(tmp_path: Path) -> None:
    """Each week's agreement is over that week's runs graded twice, with n (runs compared, not
    runs rated), marked too few under 10, and equal to the `krippendorff` package's alpha."""
    import krippendorff
    import numpy as np

    runs = [_run(i, f"2026-11-{16 + i % 7:02d}T10:00:00Z") for i in range(12)]
    runs += [_run(20 + i, f"2026-11-{9 + i % 7:02d}T10:00:00Z") for i in range(3)]
    conn, setup = _workspace(tmp_path, runs)
    w47 = {i: ("pass", "fail" if i % 4 == 0 else "pass") for i in range(11)}
    for i, (a, b) in w47.items():
        _grade(conn, setup, i, "ana", a)
        _grade(conn, setup, i, "ben", b)
    _grade(conn, setup, 11, "ana", "fail")  # rated once: not compared
    _grade(conn, setup, 20, "ana", "pass")  # W46: one run compared, all alike
    _grade(conn, setup, 20, "ben", "pass")
    report = weekly_report(conn, setup.rubric, weeks=2, week=W47, now=NOW)
    w46, now = report.workflows[0].weeks
    assert now.agreement is not None and w46.agreement is not None
    assert (now.agreement.compared, now.agreement.rated, now.agreement.too_few) == (11, 12, False)
    codes = {"pass": 0.0, "fail": 1.0}
    data = np.array([[codes[a] for a, _ in w47.values()], [codes[b] for _, b in w47.values()]])
    want = krippendorff.alpha(data, level_of_measurement="nominal")
    assert now.agreement.alpha == pytest.approx(want, abs=1e-9)
    assert now.agreement.level == "nominal" and now.agreement.criterion == "task_success"
    assert (w46.agreement.compared, w46.agreement.too_few, w46.agreement.alpha) == (1, True, None)
    # Shown with its n in the exports: the table's column, the CSV's columns.
    assert "α 0.00 (n 11)" not in to_markdown(report)
    assert f"α {want:.2f} (n 11)" in to_markdown(report)
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [r["agreement_runs"] for r in rows] == ["1", "11"]
    assert [r["agreement_too_few"] for r in rows] == ["true", "false"]
    assert to_dict(report)["workflows"][0]["weeks"][1]["agreement"]["compared"] == 11


def test_a_dominated_week_gets_the_note(tmp_path: Path) -> None:
    runs = [_run(i, f"2026-11-{16 + i % 7:02d}T10:00:00Z") for i in range(12)]
    conn, setup = _workspace(tmp_path, runs)
    for i in range(12):  # all pass but one disagreement: 92 % agreement, alpha about 0
        _grade(conn, setup, i, "ana", "pass")
        _grade(conn, setup, i, "ben", "fail" if i == 0 else "pass")
    week = _week(weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW))
    a = week.agreement
    assert a is not None and a.percent_agreement is not None and a.alpha is not None
    assert a.percent_agreement >= 0.8 and a.alpha < 0.4
    assert a.note is not None and "pass is 96% of the ratings" in a.note


def test_push_defaults_to_the_last_complete_week_with_grades(
    graded: tuple[sqlite3.Connection, ReviewSetup],
) -> None:
    from review.weekly import last_graded_week

    conn, setup = graded  # grades on runs of 2026-W47
    assert last_graded_week(conn, setup.rubric, NOW) == W47  # NOW is in W48
    assert last_graded_week(conn, setup.rubric, datetime(2026, 12, 9, tzinfo=UTC)) == W47
    # While W47 is the current week it is not complete: no week before it has grades.
    assert last_graded_week(conn, setup.rubric, datetime(2026, 11, 20, tzinfo=UTC)) is None


def test_a_skipped_run_is_counted_apart(graded: tuple[sqlite3.Connection, ReviewSetup]) -> None:
    """A run skipped as not judgeable is neither graded nor to do; one that someone else graded
    is graded."""
    from review.grading import set_skip

    conn, setup = graded
    set_skip(conn, _pk(conn, 6), "ana", setup.rubric, "no output to judge")
    set_skip(conn, _pk(conn, 1), "chen", setup.rubric, "not my language")  # ana, ben graded it
    week = _week(weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW))
    assert (week.graded, week.skipped) == (5, 1)
    assert week.coverage == pytest.approx(0.5)


def test_runs_fall_in_their_utc_week(tmp_path: Path) -> None:
    runs = [
        _run(0, "2026-11-15T23:59:59.999Z"),  # Sunday, last moment of W46
        _run(1, "2026-11-16T00:00:00Z"),  # Monday, first moment of W47
        _run(2, "2026-11-16T00:30:00+01:00"),  # Sunday 23:30 UTC: W46
        _run(3, "2026-11-22T23:59:59Z"),  # W47
        _run(4, "2026-11-23T00:00:00Z"),  # W48, after the window
        _run(5, "2026-11-08T23:00:00Z"),  # W45, before the window
    ]
    conn, setup = _workspace(tmp_path, runs)
    report = weekly_report(conn, setup.rubric, weeks=2, week=W47, now=NOW)
    assert report.weeks == ["2026-W46", "2026-W47"]
    assert [w.runs for w in report.workflows[0].weeks] == [2, 2]
    assert [w.sampled for w in report.workflows[0].weeks] == [2, 2]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 21 * 24 * 3600 - 1), min_size=1, max_size=30))
def test_each_run_is_counted_once_in_its_week(tmp_path_factory, offsets: list[int]) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
    runs = [
        _run(i, datetime.fromtimestamp(start + s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for i, s in enumerate(offsets)
    ]
    conn, setup = _workspace(tmp_path_factory.mktemp("weeks"), runs)
    report = weekly_report(conn, setup.rubric, weeks=3, week=W47, now=NOW)
    expected = [sum(1 for s in offsets if s // (7 * 24 * 3600) == i) for i in range(3)]
    assert [w.runs for w in report.workflows[0].weeks] == expected


def test_cost_and_budget_alerts(tmp_path: Path) -> None:
    runs = [_run(i, f"2026-11-{2 + i:02d}T10:00:00Z", cost=1.0) for i in range(9)]
    runs.append(_run(9, "2026-10-30T10:00:00Z", cost=50.0))  # last month: not counted
    conn, setup = _workspace(tmp_path, runs)

    def budget(monthly: float) -> Any:
        limits = {"billing-support": BudgetLimit(monthly, (0.5, 0.8, 1.0))}
        report = weekly_report(conn, setup.rubric, weeks=2, week=W47, now=NOW, budgets=limits)
        return report.workflows[0].budget

    b = budget(20.0)  # 9 of 20: 45 %, no alert yet
    assert (b.month, b.spent_usd, b.used, b.alert) == ("2026-11", 9.0, 0.45, None)
    assert budget(18.0).alert == 0.5
    assert budget(11.25).alert == 0.8
    assert budget(9.0).alert == 1.0
    assert budget(4.0).alert == 1.0 and budget(4.0).used == pytest.approx(2.25)
    assert budget_alert(0.79, (0.5, 0.8, 1.0)) == 0.5
    report = weekly_report(conn, setup.rubric, weeks=2, week=W47, now=NOW)
    assert report.workflows[0].budget.monthly_usd is None
    week = _week(report, index=0)
    assert (week.runs, week.cost_usd, week.cost_per_run) == (2, 2.0, 1.0)  # 9 and 10 November


def test_spend_is_counted_to_the_end_of_a_past_week(tmp_path: Path) -> None:
    runs = [_run(0, "2026-11-20T10:00:00Z", cost=2.0), _run(1, "2026-11-24T10:00:00Z", cost=5.0)]
    conn, setup = _workspace(tmp_path, runs)
    report = weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW)
    assert report.as_of == "2026-11-23T00:00:00.000000Z"
    assert report.workflows[0].budget.spent_usd == 2.0


def test_incidents_count_in_the_week_they_start(tmp_path: Path) -> None:
    incidents = [
        {"id": f"INC-{i}", "title": "errors", "workflow": "billing-support", "starts_at": at}
        for i, at in enumerate(
            ["2026-11-16T01:00:00Z", "2026-11-22T23:00:00Z", "2026-11-23T01:00:00Z"]
        )
    ]
    conn, setup = _workspace(tmp_path, [_run(0, "2026-11-17T10:00:00Z")], incidents=incidents)
    assert _week(weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW)).incidents == 2


def test_the_trend_compares_with_the_previous_week(tmp_path: Path) -> None:
    runs = [_run(i, f"2026-11-{9 + 7 * (i % 2):02d}T10:00:00Z") for i in range(8)]
    conn, setup = _workspace(tmp_path, runs)
    # W46 (even i): 1 pass of 4; W47 (odd i): 3 passes of 4.
    for i in range(8):
        _grade(conn, setup, i, "ana", "pass" if (i % 2 and i != 7) or i == 0 else "fail")
    wf = weekly_report(conn, setup.rubric, weeks=3, week=W47, now=NOW).workflows[0]
    assert wf.series("task_success") == [None, 0.25, 0.75]
    assert wf.change("task_success") == pytest.approx(0.5)
    assert wf.change("intervention") == pytest.approx(0.0)


def test_one_workflow_only(graded: tuple[sqlite3.Connection, ReviewSetup]) -> None:
    conn, setup = graded
    report = weekly_report(conn, setup.rubric, week=W47, now=NOW, workflow="crm-update")
    assert [w.workflow for w in report.workflows] == ["crm-update"]
    assert all(w.runs == 0 for w in report.workflows[0].weeks)


# --- exports ----------------------------------------------------------------------------------

EVIL = "<script>alert(1)</script>|[x](https://evil.example)*b*"


@pytest.fixture
def evil_report(tmp_path: Path):  # type: ignore[no-untyped-def]
    runs = [
        _run(0, "2026-11-17T10:00:00Z", workflow=EVIL),
        _run(1, "2026-11-17T11:00:00Z", workflow="=HYPERLINK(1)"),
    ]
    conn, setup = _workspace(tmp_path, runs)
    _grade(conn, setup, 0, "ana", "pass")
    return weekly_report(conn, setup.rubric, weeks=2, week=W47, now=NOW)


def test_html_escapes_workflow_names(evil_report) -> None:  # type: ignore[no-untyped-def]
    page = to_html(evil_report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<a " not in page


def test_markdown_shows_workflow_names_literally(evil_report) -> None:  # type: ignore[no-untyped-def]
    text = to_markdown(evil_report)
    heading = next(line for line in text.splitlines() if "script" in line)
    assert heading == (
        r"## &lt;script&gt;alert\(1\)&lt;/script&gt;\|\[x\]\(https://evil.example\)\*b\*"
    )
    assert "<script>" not in text


def test_csv_and_json_carry_the_figures(evil_report) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(to_csv(evil_report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["workflow"] for r in rows} == {EVIL, "'=HYPERLINK(1)"}
    evil = [r for r in rows if r["workflow"] == EVIL]
    assert [r["week"] for r in evil] == ["2026-W46", "2026-W47"]
    assert (evil[1]["task_success_k"], evil[1]["task_success_n"]) == ("1", "1")
    data = json.loads(to_json(evil_report))
    assert data == to_dict(evil_report)
    assert set(data) == {"rubric", "week", "weeks", "as_of", "workflows"}
    wf = next(w for w in data["workflows"] if w["workflow"] == EVIL)
    assert set(wf) == {"workflow", "weeks", "trend", "budget"}
    assert wf["weeks"][1]["task_success"] == {
        "n": 1,
        "k": 1,
        "rate": 1.0,
        "low": pytest.approx(0.2065, abs=1e-4),
        "high": 1.0,
    }
    assert wf["trend"]["task_success"] == {"series": [None, 1.0], "change": None}


# --- CLI --------------------------------------------------------------------------------------


def agentdeck(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    from tests.test_cli import agentdeck as run

    return run(*args, cwd=cwd)


def assert_one_line_error(
    done: subprocess.CompletedProcess[str], *needles: str, code: int = 2
) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, synced once (its grades come with the file store)."""
    from tests.conftest import copy_sample_data

    root = copy_sample_data(tmp_path_factory.mktemp("demo") / "ws")
    done = agentdeck("-w", str(root), "sync", "--no-push")
    assert done.returncode in (0, 1), done.stderr
    return root


def test_the_demo_gives_a_weekly_report_in_every_format(demo_ws: Path, tmp_path: Path) -> None:
    table = agentdeck("report", "weekly", "-w", str(demo_ws), "--week", "2026-W46")
    assert table.returncode == 0, table.stderr
    for workflow in ("billing-support", "crm-update", "refund-approvals"):
        assert workflow in table.stdout
    assert "2026-W43" in table.stdout and "2026-W46" in table.stdout
    data = json.loads(
        agentdeck(
            "report", "weekly", "-w", str(demo_ws), "--week", "2026-W46", "--format", "json"
        ).stdout
    )
    assert data["week"] == "2026-W46" and len(data["weeks"]) == 4
    billing = next(w for w in data["workflows"] if w["workflow"] == "billing-support")
    assert billing["weeks"][-1]["task_success"]["n"] > 0
    assert billing["budget"]["monthly_usd"] == 5
    out = tmp_path / "weekly.csv"
    done = agentdeck(
        "report", "weekly", "-w", str(demo_ws), "--weeks", "2", "--format", "csv", "-o", str(out)
    )
    assert done.returncode == 0 and str(out) in done.stdout
    assert out.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    md = agentdeck(
        "report", "weekly", "-w", str(demo_ws), "--workflow", "crm-update", "--format", "markdown"
    )
    assert md.returncode == 0 and "## crm-update" in md.stdout and "billing" not in md.stdout
    page = agentdeck("report", "weekly", "-w", str(demo_ws), "--format", "html")
    assert page.returncode == 0 and page.stdout.startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--week", "2026-47"), ("--week", "YYYY-Www")),
        (("--week", "2025-W53"), ("--week", "no week 53")),
        (("--weeks", "0"), ("--weeks", "1 to 104")),
        (("--weeks", "many"), ("--weeks", "1 to 104")),
        (("--workflow", "nope"), ("--workflow 'nope'", "billing-support")),
        (("--push",), ("[metrics]",)),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    demo_ws: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    assert_one_line_error(agentdeck("report", "weekly", "-w", str(demo_ws), *args), *needles)


def test_an_unreachable_gateway_still_writes_the_report(demo_ws: Path, tmp_path: Path) -> None:
    from tests.servers import free_port

    ws = tmp_path / "ws"
    import shutil

    shutil.copytree(demo_ws, ws)
    url = f"http://127.0.0.1:{free_port()}"
    with (ws / "agentdeck.toml").open("a") as fh:
        fh.write(f'\n[metrics]\npushgateway = "{url}"\ntimeout = 2\n')
    out = tmp_path / "report.json"
    done = agentdeck(
        "report",
        "weekly",
        "-w",
        str(ws),
        "--week",
        "2026-W46",
        "--format",
        "json",
        "-o",
        str(out),
        "--push",
    )
    assert_one_line_error(done, f"Pushgateway {url}", "billing-support", code=1)
    assert json.loads(out.read_text())["workflows"]


def test_without_week_the_report_is_the_apps_week_and_says_so(demo_ws: Path) -> None:
    """The demo's runs end before today: like the app, the report is about the last week with
    runs, and stderr says so."""
    done = agentdeck("report", "weekly", "-w", str(demo_ws), "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["week"] == "2026-W47"
    assert done.stderr.strip() == (
        "weekly report for 2026-W47, the last week with runs here (--week YYYY-Www for another)"
    )


# --- Pushgateway ------------------------------------------------------------------------------


def _gateway_groups(url: str, job: str) -> dict[tuple[str, str], dict[str, float]]:
    """(workflow, week) → metric → value, read back from the gateway's JSON API."""
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=10) as reply:
        data = json.load(reply)
    found: dict[tuple[str, str], dict[str, float]] = {}
    for group in data["data"]:
        labels = group["labels"]
        if labels.get("job") != job:
            continue
        values = {}
        for name, family in group.items():
            if name.startswith("agentdeck_"):
                (metric,) = family["metrics"]
                # The grouping labels are on every gauge of the group, week included.
                assert metric["labels"]["week"] == labels["week"], (name, metric)
                assert metric["labels"]["workflow"] == labels["workflow"], (name, metric)
                values[name] = float(metric["value"])
        found[labels["workflow"], labels["week"]] = values
    return found


def _scraped(url: str, job: str) -> dict[tuple[str, str, str], float]:
    """(metric, workflow, week) → value, as Prometheus scrapes the gateway's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("agentdeck_") and sample.labels.get("job") == job:
                key = (sample.name, sample.labels["workflow"], sample.labels["week"])
                out[key] = sample.value
    return out


def test_figures_round_trip_through_a_real_pushgateway(pushgateway_url: str) -> None:
    figures = [
        WorkflowFigures(
            "billing-support",
            0.75,
            0.25,
            0.5,
            0.8125,
            agreement=0.61,
            task_success_runs=40,
            intervention_runs=39,
            agreement_runs=12,
        ),
        WorkflowFigures("crm/update ü", None, 0.0, 1.0, None),
    ]
    assert push_figures(pushgateway_url, "weekly-roundtrip", figures, week="2026-W46") == 2
    groups = _gateway_groups(pushgateway_url, "weekly-roundtrip")
    assert groups["billing-support", "2026-W46"] == {
        "agentdeck_task_success_rate": 0.75,
        "agentdeck_intervention_rate": 0.25,
        "agentdeck_review_coverage_ratio": 0.5,
        "agentdeck_budget_used_ratio": 0.8125,
        "agentdeck_agreement": 0.61,
        "agentdeck_task_success_runs": 40.0,
        "agentdeck_intervention_runs": 39.0,
        "agentdeck_agreement_runs": 12.0,
    }
    assert groups["crm/update ü", "2026-W46"] == {
        "agentdeck_intervention_rate": 0.0,
        "agentdeck_review_coverage_ratio": 1.0,
    }
    # A second push of the same week replaces its group: a figure gone is gone, not stale.
    push_figures(
        pushgateway_url,
        "weekly-roundtrip",
        [WorkflowFigures("billing-support", 0.5, None, None, None)],
        week="2026-W46",
    )
    assert _gateway_groups(pushgateway_url, "weekly-roundtrip")["billing-support", "2026-W46"] == {
        "agentdeck_task_success_rate": 0.5
    }


def test_pushing_an_old_week_leaves_the_current_week_alone(pushgateway_url: str) -> None:
    job = "weekly-two-weeks"
    current = [WorkflowFigures("billing-support", 0.31, 0.82, 0.91, 0.18, agreement=0.75)]
    old = [WorkflowFigures("billing-support", 0.79, 0.36, 0.82, None, agreement=1.0)]
    push_figures(pushgateway_url, job, current, week="2026-W46")
    push_figures(pushgateway_url, job, old, week="2026-W45")
    groups = _gateway_groups(pushgateway_url, job)
    assert set(groups) == {("billing-support", "2026-W46"), ("billing-support", "2026-W45")}
    assert groups["billing-support", "2026-W46"]["agentdeck_task_success_rate"] == 0.31
    assert groups["billing-support", "2026-W45"]["agentdeck_task_success_rate"] == 0.79
    assert "agentdeck_budget_used_ratio" not in groups["billing-support", "2026-W45"]
    scraped = _scraped(pushgateway_url, job)
    assert scraped["agentdeck_agreement", "billing-support", "2026-W46"] == 0.75
    assert scraped["agentdeck_agreement", "billing-support", "2026-W45"] == 1.0
    with pytest.raises(ValueError, match="ISO week"):
        push_figures(pushgateway_url, job, current, week="last week")


def _push_workspace(demo_ws: Path, tmp_path: Path, url: str, job: str) -> Path:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(demo_ws, ws)
    with (ws / "agentdeck.toml").open("a") as fh:
        fh.write(f'\n[metrics]\npushgateway = "{url}"\njob = "{job}"\n')
    return ws


def _expected_groups(data: dict[str, Any], ws: Path) -> dict[tuple[str, str], dict[str, float]]:
    """What a push of this JSON report must leave in the gateway, agreement recomputed."""
    week = data["week"]
    start = parse_week(week)
    agreement = _alpha_per_workflow(ws / ".agentdeck" / "agentdeck.db", start)
    out = {}
    for wf in data["workflows"]:
        w = wf["weeks"][-1]
        alpha, compared = agreement.get(wf["workflow"], (None, None))
        want = {
            "agentdeck_task_success_rate": w["task_success"]["rate"],
            "agentdeck_intervention_rate": w["intervention"]["rate"],
            "agentdeck_review_coverage_ratio": w["coverage"],
            "agentdeck_budget_used_ratio": wf["budget"]["used"],
            "agentdeck_agreement": alpha,
            "agentdeck_task_success_runs": w["task_success"]["n"],
            "agentdeck_intervention_runs": w["intervention"]["n"],
            "agentdeck_agreement_runs": compared,
        }
        out[wf["workflow"], week] = {k: v for k, v in want.items() if v is not None}
    return out


def test_report_weekly_push_sends_each_workflow_with_its_week(
    demo_ws: Path, tmp_path: Path, pushgateway_url: str
) -> None:
    """Two weeks pushed one after the other: both read back from the real gateway, each with
    its own figures and its own week's agreement, the later push leaving the first alone."""
    ws = _push_workspace(demo_ws, tmp_path, pushgateway_url, "weekly-cli")
    pushed: dict[tuple[str, str], dict[str, float]] = {}
    for week in ("2026-W46", "2026-W45"):
        done = agentdeck(
            "report", "weekly", "-w", str(ws), "--week", week, "--format", "json", "--push"
        )
        assert done.returncode == 0, done.stderr
        assert f"for {week}" in done.stderr and "week label" in done.stderr
        pushed.update(_expected_groups(json.loads(done.stdout), ws))
    groups = _gateway_groups(pushgateway_url, "weekly-cli")
    assert groups == pushed
    assert {week for _, week in groups} == {"2026-W45", "2026-W46"}
    # The demo's weeks differ: the agreement pushed is the week's, not all time's.
    billing = [
        groups["billing-support", w]["agentdeck_agreement"] for w in ("2026-W45", "2026-W46")
    ]
    assert billing[0] != billing[1]
    assert groups["billing-support", "2026-W46"]["agentdeck_agreement_runs"] == 10


def test_push_without_week_sends_the_last_complete_week_with_grades(
    demo_ws: Path, tmp_path: Path, pushgateway_url: str
) -> None:
    """The demo's last week with runs (2026-W47) has no grades: the push is about 2026-W46,
    says so, and pushes its coverage and rates, not a coverage of 0."""
    ws = _push_workspace(demo_ws, tmp_path, pushgateway_url, "weekly-default")
    done = agentdeck("report", "weekly", "-w", str(ws), "--format", "json", "--push")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        "weekly report and push for 2026-W46, the last complete week with grades "
        "(--week YYYY-Www for another)"
    )
    data = json.loads(done.stdout)
    assert data["week"] == "2026-W46"
    groups = _gateway_groups(pushgateway_url, "weekly-default")
    assert {week for _, week in groups} == {"2026-W46"}
    assert groups == _expected_groups(data, ws)
    billing = groups["billing-support", "2026-W46"]
    assert billing["agentdeck_review_coverage_ratio"] > 0.8
    assert "agentdeck_task_success_rate" in billing


def _alpha_per_workflow(db: Path, week: date) -> dict[str, tuple[float | None, int]]:
    """Krippendorff's nominal alpha on task_success per workflow over the runs started in the
    ISO week, and the runs compared, from the grades table by plain SQL and the `krippendorff`
    package: the reference for the pushed agreement."""
    from datetime import timedelta

    import krippendorff
    import numpy as np

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT r.workflow, g.run, g.reviewer, json_extract(g.\"values\", '$.task_success') "
            "FROM grades g JOIN runs r ON r.id = g.run WHERE g.complete = 1 "
            "AND r.started_at >= ? AND r.started_at < ?",
            (f"{week.isoformat()}T00", f"{(week + timedelta(weeks=1)).isoformat()}T00"),
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, tuple[float | None, int]] = {}
    for workflow in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == workflow and r[3] is not None]
        runs = sorted({r[1] for r in mine})
        reviewers = sorted({r[2] for r in mine})
        codes = {"pass": 0.0, "fail": 1.0}
        data = np.full((len(reviewers), len(runs)), np.nan)
        for _, run, reviewer, value in mine:
            data[reviewers.index(reviewer), runs.index(run)] = codes[value]
        pairable = int((np.sum(~np.isnan(data), axis=0) >= 2).sum())
        values = set(data[~np.isnan(data)].tolist())
        if pairable == 0 or len(values) < 2:
            out[workflow] = (None, pairable)
            continue
        with np.errstate(invalid="ignore", divide="ignore"):  # one run: 0/0, undefined
            alpha = float(krippendorff.alpha(data, level_of_measurement="nominal"))
        out[workflow] = (None if np.isnan(alpha) else alpha, pairable)
    return out


def test_metric_figures_carry_the_weeks_agreement_and_n(
    graded: tuple[sqlite3.Connection, ReviewSetup],
) -> None:
    conn, setup = graded
    report = weekly_report(conn, setup.rubric, weeks=1, week=W47, now=NOW)
    (figures,) = metric_figures(report)
    week = report.workflows[0].current
    assert week.agreement is not None and figures.agreement == week.agreement.alpha
    assert figures.agreement_runs == week.agreement.compared
    assert (figures.task_success_rate, figures.task_success_runs) == (0.5, 4)
    assert metric_figures(report, {"billing-support": 0.7})[0].agreement == 0.7


def test_a_push_to_nowhere_names_the_endpoint() -> None:
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(MetricsPushFailed, match=f"Pushgateway {url}.*week 2026-W47"):
        push_figures(
            url, "x", [WorkflowFigures("w", 1.0, None, None, None)], week="2026-W47", timeout=2
        )


def test_a_push_the_gateway_fails_once_is_retried_and_lands_once() -> None:
    """The push goes through the shared client: a 503 is retried (a group's PUT replaces it
    whole, so the retry cannot count twice)."""
    from tests.test_jsonapi import Reply, SequenceServer

    path = "/metrics/job/x/week/2026-W47/workflow/w"
    with SequenceServer({path: [Reply(503, b"busy", "text/plain"), Reply(200, b"", "")]}) as gw:
        pushed = push_figures(
            gw.url, "x", [WorkflowFigures("w", 1.0, None, None, None)], week="2026-W47"
        )
    assert pushed == 1
    assert [(method, seen) for method, seen, _ in gw.seen] == [("PUT", path), ("PUT", path)]


def test_the_report_reads_runs_through_schema_9s_covering_indexes(
    graded: tuple[sqlite3.Connection, ReviewSetup],
) -> None:
    # What keeps the 1M-run report under 2 s (tests/bench/bench_weekly.py): the statements
    # that read every run or assignment of the window touch no table row and sort nothing.
    conn, setup = graded
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        weekly_report(conn, setup.rubric, weeks=2, week=W47, now=NOW)
    finally:
        conn.set_trace_callback(None)
    scans = [
        sql
        for sql in seen
        if sql.startswith(("SELECT count(*), total(cost_usd) FROM runs", "SELECT total(cost_usd)"))
        or sql.startswith("SELECT count(*) FROM (SELECT 1 FROM assignments")
    ]
    assert len(scans) == 2 * 2 + 1  # runs and sampled per week, and the month's spend
    for sql in scans:
        plan = " ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan, (sql, plan)
        assert ("runs_workflow_time_cost" in plan) == ("FROM runs" in sql), plan

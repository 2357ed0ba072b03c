"""The Reports area with real key presses on the demo workspace: the weekly report, agreement,
adjudication (keys set the final grade; the database is checked) and the scorecard."""

from __future__ import annotations

import json
import os
import sqlite3

from conftest import settle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review.adjudication import disputed
from review.session import load_setup
from store.workspace import Workspace
from tui.app import make_app
from tui.screens.reports import ReportsScreen

SIZE = (140, 45)


def rows(ws: Workspace, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(ws.db_path) as conn:
        return [tuple(r) for r in conn.execute(sql, args)]


def plain(content: object) -> str:
    """Rich content rendered as plain text, without styles."""
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(width=200, record=True, color_system=None, file=sink)
        console.print(content)
        return console.export_text()


def text_of(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    """What a Static shows, as plain text."""
    return plain(app.screen.query_one(selector).content)


async def open_reports(pilot) -> ReportsScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("f3")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReportsScreen)
    return screen


async def test_tab_goes_round_the_four_views(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        seen = [screen.view]
        for _ in range(4):
            await pilot.press("tab")
            seen.append(screen.view)
        assert seen == ["weekly", "agreement", "adjudication", "scorecard", "weekly"]
        await pilot.press("shift+tab")
        assert screen.view == "scorecard"
        assert "Scorecard" in text_of(app, "#reports-tabs")


async def test_the_weekly_view_shows_each_workflow_of_the_report(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        assert screen.weekly is not None
        names = [wf.workflow for wf in screen.weekly.workflows]
        assert names == ["billing-support", "crm-update", "refund-approvals"]
        titles = [plain(s.content) for s in screen.query(".wf-title")]
        assert [t.split()[0] for t in titles] == names
        trends = [plain(s.content) for s in screen.query(".trend")]
        assert len(trends) == len(names)
        # On one 0–100 % scale: billing-support's success 91%, 79%, 31% in W44–W46.
        first = trends[0].splitlines()[0]
        assert first.startswith("success") and " 91%   79%   31%     —" in first
        # The last week with runs is the report's week (the demo ends before today).
        assert "the last week with runs" in text_of(app, "#weekly-head")


async def test_the_weekly_view_shows_agreement_per_week_with_its_n(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        assert screen.weekly is not None
        trends = [plain(s.content) for s in screen.query(".trend")]
        for wf, trend in zip(screen.weekly.workflows, trends, strict=True):
            line = next(x for x in trend.splitlines() if x.startswith("agreement α"))
            shown = [w for w in wf.weeks if w.agreement is not None and w.agreement.compared]
            for w in shown:
                a = w.agreement
                assert a is not None
                few = ", too few" if a.compared < 10 else ""
                alpha = "—" if a.alpha is None else f"{a.alpha:.2f}"
                assert f"{w.week[-3:]} {alpha} (n {a.compared}{few})" in line, line
            if not shown:
                assert "no run of these weeks graded by two reviewers" in line
        billing = next(t for t in trends if "success" in t)
        assert "W45 1.00 (n 3, too few) · W46 0.75 (n 10)" in billing


async def test_the_agreement_view_gives_n_too_few_undefined_resamples_and_the_note(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab")
        assert screen.agreement is not None
        shown = " ".join(text_of(app, "#agreement-body").split())
        by_name = {c["criterion"]: c for c in screen.agreement["criteria"]}
        for name, c in by_name.items():
            few = " few" if c["pairable_units"] < 10 else ""
            assert f"{name}{few} {c['pairable_units']} of {c['units']}" in shown
        assert "tool_use few 7 of 72" in shown and "task_success 29 of 124 3" in shown
        assert "under 10 compared, too few for the figures to say much" in shown
        assert "policy: 90% agreement but alpha -0.04: safe is 95% of the ratings" in shown
        lost = by_name["policy"]["intervals"]["undefined_resamples"]["krippendorff_alpha"]
        assert f"policy: α nominal {lost['nominal']} of 1000 resamples" in shown
        assert "ana · chen 4 too few 1.00" in shown
        assert "two of three" not in shown


async def test_the_agreement_view_is_the_report_of_the_current_rubric(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab")
        assert screen.agreement is not None
        version = load_setup(demo_workspace).rubric.version
        criteria = screen.agreement["criteria"]
        assert criteria and {c["rubric_version"] for c in criteria} == {version}
        shown = text_of(app, "#agreement-body")
        for c in criteria:
            assert c["criterion"] in shown
        assert {r["reviewer"] for r in screen.agreement["reviewers"]} == {"ana", "ben", "chen"}


async def test_keys_set_a_final_grade_and_the_reviewers_grades_stay(
    demo_workspace: Workspace,
) -> None:
    setup = load_setup(demo_workspace)
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        assert screen.view == "adjudication"
        first, second = screen.disputes[0], screen.disputes[1]
        before = rows(
            demo_workspace,
            'SELECT reviewer, "values", updated_at FROM grades WHERE run IN (?, ?) ORDER BY 1',
            first.run,
            second.run,
        )
        # First run: fail on task success, then save; the next disputed run opens at once.
        # Second run: take the second reviewer's whole grade, then save.
        await pilot.press("f", "enter", "]", "]", "enter")
        await settle(pilot)
        saved = dict(
            (r, json.loads(v))
            for r, v in rows(
                demo_workspace,
                'SELECT run, "values" FROM adjudications WHERE adjudicator = ? AND run IN (?, ?)',
                demo_workspace.reviewer,
                first.run,
                second.run,
            )
        )
        assert saved[first.run] == {**first.agreed, "task_success": "fail"}
        assert saved[second.run] == second.grades[1].values
        # Pushed as their own scores: one outbox row each, under the pseudo-reviewer.
        assert rows(
            demo_workspace,
            "SELECT count(*) FROM outbox WHERE reviewer = 'adjudicated' AND run IN (?, ?)",
            first.run,
            second.run,
        ) == [(2,)]
        after = rows(
            demo_workspace,
            'SELECT reviewer, "values", updated_at FROM grades WHERE run IN (?, ?) ORDER BY 1',
            first.run,
            second.run,
        )
        assert after == before
        assert screen.index == 2, "the third disputed run is open"
        with sqlite3.connect(demo_workspace.db_path) as conn:
            left = [d.run for d in disputed(conn, setup.rubric, pending_only=True)]
        assert first.run not in left and second.run not in left


async def test_a_level_key_again_clears_it_and_saving_needs_the_required(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        run = screen.disputes[0]
        await pilot.press("f")
        assert screen.draft is not None and screen.draft.values["task_success"] == "fail"
        await pilot.press("f", "enter")
        await settle(pilot)
        assert screen.draft is not None and "task_success" not in screen.draft.values
        assert screen.disputes[screen.index or 0].run == run.run, "nothing saved, still open"
        assert rows(
            demo_workspace, "SELECT count(*) FROM adjudications WHERE run = ?", run.run
        ) == [(0,)]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    choices=st.lists(st.sampled_from(["[", "]"]), min_size=1, max_size=3),
    pause=st.booleans(),
)
async def test_a_burst_of_final_grades_lands_run_by_run(
    demo_workspace: Workspace, choices: list[str], pause: bool
) -> None:
    """However fast the keys come, each enter saves the run that was open when it was read."""
    import shutil
    import tempfile
    from pathlib import Path

    from store.workspace import load_workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(demo_workspace.root, root)
        ws = load_workspace(root)
        app = make_app(ws)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_reports(pilot)
            await pilot.press("tab", "tab")
            taken = screen.disputes[: len(choices)]
            runs = [d.run for d in taken]
            # Each run: take the last ([) or the first (]) reviewer's whole grade, and save.
            names = {"[": "left_square_bracket", "]": "right_square_bracket"}
            keys = [k for c in choices for k in (names[c], "enter")]
            if pause:
                for k in keys:
                    await pilot.press(k)
                    await settle(pilot)
            else:
                await pilot.press(*keys)
            await settle(pilot)
        got = {r: json.loads(v) for r, v in rows(ws, 'SELECT run, "values" FROM adjudications')}
        want = {
            d.run: d.grades[-1 if c == "[" else 0].values
            for d, c in zip(taken, choices, strict=True)
        }
        assert got == want
        assert sorted(got) == sorted(runs)


async def test_the_scorecard_shows_every_workflow_and_r_checks_the_switches(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("shift+tab")
        assert screen.view == "scorecard"
        assert [r.workflow for r in screen.scorecard] == [
            "billing-support",
            "crm-update",
            "refund-approvals",
        ]
        assert all(r.safe.status == "gap" for r in screen.scorecard), "never checked yet"
        await pilot.press("r")
        await settle(pilot)
        checked = rows(demo_workspace, "SELECT workflow, channel FROM switch_checks ORDER BY 1, 2")
        assert ("billing-support", "primary") in checked
        safe = {r.workflow: r.safe for r in screen.scorecard}
        # The demo's flagd file answers; Unleash (refund-approvals' primary) has no token here,
        # and its second channel (the flagd file) answered.
        assert safe["billing-support"].status == "ok"
        assert safe["refund-approvals"].status == "warn"
        assert "no token" in safe["refund-approvals"].text
        assert "second channel answered" in safe["refund-approvals"].text


def _snapshot_view(presses: tuple[str, ...]):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_reports(pilot)
        if presses:
            await pilot.press(*presses)
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


def test_snapshot_weekly(snap_compare, demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_snapshot_view(()))


def test_snapshot_agreement(snap_compare, demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_snapshot_view(("tab",)))


def test_snapshot_adjudication(snap_compare, demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    presses = ("tab", "tab", "right_square_bracket")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_snapshot_view(presses))


def test_snapshot_scorecard(snap_compare, demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_snapshot_view(("shift+tab",)))


def test_snapshot_agreement_at_80_columns(snap_compare, demo_workspace: Workspace) -> None:
    """At 80 columns the figures keep their names and values; the intervals wait for room."""
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_snapshot_view(("tab",)))


async def test_a_sync_reloads_the_reports_only_while_they_are_shown(
    demo_workspace: Workspace,
) -> None:
    """At the desk, a sync leaves the read thread to the desk; the Reports area reads again
    when it is shown."""
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        loads: list[str] = []
        real = screen.load

        async def counted_load() -> None:
            loads.append(screen.view)
            await real()

        screen.load = counted_load  # type: ignore[method-assign]
        await pilot.press("f1")
        await settle(pilot)
        assert app.services.start_sync()
        await settle(pilot)
        assert loads == [], "hidden: not read again"
        await pilot.press("f3")
        await settle(pilot)
        assert len(loads) == 1
        assert app.services.start_sync()
        await settle(pilot)
        assert len(loads) == 2, "shown: read again after the sync"


async def test_a_saved_final_grade_reads_the_queue_and_the_rest_when_shown(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        first = screen.disputes[0].run
        loads: list[str] = []
        real = screen.load

        async def counted_load() -> None:
            loads.append(screen.view)
            await real()

        screen.load = counted_load  # type: ignore[method-assign]
        await pilot.press("right_square_bracket", "enter")
        await settle(pilot)
        assert loads == [], "one enter reads the queue, not every report"
        assert next(d for d in screen.disputes if d.run == first).adjudicated
        await pilot.press("tab")
        await settle(pilot)
        assert loads == ["scorecard"], "the other views read again when shown"
        await pilot.press("tab")
        await settle(pilot)
        assert loads == ["scorecard"]

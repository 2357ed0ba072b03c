"""The Reports area with real key presses on the demo workspace: the weekly report, agreement,
adjudication (keys set the final grade; the database is checked) and the scorecard."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from conftest import settle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review.adjudication import disputed
from review.session import load_setup
from review.weekly_export import agreement_text
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
        # On one 0–100 % scale: billing-support's success 91 %, 79 %, 31 % in W44–W46, written
        # as the command line writes them.
        first = trends[0].splitlines()[0]
        assert first.startswith("success") and "  91 %  79 %  31 %     –" in first
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
            line = next(x for x in trend.splitlines() if x.startswith("agreement"))
            shown = [w for w in wf.weeks if w.agreement is not None and w.agreement.compared]
            for w in shown:
                a = w.agreement
                assert a is not None
                few = ", too few" if a.compared < 10 else ""
                alpha = "–" if a.alpha is None else f"{a.alpha:.2f}"
                assert f"{w.week[-3:]} α {alpha} (n {a.compared}{few})" in line, line
                # The command line's text for the same figure.
                assert f"{w.week[-3:]} {agreement_text(w)}" in line
            if not shown:
                assert "no run of these weeks graded by two reviewers" in line
        billing = next(t for t in trends if "success" in t)
        assert "W45 α 1.00 (n 3, too few) · W46 α 0.75 (n 10)" in billing


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
        assert "ana · chen 4 too few 1.000" in shown
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
        # Nobody settles a run they graded: the demo's reviewer (ana) skips hers.
        mine = [d for d in screen.disputes if demo_workspace.reviewer not in d.reviewers]
        first, second = mine[0], mine[1]
        assert screen.disputes[0] == first and screen.disputes[1] != second
        before = rows(
            demo_workspace,
            'SELECT reviewer, "values", updated_at FROM grades WHERE run IN (?, ?) ORDER BY 1',
            first.run,
            second.run,
        )
        # First run: fail on task success, then save; the next disputed run opens at once.
        # Second run (the next one ana may settle): take the second reviewer's grade, then save.
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
        assert screen.disputes[screen.index or 0] == mine[2], "the next one to settle is open"
        with sqlite3.connect(demo_workspace.db_path) as conn:
            left = [d.run for d in disputed(conn, setup.rubric, pending_only=True)]
        assert first.run not in left and second.run not in left


async def test_a_level_key_again_keeps_it_backspace_clears_and_saving_needs_the_required(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        run = screen.disputes[0]
        await pilot.press("f")
        assert screen.draft is not None and screen.draft.values["task_success"] == "fail"
        await pilot.press("f")  # a double tap keeps the answer
        assert screen.draft is not None and screen.draft.values["task_success"] == "fail"
        await pilot.press("backspace", "enter")
        await settle(pilot)
        assert screen.draft is not None and "task_success" not in screen.draft.values
        assert screen.disputes[screen.index or 0].run == run.run, "nothing saved, still open"
        assert "not saved: set task_success first" in text_of(app, "#dispute-detail")
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
            mine = [d for d in screen.disputes if ws.reviewer not in d.reviewers]
            taken = mine[: len(choices)]
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


SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


@SIZES
def test_snapshot_weekly_scrolled_to_its_end(
    snap_compare, demo_workspace: Workspace, size: tuple[int, int]
) -> None:
    """The last workflow's weeks, reached with the keyboard."""
    app = make_app(demo_workspace)
    assert snap_compare(app, terminal_size=size, run_before=_snapshot_view(("end",)))


@SIZES
def test_snapshot_adjudication_with_the_run_open(
    snap_compare, demo_workspace: Workspace, size: tuple[int, int]
) -> None:
    """The fourth disputed run (ben and chen differ on intervention and policy), opened."""
    app = make_app(demo_workspace)
    presses = ("tab", "tab", "j", "j", "j", "o")
    assert snap_compare(app, terminal_size=size, run_before=_snapshot_view(presses))


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


# --- reading with the keyboard ------------------------------------------------------------------


async def test_every_view_scrolls_with_the_keys_and_has_the_focus(
    demo_workspace: Workspace,
) -> None:
    """At 80x24 the weekly report holds three workflows below the screen: keys reach the last."""
    from textual.containers import VerticalScroll

    app = make_app(demo_workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_reports(pilot)
        for view in ("weekly", "agreement", "scorecard"):
            while screen.view != view:
                await pilot.press("tab")
            await settle(pilot)
            scroll = screen.query_one(f"#{view}", VerticalScroll)
            assert app.focused is scroll, f"{view} has the focus when shown"
            assert scroll.max_scroll_y > 0, f"{view} is taller than 80x24"
            await pilot.press("end")
            await settle(pilot)
            assert scroll.scroll_y == scroll.max_scroll_y
            await pilot.press("home", "j", "down")
            await settle(pilot)
            assert scroll.scroll_y == 2
            await pilot.press("k", "space")
            await settle(pilot)
            assert scroll.scroll_y > 2, "space is a page"
            await pilot.press("pageup", "up")
            await settle(pilot)
            assert scroll.scroll_y == 0
        # The weekly report's last workflow is reached (its rows are inside the scroll).
        while screen.view != "weekly":
            await pilot.press("tab")
        await pilot.press("end")
        await settle(pilot)
        weekly = screen.query_one("#weekly", VerticalScroll)
        last = list(screen.query(".workflow"))[-1]
        assert last.region.bottom <= weekly.region.bottom
        assert last.region.y >= weekly.region.y


async def test_the_wheel_scrolls_the_weekly_report(demo_workspace: Workspace) -> None:
    from textual.containers import VerticalScroll

    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_reports(pilot)
        weekly = screen.query_one("#weekly", VerticalScroll)
        assert weekly.max_scroll_y > 0, "at 120x40 refund-approvals is below the screen"
        from textual.events import MouseScrollDown

        # The wheel, as the terminal sends it, over the report (Pilot has no wheel of its own).
        for _ in range(3):
            await pilot._post_mouse_events([MouseScrollDown], "#weekly", offset=(10, 10))
        await settle(pilot)
        assert weekly.scroll_y > 0


async def test_the_queue_follows_the_selection_and_each_run_opens_at_its_top(
    demo_workspace: Workspace,
) -> None:
    from textual.containers import VerticalScroll

    app = make_app(demo_workspace)
    async with app.run_test(size=(100, 10)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        queue = screen.query_one("#dispute-queue", VerticalScroll)
        pane = screen.query_one("#dispute-pane", VerticalScroll)
        assert app.focused is pane
        height = queue.scrollable_content_region.height
        assert len(screen.disputes) + 1 > height, "the queue is taller than the screen"
        await pilot.press("end")
        await settle(pilot)
        assert pane.scroll_y > 0
        for _ in range(len(screen.disputes) - 1):
            await pilot.press("j")
        await settle(pilot)
        line = (screen.index or 0) + 1  # line 0 is the queue's title
        assert screen.index == len(screen.disputes) - 1
        assert queue.scroll_y <= line < queue.scroll_y + height, "the selection is in view"
        assert pane.scroll_y == 0, "the next run is read from its top"
        await pilot.press("home")
        for _ in range(len(screen.disputes) - 1):
            await pilot.press("k")
        await settle(pilot)
        assert screen.index == 0 and queue.scroll_y == 0


# --- adjudication with the evidence ---------------------------------------------------------------


def _open_on(screen: ReportsScreen, want: object) -> list[str]:
    """The j presses from the first disputed run to ``want``."""
    return ["j"] * [d.run for d in screen.disputes].index(want)  # type: ignore[arg-type]


async def test_o_opens_the_run_read_only_and_escape_comes_back(demo_workspace: Workspace) -> None:
    from textual.widgets import ContentSwitcher

    from tui.widgets.run_view import RunView

    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        run = screen.disputes[3]
        await pilot.press(*_open_on(screen, run.run), "o")
        await settle(pilot)
        assert screen.query_one(ContentSwitcher).current == "dispute-run"
        view = screen.query_one("#dispute-run-view", RunView)
        [(inp, out, steps)] = rows(
            demo_workspace,
            "SELECT input, output, (SELECT count(*) FROM steps WHERE run = r.id) FROM runs r "
            "WHERE id = ?",
            run.run,
        )
        assert str(inp)[:40] in view.section_text("input")
        assert str(out)[:40] in view.section_text("output")
        assert f"Steps ({steps})" in "".join(c.plain for _, c in view._blocks)
        # The sample line says why the run is here, not "—".
        header = view.section_text("header")
        who = ", ".join(run.reviewers)
        assert f"sample overlap run: {who} differ on " in header, header
        assert "[read-only]" in header
        draft = dict(screen.draft.values) if screen.draft else {}
        # Read-only: a level key and enter change nothing; space scrolls the run.
        await pilot.press("f", "enter", "space")
        await settle(pilot)
        assert view.scroll_y > 0
        assert screen.draft is not None and screen.draft.values == draft
        assert rows(demo_workspace, "SELECT count(*) FROM adjudications") == [(0,)]
        await pilot.press("escape")
        await settle(pilot)
        assert screen.query_one(ContentSwitcher).current == "adjudication"
        assert screen.disputes[screen.index or 0].run == run.run, "the same dispute"
        assert app.focused is screen.query_one("#dispute-pane")


async def test_a_rationale_is_required_to_override_what_the_reviewers_agreed_and_is_pushed(
    demo_workspace: Workspace,
) -> None:
    """Both reviewers passed task success; failing it needs a rationale, which is typed as text
    (keys that are commands elsewhere included), stored, and pushed as the scores' comment."""
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        run = next(
            d
            for d in screen.disputes
            if d.agreed.get("task_success") == "pass" and demo_workspace.reviewer not in d.reviewers
        )
        await pilot.press(*_open_on(screen, run.run))
        # Fail what both passed, settle the differing criteria, save: refused, nothing written.
        await pilot.press("f", "y", "s", "enter")
        await settle(pilot)
        assert rows(demo_workspace, "SELECT count(*) FROM adjudications") == [(0,)]
        assert screen.disputes[screen.index or 0].run == run.run, "still open"
        shown = text_of(app, "#dispute-detail")
        assert "not saved" in shown and "rationale" in shown
        # The rationale: every key is text, even j, ], ?, tab and p (a level key).
        said = "Refund j] p? over the cap"
        await pilot.press("c", *[{" ": "space"}.get(ch, ch) for ch in said], "tab", "enter")
        await settle(pilot)
        assert screen.draft is not None and screen.draft.comment == said
        assert screen.draft.values["task_success"] == "fail" and screen.view == "adjudication"
        await pilot.press("enter")
        await settle(pilot)
        [(values, comment, who)] = rows(
            demo_workspace, 'SELECT "values", comment, adjudicator FROM adjudications'
        )
        assert json.loads(values)["task_success"] == "fail"
        assert (comment, who) == (said, demo_workspace.reviewer)
        assert app.services.start_sync()
        await settle(pilot)
    assert rows(demo_workspace, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]
    scores = [
        json.loads(line)
        for line in (demo_workspace.root / "store" / "scores.jsonl").read_text().splitlines()
        if line.strip()
    ]
    final = [
        s
        for s in scores
        if s.get("trace_id") == run.run_id
        and (s.get("metadata") or {}).get("kind") == "adjudicated"
    ]
    assert {s["name"] for s in final} >= {"task_success", "intervention", "policy"}
    assert {s["comment"] for s in final} == {said}


async def test_nobody_settles_a_run_they_graded(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        own = next(d for d in screen.disputes if demo_workspace.reviewer in d.reviewers)
        await pilot.press(*_open_on(screen, own.run))
        await settle(pilot)
        assert "you graded this run — ask another adjudicator" in text_of(app, "#dispute-detail")
        before = dict(screen.draft.values) if screen.draft else {}
        await pilot.press("right_square_bracket", "p", "c", "x", "enter")
        await settle(pilot)
        assert rows(demo_workspace, "SELECT count(*) FROM adjudications") == [(0,)]
        assert screen.draft is not None and screen.draft.values == before
        assert not screen.writing and screen.draft.comment == ""
        assert "not taken: you graded this run" in text_of(app, "#dispute-detail")
        assert screen.disputes[screen.index or 0].run == own.run


async def test_only_the_named_adjudicators_settle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import copy_sample_data

    from store.workspace import load_workspace

    root = copy_sample_data(tmp_path / "ws")
    config = root / "agentdeck.toml"
    config.write_text(
        config.read_text().replace("[review]\n", '[review]\nadjudicators = ["ben"]\n', 1)
    )
    ws = load_workspace(root)
    assert ws.config.review.adjudicators == ["ben"]
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_reports(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        assert ws.reviewer not in screen.disputes[0].reviewers
        await pilot.press("right_square_bracket", "enter")
        await settle(pilot)
        assert rows(ws, "SELECT count(*) FROM adjudications") == [(0,)]
        assert "only ben may settle disputes" in text_of(app, "#dispute-detail")


# --- what a new user met (issue 14's Reports review) ----------------------------------------------


def status_of(app) -> str:  # type: ignore[no-untyped-def]
    from tui.widgets.status_line import StatusLine

    return plain(app.screen.query_one(StatusLine).render())


async def test_keys_refused_on_a_run_you_graded_say_so_where_you_look(
    demo_workspace: Workspace,
) -> None:
    """s (a level key), c and enter on a run ana graded: each refused with a word on the status
    line and at the top of the pane; the final rows offer no level keys; nothing is written."""
    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("tab", "tab")
        await settle(pilot)
        own = next(d for d in screen.disputes if demo_workspace.reviewer in d.reviewers)
        await pilot.press(*_open_on(screen, own.run))
        await settle(pilot)
        said = "not taken: you graded this run — ask another adjudicator"
        assert said not in status_of(app)
        detail = text_of(app, "#dispute-detail")
        assert "s safe" not in detail and "v violation" not in detail, "not editable here"
        assert "c rationale" not in detail
        for key in ("s", "c", "enter"):
            screen.said = None
            await pilot.press(key)
            await settle(pilot)
            assert said in status_of(app), key
            # Near the top of the pane, where the eye is (not below the criteria).
            top = text_of(app, "#dispute-detail").splitlines()[:4]
            assert said in "\n".join(top), key
            assert not screen.writing
        assert rows(demo_workspace, "SELECT count(*) FROM adjudications") == [(0,)]
        # Moving on clears it.
        await pilot.press("k")
        await settle(pilot)
        assert said not in status_of(app)


async def test_the_rationale_box_edits_at_its_cursor_and_escape_cancels(
    demo_workspace: Workspace,
) -> None:
    """The desk's editing keys in the rationale box; enter keeps, escape puts back what was
    there before c; the kept rationale is what is saved."""
    from textual import events

    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("tab", "tab")
        await settle(pilot)
        run = screen.disputes[0]
        assert demo_workspace.reviewer not in run.reviewers
        await pilot.press("right_square_bracket", "c", "a", "b", "c")
        await pilot.press("left", "left", "X", "home", "Y")
        await settle(pilot)
        assert screen.draft is not None and screen.draft.comment == "YaXbc"
        assert "Y▏aXbc" in text_of(app, "#dispute-detail"), "the cursor is drawn"
        await pilot.press("end", "space", "d", "e", "f", "ctrl+w", "ctrl+a", "delete")
        await pilot.press("ctrl+e", "backspace", "right", "Z")
        await settle(pilot)
        assert screen.draft.comment == "aXbcZ"
        screen.post_message(events.Paste("one\ntwo"))
        await pilot.press("home")
        screen.post_message(events.Paste("P "))
        await settle(pilot)
        assert screen.draft.comment == "P aXbcZone two"
        await pilot.press("enter")
        await settle(pilot)
        assert not screen.writing and screen.draft.comment == "P aXbcZone two"
        # Escape cancels the edit: what was there before c comes back.
        await pilot.press("c", "ctrl+u", "g", "o", "n", "e", "escape")
        await settle(pilot)
        assert not screen.writing and screen.draft.comment == "P aXbcZone two"
        await pilot.press("enter")
        await settle(pilot)
        assert rows(demo_workspace, "SELECT comment FROM adjudications WHERE run = ?", run.run) == [
            ("P aXbcZone two",)
        ]


@pytest.mark.parametrize("width", [80, 120])
async def test_the_reports_footer_keeps_quit_help_and_the_areas(
    demo_workspace: Workspace, width: int
) -> None:
    from rich.cells import cell_len
    from textual.widgets._footer import FooterKey

    from tui.widgets.key_footer import KeyFooter, key_cells

    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "tab")
        await settle(pilot)
        footer = app.screen.query_one(KeyFooter)
        keys = list(footer.query(FooterKey))
        names = [k.description for k in keys]
        assert {"Quit", "Help", "Review", "On call"} <= set(names), names
        if width == 120:
            assert {"Save final", "Rationale", "Open run"} <= set(names), names
        # What is kept fits whole: nothing is cut mid-word.
        used = sum(key_cells(k.key_display, k.description, compact=footer.compact) for k in keys)
        assert used <= width, (used, names)
        assert all(cell_len(k.description) for k in keys)

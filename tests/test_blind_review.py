"""Blind review: on an overlap run, a reviewer sees no other reviewer's grade until their own is
complete. Two laptops share one file store: Ben grades and syncs on his; Ana's desk pulls his
grade back, hides it while she grades, shows it beside hers once she has committed, and hides
it again if she undoes her grade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import settle

from review import grading
from review.blind import OtherGrade, others_view
from review.session import sync
from store.workspace import load_workspace
from tests.helpers import make_workspace, open_setup, run_record
from tui.app import make_app
from tui.widgets.rubric_panel import RubricPanel

SIZE = (120, 40)


def two_laptops(tmp_path: Path) -> tuple[Path, Path]:
    """Ana's workspace (with the store) and Ben's, whose store is Ana's folder: every run is
    sampled and graded by both (overlap 1.0)."""
    runs = [run_record(i, start=f"2026-01-0{i + 1}T09:00:00Z") for i in range(3)]
    ana = make_workspace(
        tmp_path / "ana", runs, roster=("ana", "ben"), overlap=1.0, default_rate=1.0
    )
    ben = make_workspace(
        tmp_path / "ben", [], reviewer="ben", roster=("ana", "ben"), overlap=1.0, default_rate=1.0
    )
    cfg = ben / "agentdeck.toml"
    cfg.write_text(cfg.read_text().replace('path = "store"', f'path = "{ana / "store"}"'))
    return ana, ben


def ben_grades_first_run(ben: Path) -> int:
    conn, setup = open_setup(ben)
    sync(conn, setup)
    [(pk,)] = conn.execute(
        "SELECT a.run FROM assignments a JOIN runs r ON r.id = a.run WHERE a.reviewer = 'ben' "
        "ORDER BY r.started_at LIMIT 1"
    ).fetchall()
    rubric = setup.rubric
    grading.set_comment(conn, pk, "ben", rubric, "refund went to the wrong card")
    for criterion, value in (("task_success", "fail"), ("intervention", "yes"), ("policy", "safe")):
        grading.set_value(conn, pk, "ben", rubric, criterion, value)
    [(_, _, pushed)] = sync(conn, setup)
    assert pushed is not None and pushed.pushed == 1
    return int(pk)


def panel_text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.desk.query_one(RubricPanel).render())


async def test_the_other_grade_stays_hidden_until_mine_is_complete(tmp_path: Path) -> None:
    ana, ben = two_laptops(tmp_path)
    ben_grades_first_run(ben)
    app = make_app(load_workspace(ana))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        run = app.desk.current_run
        with sqlite3.connect(load_workspace(ana).db_path) as conn:
            [(reviewer, origin)] = conn.execute(
                "SELECT reviewer, origin FROM grades WHERE run = ?", (run,)
            ).fetchall()
        assert (reviewer, origin) == ("ben", "remote"), "Ben's grade arrived with the sync"
        text = panel_text(app)
        assert "1 other grade hidden until yours is complete (blind review)" in text
        assert "wrong card" not in text and "ben" not in text

        # Two of three required criteria: still hidden.
        await pilot.press("p", "n")
        await settle(pilot)
        assert "hidden until yours is complete" in panel_text(app)
        assert "wrong card" not in panel_text(app)

        # Complete: the desk moves on; going back shows Ben's grade beside Ana's.
        await pilot.press("s")
        await settle(pilot)
        assert app.desk.current_run != run
        await pilot.press("k")
        await settle(pilot)
        assert app.desk.current_run == run
        text = panel_text(app)
        assert "others ben · differ on intervention, task_success" in text
        assert "ben: refund went to the wrong card" in text
        assert "ben: fail" in text and "ben: yes" in text and "ben: safe" in text

        # Undone, her grade is no longer committed: blind again.
        await pilot.press("u")
        await settle(pilot)
        assert app.desk.current_run == run
        assert "hidden until yours is complete" in panel_text(app)
        assert "wrong card" not in panel_text(app)


def test_the_blind_rule() -> None:
    ben = OtherGrade("ben", {"task_success": "fail", "tone": 3}, "meh", True, None, "remote")
    chen = OtherGrade("chen", {"task_success": "pass"}, None, False, 2, "remote")
    assert others_view([], None, False).count == 0
    hidden = others_view([ben, chen], {"task_success": "pass"}, False)
    assert (hidden.count, hidden.shown, hidden.hidden) == (2, [], True)
    shown = others_view([ben, chen], {"task_success": "pass"}, True)
    assert (shown.count, shown.shown, shown.hidden) == (2, [ben, chen], False)
    assert shown.differ == {"task_success", "tone"}
    assert others_view([chen], {"task_success": "pass"}, True).differ == frozenset()


def test_a_hostile_reviewer_name_and_comment_are_data(tmp_path: Path) -> None:
    from rich.console import Console

    from tests.helpers import rubric_file
    from tui.widgets.rubric_panel import rubric_text

    rubric = rubric_file(tmp_path)
    evil = OtherGrade(
        "[bold]x[/]\x1b[2J",
        {"task_success": "[red]fail"},
        "\x1b]8;;http://e\x07hi",
        True,
        None,
        "r",
    )
    own = grading.Grade(1, "ana", rubric.id, rubric.version, {"task_success": "pass"}, None)
    text = rubric_text(rubric, own, others=others_view([evil], own.values, True))
    console = Console(record=True, width=200, color_system=None)
    console.print(text)
    shown = console.export_text()
    assert "[bold]x[/]" in shown and "[red]fail" in shown
    assert "\x1b" not in shown and "\x07" not in shown


def test_snapshot_an_overlap_run_after_grading_it(snap_compare, tmp_path: Path) -> None:
    ana, ben = two_laptops(tmp_path)
    ben_grades_first_run(ben)

    async def grade_and_return(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("p", "n", "s", "k")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    app = make_app(load_workspace(ana))
    assert snap_compare(app, terminal_size=SIZE, run_before=grade_and_return)

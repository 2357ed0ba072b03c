"""Nothing broken in silence: cards and runbooks that do not validate are shown in the On call
area (a banner on the board, a problems view, the incident naming its broken runbook), and help
and escape work in every view. Real key presses; what is asserted is what the screen shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import settle
from oncall_helpers import OUTAGE, open_incident
from textual.widgets import Static

from store.workspace import Workspace
from tui.app import make_app

RUNBOOK = "billing-provider-outage.yaml"


def shown(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    """The plain text a Static shows now."""
    return str(app.screen.query_one(selector, Static).render())


def line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def unknown_next(ws: Workspace) -> tuple[Path, int]:
    """The outage runbook's kill-switch step goes on to a step id that does not exist."""
    path = ws.runbooks_dir / RUNBOOK
    path.write_text(path.read_text().replace("next: tell-support", "next: tell-suport"))
    return path, line_of(path, "next: tell-suport")


def no_way_out(ws: Workspace) -> tuple[Path, int]:
    """A step whose every choice comes back to itself: no end can be reached from it."""
    path = ws.runbooks_dir / RUNBOOK
    text = path.read_text()
    text = text.replace(
        '- {label: "Yes, another tool", next: escalate, when: [warn]}',
        '- {label: "Yes, another tool", next: other-cause, when: [warn]}',
    ).replace(
        "- {label: No pattern, next: escalate, when: [ok]}",
        "- {label: No pattern, next: other-cause, when: [ok]}",
    )
    path.write_text(text)
    return path, line_of(path, "- id: other-cause")


@pytest.mark.parametrize("breakage", [unknown_next, no_way_out], ids=["unknown-next", "no-way-out"])
async def test_an_incident_names_its_broken_runbook_and_where(
    demo_workspace: Workspace, breakage
) -> None:  # type: ignore[no-untyped-def]
    path, line = breakage(demo_workspace)
    app = make_app(demo_workspace, area="oncall", sync_on_start=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_incident(pilot, OUTAGE)
        detail = shown(app, "#incident-detail")
        assert (
            f"runbook billing-provider-outage does not validate: runbooks/{RUNBOOK}:{line}"
            in detail
        )
        assert "no runbook for this workflow" not in detail
        banner = shown(app, "#board-banner")
        assert "1 runbook/card does not validate" in banner and "p shows them" in banner
        # The runbook does not start: enter says so and the board stays.
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.view == "board" and app.screen.runbook is None

        await pilot.press("p")
        assert app.screen.view == "problems"
        problems = shown(app, "#problems-body")
        assert f"runbooks/{RUNBOOK}:{line}: step " in problems
        await pilot.press("escape")
        assert app.screen.view == "board"
        assert "p shows them" in shown(app, "#board-banner")
    assert path.is_file()


async def test_a_broken_card_is_counted_and_listed_and_its_runbooks_named(
    demo_workspace: Workspace,
) -> None:
    card = demo_workspace.cards_dir / "crm-update.yaml"
    card.write_text(card.read_text().replace("tier: auto-act", "tier: autoact"))
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # The card, and the crm-update runbooks that now have no card to act through.
        banner = shown(app, "#board-banner")
        assert "3 runbooks/cards do not validate" in banner
        await pilot.press("p")
        problems = shown(app, "#problems-body").splitlines()
        assert any(
            p.startswith(f"cards/crm-update.yaml:{line_of(card, 'tier: autoact')}: tier")
            for p in problems
        ), problems
        assert any("workflow 'crm-update' has no agent card" in p for p in problems), problems
        await pilot.press("escape")
        assert app.screen.view == "board"


async def test_a_file_that_is_not_yaml_is_listed_with_its_line(demo_workspace: Workspace) -> None:
    bad = demo_workspace.runbooks_dir / "zz-broken.yaml"
    bad.write_text("id: zz\nsteps: [\n  {id: a\n")
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        text = shown(app, "#problems-body")
        assert "runbooks/zz-broken.yaml:" in text and "invalid YAML" in text


async def test_help_opens_in_every_view_and_escape_goes_back(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_incident(pilot, OUTAGE)
        screen = app.screen
        for opened_by, view in [([], "board"), (["c"], "card"), (["p"], "problems")]:
            for key in opened_by:
                await pilot.press(key)
            assert screen.view == view
            await pilot.press("question_mark")
            assert screen.view == "help"
            assert "escape or ? closes" in shown(app, "#help-body")
            await pilot.press("j", "k")  # scroll; not the board's moves
            assert screen.view == "help"
            await pilot.press("escape")
            assert screen.view == view
            if view != "board":
                await pilot.press("escape")
                assert screen.view == "board"
        # The board's help lists its keys as remappable bindings.
        await pilot.press("question_mark")
        text = shown(app, "#help-body")
        assert "Help: the incident board" in text and "Problems" in text and "Runbook" in text
        await pilot.press("question_mark")
        assert screen.view == "board"


async def test_help_from_the_runbook_view_returns_to_the_runbook(
    demo_workspace: Workspace,
) -> None:
    """``show_help`` is what the runbook view calls for ``?``; the keys after it go to help."""
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_incident(pilot, OUTAGE)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        runbook = screen.runbook
        assert screen.view == "runbook" and runbook is not None
        screen.show_help([("x", "Test key", "a row the runbook view passes")])
        assert screen.view == "help"
        assert "Test key" in shown(app, "#help-body")
        await pilot.press("1", "escape")  # "1" scrolls nothing and chooses nothing
        await settle(pilot)
        assert screen.view == "runbook" and screen.runbook is runbook
        assert runbook.session is not None and tuple(runbook.session.path) == ("confirm",)


# -- what the operator sees (snapshots) --------------------------------------------------------

SIZES = [(80, 24), (120, 40)]


def _snap_app(ws: Workspace):  # type: ignore[no-untyped-def]
    from oncall_helpers import PINNED_NOW

    app = make_app(ws, area="oncall")
    app.services.now = lambda: PINNED_NOW
    return app


async def _ready(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("view", ["board", "problems"])
def test_a_broken_runbook_on_screen(
    snap_compare, demo_workspace: Workspace, view: str, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    unknown_next(demo_workspace)

    async def show(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        if view == "problems":
            await pilot.press("p")
        await _ready(pilot)

    assert snap_compare(_snap_app(demo_workspace), terminal_size=size, run_before=show)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_help_on_the_board(snap_compare, demo_workspace: Workspace, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def show(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        await pilot.press("question_mark")
        await _ready(pilot)

    assert snap_compare(_snap_app(demo_workspace), terminal_size=size, run_before=show)

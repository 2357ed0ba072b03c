"""Help and escape everywhere: ``?`` opens help in every area, the command palette's Keys opens
the area's own help (which escape closes), and nothing the palette opens outlives escape.
Real key presses in Pilot."""

from __future__ import annotations

import pytest
from conftest import settle
from textual.command import CommandPalette
from textual.widgets import ContentSwitcher, Static

from store.workspace import Workspace
from tui.app import make_app


async def palette(pilot, command: str) -> None:  # type: ignore[no-untyped-def]
    """Open the palette with ctrl+p, type ``command`` and run the first match."""
    await pilot.press("ctrl+p")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*command)
    await settle(pilot)
    await pilot.pause(0.3)  # the palette searches in a worker of its own, then lists
    await pilot.press("enter")
    await settle(pilot)


def textual_keys_panel(app) -> bool:  # type: ignore[no-untyped-def]
    """Textual's own keys panel is mounted (by type: the desk's help is also a "HelpPanel")."""
    from textual.widgets import HelpPanel

    return any(isinstance(w, HelpPanel) for w in app.screen.walk_children())


async def test_question_mark_opens_help_in_reports_and_escape_closes_it(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        for _ in range(4):  # every view, adjudication included (its keys are the rubric's)
            view = screen.view
            await pilot.press("question_mark")
            assert screen.helping
            assert app.screen.query_one(ContentSwitcher).current == "reports-help"
            body = str(screen.query_one("#reports-help-body", Static).render())
            assert "escape or ? closes" in body and "Next view" in body
            if view == "adjudication":
                assert "Save final" in body
            await pilot.press("p", "j")  # neither grades nor moves while help is open
            await pilot.press("escape")
            assert not screen.helping and screen.view == view
            assert app.screen.query_one(ContentSwitcher).current == view
            await pilot.press("tab")
            await settle(pilot)


async def test_tab_in_reports_help_goes_to_the_next_view(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark", "tab")
        await settle(pilot)
        assert not app.screen.helping and app.screen.view == "agreement"


@pytest.mark.parametrize("area", ["review", "oncall", "reports"])
async def test_the_palettes_keys_opens_the_areas_help_and_escape_closes_it(
    demo_workspace: Workspace, area: str
) -> None:
    app = make_app(demo_workspace, area=area)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await palette(pilot, "keys")
        assert app.screen is screen
        assert not textual_keys_panel(app)
        if area == "review":
            assert screen.query_one("#help").display
        elif area == "oncall":
            assert screen.view == "help"
        else:
            assert screen.helping
        await pilot.press("escape")
        await settle(pilot)
        if area == "review":
            assert not screen.query_one("#help").display
            # The desk's help is still there to open again (the palette never removed it).
            await pilot.press("question_mark")
            await settle(pilot)
            assert screen.query_one("#help").display
            await pilot.press("escape")
            await settle(pilot)
            assert not screen.query_one("#help").display
        elif area == "oncall":
            assert screen.view == "board"
        else:
            assert not screen.helping


@pytest.mark.parametrize("area", ["review", "oncall", "reports"])
async def test_the_theme_picker_from_the_palette_closes_with_escape(
    demo_workspace: Workspace, area: str
) -> None:
    app = make_app(demo_workspace, area=area)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        theme = app.theme
        await palette(pilot, "theme")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and app.theme == theme


async def test_reports_help_over_the_open_run_and_not_in_the_rationale_box(
    demo_workspace: Workspace,
) -> None:
    """Help lists the adjudication keys (opening the run, the rationale); over the open run it
    goes back to the run; in the rationale box ``?`` is text."""
    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("tab", "tab")
        await settle(pilot)
        mine = next(
            i for i, d in enumerate(screen.disputes) if demo_workspace.reviewer not in d.reviewers
        )
        await pilot.press(*["j"] * mine, "o")
        await settle(pilot)
        switcher = app.screen.query_one(ContentSwitcher)
        assert switcher.current == "dispute-run"
        await pilot.press("question_mark")
        assert screen.helping and switcher.current == "reports-help"
        body = str(screen.query_one("#reports-help-body", Static).render())
        assert "Open run" in body and "Rationale" in body
        await pilot.press("escape")
        assert not screen.helping and switcher.current == "dispute-run"
        await pilot.press("escape", "c", "question_mark", "enter")
        await settle(pilot)
        assert not screen.helping and switcher.current == "adjudication"
        assert screen.draft is not None and screen.draft.comment == "?"

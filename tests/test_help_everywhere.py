"""Help and escape everywhere: ``?`` opens help in every area, the command palette's Keys opens
the area's own help (which escape closes), and nothing the palette opens outlives escape.
Real key presses in Pilot."""

from __future__ import annotations

import pytest
from conftest import palette, settle
from textual.command import CommandPalette
from textual.widgets import ContentSwitcher, Static

from store.workspace import Workspace
from tui.app import make_app


def reports_help(screen) -> str:  # type: ignore[no-untyped-def]
    """The Reports help as plain text: its head line and its rows."""
    from tui.widgets.overlays import HelpText

    head = str(screen.query_one("#reports-help-head", Static).render())
    return head + "\n" + str(screen.query_one("#reports-help-body", HelpText).render())


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
            body = reports_help(screen)
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


def palette_list(app) -> list[str]:  # type: ignore[no-untyped-def]
    """What the open palette lists, one prompt (title, then help) per entry."""
    from textual.command import CommandList

    commands = app.screen.query_one(CommandList)
    return [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]


FRAMEWORK = ("Quit the application", "Screenshot", "theme", "Theme", "Maximize", "Minimize")


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        ("review", ["Next  j, ↓", "Undo  u", "Find  /", "On call  f2", "Help and keys  ?"]),
        ("oncall", ["Card  c", "Review  f1", "Help and keys  ?"]),
        ("reports", ["Next view  tab", "Review  f1", "Help and keys  ?"]),
    ],
)
async def test_the_palette_lists_agentdecks_commands_with_their_keys(
    demo_workspace: Workspace, area: str, expected: list[str]
) -> None:
    app = make_app(demo_workspace, area=area)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.pause(0.3)  # the palette lists in a worker of its own
        listed = palette_list(app)
        titles = [entry.split("\n")[0] for entry in listed]
        for title in expected:
            assert title in titles, (title, titles)
        assert "Quit  ^q" in titles, "quit is agentdeck's own (every key typed is saved first)"
        assert not [e for e in listed if any(word in e for word in FRAMEWORK)], listed
        # Searching for a framework command finds nothing to run; escape leaves as it was.
        await pilot.press(*"theme")
        await pilot.pause(0.3)
        assert not [e for e in palette_list(app) if "theme" in e.lower()]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CommandPalette)


async def test_the_reports_palette_lists_next_and_prev_run_and_runs_them(
    demo_workspace: Workspace,
) -> None:
    """On adjudication the palette lists both ways through the queue, and each one moves."""
    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("tab", "tab", "j")
        await settle(pilot)
        assert screen.view == "adjudication" and screen.index == 1
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.pause(0.3)  # the palette lists in a worker of its own
        titles = [entry.split("\n")[0] for entry in palette_list(app)]
        assert "Next run  j" in titles and "Prev run  k" in titles, titles
        await pilot.press("escape")
        await settle(pilot)
        await palette(pilot, "Prev run")
        assert app.screen is screen and screen.index == 0
        await palette(pilot, "Next run")
        assert screen.index == 1


async def test_the_reports_help_lists_each_key_once_with_the_scroll_keys_in_columns(
    demo_workspace: Workspace,
) -> None:
    from rich.cells import cell_len

    app = make_app(demo_workspace, area="reports")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        for view in ("weekly", "adjudication"):
            while screen.view != view:
                await pilot.press("tab")
            await pilot.press("question_mark")
            await settle(pilot)
            rows = screen.query_one("#reports-help-body").rows
            keys = [k for k, _, _ in rows]
            assert keys.count("tab") == 1 and keys.count("shift+tab") == 1, keys
            assert not [k for k in keys if "tab," in k], "tab is listed once"
            if view == "weekly":
                assert {"j, k, ↓ ↑", "space, pgdn, pgup", "home, end"} <= set(keys)
            else:
                assert {"j", "k", "c", "o", "home, end"} <= set(keys)
            # Every description starts in one column: no key spills into the next column.
            lines = reports_help(screen).splitlines()
            starts = set()
            for key, what, _ in rows:
                line = next(x for x in lines if x.startswith(f"  {key} ") and what in x)
                starts.add(cell_len(line[: line.index(what, len(key) + 2)]))
            assert len(starts) == 1, (view, starts)
            await pilot.press("escape")


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
        body = reports_help(screen)
        assert "Open run" in body and "Rationale" in body
        await pilot.press("escape")
        assert not screen.helping and switcher.current == "dispute-run"
        await pilot.press("escape", "c", "question_mark", "enter")
        await settle(pilot)
        assert not screen.helping and switcher.current == "adjudication"
        assert screen.draft is not None and screen.draft.comment == "?"


async def test_a_command_from_the_palette_runs_on_the_desk(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first = app.desk.current_run
        await palette(pilot, "Next  j")
        assert app.desk.current_run != first and app.desk.current_run is not None


async def test_sync_now_says_it_started_and_what_it_did(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        app.clear_notifications()
        await pilot.press("p", "n", "s")  # a grade for the outbox
        await settle(pilot)
        await palette(pilot, "sync now")
        notes = [(n.title, str(n.message)) for n in app._notifications]
        assert ("Sync now", "Syncing…") in notes
        summaries = [m for title, m in notes if title == "Sync now" and m.startswith("synced: ")]
        assert summaries and summaries[-1].endswith(" pushed"), notes
        assert app.services.status.last_sync is not None


async def test_sync_now_says_why_it_failed(demo_workspace: Workspace) -> None:
    app = make_app(demo_workspace)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        app.clear_notifications()
        (demo_workspace.root / "store" / "runs.jsonl").rename(
            demo_workspace.root / "store" / "gone.jsonl"
        )
        await palette(pilot, "sync now")
        notes = [(n.title, str(n.message), n.severity) for n in app._notifications]
        failed = [n for n in notes if n[0] == "Sync now" and n[1].startswith("sync failed: ")]
        assert failed and "runs.jsonl" in failed[-1][1] and failed[-1][2] == "error", notes
        assert "\n" not in failed[-1][1]

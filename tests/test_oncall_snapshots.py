"""Snapshots of what an operator sees at 80×24 and 120×40: the incident board, the agent card,
each kind of runbook step, and the kill switch before and after it is sent.

The vendor status page is a real HTTP server on 127.0.0.1 and the clock is pinned (the wait
step shows when its recheck is due). Regenerate with
``uv run pytest tests/test_oncall_snapshots.py --snapshot-update`` and look at the SVGs before
committing them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import settle
from oncall_helpers import OUTAGE, PINNED_NOW, open_incident, point_status_page, status_page

from store.workspace import Workspace
from tui.app import make_app

SIZES = [(80, 24), (120, 40)]
#: Keys from the outage's first step to each kind of step (the HTTP check says "major").
TO_STEP = {
    "check": [],
    "http-check": ["1"],
    "kill-switch": ["1", "1"],
    "note": ["1", "1", "s", *"skip", "enter", *"failed over", "enter"],
    "wait": ["1", "1", "s", *"skip", "enter", *"failed over", "enter"]
    + ["w", *"posted", "enter", "enter"],
    # A key that means nothing on the step: refused, and the keys after it dropped.
    "refused": ["1", "k", *"billing-support"],
    "escalate": ["1", "2"],
    "manual": ["2"],
}
CRM_COST = "INC-2026-1119-01"


@pytest.fixture
def outage_workspace(demo_workspace: Workspace) -> Iterator[Workspace]:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        yield demo_workspace


def _app(ws: Workspace):  # type: ignore[no-untyped-def]
    app = make_app(ws, area="oncall")
    app.services.now = lambda: PINNED_NOW
    return app


async def _ready(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_board(snap_compare, outage_workspace: Workspace, size: tuple[int, int]) -> None:
    async def board(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        await _ready(pilot)

    assert snap_compare(_app(outage_workspace), terminal_size=size, run_before=board)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_card(snap_compare, outage_workspace: Workspace, size: tuple[int, int]) -> None:
    async def card(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        await pilot.press("c")
        await _ready(pilot)

    assert snap_compare(_app(outage_workspace), terminal_size=size, run_before=card)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("kind", list(TO_STEP))
def test_step(snap_compare, outage_workspace: Workspace, kind: str, size: tuple[int, int]) -> None:
    async def step(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        await pilot.press("enter")
        await _ready(pilot)
        for key in TO_STEP[kind]:
            await pilot.press(key)
            await settle(pilot)
        await _ready(pilot)

    assert snap_compare(_app(outage_workspace), terminal_size=size, run_before=step)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("sent", [False, True], ids=["confirming", "verified"])
def test_kill_switch(
    snap_compare, outage_workspace: Workspace, sent: bool, size: tuple[int, int]
) -> None:
    async def switch(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        await pilot.press("enter")
        await _ready(pilot)
        for key in ["1", "1", "k", *"billing-support", "enter", *"provider down"]:
            await pilot.press(key)
            await settle(pilot)
        if sent:
            await pilot.press("enter")
        await _ready(pilot)

    assert snap_compare(_app(outage_workspace), terminal_size=size, run_before=switch)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_restore(snap_compare, outage_workspace: Workspace, size: tuple[int, int]) -> None:
    """The restore step's own key, word and colour: RESTORE, never KILL SWITCH."""

    async def restore(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, OUTAGE)
        await pilot.press("enter")
        await _ready(pilot)
        keys = ["1", "1", "k", *"billing-support", "enter", *"provider down", "enter", "enter"]
        keys += ["enter", "w", *"posted", "enter", "enter", "1", "R", *"restore billing-support"]
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await _ready(pilot)

    assert snap_compare(_app(outage_workspace), terminal_size=size, run_before=restore)


def test_crm_cost_spike_first_step(snap_compare, outage_workspace: Workspace) -> None:
    async def crm(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_incident(pilot, CRM_COST)
        await pilot.press("enter")
        await _ready(pilot)

    assert snap_compare(_app(outage_workspace), terminal_size=(80, 24), run_before=crm)

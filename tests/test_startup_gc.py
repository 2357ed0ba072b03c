"""Start-up with the cyclic collector paused (tui/app.py ``run_async``): paused while the first
screen is built, on again from the first frame, and after the run whatever happened."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from store.workspace import Workspace
from tui.app import make_app
from tui.screens.review import ReviewScreen


async def test_collection_waits_for_the_first_frame(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, bool] = {}
    compose = ReviewScreen.compose

    def composing(self: ReviewScreen) -> Any:
        seen["compose"] = gc.isenabled()
        return compose(self)

    monkeypatch.setattr(ReviewScreen, "compose", composing)
    app = make_app(demo_workspace, sync_on_start=False)

    async def pilot(p: Any) -> None:
        await p.pause()
        seen["ready"] = gc.isenabled()
        app.exit()

    assert gc.isenabled()
    try:
        await app.run_async(headless=True, size=(120, 40), auto_pilot=pilot)
    finally:
        seen["after"] = gc.isenabled()
        gc.enable()
    assert seen == {"compose": False, "ready": True, "after": True}

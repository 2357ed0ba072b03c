"""The on-call walkthrough driven with real key presses, then checked in the database, the flag
file (evaluated by the OpenFeature flagd provider, as an agent would) and the audit trail."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import settle
from oncall_helpers import (
    OUTAGE,
    burst,
    flag_of,
    open_incident,
    point_status_page,
    status_page,
)

from runbooks.audit import verify
from store.workspace import Workspace
from tui.app import make_app
from tui.oncall.runbook_view import RunbookView
from tui.oncall.switch_panel import SwitchPanel

FLAG = "billing-support-tier"


def rows(ws: Workspace, sql: str, *args: object) -> list[tuple]:  # type: ignore[type-arg]
    conn = sqlite3.connect(ws.db_path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def session_state(ws: Workspace) -> tuple[str, list[str], dict]:  # type: ignore[type-arg]
    (status, state), *_ = rows(ws, "SELECT status, state FROM runbook_sessions")
    data = json.loads(state)
    return status, data["path"], data["answers"]


@pytest.fixture
def agent(demo_workspace: Workspace) -> Iterator[Callable[[str], str]]:
    """The demo flag file as an agent reads it: OpenFeature on the flagd provider, file mode."""
    from openfeature import api
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType

    path = demo_workspace.root / "flags" / "agents.flagd.json"
    domain = f"agentdeck-walk-{id(path)}"
    provider = FlagdProvider(
        resolver_type=ResolverType.FILE, offline_flag_source_path=str(path), deadline_ms=50
    )
    api.set_provider_and_wait(provider, domain=domain)
    client = api.get_client(domain)
    try:
        yield lambda flag: client.get_string_value(flag, "CODE-DEFAULT")
    finally:
        provider.shutdown()


def eventually(check: Callable[[], str], want: str, timeout: float = 10.0) -> str:
    """Poll until ``check()`` gives ``want`` (the provider reloads the file on its own
    schedule); bounded, and the value seen is what the test asserts on."""
    deadline = time.monotonic() + timeout
    seen = check()
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = check()
    return seen


async def to_kill_switch(pilot) -> None:  # type: ignore[no-untyped-def]
    """From the board: open the outage's runbook, errors are high (1), provider is down (1)."""
    await open_incident(pilot, OUTAGE)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("1")
    await settle(pilot)
    await pilot.press("1")
    await settle(pilot)


async def confirm(pilot, typed: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("k")
    await pilot.press(*typed, "enter", *reason, "enter")
    await settle(pilot)


async def test_walkthrough_ends_in_a_verified_flag_an_agent_obeys(
    demo_workspace: Workspace, agent: Callable[[str], str]
) -> None:
    assert agent(FLAG) == "auto-act"
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await to_kill_switch(pilot)
            view = app.screen.runbook
            assert isinstance(view, RunbookView)
            assert view.session is not None and view.session.current == "stop-refunds"
            await confirm(pilot, "billing-support", "provider down, refunds failing")
            assert isinstance(view.switch, SwitchPanel)
            outcome = view.switch.outcome
            assert outcome is not None and outcome.verified and outcome.after == "suggest-only"
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("enter")  # the kill-switch step is done: on to the next step
            await settle(pilot)
    assert flag_of(demo_workspace, FLAG) == "suggest-only"
    assert eventually(lambda: agent(FLAG), "suggest-only") == "suggest-only"
    status, path, answers = session_state(demo_workspace)
    assert status == "active"
    assert path == ["confirm", "vendor", "stop-refunds", "tell-support"]
    assert answers["confirm"]["check"]["outcome"] == "warn"
    assert answers["vendor"]["check"]["outcome"] == "warn"  # the page says "major"
    assert answers["stop-refunds"]["switch"]["verdict"] == "verified"
    trail = rows(demo_workspace, "SELECT kind, body, incident FROM audit ORDER BY seq")
    kinds = [k for k, _, _ in trail]
    assert kinds.count("switch.attempt") == 1 and kinds.count("switch.result") == 1
    result = json.loads(next(b for k, b, _ in trail if k == "switch.result"))
    assert result["before"] == "auto-act" and result["after"] == "suggest-only"
    assert result["reason"] == "provider down, refunds failing"
    assert result["verdict"] == "verified"
    assert {i for _, _, i in trail} == {f"alertmanager/{OUTAGE}"}
    conn = sqlite3.connect(demo_workspace.db_path)
    try:
        assert verify(conn)[1] == []
    finally:
        conn.close()


async def test_a_wrong_confirmation_sends_nothing(demo_workspace: Workspace) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await to_kill_switch(pilot)
            await confirm(pilot, "billing-suport", "typo in the name")
            switch = app.screen.runbook.switch
            assert isinstance(switch, SwitchPanel)
            assert switch.outcome is None and "type the workflow name" in (switch.problem or "")
            await pilot.press("escape")
            await settle(pilot)
    assert flag_of(demo_workspace, FLAG) == "auto-act"
    kinds = [k for (k,) in rows(demo_workspace, "SELECT kind FROM audit")]
    assert "switch.attempt" not in kinds


async def test_a_burst_of_keys_walks_as_far_as_the_same_keys_typed_slowly(
    demo_workspace: Workspace,
) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_incident(pilot, OUTAGE)
            # Every key at once, before the runbook's first step is even drawn: two choices,
            # k, the confirmation, closing the switch and going on. The choices apply in order
            # to the step current when each is read; the switch screen waits for the keys
            # before it, keeps the ones typed while it checks and sends, and hands the ones
            # after it back to the runbook, in order.
            burst(
                app,
                ["enter", "1", "1", "k", *"billing-support", "enter", *"a burst", "enter"]
                + ["enter", "enter"],
            )
            await settle(pilot)
            assert isinstance(app.screen.runbook, RunbookView)
            assert app.screen.runbook.switch is None
    assert flag_of(demo_workspace, FLAG) == "suggest-only"
    _, path, answers = session_state(demo_workspace)
    assert path == ["confirm", "vendor", "stop-refunds", "tell-support"]
    assert answers["stop-refunds"]["switch"]["verdict"] == "verified"


async def test_the_app_closed_mid_runbook_resumes_at_the_same_step(
    demo_workspace: Workspace,
) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_incident(pilot, OUTAGE)
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("w", *"seen in grafana", "enter")
            await settle(pilot)
            await pilot.press("1")
            await settle(pilot)
        before = session_state(demo_workspace)
        assert before[1] == ["confirm", "vendor"]
        assert before[2]["confirm"]["note"] == "seen in grafana"

        again = make_app(demo_workspace, area="oncall", sync_on_start=False)
        async with again.run_test(size=(80, 24)) as pilot:
            await open_incident(pilot, OUTAGE)
            # The board marks the incident whose runbook is half walked, and at which step.
            assert again.screen.walking[("alertmanager", OUTAGE)] == {"billing-provider-outage": 2}
            await pilot.press("enter")
            await settle(pilot)
            screen = again.screen.runbook
            assert isinstance(screen, RunbookView) and screen.session is not None
            assert screen.session.current == "vendor"
            assert screen.session.answer("confirm")["note"] == "seen in grafana"
            await pilot.press("b")
            await settle(pilot)
            assert screen.session.current == "confirm"
    status, path, answers = session_state(demo_workspace)
    assert (status, path) == ("active", ["confirm"])
    assert answers["confirm"]["choice"] == "Errors are high"
    assert len(rows(demo_workspace, "SELECT id FROM runbook_sessions")) == 1
    shown = rows(demo_workspace, "SELECT body FROM audit WHERE kind = 'step.shown'")
    assert any(json.loads(b).get("resumed") for (b,) in shown)


async def test_a_drill_sends_nothing_and_says_so_everywhere(
    demo_workspace: Workspace,
) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall", drill=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await to_kill_switch(pilot)
            await confirm(pilot, "billing-support", "practice")
            switch = app.screen.runbook.switch
            assert isinstance(switch, SwitchPanel)
            assert switch.outcome is not None and switch.outcome.drill
            assert not switch.outcome.sent
    assert flag_of(demo_workspace, FLAG) == "auto-act"
    drills = rows(demo_workspace, "SELECT DISTINCT drill FROM audit")
    assert drills == [(1,)]
    (drill,) = rows(demo_workspace, "SELECT drill FROM runbook_sessions")[0]
    assert drill == 1


async def test_skip_needs_a_reason_and_is_recorded(demo_workspace: Workspace) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await to_kill_switch(pilot)
            view = app.screen.runbook
            await pilot.press("enter")  # leaving the kill-switch step unused is refused
            await settle(pilot)
            assert view.walk.mode == "refused" and "kill switch first" in view.walk.refusal
            await pilot.press("escape")
            # Skipping asks for its word first; an empty reason is refused.
            await pilot.press("s", *"skip", "enter", "enter")
            await settle(pilot)
            assert view.walk.mode == "refused" and "reason" in view.walk.refusal
            await pilot.press("escape")
            await pilot.press("s", *"skip", "enter", *"provider already failed over", "enter")
            await settle(pilot)
    status, path, answers = session_state(demo_workspace)
    assert path == ["confirm", "vendor", "stop-refunds", "tell-support"]
    assert answers["stop-refunds"]["skipped"] == "provider already failed over"
    skips = rows(demo_workspace, "SELECT body FROM audit WHERE kind = 'skip'")
    assert [json.loads(b)["reason"] for (b,) in skips] == ["provider already failed over"]


def test_helpers_point_at_the_demo(demo_workspace: Workspace) -> None:
    # The tests above rely on the demo's outage runbook reading this status page.
    text = (demo_workspace.runbooks_dir / "billing-provider-outage.yaml").read_text()
    assert "https://status.payments-provider.example/api/v2/status.json" in text
    assert Path(demo_workspace.root / "flags" / "agents.flagd.json").is_file()

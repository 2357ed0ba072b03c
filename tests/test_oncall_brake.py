"""On call you can trust: a brake that only brakes, text that never becomes a command, checks
that answer before the keys typed after them, a drill that rehearses the fallback, the board's
emergency stop. Real keys through Pilot, then the database, the flag file and the audit trail.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import keyring
from conftest import settle
from oncall_helpers import OUTAGE, burst, flag_of, open_incident, point_status_page, status_page

from store.workspace import Workspace, load_workspace
from tui.app import make_app

FLAG = "billing-support-tier"
#: The burst from the issue, typed one step early or on the switch step.
BURST = ["k", " ", *"billing-support", "enter", *"payments down", "enter"]


def text_of(widget: Any) -> str:
    """What a Static shows, as plain text (a Group of Text too)."""
    import io

    from rich.console import Console

    visual = widget.visual
    if not hasattr(visual, "_renderable"):
        return str(visual.plain)  # Content (a Text drawn by Textual)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(visual._renderable)
    return out.getvalue()


def rows(ws: Workspace, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def session(ws: Workspace) -> tuple[str, list[str], dict[str, Any]]:
    (status, state), *_ = rows(ws, "SELECT status, state FROM runbook_sessions")
    data = json.loads(state)
    return status, data["path"], data["answers"]


def trail(ws: Workspace) -> list[tuple[str, dict[str, Any]]]:
    return [(k, json.loads(b)) for k, b in rows(ws, "SELECT kind, body FROM audit ORDER BY seq")]


def set_flag(ws: Workspace, variant: str) -> None:
    path = ws.root / "flags" / "agents.flagd.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["flags"][FLAG]["defaultVariant"] = variant
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


async def to_vendor(pilot: Any) -> None:
    await open_incident(pilot, OUTAGE)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("1")
    await settle(pilot)


async def test_a_kill_switch_step_already_safer_sends_nothing_and_says_so(
    demo_workspace: Workspace,
) -> None:
    set_flag(demo_workspace, "disabled")
    flag_file = demo_workspace.root / "flags" / "agents.flagd.json"
    before = flag_file.read_bytes()
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(120, 40)) as pilot:
            await to_vendor(pilot)
            await pilot.press("1")
            await settle(pilot)
            view = app.screen.runbook
            # The step header shows the live tier, read from the switch, beside the card's.
            brief = text_of(view.query_one("#rb-card"))
            assert "tier disabled (live, read" in brief and "configured auto-act" in brief
            await pilot.press("k")
            await settle(pilot)
            panel = text_of(view.switch)
            assert "NOTHING TO SEND" in panel
            assert "already suggest-only (or safer): nothing to send" in panel
            assert "(billing-support is disabled)" in panel
            await pilot.press("enter")  # back to the step, which is satisfied
            await settle(pilot)
            await pilot.press("enter")  # and goes on
            await settle(pilot)
    assert flag_file.read_bytes() == before
    status, path, answers = session(demo_workspace)
    assert path[-2:] == ["stop-refunds", "tell-support"] and status == "active"
    switch = answers["stop-refunds"]["switch"]
    assert switch["nothing_to_send"] and switch["satisfied"] and not switch["sent"]
    kinds = [k for k, _ in trail(demo_workspace)]
    assert "switch.attempt" not in kinds
    result = next(b for k, b in trail(demo_workspace) if k == "switch.result")
    assert (result["action"], result["before"], result["sent"]) == ("raise", "disabled", False)


async def test_the_burst_one_step_early_is_refused_whole_and_on_the_switch_step_sets_it(
    demo_workspace: Workspace,
) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await to_vendor(pilot)
            view = app.screen.runbook
            before = trail(demo_workspace)
            burst(app, BURST)
            await settle(pilot)
            # k means nothing on the vendor step: refused, and the 31 keys after it dropped,
            # not taken as b(ack), a(bandon) or anything else.
            assert view.walk.mode == "refused"
            assert view.walk.refusal == "k: this step has no kill switch"
            assert view.walk.dropped == 31
            shown = text_of(view.query_one("#rb-input"))
            assert "31 keys typed after it were not used" in shown
            status, path, _ = session(demo_workspace)
            assert (status, path) == ("active", ["confirm", "vendor"])
            assert trail(demo_workspace) == before  # nothing chosen, gone back, skipped
            await pilot.press("escape")  # go on: the runbook is where it was
            await settle(pilot)
            assert view.walk.mode == "step"
            assert "31 keys typed after it were not used" in (view.walk.message or "")
            await pilot.press("1")
            await settle(pilot)
            burst(app, BURST)
            await settle(pilot)
            assert view.outcome is not None and view.outcome.verified
    assert flag_of(demo_workspace, FLAG) == "suggest-only"
    result = next(b for k, b in trail(demo_workspace) if k == "switch.result")
    assert (result["reason"], result["verdict"]) == ("payments down", "verified")
    status, path, answers = session(demo_workspace)
    assert status == "active" and path[-1] == "stop-refunds"
    assert answers["stop-refunds"]["switch"]["verdict"] == "verified"


async def test_abandon_and_skip_need_their_word(demo_workspace: Workspace) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await to_vendor(pilot)
            await pilot.press("1")
            await settle(pilot)
            view = app.screen.runbook
            # "payments" typed on the step: the a of it asks to confirm; y does not spell it.
            burst(app, [*"payments down", "enter"])
            await settle(pilot)
            assert view.walk.mode == "refused"
            assert view.walk.refusal.startswith("'p': not a key on this step")
            await pilot.press("escape")
            burst(app, ["a", *"yments", "enter"])
            await settle(pilot)
            assert view.walk.mode == "refused" and "does not spell 'abandon'" in view.walk.refusal
            await pilot.press("escape")
            burst(app, ["a", *"abandon", "enter", *"provider recovered", "enter"])
            await settle(pilot)
    status, _, _ = session(demo_workspace)
    assert status == "abandoned"
    reasons = [b["reason"] for k, b in trail(demo_workspace) if k == "session.abandon"]
    assert reasons == ["provider recovered"]


async def test_a_choice_typed_before_the_check_answers_waits_for_it(
    demo_workspace: Workspace,
) -> None:
    # The provider's status page answers slowly: "1" reaches the vendor step long before its
    # check has answered, and still the check's result and suggestion are recorded first.
    with status_page("major", delay=0.6) as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_incident(pilot, OUTAGE)
            burst(app, ["enter", "1", "1"])
            await settle(pilot)
    kinds = [(k, b.get("step")) for k, b in trail(demo_workspace)]
    at_vendor = [k for k, step in kinds if step == "vendor"]
    assert at_vendor[:3] == ["step.shown", "check.result", "choice"], kinds
    choice = next(b for k, b in trail(demo_workspace) if k == "choice" and b["step"] == "vendor")
    assert choice["suggested"] == "Provider is down"


def with_unreachable_primary(ws: Workspace) -> None:
    """billing-support's switch: an HTTP service nobody answers first, the flag file second."""
    card = ws.cards_dir / "billing-support.yaml"
    text = card.read_text(encoding="utf-8")
    head, _, tail = text.partition("kill_switch:")
    rest = tail.split("\nbudget:", 1)[1]
    card.write_text(
        head
        + "kill_switch:\n"
        + "  backend: http\n"
        + "  url: http://127.0.0.1:9/flags/{flag}\n"
        + '  body: \'{{"state": "{state}"}}\'\n'
        + "  read_json: state\n"
        + "  flag: billing-support-tier\n"
        + "  timeout: 2\n"
        + "  fallback:\n"
        + "    {backend: flagd, flag: billing-support-tier, path: flags/agents.flagd.json}\n"
        + "budget:"
        + rest,
        encoding="utf-8",
    )
    keyring.set_password("agentdeck", "http", "test-token")


async def test_a_drill_with_an_unreachable_primary_offers_the_second_channel(
    demo_workspace: Workspace,
) -> None:
    with_unreachable_primary(demo_workspace)
    ws = load_workspace(demo_workspace.root)
    flag_file = ws.root / "flags" / "agents.flagd.json"
    before = flag_file.read_bytes()
    with status_page("major") as url:
        point_status_page(ws, url)
        app = make_app(ws, area="oncall", drill=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await to_vendor(pilot)
            await pilot.press("1", "k")
            await settle(pilot)
            view = app.screen.runbook
            panel = text_of(view.switch)
            assert "FAILED, DRILL" in panel
            assert "2 second channel" in panel and "escalate to #billing-oncall" in panel
            await pilot.press("2")
            await settle(pilot)
            assert view.pre is not None and view.pre.channel == "second channel"
            await pilot.press(*"billing-support", "enter", *"rehearsal", "enter")
            await settle(pilot)
            panel = text_of(view.switch)
            assert "VERIFIED, DRILL" in panel and "Nothing was sent" in panel
            await pilot.press("enter")
            # Checking again through the primary fails again: that does not undo the step.
            await pilot.press("k")
            await settle(pilot)
            assert "FAILED, DRILL" in text_of(view.switch)
            await pilot.press("enter", "enter")
            await settle(pilot)
    assert flag_file.read_bytes() == before
    results = [b for k, b in trail(demo_workspace) if k == "switch.result"]
    assert [(b["channel"], b["verdict"]) for b in results] == [
        ("primary", "failed, drill"),
        ("second channel", "verified, drill"),
        ("primary", "failed, drill"),
    ]
    status, path, _ = session(demo_workspace)
    assert path[-1] == "tell-support"


async def test_the_boards_emergency_stop_lowers_to_the_safest_tier_against_the_incident(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_incident(pilot, OUTAGE)
        await pilot.press("x")
        await settle(pilot)
        panel = text_of(app.screen.stop.panel)
        assert "EMERGENCY STOP: billing-support → disabled" in panel
        await pilot.press(*"billing-support", "enter", *"agent misbehaving", "enter")
        await settle(pilot)
        assert "VERIFIED" in text_of(app.screen.stop.panel)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.view == "board" and app.screen.stop is None
        # The board's live tier is the read-back, not the state before.
        detail = text_of(app.screen.query_one("#incident-detail"))
        assert "tier disabled (live, read" in detail and "configured auto-act" in detail
    assert flag_of(demo_workspace, FLAG) == "disabled"
    entries = rows(demo_workspace, "SELECT kind, incident, session, body FROM audit ORDER BY seq")
    switch = [(k, i, s, json.loads(b)) for k, i, s, b in entries if k.startswith("switch.")]
    assert [k for k, *_ in switch] == ["switch.attempt", "switch.result"]
    assert all(i == f"alertmanager/{OUTAGE}" and s is None for _, i, s, _ in switch)
    assert switch[1][3]["emergency_stop"] and switch[1][3]["reason"] == "agent misbehaving"


async def test_a_stop_key_typed_ahead_on_the_board_needs_the_name_typed(
    demo_workspace: Workspace,
) -> None:
    app = make_app(demo_workspace, area="oncall")
    async with app.run_test(size=(100, 30)) as pilot:
        await open_incident(pilot, OUTAGE)
        burst(app, ["x", *"oops", "enter", "enter"])
        await settle(pilot)
        assert "type the workflow name" in (app.screen.stop.walk.switch.problem or "")
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.stop is None
    assert flag_of(demo_workspace, FLAG) == "auto-act"
    assert not [k for k, _ in trail(demo_workspace) if k.startswith("switch.")]


async def test_help_in_a_runbook_lists_its_keys_and_escape_goes_back(
    demo_workspace: Workspace,
) -> None:
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(100, 40)) as pilot:
            await to_vendor(pilot)
            await pilot.press("question_mark")
            await settle(pilot)
            screen = app.screen
            assert screen.view == "help"
            shown = text_of(screen.query_one("#help-body"))
            assert "the runbook walkthrough" in shown
            assert "Type the word abandon" in shown and "Restore" in shown
            await pilot.press("escape")
            await settle(pilot)
            assert screen.view == "runbook" and screen.runbook.session.current == "vendor"
    status, path, _ = session(demo_workspace)
    assert (status, path) == ("active", ["confirm", "vendor"])


async def test_without_a_keyring_the_walkthrough_works_and_says_the_trail_is_unkeyed(
    demo_workspace: Workspace, monkeypatch: Any
) -> None:
    import keyring.core
    from keyring.backends.fail import Keyring as NoKeyring

    monkeypatch.setattr(keyring.core, "_keyring_backend", NoKeyring())
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(120, 40)) as pilot:
            await to_vendor(pilot)
            header = text_of(app.screen.runbook.query_one("#rb-header"))
            assert "audit trail unkeyed: no keyring on this machine" in header
            await pilot.press("1", "k", *"billing-support", "enter", *"no keyring", "enter")
            await settle(pilot)
            assert app.screen.runbook.outcome.verified
    assert flag_of(demo_workspace, FLAG) == "suggest-only"
    keys = {k for (k,) in rows(demo_workspace, "SELECT DISTINCT key_id FROM audit")}
    assert keys == {None} or keys == {""}, keys


async def test_quitting_right_after_a_burst_applies_every_key_typed_before_it(
    demo_workspace: Workspace,
) -> None:
    with status_page("major", delay=0.3) as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_incident(pilot, OUTAGE)
            # The vendor's check answers late; ctrl+q comes with the keys, before any applies.
            burst(app, ["enter", "1", "w", *"seen on the graph", "enter", "1"])
            await pilot.press("ctrl+q")
            await settle(pilot)
    status, path, answers = session(demo_workspace)
    assert path == ["confirm", "vendor", "stop-refunds"]
    assert answers["vendor"]["note"] == "seen on the graph"
    assert answers["vendor"]["check"]["outcome"] == "warn"


async def test_t_tells_the_alert_source_and_says_what_it_did(demo_workspace: Workspace) -> None:
    # The demo's incidents come from its file store: there is no alert source to tell, and
    # the screen says so in one line; nothing else changes.
    with status_page("major") as url:
        point_status_page(demo_workspace, url)
        app = make_app(demo_workspace, area="oncall")
        async with app.run_test(size=(120, 40)) as pilot:
            await to_vendor(pilot)
            before = trail(demo_workspace)
            await pilot.press("t")
            await settle(pilot)
            view = app.screen.runbook
            assert (view.walk.message or "").startswith(
                f"nothing to tell: incident alertmanager/{OUTAGE} came from alertmanager"
            )
            assert view.walk.mode == "step"
    assert trail(demo_workspace) == before
    assert session(demo_workspace)[1] == ["confirm", "vendor"]

"""Kill-switch actions: what value a tier needs, preflight, send, read-back and the audit trail.

The backend here is real I/O over a real flag file: ``FileFlag`` is a small test-local
``SwitchBackend`` over the flagd JSON format (or an on/off file for a binary target); the same
tests run against ``store.switches.flagd.FlagdFileBackend``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from runbooks import audit
from runbooks.cards import load_cards
from runbooks.killswitch import (
    Preflight,
    SwitchRefused,
    backend_for,
    channels,
    check_confirmation,
    execute,
    preflight,
    recent_auto_actions,
    state_for,
    supports,
    value_for,
)
from store.db import connect, transaction
from store.switches.base import (
    FlagReading,
    FlagValue,
    SwitchBackend,
    SwitchError,
    SwitchRequest,
)
from store.switches.flagd import FlagdFileBackend

SAMPLE = Path(__file__).resolve().parents[1] / "sample-data"
CARDS = load_cards(SAMPLE / "cards")
BILLING = CARDS["billing-support"]  # flagd file: variants, tier auto-act, no second channel
REFUNDS = CARDS["refund-approvals"]  # Unleash on/off (human-approve / suggest-only), flagd 2nd
TOKEN = "tok-DO-NOT-LEAK-5f3a9c"


class FileFlag:
    """A ``SwitchBackend`` over a real JSON file: a flagd flag file (``defaultVariant`` is the
    value), or an on/off file ``{"flags": {name: {"enabled": bool}}}`` for a binary target."""

    kind = "flagd"

    def __init__(
        self,
        path: Path,
        flag: str,
        *,
        values: Literal["binary", "variant"] = "variant",
        token: str | None = None,
    ) -> None:
        self.path = path
        self.flag = flag
        self.values = values
        self.endpoint = str(path)
        self._token = token

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SwitchError(
                f"file flag {self.path}: cannot read ({type(exc).__name__})"
            ) from None
        if self.flag not in data.get("flags", {}):
            raise SwitchError(f"file flag {self.path}: no flag {self.flag!r}")
        return data

    def probe(self) -> None:
        self._load()

    def read(self) -> FlagReading:
        entry = self._load()["flags"][self.flag]
        value = entry["enabled"] if self.values == "binary" else entry["defaultVariant"]
        return FlagReading(value, f"{self.flag}={value}")

    def _new(self, value: FlagValue) -> dict[str, Any]:
        data = self._load()
        data["flags"][self.flag]["enabled" if self.values == "binary" else "defaultVariant"] = value
        return data

    def plan(self, value: FlagValue) -> SwitchRequest:
        headers = {"Authorization": "****"} if self._token else {}
        return SwitchRequest("WRITE", str(self.path), headers, self._new(value))

    def write(self, value: FlagValue) -> None:
        text = json.dumps(self._new(value), indent=2)
        try:
            self.path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SwitchError(f"file flag {self.path}: cannot write ({exc.strerror})") from None


def flagd_backend(path: Path, flag: str) -> SwitchBackend:
    return FlagdFileBackend(path, flag)


BACKENDS: dict[str, Callable[[Path, str], SwitchBackend]] = {
    "test-file": lambda path, flag: FileFlag(path, flag),
    "flagd": flagd_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def variant(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, SwitchBackend]:
    """The demo's flag file copied, and a backend on billing-support's flag in it."""
    path = tmp_path / "flags" / "agents.flagd.json"
    path.parent.mkdir()
    shutil.copy(SAMPLE / "flags" / "agents.flagd.json", path)
    return path, BACKENDS[request.param](path, BILLING.kill_switch.flag)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "db" / "agentdeck.db")
    yield c
    c.close()


def recorder(conn: sqlite3.Connection, *, drill: bool) -> Callable[[str, dict[str, Any]], None]:
    def record(kind: str, body: dict[str, Any]) -> None:
        with transaction(conn):
            audit.append(conn, actor="ana", kind=kind, body=body, incident="am/INC-1", drill=drill)

    return record


def flag_value(path: Path, flag: str) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))["flags"][flag]["defaultVariant"]


# --- what a tier needs --------------------------------------------------------------------------


def test_a_variant_target_holds_every_state() -> None:
    target = BILLING.kill_switch
    for state in ("disabled", "suggest-only", "human-approve", "auto-act"):
        assert supports(target, BILLING, state)
        assert value_for(target, BILLING, state) == state
        assert state_for(target, BILLING, state) == state
    assert not supports(target, BILLING, "off")
    assert state_for(target, BILLING, None) is None


def test_a_binary_target_holds_the_tier_and_its_off_state() -> None:
    target = REFUNDS.kill_switch
    assert target.binary
    assert supports(target, REFUNDS, "human-approve") and supports(target, REFUNDS, "suggest-only")
    assert not supports(target, REFUNDS, "disabled")
    assert not supports(target, REFUNDS, "auto-act")
    assert value_for(target, REFUNDS, "human-approve") is True
    assert value_for(target, REFUNDS, "suggest-only") is False
    with pytest.raises(SwitchError, match="on/off flag holds only human-approve"):
        value_for(target, REFUNDS, "disabled")
    assert state_for(target, REFUNDS, True) == "human-approve"
    assert state_for(target, REFUNDS, False) == "suggest-only"
    # A string from a misbehaving server is not "off": the state is unknown.
    assert state_for(target, REFUNDS, "false") is None
    assert state_for(target, REFUNDS, None) is None


def test_channels_in_order() -> None:
    assert [name for name, _ in channels(BILLING)] == ["primary"]
    named = channels(REFUNDS)
    assert [name for name, _ in named] == ["primary", "second channel"]
    assert named[1][1].backend == "flagd"


def test_check_confirmation() -> None:
    check_confirmation(
        "billing-support", " billing-support ", "provider down", reason_required=True
    )
    check_confirmation("billing-support", "billing-support", "", reason_required=False)
    with pytest.raises(SwitchRefused, match="type the workflow name 'billing-support'"):
        check_confirmation("billing-support", "billing", "provider down", reason_required=True)
    with pytest.raises(SwitchRefused, match="type the workflow name"):
        check_confirmation("billing-support", "BILLING-SUPPORT", "x", reason_required=True)
    with pytest.raises(SwitchRefused, match="reason is required"):
        check_confirmation("billing-support", "billing-support", "  \n", reason_required=True)


# --- preflight and execute over a real file ---------------------------------------------------


def test_the_verified_path_is_audited_before_and_after(
    variant: tuple[Path, SwitchBackend], db: sqlite3.Connection, tmp_path: Path
) -> None:
    path, backend = variant
    pre, ready = preflight(BILLING, "suggest-only", root=tmp_path, backend=backend)
    assert pre.ready and ready is backend and pre.error is None
    assert (pre.action, pre.current_state, pre.value, pre.channel) == (
        "lower",
        "auto-act",
        "suggest-only",
        "primary",
    )
    assert flag_value(path, BILLING.kill_switch.flag) == "auto-act"  # preflight sends nothing
    outcome = execute(
        BILLING, pre, ready, reason="provider down", drill=False, record=recorder(db, drill=False)
    )
    assert (outcome.sent, outcome.verified, outcome.verdict) == (True, True, "verified")
    assert (outcome.before, outcome.after) == ("auto-act", "suggest-only")
    assert outcome.next_steps == []
    assert flag_value(path, BILLING.kill_switch.flag) == "suggest-only"
    # The other flags in the file are untouched.
    assert flag_value(path, "crm-update-tier") == "auto-act"
    trail = audit.entries(db)
    assert [e.kind for e in trail] == ["switch.attempt", "switch.result"]
    attempt, result = (e.body for e in trail)
    assert attempt["before"] == "auto-act" and attempt["reason"] == "provider down"
    assert attempt["state"] == "suggest-only" and attempt["action"] == "lower"
    assert "verdict" not in attempt
    assert (result["before"], result["after"], result["verdict"]) == (
        "auto-act",
        "suggest-only",
        "verified",
    )
    assert result["readback"] == outcome.readback and outcome.readback
    assert audit.verify(db)[1] == []
    # A brake never raises: back to auto-act would loosen it, so a brake sends nothing ...
    again, ready = preflight(BILLING, "auto-act", root=tmp_path, backend=backend)
    assert (again.action, again.current_state) == ("raise", "suggest-only")
    assert again.nothing_to_send and again.already == "already auto-act (or safer): nothing to send"
    # ... and the explicit restore is the one that raises.
    back, ready = preflight(BILLING, "auto-act", root=tmp_path, backend=backend, mode="restore")
    assert (back.action, back.mode, back.nothing_to_send) == ("raise", "restore", False)


def test_a_brake_at_or_below_its_target_sends_nothing_and_records_it(
    variant: tuple[Path, SwitchBackend], db: sqlite3.Connection, tmp_path: Path
) -> None:
    path, backend = variant
    pre, ready = preflight(BILLING, "disabled", root=tmp_path, backend=backend)
    execute(BILLING, pre, ready, reason="stop", drill=False, record=recorder(db, drill=False))
    assert flag_value(path, BILLING.kill_switch.flag) == "disabled"
    before = path.read_bytes()
    for target in ("suggest-only", "disabled"):
        pre, ready = preflight(BILLING, target, root=tmp_path, backend=backend)
        assert pre.nothing_to_send and pre.current_state == "disabled"
        outcome = execute(
            BILLING, pre, ready, reason="again", drill=False, record=recorder(db, drill=False)
        )
        assert (outcome.sent, outcome.satisfied, outcome.verdict) == (
            False,
            True,
            "nothing to send",
        )
        last = audit.entries(db)[-1]
        assert last.kind == "switch.result"
        assert (last.body["action"], last.body["sent"], last.body["request"]) == (
            "raise" if target == "suggest-only" else "none",
            False,
            None,
        )
    assert path.read_bytes() == before


def test_direction_follows_the_tier_order() -> None:
    from runbooks.killswitch import direction

    assert direction("auto-act", "suggest-only") == "lower"
    assert direction("disabled", "suggest-only") == "raise"
    assert direction("human-approve", "human-approve") == "none"
    assert direction(None, "disabled") == "unknown"
    assert direction("paused", "disabled") == "unknown"


def test_a_drill_sends_nothing(
    variant: tuple[Path, SwitchBackend], db: sqlite3.Connection, tmp_path: Path
) -> None:
    path, backend = variant
    before = path.read_bytes()
    pre, ready = preflight(BILLING, "disabled", root=tmp_path, backend=backend)
    assert pre.action == "lower" and pre.ready
    outcome = execute(
        BILLING, pre, ready, reason="drill", drill=True, record=recorder(db, drill=True)
    )
    assert path.read_bytes() == before
    # The same verdict word as for real, DRILL beside it: the target answered, nothing sent.
    assert (outcome.sent, outcome.verified, outcome.drill) == (False, True, True)
    assert outcome.verdict == "verified, drill"
    trail = audit.entries(db)
    assert [e.kind for e in trail] == ["switch.attempt", "switch.result"]
    assert all(e.drill for e in trail)
    assert trail[1].body["drill"] is True and trail[1].body["sent"] is False


def test_a_write_failure_changes_nothing_and_says_what_next(
    variant: tuple[Path, SwitchBackend], db: sqlite3.Connection, tmp_path: Path
) -> None:
    path, backend = variant
    pre, ready = preflight(BILLING, "suggest-only", root=tmp_path, backend=backend)
    assert pre.ready
    # Between preflight and send, the file becomes something nothing can write (as root too).
    path.unlink()
    path.mkdir()
    outcome = execute(
        BILLING, pre, ready, reason="provider down", drill=False, record=recorder(db, drill=False)
    )
    assert (outcome.sent, outcome.verified) == (False, False)
    assert outcome.verdict == "failed: nothing changed"
    assert outcome.error
    # billing-support has no second channel.
    assert outcome.next_steps == ["retry", "escalate to #billing-oncall"]
    result = audit.entries(db)[-1]
    assert result.kind == "switch.result" and result.body["verdict"] == "failed: nothing changed"


def test_a_failure_on_the_primary_offers_the_second_channel(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    flags = tmp_path / "unleash.json"
    flags.write_text(json.dumps({"flags": {"refund-approvals-auto": {"enabled": True}}}))
    backend = FileFlag(flags, "refund-approvals-auto", values="binary")
    pre, ready = preflight(REFUNDS, "suggest-only", root=tmp_path, backend=backend)
    assert (pre.value, pre.current_state, pre.action) == (False, "human-approve", "lower")
    flags.unlink()
    flags.mkdir()
    outcome = execute(
        REFUNDS, pre, ready, reason="policy breach", drill=False, record=recorder(db, drill=False)
    )
    assert outcome.verdict == "failed: nothing changed"
    assert outcome.next_steps == [
        "retry",
        "second channel",
        "escalate to billing-approvals@acme.example",
    ]


def test_the_second_channel_does_not_offer_itself(db: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "flags" / "agents.flagd.json"
    path.parent.mkdir()
    shutil.copy(SAMPLE / "flags" / "agents.flagd.json", path)
    backend = FileFlag(path, "refund-approvals-tier")
    pre, ready = preflight(REFUNDS, "disabled", channel=1, root=tmp_path, backend=backend)
    assert pre.channel == "second channel" and pre.ready
    path.unlink()
    path.mkdir()
    outcome = execute(
        REFUNDS, pre, ready, reason="x", drill=False, record=recorder(db, drill=False)
    )
    assert outcome.next_steps == ["retry", "escalate to billing-approvals@acme.example"]


class Clamped(FileFlag):
    """A backend that accepts a write and stores something else (a server that clamps)."""

    def write(self, value: FlagValue) -> None:
        super().write("human-approve")


def test_a_read_back_mismatch_is_not_verified(db: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    shutil.copy(SAMPLE / "flags" / "agents.flagd.json", path)
    backend = Clamped(path, BILLING.kill_switch.flag)
    pre, ready = preflight(BILLING, "disabled", root=tmp_path, backend=backend)
    outcome = execute(
        BILLING, pre, ready, reason="x", drill=False, record=recorder(db, drill=False)
    )
    assert (outcome.sent, outcome.verified, outcome.verdict) == (True, False, "NOT verified")
    assert outcome.after == "human-approve"
    assert outcome.error is not None and "expected 'disabled'" in outcome.error
    assert outcome.next_steps == ["retry", "escalate to #billing-oncall"]
    assert audit.entries(db)[-1].body["verdict"] == "NOT verified"


def test_a_missing_flag_file_is_a_preflight_error_not_an_exception(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    for backend in (
        FileFlag(tmp_path / "missing.json", BILLING.kill_switch.flag),
        flagd_backend(tmp_path / "missing.json", BILLING.kill_switch.flag),
    ):
        pre, ready = preflight(BILLING, "suggest-only", root=tmp_path, backend=backend)
        assert not pre.ready and ready is None
        assert pre.error and "missing.json" in pre.error
        outcome = execute(
            BILLING, pre, ready, reason="x", drill=False, record=recorder(db, drill=False)
        )
        assert outcome.verdict == "failed: nothing changed"
        assert outcome.error == pre.error


def test_a_drill_on_a_broken_switch_says_it_would_fail(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    backend = FileFlag(tmp_path / "missing.json", BILLING.kill_switch.flag)
    pre, ready = preflight(BILLING, "suggest-only", root=tmp_path, backend=backend)
    outcome = execute(BILLING, pre, ready, reason="x", drill=True, record=recorder(db, drill=True))
    assert outcome.verdict == "failed, drill"
    assert outcome.next_steps and outcome.next_steps[0] == "retry"
    assert outcome.next_steps == ["retry", "escalate to #billing-oncall"]
    assert audit.entries(db)[-1].body["verdict"] == "failed, drill"


def test_the_demo_card_builds_its_flagd_backend(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "flags").mkdir(parents=True)
    shutil.copy(SAMPLE / "flags" / "agents.flagd.json", root / "flags" / "agents.flagd.json")
    pre, ready = preflight(BILLING, "suggest-only", root=root)
    assert pre.ready, pre.error
    assert pre.current_state == "auto-act"
    assert backend_for(BILLING.kill_switch, root).endpoint == pre.endpoint


def test_preflight_on_a_missing_flag_file_never_raises(tmp_path: Path) -> None:
    pre, ready = preflight(BILLING, "suggest-only", root=tmp_path)
    assert not pre.ready and ready is None
    assert pre.error and pre.error.startswith("flagd ") and "no such file" in pre.error


def test_a_missing_token_is_a_preflight_error_naming_the_backend(tmp_path: Path) -> None:
    pre, ready = preflight(REFUNDS, "suggest-only", root=tmp_path, secret=lambda name: None)
    assert not pre.ready and ready is None
    assert pre.error == (
        "unleash http://127.0.0.1:4242: no token in the keyring for 'unleash'; "
        "run `agentdeck login unleash`"
    )
    assert pre.channel == "primary" and pre.current_state is None


def test_a_keyring_failure_is_a_preflight_error(tmp_path: Path) -> None:
    def broken(name: str) -> str | None:
        raise RuntimeError("the keyring is locked")

    pre, _ = preflight(REFUNDS, "suggest-only", root=tmp_path, secret=broken)
    assert pre.error == "unleash http://127.0.0.1:4242: the keyring is locked"


def test_an_unsupported_state_is_a_preflight_error(tmp_path: Path) -> None:
    pre, ready = preflight(REFUNDS, "disabled", root=tmp_path, secret=lambda name: TOKEN)
    assert not pre.ready and ready is None
    assert pre.error is not None and "not disabled" in pre.error


# --- secrets --------------------------------------------------------------------------------


def _everything(db: sqlite3.Connection) -> str:
    rows = db.execute("SELECT * FROM audit").fetchall()
    return "\n".join(repr(tuple(r)) for r in rows)


def test_a_token_never_reaches_preflight_outcome_or_audit(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    flags = tmp_path / "unleash.json"
    flags.write_text(json.dumps({"flags": {"refund-approvals-auto": {"enabled": True}}}))
    backend = FileFlag(flags, "refund-approvals-auto", values="binary", token=TOKEN)
    seen: list[str] = []
    for state, drill in [("suggest-only", True), ("suggest-only", False), ("human-approve", False)]:
        pre, ready = preflight(REFUNDS, state, root=tmp_path, backend=backend)
        outcome = execute(
            REFUNDS, pre, ready, reason="r", drill=drill, record=recorder(db, drill=drill)
        )
        seen += [repr(pre), repr(outcome), json.dumps(outcome.to_json())]
    # Through the real factory too (the token is handed over; whatever happens next, the
    # preflight must not carry it).
    pre, _ = preflight(REFUNDS, "suggest-only", root=tmp_path, secret=lambda name: TOKEN)
    seen.append(repr(pre))
    outcome = execute(REFUNDS, pre, None, reason="r", drill=False, record=recorder(db, drill=False))
    seen.append(repr(outcome))
    trail = _everything(db)
    assert audit.entries(db) and "switch.attempt" in trail
    assert "Authorization" in trail  # the masked header is recorded, its value is not
    for text in (*seen, trail):
        assert TOKEN not in text
    assert isinstance(pre, Preflight)


# --- the agent's own actions --------------------------------------------------------------------


def test_recent_auto_actions_on_the_demo(tmp_path: Path) -> None:
    from review.session import load_setup, sync
    from store.workspace import load_workspace
    from tests.conftest import copy_sample_data

    ws = load_workspace(copy_sample_data(tmp_path / "demo"))
    conn = connect(ws.db_path)
    sync(conn, load_setup(ws))
    hydrated = {r[0] for r in conn.execute("SELECT run_id FROM runs WHERE hydrated = 1")}
    records = []
    for line in (ws.root / "store" / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    for workflow in CARDS:
        executed = sorted(
            (
                r
                for r in records
                if r["workflow"] == workflow
                and r["trace_id"] in hydrated
                and (r.get("final_action") or {}).get("status") == "executed"
            ),
            key=lambda r: r["start_time"],
            reverse=True,
        )
        got = recent_auto_actions(conn, workflow, limit=5)
        assert [a["run_id"] for a in got] == [r["trace_id"] for r in executed[:5]]
        for action, r in zip(got, executed, strict=False):
            assert action["kind"] == r["final_action"]["kind"]
            assert action["summary"] == r["final_action"]["summary"]
    assert recent_auto_actions(conn, "billing-support", limit=2)
    assert recent_auto_actions(conn, "no-such-workflow") == []
    conn.close()

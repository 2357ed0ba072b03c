"""The flagd flag-file kill switch: written by agentdeck, evaluated by OpenFeature's flagd
provider in file mode, as an agent would."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.switches.base import SwitchBackend, SwitchError
from store.switches.flagd import FlagdFileBackend

SAMPLE = Path(__file__).resolve().parent.parent / "sample-data" / "flags" / "agents.flagd.json"
FLAG = "billing-support-tier"
STATES = ["auto-act", "human-approve", "suggest-only", "disabled"]


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags" / "agents.flagd.json"
    path.parent.mkdir()
    shutil.copy(SAMPLE, path)
    return path


def tier_flag(default: str | None = "auto-act", **extra: Any) -> dict[str, Any]:
    return {
        "state": "ENABLED",
        "variants": {s: s for s in STATES},
        "defaultVariant": default,
        **extra,
    }


def write_doc(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def wait_for(check: Callable[[], Any], want: Any, *, timeout: float = 10.0) -> Any:
    """Poll ``check()`` until it returns ``want`` (bounded); return the last value seen."""
    deadline = time.monotonic() + timeout
    seen = check()
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = check()
    return seen


@pytest.fixture
def agent(flag_file: Path) -> Iterator[Callable[[str], str]]:
    """Evaluate a string flag from ``flag_file`` the way an agent does: an OpenFeature client
    on the flagd provider in file (in-process) mode, with ``"CODE-DEFAULT"`` as its default."""
    from openfeature import api
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType

    domain = f"agentdeck-test-{id(flag_file)}"
    provider = FlagdProvider(
        resolver_type=ResolverType.FILE,
        offline_flag_source_path=str(flag_file),
        deadline_ms=50,  # the file provider polls the file's mtime at this interval
    )
    api.set_provider_and_wait(provider, domain=domain)
    client = api.get_client(domain)
    try:
        yield lambda flag: client.get_string_value(flag, "CODE-DEFAULT")
    finally:
        provider.shutdown()


# -- what an agent sees -----------------------------------------------------------------------


def test_an_agent_gets_the_safe_variant_after_the_write(flag_file: Path, agent) -> None:
    backend = FlagdFileBackend(flag_file, FLAG)
    assert agent(FLAG) == "auto-act"

    backend.write("suggest-only")

    assert wait_for(lambda: agent(FLAG), "suggest-only") == "suggest-only"
    assert agent("crm-update-tier") == "auto-act"
    assert backend.read().value == "suggest-only"


def test_two_writes_in_a_row_end_on_the_second(flag_file: Path, agent) -> None:
    backend = FlagdFileBackend(flag_file, FLAG)
    backend.write("suggest-only")
    backend.write("disabled")
    assert wait_for(lambda: agent(FLAG), "disabled") == "disabled"


def test_a_disabled_flag_serves_the_code_default_until_the_write_enables_it(
    flag_file: Path, agent
) -> None:
    doc = json.loads(flag_file.read_text())
    doc["flags"][FLAG]["state"] = "DISABLED"
    write_doc(flag_file, doc)
    assert wait_for(lambda: agent(FLAG), "CODE-DEFAULT") == "CODE-DEFAULT"
    backend = FlagdFileBackend(flag_file, FLAG)
    reading = backend.read()
    assert reading.value == "auto-act"
    assert "DISABLED" in reading.detail and "code default" in reading.detail

    backend.write("suggest-only")

    assert wait_for(lambda: agent(FLAG), "suggest-only") == "suggest-only"
    assert json.loads(flag_file.read_text())["flags"][FLAG]["state"] == "ENABLED"


# -- the write --------------------------------------------------------------------------------


def test_the_write_changes_only_the_flags_variant_and_state(flag_file: Path) -> None:
    doc = {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "metadata": {"flagSetId": "acme", "version": "7"},
        "flags": {
            "other": {
                "state": "DISABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
            },
            FLAG: tier_flag(
                "auto-act", state="DISABLED", metadata={"owner": "billing"}, targeting={}
            ),
            "último": {
                "state": "ENABLED",
                "variants": {"a": 1.5, "b": {"x": [1, None]}},
                "defaultVariant": "b",
            },
        },
        "$evaluators": {"emails": {"in": ["@acme.com", {"var": "email"}]}},
    }
    write_doc(flag_file, doc)

    FlagdFileBackend(flag_file, FLAG).write("suggest-only")

    after = json.loads(flag_file.read_text(encoding="utf-8"))
    expected = json.loads(json.dumps(doc))
    expected["flags"][FLAG]["state"] = "ENABLED"
    expected["flags"][FLAG]["defaultVariant"] = "suggest-only"
    assert after == expected
    # Key order is kept too, so a diff of the file shows only the two changed values.
    assert list(after) == list(doc)
    assert list(after["flags"]) == list(doc["flags"])
    assert list(after["flags"][FLAG]) == list(doc["flags"][FLAG])


_names = st.text(min_size=1, max_size=12).filter(lambda s: s != FLAG)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    others=st.dictionaries(_names, _json_values, max_size=5),
    top=st.dictionaries(_names.filter(lambda s: s != "flags"), _json_values, max_size=3),
)
def test_every_other_flag_and_key_survives_the_write(
    tmp_path: Path, others: dict[str, Any], top: dict[str, Any]
) -> None:
    path = tmp_path / "h.flagd.json"
    doc = {**top, "flags": {**others, FLAG: tier_flag()}}
    write_doc(path, doc)

    FlagdFileBackend(path, FLAG).write("disabled")

    after = json.loads(path.read_text(encoding="utf-8"))
    assert after["flags"].pop(FLAG) == tier_flag("disabled")
    doc["flags"].pop(FLAG)
    assert after == doc


def test_a_reader_never_sees_half_a_file(flag_file: Path) -> None:
    # A big file makes a write take long enough that a truncate-then-write would be caught.
    doc = json.loads(flag_file.read_text())
    for i in range(3000):
        doc["flags"][f"padding-{i:04}"] = tier_flag("human-approve")
    write_doc(flag_file, doc)
    backend = FlagdFileBackend(flag_file, FLAG)
    seen: set[str] = set()
    broken: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            raw = flag_file.read_bytes()
            try:
                seen.add(json.loads(raw)["flags"][FLAG]["defaultVariant"])
            except (ValueError, KeyError) as exc:
                broken.append(f"{type(exc).__name__} at {len(raw)} bytes")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            backend.write(STATES[i % len(STATES)])
    finally:
        stop.set()
        thread.join()
    assert broken == []
    assert len(seen) > 1  # the reader did read while the writes went on
    assert not [p.name for p in flag_file.parent.iterdir() if p.name != flag_file.name]


def test_the_files_permissions_are_kept(flag_file: Path) -> None:
    flag_file.chmod(0o640)
    FlagdFileBackend(flag_file, FLAG).write("suggest-only")
    assert stat.S_IMODE(flag_file.stat().st_mode) == 0o640


def test_a_symlink_is_written_through(flag_file: Path) -> None:
    link = flag_file.parent / "current.json"
    link.symlink_to(flag_file.name)
    FlagdFileBackend(link, FLAG).write("suggest-only")
    assert link.is_symlink()
    assert json.loads(flag_file.read_text())["flags"][FLAG]["defaultVariant"] == "suggest-only"


def test_the_new_file_is_newer_even_inside_one_clock_tick(flag_file: Path) -> None:
    # flagd's file provider reloads only when the mtime grows.
    future = time.time_ns() + 3_600 * 10**9
    os.utime(flag_file, ns=(future, future))
    FlagdFileBackend(flag_file, FLAG).write("suggest-only")
    assert flag_file.stat().st_mtime_ns > future


def test_an_unknown_variant_is_refused_and_the_file_is_untouched(flag_file: Path) -> None:
    before = flag_file.read_bytes()
    backend = FlagdFileBackend(flag_file, FLAG)
    for bad in ("off", "Suggest-only", True):
        with pytest.raises(SwitchError) as err:
            backend.write(bad)
        assert str(err.value).startswith(f"flagd {flag_file}: ")
        assert "\n" not in str(err.value)
    with pytest.raises(SwitchError, match="has no variant 'off' .*suggest-only"):
        backend.plan("off")
    assert flag_file.read_bytes() == before


def test_plan_shows_the_flag_as_it_will_be_and_writes_nothing(flag_file: Path) -> None:
    before = flag_file.read_bytes()
    backend = FlagdFileBackend(flag_file, FLAG)
    request = backend.plan("suggest-only")
    assert flag_file.read_bytes() == before
    assert (request.method, request.target, request.headers) == ("WRITE", str(flag_file), {})
    backend.write("suggest-only")
    assert request.body == json.loads(flag_file.read_text())["flags"][FLAG]


# -- reading and probing ----------------------------------------------------------------------


def test_it_is_a_switch_backend(flag_file: Path) -> None:
    backend = FlagdFileBackend(flag_file, FLAG)
    assert isinstance(backend, SwitchBackend)
    assert (backend.kind, backend.values, backend.endpoint) == ("flagd", "variant", str(flag_file))
    backend.probe()
    assert backend.read().value == "auto-act"


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        (tier_flag(None), None, "no defaultVariant: agents get their code default"),
        (tier_flag("gone"), "gone", "'gone' is not one of the variants"),
        (
            tier_flag("auto-act", targeting={"if": [True, "disabled"]}),
            "auto-act",
            "targeting rules",
        ),
        ({**tier_flag(), "variants": {"auto-act": "go"}}, "auto-act", 'variant value "go"'),
    ],
)
def test_read_says_when_agents_may_not_get_the_default(
    tmp_path: Path, flag: dict[str, Any], value: str | None, says: str
) -> None:
    path = tmp_path / "f.json"
    write_doc(path, {"flags": {FLAG: flag}})
    reading = FlagdFileBackend(path, FLAG).read()
    assert reading.value == value
    assert says in reading.detail


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    backend = FlagdFileBackend(tmp_path / "nope.json", FLAG)
    for call in (backend.probe, backend.read, lambda: backend.write("disabled")):
        with pytest.raises(SwitchError) as err:
            call()
        assert str(err.value) == (
            f"flagd {tmp_path / 'nope.json'}: no such file; check kill_switch.path in the agent "
            "card (it is relative to the workspace)"
        )


def test_a_missing_flag_names_the_flags_there(flag_file: Path) -> None:
    backend = FlagdFileBackend(flag_file, "billing-tier")
    with pytest.raises(SwitchError, match=r"has no flag 'billing-tier' \(flags: billing-support"):
        backend.probe()
    with pytest.raises(SwitchError, match="has no flag"):
        backend.write("disabled")


def test_bad_json_names_file_and_line(flag_file: Path) -> None:
    flag_file.write_text('{\n  "flags": {\n    "a": {"state": "ENABLED",}\n  }\n}\n')
    backend = FlagdFileBackend(flag_file, FLAG)
    with pytest.raises(SwitchError) as err:
        backend.read()
    message = str(err.value)
    assert message.startswith(f"flagd {flag_file}:3: not valid JSON (")
    assert "\n" not in message
    with pytest.raises(SwitchError, match=f"{flag_file}:3: "):
        backend.write("disabled")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"flag": {}}', 'no "flags" object'),
        ("[1, 2]", 'no "flags" object'),
        ('{"flags": {"billing-support-tier": "on"}}', "is not an object"),
        ('{"flags": {"billing-support-tier": {"state": "ENABLED"}}}', "has no variants"),
        ('{"flags": {"x": {"v": NaN}}}', "NaN is not JSON"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused(flag_file: Path, content: str, says: str) -> None:
    flag_file.write_text(content)
    with pytest.raises(SwitchError, match=says):
        FlagdFileBackend(flag_file, FLAG).probe()
    assert flag_file.read_text() == content


def test_a_file_that_is_not_utf8_names_the_line(flag_file: Path) -> None:
    flag_file.write_bytes(b'{\n"flags": {"\xff": {}}}')
    with pytest.raises(SwitchError, match=f"{flag_file}:2: line 2 is not UTF-8"):
        FlagdFileBackend(flag_file, FLAG).read()


def test_probe_fails_when_the_folder_takes_no_new_file(
    flag_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may write anywhere, so a read-only folder is simulated where the backend creates
    # its temporary file.
    import store.switches.flagd as flagd

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(flagd.tempfile, "mkstemp", refuse)
    backend = FlagdFileBackend(flag_file, FLAG)
    with pytest.raises(SwitchError, match=r"cannot create a file in .*\(Permission denied\)"):
        backend.probe()
    before = flag_file.read_bytes()
    with pytest.raises(SwitchError, match="Permission denied"):
        backend.write("disabled")
    assert flag_file.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_probe_fails_on_a_read_only_folder(flag_file: Path) -> None:
    flag_file.parent.chmod(0o555)
    try:
        with pytest.raises(SwitchError, match="cannot create a file in"):
            FlagdFileBackend(flag_file, FLAG).probe()
    finally:
        flag_file.parent.chmod(0o755)

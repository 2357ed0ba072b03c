"""The Unleash kill-switch backend against a real Unleash 7 on 127.0.0.1 (tests/servers.py),
and a scripted HTTP server for the replies a real one rarely gives.

Each test makes flags of its own (unique names) in the session's Unleash; what the backend
writes is checked independently through the Admin API (``unleash.enabled``).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from store.switches.base import FlagReading, SwitchBackend, SwitchError
from store.switches.unleash import UnleashBackend, base_url
from tests.servers import Reply, ScriptedServer, free_port


def new_flag() -> str:
    return f"kill-{uuid.uuid4().hex[:12]}"


def backend_for(unleash: Any, flag: str, **kwargs: Any) -> UnleashBackend:
    options: dict[str, Any] = {"environment": "production", "token": unleash.admin_token}
    options.update(kwargs)
    return UnleashBackend(unleash.url, flag=flag, **options)


def assert_one_line(message: str) -> None:
    assert message.startswith("unleash http://127.0.0.1:")
    assert "; " in message  # what happened; what to do
    assert "\n" not in message and "\r" not in message and "\x1b" not in message


def test_probe_read_write_and_read_back(unleash: Any) -> None:
    flag = unleash.create_flag(new_flag(), enabled_in=("production", "development"))
    backend = UnleashBackend(
        f"{unleash.url}/api/",  # a base URL with /api/ is taken as the server's
        environment="production",
        flag=flag,
        token=unleash.admin_token,
    )
    assert isinstance(backend, SwitchBackend)
    assert backend.values == "binary"
    assert backend.endpoint == f"{unleash.url}/api/admin/projects/default/features/{flag}"

    backend.probe()
    assert backend.read() == FlagReading(True, "production: on")

    backend.write(False)
    assert backend.read() == FlagReading(False, "production: off")
    assert unleash.enabled(flag, "production") is False
    assert unleash.enabled(flag, "development") is True  # only the card's environment moves

    backend.write(False)  # writing the state it already has is fine
    assert unleash.enabled(flag, "production") is False

    backend.write(True)
    assert backend.read() == FlagReading(True, "production: on")
    assert unleash.enabled(flag, "production") is True


def test_plan_shows_the_request_without_the_token(unleash: Any) -> None:
    flag = unleash.create_flag(new_flag(), enabled_in=("production",))
    backend = backend_for(unleash, flag)
    plan = backend.plan(False)
    assert plan.method == "POST"
    assert plan.target == (
        f"{unleash.url}/api/admin/projects/default/features/{flag}/environments/production/off"
    )
    assert plan.headers == {"Authorization": "****"}
    assert backend.plan(True).target.endswith("/environments/production/on")
    assert unleash.admin_token not in repr(plan) + repr(backend)
    assert unleash.enabled(flag, "production") is True  # planning sends nothing


def test_a_refused_token_says_to_log_in_and_never_shows_it(unleash: Any) -> None:
    flag = unleash.create_flag(new_flag(), enabled_in=("production",))
    wrong = "*:*.0123456789abcdef0123456789abcdef0123456789abcdef"
    backend = backend_for(unleash, flag, token=wrong, credential="unleash-prod")
    for attempt in (backend.probe, backend.read, lambda: backend.write(False)):
        with pytest.raises(SwitchError) as err:
            attempt()
        message = str(err.value)
        assert_one_line(message)
        assert "the token was refused (HTTP 401" in message
        assert "run `agentdeck login unleash-prod`" in message
        assert wrong not in message and "0123456789abcdef" not in message
    assert unleash.enabled(flag, "production") is True


def test_a_missing_flag_or_environment(unleash: Any) -> None:
    missing = backend_for(unleash, new_flag())
    with pytest.raises(SwitchError) as err:
        missing.probe()
    assert_one_line(str(err.value))
    assert "not found (HTTP 404)" in str(err.value)
    assert missing.read().value is None
    with pytest.raises(SwitchError, match="not found"):
        missing.write(True)

    flag = unleash.create_flag(new_flag())
    staging = backend_for(unleash, flag, environment="staging")
    with pytest.raises(SwitchError, match="no environment 'staging'") as err:
        staging.probe()
    assert "development, production" in str(err.value)
    assert staging.read().value is None
    with pytest.raises(SwitchError, match="staging"):
        staging.write(True)

    other_project = backend_for(unleash, flag, project="no-such-project")
    with pytest.raises(SwitchError, match="not found"):
        other_project.probe()


def test_a_variant_is_refused_before_anything_is_sent(unleash: Any) -> None:
    flag = unleash.create_flag(new_flag(), enabled_in=("production",))
    backend = backend_for(unleash, flag)
    with pytest.raises(SwitchError, match="on or off"):
        backend.write("suggest-only")
    with pytest.raises(SwitchError, match="on or off"):
        backend.plan("suggest-only")
    assert unleash.enabled(flag, "production") is True


def test_an_unused_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = UnleashBackend(url, environment="production", flag="f", token="*:*.abc")
    for attempt in (backend.probe, backend.read, lambda: backend.write(True)):
        with pytest.raises(SwitchError) as err:
            attempt()
        message = str(err.value)
        assert_one_line(message)
        assert message.startswith(f"unleash {url}/api/admin/projects/default/features/f")
        assert "unreachable" in message
        assert "*:*.abc" not in message


REPLIES = {
    "/html": (
        Reply(200, b"<!doctype html><title>Unleash</title>", "text/html"),
        "not JSON but text/html",
    ),
    "/cut": (Reply(200, b'{"name": "f", "environments": [{"na'), "ended in the middle of its JSON"),
    "/shape": (Reply(200, b'{"name": "f", "environments": "production"}'), "not an Unleash"),
    "/boom": (Reply(500, b'{"message": "db down\\u001b[2J\\nTOKEN"}'), "HTTP 500"),
}


@pytest.mark.parametrize("prefix", sorted(REPLIES))
def test_a_bad_reply_is_one_line(prefix: str) -> None:
    reply, expected = REPLIES[prefix]
    token = "TOKEN"
    feature = f"{prefix}/api/admin/projects/default/features/f"
    with ScriptedServer({feature: reply}) as server:
        backend = UnleashBackend(
            server.url + prefix, environment="production", flag="f", token=token
        )
        with pytest.raises(SwitchError) as err:
            backend.read()
        assert server.requests[0][2]["Authorization"] == token
    message = str(err.value)
    assert_one_line(message)
    assert message.startswith(f"unleash {server.url}{feature}: ")
    assert expected in message
    assert token not in message


def test_base_url() -> None:
    assert base_url("http://h:4242") == "http://h:4242"
    assert base_url("http://h:4242/") == "http://h:4242"
    assert base_url("http://h:4242/api") == "http://h:4242"
    assert base_url("http://h:4242/api/") == "http://h:4242"
    assert base_url("http://h/unleash/api/") == "http://h/unleash"

"""The generic HTTP kill switch, against httpx.MockTransport."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.switches.base import SwitchBackend, SwitchError
from store.switches.http import HttpBackend, clean_excerpt, display_url

#: The backend these tests cover (tests/test_plugins.py).
COVERS = "switch:http"

TOKEN = "s3cr3t-Flag-Token-7781"
URL = "https://flags.internal/api/v1/flags/billing-support-tier"
TEMPLATE = '{"flag": "{flag}", "state": "{state}", "environment": "{environment}"}'


class Server:
    """A flag service: PUT sets the state, GET reads it back as ``{"data": {"state": ...}}``."""

    def __init__(self, state: str = "auto-act") -> None:
        self.state = state
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"data": {"flag": "billing", "state": self.state}})
        self.state = json.loads(request.content)["state"]
        return httpx.Response(204)


def backend(handler: Any, **kwargs: Any) -> HttpBackend:
    options: dict[str, Any] = {
        "body_template": TEMPLATE,
        "read_json": "data.state",
        "flag": "billing-support-tier",
        "environment": "production",
        "token": TOKEN,
        "transport": httpx.MockTransport(handler),
    }
    options.update(kwargs)
    return HttpBackend(options.pop("url", URL), **options)


def failure(call: Any) -> str:
    with pytest.raises(SwitchError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and TOKEN not in message
    assert message.startswith("http ")
    return message


# -- writing ----------------------------------------------------------------------------------


def test_it_is_a_switch_backend() -> None:
    switch = backend(Server())
    assert isinstance(switch, SwitchBackend)
    assert (switch.kind, switch.values, switch.endpoint) == ("http", "variant", URL)
    assert TOKEN not in repr(switch)


def test_write_sends_the_filled_template_with_the_token_and_read_gets_it_back() -> None:
    server = Server()
    switch = backend(server)
    switch.write("suggest-only")

    (put,) = server.requests
    assert (put.method, str(put.url)) == ("PUT", URL)
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    assert put.headers["content-type"] == "application/json"
    assert json.loads(put.content) == {
        "flag": "billing-support-tier",
        "state": "suggest-only",
        "environment": "production",
    }
    reading = switch.read()
    assert reading.value == "suggest-only"
    assert reading.detail == f"GET {URL}: data.state = 'suggest-only'"
    assert server.requests[-1].method == "GET"


def test_method_and_read_url_come_from_the_card() -> None:
    server = Server()
    switch = backend(server, method="post", read_url=URL + "/state?view=full", token=None)
    switch.write("disabled")
    switch.read()
    post, get = server.requests
    assert post.method == "POST" and "authorization" not in post.headers
    assert str(get.url) == URL + "/state?view=full"


@given(flag=st.text(), state=st.text(), environment=st.text())
def test_no_value_can_break_the_json(flag: str, state: str, environment: str) -> None:
    switch = HttpBackend(
        URL, body_template=TEMPLATE, read_json="x", flag=flag, environment=environment
    )
    assert switch.body(state) == {"flag": flag, "state": state, "environment": environment}


def test_placeholders_in_values_stay_literal() -> None:
    switch = backend(Server(), flag='x", "state": "auto-act')
    assert switch.body("{flag}") == {
        "flag": 'x", "state": "auto-act',
        "state": "{flag}",
        "environment": "production",
    }


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ('{"state": {state}}', "the body template is not JSON once filled in (Expecting value"),
        ('{"state": "{state}"', "the body template is not JSON once filled in"),
        ('{"env": "{environment}"}', "uses {environment} but no environment is set"),
    ],
)
def test_a_template_that_does_not_fill_into_json_sends_nothing(template: str, says: str) -> None:
    server = Server()
    switch = backend(server, body_template=template, environment=None)
    message = failure(lambda: switch.write("disabled"))
    assert says in message
    assert failure(lambda: switch.plan("disabled")) == message
    assert server.requests == []


def test_plan_masks_the_token_and_sends_nothing() -> None:
    server = Server()
    request = backend(server).plan("disabled")
    assert server.requests == []
    assert (request.method, request.target) == ("PUT", URL)
    assert request.headers == {
        "Accept": "application/json",
        "Authorization": "****",
        "Content-Type": "application/json",
    }
    assert request.body["state"] == "disabled"
    assert TOKEN not in repr(request)


def test_a_secret_in_the_url_is_masked_in_messages_and_plans() -> None:
    url = "https://ops:hunter2@hooks.internal/flip?key=abc123&flag=billing"
    switch = backend(lambda r: httpx.Response(500), url=url)
    assert switch.endpoint == "https://****@hooks.internal/flip?key=****&flag=****"
    assert switch.plan("disabled").target == switch.endpoint
    message = failure(lambda: switch.write("disabled"))
    assert "hunter2" not in message and "abc123" not in message


def test_a_non_string_state_is_refused() -> None:
    assert "takes a state name, not True" in failure(lambda: backend(Server()).write(True))


# -- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "path", "value"),
    [
        ({"data": {"state": "human-approve"}}, "data.state", "human-approve"),
        ({"flags": [{"state": "a"}, {"state": "disabled"}]}, "flags.1.state", "disabled"),
        ({"data": {}}, "data.state", None),
        ({"data": {"state": None}}, "data.state", None),
        ({"flags": []}, "flags.0.state", None),
    ],
)
def test_read_follows_the_dotted_path(reply: Any, path: str, value: str | None) -> None:
    switch = backend(lambda r: httpx.Response(200, json=reply), read_json=path)
    reading = switch.read()
    assert reading.value == value
    if value is None:
        assert reading.detail == f"GET {URL}: no {path} in the reply"


def test_a_state_that_is_not_text_is_an_error() -> None:
    switch = backend(lambda r: httpx.Response(200, json={"data": {"state": True}}))
    assert "data.state in the reply is bool true, not a state name" in failure(switch.read)


def test_read_of_a_missing_flag_is_none() -> None:
    reading = backend(lambda r: httpx.Response(404, json={"error": "no such flag"})).read()
    assert reading.value is None and "404" in reading.detail


def test_probe_fills_the_template_and_reads_the_flag() -> None:
    server = Server()
    backend(server).probe()
    assert [r.method for r in server.requests] == ["GET"]
    empty = backend(lambda r: httpx.Response(200, json={"data": {}}))
    message = failure(empty.probe)
    assert "cannot read the flag back" in message and "check read_url and read_json" in message


# -- failures ---------------------------------------------------------------------------------


def test_401_names_the_credential_to_log_in_again() -> None:
    switch = backend(
        lambda r: httpx.Response(401, json={"message": "bad token"}), credential="flagsvc"
    )
    assert failure(lambda: switch.write("disabled")) == (
        f"http {URL}: the token was refused (401: bad token); run `agentdeck login flagsvc`"
    )


def test_403_404_and_other_refusals() -> None:
    def status(code: int) -> str:
        switch = backend(lambda r: httpx.Response(code, json={"error": {"message": "nope"}}))
        return failure(lambda: switch.write("disabled"))

    assert "the token may not do this (403: nope)" in status(403)
    assert status(404).endswith("not found (404: nope); check url in the agent card")
    assert status(422).endswith(
        "refused (422: nope); check the body template and url in the agent card"
    )


def test_429_says_how_long_to_wait() -> None:
    reply = httpx.Response(429, headers={"Retry-After": "30"}, text="slow down")
    message = failure(lambda: backend(lambda r: reply).write("disabled"))
    assert message.endswith(
        "rate limited (429: slow down); the server asks to wait 30 s (Retry-After), then try again"
    )


def test_5xx_points_at_the_fallback_channel() -> None:
    reply = httpx.Response(503, text="<html>Service Unavailable</html>")
    message = failure(lambda: backend(lambda r: reply).write("disabled"))
    assert message == (
        f"http {URL}: server error (503: an HTML page); try again shortly, or use the card's "
        "fallback channel"
    )


def test_an_html_page_is_not_a_reading() -> None:
    page = httpx.Response(200, text="<!doctype html><title>Sign in</title>")
    assert "the reply is not JSON but text/plain ('<!doctype html>" in failure(
        backend(lambda r: page).read
    )


def test_a_truncated_reading_is_an_error() -> None:
    reply = httpx.Response(200, text='{"data": {"state": "suggest-on')
    assert "the reply ended in the middle of its JSON" in failure(backend(lambda r: reply).read)


def test_a_refused_connection_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/flag"
    switch = HttpBackend(
        url, body_template=TEMPLATE, read_json="state", flag="f", environment="e", token=TOKEN
    )
    message = failure(switch.read)
    assert message.startswith(f"http {url}: cannot connect (")
    assert "use the card's fallback channel if it stays down" in message


def test_a_write_that_times_out_says_the_change_may_have_happened() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    switch = backend(slow, timeout=2.5)
    assert failure(lambda: switch.write("disabled")) == (
        f"http {URL}: no answer within 2.5 s; the change may or may not have been made: "
        "read the flag back first"
    )
    assert failure(switch.read).endswith(
        "no answer within 2.5 s; check the service is up and try again"
    )


def test_a_server_echoing_the_token_does_not_leak_it() -> None:
    reply = httpx.Response(400, json={"message": f"bad header Bearer {TOKEN}\x1b]0;pwned\x07"})
    message = failure(lambda: backend(lambda r: reply).write("disabled"))
    assert "bad header Bearer **** ]0;pwned" in message
    assert "\x1b" not in message and "\x07" not in message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("flags.internal/x", "missing an 'http://' or 'https://' protocol"),
        ("ftp://flags.internal/x", "unsupported protocol"),
        ("http://[::1/x", "the URL cannot be used"),
    ],
)
def test_an_unusable_url_is_one_line(url: str, says: str) -> None:
    switch = HttpBackend(url, body_template=TEMPLATE, read_json="s", flag="f", environment="e")
    assert says in failure(switch.read)


def test_clean_excerpt_and_display_url() -> None:
    assert clean_excerpt("a\nb\u202e\u200bc  d" + "x" * 100, limit=10) == "a b c dxx…"
    assert clean_excerpt("token=abc", secrets=["abc", None, ""]) == "token=****"
    assert display_url("https://h/p?a=1&b&c=") == "https://h/p?a=****&b&c=****"
    assert display_url("https://u@h:8443/p#frag") == "https://****@h:8443/p"
    assert display_url("http://[::1/x") == "(an unreadable URL)"

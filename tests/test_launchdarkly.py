"""The LaunchDarkly kill switch against a mock of the REST API v2 flag endpoints, answering with
replies checked against LaunchDarkly's published OpenAPI document
(tests/fixtures/launchdarkly/README.md)."""

from __future__ import annotations

import copy
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.switches.base import SwitchBackend, SwitchError
from store.switches.launchdarkly import SEMANTIC_PATCH, LaunchDarklyBackend
from tests.openapi_subset import problems

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "launchdarkly"
SPEC = json.loads((FIXTURES / "feature-flag.openapi.json").read_text())
FLAG_PATH = SPEC["paths"]["/api/v2/flags/{projectKey}/{featureFlagKey}"]
FLAG_SCHEMA = FLAG_PATH["get"]["responses"]["200"]["content"]["application/json"]["schema"]
ERRORS = json.loads((FIXTURES / "errors.example.json").read_text())

TOKEN = "api-7c1d2e3f-aaaa-bbbb-cccc-0123456789ab"
ENDPOINT = "https://app.launchdarkly.com/api/v2/flags/acme/billing-support-auto-actions"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def documented_instruction(kind: str) -> dict[str, Any]:
    """The example body the PATCH operation's description gives for ``kind``."""
    found = re.search(
        rf"#### {kind}\n.*?```json\n(.*?)```", FLAG_PATH["patch"]["description"], re.S
    )
    assert found, kind
    return json.loads(found.group(1))


class LaunchDarkly:
    """One flag in one environment, answering as the API documents."""

    def __init__(self, on: bool = True) -> None:
        self.flag = fixture("get-flag-production.json")
        self.flag["environments"]["production"]["on"] = on
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != TOKEN:
            return httpx.Response(401, json=ERRORS["UnauthorizedErrorRep"])
        if request.url.path != "/api/v2/flags/acme/billing-support-auto-actions":
            return httpx.Response(404, json=ERRORS["NotFoundErrorRep"])
        if request.method == "PATCH":
            assert request.headers["content-type"] == SEMANTIC_PATCH
            body = json.loads(request.content)
            env = self.flag["environments"][body["environmentKey"]]
            for instruction in body["instructions"]:
                env["on"] = {"turnFlagOn": True, "turnFlagOff": False}[instruction["kind"]]
            env["version"] += 1
            self.flag["_version"] += 1
        reply = copy.deepcopy(self.flag)
        assert problems(SPEC, FLAG_SCHEMA, reply) == []
        return httpx.Response(200, json=reply)


def switch(handler: Any, **kwargs: Any) -> LaunchDarklyBackend:
    options: dict[str, Any] = {
        "project": "acme",
        "environment": "production",
        "flag": "billing-support-auto-actions",
        "token": TOKEN,
        "transport": httpx.MockTransport(handler),
    }
    options.update(kwargs)
    return LaunchDarklyBackend(**options)


def failure(call: Any) -> str:
    with pytest.raises(SwitchError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and TOKEN not in message
    assert message.startswith("launchdarkly ")
    return message


def replying(response: httpx.Response) -> LaunchDarklyBackend:
    return switch(lambda request: response)


# -- the fixtures are LaunchDarkly's shape ----------------------------------------------------


@pytest.mark.parametrize("name", ["get-flag-production.json", "patch-flag-off.json"])
def test_the_replies_conform_to_the_published_schema(name: str) -> None:
    assert problems(SPEC, FLAG_SCHEMA, fixture(name)) == []


def test_the_schema_check_catches_a_flag_that_does_not_conform() -> None:
    flag = fixture("get-flag-production.json")
    flag["environments"]["production"]["on"] = "yes"
    del flag["key"]
    found = problems(SPEC, FLAG_SCHEMA, flag)
    assert "$: key is required" in found
    assert "$.environments.production.on: str where boolean is expected" in found


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_the_error_bodies_are_the_schemas_examples(name: str) -> None:
    assert problems(SPEC, {"$ref": f"#/components/schemas/{name}"}, ERRORS[name]) == []


def test_the_token_goes_in_authorization_as_the_spec_says() -> None:
    assert SPEC["components"]["securitySchemes"]["ApiKey"] == {
        "in": "header",
        "name": "Authorization",
        "type": "apiKey",
    }


# -- reading and writing ----------------------------------------------------------------------


def test_it_is_a_binary_switch_backend() -> None:
    backend = switch(LaunchDarkly())
    assert isinstance(backend, SwitchBackend)
    assert (backend.kind, backend.values, backend.endpoint) == ("launchdarkly", "binary", ENDPOINT)
    assert TOKEN not in repr(backend)


def test_read_asks_for_one_environment_and_takes_on() -> None:
    server = LaunchDarkly(on=True)
    reading = switch(server).read()
    assert reading.value is True
    assert reading.detail == "production: on, version 1, lastModified 1627071171347"
    (get,) = server.requests
    assert (get.method, get.url.path, dict(get.url.params)) == (
        "GET",
        "/api/v2/flags/acme/billing-support-auto-actions",
        {"env": "production"},
    )
    assert get.headers["authorization"] == TOKEN  # the token itself, no "Bearer"


@pytest.mark.parametrize(("value", "kind"), [(False, "turnFlagOff"), (True, "turnFlagOn")])
def test_write_sends_the_documented_semantic_patch(value: bool, kind: str) -> None:
    server = LaunchDarkly(on=not value)
    backend = switch(server)
    backend.write(value)

    (patch,) = server.requests
    assert (patch.method, str(patch.url)) == ("PATCH", ENDPOINT)
    assert patch.headers["content-type"] == (
        "application/json; domain-model=launchdarkly.semanticpatch"
    )
    assert patch.headers["authorization"] == TOKEN
    documented = documented_instruction(kind)
    documented["environmentKey"] = "production"
    assert json.loads(patch.content) == documented
    assert backend.read().value is value


def test_plan_masks_the_token_and_sends_nothing() -> None:
    server = LaunchDarkly()
    request = switch(server).plan(False)
    assert server.requests == []
    assert (request.method, request.target) == ("PATCH", ENDPOINT)
    assert request.headers == {
        "Accept": "application/json",
        "Authorization": "****",
        "Content-Type": SEMANTIC_PATCH,
    }
    assert request.body == {
        "environmentKey": "production",
        "instructions": [{"kind": "turnFlagOff"}],
    }


def test_only_on_or_off_is_accepted() -> None:
    backend = switch(LaunchDarkly())
    assert "is on or off, not 'suggest-only'" in failure(lambda: backend.write("suggest-only"))
    assert "is on or off" in failure(lambda: backend.plan(1))


def test_keys_are_quoted_into_the_path() -> None:
    backend = switch(LaunchDarkly(), project="a/b", flag="x?y")
    assert backend.endpoint == "https://app.launchdarkly.com/api/v2/flags/a%2Fb/x%3Fy"


def test_probe_checks_the_flag_and_the_environment() -> None:
    switch(LaunchDarkly()).probe()
    message = failure(switch(LaunchDarkly(), environment="staging").probe)
    assert message == (
        f"launchdarkly {ENDPOINT}: the flag has no environment 'staging'; check "
        "kill_switch.environment in the agent card (the environment's key)"
    )


def test_read_of_a_missing_flag_or_environment_is_none() -> None:
    gone = switch(LaunchDarkly(), flag="nope").read()
    assert gone.value is None and "no flag 'nope' in project 'acme' (404)" in gone.detail
    elsewhere = switch(LaunchDarkly(), environment="staging").read()
    assert elsewhere.value is None and "no environment 'staging'" in elsewhere.detail


def test_a_write_the_server_did_not_apply_is_an_error() -> None:
    still_on = fixture("get-flag-production.json")
    message = failure(lambda: replying(httpx.Response(200, json=still_on)).write(False))
    assert "accepted the change but the flag is still on" in message


# -- failures ---------------------------------------------------------------------------------


def test_401_says_to_log_in_again() -> None:
    backend = switch(LaunchDarkly(), token="wrong-token")
    assert failure(lambda: backend.write(False)) == (
        f"launchdarkly {ENDPOINT}: the token was refused (401: Invalid access token); "
        "run `agentdeck login launchdarkly`"
    )
    other = switch(LaunchDarkly(), token="wrong-token", credential="ld-prod")
    assert failure(other.read).endswith("run `agentdeck login ld-prod`")


def test_404_names_the_project_and_flag() -> None:
    message = failure(lambda: switch(LaunchDarkly(), flag="billing").write(False))
    assert message == (
        "launchdarkly https://app.launchdarkly.com/api/v2/flags/acme/billing: not found (404: "
        "Invalid resource identifier); check kill_switch.project ('acme') and flag ('billing') "
        "in the agent card"
    )


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (403, "ForbiddenErrorRep", "the token may not change this flag (403: Forbidden."),
        (405, "MethodNotAllowedErrorRep", "LaunchDarkly requires an approval for this change"),
        (409, "StatusConflictErrorRep", "the change conflicts with another one (409: Conflict."),
        (400, "InvalidRequestErrorRep", "refused (400: Invalid request body)"),
    ],
)
def test_documented_refusals(status: int, error: str, says: str) -> None:
    message = failure(lambda: replying(httpx.Response(status, json=ERRORS[error])).write(False))
    assert says in message


def test_429_with_retry_after_says_how_long() -> None:
    reply = httpx.Response(429, headers={"Retry-After": "30"}, json=ERRORS["RateLimitedErrorRep"])
    message = failure(lambda: replying(reply).write(False))
    assert message == (
        f"launchdarkly {ENDPOINT}: rate limited (429: You've exceeded the API rate limit. Try "
        "again later.); the server asks to wait 30 s (Retry-After), then try again"
    )


def test_429_with_only_the_reset_header_says_when_it_resets() -> None:
    reset = int((time.time() + 8) * 1000)
    reply = httpx.Response(
        429, headers={"X-Ratelimit-Reset": str(reset)}, json=ERRORS["RateLimitedErrorRep"]
    )
    message = failure(replying(reply).read)
    assert re.search(r"the rate limit resets in [78] s, then try again$", message), message


def test_5xx_points_at_the_fallback_channel() -> None:
    message = failure(lambda: replying(httpx.Response(502, text="Bad Gateway")).write(True))
    assert message.endswith(
        "server error (502: Bad Gateway); try again shortly, or use the card's fallback channel"
    )


def test_an_html_reply_is_an_error() -> None:
    page = httpx.Response(
        200, text="<html><title>LaunchDarkly</title></html>", headers={"content-type": "text/html"}
    )
    assert "the reply is not JSON but text/html ('<html><title>LaunchDarkly" in failure(
        replying(page).read
    )


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ({"environments": {}}, "(key: Field required)"),
        (
            {"key": "f", "environments": {"production": {"on": "yes"}}},
            "(environments.production.on: Input should be a valid boolean",
        ),
        ([], "(the reply: Input should be a valid dictionary"),
    ],
)
def test_a_reply_that_is_not_a_flag_is_an_error(reply: Any, says: str) -> None:
    message = failure(replying(httpx.Response(200, json=reply)).read)
    assert f"the reply is not a feature flag {says}" in message


def test_connection_refused_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = LaunchDarklyBackend(
        f"http://127.0.0.1:{port}", project="acme", environment="production", flag="f", token=TOKEN
    )
    message = failure(lambda: backend.write(False))
    assert message.startswith(
        f"launchdarkly http://127.0.0.1:{port}/api/v2/flags/acme/f: cannot connect ("
    )
    assert message.endswith("use the card's fallback channel if it stays down")


def test_a_server_echoing_the_token_does_not_leak_it() -> None:
    body = {"code": "unauthorized", "message": f"Invalid access token {TOKEN}\u202e\r\n"}
    message = failure(replying(httpx.Response(401, json=body)).read)
    assert "(401: Invalid access token ****)" in message

"""The shared JSON API client against a real HTTP server on 127.0.0.1: retries, Retry-After in
both forms, replies that are not JSON, timeouts and refused connections, each one line naming
the integration and endpoint, never a secret."""

from __future__ import annotations

import http.server
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from store.jsonapi import JsonApi, retry_after
from tests.servers import Reply, _ThreadedServer, free_port

TOKEN = "tok-Sekr1t-98765"
CLOCK = 1_800_000_000.0  # the injected "now" for HTTP-dates


class Boom(Exception):
    """The integration's own exception type."""


class Down(Boom):
    """The integration's "no answer at all" type."""


class SequenceServer(_ThreadedServer):
    """Answers each path with its replies in turn (the last one repeats); counts requests."""

    def __init__(self, script: dict[str, list[Reply]]) -> None:
        self.script = script
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                count = sum(1 for _, p, _ in outer.seen if p.split("?", 1)[0] == path)
                outer.seen.append((self.command, self.path, dict(self.headers)))
                replies = outer.script.get(path) or [Reply(404, b'{"message": "no such path"}')]
                reply = replies[min(count, len(replies) - 1)]
                if reply.hold is not None:
                    outer.release.wait(30)
                self.send_response_only(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._serve(Handler)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        super().__exit__(*exc)


def http_date(seconds_from_clock: float) -> str:
    return format_datetime(datetime.fromtimestamp(CLOCK + seconds_from_clock, UTC), usegmt=True)


@pytest.fixture
def waits() -> list[float]:
    return []


def api(url: str, waits: list[float], **kw: object) -> JsonApi:
    options: dict[str, object] = {
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "timeout": 2.0,
        "error": Boom,
        "down_error": Down,
        "attempts": 3,
        "sleep": waits.append,
        "clock": lambda: CLOCK,
        "rng": random.Random(3),
        "todo": {"server": "the test server is failing; sync again"},
    }
    options.update(kw)
    return JsonApi("demo", url, **options)  # type: ignore[arg-type]


def fails(client: JsonApi, path: str = "/x", method: str = "GET", **kw: object) -> Boom:
    with pytest.raises(Boom) as caught:
        client.json(method, path, **kw)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert TOKEN not in message and "Sekr1t" not in message
    return caught.value


@pytest.fixture
def serve() -> Iterator[type[SequenceServer]]:
    yield SequenceServer


def test_429_with_retry_after_seconds_waits_that_long(waits: list[float]) -> None:
    with SequenceServer(
        {"/x": [Reply(429, b"{}", headers={"Retry-After": "7"}), Reply(200, b'{"ok": 1}')]}
    ) as server:
        assert api(server.url, waits).json("GET", "/x") == {"ok": 1}
    assert waits == [7.0]
    assert len(server.seen) == 2
    assert server.seen[0][2]["Authorization"] == f"Bearer {TOKEN}"


def test_429_with_an_http_date_waits_until_then(waits: list[float]) -> None:
    date = http_date(12)
    with SequenceServer(
        {"/x": [Reply(429, b"{}", headers={"Retry-After": date}), Reply(200, b"[1, 2]")]}
    ) as server:
        assert api(server.url, waits).json("GET", "/x") == [1, 2]
    assert waits == [12.0]
    assert len(server.seen) == 2


def test_a_retry_after_over_the_cap_is_not_waited_and_fails_in_one_line(
    waits: list[float],
) -> None:
    with SequenceServer(
        {
            "/x": [
                Reply(
                    429,
                    f'{{"message": "slow down {TOKEN}"}}'.encode(),
                    headers={"Retry-After": http_date(7200)},
                )
            ]
        }
    ) as server:
        error = fails(api(server.url, waits))
    assert waits == []
    assert len(server.seen) == 1
    assert str(error) == (
        f"demo GET {server.url}/x: HTTP 429, too many requests (slow down ****); "
        "sync again in 7200 s"
    )
    assert type(error) is Boom


def test_429_that_persists_fails_after_every_attempt(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(429, b"{}", headers={"Retry-After": "1"})]}) as server:
        error = fails(api(server.url, waits))
    assert len(server.seen) == 3
    assert waits == [1.0, 1.0]
    assert str(error).endswith("after 3 attempts; sync again in 1 s")


def test_503_then_200_is_retried_with_backoff(waits: list[float]) -> None:
    with SequenceServer(
        {"/x": [Reply(503, b"busy", "text/plain"), Reply(200, b'{"data": []}')]}
    ) as server:
        assert api(server.url, waits).json("GET", "/x") == {"data": []}
    assert len(server.seen) == 2
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5


def test_5xx_that_persists_names_the_endpoint_and_what_to_do(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(502, b'{"detail": "upstream gone"}')]}) as server:
        error = fails(api(server.url, waits), params={"q": "a"})
    assert len(server.seen) == 3
    # Equal jitter: each wait in [ceiling/2, ceiling], the ceiling doubling from 0.5 s.
    for wait, ceiling in zip(waits, (0.5, 1.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert str(error) == (
        f"demo GET {server.url}/x: HTTP 502 (upstream gone) after 3 attempts; "
        "the test server is failing; sync again"
    )
    assert type(error) is Boom


def test_a_write_that_may_not_be_repeated_is_sent_once(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(503, b"busy", "text/plain")]}) as server:
        error = fails(api(server.url, waits), method="POST", json={"a": 1}, retry=False)
    assert len(server.seen) == 1
    assert waits == []
    assert (
        str(error)
        == f"demo POST {server.url}/x: HTTP 503 (busy); the test server is failing; sync again"
    )


def test_an_html_page_is_not_json(waits: list[float]) -> None:
    page = b"<!doctype html><html><body>Sign in</body></html>"
    with SequenceServer({"/x": [Reply(200, page, "text/html; charset=utf-8")]}) as server:
        error = fails(api(server.url, waits))
    assert len(server.seen) == 1
    assert str(error) == (
        f"demo GET {server.url}/x: the reply is not JSON but text/html "
        "('<!doctype html><html><body>Sign in</bod…'); "
        "check that `url` is the API's address, not a web page or a login proxy"
    )


def test_truncated_json_is_said_to_be_cut_off(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(200, b'{"data": [{"id": "a"}, {"id": "b')]}) as server:
        error = fails(api(server.url, waits))
    assert len(server.seen) == 1
    assert str(error).startswith(
        f"demo GET {server.url}/x: the reply ended in the middle of its JSON (32 bytes); try again"
    )


def test_wrong_content_is_not_valid_json(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(200, f"hello {TOKEN}".encode(), "text/plain")]}) as server:
        error = fails(api(server.url, waits))
    assert len(server.seen) == 1
    assert str(error) == (
        f"demo GET {server.url}/x: the reply is not valid JSON ('hello ****'); "
        "check that `url` is the API's address"
    )


def test_an_empty_reply_is_said(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(200, b"")]}) as server:
        assert "the reply is empty" in str(fails(api(server.url, waits)))
        assert api(server.url, waits).json("GET", "/x", empty=True) is None


def test_a_slow_reply_beyond_the_timeout_is_retried_then_fails_as_down(
    waits: list[float],
) -> None:
    hold = threading.Event()
    with SequenceServer({"/x": [Reply(200, b"{}", hold=hold)]}) as server:
        error = fails(api(server.url, waits, timeout=0.2, attempts=2))
        seen = len(server.seen)
    assert seen == 2
    assert type(error) is Down
    assert str(error) == (
        f"demo GET {server.url}/x: no answer within 0.2 s after 2 attempts; "
        "check that the server is up, or raise `timeout` in agentdeck.toml"
    )


def test_connection_refused_is_retried_then_fails_as_down(waits: list[float]) -> None:
    url = f"http://user:{TOKEN}@127.0.0.1:{free_port()}"
    error = fails(api(url, waits))
    assert type(error) is Down
    assert len(waits) == 2
    message = str(error)
    assert message.startswith(
        f"demo GET http://****@127.0.0.1:{url.rsplit(':', 1)[1]}/x: cannot connect ("
    )
    assert message.endswith(
        "after 3 attempts; check that the server is running and `url` in agentdeck.toml"
    )


def test_a_refused_status_goes_to_the_integrations_mapping(waits: list[float]) -> None:
    def refuse(method: str, path: str, reply: object) -> None:
        client.fail(method, path, "the token was refused", "run `agentdeck login demo`")

    with SequenceServer({"/x": [Reply(401, f'{{"error": "{TOKEN} is bad"}}'.encode())]}) as server:
        client = api(server.url, waits, refuse=refuse)
        error = fails(client)
        generic = fails(api(server.url, waits))
    assert (
        str(error) == f"demo GET {server.url}/x: the token was refused; run `agentdeck login demo`"
    )
    assert str(generic) == (
        f"demo GET {server.url}/x: HTTP 401 (**** is bad); check `url` and the settings in "
        "agentdeck.toml"
    )
    assert len(server.seen) == 2


def test_allowed_statuses_come_back() -> None:
    with SequenceServer({"/x": [Reply(404, b'{"detail": "nope"}')]}) as server:
        client = api(server.url, [])
        assert client.request("GET", "/x", allow=(404,)).status_code == 404
        assert client.json("GET", "/x", allow=(404,)) is None
    assert len(server.seen) == 2


def test_basic_auth_and_its_encoding_are_never_said(waits: list[float]) -> None:
    with SequenceServer({"/x": [Reply(400, b"")]}) as server:
        client = JsonApi("demo", server.url, auth=("pk-1", TOKEN), timeout=2, error=Boom)
        error = fails(client)
        sent = server.seen[0][2]["Authorization"]
    assert sent.startswith("Basic ")
    assert sent.split()[1] in client.secrets
    assert str(error) == (
        f"demo GET {server.url}/x: HTTP 400 (no body); check `url` and the settings in "
        "agentdeck.toml"
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        (http_date(30), 30.0),
        (http_date(-30), 0.0),
        ("", None),
        ("soon", None),
    ],
)
def test_retry_after_reads_both_forms(value: str, seconds: float | None) -> None:
    assert retry_after(value, CLOCK) == seconds


def test_a_date_in_the_past_or_a_timedelta_is_never_negative() -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after(past) == 0.0

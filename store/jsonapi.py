"""One way to talk to a JSON server: the HTTP client every integration uses.

:class:`JsonApi` holds one integration's base URL, auth headers and timeout, and turns each
request into either a reply or ONE line ``"<integration> <METHOD> <url>: what; what to do"``
raised as the exception type the integration chooses. What it does for every integration:

- **Retries** (when the integration allows them, ``attempts > 1``, and the request may be
  repeated: ``retry=False`` for a write that is not keyed) on timeouts, connection errors, 5xx
  and 429, with exponential backoff and equal jitter (the ``n``-th wait is in
  ``[c/2, c]``, ``c = min(backoff_cap, backoff * 2**(n-1))``). A 429 waits what ``Retry-After``
  asks, in either of its forms (delta-seconds or an HTTP-date, read against the injected
  ``clock``); a wait over ``retry_after_cap`` is not waited: the request fails at once with one
  line saying when to try again, and the next sync retries.
- **Replies that are not what they claim**: an HTML page (a login proxy, a web UI), JSON cut
  off mid-way, text that never was JSON, an empty body: each its own one line.
- **Secrets never in a message**: the token values given in ``secrets``, every value of an
  Authorization-like header (and the token inside ``Bearer …``/``Basic …``), the parts of an
  ``auth`` pair and their Basic encoding, and a user or password in a URL are masked in every
  message, whatever the server or the network library echoed.

Each integration keeps only its mapping: ``todo`` texts per kind of failure, ``refuse`` (what a
status it does not allow means for it), ``says`` (where its error replies put their words),
its exception types, and whether a request may be retried.

**Why tenacity.** The retry loop is :class:`tenacity.Retrying` (stop after ``attempts``, the
wait above as a wait function, ``sleep`` injected so tests never wait) rather than a hand-written
loop: it is the widely used, well-kept retry library, it keeps the rules declarative, and its
cost is immaterial next to a request. Measured on a busy 2-core machine: one ``Retrying`` call
of a function that succeeds costs about 30 µs; :class:`JsonApi` over an in-process transport
costs about 30 µs a request more than the same GET and ``json.loads`` through a bare
``httpx.Client`` (``tests/bench/bench_phoenix.py``, "client overhead", same run: 152 against
184 µs), while one request to a local Phoenix takes 5 to 17 ms; the Phoenix benchmark run
before and after the change, back to back, shows no difference beyond its noise. ``stamina``
(a thinner, opinionated layer over tenacity) was not chosen: its jitter is added to the
exponential wait, not the equal jitter the integrations' tests pin, and tests turn its waits off
globally (``stamina.set_testing``) where the existing tests inject a sleep per connector and
assert on the waits asked for. A request the integration may not repeat skips the
loop altogether.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

from store.plugins import LazyModule
from store.text import clean_excerpt, display_url, json_cut_off

if TYPE_CHECKING:
    import httpx
    import tenacity
else:  # imported on first request: a kind module reading its config at start-up needs neither
    httpx = LazyModule("httpx")
    tenacity = LazyModule("tenacity")

#: Header names whose values are secrets wherever they appear (compared lowercase).
_SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key", "api-key")
_SECRET_WORDS = ("token", "secret", "password", "key", "auth")

#: What to do, per kind of failure, when the integration does not say.
TODO: dict[str, str] = {
    "timeout": "check that the server is up, or raise `timeout` in agentdeck.toml",
    "connect": "check that the server is running and `url` in agentdeck.toml",
    "url": "fix `url` in agentdeck.toml",
    "server": "the server is failing; the next sync retries",
    "busy": "sync again {when}",
    "status": "check `url` and the settings in agentdeck.toml",
    "html": "check that `url` is the API's address, not a web page or a login proxy",
    "json": "check that `url` is the API's address",
    "cut": "try again; if it persists, something between agentdeck and the server cuts replies",
}

Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait: delta-seconds or an HTTP-date (against
    ``now``, epoch seconds); None when absent or unreadable. Never negative."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # only for the HTTP-date form

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def default_says(reply: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """The server's own words about a failure, short and clean ("" when it said nothing)."""
    text = reply.content.decode("utf-8", errors="replace")
    if looks_html(reply, text):
        return "an HTML page"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return clean_excerpt(text, secrets=secrets, limit=60)
    if isinstance(data, str):
        return clean_excerpt(data, secrets=secrets, limit=80)
    if isinstance(data, dict):
        error = data.get("error")
        for said in (
            data.get("detail"),
            data.get("message"),
            error.get("message") if isinstance(error, dict) else error,
        ):
            if isinstance(said, str) and said:
                return clean_excerpt(said, secrets=secrets, limit=80)
    return clean_excerpt(text, secrets=secrets, limit=60)


def looks_html(reply: httpx.Response, text: str | None = None) -> bool:
    """The reply is a web page, whatever it claims to be."""
    if text is None:
        text = reply.content.decode("utf-8", errors="replace")
    return "html" in reply.headers.get("content-type", "").lower() or text.lstrip()[:1] == "<"


@dataclass
class _Again(Exception):
    """A failure worth another attempt (raised inside the retry loop only)."""

    what: str
    kind: str
    down: bool
    wait: float | None = None


class JsonApi:
    """One integration's HTTP client (see the module doc). Thread-safe: one ``httpx.Client``
    and its pool are shared by the threads that use it."""

    def __init__(
        self,
        integration: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        error: Callable[[str], Exception] = RuntimeError,
        down_error: Callable[[str], Exception] | None = None,
        todo: Mapping[str, str] | None = None,
        refuse: Callable[[str, str, httpx.Response], NoReturn] | None = None,
        says: Callable[[httpx.Response], str] | None = None,
        where: Callable[[str, str], str] | None = None,
        attempts: int = 1,
        backoff: float = 0.5,
        backoff_cap: float = 10.0,
        retry_after_cap: float = 60.0,
        wait_headers: Iterable[str] = ("retry-after",),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.integration = integration
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        #: Headers of a 429 that say how long to wait, in order (``Retry-After`` first).
        self.wait_headers = tuple(wait_headers)
        self.todo = {**TODO, **(todo or {})}
        self._headers = {"Accept": "application/json", "User-Agent": "agentdeck", **(headers or {})}
        self._auth = auth
        #: The httpx transport (None: the network); settable until the first request.
        self.transport = transport
        self._error = error
        self._down_error = down_error or error
        self._refuse = refuse
        self._says = says
        self._where = where
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._client: httpx.Client | None = None
        self._opening = threading.Lock()  # threads sharing this client open it once
        self.secrets = _secrets(secrets, self._headers, auth, self.base_url)
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Again),
            sleep=self._sleep,
            reraise=True,
        )

    def __repr__(self) -> str:
        return f"JsonApi({self.integration!r}, {display_url(self.base_url)!r})"

    def __enter__(self) -> JsonApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (they open again when the next request is sent)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def http(self) -> httpx.Client:
        """The underlying client (opened on first use)."""
        with self._opening:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.base_url,
                    headers=self._headers,
                    auth=httpx.BasicAuth(*self._auth) if self._auth else None,
                    timeout=httpx.Timeout(self.timeout),
                    transport=self.transport,
                    follow_redirects=False,
                )
            return self._client

    # -- messages --------------------------------------------------------------------------

    def where(self, method: str, path: str) -> str:
        """``"<integration> <METHOD> <url>"`` for a message (credentials and query masked), or
        what the integration's own ``where`` says."""
        if self._where is not None:
            return self._where(method, path)
        return f"{self.integration} {method} {display_url(self._url(path))}"

    def clean(self, text: str, limit: int = 80) -> str:
        """Untrusted text made safe for a message, every secret of this client masked."""
        return clean_excerpt(text, secrets=self.secrets, limit=limit)

    def says(self, reply: httpx.Response) -> str:
        """The server's words about a failed reply ("no body" when it said nothing)."""
        said = self._says(reply) if self._says else default_says(reply, self.secrets)
        return self.clean(said) or "no body"

    def fail(self, method: str, path: str, what: str, todo: str, *, down: bool = False) -> NoReturn:
        """Raise the one-line error: ``"<where>: <what>; <todo>"``, secrets masked."""
        kind = self._down_error if down else self._error
        line = self.clean(f"{self.where(method, path)}: {what}; {todo}", limit=1000)
        raise kind(line) from None

    # -- requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        allow: Iterable[int] = (),
        retry: bool = True,
        todo: Mapping[str, str] | None = None,
        refuse: Callable[[str, str, httpx.Response], NoReturn] | None = None,
    ) -> httpx.Response:
        """Send one request (retried as the module doc says): a 2xx reply or one whose status
        is in ``allow``. Any other 4xx/3xx goes to ``refuse`` (this request's, else the
        integration's, else one generic line); a failure that outlasts the attempts is one
        line. ``todo`` overrides what to do per kind of failure for this request."""
        allowed = frozenset(allow)
        todos = {**self.todo, **todo} if todo else self.todo
        # None, not (): a query already in ``path`` is kept as it is.
        query = tuple(params.items() if isinstance(params, Mapping) else params or ()) or None

        def attempt() -> httpx.Response:
            return self._attempt(
                method, path, query, json, content, headers, allowed, todos, refuse
            )

        try:
            if retry and self.attempts > 1:
                return self._retrying(attempt)
            return attempt()
        except _Again as last:
            tries = f" after {self.attempts} attempts" if retry and self.attempts > 1 else ""
            todo_text = todos[last.kind]
            if last.kind == "busy":
                todo_text = todo_text.format(when=_when(last.wait))
            self.fail(method, path, f"{last.what}{tries}", todo_text, down=last.down)

    def json(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        allow: Iterable[int] = (),
        retry: bool = True,
        todo: Mapping[str, str] | None = None,
        refuse: Callable[[str, str, httpx.Response], NoReturn] | None = None,
        empty: bool = False,
    ) -> Any:
        """:meth:`request`, then the reply's JSON; None for a status in ``allow`` that is not
        2xx, for a 204, and (when ``empty``) for an empty body."""
        reply = self.request(
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            allow=allow,
            retry=retry,
            todo=todo,
            refuse=refuse,
        )
        if not 200 <= reply.status_code < 300 or reply.status_code == 204:
            return None
        if empty and not reply.content.strip():
            return None
        return self.parse(method, path, reply, todo=todo)

    def parse(
        self,
        method: str,
        path: str,
        reply: httpx.Response,
        *,
        todo: Mapping[str, str] | None = None,
    ) -> Any:
        """The reply's JSON; one line when it is HTML, empty, cut off or not JSON at all."""
        todos = {**self.todo, **todo} if todo else self.todo
        text = reply.content.decode("utf-8", errors="replace")
        if looks_html(reply, text):
            kind = reply.headers.get("content-type", "").split(";")[0].strip() or "no content type"
            self.fail(
                method,
                path,
                f"the reply is not JSON but {kind} ({self.clean(text, 40)!r})",
                todos["html"],
            )
        if not text.strip():
            self.fail(method, path, "the reply is empty", todos["json"])
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if json_cut_off(text, exc):
                self.fail(
                    method,
                    path,
                    f"the reply ended in the middle of its JSON ({len(reply.content)} bytes)",
                    todos["cut"],
                )
            self.fail(
                method,
                path,
                f"the reply is not valid JSON ({self.clean(text, 40)!r})",
                todos["json"],
            )
        except RecursionError:
            self.fail(method, path, "the reply is JSON nested too deeply", todos["json"])

    # -- inside ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    def _attempt(
        self,
        method: str,
        path: str,
        query: tuple[tuple[str, Any], ...] | None,
        body: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        allow: frozenset[int],
        todos: Mapping[str, str],
        refuse: Callable[[str, str, httpx.Response], NoReturn] | None,
    ) -> httpx.Response:
        try:
            reply = self.http.request(
                method, path, params=query, json=body, content=content, headers=headers
            )
            reply.read()
        except httpx.TimeoutException:
            raise _Again(f"no answer within {self.timeout:g} s", "timeout", True) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            reason = self.clean(str(exc), 60) or type(exc).__name__
            self.fail(method, path, f"the URL cannot be used ({reason})", todos["url"])
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            reason = self.clean(str(exc), 60) or type(exc).__name__
            raise _Again(f"cannot connect ({reason})", "connect", True) from None
        except httpx.HTTPError as exc:
            raise _Again(f"the request failed ({type(exc).__name__})", "connect", True) from None
        except ValueError as exc:  # an unusable URL httpx did not classify (bad port, IPv6)
            self.fail(
                method, path, f"the URL cannot be used ({self.clean(str(exc), 60)})", todos["url"]
            )
        status = reply.status_code
        if 200 <= status < 300 or status in allow:
            return reply
        if status == 429:
            wait = self._asked_wait(reply)
            if wait is not None and wait > self.retry_after_cap:
                self.fail(
                    method,
                    path,
                    f"HTTP 429, too many requests ({self.says(reply)})",
                    todos["busy"].format(when=_when(wait)),
                )
            raise _Again(f"HTTP 429, too many requests ({self.says(reply)})", "busy", False, wait)
        if status >= 500:
            raise _Again(f"HTTP {status} ({self.says(reply)})", "server", False)
        if refuse := refuse or self._refuse:
            refuse(method, path, reply)
        self.fail(method, path, f"HTTP {status} ({self.says(reply)})", todos["status"])

    def _asked_wait(self, reply: httpx.Response) -> float | None:
        now = self._clock()
        for header in self.wait_headers:
            wait = retry_after(reply.headers.get(header), now)
            if wait is not None:
                return wait
        return None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome else None
        if isinstance(failed, _Again) and failed.wait is not None:
            return failed.wait
        ceiling = min(self.backoff_cap, self.backoff * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def _when(wait: float | None) -> str:
    return f"in {wait:.0f} s" if wait is not None else "in a minute"


def _secrets(
    given: Iterable[str | None],
    headers: Mapping[str, str],
    auth: tuple[str, str] | None,
    url: str,
) -> list[str]:
    """Every value a message must never show, longest first (so a token inside a longer
    header value is masked whole)."""
    found = {s for s in given if s}
    for name, value in headers.items():
        low = name.lower()
        if low in _SECRET_HEADERS or any(word in low for word in _SECRET_WORDS):
            # "Bearer X", "Token token=X", "Basic X": the credential (masked wherever it is).
            words = value.split()
            found.add(words[-1].split("=", 1)[-1] if len(words) > 1 else value)
    if auth:
        found.update(auth)
        found.add(base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    # A URL's user, password and query values (display_url masks them in the endpoint too).
    found.update(value for _, value in parse_qsl(urlsplit(url).query))
    netloc = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        found.add(userinfo)
        found.update(part for part in userinfo.split(":") if part)
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)

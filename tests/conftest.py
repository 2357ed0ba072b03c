"""Shared fixtures. Keep them generic: any room's tests may use them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from store.workspace import Workspace, load_workspace

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample-data"


def copy_sample_data(target: Path) -> Path:
    """Copy ``sample-data/`` (without any local database) to ``target``."""
    shutil.copytree(
        SAMPLE_DATA,
        target,
        ignore=shutil.ignore_patterns(".agentdeck", "__pycache__", "generate.py"),
    )
    return target


#: The demo store's corrupt lines (runs.jsonl ends with them on purpose, as a crashed exporter
#: leaves them): `agentdeck validate` reports both and exits 1.
DEMO_CORRUPT_LINES = (914, 915)


def mend_demo_store(root: Path) -> Path:
    """Drop the demo's two corrupt last lines of ``store/runs.jsonl`` in the copy at ``root``,
    for tests that need a workspace ``validate`` finds nothing wrong with."""
    runs = root / "store" / "runs.jsonl"
    lines = runs.read_bytes().splitlines(keepends=True)
    assert len(lines) == DEMO_CORRUPT_LINES[-1], "the demo's corrupt lines moved"
    runs.write_bytes(b"".join(lines[: DEMO_CORRUPT_LINES[0] - 1]))
    return root


@pytest.fixture(autouse=True)
def _private_keyring_and_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets a real, empty file keyring and a state directory of its own, in this
    process and in the children it starts: the audit trail makes its key on first use and
    anchors its head, and neither may reach the developer's own keyring or state directory."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    from runbooks import audit_keys

    home = tmp_path_factory.mktemp("keyring-and-state")
    path = home / "keyring_pass.cfg"
    backend = PlaintextKeyring()
    backend.file_path = str(path)  # type: ignore[misc]
    # set_keyring has no undo; monkeypatch puts the previous backend back after the test.
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("KEYRING_PROPERTY_FILE_PATH", str(path))
    monkeypatch.setenv("AGENTDECK_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("AGENTDECK_CACHE_DIR", str(home / "cache"))
    audit_keys.clear_cache()
    yield path
    audit_keys.clear_cache()


@pytest.fixture
def keyring_file(_private_keyring_and_state: Path) -> Path:
    """The file behind this test's keyring (keyrings.alt's plain file, empty at the start)."""
    return _private_keyring_and_state


@pytest.fixture
def demo_workspace(tmp_path: Path) -> Workspace:
    """A private copy of the demo workspace (config, rubric, file store), not yet synced."""
    return load_workspace(copy_sample_data(tmp_path / "demo"))


async def settle(pilot, *, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until a Textual app is idle: no worker running, no queued work, twice in a row.

    Works for any app; for the desk it also waits for sync, the queue and the open run.
    """
    import asyncio
    import time

    app = pilot.app
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not settle")
        await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(w.is_running for w in app.workers)
        is_busy = getattr(app, "is_busy", None)
        if callable(is_busy) and is_busy():
            busy = True
        quiet = 0 if busy else quiet + 1
        if busy:
            await asyncio.sleep(0.01)
    await pilot.pause()


#: Text that tries every trick: Rich/Textual markup, actions, ANSI CSI and OSC 8, BEL, bidi
#: override, C1 CSI, NUL, and a marker where the fixture writes invalid UTF-8 bytes.
HOSTILE = (
    "[bold red]X[/] [link=https://evil.example]y[/link] [@click=app.quit]z[/] "
    "\x1b[2J\x1b[31mred \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 bell\x07 "
    "\u202eevil\u202c \x9b31m \x00nul @@BAD@@ end"
)
INVALID_UTF8 = b"\xff\xfe\xc3"


def add_run(workspace: Workspace, record: dict, *, invalid_utf8_marker: str = "@@BAD@@") -> str:
    """Append a run to the workspace's file store, assigned to the workspace's reviewer.

    The trace id is chosen so rendezvous assignment gives the run to the reviewer; the marker
    is replaced by invalid UTF-8 bytes, as a broken producer would write them. Returns the id.
    """
    import json

    from review.sampling import assign_reviewers

    cfg = workspace.config
    prefix = record.get("trace_id", "hostile")
    for n in range(1000):
        trace_id = f"{prefix}-{n}"
        chosen = assign_reviewers(
            cfg.sampling.salt,
            trace_id,
            cfg.review.roster,
            cfg.review.overlap,
            cfg.review.overlap_reviewers,
        )
        if workspace.reviewer in chosen:
            break
    line = json.dumps({**record, "trace_id": trace_id}, ensure_ascii=False).encode("utf-8")
    line = line.replace(invalid_utf8_marker.encode(), INVALID_UTF8)
    store = next(s for s in cfg.stores if s.kind == "file")
    runs = workspace.path(store.path or ".") / "runs.jsonl"
    with runs.open("ab") as fh:
        fh.write(line + b"\n")
    return trace_id


def hostile_record(output: str) -> dict:
    """A run whose every text field is hostile; status error, so it is always sampled, and
    the earliest start time, so it opens first."""
    return {
        "trace_id": "hostile",
        "workflow": "billing-support",
        "start_time": "2026-01-01T00:00:00.000Z",
        "end_time": "2026-01-01T00:00:04.000Z",
        "status": "error",
        "business_ref": "order:[@click=app.quit]\x1b[2J",
        "tokens": {"input": 10, "output": 20},
        "cost_usd": 0.001,
        "latency_ms": 4000,
        "input": HOSTILE,
        "output": output,
        "steps": [
            {
                "kind": "tool",
                "name": "payments_api[@click=app.quit]",
                "latency_ms": 12,
                "arguments": {"note": HOSTILE},
                "result": HOSTILE,
                "error": {"type": "Timeout\x1b[5m", "message": HOSTILE},
            }
        ],
        "final_action": {"kind": "refund", "status": "failed", "summary": HOSTILE},
        "tags": ["[b]tag[/b]", "\x1b]0;title\x07"],
    }


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 16 MB filesystem (tmpfs) that a test can fill up: a full disk, not a simulation.

    Needs the permission to mount (root, as on CI); skipped where that is not allowed.
    """
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")

    class Disk:
        path = mount
        filler = mount / "filler"

        def fill(self) -> None:
            """Write until the filesystem is full (ENOSPC), big blocks then small ones."""
            import os

            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                for size in (65536, 4096, 512, 1):
                    try:
                        while True:
                            os.write(fd, b"\0" * size)
                    except OSError:
                        pass
            finally:
                os.close(fd)

        def free(self) -> None:
            self.filler.unlink(missing_ok=True)

    try:
        yield Disk()
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


# --- Real servers on 127.0.0.1 (tests/servers.py): Alertmanager, Pushgateway, PostgreSQL, ... ---
# Each starts the first time a test asks for it and stops when the session ends. A server that
# is not installed skips the test locally (one line saying how to install it) and fails it in
# CI (CI set), where `.ci/run` installs all three; one that fails to start fails with its log.


def _server_missing(reason: str) -> None:
    import os

    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run every server test)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def _running(
    start: Callable[[Path], Any],
    folder: Path,
    stop: Callable[[Any], None] = lambda server: server.stop(),
) -> Iterator[Any]:
    """A server started by ``start(folder)`` (``tests/servers.py``), stopped at the end: one
    not installed is skipped here and a failure in CI, one that fails to start fails the test
    with its log."""
    from tests import servers

    try:
        started = start(folder)
    except servers.ServerMissing as exc:
        _server_missing(str(exc))
    except servers.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield started
    finally:
        stop(started)


class OwnServer:
    """A real server a test module may stop and start again (``tests/servers.py``'s
    ``start``/``restart`` pair): its data folder and its URL stay; ``api`` talks to it."""

    def __init__(
        self,
        workdir: Path,
        start: Callable[[Path], Any],
        restart: Callable[[Any, Path], Any],
        api: Callable[[str], Any],
    ) -> None:
        self.workdir = workdir
        self._restart = restart
        self.server = start(workdir)
        self.api = api(self.server.url)

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def running(self) -> bool:
        return self.server.process.poll() is None

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server = self._restart(self.server, self.workdir)
        assert self.server.url == self.api.url

    def up(self) -> OwnServer:
        """Running (a test that failed half-way may have left it stopped)."""
        if not self.running:
            self.restart()
        return self


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder for the servers' data and logs."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def alertmanager_url(servers_dir: Path):  # type: ignore[no-untyped-def]
    """The base URL of a real Alertmanager (``http://127.0.0.1:PORT``), clustering off."""
    from tests import servers

    with _running(servers.start_alertmanager, servers_dir / "alertmanager") as server:
        yield server.url


@pytest.fixture(scope="session")
def pushgateway_url(servers_dir: Path):  # type: ignore[no-untyped-def]
    """The base URL of a real Prometheus Pushgateway (``http://127.0.0.1:PORT``), persistence
    off. Tests share it: each pushes under a job name of its own."""
    from tests import servers

    with _running(servers.start_pushgateway, servers_dir / "pushgateway") as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path):  # type: ignore[no-untyped-def]
    """A throwaway PostgreSQL cluster on 127.0.0.1 (``tests.servers.Postgres``)."""
    from tests import servers

    with _running(
        servers.start_postgres, servers_dir / "postgres", lambda pg: pg.server.stop()
    ) as pg:
        yield pg


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server) -> str:  # type: ignore[no-untyped-def]
    """A URL to the ``postgres`` database of the session's PostgreSQL (trust, no password)."""
    return str(postgres_server.dsn())


class UnleashAdmin:
    """A real Unleash server: its URL, an admin token, and a way to make flags for a test."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.url = url
        self.admin_token = admin_token

    def api(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """One Admin API call (``path`` from ``/api/admin``); the status and the JSON reply."""
        import json
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/api/admin{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": self.admin_token, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, (json.loads(raw) if raw.strip() else None)

    def create_flag(
        self, name: str, *, enabled_in: tuple[str, ...] = (), project: str = "default"
    ) -> str:
        """Create a kill-switch flag in ``project``, on in the environments ``enabled_in``
        (off in the others). Returns its name."""
        status, reply = self.api(
            "POST", f"/projects/{project}/features", {"name": name, "type": "kill-switch"}
        )
        assert status == 201, (status, reply)
        for environment in enabled_in:
            status, reply = self.api(
                "POST", f"/projects/{project}/features/{name}/environments/{environment}/on"
            )
            assert status == 200, (status, reply)
        return name

    def enabled(self, flag: str, environment: str, *, project: str = "default") -> bool:
        """Whether ``flag`` is on in ``environment``, read straight from the Admin API."""
        status, reply = self.api("GET", f"/projects/{project}/features/{flag}")
        assert status == 200 and isinstance(reply, dict), (status, reply)
        return next(e["enabled"] for e in reply["environments"] if e["name"] == environment)


@pytest.fixture(scope="session")
def unleash(servers_dir: Path, postgres_server):  # type: ignore[no-untyped-def]
    """A real Unleash (``unleash-server`` from npm) on the session's PostgreSQL."""
    from tests import servers

    try:
        servers.unleash_entry()
    except servers.ServerMissing as exc:
        _server_missing(str(exc))
    try:
        database = postgres_server.create_database("unleash")
        started = servers.start_unleash(servers_dir / "unleash", database)
    except servers.ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield UnleashAdmin(started.url, started.admin_token)
    finally:
        started.server.stop()


class PhoenixServer:
    """A real Phoenix: its URL, raw REST calls, and seeding spans with fixed ids."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """One REST call (``path`` from ``/v1``, query included); the status and the JSON."""
        import json
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, (json.loads(raw) if raw.strip() else None)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def span_ids(self, project: str, trace_ids: list[str]) -> set[str]:
        """The span ids Phoenix can list for these traces right now."""
        from urllib.parse import urlencode

        found: set[str] = set()
        cursor = None
        while True:
            query = [("trace_id", t) for t in trace_ids] + [("limit", "1000")]
            if cursor:
                query.append(("cursor", cursor))
            status, reply = self.api("GET", f"/projects/{project}/spans?{urlencode(query)}")
            if status == 404:  # the project appears with its first span
                return found
            assert status == 200 and isinstance(reply, dict), (status, reply)
            found |= {s["context"]["span_id"] for s in reply["data"]}
            cursor = reply.get("next_cursor")
            if not cursor:
                return found

    def seed(self, project: str, spans: list[dict], *, timeout: float = 60.0) -> None:
        """Post spans (Phoenix's own span shape) and wait until every one is listed.

        Phoenix queues spans and inserts them in the background: poll, bounded.
        """
        import time

        status, reply = self.api("POST", f"/projects/{project}/spans", {"data": spans})
        assert status == 202, (status, reply)
        want = {s["context"]["span_id"] for s in spans}
        traces = sorted({s["context"]["trace_id"] for s in spans})
        deadline = time.monotonic() + timeout
        while not want <= self.span_ids(project, traces):
            assert time.monotonic() < deadline, f"Phoenix did not list {len(want)} spans in time"
            time.sleep(0.1)


@pytest.fixture(scope="session")
def phoenix(servers_dir: Path):  # type: ignore[no-untyped-def]
    """A real Arize Phoenix (pinned, in its own virtualenv) on 127.0.0.1, SQLite in a temp dir."""
    from tests import servers

    with _running(servers.start_phoenix, servers_dir / "phoenix") as server:
        yield PhoenixServer(server.url)


class MlflowServer:
    """A real MLflow tracking server: its URL, raw REST calls, and seeding traces."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """One REST call (``path`` from the server's root, query included); status and JSON."""
        import json
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, (json.loads(raw) if raw.strip() else None)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def seed(self, experiment: str, traces: list[dict]) -> list[dict[str, str]]:
        """Write agent traces with MLflow's own client (``tests/servers/mlflow/seed.py``)."""
        from tests import servers

        return servers.seed_mlflow(self.url, experiment, traces)

    def assessments(self, trace_id: str) -> list[dict]:
        """Every assessment on one trace, read straight from MLflow."""
        status, reply = self.api("GET", f"/api/3.0/mlflow/traces/get?trace_id={trace_id}")
        assert status == 200 and isinstance(reply, dict), (status, reply)
        return list(reply["trace"]["trace_info"].get("assessments") or [])


@pytest.fixture(scope="session")
def mlflow_server(servers_dir: Path):  # type: ignore[no-untyped-def]
    """A real MLflow tracking server (pinned, in its own virtualenv) on 127.0.0.1, SQLite and
    artifacts in a temp dir, one worker, no job runners."""
    from tests import servers

    with _running(servers.start_mlflow, servers_dir / "mlflow") as server:
        yield MlflowServer(server.url)


async def palette(pilot, command: str) -> None:  # type: ignore[no-untyped-def]
    """Open the palette with ctrl+p, type ``command`` and run the first match."""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*command)
    await settle(pilot)
    await pilot.pause(0.3)  # the palette searches in a worker of its own, then lists
    await pilot.press("enter")
    await settle(pilot)

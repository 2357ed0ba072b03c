"""Real servers for the integration tests: Alertmanager, Pushgateway, PostgreSQL, Unleash,
Phoenix and MLflow.

Each ``start_*`` function runs one server on 127.0.0.1 and a free port, writes its log to a file
in the directory it is given, waits (a bounded poll) until the server answers, and returns a
:class:`Server` to stop it with. Nothing here binds anything but 127.0.0.1, and every start
checks it: a server found listening on any other address is stopped and reported.

What is not installed raises :class:`ServerMissing` (the fixtures skip locally and fail in CI);
a server that is installed but does not come up raises :class:`ServerFailed` with the last
lines of its log. ``.ci/run`` installs them all; the fixtures live in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

#: Where `.ci/run` installs Unleash (`npm ci`), keyed on the lock file's hash.
UNLEASH_SOURCE = Path(__file__).resolve().parent / "servers" / "unleash"
UNLEASH_VERSION = "7.5.1"
#: Seconds a server gets to answer after it was started. Unleash runs its database migrations
#: first, which on two busy cores takes a while.
START_TIMEOUT = {
    "alertmanager": 60.0,
    "pushgateway": 60.0,
    "postgres": 60.0,
    "unleash": 240.0,
    "phoenix": 180.0,
    "mlflow": 180.0,
}


class ServerMissing(Exception):
    """The server is not installed here. One line: what is missing and how to install it."""


class ServerFailed(Exception):
    """The server is installed but did not come up; the message ends with its log's last lines."""


@dataclass
class Server:
    """A running server: its process, its log, and whatever must be cleaned up after it."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str
    #: Folders removed once the server has stopped (e.g. PostgreSQL's data directory).
    cleanup: list[Path] = field(default_factory=list)
    #: Run instead of a signal to stop it (PostgreSQL stops through ``pg_ctl``).
    stopper: Callable[[], None] | None = None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server (gently, then SIGKILL after ``timeout``) and remove its folders."""
        if self.process.poll() is None:
            if self.stopper is not None:
                self.stopper()
            else:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        for folder in self.cleanup:
            shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(log: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, for a failure message."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _failed(name: str, what: str, log: Path) -> ServerFailed:
    return ServerFailed(f"{name} {what}; the last lines of {log}:\n{log_tail(log)}")


def _launch(
    argv: list[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    # A session of its own: ctrl+c in the terminal reaches pytest, which stops the servers in
    # order, rather than every server at once.
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )


def wait_until(
    check: Callable[[], bool], *, name: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll ``check`` until it is true; ServerFailed if the process exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT[name]
    while True:
        if process.poll() is not None:
            raise _failed(name, f"exited with status {process.returncode} while starting", log)
        if check():
            return
        if time.monotonic() > deadline:
            raise _failed(name, f"did not answer within {START_TIMEOUT[name]:.0f} s", log)
        time.sleep(0.2)


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    """True when ``url`` answers 2xx."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=2) as reply:
            return 200 <= int(reply.status) < 300
    except (OSError, urllib.error.URLError):
        return False


def _process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def listening_addresses(pid: int) -> set[str]:
    """Every ``host:port`` a process (or one of its children) listens on, IPv4 and IPv6."""
    inodes: set[str] = set()
    for member in _process_tree(pid):
        for fd in Path(f"/proc/{member}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    addresses = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            host_hex, port_hex = cols[1].split(":")
            raw = bytes.fromhex(host_hex)
            # /proc prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if width == 4 else socket.AF_INET6
            addresses.add(f"{socket.inet_ntop(family, words)}:{int(port_hex, 16)}")
    return addresses


def check_loopback_only(server: Server) -> None:
    """Stop ``server`` and raise ServerFailed if it listens anywhere but 127.0.0.1."""
    # gRPC opens dual-stack sockets: 127.0.0.1 shows as the IPv4-mapped ::ffff:127.0.0.1,
    # which is the same loopback address (no other host can reach it).
    elsewhere = sorted(
        a
        for a in listening_addresses(server.process.pid)
        if not a.startswith(("127.0.0.1:", "::ffff:127.0.0.1:"))
    )
    if elsewhere:
        server.stop()
        raise ServerFailed(f"{server.name} listens on {', '.join(elsewhere)}, not only 127.0.0.1")


# --- Prometheus Alertmanager ---------------------------------------------------------------

ALERTMANAGER_CONFIG = """\
# Alerts are kept and listed but sent nowhere: the one receiver has no integrations.
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def alertmanager_binary() -> str:
    """The Alertmanager binary (Debian's `prometheus-alertmanager`), or ServerMissing."""
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name)
        if found:
            return found
    raise ServerMissing(
        "Alertmanager is not installed (apt-get install prometheus-alertmanager, or bash .ci/run)"
    )


def start_alertmanager(workdir: Path) -> Server:
    """Alertmanager on 127.0.0.1, clustering off, its data and log in ``workdir``."""
    binary = alertmanager_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    (workdir / "data").mkdir(exist_ok=True)
    port = free_port()
    log = workdir / "alertmanager.log"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # An empty address turns the gossip cluster (which binds 0.0.0.0:9094) off.
        "--cluster.listen-address=",
    ]
    process = _launch(argv, log)
    url = f"http://127.0.0.1:{port}"
    server = Server("alertmanager", process, log, url)
    try:
        wait_until(lambda: http_ok(f"{url}/-/ready"), name="alertmanager", process=process, log=log)
    except ServerFailed:
        server.stop()
        raise
    check_loopback_only(server)
    return server


# --- Prometheus Pushgateway -----------------------------------------------------------------


def pushgateway_binary() -> str:
    """The Pushgateway binary (Debian's `prometheus-pushgateway`), or ServerMissing."""
    for name in ("prometheus-pushgateway", "pushgateway"):
        found = shutil.which(name)
        if found:
            return found
    raise ServerMissing(
        "Pushgateway is not installed (apt-get install prometheus-pushgateway, or bash .ci/run)"
    )


def start_pushgateway(workdir: Path) -> Server:
    """Pushgateway on 127.0.0.1, persistence off (Debian's default writes to /var/lib), its
    log in ``workdir``."""
    binary = pushgateway_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "pushgateway.log"
    argv = [
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        # Empty: metrics live in memory only and go with the process.
        "--persistence.file=",
    ]
    process = _launch(argv, log)
    url = f"http://127.0.0.1:{port}"
    server = Server("pushgateway", process, log, url)
    try:
        wait_until(lambda: http_ok(f"{url}/-/ready"), name="pushgateway", process=process, log=log)
    except ServerFailed:
        server.stop()
        raise
    check_loopback_only(server)
    return server


# --- PostgreSQL ----------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian's layout), or ServerMissing."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ServerMissing("PostgreSQL is not installed (apt-get install postgresql, or bash .ci/run)")


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root: as root, run them as the `postgres` OS user.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class Postgres:
    """A running PostgreSQL and how to reach it."""

    server: Server
    host: str
    port: int
    user: str

    def dsn(self, database: str = "postgres") -> str:
        """A libpq/SQLAlchemy-style URL for ``database`` (no password: trust on 127.0.0.1)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name`` and return its URL."""
        bindir = postgres_bindir()
        done = subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ServerFailed(f"createdb {name} failed: {done.stderr.strip()}")
        return self.dsn(name)


def start_postgres(workdir: Path) -> Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1: initdb into a temporary folder, run it.

    The data and the unix socket live in a folder of their own under the system temp dir (the
    `postgres` user cannot enter pytest's private temp folders), removed when it stops; the log
    goes to ``workdir``. Authentication is `trust`: only this machine can connect, and only
    for the tests' lifetime.
    """
    bindir = postgres_bindir()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "postgres.log"
    home = Path(tempfile.mkdtemp(prefix="agentdeck-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data = home / "data"
    user = "postgres"
    init = subprocess.run(
        [
            *_as_postgres_user(),
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    with log.open("a") as out:
        out.write(init.stdout + init.stderr)
    if init.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        raise _failed("postgres", f"initdb exited with status {init.returncode}", log)
    port = free_port()
    argv = [
        *_as_postgres_user(),
        str(bindir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={home}",
        # Test data is thrown away: durability only costs time on a shared disk.
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
    ]
    process = _launch(argv, log)

    def stop_fast() -> None:
        # `pg_ctl stop -m fast`: disconnect clients and shut down cleanly (a plain SIGTERM
        # would wait for every client to leave).
        subprocess.run(
            [*_as_postgres_user(), str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast"],
            capture_output=True,
            check=False,
        )

    server = Server(
        "postgres", process, log, f"127.0.0.1:{port}", cleanup=[home], stopper=stop_fast
    )
    pg = Postgres(server, "127.0.0.1", port, user)

    def ready() -> bool:
        done = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", user],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    try:
        wait_until(ready, name="postgres", process=process, log=log)
    except ServerFailed:
        server.stop()
        raise
    check_loopback_only(server)
    return pg


# --- Unleash -------------------------------------------------------------------------------


def unleash_lock_hash() -> str:
    """The first 16 hex digits of the SHA-256 of the committed package-lock.json."""
    return hashlib.sha256((UNLEASH_SOURCE / "package-lock.json").read_bytes()).hexdigest()[:16]


def unleash_dir() -> Path:
    """Where Unleash is installed: $AGENTDECK_UNLEASH_DIR, else `.ci/run`'s cache folder."""
    explicit = os.environ.get("AGENTDECK_UNLEASH_DIR")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentdeck-ci" / f"unleash-{unleash_lock_hash()}"


def unleash_entry() -> Path:
    """Unleash's `dist/server.js` in the install, or ServerMissing."""
    if not shutil.which("node"):
        raise ServerMissing("node is not installed (Unleash needs Node.js 20 or later)")
    entry = unleash_dir() / "node_modules" / "unleash-server" / "dist" / "server.js"
    if not entry.is_file():
        raise ServerMissing(
            f"Unleash {UNLEASH_VERSION} is not installed in {unleash_dir()} "
            "(bash .ci/run, or set AGENTDECK_UNLEASH_DIR to a folder where `npm ci` ran)"
        )
    return entry


@dataclass
class UnleashServer:
    """A running Unleash and the admin token it was started with."""

    server: Server
    url: str
    admin_token: str


def start_unleash(workdir: Path, database_url: str) -> UnleashServer:
    """Unleash on 127.0.0.1 and a free port, on the PostgreSQL database ``database_url``.

    ``INIT_ADMIN_API_TOKENS`` creates an admin token at start; ``HTTP_HOST`` is the address it
    listens on (Unleash 7 reads it in `create-config`; without it Node listens on every
    address). Version checks and telemetry are off: the tests talk to no one else.
    """
    entry = unleash_entry()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "unleash.log"
    port = free_port()
    token = f"*:*.{secrets.token_hex(24)}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "TZ": "UTC",
        "NODE_ENV": "production",
        "DATABASE_URL": database_url,
        "DATABASE_SSL": "false",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "UNLEASH_URL": f"http://127.0.0.1:{port}",
        "INIT_ADMIN_API_TOKENS": token,
        # Unleash makes an `admin` user with a well-known password unless it is given one.
        "UNLEASH_DEFAULT_ADMIN_USERNAME": "admin",
        "UNLEASH_DEFAULT_ADMIN_PASSWORD": secrets.token_urlsafe(24),
        "CHECK_VERSION": "false",
        "SEND_TELEMETRY": "false",
        "SCARF_ANALYTICS": "false",
        "LOG_LEVEL": "warn",
    }
    process = _launch(["node", str(entry)], log, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    server = Server("unleash", process, log, url)

    def ready() -> bool:
        # /health answers before the init tokens are stored: wait for the token to work too.
        return http_ok(f"{url}/health") and http_ok(
            f"{url}/api/admin/projects", {"Authorization": token}
        )

    try:
        wait_until(ready, name="unleash", process=process, log=log)
    except ServerFailed:
        server.stop()
        raise
    check_loopback_only(server)
    return UnleashServer(server, url, token)


# --- Arize Phoenix ---------------------------------------------------------------------------

#: The Phoenix the tests run: `.ci/run` installs exactly this into a virtualenv of its own.
PHOENIX_VERSION = "20.26.1"

#: Phoenix's gRPC OTLP receiver binds ``[::]`` whatever PHOENIX_HOST says, and it cannot be
#: turned off (only a read-only server skips it). This launcher rewrites that one address to
#: 127.0.0.1 before Phoenix starts, then runs ``phoenix serve``.
PHOENIX_LAUNCHER = """\
import sys

from grpc.aio import _server

_add = _server.Server.add_insecure_port


def _loopback(self, address):
    return _add(self, address.replace("[::]:", "127.0.0.1:", 1))


_server.Server.add_insecure_port = _loopback
sys.argv = ["phoenix", "serve"]
from phoenix.server.main import main  # noqa: E402

main()
"""


def cached_venv(name: str, version: str, variable: str) -> Path:
    """Where a test server's own virtualenv is: ``$variable``, else `.ci/run`'s cache folder
    ``agentdeck-ci/<name>-<version>``."""
    explicit = os.environ.get(variable)
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentdeck-ci" / f"{name}-{version}"


def venv_python(venv: Path, what: str, variable: str, package: str) -> Path:
    """The Python of a test server's own virtualenv, or ServerMissing saying how to get it."""
    python = venv / "bin" / "python"
    # `.ci/run` writes the marker last, so a half-done install is never taken for a done one.
    if not python.is_file() or not (venv / ".agentdeck-complete").is_file():
        raise ServerMissing(
            f"{what} is not installed in {venv} (bash .ci/run, or set "
            f"{variable} to a virtualenv with {package} installed)"
        )
    return python


def phoenix_dir() -> Path:
    """Where Phoenix is installed: $AGENTDECK_PHOENIX_DIR, else `.ci/run`'s cache folder."""
    return cached_venv("phoenix", PHOENIX_VERSION, "AGENTDECK_PHOENIX_DIR")


def phoenix_python() -> Path:
    """The Python of Phoenix's own virtualenv, or ServerMissing."""
    return venv_python(
        phoenix_dir(), f"Phoenix {PHOENIX_VERSION}", "AGENTDECK_PHOENIX_DIR", "arize-phoenix"
    )


def start_phoenix(workdir: Path, *, port: int | None = None) -> Server:
    """Phoenix on 127.0.0.1 and a free port (HTTP and gRPC), SQLite in ``workdir``.

    ``port``: the HTTP port to use instead of a free one (a restart keeps its address).
    Telemetry and external resources (fonts, scripts from CDNs) are off: the tests talk to
    no one else.
    """
    python = phoenix_python()
    workdir.mkdir(parents=True, exist_ok=True)
    launcher = workdir / "launch_phoenix.py"
    launcher.write_text(PHOENIX_LAUNCHER)
    log = workdir / "phoenix.log"
    port, grpc_port = port or free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "TZ": "UTC",
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir / "data"),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    process = _launch([str(python), str(launcher)], log, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    server = Server("phoenix", process, log, url)
    try:
        wait_until(lambda: http_ok(f"{url}/healthz"), name="phoenix", process=process, log=log)
    except ServerFailed:
        server.stop()
        raise
    check_loopback_only(server)
    return server


def restart_phoenix(server: Server, workdir: Path) -> Server:
    """Stop ``server`` (if it still runs) and start Phoenix again on the same HTTP port with
    the same ``workdir``, so its SQLite data and its URL survive the restart."""
    server.stop()
    port = int(server.url.rsplit(":", 1)[1])
    return start_phoenix(workdir, port=port)


# --- MLflow tracking server ------------------------------------------------------------------

#: The MLflow the tests run: `.ci/run` installs exactly this into a virtualenv of its own.
MLFLOW_VERSION = "3.18.0"


def mlflow_dir() -> Path:
    """Where MLflow is installed: $AGENTDECK_MLFLOW_DIR, else `.ci/run`'s cache folder."""
    return cached_venv("mlflow", MLFLOW_VERSION, "AGENTDECK_MLFLOW_DIR")


def mlflow_python() -> Path:
    """The Python of MLflow's own virtualenv, or ServerMissing."""
    return venv_python(mlflow_dir(), f"MLflow {MLFLOW_VERSION}", "AGENTDECK_MLFLOW_DIR", "mlflow")


def mlflow_env(workdir: Path) -> dict[str, str]:
    """The environment MLflow runs in (the server, and the tests' seeding scripts)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "TZ": "UTC",
        # Without this the server starts 8 job workers (about 1.8 GB instead of 520 MB).
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


def start_mlflow(workdir: Path, *, port: int | None = None) -> Server:
    """An MLflow tracking server on 127.0.0.1 and a free port, its SQLite database and its
    artifacts in ``workdir``, one worker. ``port``: the port to use instead of a free one (a
    restart keeps its address)."""
    python = mlflow_python()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "mlflow.log"
    port = port or free_port()
    argv = [
        str(python),
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    process = _launch(argv, log, env=mlflow_env(workdir), cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    server = Server("mlflow", process, log, url)
    try:
        wait_until(lambda: http_ok(f"{url}/health"), name="mlflow", process=process, log=log)
    except ServerFailed:
        server.stop()
        raise
    check_loopback_only(server)
    return server


#: The script that writes traces with MLflow's own client (run by MLflow's Python).
MLFLOW_SEED = Path(__file__).resolve().parent / "servers" / "mlflow" / "seed.py"


def seed_mlflow(url: str, experiment: str, traces: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Write ``traces`` (see ``servers/mlflow/seed.py``) into the MLflow at ``url`` with
    MLflow's own client; the trace ids and span ids (hex) written, in order."""
    import json

    with tempfile.TemporaryDirectory() as home:
        env = {
            **mlflow_env(Path(home)),
            # Written before the client returns: the tests read them straight after.
            "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
        }
        done = subprocess.run(
            [str(mlflow_python()), str(MLFLOW_SEED)],
            input=json.dumps({"url": url, "experiment": experiment, "traces": traces}).encode(),
            capture_output=True,
            env=env,
            cwd=home,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise ServerFailed(f"seeding MLflow failed: {done.stderr.decode(errors='replace')[-2000:]}")
    written: list[dict[str, str]] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return written


def restart_mlflow(server: Server, workdir: Path) -> Server:
    """Stop ``server`` (if it still runs) and start MLflow again on the same port with the
    same ``workdir``, so its SQLite data and its URL survive the restart."""
    server.stop()
    port = int(server.url.rsplit(":", 1)[1])
    return start_mlflow(workdir, port=port)


# --- A scripted HTTP server ----------------------------------------------------------------


@dataclass
class Reply:
    """What the scripted server answers on one path."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: Hold the answer until this is set (or 30 s pass): a server that does not answer.
    hold: threading.Event | None = None


class _ThreadedServer:
    """An HTTP server on 127.0.0.1 (a free port) serving ``handler`` in a daemon thread, for
    the test servers written in Python; ``url`` is its address."""

    def _serve(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


class ScriptedServer(_ThreadedServer):
    """A real HTTP server on 127.0.0.1 in a thread, answering each path with a fixed
    :class:`Reply`, for the replies a real server would rarely give (HTML, cut-off JSON, 500).
    Requests it received are kept in ``requests`` (method, path with query, headers)."""

    def __init__(self, replies: dict[str, Reply]) -> None:
        self.replies = replies
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        scripted = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                scripted.requests.append((self.command, self.path, dict(self.headers)))
                reply = scripted.replies.get(path, Reply(404, b'{"message": "no such path"}'))
                if reply.hold is not None:
                    reply.hold.wait(30)
                # The reply's own Date, if it has one, stands for the server's clock.
                self.send_response_only(reply.status)
                if "Date" not in reply.headers:
                    self.send_header("Date", self.date_time_string())
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._serve(Handler)

    def __exit__(self, *exc: object) -> None:
        for reply in self.replies.values():
            if reply.hold is not None:
                reply.hold.set()
        super().__exit__(*exc)


class TransportServer(_ThreadedServer):
    """A real HTTP server on 127.0.0.1 in a thread that hands each request, as an
    ``httpx.Request``, to ``handle`` and sends back the ``httpx.Response`` it returns: a fake
    written for ``httpx.MockTransport`` (shaped like a published API) served over the network,
    so the app and the CLI reach it through a URL in agentdeck.toml like a real store."""

    def __init__(self, handle: Any) -> None:
        import httpx

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(
                    self.command,
                    f"{outer.url}{self.path}",
                    headers=[(k, v) for k, v in self.headers.items()],
                    content=body,
                )
                response = handle(request)
                response.read()
                self.send_response_only(response.status_code)
                self.send_header("Date", self.date_time_string())
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._serve(Handler)

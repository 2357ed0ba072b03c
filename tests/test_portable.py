"""agentdeck where POSIX-only modules do not exist (Windows laptops): a child Python in which
``fcntl`` and the other POSIX-only modules cannot be imported and ``signal.SIGHUP`` is gone,
from before anything imports (a ``sitecustomize``), imports every module of the four rooms,
opens the desk with Pilot, grades a run and pushes it, and takes each file lock agentdeck has.
The grade is then read from the SQLite file and the store's scores file by this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent

#: Modules Windows' Python does not have, made unimportable in the child.
POSIX_ONLY = ("fcntl", "pty", "pwd", "grp", "resource")
#: Also absent on Windows, but Textual picks its terminal driver by platform and its Linux one
#: needs them: the child checks that importing every module left them unloaded.
TERMINAL_ONLY = ("termios", "tty")

SITECUSTOMIZE = f"""
import signal
import sys

for name in {POSIX_ONLY!r}:
    sys.modules[name] = None  # `import name` raises ImportError, as on Windows
del signal.SIGHUP
"""

CHILD = r"""
import asyncio
import importlib
import json
import signal
import subprocess
import sys
from pathlib import Path

assert not hasattr(signal, "SIGHUP")
try:
    import fcntl  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("fcntl is still importable: the shim did not run first")

root, ws_root, flag_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
report = {"imported": []}
for room in ("store", "review", "runbooks", "tui"):
    for path in sorted((root / room).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "__pycache__" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        importlib.import_module(name)
        report["imported"].append(path.relative_to(root).as_posix())

report["terminal_modules"] = sorted(set(sys.argv[4].split(",")) & set(sys.modules))

import filelock

report["lock_kind"] = filelock.FileLock.__name__

from store.files import LockHeld, hold
from store.workspace import load_workspace
from tests.conftest import settle
from tui.app import make_app

ws = load_workspace(ws_root)

# The desk's lock: held here, a second agentdeck on the workspace is refused, naming this pid.
held = hold(ws.db_path.with_name("desk.lock"))
second = subprocess.run(
    [sys.executable, "-m", "tui.cli", "-w", str(ws_root)],
    capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
)
report["second_desk"] = [second.returncode, second.stderr]
try:
    hold(ws.db_path.with_name("desk.lock"))
except LockHeld as exc:
    report["held_by"] = exc.holder


async def grade() -> None:
    app = make_app(ws)
    services = app.services
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        report["run"] = app.desk.current_run
        await pilot.press("p", "n", "s")
        await settle(pilot)
        report["pending_before_push"] = app.desk.pending
        services.push_due()  # the push timer's callback: through the scores file's lock
        await settle(pilot)
        report["pending_after_push"] = app.desk.pending


asyncio.run(grade())
held.release()

# The flag folder's lock (flagd) and the anchor file's lock (audit trail).
from runbooks import anchors
from store.switches.flagd import FlagdFileBackend

backend = FlagdFileBackend(flag_file, "billing-support-tier")
backend.write("suggest-only")
report["flag"] = backend.read().value
anchor = anchors.anchors_dir() / "portable.jsonl"
report["anchor_problem"] = anchors.write(anchor, {"seq": 1})
report["anchor"] = anchor.read_text(encoding="utf-8")
print(json.dumps(report))
"""


def test_the_desk_runs_and_grades_where_fcntl_does_not_exist(
    demo_workspace: Workspace, tmp_path: Path
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    child = tmp_path / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    flag_file = demo_workspace.root / "flags" / "agents.flagd.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])}
    done = subprocess.run(
        [
            sys.executable,
            str(child),
            str(ROOT),
            str(demo_workspace.root),
            str(flag_file),
            ",".join(TERMINAL_ONLY),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])

    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for room in ("store", "review", "runbooks", "tui")
        for p in (ROOT / room).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert sorted(report["imported"]) == modules
    assert report["terminal_modules"] == []
    # Neither flock nor Windows' LockFileEx: filelock's lock file marks its owner's pid.
    assert report["lock_kind"] == "SoftFileLock"

    code, stderr = report["second_desk"]
    assert code == 2, stderr
    assert (
        stderr.strip()
        .splitlines()[-1]
        .endswith(
            "the desk is already open on this workspace "
            f"(pid {report['held_by']}); use that window, or close it first"
        )
    ), stderr
    assert report["held_by"].isdigit()

    assert (report["pending_before_push"], report["pending_after_push"]) == (1, 0)
    import sqlite3

    conn = sqlite3.connect(demo_workspace.db_path)
    try:
        trace, values, complete = conn.execute(
            'SELECT r.run_id, g."values", g.complete FROM grades g JOIN runs r ON r.id = g.run '
            "WHERE g.run = ? AND g.reviewer = ?",
            (report["run"], demo_workspace.reviewer),
        ).fetchone()
        unsent = conn.execute("SELECT count(*) FROM outbox WHERE pushed_at IS NULL").fetchone()
    finally:
        conn.close()
    assert complete == 1
    assert json.loads(values) == {
        "task_success": "pass",
        "intervention": "no",
        "policy": "safe",
    }
    assert unsent == (0,)
    pushed = [
        json.loads(line)
        for line in (demo_workspace.root / "store" / "scores.jsonl").read_text().splitlines()
    ]
    mine = {
        s["name"]: s["value"]
        for s in pushed
        if s.get("trace_id") == trace and s["metadata"]["reviewer"] == demo_workspace.reviewer
    }
    assert mine == {"task_success": "pass", "intervention": "no", "policy": "safe"}

    assert report["flag"] == "suggest-only"
    assert json.loads(flag_file.read_text())["flags"]["billing-support-tier"] == {
        **json.loads((ROOT / "sample-data" / "flags" / "agents.flagd.json").read_text())["flags"][
            "billing-support-tier"
        ],
        "defaultVariant": "suggest-only",
        "state": "ENABLED",
    }
    assert report["anchor_problem"] is None
    assert report["anchor"] == '{"seq":1}\n'

"""The desk in a real terminal, as a person uses it: tmux runs `agentdeck demo`, send-keys types,
capture-pane reads the screen, and the grade is checked in SQLite."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_AT = re.compile(r"run (\d+) of \d+")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is needed by this test and is not installed (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def wait_for(predicate, what: str, timeout: float = 60.0, on_timeout=None):  # type: ignore[no-untyped-def]
    # Polling for a state, not timing it: the limit only stops a hung test.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}\n{on_timeout() if on_timeout else ''}")


def complete_grades(db: Path) -> int:
    if not db.exists():
        return -1
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM grades WHERE reviewer = 'ana' AND origin = 'local' "
                "AND complete = 1"
            ).fetchone()[0]
        )
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


def test_grade_a_run_in_a_real_terminal(tmp_path: Path) -> None:
    tmux = need("tmux")
    socket = str(tmp_path / "tmux.sock")
    ws = tmp_path / "demo"
    env_cmd = (
        f"cd {ROOT} && HOME={tmp_path} XDG_DATA_HOME={tmp_path}/data "
        f"{sys.executable} -m tui.cli demo --path {ws}; "
        "echo agentdeck-exited-$?; sleep 600"
    )

    def tm(*args: str) -> str:
        return subprocess.run(
            [tmux, "-S", socket, *args], check=True, capture_output=True, text=True
        ).stdout

    tm("new-session", "-d", "-s", "desk", "-x", "120", "-y", "40", env_cmd)
    try:
        screen = wait_for(
            lambda: (s := tm("capture-pane", "-p", "-t", "desk")) and RUN_AT.search(s) and s,
            "the desk to open",
        )
        assert "task_success" in screen
        db = ws / ".agentdeck" / "agentdeck.db"
        wait_for(lambda: complete_grades(db) == 0, "the first sync")
        first_run = screen
        tm("send-keys", "-t", "desk", "p", "n", "s")
        wait_for(lambda: complete_grades(db) == 1, "the grade in SQLite")
        after = wait_for(
            lambda: (s := tm("capture-pane", "-p", "-t", "desk")) != first_run and s,
            "the next run",
        )
        # The next run still to grade opens: further down the queue, and not graded yet.
        before_at = int(RUN_AT.search(first_run).group(1))
        assert int(RUN_AT.search(after).group(1)) > before_at
        conn = sqlite3.connect(db)
        values = conn.execute(
            "SELECT \"values\" FROM grades WHERE reviewer = 'ana' AND origin = 'local'"
        ).fetchone()[0]
        pending = conn.execute("SELECT count(*) FROM outbox WHERE pushed_at IS NULL").fetchone()[0]
        conn.close()
        assert '"task_success": "pass"' in values and '"policy": "safe"' in values
        assert pending == 1
        tm("send-keys", "-t", "desk", "C-q")
        wait_for(
            lambda: (
                "agentdeck" not in tm("list-panes", "-t", "desk", "-F", "#{pane_current_command}")
                and "python" not in tm("list-panes", "-t", "desk", "-F", "#{pane_current_command}")
            ),
            "the desk to quit",
            timeout=20,
        )
    finally:
        subprocess.run([tmux, "-S", socket, "kill-server"], capture_output=True)

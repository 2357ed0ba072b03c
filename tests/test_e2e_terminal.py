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


# -- keys as a terminal really delivers them -------------------------------------------------------


class Desk:
    """`agentdeck demo` in a tmux pane; the pane's shell prints the exit code when it ends."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmux = need("tmux")
        self.socket = str(tmp_path / "tmux.sock")
        self.ws = tmp_path / "demo"
        self.db = self.ws / ".agentdeck" / "agentdeck.db"
        self.pidfile = tmp_path / "pid"
        cmd = (
            f"cd {ROOT} && HOME={tmp_path} XDG_DATA_HOME={tmp_path}/data "
            f"sh -c 'echo $$ > {self.pidfile}; "
            f"exec {sys.executable} -m tui.cli demo --path {self.ws}'; "
            "echo agentdeck-exited-$?; sleep 600"
        )
        self.tm("new-session", "-d", "-s", "desk", "-x", "120", "-y", "40", cmd)

    def tm(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-S", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self.tm("capture-pane", "-p", "-t", "desk")

    def open_and_synced(self) -> None:
        wait_for(
            lambda: "online" in self.screen() and RUN_AT.search(self.screen()),
            "the desk",
            on_timeout=self.screen,
        )

    def todo(self) -> list[int]:
        conn = sqlite3.connect(self.db)
        try:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT run FROM assignments WHERE reviewer = 'ana' AND graded = 0 "
                    "ORDER BY started_at, run"
                )
            ]
        finally:
            conn.close()

    def grades(self) -> dict[int, str]:
        conn = sqlite3.connect(self.db)
        try:
            return dict(
                conn.execute(
                    "SELECT run, \"values\" FROM grades WHERE reviewer = 'ana' AND origin = 'local'"
                ).fetchall()
            )
        finally:
            conn.close()

    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def keys_read(self) -> bool:
        """Whether the app has read every byte the terminal holds for it (the pty's input
        queue is empty). A hang-up flushes that queue in the kernel, so keys still in it never
        reached the app; under load the app may read a burst a moment after tmux wrote it."""
        import fcntl
        import struct
        import termios

        tty = self.tm("display", "-p", "-t", "desk", "#{pane_tty}").strip()
        fd = os.open(tty, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            pending = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        finally:
            os.close(fd)
        return pending == 0

    def exited(self) -> bool:
        return "agentdeck-exited-" in self.screen()

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True)


PNS = '{"intervention": "no", "policy": "safe", "task_success": "pass"}'


def test_eight_runs_typed_in_one_burst_each_land_on_their_own_run(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        desk.open_and_synced()
        todo = desk.todo()[:8]
        # One send-keys: the terminal delivers all 24 keys in one read.
        desk.tm("send-keys", "-t", "desk", "pns" * 8)
        wait_for(lambda: len(desk.grades()) == 8, "eight grades", on_timeout=desk.screen)
        grades = desk.grades()
        assert sorted(grades) == sorted(todo)
        assert all(grades[run] == PNS for run in todo)
    finally:
        desk.close()


def test_ctrl_q_right_after_a_burst_saves_every_key(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        desk.open_and_synced()
        todo = desk.todo()[:14]
        # 43 keys and ctrl+q, all in one read.
        desk.tm("send-keys", "-t", "desk", "pns" * 14 + "f", "C-q")
        wait_for(desk.exited, "agentdeck to quit", on_timeout=desk.screen)
        assert "agentdeck-exited-0" in desk.screen()
        grades = desk.grades()
        assert len(grades) == 15
        assert all(grades[run] == PNS for run in todo)
        assert [v for r, v in grades.items() if r not in todo] == ['{"task_success": "fail"}']
    finally:
        desk.close()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "terminal-closed"])
def test_a_signal_right_after_a_burst_saves_every_key(tmp_path: Path, how: str) -> None:
    import signal

    desk = Desk(tmp_path)
    try:
        desk.open_and_synced()
        todo = desk.todo()[:10]
        before = desk.grades()
        desk.tm("send-keys", "-t", "desk", "pns" * 10)
        # The signal comes right after the app has *read* the burst (not after it has handled
        # it): keys still in the terminal's queue at a hang-up never reach any program. tmux
        # may write the burst a moment after send-keys returns, so the queue counts as read
        # once it has been seen holding the keys, or once a grade shows the app has them.
        seen = []

        def burst_read() -> bool:
            if not desk.keys_read():
                seen.append(True)
                return False
            return bool(seen) or desk.grades() != before

        wait_for(burst_read, "the app to read the burst", on_timeout=desk.screen)
        if how == "SIGTERM":
            os.kill(desk.pid(), signal.SIGTERM)
            wait_for(desk.exited, "agentdeck to quit", on_timeout=desk.screen)
        else:
            # The terminal goes away: tmux closes the pane (or the whole terminal server goes)
            # and the process gets SIGHUP with nobody left to draw for.
            pid = desk.pid()
            if how == "SIGHUP":
                desk.tm("kill-pane", "-t", "desk")
            else:
                desk.close()

            def gone() -> bool:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return True
                return False

            wait_for(gone, "agentdeck to end after SIGHUP", timeout=30)
        grades = desk.grades()
        assert len(grades) == 10, grades
        assert all(grades[run] == PNS for run in todo)
    finally:
        desk.close()

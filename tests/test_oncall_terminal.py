"""On call in a real terminal: tmux runs `agentdeck oncall`, send-keys types (a whole burst in
one send-keys), capture-pane reads the screen, and SQLite, the flag file and the audit trail are
checked. Also `kill -9` right after a verified switch: the walkthrough resumes with it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import copy_sample_data
from oncall_helpers import OUTAGE, flag_of, point_status_page, status_page
from test_e2e_terminal import need, wait_for

from store.workspace import load_workspace

ROOT = Path(__file__).resolve().parent.parent
FLAG = "billing-support-tier"


class OnCall:
    """`agentdeck oncall` in a tmux pane; the pane's shell prints the exit code when it ends."""

    def __init__(self, tmp_path: Path, ws: Path) -> None:
        self.tmux = need("tmux")
        self.tmp = tmp_path
        self.socket = str(tmp_path / "tmux.sock")
        self.ws = ws
        self.db = ws / ".agentdeck" / "agentdeck.db"
        self.pidfile = tmp_path / "pid"
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        name = f"oc{self.runs}"
        cmd = (
            f"cd {ROOT} && HOME={self.tmp} XDG_DATA_HOME={self.tmp}/data "
            f"sh -c 'echo $$ > {self.pidfile}; "
            f"exec {sys.executable} -m tui.cli oncall -w {self.ws}'; "
            "echo agentdeck-exited-$?; sleep 600"
        )
        self.tm("new-session", "-d", "-s", name, "-x", "120", "-y", "40", cmd)
        self.target = name
        self.wait("the board", lambda s: "Incidents" in s and "online" in s)

    def tm(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-S", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self.tm("capture-pane", "-p", "-t", self.target)

    def keys(self, *keys: str) -> None:
        """One send-keys: the terminal delivers them together."""
        self.tm("send-keys", "-t", self.target, *keys)

    def wait(self, what: str, ok) -> str:  # type: ignore[no-untyped-def]
        return wait_for(lambda: (s := self.screen()) and ok(s) and s, what, on_timeout=self.screen)

    def to_outage(self) -> None:
        for _ in range(10):
            before = self.screen()
            if f"alertmanager/{OUTAGE}" in before:
                return
            self.keys("Down")
            self.wait("the next incident", lambda s, was=before: s != was)
        self.wait("the outage highlighted", lambda s: f"alertmanager/{OUTAGE}" in s)

    def session(self) -> tuple[str, list[str], dict]:  # type: ignore[type-arg]
        conn = sqlite3.connect(self.db)
        try:
            status, state = conn.execute("SELECT status, state FROM runbook_sessions").fetchone()
        finally:
            conn.close()
        data = json.loads(state)
        return status, data["path"], data["answers"]

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True)


def workspace(tmp_path: Path, url: str) -> Path:
    root = copy_sample_data(tmp_path / "demo")
    point_status_page(load_workspace(root), url)
    return root


def walk_to_vendor(oc: OnCall) -> None:
    oc.to_outage()
    oc.keys("Enter")
    oc.wait("the first step's check", lambda s: "Is the payment tool failing?" in s and "WARN" in s)
    oc.keys("1")
    oc.wait("the vendor step's check", lambda s: "provider down?" in s and "WARN" in s)


def test_the_burst_one_step_early_then_on_the_switch_step(tmp_path: Path) -> None:
    with status_page("major") as url:
        ws = workspace(tmp_path, url)
        oc = OnCall(tmp_path, ws)
        try:
            oc.start()
            walk_to_vendor(oc)
            # The burst, one step too early, in one send-keys.
            oc.keys("k billing-support", "Enter", "payments down", "Enter")
            # Polled until the whole refusal is drawn (a capture can catch a frame half drawn).
            screen = oc.wait(
                "the refusal",
                lambda s: "k: this step has no kill switch" in s and "were not used" in s,
            )
            assert "31 keys typed after it were not used" in screen, screen
            assert oc.session()[:2] == ("active", ["confirm", "vendor"])
            oc.keys("Escape")
            oc.wait("the refusal gone", lambda s: "NOT TAKEN" not in s)
            oc.keys("1")
            oc.wait("the kill-switch step", lambda s: "KILL SWITCH: lower" in s)
            # The same keys on the switch step set the switch.
            oc.keys("k billing-support", "Enter", "payments down", "Enter")
            oc.wait("the verdict", lambda s: "VERIFIED" in s)
            assert flag_of(load_workspace(ws), FLAG) == "suggest-only"
            status, path, answers = oc.session()
            assert (status, path[-1]) == ("active", "stop-refunds")
            assert answers["stop-refunds"]["switch"]["verdict"] == "verified"
            conn = sqlite3.connect(oc.db)
            reasons = [
                json.loads(b)["reason"]
                for (b,) in conn.execute("SELECT body FROM audit WHERE kind = 'switch.result'")
            ]
            conn.close()
            assert reasons == ["payments down"]
        finally:
            oc.close()


def test_kill_9_right_after_a_verified_switch_resumes_with_it(tmp_path: Path) -> None:
    with status_page("major") as url:
        ws = workspace(tmp_path, url)
        oc = OnCall(tmp_path, ws)
        try:
            oc.start()
            walk_to_vendor(oc)
            oc.keys("1")
            oc.wait("the kill-switch step", lambda s: "KILL SWITCH: lower" in s)
            oc.keys("k", "billing-support", "Enter", "provider down", "Enter")
            oc.wait("the verdict", lambda s: "VERIFIED" in s and "read back" in s)
            os.kill(int(oc.pidfile.read_text().strip()), signal.SIGKILL)
            oc.wait("the process gone", lambda s: "agentdeck-exited-137" in s)

            oc.start()
            oc.to_outage()
            oc.wait("the walkthrough marked", lambda s: "resume at step 3" in s)
            oc.keys("Enter")
            screen = oc.wait("the step resumed", lambda s: "Stop automatic refunds" in s)
            assert "VERIFIED" in screen and "enter goes on" in screen
            oc.keys("Enter")
            # "Tell the support team" is named on the switch step too (where enter goes): wait
            # for the step's own header.
            oc.wait("the next step", lambda s: "Step 4 · " in s and "tell-support" in s)
            status, path, _ = oc.session()
            assert (status, path[-2:]) == ("active", ["stop-refunds", "tell-support"])
        finally:
            oc.close()

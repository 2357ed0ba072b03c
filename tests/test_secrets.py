"""Secrets live only in the OS keyring: never in the config, the database, logs, exports, the
audit trail or error messages.

A workspace is given known tokens (a Langfuse key pair, a PagerDuty token, an Unleash token)
in a real file keyring outside it; servers on 127.0.0.1 refuse them (401) or are not there.
Every command that touches them runs as a person runs it (a child process), and then every
file in the workspace, every row of the database and everything the commands printed is
searched for each token, as it is and base64-encoded.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from cli_oncall_helpers import agentdeck, files_containing, keyring_env

from store.workspace import Workspace
from tests.servers import Reply, ScriptedServer

LANGFUSE = "pk-lf-6a1c0ffee:sk-lf-9d3badc0de"
PAGERDUTY = "u+PDtoken-4fe2-never-shown"
UNLEASH = "*:production.unleash-token-77aa"


def _forms(secret: str) -> list[str]:
    parts = [secret, *secret.split(":")] if secret.startswith("pk-lf-") else [secret]
    out = []
    for p in parts:
        out += [p, base64.b64encode(p.encode()).decode()]
    return out


def test_no_token_leaves_the_keyring(demo_workspace: Workspace, tmp_path: Path) -> None:
    refused = Reply(401, b'{"message": "Invalid credentials"}')
    replies = {
        "/api/public/v2/observations": refused,
        "/api/public/v3/scores": refused,
        "/api/public/scores": refused,
        "/api/public/score-configs": refused,
        "/incidents": refused,
    }
    home = tmp_path / "home"
    keyring_file = tmp_path / "keyring" / "keyring.cfg"
    keyring_file.parent.mkdir()
    env = keyring_env(keyring_file, home)
    ws = demo_workspace.root
    with ScriptedServer(replies) as server:
        config = ws / "agentdeck.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'\n[[stores]]\nname = "lf"\nkind = "langfuse"\nurl = "{server.url}"\n'
            + f'\n[[alerts]]\nname = "pd"\nkind = "pagerduty"\nurl = "{server.url}"\n'
            + 'services = { PABC123 = "billing-support" }\n',
            encoding="utf-8",
        )
        outputs = []
        for name, secret in (("lf", LANGFUSE), ("pd", PAGERDUTY), ("unleash", UNLEASH)):
            done = agentdeck("-w", str(ws), "login", name, input=secret + "\n", env=env)
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        commands = [
            ("sync",),
            ("sync", "--dry-run"),
            ("switch", "status"),
            (
                "switch",
                "set",
                "refund-approvals",
                "suggest-only",
                "--reason",
                "token test",
                "--confirm",
                "refund-approvals",
                "--channel",
                "primary",
            ),
            ("audit", "verify"),
            ("audit", "export", "INC-2026-1112-01", "--format", "json"),
            ("validate",),
        ]
        for args in commands:
            done = agentdeck("-w", str(ws), *args, env=env)
            outputs += [done.stdout, done.stderr]
        # The servers were asked with the tokens (so they were really read from the keyring)...
        sent = " ".join(str(h) for _, _, h in server.requests)
    assert "Basic " in sent and "Token token=" in sent
    # ...and the commands said something about each refusal, without the token.
    printed = "\n".join(outputs)
    assert "lf" in printed and "pd" in printed and "login" in printed
    for secret in (LANGFUSE, PAGERDUTY, UNLEASH):
        for form in _forms(secret):
            assert form not in printed, f"a command printed {form!r}"
        assert files_containing(ws, secret) == [], f"{secret!r} is in the workspace"
        for part in secret.split(":"):
            assert files_containing(ws, part) == [] or len(part) < 8
    conn = sqlite3.connect(Workspace(ws, demo_workspace.config).db_path)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    for secret in (LANGFUSE, PAGERDUTY, UNLEASH):
        for form in _forms(secret):
            assert form not in dump, f"the database holds {form!r}"
    # The keyring holds them (and nothing else of ours does).
    assert files_containing(keyring_file.parent, PAGERDUTY) == [keyring_file]

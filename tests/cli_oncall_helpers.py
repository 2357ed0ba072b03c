"""A workspace for the on-call CLI tests: the demo's config, rubric and store, with agent cards,
runbooks and a flag file written here (sample-data/ is edited by other people), and a real file
keyring in a temporary folder (never the developer's own keyring)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tui.cli import cli

ROOT = Path(__file__).resolve().parent.parent

_OWNERS = "owners: {business: ops-lead, technical: platform-team, model_steward: ml-quality}"

CARDS = {
    # A flag file on the primary channel: every tier can be set.
    "billing-support": """\
workflow: billing-support
purpose: Answer billing questions and issue small refunds.
tier: auto-act
{owners}
escalation: {{contact: "#billing-oncall", rotation: billing-primary}}
kill_switch: {{backend: flagd, flag: billing-support-tier, path: flags/agents.flagd.json}}
budget: {{monthly_usd: 50}}
""",
    # A flag file first, an HTTP endpoint with its own credential as the second channel.
    "crm-update": """\
workflow: crm-update
purpose: Keep CRM records current.
tier: auto-act
{owners}
escalation: {{contact: "#crm-oncall", rotation: crm-primary}}
kill_switch:
  backend: flagd
  flag: crm-update-tier
  path: flags/agents.flagd.json
  fallback:
    backend: http
    flag: crm-update-tier
    url: http://127.0.0.1:9/flags/crm-update
    body: '{{"state": "{{state}}"}}'
    read_json: state
    credential: ops-switch
budget: {{monthly_usd: 50}}
""",
    # An on/off Unleash flag first (it holds human-approve or suggest-only), a flag file second.
    "refund-approvals": """\
workflow: refund-approvals
purpose: Propose large refunds for a person to approve.
tier: human-approve
{owners}
escalation: {{contact: refunds@example.com, rotation: refunds-primary}}
kill_switch:
  backend: unleash
  url: http://127.0.0.1:9
  environment: production
  flag: refund-approvals-auto
  off_state: suggest-only
  fallback: {{backend: flagd, flag: refund-approvals-tier, path: flags/agents.flagd.json}}
budget: {{monthly_usd: 50}}
""",
}

RUNBOOK = """\
id: billing-outage
workflow: billing-support
title: Payment provider outage
failure_modes: [vendor_outage]
steps:
  - id: confirm
    title: Is the payment tool failing?
    check:
      {kind: sql, query: tool_error_rate, args: {tool: payments_api, minutes: 60}, warn_above: 0.2}
    choices:
      - {label: Errors are high, next: stop, when: [warn]}
      - {label: Errors are normal, next: escalate, when: [ok]}
  - id: stop
    title: Stop automatic refunds
    kill_switch: {set_tier: suggest-only}
    next: escalate
  - id: escalate
    title: Escalate
    escalate: {to: [contact]}
"""


def flag(default: str) -> dict[str, Any]:
    states = ["auto-act", "human-approve", "suggest-only", "disabled"]
    return {"state": "ENABLED", "variants": {s: s for s in states}, "defaultVariant": default}


FLAGS = {
    "flags": {
        "billing-support-tier": flag("auto-act"),
        "crm-update-tier": flag("auto-act"),
        "refund-approvals-tier": flag("human-approve"),
    }
}


def make_oncall_workspace(target: Path) -> Path:
    """The demo workspace's config, rubric and store, with this module's cards, runbook and
    flag file."""
    shutil.copytree(
        ROOT / "sample-data",
        target,
        ignore=shutil.ignore_patterns(".agentdeck", "generate.py", "cards", "runbooks", "flags"),
    )
    (target / "cards").mkdir()
    for workflow, text in CARDS.items():
        (target / "cards" / f"{workflow}.yaml").write_text(text.format(owners=_OWNERS))
    (target / "runbooks").mkdir()
    (target / "runbooks" / "billing-outage.yaml").write_text(RUNBOOK)
    (target / "flags").mkdir()
    (target / "flags" / "agents.flagd.json").write_text(json.dumps(FLAGS, indent=2) + "\n")
    return target


def default_variant(ws: Path, name: str) -> str:
    doc = json.loads((ws / "flags" / "agents.flagd.json").read_text())
    return str(doc["flags"][name]["defaultVariant"])


def run(*args: str, input: str | None = None) -> Result:
    """The CLI in this process (CliRunner: standard input is not a terminal)."""
    return CliRunner().invoke(cli, list(args), prog_name="agentdeck", input=input)


def keyring_env(keyring_file: Path, home: Path) -> dict[str, str]:
    """The environment that points a child agentdeck at the test's file keyring."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "KEYRING_PROPERTY_FILE_PATH": str(keyring_file),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


def agentdeck(
    *args: str, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def files_containing(folder: Path, secret: str) -> list[Path]:
    """Every file under ``folder`` holding ``secret``, as it is or base64-encoded (the way the
    file keyring keeps it)."""
    forms = (secret.encode(), base64.b64encode(secret.encode()))
    found = []
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            data = path.read_bytes()
            if any(form in data for form in forms):
                found.append(path)
    return found


def kept_in(keyring_file: Path, name: str) -> str | None:
    """What the file keyring at ``keyring_file`` holds for ``name``, read by the backend."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(keyring_file)  # type: ignore[misc]
    return backend.get_password("agentdeck", name)

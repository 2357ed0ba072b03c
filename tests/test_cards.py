"""Agent cards and the demo workspace data in sample-data/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runbooks.cards import AgentCard, load_card, load_cards
from store.documents import DocumentError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample-data"
STORE_FILES = ("runs.jsonl", "incidents.jsonl", "scores.jsonl")

GOOD_CARD = """\
workflow: billing-support
purpose: Answer billing questions and issue refunds under $50.
never: [change contract terms, refund over $50]
tools: [payments_api, crm_lookup, kb_search]
tier: auto-act
owners: {business: billing-lead, technical: payments-team, model_steward: ml-quality}
escalation: {contact: "#billing-oncall", rotation: billing-primary}
kill_switch: {backend: unleash, flag: billing-auto, environment: production, url: "http://h"}
budget: {monthly_usd: 2000, alerts: [0.5, 0.8, 1.0]}
"""


def write(tmp_path: Path, text: str, name: str = "card.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the demo cards ---------------------------------------------------------------------------


def test_demo_cards_load() -> None:
    cards = load_cards(SAMPLE / "cards")
    assert sorted(cards) == ["billing-support", "crm-update", "refund-approvals"]
    assert all(isinstance(c, AgentCard) for c in cards.values())
    billing = cards["billing-support"]
    assert billing.tier == "auto-act"
    assert billing.kill_switch.backend == "flagd"
    assert billing.kill_switch.flag == "billing-support-tier"
    refunds = cards["refund-approvals"].kill_switch
    assert refunds.backend == "unleash" and refunds.fallback is not None
    assert refunds.fallback.backend == "flagd"
    assert cards["crm-update"].limits["max_records_per_run"] == 3
    assert cards["refund-approvals"].tier == "human-approve"


def test_demo_workflows_match_the_runs() -> None:
    cards = load_cards(SAMPLE / "cards")
    text = (SAMPLE / "store" / "runs.jsonl").read_text(encoding="utf-8")
    for workflow in cards:
        assert f'"workflow": "{workflow}"' in text


def test_good_card_loads(tmp_path: Path) -> None:
    card = load_card(write(tmp_path, GOOD_CARD))
    assert card.workflow == "billing-support"
    assert card.budget.monthly_usd == 2000
    assert card.limits == {}


# --- bad cards name file:line -------------------------------------------------------------------


def test_bad_tier_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_CARD.replace("tier: auto-act", "tier: yolo"))
    with pytest.raises(DocumentError) as info:
        load_card(path)
    message = str(info.value)
    assert message.startswith(f"{path}:5:"), message
    assert "tier" in message
    assert info.value.line == 5


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD_CARD.replace("tools: [payments_api,", "tools: [payments_api,,]\n  x: [")
    )
    with pytest.raises(DocumentError) as info:
        load_card(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert info.value.line is not None
    assert message.startswith(f"{path}:{info.value.line}:")
    assert "invalid YAML" in message


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_CARD + "autonomy: full\n")
    with pytest.raises(DocumentError) as info:
        load_card(path)
    assert str(info.value).startswith(f"{path}:10:")
    assert "autonomy" in str(info.value)


def test_unknown_kill_switch_backend(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_CARD.replace("backend: unleash", "backend: consul"))
    with pytest.raises(DocumentError) as info:
        load_card(path)
    assert str(info.value).startswith(f"{path}:8:")
    assert "kill_switch.backend" in str(info.value)


@pytest.mark.parametrize(
    "budget",
    ["{monthly_usd: 0, alerts: [0.5]}", "{monthly_usd: 100, alerts: [0.5, 3]}"],
)
def test_bad_budget(tmp_path: Path, budget: str) -> None:
    text = GOOD_CARD.replace("{monthly_usd: 2000, alerts: [0.5, 0.8, 1.0]}", budget)
    path = write(tmp_path, text)
    with pytest.raises(DocumentError) as info:
        load_card(path)
    assert str(info.value).startswith(f"{path}:9:")
    assert "budget" in str(info.value)


def test_missing_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD_CARD.replace("purpose: Answer billing questions and issue refunds under $50.\n", ""),
    )
    with pytest.raises(DocumentError) as info:
        load_card(path)
    assert "purpose" in str(info.value)


def test_duplicate_workflow_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, GOOD_CARD, "a.yaml")
    second = write(tmp_path, "# the same agent again\n" + GOOD_CARD, "b.yaml")
    with pytest.raises(DocumentError) as info:
        load_cards(tmp_path)
    assert str(info.value).startswith(f"{second}:2:")
    assert "billing-support" in str(info.value) and "a.yaml" in str(info.value)


def test_cards_do_not_import_textual() -> None:
    code = "import sys, runbooks.cards; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- the generator ------------------------------------------------------------------------------


def generate(out: Path) -> dict[str, bytes]:
    subprocess.run(
        [sys.executable, str(SAMPLE / "generate.py"), "--out", str(out), "--quiet"],
        check=True,
        cwd=out.parent,
    )
    return {name: (out / name).read_bytes() for name in STORE_FILES}


def test_generator_is_deterministic_and_matches_committed_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a")
    second = generate(tmp_path / "b")
    assert first == second
    committed = {name: (SAMPLE / "store" / name).read_bytes() for name in STORE_FILES}
    for name in STORE_FILES:
        assert committed[name] == first[name], (
            f"sample-data/store/{name} is stale: run `uv run python sample-data/generate.py`"
        )


def test_runs_file_ends_with_two_corrupt_lines() -> None:
    lines = (SAMPLE / "store" / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines[:-2]:
        json.loads(line)
    for line in lines[-2:]:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)

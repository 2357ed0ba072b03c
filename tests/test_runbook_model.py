"""Runbooks as files: the demo runbooks validate, and every broken one names file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.cards import AgentCard, load_cards
from runbooks.catalog import check_runbooks
from runbooks.checks import QUERIES, QUERY_ARGS
from runbooks.model import SqlCheck, load_runbook, runbook_schema
from store.documents import DocumentError

SAMPLE = Path(__file__).resolve().parents[1] / "sample-data"
HEAD = "id: t\nworkflow: billing-support\ntitle: T\nsteps:\n"


@pytest.fixture(scope="module")
def cards() -> dict[str, AgentCard]:
    return load_cards(SAMPLE / "cards")


def problems(tmp_path: Path, cards: dict[str, AgentCard], text: str) -> list[str]:
    """Write one runbook into an empty folder and return the catalog's messages."""
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    (folder / "t.yaml").write_text(text, encoding="utf-8")
    catalog = check_runbooks(folder, cards)
    assert (not catalog.problems) == ("t" in catalog.runbooks)
    return [str(p) for p in catalog.problems]


def where(tmp_path: Path, line: int) -> str:
    return f"{tmp_path / 'runbooks' / 't.yaml'}:{line}: "


# --- the demo runbooks ------------------------------------------------------------------------


def test_every_demo_runbook_validates(cards: dict[str, AgentCard]) -> None:
    catalog = check_runbooks(SAMPLE / "runbooks", cards)
    assert catalog.problems == []
    files = sorted(p.stem for p in (SAMPLE / "runbooks").glob("*.yaml"))
    assert sorted(catalog.runbooks) == files
    for loaded in catalog.runbooks.values():
        rb = loaded.runbook
        assert rb.workflow in cards
        for step in rb.steps:
            if isinstance(step.check, SqlCheck):
                assert step.check.query in QUERIES
                assert set(step.check.args) <= QUERY_ARGS[step.check.query]


def test_the_catalog_matches_an_incident_by_failure_mode_or_alert(
    cards: dict[str, AgentCard],
) -> None:
    catalog = check_runbooks(SAMPLE / "runbooks", cards)
    by_alert = catalog.matching("crm-update", {"alertname": "ToolSchemaErrors"})
    assert [rb.id for rb in by_alert] == ["crm-schema-change", "crm-cost-spike"]
    by_mode = catalog.matching("crm-update", {"failure_mode": "cost_spike"})
    assert [rb.id for rb in by_mode] == ["crm-cost-spike", "crm-schema-change"]
    assert catalog.matching("no-such-workflow", {}) == []


def test_a_missing_folder_is_an_empty_catalog(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    catalog = check_runbooks(tmp_path / "nope", cards)
    assert catalog.runbooks == {} and catalog.problems == []


# --- the graph ----------------------------------------------------------------------------------


def test_an_unknown_next_names_its_line_once(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + "  - {id: a, title: A, next: b}\n  - {id: b, title: B, next: nowhere}\n"
    # One message: the dangling `next` is the fault, not also "no way out" on the same step.
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 6) + "step 'b': next 'nowhere' is not a step id"
    ]


def test_an_unknown_choice_target(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + (
        "  - id: a\n"
        "    title: A\n"
        "    choices:\n"
        "      - {label: Fine, next: b}\n"
        "      - label: Broken\n"
        "        next: ghost\n"
        "  - {id: b, title: B}\n"
    )
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 10) + "step 'a': choice 'Broken' goes to 'ghost', which is not a step id"
    ]


def test_an_unreachable_step(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + "  - {id: a, title: A}\n  - {id: lost, title: L}\n"
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 6) + "step 'lost' is unreachable from 'a'"
    ]


def test_a_loop_with_no_way_out(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + (
        "  - id: a\n"
        "    title: A\n"
        "    choices: [{label: Stop, next: end}, {label: Loop, next: b}]\n"
        "  - {id: b, title: B, next: c}\n"
        "  - {id: c, title: C, next: b}\n"
        "  - {id: end, title: End}\n"
    )
    message = "has no way out: every path from it loops without reaching an end"
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 8) + f"step 'b' {message}",
        where(tmp_path, 9) + f"step 'c' {message}",
    ]


def test_a_loop_with_a_way_out_is_fine(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + (
        "  - id: a\n"
        "    title: A\n"
        "    choices: [{label: Again, next: a}, {label: Done, next: end}]\n"
        "  - {id: end, title: End}\n"
    )
    assert problems(tmp_path, cards, text) == []


def test_duplicate_step_ids(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + "  - {id: a, title: A, next: b}\n  - {id: b, title: B}\n  - {id: a, title: C}\n"
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 7) + "steps.2.id: step id 'a' is used twice"
    ]


def test_next_and_choices_together(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + (
        "  - {id: a, title: A, next: b}\n"
        "  - id: b\n"
        "    title: B\n"
        "    next: c\n"
        "    choices: [{label: x, next: c}]\n"
        "  - {id: c, title: C}\n"
    )
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 6) + "steps.1: a step has `next` or `choices`, not both"
    ]


# --- references -----------------------------------------------------------------------------


def test_an_unknown_check_query(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + "  - id: a\n    title: A\n    check:\n      kind: sql\n      query: nope\n"
    known = ", ".join(sorted(QUERY_ARGS))
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 9) + f"step 'a': unknown check query 'nope' (known: {known})"
    ]


def test_an_unknown_query_argument(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + (
        "  - id: a\n"
        "    title: A\n"
        "    check:\n"
        "      kind: sql\n"
        "      query: tool_error_rate\n"
        "      args:\n"
        "        tool: payments_api\n"
        "        colour: red\n"
    )
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 12)
        + "step 'a': query tool_error_rate takes no argument 'colour' "
        + "(it takes anchor, minutes, tool)"
    ]


def test_a_kill_switch_step_an_on_off_switch_cannot_hold(
    tmp_path: Path, cards: dict[str, AgentCard]
) -> None:
    # refund-approvals: Unleash (on = human-approve, off = suggest-only), flagd second channel.
    text = (
        "id: t\nworkflow: refund-approvals\ntitle: T\nsteps:\n"
        "  - id: a\n    title: A\n    kill_switch:\n      set_tier: disabled\n"
    )
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 7)
        + "step 'a': the primary kill switch of refund-approvals (unleash flag "
        + "refund-approvals-auto) is on/off and cannot set disabled "
        + "(it holds human-approve or suggest-only)"
    ]
    held = text.replace("disabled", "suggest-only")
    assert problems(tmp_path, cards, held) == []
    restore = text.replace("set_tier: disabled", "restore: true")
    assert problems(tmp_path, cards, restore) == []


def test_a_runbook_whose_workflow_has_no_card(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD.replace("billing-support", "ghost-agent") + "  - {id: a, title: A}\n"
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 2) + "workflow 'ghost-agent' has no agent card in cards/"
    ]


def test_an_unknown_key(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    text = HEAD + "  - id: a\n    title: A\n    colour: red\n"
    assert problems(tmp_path, cards, text) == [
        where(tmp_path, 7) + "steps.0.colour: Extra inputs are not permitted"
    ]


def test_a_second_runbook_with_the_same_id(tmp_path: Path, cards: dict[str, AgentCard]) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "a.yaml").write_text(HEAD + "  - {id: a, title: A}\n", encoding="utf-8")
    (folder / "b.yaml").write_text(HEAD + "  - {id: a, title: A}\n", encoding="utf-8")
    catalog = check_runbooks(folder, cards)
    assert [str(p) for p in catalog.problems] == [
        f"{folder / 'b.yaml'}:1: runbook id 't' is already used by a.yaml"
    ]
    assert catalog.runbooks["t"].path == folder / "a.yaml"


# --- the format -------------------------------------------------------------------------------


def test_runbook_schema_is_json(tmp_path: Path) -> None:
    schema = runbook_schema()
    again = json.loads(json.dumps(schema))
    assert again == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"id", "workflow", "title", "steps"} <= set(schema["required"])
    # The alias is what a person writes: `expect: {json: ...}`.
    assert "json" in json.dumps(schema["$defs"]["Expect"])


def test_bare_yes_and_no_choice_labels_stay_words(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        HEAD
        + (
            "  - id: a\n"
            "    title: A\n"
            "    check: {kind: http, url: 'http://x', expect: {json: up, equals: yes}}\n"
            "    choices: [{label: yes, next: b}, {label: no, next: b}, {label: off, next: b}]\n"
            "  - {id: b, title: B}\n"
        ),
        encoding="utf-8",
    )
    rb = load_runbook(path).runbook
    assert [c.label for c in rb.steps[0].choices] == ["yes", "no", "off"]
    assert rb.steps[0].check is not None and rb.steps[0].check.expect.equals == "yes"  # type: ignore[union-attr]


def test_a_malformed_file_is_a_document_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + "  - id: a\n    title: [unclosed\n", encoding="utf-8")
    with pytest.raises(DocumentError) as err:
        load_runbook(path)
    assert str(err.value).startswith(f"{path}:6: invalid YAML")


def test_the_version_is_a_content_hash(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(HEAD + "  - {id: a, title: A}\n", encoding="utf-8")
    b.write_text("# a comment\n" + HEAD + "  - {id: a, title: 'A'}\n", encoding="utf-8")
    assert load_runbook(a).runbook.version == load_runbook(b).runbook.version
    b.write_text(HEAD + "  - {id: a, title: B}\n", encoding="utf-8")
    assert load_runbook(a).runbook.version != load_runbook(b).runbook.version

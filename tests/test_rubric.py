"""Rubric loading: the demo rubric, its content-hash version, one-line errors naming file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from review.rubric import RESERVED_KEYS, Rubric, load_rubric, load_rubrics
from store.documents import DocumentError

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUBRIC = ROOT / "sample-data" / "rubrics" / "support-quality.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rubrics"


def test_demo_rubric_loads() -> None:
    rubric = load_rubric(DEMO_RUBRIC)
    assert rubric.id == "support-quality"
    assert len(rubric.criteria) == 5
    assert [c.id for c in rubric.required] == ["task_success", "intervention", "policy"]
    assert rubric.criterion("tone") is not None
    assert rubric.criterion("tone").scale.kind == "ordinal"  # type: ignore[union-attr]
    assert rubric.criterion("nope") is None
    # Every level key is unique and none is one the desk needs for itself.
    keys = rubric.key_map()
    assert len(keys) == sum(len(c.scale.levels) for c in rubric.criteria)
    assert not set(keys) & RESERVED_KEYS


def test_version_is_a_stable_content_hash(tmp_path: Path) -> None:
    text = DEMO_RUBRIC.read_text(encoding="utf-8")
    v1 = load_rubric(DEMO_RUBRIC).version
    assert len(v1) == 12 and all(ch in "0123456789abcdef" for ch in v1)
    # Same content, different file: same version.
    copy = tmp_path / "copy.yaml"
    copy.write_text(text, encoding="utf-8")
    assert load_rubric(copy).version == v1

    # Title and description are not part of the version.
    retitled = tmp_path / "retitled.yaml"
    retitled.write_text(
        text.replace("title: Support agent weekly review", "title: Another title entirely"),
        encoding="utf-8",
    )
    assert load_rubric(retitled).title == "Another title entirely"
    assert load_rubric(retitled).version == v1

    # A changed question is a new version.
    question = "question: Tone and clarity"
    assert question in text
    requestioned = tmp_path / "requestioned.yaml"
    requestioned.write_text(text.replace(question, "question: Tone, clarity and warmth"))
    assert load_rubric(requestioned).version != v1

    # So is a changed key.
    rekeyed = tmp_path / "rekeyed.yaml"
    rekeyed.write_text(text.replace("key: g,", "key: h,"), encoding="utf-8")
    assert load_rubric(rekeyed).version != v1


def test_is_complete_needs_every_required_criterion() -> None:
    rubric = load_rubric(DEMO_RUBRIC)
    assert not rubric.is_complete({})
    assert not rubric.is_complete({"task_success": "pass", "intervention": "no"})
    assert not rubric.is_complete({"task_success": "pass", "intervention": "no", "policy": None})
    assert rubric.is_complete({"task_success": "pass", "intervention": "no", "policy": "safe"})


# (fixture, line, words the message must contain)
BAD_RUBRICS = [
    ("yaml-syntax.yaml", 5, ["invalid YAML"]),
    ("duplicate-key.yaml", 9, ["'p'", "task_success", "politeness"]),
    ("reserved-key.yaml", 10, ["'j'", "reserved"]),
    ("binary-three-levels.yaml", 11, ["binary", "exactly 2 levels", "found 3"]),
    ("missing-question.yaml", 7, ["criteria.1.question", "required"]),
    ("unknown-field.yaml", 9, ["requird", "not permitted"]),
    ("ordinal-non-int.yaml", 11, ["ordinal", "whole-number", "great"]),
    ("empty.yaml", 1, ["empty"]),
    ("top-level-list.yaml", 1, ["mapping", "list"]),
]


@pytest.mark.parametrize(("name", "line", "words"), BAD_RUBRICS, ids=[b[0] for b in BAD_RUBRICS])
def test_bad_rubric_names_file_and_line(name: str, line: int, words: list[str]) -> None:
    path = FIXTURES / name
    with pytest.raises(DocumentError) as info:
        load_rubric(path)
    err = info.value
    message = str(err)
    assert message.startswith(f"{path}:{line}: "), message
    assert err.line == line
    assert err.path == path
    assert "\n" not in message
    for word in words:
        assert word.lower() in message.lower(), (word, message)


def test_yaml_syntax_error_points_at_the_open_quote_not_past_the_end() -> None:
    path = FIXTURES / "yaml-syntax.yaml"
    last_line = len(path.read_text(encoding="utf-8").splitlines())
    with pytest.raises(DocumentError) as info:
        load_rubric(path)
    assert info.value.line is not None and info.value.line <= last_line
    assert "quoted scalar" in str(info.value)


def test_not_utf8_rubric_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"id: x\ntitle: caf\xe9\n")
    with pytest.raises(DocumentError, match="not UTF-8"):
        load_rubric(path)


def test_every_reserved_key_is_refused(tmp_path: Path) -> None:
    for key in sorted(k for k in RESERVED_KEYS if len(k) == 1):
        path = tmp_path / "r.yaml"
        path.write_text(
            "id: r\ntitle: r\ncriteria:\n  - id: a\n    question: q\n    scale:\n"
            "      kind: binary\n      levels:\n"
            f"        - {{value: x, key: {key!r}}}\n        - {{value: y, key: 'y'}}\n",
            encoding="utf-8",
        )
        with pytest.raises(DocumentError, match="reserved") as info:
            load_rubric(path)
        assert info.value.line == 9, (key, str(info.value))


def test_load_rubrics_refuses_two_files_with_one_id(tmp_path: Path) -> None:
    shutil.copy(DEMO_RUBRIC, tmp_path / "a.yaml")
    shutil.copy(DEMO_RUBRIC, tmp_path / "b.yml")
    with pytest.raises(DocumentError, match="already defined") as info:
        load_rubrics(tmp_path)
    assert info.value.path == tmp_path / "b.yml"


def test_load_rubrics_keys_by_id(tmp_path: Path) -> None:
    shutil.copy(DEMO_RUBRIC, tmp_path / "support.yaml")
    rubrics = load_rubrics(tmp_path)
    assert list(rubrics) == ["support-quality"]
    assert isinstance(rubrics["support-quality"], Rubric)


def test_guidance_is_optional_markdown_outside_the_version(tmp_path: Path) -> None:
    """`guidance` is advice to the reviewer: optional, kept as written, in the JSON schema, and
    left out of the version hash (editing it does not split the grades into a new version)."""
    demo = load_rubric(DEMO_RUBRIC)
    assert "never" in (demo.criterion("policy").guidance or "")  # type: ignore[union-attr]
    assert demo.criterion("tone").guidance is None  # type: ignore[union-attr]
    text = DEMO_RUBRIC.read_text(encoding="utf-8")
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        text.replace("and the refund limit.", "and the refund limit (EUR 50)."), encoding="utf-8"
    )
    assert edited.read_text(encoding="utf-8") != text
    assert load_rubric(edited).version == demo.version
    bare = tmp_path / "bare.yaml"
    bare.write_text(
        "\n".join(line for line in text.splitlines() if "guidance:" not in line) + "\n",
        encoding="utf-8",
    )
    assert load_rubric(bare).version == demo.version
    props = Rubric.model_json_schema()["$defs"]["Criterion"]["properties"]
    assert "guidance" in props


def test_the_desk_lists_optional_criteria_before_the_required_block() -> None:
    rubric = load_rubric(DEMO_RUBRIC)
    assert [c.id for c in rubric.display_order] == [
        "tool_use",
        "tone",
        "task_success",
        "intervention",
        "policy",
    ]
    assert [c.id for c in rubric.criteria][0] == "task_success", "the file's order is kept"

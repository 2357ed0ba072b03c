"""YAML that hangs or is taken without a word: alias bombs, recursion, and YAML 1.1 booleans."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.rubric import load_rubric
from runbooks.cards import load_card
from store.documents import MAX_ALIAS_NODES, DocumentError, load_yaml
from tests.helpers import RUBRIC_YAML

ROOT = Path(__file__).resolve().parent.parent


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": each level is ``width`` aliases of the one before (9**9 leaves)."""
    out = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        out.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(out) + "\n"


def _refusal_line(text: str) -> int:
    # 10 + 9*10 + 9*91 + ... : the running total passes the budget on the level where it does.
    total, size = 0, 10
    for number in range(2, len(text.splitlines()) + 1):
        total += 9 * size
        size = 1 + 9 * size
        if total > MAX_ALIAS_NODES:
            return number
    raise AssertionError("no level passes the budget")


@pytest.mark.parametrize("where", ["rubric", "card"])
def test_an_alias_bomb_is_refused_at_once_naming_file_and_line(tmp_path: Path, where: str) -> None:
    bomb = _bomb()
    if where == "rubric":
        path = tmp_path / "rubric.yaml"
        path.write_text(RUBRIC_YAML + bomb)
        offset = len(RUBRIC_YAML.splitlines())
        load = load_rubric
    else:
        source = (ROOT / "sample-data" / "cards" / "billing-support.yaml").read_text()
        path = tmp_path / "card.yaml"
        path.write_text(source + bomb)
        offset = len(source.splitlines())
        load = load_card  # type: ignore[assignment]
    with pytest.raises(DocumentError) as info:
        load(path)
    err = info.value
    assert err.line == offset + _refusal_line(bomb), str(err)
    assert str(err).startswith(f"{path}:{err.line}: alias *a")
    assert "alias bomb" in str(err) and "\n" not in str(err)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("title: t\nitems: &loop\n  - name: a\n  - *loop\n")
    with pytest.raises(DocumentError, match="recursive aliases are refused") as info:
        load_yaml(path)
    assert info.value.line == 4


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(DocumentError, match="levels deep") as info:
        load_yaml(path)
    assert info.value.line == 1
    # Aliases cannot build the depth back up: each stays under the limit, together they don't.
    chain = "a0: &a0 " + "[" * 60 + "1" + "]" * 60 + "\n"
    chain += "a1: &a1 " + "[" * 60 + "*a0" + "]" * 60 + "\n"
    path.write_text(chain)
    with pytest.raises(DocumentError, match="levels deep") as info:
        load_yaml(path)
    assert info.value.line == 2


def test_a_few_shared_levels_through_an_alias_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(
        "id: r\ntitle: t\ncriteria:\n"
        "  - id: a\n    question: A?\n"
        "    scale: &yn {kind: binary, levels: [{value: pass, key: p}, {value: fail, key: f}]}\n"
        "  - id: b\n    question: B?\n    required: false\n    scale: *yn\n"
    )
    # Both criteria share the keys, so the rubric is refused, but for that reason only.
    with pytest.raises(DocumentError, match="key 'p' is used by both"):
        load_rubric(path)


_YES_NO = """\
id: r
title: t
criteria:
  - id: intervention
    question: Would a human have had to step in?
    required: {required}
    scale: {{kind: binary, levels: [{{value: {a}, key: y}}, {{value: {b}, key: n}}]}}
  - id: other
    question: Other?
    scale: {{kind: binary, levels: [{{value: pass, key: p}}, {{value: fail, key: f}}]}}
"""


@pytest.mark.parametrize(
    ("a", "b"), [("yes", "no"), ("on", "off"), ("true", "false"), ("Yes", "NO"), ("ON", "Off")]
)
def test_bare_yaml_booleans_as_level_values_keep_the_word(tmp_path: Path, a: str, b: str) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(_YES_NO.format(a=a, b=b, required="false"))
    rubric = load_rubric(path)
    levels = rubric.criteria[0].scale.levels
    assert [lv.value for lv in levels] == [a, b]
    assert [type(lv.value) for lv in levels] == [str, str]
    # `required: false` elsewhere is still a boolean.
    assert rubric.criteria[0].required is False
    assert rubric.criteria[1].required is True


def test_quoted_and_bare_words_make_the_same_rubric_version(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text(_YES_NO.format(a="yes", b="no", required="true"))
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(_YES_NO.format(a='"yes"', b='"no"', required="true"))
    assert load_rubric(bare).version == load_rubric(quoted).version


def test_a_boolean_level_value_given_in_code_is_refused() -> None:
    # Only a level given in code (or JSON) can still be a bool: it is refused, never made 1/0.
    from pydantic import ValidationError

    from review.rubric import Level

    with pytest.raises(ValidationError, match="not true/false"):
        Level(value=True, key="y")


def test_a_bare_yes_card_limit_stays_a_word(tmp_path: Path) -> None:
    source = (ROOT / "sample-data" / "cards" / "billing-support.yaml").read_text()
    path = tmp_path / "card.yaml"
    path.write_text(source.replace("  max_refunds_per_ticket: 1\n", "  weekend_refunds: off\n"))
    assert load_card(path).limits == {"max_refund_usd": 50, "weekend_refunds": "off"}


def test_a_lone_surrogate_escape_in_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    # Saving the rubric (its JSON body in the database) would fail far from the file otherwise.
    path = tmp_path / "rubric.yaml"
    path.write_text(RUBRIC_YAML.replace("title: Support agent weekly review", 'title: "x \\udc80"'))
    with pytest.raises(DocumentError, match="half of a surrogate pair") as info:
        load_rubric(path)
    assert info.value.line == 2

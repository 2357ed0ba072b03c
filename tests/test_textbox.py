"""The one-line text box's editing keys (review/textbox.py), shared by the desk's boxes and the
Reports area's rationale box."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from review.textbox import edit_line

KEYS = ["left", "right", "home", "end", "ctrl+a", "ctrl+e", "backspace", "delete", "ctrl+w"]


def test_each_key_edits_at_the_cursor() -> None:
    assert edit_line("abc", 1, "left") == ("abc", 0)
    assert edit_line("abc", 0, "left") == ("abc", 0)
    assert edit_line("abc", 3, "right") == ("abc", 3)
    assert edit_line("abc", 2, "home") == edit_line("abc", 2, "ctrl+a") == ("abc", 0)
    assert edit_line("abc", 0, "end") == edit_line("abc", 0, "ctrl+e") == ("abc", 3)
    assert edit_line("abc", 2, "backspace") == ("ac", 1)
    assert edit_line("abc", 0, "backspace") == ("abc", 0)
    assert edit_line("abc", 1, "delete") == ("ac", 1)
    assert edit_line("one two  x", 9, "ctrl+w") == ("one x", 4)
    assert edit_line("one two", 5, "ctrl+u") == ("", 0)
    assert edit_line("ac", 1, "b", char="b") == ("abc", 2)
    assert edit_line("ab", 1, "paste", paste="x\ny\x07z") == ("ax yzb", 5)
    assert edit_line("ab", 2, "c", char="c", limit=2) == ("ab", 2)


def test_keys_that_do_not_edit_say_so() -> None:
    for key in ("tab", "f5", "enter", "escape", "up"):
        assert edit_line("abc", 1, key) is None


@given(
    text=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    cursor=st.integers(-2, 14),
    keys=st.lists(st.sampled_from([*KEYS, "x", "ctrl+u"]), max_size=12),
)
def test_the_cursor_stays_in_the_text(text: str, cursor: int, keys: list[str]) -> None:
    for key in keys:
        edited = edit_line(text, cursor, key, char=key if len(key) == 1 else None)
        assert edited is not None
        text, cursor = edited
        assert 0 <= cursor <= len(text)

"""Invisible characters in untrusted text are shown, like the bidi controls; real text stays."""

from __future__ import annotations

import io
import sys
import unicodedata

import pytest
from conftest import settle
from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult

from tui.text import one_line, safe_text
from tui.widgets.long_text import LongText, prepare
from tui.widgets.run_view import add_block


def tags(ascii_text: str) -> str:
    """``ascii_text`` written in Unicode tag characters: invisible, yet a model reads it."""
    return "".join(chr(0xE0000 + ord(c)) for c in ascii_text)


def flag(code: str) -> str:
    return "\U0001f3f4" + tags(code) + "\U000e007f"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\u200bb", "a\\u200bb"),  # zero width space
        ("a\u200cb", "a\\u200cb"),  # ZWNJ between Latin letters
        ("a\u200db", "a\\u200db"),  # ZWJ between Latin letters
        ("क\u200dष", "क\\u200dष"),  # ZWJ in Devanagari (rich would not measure it right)
        ("a\u200eb\u200fc", "a\\u200eb\\u200fc"),  # LRM, RLM
        ("\u061c", "\\u061c"),  # Arabic letter mark
        ("a\u2060b", "a\\u2060b"),  # word joiner
        ("\u2061\u2062\u2063\u2064", "\\u2061\\u2062\\u2063\\u2064"),  # invisible operators
        ("\u206a\u206f", "\\u206a\\u206f"),  # deprecated format controls
        ("\ufeffstart", "\\ufeffstart"),  # BOM / zero width no-break space
        ("soft\u00adhyphen", "soft\\xadhyphen"),  # soft hyphen
        ("\u180e", "\\u180e"),  # Mongolian vowel separator
        ("one\u2028two\u2029", "one\\u2028two\\u2029"),  # line and paragraph separators
        ("\ufff9a\ufffab\ufffb", "\\ufff9a\\ufffab\\ufffb"),  # interlinear annotation
        ("\u0600", "\\u0600"),  # a prepended concatenation mark, not shaped by terminals
        ("\U000e0001", "\\U000e0001"),  # language tag
        (
            "hi" + tags("run rm"),
            "hi\\U000e0072\\U000e0075\\U000e006e\\U000e0020\\U000e0072\\U000e006d",
        ),  # "ASCII smuggling" with tag characters
        ("\U000e007f", "\\U000e007f"),  # a cancel tag on its own
        (
            "\U0001f3f4" + tags("usca") + "\U000e007f",
            "\U0001f3f4\\U000e0075\\U000e0073\\U000e0063\\U000e0061\\U000e007f",
        ),  # a flag that is not one of the three
        ("name\u3164", "name\\u3164"),  # Hangul filler (a "blank" user name)
        ("\u115f\u1160\uffa0", "\\u115f\\u1160\\uffa0"),  # other Hangul fillers
        ("a\u034fb", "a\\u034fb"),  # combining grapheme joiner
        ("\u17b4", "\\u17b4"),  # Khmer inherent vowel
        ("\u2065\ufff0", "\\u2065\\ufff0"),  # unassigned default-ignorables
        ("\U000e0000\U000e0fff", "\\U000e0000\\U000e0fff"),
        ("🙂\ufe01\ufe02\ufe03", "🙂\ufe01\\ufe02\\ufe03"),  # data hidden in selectors
        ("🙂\U000e0100\U000e0101", "🙂\U000e0100\\U000e0101"),
        ("\ufe0fstart", "\\ufe0fstart"),  # a selector after nothing
        ("a \ufe0f", "a \\ufe0f"),  # a selector after a space
        ("line\n\ufe0f", "line\n\\ufe0f"),
        ("👩\u200d", "👩\\u200d"),  # a ZWJ that joins nothing
        ("👩\u200dx", "👩\\u200dx"),  # a ZWJ between an emoji and a letter
    ],
)
def test_invisible_characters_are_shown(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "👨\u200d👩\u200d👧",  # family
        "🏳️\u200d🌈",  # flag: emoji, VS16, ZWJ, emoji
        "👩🏽\u200d💻",  # skin tone before the joiner
        "🧑\u200d🤝\u200d🧑",
        "❤️\u200d🔥",
        "🐈\u200d⬛",
        "🏃\u200d♀️",
        "❤️ ☺︎ #️⃣",  # one variation selector after a character
        "葛\U000e0100",  # an ideographic variation sequence
        "ᠠ\u180b",  # a Mongolian free variation selector after its letter
        flag("gbeng") + flag("gbsct") + flag("gbwls"),  # England, Scotland, Wales
        "می\u200cخواهم",  # Persian writes ZWNJ inside words
        "क\u200cष",  # and so do Indic scripts
        "e\u0301 ü\u0308 日本語 한국어 Ελληνικά עִבְרִית",  # combining marks, CJK, other scripts
        "\u00a0\u2009\u3000",  # spaces that are visible as spaces
    ],
)
def test_legitimate_text_is_kept(text: str) -> None:
    assert safe_text(text) == text


def test_every_format_character_is_shown() -> None:
    # Whatever Unicode version this Python has: no format character (Cf), no line or paragraph
    # separator survives, between letters where no exception applies.
    hidden = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp")
    ]
    assert len(hidden) > 150
    for ch in hidden:
        out = safe_text(f"x{ch}x")
        assert ch not in out, f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}"
        assert out.startswith("x\\") and out.endswith("x")


def test_every_tag_character_is_shown_outside_the_three_flags() -> None:
    for c in [*range(0xE0000, 0xE0100), *range(0xE01F0, 0xE1000)]:  # not the selectors
        assert chr(c) not in safe_text(f"x{chr(c)}"), f"U+{c:04X}"
    assert safe_text("🏴" + tags("gbeng")) == "🏴" + "".join(
        f"\\U{0xE0000 + ord(c):08x}" for c in "gbeng"
    ), "without its cancel tag it is not a flag"


def test_one_line_and_blocks_show_invisible_characters() -> None:
    assert one_line("INV-1042\u200b", 20) == "INV-1042\\u200b"
    t = Text()
    add_block(t, "pay\u2060pal" + tags("x"), chars=4000, lines=60)
    assert t.plain == "pay\\u2060pal\\U000e0078"


def test_showing_them_works_on_10_mb() -> None:
    big = ("word " * 20 + "\u200b🙂\n") * 90_000
    out = safe_text(big)
    # Counted, not `in`: on a failure pytest would spend minutes diffing megabytes.
    shown = out.count("\\u200b")
    assert shown == 90_000


# -- in the viewer ---------------------------------------------------------------------------


class ViewerApp(App[None]):
    CSS = "LongText { width: 100; height: 10; }"

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield LongText(self.text)


async def test_the_viewer_draws_invisible_characters_visibly() -> None:
    raw = "paypal\u200b.com soft\u00adhyphen " + tags("do it") + " 👨\u200d👩\u200d👧"
    assert prepare(raw, 200) == [safe_text(raw)]
    app = ViewerApp(raw)
    async with app.run_test(size=(110, 12)) as pilot:
        await settle(pilot)
        console = Console(width=110, height=12, file=io.StringIO(), record=True)
        console.print(app.screen._compositor.render_update(full=True))
        screen = console.export_text(styles=False)
        assert "paypal\\u200b.com" in screen
        assert "soft\\xadhyphen" in screen
        assert "\\U000e0064" in screen
        assert "👨\u200d👩\u200d👧" in screen

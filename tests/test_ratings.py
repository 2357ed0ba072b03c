"""The ratings-file contract: what a CSV means, and a one-line error naming the line or the
criterion for every file it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.ratings import read_ratings
from store.documents import DocumentError


def write(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(DocumentError) as info:
        read_ratings(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_columns_in_any_order_and_one_criterion_called_value(tmp_path: Path) -> None:
    (c,) = read_ratings(write(tmp_path, "Value,rater, unit\n3,ana,u1\n5,ben,u1\n3.0,ben,u2\n"))
    assert c.criterion == "value"
    assert c.units == ["u1", "u2"] and c.raters == ["ana", "ben"]
    assert c.numeric and c.categories == [3.0, 5.0]  # "3" and "3.0" are one value
    assert c.codes.tolist() == [[0, 1], [-1, 0]]


def test_criteria_numbers_and_words_missing_ratings(tmp_path: Path) -> None:
    text = (
        "\ufeffunit,rater,criterion,value\n"  # a byte-order mark, as spreadsheets write
        "u1,ana,tone,10\n"
        "u1,ben,tone,9\n"
        "u1,ana,task,pass\n"
        "u1,ben,task,\n"  # empty: a missing rating
        "\n"
        "u2,ben,task,fail\n"
    )
    tone, task = read_ratings(write(tmp_path, text))
    assert (tone.criterion, task.criterion) == ("tone", "task")
    assert tone.numeric and tone.categories == [9.0, 10.0]  # numeric order, not text order
    assert not task.numeric and task.categories == ["fail", "pass"]
    assert task.codes.tolist() == [[1, -1], [-1, 0]]


def test_an_empty_file(tmp_path: Path) -> None:
    assert "is empty" in refused(tmp_path, "")
    assert "no ratings after the header" in refused(tmp_path, "unit,rater,value\n")


def test_a_missing_column_names_it(tmp_path: Path) -> None:
    message = refused(tmp_path, "unit,value\nu1,3\n")
    assert "r.csv:1" in message and "missing column 'rater'" in message


def test_an_unknown_column_is_refused_not_ignored(tmp_path: Path) -> None:
    message = refused(tmp_path, "unit,rater,value,critrion\nu1,a,3,tone\n")
    assert "r.csv:1" in message and "unknown column 'critrion'" in message


def test_a_unit_rated_twice_names_both_lines(tmp_path: Path) -> None:
    text = "unit,rater,criterion,value\nu1,ana,tone,3\nu2,ana,tone,4\nu1,ana,tone,5\n"
    message = refused(tmp_path, text)
    assert "r.csv:4" in message and "lines 2 and 4" in message
    assert "'ana'" in message and "'u1'" in message and "'tone'" in message
    # The same unit and rater under two criteria is two ratings, not a repeat.
    text = "unit,rater,criterion,value\nu1,ana,tone,3\nu1,ana,task,pass\n"
    assert len(read_ratings(write(tmp_path, text))) == 2


def test_numbers_mixed_with_words_name_the_criterion(tmp_path: Path) -> None:
    text = "unit,rater,criterion,value\nu1,a,tone,3\nu1,b,tone,good\nu1,a,task,pass\n"
    message = refused(tmp_path, text)
    assert "criterion 'tone'" in message
    assert "line 2" in message and "line 3" in message and "'good'" in message


def test_a_short_line_and_a_line_without_rater(tmp_path: Path) -> None:
    assert "r.csv:3: 2 fields" in refused(tmp_path, "unit,rater,value\nu1,a,1\nu2,b\n")
    assert "r.csv:2: no rater" in refused(tmp_path, "unit,rater,value\nu1,,1\n")


def test_line_numbers_count_quoted_newlines(tmp_path: Path) -> None:
    text = 'unit,rater,value\n"u\n1",a,1\nu2,a,1\nu2,a,2\n'
    assert "r.csv:5" in refused(tmp_path, text)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"unit,rater,value\nu1,\xff\xfe,1\n")
    with pytest.raises(DocumentError, match="not UTF-8"):
        read_ratings(path)

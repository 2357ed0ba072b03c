"""store.documents: YAML/TOML into pydantic models, errors as one line naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, model_validator

from store.documents import (
    DocumentError,
    LocatedError,
    load_toml_model,
    load_yaml,
    load_yaml_model,
    parse_model,
)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 0


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    items: list[Item]

    @model_validator(mode="after")
    def _distinct(self) -> Box:
        seen: set[str] = set()
        for i, item in enumerate(self.items):
            if item.name in seen:
                raise LocatedError(f"{item.name!r} twice", ("items", i, "name"))
            seen.add(item.name)
        return self


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    section: Section
    rows: list[Section] = []


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_document_error_message_format(tmp_path: Path) -> None:
    assert str(DocumentError(tmp_path / "a.yaml", 3, "bad")) == f"{tmp_path / 'a.yaml'}:3: bad"
    assert str(DocumentError(tmp_path / "a.yaml", None, "bad")) == f"{tmp_path / 'a.yaml'}: bad"


def test_load_yaml_maps_key_paths_to_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "box.yaml",
        "title: t\nitems:\n  - name: a\n    size: 1\n  - name: b\n",
    )
    data, lines = load_yaml(path)
    assert data == {"title": "t", "items": [{"name": "a", "size": 1}, {"name": "b"}]}
    assert lines[("title",)] == 1
    assert lines[("items",)] == 2
    assert lines[("items", 0)] == 3
    assert lines[("items", 0, "size")] == 4
    assert lines[("items", 1, "name")] == 5


def test_validation_error_points_at_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "box.yaml", "title: t\nitems:\n  - name: a\n    size: big\n")
    with pytest.raises(DocumentError) as info:
        load_yaml_model(Box, path)
    assert str(info.value).startswith(f"{path}:4: items.0.size: ")


def test_located_error_points_below_the_model(tmp_path: Path) -> None:
    path = _write(tmp_path, "box.yaml", "title: t\nitems:\n  - name: a\n  - name: b\n  - name: a\n")
    with pytest.raises(DocumentError) as info:
        load_yaml_model(Box, path)
    assert str(info.value) == f"{path}:5: items.2.name: 'a' twice"


def test_more_problems_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, "box.yaml", "items:\n  - size: x\n")
    with pytest.raises(DocumentError, match=r"\(and 2 more problems\)"):
        load_yaml_model(Box, path)


def test_parse_model_refuses_non_mappings(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="empty"):
        parse_model(Box, None, tmp_path / "x.yaml")
    with pytest.raises(DocumentError, match="found str"):
        parse_model(Box, "just text", tmp_path / "x.yaml")


def test_missing_file_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read") as info:
        load_yaml_model(Box, tmp_path / "missing.yaml")
    assert info.value.line is None
    with pytest.raises(DocumentError, match="cannot read"):
        load_toml_model(Doc, tmp_path / "missing.toml")


def test_yaml_unclosed_bracket_points_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "box.yaml", "title: t\nitems: [1, 2\n")
    with pytest.raises(DocumentError) as info:
        load_yaml_model(Box, path)
    assert info.value.line == 2, str(info.value)


def test_yaml_mapping_value_error_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "box.yaml", "title: t\nitems: []\nname: a: b\n")
    with pytest.raises(DocumentError, match="invalid YAML") as info:
        load_yaml_model(Box, path)
    assert info.value.line == 3


def test_toml_lines_for_tables_arrays_and_dotted_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "doc.toml",
        'name = "x"\n\n[section]\nlimit = 1\n\n[[rows]]\nlimit = 2\n\n[[rows]]\nlimit = "three"\n',
    )
    with pytest.raises(DocumentError) as info:
        load_toml_model(Doc, path)
    assert str(info.value).startswith(f"{path}:10: rows.1.limit: ")


def test_toml_syntax_error_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "doc.toml", 'name = "x"\n[section]\nlimit = = 1\n')
    with pytest.raises(DocumentError) as info:
        load_toml_model(Doc, path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: invalid TOML: ")


def test_toml_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "doc.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(DocumentError, match="not UTF-8"):
        load_toml_model(Doc, path)


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    # PyYAML alone keeps the last one silently; a typo'd duplicate must not override quietly.
    path = _write(
        tmp_path,
        "box.yaml",
        "title: t\nitems:\n  - name: a\n    size: 1\n    size: 2\n",
    )
    with pytest.raises(DocumentError) as info:
        load_yaml_model(Box, path)
    assert str(info.value) == f"{path}:5: items.0.size: this key is already set above"


def test_the_same_key_in_different_mappings_is_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, "box.yaml", "title: t\nitems:\n  - name: a\n  - name: b\n")
    assert [i.name for i in load_yaml_model(Box, path).items] == ["a", "b"]

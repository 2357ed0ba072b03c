"""Rubrics: the criteria a reviewer grades a run against, loaded from YAML.

A rubric is identified by ``(id, version)``; the version is a content hash of its criteria, so
changing a question, a level or a key makes a new version, and every grade is stamped with the
version it was given under. Agreement is reported per version.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from store.doc_cache import cached_model
from store.documents import DocumentError, LocatedError, load_yaml, load_yaml_model
from store.identity import FIRST_WRONG_STEP

#: Keys the desk uses for moving and acting; a rubric level may not take one of them
#: (``a`` opens the agent card, ``;`` cycles the week filter).
RESERVED_KEYS = frozenset("jkcueoq?/:[],.!a;") | {"space", "enter", "escape", "tab"}

LevelValue = int | str


class Level(BaseModel):
    """One answer to a criterion, with the single key that picks it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    value: LevelValue
    key: str = Field(min_length=1, max_length=1)
    anchor: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _not_a_switch(cls, value: object) -> object:
        # A bool would pass as 1/0; the loader keeps YAML's bare yes/no/on/off as words, so a
        # bool here came from an explicit tag or from code, and is refused rather than guessed.
        if isinstance(value, bool):
            raise ValueError("a level value is a word or a whole number, not true/false")
        return value

    @field_validator("key")
    @classmethod
    def _printable_key(cls, key: str) -> str:
        if not key.isprintable() or key.isspace():
            raise ValueError("a level key must be one printable character")
        if key in RESERVED_KEYS:
            raise ValueError(
                f"key {key!r} is reserved by the desk ({' '.join(sorted(RESERVED_KEYS))})"
            )
        return key

    @property
    def label(self) -> str:
        return str(self.value)


class Scale(BaseModel):
    """The levels of a criterion: binary (two levels), ordinal (ordered numbers) or categorical."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: Literal["binary", "ordinal", "categorical"]
    levels: list[Level] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> Scale:
        # LocatedError points file:line at the level at fault, not at the scale.
        if self.kind == "binary" and len(self.levels) != 2:
            raise LocatedError(
                f"a binary scale has exactly 2 levels, found {len(self.levels)}", ("levels", 2)
            )
        if self.kind == "ordinal":
            for i, lv in enumerate(self.levels):
                if not isinstance(lv.value, int):
                    raise LocatedError(
                        f"an ordinal scale needs whole-number level values, found {lv.value!r}",
                        ("levels", i, "value"),
                    )
        seen: set[str] = set()
        for i, lv in enumerate(self.levels):
            if str(lv.value) in seen:
                raise LocatedError("level values must be distinct", ("levels", i, "value"))
            seen.add(str(lv.value))
        return self


class Criterion(BaseModel):
    """One question of the rubric."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    question: str
    scale: Scale
    metric: Literal["task_success", "intervention"] | None = None
    required: bool = True
    help: str | None = None
    #: How to answer, for the reviewer (Markdown, written by the team): shown under the question
    #: and in help. Advice, not the question: it is left out of the version hash.
    guidance: str | None = None

    def level_for_value(self, value: object) -> Level | None:
        return next((lv for lv in self.scale.levels if str(lv.value) == str(value)), None)


class Rubric(BaseModel):
    """A versioned set of criteria."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str
    description: str | None = None
    criteria: list[Criterion] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        seen_ids: set[str] = set()
        seen_keys: dict[str, str] = {}
        for i, c in enumerate(self.criteria):
            if c.id in seen_ids:
                raise LocatedError(f"criterion id {c.id!r} appears twice", ("criteria", i, "id"))
            if c.id == FIRST_WRONG_STEP:
                raise LocatedError(
                    f"criterion id {c.id!r} is the desk's step-level score: choose another id",
                    ("criteria", i, "id"),
                )
            seen_ids.add(c.id)
            for j, lv in enumerate(c.scale.levels):
                if lv.key in seen_keys:
                    raise LocatedError(
                        f"key {lv.key!r} is used by both {seen_keys[lv.key]!r} and {c.id!r}: "
                        "each level needs its own key",
                        ("criteria", i, "scale", "levels", j, "key"),
                    )
                seen_keys[lv.key] = c.id
        if not any(c.required for c in self.criteria):
            raise ValueError("at least one criterion must be required")
        return self

    @cached_property
    def version(self) -> str:
        """Content hash of the criteria (12 hex digits); titles, descriptions and guidance
        don't count (editing the advice does not split the grades into another version)."""
        body = json.dumps(
            [c.model_dump(mode="json", exclude={"guidance"}) for c in self.criteria],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]

    @property
    def required(self) -> list[Criterion]:
        return [c for c in self.criteria if c.required]

    @property
    def display_order(self) -> list[Criterion]:
        """The criteria as the desk lists them: optional ones first, then the required block,
        each in file order. Grading top to bottom then ends on the answer that completes the
        grade, so no answer meant for this run lands on the next."""
        return [c for c in self.criteria if not c.required] + self.required

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def key_map(self) -> dict[str, tuple[Criterion, Level]]:
        """Map each level key to its criterion and level."""
        return {lv.key: (c, lv) for c in self.criteria for lv in c.scale.levels}

    def is_complete(self, values: dict[str, object]) -> bool:
        """True when every required criterion has a value."""
        return all(values.get(c.id) is not None for c in self.required)


#: Where a bare ``yes``/``no``/``on``/``off``/``true``/``false`` is an answer, kept as the word.
LEVEL_VALUE_PATHS = (("criteria", "*", "scale", "levels", "*", "value"),)


def load_rubric(path: Path) -> Rubric:
    """Load and validate a rubric file; raise DocumentError naming file:line on a bad file.

    A level written as bare ``yes`` is the word "yes" (YAML 1.1 alone would make it True, 1).
    """
    return cached_model(
        Rubric, path, lambda: load_yaml_model(Rubric, path, words=LEVEL_VALUE_PATHS)
    )


def check_rubrics(folder: Path) -> tuple[dict[str, Rubric], list[DocumentError]]:
    """Load every ``*.yaml``/``*.yml`` rubric in ``folder``, keyed by rubric id, and every
    problem on the way (one per file): a bad file, or an id another file already defined."""
    rubrics: dict[str, Rubric] = {}
    defined_in: dict[str, Path] = {}
    problems: list[DocumentError] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            rubric = load_rubric(path)
        except DocumentError as exc:
            problems.append(exc)
            continue
        if rubric.id in rubrics:
            _data, lines = load_yaml(path, words=LEVEL_VALUE_PATHS)
            problems.append(
                DocumentError(
                    path,
                    lines.get(("id",), 1),
                    f"rubric id {rubric.id!r} is already defined in {defined_in[rubric.id].name}",
                )
            )
            continue
        rubrics[rubric.id] = rubric
        defined_in[rubric.id] = path
    return rubrics, problems


def load_rubrics(folder: Path) -> dict[str, Rubric]:
    """Load every ``*.yaml``/``*.yml`` rubric in ``folder``, keyed by rubric id; raise the first
    problem (in file order) as a DocumentError naming file:line."""
    rubrics, problems = check_rubrics(folder)
    if problems:
        raise problems[0]
    return rubrics

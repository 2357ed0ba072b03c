"""A cache of validated workspace documents, keyed by what they were validated from.

Opening the desk reads ``agentdeck.toml`` and the rubric. Parsing them (TOML, YAML with line
numbers) and validating them (pydantic builds each model's validator the first time) costs more
than everything else the desk does before its first frame. A document that has not changed since
it was last validated does not need either: its validated form is kept as JSON under the cache
dir (``$AGENTDECK_CACHE_DIR``, else the user cache dir), named by a hash of

- the file's bytes, and
- the source of the model's module and of the project modules it imports (the validators and
  the constants they check against), and of every module of the kinds' packages its fields
  dispatch to (``store/connectors/`` for ``[[stores]]``: store/plugins.py),

and rebuilt without validation (``model_construct``, nested models included, the fields read
from the model itself, so a field added to a model is carried without a change here). A file
that changed, a model that changed, a missing or unreadable cache entry: the document is loaded
and validated as before (errors name file:line), then kept for next time. The cache never
decides what is valid, and a cache that cannot be written is only slower.

``functools.cached_property`` values of the model (a rubric's ``version``) are kept too, so the
rebuilt model does not have to serialise itself to answer them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from store.plugins import Registry

M = TypeVar("M", bound=BaseModel)

CACHE_DIR_ENV = "AGENTDECK_CACHE_DIR"
#: Bumped when the cached form changes shape.
FORMAT = 1
#: The project's own packages: a model's imports from these count towards its fingerprint.
_OWN = ("store", "review", "runbooks", "tui")
_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


def cache_dir() -> Path:
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("agentdeck"))


@functools.cache
def _fingerprint(module_name: str) -> bytes:
    """A hash of the module's source and of the project modules it imports."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if not path:
            continue
        source = Path(path).read_bytes()
        digest.update(name.encode() + b"\0" + source + b"\0")
        if name == module_name:
            for match in _IMPORT.finditer(source.decode("utf-8", "replace")):
                imported = match.group(1) or match.group(2)
                if imported.split(".")[0] in _OWN:
                    todo.append(imported)
    return digest.digest()


@functools.cache
def _registries(model: type[BaseModel]) -> tuple[Registry, ...]:
    """The registries of kinds the model's fields (nested ones too) dispatch on."""
    found: list[Registry] = []
    seen: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in seen:
                seen.add(annotation)
                for field in annotation.model_fields.values():
                    walk(field.annotation)
                    for meta in field.metadata:
                        if isinstance(meta, Registry) and meta not in found:
                            found.append(meta)
            return
        if typing.get_origin(annotation) is typing.Annotated:
            found.extend(
                m for m in annotation.__metadata__ if isinstance(m, Registry) and m not in found
            )
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(model)
    return tuple(found)


def _cached_properties(model: type[BaseModel]) -> list[str]:
    return [
        name
        for klass in model.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, functools.cached_property)
    ]


def cached_model(model: type[M], path: Path, load: Callable[[], M]) -> M:
    """``load()`` (which reads and validates ``path``), or its result as kept the last time the
    same file was validated by the same model."""
    try:
        data = path.read_bytes()
    except OSError:
        return load()  # it says what is wrong with the file
    digest = hashlib.sha256(data)
    digest.update(_fingerprint(model.__module__))
    for registry in _registries(model):
        digest.update(registry.fingerprint())
    digest.update(f"{FORMAT}:{model.__module__}.{model.__qualname__}".encode())
    entry = cache_dir() / "documents" / f"{digest.hexdigest()[:32]}.json"
    try:
        kept = json.loads(entry.read_text(encoding="utf-8"))
        built = _build(model, kept["model"])
        for name, value in kept["cached"].items():
            built.__dict__[name] = value
        return built
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = load()
    try:
        if path.read_bytes() != data:
            return result  # changed while it was read: keep nothing under the old bytes' name
        cached = {name: getattr(result, name) for name in _cached_properties(model)}
        text = json.dumps({"model": result.model_dump(mode="json"), "cached": cached})
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, entry)
    except (OSError, TypeError, ValueError):
        pass
    return result


def _build(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from its own ``model_dump(mode="json")``, without validating it again."""
    if not isinstance(data, dict):
        raise TypeError(f"{model.__name__}: expected an object")
    values = {
        name: _value(field.annotation, data[name])
        for name, field in model.model_fields.items()
        if name in data
    }
    return model.model_construct(**values)


def _value(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(annotation, (str, typing.ForwardRef)):
        raise TypeError("an unresolved annotation: validate it again")
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        registry = next((m for m in annotation.__metadata__ if isinstance(m, Registry)), None)
        if registry is not None:  # a union on a tag: the model of the kind the value names
            return _build(registry.model_for(value), value)
        return _value(args[0], value)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _build(annotation, value)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if not models:
            return value
        if len(models) == 1 and isinstance(value, dict):
            return _build(models[0], value)
        raise TypeError("a union of models: validate it again")
    if origin is list and args:
        return [_value(args[0], v) for v in value]
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], v) for v in value)
        return tuple(_value(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict and len(args) == 2:
        return {k: _value(args[1], v) for k, v in value.items()}
    if origin in (set, frozenset):
        raise TypeError("a set does not survive JSON: validate it again")
    return value

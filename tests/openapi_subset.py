"""Check a JSON document against an OpenAPI 3.0 schema fragment, without a dependency.

Covers what the PagerDuty and LaunchDarkly fragments in ``tests/fixtures/`` use: ``$ref`` (inside
the fragment), ``allOf``/``anyOf``/``oneOf``, ``type`` (a list of types too), ``nullable``,
``enum``, ``properties``, ``required``, ``additionalProperties``, ``items`` and the
``date-time`` format. Anything else in a schema is ignored (annotations, ``example``, ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _resolve(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only refs inside the fragment are supported: {ref}")
    here: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        here = here[int(part)] if isinstance(here, list) else here[part]
    return here


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def problems(root: dict[str, Any], schema: Any, value: Any, at: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (an empty list when it conforms)."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return problems(root, _resolve(root, schema["$ref"]), value, at)
    out: list[str] = []
    for sub in schema.get("allOf", []):
        out += problems(root, sub, value, at)
    if "anyOf" in schema and all(problems(root, s, value, at) for s in schema["anyOf"]):
        out.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not problems(root, s, value, at)]
        if len(matching) != 1:
            out.append(f"{at}: matches {len(matching)} of oneOf, not exactly one")
    if value is None:
        if schema.get("nullable") or "null" in _as_list(schema.get("type")):
            return out
        if "type" in schema or "properties" in schema:
            return [*out, f"{at}: null where {schema.get('type', 'object')} is expected"]
    kinds = [k for k in _as_list(schema.get("type")) if k != "null"]
    if kinds and not any(_is(value, k) for k in kinds):
        return [*out, f"{at}: {type(value).__name__} where {'/'.join(kinds)} is expected"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            out.append(f"{at}: {value!r} is not a date-time")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{at}: {name} is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                out += problems(root, props[name], item, f"{at}.{name}")
            elif extra is False:
                out.append(f"{at}: {name} is not allowed")
            elif isinstance(extra, dict):
                out += problems(root, extra, item, f"{at}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += problems(root, schema["items"], item, f"{at}[{i}]")
    return out


def _as_list(kind: Any) -> list[str]:
    if kind is None:
        return []
    return list(kind) if isinstance(kind, list) else [kind]

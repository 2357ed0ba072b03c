"""Kinds of stores, alert sources and kill-switch backends: one module each, found by a scan.

A kind is one module in its package (``store/connectors/``, ``store/alerts/``,
``store/switches/``) named after the kind (``otlp-file`` is ``otlp_file.py``). It ends with
``PLUGIN = <class>``: the class names its ``kind`` (or ``backend``), its ``config_model`` (the
pydantic model of its table in ``agentdeck.toml`` or card, with a ``Literal`` tag), its ``login``
(the secret ``agentdeck login`` asks for, or None) and its abilities, and builds itself with
``from_config``. Nothing else lists the kinds: adding one is adding its module.

Modules are imported when a config names their kind (or when every kind is listed, for an error
message, ``agentdeck validate`` or the tests), so opening the desk imports only the kinds its
workspace uses. The config field is a union discriminated on the tag: :meth:`Registry.validate`
reads the tag, finds the kind's module and validates the table with its model, so pydantic's
errors keep the path of the key at fault (no tag inside it) and file:line points at it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from store.documents import LocatedError

_TAG = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Login:
    """What ``agentdeck login NAME`` asks for a kind's secret.

    ``pair``: two keys kept as one secret, ``PUBLIC:SECRET`` (Langfuse); ``optional``: the kind
    works without one (an Alertmanager with no auth in front), and the prompt says so.
    """

    prompt: str
    pair: bool = False
    optional: bool = False


class Registry:
    """The kinds in one package: ``package`` (``store.connectors``), the config tag (``kind``)
    and what a kind is called in messages (``store``)."""

    def __init__(self, package: str, tag: str, noun: str) -> None:
        self.package = package
        self.tag = tag
        self.noun = noun
        #: Kinds found so far: a card's ``binary`` asks on every read.
        self._found: dict[str, Any] = {}
        self._in_schema = False

    def __repr__(self) -> str:
        return f"Registry({self.package!r})"

    def _folder(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"{self.package} is not a package")
        return Path(next(iter(spec.submodule_search_locations)))

    def modules(self) -> list[str]:
        """The package's module names (not imported): each kind's module, and helpers."""
        return sorted(m.name for m in pkgutil.iter_modules([str(self._folder())]))

    def get(self, kind: object) -> Any:
        """The plugin class of ``kind``, or None when no module of the package declares it."""
        if not isinstance(kind, str) or not _TAG.match(kind):
            return None
        if kind in self._found:
            return self._found[kind]
        name = kind.replace("-", "_")
        if name not in self.modules():
            return None
        plugin = _plugin_of(importlib.import_module(f"{self.package}.{name}"))
        if plugin is None or plugin_tag(plugin, self.tag) != kind:
            return None
        self._found[kind] = plugin
        return plugin

    def all(self) -> dict[str, Any]:
        """Every kind the package declares, by tag (imports every module of the package)."""
        found = {}
        for name in self.modules():
            plugin = _plugin_of(importlib.import_module(f"{self.package}.{name}"))
            if plugin is not None:
                found[plugin_tag(plugin, self.tag)] = plugin
        return dict(sorted(found.items()))

    def kinds(self) -> tuple[str, ...]:
        return tuple(self.all())

    def fingerprint(self) -> bytes:
        """A hash of every module of the package: a cached config made by an older kind module
        is validated again (store/doc_cache.py)."""
        digest = hashlib.sha256()
        folder = self._folder()
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.digest()

    def model_for(self, data: Any) -> Any:
        """The config model of the kind ``data`` (a table) names; LocatedError when none."""
        if not isinstance(data, dict) or self.tag not in data:
            supported = ", ".join(self.kinds())
            raise LocatedError(
                f"a {self.noun} needs `{self.tag}` (supported: {supported})", (self.tag,)
            )
        plugin = self.get(data[self.tag])
        if plugin is None:
            raise LocatedError(
                f"{self.tag} {data[self.tag]!r} is not supported "
                f"(supported: {', '.join(self.kinds())})",
                (self.tag,),
            )
        return plugin.config_model

    def validate(self, value: Any) -> Any:
        """The pydantic validator of the union: ``value`` validated by its kind's model."""
        from pydantic import BaseModel, ValidationError

        if isinstance(value, BaseModel):
            return value
        model = self.model_for(value)
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self._other_kinds_key(exc, value[self.tag])
            raise

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        """For editors (``agentdeck schema config``): the union of every kind's model,
        discriminated on the tag (imports every kind's module, as only this command needs)."""
        from typing import Annotated, Union

        from pydantic import Field, TypeAdapter

        if self._in_schema:  # a kill switch's fallback: the same union, one level down
            return {"type": "object", "description": f"a {self.noun}, by its `{self.tag}`"}
        models = tuple(plugin.config_model for plugin in self.all().values())
        union = Annotated[Union[models], Field(discriminator=self.tag)]  # type: ignore[valid-type]  # noqa: UP007
        self._in_schema = True
        try:
            return handler(TypeAdapter(union).core_schema)
        finally:
            self._in_schema = False

    def _other_kinds_key(self, exc: Exception, kind: str) -> None:
        """A key this kind does not have but others do (``queue`` on a file store): say whose
        key it is, and what it is, rather than only that it is not expected here."""
        from pydantic import ValidationError

        assert isinstance(exc, ValidationError)
        for err in exc.errors():
            if err["type"] != "extra_forbidden" or len(err["loc"]) != 1:
                continue
            key = str(err["loc"][0])
            owners = {
                tag: plugin.config_model.model_fields[key]
                for tag, plugin in self.all().items()
                if key in plugin.config_model.model_fields
            }
            if owners:
                said = dict.fromkeys(f.description for f in owners.values() if f.description)
                about = f" ({' or '.join(said)})" if said else ""
                raise LocatedError(
                    f"`{key}` is a key of {' and '.join(owners)} {self.noun}s{about}, "
                    f"not of a {kind} {self.noun}",
                    (key,),
                ) from None


def plugin_tag(plugin: type, tag: str) -> str:
    value = getattr(plugin, tag, None)
    if not isinstance(value, str):
        raise TypeError(f"{plugin.__qualname__} declares no {tag}")
    return value


def _plugin_of(module: ModuleType) -> Any:
    return vars(module).get("PLUGIN")


#: Where each family of kinds lives.
STORES = Registry("store.connectors", "kind", "store")
ALERTS = Registry("store.alerts", "kind", "alert source")
SWITCHES = Registry("store.switches", "backend", "kill switch")


class LazyModule:
    """A module imported on first use of one of its names: a kind module whose config is read
    at start-up keeps ``httpx`` (a quarter of a second to import) for when it talks to a server.

    ``if TYPE_CHECKING: import httpx`` / ``else: httpx = LazyModule("httpx")``.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)  # thread-safe: the import lock
        return getattr(module, attr)

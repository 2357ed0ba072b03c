"""The kinds of stores, alert sources and kill-switch backends (store/plugins.py): each one module
that declares its config model, its login and its abilities, found by a scan of its package.

A kind is covered by tests when ``tests/test_<module>.py`` exists (``tests/test_phoenix.py``) or
a test module says which kind it covers on a line of its own, ``COVERS = "store:file"`` (or
``"alert:<kind>"``, ``"switch:<backend>"``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

from store.alerts.base import AlertSourceConfigBase, AlertSourcePlugin
from store.connectors.base import StoreConfigBase, StoreConnector
from store.documents import DocumentError, LocatedError
from store.plugins import ALERTS, STORES, SWITCHES, Login, Registry
from store.switches.base import SwitchPlugin, SwitchTargetBase
from store.workspace import load_workspace
from tests.conftest import copy_sample_data

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = [
    pytest.param(STORES, StoreConnector, StoreConfigBase, "store", id="stores"),
    pytest.param(ALERTS, AlertSourcePlugin, AlertSourceConfigBase, "alert", id="alerts"),
    pytest.param(SWITCHES, SwitchPlugin, SwitchTargetBase, "switch", id="switches"),
]

_COVERS = re.compile(r'^COVERS = "(store|alert|switch):([a-z0-9-]+)"$', re.MULTILINE)


def _covered() -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        if "\ndef test_" in text:
            found |= set(_COVERS.findall(text))
    return found


@pytest.mark.parametrize(("registry", "plugin_base", "config_base", "family"), FAMILIES)
def test_every_kind_declares_its_model_login_and_tests(
    registry: Registry, plugin_base: type, config_base: type, family: str
) -> None:
    kinds = registry.all()
    assert kinds, registry
    covered = _covered()
    for kind, plugin in kinds.items():
        module = kind.replace("-", "_")
        assert plugin.__module__ == f"{registry.package}.{module}", kind
        assert issubclass(plugin, plugin_base), kind
        model = plugin.config_model
        assert issubclass(model, config_base), kind
        # The config model's tag is the kind, and only the kind.
        assert model.model_fields[registry.tag].annotation == typing.Literal[kind], kind
        # The login is declared on the class itself: a Login, or None said in so many words.
        assert "login" in vars(plugin), f"{kind}: `login` is not declared on {plugin.__name__}"
        assert vars(plugin)["login"] is None or isinstance(vars(plugin)["login"], Login), kind
        tests = (ROOT / "tests" / f"test_{module}.py").is_file() or (family, kind) in covered
        assert tests, f'{kind}: no tests/test_{module}.py and no COVERS = "{family}:{kind}"'


def test_store_abilities_are_declared_values() -> None:
    for kind, plugin in STORES.all().items():
        assert plugin.list_page >= 1 and plugin.push_batch >= 1, kind
        for flag in ("server_sample", "deletes", "reads_others", "adjudication"):
            assert isinstance(getattr(plugin, flag), bool), (kind, flag)
    assert STORES.get("langfuse").server_sample and not STORES.get("phoenix").server_sample
    assert STORES.get("file").login is None and STORES.get("langfuse").login.pair
    assert SWITCHES.get("flagd").login is None and SWITCHES.get("unleash").binary


@pytest.mark.parametrize(("registry", "plugin_base", "config_base", "family"), FAMILIES)
def test_the_union_is_the_modules_found(
    registry: Registry, plugin_base: type, config_base: type, family: str
) -> None:
    """The kinds are exactly the package's modules that end with ``PLUGIN``: nothing else
    lists them, and each one's table is validated by its own model."""
    import importlib

    declared = [
        name
        for name in registry.modules()
        if "PLUGIN" in vars(importlib.import_module(f"{registry.package}.{name}"))
    ]
    assert sorted(k.replace("-", "_") for k in registry.kinds()) == sorted(declared)
    for kind, plugin in registry.all().items():
        assert registry.model_for({registry.tag: kind}) is plugin.config_model
    with pytest.raises(LocatedError) as err:
        registry.model_for({registry.tag: "nosuch"})
    supported = ", ".join(registry.kinds())
    assert str(err.value) == f"{registry.tag} 'nosuch' is not supported (supported: {supported})"
    assert err.value.loc == (registry.tag,)
    # A helper module of the package is no kind, even when named as one.
    assert registry.get("base") is None


def test_a_kind_dropped_into_its_package_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fakekinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("VALUE = 1\n")
    (package / "thing_one.py").write_text(
        textwrap.dedent(
            """
            from typing import Literal
            from pydantic import BaseModel, ConfigDict, Field
            from store.plugins import Login

            class ThingConfig(BaseModel):
                model_config = ConfigDict(extra="forbid")
                kind: Literal["thing-one"]
                size: int = Field(default=1, description="how big the thing is")

            class Thing:
                kind = "thing-one"
                config_model = ThingConfig
                login = Login("Token")

            PLUGIN = Thing
            """
        )
    )
    (package / "thing_two.py").write_text(
        textwrap.dedent(
            """
            from typing import Literal
            from pydantic import BaseModel, ConfigDict

            class Two(BaseModel):
                model_config = ConfigDict(extra="forbid")
                kind: Literal["thing-two"]

            class Thing:
                kind = "thing-two"
                config_model = Two
                login = None

            PLUGIN = Thing
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("fakekinds", "kind", "thing")
    assert registry.kinds() == ("thing-one", "thing-two")
    assert registry.modules() == ["helper", "thing_one", "thing_two"]
    made = registry.validate({"kind": "thing-one", "size": 3})
    assert type(made).__name__ == "ThingConfig" and made.size == 3
    with pytest.raises(LocatedError) as err:
        registry.validate({"kind": "thing-two", "size": 3})
    assert err.value.loc == ("size",)
    assert str(err.value) == (
        "`size` is a key of thing-one things (how big the thing is), not of a thing-two thing"
    )
    with pytest.raises(LocatedError, match="a thing needs `kind`"):
        registry.validate({"size": 3})
    # A changed kind module changes the fingerprint a cached config is kept under.
    before = registry.fingerprint()
    (package / "thing_two.py").write_text((package / "thing_two.py").read_text() + "\n# edit\n")
    assert registry.fingerprint() != before


def _workspace_with_every_kind(tmp_path: Path) -> Path:
    root = copy_sample_data(tmp_path / "ws")
    cfg = root / "agentdeck.toml"
    cfg.write_text(
        cfg.read_text()
        + '\n[[stores]]\nname = "px"\nkind = "phoenix"\nurl = "http://127.0.0.1:6006"\n'
        + '\n[[stores]]\nname = "lf"\nkind = "langfuse"\nurl = "http://127.0.0.1:3000"\n'
        + 'queue = "q-1"\n'
        + '\n[[stores]]\nname = "otel"\nkind = "otlp-file"\npath = "exports/t.jsonl"\n'
        + '\n[[alerts]]\nname = "prom"\nkind = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
        + '\n[[alerts]]\nname = "pd"\nkind = "pagerduty"\nurl = "https://api.pagerduty.com"\n'
        + 'services = { P1 = "billing-support" }\n'
    )
    return root


def test_each_table_is_its_kinds_model_and_the_cache_keeps_it(tmp_path: Path) -> None:
    """Validated, then kept by store/doc_cache.py and rebuilt in a fresh process with each
    table's own model, without building a validator or importing httpx."""
    root = _workspace_with_every_kind(tmp_path)
    ws = load_workspace(root)
    types = [type(s).__name__ for s in [*ws.config.stores, *ws.config.alerts]]
    assert types == [
        "FileStoreConfig",
        "PhoenixStoreConfig",
        "LangfuseStoreConfig",
        "OtlpFileStoreConfig",
        "AlertmanagerConfig",
        "PagerDutyConfig",
    ]
    script = (
        "import sys; from pathlib import Path\n"
        "from store.workspace import load_workspace\n"
        f"ws = load_workspace(Path({str(root)!r}))\n"
        "print([type(s).__name__ for s in [*ws.config.stores, *ws.config.alerts]] == "
        f"{types!r}, ws.config.stores[2].queue, 'httpx' in sys.modules,"
        " 'pydantic.plugin._loader' in sys.modules)\n"
    )

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return out.stdout.split()

    assert run()[:3] == ["True", "q-1", "False"]  # kept now, if it was not already
    assert run() == ["True", "q-1", "False", "False"]


def test_cards_name_their_backends_model_without_httpx() -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from runbooks.cards import load_cards\n"
        "cards = load_cards(Path('sample-data/cards'))\n"
        "k = cards['refund-approvals'].kill_switch\n"
        "print(type(k).__name__, type(k.fallback).__name__, k.binary, k.secret_name,"
        " k.fallback.secret_name, 'httpx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [
        "UnleashTarget",
        "FlagdTarget",
        "True",
        "unleash",
        "None",
        "False",
    ]


@pytest.mark.parametrize(
    ("table", "needle", "message"),
    [
        # A required key of the kind: the store and the key, at the store's table.
        ('name = "px"\nkind = "phoenix"\n', "[[stores]]", "store 'px' needs `url`"),
        # Another kind's key: whose it is, at its line.
        (
            'name = "px"\nkind = "phoenix"\nurl = "http://h"\nqueue = "q"\n',
            'queue = "q"',
            "stores.1.queue: `queue` is a key of langfuse and langsmith stores "
            "(a Langfuse annotation queue id or a LangSmith annotation queue id)",
        ),
        # No kind's key at all: pydantic's own word, at its line.
        (
            'name = "px"\nkind = "phoenix"\nurl = "http://h"\ncolour = "red"\n',
            'colour = "red"',
            "stores.1.colour: Extra inputs are not permitted",
        ),
        ('name = "px"\nkind = "Phoenix"\n', 'kind = "Phoenix"', "kind 'Phoenix' is not supported"),
        ('name = "px"\nurl = "http://h"\n', "[[stores]]", "a store needs `kind` (supported: "),
        # A server address without its scheme: refused offline, as `sync` could not use it.
        (
            'name = "ml"\nkind = "mlflow"\nurl = "127.0.0.1:5000"\nexperiment = "x"\n',
            'url = "127.0.0.1:5000"',
            "stores.1.url: '127.0.0.1:5000' is not an http:// or https:// address",
        ),
        (
            'name = "px"\nkind = "phoenix"\nurl = "http://h"\ntimeout = -1\n',
            "timeout = -1",
            "stores.1.timeout: Input should be greater than 0",
        ),
    ],
)
def test_a_kinds_config_errors_name_the_line(
    tmp_path: Path, table: str, needle: str, message: str
) -> None:
    root = copy_sample_data(tmp_path / "ws")
    cfg = root / "agentdeck.toml"
    text = cfg.read_text() + "\n[[stores]]\n" + table
    cfg.write_text(text)
    with pytest.raises(DocumentError) as err:
        load_workspace(root)
    lines = text.splitlines()
    at = len(lines) - lines[::-1].index(next(ln for ln in reversed(lines) if needle in ln))
    assert err.value.line == at, str(err.value)
    assert message in err.value.message, str(err.value)


def test_the_config_and_card_schemas_offer_every_kind() -> None:
    """`agentdeck schema config` / `card` (for editors): each table is the union of its kinds'
    models, discriminated on the tag, so an editor knows `experiment` of an mlflow store."""
    import json

    from runbooks.cards import AgentCard
    from store.workspace import WorkspaceConfig

    config = WorkspaceConfig.model_json_schema()
    for table, registry in (("stores", STORES), ("alerts", ALERTS)):
        items = config["properties"][table]["items"]
        assert items["discriminator"]["propertyName"] == "kind"
        assert sorted(items["discriminator"]["mapping"]) == sorted(registry.kinds())
    mlflow = next(d for n, d in config["$defs"].items() if n == "MlflowStoreConfig")
    assert {"url", "experiment"} <= set(mlflow["properties"])
    card = AgentCard.model_json_schema()
    switch = card["properties"]["kill_switch"]
    assert sorted(switch["discriminator"]["mapping"]) == sorted(SWITCHES.kinds())
    assert json.dumps(card)  # the fallback's recursion ends (one level down, a plain object)

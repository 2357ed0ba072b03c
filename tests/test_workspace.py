"""Workspace config (agentdeck.toml): loading, file:line errors, finding it, the demo copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from store import workspace as ws
from store.documents import DocumentError
from store.workspace import CONFIG_NAME, copy_demo, find_workspace, load_workspace
from tests.helpers import make_workspace

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "sample-data"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "configs"


def _load_fixture(tmp_path: Path, name: str) -> DocumentError:
    shutil.copy(FIXTURES / name, tmp_path / CONFIG_NAME)
    with pytest.raises(DocumentError) as info:
        load_workspace(tmp_path)
    return info.value


def test_demo_config_loads() -> None:
    workspace = load_workspace(DEMO)
    cfg = workspace.config
    assert workspace.reviewer in cfg.review.roster
    assert cfg.review.rubric == "support-quality"
    assert [s.kind for s in cfg.stores] == ["file"]
    assert 0.0 <= cfg.review.overlap <= 1.0
    assert cfg.sampling.salt
    assert workspace.db_path == (DEMO / ".agentdeck" / "agentdeck.db").resolve()
    assert workspace.rubrics_dir == (DEMO / "rubrics").resolve()
    # A workflow without its own rate falls back to the default.
    assert cfg.sampling.rate_for("no-such-workflow") == cfg.sampling.default_rate


def test_rate_for_uses_workflow_rate(tmp_path: Path) -> None:
    make_workspace(tmp_path, [], default_rate=0.02, rates={"crm-update": 0.1})
    sampling = load_workspace(tmp_path).config.sampling
    assert sampling.rate_for("crm-update") == 0.1
    assert sampling.rate_for("billing-support") == 0.02


def test_bad_toml_syntax_names_the_line(tmp_path: Path) -> None:
    err = _load_fixture(tmp_path, "bad-syntax.toml")
    path = tmp_path / CONFIG_NAME
    assert str(err).startswith(f"{path}:8: invalid TOML"), str(err)
    assert err.line == 8
    # tomllib's "(at line N, column M)" tail is folded into the file:line prefix.
    assert "at line" not in str(err)


def test_reviewer_not_in_roster(tmp_path: Path) -> None:
    err = _load_fixture(tmp_path, "reviewer-not-in-roster.toml")
    path = tmp_path / CONFIG_NAME
    assert str(err).startswith(f"{path}:3: "), str(err)
    assert "'zoe'" in str(err) and "roster" in str(err)


def test_rate_above_one_names_the_rate_line(tmp_path: Path) -> None:
    err = _load_fixture(tmp_path, "rate-too-high.toml")
    path = tmp_path / CONFIG_NAME
    assert str(err).startswith(f"{path}:18: "), str(err)
    assert "sampling.rates" in str(err)
    assert "crm-update" in str(err) and "1.5" in str(err)


def test_unknown_key_names_the_line(tmp_path: Path) -> None:
    err = _load_fixture(tmp_path, "unknown-key.toml")
    path = tmp_path / CONFIG_NAME
    assert str(err).startswith(f"{path}:12: review.overlapp: "), str(err)
    assert "not permitted" in str(err)


def test_duplicate_store_names_point_at_the_second(tmp_path: Path) -> None:
    text = (
        '[workspace]\nreviewer = "ana"\n\n'
        '[[stores]]\nname = "demo"\nkind = "file"\npath = "a"\n\n'
        '[[stores]]\nname = "demo"\nkind = "file"\npath = "b"\n\n'
        '[review]\nrubric = "r"\nroster = ["ana"]\n\n[sampling]\nsalt = "s"\n'
    )
    (tmp_path / CONFIG_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(DocumentError, match="used twice") as info:
        load_workspace(tmp_path)
    assert info.value.line == 10


def test_missing_config_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no agentdeck.toml"):
        load_workspace(tmp_path)


# -- find_workspace ------------------------------------------------------------------------------


@pytest.fixture
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the user config dir at an empty folder and clear the env variable."""
    user = tmp_path / "user-config"
    user.mkdir()
    monkeypatch.setattr(ws.platformdirs, "user_config_dir", lambda app: str(user))
    monkeypatch.delenv("AGENTDECK_WORKSPACE", raising=False)
    return user


def test_find_workspace_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_user_config: Path
) -> None:
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    (project / CONFIG_NAME).write_text("", encoding="utf-8")
    explicit = tmp_path / "explicit"
    env = tmp_path / "env"

    # cwd upwards
    assert find_workspace(cwd=deep) == project.resolve()
    # env beats cwd
    monkeypatch.setenv("AGENTDECK_WORKSPACE", str(env))
    assert find_workspace(cwd=deep) == env
    # explicit beats env
    assert find_workspace(explicit, cwd=deep) == explicit
    # none of them
    monkeypatch.delenv("AGENTDECK_WORKSPACE")
    assert find_workspace(cwd=tmp_path / "elsewhere") is None


def test_find_workspace_uses_cwd_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_user_config: Path
) -> None:
    (tmp_path / CONFIG_NAME).write_text("", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert find_workspace() == tmp_path.resolve()


def test_find_workspace_falls_back_to_user_config_dir(tmp_path: Path, no_user_config: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    assert find_workspace(cwd=lonely) is None
    (no_user_config / CONFIG_NAME).write_text("", encoding="utf-8")
    assert find_workspace(cwd=lonely) == no_user_config


# -- copy_demo -----------------------------------------------------------------------------------


@pytest.fixture
def fake_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo source with everything copy_demo must copy and everything it must leave."""
    src = tmp_path / "demo-src"
    for rel, text in {
        CONFIG_NAME: "# config\n",
        "rubrics/support-quality.yaml": "id: x\n",
        "cards/billing-support.yaml": "workflow: billing-support\n",
        "store/runs.jsonl": "{}\n",
        "store/incidents.jsonl": "{}\n",
        "generate.py": "print('generator')\n",
        ".agentdeck/agentdeck.db": "not copied",
        "__pycache__/x.pyc": "",
    }.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text, encoding="utf-8")
    monkeypatch.setattr(ws, "demo_source", lambda: src)
    return src


def test_copy_demo_copies_the_workspace_but_not_the_generator(
    tmp_path: Path, fake_demo: Path
) -> None:
    target = tmp_path / "target"
    assert copy_demo(target) == target
    files = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert files == {
        CONFIG_NAME,
        "rubrics/support-quality.yaml",
        "cards/billing-support.yaml",
        "store/runs.jsonl",
        "store/incidents.jsonl",
    }


def test_copy_demo_keeps_an_existing_copy_unless_fresh(tmp_path: Path, fake_demo: Path) -> None:
    target = copy_demo(tmp_path / "target")
    (target / "store" / "scores.jsonl").write_text("my grades\n", encoding="utf-8")
    (target / CONFIG_NAME).write_text("# edited\n", encoding="utf-8")

    copy_demo(target)
    assert (target / "store" / "scores.jsonl").read_text(encoding="utf-8") == "my grades\n"
    assert (target / CONFIG_NAME).read_text(encoding="utf-8") == "# edited\n"

    copy_demo(target, fresh=True)
    assert not (target / "store" / "scores.jsonl").exists()
    assert (target / CONFIG_NAME).read_text(encoding="utf-8") == "# config\n"


def test_copy_of_the_real_demo_loads(tmp_path: Path) -> None:
    target = copy_demo(tmp_path / "demo")
    assert (target / CONFIG_NAME).is_file()
    assert (target / "rubrics" / "support-quality.yaml").is_file()
    assert any((target / "cards").glob("*.yaml"))
    assert not (target / "generate.py").exists()
    assert not (target / ".agentdeck").exists()
    if (DEMO / "store").is_dir():
        assert (target / "store").is_dir()
    workspace = load_workspace(target)
    assert workspace.root == target.resolve()
    # The copy's database lives in the copy, never in the source tree.
    assert target.resolve() in workspace.db_path.parents


def test_a_queue_belongs_to_a_langfuse_store(tmp_path: Path) -> None:
    shutil.copytree(DEMO, tmp_path / "ws", ignore=shutil.ignore_patterns(".agentdeck"))
    config = tmp_path / "ws" / CONFIG_NAME
    lines = config.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith('kind = "file"')) + 1
    lines.insert(at, 'queue = "q-1"')
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_workspace(tmp_path / "ws")
    assert str(info.value).startswith(f"{config}:{at + 1}: "), str(info.value)
    assert "Langfuse annotation queue" in str(info.value)


def test_review_advance_is_auto_or_enter(tmp_path: Path) -> None:
    """`[review] advance` defaults to "auto"; anything but auto/enter names its line."""
    text = (DEMO / CONFIG_NAME).read_text(encoding="utf-8")
    assert load_workspace(DEMO).config.review.advance == "auto"
    (tmp_path / CONFIG_NAME).write_text(
        text.replace("[review]\n", '[review]\nadvance = "enter"\n', 1), encoding="utf-8"
    )
    assert load_workspace(tmp_path).config.review.advance == "enter"
    (tmp_path / CONFIG_NAME).write_text(
        text.replace("[review]\n", '[review]\nadvance = "space"\n', 1), encoding="utf-8"
    )
    with pytest.raises(DocumentError) as info:
        load_workspace(tmp_path)
    line = text.splitlines().index("[review]") + 2
    assert str(info.value).startswith(f"{tmp_path / CONFIG_NAME}:{line}: review.advance"), str(
        info.value
    )

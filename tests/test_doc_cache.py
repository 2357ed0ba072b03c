"""The cache of validated documents (store/doc_cache.py): a rubric or agentdeck.toml that has not
changed is rebuilt from its validated form without pydantic validating it again (or YAML/TOML
parsing it); one that changed is validated again, and its errors still name file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from review.rubric import Rubric, check_rubrics, load_rubric
from store import doc_cache
from store.documents import DocumentError
from store.workspace import WorkspaceConfig, load_workspace
from tests.conftest import copy_sample_data

ROOT = Path(__file__).resolve().parents[1]


def _entries() -> list[Path]:
    return sorted((doc_cache.cache_dir() / "documents").glob("*.json"))


def _demo_rubric(tmp_path: Path) -> Path:
    root = copy_sample_data(tmp_path / "demo")
    return next((root / "rubrics").glob("*.yaml"))


def test_a_kept_rubric_is_the_rubric_validated(tmp_path: Path) -> None:
    path = _demo_rubric(tmp_path)
    first = load_rubric(path)
    assert len(_entries()) == 1
    kept = load_rubric(path)
    assert kept is not first
    assert isinstance(kept, Rubric)
    # Every field of every nested model, and the version, as validated.
    assert kept.model_dump() == first.model_dump()
    assert kept.version == first.version
    assert kept.key_map().keys() == first.key_map().keys()
    assert [type(c.scale.levels[0]).__name__ for c in kept.criteria] == ["Level"] * len(
        kept.criteria
    )
    assert kept == Rubric.model_validate(first.model_dump())


def test_the_cache_carries_every_field_of_the_model(tmp_path: Path) -> None:
    """Nothing is listed by hand: whatever the model dumps comes back."""
    path = _demo_rubric(tmp_path)
    validated = load_rubric(path)
    (entry,) = _entries()
    kept = json.loads(entry.read_text(encoding="utf-8"))
    assert kept["model"] == validated.model_dump(mode="json")
    assert kept["cached"] == {"version": validated.version}


def test_a_changed_rubric_is_validated_again_with_its_line(tmp_path: Path) -> None:
    path = _demo_rubric(tmp_path)
    load_rubric(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if "key: p}" in line)
    lines[at] = lines[at].replace("key: p}", "key: j}")  # reserved by the desk
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DocumentError) as err:
        load_rubric(path)
    assert err.value.line == at + 1
    assert "reserved" in str(err.value)
    rubrics, problems = check_rubrics(path.parent)
    assert not rubrics and [p.line for p in problems] == [at + 1]


def test_a_bad_entry_is_ignored(tmp_path: Path) -> None:
    path = _demo_rubric(tmp_path)
    first = load_rubric(path)
    (entry,) = _entries()
    entry.write_text('{"model": {"id": "x"', encoding="utf-8")
    assert load_rubric(path).model_dump() == first.model_dump()
    entry.write_text('{"model": {"criteria": "no"}, "cached": {}}', encoding="utf-8")
    assert load_rubric(path).model_dump() == first.model_dump()


def test_a_duplicate_id_still_names_its_line(tmp_path: Path) -> None:
    path = _demo_rubric(tmp_path)
    load_rubric(path)
    (path.parent / "zz-copy.yaml").write_bytes(path.read_bytes())
    rubrics, problems = check_rubrics(path.parent)
    assert len(rubrics) == 1
    (problem,) = problems
    assert problem.path.name == "zz-copy.yaml" and problem.line is not None
    assert "already defined" in problem.message


def test_a_kept_workspace_config_is_the_config_validated(tmp_path: Path) -> None:
    root = copy_sample_data(tmp_path / "demo")
    first = load_workspace(root)
    kept = load_workspace(root)
    assert isinstance(kept.config, WorkspaceConfig)
    assert kept.config.model_dump() == first.config.model_dump()
    assert kept.config == WorkspaceConfig.model_validate(first.config.model_dump())
    assert kept.config.sampling.rate_for("nothing") == first.config.sampling.rate_for("nothing")
    text = (root / "agentdeck.toml").read_text(encoding="utf-8")
    (root / "agentdeck.toml").write_text(text + "\n[unknown]\nx = 1\n", encoding="utf-8")
    with pytest.raises(DocumentError) as err:
        load_workspace(root)
    assert err.value.line == len(text.splitlines()) + 2


def test_opening_from_the_cache_needs_no_yaml_and_no_validator(tmp_path: Path) -> None:
    """In a fresh process, once the documents are kept: neither PyYAML nor pydantic's plugin
    loader (imported when a validator is first built) is imported to load the setup."""
    root = copy_sample_data(tmp_path / "demo")
    script = (
        "import sys; from pathlib import Path\n"
        "from store.workspace import load_workspace\n"
        "from review.session import load_setup\n"
        f"s = load_setup(load_workspace(Path({str(root)!r})))\n"
        "print(s.rubric.version, 'yaml' in sys.modules,"
        " 'pydantic.plugin._loader' in sys.modules)\n"
    )

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return out.stdout.split()

    cold = run()
    warm = run()
    assert cold[0] == warm[0]
    assert cold[1:] == ["True", "True"]
    assert warm[1:] == ["False", "False"]

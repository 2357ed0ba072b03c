"""The repository stands on its own: its docs link only to files that exist in it, and nothing
points at the team's notebook outside it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)")
#: What running the tests leaves in a tree, never shipped.
LEFT_BY_RUNS = {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache"}


def tracked() -> list[Path]:
    """The repository's files: git's list in a checkout, else (an unpacked sdist) the files of
    the sdist's include list in pyproject.toml, as the build took them."""
    git = shutil.which("git")
    if (ROOT / ".git").exists() and git is not None:
        out = subprocess.run(
            [git, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        return [ROOT / line for line in out.splitlines()]
    return shipped()


def shipped() -> list[Path]:
    """The files an sdist holds: pyproject.toml and every file under its include list."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        include = tomllib.load(fh)["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    files = [ROOT / "pyproject.toml"]
    for entry in include:
        top = ROOT / entry
        if top.is_file():
            files.append(top)
            continue
        for path in sorted(top.rglob("*")):
            parts = set(path.relative_to(ROOT).parts)
            if path.is_file() and not parts & LEFT_BY_RUNS and path.suffix != ".pyc":
                files.append(path)
    return files


def test_readme_links_the_architecture_and_every_local_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme
    for doc in (ROOT / "README.md", ROOT / "docs" / "architecture.md"):
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_nothing_points_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|/work/shared|/work/\.library")
    for path in tracked():
        if path.suffix in {".svg", ".lock", ".jsonl"} or not path.is_file() or path == HERE:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not outside.search(text), f"{path.relative_to(ROOT)} points outside the repository"


def test_the_documented_scores_file_format_is_what_the_stores_write(tmp_path: Path) -> None:
    """README and architecture describe the file stores' scores file as an append log (last
    line per id wins, tombstones, a lock file beside it): reading it by that recipe gives what
    the stores themselves list, and the lock files are where the docs say."""
    import json

    from store.connectors.file import FileConnector
    from store.connectors.otlp_file import OtlpFileConnector
    from store.models import Score

    def score(sid: str, value: str) -> Score:
        return Score.model_validate(
            {
                "id": sid,
                "trace_id": "t1",
                "name": "task_success",
                "value": value,
                "created_at": "2026-01-01T00:00:00Z",
                "metadata": {"reviewer": "ana", "rubric_id": "r", "rubric_version": "v"},
            }
        )

    (tmp_path / "store").mkdir()
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "traces.jsonl").write_text("", encoding="utf-8")
    stores = [
        (FileConnector("demo", tmp_path / "store"), tmp_path / "store" / ".scores.lock"),
        (
            OtlpFileConnector("otel", tmp_path / "exports" / "traces.jsonl"),
            tmp_path / "exports" / ".traces.scores.lock",
        ),
    ]
    for connector, lock in stores:
        connector.push_scores([score("a", "pass"), score("b", "pass")])
        connector.push_scores([score("a", "fail")])
        connector.delete_scores(["b"])
        latest: dict[str, dict] = {}
        for line in connector.scores_path.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            latest[obj["id"]] = obj  # the last line per id wins
        assert latest["b"] == {"deleted": True, "id": "b"}
        live = {sid: obj["value"] for sid, obj in latest.items() if not obj.get("deleted")}
        assert live == {s.id: s.value for s in connector.list_scores()} == {"a": "fail"}
        assert lock.exists()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    arch = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for doc in (readme, arch):
        assert '{"deleted": true, "id"' in doc and "last line for an id wins" in doc
        assert ".scores.lock" in doc
    assert "exports/.traces.scores.lock" in readme


ROOMS = ("store", "review", "runbooks", "tui")


def where_it_lives() -> list[str]:
    """The modules named in architecture.md's "Where it lives" table, in row order."""
    arch = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = arch.split("\n## Where it lives\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+\.py)` \|", section, flags=re.MULTILINE)


def test_the_map_names_every_module_and_only_modules_that_exist() -> None:
    named = where_it_lives()
    modules = sorted(
        str(path.relative_to(ROOT).as_posix())
        for room in ROOMS
        for path in (ROOT / room).rglob("*.py")
        if not set(path.relative_to(ROOT).parts) & LEFT_BY_RUNS
    )
    assert len(named) == len(set(named)), "a module has two rows"
    missing = [m for m in modules if m not in named]
    assert not missing, f"docs/architecture.md 'Where it lives' lacks {missing}"
    stale = [m for m in named if m not in modules]
    assert not stale, f"docs/architecture.md 'Where it lives' names missing modules {stale}"
    assert all(m.startswith(tuple(f"{room}/" for room in ROOMS)) for m in named)


def test_the_walk_without_git_finds_what_the_sdist_ships() -> None:
    """From an sdist there is no git: the walk over pyproject's include list must cover every
    tracked file the sdist ships, so the checks above read the same files there."""
    git = shutil.which("git")
    if not (ROOT / ".git").exists() or git is None:
        pytest.skip("no git checkout to compare with: this is the sdist")
    walked = {p.relative_to(ROOT).as_posix() for p in shipped()}
    out = subprocess.run(
        [git, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    with (ROOT / "pyproject.toml").open("rb") as fh:
        include = tomllib.load(fh)["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    expected = {
        line
        for line in out.splitlines()
        if line == "pyproject.toml" or any(line == e or line.startswith(f"{e}/") for e in include)
    }
    assert expected <= walked
    assert "docs/architecture.md" in walked, "the docs these tests read ship in the sdist"

"""The repository stands on its own: its docs link only to files that exist in it, and nothing
points at the team's notebook outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)")


def tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines()]


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

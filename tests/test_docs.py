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

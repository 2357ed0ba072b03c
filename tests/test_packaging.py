"""agentdeck installed as a package: the demo workspace ships inside the wheel and the demo copy
goes to the user data directory, never into the source tree or the install location."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is needed to build the wheel and is missing")
        pytest.skip("uv is not installed")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("agentdeck-*.whl")
    return built


def test_wheel_carries_the_demo_workspace(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in [
        "agentdeck.toml",
        "rubrics/support-quality.yaml",
        "cards/billing-support.yaml",
        "cards/crm-update.yaml",
        "cards/refund-approvals.yaml",
        "store/runs.jsonl",
        "store/incidents.jsonl",
        "store/scores.jsonl",
    ]:
        assert f"store/demo_workspace/{rel}" in names, rel
    # The data ships, its generator does not: it imports `review` and nothing installed needs it.
    shipped = [n for n in names if n.startswith("store/demo_workspace/")]
    assert "store/demo_workspace/generate.py" not in names
    assert not [n for n in shipped if n.endswith(".py")], shipped
    assert any(n.startswith("tui/") and n.endswith(".tcss") for n in names)


def test_installed_demo_goes_to_user_data_dir(wheel: Path, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    py = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--python", str(py), str(wheel)], check=True, capture_output=True
    )
    data_home = tmp_path / "data"
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(data_home),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("AGENTDECK_WORKSPACE", None)
    before = sorted(p.name for p in (ROOT / "sample-data").iterdir())
    done = subprocess.run(
        [str(venv / "bin" / "agentdeck"), "demo", "--no-open"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    target = Path(done.stdout.strip())
    assert target == data_home / "agentdeck" / "demo"
    assert (target / "agentdeck.toml").is_file()
    assert (target / "store" / "runs.jsonl").stat().st_size > 100_000
    assert not (target / "generate.py").exists()
    # The installed demo validates but for the two corrupt lines its store ends with on
    # purpose, and nothing was written next to the sources.
    ok = subprocess.run(
        [str(venv / "bin" / "agentdeck"), "validate", "--workspace", str(target)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 1, ok.stderr
    found = [ln for ln in ok.stderr.splitlines() if " warning: " not in ln]
    assert found == [
        f"{target / 'store' / 'runs.jsonl'}:{n}: not valid JSON (a truncated or corrupt line)"
        for n in (914, 915)
    ] + ["2 problems found"], ok.stderr
    assert sorted(p.name for p in (ROOT / "sample-data").iterdir()) == before


def test_the_docs_tests_pass_from_the_sdist(tmp_path: Path) -> None:
    """An sdist has no git: the docs checks (links, nothing pointing outside, the module map)
    read the files the sdist ships, and pass there."""
    import tarfile

    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is needed to build the sdist and is missing")
        pytest.skip("uv is not installed")
    subprocess.run(
        [uv, "build", "--sdist", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = (tmp_path / "dist").glob("agentdeck-*.tar.gz")
    with tarfile.open(built) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    (tree,) = (tmp_path / "src").iterdir()
    assert not (tree / ".git").exists()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_docs.py", "-v", "-p", "no:cacheprovider"],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("nothing_points_outside", "map_names_every_module", "every_local_link_resolves"):
        assert re.search(rf"{name}\w* PASSED", done.stdout), done.stdout

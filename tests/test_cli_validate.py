"""`agentdeck -w DIR CMD`: the group's --workspace applies to every command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tui.cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(
        ROOT / "sample-data", target, ignore=shutil.ignore_patterns(".agentdeck", "generate.py")
    )
    # Nowhere else to find a workspace: not the environment, the folder, or the config dir.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("AGENTDECK_WORKSPACE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return target


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="agentdeck")


def line_of(path: Path, needle: str, after: int = 0) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, ln in enumerate(lines, 1) if i > after and needle in ln)


def problems(done: Result) -> list[str]:
    assert (
        "Traceback" not in done.output
        and done.exception is None
        or isinstance(done.exception, SystemExit)
    )
    lines = done.stderr.strip().splitlines()
    assert lines[-1].endswith("found"), done.stderr
    return lines[:-1]


# -- the group's --workspace ---------------------------------------------------------------


def test_group_workspace_option_applies_to_validate(ws: Path) -> None:
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"{ws}: ok"
    done = run("--workspace", str(ws), "validate")
    assert done.exit_code == 0, done.output


def test_group_workspace_option_applies_to_sync(ws: Path) -> None:
    done = run("-w", str(ws), "sync", "--no-push")
    assert done.exit_code == 0, done.output
    assert "demo: listed" in done.stdout
    assert (ws / ".agentdeck" / "agentdeck.db").is_file()


def test_the_subcommands_own_workspace_option_wins(ws: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("-w", str(empty), "validate", "-w", str(ws)).exit_code == 0
    done = run("-w", str(ws), "validate", "-w", str(empty))
    assert done.exit_code == 2
    assert str(empty / "agentdeck.toml") in done.stderr


def test_no_workspace_anywhere_is_bad_usage(ws: Path) -> None:
    done = run("validate")
    assert done.exit_code == 2
    assert "no workspace found" in done.stderr

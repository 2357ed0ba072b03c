"""The agentdeck CLI as a person meets it: exit codes, one-line errors, cheap start-up."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import mend_demo_store

ROOT = Path(__file__).resolve().parent.parent


def agentdeck(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd or ROOT),
            "PYTHONPATH": str(ROOT),
            # The test's own (conftest): documents it validates are kept there, not in HOME; a
            # module-scoped fixture runs before conftest's, so it gets a folder of its own.
            "AGENTDECK_CACHE_DIR": os.environ.get("AGENTDECK_CACHE_DIR")
            or tempfile.mkdtemp(prefix="agentdeck-cache-"),
        },
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    target = tmp_path / "ws"
    shutil.copytree(
        ROOT / "sample-data", target, ignore=shutil.ignore_patterns(".agentdeck", "generate.py")
    )
    return target


def assert_one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_help_does_not_import_the_tui_or_network() -> None:
    probe = (
        "import sys; from tui.cli import cli\n"
        "try:\n    cli(['--help'], prog_name='agentdeck')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('textual', 'sqlite_utils', 'httpx') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "Usage: agentdeck" in done.stdout
    assert "HEAVY []" in done.stdout


def test_validate_demo_reports_its_two_corrupt_store_lines(ws: Path) -> None:
    done = agentdeck("validate", "--workspace", str(ws))
    assert done.returncode == 1, done.stderr
    runs = ws / "store" / "runs.jsonl"
    assert f"{runs}:914: not valid JSON" in done.stderr
    assert f"{runs}:915: not valid JSON" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "2 problems found"
    # Mended, the demo is ok.
    done = agentdeck("validate", "--workspace", str(mend_demo_store(ws)))
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


def test_validate_reports_every_bad_file_with_its_line(ws: Path) -> None:
    rubric = ws / "rubrics" / "support-quality.yaml"
    rubric.write_text(rubric.read_text().replace("key: y}", "key: p}"))
    card = ws / "cards" / "crm-update.yaml"
    card.write_text(card.read_text().replace("tier: auto-act", "tier: yolo"))
    done = agentdeck("validate", "--workspace", str(ws))
    assert done.returncode == 1
    assert f"{rubric}:" in done.stderr and "'p'" in done.stderr
    tier_line = next(i for i, ln in enumerate(card.read_text().splitlines(), 1) if "tier:" in ln)
    assert f"{card}:{tier_line}:" in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_rubric_refuses_to_open_the_desk(ws: Path) -> None:
    rubric = ws / "rubrics" / "support-quality.yaml"
    text = rubric.read_text().replace("kind: binary, levels", "kind: binary levels", 1)
    rubric.write_text(text)
    done = agentdeck("--workspace", str(ws))
    assert_one_line_error(done, f"{rubric}:", "YAML")
    assert not (ws / ".agentdeck").exists()


def test_malformed_config_names_file_and_line(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    lines = cfg.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("overlap"))
    lines[at] = "overlap = 3.5"
    cfg.write_text("\n".join(lines) + "\n")
    done = agentdeck("--workspace", str(ws))
    assert_one_line_error(done, f"{cfg}:{at + 1}:", "review.overlap")


def test_newer_database_is_refused_untouched(ws: Path) -> None:
    db = ws / ".agentdeck" / "agentdeck.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    done = agentdeck("--workspace", str(ws))
    assert_one_line_error(done, str(db), "newer")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not Path(f"{db}-wal").exists()


def test_no_workspace_is_a_clear_error(tmp_path: Path) -> None:
    done = agentdeck("validate", cwd=tmp_path)
    assert_one_line_error(done, "no workspace found", "agentdeck demo")


def test_sync_reports_counts_and_skipped_lines(ws: Path) -> None:
    done = agentdeck("sync", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    assert "listed" in done.stdout and "sampled" in done.stdout
    assert "skipped 2 corrupt lines" in done.stderr
    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    listed = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert f"listed {listed} runs" in done.stdout


def test_sync_after_a_roster_change_resamples_the_runs_already_here(ws: Path) -> None:
    first = agentdeck("sync", "--workspace", str(ws))
    assert first.returncode == 0, first.stderr
    assert "sampling plan changed" not in first.stdout
    db = ws / ".agentdeck" / "agentdeck.db"
    conn = sqlite3.connect(db)
    sampled = conn.execute("SELECT count(DISTINCT run) FROM assignments").fetchone()[0]
    conn.close()
    cfg = ws / "agentdeck.toml"
    cfg.write_text(cfg.read_text().replace('roster = ["ana", "ben", "chen"]', 'roster = ["ana"]'))

    dry = agentdeck("sync", "--dry-run", "--workspace", str(ws))
    assert dry.returncode == 0, dry.stderr
    assert "demo: sampling plan changed: would re-sample" in dry.stdout

    done = agentdeck("sync", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    assert "demo: sampling plan changed:" in done.stdout and "re-sampled" in done.stdout
    conn = sqlite3.connect(db)
    mine = conn.execute("SELECT count(*) FROM assignments WHERE reviewer = 'ana'").fetchone()[0]
    others = conn.execute(
        "SELECT count(*) FROM assignments a WHERE reviewer != 'ana' AND NOT EXISTS "
        "(SELECT 1 FROM grades g WHERE g.run = a.run AND g.reviewer = a.reviewer)"
    ).fetchone()[0]
    assert mine == sampled and others == 0


def test_sync_says_when_every_sampled_run_went_to_someone_else(tmp_path: Path) -> None:
    from review.sampling import rendezvous
    from tests.helpers import make_workspace, run_record

    record = next(
        rec
        for i in range(100)
        if rendezvous("s", (rec := run_record(i))["trace_id"], ["ana", "ben"])[0] == "ben"
    )
    ws = make_workspace(
        tmp_path / "ws", [record], salt="s", default_rate=1.0, overlap=0.0, roster=("ana", "ben")
    )
    done = agentdeck("sync", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    assert "1 run sampled, none for you (ana); roster: ana, ben" in done.stdout


def test_schema_prints_json_schema() -> None:
    done = agentdeck("schema", "rubric")
    assert done.returncode == 0
    assert '"criteria"' in done.stdout
    bad = agentdeck("schema", "nonsense")
    assert bad.returncode == 2


def test_a_keymap_that_steals_a_rubric_key_is_refused(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    cfg.write_text(cfg.read_text() + '\n[keys]\n"desk.undo" = "z,p"\n')
    at = len(cfg.read_text().splitlines())
    done = agentdeck("--workspace", str(ws))
    assert_one_line_error(done, f"{cfg}:{at}:", "desk.undo", "task_success=pass")


def test_a_keymap_with_an_unknown_binding_id_is_refused(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    cfg.write_text(cfg.read_text() + '\n[keys]\n"desk.nope" = "z"\n')
    done = agentdeck("--workspace", str(ws))
    assert_one_line_error(done, "desk.nope", "desk.next")


def test_an_unreadable_store_is_one_line_naming_it(ws: Path) -> None:
    incidents = ws / "store" / "incidents.jsonl"
    incidents.unlink()
    incidents.mkdir()
    done = agentdeck("sync", "--workspace", str(ws))
    assert_one_line_error(done, str(incidents), "cannot read")


def test_a_missing_otlp_file_names_the_store_and_its_config_line(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    cfg.write_text(
        cfg.read_text()
        + '\n[[stores]]\nname = "otel"\nkind = "otlp-file"\npath = "exports/traces.jsonl"\n'
    )
    line = cfg.read_text().splitlines().index('path = "exports/traces.jsonl"') + 1
    done = agentdeck("sync", "--workspace", str(ws))
    assert_one_line_error(
        done, f"{cfg}:{line}: store 'otel': ", str(ws / "exports" / "traces.jsonl")
    )
    dry = agentdeck("sync", "--dry-run", "--workspace", str(ws))
    assert_one_line_error(dry, f"{cfg}:{line}: store 'otel': ")


def test_a_second_desk_on_the_same_workspace_is_refused(demo_workspace) -> None:  # type: ignore[no-untyped-def]
    """Two desks on one workspace would each show grades the other has changed; the second is
    refused with one line, and the database is not touched by it."""
    import os
    import subprocess
    import sys

    from store.db import connect
    from store.files import hold

    connect(demo_workspace.db_path).close()
    before = demo_workspace.db_path.read_bytes()
    held = hold(demo_workspace.db_path.with_name("desk.lock"))  # as the first desk holds it
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tui.cli", "-w", str(demo_workspace.root)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        held.release()
    assert done.returncode == 2
    assert f"already open on this workspace (pid {os.getpid()})" in done.stderr
    assert demo_workspace.db_path.read_bytes() == before
    assert len(done.stderr.strip().splitlines()) == 1


def test_sync_output_counts_in_words_a_person_reads(tmp_path: Path) -> None:
    """One of a thing is singular ("1 run", "1 corrupt line"), and runs are "fetched"."""
    from tests.helpers import make_workspace, run_record

    ws = make_workspace(
        tmp_path / "ws", [run_record(0)], default_rate=1.0, overlap=0.0, roster=("ana",)
    )
    with (ws / "store" / "runs.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("garbage\n")
    dry = agentdeck("sync", "--dry-run", "--workspace", str(ws))
    assert dry.returncode == 0, dry.stderr
    assert (
        "demo: would list 1 run, sample 1 (fetching 1 not here yet), import 0 grades from the store"
        in dry.stdout
    )
    assert "outbox: would push 0 grades" in dry.stdout
    done = agentdeck("sync", "--workspace", str(ws))
    assert done.returncode == 0, done.stderr
    assert "demo: listed 1 run, sampled 1, fetched 1, 0 incidents, 0 grades" in done.stdout
    assert "demo: warning: skipped 1 corrupt line\n" in done.stderr
    assert "outbox: 0 grades waiting" in done.stdout
    assert "hydrated" not in done.stdout + done.stderr + dry.stdout + dry.stderr
    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    assert conn.execute("SELECT count(*) FROM runs WHERE hydrated = 1").fetchone()[0] == 1
    conn.close()


def test_the_readme_config_names_every_store_kind() -> None:
    """The README's `kind =` line lists every kind (the demo's config points there, so adding
    a kind touches its module, its tests and the docs, nothing else)."""
    from store.plugins import STORES

    line = next(
        ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("kind =")
    )
    assert all(
        kind in line.split("#", 1)[1].replace("|", " ").split() for kind in STORES.kinds()
    ), line
    demo = (ROOT / "sample-data" / "agentdeck.toml").read_text()
    assert 'the README\'s "Stores" section' in demo

"""`agentdeck -w DIR CMD` and what `validate` catches: everything `sync` would refuse, one line
per problem naming file:line; exit 0 ok, 1 problems found, 2 no workspace (bad usage)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from store.db import SCHEMA_VERSION
from tests.conftest import DEMO_CORRUPT_LINES, mend_demo_store
from tui.cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real keyring backend (keyrings.alt's plain file) in a temporary folder: validate reads
    it for the kill switches' tokens, and never the developer's own keyring."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    path = tmp_path / "keyring" / "keyring_pass.cfg"
    backend = PlaintextKeyring()
    backend.file_path = str(path)  # type: ignore[misc]
    # set_keyring has no undo; monkeypatch puts the previous backend back after the test.
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("KEYRING_PROPERTY_FILE_PATH", str(path))
    return path


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyring_file: Path) -> Path:
    """The shipped demo as it is, its store's two corrupt lines included."""
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


@pytest.fixture
def ws(demo: Path) -> Path:
    """The demo with its store's corrupt lines dropped: a workspace validate finds ok."""
    return mend_demo_store(demo)


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
    return [line for line in lines[:-1] if not is_warning(line)]


def is_warning(line: str) -> bool:
    return ": warning: " in line


def warnings(done: Result) -> list[str]:
    return [line for line in done.stderr.strip().splitlines() if is_warning(line)]


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


# -- what validate catches ---------------------------------------------------------------------


def test_two_rubrics_with_one_id_name_the_second_files_id_line(ws: Path) -> None:
    first = ws / "rubrics" / "support-quality.yaml"
    second = ws / "rubrics" / "zz-copy.yaml"
    second.write_text("# a copy someone forgot to rename\n" + first.read_text())
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    assert problems(done) == [
        f"{second}:{line_of(second, 'id: support-quality')}: rubric id 'support-quality' is "
        "already defined in support-quality.yaml"
    ]
    # sync refuses the same workspace, naming the same place.
    refused = run("-w", str(ws), "sync")
    assert refused.exit_code == 2
    assert f"{second}:{line_of(second, 'id: support-quality')}: " in refused.stderr


def test_a_store_path_that_does_not_exist_names_its_config_line(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    cfg.write_text(cfg.read_text().replace('path = "store"', 'path = "stor"'))
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    [problem] = problems(done)
    assert problem.startswith(f"{cfg}:{line_of(cfg, 'path = ')}: store 'demo': path 'stor'")
    assert "missing" in problem
    # ...which sync refuses too.
    assert run("-w", str(ws), "sync").exit_code == 2


def test_an_opentelemetry_file_that_is_not_there_names_its_config_line(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    with cfg.open("a") as fh:
        fh.write('\n[[stores]]\nname = "otel"\nkind = "otlp-file"\npath = "exports/t.jsonl"\n')
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    [problem] = problems(done)
    line = line_of(cfg, 'path = "exports/t.jsonl"')
    assert problem.startswith(
        f"{cfg}:{line}: store 'otel': {ws / 'exports' / 't.jsonl'} is missing"
    )
    # Once the collector has written it, all is well.
    (ws / "exports").mkdir()
    (ws / "exports" / "t.jsonl").write_text("")
    assert run("-w", str(ws), "validate").exit_code == 0


def test_a_store_folder_without_runs_and_an_unsupported_kind(ws: Path) -> None:
    from store.plugins import STORES

    (ws / "store" / "runs.jsonl").unlink()
    cfg = ws / "agentdeck.toml"
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    assert problems(done) == [
        f"{cfg}:{line_of(cfg, 'path = ')}: store 'demo': {ws / 'store' / 'runs.jsonl'} is missing",
    ]
    # A kind no module declares (store/connectors/<kind>.py): the config's kind line says so.
    cfg.write_text(
        cfg.read_text() + '\n[[stores]]\nname = "other"\nkind = "nosuch"\nurl = "http://h"\n'
    )
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    kind_line = line_of(cfg, 'kind = "nosuch"')
    assert problems(done) == [
        f"{cfg}:{kind_line}: stores.1.kind: kind 'nosuch' is not "
        f"supported (supported: {', '.join(STORES.kinds())})"
    ]
    refused = run("-w", str(ws), "sync")
    assert refused.exit_code == 2


@pytest.mark.parametrize(
    ("edit", "needle", "message"),
    [
        # A misspelt table: the line of the misspelling, not "review is missing" with no line.
        (lambda t: t.replace("[review]", "[reviews]"), "[reviews]", "reviews: Extra inputs"),
        (lambda t: t.replace("overlap = 0.2", "overlap = 7"), "overlap = 7", "review.overlap"),
        (lambda t: t.replace('salt = "acme', "salt = acme"), "salt = acme", "invalid TOML"),
        (lambda t: t + '\n[keys]\n"desk.undo" = 5\n', '"desk.undo"', "keys.desk.undo"),
        (lambda t: t + "\n[extra\n", "[extra", "invalid TOML"),
    ],
)
def test_config_errors_name_the_line(ws: Path, edit, needle: str, message: str) -> None:  # type: ignore[no-untyped-def]
    cfg = ws / "agentdeck.toml"
    cfg.write_text(edit(cfg.read_text()))
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1, done.output
    [problem] = problems(done)
    assert problem.startswith(f"{cfg}:{line_of(cfg, needle)}: "), problem
    assert message in problem


def test_a_missing_table_points_at_the_top_of_the_config(ws: Path) -> None:
    cfg = ws / "agentdeck.toml"
    text = cfg.read_text()
    cfg.write_text(text[: text.index("[sampling]")] + text[text.index("[paths]") :])
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    assert problems(done) == [f"{cfg}:1: sampling: Field required"]


def test_an_alias_bomb_and_a_database_too_new_are_problems(ws: Path) -> None:
    rubric = ws / "rubrics" / "support-quality.yaml"
    bomb = "a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]\n"
    bomb += "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    rubric.write_text(rubric.read_text() + bomb)
    db = ws / ".agentdeck" / "agentdeck.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    found = problems(done)
    assert len(found) == 2, found
    assert found[0].startswith(f"{rubric}:{line_of(rubric, 'a4: &a4')}: alias *a3 ")
    assert found[1].startswith(f"{db}: database schema version {SCHEMA_VERSION + 1} is newer")


def test_validate_stays_light(ws: Path) -> None:
    probe = (
        "import sys; from tui.cli import cli\n"
        f"try:\n    cli(['-w', {str(ws)!r}, 'validate'], prog_name='agentdeck')\n"
        "except SystemExit as exc:\n    print('EXIT', exc.code)\n"
        "heavy = sorted(m for m in ('textual', 'sqlite_utils', 'httpx') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "EXIT 0" in done.stdout and "HEAVY []" in done.stdout, (done.stdout, done.stderr)


# -- the stores kept in files -------------------------------------------------------------------

NOT_JSON = "not valid JSON (a truncated or corrupt line)"


def test_validate_on_the_shipped_demo_reports_both_corrupt_lines(demo: Path) -> None:
    runs = demo / "store" / "runs.jsonl"
    done = run("-w", str(demo), "validate")
    assert done.exit_code == 1, done.output
    assert problems(done) == [f"{runs}:{n}: {NOT_JSON}" for n in DEMO_CORRUPT_LINES]
    assert done.stderr.strip().splitlines()[-1] == "2 problems found"
    assert done.stdout == ""
    # Another bad line appended is one more, named too (a sync would have read past them all).
    assert run("-w", str(demo), "sync", "--no-push").exit_code == 0
    with runs.open("a") as fh:
        fh.write('{"trace_id": "t-late", "workflow": \n')
    done = run("-w", str(demo), "validate")
    assert done.exit_code == 1
    assert problems(done) == [f"{runs}:{n}: {NOT_JSON}" for n in (*DEMO_CORRUPT_LINES, 916)]


def test_every_corrupt_or_torn_line_of_every_file_is_named(ws: Path) -> None:
    store = ws / "store"
    runs, incidents, scores = (store / f for f in ("runs.jsonl", "incidents.jsonl", "scores.jsonl"))
    first = json.loads(runs.read_text().splitlines()[0])
    record = {**first, "trace_id": "t-bad-steps", "steps": [{"kind": 5}]}
    with runs.open("a") as fh:
        fh.write(json.dumps(record) + "\n")  # a summary that reads, a full record that does not
        fh.write(json.dumps({**first, "cost_usd": 1.5}) + "\n")  # the first run again, changed
        fh.write('{"trace_id": "t-torn", "work')  # torn: no newline
    incidents.write_text(incidents.read_text() + "{oops\n")
    scores.write_text(scores.read_text() + '{"id": 5}\n' + '{"id": "s", "value": \n')
    n_runs, n_inc, n_scores = (len(f.read_text().splitlines()) for f in (runs, incidents, scores))
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1, done.output
    found = problems(done)
    assert found[0] == (
        f"{runs}:{n_runs}: the last line is not complete JSON and has no newline (still being "
        "written, or cut off); read once complete"
    )
    assert found[1].startswith(f"{runs}:{n_runs - 2}: steps.0.")
    assert found[1].endswith("(run not fetched)")
    assert found[2:] == [
        f"{incidents}:{n_inc}: {NOT_JSON}",
        f"{scores}:{n_scores - 1}: not a score (no string `id`)",
        f"{scores}:{n_scores}: {NOT_JSON}",
    ]
    assert done.stderr.strip().splitlines()[-1] == "5 problems found"
    # A trace id again with other content is said, and fails nothing: the last line wins.
    assert warnings(done)[-1] == (
        f"{runs}:{n_runs - 1}: warning: trace id {first['trace_id']!r} is also on line 1 with "
        f"different content; line {n_runs - 1} is used (the last line wins)"
    )


def test_every_corrupt_line_is_listed_however_many(ws: Path) -> None:
    runs = ws / "store" / "runs.jsonl"
    before = len(runs.read_text().splitlines())
    runs.write_text(runs.read_text() + "".join(f"junk {i}\n" for i in range(30)))
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    assert problems(done) == [f"{runs}:{before + i}: {NOT_JSON}" for i in range(1, 31)]
    assert done.stderr.strip().splitlines()[-1] == "30 problems found"


def _otlp_store(ws: Path, traces: str) -> Path:
    """An otlp-file store beside the demo's, its file holding ``traces``."""
    path = ws / "exports" / "traces.jsonl"
    path.parent.mkdir()
    path.write_text(traces)
    with (ws / "agentdeck.toml").open("a") as fh:
        fh.write('\n[[stores]]\nname = "otel"\nkind = "otlp-file"\npath = "exports/traces.jsonl"\n')
    return path


def test_an_opentelemetry_files_corrupt_and_torn_lines_and_its_scores(ws: Path) -> None:
    span = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "name": "agent",
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601000000000",
        "attributes": [{"key": "metadata.workflow", "value": {"stringValue": "crm-update"}}],
    }
    line = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    path = _otlp_store(ws, f"{line}\nnot json\n{line}\n{line[:40]}")
    scores = path.parent / "traces.scores.jsonl"
    scores.write_text('{"id": "x", "trace_id": \n')
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1, done.output
    assert problems(done) == [
        f"{path}:2: {NOT_JSON}",
        f"{path}:4: the last line is not complete JSON and has no newline (still being "
        "written, or cut off); read once complete",
        f"{scores}:1: {NOT_JSON}",
    ]
    # Mended, it validates.
    path.write_text(f"{line}\n")
    scores.unlink()
    assert run("-w", str(ws), "validate").exit_code == 0


def test_validate_stays_light_reading_the_stores(demo: Path) -> None:
    # The demo's corrupt lines and an OpenTelemetry store: still neither Textual, sqlite-utils
    # nor httpx.
    _otlp_store(demo, "not json\n")
    probe = (
        "import sys; from tui.cli import cli\n"
        f"try:\n    cli(['-w', {str(demo)!r}, 'validate'], prog_name='agentdeck')\n"
        "except SystemExit as exc:\n    print('EXIT', exc.code)\n"
        "heavy = sorted(m for m in ('textual', 'sqlite_utils', 'httpx') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "EXIT 1" in done.stdout and "HEAVY []" in done.stdout, (done.stdout, done.stderr)
    assert "traces.jsonl:1: not valid JSON" in done.stderr
    assert "runs.jsonl:915: not valid JSON" in done.stderr


# -- kill-switch targets, checked offline ---------------------------------------------------------


def _card(ws: Path, workflow: str) -> Path:
    return ws / "cards" / f"{workflow}.yaml"


def test_the_demo_validates_with_a_warning_for_the_unleash_token(
    ws: Path, keyring_file: Path
) -> None:
    card = _card(ws, "refund-approvals")
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"{ws}: ok"
    line = line_of(card, "backend: unleash")
    assert warnings(done) == [
        f"{card}:{line}: warning: kill_switch: no token in the keyring for 'unleash' (unleash); "
        "run `agentdeck login unleash` on the machines that set this switch"
    ]
    # With the token in the (file) keyring there is nothing to say.
    from store.credentials import set_secret

    set_secret("unleash", "a-token")
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 0 and warnings(done) == [], done.output


def test_a_store_whose_kind_needs_a_token_warns_until_login(ws: Path, keyring_file: Path) -> None:
    """`sync` stops at a store whose key is missing: validate says so first (a warning, exit
    0), at the store's line; a kind whose token is optional (MLflow) says nothing."""
    from store.credentials import set_secret

    config = ws / "agentdeck.toml"
    config.write_text(
        config.read_text()
        + '\n[[stores]]\nname = "smith"\nkind = "langsmith"\nproject = "support-agents"\n'
        + '\n[[stores]]\nname = "ml"\nkind = "mlflow"\nurl = "http://127.0.0.1:5000"\n'
        + 'experiment = "support-agents"\n'
    )
    set_secret("unleash", "a-token")
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 0, done.output
    line = line_of(config, 'name = "smith"')
    assert warnings(done) == [
        f"{config}:{line}: warning: 'smith': no token in this machine's keyring (the "
        "LangSmith API key); run `agentdeck login smith` before `agentdeck sync`"
    ]
    set_secret("smith", "ls-key")
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 0 and warnings(done) == [], done.output


def test_a_missing_flag_file_names_the_cards_path_line(ws: Path) -> None:
    card = _card(ws, "billing-support")
    card.write_text(
        card.read_text().replace("path: flags/agents.flagd.json", "path: flags/nope.json")
    )
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    [problem] = problems(done)
    assert problem.startswith(
        f"{card}:{line_of(card, 'path: flags/nope.json')}: kill_switch: flagd "
    )
    assert "no such file" in problem


def test_a_flag_file_that_is_a_folder_is_a_problem(ws: Path) -> None:
    (ws / "flags" / "agents.flagd.json").unlink()
    (ws / "flags" / "agents.flagd.json").mkdir()
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    found = problems(done)
    # Every card whose channel is that file says so, each at its own path line (the fallback's
    # too: refund-approvals keeps its second channel there).
    assert len(found) == 3, found
    assert all("is a folder, not a flag file" in p for p in found)
    fallback = _card(ws, "refund-approvals")
    fb_line = line_of(fallback, "path: flags/agents.flagd.json")
    assert any(p.startswith(f"{fallback}:{fb_line}: kill_switch.fallback: flagd ") for p in found)


def test_a_flag_file_that_does_not_parse_or_lacks_the_flag(ws: Path) -> None:
    flags = ws / "flags" / "agents.flagd.json"
    flags.write_text(flags.read_text().replace('"crm-update-tier"', '"crm-update-tiers"'))
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    [problem] = problems(done)
    card = _card(ws, "crm-update")
    assert problem.startswith(f"{card}:{line_of(card, 'path: flags/')}: kill_switch: flagd ")
    assert "has no flag 'crm-update-tier'" in problem
    flags.write_text("{not json\n")
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1
    assert len(problems(done)) == 3 and all("not valid JSON" in p for p in problems(done))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("127.0.0.1:4242", "has scheme"),
        ("ftp://flags.example", "has scheme 'ftp'"),
        ("http://", "has no host"),
        ("http://flags.example:port", "does not parse"),
    ],
)
def test_a_url_that_does_not_parse_names_its_line(ws: Path, url: str, why: str) -> None:
    card = _card(ws, "refund-approvals")
    card.write_text(card.read_text().replace("url: http://127.0.0.1:4242", f"url: {url}"))
    done = run("-w", str(ws), "validate")
    assert done.exit_code == 1, done.output
    [problem] = problems(done)
    assert problem.startswith(f"{card}:{line_of(card, f'url: {url}')}: kill_switch.url {url!r} ")
    assert why in problem

"""A reviewer's whole journey with each kind of store, as the issue's "done when" puts it:
configure the store in agentdeck.toml, `agentdeck login`, `agentdeck sync`, grade in the desk with
real key presses while the store cannot be reached, sync again, and find every grade in the store
exactly once (and still once after one more sync).

Phoenix is the real server (tests/servers.py); Langfuse is the fake checked against Langfuse's
published OpenAPI document (tests/test_langfuse.py), served over HTTP on 127.0.0.1 so the app
and the CLI reach it through the URL in agentdeck.toml; the OpenTelemetry file is a file.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import settle

from store.workspace import load_workspace
from tests.conftest import PhoenixServer
from tests.helpers import make_workspace
from tui.app import make_app
from tui.cli import cli

SIZE = (120, 40)
FILE_STORE = '[[stores]]\nname = "demo"\nkind = "file"\npath = "store"\n'


def closed_port_url() -> str:
    """A URL where nothing listens: the store as seen from a laptop on a train."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def workspace_with(root: Path, store: str) -> Path:
    """A one-reviewer workspace that samples every run, reading runs from ``store`` only."""
    make_workspace(root, [], roster=("ana",), overlap=0.0, default_rate=1.0)
    cfg = root / "agentdeck.toml"
    text = cfg.read_text()
    assert FILE_STORE in text
    cfg.write_text(text.replace(FILE_STORE, store))
    return root


def agentdeck(root: Path, *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["-w", str(root), *args], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def rows(root: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(load_workspace(root).db_path) as conn:
        return [tuple(r) for r in conn.execute(sql, args)]


async def grade_two_runs_offline(root: Path) -> list[str]:
    """Open the desk with the store out of reach and grade the first two runs by keys: the
    first fails, with its second step marked as the first wrong one and a tone of 3; the second
    passes. Returns the two runs' trace ids, in queue order."""
    app = make_app(load_workspace(root))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.desk.online is False
        first = app.desk.current_run
        await pilot.press("f", "y", "full_stop", "full_stop", "exclamation_mark", "3", "v")
        await pilot.press("p", "n", "s")
        await settle(pilot)
        status = str(app.desk.query_one("#status").render())
        assert "offline · 2 grades waiting" in status, status
    graded = rows(
        root,
        'SELECT r.run_id, g."values", g.first_wrong_step, g.complete FROM grades g '
        "JOIN runs r ON r.id = g.run WHERE g.reviewer = 'ana' ORDER BY r.started_at",
    )
    assert [(json.loads(v), step, done) for _, v, step, done in graded] == [
        ({"task_success": "fail", "intervention": "yes", "tone": 3, "policy": "violation"}, 1, 1),
        ({"task_success": "pass", "intervention": "no", "policy": "safe"}, None, 1),
    ]
    assert rows(root, "SELECT id FROM runs WHERE run_id = ?", graded[0][0]) == [(first,)]
    assert rows(root, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(2,)]
    return [run_id for run_id, *_ in graded]


def set_url(root: Path, old: str, new: str) -> None:
    cfg = root / "agentdeck.toml"
    text = cfg.read_text()
    assert f'url = "{old}"' in text
    cfg.write_text(text.replace(f'url = "{old}"', f'url = "{new}"'))


async def test_phoenix_configure_sync_grade_offline_sync_again_exactly_once(
    phoenix: PhoenixServer, tmp_path: Path, keyring_file: Path
) -> None:
    from tests.test_phoenix import _annotations, _hex, _seed

    project = "journey-agents"
    ids = _seed(
        phoenix, project, [(0, "billing-support", True, False), (1, "crm-update", False, True)]
    )
    root = workspace_with(
        tmp_path / "ws",
        f'[[stores]]\nname = "phoenix"\nkind = "phoenix"\nurl = "{phoenix.url}"\n'
        f'project = "{project}"\nworkflow_attribute = "metadata.workflow"\n',
    )
    # A local Phoenix without authentication needs no key: login is not a step here.
    agentdeck(root, "sync")
    assert rows(root, "SELECT count(*) FROM runs WHERE hydrated = 1") == [(2,)]

    away = closed_port_url()
    set_url(root, phoenix.url, away)
    graded = await grade_two_runs_offline(root)
    assert graded == ids
    set_url(root, away, phoenix.url)

    out = agentdeck(root, "sync")
    assert "2 grade" in out, out
    roots = [_hex(f"{project}/{n}/root", 16) for n in (0, 1)]
    tool = _hex(f"{project}/0/tool", 16)
    expected = sorted(
        [
            (roots[0], "intervention", "yes", 1),
            (roots[0], "policy", "violation", 1),
            (roots[0], "task_success", "fail", 1),
            (roots[0], "tone", "3", 1),
            (tool, "first_wrong_step", "2", 1),  # the second step, as the desk numbers it
            (roots[1], "intervention", "no", 1),
            (roots[1], "policy", "safe", 1),
            (roots[1], "task_success", "pass", 1),
        ]
    )

    def found() -> list[tuple[str, str, str, int]]:
        annotations = _annotations(phoenix, project, [*roots, tool])
        assert {(a["identifier"], a["annotator_kind"]) for a in annotations} == {("ana", "HUMAN")}
        seen: dict[tuple[str, str, str], int] = {}
        for a in annotations:
            key = (a["span_id"], a["name"], a["result"]["label"])
            seen[key] = seen.get(key, 0) + 1
        return sorted((*k, n) for k, n in seen.items())

    assert found() == expected
    agentdeck(root, "sync")
    assert found() == expected
    assert rows(root, "SELECT count(*) FROM outbox WHERE pushed_at IS NULL") == [(0,)]


def test_phoenix_sync_on_a_misspelt_project_says_which_project_to_check(
    phoenix: PhoenixServer, tmp_path: Path, keyring_file: Path
) -> None:
    root = workspace_with(
        tmp_path / "ws",
        f'[[stores]]\nname = "phoenix"\nkind = "phoenix"\nurl = "{phoenix.url}"\n'
        'project = "suport-agents"\n',
    )
    out = agentdeck(root, "sync")  # exit 0: a project appears with its first span
    assert "phoenix: listed 0 runs" in out
    assert "no project 'suport-agents'" in out and "`project` in agentdeck.toml" in out
    assert rows(root, "SELECT count(*) FROM runs") == [(0,)]


async def test_langfuse_configure_login_sync_grade_offline_sync_again_exactly_once(
    tmp_path: Path, keyring_file: Path
) -> None:
    from tests.servers import TransportServer
    from tests.test_langfuse import FIVE, PUBLIC, SECRET, FakeLangfuse

    fake = FakeLangfuse(FIVE)
    with TransportServer(fake.handle) as server:
        root = workspace_with(
            tmp_path / "ws",
            f'[[stores]]\nname = "langfuse"\nkind = "langfuse"\nurl = "{server.url}"\n'
            'workflow_attribute = "metadata.workflow"\n',
        )
        agentdeck(root, "login", "langfuse", input=f"{PUBLIC}:{SECRET}\n")
        agentdeck(root, "sync")
        assert rows(root, "SELECT count(*) FROM runs WHERE hydrated = 1") == [(5,)]

        away = closed_port_url()
        set_url(root, server.url, away)
        graded = await grade_two_runs_offline(root)
        set_url(root, away, server.url)
        assert fake.scores == {}

        out = agentdeck(root, "sync")
        assert "2 grade" in out, out
        expected = sorted(
            [
                (graded[0], None, "intervention", "yes"),
                (graded[0], None, "policy", "violation"),
                (graded[0], None, "task_success", "fail"),
                (graded[0], None, "tone", 3.0),
                (graded[0], f"{graded[0]}-tool", "first_wrong_step", 2.0),  # the second step
                (graded[1], None, "intervention", "no"),
                (graded[1], None, "policy", "safe"),
                (graded[1], None, "task_success", "pass"),
            ],
            key=repr,
        )

        def found() -> list[tuple[Any, ...]]:
            # Langfuse keeps a score per id: eight ids, each once, with the reviewer named.
            assert {s["metadata"]["reviewer"] for s in fake.scores.values()} == {"ana"}
            return sorted(
                (
                    (
                        s["subject"].get("traceId", s["subject"]["id"]),
                        s["subject"]["id"] if s["subject"]["kind"] == "observation" else None,
                        s["name"],
                        s["value"],
                    )
                    for s in fake.scores.values()
                ),
                key=repr,
            )

        assert found() == expected
        posted = len(fake.calls("POST", "/api/public/scores"))
        agentdeck(root, "sync")
        assert found() == expected
        assert len(fake.calls("POST", "/api/public/scores")) == posted, "nothing pushed twice"
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


async def test_otlp_file_configure_sync_grade_offline_sync_again_exactly_once(
    tmp_path: Path,
) -> None:
    from store.connectors.otlp_file import OtlpFileConnector
    from tests.test_otlp_file import _oi_trace, _sid, _tid, _write

    root = workspace_with(
        tmp_path / "ws",
        '[[stores]]\nname = "otel"\nkind = "otlp-file"\npath = "exports/traces.jsonl"\n'
        'workflow_attribute = "metadata.workflow"\n',
    )
    traces = _write(root / "exports" / "traces.jsonl", *_oi_trace(1), *_oi_trace(2))
    agentdeck(root, "sync")
    assert rows(root, "SELECT count(*) FROM runs WHERE hydrated = 1") == [(2,)]

    # The collector's volume is not mounted: the file is out of reach.
    away = traces.rename(traces.with_suffix(".away"))
    graded = await grade_two_runs_offline(root)
    assert graded == [_tid(1), _tid(2)]
    away.rename(traces)

    out = agentdeck(root, "sync")
    assert "2 grade" in out, out
    expected = sorted(
        [
            (_tid(1), None, "intervention", "yes"),
            (_tid(1), None, "policy", "violation"),
            (_tid(1), None, "task_success", "fail"),
            (_tid(1), None, "tone", 3),
            (_tid(1), _sid(1, 2), "first_wrong_step", 2),  # the second step
            (_tid(2), None, "intervention", "no"),
            (_tid(2), None, "policy", "safe"),
            (_tid(2), None, "task_success", "pass"),
        ],
        key=repr,
    )
    reader = OtlpFileConnector("otel", traces)

    def found() -> list[tuple[Any, ...]]:
        scores = reader.list_scores()
        assert len({s.id for s in scores}) == len(scores)
        return sorted(((s.trace_id, s.span_id, s.name, s.value) for s in scores), key=repr)

    assert found() == expected
    lines = reader.scores_path.read_text(encoding="utf-8").splitlines()
    agentdeck(root, "sync")
    assert found() == expected
    assert reader.scores_path.read_text(encoding="utf-8").splitlines() == lines

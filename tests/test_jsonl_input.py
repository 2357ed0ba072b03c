"""File-store lines that used to be dropped or taken without a word.

runs.jsonl: a complete last line without its newline, a JSON-escaped lone surrogate, the same
trace id twice; scores.jsonl and incidents.jsonl: corrupt lines, said with file:line.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from review.session import sync
from store.connectors.file import FileConnector
from store.identity import score_id
from tests.helpers import make_workspace, open_setup, run_record, scalar, write_jsonl
from tui.cli import cli


def _line(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec).encode("utf-8") + b"\n"


def _ws(tmp_path: Path, runs: list[dict[str, Any]] | None = None) -> Path:
    # Every run sampled, one reviewer: what is read is what lands in the database.
    return make_workspace(
        tmp_path / "ws", runs or [], default_rate=1.0, roster=("ana",), overlap=0.0
    )


def _pull(root: Path) -> tuple[sqlite3.Connection, Any]:
    conn, setup = open_setup(root)
    [(_name, pulled, _pushed)] = sync(conn, setup, push_grades=False)
    return conn, pulled


# -- a last line without its newline ---------------------------------------------------------


def test_a_complete_last_line_without_a_newline_is_imported(tmp_path: Path) -> None:
    root = _ws(tmp_path)
    runs = root / "store" / "runs.jsonl"
    runs.write_bytes(_line(run_record(1)) + _line(run_record(2))[:-1])
    conn, pulled = _pull(root)
    assert pulled.listed == 2 and pulled.problems == [] and pulled.skipped == 0
    assert scalar(conn, "SELECT count(*) FROM runs WHERE hydrated = 1") == 2

    # The writer adds the newline, then more lines: nothing is read twice, and line numbers
    # stay true (the newline ends line 2, it is not a line of its own).
    with runs.open("ab") as fh:
        fh.write(b"\n" + _line(run_record(3)) + b"{broken\n")
    conn, again = _pull(root)
    assert again.listed == 1
    assert again.problems == ["runs.jsonl:4: not valid JSON (a truncated or corrupt line)"]
    assert scalar(conn, "SELECT count(*) FROM runs") == 3


def test_a_torn_last_line_is_fenced_off_said_and_read_once_complete(tmp_path: Path) -> None:
    root = _ws(tmp_path)
    runs = root / "store" / "runs.jsonl"
    whole = _line(run_record(2))
    runs.write_bytes(_line(run_record(1)) + whole[:50])
    conn, pulled = _pull(root)
    assert pulled.listed == 1 and pulled.skipped == 0
    assert len(pulled.problems) == 1
    assert pulled.problems[0].startswith("runs.jsonl:2: the last line is not complete JSON")
    # Synced again before the writer finished: still said, still not consumed.
    conn, again = _pull(root)
    assert again.listed == 0 and len(again.problems) == 1
    with runs.open("ab") as fh:
        fh.write(whole[50:])
    conn, done = _pull(root)
    assert done.listed == 1 and done.problems == []
    assert {r[0] for r in conn.execute("SELECT run_id FROM runs")} == {"trace-00001", "trace-00002"}
    assert scalar(conn, "SELECT skipped FROM sync_state") == 0


# -- lone surrogates ---------------------------------------------------------------------------


def test_a_lone_surrogate_escape_imports_the_run_showing_a_replacement_character(
    tmp_path: Path,
) -> None:
    root = _ws(tmp_path)
    rec = run_record(1)
    rec["output"] = "caf\udc80 ok \U0001f600"
    rec["business_ref"] = "ORD-\ud800"
    rec["steps"][0]["result"] = {"k\udfff": "v"}
    line = json.dumps(rec)  # ensure_ascii: "\udc80" escaped, the emoji as a surrogate pair
    assert "\\udc80" in line and "\\ud83d\\ude00" in line
    (root / "store" / "runs.jsonl").write_text(line + "\n", encoding="ascii")
    conn, pulled = _pull(root)
    assert pulled.problems == [] and pulled.listed == 1 and pulled.hydrated == 1
    row = conn.execute("SELECT output, business_ref FROM runs").fetchone()
    assert tuple(row) == ("caf\ufffd ok \U0001f600", "ORD-\ufffd")
    assert scalar(conn, "SELECT result FROM steps WHERE idx = 0") == '{"k\ufffd": "v"}'


def test_lone_surrogates_in_scores_and_incidents_are_replaced_too(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    write_jsonl(
        folder / "incidents.jsonl",
        [{"id": "i\udc80", "title": "down \ud800", "starts_at": "2026-01-01T00:00:00Z"}],
    )
    write_jsonl(
        folder / "scores.jsonl",
        [
            {
                "id": "s1",
                "trace_id": "t",
                "name": "c",
                "value": "pass",
                "comment": "hm\udc80",
                "metadata": {"reviewer": "ana", "rubric_id": "r", "rubric_version": "v"},
            }
        ],
    )
    connector = FileConnector("demo", folder)
    [incident] = connector.list_incidents()
    assert (incident.id, incident.title) == ("i\ufffd", "down \ufffd")
    [score] = connector.list_scores()
    assert score.comment == "hm\ufffd"


# -- the same trace id twice ---------------------------------------------------------------------


def test_the_same_trace_id_with_other_content_is_said_and_the_last_line_wins(
    tmp_path: Path,
) -> None:
    first = run_record(1)
    second = {**run_record(1), "status": "error", "output": "the corrected run"}
    root = _ws(tmp_path, [first, run_record(2), run_record(3), second])
    conn, pulled = _pull(root)
    assert pulled.problems == [
        "runs.jsonl:4: trace id 'trace-00001' is also on line 1 with different content; "
        "line 4 is used (the last line wins)"
    ]
    assert pulled.listed == 3 and pulled.skipped == 0
    row = conn.execute("SELECT status, output FROM runs WHERE run_id = 'trace-00001'").fetchone()
    assert tuple(row) == ("error", "the corrected run")


def test_a_changed_duplicate_appended_after_a_sync_names_both_lines(tmp_path: Path) -> None:
    root = _ws(tmp_path, [run_record(1), run_record(2)])
    conn, pulled = _pull(root)
    assert pulled.problems == []
    write_jsonl(root / "store" / "runs.jsonl", [{**run_record(2), "output": "edited"}])
    conn, again = _pull(root)  # a fresh connector, resuming from the saved cursor
    assert again.problems == [
        "runs.jsonl:3: trace id 'trace-00002' is also on line 2 with different content; "
        "line 3 is used (the last line wins)"
    ]
    assert scalar(conn, "SELECT output FROM runs WHERE run_id = 'trace-00002'") == "edited"


def test_a_sampled_run_replaced_by_a_later_line_is_hydrated_again(tmp_path: Path) -> None:
    # Sampled only because it failed; the corrected record no longer fails. The reviewer who
    # has it queued must read the record that wins, not the old one under the new status.
    failed = {**run_record(1), "status": "error", "output": "first attempt"}
    root = make_workspace(
        tmp_path / "ws", [failed, run_record(2)], default_rate=0.0, roster=("ana",), overlap=0.0
    )
    conn, _ = _pull(root)
    assert scalar(conn, "SELECT output FROM runs WHERE run_id = 'trace-00001'") == "first attempt"
    write_jsonl(root / "store" / "runs.jsonl", [{**run_record(1), "output": "corrected"}])
    conn, again = _pull(root)
    assert len(again.problems) == 1 and "line 3 is used" in again.problems[0]
    row = conn.execute(
        "SELECT r.status, r.output, a.status, a.reason FROM runs r JOIN assignments a "
        "ON a.run = r.id WHERE r.run_id = 'trace-00001'"
    ).fetchone()
    assert tuple(row) == ("ok", "corrected", "ok", "always:status=error")


def test_an_identical_duplicate_is_taken_once_without_a_word(tmp_path: Path) -> None:
    root = _ws(tmp_path, [run_record(1), run_record(2), run_record(1)])
    conn, pulled = _pull(root)
    assert pulled.problems == [] and pulled.listed == 2
    write_jsonl(root / "store" / "runs.jsonl", [run_record(2)])
    conn, again = _pull(root)
    assert again.problems == [] and again.listed == 0


# -- corrupt lines in scores.jsonl and incidents.jsonl --------------------------------------


def _score(run_id: str, name: str, value: str) -> dict[str, Any]:
    return {
        "id": score_id("demo", run_id, name, "ben"),
        "trace_id": run_id,
        "name": name,
        "value": value,
        "created_at": "2026-02-01T00:00:00Z",
        "metadata": {"reviewer": "ben", "rubric_id": "support-quality", "rubric_version": "v"},
    }


def _corrupt_scores_and_incidents(root: Path) -> None:
    store = root / "store"
    (store / "incidents.jsonl").write_text(
        json.dumps({"id": "i1", "title": "down", "starts_at": "2026-01-01T00:00:00Z"})
        + "\n"
        + '{"id": "i2", "title": "cut off\n'
        + json.dumps({"id": "i3", "title": "no start"})
        + "\n",
        encoding="utf-8",
    )
    (store / "scores.jsonl").write_text(
        json.dumps(_score("trace-00001", "task_success", "pass"))
        + "\n\n"
        + "not json\n"
        + json.dumps({"id": "x", "name": "no trace"})
        + "\n"
        + json.dumps(["a", "list"])
        + "\n",
        encoding="utf-8",
    )


def test_corrupt_score_and_incident_lines_are_skipped_counted_and_said(tmp_path: Path) -> None:
    root = _ws(tmp_path, [run_record(1)])
    _corrupt_scores_and_incidents(root)
    conn, pulled = _pull(root)
    assert pulled.incidents == 1 and pulled.scores == 1
    assert pulled.skipped == 5
    assert pulled.problems == [
        "incidents.jsonl:2: not valid JSON (a truncated or corrupt line)",
        "incidents.jsonl:3: starts_at: Field required",
        "scores.jsonl:3: not valid JSON (a truncated or corrupt line)",
        "scores.jsonl:4: trace_id: Field required",
        "scores.jsonl:5: not a score (no string `id`)",
    ]


def test_sync_prints_every_store_problem_with_its_line(tmp_path: Path) -> None:
    root = _ws(tmp_path, [run_record(1), {**run_record(1), "output": "again"}])
    _corrupt_scores_and_incidents(root)
    done = CliRunner().invoke(cli, ["sync", "--workspace", str(root)])
    assert done.exit_code == 0, done.output
    err = done.stderr
    assert "demo: warning: skipped 5 corrupt lines" in err
    for needle in (
        "incidents.jsonl:2: ",
        "incidents.jsonl:3: ",
        "scores.jsonl:3: ",
        "scores.jsonl:4: ",
        "scores.jsonl:5: ",
        "runs.jsonl:2: trace id",
    ):
        assert needle in err, (needle, err)
    assert "Traceback" not in err

"""The file connector: corrupt lines, partial writes, cursors, idempotent score pushes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store.connectors import ConnectorError, make_connector
from store.connectors.base import Connector
from store.connectors.file import FileConnector
from store.models import Score
from store.workspace import load_workspace
from tests.helpers import make_workspace, run_record

#: The kind these tests cover (tests/test_plugins.py).
COVERS = "store:file"

GOOD = [run_record(i) for i in range(6)]
PARTIAL = 60


def _line(rec: dict[str, object]) -> bytes:
    return json.dumps(rec).encode("utf-8") + b"\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """runs.jsonl: good runs mixed with a truncated, a non-JSON, an invalid-UTF-8 and a partial
    line. Line numbers: 1 good, 2 truncated, 3 good, 4 not JSON, 5 blank, 6 good (bad UTF-8),
    7..10 good, 11 partial (the first 60 bytes of a run, no newline: still being written)."""
    folder = tmp_path / "store"
    folder.mkdir()
    bad_utf8 = _line({**run_record(100), "output": "caf__BAD__ ok"}).replace(
        b"__BAD__", b"\xff\xfe"
    )
    partial = _line(run_record(200))[:PARTIAL]
    data = (
        _line(GOOD[0])
        + _line(GOOD[1])[:40]
        + b"\n"
        + _line(GOOD[1])
        + b"this is not json at all\n"
        + b"\n"
        + bad_utf8
        + b"".join(_line(r) for r in GOOD[2:])
        + partial
    )
    (folder / "runs.jsonl").write_bytes(data)
    return folder


EXPECTED = ["trace-00000", "trace-00001", "trace-00100"] + [f"trace-{i:05d}" for i in range(2, 6)]


def test_reads_good_lines_and_counts_bad_ones(store: Path) -> None:
    conn = FileConnector("demo", store)
    assert isinstance(conn, Connector)
    page = conn.list_runs(None, 1000)
    assert [r.trace_id for r in page.runs] == EXPECTED
    assert page.skipped == 2
    assert len(page.problems) == 3
    assert page.problems[0].startswith("runs.jsonl:2: ")
    assert page.problems[1].startswith("runs.jsonl:4: ")
    # The partial last line is neither read nor skipped as corrupt, but it is said; and there
    # is nothing more to read until it is complete.
    assert page.problems[2].startswith("runs.jsonl:11: the last line is not complete JSON")
    assert "trace-00200" not in {r.trace_id for r in page.runs}
    assert page.done


def test_invalid_utf8_becomes_replacement_characters(store: Path) -> None:
    conn = FileConnector("demo", store)
    [run] = conn.fetch_runs(["trace-00100"])
    assert run.output == "caf\ufffd\ufffd ok"


def test_partial_line_is_read_once_completed(store: Path) -> None:
    conn = FileConnector("demo", store)
    page = conn.list_runs(None, 1000)
    empty = conn.list_runs(page.cursor, 1000)
    assert empty.runs == [] and empty.skipped == 0
    with (store / "runs.jsonl").open("ab") as fh:
        fh.write(_line(run_record(200))[PARTIAL:])
        fh.write(_line(run_record(300)))
    more = conn.list_runs(empty.cursor, 1000)
    assert [r.trace_id for r in more.runs] == ["trace-00200", "trace-00300"]
    assert more.done
    # Line numbers keep counting across pages.
    with (store / "runs.jsonl").open("ab") as fh:
        fh.write(b"{broken\n")
    last = conn.list_runs(more.cursor, 1000)
    assert last.problems == ["runs.jsonl:13: not valid JSON (a truncated or corrupt line)"]


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_paging_returns_each_run_exactly_once(store: Path, limit: int) -> None:
    conn = FileConnector("demo", store)
    seen: list[str] = []
    skipped = 0
    cursor = None
    for _ in range(100):
        page = conn.list_runs(cursor, limit)
        assert len(page.runs) <= limit
        seen += [r.trace_id for r in page.runs]
        skipped += page.skipped
        cursor = page.cursor
        if page.done or not page.runs:
            break
    assert seen == EXPECTED
    assert skipped == 2


def test_a_fresh_connector_resumes_from_a_saved_cursor(store: Path) -> None:
    first = FileConnector("demo", store).list_runs(None, 3)
    rest = FileConnector("demo", store).list_runs(first.cursor, 1000)
    assert [r.trace_id for r in first.runs + rest.runs] == EXPECTED


def test_bad_cursor_and_missing_file(tmp_path: Path, store: Path) -> None:
    with pytest.raises(ConnectorError, match="cursor"):
        FileConnector("demo", store).list_runs("garbage", 10)
    with pytest.raises(ConnectorError, match="runs.jsonl"):
        FileConnector("demo", tmp_path / "nowhere").list_runs(None, 10)


def test_fetch_runs_hydrates_and_skips_unknown(store: Path) -> None:
    conn = FileConnector("demo", store)  # no list_runs first: it scans for offsets
    runs = conn.fetch_runs(["trace-00003", "missing", "trace-00000"])
    assert [r.trace_id for r in runs] == ["trace-00003", "trace-00000"]
    run = runs[0]
    assert [s.name for s in run.steps] == ["step-0", "step-1"]
    assert run.steps[1].error is not None and run.steps[1].error.type == "Timeout"
    assert run.final_action is not None and run.final_action.kind == "reply"
    assert run.tags == ["t1", "n3"]
    assert run.input == {"message": "customer message 3"}


def test_incidents(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    assert FileConnector("demo", folder).list_incidents() == []
    (folder / "incidents.jsonl").write_text(
        json.dumps({"id": "i1", "title": "down", "starts_at": "2026-01-01T00:00:00Z"})
        + "\nnot json\n"
        + json.dumps({"id": "i2", "title": "slow", "starts_at": "2026-01-02T00:00:00Z"})
        + "\n",
        encoding="utf-8",
    )
    assert [i.id for i in FileConnector("demo", folder).list_incidents()] == ["i1", "i2"]


# -- scores --------------------------------------------------------------------------------------


def _score(sid: str, value: object = "pass", comment: str | None = None) -> Score:
    return Score.model_validate(
        {
            "id": sid,
            "trace_id": "trace-00001",
            "name": "task_success",
            "value": value,
            "comment": comment,
            "created_at": "2026-01-01T00:00:00.000Z",
            "metadata": {"reviewer": "ana", "rubric_id": "r", "rubric_version": "v1"},
        }
    )


def test_pushing_the_same_scores_twice_writes_once(tmp_path: Path) -> None:
    conn = FileConnector("demo", tmp_path)
    scores = [_score("a"), _score("b", "fail", comment="héllo")]
    conn.push_scores(scores)
    first = conn.scores_path.read_bytes()
    assert len(first.splitlines()) == 2
    conn.push_scores(scores)
    assert conn.scores_path.read_bytes() == first
    # A fresh connector (another process) sees the same content and writes nothing either.
    FileConnector("demo", tmp_path).push_scores(list(reversed(scores)))
    assert conn.scores_path.read_bytes() == first


def test_changed_content_appends_and_last_wins(tmp_path: Path) -> None:
    conn = FileConnector("demo", tmp_path)
    conn.push_scores([_score("a"), _score("b")])
    conn.push_scores([_score("a", "fail"), _score("b")])
    lines = conn.scores_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert json.loads(lines[-1])["value"] == "fail"
    assert {s.id: s.value for s in conn.list_scores()} == {"a": "fail", "b": "pass"}


def test_delete_writes_a_tombstone_once(tmp_path: Path) -> None:
    conn = FileConnector("demo", tmp_path)
    conn.push_scores([_score("a"), _score("b")])
    conn.delete_scores(["a", "never-existed"])
    lines = conn.scores_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert json.loads(lines[-1]) == {"deleted": True, "id": "a"}
    assert [s.id for s in conn.list_scores()] == ["b"]
    before = conn.scores_path.read_bytes()
    conn.delete_scores(["a"])
    assert conn.scores_path.read_bytes() == before
    # Pushing it again brings it back.
    conn.push_scores([_score("a")])
    assert {s.id for s in conn.list_scores()} == {"a", "b"}


def test_list_scores_skips_corrupt_lines(tmp_path: Path) -> None:
    conn = FileConnector("demo", tmp_path)
    conn.push_scores([_score("a")])
    with conn.scores_path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "half\n')
        fh.write('{"id": "x", "name": "no trace"}\n')
    assert [s.id for s in conn.list_scores()] == ["a"]


def test_make_connector_for_a_file_store(tmp_path: Path) -> None:
    make_workspace(tmp_path, [run_record(1)])
    workspace = load_workspace(tmp_path)
    conn = make_connector(workspace, workspace.config.stores[0])
    assert isinstance(conn, FileConnector)
    assert conn.name == "demo"
    assert conn.folder == (tmp_path / "store").resolve()
    assert [r.trace_id for r in conn.list_runs(None, 10).runs] == ["trace-00001"]


def test_a_line_torn_by_a_crash_does_not_swallow_the_next_score(tmp_path: Path) -> None:
    conn = FileConnector("demo", tmp_path)
    conn.scores_path.write_text('{"id": "torn", "trace_id": "trace-0', encoding="utf-8")
    conn.push_scores([_score("a")])
    assert [s.id for s in conn.list_scores()] == ["a"]
    assert conn.scores_path.read_bytes().endswith(b"\n")


def test_an_unreadable_store_file_is_a_connector_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "incidents.jsonl").mkdir()
    with pytest.raises(ConnectorError, match="incidents.jsonl: cannot read"):
        FileConnector("demo", tmp_path).list_incidents()


def test_check_names_every_corrupt_or_torn_line_of_every_file_with_its_path(store: Path) -> None:
    """What `agentdeck validate` reads: the whole store, each problem ``path:line: what``."""
    (store / "incidents.jsonl").write_text(
        '{"id": "i-1", "title": "ok", "starts_at": "2026-01-01T00:00:00Z"}\n{oops\n'
    )
    (store / "scores.jsonl").write_text('["not", "a", "score"]\n')
    # A summary that reads, a full record that does not (a step without its name).
    with (store / "runs.jsonl").open("r+b") as fh:
        data = fh.read()
        fh.seek(0)
        fh.write(
            data[:-PARTIAL]
            + _line({**run_record(300), "steps": [{"kind": "tool"}]})
            + data[-PARTIAL:]
        )
        fh.truncate()
    found = FileConnector("demo", store).check()
    assert [p.split(": ", 1)[0] for p in found.problems] == [
        f"{store}/runs.jsonl:2",
        f"{store}/runs.jsonl:4",
        f"{store}/runs.jsonl:12",
        f"{store}/runs.jsonl:11",
        f"{store}/incidents.jsonl:2",
        f"{store}/scores.jsonl:1",
    ]
    assert found.problems[2].endswith(
        "the last line is not complete JSON and has no newline "
        "(still being written, or cut off); read once complete"
    )
    assert found.problems[3].endswith("(run not fetched)")
    assert found.warnings == []
    # A trace id again with other content: a warning, the last line wins.
    with (store / "runs.jsonl").open("ab") as fh:
        fh.write(b"\n" + _line({**GOOD[0], "cost_usd": 9.0}))
    found = FileConnector("demo", store).check()
    assert len(found.warnings) == 1
    assert found.warnings[0].startswith(f"{store}/runs.jsonl:")
    assert ": warning: trace id 'trace-00000' is also on line 1" in found.warnings[0]

"""The benchmarks' own code, run small, so it cannot rot between benchmark runs.

The generator must write a database the app and the domain accept (schema, counts, queue), and
each benchmark must still run end to end against today's app and domain. Nothing here looks
at how long anything took.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from review.session import load_setup
from store.db import SCHEMA_VERSION, connect
from store.workspace import load_workspace
from tests.bench import (
    bench_agreement,
    bench_desk,
    bench_grading,
    bench_startup,
    bench_weekly,
    dbgen,
)

N = 200


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dbgen.GenResult:
    return dbgen.build_db(tmp_path_factory.mktemp("bench") / "ws", N)


def test_generated_database_follows_the_schema(generated: dbgen.GenResult) -> None:
    conn = sqlite3.connect(generated.db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
        assert one("SELECT count(*), sum(hydrated) FROM runs") == (N, N)
        assert one("SELECT count(DISTINCT run_id) FROM runs")[0] == N
        steps = one("SELECT count(*) FROM steps")[0]
        assert steps == generated.n_steps
        assert one("SELECT count(*) FROM steps WHERE error_type IS NOT NULL")[0] > 0
        assert (
            one("SELECT count(*) FROM assignments WHERE reviewer = 'ana' AND reason = 'sample'")[0]
            == N
        )
        graded = dbgen.graded_runs(N)
        assert one("SELECT count(*) FROM grades WHERE complete = 1")[0] == len(graded) > 0
        assert one("SELECT sum(graded) FROM assignments")[0] == len(graded)
        # The oldest runs are the graded ones: the first to grade comes right after them.
        first_todo = one(
            "SELECT run FROM assignments WHERE reviewer = 'ana' AND graded = 0 "
            "ORDER BY started_at, run LIMIT 1"
        )[0]
        assert first_todo == len(graded) + 1
        for (text,) in conn.execute("SELECT final_action FROM runs LIMIT 20"):
            assert json.loads(text)["kind"]
    finally:
        conn.close()


def test_generated_workspace_opens_in_the_domain(generated: dbgen.GenResult) -> None:
    """The workspace loads, its rubric is registered, and the queue reads as the desk reads it
    (checked on the schema, not through review.queue, which the benchmarks do not depend on)."""
    ws = load_workspace(generated.root)
    assert ws.db_path == generated.db_path
    setup = load_setup(ws)
    conn = connect(ws.db_path)
    try:
        versions = conn.execute("SELECT rubric_id, version FROM rubrics").fetchall()
        assert [tuple(v) for v in versions] == [(setup.rubric.id, setup.rubric.version)]
        stores = {r[0] for r in conn.execute("SELECT store FROM sync_state")}
        assert stores == {s.name for s in ws.config.stores}
        queue = [
            r[0]
            for r in conn.execute(
                "SELECT run FROM assignments WHERE reviewer = ? ORDER BY started_at, run",
                (ws.reviewer,),
            )
        ]
        assert queue == list(range(1, N + 1))  # run ids rise with the start time
        steps = [r[0] for r in conn.execute("SELECT count(*) FROM steps GROUP BY run")]
        assert len(steps) == N and max(steps) >= 6
        for final, tags in conn.execute("SELECT final_action, tags FROM runs LIMIT 50"):
            assert json.loads(final)["kind"] and json.loads(tags)
    finally:
        conn.close()


def test_generated_runs_are_as_heavy_as_the_demo(generated: dbgen.GenResult) -> None:
    """Drawn from the demo's runs as sync stores them: same median step count, sizes close."""
    demo = dbgen.demo_shape()
    assert demo["steps per run"][1] >= 5  # the demo's median is 6 steps
    conn = sqlite3.connect(generated.db_path)
    try:
        ours = dbgen.shape(conn)
    finally:
        conn.close()
    assert ours["steps per run"][1] == demo["steps per run"][1]
    for name in ("input chars", "step arguments chars", "step result chars"):
        assert 0.7 <= ours[name][1] / demo[name][1] <= 1.3, (name, ours[name], demo[name])
    assert "steps per run (generated)" in dbgen.shape_report(generated.db_path, sample=N)


def test_graded_is_a_parameter(tmp_path: Path) -> None:
    gen = dbgen.build_db(tmp_path / "ws", 50, graded=30)
    assert gen.n_graded == 30
    conn = sqlite3.connect(gen.db_path)
    try:
        assert conn.execute("SELECT sum(graded) FROM assignments").fetchone()[0] == 30
        assert conn.execute("SELECT count(*) FROM grades WHERE complete = 1").fetchone()[0] == 30
    finally:
        conn.close()
    with pytest.raises(ValueError):
        dbgen.graded_runs(10, 11)


def test_every_workspace_opens_on_the_same_runs(tmp_path: Path) -> None:
    """Whatever the size and the graded share, the queue from the first run still to grade on
    copies the same demo runs: open and j compare like with like."""

    def todo(n: int, graded: int) -> list[tuple[str, str, int]]:
        gen = dbgen.build_db(tmp_path / f"{n}-{graded}", n, graded=graded)
        conn = sqlite3.connect(gen.db_path)
        try:
            return conn.execute(
                "SELECT r.input, r.output, (SELECT count(*) FROM steps s WHERE s.run = r.id) "
                "FROM assignments a JOIN runs r ON r.id = a.run WHERE a.graded = 0 "
                "ORDER BY a.started_at, a.run LIMIT 10"
            ).fetchall()
        finally:
            conn.close()

    assert todo(40, 1) == todo(40, 25) == todo(90, 60)


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = dbgen.build_db(tmp_path / "a", 30)
    b = dbgen.build_db(tmp_path / "b", 30)
    c = dbgen.build_db(tmp_path / "c", 30, seed=1)
    sql = "SELECT run_id, started_at, input, output FROM runs ORDER BY id"

    def rows(g: dbgen.GenResult) -> list[tuple[str, ...]]:
        conn = sqlite3.connect(g.db_path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    assert rows(a) == rows(b)
    assert rows(a) != rows(c)


def test_cached_db_is_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDECK_BENCH_CACHE", str(tmp_path / "cache"))
    first = dbgen.cached_db(40, progress=False)
    again = dbgen.cached_db(40, progress=False)
    assert not first.cached and again.cached
    assert again.db_path == first.db_path and again.db_path.is_file()
    assert load_workspace(again.root).db_path == again.db_path


def test_grading_bench_runs_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDECK_BENCH_CACHE", str(tmp_path / "cache"))
    figures = bench_grading.run(n_runs=150, grades=10, workdir=tmp_path)
    assert figures["outbox"] == 10
    assert figures["completing"]["n"] == 10
    rubric = load_setup(load_workspace(tmp_path / "ws")).rubric
    assert figures["partial"]["n"] == 10 * (len(bench_grading._levels(rubric, 0)) - 1)
    assert figures["synchronous"] == "FULL" and figures["journal_mode"] == "wal"
    assert "set_value, completing" in bench_grading.report(figures)


def test_desk_bench_drives_the_app(generated: dbgen.GenResult) -> None:
    """The hooks the desk benchmark relies on (``app.desk``, the run view's ``detail``, ``j``)
    still exist and mean what it thinks: the desk shows the first run still to grade, then each
    next run in queue order."""
    named = {"small": {"root": str(generated.root), "n": N, "graded": 1}}
    res = bench_desk.run_reps(named, reps=1, presses=3)
    bench_desk.check(res)
    rep = res["results"]["small"][0]
    assert len(rep["runs"]) == 5 and len(set(rep["runs"])) == 5
    assert (
        0 < rep["shown_s"][0] <= rep["settled_s"][0]
        and 0 < rep["painted_s"][0] <= rep["settled_s"][0]
    )
    assert rep["rss"]["peak"] > 0
    assert "j painted p95" in bench_desk.report(res)


def test_minimal_workspace_when_no_demo_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.workspace

    def missing(target: Path | None = None, *, fresh: bool = False) -> Path:
        raise FileNotFoundError("the demo workspace is missing from this installation")

    monkeypatch.setattr(store.workspace, "copy_demo", missing)
    gen = dbgen.build_db(tmp_path / "ws", 20, reviewer="zoe")
    ws = load_workspace(gen.root)
    assert ws.reviewer == "zoe"
    assert load_setup(ws).rubric.id == "support-quality"
    conn = connect(ws.db_path)
    try:
        assert (
            conn.execute("SELECT count(*) FROM assignments WHERE reviewer = 'zoe'").fetchone()[0]
            == 20
        )
    finally:
        conn.close()


def test_startup_bench_spawns_and_reports(generated: dbgen.GenResult) -> None:
    """The first-frame child opens the desk on the generated workspace and shows the first run
    still to grade; the bare child draws its frame; the report and the import breakdown run."""
    named = {
        "bare": {"args": ["bare"], "n": 0, "graded": 0},
        "small": {"args": ["desk", str(generated.root)], "n": N, "graded": 1},
        "small, more graded": {"args": ["desk", str(generated.root)], "n": N, "graded": 2},
    }
    res = bench_startup.run_rounds(named, reps=1, warm_up=False)
    desk = res["rounds"][0]["small"]
    assert 0 < desk["python"] < desk["drawn"] <= desk["exit"]
    assert 0 < desk["open"] < desk["drawn"]
    conn = sqlite3.connect(generated.db_path)
    try:
        first_todo = conn.execute(
            "SELECT r.run_id FROM assignments a JOIN runs r ON r.id = a.run "
            "WHERE a.reviewer = 'ana' AND a.graded = 0 ORDER BY a.started_at, a.run LIMIT 1"
        ).fetchone()[0]
    finally:
        conn.close()
    assert desk["run_id"] == first_todo
    text = bench_startup.report(res)
    assert "small / bare" in text and "small, more graded / small" in text
    imp = bench_startup.import_times("tui.app", reps=1)
    assert "textual.app" in imp["modules"] and imp["packages"]["textual"] > 0
    assert "cumulative ms" in bench_startup.import_report(imp)


def test_bench_weekly_runs_end_to_end(generated: dbgen.GenResult) -> None:
    figures = bench_weekly.run(N, reps=2, gen=generated)
    assert figures["runs_in_report"] == N and figures["verdicts"] > 0
    assert "weekly_report" in bench_weekly.report(figures)
    # The benchmark's grades were rolled back.
    conn = sqlite3.connect(generated.db_path)
    try:
        assert conn.execute("SELECT count(*) FROM adjudications").fetchone()[0] == 0
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert set(bench_weekly.SCHEMA_9_INDEXES) <= names
    finally:
        conn.close()


def test_agreement_bench_runs_small() -> None:
    """The agreement benchmark's data, its timings and its report, at 2,000 units; the report's
    alphas are the krippendorff package's."""
    fig = bench_agreement.run(n_units=2000, reps=1, resamples=20)
    assert fig["csv_lines"] > 2000 * 3 and 0.15 < fig["missing"] < 0.25
    for level in ("interval", "ordinal", "nominal"):
        ours = [a for a in fig["alpha"][level] if a is not None]
        assert ours and all(
            abs(a - b) < 1e-9
            for a, b in zip(fig["alpha"][level], fig[f"kripp_{level}_alpha"], strict=True)
            if a is not None
        )
    text = bench_agreement.report(fig)
    assert "report / krippendorff interval" in text and "20 bootstrap resamples" in text

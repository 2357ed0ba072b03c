"""Every report command and format, byte for byte, on the demo workspace (and on a ratings file
with hostile names): standard output, standard error, the exit code and any ``-o`` file are
pinned in ``tests/fixtures/report_output/``. The report commands share one output path; this
is what keeps a change to it from changing what people and scripts read.

A difference here is either a bug fixed (then regenerate the pinned files with
``uv run python -m tests.test_report_output`` and say so in the commit) or a bug made.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_cli import agentdeck

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "report_output"

W46 = ("--week", "2026-W46")
#: name -> (arguments after ``agentdeck report``, whether it writes -o FILE). ``{ratings}`` is
#: the ratings file; the workspace is given with -w unless the case reads a ratings file.
CASES: dict[str, tuple[tuple[str, ...], bool]] = {
    **{
        f"weekly-{fmt}": (("weekly", *W46, "--format", fmt), False)
        for fmt in ("table", "json", "markdown", "html", "csv")
    },
    "weekly-default-week-json": (("weekly", "--format", "json"), False),
    "weekly-weeks-2-workflow-table": (
        ("weekly", *W46, "--weeks", "2", "--workflow", "crm-update"),
        False,
    ),
    "weekly-table-to-file": (("weekly", *W46), True),
    "weekly-csv-to-file": (("weekly", *W46, "--format", "csv"), True),
    **{
        f"agreement-{fmt}": (("agreement", "--resamples", "200", "--format", fmt), False)
        for fmt in ("table", "json", "markdown", "html", "csv")
    },
    "agreement-default-table": (("agreement",), False),
    "agreement-window-table": (
        ("agreement", *W46, "--weeks", "2", "--workflow", "billing-support"),
        False,
    ),
    "agreement-weeks-markdown": (
        ("agreement", "--weeks", "2", "--resamples", "100", "--format", "markdown"),
        False,
    ),
    "agreement-json-to-file": (("agreement", "--resamples", "50", "--format", "json"), True),
    **{
        f"agreement-ratings-{fmt}": (
            ("agreement", "--ratings", "{ratings}", "--format", fmt),
            False,
        )
        for fmt in ("table", "json", "markdown", "html", "csv")
    },
    "agreement-ratings-html-to-file": (
        ("agreement", "--ratings", "{ratings}", "--format", "html"),
        True,
    ),
    **{
        f"disputes-{fmt}": (("disputes", "--format", fmt), False)
        for fmt in ("table", "json", "markdown", "html", "csv")
    },
    "disputes-pending-workflow-table": (
        ("disputes", "--pending", "--workflow", "billing-support"),
        False,
    ),
    "disputes-csv-to-file": (("disputes", "--format", "csv"), True),
}


def make_workspace(root: Path) -> tuple[Path, Path]:
    """The demo workspace, synced, and a ratings file with hostile rater names."""
    from tests.conftest import copy_sample_data
    from tests.test_cli_report import HOSTILE, ratings_file

    ws = copy_sample_data(root / "ws")
    done = agentdeck("-w", str(ws), "sync", "--no-push")
    assert done.returncode in (0, 1), done.stderr
    # One final grade, set by one of the run's own reviewers (made before the rule), with a
    # comment a spreadsheet would run: the disputes report marks the one and quotes the other.
    import json
    import sqlite3

    from review.adjudication import disputed
    from review.session import load_setup
    from store.workspace import load_workspace

    rubric = load_setup(load_workspace(ws)).rubric
    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    run = disputed(conn, rubric)[1]
    conn.execute(
        'INSERT INTO adjudications (run, rubric_id, rubric_version, "values", comment, '
        "adjudicator, created_at, updated_at) VALUES (?, ?, ?, ?, '=cmd|x', ?, "
        "'2026-11-20T10:00:00.000000Z', '2026-11-20T10:00:00.000000Z')",
        (
            run.run,
            rubric.id,
            rubric.version,
            json.dumps(run.grades[0].values),
            run.grades[0].reviewer,
        ),
    )
    conn.commit()
    conn.close()
    return ws, ratings_file(root, HOSTILE)


def run_case(name: str, ws: Path, ratings: Path, out_dir: Path) -> str:
    """What the case's command printed and wrote, as one text, paths made neutral."""
    args, to_file = CASES[name]
    argv = ["report", *(str(ratings) if a == "{ratings}" else a for a in args)]
    if "--ratings" not in args:
        argv[2:2] = ["-w", str(ws)]
    target = out_dir / f"{name}.out"
    if to_file:
        argv += ["-o", str(target)]
    done = agentdeck(*argv)
    text = f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    if to_file:
        text += "--- file\n" + target.read_text(encoding="utf-8")
    for path, label in ((target, "<out>"), (ratings, "<ratings>"), (ws, "<ws>")):
        text = text.replace(str(path), label)
    return text


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_workspace(tmp_path_factory.mktemp("report-output"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_output_is_as_pinned(
    name: str, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    ws, ratings = workspace
    got = run_case(name, ws, ratings, tmp_path)
    want = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    assert got == want


def test_every_pinned_file_is_a_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted(CASES)


@pytest.mark.parametrize("report", ["weekly", "agreement", "disputes"])
def test_a_file_that_cannot_be_written_is_named_as_given(
    report: str, workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    """Every report writes -o FILE the same way: whole or not at all, and an error names FILE
    (the disputes report named its temporary file, ``.FILE.tmp``, before they shared one path)."""
    from tests.test_weekly import assert_one_line_error

    ws, _ = workspace
    target = tmp_path / "missing" / "report.txt"
    extra = {"weekly": W46, "agreement": ("--resamples", "0"), "disputes": ()}[report]
    done = agentdeck("report", report, "-w", str(ws), *extra, "-o", str(target))
    assert_one_line_error(done, f"agentdeck: {target}: No such file or directory")
    assert done.stdout == "" and not target.parent.exists()


def _plain(renderable: object, width: int) -> str:
    import os

    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(width=width, record=True, color_system=None, file=sink)
        console.print(renderable)
        return console.export_text()


def _cells_in_order(line: str, cells: list[str]) -> bool:
    at = 0
    for cell in cells:
        at = line.find(cell, at)
        if at < 0:
            return False
        at += len(cell)
    return True


def test_the_app_and_the_command_line_write_the_same_figures(
    workspace: tuple[Path, Path],
) -> None:
    """The Reports area lays out the figures the command line writes: each week's row of the
    weekly report holds the same cells in the same order (all of them when the terminal is
    wide, the compact ones when it is not), and each agreement figure the same value and
    interval."""
    import sqlite3
    from datetime import date

    from review.agreement import agreement_report
    from review.agreement_export import figure_rows
    from review.ratings import workspace_ratings
    from review.session import load_setup
    from review.weekly import weekly_report
    from review.weekly_export import week_cells
    from store.workspace import load_workspace
    from tui.report_output import weekly_table
    from tui.reports import views

    ws, _ = workspace
    rubric = load_setup(load_workspace(ws)).rubric
    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    report = weekly_report(conn, rubric, weeks=4, week=date(2026, 11, 9))
    ratings = workspace_ratings(conn)
    conn.close()
    command_line = weekly_table(report).splitlines()
    for wf in report.workflows:
        wide = _plain(views.weeks_table(wf, 200), 200).splitlines()
        narrow = _plain(views.weeks_table(wf, 80), 80).splitlines()
        assert "task success [95 % CI]" in wide[0] and "success" in narrow[0]
        for w in wf.weeks:
            cells = week_cells(w)
            assert any(_cells_in_order(line, cells) for line in command_line), cells
            assert any(_cells_in_order(line, cells) for line in wide), (cells, wide)
            short = week_cells(w, compact=True)
            assert any(_cells_in_order(line, short) for line in narrow), (short, narrow)
            assert max(len(line) for line in narrow) <= 80
    data = agreement_report(ratings, resamples=100, seed=0)
    shown = _plain(views.agreement_table(data, 200), 200)
    for c in data["criteria"]:
        rows = {row[0]: row for row in figure_rows(c)}
        lines = shown.splitlines()
        at = next(i for i, x in enumerate(lines) if x.startswith(c["criterion"] + " "))
        stats = ("percent_agreement", "krippendorff_alpha.nominal", "gwet_ac1")
        assert _cells_in_order(lines[at], [rows[s][3] for s in stats]), (lines[at], rows)
        # The intervals on the line under the values.
        intervals = [rows[s][4] for s in stats if rows[s][4]]
        assert _cells_in_order(lines[at + 1], intervals), (lines[at + 1], rows)


def main() -> None:
    """Write the pinned files from the commands as they are now."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="report-output-"))
    try:
        ws, ratings = make_workspace(root)
        for old in GOLDEN.glob("*.txt"):
            old.unlink()
        for name in sorted(CASES):
            (GOLDEN / f"{name}.txt").write_text(
                run_case(name, ws, ratings, root), encoding="utf-8", newline="\n"
            )
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()

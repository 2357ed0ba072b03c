"""``agentdeck report agreement`` as a person meets it: the JSON contract, every format, untrusted
names kept as text, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import ROOT, agentdeck, assert_one_line_error

# Krippendorff (2011), example C: 4 observers, 12 units, missing data.
KRIPP_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def ratings_file(tmp_path: Path, names: list[str] | None = None) -> Path:
    names = names or ["A", "B", "C", "D"]
    rows = ["rater,unit,value"]
    for name, row in zip(names, KRIPP_C, strict=True):
        for u, v in enumerate(row):
            cell = '"' + name.replace('"', '""') + '"'
            rows.append(f"{cell},u{u + 1},{'' if v is None else v}")
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_json_is_the_contract(tmp_path: Path) -> None:
    done = agentdeck(
        "report", "agreement", "--ratings", str(ratings_file(tmp_path)), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    (c,) = json.loads(done.stdout)["criteria"]
    assert c["criterion"] == "value" and c["units"] == 12 and c["raters"] == 4
    alpha = c["krippendorff_alpha"]
    assert set(alpha) == {"nominal", "ordinal", "interval", "ratio"}
    assert round(alpha["nominal"], 3) == 0.743 and round(alpha["interval"], 3) == 0.849
    assert round(alpha["ordinal"], 3) == 0.815 and round(alpha["ratio"], 3) == 0.797
    for key in ("percent_agreement", "fleiss_kappa", "gwet_ac1"):
        assert isinstance(c[key], float)
    assert len(c["cohen_kappa"]) == 6
    first = c["cohen_kappa"][0]
    assert first["raters"] == ["A", "B"] and first["units"] == 9
    assert {"unweighted", "linear", "quadratic"} <= set(first)
    # Seeded: the same command gives the same intervals.
    again = agentdeck(
        "report", "agreement", "--ratings", str(ratings_file(tmp_path)), "--format", "json"
    )
    assert json.loads(again.stdout) == json.loads(done.stdout)
    assert c["intervals"]["resamples"] == 1000


def test_words_give_null_for_what_does_not_apply(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("unit,rater,value\n1,a,yes\n1,b,yes\n2,a,no\n2,b,yes\n", encoding="utf-8")
    done = agentdeck("report", "agreement", "--ratings", str(path), "--format", "json")
    (c,) = json.loads(done.stdout)["criteria"]
    assert c["krippendorff_alpha"]["interval"] is None
    assert c["cohen_kappa"][0]["quadratic"] is None
    assert '"ordinal": null' in done.stdout


HOSTILE = ["<script>alert(1)</script>", "[bold red]x[/] | *y*", '=HYPERLINK("http://e")', "D"]


def test_names_are_data_in_every_format(tmp_path: Path) -> None:
    path = ratings_file(tmp_path, HOSTILE)
    out = {}
    for fmt in ("table", "markdown", "html", "csv"):
        done = agentdeck(
            "report", "agreement", "--ratings", str(path), "--format", fmt, "--resamples", "0"
        )
        assert done.returncode == 0, done.stderr
        out[fmt] = done.stdout
    assert "<script>" not in out["html"] and "&lt;script&gt;" in out["html"]
    assert "<script>" not in out["markdown"] and "\\*y\\*" in out["markdown"]
    # a pipe in a name does not split a Markdown table cell
    row = next(
        line for line in out["markdown"].splitlines() if "HYPERLINK" in line and "red" in line
    )
    assert row.count(" | ") == 5  # six columns: statistic, raters, n, value, interval, note
    assert "[bold red]x[/]" in out["table"]  # shown as typed, not styled
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert rows[0]["statistic"] == "percent_agreement"
    formula = [r for r in rows if "HYPERLINK" in r["rater_a"] + r["rater_b"]]
    assert formula and all((r["rater_a"] + r["rater_b"]).count("'=HYPERLINK") == 1 for r in formula)
    alpha = next(r for r in rows if r["statistic"] == "krippendorff_alpha.interval")
    assert round(float(alpha["value"]), 3) == 0.849 and alpha["low"] == ""


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "a.html"
    done = agentdeck(
        "report",
        "agreement",
        "--ratings",
        str(ratings_file(tmp_path)),
        "--format",
        "html",
        "-o",
        str(target),
    )
    assert done.returncode == 0 and "agreement on 1 criterion" in done.stdout
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("", ["bad.csv", "empty"]),
        ("unit,value\nu1,3\n", ["bad.csv:1", "missing column 'rater'"]),
        ("unit,rater,value\nu1,a,3\nu1,a,4\n", ["bad.csv:3", "lines 2 and 3", "twice"]),
        ("unit,rater,criterion,value\nu1,a,tone,3\nu1,b,tone,ok\n", ["criterion 'tone'", "line 3"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    done = agentdeck("report", "agreement", "--ratings", str(path))
    assert_one_line_error(done, *needles)


def test_a_missing_ratings_file(tmp_path: Path) -> None:
    done = agentdeck("report", "agreement", "--ratings", str(tmp_path / "nope.csv"))
    assert_one_line_error(done, "nope.csv")


def test_the_demo_workspace_grades(tmp_path: Path) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(
        ROOT / "sample-data", ws, ignore=shutil.ignore_patterns(".agentdeck", "generate.py")
    )
    done = agentdeck("report", "agreement", "-w", str(ws))
    assert_one_line_error(done, "no grades yet", "agentdeck sync")
    assert agentdeck("sync", "-w", str(ws)).returncode == 0
    done = agentdeck("report", "agreement", "-w", str(ws), "--format", "json", "--resamples", "50")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    names = [c["criterion"] for c in data["criteria"]]
    assert names[:3] == ["task_success", "intervention", "policy"]
    assert all(c["rubric_id"] == "support-quality" for c in data["criteria"])
    tone = next(c for c in data["criteria"] if c["criterion"] == "tone")
    assert tone["scale"] == "numeric"
    assert {r["reviewer"] for r in data["reviewers"]} == {"ana", "ben", "chen"}
    assert data["grades"]["complete_grades"] == sum(r["runs_graded"] for r in data["reviewers"])
    assert all(r["pass_criterion"] == "task_success" for r in data["reviewers"])
    table = agentdeck("report", "agreement", "-w", str(ws), "--resamples", "0")
    assert "Reviewers" in table.stdout and "task_success" in table.stdout


def test_report_with_a_ratings_file_imports_no_tui_or_network(tmp_path: Path) -> None:
    path = ratings_file(tmp_path)
    probe = (
        "import sys; from tui.cli import cli\n"
        f"try:\n    cli(['report', 'agreement', '--ratings', {str(path)!r}, '--format', 'json'],"
        " prog_name='agentdeck')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('textual', 'httpx') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert "HEAVY []" in done.stderr


def test_the_demo_adjudication_queue_on_the_command_line(tmp_path: Path) -> None:
    import shutil
    import sqlite3

    ws = tmp_path / "ws"
    shutil.copytree(
        ROOT / "sample-data", ws, ignore=shutil.ignore_patterns(".agentdeck", "generate.py")
    )
    assert agentdeck("sync", "-w", str(ws)).returncode == 0
    done = agentdeck("report", "disputes", "-w", str(ws), "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    runs = data["runs"]
    assert len(runs) == 7 and done.stderr.strip() == "7 disputed runs (7 not adjudicated yet)"
    for run in runs:
        assert len(run["grades"]) >= 2 and run["differing"]
        for criterion in run["differing"]:
            assert len({str(g["values"].get(criterion)) for g in run["grades"]}) > 1
    # The same runs the database holds two or more differing complete grades for.
    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    overlap = {
        r
        for (r,) in conn.execute(
            "SELECT r.run_id FROM grades g JOIN runs r ON r.id = g.run WHERE g.complete = 1 "
            'GROUP BY g.run HAVING count(*) >= 2 AND count(DISTINCT g."values") >= 2'
        )
    }
    assert {r["run_id"] for r in runs} <= overlap
    # Every format is the same rows; text is data (HTML escaped, no formula in CSV).
    table = agentdeck("report", "disputes", "-w", str(ws), "--pending")
    assert runs[0]["run_id"] in table.stdout
    rows = list(
        csv.reader(
            io.StringIO(agentdeck("report", "disputes", "-w", str(ws), "--format", "csv").stdout)
        )
    )
    assert rows[0][:3] == ["run", "workflow", "reviewer"]
    assert len(rows) - 1 == sum(len(r["grades"]) for r in runs)
    page = agentdeck("report", "disputes", "-w", str(ws), "--format", "html").stdout
    assert page.count("<tr>") == len(rows)
    # A final grade one of the run's own reviewers set (before the rule): kept, and marked.
    own = next(r for r in runs if "ana" in [g["reviewer"] for g in r["grades"]])
    conn.execute(
        'INSERT INTO adjudications (run, rubric_id, rubric_version, "values", comment, '
        "adjudicator, created_at, updated_at) SELECT id, ?, ?, ?, NULL, 'ana', 'x', 'x' "
        "FROM runs WHERE run_id = ?",
        (
            data["rubric"]["id"],
            data["rubric"]["version"],
            json.dumps(own["grades"][0]["values"]),
            own["run_id"],
        ),
    )
    conn.commit()
    marked = agentdeck("report", "disputes", "-w", str(ws), "--format", "csv")
    assert marked.stderr.strip() == (
        "7 disputed runs (6 not adjudicated yet; 1 settled by one of its own reviewers, marked)"
    )
    finals = [r for r in csv.reader(io.StringIO(marked.stdout)) if r[2].startswith("final")]
    assert [(r[0], r[2]) for r in finals] == [(own["run_id"], "final (ana, graded it too)")]
    again = json.loads(agentdeck("report", "disputes", "-w", str(ws), "--format", "json").stdout)
    settled = [r for r in again["runs"] if r["adjudication"]]
    assert [r["adjudication"]["self_adjudicated"] for r in settled] == [True]


# -- n beside every figure, too few, undefined resamples, the note (issue 14) ---------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace, synced once."""
    import shutil

    ws = tmp_path_factory.mktemp("agreement") / "ws"
    shutil.copytree(
        ROOT / "sample-data", ws, ignore=shutil.ignore_patterns(".agentdeck", "generate.py")
    )
    assert agentdeck("sync", "-w", str(ws)).returncode == 0
    return ws


def _compared(ws: Path, where: str = "", args: tuple[str, ...] = ()) -> tuple[int, int]:
    """(runs rated twice or more, runs rated) on task_success, by plain SQL."""
    import sqlite3

    conn = sqlite3.connect(ws / ".agentdeck" / "agentdeck.db")
    try:
        rows = conn.execute(
            "SELECT g.run, count(*) FROM grades g JOIN runs r ON r.id = g.run "
            "WHERE g.complete = 1 AND json_extract(g.\"values\", '$.task_success') IS NOT NULL "
            f"{where} GROUP BY g.run",
            args,
        ).fetchall()
    finally:
        conn.close()
    return sum(1 for _, n in rows if n >= 2), len(rows)


def test_the_table_shows_n_compared_too_few_undefined_resamples_and_the_note(demo: Path) -> None:
    args = ("report", "agreement", "-w", str(demo), "--resamples", "200")
    data = json.loads(agentdeck(*args, "--format", "json").stdout)
    done = agentdeck(*args)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # table cells may wrap
    compared, rated = _compared(demo)
    assert (compared, rated) == (29, 124)
    assert f"task_success (support-quality {data['criteria'][0]['rubric_version']}): " in text
    assert f"{compared} of {rated} units compared (two ratings or more), 3 raters" in text
    ts = data["criteria"][0]
    assert ts["pairable_units"] == compared and ts["units"] == rated
    # Every figure's n is the units it compares: 29 for alpha, 0 for Fleiss, a pair's own.
    row = next(line for line in done.stdout.splitlines() if "krippendorff_alpha.nominal" in line)
    assert row.split("│")[3].strip() == str(compared)
    few = next(p for p in ts["cohen_kappa"] if p["units"] < 10 and p["unweighted"] is not None)
    lost = few["intervals"]["undefined_resamples"]["unweighted"]
    assert lost > 0
    a, b = few["raters"]
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if f"{a} × {b}" in line and "unweighted" in line)
    cell = " ".join(line.split("│")[-2].strip() for line in lines[at : at + 2])
    assert lines[at].split("│")[3].strip() == str(few["units"])
    assert cell.startswith(f"too few (n < 10); {lost} of 200 resamples undefined")
    tool = next(c for c in data["criteria"] if c["criterion"] == "tool_use")
    assert tool["too_few"] and "7 of 72 units compared" in text and "too few to read" in text
    policy = next(c for c in data["criteria"] if c["criterion"] == "policy")
    assert policy["percent_agreement"] >= 0.8 and policy["krippendorff_alpha"]["nominal"] < 0.4
    assert (
        "note: 90% agreement but alpha -0.04: safe is 95% of the ratings, so raters agree by "
        "chance; alpha discounts that" in text
    )
    for fmt, needle in (("markdown", "Note: 90% agreement"), ("html", "<p>Note: 90% agreement")):
        assert needle in agentdeck(*args, "--format", fmt).stdout
    rows = list(csv.DictReader(io.StringIO(agentdeck(*args, "--format", "csv").stdout)))
    alpha = next(
        r for r in rows if r["criterion"] == "policy" and r["statistic"].endswith(".nominal")
    )
    assert alpha["units"] == "29" and alpha["too_few"] == "false"
    want = policy["intervals"]["undefined_resamples"]["krippendorff_alpha"]["nominal"]
    assert alpha["undefined_resamples"] == str(want)


def test_agreement_for_a_week_and_a_workflow(demo: Path) -> None:
    done = agentdeck(
        "report", "agreement", "-w", str(demo), "--week", "2026-W46",
        "--workflow", "billing-support", "--format", "json", "--resamples", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["window"] == {
        "from_week": "2026-W46",
        "to_week": "2026-W46",
        "workflow": "billing-support",
    }
    span = ("2026-11-09T00", "2026-11-16T00")
    compared, rated = _compared(
        demo, "AND r.workflow = ? AND r.started_at >= ? AND r.started_at < ?",
        ("billing-support", *span),
    )  # fmt: skip
    ts = data["criteria"][0]
    assert (ts["pairable_units"], ts["units"]) == (compared, rated) == (10, 40)
    two = json.loads(
        agentdeck(
            "report", "agreement", "-w", str(demo), "--week", "2026-W46", "--weeks", "2",
            "--format", "json", "--resamples", "0",
        ).stdout
    )  # fmt: skip
    assert two["window"] == {"from_week": "2026-W45", "to_week": "2026-W46"}
    wide = _compared(demo, "AND r.started_at >= ? AND r.started_at < ?", ("2026-11-02", span[1]))
    assert (two["criteria"][0]["pairable_units"], two["criteria"][0]["units"]) == wide
    table = agentdeck(
        "report", "agreement", "-w", str(demo), "--week", "2026-W46", "--resamples", "0"
    )
    assert table.stdout.startswith("Agreement on runs started in 2026-W46 (UTC)")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--week", "2026-46"), ["--week", "YYYY-Www"]),
        (("--weeks", "0"), ["--weeks", "1 to 104"]),
        (("--workflow", "nope"), ["--workflow 'nope'", "billing-support"]),
    ],
)
def test_bad_weeks_and_workflows_are_one_line(
    demo: Path, args: tuple[str, ...], needles: list[str]
) -> None:
    assert_one_line_error(agentdeck("report", "agreement", "-w", str(demo), *args), *needles)


def test_a_ratings_file_has_no_weeks(tmp_path: Path) -> None:
    done = agentdeck(
        "report", "agreement", "--ratings", str(ratings_file(tmp_path)), "--week", "2026-W46"
    )
    assert_one_line_error(done, "--week", "--ratings")

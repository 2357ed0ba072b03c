"""Agreement statistics: published worked examples, the ``krippendorff`` package and plain-loop
reference implementations on random data, and undefined figures reported as undefined."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from itertools import combinations
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from review.agreement import (
    LEVELS,
    CriterionRatings,
    GradeRow,
    _resample_weights,
    criterion_agreement,
    reviewer_figures,
)

Table = list[list[object | None]]  # raters x units, None: no rating


def ratings(table: Table, numeric: bool = True, raters: list[str] | None = None):
    """CriterionRatings from a raters x units table (as Krippendorff's paper prints them)."""
    seen = sorted(
        {v for row in table for v in row if v is not None}, key=lambda v: (str(type(v)), v)
    )
    index = {v: i for i, v in enumerate(seen)}
    n_units = len(table[0])
    codes = np.full((n_units, len(table)), -1, dtype=np.int32)
    for r, row in enumerate(table):
        for u, v in enumerate(row):
            if v is not None:
                codes[u, r] = index[v]
    cats: list[str | float] = [float(v) for v in seen] if numeric else [str(v) for v in seen]  # type: ignore[arg-type]
    names = raters or [f"r{i + 1}" for i in range(len(table))]
    return CriterionRatings("c", [f"u{i}" for i in range(n_units)], names, cats, numeric, codes)


def stats(table: Table, numeric: bool = True, **kw):
    return criterion_agreement(ratings(table, numeric), resamples=kw.pop("resamples", 0), **kw)


# -- Published worked examples -------------------------------------------------------------------

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
# Communication Departmental Papers 43, University of Pennsylvania.
KRIPP_A = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
KRIPP_B = [
    ["a", "a", "b", "b", "d", "c", "c", "c", "e", "d", "d", "a"],  # Ben
    ["b", "a", "b", "b", "b", "c", "c", "c", "e", "d", "d", "d"],  # Gerry
]
_ = None
KRIPP_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


def test_krippendorff_2011_binary_two_observers() -> None:
    """Example A (binary data, two observers, no missing data): alpha = 0.095."""
    assert stats(KRIPP_A)["krippendorff_alpha"]["nominal"] == pytest.approx(0.095, abs=5e-4)


def test_krippendorff_2011_nominal_two_observers() -> None:
    """Example B (nominal data, two observers Ben and Gerry, 12 units): alpha = 0.692."""
    got = stats(KRIPP_B, numeric=False)
    assert got["krippendorff_alpha"]["nominal"] == pytest.approx(0.692, abs=5e-4)
    # Words are categories: nothing but the nominal figures apply.
    assert [got["krippendorff_alpha"][lv] for lv in ("ordinal", "interval", "ratio")] == [_] * 3
    assert got["cohen_kappa"][0]["linear"] is None and got["cohen_kappa"][0]["quadratic"] is None


def test_krippendorff_2011_four_observers_with_missing_data() -> None:
    """Example C (any number of observers, missing data; 4 observers, 12 units): nominal
    alpha = 0.743 in the paper; interval 0.849, ordinal 0.815 and ratio 0.797 as commonly
    cited from it, each checked against the ``krippendorff`` package as well."""
    got = stats(KRIPP_C)["krippendorff_alpha"]
    expected = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, value in expected.items():
        assert got[level] == pytest.approx(value, abs=5e-4), level
        package = krippendorff.alpha(reliability_data=_nan(KRIPP_C), level_of_measurement=level)
        assert got[level] == pytest.approx(package, abs=1e-12), level


# Wikipedia, "Fleiss' kappa", worked example (10 subjects, 14 raters, 5 categories): the table
# gives, per subject, how many raters chose each category; P-bar 0.378, P_e 0.213, kappa 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example() -> None:
    """Fleiss' kappa does not depend on which rater gave which rating, so the counts are dealt
    to raters 1..14 in category order. (Fleiss 1971's own 30-subject table gives 0.430; its
    data are not reproduced here.)"""
    table: Table = [[None] * 10 for _ in range(14)]
    for u, counts in enumerate(FLEISS_WIKIPEDIA):
        dealt = [cat + 1 for cat, n in enumerate(counts) for _ in range(n)]
        for r, v in enumerate(dealt):
            table[r][u] = v
    got = stats(table)
    assert got["fleiss_kappa"] == pytest.approx(0.210, abs=5e-4)
    assert got["percent_agreement"] == pytest.approx(0.378, abs=5e-4)  # Fleiss's P-bar
    assert got["fleiss_units"] == 10


def test_cohen_kappa_wikipedia_two_by_two() -> None:
    """Wikipedia, "Cohen's kappa", first example: 50 proposals, both yes 20, A yes B no 5,
    A no B yes 10, both no 15: p_o 0.70, p_e 0.50, kappa 0.40."""
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    got = stats([a, b], numeric=False)["cohen_kappa"][0]
    assert got["unweighted"] == pytest.approx(0.4)
    assert got["units"] == 50
    # categories sorted: no, yes; rows rater 1, columns rater 2
    assert got["confusion"] == [[15, 10], [5, 20]]


def test_weighted_kappa_three_by_three() -> None:
    """A 3x3 table worked by hand with Cohen's (1968) disagreement weights |i-j| and (i-j)^2:
    rows (rater 1) [[10, 3, 1], [2, 12, 4], [0, 3, 15]], n = 50, marginals 14/18/18 (rows) and
    12/18/20 (columns). Observed weighted disagreement: 12 + 2*1 = 14 (linear), 12 + 4*1 = 16
    (quadratic); expected: (1152 + 2*496)/50 = 42.88 and (1152 + 4*496)/50 = 62.72; unweighted
    p_o = 37/50, p_e = 852/2500."""
    cells = [[10, 3, 1], [2, 12, 4], [0, 3, 15]]
    a, b = [], []
    for i, row in enumerate(cells):
        for j, n in enumerate(row):
            a += [i + 1] * n
            b += [j + 1] * n
    got = stats([a, b])["cohen_kappa"][0]
    assert got["linear"] == pytest.approx(1 - 14 / 42.88)
    assert got["quadratic"] == pytest.approx(1 - 16 / 62.72)
    assert got["unweighted"] == pytest.approx((37 / 50 - 0.3408) / (1 - 0.3408))
    assert got == {**got, **_cohen_reference(a, b, [1, 2, 3])}


# -- Reference implementations, plain loops ------------------------------------------------------


def _nan(table: Table) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in row] for row in table]  # type: ignore[arg-type]


def _cohen_reference(a: list[object], b: list[object], labels: list[object]) -> dict:
    """scikit-learn's cohen_kappa_score formula, loop by loop."""
    k = len(labels)
    pos = {v: i for i, v in enumerate(labels)}
    conf = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        conf[pos[x]][pos[y]] += 1
    n = len(a)
    rows = [sum(conf[i]) for i in range(k)]
    cols = [sum(conf[i][j] for i in range(k)) for j in range(k)]
    out = {}
    weights = {
        "unweighted": lambda i, j: float(i != j),
        "linear": lambda i, j: abs(i - j),
        "quadratic": lambda i, j: (i - j) ** 2,
    }
    for name, w in weights.items():
        obs = sum(w(i, j) * conf[i][j] for i in range(k) for j in range(k))
        exp = sum(w(i, j) * rows[i] * cols[j] / n for i in range(k) for j in range(k))
        out[name] = pytest.approx(1 - obs / exp, abs=1e-9) if exp else None
    return out


def _reference(table: Table) -> dict:
    """Percent agreement, Fleiss' kappa and Gwet's AC1 (irrCAC's gwet.ac1.raw), loop by loop."""
    n_r = len(table)
    units = [[row[u] for row in table if row[u] is not None] for u in range(len(table[0]))]
    units = [u for u in units if u]
    cats = sorted({v for u in units for v in u})  # type: ignore[type-var]
    q = len(cats)
    pairable = [u for u in units if len(u) >= 2]
    unit_pa = []
    for u in pairable:
        cnt = Counter(u)
        unit_pa.append(sum(c * (c - 1) for c in cnt.values()) / (len(u) * (len(u) - 1)))
    pa = sum(unit_pa) / len(unit_pa) if pairable else None
    ac1 = None
    if pa is not None and q >= 2:
        pi = {c: sum(Counter(u)[c] / len(u) for u in units) / len(units) for c in cats}
        pe = sum(p * (1 - p) for p in pi.values()) / (q - 1)
        ac1 = (pa - pe) / (1 - pe)
    complete = [u for u in units if len(u) == n_r]
    fleiss = None
    if complete and n_r >= 2:
        p_bar = sum(
            (sum(c * c for c in Counter(u).values()) - n_r) / (n_r * (n_r - 1)) for u in complete
        ) / len(complete)
        pj = [sum(Counter(u)[c] for u in complete) / (len(complete) * n_r) for c in cats]
        pe = sum(p * p for p in pj)
        fleiss = (p_bar - pe) / (1 - pe) if pe < 1 else None
    return {"percent_agreement": pa, "gwet_ac1": ac1, "fleiss_kappa": fleiss}


def _approx(x: float | None):
    return None if x is None else pytest.approx(x, abs=1e-9)


@st.composite
def tables(draw, numeric: bool = True) -> Table:
    n_r = draw(st.integers(2, 5))
    n_u = draw(st.integers(2, 30))
    k = draw(st.integers(2, 5))
    levels = [1, 2, 4, 7, 11][:k] if numeric else ["a", "b", "c", "d", "e"][:k]
    missing = draw(st.floats(0, 0.4))
    cell = st.sampled_from(levels)
    out: Table = []
    for _r in range(n_r):
        row: list[object | None] = []
        for _u in range(n_u):
            gone = draw(st.floats(0, 1)) < missing
            row.append(None if gone else draw(cell))
        out.append(row)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_alpha_matches_the_krippendorff_package(table: Table) -> None:
    values = {v for row in table for v in row if v is not None}
    pairable = sum(1 for u in range(len(table[0])) if sum(r[u] is not None for r in table) >= 2)
    assume(len(values) >= 2 and pairable >= 1)
    got = stats(table)["krippendorff_alpha"]
    for level in LEVELS:
        with np.errstate(all="ignore"):
            want = krippendorff.alpha(reliability_data=_nan(table), level_of_measurement=level)
        if math.isnan(want):
            assert got[level] is None, level
        else:
            assert got[level] == pytest.approx(want, abs=1e-9), level


@settings(max_examples=60, deadline=None)
@given(st.one_of(tables(numeric=True), tables(numeric=False)))
def test_kappas_ac1_and_agreement_match_loop_references(table: Table) -> None:
    numeric = isinstance(next((v for row in table for v in row if v is not None), 0), int)
    got = stats(table, numeric=numeric)
    original = table
    table = [row for row in table if any(v is not None for v in row)]  # silent raters drop out
    assert got["raters"] == len(table)
    if not table:
        assert got["units"] == 0 and got["percent_agreement"] is None
        return
    ref = _reference(table)
    for name in ("percent_agreement", "gwet_ac1", "fleiss_kappa"):
        assert got[name] == _approx(ref[name]), name
    labels = sorted({v for row in table for v in row if v is not None})  # type: ignore[type-var]
    names = [f"r{i + 1}" for i, row in enumerate(original) if any(v is not None for v in row)]
    listed = {tuple(entry["raters"]): entry for entry in got["cohen_kappa"]}
    for i, j in combinations(range(len(table)), 2):
        both = [(x, y) for x, y in zip(table[i], table[j], strict=True) if None not in (x, y)]
        entry = listed.pop((names[i], names[j]), None)
        if not both:
            assert entry is None  # a pair with no unit in common is not listed
            continue
        assert entry is not None and entry["units"] == len(both)
        want = _cohen_reference([x for x, _ in both], [y for _, y in both], labels)
        if not numeric:
            want["linear"] = want["quadratic"] = None
        for name in ("unweighted", "linear", "quadratic"):
            assert entry[name] == want[name], name
        assert sum(map(sum, entry["confusion"])) == len(both)
    assert listed == {}


# -- Undefined is undefined ------------------------------------------------------------------


def test_every_rating_identical_is_undefined_not_one() -> None:
    got = stats([[3, 3, 3, 3], [3, 3, 3, 3], [3, 3, _, 3]])
    assert got["krippendorff_alpha"] == dict.fromkeys(LEVELS)
    assert got["fleiss_kappa"] is None and got["gwet_ac1"] is None
    assert all(p["unweighted"] is None and p["quadratic"] is None for p in got["cohen_kappa"])
    # Observed agreement is defined: every pair agrees.
    assert got["percent_agreement"] == 1.0


def test_a_single_rater_has_no_agreement() -> None:
    got = stats([[1, 2, 3, 1]])
    assert got["raters"] == 1 and got["cohen_kappa"] == []
    assert got["percent_agreement"] is None and got["gwet_ac1"] is None
    assert got["fleiss_kappa"] is None and got["krippendorff_alpha"] == dict.fromkeys(LEVELS)


def test_no_pairable_units_is_undefined() -> None:
    got = stats([[1, _, 2, _], [_, 2, _, 1]], resamples=50)
    assert got["pairable_units"] == 0
    assert got["percent_agreement"] is None and got["krippendorff_alpha"]["interval"] is None
    assert got["cohen_kappa"] == []  # only pairs that rated a unit in common are listed
    assert got["intervals"]["percent_agreement"] is None


def test_fleiss_needs_a_unit_every_rater_rated() -> None:
    got = stats([[1, 2, _], [1, _, 2], [_, 2, 2]])
    assert got["fleiss_units"] == 0 and got["fleiss_kappa"] is None
    assert got["krippendorff_alpha"]["nominal"] is not None


# -- The bootstrap ---------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(7)
    truth = rng.integers(1, 6, size=400)
    table: Table = [
        [int(np.clip(t + rng.integers(-1, 2), 1, 5)) if rng.random() > 0.2 else None for t in truth]
        for _ in range(4)
    ]
    one = stats(table, resamples=300, seed=3)
    again = stats(table, resamples=300, seed=3)
    other = stats(table, resamples=300, seed=4)
    assert one["intervals"] == again["intervals"]
    assert one["intervals"] != other["intervals"]
    for level in LEVELS:
        lo, hi = one["intervals"]["krippendorff_alpha"][level]
        assert lo < one["krippendorff_alpha"][level] < hi
        assert hi - lo < 0.2
    lo, hi = one["cohen_kappa"][0]["intervals"]["quadratic"]
    assert lo < one["cohen_kappa"][0]["quadratic"] < hi


@pytest.mark.parametrize("n_units", [10, 5000])
def test_resampling_draws_as_many_units_as_there_are(n_units: int) -> None:
    """Both ways of drawing (a multinomial over few patterns, units one by one over many)
    resample exactly the units' count, each pattern as often as its share, on average."""
    counts = np.array([n_units // 2, n_units // 5, n_units - n_units // 2 - n_units // 5])
    if n_units == 10:
        counts = np.ones(10, dtype=np.int64)  # as many patterns as units: unit by unit
    w = _resample_weights(counts, n_units, 2000, np.random.default_rng(0))
    assert (w.sum(axis=1) == n_units).all()
    assert np.allclose(w.mean(axis=0), counts, rtol=0.05)


# -- Per reviewer --------------------------------------------------------------------------------


def _grade(unit: str, reviewer: str, ts: str, verdict: str, tone: int = 3, secs: float = 30.0):
    return GradeRow("rq", "v1", unit, reviewer, {"task": verdict, "tone": tone}, secs, ts)


def test_reviewer_figures_leniency_consensus_and_drift() -> None:
    grades = []
    for n in range(8):
        unit = f"run{n}"
        consensus = "pass" if n % 2 else "fail"
        grades += [
            _grade(unit, "ana", f"2026-01-01T00:0{n}", consensus, secs=10 + n),
            _grade(unit, "ben", f"2026-01-01T00:0{n}", consensus),
            # chen passes everything, and grows careless with tone in the second half
            _grade(unit, "chen", f"2026-01-01T00:0{n}", "pass", tone=3 if n < 4 else 5),
        ]
    out = {r["reviewer"]: r for r in reviewer_figures(grades, {}, {("rq", "v1"): ("task", "pass")})}
    chen, ana = out["chen"], out["ana"]
    assert chen["runs_graded"] == 8 and chen["compared_runs"] == 8
    assert chen["pass_rate"] == 1.0 and chen["consensus_pass_rate"] == 0.5
    assert chen["leniency"] == 0.5
    assert chen["passes_consensus_fails"] == 4 and chen["fails_consensus_passes"] == 0
    assert chen["drift"]["first_half"] == pytest.approx(0.75)  # tone agrees, task half the time
    assert chen["drift"]["last_half"] == pytest.approx(0.25)
    assert chen["drift"]["change"] == pytest.approx(-0.5)
    assert ana["leniency"] == 0.0 and ana["agreement_with_consensus"] == 1.0
    assert ana["median_seconds"] == 13.5


def test_an_adjudication_is_the_consensus_but_not_a_rater() -> None:
    grades = [_grade("run1", "ana", "t1", "pass"), _grade("run1", "ben", "t1", "fail")]
    # Two reviewers: each is compared with the other (the others' majority is one reviewer) ...
    plain = {r["reviewer"]: r for r in reviewer_figures(grades)}
    assert plain["ana"]["compared_ratings"] == 2
    assert plain["ana"]["agreement_with_consensus"] == plain["ben"]["agreement_with_consensus"]
    # ... until an adjudicator settles the run.
    final = {("rq", "v1", "run1"): {"task": "fail", "tone": 3}}
    settled = {r["reviewer"]: r for r in reviewer_figures(grades, final)}
    assert set(settled) == {"ana", "ben"}
    assert settled["ana"]["agreement_with_consensus"] == 0.5
    assert settled["ben"]["agreement_with_consensus"] == 1.0


# -- The workspace's grades --------------------------------------------------------------------


def test_workspace_ratings_per_rubric_version(tmp_path: Path) -> None:
    import json

    from review.ratings import workspace_ratings, workspace_reviewers
    from store.db import connect

    conn = connect(tmp_path / "a.db")
    rubric = {
        "criteria": [
            {
                "id": "task",
                "metric": "task_success",
                "scale": {"kind": "binary", "levels": [{"value": "pass"}, {"value": "fail"}]},
            },
            {
                "id": "tone",
                "scale": {"kind": "ordinal", "levels": [{"value": 1}, {"value": 3}, {"value": 5}]},
            },
        ]
    }
    conn.execute("INSERT INTO rubrics VALUES ('rq', 'v1', 't', ?)", (json.dumps(rubric),))
    for i in range(1, 5):
        conn.execute(
            "INSERT INTO runs (id, source, run_id, workflow, started_at, status) "
            "VALUES (?, 'file', ?, 'w', '2026-01-01', 'ok')",
            (i, f"t{i}"),
        )
    rows = [
        (1, "ana", {"task": "pass", "tone": 5}, 1, "local"),
        (1, "ben", {"task": "pass", "tone": 3}, 1, "remote"),
        (2, "ana", {"task": "fail", "tone": 1}, 1, "local"),
        (2, "ben", {"task": "fail", "tone": 1}, 1, "remote"),
        (3, "ana", {"task": "pass"}, 0, "local"),  # not complete: not a rating
        (4, "ben", {"task": "fail", "tone": None}, 1, "remote"),
    ]
    for run, who, values, complete, origin in rows:
        conn.execute(
            'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", complete, '
            "origin, seconds_spent, created_at, updated_at) VALUES (?, ?, 'rq', 'v1', ?, ?, ?, 20, "
            "'2026-01-01', '2026-01-01')",
            (run, who, json.dumps(values), complete, origin),
        )
    conn.execute(
        'INSERT INTO adjudications (run, rubric_id, rubric_version, "values", adjudicator, '
        "created_at, updated_at) VALUES (1, 'rq', 'v1', '{\"task\": \"fail\"}', 'lead', 'x', 'x')"
    )
    got = {c.criterion: c for c in workspace_ratings(conn)}
    assert list(got) == ["task", "tone"]
    task, tone = got["task"], got["tone"]
    assert task.raters == ["ana", "ben"] and "lead" not in task.raters
    assert not task.numeric and tone.numeric and tone.categories == [1.0, 3.0, 5.0]
    assert task.units == ["file/t1", "file/t2", "file/t4"]
    assert (task.rubric_id, task.rubric_version) == ("rq", "v1")
    assert tone.codes.tolist() == [[2, 1], [0, 0]]
    from review.ratings import grade_counts

    assert grade_counts(conn) == {"complete_grades": 5, "incomplete_grades": 1}
    reviewers = {r["reviewer"]: r for r in workspace_reviewers(conn)}
    assert reviewers["ana"]["runs_graded"] == 2
    assert reviewers["ana"]["pass_criterion"] == "task"
    # run 1 was adjudicated "fail": both passed it, so both are more lenient than the consensus
    assert reviewers["ana"]["passes_consensus_fails"] == 1
    assert reviewers["ben"]["passes_consensus_fails"] == 1


def test_an_empty_database_has_no_criteria(tmp_path: Path) -> None:
    from review.ratings import workspace_ratings
    from store.db import connect

    conn: sqlite3.Connection = connect(tmp_path / "a.db")
    assert workspace_ratings(conn) == []


def test_a_rater_with_no_ratings_is_not_a_rater() -> None:
    """Only empty values from r3: two raters, and Fleiss' kappa over the units both rated."""
    got = stats([[1, 2, 3, 1], [1, 2, 3, 2], [_, _, _, _]])
    assert got["raters"] == 2 and len(got["cohen_kappa"]) == 1
    assert got["fleiss_units"] == 4 and got["fleiss_kappa"] is not None


def test_bootstrap_kappas_at_the_counts_are_the_point_kappas() -> None:
    """The bootstrap's per-pair code, weighted by the units' own counts, gives the point figures
    (which come from the confusion matrices): the intervals are about the same statistic."""
    from review.agreement import _Pair, _patterns, _Stats

    cr = ratings(KRIPP_C)
    pats = _patterns(cr.codes, len(cr.categories))
    point = criterion_agreement(cr, resamples=0)
    for entry in point["cohen_kappa"]:
        i, j = (cr.raters.index(r) for r in entry["raters"])
        got = _Pair(_Stats(cr, pats), i, j).kappas(pats.counts.astype(float)[None, :])
        for name in ("unweighted", "linear", "quadratic"):
            assert got[name][0] == pytest.approx(entry[name], abs=1e-12)


def test_many_raters_each_rating_a_few_units() -> None:
    """300 raters, 3 of them on each of 3,000 units: only the pairs that met are listed, and
    there are too many of them for per-pair intervals."""
    rng = np.random.default_rng(1)
    codes = np.full((3000, 300), -1, dtype=np.int32)
    for u in range(3000):
        codes[u, rng.choice(300, size=3, replace=False)] = rng.integers(0, 4)
    cr = CriterionRatings(
        "c",
        [f"u{i}" for i in range(3000)],
        [f"r{i}" for i in range(300)],
        [1.0, 2.0, 3.0, 4.0],
        True,
        codes,
    )
    got = criterion_agreement(cr, resamples=50)
    assert got["raters"] == 300 and got["krippendorff_alpha"]["interval"] == pytest.approx(1.0)
    assert 0 < len(got["cohen_kappa"]) <= 9000
    assert sum(p["units"] for p in got["cohen_kappa"]) == 9000  # 3 pairs a unit
    assert all(p["intervals"] is None for p in got["cohen_kappa"])
    assert got["intervals"]["krippendorff_alpha"]["interval"] is not None


# -- Sample sizes, undefined resamples and the note beside a dominated scale --------------------


def test_undefined_resamples_are_counted_as_the_krippendorff_package_finds_them() -> None:
    """Four units both raters called "a" and one they split: a resample that misses the split
    unit has one value only, and alpha is undefined there. The count reported equals the number
    of the same resamples for which the `krippendorff` package has no alpha either."""
    from review.agreement import _patterns

    table: Table = [["a", "a", "a", "a", "a"], ["a", "a", "a", "a", "b"]]
    cr = ratings(table, numeric=False)
    got = criterion_agreement(cr, resamples=200, seed=5)
    bad = got["intervals"]["undefined_resamples"]
    pats = _patterns(np.asarray(cr.codes), len(cr.categories))
    draws = _resample_weights(pats.counts, 5, 200, np.random.default_rng(5))
    undefined = 0
    for w in draws:
        rows = np.repeat(pats.rows, w.astype(int), axis=0).T.astype(float)
        rows[rows < 0] = np.nan
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                alpha = krippendorff.alpha(rows, level_of_measurement="nominal")
        except ValueError:  # one value in the domain: no alpha
            alpha = math.nan
        undefined += bool(np.isnan(alpha))
    assert 20 < undefined < 150
    assert bad["krippendorff_alpha"]["nominal"] == undefined
    assert bad["percent_agreement"] == 0  # every unit is pairable in every resample
    assert bad["krippendorff_alpha"]["interval"] is None  # words: no interval alpha at all
    pair = got["cohen_kappa"][0]["intervals"]["undefined_resamples"]
    assert set(pair) == {"unweighted", "linear", "quadratic"} and pair["unweighted"] > 0


def test_n_is_units_compared_and_under_ten_is_too_few() -> None:
    rated_once = [[1, 2, 3, 1, 2, _, _, _], [1, 2, 3, 2, _, 4, 5, 1]]
    got = stats(rated_once)
    assert (got["units"], got["pairable_units"], got["too_few"]) == (8, 4, True)
    many = [[1, 2, 3, 1, 2, 3, 1, 2, 3, 1], [1, 2, 3, 1, 2, 3, 1, 2, 3, 2]]
    got = stats(many)
    assert (got["pairable_units"], got["too_few"]) == (10, False)


def test_high_agreement_with_low_alpha_gets_a_note() -> None:
    # 19 units both raters call "pass", one they split: 95 % agreement, alpha about 0.
    dominated: Table = [["pass"] * 20, ["pass"] * 19 + ["fail"]]
    got = stats(dominated, numeric=False)
    assert got["percent_agreement"] == 0.95 and got["krippendorff_alpha"]["nominal"] < 0.4
    assert got["dominant_level"] == "pass" and got["dominant_share"] == pytest.approx(39 / 40)
    (note,) = got["notes"]
    assert note.startswith("95% agreement but alpha ") and "pass is 98% of the ratings" in note
    # The rule's edges: below 0.8 agreement, or alpha at 0.4 or more, no note.
    assert stats([["a", "b", "a", "b"], ["a", "b", "b", "a"]], numeric=False)["notes"] == []
    balanced: Table = [["a", "b"] * 5, ["a", "b"] * 4 + ["a", "a"]]
    assert stats(balanced, numeric=False)["notes"] == []


def test_an_undefined_figure_from_few_units_is_marked_too_few() -> None:
    """A figure shown as — (undefined: every rating alike, say) over 4 units says too few, as
    the app does; with no unit at all there is nothing to mark."""
    from review.agreement_export import note_text

    assert note_text(None, 4, None, 200) == "too few (n < 10)"
    assert note_text(0.5, 4, 3, 200) == "too few (n < 10); 3 of 200 resamples undefined"
    assert note_text(None, 0, None, 200) == ""
    assert note_text(None, 12, None, 200) == ""

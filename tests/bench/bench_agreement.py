"""How long the agreement report takes on a large ratings set, against the ``krippendorff`` package.

Target (from issue 8): every agreement statistic for 100,000 units x 5 reviewers x 3 criteria
with 20 % of the ratings missing, in no more time than the ``krippendorff`` package takes for
ONE level of alpha (interval; ordinal is timed too) on the same data, in the same run. Also:
1,000 bootstrap resamples of the units on the same data.

The data are seeded: each unit has a true level per criterion, each reviewer gives it with
probability 0.7 and a neighbouring level otherwise, and each rating is dropped with probability
0.2. The criteria: ``task`` (two words, nominal), ``tone`` (1-5, numeric), ``tool_use`` (three
words, nominal). ``krippendorff.alpha`` gets each criterion as a raters x units float array with
NaN for missing (words coded as numbers); the report gets the same ratings integer-coded (what
``review.ratings`` builds from a file). Reading the same ratings from a CSV (1.2M lines) is timed
apart: it is the command's cost, not the statistics'.

Figures only: nothing here passes or fails on time.

    uv run pytest tests/bench/bench_agreement.py -s
    uv run python -m tests.bench.bench_agreement [--units 100000] [--reps 5] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.figures import ratio, table

CRITERIA = (
    ("task", ["fail", "pass"]),
    ("tone", [1, 2, 3, 4, 5]),
    ("tool_use", ["good", "wasteful", "wrong"]),
)


def make_data(n_units: int, n_raters: int = 5, missing: float = 0.2, seed: int = 8) -> list[Any]:
    """One ``CriterionRatings`` per criterion, seeded."""
    from review.agreement import CriterionRatings

    rng = np.random.default_rng(seed)
    out = []
    for name, levels in CRITERIA:
        k = len(levels)
        truth = rng.integers(0, k, size=n_units)
        noise = rng.choice([-1, 1], size=(n_units, n_raters))
        keep = rng.random((n_units, n_raters)) < 0.7
        codes = np.where(keep, truth[:, None], np.clip(truth[:, None] + noise, 0, k - 1))
        codes = np.where(rng.random((n_units, n_raters)) < missing, -1, codes).astype(np.int32)
        numeric = isinstance(levels[0], int)
        cats: list[str | float] = [float(v) for v in levels] if numeric else list(map(str, levels))
        out.append(
            CriterionRatings(
                name,
                [f"u{i}" for i in range(n_units)],
                [f"reviewer{r + 1}" for r in range(n_raters)],
                cats,
                numeric,
                codes,
            )
        )
    return out


def _timed(fn: Any, reps: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def write_csv(data: list[Any], path: Path) -> int:
    """The same ratings as a ratings file; returns the number of lines."""
    lines = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("unit,rater,criterion,value\n")
        for cr in data:
            cats = [str(int(c)) if isinstance(c, float) else c for c in cr.categories]
            for u, row in enumerate(cr.codes.tolist()):
                for r, code in enumerate(row):
                    if code >= 0:
                        fh.write(f"u{u},{cr.raters[r]},{cr.criterion},{cats[code]}\n")
                        lines += 1
    return lines + 1


def run(
    n_units: int = 100_000,
    n_raters: int = 5,
    reps: int = 5,
    resamples: int = 1000,
    csv_too: bool = True,
) -> dict[str, Any]:
    """Time the report (no bootstrap), ``krippendorff.alpha`` per level, the bootstrap and
    reading the CSV; return the figures (seconds)."""
    import krippendorff

    from review.agreement import agreement_report
    from review.ratings import read_ratings

    data = make_data(n_units, n_raters)
    as_float = []
    for cr in data:
        arr = cr.codes.T.astype(np.float64)
        arr[arr < 0] = np.nan
        as_float.append(arr + 1)  # levels 1..K, so the ratio level has no zeros
    fig: dict[str, Any] = {"units": n_units, "raters": n_raters, "criteria": len(data)}
    fig["missing"] = float(np.mean([(cr.codes < 0).mean() for cr in data]))
    fig["report_s"], report = _timed(lambda: agreement_report(data, resamples=0), reps)
    for level in ("interval", "ordinal", "nominal"):
        times, alphas = _timed(
            lambda level=level: [
                krippendorff.alpha(reliability_data=a, level_of_measurement=level) for a in as_float
            ],
            reps,
        )
        fig[f"kripp_{level}_s"] = times
        fig[f"kripp_{level}_alpha"] = alphas
    fig["alpha"] = {
        lv: [c["krippendorff_alpha"][lv] for c in report["criteria"]]
        for lv in ("interval", "ordinal", "nominal")
    }
    fig["resamples"] = resamples
    fig["bootstrap_s"], boot = _timed(
        lambda: agreement_report(data, resamples=resamples, seed=0), max(1, reps // 2)
    )
    fig["interval_alpha_ci"] = [
        c["intervals"]["krippendorff_alpha"]["interval"] for c in boot["criteria"]
    ]
    if csv_too:
        with tempfile.TemporaryDirectory(prefix="agentdeck-bench-agreement.") as tmp:
            path = Path(tmp) / "ratings.csv"
            fig["csv_lines"] = write_csv(data, path)
            fig["csv_mb"] = path.stat().st_size / 1e6
            fig["read_csv_s"], _ = _timed(lambda: read_ratings(path), 1)
    return fig


def report(fig: dict[str, Any]) -> str:
    med = statistics.median
    rows = [
        [
            "agreement report, every statistic, no bootstrap",
            med(fig["report_s"]),
            min(fig["report_s"]),
        ],
    ]
    for level in ("interval", "ordinal", "nominal"):
        times = fig[f"kripp_{level}_s"]
        rows.append([f"krippendorff.alpha, {level}, 3 criteria", med(times), min(times)])
    rows.append(
        [
            f"agreement report with {fig['resamples']:,} bootstrap resamples",
            med(fig["bootstrap_s"]),
            min(fig["bootstrap_s"]),
        ]
    )
    if "read_csv_s" in fig:
        rows.append(
            [
                f"read the ratings CSV ({fig['csv_lines']:,} lines, {fig['csv_mb']:.1f} MB)",
                fig["read_csv_s"][0],
                fig["read_csv_s"][0],
            ]
        )
    head = (
        f"{fig['units']:,} units x {fig['raters']} raters x {fig['criteria']} criteria, "
        f"{fig['missing']:.1%} missing; median of {len(fig['report_s'])} runs"
    )
    lines = [head, "", table(["what", "median s", "min s"], rows), ""]
    ours = med(fig["report_s"])
    for level in ("interval", "ordinal"):
        r = ratio(ours, med(fig[f"kripp_{level}_s"]))
        lines.append(f"report / krippendorff {level} (one level): {r:.3f}   aim <= 1")
    diff = max(
        abs(a - b)
        for lv in ("interval", "ordinal", "nominal")
        for a, b in zip(fig["alpha"][lv], fig[f"kripp_{lv}_alpha"], strict=True)
        if a is not None  # words: the report gives no interval/ordinal alpha
    )
    lines.append(f"largest |alpha - krippendorff's| over levels and criteria: {diff:.2e}")
    cis = ", ".join(
        "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]" for ci in fig["interval_alpha_ci"]
    )
    lines.append(f"interval alpha 95 % intervals per criterion: {cis}")
    return "\n".join(lines)


def test_bench_agreement() -> None:
    print()
    print(report(run()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=5)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--no-csv", action="store_true", help="skip reading the ratings as a CSV")
    args = parser.parse_args()
    fig = run(args.units, args.raters, args.reps, args.resamples, csv_too=not args.no_csv)
    print(report(fig))


if __name__ == "__main__":
    main()

"""Agreement between raters, per criterion: the figures that say whether a rubric is read alike.

Plain Python and numpy; no Textual, no database here (``review.ratings`` reads a CSV and the
workspace's grades into the same ``CriterionRatings``).

How it is computed, and why it is fast: the ratings of a criterion are an integer matrix, units
by raters, each cell a category code or -1 for a missing rating. Every statistic here is a sum
over units of something that depends only on the unit's row, so units with the same row (with 5
raters and 3 levels there are at most 4**5 = 1,024 different rows, whatever the number of
units) are folded into one *pattern* with a count. Each statistic is then a weighted sum over
patterns; a point estimate weighs the patterns by their counts, a bootstrap resample by how
often the resample drew them (a multinomial over patterns, exactly the distribution of
resampling units with replacement). One code path computes both, for every resample at once.

Definitions (all over the units of one criterion):

- percent agreement: per unit with two or more ratings, the share of its ordered rating pairs
  that agree; the mean over those units (Fleiss's P-bar, Gwet's p_a). It is observed agreement,
  not chance-corrected: every rating identical gives 1.0, which is what it means.
- Krippendorff's alpha, nominal/ordinal/interval/ratio, from the coincidence matrix of pairable
  values (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"); units with one
  rating drop out.
- Fleiss' kappa over the units rated by every rater of the criterion.
- Gwet's AC1 (Gwet 2008/2014, missing ratings allowed as in irrCAC's ``gwet.ac1.raw``): p_a as
  above; chance agreement from each category's mean share within a unit, over units with at
  least one rating, and the number of categories observed in the criterion.
- Cohen's kappa per pair of raters over the units both rated: unweighted; linear and quadratic
  with disagreement weights ``|i - j|`` and ``(i - j)**2`` on the positions of the categories in
  their numeric order (as scikit-learn's ``cohen_kappa_score`` weighs label indices). Only pairs
  that rated at least one unit in common are listed (a crowd of raters who each rate a few
  units has few such pairs, not all of them); with more than ``MAX_PAIR_INTERVALS`` pairs the
  pairs get no bootstrap interval (``"intervals": null``).
- Bootstrap intervals: the 2.5th and 97.5th percentiles over the resamples in which the figure
  is defined. How many resamples left a defined figure undefined (a resample that drew only
  units rated alike has no chance-corrected figure) is counted, never dropped silently:
  ``intervals["undefined_resamples"]`` mirrors the intervals' shape with those counts.

Sample sizes: each figure is over the units it *compares* (``pairable_units``: rated by two
raters or more; ``fleiss_units`` for Fleiss' kappa; a pair's ``units`` for Cohen's kappa), not
over the units rated. A criterion with fewer than ``MIN_UNITS`` compared units has
``"too_few": true``: its figures say little, whatever their value. ``notes`` holds a line for
a reader when percent agreement is at least ``HIGH_AGREEMENT`` and the nominal alpha below
``LOW_ALPHA``: one level is given so often that raters agree by chance, and alpha discounts it.

The categories are the values observed in the criterion (in a workspace too: a level of the
rubric nobody chose is not a category). It changes nothing for alpha, Fleiss or percent
agreement; for AC1 it is the number of categories, and for the weighted kappas the positions.

A figure that is undefined (no pairable units, one rater, every rating the same so chance
agreement is total) is ``None``, never 1. Categories that are words are nominal: the ordinal,
interval and ratio alphas and the weighted kappas are ``None`` for them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

LEVELS = ("nominal", "ordinal", "interval", "ratio")
#: Pairs of raters (10 raters make 45) up to which Cohen's kappas get bootstrap intervals.
MAX_PAIR_INTERVALS = 45
WEIGHTS = ("unweighted", "linear", "quadratic")
#: Fewer compared units than this and a figure is marked as from too few.
MIN_UNITS = 10
#: Percent agreement at or above this beside a nominal alpha below LOW_ALPHA gets a note.
HIGH_AGREEMENT = 0.8
LOW_ALPHA = 0.4

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CriterionRatings:
    """The ratings of one criterion: ``codes[u, r]`` is the category index rater ``r`` gave unit
    ``u``, or -1 for no rating. ``categories`` are in their order (numeric order when numeric)."""

    criterion: str
    units: list[str]
    raters: list[str]
    categories: list[str | float]
    numeric: bool
    codes: npt.NDArray[np.integer[Any]]
    rubric_id: str | None = None
    rubric_version: str | None = None

    @property
    def values(self) -> FloatArray:
        """The categories as numbers (only for numeric ratings)."""
        return np.asarray(self.categories, dtype=np.float64)


@dataclass(frozen=True)
class _Patterns:
    """Distinct rows of the codes matrix with how many units share each one."""

    rows: IntArray  # P x R codes
    counts: IntArray  # P
    c: FloatArray  # P x K: ratings per category in the row
    k: int

    @property
    def m(self) -> FloatArray:
        return self.c.sum(axis=1)


def _patterns(codes: npt.NDArray[np.integer[Any]], k: int) -> _Patterns:
    codes = np.asarray(codes, dtype=np.int64)
    n_units, n_raters = codes.shape
    base = k + 1
    if n_units and n_raters and n_raters * math.log2(base) < 62:
        # One int64 key per row: np.unique on a vector is far cheaper than on rows.
        powers = base ** np.arange(n_raters, dtype=np.int64)
        keys = (codes + 1) @ powers
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        rows = codes[first]
    elif n_units:
        rows, counts = np.unique(codes, axis=0, return_counts=True)
    else:
        rows, counts = np.zeros((0, n_raters), np.int64), np.zeros(0, np.int64)
    n_p = len(rows)
    present = rows >= 0
    flat = (np.arange(n_p)[:, None] * k + rows)[present]
    c = np.bincount(flat, minlength=n_p * k).reshape(n_p, k).astype(np.float64)
    return _Patterns(rows.astype(np.int64), counts.astype(np.int64), c, k)


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a / b`` with NaN where ``b`` is 0 (an undefined figure)."""
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _chance_corrected(observed: FloatArray, expected: FloatArray) -> FloatArray:
    """``(po - pe) / (1 - pe)``, NaN where chance agreement is total."""
    return _div(observed - expected, 1.0 - expected)


class _Stats:
    """Every statistic of a criterion, for a batch of weightings of its patterns.

    ``w`` is B x P: the point estimate is the single row of pattern counts; a bootstrap chunk
    is one row per resample. Each method returns B values (NaN: undefined)."""

    def __init__(self, cr: CriterionRatings, pats: _Patterns) -> None:
        self.cr, self.p, self.k = cr, pats, pats.k
        c, m = pats.c, pats.m
        self.pairable = (m >= 2).astype(np.float64)
        self.rated = (m >= 1).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit_pa = np.where(m >= 2, (c * (c - 1)).sum(axis=1) / (m * (m - 1)), 0.0)
            share = np.where(m[:, None] >= 1, c / m[:, None], 0.0)
            # Each pairable unit's contribution to the coincidence matrix (Krippendorff 2011).
            inv = np.where(m >= 2, 1.0 / (m - 1), 0.0)
        self.unit_pa = unit_pa
        self.share = share
        coinc = c[:, :, None] * c[:, None, :]
        idx = np.arange(self.k)
        coinc[:, idx, idx] -= c
        self.coinc = (coinc * inv[:, None, None]).reshape(len(c), self.k * self.k)
        n_raters = len(cr.raters)
        self.n_raters = n_raters
        self.complete = ((m == n_raters) & (n_raters >= 2)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.unit_fleiss = np.where(
                self.complete > 0, ((c * c).sum(axis=1) - m) / (m * (m - 1)), 0.0
            )
        self.values = cr.values if cr.numeric else None

    # -- percent agreement, AC1, Fleiss ------------------------------------------------------
    def percent_agreement(self, w: FloatArray) -> FloatArray:
        return _div(w @ self.unit_pa, w @ self.pairable)

    def gwet_ac1(self, w: FloatArray) -> FloatArray:
        pa = self.percent_agreement(w)
        if self.k < 2:
            return np.full(len(w), np.nan)
        pi = _div(w @ self.share, (w @ self.rated)[:, None])
        pe = (pi * (1 - pi)).sum(axis=1) / (self.k - 1)
        return _chance_corrected(pa, pe)

    def fleiss_kappa(self, w: FloatArray) -> FloatArray:
        n_units = w @ self.complete
        p_bar = _div(w @ self.unit_fleiss, n_units)
        pj = _div(w @ (self.p.c * self.complete[:, None]), (n_units * self.n_raters)[:, None])
        pe = (pj * pj).sum(axis=1)
        return _chance_corrected(p_bar, pe)

    # -- Krippendorff's alpha ----------------------------------------------------------------
    def coincidences(self, w: FloatArray) -> FloatArray:
        return (w @ self.coinc).reshape(len(w), self.k, self.k)

    def alpha(self, w: FloatArray, levels: tuple[str, ...] = LEVELS) -> dict[str, FloatArray]:
        o = self.coincidences(w)
        n_c = o.sum(axis=2)
        n = n_c.sum(axis=1)
        expected_pairs = n_c[:, :, None] * n_c[:, None, :]
        out: dict[str, FloatArray] = {}
        for level in levels:
            delta = self._delta(level, n_c)
            if delta is None:
                out[level] = np.full(len(w), np.nan)
                continue
            d_o = (o * delta).sum(axis=(1, 2))
            d_e = (expected_pairs * delta).sum(axis=(1, 2))
            out[level] = np.where(n > 1, 1.0 - (n - 1) * _div(d_o, d_e), np.nan)
        return out

    def _delta(self, level: str, n_c: FloatArray) -> FloatArray | None:
        """The squared distance between categories: K x K, or B x K x K for ordinal."""
        k = self.k
        idx = np.arange(k)
        if level == "nominal":
            return (idx[:, None] != idx[None, :]).astype(np.float64)
        if self.values is None:
            return None
        v = self.values
        if level == "interval":
            return (v[:, None] - v[None, :]) ** 2
        if level == "ratio":
            # Two zeros are no distance apart (0/0 is taken as 0, as both values are the same).
            ratio = _div(v[:, None] - v[None, :], v[:, None] + v[None, :])
            return np.nan_to_num(np.square(ratio), nan=0.0)
        # ordinal: (sum of n_g from c to k, minus half of n_c and n_k) squared.
        cs = np.cumsum(n_c, axis=1)
        below = cs - n_c
        hi, lo = np.maximum.outer(idx, idx), np.minimum.outer(idx, idx)
        span = cs[:, hi] - below[:, lo]
        return np.square(span - (n_c[:, :, None] + n_c[:, None, :]) / 2)


def _nan_to_zero(a: FloatArray) -> FloatArray:
    return np.nan_to_num(a, nan=0.0)


def _pair_weights(k: int, numeric: bool) -> dict[str, FloatArray]:
    """Disagreement weights of Cohen's kappas on category positions (none weighted for words)."""
    idx = np.arange(k, dtype=np.float64)
    dist = np.abs(idx[:, None] - idx[None, :])
    weights = {"unweighted": (dist > 0).astype(np.float64)}
    if numeric:
        weights["linear"] = dist
        weights["quadratic"] = dist**2
    return weights


def _pair_confusions(
    rows: IntArray, counts: IntArray, k: int, n_raters: int
) -> tuple[list[tuple[int, int]], FloatArray]:
    """Every pair of raters that rated a unit in common, and its confusion matrix.

    Built from the (pattern, pair) incidences, never from all pairs of the roster, so a file with
    hundreds of raters who each rate a few units costs what its ratings cost."""
    pi, ri = np.nonzero(rows >= 0)  # row-major: by pattern, then by rater
    code = rows[pi, ri]
    m = np.bincount(pi, minlength=len(rows))
    start = np.cumsum(m) - m
    pos = np.arange(len(pi)) - start[pi]
    partners = m[pi] - 1 - pos  # the entries after this one in its pattern
    first = np.repeat(np.arange(len(pi)), partners)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(partners) - partners, partners)
    second = first + 1 + offset
    keys = ri[first].astype(np.int64) * n_raters + ri[second]
    pair_keys, pair_id = np.unique(keys, return_inverse=True)
    cells = (pair_id * k + code[first]) * k + code[second]
    conf = np.bincount(cells, weights=counts[pi[first]], minlength=len(pair_keys) * k * k)
    pairs = [(int(x // n_raters), int(x % n_raters)) for x in pair_keys]
    return pairs, conf.reshape(len(pair_keys), k, k).astype(np.float64)


def _kappas_from_confusions(conf: FloatArray, numeric: bool) -> dict[str, FloatArray]:
    """Cohen's kappas of a stack of confusion matrices (pairs x K x K)."""
    n = conf.sum(axis=(1, 2))
    rm = _nan_to_zero(_div(conf.sum(axis=2), n[:, None]))
    cm = _nan_to_zero(_div(conf.sum(axis=1), n[:, None]))
    weights = _pair_weights(conf.shape[1], numeric)
    out: dict[str, FloatArray] = {}
    for name in WEIGHTS:
        d = weights.get(name)
        if d is None:
            out[name] = np.full(len(conf), np.nan)
            continue
        d_o = _div((conf * d).sum(axis=(1, 2)), n)
        d_e = np.einsum("pi,ij,pj->p", rm, d, cm)
        out[name] = np.where(n > 0, 1.0 - _div(d_o, d_e), np.nan)
    return out


class _Pair:
    """Cohen's kappas of one pair of raters for a batch of pattern weightings (the bootstrap)."""

    def __init__(self, stats: _Stats, i: int, j: int) -> None:
        rows, k = stats.p.rows, stats.k
        a, b = rows[:, i], rows[:, j]
        self.valid = ((a >= 0) & (b >= 0)).astype(np.float64)
        a0, b0 = np.where(a >= 0, a, 0), np.where(b >= 0, b, 0)
        eye = np.eye(k)
        self.row = eye[a0] * self.valid[:, None]
        self.col = eye[b0] * self.valid[:, None]
        self.weights = _pair_weights(k, stats.values is not None)
        self.disagree = {name: d[a0, b0] * self.valid for name, d in self.weights.items()}

    def kappas(self, w: FloatArray) -> dict[str, FloatArray]:
        n = w @ self.valid
        rm = _nan_to_zero(_div(w @ self.row, n[:, None]))
        cm = _nan_to_zero(_div(w @ self.col, n[:, None]))
        out: dict[str, FloatArray] = {}
        for name in WEIGHTS:
            d = self.weights.get(name)
            if d is None:
                out[name] = np.full(len(w), np.nan)
                continue
            d_o = _div(w @ self.disagree[name], n)
            d_e = np.einsum("bi,ij,bj->b", rm, d, cm)
            out[name] = np.where(n > 0, 1.0 - _div(d_o, d_e), np.nan)
        return out


def _num(x: float | np.floating[Any]) -> float | None:
    """A figure for the report: None when undefined."""
    x = float(x)
    return None if math.isnan(x) else x


def _label(category: str | float) -> str | int | float:
    if isinstance(category, float) and category.is_integer():
        return int(category)
    return category


def _resample_weights(
    counts: IntArray, n_units: int, size: int, rng: np.random.Generator
) -> FloatArray:
    """``size`` bootstrap resamples of the units, as how often each pattern was drawn."""
    n_p = len(counts)
    if n_p * 4 <= n_units:
        # Few patterns: a multinomial over patterns, the same distribution as drawing units.
        return rng.multinomial(n_units, counts / n_units, size=size).astype(np.float64)
    unit_pattern = np.repeat(np.arange(n_p), counts)
    drawn = unit_pattern[rng.integers(0, n_units, size=(size, n_units))]
    offsets = (np.arange(size) * n_p)[:, None]
    flat = np.bincount((drawn + offsets).ravel(), minlength=size * n_p)
    return flat.reshape(size, n_p).astype(np.float64)


def _undefined(samples: FloatArray, point: float | None) -> int | None:
    """How many resamples left out of the interval as undefined (None: no interval at all)."""
    if point is None:
        return None
    return int(np.isnan(samples).sum())


def too_few(n: int | None) -> bool:
    """True when a figure is over fewer than :data:`MIN_UNITS` compared units."""
    return n is None or n < MIN_UNITS


def dominance_note(result: dict[str, Any]) -> str | None:
    """The one-line note for high percent agreement beside a low nominal alpha, or None.

    The rule: percent agreement >= HIGH_AGREEMENT and nominal alpha < LOW_ALPHA, both defined.
    The note names the level that dominates and its share of the compared ratings."""
    pa = result.get("percent_agreement")
    alpha = (result.get("krippendorff_alpha") or {}).get("nominal")
    if pa is None or alpha is None or pa < HIGH_AGREEMENT or alpha >= LOW_ALPHA:
        return None
    top = result.get("dominant_level")
    share = result.get("dominant_share")
    which = f"{top!s} is {share:.0%} of the ratings" if top is not None and share else "one level"
    return (
        f"{pa:.0%} agreement but alpha {alpha:.2f}: {which}, so raters agree by chance; "
        "alpha discounts that"
    )


def _interval(samples: FloatArray, point: float | None) -> list[float] | None:
    """The 2.5th and 97.5th percentiles of the resamples where the figure is defined."""
    if point is None:
        return None
    ok = samples[~np.isnan(samples)]
    if len(ok) == 0:
        return None
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return [float(lo), float(hi)]


def criterion_agreement(
    cr: CriterionRatings, *, resamples: int = 1000, seed: int = 0, chunk: int = 250
) -> dict[str, Any]:
    """Every agreement figure of one criterion, as the report's JSON object.

    ``resamples`` bootstrap resamples of the units (0: no intervals), drawn from
    ``numpy.random.default_rng(seed)``, so the same data and seed give the same intervals.
    """
    k = len(cr.categories)
    codes = np.asarray(cr.codes).reshape(len(cr.units), len(cr.raters))
    # A unit nobody rated, or a rater who rated nothing (only empty values), is not part of the
    # data: kept, a silent rater would leave Fleiss' kappa no unit "rated by every rater".
    has = codes >= 0
    rated_by = [bool(has[:, r].any()) for r in range(has.shape[1])]
    codes = codes[has.any(axis=1)][:, rated_by]
    if not all(rated_by):
        kept = [r for r, keep in zip(cr.raters, rated_by, strict=True) if keep]
        cr = dataclasses.replace(cr, raters=kept, codes=codes)
    pats = _patterns(codes, k)
    stats = _Stats(cr, pats)
    point_w = pats.counts.astype(np.float64)[None, :]
    pairs, confusions = _pair_confusions(pats.rows, pats.counts, k, len(cr.raters))
    kappas = _kappas_from_confusions(confusions, cr.numeric)
    # Per-pair intervals cost a pass over the patterns per pair and resample: only so many.
    boot_pairs = pairs if len(pairs) <= MAX_PAIR_INTERVALS else []

    def figures(w: FloatArray) -> dict[str, FloatArray]:
        out = {
            "percent_agreement": stats.percent_agreement(w),
            "fleiss_kappa": stats.fleiss_kappa(w),
            "gwet_ac1": stats.gwet_ac1(w),
        }
        for level, vals in stats.alpha(w).items():
            out[f"alpha.{level}"] = vals
        for n, (i, j) in enumerate(boot_pairs):
            for name, vals in _Pair(stats, i, j).kappas(w).items():
                out[f"pair{n}.{name}"] = vals
        return out

    point = {name: _num(v[0]) for name, v in figures(point_w).items()}
    result: dict[str, Any] = {
        "criterion": cr.criterion,
        "units": int(len(codes)),
        "raters": len(cr.raters),
        "percent_agreement": point["percent_agreement"],
        "krippendorff_alpha": {lv: point[f"alpha.{lv}"] for lv in LEVELS},
        "fleiss_kappa": point["fleiss_kappa"],
        "gwet_ac1": point["gwet_ac1"],
        "cohen_kappa": [],
    }
    if cr.rubric_id is not None:
        result["rubric_id"] = cr.rubric_id
        result["rubric_version"] = cr.rubric_version
    result["scale"] = "numeric" if cr.numeric else "categorical"
    result["categories"] = [_label(c) for c in cr.categories]
    result["pairable_units"] = int(pats.counts @ (pats.m >= 2))
    result["fleiss_units"] = int(pats.counts @ stats.complete)
    result["too_few"] = too_few(result["pairable_units"])
    # The level given most among the compared ratings, for the note on a dominated scale.
    given = pats.counts.astype(np.float64) @ (pats.c * (pats.m >= 2)[:, None])
    if given.sum() > 0:
        top = int(np.argmax(given))
        result["dominant_level"] = _label(cr.categories[top])
        result["dominant_share"] = float(given[top] / given.sum())
    else:
        result["dominant_level"], result["dominant_share"] = None, None
    note = dominance_note(result)
    result["notes"] = [note] if note else []
    for n, (i, j) in enumerate(pairs):
        result["cohen_kappa"].append(
            {
                "raters": [cr.raters[i], cr.raters[j]],
                "units": int(confusions[n].sum()),
                **{name: _num(kappas[name][n]) for name in WEIGHTS},
                "confusion": confusions[n].astype(np.int64).tolist(),
            }
        )
    if resamples > 0 and len(codes):
        rng = np.random.default_rng(seed)
        parts: dict[str, list[FloatArray]] = {}
        done = 0
        while done < resamples:
            size = min(chunk, resamples - done)
            w = _resample_weights(pats.counts, len(codes), size, rng)
            for name, vals in figures(w).items():
                parts.setdefault(name, []).append(vals)
            done += size
        boot = {name: np.concatenate(v) for name, v in parts.items()}
        iv = {name: _interval(boot[name], point[name]) for name in boot}
        bad = {name: _undefined(boot[name], point[name]) for name in boot}
        result["intervals"] = {
            "resamples": resamples,
            "seed": seed,
            "percent_agreement": iv["percent_agreement"],
            "krippendorff_alpha": {lv: iv[f"alpha.{lv}"] for lv in LEVELS},
            "fleiss_kappa": iv["fleiss_kappa"],
            "gwet_ac1": iv["gwet_ac1"],
            "undefined_resamples": {
                "percent_agreement": bad["percent_agreement"],
                "krippendorff_alpha": {lv: bad[f"alpha.{lv}"] for lv in LEVELS},
                "fleiss_kappa": bad["fleiss_kappa"],
                "gwet_ac1": bad["gwet_ac1"],
            },
        }
        for n, entry in enumerate(result["cohen_kappa"]):
            entry["intervals"] = (
                {
                    **{name: iv[f"pair{n}.{name}"] for name in WEIGHTS},
                    "undefined_resamples": {name: bad[f"pair{n}.{name}"] for name in WEIGHTS},
                }
                if boot_pairs
                else None
            )
    return result


def agreement_report(
    criteria: list[CriterionRatings], *, resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The whole report: ``{"criteria": [...]}``, one object per criterion (see the module)."""
    return {
        "criteria": [criterion_agreement(cr, resamples=resamples, seed=seed) for cr in criteria]
    }


@dataclass(frozen=True)
class GradeRow:
    """One reviewer's complete grade of one unit (a run), as per-reviewer figures need it."""

    rubric_id: str
    rubric_version: str
    unit: str
    reviewer: str
    values: dict[str, object]
    seconds: float
    at: str


def _majority(values: list[str]) -> str | None:
    """The value more reviewers gave than any other; None on a tie or no values."""
    if not values:
        return None
    tally: dict[str, int] = {}
    for v in values:
        tally[v] = tally.get(v, 0) + 1
    ranked = sorted(tally.values(), reverse=True)
    if len(ranked) > 1 and ranked[0] == ranked[1]:
        return None
    return max(tally, key=lambda v: tally[v])


def reviewer_figures(
    grades: list[GradeRow],
    adjudicated: dict[tuple[str, str, str], dict[str, object]] | None = None,
    positive: dict[tuple[str, str], tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Per reviewer and rubric version: runs graded, median seconds per run, agreement with the
    consensus, leniency and drift.

    The *consensus* a reviewer is compared with on a run and criterion is the adjudicated value
    when the run was adjudicated (``adjudicated[(rubric_id, version, unit)]``), else the value a
    strict majority of the *other* reviewers of that run gave (a tie, or no other reviewer: no
    consensus, and the rating is not compared). Leaving the reviewer out keeps them from
    agreeing with themselves.

    *Leniency* is on the pass/fail criterion (``positive[(rubric_id, version)] = (criterion,
    passing value)``): ``pass_rate - consensus_pass_rate`` over the runs where both are known;
    above 0 the reviewer passes runs the consensus fails more often than the reverse. The two
    counts ``passes_consensus_fails`` and ``fails_consensus_passes`` say how.

    *Drift* splits the reviewer's compared runs in time order (when each grade was first made)
    into a first and a last half and gives the agreement with the consensus in each, and the
    change (last - first); None with fewer than 4 compared runs.
    """
    adjudicated = adjudicated or {}
    positive = positive or {}
    by_unit: dict[tuple[str, str, str], dict[str, dict[str, object]]] = {}
    for g in grades:
        by_unit.setdefault((g.rubric_id, g.rubric_version, g.unit), {})[g.reviewer] = g.values
    mine: dict[tuple[str, str, str], list[GradeRow]] = {}
    for g in grades:
        mine.setdefault((g.rubric_id, g.rubric_version, g.reviewer), []).append(g)
    out = []
    for (rid, version, reviewer), rows in sorted(mine.items()):
        rows = sorted(rows, key=lambda g: (g.at, g.unit))
        per_run: list[float] = []
        agree = compared = 0
        passes = cons_passes = lenient = strict = both = 0
        pos = positive.get((rid, version))
        for g in rows:
            key = (rid, version, g.unit)
            final = adjudicated.get(key)
            others = [v for r, v in by_unit[key].items() if r != reviewer]
            run_agree = run_compared = 0
            for criterion, value in g.values.items():
                if value is None or value == "":
                    continue
                if final is not None and final.get(criterion) is not None:
                    ref: str | None = str(final[criterion])
                else:
                    ref = _majority(
                        [str(o[criterion]) for o in others if o.get(criterion) not in (None, "")]
                    )
                if ref is None:
                    continue
                run_compared += 1
                run_agree += str(value) == ref
                if pos is not None and criterion == pos[0]:
                    both += 1
                    mine_pass, cons_pass = str(value) == pos[1], ref == pos[1]
                    passes += mine_pass
                    cons_passes += cons_pass
                    lenient += mine_pass and not cons_pass
                    strict += cons_pass and not mine_pass
            if run_compared:
                per_run.append(run_agree / run_compared)
                agree += run_agree
                compared += run_compared
        half = len(per_run) // 2
        drift: dict[str, float | None] = {"first_half": None, "last_half": None, "change": None}
        if len(per_run) >= 4:
            first = sum(per_run[:half]) / half
            last = sum(per_run[half:]) / (len(per_run) - half)
            drift = {"first_half": first, "last_half": last, "change": last - first}
        seconds = [g.seconds for g in rows]
        out.append(
            {
                "reviewer": reviewer,
                "rubric_id": rid,
                "rubric_version": version,
                "runs_graded": len(rows),
                "median_seconds": float(np.median(seconds)) if seconds else None,
                "compared_runs": len(per_run),
                "compared_ratings": compared,
                "agreement_with_consensus": agree / compared if compared else None,
                "pass_criterion": pos[0] if pos else None,
                "pass_rate": passes / both if both else None,
                "consensus_pass_rate": cons_passes / both if both else None,
                "leniency": (passes - cons_passes) / both if both else None,
                "passes_consensus_fails": lenient,
                "fails_consensus_passes": strict,
                "drift": drift,
            }
        )
    return out


@dataclass(frozen=True)
class OutcomeAgreement:
    """The one agreement figure of a workflow (and week) that the weekly report shows and
    ``report weekly --push`` sends: Krippendorff's alpha on one criterion, at the level its
    scale allows (interval for numbers, else nominal), with n, the runs it compares."""

    criterion: str
    level: str
    alpha: float | None
    percent_agreement: float | None
    #: Runs rated by two reviewers or more (n), and runs rated at all.
    compared: int
    rated: int
    too_few: bool
    note: str | None = None


def outcome_agreement(result: dict[str, Any]) -> OutcomeAgreement:
    """The :class:`OutcomeAgreement` of one criterion's report (:func:`criterion_agreement`)."""
    alpha = result["krippendorff_alpha"]
    level = "interval" if alpha.get("interval") is not None else "nominal"
    notes = result.get("notes") or []
    return OutcomeAgreement(
        criterion=str(result["criterion"]),
        level=level,
        alpha=alpha.get(level),
        percent_agreement=result["percent_agreement"],
        compared=int(result["pairable_units"]),
        rated=int(result["units"]),
        too_few=bool(result["too_few"]),
        note=notes[0] if notes else None,
    )

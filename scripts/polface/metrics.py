"""Statistics: AUC with DeLong confidence intervals, paired accuracy, baselines, Pearson r with
Fisher's interval, the sub-seeds of seeded jobs, and tests of paired 0/1 predictions.

Conventions (as pROC's ``roc(y, score, direction = "<")``): ``y`` is 0/1 with 1 the positive class
(conservative), and a higher ``score`` means "more likely 1". Ties between a positive and a negative
count one half. The AUC functions work on ranks, in O(n log n) time and O(n) memory, so they run
on the full OSF release (862,770 rows in its largest sample, US dating; Table 2 and Figure 2 of
the published size are timed by ``benchmarks/published_scale.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

# scipy.stats (about 0.7 CPU-s to import) is imported by the functions that use it: a process that
# only needs the AUC (an MLP fold job's validation) does not pay for it.


def _check_binary(y: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y`` as a bool array and ``score`` as float64, validating both."""
    y_arr = np.asarray(pd.array(y, dtype="Float64").to_numpy(dtype=float, na_value=np.nan))
    s_arr = np.asarray(score, dtype=float)
    if y_arr.ndim != 1 or s_arr.ndim != 1:
        raise ValueError("y and score must be one-dimensional")
    if len(y_arr) != len(s_arr):
        raise ValueError(f"y and score differ in length ({len(y_arr)} vs {len(s_arr)})")
    bad_y = ~np.isin(y_arr, (0.0, 1.0))
    if bad_y.any():
        i = int(np.flatnonzero(bad_y)[0])
        raise ValueError(f"y must be 0 or 1 (no NA); position {i} holds {y_arr[i]!r}")
    bad_s = ~np.isfinite(s_arr)
    if bad_s.any():
        i = int(np.flatnonzero(bad_s)[0])
        raise ValueError(f"score must be finite; position {i} holds {s_arr[i]!r}")
    return y_arr == 1.0, s_arr


def midranks(values: np.ndarray) -> np.ndarray:
    """The 1-based ranks of ``values``, ties given their mean rank (``scipy.stats.rankdata``'s
    "average", exactly: every rank is a whole or half number, stored exactly in float64)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    ranks = np.empty(ordered.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _class_counts(positive: np.ndarray) -> tuple[int, int]:
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(f"AUC needs both classes; got {n1} positives and {n0} negatives")
    return n1, n0


def auc(y: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve: P(score of a random 1 > score of a random 0), ties counting 0.5.

    Computed as the Mann–Whitney statistic from mid-ranks: ``(R1 - n1 (n1 + 1) / 2) / (n1 n0)``
    where ``R1`` is the rank sum of the positives.

    Args:
        y: 0/1 labels (1 = positive).
        score: finite scores, higher meaning more likely positive.

    Returns:
        The AUC in [0, 1].
    """
    positive, s = _check_binary(y, score)
    n1, n0 = _class_counts(positive)
    ranks = midranks(s)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def delong_placements(y: ArrayLike, score: ArrayLike) -> tuple[float, np.ndarray, np.ndarray]:
    """DeLong placement values, computed from mid-ranks (Sun & Xu 2014).

    For each positive ``x_i``, ``V10_i`` = share of negatives below it (ties 0.5); for each negative
    ``y_j``, ``V01_j`` = share of positives above it (ties 0.5). With ``tz`` the mid-rank over all
    rows, ``tx`` within the positives and ``ty`` within the negatives:
    ``V10 = (tz - tx) / n0`` and ``V01 = 1 - (tz - ty) / n1``.

    Returns:
        ``(auc, V10, V01)``; the AUC equals ``mean(V10) = mean(V01)``.
    """
    positive, s = _check_binary(y, score)
    n1, n0 = _class_counts(positive)
    tz = midranks(s)
    x, z = s[positive], s[~positive]
    v10 = (tz[positive] - midranks(x)) / n0
    v01 = 1.0 - (tz[~positive] - midranks(z)) / n1
    return float(v10.mean()), v10, v01


def delong_ci(
    y: ArrayLike, score: ArrayLike, level: float = 0.95
) -> tuple[float, float, float, float]:
    """AUC with its DeLong et al. (1988) confidence interval, as pROC's ``ci.auc(method="delong")``.

    The variance of the AUC is ``S10 / n1 + S01 / n0`` with ``S10``, ``S01`` the sample variances
    (denominator n − 1) of the placement values; the interval is the normal quantile interval
    ``auc ± z_{(1+level)/2} · se``, clipped to [0, 1]. With fewer than two rows in a class the
    variance is undefined and ``se``, ``lo`` and ``hi`` are NaN.

    Args:
        y: 0/1 labels (1 = positive).
        score: finite scores, higher meaning more likely positive.
        level: confidence level in (0, 1).

    Returns:
        ``(auc, lo, hi, se)``.
    """
    from scipy.stats import norm

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    value, v10, v01 = delong_placements(y, score)
    if len(v10) < 2 or len(v01) < 2:
        return value, float("nan"), float("nan"), float("nan")
    variance = v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)
    se = float(np.sqrt(variance))
    z = float(norm.ppf(0.5 + level / 2.0))
    lo = min(max(value - z * se, 0.0), 1.0)
    hi = min(max(value + z * se, 0.0), 1.0)
    return value, lo, hi, se


def _strata_codes(strata: ArrayLike | pd.DataFrame | pd.Series) -> np.ndarray:
    """Integer code per row for the stratum (−1 where any stratum variable is missing)."""
    if isinstance(strata, pd.DataFrame):
        frame = strata.reset_index(drop=True)
    else:
        arr = strata.to_numpy() if isinstance(strata, pd.Series) else np.asarray(strata)
        frame = pd.DataFrame(arr if arr.ndim == 2 else {"stratum": arr})
    if frame.shape[1] == 0:
        raise ValueError("strata has no columns")
    codes = frame.groupby(list(frame.columns), dropna=False, sort=True).ngroup().to_numpy()
    missing = frame.isna().any(axis=1).to_numpy()
    return np.where(missing, -1, codes)


def paired_accuracy(
    y: ArrayLike,
    score: ArrayLike,
    strata: ArrayLike | pd.DataFrame | pd.Series,
    *,
    tie_weight: float = 0.5,
) -> tuple[float, int]:
    """Accuracy on all liberal–conservative pairs within the same stratum, without forming pairs.

    Among every pair of one positive (conservative, 1) and one negative (liberal, 0) that share a
    stratum, the share in which the positive has the higher score (a tie counts ``tie_weight``).
    This is the pooled within-stratum Mann–Whitney statistic ``Σ_s U_s / Σ_s n1_s n0_s``, computed
    from mid-ranks within each stratum: a stratum-size-weighted AUC. Rows with a missing value in
    any stratum variable are left out; strata with only one class contribute no pairs.

    Kosinski's published code forms the pairs explicitly within self-reported gender, Face++
    ethnicity and rounded Face++ age, and counts a pair as correct only when the conservative's
    score is strictly higher: ``tie_weight=0`` reproduces that; the default 0.5 is the usual AUC
    convention. With continuous scores the two agree.

    Args:
        y: 0/1 labels.
        score: finite scores.
        strata: one label per row (array or Series), or a DataFrame / 2-D array whose rows define
            the stratum jointly (e.g. :func:`demographic_strata`).
        tie_weight: credit for a pair with equal scores, in [0, 1].

    Returns:
        ``(accuracy, n_pairs)``; ``accuracy`` is NaN when there are no pairs.
    """
    if not 0.0 <= tie_weight <= 1.0:
        raise ValueError(f"tie_weight must be in [0, 1], got {tie_weight}")
    positive, s = _check_binary(y, score)
    codes = _strata_codes(strata)
    if len(codes) != len(s):
        raise ValueError(f"strata has {len(codes)} rows, y and score have {len(s)}")
    keep = codes >= 0
    positive, s, codes = positive[keep], s[keep], codes[keep]
    if len(s) == 0:
        return float("nan"), 0
    ranks = pd.Series(s).groupby(codes).rank(method="average").to_numpy()
    n1 = np.bincount(codes, weights=positive.astype(float))
    n_all = np.bincount(codes).astype(float)
    n0 = n_all - n1
    rank_sum = np.bincount(codes, weights=np.where(positive, ranks, 0.0), minlength=len(n1))
    u = rank_sum - n1 * (n1 + 1.0) / 2.0
    pairs = n1 * n0
    n_pairs = int(round(pairs.sum()))
    if n_pairs == 0:
        return float("nan"), 0
    wins = float(u.sum())
    if tie_weight != 0.5:
        # Tied cross-class pairs: per (stratum, score value), positives × negatives.
        tied = pd.DataFrame({"c": codes, "s": s, "p": positive}).groupby(["c", "s"])["p"]
        counts = tied.agg(["sum", "count"]).to_numpy(dtype=float)
        wins -= (0.5 - tie_weight) * float((counts[:, 0] * (counts[:, 1] - counts[:, 0])).sum())
    return wins / float(pairs.sum()), n_pairs


def paired_accuracy_interval(
    y: ArrayLike,
    score: ArrayLike,
    strata: ArrayLike | pd.DataFrame | pd.Series,
    *,
    n_bootstrap: int,
    seed: int,
    level: float = 0.95,
    tie_weight: float = 0.5,
) -> tuple[float, float]:
    """Percentile interval of :func:`paired_accuracy` by a bootstrap over faces within strata.

    Each resample draws, within every stratum, as many faces as it holds, with replacement
    (``numpy.random.default_rng(seed)``), so every stratum keeps its size; rows with a missing
    stratum are left out as in :func:`paired_accuracy`. Resamples without a pair are skipped.

    Returns:
        ``(lo, hi)``, the central ``level`` interval; NaN when ``n_bootstrap`` is 0 or no
        resample has a pair.
    """
    positive, s = _check_binary(y, score)
    codes = _strata_codes(strata)
    if len(codes) != len(s):
        raise ValueError(f"strata has {len(codes)} rows, y and score have {len(s)}")
    keep = codes >= 0
    positive, s, codes = positive[keep], s[keep], codes[keep]
    if n_bootstrap <= 0 or len(s) == 0:
        return float("nan"), float("nan")
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    row_code = codes[order]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        pick = order[starts[row_code] + (rng.random(len(order)) * sizes[row_code]).astype(np.int64)]
        value, _ = paired_accuracy(positive[pick], s[pick], row_code, tie_weight=tie_weight)
        if not np.isnan(value):
            draws.append(value)
    if not draws:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


#: The ``faces`` columns :func:`demographic_strata` reads by default: gender, ethnicity, age.
STRATA_COLUMNS = ("gender", "ethnicity.value", "age.value")


def demographic_strata(
    faces: pd.DataFrame,
    *,
    gender: str = STRATA_COLUMNS[0],
    ethnicity: str = STRATA_COLUMNS[1],
    age: str = STRATA_COLUMNS[2],
    age_decimals: int = 0,
) -> pd.DataFrame:
    """The strata of Kosinski's controlled comparison: same gender, ethnicity and (rounded) age.

    Args:
        faces: the ``faces`` table (or its rows for one sample).
        gender: gender column (self-reported ``gender`` by default; ``gender.value`` is Face++'s).
        ethnicity: ethnicity column (Face++ ``ethnicity.value``).
        age: age column (Face++ ``age.value``), rounded half to even to ``age_decimals``.

    Returns:
        DataFrame with columns ``gender``, ``ethnicity``, ``age`` aligned with ``faces`` (NA kept,
        so that :func:`paired_accuracy` leaves such rows out).
    """
    for col in (gender, ethnicity, age):
        if col not in faces.columns:
            raise KeyError(f"faces has no column {col!r} (needed for the demographic strata)")
    age_values = pd.to_numeric(faces[age], errors="raise").astype(float)
    with np.errstate(invalid="ignore"):  # NaN ages stay NaN
        age_values = age_values.round(age_decimals)
    return pd.DataFrame(
        {
            "gender": faces[gender].astype(object).where(faces[gender].notna(), None),
            "ethnicity": faces[ethnicity].astype(object).where(faces[ethnicity].notna(), None),
            "age": age_values,
        },
        index=faces.index,
    )


def majority_accuracy(y: ArrayLike) -> float:
    """Accuracy of always predicting the more frequent class: ``max(p, 1 − p)``."""
    positive, _ = _check_binary(y, np.zeros(len(np.asarray(y))))
    if len(positive) == 0:
        raise ValueError("majority_accuracy needs at least one label")
    p = float(positive.mean())
    return max(p, 1.0 - p)


@dataclass(frozen=True)
class PermutationBaseline:
    """AUCs obtained after shuffling the labels: their mean and central interval."""

    mean: float
    lo: float
    hi: float
    n_permutations: int


def permuted_aucs(y: ArrayLike, score: ArrayLike, n_permutations: int, seed: int) -> np.ndarray:
    """AUCs of ``score`` against ``n_permutations`` uniformly random permutations of the labels.

    Only the set of rows labelled 1 matters, and it is a uniform random subset of size n1. Each
    subset is drawn in O(n) with cheap operations: every row is marked independently with
    probability ≈ n1 / n (a 16-bit uniform integer under a threshold), then the surplus (or
    shortfall) of marks is removed from (or added to) rows chosen uniformly without replacement.
    Both steps treat all rows alike, so the distribution of the marked set is invariant under
    permutations of the rows and has size n1: it is uniform over all subsets of size n1, exactly
    the distribution of the positives under a label permutation. The AUC is then the Mann–Whitney
    statistic of the marked rows against the fixed mid-ranks of ``score``.

    Args:
        y: 0/1 labels.
        score: finite scores.
        n_permutations: number of permutations (≥ 1).
        seed: seed of the numpy PCG64 generator.

    Returns:
        float64 array of ``n_permutations`` AUCs.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    positive, s = _check_binary(y, score)
    n1, n0 = _class_counts(positive)
    n = len(s)
    ranks = midranks(s)
    rng = np.random.default_rng(seed)
    offset = n1 * (n1 + 1) / 2.0
    threshold = round(65536 * n1 / n)
    aucs = np.empty(n_permutations)
    for b in range(n_permutations):
        marked = rng.integers(0, 65536, size=n, dtype=np.uint16) < threshold
        surplus = int(marked.sum()) - n1
        if surplus > 0:
            marked[rng.choice(np.flatnonzero(marked), surplus, replace=False)] = False
        elif surplus < 0:
            marked[rng.choice(np.flatnonzero(~marked), -surplus, replace=False)] = True
        aucs[b] = (ranks @ marked.astype(np.float64) - offset) / (n1 * n0)
    return aucs


def permutation_auc(
    y: ArrayLike,
    score: ArrayLike,
    n_permutations: int,
    seed: int,
    level: float = 0.95,
) -> PermutationBaseline:
    """Chance level of the AUC: mean and central interval of AUCs with permuted labels.

    See :func:`permuted_aucs` for how the permutations are drawn (O(n) each, ranks computed once).

    Args:
        y: 0/1 labels.
        score: finite scores.
        n_permutations: number of label permutations (≥ 1).
        seed: random seed.
        level: coverage of the reported central interval (quantiles ``(1 ± level) / 2``).

    Returns:
        :class:`PermutationBaseline` with the mean AUC and the interval.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    aucs = permuted_aucs(y, score, n_permutations, seed)
    q = np.quantile(aucs, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return PermutationBaseline(float(aucs.mean()), float(q[0]), float(q[1]), n_permutations)


def pearson_ci(y: Sequence[float], prediction: Sequence[float], level: float = 0.95):
    """Pearson r with its confidence interval by Fisher's z: ``(r, lo, hi)``.

    ``tanh(atanh(r) ± z_{(1+level)/2} / sqrt(n - 3))``; the interval is NaN for n ≤ 3, and r is
    NaN when either variable is constant.
    """
    from scipy.stats import norm

    a = np.asarray(y, dtype=np.float64)
    b = np.asarray(prediction, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"y and prediction must be 1-d of equal length, got {a.shape}, {b.shape}")
    n = len(a)
    if n < 2 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan, math.nan, math.nan
    r = float(np.corrcoef(a, b)[0, 1])
    if n <= 3:
        return r, math.nan, math.nan
    z = math.atanh(min(max(r, -1 + 1e-15), 1 - 1e-15))
    half = float(norm.ppf(0.5 + level / 2.0)) / math.sqrt(n - 3)
    return r, math.tanh(z - half), math.tanh(z + half)


def child_seed(seed: int, index: int) -> int:
    """A reproducible, well-mixed 32-bit seed for the ``index``-th sub-task of a seeded job."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def regression_intervals(
    y: np.ndarray, prediction: np.ndarray, *, level: float, bootstrap: int, seed: int
) -> dict[str, float]:
    """RMSE, R² (1 - SSE/SST) and calibration slope (OLS of y on the prediction), with CIs.

    Point values on all rows; percentile intervals from ``bootstrap`` resamples of the rows
    drawn with ``numpy.random.default_rng(seed)``. Pearson r gets Fisher's z interval.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(prediction, dtype=np.float64)
    n = len(y)

    def stats(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        yy, pp = y[idx], p[idx]
        resid = yy - pp
        rmse = np.sqrt(np.mean(resid**2, axis=-1))
        sst = np.sum((yy - yy.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
        r2 = 1.0 - np.sum(resid**2, axis=-1) / sst
        pc = pp - pp.mean(axis=-1, keepdims=True)
        sxx = np.sum(pc**2, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.sum(pc * (yy - yy.mean(axis=-1, keepdims=True)), axis=-1) / sxx
        return rmse, r2, slope

    rmse, r2, slope = stats(np.arange(n))
    rng = np.random.default_rng(seed)
    boot = stats(rng.integers(0, n, size=(bootstrap, n)))
    alpha = (1.0 - level) / 2.0
    out: dict[str, float] = {}
    r, r_lo, r_hi = pearson_ci(y, p, level) if np.std(p) > 0 else (math.nan,) * 3
    out.update(r=r, r_lo=r_lo, r_hi=r_hi)
    for name, point, draws in (("rmse", rmse, boot[0]), ("r2", r2, boot[1])):
        lo, hi = np.nanquantile(draws, [alpha, 1.0 - alpha])
        out.update({name: float(point), f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
    if np.std(p) > 0:
        lo, hi = np.nanquantile(boot[2], [alpha, 1.0 - alpha])
        out.update(slope=float(slope), slope_lo=float(lo), slope_hi=float(hi))
    else:
        out.update(slope=math.nan, slope_lo=math.nan, slope_hi=math.nan)
    return out


# ---- Paired binary predictions (test–retest of the same person, Khan et al.'s E2) ----------
#
# Notation: a pair's two predictions (before, after) are 0/1; of n pairs, ``b`` go 0 → 1 and ``c``
# go 1 → 0 (the discordant pairs, the off-diagonal of the 2 × 2 before/after table).


def _binary_pair(before: ArrayLike, after: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(before), np.asarray(after)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"before {x.shape} and after {y.shape} must be 1-d of the same length")
    for name, v in (("before", x), ("after", y)):
        if not np.isin(v, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1")
    return x.astype(np.int64), y.astype(np.int64)


def paired_table(before: ArrayLike, after: ArrayLike) -> np.ndarray:
    """The 2 × 2 table ``[[0→0, 0→1], [1→0, 1→1]]`` of paired 0/1 predictions."""
    x, y = _binary_pair(before, after)
    return np.bincount(2 * x + y, minlength=4).reshape(2, 2)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p: ``min(1, 2 · P(Binomial(b + c, 1/2) ≤ min(b, c)))``.

    Computed as statsmodels' ``mcnemar(table, exact=True)`` does (``scipy.stats.binom.cdf``), so
    its floats equal those Khan et al. printed. No discordant pair gives 1.
    """
    from scipy.stats import binom

    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got {b}, {c}")
    if b + c == 0:
        return 1.0
    return float(min(1.0, binom.cdf(min(b, c), b + c, 0.5) * 2))


def mcnemar_as_printed(b: int, c: int) -> tuple[float, float]:
    """Khan et al.'s McNemar: statsmodels' exact test, whose "statistic" is ``min(b, c)``.

    The textbook statistic is ``(b − c)² / (b + c)`` (:func:`mcnemar_chi2`); the exact test has
    none, and statsmodels reports the smaller discordant count in its place.
    """
    return float(min(b, c)), mcnemar_exact(b, c)


def mcnemar_chi2(b: int, c: int, correction: bool = True) -> tuple[float, float]:
    """Asymptotic McNemar: ``(|b − c| − 1)² / (b + c)`` (Edwards) or without the 1; χ²(1) p."""
    from scipy.stats import chi2

    if b + c == 0:
        return 0.0, 1.0
    diff = abs(b - c) - (1.0 if correction else 0.0)
    stat = max(diff, 0.0) ** 2 / (b + c)
    return float(stat), float(chi2.sf(stat, 1))


def marginal_chi2(
    before: tuple[float, float], after: tuple[float, float], correction: bool = True
) -> tuple[float, float]:
    """Pearson's χ² of the 2 × 2 table ``[before counts, after counts]`` (as Khan et al. ran it).

    ``scipy.stats.chi2_contingency`` with Yates' correction by default, as their notebook called
    it. Note it treats the before and after photographs as independent samples, which paired
    data are not; McNemar's test is the paired test of the same margins.
    """
    from scipy.stats import chi2_contingency

    result = chi2_contingency(np.array([before, after], dtype=float), correction=correction)
    return float(result[0]), float(result[1])


def proportion_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson (exact) interval of a proportion ``k / n``."""
    from scipy.stats import binomtest

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa with its large-sample standard error and interval."""

    estimate: float
    se: float
    lo: float
    hi: float


def cohen_kappa(before: ArrayLike, after: ArrayLike, level: float = 0.95) -> Kappa:
    """Cohen's kappa of paired 0/1 predictions, with the Fleiss–Cohen–Everitt (1969) SE.

    ``κ = (p_o − p_e) / (1 − p_e)``; the variance is the large-sample (non-null) one:
    ``[Σ p_ii (1 − (p_i· + p_·i)(1 − κ))² + (1 − κ)² Σ_{i≠j} p_ij (p_·i + p_j·)²
    − (κ − p_e (1 − κ))²] / (n (1 − p_e)²)``; the interval is ``κ ± z · SE``. NaN when
    ``p_e = 1`` (both arms constant and equal).
    """
    from scipy.stats import norm

    table = paired_table(before, after).astype(float)
    n = table.sum()
    if n == 0:
        raise ValueError("cohen_kappa needs at least one pair")
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po, pe = float(np.trace(p)), float(rows @ cols)
    if pe >= 1.0:
        nan = float("nan")
        return Kappa(nan, nan, nan, nan)
    kappa = (po - pe) / (1.0 - pe)
    a = sum(p[i, i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(2))
    b = (1 - kappa) ** 2 * sum(
        p[i, j] * (cols[i] + rows[j]) ** 2 for i in range(2) for j in range(2) if i != j
    )
    c = (kappa - pe * (1 - kappa)) ** 2
    se = float(np.sqrt(max(a + b - c, 0.0) / (n * (1 - pe) ** 2)))
    z = float(norm.ppf(0.5 + level / 2))
    return Kappa(float(kappa), se, kappa - z * se, kappa + z * se)


def unrelated_flip_rate(p_before: float, p_after: float) -> float:
    """Flip rate of two unrelated people with these rates of 1: ``p₁(1 − p₂) + p₂(1 − p₁)``."""
    return p_before * (1 - p_after) + p_after * (1 - p_before)


def permuted_flip_rates(
    before: ArrayLike, after: ArrayLike, n_permutations: int, seed: int
) -> np.ndarray:
    """Flip rates after pairing each before prediction with a random pair's after prediction.

    Each permutation shuffles the after predictions across pairs (numpy PCG64 seeded with
    ``seed``), which keeps both rates and breaks the link between a person's two photographs.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    x, y = _binary_pair(before, after)
    rng = np.random.default_rng(seed)
    return np.array([float(np.mean(x != rng.permutation(y))) for _ in range(n_permutations)])


def direction_odds(b: int, c: int, level: float = 0.95) -> tuple[float, float, float]:
    """Odds ``b / c`` that a change goes 0 → 1 rather than 1 → 0, with the exact interval.

    The interval transforms the Clopper–Pearson interval of ``b / (b + c)`` by ``π / (1 − π)``
    (the conditional interval of the paired odds ratio that goes with McNemar's exact test).
    """
    if b + c == 0:
        nan = float("nan")
        return nan, nan, nan
    lo, hi = proportion_ci(b, b + c, level)
    odds = b / c if c else float("inf")
    return (
        float(odds),
        float(lo / (1 - lo)),
        float(hi / (1 - hi)) if hi < 1 else float("inf"),
    )

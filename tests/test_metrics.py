"""Tests of polface.metrics against brute-force definitions and against R's pROC."""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, pearsonr, rankdata

from polface.metrics import (
    auc,
    delong_ci,
    demographic_strata,
    majority_accuracy,
    midranks,
    paired_accuracy,
    pearson_ci,
    permutation_auc,
    permuted_aucs,
)


def _psi(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Kernel matrix: psi[i, j] = 1, 0.5, 0 for positive i above, tied with, below negative j."""
    x, z = s[y == 1][:, None], s[y == 0][None, :]
    return (x > z) + 0.5 * (x == z)


def _brute_delong(y: np.ndarray, s: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """DeLong et al. (1988) straight from the definition, O(n1 n0)."""
    psi = _psi(y, s)
    m, n = psi.shape
    theta = psi.mean()
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    s10 = ((v10 - theta) ** 2).sum() / (m - 1)
    s01 = ((v01 - theta) ** 2).sum() / (n - 1)
    se = np.sqrt(s10 / m + s01 / n)
    z = norm.ppf(1 - (1 - level) / 2)
    return theta, max(theta - z * se, 0.0), min(theta + z * se, 1.0), se


def _cases(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Small labelled score vectors: continuous, heavily tied, unbalanced, near-perfect."""
    rng = np.random.default_rng(seed)
    out = []
    for n, p, kind in [(40, 0.5, "cont"), (57, 0.3, "ties"), (25, 0.15, "cont"), (30, 0.5, "sep")]:
        y = (rng.random(n) < p).astype(int)
        y[:2] = [0, 1]
        y[2:4] = [0, 1]
        if kind == "cont":
            s = rng.normal(size=n) + 0.8 * y
        elif kind == "ties":
            s = rng.integers(0, 4, size=n) + y * rng.integers(0, 2, size=n)
            s = s.astype(float)
        else:
            s = y * 3.0 + rng.normal(scale=0.2, size=n)
        out.append((y, s))
    # A larger case with heavy ties (scores on a coarse grid), as rounded predictions give.
    y = (rng.random(3000) < 0.4).astype(int)
    out.append((y, np.round(rng.normal(size=3000) + 0.4 * y, 1)))
    return out


def test_auc_matches_pair_count() -> None:
    for y, s in _cases(1):
        assert auc(y, s) == pytest.approx(_psi(y, s).mean(), abs=1e-12)


def test_midranks_are_scipys_average_ranks_exactly() -> None:
    """The AUCs rank without scipy.stats (0.7 CPU-s to import in an MLP fold job): the same
    float64 ranks as scipy.stats.rankdata, ties (and -0.0 with 0.0) given their mean rank."""
    rng = np.random.default_rng(5)
    for _, s in _cases(2):
        assert np.array_equal(midranks(s), rankdata(s))
    for values in (
        np.array([2.0]),
        np.array([0.0, -0.0, 1.0, 0.0]),
        np.array([3.0, 1.0, 3.0, 1.0, 3.0]),
        rng.integers(0, 3, size=1001).astype(np.float32),
    ):
        ranks = midranks(values)
        assert ranks.dtype == np.float64
        assert np.array_equal(ranks, rankdata(values))
    assert midranks(np.array([0.0, -0.0, 1.0, 0.0])).tolist() == [2.0, 2.0, 4.0, 2.0]


def test_auc_input_checks() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="position 1"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="position 2"):
        auc([0, 1, 1], [0.1, 0.2, np.nan])
    with pytest.raises(ValueError, match="length"):
        auc([0, 1], [0.1, 0.2, 0.3])
    nullable = pd.array([0, 1, pd.NA], dtype="Int32")
    with pytest.raises(ValueError, match="position 2"):
        auc(nullable, [0.1, 0.2, 0.3])
    assert auc(pd.array([0, 1, 1], dtype="Int32"), [0.3, 0.2, 0.4]) == 0.5


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_delong_matches_brute_force(level: float) -> None:
    for y, s in _cases(2):
        got = delong_ci(y, s, level=level)
        want = _brute_delong(y, s, level)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_delong_small_class_and_clipping() -> None:
    value, lo, hi, se = delong_ci([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert value == 1.0 and np.isnan(lo) and np.isnan(hi) and np.isnan(se)
    value, lo, hi, se = delong_ci([0, 0, 1, 1, 0, 1], [0.1, 0.2, 0.9, 0.8, 0.3, 0.05])
    assert 0.0 <= lo <= value <= hi <= 1.0
    perfect = delong_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert perfect == (1.0, 1.0, 1.0, 0.0)


def test_delong_scales_to_large_n() -> None:
    rng = np.random.default_rng(3)
    n = 900_000
    y = (rng.random(n) < 0.45).astype(np.int8)
    s = np.round(rng.normal(size=n) + 0.5 * y, 3)  # many ties
    start = time.perf_counter()
    value, lo, hi, se = delong_ci(y, s)
    assert time.perf_counter() - start < 10.0
    assert lo < value < hi
    # Mann–Whitney AUC of shift 0.5 under unit-variance normals: Phi(0.5 / sqrt 2) ~ 0.638.
    assert value == pytest.approx(norm.cdf(0.5 / np.sqrt(2)), abs=0.003)
    assert 0.0005 < se < 0.001


R_SCRIPT = r"""
suppressPackageStartupMessages(library(pROC))
d <- read.csv(commandArgs(TRUE)[1])
for (k in unique(d$case)) {
  e <- d[d$case == k, ]
  r <- roc(e$y, e$s, direction = "<", levels = c(0, 1), quiet = TRUE)
  ci <- ci.auc(r, method = "delong", conf.level = 0.95)
  cat(sprintf("%d,%.15g,%.15g,%.15g\n", k, ci[2], ci[1], ci[3]))
}
"""


def test_delong_matches_proc(tmp_path: Path) -> None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found: pROC reference values not computed")
    check = subprocess.run([rscript, "-e", "library(pROC)"], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip("R package pROC is not installed: pROC reference values not computed")
    cases = _cases(4)
    data = pd.concat([pd.DataFrame({"case": k, "y": y, "s": s}) for k, (y, s) in enumerate(cases)])
    data.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "ci.R").write_text(R_SCRIPT)
    result = subprocess.run(
        [rscript, str(tmp_path / "ci.R"), str(tmp_path / "d.csv")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = [line.split(",") for line in result.stdout.strip().splitlines()]
    assert len(rows) == len(cases)
    for k, value, lo, hi in rows:
        y, s = cases[int(k)]
        got = delong_ci(y, s)
        np.testing.assert_allclose(got[:3], [float(value), float(lo), float(hi)], rtol=1e-9)


def _brute_paired(
    y: np.ndarray, s: np.ndarray, strata: list[tuple], tie: float = 0.5
) -> tuple[float, int]:
    wins, pairs = 0.0, 0
    for i in range(len(y)):
        for j in range(len(y)):
            if y[i] == 1 and y[j] == 0 and strata[i] == strata[j] and None not in strata[i]:
                pairs += 1
                wins += 1.0 if s[i] > s[j] else tie if s[i] == s[j] else 0.0
    return wins / pairs, pairs


def test_paired_accuracy_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    n = 160
    y = rng.integers(0, 2, size=n)
    s = (rng.integers(0, 5, size=n) + y * rng.integers(0, 2, size=n)).astype(float)  # ties
    g = rng.integers(0, 2, size=n)
    eth = rng.choice(["white", "black", "asian"], size=n)
    age = rng.choice([20.0, 30.0, np.nan], size=n, p=[0.45, 0.45, 0.1])
    frame = pd.DataFrame({"g": g, "eth": eth, "age": age})
    got = paired_accuracy(y, s, frame)
    strata = [(a, b, None if np.isnan(c) else c) for a, b, c in zip(g, eth, age, strict=True)]
    want = _brute_paired(y, s, strata)
    assert got[1] == want[1]
    assert got[0] == pytest.approx(want[0], abs=1e-12)
    for tie in (0.0, 1.0):
        strict = paired_accuracy(y, s, frame, tie_weight=tie)
        assert strict[1] == want[1]
        assert strict[0] == pytest.approx(_brute_paired(y, s, strata, tie)[0], abs=1e-12)
    assert paired_accuracy(y, s, frame, tie_weight=0.0)[0] < got[0]  # ties exist
    # A single stratum column gives the plain AUC.
    assert paired_accuracy(y, s, np.zeros(n)) == (
        pytest.approx(auc(y, s)),
        int((y == 1).sum() * (y == 0).sum()),
    )


def test_paired_accuracy_differs_from_auc_under_confounding() -> None:
    # Score tracks the stratum only: the plain AUC is high, the within-stratum accuracy is 0.5.
    rng = np.random.default_rng(6)
    stratum = rng.integers(0, 2, size=2000)
    y = (rng.random(2000) < np.where(stratum == 1, 0.8, 0.2)).astype(int)
    s = stratum.astype(float)
    assert auc(y, s) > 0.75
    accuracy, n_pairs = paired_accuracy(y, s, stratum)
    assert accuracy == 0.5 and n_pairs > 0


def test_demographic_strata_on_fixture(osf_fixture: Path) -> None:
    pyreadr = pytest.importorskip("pyreadr")
    faces = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    strata = demographic_strata(faces)
    assert list(strata.columns) == ["gender", "ethnicity", "age"]
    assert strata["age"].dropna().eq(strata["age"].dropna().round()).all()
    sample = faces["pol_dat_us"].notna().to_numpy()
    y = faces.loc[sample, "pol_dat_us"].astype(int).to_numpy()
    s = faces.loc[sample, "age"].fillna(0).to_numpy()
    accuracy, n_pairs = paired_accuracy(y, s, strata[sample])
    keys = strata[sample].dropna()
    yk = pd.Series(y, index=strata[sample].index).loc[keys.index]
    counts = pd.crosstab([keys["gender"], keys["ethnicity"], keys["age"]], yk)
    assert n_pairs == int((counts[0] * counts[1]).sum())
    assert 0.0 <= accuracy <= 1.0


def test_majority_accuracy() -> None:
    assert majority_accuracy([0, 1, 1, 1]) == 0.75
    assert majority_accuracy([0, 0, 0, 1, 1]) == 0.6
    with pytest.raises(ValueError):
        majority_accuracy([0, 3])


def test_permutation_auc() -> None:
    rng = np.random.default_rng(7)
    n = 400
    y = (rng.random(n) < 0.4).astype(int)
    s = rng.normal(size=n) + 2.0 * y
    a = permutation_auc(y, s, n_permutations=2000, seed=11)
    b = permutation_auc(y, s, n_permutations=2000, seed=11)
    c = permutation_auc(y, s, n_permutations=2000, seed=12)
    assert a == b and a != c
    assert a.mean == pytest.approx(0.5, abs=0.005)
    # Under H0 the Mann–Whitney AUC has sd sqrt((n1 + n0 + 1) / (12 n1 n0)) (no ties).
    n1, n0 = int(y.sum()), int(n - y.sum())
    sd = np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    assert a.lo == pytest.approx(0.5 - 1.96 * sd, abs=0.01)
    assert a.hi == pytest.approx(0.5 + 1.96 * sd, abs=0.01)
    assert auc(y, s) > a.hi


def test_permutation_auc_is_fast_on_large_n() -> None:
    rng = np.random.default_rng(8)
    n = 200_000
    y = (rng.random(n) < 0.5).astype(int)
    s = rng.normal(size=n)
    start = time.perf_counter()
    result = permutation_auc(y, s, n_permutations=100, seed=0)
    assert time.perf_counter() - start < 15.0
    assert result.lo < 0.5 < result.hi


@pytest.mark.parametrize(("n", "n1"), [(6, 2), (7, 5), (5, 1)])
def test_permuted_aucs_follow_exact_permutation_distribution(n: int, n1: int) -> None:
    # Every subset of positives must be equally likely: compare with full enumeration.
    y = np.array([1] * n1 + [0] * (n - n1))
    s = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 0.5, 4.0])[:n]  # includes a tie
    exact = (
        pd.Series(
            [
                auc(np.isin(np.arange(n), c).astype(int), s)
                for c in itertools.combinations(range(n), n1)
            ]
        )
        .round(12)
        .value_counts(normalize=True)
    )
    draws = 20_000
    seen = pd.Series(permuted_aucs(y, s, draws, seed=5)).round(12).value_counts(normalize=True)
    assert set(seen.index) <= set(exact.index)
    diff = seen.reindex(exact.index, fill_value=0.0) - exact
    # 4.5 binomial standard errors per value.
    assert (diff.abs() <= 4.5 * np.sqrt(exact * (1 - exact) / draws) + 1e-12).all()


def test_pearson_ci_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = 0.4 * x + rng.normal(size=200)
    r, lo, hi = pearson_ci(y, x)
    reference = pearsonr(y, x).confidence_interval(0.95)
    assert r == pytest.approx(pearsonr(y, x).statistic, abs=1e-12)
    assert (lo, hi) == pytest.approx((reference.low, reference.high), abs=1e-9)
    assert all(math.isnan(v) for v in pearson_ci([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))

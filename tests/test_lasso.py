"""polface.models.lasso against R glmnet 4.1 (fixture files, and R itself where installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polface.models.lasso import (
    CVResult,
    EarlyStop,
    GlmnetControl,
    LassoPath,
    cv_lasso,
    lambda_max,
    lasso_path,
)
from polface.models.lasso.problem import standardise

SAMPLES = ["pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney statistic (ties count one half)."""
    y = np.asarray(y).astype(bool)
    pos, neg = score[y], score[~y]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


@pytest.fixture(scope="module")
def osf(osf_fixture: Path) -> dict:
    """faces (d), vgg as a numpy array, folds, and the R references."""
    pyreadr = pytest.importorskip("pyreadr")
    d = pyreadr.read_r(osf_fixture / "faces.RData")["d"]
    vgg = pyreadr.read_r(osf_fixture / "vgg.RData")["vgg"].to_numpy()
    folds = pd.read_csv(osf_fixture / "folds.csv")
    assert (folds["userid"].to_numpy() == d["userid"].to_numpy()).all()
    return {
        "d": d,
        "vgg": vgg,
        "folds": folds,
        "path": pd.read_csv(osf_fixture / "glmnet_path_pol_dat_us.csv"),
        "auc": pd.read_csv(osf_fixture / "glmnet_auc_reference.csv"),
    }


def _sample(osf: dict, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = osf["d"][name].notna().to_numpy()
    y = osf["d"][name][rows].astype(float).to_numpy()
    return rows, osf["vgg"][rows], y


def _r_path(ref: pd.DataFrame, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R's path as (lambdas, intercepts, dense coefficients)."""
    steps = np.sort(ref["step"].unique())
    assert (steps == np.arange(1, steps.size + 1)).all()
    lam = ref.groupby("step")["lambda"].first().to_numpy()
    a0 = np.empty(steps.size)
    beta = np.zeros((steps.size, p))
    for step, g in ref.groupby("step"):
        a0[step - 1] = g.loc[g["term"] == "intercept", "coef"].iloc[0]
        terms = g[g["term"] != "intercept"]
        beta[step - 1, terms["term"].astype(int).to_numpy() - 1] = terms["coef"].to_numpy()
    return lam, a0, beta


def test_path_matches_r_glmnet(osf: dict) -> None:
    _, X, y = _sample(osf, "pol_dat_us")
    r_lam, r_a0, r_beta = _r_path(osf["path"], X.shape[1])
    path = lasso_path(X, y)
    assert isinstance(path, LassoPath)
    # the same lambda sequence, stopping at the same step
    assert path.lambdas.shape == r_lam.shape
    np.testing.assert_allclose(path.lambdas, r_lam, rtol=1e-10, atol=0)
    assert lambda_max(X, y) == pytest.approx(r_lam[0], rel=1e-10)
    compared = 0
    for step in range(r_lam.size):
        r_nz = np.flatnonzero(r_beta[step])
        if r_nz.size > 200:
            continue
        compared += 1
        np.testing.assert_array_equal(np.flatnonzero(path.beta[step]), r_nz, err_msg=f"{step=}")
        np.testing.assert_allclose(path.beta[step], r_beta[step], rtol=0, atol=1e-3)
        assert path.a0[step] == pytest.approx(r_a0[step], abs=1e-3)
    assert compared >= 50
    assert path.df[0] == 0 and path.dev_ratio[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(path.dev_ratio) >= -1e-9)
    # R's lambdas given as a user sequence: the same solutions
    user = lasso_path(X, y, lambdas=r_lam)
    assert user.lambdas.shape == r_lam.shape
    np.testing.assert_allclose(user.beta[1:60], r_beta[1:60], rtol=0, atol=1e-3)


@pytest.mark.slow
def test_float32_storage_close_to_float64(osf: dict) -> None:
    _, X, y = _sample(osf, "pol_dat_us")
    p64 = lasso_path(X, y, nlambda=40)
    p32 = lasso_path(X.astype(np.float32), y, nlambda=40, dtype=np.float32)
    np.testing.assert_allclose(p32.lambdas, p64.lambdas, rtol=1e-6)
    np.testing.assert_allclose(p32.beta, p64.beta, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_outer_cv_auc_matches_r_reference(osf: dict) -> None:
    """The Kosinski (2021) procedure on the fixture: 4 samples x 4 outer folds, inner CV."""
    d, vgg, folds = osf["d"], osf["vgg"], osf["folds"]
    outer = folds["outer_fold"].to_numpy()
    inner = folds["inner_fold"].to_numpy()
    scores = {m: np.full(len(d), np.nan) for m in SAMPLES}
    for model in SAMPLES:
        labelled = d[model].notna().to_numpy()
        for k in range(1, 5):
            train = labelled & (outer != k)
            y = d[model][train].astype(float).to_numpy()
            cv = cv_lasso(vgg[train], y, inner[train])
            assert isinstance(cv, CVResult)
            fast = cv_lasso(vgg[train], y, inner[train], early_stop=EarlyStop())
            # the early stop picks the same lambda.min and the same model
            assert fast.index_min == cv.index_min
            assert fast.lambda_min == cv.lambda_min
            assert len(fast.lambdas) <= len(cv.lambdas)
            held_out = outer == k
            scores[model][held_out] = cv.link(vgg[held_out])
            np.testing.assert_array_equal(fast.link(vgg[held_out]), scores[model][held_out])
    ref = osf["auc"]
    assert len(ref) == 16
    for _, row in ref.iterrows():
        rows = d[row["sample"]].notna().to_numpy()
        got = auc(d[row["sample"]][rows].astype(int).to_numpy(), scores[row["model"]][rows])
        assert got == pytest.approx(row["auc"], rel=0, abs=1e-12), (row["model"], row["sample"])


def _synthetic(n: int, p: int, seed: int, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features on different scales; a sparse signal."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, p))
    X = z + 0.6 * z[:, [0]]
    X = X * rng.uniform(0.5, 3.0, p) + rng.normal(0.0, 2.0, p)
    b = np.zeros(p)
    b[:5] = [0.8, -1.0, 0.5, 0.0, 0.7]
    eta = (X - X.mean(0)) / X.std(0) @ b
    if family == "gaussian":
        return X, 10.0 + 3.0 * eta + rng.standard_normal(n) * 2.0
    return X, (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)


R_SCRIPT = r"""
suppressMessages(library(glmnet))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
x <- as.matrix(read.csv(file.path(dir, "x.csv"), header = FALSE))
tab <- read.csv(file.path(dir, "y.csv"))
fam <- args[2]
f <- glmnet(x, tab$y, family = fam)
write.csv(data.frame(lambda = f$lambda, a0 = f$a0, dev = f$dev.ratio, df = f$df),
          file.path(dir, "path.csv"), row.names = FALSE)
write.csv(t(as.matrix(f$beta)), file.path(dir, "beta.csv"), row.names = FALSE)
cv <- cv.glmnet(x, tab$y, family = fam, foldid = tab$fold, keep = TRUE)
imin <- match(cv$lambda.min, cv$lambda)
write.csv(data.frame(preval = cv$fit.preval[, imin]), file.path(dir, "preval.csv"),
          row.names = FALSE)
write.csv(data.frame(lambda = cv$lambda, cvm = cv$cvm, cvsd = cv$cvsd),
          file.path(dir, "cv.csv"), row.names = FALSE)
write.csv(data.frame(lambda_min = cv$lambda.min, lambda_1se = cv$lambda.1se),
          file.path(dir, "cvopt.csv"), row.names = FALSE)
"""


@pytest.mark.parametrize(
    ("family", "n", "p", "dtype"),
    [
        ("gaussian", 150, 40, np.float64),
        ("gaussian", 80, 600, np.float64),
        ("binomial", 300, 60, np.float64),
        # float32 features (R reads their exact doubles), fitted from X's own float32 values
        ("gaussian", 80, 600, np.float32),
        ("binomial", 300, 60, np.float32),
    ],
)
def test_against_r_glmnet(tmp_path: Path, family: str, n: int, p: int, dtype: type) -> None:
    """Path and cv.glmnet(foldid) against R glmnet run here (skips when R is absent)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not found: R glmnet comparison skipped (install r-cran-glmnet)")
    X, y = _synthetic(n, p, seed=n + p, family=family)
    X = X.astype(dtype)
    fold = np.arange(n) % 5 + 1
    np.random.default_rng(7).shuffle(fold)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    pd.DataFrame({"y": y, "fold": fold}).to_csv(tmp_path / "y.csv", index=False)
    script = tmp_path / "fit.R"
    script.write_text(R_SCRIPT)
    done = subprocess.run(
        [rscript, str(script), str(tmp_path), family], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0 and "there is no package called" in done.stderr:
        pytest.skip(f"R glmnet not installed: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    r_path = pd.read_csv(tmp_path / "path.csv")
    r_beta = pd.read_csv(tmp_path / "beta.csv").to_numpy()
    path = lasso_path(X, y, family, dtype=dtype)
    assert len(path.lambdas) == len(r_path)
    np.testing.assert_allclose(path.lambdas, r_path["lambda"], rtol=1e-10)
    np.testing.assert_allclose(path.beta, r_beta, rtol=0, atol=1e-6)
    np.testing.assert_allclose(path.a0, r_path["a0"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(path.dev_ratio, r_path["dev"], rtol=0, atol=1e-8)
    np.testing.assert_array_equal(path.df, r_path["df"])
    r_cv = pd.read_csv(tmp_path / "cv.csv")
    r_opt = pd.read_csv(tmp_path / "cvopt.csv")
    cv = cv_lasso(X, y, fold, family, dtype=dtype)
    np.testing.assert_allclose(cv.lambdas, r_cv["lambda"], rtol=1e-10)
    np.testing.assert_allclose(cv.cvm, r_cv["cvm"], rtol=1e-6)
    np.testing.assert_allclose(cv.cvsd, r_cv["cvsd"], rtol=1e-5)
    assert cv.lambda_min == pytest.approx(r_opt["lambda_min"].iloc[0], rel=1e-10)
    assert cv.lambda_1se == pytest.approx(r_opt["lambda_1se"].iloc[0], rel=1e-10)
    # held-out predictions at lambda.min (cv.glmnet's fit.preval, on the link scale)
    preval = pd.read_csv(tmp_path / "preval.csv")["preval"].to_numpy()
    np.testing.assert_allclose(cv.oof_link, preval, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_kkt_conditions_hold(family: str) -> None:
    """At every lambda: |gradient| <= lambda for zero coefficients, = lambda * sign for others."""
    X, y = _synthetic(200, 30, seed=3, family=family)
    path = lasso_path(X, y, family, control=GlmnetControl(thresh=1e-14))
    n = X.shape[0]
    xs = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / xs
    ys = y.std() if family == "gaussian" else 1.0
    assert path.stop_reason in {"fdev", "devmax", "nlambda"}
    for step in range(1, len(path.lambdas)):
        mu = path.predict(X, step)
        resid = (y - mu) / ys
        assert abs(resid.sum()) / n < 1e-7  # unpenalised intercept
        grad = Z.T @ resid / n  # standardised scale, per unit of lambda
        lam = path.lambdas[step] / ys
        b = path.beta[step]
        zero = b == 0
        assert np.all(np.abs(grad[zero]) <= lam * (1 + 1e-4)), step
        np.testing.assert_allclose(grad[~zero], lam * np.sign(b[~zero]), rtol=1e-4, atol=0)
    # the first lambda is lambda_max: all coefficients zero, the next one not
    assert path.df[0] == 0 and path.df[1] > 0


def test_deterministic_bits() -> None:
    X, y = _synthetic(240, 50, seed=11, family="binomial")
    fold = np.arange(240) % 6
    a = cv_lasso(X, y, fold, n_threads=2)
    b = cv_lasso(X.copy(), y.copy(), fold.copy(), n_threads=2)
    c = cv_lasso(X, y, fold, n_threads=1)
    for other in (b, c):
        assert a.path.beta.tobytes() == other.path.beta.tobytes()
        assert a.path.a0.tobytes() == other.path.a0.tobytes()
        assert a.cvm.tobytes() == other.cvm.tobytes()
        assert a.cvsd.tobytes() == other.cvsd.tobytes()


def test_early_stop_rule_and_predictions() -> None:
    X, y = _synthetic(300, 80, seed=5, family="binomial")
    fold = np.arange(300) % 5
    full = cv_lasso(X, y, fold)
    rule = EarlyStop(patience=4, tol=0.0)
    fast = cv_lasso(X, y, fold, early_stop=rule)
    assert not full.stopped_early
    assert fast.stopped_early and fast.path.stop_reason == "early_stop"
    # the paths end where the rule, fed the full curve lambda by lambda, says stop
    watch = rule.tracker()
    stop = next(m for m in range(len(full.cvm)) if watch.update(full.cvm[m], full.cvsd[m]))
    assert len(fast.lambdas) == stop + 1 < len(full.lambdas)
    assert fast.cvm[stop] > fast.cvm[fast.index_min] + fast.cvsd[fast.index_min]
    assert fast.index_min == full.index_min
    np.testing.assert_array_equal(fast.fold_measure, full.fold_measure[:, : len(fast.cvm)])
    np.testing.assert_allclose(fast.cvm, full.cvm[: len(fast.cvm)], rtol=1e-14)
    # predictions on the original scale
    step = full.index_min
    eta = full.path.a0[step] + X @ full.path.beta[step]
    np.testing.assert_allclose(full.link(X), eta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(full.predict(X), 1 / (1 + np.exp(-eta)), rtol=1e-12)
    assert np.all(full.lambda_1se >= full.lambda_min)
    with pytest.raises(ValueError, match="patience"):
        EarlyStop(patience=0)


def test_early_stop_waits_for_a_curve_that_rises_first_then_falls() -> None:
    # The CV deviance of pol_dat_uk, outer fold 4 of an R-written cohort (issue 12): at or above
    # its first value for ten lambdas, then down to its minimum, then up again.
    first = [1.0, 1.002, 1.004, 1.003, 1.006, 1.008, 1.01, 1.012, 1.011, 1.013, 1.015]
    down = [0.99, 0.95, 0.9, 0.86, 0.84, 0.83]
    up = [0.835, 0.845, 0.86] + [0.87 + 0.01 * i for i in range(12)]
    curve = np.array(first + down + up)
    sd = np.full(len(curve), 0.01)
    watch = EarlyStop(patience=10).tracker()
    stops = [m for m in range(len(curve)) if watch.update(curve[m], sd[m])]
    minimum = int(np.argmin(curve))
    assert minimum == len(first) + len(down) - 1
    # never while the curve has not come down, so not at lambda 11 (the old rule stopped there)
    assert stops and stops[0] > minimum
    # after ten lambdas above the minimum plus one standard error (0.84)
    above = [m for m in range(minimum, len(curve)) if curve[m] > curve[minimum] + sd[minimum]]
    assert stops[0] == above[9]
    # a curve that never comes down by one standard error never stops
    flat = EarlyStop(patience=3).tracker()
    assert not any(flat.update(1.0 + 0.001 * (m % 2), 0.01) for m in range(50))


def test_bad_input_is_refused() -> None:
    X, y = _synthetic(50, 10, seed=1, family="binomial")
    with pytest.raises(ValueError, match="0/1"):
        lasso_path(X, y * 2)
    with pytest.raises(ValueError, match="rows"):
        lasso_path(X, y[:-1])
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lasso_path(bad, y)
    with pytest.raises(ValueError, match="3 folds"):
        cv_lasso(X, y, np.arange(50) % 2)


def _held_out_deviance(path: LassoPath, X: np.ndarray, y: np.ndarray, lambdas: np.ndarray):
    """Held-out binomial deviance at ``lambdas``, the link interpolated linearly in lambda
    between the path's solutions and clamped at its ends (predict.glmnet's rule)."""
    links = np.array([path.link(X, i) for i in range(len(path.lambdas))])  # (L, m)
    knots = path.lambdas[::-1]
    out = []
    for s in lambdas:
        eta = np.array([np.interp(s, knots, col[::-1]) for col in links.T])
        prob = np.clip(1 / (1 + np.exp(-eta)), 1e-5, 1 - 1e-5)
        out.append(np.mean(-2 * (y * np.log(prob) + (1 - y) * np.log(1 - prob))))
    return np.array(out)


@pytest.mark.parametrize("fold_lambdas", ["own", "shared"])
def test_fold_measures_equal_separate_fold_fits(fold_lambdas: str) -> None:
    """Each fold's curve equals a separate fit on its training rows: on the fold's own default
    sequence, interpolated at the full-data lambdas (cv.glmnet 4.1), or on the full sequence."""
    X, y = _synthetic(240, 40, seed=9, family="binomial")
    fold = np.arange(240) % 4
    cv = cv_lasso(X, y, fold, fold_lambdas=fold_lambdas)
    for k in range(4):
        train = fold != k
        if fold_lambdas == "own":
            alone = lasso_path(X[train], y[train])
            assert alone.lambdas[0] != cv.lambdas[0]
        else:
            alone = lasso_path(X[train], y[train], lambdas=cv.lambdas)
        expected = _held_out_deviance(alone, X[~train], y[~train], cv.lambdas)
        np.testing.assert_allclose(cv.fold_measure[k], expected, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "polish"), [("binomial", True), ("gaussian", True), ("binomial", False)]
)
def test_torch_fista_matches_coordinate_descent(family: str, polish: bool) -> None:
    """The batched FISTA solver (torch, CPU here) finds the same solutions and lambda.min."""
    pytest.importorskip("torch")
    from polface.models.lasso.fista import cv_lasso_torch, lasso_path_torch

    X, y = _synthetic(200, 30, seed=4, family=family)
    fold = np.arange(200) % 5
    rule = EarlyStop()
    opts = {"early_stop": rule, "nlambda": 40}
    tight = cv_lasso(X, y, fold, family, control=GlmnetControl(thresh=1e-13), **opts)
    exact = cv_lasso(X, y, fold, family, **opts)
    fista = cv_lasso_torch(X, y, fold, family, polish=polish, **opts)
    assert len(fista.lambdas) == len(exact.lambdas)
    assert fista.index_min == exact.index_min
    # without polishing X is stored as float32, which moves lambda_max by a few ulp of float32
    np.testing.assert_allclose(fista.lambdas, exact.lambdas, rtol=1e-12 if polish else 1e-5)
    np.testing.assert_allclose(fista.path.beta, tight.path.beta, rtol=0, atol=1e-3)
    np.testing.assert_allclose(fista.path.a0, tight.path.a0, rtol=0, atol=1e-3)
    scale = max(1.0, y.std())
    np.testing.assert_allclose(fista.path.beta, exact.path.beta, rtol=0, atol=1e-3 * scale)
    np.testing.assert_allclose(fista.cvm, exact.cvm, rtol=1e-3)
    path = lasso_path_torch(X, y, family, nlambda=20, polish=polish)
    ref = lasso_path(X, y, family, nlambda=20, control=GlmnetControl(thresh=1e-13))
    assert len(path.lambdas) == len(ref.lambdas)
    np.testing.assert_allclose(path.beta, ref.beta, rtol=0, atol=1e-3)


def _solver_steps(
    Xs: np.ndarray, y: np.ndarray, fold: np.ndarray, steps: int, only: int | None = None
) -> list:
    """The exact solver's state after each of the first ``steps`` lambdas of the full-data
    sequence, for the full data and every fold of ``fold`` (standardised copy ``Xs`` given):
    one list per step of each problem's bytes. With ``only``, that problem alone runs."""
    from polface.models.lasso.driver import CDSolver
    from polface.models.lasso.options import PathOptions
    from polface.models.lasso.problem import lambda_sequence, make_settings, setup

    n, p = Xs.shape
    labels = np.unique(fold)
    train = np.vstack([np.ones(n, dtype=bool)] + [fold != f for f in labels])
    xs = np.sqrt(np.einsum("ij,ij->j", Xs, Xs, dtype=np.float64) / n)
    path = PathOptions(
        nlambda=100,
        lambda_min_ratio=None,
        lambdas=None,
        dfmax=None,
        pmax=None,
        type_gaussian=None,
        control=None,
    )
    st = make_settings("binomial", n, p, path)
    pr = setup(Xs, y, train, "binomial", xs)
    sol = CDSolver(pr, st)
    lams = lambda_sequence(float(sol.GA[0].max()), steps + 1, 0.05, st.ctl.eps)
    K = train.shape[0]
    running = np.ones(K, dtype=np.bool_) if only is None else np.arange(K) == only
    states = []
    for i in range(1, steps + 1):
        lam = np.full(K, lams[i])
        sol.step(lam, np.full(K, lams[i - 1]), running)
        state = (sol.BETA, sol.B0, sol.ETA, sol.OUT, sol.R)
        states.append([b"".join(a[k].tobytes() for a in state) for k in range(K)])
    return states


def test_a_problem_stepped_alone_has_the_bits_of_the_lockstep() -> None:
    """One running problem (a path, the last of a CV) is stepped serially without a parallel
    region, several in parallel: the same kernel per problem gives the same bits."""
    X, y = _synthetic(263, 41, seed=23, family="binomial")
    Xs, _, _ = standardise(X, np.float64)
    fold = np.arange(263) % 4
    together = _solver_steps(Xs, y, fold, 12)
    for k in (0, 2):
        alone = _solver_steps(Xs, y, fold, 12, only=k)
        assert [step[k] for step in alone] == [step[k] for step in together]


def test_path_options_from_keywords() -> None:
    """The public functions' keywords become PathOptions by name (one constructor for all)."""
    from polface.models.lasso.options import PathOptions

    keywords = {"nlambda": 7, "lambda_min_ratio": 0.1, "lambdas": None, "dfmax": 3, "pmax": 9}
    keywords |= {"control": None, "X": np.zeros(2), "polish": True}
    assert PathOptions.from_keywords(keywords) == PathOptions(7, 0.1, None, 3, 9, None, None)
    assert PathOptions.from_keywords(keywords | {"type_gaussian": "naive"}).type_gaussian == "naive"
    del keywords["pmax"]
    with pytest.raises(TypeError, match="pmax"):
        PathOptions.from_keywords(keywords)


def test_float32_storage_sums_in_float64() -> None:
    """A float32 standardised copy gives the very bits of its exact float64 image: every
    product and sum of the kernels is float64 (the float32 values only enter as operands)."""
    X, y = _synthetic(251, 37, seed=21, family="binomial")  # 251 rows: not a multiple of 32
    Xs, _, _ = standardise(X, np.float32)
    assert Xs.dtype == np.float32 and Xs.flags.f_contiguous
    fold = np.arange(251) % 5
    wide = np.asfortranarray(Xs.astype(np.float64))
    assert _solver_steps(Xs, y, fold, 12) == _solver_steps(wide, y, fold, 12)


@pytest.mark.parametrize(("family", "n", "p"), [("binomial", 700, 90), ("gaussian", 120, 300)])
def test_float32_features_fit_exactly_from_their_own_values(family: str, n: int, p: int) -> None:
    """Float32 features fitted from X's own float32 values (standardised inside the float64
    sums) give the fit of their exact float64 image through glmnet's standardised copy: the
    same lambdas, the same nonzero set at every lambda and the same lambda.min, coefficients,
    CV curve and held-out predictions to rounding (1e-12), reruns the same bits."""
    X, y = _synthetic(n, p, seed=31, family=family)
    X32 = X.astype(np.float32)  # columns with nonzero means and unequal SDs
    fold = np.arange(n) % 5
    exact = cv_lasso(X32.astype(np.float64), y, fold, family)
    single = cv_lasso(X32, y, fold, family, dtype=np.float32)
    np.testing.assert_allclose(single.lambdas, exact.lambdas, rtol=1e-13)
    assert single.index_min == exact.index_min and single.index_1se == exact.index_1se
    np.testing.assert_array_equal(single.path.beta != 0, exact.path.beta != 0)
    scale = max(1.0, float(np.abs(exact.path.beta).max()))
    np.testing.assert_allclose(single.path.beta, exact.path.beta, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(single.path.a0, exact.path.a0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(single.cvm, exact.cvm, rtol=1e-12)
    np.testing.assert_allclose(single.oof_link, exact.oof_link, rtol=1e-12, atol=1e-12)
    again = cv_lasso(X32, y, fold, family, dtype=np.float32)
    assert again.path.beta.tobytes() == single.path.beta.tobytes()
    assert again.cvm.tobytes() == single.cvm.tobytes()
    # the path alone, and X left as it was (a float32 copy, not X itself, was fitted)
    kept = X32.copy()
    path = lasso_path(X32, y, family, dtype=np.float32)
    assert np.array_equal(X32, kept)
    np.testing.assert_allclose(path.beta, exact.path.beta, rtol=0, atol=1e-12 * scale)
    # float64 features stored as float32: the fit is that of X rounded to float32
    rounded = lasso_path(X, y, family, dtype=np.float32)
    assert rounded.beta.tobytes() == path.beta.tobytes()
    # with overwrite_x a Fortran-ordered float32 X is the stored copy itself, values unchanged
    F = np.asfortranarray(X32)
    stored, xm, xs = standardise(F, np.float32, overwrite=True, implicit=True)
    assert stored is F and np.array_equal(F, X32)
    assert np.array_equal(xm, X32.mean(axis=0, dtype=np.float64))
    np.testing.assert_allclose(xs, X32.astype(np.float64).std(axis=0), rtol=1e-14)


def test_sums_do_not_depend_on_memory_alignment() -> None:
    """The same standardised X at an address 8 bytes off (not aligned to any SIMD width) gives
    the same bits: the partial sums fix the order of every addition."""
    X, y = _synthetic(263, 41, seed=22, family="binomial")
    Xs, _, _ = standardise(X, np.float64)
    n, p = Xs.shape

    def at_address(residue: int) -> np.ndarray:
        # a Fortran-ordered n x p array whose address is `residue` bytes past a 64-byte boundary
        buffer = np.zeros(n * p + 8)
        start = ((residue - buffer.ctypes.data) % 64) // 8
        return buffer[start : start + n * p].reshape(p, n).T

    shifted = [at_address(residue) for residue in (0, 8, 24)]
    assert [a.ctypes.data % 64 for a in shifted] == [0, 8, 24]
    for a in shifted:
        a[...] = Xs
        assert a.flags.f_contiguous
    fold = np.arange(n) % 4
    first = _solver_steps(shifted[0], y, fold, 12)
    for a in shifted[1:]:
        assert _solver_steps(a, y, fold, 12) == first


def test_large_fits_show_progress_per_lambda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A fit over many cells shows one bar step per lambda; a small one stays quiet."""
    from polface.models.lasso import driver

    X, y = _synthetic(200, 20, seed=3, family="binomial")
    fold = np.arange(200) % 5
    quiet = cv_lasso(X, y, fold, nlambda=20)
    assert "lasso:" not in capsys.readouterr().err
    monkeypatch.setattr(driver, "PROGRESS_CELLS", X.size)
    shown = cv_lasso(X, y, fold, nlambda=20)
    err = capsys.readouterr().err
    assert "lasso: 6 paths over 200 x 20" in err
    # the paths stop before the 20th lambda (glmnet's rules); the bar ends where the last one did
    done = int(re.findall(r"(\d+)/20", err)[-1])
    assert len(shown.lambdas) <= done < 20
    # the bar changes nothing
    assert shown.path.beta.tobytes() == quiet.path.beta.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_standardising_in_place_gives_the_bits_of_a_copy(dtype: type) -> None:
    """A Fortran-ordered X of the copy's type is standardised in place (no second matrix), with
    the bits of the copy made from the C-ordered rows (the fit's memory halves, nothing else
    changes); the column means do not depend on the memory order."""
    X, y = _synthetic(333, 29, seed=23, family="binomial")
    X = X.astype(dtype)
    copied, xm, xs = standardise(X, dtype)
    assert np.array_equal(xm, X.mean(axis=0, dtype=np.float64))  # numpy's C-order sums
    F = np.asfortranarray(X)
    address = F.ctypes.data
    inplace, xm_f, xs_f = standardise(F, dtype, overwrite=True)
    assert inplace.ctypes.data == address  # the very array, overwritten
    for a, b in ((inplace, copied), (xm_f, xm), (xs_f, xs)):
        assert a.tobytes() == b.tobytes()
    # without overwrite, or in another type, X is left alone
    G = np.asfortranarray(X)
    standardise(G, np.float64 if dtype is np.float32 else np.float32, overwrite=True)
    assert np.array_equal(G, X)
    fold = np.arange(333) % 5
    a = cv_lasso(X, y, fold, dtype=dtype)
    b = cv_lasso(np.asfortranarray(X), y, fold, dtype=dtype, overwrite_x=True)
    assert a.path.beta.tobytes() == b.path.beta.tobytes()
    assert a.cvm.tobytes() == b.cvm.tobytes()
    assert np.array_equal(a.oof_link, b.oof_link, equal_nan=True)


#: Run by each of two processes started together: a small CV through the kernels of a fresh copy
#: of the package, printing the compilations each kernel made (numba's cache misses) and the fit.
TWO_JOBS = """
import json
import numpy as np
from polface.models.lasso import cv_lasso, kernels

rng = np.random.default_rng(5)
X = np.asfortranarray(rng.normal(size=(300, 12)))
y = (X[:, 0] + rng.normal(size=300) > 0).astype(float)
fit = cv_lasso(X, y, foldid=np.arange(300) % 4, family="binomial", n_threads=2)
names = ("step_one", "step_all", "moments", "gradients", "permute_rows", "column_sums_by_column")
misses = {n: sum(getattr(kernels, n).kernel.stats.cache_misses.values()) for n in names}
print(json.dumps({"misses": misses, "beta": fit.path.beta.tolist()}))
"""


@pytest.mark.slow
def test_two_jobs_started_together_compile_the_kernels_once(tmp_path):
    """Fold jobs start together with an empty numba cache (a new checkout): one compiles each
    kernel under the lock, the other waits and loads it from the cache, so each kernel is
    compiled once in all (about 13 CPU-s saved per extra job); and step_all's problems call the
    one compiled step_one (an unsigned prange index used to compile a second)."""
    shutil.copytree(
        Path(__file__).parents[1] / "scripts" / "polface",
        tmp_path / "polface",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_NUM_THREADS": "2"}
    env.pop("NUMBA_CACHE_DIR", None)
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_JOBS], cwd=tmp_path, env=env, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [json.loads(job.communicate(timeout=600)[0]) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0]
    assert outputs[0]["beta"] == outputs[1]["beta"]
    for name in outputs[0]["misses"]:
        assert sum(out["misses"][name] for out in outputs) == 1, (name, outputs)

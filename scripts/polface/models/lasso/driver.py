"""L1-penalised logistic and linear regression with glmnet's objective, path and CV conventions.

This is an independent implementation of the algorithm published in Friedman, Hastie & Tibshirani
(2010), *Regularization paths for generalized linear models via coordinate descent*, J Stat Softw
33(1), with the sequential strong rules of Tibshirani et al. (2012), JRSS-B 74(2), and the
conventions documented for R's ``glmnet``/``cv.glmnet`` (4.1) and ``glmnet.control``:

* objective ``-(1/n) sum loglik + lambda * ||beta||_1`` (observation weights 1/n), columns
  standardised with the population SD, unpenalised intercept, coefficients reported on the
  original scale;
* lambda sequence: ``lambda_max`` = the smallest lambda with all coefficients zero on the
  standardised scale, ``nlambda`` log-spaced values down to ``lambda_min_ratio * lambda_max``
  (0.01 when n < p, else 1e-4); the first value is ``+inf`` internally (``big``) and reported by
  log-linear extrapolation, as R does; for ``gaussian`` the response is standardised for the
  lambda scale and lambdas are reported on the response's scale;
* path stops (only for a computed sequence, from the ``mnlam``-th lambda on): deviance ratio above
  ``devmax``, its change below ``fdev`` (binomial: absolute; gaussian: relative to the ratio), or
  more than ``dfmax`` nonzero coefficients; more than ``pmax`` variables ever active ends the path
  before that lambda;
* per lambda: outer loop of quadratic approximations (IRLS; fitted probabilities clamped to
  ``[pmin, 1 - pmin]``), inner cyclic coordinate descent over the strong set, then over the active
  set until the largest weighted squared change ``xv_j * d_j^2`` is below ``thresh * dev0``
  (``dev0`` the null deviance per observation weight, 1 for the standardised gaussian response),
  then a KKT check of every variable outside the strong set; warm starts down the path;
* gaussian: glmnet's default "covariance" algorithm (p < 500) visits every variable in each full
  pass, its "naive" one only the strong set; both start each new lambda with active-set passes
  once the active set has been iterated on (their iterates are reproduced with naive updates);
* ``cv_lasso`` reproduces ``cv.glmnet(foldid = ...)`` of glmnet 4.1: the lambda sequence of the
  full data; every fold fitted on its own default sequence and its held-out predictions
  interpolated linearly at the full-data lambdas (as ``predict.glmnet(s = ...)``); held-out
  binomial deviance (probabilities clipped to ``[1e-5, 1 - 1e-5]``) or
  squared error, fold means averaged with the fold sizes as weights, ``cvsd``, ``lambda.min`` and
  ``lambda.1se``; the model is the full-data path.

All problems of one CV (the full data and every fold) are solved in lockstep, one lambda at a
time, in parallel over the cores (numba ``prange``); a fold is a set of observation weights over
one shared standardised copy of X, and each fold's own standardisation is applied implicitly as
``(Xs - c) / s``, so no per-fold copy of X is made (``dtype=np.float32`` stores that copy in
single precision; sums are always accumulated in float64). The kernels' dot products are
reassociated (vectorised) sums: results are deterministic for a given build and agree with R's
Fortran to about 1e-15 on the test problems. The optional early stop (:class:`EarlyStop`) ends
every path once the mean held-out measure has stayed above its running minimum (by more than a
tolerance) for ``patience`` consecutive lambdas; the final model is the same whenever the curve
does not fall to a new minimum after such a run.

numba caches the compiled kernels beside this file (``cache=True``), or in its user-wide cache
directory where that is not writable (``NUMBA_CACHE_DIR`` overrides both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "CVResult",
    "EarlyStop",
    "Family",
    "GlmnetControl",
    "LassoPath",
    "cv_lasso",
    "lambda_max",
    "lasso_path",
]

Family = Literal["binomial", "gaussian"]

# status codes of one problem at one lambda
_OK = 0
_MAXIT = 1
_PMAX = 2
_SATURATED = 3


@dataclass(frozen=True)
class GlmnetControl:
    """Internal parameters, with the defaults of R's ``glmnet.control()`` and ``glmnet()``.

    Attributes:
        thresh: convergence threshold of coordinate descent (``glmnet(thresh = 1e-7)``).
        maxit: maximum number of coordinate-descent passes per lambda (``glmnet(maxit = 1e5)``).
        fdev: minimum change of the deviance ratio between lambdas before the path stops.
        devmax: the path stops once the deviance ratio exceeds this.
        eps: smallest ``lambda_min_ratio`` allowed.
        big: the "infinite" first lambda of a computed sequence.
        mnlam: minimum number of lambdas before the deviance rules can stop the path.
        pmin: fitted probabilities are clamped to ``[pmin, 1 - pmin]``.
        exmx: linear predictors are clamped to ``[-exmx, exmx]`` before the logistic function.
    """

    thresh: float = 1e-7
    maxit: int = 100_000
    fdev: float = 1e-5
    devmax: float = 0.999
    eps: float = 1e-6
    big: float = 9.9e35
    mnlam: int = 5
    pmin: float = 1e-9
    exmx: float = 250.0


@dataclass(frozen=True)
class EarlyStop:
    """Stop every CV path once the mean held-out deviance has clearly passed its minimum.

    After each lambda the mean CV deviance ``cvm`` is compared with its running minimum ``best``;
    the lambda counts as *risen* when ``cvm > best + tol * |best|``. All paths (folds and the full
    data) stop after ``patience`` consecutive risen lambdas. A lambda that is not risen resets the
    count. ``tol >= 0`` makes the rule more conservative (it stops later, never earlier).
    """

    patience: int = 10
    tol: float = 0.0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"EarlyStop.patience must be >= 1, got {self.patience}")
        if self.tol < 0:
            raise ValueError(f"EarlyStop.tol must be >= 0, got {self.tol}")


@dataclass(frozen=True)
class LassoPath:
    """A fitted regularisation path, coefficients on the original scale of X (and y).

    Attributes:
        family: ``"binomial"`` or ``"gaussian"``.
        lambdas: the lambda values, shape (L,), decreasing.
        a0: intercepts, shape (L,).
        beta: coefficients, shape (L, p) (dense).
        dev_ratio: fraction of (null) deviance explained, shape (L,).
        null_dev: null deviance (binomial: ``2 * n`` times the mean negative log-likelihood of the
            intercept-only model, as R reports ``nulldev``; gaussian: the total sum of squares).
        df: number of nonzero coefficients, shape (L,).
        stop_reason: why the path ended (``"nlambda"``, ``"fdev"``, ``"devmax"``, ``"dfmax"``,
            ``"pmax"``, ``"saturated"``, ``"maxit"`` or ``"early_stop"``).
    """

    family: Family
    lambdas: np.ndarray
    a0: np.ndarray
    beta: np.ndarray
    dev_ratio: np.ndarray
    null_dev: float
    df: np.ndarray
    stop_reason: str

    def link(self, X: np.ndarray, step: int) -> np.ndarray:
        """Linear predictor ``a0 + X @ beta`` at path index ``step`` for new rows X (n, p)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.beta.shape[1]:
            raise ValueError(f"X must have shape (n, {self.beta.shape[1]}), got {X.shape}")
        b = self.beta[step]
        nz = np.flatnonzero(b)
        return self.a0[step] + X[:, nz].astype(np.float64) @ b[nz]

    def predict(self, X: np.ndarray, step: int) -> np.ndarray:
        """Response: probability of class 1 (binomial) or the fitted mean (gaussian)."""
        eta = self.link(X, step)
        if self.family == "binomial":
            return 1.0 / (1.0 + np.exp(-eta))
        return eta

    def coef(self, step: int) -> tuple[float, np.ndarray]:
        """Intercept and coefficient vector at path index ``step``."""
        return float(self.a0[step]), self.beta[step].copy()


@dataclass(frozen=True)
class CVResult:
    """Cross-validation in the manner of ``cv.glmnet(foldid = ...)``.

    Attributes:
        path: the full-data path (the final model); its length equals ``len(lambdas)``.
        lambdas: the lambda sequence (of the full data), truncated where the paths stopped.
        cvm: mean held-out deviance (binomial) or mean squared error (gaussian), shape (L,).
        cvsd: its standard error estimate, shape (L,).
        fold_measure: per-fold mean held-out measure, shape (K, L).
        fold_weights: number of held-out observations per fold, shape (K,).
        index_min: index of ``lambda_min``; index_1se: index of ``lambda_1se``.
        lambda_min: the largest lambda with the smallest ``cvm``.
        lambda_1se: the largest lambda with ``cvm <= cvm[index_min] + cvsd[index_min]``.
        stopped_early: whether :class:`EarlyStop` ended the paths.
        oof_link: (n,) held-out linear predictor of every row at ``lambda_min`` from the fold
            model that did not see it (cv.glmnet's ``fit.preval`` column of lambda.min, on the
            link scale; gaussian: the prediction itself).
    """

    path: LassoPath
    lambdas: np.ndarray
    cvm: np.ndarray
    cvsd: np.ndarray
    fold_measure: np.ndarray
    fold_weights: np.ndarray
    index_min: int
    index_1se: int
    lambda_min: float
    lambda_1se: float
    stopped_early: bool
    oof_link: np.ndarray

    def link(
        self, X: np.ndarray, s: Literal["lambda.min", "lambda.1se"] = "lambda.min"
    ) -> np.ndarray:
        """Linear predictor of the full-data model at ``lambda.min`` or ``lambda.1se``."""
        return self.path.link(X, self._index(s))

    def predict(
        self, X: np.ndarray, s: Literal["lambda.min", "lambda.1se"] = "lambda.min"
    ) -> np.ndarray:
        """Probability (binomial) or fitted mean (gaussian) at ``lambda.min`` or ``lambda.1se``."""
        return self.path.predict(X, self._index(s))

    def _index(self, s: str) -> int:
        if s == "lambda.min":
            return self.index_min
        if s == "lambda.1se":
            return self.index_1se
        raise ValueError(f"s must be 'lambda.min' or 'lambda.1se', got {s!r}")


# ----------------------------------------------------------------------------------------------
# compiled kernels
#
# No "reassoc" fast-math: with it LLVM vectorises the reductions with a prologue that depends on
# the arrays' memory alignment, so the last bit of a sum could differ between two runs of the same
# job (seen once in four SLURM-vs-local comparisons). Results must be identical on rerun.


@njit(cache=True, nogil=True, fastmath={"contract"})
def _intercept_step(r, v, b0, xmz):  # pragma: no cover - compiled
    """Newton step of the unpenalised intercept (binomial); returns its weighted squared change."""
    sr = 0.0
    for i in range(r.shape[0]):
        sr += r[i]
    d = sr / xmz
    if d == 0.0:
        return 0.0
    b0[0] += d
    for i in range(r.shape[0]):
        r[i] -= d * v[i]
    return xmz * d * d


@njit(cache=True, nogil=True, fastmath={"contract"})
def _coordinate(X, j, c_j, s_j, r, v, beta, xv_j, lam):  # pragma: no cover - compiled
    """One soft-thresholded coordinate update of variable j; returns the change of beta[j]."""
    n = X.shape[0]
    acc = 0.0
    sr = 0.0
    for i in range(n):
        ri = r[i]
        acc += ri * X[i, j]
        sr += ri
    gk = (acc - c_j * sr) / s_j
    bk = beta[j]
    u = gk + xv_j * bk
    au = abs(u) - lam
    bn = 0.0
    if au > 0.0:
        bn = math.copysign(au, u) / xv_j
    d = bn - bk
    if d == 0.0:
        return 0.0
    beta[j] = bn
    f = d / s_j
    for i in range(n):
        r[i] -= f * v[i] * (X[i, j] - c_j)
    return d


@njit(cache=True, nogil=True, fastmath={"contract"})
def _linear_predictor(X, c, s, beta, b0, act, nin, eta):  # pragma: no cover - compiled
    """eta = b0 + sum over active j of beta_j (X_j - c_j) / s_j, for every row."""
    n = X.shape[0]
    off = b0
    for li in range(nin):
        j = act[li]
        if beta[j] != 0.0:
            off -= beta[j] * c[j] / s[j]
    for i in range(n):
        eta[i] = off
    for li in range(nin):
        j = act[li]
        bj = beta[j]
        if bj != 0.0:
            f = bj / s[j]
            for i in range(n):
                eta[i] += f * X[i, j]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _solve_lambda(
    X, y, w, c, s, ju, lam, lam_prev, gaussian, screen, shr, pmin, exmx, maxit, nx,
    beta, b0, eta, r, v, xv, ga, strong, slist, mm, act, bs, ivec, out,
):  # pragma: no cover - compiled  # fmt: skip
    """Solve one problem at one lambda from its warm start (state arrays are updated in place).

    ivec holds [nin, nstrong, active loop has run]; out receives
    [status, train_dev, npass, nnz, xmz].
    """
    n, p = X.shape
    nin = ivec[0]
    # sequential strong rule: add j when |gradient at previous solution| > 2 lam - lam_prev
    tlam = 2.0 * lam - lam_prev
    if not screen:
        tlam = -1.0
    for j in range(p):
        if strong[j] == 0 and ju[j] and ga[j] > tlam:
            strong[j] = 1
    ns = 0
    for j in range(p):
        if strong[j]:
            slist[ns] = j
            ns += 1
    vmin = (1.0 + pmin) * pmin * (1.0 - pmin)
    status = _OK
    npass = 0
    xmz = 0.0
    for i in range(n):
        xmz += v[i]
    # gaussian (as glmnet's elnet): once the active-set loop has run on an earlier lambda,
    # each new lambda starts with active-set passes before the first full pass
    skip_full = gaussian and ivec[2] == 1
    while True:
        b0s = b0[0]
        for li in range(nin):
            bs[act[li]] = beta[act[li]]
        for li in range(ns):
            j = slist[li]
            if gaussian and xv[j] > 0.0:
                continue
            cj = c[j]
            acc = 0.0
            for i in range(n):
                dx = X[i, j] - cj
                acc += v[i] * dx * dx
            xv[j] = acc / (s[j] * s[j])
        # coordinate descent: full passes over the strong set, inner passes over the active set
        overflow = False
        while True:
            if skip_full:
                skip_full = False
            else:
                npass += 1
                dlx = 0.0
                for li in range(ns):
                    j = slist[li]
                    d = _coordinate(X, j, c[j], s[j], r, v, beta, xv[j], lam)
                    if d == 0.0:
                        continue
                    dlx = max(dlx, xv[j] * d * d)
                    if mm[j] == 0:
                        nin += 1
                        if nin > nx:
                            overflow = True
                            break
                        mm[j] = nin
                        act[nin - 1] = j
                if overflow:
                    break
                if not gaussian:
                    dlx = max(dlx, _intercept_step(r, v, b0, xmz))
                if dlx < shr:
                    break
                if npass > maxit:
                    break
            ivec[2] = 1
            while True:
                npass += 1
                dlx = 0.0
                for li in range(nin):
                    j = act[li]
                    d = _coordinate(X, j, c[j], s[j], r, v, beta, xv[j], lam)
                    if d == 0.0:
                        continue
                    dlx = max(dlx, xv[j] * d * d)
                if not gaussian:
                    dlx = max(dlx, _intercept_step(r, v, b0, xmz))
                if dlx < shr or npass > maxit:
                    break
            if npass > maxit:
                break
        if overflow:
            status = _PMAX
            break
        if npass > maxit:
            status = _MAXIT
            break
        converged = True
        if not gaussian:
            # new quadratic approximation at the current coefficients
            _linear_predictor(X, c, s, beta, b0[0], act, nin, eta)
            xmz = 0.0
            for i in range(n):
                wi = w[i]
                if wi > 0.0:
                    e = min(max(eta[i], -exmx), exmx)
                    q = 1.0 / (1.0 + math.exp(-e))
                    if q < pmin:
                        q = pmin
                    elif q > 1.0 - pmin:
                        q = 1.0 - pmin
                    v[i] = wi * q * (1.0 - q)
                    r[i] = wi * (y[i] - q)
                    xmz += v[i]
                else:
                    v[i] = 0.0
                    r[i] = 0.0
            if xmz <= vmin:
                status = _SATURATED
                break
            if xmz * (b0[0] - b0s) ** 2 >= shr:
                converged = False
            else:
                for li in range(nin):
                    j = act[li]
                    dj = beta[j] - bs[j]
                    if xv[j] * dj * dj >= shr:
                        converged = False
                        break
        if not converged:
            continue
        # KKT check of every variable outside the strong set
        sr = 0.0
        for i in range(n):
            sr += r[i]
        violated = False
        for j in range(p):
            if strong[j] or not ju[j]:
                continue
            acc = 0.0
            for i in range(n):
                acc += r[i] * X[i, j]
            g = abs(acc - c[j] * sr) / s[j]
            ga[j] = g
            if g > lam:
                strong[j] = 1
                violated = True
        if not violated:
            break
        ns = 0
        for j in range(p):
            if strong[j]:
                slist[ns] = j
                ns += 1
    ivec[0] = min(nin, nx)
    ivec[1] = ns
    # linear predictor of every row (held-out rows included) and the training deviance
    if gaussian or status != _OK:
        _linear_predictor(X, c, s, beta, b0[0], act, ivec[0], eta)
    train = 0.0
    for i in range(n):
        wi = w[i]
        if wi <= 0.0:
            continue
        e = eta[i]
        if gaussian:
            res = y[i] - e
            train += wi * res * res
        else:
            q = 1.0 / (1.0 + math.exp(-min(max(e, -exmx), exmx)))
            q = min(max(q, pmin), 1.0 - pmin)
            if y[i] > 0.0:
                train -= wi * y[i] * math.log(q)
            if y[i] < 1.0:
                train -= wi * (1.0 - y[i]) * math.log(1.0 - q)
    nnz = 0
    for li in range(ivec[0]):
        if beta[act[li]] != 0.0:
            nnz += 1
    out[0] = status
    out[1] = train
    out[2] = npass
    out[3] = nnz
    out[4] = xmz


@njit(cache=True, parallel=True)
def _step_all(
    X, Y, W, C, S, JU, lam, lam_prev, run, gaussian, screen, shr, pmin, exmx, maxit, nx,
    BETA, B0, ETA, R, V, XV, GA, STRONG, SLIST, MM, ACT, BS, IVEC, OUT,
):  # pragma: no cover - compiled  # fmt: skip
    """Advance every running problem k by one lambda, in parallel over problems."""
    K = Y.shape[0]
    for k in prange(K):
        if run[k]:
            _solve_lambda(
                X, Y[k], W[k], C[k], S[k], JU[k], lam[k], lam_prev[k], gaussian, screen,
                shr[k], pmin, exmx, maxit, nx, BETA[k], B0[k:k + 1], ETA[k], R[k], V[k], XV[k],
                GA[k], STRONG[k], SLIST[k], MM[k], ACT[k], BS[k], IVEC[k], OUT[k],
            )  # fmt: skip


@njit(cache=True, parallel=True)
def _moments(X, W, C, S, JU):  # pragma: no cover - compiled
    """Weighted column means and population SDs of X for every problem (weights sum to 1)."""
    n, p = X.shape
    K = W.shape[0]
    for j in prange(p):
        for k in range(K):
            m = 0.0
            lo = np.inf
            hi = -np.inf
            for i in range(n):
                if W[k, i] > 0.0:
                    x = X[i, j]
                    m += W[k, i] * x
                    lo = min(lo, x)
                    hi = max(hi, x)
            ss = 0.0
            for i in range(n):
                if W[k, i] > 0.0:
                    dx = X[i, j] - m
                    ss += W[k, i] * dx * dx
            C[k, j] = m
            if hi > lo and ss > 0.0:
                S[k, j] = math.sqrt(ss)
                JU[k, j] = True
            else:
                S[k, j] = 1.0
                JU[k, j] = False


@njit(cache=True, parallel=True)
def _gradients(X, R, C, S, JU, GA):  # pragma: no cover - compiled
    """|x_j' r| on each problem's standardised scale, for every problem and column."""
    n, p = X.shape
    K = R.shape[0]
    for j in prange(p):
        for k in range(K):
            if not JU[k, j]:
                GA[k, j] = 0.0
                continue
            acc = 0.0
            sr = 0.0
            for i in range(n):
                acc += R[k, i] * X[i, j]
                sr += R[k, i]
            GA[k, j] = abs(acc - C[k, j] * sr) / S[k, j]


# ----------------------------------------------------------------------------------------------
# Python driver


def _standardise(X: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (Xs, xm, xs): one Fortran-ordered standardised copy and the column moments."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    xm = X.mean(axis=0, dtype=np.float64)
    Xs = np.empty(X.shape, dtype=dtype, order="F")
    np.subtract(X, xm.astype(dtype), out=Xs, casting="same_kind")
    xs = np.sqrt(np.einsum("ij,ij->j", Xs, Xs, dtype=np.float64) / X.shape[0])
    Xs /= np.where(xs > 0, xs, 1.0).astype(dtype)
    return Xs, xm, xs


def _check_y(y: np.ndarray, n: int, family: Family) -> np.ndarray:
    """The response as float64, checked against the family."""
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} values but X has {n} rows")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    if family == "binomial":
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("binomial y must be 0/1")
        if y.min() == y.max():
            raise ValueError("binomial y has only one class")
    elif family != "gaussian":
        raise ValueError(f"family must be 'binomial' or 'gaussian', got {family!r}")
    return y


@dataclass
class _Problems:
    """K problems over one shared standardised X: problem k trains on the rows with W[k] > 0."""

    X: np.ndarray
    Y: np.ndarray  # (K, n) response (gaussian: standardised by each problem's training rows)
    W: np.ndarray  # (K, n) observation weights, summing to 1 over the training rows
    C: np.ndarray  # (K, p) each problem's column centres on the scale of X
    S: np.ndarray  # (K, p) and SDs: its standardised column j is (X_j - C_kj) / S_kj
    JU: np.ndarray  # (K, p) usable (non-constant) columns
    ym: np.ndarray  # (K,) response centre and scale (gaussian; 0 and 1 for binomial)
    ys: np.ndarray
    dev0: np.ndarray  # (K,) null deviance per unit weight (the threshold's scale)
    nk: np.ndarray  # (K,) training rows
    test_rows: list  # held-out row indices per problem
    y: np.ndarray  # (n,) the original response


def _setup(
    Xs: np.ndarray, y: np.ndarray, train: np.ndarray, family: Family, xs: np.ndarray
) -> _Problems:
    """Problem k trains on rows ``train[k]`` (bool, (K, n)); problem 0 must be the full data."""
    K, n = train.shape
    p = Xs.shape[1]
    nk = train.sum(axis=1)
    if np.any(nk < 2):
        raise ValueError("every fit needs at least 2 training rows")
    W = np.where(train, 1.0 / nk[:, None], 0.0)
    C = np.zeros((K, p))
    S = np.ones((K, p))
    JU = np.zeros((K, p), dtype=np.bool_)
    _moments(Xs, W, C, S, JU)
    # the full data is standardised exactly (Xs itself)
    C[0] = 0.0
    S[0] = 1.0
    JU[0] = xs > 0
    Y = np.empty((K, n))
    ym = np.zeros(K)
    ys = np.ones(K)
    dev0 = np.ones(K)
    for k in range(K):
        yt = y[train[k]]
        if family == "gaussian":
            ym[k] = yt.mean()
            ys[k] = math.sqrt(np.mean((yt - ym[k]) ** 2))
            if ys[k] == 0:
                raise ValueError("gaussian y is constant on a training set")
            Y[k] = (y - ym[k]) / ys[k]
        else:
            q0 = yt.mean()
            if q0 <= 0 or q0 >= 1:
                raise ValueError("a binomial training set has only one class")
            Y[k] = y
            dev0[k] = -(q0 * math.log(q0) + (1 - q0) * math.log(1 - q0))
    test_rows = [np.flatnonzero(~train[k]) for k in range(K)]
    return _Problems(Xs, Y, W, C, S, JU, ym, ys, dev0, nk, test_rows, y)


def _lambda_sequence(lmax: float, nlambda: int, ratio: float, eps: float) -> np.ndarray:
    """glmnet's sequence: lmax * alf^(1..L-1) by repeated products, the first extrapolated."""
    if nlambda < 3:
        raise ValueError("nlambda must be at least 3")
    alf = max(eps, ratio) ** (1.0 / (nlambda - 1))
    lam = np.empty(nlambda)
    al = lmax * alf
    lam[1] = al
    for m in range(2, nlambda):
        al = al * alf
        lam[m] = al
    lam[0] = math.exp(2.0 * math.log(lam[1]) - math.log(lam[2]))
    return lam


@dataclass(frozen=True)
class _Settings:
    """Path settings shared by every problem of one fit."""

    family: Family
    nlambda: int
    ratio: float | None
    dfmax: int
    pmax: int
    screen: bool
    ctl: GlmnetControl


@dataclass
class _Track:
    """What one problem has produced so far."""

    lambdas: list = field(default_factory=list)  # reported lambdas (original units)
    b0: list = field(default_factory=list)  # standardised-scale solutions (problem 0 only)
    beta: list = field(default_factory=list)
    dev: list = field(default_factory=list)
    df: list = field(default_factory=list)
    eta_test: list = field(default_factory=list)  # held-out link (original units), folds only
    reason: str = ""


@dataclass
class _CVPlan:
    """How the folds are scored and when the lockstep CV may stop."""

    early: EarlyStop | None
    fold_n: np.ndarray


def _fold_link(track: _Track, s: float) -> np.ndarray:
    """Held-out link of a fold at lambda s: linear interpolation between its neighbouring
    solutions, clamped to its first and last, as ``predict.glmnet(s = ...)`` interpolates."""
    knots = np.asarray(track.lambdas)
    s = min(max(s, knots[-1]), knots[0])
    idx = int(np.argmax(knots <= s))
    if knots[idx] == s or idx == 0:
        return track.eta_test[idx]
    left, right = idx - 1, idx
    frac = (s - knots[right]) / (knots[left] - knots[right])
    return frac * track.eta_test[left] + (1.0 - frac) * track.eta_test[right]


def _fold_measure(pr: _Problems, family: Family, k: int, track: _Track, s: float) -> float:
    """Mean held-out deviance (binomial) or squared error (gaussian) of fold k at lambda s."""
    eta = _fold_link(track, s)
    y = pr.y[pr.test_rows[k]]
    if family == "gaussian":
        return float(np.mean((y - eta) ** 2))
    prob = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-5, 1.0 - 1e-5)
    return float(np.mean(-2.0 * (y * np.log(prob) + (1.0 - y) * np.log(1.0 - prob))))


class _CDSolver:
    """glmnet's coordinate descent for K problems at once (the exact solver).

    The interface :func:`_drive` uses (a batched solver elsewhere provides the same): ``GA``
    (K, p), the |gradient| of each standardised column at the null model; after each
    :meth:`step`, ``OUT`` (K, 5) = [status, training deviance per unit weight, passes,
    nonzeros, sum of IRLS weights], ``B0`` (K,) and ``BETA`` (K, p) on each problem's
    standardised scale, ``ETA`` (K, n) the link of every row on that scale.
    """

    def __init__(self, pr: _Problems, st: _Settings) -> None:
        K, n = pr.Y.shape
        p = pr.X.shape[1]
        self.pr, self.st = pr, st
        gaussian = st.family == "gaussian"
        self.BETA = np.zeros((K, p))
        self.B0 = np.zeros(K)
        self.ETA = np.zeros((K, n))
        self.R = np.zeros((K, n))
        self.V = np.zeros((K, n))
        self.XV = np.zeros((K, p))
        self.GA = np.zeros((K, p))
        self.STRONG = np.zeros((K, p), dtype=np.uint8)
        self.SLIST = np.zeros((K, p), dtype=np.int64)
        self.MM = np.zeros((K, p), dtype=np.int64)
        self.ACT = np.zeros((K, p), dtype=np.int64)
        self.BS = np.zeros((K, p))
        self.IVEC = np.zeros((K, 3), dtype=np.int64)
        self.OUT = np.zeros((K, 5))
        for k in range(K):
            if gaussian:
                self.V[k] = pr.W[k]
                self.R[k] = pr.W[k] * pr.Y[k]
            else:
                q0 = float(pr.W[k] @ pr.Y[k])
                self.B0[k] = math.log(q0 / (1 - q0))
                self.ETA[k] = self.B0[k]
                self.V[k] = pr.W[k] * q0 * (1 - q0)
                self.R[k] = pr.W[k] * (pr.Y[k] - q0)
        _gradients(pr.X, self.R, pr.C, pr.S, pr.JU, self.GA)
        self.shr = st.ctl.thresh * pr.dev0

    def step(self, lam: np.ndarray, prev: np.ndarray, running: np.ndarray) -> None:
        """Solve every running problem at its standardised lambda ``lam`` (warm starts)."""
        pr, st, ctl = self.pr, self.st, self.st.ctl
        # one problem per chunk: the threads share the problems dynamically
        chunk = numba.set_parallel_chunksize(1)
        try:
            _step_all(
                pr.X, pr.Y, pr.W, pr.C, pr.S, pr.JU, lam, prev, running,
                st.family == "gaussian", st.screen, self.shr, ctl.pmin, ctl.exmx, ctl.maxit,
                st.pmax, self.BETA, self.B0, self.ETA, self.R, self.V, self.XV, self.GA,
                self.STRONG, self.SLIST, self.MM, self.ACT, self.BS, self.IVEC, self.OUT,
            )  # fmt: skip
        finally:
            numba.set_parallel_chunksize(chunk)


def _drive(
    pr: _Problems,
    st: _Settings,
    user_lambdas: np.ndarray | None,
    own_folds: bool,
    cv: _CVPlan | None,
    solver: type = _CDSolver,
) -> tuple[list, np.ndarray | None, int | None]:
    """Advance all problems in lockstep, one lambda index at a time, in parallel.

    Problem 0 is the full data; with ``cv`` the others are folds, scored at problem 0's lambdas.
    ``solver`` is a class with :class:`_CDSolver`'s interface. Returns the tracks, the fold
    measures (K - 1, L) and the index where EarlyStop fired.
    """
    K, n = pr.Y.shape
    p = pr.X.shape[1]
    ctl = st.ctl
    gaussian = st.family == "gaussian"
    sol = solver(pr, st)
    GA, OUT, B0, BETA, ETA = sol.GA, sol.OUT, sol.B0, sol.BETA, sol.ETA
    # every problem's lambda sequence (original units) and whether it is glmnet-computed
    seqs: list[np.ndarray] = []
    computed = np.zeros(K, dtype=bool)
    for k in range(K):
        if user_lambdas is not None:
            seqs.append(user_lambdas)
        elif k == 0 or own_folds:
            ratio = st.ratio if st.ratio is not None else (0.01 if pr.nk[k] < p else 1e-4)
            lmax = float(GA[k][pr.JU[k]].max()) if pr.JU[k].any() else 0.0
            seqs.append(_lambda_sequence(lmax, st.nlambda, ratio, ctl.eps) * pr.ys[k])
            computed[k] = True
        else:
            seqs.append(seqs[0])
    lens = np.array([len(q) for q in seqs])
    mnl = min(ctl.mnlam, st.nlambda)
    tracks = [_Track() for _ in range(K)]
    running = np.ones(K, dtype=np.bool_)
    lam0 = seqs[0]
    horizon = len(lam0)
    folds = K - 1
    fold_meas = np.full((folds, horizon), np.nan) if cv is not None else None
    next_m = 0
    best = np.inf
    risen = 0
    stop_m: int | None = None
    for i in range(int(lens.max())):
        running &= i < lens
        if not running.any():
            break
        lam = np.array([seqs[k][min(i, lens[k] - 1)] / pr.ys[k] for k in range(K)])
        if i == 0:
            prev = lam.copy()
            lam[computed] = ctl.big
            prev[computed] = ctl.big
        else:
            prev = np.array([seqs[k][min(i - 1, lens[k] - 1)] / pr.ys[k] for k in range(K)])
        sol.step(lam, prev, running)
        for k in np.flatnonzero(running):
            tr = tracks[k]
            status = int(OUT[k, 0])
            if status in (_MAXIT, _PMAX):
                running[k] = False
                tr.reason = "maxit" if status == _MAXIT else "pmax"
                continue
            dev = 1.0 - OUT[k, 1] / pr.dev0[k]
            tr.lambdas.append(float(seqs[k][i]))
            tr.dev.append(dev)
            tr.df.append(int(OUT[k, 3]))
            if k == 0:
                tr.b0.append(float(B0[0]))
                tr.beta.append(BETA[0].copy())
            elif cv is not None:
                tr.eta_test.append(pr.ym[k] + pr.ys[k] * ETA[k, pr.test_rows[k]])
            if status == _SATURATED:
                running[k] = False
                tr.reason = "saturated"
            elif i + 1 == lens[k]:
                running[k] = False
                tr.reason = "nlambda"
            elif computed[k] and i + 1 >= mnl:
                reason = _glmnet_stop(tr, gaussian, st, ctl)
                if reason:
                    running[k] = False
                    tr.reason = reason
        if cv is None:
            continue
        if not running[0] and stop_m is None:
            horizon = len(tracks[0].lambdas)
        # score every full-data lambda that all folds have passed, and apply the early stop
        while next_m < horizon and stop_m is None:
            s = lam0[next_m]
            if not all(not running[k] or tracks[k].lambdas[-1] <= s for k in range(1, K)):
                break
            for k in range(1, K):
                fold_meas[k - 1, next_m] = _fold_measure(pr, st.family, k, tracks[k], s)
            if cv.early is not None:
                cvm = float(cv.fold_n @ fold_meas[:, next_m] / cv.fold_n.sum())
                best = min(best, cvm)
                risen = risen + 1 if cvm > best + cv.early.tol * abs(best) else 0
                if risen >= cv.early.patience:
                    stop_m = next_m
                    horizon = next_m + 1
                    running[1:] = False
            next_m += 1
        if stop_m is not None and len(tracks[0].lambdas) >= horizon and running[0]:
            running[0] = False
            tracks[0].reason = "early_stop"
        # folds whose path has gone below every lambda still to be scored are not needed
        for k in range(1, K):
            if running[k] and tracks[k].lambdas and tracks[k].lambdas[-1] <= lam0[horizon - 1]:
                running[k] = False
    if cv is not None:
        if stop_m is None:
            horizon = len(tracks[0].lambdas)
        for m in range(next_m, horizon):
            for k in range(1, K):
                fold_meas[k - 1, m] = _fold_measure(pr, st.family, k, tracks[k], lam0[m])
        fold_meas = fold_meas[:, :horizon]
        if stop_m is not None and len(tracks[0].lambdas) > horizon:
            tracks[0].reason = "early_stop"
    return tracks, fold_meas, stop_m


def _glmnet_stop(tr: _Track, gaussian: bool, st: _Settings, ctl: GlmnetControl) -> str:
    """glmnet's path stops after a lambda (checked from the mnlam-th lambda on), or ''."""
    dev = tr.dev[-1]
    prev = tr.dev[-2] if len(tr.dev) > 1 else 0.0
    if tr.df[-1] > st.dfmax:
        return "dfmax"
    if gaussian:
        if dev - prev < ctl.fdev * dev:
            return "fdev"
    elif dev - prev < ctl.fdev:
        return "fdev"
    if dev > ctl.devmax:
        return "devmax"
    return ""


def _set_threads(n_threads: int | None) -> None:
    limit = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(max(1, min(limit, n_threads or limit)))


def _finish_path(
    tr: _Track,
    family: Family,
    xm: np.ndarray,
    xs: np.ndarray,
    pr: _Problems,
    n: int,
    length: int | None = None,
) -> LassoPath:
    """Convert problem 0's recorded standardised solutions to the original scale."""
    L = len(tr.b0) if length is None else length
    safe = np.where(xs > 0, xs, 1.0)
    beta_std = np.array(tr.beta[:L]).reshape(L, -1)
    yscale = float(pr.ys[0])
    beta = beta_std * (yscale / safe)[None, :]
    a0 = np.array(tr.b0[:L]) * yscale + float(pr.ym[0]) - beta @ xm
    if family == "binomial":
        null_dev = 2.0 * n * float(pr.dev0[0])
    else:
        null_dev = n * yscale**2
    return LassoPath(
        family=family,
        lambdas=np.array(tr.lambdas[:L]),
        a0=a0,
        beta=beta,
        dev_ratio=np.array(tr.dev[:L]),
        null_dev=null_dev,
        df=np.array(tr.df[:L], dtype=np.int64),
        stop_reason=tr.reason or "nlambda",
    )


def _settings(
    family: Family,
    n: int,
    p: int,
    nlambda: int,
    lambda_min_ratio: float | None,
    dfmax: int | None,
    pmax: int | None,
    type_gaussian: str | None,
    control: GlmnetControl | None,
) -> _Settings:
    """Check the options and fill in glmnet's defaults."""
    if lambda_min_ratio is not None and not 0 < lambda_min_ratio < 1:
        raise ValueError(f"lambda_min_ratio must be in (0, 1), got {lambda_min_ratio}")
    if nlambda < 3:
        raise ValueError("nlambda must be at least 3")
    dfm = p + 1 if dfmax is None else dfmax
    pmx = min(dfm * 2 + 20, p) if pmax is None else pmax
    return _Settings(
        family=family,
        nlambda=nlambda,
        ratio=lambda_min_ratio,
        dfmax=dfm,
        pmax=pmx,
        screen=_screens(family, p, type_gaussian),
        ctl=control or GlmnetControl(),
    )


def _screens(family: Family, p: int, type_gaussian: str | None) -> bool:
    """Whether full passes are screened by the strong rule (all but gaussian "covariance")."""
    if family != "gaussian":
        return True
    kind = type_gaussian or ("covariance" if p < 500 else "naive")
    if kind not in ("covariance", "naive"):
        raise ValueError(f"type_gaussian must be 'covariance' or 'naive', got {kind!r}")
    return kind == "naive"


def _check_lambdas(lambdas: np.ndarray | None) -> np.ndarray | None:
    if lambdas is None:
        return None
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size < 1 or np.any(lam <= 0) or np.any(np.diff(lam) > 0):
        raise ValueError("lambdas must be positive and non-increasing")
    return lam


def lambda_max(X: np.ndarray, y: np.ndarray, family: Family = "binomial") -> float:
    """The smallest lambda at which every coefficient is zero (glmnet's units)."""
    Xs, _, xs = _standardise(X, np.float64)
    y = _check_y(y, Xs.shape[0], family)
    pr = _setup(Xs, y, np.ones((1, Xs.shape[0]), dtype=bool), family, xs)
    w = pr.W[0]
    r = w * pr.Y[0] if family == "gaussian" else w * (pr.Y[0] - float(w @ pr.Y[0]))
    ga = np.zeros((1, Xs.shape[1]))
    _gradients(Xs, r[None, :], pr.C[:1], pr.S[:1], pr.JU[:1], ga)
    return float(ga[0].max()) * float(pr.ys[0])


def lasso_path(
    X: np.ndarray,
    y: np.ndarray,
    family: Family = "binomial",
    *,
    nlambda: int = 100,
    lambda_min_ratio: float | None = None,
    lambdas: np.ndarray | None = None,
    dfmax: int | None = None,
    pmax: int | None = None,
    type_gaussian: Literal["covariance", "naive"] | None = None,
    control: GlmnetControl | None = None,
    dtype: type = np.float64,
) -> LassoPath:
    """Fit the lasso path as ``glmnet(X, y, family, alpha = 1, standardize = TRUE)``.

    Args:
        X: (n, p) features (float32 or float64), any memory order; one standardised copy is made.
        y: (n,) response, 0/1 for binomial.
        family: ``"binomial"`` or ``"gaussian"``.
        nlambda: length of the computed lambda sequence.
        lambda_min_ratio: smallest lambda as a fraction of lambda_max (default 0.01 if n < p,
            else 1e-4).
        lambdas: a user sequence (original units, decreasing); then no early path stop applies.
        dfmax: stop once more than this many coefficients are nonzero (default p + 1).
        pmax: most variables ever active (default min(2 * dfmax + 20, p)).
        type_gaussian: glmnet's gaussian algorithm (default "covariance" when p < 500, else
            "naive"); both are computed with naive updates, "covariance" reproduces its iterates
            by visiting every variable in each full pass (it has no strong-rule screening).
        control: internal parameters (:class:`GlmnetControl`).
        dtype: storage type of the standardised copy of X (float64, or float32 to halve memory;
            accumulations are always float64).

    Returns:
        The path, coefficients on the original scale.
    """
    return _path(
        X,
        y,
        family,
        nlambda,
        lambda_min_ratio,
        lambdas,
        dfmax,
        pmax,
        type_gaussian,
        control,
        dtype,
        _CDSolver,
    )


def _path(
    X: np.ndarray,
    y: np.ndarray,
    family: Family,
    nlambda: int,
    lambda_min_ratio: float | None,
    lambdas: np.ndarray | None,
    dfmax: int | None,
    pmax: int | None,
    type_gaussian: str | None,
    control: GlmnetControl | None,
    dtype: type,
    solver: type,
) -> LassoPath:
    """:func:`lasso_path` with a given solver class."""
    Xs, xm, xs = _standardise(X, dtype)
    n, p = Xs.shape
    y = _check_y(y, n, family)
    st = _settings(family, n, p, nlambda, lambda_min_ratio, dfmax, pmax, type_gaussian, control)
    pr = _setup(Xs, y, np.ones((1, n), dtype=bool), family, xs)
    tracks, _, _ = _drive(pr, st, _check_lambdas(lambdas), False, None, solver)
    return _finish_path(tracks[0], family, xm, xs, pr, n)


def cv_lasso(
    X: np.ndarray,
    y: np.ndarray,
    foldid: np.ndarray,
    family: Family = "binomial",
    *,
    nlambda: int = 100,
    lambda_min_ratio: float | None = None,
    lambdas: np.ndarray | None = None,
    dfmax: int | None = None,
    pmax: int | None = None,
    type_gaussian: Literal["covariance", "naive"] | None = None,
    fold_lambdas: Literal["own", "shared"] = "own",
    early_stop: EarlyStop | None = None,
    n_threads: int | None = None,
    control: GlmnetControl | None = None,
    dtype: type = np.float64,
) -> CVResult:
    """Cross-validate the lasso path exactly as ``cv.glmnet(X, y, family, foldid = foldid)``.

    As R glmnet 4.1 does, the full-data path (``lasso_path``) gives the lambda sequence and the
    final model, and each fold is fitted on its *own* default lambda sequence (its own
    lambda_max and path stops); its held-out predictions at the full-data lambdas are
    interpolated linearly between its neighbouring solutions (``predict.glmnet(s = lambda)``,
    clamped at the ends). ``fold_lambdas = "shared"`` instead fits every fold on the full-data
    sequence itself. The measure is the mean held-out binomial deviance (``type.measure =
    "deviance"``, probabilities clipped to [1e-5, 1 - 1e-5]) or squared error (gaussian
    ``"mse"``). All paths advance one lambda at a time in parallel over ``n_threads`` cores.

    Args:
        X, y, family, nlambda, lambda_min_ratio, lambdas, dfmax, pmax, type_gaussian, control,
            dtype: as in :func:`lasso_path` (user ``lambdas`` are used by every fold, as in R).
        foldid: (n,) fold labels (any integers; each label is one fold).
        fold_lambdas: ``"own"`` (cv.glmnet 4.1) or ``"shared"`` (see above).
        early_stop: stop all paths once the mean CV measure has clearly passed its minimum
            (:class:`EarlyStop`); ``None`` scores the whole sequence exactly like cv.glmnet.
        n_threads: cores to use (default all that numba sees).

    Returns:
        The CV curve, lambda.min, lambda.1se and the full-data path.
    """
    return _cross_validate(
        X,
        y,
        foldid,
        family,
        nlambda,
        lambda_min_ratio,
        lambdas,
        dfmax,
        pmax,
        type_gaussian,
        fold_lambdas,
        early_stop,
        n_threads,
        control,
        dtype,
        _CDSolver,
    )


def _cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    foldid: np.ndarray,
    family: Family,
    nlambda: int,
    lambda_min_ratio: float | None,
    lambdas: np.ndarray | None,
    dfmax: int | None,
    pmax: int | None,
    type_gaussian: str | None,
    fold_lambdas: str,
    early_stop: EarlyStop | None,
    n_threads: int | None,
    control: GlmnetControl | None,
    dtype: type,
    solver: type,
) -> CVResult:
    """:func:`cv_lasso` with a given solver class."""
    Xs, xm, xs = _standardise(X, dtype)
    n, p = Xs.shape
    y = _check_y(y, n, family)
    foldid = np.asarray(foldid).ravel()
    if foldid.shape[0] != n:
        raise ValueError(f"foldid has {foldid.shape[0]} values but X has {n} rows")
    folds = np.unique(foldid)
    if folds.size < 3:
        raise ValueError("cv needs at least 3 folds (cv.glmnet's minimum)")
    if fold_lambdas not in ("own", "shared"):
        raise ValueError(f"fold_lambdas must be 'own' or 'shared', got {fold_lambdas!r}")
    st = _settings(family, n, p, nlambda, lambda_min_ratio, dfmax, pmax, type_gaussian, control)
    train = np.ones((1 + folds.size, n), dtype=bool)
    for k, f in enumerate(folds):
        train[k + 1] = foldid != f
    _set_threads(n_threads)
    pr = _setup(Xs, y, train, family, xs)
    fold_n = (~train[1:]).sum(axis=1).astype(np.float64)
    tracks, fold_meas, stop_m = _drive(
        pr,
        st,
        _check_lambdas(lambdas),
        fold_lambdas == "own",
        _CVPlan(early_stop, fold_n),
        solver,
    )
    length = fold_meas.shape[1]
    path = _finish_path(tracks[0], family, xm, xs, pr, n, length)
    result = _cv_summary(path, fold_meas, fold_n, stop_m is not None)
    for k in range(1, len(tracks)):
        result.oof_link[pr.test_rows[k]] = _fold_link(tracks[k], result.lambda_min)
    return result


def _cv_summary(
    path: LassoPath, fold_measure: np.ndarray, fold_n: np.ndarray, stopped_early: bool
) -> CVResult:
    """cvm, cvsd, lambda.min and lambda.1se as cv.glmnet computes them (grouped = TRUE)."""
    K = fold_measure.shape[0]
    wts = fold_n / fold_n.sum()
    cvm = wts @ fold_measure
    cvsd = np.sqrt((wts @ (fold_measure - cvm[None, :]) ** 2) / (K - 1))
    lam = path.lambdas
    cvmin = np.min(cvm)
    imin = int(np.flatnonzero(cvm <= cvmin)[0])  # the largest lambda attaining the minimum
    semin = cvm[imin] + cvsd[imin]
    i1se = int(np.flatnonzero(cvm <= semin)[0])
    return CVResult(
        path=path,
        lambdas=lam.copy(),
        cvm=cvm,
        cvsd=cvsd,
        fold_measure=fold_measure,
        fold_weights=fold_n,
        index_min=imin,
        index_1se=i1se,
        lambda_min=float(lam[imin]),
        lambda_1se=float(lam[i1se]),
        stopped_early=stopped_early,
        oof_link=np.full(int(fold_n.sum()), np.nan),
    )

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
* ``cv_lasso`` reproduces ``cv.glmnet(foldid = ...)``: the lambda sequence of the full data, every
  fold fitted on it, held-out binomial deviance (probabilities clipped to ``[1e-5, 1 - 1e-5]``) or
  squared error, fold means averaged with the fold sizes as weights, ``cvsd``, ``lambda.min`` and
  ``lambda.1se``; the model is the full-data path.

All problems of one CV (the full data and every fold) are solved in lockstep, one lambda at a
time, in parallel over the cores (numba ``prange``); a fold is a set of observation weights over
one shared standardised copy of X, and each fold's own standardisation is applied implicitly as
``(Xs - c) / s``, so no per-fold copy of X is made. The optional early stop (:class:`EarlyStop`)
ends every path once the mean held-out deviance has stayed above its running minimum for
``patience`` consecutive lambdas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numba
import numpy as np
from numba import njit, prange

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
        npasses: total coordinate-descent passes.
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
    npasses: int
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
    extra: dict = field(default_factory=dict)

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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _solve_lambda(
    X,
    y,
    w,
    t,
    c,
    s,
    ju,
    lam,
    lam_prev,
    gaussian,
    screen,
    shr,
    pmin,
    exmx,
    maxit,
    nx,
    beta,
    b0,
    eta,
    r,
    v,
    xv,
    ga,
    strong,
    slist,
    mm,
    act,
    bs,
    ivec,
    out,
):  # pragma: no cover - compiled
    """Solve one problem at one lambda from its warm start (state arrays are updated in place).

    ivec holds [nin, nstrong, active loop has run]; out receives
    [status, train_dev, test_sum, npass, nnz, xmz].
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
                    sr = 0.0
                    for i in range(n):
                        sr += r[i]
                    d = sr / xmz
                    if d != 0.0:
                        b0[0] += d
                        dlx = max(dlx, xmz * d * d)
                        for i in range(n):
                            r[i] -= d * v[i]
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
                    sr = 0.0
                    for i in range(n):
                        sr += r[i]
                    d = sr / xmz
                    if d != 0.0:
                        b0[0] += d
                        dlx = max(dlx, xmz * d * d)
                        for i in range(n):
                            r[i] -= d * v[i]
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
    # deviance on the training rows and the held-out measure
    if gaussian or status != _OK:
        _linear_predictor(X, c, s, beta, b0[0], act, ivec[0], eta)
    train = 0.0
    test = 0.0
    for i in range(n):
        e = eta[i]
        if gaussian:
            res = y[i] - e
            train += w[i] * res * res
            test += t[i] * res * res
        else:
            if w[i] > 0.0:
                q = 1.0 / (1.0 + math.exp(-min(max(e, -exmx), exmx)))
                q = min(max(q, pmin), 1.0 - pmin)
                if y[i] > 0.0:
                    train -= w[i] * y[i] * math.log(q)
                if y[i] < 1.0:
                    train -= w[i] * (1.0 - y[i]) * math.log(1.0 - q)
            if t[i] > 0.0:
                q = 1.0 / (1.0 + math.exp(-e))
                q = min(max(q, 1e-5), 1.0 - 1e-5)
                test -= t[i] * 2.0 * (y[i] * math.log(q) + (1.0 - y[i]) * math.log(1.0 - q))
    nnz = 0
    for li in range(ivec[0]):
        if beta[act[li]] != 0.0:
            nnz += 1
    out[0] = status
    out[1] = train
    out[2] = test
    out[3] = npass
    out[4] = nnz
    out[5] = xmz


@njit(cache=True, parallel=True)
def _step_all(
    X,
    Y,
    W,
    T,
    C,
    S,
    JU,
    lam,
    lam_prev,
    run,
    gaussian,
    screen,
    shr,
    pmin,
    exmx,
    maxit,
    nx,
    BETA,
    B0,
    ETA,
    R,
    V,
    XV,
    GA,
    STRONG,
    SLIST,
    MM,
    ACT,
    BS,
    IVEC,
    OUT,
):  # pragma: no cover - compiled
    """Advance every running problem k by one lambda, in parallel over problems."""
    K = Y.shape[0]
    for k in prange(K):
        if run[k]:
            _solve_lambda(
                X,
                Y[k],
                W[k],
                T[k],
                C[k],
                S[k],
                JU[k],
                lam[k],
                lam_prev[k],
                gaussian,
                screen,
                shr[k],
                pmin,
                exmx,
                maxit,
                nx,
                BETA[k],
                B0[k : k + 1],
                ETA[k],
                R[k],
                V[k],
                XV[k],
                GA[k],
                STRONG[k],
                SLIST[k],
                MM[k],
                ACT[k],
                BS[k],
                IVEC[k],
                OUT[k],
            )


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
    safe = np.where(xs > 0, xs, 1.0)
    Xs /= safe.astype(dtype)
    return Xs, xm, xs


def _check_y(y: np.ndarray, n: int, family: Family) -> np.ndarray:
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
    """Lockstep state of K problems over one shared standardised X."""

    X: np.ndarray
    Y: np.ndarray
    W: np.ndarray
    T: np.ndarray
    C: np.ndarray
    S: np.ndarray
    JU: np.ndarray
    ym: np.ndarray
    ys: np.ndarray
    dev0: np.ndarray


def _setup(Xs: np.ndarray, y: np.ndarray, train: np.ndarray, family: Family) -> _Problems:
    """Problem k trains on rows ``train[k]`` (bool, (K, n)) and is tested on the rest."""
    K, n = train.shape
    p = Xs.shape[1]
    nk = train.sum(axis=1)
    if np.any(nk < 2):
        raise ValueError("every fit needs at least 2 training rows")
    W = np.where(train, 1.0 / nk[:, None], 0.0)
    T = (~train).astype(np.float64)
    C = np.zeros((K, p))
    S = np.ones((K, p))
    JU = np.zeros((K, p), dtype=np.bool_)
    _moments(Xs, W, C, S, JU)
    full = train.all(axis=1)
    C[full] = 0.0
    S[full] = 1.0
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
    return _Problems(Xs, Y, W, T, C, S, JU, ym, ys, dev0)


@dataclass
class _Run:
    """What the lockstep driver returns."""

    lam_std: np.ndarray  # (L,) lambdas of problem 0 on its standardised scale
    b0: list
    beta: list
    dev_ratio: list
    df: list
    test: np.ndarray  # (K, L) held-out sums
    npass: int
    stop_reason: str
    stopped_early: bool


def _drive(
    pr: _Problems,
    family: Family,
    lam_orig: np.ndarray,
    computed: bool,
    ctl: GlmnetControl,
    dfmax: int,
    pmax: int,
    early: EarlyStop | None,
    fold_n: np.ndarray | None,
    fold_scale: np.ndarray | None = None,
    screen: bool = True,
) -> _Run:
    """Run all problems in lockstep down ``lam_orig`` (original units); problem 0 is recorded.

    With ``computed`` the first lambda is ``big`` for problem 0 and glmnet's path stops apply
    to problem 0; the other problems (folds) follow problem 0's length. Without ``screen``
    every full coordinate-descent pass visits all variables (no strong-rule screening).
    """
    X = pr.X
    K, n = pr.Y.shape
    p = X.shape[1]
    gaussian = family == "gaussian"
    BETA = np.zeros((K, p))
    B0 = np.zeros(K)
    ETA = np.zeros((K, n))
    R = np.zeros((K, n))
    V = np.zeros((K, n))
    XV = np.zeros((K, p))
    GA = np.zeros((K, p))
    STRONG = np.zeros((K, p), dtype=np.uint8)
    SLIST = np.zeros((K, p), dtype=np.int64)
    MM = np.zeros((K, p), dtype=np.int64)
    ACT = np.zeros((K, p), dtype=np.int64)
    BS = np.zeros((K, p))
    IVEC = np.zeros((K, 3), dtype=np.int64)
    OUT = np.zeros((K, 6))
    for k in range(K):
        if gaussian:
            V[k] = pr.W[k]
            R[k] = pr.W[k] * pr.Y[k]
        else:
            q0 = float(pr.W[k] @ pr.Y[k])
            B0[k] = math.log(q0 / (1 - q0))
            ETA[k] = B0[k]
            V[k] = pr.W[k] * q0 * (1 - q0)
            R[k] = pr.W[k] * (pr.Y[k] - q0)
    _gradients(X, R, pr.C, pr.S, pr.JU, GA)
    shr = ctl.thresh * pr.dev0
    scale = 1.0 / pr.ys  # original lambda -> each problem's standardised lambda
    L = len(lam_orig)
    test = np.zeros((K, L))
    rec_b0: list = []
    rec_beta: list = []
    rec_dev: list = []
    rec_df: list = []
    run = np.ones(K, dtype=np.bool_)
    frozen = np.zeros(K, dtype=np.bool_)
    npass_total = 0
    stop_reason = "nlambda"
    stopped_early = False
    best = np.inf
    risen = 0
    mnl = min(ctl.mnlam, L)
    for m in range(L):
        lam = lam_orig[m] * scale
        if m == 0:
            lam_prev = lam.copy()
            if computed:
                lam[0] = ctl.big
                lam_prev[0] = ctl.big
        else:
            lam_prev = lam_orig[m - 1] * scale
        _step_all(
            X,
            pr.Y,
            pr.W,
            pr.T,
            pr.C,
            pr.S,
            pr.JU,
            lam,
            lam_prev,
            run,
            gaussian,
            screen,
            shr,
            ctl.pmin,
            ctl.exmx,
            ctl.maxit,
            pmax,
            BETA,
            B0,
            ETA,
            R,
            V,
            XV,
            GA,
            STRONG,
            SLIST,
            MM,
            ACT,
            BS,
            IVEC,
            OUT,
        )
        status = OUT[:, 0].astype(int)
        npass_total += int(OUT[0, 3])
        # folds that failed keep their last held-out measure (as cv.glmnet pads predictions)
        for k in range(1, K):
            if frozen[k] or (run[k] and status[k] in (_MAXIT, _PMAX)):
                frozen[k] = True
                run[k] = False
                test[k, m] = test[k, m - 1] if m > 0 else np.nan
            else:
                test[k, m] = OUT[k, 2]
        if status[0] in (_MAXIT, _PMAX):
            stop_reason = "maxit" if status[0] == _MAXIT else "pmax"
            break
        if gaussian:
            dev = 1.0 - OUT[0, 1]
        else:
            dev = 1.0 - OUT[0, 1] / pr.dev0[0]
        rec_b0.append(B0[0])
        rec_beta.append(BETA[0].copy())
        rec_dev.append(dev)
        rec_df.append(int(OUT[0, 4]))
        if status[0] == _SATURATED:
            stop_reason = "saturated"
            break
        if early is not None and fold_n is not None and K > 1:
            cvm = float(np.sum(test[1:, m] * fold_scale) / np.sum(fold_n))
            if cvm < best:
                best = cvm
            if cvm > best + early.tol * abs(best):
                risen += 1
            else:
                risen = 0
            if risen >= early.patience:
                stop_reason = "early_stop"
                stopped_early = True
                break
        if computed and m + 1 >= mnl:
            if rec_df[-1] > dfmax:
                stop_reason = "dfmax"
                break
            if dev > ctl.devmax:
                stop_reason = "devmax"
                break
            prev = rec_dev[-2] if m > 0 else 0.0
            if gaussian:
                if dev - prev < ctl.fdev * dev:
                    stop_reason = "fdev"
                    break
            elif dev - prev < ctl.fdev:
                stop_reason = "fdev"
                break
    nrec = len(rec_b0)
    return _Run(
        lam_std=lam_orig[:nrec] * scale[0],
        b0=rec_b0,
        beta=rec_beta,
        dev_ratio=rec_dev,
        df=rec_df,
        test=test[:, :nrec],
        npass=npass_total,
        stop_reason=stop_reason,
        stopped_early=stopped_early,
    )


def lambda_max(X: np.ndarray, y: np.ndarray, family: Family = "binomial") -> float:
    """The smallest lambda at which every coefficient is zero (original units of glmnet)."""
    Xs, _, xs = _standardise(X, np.float64)
    y = _check_y(y, Xs.shape[0], family)
    pr = _setup(Xs, y, np.ones((1, Xs.shape[0]), dtype=bool), family)
    pr.JU[0] &= xs > 0
    return _lambda_max_std(pr, family) * float(pr.ys[0])


def _lambda_max_std(pr: _Problems, family: Family) -> float:
    w = pr.W[0]
    if family == "gaussian":
        r = w * pr.Y[0]
    else:
        r = w * (pr.Y[0] - float(w @ pr.Y[0]))
    ga = np.zeros((1, pr.X.shape[1]))
    _gradients(pr.X, r[None, :], pr.C[:1], pr.S[:1], pr.JU[:1], ga)
    return float(ga[0].max())


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


def _set_threads(n_threads: int | None) -> None:
    limit = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(max(1, min(limit, n_threads or limit)))


def _finish_path(
    run: _Run,
    family: Family,
    lam_orig: np.ndarray,
    xm: np.ndarray,
    xs: np.ndarray,
    pr: _Problems,
    n: int,
) -> LassoPath:
    """Convert problem 0's recorded standardised solutions to the original scale."""
    L = len(run.b0)
    safe = np.where(xs > 0, xs, 1.0)
    beta_std = np.array(run.beta).reshape(L, -1)
    yscale = float(pr.ys[0])
    beta = beta_std * (yscale / safe)[None, :]
    a0 = np.array(run.b0) * yscale + float(pr.ym[0]) - beta @ xm
    if family == "binomial":
        null_dev = 2.0 * n * float(pr.dev0[0])
    else:
        null_dev = n * yscale**2
    return LassoPath(
        family=family,
        lambdas=lam_orig[:L].copy(),
        a0=a0,
        beta=beta,
        dev_ratio=np.array(run.dev_ratio),
        null_dev=null_dev,
        df=np.array(run.df, dtype=np.int64),
        npasses=run.npass,
        stop_reason=run.stop_reason,
    )


def _path_settings(
    n: int,
    p: int,
    nlambda: int,
    lambda_min_ratio: float | None,
    dfmax: int | None,
    pmax: int | None,
) -> tuple[float, int, int]:
    ratio = (0.01 if n < p else 1e-4) if lambda_min_ratio is None else lambda_min_ratio
    if not 0 < ratio < 1:
        raise ValueError(f"lambda_min_ratio must be in (0, 1), got {ratio}")
    dfm = p + 1 if dfmax is None else dfmax
    pmx = min(dfm * 2 + 20, p) if pmax is None else pmax
    return ratio, dfm, pmx


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
    ctl = control or GlmnetControl()
    Xs, xm, xs = _standardise(X, dtype)
    n, p = Xs.shape
    y = _check_y(y, n, family)
    ratio, dfm, pmx = _path_settings(n, p, nlambda, lambda_min_ratio, dfmax, pmax)
    pr = _setup(Xs, y, np.ones((1, n), dtype=bool), family)
    pr.JU[0] &= xs > 0
    if lambdas is None:
        lam = _lambda_sequence(_lambda_max_std(pr, family), nlambda, ratio, ctl.eps) * pr.ys[0]
        computed = True
    else:
        lam = _check_lambdas(lambdas)
        computed = False
    screen = _screens(family, p, type_gaussian)
    run = _drive(pr, family, lam, computed, ctl, dfm, pmx, None, None, None, screen)
    return _finish_path(run, family, lam, xm, xs, pr, n)


def _screens(family: Family, p: int, type_gaussian: str | None) -> bool:
    """Whether full passes are screened by the strong rule (all but gaussian "covariance")."""
    if family != "gaussian":
        return True
    kind = type_gaussian or ("covariance" if p < 500 else "naive")
    if kind not in ("covariance", "naive"):
        raise ValueError(f"type_gaussian must be 'covariance' or 'naive', got {kind!r}")
    return kind == "naive"


def _check_lambdas(lambdas: np.ndarray) -> np.ndarray:
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size < 1 or np.any(lam <= 0) or np.any(np.diff(lam) > 0):
        raise ValueError("lambdas must be positive and non-increasing")
    return lam


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
    early_stop: EarlyStop | None = None,
    n_threads: int | None = None,
    type_gaussian: Literal["covariance", "naive"] | None = None,
    control: GlmnetControl | None = None,
    dtype: type = np.float64,
) -> CVResult:
    """Cross-validate the lasso path as ``cv.glmnet(X, y, family, foldid = foldid)``.

    The lambda sequence is that of the full data (``lasso_path``); every fold is fitted on it
    (without glmnet's path stops, like a user-supplied sequence) and all paths are advanced one
    lambda at a time in parallel over ``n_threads`` cores. The measure is the mean held-out
    binomial deviance (``type.measure = "deviance"``) or squared error (gaussian ``"mse"``).

    Args:
        X, y, family, nlambda, lambda_min_ratio, lambdas, dfmax, pmax, type_gaussian, control,
            dtype: as in :func:`lasso_path`.
        foldid: (n,) fold labels (any integers; each label is one fold).
        early_stop: stop all paths once the mean CV measure has clearly passed its minimum
            (:class:`EarlyStop`); ``None`` runs the whole sequence exactly like cv.glmnet.
        n_threads: cores to use (default all that numba sees).

    Returns:
        The CV curve, lambda.min, lambda.1se and the full-data path.
    """
    ctl = control or GlmnetControl()
    Xs, xm, xs = _standardise(X, dtype)
    n, p = Xs.shape
    y = _check_y(y, n, family)
    foldid = np.asarray(foldid).ravel()
    if foldid.shape[0] != n:
        raise ValueError(f"foldid has {foldid.shape[0]} values but X has {n} rows")
    folds = np.unique(foldid)
    if folds.size < 3:
        raise ValueError("cv needs at least 3 folds (cv.glmnet's minimum)")
    ratio, dfm, pmx = _path_settings(n, p, nlambda, lambda_min_ratio, dfmax, pmax)
    train = np.ones((1 + folds.size, n), dtype=bool)
    for k, f in enumerate(folds):
        train[k + 1] = foldid != f
    _set_threads(n_threads)
    pr = _setup(Xs, y, train, family)
    pr.JU[0] &= xs > 0
    if lambdas is None:
        lam = _lambda_sequence(_lambda_max_std(pr, family), nlambda, ratio, ctl.eps) * pr.ys[0]
        computed = True
    else:
        lam = _check_lambdas(lambdas)
        computed = False
    fold_n = (~train[1:]).sum(axis=1).astype(np.float64)
    fold_scale = pr.ys[1:] ** 2 if family == "gaussian" else np.ones(folds.size)
    screen = _screens(family, p, type_gaussian)
    run = _drive(pr, family, lam, computed, ctl, dfm, pmx, early_stop, fold_n, fold_scale, screen)
    path = _finish_path(run, family, lam, xm, xs, pr, n)
    fold_measure = run.test[1:] * (fold_scale / fold_n)[:, None]
    return _cv_summary(path, fold_measure, fold_n, run.stopped_early)


def _cv_summary(
    path: LassoPath, fold_measure: np.ndarray, fold_n: np.ndarray, stopped_early: bool
) -> CVResult:
    """cvm, cvsd, lambda.min and lambda.1se as cv.glmnet computes them (grouped = TRUE)."""
    K = fold_measure.shape[0]
    wts = fold_n / fold_n.sum()
    cvm = wts @ fold_measure
    cvsd = np.sqrt((wts @ (fold_measure - cvm[None, :]) ** 2) / (K - 1))
    lam = path.lambdas
    cvmin = np.nanmin(cvm)
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
    )

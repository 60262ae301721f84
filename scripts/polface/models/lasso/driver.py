"""The lockstep driver: every problem of one fit (the full data and the folds) advances one lambda
at a time through a solver (:class:`CDSolver`, glmnet's coordinate descent, or any class with its
interface); the folds are scored at the full-data lambdas as cv.glmnet scores them, the early stop
applied, and the result converted to the original scale. :func:`fit_path` and
:func:`cross_validate` are :func:`~polface.models.lasso.lasso_path` and
:func:`~polface.models.lasso.cv_lasso` with the solver as an argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from tqdm.auto import tqdm

from polface.models.lasso.kernels import (
    STATUS_MAXIT,
    STATUS_PMAX,
    STATUS_SATURATED,
    gradients,
    permute_rows,
    step_all,
    step_one,
)
from polface.models.lasso.options import CVOptions, EarlyStop, Family, GlmnetControl, PathOptions
from polface.models.lasso.problem import (
    Problems,
    Settings,
    check_lambdas,
    check_y,
    lambda_sequence,
    make_settings,
    setup,
    standardise,
)
from polface.models.lasso.results import CVResult, LassoPath

#: A fit over at least this many cells of X (rows x columns) shows a progress bar per lambda.
PROGRESS_CELLS = 50_000_000


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


def _fold_measure(pr: Problems, family: Family, k: int, track: _Track, s: float) -> float:
    """Mean held-out deviance (binomial) or squared error (gaussian) of fold k at lambda s."""
    eta = _fold_link(track, s)
    y = pr.y[pr.test_rows[k]]
    if family == "gaussian":
        return float(np.mean((y - eta) ** 2))
    prob = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-5, 1.0 - 1e-5)
    return float(np.mean(-2.0 * (y * np.log(prob) + (1.0 - y) * np.log(1.0 - prob))))


class CDSolver:
    """glmnet's coordinate descent for K problems at once (the exact solver).

    The interface :func:`_drive` uses (a batched solver elsewhere provides the same): ``GA``
    (K, p), the |gradient| of each standardised column at the null model; after each
    :meth:`step`, ``OUT`` (K, 5) = [status, training deviance per unit weight, passes,
    nonzeros, sum of IRLS weights], ``B0`` (K,) and ``BETA`` (K, p) on each problem's
    standardised scale, ``ETA`` (K, n) the link of every row on that scale.
    """

    def __init__(self, pr: Problems, st: Settings) -> None:
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
        gradients(pr.X, self.R, pr.C, pr.S, pr.JU, self.GA)
        self.shr = st.ctl.thresh * pr.dev0

    def step(self, lam: np.ndarray, prev: np.ndarray, running: np.ndarray) -> None:
        """Solve every running problem at its standardised lambda ``lam`` (warm starts)."""
        pr, st, ctl = self.pr, self.st, self.st.ctl
        args = (
            st.family == "gaussian", st.screen, self.shr, ctl.pmin, ctl.exmx, ctl.maxit,
            st.pmax, self.BETA, self.B0, self.ETA, self.R, self.V, self.XV, self.GA,
            self.STRONG, self.SLIST, self.MM, self.ACT, self.BS, self.IVEC, self.OUT,
        )  # fmt: skip
        alone = np.flatnonzero(running)
        if alone.size == 1:
            # one problem (a path, or the last of a CV): no parallel region, whose other
            # threads would only wait for it (the same kernel per problem, so the same bits)
            step_one(pr.X, pr.Y, pr.W, pr.C, pr.S, pr.JU, pr.lo, pr.hi, lam, prev, alone[0], *args)
            return
        # one problem per chunk: the threads share the problems dynamically
        chunk = numba.set_parallel_chunksize(1)
        try:
            step_all(pr.X, pr.Y, pr.W, pr.C, pr.S, pr.JU, pr.lo, pr.hi, lam, prev, running, *args)
        finally:
            numba.set_parallel_chunksize(chunk)


def _drive(
    pr: Problems,
    st: Settings,
    user_lambdas: np.ndarray | None,
    own_folds: bool,
    cv: _CVPlan | None,
    solver: type = CDSolver,
) -> tuple[list, np.ndarray | None, int | None]:
    """Advance all problems in lockstep, one lambda index at a time, in parallel.

    Problem 0 is the full data; with ``cv`` the others are folds, scored at problem 0's lambdas.
    ``solver`` is a class with :class:`CDSolver`'s interface. Returns the tracks, the fold
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
            seqs.append(lambda_sequence(lmax, st.nlambda, ratio, ctl.eps) * pr.ys[k])
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
    watch = cv.early.tracker() if cv is not None and cv.early is not None else None
    stop_m: int | None = None
    bar = tqdm(
        total=int(lens.max()),
        desc=f"lasso: {K} path{'s' * (K > 1)} over {n:,} x {p:,}",
        unit="lambda",
        mininterval=10,
        disable=n * p < PROGRESS_CELLS,
    )
    for i in range(int(lens.max())):
        running &= i < lens
        if not running.any():
            break
        bar.update()
        bar.set_postfix(running=int(running.sum()), refresh=False)
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
            if status in (STATUS_MAXIT, STATUS_PMAX):
                running[k] = False
                tr.reason = "maxit" if status == STATUS_MAXIT else "pmax"
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
            if status == STATUS_SATURATED:
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
            if watch is not None:
                cvm, cvsd = cv_mean_sd(fold_meas[:, next_m], cv.fold_n)
                if watch.update(cvm, cvsd):
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
    bar.close()
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


def _glmnet_stop(tr: _Track, gaussian: bool, st: Settings, ctl: GlmnetControl) -> str:
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
    pr: Problems,
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


def fit_path(
    X: np.ndarray,
    y: np.ndarray,
    family: Family,
    path: PathOptions,
    *,
    dtype: type,
    solver: Any,
    overwrite_x: bool = False,
    implicit: bool = False,
) -> LassoPath:
    """:func:`lasso_path` with a given solver class (``implicit``: X is stored as its own
    values and standardised inside the sums, :func:`standardise`)."""
    Xs, xm, xs = standardise(X, dtype, overwrite=overwrite_x, implicit=implicit)
    n, p = Xs.shape
    y = check_y(y, n, family)
    st = make_settings(family, n, p, path)
    pr = setup(Xs, y, np.ones((1, n), dtype=bool), family, xs, xm if implicit else None)
    tracks, _, _ = _drive(pr, st, check_lambdas(path.lambdas), False, None, solver)
    return _finish_path(tracks[0], family, xm, xs, pr, n)


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    foldid: np.ndarray,
    family: Family,
    path: PathOptions,
    cv: CVOptions,
    *,
    dtype: type,
    solver: Any,
    overwrite_x: bool = False,
    implicit: bool = False,
) -> CVResult:
    """:func:`cv_lasso` with a given solver class (``implicit`` as in :func:`fit_path`)."""
    Xs, xm, xs = standardise(X, dtype, overwrite=overwrite_x, implicit=implicit)
    n, p = Xs.shape
    y = check_y(y, n, family)
    foldid = np.asarray(foldid).ravel()
    if foldid.shape[0] != n:
        raise ValueError(f"foldid has {foldid.shape[0]} values but X has {n} rows")
    folds = np.unique(foldid)
    if folds.size < 3:
        raise ValueError("cv needs at least 3 folds (cv.glmnet's minimum)")
    if cv.fold_lambdas not in ("own", "shared"):
        raise ValueError(f"fold_lambdas must be 'own' or 'shared', got {cv.fold_lambdas!r}")
    st = make_settings(family, n, p, path)
    # the rows in fold order (stable): each fold's held-out rows are one block that the kernels
    # skip; the standardisation above is that of the original order, as in lasso_path
    order = np.argsort(foldid, kind="stable")
    permute_rows(Xs, order)
    y, foldid = y[order], foldid[order]
    train = np.ones((1 + folds.size, n), dtype=bool)
    for k, f in enumerate(folds):
        train[k + 1] = foldid != f
    _set_threads(cv.n_threads)
    pr = setup(Xs, y, train, family, xs, xm if implicit else None)
    fold_n = (~train[1:]).sum(axis=1).astype(np.float64)
    tracks, fold_meas, stop_m = _drive(
        pr,
        st,
        check_lambdas(path.lambdas),
        cv.fold_lambdas == "own",
        _CVPlan(cv.early_stop, fold_n),
        solver,
    )
    length = fold_meas.shape[1]
    path = _finish_path(tracks[0], family, xm, xs, pr, n, length)
    result = _cv_summary(path, fold_meas, fold_n, stop_m is not None)
    for k in range(1, len(tracks)):
        result.oof_link[order[pr.test_rows[k]]] = _fold_link(tracks[k], result.lambda_min)
    return result


def cv_mean_sd(fold_measure: np.ndarray, fold_n: np.ndarray) -> tuple[Any, Any]:
    """cv.glmnet's ``cvm`` and ``cvsd`` (grouped): fold-size weighted mean and its standard error.

    ``fold_measure`` is (folds, lambdas), or (folds,) for one lambda (then two floats).
    """
    K = fold_measure.shape[0]
    wts = fold_n / fold_n.sum()
    if fold_measure.ndim == 1:
        cvm, cvsd = cv_mean_sd(fold_measure[:, None], fold_n)
        return float(cvm[0]), float(cvsd[0])
    cvm = wts @ fold_measure
    cvsd = np.sqrt((wts @ (fold_measure - cvm[None, :]) ** 2) / (K - 1))
    return cvm, cvsd


def _cv_summary(
    path: LassoPath, fold_measure: np.ndarray, fold_n: np.ndarray, stopped_early: bool
) -> CVResult:
    """cvm, cvsd, lambda.min and lambda.1se as cv.glmnet computes them (grouped = TRUE)."""
    cvm, cvsd = cv_mean_sd(fold_measure, fold_n)
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

"""The compiled (numba) kernels of glmnet's coordinate descent, and the status codes they report.

:func:`step_all` advances every running problem of one fit by one lambda, in parallel over the
problems; :func:`moments` computes each problem's column centres and SDs and :func:`gradients` the
gradients of the null model, both in parallel over the columns. The status of one problem at one
lambda (``OUT[k, 0]`` after a step, written by any solver the driver runs) is one of
:data:`STATUS_OK`, :data:`STATUS_MAXIT` (more than ``maxit`` passes), :data:`STATUS_PMAX` (more
than ``pmax`` variables would be active) and :data:`STATUS_SATURATED` (binomial: the fitted
probabilities are all at the clamp).

No "reassoc" fast-math (only "contract"): with it LLVM vectorises the reductions with a prologue
that depends on the arrays' memory alignment, so the last bit of a sum could differ between two
runs of the same job (seen once in four SLURM-vs-local comparisons). Results must be identical on
rerun. numba caches the compiled kernels beside this file (``cache=True``), or in its user-wide
cache directory where that is not writable (``NUMBA_CACHE_DIR`` overrides both).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# status of one problem at one lambda, in OUT[k, 0] after a solver step (any solver: see driver)
STATUS_OK = 0  #: solved
STATUS_MAXIT = 1  #: more than ``maxit`` coordinate-descent passes (the path ends: "maxit")
STATUS_PMAX = 2  #: more than ``pmax`` variables would be active (the path ends: "pmax")
STATUS_SATURATED = 3  #: binomial: the IRLS weights fell to their floor (the path ends)


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
    status = STATUS_OK
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
            status = STATUS_PMAX
            break
        if npass > maxit:
            status = STATUS_MAXIT
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
                status = STATUS_SATURATED
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
    if gaussian or status != STATUS_OK:
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
def step_all(
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
def moments(X, W, C, S, JU):  # pragma: no cover - compiled
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
def gradients(X, R, C, S, JU, GA):  # pragma: no cover - compiled
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

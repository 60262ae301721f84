"""The compiled (numba) kernels of glmnet's coordinate descent, and the status codes they report.

:func:`step_all` advances every running problem of one fit by one lambda, in parallel over the
problems (:func:`step_one` a single problem, serially); :func:`moments` computes each problem's
column centres and SDs and :func:`gradients` the gradients of the null model, both in parallel
over the columns; :func:`permute_rows` puts the rows
of X in fold order, so that a fold's held-out rows are one block that its sums skip. The status
of one problem at one lambda (``OUT[k, 0]`` after a step, written by any solver the driver runs)
is one of :data:`STATUS_OK`, :data:`STATUS_MAXIT` (more than ``maxit`` passes),
:data:`STATUS_PMAX` (more than ``pmax`` variables would be active) and :data:`STATUS_SATURATED`
(binomial: the fitted probabilities are all at the clamp).

The sums over the rows inside the coordinate descent (gradients, weighted sums of squares, the
intercept's and the IRLS weights' sums) are written with :data:`NSUM` explicit partial sums:
partial sum ``t`` adds the rows ``i`` with ``i % NSUM == t`` in increasing order of ``i``, and the
partial sums are then combined pairwise in a fixed order (``t + 16`` into ``t``, then ``t + 8``,
4, 2, 1: :func:`_combine`). The order of every addition is fixed by the source, not by memory
alignment, thread count or SIMD width, so a rerun gives the same bits; and because the partial
sums are independent, LLVM's loop vectorizer turns the inner loop over ``t`` into SIMD code
(eight 4-lane fused multiply-adds per 32 rows with AVX2, as on the development machine; four
8-lane ones with AVX-512) without "reassoc" fast-math (only
"contract", fused multiply-adds, is allowed). With 8 or 16 partial sums LLVM unrolls that loop
fully before it could vectorise it, and numba leaves the SLP vectorizer off, so the code would
stay scalar. A loop in plain order with reassociation allowed is vectorised with a prologue that
depends on the arrays' alignment, so the last bit of a sum could differ between two runs of the
same job (seen once in four SLURM-vs-local comparisons before this scheme). X may be float32 or
float64; every product and sum is float64. The column moments and the training deviance (once per
fit, once per lambda) stay plain loops, and so do the column sums of the standardisation
(:func:`column_sums_by_column`, :func:`column_sums_by_row`: each column's rows in increasing order,
the additions numpy makes for ``X.mean(axis=0)`` of a C-ordered X, whatever the order of X).

The coordinate-descent passes (full passes over the strong set, passes over the active set) take
their variables in blocks of :data:`BLOCK` (:func:`_block_step`): one pass over a block's columns
sums the four gradients at the residuals before the block (and, once per set of IRLS weights, the
weighted cross products of its columns), the four coordinate updates follow in glmnet's order,
each gradient corrected by the changes before it in the block through the cross products, and one
more pass updates the residuals by all of the block's changes. These are glmnet's iterates (the
same order, the same soft-thresholding and entries into the active set), rounded differently,
with a quarter of the passes over the residuals; and the four columns stream from memory side by
side, faster than one at a time (a microbenchmark at 10,000 rows, 720 of 1,024 columns: 0.31-0.33
ns per row and column for the four gradients of a block, 0.58-0.61 ns one column at a time). The
variables after the last whole block of a pass are updated one at a time.

numba caches the compiled kernels beside this file (``cache=True``), or in its user-wide
cache directory where that is not writable (``NUMBA_CACHE_DIR`` overrides both); the kernels
that Python calls are wrapped by :func:`compile_once`, so that the processes of one machine
started together with an empty cache compile each of them once, not once each.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import math
import tempfile
from pathlib import Path

import numpy as np
from numba import njit, prange

# status of one problem at one lambda, in OUT[k, 0] after a solver step (any solver: see driver)
STATUS_OK = 0  #: solved
STATUS_MAXIT = 1  #: more than ``maxit`` coordinate-descent passes (the path ends: "maxit")
STATUS_PMAX = 2  #: more than ``pmax`` variables would be active (the path ends: "pmax")
STATUS_SATURATED = 3  #: binomial: the IRLS weights fell to their floor (the path ends)

NSUM = 32  #: partial sums of every row sum (a power of two; see the module docstring)
BLOCK = 4  #: variables per block of the coordinate-descent passes (see :func:`_block_step`)


def _lock_path() -> Path:
    """The lock file of this copy of the module (named by its path's hash, in the temporary
    directory): the fold jobs of one checkout on one machine share it."""
    digest = hashlib.sha256(str(Path(__file__).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"polface-numba-{digest}.lock"


@contextlib.contextmanager
def _compile_lock():
    """Hold the module's inter-process compile lock (``flock``); where it cannot be taken (a
    lock file of another user, a file system without ``flock``), go on without it: two processes
    then compile the same kernel, as numba alone would."""
    with contextlib.ExitStack() as stack:
        try:
            fcntl.flock(stack.enter_context(_lock_path().open("a")), fcntl.LOCK_EX)
        except OSError:
            pass
        yield


def compile_once(kernel):
    """Wrap a cached kernel that Python calls so that, on a machine, only one process compiles it
    for a given set of argument types.

    numba compiles a kernel at its first call with new argument types, unless its cache already
    holds that compilation. Fold jobs started together with an empty cache (a new checkout, a
    changed kernel) would each compile the same kernels (13-15 CPU-s for the LASSO's). Here the
    first call with new types compiles, or loads from the cache, under :func:`_compile_lock`, so
    the other jobs wait and then load what the first one wrote; the call itself runs outside the
    lock. The check is made once per type and memory order of the first argument, X, the only one
    whose type differs between fits (a call whose other types were new would still be compiled,
    by numba alone, without the lock). The compiled kernel is the wrapper's ``kernel``, for other
    kernels to call.
    """
    if not hasattr(kernel, "overloads"):  # NUMBA_DISABLE_JIT=1: the plain Python function
        kernel.kernel = kernel
        return kernel
    checked = set()

    @functools.wraps(kernel.py_func)
    def call(X, *args):
        key = (X.dtype, X.ndim, X.flags.c_contiguous, X.flags.f_contiguous)
        if key not in checked:
            types = tuple(kernel.typeof_pyval(arg) for arg in (X, *args))
            if types not in kernel.overloads:
                with _compile_lock():
                    kernel.compile(types)
            checked.add(key)
        return kernel(X, *args)

    call.kernel = kernel
    return call


@njit(cache=True, nogil=True, fastmath={"contract"})
def _combine(acc):  # pragma: no cover - compiled
    """Sum of the NSUM partial sums in acc, added pairwise in a fixed order (acc is clobbered)."""
    h = NSUM
    while h > 1:
        h //= 2
        for t in range(h):
            acc[t] += acc[t + h]
    return acc[0]


@njit(cache=True, nogil=True)
def _segment(g, lo, hi, n):  # pragma: no cover - compiled
    """Rows of training segment g (0 or 1) of a problem whose held-out rows are [lo, hi)."""
    if g == 0:
        return 0, lo
    return hi, n


# The sums below index from 0 within each segment (a slice), as LLVM vectorises a loop only where
# it can see that the index is never negative (numba wraps negative indices around).


@njit(cache=True, nogil=True, fastmath={"contract"})
def _sum(a, lo, hi, acc):  # pragma: no cover - compiled
    """sum of a over the rows outside [lo, hi), with NSUM partial sums (acc: scratch)."""
    for t in range(NSUM):
        acc[t] = 0.0
    for g in range(2):
        start, stop = _segment(g, lo, hi, a.shape[0])
        ag = a[start:stop]
        n = stop - start
        m = n - n % NSUM
        for o in range(0, m, NSUM):
            for t in range(NSUM):
                acc[t] += ag[o + t]
        for t in range(n - m):
            acc[t] += ag[m + t]
    return _combine(acc)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _dot_centred(r, x, c, lo, hi, acc):  # pragma: no cover - compiled
    """sum of r_i (x_i - c) over the rows outside [lo, hi), with NSUM partial sums (x float32
    or float64; float64 sums)."""
    for t in range(NSUM):
        acc[t] = 0.0
    for g in range(2):
        start, stop = _segment(g, lo, hi, r.shape[0])
        rg, xg = r[start:stop], x[start:stop]
        n = stop - start
        m = n - n % NSUM
        for o in range(0, m, NSUM):
            for t in range(NSUM):
                acc[t] += rg[o + t] * (xg[o + t] - c)
        for t in range(n - m):
            acc[t] += rg[m + t] * (xg[m + t] - c)
    return _combine(acc)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _dot_and_ss(r, v, x, c, lo, hi, acc, acc2):  # pragma: no cover - compiled
    """(sum r_i (x_i - c), sum v_i (x_i - c)^2) over the rows outside [lo, hi), from one pass
    over x, with NSUM partial sums each (acc, acc2: two scratches); the first is bit for bit
    :func:`_dot_centred`'s."""
    for t in range(NSUM):
        acc[t] = 0.0
        acc2[t] = 0.0
    for g in range(2):
        start, stop = _segment(g, lo, hi, r.shape[0])
        rg, vg, xg = r[start:stop], v[start:stop], x[start:stop]
        n = stop - start
        m = n - n % NSUM
        for o in range(0, m, NSUM):
            for t in range(NSUM):
                dx = xg[o + t] - c
                acc[t] += rg[o + t] * dx
                acc2[t] += vg[o + t] * dx * dx
        for t in range(n - m):
            dx = xg[m + t] - c
            acc[t] += rg[m + t] * dx
            acc2[t] += vg[m + t] * dx * dx
    return _combine(acc), _combine(acc2)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _intercept_step(r, v, b0, xmz, lo, hi, acc):  # pragma: no cover - compiled
    """Newton step of the unpenalised intercept (binomial); returns its weighted squared change."""
    d = _sum(r, lo, hi, acc) / xmz
    if d == 0.0:
        return 0.0
    b0[0] += d
    for g in range(2):
        start, stop = _segment(g, lo, hi, r.shape[0])
        rg, vg = r[start:stop], v[start:stop]
        for i in range(stop - start):
            rg[i] -= d * vg[i]
    return xmz * d * d


@njit(cache=True, nogil=True, fastmath={"contract"})
def _soft(bk, gk, xv_j, lam):  # pragma: no cover - compiled
    """glmnet's soft-thresholded new value of a coefficient now bk whose gradient is gk
    (standardised scale; xv_j its weighted sum of squares)."""
    u = gk + xv_j * bk
    au = abs(u) - lam
    bn = 0.0
    if au > 0.0:
        bn = math.copysign(au, u) / xv_j
    return bn


@njit(cache=True, nogil=True, fastmath={"contract"})
def _coordinate(X, j, c_j, s_j, r, v, beta, xv_j, lam, gk, lo, hi):  # pragma: no cover
    """Soft-thresholded update of variable j, given its gradient gk (standardised scale):
    updates beta[j] and the residuals r outside the held-out rows [lo, hi), returns the change
    of beta[j]."""
    n = X.shape[0]
    bk = beta[j]
    bn = _soft(bk, gk, xv_j, lam)
    d = bn - bk
    if d == 0.0:
        return 0.0
    beta[j] = bn
    f = d / s_j
    for g in range(2):
        start, stop = _segment(g, lo, hi, n)
        rg, vg, xg = r[start:stop], v[start:stop], X[start:stop, j]
        for i in range(stop - start):
            rg[i] -= f * vg[i] * (xg[i] - c_j)
    return d


@njit(cache=True, nogil=True, fastmath={"contract"})
def _block_sums(
    r, v, x1, x2, x3, x4, c1, c2, c3, c4, lo, hi, cross, acc, out,
):  # pragma: no cover - compiled  # fmt: skip
    """For the BLOCK columns x1..x4 (d_k = x_k - c_k), over the rows outside [lo, hi) and from
    one pass over them: G_k = sum r_i d_ik into out[0:4]; where cross is true also the weighted
    cross products H_kl = sum v_i d_ik d_il (k < l: 12, 13, 14, 23, 24, 34) into out[4:10] and
    the weighted sums of squares S_k = sum v_i d_ik^2 into out[10:14]. Every sum has NSUM partial
    sums, acc[q * NSUM:(q + 1) * NSUM] for sum q (acc: 14 * NSUM scratch, one array, so that LLVM
    sees the partial sums apart at constant offsets and vectorises the loop), combined by
    :func:`_combine`: G_k has the bits of :func:`_dot_centred`'s sum, (G_k, S_k) those of
    :func:`_dot_and_ss`."""
    nq = 14 if cross else 4
    for t in range(nq * NSUM):
        acc[t] = 0.0
    for g in range(2):
        start, stop = _segment(g, lo, hi, r.shape[0])
        rg, vg = r[start:stop], v[start:stop]
        x1g, x2g, x3g, x4g = x1[start:stop], x2[start:stop], x3[start:stop], x4[start:stop]
        n = stop - start
        m = n - n % NSUM
        if cross:
            for o in range(0, m, NSUM):
                for t in range(NSUM):
                    ri = rg[o + t]
                    d1 = x1g[o + t] - c1
                    d2 = x2g[o + t] - c2
                    d3 = x3g[o + t] - c3
                    d4 = x4g[o + t] - c4
                    acc[t] += ri * d1
                    acc[NSUM + t] += ri * d2
                    acc[2 * NSUM + t] += ri * d3
                    acc[3 * NSUM + t] += ri * d4
                    w1 = vg[o + t] * d1
                    w2 = vg[o + t] * d2
                    w3 = vg[o + t] * d3
                    w4 = vg[o + t] * d4
                    acc[4 * NSUM + t] += w1 * d2
                    acc[5 * NSUM + t] += w1 * d3
                    acc[6 * NSUM + t] += w1 * d4
                    acc[7 * NSUM + t] += w2 * d3
                    acc[8 * NSUM + t] += w2 * d4
                    acc[9 * NSUM + t] += w3 * d4
                    acc[10 * NSUM + t] += w1 * d1
                    acc[11 * NSUM + t] += w2 * d2
                    acc[12 * NSUM + t] += w3 * d3
                    acc[13 * NSUM + t] += w4 * d4
            for t in range(n - m):
                ri = rg[m + t]
                d1 = x1g[m + t] - c1
                d2 = x2g[m + t] - c2
                d3 = x3g[m + t] - c3
                d4 = x4g[m + t] - c4
                acc[t] += ri * d1
                acc[NSUM + t] += ri * d2
                acc[2 * NSUM + t] += ri * d3
                acc[3 * NSUM + t] += ri * d4
                w1 = vg[m + t] * d1
                w2 = vg[m + t] * d2
                w3 = vg[m + t] * d3
                w4 = vg[m + t] * d4
                acc[4 * NSUM + t] += w1 * d2
                acc[5 * NSUM + t] += w1 * d3
                acc[6 * NSUM + t] += w1 * d4
                acc[7 * NSUM + t] += w2 * d3
                acc[8 * NSUM + t] += w2 * d4
                acc[9 * NSUM + t] += w3 * d4
                acc[10 * NSUM + t] += w1 * d1
                acc[11 * NSUM + t] += w2 * d2
                acc[12 * NSUM + t] += w3 * d3
                acc[13 * NSUM + t] += w4 * d4
        else:
            for o in range(0, m, NSUM):
                for t in range(NSUM):
                    ri = rg[o + t]
                    acc[t] += ri * (x1g[o + t] - c1)
                    acc[NSUM + t] += ri * (x2g[o + t] - c2)
                    acc[2 * NSUM + t] += ri * (x3g[o + t] - c3)
                    acc[3 * NSUM + t] += ri * (x4g[o + t] - c4)
            for t in range(n - m):
                ri = rg[m + t]
                acc[t] += ri * (x1g[m + t] - c1)
                acc[NSUM + t] += ri * (x2g[m + t] - c2)
                acc[2 * NSUM + t] += ri * (x3g[m + t] - c3)
                acc[3 * NSUM + t] += ri * (x4g[m + t] - c4)
    for q in range(nq):
        out[q] = _combine(acc[q * NSUM : (q + 1) * NSUM])


@njit(cache=True, nogil=True, fastmath={"contract"})
def _block_update(X, r, v, jz, cz, fz, nz, lo, hi):  # pragma: no cover - compiled
    """r_i -= f_k v_i (x_ik - c_k) for the nz columns jz[k] (centres cz, f = fz) in order k = 0,
    1, ..., from one pass over the rows outside [lo, hi): the same operations, row by row, as
    nz of :func:`_coordinate`'s residual updates one after the other."""
    n = X.shape[0]
    for g in range(2):
        start, stop = _segment(g, lo, hi, n)
        rg, vg, x1g = r[start:stop], v[start:stop], X[start:stop, jz[0]]
        c1, f1 = cz[0], fz[0]
        if nz == 1:
            for i in range(stop - start):
                rg[i] -= f1 * vg[i] * (x1g[i] - c1)
            continue
        x2g, c2, f2 = X[start:stop, jz[1]], cz[1], fz[1]
        if nz == 2:
            for i in range(stop - start):
                vi = vg[i]
                ri = rg[i] - f1 * vi * (x1g[i] - c1)
                rg[i] = ri - f2 * vi * (x2g[i] - c2)
            continue
        x3g, c3, f3 = X[start:stop, jz[2]], cz[2], fz[2]
        if nz == 3:
            for i in range(stop - start):
                vi = vg[i]
                ri = rg[i] - f1 * vi * (x1g[i] - c1)
                ri = ri - f2 * vi * (x2g[i] - c2)
                rg[i] = ri - f3 * vi * (x3g[i] - c3)
            continue
        x4g, c4, f4 = X[start:stop, jz[3]], cz[3], fz[3]
        for i in range(stop - start):
            vi = vg[i]
            ri = rg[i] - f1 * vi * (x1g[i] - c1)
            ri = ri - f2 * vi * (x2g[i] - c2)
            ri = ri - f3 * vi * (x3g[i] - c3)
            rg[i] = ri - f4 * vi * (x4g[i] - c4)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _block_step(
    X, cols, li, c, s, r, v, beta, xv, lam, lo, hi, fresh, hb, hok, mm, act, nin, nx, acc, sums,
    jz, kz, cz, fz,
):  # pragma: no cover - compiled  # fmt: skip
    """glmnet's coordinate updates of the BLOCK variables cols[li:li + BLOCK], in order, from one
    pass over their columns and one residual update (cols: the strong or the active set).
    Returns (the largest xv_j d_j^2 of their changes d_j, 0 if none changed; nin; whether the
    active set overflowed nx). fresh: first full pass at new IRLS weights, computing each xv_j
    before the variable's update, as :func:`_dot_and_ss` in the plain pass.

    The gradient that variable k would see after the updates of the variables m < k before it,
    sum_i r'_i d_ik with r' = r - sum_{m<k} f_m v d_m (d_m = x_m - c_m, f_m = d_m / s_m, the
    change of its coefficient over its SD), is G_k - sum_{m<k} f_m H_mk, with G and the weighted
    cross products H from :func:`_block_sums` at the residuals before the block: glmnet's iterates
    (the same order, the same soft-thresholding, the same entries into the active set; an
    overflow stops after the variable that overflowed, whose change is kept, as in the plain
    pass), rounded differently. H depends only on X and the IRLS weights v: hb (6 values) keeps
    it while hok[0] is true (the caller clears hok when v or the block changes)."""
    j1, j2, j3, j4 = cols[li], cols[li + 1], cols[li + 2], cols[li + 3]
    cross = fresh or not hok[0]
    _block_sums(
        r, v, X[:, j1], X[:, j2], X[:, j3], X[:, j4], c[j1], c[j2], c[j3], c[j4], lo, hi,
        cross, acc, sums,
    )  # fmt: skip
    if cross:
        for q in range(6):
            hb[q] = sums[4 + q]
        hok[0] = True
    dlx = 0.0
    nz = 0
    overflow = False
    for k in range(BLOCK):
        j = cols[li + k]
        if fresh:
            xv[j] = sums[10 + k] / (s[j] * s[j])
        gk = sums[k]
        # H_mk (m < k) is hb[q], q = 0, 1, 2 for m = 0 (k = 1, 2, 3), 3, 4 for m = 1, 5 for m = 2
        for z in range(nz):
            m = kz[z]  # the position in the block of the z-th variable that changed
            gk -= fz[z] * hb[m * (7 - m) // 2 + k - m - 1]
        bk = beta[j]
        bn = _soft(bk, gk / s[j], xv[j], lam)
        d = bn - bk
        if d == 0.0:
            continue
        beta[j] = bn
        dlx = max(dlx, xv[j] * d * d)
        jz[nz] = j
        kz[nz] = k
        cz[nz] = c[j]
        fz[nz] = d / s[j]
        nz += 1
        if mm[j] == 0:
            nin += 1
            if nin > nx:
                overflow = True
                break
            mm[j] = nin
            act[nin - 1] = j
    if nz > 0:
        _block_update(X, r, v, jz, cz, fz, nz, lo, hi)
    return dlx, nin, overflow


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
    X, y, w, c, s, ju, lo, hi, lam, lam_prev, gaussian, screen, shr, pmin, exmx, maxit, nx,
    beta, b0, eta, r, v, xv, ga, strong, slist, mm, act, bs, ivec, out,
):  # pragma: no cover - compiled  # fmt: skip
    """Solve one problem at one lambda from its warm start (state arrays are updated in place).

    The rows [lo, hi) have weight 0 (a fold's held-out block; lo = hi when there is none): the
    sums and residual updates skip them, the linear predictor covers them. ivec holds [nin,
    nstrong, active loop has run]; out receives [status, train_dev, npass, nnz, xmz].
    """
    n, p = X.shape
    nin = ivec[0]
    acc = np.empty(NSUM)  # scratches of the partial sums
    acc2 = np.empty(NSUM)
    # the blocks of the passes (:func:`_block_step`): block b of the active set is
    # act[b * BLOCK:(b + 1) * BLOCK], its cross products hc[6 * b:6 * b + 6] while hok[b] (at
    # the current weights v); block b of the strong set slist[b * BLOCK:(b + 1) * BLOCK], hcs
    # and hoks likewise (while the strong set stands)
    hc = np.empty(6 * (nx // BLOCK + 1))
    hok = np.zeros(nx // BLOCK + 1, dtype=np.bool_)
    hcs = np.empty(6 * (p // BLOCK + 1))
    hoks = np.zeros(p // BLOCK + 1, dtype=np.bool_)
    bacc = np.empty(14 * NSUM)
    bsums = np.empty(14)
    jz = np.empty(BLOCK, dtype=np.int64)
    kz = np.empty(BLOCK, dtype=np.int64)
    cz = np.empty(BLOCK)
    fz = np.empty(BLOCK)
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
    xmz = _sum(v, lo, hi, acc)
    # gaussian (as glmnet's elnet): once the active-set loop has run on an earlier lambda,
    # each new lambda starts with active-set passes before the first full pass
    skip_full = gaussian and ivec[2] == 1
    while True:
        b0s = b0[0]
        for li in range(nin):
            bs[act[li]] = beta[act[li]]
        # the weighted sums of squares of the strong set at the current IRLS weights: gaussian
        # (fixed weights) once per variable, here; binomial in the first full pass below, from
        # the same read of each column as its gradient (the same bits as computing them here)
        fresh = not gaussian
        if gaussian:
            for li in range(ns):
                j = slist[li]
                if xv[j] <= 0.0:
                    xv[j] = _dot_and_ss(r, v, X[:, j], c[j], lo, hi, acc, acc2)[1] / (s[j] * s[j])
        # coordinate descent: full passes over the strong set, inner passes over the active set
        overflow = False
        while True:
            if skip_full:
                skip_full = False
            else:
                npass += 1
                dlx = 0.0
                nfull = ns // BLOCK
                for b in range(nfull):
                    db, nin, overflow = _block_step(
                        X, slist, b * BLOCK, c, s, r, v, beta, xv, lam, lo, hi, fresh,
                        hcs[6 * b:6 * b + 6], hoks[b:b + 1], mm, act, nin, nx, bacc, bsums, jz,
                        kz, cz, fz,
                    )  # fmt: skip
                    dlx = max(dlx, db)
                    if overflow:
                        break
                for li in range(nfull * BLOCK if not overflow else ns, ns):
                    j = slist[li]
                    if fresh:
                        g, ss = _dot_and_ss(r, v, X[:, j], c[j], lo, hi, acc, acc2)
                        xv[j] = ss / (s[j] * s[j])
                    else:
                        g = _dot_centred(r, X[:, j], c[j], lo, hi, acc)
                    d = _coordinate(X, j, c[j], s[j], r, v, beta, xv[j], lam, g / s[j], lo, hi)
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
                fresh = False
                if overflow:
                    break
                if not gaussian:
                    dlx = max(dlx, _intercept_step(r, v, b0, xmz, lo, hi, acc))
                if dlx < shr:
                    break
                if npass > maxit:
                    break
            ivec[2] = 1
            while True:
                npass += 1
                dlx = 0.0
                nfull = nin // BLOCK
                for b in range(nfull):
                    db = _block_step(
                        X, act, b * BLOCK, c, s, r, v, beta, xv, lam, lo, hi, False,
                        hc[6 * b:6 * b + 6], hok[b:b + 1], mm, act, nin, nx, bacc, bsums, jz,
                        kz, cz, fz,
                    )[0]  # fmt: skip
                    dlx = max(dlx, db)
                for li in range(nfull * BLOCK, nin):
                    j = act[li]
                    g = _dot_centred(r, X[:, j], c[j], lo, hi, acc)
                    d = _coordinate(X, j, c[j], s[j], r, v, beta, xv[j], lam, g / s[j], lo, hi)
                    if d == 0.0:
                        continue
                    dlx = max(dlx, xv[j] * d * d)
                if not gaussian:
                    dlx = max(dlx, _intercept_step(r, v, b0, xmz, lo, hi, acc))
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
                else:
                    v[i] = 0.0
                    r[i] = 0.0
            hok[:] = False  # new weights: new cross products
            hoks[:] = False
            xmz = _sum(v, lo, hi, acc)
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
        violated = False
        for j in range(p):
            if strong[j] or not ju[j]:
                continue
            g = abs(_dot_centred(r, X[:, j], c[j], lo, hi, acc)) / s[j]
            ga[j] = g
            if g > lam:
                strong[j] = 1
                violated = True
        if not violated:
            break
        hoks[:] = False  # a new strong set: new blocks
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


@compile_once
@njit(cache=True, nogil=True)
def step_one(
    X, Y, W, C, S, JU, LO, HI, lam, lam_prev, k, gaussian, screen, shr, pmin, exmx, maxit,
    nx, BETA, B0, ETA, R, V, XV, GA, STRONG, SLIST, MM, ACT, BS, IVEC, OUT,
):  # pragma: no cover - compiled  # fmt: skip
    """Advance problem k by one lambda on the calling thread (problem k's rows [LO[k], HI[k])
    have weight 0): :func:`step_all` runs it for each running problem in parallel, and the driver
    calls it alone for a single running problem, without a parallel region whose idle threads
    would wait (and spin) while that problem is solved."""
    _solve_lambda(
        X, Y[k], W[k], C[k], S[k], JU[k], LO[k], HI[k], lam[k], lam_prev[k], gaussian,
        screen, shr[k], pmin, exmx, maxit, nx, BETA[k], B0[k:k + 1], ETA[k], R[k],
        V[k], XV[k], GA[k], STRONG[k], SLIST[k], MM[k], ACT[k], BS[k], IVEC[k], OUT[k],
    )  # fmt: skip


_step_one = step_one.kernel  # what step_all calls


@compile_once
@njit(cache=True, parallel=True)
def step_all(
    X, Y, W, C, S, JU, LO, HI, lam, lam_prev, run, gaussian, screen, shr, pmin, exmx, maxit,
    nx, BETA, B0, ETA, R, V, XV, GA, STRONG, SLIST, MM, ACT, BS, IVEC, OUT,
):  # pragma: no cover - compiled  # fmt: skip
    """Advance every running problem by one lambda (:func:`step_one`), in parallel over the
    problems."""
    K = Y.shape[0]
    for k in prange(K):
        if run[k]:
            # the kernel itself (not the Python wrapper), with the index as int64: prange's
            # index is unsigned, and an unsigned k would compile a second step_one
            _step_one(
                X, Y, W, C, S, JU, LO, HI, lam, lam_prev, np.int64(k), gaussian, screen, shr,
                pmin, exmx, maxit, nx, BETA, B0, ETA, R, V, XV, GA, STRONG, SLIST, MM, ACT, BS,
                IVEC, OUT,
            )  # fmt: skip


@compile_once
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


@compile_once
@njit(cache=True, parallel=True)
def gradients(X, R, C, S, JU, GA):  # pragma: no cover - compiled
    """|x_j' r| on each problem's standardised scale, for every problem and column."""
    n, p = X.shape
    K = R.shape[0]
    for j in prange(p):
        acc = np.empty(NSUM)
        for k in range(K):
            if not JU[k, j]:
                GA[k, j] = 0.0
                continue
            GA[k, j] = abs(_dot_centred(R[k], X[:, j], C[k, j], n, n, acc)) / S[k, j]


@compile_once
@njit(cache=True, parallel=True)
def permute_rows(X, order):  # pragma: no cover - compiled
    """X[:] = X[order] in place, one column at a time (one column of scratch per thread)."""
    n, p = X.shape
    for j in prange(p):
        col = np.empty(n, dtype=X.dtype)
        for i in range(n):
            col[i] = X[order[i], j]
        for i in range(n):
            X[i, j] = col[i]


@compile_once
@njit(cache=True, parallel=True)
def column_sums_by_column(X, out):  # pragma: no cover - compiled
    """out[j] = X[0, j] + X[1, j] + ... in increasing row order, in float64 (X Fortran-ordered)."""
    n, p = X.shape
    for j in prange(p):
        s = np.float64(X[0, j])
        for i in range(1, n):
            s += X[i, j]
        out[j] = s


@compile_once
@njit(cache=True)
def column_sums_by_row(X, out):  # pragma: no cover - compiled
    """The sums of :func:`column_sums_by_column`, the same additions a row at a time (C order)."""
    n, p = X.shape
    for j in range(p):
        out[j] = X[0, j]
    for i in range(1, n):
        for j in range(p):
            out[j] += X[i, j]

"""Problem setup: checks of X and y, the one copy of X (standardised, or X's own values), the K
problems of one fit
over it (:class:`Problems`: the full data and the folds, as observation weights), glmnet's lambda
sequence and the path settings (:class:`Settings`) with glmnet's defaults filled in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from polface.models.lasso.kernels import column_sums_by_column, column_sums_by_row, moments
from polface.models.lasso.options import Family, GlmnetControl, PathOptions

#: rows per block of the finiteness check, and columns per block of the float32 sums of squares
CHECK_ROWS = 65536
SQUARE_COLS = 64


def column_means(X: np.ndarray) -> np.ndarray:
    """Column means in float64, each the sum of its rows in increasing order over n.

    The same additions, hence the same bits, whatever the memory order of X: numpy's
    ``X.mean(axis=0)`` sums a C-ordered X so, and a Fortran-ordered one pairwise.
    """
    n, p = X.shape
    if n == 0:
        return np.full(p, np.nan)
    sums = np.empty(p)
    if X.flags.f_contiguous:
        column_sums_by_column(X, sums)
    else:
        column_sums_by_row(np.ascontiguousarray(X), sums)
    return sums / n


def standardise(
    X: np.ndarray, dtype: type, *, overwrite: bool = False, implicit: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (Xs, xm, xs): one Fortran-ordered copy of X in ``dtype`` and its column moments.

    The copy is standardised, ``(X - xm) / xs`` rounded to ``dtype``; with ``implicit`` it holds
    X's own values (rounded to ``dtype``: none are changed when X's values are of that type)
    and the fit applies the standardisation in float64 inside its sums, as it does for every
    fold (:func:`setup` with ``centre=xm``). With ``overwrite``, a Fortran-ordered X of type
    ``dtype`` is standardised in place (or, with ``implicit``, used as it is) and returned as
    Xs (no copy: half the memory of a fit); any other X is copied as without it. The bits are
    the same either way.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array, got shape {X.shape}")
    # checked a block of rows at a time: a boolean copy of a million-row X would be 2 GB
    for start in range(0, X.shape[0], CHECK_ROWS):
        if not np.isfinite(X[start : start + CHECK_ROWS]).all():
            raise ValueError("X contains NaN or infinite values")
    in_place = overwrite and X.dtype == dtype and X.flags.f_contiguous
    if implicit:
        # a copy unless overwrite: the fit puts the rows of Xs in fold order in place
        Xs = X if in_place else np.array(X, dtype=dtype, order="F")
        # the moments of the values the fit sees (X's own when they are of type dtype)
        xm = column_means(Xs)
        return Xs, xm, _column_sds(Xs, xm)
    xm = column_means(X)
    if in_place:
        Xs = X
        Xs -= xm.astype(dtype)
    else:
        Xs = np.empty(X.shape, dtype=dtype, order="F")
        np.subtract(X, xm.astype(dtype), out=Xs, casting="same_kind")
    xs = _column_sds(Xs, None)
    Xs /= np.where(xs > 0, xs, 1.0).astype(dtype)
    return Xs, xm, xs


def _column_sds(Xc: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    """Population SDs in float64 of the columns of Xc less ``centre`` (None: Xc is centred)."""
    if centre is None and Xc.dtype == np.float64:
        squares = np.einsum("ij,ij->j", Xc, Xc)
    else:
        # einsum would cast a whole float32 X to float64 first; a block of columns at a time
        # holds one block in float64 and gives the same sums
        squares = np.empty(Xc.shape[1])
        for j in range(0, Xc.shape[1], SQUARE_COLS):
            block = Xc[:, j : j + SQUARE_COLS]
            if centre is not None:
                block = block - centre[j : j + SQUARE_COLS]  # float64
            squares[j : j + SQUARE_COLS] = np.einsum("ij,ij->j", block, block, dtype=np.float64)
    return np.sqrt(squares / Xc.shape[0])


def check_y(y: np.ndarray, n: int, family: Family) -> np.ndarray:
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
class Problems:
    """K problems over one shared X (standardised, or X's own values): problem k trains on the
    rows with W[k] > 0."""

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
    lo: np.ndarray  # (K,) problem k's held-out rows are the block [lo[k], hi[k]) when they are
    hi: np.ndarray  # contiguous (the kernels then skip them); else lo[k] = hi[k] = n


def setup(
    Xs: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    family: Family,
    xs: np.ndarray,
    centre: np.ndarray | None = None,
) -> Problems:
    """Problem k trains on rows ``train[k]`` (bool, (K, n)); problem 0 must be the full data.

    ``xs`` are the full data's column SDs; ``centre`` its column means when Xs holds X's own
    values (:func:`standardise` with ``implicit``), None when Xs is standardised.
    """
    K, n = train.shape
    p = Xs.shape[1]
    nk = train.sum(axis=1)
    if np.any(nk < 2):
        raise ValueError("every fit needs at least 2 training rows")
    W = np.where(train, 1.0 / nk[:, None], 0.0)
    C = np.zeros((K, p))
    S = np.ones((K, p))
    JU = np.zeros((K, p), dtype=np.bool_)
    # the full data's moments are known (Xs itself is standardised when centre is None): only
    # the folds' are computed
    moments(Xs, W[1:], C[1:], S[1:], JU[1:])
    JU[0] = xs > 0
    if centre is None:
        C[0] = 0.0
        S[0] = 1.0
    else:
        C[0] = centre
        S[0] = np.where(JU[0], xs, 1.0)
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
    lo = np.full(K, n, dtype=np.int64)
    hi = np.full(K, n, dtype=np.int64)
    for k, rows in enumerate(test_rows):
        if rows.size and rows[-1] - rows[0] + 1 == rows.size:
            lo[k], hi[k] = rows[0], rows[-1] + 1
    return Problems(Xs, Y, W, C, S, JU, ym, ys, dev0, nk, test_rows, y, lo, hi)


def lambda_sequence(lmax: float, nlambda: int, ratio: float, eps: float) -> np.ndarray:
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
class Settings:
    """Path settings shared by every problem of one fit."""

    family: Family
    nlambda: int
    ratio: float | None
    dfmax: int
    pmax: int
    screen: bool
    ctl: GlmnetControl


def make_settings(family: Family, n: int, p: int, path: PathOptions) -> Settings:
    """Check the path options and fill in glmnet's defaults."""
    ratio = path.lambda_min_ratio
    if ratio is not None and not 0 < ratio < 1:
        raise ValueError(f"lambda_min_ratio must be in (0, 1), got {ratio}")
    if path.nlambda < 3:
        raise ValueError("nlambda must be at least 3")
    dfm = p + 1 if path.dfmax is None else path.dfmax
    pmx = min(dfm * 2 + 20, p) if path.pmax is None else path.pmax
    return Settings(
        family=family,
        nlambda=path.nlambda,
        ratio=ratio,
        dfmax=dfm,
        pmax=pmx,
        screen=_screens(family, p, path.type_gaussian),
        ctl=path.control or GlmnetControl(),
    )


def _screens(family: Family, p: int, type_gaussian: str | None) -> bool:
    """Whether full passes are screened by the strong rule (all but gaussian "covariance")."""
    if family != "gaussian":
        return True
    kind = type_gaussian or ("covariance" if p < 500 else "naive")
    if kind not in ("covariance", "naive"):
        raise ValueError(f"type_gaussian must be 'covariance' or 'naive', got {kind!r}")
    return kind == "naive"


def check_lambdas(lambdas: np.ndarray | None) -> np.ndarray | None:
    """A user lambda sequence as float64, checked (positive, non-increasing); None stays None."""
    if lambdas is None:
        return None
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size < 1 or np.any(lam <= 0) or np.any(np.diff(lam) > 0):
        raise ValueError("lambdas must be positive and non-increasing")
    return lam

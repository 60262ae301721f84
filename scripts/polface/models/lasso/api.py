"""The public functions: :func:`lasso_path` (``glmnet``), :func:`cv_lasso` (``cv.glmnet``) and
:func:`lambda_max`, all with the exact coordinate-descent solver.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from polface.models.lasso.driver import CDSolver, cross_validate, fit_path
from polface.models.lasso.kernels import gradients
from polface.models.lasso.options import CVOptions, EarlyStop, Family, GlmnetControl, PathOptions
from polface.models.lasso.problem import check_y, setup, standardise
from polface.models.lasso.results import CVResult, LassoPath


def lambda_max(X: np.ndarray, y: np.ndarray, family: Family = "binomial") -> float:
    """The smallest lambda at which every coefficient is zero (glmnet's units)."""
    Xs, _, xs = standardise(X, np.float64)
    y = check_y(y, Xs.shape[0], family)
    pr = setup(Xs, y, np.ones((1, Xs.shape[0]), dtype=bool), family, xs)
    w = pr.W[0]
    r = w * pr.Y[0] if family == "gaussian" else w * (pr.Y[0] - float(w @ pr.Y[0]))
    ga = np.zeros((1, Xs.shape[1]))
    gradients(Xs, r[None, :], pr.C[:1], pr.S[:1], pr.JU[:1], ga)
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
    overwrite_x: bool = False,
) -> LassoPath:
    """Fit the lasso path as ``glmnet(X, y, family, alpha = 1, standardize = TRUE)``.

    Args:
        X: (n, p) features (float32 or float64), any memory order; one copy is made (see
            ``dtype``).
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
        dtype: how the copy of X is stored. float64: standardised, glmnet's own arithmetic.
            float32: X's own values in single precision, half the memory and half the memory
            traffic of the coordinate descent, standardised inside the float64 sums (as every
            CV fold is); exact when X's values are float32 (as the feature files store them),
            otherwise the fit sees X rounded to float32. Every product and sum is float64.
        overwrite_x: use X itself when it is Fortran-ordered and of type ``dtype`` (float64:
            standardised in place), so no copy is made; the results are the same bits.

    Returns:
        The path, coefficients on the original scale.
    """
    path = PathOptions.from_keywords(locals())
    return fit_path(
        X, y, family, path, dtype=dtype, solver=CDSolver, overwrite_x=overwrite_x,
        implicit=_implicit(dtype),
    )  # fmt: skip


def _implicit(dtype: type) -> bool:
    """Whether the exact solver keeps X's own values (float32) rather than a standardised copy."""
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype).name}")
    return np.dtype(dtype) == np.float32


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
    overwrite_x: bool = False,
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
            dtype, overwrite_x: as in :func:`lasso_path` (with ``overwrite_x`` the rows of X are
            also put in fold order in place; user ``lambdas`` are used by every fold, as in R).
        foldid: (n,) fold labels (any integers; each label is one fold).
        fold_lambdas: ``"own"`` (cv.glmnet 4.1) or ``"shared"`` (see above).
        early_stop: an approximation that stops all paths once the CV curve has come down and
            clearly turned (:class:`EarlyStop`); ``None`` scores the whole sequence exactly
            like cv.glmnet.
        n_threads: cores to use (default all that numba sees).

    Returns:
        The CV curve, lambda.min, lambda.1se and the full-data path.
    """
    path = PathOptions.from_keywords(locals())
    cv = CVOptions(fold_lambdas=fold_lambdas, early_stop=early_stop, n_threads=n_threads)
    return cross_validate(
        X, y, foldid, family, path, cv, dtype=dtype, solver=CDSolver, overwrite_x=overwrite_x,
        implicit=_implicit(dtype),
    )  # fmt: skip

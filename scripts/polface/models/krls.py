"""Kernel regularised least squares (Hainmueller & Hazlett 2014, Political Analysis 22(2)).

As the paper (and its R package ``KRLS``) defines it:

* X is standardised column-wise (mean 0, SD with n - 1) and so is y;
* Gaussian kernel ``K_ij = exp(-||x_i - x_j||² / sigma)`` with ``sigma`` = the number of
  columns;
* ``c = (K + lambda I)^{-1} y`` and fitted values ``K c``;
* ``lambda`` minimises the leave-one-out squared error, which in closed form is
  ``sum_i (c_i / [(K + lambda I)^{-1}]_ii)²``; with ``K = V diag(d) V'`` computed once, every
  ``lambda`` costs O(n²), so the search is cheap after one O(n³) eigendecomposition;
* the pointwise derivative of the fitted surface with respect to column ``d`` at observation j,
  ``-2/sigma · sum_i c_i K_ij (x_jd - x_id)``, rescaled by ``sd(y) / sd(x_d)``, and its average
  over the observations (the average marginal effect);
* for a binary column, the first difference instead: the mean over the observations of the
  fitted value with the column at its higher value minus at its lower value;
* variances from ``Var(c) = s² (K + lambda I)^{-2}`` with ``s²`` the mean squared residual (on
  the standardised scale), as the package computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar


@dataclass
class KRLSFit:
    """A fitted KRLS model (everything on the standardised scale unless named otherwise)."""

    X: np.ndarray  # standardised
    x_mean: np.ndarray
    x_sd: np.ndarray
    y_mean: float
    y_sd: float
    sigma: float
    lam: float
    coefficients: np.ndarray
    kernel: np.ndarray
    vcov_c: np.ndarray
    loo_loss: float

    @property
    def fitted(self) -> np.ndarray:
        """Fitted values on y's scale."""
        return self.kernel @ self.coefficients * self.y_sd + self.y_mean

    def predict(self, X_new: np.ndarray) -> np.ndarray:
        """Predictions on y's scale for new rows (original scale of X)."""
        Z = (np.asarray(X_new, dtype=np.float64) - self.x_mean) / self.x_sd
        return gaussian_kernel(Z, self.X, self.sigma) @ self.coefficients * self.y_sd + self.y_mean


def gaussian_kernel(A: np.ndarray, B: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(-||a_i - b_j||² / sigma)`` for every row pair."""
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.exp(-np.maximum(sq, 0.0) / sigma)


def _loo_loss(eigenvalues: np.ndarray, V: np.ndarray, Vty: np.ndarray, lam: float) -> float:
    inverse = 1.0 / (eigenvalues + lam)
    c = V @ (inverse * Vty)
    diagonal = (V * V) @ inverse
    return float(np.sum((c / diagonal) ** 2))


def fit_krls(
    X: np.ndarray,
    y: np.ndarray,
    *,
    lam: float | None = None,
    sigma: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> KRLSFit:
    """Fit KRLS; ``lam`` None: chosen by leave-one-out error over ``bounds`` (default
    ``(1e-6, n)``, searched on the log scale). Raises ValueError on constant columns or NaN."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be n × p with n = len(y) = {len(y)}, got shape {X.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite (drop rows with missing values first)")
    n, p = X.shape
    x_mean, x_sd = X.mean(0), X.std(0, ddof=1)
    if (x_sd == 0).any():
        raise ValueError(f"columns {np.flatnonzero(x_sd == 0).tolist()} of X are constant")
    y_mean, y_sd = float(y.mean()), float(y.std(ddof=1))
    Z = (X - x_mean) / x_sd
    ys = (y - y_mean) / y_sd
    sigma = float(p if sigma is None else sigma)
    K = gaussian_kernel(Z, Z, sigma)
    eigenvalues, V = np.linalg.eigh(K)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    Vty = V.T @ ys
    if lam is None:
        low, high = bounds if bounds is not None else (1e-6, float(n))
        result = minimize_scalar(
            lambda t: _loo_loss(eigenvalues, V, Vty, 10.0**t),
            bounds=(np.log10(low), np.log10(high)),
            method="bounded",
            options={"xatol": 1e-4},
        )
        lam = float(10.0**result.x)
    inverse = 1.0 / (eigenvalues + lam)
    c = V @ (inverse * Vty)
    residuals = ys - K @ c
    s2 = float(residuals @ residuals / n)
    vcov_c = (V * (s2 * inverse**2)) @ V.T
    return KRLSFit(
        X=Z,
        x_mean=x_mean,
        x_sd=x_sd,
        y_mean=y_mean,
        y_sd=y_sd,
        sigma=sigma,
        lam=lam,
        coefficients=c,
        kernel=K,
        vcov_c=vcov_c,
        loo_loss=_loo_loss(eigenvalues, V, Vty, lam),
    )


def pointwise_derivatives(fit: KRLSFit, column: int) -> np.ndarray:
    """The derivative of the fitted surface with respect to ``column`` at every observation (y
    per unit of x, original scales)."""
    z = fit.X[:, column]
    # weights[j, i] = K_ij (z_i - z_j): the derivative at j is -2/sigma sum_i c_i K_ij (z_j - z_i)
    weights = fit.kernel * (z[None, :] - z[:, None])
    derivative = (2.0 / fit.sigma) * weights @ fit.coefficients
    return derivative * fit.y_sd / fit.x_sd[column]


def average_marginal_effect(fit: KRLSFit, column: int) -> tuple[float, float]:
    """The mean of the pointwise derivatives and its SE (original scales)."""
    z = fit.X[:, column]
    weights = fit.kernel * (z[None, :] - z[:, None])
    a = (2.0 / fit.sigma) * weights.mean(0)
    scale = fit.y_sd / fit.x_sd[column]
    estimate = float(a @ fit.coefficients) * scale
    se = float(np.sqrt(a @ fit.vcov_c @ a)) * scale
    return estimate, se


def first_difference(fit: KRLSFit, column: int) -> tuple[float, float]:
    """For a binary column: mean fitted value at its higher minus its lower value, and its SE."""
    raw = fit.X[:, column] * fit.x_sd[column] + fit.x_mean[column]
    levels = np.unique(raw)
    if len(levels) != 2:
        raise ValueError(f"column {column} has {len(levels)} distinct values, not 2")
    rows = []
    for level in levels:
        Z = fit.X.copy()
        Z[:, column] = (level - fit.x_mean[column]) / fit.x_sd[column]
        rows.append(gaussian_kernel(Z, fit.X, fit.sigma).mean(0))
    w = rows[1] - rows[0]
    estimate = float(w @ fit.coefficients) * fit.y_sd
    se = float(np.sqrt(w @ fit.vcov_c @ w)) * fit.y_sd
    return estimate, se


def marginal_effects(fit: KRLSFit, names: list[str]) -> list[dict]:
    """Per column: the average marginal effect (or, for a binary column, the first difference)
    with its SE, and the quartiles of the pointwise derivatives (NaN for a binary column)."""
    out = []
    for k, name in enumerate(names):
        raw = fit.X[:, k] * fit.x_sd[k] + fit.x_mean[k]
        binary = len(np.unique(raw)) == 2
        estimate, se = first_difference(fit, k) if binary else average_marginal_effect(fit, k)
        if binary:
            q25 = q50 = q75 = float("nan")
        else:
            q25, q50, q75 = np.quantile(pointwise_derivatives(fit, k), [0.25, 0.5, 0.75])
        out.append(
            {
                "term": name,
                "effect": "first difference" if binary else "average marginal effect",
                "estimate": estimate,
                "se": se,
                "derivative_p25": q25,
                "derivative_median": q50,
                "derivative_p75": q75,
            }
        )
    return out

"""What a fit returns: the regularisation path (:class:`LassoPath`) and the cross-validation
(:class:`CVResult`), each able to predict for new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from polface.models.lasso.options import Family


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

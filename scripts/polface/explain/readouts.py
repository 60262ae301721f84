"""What LIME explains: a model's logit or rating on an embedding, and the controls beside it.

A readout maps embeddings ``(n, D)`` to one number per row through ``predict``. The fitted
LASSO models (:class:`polface.models.artifacts.LinearModel`) are read out on the scale of their
linear predictor (:class:`LinkReadout`): the logit for a binomial model (never the saturated
probability), the rating itself for a gaussian one.

Controls, explained exactly like the model they stand beside:

- :func:`permuted_refit`: the same LASSO refitted on the same training rows with the labels
  permuted, at the real model's lambda (cross-validation on permuted labels would select the
  empty model, which has nothing to explain).
- :func:`random_readout`: a random linear readout of the same embedding with the real model's
  sparsity (number of nonzero coefficients) and coefficient norm (L2), and its intercept.
- perceived-demographics readouts: LASSO models of the faces' perceived age, gender and race
  (OMI ratings) on the same embedding (rule ``fit_omi_readouts``), read out like the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polface.models.artifacts import LinearModel
from polface.models.lasso import lasso_path

#: Names of the arms of an explained target, in display order.
MODEL = "model"
PERMUTED = "permuted labels"
RANDOM = "random readout"


@dataclass(frozen=True)
class LinkReadout:
    """A LASSO read out on its linear predictor: the logit (binomial) or the rating."""

    model: LinearModel

    @property
    def quantity(self) -> str:
        """``logit`` or ``rating``."""
        return "logit" if self.model.family == "binomial" else "rating"

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (a design matrix)
        """The linear predictor of the rows of ``X``."""
        return self.model.link(X)


def permuted_refit(
    model: LinearModel,
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,  # noqa: N803
) -> LinearModel:
    """``model``'s LASSO refitted on ``(X, permuted y)`` at ``model``'s lambda (glmnet's units)."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) != len(X):
        raise ValueError(f"{len(X)} training rows but {len(y)} labels")
    permuted = np.random.default_rng(seed).permutation(y)
    path = lasso_path(
        np.asarray(X, dtype=np.float64),
        permuted,
        model.family,
        lambdas=np.array([model.lambda_]),
    )
    return LinearModel(
        family=model.family,
        intercept=float(path.a0[0]),
        coef=np.asarray(path.beta[0], dtype=np.float64),
        lambda_=model.lambda_,
    )


def random_readout(model: LinearModel, *, seed: int) -> LinearModel:
    """A readout with ``model``'s number of nonzero coefficients, L2 norm and intercept.

    The support is drawn uniformly among the embedding's dimensions and the values from a
    standard normal, rescaled to the norm. A model without a nonzero coefficient gives itself.
    """
    coef = np.asarray(model.coef, dtype=np.float64)
    k = int(np.count_nonzero(coef))
    out = np.zeros_like(coef)
    if k:
        rng = np.random.default_rng(seed)
        support = rng.choice(len(coef), size=k, replace=False)
        values = rng.standard_normal(k)
        out[support] = values * (np.linalg.norm(coef) / np.linalg.norm(values))
    return LinearModel(
        family=model.family, intercept=model.intercept, coef=out, lambda_=model.lambda_
    )

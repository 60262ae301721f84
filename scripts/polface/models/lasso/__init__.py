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
one shared copy of X, and each fold's own standardisation is applied implicitly as
``(Xs - c) / s``, so no per-fold copy of X is made. With ``dtype=np.float64`` the copy is
standardised (glmnet's arithmetic); with ``dtype=np.float32`` it holds X's own values in single
precision and the full data is standardised implicitly too: half the memory and half the memory
traffic, and the same fit to rounding when X's values are float32, as feature files store them
(``tests/test_lasso.py::test_float32_features_fit_exactly_from_their_own_values``). Sums are
always accumulated in float64. The kernels add in an order fixed by
the source (32 interleaved partial sums combined pairwise, vectorised without reassociation; see
:mod:`polface.models.lasso.kernels`), so a rerun gives the same bits; on the test problems the
path agrees with R's glmnet to 1e-10 (relative) in lambda, 1e-6 (absolute) in the coefficients
and intercepts and 1e-6 (relative) in the cross-validated error
(``tests/test_lasso.py::test_against_r_glmnet``). The optional early
stop (:class:`EarlyStop`, an approximation) ends every path once the mean held-out measure has
come down by more than one CV standard error from its first value and then stayed above its
minimum plus one standard error for ``patience`` consecutive lambdas; the final model is the
same whenever the curve does not fall to a new minimum after such a run.

The package, arrows pointing down: :mod:`~polface.models.lasso.api` (the public functions) →
:mod:`~polface.models.lasso.driver` (the lockstep driver, the CV scoring, the exact solver
:class:`~polface.models.lasso.driver.CDSolver`) → :mod:`~polface.models.lasso.problem`
(validation, standardisation, the problems, the lambda sequence, the settings) →
:mod:`~polface.models.lasso.kernels` (numba), with :mod:`~polface.models.lasso.options` and
:mod:`~polface.models.lasso.results` (the public types) below them all.
:mod:`~polface.models.lasso.fista` (torch, imported only on use) drives the same driver with a
batched FISTA solver: ``cv_lasso_torch`` and ``lasso_path_torch`` are available here too, and
importing them imports torch.
"""

from __future__ import annotations

from typing import Any

from polface.models.lasso.api import cv_lasso, lambda_max, lasso_path
from polface.models.lasso.options import EarlyStop, Family, GlmnetControl
from polface.models.lasso.results import CVResult, LassoPath

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

_TORCH_NAMES = ("cv_lasso_torch", "lasso_path_torch")


def __getattr__(name: str) -> Any:
    """``cv_lasso_torch`` and ``lasso_path_torch`` from :mod:`.fista`, imported on first use
    (importing this package does not import torch)."""
    if name in _TORCH_NAMES:
        from polface.models.lasso import fista

        return getattr(fista, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

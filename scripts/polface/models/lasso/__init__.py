"""glmnet's LASSO (binomial and gaussian): path, cross-validation, and a batched torch solver.

The code lives in :mod:`polface.models.lasso.driver` (coordinate descent, numba) and
:mod:`polface.models.lasso.fista` (batched FISTA, torch) for now; this package re-exports the
public names of the former.
"""

from polface.models.lasso.driver import (
    CVResult,
    EarlyStop,
    Family,
    GlmnetControl,
    LassoPath,
    cv_lasso,
    lambda_max,
    lasso_path,
)

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

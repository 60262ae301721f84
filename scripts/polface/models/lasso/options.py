"""The options of a fit: the model family, glmnet's internal parameters (:class:`GlmnetControl`)
and the early stop of the cross-validation (:class:`EarlyStop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["binomial", "gaussian"]


@dataclass(frozen=True)
class GlmnetControl:
    """Internal parameters, with the defaults of R's ``glmnet.control()`` and ``glmnet()``.

    Attributes:
        thresh: convergence threshold of coordinate descent (``glmnet(thresh = 1e-7)``).
        maxit: maximum number of coordinate-descent passes per lambda (``glmnet(maxit = 1e5)``).
        fdev: minimum change of the deviance ratio between lambdas before the path stops.
        devmax: the path stops once the deviance ratio exceeds this.
        eps: smallest ``lambda_min_ratio`` allowed.
        big: the "infinite" first lambda of a computed sequence.
        mnlam: minimum number of lambdas before the deviance rules can stop the path.
        pmin: fitted probabilities are clamped to ``[pmin, 1 - pmin]``.
        exmx: linear predictors are clamped to ``[-exmx, exmx]`` before the logistic function.
    """

    thresh: float = 1e-7
    maxit: int = 100_000
    fdev: float = 1e-5
    devmax: float = 0.999
    eps: float = 1e-6
    big: float = 9.9e35
    mnlam: int = 5
    pmin: float = 1e-9
    exmx: float = 250.0


@dataclass(frozen=True)
class EarlyStop:
    """Stop every CV path once the mean held-out deviance has clearly passed its minimum.

    After each lambda the mean CV deviance ``cvm`` is compared with its running minimum ``best``;
    the lambda counts as *risen* when ``cvm > best + tol * |best|``. All paths (folds and the full
    data) stop after ``patience`` consecutive risen lambdas. A lambda that is not risen resets the
    count. ``tol >= 0`` makes the rule more conservative (it stops later, never earlier).
    """

    patience: int = 10
    tol: float = 0.0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"EarlyStop.patience must be >= 1, got {self.patience}")
        if self.tol < 0:
            raise ValueError(f"EarlyStop.tol must be >= 0, got {self.tol}")

"""The options of a fit: the model family, the lambda path (:class:`PathOptions`), how the
cross-validation runs (:class:`CVOptions`), glmnet's internal parameters (:class:`GlmnetControl`)
and the early stop of the cross-validation (:class:`EarlyStop`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

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
class PathOptions:
    """The lambda path of one fit, as :func:`polface.models.lasso.lasso_path` documents each.

    Built by the public functions from their keywords (R glmnet's defaults there:
    :meth:`from_keywords`) and handed whole to the driver: ``nlambda``, ``lambda_min_ratio``,
    ``lambdas`` (a user sequence), ``dfmax``, ``pmax``, ``type_gaussian`` and ``control``
    (None: the default named there).
    """

    nlambda: int
    lambda_min_ratio: float | None
    lambdas: Any  # np.ndarray | None: a user sequence in original units, decreasing
    dfmax: int | None
    pmax: int | None
    type_gaussian: Literal["covariance", "naive"] | None
    control: GlmnetControl | None

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> PathOptions:
        """The path options among a public function's keywords (its ``locals()``), by name;
        other names are ignored, and ``type_gaussian`` is None where the function has none."""
        missing = [
            f.name for f in fields(cls) if f.name != "type_gaussian" and f.name not in keywords
        ]
        if missing:
            raise TypeError(f"PathOptions.from_keywords: no keyword {', '.join(missing)}")
        return cls(**{f.name: keywords.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class CVOptions:
    """How :func:`polface.models.lasso.cv_lasso` cross-validates: the folds' own or the shared
    lambda sequence, the optional :class:`EarlyStop`, and the cores (None: all numba sees)."""

    fold_lambdas: Literal["own", "shared"]
    early_stop: EarlyStop | None
    n_threads: int | None


@dataclass(frozen=True)
class EarlyStop:
    """An opt-in approximation of cv.glmnet: stop the CV paths once the curve has clearly turned.

    cv.glmnet scores every lambda of the sequence. This rule ends all paths (folds and the full
    data) early, and so can choose another ``lambda.min`` where the CV curve falls again after a
    long rise. After each scored lambda, with ``cvm`` and ``cvsd`` the mean CV measure and its
    standard error as cv.glmnet computes them and ``best`` the lowest ``cvm`` so far (``best_sd``
    its standard error):

    - the curve has *come down* once ``best + best_sd < cvm[0]``: its minimum lies more than one
      standard error below its value at the first lambda (a curve that has not come down never
      stops, however long it stays flat or rises);
    - a lambda is *risen* when ``cvm > best + best_sd + tol * |best|``;
    - the paths stop after ``patience`` consecutive risen lambdas of a curve that has come down.

    ``tol >= 0`` makes the rule more conservative (it stops later, never earlier).
    :meth:`tracker` gives the rule's state machine; the CV driver feeds it one lambda at a time.
    """

    patience: int = 10
    tol: float = 0.0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"EarlyStop.patience must be >= 1, got {self.patience}")
        if self.tol < 0:
            raise ValueError(f"EarlyStop.tol must be >= 0, got {self.tol}")

    def tracker(self) -> EarlyStopTracker:
        """A fresh state machine of this rule (one per cross-validation)."""
        return EarlyStopTracker(self)


class EarlyStopTracker:
    """The state of :class:`EarlyStop` along one CV curve: :meth:`update` says when to stop."""

    def __init__(self, rule: EarlyStop) -> None:
        self.rule = rule
        self.first: float | None = None
        self.best = float("inf")
        self.best_sd = 0.0
        self.risen = 0

    def update(self, cvm: float, cvsd: float) -> bool:
        """Score the next lambda (its mean CV measure and standard error); True means stop."""
        if self.first is None:
            self.first = cvm
        if cvm < self.best:
            self.best, self.best_sd = cvm, cvsd
        come_down = self.best + self.best_sd < self.first
        ceiling = self.best + self.best_sd + self.rule.tol * abs(self.best)
        self.risen = self.risen + 1 if come_down and cvm > ceiling else 0
        return self.risen >= self.rule.patience

"""Sensitivity of an OLS coefficient to omitted variables, in closed form (Cinelli & Hazlett 2020).

"Making Sense of Sensitivity: Extending Omitted Variable Bias", JRSS-B 82(1). Everything here
is a function of a coefficient's estimate, its OLS SE, the residual degrees of freedom, and
(for the bounds) the partial R² of a benchmark covariate; the formulas are the paper's:

* partial R² of the treatment with the outcome: ``R²_{Y~D|X} = t² / (t² + dof)``;
* partial Cohen's f: ``f = t / sqrt(dof)``;
* robustness value (eq. 18-19): with ``f_q = q |f|`` (and, for a significance level ``alpha``,
  ``f_{q,alpha} = f_q - |t*_{alpha/2, dof-1}| / sqrt(dof - 1)``),
  ``RV = (sqrt(f⁴ + 4 f²) - f²) / 2``, zero where ``f_{q,alpha} <= 0``;
* bounds from a benchmark covariate ``X_j`` (section 6.2) with ``kd`` times its partial R² with
  the treatment (and ``ky`` times, default ``kd``, with the outcome):
  ``R²_{D~Z|X} = kd R²_{D~Xj|X-j} / (1 - R²_{D~Xj|X-j})`` and
  ``R²_{Y~Z|D,X} = ((sqrt(ky R²_{Y~Xj|D,X-j}) + sqrt(η)) / sqrt(1 - η))²`` (at most 1), with
  ``η = kd R²_{D~Xj|X-j}² / ((1 - kd R²_{D~Xj|X-j})(1 - R²_{D~Xj|X-j}))``;
* the adjusted estimate and SE under a confounder of given strength (eq. 4 and 5):
  ``bias = sqrt(R²_{Y~Z|D,X} R²_{D~Z|X} / (1 - R²_{D~Z|X})) · se · sqrt(dof)``, the estimate
  moved ``bias`` towards zero, and
  ``se' = sqrt((1 - R²_{Y~Z|D,X}) / (1 - R²_{D~Z|X})) · se · sqrt(dof / (dof - 1))``.

``sensemakr`` (R) computes the same quantities; polface does not depend on it (its Python port
pulls in jupyter).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t


class ImpossibleBound(ValueError):
    """kd times the benchmark's partial R² with the treatment implies R²_{D~Z|X} >= 1."""


def partial_r2(t_statistic, dof):
    """Partial R² of a coefficient from its t statistic and the residual degrees of freedom."""
    t2 = np.square(np.asarray(t_statistic, dtype=np.float64))
    return t2 / (t2 + dof)


def partial_f(t_statistic, dof):
    """Partial Cohen's f (absolute) of a coefficient."""
    return np.abs(np.asarray(t_statistic, dtype=np.float64)) / np.sqrt(dof)


def robustness_value(t_statistic, dof, q: float = 1.0, alpha: float | None = None):
    """RV_q (``alpha`` None) or RV_{q,alpha}: the partial R² a confounder needs with both the
    treatment and the outcome to move the estimate by ``q`` of itself (or to make it
    insignificant at ``alpha``)."""
    if q <= 0:
        raise ValueError(f"q must be > 0, got {q}")
    f = q * partial_f(t_statistic, dof)
    if alpha is not None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        f = f - abs(student_t.ppf(alpha / 2.0, dof - 1)) / np.sqrt(dof - 1)
    rv = 0.5 * (np.sqrt(f**4 + 4.0 * f**2) - f**2)
    return np.where(f > 0, rv, 0.0)


def benchmark_bounds(
    r2dxj_x: float, r2yxj_dx: float, kd: float, ky: float | None = None
) -> tuple[float, float]:
    """``(R²_{D~Z|X}, R²_{Y~Z|D,X})`` of a confounder ``kd`` (``ky``) times as strong as ``X_j``.

    ``r2dxj_x``: partial R² of ``X_j`` in the treatment regression ``D ~ X``; ``r2yxj_dx``:
    partial R² of ``X_j`` in the outcome regression ``Y ~ D + X``.
    """
    ky = kd if ky is None else ky
    r2dz = kd * r2dxj_x / (1.0 - r2dxj_x)
    if r2dz >= 1.0:
        raise ImpossibleBound(
            f"kd = {kd} times the benchmark's partial R² with the treatment ({r2dxj_x}) is "
            "impossible (R²_{D~Z|X} >= 1); use a smaller kd"
        )
    eta = kd * r2dxj_x**2 / ((1.0 - kd * r2dxj_x) * (1.0 - r2dxj_x))
    r2yz = ((np.sqrt(ky * r2yxj_dx) + np.sqrt(eta)) / np.sqrt(1.0 - eta)) ** 2
    return float(r2dz), float(min(r2yz, 1.0))


def bias(se: float, dof: float, r2dz_x, r2yz_dx):
    """The omitted-variable bias of a confounder with these partial R² values."""
    r2dz_x = np.asarray(r2dz_x, dtype=np.float64)
    return np.sqrt(np.asarray(r2yz_dx) * r2dz_x / (1.0 - r2dz_x)) * se * np.sqrt(dof)


def adjusted_estimate(estimate: float, se: float, dof: float, r2dz_x, r2yz_dx):
    """The estimate moved towards zero by the bias of such a confounder."""
    return estimate - np.sign(estimate) * bias(se, dof, r2dz_x, r2yz_dx)


def adjusted_se(se: float, dof: float, r2dz_x, r2yz_dx):
    """The OLS SE had the confounder been included."""
    r2dz_x = np.asarray(r2dz_x, dtype=np.float64)
    return np.sqrt((1.0 - np.asarray(r2yz_dx)) / (1.0 - r2dz_x)) * se * np.sqrt(dof / (dof - 1))

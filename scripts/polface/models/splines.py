"""The spline features of the Facial Finetuning study's demographic baseline.

Cubic B-splines of perceived gender and age (OMI's mean ratings, 0-100), linear beyond the
outer knots, and their tensor product (the interaction). The knots are quantiles of the training
faces; :func:`demographic_knots` finds them and :func:`demographic_basis` rebuilds the features
of any rows from the knots alone, so a saved model needs only its knots and coefficients.
"""

from __future__ import annotations

import numpy as np

#: The columns of the demographic baseline, in order: perceived gender and age.
DEMOGRAPHIC_COLUMNS = ("gender", "age")


def demographic_knots(train: np.ndarray, *, knots: int) -> np.ndarray:
    """``knots`` quantiles of each column of ``train`` (n, 2): the knots, shape (knots, 2)."""
    from sklearn.preprocessing import SplineTransformer

    spline = SplineTransformer(n_knots=knots, degree=3, knots="quantile", extrapolation="linear")
    spline.fit(np.asarray(train, dtype=np.float64))
    return np.column_stack([b.t[3:-3] for b in spline.bsplines_])


def demographic_basis(values: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The cubic B-spline bases of both columns of ``values`` (n, 2) at ``knots`` and their
    tensor product: shape (n, 2 (k + 2) + (k + 2)²) for k knots."""
    from sklearn.preprocessing import SplineTransformer

    knots = np.asarray(knots, dtype=np.float64)
    spline = SplineTransformer(knots=knots, degree=3, extrapolation="linear").fit(knots)
    width = len(knots) + 2  # basis functions per column
    bases = spline.transform(np.asarray(values, dtype=np.float64))
    g, a = bases[:, :width], bases[:, width:]
    tensor = (g[:, :, None] * a[:, None, :]).reshape(len(values), -1)
    return np.hstack([bases, tensor])

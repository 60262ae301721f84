"""KRLS (Hainmueller & Hazlett 2014) on functions whose derivatives are known."""

from __future__ import annotations

import numpy as np
import pytest

from polface.models import krls


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(7)
    n = 300
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-2, 2, size=n)
    b = rng.integers(0, 2, size=n).astype(float)
    y = 2.0 * x1 + np.sin(x2) + 0.7 * b + 0.1 * rng.normal(size=n)
    X = np.column_stack([x1, x2, b])
    return X, y, krls.fit_krls(X, y)


def test_average_marginal_effects_and_first_differences_recover_the_truth(planted) -> None:
    X, _, fit = planted
    effects = {r["term"]: r for r in krls.marginal_effects(fit, ["x1", "x2", "b"])}
    assert effects["x1"]["effect"] == "average marginal effect"
    assert effects["x1"]["estimate"] == pytest.approx(2.0, abs=0.05)
    assert effects["x2"]["estimate"] == pytest.approx(np.cos(X[:, 1]).mean(), abs=0.05)
    assert effects["b"]["effect"] == "first difference"
    assert effects["b"]["estimate"] == pytest.approx(0.7, abs=0.05)
    assert all(r["se"] > 0 for r in effects.values())
    # the pointwise derivative of sin is cos
    derivative = krls.pointwise_derivatives(fit, 1)
    assert np.corrcoef(derivative, np.cos(X[:, 1]))[0, 1] > 0.9


def test_pointwise_derivatives_are_the_fitted_surfaces_slope(planted) -> None:
    X, _, fit = planted
    h = 1e-5
    for column in (0, 1):
        up, down = X.copy(), X.copy()
        up[:, column] += h
        down[:, column] -= h
        numeric = np.empty(len(X))
        # one row at a time: only that row's x moves, the training points stay
        for j in range(0, len(X), 37):
            numeric[j] = (fit.predict(up[j : j + 1])[0] - fit.predict(down[j : j + 1])[0]) / (2 * h)
        rows = np.arange(0, len(X), 37)
        analytic = krls.pointwise_derivatives(fit, column)[rows]
        np.testing.assert_allclose(analytic, numeric[rows], rtol=1e-5, atol=1e-6)


def test_the_closed_form_leave_one_out_error_is_refitting_without_each_row() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(25, 2))
    y = X[:, 0] ** 2 + rng.normal(size=25) * 0.3
    fit = krls.fit_krls(X, y, lam=0.3)
    K, ys = fit.kernel, (y - y.mean()) / y.std(ddof=1)
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        c = np.linalg.solve(K[np.ix_(keep, keep)] + 0.3 * np.eye(len(y) - 1), ys[keep])
        errors.append(ys[i] - K[i, keep] @ c)
    assert fit.loo_loss == pytest.approx(float(np.sum(np.square(errors))), rel=1e-9)
    # lambda chosen by that error is the minimum over a grid
    chosen = krls.fit_krls(X, y)
    grid = [krls.fit_krls(X, y, lam=lam).loo_loss for lam in np.logspace(-4, 1, 40)]
    assert chosen.loo_loss <= min(grid) + 1e-9


def test_bad_inputs_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="constant"):
        krls.fit_krls(np.column_stack([np.ones(5), np.arange(5.0)]), np.arange(5.0))
    with pytest.raises(ValueError, match="finite"):
        krls.fit_krls(np.array([[1.0], [np.nan], [2.0]]), np.arange(3.0))
    with pytest.raises(ValueError, match="n × p"):
        krls.fit_krls(np.arange(5.0), np.arange(5.0))

"""Baselines of the Facial Finetuning evaluation table, on the authors' split.

Every baseline is fitted on the training faces, its one setting chosen by the mean squared error
on the validation faces (as the paper's network chose its checkpoint), and it predicts the test
faces:

* ``ridge · BACKEND`` and ``lasso · BACKEND``: ridge regression (scikit-learn, columns
  standardised on the training faces, penalty from a grid) and polface's Gaussian LASSO
  (glmnet's path, :func:`polface.models.lasso.lasso_path` with ``family="gaussian"``, lambda from
  its path) on frozen face embeddings of the image branch (``embeddings_BACKEND.parquet``).
* ``perceived gender + age``: the faces' *perceived* gender and age (OMI's mean ratings, 0-100)
  alone, flexible in both: cubic B-splines of each and their tensor product (the interaction),
  with a ridge penalty from a grid. No face pixels enter it; on this split it predicts
  attractiveness about as well as the paper's network, which the reader must see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from polface.data.finetuning import TRAITS, FacialFinetuningDataError
from polface.frames import IMAGE_ID
from polface.models.splines import DEMOGRAPHIC_COLUMNS, demographic_basis, demographic_knots

DEMOGRAPHICS_MODEL = "perceived gender + age"


def split_features(
    split: pd.DataFrame, ids: Sequence[str], X: np.ndarray, *, source: str
) -> dict[str, np.ndarray]:
    """Rows of ``X`` (ids ``ids``) for the train, validation and test faces, in split order."""
    index = {str(i): k for k, i in enumerate(ids)}
    missing = [i for i in split[IMAGE_ID] if i not in index]
    if missing:
        raise FacialFinetuningDataError(
            f"{source}: no embedding for {len(missing)} faces of the split: {missing[:10]}"
        )
    return {
        part: X[[index[i] for i in split.loc[split["split"] == part, IMAGE_ID]]]
        for part in ("train", "validation", "test")
    }


def _targets(split: pd.DataFrame, trait: str) -> dict[str, np.ndarray]:
    return {
        part: split.loc[split["split"] == part, trait].to_numpy(dtype=np.float64)
        for part in ("train", "validation", "test")
    }


def _mse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((y - p) ** 2))


def ridge_predictions(
    X: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], *, alphas: Sequence[float]
) -> tuple[np.ndarray, dict[str, float]]:
    """Ridge on standardised columns; ``alpha`` with the least validation MSE; test predictions."""
    from sklearn.linear_model import Ridge

    mean = X["train"].mean(axis=0)
    sd = X["train"].std(axis=0)
    sd[sd == 0] = 1.0
    Z = {part: (np.asarray(m, dtype=np.float64) - mean) / sd for part, m in X.items()}
    scores = []
    for alpha in alphas:
        fit = Ridge(alpha=float(alpha)).fit(Z["train"], y["train"])
        scores.append(_mse(y["validation"], fit.predict(Z["validation"])))
    best = int(np.argmin(scores))
    fit = Ridge(alpha=float(alphas[best])).fit(Z["train"], y["train"])
    info = {"alpha": float(alphas[best]), "validation_mse": scores[best]}
    params = {
        "intercept": float(fit.intercept_),
        "coef": fit.coef_,
        "x_mean": mean,
        "x_sd": sd,
        "standardised": True,
    }
    return fit.predict(Z["test"]), info | {"params": params}


def lasso_predictions(
    X: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], *, nlambda: int
) -> tuple[np.ndarray, dict[str, float]]:
    """glmnet's Gaussian LASSO path on the training faces; the lambda with least validation MSE."""
    from polface.models.lasso import lasso_path

    path = lasso_path(
        np.asarray(X["train"], dtype=np.float64), y["train"], "gaussian", nlambda=nlambda
    )
    Xv = np.asarray(X["validation"], dtype=np.float64)
    scores = [_mse(y["validation"], path.predict(Xv, step)) for step in range(len(path.lambdas))]
    best = int(np.argmin(scores))
    prediction = path.predict(np.asarray(X["test"], dtype=np.float64), best)
    intercept, coef = path.coef(best)
    train = np.asarray(X["train"], dtype=np.float64)
    return prediction, {
        "lambda": float(path.lambdas[best]),
        "step": best,
        "nonzero": int(path.df[best]),
        "validation_mse": scores[best],
        # on the original scale (``intercept + X @ coef``); the training moments are a record
        "params": {
            "intercept": intercept,
            "coef": coef,
            "x_mean": train.mean(axis=0),
            "x_sd": train.std(axis=0),
            "standardised": False,
        },
    }


def demographic_features(
    split: pd.DataFrame, *, knots: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The demographic features of the three parts of the split (knots from the training faces),
    and the knots."""
    columns = list(DEMOGRAPHIC_COLUMNS)
    train = split.loc[split["split"] == "train", columns].to_numpy(dtype=np.float64)
    at = demographic_knots(train, knots=knots)
    return {
        part: demographic_basis(split.loc[split["split"] == part, columns].to_numpy(), at)
        for part in ("train", "validation", "test")
    }, at


def model_slug(kind: str, backend: str | None) -> str:
    """A baseline's file name: ``ridge_dlib``, ``lasso_vggface2``, ``demographics``."""
    return "demographics" if backend is None else f"{kind}_{backend}"


def fit_baselines(
    split: pd.DataFrame,
    embeddings: Mapping[str, tuple[Sequence[str], np.ndarray]],
    *,
    ridge_alphas: Sequence[float],
    lasso_nlambda: int,
    spline_knots: int,
) -> tuple[pd.DataFrame, list[dict[str, object]], list[dict[str, Any]]]:
    """Test predictions of every baseline for every trait, what each chose on validation, and
    the fitted models (for :func:`polface.models.artifacts.save_trait_models`).

    ``embeddings`` maps a backend name to (image ids, matrix). Returns the long predictions
    (``model``, ``image_id``, ``trait``, ``prediction``), one record per model and trait, and
    one entry per model (``name``, ``slug``, ``kind``, ``backend``, ``inputs``, ``knots``,
    ``traits``: {trait: intercept, coef, x_mean, x_sd}).
    """
    test_ids = split.loc[split["split"] == "test", IMAGE_ID].to_numpy()
    demographics, knots = demographic_features(split, knots=spline_knots)
    feature_sets: list[tuple[str, str, str | None, Mapping[str, np.ndarray]]] = [
        (DEMOGRAPHICS_MODEL, "ridge", None, demographics)
    ]
    for backend, (ids, X) in embeddings.items():
        parts = split_features(split, ids, X, source=f"embeddings_{backend}")
        feature_sets += [
            (f"ridge · {backend}", "ridge", backend, parts),
            (f"lasso · {backend}", "lasso", backend, parts),
        ]
    frames, chosen, models = [], [], []
    for model, kind, backend, parts in feature_sets:
        fitted = {}
        for trait in TRAITS:
            y = _targets(split, trait)
            if kind == "ridge":
                prediction, info = ridge_predictions(parts, y, alphas=ridge_alphas)
            else:
                prediction, info = lasso_predictions(parts, y, nlambda=lasso_nlambda)
            fitted[trait] = info.pop("params") | {
                "y_mean": float(np.mean(y["train"])),
                "y_sd": float(np.std(y["train"])),
            }
            frames.append(
                pd.DataFrame(
                    {"model": model, IMAGE_ID: test_ids, "trait": trait, "prediction": prediction}
                )
            )
            chosen.append({"model": model, "trait": trait, **info})
        models.append(
            {
                "name": model,
                "slug": model_slug(kind, backend),
                "kind": kind,
                "backend": backend,
                "inputs": "embedding" if backend else "perceived gender and age",
                "knots": None if backend else knots,
                "traits": fitted,
            }
        )
    return pd.concat(frames, ignore_index=True), chosen, models


def baseline_predictions(
    split: pd.DataFrame,
    embeddings: Mapping[str, tuple[Sequence[str], np.ndarray]],
    *,
    ridge_alphas: Sequence[float],
    lasso_nlambda: int,
    spline_knots: int,
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """:func:`fit_baselines` without the fitted models: the test predictions and the choices."""
    predictions, chosen, _ = fit_baselines(
        split,
        embeddings,
        ridge_alphas=ridge_alphas,
        lasso_nlambda=lasso_nlambda,
        spline_knots=spline_knots,
    )
    return predictions, chosen

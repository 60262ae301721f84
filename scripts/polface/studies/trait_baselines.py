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

import numpy as np
import pandas as pd

from polface.data.finetuning import TRAITS, FacialFinetuningDataError
from polface.frames import IMAGE_ID

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
    return fit.predict(Z["test"]), {"alpha": float(alphas[best]), "validation_mse": scores[best]}


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
    return prediction, {
        "lambda": float(path.lambdas[best]),
        "step": best,
        "nonzero": int(path.df[best]),
        "validation_mse": scores[best],
    }


def demographic_features(split: pd.DataFrame, *, knots: int) -> dict[str, np.ndarray]:
    """Cubic B-spline bases of perceived gender and age (knots from the training faces) and
    their tensor product, for the three parts of the split."""
    from sklearn.preprocessing import SplineTransformer

    columns = ["gender", "age"]
    train = split.loc[split["split"] == "train", columns].to_numpy(dtype=np.float64)
    spline = SplineTransformer(n_knots=knots, degree=3, knots="quantile", extrapolation="linear")
    spline.fit(train)
    width = knots + 2  # basis functions per column

    def features(values: np.ndarray) -> np.ndarray:
        bases = spline.transform(values)
        g, a = bases[:, :width], bases[:, width:]
        tensor = (g[:, :, None] * a[:, None, :]).reshape(len(values), -1)
        return np.hstack([bases, tensor])

    return {
        part: features(split.loc[split["split"] == part, columns].to_numpy(dtype=np.float64))
        for part in ("train", "validation", "test")
    }


def baseline_predictions(
    split: pd.DataFrame,
    embeddings: Mapping[str, tuple[Sequence[str], np.ndarray]],
    *,
    ridge_alphas: Sequence[float],
    lasso_nlambda: int,
    spline_knots: int,
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Test predictions of every baseline for every trait, and what each chose on validation.

    ``embeddings`` maps a backend name to (image ids, matrix). Returns the long predictions
    (``model``, ``image_id``, ``trait``, ``prediction``) and one record per model and trait.
    """
    test_ids = split.loc[split["split"] == "test", IMAGE_ID].to_numpy()
    demographics = demographic_features(split, knots=spline_knots)
    feature_sets: list[tuple[str, str, Mapping[str, np.ndarray]]] = [
        (DEMOGRAPHICS_MODEL, "ridge", demographics)
    ]
    for backend, (ids, X) in embeddings.items():
        parts = split_features(split, ids, X, source=f"embeddings_{backend}")
        feature_sets += [
            (f"ridge · {backend}", "ridge", parts),
            (f"lasso · {backend}", "lasso", parts),
        ]
    frames, chosen = [], []
    for model, kind, parts in feature_sets:
        for trait in TRAITS:
            y = _targets(split, trait)
            if kind == "ridge":
                prediction, info = ridge_predictions(parts, y, alphas=ridge_alphas)
            else:
                prediction, info = lasso_predictions(parts, y, nlambda=lasso_nlambda)
            frames.append(
                pd.DataFrame(
                    {"model": model, IMAGE_ID: test_ids, "trait": trait, "prediction": prediction}
                )
            )
            chosen.append({"model": model, "trait": trait, **info})
    return pd.concat(frames, ignore_index=True), chosen

"""polface.models.artifacts: every model the workflow writes loads back and predicts what it stored.

Each test fits on small data it makes, through the same library calls as the rule, writes the
artifact, loads it with the public loader and reproduces the stored out-of-fold predictions:
the LASSO and the OMI rating models to 1e-12, the MLP exactly (torch on the CPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from polface.data.omi import CONTROLS, EMBEDDING
from polface.models.artifacts import (
    LinearModel,
    MlpModel,
    load_lasso_folds,
    load_mlp_folds,
    load_rating_models,
    save_lasso_folds,
    save_mlp_folds,
    save_rating_models,
)
from polface.models.fitters import fit_sample_models, lasso_fitter, mlp_fitter
from polface.models.folds import make_folds
from polface.studies.omi_ratings import rating_predictions

#: The schema's lasso defaults, with a short path (the tests need speed, not the paper's scale).
LASSO = {
    "lambda_choice": "lambda.min",
    "nlambda": 30,
    "lambda_min_ratio": None,
    "early_stop_patience": 10,
    "solver": "numba",
    "precision": "float64",
    "memory_budget_mb": 8192,
}
SAMPLES = ["pol_dat_us", "pol_fb_us"]


def _cohort(n: int = 240, p: int = 12, seed: int = 0):
    """A tiny cohort in the OSF layout: two samples, float32 descriptors with a planted signal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(np.float32)
    eta = X[:, :3] @ np.array([1.5, -1.0, 0.8])
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    in_us = np.arange(n) % 3 != 0
    faces = pd.DataFrame(
        {
            "userid": [f"u{i:04d}" for i in range(n)],
            "pol_dat_us": pd.array(np.where(in_us, y, np.nan)).astype("Int32"),
            "pol_fb_us": pd.array(np.where(~in_us, y, np.nan)).astype("Int32"),
        }
    )
    folds = make_folds(faces["userid"], id_column="userid", n_outer=3, n_inner=4, seed=1)
    return faces, X, folds


def _rows(predictions: pd.DataFrame, ids: list[str], id_column: str) -> np.ndarray:
    position = {u: i for i, u in enumerate(ids)}
    return np.array([position[u] for u in predictions[id_column]])


def _fit(faces, X, folds, fit, method):
    return fit_sample_models(
        faces,
        X,
        folds,
        sample="pol_dat_us",
        samples=SAMPLES,
        fit=fit,
        method=method,
        id_column="userid",
        target_column="sample",
    )


@pytest.mark.slow
def test_lasso_folds_reproduce_the_stored_predictions(tmp_path: Path) -> None:
    faces, X, folds = _cohort()
    fit = lasso_fitter(**LASSO, n_threads=1, family="binomial")
    predictions, infos = _fit(faces, X, folds, fit, "lasso")
    path = tmp_path / "models.npz"
    save_lasso_folds(infos, path)
    models = load_lasso_folds(path)
    assert sorted(models) == [1, 2, 3] and all(isinstance(m, LinearModel) for m in models.values())
    assert set(predictions["sample"]) == set(SAMPLES)  # other samples' rows are scored too
    rows = _rows(predictions, faces["userid"].tolist(), "userid")
    for k, model in models.items():
        mine = predictions["outer_fold"].to_numpy() == k
        scores = model.predict(X[rows[mine]])
        np.testing.assert_allclose(scores, predictions["score"][mine], rtol=0, atol=1e-12)
        assert model.lambda_ == next(i["lambda"] for i in infos if i["outer_fold"] == k)


def test_mlp_folds_reproduce_the_stored_predictions_exactly(tmp_path: Path) -> None:
    faces, X, folds = _cohort(n=180, p=10, seed=2)
    fit = mlp_fitter(
        enabled=True,
        hidden=16,
        dropout=0.1,
        learning_rate=1e-3,
        batch_size=32,
        max_epochs=4,
        patience=2,
        val_fraction=0.1,
        seed=5,
        device="cpu",
    )
    predictions, infos = _fit(faces, X, folds, fit, "mlp")
    path = tmp_path / "weights.safetensors"
    save_mlp_folds(infos, path)
    models = load_mlp_folds(path)
    assert sorted(models) == [1, 2, 3] and all(isinstance(m, MlpModel) for m in models.values())
    # The held-out rows of each fold, in the cohort's order, as the rule predicted them (a float32
    # matrix product may round a row differently within another batch).
    labelled = faces[SAMPLES].notna().any(axis=1).to_numpy()
    stored = predictions.set_index("userid")["score"]
    for k, model in models.items():
        held_out = np.flatnonzero(labelled & (folds["outer_fold"].to_numpy() == k))
        expected = stored.loc[faces["userid"].to_numpy()[held_out]].to_numpy()
        assert np.array_equal(model.predict(X[held_out]), expected)
    with pytest.raises(ValueError, match="not a polface.mlp weights file"):
        from safetensors.torch import save_file

        save_file({"fold1.0.bias": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
        load_mlp_folds(tmp_path / "other.safetensors")


def _ratings(n: int, seed: int):
    """Embeddings and OMI-like mean ratings of n faces (ids as strings, like the OMI files)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    ids = [str(i + 1) for i in range(n)]
    ratings = pd.DataFrame(
        {
            "liberal": X[:, 0] + rng.normal(scale=0.8, size=n),
            "trustworthy": 50 + 10 * X[:, 1] + rng.normal(scale=5, size=n),
            "age": 30 + 5 * X[:, 2] + rng.normal(size=n),
            "gender": rng.normal(size=n),
        },
        index=pd.Index(ids, name="image_id"),
    )
    ratings.loc["4", "age"] = np.nan  # a face without a control rating
    return ids, X, ratings


def test_rating_models_reproduce_the_stored_predictions(tmp_path: Path) -> None:
    ids, X, ratings = _ratings(150, seed=3)
    predictions, medians, models = rating_predictions(
        ids,
        X,
        ratings,
        binary=["liberal"],
        continuous=["trustworthy"],
        controls=["age", "gender"],
        outer=3,
        inner=3,
        seed=4,
        lasso=LASSO,
        n_threads=1,
        progress=False,
    )
    path = tmp_path / "ratings_dlib_models.npz"
    save_rating_models(models, path, metadata={"backend": "test"})
    loaded = load_rating_models(path)
    assert sorted(loaded) == sorted(
        (t, m) for t in ("liberal", "trustworthy") for m in (EMBEDDING, CONTROLS)
    )
    features = {
        EMBEDDING: np.asarray(X, dtype=np.float64),
        CONTROLS: np.nan_to_num(ratings.loc[ids, ["age", "gender"]].to_numpy(dtype=np.float64)),
    }
    checked = 0
    for (target, model), entry in loaded.items():
        assert entry.columns == (None if model == EMBEDDING else ("age", "gender"))
        assert entry.kind == ("binary" if target == "liberal" else "continuous")
        cell = predictions[(predictions["target"] == target) & (predictions["model"] == model)]
        rows = _rows(cell, ids, "image_id")
        for k, fold in entry.folds.items():
            mine = cell["outer_fold"].to_numpy() == k
            F = features[model][rows[mine]]
            np.testing.assert_allclose(fold.predict(F), cell["score"][mine], rtol=0, atol=1e-12)
            checked += int(mine.sum())
        # The standardisation is that of the training columns (population SD).
        folds = make_folds(ids, id_column="image_id", n_outer=3, n_inner=3, seed=4)
        usable = ~np.isnan(ratings.loc[ids, ["age", "gender"]].to_numpy()).any(axis=1)
        train = folds["outer_fold"].to_numpy() != 1
        if model == CONTROLS:
            train &= usable
        np.testing.assert_allclose(entry.folds[1].x_mean, features[model][train].mean(axis=0))
        np.testing.assert_allclose(entry.folds[1].x_sd, features[model][train].std(axis=0))
        # The final model saw every usable row; its lambda was chosen over the outer folds.
        everything = usable if model == CONTROLS else np.ones(len(ids), dtype=bool)
        np.testing.assert_allclose(entry.final.x_mean, features[model][everything].mean(axis=0))
        assert entry.final.lambda_ > 0 and entry.final.coef.shape == (features[model].shape[1],)
        assert entry.final.predict(features[model][:5]).shape == (5,)
    assert checked == len(predictions[predictions["model"] != "mean guess"])
    assert medians["liberal"] == pytest.approx(np.median(ratings["liberal"]))
    with pytest.raises(KeyError, match="not a fit_lasso models file"):
        load_lasso_folds(path)

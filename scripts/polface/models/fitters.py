"""The fitters that plug into the nested cross-validation (models.nested), and their artifacts.

A fitter takes one outer training split and returns a predictor for new rows plus what is worth
keeping about the fit. Artifacts are safe formats only: LASSO coefficients as npz, MLP weights as
safetensors, summaries as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polface.io import atomic_output, safetensors_bytes
from polface.models.nested import Fitter


def lasso_fitter(
    *,
    lambda_choice: str = "lambda.min",
    nlambda: int = 100,
    lambda_min_ratio: float | None = None,
    early_stop_patience: int | None = 10,
    solver: str = "numba",
    precision: str = "float64",
    n_threads: int | None = None,
    family: str = "binomial",
) -> Fitter:
    """cv.glmnet on the training split (inner folds), predicting at `lambda_choice`.

    ``solver="numba"`` is glmnet's coordinate descent (exact); ``"torch"`` solves all CV problems
    as one batched proximal-gradient problem in torch, on the GPU when there is one.
    ``precision`` is the storage type of the standardised copy of X.
    """
    from polface.models.lasso import EarlyStop, cv_lasso

    early = EarlyStop(patience=early_stop_patience) if early_stop_patience else None
    options = {"nlambda": nlambda, "lambda_min_ratio": lambda_min_ratio, "early_stop": early}
    if solver == "torch":
        from polface.device import resolve_device
        from polface.models.lasso.fista import cv_lasso_torch

        device = resolve_device("auto")

        def cross_validate(X, y, inner):
            return cv_lasso_torch(X, y, inner, family, device=device, **options)
    else:
        dtype = np.float32 if precision == "float32" else np.float64

        def cross_validate(X, y, inner):
            return cv_lasso(X, y, inner, family, n_threads=n_threads, dtype=dtype, **options)

    def fit(X, y, inner, outer_fold):
        cv = cross_validate(X, y, inner)
        index = cv.index_min if lambda_choice == "lambda.min" else cv.index_1se
        a0, beta = cv.path.coef(index)
        info = {
            "lambda": float(cv.lambdas[index]),
            "step": int(index) + 1,
            "n_lambdas_fitted": int(len(cv.lambdas)),
            "n_nonzero": int(np.count_nonzero(beta)),
            "stopped_early": bool(cv.stopped_early),
            "a0": a0,
            "beta": beta,
            "cv_lambda": cv.lambdas,
            "cv_mean": cv.cvm,
            "cv_sd": cv.cvsd,
        }
        return (lambda X_new: cv.predict(X_new, lambda_choice)), info

    return fit


def mlp_fitter(settings: Mapping[str, Any], device: str = "auto") -> Fitter:
    """The Khan et al. network; outer fold k is seeded with ``settings['seed'] + k``."""
    from polface.models.mlp import fit_mlp, predict_mlp

    def fit(X, y, inner, outer_fold):
        state, history = fit_mlp(
            X,
            y,
            seed=int(settings["seed"]) + outer_fold,
            val_fraction=settings["val_fraction"],
            max_epochs=settings["max_epochs"],
            patience=settings["patience"],
            batch_size=settings["batch_size"],
            lr=settings["learning_rate"],
            hidden=settings["hidden"],
            dropout=settings["dropout"],
            device=device,
        )
        info = {"state": state, "history": history, "best_epoch": history["best_epoch"]}
        return (lambda X_new: predict_mlp(state, X_new, device=device)), info

    return fit


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: str | Path, document: Any) -> None:
    """Strict JSON (NaN as null), sorted keys, written atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(
            json.dumps(_plain(document), indent=2, sort_keys=True, allow_nan=False) + "\n"
        )


def save_lasso_folds(infos: Sequence[Mapping[str, Any]], npz_path: str | Path) -> None:
    """The outer-fold LASSO models as one npz: coefficients on the original scale, CV curves."""
    width = max(len(info["cv_lambda"]) for info in infos)

    def padded(key: str) -> np.ndarray:
        out = np.full((len(infos), width), np.nan)
        for i, info in enumerate(infos):
            out[i, : len(info[key])] = info[key]
        return out

    arrays = {
        "outer_fold": np.array([i["outer_fold"] for i in infos]),
        "lambda": np.array([i["lambda"] for i in infos]),
        "step": np.array([i["step"] for i in infos]),
        "intercept": np.array([i["a0"] for i in infos]),
        "coef": np.stack([i["beta"] for i in infos]),
        "cv_lambda": padded("cv_lambda"),
        "cv_mean": padded("cv_mean"),
        "cv_sd": padded("cv_sd"),
    }
    with atomic_output(npz_path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def lasso_summary(infos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scalar facts of each outer fold's LASSO (for the JSON summary)."""
    keys = ("outer_fold", "n_train", "lambda", "step", "n_lambdas_fitted", "n_nonzero")
    return [{k: info[k] for k in keys} | {"stopped_early": info["stopped_early"]} for info in infos]


def save_mlp_folds(infos: Sequence[Mapping[str, Any]], weights_path: str | Path) -> None:
    """All outer folds' MLP weights in one safetensors file (keys ``fold{k}.{parameter}``)."""
    tensors = {
        f"fold{info['outer_fold']}.{name}": tensor
        for info in infos
        for name, tensor in info["state"].items()
    }
    blob = safetensors_bytes(tensors, {"model": "polface.mlp", "folds": len(infos)})
    with atomic_output(weights_path) as tmp:
        tmp.write_bytes(blob)


def mlp_summary(infos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per outer fold: training size, best epoch and the training history."""
    return [
        {"outer_fold": i["outer_fold"], "n_train": i["n_train"], "history": i["history"]}
        for i in infos
    ]


def load_modelling_inputs(
    faces_path: str | Path, features_path: str | Path, folds_path: str | Path, id_column: str
):
    """faces, descriptor matrix and folds of a cohort, checked to be aligned row by row."""
    import pandas as pd

    from polface.io import read_features

    faces = pd.read_parquet(faces_path)
    ids, X = read_features(features_path, id_column)
    folds = pd.read_parquet(folds_path)
    expected = faces[id_column].astype(str).tolist()
    for name, other in (("features", ids), ("folds", folds["userid"].astype(str).tolist())):
        if other != expected:
            first = next(
                (i for i, (a, b) in enumerate(zip(expected, other, strict=False)) if a != b),
                min(len(expected), len(other)),
            )
            raise ValueError(
                f"{name} are not aligned with {faces_path}: first difference at row {first + 1}"
                f" ({len(other)} rows vs {len(expected)})"
            )
    return faces, X, folds


def fit_sample_models(
    *,
    faces_path: str | Path,
    features_path: str | Path,
    folds_path: str | Path,
    id_column: str,
    sample: str,
    samples: Sequence[str],
    fit: Fitter,
    method: str,
    predictions_path: str | Path,
    settings: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The models of one sample in the nested scheme; writes their out-of-fold predictions.

    Returns the per-outer-fold infos of the fitter, for the method's own model artifacts.
    """
    import pyarrow as pa

    from polface.io import write_parquet
    from polface.models.nested import nested_predictions

    faces, X, folds = load_modelling_inputs(faces_path, features_path, folds_path, id_column)
    predictions, infos = nested_predictions(
        X, faces, folds, sample, fit, samples=samples, id_column=id_column
    )
    predictions.insert(0, "method", method)
    write_parquet(
        pa.Table.from_pandas(predictions, preserve_index=False),
        predictions_path,
        metadata={"method": method, "settings": dict(settings)},
    )
    return infos

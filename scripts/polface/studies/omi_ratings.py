"""Cross-validated prediction of One Million Impressions ratings from face embeddings.

This is Kosinski's procedure applied to human stereotypes: the targets are the *mean ratings that
people gave* synthetic (StyleGAN2) faces in One Million Impressions (how liberal, trustworthy,
attractive or dominant a face looks to them), not facts about anyone. A good score says that
the embedding carries what raters react to, nothing about the people photographed.

Scheme (one job per image set and backend):

* folds: :func:`polface.models.folds.make_folds` over the image ids (outer and inner, seeded);
* binary targets (``liberal`` by default): the rating split at its median over the rated faces
  (above the median = 1); LASSO binomial (glmnet's procedure, inner CV for lambda) in each outer
  training split; out-of-fold AUC with its DeLong CI beside the AUC of permuted labels;
* continuous targets (``trustworthy``, ``attractive``, ``dominant``): LASSO gaussian; out-of-fold
  Pearson r with a Fisher-z CI, and the mean absolute error beside the MAE of guessing the
  outer training split's mean (the baseline of Lindholm, Hjorth & Schuessler 2024);
* a control model on the faces' *perceived demographics* (the OMI ratings of age, gender and
  race, config ``controls``) with the same folds, so that one can see how much of a target is
  predicted by how old, male or white a face looks.

Every LASSO is kept: per outer fold (coefficients, intercept, lambda and the standardisation of
its training columns) and a final model on all rated faces, whose lambda is chosen by a CV over
the outer folds (the folds that already split these faces; no new random draw). They are written
by :func:`polface.models.artifacts.save_rating_models` and read by
:func:`~polface.models.artifacts.load_rating_models`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from polface.data.omi import CONTROLS, EMBEDDING, rating_targets, ratings_source
from polface.frames import IMAGE_ID, MissingColumnsError
from polface.io import write_parquet
from polface.metrics import child_seed, delong_ci, pearson_ci, permutation_auc
from polface.models.artifacts import save_rating_models
from polface.models.fitters import lasso_fitter, mean_fitter, standardised
from polface.models.folds import make_folds
from polface.models.nested import Fitter, nested_predictions
from polface.report.render import format_ci, write_table

#: The model name of the mean-guessing baseline (:data:`polface.data.omi.EMBEDDING` and
#: :data:`~polface.data.omi.CONTROLS` name the others).
MEAN_GUESS = "mean guess"

#: The predictions' target column (their id column is :data:`polface.frames.IMAGE_ID`).
TARGET_COLUMN = "target"


def rating_predictions(
    ids: Sequence[str],
    X: np.ndarray,
    ratings: pd.DataFrame,
    *,
    binary: Sequence[str],
    continuous: Sequence[str],
    controls: Sequence[str],
    outer: int,
    inner: int,
    seed: int,
    lasso: Mapping[str, Any],
    n_threads: int | None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, float], list[dict[str, Any]]]:
    """Out-of-fold predictions of every target by every model, and the fitted LASSO models.

    The settings are the config's ``omi.ratings`` block (``outer``, ``inner``, ``seed``: the folds
    over the image ids) and its ``lasso`` block.

    Returns:
        Long predictions ``target, kind, model, image_id, outer_fold, y, score``, the medians of
        the binary targets, and one entry per (target, LASSO model) for
        :func:`polface.models.artifacts.save_rating_models` (the per-outer-fold fits and the
        final fit on all rows, each with its standardisation).
    """
    if len(ids) != len(X):
        raise ValueError(f"{len(ids)} ids but {len(X)} embedding rows")
    targets, medians = rating_targets(ratings, ids, binary, continuous)
    folds = make_folds(
        list(ids),
        id_column=IMAGE_ID,
        n_outer=outer,
        n_inner=inner,
        seed=seed,
        source="the embedded faces of the image set",
        setting="omi.ratings",
    )
    feature_sets = {EMBEDDING: np.asarray(X, dtype=np.float64)}
    usable = {EMBEDDING: None}
    columns: dict[str, list[str] | None] = {EMBEDDING: None}
    if controls:
        absent = [c for c in controls if c not in ratings.columns]
        if absent:
            raise MissingColumnsError(
                f"{ratings_source(ratings)}: no control column(s) {absent} (omi.ratings.controls);"
                f" found {list(ratings.columns)}"
            )
        Z = ratings.loc[list(ids), list(controls)].to_numpy(dtype=np.float64)
        feature_sets[CONTROLS] = np.nan_to_num(Z)
        usable[CONTROLS] = ~np.isnan(Z).any(axis=1)
        columns[CONTROLS] = list(controls)
    jobs = [(name, "binary") for name in binary] + [(name, "continuous") for name in continuous]
    frames, models = [], []
    for target, kind in jobs:
        family = "binomial" if kind == "binary" else "gaussian"
        fits: list[tuple[str, np.ndarray, Fitter, np.ndarray | None]] = [
            (
                model,
                F,
                standardised(lasso_fitter(**lasso, n_threads=n_threads, family=family)),
                usable[model],
            )
            for model, F in feature_sets.items()
        ]
        if kind == "continuous":
            fits.append((MEAN_GUESS, feature_sets[EMBEDDING], mean_fitter(), None))
        for model, F, fit, rows in fits:
            predictions, infos = nested_predictions(
                F,
                targets,
                folds,
                target,
                fit,
                samples=[target],
                id_column=IMAGE_ID,
                target_column=TARGET_COLUMN,
                model_column="model",
                model_name=model,
                usable=rows,
                own_sample_only=True,
                continuous=kind == "continuous",
                progress=progress,
            )
            predictions.insert(1, "kind", kind)
            predictions["y"] = predictions["y"].astype(np.float64)
            frames.append(predictions[[TARGET_COLUMN, "kind", "model", *predictions.columns[3:]]])
            if model == MEAN_GUESS:
                continue
            y = targets[target].to_numpy(dtype=np.float64)
            train = ~np.isnan(y) if rows is None else rows & ~np.isnan(y)
            outer_folds = folds["outer_fold"].to_numpy()
            _, final = fit(F[train], y[train], outer_folds[train], 0)
            models.append(
                {
                    "target": target,
                    "kind": kind,
                    "model": model,
                    "family": family,
                    "columns": columns[model],
                    "folds": infos,
                    "final": final,
                }
            )
    return pd.concat(frames, ignore_index=True), medians, models


def ratings_table(
    predictions: pd.DataFrame,
    medians: Mapping[str, float],
    *,
    permutations: int,
    seed: int,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per (target, model): the measure with its CI and the baselines to read it against.

    Columns: ``target, kind, model, n, measure, estimate, lo, hi, median, chance_mean,
    chance_lo, chance_hi, mae, mae_mean_guess``. Binary targets: AUC (DeLong CI), chance = AUC of
    permuted labels (mean and central interval). Continuous: Pearson r (Fisher z CI), the MAE of
    the model and of the out-of-fold mean guess on the same faces.
    """
    rows = []
    cells = predictions[predictions["model"] != MEAN_GUESS]
    guess = predictions[predictions["model"] == MEAN_GUESS].set_index([TARGET_COLUMN, IMAGE_ID])
    groups = cells.groupby([TARGET_COLUMN, "model"], sort=False)
    for index, ((target, model), cell) in enumerate(groups):
        kind = cell["kind"].iloc[0]
        row: dict[str, Any] = {"target": target, "kind": kind, "model": model, "n": len(cell)}
        nan = math.nan
        if kind == "binary":
            value, lo, hi, _ = delong_ci(cell["y"], cell["score"], level)
            chance = permutation_auc(
                cell["y"], cell["score"], permutations, child_seed(seed, index), level
            )
            row.update(measure="AUC", estimate=value, lo=lo, hi=hi, median=medians[target])
            row.update(chance_mean=chance.mean, chance_lo=chance.lo, chance_hi=chance.hi)
            row.update(mae=nan, mae_mean_guess=nan)
        else:
            r, lo, hi = pearson_ci(cell["y"].to_numpy(), cell["score"].to_numpy(), level)
            baseline = guess.loc[[(target, i) for i in cell[IMAGE_ID]], "score"].to_numpy()
            y = cell["y"].to_numpy()
            row.update(measure="Pearson r", estimate=r, lo=lo, hi=hi, median=nan)
            row.update(chance_mean=nan, chance_lo=nan, chance_hi=nan)
            row.update(
                mae=float(np.mean(np.abs(y - cell["score"].to_numpy()))),
                mae_mean_guess=float(np.mean(np.abs(y - baseline))),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def ratings_display(long: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The display form: estimate with its CI, chance level, and the MAEs side by side."""
    out = pd.DataFrame(
        {
            "target": [
                f"{r.target} (above median {r.median:.1f})" if r.kind == "binary" else r.target
                for r in long.itertuples()
            ],
            "model": long["model"],
            "n": long["n"].astype("int64"),
            "measure": long["measure"],
            "estimate [95% CI]": [
                format_ci(r.estimate, r.lo, r.hi, digits) for r in long.itertuples()
            ],
            "chance (permuted labels)": [
                format_ci(r.chance_mean, r.chance_lo, r.chance_hi, digits)
                if r.kind == "binary"
                else ""
                for r in long.itertuples()
            ],
            "MAE": long["mae"],
            "MAE of mean guess": long["mae_mean_guess"],
        }
    )
    return out


def write_ratings_table(
    long: pd.DataFrame, *, csv: str | Path, md: str | Path, tex: str | Path
) -> dict[str, Path]:
    """``csv`` with every number, ``md`` and ``tex`` in display form (each atomically)."""
    display = ratings_display(long)
    return write_table(long, csv=csv, md=md, tex=tex, index=False, digits=2, display=display)


def write_rating_fits(
    predictions: pd.DataFrame,
    models: Sequence[Mapping[str, Any]],
    *,
    embeddings_metadata: Mapping[str, Any],
    provenance: Mapping[str, Any],
    predictions_path: str | Path,
    models_path: str | Path,
) -> None:
    """The out-of-fold predictions (parquet) and the fitted models (npz), atomically.

    Both carry ``provenance`` plus the embedding's backend and weights checksum.
    """
    meta = {
        **dict(provenance),
        "backend": embeddings_metadata["backend"],
        "weights_sha256": embeddings_metadata["weights_sha256"],
    }
    table = pa.Table.from_pandas(predictions, preserve_index=False)
    write_parquet(table, predictions_path, metadata=meta)
    save_rating_models(models, models_path, metadata=meta)

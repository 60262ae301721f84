"""Nested cross-validation in the published scheme (Kosinski 2021).

Outer folds are assigned over all rows. For each sample s (a 0/1 column of ``faces``) and outer fold
k, a model is fitted on the rows of s outside fold k (its inner folds tune it) and predicts every
labelled row of every sample inside fold k. Each row thus gets one out-of-fold prediction per
model, and the AUC of the model of s on the rows of t is a cell of Table 2.

The fitting itself is a callback (:data:`Fitter`), so the LASSO, the MLP and the interpretable
feature baselines share this one implementation of the scheme.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from polface.errors import InputError
from polface.frames import (
    MissingColumnsError,
    fold_columns,
    prediction_columns,
    require_aligned,
    require_columns,
)

log = logging.getLogger(__name__)

#: Held-out rows are read and predicted this many at a time.
PREDICT_BLOCK_ROWS = 16384

Predictor = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray, int], tuple[Predictor, dict[str, Any]]]
"""fit(X_train, y_train, inner_fold_train, outer_fold) -> (predict(X) -> scores, info).

X_train is the fit's own array, read for it (in the order that :func:`nested_predictions`'s
``train_order`` asks): the fitter may overwrite it."""


def _first_bad(bad: pd.DataFrame) -> tuple[str, int]:
    """The column and (0-based) row of the first True of `bad`, column by column."""
    column = bad.any().idxmax()
    return column, int(bad[column].to_numpy().argmax())


def sample_labels(
    faces: pd.DataFrame,
    samples: Sequence[str],
    *,
    continuous: bool = False,
    id_column: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """The 0/1 labels of each sample as float columns, NaN outside the sample.

    With ``continuous`` the columns are any finite numbers (a rating), NaN where missing. A value
    that is not a number (or not 0/1) is an :class:`polface.errors.InputError` naming ``source``
    (the file `faces` was read from), the column, the row and its ``id_column`` value.
    """
    missing = [s for s in samples if s not in faces.columns]
    if missing:
        where = f"{source}: " if source else ""
        raise MissingColumnsError(f"{where}faces has no sample column(s) {missing}")

    def where(column: str, row: int) -> str:
        named = f" ({id_column} {str(faces[id_column].iloc[row])!r})" if id_column else ""
        return f"{source + ': ' if source else ''}column {column!r}, row {row + 1}{named}"

    columns = {}
    for s in samples:
        numbers = pd.to_numeric(faces[s], errors="coerce")
        bad = numbers.isna().to_numpy() & faces[s].notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{where(s, row)} is {faces[s].iloc[row]!r}, expected a number"
                f"{'' if continuous else ' (0 or 1, or missing)'}"
            )
        columns[s] = numbers.astype("Float64")
    labels = pd.DataFrame(columns).astype(float)
    if continuous:
        bad = np.isinf(labels)
        if bad.any().any():
            column, row = _first_bad(bad)
            raise InputError(f"{where(column, row)} is {labels[column].iloc[row]}, not finite")
        return labels
    bad = labels.notna() & ~labels.isin([0.0, 1.0])
    if bad.any().any():
        column, row = _first_bad(bad)
        raise InputError(
            f"{where(column, row)} is {float(labels[column].iloc[row]):g}, expected 0 or 1"
            " (or missing: not in the sample)"
        )
    return labels


def _take(X: Any, rows: np.ndarray, dtype: Any, order: str = "C") -> np.ndarray:
    """Rows of an in-memory matrix or of a :class:`polface.io.FeatureRows` file: a new array."""
    if isinstance(X, np.ndarray):
        return np.asarray(X[rows], dtype=dtype, order=order)
    return X.take(rows, dtype, order)


def nested_predictions(
    X: Any,
    faces: pd.DataFrame,
    folds: pd.DataFrame,
    model_sample: str,
    fit: Fitter,
    *,
    samples: Sequence[str],
    id_column: str,
    target_column: str,
    model_column: str,
    model_name: str | None = None,
    usable: np.ndarray | None = None,
    own_sample_only: bool = False,
    continuous: bool = False,
    progress: bool = True,
    train_dtype: Callable[[int, int], Any] | None = None,
    train_order: str = "C",
    outer_folds: Sequence[int] | None = None,
    files: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Out-of-fold predictions of the models of `model_sample`, one per outer fold.

    Args:
        X: (rows, features), aligned with `faces` and `folds`: an array, or a
            :class:`polface.io.FeatureRows` from which only the rows of each fit are read (and
            the held-out rows in blocks of :data:`PREDICT_BLOCK_ROWS`).
        faces: the table of targets (the sample columns and the id column).
        folds: ``[id_column, outer_fold, inner_fold]``, aligned row by row with `faces`.
        model_sample: the sample (target column) whose rows train the models.
        fit: the fitting callback.
        samples: the samples to predict (each labelled row of each is predicted once).
        id_column: the id column of `faces` and `folds`, and of the result.
        target_column: the result's column naming the predicted sample (``sample`` for the OSF
            cohorts, ``target`` for the OMI ratings).
        model_column: the result's column naming the model (``model``, or ``feature_set``).
        model_name: the `model_column` value in the output (default `model_sample`).
        usable: rows that may be used at all (e.g. complete interpretable features).
        own_sample_only: predict only held-out rows of `model_sample` (Table S1).
        continuous: the sample columns are continuous targets (e.g. ratings), not 0/1 labels;
            ``y`` is then float64 instead of int8.
        progress: show a progress bar over outer folds.
        train_dtype: given (training rows, features), the type to read the training rows in
            (None or returning None: the stored type); held-out rows are read in the same type.
        train_order: the memory order of the training rows handed to `fit` ("C" or "F"; the
            LASSO standardises an "F" array in place).
        outer_folds: fit only these outer folds (default: all; a benchmark times one).
        files: the files the data were read from, named in errors: ``faces`` (the labels),
            ``features`` (`X`) and ``folds``; any may be left out.

    Returns:
        Long predictions ``[model_column, target_column, id_column, outer_fold, y, score]``
        (:func:`polface.frames.prediction_columns`) and one info dict per outer fold (from the
        fitter, plus the fold and the training size).
    """
    files = {name: str(path) for name, path in (files or {}).items() if path}
    if len(X) != len(faces) or len(folds) != len(faces):
        raise ValueError(f"X ({len(X)}), faces ({len(faces)}) and folds ({len(folds)}) differ")
    require_columns(faces, [id_column], table="the table of targets")
    require_columns(folds, fold_columns(id_column=id_column), table="folds")
    ids = faces[id_column].astype(str).to_numpy()
    require_aligned(
        ids.tolist(), folds[id_column].astype(str).tolist(), name="folds", table="the targets"
    )
    targets = [model_sample] if own_sample_only else list(samples)
    labels = sample_labels(
        faces,
        sorted(set(targets) | {model_sample}),
        continuous=continuous,
        id_column=id_column,
        source=files.get("faces"),
    )
    usable = np.ones(len(faces), dtype=bool) if usable is None else np.asarray(usable, bool)
    outer = folds["outer_fold"].to_numpy()
    inner = folds["inner_fold"].to_numpy()
    y_model = labels[model_sample].to_numpy()
    in_target = labels[targets].notna().to_numpy().any(axis=1)

    frames, infos = [], []
    every_fold = np.unique(outer)
    if outer_folds is not None:
        unknown = sorted(set(outer_folds) - set(every_fold.tolist()))
        if unknown:
            raise ValueError(f"outer folds {unknown} are not in the folds (they are {every_fold})")
        every_fold = np.array(sorted(set(outer_folds)))
    for k in tqdm(
        every_fold, desc=f"{model_name or model_sample}: outer folds", disable=not progress
    ):
        train = usable & (outer != k) & ~np.isnan(y_model)
        test = usable & (outer == k) & in_target
        where = (
            f"{target_column} {model_sample!r}, outer fold {k}"
            + (f" of {files['folds']}" if "folds" in files else "")
            + f" ({int(train.sum())} training rows"
            + (f" of {files['features']})" if "features" in files else ")")
        )
        if train.sum() == 0:
            raise InputError(f"{where}: no training rows")
        if not continuous and np.unique(y_model[train]).size < 2:
            raise InputError(
                f"{where}: every training row is {y_model[train][0]:g}; a model needs rows of"
                " both 0 and 1 outside the held-out fold"
            )
        train_rows, test_rows = np.flatnonzero(train), np.flatnonzero(test)
        dtype = None if train_dtype is None else train_dtype(train_rows.size, X.shape[1])
        X_train = _take(X, train_rows, dtype, train_order)
        try:
            predict, info = fit(X_train, y_model[train], inner[train], int(k))
        except ValueError as error:  # the data of this fit (labels, folds, values): say which
            raise InputError(f"{where}: {error}") from error
        del X_train  # the fit may hold a standardised copy; the rows read for it go now
        score = np.empty(test_rows.size, dtype=np.float64)
        for start in range(0, test_rows.size, PREDICT_BLOCK_ROWS):
            block = test_rows[start : start + PREDICT_BLOCK_ROWS]
            score[start : start + block.size] = predict(_take(X, block, dtype))
        infos.append({"outer_fold": int(k), "n_train": int(train.sum()), **info})
        for sample in targets:
            y = labels[sample].to_numpy()[test_rows]
            keep = ~np.isnan(y)
            frames.append(
                pd.DataFrame(
                    {
                        model_column: model_name or model_sample,
                        target_column: sample,
                        id_column: ids[test_rows[keep]],
                        "outer_fold": int(k),
                        "y": y[keep] if continuous else y[keep].astype(np.int8),
                        "score": score[keep],
                    }
                )
            )
        log.info(
            "%s, outer fold %s: trained on %d rows, predicted %d",
            model_sample,
            k,
            train.sum(),
            test.sum(),
        )
    columns = prediction_columns(
        model_column=model_column, target_column=target_column, id_column=id_column
    )
    predictions = pd.concat(frames, ignore_index=True)[list(columns)]
    return sort_predictions(
        predictions, targets, target_column=target_column, id_column=id_column
    ), infos


def sort_predictions(
    predictions: pd.DataFrame, targets: Sequence[str], *, target_column: str, id_column: str
) -> pd.DataFrame:
    """Predictions in the order the workflow writes them: by target (in `targets`' order), id.

    Each (target, id) is predicted once per model, so the order is the same whether the rows come
    from one job of all outer folds or are gathered from one job per fold
    (:func:`gather_predictions`).
    """
    order = {s: i for i, s in enumerate(targets)}
    return predictions.sort_values(
        [target_column, id_column],
        key=lambda c: c.map(order) if c.name == target_column else c,
    ).reset_index(drop=True)


def gather_predictions(
    frames: Sequence[pd.DataFrame],
    targets: Sequence[str],
    *,
    target_column: str,
    id_column: str,
    source: str = "the fold files",
) -> pd.DataFrame:
    """One model's out-of-fold predictions from its per-outer-fold parts (one job per fold).

    The parts must not share a (target, id) row: each labelled row is predicted once, in its own
    outer fold. Raises :class:`polface.errors.InputError` naming `source` otherwise.
    """
    predictions = pd.concat(list(frames), ignore_index=True)
    twice = predictions.duplicated([target_column, id_column])
    if twice.any():
        row = predictions[twice].iloc[0]
        raise InputError(
            f"{source}: {target_column} {row[target_column]!r}, {id_column} {row[id_column]!r}"
            " is predicted in more than one outer fold; expected each row once"
        )
    return sort_predictions(predictions, targets, target_column=target_column, id_column=id_column)

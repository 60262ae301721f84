"""Paper tables as DataFrames (Kosinski 2021 Table 1, Table 2, Table S1, Figure 2's numbers).

Every table function is pure: it takes DataFrames and returns a DataFrame. Their renderings
(Markdown, LaTeX, CSV) are in :mod:`polface.report.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.osf import FEMALE_CODE, ORIENTATIONS
from polface.errors import InputError
from polface.frames import AUC_COLUMNS, auc_columns, require_columns
from polface.metrics import (
    STRATA_COLUMNS,
    child_seed,
    delong_ci,
    demographic_strata,
    majority_accuracy,
    paired_accuracy,
    paired_accuracy_interval,
    permutation_auc,
)

#: Decimals of Table 1's Markdown and LaTeX renderings (counts, percentages, ages).
TABLE1_DIGITS = 1


def _numeric(series: pd.Series) -> pd.Series:
    """A column as float64 with NaN for missing (works for Int32, object and float columns)."""
    return pd.to_numeric(series.astype(object), errors="raise").astype(float)


def _require_numeric(
    faces: pd.DataFrame, columns: Sequence[str], *, id_column: str, source: str
) -> None:
    """Raise InputError naming ``source``, the column, the row and its id at a value that is
    neither a number nor missing (e.g. ``age`` = ``'thirty'``)."""
    for column in columns:
        values = faces[column].astype(object)
        numbers = pd.to_numeric(values, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & values.notna().to_numpy())
        if len(bad):
            i = int(bad[0])
            raise InputError(
                f"{source}: column {column!r}, row {i + 1} ({id_column}"
                f" {faces[id_column].iloc[i]!r}) is {values.iloc[i]!r}; expected a number (or"
                " missing)"
            )


def table1(
    faces: pd.DataFrame, *, samples: Sequence[str], id_column: str, source: str = "faces"
) -> pd.DataFrame:
    """Sample description (Kosinski 2021, Table 1): one row per sample × orientation.

    Rows of a sample are those where its column (e.g. ``pol_dat_us``) is not NA; orientation comes
    from ``pol`` and is checked against the sample's 0 = liberal / 1 = conservative code.

    Args:
        faces: the ``faces`` table (columns ``pol``, ``gender``, ``age``, ``country``, ``database``,
            ``ethnicity.value`` and the sample columns).
        samples: sample columns to describe, in display order.
        id_column: the id column of ``faces`` (named in errors).
        source: the file ``faces`` was read from, named in errors.

    ``gender`` counts as female where it equals :data:`polface.data.osf.FEMALE_CODE`.

    Returns:
        DataFrame with ``sample``, ``country``, ``platform`` (``database``), ``orientation``, ``n``,
        ``pct_female`` and ``pct_white`` (percent of the rows where the variable is known),
        ``n_age`` (rows with a known age), ``age_q1``, ``age_median``, ``age_q3`` (R's default
        type-7 quantiles, as ``summary()``; NA ignored) and ``age_mean``.
    """
    needed = [id_column, "pol", "gender", "age", "country", "database", "ethnicity.value"]
    require_columns(faces, [*needed, *samples], table=f"{source} (for Table 1)")
    _require_numeric(faces, ["gender", "age", *samples], id_column=id_column, source=source)
    pol = faces["pol"].astype(object)
    rows = []
    for sample in samples:
        code = _numeric(faces[sample])
        member = code.notna().to_numpy()
        expected = np.where(code.to_numpy() == 1, "conservative", "liberal")
        mismatch = member & (pol.to_numpy() != expected)
        if mismatch.any():
            i = int(np.flatnonzero(mismatch)[0])
            raise InputError(
                f"{source}: row {i + 1} ({id_column} {faces[id_column].iloc[i]!r}): {sample} = "
                f"{code.iloc[i]:g} but pol = {pol.iloc[i]!r}"
                " (expected 0 = liberal, 1 = conservative)"
            )
        part = faces.loc[member]
        for orientation in ORIENTATIONS:
            group = part.loc[part["pol"].astype(object) == orientation]
            gender = _numeric(group["gender"]).dropna()
            ethnicity = group["ethnicity.value"].astype(object).dropna()
            age = _numeric(group["age"]).dropna()
            quartiles = np.quantile(age, [0.25, 0.5, 0.75]) if len(age) else [np.nan] * 3
            rows.append(
                {
                    "sample": sample,
                    "country": "/".join(sorted(map(str, part["country"].dropna().unique()))),
                    "platform": "/".join(sorted(map(str, part["database"].dropna().unique()))),
                    "orientation": orientation,
                    "n": len(group),
                    "pct_female": 100.0 * float((gender == FEMALE_CODE).mean())
                    if len(gender)
                    else np.nan,
                    "pct_white": 100.0 * float((ethnicity == "white").mean())
                    if len(ethnicity)
                    else np.nan,
                    "n_age": len(age),
                    "age_q1": float(quartiles[0]),
                    "age_median": float(quartiles[1]),
                    "age_q3": float(quartiles[2]),
                    "age_mean": float(age.mean()) if len(age) else np.nan,
                }
            )
    out = pd.DataFrame(rows)
    return out.astype({"n": "int64", "n_age": "int64"})


def auc_table(
    predictions: pd.DataFrame,
    *,
    by: str,
    target_column: str,
    id_column: str,
    level: float = 0.95,
) -> pd.DataFrame:
    """AUC with DeLong CI for every (``by``, target) cell of long-form out-of-fold predictions.

    Args:
        predictions: columns ``by`` (e.g. ``model``), ``target_column`` (``sample`` for the OSF
            cohorts), ``id_column``, ``y`` (0/1) and ``score``; one row per (``by``, target, id).
        by: the column naming what produced the scores.
        target_column: the column naming the scored sample or target.
        id_column: the row id column.
        level: confidence level (the paper's 95%).

    Returns:
        Long DataFrame ``[by, target_column, n, n_positive, n_negative, auc, lo, hi, se]``
        (:func:`polface.frames.auc_columns`) in the order in which the ``by`` values and targets
        first appear.
    """
    require_columns(predictions, [by, target_column, id_column, "y", "score"], table="predictions")
    key = [by, target_column, id_column]
    dup = predictions.duplicated(key, keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        row = predictions.iloc[i]
        raise ValueError(
            f"predictions row {i + 1}: {by} {row[by]!r}, {target_column} {row[target_column]!r},"
            f" {id_column} {row[id_column]!r} appears more than once ({int(dup.sum())} rows are"
            " duplicates)"
        )
    rows = []
    groups = predictions.groupby([by, target_column], sort=False, observed=True)
    for (producer, target), cell in groups:
        try:
            value, lo, hi, se = delong_ci(cell["y"], cell["score"], level=level)
        except ValueError as error:
            raise ValueError(f"{by} {producer!r} on {target_column} {target!r}: {error}") from error
        y = _numeric(cell["y"])
        rows.append(
            {
                by: producer,
                target_column: target,
                "n": len(cell),
                "n_positive": int((y == 1).sum()),
                "n_negative": int((y == 0).sum()),
                "auc": value,
                "lo": lo,
                "hi": hi,
                "se": se,
            }
        )
    return pd.DataFrame(rows, columns=list(auc_columns(by=by, target_column=target_column)))


def table2(
    predictions: pd.DataFrame, *, target_column: str, id_column: str, level: float = 0.95
) -> pd.DataFrame:
    """Kosinski's Table 2 in long form: every model's AUC on every sample with its DeLong CI.

    Args:
        predictions: out-of-fold predictions ``model``, ``target_column``, ``id_column``, ``y``,
            ``score`` (a model fitted on one sample scores the held-out rows of every sample).
        target_column, id_column: as in :func:`auc_table`.
        level: confidence level.

    Returns:
        ``[model, target_column, n, n_positive, n_negative, auc, lo, hi, se]``; see
        :func:`polface.report.render.wide_display`.
    """
    return auc_table(
        predictions, by="model", target_column=target_column, id_column=id_column, level=level
    )


def table_s1(
    predictions: pd.DataFrame, *, target_column: str, id_column: str, level: float = 0.95
) -> pd.DataFrame:
    """Table S1: AUC with DeLong CI of each interpretable feature set on each sample.

    Args:
        predictions: out-of-fold predictions ``feature_set``, ``target_column``, ``id_column``,
            ``y``, ``score`` (e.g. a model on :func:`polface.data.osf.interpretable_features` per
            set; personality only where available, i.e. the Facebook sample).
        target_column, id_column: as in :func:`auc_table`.
        level: confidence level.

    Returns:
        ``[feature_set, target_column, n, n_positive, n_negative, auc, lo, hi, se]``.
    """
    return auc_table(
        predictions,
        by="feature_set",
        target_column=target_column,
        id_column=id_column,
        level=level,
    )


def read_predictions(
    paths: Sequence[str | Path], *, target_column: str, own_sample_only: bool = False
) -> pd.DataFrame:
    """The predictions files of a table, one file at a time, without the unused ``outer_fold``.

    With ``own_sample_only`` only the rows that a sample's own model scored (``model`` equal to
    ``target_column``: what Figure 2 reads) are kept from each file as it is read, a quarter of
    the rows for four samples.
    """
    import pyarrow.parquet as pq

    frames = []
    for path in paths:
        columns = [c for c in pq.read_schema(path).names if c != "outer_fold"]
        frame = pd.read_parquet(path, columns=columns)
        if own_sample_only:
            frame = frame[frame["model"].astype(str) == frame[target_column].astype(str)]
        frames.append(frame)
    return pd.concat(frames)


def figure2_table(
    predictions: pd.DataFrame,
    faces: pd.DataFrame,
    *,
    target_column: str,
    id_column: str,
    n_permutations: int,
    seed: int,
    level: float = 0.95,
    n_bootstrap: int = 0,
    source: str = "faces",
) -> pd.DataFrame:
    """The numbers behind Figure 2: per sample, the within-sample model's AUC and its controls.

    For each sample, the out-of-fold predictions of the model trained on that sample (rows where
    ``model`` equals the ``target_column``) give the AUC with DeLong CI, the accuracy on
    liberal–conservative pairs matched on gender, Face++ ethnicity and rounded Face++ age
    (:func:`demographic_strata`,
    :func:`polface.metrics.paired_accuracy`), the permutation baseline (sub-seed
    :func:`polface.metrics.child_seed` ``(seed, k)`` for the k-th sample) and the majority-class
    accuracy.

    Args:
        predictions: long-form out-of-fold predictions as for :func:`table2`.
        faces: the ``faces`` table (``id_column`` and the strata columns).
        target_column: the predictions' column naming the sample (``sample``).
        id_column: the id column of ``faces`` and of the predictions.
        n_permutations: label permutations per sample.
        seed: seed of the permutation baselines.
        level: confidence level of the CI and coverage of the permutation interval.
        n_bootstrap: resamples of the paired accuracy's interval (a bootstrap over faces within
            strata, :func:`polface.metrics.paired_accuracy_interval`, sub-seed
            :func:`child_seed` ``(seed, 1000 + k)``); 0 leaves it NaN.
        source: the file ``faces`` was read from, named in errors (a missing strata column, an
            age that is not a number).

    Ties count one half in ``paired_accuracy``; ``paired_accuracy_published`` counts them 0, as
    Kosinski's code does (a pair is right only when the conservative scores strictly higher).

    Returns:
        DataFrame ``<target_column>, n, auc, lo, hi, se, paired_accuracy, n_pairs, perm_mean,
        perm_lo, perm_hi, majority_accuracy, paired_lo, paired_hi, paired_accuracy_published``
        (the columns :func:`polface.report.figures.figure2` needs when ``target_column`` is
        ``sample``).
    """
    require_columns(
        predictions, ["model", target_column, id_column, "y", "score"], table="predictions"
    )
    require_columns(faces, [id_column, *STRATA_COLUMNS], table=f"{source} (for Figure 2)")
    _require_numeric(faces, [STRATA_COLUMNS[2]], id_column=id_column, source=source)  # the age
    strata = demographic_strata(faces)
    strata.index = pd.Index(faces[id_column].astype(str), name=id_column)
    if strata.index.has_duplicates:
        raise ValueError(f"faces has duplicated {id_column}s")
    own = predictions[predictions["model"].astype(str) == predictions[target_column].astype(str)]
    if own.empty:
        raise ValueError(
            f"predictions have no rows where model == {target_column} (within-sample scores)"
        )
    rows = []
    for k, (sample, cell) in enumerate(own.groupby(target_column, sort=False, observed=True)):
        ids = cell[id_column].astype(str)
        unknown = ~ids.isin(strata.index)
        if unknown.any():
            raise KeyError(
                f"{target_column} {sample!r}: {id_column} {ids[unknown].iloc[0]!r} of the"
                f" predictions is not in faces ({int(unknown.sum())} such rows)"
            )
        value, lo, hi, se = delong_ci(cell["y"], cell["score"], level=level)
        cell_strata = strata.loc[ids.to_numpy()].reset_index(drop=True)
        accuracy, n_pairs = paired_accuracy(cell["y"], cell["score"], cell_strata)
        published, _ = paired_accuracy(cell["y"], cell["score"], cell_strata, tie_weight=0.0)
        paired_lo, paired_hi = paired_accuracy_interval(
            cell["y"],
            cell["score"],
            cell_strata,
            n_bootstrap=n_bootstrap,
            seed=child_seed(seed, 1000 + k),
            level=level,
        )
        baseline = permutation_auc(
            cell["y"], cell["score"], n_permutations, child_seed(seed, k), level=level
        )
        rows.append(
            {
                target_column: sample,
                "n": len(cell),
                "auc": value,
                "lo": lo,
                "hi": hi,
                "se": se,
                "paired_accuracy": accuracy,
                "n_pairs": n_pairs,
                "perm_mean": baseline.mean,
                "perm_lo": baseline.lo,
                "perm_hi": baseline.hi,
                "majority_accuracy": majority_accuracy(cell["y"]),
                "paired_lo": paired_lo,
                "paired_hi": paired_hi,
                "paired_accuracy_published": published,
            }
        )
    return pd.DataFrame(rows)


def published_direction_auc(y: pd.Series, score: pd.Series, auc: float) -> float:
    """The AUC that pROC's default ``direction = "auto"`` prints (Kosinski's released code).

    pROC compares the medians: when the controls' (y = 0) median score exceeds the cases'
    (y = 1), it takes the other direction and reports ``1 - auc``; otherwise ``auc``. polface
    keeps its fixed direction (conservative = positive); choosing the direction from the data
    raises every cell that falls below 0.5 in the usual case.
    """
    values = _numeric(y).to_numpy()
    scores = pd.to_numeric(score).to_numpy(dtype=float)
    controls, cases = scores[values == 0], scores[values == 1]
    return 1.0 - auc if np.median(controls) > np.median(cases) else auc


def auc_with_baselines(
    predictions: pd.DataFrame,
    by: Sequence[str],
    *,
    target_column: str,
    id_column: str,
    n_permutations: int,
    seed: int,
    level: float = 0.95,
) -> pd.DataFrame:
    """:func:`auc_table` for every group of ``by`` plus, per cell, the baselines to read it against.

    ``by[-1]`` names the producer of the scores (``model`` or ``feature_set``); earlier columns
    (e.g. ``method``) split the predictions into separate tables. Each cell gets the majority-class
    accuracy of its labels and the AUC of permuted labels (mean and central ``level`` interval;
    sub-seed :func:`child_seed` ``(seed, i)`` for the i-th cell).

    Each cell also gets ``auc_published`` with ``lo_published`` and ``hi_published``: the AUC and
    DeLong interval that the published code (pROC's automatic direction,
    :func:`published_direction_auc`) prints, equal to ``auc``, ``lo``, ``hi`` unless it flips.

    Returns:
        ``[*by, target_column, n, n_positive, n_negative, auc, lo, hi, se, majority_accuracy,
        perm_mean, perm_lo, perm_hi, auc_published, lo_published, hi_published]``.
    """
    *groups, producer = by
    require_columns(predictions, [*groups], table="predictions")
    frames = []
    parts = predictions.groupby(groups, sort=False) if groups else [((), predictions)]
    for key, part in parts:
        long = auc_table(
            part, by=producer, target_column=target_column, id_column=id_column, level=level
        )
        values = key if isinstance(key, tuple) else (key,)
        for position, (name, value) in enumerate(zip(groups, values, strict=True)):
            long.insert(position, name, value)
        frames.append(long)
    out = pd.concat(frames, ignore_index=True)[[*by, target_column, *AUC_COLUMNS]]
    cells = predictions.groupby([*by, target_column], sort=False, observed=True)
    extra = []
    for i, row in enumerate(out.itertuples(index=False)):
        record = row._asdict()
        cell = cells.get_group(tuple(record[c] for c in [*by, target_column]))
        baseline = permutation_auc(
            cell["y"], cell["score"], n_permutations, child_seed(seed, i), level=level
        )
        published = published_direction_auc(cell["y"], cell["score"], record["auc"])
        flipped = published != record["auc"]
        extra.append(
            {
                "majority_accuracy": majority_accuracy(cell["y"]),
                "perm_mean": baseline.mean,
                "perm_lo": baseline.lo,
                "perm_hi": baseline.hi,
                "auc_published": published,
                "lo_published": 1.0 - record["hi"] if flipped else record["lo"],
                "hi_published": 1.0 - record["lo"] if flipped else record["hi"],
            }
        )
    return pd.concat([out, pd.DataFrame(extra)], axis=1)

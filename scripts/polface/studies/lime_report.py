"""LIME reports of an image set: which parts of a face move a model's output, with controls.

Rule ``explain_lime`` (one job per image set, backend and model) assembles the steps of
:mod:`polface.explain`: the faces to explain (:func:`polface.explain.faces.faces_to_explain`),
their readouts (:func:`rating_readouts_of` for the OMI rating models,
:func:`polface.explain.readouts.cohort_readouts` for a model trained on a cohort, e.g. Kosinski's
LASSO on the OSF descriptors, with the statement that the model was trained on descriptors from
another pipeline than the one that embedded the image), the explanations
(:func:`polface.explain.faces.explain_faces`), then :func:`write_report`.

Outputs: ``weights.parquet`` (every segment weight with its bootstrap interval and the weights
of every repeat), ``scores.parquet`` (per face, segmentation and readout: outputs, fit,
stability, faithfulness, trust verdict), ``curves.parquet``, ``regions.csv`` (mean region weight
across faces with a t interval, per target and arm) and a ``gallery/`` of HTML pages with an
overlay and the curves of every explanation (:func:`polface.report.gallery.write_lime_gallery`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from polface.data.omi import read_omi_ratings
from polface.explain.explanations import Readout
from polface.explain.faces import region_summary
from polface.explain.readouts import fold_readouts
from polface.frames import IMAGE_ID
from polface.io import read_features, write_atomic, write_parquet
from polface.models.artifacts import load_rating_models
from polface.report.gallery import write_lime_gallery

#: The statement on every gallery page (the README's).
STEREOTYPE_STATEMENT = (
    "polface is an audit tool. One Million Impressions ratings are human stereotypes about "
    "synthetic faces, not facts about anyone: an explanation shows which parts of an image "
    "move a model of what raters believed, nothing about the politics or the character of any "
    "real person. Scores about individual people are not its use."
)


def _frame(records: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(records, preserve_index=False)


def write_report(
    result: Mapping[str, Any],
    *,
    weights: str | Path,
    scores: str | Path,
    curves: str | Path,
    regions: str | Path,
    gallery: str | Path,
    metadata: Mapping[str, Any],
    notes: Sequence[str],
    top: int,
    level: float,
) -> None:
    """Write the tables (parquet, the region summary as CSV) and the gallery folder."""
    for frame, path in ((result["weights"], weights), (result["scores"], scores)):
        write_parquet(_frame(frame), path, metadata=metadata)
    write_parquet(_frame(result["curves"]), curves, metadata=metadata)
    summary = region_summary(result["weights"], level=level)
    write_atomic(regions, summary.to_csv(index=False, lineterminator="\n"))
    write_lime_gallery(
        gallery, result, summary, notes=notes, top=top, level=level, statement=STEREOTYPE_STATEMENT
    )


def rating_readouts_of(
    *,
    models: str | Path,
    readouts: str | Path | None,
    predictions: str | Path,
    embeddings: str | Path,
    ratings: str | Path,
    targets: Mapping[str, Sequence[str]],
    controls: Mapping[str, Any],
    seed: int,
) -> Callable[[str], list[Readout]]:
    """image id -> the readouts of the OMI rating models (its fold's model and the controls).

    Reads the files of rules ``fit_omi_ratings`` (``models``, ``predictions``: the outer fold of
    each face) and ``fit_omi_readouts`` (``readouts``, the perceived-demographics models; None
    when the config asks for none), the ``embeddings`` and the OMI ``ratings``, and hands them to
    :func:`polface.explain.readouts.fold_readouts`.
    """
    demographics = load_rating_models(readouts) if readouts is not None else None
    table = pd.read_parquet(predictions, columns=[IMAGE_ID, "outer_fold"])
    folds = dict(zip(table[IMAGE_ID].astype(str), table["outer_fold"], strict=False))
    ids, X = read_features(embeddings, IMAGE_ID)
    return fold_readouts(
        load_rating_models(models),
        demographics,
        ids,
        X,
        read_omi_ratings(ratings),
        folds,
        binary=targets["binary"],
        continuous=targets["continuous"],
        permuted=controls["permuted"],
        random=controls["random_readout"],
        seed=seed,
    )

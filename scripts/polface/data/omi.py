"""One Million Impressions (OMI): the layout of a copy, its mean ratings, and rating targets.

Peterson, Uddenberg, Griffiths, Todorov & Suchow, *Deep models of superficial face judgments*,
PNAS 119(17), 2022: ``images/N.jpg`` (1,004 synthetic StyleGAN2 faces) and
``attribute_means.csv`` (column ``stimulus`` = N, then the mean rating of 34 attributes, 0-100).
The ratings are human stereotypes about synthetic faces, not facts about anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.frames import IMAGE_ID

#: The OMI ratings file and images folder, inside a local copy or resources/omi/.
OMI_RATINGS = "attribute_means.csv"
OMI_IMAGES = "images"
#: Column of attribute_means.csv with the image number.
OMI_ID_COLUMN = "stimulus"

#: Model names in the OMI rating predictions and tables: the embedding's LASSO and the control
#: model on the faces' perceived demographics.
EMBEDDING = "embedding"
CONTROLS = "perceived demographics"


def read_omi_ratings(path: Path | str) -> pd.DataFrame:
    """``attribute_means.csv`` indexed by image id (the ``stimulus`` number as text)."""
    ratings = pd.read_csv(path)
    if OMI_ID_COLUMN not in ratings.columns:
        raise ValueError(
            f"{path}: no column {OMI_ID_COLUMN!r} (expected the OMI attribute_means.csv layout,"
            f" found {list(ratings.columns)[:6]} ...)"
        )
    ids = ratings[OMI_ID_COLUMN].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"{path}: stimulus {ids[ids.duplicated()].iloc[0]!r} appears twice")
    return ratings.drop(columns=[OMI_ID_COLUMN]).set_index(pd.Index(ids, name=IMAGE_ID))


def rating_targets(
    ratings: pd.DataFrame, ids: Sequence[str], binary: Sequence[str], continuous: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The targets of the faces ``ids``: binary ones split at their median, continuous as rated.

    Returns a frame ``image_id, <target>...`` (:data:`polface.frames.IMAGE_ID`) in the order of
    ``ids`` and the median of each binary target (over the rated faces among ``ids``).
    """
    absent = [c for c in [*binary, *continuous] if c not in ratings.columns]
    if absent:
        raise KeyError(f"the ratings have no column(s) {absent}; found {list(ratings.columns)}")
    unrated = [i for i in ids if i not in ratings.index]
    if unrated:
        raise ValueError(f"{len(unrated)} face(s) have no ratings, e.g. {unrated[:5]}")
    rows = ratings.loc[list(ids)]
    targets = pd.DataFrame({IMAGE_ID: list(ids)})
    medians = {}
    for name in binary:
        values = rows[name].to_numpy(dtype=np.float64)
        medians[name] = float(np.nanmedian(values))
        split = np.where(np.isnan(values), np.nan, (values > medians[name]).astype(np.float64))
        targets[name] = split
    for name in continuous:
        targets[name] = rows[name].to_numpy(dtype=np.float64)
    return targets, medians

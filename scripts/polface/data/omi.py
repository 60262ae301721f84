"""One Million Impressions (OMI): the layout of a copy, its mean ratings, and rating targets.

Peterson, Uddenberg, Griffiths, Todorov & Suchow, *Deep models of superficial face judgments*,
PNAS 119(17), 2022: ``images/N.jpg`` (1,004 synthetic StyleGAN2 faces) and
``attribute_means.csv`` (column ``stimulus`` = N, then the mean rating of 34 attributes, 0-100).
The ratings are human stereotypes about synthetic faces, not facts about anyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.errors import InputError
from polface.frames import IMAGE_ID, MissingColumnsError

#: The OMI ratings file and images folder, inside a local copy or resources/omi/.
OMI_RATINGS = "attribute_means.csv"
OMI_IMAGES = "images"
#: Column of attribute_means.csv with the image number.
OMI_ID_COLUMN = "stimulus"
#: The OMI image numbers: images/1.jpg ... images/1004.jpg.
OMI_FIRST_ID, OMI_LAST_ID = 1, 1004
#: An image number as the ratings file writes it: digits, no sign, no leading zero.
_OMI_ID = re.compile(r"[1-9][0-9]{0,3}")

#: Model names in the OMI rating predictions and tables: the embedding's LASSO and the control
#: model on the faces' perceived demographics.
EMBEDDING = "embedding"
CONTROLS = "perceived demographics"


def read_omi_ratings(path: Path | str) -> pd.DataFrame:
    """``attribute_means.csv`` indexed by image id (the ``stimulus`` number as text).

    The one place OMI image ids enter polface (a mirror's download included): each must be an
    integer from 1 to 1004 written plainly (``7``, not ``07``, ``7.0`` or ``../7``), since it
    becomes a file name. The frame's ``attrs["source"]`` is ``path``, which the errors of
    :func:`rating_targets` name.

    Raises:
        InputError: no ``stimulus`` column, an id that is not an OMI image number (naming the
            file, its line and the value), or an id listed twice.
    """
    ratings = pd.read_csv(path, dtype={OMI_ID_COLUMN: str})
    if OMI_ID_COLUMN not in ratings.columns:
        raise InputError(
            f"{path}: no column {OMI_ID_COLUMN!r} (expected the OMI attribute_means.csv layout,"
            f" found {list(ratings.columns)[:6]} ...)"
        )
    ids = ratings[OMI_ID_COLUMN].fillna("").astype(str)
    for row, value in enumerate(ids):
        if not (_OMI_ID.fullmatch(value) and OMI_FIRST_ID <= int(value) <= OMI_LAST_ID):
            raise InputError(
                f"{path}: line {row + 2}, column {OMI_ID_COLUMN!r} is {value!r}; expected an OMI"
                f" image number, an integer from {OMI_FIRST_ID} to {OMI_LAST_ID}"
            )
    if ids.duplicated().any():
        raise InputError(f"{path}: stimulus {ids[ids.duplicated()].iloc[0]!r} appears twice")
    ratings = ratings.drop(columns=[OMI_ID_COLUMN]).set_index(pd.Index(ids, name=IMAGE_ID))
    ratings.attrs["source"] = str(path)
    return ratings


def ratings_source(ratings: pd.DataFrame) -> str:
    """The file the ratings were read from (:func:`read_omi_ratings`), for messages."""
    return str(ratings.attrs.get("source", "the ratings"))


def rating_targets(
    ratings: pd.DataFrame, ids: Sequence[str], binary: Sequence[str], continuous: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The targets of the faces ``ids``: binary ones split at their median, continuous as rated.

    Returns a frame ``image_id, <target>...`` (:data:`polface.frames.IMAGE_ID`) in the order of
    ``ids`` and the median of each binary target (over the rated faces among ``ids``).

    Raises:
        MissingColumnsError: a target (the config's ``omi.ratings``) is not a column of the
            ratings; the message names their file (:func:`ratings_source`).
        InputError: a face of ``ids`` (the image set's photographs) has no row in the ratings.
    """
    absent = [c for c in [*binary, *continuous] if c not in ratings.columns]
    if absent:
        raise MissingColumnsError(
            f"{ratings_source(ratings)}: no column(s) {absent} (the targets of omi.ratings);"
            f" found {list(ratings.columns)}"
        )
    unrated = [i for i in ids if i not in ratings.index]
    if unrated:
        raise InputError(
            f"{ratings_source(ratings)}: {len(unrated)} face(s) of the image set have no row,"
            f" e.g. {OMI_ID_COLUMN} {unrated[:5]}; expected a rating of every face"
        )
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

"""The vocabulary of Kosinski's OSF release (osf.io/c58d3): samples, orientations, feature sets.

One place for the names that the workflow, the tables, the figures and the simulated cohorts
share: the four samples (0/1 columns of the ``faces`` data frame ``d``, 0 = liberal,
1 = conservative) with their display labels, the 42 columns of ``d``, and the interpretable
feature sets of Table S1 / Figure 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from polface.frames import MissingColumnsError

#: The four samples of the OSF release: column name → human label (the paper's order).
SAMPLE_LABELS: dict[str, str] = {
    "pol_dat_us": "US dating",
    "pol_dat_ca": "Canada dating",
    "pol_dat_uk": "UK dating",
    "pol_fb_us": "US Facebook",
}

#: The sample columns, in the paper's order.
SAMPLES: tuple[str, ...] = tuple(SAMPLE_LABELS)

#: The objects of the release's two RData files and the id column of ``d`` (the simulated cohorts
#: are written with the same names).
FACES_OBJECT = "d"
FEATURES_OBJECT = "vgg"
ID_COLUMN = "userid"

#: The column of the out-of-fold predictions (and AUC tables) that names the scored sample.
SAMPLE_COLUMN = "sample"

#: ``pol``'s two values; the sample columns code them 0 and 1.
ORIENTATIONS: tuple[str, str] = ("liberal", "conservative")

#: The value of ``gender`` that means female: 1 in the release (``facial_hair`` is far higher
#: where ``gender`` is 0).
FEMALE_CODE = 1

#: The four samples in the order their rows appear in the release.
ROW_ORDER: tuple[str, ...] = ("pol_fb_us", "pol_dat_us", "pol_dat_ca", "pol_dat_uk")

#: Face++'s emotions, eye states and head-pose angles, and the Big Five, as the release names them.
EMOTIONS = ("sadness", "neutral", "disgust", "anger", "surprise", "fear", "happiness")
EYE_STATES = (
    "normal_glass_eye_open",
    "no_glass_eye_close",
    "occlusion",
    "no_glass_eye_open",
    "normal_glass_eye_close",
    "dark_glasses",
)
HEAD_POSE = ("headpose.yaw_angle", "headpose.pitch_angle", "headpose.roll_angle")
BIG_FIVE = ("ext", "neu", "ope", "agr", "con")
#: The Face++ eye states that name glasses (``*_eye_status.*glass*``; ``occlusion`` is left out).
EYEWEAR_STATES: tuple[str, ...] = tuple(s for s in EYE_STATES if "glass" in s)

#: The 42 columns of the released data.frame ``d``, in the released order.
COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    "gender",
    "age",
    "country",
    "facial_hair",
    "pol",
    *SAMPLE_LABELS,
    *BIG_FIVE,
    "database",
    *(f"emotion.{e}" for e in EMOTIONS),
    "gender.value",
    "age.value",
    *HEAD_POSE,
    "smile.value",
    *(f"left_eye_status.{s}" for s in EYE_STATES),
    *(f"right_eye_status.{s}" for s in EYE_STATES),
    "ethnicity.value",
)

#: Interpretable feature sets of Kosinski's Table S1 / Figure 3 (columns of ``faces``): the ones
#: the paper names and the release holds. Head pose enters as absolute angles, text columns
#: (Face++ ethnicity) as indicators (see :func:`interpretable_features`); personality exists only
#: for the Facebook sample, so ``all`` (every other set together) leaves it out.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "head_pose": HEAD_POSE,
    "expression": tuple(f"emotion.{e}" for e in EMOTIONS),
    "personality": BIG_FIVE,
    "facial_hair": ("facial_hair",),
    "eyewear": tuple(f"{eye}_eye_status.{s}" for eye in ("left", "right") for s in EYEWEAR_STATES),
    "smile": ("smile.value",),
    "demographics": ("gender.value", "age.value", "ethnicity.value"),
}
FEATURE_SETS["all"] = tuple(
    column for name, columns in FEATURE_SETS.items() if name != "personality" for column in columns
)


def text_levels(series: pd.Series) -> list[str] | None:
    """The values (as text, sorted) of a column that :func:`interpretable_features` turns into
    indicators, one per value but the first; None for a numeric column, which it keeps."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return None
    text = series.astype(object).where(series.notna())
    return sorted(map(str, text.dropna().unique()))


def feature_set_width(feature_set: str, n_levels: Mapping[str, int]) -> int:
    """How many columns :func:`interpretable_features` makes of ``feature_set``: one per numeric
    column, and for a text column (a key of ``n_levels``, its number of values) one per value but
    the first. Without the data, an upper bound on the values gives an upper bound."""
    return sum(
        max(n_levels[column] - 1, 0) if column in n_levels else 1
        for column in FEATURE_SETS[feature_set]
    )


def faces_text_levels(path: str | Path) -> dict[str, int]:
    """{column: number of values} of the feature-set columns that a faces parquet file holds as
    text (which :func:`interpretable_features` expands into indicators); reads only those."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    wanted = sorted({column for columns in FEATURE_SETS.values() for column in columns})
    text = [
        column
        for column in wanted
        if column in schema.names
        and not pa.types.is_integer(schema.field(column).type)
        and not pa.types.is_floating(schema.field(column).type)
    ]
    if not text:
        return {}
    frame = pd.read_parquet(path, columns=text)
    levels = {column: text_levels(frame[column]) for column in text}
    return {column: len(values) for column, values in levels.items() if values is not None}


def interpretable_features(
    faces: pd.DataFrame, feature_set: str, *, source: str = "faces"
) -> pd.DataFrame:
    """The columns of one interpretable feature set, as float64 (head pose as absolute angles).

    Head-pose angles enter as absolute values (wherever the set holds them). A column of text or
    categories (Face++ ``ethnicity.value``, a ``gender.value`` of words) becomes one 0/1 indicator
    per value but the first in sorted order, named ``column=value``, NA where the column is NA.

    Args:
        faces: the ``faces`` table.
        feature_set: a key of :data:`FEATURE_SETS`.
        source: the file ``faces`` was read from, named when it lacks a column of the set.

    Returns:
        DataFrame with the set's columns, aligned with ``faces`` (NA kept).
    """
    if feature_set not in FEATURE_SETS:
        raise KeyError(f"unknown feature set {feature_set!r}; expected one of {list(FEATURE_SETS)}")
    columns = list(FEATURE_SETS[feature_set])
    absent = [c for c in columns if c not in faces.columns]
    if absent:
        raise MissingColumnsError(
            f"{source} lacks the column(s) {absent} of feature set {feature_set!r}; expected"
            f" the columns {columns}"
        )
    parts = []
    for column in columns:
        series = faces[column]
        levels = text_levels(series)
        if levels is None:
            values = pd.to_numeric(series).astype(float)
            parts.append(values.abs() if column.startswith("headpose.") else values)
            continue
        text = series.astype(object).where(series.notna())
        for level in levels[1:]:
            indicator = (text.astype(str) == level).astype(float).where(text.notna())
            parts.append(indicator.rename(f"{column}={level}"))
    return pd.concat(parts, axis=1)

"""The OSF RData files of a cohort to parquet: faces.parquet, features.parquet, a column summary.

The data.frame is read with pyreadr and the R types restored (rdata.read_data_frame); the
descriptors are streamed from the R serialization block by block, so memory does not grow with the
number of rows (polface.data.rdata.numeric_rdata_to_parquet).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from polface.data.rdata import numeric_rdata_to_parquet, read_data_frame
from polface.io import atomic_output, file_sha256, write_parquet

log = logging.getLogger(__name__)

R_TYPE_OF_DTYPE = {
    "Int32": "integer",
    "boolean": "logical",
    "float64": "double",
    "str": "character",
    "string": "character",
    "object": "character",
    "category": "factor",
}


def column_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column: R type, pandas dtype, missing count, factor levels (for auditing)."""
    rows = []
    for name in frame.columns:
        series = frame[name]
        dtype = str(series.dtype)
        levels = ""
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = "|".join(map(str, series.cat.categories))
            if series.cat.ordered:
                dtype = "category (ordered)"
        rows.append(
            {
                "column": name,
                "r_type": R_TYPE_OF_DTYPE.get(str(series.dtype), str(series.dtype)),
                "dtype": dtype,
                "n_missing": int(series.isna().sum()),
                "levels": levels,
            }
        )
    return pd.DataFrame(rows)


def check_ids(frame: pd.DataFrame, id_column: str, source: str) -> pd.Series:
    """The id column must exist, have no missing value and no duplicate."""
    if id_column not in frame.columns:
        raise KeyError(
            f"{source}: id column {id_column!r} not found; columns are: {', '.join(frame.columns)}"
        )
    ids = frame[id_column]
    missing = ids.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{source}: id column {id_column!r} is NA in row {int(missing.argmax()) + 1}"
        )
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        row = int(duplicated.argmax())
        raise ValueError(
            f"{source}: id column {id_column!r} repeats value {ids.iloc[row]!r} in row {row + 1}"
        )
    return ids


def convert_cohort(
    *,
    faces_rdata: str,
    features_rdata: str,
    faces_object: str,
    features_object: str,
    id_column: str,
    block_rows: int,
    precision: str,
    faces_parquet: str,
    features_parquet: str,
    columns_csv: str,
) -> None:
    """Convert one cohort's two RData files; every output is written atomically.

    The descriptors are stored as ``precision`` (``float64``: R's doubles bit for bit;
    ``float32``: rounded, half the size), which the features file's metadata records as ``dtype``.
    """
    log.info("reading data.frame %r from %s", faces_object, faces_rdata)
    faces = read_data_frame(faces_rdata, faces_object)
    log.info("%d rows x %d columns", *faces.shape)
    ids = check_ids(faces, id_column, f"{faces_rdata}, data.frame {faces_object!r}")

    provenance = {
        "source_file": Path(faces_rdata).name,
        "source_sha256": file_sha256(faces_rdata),
        "r_object": faces_object,
        "id_column": id_column,
    }
    table = pa.Table.from_pandas(faces, preserve_index=False)
    write_parquet(table, faces_parquet, metadata=provenance)

    summary = column_summary(faces)
    with atomic_output(columns_csv) as tmp:
        summary.to_csv(tmp, index=False)

    log.info("streaming %r from %s", features_object, features_rdata)
    numeric_rdata_to_parquet(
        features_rdata,
        features_object,
        features_parquet,
        row_ids=ids.astype(str).tolist(),
        id_column=id_column,
        values_column="features",
        dtype=precision,
        rows_per_block=block_rows,
        progress=True,
        checksum=True,
    )

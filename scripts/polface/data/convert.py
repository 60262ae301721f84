"""The OSF RData files of a cohort to parquet: faces.parquet, features.parquet, a column summary.

The data.frame is read with pyreadr and the R types restored (rdata.read_data_frame); the
descriptors are streamed from the R serialization block by block, so memory does not grow with the
number of rows (polface.data.rdata.numeric_rdata_to_parquet).
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from polface.data.rdata import RDataError, numeric_rdata_to_parquet, read_data_frame
from polface.data.rdata.objects import (
    ATOMIC_DTYPES,
    LISTSXP,
    REALSXP,
    SYMSXP,
    TYPE_NAMES,
    VECSXP,
    XDR_UINT,
)
from polface.data.rdata.stream import XdrInput, open_decompressed, read_header
from polface.errors import InputError
from polface.frames import MissingColumnsError
from polface.io import atomic_output, file_sha256, write_parquet

#: errno values that mean the disk (or the file size limit, or the quota) is full.
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)

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
    """The id column must exist, have no missing value and no duplicate.

    Raises:
        MissingColumnsError: no column ``id_column`` (a ``KeyError`` too).
        InputError: an NA or a repeated id, naming ``source``, the row and the value.
    """
    if id_column not in frame.columns:
        raise MissingColumnsError(
            f"{source}: id column {id_column!r} not found; columns are: {', '.join(frame.columns)}"
        )
    ids = frame[id_column]
    missing = ids.isna().to_numpy()
    if missing.any():
        raise InputError(
            f"{source}: id column {id_column!r} is NA in row {int(missing.argmax()) + 1}"
        )
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        row = int(duplicated.argmax())
        raise InputError(
            f"{source}: id column {id_column!r} repeats value {ids.iloc[row]!r} in row {row + 1}"
        )
    return ids


def first_object_length(path: str | Path, object_name: str) -> tuple[int, int] | None:
    """(R type, vector length) of `object_name` when it is the first object of an RData file.

    Reads only the first few bytes of the stream; None when the first object is another one.
    A vector longer than the file can hold (see ``rdata.stream.stream_capacity``) is an
    :class:`RDataError` saying so: the file is truncated or corrupt.
    """
    with open_decompressed(Path(path)) as raw:
        inp = XdrInput(raw, Path(path))
        read_header(inp)
        if inp.int() & 0xFF != LISTSXP or inp.int() & 0xFF != SYMSXP:
            return None
        inp.int()  # the tag's CHARSXP flags
        name = inp.read(inp.int()).decode("utf-8", errors="replace")
        if name != object_name:
            return None
        sexptype = inp.int() & 0xFF
        length = inp.int()
        if length == -1:
            length = (XDR_UINT.unpack(inp.read(4))[0] << 32) | XDR_UINT.unpack(inp.read(4))[0]
        if sexptype in ATOMIC_DTYPES:
            width = np.dtype(ATOMIC_DTYPES[sexptype]).itemsize
            claim = f"object {object_name!r} claims {length:,} {TYPE_NAMES[sexptype]} values"
            inp.check_claim(length, width, claim)
        return sexptype, length


def space_needed(
    features_rdata: str | Path, features_object: str, n_rows: int, precision: str
) -> int:
    """Bytes the conversion writes beside features.parquet: the spool and the parquet (the
    descriptors hardly compress), each the descriptor values in `precision`; 0 if unknown."""
    found = first_object_length(features_rdata, features_object)
    if found is None:
        return 0
    sexptype, length = found
    values = length * n_rows if sexptype == VECSXP else length if sexptype == REALSXP else 0
    return 2 * values * np.dtype(precision).itemsize


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


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

    The descriptors must be finite: NA, NaN or infinity is an error naming the row and column
    (the models cannot fit them). The descriptors are stored as ``precision`` (``float64``: R's
    doubles bit for bit; ``float32``: rounded, half the size), which the features file's metadata
    records as ``dtype``.
    The outputs appear all or none: the descriptors are converted first, and if any output fails
    the ones already written are removed. A disk too small is an ``OSError`` (ENOSPC) naming the
    directory, the space the conversion needs and the space free: raised before anything is
    written when the free space is short at the start, and while writing when it runs out.
    """
    log.info("reading data.frame %r from %s", faces_object, faces_rdata)
    faces = read_data_frame(faces_rdata, faces_object)
    log.info("%d rows x %d columns", *faces.shape)
    if len(faces) == 0:
        raise RDataError(
            f"{faces_rdata}: data.frame {faces_object!r} has 0 rows; expected at least 1 (a row "
            "per face)"
        )
    ids = check_ids(faces, id_column, f"{faces_rdata}, data.frame {faces_object!r}")

    folder = Path(features_parquet).parent
    folder.mkdir(parents=True, exist_ok=True)
    need = space_needed(features_rdata, features_object, len(faces), precision)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise OSError(
            errno.ENOSPC,
            f"{features_parquet}: converting {features_rdata} needs about {_gb(need)} free in "
            f"{folder} (a spool and the parquet of the "
            f"{need // (2 * np.dtype(precision).itemsize):,} descriptor values that its object "
            f"{features_object!r} claims), but {_gb(free)} are free; nothing was written",
        )
    outputs = [Path(features_parquet), Path(faces_parquet), Path(columns_csv)]
    try:
        _write_outputs(
            faces,
            ids,
            faces_rdata=faces_rdata,
            features_rdata=features_rdata,
            faces_object=faces_object,
            features_object=features_object,
            id_column=id_column,
            block_rows=block_rows,
            precision=precision,
            faces_parquet=faces_parquet,
            features_parquet=features_parquet,
            columns_csv=columns_csv,
        )
    except BaseException as exc:
        for path in outputs:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            free = shutil.disk_usage(folder).free
            raise OSError(
                exc.errno,
                f"{features_parquet}: the disk filled while converting {features_rdata} "
                f"({exc.strerror}); it needs {f'about {_gb(need)}' if need else 'more'} free in "
                f"{folder}, "
                f"{_gb(free)} are free now; the partial outputs were removed",
            ) from exc
        raise


def _write_outputs(
    faces: pd.DataFrame,
    ids: pd.Series,
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
    """The three outputs of :func:`convert_cohort`, the descriptors first."""
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
        finite=True,
    )

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

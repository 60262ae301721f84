"""Streaming numeric objects: a numeric matrix or data.frame of numeric columns spooled to disk and
handed back in row blocks or columns, and its conversion to parquet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polface.data.rdata.objects import (
    INTSXP,
    LGLSXP,
    NA_INTEGER,
    REALSXP,
    VECSXP,
    RDataError,
    RObject,
    SequenceData,
    SpooledData,
    strings_of,
)
from polface.data.rdata.parser import describe, find_object, open_parser
from polface.data.rdata.spool import Spool, progress_bar
from polface.io import METADATA_KEY, atomic_output, file_sha256

_BLOCK_BYTES = 1 << 26  # default size of one row block handed out by the spool (64 MiB)


@dataclass(frozen=True)
class _Column:
    """One column of a numeric object: its rows start at element ``offset`` of ``data``."""

    data: SpooledData | SequenceData
    offset: int


class _MatrixColumns(Sequence[_Column]):
    """The columns of a matrix stored column-major in one vector, made when asked for (a matrix
    may have more columns than are worth a Python object each)."""

    def __init__(self, data: SpooledData | SequenceData, n_rows: int, n_cols: int) -> None:
        self.data, self.n_rows, self.n_cols = data, n_rows, n_cols

    def __len__(self) -> int:
        return self.n_cols

    def __getitem__(self, j: Any) -> Any:
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(self.n_cols))]
        if not -self.n_cols <= j < self.n_cols:
            raise IndexError(j)
        return _Column(self.data, (j % self.n_cols) * self.n_rows)


def _row_names(obj: RObject, n_rows_hint: int | None = None) -> tuple[int | None, list[str] | None]:
    """A data.frame's ``row.names`` → (number of rows, names or None when they are 1..n)."""
    rn = obj.attr("row.names")
    if rn is None:
        return n_rows_hint, None
    if rn.sexptype == INTSXP and isinstance(rn.value, np.ndarray):
        ints = rn.value
        if ints.size == 2 and ints[0] == NA_INTEGER:  # the compact form c(NA, -n) or c(NA, n)
            return abs(int(ints[1])), None
        if np.array_equal(ints, np.arange(1, ints.size + 1)):
            return int(ints.size), None
        return int(ints.size), [str(v) for v in ints.tolist()]
    names = strings_of(rn)
    if names is not None:
        if names == [str(i) for i in range(1, len(names) + 1)]:
            return len(names), None
        return len(names), ["NA" if v is None else v for v in names]
    return n_rows_hint, None


def _names_or_none(obj: RObject | None) -> list[str] | None:
    """A names vector as a list of str (NA as 'NA'), or None."""
    names = strings_of(obj)
    return None if names is None else ["NA" if v is None else v for v in names]


class NumericObject:
    """A numeric matrix (or data.frame of numeric columns) spooled to disk column by column.

    Use as a context manager (or call :meth:`close`) so that the spool is freed. Data are
    held in ``dtype`` (float32 or float64); R's integer NA becomes NaN. Row blocks and columns are
    read from the spool with positional reads (a compact sequence, R's ``1:n``, is computed a block
    at a time), so memory use is one block at a time.
    """

    def __init__(
        self, path: Path, name: str, obj: RObject, spool: Spool, columns: Sequence[_Column],
        n_rows: int, kind: str, row_names: list[str] | None, col_names: list[str] | None,
    ) -> None:  # fmt: skip
        self.path = path
        self.name = name
        self.kind = kind  # "matrix", "data.frame" or "vector"
        self.typeof = obj.typeof
        self.r_class = obj.r_class
        self.n_rows = n_rows
        self.n_cols = len(columns)
        self.row_names = row_names
        self.col_names = col_names
        self._spool = spool
        self._columns = columns

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the values handed out."""
        return self._spool.dtype

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.n_rows, self.n_cols

    def _read(self, col: _Column, first: int, count: int) -> np.ndarray:
        """Rows ``first .. first + count - 1`` of one column."""
        if isinstance(col.data, SequenceData):
            return col.data.values(col.offset + first, count, self.dtype)
        return self._spool.read(col.data.offset + col.offset + first, count)

    def column(self, j: int) -> np.ndarray:
        """Column ``j`` (0-based) as a 1-D array."""
        return self._read(self._columns[j], 0, self.n_rows)

    def iter_columns(self) -> Iterator[np.ndarray]:
        """Every column in order."""
        for j in range(self.n_cols):
            yield self.column(j)

    def default_rows_per_block(self) -> int:
        """Rows per block so that one block is about 64 MiB."""
        return max(1, _BLOCK_BYTES // max(1, self.n_cols * self.dtype.itemsize))

    def iter_row_blocks(self, rows_per_block: int | None = None) -> Iterator[np.ndarray]:
        """Blocks of consecutive rows, each a C-ordered ``[rows, n_cols]`` array."""
        step = rows_per_block or self.default_rows_per_block()
        if step < 1:
            raise ValueError(f"rows_per_block must be positive, not {step}")
        for r0 in range(0, self.n_rows, step):
            r1 = min(self.n_rows, r0 + step)
            block = np.empty((r1 - r0, self.n_cols), dtype=self.dtype)
            for j in range(self.n_cols):
                block[:, j] = self._read(self._columns[j], r0, r1 - r0)
            yield block

    def close(self) -> None:
        """Delete the spool file."""
        self._spool.close()

    def __enter__(self) -> NumericObject:
        """Enter the context: the object itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Leave the context: delete the spool."""
        self.close()


def open_numeric(
    path: str | os.PathLike[str],
    object_name: str,
    *,
    dtype: str = "float32",
    spool_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> NumericObject:
    """Stream the numeric matrix or data.frame ``object_name`` of an RData file to a disk spool.

    Accepts a double or integer (or logical) matrix or vector, or a data.frame whose columns are all
    such vectors (no factors). The shape comes from ``dim`` (which R writes after the data) or from
    the data.frame's columns and row names; ``dimnames``/``names``/``row.names`` are kept as
    ``row_names``/``col_names`` (``row_names`` is None when R's row names are the trivial 1..n). The
    spool is made in ``spool_dir`` (default: the system temp directory; it needs rows x cols x
    itemsize bytes) and unlinked at once, so its space is freed on close, on error, or when the
    process dies. Memory use is bounded by an 8 MiB copy buffer, whatever the size of the object;
    compact sequences (R's ``1:n``) take no spool and are computed when read; other objects of the
    file are skipped without holding their data. A row wider than one 64 MiB block is an error.
    """
    p = Path(path)
    spool = Spool(spool_dir, dtype, progress)
    try:
        with open_parser(p, spool) as parser:
            obj = find_object(p, object_name, parser, "spool")
        return _numeric_layout(p, object_name, obj, spool)
    except BaseException:
        spool.close()
        raise


def _numeric_layout(path: Path, name: str, obj: RObject, spool: Spool) -> NumericObject:
    """Work out rows, columns and names of a spooled object; errors name the file and object."""
    what = f"{path}: object {name!r}"
    if obj.sexptype in (LGLSXP, INTSXP, REALSXP):
        if not isinstance(obj.value, SpooledData | SequenceData):
            raise RDataError(f"{what}: data were not spooled")
        if obj.r_class and "matrix" not in obj.r_class and "array" not in obj.r_class:
            raise RDataError(
                f"{what} has class {list(obj.r_class)}, expected a plain numeric matrix"
            )
        dim = obj.attr("dim")
        row_names = col_names = None
        if dim is None:
            n_rows, n_cols, kind = obj.value.length, 1, "vector"
            row_names = _names_or_none(obj.attr("names"))
        else:
            dims = [int(d) for d in np.asarray(dim.value).tolist()]
            if len(dims) != 2:
                raise RDataError(f"{what} has {len(dims)} dimensions {dims}, expected a matrix")
            n_rows, n_cols, kind = dims[0], dims[1], "matrix"
            if n_rows * n_cols != obj.value.length:
                raise RDataError(f"{what}: dim {dims} does not match length {obj.value.length}")
            dimnames = obj.attr("dimnames")
            if dimnames is not None and dimnames.sexptype == VECSXP and len(dimnames.value) == 2:
                row_names = _names_or_none(dimnames.value[0])
                col_names = _names_or_none(dimnames.value[1])
        _check_row_width(what, n_cols, spool)
        columns = _MatrixColumns(obj.value, n_rows, n_cols)
        return NumericObject(path, name, obj, spool, columns, n_rows, kind, row_names, col_names)
    if obj.sexptype == VECSXP and "data.frame" in obj.r_class:
        names = _names_or_none(obj.attr("names")) or [f"V{j + 1}" for j in range(len(obj.value))]
        columns = []
        for col_name, col in zip(names, obj.value, strict=True):
            if col.sexptype not in (LGLSXP, INTSXP, REALSXP) or col.r_class:
                kind = col.typeof + (f" {list(col.r_class)}" if col.r_class else "")
                raise RDataError(f"{what}: column {col_name!r} is {kind}, not numeric")
            columns.append(col.value)
        n_rows, row_names = _row_names(obj, columns[0].length if columns else 0)
        for col_name, col in zip(names, columns, strict=True):
            if col.length != n_rows:
                raise RDataError(
                    f"{what}: column {col_name!r} has {col.length} values, expected {n_rows} rows"
                )
        _check_row_width(what, len(columns), spool)
        return NumericObject(
            path, name, obj, spool, [_Column(c, 0) for c in columns], n_rows or 0, "data.frame",
            row_names, names,
        )  # fmt: skip
    raise RDataError(
        f"{what} is {describe(obj)}; expected a numeric matrix or a data.frame of numeric columns"
    )


def _check_row_width(what: str, n_cols: int, spool: Spool) -> None:
    """One row must fit in a row block (64 MiB): a wider one is no descriptor matrix."""
    if n_cols * spool.dtype.itemsize > _BLOCK_BYTES:
        raise RDataError(
            f"{what} has {n_cols:,} columns: one row would take "
            f"{n_cols * spool.dtype.itemsize / 2**20:,.0f} MiB, more than the {_BLOCK_BYTES >> 20} "
            "MiB of a row block"
        )


def iter_row_blocks(
    path: str | os.PathLike[str],
    object_name: str,
    *,
    dtype: str = "float32",
    rows_per_block: int | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
) -> Iterator[np.ndarray]:
    """Row blocks ``[rows, cols]`` of a numeric matrix or data.frame (see :func:`open_numeric`)."""
    with open_numeric(path, object_name, dtype=dtype, spool_dir=spool_dir) as obj:
        yield from obj.iter_row_blocks(rows_per_block)


def iter_matrix_columns(
    path: str | os.PathLike[str],
    object_name: str,
    *,
    spool_dir: str | os.PathLike[str] | None = None,
) -> Iterator[np.ndarray]:
    """The columns of a numeric matrix as float64 exactly as stored (NA/NaN bit patterns kept)."""
    with open_numeric(path, object_name, dtype="float64", spool_dir=spool_dir) as obj:
        yield from obj.iter_columns()


def _check_row_names(
    path: Path, name: str, row_names: list[str] | None, ids: np.ndarray | None
) -> None:
    """Non-trivial R row names must equal the row ids (compared as text)."""
    if row_names is None or ids is None:
        return
    expected = np.asarray([str(v) for v in ids], dtype=object)
    actual = np.asarray(row_names, dtype=object)
    mismatch = np.flatnonzero(actual != expected)
    if mismatch.size:
        i = int(mismatch[0])
        raise RDataError(
            f"{path}: object {name!r}: row {i + 1} is named {actual[i]!r} in R but the row id is "
            f"{expected[i]!r} ({mismatch.size} rows differ)"
        )


def numeric_rdata_to_parquet(
    rdata_path: str | os.PathLike[str],
    object_name: str,
    parquet_path: str | os.PathLike[str],
    *,
    row_ids: Sequence[Any] | np.ndarray | pd.Series | None = None,
    id_column: str = "row",
    values_column: str = "features",
    dtype: str = "float32",
    rows_per_block: int | None = None,
    progress: bool = True,
    metadata: Mapping[str, Any] | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    checksum: bool = False,
    compression: str = "zstd",
    finite: bool = False,
) -> dict[str, Any]:
    """Convert a numeric R matrix or data.frame to parquet: an id column and one vector column.

    The output has ``id_column`` (``row_ids``, or 0..n-1 when None) and ``values_column`` of type
    ``fixed_size_list<dtype>[n_cols]``, written one row group per block as blocks come, with
    key-value metadata (JSON under the key ``polface``, see polface.io.read_metadata: source file
    name, object, R type, shape, dtype, column names and, with ``checksum``, the source's SHA-256;
    plus ``metadata``). The number of rows must equal
    ``len(row_ids)``, and R row names other than 1..n must equal the row ids. With ``finite``,
    a value that is NA, NaN or infinite is an error naming the row (number and id) and the column,
    found block by block as the blocks are written (nothing is written then). The file is written
    atomically. The spool goes to ``spool_dir`` (default: the output's directory). Returns the
    metadata written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, target = Path(rdata_path), Path(parquet_path)
    if spool_dir is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        spool_dir = target.parent
    ids = None if row_ids is None else _ids_array(row_ids, source, object_name)
    with open_numeric(
        source, object_name, dtype=dtype, spool_dir=spool_dir, progress=progress
    ) as obj:
        if ids is not None and len(ids) != obj.n_rows:
            raise RDataError(
                f"{source}: object {object_name!r} has {obj.n_rows} rows but {len(ids)} row ids "
                "were given"
            )
        _check_row_names(source, object_name, obj.row_names, ids)
        if ids is None:
            ids = np.arange(obj.n_rows, dtype=np.int64)
        info: dict[str, Any] = {
            "producer": "polface.rdata.numeric_rdata_to_parquet",
            "source_file": source.name,
            "object": object_name,
            "r_type": f"{obj.typeof} {obj.kind}",
            "shape": [obj.n_rows, obj.n_cols],
            "dtype": str(obj.dtype),
        }
        if obj.col_names is not None:
            info["column_names"] = list(obj.col_names)
        if checksum:
            info["source_sha256"] = file_sha256(source)
        info.update(metadata or {})
        value_type = pa.from_numpy_dtype(obj.dtype)
        id_array = pa.array(ids)
        schema = pa.schema(
            [
                pa.field(id_column, id_array.type, nullable=False),
                pa.field(values_column, pa.list_(value_type, obj.n_cols)),
            ],
            metadata={METADATA_KEY: json.dumps(info, sort_keys=True).encode()},
        )
        step = rows_per_block or obj.default_rows_per_block()
        n_blocks = -(-obj.n_rows // step) if obj.n_rows else 0
        bar = progress_bar(progress, n_blocks, f"{object_name} → parquet", "block", True)
        try:
            with atomic_output(target) as tmp:
                with pq.ParquetWriter(tmp, schema, compression=compression) as writer:
                    start = 0
                    for block in obj.iter_row_blocks(step):
                        if finite:
                            _check_finite(source, obj, block, start, ids)
                        stop = start + block.shape[0]
                        values = pa.FixedSizeListArray.from_arrays(
                            pa.array(block.reshape(-1), type=value_type), obj.n_cols
                        )
                        table = pa.Table.from_arrays([id_array[start:stop], values], schema=schema)
                        writer.write_table(table, row_group_size=block.shape[0])
                        start = stop
                        bar.update(1)
                    if obj.n_rows == 0:
                        writer.write_table(schema.empty_table())
        finally:
            bar.close()
    return info


def _check_finite(
    path: Path, obj: NumericObject, block: np.ndarray, start: int, ids: np.ndarray
) -> None:
    """Every value of a row block (rows ``start``, ``start + 1``, ...) must be finite."""
    finite = np.isfinite(block)  # a bool per value of this block only
    if finite.all():
        return
    r, c = (int(i) for i in np.argwhere(~finite)[0])
    value = block[r, c]
    kind = "NA or NaN" if np.isnan(value) else str(value).replace("inf", "Inf")
    column = f"column {c + 1}" + (f" ({obj.col_names[c]!r})" if obj.col_names else "")
    row_id = ids[start + r]
    row_id = row_id.item() if isinstance(row_id, np.generic) else row_id
    raise RDataError(
        f"{path}: object {obj.name!r}: row {start + r + 1} (id {row_id!r}), {column} is "
        f"{kind}; every value must be finite"
    )


def _ids_array(row_ids: Any, path: Path, name: str) -> np.ndarray:
    """Row ids as a 1-D numpy array (integers, or strings as objects): no NA, no duplicates."""
    if isinstance(row_ids, pd.Series | pd.Index):
        if row_ids.isna().any():
            raise RDataError(f"{path}: row ids for {name!r} contain missing values")
        kind = row_ids.dtype.kind if isinstance(row_ids.dtype, np.dtype) else None
        ids = row_ids.to_numpy() if kind in ("i", "u") else row_ids.astype(str).to_numpy(object)
    else:
        ids = np.asarray(row_ids)
        if ids.ndim != 1:
            raise RDataError(f"{path}: row ids for {name!r} must be one-dimensional")
        if ids.dtype.kind not in ("i", "u"):
            if pd.isna(ids).any():
                raise RDataError(f"{path}: row ids for {name!r} contain missing values")
            ids = ids.astype(str).astype(object)
    duplicated = pd.Index(ids).duplicated()
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0])
        raise RDataError(f"{path}: row ids for {name!r} repeat {ids[i]!r} (row {i + 1})")
    return ids

"""Writing: data frames, numeric matrices and :class:`RObject` trees to an RData file as R's
``save()`` would (XDR, version 3 or 2).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from polface.data.rdata.objects import (
    ASCII_MASK,
    ATOMIC_DTYPES,
    BUFFER_BYTES,
    CHARSXP,
    CHUNK_BYTES,
    EXPRSXP,
    HAS_ATTR_BIT,
    HAS_TAG_BIT,
    INTSXP,
    IS_OBJECT_BIT,
    LANGSXP,
    LGLSXP,
    LISTSXP,
    NA_INTEGER,
    NA_REAL,
    NILSXP,
    NILVALUE_SXP,
    NULL,
    REALSXP,
    REFSXP,
    STRSXP,
    SYMSXP,
    UTF8_MASK,
    VECSXP,
    XDR_INT,
    XDR_UINT,
    OmittedData,
    RDataError,
    RMatrix,
    RObject,
    SequenceData,
    SpooledData,
)
from polface.io import atomic_output

R_VERSION_WRITTEN = (4 << 16) | (2 << 8) | 2  # the writer claims R 4.2.2 wrote the file


@dataclass(frozen=True)
class ColumnBlocks:
    """A numeric matrix written a block of columns at a time, never held whole.

    ``blocks`` is called once, when the file is written, and yields 2-D arrays of ``n_rows`` rows
    whose columns, concatenated, are the ``n_cols`` columns of the matrix in order. R stores a
    matrix column by column, so each block goes to the file as soon as it is made.
    """

    n_rows: int
    n_cols: int
    blocks: Callable[[], Iterable[np.ndarray]]


class _Output:
    """Buffers big-endian items and writes them to a (compressing) file object."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._buf = bytearray()
        self._symbols: dict[str, int] = {}
        self._n_refs = 0

    def bytes(self, data: bytes | memoryview) -> None:
        """Append raw bytes."""
        self._buf += data
        if len(self._buf) >= BUFFER_BYTES * 16:
            self.flush()

    def flush(self) -> None:
        """Hand the buffer to the file object."""
        if self._buf:
            self._fh.write(self._buf)
            self._buf = bytearray()

    def int(self, value: int) -> None:
        """One signed 32-bit integer."""
        self.bytes(XDR_INT.pack(value))

    def length(self, n: int, long_form: bool = False) -> None:
        """A vector length, in the long form (-1, upper, lower) when needed or asked for."""
        if n > 2**31 - 1 or long_form:
            self.int(-1)
            self.bytes(XDR_UINT.pack(n >> 32) + XDR_UINT.pack(n & 0xFFFFFFFF))
        else:
            self.int(n)

    def charsxp(self, text: str | None) -> None:
        """One CHARSXP: NA, ASCII or UTF-8."""
        if text is None:
            self.int(CHARSXP)
            self.int(-1)
            return
        raw = text.encode("utf-8")
        levels = ASCII_MASK if text.isascii() else UTF8_MASK
        self.int(CHARSXP | (levels << 12))
        self.int(len(raw))
        self.bytes(raw)

    def symbol(self, name: str) -> None:
        """A symbol, as a reference when it was written before."""
        index = self._symbols.get(name)
        if index is not None:
            self.int((index << 8) | REFSXP)
            return
        self.int(SYMSXP)
        self.charsxp(name)
        self._n_refs += 1
        self._symbols[name] = self._n_refs


def _write_numeric(out: _Output, sexptype: int, values: np.ndarray) -> None:
    """Atomic vector data, big-endian; a 2-D array column-major, a few columns at a time."""
    target = ATOMIC_DTYPES[sexptype]
    if values.ndim <= 1:
        flat = values.reshape(-1)
        per_chunk = max(1, CHUNK_BYTES // np.dtype(target).itemsize)
        for i in range(0, flat.size, per_chunk):
            out.bytes(np.ascontiguousarray(flat[i : i + per_chunk], dtype=target).tobytes())
        return
    if values.ndim != 2:
        raise RDataError(f"cannot write a {values.ndim}-D array (only vectors and matrices)")
    n_rows = max(1, values.shape[0])
    per_chunk = max(1, CHUNK_BYTES // (n_rows * np.dtype(target).itemsize))
    for j in range(0, values.shape[1], per_chunk):
        out.bytes(np.ascontiguousarray(values[:, j : j + per_chunk].T, dtype=target).tobytes())


def _write_column_blocks(out: _Output, sexptype: int, matrix: ColumnBlocks) -> None:
    """The data of a :class:`ColumnBlocks` matrix, checked block by block against its shape."""
    written = 0
    for block in matrix.blocks():
        if block.ndim != 2 or block.shape[0] != matrix.n_rows:
            raise RDataError(
                f"a column block of shape {block.shape} does not have the matrix's "
                f"{matrix.n_rows} rows"
            )
        written += block.shape[1]
        if written > matrix.n_cols:
            raise RDataError(
                f"the column blocks hold more than the matrix's {matrix.n_cols} columns"
            )
        _write_numeric(out, sexptype, block)
    if written != matrix.n_cols:
        raise RDataError(f"the column blocks hold {written} columns, not {matrix.n_cols}")


def _write_item(out: _Output, obj: RObject) -> None:
    """Write one :class:`RObject` (vectors, lists, pairlists, symbols, NULL)."""
    t = obj.sexptype
    if t == NILSXP:
        out.int(NILVALUE_SXP)
        return
    if t == SYMSXP:
        out.symbol(str(obj.value))
        return
    if isinstance(obj.value, OmittedData | SpooledData | SequenceData):
        raise RDataError(f"cannot write a {obj.typeof} vector whose data were not kept")
    attrs = obj.attributes
    is_object = obj.is_object or "class" in attrs
    flags = t | (IS_OBJECT_BIT if is_object else 0) | (HAS_ATTR_BIT if attrs else 0)
    if t in (LISTSXP, LANGSXP):
        _write_pairlist(
            out, [(str(k) if k else None, v) for k, v in obj.value], attrs, t, is_object
        )
        return
    if t == CHARSXP:
        out.charsxp(obj.value)
        return
    if t in ATOMIC_DTYPES and isinstance(obj.value, ColumnBlocks):
        out.int(flags)
        out.length(obj.value.n_rows * obj.value.n_cols)
        _write_column_blocks(out, t, obj.value)
    elif t in ATOMIC_DTYPES:
        values = np.asarray(obj.value)
        out.int(flags)
        out.length(int(values.size))
        _write_numeric(out, t, values)
    elif t == STRSXP:
        out.int(flags)
        out.length(len(obj.value))
        for s in obj.value:
            out.charsxp(s)
    elif t in (VECSXP, EXPRSXP):
        out.int(flags)
        out.length(len(obj.value))
        for element in obj.value:
            _write_item(out, element)
    else:
        raise RDataError(f"writing R objects of type {obj.typeof} is not supported")
    if attrs:
        _write_pairlist(out, list(attrs.items()), {}, LISTSXP, False)


def _write_pairlist(
    out: _Output, items: list[tuple[str | None, RObject]], attrs: dict[str, RObject],
    sexptype: int, is_object: bool,
) -> None:  # fmt: skip
    """A pairlist (attributes, tag, CAR for each node; NILVALUE at the end)."""
    for i, (tag, value) in enumerate(items):
        first = i == 0
        flags = (sexptype if first else LISTSXP) | (HAS_TAG_BIT if tag else 0)
        if first and attrs:
            flags |= HAS_ATTR_BIT | (IS_OBJECT_BIT if is_object else 0)
        out.int(flags)
        if first and attrs:
            _write_pairlist(out, list(attrs.items()), {}, LISTSXP, False)
        if tag:
            out.symbol(tag)
        _write_item(out, value)
    out.int(NILVALUE_SXP)


def _strsxp(values: Sequence[str | None]) -> RObject:
    """A character vector object."""
    return RObject(STRSXP, list(values))


def _column_to_robject(name: str, col: pd.Series) -> RObject:
    """One pandas column → an R vector (factor for Categorical)."""
    dtype = col.dtype
    mask = col.isna().to_numpy()
    if isinstance(dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int32) + 1
        codes[codes == 0] = NA_INTEGER
        levels = [str(c) for c in col.cat.categories]
        cls = ["ordered", "factor"] if col.cat.ordered else ["factor"]
        return RObject(
            INTSXP, codes, {"levels": _strsxp(levels), "class": _strsxp(cls)}, is_object=True
        )
    if pd.api.types.is_bool_dtype(dtype):
        values = col.to_numpy(dtype=np.int32, na_value=0)
        values[mask] = NA_INTEGER
        return RObject(LGLSXP, values)
    if pd.api.types.is_integer_dtype(dtype):
        values64 = col.to_numpy(dtype=np.int64, na_value=0)
        bad = ~mask & ((values64 <= NA_INTEGER) | (values64 > 2**31 - 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise RDataError(
                f"column {name!r}: value {values64[i]} at row {i + 1} does not fit R's integer type"
            )
        values = values64.astype(np.int32)
        values[mask] = NA_INTEGER
        return RObject(INTSXP, values)
    if pd.api.types.is_float_dtype(dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan).copy()
        values[np.isnan(values)] = NA_REAL  # pandas' missing value is R's NA
        return RObject(REALSXP, values)
    if pd.api.types.is_string_dtype(dtype) or dtype == np.dtype(object):
        out: list[str | None] = []
        for i, (value, missing) in enumerate(zip(col.tolist(), mask, strict=True)):
            if missing:
                out.append(None)
            elif isinstance(value, str):
                out.append(value)
            else:
                raise RDataError(
                    f"column {name!r}: row {i + 1} holds {type(value).__name__} {value!r}, "
                    "expected a string"
                )
        return _strsxp(out)
    raise RDataError(f"column {name!r}: pandas dtype {dtype} cannot be written to R")


def _frame_to_robject(frame: pd.DataFrame) -> RObject:
    """A pandas DataFrame → an R data.frame (compact row names unless the index is not 0..n-1)."""
    columns = []
    for name in frame.columns:
        col = frame[name]
        if isinstance(col, pd.DataFrame):
            raise RDataError(f"duplicate column name {name!r}")
        columns.append(_column_to_robject(str(name), col))
    n = len(frame)
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        row_names = RObject(INTSXP, np.array([NA_INTEGER, -n], dtype=np.int32))
    else:
        row_names = _strsxp([str(v) for v in index])
    attrs = {
        "names": _strsxp([str(c) for c in frame.columns]),
        "class": _strsxp(["data.frame"]),
        "row.names": row_names,
    }
    return RObject(VECSXP, columns, attrs, is_object=True)


def _matrix_to_robject(matrix: RMatrix | np.ndarray) -> RObject:
    """A 2-D float array (optionally with dimnames) → an R double matrix."""
    spec = matrix if isinstance(matrix, RMatrix) else RMatrix(matrix)
    values = np.asarray(spec.values)
    if values.ndim != 2:
        raise RDataError(f"a matrix must be 2-D, got shape {values.shape}")
    if values.dtype.kind not in "fiu":
        raise RDataError(f"a matrix must be numeric, got dtype {values.dtype}")
    attrs = {"dim": RObject(INTSXP, np.array(values.shape, dtype=np.int32))}
    if spec.row_names is not None or spec.col_names is not None:
        for names, n, what in ((spec.row_names, values.shape[0], "row"),
                               (spec.col_names, values.shape[1], "column")):  # fmt: skip
            if names is not None and len(names) != n:
                raise RDataError(f"{len(names)} {what} names for {n} {what}s")
        attrs["dimnames"] = RObject(
            VECSXP,
            [NULL if names is None else _strsxp([str(v) for v in names])
             for names in (spec.row_names, spec.col_names)],
        )  # fmt: skip
    return RObject(REALSXP, values, attrs)


def _to_robject(name: str, value: Any) -> RObject:
    """Convert one value given to write_rdata to an RObject tree."""
    if isinstance(value, RObject):
        return value
    if isinstance(value, ColumnBlocks):
        dim = np.array([value.n_rows, value.n_cols], dtype=np.int32)
        return RObject(REALSXP, value, {"dim": RObject(INTSXP, dim)})
    if isinstance(value, pd.DataFrame):
        return _frame_to_robject(value)
    if isinstance(value, RMatrix):
        return _matrix_to_robject(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return _matrix_to_robject(value)
    raise RDataError(
        f"object {name!r}: cannot write {type(value).__name__} (expected a pandas DataFrame, a 2-D "
        "numpy array, an RMatrix, ColumnBlocks or an RObject)"
    )


@contextlib.contextmanager
def _reproducible_gzip(path: Path) -> Iterator[Any]:
    """A gzip stream without the time stamp and file name that would make reruns differ."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as stream,
    ):
        yield stream


def write_rdata(
    path: str | os.PathLike[str],
    objects: Mapping[str, Any],
    *,
    version: int = 3,
    compress: str | None = "gzip",
) -> None:
    """Write ``objects`` to an RData file as R's ``save()`` would (XDR, version 3 or 2).

    Values may be pandas DataFrames (→ data.frame; Int32/int → integer, boolean/bool → logical,
    float64 → double with NaN written as NA, str → character, Categorical → factor or ordered
    factor), 2-D numpy arrays or :class:`RMatrix` (→ double matrix with ``dim`` and optional
    ``dimnames``), :class:`ColumnBlocks` (→ double matrix, written as its blocks are made), or
    :class:`RObject` trees. ``compress`` is "gzip" (R's default), "bzip2", "xz" or
    None. The file is written atomically.
    """
    if version not in (2, 3):
        raise ValueError(f"version must be 2 or 3, not {version}")
    converted = {str(name): _to_robject(str(name), value) for name, value in objects.items()}
    openers: dict[str | None, Callable[[Path], Any]] = {
        "gzip": _reproducible_gzip,
        "bzip2": lambda p: bz2.open(p, "wb", compresslevel=9),
        "xz": lambda p: lzma.open(p, "wb", format=lzma.FORMAT_XZ),
        None: lambda p: open(p, "wb"),
    }
    if compress not in openers:
        raise ValueError(f"compress must be one of gzip, bzip2, xz or None, not {compress!r}")
    with atomic_output(path) as tmp, openers[compress](tmp) as fh:
        out = _Output(fh)
        out.bytes(b"RDX3\nX\n" if version == 3 else b"RDX2\nX\n")
        out.int(version)
        out.int(R_VERSION_WRITTEN)
        if version == 3:
            out.int((3 << 16) | (5 << 8))  # readable by R >= 3.5.0
            out.int(5)
            out.bytes(b"UTF-8")
        else:
            out.int((2 << 16) | (3 << 8))  # readable by R >= 2.3.0
        _write_pairlist(out, list(converted.items()), {}, LISTSXP, False)
        out.flush()

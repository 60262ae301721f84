"""Writing outputs so that an interrupted job never leaves a file that looks complete.

Also the one JSON writer (:func:`write_json`) and the one download helper
(:func:`download_once`), which write the same way.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from polface.errors import DISK_FULL, DiskFullError, InputError, disk_full_error

METADATA_KEY = b"polface"
"""Key of the JSON document with provenance in every parquet file the workflow writes."""


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks of ``chunk`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_output(path: str | Path, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds.

    The temporary name starts with a dot and keeps the file's suffix (some writers look at it), so
    a half-written file is never mistaken for a result; it is created exclusively with the usual
    permissions (0666 minus the umask). On any error it is removed and `path` is left untouched.
    Temporary files of `path` left by a writer that was killed (SIGKILL, node failure: no chance
    to clean up) are removed first, so a rerun does not leave them to fill the disk.

    A full disk (or quota, or file size limit) is a :class:`polface.errors.DiskFullError` naming
    `path`, the bytes needed (``size``, when the caller knows it) or written before the failure,
    and the space free there.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno in DISK_FULL:
            raise disk_full_error(target, error, size=size) from error
        raise
    name, suffix = re.escape(target.name), re.escape(target.suffix)
    stale = re.compile(rf"\.{name}\.[0-9a-f]{{12}}\.tmp{suffix}")
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp*"):
        if stale.fullmatch(leftover.name):
            leftover.unlink(missing_ok=True)
    tmp = None
    try:
        while True:
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp{target.suffix}")
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                break
            except FileExistsError:
                continue
        yield tmp
        os.replace(tmp, target)
    except OSError as error:
        if error.errno not in DISK_FULL or isinstance(error, DiskFullError):
            raise
        written = tmp.stat().st_size if tmp is not None and tmp.exists() else None
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise disk_full_error(target, error, size=size, written=written) from error
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path` atomically; return the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_output(path, size=len(payload)) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def write_parquet(
    table: pa.Table, path: str | Path, metadata: Mapping[str, Any] | None = None
) -> None:
    """Write a parquet file atomically, with `metadata` as JSON under the key ``polface``."""
    if metadata is not None:
        merged = dict(table.schema.metadata or {})
        merged[METADATA_KEY] = json.dumps(dict(metadata), sort_keys=True).encode()
        table = table.replace_schema_metadata(merged)
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def write_parquet_blocks(
    tables: Iterable[pa.Table],
    path: str | Path,
    schema: pa.Schema,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write `tables` as consecutive row groups of one parquet file, atomically, as they come.

    The whole table is never in memory; `metadata` goes in as with :func:`write_parquet`.
    """
    if metadata is not None:
        merged = dict(schema.metadata or {})
        merged[METADATA_KEY] = json.dumps(dict(metadata), sort_keys=True).encode()
        schema = schema.with_metadata(merged)
    with atomic_output(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for table in tables:
            writer.write_table(table.cast(schema), row_group_size=max(1, table.num_rows))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``polface`` JSON metadata of a parquet file written by :func:`write_parquet`."""
    schema = pq.read_schema(path)
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise KeyError(f"{path}: no polface metadata in this parquet file")
    return json.loads(raw)


def read_features(path: str | Path, id_column: str | None = None) -> tuple[list[str], Any]:
    """Read a features/embeddings parquet: (row ids, matrix of shape (rows, dimension)).

    The file has one id column and one ``fixed_size_list<float32|float64>[D]`` column; the matrix
    keeps the stored type (the descriptors of an RData file are float64 unless converted with
    ``convert.precision: float32``; embeddings are float32) and is made without a per-row loop.
    """
    import numpy as np

    table = pq.read_table(path)
    list_columns = [f.name for f in table.schema if pa.types.is_fixed_size_list(f.type)]
    if len(list_columns) != 1:
        raise InputError(f"{path}: expected one fixed-size list column, found {list_columns}")
    values = list_columns[0]
    ids = id_column or next(name for name in table.column_names if name != values)
    column = table.column(values).combine_chunks()
    width = column.type.list_size
    if column.null_count:
        raise InputError(f"{path}: column {values!r} has {column.null_count} missing rows")
    matrix = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), width)
    if matrix.dtype not in (np.float32, np.float64):
        raise InputError(f"{path}: column {values!r} holds {matrix.dtype}, not float32 or float64")
    return table.column(ids).to_pylist(), np.ascontiguousarray(matrix)


class FeatureRows:
    """The rows of a features/embeddings parquet, read on demand a row group at a time.

    Opening reads only the id column and the file's footer. :meth:`take` reads the row groups that
    hold the requested rows and keeps just those rows, so a fit holds the rows it fits, never the
    whole cohort; :meth:`blocks` hands rows over a block at a time (for predictions). The layout
    is :func:`read_features`'s: one id column and one ``fixed_size_list<float32|float64>[D]``.
    """

    def __init__(self, path: str | Path, id_column: str | None = None) -> None:
        import numpy as np

        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        schema = self._file.schema_arrow
        lists = [f for f in schema if pa.types.is_fixed_size_list(f.type)]
        if len(lists) != 1:
            names = [f.name for f in lists]
            raise InputError(f"{path}: expected one fixed-size list column, found {names}")
        self.values_column = lists[0].name
        self.width = int(lists[0].type.list_size)
        value_type = lists[0].type.value_type
        if value_type not in (pa.float32(), pa.float64()):
            raise InputError(
                f"{path}: column {self.values_column!r} holds {value_type}, not float32 or float64"
            )
        self.dtype = np.dtype(value_type.to_pandas_dtype())
        self.id_column = id_column or next(f.name for f in schema if f.name != self.values_column)
        self.ids: list[str] = self._file.read(columns=[self.id_column]).column(0).to_pylist()
        meta = self._file.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ids), self.width

    def take(self, rows: Any, dtype: Any = None, order: str = "C") -> Any:
        """Rows ``rows`` (0-based, increasing) as a ``(len(rows), D)`` array in ``order``.

        ``dtype`` converts as it reads (default: the stored type); ``order`` is "C" or "F"
        (Fortran, what the LASSO standardises in place); memory is the result plus one row group.
        """
        import numpy as np
        import pyarrow as pa

        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= len(self)):
            raise ValueError(f"{self.path}: rows must be increasing and within 0..{len(self) - 1}")
        out = np.empty((rows.size, self.width), dtype=dtype or self.dtype, order=order)
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        for group in np.unique(groups):
            mine = np.flatnonzero(groups == group)
            column = self._file.read_row_group(int(group), columns=[self.values_column]).column(0)
            column = column.combine_chunks()
            if column.null_count:
                raise InputError(
                    f"{self.path}: column {self.values_column!r} has missing rows in row group "
                    f"{group}"
                )
            flat = column.flatten().to_numpy(zero_copy_only=False)
            matrix = flat.reshape(len(column), self.width)
            out[mine] = matrix[rows[mine] - self._starts[group]]
            # pyarrow's allocator keeps freed row groups for a while (tens of MiB, more or less
            # by timing); hand each back, so that the read holds the result and one row group
            column = flat = matrix = None
            pa.default_memory_pool().release_unused()
        return out

    def blocks(self, rows: Any, block_rows: int, dtype: Any = None) -> Iterator[tuple[Any, Any]]:
        """``(positions, matrix)`` for consecutive blocks of at most ``block_rows`` of ``rows``:
        ``positions`` index into ``rows``, ``matrix`` holds those rows (as :meth:`take`)."""
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64)
        for start in range(0, rows.size, block_rows):
            positions = np.arange(start, min(rows.size, start + block_rows))
            yield positions, self.take(rows[positions], dtype)


def safetensors_bytes(
    tensors: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> bytes:
    """Serialise torch tensors or numpy arrays to safetensors bytes that are identical on every run.

    safetensors keeps its metadata in a hash map, so several keys come out in a different order in
    each process; the metadata therefore goes in as one JSON string under the key ``polface``.
    The file does not record which of the two it was given: numpy arrays of the same dtype,
    shape and values give the same bytes, without importing torch (about 1 CPU-second).
    """
    meta = {"polface": json.dumps(dict(metadata or {}), sort_keys=True)}
    if all(isinstance(v, np.ndarray) for v in tensors.values()):
        from safetensors.numpy import save as save_arrays

        return save_arrays({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=meta)


def download_once(url: str, dest: str | Path, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` unless it is already there (with the right hash).

    Streams to a temporary name beside ``dest``, checks the SHA-256 when given, then renames;
    a wrong hash raises ``ValueError`` and leaves nothing at ``dest``. Never called by tests
    with a remote URL.
    """
    target = Path(dest)
    if target.is_file() and (sha256 is None or file_sha256(target) == sha256.lower()):
        return target
    digest = hashlib.sha256()
    with atomic_output(target) as tmp:
        with urllib.request.urlopen(url) as response, open(tmp, "wb") as fh:
            while block := response.read(1 << 20):
                digest.update(block)
                fh.write(block)
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise InputError(
                f"{url}: SHA-256 {digest.hexdigest()} does not match the expected {sha256}"
            )
    return target


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: str | Path, document: Any, *, indent: int = 2, sort_keys: bool = True) -> Path:
    """Strict JSON (NaN and infinities as null, numpy scalars as Python's), atomically.

    Every JSON output of the workflow is written here: the model summaries sorted with indent 2
    (the defaults), the Facial Finetuning summaries in their written order with indent 1.
    """
    text = json.dumps(_plain(document), indent=indent, sort_keys=sort_keys, allow_nan=False)
    return write_atomic(path, text + "\n")

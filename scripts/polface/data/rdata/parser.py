"""Read and write R's serialization format: the RData files that R's ``save()`` writes.

The reader understands the XDR binary format ("X\\n"), versions 2 and 3, in RDX2/RDX3 files that are
gzip-, bzip2- or xz-compressed or not compressed at all (detected by magic bytes). It reads the
stream incrementally through a small buffer over the decompressing file object, so the whole file is
never in memory. Three ways to use it:

* :func:`read_rdata` materialises objects as :class:`RObject` trees (small files, tests,
  inspection).
* :func:`open_numeric`, :func:`iter_row_blocks`, :func:`iter_matrix_columns` and
  :func:`numeric_rdata_to_parquet` stream a numeric matrix or a data.frame of numeric columns to a
  temporary spool file on disk (column-major, in the target dtype) and hand it back in row blocks
  read with positional reads, so peak memory does not grow with the number of rows.
* :func:`read_data_frame` reads a data.frame faithfully: pyreadr for the values and a light pass of
  this parser for each column's R type, class, factor levels and ``ordered`` flag.

:func:`write_rdata` writes data frames and numeric matrices in the same format (XDR, version 3 or
2).

Format facts used here (R's ``serialize.c``): every item starts with a 32-bit flags word (type in
the low byte, then the is-object, has-attributes and has-tag bits, and the "levels" in the upper 20
bits); a vector's attributes follow its data; a length above 2^31 - 1 is written as -1 followed by
the upper and lower 32-bit halves; symbols, environments and a few others enter a reference table
that later items point back to with REFSXP.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import lzma
import math
import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from polface.io import METADATA_KEY, atomic_output, file_sha256

__all__ = [
    "NA_INTEGER",
    "NA_REAL",
    "NULL",
    "NumericObject",
    "OmittedData",
    "RColumn",
    "RDataError",
    "RMatrix",
    "RObject",
    "SpooledData",
    "inspect_data_frame",
    "iter_matrix_columns",
    "iter_row_blocks",
    "list_objects",
    "numeric_rdata_to_parquet",
    "open_numeric",
    "read_data_frame",
    "read_rdata",
    "write_rdata",
]

# --- SEXP types (Rinternals.h) and serialization pseudo-types (serialize.c) -----------------------
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP = 7, 8, 9, 10, 13, 14, 15
STRSXP, DOTSXP, VECSXP, EXPRSXP, BCODESXP, EXTPTRSXP = 16, 17, 19, 20, 21, 22
WEAKREFSXP, RAWSXP, S4SXP = 23, 24, 25
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP = 255, 254, 253, 252, 251
BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP, PERSISTSXP = 250, 249, 248, 247
CLASSREFSXP, GENERICREFSXP, BCREPDEF, BCREPREF = 246, 245, 244, 243
EMPTYENV_SXP, BASEENV_SXP, ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 242, 241, 240, 239, 238

IS_OBJECT_BIT, HAS_ATTR_BIT, HAS_TAG_BIT = 1 << 8, 1 << 9, 1 << 10
# CHARSXP encoding bits in the "levels" field
_BYTES_MASK, _LATIN1_MASK, _UTF8_MASK, _ASCII_MASK = 1 << 1, 1 << 2, 1 << 3, 1 << 6

NA_INTEGER = -(2**31)
#: R's NA_real_: a NaN whose low word is 1954.
NA_REAL = np.array([0x7FF00000000007A2], dtype=np.uint64).view(np.float64)[0]

TYPE_NAMES = {
    NILSXP: "NULL", SYMSXP: "symbol", LISTSXP: "pairlist", CLOSXP: "closure",
    ENVSXP: "environment", PROMSXP: "promise", LANGSXP: "language", SPECIALSXP: "special",
    BUILTINSXP: "builtin", CHARSXP: "char", LGLSXP: "logical", INTSXP: "integer",
    REALSXP: "double", CPLXSXP: "complex", STRSXP: "character", DOTSXP: "...", VECSXP: "list",
    EXPRSXP: "expression", BCODESXP: "bytecode", EXTPTRSXP: "externalptr",
    WEAKREFSXP: "weakref", RAWSXP: "raw", S4SXP: "S4", GLOBALENV_SXP: "environment",
    EMPTYENV_SXP: "environment", BASEENV_SXP: "environment", BASENAMESPACE_SXP: "environment",
    NAMESPACESXP: "environment", PACKAGESXP: "environment",
}  # fmt: skip

_ATOMIC_DTYPES = {LGLSXP: ">i4", INTSXP: ">i4", REALSXP: ">f8", CPLXSXP: ">c16", RAWSXP: "u1"}
_NATIVE_DTYPES = {LGLSXP: "=i4", INTSXP: "=i4", REALSXP: "=f8", CPLXSXP: "=c16", RAWSXP: "u1"}
_PAIRLIST_TYPES = (LISTSXP, LANGSXP, DOTSXP)
_SPECIAL_MARKERS = (
    GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP, EMPTYENV_SXP, BASEENV_SXP,
)  # fmt: skip

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_TWO_INTS = struct.Struct(">ii")
_BUFFER = 1 << 16  # bytes read from the decompressor at a time for small items
_CHUNK_BYTES = 1 << 23  # bytes per chunk when copying or skipping vector data (8 MiB)
_BLOCK_BYTES = 1 << 26  # default size of one row block handed out by the spool (64 MiB)
R_VERSION_WRITTEN = (4 << 16) | (2 << 8) | 2  # the writer claims R 4.2.2 wrote the file


class RDataError(ValueError):
    """An RData file that cannot be read (or an object that cannot be written) as asked."""


@dataclass(eq=False)  # compared by identity: values may be numpy arrays
class RObject:
    """One R object as read from (or to be written to) a serialization stream.

    ``value`` depends on ``sexptype``: a numpy array for logical, integer, double, complex and raw
    vectors (a 2-D array is written column-major); a list of ``str | None`` for character vectors
    (``None`` is NA); a list of :class:`RObject` for lists and expressions; a list of
    ``(tag, RObject)`` pairs for pairlists and calls; a ``str`` for symbols; ``None`` for NULL.
    Objects read in a light pass hold an :class:`OmittedData` instead of their data.
    """

    sexptype: int
    value: Any = None
    attributes: dict[str, RObject] = field(default_factory=dict)
    is_object: bool = False

    @property
    def typeof(self) -> str:
        """R's ``typeof()`` of the object."""
        return TYPE_NAMES.get(self.sexptype, f"sexptype {self.sexptype}")

    def attr(self, name: str) -> RObject | None:
        """The attribute ``name`` or None."""
        return self.attributes.get(name)

    @property
    def r_class(self) -> tuple[str, ...]:
        """The explicit ``class`` attribute (empty when there is none)."""
        cls = self.attributes.get("class")
        if cls is None or cls.sexptype != STRSXP or not isinstance(cls.value, list):
            return ()
        return tuple(str(c) for c in cls.value)

    def __len__(self) -> int:
        """The number of elements (R's ``length()`` for vectors and pairlists)."""
        if isinstance(self.value, OmittedData | SpooledData):
            return self.value.length
        if isinstance(self.value, np.ndarray):
            return int(self.value.size)
        if isinstance(self.value, list):
            return len(self.value)
        return 0 if self.value is None else 1


NULL = RObject(NILSXP)


@dataclass(frozen=True)
class OmittedData:
    """Stands for vector data that a light pass skipped; only its length is kept."""

    length: int


@dataclass(frozen=True)
class SpooledData:
    """Stands for vector data copied to the spool file: element offset and length there."""

    offset: int
    length: int


@dataclass(frozen=True)
class RColumn:
    """The R type of one data.frame column, as recorded by :func:`inspect_data_frame`."""

    name: str
    typeof: str
    r_class: tuple[str, ...]
    levels: tuple[str, ...] | None
    ordered: bool
    length: int


@dataclass
class RMatrix:
    """A numeric matrix to write with :func:`write_rdata`, with optional dimnames."""

    values: np.ndarray
    row_names: Sequence[str] | None = None
    col_names: Sequence[str] | None = None


# --- reading: the byte stream ---------------------------------------------------------------------


def _open_decompressed(path: Path) -> BinaryIO:
    """Open ``path`` for reading through the decompressor its magic bytes call for."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise RDataError(f"{path}: cannot open RData file ({exc})") from exc
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if magic[:6] == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")  # type: ignore[return-value]
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise RDataError(
            f"{path}: zstd-compressed RData is not supported; re-save it in R with "
            'save(..., compress = "gzip") (or "bzip2", "xz")'
        )
    return open(path, "rb")


class _Input:
    """A buffered reader of big-endian (XDR) items over a decompressing file object."""

    def __init__(self, raw: BinaryIO, path: Path) -> None:
        self._raw = raw
        self.path = path
        self._buf = b""
        self._pos = 0
        self._base = 0  # stream offset of self._buf[0]

    @property
    def offset(self) -> int:
        """Bytes of the decompressed stream consumed so far."""
        return self._base + self._pos

    def error(self, message: str) -> RDataError:
        """An error naming the file and the current offset in the decompressed stream."""
        return RDataError(
            f"{self.path}: {message} (at byte {self.offset} of the decompressed data)"
        )

    def _read_raw(self, n: int) -> bytes:
        """Up to ``n`` bytes from the decompressor; decompression errors name the file."""
        try:
            return self._raw.read(n)
        except (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise self.error(f"corrupt or truncated compressed data ({exc})") from exc

    def _more(self, n: int) -> None:
        """Make at least ``n`` bytes available at the read position."""
        rest = self._buf[self._pos :]
        parts, have = [rest], len(rest)
        self._base += self._pos
        while have < n:
            chunk = self._read_raw(max(n - have, _BUFFER))
            if not chunk:
                self._buf, self._pos = rest, 0
                raise self.error(f"file is truncated: needed {n} more bytes, found {have}")
            parts.append(chunk)
            have += len(chunk)
        self._buf, self._pos = b"".join(parts), 0

    def int(self) -> int:
        """One signed 32-bit integer."""
        if len(self._buf) - self._pos < 4:
            self._more(4)
        value = _INT.unpack_from(self._buf, self._pos)[0]
        self._pos += 4
        return value

    def uint(self) -> int:
        """One unsigned 32-bit integer."""
        if len(self._buf) - self._pos < 4:
            self._more(4)
        value = _UINT.unpack_from(self._buf, self._pos)[0]
        self._pos += 4
        return value

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes."""
        if len(self._buf) - self._pos < n:
            if n <= _BUFFER:
                self._more(n)
            else:
                return self._read_large(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def _read_large(self, n: int) -> bytes:
        """Exactly ``n`` bytes, past the buffer, read from the decompressor in chunks."""
        head = self._buf[self._pos :]
        self._base += len(self._buf)
        self._buf, self._pos = b"", 0
        parts, have = [head], len(head)
        while have < n:
            chunk = self._read_raw(min(n - have, _CHUNK_BYTES))
            if not chunk:
                self._base -= len(head)  # report the offset where the item began
                raise self.error(f"file is truncated: needed {n} bytes, found {have}")
            parts.append(chunk)
            have += len(chunk)
        self._base += n - len(head)
        return b"".join(parts)

    def charsxps(
        self, n: int, decode: Callable[[bytes, int], str] | None
    ) -> list[str | None] | None:
        """``n`` CHARSXP items (a character vector's elements): decoded, or skipped when no decoder.

        One tight loop over the buffer: the flags and length words are read together.
        """
        out: list[str | None] | None = [] if decode is not None else None
        unpack = _TWO_INTS.unpack_from
        buf, pos = self._buf, self._pos
        for _ in range(n):
            if len(buf) - pos < 8:
                self._pos = pos
                self._more(8)
                buf, pos = self._buf, self._pos
            flags, length = unpack(buf, pos)
            if flags & 0xFF != CHARSXP:
                self._pos = pos
                raise self.error(f"expected a string (CHARSXP), found type {flags & 0xFF}")
            pos += 8
            if length <= 0:
                if length < -1:
                    self._pos = pos - 4
                    raise self.error(f"negative string length {length}")
                if out is not None:
                    out.append(None if length == -1 else "")
                continue
            if len(buf) - pos < length:
                self._pos = pos
                raw = self.read(length)
                buf, pos = self._buf, self._pos
            else:
                raw = buf[pos : pos + length] if out is not None else b""
                pos += length
            if out is not None and decode is not None:
                out.append(decode(raw, flags >> 12))
        self._pos = pos
        return out

    def skip(self, n: int) -> None:
        """Consume and discard ``n`` bytes, a chunk at a time."""
        while n > 0:
            k = min(n, _CHUNK_BYTES)
            self.read(k)
            n -= k

    def array(self, dtype: str, count: int) -> np.ndarray:
        """``count`` items of the big-endian numpy ``dtype`` (read-only view of fresh bytes)."""
        width = np.dtype(dtype).itemsize
        return np.frombuffer(self.read(count * width), dtype=dtype, count=count)

    def at_eof(self) -> bool:
        """Whether the stream has nothing left."""
        if len(self._buf) > self._pos:
            return False
        chunk = self._read_raw(1)
        if chunk:
            self._base += len(self._buf)
            self._buf, self._pos = chunk, 0
            return False
        return True


@dataclass
class _Header:
    """The serialization header: format version, writer's and minimum reader's R versions."""

    version: int
    writer_version: int
    min_reader_version: int
    encoding: str


def _read_header(inp: _Input) -> _Header:
    """Check the RDX2/RDX3 + XDR header and read the serialization header after it."""
    path = inp.path
    try:
        magic = inp.read(5)
    except RDataError:
        raise RDataError(f"{path}: not an RData file (too short for the RDX header)") from None
    if magic in (b"RDA2\n", b"RDA3\n", b"RDA1\n"):
        raise RDataError(
            f"{path}: ASCII RData format ({magic[:4].decode()}) is not supported; "
            "re-save it in R with save(..., ascii = FALSE)"
        )
    if magic in (b"RDB2\n", b"RDB3\n", b"RDB1\n"):
        raise RDataError(
            f"{path}: native binary RData format ({magic[:4].decode()}) is not supported"
        )
    if magic[:2] in (b"X\n", b"A\n", b"B\n"):
        raise RDataError(
            f"{path}: this is a single serialized object (saveRDS / serialize), not an RData file "
            "written by save()"
        )
    if magic not in (b"RDX2\n", b"RDX3\n"):
        raise RDataError(f"{path}: not an RData file (header {magic!r}, expected RDX2 or RDX3)")
    fmt = inp.read(2)
    if fmt != b"X\n":
        kind = {b"A\n": "ASCII", b"B\n": "native binary"}.get(fmt, repr(fmt))
        raise RDataError(f"{path}: serialization format {kind} is not supported (only XDR, 'X')")
    version = inp.int()
    if version not in (2, 3):
        raise RDataError(f"{path}: serialization version {version} is not supported (only 2 and 3)")
    writer, minimum = inp.int(), inp.int()
    encoding = "UTF-8"
    if version == 3:
        length = inp.int()
        if not 0 <= length <= 64:
            raise inp.error(f"implausible native encoding name length {length}")
        encoding = inp.read(length).decode("ascii", errors="replace")
    return _Header(version, writer, minimum, encoding)


# --- reading: the SEXP grammar --------------------------------------------------------------------


class _Spool:
    """An anonymous temporary file that receives numeric vector data column by column in one dtype.

    Needs POSIX semantics (an open file outlives its name) and ``os.preadv`` (Linux, macOS).
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None, dtype: str, progress: bool
    ) -> None:
        self.dtype = np.dtype(dtype).newbyteorder("=")
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"spool dtype must be float32 or float64, not {dtype!r}")
        fd, name = tempfile.mkstemp(prefix="polface-rdata-", suffix=".spool", dir=directory)
        self.fd: int | None = fd
        self.path = Path(name)
        # Unlinked at once: only the descriptor is used, so the space is freed when it is closed,
        # even if the process is killed.
        self.path.unlink()
        self.length = 0  # elements written
        self.progress = progress

    def _write(self, values: np.ndarray) -> None:
        """Append values (converted to the spool dtype) at the end of the spool file."""
        view = memoryview(np.ascontiguousarray(values, dtype=self.dtype)).cast("B")
        while len(view):
            written = os.write(self._fd(), view)
            view = view[written:]

    def _fd(self) -> int:
        """The open file descriptor."""
        if self.fd is None:
            raise RuntimeError("the spool is closed")
        return self.fd

    def _convert(self, raw: np.ndarray, sexptype: int) -> np.ndarray:
        """Vector data → spool dtype; integer and logical NA become NaN."""
        if sexptype == REALSXP:
            with np.errstate(invalid="ignore"):  # R's NA (a NaN payload) warns when narrowed
                return raw.astype(self.dtype)
        values = raw.astype(self.dtype)
        values[raw == NA_INTEGER] = np.nan
        return values

    def copy_from(self, inp: _Input, sexptype: int, length: int) -> SpooledData:
        """Copy ``length`` elements of an integer, logical or double vector from the stream."""
        start = self.length
        source = _ATOMIC_DTYPES[sexptype]
        per_chunk = max(1, _CHUNK_BYTES // np.dtype(source).itemsize)
        bar = _progress_bar(self.progress, length, f"spool {TYPE_NAMES[sexptype]}", "val")
        try:
            remaining = length
            while remaining:
                k = min(remaining, per_chunk)
                self._write(self._convert(inp.array(source, k), sexptype))
                remaining -= k
                bar.update(k)
        finally:
            bar.close()
        self.length += length
        return SpooledData(start, length)

    def append(self, values: np.ndarray, sexptype: int) -> SpooledData:
        """Append an already decoded (native byte order) vector."""
        start = self.length
        self._write(self._convert(values, sexptype))
        self.length += int(values.size)
        return SpooledData(start, int(values.size))

    def read(self, offset: int, count: int) -> np.ndarray:
        """``count`` elements starting at element ``offset``, by positional reads (no mmap)."""
        width = self.dtype.itemsize
        out = np.empty(count, dtype=self.dtype)
        view = memoryview(out).cast("B")
        done, total, position = 0, count * width, offset * width
        while done < total:
            n = os.preadv(self._fd(), [view[done:]], position + done)
            if n <= 0:
                raise RDataError(f"{self.path}: spool file ended early")
            done += n
        return out

    def close(self) -> None:
        """Close the spool, which frees its disk space (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _progress_bar(
    enabled: bool, total: int | None, desc: str, unit: str, leave: bool = False
) -> Any:
    """A tqdm bar on stderr (disabled when progress is off)."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, file=sys.stderr,
        leave=leave,
    )  # fmt: skip


class _Parser:
    """Reads items of R's serialization grammar from an :class:`_Input`.

    ``mode`` decides what happens to vector data outside attributes: ``"full"`` keeps it, ``"skim"``
    skips it (keeping lengths), ``"spool"`` copies integer/logical/double data to the spool and
    skips the rest. Attributes, symbols, ALTREP descriptions and pairlist tags are always kept
    (``_force``).
    """

    def __init__(self, inp: _Input, header: _Header, spool: _Spool | None = None) -> None:
        self.inp = inp
        self.refs: list[RObject] = []
        self.mode = "full"
        self.spool = spool
        self._force = 0
        enc = header.encoding.lower()
        self.native_encoding = "latin-1" if enc in ("latin1", "iso-8859-1") else "utf-8"

    # entry points
    def item(self) -> RObject:
        """Read one item."""
        return self._item(self.inp.int())

    def forced_item(self) -> RObject:
        """Read one item keeping all of its data whatever the mode."""
        self._force += 1
        try:
            return self.item()
        finally:
            self._force -= 1

    def _keep(self) -> bool:
        """Whether vector data read now must be kept in memory."""
        return self._force > 0 or self.mode == "full"

    def _item(self, flags: int) -> RObject:
        """Dispatch on the type in ``flags`` and read the rest of the item."""
        t = flags & 0xFF
        if t == NILVALUE_SXP:
            return NULL
        if t == REFSXP:
            index = flags >> 8 or self.inp.int()
            if not 1 <= index <= len(self.refs):
                raise self.inp.error(f"reference {index} outside the table of {len(self.refs)}")
            return self.refs[index - 1]
        if t in _SPECIAL_MARKERS:
            return RObject(t)
        if t == SYMSXP:
            name = self._charsxp(self.inp.int(), keep=True)
            symbol = RObject(SYMSXP, name if name is not None else "NA")
            self.refs.append(symbol)
            return symbol
        if t in (PERSISTSXP, PACKAGESXP, NAMESPACESXP):
            obj = RObject(t, self._string_vec())
            self.refs.append(obj)
            return obj
        if t == ENVSXP:
            return self._environment()
        if t in _PAIRLIST_TYPES or t in (CLOSXP, PROMSXP):
            return self._pairlist(flags)
        if t == ALTREP_SXP:
            return self._altrep(flags)
        if t == CHARSXP:
            return RObject(CHARSXP, self._charsxp(flags, keep=True))
        return self._vector(flags)

    def _length(self) -> int:
        """A vector length: one int, or -1 then the upper and lower unsigned 32-bit halves."""
        n = self.inp.int()
        if n >= 0:
            return n
        if n != -1:
            raise self.inp.error(f"negative serialized vector length {n}")
        upper, lower = self.inp.uint(), self.inp.uint()
        if upper > 65536:  # R's own sanity limit (2^48 elements)
            raise self.inp.error(f"invalid upper part {upper} of a long vector length")
        return (upper << 32) + lower

    def _decode(self, raw: bytes, levels: int) -> str:
        """Decode a CHARSXP's bytes by its encoding bits (UTF-8, ASCII, latin-1, native)."""
        if levels & (_UTF8_MASK | _ASCII_MASK):
            encoding = "utf-8"
        elif levels & (_LATIN1_MASK | _BYTES_MASK):
            encoding = "latin-1"
        else:
            encoding = self.native_encoding
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def _charsxp(self, flags: int, keep: bool) -> str | None:
        """One CHARSXP after its flags: str, or None for NA (or when not kept)."""
        if flags & 0xFF != CHARSXP:
            raise self.inp.error(f"expected a string (CHARSXP), found type {flags & 0xFF}")
        n = self.inp.int()
        if n == -1:
            return None
        if n < 0:
            raise self.inp.error(f"negative string length {n}")
        raw = self.inp.read(n)
        return self._decode(raw, flags >> 12) if keep else None

    def _strings(self, n: int, keep: bool) -> list[str | None]:
        """The elements of a character vector (an empty list when not kept)."""
        return self.inp.charsxps(n, self._decode if keep else None) or []

    def _string_vec(self) -> list[str | None]:
        """The string vector of PERSISTSXP / PACKAGESXP / NAMESPACESXP items."""
        if self.inp.int() != 0:
            raise self.inp.error("names in persistent strings are not supported")
        n = self.inp.int()
        return [self.forced_item().value for _ in range(n)]

    def _attributes(self) -> dict[str, RObject]:
        """An attributes pairlist, read in full, as {name: value}."""
        return _pairlist_to_dict(self.forced_item())

    def _tag(self) -> Any:
        """A pairlist tag: the symbol's name, or the object itself when it is not a symbol."""
        tag = self.forced_item()
        return tag.value if tag.sexptype == SYMSXP else tag

    def _environment(self) -> RObject:
        """ENVSXP: locked flag, enclosure, frame, hash table, attributes."""
        locked = self.inp.int()
        env = RObject(ENVSXP)
        self.refs.append(env)  # before the contents: they may refer back to it
        enclos, frame, hashtab = self.item(), self.item(), self.item()
        env.attributes = _pairlist_to_dict(self.forced_item())
        env.value = {"locked": bool(locked), "enclos": enclos, "frame": frame, "hashtab": hashtab}
        return env

    def _pairlist(self, flags: int) -> RObject:
        """LISTSXP/LANGSXP/DOTSXP chains (iteratively), and CLOSXP/PROMSXP single nodes."""
        t = flags & 0xFF
        if t in (CLOSXP, PROMSXP):  # one node: attributes, environment (tag), CAR, CDR
            obj = RObject(t, is_object=bool(flags & IS_OBJECT_BIT))
            if flags & HAS_ATTR_BIT:
                obj.attributes = self._attributes()
            env = self.item() if flags & HAS_TAG_BIT else NULL
            car, cdr = self.item(), self.item()
            obj.value = {"environment": env, "car": car, "cdr": cdr}
            return obj
        items: list[tuple[Any, RObject]] = []
        obj = RObject(t, items, is_object=bool(flags & IS_OBJECT_BIT))
        first = True
        while True:
            attrs = self._attributes() if flags & HAS_ATTR_BIT else {}
            if first:
                obj.attributes = attrs
                first = False
            tag = self._tag() if flags & HAS_TAG_BIT else None
            items.append((tag, self.item()))
            flags = self.inp.int()
            nt = flags & 0xFF
            if nt == NILVALUE_SXP:
                return obj
            if nt not in _PAIRLIST_TYPES:  # a dotted pair: the CDR is not a pairlist
                items.append((".tail", self._item(flags)))
                return obj

    def _emit_atomic(self, sexptype: int, values: np.ndarray) -> Any:
        """What to store for decoded vector data, given the mode."""
        if self._keep():
            return values
        if self.mode == "spool" and sexptype in (LGLSXP, INTSXP, REALSXP) and self.spool:
            return self.spool.append(values, sexptype)
        return OmittedData(int(values.size))

    def _vector(self, flags: int) -> RObject:
        """Vector-like items, whose attributes (if flagged) follow the data."""
        t = flags & 0xFF
        obj = RObject(t, is_object=bool(flags & IS_OBJECT_BIT))
        if t in _ATOMIC_DTYPES:
            n = self._length()
            if self._keep():
                obj.value = self.inp.array(_ATOMIC_DTYPES[t], n).astype(_NATIVE_DTYPES[t])
            elif self.mode == "spool" and t in (LGLSXP, INTSXP, REALSXP) and self.spool:
                obj.value = self.spool.copy_from(self.inp, t, n)
            else:
                self.inp.skip(n * np.dtype(_ATOMIC_DTYPES[t]).itemsize)
                obj.value = OmittedData(n)
        elif t == STRSXP:
            n = self._length()
            keep = self._keep()
            strings = self._strings(n, keep)
            obj.value = strings if keep else OmittedData(n)
        elif t in (VECSXP, EXPRSXP):
            n = self._length()
            obj.value = [self.item() for _ in range(n)]
        elif t == S4SXP:
            obj.value = None
        elif t == EXTPTRSXP:
            self.refs.append(obj)
            obj.value = {"prot": self.item(), "tag": self.item()}
        elif t == WEAKREFSXP:
            self.refs.append(obj)
        elif t in (SPECIALSXP, BUILTINSXP):
            obj.value = self.inp.read(self.inp.int()).decode("latin-1")
        elif t == BCODESXP:
            reps: list[Any] = [None] * self.inp.int()
            obj.value = self._bytecode(reps)
        else:
            raise self.inp.error(f"unsupported or corrupt item type {t} (flags {flags:#x})")
        if flags & HAS_ATTR_BIT:
            obj.attributes = self._attributes()
        return obj

    # byte code (compiled closures): ReadBC / ReadBCConsts / ReadBCLang in serialize.c
    def _bytecode(self, reps: list[Any]) -> dict[str, Any]:
        """BCODESXP (compiled code): the code vector and its constants pool."""
        code = self.forced_item()
        consts = []
        for _ in range(self.inp.int()):
            t = self.inp.int()
            if t == BCODESXP:
                consts.append(RObject(BCODESXP, self._bytecode(reps)))
            elif t in (LANGSXP, LISTSXP, BCREPDEF, BCREPREF, ATTRLANGSXP, ATTRLISTSXP):
                consts.append(self._bc_lang(t, reps))
            else:
                consts.append(self.item())
        return {"code": code, "consts": consts}

    def _bc_lang(self, t: int, reps: list[Any]) -> Any:
        """A call or pairlist inside byte code constants, with BCREPDEF/BCREPREF sharing."""
        if t == BCREPREF:
            return reps[self.inp.int()]
        if t not in (BCREPDEF, LANGSXP, LISTSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.item()
        position = -1
        if t == BCREPDEF:
            position, t = self.inp.int(), self.inp.int()
        has_attr = t in (ATTRLANGSXP, ATTRLISTSXP)
        t = {ATTRLANGSXP: LANGSXP, ATTRLISTSXP: LISTSXP}.get(t, t)
        node = RObject(t)
        if position >= 0:
            reps[position] = node
        if has_attr:
            node.attributes = self._attributes()
        tag = self.item()
        car = self._bc_lang(self.inp.int(), reps)
        cdr = self._bc_lang(self.inp.int(), reps)
        node.value = {"tag": tag, "car": car, "cdr": cdr}
        return node

    # ALTREP: class description (info), state, attributes
    def _altrep(self, flags: int) -> RObject:
        """ALTREP_SXP: class info, state and attributes; known classes are expanded."""
        info = self.forced_item()
        if info.sexptype != LISTSXP or not info.value or info.value[0][1].sexptype != SYMSXP:
            raise self.inp.error("malformed ALTREP class description")
        cls = info.value[0][1].value
        if cls.startswith("wrap_"):
            obj = self._wrapper_state()
        else:
            obj = self._expand_altrep(cls, self.forced_item())
        attributes = _pairlist_to_dict(self.forced_item())
        if attributes:
            obj.attributes = attributes
        obj.is_object = obj.is_object or bool(flags & IS_OBJECT_BIT)
        return obj

    def _wrapper_state(self) -> RObject:
        """ALTREP wrapper state: pairlist(wrapped vector, metadata); the vector is read as usual."""
        flags = self.inp.int()
        if flags & 0xFF != LISTSXP:
            raise self.inp.error("malformed ALTREP wrapper state")
        if flags & HAS_ATTR_BIT:
            self._attributes()
        if flags & HAS_TAG_BIT:
            self._tag()
        wrapped = self.item()
        self.forced_item()  # CDR: the metadata
        return RObject(wrapped.sexptype, wrapped.value, dict(wrapped.attributes), wrapped.is_object)

    def _expand_altrep(self, cls: str, state: RObject) -> RObject:
        """Compact integer/real sequences and deferred strings → ordinary vectors."""
        if cls in ("compact_intseq", "compact_realseq"):
            n, start, step = (float(v) for v in np.asarray(state.value)[:3])
            if cls == "compact_intseq":
                values = (int(start) + int(step) * np.arange(int(n), dtype=np.int64)).astype(
                    np.int32
                )
                return RObject(INTSXP, self._emit_atomic(INTSXP, values))
            values = start + step * np.arange(int(n), dtype=np.float64)
            return RObject(REALSXP, self._emit_atomic(REALSXP, values))
        if cls == "deferred_string":
            arg = state.value[0][1] if state.sexptype == LISTSXP else state
            strings = _numbers_as_strings(arg)
            return RObject(STRSXP, strings if self._keep() else OmittedData(len(strings)))
        raise self.inp.error(f"unsupported ALTREP class {cls!r}")


def _numbers_as_strings(arg: RObject) -> list[str | None]:
    """as.character() of an integer or double vector, as R's deferred strings expand them."""
    values = np.asarray(arg.value)
    if arg.sexptype == INTSXP:
        return [None if v == NA_INTEGER else str(v) for v in values.tolist()]
    na_bits = np.float64(NA_REAL).view(np.uint64) & 0xFFFFFFFF
    out: list[str | None] = []
    for v, bits in zip(values.tolist(), values.view(np.uint64).tolist(), strict=True):
        if math.isnan(v):
            out.append(None if bits & 0xFFFFFFFF == na_bits else "NaN")
        elif math.isinf(v):
            out.append("Inf" if v > 0 else "-Inf")
        else:
            out.append(_format_double(v))
    return out


def _format_double(v: float) -> str:
    """R's formatting of one finite double with 15 significant digits (fixed unless wider)."""
    target = float(f"{v:.14e}")
    digits, sci = 15, f"{v:.14e}"
    for digits in range(1, 16):  # the fewest digits that give the 15-digit value
        sci = f"{v:.{digits - 1}e}"
        if float(sci) == target:
            break
    mantissa, exponent_text = sci.split("e")
    exponent = int(exponent_text)
    sci = f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    fixed = f"{v:.{max(0, digits - 1 - exponent)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def _pairlist_to_dict(obj: RObject) -> dict[str, RObject]:
    """Attributes pairlist → {name: value} (NULL → {})."""
    if obj.sexptype == NILSXP:
        return {}
    if obj.sexptype != LISTSXP:
        raise RDataError(f"attributes must be a pairlist, found {obj.typeof}")
    return {str(tag): value for tag, value in obj.value}


@contextlib.contextmanager
def _open_parser(path: str | os.PathLike[str], spool: _Spool | None = None) -> Iterator[_Parser]:
    """Open an RData file, check its header, and yield a parser positioned at the first object."""
    p = Path(path)
    raw = _open_decompressed(p)
    try:
        inp = _Input(raw, p)
        header = _read_header(inp)
        yield _Parser(inp, header, spool)
    finally:
        raw.close()


def _walk(parser: _Parser, mode_for: Callable[[str], str]) -> Iterator[tuple[str, RObject]]:
    """Iterate over the top-level pairlist written by save(): (name, object) in file order."""
    inp = parser.inp
    flags = inp.int()
    while flags & 0xFF != NILVALUE_SXP:
        if flags & 0xFF != LISTSXP:
            raise inp.error(f"expected the pairlist of saved objects, found type {flags & 0xFF}")
        if flags & HAS_ATTR_BIT:
            parser._attributes()
        name = str(parser._tag()) if flags & HAS_TAG_BIT else ""
        parser.mode = mode_for(name)
        yield name, parser.item()
        parser.mode = "full"
        flags = inp.int()
    if not inp.at_eof():
        raise inp.error("unexpected data after the end of the saved objects")


def read_rdata(
    path: str | os.PathLike[str], names: Sequence[str] | None = None
) -> dict[str, RObject]:
    """Read the objects of an RData file as :class:`RObject` trees, in file order.

    With ``names``, only those objects are returned (the others are skimmed, not kept) and a missing
    one is an error. Everything returned is held in memory: use :func:`open_numeric` for big
    matrices.
    """
    wanted = None if names is None else set(names)
    out: dict[str, RObject] = {}
    with _open_parser(path) as parser:
        seen = []
        for name, obj in _walk(
            parser, lambda n: "full" if wanted is None or n in wanted else "skim"
        ):
            seen.append(name)
            if wanted is None or name in wanted:
                out[name] = obj
    if wanted is not None and wanted - set(out):
        missing = sorted(wanted - set(out))
        raise RDataError(f"{path}: no object(s) {missing}; the file holds {seen}")
    return out


def list_objects(path: str | os.PathLike[str]) -> dict[str, str]:
    """Names of the saved objects with a short description (type and class), reading lightly."""
    out: dict[str, str] = {}
    with _open_parser(path) as parser:
        for name, obj in _walk(parser, lambda _n: "skim"):
            out[name] = _describe(obj)
    return out


def _describe(obj: RObject) -> str:
    """A one-line description of an object: type, dim or length, class."""
    cls = obj.r_class
    dim = obj.attr("dim")
    text = obj.typeof
    if dim is not None and isinstance(dim.value, np.ndarray):
        text += " [" + " x ".join(str(int(d)) for d in dim.value) + "]"
    else:
        text += f" of length {len(obj)}"
    return text + (f", class {list(cls)}" if cls else "")


def _find_object(path: str | os.PathLike[str], name: str, parser: _Parser, mode: str) -> RObject:
    """Walk to the object ``name`` (reading it in ``mode``); a clear error if absent."""
    seen = []
    for found, obj in _walk(parser, lambda n: mode if n == name else "skim"):
        if found == name:
            return obj
        seen.append(found)
    raise RDataError(f"{path}: no object named {name!r}; the file holds {seen}")


# --- data frames ----------------------------------------------------------------------------------


def _strings_of(obj: RObject | None) -> list[str | None] | None:
    """The elements of a character vector that was kept, else None."""
    if obj is None or obj.sexptype != STRSXP or not isinstance(obj.value, list):
        return None
    return obj.value


def inspect_data_frame(path: str | os.PathLike[str], object_name: str) -> list[RColumn]:
    """Each column's R type, class, factor levels and ordered flag, skipping the column data."""
    with _open_parser(path) as parser:
        obj = _find_object(path, object_name, parser, "skim")
    if obj.sexptype != VECSXP or "data.frame" not in obj.r_class:
        raise RDataError(f"{path}: object {object_name!r} is not a data.frame ({_describe(obj)})")
    names = _strings_of(obj.attr("names")) or [""] * len(obj.value)
    columns = []
    for name, col in zip(names, obj.value, strict=True):
        cls = col.r_class
        levels = _strings_of(col.attr("levels")) if "factor" in cls else None
        columns.append(
            RColumn(
                name=str(name), typeof=col.typeof, r_class=cls,
                levels=None if levels is None else tuple(str(v) for v in levels),
                ordered="ordered" in cls, length=len(col),
            )
        )  # fmt: skip
    return columns


def _nullable(values: pd.Series, dtype: str, column: RColumn, path: Any) -> pd.Series:
    """Integer or logical values (with NA as NaN/None) → pandas Int32 or boolean."""
    mask = values.isna().to_numpy()
    filled = values.where(~values.isna(), 0)
    try:
        raw = np.asarray(filled.to_numpy(), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RDataError(
            f"{path}: column {column.name!r} ({column.typeof}) has non-numeric values"
        ) from exc
    if dtype == "Int32":
        array = pd.arrays.IntegerArray(raw.astype(np.int32), mask)
    else:
        array = pd.arrays.BooleanArray(raw.astype(bool), mask)
    return pd.Series(array, index=values.index, name=values.name)


def read_data_frame(path: str | os.PathLike[str], object_name: str) -> pd.DataFrame:
    """Read a data.frame with the pandas dtypes that match R's column types.

    integer → ``Int32`` (nullable), logical → ``boolean``, double → ``float64``, character → ``str``
    (NA stays missing), factor → ``Categorical`` with R's levels in R's order and R's ordered flag.
    Values come from pyreadr; the types from a light pass of this module's parser. Row order is
    kept. Other classed columns (Date, POSIXct, ...) are left as pyreadr converts them.
    """
    import pyreadr

    columns = inspect_data_frame(path, object_name)
    try:
        frame = pyreadr.read_r(str(path), use_objects=[object_name])[object_name]
    except Exception as exc:  # pyreadr raises its own error types
        raise RDataError(f"{path}: pyreadr could not read {object_name!r}: {exc}") from exc
    if list(frame.columns) != [c.name for c in columns] or any(
        len(frame) != c.length for c in columns
    ):
        raise RDataError(f"{path}: pyreadr's view of {object_name!r} does not match the file")
    fixed: dict[str, pd.Series] = {}
    for position, column in enumerate(columns):
        values = frame.iloc[:, position]
        if column.levels is not None:
            fixed[column.name] = _as_factor(values, column, path)
        elif column.r_class and column.typeof not in ("integer", "logical", "double", "character"):
            fixed[column.name] = values
        elif column.typeof == "integer" and not column.r_class:
            fixed[column.name] = _nullable(values, "Int32", column, path)
        elif column.typeof == "logical" and not column.r_class:
            fixed[column.name] = _nullable(values, "boolean", column, path)
        elif column.typeof == "double" and not column.r_class:
            fixed[column.name] = values.astype(np.float64)
        elif column.typeof == "character" and not column.r_class:
            fixed[column.name] = values.astype("str")
        else:
            fixed[column.name] = values
    out = pd.DataFrame(fixed, index=frame.index)
    out.columns = [c.name for c in columns]
    return out


def _as_factor(values: pd.Series, column: RColumn, path: Any) -> pd.Series:
    """pyreadr's factor values → a Categorical with exactly R's levels and ordered flag."""
    levels = list(column.levels or ())
    as_text = values.astype(object).where(values.notna(), None)
    unknown = set(as_text.dropna().astype(str)) - set(levels)
    if unknown:
        raise RDataError(
            f"{path}: factor column {column.name!r} has values {sorted(unknown)[:5]} "
            f"outside its levels {levels[:10]}"
        )
    categorical = pd.Categorical(
        [None if v is None else str(v) for v in as_text], categories=levels, ordered=column.ordered
    )
    return pd.Series(categorical, index=values.index, name=values.name)


# --- streaming numeric objects --------------------------------------------------------------------


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
    names = _strings_of(rn)
    if names is not None:
        if names == [str(i) for i in range(1, len(names) + 1)]:
            return len(names), None
        return len(names), ["NA" if v is None else v for v in names]
    return n_rows_hint, None


def _names_or_none(obj: RObject | None) -> list[str] | None:
    """A names vector as a list of str (NA as 'NA'), or None."""
    names = _strings_of(obj)
    return None if names is None else ["NA" if v is None else v for v in names]


class NumericObject:
    """A numeric matrix (or data.frame of numeric columns) spooled to disk column by column.

    Use as a context manager (or call :meth:`close`) so that the spool is freed. Data are
    held in ``dtype`` (float32 or float64); R's integer NA becomes NaN. Row blocks and columns are
    read from the spool with positional reads, so memory use is one block at a time.
    """

    def __init__(
        self, path: Path, name: str, obj: RObject, spool: _Spool, columns: list[SpooledData],
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

    def column(self, j: int) -> np.ndarray:
        """Column ``j`` (0-based) as a 1-D array."""
        col = self._columns[j]
        return self._spool.read(col.offset, col.length)

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
            for j, col in enumerate(self._columns):
                block[:, j] = self._spool.read(col.offset + r0, r1 - r0)
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
    process dies. Memory use is bounded by an 8 MiB copy buffer, whatever the size of the object.
    """
    p = Path(path)
    spool = _Spool(spool_dir, dtype, progress)
    try:
        with _open_parser(p, spool) as parser:
            obj = _find_object(p, object_name, parser, "spool")
        return _numeric_layout(p, object_name, obj, spool)
    except BaseException:
        spool.close()
        raise


def _numeric_layout(path: Path, name: str, obj: RObject, spool: _Spool) -> NumericObject:
    """Work out rows, columns and names of a spooled object; errors name the file and object."""
    what = f"{path}: object {name!r}"
    if obj.sexptype in (LGLSXP, INTSXP, REALSXP):
        if not isinstance(obj.value, SpooledData):
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
        base = obj.value.offset
        columns = [SpooledData(base + j * n_rows, n_rows) for j in range(n_cols)]
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
        return NumericObject(
            path, name, obj, spool, columns, n_rows or 0, "data.frame", row_names, names
        )
    raise RDataError(
        f"{what} is {_describe(obj)}; expected a numeric matrix or a data.frame of numeric columns"
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
) -> dict[str, Any]:
    """Convert a numeric R matrix or data.frame to parquet: an id column and one vector column.

    The output has ``id_column`` (``row_ids``, or 0..n-1 when None) and ``values_column`` of type
    ``fixed_size_list<dtype>[n_cols]``, written one row group per block as blocks come, with
    key-value metadata (JSON under the key ``polface``, see polface.io.read_metadata: source file
    name, object, R type, shape, dtype, column names and, with ``checksum``, the source's SHA-256;
    plus ``metadata``). The number of rows must equal
    ``len(row_ids)``, and R row names other than 1..n must equal the row ids. The file is written
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
        bar = _progress_bar(progress, n_blocks, f"{object_name} → parquet", "block", True)
        try:
            with atomic_output(target) as tmp:
                with pq.ParquetWriter(tmp, schema, compression=compression) as writer:
                    start = 0
                    for block in obj.iter_row_blocks(step):
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


# --- writing --------------------------------------------------------------------------------------


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
        if len(self._buf) >= _BUFFER * 16:
            self.flush()

    def flush(self) -> None:
        """Hand the buffer to the file object."""
        if self._buf:
            self._fh.write(self._buf)
            self._buf = bytearray()

    def int(self, value: int) -> None:
        """One signed 32-bit integer."""
        self.bytes(_INT.pack(value))

    def length(self, n: int, long_form: bool = False) -> None:
        """A vector length, in the long form (-1, upper, lower) when needed or asked for."""
        if n > 2**31 - 1 or long_form:
            self.int(-1)
            self.bytes(_UINT.pack(n >> 32) + _UINT.pack(n & 0xFFFFFFFF))
        else:
            self.int(n)

    def charsxp(self, text: str | None) -> None:
        """One CHARSXP: NA, ASCII or UTF-8."""
        if text is None:
            self.int(CHARSXP)
            self.int(-1)
            return
        raw = text.encode("utf-8")
        levels = _ASCII_MASK if text.isascii() else _UTF8_MASK
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
    target = _ATOMIC_DTYPES[sexptype]
    if values.ndim <= 1:
        flat = values.reshape(-1)
        per_chunk = max(1, _CHUNK_BYTES // np.dtype(target).itemsize)
        for i in range(0, flat.size, per_chunk):
            out.bytes(np.ascontiguousarray(flat[i : i + per_chunk], dtype=target).tobytes())
        return
    if values.ndim != 2:
        raise RDataError(f"cannot write a {values.ndim}-D array (only vectors and matrices)")
    n_rows = max(1, values.shape[0])
    per_chunk = max(1, _CHUNK_BYTES // (n_rows * np.dtype(target).itemsize))
    for j in range(0, values.shape[1], per_chunk):
        out.bytes(np.ascontiguousarray(values[:, j : j + per_chunk].T, dtype=target).tobytes())


def _write_item(out: _Output, obj: RObject) -> None:
    """Write one :class:`RObject` (vectors, lists, pairlists, symbols, NULL)."""
    t = obj.sexptype
    if t == NILSXP:
        out.int(NILVALUE_SXP)
        return
    if t == SYMSXP:
        out.symbol(str(obj.value))
        return
    if isinstance(obj.value, OmittedData | SpooledData):
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
    if t in _ATOMIC_DTYPES:
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
    if isinstance(value, pd.DataFrame):
        return _frame_to_robject(value)
    if isinstance(value, RMatrix):
        return _matrix_to_robject(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return _matrix_to_robject(value)
    raise RDataError(
        f"object {name!r}: cannot write {type(value).__name__} (expected a pandas DataFrame, a 2-D "
        "numpy array, an RMatrix or an RObject)"
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
    ``dimnames``), or :class:`RObject` trees. ``compress`` is "gzip" (R's default), "bzip2", "xz" or
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

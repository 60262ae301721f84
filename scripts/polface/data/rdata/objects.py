"""R's object model as this package sees it: SEXP type codes, format constants, and the Python
objects that stand for R objects (:class:`RObject` and the data placeholders), plus the error type.

Type codes are those of R's ``Rinternals.h`` and the serialization pseudo-types of ``serialize.c``.
The format constants (CHARSXP encoding bits, the big-endian dtype of each atomic vector type, the
XDR integer formats and the buffer sizes) are shared by the reader and the writer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polface.errors import InputError

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
#: CHARSXP encoding bits in the "levels" field (the upper 20 bits of the flags word)
BYTES_MASK, LATIN1_MASK, UTF8_MASK, ASCII_MASK = 1 << 1, 1 << 2, 1 << 3, 1 << 6

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

# --- format constants shared by the reader and the writer ----------------------------------------
#: the serialized (big-endian) numpy dtype of each atomic vector type
ATOMIC_DTYPES = {LGLSXP: ">i4", INTSXP: ">i4", REALSXP: ">f8", CPLXSXP: ">c16", RAWSXP: "u1"}
XDR_INT = struct.Struct(">i")  #: one signed 32-bit XDR integer
XDR_UINT = struct.Struct(">I")  #: one unsigned 32-bit XDR integer
BUFFER_BYTES = 1 << 16  #: bytes read from the decompressor at a time for small items
CHUNK_BYTES = 1 << 23  #: bytes per chunk when copying or skipping vector data (8 MiB)
#: The most elements the reader expands in memory from a compact sequence (R's ``1:n``,
#: ``seq_len(n)``), whose few bytes in the file can stand for any length: 128 MiB of doubles.
MAX_EXPANDED_VALUES = 1 << 24
#: The deepest nesting of items (lists in lists, calls in calls) the reader follows: R saves and
#: loads a list nested 3,000 deep; real objects (a formula of 500 terms) nest a few hundred deep.
MAX_DEPTH = 10_000


# --- the objects ----------------------------------------------------------------------------------


class RDataError(InputError):
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
        if isinstance(self.value, OmittedData | SpooledData | SequenceData):
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
class SequenceData:
    """Stands for a compact sequence (R's ALTREP ``compact_intseq`` / ``compact_realseq``, what
    ``1:n`` and ``seq_len(n)`` make) that is never expanded whole: element ``i`` is
    ``start + step * i`` (an integer sequence when ``integer``), for ``i < length``.
    """

    length: int
    start: float
    step: float
    integer: bool

    def values(self, first: int, count: int, dtype: np.dtype | type) -> np.ndarray:
        """Elements ``first .. first + count - 1`` in ``dtype``, computed as R computes them."""
        index = np.arange(first, first + count, dtype=np.int64)
        if self.integer:  # the reader checks that it stays within R's integers (no NA)
            return (int(self.start) + int(self.step) * index).astype(dtype)
        return (self.start + self.step * index.astype(np.float64)).astype(dtype)


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


def strings_of(obj: RObject | None) -> list[str | None] | None:
    """The elements of a character vector that was kept, else None."""
    if obj is None or obj.sexptype != STRSXP or not isinstance(obj.value, list):
        return None
    return obj.value

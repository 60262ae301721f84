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

Files are untrusted input, and every input R can write is read in bounded memory: objects that
are not asked for keep nothing below themselves; a compact sequence (R's ``1:n``, a few bytes in
the file whatever ``n``) is never expanded unless kept, and then only up to
``MAX_EXPANDED_VALUES``; a vector claiming more than the file can hold is refused before it is
read; nesting is bounded by ``MAX_DEPTH`` (errors name the file and the object); of two objects
with one name the last is read, as R's ``load()`` keeps it (with a warning).

Format facts used here (R's ``serialize.c``): every item starts with a 32-bit flags word (type in
the low byte, then the is-object, has-attributes and has-tag bits, and the "levels" in the upper 20
bits); a vector's attributes follow its data; a length above 2^31 - 1 is written as -1 followed by
the upper and lower 32-bit halves; symbols, environments and a few others enter a reference table
that later items point back to with REFSXP.

The package, arrows pointing down: :mod:`~polface.data.rdata.writer`,
:mod:`~polface.data.rdata.numeric` (streaming numeric objects) and
:mod:`~polface.data.rdata.dataframes` (data.frames with R's column types) use
:mod:`~polface.data.rdata.parser` (the SEXP grammar, :func:`read_rdata`), which reads from
:mod:`~polface.data.rdata.stream` (decompression, the XDR byte stream, the header) and spools to
:mod:`~polface.data.rdata.spool`; all of them use :mod:`~polface.data.rdata.objects` (type codes,
format constants, :class:`RObject` and friends, :class:`RDataError`).
"""

from __future__ import annotations

from polface.data.rdata.dataframes import inspect_data_frame, read_data_frame
from polface.data.rdata.numeric import (
    NumericObject,
    iter_matrix_columns,
    iter_row_blocks,
    numeric_rdata_to_parquet,
    open_numeric,
)
from polface.data.rdata.objects import (
    ALTREP_SXP,
    ATTRLANGSXP,
    ATTRLISTSXP,
    BASEENV_SXP,
    BASENAMESPACE_SXP,
    BCODESXP,
    BCREPDEF,
    BCREPREF,
    BUILTINSXP,
    CHARSXP,
    CLASSREFSXP,
    CLOSXP,
    CPLXSXP,
    DOTSXP,
    EMPTYENV_SXP,
    ENVSXP,
    EXPRSXP,
    EXTPTRSXP,
    GENERICREFSXP,
    GLOBALENV_SXP,
    HAS_ATTR_BIT,
    HAS_TAG_BIT,
    INTSXP,
    IS_OBJECT_BIT,
    LANGSXP,
    LGLSXP,
    LISTSXP,
    MAX_DEPTH,
    MAX_EXPANDED_VALUES,
    MISSINGARG_SXP,
    NA_INTEGER,
    NA_REAL,
    NAMESPACESXP,
    NILSXP,
    NILVALUE_SXP,
    NULL,
    PACKAGESXP,
    PERSISTSXP,
    PROMSXP,
    RAWSXP,
    REALSXP,
    REFSXP,
    S4SXP,
    SPECIALSXP,
    STRSXP,
    SYMSXP,
    TYPE_NAMES,
    UNBOUNDVALUE_SXP,
    VECSXP,
    WEAKREFSXP,
    OmittedData,
    RColumn,
    RDataError,
    RMatrix,
    RObject,
    SequenceData,
    SpooledData,
)
from polface.data.rdata.parser import list_objects, read_rdata
from polface.data.rdata.writer import R_VERSION_WRITTEN, ColumnBlocks, write_rdata

__all__ = [
    "ALTREP_SXP",
    "ATTRLANGSXP",
    "ATTRLISTSXP",
    "BASEENV_SXP",
    "BASENAMESPACE_SXP",
    "BCODESXP",
    "BCREPDEF",
    "BCREPREF",
    "BUILTINSXP",
    "CHARSXP",
    "CLASSREFSXP",
    "CLOSXP",
    "ColumnBlocks",
    "CPLXSXP",
    "DOTSXP",
    "EMPTYENV_SXP",
    "ENVSXP",
    "EXPRSXP",
    "EXTPTRSXP",
    "GENERICREFSXP",
    "GLOBALENV_SXP",
    "HAS_ATTR_BIT",
    "HAS_TAG_BIT",
    "INTSXP",
    "IS_OBJECT_BIT",
    "LANGSXP",
    "LGLSXP",
    "LISTSXP",
    "MAX_DEPTH",
    "MAX_EXPANDED_VALUES",
    "MISSINGARG_SXP",
    "NAMESPACESXP",
    "NA_INTEGER",
    "NA_REAL",
    "NILSXP",
    "NILVALUE_SXP",
    "NULL",
    "NumericObject",
    "OmittedData",
    "PACKAGESXP",
    "PERSISTSXP",
    "PROMSXP",
    "RAWSXP",
    "RColumn",
    "RDataError",
    "REALSXP",
    "REFSXP",
    "RMatrix",
    "RObject",
    "R_VERSION_WRITTEN",
    "S4SXP",
    "SPECIALSXP",
    "STRSXP",
    "SYMSXP",
    "SequenceData",
    "SpooledData",
    "TYPE_NAMES",
    "UNBOUNDVALUE_SXP",
    "VECSXP",
    "WEAKREFSXP",
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

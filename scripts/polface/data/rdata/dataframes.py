"""Reading data.frames faithfully: each column's R type, class and factor levels from a light
pass of the parser, the values from pyreadr (:func:`inspect_data_frame`, :func:`read_data_frame`).
"""

from __future__ import annotations

import os
import resource
from typing import Any

import numpy as np
import pandas as pd

from polface.data.rdata.objects import (
    MAX_EXPANDED_VALUES,
    VECSXP,
    RColumn,
    RDataError,
    SequenceData,
    strings_of,
)
from polface.data.rdata.parser import Parser, describe, find_object, open_parser

#: C stack bytes that pyreadr (librdata) takes per level of nesting when it skips an object, about
#: twice what was measured: a list nested 7,000 deep, or 3,500 vectors each the attribute of the
#: next, overflowed the 8 MiB stack (a segmentation fault).
_PYREADR_STACK_PER_LEVEL = 2048


def inspect_data_frame(path: str | os.PathLike[str], object_name: str) -> list[RColumn]:
    """Each column's R type, class, factor levels and ordered flag, skipping the column data."""
    return _inspect(path, object_name)[0]


def _inspect(path: str | os.PathLike[str], object_name: str) -> tuple[list[RColumn], bool, Parser]:
    """The columns, whether some column holds its values in the file (is not a compact sequence),
    and the parser that walked the whole file (its compact sequences and deepest nesting)."""
    with open_parser(path) as parser:
        obj = find_object(path, object_name, parser, "skim")
    if obj.sexptype != VECSXP or "data.frame" not in obj.r_class:
        raise RDataError(f"{path}: object {object_name!r} is not a data.frame ({describe(obj)})")
    names = strings_of(obj.attr("names")) or [""] * len(obj.value)
    columns = []
    for name, col in zip(names, obj.value, strict=True):
        cls = col.r_class
        levels = strings_of(col.attr("levels")) if "factor" in cls else None
        columns.append(
            RColumn(
                name=str(name), typeof=col.typeof, r_class=cls,
                levels=None if levels is None else tuple(str(v) for v in levels),
                ordered="ordered" in cls, length=len(col),
            )
        )  # fmt: skip
    stored = any(not isinstance(col.value, SequenceData) for col in obj.value)
    return columns, stored, parser


def _pyreadr_max_depth() -> int:
    """The deepest nesting pyreadr can skip within this process's C stack limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    stack = 8 << 20 if soft in (resource.RLIM_INFINITY, -1) or soft <= 0 else soft
    return stack // _PYREADR_STACK_PER_LEVEL


def _check_for_pyreadr(
    path: str | os.PathLike[str], object_name: str, columns: list[RColumn], stored: bool,
    parser: Parser,
) -> None:  # fmt: skip
    """Refuse, before pyreadr reads the file, what would make it allocate beyond the data.frame.

    pyreadr expands every compact sequence (R's ``1:n``: a few bytes in the file whatever ``n``)
    of the file in memory, in the objects it skips too. The data.frame's columns must all have its
    row count, and a compact sequence anywhere may be as long as that row count (when some column
    holds its values in the file) or ``MAX_EXPANDED_VALUES``, not longer. pyreadr recurses on
    the C stack: nesting deeper than the stack limit allows (4,096 levels with 8 MiB) would crash
    the process, and is refused.
    """
    n_rows = columns[0].length if columns else 0
    for column in columns:
        if column.length != n_rows:
            raise RDataError(
                f"{path}: data.frame {object_name!r}: column {column.name!r} has "
                f"{column.length:,} values, expected {n_rows:,} rows (as column "
                f"{columns[0].name!r})"
            )
    depth, deepest = parser.deepest
    if depth > _pyreadr_max_depth():
        raise RDataError(
            f"{path}: object {deepest!r} is nested {depth:,} levels deep; pyreadr, which reads "
            f"{object_name!r}, recurses on the C stack and would crash beyond about "
            f"{_pyreadr_max_depth():,} levels (save {object_name!r} alone)"
        )
    bound = max(MAX_EXPANDED_VALUES, n_rows if stored else 0)
    for name, length in parser.sequences:
        if length > bound:
            raise RDataError(
                f"{path}: object {name!r} holds a compact sequence (R's 1:n or seq_len(n)) of "
                f"{length:,} values, which pyreadr would expand in memory "
                f"({length * 8 / 1e9:.1f} GB) although only {object_name!r} is read; at most "
                f"{bound:,} are accepted (save {object_name!r} alone)"
            )


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
    kept. Other classed columns (Date, POSIXct, ...) are left as pyreadr converts them. Of several
    objects named ``object_name`` the last is read, as R's ``load()`` keeps it (a warning names
    them). A file whose compact sequences (R's ``1:n``) pyreadr would expand beyond the
    data.frame's rows is refused before pyreadr reads it (see :func:`_check_for_pyreadr`).
    """
    import pyreadr

    columns, stored, parser = _inspect(path, object_name)
    _check_for_pyreadr(path, object_name, columns, stored, parser)
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

"""Cross-validation folds: seeded balanced assignment, and validation of user-supplied folds.

A fold table has one row per person and three columns (:func:`polface.frames.fold_columns`):

- the id column (str; its name is the caller's ``id_column``, ``userid`` for the OSF cohorts and
  ``image_id`` for image sets): the row id of the table the folds split;
- ``outer_fold`` (int, 1..K): the outer split. Outer fold ``k`` is held out once; a model fitted on
  the other rows (the *outer training split*) predicts it. Outer folds are assigned over *all* rows,
  not per sample, so that a model fitted on one sample predicts the rows of every other sample that
  fall in the held-out fold (Kosinski 2021).
- ``inner_fold`` (int, 1..J): the fold used for the lambda search (``cv.glmnet(foldid=...)``) or any
  other tuning *inside* an outer training split. It is one column, shared by all outer splits:
  within the training split of outer fold ``k`` the inner folds are simply the ``inner_fold``
  values of the training rows. This is exactly how ``../shared/data/osf-fixture/folds.csv`` is
  used with R.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.errors import InputError
from polface.frames import FOLD_COLUMNS, fold_columns, require_columns

#: The fewest inner folds an outer training split may hold (the LASSO's cross-validation,
#: cv.glmnet's minimum).
MIN_INNER_FOLDS = 3


def _as_ids(
    ids: Sequence[str] | pd.Series | np.ndarray, id_column: str, source: str | None = None
) -> np.ndarray:
    """Return the ids as an object array of str, checking that they are present and unique.

    ``source`` is the table the ids were read from (the faces file), named by the
    :class:`~polface.errors.InputError` with the rows (1-based, in the order of ``ids``) of a
    missing id, or the repeated ids and their rows; a few of each, with their count.
    """
    where = source or f"{id_column}s"
    values = pd.Series(ids, dtype=object)
    missing = (values.isna() | (values.astype(str) == "")).to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing) + 1
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
        raise InputError(
            f"{where}: {id_column} is missing (NA or empty) in {rows.size} row(s): {shown};"
            f" expected a {id_column} in every row"
        )
    values = values.astype(str)
    dup = values.duplicated(keep=False).to_numpy()
    if dup.any():
        repeated = pd.unique(values[dup])
        text = values.to_numpy(dtype=object)

        def rows_of(u: str) -> str:
            return ", ".join(str(r) for r in np.flatnonzero(text == u)[:5] + 1)

        shown = "; ".join(f"{u!r} in rows {rows_of(u)}" for u in repeated[:5])
        more = f"; and {repeated.size - 5} more" if repeated.size > 5 else ""
        raise InputError(
            f"{where}: {int(dup.sum())} rows share a {id_column} ({repeated.size} {id_column}(s)"
            f" appear more than once): {shown}{more}; expected each {id_column} once"
        )
    return values.to_numpy(dtype=object)


def make_folds(
    ids: Sequence[str] | pd.Series | np.ndarray,
    *,
    id_column: str,
    n_outer: int,
    n_inner: int,
    seed: int,
    source: str | None = None,
    setting: str | None = None,
) -> pd.DataFrame:
    """Assign every person to an outer and an inner fold, balanced and reproducible.

    The assignment is a function of the *set* of ids and the seed, not of their order: the ids
    are sorted, then

    1. outer: a seeded random permutation of the sorted ids is dealt round-robin into folds
       ``1..n_outer``, so fold sizes differ by at most one;
    2. inner: the rows are ordered by outer fold and, within each outer fold, by a second seeded
       permutation, and then dealt round-robin (continuing across outer folds) into ``1..n_inner``.
       Within every outer fold the inner fold sizes therefore differ by at most one, and within
       every outer training split (all outer folds but one) by at most two.

    Args:
        ids: unique, non-empty row ids.
        id_column: the name of the id column of the result (``userid`` for the OSF cohorts).
        n_outer: number of outer folds (≥ 2, ≤ number of rows).
        n_inner: number of inner folds (≥ :data:`MIN_INNER_FOLDS`, ≤ number of rows in the
            smallest outer training split).
        seed: seed of the random generator (numpy PCG64).
        source: where the ids come from (a file), and ``setting``: the config block that gave
            ``n_outer`` and ``n_inner`` (e.g. ``folds``); both named by the
            :class:`~polface.errors.InputError` of too few rows for the folds, ``source`` also
            by that of a missing or repeated id.

    Returns:
        DataFrame with columns ``id_column`` (str), ``outer_fold`` and ``inner_fold`` (int64,
        1-based), in the order of ``ids``.
    """
    ids = _as_ids(ids, id_column, source)
    n = len(ids)
    where = f"{source}: " if source else ""
    outer, inner = (f"{setting}.outer", f"{setting}.inner") if setting else ("n_outer", "n_inner")
    if n_outer < 2 or n_outer > n:
        raise InputError(
            f"{where}{outer} must be between 2 and the number of rows ({n}), got {n_outer}"
        )
    smallest_training = n - (n + n_outer - 1) // n_outer
    if n_inner < MIN_INNER_FOLDS or n_inner > smallest_training:
        raise InputError(
            f"{where}{inner} must be between {MIN_INNER_FOLDS} and the rows of the smallest"
            f" outer training split ({smallest_training} of {n} rows with {n_outer} outer"
            f" folds), got {n_inner}"
        )
    rng = np.random.default_rng(seed)
    order = np.argsort(ids, kind="stable")  # positions of the ids in sorted order
    outer_sorted = np.empty(n, dtype=np.int64)
    outer_sorted[rng.permutation(n)] = np.arange(n) % n_outer + 1
    # Inner: order by (outer fold, random key), deal round-robin.
    key = rng.permutation(n)
    inner_order = np.lexsort((key, outer_sorted))
    inner_sorted = np.empty(n, dtype=np.int64)
    inner_sorted[inner_order] = np.arange(n) % n_inner + 1
    outer = np.empty(n, dtype=np.int64)
    inner = np.empty(n, dtype=np.int64)
    outer[order] = outer_sorted
    inner[order] = inner_sorted
    return pd.DataFrame(
        {id_column: pd.Series(ids, dtype=str), "outer_fold": outer, "inner_fold": inner}
    )


def _read_table(path: Path) -> pd.DataFrame:
    """Read a fold file (CSV or parquet) with every column as text or its stored type."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in {".csv", ".txt"}:
        # Read everything as text, keeping "NA"-like ids as written; folds are parsed below.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    raise InputError(
        f"{path}: unsupported fold file type {path.suffix!r} (expected .csv or .parquet)"
    )


def read_folds(
    path: str | Path,
    ids: Sequence[str] | pd.Series | np.ndarray,
    *,
    id_column: str,
    ids_source: str | None = None,
) -> pd.DataFrame:
    """Read and validate a user-supplied fold file against the cohort's ids.

    The file (CSV with a header, or parquet) must have the columns ``id_column`` (``userid`` for
    the OSF cohorts), ``outer_fold`` and ``inner_fold``; other columns are ignored. Every id of
    the cohort must appear exactly once, no other id may appear, and both folds must be
    integers ≥ 1. At least two distinct outer folds are required (otherwise there is no training
    split), and the training split of every outer fold must hold at least
    :data:`MIN_INNER_FOLDS` inner folds (:func:`check_fold_numbers`).

    Args:
        path: the fold file.
        ids: the cohort's ids (unique).
        id_column: the name of the id column, in the file and in the result.
        ids_source: the table the cohort's ids were read from (the faces file), named by the
            error of a missing or repeated id.

    Returns:
        DataFrame ``id_column`` (str), ``outer_fold``, ``inner_fold`` (int64) in the order of
        ``ids``.

    Raises:
        InputError: (a ValueError) naming the file, the offending row (1-based data row; for
            CSV also the line) or id, and what was expected.
    """
    path = Path(path)
    ids = _as_ids(ids, id_column, ids_source)
    table = _read_table(path)
    require_columns(table, fold_columns(id_column=id_column), table=str(path))
    line_offset = 1 if path.suffix.lower() != ".parquet" else None

    def where(i: int) -> str:
        line = f", line {i + 1 + line_offset}" if line_offset is not None else ""
        return f"row {i + 1}{line}"

    file_ids = table[id_column]
    bad_id = file_ids.isna().to_numpy() | (file_ids.astype(str).str.strip() == "").to_numpy()
    if bad_id.any():
        i = int(np.flatnonzero(bad_id)[0])
        raise InputError(f"{path}: {where(i)}: empty or missing {id_column}")
    file_ids = file_ids.astype(str)
    dup = file_ids.duplicated(keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        rows = ", ".join(where(int(j)) for j in np.flatnonzero(file_ids.to_numpy() == file_ids[i]))
        raise InputError(f"{path}: {id_column} {file_ids[i]!r} appears more than once ({rows})")
    parsed: dict[str, np.ndarray] = {}
    for col in FOLD_COLUMNS:
        raw = table[col]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(values)
        ok[ok] = (values[ok] == np.round(values[ok])) & (values[ok] >= 1)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise InputError(
                f"{path}: {where(i)} ({id_column} {file_ids[i]!r}): {col} = {raw.iloc[i]!r},"
                " expected an integer >= 1"
            )
        parsed[col] = values.astype(np.int64)
    known = set(ids.tolist())
    extra = ~file_ids.isin(known).to_numpy()
    if extra.any():
        i = int(np.flatnonzero(extra)[0])
        raise InputError(
            f"{path}: {where(i)}: {id_column} {file_ids[i]!r} is not in the cohort"
            f" ({int(extra.sum())} such rows)"
        )
    listed = set(file_ids.tolist())
    lacking = [u for u in ids if u not in listed]
    if lacking:
        shown = ", ".join(repr(u) for u in lacking[:5])
        raise InputError(
            f"{path}: {len(lacking)} {id_column}(s) of the cohort have no folds, e.g. {shown}"
        )
    check_fold_numbers(parsed["outer_fold"], parsed["inner_fold"], source=str(path))
    out = pd.DataFrame({id_column: pd.Series(file_ids.to_numpy(), dtype=str), **parsed})
    out = out.set_index(id_column).loc[list(ids)].reset_index()
    out[id_column] = out[id_column].astype(str)
    return out


def check_fold_numbers(outer: np.ndarray, inner: np.ndarray, *, source: str) -> None:
    """Check that the folds (``outer_fold``, ``inner_fold`` of the file `source`) can be used.

    There must be at least two outer folds, and the training split of every outer fold (the rows
    of the other outer folds) must hold at least :data:`MIN_INNER_FOLDS` inner folds, or its
    lambda search cannot run. Raises :class:`polface.errors.InputError` naming the file and the
    outer fold.
    """
    outer, inner = np.asarray(outer), np.asarray(inner)
    folds = np.unique(outer)
    if folds.size < 2:
        raise InputError(
            f"{source}: outer_fold has a single value ({folds[0] if folds.size else 'none'});"
            " at least two outer folds are needed"
        )
    for fold in folds:
        held = np.unique(inner[outer != fold])
        if held.size < MIN_INNER_FOLDS:
            listed = ", ".join(str(int(v)) for v in held)
            raise InputError(
                f"{source}: the training split of outer fold {int(fold)} (the rows of the other"
                f" outer folds) has {held.size} inner fold(s) ({listed}) in inner_fold; at least"
                f" {MIN_INNER_FOLDS} are needed for the inner cross-validation"
            )


def outer_fold_numbers(path: str | Path) -> list[int]:
    """The outer folds of a fold file (CSV or parquet), read from its ``outer_fold`` column only.

    Cheap enough for the workflow to plan one job per outer fold from the file when it starts;
    the whole file is checked later, by :func:`read_folds` in rule ``make_folds``. Raises
    :class:`polface.errors.InputError` naming the file and the row of a value that is not an
    integer >= 1.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            column = pd.read_parquet(path, columns=["outer_fold"])["outer_fold"]
        elif suffix in {".csv", ".txt"}:
            column = pd.read_csv(path, usecols=["outer_fold"], dtype=str)["outer_fold"]
        else:
            raise InputError(
                f"{path}: unsupported fold file type {path.suffix!r} (expected .csv or .parquet)"
            )
    except (KeyError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"{path}: no column 'outer_fold' ({error})") from None
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values >= 1) & (values == np.round(values)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: row {row + 1}: outer_fold = {column.iloc[row]!r}, expected an integer >= 1"
        )
    return sorted(int(v) for v in np.unique(values))

"""Column contracts of the tables that pass between rules, and the model methods.

The tables name their own id and target columns: Kosinski's OSF cohorts use ``userid`` rows and
``sample`` targets, the One Million Impressions branch ``image_id`` rows and ``target`` targets.
Each contract below is a function of those names, so that one checker serves every study:

- folds (``make_folds`` → the fitters): ``[id, outer_fold, inner_fold]``;
- out-of-fold predictions (the fitters → tables and figures):
  ``[producer, target, id, outer_fold, y, score]``, where ``producer`` names what made the
  score (``model`` or ``feature_set``); the files may carry more columns (``method``, ``kind``);
- AUC tables (:func:`polface.report.tables.auc_table`):
  ``[producer, target, n, n_positive, n_negative, auc, lo, hi, se]``.

:func:`require_columns` raises :class:`MissingColumnsError` naming the table (or file), the
missing columns, what was expected and what was found; :func:`require_aligned` checks that two
tables hold the same ids row by row (features and folds beside their faces).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from polface.errors import InputError

#: The id column of every table of images (manifests, embeddings, predictions, explanations):
#: the file name of the photograph without its extension.
IMAGE_ID = "image_id"

#: Columns of the manifest that :func:`polface.images.crop.crop_faces` writes, in order.
MANIFEST_COLUMNS = (
    IMAGE_ID,
    "source",
    "sha256",
    "status",
    "detail",
    "width",
    "height",
    "n_faces",
    "box_left",
    "box_top",
    "box_right",
    "box_bottom",
    "landmarks",
    "angle",
    "crop",
)

#: The model methods of the OSF cohorts (``results/{cohort}/{method}/...``), in display order.
METHODS: tuple[str, ...] = ("lasso", "mlp")

#: The two fold columns beside a fold table's id column.
FOLD_COLUMNS: tuple[str, str] = ("outer_fold", "inner_fold")

#: The columns of a predictions table after its producer, target and id columns.
SCORE_COLUMNS: tuple[str, str, str] = ("outer_fold", "y", "score")

#: The statistics of an AUC table after its producer and target columns.
AUC_COLUMNS: tuple[str, ...] = ("n", "n_positive", "n_negative", "auc", "lo", "hi", "se")


class MissingColumnsError(KeyError, InputError):
    """A table lacks columns of its contract (a KeyError for lookups, a ValueError for files)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def fold_columns(*, id_column: str) -> tuple[str, str, str]:
    """The columns of a fold table: the row id, ``outer_fold`` and ``inner_fold``."""
    return (id_column, *FOLD_COLUMNS)


def prediction_columns(*, model_column: str, target_column: str, id_column: str) -> tuple[str, ...]:
    """The columns of out-of-fold predictions, in the order the fitters write them."""
    return (model_column, target_column, id_column, *SCORE_COLUMNS)


def auc_columns(*, by: str, target_column: str) -> tuple[str, ...]:
    """The columns of an AUC table grouped by the producer ``by`` and the target column."""
    return (by, target_column, *AUC_COLUMNS)


def require_columns(frame: Any, columns: Iterable[str], *, table: str) -> None:
    """Raise :class:`MissingColumnsError` if ``frame`` lacks any of ``columns``.

    Args:
        frame: a DataFrame (anything with ``.columns``).
        columns: the columns the contract needs.
        table: what the frame is, for the message (a file path or a table's name).
    """
    needed: Sequence[str] = list(columns)
    found = [str(c) for c in frame.columns]
    absent = [c for c in needed if c not in found]
    if absent:
        raise MissingColumnsError(
            f"{table}: missing column(s) {absent}; expected columns {list(needed)}, found {found}"
        )


def require_aligned(
    expected: Sequence[str], other: Sequence[str], *, name: str, table: str
) -> None:
    """Raise InputError unless ``other`` holds the ids ``expected`` row by row (same order).

    Args:
        expected: the ids of the reference table, as text.
        other: the ids of the table that must follow it.
        name: what ``other`` is (``features``, ``folds``), for the message.
        table: what ``expected`` comes from (a file path or a table's name).
    """
    expected, other = list(expected), list(other)
    if other != expected:
        first = next(
            (i for i, (a, b) in enumerate(zip(expected, other, strict=False)) if a != b),
            min(len(expected), len(other)),
        )
        raise InputError(
            f"{name} are not aligned with {table}: first difference at row {first + 1}"
            f" ({len(other)} rows vs {len(expected)})"
        )

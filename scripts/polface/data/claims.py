"""The claims ledger: every published quantitative claim that polface sets beside its own value.

The ledger is a versioned tab-separated file (``workflow/claims.tsv``), one claim a row:

``id``
    a stable name (letters, digits, ``-``), unique.
``study``
    one of :data:`STUDIES`.
``where``
    where the paper (or the authors' release) prints it: ``Table 2``, ``abstract``, ...
``quantity``
    what the number is, in words.
``published``
    the value as printed (``0.72``, ``862,770``, ``68%``, ``.0034``) or, for a qualitative
    claim, its words (``positive``).
``value``, ``tolerance``
    the printed value as a number in the unit polface reports (``68%`` → 0.68) and half a unit
    of its last printed digit (0.005): :func:`printed_value` computes both, and
    :func:`read_ledger` checks that the file agrees. Empty for a qualitative claim.
``source``
    ``[text]`` (read in the paper), ``[code]`` (the authors' released code on their released
    data: the reference where a printed value could not be read) or ``[csv]`` (the authors'
    released result files).
``test``
    how polface's value is judged (:data:`TESTS`).
``locator``
    where polface computes it, relative to ``results/``: ``FILE?KEY=VALUE&...#EXPRESSION``, several
    joined by `` ; `` for tests over several cells; empty where polface does not compute it
    (``note`` then says what is missing). :func:`parse_locator` describes the grammar.
``corrected_locator``
    where polface's corrected computation of the same quantity is (clustered SEs, a fixed AUC
    direction), listed beside the as-published value; empty where there is none. With an empty
    ``locator`` (polface cannot redo the published computation, e.g. Khan et al.'s classifier on
    a network fine-tuned on the same photographs) the claim is not computable here and the
    corrected value is listed beside it, for an ``equal`` test only.
``note``
    what a reader needs to judge the row (which sample, what is missing, a known bug).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from polface.errors import InputError

LEDGER_COLUMNS: tuple[str, ...] = (
    "id",
    "study",
    "where",
    "quantity",
    "published",
    "value",
    "tolerance",
    "source",
    "test",
    "locator",
    "corrected_locator",
    "note",
)
#: The studies of the ledger (``khan``: Khan et al.; ``omi``: One Million Impressions).
STUDIES: tuple[str, ...] = ("kosinski2021", "facial_finetuning", "khan", "omi")
SOURCES: tuple[str, ...] = ("[text]", "[code]", "[csv]")
#: ``equal``: within the printed precision; ``below``: under the printed bound; ``positive`` /
#: ``negative``: every located 95% interval above / below zero; ``null``: every located interval
#: holds zero; ``chance``: every located interval holds 0.5 (an AUC indistinguishable from
#: chance); ``inconsistent``: the located intervals do not all lie on one side of zero;
#: ``unread``: the printed value could not be read (``published`` is ``not read``): polface's
#: value is listed and no verdict is given.
TESTS: tuple[str, ...] = (
    "equal",
    "below",
    "positive",
    "negative",
    "null",
    "chance",
    "inconsistent",
    "unread",
)
UNREAD = "not read"
NUMERIC_TESTS: tuple[str, ...] = ("equal", "below")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_PRINTED = re.compile(r"(?P<sign>[-−]?)(?P<number>\d[\d,]*(?:\.\d*)?|\.\d+)(?P<percent>%?)")
_LOCATOR = re.compile(r"(?P<file>[^?#\s]+)(?:\?(?P<filters>[^#]*))?#(?P<expression>\S+)")
_EXPRESSION = re.compile(
    r"(?:(?P<aggregate>mean|max|min)\((?P<inner>[^()]+)\)|(?P<column>[^\[±()]+)"
    r"(?:\[(?P<lo>[^,\]]+),(?P<hi>[^\]]+)\]|±(?P<se>[^\[\]±()]+))?)"
)
_FILTER = re.compile(r"(?P<key>[^=!]+)(?P<op>!=|=)(?P<value>.*)")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)?")


class LedgerError(InputError):
    """The claims ledger does not hold what it must (the message names the file, row and column)."""


def printed_value(printed: str) -> tuple[float, float]:
    """The number a printed value means and the tolerance its precision implies.

    ``'0.72'`` → (0.72, 0.005); ``'862,770'`` → (862770, 0.5); ``'68%'`` → (0.68, 0.005);
    ``'.0034'`` → (0.0034, 0.00005); ``'57.78%'`` → (0.5778, 0.00005). The tolerance is half a
    unit of the last printed digit, in the same unit as the value.

    Raises:
        ValueError: ``printed`` is not a number as printed (optionally signed, with thousands
            separators and a percent sign).
    """
    match = _PRINTED.fullmatch(printed.strip())
    if match is None:
        raise ValueError(f"{printed!r} is not a printed number (e.g. 0.72, 862,770, 68%, .0034)")
    number = match["number"].replace(",", "")
    decimals = len(number.split(".")[1]) if "." in number else 0
    scale = 0.01 if match["percent"] else 1.0
    value = float(number) * scale * (-1.0 if match["sign"] else 1.0)
    tolerance = 0.5 * 10.0 ** (-decimals) * scale
    return value, tolerance


@dataclass(frozen=True)
class Locator:
    """One cell (or an aggregate of cells) of a polface output.

    ``file`` relative to ``results/`` (``{cohort}`` is filled in by the caller); ``filters``:
    (column, operator, value) with operator ``=`` or ``!=`` and a value that is a literal or
    ``@column`` (another column of the same row); ``column`` the value (``a-b``: a difference of
    two columns); ``aggregate`` ``mean`` / ``max`` / ``min`` over the selected rows (else exactly
    one row must be selected); the interval either ``lo``, ``hi`` columns or ``se`` (the 95%
    normal interval value ± 1.96 SE).
    """

    text: str
    file: str
    filters: tuple[tuple[str, str, str], ...]
    column: str
    aggregate: str | None = None
    lo: str | None = None
    hi: str | None = None
    se: str | None = None


def parse_locator(text: str) -> Locator:
    """Parse ``FILE?KEY=VALUE&KEY!=@OTHER#EXPRESSION``.

    EXPRESSION is ``column``, ``column[lo,hi]`` (interval columns), ``column±se`` (interval from an
    SE column) or ``mean(column)`` / ``max(column)`` / ``min(column)`` (an aggregate over the
    selected rows, no interval); a column may be ``a-b``, the difference of two columns. Filter
    values are literal text (spaces allowed) or ``@column``.

    Raises:
        ValueError: the text does not follow the grammar (the message says what was expected).
    """
    match = _LOCATOR.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"locator {text!r}: expected FILE?KEY=VALUE&...#EXPRESSION")
    if match["file"].startswith("/") or ".." in Path(match["file"]).parts:
        raise ValueError(f"locator {text!r}: the file must be a path inside results/")
    filters = []
    for part in filter(None, (match["filters"] or "").split("&")):
        found = _FILTER.fullmatch(part)
        if found is None:
            raise ValueError(f"locator {text!r}: filter {part!r} is not KEY=VALUE or KEY!=VALUE")
        filters.append((found["key"], found["op"], found["value"]))
    expression = _EXPRESSION.fullmatch(match["expression"])
    if expression is None:
        raise ValueError(
            f"locator {text!r}: expression {match['expression']!r} is not column, "
            "column[lo,hi], column±se or mean|max|min(column)"
        )
    column = expression["inner"] or expression["column"]
    for name in filter(None, (column, expression["lo"], expression["hi"], expression["se"])):
        if not _COLUMN.fullmatch(name):
            raise ValueError(f"locator {text!r}: {name!r} is not a column name (or a-b)")
    return Locator(
        text=text.strip(),
        file=match["file"],
        filters=tuple(filters),
        column=column,
        aggregate=expression["aggregate"],
        lo=expression["lo"],
        hi=expression["hi"],
        se=expression["se"],
    )


def parse_locators(text: str) -> list[Locator]:
    """The locators of a ledger cell (joined by `` ; ``); an empty cell gives none."""
    return [parse_locator(part) for part in text.split(" ; ") if part.strip()]


def read_ledger(path: str | Path) -> pd.DataFrame:
    """Read and check the claims ledger; one row per claim, every column as text.

    Checks: the header is exactly :data:`LEDGER_COLUMNS`; ids are unique and well formed; study,
    source and test are known; a numeric test's ``published`` parses (:func:`printed_value`) and
    ``value`` and ``tolerance`` equal what it implies; a qualitative test has them empty; every
    locator parses; a row without a locator says in ``note`` what is missing.

    Raises:
        LedgerError: naming the file, the row (as the line number and the id) and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise LedgerError(f"{path}: the claims ledger is not there")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = list(reader)
    if not rows or tuple(rows[0]) != LEDGER_COLUMNS:
        raise LedgerError(
            f"{path}: line 1: expected the columns {list(LEDGER_COLUMNS)} (tab-separated), "
            f"found {rows[0] if rows else 'an empty file'}"
        )
    records = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(LEDGER_COLUMNS):
            raise LedgerError(
                f"{path}: line {line}: {len(row)} fields, expected {len(LEDGER_COLUMNS)}"
            )
        record = dict(zip(LEDGER_COLUMNS, (cell.strip() for cell in row), strict=True))
        where = f"{path}: line {line} (id {record['id']!r})"
        _check_row(record, where)
        if record["id"] in seen:
            raise LedgerError(f"{where}: column 'id' repeats line {seen[record['id']]}")
        seen[record["id"]] = line
        records.append(record)
    if not records:
        raise LedgerError(f"{path}: no claims")
    return pd.DataFrame.from_records(records, columns=list(LEDGER_COLUMNS))


def _check_row(record: dict[str, str], where: str) -> None:
    if not _ID.fullmatch(record["id"]):
        raise LedgerError(f"{where}: column 'id' must be letters, digits and '-'")
    for column, allowed in (("study", STUDIES), ("source", SOURCES), ("test", TESTS)):
        if record[column] not in allowed:
            raise LedgerError(
                f"{where}: column {column!r} is {record[column]!r}; expected one of {list(allowed)}"
            )
    for column in ("where", "quantity", "published"):
        if not record[column]:
            raise LedgerError(f"{where}: column {column!r} is empty")
    if record["test"] in NUMERIC_TESTS:
        try:
            value, tolerance = printed_value(record["published"])
        except ValueError as exc:
            raise LedgerError(f"{where}: column 'published': {exc}") from None
        for column, expected in (("value", value), ("tolerance", tolerance)):
            try:
                given = float(record[column])
            except ValueError:
                raise LedgerError(
                    f"{where}: column {column!r} is {record[column]!r}; expected {expected:g} "
                    f"(from the printed {record['published']!r})"
                ) from None
            # every printed digit counts (their CSVs print 17 significant digits)
            if not math.isclose(given, expected, rel_tol=1e-12, abs_tol=1e-15):
                raise LedgerError(
                    f"{where}: column {column!r} is {given!r}; the printed "
                    f"{record['published']!r} implies {expected!r}"
                )
    elif (record["test"] == "unread") != (record["published"] == UNREAD):
        raise LedgerError(
            f"{where}: column 'published' is {record['published']!r} with test "
            f"{record['test']!r}: a value that was not read is {UNREAD!r} with test 'unread'"
        )
    if record["test"] not in NUMERIC_TESTS and (record["value"] or record["tolerance"]):
        raise LedgerError(
            f"{where}: test {record['test']!r} is qualitative: 'value' and 'tolerance' stay empty"
        )
    for column in ("locator", "corrected_locator"):
        try:
            located = parse_locators(record[column])
        except ValueError as exc:
            raise LedgerError(f"{where}: column {column!r}: {exc}") from None
        if record["test"] in NUMERIC_TESTS and len(located) > 1:
            raise LedgerError(f"{where}: column {column!r}: test {record['test']!r} takes one")
    if not record["locator"] and not record["note"]:
        raise LedgerError(
            f"{where}: no locator: column 'note' must say what polface lacks to compute it"
        )

"""Every published claim beside polface's value: the verdicts of the claims ledger.

:func:`evaluate_claims` reads each claim's locator (:mod:`polface.data.claims`) in the run's
outputs and gives one verdict of :data:`VERDICTS`:

``reproduced``
    polface's as-published computation is within the printed precision (half a unit of the last
    printed digit), or the qualitative test holds.
``differs``
    it is not; ``difference`` says by how much (polface minus published).
``not computable here``
    polface lacks what it needs; ``detail`` says what (the OSF release, the unreleased
    photographs, a study this run did not configure, a printed value that was not read).
``synthetic data``
    the run's Kosinski cohort is the synthetic demo cohort: polface's value is listed, but no
    verdict is given on a claim about real people.

Where the ledger names a corrected computation (a fixed AUC direction, clustered SEs), its value
is listed beside the as-published one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.claims import NUMERIC_TESTS, Locator, parse_locators
from polface.errors import InputError

VERDICTS: tuple[str, ...] = ("reproduced", "differs", "not computable here", "synthetic data")
#: z of the 95% normal interval of ``column±se`` locators.
Z95 = 1.959963984540054
CLAIMS_COLUMNS: tuple[str, ...] = (
    "id",
    "study",
    "where",
    "quantity",
    "published",
    "source",
    "polface",
    "lo",
    "hi",
    "difference",
    "verdict",
    "detail",
    "corrected",
    "corrected_lo",
    "corrected_hi",
    "output",
)


class ClaimsError(InputError):
    """An output does not hold what a claim's locator names (the message names both)."""


class NoRowError(ClaimsError):
    """A locator selects no row: this run did not compute that cell (e.g. a sample left out)."""


@dataclass(frozen=True)
class Reading:
    """A located value with its 95% interval (NaN where there is none) and the file it came from."""

    value: float
    lo: float
    hi: float
    file: str


@dataclass(frozen=True)
class StudyRun:
    """What this run holds for a study of the ledger.

    ``status``: ``real`` (the published data), ``synthetic`` (the demo cohort: values are read,
    no verdict is given) or ``missing`` (``reason`` says what is lacking). ``cohort`` fills a
    locator's ``{cohort}``. A study whose claims are partly computed on a Kosinski cohort (Khan
    et al.'s Table 2 on the OSF release) gives those claims their own ``cohort_status`` and
    ``cohort_reason`` (:meth:`for_claim`); left ``None``, they share ``status`` and ``reason``.
    """

    status: str
    reason: str = ""
    cohort: str | None = None
    cohort_status: str | None = None
    cohort_reason: str = ""

    def for_claim(self, *locators: str) -> StudyRun:
        """The run of a claim whose locator cells are ``locators``: the cohort's where they name
        ``{cohort}`` and this study has a ``cohort_status``, else this one."""
        if self.cohort_status is None or not any("{cohort}" in text for text in locators):
            return self
        return StudyRun(self.cohort_status, self.cohort_reason, self.cohort)


def locator_file(locator: Locator, run: StudyRun) -> str:
    """The locator's file relative to ``results/``, ``{cohort}`` filled in."""
    if "{cohort}" in locator.file:
        if run.cohort is None:
            raise ClaimsError(f"locator {locator.text!r} names {{cohort}} but the run has none")
        return locator.file.replace("{cohort}", run.cohort)
    return locator.file


def claim_files(ledger: pd.DataFrame, runs: Mapping[str, StudyRun]) -> list[str]:
    """Every output file (relative to ``results/``) the ledger's claims read in this run, sorted."""
    files = set()
    for claim in ledger.itertuples(index=False):
        run = runs.get(claim.study)
        if run is None:
            continue
        run = run.for_claim(claim.locator, claim.corrected_locator)
        if run.status == "missing":
            continue
        for text in (claim.locator, claim.corrected_locator):
            files.update(locator_file(loc, run) for loc in parse_locators(text))
    return sorted(files)


def _column(frame: pd.DataFrame, name: str, where: str) -> pd.Series:
    parts = name.split("-") if name not in frame.columns else [name]
    missing = [p for p in parts if p not in frame.columns]
    if missing:
        raise ClaimsError(f"{where}: no column {missing[0]!r} (columns: {list(frame.columns)})")
    values = [pd.to_numeric(frame[p], errors="coerce") for p in parts]
    return values[0] - values[1] if len(values) == 2 else values[0]


def read_locator(locator: Locator, frame: pd.DataFrame, file: str) -> Reading:
    """The value (and interval) that ``locator`` names in ``frame`` (the table read from ``file``).

    Raises:
        NoRowError: the locator selects no row (the run did not compute the cell).
        ClaimsError: a filter or value column is not in the table, or a locator without an
            aggregate selects more than one row (the message names the file and locator).
    """
    where = f"{file} ({locator.text})"
    keep = np.ones(len(frame), dtype=bool)
    for key, op, value in locator.filters:
        if key not in frame.columns:
            raise ClaimsError(f"{where}: no column {key!r} to filter on")
        left = frame[key].astype(str)
        if value.startswith("@"):
            if value[1:] not in frame.columns:
                raise ClaimsError(f"{where}: no column {value[1:]!r} to compare with")
            right = frame[value[1:]].astype(str)
        else:
            right = value
        same = (left == right).to_numpy()
        keep &= same if op == "=" else ~same
    rows = frame.loc[keep]
    values = _column(rows, locator.column, where)
    if locator.aggregate is not None:
        if rows.empty:
            raise NoRowError(f"{where}: selects no row")
        value = float(getattr(values, locator.aggregate)())
        return Reading(value, math.nan, math.nan, file)
    if rows.empty:
        raise NoRowError(f"{where}: selects no row")
    if len(rows) != 1:
        raise ClaimsError(f"{where}: selects {len(rows)} rows, expected exactly one")
    value = float(values.iloc[0])
    lo = hi = math.nan
    if locator.lo is not None:
        lo = float(_column(rows, locator.lo, where).iloc[0])
        hi = float(_column(rows, locator.hi, where).iloc[0])
    elif locator.se is not None:
        se = float(_column(rows, locator.se, where).iloc[0])
        lo, hi = value - Z95 * se, value + Z95 * se
    return Reading(value, lo, hi, file)


def judge(test: str, readings: list[Reading], value: float, tolerance: float) -> tuple[str, str]:
    """The verdict (``reproduced`` or ``differs``) of a test on polface's readings, and why.

    ``equal``: ``|polface − value| <= tolerance`` (plus 1e-12 for the binary representation of the
    printed value); ``below``: ``polface < value``; ``positive`` / ``negative``: every interval
    above / below zero; ``null``: every interval holds zero; ``inconsistent``: the intervals do not
    all lie on the same side of zero; ``chance``: every interval holds 0.5.
    """
    if test == "equal":
        diff = readings[0].value - value
        if abs(diff) <= tolerance + 1e-12:
            return "reproduced", "within the printed precision"
        return "differs", f"by {diff:+.4g} (printed precision ±{tolerance:g})"
    if test == "below":
        if readings[0].value < value:
            return "reproduced", f"{readings[0].value:.4g} < {value:g}"
        return "differs", f"{readings[0].value:.4g} is not below {value:g}"
    sides = []
    for reading in readings:
        if math.isnan(reading.lo) or math.isnan(reading.hi):
            raise ClaimsError(f"{reading.file}: test {test!r} needs an interval")
        sides.append(1 if reading.lo > 0 else -1 if reading.hi < 0 else 0)
    intervals = "; ".join(f"{r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}]" for r in readings)
    holds = {
        "positive": all(s == 1 for s in sides),
        "negative": all(s == -1 for s in sides),
        "null": all(s == 0 for s in sides),
        "chance": all(r.lo <= 0.5 <= r.hi for r in readings),
        "inconsistent": not (all(s == 1 for s in sides) or all(s == -1 for s in sides)),
    }[test]
    return ("reproduced" if holds else "differs"), f"95% CI: {intervals}"


def _read(
    text: str, run: StudyRun, results: Path, tables: dict[str, pd.DataFrame]
) -> list[Reading]:
    readings = []
    for locator in parse_locators(text):
        file = locator_file(locator, run)
        if file not in tables:
            path = results / file
            if not path.is_file():
                raise ClaimsError(f"{path}: not found (named by the claims ledger: {locator.text})")
            tables[file] = pd.read_csv(path)
        readings.append(read_locator(locator, tables[file], file))
    return readings


def _corrected_only(
    row: dict[str, object],
    text: str,
    run: StudyRun,
    results: Path,
    tables: dict[str, pd.DataFrame],
) -> None:
    """List polface's corrected computation of a claim whose as-published one it cannot redo."""
    try:
        corrected = _read(text, run, results, tables)
    except NoRowError as exc:
        row["detail"] = f"{row['detail']}; this run did not compute {exc}"
        return
    row.update(
        corrected=corrected[0].value,
        corrected_lo=corrected[0].lo,
        corrected_hi=corrected[0].hi,
        output=" ; ".join(dict.fromkeys(r.file for r in corrected)),
    )


def evaluate_claims(
    ledger: pd.DataFrame, runs: Mapping[str, StudyRun], *, results: str | Path
) -> pd.DataFrame:
    """One row per claim (:data:`CLAIMS_COLUMNS`): polface's value, interval, difference, verdict.

    Args:
        ledger: :func:`polface.data.claims.read_ledger`.
        runs: per study of the ledger, what this run holds (:class:`StudyRun`); a study that is
            not a key is ``missing`` with a generic reason.
        results: the folder the locators are relative to (``results/``).

    ``polface`` is the as-published computation (``locator``), ``corrected`` the corrected one
    (``corrected_locator``); ``difference`` is polface minus the printed value for numeric tests.
    """
    results = Path(results)
    tables: dict[str, pd.DataFrame] = {}
    rows = []
    for claim in ledger.itertuples(index=False):
        run = runs.get(claim.study, StudyRun("missing", f"this run does not hold {claim.study}"))
        run = run.for_claim(claim.locator, claim.corrected_locator)
        row: dict[str, object] = {c: getattr(claim, c) for c in CLAIMS_COLUMNS[:6]}
        row.update(polface=math.nan, lo=math.nan, hi=math.nan, difference=math.nan)
        row.update(corrected=math.nan, corrected_lo=math.nan, corrected_hi=math.nan, output="")
        if not claim.locator:
            row.update(verdict="not computable here", detail=claim.note)
            if claim.corrected_locator and run.status != "missing":
                _corrected_only(row, claim.corrected_locator, run, results, tables)
        elif run.status == "missing":
            row.update(verdict="not computable here", detail=run.reason)
        else:
            try:
                readings = _read(claim.locator, run, results, tables)
                corrected = _read(claim.corrected_locator, run, results, tables)
            except NoRowError as exc:
                row.update(verdict="not computable here", detail=f"this run did not compute {exc}")
                rows.append(row)
                continue
            first = readings[0]
            row.update(polface=first.value, lo=first.lo, hi=first.hi)
            row["output"] = " ; ".join(dict.fromkeys(r.file for r in readings + corrected))
            if corrected:
                row.update(
                    corrected=corrected[0].value,
                    corrected_lo=corrected[0].lo,
                    corrected_hi=corrected[0].hi,
                )
            numeric = claim.test in NUMERIC_TESTS
            if numeric:
                row["difference"] = first.value - float(claim.value)
            if run.status == "synthetic":
                row.update(
                    verdict="synthetic data",
                    detail=f"{run.reason}: no verdict on a claim about real people",
                )
            elif claim.test == "unread":
                row.update(verdict="not computable here", detail=claim.note)
            else:
                tolerance = float(claim.tolerance) if numeric else math.nan
                value = float(claim.value) if numeric else math.nan
                verdict, why = judge(claim.test, readings, value, tolerance)
                if corrected and not numeric:
                    corrected_verdict, _ = judge(claim.test, corrected, value, tolerance)
                    if corrected_verdict != verdict:
                        why += f"; with the corrected computation: {corrected_verdict}"
                row.update(verdict=verdict, detail=why)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))


def claims_summary(claims: pd.DataFrame) -> dict[str, int]:
    """``{'claims': n, verdict: count, ...}`` for every verdict of :data:`VERDICTS`."""
    counts = claims["verdict"].value_counts()
    return {"claims": len(claims), **{v: int(counts.get(v, 0)) for v in VERDICTS}}


def summary_sentence(claims: pd.DataFrame) -> str:
    """``'97 claims: 40 reproduced, 6 differ, 51 not computable here, 0 synthetic data'``."""
    s = claims_summary(claims)
    return (
        f"{s['claims']} claims: {s['reproduced']} reproduced, {s['differs']} differ, "
        f"{s['not computable here']} not computable here, {s['synthetic data']} on synthetic data"
    )


def _number(value: float) -> str:
    if math.isnan(value):
        return ""
    if float(value).is_integer() and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.2g}"


def _difference(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value:+,.0f}" if abs(value) >= 1 else f"{value:+.2g}"


def _with_ci(value: float, lo: float, hi: float) -> str:
    text = _number(value)
    if text and not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{_number(lo)}, {_number(hi)}]"
    return text


def claims_display(claims: pd.DataFrame) -> pd.DataFrame:
    """The Markdown layout: id, where, quantity, published, polface [CI], corrected, verdict."""
    return pd.DataFrame(
        {
            "claim": claims["id"],
            "where": claims["where"],
            "quantity": claims["quantity"],
            "published": claims["published"] + " " + claims["source"],
            "polface [95% CI]": [
                _with_ci(r.polface, r.lo, r.hi) for r in claims.itertuples(index=False)
            ],
            "corrected [95% CI]": [
                _with_ci(r.corrected, r.corrected_lo, r.corrected_hi)
                for r in claims.itertuples(index=False)
            ],
            "difference": [_difference(d) for d in claims["difference"]],
            "verdict": claims["verdict"],
            "detail": claims["detail"],
        }
    )


def claims_markdown(claims: pd.DataFrame, *, run: str) -> str:
    """``results/claims.md``: the summary, then one table per study."""
    from polface.report.render import to_markdown

    lines = [
        "# Published claims beside polface's values",
        "",
        f"{summary_sentence(claims)} (run: {run}).",
        "",
        "polface's value is the as-published computation; *corrected* is polface's corrected "
        "computation of the same quantity (fixed AUC direction, SEs clustered by candidate) where "
        "it differs in method. Verdicts: reproduced (within half a unit of the last printed "
        "digit, or the qualitative test holds), differs, not computable here (and what is "
        "missing), synthetic data (the demo cohort: no verdict on a claim about real people).",
        "",
    ]
    for study, part in claims.groupby("study", sort=False):
        counts = summary_sentence(part)
        lines += [f"## {study}", "", counts, "", to_markdown(claims_display(part), index=False)]
    return "\n".join(lines)

"""Paper tables as DataFrames (Kosinski 2021 Table 1, Table 2, Table S1) and their renderings.

Every table function is pure: it takes DataFrames and returns a DataFrame. The renderers write
small, dependency-free GitHub Markdown and LaTeX ``tabular`` text; :func:`write_table` writes a
table as CSV, Markdown and LaTeX, each atomically (temporary file in the same directory, then
``os.replace``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.osf import FEMALE_CODE, ORIENTATIONS
from polface.frames import AUC_COLUMNS, auc_columns, require_columns
from polface.io import write_atomic
from polface.metrics import (
    delong_ci,
    demographic_strata,
    majority_accuracy,
    paired_accuracy,
    permutation_auc,
)

#: Decimals of Table 1's Markdown and LaTeX renderings (counts, percentages, ages).
TABLE1_DIGITS = 1


def _numeric(series: pd.Series) -> pd.Series:
    """A column as float64 with NaN for missing (works for Int32, object and float columns)."""
    return pd.to_numeric(series.astype(object), errors="raise").astype(float)


def table1(faces: pd.DataFrame, *, samples: Sequence[str], id_column: str) -> pd.DataFrame:
    """Sample description (Kosinski 2021, Table 1): one row per sample × orientation.

    Rows of a sample are those where its column (e.g. ``pol_dat_us``) is not NA; orientation comes
    from ``pol`` and is checked against the sample's 0 = liberal / 1 = conservative code.

    Args:
        faces: the ``faces`` table (columns ``pol``, ``gender``, ``age``, ``country``, ``database``,
            ``ethnicity.value`` and the sample columns).
        samples: sample columns to describe, in display order.
        id_column: the id column of ``faces`` (named in errors).

    ``gender`` counts as female where it equals :data:`polface.data.osf.FEMALE_CODE`.

    Returns:
        DataFrame with ``sample``, ``country``, ``platform`` (``database``), ``orientation``, ``n``,
        ``pct_female`` and ``pct_white`` (percent of the rows where the variable is known),
        ``n_age`` (rows with a known age), ``age_q1``, ``age_median``, ``age_q3`` (R's default
        type-7 quantiles, as ``summary()``; NA ignored) and ``age_mean``.
    """
    needed = [id_column, "pol", "gender", "age", "country", "database", "ethnicity.value"]
    require_columns(faces, [*needed, *samples], table="faces (for Table 1)")
    pol = faces["pol"].astype(object)
    rows = []
    for sample in samples:
        code = _numeric(faces[sample])
        member = code.notna().to_numpy()
        expected = np.where(code.to_numpy() == 1, "conservative", "liberal")
        mismatch = member & (pol.to_numpy() != expected)
        if mismatch.any():
            i = int(np.flatnonzero(mismatch)[0])
            raise ValueError(
                f"faces row {i + 1} ({id_column} {faces[id_column].iloc[i]!r}): {sample} = "
                f"{code.iloc[i]:g} but pol = {pol.iloc[i]!r}"
                " (expected 0 = liberal, 1 = conservative)"
            )
        part = faces.loc[member]
        for orientation in ORIENTATIONS:
            group = part.loc[part["pol"].astype(object) == orientation]
            gender = _numeric(group["gender"]).dropna()
            ethnicity = group["ethnicity.value"].astype(object).dropna()
            age = _numeric(group["age"]).dropna()
            quartiles = np.quantile(age, [0.25, 0.5, 0.75]) if len(age) else [np.nan] * 3
            rows.append(
                {
                    "sample": sample,
                    "country": "/".join(sorted(map(str, part["country"].dropna().unique()))),
                    "platform": "/".join(sorted(map(str, part["database"].dropna().unique()))),
                    "orientation": orientation,
                    "n": len(group),
                    "pct_female": 100.0 * float((gender == FEMALE_CODE).mean())
                    if len(gender)
                    else np.nan,
                    "pct_white": 100.0 * float((ethnicity == "white").mean())
                    if len(ethnicity)
                    else np.nan,
                    "n_age": len(age),
                    "age_q1": float(quartiles[0]),
                    "age_median": float(quartiles[1]),
                    "age_q3": float(quartiles[2]),
                    "age_mean": float(age.mean()) if len(age) else np.nan,
                }
            )
    out = pd.DataFrame(rows)
    return out.astype({"n": "int64", "n_age": "int64"})


def auc_table(
    predictions: pd.DataFrame,
    *,
    by: str,
    target_column: str,
    id_column: str,
    level: float = 0.95,
) -> pd.DataFrame:
    """AUC with DeLong CI for every (``by``, target) cell of long-form out-of-fold predictions.

    Args:
        predictions: columns ``by`` (e.g. ``model``), ``target_column`` (``sample`` for the OSF
            cohorts), ``id_column``, ``y`` (0/1) and ``score``; one row per (``by``, target, id).
        by: the column naming what produced the scores.
        target_column: the column naming the scored sample or target.
        id_column: the row id column.
        level: confidence level (the paper's 95%).

    Returns:
        Long DataFrame ``[by, target_column, n, n_positive, n_negative, auc, lo, hi, se]``
        (:func:`polface.frames.auc_columns`) in the order in which the ``by`` values and targets
        first appear.
    """
    require_columns(predictions, [by, target_column, id_column, "y", "score"], table="predictions")
    key = [by, target_column, id_column]
    dup = predictions.duplicated(key, keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        row = predictions.iloc[i]
        raise ValueError(
            f"predictions row {i + 1}: {by} {row[by]!r}, {target_column} {row[target_column]!r},"
            f" {id_column} {row[id_column]!r} appears more than once ({int(dup.sum())} rows are"
            " duplicates)"
        )
    rows = []
    groups = predictions.groupby([by, target_column], sort=False, observed=True)
    for (producer, target), cell in groups:
        try:
            value, lo, hi, se = delong_ci(cell["y"], cell["score"], level=level)
        except ValueError as error:
            raise ValueError(f"{by} {producer!r} on {target_column} {target!r}: {error}") from error
        y = _numeric(cell["y"])
        rows.append(
            {
                by: producer,
                target_column: target,
                "n": len(cell),
                "n_positive": int((y == 1).sum()),
                "n_negative": int((y == 0).sum()),
                "auc": value,
                "lo": lo,
                "hi": hi,
                "se": se,
            }
        )
    return pd.DataFrame(rows, columns=list(auc_columns(by=by, target_column=target_column)))


def table2(
    predictions: pd.DataFrame, *, target_column: str, id_column: str, level: float = 0.95
) -> pd.DataFrame:
    """Kosinski's Table 2 in long form: every model's AUC on every sample with its DeLong CI.

    Args:
        predictions: out-of-fold predictions ``model``, ``target_column``, ``id_column``, ``y``,
            ``score`` (a model fitted on one sample scores the held-out rows of every sample).
        target_column, id_column: as in :func:`auc_table`.
        level: confidence level.

    Returns:
        ``[model, target_column, n, n_positive, n_negative, auc, lo, hi, se]``; see
        :func:`wide_display`.
    """
    return auc_table(
        predictions, by="model", target_column=target_column, id_column=id_column, level=level
    )


def table_s1(
    predictions: pd.DataFrame, *, target_column: str, id_column: str, level: float = 0.95
) -> pd.DataFrame:
    """Table S1: AUC with DeLong CI of each interpretable feature set on each sample.

    Args:
        predictions: out-of-fold predictions ``feature_set``, ``target_column``, ``id_column``,
            ``y``, ``score`` (e.g. a model on :func:`polface.data.osf.interpretable_features` per
            set; personality only where available, i.e. the Facebook sample).
        target_column, id_column: as in :func:`auc_table`.
        level: confidence level.

    Returns:
        ``[feature_set, target_column, n, n_positive, n_negative, auc, lo, hi, se]``.
    """
    return auc_table(
        predictions,
        by="feature_set",
        target_column=target_column,
        id_column=id_column,
        level=level,
    )


def child_seed(seed: int, index: int) -> int:
    """A reproducible, well-mixed 32-bit seed for the ``index``-th sub-task of a seeded job."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def figure2_table(
    predictions: pd.DataFrame,
    faces: pd.DataFrame,
    *,
    target_column: str,
    id_column: str,
    n_permutations: int,
    seed: int,
    level: float = 0.95,
) -> pd.DataFrame:
    """The numbers behind Figure 2: per sample, the within-sample model's AUC and its controls.

    For each sample, the out-of-fold predictions of the model trained on that sample (rows where
    ``model`` equals the ``target_column``) give the AUC with DeLong CI, the accuracy on
    liberal–conservative pairs matched on gender, Face++ ethnicity and rounded Face++ age
    (:func:`demographic_strata`,
    :func:`polface.metrics.paired_accuracy`), the permutation baseline (sub-seed
    :func:`child_seed` ``(seed, k)`` for the k-th sample) and the majority-class accuracy.

    Args:
        predictions: long-form out-of-fold predictions as for :func:`table2`.
        faces: the ``faces`` table (``id_column`` and the strata columns).
        target_column: the predictions' column naming the sample (``sample``).
        id_column: the id column of ``faces`` and of the predictions.
        n_permutations: label permutations per sample.
        seed: seed of the permutation baselines.
        level: confidence level of the CI and coverage of the permutation interval.

    Returns:
        DataFrame ``<target_column>, n, auc, lo, hi, se, paired_accuracy, n_pairs, perm_mean,
        perm_lo, perm_hi, majority_accuracy`` (the columns :func:`polface.report.figures.figure2`
        needs when ``target_column`` is ``sample``).
    """
    require_columns(
        predictions, ["model", target_column, id_column, "y", "score"], table="predictions"
    )
    require_columns(faces, [id_column], table="faces")
    strata = demographic_strata(faces)
    strata.index = pd.Index(faces[id_column].astype(str), name=id_column)
    if strata.index.has_duplicates:
        raise ValueError(f"faces has duplicated {id_column}s")
    own = predictions[predictions["model"].astype(str) == predictions[target_column].astype(str)]
    if own.empty:
        raise ValueError(
            f"predictions have no rows where model == {target_column} (within-sample scores)"
        )
    rows = []
    for k, (sample, cell) in enumerate(own.groupby(target_column, sort=False, observed=True)):
        ids = cell[id_column].astype(str)
        unknown = ~ids.isin(strata.index)
        if unknown.any():
            raise KeyError(
                f"{target_column} {sample!r}: {id_column} {ids[unknown].iloc[0]!r} of the"
                f" predictions is not in faces ({int(unknown.sum())} such rows)"
            )
        value, lo, hi, se = delong_ci(cell["y"], cell["score"], level=level)
        accuracy, n_pairs = paired_accuracy(
            cell["y"], cell["score"], strata.loc[ids.to_numpy()].reset_index(drop=True)
        )
        baseline = permutation_auc(
            cell["y"], cell["score"], n_permutations, child_seed(seed, k), level=level
        )
        rows.append(
            {
                target_column: sample,
                "n": len(cell),
                "auc": value,
                "lo": lo,
                "hi": hi,
                "se": se,
                "paired_accuracy": accuracy,
                "n_pairs": n_pairs,
                "perm_mean": baseline.mean,
                "perm_lo": baseline.lo,
                "perm_hi": baseline.hi,
                "majority_accuracy": majority_accuracy(cell["y"]),
            }
        )
    return pd.DataFrame(rows)


def format_ci(value: float, lo: float, hi: float, digits: int = 2) -> str:
    """``'0.72 [0.70, 0.74]'``; the interval is left out where it is NaN."""
    if math.isnan(lo) or math.isnan(hi):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def wide_display(long: pd.DataFrame, *, target_column: str, digits: int = 2) -> pd.DataFrame:
    """Display form of :func:`table2` / :func:`table_s1`: rows = models, columns = samples.

    Cells read ``'0.72 [0.70, 0.74]'`` (empty where a model was not evaluated on a sample); a last
    row ``n`` gives each sample's size (``'a–b'`` if it differs between models).

    Args:
        long: output of :func:`table2` or :func:`table_s1` (first column names the producer).
        target_column: the column of ``long`` naming the sample (or target).
        digits: decimals shown.

    Returns:
        DataFrame of str, indexed by producer (index name = the first column of ``long``).
    """
    by = long.columns[0]
    producers = list(pd.unique(long[by]))
    samples = list(pd.unique(long[target_column]))
    cells = pd.DataFrame("", index=pd.Index(producers, name=by, dtype=object), columns=samples)
    for row in long.itertuples(index=False):
        record = row._asdict()
        cells.loc[record[by], record[target_column]] = format_ci(
            record["auc"], record["lo"], record["hi"], digits
        )
    sizes = long.groupby(target_column, sort=False)["n"].agg(["min", "max"])
    n_row = [
        str(sizes.loc[s, "min"])
        if sizes.loc[s, "min"] == sizes.loc[s, "max"]
        else f"{sizes.loc[s, 'min']}–{sizes.loc[s, 'max']}"
        for s in samples
    ]
    cells.loc["n"] = n_row
    cells.columns = pd.Index(samples, dtype=object)
    return cells.astype(object)


# ----------------------------------------------------------------------------------------------
# Renderers


def _cell_text(value: object, digits: int) -> str:
    """Plain text of one cell: NA → '', floats with ``digits`` decimals, the rest via str."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        return "" if math.isnan(number) else f"{number:.{digits}f}"
    return str(value)


def _use_index(df: pd.DataFrame, index: bool | None) -> bool:
    if index is not None:
        return index
    return not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1)


def _grid(
    df: pd.DataFrame, index: bool | None, digits: int
) -> tuple[list[str], list[list[str]], list[bool]]:
    """Header, body cells and a right-alignment flag per column."""
    if isinstance(df.columns, pd.MultiIndex) or isinstance(df.index, pd.MultiIndex):
        raise ValueError("MultiIndex tables are not supported; reset or flatten the index first")
    header = [str(c) for c in df.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        for c in df.columns
    ]
    body = [[_cell_text(v, digits) for v in row] for row in df.itertuples(index=False, name=None)]
    if _use_index(df, index):
        header = ["" if df.index.name is None else str(df.index.name), *header]
        numeric = [pd.api.types.is_numeric_dtype(df.index), *numeric]
        body = [[_cell_text(i, digits), *row] for i, row in zip(df.index, body, strict=True)]
    return header, body, numeric


_MARKDOWN_ESCAPES: Mapping[str, str] = {
    "\\": "\\\\",
    "|": "\\|",
    "*": "\\*",
    "_": "\\_",
    "`": "\\`",
    "#": "\\#",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\n": " ",
    "\r": " ",
}


def escape_markdown(text: str) -> str:
    """Escape text for a GitHub-flavoured Markdown table cell."""
    return "".join(_MARKDOWN_ESCAPES.get(ch, ch) for ch in text)


def to_markdown(df: pd.DataFrame, *, index: bool | None = None, digits: int = 3) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table.

    Args:
        df: the table (flat columns and index).
        index: include the index as the first column; default: when it is not a plain 0..n−1
            RangeIndex.
        digits: decimals for float cells (NaN and NA render empty).

    Returns:
        The table text, ending with a newline. Numeric columns are right-aligned.
    """
    header, body, numeric = _grid(df, index, digits)
    lines = [
        "| " + " | ".join(escape_markdown(h) for h in header) + " |",
        "|" + "|".join("---:" if r else ":---" for r in numeric) + "|",
    ]
    lines += ["| " + " | ".join(escape_markdown(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES: Mapping[str, str] = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\n": " ",
    "\r": " ",
}


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters (``\\ & % $ # _ { } ~ ^``) in text-mode content."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, *, index: bool | None = None, digits: int = 3) -> str:
    """Render a DataFrame as a LaTeX ``tabular`` (plain ``\\hline`` rules, no extra packages).

    Args:
        df: the table (flat columns and index).
        index: as in :func:`to_markdown`.
        digits: decimals for float cells.

    Returns:
        ``\\begin{tabular}{...}`` … ``\\end{tabular}``, ending with a newline.
    """
    header, body, numeric = _grid(df, index, digits)
    spec = "".join("r" if r else "l" for r in numeric)
    lines = [
        f"\\begin{{tabular}}{{{spec}}}",
        r"\hline",
        " & ".join(escape_latex(h) for h in header) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(escape_latex(c) for c in row) + r" \\" for row in body]
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(
    df: pd.DataFrame,
    *,
    csv: str | Path,
    md: str | Path,
    tex: str | Path,
    index: bool | None = None,
    digits: int = 3,
) -> dict[str, Path]:
    """Write ``df`` as CSV (full precision), Markdown and LaTeX, each atomically.

    Args:
        df: the table.
        csv, md, tex: the three output paths (their directories are created).
        index: as in :func:`to_markdown` (also decides whether the CSV has the index).
        digits: decimals in the Markdown and LaTeX renderings.

    Returns:
        ``{"csv": path, "md": path, "tex": path}``.
    """
    with_index = _use_index(df, index)
    return {
        "csv": write_atomic(csv, df.to_csv(index=with_index, lineterminator="\n")),
        "md": write_atomic(md, to_markdown(df, index=with_index, digits=digits)),
        "tex": write_atomic(tex, to_latex(df, index=with_index, digits=digits)),
    }


def auc_with_baselines(
    predictions: pd.DataFrame,
    by: Sequence[str],
    *,
    target_column: str,
    id_column: str,
    n_permutations: int,
    seed: int,
    level: float = 0.95,
) -> pd.DataFrame:
    """:func:`auc_table` for every group of ``by`` plus, per cell, the baselines to read it against.

    ``by[-1]`` names the producer of the scores (``model`` or ``feature_set``); earlier columns
    (e.g. ``method``) split the predictions into separate tables. Each cell gets the majority-class
    accuracy of its labels and the AUC of permuted labels (mean and central ``level`` interval;
    sub-seed :func:`child_seed` ``(seed, i)`` for the i-th cell).

    Returns:
        ``[*by, target_column, n, n_positive, n_negative, auc, lo, hi, se, majority_accuracy,
        perm_mean, perm_lo, perm_hi]``.
    """
    *groups, producer = by
    require_columns(predictions, [*groups], table="predictions")
    frames = []
    parts = predictions.groupby(groups, sort=False) if groups else [((), predictions)]
    for key, part in parts:
        long = auc_table(
            part, by=producer, target_column=target_column, id_column=id_column, level=level
        )
        values = key if isinstance(key, tuple) else (key,)
        for position, (name, value) in enumerate(zip(groups, values, strict=True)):
            long.insert(position, name, value)
        frames.append(long)
    out = pd.concat(frames, ignore_index=True)[[*by, target_column, *AUC_COLUMNS]]
    cells = predictions.groupby([*by, target_column], sort=False, observed=True)
    extra = []
    for i, row in enumerate(out.itertuples(index=False)):
        record = row._asdict()
        cell = cells.get_group(tuple(record[c] for c in [*by, target_column]))
        baseline = permutation_auc(
            cell["y"], cell["score"], n_permutations, child_seed(seed, i), level=level
        )
        extra.append(
            {
                "majority_accuracy": majority_accuracy(cell["y"]),
                "perm_mean": baseline.mean,
                "perm_lo": baseline.lo,
                "perm_hi": baseline.hi,
            }
        )
    return pd.concat([out, pd.DataFrame(extra)], axis=1)


def write_display_table(
    long: pd.DataFrame,
    by: Sequence[str],
    *,
    target_column: str,
    csv: str | Path,
    md: str | Path,
    tex: str | Path,
) -> dict[str, Path]:
    """``csv`` with every number of ``long``; ``md`` and ``tex`` in display form (atomic).

    The display has one row per producer (``by[-1]``), labelled ``group · producer`` when there are
    grouping columns, and one column per target with ``'AUC [lo, hi]'``.
    """
    *groups, producer = by
    blocks = []
    parts = long.groupby(groups, sort=False) if groups else [((), long)]
    for key, part in parts:
        columns = [producer, target_column, *AUC_COLUMNS]
        wide = wide_display(part[columns], target_column=target_column)
        if groups:
            label = " · ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            wide.index = pd.Index([f"{label} · {i}" for i in wide.index], name=producer)
        blocks.append(wide)
    display = pd.concat(blocks).fillna("")
    return {
        "csv": write_atomic(csv, long.to_csv(index=False, lineterminator="\n")),
        "md": write_atomic(md, to_markdown(display, index=True)),
        "tex": write_atomic(tex, to_latex(display, index=True)),
    }

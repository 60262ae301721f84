"""Rendering of the paper tables: display cells, Markdown, LaTeX and CSV, written atomically.

Every renderer is pure (DataFrame in, text out) except the ``write_*`` functions, which write the
three renderings of one table with :func:`polface.io.write_atomic`. The numbers come from
:mod:`polface.report.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd

from polface.frames import AUC_COLUMNS
from polface.io import write_atomic


def format_ci(value: float, lo: float, hi: float, digits: int = 2) -> str:
    """``'0.72 [0.70, 0.74]'``; the interval is left out where it is NaN."""
    if math.isnan(lo) or math.isnan(hi):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def wide_display(long: pd.DataFrame, *, target_column: str, digits: int = 2) -> pd.DataFrame:
    """Display form of Table 2 / Table S1: rows = models, columns = samples.

    Cells read ``'0.72 [0.70, 0.74]'`` (empty where a model was not evaluated on a sample); a last
    row ``n`` gives each sample's size (``'a–b'`` if it differs between models). Where ``long`` has
    ``auc_published`` (the published code's AUC) and it differs from ``auc``, the cell adds it,
    marked: ``'0.47 [0.44, 0.50] (published code: 0.53)'``.

    Args:
        long: output of ``table2`` or ``table_s1`` (first column names the producer).
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
        text = format_ci(record["auc"], record["lo"], record["hi"], digits)
        published = record.get("auc_published", record["auc"])
        if published != record["auc"]:
            # one more digit where the two round alike (0.497 and 0.503 both read 0.50)
            shown = digits + (f"{published:.{digits}f}" == f"{record['auc']:.{digits}f}")
            text += f" (published code: {published:.{shown}f})"
        cells.loc[record[by], record[target_column]] = text
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
    display: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``df`` as CSV (full precision), and it or its ``display`` as Markdown and LaTeX.

    The one writer of the workflow's csv + md + tex tables, each file atomically.

    Args:
        df: the table; the CSV holds every number of it.
        csv, md, tex: the three output paths (their directories are created).
        index: as in :func:`to_markdown` for the Markdown and LaTeX (without a ``display`` it also
            decides whether the CSV has the index; with one, the CSV is written without).
        digits: decimals in the Markdown and LaTeX renderings.
        display: the table as a reader sees it (formatted cells, e.g. ``'AUC [lo, hi]'``);
            None: ``df`` itself.

    Returns:
        ``{"csv": path, "md": path, "tex": path}``.
    """
    shown = df if display is None else display
    with_index = _use_index(shown, index)
    csv_index = with_index if display is None else False
    return {
        "csv": write_atomic(csv, df.to_csv(index=csv_index, lineterminator="\n")),
        "md": write_atomic(md, to_markdown(shown, index=with_index, digits=digits)),
        "tex": write_atomic(tex, to_latex(shown, index=with_index, digits=digits)),
    }


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
        columns += ["auc_published"] if "auc_published" in part.columns else []
        wide = wide_display(part[columns], target_column=target_column)
        if groups:
            label = " · ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
            wide.index = pd.Index([f"{label} · {i}" for i in wide.index], name=producer)
        blocks.append(wide)
    display = pd.concat(blocks).fillna("")
    return write_table(long, csv=csv, md=md, tex=tex, index=True, display=display)

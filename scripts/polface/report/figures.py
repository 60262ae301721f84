"""Paper figures, drawn with matplotlib's Agg canvas (no pyplot, no global figure state).

Output is deterministic: the same input gives the same bytes (PNG without the ``Software`` tag, SVG
with a fixed hash salt and no date, PDF without dates), and every file is written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from polface.data.osf import SAMPLE_LABELS
from polface.io import write_atomic

#: Human accuracy at telling liberal from conservative faces, from the literature Kosinski (2021)
#: cites (not measured by the paper): 0.55, 95% CI 0.52-0.58.
HUMAN_ACCURACY: tuple[float, float, float] = (0.55, 0.52, 0.58)

FIGURE2_COLUMNS: tuple[str, ...] = (
    "sample",
    "auc",
    "lo",
    "hi",
    "paired_accuracy",
    "perm_lo",
    "perm_hi",
)


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Render ``fig`` to bytes and write them atomically; the format follows the suffix.

    Supported: ``.png`` (``metadata={"Software": None}``), ``.svg`` (``svg.hashsalt`` fixed,
    no date) and ``.pdf`` (no creation date).

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    metadata: dict[str, object | None]
    if fmt == "png":
        metadata = {"Software": None}
    elif fmt == "svg":
        metadata = {"Date": None, "Creator": None}
    elif fmt == "pdf":
        metadata = {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
    else:
        raise ValueError(f"{path}: unsupported figure format {path.suffix!r} (png, svg or pdf)")
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "polface", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return write_atomic(path, buffer.getvalue())


def _check_columns(frame: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise KeyError(f"{what}: missing column(s) {absent}; expected {list(needed)}")


def figure2(
    summary: pd.DataFrame,
    *,
    labels: Mapping[str, str] = SAMPLE_LABELS,
    title: str | None = None,
) -> Figure:
    """Kosinski's Figure 2 with its controls: per sample, the AUC (bar, DeLong CI as error bar), the
    accuracy on demographically matched liberal–conservative pairs (bar beside it), and the central
    interval of AUCs under permuted labels (grey band behind the pair of bars). Bars rise from
    chance (0.5), so their heights show the signal above chance.

    Args:
        summary: one row per sample with ``sample``, ``auc``, ``lo``, ``hi`` (DeLong CI),
            ``paired_accuracy`` (:func:`polface.metrics.paired_accuracy`), ``perm_lo``, ``perm_hi``
            (:func:`polface.metrics.permutation_auc`). NaN values are drawn as gaps.
        labels: display names of the samples (default: ``US dating`` …).
        title: optional title.

    Returns:
        A matplotlib Figure (not attached to pyplot); write it with :func:`save_figure`.
    """
    _check_columns(summary, FIGURE2_COLUMNS, "figure2 summary")
    n = len(summary)
    if n == 0:
        raise ValueError("figure2 summary has no rows")
    x = np.arange(n, dtype=float)
    width = 0.38
    auc = summary["auc"].to_numpy(dtype=float)
    err = np.vstack(
        [auc - summary["lo"].to_numpy(dtype=float), summary["hi"].to_numpy(dtype=float) - auc]
    )
    fig = Figure(figsize=(max(1.6 * n + 2.0, 8.0), 4.0))
    ax = fig.add_subplot()
    for i, (band_lo, band_hi) in enumerate(
        zip(summary["perm_lo"].to_numpy(float), summary["perm_hi"].to_numpy(float), strict=True)
    ):
        ax.fill_between(
            [x[i] - 2 * width * 0.65, x[i] + 2 * width * 0.65],
            band_lo,
            band_hi,
            color="0.85",
            linewidth=0,
            zorder=0,
            label="permuted labels (95%)" if i == 0 else None,
        )
    # Bars start at chance (0.5): their height is the signal above chance, not above an
    # arbitrary axis floor.
    ax.bar(
        x - width / 2,
        auc - 0.5,
        width,
        bottom=0.5,
        color="#3b6ea8",
        label="AUC (95% CI)",
        zorder=2,
    )
    ax.errorbar(x - width / 2, auc, yerr=err, fmt="none", ecolor="black", capsize=3, zorder=3)
    paired = summary["paired_accuracy"].to_numpy(dtype=float)
    with_interval = {"paired_lo", "paired_hi"} <= set(summary.columns)
    ax.bar(
        x + width / 2,
        paired - 0.5,
        width,
        bottom=0.5,
        color="#d08c3c",
        label="accuracy, pairs matched on gender, ethnicity, age"
        + (" (95% CI)" if with_interval else ""),
        zorder=2,
    )
    if with_interval:
        paired_err = np.vstack(
            [
                paired - summary["paired_lo"].to_numpy(dtype=float),
                summary["paired_hi"].to_numpy(dtype=float) - paired,
            ]
        )
        ax.errorbar(
            x + width / 2, paired, yerr=paired_err, fmt="none", ecolor="black", capsize=3, zorder=3
        )
    human, human_lo, human_hi = HUMAN_ACCURACY
    ax.axhspan(human_lo, human_hi, color="#a14f8a", alpha=0.12, linewidth=0, zorder=0)
    ax.axhline(
        human,
        color="#a14f8a",
        linewidth=1.0,
        linestyle=":",
        zorder=1,
        label="human judges, 0.55 [0.52, 0.58] (literature cited)",
    )
    ax.axhline(0.5, color="0.3", linewidth=0.8, linestyle="--", zorder=1)
    shown = [c for c in (*FIGURE2_COLUMNS[1:], "paired_lo", "paired_hi") if c in summary.columns]
    values = np.concatenate([summary[c].to_numpy(dtype=float) for c in shown])
    values = values[np.isfinite(values)]
    top = max(0.6, float(values.max()) + 0.05) if len(values) else 1.0
    bottom = min(0.4, float(values.min()) - 0.05) if len(values) else 0.0
    ax.set_ylim(max(0.0, bottom), min(1.0, top))
    ax.set_xticks(x, [labels.get(s, str(s)) for s in summary["sample"]])
    ax.set_ylabel("AUC / pair accuracy")
    if title:
        ax.set_title(title)
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small", frameon=False, ncols=2
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def figure_feature_sets(
    long: pd.DataFrame,
    *,
    labels: Mapping[str, str] = SAMPLE_LABELS,
    title: str | None = None,
) -> Figure:
    """Figure 3 / Table S1: AUC with DeLong CI of each interpretable feature set, per sample.

    Args:
        long: output of :func:`~polface.report.tables.table_s1` (``feature_set``, ``sample``,
            ``auc``, ``lo``, ``hi``); missing combinations are left empty.
        labels: display names of the samples.
        title: optional title.

    Returns:
        A matplotlib Figure.
    """
    _check_columns(long, ("feature_set", "sample", "auc", "lo", "hi"), "feature-set AUCs")
    sets = list(pd.unique(long["feature_set"]))
    samples = list(pd.unique(long["sample"]))
    if not sets:
        raise ValueError("feature-set AUCs have no rows")
    width = 0.8 / len(sets)
    fig = Figure(figsize=(1.6 * len(samples) + 2.0, 3.6))
    ax = fig.add_subplot()
    colours = [
        "#3b6ea8",
        "#d08c3c",
        "#5a9e5a",
        "#a14f8a",
        "#777777",
        "#c44e52",
        "#8c6d31",
        "#64b5cd",
    ]
    for k, feature_set in enumerate(sets):
        part = long[long["feature_set"] == feature_set].set_index("sample")
        pos = np.array([samples.index(s) for s in part.index], dtype=float)
        pos += (k - (len(sets) - 1) / 2) * width
        value = part["auc"].to_numpy(dtype=float)
        err = np.vstack([value - part["lo"].to_numpy(float), part["hi"].to_numpy(float) - value])
        ax.bar(
            pos,
            value - 0.5,
            width,
            bottom=0.5,
            color=colours[k % len(colours)],
            label=str(feature_set),
        )
        ax.errorbar(pos, value, yerr=err, fmt="none", ecolor="black", capsize=2)
    ax.axhline(0.5, color="0.3", linewidth=0.8, linestyle="--")
    finite = long[["lo", "hi"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    ax.set_ylim(
        max(0.0, min(0.4, float(finite.min()) - 0.05) if len(finite) else 0.0),
        min(1.0, max(0.6, float(finite.max()) + 0.05) if len(finite) else 1.0),
    )
    ax.set_xticks(np.arange(len(samples)), [labels.get(s, str(s)) for s in samples])
    ax.set_ylabel("AUC")
    if title:
        ax.set_title(title)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        fontsize="small",
        frameon=False,
        ncols=min(len(sets), 4),
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def write_figure3(long: pd.DataFrame, path: str | Path, *, dpi: int = 150, **kwargs) -> Path:
    """Draw :func:`figure_feature_sets` (Figure 3) and write it atomically to ``path``."""
    return save_figure(figure_feature_sets(long, **kwargs), path, dpi=dpi)


def write_figure2(summary: pd.DataFrame, path: str | Path, *, dpi: int = 150, **kwargs) -> Path:
    """Draw :func:`figure2` and write it atomically to ``path`` (png, svg or pdf)."""
    return save_figure(figure2(summary, **kwargs), path, dpi=dpi)

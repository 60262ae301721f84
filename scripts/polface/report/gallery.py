"""Explanation pictures and a static HTML gallery (no scripts, no external resources).

- :func:`overlay_figure`: an image with a diverging colour map of per-segment weights (blue
  negative, red positive, symmetric about zero), the segment boundaries, and the ``top`` most
  positive segments outlined in red and the ``top`` most negative in blue.
- :func:`curves_figure`: deletion and insertion curves over the fraction of pixels.
- :func:`region_figure`: mean weight per region with its interval, one panel per target, the
  model beside its controls.
- :func:`write_gallery`: an ``index.html`` and one page per item in a folder, the images as PNG
  files beside them, the same ``statement`` at the top of every page.
- :func:`write_lime_gallery`: the gallery of LIME explanations (rule ``explain_lime``).

Pictures are written with :func:`polface.report.figures.save_figure` (deterministic bytes).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from skimage.segmentation import find_boundaries

from polface.io import write_atomic
from polface.report.figures import save_figure


def weight_map(labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The per-pixel weight of a label map."""
    return np.asarray(weights, dtype=np.float64)[labels]


def overlay_figure(
    image: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    top: int,
    title: str,
    path: str | Path,
) -> Path:
    """The image beside its weight overlay (see the module docstring); written to ``path``."""
    weights = np.asarray(weights, dtype=np.float64)
    scale = float(np.abs(weights).max()) or 1.0
    fig = Figure(figsize=(6.4, 3.4))
    left, right = fig.subplots(1, 2)
    left.imshow(image)
    left.set_title("network input", fontsize=8)
    right.imshow(image)
    shown = right.imshow(
        weight_map(labels, weights), cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.55
    )
    edges = find_boundaries(labels, mode="inner")
    right.imshow(np.ma.masked_where(~edges, edges), cmap="gray_r", alpha=0.6, vmin=0, vmax=1)
    order = np.argsort(-weights, kind="stable")
    positive = [k for k in order[:top] if weights[k] > 0]
    negative = [k for k in order[::-1][:top] if weights[k] < 0]
    for chosen, colour in ((positive, "#b2182b"), (negative, "#2166ac")):
        for k in chosen:
            right.contour(labels == k, levels=[0.5], colors=[colour], linewidths=1.6)
    right.set_title(title, fontsize=8)
    for axis in (left, right):
        axis.set_xticks([])
        axis.set_yticks([])
    bar = fig.colorbar(shown, ax=right, fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("LIME weight", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def curves_figure(
    fraction: np.ndarray,
    deletion: np.ndarray,
    insertion: np.ndarray,
    *,
    ylabel: str,
    title: str,
    path: str | Path,
) -> Path:
    """Deletion and insertion curves over the fraction of pixels hidden or revealed."""
    fig = Figure(figsize=(3.4, 2.6))
    axis = fig.subplots()
    axis.plot(fraction, deletion, marker="o", markersize=3, color="#b2182b", label="deletion")
    axis.plot(fraction, insertion, marker="o", markersize=3, color="#2166ac", label="insertion")
    axis.set_xlabel("fraction of pixels", fontsize=8)
    axis.set_ylabel(ylabel, fontsize=8)
    axis.set_title(title, fontsize=8)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def region_figure(summary: pd.DataFrame, *, path: str | Path) -> Path:
    """Mean weight per region with its interval: columns ``target, arm, region, mean, lo, hi``.

    One panel per target; the arms (the model and its controls) side by side in each region.
    """
    targets = list(dict.fromkeys(summary["target"]))
    fig = Figure(figsize=(3.6 * len(targets), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(targets), squeeze=False)[0])
    colours = matplotlib.colormaps["tab10"]
    for axis, target in zip(axes, targets, strict=True):
        part = summary[summary["target"] == target]
        regions = list(dict.fromkeys(part["region"]))
        arms = list(dict.fromkeys(part["arm"]))
        width = 0.8 / max(len(arms), 1)
        for j, arm in enumerate(arms):
            rows = part[part["arm"] == arm].set_index("region").reindex(regions)
            x = np.arange(len(regions)) + (j - (len(arms) - 1) / 2) * width
            err = np.vstack([rows["mean"] - rows["lo"], rows["hi"] - rows["mean"]])
            axis.bar(x, rows["mean"], width, yerr=err, color=colours(j), label=arm, capsize=2)
        axis.axhline(0, color="black", linewidth=0.6)
        axis.set_xticks(np.arange(len(regions)))
        axis.set_xticklabels(regions, rotation=45, ha="right", fontsize=7)
        axis.set_title(target, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=6)
    axes[0].set_ylabel("mean LIME weight", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


@dataclass(frozen=True)
class Page:
    """One gallery page: ``name`` (file stem), ``title``, ``images`` (file names beside the
    page, with captions), ``tables`` (titled frames) and ``notes`` (paragraphs)."""

    name: str
    title: str
    images: Sequence[tuple[str, str]] = ()
    tables: Sequence[tuple[str, pd.DataFrame]] = ()
    notes: Sequence[str] = field(default_factory=tuple)


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}"
    ".statement{border:2px solid #b2182b;padding:.6em;background:#fff5f0}"
    "table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    "figure{display:inline-block;margin:.4em}figcaption{font-size:12px}"
    ".untrusted{color:#b2182b;font-weight:bold}"
)


def _table_html(frame: pd.DataFrame, digits: int) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.{digits}f}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _page_html(page: Page, statement: str, links: Sequence[tuple[str, str]], digits: int) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(page.title)}</title><style>{STYLE}</style></head><body>",
        f"<p class='statement'>{html.escape(statement)}</p>",
        f"<h1>{html.escape(page.title)}</h1>",
    ]
    if links:
        items = " · ".join(f"<a href='{html.escape(h)}'>{html.escape(t)}</a>" for h, t in links)
        parts.append(f"<p>{items}</p>")
    parts += [f"<p>{html.escape(note)}</p>" for note in page.notes]
    for file, caption in page.images:
        parts.append(
            f"<figure><img src='{html.escape(file)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    for title, frame in page.tables:
        parts.append(f"<h2>{html.escape(title)}</h2>{_table_html(frame, digits)}")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_gallery(
    folder: str | Path,
    index: Page,
    pages: Sequence[Page],
    *,
    statement: str,
    digits: int = 3,
) -> list[Path]:
    """``index.html`` (linking every page) and ``{page.name}.html`` in ``folder``, atomically.

    The images the pages name must already be in ``folder``; a missing one is an error.
    """
    folder = Path(folder)
    for page in [index, *pages]:
        missing = [f for f, _ in page.images if not (folder / f).is_file()]
        if missing:
            raise FileNotFoundError(f"gallery page {page.name!r}: no image file(s) {missing}")
    links = [(f"{p.name}.html", p.title) for p in pages]
    home = [("index.html", index.title)]
    written = [write_atomic(folder / "index.html", _page_html(index, statement, links, digits))]
    for page in pages:
        written.append(
            write_atomic(folder / f"{page.name}.html", _page_html(page, statement, home, digits))
        )
    return written


def ci_text(rows: Mapping[str, float] | pd.Series, digits: int = 3) -> str:
    """``'mean [lo, hi]'``."""
    return f"{rows['mean']:.{digits}f} [{rows['lo']:.{digits}f}, {rows['hi']:.{digits}f}]"


def write_lime_gallery(
    folder: str | Path,
    result: Mapping[str, Any],
    summary: pd.DataFrame,
    *,
    notes: Sequence[str],
    top: int,
    level: float,
    statement: str,
) -> None:
    """The gallery of LIME explanations: a page per face, an index with the region summary.

    ``result`` is :func:`polface.explain.faces.explain_faces`'s (its ``scores``, ``weights``,
    ``curves`` tables and the ``inputs``), ``summary`` the
    :func:`polface.explain.faces.region_summary` of its weights. Every explanation gets an
    overlay of its segment weights (the ``top`` strongest outlined) and its deletion and
    insertion curves.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    table = result["scores"]
    w = result["weights"]
    c = result["curves"]
    for image_id, (image, segs) in result["inputs"].items():
        images, tables = [], []
        for seg in segs:
            part = table[(table["image_id"] == image_id) & (table["segmentation"] == seg.method)]
            for row in part.itertuples():
                stem = f"{image_id}_{seg.method}_{row.target}_{row.arm}".replace(" ", "-")
                sel = (
                    (w["image_id"] == image_id)
                    & (w["segmentation"] == seg.method)
                    & (w["target"] == row.target)
                    & (w["arm"] == row.arm)
                )
                verdict = "trustworthy" if row.trustworthy else "NOT trustworthy"
                title = (
                    f"{row.target} · {row.arm} · {seg.method}\n{row.quantity} "
                    f"{row.model_output:.3g}, R² {row.r2_in_sample:.2f} / held-out "
                    f"{row.heldout_r2:.2f} ({verdict})"
                )
                overlay_figure(
                    image,
                    seg.labels,
                    w.loc[sel, "weight"].to_numpy(),
                    top=top,
                    title=title,
                    path=folder / f"{stem}_overlay.png",
                )
                cur = c[
                    (c["image_id"] == image_id)
                    & (c["segmentation"] == seg.method)
                    & (c["target"] == row.target)
                    & (c["arm"] == row.arm)
                ]
                curves_figure(
                    cur["fraction"].to_numpy(),
                    cur["deletion"].to_numpy(),
                    cur["insertion"].to_numpy(),
                    ylabel=row.quantity,
                    title=(
                        f"deletion drop {row.deletion_drop:.2f} {row.quantity} "
                        f"(gain {row.deletion_gain:.2f}), "
                        f"insertion gain {row.insertion_gain:.2f}"
                    ),
                    path=folder / f"{stem}_curves.png",
                )
                caption = title.replace("\n", ": ")
                images += [(f"{stem}_overlay.png", caption), (f"{stem}_curves.png", "curves")]
            shown = part[
                [
                    "target",
                    "arm",
                    "quantity",
                    "model_output",
                    "local_pred",
                    "r2_in_sample",
                    "heldout_r2",
                    "local_error_sd",
                    "spearman",
                    "jaccard_top",
                    "deletion_gain",
                    "deletion_drop",
                    "insertion_gain",
                    "trustworthy",
                    "failed",
                ]
            ]
            tables.append((f"fit and faithfulness ({seg.method})", shown))
        pages.append(Page(f"face_{image_id}", f"face {image_id}", images, tables, notes))
    index_images = []
    if len(summary):
        region_figure(summary, path=folder / "regions.png")
        index_images.append(("regions.png", f"mean region weight across faces, {level:.0%} CI"))
    display = summary.assign(**{"mean [CI]": summary.apply(ci_text, axis=1)})
    index = Page(
        "index",
        "LIME explanations",
        index_images,
        [("region weights, model beside its controls", display.drop(columns=["lo", "hi"]))],
        notes,
    )
    write_gallery(folder, index, pages, statement=statement)

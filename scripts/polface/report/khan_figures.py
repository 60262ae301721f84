"""The figure of Khan et al.'s test–retest (E2): flip rates against two unrelated people's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from polface.report.figures import save_figure

FLIP_COLUMNS: tuple[str, ...] = (
    "model",
    "category",
    "n",
    "flip_rate",
    "flip_lo",
    "flip_hi",
    "unrelated_rate",
    "permuted_lo",
    "permuted_hi",
)


def flip_rate_figure(audit: pd.DataFrame) -> Figure:
    """One panel per model: each category's flip rate (exact 95% CI) beside the unrelated-pair
    rate (p₁(1 − p₂) + p₂(1 − p₁), with the central interval of random re-pairings).

    ``audit`` is :func:`polface.studies.khan.retest_audit`'s table.
    """
    missing = [c for c in FLIP_COLUMNS if c not in audit.columns]
    if missing:
        raise KeyError(f"the audit table lacks the columns {missing}")
    models = list(dict.fromkeys(audit["model"]))
    fig = Figure(figsize=(4.2 * len(models), 4.6), layout="constrained")
    axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        part = audit[audit["model"] == model].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        ax.errorbar(
            part["unrelated_rate"],
            y - 0.15,
            xerr=[
                part["unrelated_rate"] - part["permuted_lo"],
                part["permuted_hi"] - part["unrelated_rate"],
            ],
            fmt="s",
            color="0.55",
            capsize=2,
            label="two unrelated people",
        )
        ax.errorbar(
            part["flip_rate"],
            y + 0.15,
            xerr=[part["flip_rate"] - part["flip_lo"], part["flip_hi"] - part["flip_rate"]],
            fmt="o",
            color="C3",
            capsize=2,
            label="same person, before vs after",
        )
        ax.set_yticks(
            y, [f"{c} (n = {n})" for c, n in zip(part["category"], part["n"], strict=True)]
        )
        ax.set_xlim(0, max(0.7, float(part[["flip_hi", "permuted_hi"]].to_numpy().max()) + 0.05))
        ax.set_xlabel("share of pairs whose prediction flips")
        ax.set_title(str(model))
        ax.grid(axis="x", color="0.9")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    return fig


def write_flip_rate_figure(audit: pd.DataFrame, path: str | Path, *, dpi: int = 150) -> Path:
    """Draw :func:`flip_rate_figure` and write it atomically (png, svg or pdf)."""
    return save_figure(flip_rate_figure(audit), path, dpi=dpi)

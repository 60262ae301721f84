"""The Facial Finetuning paper's descriptive tables and figures.

As the authors' scripts at commit 47e228a compute them:

* ``Summary.Statistics.Facial.Traits.R``: N, mean, SD, min, p25, median, p75, max of the three
  predicted traits on the 7,080 kept candidates (quantiles as R's default, type 7);
* ``Table_Facial_trait_correlations.R``: their Pearson correlations;
* ``Table_missing_data.R``: per election and pooled, the major-party candidates, images
  collected / missing / discarded, candidates with age, gender, education, and complete data
  (kept image and personal votes, ballot placement, age, gender, education all present); then
  the pooled row in % of the candidates, and the % of all personal votes that each column's
  candidates received. The script counts "discarded" as ``image_text == 1`` plus
  ``image_bad == 1``: a photograph with both flags counts twice, and in the general election the
  count also takes rows whose image is missing; ``images discarded (distinct)`` beside it counts
  each collected photograph once;
* ``Lowess.plots.R``: trait against outcome per election and pooled, a local regression and the
  OLS line (ggplot's ``loess``, span 0.75, degree 2; here statsmodels' ``lowess``, local linear
  with ``frac`` 0.75 and no robustness iterations: a smoother of the same family, not the same
  curve);
* ``Annotated_predicted_scatterplot.R``: annotated against predicted on the 172 test faces;
* ``Age_gender_evaluation_plot.R`` (c): the training annotations by perceived gender (OMI
  ``gender`` > 50 is "male"), coloured by perceived age.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.finetuning import OUTCOMES, TRAITS
from polface.studies.candidate_regressions import model_rows

ELECTIONS: dict[str, str] = {"FV22": "General", "KV21": "Local"}
SUMMARY_STATISTICS = ("N", "mean", "SD", "min", "p25", "median", "p75", "max")


def trait_summary(sample: pd.DataFrame) -> pd.DataFrame:
    """One row per predicted trait: :data:`SUMMARY_STATISTICS` (SD with n - 1)."""
    rows = []
    for trait in TRAITS:
        x = sample[f"{trait}_pd"].dropna().to_numpy(dtype=np.float64)
        q25, q50, q75 = np.quantile(x, [0.25, 0.5, 0.75])
        rows.append(
            {
                "trait": trait,
                "N": len(x),
                "mean": x.mean(),
                "SD": x.std(ddof=1),
                "min": x.min(),
                "p25": q25,
                "median": q50,
                "p75": q75,
                "max": x.max(),
            }
        )
    return pd.DataFrame(rows).set_index("trait")


def trait_correlations(sample: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlations of the three predicted traits."""
    out = sample[[f"{t}_pd" for t in TRAITS]].corr(method="pearson")
    out.index = out.columns = list(TRAITS)
    out.index.name = "trait"
    return out


def missing_data(candidates: pd.DataFrame) -> pd.DataFrame:
    """The authors' missing-data table from all candidates as read (before any filter)."""
    df = candidates
    missing = df["image_missing"] == 1
    bad, text = df["image_bad"] == 1, df["image_text"] == 1
    kept = ~missing & ~bad & ~text
    complete = kept & df[
        ["personal_votes", "ballot_placement", "age", "gender", "education"]
    ].notna().all(axis=1)

    def columns(rows: pd.Series, general: bool) -> dict[str, pd.Series]:
        # the script's "discarded": text + bad, counted without the image_missing filter in the
        # general election only
        discarded_text = text & rows if general else text & rows & ~missing
        discarded_bad = bad & rows if general else bad & rows & ~missing
        return {
            "major party candidates": rows,
            "images collected": rows & ~missing,
            "images missing": rows & missing,
            "images discarded": (discarded_text, discarded_bad),
            "images discarded (distinct)": rows & ~missing & (bad | text),
            "age": rows & df["age"].notna(),
            "gender": rows & df["gender"].notna(),
            "education": rows & df["education"].notna(),
            "complete data": rows & complete,
        }

    def count(value) -> int:
        if isinstance(value, tuple):
            return int(sum(v.sum() for v in value))
        return int(value.sum())

    table = {}
    everyone = pd.Series(True, index=df.index)
    for code, name in ELECTIONS.items():
        table[name] = {
            k: count(v) for k, v in columns(df["election"] == code, code == "FV22").items()
        }
    pooled_columns = columns(everyone, False)
    table["Pooled"] = {k: count(v) for k, v in pooled_columns.items()}
    n = table["Pooled"]["major party candidates"]
    table["Pooled (%)"] = {k: 100.0 * v / n for k, v in table["Pooled"].items()}
    votes = df["personal_votes"].to_numpy(dtype=np.float64)
    total = votes.sum()
    share = {}
    for key, value in pooled_columns.items():
        if key == "images discarded":
            # the script: all rows with image_text == 1 plus all with image_bad == 1
            share[key] = 100.0 * (votes[text].sum() + votes[bad].sum()) / total
        else:
            share[key] = 100.0 * votes[value.to_numpy()].sum() / total
    table["Personal votes accounted for (%)"] = share
    out = pd.DataFrame(table).T
    out.index.name = "election"
    return out


def _lowess(x: np.ndarray, y: np.ndarray, frac: float) -> np.ndarray:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    return lowess(y, x, frac=frac, it=0, return_sorted=True)


def _scatter_with_lines(ax, x, y, *, frac: float, alpha: float) -> None:
    ax.scatter(x, y, s=3, alpha=alpha, color="#003d73", linewidths=0)
    fit = _lowess(x, y, frac)
    ax.plot(fit[:, 0], fit[:, 1], ls="--", color="grey", lw=1.5, label="lowess")
    slope, intercept = np.polyfit(x, y, 1)
    grid = np.array([x.min(), x.max()])
    ax.plot(grid, intercept + slope * grid, color="black", lw=1.2, label="OLS")


def lowess_plot(sample: pd.DataFrame, path: str | Path, *, frac: float = 0.75) -> None:
    """Every trait × outcome, per election and pooled: points, lowess and the OLS line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polface.io import atomic_output

    rows = [(t, o) for t in TRAITS for o in OUTCOMES]
    fig, axes = plt.subplots(len(rows), 3, figsize=(12, 3 * len(rows)), squeeze=False)
    for i, (trait, outcome) in enumerate(rows):
        frame = model_rows(sample, outcome)
        for j, (label, part) in enumerate(
            (
                ("General election", frame[frame["election"] == "FV22"]),
                ("Local election", frame[frame["election"] == "KV21"]),
                ("Pooled elections", frame),
            )
        ):
            used = part[[f"{trait}_pd", outcome]].dropna()
            ax = axes[i, j]
            _scatter_with_lines(
                ax,
                used[f"{trait}_pd"].to_numpy(dtype=np.float64),
                used[outcome].to_numpy(dtype=np.float64),
                frac=frac,
                alpha=0.4 if j == 0 else 0.2,
            )
            ax.set_ylim(-2, 2)
            ax.set_xlim(2, 8)
            ax.set_title(f"{label} (N {len(used):,})", fontsize=9)
            ax.set_xlabel(f"predicted {trait}", fontsize=8)
            if j == 0:
                ax.set_ylabel(OUTCOMES[outcome], fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def annotated_predicted_plot(
    split: pd.DataFrame, predictions: pd.DataFrame, path: str | Path, *, frac: float = 0.75
) -> None:
    """The authors' test predictions against the OMI annotations, one panel per trait."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polface.frames import IMAGE_ID
    from polface.io import atomic_output

    test = split[split["split"] == "test"].set_index(IMAGE_ID)
    fig, axes = plt.subplots(1, len(TRAITS), figsize=(15, 5))
    for ax, trait in zip(axes, TRAITS, strict=True):
        mine = predictions[predictions["trait"] == trait].set_index(IMAGE_ID)["prediction"]
        both = pd.DataFrame({"annotated": test[trait], "predicted": mine}).dropna()
        _scatter_with_lines(
            ax,
            both["annotated"].to_numpy(dtype=np.float64),
            both["predicted"].to_numpy(dtype=np.float64),
            frac=frac,
            alpha=0.6,
        )
        r = float(np.corrcoef(both["annotated"], both["predicted"])[0, 1])
        ax.set_xlim(2, 10)
        ax.set_ylim(2, 10)
        ax.set_xlabel(f"annotated {trait} (OMI mean)")
        ax.set_ylabel(f"predicted {trait} (the authors' network)")
        ax.set_title(f"{len(both)} test faces, r = {r:.3f}", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def training_annotations_plot(split: pd.DataFrame, path: str | Path, *, seed: int) -> None:
    """The training faces' annotations by perceived gender (OMI gender > 50: male), the points
    jittered (``seed``) and coloured by perceived age, one panel per trait."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polface.io import atomic_output

    train = split[split["split"] == "train"]
    male = train["gender"].to_numpy(dtype=np.float64) > 50
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(TRAITS), figsize=(15, 5))
    for ax, trait in zip(axes, TRAITS, strict=True):
        values = train[trait].to_numpy(dtype=np.float64)
        groups = [values[~male], values[male]]
        ax.boxplot(groups, showfliers=False)
        ax.set_xticks([1, 2], [f"female (N {(~male).sum()})", f"male (N {male.sum()})"])
        for k, mask in enumerate((~male, male), start=1):
            jitter = k + rng.uniform(-0.2, 0.2, int(mask.sum()))
            points = ax.scatter(
                jitter,
                values[mask],
                c=train["age"].to_numpy()[mask],
                s=4,
                alpha=0.6,
                cmap="viridis_r",
            )
        ax.set_ylim(1, 9)
        ax.set_xlabel("perceived gender of the synthetic face")
        ax.set_ylabel(f"annotated {trait} (training faces)")
    fig.colorbar(points, ax=axes, label="perceived age")
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

"""The Facial Finetuning candidate regressions: 3 traits × 2 outcomes × 6 specifications = 36 OLS.

As the authors' scripts (``Scripts/*.Regressions.R`` at commit 47e228a) fit them with R's ``lm``:
per predicted trait ``T`` and outcome (``percentile_rank_std`` on the rows with more than one
candidate on the ballot, ``personal_votes_std`` on all 7,080 rows), the specifications

1. ``y ~ T``
2. ``y ~ T + age + gender + education``
3. ``y ~ T * M``                        (M = ``gender``; for dominance ``party_ideology``)
4. ``y ~ T * M + controls``             (the controls other than M)
5. ``y ~ T * election_type``
6. ``y ~ T * election_type + age + gender + education``

with R's treatment coding (first factor level as reference, columns named as R names them:
``gender1``, ``election_typeLocal election``, ``educationHigh School``, interactions ``a:b``)
and R's default ``na.omit``: every model drops the rows where one of its variables is missing, so
with controls the sample shrinks (ballot position: 7,055 rows without, 5,479 with controls;
``tests/test_facial_finetuning.py`` checks these counts on the released data). The
``same sample`` variant fits every specification on the rows of the controlled models.

Standard errors: ``se_ols`` is the plain OLS SE, which is what the paper printed (its
``coeftest(x, vcovCL = df2$name2)`` passes an argument lmtest ignores); ``se_cluster`` is
cluster-robust by candidate (a person standing in both elections is one cluster) with the
small-sample factor G/(G - 1) · (N - 1)/(N - K) of ``sandwich::vcovCL``'s default (type HC1,
``cadjust = TRUE``), computed by statsmodels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm

from polface.data.finetuning import CANDIDATE_CODE, OUTCOMES, TRAITS

CONTROLS: tuple[str, ...] = ("age", "gender", "education")
#: The moderator of specifications 3 and 4, per trait (the paper's Dominance.Regression.R uses
#: the right-bloc indicator instead of gender).
MODERATORS: dict[str, str] = {
    "attractiveness": "gender",
    "trustworthiness": "gender",
    "dominance": "party_ideology",
}
SPECIFICATIONS: tuple[str, ...] = (
    "trait",
    "trait + controls",
    "trait x moderator",
    "trait x moderator + controls",
    "trait x election type",
    "trait x election type + controls",
)
SAMPLES: tuple[str, ...] = ("as published", "same sample")
#: Which rows each outcome is fitted on: ballot position only where there was a choice.
MULTI_CANDIDATE_OUTCOMES = ("percentile_rank_std",)


def specification_terms(
    trait: str, specification: str, extra: Sequence[str] = ()
) -> tuple[list[str], str | None]:
    """The variables of a specification in R's formula order, and its interaction partner.

    ``extra`` (the robustness models' ``incumbent``) follows the trait, or the trait and its
    partner, and precedes the controls, as in ``y ~ T*M + incumbent + age + ...``.
    """
    t = f"{trait}_pd"
    moderator = MODERATORS[trait]
    extra = list(extra)
    if specification == "trait":
        return [t, *extra], None
    if specification == "trait + controls":
        return [t, *extra, *CONTROLS], None
    if specification == "trait x moderator":
        return [t, moderator, *extra], moderator
    if specification == "trait x moderator + controls":
        return [t, moderator, *extra, *(c for c in CONTROLS if c != moderator)], moderator
    if specification == "trait x election type":
        return [t, "election_type", *extra], "election_type"
    if specification == "trait x election type + controls":
        return [t, "election_type", *extra, *CONTROLS], "election_type"
    raise ValueError(f"unknown specification {specification!r}; expected one of {SPECIFICATIONS}")


def _columns_of(frame: pd.DataFrame, variable: str) -> pd.DataFrame:
    """R's model-matrix columns of one variable: a numeric column, or treatment dummies.

    A factor keeps its levels; a character column (``incumbent`` is ``"0"``/``"1"`` text) becomes
    a factor with its sorted values as levels, as ``lm`` makes it.
    """
    values = frame[variable]
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        if isinstance(values.dtype, pd.CategoricalDtype):
            levels = list(values.cat.categories)
        else:
            levels = sorted(values.dropna().astype(str).unique())
            values = values.astype(str)
        return pd.DataFrame(
            {f"{variable}{level}": (values == level).astype(np.float64) for level in levels[1:]},
            index=frame.index,
        )
    return pd.DataFrame({variable: values.astype(np.float64)}, index=frame.index)


def formula_matrix(
    frame: pd.DataFrame, variables: Sequence[str], interaction: tuple[str, str] | None = None
) -> pd.DataFrame:
    """R's ``model.matrix`` of ``~ variables`` (plus ``a:b`` for ``interaction = (a, b)``)."""
    parts = [pd.DataFrame({"(Intercept)": np.ones(len(frame))}, index=frame.index)]
    parts += [_columns_of(frame, v) for v in variables]
    X = pd.concat(parts, axis=1)
    if interaction is not None:
        a, b = interaction
        for column in _columns_of(frame, b).columns:
            X[f"{a}:{column}"] = X[a] * X[column]
    return X


def design_matrix(
    frame: pd.DataFrame, trait: str, specification: str, extra: Sequence[str] = ()
) -> pd.DataFrame:
    """R's ``model.matrix`` of a specification on complete rows of ``frame`` (R's names)."""
    variables, partner = specification_terms(trait, specification, extra)
    pair = None if partner is None else (f"{trait}_pd", partner)
    return formula_matrix(frame, variables, pair)


def model_rows(sample: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The rows an outcome is modelled on (ballot position: more than one candidate listed)."""
    if outcome in MULTI_CANDIDATE_OUTCOMES:
        return sample[sample["no_candidates_on_ballot"] != 1]
    return sample


def complete_rows(frame: pd.DataFrame, variables: Sequence[str]) -> pd.DataFrame:
    """R's ``na.omit`` over ``variables``."""
    return frame.loc[frame[list(variables)].notna().all(axis=1)]


def ols_fits(y: np.ndarray, X: pd.DataFrame, clusters: np.ndarray):
    """statsmodels OLS and its candidate-clustered (HC1 factor) counterpart."""
    ols = sm.OLS(y, X.to_numpy(), hasconst=True).fit()
    robust = ols.get_robustcov_results(
        cov_type="cluster", groups=clusters, use_correction=True, df_correction=True
    )
    return ols, robust


def fit_ols(y: np.ndarray, X: pd.DataFrame, clusters: np.ndarray) -> pd.DataFrame:
    """OLS with plain and cluster-robust (HC1 small-sample factor) SEs, one row per coefficient."""
    ols, robust = ols_fits(y, X, clusters)
    se_ols = np.asarray(ols.bse)
    se_cl = np.asarray(robust.bse)
    beta = np.asarray(ols.params)
    return pd.DataFrame(
        {
            "term": list(X.columns),
            "estimate": beta,
            "se_ols": se_ols,
            "p_ols": np.asarray(ols.pvalues),
            "se_cluster": se_cl,
            "p_cluster": np.asarray(robust.pvalues),
            "n": int(ols.nobs),
            "clusters": int(len(np.unique(clusters))),
            "r2": float(ols.rsquared),
        }
    )


def candidate_regressions(sample: pd.DataFrame) -> pd.DataFrame:
    """All 36 models in both variants (``as published``, ``same sample``), long.

    ``sample`` is :func:`~polface.data.finetuning.analysis_sample`'s frame. Columns:
    ``sample``, ``trait``, ``outcome``, ``model`` (1-6), ``specification``, ``term``,
    ``estimate``, ``se_ols``, ``p_ols``, ``se_cluster``, ``p_cluster``, ``n``, ``clusters``,
    ``r2``.
    """
    frames = []
    for variant in SAMPLES:
        for trait in TRAITS:
            for outcome in OUTCOMES:
                rows = model_rows(sample, outcome)
                if variant == "same sample":
                    rows = complete_rows(rows, [outcome, f"{trait}_pd", *CONTROLS])
                for number, specification in enumerate(SPECIFICATIONS, start=1):
                    variables, _ = specification_terms(trait, specification)
                    used = complete_rows(rows, [outcome, *variables])
                    X = design_matrix(used, trait, specification)
                    fit = fit_ols(
                        used[outcome].to_numpy(dtype=np.float64),
                        X,
                        used[CANDIDATE_CODE].to_numpy(),
                    )
                    fit.insert(0, "specification", specification)
                    fit.insert(0, "model", number)
                    fit.insert(0, "outcome", outcome)
                    fit.insert(0, "trait", trait)
                    fit.insert(0, "sample", variant)
                    frames.append(fit)
    return pd.concat(frames, ignore_index=True)


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def regressions_display(long: pd.DataFrame, variant: str, digits: int = 3) -> pd.DataFrame:
    """One variant as the paper lays it out: a column per model, rows ``trait · outcome · term``.

    A cell is ``estimate (OLS SE) [cluster SE]`` with the paper's stars (from the OLS p-value, as
    printed: * p < .05, ** p < .01, *** p < .001); the education dummies are left out as in the
    paper; each block ends with N, clusters and R².
    """
    part = long[long["sample"] == variant]
    blocks = []
    for (trait, outcome), block in part.groupby(["trait", "outcome"], sort=False):
        label = f"{trait} · {OUTCOMES[outcome]}"
        terms = [
            t
            for t in dict.fromkeys(block["term"])
            if not t.startswith("education") and t != "(Intercept)"
        ]
        cells: dict[str, dict[str, str]] = {}
        for number, fit in block.groupby("model", sort=True):
            column = f"({number})"
            by_term = fit.set_index("term")
            cells[column] = {}
            for term in terms:
                if term in by_term.index:
                    r = by_term.loc[term]
                    cells[column][f"{label} · {term}"] = (
                        f"{r['estimate']:.{digits}f}{_stars(r['p_ols'])} "
                        f"({r['se_ols']:.{digits}f}) [{r['se_cluster']:.{digits}f}]"
                    )
                else:
                    cells[column][f"{label} · {term}"] = ""
            first = fit.iloc[0]
            cells[column][f"{label} · education controls"] = (
                "yes" if fit["term"].str.startswith("education").any() else "no"
            )
            cells[column][f"{label} · N"] = str(int(first["n"]))
            cells[column][f"{label} · clusters"] = str(int(first["clusters"]))
            cells[column][f"{label} · R²"] = f"{first['r2']:.{digits}f}"
        blocks.append(pd.DataFrame(cells))
    out = pd.concat(blocks)
    out.index.name = "term"
    return out


def coefficient_plot(long: pd.DataFrame, path: str | Path, *, level: float) -> None:
    """The trait's main coefficient in each of the 36 models, OLS and cluster-robust intervals.

    One panel per trait and outcome; within it the six specifications, each variant and SE type
    as a point with its ``level`` interval. Written as PNG (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polface.io import atomic_output

    z = float(norm.ppf(0.5 + level / 2.0))
    fig, axes = plt.subplots(
        len(TRAITS), len(OUTCOMES), figsize=(10, 9), sharex=True, squeeze=False
    )
    styles = [
        ("as published", "se_ols", "published sample, OLS SE (as printed)", "C0", -0.3),
        ("as published", "se_cluster", "published sample, cluster-robust SE", "C1", -0.1),
        ("same sample", "se_ols", "same sample, OLS SE", "C2", 0.1),
        ("same sample", "se_cluster", "same sample, cluster-robust SE", "C3", 0.3),
    ]
    for i, trait in enumerate(TRAITS):
        for j, outcome in enumerate(OUTCOMES):
            ax = axes[i, j]
            main = long[(long["trait"] == trait) & (long["outcome"] == outcome)]
            main = main[main["term"] == f"{trait}_pd"]
            for variant, se, label, colour, offset in styles:
                rows = main[main["sample"] == variant].sort_values("model")
                ypos = rows["model"].to_numpy() + offset
                ax.errorbar(
                    rows["estimate"],
                    ypos,
                    xerr=z * rows[se].to_numpy(),
                    fmt="o",
                    ms=3,
                    color=colour,
                    label=label if (i, j) == (0, 0) else None,
                )
            ax.axvline(0.0, color="grey", lw=0.8)
            ax.set_yticks(range(1, len(SPECIFICATIONS) + 1))
            ax.set_yticklabels(SPECIFICATIONS if j == 0 else [""] * len(SPECIFICATIONS))
            ax.invert_yaxis()
            ax.set_title(f"{trait} → {OUTCOMES[outcome]}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel(f"coefficient of the predicted trait ({level:.0%} interval)")
    fig.legend(loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)

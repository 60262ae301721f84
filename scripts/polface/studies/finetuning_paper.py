"""The rest of the Facial Finetuning paper's regressions: robustness, all traits, traits as outcome,
and the trait's effect at each level of the moderator of every interaction model.

As the authors' scripts at commit 47e228a fit them with R's ``lm`` on the same rows as the 36
main models (:mod:`polface.studies.candidate_regressions`):

* ``robustness`` (``{Attractiveness,Trustworthiness}.Regressions.R``, ``Dominance.Regression.R``,
  part 2): the 36 models again with ``incumbent`` (character ``"0"``/``"1"`` in the data, a factor
  to ``lm``: term ``incumbent1``) after the trait, or the trait and its partner, and before the
  controls: ``y ~ T*M + incumbent + age + ...``.
* ``all traits`` (``All_Facial_Traits_in_reg_model.R``): ``y ~ A + T + D`` and
  ``y ~ A + T + D + age + gender + education``, both outcomes (4 models).
* ``trait as outcome`` (``Facial_traits_as_outcome_regression.R``): each predicted trait on
  ``age``, on ``gender`` and on ``education``, on all 7,080 rows (9 models).

Every model carries the plain OLS SE (what the paper printed: its ``coeftest(x, vcovCL = ...)``
passes an argument lmtest ignores) and the candidate-clustered SE (HC1 as ``sandwich::vcovCL``).

``level_effects`` gives, for every interaction model ``y ~ T*M + ...``, the trait's effect at
each level of ``M``: at the reference level it is the coefficient of ``T``; at level 1 (or
``Local election``) it is the linear combination ``b_T + b_{T:M}``, with variance
``V_TT + V_II + 2 V_TI`` under each covariance. The p-values use the t distribution with the
residual degrees of freedom for the OLS SE and G - 1 for the clustered SE (as statsmodels does
for the coefficients).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from polface.data.finetuning import CANDIDATE_CODE, OUTCOMES, TRAITS
from polface.studies.candidate_regressions import (
    CONTROLS,
    SPECIFICATIONS,
    complete_rows,
    design_matrix,
    formula_matrix,
    model_rows,
    ols_fits,
    specification_terms,
)

FAMILIES: tuple[str, ...] = ("robustness", "all traits", "trait as outcome")
ROBUSTNESS_EXTRA: tuple[str, ...] = ("incumbent",)
ALL_TRAITS_SPECIFICATIONS: tuple[str, ...] = ("traits", "traits + controls")
#: What level 1 of each moderator means (``gender1`` is "Female" in the paper's tables,
#: ``party_ideology`` 1 is "Right Wing Party").
LEVEL_LABELS: dict[str, tuple[str, str]] = {
    "gender": ("male (gender 0)", "female (gender 1)"),
    "party_ideology": ("left bloc (party_ideology 0)", "right bloc (party_ideology 1)"),
    "election_type": ("General election", "Local election"),
}
LONG_COLUMNS = [
    "family",
    "trait",
    "outcome",
    "model",
    "specification",
    "term",
    "estimate",
    "se_ols",
    "p_ols",
    "se_cluster",
    "p_cluster",
    "n",
    "clusters",
    "r2",
]


class _Model:
    """One fitted model: its identifiers, design, and both fits."""

    def __init__(self, ids: dict, used: pd.DataFrame, outcome: str, X: pd.DataFrame) -> None:
        self.ids = ids
        self.X = X
        clusters = used[CANDIDATE_CODE].to_numpy()
        self.ols, self.robust = ols_fits(used[outcome].to_numpy(dtype=np.float64), X, clusters)
        self.clusters = int(len(np.unique(clusters)))

    def coefficients(self) -> pd.DataFrame:
        out = pd.DataFrame(
            {
                "term": list(self.X.columns),
                "estimate": np.asarray(self.ols.params),
                "se_ols": np.asarray(self.ols.bse),
                "p_ols": np.asarray(self.ols.pvalues),
                "se_cluster": np.asarray(self.robust.bse),
                "p_cluster": np.asarray(self.robust.pvalues),
                "n": int(self.ols.nobs),
                "clusters": self.clusters,
                "r2": float(self.ols.rsquared),
            }
        )
        for position, (key, value) in enumerate(self.ids.items()):
            out.insert(position, key, value)
        return out

    def combination(self, weights: dict[str, float]) -> dict[str, float]:
        """Estimate, both SEs and p-values of ``sum(w * b)`` over the named terms."""
        w = np.zeros(self.X.shape[1])
        columns = list(self.X.columns)
        for term, weight in weights.items():
            w[columns.index(term)] = weight
        estimate = float(w @ np.asarray(self.ols.params))
        out = {"estimate": estimate}
        for name, fit, df in (
            ("ols", self.ols, float(self.ols.df_resid)),
            ("cluster", self.robust, float(self.clusters - 1)),
        ):
            se = float(np.sqrt(w @ np.asarray(fit.cov_params()) @ w))
            out[f"se_{name}"] = se
            out[f"p_{name}"] = float(2.0 * student_t.sf(abs(estimate / se), df))
        return out


def _fit(ids: dict, rows: pd.DataFrame, outcome: str, variables, interaction=None) -> _Model:
    used = complete_rows(rows, [outcome, *variables])
    return _Model(ids, used, outcome, formula_matrix(used, variables, interaction))


def _main_models(sample: pd.DataFrame, extra: Sequence[str], family: str) -> Iterator[_Model]:
    for trait in TRAITS:
        for outcome in OUTCOMES:
            rows = model_rows(sample, outcome)
            for number, specification in enumerate(SPECIFICATIONS, start=1):
                variables, _ = specification_terms(trait, specification, extra)
                used = complete_rows(rows, [outcome, *variables])
                ids = {
                    "family": family,
                    "trait": trait,
                    "outcome": outcome,
                    "model": number,
                    "specification": specification,
                }
                X = design_matrix(used, trait, specification, extra)
                yield _Model(ids, used, outcome, X)


def _other_models(sample: pd.DataFrame) -> Iterator[_Model]:
    traits = [f"{t}_pd" for t in TRAITS]
    for outcome in OUTCOMES:
        rows = model_rows(sample, outcome)
        for number, (specification, variables) in enumerate(
            zip(ALL_TRAITS_SPECIFICATIONS, (traits, [*traits, *CONTROLS]), strict=True), start=1
        ):
            ids = {
                "family": "all traits",
                "trait": "all",
                "outcome": outcome,
                "model": number,
                "specification": specification,
            }
            yield _fit(ids, rows, outcome, variables)
    for trait in TRAITS:
        for number, control in enumerate(CONTROLS, start=1):
            ids = {
                "family": "trait as outcome",
                "trait": trait,
                "outcome": f"{trait}_pd",
                "model": number,
                "specification": f"{trait} ~ {control}",
            }
            yield _fit(ids, sample, f"{trait}_pd", [control])


def paper_models(sample: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 49 further models (long coefficients) and the moderator-level effects.

    Returns ``(long, levels)``: ``long`` has :data:`LONG_COLUMNS`, one row per coefficient of
    the 36 robustness, 4 all-traits and 9 trait-as-outcome models; ``levels`` has one row per
    interaction model (24 main, 24 robustness) and moderator level.
    """
    models = list(_main_models(sample, (), "main"))
    robustness = list(_main_models(sample, ROBUSTNESS_EXTRA, "robustness"))
    others = list(_other_models(sample))
    long = pd.concat([m.coefficients() for m in [*robustness, *others]], ignore_index=True)
    levels = level_effects([*models, *robustness])
    return long[LONG_COLUMNS], levels


def level_effects(models: Sequence[_Model]) -> pd.DataFrame:
    """The trait's effect at each moderator level of every interaction model (see the module)."""
    rows = []
    for model in models:
        ids = model.ids
        _, partner = specification_terms(ids["trait"], ids["specification"])
        if partner is None:
            continue
        t = f"{ids['trait']}_pd"
        interactions = [c for c in model.X.columns if c.startswith(f"{t}:")]
        if len(interactions) != 1:
            raise ValueError(f"{ids}: expected one interaction column, found {interactions}")
        for level, (label, weights, combination) in enumerate(
            (
                (LEVEL_LABELS[partner][0], {t: 1.0}, t),
                (
                    LEVEL_LABELS[partner][1],
                    {t: 1.0, interactions[0]: 1.0},
                    f"{t} + {interactions[0]}",
                ),
            )
        ):
            rows.append(
                {
                    **ids,
                    "moderator": partner,
                    "level": level,
                    "level_label": label,
                    "combination": combination,
                    **model.combination(weights),
                    "n": int(model.ols.nobs),
                    "clusters": model.clusters,
                }
            )
    return pd.DataFrame(rows)


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _cell(r, digits: int) -> str:
    return (
        f"{r['estimate']:.{digits}f}{_stars(r['p_ols'])} "
        f"({r['se_ols']:.{digits}f}) [{r['se_cluster']:.{digits}f}]"
    )


def family_display(long: pd.DataFrame, family: str, digits: int = 3) -> pd.DataFrame:
    """One family as the paper lays it out: a column per model, ``estimate (OLS SE) [cluster SE]``.

    Stars from the OLS p-value as printed; education dummies summarised as a yes/no row except
    in the trait-as-outcome models, where education is the regressor.
    """
    part = long[long["family"] == family]
    keep_education = family == "trait as outcome"
    cells: dict[str, dict[str, str]] = {}
    for (trait, outcome, number), fit in part.groupby(["trait", "outcome", "model"], sort=False):
        column = f"{trait} · {OUTCOMES.get(outcome, outcome)} · ({number})"
        cells[column] = {}
        for _, r in fit.iterrows():
            term = r["term"]
            if term == "(Intercept)" or (term.startswith("education") and not keep_education):
                continue
            cells[column][term] = _cell(r, digits)
        if not keep_education:
            has = fit["term"].str.startswith("education").any()
            cells[column]["education controls"] = "yes" if has else "no"
        first = fit.iloc[0]
        cells[column]["N"] = str(int(first["n"]))
        cells[column]["clusters"] = str(int(first["clusters"]))
        cells[column]["R²"] = f"{first['r2']:.{digits}f}"
    out = pd.DataFrame(cells).fillna("")
    tail = ["education controls", "N", "clusters", "R²"]
    order = [i for i in out.index if i not in tail] + [i for i in tail if i in out.index]
    out = out.loc[order]
    out.index.name = "term"
    return out


def levels_display(levels: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The effect at each moderator level: rows model, columns the two levels."""
    rows = []
    for _, r in levels.iterrows():
        rows.append(
            {
                "family": r["family"],
                "trait": r["trait"],
                "outcome": OUTCOMES[r["outcome"]],
                "model": f"({r['model']}) {r['specification']}",
                "level": r["level_label"],
                "effect (OLS SE) [cluster SE]": _cell(r, digits),
                "p (cluster)": f"{r['p_cluster']:.3g}",
                "N": int(r["n"]),
            }
        )
    return pd.DataFrame(rows)


def interaction_plot(
    main_long: pd.DataFrame, levels: pd.DataFrame, path: str | Path, *, level: float
) -> None:
    """Left: the 24 interaction coefficients and 12 main effects of the interaction models, as
    the authors' ``interaction_effects_plot.R`` and ``Main_effects.plot.R`` show them; right: the
    trait's effect at each moderator level (main + interaction), each with OLS and clustered
    ``level`` intervals. The main effect in an interaction model is the effect at the reference
    group, which the left panel's labels say.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polface.io import atomic_output

    z = float(norm.ppf(0.5 + level / 2.0))
    published = main_long[main_long["sample"] == "as published"]
    part = published[published["model"].isin([3, 4, 5, 6])]
    main = levels[levels["family"] == "main"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 11), sharey=True)
    labels = []
    y = 0
    for (trait, outcome, number), fit in part.groupby(["trait", "outcome", "model"], sort=False):
        t = f"{trait}_pd"
        by_term = fit.set_index("term")
        interaction = [x for x in by_term.index if x.startswith(f"{t}:")][0]
        effects = main[
            (main["trait"] == trait) & (main["outcome"] == outcome) & (main["model"] == number)
        ].sort_values("level")
        partner = effects["moderator"].iloc[0]
        name = f"{trait} → {OUTCOMES[outcome]} ({number})"
        for k, (term, desc) in enumerate(
            (
                (t, f"trait = effect at {LEVEL_LABELS[partner][0]}"),
                (interaction, f"trait × {interaction.split(':')[1]}"),
            )
        ):
            r = by_term.loc[term]
            for se, colour, dy in (("se_ols", "C0", -0.12), ("se_cluster", "C1", 0.12)):
                axes[0].errorbar(r["estimate"], y + dy, xerr=z * r[se], fmt="o", ms=3, color=colour)
            eff = effects.iloc[k]
            for se, colour, dy in (("se_ols", "C0", -0.12), ("se_cluster", "C1", 0.12)):
                axes[1].errorbar(
                    eff["estimate"], y + dy, xerr=z * eff[se], fmt="s", ms=3, color=colour
                )
            labels.append(f"{name}: {desc} | right: at {eff['level_label']}")
            y += 1
    for ax in axes:
        ax.axvline(0.0, color="grey", lw=0.8)
    axes[0].set_yticks(range(len(labels)))
    axes[0].set_yticklabels(labels, fontsize=6)
    axes[0].invert_yaxis()
    axes[0].set_title(
        "coefficients: main effect (at the reference group) and interaction", fontsize=9
    )
    axes[1].set_title("the trait's effect at each moderator level (main + interaction)", fontsize=9)
    for ax in axes:
        ax.set_xlabel(f"estimate ({level:.0%} interval; blue OLS SE, orange clustered SE)")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- sensitivity (Sensemakr.R)

#: What the authors' Sensemakr.R did with each (trait, outcome) of model (b).
SENSEMAKR_NOTES: dict[tuple[str, str], str] = {
    ("attractiveness", "percentile_rank_std"): "as Sensemakr.R (kd 1:2)",
    ("attractiveness", "personal_votes_std"): "as Sensemakr.R (kd 1:2)",
    ("trustworthiness", "percentile_rank_std"): "not in Sensemakr.R",
    ("trustworthiness", "personal_votes_std"): (
        "Sensemakr.R fits this model but plots the attractiveness object again (its figure "
        "shows attractiveness's numbers); here the intended trustworthiness quantity"
    ),
    ("dominance", "percentile_rank_std"): "not in Sensemakr.R",
    ("dominance", "personal_votes_std"): "Sensemakr.R uses kd = 1 only",
}


def sensitivity(
    sample: pd.DataFrame,
    *,
    benchmark: str = "gender1",
    kd: Sequence[float] = (1.0, 2.0),
    q: float = 1.0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Cinelli & Hazlett's sensitivity of the trait in model (b), ``y ~ T + age + gender +
    education``, every trait and outcome, benchmarked on ``benchmark`` (R's column name).

    One row per (trait, outcome, kd): the estimate, OLS SE, t and dof; the treatment's partial R²
    with the outcome; RV_q and RV_{q,alpha}; the benchmark's partial R² with the treatment (in
    ``T ~ controls`` on the model's rows) and with the outcome; the bounds on a confounder kd
    times as strong, and the estimate, SE and t adjusted for it; a note on what the authors'
    script did.
    """
    from polface import sensitivity as cinelli
    from polface.sensitivity import ImpossibleBound

    rows = []
    for trait in TRAITS:
        t = f"{trait}_pd"
        for outcome in OUTCOMES:
            variables, _ = specification_terms(trait, "trait + controls")
            used = complete_rows(model_rows(sample, outcome), [outcome, *variables])
            outcome_model = _Model({}, used, outcome, formula_matrix(used, variables))
            treatment_model = _Model({}, used, t, formula_matrix(used, list(CONTROLS)))
            columns = list(outcome_model.X.columns)
            if benchmark not in columns:
                raise ValueError(f"benchmark {benchmark!r} is not a column of {columns}")
            dof = float(outcome_model.ols.df_resid)
            k = columns.index(t)
            estimate = float(outcome_model.ols.params[k])
            se = float(outcome_model.ols.bse[k])
            t_value = estimate / se
            j_out = columns.index(benchmark)
            r2yxj = float(cinelli.partial_r2(outcome_model.ols.tvalues[j_out], dof))
            j_treat = list(treatment_model.X.columns).index(benchmark)
            r2dxj = float(
                cinelli.partial_r2(
                    treatment_model.ols.tvalues[j_treat], treatment_model.ols.df_resid
                )
            )
            for strength in kd:
                try:
                    r2dz, r2yz = cinelli.benchmark_bounds(r2dxj, r2yxj, strength)
                    adj = float(cinelli.adjusted_estimate(estimate, se, dof, r2dz, r2yz))
                    adj_se = float(cinelli.adjusted_se(se, dof, r2dz, r2yz))
                    bound = "ok"
                except ImpossibleBound:
                    r2dz = r2yz = adj = adj_se = float("nan")
                    bound = (
                        f"impossible: {strength:g} × the benchmark's partial R² with the trait "
                        "gives R²_{D~Z|X} >= 1 (sensemakr stops with an error)"
                    )
                rows.append(
                    {
                        "trait": trait,
                        "outcome": outcome,
                        "n": int(outcome_model.ols.nobs),
                        "dof": int(dof),
                        "estimate": estimate,
                        "se": se,
                        "t": t_value,
                        "r2yd_x": float(cinelli.partial_r2(t_value, dof)),
                        "rv_q": float(cinelli.robustness_value(t_value, dof, q)),
                        "rv_qa": float(cinelli.robustness_value(t_value, dof, q, alpha)),
                        "q": q,
                        "alpha": alpha,
                        "benchmark": benchmark,
                        "r2dxj_x": r2dxj,
                        "r2yxj_dx": r2yxj,
                        "kd": float(strength),
                        "r2dz_x": r2dz,
                        "r2yz_dx": r2yz,
                        "adjusted_estimate": adj,
                        "adjusted_se": adj_se,
                        "adjusted_t": adj / adj_se if adj_se > 0 else float("nan"),
                        "bound": bound,
                        "authors_script": SENSEMAKR_NOTES[(trait, outcome)],
                    }
                )
    return pd.DataFrame(rows)


def sensitivity_display(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """One row per trait and outcome: estimate, partial R², RVs, the kd bounds, the note."""
    out = []
    for (trait, outcome), part in table.groupby(["trait", "outcome"], sort=False):
        first = part.iloc[0]
        row = {
            "trait": trait,
            "outcome": OUTCOMES[outcome],
            "estimate (t)": f"{first['estimate']:.{digits}f} ({first['t']:.2f})",
            "partial R² of the trait": f"{first['r2yd_x']:.4f}",
            f"RV (q = {first['q']:g})": f"{first['rv_q']:.4f}",
            f"RV (q = {first['q']:g}, alpha = {first['alpha']:g})": f"{first['rv_qa']:.4f}",
        }
        for _, r in part.iterrows():
            row[f"{r['kd']:g}× {r['benchmark']}: adjusted estimate (t)"] = (
                f"{r['adjusted_estimate']:.{digits}f} ({r['adjusted_t']:.2f})"
                if r["bound"] == "ok"
                else "impossible (R²_{D~Z|X} >= 1)"
            )
        row["the authors' script"] = first["authors_script"]
        out.append(row)
    return pd.DataFrame(out)


def sensitivity_contours(table: pd.DataFrame, path: str | Path) -> None:
    """Contours of the adjusted estimate over the confounder's two partial R² values, one panel
    per trait and outcome, the zero line dashed red, the kd × benchmark bounds marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polface import sensitivity as cinelli
    from polface.io import atomic_output

    fig, axes = plt.subplots(len(TRAITS), len(OUTCOMES), figsize=(10, 13), squeeze=False)
    for i, trait in enumerate(TRAITS):
        for j, outcome in enumerate(OUTCOMES):
            ax = axes[i, j]
            part = table[(table["trait"] == trait) & (table["outcome"] == outcome)]
            first = part.iloc[0]
            top = max(0.4, float(np.nanmax(part[["r2dz_x", "r2yz_dx"]].to_numpy(), initial=0)))
            top = min(top + 0.1, 1.0)
            grid = np.linspace(0.0, top, 201)
            rd, ry = np.meshgrid(grid[:-1], grid)
            z = cinelli.adjusted_estimate(first["estimate"], first["se"], first["dof"], rd, ry)
            contours = ax.contour(rd, ry, z, levels=10, colors="grey", linewidths=0.7)
            ax.clabel(contours, fontsize=6)
            ax.contour(rd, ry, z, levels=[0.0], colors="red", linestyles="dashed")
            ax.plot(0, 0, "k^")
            ax.annotate(f"unadjusted ({first['estimate']:.3f})", (0, 0), fontsize=7)
            for _, r in part[part["bound"] == "ok"].iterrows():
                ax.plot(r["r2dz_x"], r["r2yz_dx"], "ro", ms=4)
                ax.annotate(
                    f"{r['kd']:g}× {r['benchmark']} ({r['adjusted_estimate']:.3f})",
                    (r["r2dz_x"], r["r2yz_dx"]),
                    fontsize=7,
                )
            ax.set_title(f"{trait} → {OUTCOMES[outcome]}", fontsize=9)
            ax.set_xlabel("partial R² of the confounder with the trait", fontsize=8)
            ax.set_ylabel("partial R² of the confounder with the outcome", fontsize=8)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- KRLS (table_krls.R)

EDUCATION_LEVELS: tuple[str, ...] = (
    "Primary School",
    "High School",
    "Vocational",
    "Seminary",
    "Undergraduate",
    "Graduate",
    "Ph.d",
)


def krls_design(
    sample: pd.DataFrame, trait: str, outcome: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``table_krls.R``'s data: y, and X = the trait, gender (1 = female), age and a dummy per
    education level (all seven, as ``fastDummies::dummy_cols``), on the complete rows."""
    rows = model_rows(sample, outcome)
    rows = complete_rows(rows, [outcome, f"{trait}_pd", "gender", "age", "education"])
    columns = {
        f"{trait}_pd": rows[f"{trait}_pd"].to_numpy(dtype=np.float64),
        "gender1": (rows["gender"].astype(str) == "1").to_numpy(dtype=np.float64),
        "age": rows["age"].to_numpy(dtype=np.float64),
    }
    for level in EDUCATION_LEVELS:
        columns[f"education{level}"] = (rows["education"].astype(str) == level).to_numpy(
            dtype=np.float64
        )
    names = [name for name, values in columns.items() if np.ptp(values) > 0]
    X = np.column_stack([columns[name] for name in names])
    return X, rows[outcome].to_numpy(dtype=np.float64), names


def krls_effects(sample: pd.DataFrame) -> pd.DataFrame:
    """KRLS of every trait × outcome as ``table_krls.R``: the average marginal effect of each
    continuous column and the first difference of each binary one, with SE, t and p (normal)."""
    from scipy.stats import norm as normal

    from polface.models.krls import fit_krls, marginal_effects

    frames = []
    for trait in TRAITS:
        for outcome in OUTCOMES:
            X, y, names = krls_design(sample, trait, outcome)
            fit = fit_krls(X, y)
            effects = pd.DataFrame(marginal_effects(fit, names))
            effects["t"] = effects["estimate"] / effects["se"]
            effects["p"] = 2.0 * normal.sf(np.abs(effects["t"]))
            effects.insert(0, "outcome", outcome)
            effects.insert(0, "trait", trait)
            effects["n"] = len(y)
            effects["lambda"] = fit.lam
            effects["r2"] = float(1.0 - np.var(y - fit.fitted) / np.var(y))
            frames.append(effects)
    return pd.concat(frames, ignore_index=True)

"""Khan, Baranek, Reed & Stinson, "Before and After Pseudoscience": their own findings, assembled.

E2 (test–retest): the same person before and after a haircut, makeup, a beard, glasses, a hairdo
or drag, scored by their two models (their "lasso", an L2 SGD logistic regression, and their
network). :func:`reproduction_tables` recomputes their analysis outputs exactly as their
notebook did (``notebooks/retest_analysis.ipynb``): marginal tables with scipy's
``chi2_contingency`` (Yates' correction, before and after treated as independent samples) and
2 × 2 tables with statsmodels' ``mcnemar`` (exact binomial test; it prints ``min(b, c)`` as
"statistic"). :func:`check_against_published` compares every number with their CSVs.
:func:`retest_audit` adds what the flip rates mean: Cohen's kappa, the flip rate of two
unrelated people with the same rates, the direction of change.

E3 (before vs after): :func:`before_after_classifier` fits an L2 logistic regression on their
released 512-d features in nested cross-validation whose folds keep a pair together: a head-only
version of their fine-tuned ResNet-18 (68% on a random 80/20 split of photographs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from polface import metrics
from polface.data.khan import (
    CATEGORIES,
    MARGINAL_COLUMNS,
    MODELS,
    TABLE_COLUMNS,
    KhanDataError,
    SgdModel,
)

#: polface's names of their two models, as the tables print them.
MODEL_LABELS = {"lasso": "lasso (SGD, L2)", "nn": "network"}
#: Their CSV -> (polface's table name, columns that hold numbers).
PUBLISHED = {
    "lasso_retest_analysis.csv": "lasso_marginal",
    "nn_retest_analysis.csv": "nn_marginal",
    "lasso_mcnemar.csv": "lasso_mcnemar",
    "nn_mcnemar.csv": "nn_mcnemar",
    "before_after_contingency_wo_drag.csv": "lasso_mcnemar_without_drag",
}
#: Their log-model run, whose predictions were not released (checked for consistency only).
LOG_FILES = ("before_after_log.csv", "log_Contingency.csv")
NO_DRAG = [c for c in CATEGORIES if c != "drag"]
POOLED = "pooled"
POOLED_NO_DRAG = "pooled without drag"


# ---------------------------------------------------------------- E2 as they computed it


def _with_total(frame: pd.DataFrame) -> pd.DataFrame:
    total = frame.sum()
    total.name = "total"
    return pd.concat([frame, total.to_frame().T])


def marginal_table(preds: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per category (and total): pairs, predictions before and after, their χ² (Yates)."""
    rows = {}
    for category in CATEGORIES:
        part = preds[preds["category"] == category]
        before, after = part[f"{model}_before"], part[f"{model}_after"]
        rows[category] = [
            len(part),
            int((before == 0).sum()),
            int((before == 1).sum()),
            int((after == 0).sum()),
            int((after == 1).sum()),
        ]
    table = _with_total(pd.DataFrame.from_dict(rows, orient="index", columns=MARGINAL_COLUMNS))
    tests = [
        metrics.marginal_chi2(
            (row["before liberal"], row["before conservative"]),
            (row["after liberal"], row["after conservative"]),
            correction=True,
        )
        for _, row in table.iterrows()
    ]
    table["statistic"] = [t[0] for t in tests]
    table["pvalue"] = [t[1] for t in tests]
    table.index.name = "category"
    return table


def mcnemar_table(
    preds: pd.DataFrame, model: str, categories: Sequence[str] = CATEGORIES
) -> pd.DataFrame:
    """Per category (and total): the 2 × 2 before/after counts and their McNemar (as printed).

    ``blac`` = before liberal, after conservative (b); ``bcal`` = before conservative, after
    liberal (c). ``statistic`` is ``min(b, c)``, ``pvalue`` the exact binomial p.
    """
    rows = {}
    for category in categories:
        part = preds[preds["category"] == category]
        table = metrics.paired_table(part[f"{model}_before"], part[f"{model}_after"])
        rows[category] = [len(part), table[0, 0], table[0, 1], table[1, 1], table[1, 0]]
    frame = _with_total(pd.DataFrame.from_dict(rows, orient="index", columns=TABLE_COLUMNS))
    tests = [
        metrics.mcnemar_as_printed(int(r["blac"]), int(r["bcal"])) for _, r in frame.iterrows()
    ]
    frame["statistic"] = [t[0] for t in tests]
    frame["pvalue"] = [t[1] for t in tests]
    frame.index.name = "category"
    return frame


def reproduction_tables(preds: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Their five analysis tables, recomputed from the per-pair predictions (and the network's
    no-drag table, which they did not write)."""
    tables = {}
    for model in MODELS:
        tables[f"{model}_marginal"] = marginal_table(preds, model)
        tables[f"{model}_mcnemar"] = mcnemar_table(preds, model)
        tables[f"{model}_mcnemar_without_drag"] = mcnemar_table(preds, model, NO_DRAG)
    return tables


def flip_summary(preds: pd.DataFrame) -> pd.DataFrame:
    """Flips, their directions and the agreement of each model, all pairs and without drag."""
    rows = []
    for model in MODELS:
        for subset, part in ((POOLED, preds), (POOLED_NO_DRAG, preds[preds.category != "drag"])):
            table = metrics.paired_table(part[f"{model}_before"], part[f"{model}_after"])
            n = int(table.sum())
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "pairs": subset,
                    "n": n,
                    "flips": int(table[0, 1] + table[1, 0]),
                    "liberal to conservative": int(table[0, 1]),
                    "conservative to liberal": int(table[1, 0]),
                    "flip rate": (table[0, 1] + table[1, 0]) / n,
                    "agreement": (table[0, 0] + table[1, 1]) / n,
                }
            )
    return pd.DataFrame(rows)


def ulp_distance(a: float, b: float) -> int:
    """How many representable doubles lie between ``a`` and ``b`` (0: the same double)."""
    if a == b:
        return 0
    if not (np.isfinite(a) and np.isfinite(b)):
        return np.iinfo(np.int64).max

    def ordered(x: float) -> int:
        bits = int(np.float64(x).view(np.int64))
        return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)

    return abs(ordered(a) - ordered(b))


def check_against_published(
    ours: Mapping[str, pd.DataFrame], theirs: Mapping[str, pd.DataFrame], max_ulps: int = 8
) -> pd.DataFrame:
    """Every number of their CSVs beside polface's: one row per cell, and how far apart.

    ``theirs`` maps a file name of :data:`PUBLISHED` (or :data:`LOG_FILES`) to the table
    :func:`polface.data.khan.read_results_table` read. Their CSVs print Python's shortest
    round-trip repr, so a parsed cell is the double they computed; ``ulps`` counts the doubles
    between theirs and polface's (0: bit-identical) and ``equal`` allows ``max_ulps`` (the last
    bits of ``scipy.stats.binom.cdf`` differ between scipy versions: one exact McNemar p of theirs
    is 4 doubles away from the rational value's rounding, polface's 1). The
    log-model files are checked against each other (their 2 × 2 margins must give the marginal
    table), since the log model's predictions were not released.
    """
    rows = []

    def add(source, row, column, published, polface, check):
        ulps = ulp_distance(float(published), float(polface))
        rows.append(
            {
                "file": source,
                "row": row,
                "column": column,
                "published": float(published),
                "polface": float(polface),
                "check": check,
                "ulps": ulps,
                "equal": ulps <= max_ulps,
            }
        )

    for source, name in PUBLISHED.items():
        if source not in theirs:
            continue
        published, computed = theirs[source], ours[name]
        if list(published.index) != list(computed.index):
            raise KhanDataError(
                f"{source}: rows {list(published.index)}; expected polface's rows"
                f" {list(computed.index)}"
            )
        for column in published.columns:
            if column not in computed.columns:
                raise KhanDataError(
                    f"{source}: column {column!r} is not in polface's {name}; expected one of"
                    f" {list(computed.columns)}"
                )
            for row in published.index:
                add(
                    source,
                    row,
                    column,
                    published.at[row, column],
                    computed.at[row, column],
                    "recomputed from batch_preds.csv",
                )
    if all(name in theirs for name in LOG_FILES):
        marginal, table = theirs[LOG_FILES[0]], theirs[LOG_FILES[1]]
        lacking = [row for row in marginal.index if row not in table.index]
        if lacking:
            raise KhanDataError(
                f"{LOG_FILES[1]}: no row(s) {lacking}; expected the rows of {LOG_FILES[0]}"
                f" {list(marginal.index)}"
            )
        implied = {
            "total": table["total"],
            "before liberal": table["blal"] + table["blac"],
            "before conservative": table["bcac"] + table["bcal"],
            "after liberal": table["blal"] + table["bcal"],
            "after conservative": table["blac"] + table["bcac"],
        }
        for column, values in implied.items():
            for row in marginal.index:
                add(
                    LOG_FILES[0],
                    row,
                    column,
                    marginal.at[row, column],
                    values[row],
                    f"implied by {LOG_FILES[1]} (log-model predictions not released)",
                )
    return pd.DataFrame(rows)


def long_tables(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`reproduction_tables` as two long tables: marginal (χ²) and 2 × 2 (McNemar)."""
    marginal = pd.concat(
        [tables[f"{m}_marginal"].reset_index().assign(model=MODEL_LABELS[m]) for m in MODELS]
    )
    mcnemar = pd.concat(
        [
            tables[f"{m}_mcnemar{suffix}"].reset_index().assign(model=MODEL_LABELS[m], pairs=pairs)
            for m in MODELS
            for suffix, pairs in (("", "all"), ("_without_drag", "without drag"))
        ]
    )
    marginal = marginal.rename(columns={"statistic": "chi2 (Yates)", "pvalue": "chi2 p"})
    mcnemar = mcnemar.rename(columns={"statistic": "min(b, c)", "pvalue": "McNemar exact p"})
    first = ["model"]
    return (
        marginal[first + [c for c in marginal.columns if c not in first]].reset_index(drop=True),
        mcnemar[
            first + ["pairs"] + [c for c in mcnemar.columns if c not in first + ["pairs"]]
        ].reset_index(drop=True),
    )


def check_summary(check: pd.DataFrame) -> pd.DataFrame:
    """Per published file: cells compared, bit-identical, within tolerance, the largest gap."""
    return (
        check.groupby(["file", "check"], sort=False)
        .agg(
            cells=("equal", "size"),
            identical=("ulps", lambda u: int((u == 0).sum())),
            equal=("equal", "sum"),
            max_ulps=("ulps", "max"),
        )
        .reset_index()
    )


# ---------------------------------------------------------------- E2 as an auditor reads it


def retest_audit(
    preds: pd.DataFrame, *, permutations: int, seed: int, level: float = 0.95
) -> pd.DataFrame:
    """Per model and category (and pooled, pooled without drag): what a flip rate means.

    Columns: pairs ``n``; ``p_before`` / ``p_after`` (share predicted conservative); ``flips`` and
    ``flip_rate`` with a Clopper–Pearson interval; ``unrelated_rate`` = p₁(1 − p₂) + p₂(1 − p₁)
    and the mean and central interval of the flip rate after re-pairing the after photographs
    at random (``permutations`` draws, ``seed``); Cohen's ``kappa`` with its interval;
    ``b`` (liberal → conservative), ``c`` (conservative → liberal), McNemar's exact p and the
    odds ``b / c`` of the direction with their exact interval.
    """
    subsets = [(c, preds[preds.category == c]) for c in CATEGORIES]
    subsets += [(POOLED, preds), (POOLED_NO_DRAG, preds[preds.category != "drag"])]
    rows = []
    for model in MODELS:
        for subset, part in subsets:
            before = part[f"{model}_before"].to_numpy()
            after = part[f"{model}_after"].to_numpy()
            n = len(part)
            table = metrics.paired_table(before, after)
            b, c = int(table[0, 1]), int(table[1, 0])
            flip_lo, flip_hi = metrics.proportion_ci(b + c, n, level)
            p1, p2 = float(before.mean()), float(after.mean())
            permuted = metrics.permuted_flip_rates(before, after, permutations, seed)
            kappa = metrics.cohen_kappa(before, after, level)
            odds, odds_lo, odds_hi = metrics.direction_odds(b, c, level)
            rows.append(
                {
                    "model": MODEL_LABELS[model],
                    "category": subset,
                    "n": n,
                    "p_before": p1,
                    "p_after": p2,
                    "flips": b + c,
                    "flip_rate": (b + c) / n,
                    "flip_lo": flip_lo,
                    "flip_hi": flip_hi,
                    "unrelated_rate": metrics.unrelated_flip_rate(p1, p2),
                    "permuted_rate": float(permuted.mean()),
                    "permuted_lo": float(np.quantile(permuted, 0.5 - level / 2)),
                    "permuted_hi": float(np.quantile(permuted, 0.5 + level / 2)),
                    "kappa": kappa.estimate,
                    "kappa_lo": kappa.lo,
                    "kappa_hi": kappa.hi,
                    "b": b,
                    "c": c,
                    "mcnemar_p": metrics.mcnemar_exact(b, c),
                    "direction_odds": odds,
                    "odds_lo": odds_lo,
                    "odds_hi": odds_hi,
                }
            )
    return pd.DataFrame(rows)


def _ci(value: float, lo: float, hi: float, digits: int) -> str:
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def audit_display(audit: pd.DataFrame) -> pd.DataFrame:
    """The audit table for reading: one row per model and category, intervals in brackets."""
    return pd.DataFrame(
        {
            "model": audit["model"],
            "category": audit["category"],
            "n": audit["n"],
            "flip rate": [_ci(r.flip_rate, r.flip_lo, r.flip_hi, 3) for r in audit.itertuples()],
            "unrelated pairs": [f"{r.unrelated_rate:.3f}" for r in audit.itertuples()],
            "re-paired at random": [
                _ci(r.permuted_rate, r.permuted_lo, r.permuted_hi, 3) for r in audit.itertuples()
            ],
            "kappa": [_ci(r.kappa, r.kappa_lo, r.kappa_hi, 2) for r in audit.itertuples()],
            "lib→con / con→lib": [f"{r.b} / {r.c}" for r in audit.itertuples()],
            "odds [95% CI]": [
                _ci(r.direction_odds, r.odds_lo, r.odds_hi, 2) for r in audit.itertuples()
            ],
            "McNemar p": [f"{r.mcnemar_p:.2g}" for r in audit.itertuples()],
        }
    )


# ---------------------------------------------------------------- E3: before vs after


def pairing_similarity(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """Mean cosine similarity of row i of ``before`` with row i of ``after``, and with other rows.

    Their feature files list the before and the after photographs each in sorted file-name order,
    so row i of both should be the same pair; a matched similarity well above the unmatched one
    says it is (the released files give about 0.22 against 0.02).
    """
    b = before / np.linalg.norm(before, axis=1, keepdims=True)
    a = after / np.linalg.norm(after, axis=1, keepdims=True)
    matched = float(np.einsum("ij,ij->i", b, a).mean())
    n = len(b)
    total = float(b.sum(axis=0) @ a.sum(axis=0))
    return matched, (total - matched * n) / (n * (n - 1))


def pair_folds(n_pairs: int, n_folds: int, seed: int) -> np.ndarray:
    """A fold number for each pair: a seeded permutation of the pairs dealt into ``n_folds``."""
    if not 2 <= n_folds <= n_pairs:
        raise ValueError(f"n_folds must be in [2, {n_pairs}], got {n_folds}")
    folds = np.empty(n_pairs, dtype=np.int64)
    folds[np.random.default_rng(seed).permutation(n_pairs)] = np.arange(n_pairs) % n_folds
    return folds


def _model(C: float):
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=C, l1_ratio=0.0, solver="lbfgs", max_iter=5000)
    )


def _nested_scores(
    before: np.ndarray,
    after: np.ndarray,
    swap: np.ndarray,
    *,
    outer_folds: int,
    inner_folds: int,
    Cs: Sequence[float],
    seed: int,
) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold P(after) of both photographs of every pair, and the C chosen per outer fold.

    ``swap[i]`` exchanges pair i's labels (the permutation baseline); rows are ``before`` then
    ``after``, each pair in one fold at both levels.
    """
    n = len(before)
    X = np.vstack([before, after])
    y = np.concatenate([swap.astype(np.int64), 1 - swap.astype(np.int64)])
    pair = np.concatenate([np.arange(n), np.arange(n)])
    outer = pair_folds(n, outer_folds, seed)[pair]
    scores = np.empty(2 * n)
    chosen = []
    for k in range(outer_folds):
        train = outer != k
        train_pairs = np.unique(pair[train])
        inner_of_pair = np.full(n, -1)
        inner_of_pair[train_pairs] = pair_folds(len(train_pairs), inner_folds, seed + 1 + k)
        inner = inner_of_pair[pair]
        best, best_auc = Cs[0], -np.inf
        for C in Cs:
            fold_scores = np.empty(2 * n)
            for j in range(inner_folds):
                fit, held = train & (inner != j), train & (inner == j)
                model = _model(C).fit(X[fit], y[fit])
                fold_scores[held] = model.predict_proba(X[held])[:, 1]
            auc = metrics.auc(y[train], fold_scores[train])
            if auc > best_auc:
                best, best_auc = C, auc
        chosen.append(float(best))
        model = _model(best).fit(X[train], y[train])
        scores[~train] = model.predict_proba(X[~train])[:, 1]
    return scores, chosen


def _summary(y: np.ndarray, scores: np.ndarray) -> tuple[float, float, float]:
    """Accuracy at 0.5, AUC and the share of pairs whose after photograph scores higher."""
    n = len(y) // 2
    after_score = np.where(y[n:] == 1, scores[n:], scores[:n])
    before_score = np.where(y[n:] == 1, scores[:n], scores[n:])
    pair_accuracy = float(
        np.mean(after_score > before_score) + 0.5 * np.mean(after_score == before_score)
    )
    return float(np.mean((scores > 0.5) == (y == 1))), metrics.auc(y, scores), pair_accuracy


def before_after_classifier(
    before: np.ndarray,
    after: np.ndarray,
    *,
    outer_folds: int,
    inner_folds: int,
    Cs: Sequence[float],
    seed: int,
    bootstrap: int,
    permutations: int,
    level: float = 0.95,
    n_threads: int = 1,
) -> pd.DataFrame:
    """Before vs after from the 512-d features: nested CV with pair-grouped folds, and baselines.

    The classifier is a standardised L2 logistic regression whose C the inner CV chooses by AUC.
    Intervals resample pairs (``bootstrap`` draws); the permutation baseline swaps the two labels
    of each pair with probability 1/2 (the exact null of a paired design) and repeats the whole
    nested CV ``permutations`` times. Rows: ``classifier``, ``majority`` and ``permuted labels``;
    columns: accuracy, AUC and pair accuracy (after scored above before) with intervals.
    BLAS runs on ``n_threads`` threads (many small fits: more threads only contend).
    """
    with threadpool_limits(limits=n_threads):
        return _classify(
            before,
            after,
            outer_folds=outer_folds,
            inner_folds=inner_folds,
            Cs=Cs,
            seed=seed,
            bootstrap=bootstrap,
            permutations=permutations,
            level=level,
        )


def _classify(before, after, *, outer_folds, inner_folds, Cs, seed, bootstrap, permutations, level):
    n = len(before)
    rng = np.random.default_rng(seed)
    no_swap = np.zeros(n, dtype=bool)
    scores, chosen = _nested_scores(
        before, after, no_swap, outer_folds=outer_folds, inner_folds=inner_folds, Cs=Cs, seed=seed
    )
    y = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    observed = _summary(y, scores)
    draws = []
    for _ in range(bootstrap):
        pick = rng.integers(0, n, n)
        rows = np.concatenate([pick, pick + n])
        draws.append(_summary(y[rows], scores[rows]))
    draws = np.array(draws)
    q = (0.5 - level / 2, 0.5 + level / 2)
    null = []
    for b in range(permutations):
        swap = np.random.default_rng([seed, b]).random(n) < 0.5
        permuted, _ = _nested_scores(
            before, after, swap, outer_folds=outer_folds, inner_folds=inner_folds, Cs=Cs, seed=seed
        )
        labels = np.concatenate([swap, ~swap]).astype(np.int64)
        null.append(_summary(labels, permuted))
    null = np.array(null).reshape(-1, 3)
    names = ("accuracy", "auc", "pair_accuracy")
    rows = [
        {"model": "classifier (head only)", "n_pairs": n, "chosen_C": ",".join(map(str, chosen))}
    ]
    for i, name in enumerate(names):
        rows[0][name] = observed[i]
        lo, hi = np.quantile(draws[:, i], q) if bootstrap else (np.nan, np.nan)
        rows[0][f"{name}_lo"], rows[0][f"{name}_hi"] = float(lo), float(hi)
        rows[0][f"{name}_p_permutation"] = (
            (1 + int(np.sum(null[:, i] >= observed[i]))) / (1 + permutations)
            if permutations
            else np.nan
        )
    majority = {"model": "majority", "n_pairs": n, "chosen_C": ""}
    majority |= {
        "accuracy": metrics.majority_accuracy(y),
        "auc": 0.5,
        "pair_accuracy": 0.5,
    }
    rows.append(majority)
    if permutations:
        perm = {"model": f"permuted labels ({permutations})", "n_pairs": n, "chosen_C": ""}
        for i, name in enumerate(names):
            perm[name] = float(null[:, i].mean())
            lo, hi = np.quantile(null[:, i], q)
            perm[f"{name}_lo"], perm[f"{name}_hi"] = float(lo), float(hi)
        rows.append(perm)
    return pd.DataFrame(rows)


def before_after_display(table: pd.DataFrame) -> pd.DataFrame:
    """The E3 table for reading: accuracy, AUC and pair accuracy with intervals."""
    out = {"model": table["model"]}
    for name, label in (("accuracy", "accuracy"), ("auc", "AUC"), ("pair_accuracy", "pair acc.")):
        out[label] = [
            f"{r[name]:.3f}"
            if pd.isna(r.get(f"{name}_lo", np.nan))
            else _ci(r[name], r[f"{name}_lo"], r[f"{name}_hi"], 3)
            for _, r in table.iterrows()
        ]
        if f"{name}_p_permutation" in table:
            out[f"{label} perm. p"] = [
                "" if pd.isna(v) else f"{v:.3g}" for v in table[f"{name}_p_permutation"]
            ]
    return pd.DataFrame(out)


# ---------------------------------------------------------------- their SGD models


def sgd_models_table(models: Mapping[str, SgdModel]) -> pd.DataFrame:
    """One row per released model: its settings and the size of its linear function."""
    rows = []
    for name, model in models.items():
        settings = model.settings
        rows.append(
            {
                "model": name,
                "loss": settings.get("loss"),
                "penalty": settings.get("penalty"),
                "alpha": settings.get("alpha"),
                "l1_ratio": settings.get("l1_ratio"),
                "n_features": model.coef.shape[1],
                "intercept": float(model.intercept[0]),
                "coef_l2_norm": float(np.linalg.norm(model.coef)),
                "nonzero_coef": int(np.count_nonzero(model.coef)),
            }
        )
    return pd.DataFrame(rows)


def sgd_arrays(models: Mapping[str, SgdModel]) -> dict[str, np.ndarray]:
    """The arrays of every model for an npz: ``NAME/coef``, ``NAME/intercept``, ``NAME/classes``."""
    out = {}
    for name, model in models.items():
        out[f"{name}/coef"] = model.coef
        out[f"{name}/intercept"] = model.intercept
        out[f"{name}/classes"] = np.asarray(model.classes, dtype=np.float64)
    return out


def model_names(paths: Sequence[str | Path]) -> list[str]:
    """A model's name is its file's stem (lasso_pol_dat_us.joblib -> lasso_pol_dat_us)."""
    return [Path(p).stem for p in paths]


# ---------------------------------------------------------------- Table 2 their way, on a cohort

#: The variants of :func:`sgd_table2`, in display order.
TABLE2_VARIANTS = ("their way (in-sample diagonal)", "their SGD, out of fold", "released model")


def _their_sgd(X, rows: np.ndarray, y: np.ndarray, chunk: int, seed: int):
    """Their Table 2 fit: SGD logistic regression (L2, alpha 1e-4), as their notebook ran it.

    ``partial_fit`` one epoch per chunk of ``chunk`` rows in row order, the remainder after the
    last full chunk dropped; a sample smaller than one chunk is fitted with ``fit`` instead.
    """
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(loss="log_loss", penalty="l2", alpha=1e-4, random_state=seed)
    batches = len(rows) // chunk if chunk else 0
    if batches == 0:
        return model.fit(X.take(rows), y)
    for b in range(batches):
        part = slice(b * chunk, (b + 1) * chunk)
        model.partial_fit(X.take(rows[part]), y[part], classes=[0, 1])
    return model


def _scores(X, rows: np.ndarray, coef: np.ndarray, intercept: float, block_rows: int) -> np.ndarray:
    out = np.empty(len(rows))
    for positions, block in X.blocks(rows, block_rows):
        out[positions] = block @ coef + intercept
    return out


def sgd_table2(
    faces: pd.DataFrame,
    X,
    folds: pd.DataFrame,
    *,
    samples: Sequence[str],
    seed: int,
    released: Mapping[str, SgdModel] | None = None,
    block_rows: int = 8192,
) -> pd.DataFrame:
    """Khan et al.'s Table 2 on a cohort, beside what changes when it is done otherwise.

    Three variants, each a model per training sample scored on every sample's rows:
    their way (the whole sample, chunks of a quarter of all rows, accuracy at 0.5; the diagonal is
    in-sample), the same fit in the cohort's outer folds (each row scored by the model that did
    not see it), and their released model for the sample (``released["lasso_" + sample]``, when
    given and of the cohort's width). Columns: variant, train, test, n, accuracy (at 0.5), auc,
    in_sample.

    Args:
        faces: the cohort's ``d`` (0/1 sample columns, NA outside the sample).
        X: the descriptors (:class:`polface.io.FeatureRows` or anything with ``take``/``blocks``).
        folds: ``outer_fold`` per row, aligned with ``faces``.
        samples: the sample columns, in table order.
        seed: SGDClassifier's random_state (their notebook left it unseeded).
        released: their models by file stem (:func:`polface.data.khan.read_sgd_model`).
    """
    labels = {s: faces[s].to_numpy(dtype=float) for s in samples}
    members = {s: np.flatnonzero(~np.isnan(labels[s])) for s in samples}
    outer = folds["outer_fold"].to_numpy()
    rows_out = []

    def add(variant, train, test, y, score, in_sample):
        rows_out.append(
            {
                "variant": variant,
                "train": train,
                "test": test,
                "n": len(y),
                "accuracy": float(np.mean((score > 0) == (y == 1))),
                "auc": metrics.auc(y, score),
                "in_sample": in_sample,
            }
        )

    n_all = len(faces)
    for s in samples:
        rows = members[s]
        model = _their_sgd(X, rows, labels[s][rows], n_all // 4, seed)
        for t in samples:
            score = _scores(X, members[t], model.coef_[0], model.intercept_[0], block_rows)
            add(TABLE2_VARIANTS[0], s, t, labels[t][members[t]], score, s == t)
    for s in samples:
        scores = {t: np.empty(len(members[t])) for t in samples}
        for k in np.unique(outer):
            train = members[s][outer[members[s]] != k]
            chunk = int(np.sum(outer != k)) // 4
            model = _their_sgd(X, train, labels[s][train], chunk, seed)
            for t in samples:
                held = outer[members[t]] == k
                scores[t][held] = _scores(
                    X, members[t][held], model.coef_[0], model.intercept_[0], block_rows
                )
        for t in samples:
            add(TABLE2_VARIANTS[1], s, t, labels[t][members[t]], scores[t], False)
    for s in samples:
        model = (released or {}).get(f"lasso_{s}")
        if model is None or model.coef.shape[1] != X.shape[1]:
            continue
        for t in samples:
            score = _scores(X, members[t], model.coef[0], model.intercept[0], block_rows)
            add(TABLE2_VARIANTS[2], s, t, labels[t][members[t]], score, False)
    return pd.DataFrame(rows_out)


def table2_display(long: pd.DataFrame) -> pd.DataFrame:
    """One row per variant and training sample, one column per test sample: 'acc% / AUC'."""
    cells = long.assign(
        cell=[
            f"{100 * a:.1f}% / {u:.3f}{' *' if i else ''}"
            for a, u, i in zip(long["accuracy"], long["auc"], long["in_sample"], strict=True)
        ],
        row=[f"{v} · {t}" for v, t in zip(long["variant"], long["train"], strict=True)],
    )
    wide = cells.pivot(index="row", columns="test", values="cell")
    order = list(dict.fromkeys(cells["row"]))
    wide = wide.loc[order, list(dict.fromkeys(long["test"]))]
    wide.index.name = "variant · trained on"
    wide.columns.name = None
    return wide

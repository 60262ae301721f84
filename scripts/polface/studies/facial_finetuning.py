"""The Facial Finetuning study (Lindholm, Hjorth & Schuessler, PSRM 2024): data and evaluation.

The data and their readers are :mod:`polface.data.finetuning`.

What the paper computed, reproduced here: the evaluation table (:func:`evaluation_table`: N,
mean, SD, MAE and Pearson r of the train set, the test set, each model's predictions, random
guessing from N(train mean, train SD) and guessing the train mean), with 95% intervals and the
noise ceiling of each trait (:func:`noise_ceiling`), and the 36 candidate regressions
(:mod:`polface.studies.candidate_regressions`) with the OLS standard errors the paper printed (its
``coeftest(x, vcovCL = ...)`` passes an argument lmtest ignores) beside cluster-robust ones by
candidate (statsmodels, the small-sample factor of ``sandwich::vcovCL``'s default HC1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.finetuning import OMI_ATTRIBUTES, TRAITS, FacialFinetuningDataError
from polface.frames import IMAGE_ID, require_columns
from polface.metrics import regression_intervals
from polface.report.render import write_table

EVALUATION_COLUMNS = (
    "trait",
    "column",
    "n",
    "mean",
    "sd",
    "mae",
    "mae_sd",
    "r",
    "r_sd",
    "r_lo",
    "r_hi",
    "rmse",
    "rmse_lo",
    "rmse_hi",
    "r2",
    "r2_lo",
    "r2_hi",
    "slope",
    "slope_lo",
    "slope_hi",
    "reliability",
    "noise_ceiling",
)


def evaluation_table(
    split: pd.DataFrame,
    predictions: pd.DataFrame,
    ceiling: pd.DataFrame | None,
    *,
    random_draws: int,
    seed: int,
    level: float,
    bootstrap: int,
) -> pd.DataFrame:
    """The paper's evaluation table per trait, long: one row per trait and column.

    Columns of the paper, in order: ``train set`` and ``test set`` (N, mean, SD of the ratings),
    every model of ``predictions`` (``model``, ``image_id``, ``trait``, ``prediction`` for each
    test face: N, mean, SD of the predictions, MAE and Pearson r against the test ratings, with
    Fisher-z and bootstrap intervals for r, RMSE, R² and the calibration slope), ``random
    guessing`` (``random_draws`` draws of N test values from N(train mean, train SD), SD with
    n - 1 as R's ``sd``; MAE and r as mean with ``mae_sd`` / ``r_sd`` the SD over draws) and
    ``mean guessing`` (the train mean for every face: its r is undefined, NaN). ``ceiling``
    (:func:`noise_ceiling`) adds each trait's reliability and noise ceiling to every row.
    """
    require_columns(predictions, ["model", IMAGE_ID, "trait", "prediction"], table="predictions")
    test = split[split["split"] == "test"].set_index(IMAGE_ID)
    train = split[split["split"] == "train"]
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    ceilings = ceiling.set_index("trait") if ceiling is not None else None
    models = list(dict.fromkeys(predictions["model"]))
    for t_index, trait in enumerate(TRAITS):
        y = test[trait].to_numpy()
        tr = train[trait].to_numpy()
        tr_mean, tr_sd = float(tr.mean()), float(tr.std(ddof=1))
        sub_seed = seed + 1000 * t_index
        block: list[dict[str, object]] = [
            {"column": "train set", "n": len(tr), "mean": tr_mean, "sd": tr_sd},
            {"column": "test set", "n": len(y), "mean": y.mean(), "sd": y.std(ddof=1)},
        ]
        for m_index, model in enumerate(models):
            part = predictions[(predictions["model"] == model) & (predictions["trait"] == trait)]
            if part.empty:
                continue
            by_id = part.set_index(IMAGE_ID)["prediction"]
            if by_id.index.duplicated().any() or set(by_id.index) != set(test.index):
                raise FacialFinetuningDataError(
                    f"predictions of model {model!r} for {trait}: expected one value for each "
                    f"of the {len(test)} test faces, got {len(by_id)} rows "
                    f"({len(set(by_id.index) & set(test.index))} test faces)"
                )
            p = by_id.loc[test.index].to_numpy(dtype=np.float64)
            row: dict[str, object] = {
                "column": model,
                "n": len(p),
                "mean": p.mean(),
                "sd": p.std(ddof=1),
                "mae": float(np.mean(np.abs(p - y))),
            }
            row.update(
                regression_intervals(
                    y, p, level=level, bootstrap=bootstrap, seed=sub_seed + m_index + 1
                )
            )
            block.append(row)
        draws = rng.normal(tr_mean, tr_sd, size=(random_draws, len(y)))
        maes = np.abs(draws - y).mean(axis=1)
        dc = draws - draws.mean(axis=1, keepdims=True)
        yc = y - y.mean()
        rs = (dc @ yc) / np.sqrt((dc**2).sum(axis=1) * (yc**2).sum())
        block.append(
            {
                "column": "random guessing",
                "mae": maes.mean(),
                "mae_sd": maes.std(ddof=1),
                "r": rs.mean(),
                "r_sd": rs.std(ddof=1),
            }
        )
        mean_guess = regression_intervals(
            y, np.full_like(y, tr_mean), level=level, bootstrap=bootstrap, seed=sub_seed
        )
        block.append(
            {
                "column": "mean guessing",
                "mae": float(np.mean(np.abs(y - tr_mean))),
                **{k: v for k, v in mean_guess.items() if k.startswith(("rmse", "r2"))},
            }
        )
        for row in block:
            row["trait"] = trait
            if ceilings is not None and trait in ceilings.index:
                row["reliability"] = float(ceilings.loc[trait, "reliability"])
                row["noise_ceiling"] = float(ceilings.loc[trait, "noise_ceiling"])
        rows += block
    return pd.DataFrame(rows).reindex(columns=list(EVALUATION_COLUMNS))


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.{digits}f}"


def evaluation_display(long: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: rows ``trait · statistic``, one column per column of the long table.

    N, mean, SD, MAE (random guessing: mean ± SD over the draws), Pearson r (random guessing:
    mean ± SD), then the additions: r's 95% CI, RMSE, R² and calibration slope with intervals,
    and the trait's noise ceiling (the r a perfect model of the mean ratings could reach).
    """
    columns = list(dict.fromkeys(long["column"]))
    blocks = []
    for trait, part in long.groupby("trait", sort=False):
        part = part.set_index("column")
        cells: dict[str, dict[str, str]] = {}
        for column in columns:
            if column not in part.index:
                continue
            row = part.loc[column]

            def pm(key: str, row: pd.Series = row) -> str:
                if not pd.isna(row[f"{key}_sd"]):
                    return f"{_fmt(row[key])} ± {_fmt(row[f'{key}_sd'])}"
                return _fmt(row[key])

            def ci(key: str, row: pd.Series = row) -> str:
                if pd.isna(row[key]) or pd.isna(row[f"{key}_lo"]):
                    return _fmt(row[key])
                return f"{_fmt(row[key])} [{_fmt(row[f'{key}_lo'])}, {_fmt(row[f'{key}_hi'])}]"

            cells[column] = {
                "N": "" if pd.isna(row["n"]) else str(int(row["n"])),
                "mean": _fmt(row["mean"]),
                "SD": _fmt(row["sd"]),
                "MAE": pm("mae"),
                "Pearson r": pm("r"),
                "r 95% CI": ci("r") if not pd.isna(row["r_lo"]) else "",
                "RMSE [95% CI]": ci("rmse"),
                "R² [95% CI]": ci("r2"),
                "calibration slope [95% CI]": ci("slope"),
            }
        table = pd.DataFrame(cells)
        ceiling = part["noise_ceiling"].dropna()
        if len(ceiling):
            # beside every r: the highest r a model of the mean ratings could reach
            table.loc["noise ceiling of r", :] = [
                _fmt(ceiling.iloc[0]) if cells[c]["Pearson r"] else "" for c in table.columns
            ]
        table.index = [f"{trait} · {i}" for i in table.index]
        blocks.append(table)
    out = pd.concat(blocks)
    out.index.name = "statistic"
    return out.fillna("")


def noise_ceiling(
    ratings: pd.DataFrame, stimuli: Sequence[str], *, splits: int, seed: int
) -> pd.DataFrame:
    """Split-half reliability (Spearman–Brown) of each trait's mean rating, and its noise ceiling.

    For each of ``splits`` random splits (``numpy.random.default_rng(seed)``), every face's
    ratings are shuffled and dealt alternately into two halves; the correlation ``r_h`` of the
    two half means over ``stimuli`` is stepped up to the full set, ``2 r_h / (1 + r_h)``. The
    reliability is the mean over splits; the noise ceiling ``sqrt(reliability)`` is the
    correlation a perfect model of the true mean ratings would have with the observed means.
    """
    rng = np.random.default_rng(seed)
    wanted = pd.Index([str(s) for s in stimuli])
    rows = []
    for trait in TRAITS:
        attribute = OMI_ATTRIBUTES[trait]
        part = ratings[
            (ratings["attribute"] == attribute) & ratings["stimulus"].isin(wanted)
        ].reset_index(drop=True)
        lacking = sorted(set(wanted) - set(part["stimulus"]))
        if lacking:
            raise FacialFinetuningDataError(
                f"no {attribute!r} ratings for {len(lacking)} faces: {lacking[:5]}"
            )
        codes = pd.Categorical(part["stimulus"], categories=wanted).codes
        values = part["rating"].to_numpy(dtype=np.float64)
        k = len(wanted)
        per_face = np.bincount(codes, minlength=k)
        if per_face.min() < 2:
            raise FacialFinetuningDataError(f"{attribute!r}: a face has fewer than 2 ratings")
        starts = np.concatenate([[0], np.cumsum(per_face)[:-1]])
        half = (np.arange(len(values)) - np.repeat(starts, per_face)) % 2
        reliabilities = np.empty(splits)
        for s in range(splits):
            order = np.lexsort((rng.random(len(values)), codes))
            f = codes[order]
            v = values[order]
            sums = np.zeros((2, k))
            counts = np.zeros((2, k))
            np.add.at(sums, (half, f), v)
            np.add.at(counts, (half, f), 1.0)
            means = sums / counts
            r_h = float(np.corrcoef(means[0], means[1])[0, 1])
            reliabilities[s] = 2 * r_h / (1 + r_h)
        rel = float(reliabilities.mean())
        rows.append(
            {
                "trait": trait,
                "attribute": attribute,
                "faces": k,
                "ratings": len(values),
                "ratings_per_face_min": int(per_face.min()),
                "ratings_per_face_median": float(np.median(per_face)),
                "splits": splits,
                "reliability": rel,
                "reliability_sd": float(reliabilities.std(ddof=1)) if splits > 1 else math.nan,
                "noise_ceiling": math.sqrt(rel) if rel > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows)


def write_evaluation(
    long: pd.DataFrame, *, csv: str | Path, md: str | Path, tex: str | Path
) -> None:
    """``csv``: every number of the long table; ``md`` / ``tex``: the paper's layout (atomic)."""
    write_table(long, csv=csv, md=md, tex=tex, index=True, display=evaluation_display(long))

"""The Facial Finetuning study (Lindholm, Hjorth & Schuessler, PSRM 2024): data and evaluation.

Three RData files from the authors' repository (asbjoernlindholm/facial-finetuning):

* ``OMI_training_data.RData``, data.frame ``omi_df``: the 856 adult One Million Impressions faces
  with the three traits (OMI means / 10), perceived ``gender`` and ``age`` (OMI means, 0-100) and
  ``image_folder`` = train / validation / test, the split R's ``set.seed(123); sample()`` drew
  (numpy cannot redraw it, so it is read, never redrawn).
* ``Annotated.and.predicted.test.data.RData``, data.frame ``df``: the 172 test faces with the
  authors' own predictions (``predicted_*``) beside the annotations (``annotated_*``).
* ``Candidate_data.RData``, data.frame ``df``: 9,020 Danish candidates with the traits the
  authors' networks predicted from their photographs and the two outcomes. Its ``name2`` column
  (base64 of a name and a party) identifies a person: :func:`read_candidates` replaces it by
  integer codes the moment it is read, and it is never decoded, printed, logged or written.

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
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from polface.data.rdata import RDataError, list_objects, read_data_frame
from polface.frames import IMAGE_ID, require_columns
from polface.metrics import pearson_ci

TRAITS: tuple[str, ...] = ("attractiveness", "trustworthiness", "dominance")
#: The OMI attribute behind each trait (columns of attribute_means.csv / attribute_ratings.csv).
OMI_ATTRIBUTES: dict[str, str] = {
    "attractiveness": "attractive",
    "trustworthiness": "trustworthy",
    "dominance": "dominant",
}
SPLITS: tuple[str, ...] = ("train", "validation", "test")
TRAINING_OBJECT = "omi_df"
TEST_OBJECT = "df"
CANDIDATES_OBJECT = "df"
#: The integer code that replaces ``name2``; ``name2`` itself never leaves :func:`read_candidates`.
CANDIDATE_CODE = "candidate"
PERSONAL_COLUMN = "name2"
#: Columns of the candidates data not used at all (``ethnicity``: the issue forbids it).
UNUSED_CANDIDATE_COLUMNS = ("ethnicity",)
IMAGE_FLAGS = ("image_missing", "image_bad", "image_text")
OUTCOMES: dict[str, str] = {
    "percentile_rank_std": "ballot position (z, 1 = top)",
    "personal_votes_std": "log personal votes (z)",
}


class FacialFinetuningDataError(ValueError):
    """An input file of the study does not hold what the study expects."""


# ---------------------------------------------------------------- reading the three RData files


def read_frame(path: str | Path, object_name: str, columns: Sequence[str]) -> pd.DataFrame:
    """Read data.frame ``object_name`` from an RData file and check that it has ``columns``."""
    path = Path(path)
    if not path.is_file():
        raise FacialFinetuningDataError(f"{path}: file not found")
    try:
        objects = list_objects(path)
    except RDataError as exc:
        raise FacialFinetuningDataError(f"{path}: not a readable RData file ({exc})") from exc
    if object_name not in objects:
        found = ", ".join(f"{k} ({v})" for k, v in objects.items()) or "nothing"
        raise FacialFinetuningDataError(
            f"{path}: expected a data.frame named {object_name!r}; the file holds {found}"
        )
    if "data.frame" not in objects[object_name]:
        raise FacialFinetuningDataError(
            f"{path}: {object_name!r} is {objects[object_name]}, expected a data.frame"
        )
    frame = read_data_frame(path, object_name)
    try:
        require_columns(frame, columns, table=f"{path}: data.frame {object_name!r}")
    except KeyError as exc:
        raise FacialFinetuningDataError(str(exc.args[0])) from None
    return frame


def image_id_of(filename: str) -> str:
    """``'17.jpg'`` → ``'17'``: the OMI image number, the ``image_id`` of the image branch."""
    return Path(str(filename)).stem


def read_training_split(
    path: str | Path,
    *,
    expected_counts: Mapping[str, int],
    image_folder: str | Path | None,
) -> pd.DataFrame:
    """The authors' split of the adult OMI faces, checked.

    Returns one row per face in file order: ``image_id``, ``Filename``, ``split`` (train /
    validation / test), the three traits (OMI means / 10), perceived ``gender`` and ``age``.

    Raises:
        FacialFinetuningDataError: no ``omi_df``, a missing column, duplicate or empty file
            names, split labels other than train / validation / test, counts other than
            ``expected_counts``, or (with ``image_folder``) image files missing for rows of the
            split (the message names them).
    """
    columns = ["Filename", *TRAITS, "gender", "age", "image_folder"]
    frame = read_frame(path, TRAINING_OBJECT, columns)
    names = frame["Filename"].astype(str)
    if frame["Filename"].isna().any() or names.duplicated().any():
        bad = names[names.duplicated() | frame["Filename"].isna()].tolist()[:5]
        raise FacialFinetuningDataError(
            f"{path}: column 'Filename' must be unique and complete; repeated or missing: {bad}"
        )
    split = frame["image_folder"].astype(str)
    unknown = sorted(set(split) - set(SPLITS))
    if unknown:
        raise FacialFinetuningDataError(
            f"{path}: column 'image_folder' has {unknown}; expected only {list(SPLITS)}"
        )
    counts = {name: int((split == name).sum()) for name in SPLITS}
    expected = {name: int(expected_counts[name]) for name in SPLITS}
    if counts != expected:
        raise FacialFinetuningDataError(
            f"{path}: the split has {counts} faces per part; expected {expected} "
            "(the authors' set.seed(123) split)"
        )
    for column in (*TRAITS, "gender", "age"):
        if frame[column].isna().any():
            rows = (np.flatnonzero(frame[column].isna().to_numpy()) + 1).tolist()[:5]
            raise FacialFinetuningDataError(f"{path}: column {column!r} is NA in rows {rows}")
    if image_folder is not None:
        missing = [n for n in names if not (Path(image_folder) / n).is_file()]
        if missing:
            raise FacialFinetuningDataError(
                f"{path}: {len(missing)} faces of the split have no image file in "
                f"{image_folder}: {missing[:10]}"
            )
    out = pd.DataFrame(
        {
            IMAGE_ID: names.map(image_id_of),
            "Filename": names,
            "split": pd.Categorical(split, categories=list(SPLITS)),
        }
    )
    for column in (*TRAITS, "gender", "age"):
        out[column] = frame[column].to_numpy(dtype=np.float64)
    return out


def read_test_predictions(path: str | Path, split: pd.DataFrame) -> pd.DataFrame:
    """The authors' own test-set predictions, long: ``image_id``, ``trait``, ``prediction``.

    Checks that the faces are exactly the test part of ``split`` and that every ``annotated_*``
    value equals the split's trait (the file and the split describe the same faces).
    """
    columns = ["Filename"] + [f"{kind}_{t}" for t in TRAITS for kind in ("annotated", "predicted")]
    frame = read_frame(path, TEST_OBJECT, columns)
    ids = frame["Filename"].astype(str).map(image_id_of)
    test = split[split["split"] == "test"].set_index(IMAGE_ID)
    if sorted(ids) != sorted(test.index) or ids.duplicated().any():
        extra = sorted(set(ids) - set(test.index))[:5]
        lacking = sorted(set(test.index) - set(ids))[:5]
        raise FacialFinetuningDataError(
            f"{path}: its {len(ids)} faces are not the {len(test)} test faces of the split "
            f"(not in the test split: {extra}; test faces missing: {lacking})"
        )
    parts = []
    for trait in TRAITS:
        annotated = frame[f"annotated_{trait}"].to_numpy(dtype=np.float64)
        expected = test.loc[ids, trait].to_numpy()
        worst = float(np.max(np.abs(annotated - expected)))
        if not worst <= 1e-9:
            raise FacialFinetuningDataError(
                f"{path}: annotated_{trait} differs from the split's {trait} by up to {worst}"
            )
        parts.append(
            pd.DataFrame(
                {
                    IMAGE_ID: ids.to_numpy(),
                    "trait": trait,
                    "prediction": frame[f"predicted_{trait}"].to_numpy(dtype=np.float64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def read_candidates(path: str | Path) -> pd.DataFrame:
    """The candidates data.frame with ``name2`` replaced by integer codes (``candidate``).

    The codes number the distinct ``name2`` values in order of first appearance (0, 1, ...);
    ``name2`` itself and the unused ``ethnicity`` are dropped here, so no later step can write
    them. Rows keep the file's order.
    """
    columns = [
        PERSONAL_COLUMN,
        "election",
        "election_type",
        "party_ideology",
        "age",
        "gender",
        "education",
        *(f"{t}_pd" for t in TRAITS),
        "no_candidates_on_ballot",
        "percentile_rank",
        "personal_votes",
        *IMAGE_FLAGS,
    ]
    frame = read_frame(path, CANDIDATES_OBJECT, columns)
    if frame[PERSONAL_COLUMN].isna().any():
        rows = (np.flatnonzero(frame[PERSONAL_COLUMN].isna().to_numpy()) + 1).tolist()[:5]
        raise FacialFinetuningDataError(f"{path}: column 'name2' is NA in rows {rows}")
    codes, _ = pd.factorize(frame[PERSONAL_COLUMN], sort=False)
    out = frame.drop(columns=[PERSONAL_COLUMN, *UNUSED_CANDIDATE_COLUMNS], errors="ignore")
    out.insert(0, CANDIDATE_CODE, codes.astype(np.int64))
    return out


def analysis_sample(candidates: pd.DataFrame) -> pd.DataFrame:
    """The paper's 7,080 rows and its outcomes, z-scored within each election.

    Keeps rows with no image flag set (``image_missing``, ``image_bad``, ``image_text`` all 0)
    and the three predictions present; then, within each ``election``, ``percentile_rank_std`` =
    R's ``scale(percentile_rank)`` and ``personal_votes_std`` = ``scale(log(personal_votes))``
    (mean and SD with n - 1 over the non-missing values).
    """
    keep = np.ones(len(candidates), dtype=bool)
    for flag in IMAGE_FLAGS:
        keep &= candidates[flag].to_numpy(dtype=np.float64, na_value=np.nan) == 0
    for trait in TRAITS:
        keep &= candidates[f"{trait}_pd"].notna().to_numpy()
    df = candidates.loc[keep].copy()
    votes = df["personal_votes"].to_numpy(dtype=np.float64)
    if (votes <= 0).any():
        raise FacialFinetuningDataError(
            f"{int((votes <= 0).sum())} kept rows have personal_votes <= 0; log is undefined"
        )
    df["log_personal_votes"] = np.log(votes)
    for source, target in (
        ("percentile_rank", "percentile_rank_std"),
        ("log_personal_votes", "personal_votes_std"),
    ):
        grouped = df.groupby("election", sort=False)[source]
        df[target] = (df[source] - grouped.transform("mean")) / grouped.transform("std")
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- evaluation and noise ceiling


def regression_intervals(
    y: np.ndarray, prediction: np.ndarray, *, level: float, bootstrap: int, seed: int
) -> dict[str, float]:
    """RMSE, R² (1 - SSE/SST) and calibration slope (OLS of y on the prediction), with CIs.

    Point values on all rows; percentile intervals from ``bootstrap`` resamples of the rows
    drawn with ``numpy.random.default_rng(seed)``. Pearson r gets Fisher's z interval.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(prediction, dtype=np.float64)
    n = len(y)

    def stats(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        yy, pp = y[idx], p[idx]
        resid = yy - pp
        rmse = np.sqrt(np.mean(resid**2, axis=-1))
        sst = np.sum((yy - yy.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
        r2 = 1.0 - np.sum(resid**2, axis=-1) / sst
        pc = pp - pp.mean(axis=-1, keepdims=True)
        sxx = np.sum(pc**2, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.sum(pc * (yy - yy.mean(axis=-1, keepdims=True)), axis=-1) / sxx
        return rmse, r2, slope

    rmse, r2, slope = stats(np.arange(n))
    rng = np.random.default_rng(seed)
    boot = stats(rng.integers(0, n, size=(bootstrap, n)))
    alpha = (1.0 - level) / 2.0
    out: dict[str, float] = {}
    r, r_lo, r_hi = pearson_ci(y, p, level) if np.std(p) > 0 else (math.nan,) * 3
    out.update(r=r, r_lo=r_lo, r_hi=r_hi)
    for name, point, draws in (("rmse", rmse, boot[0]), ("r2", r2, boot[1])):
        lo, hi = np.nanquantile(draws, [alpha, 1.0 - alpha])
        out.update({name: float(point), f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
    if np.std(p) > 0:
        lo, hi = np.nanquantile(boot[2], [alpha, 1.0 - alpha])
        out.update(slope=float(slope), slope_lo=float(lo), slope_hi=float(hi))
    else:
        out.update(slope=math.nan, slope_lo=math.nan, slope_hi=math.nan)
    return out


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


def read_individual_ratings(
    path: str | Path, attributes: Sequence[str], *, rating_types: Sequence[str]
) -> pd.DataFrame:
    """OMI's individual ratings of ``attributes``: ``attribute``, ``stimulus``, ``rating``.

    ``path`` is ``attribute_ratings.zip`` (with ``attribute_ratings.csv``) or the CSV itself.
    Only rows whose ``rating_type`` is in ``rating_types`` are kept. OMI's published means
    (``attribute_means.csv``) average every rating of a face: ``normal``, ``repeat`` (a rater's
    second rating of the same face) and ``fill-in``; a repeat is not an independent rating, so
    leaving it out gives a slightly lower, more cautious reliability.
    """
    path = Path(path)
    columns = ["rating", "attribute", "rating_type", "stimulus"]
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("attribute_ratings.csv")]
            if not names:
                raise FacialFinetuningDataError(f"{path}: no attribute_ratings.csv inside")
            with archive.open(names[0]) as fh:
                frame = pd.read_csv(fh, usecols=columns)
    else:
        frame = pd.read_csv(path, usecols=columns)
    unknown = sorted(set(attributes) - set(frame["attribute"].unique()))
    if unknown:
        raise FacialFinetuningDataError(f"{path}: no ratings of {unknown}")
    keep = frame["attribute"].isin(list(attributes)) & frame["rating_type"].isin(list(rating_types))
    out = frame.loc[keep, ["attribute", "stimulus", "rating"]].reset_index(drop=True)
    out["stimulus"] = out["stimulus"].astype(str)
    return out


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
    from polface.io import write_atomic
    from polface.report.render import to_latex, to_markdown

    display = evaluation_display(long)
    write_atomic(csv, long.to_csv(index=False, lineterminator="\n"))
    write_atomic(md, to_markdown(display, index=True))
    write_atomic(tex, to_latex(display, index=True))

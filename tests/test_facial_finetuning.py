"""The Facial Finetuning study: reading the three RData files, the evaluation table, the noise
ceiling and the candidate regressions, on the authors' released data (../shared/data).

The published cells (Lindholm, Hjorth & Schuessler, PSRM 2024, Table 1 and its replication script
``Scripts/Evaluation_Metrics.R`` at commit 47e228a) are typed in below as the paper prints them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from polface.data import finetuning as fd
from polface.data.rdata import read_data_frame, write_rdata
from polface.studies import candidate_regressions as cr
from polface.studies import facial_finetuning as ff
from r_cohorts import run_r

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
FF = SCHEMA["$defs"]["facial_finetuning"]["properties"]
COUNTS = {k: v["default"] for k, v in FF["split_counts"]["properties"].items()}
EVALUATION = {k: v["default"] for k, v in FF["evaluation"]["properties"].items()}

#: trait: (model MAE, model r, random-guessing MAE, mean-guessing MAE), as published.
PUBLISHED = {
    "attractiveness": ("0.732", "0.787", 1.516, "1.145"),
    "trustworthiness": ("0.576", "0.754", 1.230, "0.889"),
    "dominance": ("0.602", "0.756", 1.298, "0.947"),
}


@pytest.fixture(scope="module")
def split(finetuning_dir: Path, omi_dir: Path) -> pd.DataFrame:
    return fd.read_training_split(
        finetuning_dir / "OMI_training_data.RData",
        expected_counts=COUNTS,
        image_folder=omi_dir / "images",
    )


@pytest.fixture(scope="module")
def sample(finetuning_dir: Path) -> pd.DataFrame:
    return fd.analysis_sample(fd.read_candidates(finetuning_dir / "Candidate_data.RData"))


def test_the_split_is_the_papers(split: pd.DataFrame) -> None:
    assert split["split"].value_counts().to_dict() == {"train": 513, "test": 172, "validation": 171}
    assert split["image_id"].is_unique and split["image_id"].iloc[0] == "1"
    assert list(split.columns[:3]) == ["image_id", "Filename", "split"]


def test_reading_errors_name_the_file_and_what_was_expected(
    finetuning_dir: Path, omi_dir: Path, tmp_path: Path
) -> None:
    source = finetuning_dir / "OMI_training_data.RData"
    omi_df = read_data_frame(source, "omi_df")
    renamed = tmp_path / "renamed.RData"
    write_rdata(renamed, {"faces": omi_df})
    with pytest.raises(fd.FacialFinetuningDataError, match=r"renamed\.RData.*'omi_df'.*faces"):
        fd.read_training_split(renamed, expected_counts=COUNTS, image_folder=None)
    with pytest.raises(fd.FacialFinetuningDataError, match=r"renamed\.RData.*'df'"):
        fd.read_candidates(renamed)
    with pytest.raises(fd.FacialFinetuningDataError, match=r"'df'"):
        fd.read_test_predictions(renamed, omi_df)

    moved = omi_df.copy()
    moved.loc[moved.index[:3], "image_folder"] = "test"
    wrong = tmp_path / "wrong_counts.RData"
    write_rdata(wrong, {"omi_df": moved})
    with pytest.raises(fd.FacialFinetuningDataError, match=r"wrong_counts.*'train': 510.*513"):
        fd.read_training_split(wrong, expected_counts=COUNTS, image_folder=None)

    images = tmp_path / "images"
    images.mkdir()
    for name in omi_df["Filename"][2:]:  # a file of each name (symlinks out would be refused)
        (images / name).write_bytes(b"")
    with pytest.raises(
        fd.FacialFinetuningDataError, match=r"2 faces .* no usable image file.*'1\.jpg \(file not"
    ):
        fd.read_training_split(source, expected_counts=COUNTS, image_folder=images)

    no_column = tmp_path / "no_column.RData"
    write_rdata(no_column, {"omi_df": omi_df.drop(columns=["dominance"])})
    with pytest.raises(fd.FacialFinetuningDataError, match=r"no_column\.RData.*dominance"):
        fd.read_training_split(no_column, expected_counts=COUNTS, image_folder=None)


def test_name2_becomes_integer_codes_when_read(finetuning_dir: Path) -> None:
    path = finetuning_dir / "Candidate_data.RData"
    raw = read_data_frame(path, "df")["name2"]
    candidates = fd.read_candidates(path)
    assert "name2" not in candidates.columns and "ethnicity" not in candidates.columns
    codes = candidates[fd.CANDIDATE_CODE]
    assert codes.dtype == np.int64 and len(candidates) == len(raw) == 9020
    # same person, same code; different persons, different codes
    pairs = pd.DataFrame({"name": raw.to_numpy(), "code": codes.to_numpy()}).drop_duplicates()
    assert pairs["name"].is_unique and pairs["code"].is_unique
    assert codes.nunique() == raw.nunique()
    text = candidates.to_csv(index=False)
    assert not any(value in text for value in raw.unique()[:200])


def test_analysis_sample_is_the_papers(sample: pd.DataFrame) -> None:
    assert len(sample) == 7080
    assert (sample["no_candidates_on_ballot"] != 1).sum() == 7055
    for election, part in sample.groupby("election"):
        for column in ("percentile_rank_std", "personal_votes_std"):
            values = part[column].dropna()
            assert abs(values.mean()) < 1e-12 and abs(values.std() - 1) < 1e-12, election


def test_evaluation_reproduces_the_published_cells(finetuning_dir: Path, split) -> None:
    authors = fd.read_test_predictions(
        finetuning_dir / "Annotated.and.predicted.test.data.RData", split
    )
    authors.insert(0, "model", "authors")
    long = ff.evaluation_table(split, authors, None, **EVALUATION).set_index(["trait", "column"])
    for trait, (mae, r, random_mae, mean_mae) in PUBLISHED.items():
        model = long.loc[(trait, "authors")]
        assert model["n"] == 172
        assert f"{model['mae']:.3f}" == mae and f"{model['r']:.3f}" == r
        assert model["r_lo"] < model["r"] < model["r_hi"]
        assert model["rmse_lo"] < model["rmse"] < model["rmse_hi"]
        assert model["slope_lo"] < model["slope"] < model["slope_hi"]
        assert f"{long.loc[(trait, 'mean guessing'), 'mae']:.3f}" == mean_mae
        assert np.isnan(long.loc[(trait, "mean guessing"), "r"])
        assert abs(long.loc[(trait, "random guessing"), "mae"] - random_mae) <= 0.01
        assert 0.05 < long.loc[(trait, "random guessing"), "mae_sd"] < 0.1
        assert long.loc[(trait, "test set"), "n"] == 172
    # the released split's own cells (the paper's attractiveness train/test cells differ)
    assert f"{long.loc[('attractiveness', 'train set'), 'mean']:.3f}" == "5.198"
    assert f"{long.loc[('trustworthiness', 'train set'), 'sd']:.3f}" == "1.087"
    display = ff.evaluation_display(long.reset_index())
    assert display.loc["dominance · MAE", "authors"] == "0.602"


def test_noise_ceiling_recovers_a_known_reliability() -> None:
    """Ratings = true score (variance 1) + noise (variance 9), 9 per face: reliability 0.5."""
    rng = np.random.default_rng(0)
    faces, per_face = 3000, 9
    rows = []
    for attribute in fd.OMI_ATTRIBUTES.values():
        truth = rng.normal(size=faces)
        ratings = truth[:, None] + rng.normal(scale=3.0, size=(faces, per_face))
        rows.append(
            pd.DataFrame(
                {
                    "attribute": attribute,
                    "stimulus": np.repeat(np.arange(faces).astype(str), per_face),
                    "rating": ratings.ravel(),
                }
            )
        )
    table = ff.noise_ceiling(
        pd.concat(rows), [str(i) for i in range(faces)], splits=20, seed=1
    ).set_index("trait")
    # split halves of 5 and 4 ratings: Spearman-Brown assumes equal halves, so it lands a bit low
    assert np.allclose(table["reliability"], 0.5, atol=0.03), table["reliability"]
    assert np.allclose(table["noise_ceiling"], np.sqrt(table["reliability"]))


def test_real_noise_ceilings_are_high_and_reproducible(omi_dir: Path, split) -> None:
    ratings = fd.read_individual_ratings(
        omi_dir / "attribute_ratings.zip",
        list(fd.OMI_ATTRIBUTES.values()),
        rating_types=["normal", "repeat", "fill-in"],
    )
    first = ff.noise_ceiling(ratings, split["image_id"], splits=3, seed=5)
    again = ff.noise_ceiling(ratings, split["image_id"], splits=3, seed=5)
    pd.testing.assert_frame_equal(first, again)
    assert first["reliability"].between(0.85, 0.99).all()
    assert (first["faces"] == 856).all()


def test_36_models_with_the_papers_samples(sample: pd.DataFrame) -> None:
    long = cr.candidate_regressions(sample)
    models = long.groupby(["sample", "trait", "outcome", "model"])
    assert models.ngroups == 72
    n = models["n"].first()
    published = n.loc["as published"]
    assert set(published.xs("percentile_rank_std", level="outcome")) == {7055, 5479}
    assert set(published.xs("personal_votes_std", level="outcome")) == {7080, 5499}
    assert set(n.loc["same sample"]) == {5479, 5499}
    assert (models["clusters"].first() < n).all()
    interaction = long[(long["trait"] == "dominance") & (long["model"] == 3)]
    assert "dominance_pd:party_ideology" in set(interaction["term"])


def _r_has(packages: list[str]) -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    check = "quit(status = !all(sapply(c({}), requireNamespace, quietly = TRUE)))".format(
        ", ".join(f"'{p}'" for p in packages)
    )
    ok = subprocess.run([rscript, "-e", check], capture_output=True).returncode == 0
    return rscript if ok else None


def test_regressions_equal_r_lm_and_sandwich_vcovcl(
    finetuning_dir: Path, sample: pd.DataFrame, tmp_path: Path
) -> None:
    rscript = _r_has(["sandwich"])
    if rscript is None:
        pytest.skip(
            "Rscript with sandwich not found (install r-cran-sandwich): R comparison skipped"
        )
    out = tmp_path / "r.csv"
    run_r(
        rscript, "candidate_regressions.R", [str(finetuning_dir / "Candidate_data.RData"), str(out)]
    )
    ours = cr.candidate_regressions(sample)
    ours = ours[ours["sample"] == "as published"]
    merged = pd.read_csv(out).merge(
        ours, on=["trait", "outcome", "model", "term"], how="outer", indicator=True
    )
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", "term"]
    assert merged.groupby(["trait", "outcome", "model"]).ngroups == 36
    for column in ("estimate", "se_ols", "se_cluster", "r2"):
        worst = np.max(np.abs(merged[f"{column}_x"] - merged[f"{column}_y"]))
        assert worst < 1e-8, (column, worst)
    assert (merged["n_x"] == merged["n_y"]).all()


def test_baselines_choose_on_validation_and_find_a_planted_signal(split) -> None:
    """Embeddings that carry each trait (plus noise) give ridge and LASSO a high test r."""
    from polface.studies import trait_baselines as tb

    rng = np.random.default_rng(3)
    traits = split[list(fd.TRAITS)].to_numpy()
    X = np.hstack([traits + rng.normal(scale=0.3, size=traits.shape), rng.normal(size=(856, 40))])
    ids = split["image_id"].tolist()[::-1]  # any order: rows are found by id
    predictions, chosen = tb.baseline_predictions(
        split,
        {"planted": (ids, X[::-1])},
        ridge_alphas=[0.1, 10.0, 1000.0],
        lasso_nlambda=50,
        spline_knots=5,
    )
    long = ff.evaluation_table(
        split, predictions, None, random_draws=10, seed=1, level=0.95, bootstrap=50
    ).set_index(["trait", "column"])
    for trait in fd.TRAITS:
        assert long.loc[(trait, "ridge · planted"), "r"] > 0.9
        assert long.loc[(trait, "lasso · planted"), "r"] > 0.9
    # perceived gender + age alone predicts attractiveness at least as well as the network
    assert long.loc[("attractiveness", tb.DEMOGRAPHICS_MODEL), "r"] > 0.8
    lasso = [c for c in chosen if c["model"] == "lasso · planted"]
    assert all(c["nonzero"] < X.shape[1] for c in lasso)
    assert {c["alpha"] for c in chosen if c["model"] == "ridge · planted"} <= {0.1, 10.0}
    with pytest.raises(fd.FacialFinetuningDataError, match=r"embeddings_cut: no embedding for 6"):
        tb.split_features(split, ids[6:], X[6:], source="embeddings_cut")

"""Trait models that score any photograph set (issue 21): the Facial Finetuning baselines are
trained on OMI faces of the authors' training split through the real image branch (crop_faces,
dlib's pretrained face descriptor from face-recognition-models, no download), saved, loaded back
by :func:`polface.models.artifacts.load_trait_models`, and score a folder of OMI test faces they
have not seen, beside a file that is not a photograph and a picture without a face.

The training uses the first faces of each part of the split (the whole split takes minutes to
embed on two cores); the scores are what the fitted models predicted for the same test faces.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from image_settings import CROP, crop_run, embed_run
from polface.data import finetuning as fd
from polface.data.omi import read_omi_ratings
from polface.errors import InputError
from polface.frames import IMAGE_ID
from polface.images.crop import crop_faces
from polface.images.embed import embed_crops
from polface.io import read_features, read_metadata
from polface.models.artifacts import load_trait_models, save_trait_models
from polface.models.splines import DEMOGRAPHIC_COLUMNS
from polface.studies.trait_baselines import fit_baselines
from polface.studies.trait_models import SCORE_COLUMNS, check_embeddings, score_manifest

#: Faces of each part of the split used here (the first ones in the split's order).
PARTS = {"train": 60, "validation": 20, "test": 6}
SETTINGS = {"ridge_alphas": [0.1, 10.0, 1000.0, 100000.0], "lasso_nlambda": 30, "spline_knots": 4}


def _embed(paths: dict[str, Path], folder: Path, where: Path) -> tuple[pd.DataFrame, Path]:
    manifest = crop_faces(paths, where / "crops", **crop_run(**CROP), folder=folder, progress=False)
    out = where / "embeddings_dlib.parquet"
    settings = embed_run(crop_settings=CROP, image_folder=folder)
    embed_crops(manifest, "dlib", out_path=out, **settings, progress=False)
    return manifest, out


@pytest.fixture(scope="module")
def trained(finetuning_dir: Path, omi_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    full = fd.read_training_split(
        finetuning_dir / "OMI_training_data.RData",
        expected_counts={"train": 513, "validation": 171, "test": 172},
        image_folder=omi_dir / "images",
    )
    split = pd.concat(
        [full[full["split"] == part].head(n) for part, n in PARTS.items()], ignore_index=True
    )
    where = tmp_path_factory.mktemp("training")
    paths = {i: omi_dir / "images" / f"{i}.jpg" for i in split[IMAGE_ID]}
    _, embeddings = _embed(paths, omi_dir / "images", where)
    ids, X = read_features(embeddings, IMAGE_ID)
    kept = split[split[IMAGE_ID].isin(ids)].reset_index(drop=True)  # faces dlib found
    predictions, _, models = fit_baselines(kept, {"dlib": (ids, X)}, **SETTINGS)
    sha = read_metadata(embeddings)["weights_sha256"]
    for model in models:
        model["weights_sha256"] = sha if model["backend"] else None
    save_trait_models(models, where / "baselines.npz", metadata={"settings": SETTINGS})
    return kept, predictions, where / "baselines.npz"


@pytest.fixture(scope="module")
def scored_set(trained, omi_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A folder of photographs: the unseen test faces, a broken file and a faceless picture."""
    split, _, _ = trained
    folder = tmp_path_factory.mktemp("photos")
    test_ids = split.loc[split["split"] == "test", IMAGE_ID].tolist()
    for image_id in test_ids:
        shutil.copyfile(omi_dir / "images" / f"{image_id}.jpg", folder / f"{image_id}.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (300, 300), (128, 128, 128)).save(folder / "blank.jpg")
    paths = {p.stem: p for p in sorted(folder.glob("*.jpg"))}
    manifest, embeddings = _embed(paths, folder, tmp_path_factory.mktemp("photos_branch"))
    return test_ids, manifest, embeddings


def test_saved_models_load_back_with_their_provenance(trained) -> None:
    split, _, path = trained
    models = load_trait_models(path)
    assert set(models) == {"demographics", "ridge_dlib", "lasso_dlib"}
    ridge = models["ridge_dlib"]
    assert ridge.backend == "dlib" and len(ridge.weights_sha256) == 64 and ridge.standardised
    train = split[split["split"] == "train"]
    for trait in fd.TRAITS:
        mean, sd = ridge.y_moments[trait]
        assert mean == pytest.approx(train[trait].mean(), abs=1e-12)
        assert sd == pytest.approx(train[trait].std(ddof=0), abs=1e-12)
        assert ridge.traits[trait].x_mean.shape == (128,)
    assert models["demographics"].backend is None and models["demographics"].knots.shape == (4, 2)


def test_unseen_faces_get_the_scores_the_fitted_models_gave_them(
    trained, scored_set, omi_dir: Path
) -> None:
    split, predictions, path = trained
    test_ids, manifest, embeddings = scored_set
    models = load_trait_models(path)
    ids, X = read_features(embeddings, IMAGE_ID)
    ratings = read_omi_ratings(omi_dir / "attribute_means.csv")
    inputs = {
        "ridge_dlib": (ids, X),
        "lasso_dlib": (ids, X),
        "demographics": (list(ratings.index), ratings[list(DEMOGRAPHIC_COLUMNS)].to_numpy()),
    }
    for slug, model in models.items():
        if model.backend:
            check_embeddings(model, read_metadata(embeddings), embeddings_path=embeddings)
        table = score_manifest(model, manifest, *inputs[slug])
        assert list(table.columns) == list(SCORE_COLUMNS)
        assert len(table) == len(manifest) * 3  # every photograph, every trait
        ok = table[table[IMAGE_ID].isin(test_ids)]
        assert ok["status"].eq("ok").all() and ok["prediction"].notna().all()
        fitted = predictions[predictions["model"] == model.name]
        both = ok.merge(fitted, on=[IMAGE_ID, "trait"], suffixes=("", "_fit"))
        assert len(both) == 3 * len(test_ids)
        np.testing.assert_allclose(both["prediction"], both["prediction_fit"], atol=1e-10)
        status = table.drop_duplicates(IMAGE_ID).set_index(IMAGE_ID)["status"]
        assert status["broken"] == "unreadable" and status["blank"] == "no_face"
        failed = table[table[IMAGE_ID].isin(["broken", "blank"])]
        assert failed["prediction"].isna().all() and failed["detail"].str.len().gt(0).all()
    # the demographic model reads perceived gender and age: other columns give other scores
    demographics = models["demographics"]
    wrong = ratings[["age", "gender"]].to_numpy()
    moved = score_manifest(demographics, manifest, list(ratings.index), wrong)
    right = score_manifest(demographics, manifest, *inputs["demographics"])
    assert not np.allclose(moved["prediction"].dropna(), right["prediction"].dropna())


def test_embeddings_of_another_backend_or_weights_are_refused(trained, scored_set, tmp_path):
    _, _, path = trained
    _, _, embeddings = scored_set
    model = load_trait_models(path)["ridge_dlib"]
    table = pq.read_table(embeddings)
    meta = read_metadata(embeddings)
    for change in ({"weights_sha256": "0" * 64}, {"backend": "vggface2"}):
        other = tmp_path / "other.parquet"
        raw = json.dumps({**meta, **change}).encode()
        pq.write_table(table.replace_schema_metadata({b"polface": raw}), other)
        with pytest.raises(InputError, match=r"other\.parquet: embeddings of backend") as err:
            check_embeddings(model, read_metadata(other), embeddings_path=other)
        assert str(path) in str(err.value) and "trained on 'dlib'" in str(err.value)


def test_a_file_that_is_not_a_trait_models_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "models.npz"
    np.savez(bad, coef=np.zeros(3))
    with pytest.raises(InputError, match=r"models\.npz: not a trait models file"):
        load_trait_models(bad)
    (tmp_path / "heads.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"heads\.safetensors: not the heads"):
        load_trait_models(tmp_path / "heads.safetensors")


def test_an_ok_face_without_the_models_inputs_is_a_row_without_a_score(trained) -> None:
    _, _, path = trained
    model = load_trait_models(path)["demographics"]
    manifest = pd.DataFrame(
        {
            IMAGE_ID: ["7", "mine", "gone"],
            "status": ["ok", "ok", "unreadable"],
            "detail": ["", None, "not an image: no format recognised"],
        }
    )
    table = score_manifest(model, manifest, ["7"], np.array([[40.0, 30.0]]))
    first = table[table["trait"] == "dominance"].set_index(IMAGE_ID)
    assert np.isfinite(first.loc["7", "prediction"]) and first.loc["7", "detail"] == ""
    assert np.isnan(first.loc["mine", "prediction"])
    assert first.loc["mine", "detail"] == "no perceived gender and age for this photograph"
    assert first.loc["gone", "status"] == "unreadable" and np.isnan(first.loc["gone", "prediction"])
    assert first.loc["gone", "detail"] == "not an image: no format recognised"

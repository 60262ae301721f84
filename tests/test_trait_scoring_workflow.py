"""The Facial Finetuning baselines score one's own folder of photographs, through the workflow.

One snakemake run in a scratch copy of the project: the OMI faces go through the image branch
(crop_faces, embed_faces with dlib's pretrained descriptor), fit_trait_baselines fits ridge and
LASSO on the training faces and saves them, and predict_traits scores a folder holding three of
the split's test faces and a file that is not a photograph. The scores of the test faces are
the predictions the fitted models gave them in the evaluation.

The run uses the first faces of each part of the authors' split (as tests/test_trait_scoring.py
does): the test writes that part of their two RData files and an OMI copy holding only its
photographs, and sets split_counts to match. Cropping and embedding all 1,004 OMI photographs
took about 8 minutes on two cores; the rules and what is checked are the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from polface.data.rdata import read_data_frame, write_rdata
from polface.io import read_metadata
from polface.models.artifacts import load_trait_models
from workflow_utils import build, copy_project, snakemake, write_config

pytestmark = pytest.mark.workflow

SCORES = "results/facial_finetuning/traits/mine/{}.parquet"
#: The split's test faces that the folder of one's own photographs holds.
MINE = ("6.jpg", "18.jpg", "125.jpg")
#: Faces of each part of the split in the run (the first ones in the split's order), beside MINE.
PARTS = {"train": 60, "validation": 20, "test": 6}


def _part_of_the_split(finetuning_dir: Path, omi_dir: Path, where: Path) -> dict:
    """The first faces of each part of the authors' split (and MINE) in RData files of their own,
    with an OMI copy (ratings and those photographs): the study's `data` block and split_counts."""
    faces = read_data_frame(finetuning_dir / "OMI_training_data.RData", "omi_df")
    first = faces.groupby("image_folder", sort=False).cumcount() < faces["image_folder"].map(PARTS)
    faces = faces[first | faces["Filename"].isin(MINE)].reset_index(drop=True)
    assert set(MINE) <= set(faces.loc[faces["image_folder"] == "test", "Filename"])
    authors = read_data_frame(finetuning_dir / "Annotated.and.predicted.test.data.RData", "df")
    authors = authors[authors["Filename"].isin(faces["Filename"])].reset_index(drop=True)
    where.mkdir()
    write_rdata(where / "training.RData", {"omi_df": faces})
    write_rdata(where / "test_predictions.RData", {"df": authors})
    omi = where / "omi"
    (omi / "images").mkdir(parents=True)
    shutil.copyfile(omi_dir / "attribute_means.csv", omi / "attribute_means.csv")
    for name in faces["Filename"]:
        shutil.copyfile(omi_dir / "images" / name, omi / "images" / name)
    counts = faces["image_folder"].value_counts()
    return {
        "data": {
            "training": str(where / "training.RData"),
            "test_predictions": str(where / "test_predictions.RData"),
            "candidates": str((finetuning_dir / "Candidate_data.RData").resolve()),
            "omi": str(omi),
        },
        "split_counts": {part: int(counts[part]) for part in PARTS},
    }


@pytest.fixture(scope="module")
def run(finetuning_dir: Path, omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_project(tmp_path_factory.mktemp("scoring"))
    study = yaml.safe_load((REPO / "config/facial_finetuning.yaml").read_text())
    part = _part_of_the_split(finetuning_dir, omi_dir, workdir / "part")
    study["facial_finetuning"].update(part)
    study["facial_finetuning"]["baseline_models"] = {
        "image_set": "omi",
        "ridge_alphas": [1, 100, 10000],
        "lasso_nlambda": 20,
        "apply_to": ["mine"],
    }
    study["image_sets"]["omi"]["omi"]["path"] = part["data"]["omi"]
    mine = workdir / "mine"
    mine.mkdir()
    for name in MINE:
        shutil.copyfile(omi_dir / "images" / name, mine / name)
    (mine / "notes.jpg").write_bytes(b"not a photograph")
    study["image_sets"]["mine"] = {"folder": {"path": "mine"}}
    config = write_config(workdir, "scoring_test.yaml", study)
    targets = [SCORES.format(m) for m in ("ridge_dlib", "lasso_dlib")]
    # targets first: --configfile takes every word after it
    args = (*targets, "--cores", "2", "--configfile", str(config))
    build(workdir, *args, timeout=1500)
    return workdir


def test_own_photographs_get_the_scores_of_the_evaluated_models(run: Path) -> None:
    base = run / "results/facial_finetuning"
    evaluated = pd.read_parquet(base / "predictions/baselines.parquet")
    models = load_trait_models(base / "models/baselines.npz")
    assert set(models) == {"demographics", "ridge_dlib", "lasso_dlib"}
    embeddings = read_metadata(run / "results/images/mine/embeddings_dlib.parquet")
    for slug in ("ridge_dlib", "lasso_dlib"):
        model = models[slug]
        assert model.weights_sha256 == embeddings["weights_sha256"]
        scores = pd.read_parquet(run / SCORES.format(slug))
        assert len(scores) == 4 * 3  # every photograph of the folder, every trait
        notes = scores[scores["image_id"] == "notes"]
        assert (notes["status"] == "unreadable").all() and notes["prediction"].isna().all()
        faces = scores[scores["status"] == "ok"]
        assert set(faces["image_id"]) == {"6", "18", "125"}
        fitted = evaluated[evaluated["model"] == model.name]
        both = faces.merge(fitted, on=["image_id", "trait"], suffixes=("", "_fit"))
        # the three faces belong to the split's test part: evaluated, never trained on
        assert len(both) == 9
        np.testing.assert_allclose(both["prediction"], both["prediction_fit"], atol=1e-10)
        meta = read_metadata(run / SCORES.format(slug))
        assert meta["backend"] == "dlib" and "not a fact about the person" in meta["meaning"]


def test_an_image_set_without_the_models_backend_is_named_before_any_job(
    finetuning_dir: Path, omi_dir: Path, tmp_path: Path
) -> None:
    workdir = copy_project(tmp_path / "project")
    study = yaml.safe_load((REPO / "config/facial_finetuning.yaml").read_text())
    for key, value in study["facial_finetuning"]["data"].items():
        study["facial_finetuning"]["data"][key] = str((REPO / value).resolve())
    study["facial_finetuning"]["baseline_models"] = {"image_set": "omi", "apply_to": ["mine"]}
    study["image_sets"]["omi"]["omi"]["path"] = str(omi_dir.resolve())
    weights = tmp_path / "resnet50.pth"
    weights.write_bytes(b"never read by a dry run")
    study["image_sets"]["mine"] = {
        "folder": {"path": str(omi_dir / "images")},
        "embed": {"backends": ["imagenet"], "weights": {"imagenet": {"path": str(weights)}}},
    }
    config = write_config(workdir, "scoring_test.yaml", study)
    done = snakemake(workdir, "--configfile", str(config), "-n")
    assert done.returncode != 0
    assert "image set 'mine' does not embed ['dlib']" in done.stdout
    study["facial_finetuning"]["baseline_models"]["apply_to"] = ["elsewhere"]
    config = write_config(workdir, "scoring_test.yaml", study)
    done = snakemake(workdir, "--configfile", str(config), "-n")
    assert done.returncode != 0 and "'elsewhere' is not an image set" in done.stdout

"""Errors a researcher's inputs cause are InputErrors (one line at the terminal, no traceback).

Each test writes a bad input itself (a data file, an image folder, a weights file, a ledger, a
manifest) and feeds it to the library function the rule calls; the error must be expected
(:func:`polface.errors.is_expected`) and its message must name the file and the row, column or
key, and say what was expected. The last test runs a rule-like script on a bad image folder and
reads its terminal output.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from polface.errors import InputError, is_expected
from polface.frames import MissingColumnsError


def _expected(info: pytest.ExceptionInfo) -> str:
    """The message of an error that must be the input's fault (an InputError)."""
    assert is_expected(info.value), f"{type(info.value).__name__}: {info.value}"
    assert isinstance(info.value, ValueError)  # `except ValueError` callers keep working
    return str(info.value)


# --- weights files ------------------------------------------------------------------------------


def test_a_weights_pickle_that_is_not_a_dict_of_arrays_names_the_file(tmp_path):
    from polface.images.weights import load_pickle_weights

    path = tmp_path / "resnet50_ft.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError) as info:
        load_pickle_weights(path, setting="image_sets.s.embed.weights.vggface2.path")
    message = _expected(info)
    assert str(path) in message and "image_sets.s.embed.weights.vggface2.path" in message
    assert "expected a dict of numpy arrays, got list" in message
    path.write_bytes(pickle.dumps({"conv1.weight": "not an array"}))
    with pytest.raises(InputError) as info:
        load_pickle_weights(path)
    assert "entry 'conv1.weight' is str; expected str -> numpy array" in _expected(info)


def test_a_truncated_weights_pickle_is_expected_and_still_an_unpickling_error(tmp_path):
    from polface.images.weights import load_pickle_weights

    path = tmp_path / "resnet50_ft.pkl"
    path.write_bytes(pickle.dumps({"w": np.zeros(64)})[:40])
    with pytest.raises(pickle.UnpicklingError) as info:
        load_pickle_weights(path)
    message = _expected(info)
    assert message.startswith(f"{path}: ")  # then the unpickler's words for the damage


def test_a_weights_file_with_another_sha256_names_the_setting(tmp_path):
    from polface.images.weights import check_sha256

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"other weights")
    with pytest.raises(InputError) as info:
        check_sha256(path, "0" * 64, setting="image_sets.s.embed.weights.imagenet")
    message = _expected(info)
    assert message.startswith(f"{path}: SHA-256 ")
    assert message.endswith(
        f"differs from the configured image_sets.s.embed.weights.imagenet.sha256 {'0' * 64}"
    )


def test_a_directory_given_as_weights_is_refused_as_an_input(tmp_path):
    import torch

    from polface.images.weights import load_weights

    folder = tmp_path / "weights.pth"
    folder.mkdir()
    with pytest.raises(InputError) as info:
        load_weights(torch.nn.Linear(2, 2), folder, setting="image_sets.s.embed.weights.x.path")
    assert "not a regular file" in _expected(info) and str(folder) in str(info.value)


# --- image folders, crops and source photographs ------------------------------------------------


def test_two_photographs_with_one_id_name_the_folder_and_both_files(tmp_path):
    from polface.data.imagesets import list_images

    (tmp_path / "face.jpg").write_bytes(b"x")
    (tmp_path / "face.png").write_bytes(b"y")
    with pytest.raises(InputError) as info:
        list_images(tmp_path, pattern="face.*", limit=None)
    message = _expected(info)
    assert message.startswith(f"{tmp_path}: face.")
    assert "share the image id 'face'; rename one or narrow the pattern 'face.*'" in message


def test_a_photograph_changed_since_crop_faces_names_the_file_and_the_row(tmp_path):
    from polface.images.embed import ChipDataset, raise_refused

    photo = tmp_path / "7.jpg"
    photo.write_bytes(b"a photograph that changed after crop_faces read it")
    rows = pd.DataFrame({"image_id": ["7"], "source": [str(photo)], "sha256": ["ab" * 32]})
    chip, key = ChipDataset(rows, tmp_path)[0]  # handed to the main process as data (workers)
    assert chip.shape == (150, 150, 3) and not chip.any()
    with pytest.raises(InputError) as info:
        raise_refused(["0" * 64, key])
    message = _expected(info)
    assert message.startswith(f"source image {photo} of ok row '7' has SHA-256 ")
    assert message.endswith(f"not the manifest's {'ab' * 32}: rerun crop_faces")


def test_a_crop_that_is_not_an_image_names_the_crop(tmp_path):
    from polface.images.embed import CropDataset, raise_refused

    crop = tmp_path / "7.png"
    crop.write_text("not a png\n")
    image, key = CropDataset([str(crop)], size=224, folder=tmp_path)[0]
    assert image.shape == (224, 224, 3)
    with pytest.raises(InputError) as info:
        raise_refused([key])
    assert _expected(info).startswith(f"crop {crop} listed in the manifest: ")


def test_a_crop_deleted_since_crop_faces_names_the_crop_and_the_manifest(tmp_path):
    from PIL import Image
    from torch.utils.data import DataLoader

    from polface.images.embed import CropDataset, raise_refused

    crops, manifest = tmp_path / "crops", tmp_path / "crops.parquet"
    crops.mkdir()
    Image.new("RGB", (8, 8)).save(crops / "1.png")
    gone = crops / "2.png"  # listed in the manifest, deleted since
    dataset = CropDataset([str(crops / "1.png"), str(gone)], 8, crops, str(manifest))
    for workers in (0, 1):  # read in the main process, or in a DataLoader worker
        loader = DataLoader(dataset, batch_size=2, num_workers=workers)
        keys = [key for _, batch in loader for key in batch]
        with pytest.raises(InputError) as info:
            raise_refused(keys)
        assert _expected(info) == (
            f"crop {gone} listed in the manifest {manifest}, and gone since crop_faces wrote it"
            f" (rerun crop_faces): file not found ({os.strerror(2)})"
        )


def test_lime_on_a_photograph_deleted_since_crop_faces_names_the_manifest(tmp_path):
    from image_settings import FACE, lime_settings
    from polface.explain.chain import FaceChain
    from polface.explain.faces import explain_faces
    from polface.images.embed import load_embedder

    folder, manifest = tmp_path / "set", tmp_path / "crops.parquet"
    folder.mkdir()
    gone = folder / "7.jpg"
    chain = FaceChain(load_embedder("dlib", weights_path=None, device="cpu"), crop=FACE)
    with pytest.raises(InputError) as info:
        explain_faces(
            {"7": str(gone)},
            chain,
            lambda image_id: [],
            settings=lime_settings(),
            folder=folder,
            manifest=manifest,
            progress=False,
        )
    assert _expected(info) == (
        f"{gone}: unreadable: file not found ({os.strerror(2)}); the photograph of ok row '7'"
        f" listed in the manifest {manifest}, and gone since crop_faces wrote it (rerun crop_faces)"
    )


def test_a_training_split_naming_a_face_outside_the_images_folder_is_refused(tmp_path):
    from polface.data.finetuning import read_training_split
    from polface.data.rdata.writer import write_rdata

    images, secret = tmp_path / "images", tmp_path / "secret.jpg"
    images.mkdir()
    secret.write_bytes(b"not a face of the set")
    (images / "1.jpg").write_bytes(b"a face")
    (images / "2.jpg").symlink_to(secret)
    names = ["1.jpg", "2.jpg", "../secret.jpg"]
    omi_df = pd.DataFrame(
        {
            "Filename": names,
            **{trait: [0.5, 0.6, 0.7] for trait in ("attractiveness", "trustworthiness")},
            **{column: [0.5, 0.6, 0.7] for column in ("dominance", "gender", "age")},
            "image_folder": ["train", "validation", "test"],
        }
    )
    path = tmp_path / "OMI_training_data.RData"
    write_rdata(path, {"omi_df": omi_df})
    counts = {"train": 1, "validation": 1, "test": 1}
    with pytest.raises(InputError) as info:
        read_training_split(path, expected_counts=counts, image_folder=images)
    message = _expected(info)
    assert message.startswith(
        f"{path}: column 'Filename': 2 faces of the split have no usable image file in {images}:"
    )
    assert f"2.jpg (symlink to outside the image folder: resolves to {secret.resolve()}," in message
    assert "../secret.jpg ('..' leads to outside the image folder: resolves to " in message
    assert message.count(f"not under {images.resolve()}; not read)") == 2
    assert "'1.jpg" not in message  # a regular file inside the folder
    assert len(read_training_split(path, expected_counts=counts, image_folder=None)) == 3


# --- a cohort's data file -----------------------------------------------------------------------


def _faces_rdata(path: Path, userids: list[object]) -> None:
    from polface.data.rdata.writer import write_rdata

    faces = pd.DataFrame({"userid": userids, "age": np.arange(len(userids), dtype=float)})
    write_rdata(path, {"d": faces})


@pytest.mark.parametrize(
    ("userids", "id_column", "expected"),
    [
        (["u1", "u2", "u1"], "userid", "id column 'userid' repeats value 'u1' in row 3"),
        (["u1", None, "u3"], "userid", "id column 'userid' is NA in row 2"),
        (["u1", "u2"], "user_id", "id column 'user_id' not found; columns are: userid, age"),
    ],
)
def test_a_faces_file_with_bad_ids_names_the_file_row_and_value(
    tmp_path, userids, id_column, expected
):
    from polface.data.convert import convert_cohort

    faces = tmp_path / "faces.RData"
    _faces_rdata(faces, userids)
    with pytest.raises(InputError) as info:
        convert_cohort(
            faces_rdata=str(faces),
            features_rdata=str(tmp_path / "not-read.RData"),
            faces_object="d",
            features_object="x",
            id_column=id_column,
            block_rows=64,
            precision="float64",
            faces_parquet=str(tmp_path / "out/faces.parquet"),
            features_parquet=str(tmp_path / "out/features.parquet"),
            columns_csv=str(tmp_path / "out/columns.csv"),
        )
    assert _expected(info) == f"{faces}, data.frame 'd': {expected}"
    if id_column == "user_id":
        assert isinstance(info.value, KeyError) and isinstance(info.value, MissingColumnsError)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _table1_faces(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "userid": [f"u{i}" for i in range(n)],
            "pol": ["liberal", "conservative"] * (n // 2),
            "gender": [0, 1] * (n // 2),
            "age": [str(20 + i) for i in range(n)],
            "country": ["us"] * n,
            "database": ["fb"] * n,
            "ethnicity.value": ["white"] * n,
            "pol_dat_us": pd.array([0, 1] * (n // 2), dtype="Int32"),
        }
    )


@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("age", 3, "thirty", "column 'age', row 4 (userid 'u3') is 'thirty'; expected a number"),
        (
            "pol",
            4,
            "conservative",
            "row 5 (userid 'u4'): pol_dat_us = 0 but pol = 'conservative' (expected 0 ="
            " liberal, 1 = conservative)",
        ),
    ],
)
def test_table1_names_the_file_row_and_value_that_is_wrong(tmp_path, column, row, value, expected):
    from polface.report.tables import table1

    path = tmp_path / "faces.parquet"
    faces = _table1_faces()
    faces.loc[row, column] = value
    faces.to_parquet(path)
    with pytest.raises(InputError) as info:
        table1(pd.read_parquet(path), samples=["pol_dat_us"], id_column="userid", source=str(path))
    assert _expected(info).startswith(f"{path}: {expected}")


def test_figure2_names_the_faces_file_that_lacks_a_strata_column(tmp_path):
    from polface.report.tables import figure2_table

    path = tmp_path / "faces.parquet"
    _table1_faces().rename(columns={"ethnicity.value": "ethnicity"}).to_parquet(path)
    predictions = pd.DataFrame(
        {"model": ["pol_dat_us"], "sample": ["pol_dat_us"], "userid": ["u0"], "y": [0.0]}
    ).assign(score=0.5)
    with pytest.raises(KeyError) as info:
        figure2_table(
            predictions,
            pd.read_parquet(path),
            target_column="sample",
            id_column="userid",
            n_permutations=10,
            seed=0,
            source=str(path),
        )
    message = _expected(info)
    assert message.startswith(
        f"{path} (for Figure 2): missing column(s) ['ethnicity.value', 'age.value']"
    )


def test_an_interpretable_feature_set_names_the_faces_file_that_lacks_its_column(tmp_path):
    from polface.data.osf import interpretable_features

    path = tmp_path / "faces.parquet"
    pd.DataFrame({"userid": ["u1"], "gender.value": ["male"], "age.value": [30.0]}).to_parquet(path)
    with pytest.raises(MissingColumnsError) as info:
        interpretable_features(pd.read_parquet(path), "demographics", source=str(path))
    assert _expected(info) == (
        f"{path} lacks the column(s) ['ethnicity.value'] of feature set 'demographics'; expected"
        " the columns ['gender.value', 'age.value', 'ethnicity.value']"
    )


@pytest.mark.parametrize(
    ("n_outer", "n_inner", "expected"),
    [
        (20, 3, "folds.outer must be between 2 and the number of rows (12), got 20"),
        (
            4,
            10,
            "folds.inner must be between 3 and the rows of the smallest outer training split"
            " (9 of 12 rows with 4 outer folds), got 10",
        ),
    ],
)
def test_too_few_faces_for_the_folds_name_the_file_and_the_setting(
    tmp_path, n_outer, n_inner, expected
):
    from polface.models.folds import make_folds

    path = tmp_path / "faces.parquet"
    pd.DataFrame({"userid": [f"u{i}" for i in range(12)]}).to_parquet(path)
    ids = pd.read_parquet(path)["userid"]
    settings = {"n_outer": n_outer, "n_inner": n_inner, "seed": 1, "setting": "folds"}
    with pytest.raises(InputError) as info:
        make_folds(ids, id_column="userid", source=str(path), **settings)
    assert _expected(info) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("userids", "expected"),
    [
        (
            ["u1", "", "u3", None],
            "userid is missing (NA or empty) in 2 row(s): 2, 4; expected a userid in every row",
        ),
        (
            ["u1", "u2", "u1", "u2", "u1"],
            "5 rows share a userid (2 userid(s) appear more than once): 'u1' in rows 1, 3, 5;"
            " 'u2' in rows 2, 4; expected each userid once",
        ),
        (
            [f"u{i % 7}" for i in range(14)],
            "14 rows share a userid (7 userid(s) appear more than once): 'u0' in rows 1, 8;"
            " 'u1' in rows 2, 9; 'u2' in rows 3, 10; 'u3' in rows 4, 11; 'u4' in rows 5, 12;"
            " and 2 more; expected each userid once",
        ),
    ],
)
def test_missing_or_repeated_ids_name_the_faces_file_the_folds_read(tmp_path, userids, expected):
    from polface.models.folds import make_folds, read_folds

    faces = tmp_path / "faces.parquet"
    pd.DataFrame({"userid": pd.array(userids, dtype="string")}).to_parquet(faces)
    ids = pd.read_parquet(faces)["userid"]
    with pytest.raises(InputError) as info:  # rule make_folds draws the folds
        make_folds(ids, id_column="userid", n_outer=2, n_inner=3, seed=1, source=str(faces))
    assert _expected(info) == f"{faces}: {expected}"
    folds = tmp_path / "folds.csv"  # ... or reads them from a file
    folds.write_text("userid,outer_fold,inner_fold\nu1,1,1\n")
    with pytest.raises(InputError) as info:
        read_folds(folds, ids, id_column="userid", ids_source=str(faces))
    assert _expected(info) == f"{faces}: {expected}"


# --- OMI ratings ------------------------------------------------------------------------------


def test_ratings_without_a_target_or_a_face_name_the_ratings_file(tmp_path):
    from polface.data.omi import rating_targets, read_omi_ratings

    path = tmp_path / "attribute_means.csv"
    path.write_text("stimulus,trustworthy,age\n1,3.5,30\n2,4.5,40\n")
    ratings = read_omi_ratings(path)
    with pytest.raises(KeyError) as info:
        rating_targets(ratings, ["1", "2"], ["trustworthy", "smart"], [])
    assert _expected(info) == (
        f"{path}: no column(s) ['smart'] (the targets of omi.ratings); found ['trustworthy', 'age']"
    )
    with pytest.raises(InputError) as info:
        rating_targets(ratings, ["1", "2", "9"], ["trustworthy"], ["age"])
    assert _expected(info) == (
        f"{path}: 1 face(s) of the image set have no row, e.g. stimulus ['9']; expected a rating"
        " of every face"
    )


def _rating_models(ids, ratings, *, binary=(), continuous=(), controls=(), outer=3):
    """rule fit_omi_ratings' library call on ``ids`` (zero embeddings), 3 inner folds, 1 thread."""
    from polface.studies.omi_ratings import rating_predictions

    return rating_predictions(
        ids,
        np.zeros((len(ids), 4)),
        ratings,
        binary=list(binary),
        continuous=list(continuous),
        controls=list(controls),
        outer=outer,
        inner=3,
        seed=0,
        lasso={},
        n_threads=1,
        progress=False,
    )


def test_ratings_without_a_control_column_name_the_ratings_file(tmp_path):
    from polface.data.omi import read_omi_ratings

    path = tmp_path / "attribute_means.csv"
    rows = "\n".join(f"{i},{i % 7},{20 + i}" for i in range(1, 31))
    path.write_text("stimulus,trustworthy,age\n" + rows + "\n")
    ids = [str(i) for i in range(1, 31)]
    with pytest.raises(MissingColumnsError) as info:
        _rating_models(
            ids, read_omi_ratings(path), binary=["trustworthy"], controls=["age", "gender"]
        )
    assert _expected(info).startswith(
        f"{path}: no control column(s) ['gender'] (omi.ratings.controls); found"
    )


def test_an_image_set_without_an_embedded_face_names_the_setting(tmp_path):
    """Every photograph refused (no ok face): the rating models have no row to fold."""
    from polface.data.omi import read_omi_ratings

    path = tmp_path / "attribute_means.csv"
    path.write_text("stimulus,trustworthy\n1,3.5\n2,4.5\n")
    with pytest.raises(InputError) as info:
        _rating_models([], read_omi_ratings(path), continuous=["trustworthy"], outer=5)
    assert _expected(info) == (
        "the embedded faces of the image set: omi.ratings.outer must be between 2 and the number"
        " of rows (0), got 5"
    )


# --- explanations -----------------------------------------------------------------------------


def test_lime_images_that_are_not_ok_faces_name_the_manifest_and_the_ids(tmp_path):
    from polface.explain.faces import faces_to_explain

    path = tmp_path / "manifest.parquet"
    pd.DataFrame(
        {"image_id": ["1", "2"], "status": ["ok", "no_face"], "source": ["a.jpg", "b.jpg"]}
    ).to_parquet(path)
    with pytest.raises(InputError) as info:
        faces_to_explain(pd.read_parquet(path), [1, 2, 3], source=f"the manifest {path}")
    assert _expected(info) == (
        f"lime.images: no ok face in the manifest {path} for {{'2': 'no_face', '3': 'absent'}};"
        " expected the ids of faces whose status is 'ok'"
    )


def test_a_cohort_model_of_another_width_names_the_config_key():
    from polface.explain.readouts import cohort_readouts
    from polface.models.artifacts import LinearModel

    model = LinearModel(family="binomial", intercept=0.0, coef=np.zeros(5), lambda_=0.1)
    with pytest.raises(InputError) as info:
        cohort_readouts("kosinski", {1: model}, dim=128, random=False, seed=0)
    assert _expected(info).startswith(
        "lime.cohort_models.kosinski: the model has 5 coefficients but the backend embeds 128"
    )


# --- Khan's released files and the claims ledger -------------------------------------------


def test_a_published_khan_table_with_other_rows_names_the_file():
    from polface.studies.khan import check_against_published

    ours = {"lasso_marginal": pd.DataFrame({"total": [1.0, 2.0]}, index=["haircut", "beard"])}
    theirs = {
        "lasso_retest_analysis.csv": pd.DataFrame({"total": [1.0]}, index=["haircut"]),
    }
    with pytest.raises(InputError) as info:
        check_against_published(ours, theirs)
    assert _expected(info) == (
        "lasso_retest_analysis.csv: rows ['haircut']; expected polface's rows ['haircut', 'beard']"
    )
    theirs = {"lasso_retest_analysis.csv": ours["lasso_marginal"].assign(extra=0.0)}
    with pytest.raises(InputError) as info:
        check_against_published(ours, theirs)
    assert "column 'extra' is not in polface's lasso_marginal" in _expected(info)


@pytest.mark.parametrize(
    ("name", "header", "missing", "expected"),
    [
        (
            "log_Contingency.csv",
            ",total,blal,blac,bcal",
            ["bcac"],
            ["total", "blal", "blac", "bcac", "bcal"],
        ),
        (
            "before_after_log.csv",
            ",before liberal,before conservative,after liberal,after conservative",
            ["total"],
            [
                "total",
                "before liberal",
                "before conservative",
                "after liberal",
                "after conservative",
            ],
        ),
        (
            "lasso_mcnemar.csv",
            ",total,blal,blac,bcac,bcal",
            ["statistic", "pvalue"],
            ["total", "blal", "blac", "bcac", "bcal", "statistic", "pvalue"],
        ),
    ],
)
def test_a_khan_results_csv_without_a_column_names_the_file_and_the_columns(
    tmp_path, name, header, missing, expected
):
    from polface.data.khan import read_results_table

    path = tmp_path / name  # the name says which columns (rule khan_retest_reproduction)
    path.write_text(header + "\n" + "haircut" + ",1.0" * header.count(",") + "\n")
    with pytest.raises(InputError) as info:  # was a KeyError in check_against_published
        read_results_table(path)
    assert _expected(info) == (
        f"{path}: no column(s) {missing}; expected the columns {expected} (a printed"
        " '(statistic, pvalue)' column counts as statistic and pvalue)"
    )


def test_khan_log_model_csvs_with_other_rows_or_a_repeated_row_name_the_file(tmp_path):
    from polface.data.khan import read_results_table
    from polface.studies.khan import check_against_published

    marginal = tmp_path / "before_after_log.csv"
    marginal.write_text(
        ",total,before liberal,before conservative,after liberal,after conservative\n"
        "haircut,2.0,1.0,1.0,1.0,1.0\nbeard,2.0,1.0,1.0,1.0,1.0\n"
    )
    table = tmp_path / "log_Contingency.csv"
    table.write_text(",total,blal,blac,bcac,bcal\nhaircut,2.0,1.0,0.0,1.0,0.0\n")
    theirs = {path.name: read_results_table(path) for path in (marginal, table)}
    with pytest.raises(InputError) as info:
        check_against_published({}, theirs)
    assert _expected(info) == (
        "log_Contingency.csv: no row(s) ['beard']; expected the rows of before_after_log.csv"
        " ['haircut', 'beard']"
    )
    table.write_text(",total,blal,blac,bcac,bcal\nbeard,2,1,0,1,0\nbeard,2,1,0,1,0\n")
    with pytest.raises(InputError) as info:
        read_results_table(table)
    assert _expected(info) == f"{table}: row label(s) ['beard'] repeat; expected each row once"
    table.write_bytes(b",total\nbeard,2\xe9\n")  # Latin-1, not UTF-8
    with pytest.raises(InputError) as info:
        read_results_table(table)
    assert _expected(info).startswith(f"{table}: not a UTF-8 CSV file ('utf-8' codec can't ")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x80\x02}q\x00", "x/data.pkl: Ran out of input (expected a torch.save tensor)"),
        (b"\x80\x02\xfe", "x/data.pkl: invalid load key, '\\xfe'. (expected a torch.save tensor)"),
    ],
)
def test_a_damaged_khan_tensor_file_names_the_file(tmp_path, payload, expected):
    import zipfile

    from polface.data.khan import read_tensor_file

    path = tmp_path / "list_of_tensors.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x/data.pkl", payload)
    with pytest.raises(pickle.UnpicklingError) as info:
        read_tensor_file(path)
    assert _expected(info) == f"{path}: {expected}"


def test_a_damaged_khan_model_pickle_names_the_file(tmp_path):
    from polface.data.khan import read_sgd_model

    path = tmp_path / "sgd.joblib"
    path.write_bytes(b"\x80\x02\xff")
    with pytest.raises(InputError) as info:
        read_sgd_model(path)
    assert _expected(info) == (
        f"{path}: not a readable pickle (at position 2, opcode b'\\xff' unknown)"
    )


def test_a_claims_ledger_with_a_bad_header_is_an_input_error(tmp_path):
    from polface.data.claims import read_ledger

    path = tmp_path / "claims.tsv"
    path.write_text("id\tstudy\n")
    with pytest.raises(InputError) as info:
        read_ledger(path)
    assert _expected(info).startswith(f"{path}: line 1: expected the columns ")


def test_a_claim_whose_locator_names_no_column_is_an_input_error():
    from polface.data.claims import parse_locator
    from polface.studies.claims import read_locator

    locator = parse_locator("table2.csv?sample=us#auc")
    frame = pd.DataFrame({"sample": ["us"], "AUC": [0.7]})
    with pytest.raises(InputError) as info:
        read_locator(locator, frame, "results/table2.csv")
    assert _expected(info).startswith(
        "results/table2.csv (table2.csv?sample=us#auc): no column 'auc'"
    )


# --- at the rule: one line at the terminal --------------------------------------------------

RULE = """
import sys
from polface.data.imagesets import list_images
from polface.runtime import rule_logging
with rule_logging(sys.argv[1], "crop_faces"):
    list_images(sys.argv[2], pattern="*", limit=None)
"""


def test_a_rule_on_a_folder_with_a_shared_id_prints_one_line(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    (folder / "a.jpeg").write_bytes(b"y")
    log = tmp_path / "logs" / "crop.log"
    run = subprocess.run(
        [sys.executable, "-c", RULE, str(log), str(folder)],
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    first, second = run.stderr.splitlines()
    assert first.startswith(f"polface: crop_faces: {folder}: a.jp")
    assert first.endswith("share the image id 'a'; rename one or narrow the pattern '*'")
    assert second == f"polface: crop_faces: the traceback is in {log}"
    assert "Traceback (most recent call last)" in log.read_text()

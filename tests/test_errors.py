"""Errors a user can act on: one line naming the file and what was expected, the traceback in
the rule's log; model-stage errors that name the sample, the fold and the file; config errors
for a directory given as a file and for a key given twice."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from polface.config import ConfigError, duplicate_keys, validate_config
from polface.data.finetuning import FacialFinetuningDataError
from polface.data.rdata.objects import RDataError
from polface.errors import DiskFullError, InputError, MissingDependency, is_expected
from polface.frames import MissingColumnsError
from polface.images.load import ImageRejected
from polface.images.weights import WeightsMismatchError
from polface.io import write_atomic, write_parquet
from polface.models.fitters import (
    fit_sample_models,
    lasso_fitter,
    load_modelling_inputs,
)
from polface.models.folds import make_folds, read_folds

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
LASSO = {
    "lambda_choice": "lambda.min",
    "nlambda": 10,
    "lambda_min_ratio": None,
    "early_stop_patience": None,
    "solver": "numba",
    "precision": "float64",
    "memory_budget_mb": 8192,
}


def test_every_expected_input_error_is_an_input_error_and_still_a_value_error():
    for kind in (
        ConfigError,
        RDataError,
        MissingColumnsError,
        WeightsMismatchError,
        FacialFinetuningDataError,
        ImageRejected,
    ):
        assert issubclass(kind, InputError) and issubclass(kind, ValueError), kind
    assert issubclass(MissingColumnsError, KeyError)
    assert is_expected(OSError(28, "No space left on device"))
    assert is_expected(DiskFullError(122, "quota"))
    assert is_expected(MissingDependency("the step needs the package x"))
    assert not is_expected(ImportError("a bug: a module polface itself lacks"))
    assert not is_expected(OSError(2, "No such file or directory"))
    assert not is_expected(KeyError("a bug"))


# --- one line at the terminal, the traceback in the log ----------------------------------------

RULE = """
import sys
from polface.runtime import rule_logging
log_path, what, arg = sys.argv[1:4]
with rule_logging(log_path, "demo_rule"):
    if what == "rdata":
        from polface.data.rdata import read_data_frame
        read_data_frame(arg, "d")
    elif what == "bug":
        {}["missing key"]
    elif what == "no dlib":
        import numpy as np
        sys.modules["dlib"] = None  # dlib not installed: its import fails
        from polface.images.crop import detect_faces
        detect_faces(np.zeros((64, 64, 3), np.uint8), max_side=64, upsample=0)
    elif what == "write":
        import pyarrow as pa
        from polface.io import write_parquet
        write_parquet(pa.table({"x": list(range(400_000))}), arg)
"""


def _run_rule(tmp_path: Path, what: str, arg: str, limit: int | None = None):
    def set_limit() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    log = tmp_path / "logs" / "demo.log"
    run = subprocess.run(
        [sys.executable, "-c", RULE, str(log), what, arg],
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
        capture_output=True,
        text=True,
        preexec_fn=set_limit,
    )
    return run, log


def test_an_input_error_is_one_line_naming_the_file_and_the_traceback_is_logged(tmp_path):
    bad = tmp_path / "faces.RData"
    bad.write_text("this is not an RData file\n")
    run, log = _run_rule(tmp_path, "rdata", str(bad))
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert lines == [
        f"polface: demo_rule: {bad}: not an RData file (header b'this ', expected RDX2 or RDX3)",
        f"polface: demo_rule: the traceback is in {log}",
    ]
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RDataError" in text
    assert "rule demo_rule failed" in text


def test_a_missing_dlib_is_one_line_naming_the_step_and_the_package(tmp_path):
    run, log = _run_rule(tmp_path, "no dlib", "")
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "polface: demo_rule: face detection (crop_faces) needs dlib (the package dlib-bin, "
        "pinned in pyproject.toml), which cannot be imported here: import of dlib halted; None "
        "in sys.modules",
        f"polface: demo_rule: the traceback is in {log}",
    ]
    assert "MissingDependency" in log.read_text()


def test_a_bug_keeps_its_traceback_on_the_terminal(tmp_path):
    run, log = _run_rule(tmp_path, "bug", "")
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr
    assert "KeyError: 'missing key'" in run.stderr
    assert "polface: demo_rule" not in run.stderr
    assert "KeyError: 'missing key'" in log.read_text()


def test_a_file_size_limit_is_one_line_naming_the_output_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE (no root needed) stops the parquet writer with EFBIG half way."""
    out = tmp_path / "out" / "x.parquet"
    run, log = _run_rule(tmp_path, "write", str(out), limit=256 * 1024)
    assert run.returncode == 1, run.stderr
    first, second = run.stderr.splitlines()
    assert first.startswith(f"polface: demo_rule: {out}: cannot write the output, the file size")
    assert "are free in" in first and "nothing was written" in first
    assert second == f"polface: demo_rule: the traceback is in {log}"
    assert sorted(p.name for p in out.parent.iterdir()) == []
    assert "DiskFullError" in log.read_text()


def test_write_atomic_on_a_full_file_says_what_it_needed(tmp_path):
    out = tmp_path / "table.csv"
    code = (
        "import resource, sys\n"
        "from polface.io import write_atomic\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "write_atomic(sys.argv[1], 'x' * 250_000)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"polface.errors.DiskFullError: {out}: cannot write the output")
    assert "it needs 250.0 kB" in last and "nothing was written" in last
    assert list(tmp_path.iterdir()) == []


def test_writers_still_write(tmp_path):
    """The disk-full handling leaves the ordinary path alone."""
    import pyarrow as pa

    write_atomic(tmp_path / "a.txt", "hello")
    write_parquet(pa.table({"x": [1, 2]}), tmp_path / "b.parquet", {"k": 1})
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.parquet"]


# --- folds and model-stage errors --------------------------------------------------------------


def _cohort(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0] * 2))).astype(float)
    faces = pd.DataFrame(
        {"userid": [f"u{i:04d}" for i in range(n)], "pol_dat_us": pd.array(y).astype("Int32")}
    )
    folds = make_folds(faces["userid"], id_column="userid", n_outer=3, n_inner=3, seed=1)
    return faces, X, folds


def _fit(faces, X, folds, files=None):
    return fit_sample_models(
        faces,
        X,
        folds,
        sample="pol_dat_us",
        samples=["pol_dat_us"],
        fit=lasso_fitter(**LASSO, n_threads=1, family="binomial"),
        method="lasso",
        id_column="userid",
        target_column="sample",
        files=files,
    )


def test_a_folds_file_with_one_inner_fold_is_refused_where_it_is_read(tmp_path):
    faces, _, folds = _cohort()
    folds["inner_fold"] = 1
    path = tmp_path / "folds.csv"
    folds.to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_folds(path, faces["userid"], id_column="userid")
    assert str(info.value) == (
        f"{path}: the training split of outer fold 1 (the rows of the other outer folds) has"
        " 1 inner fold(s) (1) in inner_fold; at least 3 are needed for the inner"
        " cross-validation"
    )


def test_modelling_inputs_check_the_folds_file(tmp_path):
    faces, X, folds = _cohort()
    faces.to_parquet(tmp_path / "faces.parquet")
    import pyarrow as pa

    from polface.io import write_parquet as write

    features = pa.table(
        {
            "userid": faces["userid"],
            "features": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1]),
        }
    )
    write(features, tmp_path / "features.parquet")
    paths = {
        "faces_path": tmp_path / "faces.parquet",
        "features_path": tmp_path / "features.parquet",
        "folds_path": tmp_path / "folds.parquet",
        "id_column": "userid",
    }
    two = folds.assign(
        inner_fold=np.where(folds["outer_fold"] == 1, 3, folds["inner_fold"] % 2 + 1)
    )
    two.to_parquet(tmp_path / "folds.parquet")
    with pytest.raises(InputError, match=r"folds.parquet: the training split of outer fold 1 "):
        load_modelling_inputs(**paths)
    folds.assign(inner_fold=folds["inner_fold"].astype(float) - 0.5).to_parquet(
        tmp_path / "folds.parquet"
    )
    with pytest.raises(InputError, match=r"row 1 \(userid 'u0000'\): inner_fold = \d\.5, expected"):
        load_modelling_inputs(**paths)
    folds.iloc[::-1].to_parquet(tmp_path / "folds.parquet")
    with pytest.raises(InputError, match=r"folds.parquet: the folds are not aligned with .*row 1"):
        load_modelling_inputs(**paths)


def test_a_label_that_is_not_0_1_names_its_id_and_value():
    faces, X, folds = _cohort()
    faces["pol_dat_us"] = faces["pol_dat_us"].astype(float)
    faces.loc[7, "pol_dat_us"] = 2.0
    with pytest.raises(InputError) as info:
        _fit(faces, X, folds, files={"faces": "cohort/faces.parquet"})
    assert str(info.value) == (
        "cohort/faces.parquet: column 'pol_dat_us', row 8 (userid 'u0007') is 2, expected 0 or 1"
        " (or missing: not in the sample)"
    )
    assert "np.float64" not in str(info.value)


def test_a_training_split_with_one_class_names_sample_fold_and_file():
    faces, X, folds = _cohort()
    labels = faces["pol_dat_us"].astype(float)
    faces["pol_dat_us"] = pd.array(np.where(folds["outer_fold"] == 3, labels, 1.0)).astype("Int32")
    files = {
        "faces": "c/faces.parquet",
        "features": "c/features.parquet",
        "folds": "c/folds.parquet",
    }
    with pytest.raises(InputError) as info:
        _fit(faces, X, folds, files=files)
    n = int((folds["outer_fold"] != 3).sum())
    assert str(info.value) == (
        f"sample 'pol_dat_us', outer fold 3 of c/folds.parquet ({n} training rows of"
        " c/features.parquet): every training row is 1; a model needs rows of both 0 and 1"
        " outside the held-out fold"
    )


def test_a_sample_whose_rows_hold_two_inner_folds_names_the_fold():
    """The folds file is fine over all rows, but the sample's rows hold only two inner folds."""
    faces, X, folds = _cohort()
    faces.loc[folds["inner_fold"] == 3, "pol_dat_us"] = pd.NA
    with pytest.raises(InputError) as info:
        _fit(faces, X, folds, files={"folds": "c/folds.parquet"})
    assert str(info.value).startswith("sample 'pol_dat_us', outer fold 1 of c/folds.parquet (")
    assert str(info.value).endswith(
        "training rows): the training rows fall in 2 inner fold(s) (1, 2); the LASSO's inner"
        " cross-validation needs at least 3 (cv.glmnet's minimum)"
    )


def test_an_inner_fit_with_one_class_names_the_inner_fold():
    faces, X, folds = _cohort()
    labels = faces["pol_dat_us"].astype(float).to_numpy()
    # outside inner fold 2 every row is 0: the inner fit that holds out fold 2 has one class
    faces["pol_dat_us"] = pd.array(np.where(folds["inner_fold"] == 2, labels, 0.0)).astype("Int32")
    with pytest.raises(InputError, match=r"outer fold 1 .*: inner fold 2: the \d+ training rows"):
        _fit(faces, X, folds)


def test_the_fit_of_a_good_cohort_still_runs():
    faces, X, folds = _cohort()
    predictions, infos = _fit(faces, X, folds)
    assert len(infos) == 3 and predictions["score"].notna().all()


# --- config: a directory for a file, a key given twice ----------------------------------------


def test_a_directory_given_as_a_file_says_so(tmp_path):
    (tmp_path / "osf").mkdir()
    (tmp_path / "photo.jpg").write_bytes(b"x")
    config = {
        "cohorts": {"real": {"rdata": {"faces": "osf", "features": "absent.RData"}}},
        "folds": {"file": "osf"},
        "image_sets": {"photos": {"folder": {"path": "photo.jpg"}}},
    }
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA, base_dir=tmp_path)
    lines = str(info.value).splitlines()[1:]
    where = tmp_path.resolve()
    assert lines == [
        f"  - cohorts.real.rdata.faces: input file osf is a directory, expected a file"
        f" (looked at {where / 'osf'})",
        f"  - cohorts.real.rdata.features: input file not found: absent.RData"
        f" (looked in {where / 'absent.RData'})",
        f"  - folds.file: folds file osf is a directory, expected a file"
        f" (looked at {where / 'osf'})",
        f"  - image_sets.photos.folder.path: folder photo.jpg is a file, expected a folder"
        f" (looked at {where / 'photo.jpg'})",
    ]


def test_a_key_given_twice_names_the_file_the_key_and_both_lines(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "folds:\n"
        "  outer: 3\n"
        "  inner: 4\n"
        "  outer: 5\n"
        "cohorts:\n"
        "  demo:\n"
        "    simulate: {n_rows: 400, n_rows: 500}\n"
        "image_sets:\n"
        "  a:\n"
        "    embed:\n"
        "      backends: [dlib]\n"
        "folds:\n"
        "  seed: 1\n"
        "base: &base {x: 1}\n"
        "merged:\n"
        "  <<: *base\n"
        "  x: 2\n"
    )
    assert duplicate_keys(path) == [
        f"folds.outer: given twice in {path} (lines 2 and 4); a key may appear once",
        f"cohorts.demo.simulate.n_rows: given twice in {path} (lines 7 and 7); a key may appear"
        " once",
        f"folds: given twice in {path} (lines 1 and 12); a key may appear once",
    ]


def test_validate_config_reports_a_duplicate_key_with_the_other_problems(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("folds:\n  outer: 3\n  outer: 4\ncohorts:\n  demo:\n    simulate: {}\n")
    import yaml

    config = yaml.safe_load(path.read_text())
    config["colour"] = "red"
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA, config_files=[path])
    lines = str(info.value).splitlines()
    assert (
        lines[1] == f"  - folds.outer: given twice in {path} (lines 2 and 3); a key may appear once"
    )
    assert lines[2].startswith("  - (top level): unknown key 'colour'") and len(lines) == 3
    good = tmp_path / "good.yaml"
    good.write_text("folds:\n  outer: 3\ncohorts:\n  demo:\n    simulate: {}\n")
    validate_config(yaml.safe_load(good.read_text()), SCHEMA, config_files=[good])

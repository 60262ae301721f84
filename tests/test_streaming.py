"""Memory follows the work, not the cohort: row reads of features.parquet and the fits on them."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO
from memory_utils import measure
from polface.io import FeatureRows, read_features
from polface.models.fitters import (
    fit_sample_models,
    lasso_fitter,
    lasso_train_dtype,
    load_modelling_inputs,
)

P = 2048
LASSO = {
    "lambda_choice": "lambda.min",
    "nlambda": 8,
    "lambda_min_ratio": None,
    "early_stop_patience": None,
    "solver": "numba",
    "precision": "float64",
}


def write_inputs(folder, n_sample: int, n_other: int, seed: int = 3) -> None:
    """A cohort whose first `n_sample` rows are pol_dat_us and the rest pol_fb_us.

    The descriptors of the pol_dat_us rows do not depend on `n_other`, so the same sample sits in
    cohorts of different sizes; row groups of 500 rows, as a converted file has row blocks.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_sample, P))
    y = (X[:, :5].sum(axis=1) + rng.standard_normal(n_sample) > 0).astype(int)
    other = np.random.default_rng(seed + 1).standard_normal((n_other, P))
    n = n_sample + n_other
    ids = [f"u{i:06d}" for i in range(n)]
    in_sample = np.arange(n) < n_sample
    faces = pd.DataFrame(
        {
            "userid": ids,
            "pol_dat_us": pd.array(np.where(in_sample, np.r_[y, np.zeros(n_other, int)], 0)),
            "pol_fb_us": pd.array(np.zeros(n, int)),
        }
    ).astype({"pol_dat_us": "Int32", "pol_fb_us": "Int32"})
    faces.loc[~in_sample, "pol_dat_us"] = pd.NA
    faces.loc[in_sample, "pol_fb_us"] = pd.NA
    faces.to_parquet(folder / "faces.parquet")
    folds = pd.DataFrame(
        {"userid": ids, "outer_fold": np.arange(n) % 2 + 1, "inner_fold": np.arange(n) % 3 + 1}
    )
    folds.to_parquet(folder / "folds.parquet")
    values = np.vstack([X, other])
    column = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), P)
    table = pa.table({"userid": ids, "features": column})
    pq.write_table(table, folder / "features.parquet", row_group_size=500)


def test_feature_rows_read_only_the_rows_asked_for(tmp_path):
    write_inputs(tmp_path, 700, 900)
    ids, whole = read_features(tmp_path / "features.parquet", "userid")
    rows = FeatureRows(tmp_path / "features.parquet", "userid")
    assert rows.ids == ids and rows.shape == whole.shape and rows.dtype == np.float64
    pick = np.array([0, 3, 499, 500, 501, 1200, 1599])
    assert np.array_equal(rows.take(pick), whole[pick])
    assert np.array_equal(rows.take(pick, np.float32), whole[pick].astype(np.float32))
    fortran = rows.take(pick, order="F")
    assert fortran.flags.f_contiguous and np.array_equal(fortran, whole[pick])
    got = np.vstack([m for _, m in rows.blocks(pick, 3)])
    assert np.array_equal(got, whole[pick])
    with pytest.raises(ValueError, match="features.parquet: rows must be increasing"):
        rows.take(np.array([5, 4]))


FIT = """
import json, sys
import numpy as np
from polface.models.fitters import (
    fit_sample_models, lasso_fitter, lasso_train_dtype, load_modelling_inputs)
folder = sys.argv[1]
settings = json.loads(sys.argv[2])
order = sys.argv[3] if len(sys.argv) > 3 else "F"
faces, X, folds = load_modelling_inputs(
    faces_path=folder + "/faces.parquet", features_path=folder + "/features.parquet",
    folds_path=folder + "/folds.parquet", id_column="userid")
predictions, infos = fit_sample_models(
    faces, X, folds, sample="pol_dat_us", samples=["pol_dat_us"],
    fit=lasso_fitter(**settings, n_threads=1, family="binomial"), method="lasso",
    id_column="userid", target_column="sample",
    train_dtype=lasso_train_dtype(precision=settings["precision"],
        memory_budget_mb=settings["memory_budget_mb"], solver="numba"), train_order=order)
predictions.to_parquet(folder + "/predictions" + order + ".parquet")
"""


def test_a_fit_uses_the_same_memory_in_a_cohort_four_times_larger(tmp_path):
    """The same 1,200-row sample fitted alone and inside a cohort of 4,800 rows x 2,048.

    The cohort's features grow by 3,600 x 2,048 doubles (56 MiB); reading them whole (as fits did
    before) grows the peak by at least that. Reading only the sample's rows, the peak grows by the
    ids and the faces table of the other rows (measured: -4 to +1 MiB).
    """
    import json

    settings = json.dumps({**LASSO, "memory_budget_mb": 8192})
    peaks = {}
    for n_other in (0, 3600):
        folder = tmp_path / str(n_other)
        write_inputs(folder, 1200, n_other)
        runs = []
        for _ in range(2):  # the lower of two runs: the first may compile into numba's cache
            run = measure([sys.executable, "-c", FIT, str(folder), settings])
            assert run.returncode == 0, run.output[-3000:]
            runs.append(run.peak_mb)
        peaks[n_other] = min(runs)
    small = pd.read_parquet(tmp_path / "0" / "predictionsF.parquet")
    large = pd.read_parquet(tmp_path / "3600" / "predictionsF.parquet")
    pd.testing.assert_frame_equal(small, large)  # the same work gives the same predictions
    growth = 3600 * P * 8 / 2**20
    assert peaks[3600] - peaks[0] < 0.4 * growth, peaks


FIT_PEAK = """
import json, sys
import numpy as np
import pandas as pd
from polface.io import FeatureRows
from polface.models.fitters import lasso_fitter
from polface.models.lasso import cv_lasso
from polface.models.nested import _take
folder, settings, order = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
X = FeatureRows(folder + "/features.parquet", "userid")
faces = pd.read_parquet(folder + "/faces.parquet")
folds = pd.read_parquet(folder + "/folds.parquet")
train = np.flatnonzero(folds["outer_fold"].to_numpy() != 1)
test = np.flatnonzero(folds["outer_fold"].to_numpy() == 1)
y = faces["pol_dat_us"].to_numpy(dtype=float)[train]
rng = np.random.default_rng(0)  # the kernels loaded (or compiled) before the peak is reset
for warm in (rng.standard_normal((60, 4)), np.asfortranarray(rng.standard_normal((60, 4)))):
    cv_lasso(warm, rng.random(60) < 0.5, np.arange(60) % 3, overwrite_x=True, nlambda=5)
fit = lasso_fitter(**settings, n_threads=1, family="binomial")
rows = _take(X, train, np.float64, order)  # as nested_predictions reads them for the fit
def status(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak RSS (VmHWM) starts again from the RSS now
before = status("VmRSS:")
predict, info = fit(rows, y, folds["inner_fold"].to_numpy()[train], 1)
growth = (status("VmHWM:") - before) / 1024
np.save(folder + "/scores" + order + ".npy", predict(_take(X, test, np.float64)))
print(growth)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self (Linux)")
def test_a_fit_holds_its_training_rows_once(tmp_path):
    """fit_lasso reads the training rows in Fortran order (lasso_train_order) and the fitter
    standardises them in place: the fit adds little to the rows read (3,000 x 2,048 doubles,
    47 MiB; measured 3-6 MiB), where the same rows in C order are copied (measured 47-49 MiB
    more). The scores are the same bits."""
    import json
    import subprocess

    from polface.models.fitters import lasso_train_order

    assert lasso_train_order("numba") == "F"
    settings = json.dumps({**LASSO, "memory_budget_mb": 8192})
    write_inputs(tmp_path, 6000, 0)
    growth = {}
    for order in ("F", "C"):
        run = subprocess.run(
            [sys.executable, "-c", FIT_PEAK, str(tmp_path), settings, order],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO / "scripts"), "PATH": os.environ["PATH"]},
        )
        assert run.returncode == 0, run.stderr[-3000:]
        growth[order] = float(run.stdout.split()[-1])
    scores = {order: np.load(tmp_path / f"scores{order}.npy") for order in ("F", "C")}
    assert scores["F"].tobytes() == scores["C"].tobytes()
    matrix = 3000 * P * 8 / 2**20
    assert growth["F"] < 0.25 * matrix, growth
    assert 0.8 * matrix < growth["C"] < 1.3 * matrix, growth


def test_over_the_memory_budget_the_copy_is_float32_and_recorded(tmp_path):
    write_inputs(tmp_path, 600, 100)
    faces, X, folds = load_modelling_inputs(
        faces_path=tmp_path / "faces.parquet",
        features_path=tmp_path / "features.parquet",
        folds_path=tmp_path / "folds.parquet",
        id_column="userid",
    )
    results = {}
    for budget in (8192, 1):  # a 300 x 2048 float64 copy is 4.7 MiB
        settings = {**LASSO, "memory_budget_mb": budget}
        results[budget] = fit_sample_models(
            faces,
            X,
            folds,
            sample="pol_dat_us",
            samples=["pol_dat_us", "pol_fb_us"],
            fit=lasso_fitter(**settings, n_threads=1, family="binomial"),
            method="lasso",
            id_column="userid",
            target_column="sample",
            train_dtype=lasso_train_dtype(
                precision="float64", memory_budget_mb=budget, solver="numba"
            ),
        )
    assert [i["x_dtype"] for i in results[8192][1]] == ["float64", "float64"]
    assert [i["x_dtype"] for i in results[1][1]] == ["float32", "float32"]
    wide, narrow = results[8192][0], results[1][0]
    assert (wide["userid"] == narrow["userid"]).all() and len(wide) == 700
    assert [i["step"] for i in results[8192][1]] == [i["step"] for i in results[1][1]]
    np.testing.assert_allclose(narrow["score"], wide["score"], atol=1e-5)

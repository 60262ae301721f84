"""The synthetic cohort: the OSF layout, seeded, and the planted signal where it is documented."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from memory_utils import measure
from polface.config import validate_config
from polface.data.osf import COLUMNS, ROW_ORDER
from polface.data.simulate import (
    columns_per_block,
    plan_cohort,
    simulate_cohort,
    write_cohort,
)

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def settings(**overrides):
    config = {"cohorts": {"c": {"simulate": {"n_rows": 2000, "n_features": 256, **overrides}}}}
    validate_config(config, SCHEMA)
    return config["cohorts"]["c"]["simulate"]


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(settings())


def test_columns_are_the_released_columns_in_order(cohort, osf_fixture):
    pyreadr = pytest.importorskip("pyreadr")
    released = pyreadr.read_r(str(osf_fixture / "faces.RData"))["d"]
    assert list(COLUMNS) == list(released.columns)
    assert list(cohort.faces.columns) == list(released.columns)
    for column in ("country", "database", "ethnicity.value"):
        assert set(cohort.faces[column]) == set(released[column]), column


def test_samples_labels_and_missingness_follow_the_release(cohort):
    d = cohort.faces
    assert d.shape == (2000, 42) and cohort.descriptors.shape == (2000, 256)
    assert d["userid"].is_unique
    assert list(d["pol"].cat.categories) == ["liberal", "conservative"]
    in_sample = d[list(ROW_ORDER)].notna()
    assert (in_sample.sum(axis=1) == 1).all(), "each face is in exactly one sample"
    assert in_sample["pol_fb_us"].iloc[: in_sample["pol_fb_us"].sum()].all(), "Facebook first"
    for sample in ROW_ORDER:
        rows = d[sample].notna()
        assert (d.loc[rows, sample] == (d.loc[rows, "pol"] == "conservative")).all()
    assert d.loc[d["database"] == "dating", "ope"].isna().all()
    assert d.loc[d["database"] == "fb", "ope"].notna().all()
    assert d["gender"].dtype == "Int32" and d["pol_dat_us"].dtype == "Int32"
    emotions = d.filter(like="emotion.").dropna()
    np.testing.assert_allclose(emotions.sum(axis=1), 100, atol=0.01)


def test_same_seed_same_cohort_other_seed_other_cohort():
    a, b = simulate_cohort(settings()), simulate_cohort(settings())
    pd.testing.assert_frame_equal(a.faces, b.faces)
    assert np.array_equal(a.descriptors, b.descriptors)
    c = simulate_cohort(settings(seed=1))
    assert not np.array_equal(a.descriptors, c.descriptors)


def test_the_planted_signal_is_where_the_config_says(cohort):
    d = cohort.faces
    y = (d["pol"] == "conservative").to_numpy(float)
    x = cohort.descriptors
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(x.std(axis=0, ddof=1), 1, atol=1e-10)
    corr = np.array([np.corrcoef(x[:, j], y)[0, 1] for j in range(x.shape[1])])
    others = np.setdiff1d(np.arange(x.shape[1]), cohort.signal_columns)
    assert len(cohort.signal_columns) == 8
    # the signal columns carry the latent conservatism; other columns mostly carry demographics
    latent = np.array([np.corrcoef(x[:, j], cohort.latent)[0, 1] for j in cohort.signal_columns])
    assert (latent > 0.1).all()
    assert np.abs(corr[cohort.signal_columns]).mean() > 2 * np.abs(corr[others]).mean() / 2
    # confounding: men, older and white faces are more often conservative
    male = (d["gender"] == 0).to_numpy()
    assert y[male].mean() > y[~male].mean() + 0.05
    white = (d["ethnicity.value"] == "white").to_numpy()
    assert y[white].mean() > y[~white].mean() + 0.05
    # head pitch and happiness move with z in the documented directions
    pitch = d["headpose.pitch_angle"].to_numpy()
    ok = ~np.isnan(pitch)
    assert np.corrcoef(pitch[ok], cohort.latent[ok])[0, 1] > 0.1
    happy = d["emotion.happiness"].to_numpy()
    ok = ~np.isnan(happy)
    assert np.corrcoef(happy[ok], cohort.latent[ok])[0, 1] < -0.1


def test_too_small_a_cohort_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than 10 rows in sample"):
        simulate_cohort(settings(n_rows=40))


@pytest.mark.parametrize(
    ("n_rows", "n_features", "factors"), [(700, 256, 32), (613, 301, 0), (500, 200, 5)]
)
def test_streamed_descriptors_equal_the_whole_matrix_bit_for_bit(
    tmp_path, n_rows, n_features, factors
):
    st = settings(n_rows=n_rows, n_features=n_features, factors=factors)
    whole = simulate_cohort(st)
    for block_mb, expected in ((1e-6, 64), (8 * n_rows * 150 / 2**20, 128), (1e6, n_features)):
        plan = plan_cohort(st, block_mb=block_mb)
        pd.testing.assert_frame_equal(plan.faces, whole.faces)
        np.testing.assert_array_equal(plan.latent, whole.latent)
        per_block = columns_per_block(n_rows, n_features, block_mb)
        assert per_block == min(expected, n_features)
        blocks = list(plan.descriptors.blocks(per_block))
        assert max(b.shape[1] for b in blocks) == per_block
        assert np.array_equal(np.hstack(blocks), whole.descriptors), block_mb
    a, b = tmp_path / "a", tmp_path / "b"
    write_cohort(whole, faces=a / "f.RData", features=a / "v.RData", truth=a / "t.parquet")
    write_cohort(
        plan_cohort(st, block_mb=1e-6),
        faces=b / "f.RData",
        features=b / "v.RData",
        truth=b / "t.parquet",
        block_mb=1e-6,
    )
    for name in ("f.RData", "v.RData", "t.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_r_reads_the_streamed_matrix(tmp_path):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed (apt-get install r-base-core)")
    st = settings(n_rows=300, n_features=200)
    write_cohort(
        plan_cohort(st, block_mb=1e-6),  # four blocks of 64, 64, 64 and 8 columns
        faces=tmp_path / "faces.RData",
        features=tmp_path / "vgg.RData",
        truth=tmp_path / "truth.parquet",
        block_mb=1e-6,
    )
    script = (
        'load("vgg.RData"); stopifnot(is.matrix(vgg), is.double(vgg)); '
        'writeBin(as.integer(dim(vgg)), "dim.bin"); writeBin(as.vector(vgg), "vgg.bin")'
    )
    subprocess.run(["Rscript", "-e", script], cwd=tmp_path, check=True, timeout=120)
    assert np.fromfile(tmp_path / "dim.bin", dtype="<i4").tolist() == [300, 200]
    values = np.fromfile(tmp_path / "vgg.bin", dtype="<f8").reshape(200, 300).T
    assert np.array_equal(values, simulate_cohort(st).descriptors)


def test_simulation_memory_is_flat_in_the_rows(tmp_path):
    """Peak RSS of the rule's library calls at 2,000 and 8,000 rows x 2,048 columns.

    The whole matrix grows by 6,000 x 2,048 doubles (94 MiB) between the two, and a simulator
    that holds it (as the one before streaming did, twice) grows at least that much. Streamed in
    blocks of at most 16 MiB, only the data.frame and the per-row vectors grow (measured: about
    6 MiB).
    """
    code = (
        "import sys\n"
        "from polface.config import validate_config\n"
        "from polface.data.simulate import plan_cohort, write_cohort\n"
        "config = {'cohorts': {'c': {'simulate': {'n_rows': int(sys.argv[1])}}}}\n"
        f"validate_config(config, {str(SCHEMA)!r})\n"
        "plan = plan_cohort(config['cohorts']['c']['simulate'], block_mb=16)\n"
        "write_cohort(plan, faces='f.RData', features='v.RData', truth='t.parquet', block_mb=16)\n"
    )
    peaks = {}
    for n in (2_000, 8_000):
        run = measure([sys.executable, "-c", code, str(n)], cwd=tmp_path)
        assert run.returncode == 0, run.output[-3000:]
        peaks[n] = run.peak_mb
    matrix_growth = 6_000 * 2048 * 8 / 2**20
    assert peaks[8_000] - peaks[2_000] < 0.35 * matrix_growth, peaks


def test_the_factor_share_is_the_same_bits_on_every_cpu() -> None:
    """The descriptors' low-rank share is summed in a fixed order with every product and sum
    rounded (what elementwise numpy gives on any processor), not by BLAS, whose kernels (and
    last bits) depend on the CPU: the pinned R cohorts differed between an AVX-512 and an AVX2
    machine before."""
    from polface.data.simulate import _add_factor_share

    rng = np.random.default_rng(4)
    scores = rng.standard_normal((1001, 32))
    loadings = rng.standard_normal((32, 130)) / np.sqrt(32)
    x = rng.standard_normal((1001, 130))
    expected = scores[:, [0]] * loadings[[0], :]
    for q in range(1, 32):
        expected = expected + scores[:, [q]] * loadings[[q], :]
    expected = x + expected
    _add_factor_share(x, scores, loadings)
    assert x.tobytes() == expected.tobytes()

"""The synthetic cohort: the OSF layout, seeded, and the planted signal where it is documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from polface.config import validate_config
from polface.data.simulate import COLUMNS, SAMPLES, simulate_cohort

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
    in_sample = d[list(SAMPLES)].notna()
    assert (in_sample.sum(axis=1) == 1).all(), "each face is in exactly one sample"
    assert in_sample["pol_fb_us"].iloc[: in_sample["pol_fb_us"].sum()].all(), "Facebook first"
    for sample in SAMPLES:
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

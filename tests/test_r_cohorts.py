"""Issue 12: on many small R-written cohorts, polface's default Table 2 is R's, cell for cell.

24 cohorts in the exact OSF layout (tests/r_cohorts.py: polface's simulator, fixed folds,
4 outer x 5 inner, written by R's save() where R is installed and by polface's writer otherwise)
go through the library calls of the workflow's rules with the schema's default settings. Every
Table 2 cell (AUC, DeLong CI) must equal R glmnet's cv.glmnet(lambda.min) + pROC on the same
files and folds to 1e-12, and the converted descriptors must be pyreadr's doubles, bit for bit.
The R reference is pinned in tests/data/r_cohorts_table2.csv; where R is present it is also
recomputed here and must equal the pin.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadr
import pytest

import r_cohorts
from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CELL = ["cohort", "model", "sample"]
TOLERANCE = 1e-12


def polface_table2(
    cohort: Path, work: Path, overrides: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """polface's Table 2 (LASSO rows) of one cohort: the workflow's library calls, in order.

    The settings are the config schema's defaults (what the rules receive), with `overrides`
    merged into the top-level sections. Writes the rules' outputs under `work`.
    """
    import polface.models.fitters as fitters
    from polface.config import validate_config
    from polface.data.convert import convert_cohort
    from polface.data.osf import SAMPLE_COLUMN
    from polface.io import write_parquet
    from polface.models.folds import read_folds
    from polface.report.tables import auc_with_baselines

    rdata = {"faces": str(cohort / "faces.RData"), "features": str(cohort / "vgg.RData")}
    config: dict[str, Any] = {
        "cohorts": {"c": {"rdata": rdata}},
        "folds": {"file": str(cohort / "folds.csv")},
        "mlp": {"enabled": False},
        "baselines": {"permutations": 10},  # the baselines are not compared; AUC and CI are
    }
    for key, value in (overrides or {}).items():
        config[key] = {**config.get(key, {}), **value}
    validate_config(config, SCHEMA)
    rdata = config["cohorts"]["c"]["rdata"]
    id_column = rdata["id_column"]
    work.mkdir(parents=True, exist_ok=True)
    # rule rdata_to_parquet
    convert_cohort(
        faces_rdata=rdata["faces"],
        features_rdata=rdata["features"],
        faces_object=rdata["faces_object"],
        features_object=rdata["features_object"],
        id_column=id_column,
        block_rows=config["convert"]["block_rows"],
        precision=config["convert"]["precision"],
        faces_parquet=str(work / "faces.parquet"),
        features_parquet=str(work / "features.parquet"),
        columns_csv=str(work / "faces_columns.csv"),
    )
    # rule make_folds (from the file)
    ids = pd.read_parquet(work / "faces.parquet", columns=[id_column])[id_column].astype(str)
    folds = read_folds(config["folds"]["file"], ids, id_column=id_column)
    write_parquet(pa.Table.from_pandas(folds, preserve_index=False), work / "folds.parquet")
    # rules fit_lasso_fold (one outer fold a job) and fit_lasso (the gather): the same rows
    faces, X, folds = fitters.load_modelling_inputs(
        faces_path=work / "faces.parquet",
        features_path=work / "features.parquet",
        folds_path=work / "folds.parquet",
        id_column=id_column,
    )
    predictions = []
    for sample in config["samples"]:
        frame, _ = fitters.fit_sample_models(
            faces,
            X,
            folds,
            sample=sample,
            samples=config["samples"],
            fit=fitters.lasso_fitter(**config["lasso"], n_threads=2, family="binomial"),
            method="lasso",
            id_column=id_column,
            target_column=SAMPLE_COLUMN,
        )
        predictions.append(frame)
    # rule table2
    return auc_with_baselines(
        pd.concat(predictions),
        ["method", "model"],
        target_column=SAMPLE_COLUMN,
        id_column=id_column,
        n_permutations=config["baselines"]["permutations"],
        seed=config["baselines"]["seed"],
    )


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory) -> dict[str, Any]:
    """Every cohort written (by R where it is installed), its fingerprint, and Rscript."""
    root = tmp_path_factory.mktemp("r_cohorts")
    r = r_cohorts.rscript()
    return {"root": root, "r": r, "fingerprints": r_cohorts.write_cohorts(root, r=r)}


@pytest.fixture(scope="module")
def pin() -> pd.DataFrame:
    return r_cohorts.read_pin()


@pytest.fixture(scope="module")
def ours(cohorts) -> pd.DataFrame:
    """polface's Table 2 of every cohort (default settings)."""
    frames = []
    for spec in r_cohorts.COHORTS:
        table = polface_table2(cohorts["root"] / spec.name, cohorts["root"] / "polface" / spec.name)
        frames.append(table.assign(cohort=spec.name))
    return pd.concat(frames, ignore_index=True)


def test_the_cohorts_are_the_pinned_ones(cohorts, pin: pd.DataFrame) -> None:
    """The generator still gives the cohorts the reference was computed on."""
    assert len(r_cohorts.COHORTS) >= 20
    assert len({spec.seed for spec in r_cohorts.COHORTS}) == len(r_cohorts.COHORTS)
    pinned = pin.drop_duplicates("cohort").set_index("cohort")["fingerprint"].to_dict()
    assert cohorts["fingerprints"] == pinned, (
        "the cohorts' values changed (simulator or fold assignment): rerun"
        " `python tests/r_cohorts.py` with R installed to regenerate the pin"
    )
    assert len(pin) == 16 * len(r_cohorts.COHORTS)


@pytest.mark.slow
def test_live_r_reference_equals_the_pin(cohorts, pin: pd.DataFrame) -> None:
    """Where R is installed, R's Table 2 on the R-written files is the pinned one."""
    if cohorts["r"] is None:
        pytest.skip("R with glmnet and pROC not found: the pinned reference is used as it is")
    live = r_cohorts.r_table2(cohorts["r"], cohorts["root"]).set_index(CELL)
    pinned = pin.set_index(CELL).loc[live.index]
    assert (live["n"] == pinned["n"]).all()
    gap = (live[["auc", "lo", "hi"]] - pinned[["auc", "lo", "hi"]]).abs().to_numpy().max()
    assert gap <= TOLERANCE, f"R's reference moved by {gap:.3g}: regenerate the pin"


def test_without_r_polface_writes_the_same_values(cohorts, tmp_path: Path) -> None:
    """Where R is absent polface's writer stands in for save(): the values read back are R's."""
    if cohorts["r"] is None:
        pytest.skip("R not found: nothing to compare polface's writer with")
    specs = r_cohorts.COHORTS[:3]
    prints = r_cohorts.write_cohorts(tmp_path, specs, r=None)
    assert prints == {spec.name: cohorts["fingerprints"][spec.name] for spec in specs}
    for spec in specs:
        for name, item in (("faces.RData", "d"), ("vgg.RData", "vgg")):
            ours = pyreadr.read_r(tmp_path / spec.name / name)[item]
            theirs = pyreadr.read_r(cohorts["root"] / spec.name / name)[item]
            pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
        assert (tmp_path / spec.name / "folds.csv").read_bytes() == (
            cohorts["root"] / spec.name / "folds.csv"
        ).read_bytes()


@pytest.mark.slow
def test_descriptors_are_pyreadrs_doubles_bit_for_bit(cohorts, ours) -> None:
    """features.parquet keeps the R doubles: fixed_size_list<float64>, the very bits."""
    for spec in r_cohorts.COHORTS:
        table = pq.read_table(cohorts["root"] / "polface" / spec.name / "features.parquet")
        kind = table.schema.field("features").type
        assert pa.types.is_fixed_size_list(kind) and kind.list_size == spec.n_features
        assert kind.value_type == pa.float64(), f"{spec.name}: descriptors stored as {kind}"
        stored = table.column("features").combine_chunks().flatten().to_numpy()
        vgg = pyreadr.read_r(cohorts["root"] / spec.name / "vgg.RData")["vgg"].to_numpy()
        assert vgg.dtype == np.float64 and vgg.shape == (spec.n_rows, spec.n_features)
        assert np.array_equal(stored.view(np.uint64), vgg.reshape(-1).view(np.uint64)), spec.name


@pytest.mark.slow
def test_default_table2_equals_r_on_every_cohort(ours: pd.DataFrame, pin: pd.DataFrame) -> None:
    """Every cell of every cohort: AUC, lower and upper DeLong bound within 1e-12 of R's."""
    joined = pin.merge(ours, on=CELL, how="left", suffixes=("_r", ""), validate="one_to_one")
    assert joined["auc"].notna().all(), "polface's Table 2 lacks cells that R computed"
    assert (joined["n"] == joined["n_r"]).all()
    gaps = pd.DataFrame({c: (joined[c] - joined[f"{c}_r"]).abs() for c in ("auc", "lo", "hi")})
    off = joined[gaps.max(axis=1) > TOLERANCE]
    if not off.empty:
        pytest.fail(
            f"{len(off)} of {len(joined)} cells in {off['cohort'].nunique()} cohorts differ from R"
            f" (largest AUC gap {gaps['auc'].max():.3g}):\n"
            + off[[*CELL, "auc_r", "auc", "lo_r", "lo", "hi_r", "hi"]].to_string()
        )

"""The default workflow, end to end on a small size: outputs, reruns, and config errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polface.cohort import simulate_cohort
from polface.config import validate_config
from polface.io import read_metadata
from workflow_utils import copy_project, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

SMALL = {"cohorts": {"demo": {"simulate": {"n_rows": 400, "n_features": 64, "seed": 7}}}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the default workflow once on a small size; yield the working directory."""
    workdir = copy_project(tmp_path_factory.mktemp("workflow"))
    write_config(workdir, "small.yaml", SMALL)
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/small.yaml")
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir


def expected_cohort(workdir):
    config = {"cohorts": {"demo": {"simulate": dict(SMALL["cohorts"]["demo"]["simulate"])}}}
    validate_config(config, workdir / "workflow" / "schemas" / "config.schema.yaml")
    return simulate_cohort(config["cohorts"]["demo"]["simulate"])


def test_default_run_writes_the_osf_tables_as_parquet(run):
    truth = expected_cohort(run)
    faces = pd.read_parquet(run / "results/demo/faces.parquet")
    pd.testing.assert_frame_equal(faces, truth.faces, check_categorical=True)
    assert faces["pol_dat_us"].dtype == "Int32"
    assert list(faces["pol"].cat.categories) == ["liberal", "conservative"]

    table = pq.read_table(run / "results/demo/features.parquet")
    assert table.column_names == ["userid", "features"]
    kind = table.schema.field("features").type
    assert pa.types.is_fixed_size_list(kind) and kind.list_size == 64
    assert kind.value_type == pa.float32()
    assert table.column("userid").to_pylist() == faces["userid"].tolist()
    values = np.stack(table.column("features").to_numpy(zero_copy_only=False))
    assert values.dtype == np.float32
    assert np.array_equal(values, truth.descriptors.astype(np.float32))
    meta = read_metadata(run / "results/demo/features.parquet")
    assert meta["source_file"] == "vgg.RData"

    columns = pd.read_csv(run / "results/demo/faces_columns.csv")
    assert len(columns) == 42
    row = columns.set_index("column").loc["pol"]
    assert row["r_type"] == "factor" and row["levels"] == "liberal|conservative"


def test_every_job_logged_and_benchmarked(run):
    for rule in ("simulate_cohort", "rdata_to_parquet"):
        log = (run / f"results/logs/{rule}/demo.log").read_text()
        assert f"rule {rule} finished" in log
        assert (run / f"results/benchmarks/{rule}/demo.tsv").stat().st_size > 0


def test_rerun_does_nothing_and_a_setting_reruns_only_what_depends_on_it(run):
    again = snakemake(run, "-n", "--configfile", "config/small.yaml")
    assert again.returncode == 0, again.stdout
    assert "Nothing to be done" in again.stdout
    assert planned_jobs(again.stdout) == {}

    write_config(run, "block.yaml", {**SMALL, "convert": {"block_rows": 50}})
    block = snakemake(run, "-n", "--configfile", "config/block.yaml")
    assert planned_jobs(block.stdout) == {"rdata_to_parquet": 1, "all": 1}, block.stdout

    seeded = {"cohorts": {"demo": {"simulate": {**SMALL["cohorts"]["demo"]["simulate"]}}}}
    seeded["cohorts"]["demo"]["simulate"]["seed"] = 8
    write_config(run, "seed.yaml", seeded)
    seed = snakemake(run, "-n", "--configfile", "config/seed.yaml")
    assert planned_jobs(seed.stdout) == {"simulate_cohort": 1, "rdata_to_parquet": 1, "all": 1}


def test_a_bad_config_is_one_clear_message(run):
    write_config(
        run,
        "bad.yaml",
        {"cohorts": {"demo": {"simulate": {"n_rows": "many", "colour": "red"}}}},
    )
    bad = snakemake(run, "-n", "--configfile", "config/bad.yaml")
    assert bad.returncode != 0
    assert "the polface configuration is not valid:" in bad.stdout
    assert "cohorts.demo.simulate: unknown key 'colour'" in bad.stdout
    assert "cohorts.demo.simulate.n_rows: 'many' is not of type 'integer'" in bad.stdout

    write_config(
        run,
        "missing.yaml",
        {"cohorts": {"real": {"rdata": {"faces": "osf/faces.RData", "features": "osf/vgg.RData"}}}},
    )
    missing = snakemake(run, "-n", "--configfile", "config/missing.yaml")
    assert missing.returncode != 0
    assert "cohorts.real.rdata.faces: input file not found: osf/faces.RData" in missing.stdout


def test_real_rdata_cohort_runs_from_user_files(run, osf_fixture):
    """A cohort read from R-written files in the OSF layout (the fixture), as a user would."""
    config = {
        "run_cohorts": ["fixture"],
        "cohorts": {
            "fixture": {
                "rdata": {
                    "faces": str(osf_fixture / "faces.RData"),
                    "features": str(osf_fixture / "vgg.RData"),
                }
            }
        },
    }
    write_config(run, "fixture.yaml", config)
    result = snakemake(run, "--cores", "2", "--configfile", "config/fixture.yaml")
    assert result.returncode == 0, result.stdout[-5000:]
    assert not (run / "results/fixture/osf").exists(), "nothing is simulated for a real cohort"
    table = pq.read_table(run / "results/fixture/features.parquet")
    assert table.num_rows == 800
    assert table.column("userid")[0].as_py() == "u0000001"

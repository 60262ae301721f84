"""The default workflow, end to end on a small size: outputs, reruns, and config errors."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polface.config import validate_config
from polface.data.simulate import simulate_cohort
from polface.io import read_metadata
from workflow_utils import SMALL, copy_project, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

TABLES = ("table1", "table2", "table_s1")


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
    assert kind.value_type == pa.float64()  # R's doubles, unrounded (convert.precision)
    assert table.column("userid").to_pylist() == faces["userid"].tolist()
    values = np.stack(table.column("features").to_numpy(zero_copy_only=False))
    assert values.dtype == np.float64
    assert np.array_equal(values, truth.descriptors)
    meta = read_metadata(run / "results/demo/features.parquet")
    assert meta["source_file"] == "vgg.RData"

    columns = pd.read_csv(run / "results/demo/faces_columns.csv")
    assert len(columns) == 42
    row = columns.set_index("column").loc["pol"]
    assert row["r_type"] == "factor" and row["levels"] == "liberal|conservative"


def test_every_job_logged_and_benchmarked(run):
    logs = sorted((run / "results/logs").rglob("*.log"))
    rules = {path.relative_to(run / "results/logs").parts[0] for path in logs}
    assert rules == {
        "simulate_cohort", "rdata_to_parquet", "make_folds", "fit_lasso", "fit_mlp",
        "fit_interpretable", "fit_lasso_fold", "fit_mlp_fold", "fit_interpretable_fold",
        "table1", "table2", "table_s1", "figure2", "figure3", "claims_ledger",
    }  # fmt: skip
    for log in logs:
        assert "finished" in log.read_text(), log
        bench = run / "results/benchmarks" / log.relative_to(run / "results/logs")
        assert bench.with_suffix(".tsv").stat().st_size > 0


def test_paper_tables_and_figures_are_written(run):
    tables = run / "results/demo/tables"
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (tables / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
    table2 = pd.read_csv(tables / "table2.csv")
    samples = ["pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"]
    assert set(table2["method"]) == {"lasso", "mlp"}
    assert len(table2) == 2 * 4 * 4, "every model of each method on every sample"
    assert table2[["auc", "lo", "hi"]].notna().all().all()
    assert ((table2["lo"] <= table2["auc"]) & (table2["auc"] <= table2["hi"])).all()
    assert table2["perm_mean"].between(0.4, 0.6).all()
    assert "lasso · pol\\_dat\\_us" in (tables / "table2.md").read_text()
    # every labelled face has exactly one out-of-fold prediction per model
    faces = pd.read_parquet(run / "results/demo/faces.parquet")
    for sample in samples:
        preds = pd.read_parquet(run / f"results/demo/lasso/{sample}/predictions.parquet")
        assert not preds.duplicated(["sample", "userid"]).any()
        assert len(preds) == int(faces[samples].notna().to_numpy().sum())
    s1 = pd.read_csv(tables / "table_s1.csv")
    assert set(s1["feature_set"]) == {
        "head_pose", "expression", "personality", "facial_hair", "eyewear", "smile",
        "demographics", "all",
    }  # fmt: skip
    assert set(s1.loc[s1["feature_set"] == "personality", "sample"]) == {"pol_fb_us"}
    assert s1["auc_published"].notna().all()
    assert (run / "results/demo/figures/figure3.png").read_bytes().startswith(b"\x89PNG")
    # the claims ledger reads Kosinski's claims from the demo cohort: values, no verdicts
    claims = pd.read_csv(run / "results/claims.csv")
    kosinski = claims[claims["study"] == "kosinski2021"]
    located = kosinski[kosinski["polface"].notna()]
    assert len(located) == 16 and (located["verdict"] == "synthetic data").all()
    assert set(claims.loc[claims["polface"].isna(), "verdict"]) == {"not computable here"}
    figure = pd.read_csv(tables / "figure2_lasso.csv")
    assert list(figure["sample"]) == samples
    assert figure["paired_accuracy"].between(0, 1).all()
    png = (run / "results/demo/figures/figure2_lasso.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def _digests(root):
    skip = {"logs", "benchmarks"}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not skip & set(path.relative_to(root).parts)
    }


def test_rerun_from_scratch_gives_identical_files(run):
    before = _digests(run / "results")
    assert len(before) > 30
    again = snakemake(run, "--cores", "2", "--forceall", "--configfile", "config/small.yaml")
    assert again.returncode == 0, again.stdout[-5000:]
    after = _digests(run / "results")
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert changed == []


def test_rerun_does_nothing_and_a_setting_reruns_only_what_depends_on_it(run):
    again = snakemake(run, "-n", "--configfile", "config/small.yaml")
    assert again.returncode == 0, again.stdout
    assert "Nothing to be done" in again.stdout
    assert planned_jobs(again.stdout) == {}

    write_config(run, "block.yaml", {**SMALL, "convert": {"block_rows": 50}})
    block = planned_jobs(snakemake(run, "-n", "--configfile", "config/block.yaml").stdout)
    assert block["rdata_to_parquet"] == 1 and "simulate_cohort" not in block, block

    write_config(run, "perm.yaml", {**SMALL, "baselines": {"permutations": 60}})
    perm = snakemake(run, "-n", "--configfile", "config/perm.yaml")
    expected = {"table2": 1, "table_s1": 1, "figure2": 2, "figure3": 1, "claims_ledger": 1}
    expected["all"] = 1
    assert planned_jobs(perm.stdout) == expected

    write_config(run, "mlp.yaml", {**SMALL, "mlp": {**SMALL["mlp"], "max_epochs": 4}})
    mlp = snakemake(run, "-n", "--configfile", "config/mlp.yaml")
    expected = {"fit_mlp_fold": 4 * 3, "fit_mlp": 4, "table2": 1, "figure2": 1}
    expected |= {"claims_ledger": 1, "all": 1}
    assert planned_jobs(mlp.stdout) == expected

    seeded = {"cohorts": {"demo": {"simulate": {**SMALL["cohorts"]["demo"]["simulate"]}}}}
    seeded["cohorts"]["demo"]["simulate"]["seed"] = 8
    write_config(run, "seed.yaml", seeded)
    seed = snakemake(run, "-n", "--configfile", "config/seed.yaml")
    planned = planned_jobs(seed.stdout)
    assert planned["simulate_cohort"] == 1 and planned["fit_lasso"] == 4, planned


def test_thread_counts_are_not_rerun_triggers(run):
    rules = ("simulate_cohort", "rdata_to_parquet", "fit_lasso", "fit_mlp", "fit_interpretable")
    threads = [f"{rule}={n}" for rule, n in zip(rules, (1, 3, 1, 3, 1), strict=True)]
    plan = snakemake(run, "-n", "--configfile", "config/small.yaml", "--set-threads", *threads)
    assert plan.returncode == 0, plan.stdout[-3000:]
    assert planned_jobs(plan.stdout) == {}, plan.stdout[-3000:]


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


def test_osf_fixture_reproduces_r_glmnet_table2(run, osf_fixture):
    """The R-written fixture in the OSF layout, R's folds, default settings: R's Table 2 exactly."""
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
        "folds": {"file": str(osf_fixture / "folds.csv")},
        "mlp": {"enabled": False},
        "baselines": {"permutations": 50},
    }
    write_config(run, "fixture.yaml", config)
    result = snakemake(run, "--cores", "2", "--configfile", "config/fixture.yaml")
    assert result.returncode == 0, result.stdout[-5000:]
    assert not (run / "results/fixture/osf").exists(), "nothing is simulated for a real cohort"
    table = pq.read_table(run / "results/fixture/features.parquet")
    assert table.num_rows == 800 and table.column("userid")[0].as_py() == "u0000001"

    ours = pd.read_csv(run / "results/fixture/tables/table2.csv").set_index(["model", "sample"])
    reference = pd.read_csv(osf_fixture / "glmnet_auc_reference.csv")
    reference = reference.set_index(["model", "sample"])
    assert len(reference) == 16
    joined = reference.merge(ours, left_index=True, right_index=True, suffixes=("", "_ours"))
    for column in ("auc", "lo", "hi"):
        gap = (joined[column] - joined[f"{column}_ours"]).abs()
        assert gap.max() < 1e-12, joined[[column, f"{column}_ours"]]


def test_report_gathers_tables_and_figures(run):
    report = snakemake(run, "--report", "results/report.zip", "--configfile", "config/small.yaml")
    assert report.returncode == 0, report.stdout[-5000:]
    with zipfile.ZipFile(run / "results/report.zip") as archive:
        names = archive.namelist()
    for expected in ("table2.md", "table1.md", "table_s1.md", "figure2_lasso.png"):
        assert any(name.endswith(expected) for name in names), (expected, names[:20])
    # the command the README gives: one self-contained HTML file
    html = snakemake(run, "--report", "results/report.html", "--configfile", "config/small.yaml")
    assert html.returncode == 0, html.stdout[-5000:]
    text = (run / "results/report.html").read_text(encoding="utf-8")
    for expected in ("table2.md", "figure2_lasso.png", "Table 2", "Figure 2 (lasso)"):
        assert expected in text, expected

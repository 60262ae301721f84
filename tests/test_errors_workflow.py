"""The real workflow on bad inputs: short terminal output naming the file, tracebacks in the logs.

One run holds two failing jobs: a cohort whose faces.RData is not an RData file
(rdata_to_parquet) and a folds file whose inner_fold has one value (make_folds, on a small
simulated cohort). A dry run with a config that gives a key twice fails at parse time. Before
polface printed expected errors in one line, the first job alone put 111 lines and two full
tracebacks on the terminal.
"""

from __future__ import annotations

import pytest

from workflow_utils import copy_project, snakemake, write_config

pytestmark = pytest.mark.workflow

N_ROWS = 200


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = copy_project(tmp_path_factory.mktemp("errors"))
    (workdir / "osf").mkdir()
    (workdir / "osf/faces.RData").write_text("faces, saved as text by mistake\n")
    (workdir / "osf/vgg.RData").write_bytes(b"RDX3\n" + bytes(64))
    ids = [f"u{i + 1:07d}" for i in range(N_ROWS)]  # the simulated cohort's userids
    rows = [f"{u},{i % 2 + 1},1" for i, u in enumerate(ids)]
    (workdir / "folds.csv").write_text("userid,outer_fold,inner_fold\n" + "\n".join(rows) + "\n")
    config = {
        "cohorts": {
            "bad": {"rdata": {"faces": "osf/faces.RData", "features": "osf/vgg.RData"}},
            "demo": {"simulate": {"n_rows": N_ROWS, "n_features": 16, "seed": 3}},
        },
        "folds": {"file": "folds.csv"},
    }
    write_config(workdir, "config.yaml", config)  # replaces the default config of the copy
    return workdir


def test_failing_jobs_print_one_line_each_and_log_the_traceback(workdir):
    targets = ["results/bad/faces.parquet", "results/demo/folds.parquet"]
    result = snakemake(workdir, "--cores", "2", *targets, timeout=600)
    out = result.stdout
    assert result.returncode != 0
    assert "Traceback" not in out, out
    ours = [line for line in out.splitlines() if line.startswith("polface:")]
    assert (
        "polface: rdata_to_parquet: osf/faces.RData: not an RData file (header b'faces',"
        " expected RDX2 or RDX3)"
    ) in ours
    assert (
        "polface: rdata_to_parquet: the traceback is in results/logs/rdata_to_parquet/bad.log"
    ) in ours
    assert (
        "polface: make_folds: folds.csv: the training split of outer fold 1 (the rows of the"
        " other outer folds) has 1 inner fold(s) (1) in inner_fold; at least 3 are needed for"
        " the inner cross-validation"
    ) in ours
    assert "polface: make_folds: the traceback is in results/logs/make_folds/demo.log" in ours
    assert len(ours) == 4
    # each failed job's report, from its first line to Snakemake's "log: ... (check log file(s)"
    # line: our two lines and Snakemake's error block (before: 61 lines, two tracebacks)
    lines = out.splitlines()
    for rule in ("rdata_to_parquet", "make_folds"):
        start = lines.index(next(line for line in ours if line.startswith(f"polface: {rule}:")))
        end = next(i for i in range(start, len(lines)) if "(check log file(s)" in lines[i])
        assert end - start + 1 <= 12, "\n".join(lines[start : end + 1])
    for log, error in (
        ("rdata_to_parquet/bad.log", "RDataError"),
        ("make_folds/demo.log", "InputError"),
    ):
        text = (workdir / "results/logs" / log).read_text()
        assert "Traceback (most recent call last)" in text and error in text, text
    assert not (workdir / "results/demo/folds.parquet").exists()


def test_a_key_given_twice_is_named_at_parse_time(workdir):
    config = workdir / "config/twice.yaml"
    config.write_text("folds:\n  outer: 3\n  inner: 4\n  outer: 4\n")
    result = snakemake(workdir, "-n", "--configfile", "config/twice.yaml")
    assert result.returncode != 0
    lines = result.stdout.splitlines()
    assert "Traceback" not in result.stdout
    assert "the polface configuration is not valid:" in lines
    assert f"  - folds.outer: given twice in {config} (lines 2 and 4); a key may appear once" in (
        lines
    )
    assert len(lines) <= 8, result.stdout

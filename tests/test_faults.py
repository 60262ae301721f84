"""Faults: a job killed with SIGKILL in the middle of each long rule, and a disk that fills.

Each kill test runs the real workflow on a small cohort: an uninterrupted run gives the reference
bytes; then the rule's outputs are removed, the rule is started again under snakemake and the
whole process group is killed with SIGKILL while the job is mid-way (a temporary output is being
written, or the log shows it half done); no output may look complete unless it is complete, and
the rerun must give the reference bytes and leave no temporary file behind.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from polface.config import validate_config
from polface.data.simulate import plan_cohort, write_cohort
from workflow_utils import SNAKEMAKE, copy_project, snakemake, snakemake_env, write_config

pytestmark = pytest.mark.workflow

COHORT = {
    "cohorts": {"demo": {"simulate": {"n_rows": 2000, "n_features": 256, "seed": 11}}},
    "run_cohorts": ["demo"],
    "convert": {"block_rows": 100, "simulate_block_mb": 0.01},  # 64-column blocks
    "folds": {"outer": 2, "inner": 3},
    "lasso": {"nlambda": 20},
}
OUTPUTS = {
    "simulate_cohort": ["osf/faces.RData", "osf/vgg.RData", "osf/truth.parquet"],
    "rdata_to_parquet": ["features.parquet", "faces.parquet", "faces_columns.csv"],
    "fit_lasso": [
        "lasso/pol_dat_us/predictions.parquet",
        "lasso/pol_dat_us/models.npz",
        "lasso/pol_dat_us/summary.json",
    ],
    # one job per outer fold (folds.outer = 2), gathered by fit_lasso
    "fit_lasso_fold": [
        f"lasso/pol_dat_us/folds/{k}/{leaf}"
        for k in (1, 2)
        for leaf in ("model.npz", "predictions.parquet")
    ],
}


def temporaries(folder: Path) -> list[Path]:
    """Files written under a temporary name (polface.io.atomic_output) in `folder`."""
    return sorted(p for p in folder.glob(".*.tmp*") if p.is_file())


def kill_mid_job(workdir: Path, targets: list[str], trigger: Callable[[], bool]) -> str:
    """Start snakemake for `targets` (and options); SIGKILL its whole process group once
    `trigger()` holds."""
    log = workdir / "killed.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [SNAKEMAKE, "--cores", "2", "--nolock", *targets],  # no lock left to remove
            cwd=workdir,
            env=snakemake_env(workdir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            if trigger():
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        process.wait()
    text = log.read_text()
    assert process.returncode == -signal.SIGKILL, f"not killed mid-job:\n{text[-3000:]}"
    return text


def rerun(workdir: Path, targets: list[str]) -> None:
    """Run `targets` again (the default profile's rerun-incomplete redoes the killed job)."""
    result = snakemake(workdir, "--cores", "2", *targets)
    assert result.returncode == 0, result.stdout[-5000:]


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """One uninterrupted run up to the US dating sample's LASSO; the bytes of every output."""
    workdir = copy_project(tmp_path_factory.mktemp("faults"))
    write_config(workdir, "config.yaml", COHORT)  # replaces the default config of the copy
    target = [f"results/demo/{name}" for name in OUTPUTS["fit_lasso"]]
    result = snakemake(workdir, "--cores", "2", *target)
    assert result.returncode == 0, result.stdout[-5000:]
    reference = {
        name: (workdir / "results/demo" / name).read_bytes()
        for names in OUTPUTS.values()
        for name in names
    }
    return workdir, reference


def _temporary_of(folder: Path, name: str) -> Callable[[], bool]:
    def seen() -> bool:
        return any(p.stat().st_size > 0 for p in folder.glob(f".{name}.*.tmp*") if p.exists())

    return seen


def _log_says(path: Path, pattern: str) -> Callable[[], bool]:
    def seen() -> bool:
        return path.is_file() and re.search(pattern, path.read_text(errors="replace")) is not None

    return seen


@pytest.mark.parametrize("rule", ["simulate_cohort", "rdata_to_parquet"])
def test_a_killed_job_leaves_nothing_complete_and_the_rerun_is_identical(cohort_run, rule):
    workdir, reference = cohort_run
    base = workdir / "results/demo"
    names = OUTPUTS[rule]
    for name in names:
        (base / name).unlink()
    trigger = {
        "simulate_cohort": _temporary_of(base / "osf", "vgg.RData"),
        "rdata_to_parquet": _temporary_of(base, "features.parquet"),
    }[rule]
    targets = [f"results/demo/{name}" for name in names]
    kill_mid_job(workdir, targets, trigger)
    present = [name for name in names if (base / name).exists()]
    assert len(present) < len(names), f"{rule} finished before it was killed"
    for name in present:  # an output that exists is complete: written whole, then renamed
        assert (base / name).read_bytes() == reference[name], name
    rerun(workdir, targets)
    for name in names:
        assert (base / name).read_bytes() == reference[name], name
    for folder in {(base / name).parent for name in names}:
        assert temporaries(folder) == [], f"temporary files left in {folder}"


def test_a_killed_fold_job_loses_only_its_fold(cohort_run):
    """The US dating LASSO from scratch, its two outer folds one job each (one at a time on two
    cores: the test gives each both, where a fold this small asks for one thread and the two
    would run side by side): SIGKILL while the second fold fits. The rerun fits that fold alone
    (the finished fold's files are not rewritten) and gives the reference bytes."""
    workdir, reference = cohort_run
    base = workdir / "results/demo"
    names = OUTPUTS["fit_lasso"] + OUTPUTS["fit_lasso_fold"]
    for name in names:
        (base / name).unlink()
    logs = workdir / "results/logs/fit_lasso_fold/demo/pol_dat_us"
    for log in logs.glob("*.log"):
        log.unlink()
    folds = base / "lasso/pol_dat_us/folds"

    def one_done_other_fitting() -> bool:
        done = [k for k in (1, 2) if (folds / f"{k}/predictions.parquet").exists()]
        if len(done) != 1:
            return False
        other = logs / f"{3 - done[0]}.log"
        return other.is_file() and "on host" in other.read_text(errors="replace")

    targets = [f"results/demo/{name}" for name in OUTPUTS["fit_lasso"]]
    kill_mid_job(workdir, [*targets, "--set-threads", "fit_lasso_fold=2"], one_done_other_fitting)
    done = next(k for k in (1, 2) if (folds / f"{k}/predictions.parquet").exists())
    killed = 3 - done
    kept = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (folds / str(done)).iterdir()}
    assert not (folds / f"{killed}/predictions.parquet").exists()
    assert not (base / OUTPUTS["fit_lasso"][0]).exists()
    result = snakemake(workdir, "--cores", "2", *targets)
    assert result.returncode == 0, result.stdout[-5000:]
    fitted = re.findall(r"rule fit_lasso_fold:.*?wildcards: [^\n]*fold=(\d+)", result.stdout, re.S)
    assert fitted == [str(killed)], fitted
    for path, stamp in kept.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp, f"{path} was rewritten"
    for name in names:
        assert (base / name).read_bytes() == reference[name], name
    for folder in {(base / name).parent for name in names}:
        assert temporaries(folder) == [], f"temporary files left in {folder}"


def test_a_killed_embedding_job_leaves_nothing_and_the_rerun_is_identical(omi_dir, tmp_path):
    workdir = copy_project(tmp_path / "images")
    n = 8
    config = {
        "run_cohorts": [],
        "image_sets": {
            "omi": {"omi": {"path": str(omi_dir)}, "limit": n, "embed": {"batch_size": 2}}
        },
    }
    write_config(workdir, "images.yaml", config)
    output = workdir / "results/images/omi/embeddings_dlib.parquet"
    targets = [str(output.relative_to(workdir)), "--configfile", "config/images.yaml"]
    result = snakemake(workdir, "--cores", "2", *targets)
    assert result.returncode == 0, result.stdout[-5000:]
    reference = output.read_bytes()
    output.unlink()
    log = workdir / "results/logs/embed_faces/omi/dlib.log"
    log.unlink()
    kill_mid_job(workdir, targets, _log_says(log, rf"\| *[2-6]/{n} "))
    assert not output.exists()
    rerun(workdir, targets)
    assert output.read_bytes() == reference
    assert temporaries(output.parent) == []


# --- a disk that fills during the conversion -------------------------------------------------


def _small_cohort(folder: Path) -> None:
    config = {"cohorts": {"c": {"simulate": {"n_rows": 2000, "n_features": 256}}}}
    validate_config(config, Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml")
    plan = plan_cohort(config["cohorts"]["c"]["simulate"], block_mb=None)
    write_cohort(
        plan,
        faces=folder / "faces.RData",
        features=folder / "vgg.RData",
        truth=folder / "truth.parquet",
    )


CONVERT = """
import sys
from polface.data.convert import convert_cohort
src, out = sys.argv[1], sys.argv[2]
convert_cohort(faces_rdata=src + "/faces.RData", features_rdata=src + "/vgg.RData",
    faces_object="d", features_object="vgg", id_column="userid", block_rows=100,
    precision="float64", faces_parquet=out + "/faces.parquet",
    features_parquet=out + "/features.parquet", columns_csv=out + "/faces_columns.csv")
"""


def test_a_disk_too_small_for_the_conversion_is_a_clear_error_before_writing(tmp_path):
    """A real 3 MB tmpfs (root only): the 2,000 x 256 doubles need 8.2 MB (spool + parquet)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    _small_cohort(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN)")
    try:
        run = subprocess.run(
            [sys.executable, "-c", CONVERT, str(tmp_path), str(disk)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "scripts")},
            capture_output=True,
            text=True,
        )
        assert run.returncode == 1
        message = run.stderr.strip().splitlines()[-1]
        assert f"{disk}/features.parquet: converting {tmp_path}/vgg.RData needs" in message
        assert "needs about 8.2 MB free in" in message and "but 3.1 MB are free" in message
        assert "nothing was written" in message
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_disk_that_fills_mid_conversion_is_a_clear_error_and_leaves_nothing(tmp_path):
    """The file size limit (RLIMIT_FSIZE, 2 MB) stops the spool mid-way with EFBIG."""
    _small_cohort(tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 2**20, 2 * 2**20))

    run = subprocess.run(
        [sys.executable, "-c", CONVERT, str(tmp_path), str(out)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "scripts")},
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert run.returncode == 1, run.stderr[-3000:]
    message = run.stderr.strip().splitlines()[-1]
    assert message.startswith("OSError: [Errno 27]"), message
    assert f"{out}/features.parquet: the disk filled while converting {tmp_path}/vgg.RData" in (
        message
    )
    assert "File too large" in message and "partial outputs were removed" in message
    assert list(out.iterdir()) == []


# --- a disk that is full when a writer outside the conversion writes --------------------------


def _fill(folder: Path) -> None:
    """Write to a file in `folder` until its file system is full (the filler stays)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC, error
    finally:
        os.close(fd)


def test_a_full_disk_under_a_model_is_one_line_naming_the_output(cohort_run):
    """An outer fold's LASSO of another sample, its output folder on a full tmpfs (root only):
    the terminal says which output could not be written and how much is free, in one line,
    without a traceback; the log (on another disk) holds the traceback; nothing is left; the
    rerun on a disk with room is clean."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    workdir, _ = cohort_run
    folder = workdir / "results/demo/lasso/pol_fb_us"
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]).returncode:
        pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN)")
    target = "results/demo/lasso/pol_fb_us/folds/1/model.npz"
    try:
        _fill(folder)
        result = snakemake(workdir, "--cores", "2", target)
        assert result.returncode != 0
        assert "Traceback" not in result.stdout, result.stdout[-5000:]
        ours = [line for line in result.stdout.splitlines() if line.startswith("polface:")]
        assert len(ours) == 2, result.stdout[-5000:]
        assert ours[0].startswith(
            f"polface: fit_lasso_fold: {target}: cannot write the output, the disk is full"
            " (No space left on device); "
        ), ours[0]
        assert "0 bytes are free in results/demo/lasso/pol_fb_us/folds/1; nothing was" in ours[0]
        log = "results/logs/fit_lasso_fold/demo/pol_fb_us/1.log"
        assert ours[1] == f"polface: fit_lasso_fold: the traceback is in {log}"
        assert "DiskFullError" in (workdir / log).read_text()
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        assert files == ["filler"]
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    rerun(workdir, [target])
    assert temporaries(folder / "folds/1") == [] and (workdir / target).is_file()

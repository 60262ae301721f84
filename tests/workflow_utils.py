"""Helpers for tests that run the real workflow with snakemake in a scratch copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


#: The default workflow at a small size (every rule; three outer and three inner folds, a narrow
#: MLP): tests/test_workflow.py and the SLURM runs of tests/test_slurm.py. The default cohort
#: takes many minutes per run on two cores.
SMALL = {
    "cohorts": {"demo": {"simulate": {"n_rows": 400, "n_features": 64, "seed": 7}}},
    "folds": {"outer": 3, "inner": 3},
    "mlp": {"hidden": 32, "max_epochs": 3, "patience": 2},
    "baselines": {"permutations": 50},
}


def copy_project(dest: Path) -> Path:
    """Copy what the workflow needs (workflow/, scripts/, config/, environment.yml) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    for part in ("workflow", "scripts", "config"):
        shutil.copytree(REPO / part, dest / part, ignore=ignore, dirs_exist_ok=True)
    shutil.copy2(REPO / "environment.yml", dest / "environment.yml")
    return dest


def quick_khan_study(release: Path) -> dict:
    """config/khan2022.yaml on `release`, E2's re-pairings and E3's nested CV cut to seconds."""
    study = yaml.safe_load((REPO / "config/khan2022.yaml").read_text())
    study["khan2022"]["release"] = str(Path(release).resolve())
    study["khan2022"]["retest"] = {"permutations": 50}
    study["khan2022"]["before_after"] = {
        "outer_folds": 3,
        "inner_folds": 2,
        "C": [0.001],
        "bootstrap": 50,
        "permutations": 1,
    }
    return study


def write_config(workdir: Path, name: str, config: dict) -> Path:
    path = workdir / "config" / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_env(workdir: Path) -> dict[str, str]:
    """The environment of a snakemake run in `workdir`."""
    # The jobs import polface from the copy under test, not from wherever the venv installed it.
    path = os.pathsep.join(filter(None, [str(workdir / "scripts"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run snakemake in `workdir`; return the finished process (output in .stdout)."""
    return subprocess.run(
        [SNAKEMAKE, *args],
        cwd=workdir,
        env=snakemake_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} (empty when nothing is to be done)."""
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return {}
    jobs = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def build(workdir: Path, *args: str, timeout: int = 900) -> None:
    """Run snakemake in `workdir` with `args` (targets before --configfile), then check that a dry
    run with the same arguments has nothing left to do."""
    done = snakemake(workdir, *args, timeout=timeout)
    assert done.returncode == 0, done.stdout[-4000:]
    again = snakemake(workdir, *args, "-n")
    assert again.returncode == 0 and planned_jobs(again.stdout) == {}, again.stdout[-2000:]

"""The SLURM profile, checked on its own and run on a real single-node SLURM.

The tests marked `slurm` need root: they install Debian's SLURM and munge when missing, start a
cluster in a temporary directory (tests/slurm_cluster.py) and stop it at the end of the session,
also when a test fails. They skip, saying why, where that is not possible.

Every snakemake run is bounded with `timeout -k`: while it waits for SLURM jobs Snakemake ignores
SIGTERM, so only the SIGKILL that follows ends it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from slurm_cluster import SlurmCluster, SlurmUnavailable, ensure_installed

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"

# a tiny two-rule workflow with the real rule names, for checks that need no real workflow
TINY_SNAKEFILE = """\
rule all:
    input:
        expand("results/{i}/folds.txt", i=range(2)),


rule simulate_cohort:
    output:
        "results/{i}/cohort.txt",
    log:
        "results/logs/simulate_cohort/{i}.log",
    shell:
        "echo SLURM_JOB_ID=$SLURM_JOB_ID > {log}; echo {wildcards.i} > {output}.part; "
        "sleep {config[sleep]}; mv {output}.part {output}"


rule make_folds:
    input:
        "results/{i}/cohort.txt",
    output:
        "results/{i}/folds.txt",
    log:
        "results/logs/make_folds/{i}.log",
    shell:
        "echo SLURM_JOB_ID=$SLURM_JOB_ID > {log}; cat {input} {input} > {output}"
"""


def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


# ---------------------------------------------------------------- the profile, without a cluster


def test_profile_options_exist():
    """Every key is an option of this snakemake and its SLURM plugin (a typo would be an error)."""
    from snakemake.cli import get_argument_parser
    from snakemake_executor_plugin_slurm import ExecutorSettings

    options = {s for action in get_argument_parser()._actions for s in action.option_strings}
    unknown = [key for key in profile() if f"--{key}" not in options]
    assert not unknown, f"not snakemake options: {unknown}"
    fields = {f.name for f in dataclasses.fields(ExecutorSettings)}
    plugin_keys = [key for key in profile() if key.startswith("slurm-")]
    assert plugin_keys
    for key in plugin_keys:
        assert key.removeprefix("slurm-").replace("-", "_") in fields, key


def test_profile_settings_that_matter():
    """The settings without which runs hang, go to the wrong account, or lose jobs."""
    conf = profile()
    assert conf["executor"] == "slurm"
    # without slurmdbd, sacct knows no job: the default status command would wait forever
    assert conf["slurm-status-command"] == "squeue"
    # the plugin falls back to sacct unless MinJobAge >= 3 x this (MinJobAge defaults to 300 s)
    assert 1 <= conf["slurm-init-seconds-before-status-checks"] <= 100
    assert conf["retries"] >= 1
    assert not any("account" in str(key) for key in conf.get("default-resources", []))
    for rule, resources in conf["set-resources"].items():
        assert "runtime" in resources and "mem_mb" in resources, rule
        assert "slurm_account" not in resources, rule
    for rule in ("embed_faces", "fit_mlp", "explain_lime"):
        assert conf["set-resources"][rule].get("gpu") == 1, rule


# ---------------------------------------------------------------- a real SLURM


@pytest.fixture(scope="session")
def slurm():
    """A running single-node SLURM, stopped (every daemon, by its pid file) at the end."""
    if os.geteuid() != 0:
        pytest.skip("a real SLURM needs root")
    # not under pytest's 0700 basetemp: munged (user munge) must reach its socket directory
    root = Path(tempfile.mkdtemp(prefix="polface-slurm-"))
    cluster = SlurmCluster(root)
    try:
        try:
            ensure_installed()
            cluster.start()
        except SlurmUnavailable as err:
            pytest.skip(f"cannot run a real SLURM here: {err}")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclasses.dataclass
class Run:
    """A finished snakemake run: its exit status, its output and its working directory."""

    returncode: int
    output: str
    workdir: Path
    seconds: float

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def start_snakemake(workdir: Path, args: list[str], env: dict[str, str], timeout: int):
    """Start `snakemake` in `workdir`, bounded by `timeout -k 30` (it ignores SIGTERM)."""
    cmd = ["timeout", "-k", "30", str(timeout), sys.executable, "-m", "snakemake",
           "--directory", str(workdir), *args]
    log = open(workdir / "snakemake.out", "w")  # noqa: SIM115 - closed by finish_snakemake
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    proc.log = log  # type: ignore[attr-defined]
    proc.started = time.monotonic()  # type: ignore[attr-defined]
    return proc


def finish_snakemake(proc, workdir: Path) -> Run:
    try:
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.log.close()
    seconds = time.monotonic() - proc.started
    return Run(proc.returncode, (workdir / "snakemake.out").read_text(), workdir, seconds)


def snakemake(workdir: Path, args: list[str], env: dict[str, str], timeout: int) -> Run:
    return finish_snakemake(start_snakemake(workdir, args, env, timeout), workdir)


def slurm_args(cluster: SlurmCluster) -> list[str]:
    """Run through the profile; cap threads at this node's CPUs (the profile asks for more)."""
    return ["--profile", str(PROFILE), "--workflow-profile", "none",
            "--max-threads", cluster.hardware["CPUs"]]


SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.")
RULE_JOB = re.compile(r"^(local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", re.M)


def slurm_jobs(run: Run) -> dict[str, list[tuple[str, Path]]]:
    """Snakemake job id -> [(SLURM job id, SLURM log)] for every submission, retries included."""
    jobs: dict[str, list[tuple[str, Path]]] = {}
    for job, slurm_id, log in SUBMITTED.findall(run.output):
        jobs.setdefault(job, []).append((slurm_id, Path(log)))
    return jobs


def snakemake_jobs(run: Run) -> dict[str, tuple[str, bool]]:
    """Snakemake job id -> (rule name, whether it is a local rule) for every job the run started."""
    return {jobid: (rule, bool(local)) for local, rule, jobid in RULE_JOB.findall(run.output)}


def check_ran_under_slurm(run: Run, cluster: SlurmCluster) -> set[str]:
    """Every job but the local rules' went to SLURM, ended there, and logged its SLURM job id.

    Returns the rules that ran under SLURM.
    """
    jobs = snakemake_jobs(run)
    submitted = slurm_jobs(run)
    assert jobs, run.tail()
    completed = cluster.completed_job_ids()
    local_rules = {rule for rule, local in jobs.values() if local}
    for jobid, (rule, local) in jobs.items():
        if local:
            assert jobid not in submitted, f"local rule {rule} went to SLURM"
            continue
        assert jobid in submitted, f"job {jobid} ({rule}) was not submitted to SLURM"
        slurm_id, slurm_log = submitted[jobid][-1]
        # slurmctld's own log: the job ran and ended
        assert slurm_id in completed, f"slurmctld did not complete SLURM job {slurm_id} ({rule})"
        # the log that slurmd wrote for the job (sbatch --output) shows this rule running
        assert slurm_log.is_file(), slurm_log
        assert f"rule {rule}:" in slurm_log.read_text(), slurm_log
    # the rule's own log names the SLURM job it ran in
    logs = run.workdir / "results" / "logs"
    for rule_log in logs.rglob("*.log"):
        rule = rule_log.relative_to(logs).parts[0]
        if rule in local_rules or rule == "slurm":
            continue
        ids = re.findall(r"SLURM_JOB_ID=(\d+)", rule_log.read_text())
        assert ids, f"{rule_log} records no SLURM job id"
        assert ids[-1] in completed, f"{rule_log}: SLURM job {ids[-1]} unknown to slurmctld"
    return {rule for rule, local in jobs.values() if not local}


def copy_tiny_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True)
    (dest / "Snakefile").write_text(TINY_SNAKEFILE)
    return dest


@pytest.mark.slurm
def test_tiny_workflow_runs_on_slurm(slurm, tmp_path):
    """The profile's plugin options and status checks work against a real slurmctld."""
    work = copy_tiny_workflow(tmp_path / "tiny")
    run = snakemake(work, [*slurm_args(slurm), "--config", "sleep=1"], slurm.env(), timeout=600)
    assert run.returncode == 0, run.tail()
    assert check_ran_under_slurm(run, slurm) == {"simulate_cohort", "make_folds"}
    for i in range(2):
        assert (work / f"results/{i}/folds.txt").read_text() == f"{i}\n{i}\n"
    print(f"tiny workflow on SLURM: {run.seconds:.0f} s")


def cancel_one_running(cluster: SlurmCluster, rule: str, proc, ready, timeout: float = 300) -> str:
    """Wait until a job of `rule` runs under SLURM and `ready()` holds, then scancel it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for slurm_id, name, state, comment in cluster.squeue():
            if name.startswith("polface_") and state == "RUNNING" and (
                comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_")
            ) and ready():
                subprocess.run(["scancel", slurm_id], env=cluster.env(), check=True)
                return slurm_id
        time.sleep(0.2)
    pytest.fail(f"no job of rule {rule} was seen running under SLURM")


def check_retried(run: Run, cancelled: str) -> None:
    """The cancelled SLURM job failed the Snakemake job, which was then submitted again."""
    retried = [job for job, subs in slurm_jobs(run).items() if cancelled in [s for s, _ in subs]]
    assert retried, f"SLURM job {cancelled} is not in the run's log"
    submissions = slurm_jobs(run)[retried[0]]
    assert [s for s, _ in submissions][0] == cancelled and len(submissions) >= 2, submissions
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in run.output
    assert f"Trying to restart job {retried[0]}." in run.output


@pytest.mark.slurm
def test_tiny_cancelled_job_is_retried(slurm, tmp_path):
    """scancel of a running job: Snakemake retries it and nothing partial is left behind."""
    work = copy_tiny_workflow(tmp_path / "tiny")
    proc = start_snakemake(work, [*slurm_args(slurm), "--config", "sleep=15"], slurm.env(), 600)
    cancelled = cancel_one_running(
        slurm, "simulate_cohort", proc,
        ready=lambda: any((work / "results").glob("*/cohort.txt.part")),
    )
    run = finish_snakemake(proc, work)
    assert run.returncode == 0, run.tail()
    check_retried(run, cancelled)
    assert check_ran_under_slurm(run, slurm) == {"simulate_cohort", "make_folds"}
    files = sorted(p.relative_to(work / "results").as_posix()
                   for p in (work / "results").glob("[0-9]/*"))
    assert files == ["0/cohort.txt", "0/folds.txt", "1/cohort.txt", "1/folds.txt"]
    print(f"tiny workflow with one job cancelled: {run.seconds:.0f} s")


# ---------------------------------------------------------------- the real workflow


def plain_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Run:
    """The default workflow run locally (`--cores 2`), to compare the SLURM runs with."""
    from workflow_utils import copy_project

    work = copy_project(tmp_path_factory.mktemp("local"))
    run = snakemake(work, ["--cores", "2"], plain_env(), timeout=1800)
    assert run.returncode == 0, run.tail()
    return run


def result_files(workdir: Path) -> dict[str, Path]:
    """Every result of a run by its path under results/, without logs and benchmarks."""
    results = workdir / "results"
    return {
        path.relative_to(results).as_posix(): path
        for path in results.rglob("*")
        if path.is_file() and path.relative_to(results).parts[0] not in ("logs", "benchmarks")
    }


def gunzipped(path: Path) -> bytes:
    """A file's bytes, decompressed when it is gzip (an RData file)."""
    import gzip

    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def comparable_metadata(table) -> dict:
    """A parquet file's key-value metadata, without the checksum of gzip-compressed inputs.

    The gzip header of an RData file holds its write time (and name), so two runs that write the
    same data write different bytes and `source_sha256` differs. The data themselves are compared.
    """
    import json

    meta = dict(table.schema.metadata or {})
    if b"polface" in meta:
        polface = json.loads(meta[b"polface"])
        if str(polface.get("source_file", "")).endswith(".RData"):
            polface.pop("source_sha256", None)
        meta[b"polface"] = polface
    return meta


def check_same_results(run: Run, reference: Run) -> None:
    """The same files, each with the same content: parquet tables and their metadata, RData
    decompressed, the rest byte for byte."""
    import pyarrow.parquet as pq

    ours, theirs = result_files(run.workdir), result_files(reference.workdir)
    # a file only here would be a leftover: a partial output or a temporary name
    assert sorted(ours) == sorted(theirs)
    for name, path in ours.items():
        if name.endswith(".parquet"):
            a, b = pq.read_table(path), pq.read_table(theirs[name])
            assert a.equals(b), f"{name}: the table differs from the local run's"
            assert comparable_metadata(a) == comparable_metadata(b), f"{name}: metadata differs"
        else:
            assert gunzipped(path) == gunzipped(theirs[name]), f"{name} differs"


def slowest_rule(run: Run) -> str:
    """The rule whose job took longest in a run (from its benchmark files)."""
    times = {}
    for tsv in (run.workdir / "results" / "benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(run.workdir / "results" / "benchmarks").parts[0]
        seconds = float(tsv.read_text().splitlines()[1].split("\t")[0])
        times[rule] = max(times.get(rule, 0.0), seconds)
    return max(times, key=times.get)


@pytest.mark.slurm
def test_workflow_on_slurm_matches_local_run(slurm, local_run, tmp_path):
    """The default workflow through the profile: every job under SLURM, results as a local run."""
    from workflow_utils import copy_project

    work = copy_project(tmp_path / "slurm")
    run = snakemake(work, slurm_args(slurm), slurm.env(plain_env()), timeout=1800)
    assert run.returncode == 0, run.tail()
    on_slurm = check_ran_under_slurm(run, slurm)
    assert "simulate_cohort" in on_slurm and "rdata_to_parquet" in on_slurm, on_slurm
    check_same_results(run, local_run)
    print(f"default workflow on SLURM: {run.seconds:.0f} s ({len(slurm_jobs(run))} SLURM jobs; "
          f"locally {local_run.seconds:.0f} s)")


@pytest.mark.slurm
def test_cancelled_job_is_retried_with_correct_results(slurm, local_run, tmp_path):
    """scancel of the slowest job while its rule runs: retried, same results, nothing partial."""
    from workflow_utils import copy_project

    rule = slowest_rule(local_run)
    work = copy_project(tmp_path / "slurm")
    proc = start_snakemake(work, slurm_args(slurm), slurm.env(plain_env()), timeout=1800)

    def rule_started() -> bool:
        # the rule's script has begun (its log names the host) and not yet finished
        for log in (work / "results" / "logs" / rule).rglob("*.log"):
            text = log.read_text()
            if "on host" in text and "finished" not in text:
                return True
        return False

    cancelled = cancel_one_running(slurm, rule, proc, ready=rule_started)
    run = finish_snakemake(proc, work)
    assert run.returncode == 0, run.tail()
    check_retried(run, cancelled)
    check_ran_under_slurm(run, slurm)
    check_same_results(run, local_run)
    print(f"default workflow on SLURM with a {rule} job cancelled: {run.seconds:.0f} s")

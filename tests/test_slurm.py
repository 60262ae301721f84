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
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from slurm_cluster import SlurmCluster, SlurmUnavailable, ensure_installed

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"


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


#: Rules whose memory the workflow computes from the config or the fold sizes (the profile sets
#: none for them).
RULE_MEMORY = {"simulate_cohort", "fit_lasso_fold", "fit_mlp_fold", "fit_interpretable_fold"}
#: Rules whose wall time the workflow computes from the fold sizes and their threads
#: (fitters.fit_runtime_min; the profile sets none for them).
RULE_RUNTIME = {"fit_lasso_fold", "fit_mlp_fold", "fit_interpretable_fold"}


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
        # a rule that computes its wall time from the work keeps it (a flat number in the
        # profile was too short for an MLP fold of many epochs, too long for a small LASSO fold)
        assert ("runtime" in resources) != (rule in RULE_RUNTIME), rule
        # a rule that computes its memory from the config keeps it (the profile cannot read it)
        assert ("mem_mb" in resources) != (rule in RULE_MEMORY), rule
        assert "slurm_account" not in resources, rule
    for rule in ("embed_faces", "fit_mlp_fold", "explain_lime"):
        assert conf["set-resources"][rule].get("gpu") == 1, rule


# rules the brief names that the workflow does not have yet (the image stage): the profile
# already gives them a GPU; drop a name here when its rule lands
PLANNED_RULES: set[str] = set()


def test_profile_covers_the_workflow_rules(tmp_path):
    """Every rule has wall time, memory and threads in the profile, or (the fold jobs) computes
    them; no name there is a typo. Every rule's threads are set, the MLP's fold jobs' too: their
    bits do not depend on the threads (tests/test_mlp_threads.py)."""
    from workflow_utils import copy_project

    work = copy_project(tmp_path / "work")
    listed = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--workflow-profile", "none"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        env=plain_env(),
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rules = set(listed.stdout.split()) - {"all"}
    conf = profile()
    named = set(conf["set-resources"]) | set(conf["set-threads"]) | set(conf["groups"])
    assert named - rules <= PLANNED_RULES, f"not rules of the workflow: {named - rules}"
    # the rules that compute both their memory and their wall time need no entry
    computed = RULE_MEMORY & RULE_RUNTIME
    assert rules - computed <= set(conf["set-resources"]), rules - set(conf["set-resources"])
    assert RULE_RUNTIME <= rules
    assert rules <= set(conf["set-threads"]), rules - set(conf["set-threads"])
    assert set(conf["group-components"]) <= set(conf["groups"].values())


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
    cmd = [
        "timeout",
        "-k",
        "30",
        str(timeout),
        sys.executable,
        "-m",
        "snakemake",
        "--directory",
        str(workdir),
        *args,
    ]
    log = open(workdir / "snakemake.out", "w")  # noqa: SIM115 - closed by finish_snakemake
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
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
    """Run through the profile, with `cores` (the most threads of a job or a group job) lowered
    from the profile's 8 to this node's CPUs, or SLURM would keep bigger jobs pending forever."""
    return [
        "--profile",
        str(PROFILE),
        "--workflow-profile",
        "none",
        "--cores",
        cluster.hardware["CPUs"],
    ]


# a job as Snakemake prints it: "rule x:" (or "localrule x:"), then indented fields; jobs of a
# group job are printed the same way, indented once more, after "Group job <name> ...:"
JOB_BLOCK = re.compile(r"^( *)(local)?rule (\w+):\n((?:\1    .*\n)+)", re.M)
SUBMITTED = re.compile(r"Job ([\w-]+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.")


@dataclasses.dataclass
class Job:
    rule: str
    local: bool
    grouped: bool
    fields: dict[str, str]

    @property
    def log(self) -> Path | None:
        """The rule's own log (Snakemake adds the SLURM log after it when the job fails)."""
        log = self.fields.get("log", "").split(",")[0].split(" (")[0].strip()
        return Path(log) if log else None

    @property
    def outputs(self) -> list[str]:
        return [path.strip() for path in self.fields.get("output", "").split(",") if path.strip()]


def snakemake_jobs(run: Run) -> dict[str, Job]:
    """Snakemake job id -> the job, for every job that the run started (the last try of each)."""
    jobs = {}
    for indent, local, rule, body in JOB_BLOCK.findall(run.output):
        fields = dict(line.strip().split(": ", 1) for line in body.splitlines() if ": " in line)
        jobs[fields["jobid"]] = Job(rule, bool(local), bool(indent), fields)
    return jobs


def slurm_jobs(run: Run) -> dict[str, list[tuple[str, Path]]]:
    """Snakemake job id (a uuid for a group job) -> [(SLURM job id, SLURM log)], tries in order."""
    jobs: dict[str, list[tuple[str, Path]]] = {}
    for job, slurm_id, log in SUBMITTED.findall(run.output):
        jobs.setdefault(job, []).append((slurm_id, Path(log)))
    return jobs


def check_ran_under_slurm(run: Run, cluster: SlurmCluster) -> set[str]:
    """Every job but the local rules' ran in a SLURM job of this run, which slurmctld completed.

    The evidence for each job: its rule log records the SLURM_JOB_ID it ran under; that id is one
    that Snakemake got from sbatch in this run; slurmctld's log says the job completed; and the log
    that slurmd wrote for the job (sbatch --output) shows the rule running. Returns the rules that
    ran under SLURM.
    """
    jobs = snakemake_jobs(run)
    assert jobs, run.tail()
    submissions = slurm_jobs(run)
    slurm_logs = {slurm_id: log for tries in submissions.values() for slurm_id, log in tries}
    completed = cluster.completed_job_ids()
    for jobid, job in jobs.items():
        if job.local:
            assert jobid not in submissions, f"local rule {job.rule} went to SLURM"
            continue
        if not job.grouped:
            assert jobid in submissions, f"job {jobid} ({job.rule}) was not submitted to SLURM"
        assert job.log is not None, f"rule {job.rule} has no log"
        ids = re.findall(r"SLURM_JOB_ID=(\d+)", (run.workdir / job.log).read_text())
        assert ids, f"{job.log} records no SLURM job id"
        slurm_id = ids[-1]
        assert slurm_id in slurm_logs, f"{job.log}: SLURM job {slurm_id} is not of this run"
        if not job.grouped:
            assert slurm_id == submissions[jobid][-1][0], f"{job.log}: not the last try"
        assert slurm_id in completed, f"slurmctld did not complete SLURM job {slurm_id}"
        assert f"rule {job.rule}:" in slurm_logs[slurm_id].read_text(), slurm_logs[slurm_id]
    return {job.rule for job in jobs.values() if not job.local}


def cancel_one_running(cluster: SlurmCluster, rule: str, proc, ready, timeout: float = 300) -> str:
    """Wait until a job of `rule` runs under SLURM, then until `ready()` holds, and scancel it.

    squeue takes tenths of a second, so it only finds the SLURM job, which runs for seconds
    (Snakemake and Python start inside it) before its rule does; `ready()` is then asked every
    10 ms, because a rule at the tests' small size runs for about a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        running = [
            slurm_id
            for slurm_id, name, state, comment in cluster.squeue()
            if name.startswith("polface_")
            and state == "RUNNING"
            and (comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_"))
        ]
        while running and time.monotonic() < deadline and proc.poll() is None:
            if ready():
                subprocess.run(["scancel", running[0]], env=cluster.env(), check=True)
                return running[0]
            time.sleep(0.01)
        time.sleep(0.2)
    output = (Path(proc.args[proc.args.index("--directory") + 1]) / "snakemake.out").read_text()
    pytest.fail(
        f"no job of rule {rule} was seen running under SLURM; snakemake exited with "
        f"{proc.poll()}:\n" + "\n".join(output.splitlines()[-40:])
    )


def check_retried(run: Run, cancelled: str) -> None:
    """The cancelled SLURM job failed the Snakemake job, which was then submitted again."""
    retried = [job for job, subs in slurm_jobs(run).items() if cancelled in [s for s, _ in subs]]
    assert retried, f"SLURM job {cancelled} is not in the run's log"
    submissions = slurm_jobs(run)[retried[0]]
    assert [s for s, _ in submissions][0] == cancelled and len(submissions) >= 2, submissions
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in run.output
    assert f"Trying to restart job {retried[0]}." in run.output


# ---------------------------------------------------------------- the real workflow


def plain_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


# The default workflow at the small size of test_workflow.py (every rule; its three outer folds
# still give every sample and model several fold jobs, one of which is cancelled below).
SMALL_ARGS = ["--configfile", "config/slurm_test.yaml"]


def copy_workflow(dest: Path) -> Path:
    from workflow_utils import SMALL, copy_project, write_config

    work = copy_project(dest)
    write_config(work, "slurm_test.yaml", SMALL)
    return work


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Run:
    """The workflow run locally (`--cores 2`), to compare the SLURM runs with."""
    work = copy_workflow(tmp_path_factory.mktemp("local"))
    run = snakemake(work, ["--cores", "2", *SMALL_ARGS], plain_env(), timeout=1800)
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


def check_same_results(run: Run, reference: Run, only_ours: bool = False) -> None:
    """The same files with the same content: parquet tables with their metadata, the rest byte
    for byte. With `only_ours`, the run may have made a subset of the reference's files."""
    import pyarrow.parquet as pq

    ours, theirs = result_files(run.workdir), result_files(reference.workdir)
    # a file only here would be a leftover: a partial output or a temporary name
    assert not set(ours) - set(theirs), "files that the local run did not make"
    if not only_ours:
        assert sorted(ours) == sorted(theirs)
    for name, path in ours.items():
        if name.endswith(".parquet"):
            a, b = pq.read_table(path), pq.read_table(theirs[name])
            assert a.equals(b, check_metadata=True), f"{name} differs from the local run's"
        else:
            assert path.read_bytes() == theirs[name].read_bytes(), f"{name} differs"


#: The outer folds of SMALL (its folds.outer) and its samples.
OUTER_FOLDS = ["1", "2", "3"]
SAMPLES = ["pol_dat_ca", "pol_dat_uk", "pol_dat_us", "pol_fb_us"]


def job_wildcards(job: Job) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in job.fields.get("wildcards", "").split(", "))


def fold_jobs(run: Run, rule: str, by: str = "sample") -> dict[str, list[str]]:
    """{sample (or the wildcard `by`): its outer folds} of the jobs of a fold rule that ran in
    SLURM jobs of their own."""
    submitted = slurm_jobs(run)
    folds: dict[str, list[str]] = {}
    for jobid, job in snakemake_jobs(run).items():
        if job.rule == rule:
            assert jobid in submitted, f"{rule} job {jobid} was not a SLURM job of its own"
            wildcards = job_wildcards(job)
            folds.setdefault(wildcards[by], []).append(wildcards["fold"])
    return {key: sorted(found, key=int) for key, found in folds.items()}


#: How long the cancelled job's rule must have run in the local run: the watcher reads the rule's
#: log every 10 ms and must see it between its two lines.
MIN_SCRIPT_SECONDS = 0.3


def script_seconds(run: Run, job: Job) -> float:
    """How long a job's rule ran in its script: from its log's "on host" line to "finished" (the
    benchmark file also counts the interpreter's start and the imports, which the watcher cannot
    see: a torch job's seconds there are mostly importing torch, and loaded-machine noise)."""
    stamps = {}
    for line in (run.workdir / job.log).read_text().splitlines():
        for event in ("on host", "finished"):
            if f"polface: rule {job.rule} {event}" in line:
                stamps[event] = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    if len(stamps) < 2:  # a rule without polface's log lines (or one that failed)
        return 0.0
    return (stamps["finished"] - stamps["on host"]).total_seconds()


def slowest_job(run: Run) -> Job:
    """The job whose rule ran longest in a run, of the rules that the profile sends to SLURM as
    jobs of their own (a grouped rule's job runs inside its group's SLURM job, which carries the
    group's name). At the tests' small size that is about a second."""
    grouped = set(profile()["groups"])
    timed = [
        (script_seconds(run, job), job)
        for job in snakemake_jobs(run).values()
        if job.log and job.rule not in grouped
    ]
    seconds, slowest = max(timed, key=lambda pair: pair[0])
    assert seconds >= MIN_SCRIPT_SECONDS, (
        f"the longest rule ({slowest.rule}) ran {seconds:.1f} s, too short to be cancelled "
        "while it runs"
    )
    return slowest


@pytest.mark.slurm
def test_workflow_on_slurm_matches_local_run(slurm, local_run, tmp_path):
    """The default workflow through the profile: every job under SLURM, results as a local run."""
    work = copy_workflow(tmp_path / "slurm")
    run = snakemake(work, [*slurm_args(slurm), *SMALL_ARGS], slurm.env(plain_env()), 1800)
    assert run.returncode == 0, run.tail()
    on_slurm = check_ran_under_slurm(run, slurm)
    assert "simulate_cohort" in on_slurm and "rdata_to_parquet" in on_slurm, on_slurm
    check_same_results(run, local_run)
    # one SLURM job per (sample, outer fold) of each model, K = folds.outer (3 in SMALL)
    for rule in ("fit_lasso_fold", "fit_mlp_fold"):
        assert fold_jobs(run, rule) == {s: OUTER_FOLDS for s in SAMPLES}, rule
    # and one per outer fold for every interpretable feature set together
    assert fold_jobs(run, "fit_interpretable_fold", by="cohort") == {"demo": OUTER_FOLDS}
    print(
        f"default workflow on SLURM: {run.seconds:.0f} s ({len(slurm_jobs(run))} SLURM jobs; "
        f"locally {local_run.seconds:.0f} s)"
    )


@pytest.mark.slurm
def test_cancelled_job_is_retried_with_correct_results(slurm, local_run, tmp_path):
    """scancel the slowest job while its rule runs: it is retried, and the results equal the
    local run's with nothing partial left behind. The run makes only that job's outputs."""
    job = slowest_job(local_run)
    work = copy_workflow(tmp_path / "slurm")
    # the targets first: --configfile takes every argument that follows it
    args = [*job.outputs, *slurm_args(slurm), *SMALL_ARGS]
    proc = start_snakemake(work, args, slurm.env(plain_env()), timeout=1800)

    def rule_started() -> bool:
        # the rule's script has begun (its log names the host) and has not finished
        log = work / job.log
        text = log.read_text() if log.exists() else ""
        return "on host" in text and "finished" not in text

    cancelled = cancel_one_running(slurm, job.rule, proc, ready=rule_started)
    run = finish_snakemake(proc, work)
    assert run.returncode == 0, run.tail()
    check_retried(run, cancelled)
    assert job.rule in check_ran_under_slurm(run, slurm)
    check_same_results(run, local_run, only_ours=True)
    for output in job.outputs:
        assert (work / output).is_file(), output
    print(f"{job.rule} ({' '.join(job.outputs)}) on SLURM, cancelled once: {run.seconds:.0f} s")


@pytest.mark.slurm
def test_a_cancelled_fold_is_retried_alone(slurm, local_run, tmp_path):
    """One sample's LASSO: K fold jobs and the gather. scancel one fold job while it fits: that
    fold alone is submitted again, every other fold once, and the files equal the local run's."""
    work = copy_workflow(tmp_path / "slurm")
    target = "results/demo/lasso/pol_dat_us/predictions.parquet"
    args = [target, *slurm_args(slurm), *SMALL_ARGS]
    proc = start_snakemake(work, args, slurm.env(plain_env()), timeout=1800)

    def fitting() -> bool:
        logs = (work / "results/logs/fit_lasso_fold/demo/pol_dat_us").glob("*.log")
        return any("on host" in log.read_text() for log in logs)

    cancelled = cancel_one_running(slurm, "fit_lasso_fold", proc, ready=fitting)
    run = finish_snakemake(proc, work)
    assert run.returncode == 0, run.tail()
    check_retried(run, cancelled)
    jobs = snakemake_jobs(run)
    tries = {
        jobid: len(subs)
        for jobid, subs in slurm_jobs(run).items()
        if jobid in jobs and jobs[jobid].rule == "fit_lasso_fold"
    }
    assert sorted(tries.values()) == [1] * (len(OUTER_FOLDS) - 1) + [2], tries
    assert fold_jobs(run, "fit_lasso_fold") == {"pol_dat_us": OUTER_FOLDS}
    check_same_results(run, local_run, only_ours=True)

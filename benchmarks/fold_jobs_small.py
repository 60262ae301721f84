"""Time the small workflow run of tests/test_workflow.py for two checkouts, paired, on this machine.

Each run copies a checkout's workflow/, scripts/, config/ and environment.yml (no __pycache__,
so numba compiles its kernels afresh, as in the test) to benchmarks/out/fold_jobs_small/<n>/,
writes the test's small config (400 x 64, 3 outer folds) and runs ``snakemake --cores 2`` there.
The checkouts run in turn, A B A B ..., so a drift in the machine's load reaches both alike. For
each run it prints the wall seconds, the CPU seconds of snakemake and all its jobs (the children's
rusage, user + sys) and of snakemake's main process alone, the load average before and after,
the jobs run, and the sum of the jobs' own wall seconds from their benchmark files; at the end
the medians, the ratio B / A pair by pair, and whether every result file (results/, less logs
and benchmarks) has the same sha256 in every run. The environment passes to both (for example
OMP_WAIT_POLICY, which the workflow sets to PASSIVE where it is unset since issue 22).

    python benchmarks/fold_jobs_small.py /work/wt-before .           # 3 pairs
    python benchmarks/fold_jobs_small.py OLD NEW --repeats 5 --cores 2
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "fold_jobs_small"
#: snakemake's command line, run in this Python so that it prints its own CPU seconds at exit
#: (its main process: the DAG, the scheduler, each job's bookkeeping), apart from its jobs'.
SNAKEMAKE = """
import atexit, resource, sys
def own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"snakemake's own cpu: {usage.ru_utime + usage.ru_stime:.2f}", flush=True)
atexit.register(own_cpu)
sys.argv[0] = "snakemake"
from snakemake.cli import main
sys.exit(main())
"""
#: tests/test_workflow.py's SMALL config.
SMALL = {
    "cohorts": {"demo": {"simulate": {"n_rows": 400, "n_features": 64, "seed": 7}}},
    "folds": {"outer": 3, "inner": 3},
    "mlp": {"hidden": 32, "max_epochs": 3, "patience": 2},
    "baselines": {"permutations": 50},
}


def copy_checkout(tree: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    for part in ("workflow", "scripts", "config"):
        shutil.copytree(tree / part, dest / part, ignore=ignore)
    shutil.copy2(tree / "environment.yml", dest / "environment.yml")
    (dest / "config" / "small.yaml").write_text(yaml.safe_dump(SMALL, sort_keys=False))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def digests(results: Path) -> dict[str, str]:
    skip = {"logs", "benchmarks"}
    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(results.rglob("*"))
        if path.is_file() and not skip & set(path.relative_to(results).parts)
    }


def job_seconds(results: Path) -> tuple[int, float]:
    """The jobs that wrote a benchmark file, and the sum of their own wall seconds."""
    files = sorted((results / "benchmarks").rglob("*.tsv"))
    total = 0.0
    for path in files:
        with path.open() as handle:
            total += float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    return len(files), total


def run_once(tree: Path, dest: Path, cores: int) -> dict:
    copy_checkout(tree, dest)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(dest / "scripts")}
    load_before = os.getloadavg()[0]
    cpu0, wall0 = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SNAKEMAKE,
            "--cores",
            str(cores),
            "--configfile",
            "config/small.yaml",
        ],
        cwd=dest,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
    (dest / "snakemake.out").write_text(done.stdout)
    if done.returncode != 0:
        sys.exit(f"snakemake failed in {dest} (exit {done.returncode}): see {dest}/snakemake.out")
    jobs, seconds = job_seconds(dest / "results")
    own = [line for line in done.stdout.splitlines() if line.startswith("snakemake's own cpu: ")]
    return {
        "own": float(own[-1].split(": ")[1]) if own else float("nan"),
        "wall": wall,
        "cpu": cpu,
        "load": (load_before, os.getloadavg()[0]),
        "jobs": jobs,
        "job_s": seconds,
        "digests": digests(dest / "results"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="checkout A (e.g. a worktree of the old commit)")
    parser.add_argument("b", type=Path, help="checkout B")
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs (default 3)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    for repeat in range(args.repeats):
        for label, tree in (("A", args.a), ("B", args.b)):
            run = run_once(tree.resolve(), OUT / f"{label}{repeat}", args.cores)
            runs[label].append(run)
            print(
                f"{label} #{repeat + 1}: wall {run['wall']:6.1f} s  cpu {run['cpu']:6.1f} s "
                f"(snakemake itself {run['own']:4.1f})  "
                f"{run['jobs']} jobs, their own wall {run['job_s']:6.1f} s  "
                f"load {run['load'][0]:.2f} -> {run['load'][1]:.2f}",
                flush=True,
            )
    for label, tree in (("A", args.a), ("B", args.b)):
        wall = statistics.median(r["wall"] for r in runs[label])
        cpu = statistics.median(r["cpu"] for r in runs[label])
        print(f"{label} median: wall {wall:.1f} s, cpu {cpu:.1f} s  ({tree})")
    for key in ("wall", "cpu"):
        ratios = [b[key] / a[key] for a, b in zip(runs["A"], runs["B"], strict=True)]
        print(
            f"B / A {key}: median {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
        )
    # every file against the first run that wrote it (A has no fold files, B has them)
    reference: dict[str, str] = {}
    for run in runs["A"] + runs["B"]:
        for name, digest in run["digests"].items():
            reference.setdefault(name, digest)
    differing = sorted(
        {
            name
            for run in runs["A"] + runs["B"]
            for name, digest in run["digests"].items()
            if reference[name] != digest
        }
    )
    common = set(runs["A"][0]["digests"]) & set(runs["B"][0]["digests"])
    missing = sorted(common ^ set(runs["A"][0]["digests"]))
    print(
        f"sha256: {len(common)} result files written by both, {len(reference) - len(common)} by "
        f"one only (B's fold files); "
        + ("each the same in every run" if not differing else f"differing: {differing}")
        + (f"; written by A only: {missing}" if missing else "")
    )


if __name__ == "__main__":
    main()

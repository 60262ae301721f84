"""Project the 30 x 10 published study's LASSO onto N cores, one job per (sample, outer fold).

A list-scheduling simulation, not a measurement: the fold jobs of the four samples (30 each), each
with the CPU time and the declared memory of its sample's measured outer fold 1 at 1,085,795 x
2,048 (benchmarks/README.md, "The full run"; the memory from polface.models.fitters.fit_memory_mb,
as the rules declare it), are started longest first, whenever enough cores (the job's threads)
and memory (the machine's, less the reserve of polface.runtime) are free, as Snakemake's
scheduler would with `--cores N` and a global mem_mb. A job's wall time is its CPU time over its
threads, over the load balance of the lockstep's 11 problems on those threads and a parallel
efficiency (an assumption: see --efficiency).

    python benchmarks/fold_schedule.py                      # 2, 32 and 256 cores
    python benchmarks/fold_schedule.py --cores 32 --memory-gb 128 --threads 2 4 8
"""

from __future__ import annotations

import argparse
import heapq
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from polface.models.fitters import fit_memory_mb  # noqa: E402
from polface.runtime import RESERVED_MEMORY_FRACTION  # noqa: E402

#: Per sample: training rows of outer fold 1, the copy's itemsize, its CPU seconds (measured).
MEASURED = {
    "pol_dat_us": (833_963, 4, 4_055),
    "pol_fb_us": (104_407, 8, 661),
    "pol_dat_ca": (55_580, 8, 395),
    "pol_dat_uk": (55_651, 8, 432),
}
COHORT_ROWS = 1_085_795
HELD_OUT = 36_194
OUTER = 30


def fold_jobs(per_sample: bool = False) -> list[tuple[float, int, str]]:
    """(CPU seconds, mem_mb, sample) of every fold job; with `per_sample` one job per sample
    fitting its 30 folds in turn (the workflow before issue 22)."""
    jobs = []
    for sample, (rows, itemsize, cpu) in MEASURED.items():
        mem = fit_memory_mb(
            n_train=rows,
            n_predict=HELD_OUT,
            n_cols=2048,
            itemsize=itemsize,
            cohort_rows=COHORT_ROWS,
        )
        jobs += (
            [(float(cpu) * OUTER, mem, sample)]
            if per_sample
            else [(float(cpu), mem, sample)] * OUTER
        )
    return jobs


#: The problems a LASSO fold solves in lockstep: the full-data path and 10 inner folds.
PROBLEMS = 11


def lockstep_efficiency(threads: int, efficiency: float) -> float:
    """`efficiency` times the load balance of 11 equal problems on `threads` threads (each
    thread takes whole problems: 2 threads keep 11/12 of their time busy, 8 threads 11/16)."""
    rounds = -(-PROBLEMS // threads)
    return efficiency * PROBLEMS / (threads * rounds)


def simulate(
    cores: int, memory_mb: float, threads: int, efficiency: float, per_sample: bool = False
) -> dict[str, float]:
    """Longest job first on `cores` cores and `memory_mb` of memory: the makespan and use."""
    threads = min(threads, cores)
    jobs = sorted(fold_jobs(per_sample), key=lambda job: -job[0])
    if max(mem for _, mem, _ in jobs) > memory_mb:
        raise SystemExit(f"a fold job needs more than the {memory_mb:.0f} MB of the machine")
    now, free_cores, free_mem = 0.0, cores, memory_mb
    running: list[tuple[float, int, int]] = []  # (end, threads, mem)
    waiting = list(jobs)
    peak_jobs = 0
    while waiting or running:
        started = True
        while started:
            started = False
            for i, (cpu, mem, _) in enumerate(waiting):
                if threads <= free_cores and mem <= free_mem:
                    wall = cpu / (threads * lockstep_efficiency(threads, efficiency))
                    heapq.heappush(running, (now + wall, threads, mem))
                    free_cores -= threads
                    free_mem -= mem
                    del waiting[i]
                    started = True
                    break
        peak_jobs = max(peak_jobs, len(running))
        end, used, mem = heapq.heappop(running)
        now = end
        free_cores += used
        free_mem += mem
    cpu_total = sum(cpu for cpu, _, _ in jobs)
    return {
        "hours": now / 3600,
        "cpu_hours": cpu_total / 3600,
        "busy": cpu_total / (lockstep_efficiency(threads, efficiency) * now * cores),
        "most_at_once": peak_jobs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 32, 256])
    parser.add_argument(
        "--memory-gb",
        type=float,
        nargs="+",
        default=[24, 128, 2048],
        help="the machine's memory for each --cores (GB; the run gets 90 %% of it)",
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 8])
    parser.add_argument(
        "--efficiency",
        type=float,
        default=0.8,
        help="CPU seconds per busy thread-second of a fold job (assumed; memory bandwidth)",
    )
    args = parser.parse_args()
    if len(args.memory_gb) != len(args.cores):
        parser.error("give one --memory-gb per --cores")
    print(
        "| cores | memory | jobs | threads per job | study wall (h) | cores allocated"
        " | jobs at once |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|")
    for cores, memory_gb in zip(args.cores, args.memory_gb, strict=True):
        memory = memory_gb * 1000 * (1 - RESERVED_MEMORY_FRACTION)
        for per_sample in (True, False):
            for threads in sorted({min(t, cores) for t in args.threads}):
                r = simulate(cores, memory, threads, args.efficiency, per_sample)
                kind = "one per sample" if per_sample else "one per fold"
                print(
                    f"| {cores} | {memory_gb:g} GB | {kind} | {min(threads, cores)} |"
                    f" {r['hours']:.2f} | {r['busy']:.0%} | {r['most_at_once']} |"
                )
    print(f"\n{r['cpu_hours']:.1f} CPU-hours of LASSO folds; efficiency {args.efficiency}")


if __name__ == "__main__":
    main()

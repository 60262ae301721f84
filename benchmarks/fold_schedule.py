"""Project the 30 x 10 published study onto N cores, one job per (sample, outer fold).

A list-scheduling simulation from measured fold costs: the fold jobs of the four samples (30
each), each with a CPU time and the memory polface.models.fitters.fit_memory_mb declares for it
(as the rules do), are started longest first, whenever enough cores (the job's threads) and
memory (the machine's, less the reserve of polface.runtime) are free, as Snakemake's scheduler
would with `--cores N` and a global mem_mb. A LASSO job's wall time is its CPU time over its
threads, over the load balance of the lockstep's 11 problems on those threads and a parallel
efficiency (an assumption: see --efficiency); an MLP job's, its CPU time over its threads and the
same efficiency.

The LASSO's fold costs: `quiet`, the workflow's fit_lasso_fold jobs of outer fold 1 at 1,085,795
x 2,048 on a quiet machine (benchmarks/README.md, "The full size again"; US dating: the mean of
outer folds 1 and 16), `full`, each sample's outer fold 1 at that size in the first full run, a
library call on a loaded machine, 1.7-2.5x as costly ("The full run"), or `midsize`,
the workflow's fit_lasso_fold jobs at
250,000 x 2,048 (outer folds 1 and 16 of every sample, benchmarks/published_scale.py
--outer-folds) scaled to the published size by each sample's training rows. The MLP's: E epochs
of a line through two measured sizes (benchmarks/mlp_epoch.py). --scenarios picks the columns.

    python benchmarks/fold_schedule.py                      # 2, 32 and 256 cores
    python benchmarks/fold_schedule.py --scenarios quiet:0 full:0 midsize:0 quiet:4
    python benchmarks/fold_schedule.py --cores 32 --memory-gb 128 --threads 2 4 8
"""

from __future__ import annotations

import argparse
import heapq
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from polface.models.fitters import (  # noqa: E402
    MLP_EPOCH_CPU_S,
    MLP_ROW_CPU_S,
    fit_memory_mb,
    fold_memory_terms,
)
from polface.runtime import RESERVED_MEMORY_FRACTION  # noqa: E402

#: Per sample: training rows of outer fold 1, the copy's itemsize, its CPU seconds (measured).
MEASURED = {
    "pol_dat_us": (833_963, 4, 4_055),
    "pol_fb_us": (104_407, 8, 661),
    "pol_dat_ca": (55_580, 8, 395),
    "pol_dat_uk": (55_651, 8, 432),
}
#: Per sample: CPU seconds of a fit_lasso_fold job at 1,085,795 x 2,048, 2 threads, a quiet
#: machine (benchmarks/published_scale.py --outer-folds; US dating: outer folds 1 and 16).
QUIET_US_DATING = (1560.75 + 1630.34) / 2
QUIET = {
    "pol_dat_us": QUIET_US_DATING,
    "pol_fb_us": 397.56,
    "pol_dat_ca": 242.82,
    "pol_dat_uk": 239.73,
}
#: Per sample: training rows of a fit_lasso_fold job at 250,000 x 2,048 (outer fold 1) and its
#: CPU seconds, the mean of outer folds 1 and 16 (measured; 2 threads, a loaded machine).
MIDSIZE = {
    "pol_dat_us": (191_971, 288),
    "pol_fb_us": (24_081, 109.5),
    "pol_dat_ca": (12_790, 64.5),
    "pol_dat_uk": (12_824, 70.5),
}
#: The MLP's CPU seconds per epoch = a + b x rows given to the fitter: the calibration the fold
#: jobs' declared runtime uses (fitters.MLP_EPOCH_CPU_S, MLP_ROW_CPU_S; benchmarks/mlp_epoch.py).
MLP_EPOCH = (MLP_EPOCH_CPU_S, MLP_ROW_CPU_S)
COHORT_ROWS = 1_085_795
HELD_OUT = 36_194
OUTER = 30


def lasso_fold_cpu(lasso: str) -> dict[str, float]:
    """Each sample's CPU seconds of a LASSO fold at the published size (`quiet`, `full` or
    `midsize`)."""
    if lasso == "quiet":
        return dict(QUIET)
    if lasso == "full":
        return {sample: float(cpu) for sample, (_, _, cpu) in MEASURED.items()}
    return {sample: cpu * MEASURED[sample][0] / rows for sample, (rows, cpu) in MIDSIZE.items()}


def mlp_fold_cpu(epochs: int) -> dict[str, float]:
    """Each sample's CPU seconds of an MLP fold of `epochs` epochs at the published size."""
    a, b = MLP_EPOCH
    return {sample: epochs * (a + b * rows) for sample, (rows, _, _) in MEASURED.items()}


def fold_jobs(
    per_sample: bool = False, lasso: str = "midsize", mlp_epochs: int = 0
) -> list[tuple[float, int, str]]:
    """(CPU seconds, mem_mb, method) of every fold job; with `per_sample` one job per sample
    and method fitting its 30 folds in turn (the workflow before issue 22)."""
    costs = {"lasso": lasso_fold_cpu(lasso)}
    if mlp_epochs:
        costs["mlp"] = mlp_fold_cpu(mlp_epochs)
    jobs = []
    for method, cpu_of in costs.items():
        for sample, (rows, itemsize, _) in MEASURED.items():
            mlp = method == "mlp"
            mem = fit_memory_mb(
                n_train=rows,
                n_predict=HELD_OUT,
                n_cols=2048,
                itemsize=4 if mlp else itemsize,
                cohort_rows=COHORT_ROWS,
                # the schema's lasso.solver and mlp.val_fraction
                **fold_memory_terms(method, solver="numba", val_fraction=0.1),
            )
            cpu = cpu_of[sample]
            jobs += [(cpu * OUTER, mem, method)] if per_sample else [(cpu, mem, method)] * OUTER
    return jobs


#: The problems a LASSO fold solves in lockstep: the full-data path and 10 inner folds.
PROBLEMS = 11


def lockstep_efficiency(threads: int, efficiency: float) -> float:
    """`efficiency` times the load balance of 11 equal problems on `threads` threads (each
    thread takes whole problems: 2 threads keep 11/12 of their time busy, 8 threads 11/16)."""
    rounds = -(-PROBLEMS // threads)
    return efficiency * PROBLEMS / (threads * rounds)


def simulate(
    cores: int,
    memory_mb: float,
    threads: int,
    efficiency: float,
    per_sample: bool = False,
    lasso: str = "midsize",
    mlp_epochs: int = 0,
) -> dict[str, float]:
    """Longest job first on `cores` cores and `memory_mb` of memory: the makespan and use."""
    threads = min(threads, cores)

    def rate(method: str) -> float:
        """CPU seconds per wall second of a job of `method` on `threads` threads."""
        if method == "mlp":
            return threads * efficiency
        return threads * lockstep_efficiency(threads, efficiency)

    jobs = sorted(fold_jobs(per_sample, lasso, mlp_epochs), key=lambda job: -job[0] / rate(job[2]))
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
            for i, (cpu, mem, method) in enumerate(waiting):
                if threads <= free_cores and mem <= free_mem:
                    wall = cpu / rate(method)
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
    busy = sum(cpu / rate(method) * threads for cpu, _, method in jobs)
    return {
        "hours": now / 3600,
        "cpu_hours": cpu_total / 3600,
        "busy": busy / (now * cores),
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
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["quiet:0", "full:0", "quiet:4", "quiet:30"],
        metavar="LASSO:EPOCHS",
        help="one table column each: the LASSO's fold costs (quiet: the full-size fold jobs on a"
        " quiet machine; full: the first full run's outer fold 1; midsize: the 250,000-row fold"
        " jobs scaled by rows) and the MLP's epochs per fold"
        " (0: no MLP; early stopping with patience 3 allows 4 to 30)",
    )
    args = parser.parse_args()
    if len(args.memory_gb) != len(args.cores):
        parser.error("give one --memory-gb per --cores")
    scenarios = []
    for item in args.scenarios:
        lasso, _, epochs = item.partition(":")
        if lasso not in ("quiet", "full", "midsize") or not epochs.isdigit():
            parser.error(f"--scenarios: {item!r} is not quiet:E, full:E or midsize:E (E >= 0)")
        scenarios.append((lasso, int(epochs)))
    quiet, full = lasso_fold_cpu("quiet"), lasso_fold_cpu("full")
    mid, mlp1 = lasso_fold_cpu("midsize"), mlp_fold_cpu(1)
    print("| sample | LASSO fold job, quiet (CPU-s) | full run, loaded | 250k fold jobs scaled"
          " by rows | MLP per epoch |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for sample in MEASURED:
        print(
            f"| {sample} | {quiet[sample]:,.0f} | {full[sample]:,.0f} | {mid[sample]:,.0f} |"
            f" {mlp1[sample]:,.0f} |"
        )
    columns = [f"LASSO ({lasso})" + (f" + MLP {e} ep." if e else "") for lasso, e in scenarios]
    print("\nstudy wall hours (cores busy, most jobs at once)\n")
    print("| cores | memory | jobs | threads | " + " | ".join(columns) + " |")
    print("|---:|---:|---|---:|" + "---:|" * len(columns))
    cpu_hours = []
    for cores, memory_gb in zip(args.cores, args.memory_gb, strict=True):
        memory = memory_gb * 1000 * (1 - RESERVED_MEMORY_FRACTION)
        for per_sample in (True, False):
            for threads in sorted({min(t, cores) for t in args.threads}):
                cells, cpu_hours = [], []
                for lasso, epochs in scenarios:
                    r = simulate(cores, memory, threads, args.efficiency, per_sample, lasso, epochs)
                    cpu_hours.append(r["cpu_hours"])
                    cells.append(f"{r['hours']:.2f} ({r['busy']:.0%}, {r['most_at_once']})")
                kind = "one per sample" if per_sample else "one per fold"
                print(
                    f"| {cores} | {memory_gb:g} GB | {kind} | {threads} | "
                    + " | ".join(cells)
                    + " |"
                )
    totals = ", ".join(f"{c} {h:.1f}" for c, h in zip(columns, cpu_hours, strict=True))
    print(f"\nCPU-hours: {totals}; efficiency {args.efficiency}")


if __name__ == "__main__":
    main()

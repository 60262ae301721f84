"""Project the 30 x 10 published study onto N cores, one job per (sample, outer fold).

A list-scheduling simulation from measured fold costs: the fold jobs of the four samples (30
each), each with a CPU time and the memory polface.models.fitters.fit_memory_mb declares for it
(as the rules do), are started longest first, whenever enough cores (the job's threads) and
memory (the machine's, less the reserve of polface.runtime) are free, as Snakemake's scheduler
would with `--cores N` and a global mem_mb. A LASSO job's wall time is its CPU time over its
threads, over the load balance of the lockstep's 11 problems on those threads and a parallel
efficiency (an assumption: see --efficiency); an MLP job's, its CPU time over its threads and the
same efficiency.

The LASSO's fold costs (--lasso): `full`, each sample's outer fold 1 at 1,085,795 x 2,048
(benchmarks/README.md, "The full run"), or `midsize`, the workflow's fit_lasso_fold jobs at
250,000 x 2,048 (outer folds 1 and 16 of every sample, benchmarks/published_scale.py
--outer-folds) scaled to the published size by each sample's training rows. The MLP's (--mlp-epochs
E; 0 leaves it out): E epochs of a line through two measured sizes (benchmarks/mlp_epoch.py).

    python benchmarks/fold_schedule.py                      # 2, 32 and 256 cores
    python benchmarks/fold_schedule.py --lasso full --mlp-epochs 0
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
#: Per sample: training rows of a fit_lasso_fold job at 250,000 x 2,048 (outer fold 1) and its
#: CPU seconds, the mean of outer folds 1 and 16 (measured; 2 threads, a loaded machine).
MIDSIZE = {
    "pol_dat_us": (192_018, 934),
    "pol_fb_us": (24_039, 152),
    "pol_dat_ca": (12_797, 91),
    "pol_dat_uk": (12_813, 99),
}
#: The MLP's CPU seconds per epoch = a + b x rows given to the fitter (benchmarks/mlp_epoch.py,
#: schema defaults, 2 torch threads; measured at MLP_ROWS rows).
MLP_EPOCH = (1.8, 1.895e-3)
COHORT_ROWS = 1_085_795
HELD_OUT = 36_194
OUTER = 30


def lasso_fold_cpu(lasso: str) -> dict[str, float]:
    """Each sample's CPU seconds of a LASSO fold at the published size (`full` or `midsize`)."""
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
                copies=2 if mlp else 1,
                torch=mlp,
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
        "--lasso",
        choices=("midsize", "full"),
        default="midsize",
        help="the LASSO's fold costs: the 250,000-row fold jobs scaled by rows, or the full"
        " run's outer fold 1",
    )
    parser.add_argument(
        "--mlp-epochs",
        type=int,
        nargs="+",
        default=[0, 1, 30],
        help="epochs per MLP fold (0: the LASSO alone); one table column each",
    )
    args = parser.parse_args()
    if len(args.memory_gb) != len(args.cores):
        parser.error("give one --memory-gb per --cores")
    for sample, cpu in lasso_fold_cpu(args.lasso).items():
        full = MEASURED[sample][2]
        mlp = ", ".join(f"{e} epochs {mlp_fold_cpu(e)[sample]:,.0f}" for e in args.mlp_epochs if e)
        print(
            f"{sample}: LASSO fold {cpu:,.0f} CPU-s ({args.lasso}; the full run's fold 1:"
            f" {full:,}), MLP fold {mlp or '-'} CPU-s"
        )
    columns = [f"LASSO + MLP {e} epochs" if e else "LASSO" for e in args.mlp_epochs]
    print(
        "\n| cores | memory | jobs | threads per job | "
        + " | ".join(f"{c}: wall h (cores busy, jobs at once)" for c in columns)
        + " |"
    )
    print("|---:|---:|---|---:|" + "---:|" * len(columns))
    cpu_hours = {}
    for cores, memory_gb in zip(args.cores, args.memory_gb, strict=True):
        memory = memory_gb * 1000 * (1 - RESERVED_MEMORY_FRACTION)
        for per_sample in (True, False):
            for threads in sorted({min(t, cores) for t in args.threads}):
                cells = []
                for epochs in args.mlp_epochs:
                    r = simulate(
                        cores, memory, threads, args.efficiency, per_sample, args.lasso, epochs
                    )
                    cpu_hours[epochs] = r["cpu_hours"]
                    cells.append(f"{r['hours']:.2f} ({r['busy']:.0%}, {r['most_at_once']})")
                kind = "one per sample" if per_sample else "one per fold"
                print(
                    f"| {cores} | {memory_gb:g} GB | {kind} | {threads} | "
                    + " | ".join(cells)
                    + " |"
                )
    totals = ", ".join(
        f"{c} {cpu_hours[e]:.1f}" for c, e in zip(columns, args.mlp_epochs, strict=True)
    )
    print(f"\nCPU-hours: {totals}; LASSO costs {args.lasso}; efficiency {args.efficiency}")


if __name__ == "__main__":
    main()

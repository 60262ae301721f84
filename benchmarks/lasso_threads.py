"""Wall and CPU seconds of one fold's exact ``cv_lasso`` on 1 and on 2 threads, by size.

The fold jobs ask for one thread below ``polface.models.fitters.SERIAL_FIT_VALUES`` training
values (rows x columns) and for the rule's threads above it. This prints, for each size (a
synthetic binomial problem with a weak signal, the inner folds of the workflow's small and
published configs), the median wall-clock and CPU time of ``cv_lasso`` over ``--repeats`` runs
on each thread count, alternating, and the bits of the two fits (the same, or the script fails).
Numba's compilation happens before the timings. Run it on a quiet machine (it prints the load
average around each size):

    python benchmarks/lasso_threads.py                      # 266x64 ... 8000x1024
    python benchmarks/lasso_threads.py --sizes 2000x512 --folds 10 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from polface.models.fitters import SERIAL_FIT_VALUES  # noqa: E402
from polface.models.lasso import cv_lasso  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def problem(rows: int, cols: int, folds: int, seed: int):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.normal(size=(rows, cols)))
    signal = X[:, : max(1, cols // 16)].sum(axis=1) / np.sqrt(max(1, cols // 16))
    y = (0.5 * signal + rng.normal(size=rows) > 0).astype(float)
    return X, y, np.arange(rows) % folds


def timed(X, y, foldid, threads: int):
    wall, cpu = time.perf_counter(), cpu_seconds()
    fit = cv_lasso(X.copy(order="F"), y, foldid=foldid, family="binomial", n_threads=threads)
    return time.perf_counter() - wall, cpu_seconds() - cpu, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=["266x64", "1000x256", "2000x512", "4000x1024", "8000x1024"],
        help="ROWSxCOLS of the training rows (default: 266x64 ... 8000x1024)",
    )
    ap.add_argument("--folds", type=int, default=3, help="inner folds (default 3)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(f"SERIAL_FIT_VALUES = {SERIAL_FIT_VALUES:,}; {args.folds} inner folds", flush=True)
    for size in args.sizes:
        rows, cols = (int(part) for part in size.split("x"))
        X, y, foldid = problem(rows, cols, args.folds, args.seed)
        load = os.getloadavg()[0]
        timed(X, y, foldid, 1), timed(X, y, foldid, 2)  # compiled (or loaded) before timing
        times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        fits = {}
        for _ in range(args.repeats):
            for threads in (1, 2):
                wall, cpu, fits[threads] = timed(X, y, foldid, threads)
                times[threads].append((wall, cpu))
        if not np.array_equal(fits[1].path.beta, fits[2].path.beta):
            sys.exit(f"{size}: the fits on 1 and 2 threads differ")
        (w1, c1), (w2, c2) = (
            tuple(statistics.median(t[i] for t in times[threads]) for i in (0, 1))
            for threads in (1, 2)
        )
        print(
            f"{size:>10} ({rows * cols:>10,} values): 1 thread {w1 * 1e3:8.0f} ms wall "
            f"{c1 * 1e3:8.0f} ms cpu | 2 threads {w2 * 1e3:8.0f} ms wall {c2 * 1e3:8.0f} ms cpu"
            f" | wall 2/1 {w2 / w1:5.2f}, cpu 2/1 {c2 / c1:5.2f} | load "
            f"{load:.2f} -> {os.getloadavg()[0]:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

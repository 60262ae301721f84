"""CPU seconds of ``lasso_path`` and the exact ``cv_lasso`` of one checkout, for paired A/B runs.

Times the code under ``CHECKOUT/scripts`` on ``glmnet_vs_r.py``'s problem (the same seed), in
this process: the path ``--paths`` times, then the exact 10-fold CV once on ``--threads`` cores
(numba's compilation happens before the timings). Run it for two checkouts one after the other,
several times, and compare like with like:

    for r in 1 2; do for c in ../old .; do python benchmarks/lasso_ab.py $c; done; done

Each line names the kernels file it timed (the code under CHECKOUT; the script stops if another
copy was loaded).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkout", type=Path, help="the project checkout whose code is timed")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--cols", type=int, default=1_024)
    ap.add_argument("--paths", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="cores for cv_lasso (default all)")
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="float32: float32 features, stored so (glmnet_vs_r.py --dtype float32)",
    )
    args = ap.parse_args()
    code = args.checkout.resolve() / "scripts"
    sys.path.insert(0, str(code))
    # polface from CHECKOUT first: glmnet_vs_r.py puts its own checkout's scripts first on the
    # path and imports polface, which is then already loaded from CHECKOUT
    from polface.models.lasso import cv_lasso, kernels, lasso_path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from glmnet_vs_r import make_problem

    timed = Path(kernels.__file__).resolve()
    if not timed.is_relative_to(code):
        raise SystemExit(f"lasso_ab.py: the kernels came from {timed}, not from {code}")

    X, y, fold = make_problem(args.rows, args.cols, args.seed)
    dtype = np.float32 if args.dtype == "float32" else np.float64
    X = X.astype(dtype)
    Xw, yw, fw = make_problem(200, 30, 1)
    cv_lasso(Xw.astype(dtype), yw, fw, dtype=dtype)
    lasso_path(Xw.astype(dtype), yw, dtype=dtype)
    line = [str(timed)]
    for _ in range(args.paths):
        cpu, wall = cpu_seconds(), time.perf_counter()
        lasso_path(X, y, dtype=dtype)
        line.append(f"path {cpu_seconds() - cpu:.2f} s CPU / {time.perf_counter() - wall:.2f} s")
    cpu, wall = cpu_seconds(), time.perf_counter()
    cv_lasso(X, y, fold, n_threads=args.threads, dtype=dtype)
    line.append(f"cv {cpu_seconds() - cpu:.2f} s CPU / {time.perf_counter() - wall:.2f} s")
    print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()

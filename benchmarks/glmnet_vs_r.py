"""Benchmark polface.models.lasso against R glmnet on a pol_dat_us-like problem, in one run.

Makes an n x p binary problem with correlated features (default 20,000 x 2,048, like the VGGFace2
descriptors of the US dating sample) and 10 folds, writes it under benchmarks/out/ (git-ignored),
then alternates, ``--repeats`` times: R (``glmnet(x, y, family = "binomial")`` and
``cv.glmnet(x, y, family = "binomial", foldid = foldid, keep = TRUE)``, each timed inside R with
``system.time``) and this project (``lasso_path``; ``cv_lasso`` exactly as cv.glmnet; and
``cv_lasso`` with the default ``EarlyStop``; ``--dtype float32``: the features are rounded to
float32, as the feature files store them, R fits their exact doubles and polface stores them
as float32). It prints the median wall-clock and CPU times and
their ratios (R / ours) for the path, the exact CV and the early-stopped CV, the load average of
the machine around each timing (``os.getloadavg``: the machine may be shared), both lambda.min
(and its step), both CV deviances and out-of-fold AUCs at lambda.min, the largest coefficient
difference between our paths (``lasso_path`` and the exact CV's full-data path) and R's, and the
number of lambdas whose nonzero set differs from R's.

    python benchmarks/glmnet_vs_r.py                      # the full size, one repeat
    python benchmarks/glmnet_vs_r.py --rows 4000 --cols 512 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from polface.metrics import auc  # noqa: E402
from polface.models.lasso import EarlyStop, cv_lasso, lasso_path  # noqa: E402

OUT_ROOT = Path(__file__).resolve().parent / "out"

R_CODE = r"""
suppressMessages(library(glmnet))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; n <- as.integer(args[2]); p <- as.integer(args[3])
x <- matrix(readBin(file.path(dir, "x.bin"), "double", n * p), n, p)
tab <- read.csv(file.path(dir, "y.csv"))
st_path <- system.time(fit <- glmnet(x, tab$y, family = "binomial"))
st_cv <- system.time(cv <- cv.glmnet(x, tab$y, family = "binomial", foldid = tab$fold,
                                     keep = TRUE))
t_path <- st_path[["elapsed"]]; t_cv <- st_cv[["elapsed"]]
c_path <- st_path[["user.self"]] + st_path[["sys.self"]]
c_cv <- st_cv[["user.self"]] + st_cv[["sys.self"]]
imin <- match(cv$lambda.min, cv$lambda)
writeBin(as.vector(as.matrix(fit$beta)), file.path(dir, "r_beta.bin"))
write.csv(data.frame(lambda = fit$lambda, a0 = fit$a0), file.path(dir, "r_path.csv"),
          row.names = FALSE)
write.csv(data.frame(lambda = cv$lambda, cvm = cv$cvm, cvsd = cv$cvsd),
          file.path(dir, "r_cv.csv"), row.names = FALSE)
write.csv(data.frame(preval = cv$fit.preval[, imin]), file.path(dir, "r_preval.csv"),
          row.names = FALSE)
write.csv(data.frame(t_path = t_path, t_cv = t_cv, c_path = c_path, c_cv = c_cv,
                     lambda_min = cv$lambda.min, imin = imin),
          file.path(dir, "r_summary.csv"), row.names = FALSE)
"""


def make_problem(rows: int, cols: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlated, column-standardised features (a few shared factors), a weak dense signal
    (out-of-sample AUC near 0.7, as in the US dating sample) and 10 folds."""
    rng = np.random.default_rng(seed)
    k = 24
    loadings = rng.standard_normal((k, cols)) * rng.uniform(0.2, 1.0, cols)
    X = rng.standard_normal((rows, k)) @ loadings
    X += rng.standard_normal((rows, cols)) * 0.8
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    beta = np.zeros(cols)
    support = rng.choice(cols, size=cols // 8, replace=False)
    beta[support] = rng.standard_normal(support.size)
    eta = X @ beta
    eta *= 0.9 / eta.std()
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(0.27 + eta)))).astype(float)
    fold = rng.permutation(np.arange(rows) % 10) + 1
    return X, y, fold


def load() -> str:
    """The machine's 1-minute load average, for the log."""
    return f"{os.getloadavg()[0]:.1f}"


def run_r(rows: int, cols: int) -> dict:
    """One R run; returns its timings and results."""
    OUT = OUT_ROOT / f"glmnet_{rows}x{cols}"
    print(f"  R starts, load {load()}", flush=True)
    script = OUT / "bench.R"
    script.write_text(R_CODE)
    done = subprocess.run(
        ["Rscript", str(script), str(OUT), str(rows), str(cols)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"R failed:\n{done.stderr}")
    print(f"  R done, load {load()}", flush=True)
    summary = pd.read_csv(OUT / "r_summary.csv").iloc[0]
    path = pd.read_csv(OUT / "r_path.csv")
    beta = np.fromfile(OUT / "r_beta.bin", dtype="<f8").reshape(len(path), cols)
    return {
        "t_path": float(summary["t_path"]),
        "t_cv": float(summary["t_cv"]),
        "c_path": float(summary["c_path"]),
        "c_cv": float(summary["c_cv"]),
        "lambda_min": float(summary["lambda_min"]),
        "imin": int(summary["imin"]) - 1,
        "path": path,
        "beta": beta,
        "cv": pd.read_csv(OUT / "r_cv.csv"),
        "preval": pd.read_csv(OUT / "r_preval.csv")["preval"].to_numpy(),
    }


def run_ours(X: np.ndarray, y: np.ndarray, fold: np.ndarray, args: argparse.Namespace) -> dict:
    """One run of this project's path, exact CV and early-stopped CV."""
    dtype = np.float32 if args.dtype == "float32" else np.float64
    times = []

    def timed(what: str, fit):  # noqa: ANN001, ANN202 - a local helper
        print(f"  ours {what} starts, load {load()}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        result = fit()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
        print(f"  ours {what} done, load {load()}", flush=True)
        return result

    path = timed("path", lambda: lasso_path(X, y, dtype=dtype))
    cv = None
    if not args.skip_exact:
        cv = timed("exact cv", lambda: cv_lasso(X, y, fold, n_threads=args.threads, dtype=dtype))
    else:
        times.append((float("nan"), float("nan")))
    fast = timed(
        "early-stopped cv",
        lambda: cv_lasso(X, y, fold, n_threads=args.threads, dtype=dtype, early_stop=EarlyStop()),
    )
    (t_path, c_path), (t_cv, c_cv), (t_fast, c_fast) = times
    return {
        "t_path": t_path,
        "t_cv": t_cv,
        "t_fast": t_fast,
        "c_path": c_path,
        "c_cv": c_cv,
        "c_fast": c_fast,
        "path": path,
        "cv": cv,
        "fast": fast,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--cols", type=int, default=2_048)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="cores for cv_lasso (default all)")
    ap.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="float32: the features are float32 values and polface stores them so",
    )
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--skip-r", action="store_true", help="time this project only")
    ap.add_argument(
        "--skip-exact",
        action="store_true",
        help="skip this project's exact CV (compare the early-stopped CV with R's)",
    )
    args = ap.parse_args()
    OUT = OUT_ROOT / f"glmnet_{args.rows}x{args.cols}"
    OUT.mkdir(parents=True, exist_ok=True)
    X, y, fold = make_problem(args.rows, args.cols, args.seed)
    if args.dtype == "float32":
        # float32 features, as the feature files store them (embeddings; convert.precision
        # float32): R reads their exact doubles, polface fits X's own float32 values
        X = X.astype(np.float32)
    np.asfortranarray(X, dtype=np.float64).T.tofile(OUT / "x.bin")  # column-major, for readBin
    pd.DataFrame({"y": y, "fold": fold}).to_csv(OUT / "y.csv", index=False)
    # compile (numba cache) outside the timings
    Xw, yw, fw = make_problem(200, 30, 1)
    cv_lasso(Xw, yw, fw, early_stop=EarlyStop())
    lasso_path(Xw.astype(np.float32), yw, dtype=np.float32)
    cv_lasso(Xw.astype(np.float32), yw, fw, dtype=np.float32)
    r_runs, our_runs = [], []
    for rep in range(args.repeats):
        if not args.skip_r:
            r_runs.append(run_r(args.rows, args.cols))
            r = r_runs[-1]
            print(
                f"repeat {rep + 1}: R path {r['t_path']:.1f} s (cpu {r['c_path']:.1f} s), "
                f"cv.glmnet {r['t_cv']:.1f} s (cpu {r['c_cv']:.1f} s)",
                flush=True,
            )
        our_runs.append(run_ours(X, y, fold, args))
        o = our_runs[-1]
        exact = "skipped" if o["cv"] is None else f"{o['t_cv']:.1f} s (cpu {o['c_cv']:.1f} s)"
        print(
            f"repeat {rep + 1}: ours path {o['t_path']:.1f} s (cpu {o['c_path']:.1f} s), "
            f"cv {exact}, cv+early stop {o['t_fast']:.1f} s (cpu {o['c_fast']:.1f} s)",
            flush=True,
        )
    keys = ("t_path", "t_cv", "t_fast", "c_path", "c_cv", "c_fast")
    med = {key: statistics.median(r[key] for r in our_runs) for key in keys}
    o = our_runs[-1]
    cv, fast, path = o["cv"], o["fast"], o["path"]
    print(
        f"\nproblem: {args.rows} x {args.cols}, 10 folds, prevalence {y.mean():.3f}, "
        f"repeats {args.repeats}, threads {args.threads or 'all'}, X stored as {args.dtype}, "
        f"load average at the end {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"ours  path: {len(path.lambdas)} lambdas ({path.stop_reason}); "
        f"median {med['t_path']:.2f} s"
    )
    if cv is not None:
        print(
            f"ours  cv  : lambda.min {cv.lambda_min:.6g} at step {cv.index_min + 1} of "
            f"{len(cv.lambdas)}, cvm {cv.cvm[cv.index_min]:.6f}, "
            f"CV AUC {auc(y, cv.oof_link):.4f}; median {med['t_cv']:.2f} s"
        )
    print(
        f"ours  cv+early stop: lambda.min {fast.lambda_min:.6g} at step {fast.index_min + 1} "
        f"(stopped at {len(fast.lambdas)}), cvm {fast.cvm[fast.index_min]:.6f}, "
        f"CV AUC {auc(y, fast.oof_link):.4f}; median {med['t_fast']:.2f} s"
        + (
            ""
            if cv is None
            else f"; same lambda.min as full CV: {fast.lambda_min == cv.lambda_min}"
        )
    )
    if args.skip_r:
        return
    rkeys = ("t_path", "t_cv", "c_path", "c_cv")
    rmed = {key: statistics.median(r[key] for r in r_runs) for key in rkeys}
    r = r_runs[-1]
    rcv = r["cv"]
    print(f"R     path: {len(r['path'])} lambdas; median {rmed['t_path']:.2f} s")
    print(
        f"R     cv.glmnet: lambda.min {r['lambda_min']:.6g} at step {r['imin'] + 1} of "
        f"{len(rcv)}, cvm {rcv['cvm'].iloc[r['imin']]:.6f}, CV AUC {auc(y, r['preval']):.4f}; "
        f"median {rmed['t_cv']:.2f} s"
    )
    steps = min(len(r["path"]), len(path.lambdas))
    lam_rel = np.max(np.abs(path.lambdas[:steps] / r["path"]["lambda"].to_numpy()[:steps] - 1))
    dbeta = np.max(np.abs(path.beta[:steps] - r["beta"][:steps]))
    da0 = np.max(np.abs(path.a0[:steps] - r["path"]["a0"].to_numpy()[:steps]))
    nz_diff = int(np.sum(np.any((path.beta[:steps] != 0) != (r["beta"][:steps] != 0), axis=1)))
    if cv is not None:
        cs = min(steps, len(cv.path.lambdas))
        dcv = np.max(np.abs(cv.path.beta[:cs] - r["beta"][:cs]))
        cv_nz = int(np.sum(np.any((cv.path.beta[:cs] != 0) != (r["beta"][:cs] != 0), axis=1)))
        print(
            f"agreement of the exact CV's full-data path ({cs} lambdas): largest coefficient "
            f"diff {dcv:.2e}, lambdas with another nonzero set than R's: {cv_nz}"
        )
    best = fast if cv is None else cv
    dcvm = np.max(np.abs(best.cvm - rcv["cvm"].to_numpy()[: len(best.cvm)]))
    print(
        f"agreement: path lengths {len(path.lambdas)} vs {len(r['path'])}, lambdas max rel "
        f"diff {lam_rel:.1e}, largest coefficient diff {dbeta:.2e} (intercept {da0:.2e}), "
        f"lambdas with another nonzero set than R's: {nz_diff}, "
        f"largest cvm diff {dcvm:.2e} ({'early-stopped' if cv is None else 'exact'} CV), "
        f"same lambda.min as R: {abs(best.lambda_min / r['lambda_min'] - 1) < 1e-12} "
        f"(step {best.index_min + 1} vs {r['imin'] + 1})"
    )
    exact = "" if cv is None else f" cv exact {rmed['t_cv'] / med['t_cv']:.2f}x,"
    print(
        f"speed-up vs R, wall clock (R time / ours): path {rmed['t_path'] / med['t_path']:.2f}x,"
        f"{exact} cv with early stop {rmed['t_cv'] / med['t_fast']:.2f}x"
    )
    exact = "" if cv is None else f" cv exact {rmed['c_cv'] / med['c_cv']:.2f}x,"
    print(
        f"speed-up vs R, CPU time (all our threads summed): path "
        f"{rmed['c_path'] / med['c_path']:.2f}x,{exact} "
        f"cv with early stop {rmed['c_cv'] / med['c_fast']:.2f}x"
    )


if __name__ == "__main__":
    main()

"""The fold jobs' measured peaks against the memory the rules declare for them, at every size run.

Reads the fold jobs that ``benchmarks/published_scale.py --outer-folds`` recorded (each job's
exact peak from ``wait4``) in every ``benchmarks/out/published_scale_<rows>x<cols>/run.json``, and
prints one markdown table: per job, the cohort's rows, the method and sample, the rows it trains
and predicts, its columns and the copy's type, whether numba compiled the LASSO's kernels in it
(``--cold-kernels``: the first job of a fresh checkout), its peak, and the ``mem_mb`` that
``polface.models.fitters`` declares for it now (not what the run's copy of the code declared),
with the ratio. ``tests/test_fold_jobs.py`` reads that table from benchmarks/README.md.

    python benchmarks/published_scale.py --rows 3000 --outer-folds 1 --cold-kernels
    python benchmarks/published_scale.py --rows 3000 --reuse --refit --outer-folds 1
    python benchmarks/published_scale.py --rows 3000 --reuse --outer-folds 1 --method mlp
    python benchmarks/fold_memory.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from published_scale import COLD, FOLD_METHODS, PUBLISHED  # noqa: E402

from polface.data.osf import FEATURE_SETS, interpretable_features  # noqa: E402
from polface.models.fitters import (  # noqa: E402
    COMPILE_MB,
    MEMORY_MARGIN,
    fit_memory_mb,
    fold_copy_itemsize,
    fold_memory_terms,
)

#: The schema's defaults the runs used for what they do not set (mlp.val_fraction, lasso.solver
#: and lasso.precision).
VAL_FRACTION, SOLVER, PRECISION = 0.1, "numba", "float64"


def interpretable_width(workdir: Path) -> int:
    """The columns of the widest interpretable feature set of the run's cohort, as built."""
    faces = pd.read_parquet(workdir / "results/published/faces.parquet")
    return max(interpretable_features(faces, name).shape[1] for name in FEATURE_SETS)


def rows_of(workdir: Path) -> list[dict]:
    """One row per recorded fold job of a run: its work, its peak and the declared mem_mb."""
    run = json.loads((workdir / "run.json").read_text())
    config = yaml.safe_load((workdir / "config/published.yaml").read_text())
    budget = config["lasso"]["memory_budget_mb"]
    faces = pd.read_parquet(workdir / "results/published/faces.parquet", columns=list(PUBLISHED))
    outer = pd.read_parquet(workdir / "results/published/folds.parquet")["outer_fold"].to_numpy()
    labelled = faces.notna().to_numpy().any(axis=1)
    width = None  # the interpretable job's columns, read when first needed
    out = []
    for method, (_, _, record) in FOLD_METHODS.items():
        for key in (record, record + COLD):
            for job in run.get(key, {}).values():
                n_predict = int((labelled & (outer == job["fold"])).sum())
                if method == "interpretable" and width is None:
                    width = interpretable_width(workdir)
                n_cols = width if method == "interpretable" else run["cols"]
                itemsize = fold_copy_itemsize(
                    method,
                    job["n_train"],
                    n_cols,
                    solver=SOLVER,
                    precision=PRECISION,
                    memory_budget_mb=budget,
                )
                terms = fold_memory_terms(method, solver=SOLVER, val_fraction=VAL_FRACTION)
                declared = fit_memory_mb(
                    n_train=job["n_train"],
                    n_predict=n_predict,
                    n_cols=n_cols,
                    itemsize=itemsize,
                    cohort_rows=run["rows"],
                    **terms,
                )
                peak = job.get("peak_rss_mb", job["max_rss_mb"])
                compiled = key.endswith(COLD)
                kernels = "compiled" if compiled else "cached" if terms["kernels"] else "-"
                out.append(
                    {
                        "cohort": run["rows"],
                        "method": method,
                        "sample": job["sample"],
                        "fold": job["fold"],
                        "n_train": job["n_train"],
                        "n_predict": n_predict,
                        "n_cols": n_cols,
                        "copy": f"float{8 * itemsize}",
                        "kernels": kernels,
                        "peak": peak,
                        "declared": declared,
                        # what a job that loaded the kernels from the cache did not use
                        "unused": COMPILE_MB[terms["kernels"]] * MEMORY_MARGIN
                        if kernels == "cached"
                        else 0.0,
                    }
                )
    return out


def main() -> None:
    runs = sorted(
        (ROOT / "benchmarks/out").glob("published_scale_*x*/run.json"),
        key=lambda p: int(p.parent.name.split("_")[-1].split("x")[0]),
    )
    rows = [row for path in runs for row in rows_of(path.parent)]
    if not rows:
        sys.exit("no fold jobs recorded: run benchmarks/published_scale.py --outer-folds first")
    print(
        "| cohort rows | fold job | training rows | held-out rows | columns | copy | kernels "
        "| peak MiB | declared mem_mb | declared / peak | declared / (peak + unused allowance) |"
    )
    print("|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['cohort']:,} | {r['method']} {r['sample']} {r['fold']} | {r['n_train']:,} | "
            f"{r['n_predict']:,} | {r['n_cols']:,} | {r['copy']} | {r['kernels']} | "
            f"{r['peak']:,.0f} | {r['declared']:,} | {r['declared'] / r['peak']:.2f} | "
            f"{r['declared'] / (r['peak'] + r['unused']):.2f} |"
        )
    ratios = [r["declared"] / r["peak"] for r in rows]
    bands = [r["declared"] / (r["peak"] + r["unused"]) for r in rows]
    print(
        f"\n{len(rows)} jobs: declared / peak {min(ratios):.2f}-{max(ratios):.2f}; with the "
        f"compile allowance a cached job did not use counted in its peak "
        f"{min(bands):.2f}-{max(bands):.2f}"
    )


if __name__ == "__main__":
    main()

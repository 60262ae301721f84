"""Benchmark: CPU seconds of one interpretable fold job (every feature set, every sample).

Run from the repository root:

    python benchmarks/interpretable_fold.py [--rows 100000 400000 1085795] [--threads 2]

For each size it simulates a cohort's faces table (the schema's `simulate` defaults; at the
published 1,085,795 rows its sample sizes, as in tests/test_fold_jobs.py; no descriptors are
made: the interpretable models do not read them), makes its 30 x 10 folds and fits outer fold 1
of every feature set of ``osf.FEATURE_SETS`` on every sample as the rule fit_interpretable_fold
does (``interpretable_features``, ``feature_set_predictions``, the schema's ``lasso``), measuring
the process's CPU seconds of each set's fits. Results go to benchmarks/out/interpretable_fold.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from polface.config import validate_config  # noqa: E402
from polface.data.osf import FEATURE_SETS, SAMPLE_COLUMN, interpretable_features  # noqa: E402
from polface.data.simulate import plan_cohort, sample_sizes  # noqa: E402
from polface.models.fitters import (  # noqa: E402
    expected_fold_rows,
    feature_set_predictions,
    lasso_fitter,
    lasso_train_order,
)
from polface.models.folds import make_folds  # noqa: E402

#: The published cohort's samples (osf.io/c58d3), rows.
PUBLISHED = {
    "pol_dat_us": 862_770,
    "pol_fb_us": 108_018,
    "pol_dat_ca": 57_504,
    "pol_dat_uk": 57_503,
}


def time_job(rows: int, threads: int) -> dict:
    """Outer fold 1 of every feature set on a simulated cohort of ``rows`` rows."""
    simulate: dict = {"n_rows": rows, "n_features": 16}
    if rows == sum(PUBLISHED.values()):
        simulate["sample_shares"] = {s: n / rows for s, n in PUBLISHED.items()}
    config = {"cohorts": {"c": {"simulate": simulate}}, "folds": {"outer": 30, "inner": 10}}
    validate_config(config, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    settings = config["cohorts"]["c"]["simulate"]
    faces = plan_cohort(settings, block_mb=1).faces
    folds = make_folds(faces["userid"], id_column="userid", n_outer=30, n_inner=10, seed=1)
    fit = lasso_fitter(**config["lasso"], n_threads=threads, family="binomial")
    sets = {}
    load = os.getloadavg()
    wall = time.perf_counter()
    for name in FEATURE_SETS:
        cpu = time.process_time()
        features = interpretable_features(faces, name)
        feature_set_predictions(
            features,
            faces,
            folds,
            feature_set=name,
            samples=list(config["samples"]),
            fit=fit,
            id_column="userid",
            target_column=SAMPLE_COLUMN,
            outer_folds=[1],
            train_order=lasso_train_order(config["lasso"]["solver"]),
        )
        sets[name] = {"columns": features.shape[1], "cpu_s": time.process_time() - cpu}
    train, _ = expected_fold_rows(sample_sizes(settings), 30)
    return {
        "rows": rows,
        "training_rows": sum(train.values()),
        "sets": sets,
        "cpu_s": sum(s["cpu_s"] for s in sets.values()),
        "wall_s": time.perf_counter() - wall,
        "load_before": load,
        "load_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 400_000, 1_085_795])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs = []
    for rows in args.rows:
        run = time_job(rows, args.threads)
        runs.append(run)
        per_row_set = run["cpu_s"] / (run["training_rows"] * len(FEATURE_SETS))
        print(
            f"{rows:,} rows ({run['training_rows']:,} training rows over the samples): "
            f"{run['cpu_s']:.1f} CPU-s, {run['wall_s']:.1f} s wall, "
            f"{per_row_set * 1e6:.1f} us per training row and set; load "
            f"{run['load_before'][0]:.1f} -> {run['load_after'][0]:.1f}",
            flush=True,
        )
        for name, info in run["sets"].items():
            print(f"  {name}: {info['columns']} columns, {info['cpu_s']:.1f} CPU-s", flush=True)
    path = ROOT / "benchmarks" / "out" / "interpretable_fold.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"threads": args.threads, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()

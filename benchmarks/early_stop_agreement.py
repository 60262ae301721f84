"""How often the opt-in early stop (lasso.early_stop_patience) changes cv.glmnet's lambda.min.

On the 24 small cohorts of tests/r_cohorts.py (250-450 rows x 64-200 descriptors, 4 outer x 5
inner folds, the R-written cohorts on which the default equals R's Table 2 to 1e-12), every
(cohort, sample, outer fold) inner CV is run twice with the default settings: the whole lambda
sequence (exactly cv.glmnet), and with ``EarlyStop(patience)``. Prints how many of the fits choose
another lambda.min, how many stopped early, the lambdas scored and the CPU time of both.

    python benchmarks/early_stop_agreement.py [--patience 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "tests")]

from polface.data.simulate import simulate_cohort  # noqa: E402
from polface.models.lasso import EarlyStop, cv_lasso  # noqa: E402
from r_cohorts import COHORTS, SAMPLES, assign_folds, simulate_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patience", type=int, default=10)
    args = parser.parse_args()
    rule = EarlyStop(patience=args.patience)
    fits = changed = stopped = 0
    scored_full = scored_fast = 0
    cpu_full = cpu_fast = 0.0
    rows = []
    for spec in COHORTS:
        cohort = simulate_cohort(simulate_settings(spec))
        folds = assign_folds(cohort.faces, spec.seed)
        X = np.asarray(cohort.descriptors, dtype=np.float64)
        outer, inner = folds["outer_fold"].to_numpy(), folds["inner_fold"].to_numpy()
        for sample in SAMPLES:
            labels = cohort.faces[sample].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            for k in range(1, 5):
                train = ~np.isnan(labels) & (outer != k)
                y = labels[train]
                t0 = time.process_time()
                full = cv_lasso(X[train], y, inner[train])
                t1 = time.process_time()
                fast = cv_lasso(X[train], y, inner[train], early_stop=rule)
                t2 = time.process_time()
                fits += 1
                cpu_full += t1 - t0
                cpu_fast += t2 - t1
                scored_full += len(full.lambdas)
                scored_fast += len(fast.lambdas)
                stopped += fast.stopped_early
                if fast.index_min != full.index_min:
                    changed += 1
                    rows.append(
                        f"  {spec.name} {sample} outer {k}: step {full.index_min + 1} of "
                        f"{len(full.lambdas)} -> step {fast.index_min + 1} (stopped after "
                        f"{len(fast.lambdas)})"
                    )
    print(f"EarlyStop(patience={args.patience}) on {len(COHORTS)} cohorts, {fits} inner CVs")
    print(f"  lambda.min changed: {changed} of {fits}")
    print(*rows, sep="\n") if rows else None
    print(f"  stopped early: {stopped} of {fits}")
    print(f"  lambdas scored: {scored_fast} vs {scored_full} ({scored_fast / scored_full:.2f})")
    print(f"  CPU time: {cpu_fast:.1f} s vs {cpu_full:.1f} s ({cpu_full / cpu_fast:.2f}x faster)")


if __name__ == "__main__":
    main()

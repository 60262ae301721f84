"""Benchmark: CPU seconds per epoch of the project's MLP, extrapolated to a published-size fold.

Run from the repository root (torch on the CPU, the rule's 2 threads):

    python benchmarks/mlp_epoch.py [--rows 20000 80000] [--epochs 1] [--threads 2]

For each size it fits the network as the rule fit_mlp_fold does (``polface.models.fitters.
mlp_fitter`` with the schema's ``mlp`` defaults: hidden 2048, batch 64, dropout 0.1, Adam 1e-4,
validation share 0.1), on ``rows`` x 2,048 seeded standard-normal float32 features and Bernoulli
labels (the arithmetic of a dense network does not depend on the values), for ``--epochs`` epochs
(``max_epochs``; early stopping cannot fire before ``patience`` epochs), and measures the process's
CPU seconds and wall time of the fit (training, the validation pass of each epoch, keeping the
best weights). A line ``cpu = a + b x rows`` (least squares over the sizes, per epoch) gives the
CPU seconds of one epoch at a US dating fold's 833,963 training rows, and of a fold of
``patience + 1`` epochs (the fewest early stopping allows: the best epoch first, then ``patience``
without improvement) to ``max_epochs`` epochs. Results go to benchmarks/out/mlp_epoch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402

from polface.models.fitters import mlp_fitter  # noqa: E402

#: Training rows of outer fold 1 of each sample at 1,085,795 x 2,048 (benchmarks/README.md).
FOLD_ROWS = {
    "pol_dat_us": 833_963,
    "pol_fb_us": 104_407,
    "pol_dat_ca": 55_580,
    "pol_dat_uk": 55_651,
}


def schema_defaults() -> dict:
    """The config's ``mlp`` block as the schema fills it in."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    properties = schema["properties"]["mlp"]["properties"]
    return {key: spec["default"] for key, spec in properties.items()}


def time_fit(rows: int, cols: int, epochs: int, seed: int) -> dict:
    """One fit of ``epochs`` epochs on ``rows`` x ``cols``: CPU and wall seconds."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols), dtype=np.float32)
    y = (rng.random(rows) < 0.56).astype(np.float64)
    settings = {**schema_defaults(), "max_epochs": epochs, "device": "cpu"}
    fit = mlp_fitter(**settings)
    load = os.getloadavg()
    wall, cpu = time.perf_counter(), time.process_time()
    _, info = fit(X, y, None, 1)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    history = info["history"]
    assert len(history["epoch"]) == epochs, history["epoch"]
    return {
        "rows": rows,
        "n_train": history["n_train"],
        "epochs": epochs,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_s_per_epoch": cpu / epochs,
        "load_before": load,
        "load_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 80_000])
    parser.add_argument("--cols", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for rows in sorted(args.rows):
        run = time_fit(rows, args.cols, args.epochs, args.seed)
        runs.append(run)
        print(
            f"{rows:,} rows ({run['n_train']:,} trained): {args.epochs} epoch(s) "
            f"{run['cpu_s']:.1f} CPU-s, {run['wall_s']:.1f} s wall, load "
            f"{run['load_before'][0]:.1f} -> {run['load_after'][0]:.1f}",
            flush=True,
        )
    out: dict = {"threads": args.threads, "cols": args.cols, "runs": runs}
    defaults = schema_defaults()
    max_epochs = defaults["max_epochs"]
    fewest = min(max_epochs, defaults["patience"] + 1)
    if len(runs) >= 2:
        slope, intercept = np.polyfit(
            [r["rows"] for r in runs], [r["cpu_s_per_epoch"] for r in runs], 1
        )
        per_epoch = {s: intercept + slope * n for s, n in FOLD_ROWS.items()}
        out["line"] = {"intercept_s": intercept, "cpu_s_per_row": slope}
        out["cpu_s_per_epoch"] = per_epoch
        out["epochs_range"] = [fewest, max_epochs]
        out["fold_cpu_s_range"] = {s: [e * fewest, e * max_epochs] for s, e in per_epoch.items()}
        print(f"per epoch: {intercept:.1f} s + {slope * 1e3:.3f} ms x rows")
        for sample, epoch in per_epoch.items():
            print(
                f"{sample} fold ({FOLD_ROWS[sample]:,} rows): {epoch:,.0f} CPU-s per epoch, "
                f"{epoch * fewest:,.0f}-{epoch * max_epochs:,.0f} CPU-s for {fewest}-{max_epochs}"
                " epochs"
            )
    path = ROOT / "benchmarks" / "out" / "mlp_epoch.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

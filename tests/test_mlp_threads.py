"""The MLP's bits do not depend on torch's threads (CPU): rule fit_mlp_fold's script, run as
Snakemake runs it (a fresh process) on 1, 2 and 4 threads, writes the same bytes, and the
validation loss of more than 32,768 rows is the same float on each (benchmarks/README.md,
mlp_threads.py: what differed before)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from torch import nn

from polface.io import write_parquet
from polface.models.folds import make_folds
from polface.models.mlp import _mean_loss, validation_split
from rule_runner import run_rule

#: The config's ``mlp`` block, small: the schema's batch of 64 rows, half of the training rows
#: held out for early stopping.
MLP = {
    "enabled": True,
    "hidden": 64,
    "dropout": 0.1,
    "learning_rate": 1e-3,
    "batch_size": 64,
    "max_epochs": 2,
    "patience": 2,
    "val_fraction": 0.5,
    "seed": 0,
}
#: Outer fold 1 trains on 2 x 32,773 rows, 32,774 of them 1: each class gives half of its rows
#: to validation, so the network trains on 32,773 rows (512 batches of 64, then one of 5) and
#: validates on 32,773 (4 chunks of 8,192, then one of 5). Without MKL's strict mode a batch of
#: 5 rows gives other bits on 2 threads than on 1; torch sums more than 32,768 values (the
#: validation loss) on several threads in another order.
N_ROWS, N_COLS, N_ONES = 131_092, 16, 32_774


def write_cohort(root: Path) -> dict[str, str]:
    """faces, features and folds of one sample, with the row counts of :data:`N_ROWS`."""
    rng = np.random.default_rng(5)
    ids = [f"u{i:06d}" for i in range(N_ROWS)]
    folds = make_folds(ids, id_column="userid", n_outer=2, n_inner=3, seed=1)
    train = np.flatnonzero(folds["outer_fold"].to_numpy() != 1)
    y = rng.integers(0, 2, N_ROWS).astype(float)
    y[train] = 0.0
    y[rng.choice(train, N_ONES, replace=False)] = 1.0
    fit_rows, val_rows = validation_split(y[train], MLP["val_fraction"], MLP["seed"] + 1)
    assert len(train) == 2 * 32_773 and len(fit_rows) == len(val_rows) == 32_773
    X = rng.standard_normal((N_ROWS, N_COLS), dtype=np.float32)
    X[:, 0] += 0.8 * y.astype(np.float32)
    paths = {name: str(root / f"{name}.parquet") for name in ("faces", "features", "folds")}
    write_parquet(pa.Table.from_pandas(pd.DataFrame({"userid": ids, "s": y})), paths["faces"])
    values = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), N_COLS)
    write_parquet(pa.table({"userid": ids, "embedding": values}), paths["features"])
    write_parquet(pa.Table.from_pandas(folds, preserve_index=False), paths["folds"])
    return paths


def run_fold(inputs: dict[str, str], out: Path, threads: int) -> dict[str, bytes]:
    """The bytes of the weights and predictions that fit_mlp_fold writes on ``threads``."""
    return run_rule(
        "fit_mlp_fold",
        out,
        threads,
        input=inputs,
        output={
            "weights": str(out / "weights.safetensors"),
            "predictions": str(out / "predictions.parquet"),
        },
        params={"mlp": MLP, "samples": ["s"], "id_column": "userid"},
        wildcards={"cohort": "c", "sample": "s", "fold": "1"},
    )


@pytest.mark.slow
def test_the_mlp_fold_writes_the_same_bytes_on_1_2_and_4_threads(tmp_path):
    """Weights, training history (validation losses included) and predictions: the same bytes on
    1, 2 and 4 torch threads (4 on a 2-core machine still splits MKL's work in four)."""
    from safetensors import safe_open

    inputs = write_cohort(tmp_path)
    runs = {threads: run_fold(inputs, tmp_path / f"t{threads}", threads) for threads in (1, 2, 4)}
    with safe_open(str(tmp_path / "t1" / "weights.safetensors"), framework="np") as handle:
        facts = json.loads(handle.metadata()["polface"])["fold"]
    assert facts["n_train"] == 2 * 32_773 and len(facts["history"]["val_loss"]) == 2
    for threads in (2, 4):
        for name in ("weights", "predictions"):
            assert runs[threads][name] == runs[1][name], f"{name}: {threads} threads vs 1"


@pytest.mark.parametrize("rows", [32_769, 50_000, 100_003])
def test_the_validation_loss_is_the_same_on_1_2_and_4_threads(rows):
    """torch splits a sum of more than 32,768 values between its threads; the validation loss is
    summed on one, and the threads are restored after. (The logits are the rows themselves: no
    matrix product, whose bits MKL's mode decides, is involved.)"""
    gen = torch.Generator().manual_seed(rows)
    X = 3 * torch.randn(rows, 1, generator=gen)
    y = (torch.rand(rows, generator=gen) < 0.5).float()
    before = torch.get_num_threads()
    losses = {}
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            loss, logits = _mean_loss(nn.Identity(), X, y, 8192, None)
            assert torch.get_num_threads() == threads
            assert logits.tobytes() == X.squeeze(1).numpy().tobytes()
            losses[threads] = loss
    finally:
        torch.set_num_threads(before)
    assert losses[2] == losses[1] and losses[4] == losses[1], losses

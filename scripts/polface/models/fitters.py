"""The fitters that plug into the nested cross-validation (models.nested), and the OSF entries.

A fitter takes one outer training split and returns a predictor for new rows plus what is worth
keeping about the fit. The rules ``fit_lasso_fold``, ``fit_mlp_fold`` and
``fit_interpretable_fold`` call :func:`load_modelling_inputs`, a fitter, and
:func:`fit_sample_models` or :func:`feature_set_predictions` for one outer fold each; the rules
``fit_lasso``, ``fit_mlp`` and ``fit_interpretable`` gather a sample's folds
(:func:`gather_sample_predictions`); the fold rules declare each job's memory with
:func:`fit_memory_mb` and its wall time with :func:`fit_runtime_min` (of :func:`fit_cpu_s`). The
model artifacts are written and read by :mod:`polface.models.artifacts`, the summaries' contents
are made here (:func:`lasso_summary`, :func:`mlp_summary`) and written by
:func:`polface.io.write_json`. Beside them, two generic
pieces for any nested CV: :func:`mean_fitter` (guess the training split's mean) and
:func:`standardised` (record each training column's mean and SD in a fitter's info).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polface.errors import InputError
from polface.io import FeatureRows
from polface.models.folds import MIN_INNER_FOLDS
from polface.models.nested import (
    PREDICT_BLOCK_ROWS,
    Fitter,
    gather_predictions,
    nested_predictions,
)

log = logging.getLogger(__name__)

#: A sample is fitted on an interpretable feature set only with at least this many complete rows.
MIN_COMPLETE_ROWS = 20


def lasso_train_order(solver: str) -> str:
    """The memory order a LASSO's training rows are read in: Fortran for the numba solver, which
    then standardises the array read in place, or fits a float32 one as read (a fit holds its
    training rows once, not twice)."""
    return "F" if solver == "numba" else "C"


def lasso_copy_dtype(n_rows: int, n_cols: int, *, precision: str, memory_budget_mb: float) -> type:
    """The storage type of an ``n_rows x n_cols`` training split for the numba solver (float64:
    a standardised copy; float32: its own values, see :func:`polface.models.lasso.lasso_path`).

    ``precision`` (the config's ``lasso.precision``), except that a float64 copy larger than
    ``memory_budget_mb`` MiB is stored in float32.
    """
    if precision == "float32" or n_rows * n_cols * 8 > memory_budget_mb * 2**20:
        return np.float32
    return np.float64


#: A fit of fewer training values than this (rows x columns) asks for one thread: a few seconds
#: of fitting, where a job's start and its serial parts weigh (see :func:`fit_threads`).
SERIAL_FIT_VALUES = 2**23


def fit_threads(n_train: int, n_cols: int, threads: int) -> int:
    """The threads a fold job asks for: ``threads``, or one for a fit of fewer than
    :data:`SERIAL_FIT_VALUES` training values (a sample's; the interpretable job's largest).

    Such a fit takes seconds (the LASSO's 3-fold CV at 4,000 x 1,024: 3.5 s on one thread, 2.0 s
    on two, ``benchmarks/lasso_threads.py``), and its job also spends about a CPU-second starting
    and some more reading and predicting, on one thread. When more fold jobs are ready than there
    are cores, one-thread jobs side by side finish sooner than two-thread jobs in turn: the
    default run (the 3,000 x 2,048 demo cohort, 5 outer folds, 2 cores) took 116-118 s with this
    threshold and 149-151 s with 2^20, where its two larger samples' folds asked for two threads
    and ran one at a time (``benchmarks/README.md``). Small fits gain least from a second thread:
    266 x 64 took 35 ms on one and 29 ms on two, 1,000 x 256 174 and 104 ms; with both cores busy
    a second thread costs more than it gives, since every lambda opens a parallel region that
    waits for it (266 x 64: 75 ms on one thread, 167 ms and 3.3x the CPU on two). The MLP at 64
    columns (``benchmarks/mlp_epoch.py --cols 64``): 0.029 ms of CPU per row and epoch on one
    thread, 0.052 on two, the same wall time. The bits of neither depend on the threads (the
    MLP's since rule ``fit_mlp_fold`` turns on MKL's strict reproducibility mode:
    :func:`polface.runtime.thread_invariant_torch`), so the SLURM profile may give a fold more.
    """
    if n_train * n_cols < SERIAL_FIT_VALUES:
        return 1
    return threads


# ---- the memory of one fit (one sample, one outer fold), declared by the fold rules
#
# Calibrated on the fold jobs' exact peaks (wait4) of benchmarks/README.md, "The fold jobs' peaks
# at every size": the LASSO, MLP and interpretable fold jobs of cohorts of 3,000, 30,000 and
# 1,085,795 x 2,048 rows, with numba's kernels cached and compiled. With the margin below every
# job is declared 6-19 % above its peak (the compile allowance, which every job of the numba
# solver declares, counted in its peak); tests/test_fold_jobs.py checks 0-25 %.

#: The interpreter with numpy, pandas, pyarrow and numba loaded, and the LASSO's kernels loaded
#: from numba's cache (a 3,000-row cohort's LASSO fold jobs peak at 281-299 MiB).
FIT_BASE_MB = 290
#: torch's share on top of it, for the MLP (those cohorts' MLP fold jobs peak at 445-481 MiB).
TORCH_BASE_MB = 185
#: LLVM's working memory where a job compiles the LASSO's kernels (numba's cache lacks them: the
#: first such job of a checkout, or on a node whose processor the cache was not made for), by
#: how many array layouts it compiles them for: none, one (a LASSO fold: its Fortran-ordered
#: rows; measured 95-109 MiB above the same job with the kernels cached), two (the
#: interpretable job: its one-column feature sets are C-contiguous arrays to numba, the others
#: Fortran; 154-161 MiB). At the published size it adds little or nothing to the job's peak
#: (a Canada LASSO fold: 2,456 MiB compiling, 2,459-2,468 cached; US dating 8,513 and 8,397),
#: where the allowance is a margin.
COMPILE_MB = (0, 115, 170)
#: Per row of the cohort: the faces table, its ids as Python strings, the folds and the labels.
COHORT_ROW_BYTES = 1050
#: Per training row besides its descriptors: y, the folds, and the float64 vectors (residuals,
#: weights, linear predictors) of each of the lockstep's problems.
TRAIN_ROW_BYTES = 300
#: Per predicted row: its scores and its rows of the predictions table.
PREDICT_ROW_BYTES = 200
#: Declared = model x this, so that a fit is not killed at its measured peak.
MEMORY_MARGIN = 1.1


def fit_memory_mb(
    *,
    n_train: int,
    n_predict: int,
    n_cols: int,
    itemsize: int,
    cohort_rows: int,
    copies: float = 1,
    torch: bool = False,
    kernels: int = 0,
) -> int:
    """The memory (MiB) one outer fold's fit needs: its rule's ``mem_mb``.

    ``n_train`` training rows of ``n_cols`` columns held ``copies`` times in ``itemsize``-byte
    numbers (the LASSO: once, in the copy's type, :func:`lasso_copy_dtype`; the MLP:
    :func:`mlp_copies`), ``n_predict`` held-out rows predicted in blocks of
    :data:`polface.models.nested.PREDICT_BLOCK_ROWS` after the training rows are freed, and the
    tables of a cohort of ``cohort_rows`` rows; ``torch``: the job imports torch; ``kernels``: it
    runs the LASSO's numba kernels on arrays of this many layouts, and compiles them where numba's
    cache lacks them (:data:`COMPILE_MB`; :func:`fold_memory_terms` says how many). See the
    constants above for the calibration.
    """
    train = n_train * (n_cols * itemsize * copies + TRAIN_ROW_BYTES)
    predict = min(n_predict, PREDICT_BLOCK_ROWS) * n_cols * itemsize
    fixed = FIT_BASE_MB + (TORCH_BASE_MB if torch else 0) + COMPILE_MB[kernels]
    total = fixed * 2**20 + cohort_rows * COHORT_ROW_BYTES + max(train, predict)
    total += n_predict * PREDICT_ROW_BYTES
    return int(np.ceil(total * MEMORY_MARGIN / 2**20))


def fold_memory_terms(method: str, *, solver: str, val_fraction: float) -> dict[str, Any]:
    """What a fold job of ``method`` (``lasso``, ``mlp`` or ``interpretable``) holds besides its
    rows' count and type: :func:`fit_memory_mb`'s ``copies``, ``torch`` and ``kernels``, for the
    config's ``lasso.solver`` and ``mlp.val_fraction``. The interpretable models build their
    feature set's columns of the whole cohort and copy each fit's rows of them (two copies), and
    run the numba solver on arrays of two layouts (see :data:`COMPILE_MB`); the MLP holds its rows
    once and its validation share again (:func:`mlp_copies`); the torch solver imports torch."""
    if method == "mlp":
        return {"copies": mlp_copies(val_fraction), "torch": True, "kernels": 0}
    if method not in ("lasso", "interpretable"):
        raise ValueError(f"method {method!r}: expected lasso, mlp or interpretable")
    interpretable = method == "interpretable"
    numba = solver == "numba"
    return {
        "copies": 2 if interpretable else 1,
        "torch": not numba,
        "kernels": (2 if interpretable else 1) if numba else 0,
    }


def fold_copy_itemsize(
    method: str, n_train: int, n_cols: int, *, solver: str, precision: str, memory_budget_mb: float
) -> int:
    """The bytes of one number of a fold job's training rows as it holds them
    (:func:`fit_memory_mb`'s ``itemsize``): the interpretable models build their feature sets'
    columns in float64; the MLP reads its rows in float32 (:func:`mlp_train_dtype`), and so does
    a LASSO on the torch solver; a LASSO on the numba solver holds the copy
    :func:`lasso_copy_dtype` chooses for its ``n_train x n_cols`` rows, the config's
    ``lasso.precision`` and ``lasso.memory_budget_mb``."""
    if method == "interpretable":
        return 8
    if method == "mlp" or (method == "lasso" and solver != "numba"):
        return 4
    if method != "lasso":
        raise ValueError(f"method {method!r}: expected lasso, mlp or interpretable")
    dtype = lasso_copy_dtype(
        n_train, n_cols, precision=precision, memory_budget_mb=memory_budget_mb
    )
    return np.dtype(dtype).itemsize


def mlp_copies(val_fraction: float) -> float:
    """How many times an MLP fold holds its training rows in the machine's memory: once, as
    float32 (read so, :func:`mlp_train_dtype`; its tensor shares the array's memory,
    ``torch.from_numpy``, and a GPU's copy is on the device), and its validation share once more
    (the rows that early stopping scores, gathered into a tensor of their own). Measured at the
    published size (benchmarks/README.md, "The MLP's fold jobs"): from the Canada fold to the US
    Facebook and US dating folds the peak grows 10,286 and 8,750 bytes a training row; the model
    counts 1.1 x 8,192 + 1,000 (``TRAIN_ROW_BYTES``) = 10,011; two copies counted 17,384."""
    return 1.0 + val_fraction


# ---- the wall time of a fold job, declared by the fold rules (their SLURM `runtime`)
#
# A fit's CPU seconds are projected from the measured ones of benchmarks/README.md (CPU seconds
# on 2 threads of the development machine, a loaded one); a job's budget is SAFETY_FACTOR times
# that over the speedup its threads can give. Descriptors are DESCRIPTOR_COLS columns unless said.

#: The descriptor columns the calibration was measured at (VGGFace2's 2,048).
DESCRIPTOR_COLS = 2048
#: A LASSO fold's CPU seconds per training row and descriptor column: the full run's US dating
#: outer fold 1, 4,055 CPU-s for 833,963 rows x 2,048 (the exact cv.glmnet procedure, lambda.min
#: at step 57 of 74). Taken from the largest fold measured, not from a line through small ones:
#: the 250,000-row run's folds scaled by rows fall 1.4-3.2x short of the full run's.
LASSO_CELL_CPU_S = 4055 / (833_963 * DESCRIPTOR_COLS)
#: A fold job's CPU seconds per cohort row and descriptor column besides its fit (reading the
#: cohort's features, its tables, predicting the held-out rows): the largest excess of the full
#: run's smaller folds over the slope above, the UK's 432 CPU-s less 55,651 rows x that slope,
#: 162 s for the cohort's 1,085,795 x 2,048 (Canada 125 s, US Facebook 153 s). With both terms
#: the projection is 0-10 % above each fold of the full run and above each of the 250,000-row run.
COHORT_CELL_CPU_S = 162 / (1_085_795 * DESCRIPTOR_COLS)
#: The MLP's CPU seconds per epoch (benchmarks/mlp_epoch.py: 2 torch threads, the schema's
#: hidden 2,048 and batches of 64, at 2,048 columns, Adam's fused kernel, a quiet machine): 0.9 s
#: plus 0.357 ms per row given to the fitter (a US dating fold's 833,963 rows: 299 CPU-s an
#: epoch). The per-row part scales with columns x hidden units (the first layer's products and
#: Adam's update of its weights).
MLP_EPOCH_CPU_S = 0.9
MLP_ROW_CPU_S = 0.357e-3
MLP_HIDDEN = 2048
#: The interpretable models' CPU seconds per training row and feature set (one sample's fit of
#: one set: a LASSO path of a few columns costs its passes over the rows, hardly its width):
#: benchmarks/interpretable_fold.py, the fold job of all 8 sets, the highest per row of the three
#: sizes measured, 17.5 CPU-s for the 97,003 training rows of a 100,000-row cohort (400,000 rows:
#: 43.4 CPU-s; the published 1,085,795: 107.7 CPU-s, 0.57x this rate).
INTERPRETABLE_ROW_CPU_S = 17.5 / (97_003 * 8)
#: A fold job's start (interpreter, pandas, numba's cached kernels, torch): 1.3-3.6 CPU-s measured.
JOB_START_CPU_S = 10.0
#: The budget is this times the projected wall time: the projection's CPU seconds are from a
#: loaded 2-core machine, another node's core may be slower, the parallel efficiency of the
#: threads (assumed 0.8 in benchmarks/fold_schedule.py) was not measured, and folds differ.
RUNTIME_SAFETY = 3.0
#: No fold job asks for less (minutes): SLURM's scheduling and the job's start are not free.
RUNTIME_FLOOR_MIN = 15


def fit_cpu_s(
    *,
    method: str,
    n_train: int,
    n_predict: int,
    n_cols: int,
    cohort_rows: int,
    max_epochs: int = 1,
    hidden: int = MLP_HIDDEN,
) -> float:
    """The projected CPU seconds of one fit (one sample, one outer fold) on 2 threads.

    ``method``: ``lasso`` (the path and its inner CV on ``n_train`` rows of ``n_cols``
    descriptors, in a job that reads a cohort of ``cohort_rows`` rows), ``mlp`` (``max_epochs``
    epochs, the most early stopping lets it run, of a network of ``hidden`` units, and the
    forward pass over ``n_predict`` held-out rows, counted at a training row's cost: an upper
    bound) or ``interpretable`` (one feature set on one sample; ``n_cols`` does not enter).
    Calibrated on CPUs: the MLP on a GPU (``device: auto`` takes one when present) was not
    measured, and this is an upper bound for it. See the constants above for the calibration.
    """
    if method == "interpretable":
        return INTERPRETABLE_ROW_CPU_S * n_train
    read = COHORT_CELL_CPU_S * cohort_rows * n_cols
    if method == "lasso":
        return read + LASSO_CELL_CPU_S * n_train * n_cols
    if method == "mlp":
        row = MLP_ROW_CPU_S * (n_cols * hidden) / (DESCRIPTOR_COLS * MLP_HIDDEN)
        return read + max_epochs * (MLP_EPOCH_CPU_S + row * n_train) + row * n_predict
    raise ValueError(f"method {method!r}: expected lasso, mlp or interpretable")


def fit_speedup(method: str, threads: int, *, inner_folds: int = 10) -> float:
    """How much faster than on one thread a fold job's fit runs on ``threads`` threads, at best.

    The LASSO (and the interpretable models, LASSOs too) solves its path and ``inner_folds``
    inner fits in lockstep, one problem per thread at a time, so ``threads`` t give
    problems / ceil(problems / t) (11 problems: 1.83 on 2 threads, 5.5 on 8, nothing past 11); the
    MLP's torch threads are counted whole.
    """
    threads = max(1, int(threads))
    if method == "mlp":
        return float(threads)
    problems = inner_folds + 1
    return problems / -(-problems // threads)


def fit_runtime_min(
    *,
    method: str,
    cpu_s: float,
    threads: int,
    attempt: int = 1,
    inner_folds: int = 10,
) -> int:
    """The wall time (minutes) of a fold job: its rule's ``runtime`` (SLURM's ``sbatch -t``).

    ``cpu_s``: the job's projected CPU seconds (:func:`fit_cpu_s`, summed over its fits). The
    budget is :data:`RUNTIME_SAFETY` times the job's start and ``cpu_s`` spread over its
    ``threads`` as far as the work allows (:func:`fit_speedup`), in whole minutes rounded up, at
    least :data:`RUNTIME_FLOOR_MIN`, times ``attempt`` (a job killed at its limit asks for more).
    For the MLP on a GPU it is the CPU's budget, an upper bound.
    """
    seconds = (
        RUNTIME_SAFETY
        * (JOB_START_CPU_S + cpu_s)
        / fit_speedup(method, threads, inner_folds=inner_folds)
    )
    return int(attempt) * max(RUNTIME_FLOOR_MIN, int(np.ceil(seconds / 60)))


def expected_fold_rows(sample_rows: Mapping[str, int], n_outer: int) -> tuple[dict[str, int], int]:
    """Training rows per sample and held-out rows of an outer fold, before the folds exist.

    ``make_folds`` deals the rows round-robin after a random permutation, so a sample's rows in
    one fold are about its size / ``n_outer``; three standard deviations are added to the
    training rows so that the estimate is not below the fold with the fewest held-out rows.
    """
    total = sum(sample_rows.values())
    train = {}
    for sample, n in sample_rows.items():
        held = n / n_outer
        train[sample] = int(np.ceil(n - held + 3 * np.sqrt(held)))
    return train, int(np.ceil(total / n_outer + 3 * np.sqrt(total / n_outer)))


def fold_rows(
    labelled: Mapping[str, np.ndarray], outer: np.ndarray
) -> dict[int, tuple[dict[str, int], int]]:
    """Per outer fold: the training rows of each sample and the held-out labelled rows.

    ``labelled`` holds a boolean array per sample (its labelled rows), aligned with ``outer``.
    """
    outer = np.asarray(outer)
    any_label = np.zeros(outer.shape, dtype=bool)
    for rows in labelled.values():
        any_label |= np.asarray(rows, dtype=bool)
    out = {}
    for k in np.unique(outer):
        inside = outer == k
        train = {s: int((np.asarray(rows, bool) & ~inside).sum()) for s, rows in labelled.items()}
        out[int(k)] = (train, int((any_label & inside).sum()))
    return out


def lasso_train_dtype(
    *, precision: str, memory_budget_mb: float, solver: str
) -> Callable[[int, int], Any]:
    """The type a LASSO's training rows (and the rows it predicts) are read in, by split size.

    The storage type (:func:`lasso_copy_dtype`) for the numba solver, so that, read in
    :func:`lasso_train_order`, the rows are standardised in place (float64) or fitted as read
    (float32); for the torch solver None (as stored).
    """

    def dtype(n_rows: int, n_cols: int) -> Any:
        if solver != "numba":
            return None
        return lasso_copy_dtype(
            n_rows, n_cols, precision=precision, memory_budget_mb=memory_budget_mb
        )

    return dtype


def mlp_train_dtype(n_rows: int, n_cols: int) -> Any:
    """The MLP computes in float32: its rows are read so (the same numbers as a later cast)."""
    return np.float32


def check_inner_folds(y: np.ndarray, inner: np.ndarray, family: str) -> None:
    """Check that the inner folds of one training split can tune a LASSO.

    There must be at least :data:`MIN_INNER_FOLDS` of them, and the rows outside each inner fold
    (an inner fit's training rows) must hold both classes (binomial) or two different values
    (gaussian). Raises :class:`polface.errors.InputError` naming the inner fold.
    """
    folds = np.unique(inner)
    if folds.size < MIN_INNER_FOLDS:
        listed = ", ".join(str(int(f)) for f in folds)
        raise InputError(
            f"the training rows fall in {folds.size} inner fold(s) ({listed}); the LASSO's inner"
            f" cross-validation needs at least {MIN_INNER_FOLDS} (cv.glmnet's minimum)"
        )
    for fold in folds:
        rest = y[inner != fold]
        if np.unique(rest).size < 2:
            kind = "both 0 and 1" if family == "binomial" else "two different values"
            raise InputError(
                f"inner fold {int(fold)}: the {rest.size} training rows outside it are all"
                f" {rest[0]:g}; each inner fit needs {kind}"
            )


def lasso_fitter(
    *,
    lambda_choice: str,
    nlambda: int,
    lambda_min_ratio: float | None,
    early_stop_patience: int | None,
    solver: str,
    precision: str,
    memory_budget_mb: float,
    n_threads: int | None,
    family: str,
) -> Fitter:
    """cv.glmnet on the training split (inner folds), predicting at `lambda_choice`.

    The settings are the config's ``lasso`` block (defaults in the schema). ``solver="numba"`` is
    glmnet's coordinate descent (exact); ``"torch"`` solves all CV problems as one batched
    proximal-gradient problem in torch, on the GPU when there is one. ``precision`` and
    ``memory_budget_mb`` give the storage type of X (:func:`lasso_copy_dtype`); ``family`` is
    ``"binomial"`` (0/1 samples) or ``"gaussian"`` (ratings). The numba solver standardises a
    Fortran-ordered float64 X in place, and fits a float32 one as it is
    (:func:`lasso_train_order`; the fitter owns its X, see :data:`polface.models.nested.Fitter`).
    The info of each fit holds ``a0`` and ``beta`` (original scale), ``lambda``, ``step``, the
    CV curve and ``x_dtype``, the type X was stored in.
    """
    from polface.models.lasso import EarlyStop, cv_lasso

    early = EarlyStop(patience=early_stop_patience) if early_stop_patience else None
    options = {"nlambda": nlambda, "lambda_min_ratio": lambda_min_ratio, "early_stop": early}
    if solver == "torch":
        from polface.device import resolve_device
        from polface.models.lasso.fista import cv_lasso_torch

        device = resolve_device("auto")

        def cross_validate(X, y, inner, dtype):
            return cv_lasso_torch(X, y, inner, family, device=device, **options)
    else:

        def cross_validate(X, y, inner, dtype):
            return cv_lasso(
                X, y, inner, family, n_threads=n_threads, dtype=dtype, overwrite_x=True, **options
            )

    def fit(X, y, inner, outer_fold):
        check_inner_folds(y, inner, family)
        dtype = (
            np.float32
            if solver == "torch"
            else lasso_copy_dtype(*X.shape, precision=precision, memory_budget_mb=memory_budget_mb)
        )
        cv = cross_validate(X, y, inner, dtype)
        index = cv.index_min if lambda_choice == "lambda.min" else cv.index_1se
        a0, beta = cv.path.coef(index)
        info = {
            "lambda": float(cv.lambdas[index]),
            "step": int(index) + 1,
            "n_lambdas_fitted": int(len(cv.lambdas)),
            "n_nonzero": int(np.count_nonzero(beta)),
            "stopped_early": bool(cv.stopped_early),
            "x_dtype": np.dtype(dtype).name,
            "a0": a0,
            "beta": beta,
            "cv_lambda": cv.lambdas,
            "cv_mean": cv.cvm,
            "cv_sd": cv.cvsd,
        }
        return (lambda X_new: cv.predict(X_new, lambda_choice)), info

    return fit


def mlp_fitter(
    *,
    enabled: bool,
    hidden: int,
    dropout: float,
    learning_rate: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    val_fraction: float,
    seed: int,
    device: str,
) -> Fitter:
    """The Khan et al. network; outer fold k is seeded with ``seed + k``.

    The settings are the config's ``mlp`` block (defaults in the schema); ``enabled`` must be true
    (the workflow fits the MLP only then). ``device`` as in :func:`polface.device.resolve_device`.
    """
    from polface.models.mlp import fit_mlp, predict_mlp

    if not enabled:
        raise ValueError("mlp.enabled is false: the MLP is switched off in the config")

    def fit(X, y, inner, outer_fold):
        state, history = fit_mlp(
            X,
            y,
            seed=int(seed) + outer_fold,
            val_fraction=val_fraction,
            max_epochs=max_epochs,
            patience=patience,
            batch_size=batch_size,
            lr=learning_rate,
            hidden=hidden,
            dropout=dropout,
            device=device,
        )
        info = {"state": state, "history": history, "best_epoch": history["best_epoch"]}
        return (lambda X_new: predict_mlp(state, X_new, device=device)), info

    return fit


def lasso_summary(infos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The scalar facts of each outer fold's LASSO (for the JSON summary)."""
    keys = ("outer_fold", "n_train", "lambda", "step", "n_lambdas_fitted", "n_nonzero")
    return [
        {k: info[k] for k in keys}
        | {"stopped_early": info["stopped_early"], "x_dtype": info["x_dtype"]}
        for info in infos
    ]


def mlp_summary(infos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per outer fold: training size, best epoch and the training history."""
    return [
        {"outer_fold": i["outer_fold"], "n_train": i["n_train"], "history": i["history"]}
        for i in infos
    ]


def load_modelling_inputs(
    *, faces_path: str | Path, features_path: str | Path, folds_path: str | Path, id_column: str
) -> tuple[pd.DataFrame, FeatureRows, pd.DataFrame]:
    """faces, descriptors and folds of a cohort, checked to be aligned row by row.

    The descriptors are a :class:`polface.io.FeatureRows`: only their ids are read here; each
    fit reads the rows it needs (:func:`polface.models.nested.nested_predictions`). The folds
    must be integers >= 1 with at least two outer folds and enough inner folds in every outer
    training split (:func:`polface.models.folds.check_fold_numbers`); every problem is an
    :class:`polface.errors.InputError` naming the file.
    """
    from polface.frames import FOLD_COLUMNS, fold_columns, require_aligned, require_columns
    from polface.models.folds import check_fold_numbers

    faces = pd.read_parquet(faces_path)
    require_columns(faces, [id_column], table=str(faces_path))
    X = FeatureRows(features_path, id_column)
    ids = X.ids
    folds = pd.read_parquet(folds_path)
    require_columns(folds, fold_columns(id_column=id_column), table=str(folds_path))
    expected = faces[id_column].astype(str).tolist()
    for name, path, other in (
        ("features", features_path, ids),
        ("folds", folds_path, folds[id_column].astype(str).tolist()),
    ):
        require_aligned(expected, other, name=f"{path}: the {name}", table=str(faces_path))
    for column in FOLD_COLUMNS:
        values = pd.to_numeric(folds[column], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(values) & (values >= 1) & (values == np.round(values)))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = folds[column].iloc[row]
            shown = value.item() if isinstance(value, np.generic) else value  # 2.5, not np.float64
            raise InputError(
                f"{folds_path}: row {row + 1} ({id_column} {expected[row]!r}): {column} ="
                f" {shown!r}, expected an integer >= 1"
            )
    check_fold_numbers(folds["outer_fold"], folds["inner_fold"], source=str(folds_path))
    return faces, X, folds


def fit_sample_models(
    faces: pd.DataFrame,
    X: np.ndarray | FeatureRows,
    folds: pd.DataFrame,
    *,
    sample: str,
    samples: Sequence[str],
    fit: Fitter,
    method: str,
    id_column: str,
    target_column: str,
    train_dtype: Callable[[int, int], Any] | None = None,
    train_order: str = "C",
    outer_folds: Sequence[int] | None = None,
    files: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The models of one sample in the nested scheme and their out-of-fold predictions.

    ``X``, ``train_dtype``, ``train_order``, ``outer_folds`` and ``files`` (the paths of
    ``faces``, ``features`` and ``folds``, named in errors) as in
    :func:`polface.models.nested.nested_predictions`.

    Returns the predictions ``method, model, <target_column>, <id_column>, outer_fold, y, score``
    and the per-outer-fold infos of the fitter (for the method's model artifacts).
    """
    predictions, infos = nested_predictions(
        X,
        faces,
        folds,
        sample,
        fit,
        samples=samples,
        id_column=id_column,
        target_column=target_column,
        model_column="model",
        train_dtype=train_dtype,
        train_order=train_order,
        outer_folds=outer_folds,
        files=files,
    )
    predictions.insert(0, "method", method)
    return predictions, infos


def gather_sample_predictions(
    paths: Sequence[str | Path], *, samples: Sequence[str], id_column: str, target_column: str
) -> pd.DataFrame:
    """The out-of-fold predictions of one model, gathered from its fold jobs' parquet files.

    The rows and their order are those of :func:`fit_sample_models` (and of
    :func:`feature_set_predictions`) fitting every outer fold in one process.
    """
    frames = [pd.read_parquet(path) for path in paths]
    return gather_predictions(
        frames,
        samples,
        target_column=target_column,
        id_column=id_column,
        source=", ".join(str(p) for p in paths),
    )


def feature_set_predictions(
    features: pd.DataFrame,
    faces: pd.DataFrame,
    folds: pd.DataFrame,
    *,
    feature_set: str,
    samples: Sequence[str],
    fit: Fitter,
    id_column: str,
    target_column: str,
    outer_folds: Sequence[int] | None = None,
    files: Mapping[str, Any] | None = None,
    train_order: str = "C",
) -> pd.DataFrame:
    """Table S1's models: one feature set, fitted and scored within each sample.

    ``features`` are the set's columns, aligned with ``faces`` and ``folds``. Rows with a missing
    feature are left out; a sample with fewer than
    :data:`MIN_COMPLETE_ROWS` complete rows is skipped (logged). ``outer_folds`` (default all:
    the rule fits one per job), ``files`` and ``train_order`` as in
    :func:`polface.models.nested.nested_predictions` (the rule asks for the LASSO's
    :func:`lasso_train_order`, so that its kernels are the ones the LASSO's fold jobs compiled).

    Returns:
        ``feature_set, <target_column>, <id_column>, outer_fold, y, score``.

    Raises:
        ValueError: no sample has enough complete rows.
    """
    usable = features.notna().all(axis=1).to_numpy()
    X = features.to_numpy(dtype="float64")
    frames = []
    for sample in samples:
        rows = usable & faces[sample].notna().to_numpy()
        if rows.sum() < MIN_COMPLETE_ROWS:
            log.info(
                "%s: %d rows with complete %s features, skipped", sample, rows.sum(), feature_set
            )
            continue
        predictions, _ = nested_predictions(
            X,
            faces,
            folds,
            sample,
            fit,
            samples=samples,
            id_column=id_column,
            target_column=target_column,
            model_column="feature_set",
            model_name=feature_set,
            usable=usable,
            own_sample_only=True,
            outer_folds=outer_folds,
            files=files,
            train_order=train_order,
        )
        frames.append(predictions)
    if not frames:
        raise InputError(
            f"feature set {feature_set!r}: no sample has {MIN_COMPLETE_ROWS} rows with complete"
            f" {feature_set} features"
        )
    return pd.concat(frames, ignore_index=True)


def mean_fitter() -> Fitter:
    """The baseline that predicts the mean of the outer training split for every row."""

    def fit(X, y, inner, outer_fold):
        mean = float(np.mean(y))
        return (lambda X_new: np.full(len(X_new), mean)), {"mean": mean}

    return fit


def standardised(fit: Fitter) -> Fitter:
    """``fit``, with the mean and population SD of each training column added to its info."""

    def wrapped(X, y, inner, outer_fold):
        # before the fit, which may overwrite X (polface.models.nested.Fitter)
        mean = X.mean(axis=0, dtype=np.float64)
        sd = np.sqrt(np.mean((X - mean) ** 2, axis=0, dtype=np.float64))
        predict, info = fit(X, y, inner, outer_fold)
        return predict, {**info, "x_mean": mean, "x_sd": sd}

    return wrapped

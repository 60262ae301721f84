"""Every CUDA path of the project against its CPU result, and how fast each runs: one device run.

Five independent sections, each run on ``cpu`` and, when ``torch.cuda.is_available()``, on
``cuda`` with the same seeds and the same synthetic data (made here from a seeded generator;
networks are seeded random: nothing is downloaded and nothing is read from ../shared):

``embeddings``       a batch of ``--embed-images`` seeded random ``--image-size`` px RGB images
                     through :class:`polface.images.embed.Embedder` (``load_embedder`` with a
                     seeded random VGGFace2-layout ResNet-50 written as safetensors): max
                     |difference|, smallest cosine similarity, images per second after a warm-up
                     (on ``cuda`` over ``--embed-repeats`` passes of the batch).
``mlp``              :func:`polface.models.fitters.mlp_fitter` (what rule fit_mlp_fold fits; the
                     schema's ``mlp`` defaults, ``--mlp-epochs`` epochs) on ``--mlp-rows`` x
                     ``--mlp-cols`` planted-logistic rows: max |difference| of the predicted
                     probabilities on held-out rows, the AUC on each device, seconds per epoch;
                     on ``cuda`` only, one epoch at ``--mlp-wide-rows`` x ``--mlp-wide-cols``
                     (timing only: seconds per epoch per training row, for issue 22's projection
                     of an MLP fold on a GPU).
``lasso``            :func:`polface.models.lasso.fista.lasso_path_torch` (batched FISTA) on each
                     device against the exact coordinate descent
                     (:func:`polface.models.lasso.lasso_path`) on one binomial problem: max
                     coefficient difference over the common lambdas, the same nonzero set at
                     every lambda or not, seconds.
``lime``             one explanation: :class:`polface.explain.explanations.RowScorer` with
                     ``mask_device`` (the masked images made on the device) over
                     ``--lime-samples`` rows of a ``--lime-grid`` squared grid segmentation, a
                     linear readout of the embeddings and :func:`polface.explain.lime.fit_local`:
                     the masked images identical or not, max |difference| of the outputs and
                     of the feature weights, the top ``--lime-top`` segments identical or not,
                     seconds.
``trait_regressor``  :func:`polface.models.trait_regressor.fit_trait_regressor` (no augmentation,
                     dropout ``--trait-dropout``, 0 by default so that both devices draw no random
                     masks and train the same arithmetic) for ``--trait-epochs`` epochs on a
                     ``--trait-backbone`` backbone: max |difference| of the predictions of
                     held-out images, backbone images per second, seconds per head epoch.

A section that fails prints its traceback, records it in the JSON (``status: error``) and the
script goes on. The header gives the GPU's name, torch, CUDA and cuDNN versions and the load
average (before and after; the GPU's utilisation where nvidia-ml-py answers).

On the lent device machine (``python3`` there has torch but neither dlib nor lime): put lime's
two files in a folder that travels (once, in the checkout the session sends)::

    mkdir -p .device-site/lime  # git-ignored
    cp .venv/lib/python3.*/site-packages/lime/{__init__,lime_base}.py .device-site/lime/

then the one ``run`` call (well inside 5 minutes; ``carry`` names the folder)::

    PYTHONUNBUFFERED=1 PYTHONPATH=scripts:.device-site python3 benchmarks/cuda_check.py \\
        --out $OUT/cuda_check.json

(``PYTHONPATH=scripts python3 benchmarks/cuda_check.py --out $OUT/cuda_check.json`` without the
folder runs everything but the ``lime`` section, which then records that lime is missing.)
dlib is not needed: none of the checked paths calls it, and polface imports dlib only where it is
used (:func:`polface.images.crop.import_dlib`).

Here (CPU only; each section runs its CPU half and records the CUDA half as skipped)::

    PYTHONPATH=scripts .venv/bin/python benchmarks/cuda_check.py --quick   # 10-30 s
    PYTHONPATH=scripts .venv/bin/python benchmarks/cuda_check.py           # the device's sizes

``--only`` picks sections; every size is an option (``--help``). ``--stand-in-cuda`` (without
CUDA) runs the cuda half on the CPU, so that the comparisons run too: a test of this script
(tests/test_cuda_check.py), not of CUDA.

The JSON goes to ``--out`` (default ``$OUT/cuda_check.json`` where ``OUT`` is set, else
benchmarks/out/cuda_check.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))  # as PYTHONPATH=scripts; polface is imported on use
SECTIONS = ("embeddings", "mlp", "lasso", "lime", "trait_regressor")

#: Sizes of the device run (default) and of the smoke run (``--quick``).
FULL = {
    "embed_images": 64, "embed_batch": 32, "embed_repeats": 4, "image_size": 224,
    "mlp_rows": 20_000, "mlp_cols": 512, "mlp_epochs": 3, "mlp_test_rows": 5_000, "mlp_hidden": 0,
    "mlp_wide_rows": 100_000, "mlp_wide_cols": 2_048,
    "lasso_rows": 4_000, "lasso_cols": 400, "lasso_nlambda": 20,
    "lime_samples": 128, "lime_grid": 7, "lime_batch": 32, "lime_top": 5,
    "trait_backbone": "resnet50", "trait_train": 64, "trait_val": 32, "trait_test": 32,
    "trait_hidden": 256, "trait_epochs": 2, "trait_dropout": 0.0,
}  # fmt: skip
QUICK = {
    **FULL,
    "embed_images": 4, "embed_batch": 4, "embed_repeats": 1, "image_size": 64,
    "mlp_rows": 2_000, "mlp_cols": 64, "mlp_epochs": 2, "mlp_test_rows": 500, "mlp_hidden": 256,
    "mlp_wide_rows": 2_000, "mlp_wide_cols": 128,
    "lasso_rows": 400, "lasso_cols": 40, "lasso_nlambda": 20,
    "lime_samples": 16, "lime_grid": 4, "lime_batch": 8,
    "trait_backbone": "tiny", "trait_train": 32, "trait_val": 16, "trait_test": 16,
    "trait_hidden": 16,
}  # fmt: skip


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings end when the work has ended)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], Any]) -> tuple[Any, float]:
    """``work()``'s result and its wall seconds, the device synchronised at both ends."""
    sync(device)
    start = time.perf_counter()
    result = work()
    sync(device)
    return result, time.perf_counter() - start


def schema_defaults(name: str) -> dict[str, Any]:
    """The config's ``name`` block as the schema fills it in."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    return {k: v["default"] for k, v in schema["properties"][name]["properties"].items()}


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute elementwise difference (NaN-aware: a NaN on one side only is inf)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    diff = np.abs(a - b)
    diff[np.isnan(a) != np.isnan(b)] = np.inf
    return float(np.nanmax(diff)) if diff.size else 0.0


class Run:
    """The devices of this run and how each section records its per-device halves.

    ``halves`` maps ``cpu`` and, when CUDA is available, ``cuda`` to their devices;
    ``--stand-in-cuda`` (a test of this script, not of CUDA) runs the ``cuda`` half on the CPU,
    with the torch masking of LIME, so that the comparisons are exercised without a GPU.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.devices = {"cpu": torch.device("cpu")}
        if torch.cuda.is_available():
            self.devices["cuda"] = torch.device("cuda", torch.cuda.current_device())
        elif args.stand_in_cuda:
            self.devices["cuda"] = torch.device("cpu")
        self.skipped = None if "cuda" in self.devices else "skipped: CUDA is not available"
        self.embedders: dict[str, Any] | None = None

    def halves(self, work: Callable[[str, torch.device], dict[str, Any]]) -> dict[str, Any]:
        """``{"cpu": work("cpu", cpu), "cuda": work("cuda", cuda) or why it was skipped}``."""
        out = {half: work(half, device) for half, device in self.devices.items()}
        if self.skipped:
            out["cuda"] = self.skipped
        return out


def random_embedder_file(folder: Path, seed: int) -> Path:
    """A seeded random VGGFace2-layout (Caffe) ResNet-50 as safetensors, as a weights file."""
    from safetensors.torch import save_file

    from polface.images.resnet import ResNet50

    torch.manual_seed(seed)
    state = ResNet50("caffe").state_dict()
    path = folder / "random_resnet50_caffe.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def embedders(run: Run, folder: Path) -> dict[str, Any]:
    """One :class:`~polface.images.embed.Embedder` per device, all with the same weights (made
    once per run: the embeddings and LIME sections share them)."""
    from polface.images.embed import load_embedder

    if run.embedders is not None:
        return run.embedders
    weights = random_embedder_file(folder, run.args.seed)
    run.embedders = {
        half: load_embedder("vggface2", weights_path=weights, device=str(device))
        for half, device in run.devices.items()
    }
    return run.embedders


def check_embeddings(run: Run, folder: Path) -> dict[str, Any]:
    a = run.args
    rng = np.random.default_rng(a.seed)
    size = a.image_size
    images = rng.integers(0, 256, size=(a.embed_images, size, size, 3), dtype=np.uint8)
    nets = embedders(run, folder)
    results: dict[str, np.ndarray] = {}

    def embed_all(half: str, device: torch.device) -> dict[str, Any]:
        net = nets[half]
        net.embed(images[: min(2, len(images))])  # warm-up (cuDNN autotuning, allocations)

        repeats = a.embed_repeats if half == "cuda" else 1

        def passes() -> np.ndarray:
            for _ in range(repeats):
                out = [
                    net.embed(images[s : s + a.embed_batch])
                    for s in range(0, len(images), a.embed_batch)
                ]
            return np.concatenate(out)

        vectors, seconds = timed(device, passes)
        results[half] = vectors
        n = len(images) * repeats
        return {
            "device": net.describe_device(),
            "images": n,
            "seconds": seconds,
            "images_per_s": n / seconds,
        }

    out = run.halves(embed_all)
    out["setup"] = {"images": len(images), "size": size, "batch": a.embed_batch}
    if "cuda" in results:
        cpu, gpu = results["cpu"].astype(np.float64), results["cuda"].astype(np.float64)
        cosine = (cpu * gpu).sum(1) / (np.linalg.norm(cpu, axis=1) * np.linalg.norm(gpu, axis=1))
        out["comparison"] = {
            "max_abs_diff": max_abs(cpu, gpu),
            "max_abs_cpu": float(np.abs(cpu).max()),
            "cosine_min": float(cosine.min()),
        }
    return out


def planted_logistic(rows: int, cols: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal float32 features and 0/1 labels from a planted logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols), dtype=np.float32)
    w = rng.standard_normal(cols) * (2.0 / np.sqrt(cols))
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(X @ w)))).astype(np.float64)
    return X, y


def check_mlp(run: Run, folder: Path) -> dict[str, Any]:
    from polface.metrics import auc
    from polface.models.fitters import mlp_fitter

    a = run.args
    X, y = planted_logistic(a.mlp_rows + a.mlp_test_rows, a.mlp_cols, a.seed)
    X_train, X_test = X[: a.mlp_rows], X[a.mlp_rows :]
    y_train, y_test = y[: a.mlp_rows], y[a.mlp_rows :]
    defaults = {**schema_defaults("mlp"), "enabled": True, "seed": a.seed}
    if a.mlp_hidden:
        defaults["hidden"] = a.mlp_hidden
    probabilities: dict[str, np.ndarray] = {}

    def fit(device: torch.device, X: np.ndarray, y: np.ndarray, epochs: int) -> tuple:
        fitter = mlp_fitter(**{**defaults, "max_epochs": epochs, "device": str(device)})
        (predict, info), seconds = timed(device, lambda: fitter(X, y, None, 0))
        history = info["history"]
        if len(history["epoch"]) != epochs:
            raise RuntimeError(f"{len(history['epoch'])} epochs ran, {epochs} asked")
        return predict, history, seconds

    def one(half: str, device: torch.device) -> dict[str, Any]:
        predict, history, seconds = fit(device, X_train, y_train, a.mlp_epochs)
        p = predict(X_test)
        probabilities[half] = p
        record = {
            "n_train": history["n_train"],
            "epochs": a.mlp_epochs,
            "seconds": seconds,
            "s_per_epoch": seconds / a.mlp_epochs,
            "auc": auc(y_test, p),
        }
        if half == "cuda":
            Xw, yw = planted_logistic(a.mlp_wide_rows, a.mlp_wide_cols, a.seed + 1)
            _, wide, wide_s = fit(device, Xw, yw, 1)
            record["wide_epoch"] = {
                "rows": a.mlp_wide_rows,
                "cols": a.mlp_wide_cols,
                "n_train": wide["n_train"],
                "s_per_epoch": wide_s,
                "s_per_epoch_per_train_row": wide_s / wide["n_train"],
            }
        return record

    out = run.halves(one)
    out["setup"] = {
        "rows": a.mlp_rows, "cols": a.mlp_cols, "test_rows": a.mlp_test_rows,
        "settings": {k: v for k, v in defaults.items() if k != "device"},
    }  # fmt: skip
    if "cuda" in probabilities:
        out["comparison"] = {
            "max_abs_diff_probability": max_abs(probabilities["cpu"], probabilities["cuda"])
        }
    return out


def support_mismatches(a: np.ndarray, b: np.ndarray) -> int:
    """Lambdas (rows) at which the nonzero sets of two coefficient paths differ."""
    return int(np.any((a != 0) != (b != 0), axis=1).sum())


def check_lasso(run: Run, folder: Path) -> dict[str, Any]:
    from polface.models.lasso import lasso_path
    from polface.models.lasso.fista import lasso_path_torch

    a = run.args
    rng = np.random.default_rng(a.seed)
    X = rng.standard_normal((a.lasso_rows, a.lasso_cols), dtype=np.float32)
    w = np.zeros(a.lasso_cols)
    w[: max(1, a.lasso_cols // 20)] = rng.choice([-1.0, 1.0], max(1, a.lasso_cols // 20))
    y = (rng.random(a.lasso_rows) < 1.0 / (1.0 + np.exp(-(X @ w)))).astype(np.float64)
    cpu = torch.device("cpu")
    lasso_path(X[:50, :5], y[:50], "binomial", nlambda=3)  # compile (or load) numba's kernels
    for device in run.devices.values():  # and warm each device up
        lasso_path_torch(X[:50, :5], y[:50], "binomial", nlambda=3, device=device)
    exact, exact_s = timed(cpu, lambda: lasso_path(X, y, "binomial", nlambda=a.lasso_nlambda))
    paths = {}

    def one(half: str, device: torch.device) -> dict[str, Any]:
        path, seconds = timed(
            device,
            lambda: lasso_path_torch(X, y, "binomial", nlambda=a.lasso_nlambda, device=device),
        )
        paths[half] = path
        L = min(len(path.lambdas), len(exact.lambdas))
        worst = np.unravel_index(np.argmax(np.abs(path.beta[:L] - exact.beta[:L])), (L, X.shape[1]))
        return {
            "seconds": seconds,
            "n_lambdas": len(path.lambdas),
            "stop_reason": path.stop_reason,
            "vs_exact": {
                "common_lambdas": L,
                "max_abs_diff_lambda": max_abs(path.lambdas[:L], exact.lambdas[:L]),
                "max_abs_diff_beta": max_abs(path.beta[:L], exact.beta[:L]),
                "max_abs_beta_exact": float(np.abs(exact.beta[:L]).max()),
                "worst_lambda_index_and_column": [int(i) for i in worst],
                "max_abs_diff_intercept": max_abs(path.a0[:L], exact.a0[:L]),
                "lambdas_with_other_nonzero_set": support_mismatches(path.beta[:L], exact.beta[:L]),
                "same_nonzero_sets": support_mismatches(path.beta[:L], exact.beta[:L]) == 0,
            },
        }

    out = run.halves(one)
    out["exact"] = {
        "seconds": exact_s, "n_lambdas": len(exact.lambdas), "stop_reason": exact.stop_reason,
    }  # fmt: skip
    out["setup"] = {"rows": a.lasso_rows, "cols": a.lasso_cols, "nlambda": a.lasso_nlambda}
    if "cuda" in paths:
        c, g = paths["cpu"], paths["cuda"]
        L = min(len(c.lambdas), len(g.lambdas))
        out["comparison"] = {
            "common_lambdas": L,
            "max_abs_diff_beta": max_abs(c.beta[:L], g.beta[:L]),
            "same_nonzero_sets": support_mismatches(c.beta[:L], g.beta[:L]) == 0,
        }
    return out


class LinearReadout:
    """A seeded linear readout of the embeddings (stands for a fitted model's logit)."""

    def __init__(self, dim: int, seed: int) -> None:
        self.w = np.random.default_rng(seed).standard_normal(dim) / np.sqrt(dim)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(embeddings, np.float64) @ self.w


def grid_labels(size: int, grid: int) -> np.ndarray:
    """``(size, size)`` labels of a ``grid`` x ``grid`` block segmentation, row-major."""
    cells = np.minimum(np.arange(size) * grid // size, grid - 1)
    return (cells[:, None] * grid + cells[None, :]).astype(np.int64)


def check_lime(run: Run, folder: Path) -> dict[str, Any]:
    from polface.explain.explanations import Readout, RowScorer
    from polface.explain.lime import (
        LIME_KERNEL_WIDTH,
        fit_local,
        hide_image,
        perturb,
        perturb_torch,
        sample_masks,
    )
    from polface.explain.segments import Segmentation

    a = run.args
    rng = np.random.default_rng(a.seed)
    image = rng.integers(0, 256, size=(a.image_size, a.image_size, 3), dtype=np.uint8)
    labels = grid_labels(a.image_size, a.lime_grid)
    names = tuple(f"cell{i}" for i in range(a.lime_grid**2))
    segmentation = Segmentation(labels, names, "grid", {"grid": a.lime_grid})
    hidden = hide_image(image, (128, 128, 128))
    masks = sample_masks(a.lime_samples, segmentation.n_segments, seed=a.seed)
    nets = embedders(run, folder)
    readout = Readout("trait", "model", "logit", LinearReadout(nets["cpu"].dim, a.seed))
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def one(half: str, device: torch.device) -> dict[str, Any]:
        net = nets[half]
        net.embed(image[None])  # warm-up
        mask_device = None if half == "cpu" else net.device
        record: dict[str, Any] = {"mask_device": str(mask_device)}
        if mask_device is not None:
            chunk = masks[: a.lime_batch]
            on_device = perturb_torch(image, labels, chunk, hidden, mask_device).cpu().numpy()
            record["masked_images_identical"] = bool(
                np.array_equal(on_device, perturb(image, labels, chunk, hidden))
            )
        scorer = RowScorer(
            net.embed, image, segmentation, hidden, [readout],
            batch_size=a.lime_batch, progress=False, mask_device=mask_device,
        )  # fmt: skip
        outputs, seconds = timed(device, lambda: scorer(masks))
        fit = fit_local(masks, outputs[:, 0], kernel_width=LIME_KERNEL_WIDTH, seed=a.seed)
        found[half] = (outputs[:, 0], fit.weights)
        record |= {
            "forward_passes": scorer.forward_passes,
            "seconds": seconds,
            "images_per_s": scorer.forward_passes / seconds,
            "local_r2": fit.score,
        }
        return record

    out = run.halves(one)
    out["setup"] = {
        "size": a.image_size, "segments": segmentation.n_segments, "samples": a.lime_samples,
        "batch": a.lime_batch, "top": a.lime_top,
    }  # fmt: skip
    if "cuda" in found:
        (oc, wc), (og, wg) = found["cpu"], found["cuda"]
        top = a.lime_top
        top_cpu = np.argsort(-np.abs(wc), kind="stable")[:top]
        top_gpu = np.argsort(-np.abs(wg), kind="stable")[:top]
        out["comparison"] = {
            "max_abs_diff_output": max_abs(oc, og),
            "max_abs_diff_weight": max_abs(wc, wg),
            "max_abs_weight_cpu": float(np.abs(wc).max()),
            "top_segments_identical": bool(np.array_equal(top_cpu, top_gpu)),
            "top_segments_same_set": set(top_cpu.tolist()) == set(top_gpu.tolist()),
        }
    return out


def check_trait_regressor(run: Run, folder: Path) -> dict[str, Any]:
    from polface.models import trait_regressor as tr

    a = run.args
    size = 224 if a.trait_backbone == "resnet50" else a.image_size
    rng = np.random.default_rng(a.seed)
    n = a.trait_train + a.trait_val + a.trait_test
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    y = rng.standard_normal(n).astype(np.float32)
    train, val, test = np.split(images, [a.trait_train, a.trait_train + a.trait_val])
    y_train, y_val = y[: a.trait_train], y[a.trait_train : a.trait_train + a.trait_val]
    settings = tr.TrainingSettings(
        augmentation=None, hidden=a.trait_hidden, dropout=a.trait_dropout, l2=0.01,
        learning_rate=1e-3, batch_size=16, max_epochs=a.trait_epochs, patience=a.trait_epochs + 1,
        lr_patience=a.trait_epochs + 1, lr_factor=0.1, min_delta=1e-4, val_loss="keras",
        seed=a.seed,
    )  # fmt: skip
    predictions: dict[str, np.ndarray] = {}

    def one(half: str, device: torch.device) -> dict[str, Any]:
        backbone = tr.build_backbone(a.trait_backbone, seed=a.seed).to(device)
        options = {"preprocessing": "caffe", "batch_size": 16, "device": device}
        tr.image_features(backbone, train[:2], **options)  # warm-up

        def features() -> tuple[Any, Any]:
            return tr.image_features(backbone, train, **options), tr.image_features(
                backbone, val, **options
            )

        cached, backbone_s = timed(device, features)
        fit, fit_s = timed(
            device,
            lambda: tr.fit_trait_regressor(
                train, y_train, val, y_val, backbone=backbone, preprocessing="caffe",
                settings=settings, seed=a.seed, device=device, cached_features=cached,
                progress=None,
            ),
        )  # fmt: skip
        if len(fit.history) != a.trait_epochs:
            raise RuntimeError(f"{len(fit.history)} epochs ran, {a.trait_epochs} asked")
        predictions[half] = tr.predict_images(backbone, fit.head, test, **options)
        return {
            "backbone_images_per_s": (len(train) + len(val)) / backbone_s,
            "s_per_epoch": fit_s / a.trait_epochs,
            "val_loss": [r["val_loss"] for r in fit.history],
        }

    out = run.halves(one)
    out["setup"] = {
        "backbone": a.trait_backbone, "size": size, "train": a.trait_train, "val": a.trait_val,
        "test": a.trait_test, "hidden": a.trait_hidden, "epochs": a.trait_epochs,
        "dropout": a.trait_dropout,
    }  # fmt: skip
    if "cuda" in predictions:
        out["comparison"] = {
            "max_abs_diff_prediction": max_abs(predictions["cpu"], predictions["cuda"]),
            "sd_prediction_cpu": float(np.std(predictions["cpu"])),
        }
    return out


CHECKS: dict[str, Callable[[Run, Path], dict[str, Any]]] = {
    "embeddings": check_embeddings,
    "mlp": check_mlp,
    "lasso": check_lasso,
    "lime": check_lime,
    "trait_regressor": check_trait_regressor,
}


def gpu_utilisation() -> Any:
    """The GPU's utilisation in percent where nvidia-ml-py answers, else why not."""
    try:
        return torch.cuda.utilization()
    except Exception as error:  # noqa: BLE001 (pynvml absent or refusing: say so)
        return f"unavailable: {type(error).__name__}: {error}"


def installed(name: str) -> str:
    """``installed`` where Python finds the top-level module ``name``, else ``missing``."""
    try:
        found = importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses it
        found = False
    return "installed" if found else "missing"


def environment(stand_in_cuda: bool) -> dict[str, Any]:
    """Where this ran: machine, versions, the GPU and the load."""
    env: dict[str, Any] = {
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "dlib": installed("dlib"),
        "lime": installed("lime"),
    }
    if stand_in_cuda:
        env["stand_in_cuda"] = "the cuda half ran on the CPU (a test of this script, not of CUDA)"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        env["gpu"] = props.name
        env["gpu_memory_gib"] = props.total_memory / 2**30
        env["gpu_capability"] = f"{props.major}.{props.minor}"
        env["gpu_bf16"] = torch.cuda.is_bf16_supported()
        env["gpu_utilisation_percent"] = gpu_utilisation()
    return env


def default_out() -> Path:
    """``$OUT/cuda_check.json`` where ``OUT`` is set (the device machine), else benchmarks/out."""
    out = os.environ.get("OUT")
    return Path(out) / "cuda_check.json" if out else ROOT / "benchmarks/out/cuda_check.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes (CPU, seconds)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: see module)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (all cores)")
    parser.add_argument(
        "--stand-in-cuda",
        action="store_true",
        help="without CUDA: the cuda half on the CPU (tests)",
    )
    for key, value in FULL.items():
        kind = type(value)
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, default=None)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the sections; return 1 when any failed (the JSON is written either way)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Run(args)
    env = environment("cuda" in run.devices and not torch.cuda.is_available())
    print(json.dumps(env, indent=1), flush=True)
    report: dict[str, Any] = {"environment": env, "quick": args.quick, "sections": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            print(f"--- {name}", flush=True)
            section_start = time.perf_counter()
            try:
                result = {"status": "ok", **CHECKS[name](run, Path(tmp))}
            except Exception:  # noqa: BLE001 (one section's failure must not stop the others)
                text = traceback.format_exc()
                print(text, file=sys.stderr, flush=True)
                result = {"status": "error", "error": text}
            result["section_s"] = time.perf_counter() - section_start
            report["sections"][name] = result
            print(json.dumps(result, indent=1, default=str), flush=True)
    report["total_s"] = time.perf_counter() - started
    report["load_average_after"] = os.getloadavg()
    if torch.cuda.is_available():
        report["gpu_utilisation_percent_after"] = gpu_utilisation()
        report["gpu_max_memory_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out = args.out or default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    failed = [n for n, r in report["sections"].items() if r["status"] != "ok"]
    print(f"total {report['total_s']:.1f} s; failed: {failed or 'none'}; wrote {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

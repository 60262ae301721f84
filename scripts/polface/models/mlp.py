"""The neural network of Khan et al. (*Before and After Pseudoscience*) on face descriptors.

Architecture: ``D → hidden (ReLU) → dropout → 1`` (a logit), with ``D`` taken from the data
(2048 for VGGFace2 ResNet-50 descriptors); loss ``BCEWithLogits``, Adam. The settings (width,
dropout, learning rate, batch size, epochs, patience, validation share) are the config's ``mlp``
block, whose defaults live in the schema only (2048 wide, learning rate 1e-4, batch size 64, at
most 30 epochs, patience 3). Training stops early on the loss
of a seeded, class-stratified validation split carved out of the training rows, and the weights of
the best epoch are returned.

Reproducibility: every random draw (initial weights, dropout masks, batch order, validation split)
comes from ``seed``. On CPU a rerun with the same seed and data gives bit-identical weights, on
any number of torch threads when MKL's strict reproducibility mode is on
(:func:`polface.runtime.thread_invariant_torch`, which rule ``fit_mlp_fold`` calls first; without
it a batch of 5-11 rows through a linear layer gives other last bits on 2 threads than on 1) and
the validation loss is summed on one thread (:func:`_mean_loss`). On CUDA, training uses autocast
(bfloat16, or float16 where the GPU lacks it; see :mod:`polface.device`) and deterministic
algorithms where PyTorch has them (``warn_only``), so reruns agree closely but bitwise identity
is not promised. The functions restore PyTorch's global random state and determinism flag when
they return.

The workflow stores the weights of every outer fold in one safetensors file and reads them back
with :mod:`polface.models.artifacts` (never pickle); the training histories go to the rule's JSON
summary.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from polface.device import autocast_dtype, resolve_device
from polface.metrics import auc
from polface.models.optim import EagerAdam
from polface.runtime import one_torch_thread

StateDict = dict[str, torch.Tensor]


def build_mlp(n_features: int, hidden: int = 2048, dropout: float = 0.1) -> nn.Sequential:
    """``Linear(n_features, hidden) → ReLU → Dropout(dropout) → Linear(hidden, 1)``.

    The state dict keys are ``0.weight``, ``0.bias``, ``3.weight``, ``3.bias``. Weights are drawn
    from PyTorch's global generator: call inside :func:`_seeded` for reproducible initialisation.
    """
    if n_features < 1 or hidden < 1:
        raise ValueError(f"n_features and hidden must be >= 1, got {n_features}, {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return nn.Sequential(
        nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
    )


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed PyTorch's global generators, enable deterministic algorithms; restore both after."""
    cuda = [device.index if device.index is not None else 0] if device.type == "cuda" else []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        _deterministic_algorithms(True, warn_only=device.type == "cuda")
        try:
            yield
        finally:
            _deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def _deterministic_algorithms(mode: bool, *, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` for eager code, without importing torch._inductor.

    The public function also sets ``torch._inductor.config.deterministic``, for compiled code,
    and its import brings in torch._dynamo (about 1 CPU-s per MLP fold job, as torch.optim.Adam
    did: :mod:`polface.models.optim`). The fits compile nothing; where inductor is loaded already
    (compiled code elsewhere in the process), the public function runs so that both agree.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


def _as_features(X: ArrayLike, name: str) -> np.ndarray:
    """``X`` as a finite, C-contiguous float32 matrix."""
    arr = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {arr.shape}")
    for start in range(0, arr.shape[0], 65536):  # chunked: no n × D temporary
        finite = np.isfinite(arr[start : start + 65536]).all(axis=1)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{name}: row {row} has NaN or infinite values")
    return arr


def _as_labels(y: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(y, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"y_train must have shape ({n},), got {arr.shape}")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"y_train must be 0 or 1; position {i} holds {arr[i]!r}")
    return arr.astype(np.float32)


def validation_split(y: ArrayLike, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded class-stratified split of row positions into training and validation.

    From each class, ``round(val_fraction · n_class)`` rows (at least one when the class has two
    or more rows and ``val_fraction > 0``) go to validation, chosen by a numpy PCG64 permutation.

    Returns:
        ``(train_index, val_index)``, each sorted.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    labels = np.asarray(y)
    rng = np.random.default_rng(seed)
    val_parts = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        k = int(round(val_fraction * len(members)))
        if val_fraction > 0 and len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        val_parts.append(rng.permutation(members)[:k])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.empty(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def _mean_loss(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch: int, amp: torch.dtype | None
) -> tuple[float, np.ndarray]:
    """Mean BCE-with-logits loss and the logits of ``X`` in evaluation mode.

    The mean is taken on one torch thread: torch splits a sum of more than 32,768 values between
    its threads, so its last bits would follow their number (a published-size US dating fold
    validates on about 90,000 rows).
    """
    model.eval()
    logits = []
    with torch.no_grad(), torch.autocast("cuda", dtype=amp, enabled=amp is not None):
        for start in range(0, len(X), batch):
            logits.append(model(X[start : start + batch]).squeeze(1).float())
    joined = torch.cat(logits)
    with one_torch_thread():
        loss = nn.functional.binary_cross_entropy_with_logits(joined, y, reduction="mean")
    return float(loss), joined.cpu().numpy()


def fit_mlp(
    X_train: ArrayLike,
    y_train: ArrayLike,
    *,
    seed: int,
    val_fraction: float,
    max_epochs: int,
    patience: int,
    batch_size: int,
    lr: float,
    hidden: int,
    dropout: float,
    device: str,
) -> tuple[StateDict, dict[str, Any]]:
    """Train the network with Adam and early stopping on a seeded validation split.

    Each epoch visits the training rows in a new seeded random order in mini-batches; after it the
    validation loss is computed, and training stops when it has not improved for ``patience``
    epochs (or after ``max_epochs``). The weights of the epoch with the lowest validation loss are
    returned. With ``val_fraction = 0`` all rows are used for training and the last epoch is kept.

    Args:
        X_train: ``n × D`` features (float; NaN not allowed).
        y_train: ``n`` labels, 0/1.
        seed: seed for initial weights, dropout, batch order and the validation split.
        val_fraction: share of each class held out for early stopping, in [0, 1).
        max_epochs: upper bound on the number of epochs.
        patience: epochs without improvement before stopping.
        batch_size: mini-batch size.
        lr: Adam learning rate.
        hidden: width of the hidden layer.
        dropout: dropout probability after the ReLU.
        device: ``'auto'`` (CUDA with autocast when available, else CPU), ``'cpu'`` or
            ``'cuda[:i]'``.

    Returns:
        ``(state, history)``: the best epoch's weights as CPU float32 tensors (keys as in
        :func:`build_mlp`), and a JSON-serialisable dict with ``hyperparameters``, per-epoch lists
        ``epoch``, ``train_loss``, ``val_loss``, ``val_auc`` (NaN when undefined), ``best_epoch``,
        ``n_train`` and ``n_val``.
    """
    if max_epochs < 1 or patience < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("max_epochs, patience and batch_size must be >= 1 and lr > 0")
    X = _as_features(X_train, "X_train")
    y = _as_labels(y_train, X.shape[0])
    dev = resolve_device(device)
    amp = autocast_dtype(dev)
    train_idx, val_idx = validation_split(y, val_fraction, seed)
    if len(train_idx) == 0:
        raise ValueError("no training rows left after the validation split")
    hyper = {
        "n_features": int(X.shape[1]),
        "hidden": int(hidden),
        "dropout": float(dropout),
        "lr": float(lr),
        "batch_size": int(batch_size),
        "max_epochs": int(max_epochs),
        "patience": int(patience),
        "val_fraction": float(val_fraction),
        "seed": int(seed),
        "device": str(dev),
        "autocast": str(amp).removeprefix("torch.") if amp else None,
        "torch": torch.__version__,
    }
    history: dict[str, Any] = {
        "hyperparameters": hyper,
        "epoch": [],
        "train_loss": [],
        "val_loss": [],
        "val_auc": [],
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
    }
    # The full matrix is shared with numpy on CPU (no copy); batches index the training rows.
    X_all = torch.from_numpy(X).to(dev)
    y_all = torch.from_numpy(y).to(dev)
    train_rows = torch.from_numpy(train_idx).to(dev)
    Xv = X_all[torch.from_numpy(val_idx).to(dev)]
    yv = y_all[torch.from_numpy(val_idx).to(dev)]
    y_val_np = y[val_idx]
    both_classes = len(np.unique(y_val_np)) == 2
    order_generator = torch.Generator().manual_seed(seed)
    with _seeded(seed, dev):
        model = build_mlp(X.shape[1], hidden, dropout).to(dev)
        optimiser = EagerAdam(model.parameters(), lr=lr)
        loss_fn = nn.BCEWithLogitsLoss()
        best_loss, best_epoch, waited = math.inf, 0, 0
        best_state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
        for epoch in range(1, max_epochs + 1):
            model.train()
            order = torch.randperm(len(train_idx), generator=order_generator).to(dev)
            total = torch.zeros((), dtype=torch.float64, device=dev)  # no per-step sync
            for start in range(0, len(order), batch_size):
                rows = train_rows[order[start : start + batch_size]]
                optimiser.zero_grad()
                with torch.autocast("cuda", dtype=amp, enabled=amp is not None):
                    logits = model(X_all[rows]).squeeze(1)
                loss = loss_fn(logits.float(), y_all[rows])
                loss.backward()
                optimiser.step()
                total += loss.detach().double() * len(rows)
            history["epoch"].append(epoch)
            history["train_loss"].append(float(total) / len(order))
            if len(val_idx):
                val_loss, val_logits = _mean_loss(model, Xv, yv, 8192, amp)
                val_auc = auc(y_val_np, val_logits) if both_classes else math.nan
            else:
                val_loss, val_auc = math.nan, math.nan
            history["val_loss"].append(val_loss)
            history["val_auc"].append(val_auc)
            improved = not len(val_idx) or val_loss < best_loss
            if improved:
                best_loss, best_epoch, waited = val_loss, epoch, 0
                best_state = {
                    k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()
                }
            else:
                waited += 1
                if waited >= patience:
                    break
    history["best_epoch"] = best_epoch
    return best_state, history


def predict_mlp(
    state: StateDict, X: ArrayLike, *, batch_size: int = 8192, device: str = "auto"
) -> np.ndarray:
    """Probabilities of class 1 for the rows of ``X`` from a fitted state (evaluation mode).

    The layer sizes are read from the state's weight shapes.

    Returns:
        float64 array of length ``len(X)``.
    """
    for key in ("0.weight", "0.bias", "3.weight", "3.bias"):
        if key not in state:
            raise KeyError(f"state lacks {key!r}; expected the keys of build_mlp")
    hidden, n_features = state["0.weight"].shape
    features = _as_features(X, "X")
    if features.shape[1] != n_features:
        raise ValueError(f"X has {features.shape[1]} columns, the model expects {n_features}")
    dev = resolve_device(device)
    amp = autocast_dtype(dev)
    model = build_mlp(int(n_features), int(hidden))
    model.load_state_dict(state)
    model = model.to(dev).eval()
    out = []
    with torch.inference_mode(), torch.autocast("cuda", dtype=amp, enabled=amp is not None):
        for start in range(0, len(features), batch_size):
            chunk = torch.from_numpy(features[start : start + batch_size]).to(dev)
            out.append(torch.sigmoid(model(chunk).squeeze(1).float()).double().cpu())
    return torch.cat(out).numpy()

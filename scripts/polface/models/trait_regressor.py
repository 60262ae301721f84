"""The Facial Finetuning trait regressor in torch: a frozen backbone and a dense head, Keras-style.

The network of Lindholm, Hjorth & Schuessler (PSRM 2024; ``Scripts/*_finetune_model.R``, R keras):
the whole image resized to 224 x 224 by nearest neighbour (the default of keras's
``flow_images_from_dataframe``), training-time augmentation (horizontal flip, rotation by up to
0.1 of a turn with reflect fill, zoom by up to 20 % with reflect fill, brightness ± 0.1 of the
range, contrast factor in [0.8, 1.2]), Caffe-style preprocessing (RGB → BGR, minus the ImageNet
means 103.939, 116.779, 123.68), an ImageNet ResNet-50 **frozen** (batch norms in inference mode,
as keras runs a frozen layer), Flatten of the 7 x 7 x 2048 map (in keras's channels-last order) →
Dense 4096 ReLU with L2 0.01 on its kernel → Dropout 0.5 → Dense 1; MSE, Adam (lr 1e-3, keras's
epsilon 1e-7), batch 16, at most 150 epochs, the best epoch on validation loss kept
(``ModelCheckpoint(save_best_only)``), early stopping after 5 epochs without improvement,
learning rate x 0.1 after 3 (``ReduceLROnPlateau``, min delta 1e-4). Dense kernels start
Glorot-uniform, biases zero, as in keras.

Keras adds the L2 penalty (0.01 · Σ W²) to the training *and* the validation loss, so its model
selection mostly followed the weight decay: ``val_loss="keras"`` does the same, ``"mse"`` selects
on the validation MSE alone. The authors' ``set.seed(123)`` seeded R, not TensorFlow; here every
draw (initialisation, shuffling, dropout, augmentation) comes from ``seed``.

With augmentation off, the frozen backbone's feature maps are computed once per image and the
epochs train the head on them; with augmentation on, every batch goes through the backbone.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from polface.images.resnet import ResNet50, imagenet_normalise
from polface.models.optim import EagerAdam
from polface.runtime import one_torch_thread

log = logging.getLogger(__name__)

#: keras.applications.resnet50.preprocess_input ("caffe" mode): BGR means of ImageNet.
IMAGENET_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESSING = ("caffe", "torchvision")
BACKBONES = ("resnet50", "tiny")
VAL_LOSSES = ("keras", "mse")
INPUT_SIZE = 224
META_KEY = "polface.trait_regressor"


def load_resized(path: str | Path, size: int = INPUT_SIZE, *, folder: str | Path) -> np.ndarray:
    """The whole image as ``size x size x 3`` uint8 RGB, resized by nearest neighbour.

    Read with :func:`polface.images.load.opened_image` (a regular file inside ``folder``, the
    root folder of its image set; only the allowed image formats). Raises
    :class:`~polface.images.load.ImageRejected` for a file that cannot be used.
    """
    from PIL import Image

    from polface.images.load import opened_image

    with opened_image(path, max_pixels=None, folder=folder) as im:
        rgb = im.convert("RGB")
        resized = rgb.resize((size, size), resample=Image.Resampling.NEAREST)
        return np.asarray(resized, dtype=np.uint8).copy()


def preprocess(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Float RGB ``(N, 3, H, W)`` in [0, 255] → network input.

    ``caffe``: keras's ``resnet50.preprocess_input``, BGR minus the ImageNet means (no scaling),
    what the paper used with keras's Caffe-converted weights. ``torchvision``: RGB / 255
    normalised with the ImageNet mean and SD, what torchvision's weights were trained on.
    """
    if mode == "caffe":
        mean = torch.tensor(IMAGENET_CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device)
        return x.flip(1) - mean.view(1, 3, 1, 1)
    if mode == "torchvision":
        return imagenet_normalise(x)
    raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {mode!r}")


@dataclass(frozen=True)
class Augmentation:
    """The paper's keras augmentation layers, in their order; 0 turns a step off.

    The values are the config's ``facial_finetuning.regressor.training.augmentation`` block (the
    paper's values are the schema's defaults).
    """

    flip: bool
    rotation: float  # fraction of a full turn, either way
    zoom: float  # relative zoom, in or out
    brightness: float  # shift as a fraction of the value range [0, 255]
    contrast: float  # factor drawn from [1 - contrast, 1 + contrast]


@dataclass(frozen=True)
class TrainingSettings:
    """The config's ``facial_finetuning.regressor.training`` block (defaults in the schema).

    ``augmentation`` is None when the block's ``augment`` is false; the others are the keras
    loop's settings that :func:`fit_trait_regressor` documents. ``seed`` is the base seed of a
    training (each trait's fit adds its index).
    """

    augmentation: Augmentation | None
    hidden: int
    dropout: float
    l2: float
    learning_rate: float
    batch_size: int
    max_epochs: int
    patience: int
    lr_patience: int
    lr_factor: float
    min_delta: float
    val_loss: str
    seed: int

    def __post_init__(self) -> None:
        if self.val_loss not in VAL_LOSSES:
            raise ValueError(f"val_loss must be one of {VAL_LOSSES}, got {self.val_loss!r}")

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> TrainingSettings:
        """The settings of a validated training block (``augment`` + ``augmentation`` become
        :attr:`augmentation`)."""
        augmentation = Augmentation(**block["augmentation"]) if block["augment"] else None
        names = [f.name for f in fields(cls) if f.name != "augmentation"]
        return cls(augmentation=augmentation, **{name: block[name] for name in names})


def augment(x: torch.Tensor, aug: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Apply ``aug`` to float RGB ``(N, 3, H, W)`` in [0, 255], one random draw per image.

    Flip, then rotation and zoom as one affine warp (bilinear, reflect fill: keras's defaults),
    then a brightness shift and a contrast change about each channel's mean, each clipped to
    [0, 255] as keras does.
    """
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        u = torch.rand(n, generator=generator, device=generator.device)
        return (low + (high - low) * u).to(x.device)

    if aug.flip:
        flip = uniform(0.0, 1.0) < 0.5
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    if aug.rotation or aug.zoom:
        angle = uniform(-aug.rotation, aug.rotation) * 2.0 * math.pi
        scale = 1.0 + uniform(-aug.zoom, aug.zoom)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack(
            [torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
             torch.stack([sin, cos, torch.zeros_like(cos)], 1)],
            1,
        )  # fmt: skip
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if aug.brightness:
        x = (x + 255.0 * uniform(-aug.brightness, aug.brightness).view(n, 1, 1, 1)).clamp(0, 255)
    if aug.contrast:
        factor = uniform(1.0 - aug.contrast, 1.0 + aug.contrast).view(n, 1, 1, 1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        x = ((x - mean) * factor + mean).clamp(0, 255)
    return x


class TinyBackbone(nn.Module):
    """A small random convolutional backbone (224 px → 8 x 7 x 7) for tests; not a face model."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, kernel_size=32, stride=32)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x / 128.0))


def build_backbone(kind: str, *, seed: int) -> nn.Module:
    """An untrained ``resnet50`` (torchvision layout) or ``tiny`` backbone, frozen, in eval mode."""
    torch.manual_seed(seed)
    if kind == "resnet50":
        net: nn.Module = ResNet50("torchvision")
    elif kind == "tiny":
        net = TinyBackbone()
    else:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {kind!r}")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class TraitHead(nn.Module):
    """Flatten → Dense(hidden) ReLU → Dropout → Dense(1), keras's initialisation."""

    def __init__(self, in_features: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 1)
        for layer in (self.dense, self.out):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.relu(self.dense(features)))).squeeze(1)


def flat_features(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The backbone's map of preprocessed ``x``, flattened in keras's (H, W, C) order."""
    with torch.no_grad():
        fmap = backbone.feature_map(x)
    return fmap.permute(0, 2, 3, 1).reshape(fmap.shape[0], -1)


def image_features(
    backbone: nn.Module,
    images: np.ndarray,
    *,
    preprocessing: str,
    batch_size: int,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Flattened feature maps of uint8 ``(N, H, W, 3)`` images (no augmentation), on ``device``."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start : start + batch_size]).to(device)
        x = preprocess(batch.permute(0, 3, 1, 2).to(torch.float32), preprocessing)
        out.append(flat_features(backbone, x))
        if progress is not None:
            progress(len(batch))
    return torch.cat(out)


@dataclass
class KerasCallbacks:
    """keras's ModelCheckpoint(save_best_only), EarlyStopping and ReduceLROnPlateau on one loss.

    After each epoch :meth:`update` takes the monitored validation loss and says whether it is a
    new best (strictly lower: keep these weights), the factor for the learning rate (1.0 or
    ``lr_factor``: after ``lr_patience`` epochs without an improvement of more than
    ``min_delta``, then the count restarts) and whether to stop (``patience`` epochs without a
    lower loss). These are keras's rules with its defaults elsewhere (EarlyStopping's min delta
    0, no cooldown, no minimum learning rate).
    """

    patience: int
    lr_patience: int
    lr_factor: float
    min_delta: float
    best: float = math.inf
    plateau_best: float = math.inf
    wait_stop: int = 0
    wait_lr: int = 0

    def update(self, loss: float) -> tuple[bool, float, bool]:
        improved = loss < self.best
        if improved:
            self.best, self.wait_stop = loss, 0
        else:
            self.wait_stop += 1
        factor = 1.0
        if loss < self.plateau_best - self.min_delta:
            self.plateau_best, self.wait_lr = loss, 0
        else:
            self.wait_lr += 1
            if self.wait_lr >= self.lr_patience:
                factor, self.wait_lr = self.lr_factor, 0
        return improved, factor, self.wait_stop >= self.patience


@dataclass
class FitResult:
    """A trained head: its state, the training history and the epoch kept."""

    head: TraitHead
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool


def fit_trait_regressor(
    train_images: np.ndarray,
    y_train: Sequence[float],
    val_images: np.ndarray,
    y_val: Sequence[float],
    *,
    backbone: nn.Module,
    preprocessing: str,
    settings: TrainingSettings,
    seed: int,
    device: torch.device,
    cached_features: tuple[torch.Tensor, torch.Tensor] | None,
    progress: Callable[..., Any] | None,
) -> FitResult:
    """Train the head on a frozen backbone with keras's loop and callbacks (module docstring).

    ``settings`` is the config's training block (:class:`TrainingSettings`); ``seed`` seeds this
    fit (the studies give each trait its own). Per epoch: the training faces in a seeded random
    order, in batches of ``batch_size``, loss =
    batch MSE + ``l2`` · Σ W² of the hidden layer's kernel; then the validation loss on the
    un-augmented validation faces (``keras``: MSE + the same penalty; ``mse``: MSE alone). The
    best epoch's weights are kept (strictly lower validation loss), training stops after
    ``patience`` epochs without an improvement and the learning rate is multiplied by
    ``lr_factor`` after ``lr_patience`` epochs without an improvement of more than
    ``min_delta``. ``progress(epoch, record)`` is called after each epoch (e.g. a tqdm bar).
    ``cached_features`` = (train, validation) flattened maps from :func:`image_features`, so
    that several traits share one pass of the backbone; ``None`` computes them here. Without
    augmentation the training faces' maps are computed once; with it, per batch.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    yt = torch.as_tensor(np.asarray(y_train, dtype=np.float32), device=device)
    yv = torch.as_tensor(np.asarray(y_val, dtype=np.float32), device=device)
    options = {"preprocessing": preprocessing, "batch_size": settings.batch_size, "device": device}
    if cached_features is not None:
        cached, val_features = cached_features
    else:
        val_features = image_features(backbone, val_images, **options)
        cached = (
            None if settings.augmentation else image_features(backbone, train_images, **options)
        )
    if settings.augmentation:
        cached = None
    head = TraitHead(val_features.shape[1], settings.hidden, settings.dropout).to(device)
    optimiser = EagerAdam(head.parameters(), lr=settings.learning_rate, eps=1e-7)

    def penalty() -> torch.Tensor:
        # summed on one thread: the dense layer's weights (2,048 x 7 x 7 x hidden for a
        # ResNet-50) are more than torch's 32,768 values, which it would split between threads
        with one_torch_thread():
            return settings.l2 * head.dense.weight.pow(2).sum()

    callbacks = KerasCallbacks(
        settings.patience, settings.lr_patience, settings.lr_factor, settings.min_delta
    )
    best_state, best_epoch = None, -1
    history: list[dict[str, float]] = []
    stopped = False
    lr = settings.learning_rate
    n = len(yt)
    for epoch in range(settings.max_epochs):
        head.train()
        order = torch.randperm(n, generator=generator)
        total_loss = total_mse = 0.0
        for start in range(0, n, settings.batch_size):
            index = order[start : start + settings.batch_size]
            if cached is not None:
                features = cached[index.to(device)]
            else:
                batch = torch.from_numpy(train_images[index.numpy()]).to(device)
                x = augment(
                    batch.permute(0, 3, 1, 2).to(torch.float32), settings.augmentation, generator
                )
                features = flat_features(backbone, preprocess(x, preprocessing))
            mse = F.mse_loss(head(features), yt[index.to(device)])
            loss = mse + penalty()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total_loss += float(loss.detach()) * len(index)
            total_mse += float(mse.detach()) * len(index)
        head.eval()
        with torch.no_grad():
            val_mse = float(F.mse_loss(head(val_features), yv))
            reg = float(penalty())
        monitored = val_mse + reg if settings.val_loss == "keras" else val_mse
        record = {
            "epoch": epoch + 1,
            "loss": total_loss / n,
            "mse": total_mse / n,
            "val_loss": monitored,
            "val_mse": val_mse,
            "penalty": reg,
            "learning_rate": lr,
        }
        history.append(record)
        improved, factor, stop = callbacks.update(monitored)
        if improved:
            best_epoch = epoch + 1
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        if factor != 1.0:
            lr *= factor
            optimiser.lr = lr
        if progress is not None:
            progress(epoch + 1, record)
        if stop:
            stopped = True
            break
    assert best_state is not None
    head.load_state_dict(best_state)
    head.eval()
    return FitResult(head, history, best_epoch, stopped)


def predict_images(
    backbone: nn.Module,
    head: TraitHead,
    images: np.ndarray,
    *,
    preprocessing: str,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """The head's predictions for uint8 ``(N, H, W, 3)`` images (no augmentation, no dropout)."""
    head.eval()
    features = image_features(
        backbone, images, preprocessing=preprocessing, batch_size=batch_size, device=device
    )
    with torch.no_grad():
        return head(features).cpu().numpy().astype(np.float64)


def save_heads(heads: dict[str, TraitHead], path: str | Path, *, metadata: dict[str, Any]) -> None:
    """Every trait's head in one safetensors file (``TRAIT.dense.weight``, ...), atomically."""
    from polface.io import safetensors_bytes, write_atomic

    tensors = {f"{t}.{k}": v for t, head in heads.items() for k, v in head.state_dict().items()}
    meta = {**metadata, "traits": list(heads)}
    write_atomic(path, safetensors_bytes(tensors, {META_KEY: json.dumps(meta, sort_keys=True)}))


def load_heads(path: str | Path) -> tuple[dict[str, TraitHead], dict[str, Any]]:
    """The heads saved by :func:`save_heads` and their metadata (backbone, preprocessing, ...)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        raw = (fh.metadata() or {}).get("polface")
        if raw is None:
            raise ValueError(f"{path}: not a polface trait regressor (no metadata)")
        meta = json.loads(json.loads(raw)[META_KEY])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    heads = {}
    for trait in meta["traits"]:
        state = {
            k.removeprefix(f"{trait}."): v for k, v in tensors.items() if k.startswith(f"{trait}.")
        }
        hidden, in_features = state["dense.weight"].shape
        head = TraitHead(in_features, hidden, meta["dropout"])
        head.load_state_dict(state)
        head.eval()
        heads[trait] = head
    return heads, meta

"""The Facial Finetuning network in torch: preprocessing, augmentation, keras's training loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from polface.images.resnet import ResNet50
from polface.images.weights import WeightsMismatchError
from polface.models import trait_regressor as tr
from polface.studies.trait_models import load_backbone

_SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
_TRAINING = _SCHEMA["$defs"]["facial_finetuning"]["properties"]["regressor"]["properties"]
_AUGMENTATION = _TRAINING["training"]["properties"]["augmentation"]["properties"]
#: The paper's augmentation: the schema's defaults (Augmentation itself has none).
PAPER = tr.Augmentation(**{k: v["default"] for k, v in _AUGMENTATION.items()})

#: Small training settings (no augmentation; the keras validation loss).
SETTINGS = tr.TrainingSettings(
    augmentation=None,
    hidden=16,
    dropout=0.5,
    l2=0.01,
    learning_rate=1e-3,
    batch_size=16,
    max_epochs=40,
    patience=5,
    lr_patience=3,
    lr_factor=0.1,
    min_delta=1e-4,
    val_loss="keras",
    seed=5,
)
#: The rest of fit_trait_regressor's arguments.
RUN = dict(preprocessing="caffe", device=torch.device("cpu"), cached_features=None, progress=None)


def _faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 224 px images whose mean red level is the target."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(40, 200, size=n)
    images = rng.integers(0, 40, size=(n, 224, 224, 3)).astype(np.float64)
    images[..., 0] += level[:, None, None]
    return images.clip(0, 255).astype(np.uint8), level / 40.0


def test_caffe_preprocessing_is_keras_resnet50_preprocess_input() -> None:
    x = torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)
    out = tr.preprocess(x, "caffe").flatten().tolist()
    assert out == pytest.approx([30 - 103.939, 20 - 116.779, 10 - 123.68])
    tv = tr.preprocess(x, "torchvision").flatten()
    assert tv[0] == pytest.approx((10 / 255 - 0.485) / 0.229)


def test_augmentation_is_seeded_and_keeps_the_range() -> None:
    images, _ = _faces(4, 0)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    a = tr.augment(x, PAPER, torch.Generator().manual_seed(1))
    b = tr.augment(x, PAPER, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert a.min() >= 0 and a.max() <= 255 and a.shape == x.shape
    off = dataclasses.replace(PAPER, flip=False, rotation=0, zoom=0, brightness=0, contrast=0)
    assert torch.equal(tr.augment(x, off, torch.Generator().manual_seed(1)), x)
    flip = dataclasses.replace(PAPER, rotation=0, zoom=0, brightness=0, contrast=0)
    flipped = tr.augment(x, flip, torch.Generator().manual_seed(2))
    assert all(
        torch.equal(f, o) or torch.equal(f, o.flip(2)) for f, o in zip(flipped, x, strict=True)
    )


def test_training_learns_keeps_the_best_epoch_and_is_reproducible() -> None:
    train, y_train = _faces(64, 1)
    val, y_val = _faces(32, 2)
    backbone = tr.build_backbone("tiny", seed=0)
    fits = [
        tr.fit_trait_regressor(
            train, y_train, val, y_val, backbone=backbone, settings=SETTINGS, seed=5, **RUN
        )
        for _ in range(2)
    ]  # fmt: skip
    first, again = fits
    assert first.history == again.history
    losses = [h["val_loss"] for h in first.history]
    assert first.best_epoch == int(np.argmin(losses)) + 1
    assert losses[first.best_epoch - 1] < losses[0]
    # keras's validation loss is the MSE plus the L2 penalty
    assert all(h["val_loss"] == pytest.approx(h["val_mse"] + h["penalty"]) for h in first.history)
    if first.stopped_early:
        assert len(first.history) == first.best_epoch + SETTINGS.patience
    rates = [h["learning_rate"] for h in first.history]
    assert rates[0] == 1e-3 and all(
        b in (a, a * 0.1) for a, b in zip(rates, rates[1:], strict=False)
    )
    prediction = tr.predict_images(
        backbone, first.head, val, preprocessing="caffe", batch_size=8, device=torch.device("cpu")
    )
    assert np.corrcoef(prediction, y_val)[0, 1] > 0.5
    settings = dataclasses.replace(SETTINGS, augmentation=PAPER, val_loss="mse", max_epochs=2)
    mse = tr.fit_trait_regressor(
        train, y_train, val, y_val, backbone=backbone, settings=settings, seed=5, **RUN
    )
    assert [h["val_loss"] for h in mse.history] == [h["val_mse"] for h in mse.history]


def test_callbacks_follow_keras_rules() -> None:
    """A scripted validation loss: best epochs, LR cuts after 3 flat epochs, stop after 5."""
    callbacks = tr.KerasCallbacks(patience=5, lr_patience=3, lr_factor=0.1, min_delta=1e-4)
    losses = [1.0, 0.9, 0.89995, 0.89992, 0.95, 0.91, 0.92, 0.93, 0.94]
    steps = [callbacks.update(loss) for loss in losses]
    assert [s[0] for s in steps] == [True] * 4 + [False] * 5
    # 0.89995 and 0.89992 are new bests but not lower by min_delta: the LR plateau goes on
    assert [s[1] for s in steps] == [1, 1, 1, 1, 0.1, 1, 1, 0.1, 1]
    assert [s[2] for s in steps] == [False] * 8 + [True]


def test_heads_save_and_load_back(tmp_path) -> None:
    head = tr.TraitHead(392, 8, 0.5)
    tr.save_heads({"dominance": head}, tmp_path / "h.safetensors", metadata={"dropout": 0.5})
    heads, meta = tr.load_heads(tmp_path / "h.safetensors")
    assert meta["traits"] == ["dominance"]
    x = torch.randn(3, 392)
    assert torch.equal(heads["dominance"](x), head.eval()(x))


def test_resnet_weights_of_the_wrong_shapes_are_refused(tmp_path) -> None:
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in ResNet50("torchvision").state_dict().items()}
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 3, 3)
    path = tmp_path / "resnet.safetensors"
    save_file(state, str(path))
    with pytest.raises(WeightsMismatchError, match=r"resnet\.safetensors.*layer1\.0\.conv1"):
        load_backbone("resnet50", weights=str(path), sha256=None, seed=0, device="cpu")
    with pytest.raises(ValueError, match="weights.path is required"):
        load_backbone("resnet50", weights=None, sha256=None, seed=0, device="cpu")

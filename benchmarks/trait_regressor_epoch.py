"""Seconds per epoch of the Facial Finetuning network (frozen ResNet-50 + dense head), CPU or GPU.

Times, on the device given (default: CUDA when available, else the CPU), with seeded random
weights (same cost as ImageNet's) and random 224 px images:

1. the frozen ResNet-50's forward pass per image (the cost of an augmented epoch's backbone, and
   of computing the feature maps once when augmentation is off);
2. one epoch of the paper's head (Flatten 7 x 7 x 2048 = 100,352 → Dense ``--hidden`` ReLU with
   L2 → Dropout → Dense 1, Adam, batch 16) on ``--train`` cached feature maps plus the
   validation loss on ``--val`` maps, with ``fit_trait_regressor`` itself (one epoch, including
   the head's initialisation and keeping the best weights);
3. with augmentation on, every training batch also goes through the augmentation and the
   backbone: their cost per image is timed on ``--augmented`` images, and an augmented epoch
   is (2) plus ``--train`` times that cost.

    python benchmarks/trait_regressor_epoch.py                  # the paper's sizes (about 7 GB)
    python benchmarks/trait_regressor_epoch.py --hidden 512     # a smaller head
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from polface.device import describe_device, resolve_device
from polface.models import trait_regressor as tr

REPO = Path(__file__).resolve().parents[1]


def paper_augmentation() -> tr.Augmentation:
    """The paper's augmentation: the schema's defaults of the training block."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    regressor = schema["$defs"]["facial_finetuning"]["properties"]["regressor"]["properties"]
    block = regressor["training"]["properties"]["augmentation"]["properties"]
    return tr.Augmentation(**{k: v["default"] for k, v in block.items()})


def _fit(train, y, val, yv, backbone, device, *, hidden, augmentation, cached):
    settings = tr.TrainingSettings(
        augmentation=augmentation, hidden=hidden, dropout=0.5, l2=0.01, learning_rate=1e-3,
        batch_size=16, max_epochs=1, patience=5, lr_patience=3, lr_factor=0.1, min_delta=1e-4,
        val_loss="keras", seed=1,
    )  # fmt: skip
    return tr.fit_trait_regressor(
        train, y, val, yv, backbone=backbone, preprocessing="caffe", settings=settings, seed=1,
        device=device, cached_features=cached, progress=None,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=513, help="training faces per epoch")
    parser.add_argument("--val", type=int, default=171, help="validation faces")
    parser.add_argument("--hidden", type=int, default=4096, help="hidden units of the head")
    parser.add_argument("--augmented", type=int, default=32, help="images timed with augmentation")
    parser.add_argument("--backbone-images", type=int, default=16, help="images timed in ResNet-50")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    for name in ("train", "val", "hidden", "augmented", "backbone_images", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"{platform.node()}: torch {torch.__version__}, {describe_device(device)}, "
          f"{args.threads} threads")  # fmt: skip
    backbone = tr.build_backbone("resnet50", seed=0).to(device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.backbone_images, 224, 224, 3), dtype=np.uint8)
    tr.image_features(backbone, images[:2], preprocessing="caffe", batch_size=2, device=device)
    start = time.perf_counter()
    tr.image_features(backbone, images, preprocessing="caffe", batch_size=16, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_image = (time.perf_counter() - start) / len(images)
    print(f"ResNet-50 forward: {per_image:.3f} s per 224 px image")

    dim = 7 * 7 * 2048
    gen = torch.Generator().manual_seed(0)
    cached = (
        torch.randn(args.train, dim, generator=gen).relu().to(device),
        torch.randn(args.val, dim, generator=gen).relu().to(device),
    )
    y = rng.normal(5, 1, size=args.train)
    yv = rng.normal(5, 1, size=args.val)
    start = time.perf_counter()
    _fit(None, y, None, yv, backbone, device, hidden=args.hidden, augmentation=None, cached=cached)
    if device.type == "cuda":
        torch.cuda.synchronize()
    head_epoch = time.perf_counter() - start
    params = dim * args.hidden + args.hidden * 2 + 1
    print(f"head ({params / 1e6:.0f} M parameters), cached maps: {head_epoch:.1f} s per epoch "
          f"of {args.train} faces")  # fmt: skip

    n = args.augmented
    train = torch.from_numpy(rng.integers(0, 256, size=(n, 224, 224, 3), dtype=np.uint8))
    generator = torch.Generator().manual_seed(0)
    augmentation = paper_augmentation()
    start = time.perf_counter()
    for first in range(0, n, 16):
        x = train[first : first + 16].to(device).permute(0, 3, 1, 2).float()
        x = tr.augment(x, augmentation, generator)
        tr.flat_features(backbone, tr.preprocess(x, "caffe"))
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_augmented = (time.perf_counter() - start) / n
    augmented = head_epoch + per_augmented * args.train
    print(f"augmentation + ResNet-50: {per_augmented:.3f} s per image; augmented epoch "
          f"{augmented:.0f} s of {args.train} faces")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.1f} GB")


if __name__ == "__main__":
    main()

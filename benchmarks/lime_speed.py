"""Seconds per image per seed of a LIME explanation, ours against lime's own, in the same run.

For N One Million Impressions faces it explains a linear readout of the embedding (the readout
costs nothing beside the network) on the image the network sees (dlib: the 150 px chip with the
real pretrained network; vggface2: the 224 px crop through a seeded random ResNet-50, which costs
what the real weights cost) and the quickshift segmentation of that uint8 image, twice per face
and seed:

- ours: :func:`polface.explain.lime.sample_masks`, vectorised :func:`perturb` and batched
  forward passes (``--batch-size``), then lime's ``LimeBase`` (:func:`fit_local`);
- lime's ``LimeImageExplainer.explain_instance`` (its per-row masking loop and its default
  ``batch_size=10``) with the same generator and segmentation, so both give the same weights
  (checked bit for bit here, at the real settings).

It prints seconds per image per seed for both and their ratio, the seconds per forward pass,
and what a whole report costs at those settings for the 1,004 OMI faces (forward passes per face
counted from the schema's defaults on the first face: an upper bound, since
:class:`polface.explain.explanations.RowScorer` embeds a repeated row once). CPU only unless
``--device`` names a GPU (the masking then stays numpy: see benchmarks/README.md).

    python benchmarks/lime_speed.py --n 2 --samples 1000 --backends dlib
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from lime.lime_image import LimeImageExplainer

from polface.explain.chain import FaceChain
from polface.explain.faces import network_input, segmentations_of
from polface.explain.lime import fit_local, hide_image, sample_masks, sample_seed, score_masks
from polface.explain.readouts import LinkReadout
from polface.explain.segments import quickshift_segments
from polface.images.crop import CropSettings
from polface.images.embed import load_embedder
from polface.images.load import read_rgb
from polface.models.artifacts import LinearModel

REPO = Path(__file__).resolve().parents[1]
#: Readouts of an OMI report with the schema's defaults: 4 targets x (model, permuted labels,
#: random readout) + 5 perceived-demographics readouts.
READOUTS = 17
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["$defs"]


def defaults(name: str) -> dict[str, object]:
    """A schema block's defaults."""
    return {k: v.get("default") for k, v in SCHEMA[name]["properties"].items()}


def embedder_of(backend: str, device: str, work: Path):
    """dlib's real network, or a seeded random ResNet-50 for the ResNet backends."""
    if backend == "dlib":
        return load_embedder("dlib", weights_path=None, device=device)
    from safetensors.torch import save_file

    from polface.images.resnet import ResNet50

    torch.manual_seed(0)
    layout = "caffe" if backend == "vggface2" else "torchvision"
    path = work / f"{backend}.safetensors"
    save_file(ResNet50(layout).state_dict(), str(path))
    return load_embedder(backend, weights_path=path, device=device)


def time_both(embedder, readout, image, seg, samples, seed, batch_size, lime):  # noqa: ANN001
    """Seconds of ours and of lime's explain_instance on one image, and whether they agree."""

    def classify(batch: np.ndarray) -> np.ndarray:
        return readout.predict(embedder.embed(batch)).reshape(-1, 1)

    start = time.perf_counter()
    masks = sample_masks(samples, seg.n_segments, seed=seed)
    values = score_masks(
        lambda b: classify(b)[:, 0],
        image,
        seg.labels,
        masks,
        hide_image(image, 0),
        batch_size=batch_size,
        progress=False,
    )
    fit = fit_local(masks, values, kernel_width=lime["kernel_width"], seed=seed)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    explanation = LimeImageExplainer(random_state=np.random.RandomState(seed)).explain_instance(
        image,
        classify,
        labels=(0,),
        top_labels=None,
        hide_color=0,
        num_samples=samples,
        segmentation_fn=lambda _: seg.labels,
        random_seed=0,
    )
    theirs = time.perf_counter() - start
    return ours, theirs, dict(explanation.local_exp[0]) == dict(enumerate(fit.weights))


def main() -> None:
    """Parse arguments, time both implementations, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2, help="number of OMI faces")
    parser.add_argument("--samples", type=int, default=1000, help="perturbations (lime's 1000)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per face")
    parser.add_argument("--backends", nargs="+", default=["dlib"])
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--omi-dir", type=Path, default=REPO.parent / "shared" / "data" / "omi", help="OMI data"
    )
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    crop = CropSettings.from_config(defaults("crop"))
    lime = defaults("lime")
    for block in ("quickshift", "controls", "trust"):
        lime[block] = {
            k: v["default"] for k, v in SCHEMA["lime"]["properties"][block]["properties"].items()
        }
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__}, {args.device}")
    print(f"# {args.n} faces x {args.seeds} seeds, {args.samples} samples, quickshift on uint8")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            embedder = embedder_of(backend, args.device, Path(tmp))
            chain = FaceChain(embedder, crop=crop)
            rng = np.random.default_rng(0)
            model = LinearModel("binomial", 0.1, rng.normal(size=embedder.dim) * 0.1, 0.01)
            readout = LinkReadout(model)
            ours, theirs, passes = [], [], 0.0
            report_passes = None
            for i in range(1, args.n + 1):
                rgb = read_rgb(
                    args.omi_dir / "images" / f"{i}.jpg",
                    min_side=1,
                    max_pixels=None,
                    folder=args.omi_dir / "images",
                )
                image, affine, cropped = network_input(chain, rgb)
                seg = quickshift_segments(image, **lime["quickshift"])

                for s in range(args.seeds):
                    seed = sample_seed(lime["seed"], str(i), s)
                    mine, lime_s, same = time_both(
                        embedder, readout, image, seg, args.samples, seed, args.batch_size, lime
                    )
                    ours.append(mine)
                    theirs.append(lime_s)
                    print(
                        f"{backend} face {i} seed {s}: {seg.n_segments} segments, ours "
                        f"{mine:.1f} s, lime {lime_s:.1f} s, weights equal: {same}"
                    )
                    passes = mine / args.samples
                if report_passes is None:
                    # Forward passes of a whole report of this face with the schema's defaults:
                    # per segmentation the samples of every repeat, the held-out samples, and
                    # the curves of every readout and random order, or 2**F if fewer (an upper
                    # bound: RowScorer embeds a repeated row once).
                    report_passes = 0
                    for seg_k, _ in segmentations_of(
                        rgb,
                        image,
                        affine,
                        cropped,
                        methods=lime["segmentations"],
                        quickshift=lime["quickshift"],
                    ):
                        steps = min(lime["curve_steps"], seg_k.n_segments) + 1
                        rows = lime["repeats"] * lime["n_samples"] + lime["heldout_samples"]
                        rows += (lime["deletion_orders"] + READOUTS) * 2 * steps
                        # F segments have only 2**F distinct perturbed images
                        report_passes += min(rows, 2**seg_k.n_segments)
            mean_ours, mean_lime = float(np.mean(ours)), float(np.mean(theirs))
            print(
                f"| {backend} | {args.samples} | {mean_ours:.1f} | {mean_lime:.1f} | "
                f"{mean_lime / mean_ours:.2f}x | {passes:.3f} |"
            )
            full = report_passes * passes * 1004 / 3600
            print(
                f"# {backend}: a report of one face with the schema's defaults needs at most "
                f"{report_passes} forward passes: {report_passes * passes / 60:.1f} min per face, "
                f"{full:.0f} h for the 1,004 OMI faces"
            )


if __name__ == "__main__":
    main()

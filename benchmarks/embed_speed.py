"""End-to-end speed of the image branch: JPEG files -> face crops -> embeddings parquet.

For N One Million Impressions photographs (1024 px JPEGs) it times ``crop_faces`` (decoding,
HOG detection, landmarks, levelled VGGFace2-style crop, PNG writing) and ``embed_crops`` for the
``dlib`` backend (real pretrained weights) and the ``vggface2`` backend (a seeded random
ResNet-50 in the released pickle layout: same cost as the real weights), and prints images per
second for each stage and end to end. The crop settings are the config schema's defaults.
Nothing is downloaded.

    python benchmarks/embed_speed.py --n 50
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import tempfile
import time
from pathlib import Path

import torch
import yaml

from polface.device import resolve_device
from polface.images.crop import CropSettings, crop_faces
from polface.images.embed import embed_crops
from polface.images.resnet import ResNet50
from polface.images.weights import load_weights

REPO = Path(__file__).resolve().parents[1]


def crop_defaults() -> dict[str, object]:
    """The config's `crop` block with the schema's defaults (the workflow's crop settings)."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    return {k: v["default"] for k, v in schema["$defs"]["crop"]["properties"].items()}


def random_vggface2_pickle(path: Path, seed: int = 0) -> Path:
    """Write a seeded random Caffe-layout ResNet-50 as a dict of numpy arrays (pickle)."""
    torch.manual_seed(seed)
    state = ResNet50("caffe").state_dict()
    arrays = {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    return path


def main() -> None:
    """Parse arguments, run the stages, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="number of OMI images")
    parser.add_argument(
        "--omi-dir", type=Path, default=REPO.parent / "shared" / "data" / "omi", help="OMI data"
    )
    parser.add_argument("--backends", nargs="+", default=["dlib", "vggface2"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers")
    parser.add_argument("--crop-workers", type=int, default=1, help="crop_faces processes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: temp)")
    args = parser.parse_args()

    images = [args.omi_dir / "images" / f"{i}.jpg" for i in range(1, args.n + 1)]
    missing = [p for p in images if not p.is_file()]
    if missing:
        raise SystemExit(f"OMI images not found, e.g. {missing[0]}")
    work = Path(args.work or tempfile.mkdtemp(prefix="polface-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, device {device}, "
        f"{args.n} images, batch {args.batch_size}, loader workers {args.num_workers}, "
        f"crop workers {args.crop_workers}, load average {os.getloadavg()[0]:.1f}"
    )

    start = time.perf_counter()
    crop = crop_defaults()
    manifest = crop_faces(
        images,
        work / "crops",
        CropSettings.from_config(crop),
        num_workers=args.crop_workers,
        folder=args.omi_dir / "images",
        progress=False,
    )
    t_crop = time.perf_counter() - start
    n_ok = int((manifest["status"] == "ok").sum())
    print(f"crop_faces: {n_ok}/{args.n} ok in {t_crop:.1f} s = {args.n / t_crop:.2f} images/s")

    weights = None
    if "vggface2" in args.backends:
        weights = random_vggface2_pickle(work / "resnet50_ft_random.pkl")
        # First read converts the pickle to the safetensors cache (a one-off cost, not timed).
        load_weights(ResNet50("caffe"), weights)

    rows = []
    for backend in args.backends:
        start = time.perf_counter()
        result = embed_crops(
            manifest,
            backend,
            weights_path=weights if backend != "dlib" else None,
            out_path=work / f"{backend}.parquet",
            image_folder=args.omi_dir / "images",
            device=args.device,
            batch_size=args.batch_size,
            crop_settings=crop,
            num_workers=args.num_workers,
            resume=False,
            progress=False,
        )
        t_embed = time.perf_counter() - start
        rows.append((backend, result.n_rows, t_embed, t_crop + t_embed))

    print(f"{'backend':<10} {'embed img/s':>12} {'end-to-end img/s':>17} {'total s':>8}")
    for backend, n_rows, t_embed, total in rows:
        print(f"{backend:<10} {n_rows / t_embed:>12.2f} {args.n / total:>17.2f} {total:>8.1f}")
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()

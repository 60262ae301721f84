"""Face detection against the scanned size: what ``crop.max_side`` and ``crop.upsample`` cost.

Runs :func:`polface.images.crop.detect_faces` (dlib's HOG detector on a copy whose longer side is
at most ``max_side`` px) on every 5th One Million Impressions photograph (1024 px JPEGs, decoded
once beforehand), with ``upsample=0`` at 512, 640, 768 and 1024 px and with ``upsample="auto"``
(none, then once more only where nothing was found) at 512 and 1024 px, and prints per setting
the milliseconds per image (downscaling included) and how many photographs gave no face, one, or
several. The numbers in the docstring of :mod:`polface.images.crop` come from this script.

    python benchmarks/crop_max_side.py [--step 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from polface.data.imagesets import list_images
from polface.images.crop import detect_faces
from polface.images.load import read_rgb

REPO = Path(__file__).resolve().parents[1]
SETTINGS = [(512, 0), (640, 0), (768, 0), (1024, 0), (512, "auto"), (1024, "auto")]


def main() -> None:
    """Parse arguments, detect with every setting, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=5, help="every STEP-th OMI photograph")
    parser.add_argument(
        "--omi-dir", type=Path, default=REPO.parent / "shared" / "data" / "omi", help="OMI data"
    )
    args = parser.parse_args()
    paths = list(list_images(args.omi_dir / "images", pattern="*.jpg", limit=None).values())
    images = [
        read_rgb(p, min_side=1, max_pixels=None, folder=args.omi_dir / "images")
        for p in paths[:: args.step]
    ]
    print(f"{len(images)} photographs ({images[0].shape[1]} px)")
    print("| max_side | upsample | ms per image | no face | one face | several |")
    print("|---|---|---|---|---|---|")
    for max_side, upsample in SETTINGS:
        counts = []
        start = time.perf_counter()
        for rgb in images:
            counts.append(len(detect_faces(rgb, max_side=max_side, upsample=upsample)))
        ms = 1000 * (time.perf_counter() - start) / len(images)
        none, one = counts.count(0), counts.count(1)
        several = len(counts) - none - one
        print(f"| {max_side} | {upsample} | {ms:.0f} | {none} | {one} | {several} |")


if __name__ == "__main__":
    main()

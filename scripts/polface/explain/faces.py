"""Explaining a set of photographs: each through the workflow's chain, segmented, then LIME.

For each face (:func:`explain_faces`):

1. The photograph goes through the workflow's chain (:class:`polface.explain.chain.FaceChain`):
   crop, and the network input that the embedder really sees, ``uint8`` (the 224 px crop for
   the ResNet backends, dlib's 150 px chip for ``dlib``), with the affine from the photograph
   into it (:func:`network_input`).
2. Segmentations of that input (:func:`segmentations_of`, :mod:`polface.explain.segments`):
   ``regions`` (dlib's 68 landmarks mapped with the affine), ``quickshift`` (on the ``uint8``
   input) and ``seed`` (the seed's mean-subtracted quickshift, hidden colour = the channel means).
3. :func:`polface.explain.explanations.explain_face` for all the face's readouts at once
   (:mod:`polface.explain.readouts`).

:func:`region_summary` averages the region weights across faces with a t interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from tqdm import tqdm

from polface.errors import InputError
from polface.explain.chain import FaceChain
from polface.explain.explanations import explain_face
from polface.explain.segments import (
    SEED_HIDE_COLOR,
    Segmentation,
    chip_affine,
    input_landmarks,
    quickshift_segments,
    region_segments,
    seed_replication_segments,
)
from polface.frames import IMAGE_ID
from polface.images.crop import listed_in_manifest
from polface.images.embed import DLIB_CHIP_PADDING, DLIB_CHIP_SIZE, Embedder
from polface.images.load import ImageRejected, read_rgb

#: The segmentation methods a config may ask for.
SEGMENTATIONS = ("regions", "quickshift", "seed")


def network_input(chain: FaceChain, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """The ``uint8`` image the embedder sees, the affine photograph -> it, and the FaceCrop."""
    cropped = chain.crop(rgb)
    if not cropped.ok:
        raise ValueError(f"no face to explain: {cropped.status} ({cropped.detail})")
    image = chain.embedder.input_of(rgb, cropped)
    if chain.embedder.uses_chips:
        face = cropped.face
        box = (face.left, face.top, face.right, face.bottom)
        affine = chip_affine(box, cropped.landmarks, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING)
    else:
        affine = cropped.affine
    return image, affine, cropped


def segmentations_of(
    rgb: np.ndarray,
    image: np.ndarray,
    affine: np.ndarray,
    cropped: Any,
    *,
    methods: Sequence[str],
    quickshift: Mapping[str, Any],
) -> list[tuple[Segmentation, tuple[int, int, int] | None]]:
    """The requested segmentations, each with its own hidden colour (None: the config's)."""
    out: list[tuple[Segmentation, tuple[int, int, int] | None]] = []
    for method in methods:
        if method == "regions":
            _, points = input_landmarks(rgb, cropped.face, affine)
            out.append((region_segments(points, image.shape[:2]), None))
        elif method == "quickshift":
            out.append((quickshift_segments(image, **quickshift), None))
        elif method == "seed":
            out.append((seed_replication_segments(image, rng=quickshift["rng"]), SEED_HIDE_COLOR))
        else:
            raise ValueError(f"unknown segmentation {method!r}; choose from {SEGMENTATIONS}")
    return out


def faces_to_explain(
    manifest: pd.DataFrame, images: Sequence[str | int] | None, *, source: str
) -> dict[str, str]:
    """``{image_id: photograph}`` of the faces to explain: ``images`` (all ``ok`` faces if None).

    A listed id that is not in the manifest, or whose status is not ``ok``, is an
    :class:`~polface.errors.InputError` naming it, its status and ``source`` (the manifest).
    """
    rows = manifest.assign(**{IMAGE_ID: manifest[IMAGE_ID].astype(str)}).set_index(IMAGE_ID)
    wanted = (
        list(rows.index[rows["status"] == "ok"]) if images is None else [str(i) for i in images]
    )
    bad = [i for i in wanted if i not in rows.index or rows.loc[i, "status"] != "ok"]
    if bad:
        found = {i: rows.loc[i, "status"] if i in rows.index else "absent" for i in bad}
        raise InputError(
            f"lime.images: no ok face in {source} for {found}; expected the ids of faces whose"
            " status is 'ok'"
        )
    return {i: str(rows.loc[i, "source"]) for i in wanted}


def explain_faces(
    faces: Mapping[str, str],
    chain: FaceChain,
    readouts_of: Any,
    *,
    settings: Mapping[str, Any],
    folder: str | Path,
    manifest: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Explain each face ``{image_id: photograph path}`` for the readouts ``readouts_of(id)``.

    Each photograph is read only if it resolves inside ``folder``, the root folder of its image
    set (:func:`polface.images.load.checked_photograph`); one that does not, or cannot be read
    (gone since crop_faces wrote the manifest), stops the run with
    :class:`~polface.images.load.ImageRejected` naming the file, the folder or the reason, and
    ``manifest``, the manifest file the faces were listed in.

    Returns the three tables (``weights``, ``scores``, ``curves`` as DataFrames) and, per
    face, the network input and its segmentations for the pictures (``inputs``).
    """
    options = {
        k: settings[k]
        for k in (
            "n_samples",
            "heldout_samples",
            "repeats",
            "kernel_width",
            "batch_size",
            "bootstrap",
            "level",
            "deletion_orders",
            "curve_steps",
            "top",
            "seed",
            "trust",
        )
    }
    embedder: Embedder = chain.embedder
    # On a GPU the ResNet inputs are masked there (dlib's chips are numpy on the CPU).
    on_gpu = not embedder.uses_chips and getattr(embedder.device, "type", "cpu") == "cuda"
    mask_device = embedder.device if on_gpu else None
    records: dict[str, list[dict[str, Any]]] = {"weights": [], "scores": [], "curves": []}
    inputs = {}
    for image_id, path in tqdm(faces.items(), desc="faces", disable=not progress):
        try:
            rgb = read_rgb(path, min_side=1, max_pixels=None, folder=folder)
        except ImageRejected as err:
            listed = listed_in_manifest(path, manifest)
            detail = f"{err.detail}; the photograph of ok row {image_id!r} {listed}"
            raise ImageRejected(path, err.reason, detail) from err
        image, affine, cropped = network_input(chain, rgb)
        segs = segmentations_of(
            rgb,
            image,
            affine,
            cropped,
            methods=settings["segmentations"],
            quickshift=settings["quickshift"],
        )
        readouts = readouts_of(image_id)
        inputs[image_id] = (image, [s for s, _ in segs])
        for seg, hide in segs:
            out = explain_face(
                image_id,
                image,
                seg,
                readouts,
                embedder.embed,
                hide_color=hide if hide is not None else settings["hide_color"],
                progress=False,
                mask_device=mask_device,
                **options,
            )
            for key, rows in out.items():
                records[key] += rows
    tables = {key: pd.DataFrame(rows) for key, rows in records.items()}
    return {**tables, "inputs": inputs}


def region_summary(weights: pd.DataFrame, *, level: float) -> pd.DataFrame:
    """Mean weight per region across faces with a t interval, per target and arm."""
    rows = []
    regions = weights[weights["segmentation"] == "regions"]
    for (target, arm, region), part in regions.groupby(
        ["target", "arm", "segment_name"], sort=False
    ):
        values = part["weight"].to_numpy(dtype=np.float64)
        n = len(values)
        mean = float(values.mean())
        if n > 1:
            half = float(student_t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
        else:
            half = math.nan
        rows.append(
            {
                "target": target,
                "arm": arm,
                "region": region,
                "n_faces": n,
                "mean": mean,
                "lo": mean - half,
                "hi": mean + half,
            }
        )
    return pd.DataFrame(rows, columns=["target", "arm", "region", "n_faces", "mean", "lo", "hi"])

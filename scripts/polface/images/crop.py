"""Face detection, 5-point alignment and VGGFace2-style crops, with a manifest of every image.

Pipeline for one photograph (:func:`crop_faces` runs it over many files and never raises for a bad
one; steps 2-5 are :func:`crop_face`, the in-memory call on one ``uint8`` RGB array, which also
returns the affine map from original pixel coordinates into the crop). The settings travel as one
:class:`CropSettings`, built from the config's ``crop`` block (:meth:`CropSettings.from_config`);
it has no defaults of its own: they live in the config schema (``$defs/crop``).

1. :func:`~polface.images.load.read_rgb` (as its two steps ``open_photograph`` and
   ``decode_rgb``): only a regular file inside the image folder is opened, only the decoders of
   ``ALLOWED_FORMATS`` run; decode, apply EXIF orientation, convert to RGB; ``unreadable``,
   ``too_small`` (shorter side below ``min_face``) or ``too_large`` (decompression-bomb guard).
2. :func:`detect_faces`: dlib's HOG frontal face detector on a copy whose longer side is at most
   ``max_side`` pixels; boxes are mapped back to original pixel coordinates. The HOG detector's
   smallest face is about 80 px in the image it scans; each ``upsample`` step doubles the image
   (halving that size, at about 4x the time). ``upsample="auto"`` (the schema default) scans
   without upsampling and, only if that finds no face, once more with one upsampling.
   Measured by ``benchmarks/crop_max_side.py`` on 201 OMI photographs (1024 px, every 5th),
   upsample 0 alone: at 512 px one face in 200 and none in 1; at 640 and 768 px one image
   without a face and one with two; at 1024 px one image without a face. With ``auto``: exactly
   one face in all 201 both at 512 px and at 1024 px, where 1024 px took about 5 times as long
   per image (607 against 118 ms, downscaling included, on a 2-core CPU under a load of 8 to 10;
   the face counts do not depend on the load). Hence the schema's default ``max_side`` of 512. Raise
   it for photographs where faces are small (group photos, panoramas): with ``auto`` the smallest
   face found is about 40 px in the scanned copy, i.e. ``40 * longer_side / max_side`` original
   px.
3. Faces whose box is smaller than ``min_face`` px are ignored; none left gives ``too_small``
   (some face was detected) or ``no_face``. With several faces, ``multiple="largest"`` keeps the
   largest box (status ``ok``; ``n_faces`` records how many there were) and ``multiple="skip"``
   gives status ``multiple_faces``.
4. :func:`face_landmarks`: dlib's 5-point shape predictor (``shape_predictor_5_face_landmarks``
   from face-recognition-models) on the original image: two corners of each eye and the base of
   the nose. Points 0-1 are the eye on the image's right, 2-3 the eye on the image's left.
5. :func:`align_crop`: the VGGFace2 protocol on the detected box, optionally levelled.

The crop geometry follows Cao, Shen, Xie, Parkhi & Zisserman (2018), *VGGFace2: A dataset for
recognising faces across pose and age*, FG 2018 (arXiv:1710.08092): "The face bounding box is then
extended by a factor of 0.3 to include the whole head", and at test time "the extended bounding
box of the face is resized so that the shorter side is 256 pixels; then the centre 224 x 224 crop
of the face image is used as input to the network". We read "extended by a factor of 0.3" as the
box's width and height multiplied by 1.3 about its centre (0.15 of the size added on each side);
``margin`` is that 0.3 (other readings add 0.3 on each side; set ``margin=0.6`` for that).
Two differences to know about: VGGFace2 used MTCNN boxes, and dlib's HOG boxes are square and
tight (on OMI photographs a box runs from just above the eyebrows to just below the mouth, cheek
to cheek, about 0.52 of the image width), so with the same margin the crop runs from mid-forehead
to the chin and cuts off the hair: less of the head than "the whole head" VGGFace2 aimed for.
And VGGFace2 did not rotate faces (``align=False`` reproduces that).

Alignment choice: with ``align=True`` (the schema default) the crop is rotated about the box centre
so that the two eye centres (means of the two corner landmarks of each eye) are level, and nothing
else changes: scale and position still come from the detector box, so the VGGFace2 geometry
(extended box, shorter side 256, centre 224) is kept. We do not use ``dlib.get_face_chip`` for
these crops: it also rescales and recentres the face on dlib's own landmark template with its own
padding, a different geometry from the one the VGGFace2 descriptors were computed on. (The ``dlib``
embedding backend in :mod:`polface.images.embed` does use ``get_face_chip`` with dlib's defaults,
150 px and padding 0.25, because that is how its network was trained.) Pixels outside the
photograph are filled with black. Resizing uses Pillow's antialiased bilinear filter, as
``torchvision.transforms.Resize`` does on PIL images in the common VGGFace2 ports.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import math
import multiprocessing
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from polface.errors import MissingDependency
from polface.frames import IMAGE_ID, MANIFEST_COLUMNS
from polface.images.load import ImageRejected, decode_rgb, downscale, open_photograph
from polface.images.status import (
    STATUS_MULTIPLE,
    STATUS_NO_FACE,
    STATUS_OK,
    STATUS_TOO_SMALL,
    STATUS_UNREADABLE,
)
from polface.io import atomic_output, read_metadata

if TYPE_CHECKING:
    import dlib

log = logging.getLogger(__name__)

Multiple = Literal["largest", "skip"]
Upsample = int | Literal["auto"]


@dataclass(frozen=True)
class CropSettings:
    """The config's ``crop`` block: detection, alignment and the crop (defaults in the schema).

    Attributes:
        crop_size: side of the square crop in pixels (VGGFace2: 224).
        margin: the detected box is enlarged to ``1 + margin`` times its size (VGGFace2: 0.3).
        resize_shorter: the enlarged box's shorter side is resized to this before the centre
            crop (VGGFace2: 256).
        max_side: the detector scans a copy whose longer side is at most this many pixels.
        min_face: smallest accepted image side and face box side, in original pixels.
        multiple: ``largest`` keeps the largest face of several (status ``ok``), ``skip`` gives
            status ``multiple_faces``.
        upsample: dlib detector upsamplings, or ``auto``: none, then once more with one
            upsampling if no face was found.
        align: rotate the crop so the eyes are level (5-point landmarks).
        max_pixels: photographs with more pixels get status ``too_large`` (``None``: Pillow's
            decompression-bomb limit); it concerns files, so :func:`crop_face` ignores it.

    Raises:
        ValueError: an unknown ``multiple``, ``crop_size`` outside ``[1, resize_shorter]`` or a
            bad ``upsample``, naming the setting.
    """

    crop_size: int
    margin: float
    resize_shorter: int
    max_side: int
    min_face: int
    multiple: Multiple
    upsample: Upsample
    align: bool
    max_pixels: int | None

    def __post_init__(self) -> None:
        if self.multiple not in ("largest", "skip"):
            raise ValueError(f"multiple must be 'largest' or 'skip', got {self.multiple!r}")
        if self.crop_size < 1 or self.crop_size > self.resize_shorter:
            raise ValueError(
                f"need 1 <= crop_size <= resize_shorter, got crop_size={self.crop_size}, "
                f"resize_shorter={self.resize_shorter}"
            )
        upsample_passes(self.upsample)

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> CropSettings:
        """The settings of a validated ``crop`` block (other keys of ``block`` are ignored)."""
        missing = [f.name for f in fields(cls) if f.name not in block]
        if missing:
            raise KeyError(f"crop settings lack {missing}; expected the config's crop block")
        return cls(**{f.name: block[f.name] for f in fields(cls)})


def model_dir() -> Path:
    """Directory of the data files shipped by face-recognition-models (without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package face-recognition-models is not installed (it ships dlib's model files)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_file(name: str) -> Path:
    """Path of one face-recognition-models data file, with a clear error if it is missing."""
    path = model_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"dlib model file not found: {path}")
    return path


def import_dlib(needed_for: str) -> ModuleType:
    """The ``dlib`` module, imported where it is used, not when polface's modules are imported.

    The torch-only paths (the ResNet embedding backends, the models, LIME on a grid or
    quickshift) run where dlib is not installed (the lent GPU machine's python has torch but no
    dlib).

    Args:
        needed_for: what needs dlib, for the error (e.g. ``"the dlib embedding backend"``).

    Raises:
        MissingDependency: dlib cannot be imported (an ``ImportError``; a rule prints it as one
            line); the message names ``needed_for`` and the package.
    """
    try:
        import dlib
    except ImportError as error:
        raise MissingDependency(
            f"{needed_for} needs dlib (the package dlib-bin, pinned in pyproject.toml), which "
            f"cannot be imported here: {error}"
        ) from error
    return dlib


@functools.cache
def _detector() -> dlib.fhog_object_detector:
    return import_dlib("face detection (crop_faces)").get_frontal_face_detector()


@functools.cache
def _shape_predictor() -> dlib.shape_predictor:
    dlib = import_dlib("the 5-point face landmarks (crop_faces)")
    return dlib.shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat")))


@dataclass(frozen=True)
class Face:
    """A detected face in original pixel coordinates (``right``/``bottom`` exclusive)."""

    left: float
    top: float
    right: float
    bottom: float
    score: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return self.width * self.height


def upsample_passes(upsample: Upsample) -> tuple[int, ...]:
    """Detector upsamplings to try in turn: ``auto`` is 0, then 1 if the first finds no face."""
    if upsample == "auto":
        return (0, 1)
    if isinstance(upsample, bool) or not isinstance(upsample, int) or upsample < 0:
        raise ValueError(f"upsample must be a non-negative integer or 'auto', got {upsample!r}")
    return (upsample,)


def detect_faces(
    rgb: np.ndarray,
    *,
    max_side: int,
    upsample: Upsample,
) -> list[Face]:
    """Detect frontal faces with dlib's HOG detector; boxes in ``rgb``'s pixel coordinates.

    The detector scans a copy shrunk to at most ``max_side`` px on its longer side (upsampled
    as :func:`upsample_passes` says, stopping at the first pass that finds a face); returned
    boxes are scaled back and clipped to the image. Sorted by decreasing area.
    """
    small, scale = downscale(rgb, max_side)
    small = np.ascontiguousarray(small)
    for times in upsample_passes(upsample):
        rects, scores, _ = _detector().run(small, times, 0.0)
        if len(rects):
            break
    height, width = rgb.shape[:2]
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        left = max(0.0, rect.left() * scale)
        top = max(0.0, rect.top() * scale)
        right = min(float(width), (rect.right() + 1) * scale)
        bottom = min(float(height), (rect.bottom() + 1) * scale)
        if right > left and bottom > top:
            faces.append(Face(left, top, right, bottom, float(score)))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def face_landmarks(rgb: np.ndarray, face: Face) -> np.ndarray:
    """The 5 dlib landmarks of ``face`` as a ``(5, 2)`` float array of (x, y) in pixels."""
    predictor = _shape_predictor()
    rect = import_dlib("the 5-point face landmarks (crop_faces)").rectangle(
        round(face.left), round(face.top), round(face.right) - 1, round(face.bottom) - 1
    )
    shape = predictor(np.ascontiguousarray(rgb), rect)
    return np.array([[shape.part(k).x, shape.part(k).y] for k in range(5)], dtype=np.float64)


def eye_angle(landmarks: np.ndarray) -> float:
    """Angle in radians of the line from the image-left eye centre to the image-right one."""
    right_eye = landmarks[0:2].mean(axis=0)
    left_eye = landmarks[2:4].mean(axis=0)
    return math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])


def align_crop(
    rgb: np.ndarray,
    face: Face,
    landmarks: np.ndarray | None,
    *,
    margin: float,
    resize_shorter: int,
    crop_size: int,
    align: bool,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Cut the VGGFace2-style crop of ``face``: returns ``(crop, angle_in_degrees, affine)``.

    The box is enlarged to ``(1 + margin)`` times its width and height about its centre, taken
    at native resolution (rotated by the eye angle when ``align`` and ``landmarks`` are given),
    resized so its shorter side is ``resize_shorter`` px, and centre-cropped to
    ``crop_size x crop_size``.

    ``affine`` is the ``(2, 3)`` float64 matrix that maps a point ``(x, y, 1)`` of ``rgb`` to
    ``(u, v)`` in the crop, in Pillow's continuous pixel coordinates (pixel ``(i, j)`` covers
    ``[i, i + 1) x [j, j + 1)``, so its centre is ``(i + 0.5, j + 0.5)``).
    """
    if crop_size > resize_shorter:
        raise ValueError(
            f"crop_size ({crop_size}) must not exceed resize_shorter ({resize_shorter})"
        )
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    theta = eye_angle(landmarks) if (align and landmarks is not None) else 0.0
    out_w = max(1, round(face.width * (1.0 + margin)))
    out_h = max(1, round(face.height * (1.0 + margin)))
    cx = (face.left + face.right) / 2.0
    cy = (face.top + face.bottom) / 2.0
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    # Output pixel (u, v) samples input (x, y); the output centre lands on the box centre.
    coeffs = (
        cos_t,
        -sin_t,
        cx - cos_t * out_w / 2.0 + sin_t * out_h / 2.0,
        sin_t,
        cos_t,
        cy - sin_t * out_w / 2.0 - cos_t * out_h / 2.0,
    )
    patch = Image.fromarray(rgb).transform(
        (out_w, out_h),
        Image.Transform.AFFINE,
        coeffs,
        resample=Image.Resampling.BILINEAR,
        fillcolor=(0, 0, 0),
    )
    factor = resize_shorter / min(out_w, out_h)
    new_w = max(resize_shorter, round(out_w * factor))
    new_h = max(resize_shorter, round(out_h * factor))
    resized = patch.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left = round((new_w - crop_size) / 2.0)
    top = round((new_h - crop_size) / 2.0)
    crop = resized.crop((left, top, left + crop_size, top + crop_size))
    # Original -> patch is the inverse rotation about the translation; then scale and shift.
    sx, sy = new_w / out_w, new_h / out_h
    tx, ty = coeffs[2], coeffs[5]
    affine = np.array(
        [
            [sx * cos_t, sx * sin_t, -sx * (cos_t * tx + sin_t * ty) - left],
            [-sy * sin_t, sy * cos_t, -sy * (-sin_t * tx + cos_t * ty) - top],
        ],
        dtype=np.float64,
    )
    return np.asarray(crop), math.degrees(theta), affine


@dataclass(frozen=True)
class FaceCrop:
    """What :func:`crop_face` made of one image.

    ``status`` is one of :data:`polface.images.status.STATUSES` and ``detail`` says why in words
    (empty for a single face). ``n_faces`` counts the faces of at least ``min_face`` px. The
    other fields are set only when ``status`` is ``ok``: the ``uint8`` crop, the ``(2, 3)``
    ``affine`` from original coordinates into it (see :func:`align_crop`), the kept ``face``,
    its ``(5, 2)`` ``landmarks`` (x, y) and the rotation ``angle`` in degrees.
    """

    status: str
    detail: str
    n_faces: int
    crop: np.ndarray | None = None
    affine: np.ndarray | None = None
    face: Face | None = None
    landmarks: np.ndarray | None = None
    angle: float = math.nan

    @property
    def ok(self) -> bool:
        """Whether a face was cropped."""
        return self.status == STATUS_OK


def crop_face(rgb: np.ndarray, settings: CropSettings) -> FaceCrop:
    """Detect, align and crop the face of one ``H x W x 3`` ``uint8`` RGB array.

    ``settings.max_pixels`` concerns files and is not used here. A bad image is a status
    (``no_face``, ``multiple_faces``, ``too_small``, or ``unreadable`` when detection or the
    landmarks fail), never an exception; a wrongly shaped array raises ``ValueError``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    min_face, max_side, upsample = settings.min_face, settings.max_side, settings.upsample
    height, width = rgb.shape[:2]
    if min(height, width) < min_face:
        detail = f"{width}x{height} is below the minimum side of {min_face} px"
        return FaceCrop(STATUS_TOO_SMALL, detail, 0)
    try:
        found = detect_faces(rgb, max_side=max_side, upsample=upsample)
    except (RuntimeError, ValueError, MemoryError) as err:
        return FaceCrop(STATUS_UNREADABLE, f"face detection failed: {type(err).__name__}: {err}", 0)
    faces = [f for f in found if min(f.width, f.height) >= min_face]
    if not faces:
        if found:
            detail = (
                f"{len(found)} face(s) found, largest {found[0].width:.0f} px, "
                f"below min_face {min_face} px"
            )
            return FaceCrop(STATUS_TOO_SMALL, detail, 0)
        detail = f"no face found (max_side {max_side}, upsample {upsample})"
        return FaceCrop(STATUS_NO_FACE, detail, 0)
    if len(faces) > 1 and settings.multiple == "skip":
        detail = f"{len(faces)} faces found and multiple='skip'"
        return FaceCrop(STATUS_MULTIPLE, detail, len(faces))
    face = faces[0]
    try:
        landmarks = face_landmarks(rgb, face)
        crop, angle, affine = align_crop(
            rgb,
            face,
            landmarks,
            margin=settings.margin,
            resize_shorter=settings.resize_shorter,
            crop_size=settings.crop_size,
            align=settings.align,
        )
    except (RuntimeError, MemoryError) as err:
        detail = f"landmarks or crop failed: {type(err).__name__}: {err}"
        return FaceCrop(STATUS_UNREADABLE, detail, len(faces))
    detail = "" if len(faces) == 1 else f"{len(faces)} faces found; kept the largest"
    return FaceCrop(STATUS_OK, detail, len(faces), crop, affine, face, landmarks, angle)


ImagePaths = Mapping[str, Path | str] | Iterable[Path | str]


def manifest_image_folder(manifest_path: Path | str) -> str:
    """The image set's root folder that a manifest's photographs were checked against.

    Rule crop_faces writes its image set (``folder``, ``pattern``, ``limit``) into the manifest's
    metadata as ``source``; the stages that read the photographs again (the dlib embedding,
    LIME) read them only inside that folder (:func:`polface.images.load.checked_photograph`).
    """
    return str(read_metadata(manifest_path)["source"]["folder"])


def listed_in_manifest(path: Path | str, manifest: Path | str | None) -> str:
    """Words for the error of a file a manifest lists (a crop, a photograph) that cannot be read.

    ``listed in the manifest <manifest>``, and for a file that no longer exists (deleted or moved
    since crop_faces wrote the manifest) that it is gone and crop_faces must run again.
    """
    where = "listed in the manifest" if manifest is None else f"listed in the manifest {manifest}"
    if os.path.lexists(path):
        return where
    return f"{where}, and gone since crop_faces wrote it (rerun crop_faces)"


def _image_ids(image_paths: ImagePaths) -> list[tuple[str, Path]]:
    """Pair each image with its id (the mapping key, or the file name without extension)."""
    if isinstance(image_paths, Mapping):
        pairs = [(str(k), Path(v)) for k, v in image_paths.items()]
    else:
        pairs = [(Path(p).stem, Path(p)) for p in image_paths]
    seen: dict[str, Path] = {}
    for image_id, path in pairs:
        if not image_id or "/" in image_id or "\\" in image_id or image_id.startswith("."):
            raise ValueError(f"image id {image_id!r} (for {path}) cannot be used as a file name")
        if image_id in seen:
            raise ValueError(
                f"duplicate image id {image_id!r}: {seen[image_id]} and {path}; "
                "pass a mapping of unique ids to paths"
            )
        seen[image_id] = path
    return pairs


def _empty_row(image_id: str, path: Path) -> dict[str, object]:
    return {
        IMAGE_ID: image_id,
        "source": str(path),
        "sha256": None,
        "status": STATUS_UNREADABLE,
        "detail": "",
        "width": None,
        "height": None,
        "n_faces": 0,
        "box_left": math.nan,
        "box_top": math.nan,
        "box_right": math.nan,
        "box_bottom": math.nan,
        "landmarks": None,
        "angle": math.nan,
        "crop": None,
    }


def process_image(
    image_id: str,
    path: Path,
    out_dir: Path,
    settings: CropSettings,
    folder: Path | str,
) -> dict[str, object]:
    """Read one photograph, :func:`crop_face` it, write the crop; return its manifest row.

    ``folder`` is the root folder of the image set (see
    :func:`~polface.images.load.checked_photograph`).
    """
    row = _empty_row(image_id, path)
    try:
        # Checked before it is opened (a regular file inside the folder); hashed and decoded
        # from the same open file, so the manifest's SHA-256 is that of the bytes decoded.
        with open_photograph(path, folder=folder) as fh:
            row["sha256"] = hashlib.file_digest(fh, "sha256").hexdigest()
            fh.seek(0)
            rgb = decode_rgb(fh, path, min_side=settings.min_face, max_pixels=settings.max_pixels)
    except ImageRejected as rejected:
        row["status"], row["detail"] = rejected.reason, rejected.detail
        return row
    except OSError as err:  # a read error while hashing
        row["detail"] = f"{type(err).__name__}: {err}"
        return row
    row["height"], row["width"] = int(rgb.shape[0]), int(rgb.shape[1])
    result = crop_face(rgb, settings)
    row.update(status=result.status, detail=result.detail, n_faces=result.n_faces)
    if not result.ok:
        return row
    assert result.crop is not None and result.face is not None and result.landmarks is not None
    crop_path = out_dir / f"{image_id}.png"
    # zlib level 1: lossless like any PNG, several times faster to write than the default 6.
    with atomic_output(crop_path) as tmp:
        Image.fromarray(result.crop).save(tmp, format="PNG", compress_level=1)
    face = result.face
    row.update(
        box_left=face.left,
        box_top=face.top,
        box_right=face.right,
        box_bottom=face.bottom,
        landmarks=[float(v) for v in result.landmarks.ravel()],
        angle=result.angle,
        crop=str(crop_path),
    )
    return row


def _process_pair(
    pair: tuple[str, Path], out_dir: Path, settings: CropSettings, folder: Path | str
) -> dict[str, object]:
    """:func:`process_image` on an ``(image_id, path)`` pair (picklable for worker processes)."""
    image_id, path = pair
    return process_image(image_id, path, out_dir, settings, folder)


def _collect(results: Iterable[dict[str, object]], bar: tqdm) -> list[dict[str, object]]:
    """Gather manifest rows, logging every non-ok one and advancing the progress bar."""
    rows = []
    for row in results:
        if row["status"] != STATUS_OK:
            log.info("%s (%s): %s %s", row[IMAGE_ID], row["source"], row["status"], row["detail"])
        rows.append(row)
        bar.update(1)
    return rows


def crop_faces(
    image_paths: ImagePaths,
    out_dir: Path | str,
    settings: CropSettings,
    *,
    num_workers: int,
    folder: Path | str,
    progress: bool = True,
) -> pd.DataFrame:
    """Detect, align and crop one face per image; write PNG crops; return the manifest.

    Args:
        image_paths: image files (id = file name without extension) or a mapping id -> file.
        out_dir: where ``{image_id}.png`` crops are written (created if needed; each written
            to a temporary name and renamed).
        settings: the config's ``crop`` block (:class:`CropSettings`).
        num_workers: worker processes (0 or 1: in this process). Rows come back in input order.
        folder: the root folder of the image set the photographs were listed from (its
            ``folder.path``, or the OMI ``images`` folder); a photograph that resolves outside
            it (a symlink out of it, or a file in a subfolder that is a symlink to elsewhere)
            is ``unreadable`` and never read; a real subfolder is inside it. Anything that is
            not a regular file (a FIFO, a device) is ``unreadable`` and never opened.
        progress: show a tqdm progress bar.

    Returns:
        One row per input image with the columns :data:`polface.frames.MANIFEST_COLUMNS`:
        ``status`` is one of
        :data:`polface.images.status.STATUSES`, ``detail`` says why in words, box and
        ``landmarks`` (x0, y0, ..., x4, y4) are in original pixel coordinates (after EXIF
        rotation), ``crop`` is the PNG path
        (missing, i.e. NA, unless ``ok``; so are ``sha256`` for an unreadable file, ``width``
        and ``height`` for an undecodable one, box, ``landmarks`` and ``angle`` without a face).
        A bad image is a status, never an exception.
    """
    pairs = _image_ids(image_paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = functools.partial(_process_pair, out_dir=out, settings=settings, folder=folder)
    bar = tqdm(total=len(pairs), desc="crop_faces", unit="img", disable=not progress)
    if num_workers <= 1:
        results: Iterable[dict[str, object]] = map(work, pairs)
        rows = _collect(results, bar)
    else:
        # "spawn": workers start clean (no inherited threads); order is kept by map().
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
            chunk = max(1, min(64, len(pairs) // (4 * num_workers)))
            rows = _collect(pool.map(work, pairs, chunksize=chunk), bar)
    bar.close()
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    frame["n_faces"] = frame["n_faces"].astype("int64")
    frame["width"] = frame["width"].astype("Int64")
    frame["height"] = frame["height"].astype("Int64")
    return frame

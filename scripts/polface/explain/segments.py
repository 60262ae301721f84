"""Segmentations of the image a network sees (the 224 px crop, or dlib's 150 px chip), for LIME.

Every segmentation is a :class:`Segmentation`: an ``(H, W)`` ``int64`` label map with labels
``0 .. n - 1`` (every label has at least one pixel), a name per segment, and the method with its
parameters, so that a table of weights says exactly what each column was.

- :func:`quickshift_segments`: scikit-image's quickshift on the ``uint8`` image with lime's
  defaults (``kernel_size=4, max_dist=200, ratio=0.2``) and an explicit ``rng`` (lime 0.2.0.1
  drops its ``random_seed`` for scikit-image >= 0.23, so quickshift always ran with its default
  ``rng=42``). On OMI crops this gives a few dozen fragments.
- :func:`seed_replication_segments`: what the seed (Khan et al.) did: the same quickshift on the
  mean-subtracted float array (the crop in RGB minus ``mean_rgb = (131.0912, 103.8827,
  91.4953)``, their ``data/load_image.py`` before commit c9fe890), which cuts a 224 px crop into
  a few hundred fragments. The matching "hidden" colour is the channel mean (their
  ``hide_color=0`` in the mean-subtracted array): :data:`SEED_HIDE_COLOR`.
- :func:`region_segments`: facial regions from dlib's 68-point landmarks
  (``shape_predictor_68_face_landmarks`` of face-recognition-models) found on the photograph and
  mapped into the network input with its affine (:func:`polface.images.crop.align_crop`'s for a
  crop, :func:`chip_affine` for a dlib chip): eyes, brows, nose, mouth, cheeks, jaw and chin,
  forehead, and outside the face (hair, background, neck). A region the input does not show is
  left out (its name is not in ``names``).

Coordinates are Pillow's continuous pixel coordinates (pixel ``(i, j)`` covers
``[i, i + 1) x [j, j + 1)``), as in :class:`polface.images.crop.FaceCrop`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from skimage.draw import polygon2mask
from skimage.segmentation import quickshift

from polface.images.crop import Face, import_dlib, model_file

if TYPE_CHECKING:
    import dlib

#: lime 0.2.0.1's quickshift settings (LimeImageExplainer.explain_instance).
LIME_QUICKSHIFT = {"kernel_size": 4, "max_dist": 200, "ratio": 0.2}

#: VGGFace2's channel means in RGB order (the seed subtracted them before LIME).
VGGFACE2_MEAN_RGB = (131.0912, 103.8827, 91.4953)

#: The uint8 colour that the seed's hide_color=0 meant in its mean-subtracted array.
SEED_HIDE_COLOR = tuple(round(v) for v in VGGFACE2_MEAN_RGB)

#: The facial regions, in the order of their labels when all are visible (and of precedence
#: where their polygons overlap).
REGIONS = ("eyes", "brows", "nose", "mouth", "jaw and chin", "forehead", "cheeks", "outside")

#: 68-point indices (iBUG 300-W layout) used to draw the regions.
JAW = tuple(range(0, 17))
BROW_RIGHT = tuple(range(17, 22))  # the brow on the image's left (the subject's right)
BROW_LEFT = tuple(range(22, 27))
NOSE = tuple(range(27, 36))
EYE_RIGHT = tuple(range(36, 42))
EYE_LEFT = tuple(range(42, 48))
MOUTH = tuple(range(48, 60))


@dataclass(frozen=True)
class Segmentation:
    """A label map of one network input and what its labels are.

    ``labels`` is ``(H, W)`` ``int64`` with values ``0 .. len(names) - 1``, each present;
    ``method`` is ``quickshift``, ``seed_quickshift`` or ``regions`` and ``params`` its settings.
    """

    labels: np.ndarray
    names: tuple[str, ...]
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_segments(self) -> int:
        """Number of segments (the LIME features)."""
        return len(self.names)

    def sizes(self) -> np.ndarray:
        """Pixels per segment."""
        return np.bincount(self.labels.ravel(), minlength=self.n_segments)


def _sequential(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered ``0 .. n - 1`` in increasing order of the original labels."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64)


def quickshift_segments(
    image: np.ndarray, *, kernel_size: float, max_dist: float, ratio: float, rng: int
) -> Segmentation:
    """Quickshift superpixels of a ``uint8`` RGB image (lime's defaults done right)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {image.dtype} {image.shape}")
    params = {"kernel_size": kernel_size, "max_dist": max_dist, "ratio": ratio, "rng": rng}
    labels = _sequential(quickshift(image, **params))
    names = tuple(f"q{k}" for k in range(int(labels.max()) + 1))
    return Segmentation(labels, names, "quickshift", params)


def seed_replication_segments(image: np.ndarray, *, rng: int) -> Segmentation:
    """The seed's superpixels: lime's quickshift on the image minus VGGFace2's channel means."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {image.dtype} {image.shape}")
    shifted = image.astype(np.float64) - np.asarray(VGGFACE2_MEAN_RGB)
    labels = _sequential(quickshift(shifted, **LIME_QUICKSHIFT, rng=rng))
    names = tuple(f"s{k}" for k in range(int(labels.max()) + 1))
    params = {**LIME_QUICKSHIFT, "rng": rng, "mean_subtracted": list(VGGFACE2_MEAN_RGB)}
    return Segmentation(labels, names, "seed_quickshift", params)


#: What needs dlib here, for import_dlib's error.
_LANDMARKS_68 = "the region segments' 68-point landmarks"


@functools.cache
def _predictor_68() -> dlib.shape_predictor:
    dlib = import_dlib(_LANDMARKS_68)
    return dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))


def landmarks_68(rgb: np.ndarray, face: Face) -> np.ndarray:
    """dlib's 68 landmarks of ``face`` in ``rgb``: ``(68, 2)`` float64 (x, y), continuous coords.

    dlib reports integer pixel indices; ``+ 0.5`` puts them at the pixel centres of Pillow's
    continuous coordinates, in which the crop affine is written.
    """
    dlib = import_dlib(_LANDMARKS_68)
    rect = dlib.rectangle(
        round(face.left), round(face.top), round(face.right) - 1, round(face.bottom) - 1
    )
    shape = _predictor_68()(np.ascontiguousarray(rgb), rect)
    return np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], dtype=np.float64) + 0.5


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(n, 2)`` points mapped by a ``(2, 3)`` affine."""
    points = np.asarray(points, dtype=np.float64)
    return points @ np.asarray(affine)[:, :2].T + np.asarray(affine)[:, 2]


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """The inverse of a ``(2, 3)`` affine, as ``(2, 3)``."""
    full = np.vstack([np.asarray(affine, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def chip_affine(
    box: Sequence[float], landmarks: np.ndarray, *, size: int, padding: float
) -> np.ndarray:
    """The ``(2, 3)`` affine from photograph coordinates into dlib's face chip.

    Same box and 5 landmarks as :func:`polface.images.embed.dlib_chip`. dlib's
    ``extract_image_chip`` maps chip pixels ``(0, 0)``, ``(cols - 1, 0)`` and
    ``(cols - 1, rows - 1)`` onto the corners of the chip rectangle rotated by ``angle`` about
    its centre (a similarity); this is that map inverted, in continuous coordinates.
    """
    dlib = import_dlib("the dlib chip's affine (segments mapped into the chip)")
    left, top, right, bottom = (round(float(v)) for v in box)
    rect = dlib.rectangle(left, top, right - 1, bottom - 1)
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in landmarks])
    details = dlib.get_face_chip_details(dlib.full_object_detection(rect, points), size, padding)
    r = details.rect
    centre = np.array([(r.left() + r.right()) / 2.0, (r.top() + r.bottom()) / 2.0])
    corners = np.array([[r.left(), r.top()], [r.right(), r.top()], [r.right(), r.bottom()]])
    cos_a, sin_a = np.cos(details.angle), np.sin(details.angle)
    rotation = np.array([[cos_a, -sin_a], [sin_a, cos_a]])
    image_points = (corners - centre) @ rotation.T + centre
    chip_points = np.array(
        [[0.0, 0.0], [details.cols - 1, 0.0], [details.cols - 1, details.rows - 1]]
    )
    # chip -> image, then inverted; +0.5 on both sides turns dlib's pixel indices into
    # continuous coordinates.
    design = np.hstack([chip_points + 0.5, np.ones((3, 1))])
    to_image = np.linalg.solve(design, image_points + 0.5).T
    return invert_affine(to_image)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.hypot(*vector))
    return vector / norm if norm > 0 else vector


def region_polygons(points: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Polygons ``(k, 2)`` of each facial region from 68 landmarks (in any coordinates).

    Drawn in the face's own frame, so a tilted face gets tilted regions: "up" is from the chin
    (point 8) towards the mid-point of the brows. Brows are bands a tenth of the inter-ocular
    distance either side of their points; the forehead reaches above the brows by 0.6 of the
    brow-to-nose-tip distance; jaw and chin lie below the line of the mouth corners; cheeks are the
    rest of the face outline (jaw line up to the brows). Overlaps are resolved by
    :func:`region_segments` in the order of :data:`REGIONS`.
    """
    p = np.asarray(points, dtype=np.float64)
    brows = p[list(BROW_RIGHT + BROW_LEFT)]
    up = _unit(brows.mean(axis=0) - p[8])
    inter_ocular = float(np.hypot(*(p[list(EYE_LEFT)].mean(0) - p[list(EYE_RIGHT)].mean(0))))
    band = 0.1 * inter_ocular * up
    lift = 0.6 * float(np.hypot(*(brows.mean(axis=0) - p[30]))) * up

    def brow(idx: Sequence[int]) -> np.ndarray:
        line = p[list(idx)]
        return np.vstack([line + band, (line - band)[::-1]])

    brow_line = p[list(BROW_RIGHT + BROW_LEFT)]
    face_outline = np.vstack([p[list(JAW)], brow_line[::-1]])
    return {
        "eyes": [p[list(EYE_RIGHT)], p[list(EYE_LEFT)]],
        "brows": [brow(BROW_RIGHT), brow(BROW_LEFT)],
        "nose": [p[[27, 31, 32, 33, 34, 35]], p[[27, 28, 29, 30, 35, 31]]],
        "mouth": [p[list(MOUTH)]],
        "jaw and chin": [np.vstack([p[list(range(3, 14))], p[[54, 48]]])],
        "forehead": [np.vstack([brow_line, (brow_line + lift)[::-1]])],
        "cheeks": [face_outline],
    }


def region_segments(points: np.ndarray, shape: tuple[int, int]) -> Segmentation:
    """Facial regions of an ``(H, W)`` input from its 68 landmarks (in its continuous coords).

    A pixel belongs to the first region of :data:`REGIONS` whose polygon contains its centre;
    the others are ``outside``. Regions without a pixel are left out.
    """
    height, width = shape
    polygons = region_polygons(points)
    region = np.full((height, width), len(REGIONS) - 1, dtype=np.int64)
    taken = np.zeros((height, width), dtype=bool)
    for index, name in enumerate(REGIONS[:-1]):
        mask = np.zeros((height, width), dtype=bool)
        for poly in polygons[name]:
            # polygon2mask takes (row, col) vertices; pixel (r, c) has its centre at
            # (c + 0.5, r + 0.5) in continuous coordinates.
            mask |= polygon2mask((height, width), poly[:, ::-1] - 0.5)
        mask &= ~taken
        region[mask] = index
        taken |= mask
    present = np.unique(region)
    names = tuple(REGIONS[k] for k in present)
    labels = np.searchsorted(present, region).astype(np.int64)
    return Segmentation(labels, names, "regions", {"landmarks": "dlib 68-point"})


def input_landmarks(
    rgb: np.ndarray, face: Face, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The 68 landmarks in the photograph and mapped into the input by ``affine``."""
    original = landmarks_68(rgb, face)
    return original, apply_affine(affine, original)

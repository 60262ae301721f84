"""Robust loading of photographs as RGB arrays, with a recorded reason instead of a crash.

Every photograph that reaches the face pipeline goes through :func:`read_rgb` (raises
:class:`ImageRejected`) or :func:`load_image` (returns ``(None, reason)``). The reasons are
manifest statuses (:mod:`polface.images.status`):

``ok``          decoded into an ``H x W x 3`` ``uint8`` RGB array.
``unreadable``  missing, empty, not an image, corrupt or truncated (Pillow raised while decoding).
``too_small``   the shorter side is below ``min_side`` pixels (no face of that size can be in it).
``too_large``   more pixels than ``max_pixels``: Pillow's decompression-bomb guard (by default
                ``PIL.Image.MAX_IMAGE_PIXELS``, about 89.5 million pixels) or a stricter limit.
                The check reads only the file header, so a bomb is never decoded.

Conversions (all deliberate and documented so results are reproducible):

* EXIF orientation is applied (``ImageOps.exif_transpose``), so a phone photo stored sideways
  comes out upright and box coordinates refer to the upright image.
* Transparency (RGBA, LA, palette images with a transparent colour) is composited on white: a
  transparent background becomes white, as a browser shows it, instead of the arbitrary colour
  stored under alpha 0.
* CMYK (including Adobe-inverted CMYK JPEGs, which Pillow decodes), grayscale, 1-bit and palette
  images are converted to RGB with Pillow's conversions.
* 16-bit and 32-bit integer grayscale are rescaled to 8 bits (``value >> 8`` for 16-bit data,
  min-max for 32-bit ``I`` data) rather than clipped at 255 as ``Image.convert`` would.

Very large but legitimate images (a 10,000-pixel panorama) are decoded at full size; detection
runs on a copy from :func:`downscale` whose ``scale`` maps boxes back to original pixels.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from polface.errors import InputError
from polface.images.status import STATUS_OK, STATUS_TOO_LARGE, STATUS_TOO_SMALL, STATUS_UNREADABLE

log = logging.getLogger(__name__)


class ImageRejected(InputError):
    """An image that cannot be used; ``reason`` is a manifest status, ``detail`` says why."""

    def __init__(self, path: Path | str, reason: str, detail: str) -> None:
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB (alpha composited on white, 16-bit rescaled)."""
    if im.mode == "RGB":
        return im
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode.startswith("I;16") or im.mode == "I":
        data = np.asarray(im).astype(np.int64)
        if im.mode.startswith("I;16"):
            gray = (data >> 8).astype(np.uint8)
        else:
            lo, hi = int(data.min()), int(data.max())
            span = max(hi - lo, 1)
            gray = ((data - lo) * 255 // span).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if im.mode == "F":
        data = np.clip(np.asarray(im), 0, 255).astype(np.uint8)
        return Image.fromarray(data, mode="L").convert("RGB")
    return im.convert("RGB")


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception as err:  # any EXIF parsing failure is non-fatal
        log.warning("ignoring unreadable EXIF orientation of %s: %s", im.filename or im, err)
        return im


def read_rgb(
    path: Path | str,
    *,
    min_side: int,
    max_pixels: int | None,
) -> np.ndarray:
    """Decode ``path`` into an upright ``H x W x 3`` ``uint8`` RGB array.

    Args:
        path: the image file.
        min_side: smallest accepted shorter side in pixels (after EXIF rotation); the crop
            settings' ``min_face``.
        max_pixels: largest accepted ``width * height``; ``None`` uses Pillow's
            ``Image.MAX_IMAGE_PIXELS`` (its decompression-bomb warning threshold).

    Raises:
        ImageRejected: with ``reason`` ``unreadable``, ``too_small`` or ``too_large``.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both are refusals.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if limit is not None and width * height > limit:
                    raise ImageRejected(
                        path,
                        STATUS_TOO_LARGE,
                        f"{width}x{height} = {width * height} pixels exceeds the limit of {limit}",
                    )
                im.load()
                rgb = _to_rgb(_upright(im))
                array = np.asarray(rgb, dtype=np.uint8).copy()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageRejected(path, STATUS_TOO_LARGE, f"decompression bomb guard: {err}") from err
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, MemoryError) as err:
        # UnidentifiedImageError and "image file is truncated" are OSErrors.
        raise ImageRejected(path, STATUS_UNREADABLE, f"{type(err).__name__}: {err}") from err
    height, width = array.shape[:2]
    if min(height, width) < min_side:
        raise ImageRejected(
            path, STATUS_TOO_SMALL, f"{width}x{height} is below the minimum side of {min_side} px"
        )
    return array


def load_image(
    path: Path | str,
    *,
    min_side: int,
    max_pixels: int | None,
) -> tuple[np.ndarray | None, str]:
    """Load an image as RGB, returning ``(array, "ok")`` or ``(None, reason)``; never raises.

    ``reason`` is one of ``unreadable``, ``too_small``, ``too_large`` (see :func:`read_rgb`).
    """
    try:
        return read_rgb(path, min_side=min_side, max_pixels=max_pixels), STATUS_OK
    except ImageRejected as rejected:
        return None, rejected.reason


def downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``rgb`` so its longer side is at most ``max_side`` (never enlarges).

    Returns ``(small, scale)`` with ``original_coordinate = small_coordinate * scale``
    (``scale >= 1``; exactly 1.0 and the same array when no resizing was needed).
    Uses Pillow's antialiased bilinear reduction.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    height, width = rgb.shape[:2]
    longer = max(height, width)
    if longer <= max_side:
        return rgb, 1.0
    factor = max_side / longer
    new_w = max(1, round(width * factor))
    new_h = max(1, round(height * factor))
    small = Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR)
    # Map with the exact per-axis ratio of the longer side (both axes agree within rounding).
    scale = longer / (new_w if width >= height else new_h)
    return np.asarray(small), scale

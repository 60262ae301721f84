"""Robust loading of photographs as RGB arrays, with a recorded reason instead of a crash.

Every photograph that reaches the face pipeline goes through :func:`read_rgb` (raises
:class:`ImageRejected`) or :func:`load_image` (returns ``(None, reason)``); every other image
polface decodes (the trait models' inputs, the crops) goes through :func:`opened_image`. The
reasons are manifest statuses (:mod:`polface.images.status`):

``ok``          decoded into an ``H x W x 3`` ``uint8`` RGB array.
``unreadable``  missing, empty, not an image, corrupt or truncated (Pillow raised while decoding);
                not a regular file (a FIFO, a device, a socket: never opened); a path that
                resolves outside its image folder (a symlink out of it, or through a
                symlinked subfolder: never read), or one of whose folders became a
                symlink after it was checked (not followed); or a format
                outside :data:`ALLOWED_FORMATS` (the format Pillow would have used is named).
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

Photographs are untrusted input. Pillow picks a decoder by a file's content, not its name, and
some decoders run other programs (an EPS file named ``photo.jpg`` would be rendered by the
system's Ghostscript); so only the decoders of :data:`ALLOWED_FORMATS` may ever run, and
anything a decoder raises on a hostile file becomes ``unreadable``, never a crash.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from polface.errors import InputError
from polface.images.status import STATUS_OK, STATUS_TOO_LARGE, STATUS_TOO_SMALL, STATUS_UNREADABLE

log = logging.getLogger(__name__)

#: The only image formats (Pillow format names) polface decodes: the photographs' formats. Every
#: other Pillow decoder is never run, whatever a file contains (EPS, for one, runs Ghostscript).
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

#: What a file that is not a regular file is, for the ``unreadable`` detail.
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


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


def _file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, name in _FILE_KINDS:
        if test(mode):
            return name
    return "not a regular file"


def checked_photograph(path: Path | str, *, folder: Path | str) -> Path:
    """The real path of a photograph that may be opened; nothing is opened or read.

    The path must resolve (following every symlink, its own and its folders') to a regular
    file under ``folder`` resolved. ``folder`` is the root of the image set the photograph
    was listed from (an image set's ``folder.path``, the OMI ``images`` folder), never the
    photograph's own folder: a subfolder of the set that is a symlink to elsewhere
    (``set/sub -> /home/user/private``) resolves outside the root, so ``set/sub/x.jpg`` is
    refused, while a real subfolder (``**/*.jpg``) is inside it. There is no default, so that
    no caller can forget it; a caller that reads one file it was given passes that file's
    folder explicitly. A file found here is opened with :func:`open_photograph`, which walks
    the same path again without following any symlink below the root.

    Raises:
        ImageRejected: ``unreadable``, with the reason (not found, a symlink to a missing file
            or to outside the folder, not a regular file, or the operating system's error).
    """
    return _checked(path, folder)[0]


def _checked(path: Path | str, folder: Path | str) -> tuple[Path, Path]:
    """:func:`checked_photograph`'s real path and the resolved root it was checked under."""
    path = Path(path)
    base = Path(folder)
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        missing = "symlink to a missing file" if path.is_symlink() else "file not found"
        detail = f"{missing} ({os.strerror(errno.ENOENT)})"
        raise ImageRejected(path, STATUS_UNREADABLE, detail) from None
    except (OSError, RuntimeError) as err:  # a symlink loop, a permission on a folder
        raise ImageRejected(path, STATUS_UNREADABLE, f"cannot resolve the path: {err}") from err
    try:
        inside = base.resolve(strict=True)
    except (OSError, RuntimeError) as err:
        raise ImageRejected(
            path, STATUS_UNREADABLE, f"image folder {base} cannot be resolved: {err}"
        ) from err
    if not real.is_relative_to(inside):
        how = "'..' leads" if ".." in path.parts else "symlink"
        raise ImageRejected(
            path,
            STATUS_UNREADABLE,
            f"{how} to outside the image folder: resolves to {real}, not under {inside}; not read",
        )
    try:
        mode = os.stat(real).st_mode
    except OSError as err:
        raise ImageRejected(path, STATUS_UNREADABLE, f"{type(err).__name__}: {err}") from err
    if not stat.S_ISREG(mode):
        raise ImageRejected(
            path, STATUS_UNREADABLE, f"not a regular file ({_file_kind(mode)}); not opened"
        )
    return real, inside


def readable_photograph(path: Path | str, folder: Path | str) -> bool:
    """Whether :func:`checked_photograph` lets the photograph be opened (nothing is opened)."""
    try:
        checked_photograph(path, folder=folder)
    except ImageRejected:
        return False
    return True


def open_photograph(path: Path | str, *, folder: Path | str) -> BinaryIO:
    """Open a photograph for reading, only if it is a regular file inside its image folder.

    Checked before anything is opened (:func:`checked_photograph`), so nothing here can block
    or read outside the folder: a FIFO would block for ever, a device could be endless, a
    symlink could point anywhere. The checked path is then opened inside the root without
    following any symlink (:func:`_open_checked`): a folder of the set made a symlink after
    the check is refused, not followed. The file is opened without blocking and checked again
    on the open descriptor.

    Args:
        path: the photograph.
        folder: the root folder of the image set it was listed from (not its own folder,
            see :func:`checked_photograph`).

    Raises:
        ImageRejected: ``unreadable``, with the reason.
    """
    real, root = _checked(path, folder)
    return _open_checked(path, real, root)


def _open_checked(path: Path | str, real: Path, root: Path) -> BinaryIO:
    """Open ``real``, a checked photograph under the resolved ``root``, without leaving ``root``.

    ``root`` is opened as a folder (not through a symlink in its last component; its own
    parents are followed, see SECURITY.md), then each folder of ``real`` below it, one
    component at a time relative to the one before (``dir_fd``) and never through a symlink,
    then the file itself, without following a symlink and without blocking. A component that
    became a symlink, a file or nothing since :func:`checked_photograph` looked is refused,
    named; so is a file that is no longer a regular file. Where ``os.open`` takes no
    ``dir_fd`` (``os.supports_dir_fd``; Windows), ``real`` is opened whole, only its last
    component unfollowed, as before this walk existed: a folder swapped for a symlink between
    the check and the open is then followed.

    Raises:
        ImageRejected: ``unreadable``, naming the component and the operating system's error.
    """
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    cloexec = getattr(os, "O_CLOEXEC", 0)
    # O_PATH (Linux): a folder that may be searched but not listed is walked as before; where
    # there is no O_PATH (macOS, BSD) the walk needs each folder to be readable.
    folder_flags = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0)
    folder_flags |= nofollow | cloexec
    file_flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | nofollow | cloexec
    file_flags |= getattr(os, "O_BINARY", 0)
    if os.open not in os.supports_dir_fd:
        try:
            fd = os.open(real, file_flags)
        except OSError as err:
            raise ImageRejected(path, STATUS_UNREADABLE, f"{type(err).__name__}: {err}") from err
    else:
        try:
            fd = os.open(root, folder_flags)
        except OSError as err:
            detail = f"image folder {root} cannot be opened: {type(err).__name__}: {err}"
            raise ImageRejected(path, STATUS_UNREADABLE, detail) from err
        here = root
        parts = real.relative_to(root).parts
        for i, name in enumerate(parts):
            here = here / name
            try:
                fd_next = os.open(
                    name, file_flags if i == len(parts) - 1 else folder_flags, dir_fd=fd
                )
            except OSError as err:
                raise ImageRejected(path, STATUS_UNREADABLE, _changed(here, fd, err)) from err
            finally:
                os.close(fd)
            fd = fd_next
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between the check and the open
            raise ImageRejected(
                path, STATUS_UNREADABLE, f"not a regular file ({_file_kind(mode)}); not read"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _changed(here: Path, parent: int, err: OSError) -> str:
    """Why ``here``, a component of a checked path, could not be opened in its folder ``parent``."""
    try:
        mode: int | None = os.stat(here.name, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        mode = None
    if mode is None:
        now = "no longer there"
    elif stat.S_ISLNK(mode):
        now = "now a symlink, not followed"
    elif err.errno == errno.ENOTDIR:
        now = "no longer a folder"
    else:  # a permission, an I/O error: not a change the walk can name
        return f"{here}: {type(err).__name__}: {err.strerror}"
    return f"{here} changed since the check: {now}; not read"


def detected_format(head: bytes) -> str | None:
    """The Pillow format whose signature the first bytes of a file match (nothing is decoded).

    Only the formats' signature checks run (comparisons of bytes), never a decoder; used to say
    what a refused file is.
    """
    Image.init()
    for name, (_, accept) in Image.OPEN.items():
        if accept is None:
            continue
        try:
            result = accept(head)
        except Exception:  # a signature check that cannot handle these bytes: not that format
            continue
        if result and not isinstance(result, str):  # a str is Pillow's "maybe" warning
            return name
    return None


@contextmanager
def image_from(fh: BinaryIO, name: Path | str, *, max_pixels: int | None) -> Iterator[Image.Image]:
    """Pillow's image of an open photograph, restricted to :data:`ALLOWED_FORMATS`.

    Within the ``with`` block, anything raised while reading it (decoding errors of every
    type, not only Pillow's ``OSError``) becomes :class:`ImageRejected` ``unreadable``.

    Args:
        fh: the file, e.g. from :func:`open_photograph`, at its start.
        name: the file's name for messages.
        max_pixels: largest accepted ``width * height``, checked on the header before any
            pixel is decoded; ``None`` uses Pillow's ``Image.MAX_IMAGE_PIXELS``.

    Raises:
        ImageRejected: ``unreadable`` (including a format that is not allowed, named as
            detected) or ``too_large``.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both are refusals.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fh, formats=ALLOWED_FORMATS) as im:
                width, height = im.size
                if limit is not None and width * height > limit:
                    raise ImageRejected(
                        name,
                        STATUS_TOO_LARGE,
                        f"{width}x{height} = {width * height} pixels exceeds the limit of {limit}",
                    )
                yield im
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageRejected(name, STATUS_TOO_LARGE, f"decompression bomb guard: {err}") from err
    except UnidentifiedImageError as err:
        raise ImageRejected(name, STATUS_UNREADABLE, _unidentified(fh)) from err
    except Exception as err:
        # Decoders raise OSError ("image file is truncated"), ValueError, SyntaxError,
        # struct.error, IndexError, zlib.error, MemoryError, ... on hostile files: all rows.
        raise ImageRejected(name, STATUS_UNREADABLE, f"{type(err).__name__}: {err}") from err


def _unidentified(fh: BinaryIO) -> str:
    """Why no allowed decoder took a file: its detected format, if any."""
    allowed = ", ".join(ALLOWED_FORMATS)
    try:
        fh.seek(0)
        head = fh.read(16)
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    if not head:
        return "empty file"
    found = detected_format(head)
    if found is None:
        return f"not an image in an allowed format ({allowed})"
    if found in ALLOWED_FORMATS:
        return f"starts like a {found} file but its header cannot be read"
    return f"image format not allowed: detected as {found}; polface decodes only {allowed}"


def decode_rgb(
    fh: BinaryIO, name: Path | str, *, min_side: int, max_pixels: int | None
) -> np.ndarray:
    """Decode an open photograph into an upright ``H x W x 3`` ``uint8`` RGB array.

    The file is read with :func:`image_from`; ``name`` names it in messages. See
    :func:`read_rgb`.
    """
    with image_from(fh, name, max_pixels=max_pixels) as im:
        im.load()
        rgb = _to_rgb(_upright(im))
        array = np.asarray(rgb, dtype=np.uint8).copy()
    height, width = array.shape[:2]
    if min(height, width) < min_side:
        raise ImageRejected(
            name, STATUS_TOO_SMALL, f"{width}x{height} is below the minimum side of {min_side} px"
        )
    return array


@contextmanager
def opened_image(
    path: Path | str, *, max_pixels: int | None, folder: Path | str
) -> Iterator[Image.Image]:
    """:func:`open_photograph` and :func:`image_from` in one: an image file, read safely.

    For every image polface decodes other than through :func:`read_rgb`; ``folder`` as in
    :func:`checked_photograph` (for a crop: the crops folder crop_faces wrote).
    """
    with (
        open_photograph(path, folder=folder) as fh,
        image_from(fh, path, max_pixels=max_pixels) as im,
    ):
        yield im


def read_rgb(
    path: Path | str,
    *,
    min_side: int,
    max_pixels: int | None,
    folder: Path | str,
) -> np.ndarray:
    """Decode ``path`` into an upright ``H x W x 3`` ``uint8`` RGB array.

    Args:
        path: the image file.
        min_side: smallest accepted shorter side in pixels (after EXIF rotation); the crop
            settings' ``min_face``.
        max_pixels: largest accepted ``width * height``; ``None`` uses Pillow's
            ``Image.MAX_IMAGE_PIXELS`` (its decompression-bomb warning threshold).
        folder: the root folder of the image set ``path`` belongs to (see
            :func:`checked_photograph`).

    Raises:
        ImageRejected: with ``reason`` ``unreadable``, ``too_small`` or ``too_large``.
    """
    with open_photograph(path, folder=folder) as fh:
        return decode_rgb(fh, path, min_side=min_side, max_pixels=max_pixels)


def load_image(
    path: Path | str,
    *,
    min_side: int,
    max_pixels: int | None,
    folder: Path | str,
) -> tuple[np.ndarray | None, str]:
    """Load an image as RGB, returning ``(array, "ok")`` or ``(None, reason)``; never raises.

    ``reason`` is one of ``unreadable``, ``too_small``, ``too_large`` (see :func:`read_rgb`).
    """
    try:
        return read_rgb(path, min_side=min_side, max_pixels=max_pixels, folder=folder), STATUS_OK
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

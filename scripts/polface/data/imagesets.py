"""Image sets: which photographs a set holds, and the One Million Impressions download.

An image set (config key ``image_sets``) is a folder of photographs, or the One Million
Impressions (OMI) faces (:mod:`polface.data.omi`). The image id of a photograph is its file name
without the extension; a set is ordered by the natural order of the ids (``2`` before ``10``),
and ``limit`` keeps the first N.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from tqdm import tqdm

from polface.data.omi import OMI_IMAGES, OMI_RATINGS, read_omi_ratings
from polface.errors import InputError
from polface.io import download_once, file_sha256, write_atomic

log = logging.getLogger(__name__)


def natural_key(image_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``2`` < ``10`` < ``a2`` < ``a10`` < ``b``."""
    parts = re.split(r"(\d+)", image_id)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def list_images(folder: Path | str, *, pattern: str, limit: int | None) -> dict[str, Path]:
    """The photographs of a folder matching a glob ``pattern``: ``{image_id: path}``.

    Hidden files and folders are skipped. Everything else the pattern matches is listed, also
    what cannot be read (a FIFO, a device, a dangling symlink, a symlink out of the folder, a
    file in a subfolder that is a symlink to elsewhere), so that it gets a manifest row saying
    why (:func:`polface.images.load.open_photograph` with ``folder`` as the set's root, which
    never opens such a file); nothing is opened here. Ids are the file names without their
    extension, in natural order; ``limit`` keeps the first ``limit`` of them.

    Raises:
        FileNotFoundError: the folder does not exist.
        InputError: two files share an id (e.g. ``a.jpg`` and ``a.png``), naming both.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    found: dict[str, Path] = {}
    for path in root.glob(pattern):
        if path.name.startswith(".") or path.is_dir():
            continue
        image_id = path.stem
        if image_id in found:
            raise InputError(
                f"{root}: {found[image_id].name} and {path.relative_to(root)} share the image id"
                f" {image_id!r}; rename one or narrow the pattern {pattern!r}"
            )
        found[image_id] = path
    ordered = sorted(found, key=natural_key)
    if limit is not None:
        ordered = ordered[:limit]
    return {image_id: found[image_id] for image_id in ordered}


def image_set_folder(image_set: Mapping[str, object], omi_root: Path | str) -> tuple[Path, str]:
    """The folder and glob pattern of an image set's photographs.

    ``omi_root`` is where the OMI copy lies (the set's ``omi.path``, or resources/omi when it is
    downloaded); it is ignored for a ``folder`` set.
    """
    folder = image_set.get("folder")
    if isinstance(folder, Mapping):
        return Path(str(folder["path"])), str(folder.get("pattern", "*.jpg"))
    return Path(omi_root) / OMI_IMAGES, "*.jpg"


def _inside(root: Path, relative: Path) -> Path:
    """``root / relative``, refused unless it stays inside ``root`` (not absolute, no ``..``)."""
    target = root / relative
    if (
        relative.is_absolute()
        or ".." in relative.parts
        or not target.resolve().is_relative_to(root.resolve())
    ):
        raise ValueError(f"{relative} would be written outside the download folder {root}")
    return target


def fetch_omi(*, url: str, dest: Path | str, progress: bool = True) -> Path:
    """Download the OMI ratings and every image they list from base ``url`` into ``dest``, once.

    ``attribute_means.csv`` comes first; the images ``images/N.jpg`` are those of its
    ``stimulus`` column, each checked to be an OMI image number (:func:`read_omi_ratings`)
    before anything else is downloaded (a ratings file that fails is removed), and every file
    is written inside ``dest``. Each file is streamed to a temporary name and renamed
    (:func:`polface.io.download_once`), and files already present are kept, so an
    interrupted download resumes. Last, ``checksums.tsv`` (``file``, ``sha256``; paths relative
    to ``dest``) is written atomically: its presence means the copy is complete.

    Returns:
        The path of ``checksums.tsv``.
    """
    root = Path(dest)
    base = url.rstrip("/")
    ratings = download_once(f"{base}/{OMI_RATINGS}", root / OMI_RATINGS)
    try:
        # The ids become file names: checked before any image is downloaded or written.
        ids = read_omi_ratings(ratings).index.tolist()
    except ValueError:
        ratings.unlink(missing_ok=True)  # not kept: the next run downloads it again
        raise
    files = [Path(OMI_RATINGS)]
    for image_id in tqdm(ids, desc="fetch_omi", unit="img", disable=not progress):
        relative = Path(OMI_IMAGES) / f"{image_id}.jpg"
        download_once(f"{base}/{relative.as_posix()}", _inside(root, relative))
        files.append(relative)
    lines = ["file\tsha256"] + [f"{f.as_posix()}\t{file_sha256(root / f)}" for f in files]
    log.info("fetched %d OMI images and the ratings into %s", len(ids), root)
    return write_atomic(root / "checksums.tsv", "\n".join(lines) + "\n")

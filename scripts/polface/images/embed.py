"""Face embeddings: an embedder per backend (weights loaded once), and resumable parquet output.

:func:`load_embedder` returns an :class:`Embedder`: one backend's network with its weights
loaded once on a chosen device, whose :meth:`Embedder.embed` turns a batch of ``uint8`` crops
(or, for ``dlib``, face chips from :func:`dlib_chip`) into ``float32`` ``(n, D)`` vectors.
:func:`embed_crops` (rule embed_faces) runs the same object over the ``ok`` rows of a crop
manifest; :mod:`polface.explain.chain` runs it on images in memory.

Backends (:data:`BACKENDS`):

``vggface2``  ResNet-50 in the Caffe layout with the VGGFace2 ``resnet50_ft`` weights (the
              descriptors of Kosinski 2021): the 224 px crops of
              :func:`polface.images.crop.crop_faces`,
              BGR minus the VGGFace2 channel means, 2048-d global-average-pooled features.
``imagenet``  ResNet-50 in the torchvision layout with ImageNet weights from a local file
              (safetensors or a ``torch.save`` state dict read with ``weights_only=True``): the
              same crops, ImageNet normalisation, 2048-d features.
``dlib``      dlib's ``dlib_face_recognition_resnet_model_v1`` (from face-recognition-models, so
              it works offline with real pretrained weights): the face chip is cut from the
              source photograph with ``dlib.get_face_chip`` (150 px, padding 0.25, dlib's
              alignment from the manifest's 5 landmarks), 128-d descriptors, no jittering.

Output: a parquet file with ``image_id`` (string) and ``embedding``
(``fixed_size_list<float32>[D]``), one row per ``ok`` manifest row in manifest order (read it
with :func:`polface.io.read_features`), and the project's metadata convention: one JSON document
under the key ``polface`` (:func:`polface.io.read_metadata`) with ``backend``, ``dim``,
``weights_file``, ``weights_sha256``, ``preprocessing``, ``input_size`` (crop or chip side in
pixels), ``crop_settings`` (as passed by the caller) and ``device``.

Resuming: finished chunks are written as separate part files (``part-NNNNNN.parquet``) in a
work directory; each records the backend fingerprint in its metadata and, per row, the SHA-256
of the input (the crop PNG, or for ``dlib`` the source file's hash and the landmarks). A rerun
reuses only rows whose fingerprint and input hash still match and computes the rest; the final
file is assembled from the parts and renamed into place, and the work directory is removed
unless ``keep_parts``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from polface.device import autocast_dtype, describe_device, resolve_device
from polface.errors import InputError
from polface.frames import IMAGE_ID
from polface.images.crop import FaceCrop, import_dlib, listed_in_manifest, model_file
from polface.images.load import (
    ImageRejected,
    decode_rgb,
    image_from,
    open_photograph,
    opened_image,
)
from polface.images.resnet import Layout, ResNet50, preprocess
from polface.images.weights import load_weights
from polface.io import (
    FeatureRows,
    file_sha256,
    read_metadata,
    write_parquet,
    write_parquet_blocks,
)

log = logging.getLogger(__name__)

BackendName = Literal["vggface2", "imagenet", "dlib"]

#: dlib chip geometry (dlib's defaults, with which its recognition network was trained).
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25

#: Rows per part file of an interrupted run (a library setting, not a config key).
DEFAULT_CHUNK_SIZE = 4096
#: Rows per row group of the final embeddings file (assembled from the parts this many at once).
ASSEMBLE_ROWS = 16384


@dataclass(frozen=True)
class Backend:
    """An embedding backend: output size, ResNet layout (``None`` for dlib) and preprocessing."""

    name: str
    dim: int
    layout: Layout | None
    preprocessing: str


BACKENDS: dict[str, Backend] = {
    "vggface2": Backend(
        "vggface2",
        2048,
        "caffe",
        "crop PNGs of polface.images.crop.crop_faces (size in input_size, settings in "
        "crop_settings); RGB->BGR, 0-255 minus mean B 91.4953 G 103.8827 R 131.0912, "
        "no std; ResNet-50 caffe layout (stride in 1x1); global average pool -> 2048",
    ),
    "imagenet": Backend(
        "imagenet",
        2048,
        "torchvision",
        "crop PNGs of polface.images.crop.crop_faces (size in input_size, settings in "
        "crop_settings); RGB/255 minus ImageNet "
        "mean (0.485, 0.456, 0.406) over std (0.229, 0.224, 0.225); ResNet-50 torchvision "
        "layout; global average pool -> 2048",
    ),
    "dlib": Backend(
        "dlib",
        128,
        None,
        f"dlib.get_face_chip(size={DLIB_CHIP_SIZE}, padding={DLIB_CHIP_PADDING}) from the "
        "source image and the manifest's 5 landmarks; dlib_face_recognition_resnet_model_v1, "
        "num_jitters=0 -> 128",
    ),
}


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_crops` did: the file, its rows, and how many were computed or reused."""

    path: Path
    n_rows: int
    n_computed: int
    n_reused: int
    metadata: dict[str, object]


def _ok_rows(manifest: pd.DataFrame, backend: Backend) -> pd.DataFrame:
    """The manifest's ``ok`` rows with the columns this backend needs, checked."""
    if backend.layout is None:
        needed = [IMAGE_ID, "status", "source", "sha256"]
        needed += ["box_left", "box_top", "box_right", "box_bottom", "landmarks"]
    else:
        needed = [IMAGE_ID, "status", "crop"]
    absent = [c for c in needed if c not in manifest.columns]
    if absent:
        raise ValueError(f"manifest lacks column(s) {absent} needed by backend {backend.name!r}")
    rows = manifest.loc[manifest["status"] == "ok", needed].reset_index(drop=True)
    rows[IMAGE_ID] = rows[IMAGE_ID].astype(str)
    dupes = rows[IMAGE_ID][rows[IMAGE_ID].duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"manifest has duplicate ok image ids: {dupes[:10]}")
    return rows


def _dlib_input_key(row: pd.Series) -> str:
    """Input fingerprint of a dlib row: the source file hash and the landmarks."""
    landmarks = ",".join(f"{float(v):.3f}" for v in row["landmarks"])
    return hashlib.sha256(f"{row['sha256']}|{landmarks}".encode()).hexdigest()


#: The key of a dataset item whose input was refused, before the refusal's message. A DataLoader
#: worker re-raises an exception with the worker's traceback in its message, so the datasets hand
#: an :class:`InputError` to the main process as data, and :func:`raise_refused` raises it there
#: with its one-line message (with or without workers). A real key is a SHA-256 in hex.
REFUSED = "refused: "


def raise_refused(keys: Sequence[str]) -> None:
    """Raise the :class:`InputError` of the first refused item of a batch's ``keys``, if any."""
    for key in keys:
        if key.startswith(REFUSED):
            raise InputError(key[len(REFUSED) :])


class _InputDataset(Dataset):
    """A dataset of ``uint8`` images of one ``shape`` and their keys; an item whose input is
    refused (an :class:`InputError`) is a blank image with the key ``REFUSED + message``."""

    shape: tuple[int, int, int]

    def _item(self, index: int) -> tuple[torch.Tensor, str]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        try:
            return self._item(index)
        except InputError as err:
            return torch.zeros(self.shape, dtype=torch.uint8), f"{REFUSED}{err}"


def crops_folder(crops: Sequence[str]) -> Path:
    """The one folder that holds every crop of a manifest, in which each crop is checked.

    crop_faces writes every crop of a manifest into its ``out_dir`` as ``{image_id}.png`` (an
    id is a file name without its extension, so never a subfolder), each to a temporary name
    renamed into place (a rename replaces a symlink, never writes through it), and Snakemake
    empties that folder before the rule runs: it holds only regular files crop_faces wrote. A
    crop that resolves outside it (a symlink put there later) is then refused like a photograph
    outside its image set.

    Raises:
        ValueError: the crops lie in more than one folder (not a crop_faces manifest).
    """
    parents = sorted({str(Path(crop).parent) for crop in crops})
    if len(parents) > 1:
        raise ValueError(
            f"the manifest's crops lie in {len(parents)} folders ({parents[:3]}); crop_faces "
            "writes every crop of a manifest into one folder"
        )
    return Path(parents[0]) if parents else Path()


def crop_refused(path: str, manifest: str | None, detail: str) -> InputError:
    """The error of a crop that cannot be read: the crop, the manifest that listed it, why."""
    return InputError(f"crop {path} {listed_in_manifest(path, manifest)}: {detail}")


def _crop_sha256(path: str, folder: Path) -> str | None:
    """SHA-256 of a crop read inside its folder (:func:`open_photograph`); ``None`` if refused.

    A refused crop is never reused: :class:`CropDataset` reads it again and says why.
    """
    try:
        with open_photograph(path, folder=folder) as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except ImageRejected:
        return None


class CropDataset(_InputDataset):
    """Reads crop PNGs as ``uint8`` ``(S, S, 3)`` tensors with the SHA-256 of each file.

    Each crop must be a regular file inside ``folder`` (:func:`crops_folder`); one that cannot
    be read is refused naming it and ``manifest``, the manifest file that listed it (a crop
    gone since crop_faces wrote it: rerun crop_faces).
    """

    def __init__(
        self, paths: Sequence[str], size: int, folder: Path | str, manifest: str | None = None
    ) -> None:
        self.paths = list(paths)
        self.size = size
        self.shape = (size, size, 3)
        self.folder = folder
        self.manifest = manifest

    def __len__(self) -> int:
        return len(self.paths)

    def _item(self, index: int) -> tuple[torch.Tensor, str]:
        path = self.paths[index]
        try:
            with open_photograph(path, folder=self.folder) as fh:
                data = fh.read()
        except ImageRejected as err:
            raise crop_refused(path, self.manifest, err.detail) from err
        except OSError as err:  # the read failed (an I/O error)
            raise crop_refused(path, self.manifest, f"cannot be read ({err})") from err
        try:
            with image_from(io.BytesIO(data), path, max_pixels=None) as im:
                array = np.asarray(im.convert("RGB"))
        except ImageRejected as err:
            raise crop_refused(path, self.manifest, err.detail) from err
        if array.shape != (self.size, self.size, 3):
            raise InputError(
                f"crop {path} is {array.shape[1]}x{array.shape[0]}; expected "
                f"{self.size}x{self.size} like the first crop"
            )
        return torch.from_numpy(array.copy()), hashlib.sha256(data).hexdigest()


class ChipDataset(_InputDataset):
    """Cuts dlib face chips from source photographs using the manifest's box and landmarks.

    Each photograph must be a regular file inside ``folder``, the image set's root folder
    (:func:`polface.images.load.checked_photograph`), as crop_faces checked it; one that cannot
    be read is refused naming it, its row and ``manifest``, the manifest file that listed it.
    """

    shape = (DLIB_CHIP_SIZE, DLIB_CHIP_SIZE, 3)

    def __init__(self, rows: pd.DataFrame, folder: Path | str, manifest: str | None = None) -> None:
        self.rows = rows.reset_index(drop=True)
        self.folder = folder
        self.manifest = manifest

    def __len__(self) -> int:
        return len(self.rows)

    def _item(self, index: int) -> tuple[torch.Tensor, str]:
        row = self.rows.iloc[index]
        source = row["source"]
        try:
            # The bytes crop_faces hashed and accepted, or nothing: checked again against the
            # image set's root (a subfolder made a symlink since then resolves outside it).
            with open_photograph(source, folder=self.folder) as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
                if digest != row["sha256"]:
                    raise InputError(
                        f"source image {source} of ok row {row['image_id']!r} has SHA-256 "
                        f"{digest}, not the manifest's {row['sha256']}: rerun crop_faces"
                    )
                fh.seek(0)
                rgb = decode_rgb(fh, source, min_side=1, max_pixels=None)
        except ImageRejected as err:
            listed = listed_in_manifest(source, self.manifest)
            raise InputError(f"source image of ok row {row['image_id']!r} {listed}: {err}") from err
        chip = dlib_chip(
            rgb,
            (row["box_left"], row["box_top"], row["box_right"], row["box_bottom"]),
            np.asarray(row["landmarks"], dtype=np.float64).reshape(5, 2),
        )
        return torch.from_numpy(chip), _dlib_input_key(row)


def dlib_chip(
    rgb: np.ndarray, box: Sequence[float], landmarks: np.ndarray, size: int = DLIB_CHIP_SIZE
) -> np.ndarray:
    """dlib's aligned face chip (``size`` px, padding 0.25) from a box and 5 landmarks."""
    dlib = import_dlib("the dlib embedding backend's face chips")
    left, top, right, bottom = (round(float(v)) for v in box)
    rect = dlib.rectangle(left, top, right - 1, bottom - 1)
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in landmarks])
    shape = dlib.full_object_detection(rect, points)
    chip = dlib.get_face_chip(np.ascontiguousarray(rgb), shape, size, DLIB_CHIP_PADDING)
    return np.ascontiguousarray(chip, dtype=np.uint8)


def _metadata(
    backend: Backend,
    weights_file: str,
    weights_sha: str,
    device: str,
    input_size: int,
    crop_settings: Mapping[str, object] | None,
) -> dict[str, object]:
    return {
        "backend": backend.name,
        "dim": backend.dim,
        "weights_file": weights_file,
        "weights_sha256": weights_sha,
        "preprocessing": backend.preprocessing,
        "input_size": input_size,
        # Through JSON once, so that the metadata compares equal to what is read back.
        "crop_settings": json.loads(json.dumps(dict(crop_settings or {}), default=str)),
        "device": device,
    }


def _embedding_table(
    ids: Sequence[str], vectors: np.ndarray, dim: int, keys: Sequence[str] | None = None
) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel(), type=pa.float32())
    columns = {IMAGE_ID: pa.array(list(ids), type=pa.string())}
    if keys is not None:
        columns["input_sha256"] = pa.array(list(keys), type=pa.string())
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table(columns)


def _assembled_blocks(
    ids: Sequence[str], wanted: Mapping[str, Path], dim: int, block_rows: int
) -> Iterator[pa.Table]:
    """Tables of ``block_rows`` ids in the given order, each row read from the part ``wanted``."""
    rows_of: dict[Path, FeatureRows] = {}
    for start in range(0, len(ids), block_rows):
        block = list(ids[start : start + block_rows])
        vectors = np.empty((len(block), dim), dtype=np.float32)
        by_part: dict[Path, list[int]] = {}
        for k, image_id in enumerate(block):
            by_part.setdefault(wanted[image_id], []).append(k)
        for part, positions in by_part.items():
            if part not in rows_of:
                rows_of = {part: FeatureRows(part, IMAGE_ID)}  # one part open at a time
            source = rows_of[part]
            index = {image_id: r for r, image_id in enumerate(source.ids)}
            rows = np.array([index[block[k]] for k in positions], dtype=np.int64)
            order = np.argsort(rows, kind="stable")
            vectors[np.asarray(positions)[order]] = source.take(rows[order])
        yield _embedding_table(block, vectors, dim)


def _fingerprint(meta: Mapping[str, object]) -> dict[str, object]:
    keys = ("backend", "dim", "weights_sha256", "preprocessing", "input_size", "crop_settings")
    return {k: meta.get(k) for k in (*keys, "device")}


def _load_parts(
    work: Path, meta: Mapping[str, object]
) -> tuple[list[Path], dict[str, tuple[Path, str]]]:
    """Part files that match ``meta``, and for each id the part holding it and its input key.

    Parts from another backend, weights, preprocessing or device are deleted.
    """
    parts = sorted(work.glob("part-*.parquet"))
    valid = []
    where: dict[str, tuple[Path, str]] = {}
    for part in parts:
        try:
            same = _fingerprint(read_metadata(part)) == _fingerprint(meta)
        except (OSError, KeyError, ValueError, pa.ArrowInvalid):
            same = False
        if not same:
            log.warning("discarding %s: made with other settings or unreadable", part)
            part.unlink()
            continue
        valid.append(part)
        table = pq.read_table(part, columns=[IMAGE_ID, "input_sha256"])
        for image_id, key in zip(
            table.column(IMAGE_ID).to_pylist(),
            table.column("input_sha256").to_pylist(),
            strict=True,
        ):
            where[image_id] = (part, key)
    return valid, where


class Embedder:
    """One backend's network with its weights loaded once, on one device.

    Made by :func:`load_embedder`. :meth:`embed` takes a batch of ``uint8`` RGB images
    ``(n, H, W, 3)``: crops of :func:`polface.images.crop.crop_face` for the ResNet backends,
    ``150 x 150`` chips of :func:`dlib_chip` for ``dlib``; :meth:`input_of` makes that input
    from a photograph and its :class:`~polface.images.crop.FaceCrop`.
    """

    def __init__(
        self,
        backend: Backend,
        model: object,
        device: torch.device,
        weights_file: str,
        weights_sha256: str,
    ) -> None:
        self.backend = backend
        self.model = model
        self.device = device
        self.weights_file = weights_file
        self.weights_sha256 = weights_sha256

    @property
    def dim(self) -> int:
        """Length of one embedding."""
        return self.backend.dim

    @property
    def uses_chips(self) -> bool:
        """Whether :meth:`embed` takes dlib chips cut from the photograph (not the crops)."""
        return self.backend.layout is None

    def describe_device(self) -> str:
        """Where and in which precision the network runs (the files' ``device`` metadata)."""
        return describe_device(self.device)

    def input_of(self, rgb: np.ndarray, cropped: FaceCrop) -> np.ndarray:
        """The network input of one face: its dlib chip from ``rgb``, or its crop."""
        if not cropped.ok:
            raise ValueError(f"no face to embed: status {cropped.status} ({cropped.detail})")
        if not self.uses_chips:
            return cropped.crop  # type: ignore[return-value]
        face = cropped.face
        assert face is not None and cropped.landmarks is not None
        return dlib_chip(rgb, (face.left, face.top, face.right, face.bottom), cropped.landmarks)

    def embed(self, images: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings ``(n, D)`` float32 of a ``uint8`` batch ``(n, H, W, 3)``."""
        if self.uses_chips:
            batch = images.numpy() if isinstance(images, torch.Tensor) else images
            chips = [np.ascontiguousarray(c) for c in batch]
            vectors = self.model.compute_face_descriptor(chips)  # type: ignore[attr-defined]
            return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32).reshape(
                len(chips), self.dim
            )
        if not isinstance(images, torch.Tensor):
            images = torch.from_numpy(np.ascontiguousarray(np.stack(list(images))))
        x = preprocess(images.to(self.device, non_blocking=True), self.backend.layout)
        amp = autocast_dtype(self.device)
        with torch.inference_mode():
            if amp is not None:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device_type="cuda", dtype=amp):
                    out = self.model.features(x)  # type: ignore[attr-defined]
            else:
                out = self.model.features(x)  # type: ignore[attr-defined]
        return out.float().cpu().numpy()


def load_embedder(
    backend: BackendName,
    *,
    weights_path: Path | str | None,
    device: str,
    cache_path: Path | str | None = None,
    weights_setting: str | None = None,
) -> Embedder:
    """Load ``backend``'s network and weights once onto ``device``.

    Args:
        backend: ``vggface2``, ``imagenet`` or ``dlib`` (see :data:`BACKENDS`).
        weights_path: required for ``vggface2`` (the ``resnet50_ft`` pickle or its
            safetensors) and ``imagenet`` (a torchvision-layout state dict as safetensors or
            ``.pth``); for ``dlib`` an override of the bundled ``.dat``, or ``None``.
        device: ``auto`` (CUDA with autocast and channels_last if available, else CPU),
            ``cpu``, ``cuda`` or ``cuda:N``. dlib always runs on the CPU (dlib-bin has no CUDA).
        cache_path: where a pickle's safetensors cache goes (default beside the pickle).
        weights_setting: the config key that named ``weights_path``, for error messages.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    spec = BACKENDS[backend]
    if spec.layout is None:
        dlib = import_dlib("the dlib embedding backend")
        dat = (
            Path(weights_path)
            if weights_path
            else model_file("dlib_face_recognition_resnet_model_v1.dat")
        )
        model = dlib.face_recognition_model_v1(str(dat))
        return Embedder(spec, model, torch.device("cpu"), str(dat), file_sha256(dat))
    if weights_path is None:
        raise ValueError(f"backend {backend!r} needs weights_path (no weights are bundled)")
    dev = resolve_device(device)
    net = ResNet50(spec.layout)
    info = load_weights(
        net,
        weights_path,
        cache_path=Path(cache_path) if cache_path else None,
        setting=weights_setting,
    )
    net.eval().to(dev)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    return Embedder(spec, net, dev, info.source, info.source_sha256)


def embed_crops(
    manifest: pd.DataFrame,
    backend: BackendName,
    *,
    out_path: Path | str,
    image_folder: Path | str,
    weights_path: Path | str | None,
    device: str,
    batch_size: int,
    crop_settings: Mapping[str, object] | None,
    work_dir: Path | str | None = None,
    cache_path: Path | str | None = None,
    weights_setting: str | None = None,
    manifest_path: Path | str | None = None,
    num_workers: int | None = None,
    resume: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keep_parts: bool = False,
    assemble_rows: int = ASSEMBLE_ROWS,
    progress: bool = True,
) -> EmbedResult:
    """Embed the ``ok`` rows of a :func:`polface.images.crop.crop_faces` manifest into parquet.

    The network is a :func:`load_embedder` embedder; ``weights_path``, ``device``,
    ``batch_size`` and ``crop_settings`` have no defaults here (the config schema holds them).

    Args:
        manifest: the crop manifest (``image_id``, ``status``, ``crop``; for ``dlib`` also
            ``source``, ``sha256``, box and ``landmarks``).
        backend: ``vggface2``, ``imagenet`` or ``dlib`` (see :data:`BACKENDS`).
        out_path: the parquet file to write (atomically).
        image_folder: the root folder of the image set the manifest's photographs were listed
            from (crop_faces' ``folder``; the manifest's ``source.folder`` metadata): ``dlib``
            reads a photograph only if it resolves inside it. The crops are read only from the
            one folder crop_faces wrote them to (:func:`crops_folder`).
        weights_path: network weights (required for ``vggface2``: the ``resnet50_ft`` pickle or
            its safetensors; for ``imagenet``: a torchvision-layout state dict as safetensors or
            ``.pth``; for ``dlib`` an optional override of the bundled ``.dat``).
        device: ``auto`` (CUDA with autocast and channels_last if available, else CPU), ``cpu``,
            ``cuda`` or ``cuda:N``.
        batch_size: images per forward pass.
        crop_settings: the settings the crops were made with (e.g. the ``crop_faces`` keyword
            arguments); recorded as JSON in the metadata and part of the resume fingerprint.
        work_dir: where part files go (default ``<out_path>.parts``).
        cache_path: where a pickle's safetensors cache goes (default beside the pickle).
        weights_setting: the config key that named ``weights_path``, for error messages.
        manifest_path: the manifest file, named by the error of a crop or photograph it lists
            that cannot be read (one gone since crop_faces wrote the manifest: rerun it).
        num_workers: DataLoader worker processes reading and decoding images (0: in the main
            process); ``None`` means 0 on the CPU and ``min(8, CPUs)`` with a GPU.
        resume: reuse finished part files in ``work_dir`` whose settings and inputs match.
        chunk_size: rows per part file (rounded up to whole batches).
        keep_parts: keep the part files after the final file is written (later runs on a
            larger manifest then compute only the new rows).
        assemble_rows: rows per row group of the final file, which is written from the parts
            a row group at a time (memory: one row group and one part).
        progress: show a tqdm progress bar.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    bad_workers = num_workers is not None and num_workers < 0
    if min(batch_size, chunk_size, assemble_rows) < 1 or bad_workers:
        raise ValueError(
            "batch_size, chunk_size and assemble_rows must be >= 1 and num_workers >= 0"
        )
    spec = BACKENDS[backend]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".parts")
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)

    rows = _ok_rows(manifest, spec)
    listed_by = None if manifest_path is None else str(manifest_path)
    crops = crops_folder(rows["crop"].tolist()) if spec.layout is not None else None
    embedder = load_embedder(
        backend,
        weights_path=weights_path,
        device=device,
        cache_path=cache_path,
        weights_setting=weights_setting,
    )
    dev = embedder.device
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1) if dev.type == "cuda" else 0
    if spec.layout is None:
        input_size = DLIB_CHIP_SIZE
    elif len(rows):
        assert crops is not None
        try:
            with opened_image(rows["crop"].iloc[0], max_pixels=None, folder=crops) as first:
                input_size = first.size[0]
        except ImageRejected as err:
            raise crop_refused(rows["crop"].iloc[0], listed_by, err.detail) from err
    else:
        input_size = 0
    meta = _metadata(
        spec,
        embedder.weights_file,
        embedder.weights_sha256,
        embedder.describe_device(),
        input_size,
        crop_settings,
    )

    parts, where = _load_parts(work, meta)
    ids = rows[IMAGE_ID].tolist()
    # Current input keys: crop hashes are computed only for ids a part already holds.
    if spec.layout is None:
        held = rows[rows[IMAGE_ID].isin(list(where))]
        current: dict[str, str | None] = {
            r[IMAGE_ID]: _dlib_input_key(r) for _, r in held.iterrows()
        }
    else:
        assert crops is not None
        crop_of = dict(zip(rows[IMAGE_ID], rows["crop"], strict=True))
        current = {i: _crop_sha256(crop_of[i], crops) for i in ids if i in where}
    reused = {i for i in ids if i in where and where[i][1] == current.get(i)}
    todo = rows[~rows[IMAGE_ID].isin(reused)].reset_index(drop=True)
    log.info("%s: %d ok rows, %d reused, %d to compute", backend, len(ids), len(reused), len(todo))

    if len(todo):
        if spec.layout is None:
            dataset: Dataset = ChipDataset(todo, image_folder, listed_by)
        else:
            assert crops is not None
            dataset = CropDataset(todo["crop"].tolist(), input_size, crops, listed_by)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=dev.type == "cuda",
            persistent_workers=False,
        )
        next_index = 1 + max((int(p.stem.split("-")[1]) for p in parts), default=0)
        buffer_ids: list[str] = []
        buffer_keys: list[str] = []
        buffer_vecs: list[np.ndarray] = []
        position = 0

        def flush() -> None:
            nonlocal next_index
            if not buffer_ids:
                return
            part = work / f"part-{next_index:06d}.parquet"
            table = _embedding_table(buffer_ids, np.concatenate(buffer_vecs), spec.dim, buffer_keys)
            write_parquet(table, part, metadata=meta)
            parts.append(part)
            for image_id, key in zip(buffer_ids, buffer_keys, strict=True):
                where[image_id] = (part, key)
            next_index += 1
            buffer_ids.clear()
            buffer_keys.clear()
            buffer_vecs.clear()

        bar = tqdm(
            total=len(todo), desc=f"embed_faces[{backend}]", unit="img", disable=not progress
        )
        for batch, keys in loader:
            raise_refused(keys)
            n = len(keys)
            buffer_ids.extend(todo[IMAGE_ID].iloc[position : position + n].tolist())
            buffer_keys.extend(keys)
            buffer_vecs.append(embedder.embed(batch))
            position += n
            bar.update(n)
            if len(buffer_ids) >= chunk_size:
                flush()
        flush()
        bar.close()

    # Assemble the final file in manifest order from the parts that hold the current rows, a
    # row group at a time (a million 2048-d embeddings would be 8 GB in memory).
    schema = _embedding_table([], np.empty((0, spec.dim), np.float32), spec.dim).schema
    write_parquet_blocks(
        _assembled_blocks(ids, {i: where[i][0] for i in ids}, spec.dim, assemble_rows),
        out,
        schema,
        metadata=meta,
    )
    if not keep_parts:
        shutil.rmtree(work, ignore_errors=True)
    return EmbedResult(out, len(ids), len(todo), len(reused), meta)

"""Tests of polface.images.embed and .weights end to end, on real OMI faces, without downloads.

The dlib backend uses the real pretrained model from face-recognition-models. The ResNet backends
use a seeded, randomly initialised ResNet-50 written by the test in the layout of the released
VGGFace2 pickle (a dict of numpy arrays with torchvision-style names), so the real loading code
runs; their vectors are not meaningful faces descriptors, only the machinery is tested.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import save_file

from image_settings import CROP as SCHEMA_CROP
from image_settings import LOAD, crop_run, embed_run
from polface.device import resolve_device
from polface.errors import InputError, is_expected
from polface.images.crop import crop_faces
from polface.images.embed import BACKENDS, dlib_chip, embed_crops, load_embedder
from polface.images.load import read_rgb
from polface.images.resnet import ResNet50
from polface.images.weights import WeightsMismatchError, load_weights, sidecar_path
from polface.io import read_features, read_metadata

#: 112 px crops (box x1.3, shorter side 128) keep the CPU ResNet forwards 4x cheaper.
CROP = {**SCHEMA_CROP, "crop_size": 112, "resize_shorter": 128}


def read_embeddings(path: Path) -> tuple[list[str], np.ndarray, dict[str, object]]:
    """An embeddings file as (ids, vectors, metadata), read with the project's readers."""
    ids, vectors = read_features(path, "image_id")
    return ids, vectors, read_metadata(path)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def photos(omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image set's folder: OMI 1-6, a mirrored copy of OMI 1 and a broken file."""
    src = tmp_path_factory.mktemp("src")
    for i in range(1, 7):
        shutil.copyfile(omi_dir / "images" / f"{i}.jpg", src / f"{i}.jpg")
    Image.open(src / "1.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(src / "mirror.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return src


@pytest.fixture(scope="module")
def manifest(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Crops of OMI 1-6, a mirrored copy of OMI 1, OMI 1 a second time, and a broken file."""
    paths = {str(i): photos / f"{i}.jpg" for i in range(1, 7)}
    paths.update(again=photos / "1.jpg", mirror=photos / "mirror.png", broken=photos / "broken.jpg")
    out = tmp_path_factory.mktemp("crops")
    m = crop_faces(paths, out, **crop_run(**CROP), folder=photos, progress=False)
    assert (m["status"] == "ok").sum() == 8
    return m


@pytest.fixture(scope="module")
def vgg_pickle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A seeded random Caffe-layout ResNet-50 saved like ``resnet50_ft_weight.pkl``."""
    torch.manual_seed(20240601)
    model = ResNet50("caffe")
    arrays = {
        k: v.numpy().copy()
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    # Non-trivial running statistics, so that loading them is visible in the output.
    rng = np.random.default_rng(7)
    for key in arrays:
        if key.endswith("running_mean"):
            arrays[key] = rng.normal(0, 0.1, arrays[key].shape).astype(np.float32)
        elif key.endswith("running_var"):
            arrays[key] = rng.uniform(0.5, 1.5, arrays[key].shape).astype(np.float32)
    path = tmp_path_factory.mktemp("weights") / "resnet50_ft_weight.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    return path, arrays


def _subset(manifest: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    return manifest[manifest["image_id"].isin(ids)].reset_index(drop=True)


# ---------------------------------------------------------------- weights


@pytest.mark.slow
def test_pickle_weights_load_check_and_cache(
    vgg_pickle: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, arrays = vgg_pickle
    cache = tmp_path / "cache" / "vgg.safetensors"
    model = ResNet50("caffe")
    first = load_weights(model, path, cache_path=cache)
    assert not first.from_cache and first.source_sha256 == _sha(path)
    for key, value in arrays.items():
        assert np.array_equal(model.state_dict()[key].numpy(), value), key
    meta = json.loads(sidecar_path(cache).read_text())
    assert meta["source_sha256"] == _sha(path)
    assert meta["safetensors_sha256"] == _sha(cache)
    assert meta["n_tensors"] == len(arrays) == 267  # 161 parameters, 106 BN statistics
    first_bytes = cache.read_bytes()
    with safe_open(str(cache), "np") as handle:  # provenance as one JSON key
        assert json.loads(handle.metadata()["polface"]) == {"source_sha256": _sha(path)}

    again = ResNet50("caffe")
    second = load_weights(again, path, cache_path=cache)
    assert second.from_cache and second.read_from == str(cache)
    assert all(torch.equal(again.state_dict()[k], model.state_dict()[k]) for k in arrays)

    # A damaged cache no longer matches its recorded checksum: the pickle is read again.
    with open(cache, "r+b") as fh:
        fh.seek(os.path.getsize(cache) // 2)
        fh.write(b"\x00\x01\x02\x03")
    third = load_weights(ResNet50("caffe"), path, cache_path=cache)
    assert not third.from_cache and meta["safetensors_sha256"] == _sha(cache)
    assert cache.read_bytes() == first_bytes  # rewritten byte for byte


def test_wrong_shapes_and_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "imagenet_head.pkl"
    path.write_bytes(
        pickle.dumps({"fc.weight": np.zeros((1000, 2048), np.float32), "head.w": np.zeros(2)})
    )
    model = ResNet50("caffe")
    before = model.fc.weight.detach().clone()
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(model, path)
    text = str(info.value)
    assert "fc.weight: (1000, 2048)" in text and "(8631, 2048) in the model" in text
    assert "missing keys (266)" in text and "conv1.weight" in text
    assert "unexpected keys (1): head.w" in text
    assert torch.equal(model.fc.weight, before)
    assert not path.with_suffix(".safetensors").exists()


def test_torchvision_layout_from_safetensors_and_weights_only_torch_load(tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = ResNet50("torchvision")
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("tracked")}
    st = tmp_path / "resnet50.safetensors"
    save_file({k: v.numpy() for k, v in state.items()}, str(st))
    pth = tmp_path / "resnet50.pth"
    torch.save(source.state_dict(), pth)
    for path in (st, pth):
        model = ResNet50("torchvision")
        info = load_weights(model, path)
        assert info.source_sha256 == _sha(path) and not info.from_cache
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": Payload()}, evil)
    key = "image_sets.x.embed.weights.imagenet.path"
    with pytest.raises(pickle.UnpicklingError, match=rf"(?s)^{evil} \(config key {key}\): .*posix"):
        load_weights(ResNet50("torchvision"), evil, setting=key)
    assert not (tmp_path / "ran").exists()


# ---------------------------------------------------------------- dlib backend


def test_dlib_embeddings_of_real_faces(
    manifest: pd.DataFrame, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dlib.parquet"
    result = embed_crops(
        manifest,
        "dlib",
        out_path=out,
        **embed_run(crop_settings=CROP, image_folder=photos),
        progress=False,
    )
    assert result.n_rows == 8 and result.n_computed == 8
    ids, vectors, meta = read_embeddings(out)
    assert ids == ["1", "2", "3", "4", "5", "6", "again", "mirror"]  # manifest order, ok only
    assert vectors.shape == (8, 128) and vectors.dtype == np.float32
    assert meta["backend"] == "dlib" and meta["dim"] == 128
    assert meta["weights_sha256"] == _sha(Path(meta["weights_file"]))
    vec = dict(zip(ids, vectors, strict=True))
    assert np.array_equal(vec["1"], vec["again"])
    mirror = float(np.linalg.norm(vec["1"] - vec["mirror"]))
    others = [
        float(np.linalg.norm(vec[a] - vec[b]))
        for a in map(str, range(1, 7))
        for b in map(str, range(1, 7))
        if a < b
    ]
    print(
        f"dlib distances: face-mirror {mirror:.3f}; different faces {min(others):.3f}"
        f"-{max(others):.3f} (mean {np.mean(others):.3f})"
    )
    # dlib's own same-person threshold is 0.6.
    assert mirror < 0.35 and mirror < 0.5 * min(others)
    assert min(others) > 0.45


def test_dlib_resume_keys_on_source_hash_and_landmarks(
    manifest: pd.DataFrame, photos: Path, tmp_path: Path
) -> None:
    kwargs = dict(
        out_path=tmp_path / "d.parquet",
        keep_parts=True,
        progress=False,
        **embed_run(crop_settings=CROP, image_folder=photos),
    )
    first = embed_crops(_subset(manifest, ["1", "2"]), "dlib", **kwargs)
    grown = embed_crops(_subset(manifest, ["1", "2", "3"]), "dlib", **kwargs)
    assert (first.n_computed, grown.n_computed, grown.n_reused) == (2, 1, 2)
    _, before, _ = read_embeddings(tmp_path / "d.parquet")
    # Moved landmarks (as if alignment had changed) make that row stale.
    moved = _subset(manifest, ["1", "2", "3"])
    moved.at[1, "landmarks"] = [v + 3.0 for v in moved.at[1, "landmarks"]]
    redo = embed_crops(moved, "dlib", **kwargs)
    assert (redo.n_computed, redo.n_reused) == (1, 2)
    _, after, _ = read_embeddings(tmp_path / "d.parquet")
    assert np.array_equal(after[[0, 2]], before[[0, 2]])
    assert not np.array_equal(after[1], before[1])


# ---------------------------------------------------------------- ResNet backends


@pytest.fixture(scope="module")
def vgg_reference(
    manifest: pd.DataFrame,
    photos: Path,
    vgg_pickle: tuple[Path, dict[str, np.ndarray]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[str], np.ndarray, dict[str, str]]:
    """One uninterrupted vggface2 run on faces 1-3 (plus the broken file's row)."""
    out = tmp_path_factory.mktemp("vgg") / "vgg.parquet"
    result = embed_crops(
        _subset(manifest, ["1", "2", "3", "broken"]),
        "vggface2",
        weights_path=vgg_pickle[0],
        out_path=out,
        batch_size=1,
        device="cpu",
        image_folder=photos,
        crop_settings=CROP,
        progress=False,
    )
    assert (result.n_rows, result.n_computed, result.n_reused) == (3, 3, 0)
    return (out, *read_embeddings(out))


def test_vggface2_parquet_metadata_and_rerun(
    manifest: pd.DataFrame,
    photos: Path,
    vgg_pickle: tuple[Path, dict[str, np.ndarray]],
    vgg_reference: tuple[Path, list[str], np.ndarray, dict[str, str]],
    tmp_path: Path,
) -> None:
    out, ids, vectors, meta = vgg_reference
    table = pq.read_table(out)
    assert table.column_names == ["image_id", "embedding"]
    assert table.schema.field("image_id").type == pa.string()
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 2048)
    assert ids == ["1", "2", "3"]  # only ok rows, in manifest order
    assert vectors.shape == (3, 2048) and np.isfinite(vectors).all()
    assert meta["backend"] == "vggface2" and meta["dim"] == 2048
    assert meta["weights_sha256"] == _sha(vgg_pickle[0])
    assert meta["weights_file"] == str(vgg_pickle[0])
    assert "91.4953" in meta["preprocessing"] and "BGR" in meta["preprocessing"]
    assert meta["input_size"] == 112 and meta["crop_settings"] == CROP
    assert meta["device"] == "cpu (float32)"
    assert [p.name for p in out.parent.iterdir()] == ["vgg.parquet"]  # no parts, no temporaries
    # Different faces give different vectors even with random weights.
    assert not np.allclose(vectors[0], vectors[1])

    rerun = tmp_path / "again.parquet"
    embed_crops(
        _subset(manifest, ["1", "2", "3", "broken"]),
        "vggface2",
        weights_path=vgg_pickle[0],
        out_path=rerun,
        batch_size=1,
        device="cpu",
        image_folder=photos,
        crop_settings=CROP,
        progress=False,
    )
    ids2, vectors2, meta2 = read_embeddings(rerun)
    assert ids2 == ids and np.array_equal(vectors2, vectors) and meta2 == meta


def test_resume_after_interruption_computes_only_missing(
    manifest: pd.DataFrame,
    photos: Path,
    vgg_pickle: tuple[Path, dict[str, np.ndarray]],
    vgg_reference: tuple[Path, list[str], np.ndarray, dict[str, str]],
    tmp_path: Path,
) -> None:
    m = _subset(manifest, ["1", "2", "3"])
    out = tmp_path / "vgg.parquet"
    work = tmp_path / "work"
    kwargs = dict(
        weights_path=vgg_pickle[0],
        out_path=out,
        work_dir=work,
        batch_size=1,
        chunk_size=1,
        device="cpu",
        image_folder=photos,
        crop_settings=CROP,
        manifest_path=tmp_path / "manifest.parquet",
        progress=False,
    )
    # The crop of the third face disappears mid-run: two chunks are already saved. Refused
    # as an input (one line naming the crop and the manifest), not a FileNotFoundError.
    crop3 = Path(m.loc[m["image_id"] == "3", "crop"].iloc[0])
    hidden = tmp_path / "hidden.png"
    crop1 = Path(m.loc[m["image_id"] == "1", "crop"].iloc[0])  # the first, read before any
    shutil.move(crop1, hidden)
    try:
        with pytest.raises(InputError, match=rf"crop {crop1} listed in the manifest .*, and gone"):
            embed_crops(m, "vggface2", **kwargs)
    finally:
        shutil.move(hidden, crop1)
    shutil.move(crop3, hidden)
    try:
        with pytest.raises(InputError) as info:
            embed_crops(m, "vggface2", **kwargs)
    finally:
        shutil.move(hidden, crop3)
    assert str(info.value).startswith(
        f"crop {crop3} listed in the manifest {tmp_path / 'manifest.parquet'}, and gone since"
        " crop_faces wrote it (rerun crop_faces): file not found"
    )
    assert not out.exists()
    parts = sorted(p.name for p in work.iterdir())
    assert parts == ["part-000001.parquet", "part-000002.parquet"]
    result = embed_crops(m, "vggface2", **kwargs, assemble_rows=2)
    assert (result.n_computed, result.n_reused) == (1, 2)
    assert not work.exists()
    ids, resumed, _ = read_embeddings(out)
    assert ids == vgg_reference[1]
    np.testing.assert_allclose(resumed, vgg_reference[2], rtol=1e-5, atol=1e-4)
    # Written from the parts a row group at a time, never assembled whole.
    assert [g.num_rows for g in map(pq.ParquetFile(out).metadata.row_group, range(2))] == [2, 1]


@pytest.mark.slow
def test_kept_parts_reuse_only_unchanged_inputs_and_settings(
    manifest: pd.DataFrame,
    photos: Path,
    vgg_pickle: tuple[Path, dict[str, np.ndarray]],
    vgg_reference: tuple[Path, list[str], np.ndarray, dict[str, str]],
    tmp_path: Path,
) -> None:
    out = tmp_path / "vgg.parquet"
    kwargs = dict(
        weights_path=vgg_pickle[0],
        out_path=out,
        batch_size=1,
        keep_parts=True,
        device="cpu",
        image_folder=photos,
        crop_settings=CROP,
        progress=False,
    )
    first = embed_crops(_subset(manifest, ["1"]), "vggface2", **kwargs)
    assert (first.n_computed, first.n_reused) == (1, 0)
    grown = embed_crops(_subset(manifest, ["1", "2"]), "vggface2", **kwargs)
    assert (grown.n_computed, grown.n_reused) == (1, 1)
    ids, before, _ = read_embeddings(out)
    assert ids == ["1", "2"]
    np.testing.assert_allclose(before, vgg_reference[2][:2], rtol=1e-5, atol=1e-4)

    # A crop that changed (here: mirrored) is recomputed, the other is reused.
    crop2 = Path(manifest.loc[manifest["image_id"] == "2", "crop"].iloc[0])
    original = crop2.read_bytes()
    try:
        Image.open(crop2).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(crop2)
        changed = embed_crops(_subset(manifest, ["1", "2"]), "vggface2", **kwargs)
        assert (changed.n_computed, changed.n_reused) == (1, 1)
        _, after, _ = read_embeddings(out)
        assert np.array_equal(after[0], before[0])
        assert not np.allclose(after[1], before[1])
    finally:
        crop2.write_bytes(original)

    # Other crop settings (or resume=False) make every kept part stale.
    other = {**kwargs, "crop_settings": {**CROP, "margin": 0.5}}
    restarted = embed_crops(_subset(manifest, ["1"]), "vggface2", **other)
    assert (restarted.n_computed, restarted.n_reused) == (1, 0)
    scratch = embed_crops(_subset(manifest, ["1"]), "vggface2", resume=False, **other)
    assert (scratch.n_computed, scratch.n_reused) == (1, 0)


def test_imagenet_backend_with_local_safetensors(
    manifest: pd.DataFrame, photos: Path, tmp_path: Path
) -> None:
    torch.manual_seed(4)
    state = ResNet50("torchvision").state_dict()
    weights = tmp_path / "imagenet.safetensors"
    save_file({k: v.numpy() for k, v in state.items() if not k.endswith("tracked")}, str(weights))
    out = tmp_path / "imagenet.parquet"
    result = embed_crops(
        _subset(manifest, ["1", "2"]),
        "imagenet",
        weights_path=weights,
        out_path=out,
        device="cpu",
        batch_size=2,
        image_folder=photos,
        crop_settings=CROP,
        progress=False,
    )
    ids, vectors, meta = read_embeddings(out)
    assert result.n_rows == 2 and vectors.shape == (2, 2048)
    assert meta["backend"] == "imagenet" and "ImageNet" in meta["preprocessing"]
    assert meta["weights_sha256"] == _sha(weights)


def test_argument_errors(manifest: pd.DataFrame, photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs weights_path"):
        embed_crops(
            manifest,
            "vggface2",
            out_path=tmp_path / "x.parquet",
            **embed_run(image_folder=photos),
            progress=False,
        )
    with pytest.raises(ValueError, match="unknown backend"):
        embed_crops(
            manifest, "facenet", out_path=tmp_path / "x.parquet", **embed_run(image_folder=photos)
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lacks column"):
        embed_crops(
            manifest.drop(columns=["landmarks"]),
            "dlib",
            out_path=tmp_path / "x.parquet",
            **embed_run(image_folder=photos),
        )
    assert set(BACKENDS) == {"vggface2", "imagenet", "dlib"}
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


# ---------------------------------------------------------------- the embedder object


def test_dlib_embedder_on_chips_is_what_embed_crops_writes(
    manifest: pd.DataFrame, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dlib.parquet"
    embed_crops(
        manifest,
        "dlib",
        out_path=out,
        **embed_run(crop_settings=CROP, image_folder=photos),
        progress=False,
    )
    ids, written, meta = read_embeddings(out)
    embedder = load_embedder("dlib", weights_path=None, device="auto")
    assert embedder.dim == 128 and embedder.uses_chips and embedder.device.type == "cpu"
    assert embedder.weights_sha256 == meta["weights_sha256"]
    assert embedder.describe_device() == meta["device"]
    ok = manifest[manifest["status"] == "ok"]
    chips = np.stack(
        [
            dlib_chip(
                read_rgb(row.source, **LOAD, folder=photos),
                (row.box_left, row.box_top, row.box_right, row.box_bottom),
                np.asarray(row.landmarks).reshape(5, 2),
            )
            for row in ok.itertuples()
        ]
    )
    assert chips.dtype == np.uint8 and chips.shape == (len(ok), 150, 150, 3)
    vectors = embedder.embed(chips)
    assert vectors.dtype == np.float32 and np.array_equal(vectors, written)
    # One chip at a time gives the same bits as the batch.
    assert np.array_equal(embedder.embed(chips[:1]), written[:1])


def test_resnet_embedder_on_crops_is_what_embed_crops_writes(
    manifest: pd.DataFrame,
    vgg_pickle: tuple[Path, dict[str, np.ndarray]],
    vgg_reference: tuple[Path, list[str], np.ndarray, dict[str, str]],
    tmp_path: Path,
) -> None:
    _, ids, written, meta = vgg_reference
    embedder = load_embedder(
        "vggface2", weights_path=vgg_pickle[0], device="cpu", cache_path=tmp_path / "c.st"
    )
    assert embedder.dim == 2048 and not embedder.uses_chips
    assert embedder.weights_sha256 == meta["weights_sha256"]
    crops = [np.asarray(Image.open(manifest.set_index("image_id").loc[i, "crop"])) for i in ids]
    # The reference ran with batch_size=1: one crop at a time is bit for bit the same.
    singles = np.concatenate([embedder.embed(np.stack([c])) for c in crops])
    assert singles.dtype == np.float32 and np.array_equal(singles, written)
    # A list of arrays is a batch too. Batched, the CPU convolutions sum in another order: with
    # these random weights (features in the thousands) that moves values by about 1e-3.
    np.testing.assert_allclose(embedder.embed(crops), written, rtol=1e-2)


def test_dlib_chips_come_only_from_the_bytes_crop_faces_hashed(
    manifest: pd.DataFrame, photos: Path, tmp_path: Path
) -> None:
    # A source replaced after cropping (its landmarks describe other pixels) stops the job.
    changed = _subset(manifest, ["1"])
    changed.at[0, "sha256"] = "0" * 64
    with pytest.raises(ValueError, match=r"1\.jpg of ok row '1' has SHA-256 .* not the manifest"):
        embed_crops(
            changed,
            "dlib",
            out_path=tmp_path / "d.parquet",
            progress=False,
            **embed_run(image_folder=photos),
        )


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_input_error_in_a_loader_worker_keeps_its_one_line_message(
    manifest: pd.DataFrame, photos: Path, tmp_path: Path, num_workers: int
) -> None:
    """A DataLoader worker re-raises its error with the worker's traceback in the message; the
    embedder's errors come back as the worker's one-line InputError, as without workers."""
    changed = _subset(manifest, ["1"])
    changed.at[0, "sha256"] = "0" * 64
    with pytest.raises(InputError) as info:
        embed_crops(
            changed,
            "dlib",
            out_path=tmp_path / "d.parquet",
            progress=False,
            **embed_run(image_folder=photos),
            num_workers=num_workers,
        )
    assert is_expected(info.value)
    source = changed.at[0, "source"]
    assert str(info.value) == (
        f"source image {source} of ok row '1' has SHA-256 {_sha(source)}, not the manifest's"
        f" {'0' * 64}: rerun crop_faces"
    )

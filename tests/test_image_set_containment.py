"""Every stage reads a photograph only inside its image set's root folder, not its own folder.

An image set's folder may hold a subfolder that is a symlink to somewhere else
(``set/linked -> private``): a photograph listed as ``set/linked/secret.jpg`` lies, resolved, in
``private``. Checked against its own folder (``set/linked``, resolved: ``private``) it would
pass; checked against the set's root it is outside. Each stage that reads photographs is run on
such a set through the library function its rule calls: the photograph in the symlinked
subfolder is refused with a reason naming it and the folder, and one in a real subfolder is read.
A folder swapped for a symlink *after* a photograph was checked is not followed when it is opened.
No real data is needed: the photographs are noise the tests write.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from image_settings import FACE, crop_run, embed_run, lime_settings
from polface.data.finetuning import FacialFinetuningDataError
from polface.data.imagesets import list_images
from polface.errors import InputError
from polface.explain.chain import FaceChain
from polface.explain.faces import explain_faces
from polface.images.crop import crop_faces
from polface.images.embed import (
    CropDataset,
    crops_folder,
    embed_crops,
    load_embedder,
    raise_refused,
)
from polface.images.load import (
    ImageRejected,
    _open_checked,
    checked_photograph,
    open_photograph,
    read_rgb,
    readable_photograph,
)
from polface.models.trait_regressor import TraitHead, build_backbone, image_features, load_resized
from polface.studies.trait_models import apply_regressors, split_images

OUTSIDE = "symlink to outside the image folder"
#: A face box and five landmarks inside a 240 px picture (dlib cuts a chip from any pixels).
BOX = {"box_left": 60.0, "box_top": 60.0, "box_right": 180.0, "box_bottom": 180.0}
LANDMARKS = [150.0, 100.0, 130.0, 100.0, 90.0, 100.0, 110.0, 100.0, 120.0, 140.0]


def _noise(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)).save(path, quality=95)
    return path


@pytest.fixture
def image_set(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``(root, kept, secret)``: ``root/real/kept.jpg`` and ``root/linked/secret.jpg``, where
    ``root/linked`` is a symlink to a private folder outside the set."""
    root = tmp_path / "set"
    (root / "real").mkdir(parents=True)
    private = tmp_path / "private"
    private.mkdir()
    _noise(root / "real" / "kept.jpg", 1)
    _noise(private / "secret.jpg", 2)
    (root / "linked").symlink_to(private, target_is_directory=True)
    return root, root / "real" / "kept.jpg", root / "linked" / "secret.jpg"


def _names_file_and_folder(text: str, secret: Path, root: Path) -> None:
    assert OUTSIDE in text, text
    assert str(secret.resolve()) in text and str(root.resolve()) in text, text


def test_the_check_is_against_the_set_root_and_has_no_default(image_set) -> None:
    root, kept, secret = image_set
    with pytest.raises(ImageRejected) as refused:
        checked_photograph(secret, folder=root)
    assert refused.value.path == str(secret) and refused.value.reason == "unreadable"
    _names_file_and_folder(refused.value.detail, secret, root)
    assert checked_photograph(kept, folder=root) == kept.resolve()
    # Its own folder (what the dlib and LIME stages used to check against) lets it through.
    assert checked_photograph(secret, folder=secret.parent) == secret.resolve()
    with pytest.raises(TypeError, match="folder"):
        checked_photograph(secret)  # type: ignore[call-arg]
    # The crop rule's inputs: only what crop_faces will read (Snakemake never stats the rest).
    assert readable_photograph(kept, root) and not readable_photograph(secret, root)


def test_crop_faces_gives_the_photograph_in_a_symlinked_subfolder_a_row(
    image_set, tmp_path: Path
) -> None:
    root, kept, secret = image_set
    # A pattern that descends one level lists the symlinked subfolder too (``**`` does not
    # enter a symlinked folder in this Python, so it lists only the real one).
    listed = list_images(root, pattern="*/*.jpg", limit=None)
    assert listed == {"kept": kept, "secret": secret}
    assert list_images(root, pattern="**/*.jpg", limit=None) == {"kept": kept}
    m = crop_faces(listed, tmp_path / "crops", **crop_run(), folder=root, progress=False)
    m = m.set_index("image_id")
    assert m.loc["secret", "status"] == "unreadable" and pd.isna(m.loc["secret", "sha256"])
    _names_file_and_folder(m.loc["secret", "detail"], secret, root)
    # The real subfolder's photograph is read (hashed and decoded; noise has no face).
    assert m.loc["kept", "status"] == "no_face"
    assert m.loc["kept", "sha256"] == hashlib.sha256(kept.read_bytes()).hexdigest()


def _dlib_row(image_id: str, source: Path) -> dict[str, object]:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return {"image_id": image_id, "status": "ok", "source": str(source), "sha256": digest,
            **BOX, "landmarks": LANDMARKS, "crop": None}  # fmt: skip


def test_dlib_embedding_reads_sources_only_inside_the_set_root(image_set, tmp_path: Path) -> None:
    root, kept, secret = image_set
    # A manifest whose ok row points through the symlinked subfolder (e.g. the subfolder was
    # made a symlink after crop_faces ran, with the same bytes behind it).
    manifest = pd.DataFrame([_dlib_row("secret", secret)])
    with pytest.raises(ValueError, match="source image of ok row 'secret'") as refused:
        embed_crops(
            manifest,
            "dlib",
            out_path=tmp_path / "secret.parquet",
            **embed_run(image_folder=root),
            progress=False,
        )
    _names_file_and_folder(str(refused.value), secret, root)
    assert not (tmp_path / "secret.parquet").exists()
    done = embed_crops(
        pd.DataFrame([_dlib_row("kept", kept)]),
        "dlib",
        out_path=tmp_path / "kept.parquet",
        **embed_run(image_folder=root),
        progress=False,
    )
    assert (done.n_rows, done.n_computed) == (1, 1)


def test_crops_are_read_only_inside_the_folder_crop_faces_wrote(image_set, tmp_path: Path) -> None:
    root, kept, secret = image_set
    crops = tmp_path / "crops"
    crops.mkdir()
    Image.open(kept).resize((112, 112)).save(crops / "a.png")
    (crops / "b.png").symlink_to(secret)
    paths = [str(crops / "a.png"), str(crops / "b.png")]
    assert crops_folder(paths) == crops
    dataset = CropDataset(paths, 112, crops_folder(paths))
    assert tuple(dataset[0][0].shape) == (112, 112, 3)
    # a refused crop comes back as data (a worker's error would lose its one-line message)
    _, key = dataset[1]
    with pytest.raises(InputError, match=rf"crop {crops / 'b.png'} listed in the manifest"):
        raise_refused([key])
    with pytest.raises(ValueError, match="crops lie in 2 folders"):
        crops_folder([*paths, str(root / "real" / "c.png")])


def test_lime_reads_photographs_only_inside_the_set_root(image_set) -> None:
    root, kept, secret = image_set
    chain = FaceChain(load_embedder("dlib", weights_path=None, device="cpu"), crop=FACE)

    def no_readouts(image_id: str) -> list[object]:
        raise AssertionError(f"{image_id} was read and explained")

    with pytest.raises(ImageRejected) as refused:
        explain_faces(
            {"secret": str(secret)},
            chain,
            no_readouts,
            settings=lime_settings(),
            folder=root,
            progress=False,
        )
    assert refused.value.path == str(secret)
    _names_file_and_folder(refused.value.detail, secret, root)
    # What explain_faces reads a listed face with: the real subfolder's photograph is read.
    assert read_rgb(kept, min_side=1, max_pixels=None, folder=root).shape == (240, 240, 3)


def test_trait_network_training_refuses_faces_outside_the_image_folder(image_set) -> None:
    root, kept, secret = image_set
    names = {"train": "real/kept.jpg", "validation": "real/kept.jpg"}
    for test_name, why in (
        ("linked/secret.jpg", OUTSIDE),
        ("../private/secret.jpg", "'..' leads to outside the image folder"),
    ):
        split = pd.DataFrame({"Filename": [*names.values(), test_name], "split": [*names, "test"]})
        with pytest.raises(FacialFinetuningDataError, match="1 test faces") as refused:
            split_images(split, root, load=load_resized)
        assert test_name in str(refused.value) and why in str(refused.value)
    split = pd.DataFrame(
        {"Filename": [*names.values(), "real/kept.jpg"], "split": [*names, "test"]}
    )
    images = split_images(split, root, load=load_resized)
    assert {part: a.shape for part, a in images.items()} == {
        part: (1, 224, 224, 3) for part in ("train", "validation", "test")
    }


def test_trait_network_prediction_gives_a_row_for_a_photograph_outside(image_set) -> None:
    root, kept, secret = image_set
    backbone = build_backbone("tiny", seed=0)
    cpu = torch.device("cpu")
    one = load_resized(kept, folder=root)[None]
    width = image_features(backbone, one, preprocessing="caffe", batch_size=1, device=cpu).shape[1]
    heads = {"trustworthy": TraitHead(width, 4, 0.0)}
    table = apply_regressors(
        heads,
        backbone,
        {"kept": kept, "secret": secret},
        folder=root,
        load=load_resized,
        preprocessing="caffe",
        batch_size=2,
        device=cpu,
    ).set_index("image_id")
    assert table.loc["kept", "status"] == "ok" and np.isfinite(table.loc["kept", "prediction"])
    assert table.loc["secret", "status"] == "unreadable"
    assert np.isnan(table.loc["secret", "prediction"])
    _names_file_and_folder(table.loc["secret", "detail"], secret, root)


def _swapped(tmp_path: Path, what: str) -> tuple[Path, Path, Path, Path]:
    """``(root, photo, real, changed)``: ``root/a/b/x.jpg`` checked, then ``changed`` (a
    component of its path) swapped as ``what`` says for something outside the set."""
    root = tmp_path / "set"
    (root / "a" / "b").mkdir(parents=True)
    photo = _noise(root / "a" / "b" / "x.jpg", 1)
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    _noise(outside / "b" / "x.jpg", 2)  # the same name, other bytes
    _noise(outside / "x.jpg", 2)
    real = checked_photograph(photo, folder=root)
    changed = {"folder": root / "a", "subfolder": root / "a" / "b", "file": photo}[what]
    changed.rename(tmp_path / "moved")
    if what == "file":  # set/a/b/x.jpg -> outside/x.jpg
        changed.symlink_to(outside / "x.jpg")
    else:  # set/a -> outside (x.jpg is outside/b/x.jpg), or set/a/b -> outside (outside/x.jpg)
        changed.symlink_to(outside, target_is_directory=True)
    return root, photo, real, changed


@pytest.mark.parametrize("what", ["folder", "subfolder", "file"])
def test_a_component_made_a_symlink_after_the_check_is_not_followed(
    tmp_path: Path, what: str
) -> None:
    root, photo, real, changed = _swapped(tmp_path, what)
    # The path still leads to a regular file, with the checked photograph's name, outside.
    assert photo.resolve() != real and photo.is_file()
    # Opened with what the check returned, as open_photograph opens it right after its check.
    with pytest.raises(ImageRejected) as refused:
        _open_checked(photo, real, root.resolve())
    assert refused.value.path == str(photo) and refused.value.reason == "unreadable"
    assert refused.value.detail == (
        f"{root.resolve() / changed.relative_to(root)} changed since the check: "
        "now a symlink, not followed; not read"
    )
    # Checked again from the start, it is outside the set.
    with pytest.raises(ImageRejected, match=OUTSIDE):
        open_photograph(photo, folder=root)


def test_a_folder_made_a_file_or_removed_after_the_check_is_named(tmp_path: Path) -> None:
    root = tmp_path / "set"
    (root / "a").mkdir(parents=True)
    photo = _noise(root / "a" / "x.jpg", 1)
    real = checked_photograph(photo, folder=root)
    (root / "a").rename(tmp_path / "moved")
    (root / "a").write_bytes(b"not a folder")
    with pytest.raises(ImageRejected, match=r"/set/a changed since the check: no longer a folder"):
        _open_checked(photo, real, root.resolve())
    (root / "a").unlink()
    with pytest.raises(ImageRejected, match=r"/set/a changed since the check: no longer there"):
        _open_checked(photo, real, root.resolve())


def test_an_unchanged_photograph_opens_through_real_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "set"
    (root / "a" / "b").mkdir(parents=True)
    top = _noise(root / "top.jpg", 1)
    deep = _noise(root / "a" / "b" / "deep.jpg", 2)
    for photo in (top, deep):
        real = checked_photograph(photo, folder=root)
        with _open_checked(photo, real, root.resolve()) as fh:
            assert fh.read() == photo.read_bytes()
        with open_photograph(photo, folder=root) as fh:
            assert fh.read() == photo.read_bytes()
    # A root given through a symlink is the folder it resolves to: its photographs open.
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    with open_photograph(
        tmp_path / "alias" / "a" / "b" / "deep.jpg", folder=tmp_path / "alias"
    ) as fh:
        assert fh.read() == deep.read_bytes()


def test_open_photograph_never_reads_outside_while_a_folder_is_swapped(tmp_path: Path) -> None:
    """The race itself, through the public reader: a thread swaps ``set/sub`` for a symlink to
    ``outside`` and back while photographs are opened; an open reads the photograph or is
    refused, never the outside file of the same name (which a check-then-open of the whole path
    reads a few times a second)."""
    root = tmp_path / "set"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.jpg").write_bytes(b"inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(b"outside")
    link, hold = tmp_path / "link", tmp_path / "hold"
    link.symlink_to(outside, target_is_directory=True)
    stop = threading.Event()
    swaps = 0

    def swap() -> None:
        nonlocal swaps
        while not stop.is_set():
            os.rename(root / "sub", hold)
            os.rename(link, root / "sub")
            os.rename(root / "sub", link)
            os.rename(hold, root / "sub")
            swaps += 1

    read: dict[bytes, int] = {}
    refused = 0
    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end and not read.get(b"outside"):
            try:
                with open_photograph(root / "sub" / "x.jpg", folder=root) as fh:
                    data = fh.read()
                read[data] = read.get(data, 0) + 1
            except ImageRejected:
                refused += 1
    finally:
        stop.set()
        swapper.join()
    assert swaps and read.get(b"inside"), (swaps, refused, read)
    assert b"outside" not in read, f"read the file outside the set {read[b'outside']} times"

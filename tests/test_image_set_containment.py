"""Every stage reads a photograph only inside its image set's root folder, not its own folder.

An image set's folder may hold a subfolder that is a symlink to somewhere else
(``set/linked -> private``): a photograph listed as ``set/linked/secret.jpg`` lies, resolved, in
``private``. Checked against its own folder (``set/linked``, resolved: ``private``) it would
pass; checked against the set's root it is outside. Each stage that reads photographs is run on
such a set through the library function its rule calls: the photograph in the symlinked
subfolder is refused with a reason naming it and the folder, and one in a real subfolder is read.
No real data is needed: the photographs are noise the tests write.
"""

from __future__ import annotations

import hashlib
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
from polface.images.load import ImageRejected, checked_photograph, read_rgb, readable_photograph
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

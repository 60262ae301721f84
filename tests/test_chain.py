"""polface.explain.chain: image -> crop -> embedding in memory, as the workflow does.

The chain runs on real OMI photographs and must give what crop_faces and embed_crops write (the
calls of rules crop_faces and embed_faces): the same crops and, on the CPU, the same embeddings
bit for bit. tests/test_image_workflow.py checks the same against a real snakemake run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from image_settings import FACE, LOAD, crop_run, embed_run
from polface.explain.chain import FaceChain
from polface.images.crop import crop_faces
from polface.images.embed import embed_crops, load_embedder
from polface.images.load import read_rgb
from polface.io import read_features

IDS = [str(i) for i in range(1, 9)]


@pytest.fixture(scope="module")
def written(omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """What the rules' library calls write for OMI 1-8: the manifest and dlib embeddings."""
    work = tmp_path_factory.mktemp("chain")
    paths = {i: omi_dir / "images" / f"{i}.jpg" for i in IDS}
    images = omi_dir / "images"
    manifest = crop_faces(paths, work / "crops", **crop_run(), folder=images, progress=False)
    out = work / "embeddings_dlib.parquet"
    embed_crops(manifest, "dlib", out_path=out, **embed_run(image_folder=images), progress=False)
    return manifest, out


def test_chain_gives_the_workflow_vectors_bit_for_bit(
    written: tuple[pd.DataFrame, Path], omi_dir: Path
) -> None:
    manifest, out = written
    ids, vectors = read_features(out, "image_id")
    assert ids == IDS
    chain = FaceChain(load_embedder("dlib", weights_path=None, device="cpu"), crop=FACE)
    folder = omi_dir / "images"
    images = [read_rgb(folder / f"{i}.jpg", **LOAD, folder=folder) for i in IDS]
    crops, embedded = chain.embed(images)
    assert [c.status for c in crops] == ["ok"] * len(IDS)
    assert embedded.dtype == np.float32 and np.array_equal(embedded, vectors)
    for cropped, row in zip(crops, manifest.itertuples(), strict=True):
        assert np.array_equal(cropped.crop, np.asarray(Image.open(row.crop)))
        assert cropped.affine.shape == (2, 3)
    # one image alone gives the same vector as in a batch of eight
    _, one = chain.embed(images[2:3])
    assert np.array_equal(one[0], vectors[2])


def test_a_photograph_without_a_face_has_no_embedding() -> None:
    chain = FaceChain(load_embedder("dlib", weights_path=None, device="cpu"), crop=FACE)
    rng = np.random.default_rng(5)
    crops, embedded = chain.embed([rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)])
    assert crops[0].status == "no_face" and embedded.shape == (0, 128)

"""polface.explain.chain: image -> crop -> embedding -> score in memory, as the workflow does.

The chain runs on real OMI photographs and must give what crop_faces and embed_crops write (the
calls of rules crop_faces and embed_faces): the same crops and, on the CPU, the same embeddings
bit for bit. tests/test_image_workflow.py checks the same against a real snakemake run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.numpy import save_file

from image_settings import CROP, LOAD, crop_run, embed_run
from polface.explain.chain import FaceChain, Scorer, run_chain
from polface.images.crop import crop_faces
from polface.images.embed import embed_crops, load_embedder
from polface.images.load import read_rgb
from polface.images.resnet import ResNet50
from polface.io import read_features

IDS = [str(i) for i in range(1, 9)]


class Linear:
    """A stand-in for a loaded model artifact: anything with predict(X)."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        self.coef = np.random.default_rng(seed).normal(size=dim)
        self.intercept = 0.25

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return X.astype(np.float64) @ self.coef + self.intercept


@pytest.fixture(scope="module")
def written(omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """What the rules' library calls write for OMI 1-8: the manifest and dlib embeddings."""
    work = tmp_path_factory.mktemp("chain")
    paths = {i: omi_dir / "images" / f"{i}.jpg" for i in IDS}
    manifest = crop_faces(paths, work / "crops", **crop_run(), progress=False)
    out = work / "embeddings_dlib.parquet"
    embed_crops(manifest, "dlib", out_path=out, **embed_run(), progress=False)
    return manifest, out


def test_chain_gives_the_workflow_vectors_bit_for_bit(
    written: tuple[pd.DataFrame, Path], omi_dir: Path
) -> None:
    manifest, out = written
    ids, vectors = read_features(out, "image_id")
    assert ids == IDS
    model = Linear(128)
    chain = FaceChain(
        load_embedder("dlib", weights_path=None, device="cpu"), crop=CROP, model=model
    )
    images = [read_rgb(omi_dir / "images" / f"{i}.jpg", **LOAD) for i in IDS]
    results = chain.run(images)
    assert [r.cropped.status for r in results] == ["ok"] * len(IDS)
    embedded = np.stack([r.embedding for r in results])
    assert embedded.dtype == np.float32 and np.array_equal(embedded, vectors)
    for result, row in zip(results, manifest.itertuples(), strict=True):
        assert np.array_equal(result.cropped.crop, np.asarray(Image.open(row.crop)))
        assert result.cropped.affine.shape == (2, 3)
    scores = np.array([r.score for r in results])
    assert np.array_equal(scores, model.predict(vectors))
    # One image through the one-call form gives the same vector (and score: a matrix product
    # of one row may round the last bit differently from one of eight).
    one = run_chain(images[2], embedder=chain.embedder, crop=CROP, model=model)
    assert np.array_equal(one.embedding, vectors[2])
    assert one.score == pytest.approx(scores[2], rel=1e-12)


def test_a_photograph_without_a_face_has_no_embedding_or_score() -> None:
    chain = FaceChain(
        load_embedder("dlib", weights_path=None, device="cpu"), crop=CROP, model=Linear(128)
    )
    rng = np.random.default_rng(5)
    result = chain(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))
    assert result.cropped.status == "no_face" and result.embedding is None and result.score is None
    with pytest.raises(ValueError, match="chips of the photograph"):
        chain.score_crops(np.zeros((1, 224, 224, 3), dtype=np.uint8))


def test_score_crops_runs_a_resnet_backend_on_crops(
    written: tuple[pd.DataFrame, Path], tmp_path: Path
) -> None:
    """The function LIME perturbs: a batch of crops -> scores (random ImageNet-layout weights)."""
    manifest, _ = written
    torch.manual_seed(4)
    state = ResNet50("torchvision").state_dict()
    weights = tmp_path / "imagenet.safetensors"
    save_file({k: v.numpy() for k, v in state.items() if not k.endswith("tracked")}, str(weights))
    embedder = load_embedder("imagenet", weights_path=weights, device="cpu")
    model = Linear(2048, seed=1)
    chain = FaceChain(embedder, crop=CROP, model=model)
    crops = np.stack([np.asarray(Image.open(p)) for p in manifest["crop"].head(2)])
    scores = chain.score_crops(crops)
    assert scores.shape == (2,) and np.array_equal(scores, model.predict(embedder.embed(crops)))


def test_scorer_checks_the_model_and_the_widths() -> None:
    with pytest.raises(TypeError, match="predict"):
        Scorer(object())  # type: ignore[arg-type]
    scorer = Scorer(Linear(4), dim=4)
    assert scorer(np.ones(4)).shape == (1,)
    with pytest.raises(ValueError, match="fitted on 4"):
        scorer(np.ones((2, 3)))

    class Column:
        def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
            return X[:, :1]

    assert Scorer(Column())(np.eye(3)).tolist() == [1.0, 0.0, 0.0]

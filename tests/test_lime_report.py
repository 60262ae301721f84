"""polface.studies.lime_report and the controls of polface.explain.readouts on real OMI faces.

- A model fitted on a cohort of the backend's width (2048, as Kosinski's LASSO on the OSF
  VGGFace2 descriptors) is explained on a real face through a ResNet-50 in VGGFace2's layout
  (seeded random weights: the real ``resnet50_ft`` weights are not available offline), with the
  statement that it was trained on another pipeline on every page; a model of another width is
  refused.
- The controls: a random readout keeps the model's sparsity, norm and intercept; the
  permuted-label refit is the same LASSO at the real model's lambda.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from conftest import REPO
from image_settings import CROP, FACE, LOAD
from polface.explain.chain import FaceChain
from polface.explain.readouts import (
    MODEL,
    RANDOM,
    permuted_refit,
    random_readout,
)
from polface.images.crop import crop_face
from polface.images.embed import load_embedder
from polface.images.load import read_rgb
from polface.images.resnet import ResNet50
from polface.models.artifacts import LinearModel, load_lasso_folds, save_lasso_folds
from polface.models.lasso import lasso_path
from polface.studies.lime_report import (
    STEREOTYPE_STATEMENT,
    cohort_readouts,
    explain_faces,
    write_report,
)

_LIME = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["$defs"]["lime"]


def lime_settings(**changes):
    """The schema's lime defaults (nested blocks too), changed where a test needs it."""
    out = {k: v.get("default") for k, v in _LIME["properties"].items()}
    for block in ("quickshift", "controls", "trust"):
        out[block] = {k: v["default"] for k, v in _LIME["properties"][block]["properties"].items()}
    return {**out, **changes}


TINY = {
    "segmentations": ["regions"],
    "n_samples": 12,
    "heldout_samples": 10,
    "repeats": 1,
    "bootstrap": 10,
    "deletion_orders": 1,
    "curve_steps": 3,
}


def test_random_readout_keeps_sparsity_norm_and_intercept() -> None:
    coef = np.zeros(50)
    coef[[3, 7, 11]] = [0.5, -1.0, 2.0]
    model = LinearModel("gaussian", 1.5, coef, 0.1)
    fake = random_readout(model, seed=3)
    assert np.count_nonzero(fake.coef) == 3 and fake.intercept == 1.5
    assert np.linalg.norm(fake.coef) == pytest.approx(np.linalg.norm(coef), rel=1e-12)
    assert set(np.flatnonzero(fake.coef)) != {3, 7, 11}
    assert np.array_equal(random_readout(model, seed=3).coef, fake.coef)


def test_permuted_refit_uses_the_real_lambda_on_the_same_rows() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 20))
    y = X[:, 0] * 2 + rng.normal(size=120)
    path = lasso_path(X, y, "gaussian", nlambda=20)
    real = LinearModel("gaussian", float(path.a0[8]), path.beta[8], float(path.lambdas[8]))
    refit = permuted_refit(real, X, y, seed=1)
    assert refit.lambda_ == real.lambda_
    # the refit on the unpermuted labels at that lambda is the real model, to the solver's
    # convergence (a cold start at one lambda against warm starts down the path: 2e-5 here)
    same = lasso_path(X, y, "gaussian", lambdas=np.array([real.lambda_]))
    assert np.abs(same.beta[0] - real.coef).max() < 1e-4
    assert abs(refit.coef[0]) < 0.5 * abs(real.coef[0])


@pytest.fixture(scope="module")
def cohort_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fit_lasso models.npz of width 2048 fitted on a small random cohort (two outer folds)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(160, 2048))
    y = (X[:, :5].sum(axis=1) + rng.normal(size=160) > 0).astype(np.float64)
    infos = []
    for fold in (1, 2):
        rows = np.arange(160) % 2 != fold - 1
        path = lasso_path(X[rows], y[rows], "binomial", nlambda=10)
        step = 6
        infos.append(
            {
                "outer_fold": fold,
                "lambda": float(path.lambdas[step]),
                "step": step + 1,
                "a0": float(path.a0[step]),
                "beta": path.beta[step],
                "cv_lambda": path.lambdas,
                "cv_mean": np.zeros(len(path.lambdas)),
                "cv_sd": np.zeros(len(path.lambdas)),
            }
        )
    out = tmp_path_factory.mktemp("cohort") / "models.npz"
    save_lasso_folds(infos, out)
    return out


def test_a_cohort_model_of_the_backend_width_is_explained_with_its_statement(
    cohort_models: Path, omi_dir: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "vggface2.safetensors"
    save_file(ResNet50("caffe").state_dict(), str(weights))
    embedder = load_embedder("vggface2", weights_path=weights, device="cpu")
    folds = load_lasso_folds(cohort_models)
    with pytest.raises(ValueError, match=r"lime.cohort_models.kosinski_us: .* 128 dimensions"):
        cohort_readouts("kosinski_us", folds, dim=128, random=True, seed=1)
    readouts = cohort_readouts("kosinski_us", folds, dim=2048, random=True, seed=1)
    assert [r.arm for r in readouts] == [MODEL, RANDOM]
    assert readouts[0].quantity == "logit"
    chain = FaceChain(embedder, crop=CROP, model=None)
    photo = omi_dir / "images" / "3.jpg"
    result = explain_faces(
        {"3": str(photo)}, chain, lambda _: readouts, settings=lime_settings(**TINY),
        progress=False,
    )  # fmt: skip
    scores = result["scores"]
    assert list(scores["arm"]) == [MODEL, RANDOM]
    # Row 0 is the unperturbed crop: the model's logit of the face the chain embeds.
    cropped = crop_face(read_rgb(photo, **LOAD), **FACE)
    logit = folds[1].link(embedder.embed(cropped.crop[None]))[0]
    assert scores["model_output"].iloc[0] == pytest.approx(logit, abs=1e-4)
    statement = "The model kosinski_us was trained on another pipeline's descriptors."
    gallery = tmp_path / "gallery"
    write_report(
        result,
        weights=tmp_path / "weights.parquet",
        scores=tmp_path / "scores.parquet",
        curves=tmp_path / "curves.parquet",
        regions=tmp_path / "regions.csv",
        gallery=gallery,
        metadata={"model": "kosinski_us"},
        notes=[statement],
        top=5,
        level=0.95,
    )
    for page in ("index.html", "face_3.html"):
        text = (gallery / page).read_text().replace("&#x27;", "'")
        assert statement in text and STEREOTYPE_STATEMENT in text

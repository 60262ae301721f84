"""The LIME report (polface.explain.faces, polface.studies.lime_report) and the controls of
polface.explain.readouts on real OMI faces.

- A model fitted on a cohort of the backend's width (2048, as Kosinski's LASSO on the OSF
  VGGFace2 descriptors) is explained on a real face through a ResNet-50 in VGGFace2's layout
  (seeded random weights: the real ``resnet50_ft`` weights are not available offline), with the
  statement that it was trained on another pipeline on every page; a model of another width is
  refused.
- The controls: a random readout keeps the model's sparsity, norm and intercept; the
  permuted-label refit is the same LASSO at the real model's lambda, and it ranks below the real
  model on the faithfulness of the trust verdict (the deletion drop, in the model's units) where
  the real model has learnt a real signal: small seeded images whose target is the colour of one
  patch, embedded by colour statistics over a grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import save_file

from conftest import REPO
from image_settings import FACE, LOAD, lime_settings
from polface.data.omi import EMBEDDING
from polface.explain.chain import FaceChain
from polface.explain.explanations import Readout, explain_face
from polface.explain.faces import explain_faces
from polface.explain.readouts import (
    MODEL,
    PERMUTED,
    RANDOM,
    LinkReadout,
    cohort_readouts,
    permuted_refit,
    random_readout,
    rating_readouts,
)
from polface.explain.segments import Segmentation
from polface.images.crop import crop_face
from polface.images.embed import load_embedder
from polface.images.load import read_rgb
from polface.images.resnet import ResNet50
from polface.models.artifacts import (
    LinearModel,
    RatingModels,
    load_lasso_folds,
    save_lasso_folds,
)
from polface.models.fitters import lasso_fitter
from polface.models.lasso import lasso_path
from polface.studies.lime_report import STEREOTYPE_STATEMENT, write_report

_SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
LASSO = {k: v["default"] for k, v in _SCHEMA["properties"]["lasso"]["properties"].items()}


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


@pytest.mark.slow
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
    chain = FaceChain(embedder, crop=FACE)
    photo = omi_dir / "images" / "3.jpg"
    result = explain_faces(
        {"3": str(photo)}, chain, lambda _: readouts, settings=lime_settings(**TINY),
        folder=photo.parent, progress=False,
    )  # fmt: skip
    scores = result["scores"]
    assert list(scores["arm"]) == [MODEL, RANDOM]
    # Row 0 is the unperturbed crop: the model's logit of the face the chain embeds.
    cropped = crop_face(read_rgb(photo, **LOAD, folder=photo.parent), FACE)
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


# Images of 24 x 24 pixels in blocks of 3 x 3 of random colour; segments and embedding cells are
# the 4 x 4 patches of 6 x 6 pixels. The target is the mean red of one patch, plus noise.
SIDE, PATCH, TARGET_PATCH = 24, 6, 6


def patch_images(n: int, rng: np.random.Generator) -> np.ndarray:
    blocks = rng.integers(0, 256, size=(n, SIDE // 3, SIDE // 3, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 3, axis=1), 3, axis=2)


def colour_statistics(images: np.ndarray) -> np.ndarray:
    """A cheap real embedder: mean and SD of each channel over each patch (96 dimensions)."""
    x = np.asarray(images, dtype=np.float64) / 255.0
    cells = x.reshape(len(x), SIDE // PATCH, PATCH, SIDE // PATCH, PATCH, 3)
    stats = [cells.mean(axis=(2, 4)), cells.std(axis=(2, 4))]
    return np.concatenate([a.reshape(len(x), -1) for a in stats], axis=1)


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_the_permuted_label_control_ranks_below_the_real_model_on_faithfulness(
    family: str,
) -> None:
    rng = np.random.default_rng(5)
    images = patch_images(300, rng)
    row, col = divmod(TARGET_PATCH, SIDE // PATCH)
    red = images[:, row * PATCH : (row + 1) * PATCH, col * PATCH : (col + 1) * PATCH, 0]
    y = 50 + 40 * red.mean(axis=(1, 2)) / 255 + 3 * rng.standard_normal(len(images))
    if family == "binomial":
        y = (y > np.median(y)).astype(np.float64)  # split at the median, as fit_omi_ratings
    X = colour_statistics(images)
    held_out = np.arange(len(images)) < 6
    X_train, y_train = X[~held_out], y[~held_out]
    # The real model: polface's cv.glmnet at lambda.min (the config's lasso defaults).
    fit = lasso_fitter(**LASSO, n_threads=1, family=family)
    _, info = fit(X_train, y_train, np.arange(len(y_train)) % 5 + 1, 1)
    real = LinearModel(family, float(info["a0"]), np.asarray(info["beta"]), info["lambda"])
    # it reads the signal: its largest standardised coefficient is the patch's mean red
    assert np.argmax(np.abs(real.coef) * X_train.std(axis=0)) == 3 * TARGET_PATCH
    models = {("patch", EMBEDDING): RatingModels("patch", family, EMBEDDING, None, {1: real}, real)}
    settings = lime_settings(
        n_samples=150, heldout_samples=50, repeats=2, bootstrap=20, deletion_orders=10
    )
    # The report's readouts of a fold: the model, its permuted-label refit, a random readout.
    readouts = rating_readouts(
        1, models, None, (X_train, pd.DataFrame({"patch": y_train})),
        permuted=True, random=True, seed=settings["seed"],
    )  # fmt: skip
    assert [r.arm for r in readouts] == [MODEL, PERMUTED, RANDOM]
    assert np.count_nonzero(readouts[1].model.model.coef) > 0  # the control moves
    # A broken control: the refit at the real lambda on the real labels (no permutation).
    same = lasso_path(X_train, y_train, family, lambdas=np.array([real.lambda_]))
    broken = LinearModel(family, float(same.a0[0]), same.beta[0], real.lambda_)
    readouts.append(Readout("patch", "broken", readouts[0].quantity, LinkReadout(broken)))
    labels = (np.arange(SIDE)[:, None] // PATCH) * (SIDE // PATCH) + np.arange(SIDE) // PATCH
    grid = Segmentation(labels, tuple(f"patch {k}" for k in range(16)), "grid")
    options = {k: settings[k] for k in ("n_samples", "heldout_samples", "repeats", "kernel_width",
               "hide_color", "batch_size", "bootstrap", "level", "deletion_orders",
               "curve_steps", "top", "seed", "trust")}  # fmt: skip
    rows = []
    for i in np.flatnonzero(held_out):
        out = explain_face(
            str(i), images[i], grid, readouts, colour_statistics, progress=False, **options
        )
        rows += out["scores"]
    scores = pd.DataFrame(rows)
    drop = scores.groupby("arm")["deletion_drop"].mean()
    # Measured: binomial 2.90 logits (model) vs 0.86 (permuted labels), gaussian 6.79 vs 3.20
    # rating points, while the normalised deletion gains tie (0.42 vs 0.45 and 0.42 vs 0.41).
    assert drop[MODEL] > 1.5 * drop[PERMUTED] > 0, drop.to_dict()
    # the margin is one a control fitted on the real labels fails
    assert drop[MODEL] < 1.5 * drop["broken"], drop.to_dict()
    # (The trust verdict reads this drop; here it still distrusts most of the real model's
    # explanations for their seed stability: its weights outside the patch are noise around
    # zero, whose ranks a Spearman threshold distrusts.)

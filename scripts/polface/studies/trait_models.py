"""The Facial Finetuning network on the authors' split, and applying any trait model to any
image set.

:func:`load_backbone` builds the frozen backbone from the config (ResNet-50 with the user's
ImageNet weights, checked name by name and shape by shape, or the tiny test backbone);
:func:`train_split_regressors` trains one head per trait with
:func:`polface.models.trait_regressor.fit_trait_regressor` and predicts the test faces;
:func:`apply_regressors` predicts the traits of any photographs with saved heads;
:func:`score_manifest` applies a saved baseline (:class:`polface.models.artifacts.TraitModel`) to
the embeddings (or perceived gender and age) of an image set, a row per photograph of its
manifest and trait.

What such a score is: the rating a model of *human stereotypes about synthetic faces* (the OMI
raters' mean impressions) expects for a face, not a fact about the person photographed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from polface.data.finetuning import TRAITS, FacialFinetuningDataError, unusable_images
from polface.errors import InputError
from polface.frames import IMAGE_ID
from polface.images.load import ImageRejected
from polface.images.status import STATUS_OK
from polface.images.weights import check_sha256, load_weights
from polface.models.artifacts import TraitModel
from polface.models.trait_regressor import (
    TrainingSettings,
    TraitHead,
    build_backbone,
    fit_trait_regressor,
    image_features,
    predict_images,
)


def split_images(
    split: pd.DataFrame, folder: str | Path, *, load: Callable[..., np.ndarray]
) -> dict[str, np.ndarray]:
    """Every face of the split loaded by ``load`` (e.g. resized to 224 px), per part, in order.

    ``load(path, folder=folder)`` reads one face (e.g.
    :func:`polface.models.trait_regressor.load_resized`). The file names come from the
    authors' RData file: each must name a regular file inside ``folder`` (the OMI images
    folder), not one reached through ``..`` or a symlink out of it
    (:func:`polface.data.finetuning.unusable_images`).

    Raises:
        FacialFinetuningDataError: faces without a usable file, each with the reason.
    """
    out = {}
    for part in ("train", "validation", "test"):
        names = split.loc[split["split"] == part, "Filename"]
        refused = unusable_images(names, folder)
        if refused:
            raise FacialFinetuningDataError(
                f"{folder}: no usable image file for {len(refused)} {part} faces: {refused[:10]}"
            )
        out[part] = np.stack(
            [load(Path(folder) / n, folder=folder) for n in tqdm(names, desc=f"load {part} images")]
        )
    return out


def load_backbone(
    kind: str, *, weights: str | None, sha256: str | None, seed: int, device: torch.device
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The frozen backbone and what identifies it (kind, weights file, its SHA-256).

    ``resnet50`` needs ``weights``: a torchvision-layout ImageNet state dict (``.pth`` read with
    ``torch.load(weights_only=True)``, or safetensors); a file whose names or shapes do not fit
    stops with :class:`~polface.images.weights.WeightsMismatchError` naming the file and every
    mismatch. ``tiny`` is a small random network for tests and takes no weights.
    """
    backbone = build_backbone(kind, seed=seed)
    identity: dict[str, Any] = {"kind": kind, "seed": seed}
    if kind == "resnet50":
        if weights is None:
            raise FacialFinetuningDataError(
                "facial_finetuning.regressor.weights.path is required for the resnet50 backbone "
                "(torchvision's ImageNet ResNet-50 state dict; none can be downloaded)"
            )
        check_sha256(weights, sha256, setting="facial_finetuning.regressor.weights")
        loaded = load_weights(backbone, weights, setting="facial_finetuning.regressor.weights.path")
        identity.update(weights=str(weights), weights_sha256=loaded.source_sha256)
    elif weights is not None:
        raise FacialFinetuningDataError(f"the {kind} backbone takes no weights (got {weights})")
    backbone.eval()
    return backbone.to(device), identity


def train_split_regressors(
    split: pd.DataFrame,
    images: Mapping[str, np.ndarray],
    *,
    backbone: torch.nn.Module,
    preprocessing: str,
    device: torch.device,
    model_name: str,
    settings: TrainingSettings,
) -> tuple[dict[str, TraitHead], pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """One head per trait (seed ``settings.seed + trait index``); heads, history, test
    predictions, summary. ``settings`` is the config's training block.

    Without augmentation the backbone's maps of the training and validation faces are computed
    once and shared by the three traits. A tqdm bar per trait counts the epochs.
    """
    options = {"preprocessing": preprocessing, "batch_size": settings.batch_size, "device": device}
    cached = None
    if settings.augmentation is None:
        total = len(images["train"]) + len(images["validation"])
        with tqdm(total=total, desc="backbone feature maps") as bar:
            cached = tuple(
                image_features(backbone, images[part], **options, progress=bar.update)
                for part in ("train", "validation")
            )
    heads: dict[str, TraitHead] = {}
    histories, predictions, summary = [], [], {}
    test_ids = split.loc[split["split"] == "test", IMAGE_ID].to_numpy()
    for index, trait in enumerate(TRAITS):
        y = {p: split.loc[split["split"] == p, trait].to_numpy() for p in images}
        with tqdm(total=settings.max_epochs, desc=f"{trait}: epochs") as bar:

            def progress(epoch: int, record: dict[str, float], bar: tqdm = bar) -> None:
                bar.update(1)
                bar.set_postfix(val_loss=f"{record['val_loss']:.4f}", lr=record["learning_rate"])

            fit = fit_trait_regressor(
                images["train"],
                y["train"],
                images["validation"],
                y["validation"],
                backbone=backbone,
                preprocessing=preprocessing,
                settings=settings,
                seed=settings.seed + index,
                device=device,
                cached_features=cached,
                progress=progress,
            )
        heads[trait] = fit.head
        histories += [{"trait": trait, **row} for row in fit.history]
        summary[trait] = {
            "best_epoch": fit.best_epoch,
            "epochs": len(fit.history),
            "stopped_early": fit.stopped_early,
        }
        prediction = predict_images(backbone, fit.head, images["test"], **options)
        predictions.append(
            pd.DataFrame(
                {"model": model_name, IMAGE_ID: test_ids, "trait": trait, "prediction": prediction}
            )
        )
    return heads, pd.DataFrame(histories), pd.concat(predictions, ignore_index=True), summary


def apply_regressors(
    heads: Mapping[str, TraitHead],
    backbone: torch.nn.Module,
    paths: Mapping[str, Path],
    *,
    folder: str | Path,
    load: Callable[..., np.ndarray],
    preprocessing: str,
    batch_size: int,
    device: torch.device,
) -> pd.DataFrame:
    """Every trait predicted for every photograph (``image_id`` → path), long.

    ``load(path, folder=folder)`` reads one photograph (e.g.
    :func:`polface.models.trait_regressor.load_resized`); ``folder`` is the root folder of the
    image set, and a photograph that resolves outside it (a symlink out of it, or a file in a
    subfolder that is a symlink to elsewhere) is never read. A file that cannot be read becomes
    a row with ``status`` = ``unreadable`` and its reason in ``detail`` (no prediction), never
    a crash of the whole set.
    """
    rows, ok_ids, arrays = [], [], []
    for image_id, path in tqdm(paths.items(), desc="load images"):
        try:
            arrays.append(load(path, folder=folder))
            ok_ids.append(image_id)
        except (ImageRejected, OSError, ValueError) as err:
            detail = f"{type(err).__name__}: {err}"
            if isinstance(err, ImageRejected):
                detail = err.detail
            rows += [
                {IMAGE_ID: image_id, "trait": t, "prediction": np.nan, "status": "unreadable",
                 "detail": detail}
                for t in heads
            ]  # fmt: skip
    if arrays:
        stack = np.stack(arrays)
        for trait, head in heads.items():
            values = predict_images(
                backbone,
                head.to(device),
                stack,
                preprocessing=preprocessing,
                batch_size=batch_size,
                device=device,
            )
            rows += [
                {IMAGE_ID: i, "trait": trait, "prediction": v, "status": "ok", "detail": ""}
                for i, v in zip(ok_ids, values, strict=True)
            ]
    columns: Sequence[str] = (IMAGE_ID, "trait", "prediction", "status", "detail")
    return pd.DataFrame(rows, columns=list(columns))


#: The columns of a scores file (predict_traits), one row per photograph and trait.
SCORE_COLUMNS = (IMAGE_ID, "trait", "prediction", "status", "detail")


def check_embeddings(
    model: TraitModel, metadata: Mapping[str, Any], *, embeddings_path: str | Path
) -> None:
    """Stop unless the embeddings come from the backend and weights the model was trained on.

    Raises:
        InputError: naming both files, the backend and the weights' SHA-256 of each.
    """
    got = (metadata.get("backend"), metadata.get("weights_sha256"))
    want = (model.backend, model.weights_sha256)
    if got != want:
        raise InputError(
            f"{embeddings_path}: embeddings of backend {got[0]!r} (weights SHA-256 {got[1]}), "
            f"but model {model.slug!r} of {model.source} was trained on {want[0]!r} embeddings "
            f"(weights SHA-256 {want[1]}); embed the image set with that backend and weights"
        )


def score_manifest(
    model: TraitModel, manifest: pd.DataFrame, ids: Sequence[str], X: np.ndarray
) -> pd.DataFrame:
    """Every trait of ``model`` for every photograph of ``manifest``, long (:data:`SCORE_COLUMNS`).

    ``ids`` and ``X`` are the model's inputs: the embeddings of the set's ``ok`` faces, or the
    perceived gender and age (n, 2). A photograph whose crop failed keeps its manifest status
    and detail with a NaN prediction; an ``ok`` photograph without inputs gets a NaN and the
    detail ``no <inputs> for this photograph``.
    """
    index = {str(i): k for k, i in enumerate(ids)}
    rows = manifest[[IMAGE_ID, "status", "detail"]].astype({IMAGE_ID: str})
    ok = (rows["status"] == STATUS_OK).to_numpy()
    has = ok & rows[IMAGE_ID].map(lambda i: i in index).to_numpy(dtype=bool)
    scored = rows[has]
    values = (
        model.predict(np.asarray(X)[[index[i] for i in scored[IMAGE_ID]]])
        if len(scored)
        else {t: np.empty(0) for t in model.traits}
    )
    frames = []
    for trait in model.traits:
        frame = rows.assign(trait=trait, prediction=np.nan)
        frame.loc[has, "prediction"] = values[trait]
        frame.loc[ok & ~has, "detail"] = f"no {model.inputs} for this photograph"
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["detail"] = out["detail"].fillna("").astype(str)
    return out[list(SCORE_COLUMNS)]

"""The in-memory chain image -> crop -> embedding -> score, as the workflow computes it.

The steps are the library calls the rules use, so a photograph scored here gets the vectors the
workflow writes (bit for bit on the CPU, for the same crop settings and backend):

1. :func:`polface.images.crop.crop_face` (rule crop_faces, per photograph): detection, 5-point
   alignment and the VGGFace2 crop of one ``uint8`` RGB array, with the affine map from
   original pixel coordinates into the crop.
2. an :class:`polface.images.embed.Embedder` (rule embed_faces): the backend's network with its
   weights loaded once; the input is the crop, or for ``dlib`` the chip cut from the photograph.
3. a :class:`Scorer`: any loaded model with ``predict(X) -> scores`` (the fitted-model
   artifacts of :mod:`polface.models` load back as such objects) applied to the embeddings.

Read photographs with :func:`polface.images.load.read_rgb` and the crop settings' ``min_face``
and ``max_pixels``, as crop_faces does. :meth:`FaceChain.score_crops` is the classifier
function that LIME perturbs (ResNet backends: the crop is the network input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from polface.images.crop import FaceCrop, crop_face
from polface.images.embed import Embedder

#: Crop settings that concern files, not arrays (crop_faces applies them while reading).
FILE_SETTINGS = ("max_pixels",)


class Predictor(Protocol):
    """A loaded model: ``predict`` maps an ``(n, D)`` matrix to ``n`` scores."""

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (the usual name of a design matrix)
        """Scores of the rows of ``X``."""
        ...


class Scorer:
    """Applies a loaded model to embeddings: ``scorer(embeddings) -> scores`` (float64).

    Scores come back as ``(n,)`` (a single-column prediction is flattened).

    Args:
        model: any object with ``predict(X)``.
        dim: the embedding length the model was fitted on; when given, other widths are refused
            with a clear error instead of a shape error deep inside the model.
    """

    def __init__(self, model: Predictor, *, dim: int | None = None) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{type(model).__name__} has no predict(X) method")
        self.model = model
        self.dim = dim

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``embeddings`` (``(n, D)``; one vector ``(D,)`` is one row)."""
        matrix = np.atleast_2d(np.asarray(embeddings))
        if matrix.ndim != 2:
            raise ValueError(f"expected an (n, D) matrix of embeddings, got shape {matrix.shape}")
        if self.dim is not None and matrix.shape[1] != self.dim:
            raise ValueError(
                f"embeddings have {matrix.shape[1]} columns; the model was fitted on {self.dim}"
            )
        scores = np.asarray(self.model.predict(matrix), dtype=np.float64)
        if scores.shape[0] != matrix.shape[0]:
            raise ValueError(
                f"{type(self.model).__name__}.predict returned {scores.shape[0]} scores for "
                f"{matrix.shape[0]} rows"
            )
        return scores[:, 0] if scores.ndim == 2 and scores.shape[1] == 1 else scores


@dataclass(frozen=True)
class ChainResult:
    """One photograph through the chain.

    ``cropped`` is the :class:`~polface.images.crop.FaceCrop` (status, crop, affine, box,
    landmarks); ``embedding`` the ``float32`` ``(D,)`` vector and ``score`` the model's score,
    both ``None`` when no face was cropped (and ``score`` when the chain has no model).
    """

    cropped: FaceCrop
    embedding: np.ndarray | None
    score: float | None


class FaceChain:
    """image -> crop -> embedding -> score with one embedder and one set of crop settings.

    Args:
        embedder: from :func:`polface.images.embed.load_embedder` (weights loaded once).
        crop: the crop settings (the config's ``crop`` block, or the ``crop_settings`` that a
            manifest or an embeddings file records); ``max_pixels`` is ignored here.
        model: a loaded model with ``predict(X)``, or ``None`` for embeddings only.
    """

    def __init__(
        self, embedder: Embedder, *, crop: Mapping[str, object], model: Predictor | None
    ) -> None:
        self.embedder = embedder
        self.crop_settings = {k: v for k, v in crop.items() if k not in FILE_SETTINGS}
        self.scorer = None if model is None else Scorer(model, dim=embedder.dim)

    def crop(self, rgb: np.ndarray) -> FaceCrop:
        """Detect, align and crop the face of one ``uint8`` RGB array."""
        return crop_face(rgb, **self.crop_settings)  # type: ignore[arg-type]

    def embed(self, images: Sequence[np.ndarray]) -> tuple[list[FaceCrop], np.ndarray]:
        """Crop every image and embed the cropped ones in one batch.

        Returns the crops (one per image, with their statuses) and the ``float32``
        ``(n_ok, D)`` embeddings of the ``ok`` ones, in input order.
        """
        crops = [self.crop(rgb) for rgb in images]
        inputs = [
            self.embedder.input_of(rgb, c) for rgb, c in zip(images, crops, strict=True) if c.ok
        ]
        if not inputs:
            return crops, np.empty((0, self.embedder.dim), dtype=np.float32)
        return crops, self.embedder.embed(np.stack(inputs))

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """The model's scores of ``(n, D)`` embeddings."""
        if self.scorer is None:
            raise ValueError("this chain has no model: pass model= to score")
        return self.scorer(embeddings)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        """Scores of a batch of ``uint8`` crops ``(n, S, S, 3)`` (the function LIME perturbs).

        Only for the ResNet backends, whose input is the crop; dlib embeds chips cut from the
        photograph, which a perturbed crop does not determine.
        """
        if self.embedder.uses_chips:
            raise ValueError("the dlib backend embeds chips of the photograph, not crops")
        return self.score(self.embedder.embed(np.asarray(crops, dtype=np.uint8)))

    def run(self, images: Sequence[np.ndarray]) -> list[ChainResult]:
        """The whole chain on several images (embedded in one batch)."""
        crops, embeddings = self.embed(images)
        scores = self.score(embeddings) if self.scorer is not None and len(embeddings) else None
        results, k = [], 0
        for cropped in crops:
            if not cropped.ok:
                results.append(ChainResult(cropped, None, None))
                continue
            score = None if scores is None else float(scores[k])
            results.append(ChainResult(cropped, embeddings[k], score))
            k += 1
        return results

    def __call__(self, rgb: np.ndarray) -> ChainResult:
        """The whole chain on one image."""
        return self.run([rgb])[0]


def run_chain(
    rgb: np.ndarray,
    *,
    embedder: Embedder,
    crop: Mapping[str, object],
    model: Predictor | None,
) -> ChainResult:
    """image -> crop -> embedding -> score in one call (see :class:`FaceChain`)."""
    return FaceChain(embedder, crop=crop, model=model)(rgb)

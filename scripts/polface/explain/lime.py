"""LIME on the image a network really sees, seeded, vectorised, with lime's own kernel and ridge.

One explanation of one input image (a ``uint8`` crop or dlib chip) and one
:class:`~polface.explain.segments.Segmentation`:

1. :func:`sample_masks`: ``n_samples`` binary rows over the segments, drawn exactly as lime 0.2.0.1
   draws them (``RandomState.randint(0, 2, n_samples * n_segments)``, first row all ones) from a
   generator seeded by :func:`sample_seed` (config seed, image id, repeat), never numpy's global
   state.
2. :func:`perturb`: every row's image at once (numpy; :func:`perturb_torch` on a torch device): a
   hidden segment takes ``hide_color``; the rest keeps the input's pixels. Same pixels as lime's
   per-row loop.
3. :func:`score_masks`: the model's outputs of the perturbed images, ``batch_size`` at a time
   (the forward passes are the cost). What is explained is a logit or a rating, not a saturated
   probability (:func:`polface.explain.readouts`).
4. :func:`fit_local`: cosine distances to the all-ones row, lime's image kernel
   ``sqrt(exp(-d**2 / width**2))`` and ``lime_base.LimeBase.explain_instance_with_data`` with lime's
   defaults (``feature_selection="auto"``, ``num_features=100000``, Ridge ``alpha=1``), so the
   weights are exactly lime's: ``tests/test_lime.py`` checks bit equality with
   ``LimeImageExplainer.explain_instance`` given the same generator and segmentation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sklearn.metrics
from lime import lime_base
from tqdm import tqdm

#: lime 0.2.0.1's defaults in LimeImageExplainer (kernel width) and explain_instance.
LIME_KERNEL_WIDTH = 0.25
LIME_NUM_FEATURES = 100000
LIME_FEATURE_SELECTION = "auto"
LIME_DISTANCE = "cosine"

ScoreFn = Callable[[np.ndarray], np.ndarray]


def sample_seed(seed: int, image_id: str, repeat: int) -> int:
    """The 32-bit seed of one (config seed, image id, repeat): independent of run order."""
    digest = hashlib.sha256(f"{int(seed)}|{image_id}|{int(repeat)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def sample_masks(n_samples: int, n_segments: int, *, seed: int) -> np.ndarray:
    """lime's perturbation rows: ``(n_samples, n_segments)`` ``int64`` 0/1, row 0 all ones."""
    if n_samples < 2 or n_segments < 1:
        raise ValueError(f"need n_samples >= 2 and a segment, got {n_samples}, {n_segments}")
    state = np.random.RandomState(seed)
    data = state.randint(0, 2, n_samples * n_segments).reshape((n_samples, n_segments))
    data[0, :] = 1
    return data


def hide_image(image: np.ndarray, hide_color: int | tuple[int, int, int]) -> np.ndarray:
    """The image with every pixel hidden (lime's ``fudged_image`` for a fixed ``hide_color``)."""
    fudged = np.empty_like(image)
    fudged[:] = np.asarray(hide_color, dtype=image.dtype)
    return fudged


def perturb(
    image: np.ndarray, labels: np.ndarray, masks: np.ndarray, hidden: np.ndarray
) -> np.ndarray:
    """``(n, H, W, 3)`` images: pixel of segment ``s`` from ``image`` where ``masks[:, s]``, else
    from ``hidden``."""
    keep = np.asarray(masks, dtype=bool)[:, labels]
    return np.where(keep[..., None], image[None], hidden[None])


def perturb_torch(image, labels, masks, hidden, device):  # noqa: ANN001, ANN201 (torch types)
    """:func:`perturb` on a torch device: a ``uint8`` tensor ``(n, H, W, 3)`` there."""
    import torch

    img = torch.tensor(image, device=device)
    fill = torch.tensor(hidden, device=device)
    lab = torch.as_tensor(labels, device=device)
    keep = torch.as_tensor(np.asarray(masks, dtype=bool), device=device)[:, lab]
    return torch.where(keep[..., None], img[None], fill[None])


def score_masks(
    score: ScoreFn,
    image: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    hidden: np.ndarray,
    *,
    batch_size: int,
    progress: bool,
    desc: str = "LIME samples",
) -> np.ndarray:
    """The model's outputs (float64 ``(n,)``) of the images that ``masks`` make."""
    out = []
    starts = range(0, len(masks), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        batch = perturb(image, labels, masks[start : start + batch_size], hidden)
        values = np.asarray(score(batch), dtype=np.float64).reshape(-1)
        if len(values) != len(batch):
            raise ValueError(f"the scorer returned {len(values)} values for {len(batch)} images")
        out.append(values)
    return np.concatenate(out)


def lime_kernel(distances: np.ndarray, kernel_width: float) -> np.ndarray:
    """lime's image kernel: ``sqrt(exp(-d**2 / width**2))``."""
    return np.sqrt(np.exp(-(distances**2) / kernel_width**2))


def kernel_weights(masks: np.ndarray, *, kernel_width: float) -> np.ndarray:
    """The kernel weight of every row: cosine distance to row 0 (the unperturbed image)."""
    distances = sklearn.metrics.pairwise_distances(
        masks, masks[0].reshape(1, -1), metric=LIME_DISTANCE
    ).ravel()
    return lime_kernel(distances, float(kernel_width))


@dataclass(frozen=True)
class LocalFit:
    """lime's local model of one explanation.

    ``weights`` has one entry per segment (in label order); ``score`` is lime's weighted
    in-sample R²; ``local_pred`` the local model at the unperturbed image and ``model_output``
    the model's output there (row 0 of the samples).
    """

    intercept: float
    weights: np.ndarray
    score: float
    local_pred: float
    model_output: float

    def predict(self, masks: np.ndarray) -> np.ndarray:
        """The local model's prediction for perturbation rows."""
        return self.intercept + np.asarray(masks, dtype=np.float64) @ self.weights


def fit_local(
    masks: np.ndarray,
    scores: np.ndarray,
    *,
    kernel_width: float,
    seed: int,
) -> LocalFit:
    """lime's kernel and ridge on ``masks`` (row 0 all ones) and the model's ``scores``.

    ``seed`` seeds the ``random_state`` lime hands to its Ridge (which does not use it with the
    default solver); it is explicit so nothing reads numpy's global state.
    """
    masks = np.asarray(masks)
    scores = np.asarray(scores, dtype=np.float64)
    distances = sklearn.metrics.pairwise_distances(
        masks, masks[0].reshape(1, -1), metric=LIME_DISTANCE
    ).ravel()
    state = np.random.RandomState(seed)

    def kernel(d: np.ndarray) -> np.ndarray:
        return lime_kernel(d, float(kernel_width))

    base = lime_base.LimeBase(kernel, False, random_state=state)
    intercept, pairs, score, local_pred = base.explain_instance_with_data(
        masks,
        scores.reshape(-1, 1),
        distances,
        0,
        LIME_NUM_FEATURES,
        feature_selection=LIME_FEATURE_SELECTION,
    )
    weights = np.zeros(masks.shape[1], dtype=np.float64)
    for feature, weight in pairs:
        weights[int(feature)] = weight
    return LocalFit(
        float(intercept), weights, float(score), float(np.ravel(local_pred)[0]), float(scores[0])
    )


def weighted_r2(y: np.ndarray, prediction: np.ndarray, weights: np.ndarray) -> float:
    """R² weighted by ``weights`` (as scikit-learn's ``score`` with ``sample_weight``)."""
    return float(sklearn.metrics.r2_score(y, prediction, sample_weight=weights))

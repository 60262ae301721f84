"""LIME explanations of one face for several readouts at once, with every trust number.

The forward passes are the cost, so they are shared: the perturbed images of one face and one
segmentation are embedded once (:class:`RowScorer`, ``batch_size`` at a time, each distinct row
once) and every readout (the model and its controls) reads the same embeddings. Per face,
segmentation and readout :func:`explain_face` gives:

- per repeat ``r`` (``repeats`` in all; samples seeded by ``(seed, image id, segmentation, r)``)
  lime's local fit; repeat 0 is *the* explanation, the others measure seed stability;
- the held-out R² on ``heldout_samples`` fresh rows, ``|local - model|`` (also in SDs of the
  model's outputs on the samples), bootstrap intervals of the weights (``bootstrap`` refits);
- deletion and insertion curves in ``curve_steps`` steps against ``deletion_orders`` random
  orders (shared by all readouts of the segmentation) and the trust verdict
  (:func:`polface.explain.faithfulness.trust_verdict`).

The settings are the config's ``lime`` block of an image set (keyword-only, defaults in the
schema).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from polface.explain.faithfulness import (
    bootstrap_weights,
    deletion_insertion,
    heldout_r2,
    stability,
    trust_verdict,
)
from polface.explain.lime import (
    fit_local,
    hide_image,
    perturb,
    perturb_torch,
    sample_masks,
    sample_seed,
)
from polface.explain.segments import Segmentation
from polface.frames import IMAGE_ID

EmbedFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Readout:
    """One thing to explain: ``target`` (e.g. ``liberal``), ``arm`` (``model``, a control or
    a perceived-demographics readout), ``quantity`` (``logit`` or ``rating``) and ``model``
    (``predict(embeddings) -> values``)."""

    target: str
    arm: str
    quantity: str
    model: Any


class RowScorer:
    """Perturbation rows -> every readout's output, embedding each distinct row once.

    ``mask_device`` (a torch device, e.g. ``cuda``) makes the perturbed images there with
    :func:`polface.explain.lime.perturb_torch` and hands the tensor to ``embed`` (the ResNet
    embedders take it as it is); None masks with numpy on the CPU.
    """

    def __init__(
        self,
        embed: EmbedFn,
        image: np.ndarray,
        segmentation: Segmentation,
        hidden: np.ndarray,
        readouts: Sequence[Readout],
        *,
        batch_size: int,
        progress: bool,
        mask_device: Any = None,
    ) -> None:
        self.embed = embed
        self.mask_device = mask_device
        self.image = image
        self.labels = segmentation.labels
        self.hidden = hidden
        self.readouts = list(readouts)
        self.batch_size = batch_size
        self.progress = progress
        self.cache: dict[bytes, np.ndarray] = {}
        self.forward_passes = 0

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """``(n, R)`` outputs of the ``R`` readouts for the images of ``rows``."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        keys = [row.tobytes() for row in rows]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            fresh = np.stack([np.frombuffer(k, dtype=np.int64) for k in todo])
            starts = range(0, len(fresh), self.batch_size)
            for start in tqdm(starts, desc="forward passes", disable=not self.progress):
                chunk = fresh[start : start + self.batch_size]
                if self.mask_device is None:
                    images = perturb(self.image, self.labels, chunk, self.hidden)
                else:
                    images = perturb_torch(
                        self.image, self.labels, chunk, self.hidden, self.mask_device
                    )
                embeddings = self.embed(images)
                values = np.column_stack(
                    [np.asarray(r.model.predict(embeddings), np.float64) for r in self.readouts]
                )
                for key, value in zip(todo[start : start + len(chunk)], values, strict=True):
                    self.cache[key] = value
                self.forward_passes += len(chunk)
        return np.stack([self.cache[k] for k in keys])


def explain_face(
    image_id: str,
    image: np.ndarray,
    segmentation: Segmentation,
    readouts: Sequence[Readout],
    embed: EmbedFn,
    *,
    n_samples: int,
    heldout_samples: int,
    repeats: int,
    kernel_width: float,
    hide_color: Sequence[int],
    batch_size: int,
    bootstrap: int,
    level: float,
    deletion_orders: int,
    curve_steps: int,
    top: int,
    seed: int,
    trust: Mapping[str, float],
    progress: bool,
    mask_device: Any = None,
) -> dict[str, list[dict[str, Any]]]:
    """Explain one network input for every readout: rows of the weights, scores and curves.

    Returns ``{"weights": [...], "scores": [...], "curves": [...]}`` (records for the tables
    described in :mod:`polface.studies.lime_report`) and the number of forward passes in
    ``scores[i]["forward_passes"]`` (the same for every readout of the face and segmentation).
    """
    hidden = hide_image(image, tuple(int(c) for c in hide_color))
    scorer = RowScorer(
        embed,
        image,
        segmentation,
        hidden,
        readouts,
        batch_size=batch_size,
        progress=progress,
        mask_device=mask_device,
    )
    stream = f"{image_id}|{segmentation.method}"
    samples = [
        sample_masks(n_samples, segmentation.n_segments, seed=sample_seed(seed, stream, r))
        for r in range(repeats)
    ]
    outputs = [scorer(m) for m in samples]
    fresh = sample_masks(
        heldout_samples, segmentation.n_segments, seed=sample_seed(seed, stream, repeats)
    )
    fresh_outputs = scorer(fresh)
    sizes = segmentation.sizes()
    order_seed = sample_seed(seed, stream, -1)
    weights, scores, curves = [], [], []
    for k, readout in enumerate(readouts):
        fits = [
            fit_local(m, o[:, k], kernel_width=kernel_width, seed=seed)
            for m, o in zip(samples, outputs, strict=True)
        ]
        fit = fits[0]
        lo, hi = bootstrap_weights(
            samples[0],
            outputs[0][:, k],
            kernel_width=kernel_width,
            n_boot=bootstrap,
            level=level,
            seed=sample_seed(seed, stream, repeats + 1),
        )
        curve = deletion_insertion(
            lambda rows, k=k: scorer(rows)[:, k],
            sizes,
            fit.weights,
            n_random=deletion_orders,
            steps=curve_steps,
            seed=order_seed,
        )
        rho, jaccard = stability([f.weights for f in fits], top=top)
        spread = float(np.std(outputs[0][:, k]))
        error = abs(fit.local_pred - fit.model_output)
        numbers = {
            "model_output": fit.model_output,
            "local_pred": fit.local_pred,
            "intercept": fit.intercept,
            "r2_in_sample": fit.score,
            "heldout_r2": heldout_r2(fit, fresh, fresh_outputs[:, k], kernel_width=kernel_width),
            "local_error": error,
            "local_error_sd": error / spread if spread > 0 else float("nan"),
            "output_sd": spread,
            "spearman": rho,
            "jaccard_top": jaccard,
            "repeats": repeats,
            "hidden_output": curve.empty,
            "deletion_auc": curve.deletion_auc,
            "deletion_auc_random": curve.deletion_auc_random,
            "deletion_gain": curve.deletion_gain,
            "deletion_drop": curve.deletion_drop,
            "insertion_auc": curve.insertion_auc,
            "insertion_auc_random": curve.insertion_auc_random,
            "insertion_gain": curve.insertion_gain,
        }
        failed = trust_verdict(numbers, thresholds=trust)
        key = {
            IMAGE_ID: image_id,
            "segmentation": segmentation.method,
            "target": readout.target,
            "arm": readout.arm,
        }
        scores.append(
            {
                **key,
                "quantity": readout.quantity,
                "n_segments": segmentation.n_segments,
                **numbers,
                "trustworthy": not failed,
                "failed": "; ".join(failed),
            }
        )
        for s, name in enumerate(segmentation.names):
            weights.append(
                {
                    **key,
                    "segment": s,
                    "segment_name": name,
                    "pixels": int(sizes[s]),
                    "weight": float(fit.weights[s]),
                    "lo": float(lo[s]),
                    "hi": float(hi[s]),
                    "repeat_weights": [float(f.weights[s]) for f in fits],
                }
            )
        for step, fraction in enumerate(curve.fraction):
            curves.append(
                {
                    **key,
                    "step": step,
                    "fraction": float(fraction),
                    "deletion": float(curve.deletion[step]),
                    "insertion": float(curve.insertion[step]),
                }
            )
    for row in scores:
        row["forward_passes"] = scorer.forward_passes
    return {"weights": weights, "scores": scores, "curves": curves}

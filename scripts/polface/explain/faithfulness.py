"""Numbers by which a LIME explanation can be trusted or distrusted.

- Fit: lime's weighted in-sample R² (:attr:`polface.explain.lime.LocalFit.score`), the held-out
  R² of the same local model on fresh perturbations (:func:`heldout_r2`), and
  ``|local prediction - model output|`` at the unperturbed image.
- :func:`bootstrap_weights`: percentile intervals of every weight from refits of lime's ridge on
  perturbation rows drawn with replacement (row 0, the unperturbed image, kept first).
- :func:`stability`: agreement of the weights of repeats with different sampling seeds: mean
  Spearman correlation and mean Jaccard index of the ``top`` most positive segments over pairs.
- :func:`deletion_insertion`: the faithfulness curves of Petsiuk, Das & Saenko (RISE, BMVC 2018)
  over the fraction of pixels: segments hidden (deletion) or revealed on the hidden image
  (insertion) in the order of decreasing weight, against random orders of the same segments.
  Curves are in the model's units; the areas are those of ``(f - f(hidden image)) / range``,
  ``range`` the span of every output on the explained and random curves (never near zero
  unless nothing moves the output, when the areas are NaN), so a monotone curve from the image
  to the hidden image has area between 0 and 1 and every gain lies in ``[-1, 1]``. The gain of
  deletion is ``random area - explained area`` (positive: deleting the top segments first
  lowers the output faster than chance), of insertion ``explained - random``. The deletion
  drop is that gain in the model's units (``gain * range``: logit or rating, as RISE's deletion
  is in the classifier's probability): the trust verdict uses it, since it is comparable between
  a model and its controls, which explain the same quantity, where the normalised gain is not
  (a readout that hardly moves can be explained as faithfully, in its own range, as one that
  moves a lot; ``tests/test_lime_report.py`` shows a permuted-label refit tying with the real
  model on the gain and losing on the drop).
- :func:`trust_verdict`: whether the numbers pass the configurable thresholds (``lime.trust``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.stats import spearmanr

from polface.explain.lime import LocalFit, fit_local, kernel_weights, weighted_r2


def heldout_r2(
    fit: LocalFit, masks: np.ndarray, scores: np.ndarray, *, kernel_width: float
) -> float:
    """Kernel-weighted R² of ``fit`` on fresh perturbation rows (row 0 all ones) and scores."""
    return weighted_r2(scores, fit.predict(masks), kernel_weights(masks, kernel_width=kernel_width))


def bootstrap_weights(
    masks: np.ndarray,
    scores: np.ndarray,
    *,
    kernel_width: float,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval ``(lo, hi)`` of each weight over ``n_boot`` resampled refits."""
    rng = np.random.default_rng(seed)
    n = len(masks)
    draws = np.empty((n_boot, masks.shape[1]))
    for b in range(n_boot):
        rows = np.concatenate([[0], rng.integers(1, n, size=n - 1)])
        draws[b] = fit_local(
            masks[rows], scores[rows], kernel_width=kernel_width, seed=seed
        ).weights
    alpha = (1.0 - level) / 2.0
    return np.quantile(draws, alpha, axis=0), np.quantile(draws, 1.0 - alpha, axis=0)


def top_segments(weights: np.ndarray, top: int) -> set[int]:
    """The ``top`` segments of largest weight (ties broken by label)."""
    order = np.lexsort((np.arange(len(weights)), -np.asarray(weights)))
    return {int(k) for k in order[:top]}


def stability(weights: Sequence[np.ndarray], *, top: int) -> tuple[float, float]:
    """Mean Spearman correlation and mean top-``top`` Jaccard index over pairs of repeats.

    NaN with fewer than two repeats; a pair with constant weights has Spearman NaN (left out).
    """
    pairs = list(combinations(range(len(weights)), 2))
    if not pairs:
        return float("nan"), float("nan")
    rhos, jaccards = [], []
    for i, j in pairs:
        a, b = np.asarray(weights[i]), np.asarray(weights[j])
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            rhos.append(float(spearmanr(a, b).statistic))
        sa, sb = top_segments(a, top), top_segments(b, top)
        jaccards.append(len(sa & sb) / len(sa | sb))
    rho = float(np.mean(rhos)) if rhos else float("nan")
    return rho, float(np.mean(jaccards))


@dataclass(frozen=True)
class Curves:
    """Deletion and insertion curves of one explanation.

    ``fraction`` (steps + 1,) is the fraction of pixels hidden (deletion) or revealed
    (insertion) after each step of the explained order; ``deletion`` and ``insertion`` the
    model's outputs there. ``*_auc`` are normalised areas (see the module docstring);
    ``*_auc_random`` their means over random orders; ``full`` and ``empty`` the outputs of
    the image and of the hidden image.
    """

    fraction: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    full: float
    empty: float
    deletion_auc: float
    insertion_auc: float
    deletion_auc_random: float
    insertion_auc_random: float
    span: float

    @property
    def deletion_gain(self) -> float:
        """Random deletion area minus the explained one (higher is more faithful)."""
        return self.deletion_auc_random - self.deletion_auc

    @property
    def deletion_drop(self) -> float:
        """The deletion gain in the model's units (logit or rating): ``gain * span``.

        Comparable between models of the same quantity (a model and its controls), where the
        normalised gain is not: a readout whose output hardly moves can be explained as
        faithfully as one that moves a lot, but its segments move it less.
        """
        return self.deletion_gain * self.span

    @property
    def insertion_gain(self) -> float:
        """Explained insertion area minus the random one (higher is more faithful)."""
        return self.insertion_auc - self.insertion_auc_random


def _order_masks(groups: Sequence[np.ndarray], n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Mask rows after each group of an order: deletion (all on, then off) and insertion."""
    deletion = np.ones((len(groups) + 1, n_segments), dtype=np.int64)
    for k, group in enumerate(groups, start=1):
        deletion[k:, group] = 0
    return deletion, 1 - deletion


def _area(fraction: np.ndarray, values: np.ndarray, empty: float, span: float) -> float:
    if span < 1e-12:
        return float("nan")
    return float(np.trapezoid((values - empty) / span, fraction))


def deletion_insertion(
    score_rows: Callable[[np.ndarray], np.ndarray],
    sizes: np.ndarray,
    weights: np.ndarray,
    *,
    n_random: int,
    steps: int,
    seed: int,
) -> Curves:
    """Deletion and insertion curves in the order of decreasing weight, and random orders.

    ``score_rows`` maps perturbation rows (1 = segment shown) to the model's outputs (see
    :func:`polface.explain.lime.score_masks`); ``sizes`` are the segments' pixel counts. The
    random orders depend only on ``seed`` and the number of segments, so several models
    explained on one segmentation share them (and a cache of scored rows). Each order is taken
    in ``steps`` consecutive groups of segments (every segment its own step when there are no
    more segments than steps): the curves have ``min(steps, n_segments) + 1`` points.
    """
    n_segments = len(weights)
    share = np.asarray(sizes, dtype=np.float64) / float(np.sum(sizes))
    rng = np.random.default_rng(seed)
    explained = np.lexsort((np.arange(n_segments), -np.asarray(weights)))
    orders = [explained] + [rng.permutation(n_segments) for _ in range(n_random)]
    n_steps = min(int(steps), n_segments)
    rows = []
    for order in orders:
        deletion, insertion = _order_masks(np.array_split(order, n_steps), n_segments)
        rows += [deletion, insertion]
    outputs = np.asarray(score_rows(np.concatenate(rows)), dtype=np.float64)
    outputs = outputs.reshape(len(orders), 2, n_steps + 1)
    full, empty = float(outputs[0, 0, 0]), float(outputs[0, 1, 0])
    span = float(np.ptp(outputs))
    areas = np.empty((len(orders), 2))
    fractions = []
    for i, order in enumerate(orders):
        groups = np.array_split(order, n_steps)
        fraction = np.concatenate([[0.0], np.cumsum([share[g].sum() for g in groups])])
        fractions.append(fraction)
        areas[i, 0] = _area(fraction, outputs[i, 0], empty, span)
        areas[i, 1] = _area(fraction, outputs[i, 1], empty, span)
    nan = float("nan")
    return Curves(
        fraction=fractions[0],
        deletion=outputs[0, 0],
        insertion=outputs[0, 1],
        full=full,
        empty=empty,
        deletion_auc=float(areas[0, 0]),
        insertion_auc=float(areas[0, 1]),
        deletion_auc_random=float(areas[1:, 0].mean()) if n_random else nan,
        insertion_auc_random=float(areas[1:, 1].mean()) if n_random else nan,
        span=span,
    )


def trust_verdict(numbers: Mapping[str, float], *, thresholds: Mapping[str, float]) -> list[str]:
    """The failed checks of one explanation (empty: trustworthy).

    ``thresholds`` is the config's ``lime.trust`` block: ``min_heldout_r2``,
    ``max_local_error`` (``|local - model|`` in SDs of the model's outputs on the samples),
    ``min_spearman`` (seed stability; skipped with one repeat) and ``min_deletion_drop`` (in
    the model's units; at 0 the sign of the normalised gain). A NaN fails its check (a scorer
    that does not move has no faithful explanation).
    """
    failed = []
    checks = [
        ("heldout_r2", "min_heldout_r2", lambda v, t: v >= t),
        ("local_error_sd", "max_local_error", lambda v, t: v <= t),
        ("spearman", "min_spearman", lambda v, t: v >= t),
        ("deletion_drop", "min_deletion_drop", lambda v, t: v >= t),
    ]
    for name, key, passes in checks:
        value = numbers.get(name, float("nan"))
        if name == "spearman" and numbers.get("repeats", 1) < 2:
            continue
        if not np.isfinite(value) or not passes(value, thresholds[key]):
            failed.append(f"{name} {value:.3g} vs {key} {thresholds[key]:g}")
    return failed

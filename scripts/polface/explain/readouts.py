"""What LIME explains: a model's logit or rating on an embedding, and the controls beside it.

A readout maps embeddings ``(n, D)`` to one number per row through ``predict``. The fitted
LASSO models (:class:`polface.models.artifacts.LinearModel`) are read out on the scale of their
linear predictor (:class:`LinkReadout`): the logit for a binomial model (never the saturated
probability), the rating itself for a gaussian one.

Controls, explained exactly like the model they stand beside:

- :func:`permuted_refit`: the same LASSO refitted on the same training rows with the labels
  permuted, at the real model's lambda (cross-validation on permuted labels would select the
  empty model, which has nothing to explain).
- :func:`random_readout`: a random linear readout of the same embedding with the real model's
  sparsity (number of nonzero coefficients) and coefficient norm (L2), and its intercept.
- perceived-demographics readouts: LASSO models of the faces' perceived age, gender and race
  (OMI ratings) on the same embedding (rule ``fit_omi_readouts``), read out like the model.

Which readouts explain a face: for the OMI rating models (:func:`fold_readouts`), each target's
LASSO of the outer fold that did not train on the face, read out as logit or rating, beside its
permuted-label refit, a random readout of the same sparsity and norm, and the
perceived-demographics readouts of the same fold (:func:`rating_readouts`); for a model trained
on a cohort (:func:`cohort_readouts`: e.g. Kosinski's LASSO on the OSF descriptors) its first
outer fold (no fold saw these faces) and a random readout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from polface.data.omi import EMBEDDING, rating_targets
from polface.errors import InputError
from polface.explain.explanations import Readout
from polface.metrics import child_seed
from polface.models.artifacts import LinearModel, RatingModels
from polface.models.lasso import lasso_path

#: Names of the arms of an explained target, in display order.
MODEL = "model"
PERMUTED = "permuted labels"
RANDOM = "random readout"


@dataclass(frozen=True)
class LinkReadout:
    """A LASSO read out on its linear predictor: the logit (binomial) or the rating."""

    model: LinearModel

    @property
    def quantity(self) -> str:
        """``logit`` or ``rating``."""
        return "logit" if self.model.family == "binomial" else "rating"

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 (a design matrix)
        """The linear predictor of the rows of ``X``."""
        return self.model.link(X)


def permuted_refit(
    model: LinearModel,
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,  # noqa: N803
) -> LinearModel:
    """``model``'s LASSO refitted on ``(X, permuted y)`` at ``model``'s lambda (glmnet's units)."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) != len(X):
        raise ValueError(f"{len(X)} training rows but {len(y)} labels")
    permuted = np.random.default_rng(seed).permutation(y)
    path = lasso_path(
        np.asarray(X, dtype=np.float64),
        permuted,
        model.family,
        lambdas=np.array([model.lambda_]),
    )
    return LinearModel(
        family=model.family,
        intercept=float(path.a0[0]),
        coef=np.asarray(path.beta[0], dtype=np.float64),
        lambda_=model.lambda_,
    )


def random_readout(model: LinearModel, *, seed: int) -> LinearModel:
    """A readout with ``model``'s number of nonzero coefficients, L2 norm and intercept.

    The support is drawn uniformly among the embedding's dimensions and the values from a
    standard normal, rescaled to the norm. A model without a nonzero coefficient gives itself.
    """
    coef = np.asarray(model.coef, dtype=np.float64)
    k = int(np.count_nonzero(coef))
    out = np.zeros_like(coef)
    if k:
        rng = np.random.default_rng(seed)
        support = rng.choice(len(coef), size=k, replace=False)
        values = rng.standard_normal(k)
        out[support] = values * (np.linalg.norm(coef) / np.linalg.norm(values))
    return LinearModel(
        family=model.family, intercept=model.intercept, coef=out, lambda_=model.lambda_
    )


#: Perceived-demographics readouts are explained under this arm name.
DEMOGRAPHICS = "perceived demographics"


def rating_readouts(
    fold: int,
    models: Mapping[tuple[str, str], RatingModels],
    demographics: Mapping[tuple[str, str], RatingModels] | None,
    train: tuple[np.ndarray, pd.DataFrame] | None,
    *,
    permuted: bool,
    random: bool,
    seed: int,
) -> list[Readout]:
    """The readouts of the faces of outer fold ``fold``: each target's model of that fold (which
    did not train on them) and its controls, then the perceived-demographics readouts.

    ``train`` is ``(X, targets)`` of the faces outside outer fold ``fold`` (the rows the fold
    model was fitted on), needed for the permuted-label refit.
    """
    readouts = []
    embedding = [m for (_, name), m in models.items() if name == EMBEDDING]
    for index, rating in enumerate(embedding):
        model = rating.folds[fold]
        quantity = LinkReadout(model).quantity
        readouts.append(Readout(rating.target, MODEL, quantity, LinkReadout(model)))
        if permuted:
            if train is None:
                raise ValueError("the permuted-label control needs the training rows")
            X, targets = train
            y = targets[rating.target].to_numpy(dtype=np.float64)
            keep = ~np.isnan(y)
            refit = permuted_refit(model, X[keep], y[keep], seed=child_seed(seed, 2 * index))
            readouts.append(Readout(rating.target, PERMUTED, quantity, LinkReadout(refit)))
        if random:
            fake = random_readout(model, seed=child_seed(seed, 2 * index + 1))
            readouts.append(Readout(rating.target, RANDOM, quantity, LinkReadout(fake)))
    for (target, name), rating in (demographics or {}).items():
        if name != EMBEDDING:
            continue
        model = rating.folds[fold]
        readouts.append(Readout(f"perceived {target}", DEMOGRAPHICS, "rating", LinkReadout(model)))
    return readouts


def cohort_readouts(
    name: str, folds: Mapping[int, LinearModel], *, dim: int, random: bool, seed: int
) -> list[Readout]:
    """A cohort's model (its first outer fold: none saw these faces) and a random readout.

    ``dim`` is the backend's embedding width; a model of another width is refused with an
    error naming the config key (Kosinski's LASSO reads 2048 VGGFace2 dimensions).
    """
    model = folds[min(folds)]
    if len(model.coef) != dim:
        raise InputError(
            f"lime.cohort_models.{name}: the model has {len(model.coef)} coefficients but the "
            f"backend embeds {dim} dimensions; expected a model of this backend's embeddings"
        )
    out = [Readout(name, MODEL, LinkReadout(model).quantity, LinkReadout(model))]
    if random:
        fake = LinkReadout(random_readout(model, seed=seed))
        out.append(Readout(name, RANDOM, fake.quantity, fake))
    return out


def training_rows(
    ids: Sequence[str],
    X: np.ndarray,  # noqa: N803
    ratings: pd.DataFrame,
    folds: Mapping[str, int],
    fold: int,
    *,
    binary: Sequence[str],
    continuous: Sequence[str],
) -> tuple[np.ndarray, pd.DataFrame]:
    """The embeddings and targets of the faces outside outer fold ``fold`` (its training rows).

    The binary targets are split at the median of all faces, as ``fit_omi_ratings`` split them.
    """
    targets, _ = rating_targets(ratings, ids, binary, continuous)
    mask = np.array([folds[i] != fold for i in ids])
    return np.asarray(X, dtype=np.float64)[mask], targets[mask].reset_index(drop=True)


def fold_readouts(
    models: Mapping[tuple[str, str], RatingModels],
    demographics: Mapping[tuple[str, str], RatingModels] | None,
    ids: Sequence[str],
    X: np.ndarray,  # noqa: N803
    ratings: pd.DataFrame,
    folds: Mapping[str, int],
    *,
    binary: Sequence[str],
    continuous: Sequence[str],
    permuted: bool,
    random: bool,
    seed: int,
) -> Callable[[str], list[Readout]]:
    """image id -> the readouts of the OMI rating models (its fold's model and the controls).

    ``ids`` and ``X`` are the embeddings the models were fitted on, ``folds`` the outer fold of
    each image id; the faces of one outer fold share its models and controls (refitted once).
    """

    @functools.cache
    def of_fold(fold: int) -> list[Readout]:
        train = training_rows(ids, X, ratings, folds, fold, binary=binary, continuous=continuous)
        return rating_readouts(
            fold, models, demographics, train, permuted=permuted, random=random, seed=seed
        )

    def readouts_of(image_id: str) -> list[Readout]:
        return of_fold(int(folds[image_id]))

    return readouts_of

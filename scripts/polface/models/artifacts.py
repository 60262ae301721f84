"""The fitted models that the workflow writes, and one public loader for each.

Six fitted-model artifacts, all in safe formats (npz read with ``allow_pickle=False``,
safetensors): the five below, and the Facial Finetuning network's heads
(``results/facial_finetuning/regressor/heads.safetensors``), written and read by
:func:`polface.models.trait_regressor.save_heads` and
:func:`~polface.models.trait_regressor.load_heads` (and loaded with the baselines'
file by :func:`load_trait_models`).

- ``results/{cohort}/lasso/{sample}/models.npz`` (:func:`save_lasso_folds`, rule ``fit_lasso``):
  per outer fold the LASSO chosen by the inner CV. Arrays ``outer_fold`` (K), ``lambda`` (K),
  ``step`` (K, 1-based path index), ``intercept`` (K), ``coef`` (K, p) on the original scale of
  the descriptors, and the CV curves ``cv_lambda``, ``cv_mean``, ``cv_sd`` (K, L; NaN-padded).
  The samples are 0/1, so the models are binomial: the score is the probability of 1.
- ``results/{cohort}/mlp/{sample}/weights.safetensors`` (:func:`save_mlp_folds`, rule
  ``fit_mlp``): the network of every outer fold, keys ``fold{k}.{parameter}`` with the parameter
  names of :func:`polface.models.mlp.build_mlp`; header metadata ``polface`` =
  ``{"model": "polface.mlp", "folds": K}``.
- ``results/images/{image_set}/ratings_{backend}_models.npz`` (:func:`save_rating_models`, rule
  ``fit_omi_ratings``) and ``readouts_{backend}_models.npz`` (the same format, rule
  ``fit_omi_readouts``: the perceived-demographics readouts of the LIME reports): the LASSO of every
  (target, model) of the OMI ratings, per outer fold and a final model on all rows. Entry ``meta``
  is a JSON string (format ``polface.rating_models``, the list of models with target, kind, model,
  family and the feature columns, plus what the caller adds); model ``i`` has arrays
  ``m{i}.outer_fold``, ``m{i}.lambda``, ``m{i}.intercept``, ``m{i}.coef``, ``m{i}.x_mean``,
  ``m{i}.x_sd`` (one row per outer fold) and the same names under ``m{i}.final.`` for the final
  model. ``x_mean`` and ``x_sd`` are the mean and population SD of the training columns (glmnet's
  standardisation: the coefficients on the standardised scale are ``coef * x_sd``); ``coef`` and
  ``intercept`` are on the original scale, so ``score = intercept + X @ coef`` (gaussian) or its
  logistic function (binomial).

- ``results/facial_finetuning/models/baselines.npz`` (:func:`save_trait_models`, rule
  ``fit_trait_baselines``): the Facial Finetuning study's baselines fitted on the training faces
  of the authors' split (ridge and LASSO per embedding backend, the perceived gender + age
  model). Entry ``meta`` is a JSON string (format ``polface.trait_models``; per model its
  ``name``, ``slug``, ``kind``, ``inputs``, ``backend``, the embeddings' ``weights_sha256``,
  ``standardised``, the traits and each trait's training mean and SD of the target, plus what
  the caller adds: settings, split counts); model ``i`` and trait ``t`` have arrays
  ``m{i}.{t}.intercept``, ``m{i}.{t}.coef``, ``m{i}.{t}.x_mean``, ``m{i}.{t}.x_sd`` (the
  training faces' column means and population SDs) and, for the demographic model, ``m{i}.knots``
  (the spline knots, (k, 2)). ``standardised`` (ridge): ``score = intercept + ((X - x_mean) /
  x_sd) @ coef``; otherwise (LASSO, on the original scale) ``score = intercept + X @ coef``.

The fold jobs write one outer fold's part of the first two (``.../{sample}/folds/{k}/model.npz``
by :func:`save_lasso_fold`, ``weights.safetensors`` by :func:`save_mlp_fold`); the gathering
rules read them back (:func:`load_lasso_fold`, :func:`load_mlp_fold`) and write the files above,
the same bytes as one job fitting every fold.

Loaders: :func:`load_lasso_folds`, :func:`load_mlp_folds`, :func:`load_rating_models` and
:func:`load_trait_models` (the baselines' npz or the network's heads). Each model has
``predict(X) -> scores`` and reproduces the out-of-fold predictions the workflow stored
(``tests/test_artifacts.py``: the LASSO to 1e-12, the MLP exactly on the CPU;
``tests/test_trait_scoring.py``: the trait models' test predictions to 1e-10).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from polface.io import atomic_output, safetensors_bytes

#: The provenance string of the MLP weights file.
MLP_MODEL = "polface.mlp"

#: The format string of the OMI rating models file.
RATING_MODELS = "polface.rating_models"

#: The format string of the Facial Finetuning trait models file.
TRAIT_MODELS = "polface.trait_models"

#: The slug of the Facial Finetuning network (its heads file) among the trait models.
NETWORK_SLUG = "network"


@dataclass(frozen=True)
class LinearModel:
    """A LASSO on the original scale: ``score = intercept + X @ coef`` (binomial: its logistic).

    Attributes:
        family: ``"binomial"`` or ``"gaussian"``.
        intercept: the intercept.
        coef: the coefficients, shape (p,).
        lambda_: the penalty chosen by the inner CV.
        x_mean, x_sd: mean and population SD of the training columns (None where not stored).
    """

    family: str
    intercept: float
    coef: np.ndarray
    lambda_: float
    x_mean: np.ndarray | None = None
    x_sd: np.ndarray | None = None

    def link(self, X: ArrayLike) -> np.ndarray:
        """The linear predictor of the rows of X (n, p), in float64 (as the fitted path)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.coef):
            raise ValueError(f"X must have shape (n, {len(self.coef)}), got {X.shape}")
        nz = np.flatnonzero(self.coef)
        return self.intercept + X[:, nz].astype(np.float64) @ self.coef[nz]

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Probability of class 1 (binomial) or the predicted value (gaussian)."""
        eta = self.link(X)
        if self.family == "binomial":
            return 1.0 / (1.0 + np.exp(-eta))
        return eta


@dataclass(frozen=True)
class MlpModel:
    """One outer fold's network of :mod:`polface.models.mlp` (CPU float32 weights)."""

    state: Mapping[str, Any]

    def predict(self, X: ArrayLike, *, device: str = "cpu") -> np.ndarray:
        """Probability of class 1 for the rows of X (evaluation mode)."""
        from polface.models.mlp import predict_mlp

        return predict_mlp(dict(self.state), X, device=device)


@dataclass(frozen=True)
class RatingModels:
    """The LASSO of one OMI target on one feature set: per outer fold, and on all rows.

    ``columns`` names the feature columns (the rating columns of the control model); it is None
    for the embedding, whose columns are the embedding's dimensions.
    """

    target: str
    kind: str
    model: str
    columns: tuple[str, ...] | None
    folds: dict[int, LinearModel] = field(repr=False)
    final: LinearModel = field(repr=False)


@dataclass(frozen=True)
class TraitModel:
    """One saved trait model of the Facial Finetuning study: a linear model per trait on either
    face embeddings of one backend or the perceived gender and age.

    Attributes:
        name: the evaluation table's name (``ridge · dlib``, ``perceived gender + age``).
        slug: its file name (``ridge_dlib``, ``demographics``).
        kind: ``ridge`` or ``lasso``.
        inputs: ``embedding`` or ``perceived gender and age``.
        backend: the embedding backend (None for the demographic model).
        weights_sha256: the SHA-256 of the backend's weights in the training embeddings' metadata.
        standardised: whether the columns are standardised by ``x_mean``/``x_sd`` before ``coef``.
        knots: the spline knots of the demographic model, (k, 2) (None otherwise).
        traits: {trait: LinearModel} (gaussian; ``x_mean``/``x_sd`` the training moments).
        y_moments: {trait: (mean, SD)} of the training faces' ratings.
        source: the file it was loaded from.
    """

    name: str
    slug: str
    kind: str
    inputs: str
    backend: str | None
    weights_sha256: str | None
    standardised: bool
    knots: np.ndarray | None = field(repr=False)
    traits: dict[str, LinearModel] = field(repr=False)
    y_moments: dict[str, tuple[float, float]] = field(repr=False)
    source: str = ""

    def features(self, X: ArrayLike) -> np.ndarray:
        """The model's columns of X: the embeddings as given, or the spline features of the
        (gender, age) rows."""
        if self.knots is None:
            return np.asarray(X)
        from polface.models.splines import demographic_basis

        return demographic_basis(np.asarray(X, dtype=np.float64), self.knots)

    def predict(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """{trait: predicted rating} for the rows of X (embeddings, or gender and age)."""
        Z = self.features(X)
        out = {}
        for trait, model in self.traits.items():
            if Z.ndim != 2 or Z.shape[1] != len(model.coef):
                raise ValueError(
                    f"{self.source}: model {self.slug} takes {len(model.coef)} columns, "
                    f"got shape {Z.shape}"
                )
            if self.standardised:
                out[trait] = model.predict(
                    (np.asarray(Z, dtype=np.float64) - model.x_mean) / model.x_sd
                )
            else:
                out[trait] = model.predict(Z)
        return out


@dataclass(frozen=True)
class NetworkTraitModel:
    """The Facial Finetuning network's saved heads (one per trait) and their metadata (the
    backbone's kind, seed and weights checksum, the preprocessing); the frozen backbone is
    rebuilt by :func:`polface.studies.trait_models.load_backbone`."""

    heads: dict[str, Any] = field(repr=False)
    meta: dict[str, Any]
    slug: str = NETWORK_SLUG
    source: str = ""


# ---- writers


def save_lasso_folds(infos: Sequence[Mapping[str, Any]], npz_path: str | Path) -> None:
    """The outer-fold LASSO models as one npz: coefficients on the original scale, CV curves."""
    width = max(len(info["cv_lambda"]) for info in infos)

    def padded(key: str) -> np.ndarray:
        out = np.full((len(infos), width), np.nan)
        for i, info in enumerate(infos):
            out[i, : len(info[key])] = info[key]
        return out

    arrays = {
        "outer_fold": np.array([i["outer_fold"] for i in infos]),
        "lambda": np.array([i["lambda"] for i in infos]),
        "step": np.array([i["step"] for i in infos]),
        "intercept": np.array([i["a0"] for i in infos]),
        "coef": np.stack([i["beta"] for i in infos]),
        "cv_lambda": padded("cv_lambda"),
        "cv_mean": padded("cv_mean"),
        "cv_sd": padded("cv_sd"),
    }
    with atomic_output(npz_path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def save_mlp_folds(infos: Sequence[Mapping[str, Any]], weights_path: str | Path) -> None:
    """All outer folds' MLP weights in one safetensors file (keys ``fold{k}.{parameter}``)."""
    tensors = {
        f"fold{info['outer_fold']}.{name}": tensor
        for info in infos
        for name, tensor in info["state"].items()
    }
    blob = safetensors_bytes(tensors, {"model": MLP_MODEL, "folds": len(infos)})
    with atomic_output(weights_path) as tmp:
        tmp.write_bytes(blob)


# ---- one outer fold of a model (the fold jobs' outputs, gathered into the files above)

#: The scalar facts of one outer fold's LASSO, kept in its fold file beside the arrays.
_LASSO_FOLD_SCALARS = (
    "outer_fold",
    "n_train",
    "lambda",
    "step",
    "n_lambdas_fitted",
    "n_nonzero",
    "stopped_early",
    "x_dtype",
    "a0",
)
_LASSO_FOLD_ARRAYS = ("beta", "cv_lambda", "cv_mean", "cv_sd")


def save_lasso_fold(info: Mapping[str, Any], npz_path: str | Path) -> None:
    """One outer fold's LASSO info (rule ``fit_lasso_fold``): the arrays and scalars that
    :func:`save_lasso_folds` and :func:`polface.models.fitters.lasso_summary` read, exactly."""
    arrays = {key: np.asarray(info[key]) for key in _LASSO_FOLD_SCALARS + _LASSO_FOLD_ARRAYS}
    with atomic_output(npz_path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_lasso_fold(path: str | Path) -> dict[str, Any]:
    """The info that :func:`save_lasso_fold` wrote (scalars as Python numbers, arrays float64)."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in _LASSO_FOLD_SCALARS + _LASSO_FOLD_ARRAYS if k not in npz]
        if missing:
            raise KeyError(f"{path}: not a fit_lasso_fold file, no array(s) {missing}")
        info: dict[str, Any] = {key: npz[key].item() for key in _LASSO_FOLD_SCALARS}
        info |= {key: npz[key] for key in _LASSO_FOLD_ARRAYS}
    return info


def _json_plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def save_mlp_fold(info: Mapping[str, Any], weights_path: str | Path) -> None:
    """One outer fold's network and training facts (rule ``fit_mlp_fold``), in safetensors."""
    facts = {key: info[key] for key in ("outer_fold", "n_train", "history", "best_epoch")}
    facts = json.loads(json.dumps(facts, default=_json_plain))
    blob = safetensors_bytes(info["state"], {"model": MLP_MODEL, "fold": facts})
    with atomic_output(weights_path) as tmp:
        tmp.write_bytes(blob)


def load_mlp_fold(path: str | Path) -> dict[str, Any]:
    """The info that :func:`save_mlp_fold` wrote: ``state`` (numpy arrays, so that the gather
    rule ``fit_mlp`` does not import torch) and the training facts."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        header = json.loads((handle.metadata() or {}).get("polface", "{}"))
        if header.get("model") != MLP_MODEL or "fold" not in header:
            raise ValueError(f"{path}: not a fit_mlp_fold weights file (metadata {header})")
        state = {key: handle.get_tensor(key) for key in handle.keys()}
    return {**header["fold"], "state": state}


def _linear_arrays(prefix: str, fits: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Stacked arrays of LASSO fit infos (``a0``, ``beta``, ``lambda``, ``x_mean``, ``x_sd``)."""
    return {
        f"{prefix}lambda": np.array([f["lambda"] for f in fits], dtype=np.float64),
        f"{prefix}intercept": np.array([f["a0"] for f in fits], dtype=np.float64),
        f"{prefix}coef": np.stack([np.asarray(f["beta"], dtype=np.float64) for f in fits]),
        f"{prefix}x_mean": np.stack([np.asarray(f["x_mean"], dtype=np.float64) for f in fits]),
        f"{prefix}x_sd": np.stack([np.asarray(f["x_sd"], dtype=np.float64) for f in fits]),
    }


def save_rating_models(
    models: Sequence[Mapping[str, Any]], npz_path: str | Path, *, metadata: Mapping[str, Any]
) -> None:
    """The OMI rating models as one npz (layout in the module docstring).

    Args:
        models: one mapping per (target, model) with ``target``, ``kind``, ``model``, ``family``,
            ``columns`` (None for the embedding), ``folds`` (the per-outer-fold infos of the
            nested CV, each with ``outer_fold``, ``a0``, ``beta``, ``lambda``, ``x_mean``,
            ``x_sd``) and ``final`` (the same for the model on all rows).
        npz_path: the output file.
        metadata: provenance merged into the ``meta`` JSON (settings, backend, checksums).
    """
    arrays: dict[str, np.ndarray] = {}
    index = []
    for i, entry in enumerate(models):
        folds = list(entry["folds"])
        arrays[f"m{i}.outer_fold"] = np.array([f["outer_fold"] for f in folds], dtype=np.int64)
        arrays |= _linear_arrays(f"m{i}.", folds)
        final = _linear_arrays(f"m{i}.final.", [entry["final"]])
        arrays |= {key: value[0] for key, value in final.items()}
        columns = entry["columns"]
        index.append(
            {
                "target": entry["target"],
                "kind": entry["kind"],
                "model": entry["model"],
                "family": entry["family"],
                "columns": None if columns is None else list(columns),
            }
        )
    meta = {**dict(metadata), "format": RATING_MODELS, "models": index}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_output(npz_path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def save_trait_models(
    models: Sequence[Mapping[str, Any]], npz_path: str | Path, *, metadata: Mapping[str, Any]
) -> None:
    """The Facial Finetuning baselines as one npz (layout in the module docstring).

    Args:
        models: one mapping per model as :func:`polface.studies.trait_baselines.fit_baselines`
            returns them (``name``, ``slug``, ``kind``, ``backend``, ``inputs``, ``knots``,
            ``traits``: {trait: ``intercept``, ``coef``, ``x_mean``, ``x_sd``,
            ``standardised``, ``y_mean``, ``y_sd``}), each with the embeddings'
            ``weights_sha256`` added.
        npz_path: the output file.
        metadata: provenance merged into the ``meta`` JSON (settings, split counts).
    """
    arrays: dict[str, np.ndarray] = {}
    index = []
    for i, entry in enumerate(models):
        traits = dict(entry["traits"])
        flags = {bool(p["standardised"]) for p in traits.values()}
        if len(flags) != 1:
            raise ValueError(f"model {entry['slug']}: its traits disagree on standardisation")
        for trait, params in traits.items():
            for key in ("intercept", "coef", "x_mean", "x_sd"):
                arrays[f"m{i}.{trait}.{key}"] = np.asarray(params[key], dtype=np.float64)
        if entry["knots"] is not None:
            arrays[f"m{i}.knots"] = np.asarray(entry["knots"], dtype=np.float64)
        index.append(
            {
                "name": entry["name"],
                "slug": entry["slug"],
                "kind": entry["kind"],
                "inputs": entry["inputs"],
                "backend": entry["backend"],
                "weights_sha256": entry.get("weights_sha256"),
                "standardised": flags.pop(),
                "traits": list(traits),
                "y_moments": {t: [p["y_mean"], p["y_sd"]] for t, p in traits.items()},
            }
        )
    meta = {**dict(metadata), "format": TRAIT_MODELS, "models": index}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_output(npz_path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


# ---- loaders


def load_lasso_folds(path: str | Path) -> dict[int, LinearModel]:
    """The LASSO of every outer fold in a ``models.npz`` of ``fit_lasso``: {outer_fold: model}."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in ("outer_fold", "lambda", "intercept", "coef") if k not in npz]
        if missing:
            raise KeyError(f"{path}: not a fit_lasso models file, no array(s) {missing}")
        return {
            int(k): LinearModel(
                family="binomial",
                intercept=float(npz["intercept"][i]),
                coef=npz["coef"][i],
                lambda_=float(npz["lambda"][i]),
            )
            for i, k in enumerate(npz["outer_fold"])
        }


def load_mlp_folds(path: str | Path) -> dict[int, MlpModel]:
    """The network of every outer fold in a ``weights.safetensors`` of ``fit_mlp``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = json.loads((handle.metadata() or {}).get("polface", "{}"))
        if header.get("model") != MLP_MODEL:
            raise ValueError(f"{path}: not a {MLP_MODEL} weights file (metadata {header})")
        states: dict[int, dict[str, Any]] = {}
        for key in handle.keys():
            fold, _, name = key.partition(".")
            if not fold.startswith("fold") or not fold[4:].isdigit() or not name:
                raise ValueError(f"{path}: tensor {key!r} is not named fold{{k}}.{{parameter}}")
            states.setdefault(int(fold[4:]), {})[name] = handle.get_tensor(key)
    if len(states) != header.get("folds"):
        raise ValueError(f"{path}: {len(states)} folds, the header says {header.get('folds')}")
    return {k: MlpModel(states[k]) for k in sorted(states)}


def _linear(npz: Any, prefix: str, row: int | None, family: str) -> LinearModel:
    def get(name: str) -> np.ndarray:
        value = npz[f"{prefix}{name}"]
        return value if row is None else value[row]

    return LinearModel(
        family=family,
        intercept=float(get("intercept")),
        coef=get("coef"),
        lambda_=float(get("lambda")),
        x_mean=get("x_mean"),
        x_sd=get("x_sd"),
    )


def load_rating_models(path: str | Path) -> dict[tuple[str, str], RatingModels]:
    """The OMI rating models of ``fit_omi_ratings``: {(target, model): RatingModels}."""
    with np.load(path, allow_pickle=False) as npz:
        if "meta" not in npz:
            raise KeyError(f"{path}: not a rating models file (no 'meta' entry)")
        meta = json.loads(str(npz["meta"]))
        if meta.get("format") != RATING_MODELS:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {RATING_MODELS!r}")
        out = {}
        for i, entry in enumerate(meta["models"]):
            family = entry["family"]
            folds = {
                int(k): _linear(npz, f"m{i}.", row, family)
                for row, k in enumerate(npz[f"m{i}.outer_fold"])
            }
            columns = entry["columns"]
            out[(entry["target"], entry["model"])] = RatingModels(
                target=entry["target"],
                kind=entry["kind"],
                model=entry["model"],
                columns=None if columns is None else tuple(columns),
                folds=folds,
                final=_linear(npz, f"m{i}.final.", None, family),
            )
    return out


def load_trait_models(path: str | Path) -> dict[str, TraitModel | NetworkTraitModel]:
    """Every trait model in a file of the Facial Finetuning study, by slug.

    ``baselines.npz`` of ``fit_trait_baselines`` gives one :class:`TraitModel` per baseline
    (``ridge_dlib``, ``lasso_dlib``, ``demographics``, ...); ``heads.safetensors`` of
    ``train_trait_regressors`` gives ``{"network": NetworkTraitModel}``. Anything else stops
    with an :class:`~polface.errors.InputError` naming the file.
    """
    from polface.errors import InputError

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError

        from polface.models.trait_regressor import load_heads

        try:
            heads, meta = load_heads(path)
        except (SafetensorError, ValueError, KeyError, OSError) as err:
            raise InputError(f"{path}: not the heads of a trait network ({err})") from err
        return {NETWORK_SLUG: NetworkTraitModel(heads=heads, meta=meta, source=str(path))}
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(f"{path}: not an npz file of trait models ({err})") from err
    with npz:
        if "meta" not in npz:
            raise InputError(f"{path}: not a trait models file (no 'meta' entry)")
        meta = json.loads(str(npz["meta"]))
        if meta.get("format") != TRAIT_MODELS:
            raise InputError(f"{path}: format {meta.get('format')!r}, expected {TRAIT_MODELS!r}")
        out: dict[str, TraitModel | NetworkTraitModel] = {}
        for i, entry in enumerate(meta["models"]):
            traits = {
                trait: LinearModel(
                    family="gaussian",
                    intercept=float(npz[f"m{i}.{trait}.intercept"]),
                    coef=npz[f"m{i}.{trait}.coef"],
                    lambda_=float("nan"),
                    x_mean=npz[f"m{i}.{trait}.x_mean"],
                    x_sd=npz[f"m{i}.{trait}.x_sd"],
                )
                for trait in entry["traits"]
            }
            out[entry["slug"]] = TraitModel(
                name=entry["name"],
                slug=entry["slug"],
                kind=entry["kind"],
                inputs=entry["inputs"],
                backend=entry["backend"],
                weights_sha256=entry["weights_sha256"],
                standardised=bool(entry["standardised"]),
                knots=npz[f"m{i}.knots"] if f"m{i}.knots" in npz else None,
                traits=traits,
                y_moments={t: (float(m), float(s)) for t, (m, s) in entry["y_moments"].items()},
                source=str(path),
            )
    return out

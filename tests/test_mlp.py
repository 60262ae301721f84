"""Tests of polface.models.mlp: learning, determinism, early stopping and safe save/load (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from polface.device import resolve_device
from polface.metrics import auc
from polface.models.artifacts import load_mlp_folds, save_mlp_folds
from polface.models.mlp import build_mlp, fit_mlp, predict_mlp, validation_split

#: Small settings; every one is passed (the schema holds the defaults, fit_mlp has none).
SMALL = {"hidden": 32, "dropout": 0.1, "batch_size": 32, "lr": 1e-3, "device": "cpu"}


def _planted(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features with a planted linear signal: P(y = 1) = sigmoid(X w), |w| = 3."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    w *= 3.0 / np.linalg.norm(w)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w)))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _planted(1000, 24, seed=0)


@pytest.fixture(scope="module")
def fitted(data: tuple[np.ndarray, np.ndarray]) -> tuple[dict, dict]:
    X, y = data
    return fit_mlp(X[:700], y[:700], seed=3, val_fraction=0.2, max_epochs=40, patience=4, **SMALL)


def test_learns_planted_signal(data: tuple[np.ndarray, np.ndarray], fitted) -> None:
    X, y = data
    state, history = fitted
    held_out = auc(y[700:], predict_mlp(state, X[700:], device="cpu"))
    assert held_out > 0.8
    assert state["0.weight"].shape == (32, 24)  # input dimension taken from X
    assert history["n_train"] + history["n_val"] == 700
    assert history["hyperparameters"]["n_features"] == 24


def test_early_stopping_restores_best_epoch(data, fitted) -> None:
    X, y = data
    state, history = fitted
    losses = history["val_loss"]
    best = history["best_epoch"]
    assert losses[best - 1] == min(losses)
    assert len(losses) == min(40, best + 4)  # stopped after `patience` epochs without improvement
    _, val = validation_split(y[:700], 0.2, seed=3)
    p = np.clip(predict_mlp(state, X[:700][val], device="cpu"), 1e-12, 1 - 1e-12)
    yv = y[:700][val]
    bce = -np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p))
    assert bce == pytest.approx(losses[best - 1], rel=1e-4)


def test_deterministic_given_seed(data) -> None:
    X, y = data
    args = {"val_fraction": 0.2, "max_epochs": 3, "patience": 2, **SMALL}
    rng_before = torch.get_rng_state()
    a, ha = fit_mlp(X[:300], y[:300], seed=11, **args)
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG left untouched
    assert not torch.are_deterministic_algorithms_enabled()
    b, hb = fit_mlp(X[:300], y[:300], seed=11, **args)
    c, _ = fit_mlp(X[:300], y[:300], seed=12, **args)
    pa, pb, pc = (predict_mlp(s, X[300:400], device="cpu") for s in (a, b, c))
    assert np.array_equal(pa, pb)
    assert ha["train_loss"] == hb["train_loss"]
    assert not np.allclose(pa, pc)


def test_validation_split() -> None:
    y = np.array([0] * 30 + [1] * 10)
    train, val = validation_split(y, 0.2, seed=1)
    assert len(val) == 8 and (y[val] == 1).sum() == 2
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(40))
    assert np.array_equal(val, validation_split(y, 0.2, seed=1)[1])
    assert not np.array_equal(val, validation_split(y, 0.2, seed=2)[1])
    assert len(validation_split(y, 0.0, seed=1)[1]) == 0


def test_save_load_roundtrip(tmp_path: Path, data, fitted) -> None:
    """The workflow's one format: every outer fold in one safetensors file, read back exactly."""
    from safetensors import safe_open

    X, _ = data
    state, history = fitted
    path = tmp_path / "weights.safetensors"
    copy = {k: v.clone() for k, v in state.items()}
    save_mlp_folds([{"outer_fold": 2, "state": state}, {"outer_fold": 5, "state": copy}], path)
    with safe_open(str(path), framework="pt") as handle:
        assert sorted(handle.keys()) == sorted(f"fold{k}.{n}" for k in (2, 5) for n in state)
        assert handle.metadata() == {"polface": '{"folds": 2, "model": "polface.mlp"}'}
    loaded = load_mlp_folds(path)
    assert list(loaded) == [2, 5]
    assert all(torch.equal(loaded[5].state[k], state[k]) for k in state)
    assert np.array_equal(loaded[2].predict(X[:50]), predict_mlp(state, X[:50], device="cpu"))


def test_input_checks(data) -> None:
    X, y = data
    bad = X[:50].copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        fit_mlp(bad, y[:50], seed=0, val_fraction=0.1, max_epochs=1, patience=1, **SMALL)
    with pytest.raises(ValueError, match="position 1"):
        fit_mlp(X[:3], [0, 2, 1], seed=0, val_fraction=0.1, max_epochs=1, patience=1, **SMALL)
    state = {k: v for k, v in build_mlp(5, 4).state_dict().items()}
    with pytest.raises(ValueError, match="expects 5"):
        predict_mlp(state, X[:2], device="cpu")


def test_default_architecture() -> None:
    model = build_mlp(2048)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "0.weight": (2048, 2048),
        "0.bias": (2048,),
        "3.weight": (1, 2048),
        "3.bias": (1,),
    }
    assert isinstance(model[1], torch.nn.ReLU) and model[2].p == 0.1


def test_without_validation_keeps_last_epoch(data) -> None:
    X, y = data
    state, history = fit_mlp(
        X[:200], y[:200], seed=1, val_fraction=0.0, max_epochs=3, patience=3, **SMALL
    )
    assert history["n_val"] == 0 and history["epoch"] == [1, 2, 3]
    assert history["best_epoch"] == 3
    assert all(np.isnan(v) for v in history["val_loss"])
    assert predict_mlp(state, X[:5], device="cpu").shape == (5,)


def test_cuda_request_without_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here; the error path needs a machine without it")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")

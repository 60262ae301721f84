"""Tests of polface.models.optim (EagerAdam is torch's fused Adam to the bit) and of an MLP fit's
start: neither imports torch._dynamo."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import REPO
from polface.models.mlp import _seeded
from polface.models.optim import EagerAdam


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("eps", [1e-8, 1e-7])
def test_the_same_bits_as_torch_adam_with_an_lr_change(eps: float, device: str) -> None:
    """50 steps of the same batches (one with a parameter left without a gradient), the lr cut
    tenfold after 25 as the trait regressor cuts it: the same parameters and state as
    ``torch.optim.Adam(fused=True)``, bit for bit, and not those of torch's default kernel (the
    for-loop on the CPU, the multi-tensor kernel on CUDA), so that the test sees which kernel
    ran."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    theirs, ours, unfused = (_net(0).to(device) for _ in range(3))
    reference = torch.optim.Adam(theirs.parameters(), lr=3e-3, eps=eps, fused=True)
    default = torch.optim.Adam(unfused.parameters(), lr=3e-3, eps=eps)
    optimiser = EagerAdam(ours.parameters(), lr=3e-3, eps=eps)
    gen = torch.Generator().manual_seed(1)
    for step in range(50):
        x = torch.randn(32, 7, generator=gen).to(device)
        y = torch.randn(32, 1, generator=gen).to(device)
        if step == 25:
            for group in (*reference.param_groups, *default.param_groups):
                group["lr"] = 3e-4
            optimiser.lr = 3e-4
        for net, opt in ((theirs, reference), (ours, optimiser), (unfused, default)):
            torch.manual_seed(100 + step)  # the same dropout masks
            if isinstance(opt, EagerAdam):
                opt.zero_grad()
            else:
                opt.zero_grad(set_to_none=True)
            nn.functional.mse_loss(net(x), y).backward()
            if step == 3:
                net[3].bias.grad = None  # skipped this step, as Adam skips it
            opt.step()
    for (name, a), b in zip(theirs.named_parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b), name
        ref, got = reference.state[a], optimiser.state[b]
        assert set(got) == set(ref), name
        for key in ref:
            assert got[key].dtype == ref[key].dtype, (name, key)
            assert got[key].device == ref[key].device, (name, key)
            assert torch.equal(got[key], ref[key]), (name, key)
    assert float(optimiser.state[next(ours.parameters())]["step"]) == 50
    assert not all(
        torch.equal(a, b) for a, b in zip(ours.parameters(), unfused.parameters(), strict=True)
    )


def test_bad_settings_are_refused() -> None:
    weight = nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="given twice"):
        EagerAdam([weight, weight], lr=1e-3)
    with pytest.raises(ValueError, match=r"lr >= 0.*got lr=-1"):
        EagerAdam([weight], lr=-1)
    with pytest.raises(ValueError, match=r"betas in \[0, 1\).*betas=\(0.9, 1.0\)"):
        EagerAdam([weight], lr=1e-3, betas=(0.9, 1.0))


def test_an_mlp_fit_does_not_import_torch_dynamo() -> None:
    """Constructing torch.optim.Adam, and torch.use_deterministic_algorithms, import
    torch._dynamo (about 1 CPU-s in every MLP fold job): the fit the fold job runs, and its
    prediction, must not; the fit still runs with deterministic algorithms, and restores the
    flag after."""
    code = """
import sys
import numpy as np
import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from polface.models.mlp import fit_mlp, predict_mlp
flags = []
hook = register_module_forward_pre_hook(
    lambda module, args: flags.append(torch.are_deterministic_algorithms_enabled())
)
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 6)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
state, history = fit_mlp(X, y, seed=1, val_fraction=0.2, max_epochs=2, patience=2,
                         batch_size=16, lr=1e-3, hidden=8, dropout=0.1, device="cpu")
hook.remove()
assert len(history["epoch"]) == 2, history
assert flags and all(flags) and not torch.are_deterministic_algorithms_enabled(), flags
predict_mlp(state, X, device="cpu")
print("torch._dynamo" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_fit_sets_inductors_flag_too_where_inductor_is_loaded() -> None:
    """Where compiled code has loaded torch._inductor, the fit sets its deterministic flag as
    torch.use_deterministic_algorithms does, and restores both."""
    import torch._inductor.config as inductor_config

    before = (torch.are_deterministic_algorithms_enabled(), inductor_config.deterministic)
    assert before == (False, False)
    with _seeded(0, torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert inductor_config.deterministic
    assert (torch.are_deterministic_algorithms_enabled(), inductor_config.deterministic) == before


def test_a_parameter_without_a_fused_kernel_is_refused_at_its_first_step() -> None:
    weight = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    counts = nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False)
    optimiser = EagerAdam([weight, counts], lr=1e-3)
    weight.grad = torch.ones(2, dtype=torch.float64)
    counts.grad = torch.ones(2, dtype=torch.int64)
    with pytest.raises(RuntimeError, match=r"expected floating-point parameters.*got torch.int64"):
        optimiser.step()

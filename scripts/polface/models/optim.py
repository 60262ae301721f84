"""Adam for the library's networks, without the import cost of :class:`torch.optim.Adam`.

Constructing ``torch.optim.Adam`` imports ``torch._dynamo`` (``Optimizer.__init__`` is wrapped
by ``torch._disable_dynamo``): 818 more modules, sympy and mpmath among them, about 1 CPU-s
(0.95 measured with torch 2.13 on CPU) before the first step, in every fold job that fits an MLP
and in every trait regressor. The update itself is torch's functional ``torch.optim.adam.adam``,
which ``Adam.step`` calls and which imports nothing more in eager mode. :class:`EagerAdam` keeps
the state that ``Adam(fused=True)`` keeps and calls that function with the arguments its
``step`` passes, so the parameters it produces are the same bits (``tests/test_optim.py``), on
the CPU and on CUDA.

Fused: one kernel reads each parameter, its gradient and its two moment averages once and
writes them once. torch's default on the CPU, a for-loop of separate element-wise operations
over each whole tensor, made about eight passes over the 16.8 MB of each of the MLP's 2,048 ×
2,048 weights per batch, and took half of an MLP epoch's CPU time on one thread (0.34 of 0.61
ms per row; fused 0.04 of 0.30: ``benchmarks/mlp_epoch.py``, ``benchmarks/README.md``). The
fused kernel is element-wise, so its bits do not depend on the number of threads
(``tests/test_mlp_threads.py``); they differ from the for-loop's in the last bits of some
updates (the same formula, other roundings).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.adam import adam
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices


class EagerAdam:
    """torch's Adam (no weight decay, no AMSGrad) for eager training, with a settable ``lr``.

    Args:
        params: the parameters to update (each once).
        lr: learning rate; assign ``optimiser.lr`` to change it between steps.
        betas: the decay rates of the first and second moment averages.
        eps: added to the denominator, as in ``torch.optim.Adam``.

    ``state[p]`` holds ``exp_avg``, ``exp_avg_sq`` and ``step`` for each parameter ``p`` that
    has had a gradient, created at its first step as ``torch.optim.Adam(fused=True)`` creates
    them (``step`` a float32 scalar on the parameter's device).

    Raises:
        RuntimeError: at the first step, for a parameter that is not floating point or not on a
            device with torch's fused Adam (the CPU, CUDA, ...), as ``Adam(fused=True)`` does.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError("EagerAdam: a parameter is given twice")
        if not lr >= 0 or not eps >= 0 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(
                f"EagerAdam: expected lr >= 0, eps >= 0 and betas in [0, 1), "
                f"got lr={lr}, eps={eps}, betas={betas}"
            )
        self.lr = lr
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = eps
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Drop every gradient (``torch.optim.Adam.zero_grad(set_to_none=True)``)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in self.params:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("EagerAdam: sparse gradients are not supported")
            state = self.state.get(p)
            if state is None:
                devices = _get_fused_kernels_supported_devices()  # Adam(fused=True)'s own check
                if not torch.is_floating_point(p) or p.device.type not in devices:
                    raise RuntimeError(
                        f"EagerAdam: expected floating-point parameters on one of {devices} "
                        f"(torch's fused Adam), got {p.dtype} on {p.device.type}"
                    )
                state = self.state[p] = {
                    # the step counter of Adam(fused=True): a float32 scalar beside its parameter
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        adam(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            foreach=None,
            capturable=False,
            differentiable=False,
            fused=True,
            grad_scale=None,
            found_inf=None,
            has_complex=False,
            decoupled_weight_decay=False,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=self.lr,
            weight_decay=0,
            eps=self.eps,
            maximize=False,
        )

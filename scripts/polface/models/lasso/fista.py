"""The lasso path and its cross-validation as one batched proximal-gradient problem in torch.

Same objective, lambda sequences, cv.glmnet scoring and :class:`~polface.models.lasso.EarlyStop` as
:mod:`~polface.models.lasso` (this reuses its driver), but every lambda is solved for all problems
at once (the full data and every fold, padded to a multiple of 16 right-hand columns) by
accelerated proximal gradient (FISTA, Beck & Teboulle 2009) with adaptive restart (O'Donoghue &
Candes 2015) over one shared standardised X: each iteration is two matrix products, ``X @ B`` and
``X' R``, which suits a GPU. Iterations run in ``dtype`` (float32 by default) until the
prox-gradient residual is below ``tol * lambda`` (or what float32 products resolve, 64 ulps of
the gradient's scale), then, with ``polish``, continue in float64 to ``tol * lambda`` so that the
solutions agree with glmnet's coordinate descent.

The step size is 1/L with L an upper bound of the curvature of each problem (power iteration
on its weighted Gram matrix, times 1/4 for the logistic loss), so every iteration decreases a
majorant of the objective. The solver does not reproduce glmnet's iterates (only its solutions,
to the tolerance), so use :func:`polface.models.lasso.cv_lasso` where bit-level agreement with R
matters.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import torch

from polface.models.lasso.driver import cross_validate, fit_path
from polface.models.lasso.kernels import STATUS_MAXIT, STATUS_OK, gradients
from polface.models.lasso.options import CVOptions, EarlyStop, Family, GlmnetControl, PathOptions
from polface.models.lasso.problem import Problems, Settings
from polface.models.lasso.results import CVResult, LassoPath

__all__ = ["cv_lasso_torch", "lasso_path_torch"]


class _FistaSolver:
    """Batched FISTA with the interface of :class:`polface.models.lasso.driver.CDSolver`."""

    def __init__(
        self,
        pr: Problems,
        st: Settings,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        polish: bool = True,
        tol: float = 1e-4,
        max_iter: int = 100_000,
    ) -> None:
        K, n = pr.Y.shape
        p = pr.X.shape[1]
        self.pr, self.st = pr, st
        self.gaussian = st.family == "gaussian"
        self.dtype, self.polish, self.tol, self.max_iter = dtype, polish, tol, max_iter
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.K = K
        B = max(16, 16 * math.ceil(K / 16))
        self.B = B
        dev = self.device
        # the null model, its gradients in float64 (the lambda sequences), as the exact solver
        if self.gaussian:
            self.B0 = np.zeros(K)
            R = pr.W * pr.Y
        else:
            q0 = (pr.W * pr.Y).sum(axis=1)
            self.B0 = np.log(q0 / (1 - q0))
            R = pr.W * (pr.Y - q0[:, None])
        self.GA = np.zeros((K, p))
        gradients(pr.X, R, pr.C, pr.S, pr.JU, self.GA)
        self.BETA = np.zeros((K, p))
        self.ETA = np.repeat(self.B0[:, None], n, axis=1)
        self.OUT = np.zeros((K, 5))

        def pad(a: np.ndarray, fill: float) -> torch.Tensor:
            out = np.full((B,) + a.shape[1:], fill, dtype=np.float64)
            out[:K] = a
            return torch.from_numpy(out.T.copy()).to(dev)

        # problem-major numpy arrays become (rows or columns) x B tensors
        self.W = pad(pr.W, 0.0)  # n x B
        self.Y = pad(pr.Y, 0.0)
        self.C = pad(pr.C, 0.0)  # p x B
        self.S = pad(pr.S, 1.0)
        self.JU = pad(pr.JU.astype(np.float64), 0.0)
        self.X64 = (
            torch.from_numpy(np.asarray(pr.X, dtype=np.float64)).to(dev)
            if (polish or dtype == torch.float64)
            else None
        )
        self.Xlow = torch.from_numpy(pr.X).to(dev, dtype)
        self.beta = torch.zeros((p, B), dtype=torch.float64, device=dev)
        self.b0 = torch.zeros(B, dtype=torch.float64, device=dev)
        self.b0[:K] = torch.from_numpy(self.B0).to(dev)
        self.L = self._curvature()

    # the affine maps of each problem's standardised design --------------------------------

    def _link(self, X: torch.Tensor, beta: torch.Tensor, b0: torch.Tensor) -> torch.Tensor:
        """eta (n x B) = b0 + sum_j beta_j (X_j - C_j) / S_j, per problem."""
        scaled = beta / self.S
        eta = X @ scaled.to(X.dtype)
        return eta.to(torch.float64) + (b0 - (self.C * scaled).sum(dim=0))

    def _grad(self, X: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient (p x B) and intercept gradient (B) of sum_i r_i x_ij on each problem's scale."""
        g = (X.T @ r.to(X.dtype)).to(torch.float64)
        rs = r.sum(dim=0)
        return (g - self.C * rs) / self.S, rs

    def _curvature(self, iters: int = 50) -> torch.Tensor:
        """An upper bound of each problem's Lipschitz constant (power iteration, with margin)."""
        X = self.X64 if self.X64 is not None else self.Xlow
        p = X.shape[1]
        gen = torch.Generator(device="cpu").manual_seed(0)
        v = torch.randn((p, self.B), generator=gen, dtype=torch.float64).to(self.device)
        v0 = torch.ones(self.B, dtype=torch.float64, device=self.device)
        est = torch.ones(self.B, dtype=torch.float64, device=self.device)
        for _ in range(iters):
            norm = torch.sqrt((v * v).sum(dim=0) + v0 * v0).clamp_min(1e-300)
            v, v0 = v / norm, v0 / norm
            u = self.W * self._link(X, v * self.JU, v0)
            v, v0 = self._grad(X, u)
            v = v * self.JU
            est = torch.sqrt((v * v).sum(dim=0) + v0 * v0)
        scale = 1.0 if self.gaussian else 0.25
        return (est * scale * 1.05).clamp_min(1e-12)

    def _residual(self, eta: torch.Tensor) -> torch.Tensor:
        mu = eta if self.gaussian else torch.sigmoid(eta)
        return self.W * (mu - self.Y)

    def _solve(
        self,
        X: torch.Tensor,
        lam: torch.Tensor,
        run: torch.Tensor,
        limit: torch.Tensor,
        max_iter: int,
    ) -> tuple[int, torch.Tensor]:
        """FISTA with gradient-based restart until the prox-gradient residual is <= limit."""
        L = self.L
        beta, b0 = self.beta.clone(), self.b0.clone()
        zb, z0 = beta.clone(), b0.clone()
        t = torch.ones(self.B, dtype=torch.float64, device=self.device)
        done = ~run
        it = 0
        while it < max_iter:
            it += 1
            g, g0 = self._grad(X, self._residual(self._link(X, zb, z0)))
            u = zb - g / L
            bn = torch.sign(u) * torch.clamp(u.abs() - lam / L, min=0.0) * self.JU
            b0n = z0 - g0 / L
            gmap = torch.maximum(((zb - bn) * L).abs().amax(dim=0), g0.abs())
            conv = gmap <= limit
            restart = ((zb - bn) * (bn - beta)).sum(dim=0) + (z0 - b0n) * (b0n - b0) > 0
            t = torch.where(restart, torch.ones_like(t), t)
            tn = (1.0 + torch.sqrt(1.0 + 4.0 * t * t)) / 2.0
            mom = (t - 1.0) / tn
            keep = done
            beta_new = torch.where(keep, beta, bn)
            b0_new = torch.where(keep, b0, b0n)
            zb = torch.where(keep, beta, bn + mom * (bn - beta))
            z0 = torch.where(keep, b0, b0n + mom * (b0n - b0))
            beta, b0, t = beta_new, b0_new, tn
            done = done | conv
            if bool(done.all()):
                break
        self.beta, self.b0 = beta, b0
        return it, done

    def step(self, lam: np.ndarray, prev: np.ndarray, running: np.ndarray) -> None:
        """Solve every running problem at its standardised lambda (warm starts)."""
        K, B, dev = self.K, self.B, self.device
        lam_t = torch.zeros(B, dtype=torch.float64, device=dev)
        # glmnet's "infinite" first lambda: use the smallest lambda with every coefficient zero
        lam_eff = np.where(lam >= self.st.ctl.big, self.GA.max(axis=1) * (1 + 1e-12) + 1e-300, lam)
        lam_t[:K] = torch.from_numpy(lam_eff).to(dev)
        run = torch.zeros(B, dtype=torch.bool, device=dev)
        run[:K] = torch.from_numpy(np.asarray(running, dtype=bool)).to(dev)
        limit = self.tol * lam_t
        if self.Xlow.dtype != torch.float64:
            # what float32 products can resolve: a few of its ulps of the gradient's scale
            floor = torch.zeros_like(limit)
            floor[:K] = torch.from_numpy(64 * 1.2e-7 * self.GA.max(axis=1)).to(dev)
            limit_low = torch.maximum(limit, floor)
        else:
            limit_low = limit
        iters, done = self._solve(self.Xlow, lam_t, run, limit_low, self.max_iter)
        if self.X64 is not None and self.Xlow.dtype != torch.float64:
            more, done = self._solve(self.X64, lam_t, run, limit, self.max_iter)
            iters += more
        X = self.X64 if self.X64 is not None else self.Xlow
        eta = self._link(X, self.beta, self.b0)
        if self.gaussian:
            res = self.Y - eta
            train = (self.W * res * res).sum(dim=0)
        else:
            pmin = self.st.ctl.pmin
            q = torch.sigmoid(eta.clamp(-self.st.ctl.exmx, self.st.ctl.exmx))
            q = q.clamp(pmin, 1.0 - pmin)
            train = -(self.W * (self.Y * torch.log(q) + (1 - self.Y) * torch.log(1 - q))).sum(0)
        beta = self.beta[:, :K].T.cpu().numpy()
        for k in np.flatnonzero(running):
            self.BETA[k] = beta[k]
            self.B0[k] = float(self.b0[k])
            self.ETA[k] = eta[:, k].cpu().numpy()
            self.OUT[k] = [
                STATUS_OK if bool(done[k]) else STATUS_MAXIT,
                float(train[k]),
                iters,
                int((beta[k] != 0).sum()),
                0.0,
            ]


def _x_dtype(dtype: torch.dtype, polish: bool) -> type:
    """The storage type of the standardised copy of X: float32 only for unpolished float32."""
    return np.float32 if dtype == torch.float32 and not polish else np.float64


def _solver(
    device: str | torch.device | None,
    dtype: torch.dtype,
    polish: bool,
    tol: float,
    max_iter: int,
) -> functools.partial:
    return functools.partial(
        _FistaSolver, device=device, dtype=dtype, polish=polish, tol=tol, max_iter=max_iter
    )


def lasso_path_torch(
    X: np.ndarray,
    y: np.ndarray,
    family: Family = "binomial",
    *,
    nlambda: int = 100,
    lambda_min_ratio: float | None = None,
    lambdas: np.ndarray | None = None,
    dfmax: int | None = None,
    pmax: int | None = None,
    control: GlmnetControl | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    polish: bool = True,
    tol: float = 1e-4,
    max_iter: int = 100_000,
) -> LassoPath:
    """:func:`polface.models.lasso.lasso_path` solved by batched FISTA in torch.

    Args:
        X, y, family, nlambda, lambda_min_ratio, lambdas, dfmax, pmax, control: as in
            :func:`polface.models.lasso.lasso_path`.
        device: torch device ("cpu", "cuda", ...).
        dtype: precision of the matrix products before polishing.
        polish: finish every lambda in float64 (keeps a float64 copy of X on the device).
        tol: stop when the prox-gradient residual is below ``tol * lambda``.
        max_iter: iterations per lambda (and per precision); beyond it the path ends ("maxit").
    """
    solver = _solver(device, dtype, polish, tol, max_iter)
    path = PathOptions.from_keywords(locals())
    return fit_path(X, y, family, path, dtype=_x_dtype(dtype, polish), solver=solver)


def cv_lasso_torch(
    X: np.ndarray,
    y: np.ndarray,
    foldid: np.ndarray,
    family: Family = "binomial",
    *,
    nlambda: int = 100,
    lambda_min_ratio: float | None = None,
    lambdas: np.ndarray | None = None,
    dfmax: int | None = None,
    pmax: int | None = None,
    fold_lambdas: Literal["own", "shared"] = "own",
    early_stop: EarlyStop | None = None,
    control: GlmnetControl | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    polish: bool = True,
    tol: float = 1e-4,
    max_iter: int = 100_000,
) -> CVResult:
    """:func:`polface.models.lasso.cv_lasso` with all problems solved as one batched FISTA in torch.

    Args:
        X, y, foldid, family, nlambda, lambda_min_ratio, lambdas, dfmax, pmax, fold_lambdas,
            early_stop, control: as in :func:`polface.models.lasso.cv_lasso`.
        device, dtype, polish, tol, max_iter: as in :func:`lasso_path_torch`.
    """
    solver = _solver(device, dtype, polish, tol, max_iter)
    path = PathOptions.from_keywords(locals())
    cv = CVOptions(fold_lambdas=fold_lambdas, early_stop=early_stop, n_threads=None)
    return cross_validate(
        X, y, foldid, family, path, cv, dtype=_x_dtype(dtype, polish), solver=solver
    )

"""Lemma 3.1: the mixup loss as the standard loss plus three data-dependent regularizers.

For a loss ``l = h(f(x)) - y f(x)`` and ``lam ~ Beta(alpha, beta)`` (paper, Lemma 3.1):

    L_mix = L_std + R1 + R2 + R3 + E_{lam ~ D~_lam}[(1 - lam)^2 phi(1 - lam)],

    R1 = E[1 - lam] / n       * sum_i (h'(f_i) - y_i) grad f_i^T E_r[r - x_i]
    R2 = E[(1 - lam)^2] / 2n  * sum_i h''(f_i) grad f_i^T E_r[(r - x_i)(r - x_i)^T] grad f_i
    R3 = E[(1 - lam)^2] / 2n  * sum_i (h'(f_i) - y_i) E_r[(r - x_i)^T Hess f_i (r - x_i)]

with moments under the tilted distribution D~_lam and the partner ``r`` drawn from the training
inputs. The expectations over ``r`` are exact: with mean ``xbar`` and covariance ``Sigma``
(both with 1/n), ``E[r - x_i] = xbar - x_i``, ``E[(r - x_i)(r - x_i)^T] = Sigma + (xbar - x_i)(xbar - x_i)^T``
and ``E[(r - x_i)^T H (r - x_i)] = tr(H Sigma) + (xbar - x_i)^T H (xbar - x_i)``.

Input gradients come from ``torch.func.grad`` under ``vmap``; curvature only enters through
Hessian-vector products (forward-over-reverse ``jvp(grad(f))``), so no d x d Hessian is formed.

The exact mixup loss (Eq. (1)) is computed over all n^2 pairs with Gauss-Jacobi quadrature in lam,
which takes the Beta density as its weight.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call, grad, jvp, vmap

from .losses import get_loss
from .models import eval_mode
from .mixing import beta_quadrature, check_beta_params, lambda_moments, tilted_quadrature

__all__ = [
    "Estimate",
    "scalar_model",
    "taylor_terms",
    "taylor_approx",
    "mixup_loss_exact",
    "mixup_loss_tilted",
    "mixup_loss_mc",
    "standard_loss",
]

TERMS = ("standard", "R1", "R2", "R3")

# torch.func's first jvp triggers a torch-internal deprecation warning about torch.jit.script that
# says nothing about this code; it would otherwise land (with a local path) in every notebook.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script", category=FutureWarning)


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error."""

    value: float
    stderr: float


def _check_data(X: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D tensor of shape (n, d), got {getattr(X, 'shape', type(X))}")
    if not isinstance(y, torch.Tensor) or y.shape != (X.shape[0],):
        raise ValueError(f"y must be a tensor of shape ({X.shape[0]},), got {getattr(y, 'shape', type(y))}")
    if X.shape[0] < 1:
        raise ValueError("X must hold at least one example")


def scalar_model(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x (d,) -> f(x)`` as a pure function of the input, parameters frozen (detached)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def f(x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (params, buffers), (x.unsqueeze(0),))
        if out.numel() != 1:
            raise ValueError(f"the model must map one input to one logit, got output shape {tuple(out.shape)}")
        return out.reshape(())

    return f


def _logits(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(X)
    if out.shape not in ((X.shape[0],), (X.shape[0], 1)):
        raise ValueError(f"the model must map (n, d) inputs to n logits of shape (n,) or (n, 1), got {tuple(out.shape)}")
    return out.reshape(-1)


def standard_loss(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str = "logistic") -> float:
    """``L_std = (1/n) sum_i l(f(x_i), y_i)``."""
    _check_data(X, y)
    with eval_mode(model):
        return float(get_loss(loss)(_logits(model, X), y).mean())


def _check_trace(trace: str, n_probes: int, generator: torch.Generator | None) -> None:
    if trace not in ("exact", "hutchinson"):
        raise ValueError(f"trace must be 'exact' or 'hutchinson', got {trace!r}")
    if trace == "hutchinson":
        if not isinstance(generator, torch.Generator):
            raise ValueError("trace='hutchinson' needs an explicit torch.Generator for its probes")
        if isinstance(n_probes, bool) or not isinstance(n_probes, int) or n_probes < 2:
            raise ValueError(f"n_probes must be an integer >= 2 (for a standard error), got {n_probes!r}")


def taylor_terms(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    beta: float,
    loss: str = "logistic",
    *,
    trace: str = "exact",
    n_probes: int = 64,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """``L_std``, ``R1``, ``R2`` and ``R3`` of Lemma 3.1 for ``model`` on the dataset ``(X, y)``.

    Args:
        model: maps an (n, d) tensor to n logits, shape (n,) or (n, 1). Evaluated in eval mode.
        X: inputs, shape (n, d). The partner distribution D_X is the empirical distribution of X.
        y: labels, shape (n,) (in {0, 1} for the logistic loss).
        alpha, beta: parameters of ``lam ~ Beta(alpha, beta)``; alpha = 0 (ERM) makes R1 = R2 = R3 = 0.
        loss: ``"logistic"``, ``"squared"`` or ``"poisson"``.
        trace: ``"exact"`` computes ``tr(Hess f_i Sigma)`` from the eigenvectors of Sigma (rank-many
            Hessian-vector products per example); ``"hutchinson"`` uses ``n_probes`` random
            directions ``Sigma^{1/2}``-distributed (Rademacher combinations of centred inputs), an
            unbiased estimator, and adds ``"R3_stderr"`` to the result.
        generator: torch generator for the Hutchinson probes (required for that mode).
        chunk_size: passed to ``vmap`` to bound memory for large n.

    Returns:
        dict with float values under ``"standard"``, ``"R1"``, ``"R2"``, ``"R3"`` (and
        ``"R3_stderr"`` in Hutchinson mode). Float64 model and data give a float64 computation.
    """
    _check_data(X, y)
    _check_trace(trace, n_probes, generator)
    lossfn = get_loss(loss)
    m1, m2 = lambda_moments(alpha, beta)
    n = X.shape[0]
    with eval_mode(model):
        f = _logits(model, X)
        fx = scalar_model(model)
        grad_f = grad(fx)
        G = vmap(grad_f, chunk_size=chunk_size)(X)  # (n, d) input gradients

        def quad(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            """v^T Hess f(x) v from one forward-over-reverse Hessian-vector product."""
            return torch.dot(v, jvp(grad_f, (x,), (v,))[1])

        xbar = X.mean(dim=0)
        D = xbar - X  # E_r[r - x_i], shape (n, d)
        Xc = X - xbar
        Sigma = Xc.T @ Xc / n
        y_ = y.to(f.dtype)
        resid = lossfn.h1(f) - y_
        curv = lossfn.h2(f)
        gd = (G * D).sum(dim=1)

        out = {"standard": float(lossfn(f, y_).mean())}
        out["R1"] = float(m1 * (resid * gd).mean())
        gSg = torch.einsum("nd,de,ne->n", G, Sigma, G)
        out["R2"] = float(m2 / 2 * (curv * (gSg + gd**2)).mean())

        q_mean = vmap(quad, chunk_size=chunk_size)(X, D)  # (xbar - x_i)^T H_i (xbar - x_i)
        per_probe = vmap(vmap(quad, in_dims=(None, 0)), in_dims=(0, None), chunk_size=chunk_size)
        if trace == "exact":
            evals, evecs = torch.linalg.eigh(Sigma)
            keep = evals > evals.max().clamp(min=0) * X.shape[1] * torch.finfo(X.dtype).eps
            V = (evecs[:, keep] * evals[keep].sqrt()).T  # Sigma = V^T V
            tr = per_probe(X, V).sum(dim=1) if V.shape[0] else torch.zeros_like(f)
            out["R3"] = float(m2 / 2 * (resid * (tr + q_mean)).mean())
        else:
            z = (torch.randint(0, 2, (n_probes, n), generator=generator) * 2 - 1).to(X.device, X.dtype)
            V = z @ Xc / n**0.5  # E[v v^T] = Sigma for Rademacher z
            quads = per_probe(X, V)  # (n, n_probes)
            r3_k = m2 / 2 * (resid[:, None] * (quads + q_mean[:, None])).mean(dim=0)
            out["R3"] = float(r3_k.mean())
            out["R3_stderr"] = float(r3_k.std(unbiased=True) / n_probes**0.5)
    return out


def taylor_approx(terms: dict[str, float]) -> float:
    """The quadratic approximation ``L~_mix = L_std + R1 + R2 + R3`` (the paper's Eq. (3))."""
    return float(sum(terms[k] for k in TERMS))


def _pairs_loss(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    nodes: np.ndarray,
    weights: np.ndarray,
    mixed_labels: bool,
    max_points: int,
) -> float:
    """``(1/n^2) sum_{i,j} sum_q w_q l(f(lam_q x_i + (1 - lam_q) x_j), label)``, chunked over i."""
    lossfn = get_loss(loss)
    n, d = X.shape
    lam = torch.as_tensor(nodes, dtype=X.dtype, device=X.device)
    w = torch.as_tensor(weights, dtype=X.dtype, device=X.device)
    Q = lam.numel()
    rows = max(1, max_points // (n * Q))
    y_ = y.to(X.dtype)
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    with eval_mode(model), torch.no_grad():
        for start in range(0, n, rows):
            xi, yi = X[start : start + rows], y_[start : start + rows]
            c = xi.shape[0]
            l3 = lam.view(1, 1, Q, 1)
            x_mix = l3 * xi.view(c, 1, 1, d) + (1 - l3) * X.view(1, n, 1, d)
            f = model(x_mix.reshape(-1, d)).reshape(c, n, Q)
            l2 = lam.view(1, 1, Q)
            if mixed_labels:
                target = l2 * yi.view(c, 1, 1) + (1 - l2) * y_.view(1, n, 1)
            else:
                target = yi.view(c, 1, 1).expand(c, n, Q)
            total += (lossfn(f, target) * w).sum().to(torch.float64)
    return float(total / (n * n))


def mixup_loss_exact(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    beta: float,
    loss: str = "logistic",
    *,
    order: int = 48,
    max_points: int = 2_000_000,
) -> float:
    """The mixup loss of Eq. (1): ``(1/n^2) sum_{i,j} E_{lam ~ Beta(alpha, beta)} l(x~_ij(lam), y~_ij(lam))``.

    All n^2 pairs (``j = i`` included) with mixed inputs and mixed labels; the expectation over lam
    uses ``order`` Gauss-Jacobi nodes (the Beta density is the quadrature weight, so endpoint
    singularities for alpha, beta < 1 are handled exactly; the error comes only from how smooth
    the loss is along the segment). ``max_points`` bounds the model evaluations held at once.
    """
    _check_data(X, y)
    nodes, weights = beta_quadrature(alpha, beta, order)
    return _pairs_loss(model, X, y, loss, nodes, weights, mixed_labels=True, max_points=max_points)


def mixup_loss_tilted(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    beta: float,
    loss: str = "logistic",
    *,
    order: int = 48,
    max_points: int = 2_000_000,
) -> float:
    """The exact reformulation behind Lemma 3.1: unmixed labels, ``lam ~ D~_lam``, partner ``r ~ D_X``.

    ``(1/n) sum_i E_{lam ~ D~_lam} E_{r ~ D_X} l(lam x_i + (1 - lam) r, y_i)``; equal to
    :func:`mixup_loss_exact` for every loss affine in y (checked in the tests and the notebook).
    """
    _check_data(X, y)
    nodes, weights = tilted_quadrature(alpha, beta, order)
    return _pairs_loss(model, X, y, loss, nodes, weights, mixed_labels=False, max_points=max_points)


def mixup_loss_mc(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    beta: float,
    loss: str = "logistic",
    *,
    n_samples: int = 100_000,
    generator: np.random.Generator,
) -> Estimate:
    """Monte Carlo estimate of Eq. (1) with its standard error, for n^2 too large to enumerate.

    Draws ``n_samples`` triples (i, j, lam) with i, j uniform and lam ~ Beta(alpha, beta).
    """
    _check_data(X, y)
    check_beta_params(alpha, beta)
    if not isinstance(generator, np.random.Generator):
        raise ValueError("mixup_loss_mc needs an explicit numpy Generator")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    n = X.shape[0]
    i = torch.as_tensor(generator.integers(0, n, n_samples), device=X.device)
    j = torch.as_tensor(generator.integers(0, n, n_samples), device=X.device)
    lam_np = np.ones(n_samples) if alpha == 0 else generator.beta(alpha, beta, n_samples)
    lam = torch.as_tensor(lam_np, dtype=X.dtype, device=X.device)
    y_ = y.to(X.dtype)
    with eval_mode(model), torch.no_grad():
        f = model(lam[:, None] * X[i] + (1 - lam[:, None]) * X[j]).reshape(-1)
        per = get_loss(loss)(f, lam * y_[i] + (1 - lam) * y_[j]).to(torch.float64)
    return Estimate(float(per.mean()), float(per.std(unbiased=True) / n_samples**0.5))

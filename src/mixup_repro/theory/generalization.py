"""Mixup as data-adaptive regularization for GLMs: Lemma 3.1's terms in closed form, and GLM fits (the paper's
generalization results; book: ``prop-glm-regularizer``).

For a GLM ``l(theta, (x, y)) = A(theta^T x) - y theta^T x`` on centred data (``mean_i x_i = 0``),
Lemma 3.1 gives ``R3 = 0`` and

    R1 = -(E[1 - lam] / n) sum_i (A'(x_i^T theta) - y_i) x_i^T theta      (0 at a stationary point of L_std)
    R2 = (E[(1 - lam)^2] / 2n) sum_i A''(x_i^T theta) theta^T (Sigma + x_i x_i^T) theta

with ``Sigma = (1/n) sum_i x_i x_i^T`` and moments under the tilted distribution D~_lam. The ``Sigma`` half of R2 is
the data-adaptive penalty ``(E[(1 - lam)^2] / 2) mean_i A''(x_i^T theta) theta^T Sigma theta``: a ridge penalty in
the metric of the data covariance. That R1 vanishes at the ERM fit does not make its gradient vanish there; what
moves the optimum is :mod:`mixup_repro.theory.glm_optimum`. The class ``W_gamma`` and the Rademacher bound are
:mod:`mixup_repro.theory.rademacher`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import integrate, special

from ..losses import get_loss
from ..mixing import check_beta_params, is_erm, lambda_moments

__all__ = ["CENTRED_TOL", "check_glm", "check_centred", "glm_R1", "glm_R2", "covariance_penalty",
           "inverse_lambda_moment", "truncated_inverse_lambda_moment", "GLMFit", "fit_glm"]

#: Data count as centred when every coordinate's mean is below this times the largest coordinate scale.
CENTRED_TOL = 1e-10


# --- the GLM regularizers of Lemma 3.1 ----------------------------------------------------------------


def check_glm(theta: torch.Tensor, X: torch.Tensor) -> None:
    """Refuse anything but a 2-D ``X`` (n, d) and a ``theta`` of shape (d,)."""
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D tensor (n, d), got {getattr(X, 'shape', type(X))}")
    if not isinstance(theta, torch.Tensor) or theta.shape != (X.shape[1],):
        raise ValueError(f"theta must have shape ({X.shape[1]},), got {getattr(theta, 'shape', type(theta))}")


def check_centred(X: torch.Tensor) -> None:
    """Refuse inputs whose mean is not 0 (to ``CENTRED_TOL`` times their scale): the closed forms assume it."""
    scale = float(X.abs().max()) or 1.0
    offset = float(X.mean(dim=0).abs().max())
    if offset > CENTRED_TOL * scale:
        raise ValueError(f"the closed forms need centred inputs (mean_i x_i = 0), but a coordinate's mean is "
                         f"{offset:.2e}; subtract X.mean(dim=0) first")


def glm_R1(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
           loss: str = "logistic") -> float:
    """``R1 = -(E[1 - lam] / n) sum_i (A'(x_i^T theta) - y_i) x_i^T theta`` for centred ``X`` (Lemma 3.1).

    It equals ``-E[1 - lam] theta^T grad L_std(theta)``, hence 0 at any stationary point of the standard loss.
    """
    check_glm(theta, X)
    check_centred(X)
    m1, _ = lambda_moments(alpha, beta)
    eta = X @ theta
    return float(-m1 * ((get_loss(loss).h1(eta) - y.to(eta.dtype)) * eta).mean())


def glm_R2(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> float:
    """``R2 = (E[(1 - lam)^2] / 2n) sum_i A''(x_i^T theta) theta^T (Sigma + x_i x_i^T) theta`` for centred ``X``.

    ``Sigma = X^T X / n``; ``E`` is under D~_lam (Lemma 3.1 with ``f = theta^T x``, ``grad f = theta``).
    """
    check_glm(theta, X)
    check_centred(X)
    _, m2 = lambda_moments(alpha, beta)
    eta = X @ theta
    curv = get_loss(loss).h2(eta)
    q = (eta**2).mean()  # theta^T Sigma theta
    return float(m2 / 2 * (curv * (q + eta**2)).mean())


def covariance_penalty(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic",
                       constant: str = "E(1-lam)^2") -> float:
    """The data-adaptive penalty ``(c / 2) mean_i A''(x_i^T theta) * theta^T Sigma theta``.

    ``constant = "E(1-lam)^2"``: ``c = E_{D~}[(1 - lam)^2]``, the constant this companion derives (the
    ``Sigma`` half of R2). ``constant = "E(1-lam)^2/lam^2"``: ``c = E_{D~}[(1 - lam)^2 / lam^2]``, the form the
    paper may print (infinite unless alpha > 1 and beta > 1; then this returns ``inf``).
    """
    check_glm(theta, X)
    check_centred(X)
    if constant == "E(1-lam)^2":
        c = lambda_moments(alpha, beta)[1]
    elif constant == "E(1-lam)^2/lam^2":
        c = inverse_lambda_moment(alpha, beta)
    else:
        raise ValueError(f"constant must be 'E(1-lam)^2' or 'E(1-lam)^2/lam^2', got {constant!r}")
    eta = X @ theta
    return float(c / 2 * get_loss(loss).h2(eta).mean() * (eta**2).mean())


def inverse_lambda_moment(alpha: float, beta: float) -> float:
    """``E_{lam ~ D~_lam}[(1 - lam)^2 / lam^2]`` in closed form; ``inf`` unless alpha > 1 and beta > 1.

    For the component ``Beta(a + 1, b)``: ``E[(1 - lam)^2 lam^-2] = B(a - 1, b + 2) / B(a + 1, b)``, finite iff
    ``a > 1``; D~_lam mixes ``Beta(alpha + 1, beta)`` and ``Beta(beta + 1, alpha)``.
    """
    check_beta_params(alpha, beta)
    if is_erm(alpha):
        return 0.0
    if alpha <= 1 or beta <= 1:
        return math.inf
    a, b = float(alpha), float(beta)

    def comp(p: float, q: float) -> float:
        return math.exp(special.betaln(p - 1, q + 2) - special.betaln(p + 1, q))

    return (a * comp(a, b) + b * comp(b, a)) / (a + b)


def truncated_inverse_lambda_moment(alpha: float, beta: float, eps: float) -> float:
    """``E_{D~}[(1 - lam)^2 / lam^2 ; lam > eps]`` by adaptive quadrature of the mixture density.

    As ``eps -> 0`` it converges to :func:`inverse_lambda_moment` when alpha, beta > 1 and grows without bound
    otherwise (like ``eps^(min(alpha, beta) - 1)``, or ``log(1/eps)`` at 1).
    """
    check_beta_params(alpha, beta)
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    if is_erm(alpha):
        return 0.0
    a, b = float(alpha), float(beta)

    def log_pdf(t: float, p: float, q: float) -> float:
        return (p - 1) * math.log(t) + (q - 1) * math.log1p(-t) - special.betaln(p, q)

    def integrand(t: float) -> float:
        dens = a / (a + b) * math.exp(log_pdf(t, a + 1, b)) + b / (a + b) * math.exp(log_pdf(t, b + 1, a))
        return (1 - t) ** 2 / t**2 * dens

    # Integrate in s = log(t) so the t^(p - 3) growth near eps is resolved at every scale.
    value, _ = integrate.quad(lambda s: integrand(math.exp(s)) * math.exp(s), math.log(eps), 0.0,
                              limit=400, epsabs=0.0, epsrel=1e-10)
    return float(value)


# --- GLM fits: ERM, ridge, mixup ------------------------------------------------------------------------


@dataclass(frozen=True)
class GLMFit:
    """A fitted GLM: ``theta`` and the norm of the objective's gradient at it (0 at the optimum)."""

    theta: torch.Tensor
    grad_norm: float
    iterations: int


def fit_glm(X: torch.Tensor, y: torch.Tensor, loss: str = "logistic", *, ridge: float = 0.0, max_iter: int = 100,
            tol: float = 1e-10) -> GLMFit:
    """Minimise ``(1/n) sum_i l(theta, z_i) + (ridge / 2) ||theta||^2`` by damped Newton steps (float64, no bias).

    ``ridge = 0``: ERM (the maximum-likelihood fit). The exact mixup optimum is
    :func:`mixup_repro.theory.glm_optimum.mixup_optimum`. Newton steps use the pseudo-inverse of the Hessian
    (low-rank data leave the null space at 0) and halve until the objective decreases.
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    lossfn = get_loss(loss)
    X = X.to(torch.float64)
    y = y.to(torch.float64)
    N, d = X.shape

    def objective(theta: torch.Tensor) -> float:
        return float(lossfn(X @ theta, y).mean() + ridge / 2 * theta @ theta)

    theta = torch.zeros(d, dtype=X.dtype)
    grad_norm, it = math.inf, 0
    for it in range(1, max_iter + 1):
        eta = X @ theta
        g = X.T @ (lossfn.h1(eta) - y) / N + ridge * theta
        grad_norm = float(g.norm())
        if grad_norm < tol:
            break
        H = (X.T * lossfn.h2(eta)) @ X / N + ridge * torch.eye(d, dtype=X.dtype)
        step = torch.linalg.pinv(H, hermitian=True, rtol=1e-12) @ g
        f0, t = objective(theta), 1.0
        while objective(theta - t * step) > f0 and t > 1e-8:
            t /= 2
        theta = theta - t * step
    eta = X @ theta
    grad_norm = float((X.T @ (lossfn.h1(eta) - y) / N + ridge * theta).norm())
    return GLMFit(theta, grad_norm, it)

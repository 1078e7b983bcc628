"""The exact mixup optimum of a linear GLM and what moves it away from the ERM fit (paper, Section 3.2; Lemma 3.1).

For ``l(theta, (x, y)) = A(theta^T x) - y theta^T x`` the mixup loss of Eq. (1) over all ``n^2`` pairs,

    L_mix(theta) = (1/n^2) sum_{i,j} E_{lam ~ Beta(alpha, beta)} l(theta, (lam x_i + (1 - lam) x_j, lam y_i + (1 - lam) y_j)),

is smooth and convex in ``theta``: its gradient is the same average of ``(A'(eta) - y~) x~`` and its Hessian of
``A''(eta) x~ x~^T`` (``eta = theta^T x~``). The expectation over ``lam`` is Gauss-Jacobi quadrature with the Beta
density as the weight (``form="mixed"``) or, equivalently, the tilted form of Lemma 3.1 with unmixed labels and
``lam ~ D~_lam`` (``form="tilted"``); the two agree to quadrature error (tested). The exact optimum is found by
damped Newton steps in float64.

What moves the optimum. With ``L_mix = L_std + R1 + R2 + remainder`` (Lemma 3.1; ``R3 = 0`` for a GLM), the
ERM fit ``theta_E`` has ``grad L_std = 0``, so to first order in the regularizers the mixup optimum is
``theta_E + delta`` with ``delta = -H_std^+ grad(R1 + R2)(theta_E)``. ``R1`` vanishes at ``theta_E`` but its
gradient does not: ``grad R1(theta_E) = -E[1 - lam] H_std theta_E``, of the same order as ``grad R2``, and the
two nearly cancel. Lemma 3.1 expands ``A(eta_i + t (eta_r - eta_i))`` in ``t = 1 - lam``; its third-order term
``(E[t^3] / 6) mean_{i,r} A'''(eta_i) (eta_r - eta_i)^3``, part of Lemma 3.1's remainder, is computed here too
(:func:`glm_cubic`), because what survives the cancellation is of its order.

The squared loss on centred inputs. Expanding the square, the cross terms of a pair carry ``sum_j x_j = 0``, so
``L_mix = E_{Beta}[lam^2 + (1 - lam)^2] L_std`` exactly (with the ``y^2 / 2`` term kept, plus a constant): a
positive multiple of the standard loss, so the mixup optimum *is* the least-squares fit for every
``(alpha, beta)``. In Lemma 3.1's terms ``E_{D~}[1 - lam] = 2 E_{D~}[(1 - lam)^2]``, which makes
``grad R1 = -grad R2`` at the least-squares fit: the penalty of ``R2`` is cancelled exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy import special

from ..data.synthetic import LowRankGLMData
from ..losses import get_loss
from ..mixing import beta_quadrature, check_beta_params, is_erm, lambda_moments, tilted_quadrature
from .generalization import _check_centred, _check_glm, fit_glm

__all__ = ["MixupObjective", "MixupOptimum", "OptimumComparison", "loss_derivative", "tilted_moment",
           "mixup_objective", "mixup_optimum", "glm_R1_grad", "glm_R2_grad", "glm_cubic", "glm_cubic_grad",
           "taylor_shift", "glm_gap", "compare_optima"]

#: Mixed points (pairs x nodes) held at once when the objective is accumulated over chunks of rows.
MAX_POINTS = 200_000
#: A move or gradient below this times the size of what it is computed from is roundoff: its direction is NaN.
ROUNDOFF = 1e-12


def _sigmoid_parts(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(f)
    return s, s * (1 - s)


def _logistic_h3(f: torch.Tensor) -> torch.Tensor:
    s, v = _sigmoid_parts(f)
    return v * (1 - 2 * s)


def _logistic_h4(f: torch.Tensor) -> torch.Tensor:
    s, v = _sigmoid_parts(f)
    return v * (1 - 6 * s + 6 * s * s)


# The third and fourth derivatives of A (A' and A'' are losses.GLMLoss.h1 and h2).
_HIGHER: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "logistic": (_logistic_h3, _logistic_h4),
    "poisson": (torch.exp, torch.exp),
    "squared": (torch.zeros_like, torch.zeros_like),
}


def loss_derivative(loss: str, k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The k-th derivative of ``A`` (``k`` in 1..4) for the named GLM; 3 and 4 enter the gradients below.

    Logistic: ``A''' = g(1 - g)(1 - 2g)``, ``A'''' = g(1 - g)(1 - 6g + 6g^2)`` (``g`` the sigmoid); Poisson: ``e^f``;
    squared: 0.
    """
    lossfn = get_loss(loss)  # refuses unknown names
    if k == 1:
        return lossfn.h1
    if k == 2:
        return lossfn.h2
    if k in (3, 4):
        return _HIGHER[loss][k - 3]
    raise ValueError(f"k must be 1, 2, 3 or 4, got {k!r}")


def tilted_moment(alpha: float, beta: float, k: int) -> float:
    """``E_{lam ~ D~_lam}[(1 - lam)^k]`` in closed form: ``(B(alpha + 1, beta + k) + B(alpha + k, beta + 1)) / B(alpha, beta)``.

    From ``E_{D~}[g(lam)] = E_{Beta(alpha, beta)}[lam g(lam) + (1 - lam) g(1 - lam)]``. ERM: 1 for k = 0, else 0.
    """
    check_beta_params(alpha, beta)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    if is_erm(alpha):
        return 1.0 if k == 0 else 0.0
    a, b = float(alpha), float(beta)
    lb = special.betaln(a, b)
    return float(math.exp(special.betaln(a + 1, b + k) - lb) + math.exp(special.betaln(a + k, b + 1) - lb))


# --- the exact mixup objective and its optimum ------------------------------------------------------------------


@dataclass(frozen=True)
class MixupObjective:
    """The exact mixup loss at ``theta`` with its gradient (d,) and Hessian (d, d), float64."""

    value: float
    grad: torch.Tensor
    hess: torch.Tensor | None


def _nodes(alpha: float, beta: float, order: int, form: str) -> tuple[np.ndarray, np.ndarray]:
    if form == "mixed":
        return beta_quadrature(alpha, beta, order)
    if form == "tilted":
        return tilted_quadrature(alpha, beta, order)
    raise ValueError(f"form must be 'mixed' (Eq. (1)) or 'tilted' (Lemma 3.1's D~_lam), got {form!r}")


def mixup_objective(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
                    loss: str = "logistic", *, order: int = 24, form: str = "mixed", hessian: bool = True,
                    max_points: int = MAX_POINTS) -> MixupObjective:
    """``L_mix(theta)`` of Eq. (1) over all n^2 pairs (``j = i`` included), its gradient and (optionally) Hessian.

    ``form="mixed"``: mixed inputs and labels, ``lam ~ Beta(alpha, beta)`` by ``order`` Gauss-Jacobi nodes.
    ``form="tilted"``: label ``y_i`` kept, ``lam ~ D~_lam`` (``2 order`` nodes, two Beta components).
    ``alpha = 0`` is ERM (one node at lam = 1): the standard loss. Rows are accumulated in chunks of at most
    ``max_points`` mixed points. Any ``X`` (centring is not needed here). Cost: ``n^2 order d^2`` for the Hessian.
    """
    _check_glm(theta, X)
    if not isinstance(y, torch.Tensor) or y.shape != (X.shape[0],):
        raise ValueError(f"y must be a tensor of shape ({X.shape[0]},), got {getattr(y, 'shape', type(y))}")
    check_beta_params(alpha, beta)
    lossfn = get_loss(loss)
    X, y, theta = X.to(torch.float64), y.to(torch.float64), theta.to(torch.float64)
    nodes, weights = _nodes(alpha, beta, order, form)
    lam = torch.as_tensor(nodes, dtype=X.dtype)
    w = torch.as_tensor(weights, dtype=X.dtype)
    n, d = X.shape
    Q = lam.numel()
    rows = max(1, max_points // (n * Q))
    eta_all = X @ theta  # theta^T x~ = lam eta_i + (1 - lam) eta_j: the value needs no d-dimensional work
    value = torch.zeros((), dtype=X.dtype)
    grad = torch.zeros(d, dtype=X.dtype)
    hess = torch.zeros(d, d, dtype=X.dtype) if hessian else None
    l3 = lam.view(1, 1, Q)
    for start in range(0, n, rows):
        sl = slice(start, start + rows)
        c = X[sl].shape[0]
        eta = l3 * eta_all[sl].view(c, 1, 1) + (1 - l3) * eta_all.view(1, n, 1)
        if form == "mixed":
            target = l3 * y[sl].view(c, 1, 1) + (1 - l3) * y.view(1, n, 1)
        else:
            target = y[sl].view(c, 1, 1).expand(c, n, Q)
        value = value + (w * lossfn(eta, target)).sum()
        r = w * (lossfn.h1(eta) - target)  # (c, n, Q)
        # x~ = lam x_i + (1 - lam) x_j: sum r x~ = sum_i (sum_jq r lam) x_i + sum_j (sum_iq r (1 - lam)) x_j
        grad = grad + (r * l3).sum(dim=(1, 2)) @ X[sl] + (r * (1 - l3)).sum(dim=(0, 2)) @ X
        if hessian:
            l4 = l3.unsqueeze(-1)
            xt = (l4 * X[sl].view(c, 1, 1, d) + (1 - l4) * X.view(1, n, 1, d)).reshape(-1, d)
            hess = hess + (xt.T * (w * lossfn.h2(eta)).reshape(-1)) @ xt
    scale = 1.0 / (n * n)
    return MixupObjective(float(value * scale), grad * scale, None if hess is None else hess * scale)


@dataclass(frozen=True)
class MixupOptimum:
    """The minimiser of the exact mixup loss: ``theta``, the gradient norm there, Newton iterations, the loss value."""

    theta: torch.Tensor
    grad_norm: float
    iterations: int
    value: float


def mixup_optimum(X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float | None = None, loss: str = "logistic",
                  *, order: int = 24, form: str = "mixed", theta0: torch.Tensor | None = None, tol: float = 1e-11,
                  max_iter: int = 100, hessian: str = "exact", max_points: int = MAX_POINTS) -> MixupOptimum:
    """Minimise the exact mixup loss (:func:`mixup_objective`) by damped (quasi-)Newton steps, float64.

    ``hessian="exact"``: Newton steps with the mixup Hessian (cost ``n^2 order d^2`` per step). ``"standard"``: the
    steps are preconditioned by ``(1 - E[1 - lam]) H_std(theta)``, the Hessian of the standard loss scaled as the
    mixup loss of a quadratic is (cost ``n d^2``), while value and gradient stay exact (``n^2 order + n d``): more,
    cheaper steps to the same optimum, for large ``n``. Steps use the pseudo-inverse (low-rank inputs: the
    component of ``theta`` outside the span of the data stays at its start, 0 by default) and halve until the
    objective does not increase (up to its rounding). Stops when the exact gradient's norm is below ``tol``;
    refuses to return a point that did not get there.
    """
    if hessian not in ("exact", "standard"):
        raise ValueError(f"hessian must be 'exact' or 'standard', got {hessian!r}")
    beta = alpha if beta is None else beta
    X = X.to(torch.float64)
    y = y.to(torch.float64)
    theta = torch.zeros(X.shape[1], dtype=X.dtype) if theta0 is None else theta0.to(torch.float64).clone()
    kw = {"order": order, "form": form, "max_points": max_points}
    exact = hessian == "exact"
    scale = 1.0 - lambda_moments(alpha, beta)[0]
    obj = mixup_objective(theta, X, y, alpha, beta, loss, hessian=exact, **kw)
    for it in range(1, max_iter + 1):
        if float(obj.grad.norm()) < tol:
            return MixupOptimum(theta, float(obj.grad.norm()), it - 1, obj.value)
        H = obj.hess if exact else scale * _std_parts(theta, X, y, loss)[2]
        step = torch.linalg.pinv(H, hermitian=True, rtol=1e-12) @ obj.grad
        # Near the optimum the decrease of a Newton step (~ g^T H^+ g) falls below the rounding of a sum of
        # n^2 x nodes terms; a slack of that rounding lets the last, quadratically convergent steps through.
        slack = 1e-13 * max(1.0, abs(obj.value))
        t = 1.0
        while True:
            trial = mixup_objective(theta - t * step, X, y, alpha, beta, loss, hessian=False, **kw)
            if trial.value <= obj.value + slack or t < 1e-10:
                break
            t /= 2
        theta = theta - t * step
        obj = mixup_objective(theta, X, y, alpha, beta, loss, hessian=exact, **kw)
    if float(obj.grad.norm()) < tol:
        return MixupOptimum(theta, float(obj.grad.norm()), max_iter, obj.value)
    raise RuntimeError(f"Newton did not reach gradient norm {tol:g} in {max_iter} iterations "
                       f"(now {float(obj.grad.norm()):.2e}); raise max_iter or check the data")


# --- what moves the optimum: the gradients of the expansion's terms at the ERM fit -----------------------------


def _std_parts(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, loss: str):
    lossfn = get_loss(loss)
    eta = X @ theta
    n = X.shape[0]
    grad = X.T @ (lossfn.h1(eta) - y.to(X.dtype)) / n
    hess = (X.T * lossfn.h2(eta)) @ X / n
    return eta, grad, hess


def glm_R1_grad(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
                loss: str = "logistic") -> torch.Tensor:
    """``grad R1 = -E[1 - lam] (grad L_std + H_std theta)`` for centred ``X`` (``R1 = -E[1 - lam] theta^T grad L_std``).

    At a stationary point of ``L_std`` it is ``-E[1 - lam] H_std theta``, not 0. ``E`` under D~_lam.
    """
    _check_glm(theta, X)
    _check_centred(X)
    m1, _ = lambda_moments(alpha, beta)
    _, g, H = _std_parts(theta, X, y, loss)
    return -m1 * (g + H @ theta)


def glm_R2_grad(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> torch.Tensor:
    """Gradient of ``R2 = (E[(1 - lam)^2] / 2n) sum_i A''(eta_i) (q + eta_i^2)``, ``q = theta^T Sigma theta``.

    ``grad R2 = (E[(1 - lam)^2] / 2n) sum_i [A'''(eta_i) (q + eta_i^2) x_i + A''(eta_i) (2 Sigma theta + 2 eta_i x_i)]``
    with ``eta_i = x_i^T theta`` and ``Sigma = X^T X / n`` (centred ``X``).
    """
    _check_glm(theta, X)
    _check_centred(X)
    _, m2 = lambda_moments(alpha, beta)
    n = X.shape[0]
    eta = X @ theta
    q = (eta**2).mean()
    a2, a3 = loss_derivative(loss, 2)(eta), loss_derivative(loss, 3)(eta)
    return m2 / 2 * (X.T @ (a3 * (q + eta**2) + 2 * a2 * eta) / n + 2 * a2.mean() * (X.T @ eta / n))


def glm_cubic(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> float:
    """The third-order term of Lemma 3.1's expansion, ``(E[(1 - lam)^3] / 6) (1/n^2) sum_{i,r} A'''(eta_i) (eta_r - eta_i)^3``.

    ``g_i(t) = A(eta_i + t (eta_r - eta_i)) - y_i (eta_i + t (eta_r - eta_i))`` has
    ``g_i'''(0) = A'''(eta_i) (eta_r - eta_i)^3`` (the label term is linear in t); ``E`` under D~_lam; the partner
    ``r`` ranges over the training inputs. Any ``X``.
    """
    _check_glm(theta, X)
    m3 = tilted_moment(alpha, beta, 3)
    eta = X @ theta
    D = eta[None, :] - eta[:, None]  # (i, r): eta_r - eta_i
    return float(m3 / 6 * (loss_derivative(loss, 3)(eta)[:, None] * D**3).mean())


def glm_cubic_grad(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> torch.Tensor:
    """Gradient of :func:`glm_cubic`: ``(m3 / 6) mean_{i,r} [A''''(eta_i) D^3 x_i + 3 A'''(eta_i) D^2 (x_r - x_i)]``, ``D = eta_r - eta_i``."""
    _check_glm(theta, X)
    m3 = tilted_moment(alpha, beta, 3)
    n = X.shape[0]
    eta = X @ theta
    D = eta[None, :] - eta[:, None]
    a3, a4 = loss_derivative(loss, 3)(eta), loss_derivative(loss, 4)(eta)
    W = 3 * a3[:, None] * D**2  # weight of x_r - x_i
    return m3 / 6 * (X.T @ (a4[:, None] * D**3).sum(dim=1) + X.T @ W.sum(dim=0) - X.T @ W.sum(dim=1)) / n**2


def taylor_shift(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
                 loss: str = "logistic", *, order: int = 2) -> torch.Tensor:
    """``delta = -H_std^+ g``: the first-order move of the optimum from a stationary ``theta`` of ``L_std``.

    ``g`` is the gradient at ``theta`` of Lemma 3.1's terms up to ``order`` in ``1 - lam``: ``order=2`` gives
    ``R1 + R2`` (the paper's quadratic approximation; ``R3 = 0`` for a GLM), ``order=3`` adds :func:`glm_cubic`.
    From ``grad L_std(theta + delta) + g = 0`` linearised at ``theta`` (the terms treated as a small perturbation).
    """
    if order not in (2, 3):
        raise ValueError(f"order must be 2 (R1 + R2) or 3 (R1 + R2 + the cubic term), got {order!r}")
    _, _, H = _std_parts(theta, X, y, loss)
    g = glm_R1_grad(theta, X, y, alpha, beta, loss) + glm_R2_grad(theta, X, alpha, beta, loss)
    if order == 3:
        g = g + glm_cubic_grad(theta, X, alpha, beta, loss)
    return -torch.linalg.pinv(H, hermitian=True, rtol=1e-12) @ g


# --- ERM against the exact mixup optimum on a data set ---------------------------------------------------------


def glm_gap(theta: torch.Tensor, ds: LowRankGLMData) -> tuple[float, float]:
    """(raw, centred) generalization gap of the linear predictor ``theta``: test loss minus clean training loss.

    The centred gap subtracts the same difference for the true ``theta*`` (expectation 0 over the data): a
    control variate that removes the sampling noise of the losses not due to the fit.
    """
    lossfn = get_loss(ds.loss)

    def diff(t: torch.Tensor) -> float:
        return float(lossfn(ds.X_test @ t, ds.y_test).mean() - lossfn(ds.X @ t, ds.y).mean())

    raw = diff(theta)
    return raw, raw - diff(ds.theta_star)


def _cos(a: torch.Tensor, b: torch.Tensor, scale_a: float, scale_b: float) -> float:
    """Cosine of ``a`` and ``b``; NaN when either is at the roundoff level of its scale (a direction of nothing)."""
    na, nb = float(a.norm()), float(b.norm())
    if na <= ROUNDOFF * scale_a or nb <= ROUNDOFF * scale_b:
        return math.nan
    return float(a @ b) / (na * nb)


@dataclass(frozen=True)
class OptimumComparison:
    """ERM fit against the exact mixup optimum on one data set, and what Lemma 3.1's terms predict for the move.

    ``quad_*``: ``theta^T Sigma theta`` with the population ``Sigma`` (the theorem's quantity) and the sample
    ``Sigma_n = X^T X / n`` (the penalty's). ``grad_*``: norms at the ERM fit of the gradients of R1, R2, their sum,
    the cubic term and the exact regularizer ``L_mix - L_std`` (= the exact mixup gradient there).
    ``cos_exact_order2/3``: cosine of that exact gradient with the expansion's gradient up to order 2 / 3.
    ``dq_pred2/3``: the first-order change ``2 theta_E^T Sigma delta`` (population Sigma) with ``delta`` from
    :func:`taylor_shift` of order 2 / 3; ``cos_move2/3``: cosine of that ``delta`` with the true move.
    ``sum_dot_move``: ``grad(R1 + R2)(theta_E) . (theta_mix - theta_E)``. ``gap_*``: (raw, centred) gaps. A cosine is
    NaN when a vector is at roundoff level (the squared loss: no move, no net gradient).
    """

    loss: str
    alpha: float
    theta_erm: torch.Tensor
    theta_mix: torch.Tensor
    quad_pop_erm: float
    quad_pop_mix: float
    quad_emp_erm: float
    quad_emp_mix: float
    grad_R1: float
    grad_R2: float
    grad_R1R2: float
    grad_cubic: float
    grad_exact: float
    cos_exact_order2: float
    cos_exact_order3: float
    sum_dot_move: float
    dq_pred2: float
    dq_pred3: float
    cos_move2: float
    cos_move3: float
    gap_erm: tuple[float, float]
    gap_mix: tuple[float, float]
    newton_iterations: int
    seconds: float

    @property
    def dq(self) -> float:
        """The true change of ``theta^T Sigma theta`` (population Sigma): mixup optimum minus ERM fit."""
        return self.quad_pop_mix - self.quad_pop_erm


def compare_optima(ds: LowRankGLMData, alpha: float, beta: float | None = None, *, order: int = 24,
                   form: str = "mixed") -> OptimumComparison:
    """Fit ERM (Newton on ``L_std``) and the exact mixup optimum (Newton from 0) on ``ds``; measure the move and
    what the expansion's terms at the ERM fit predict for it. ``seconds``: the time of the exact mixup fit."""
    beta = alpha if beta is None else beta
    if is_erm(alpha):
        raise ValueError("compare_optima compares mixup with ERM: alpha must be > 0")
    X, y, loss = ds.X, ds.y, ds.loss
    erm = fit_glm(X, y, loss, tol=1e-12)
    t0 = time.perf_counter()
    mix = mixup_optimum(X, y, alpha, beta, loss, order=order, form=form)
    seconds = time.perf_counter() - t0
    te, tm = erm.theta, mix.theta
    Sn = X.T @ X / X.shape[0]
    g1, g2 = glm_R1_grad(te, X, y, alpha, beta, loss), glm_R2_grad(te, X, alpha, beta, loss)
    g3 = glm_cubic_grad(te, X, alpha, beta, loss)
    exact = mixup_objective(te, X, y, alpha, beta, loss, order=order, form=form, hessian=False).grad
    d2 = taylor_shift(te, X, y, alpha, beta, loss, order=2)
    d3 = taylor_shift(te, X, y, alpha, beta, loss, order=3)
    move = tm - te
    sizes = {"theta": float(te.norm()), "grad": float(g1.norm() + g2.norm() + g3.norm())}
    return OptimumComparison(
        loss=loss, alpha=float(alpha), theta_erm=te, theta_mix=tm,
        quad_pop_erm=float(te @ ds.Sigma @ te), quad_pop_mix=float(tm @ ds.Sigma @ tm),
        quad_emp_erm=float(te @ Sn @ te), quad_emp_mix=float(tm @ Sn @ tm),
        grad_R1=float(g1.norm()), grad_R2=float(g2.norm()), grad_R1R2=float((g1 + g2).norm()),
        grad_cubic=float(g3.norm()), grad_exact=float(exact.norm()),
        cos_exact_order2=_cos(exact, g1 + g2, sizes["grad"], sizes["grad"]),
        cos_exact_order3=_cos(exact, g1 + g2 + g3, sizes["grad"], sizes["grad"]),
        sum_dot_move=float((g1 + g2) @ move),
        dq_pred2=float(2 * te @ ds.Sigma @ d2), dq_pred3=float(2 * te @ ds.Sigma @ d3),
        cos_move2=_cos(d2, move, sizes["theta"], sizes["theta"]), cos_move3=_cos(d3, move, sizes["theta"], sizes["theta"]),
        gap_erm=glm_gap(te, ds), gap_mix=glm_gap(tm, ds), newton_iterations=mix.iterations, seconds=seconds,
    )

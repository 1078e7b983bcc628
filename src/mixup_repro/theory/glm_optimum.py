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

import numpy as np
import torch
from scipy import special

from ..data.synthetic import LowRankGLMData
from ..losses import get_loss
from ..mixing import beta_quadrature, check_beta_params, is_erm, lambda_moments, tilted_quadrature
from .generalization import check_centred, check_glm, fit_glm

__all__ = ["MixupObjective", "MixupOptimum", "OptimumComparison", "tilted_moment",
           "mixup_objective", "mixup_optimum", "glm_R1_grad", "glm_R2_grad", "glm_cubic", "glm_cubic_grad",
           "taylor_shift", "glm_gap", "compare_optima"]

#: Mixed points (pairs x nodes) held at once when the objective is accumulated over chunks of rows.
MAX_POINTS = 200_000
#: A move or gradient below this times the size of what it is computed from is roundoff: its direction is NaN.
ROUNDOFF = 1e-12


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
        nodes, weights = beta_quadrature(alpha, beta, order)
        if alpha == beta and nodes.size > 1:
            # A symmetric Beta has mirrored nodes (lam, 1 - lam) of equal weight, and the pair (i, j) at lam is the
            # pair (j, i) at 1 - lam (same mixed point, same mixed label): every sum over all pairs and nodes of
            # the objective, its gradient and its Hessian equals the sum over the nodes lam >= 1/2 with the weights
            # of the nodes lam > 1/2 doubled. Half the work, the same numbers.
            upper = nodes > 0.5
            middle = np.isclose(nodes, 0.5, rtol=0.0, atol=1e-14)
            return np.concatenate([nodes[upper], nodes[middle]]), np.concatenate([2 * weights[upper], weights[middle]])
        return nodes, weights
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
    ``max_points`` mixed points. Any ``X`` (centring is not needed here). Cost: ``n^2 order`` for the value, the
    gradient and the Hessian with respect to ``eta = X theta``, then ``n d`` and ``n^2 d`` to map them to ``theta``.
    """
    check_glm(theta, X)
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
    eta_all = X @ theta  # theta^T x~ = lam eta_i + (1 - lam) eta_j: everything is a function of eta = X theta
    # The label term -y~ eta~ is linear in eta: (1/n^2) sum_{i,j,q} w_q y~ eta~ = c^T eta / n^2 with, for mixed labels,
    # c_i = n y_i E[lam^2 + (1 - lam)^2] + 2 (sum_j y_j) E[lam (1 - lam)], and for kept labels (tilted)
    # c_i = n y_i E[lam] + (sum_j y_j) E[1 - lam] (E: the quadrature's expectation).
    E = lambda f: float((w * f).sum())  # noqa: E731
    if form == "mixed":
        c_lab = n * y * E(lam**2 + (1 - lam) ** 2) + 2 * float(y.sum()) * E(lam * (1 - lam))
    else:
        c_lab = n * y * E(lam) + float(y.sum()) * E(1 - lam)
    w_first, w_second = w * lam, w * (1 - lam)  # d eta~ / d eta_i and d eta~ / d eta_j, times the weight
    value = -float(c_lab @ eta_all)
    g_eta = -c_lab.clone()  # d L / d eta (times n^2)
    if hessian:
        # d^2 L / d eta^2 (times n^2) = diag(h_diag) + C + C^T: the pair (i, j) at node lam adds lam^2 A'' to (i, i),
        # (1 - lam)^2 A'' to (j, j) and lam (1 - lam) A'' to (i, j) and (j, i); then H = X^T (.) X costs n^2 d, not
        # the n^2 order d^2 of summing the mixed points' outer products.
        h_diag = torch.zeros(n, dtype=X.dtype)
        C = torch.zeros(n, n, dtype=X.dtype)
        w_ii, w_jj, w_ij = w * lam**2, w * (1 - lam) ** 2, w * lam * (1 - lam)
    l3 = lam.view(1, 1, Q)
    for start in range(0, n, rows):
        sl = slice(start, start + rows)
        c = eta_all[sl].shape[0]
        eta = l3 * eta_all[sl].view(c, 1, 1) + (1 - l3) * eta_all.view(1, n, 1)  # (c, n, Q)
        a0, a1, a2 = lossfn.derivatives(eta, 2 if hessian else 1)
        value += float((a0 @ w).sum())
        g_eta[sl] += (a1 @ w_first).sum(dim=1)
        g_eta += (a1 @ w_second).sum(dim=0)
        if hessian:
            h_diag[sl] += (a2 @ w_ii).sum(dim=1)
            h_diag += (a2 @ w_jj).sum(dim=0)
            C[sl] += a2 @ w_ij
    grad = X.T @ g_eta
    hess = None
    if hessian:
        hess = X.T @ ((C + C.T) @ X) + (X.T * h_diag) @ X
    scale = 1.0 / (n * n)
    return MixupObjective(value * scale, grad * scale, None if hess is None else hess * scale)


@dataclass(frozen=True)
class MixupOptimum:
    """The minimiser of the exact mixup loss: ``theta``, the gradient norm there, Newton iterations, the loss value."""

    theta: torch.Tensor
    grad_norm: float
    iterations: int
    value: float


def mixup_optimum(X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float | None = None, loss: str = "logistic",
                  *, order: int = 24, form: str = "mixed", theta0: torch.Tensor | None = None, tol: float = 1e-11,
                  max_iter: int = 100, max_points: int = MAX_POINTS) -> MixupOptimum:
    """Minimise the exact mixup loss (:func:`mixup_objective`) by damped Newton steps, float64.

    Each step costs about two passes over the ``n^2 order`` mixed points (the trial point's value, gradient and
    Hessian; reused when the step is accepted). Steps use the pseudo-inverse of the Hessian (low-rank inputs: the
    component of ``theta`` outside the span of the data stays at its start ``theta0``, 0 by default) and halve
    until the objective does not increase (up to its rounding). Stops when the exact gradient's norm is below
    ``tol``; refuses to return a point that did not get there.
    """
    beta = alpha if beta is None else beta
    X = X.to(torch.float64)
    y = y.to(torch.float64)
    theta = torch.zeros(X.shape[1], dtype=X.dtype) if theta0 is None else theta0.to(torch.float64).clone()
    kw = {"order": order, "form": form, "max_points": max_points}
    obj = mixup_objective(theta, X, y, alpha, beta, loss, **kw)
    for it in range(1, max_iter + 1):
        if float(obj.grad.norm()) < tol:
            return MixupOptimum(theta, float(obj.grad.norm()), it - 1, obj.value)
        step = torch.linalg.pinv(obj.hess, hermitian=True, rtol=1e-12) @ obj.grad
        # Near the optimum the decrease of a Newton step (~ g^T H^+ g) falls below the rounding of a sum of
        # n^2 x nodes terms; a slack of that rounding lets the last, quadratically convergent steps through.
        slack = 1e-13 * max(1.0, abs(obj.value))
        t = 1.0
        while True:
            trial = mixup_objective(theta - t * step, X, y, alpha, beta, loss, hessian=t == 1.0, **kw)
            if trial.value <= obj.value + slack or t < 1e-10:
                break
            t /= 2
        theta = theta - t * step
        obj = trial if trial.hess is not None else mixup_objective(theta, X, y, alpha, beta, loss, **kw)
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
    check_glm(theta, X)
    check_centred(X)
    m1, _ = lambda_moments(alpha, beta)
    _, g, H = _std_parts(theta, X, y, loss)
    return -m1 * (g + H @ theta)


def glm_R2_grad(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> torch.Tensor:
    """Gradient of ``R2 = (E[(1 - lam)^2] / 2n) sum_i A''(eta_i) (q + eta_i^2)``, ``q = theta^T Sigma theta``.

    ``grad R2 = (E[(1 - lam)^2] / 2n) sum_i [A'''(eta_i) (q + eta_i^2) x_i + A''(eta_i) (2 Sigma theta + 2 eta_i x_i)]``
    with ``eta_i = x_i^T theta`` and ``Sigma = X^T X / n`` (centred ``X``).
    """
    check_glm(theta, X)
    check_centred(X)
    _, m2 = lambda_moments(alpha, beta)
    n = X.shape[0]
    eta = X @ theta
    q = (eta**2).mean()
    lossfn = get_loss(loss)
    a2, a3 = lossfn.h2(eta), lossfn.h3(eta)
    return m2 / 2 * (X.T @ (a3 * (q + eta**2) + 2 * a2 * eta) / n + 2 * a2.mean() * (X.T @ eta / n))


def glm_cubic(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> float:
    """The third-order term of Lemma 3.1's expansion, ``(E[(1 - lam)^3] / 6) (1/n^2) sum_{i,r} A'''(eta_i) (eta_r - eta_i)^3``.

    ``g_i(t) = A(eta_i + t (eta_r - eta_i)) - y_i (eta_i + t (eta_r - eta_i))`` has
    ``g_i'''(0) = A'''(eta_i) (eta_r - eta_i)^3`` (the label term is linear in t); ``E`` under D~_lam; the partner
    ``r`` ranges over the training inputs. Any ``X``.
    """
    check_glm(theta, X)
    m3 = tilted_moment(alpha, beta, 3)
    eta = X @ theta
    D = eta[None, :] - eta[:, None]  # (i, r): eta_r - eta_i
    return float(m3 / 6 * (get_loss(loss).h3(eta)[:, None] * D**3).mean())


def glm_cubic_grad(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> torch.Tensor:
    """Gradient of :func:`glm_cubic`: ``(m3 / 6) mean_{i,r} [A''''(eta_i) D^3 x_i + 3 A'''(eta_i) D^2 (x_r - x_i)]``, ``D = eta_r - eta_i``."""
    check_glm(theta, X)
    m3 = tilted_moment(alpha, beta, 3)
    n = X.shape[0]
    eta = X @ theta
    D = eta[None, :] - eta[:, None]
    lossfn = get_loss(loss)
    a3, a4 = lossfn.h3(eta), lossfn.h4(eta)
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

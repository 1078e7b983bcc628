"""Mixup as data-adaptive regularization for GLMs, and the Rademacher bound (the paper's generalization results;
book: ``prop-glm-regularizer``, ``def-rho-retentive``, ``thm-rademacher``, ``cor-glm-generalization``).

For a GLM ``l(theta, (x, y)) = A(theta^T x) - y theta^T x`` on centred data (``mean_i x_i = 0``),
Lemma 3.1 gives ``R3 = 0`` and

    R1 = -(E[1 - lam] / n) sum_i (A'(x_i^T theta) - y_i) x_i^T theta      (0 at a stationary point of L_std)
    R2 = (E[(1 - lam)^2] / 2n) sum_i A''(x_i^T theta) theta^T (Sigma + x_i x_i^T) theta

with ``Sigma = (1/n) sum_i x_i x_i^T`` and moments under the tilted distribution D~_lam. The leading
data-adaptive penalty is ``(E[(1 - lam)^2] / 2) mean_i A''(x_i^T theta) theta^T Sigma theta``: a ridge
penalty in the metric of the data covariance.

The function class of the theorem is ``W_gamma = {theta : E_x[A''(theta^T x)] theta^T Sigma_X theta <= gamma}``
and, for a rho-retentive input distribution,
``Rad(W_gamma, S) <= max{(gamma/rho)^(1/4), (gamma/rho)^(1/2)} sqrt(rank(Sigma_X) / n)``. The empirical
Rademacher complexity of an ellipsoid ``{theta : theta^T Sigma theta <= q}`` is, per sign vector
``sigma``, ``sqrt(q) sqrt(v^T Sigma^+ v)`` with ``v = (1/n) sum_i sigma_i x_i`` (Cauchy-Schwarz in the
Sigma metric), so only the expectation over ``sigma`` is estimated by Monte Carlo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, special

from ..losses import get_loss
from ..mixing import check_beta_params, is_erm, lambda_moments, sample_tilted_lambda
from ..taylor import Estimate

__all__ = [
    "CENTRED_TOL",
    "glm_R1",
    "glm_R2",
    "covariance_penalty",
    "inverse_lambda_moment",
    "truncated_inverse_lambda_moment",
    "GLMFit",
    "fit_glm",
    "gaussian_curvature",
    "gamma_of",
    "q_of_gamma",
    "estimate_rho",
    "gaussian_rho",
    "rademacher_ellipsoid",
    "rademacher_ellipsoid_exact",
    "rademacher_bound",
    "loglog_slope",
]

#: Data count as centred when every coordinate's mean is below this times the largest coordinate scale.
CENTRED_TOL = 1e-10


# --- the GLM regularizers of Lemma 3.1 ----------------------------------------------------------------


def _check_glm(theta: torch.Tensor, X: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D tensor (n, d), got {getattr(X, 'shape', type(X))}")
    if not isinstance(theta, torch.Tensor) or theta.shape != (X.shape[1],):
        raise ValueError(f"theta must have shape ({X.shape[1]},), got {getattr(theta, 'shape', type(theta))}")


def _check_centred(X: torch.Tensor) -> None:
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
    _check_glm(theta, X)
    _check_centred(X)
    m1, _ = lambda_moments(alpha, beta)
    eta = X @ theta
    return float(-m1 * ((get_loss(loss).h1(eta) - y.to(eta.dtype)) * eta).mean())


def glm_R2(theta: torch.Tensor, X: torch.Tensor, alpha: float, beta: float, loss: str = "logistic") -> float:
    """``R2 = (E[(1 - lam)^2] / 2n) sum_i A''(x_i^T theta) theta^T (Sigma + x_i x_i^T) theta`` for centred ``X``.

    ``Sigma = X^T X / n``; ``E`` is under D~_lam (Lemma 3.1 with ``f = theta^T x``, ``grad f = theta``).
    """
    _check_glm(theta, X)
    _check_centred(X)
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
    _check_glm(theta, X)
    _check_centred(X)
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


def fit_glm(X: torch.Tensor, y: torch.Tensor, loss: str = "logistic", *, alpha: float = 0.0, beta: float | None = None,
            ridge: float = 0.0, n_mix: int = 16, seed: int = 0, max_iter: int = 100, tol: float = 1e-10) -> GLMFit:
    """Minimise ``(1/N) sum l(theta, z) + (ridge / 2) ||theta||^2`` by damped Newton steps (float64, no bias).

    ``alpha = 0``: the standard loss (ERM, or ridge with ``ridge > 0``). ``alpha > 0``: a sample average of the
    mixup loss in its exact tilted form (Lemma 3.1, step 1): each example keeps its label ``y_i`` and is moved to
    ``lam x_i + (1 - lam) r`` with ``lam ~ D~_lam`` and ``r`` a uniform training input, ``n_mix`` times
    (``seed`` fixes the draws). Its expectation over the draws is the mixup loss of Eq. (1).
    Newton steps use the pseudo-inverse of the Hessian (low-rank data leave the null space at 0) and halve
    until the objective decreases.
    """
    beta = alpha if beta is None else beta
    check_beta_params(alpha, beta)
    if isinstance(n_mix, bool) or not isinstance(n_mix, int) or n_mix < 1:
        raise ValueError(f"n_mix must be a positive integer, got {n_mix!r}")
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    lossfn = get_loss(loss)
    X = X.to(torch.float64)
    y = y.to(torch.float64)
    n, d = X.shape
    if not is_erm(alpha):
        rng = np.random.default_rng(seed)
        lam = torch.as_tensor(sample_tilted_lambda(alpha, beta, (n_mix, n), rng), dtype=X.dtype)
        partner = torch.as_tensor(rng.integers(0, n, size=(n_mix, n)))
        X = (lam[..., None] * X[None] + (1 - lam[..., None]) * X[partner]).reshape(-1, d)
        y = y.repeat(n_mix)
    N = X.shape[0]

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


# --- the function class W_gamma and rho-retentiveness -------------------------------------------------


def gaussian_curvature(q: float | np.ndarray, loss: str = "logistic", points: int = 8001) -> np.ndarray:
    """``kappa(q) = E[A''(eta)]`` for ``eta ~ N(0, q)``: ``E_x[A''(theta^T x)]`` for centred Gaussian x.

    For centred Gaussian inputs ``theta^T x ~ N(0, theta^T Sigma theta)``, so the population constraint of
    ``W_gamma`` depends on ``theta`` only through ``q = theta^T Sigma theta``. Closed forms for the Poisson
    (``e^(q/2)``) and squared (1) losses; for the logistic loss the trapezoid rule in ``z = eta / sqrt(q)`` on
    ``[-14, 14]`` (spectrally accurate for this smooth, fast-decaying integrand; ``points`` nodes).
    """
    q = np.asarray(q, dtype=float)
    if np.any(q < 0):
        raise ValueError("q = theta^T Sigma theta must be >= 0")
    if loss == "poisson":
        return np.exp(q / 2)
    if loss == "squared":
        return np.ones_like(q)
    z = np.linspace(-14.0, 14.0, points)
    w = np.exp(-z**2 / 2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    eta = torch.as_tensor(np.sqrt(q)[..., None] * z, dtype=torch.float64)
    return (get_loss(loss).h2(eta).numpy() * w).sum(axis=-1)


def gamma_of(q: float | np.ndarray, loss: str = "logistic") -> np.ndarray:
    """``gamma(q) = kappa(q) q``: the constraint value of ``W_gamma`` at ``theta^T Sigma theta = q`` (Gaussian x)."""
    return gaussian_curvature(q, loss) * np.asarray(q, dtype=float)


def q_of_gamma(gamma: float, loss: str = "logistic", q_max: float = math.inf) -> float:
    """The largest ``q = theta^T Sigma theta`` in ``W_gamma`` (Gaussian x), capped at ``q_max`` (bounded Theta).

    ``gamma(q)`` is increasing for the logistic and Poisson losses (checked on the bracket), so ``W_gamma`` is
    the ellipsoid ``{theta^T Sigma theta <= q}`` and this is its radius, found by bisection on ``log q``.
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    lo, hi = 1e-12, 1.0
    while gamma_of(hi, loss) < gamma and hi < 1e12:
        hi *= 4
    if gamma_of(hi, loss) < gamma:
        return float(q_max)
    grid = np.geomspace(lo, hi, 200)
    if np.any(np.diff(gamma_of(grid, loss)) <= 0):
        raise ValueError(f"gamma(q) = E[A''] q is not increasing in q for loss {loss!r}; W_gamma is not an ellipsoid")
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if gamma_of(mid, loss) < gamma else (lo, mid)
        if hi / lo < 1 + 1e-12:
            break
    return float(min(math.sqrt(lo * hi), q_max))


def estimate_rho(X: torch.Tensor, loss: str = "logistic", *, q_max: float = 4.0, n_directions: int = 200,
                 n_scales: int = 40, generator: torch.Generator) -> float:
    """Estimate rho-retentiveness: ``min_v E_x[A''(x^T v)] / min{1, E_x[(v^T x)^2]}``, capped at 1/2.

    The expectations are sample means over ``X`` (a large sample of the input distribution); ``v`` ranges over
    ``n_directions`` random directions in the span of ``X``, each at ``n_scales`` lengths with
    ``E[(v^T x)^2]`` log-spaced in ``[1e-3, q_max]``. A bounded parameter set (``q <= q_max``) is needed: for
    the logistic loss ``E[A'']`` tends to 0 as ``q`` grows, so no ``rho > 0`` holds for all ``v``. The
    definition takes ``rho`` in ``(0, 1/2]``. Returns the (optimistic, as a minimum over samples) estimate.
    """
    if not isinstance(generator, torch.Generator):
        raise ValueError("estimate_rho needs an explicit torch.Generator for its directions")
    if not q_max > 0:
        raise ValueError(f"q_max must be > 0, got {q_max}")
    X = X.to(torch.float64)
    coef = torch.randn(n_directions, X.shape[0], generator=generator, dtype=X.dtype)
    dirs = coef @ X  # directions in the span of the inputs
    proj = X @ dirs.T  # (m, n_directions)
    proj = proj / (proj**2).mean(dim=0).sqrt()  # unit E[(v^T x)^2]
    qs = torch.as_tensor(np.geomspace(1e-3, q_max, n_scales), dtype=X.dtype)
    eta = proj[None] * qs.sqrt()[:, None, None]  # (scales, m, directions)
    curv = get_loss(loss).h2(eta).mean(dim=1)
    ratio = curv / torch.clamp(qs, max=1.0)[:, None]
    return float(min(ratio.min().item(), 0.5))


def gaussian_rho(loss: str = "logistic", q_max: float = 4.0) -> float:
    """``rho`` for centred Gaussian inputs and ``theta^T Sigma theta <= q_max``: ``min_q kappa(q) / min{1, q}``, capped at 1/2."""
    qs = np.geomspace(1e-6, q_max, 2000)
    return float(min((gaussian_curvature(qs, loss) / np.minimum(qs, 1.0)).min(), 0.5))


# --- Rademacher complexity -------------------------------------------------------------------------------


def _sup_per_sign(X: torch.Tensor, Sigma: torch.Tensor | None, signs: torch.Tensor) -> torch.Tensor:
    """``sqrt(v^T Sigma^+ v)`` for each row of ``signs``, ``v = (1/n) sum_i sigma_i x_i``."""
    n = X.shape[0]
    V = signs @ X / n
    S = X.T @ X / n if Sigma is None else Sigma.to(X.dtype)
    evals, evecs = torch.linalg.eigh(S)
    keep = evals > evals.max().clamp(min=0) * S.shape[0] * torch.finfo(X.dtype).eps * 10
    W = V @ evecs[:, keep]
    resid = V - W @ evecs[:, keep].T
    if float(resid.norm()) > 1e-8 * (float(V.norm()) + 1e-300):
        raise ValueError("the inputs leave the column space of Sigma, so the sup over {theta^T Sigma theta <= q} "
                         "is infinite; pass the covariance the data were drawn from (or None for X^T X / n)")
    return ((W**2) / evals[keep]).sum(dim=1).sqrt()


def rademacher_ellipsoid(X: torch.Tensor, q: float, *, Sigma: torch.Tensor | None = None, n_draws: int = 2000,
                         generator: torch.Generator) -> Estimate:
    """Empirical Rademacher complexity of ``{x -> theta^T x : theta^T Sigma theta <= q}`` on the sample ``X``.

    ``Rad = E_sigma sup_theta (1/n) sum_i sigma_i theta^T x_i = sqrt(q) E_sigma sqrt(v^T Sigma^+ v)``; the
    expectation over ``n_draws`` sign vectors is Monte Carlo (value and standard error). ``Sigma = None`` uses
    the empirical ``X^T X / n`` (then ``v^T Sigma^+ v = sigma^T P sigma / n``, ``P`` the projection onto the
    column space of ``X``).
    """
    if not q >= 0:
        raise ValueError(f"q must be >= 0, got {q}")
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 2:
        raise ValueError(f"n_draws must be an integer >= 2 (for a standard error), got {n_draws!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("rademacher_ellipsoid needs an explicit torch.Generator for its sign vectors")
    X = X.to(torch.float64)
    signs = torch.randint(0, 2, (n_draws, X.shape[0]), generator=generator).to(X.dtype) * 2 - 1
    vals = math.sqrt(q) * _sup_per_sign(X, Sigma, signs)
    return Estimate(float(vals.mean()), float(vals.std(unbiased=True) / math.sqrt(n_draws)))


def rademacher_ellipsoid_exact(X: torch.Tensor, q: float, *, Sigma: torch.Tensor | None = None) -> float:
    """The same complexity with the expectation over all ``2^n`` sign vectors (only for ``n <= 16``)."""
    n = X.shape[0]
    if n > 16:
        raise ValueError(f"exact enumeration needs n <= 16, got {n}")
    codes = torch.arange(2**n)[:, None]
    signs = ((codes >> torch.arange(n)) & 1).to(torch.float64) * 2 - 1
    return float(math.sqrt(q) * _sup_per_sign(X.to(torch.float64), Sigma, signs).mean())


def rademacher_bound(gamma: float | np.ndarray, rho: float, rank: int | np.ndarray, n: int) -> np.ndarray:
    """The theorem's bound ``max{(gamma/rho)^(1/4), (gamma/rho)^(1/2)} sqrt(rank / n)``.

    From ``rho min{1, q} q <= gamma``: ``q <= max{(gamma/rho)^(1/2), gamma/rho}``, and
    ``Rad({theta^T Sigma theta <= q}) <= sqrt(q rank / n)`` (Jensen on ``E sqrt(sigma^T P sigma)``).
    """
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    ratio = np.asarray(gamma, dtype=float) / rho
    return np.maximum(ratio**0.25, ratio**0.5) * np.sqrt(np.asarray(rank, dtype=float) / n)


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the exponent of a power law)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("loglog_slope needs two equal-length arrays of >= 2 positive values")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])

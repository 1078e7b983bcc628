"""The function class ``W_gamma`` of the paper's generalization theorem and its empirical Rademacher complexity
(paper, Section 3.2; book: ``def-rho-retentive``, ``thm-rademacher``).

``W_gamma = {theta : E_x[A''(theta^T x)] theta^T Sigma theta <= gamma}`` (and ``theta^T Sigma theta <= q_max``, the
bounded parameter set that rho-retentiveness needs). For a rho-retentive input distribution the theorem states
``Rad(W_gamma, S) <= max{(gamma/rho)^(1/4), (gamma/rho)^(1/2)} sqrt(rank(Sigma_X) / n)``
(:func:`rademacher_bound`; the statement is recalled, digest 2.5).

The empirical Rademacher complexity is measured directly. For a sign vector ``sigma`` and
``v = (1/n) sum_i sigma_i x_i`` the supremum ``sup_{theta in W_gamma} theta^T v`` is found direction by direction,
without rho or Jensen: along a direction ``u`` the admissible scales are the ``t`` with
``c_u(t) = E[A''(t u^T x)] t^2 u^T Sigma u <= gamma``, and the best one is the largest, ``t(u)``, so the supremum is
``max_u t(u) u^T v``, maximised by projected gradient ascent on the unit sphere from several starts. Writing
``q = t^2 u^T Sigma u`` and ``s = u^T x / sqrt(u^T Sigma u)``, ``c_u = q E[A''(sqrt(q) s)] =: G_u(q)``; the largest
admissible ``q`` is found by a log-spaced scan of ``q`` and bisection of the last crossing, which does not assume
that ``G_u`` is increasing.

Two expectations (say which one a result uses):

- ``"gaussian"``: the population, for centred Gaussian inputs with covariance ``Sigma`` (the theorem's class for
  the synthetic data): ``E[A''(theta^T x)] = kappa(theta^T Sigma theta)`` depends on ``q`` only, so ``t(u)^2
  u^T Sigma u = q*`` for every ``u``, the class is the ellipsoid ``{theta^T Sigma theta <= q*}`` and the supremum has
  the closed form ``sqrt(q*) sqrt(v^T Sigma^+ v)`` (Cauchy-Schwarz; the independent check of the maximisation).
- ``"sample"``: the mean over a reference sample (the training sample itself for the empirical class, with
  ``Sigma = X^T X / n``; a large independent sample for a population without closed form). The class is then no
  ellipsoid; the value found is a lower bound on each supremum and ``sqrt(Q) sqrt(v^T Sigma^+ v)`` an upper bound,
  with ``Q >= max_u q*(u)`` from a Jensen lower bound on ``G_u`` (see :func:`q_upper_bound`).

Fixed sample against resampled samples: the proof's last step, ``E_sigma sqrt(v^T Sigma^+ v) <=
sqrt(tr(Sigma^+ Sigma_n) / n)`` (Jensen over sigma), gives ``sqrt(rank / n)`` only in expectation over the sample
``S`` (``E_S tr(Sigma^+ Sigma_n) = rank``, or ``rank (n - 1) / n`` for a centred sample); a fixed ``S`` can exceed it
(:func:`resampled_rademacher`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy import stats as _st

from ..data.synthetic import low_rank_glm_data
from ..losses import get_loss
from ..taylor import Estimate

__all__ = ["gaussian_curvature", "gamma_of", "q_of_gamma", "estimate_rho", "gaussian_rho", "rademacher_bound",
           "sign_vectors", "eig_range", "roundoff_rtol", "ellipsoid_sup", "ellipsoid_rademacher", "ellipsoid_rademacher_exact",
           "largest_admissible_q", "admissible_scale", "q_upper_bound", "DirectRademacher", "direct_rademacher",
           "ResampledRademacher", "resampled_rademacher", "sample_seeds"]

#: Points of the log-spaced scan for the largest admissible q, and bisection steps after it.
Q_GRID = 49
Q_BISECT = 48
#: The scan starts at this fraction of its top when no admissible lower end is known.
Q_FLOOR = 1e-12


def sign_vectors(n_draws: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n_draws`` Rademacher sign vectors of length ``n`` (float64 rows of +-1) from an explicit generator."""
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 2:
        raise ValueError(f"n_draws must be an integer >= 2 (for a standard error), got {n_draws!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("the sign vectors need an explicit torch.Generator")
    return torch.randint(0, 2, (n_draws, n), generator=generator).to(torch.float64) * 2 - 1


def _estimate(vals: torch.Tensor) -> Estimate:
    return Estimate(float(vals.mean()), float(vals.std(unbiased=True) / math.sqrt(vals.numel())))


# --- the class W_gamma for Gaussian inputs, and rho-retentiveness -------------------------------------------------


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
    """The radius ``q*`` of ``W_gamma`` for centred Gaussian inputs: the largest ``q <= q_max`` with ``gamma(q) <= gamma``.

    For Gaussian inputs ``W_gamma`` (with ``theta^T Sigma theta <= q_max``) is the ellipsoid
    ``{theta^T Sigma theta <= q*}``. Found by :func:`largest_admissible_q` (a scan and bisection of the last
    crossing; no monotonicity of ``gamma(q)`` assumed). Refuses a class that is unbounded (``gamma(q)`` below
    ``gamma`` up to ``q = 1e12``) unless ``q_max`` is finite.
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if not q_max > 0:
        raise ValueError(f"q_max must be > 0 (or inf), got {q_max}")
    G = lambda q: torch.as_tensor(gamma_of(q.numpy(), loss), dtype=torch.float64)  # noqa: E731
    hi = q_max
    if not math.isfinite(hi):
        hi = 1.0
        while float(G(torch.tensor([hi], dtype=torch.float64))[0]) <= gamma:
            hi *= 4
            if hi > 1e12:
                raise ValueError(f"kappa(q) q stays below gamma = {gamma:g} up to q = 1e12: W_gamma is unbounded "
                                 "for this loss; pass a finite q_max")
    return float(largest_admissible_q(G, gamma, Q_FLOOR * hi, hi, 1)[0])


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


def rademacher_bound(gamma: float | np.ndarray, rho: float, rank: int | np.ndarray, n: int) -> np.ndarray:
    """The theorem's bound ``max{(gamma/rho)^(1/4), (gamma/rho)^(1/2)} sqrt(rank / n)``.

    From ``rho min{1, q} q <= gamma``: ``q <= max{(gamma/rho)^(1/2), gamma/rho}``, and
    ``Rad({theta^T Sigma theta <= q}) <= sqrt(q rank / n)`` (Jensen on ``E sqrt(sigma^T P sigma)``, in expectation
    over the sample).
    """
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    ratio = np.asarray(gamma, dtype=float) / rho
    return np.maximum(ratio**0.25, ratio**0.5) * np.sqrt(np.asarray(rank, dtype=float) / n)


# --- the ellipsoid {theta^T Sigma theta <= q}: the supremum in closed form ------------------------------------------


def eig_range(Sigma: torch.Tensor, rtol: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and eigenvectors of the symmetric ``Sigma`` above ``rtol`` times the largest.

    ``rtol=None``: the roundoff level ``10 p eps`` (``p`` the size of ``Sigma``, ``eps`` float64's).
    """
    if not isinstance(Sigma, torch.Tensor) or Sigma.ndim != 2 or Sigma.shape[0] != Sigma.shape[1]:
        raise ValueError(f"Sigma must be a square 2-D tensor, got {getattr(Sigma, 'shape', type(Sigma))}")
    evals, evecs = torch.linalg.eigh(Sigma.to(torch.float64))
    tol = roundoff_rtol(Sigma.shape[0]) if rtol is None else rtol
    keep = evals > evals.max().clamp(min=0) * tol
    return evals[keep], evecs[:, keep]


def roundoff_rtol(p: int) -> float:
    """The relative eigenvalue tolerance ``10 p eps`` below which a ``p x p`` covariance is rank deficient to float64."""
    return p * torch.finfo(torch.float64).eps * 10


def ellipsoid_sup(V: torch.Tensor, Sigma: torch.Tensor, *, rtol: float | None = None,
                  outside: str = "raise") -> torch.Tensor:
    """``sqrt(v^T Sigma^+ v)`` per row ``v`` of ``V``: ``sup {theta^T v : theta^T Sigma theta <= 1}`` (Cauchy-Schwarz).

    ``Sigma^+`` keeps the eigenvalues above ``rtol`` times the largest (default: roundoff level). A ``v`` with a
    component outside the kept eigenspace has an infinite supremum: ``outside="raise"`` refuses it,
    ``outside="drop"`` returns the supremum over the class restricted to the kept eigenspace (a lower bound).
    """
    if outside not in ("raise", "drop"):
        raise ValueError(f"outside must be 'raise' or 'drop', got {outside!r}")
    evals, evecs = eig_range(Sigma, rtol)
    V = V.to(torch.float64)
    W = V @ evecs
    if outside == "raise":
        resid = V - W @ evecs.T
        if float(resid.norm()) > 1e-8 * (float(V.norm()) + 1e-300):
            raise ValueError("v leaves the range of Sigma, so the supremum over {theta^T Sigma theta <= q} is infinite; "
                             "pass the covariance the data were drawn from, or outside='drop'")
    return ((W**2) / evals).sum(dim=1).sqrt()


def ellipsoid_rademacher(X: torch.Tensor, q: float, *, Sigma: torch.Tensor | None = None, rtol: float | None = None,
                         outside: str = "raise", n_draws: int = 2000, generator: torch.Generator) -> Estimate:
    """Empirical Rademacher complexity of ``{x -> theta^T x : theta^T Sigma theta <= q}`` on the sample ``X`` (n, p).

    ``Rad = E_sigma sup_theta (1/n) sum_i sigma_i theta^T x_i = sqrt(q) E_sigma sqrt(v^T Sigma^+ v)``: the supremum
    in closed form per sign vector, the expectation over ``n_draws`` sign vectors by Monte Carlo (value and
    standard error). ``Sigma = None`` uses the sample's ``X^T X / n`` (then ``v^T Sigma^+ v = sigma^T P sigma / n``,
    ``P`` the projection onto the column space of ``X``). ``rtol``, ``outside``: as in :func:`ellipsoid_sup`.
    """
    if not q >= 0:
        raise ValueError(f"q must be >= 0, got {q}")
    X = X.to(torch.float64)
    n = X.shape[0]
    V = sign_vectors(n_draws, n, generator) @ X / n
    S = X.T @ X / n if Sigma is None else Sigma
    return _estimate(math.sqrt(q) * ellipsoid_sup(V, S, rtol=rtol, outside=outside))


def ellipsoid_rademacher_exact(X: torch.Tensor, q: float, *, Sigma: torch.Tensor | None = None) -> float:
    """The same complexity with the expectation over all ``2^n`` sign vectors (only for ``n <= 16``)."""
    n = X.shape[0]
    if n > 16:
        raise ValueError(f"exact enumeration needs n <= 16, got {n}")
    codes = torch.arange(2**n)[:, None]
    signs = ((codes >> torch.arange(n)) & 1).to(torch.float64) * 2 - 1
    X = X.to(torch.float64)
    S = X.T @ X / n if Sigma is None else Sigma
    return float(math.sqrt(q) * ellipsoid_sup(signs @ X / n, S).mean())


# --- the largest admissible scale along a direction ---------------------------------------------------------------


def largest_admissible_q(G: Callable[[torch.Tensor], torch.Tensor], gamma: float, q_lo: float, q_hi: float,
                         batch: int) -> torch.Tensor:
    """Per row, the largest ``q`` in ``[q_lo, q_hi]`` with ``G(q) <= gamma`` (``q_lo`` must be admissible for all rows).

    ``G`` maps a (batch,) tensor of ``q`` to (batch,) constraint values. A log-spaced scan of ``Q_GRID`` points
    finds the last admissible point, then ``Q_BISECT`` bisections in ``log q`` between it and the next point. The
    returned ``q`` is admissible (the lower end of the final bracket). No monotonicity of ``G`` is assumed; a
    crossing narrower than the scan's spacing can be missed.
    """
    if not 0 < q_lo <= q_hi < math.inf:
        raise ValueError(f"need 0 < q_lo <= q_hi < inf, got [{q_lo}, {q_hi}]")
    grid = torch.logspace(math.log10(q_lo), math.log10(q_hi), Q_GRID, dtype=torch.float64)
    ok = torch.stack([G(torch.full((batch,), float(g), dtype=torch.float64)) <= gamma for g in grid], dim=1)
    if not bool(ok[:, 0].all()):
        raise ValueError(f"q_lo = {q_lo:.3g} is not admissible for every direction (G(q_lo) > gamma = {gamma:g})")
    last = Q_GRID - 1 - torch.argmax(ok.flip(1).to(torch.int8), dim=1)
    lo = grid[last]
    hi = grid[torch.clamp(last + 1, max=Q_GRID - 1)]
    for _ in range(Q_BISECT):
        mid = torch.sqrt(lo * hi)
        fine = G(mid) <= gamma
        lo, hi = torch.where(fine, mid, lo), torch.where(fine, hi, mid)
    return torch.where(last == Q_GRID - 1, torch.full_like(lo, q_hi), lo)


def _sample_G(S: torch.Tensor, loss: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``G(q) = q mean_j A''(sqrt(q) s_j)`` per row of the normalised projections ``S`` (rows: directions)."""
    h2 = get_loss(loss).h2
    return lambda q: q * h2(q.sqrt()[:, None] * S).mean(dim=1)


def _check_class(gamma: float, loss: str, q_max: float, expectation: str) -> None:
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    get_loss(loss)
    if not q_max > 0:
        raise ValueError(f"q_max must be > 0 (or inf), got {q_max}")
    if expectation not in ("gaussian", "sample"):
        raise ValueError(f"expectation must be 'gaussian' (population) or 'sample' (a reference sample), got {expectation!r}")
    if expectation == "sample" and loss != "squared" and not math.isfinite(q_max):
        raise ValueError("with expectation='sample' the largest admissible q must be sought on a bounded range: pass a "
                         "finite q_max (for the logistic loss the sample constraint falls again at large q, where "
                         "the class is unbounded)")


def admissible_scale(u: torch.Tensor, gamma: float, loss: str = "logistic", *, Sigma: torch.Tensor,
                     expectation: str = "gaussian", reference: torch.Tensor | None = None,
                     q_max: float = math.inf) -> torch.Tensor:
    """``t(u)``: the largest ``t`` with ``E[A''(t u^T x)] t^2 u^T Sigma u <= gamma`` and ``t^2 u^T Sigma u <= q_max``.

    ``u`` (p,) or (k, p) directions with ``u^T Sigma u > 0``. ``expectation="gaussian"``: ``E`` for ``x ~ N(0, Sigma)``;
    ``"sample"``: the mean over the rows of ``reference``.
    """
    _check_class(gamma, loss, q_max, expectation)
    U = u.to(torch.float64).reshape(-1, u.shape[-1])
    quad = torch.einsum("kp,pq,kq->k", U, Sigma.to(torch.float64), U)
    if bool((quad <= 0).any()):
        raise ValueError("every direction needs u^T Sigma u > 0 (a direction in the null space of Sigma is unconstrained)")
    if loss == "squared":
        q = torch.full_like(quad, min(gamma, q_max))
    elif expectation == "gaussian":
        q = torch.full_like(quad, q_of_gamma(gamma, loss, q_max))
    else:
        if reference is None:
            raise ValueError("expectation='sample' needs a reference sample (rows: inputs)")
        S = (U @ reference.to(torch.float64).T) / quad.sqrt()[:, None]
        q = largest_admissible_q(_sample_G(S, loss), gamma, Q_FLOOR * q_max, q_max, U.shape[0])
    t = (q / quad).sqrt()
    return t.reshape(u.shape[:-1])


def q_upper_bound(gamma: float, loss: str, q_max: float, *, m2_max: float = 1.0, mean_norm: float = 0.0) -> float:
    """An upper bound ``Q >= max_u q*(u)`` for the class with sample expectations, from a Jensen lower bound on ``G_u``.

    With ``s_j = u^T z_j`` for whitened reference points ``z_j`` and ``|u| = 1``: ``mean_j s_j^2 <= m2_max`` (the largest
    eigenvalue of ``mean_j z_j z_j^T``; 1 when ``Sigma`` is the reference's own second moment) and
    ``|mean_j s_j| <= mean_norm = |mean_j z_j|``.

    - logistic: ``w -> A''(sqrt(w))`` is convex and decreasing (``A''(s) = 1/(4 cosh^2(s/2))``; ``A'''(s)/s`` increases),
      so ``mean_j A''(sqrt(q) s_j) >= A''(sqrt(q m2_max))`` and ``G_u(q) >= q A''(sqrt(q m2_max))``;
    - Poisson: ``mean_j e^{sqrt(q) s_j} >= e^{sqrt(q) mean_j s_j} >= e^{-sqrt(q) mean_norm}``;
    - squared: ``G_u(q) = q``.

    ``Q`` is the largest ``q <= q_max`` at which the lower bound is ``<= gamma``. For the logistic loss the lower
    bound falls again at large ``q`` (``q A''(sqrt q) -> 0``), so ``Q = q_max`` unless ``gamma`` is small next to
    ``q_max A''(sqrt(q_max m2_max))``: the bound is tight for small ``gamma`` and vacuous (``q_max``) otherwise.
    """
    _check_class(gamma, loss, q_max, "sample")
    if loss == "squared":
        return float(min(gamma, q_max))
    if loss == "logistic":
        h2 = get_loss("logistic").h2
        G = lambda q: q * h2((q * m2_max).sqrt())  # noqa: E731
    else:
        G = lambda q: q * torch.exp(-q.sqrt() * mean_norm)  # noqa: E731
    return float(largest_admissible_q(G, gamma, Q_FLOOR * q_max, q_max, 1)[0])


# --- the direct supremum per sign vector --------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectRademacher:
    """The directly maximised complexity of ``W_gamma`` on one sample.

    ``lower``: mean over sign vectors of the best ``t(u) u^T v`` found (each a lower bound on its supremum), with
    the Monte Carlo standard error over sign vectors. ``upper``: mean of the per-sign upper bounds
    ``sqrt(q_bar) sqrt(v^T Sigma^+ v)``. ``closed_form``: the same mean when the class is an ellipsoid (then
    ``upper`` is exact and equals it). ``max_rel_gap``: the largest ``(upper - lower) / upper`` over sign vectors,
    the optimisation gap that is bounded. ``q_found``: (min, max) of ``q*(u)`` at the maximisers found.
    ``q_hat``: the largest ``q*(u)`` found by maximising ``q*(u)`` itself over directions (ascent from ``q_restarts``
    starts), and ``upper_estimate`` / ``max_rel_gap_estimate`` the same with ``q_hat`` in place of ``q_bar``: an
    estimate, not a bound (``q_hat <= max_u q*(u) <= q_bar``), informative where ``q_bar`` is vacuous.
    """

    lower: Estimate
    upper: Estimate
    closed_form: Estimate | None
    max_rel_gap: float
    q_bar: float
    q_found: tuple[float, float]
    q_hat: float
    upper_estimate: Estimate
    max_rel_gap_estimate: float
    expectation: str
    n_draws: int
    restarts: int
    steps: int


def direct_rademacher(X: torch.Tensor, gamma: float, loss: str = "logistic", *, Sigma: torch.Tensor | None = None,
                      expectation: str = "gaussian", reference: torch.Tensor | None = None, q_max: float = math.inf,
                      n_draws: int = 200, restarts: int = 4, steps: int = 40, warm_start: bool = True,
                      q_restarts: int = 64, generator: torch.Generator) -> DirectRademacher:
    """``E_sigma sup_{theta in W_gamma} (1/n) sum_i sigma_i theta^T x_i`` maximised direction by direction.

    Args:
        X: the sample (n, p). ``Sigma``: the matrix of ``theta^T Sigma theta`` (default the sample's ``X^T X / n``).
        expectation: ``"gaussian"`` (population, ``x ~ N(0, Sigma)``) or ``"sample"`` (mean over ``reference``,
            default ``X``).
        q_max: the bound on ``theta^T Sigma theta`` (bounded parameter set); finite for ``"sample"``.
        n_draws: sign vectors (Monte Carlo over sigma). ``restarts``: starting directions per sign vector: random
            unit vectors, the first replaced by the ellipsoid's maximiser ``Sigma^+ v`` when ``warm_start``.
        steps: projected gradient-ascent steps on the unit sphere in the ``Sigma``-whitened coordinates (a choice
            for conditioning); the gradient of ``q*(u)`` comes from the implicit function theorem on ``G_u(q) = gamma``.
    """
    _check_class(gamma, loss, q_max, expectation)
    X = X.to(torch.float64)
    n = X.shape[0]
    Sigma = X.T @ X / n if Sigma is None else Sigma.to(torch.float64)
    evals, evecs = eig_range(Sigma)
    whiten = evecs / evals.sqrt()  # u = whiten @ w has u^T Sigma u = |w|^2
    signs = sign_vectors(n_draws, n, generator)
    V = signs @ X / n
    ellipsoid = ellipsoid_sup(V, Sigma)  # refuses a v outside the range of Sigma (infinite supremum)
    b = V @ whiten  # (K, k): u^T v = w^T b, |b| = sqrt(v^T Sigma^+ v)
    K, k = b.shape
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
    w = torch.randn(K, restarts, k, generator=generator, dtype=torch.float64)
    if warm_start:
        w[:, 0] = b
    w = w / w.norm(dim=2, keepdim=True)
    bb = b[:, None, :].expand(K, restarts, k).reshape(-1, k)
    w = w.reshape(-1, k)

    q_star, q_bar = _q_star_function(X if reference is None else reference.to(torch.float64), whiten, gamma, loss,
                                     q_max, expectation)

    def value(wd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, dq = q_star(wd)
        wb = (wd * bb).sum(dim=1)
        f = q.sqrt() * wb
        g = q.sqrt()[:, None] * bb + (wb / (2 * q.sqrt()))[:, None] * dq
        return f, g, q

    w, (f, _, q) = _sphere_ascent(value, w, steps)
    best = f.reshape(K, restarts).max(dim=1)
    q_at = q.reshape(K, restarts).gather(1, best.indices[:, None])[:, 0]
    lower = best.values
    upper = math.sqrt(q_bar) * ellipsoid
    closed = math.sqrt(q_bar) * ellipsoid if (loss == "squared" or expectation == "gaussian") else None

    # max_u q*(u) by the same ascent on q* itself, from random starts and from the maximisers found above
    wq = torch.cat([torch.randn(q_restarts, k, generator=generator, dtype=torch.float64), w])
    wq = wq / wq.norm(dim=1, keepdim=True)
    _, (qv, _) = _sphere_ascent(q_star, wq, steps)
    q_hat = float(qv.max())
    upper_est = math.sqrt(q_hat) * ellipsoid
    return DirectRademacher(
        lower=_estimate(lower), upper=_estimate(upper), closed_form=None if closed is None else _estimate(closed),
        max_rel_gap=float(((upper - lower) / upper).max()), q_bar=float(q_bar),
        q_found=(float(q_at.min()), float(q_at.max())), q_hat=q_hat, upper_estimate=_estimate(upper_est),
        max_rel_gap_estimate=float(((upper_est - lower) / upper_est).max()), expectation=expectation,
        n_draws=n_draws, restarts=restarts, steps=steps,
    )


def _q_star_function(Z_ref: torch.Tensor, whiten: torch.Tensor, gamma: float, loss: str, q_max: float,
                     expectation: str) -> tuple[Callable, float]:
    """``w -> (q*(w), its gradient in w)`` for whitened directions ``w``, and an upper bound ``q_bar`` on q*.

    q*(w) is the largest admissible ``theta^T Sigma theta`` along ``u = whiten @ w``: a constant for the squared loss
    and for the population (Gaussian) expectation, a scan over the reference points for ``"sample"``.
    """
    if loss == "squared" or expectation == "gaussian":
        q_const = min(gamma, q_max) if loss == "squared" else q_of_gamma(gamma, loss, q_max)

        def constant(wd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.full((wd.shape[0],), q_const, dtype=torch.float64), wd.new_zeros(wd.shape)
        return constant, q_const
    Z = Z_ref @ whiten  # whitened reference points
    m2_max = float(torch.linalg.eigvalsh(Z.T @ Z / Z.shape[0]).max())
    q_bar = q_upper_bound(gamma, loss, q_max, m2_max=m2_max, mean_norm=float(Z.mean(dim=0).norm()))
    h2, h3 = get_loss(loss).h2, get_loss(loss).h3
    # every q with q max_j A''(sqrt(q) |z_j|) <= gamma is admissible in every direction: the scan's lower end
    zmax = float(Z.norm(dim=1).max())
    lo_G = (lambda q: q / 4) if loss == "logistic" else (lambda q: q * torch.exp(q.sqrt() * zmax))
    q_lo = float(largest_admissible_q(lo_G, gamma, Q_FLOOR * q_bar, q_bar, 1)[0])

    def q_star(wd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q*(w) and its gradient in w (implicit function theorem; 0 where the cap q_max binds)."""
        S = wd @ Z.T
        q = largest_admissible_q(_sample_G(S, loss), gamma, q_lo, q_bar, wd.shape[0])
        s = q.sqrt()[:, None] * S
        dG_dq = (h2(s) + s / 2 * h3(s)).mean(dim=1)
        dG_dw = (q * q.sqrt())[:, None] * (h3(s) @ Z) / Z.shape[0]
        interior = (q < q_max) & (dG_dq > 0)
        grad = torch.where(interior[:, None], -dG_dw / dG_dq.clamp(min=1e-300)[:, None], torch.zeros_like(dG_dw))
        return q, grad
    return q_star, q_bar


def _sphere_ascent(objective: Callable, w: torch.Tensor, steps: int) -> tuple[torch.Tensor, tuple]:
    """Projected gradient ascent of each row of ``w`` on the unit sphere, with a step per row (an angle, so the
    ascent is scale-free) that grows by 1.5 when a step raises the objective and halves otherwise.

    ``objective(w)`` returns ``(value, gradient, *extras)``, one row each; returns the final ``w`` and the
    objective's outputs there.
    """
    out = objective(w)
    step = torch.full((w.shape[0],), 0.5, dtype=torch.float64)
    for _ in range(steps):
        g = out[1]
        gt = g - (g * w).sum(dim=1, keepdim=True) * w  # tangent to the sphere
        trial = w + step[:, None] * gt / gt.norm(dim=1, keepdim=True).clamp(min=1e-300)
        trial = trial / trial.norm(dim=1, keepdim=True)
        new = objective(trial)
        better = new[0] > out[0]
        w = torch.where(better[:, None], trial, w)
        out = tuple(torch.where(better if new_i.dim() == 1 else better[:, None], new_i, old_i)
                    for new_i, old_i in zip(new, out))
        step = torch.where(better, step * 1.5, step / 2)
    return w, out


# --- a fixed sample against resampled samples -----------------------------------------------------------------------


def sample_seeds(seed: int, n_samples: int) -> list[int]:
    """The data seeds of the ``n_samples`` samples of :func:`resampled_rademacher` (sample ``k`` is reproducible alone)."""
    return [int(s) for s in np.random.SeedSequence([seed, 1]).generate_state(n_samples)]


@dataclass(frozen=True)
class ResampledRademacher:
    """The population-Gaussian class on ``K`` samples ``S_k``, at each ``gamma`` of a grid (``G`` values).

    ``base``, ``base_se`` (K,): per sample, the Monte Carlo mean over sign vectors of ``sqrt(v^T Sigma^+ v)`` and its
    standard error, so ``Rad(W_gamma, S_k) = sqrt(q*(gamma)) base_k`` (:attr:`rad`, (G, K)). ``trace_ratio`` (K,):
    ``tr(Sigma^+ Sigma_n) / rank`` (the fixed-sample Jensen value is ``sqrt(q* rank trace_ratio / n)``);
    ``jensen`` (G,): ``sqrt(q* rank / n)``; ``bound`` (G,): the theorem's bound with the exact Gaussian ``rho``;
    ``p_trace_above_1``: the exact ``P(tr(Sigma^+ Sigma_n) > rank) = P(chi2_{rank (n-1)} > rank n)`` (centred samples).
    """

    n: int
    d: int
    rank: int
    loss: str
    gammas: np.ndarray
    q_star: np.ndarray
    rho: float
    bound: np.ndarray
    jensen: np.ndarray
    base: np.ndarray
    base_se: np.ndarray
    trace_ratio: np.ndarray
    p_trace_above_1: float
    seeds: tuple[int, ...]

    @property
    def rad(self) -> np.ndarray:
        """``Rad(W_gamma, S_k)`` per gamma (rows) and sample (columns)."""
        return np.sqrt(self.q_star)[:, None] * self.base[None, :]

    @property
    def rad_se(self) -> np.ndarray:
        """Its Monte Carlo standard error over sign vectors, (G, K)."""
        return np.sqrt(self.q_star)[:, None] * self.base_se[None, :]


def resampled_rademacher(n: int, d: int, rank: int, gammas, loss: str = "logistic", *, q_max: float = math.inf,
                         n_samples: int = 50, n_draws: int = 2000, seed: int = 0) -> ResampledRademacher:
    """The population-Gaussian class's complexity on ``n_samples`` samples of ``low_rank_glm_data(n, d, rank)``.

    Sample ``k`` is ``low_rank_glm_data(..., seed=sample_seeds(seed, n_samples)[k])`` (centred by its mean, as in the
    chapters); sign vectors from one generator seeded from ``seed``. The supremum per sign vector is the closed form
    ``sqrt(q*) sqrt(v^T Sigma^+ v)``, which :func:`direct_rademacher` checks; the sign vectors are shared by all
    ``gammas`` (a float or a sequence).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    gammas = np.atleast_1d(np.asarray(gammas, dtype=float))
    q_star = np.array([q_of_gamma(g, loss, q_max) for g in gammas])
    rho = gaussian_rho(loss, q_max)
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 0]).generate_state(1)[0]))
    base, se, tr = np.zeros(n_samples), np.zeros(n_samples), np.zeros(n_samples)
    seeds = sample_seeds(seed, n_samples)
    for k in range(n_samples):
        ds = low_rank_glm_data(n, d, rank, loss, n_test=1, seed=seeds[k])
        sup = ellipsoid_sup(sign_vectors(n_draws, n, gen) @ ds.X / n, ds.Sigma)
        base[k], se[k] = float(sup.mean()), float(sup.std(unbiased=True) / math.sqrt(n_draws))
        tr[k] = float(torch.trace(torch.linalg.pinv(ds.Sigma, hermitian=True) @ (ds.X.T @ ds.X / n))) / rank
    return ResampledRademacher(
        n=n, d=d, rank=rank, loss=loss, gammas=gammas, q_star=q_star, rho=float(rho),
        bound=rademacher_bound(gammas, rho, rank, n), jensen=np.sqrt(q_star * rank / n), base=base, base_se=se,
        trace_ratio=tr, p_trace_above_1=float(_st.chi2.sf(rank * n, rank * (n - 1))), seeds=tuple(seeds),
    )

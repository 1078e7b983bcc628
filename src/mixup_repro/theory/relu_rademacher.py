"""The hidden-feature class of a two-layer ReLU network and its empirical Rademacher complexity (the paper's
non-linear case as reconstructed in the digest, Section 2.5: **not verified** against the paper).

The network is ``f(x) = theta^T relu(W x)`` with the first layer ``W`` fixed; with ``h = relu(W x)`` and
``Sigma_h = E[h h^T]`` the class is ``{theta : E[A''(theta^T h)] theta^T Sigma_h theta <= gamma}``. For the squared
loss (``A'' = 1``) it is the ellipsoid ``{theta^T Sigma_h theta <= gamma}``, whose complexity on a sample is
``sqrt(gamma) E_sigma sqrt(v_h^T Sigma_h^+ v_h)`` with ``v_h = (1/n) sum_i sigma_i h_i``
(:func:`~mixup_repro.theory.rademacher.ellipsoid_sup`), against the reconstructed bound
``sqrt(gamma rank(Sigma_h) / n)``. For Gaussian inputs ``Sigma_h`` is the degree-1 arc-cosine kernel (exact,
float64), so the population class is known exactly (inputs from :func:`~mixup_repro.data.relu_features.relu_feature_data`).

Which rank: for inputs of rank 1, ``relu(a_k z)`` lies in the span of ``relu(z)`` and ``relu(-z)`` (rank 2); for
inputs of rank >= 2 the features of pairwise non-parallel rows of ``A`` are linearly independent functions, so
``Sigma_h`` (their Gram matrix) has full rank, the width, however small its smallest eigenvalues. A numerical rank
at a relative tolerance counts only the eigenvalues above it; :func:`hidden_class_complexity` measures the class
restricted to those directions too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..data.relu_features import relu_feature_data, resample
from .rademacher import eig_range, roundoff_rtol, sign_vectors

__all__ = ["relu_second_moment", "relu_second_moment_mc", "SpectrumSummary", "spectrum_summary",
           "HiddenClassComplexity", "hidden_class_complexity"]


def relu_second_moment(A: torch.Tensor) -> torch.Tensor:
    """``E[relu(a_k^T z) relu(a_l^T z)]`` for ``z ~ N(0, I)``: the degree-1 arc-cosine kernel (Cho and Saul, 2009).

    ``|a_k| |a_l| (sin phi + (pi - phi) cos phi) / (2 pi)`` with ``phi`` the angle between ``a_k`` and ``a_l``; rows of
    ``A`` (width, rank) are the first-layer weights seen from the latent ``z``.
    """
    A = A.to(torch.float64)
    norms = A.norm(dim=1)
    if bool((norms == 0).any()):
        raise ValueError("a zero row of A gives a feature that is identically 0")
    cos = ((A @ A.T) / (norms[:, None] * norms[None, :])).clamp(-1.0, 1.0)
    phi = torch.arccos(cos)
    return norms[:, None] * norms[None, :] * (torch.sin(phi) + (math.pi - phi) * cos) / (2 * math.pi)


def relu_second_moment_mc(A: torch.Tensor, n_draws: int, *, generator: torch.Generator,
                          chunk: int = 50_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo of ``E[h h^T]``, ``h = relu(A z)``, ``z ~ N(0, I)``: the mean over ``n_draws`` draws and its
    standard error per entry (float64, accumulated over chunks of ``chunk`` draws)."""
    if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 2:
        raise ValueError(f"n_draws must be an integer >= 2, got {n_draws!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("relu_second_moment_mc needs an explicit torch.Generator")
    A = A.to(torch.float64)
    m = A.shape[0]
    s1, s2 = torch.zeros(m, m, dtype=A.dtype), torch.zeros(m, m, dtype=A.dtype)
    for start in range(0, n_draws, chunk):
        k = min(chunk, n_draws - start)
        H = torch.relu(torch.randn(k, A.shape[1], generator=generator, dtype=A.dtype) @ A.T)
        s1 += H.T @ H
        s2 += (H * H).T @ (H * H)
    mean = s1 / n_draws
    var = (s2 / n_draws - mean**2) * n_draws / (n_draws - 1)
    return mean, (var.clamp(min=0) / n_draws).sqrt()


@dataclass(frozen=True)
class SpectrumSummary:
    """The spectrum of a covariance: numerical ranks at relative tolerances, the rank at the roundoff tolerance
    (:func:`~mixup_repro.theory.rademacher.roundoff_rtol`), the smallest eigenvalue relative to the largest, the
    stable rank ``tr / lambda_max`` and the entropy effective rank ``exp(-sum p log p)`` with ``p = lambda / tr``
    (Roy and Vetterli, 2007)."""

    numerical_ranks: dict[float, int]
    roundoff_rank: int
    min_relative: float
    stable_rank: float
    entropy_rank: float


def spectrum_summary(Sigma: torch.Tensor, rtols: tuple[float, ...] = (1e-3, 1e-6, 1e-10)) -> SpectrumSummary:
    """Ranks of ``Sigma`` at each relative tolerance and at roundoff, and its two effective ranks."""
    ev = torch.linalg.eigvalsh(Sigma.to(torch.float64))
    top = float(ev.max())
    if top <= 0:
        raise ValueError("Sigma is zero")
    pos = ev.clamp(min=0)
    p = pos[pos > 0] / pos.sum()
    return SpectrumSummary({float(t): int((ev > t * top).sum()) for t in rtols},
                           int((ev > roundoff_rtol(Sigma.shape[0]) * top).sum()), float(ev.min()) / top,
                           float(pos.sum()) / top, float(torch.exp(-(p * p.log()).sum())))


@dataclass(frozen=True)
class HiddenClassComplexity:
    """The squared-loss hidden-feature class of one population (``U``, ``W``) on ``K`` samples, per tolerance.

    ``tolerances`` (T,): the roundoff tolerance first (the class itself: ``Sigma_h`` is kept whole up to float64
    resolution), then the relative tolerances asked for (the class restricted to the eigenvalues above each).
    ``ranks`` (T,): the number of eigenvalues kept. ``rad``, ``rad_se`` (T, K): per sample the Monte Carlo complexity
    and its standard error over sign vectors (the same sign vectors at every tolerance). ``bound`` (T,):
    ``sqrt(gamma rank / n)``. ``fixed_jensen`` (T, K): ``sqrt(gamma tr(Sigma_h^+ Sigma_n) / n)`` for each sample, the
    Jensen value of a fixed sample. ``linear`` (K,): the input-space class ``{theta^T Sigma_x theta <= gamma}`` on the
    same inputs and sign vectors. ``sample_seeds``: the ``sample_seed`` of each sample.
    """

    n: int
    d: int
    rank: int
    width: int
    gamma: float
    spectrum: SpectrumSummary
    tolerances: tuple[float, ...]
    ranks: tuple[int, ...]
    rad: np.ndarray
    rad_se: np.ndarray
    bound: np.ndarray
    fixed_jensen: np.ndarray
    linear: np.ndarray
    seed: int
    sample_seeds: tuple[int, ...]


def hidden_class_complexity(n: int, d: int, rank: int, width: int, gamma: float = 1.0, *, seed: int = 0,
                            n_samples: int = 20, rtols: tuple[float, ...] = (1e-3, 1e-6, 1e-10),
                            n_draws: int = 2000, generator: torch.Generator) -> HiddenClassComplexity:
    """The class ``{theta^T Sigma_h theta <= gamma}`` of the population ``relu_feature_data(..., seed=seed)`` on the
    samples ``sample_seed = 0 .. n_samples - 1``, against ``sqrt(gamma rank / n)`` at each tolerance.

    ``Sigma_h`` is the exact population second moment (:func:`relu_second_moment`; the inputs are not centred, so it
    applies exactly); its eigendecomposition is computed once. Sign vectors come from ``generator``.
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    pop = relu_feature_data(n, d, rank, width, seed=seed, sample_seed=0)
    S_h = relu_second_moment(pop.A)
    tolerances = (roundoff_rtol(width), *(float(t) for t in rtols))
    eig = [eig_range(S_h, t) for t in tolerances]
    # the input-space class: Sigma_x = (d / rank) U U^T, so v^T Sigma_x^+ v = (rank / d) |U^T v|^2 (no eigensolve in d)
    lin_scale = math.sqrt(gamma * rank / d)
    T = len(tolerances)
    rad, rad_se, jensen = np.zeros((T, n_samples)), np.zeros((T, n_samples)), np.zeros((T, n_samples))
    linear = np.zeros(n_samples)
    for k in range(n_samples):
        data = pop if k == 0 else resample(pop, n, k)
        signs = sign_vectors(n_draws, n, generator)
        for j, (evals, evecs) in enumerate(eig):
            HE = data.H @ evecs  # features in the eigenbasis: v^T evec = sigma^T HE / n, Sigma_n's diagonal = mean HE^2
            sup = math.sqrt(gamma) * (((signs @ HE / n) ** 2) / evals).sum(dim=1).sqrt()
            rad[j, k], rad_se[j, k] = float(sup.mean()), float(sup.std(unbiased=True) / math.sqrt(n_draws))
            jensen[j, k] = math.sqrt(gamma * float(((HE**2).mean(dim=0) / evals).sum()) / n)
        linear[k] = float(lin_scale * ((signs @ data.X / n) @ pop.U).norm(dim=1).mean())
    ranks = tuple(int(e[0].numel()) for e in eig)
    return HiddenClassComplexity(n, d, rank, width, float(gamma), spectrum_summary(S_h, tuple(rtols)), tolerances,
                                 ranks, rad, rad_se, np.sqrt(gamma * np.array(ranks) / n), jensen, linear, seed,
                                 tuple(range(n_samples)))

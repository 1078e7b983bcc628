"""Synthetic data for the theory chapters: two-moons, Gaussian mixtures, XOR cones, low-rank GLM data and
the alternating line of Chidambaram et al. (2022).

Each generator is a function of its seed alone and returns float64 tensors by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special
from sklearn.datasets import make_moons

__all__ = ["Dataset", "LowRankGLMData", "alternating_line", "gaussian_mixture", "low_rank_glm_data", "two_moons",
           "xor_cones"]



@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (n, d) and binary labels ``y`` (n,) in {0, 1}."""

    X: torch.Tensor
    y: torch.Tensor
    name: str

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")


def two_moons(n: int, noise: float = 0.1, seed: int = 0, *, centred: bool = True, dtype=torch.float64) -> Dataset:
    """scikit-learn's two interleaving half circles (the paper's Figure 2 data), centred by default.

    Centring (subtracting the sample mean) matches the theory's centred-data convention.
    """
    _check_n(n)
    if not 0 <= noise <= 10:
        raise ValueError(f"noise must lie in [0, 10], got {noise}")
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    if centred:
        X = X - X.mean(axis=0)
    return Dataset(torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=dtype), "two_moons")


def gaussian_mixture(
    n: int, d: int = 2, separation: float = 2.0, seed: int = 0, *, centred: bool = True, dtype=torch.float64
) -> Dataset:
    """Two isotropic unit Gaussians at ``+/- separation/2`` along the first axis, balanced labels."""
    _check_n(n)
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    X = rng.standard_normal((n, d))
    X[:, 0] += separation * (y - 0.5)
    if centred:
        X = X - X.mean(axis=0)
    return Dataset(torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=dtype), "gaussian_mixture")




def xor_cones(n: int, d: int = 2, margin: float = 0.2, seed: int = 0, *, dtype=torch.float64) -> Dataset:
    """Gaussian inputs labelled by the quadrant of their first two coordinates: ``y = 1[x_1 x_2 > 0]``.

    The label depends only on the direction of ``x``, so a bias-free (positively homogeneous) ReLU network
    can fit it, while no linear model can. Points whose direction in the (x_1, x_2) plane lies within
    ``margin`` radians of an axis are redrawn, which leaves a margin between the classes. The sample holds
    ``x`` and ``-x`` (same label), so it is exactly centred: a shift would break the directional labels.
    """
    _check_n(n)
    if d < 2:
        raise ValueError(f"d must be >= 2 (the label uses two coordinates), got {d}")
    if not 0 <= margin < math.pi / 4:
        raise ValueError(f"margin must lie in [0, pi/4) radians, got {margin}")
    if n % 2:
        raise ValueError(f"n must be even (the sample is symmetric: x and -x), got {n}")
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    while sum(len(r) for r in rows) < n // 2:
        X = rng.standard_normal((n, d))
        angle = np.mod(np.arctan2(X[:, 1], X[:, 0]), np.pi / 2)  # direction modulo the quadrant
        keep = (angle > margin) & (angle < np.pi / 2 - margin)
        rows.append(X[keep])
    half = np.concatenate(rows)[: n // 2]
    # x and -x share a label (x_1 x_2 is even), so the sample mean is exactly 0 and no shift is needed.
    X = np.concatenate([half, -half])
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    return Dataset(torch.as_tensor(X, dtype=dtype), torch.as_tensor(y, dtype=dtype), "xor_cones")


@dataclass(frozen=True)
class LowRankGLMData:
    """Inputs on a ``rank``-dimensional subspace of R^d and GLM responses from ``theta_star``.

    ``Sigma`` is the population second moment ``(d / rank) U U^T`` (so ``E||x||^2 = d`` whatever the rank),
    ``U`` (d, rank) has orthonormal columns.
    """

    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    theta_star: torch.Tensor
    Sigma: torch.Tensor
    U: torch.Tensor
    loss: str

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def rank(self) -> int:
        return self.U.shape[1]


def _responses(eta: np.ndarray, loss: str, rng: np.random.Generator) -> np.ndarray:
    if loss == "logistic":
        return (rng.random(eta.shape) < special.expit(eta)).astype(float)
    if loss == "poisson":
        return rng.poisson(np.exp(eta)).astype(float)
    if loss == "squared":
        return eta + rng.standard_normal(eta.shape)
    raise ValueError(f"unknown loss {loss!r}; choose one of logistic, poisson, squared")


def low_rank_glm_data(n: int, d: int, rank: int, loss: str = "logistic", *, signal: float = 2.0, n_test: int = 5000,
                      seed: int = 0, dtype: torch.dtype = torch.float64) -> LowRankGLMData:
    """Centred Gaussian inputs ``x = sqrt(d / rank) U z``, ``z ~ N(0, I_rank)``, and GLM responses.

    Args:
        n, n_test: training and test sizes.
        d, rank: ambient dimension and the rank of the input covariance (1 <= rank <= d).
        loss: ``logistic`` (Bernoulli), ``poisson`` or ``squared`` (unit Gaussian noise).
        signal: ``sqrt(theta*^T Sigma theta*)``, the standard deviation of the true linear predictor.
        seed: the data are a function of it alone; the training sample does not depend on ``n_test``.

    The training inputs are centred by their own mean (the theory's convention) and the test inputs by
    the same vector, so both come from the same shifted distribution.
    """
    for name, v, low in (("n", n, 2), ("d", d, 1), ("rank", rank, 1), ("n_test", n_test, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    if rank > d:
        raise ValueError(f"rank must be <= d, got rank {rank} > d {d}")
    if not signal >= 0:
        raise ValueError(f"signal must be >= 0, got {signal}")
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((d, rank)))
    scale = math.sqrt(d / rank)
    w = rng.standard_normal(rank)
    theta_star = U @ w * (signal / (scale * np.linalg.norm(w)))  # theta*^T Sigma theta* = signal^2
    # the training sample first, so that n_test changes only the test sample
    X = scale * rng.standard_normal((n, rank)) @ U.T
    y = _responses(X @ theta_star, loss, rng)
    X_test = scale * rng.standard_normal((n_test, rank)) @ U.T
    y_test = _responses(X_test @ theta_star, loss, rng)
    mean = X.mean(axis=0)
    t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return LowRankGLMData(t(X - mean), t(y), t(X_test - mean), t(y_test), t(theta_star), t(scale**2 * U @ U.T),
                          t(U), loss)


def alternating_line(n_points: int, n_classes: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Chidambaram et al.'s N-class alternating line: x_i = i (centred, scaled to [-1, 1]), label i mod n_classes.

    Midpoints of x_(i-1) and x_(i+1) fall on x_i with the other label, so for lam concentrated at 1/2 the mixup
    optimum misclassifies the interior points (their Mixup-Data-Dependency code calls it NCAL).
    """
    if n_points < 3 or n_classes < 2:
        raise ValueError(f"need n_points >= 3 and n_classes >= 2, got {n_points} and {n_classes}")
    x = torch.arange(n_points, dtype=torch.float32)
    x = (x - x.mean()) / (x.max() - x.mean())
    return x[:, None], torch.arange(n_points) % n_classes

"""Synthetic data for the theory chapters: two-moons and Gaussian mixtures.

Each generator is a function of its seed alone and returns float64 tensors by default.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_moons

from .config import ConfigError

__all__ = ["Dataset", "DataDirError", "check_data_dir", "two_moons", "gaussian_mixture", "xor_cones"]


class DataDirError(ConfigError):
    """A data directory is missing, not a directory or unreadable."""


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


def check_data_dir(path: str | Path) -> Path:
    """``path`` as an absolute directory that exists and can be listed; else :class:`DataDirError`.

    Image datasets read their files from here; the synthetic ones need no directory.
    """
    p = Path(path).expanduser()
    fix = "pass the directory that holds the dataset files (e.g. --data-dir or data_dir in the grid)"
    if not p.exists():
        raise DataDirError(f"data directory {p} does not exist; {fix}")
    if not p.is_dir():
        raise DataDirError(f"data directory {p} is not a directory (a file?); {fix}")
    try:
        os.listdir(p)
    except OSError as err:
        raise DataDirError(f"data directory {p} cannot be read ({err.strerror or err}); fix its permissions "
                           f"or {fix}") from None
    return p.resolve()


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

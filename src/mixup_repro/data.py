"""Synthetic data for the theory chapters: two-moons and Gaussian mixtures.

Each generator is a function of its seed alone and returns float64 tensors by default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_moons

from .config import ConfigError

__all__ = ["Dataset", "DataDirError", "check_data_dir", "two_moons", "gaussian_mixture"]


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

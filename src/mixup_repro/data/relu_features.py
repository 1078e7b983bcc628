"""Hidden features of a two-layer ReLU network on low-rank Gaussian inputs (the reconstructed non-linear case).

The inputs are ``x = sqrt(d / rank) U z`` with ``z ~ N(0, I_rank)`` (the covariance of
:func:`~mixup_repro.data.synthetic.low_rank_glm_data`, ``E||x||^2 = d``) but **not** centred by the sample mean, so
their population law is exact and the hidden-feature second moment has a closed form. The first layer ``W``
(width x d) has i.i.d. ``N(0, 1/d)`` entries and is fixed; the features are ``h = relu(W x) = relu(A z)`` with
``A = sqrt(d / rank) W U`` (width x rank), whose entries are i.i.d. ``N(0, 1/rank)`` whatever ``d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ReLUFeatureData", "relu_feature_data"]


@dataclass(frozen=True)
class ReLUFeatureData:
    """Inputs ``X`` (n, d), first layer ``W`` (width, d), subspace ``U`` (d, rank), features ``H = relu(X W^T)``, and
    ``A = sqrt(d / rank) W U`` (width, rank), the first layer seen from the latent ``z``."""

    X: torch.Tensor
    W: torch.Tensor
    U: torch.Tensor
    H: torch.Tensor
    A: torch.Tensor

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def width(self) -> int:
        return self.W.shape[0]


def relu_feature_data(n: int, d: int, rank: int, width: int, *, seed: int = 0, sample_seed: int | None = None,
                      dtype: torch.dtype = torch.float64) -> ReLUFeatureData:
    """``n`` inputs on a random ``rank``-dimensional subspace of R^d and their ``width`` ReLU features.

    ``seed`` draws the population (the subspace ``U`` and the network ``W``); ``sample_seed`` (default ``seed``)
    draws the ``n`` inputs, so samples can be redrawn from one fixed population. A function of the two seeds.
    """
    for name, v, low in (("n", n, 1), ("d", d, 1), ("rank", rank, 1), ("width", width, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    if rank > d:
        raise ValueError(f"rank must be <= d, got rank {rank} > d {d}")
    pop = np.random.default_rng([0, seed])
    U, _ = np.linalg.qr(pop.standard_normal((d, rank)))
    W = pop.standard_normal((width, d)) / math.sqrt(d)
    sample = np.random.default_rng([1, seed if sample_seed is None else sample_seed])
    X = math.sqrt(d / rank) * sample.standard_normal((n, rank)) @ U.T
    t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return ReLUFeatureData(t(X), t(W), t(U), t(np.maximum(X @ W.T, 0.0)), t(math.sqrt(d / rank) * W @ U))

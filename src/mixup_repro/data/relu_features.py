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

__all__ = ["ReLUFeatureData", "relu_feature_data", "resample"]


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
    t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return resample(ReLUFeatureData(t(np.zeros((0, d))), t(W), t(U), t(np.zeros((0, width))),
                                    t(math.sqrt(d / rank) * W @ U)), n, seed if sample_seed is None else sample_seed)


def resample(data: ReLUFeatureData, n: int, sample_seed: int) -> ReLUFeatureData:
    """New inputs for the population of ``data`` (its ``U`` and ``W``): ``n`` of them, drawn from ``sample_seed``.

    ``relu_feature_data(n, d, rank, width, seed=s, sample_seed=k)`` is ``resample(<population of s>, n, k)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    U = data.U.numpy()
    d, rank = U.shape
    Z = np.random.default_rng([1, sample_seed]).standard_normal((n, rank))
    t = lambda a: torch.as_tensor(a, dtype=data.W.dtype)  # noqa: E731
    # W x = A z: the features cost n rank width, not n d width
    return ReLUFeatureData(t(math.sqrt(d / rank) * Z @ U.T), data.W, data.U, t(np.maximum(Z @ data.A.numpy().T, 0.0)),
                           data.A)

"""Centred Gaussian samples for the generalization tests, full rank or on a random rank-``rank`` subspace."""

from __future__ import annotations

import torch


def centred(n: int, d: int, seed: int, rank: int | None = None) -> tuple[torch.Tensor, torch.Generator]:
    """(n, d) float64 sample with column means 0, and the generator that drew it (for further draws)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d if rank is None else rank, generator=g, dtype=torch.float64)
    if rank is not None:
        X = X @ torch.randn(rank, d, generator=g, dtype=torch.float64)
    return X - X.mean(dim=0), g

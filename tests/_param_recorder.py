"""A training hook for the tests: the model's parameters, flattened, at every epoch it is called."""

from __future__ import annotations

import torch


def flat_params(model: torch.nn.Module) -> torch.Tensor:
    """All parameters of ``model`` in one detached vector."""
    return torch.cat([p.detach().flatten() for p in model.parameters()])


class ParamRecorder:
    """A hook that keeps a copy of the parameters at every epoch."""

    def __init__(self):
        self.epochs, self.params = [], []

    def __call__(self, epoch, model):
        self.epochs.append(epoch)
        self.params.append(flat_params(model).clone())

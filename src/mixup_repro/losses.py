"""The loss family of Lemma 3.1, ``l(f, y) = h(f) - y f``, with ``h``, ``h'`` and ``h''``.

Members (book: ``eq-glm-loss``): logistic (``h = log(1 + e^f)``, y in {0, 1}), squared
(``h = f^2 / 2``; the ``y^2 / 2`` term, constant in the parameters, is dropped) and Poisson
(``h = e^f``, the log-partition function of the Poisson GLM, y >= 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["GLMLoss", "GLM_LOSSES", "get_loss", "glm_loss"]


@dataclass(frozen=True)
class GLMLoss:
    """``h`` and its first two derivatives for one member of the family."""

    name: str
    h: Callable[[torch.Tensor], torch.Tensor]
    h1: Callable[[torch.Tensor], torch.Tensor]
    h2: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example loss ``h(f) - y f`` (same shape as ``f``)."""
        return self.h(f) - y.to(f.dtype) * f


def _softplus(f: torch.Tensor) -> torch.Tensor:
    # log(1 + e^f) without F.softplus's linear cut-off at f > 20, which is tuned for float32.
    return torch.logaddexp(f, torch.zeros_like(f))


def _sigmoid_prime(f: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(f)
    return s * (1 - s)


GLM_LOSSES: dict[str, GLMLoss] = {
    "logistic": GLMLoss("logistic", _softplus, torch.sigmoid, _sigmoid_prime),
    "squared": GLMLoss("squared", lambda f: 0.5 * f * f, lambda f: f, torch.ones_like),
    "poisson": GLMLoss("poisson", torch.exp, torch.exp, torch.exp),
}


def get_loss(name: str) -> GLMLoss:
    """Look up a loss by name, refusing unknown names with the list of known ones."""
    try:
        return GLM_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(GLM_LOSSES)}") from None


def glm_loss(name: str, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example ``h(f) - y f`` for the named loss."""
    return get_loss(name)(f, y)

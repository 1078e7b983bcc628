"""The loss family of Lemma 3.1, ``l(f, y) = h(f) - y f``, with ``h`` and its first four derivatives.

Members (book: ``eq-glm-loss``): logistic (``h = log(1 + e^f)``, y in {0, 1}), squared
(``h = f^2 / 2``; the ``y^2 / 2`` term, constant in the parameters, is dropped) and Poisson
(``h = e^f``, the log-partition function of the Poisson GLM, y >= 0). The third and fourth derivatives enter
the gradients of Lemma 3.1's ``R2`` and of the expansion's third-order term for a GLM (``theory.glm_optimum``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["GLMLoss", "GLM_LOSSES", "get_loss", "glm_loss"]


@dataclass(frozen=True)
class GLMLoss:
    """``h`` and its first four derivatives (``h1`` .. ``h4``) for one member of the family."""

    name: str
    h: Callable[[torch.Tensor], torch.Tensor]
    h1: Callable[[torch.Tensor], torch.Tensor]
    h2: Callable[[torch.Tensor], torch.Tensor]
    h3: Callable[[torch.Tensor], torch.Tensor]
    h4: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example loss ``h(f) - y f`` (same shape as ``f``)."""
        return self.h(f) - y.to(f.dtype) * f

    def derivatives(self, f: torch.Tensor, upto: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(h, h', h'')`` at ``f`` (``h''`` is None for ``upto=1``), sharing the work where the member allows it.

        The same values as ``h``, ``h1`` and ``h2``: logistic computes the sigmoid once, Poisson the exponential once.
        """
        if upto not in (1, 2):
            raise ValueError(f"upto must be 1 or 2, got {upto!r}")
        if self.name == "poisson":
            e = torch.exp(f)
            return e, e, e if upto == 2 else None
        if self.name == "logistic":
            s = torch.sigmoid(f)
            return _softplus(f), s, s * (1 - s) if upto == 2 else None
        return self.h(f), self.h1(f), self.h2(f) if upto == 2 else None


def _softplus(f: torch.Tensor) -> torch.Tensor:
    # log(1 + e^f) without F.softplus's linear cut-off at f > 20, which is tuned for float32.
    return torch.logaddexp(f, torch.zeros_like(f))


def _sigmoid_prime(f: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(f)
    return s * (1 - s)


def _softplus_third(f: torch.Tensor) -> torch.Tensor:
    """``g (1 - g) (1 - 2 g)`` with ``g`` the sigmoid."""
    s = torch.sigmoid(f)
    return s * (1 - s) * (1 - 2 * s)


def _softplus_fourth(f: torch.Tensor) -> torch.Tensor:
    """``g (1 - g) (1 - 6 g + 6 g^2)`` with ``g`` the sigmoid."""
    s = torch.sigmoid(f)
    return s * (1 - s) * (1 - 6 * s + 6 * s * s)


GLM_LOSSES: dict[str, GLMLoss] = {
    "logistic": GLMLoss("logistic", _softplus, torch.sigmoid, _sigmoid_prime, _softplus_third, _softplus_fourth),
    "squared": GLMLoss("squared", lambda f: 0.5 * f * f, lambda f: f, torch.ones_like, torch.zeros_like,
                       torch.zeros_like),
    "poisson": GLMLoss("poisson", torch.exp, torch.exp, torch.exp, torch.exp, torch.exp),
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

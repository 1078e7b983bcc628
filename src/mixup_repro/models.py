"""Models: logistic regression and small MLPs, initialised from an explicit generator; the eval-mode switch.

Binary models return one logit per example, shape (n,), as the theory's ``f_theta(x)``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MODELS", "LogisticRegression", "MLP", "Scaled", "build_model", "eval_mode",
           "init_from_generator", "uniform_exact_"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "softplus": nn.Softplus}
MODELS = ("logistic", "relu_mlp", "tanh_mlp", "softplus_mlp", "relu_mlp_nobias")
"""The names ``build_model`` accepts."""


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with every module of ``model`` in eval mode, then give each one back its own mode.

    ``model.train(was_training)`` would not do: it sets every submodule to the top level's mode, so a
    submodule kept in eval mode on purpose (a frozen BatchNorm, a dropout switched off) would come back in
    training mode. Used wherever a model is evaluated as a fixed function (Taylor terms, the theory's input
    gradients, attacks, clean evaluation).
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def uniform_exact_(tensor: torch.Tensor, bound: float, generator: torch.Generator) -> torch.Tensor:
    """Fill ``tensor`` in place with ``U(-bound, bound)`` draws that are the same bits on every CPU.

    ``tensor.uniform_(-b, b)`` computes ``-b + 2b u`` with a fused multiply-add in its vectorised (AVX2, AVX-512)
    kernels and without one in the generic kernel, so the same seed gives weights one rounding apart on a CPU
    without AVX2, and trainings that start one rounding apart can end apart (a ReLU input near zero flips). Here
    ``u = torch.rand`` is exact (a random integer times a power of two), ``2u - 1`` is exact in the same precision,
    and the one product with ``bound`` is rounded the same way by every IEEE implementation.
    """
    u = torch.rand(tensor.shape, generator=generator, dtype=tensor.dtype, device=generator.device)
    with torch.no_grad():
        return tensor.copy_((2 * u - 1) * bound)


def init_from_generator(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise every ``nn.Linear`` with PyTorch's default scheme (U(+/- 1/sqrt(fan_in))), from ``generator``.

    PyTorch's own initialisation draws from the global RNG; this makes a model a function of the run's seed alone,
    and the same on every CPU (:func:`uniform_exact_`).
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.in_features)
            uniform_exact_(layer.weight, bound, generator)
            if layer.bias is not None:
                uniform_exact_(layer.bias, bound, generator)
    return module


class LogisticRegression(nn.Module):
    """``f(x) = theta^T x (+ b)``: the linear model of Theorem 3.1 and of the GLMs (book: ``prop-glm-regularizer``)."""

    def __init__(self, d: int, bias: bool = False):
        super().__init__()
        self.linear = nn.Linear(d, 1, bias=bias)

    @property
    def theta(self) -> torch.Tensor:
        """The weight vector, shape (d,)."""
        return self.linear.weight[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


class MLP(nn.Module):
    """A fully connected network ``d -> hidden... -> out``.

    ``bias=False`` with ReLU gives a positively homogeneous, piecewise-linear network:
    ``f(x) = grad f(x)^T x`` and zero input Hessian almost everywhere (Theorem 3.2's hypotheses).
    ``out = 1`` returns logits of shape (n,); ``out > 1`` returns (n, out).
    """

    def __init__(self, d: int, hidden: tuple[int, ...] = (64,), activation: str = "relu", bias: bool = True, out: int = 1):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must list at least one positive width, got {hidden!r}")
        layers: list[nn.Module] = []
        width = d
        for h in hidden:
            layers += [nn.Linear(width, h, bias=bias), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, out, bias=bias))
        self.net = nn.Sequential(*layers)
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return z.squeeze(-1) if self.out == 1 else z


class Scaled(nn.Module):
    """``x -> scale * model(x)``: the same decision boundary with logits ``scale`` times larger.

    For logistic regression this is ``theta -> scale * theta``; for a network it scales the last layer.
    """

    def __init__(self, model: nn.Module, scale: float):
        super().__init__()
        self.model, self.scale = model, float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.model(x)


def build_model(
    name: str, d: int, *, hidden: int = 64, generator: torch.Generator, dtype: torch.dtype = torch.float64
) -> nn.Module:
    """A binary model by name: ``logistic``, ``relu_mlp``, ``tanh_mlp``, ``softplus_mlp`` (one hidden layer),
    or ``relu_mlp_nobias`` (bias-free, for Theorem 3.2)."""
    if name == "logistic":
        model: nn.Module = LogisticRegression(d, bias=True)
    elif name in ("relu_mlp", "tanh_mlp", "softplus_mlp"):
        model = MLP(d, (hidden,), activation=name.split("_")[0])
    elif name == "relu_mlp_nobias":
        model = MLP(d, (hidden,), activation="relu", bias=False)
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return init_from_generator(model, generator).to(dtype)

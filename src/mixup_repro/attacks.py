"""Adversarial attacks: FGSM and PGD in the l_inf and l2 balls, and the exact worst case of linear models.

The paper's robustness theorems (Theorems 3.1 and 3.2; book: ``eq-ladv``) bound the l2 adversarial loss of radius
``eps * sqrt(d)``, which contains the l_inf ball of radius ``eps`` and hence FGSM's step. Inputs live in
[0, 1] (any normalisation belongs inside the model); ``clip=None`` lifts the box for centred synthetic data.
The private ``_Threat`` owns the model's mode, the device, the box and the loss, so each attack below is a
short algorithm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .losses import get_loss
from .models import eval_mode

__all__ = ["NORMS", "fgsm", "linear_worst_case", "logistic_adversarial_loss", "pgd"]

NORMS = ("linf", "l2")


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")


def _check_positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value}")


def _check_binary(y: torch.Tensor) -> None:
    if not torch.all((y == 0) | (y == 1)):
        raise ValueError("a single-logit model needs labels y in {0, 1}")


def _per_example_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    """The l2 or l_inf norm of each example, shaped (n, 1, ..., 1) to broadcast against ``v``."""
    flat = v.flatten(1)
    out = flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)
    return out.reshape((-1,) + (1,) * (v.ndim - 1))


def _unit(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit ``norm`` for gradient ``g`` (zero where ``g`` is zero)."""
    if norm == "linf":
        return g.sign()
    # Dividing by a clamped norm leaves a zero gradient at zero instead of producing NaN.
    return g / _per_example_norm(g, "l2").clamp_min(torch.finfo(g.dtype).tiny)


class _Threat:
    """One attack problem: the model, the clean batch, the eps-ball and the box.

    Validates once; ``loss_and_grad`` gives per-example losses and input gradients; ``project`` maps a
    candidate back into the eps-ball around ``x`` and into the box.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str, clip):
        _check_norm(norm)
        _check_positive("eps", eps, allow_zero=True)
        if not isinstance(x, torch.Tensor) or x.ndim < 2:
            raise ValueError("x must be a tensor of shape (n, ...) with a batch dimension")
        if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
            raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(getattr(y, 'shape', ()))}")
        if clip is not None:
            lo, hi = clip
            if not lo < hi:
                raise ValueError(f"clip must be (low, high) with low < high, got {clip}")
            if x.numel() and (x.min() < lo or x.max() > hi):
                raise ValueError(f"x lies outside the clip range {tuple(clip)}; normalise inside the model")
            # A larger ball holds the whole box: the "attack" could replace the input by any other input.
            diameter = (hi - lo) * (1.0 if norm == "linf" else math.sqrt(x[0].numel()))
            if eps > diameter:
                raise ValueError(f"eps = {eps} exceeds the {norm} diameter {diameter:g} of the input box "
                                 f"{tuple(clip)}, so the ball holds every input; for inputs in [0, 1] pick eps in "
                                 f"[0, 1] (e.g. 8/255 for l_inf), or pass clip=None for unbounded inputs")
        param = next(model.parameters(), None)
        device = param.device if param is not None else x.device
        self.model, self.eps, self.norm, self.clip = model, float(eps), norm, clip
        self.x = x.detach().to(device)
        self.y = y.to(device)
        self._logistic = None  # decided on the first forward pass, from the output shape

    def _loss(self, out: torch.Tensor) -> torch.Tensor:
        n = self.x.shape[0]
        if self._logistic is None:
            if out.shape in ((n,), (n, 1)):
                _check_binary(self.y)
                self._logistic = True
            elif out.ndim == 2 and out.shape[0] == n and out.shape[1] >= 2:
                if self.y.is_floating_point():
                    raise ValueError("multi-class logits need integer class labels y")
                self._logistic = False
            else:
                raise ValueError(f"model output must have shape (n,), (n, 1) or (n, C >= 2), got {tuple(out.shape)}")
        if self._logistic:
            return get_loss("logistic")(out.reshape(n), self.y)
        return F.cross_entropy(out, self.y, reduction="none")

    def loss(self, x_adv: torch.Tensor) -> torch.Tensor:
        """Per-example loss at ``x_adv`` (no graph)."""
        with torch.no_grad():
            return self._loss(self.model(x_adv))

    def loss_and_grad(self, x_adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example loss and its gradient in the input (examples do not interact in eval mode)."""
        x_adv = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = self._loss(self.model(x_adv))
            (grad,) = torch.autograd.grad(loss.sum(), x_adv)
        return loss.detach(), grad

    def project(self, x_adv: torch.Tensor) -> torch.Tensor:
        """Back into the eps-ball around ``x``, then into the box.

        Clamping coordinates towards a point of the box only shrinks each coordinate of ``x_adv - x``,
        so the box step never leaves the ball.
        """
        delta = x_adv - self.x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            scale = self.eps / _per_example_norm(delta, "l2").clamp_min(torch.finfo(delta.dtype).tiny)
            delta = delta * scale.clamp(max=1.0)
        return self.box(self.x + delta)

    def box(self, x_adv: torch.Tensor) -> torch.Tensor:
        """Clamp into the input box (identity when ``clip`` is None)."""
        return x_adv if self.clip is None else x_adv.clamp(*self.clip)

    def random_start(self, generator: torch.Generator) -> torch.Tensor:
        """A point drawn uniformly from the eps-ball around ``x`` (then boxed), using only ``generator``."""
        shape, dtype = self.x.shape, self.x.dtype
        if self.norm == "linf":
            delta = (2 * torch.rand(shape, generator=generator, dtype=dtype, device=generator.device) - 1) * self.eps
        else:
            # Uniform in the l2 ball: a Gaussian direction and radius eps * U^(1/d).
            d = self.x[0].numel()
            z = torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)
            u = torch.rand((shape[0],) + (1,) * (len(shape) - 1), generator=generator, dtype=dtype,
                           device=generator.device)
            delta = _unit(z, "l2") * self.eps * u ** (1.0 / d)
        return self.project(self.x + delta.to(self.x.device))


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str = "linf",
         clip: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """Fast gradient (sign) method: one steepest-ascent step of size ``eps`` on the per-example loss.

    ``linf``: ``x + eps * sign(grad_x l)`` (Goodfellow et al., 2015; the attack of the paper's Fig. 1a).
    ``l2``: ``x + eps * grad_x l / ||grad_x l||_2``. The paper's bound covers the l_inf step of size ``eps``
    through the l2 ball of radius ``eps * sqrt(d)`` (book: ``eq-ladv``).

    Args:
        model: maps inputs (n, ...) to logits (n, C >= 2) for cross-entropy, or to one logit (n,) / (n, 1)
            for the logistic loss with ``y`` in {0, 1}. Run in eval mode; its modes are restored.
        x: clean inputs (n, ...), inside ``clip``. y: labels (n,).
        eps: radius of the ball (input units, e.g. 8/255). norm: "linf" or "l2".
        clip: the input box, or None for an unbounded domain.
    Returns:
        Adversarial inputs with the shape of ``x``, in the eps-ball and in the box.
    """
    threat = _Threat(model, x, y, eps, norm, clip)
    if threat.eps == 0:
        return threat.x.clone()
    with eval_mode(model):
        _, grad = threat.loss_and_grad(threat.x)
    # A step of exactly eps needs no ball projection, which could only move it by rounding.
    return threat.box(threat.x + threat.eps * _unit(grad, norm)).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step_size: float, steps: int,
        norm: str = "linf", restarts: int = 1, generator: torch.Generator | None = None,
        clip: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """Projected gradient ascent on the per-example loss (Madry et al., 2018), keeping the worst restart.

    Each step moves ``step_size`` along the steepest-ascent direction of ``norm`` (as in :func:`fgsm`) and
    projects back into the eps-ball and the box. With a ``generator`` each restart starts from a uniform
    draw in the ball; without one the single run starts at ``x``. Per example, the restart with the highest
    final loss is returned (ties keep the earlier one).

    Args:
        model, x, y, eps, norm, clip: as in :func:`fgsm`.
        step_size: step length in ``norm`` (input units). steps: iterations per restart (>= 1).
        restarts: independent runs (>= 1; more than one needs a generator).
        generator: the only source of randomness (the random starts), on any device.
    Returns:
        Adversarial inputs with the shape of ``x``.
    """
    threat = _Threat(model, x, y, eps, norm, clip)
    _check_positive("step_size", step_size)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    if restarts > 1 and generator is None:
        raise ValueError("restarts > 1 need a generator for the random starts (they would all coincide)")
    if threat.eps == 0:
        return threat.x.clone()
    best, best_loss = None, None
    with eval_mode(model):
        for _ in range(restarts):
            x_adv = threat.x if generator is None else threat.random_start(generator)
            for _ in range(steps):
                _, grad = threat.loss_and_grad(x_adv)
                x_adv = threat.project(x_adv + step_size * _unit(grad, norm))
            if restarts == 1:
                return x_adv.detach()
            loss = threat.loss(x_adv)
            if best is None:
                best, best_loss = x_adv, loss
            else:
                better = loss > best_loss
                best = torch.where(better.reshape((-1,) + (1,) * (x_adv.ndim - 1)), x_adv, best)
                best_loss = torch.maximum(loss, best_loss)
    return best.detach()


def _linear_setup(w, b, x, y, eps, norm):
    _check_norm(norm)
    _check_positive("eps", eps, allow_zero=True)
    if w.ndim != 1 or x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"need w of shape (d,) and x of shape (n, d); got {tuple(w.shape)} and {tuple(x.shape)}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}")
    _check_binary(y)
    # The loss h(u) - y u has derivative sigmoid(u) - y: increasing in u for y = 0, decreasing for y = 1.
    return 1.0 - 2.0 * y.to(x.dtype)


def linear_worst_case(w: torch.Tensor, b: float | torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                      eps: float, norm: str) -> torch.Tensor:
    """The exact maximiser of the logistic loss of ``f(x) = w^T x + b`` over the eps-ball (no box).

    The loss is monotone in ``u = f(x)``, so the maximiser pushes ``u`` towards the wrong side by
    ``eps`` times the dual norm of ``w``: l2 moves ``x`` by ``eps * w / ||w||_2``,
    l_inf by ``eps * sign(w)``; the sign is ``+`` for ``y = 0`` and ``-`` for ``y = 1``.

    Args: w (d,), b scalar, x (n, d), y (n,) in {0, 1}, eps >= 0, norm "linf" or "l2".
    Returns: the maximisers (n, d) (``x`` itself where ``w = 0``: every point is a maximiser).
    """
    side = _linear_setup(w, b, x, y, eps, norm)
    direction = w.sign() if norm == "linf" else w / w.norm().clamp_min(torch.finfo(w.dtype).tiny)
    return x + eps * side[:, None] * direction


def logistic_adversarial_loss(w: torch.Tensor, b: float | torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                              eps: float, norm: str) -> torch.Tensor:
    """The exact per-example maximum of the logistic loss over the eps-ball (no box).

    ``max_{||delta|| <= eps} l(w^T (x + delta) + b, y) = l(u + s * eps * ||w||_*, y)`` with ``s = 1 - 2y`` and
    ``||.||_*`` the dual norm (l2 for l2, l1 for l_inf); the theorems use it at ``eps * sqrt(d)`` (book: ``eq-ladv``).

    Returns: the losses (n,).
    """
    side = _linear_setup(w, b, x, y, eps, norm)
    dual = w.norm() if norm == "l2" else w.abs().sum()
    u = x @ w + b + side * eps * dual
    return get_loss("logistic")(u, y)

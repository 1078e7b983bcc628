"""Mixup's mixing distribution, its tilted form, pairing and the mixup loss.

Notation follows the paper's mixup loss, Eq. (1) (book: ``eq-mixup-loss``): a mixed example is
``x~ = lam * x_i + (1 - lam) * x_j`` and ``y~ = lam * y_i + (1 - lam) * y_j`` with
``lam ~ Beta(alpha, beta)``. ``alpha = 0`` means plain ERM (``lam = 1``).

The tilted distribution of Lemma 3.1 (book: ``def-tilted``) is the two-component mixture
``D~_lam = alpha/(alpha+beta) Beta(alpha+1, beta) + beta/(alpha+beta) Beta(beta+1, alpha)``;
with unmixed labels and a partner drawn from the data, it gives exactly the mixup loss.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

__all__ = [
    "check_beta_params",
    "is_erm",
    "lambda_moments",
    "beta_quadrature",
    "tilted_quadrature",
    "sample_lambda",
    "sample_tilted_lambda",
    "pair_permutation",
    "draw_epoch",
    "mix_batch",
    "mixup_glm_loss",
    "mixup_cross_entropy",
    "soft_cross_entropy",
    "one_hot",
]


def check_beta_params(alpha: float, beta: float) -> None:
    """Refuse Beta parameters that define no mixing distribution.

    ``alpha = 0`` is allowed and means ERM (then ``beta`` is ignored but must be >= 0).
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0 (alpha = 0 means ERM), got {value}")
    if alpha > 0 and beta == 0:
        raise ValueError("beta must be > 0 when alpha > 0 (use alpha = 0 for ERM)")


def is_erm(alpha: float) -> bool:
    """True when the mixing distribution is the point mass at lam = 1 (plain ERM)."""
    return alpha == 0


def lambda_moments(alpha: float, beta: float) -> tuple[float, float]:
    """Return ``(E[1 - lam], E[(1 - lam)^2])`` for ``lam ~ D~_lam`` (Lemma 3.1's constants).

    Closed forms (derived from the mixture definition, checked against quadrature in the tests):
    ``E[1 - lam] = 2 alpha beta / ((alpha + beta)(alpha + beta + 1))`` and
    ``E[(1 - lam)^2] = alpha beta / ((alpha + beta)(alpha + beta + 1))``. Both are 0 for ERM.
    """
    check_beta_params(alpha, beta)
    if is_erm(alpha):
        return 0.0, 0.0
    a, b = float(alpha), float(beta)
    second = a * b / ((a + b) * (a + b + 1.0))
    return 2.0 * second, second


def beta_quadrature(alpha: float, beta: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi nodes and weights for expectations over ``lam ~ Beta(alpha, beta)``.

    The Beta density (including its endpoint singularities when alpha or beta < 1) is the
    quadrature weight, so ``sum(w * g(nodes))`` is exact for polynomials ``g`` of degree
    ``< 2 * order`` and converges fast for smooth ``g``. Weights sum to 1.
    """
    check_beta_params(alpha, beta)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"quadrature order must be a positive integer, got {order!r}")
    if is_erm(alpha):
        return np.ones(1), np.ones(1)
    # Jacobi weight (1 - x)^a (1 + x)^b on [-1, 1]; lam = (1 + x) / 2 maps it to
    # lam^(alpha - 1) (1 - lam)^(beta - 1) with a = beta - 1 and b = alpha - 1.
    x, w = special.roots_jacobi(order, beta - 1.0, alpha - 1.0)
    return (1.0 + x) / 2.0, w / w.sum()


def tilted_quadrature(alpha: float, beta: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for expectations over ``lam ~ D~_lam`` (the two-component mixture)."""
    check_beta_params(alpha, beta)
    if is_erm(alpha):
        return np.ones(1), np.ones(1)
    a, b = float(alpha), float(beta)
    x1, w1 = beta_quadrature(a + 1.0, b, order)
    x2, w2 = beta_quadrature(b + 1.0, a, order)
    return np.concatenate([x1, x2]), np.concatenate([w1 * a / (a + b), w2 * b / (a + b)])


def _as_generator(generator: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        raise ValueError("pass an explicit numpy Generator (or an integer seed) for reproducible sampling")
    return np.random.default_rng(generator)


def sample_lambda(
    alpha: float, beta: float, size: int | tuple[int, ...], generator: np.random.Generator | int
) -> np.ndarray:
    """Draw ``lam ~ Beta(alpha, beta)`` (all ones for ERM) from an explicit generator."""
    check_beta_params(alpha, beta)
    rng = _as_generator(generator)
    if is_erm(alpha):
        return np.ones(size)
    return rng.beta(alpha, beta, size=size)


def sample_tilted_lambda(
    alpha: float, beta: float, size: int | tuple[int, ...], generator: np.random.Generator | int
) -> np.ndarray:
    """Draw ``lam ~ D~_lam = alpha/(alpha+beta) Beta(alpha+1, beta) + beta/(alpha+beta) Beta(beta+1, alpha)``."""
    check_beta_params(alpha, beta)
    rng = _as_generator(generator)
    if is_erm(alpha):
        return np.ones(size)
    first = rng.random(size) < alpha / (alpha + beta)
    return np.where(first, rng.beta(alpha + 1.0, beta, size=size), rng.beta(beta + 1.0, alpha, size=size))


def pair_permutation(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random partner index for each of ``n`` examples (``perm``), drawn from ``generator``."""
    if not isinstance(generator, torch.Generator):
        raise TypeError("pair_permutation needs an explicit torch.Generator")
    return torch.randperm(n, generator=generator)


def draw_epoch(sizes: Sequence[int], alpha: float, beta: float, *, per_sample_lam: bool,
               lam_generator: np.random.Generator,
               perm_generator: torch.Generator) -> list[tuple[float | np.ndarray, torch.Tensor]]:
    """lam and the partner permutation of every batch of an epoch (batch sizes ``sizes``), drawn before its first
    step, for mixup (``alpha > 0``).

    The values are those of drawing each batch's lam, then its permutation, just before its step (tested): lams
    come from ``lam_generator`` alone and permutations from ``perm_generator`` alone, each in batch order, and
    numpy's ``beta`` of size k gives the k values of k single draws. Drawn in one loop they cost a few microseconds
    per batch; drawn between steps, each of which has evicted the caches, about 60 us on the image MLP
    (``benchmarks/bench_mixup_step.py``). lam is a float (one per batch) or an array of the batch's size (one per
    example); the permutations are drawn on ``perm_generator``'s device.
    """
    check_beta_params(alpha, beta)
    if is_erm(alpha):
        raise ValueError("ERM (alpha = 0) draws no lam and no partners")
    sizes = [int(b) for b in sizes]
    if any(b < 1 for b in sizes):
        raise ValueError(f"every batch needs at least one example, got sizes {sizes}")
    if per_sample_lam:
        lams: list = np.split(lam_generator.beta(alpha, beta, size=sum(sizes)), np.cumsum(sizes)[:-1])
    else:
        lams = lam_generator.beta(alpha, beta, size=len(sizes)).tolist()  # floats: kernel arguments, no copies
    dev = perm_generator.device
    return [(lam, torch.randperm(b, generator=perm_generator, device=dev)) for lam, b in zip(lams, sizes)]


@dataclass(frozen=True)
class MixedBatch:
    """A mixed batch: inputs ``x``, the two label sets and the mixing weight ``lam``: a float (one lam for the
    batch) or a tensor (n,) in ``x``'s dtype on ``x``'s device (one per example)."""

    x: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: float | torch.Tensor


def mix_batch(x: torch.Tensor, y: torch.Tensor, lam: float | np.ndarray | torch.Tensor,
              perm: torch.Tensor) -> MixedBatch:
    """Mix ``x`` with ``x[perm]``: ``x~ = lam x_a + (1 - lam) x_b``.

    ``lam`` is a number (one lam per batch, as in the reference mixup code) or has shape (n,) (one lam per
    example). Labels are returned unmixed as ``y_a = y`` and ``y_b = y[perm]``; the losses below combine them.
    ``x`` is data, not a tensor that needs a gradient. The mix is one ``torch.lerp`` into the gathered partners,
    ``x_b + lam (x_a - x_b)``, rounded once (exact at lam = 1 and 0), in ``x``'s memory format.
    """
    n = x.shape[0]
    if perm.shape != (n,):
        raise ValueError(f"perm must have shape ({n},), got {tuple(perm.shape)}")
    if x.requires_grad:
        raise ValueError("mix_batch mixes data: x must not require grad")
    lam = _lam_on(x, lam)
    w = lam if isinstance(lam, float) else lam.reshape((n,) + (1,) * (x.ndim - 1))
    # Each call below costs ~15 us between training steps (cold caches), so none is made that is not needed.
    perm_x = perm if perm.device == x.device else perm.to(x.device)
    perm_y = perm_x if y.device == x.device else perm.to(y.device)
    # index_select rather than x[perm]: the same values, but advanced indexing was measured ~9x slower on CPU
    # (160 vs 19 us for 128 Fashion-MNIST images); a channels_last batch is gathered into empty_like(x) to stay so.
    if x.is_contiguous():
        x_b = torch.index_select(x, 0, perm_x)
    else:
        x_b = torch.index_select(x, 0, perm_x, out=torch.empty_like(x))
    return MixedBatch(x=x_b.lerp_(x, w), y_a=y, y_b=y.index_select(0, perm_y), lam=lam)


def _lam_on(x: torch.Tensor, lam: float | np.ndarray | torch.Tensor) -> float | torch.Tensor:
    """``lam`` checked to lie in [0, 1] (NaN refused): a float, or a tensor (n,) in ``x``'s dtype on its device.

    A lam given on the host (number, array, CPU tensor) is checked there, so a GPU training step neither waits
    for the check nor copies a single lam over (a float is a kernel argument); one per example is copied from
    pinned memory without blocking.
    """
    if type(lam) is float or isinstance(lam, numbers.Real):  # the first test is the fast path of a training step
        lam_f = float(lam)
        if not 0 <= lam_f <= 1:  # also refuses NaN
            raise ValueError("lam must lie in [0, 1]")
        return lam_f
    on_host = not isinstance(lam, torch.Tensor) or lam.device.type == "cpu"
    lam_t = torch.as_tensor(lam, dtype=x.dtype) if on_host else lam.to(x.dtype)
    if lam_t.ndim == 0:
        return _lam_on(x, lam_t.item())
    if lam_t.shape != (x.shape[0],):
        raise ValueError(f"lam must be a scalar or have shape ({x.shape[0]},), got {tuple(lam_t.shape)}")
    if not torch.all((lam_t >= 0) & (lam_t <= 1)):  # also refuses NaN
        raise ValueError("lam must lie in [0, 1]")
    if lam_t.device == x.device:
        return lam_t
    if x.device.type == "cuda":
        lam_t = lam_t.pin_memory()
    return lam_t.to(x.device, non_blocking=True)


def mixup_glm_loss(f: torch.Tensor, batch: MixedBatch, loss: str = "logistic") -> torch.Tensor:
    """Mean GLM loss ``h(f) - y~ f`` at the mixed inputs with mixed labels (Eq. (1) of the paper).

    ``f`` holds the model outputs at ``batch.x`` (shape (n,)). Because the loss is affine in
    ``y``, this equals ``lam * l(f, y_a) + (1 - lam) * l(f, y_b)``: one loss evaluation at the labels
    ``y~ = lerp(y_b, y_a, lam)``.
    """
    from .losses import glm_loss

    lam = batch.lam if isinstance(batch.lam, float) else batch.lam.to(f.dtype)
    y_mix = torch.lerp(batch.y_b.to(f.dtype), batch.y_a.to(f.dtype), lam)
    return glm_loss(loss, f.reshape(-1), y_mix).mean()


def one_hot(y: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Integer class labels (n,) to one-hot rows (n, num_classes)."""
    return torch.nn.functional.one_hot(y.long(), num_classes).to(dtype)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy against soft targets (rows summing to 1)."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def mixup_cross_entropy(logits: torch.Tensor, batch: MixedBatch) -> torch.Tensor:
    """Mixup cross-entropy ``lam CE(y_a) + (1 - lam) CE(y_b)``, averaged over the batch.

    One ``log_softmax`` serves both terms; each term is a gather of it (``nll_loss``), combined by ``torch.lerp``.
    With one lam per batch the two batch means are combined (the mean is linear), else the per-example terms.
    Equal in value and gradient to :func:`soft_cross_entropy` with targets
    ``lam onehot(y_a) + (1 - lam) onehot(y_b)``, and at lam = 1 exactly ``F.cross_entropy(logits, y_a)`` (tested).
    """
    nll = torch.nn.functional.nll_loss
    logp = torch.log_softmax(logits, dim=-1)
    y_a, y_b = batch.y_a.long(), batch.y_b.long()
    if isinstance(batch.lam, float):
        return torch.lerp(nll(logp, y_b), nll(logp, y_a), batch.lam)
    per = torch.lerp(nll(logp, y_b, reduction="none"), nll(logp, y_a, reduction="none"), batch.lam.to(logits.dtype))
    return per.mean()

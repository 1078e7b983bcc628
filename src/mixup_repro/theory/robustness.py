"""The quantities of the robustness theorems (paper, Theorems 3.1 and 3.2; book: ``thm-mixup-adv-logistic``,
``thm-mixup-adv-relu``).

For the logistic loss ``l = h(f) - y f`` and an input-gradient ``grad f(x_i)`` (``theta`` for logistic
regression), the theorems state, for every parameter in ``Theta`` (all training points classified
correctly, ties allowed) and centred data,

    L~_mix  >=  (1/n) sum_i l~_adv(eps_i sqrt(d), z_i)  >=  (1/n) sum_i l~_adv(eps_mix sqrt(d), z_i),

with ``L~_mix = L_std + R1 + R2 + R3`` (Lemma 3.1, :mod:`mixup_repro.taylor`), the second-order adversarial
loss ``l~_adv`` (book: ``eq-ladv``), ``eps_i = R_i c_x E[1 - lam]``, ``R_i = |cos(grad f(x_i), x_i)|``,
``eps_mix = min_i R_i c_x E[1 - lam]`` and ``c_x = min_i ||x_i|| / sqrt(d)``. Theorem 3.2 (networks) also
needs ``f(x_i) = grad f(x_i)^T x_i`` and ``Hess f(x_i) = 0`` (bias-free ReLU / max-pool nets), so R3 = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import grad, hessian, vmap

from ..losses import get_loss
from ..mixing import lambda_moments
from ..models import eval_mode
from ..taylor import scalar_model, taylor_terms

__all__ = [
    "ChainCheck",
    "ThetaMembership",
    "adv_loss_second_order",
    "c_x",
    "check_chain",
    "cosines",
    "eps_i",
    "eps_mix",
    "in_theta",
    "input_gradients",
    "input_hessian_max",
    "logistic_adv_loss_exact",
]


def adv_loss_second_order(f: torch.Tensor, grad_norm: torch.Tensor | float, y: torch.Tensor,
                          radius: torch.Tensor | float, loss: str = "logistic") -> torch.Tensor:
    """The second-order adversarial loss ``l~_adv`` (book: ``eq-ladv``; for networks, ``thm-mixup-adv-relu``).

    ``l~_adv(radius, (x, y)) = l(f, y) + radius |h'(f) - y| ||grad f|| + radius^2 / 2 h''(f) ||grad f||^2``:
    the maximum over the l2 ball of radius ``radius`` of the quadratic model of the loss when
    ``Hess f = 0`` (then the loss Hessian ``h'' grad f grad f^T`` is aligned with the gradient). For logistic
    regression ``grad f = theta``. The theorems use ``radius = eps sqrt(d)``.

    Args:
        f: model outputs (n,). grad_norm: ``||grad_x f(x_i)||_2``, (n,) or a scalar. y: labels (n,).
        radius: l2 radius in input units, a scalar or (n,) (per-example radii such as ``eps_i sqrt(d)``).
        loss: a member of :mod:`mixup_repro.losses`.
    Returns:
        Per-example values (n,).
    """
    lossfn = get_loss(loss)
    y = y.to(f.dtype)
    g = torch.as_tensor(grad_norm, dtype=f.dtype, device=f.device)
    r = torch.as_tensor(radius, dtype=f.dtype, device=f.device)
    return lossfn(f, y) + r * (lossfn.h1(f) - y).abs() * g + r**2 / 2 * lossfn.h2(f) * g**2


def _flat(X: torch.Tensor) -> torch.Tensor:
    if not isinstance(X, torch.Tensor) or X.ndim < 2 or X.shape[0] < 1:
        raise ValueError("X must be a tensor of shape (n, ...) holding at least one example")
    return X.reshape(X.shape[0], -1)


def c_x(X: torch.Tensor) -> float:
    """``c_x = min_i ||x_i||_2 / sqrt(d)``, the largest constant with ``||x_i|| >= c_x sqrt(d)`` (Theorem 3.1)."""
    Xf = _flat(X)
    return float(Xf.norm(dim=1).min() / math.sqrt(Xf.shape[1]))


def cosines(G: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``R_i = |cos(g_i, x_i)|`` per example (Theorems 3.1 and 3.2).

    Args:
        G: gradients (n, ...) matching ``X``, or one vector (d,) such as ``theta`` shared by all examples.
        X: inputs (n, ...).
    Returns:
        (n,) values in [0, 1]; 0 where ``g_i`` or ``x_i`` is zero (the cosine is undefined there).
    """
    Xf = _flat(X)
    Gf = G.reshape(1, -1).expand_as(Xf) if G.ndim == 1 else G.reshape(G.shape[0], -1)
    if Gf.shape != Xf.shape:
        raise ValueError(f"G must have shape (d,) or match X {tuple(X.shape)}, got {tuple(G.shape)}")
    denom = Gf.norm(dim=1) * Xf.norm(dim=1)
    dots = (Gf * Xf).sum(dim=1).abs()
    return torch.where(denom > 0, dots / denom.clamp_min(torch.finfo(denom.dtype).tiny), torch.zeros_like(dots))


def eps_i(G: torch.Tensor, X: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Per-example radii ``eps_i = R_i c_x E_{D~_lam}[1 - lam]`` (proof of Theorem 3.1), shape (n,)."""
    m1, _ = lambda_moments(alpha, beta)
    return cosines(G, X) * c_x(X) * m1


def eps_mix(G: torch.Tensor, X: torch.Tensor, alpha: float, beta: float) -> float:
    """``eps_mix = R c_x E_{D~_lam}[1 - lam]`` with ``R = min_i |cos(g_i, x_i)|`` (Theorems 3.1 and 3.2)."""
    return float(eps_i(G, X, alpha, beta).min())


@dataclass(frozen=True)
class ThetaMembership:
    """Whether the parameter lies in ``Theta``; truthy exactly when it does."""

    inside: bool
    mask: torch.Tensor  # (n,) True where (2 y_i - 1) f_i >= -tol
    n_outside: int

    def __bool__(self) -> bool:
        return self.inside


def in_theta(f: torch.Tensor, y: torch.Tensor, tol: float = 0.0) -> ThetaMembership:
    """``Theta = {theta : y_i f_i + (y_i - 1) f_i = (2 y_i - 1) f_i >= 0 for all i}`` (Theorem 3.1).

    Args: f: outputs (n,) (or (n, 1)); y: labels (n,) in {0, 1}; tol: slack allowed below 0.
    """
    f = f.reshape(-1)
    if y.shape != f.shape:
        raise ValueError(f"y must have shape {tuple(f.shape)} to match f, got {tuple(y.shape)}")
    if not torch.all((y == 0) | (y == 1)):
        raise ValueError("Theta is defined for labels y in {0, 1}")
    mask = (2 * y.to(f.dtype) - 1) * f >= -tol
    return ThetaMembership(bool(mask.all()), mask, int((~mask).sum()))


def input_gradients(model: nn.Module, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``f(x_i)`` (n,) and input gradients ``grad_x f(x_i)`` (n, d) of a one-logit model.

    Per-example gradients come from ``vmap(grad(.))`` of the functional model, evaluated in eval mode
    (BatchNorm would otherwise couple the examples); the model's modes are restored.
    """
    f_one = scalar_model(model)

    with eval_mode(model):
        with torch.no_grad():
            f = model(X).reshape(-1)
        if f.shape != (X.shape[0],):
            raise ValueError(f"the model must output one logit per example, got {f.numel()} for {X.shape[0]}")
        G = vmap(grad(f_one))(X)
    return f, G


class _LinearLogit(nn.Module):
    """``f(x) = x^T theta`` as a module, so that logistic regression shares the network code path."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.register_buffer("theta", theta.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.theta


@dataclass(frozen=True)
class ChainCheck:
    """The two inequalities of Theorem 3.1 / 3.2 evaluated on one dataset and parameter."""

    standard: float  # L_std
    R1: float
    R2: float
    R3: float
    mix_quadratic: float  # L~_mix = L_std + R1 + R2 + R3
    adv_eps_i: float  # (1/n) sum_i l~_adv(eps_i sqrt(d))
    adv_eps_mix: float  # (1/n) sum_i l~_adv(eps_mix sqrt(d))
    first_holds: bool  # L~_mix >= adv_eps_i - tol
    second_holds: bool  # adv_eps_i >= adv_eps_mix - tol
    in_theta: bool
    n_outside: int  # training points misclassified (outside Theta's constraint)
    c_x: float
    R: float  # min_i |cos(grad f(x_i), x_i)|
    eps_mix: float
    mean_norm: float  # ||xbar||: the theorems assume centred data
    euler_gap: float  # max_i |f(x_i) - grad f(x_i)^T x_i| (Theorem 3.2's homogeneity)
    hypotheses_met: bool  # centred data, Euler identity and R3 = 0, each within tol
    verdict: str


def check_chain(model_or_theta: nn.Module | torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                alpha: float, beta: float, tol: float = 1e-9) -> ChainCheck:
    """Evaluate ``L~_mix >= mean l~_adv(eps_i sqrt d) >= mean l~_adv(eps_mix sqrt d)`` (Theorems 3.1, 3.2).

    Logistic loss throughout. ``L~_mix`` comes from :func:`mixup_repro.taylor.taylor_terms` (R3 included and
    reported: it vanishes for linear models and bias-free ReLU nets). The inequalities are guaranteed only
    inside ``Theta`` and under the hypotheses (centred data, ``f = grad f^T x``, ``Hess f = 0``); outside
    ``Theta`` the verdict is "not applicable (theta outside Theta)", and unmet hypotheses are named in it.

    Args:
        model_or_theta: ``theta`` (d,) for logistic regression ``f(x) = x^T theta``, or a module mapping
            (n, d) inputs to one logit per example (evaluated in eval mode).
        X: inputs (n, d). y: labels (n,) in {0, 1}. alpha, beta: the mixup Beta parameters.
        tol: absolute slack for the inequalities and for the hypothesis checks (scaled by the data size
            for the centring and Euler checks).
    """
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got {tuple(X.shape)}")
    if isinstance(model_or_theta, nn.Module):
        model = model_or_theta
        f, G = input_gradients(model, X)
    elif isinstance(model_or_theta, torch.Tensor) and model_or_theta.shape == (X.shape[1],):
        model = _LinearLogit(model_or_theta.to(X.dtype))
        f, G = X @ model.theta, model.theta.expand_as(X)
    else:
        raise ValueError(f"model_or_theta must be an nn.Module or a vector of shape ({X.shape[1]},)")
    membership = in_theta(f, y)
    terms = taylor_terms(model, X, y, alpha, beta, loss="logistic")
    mix = terms["standard"] + terms["R1"] + terms["R2"] + terms["R3"]

    sqrt_d = math.sqrt(X.shape[1])
    gnorm = G.norm(dim=1)
    radii = eps_i(G, X, alpha, beta)
    e_mix = float(radii.min())
    adv_i = float(adv_loss_second_order(f, gnorm, y, radii * sqrt_d).mean())
    adv_mix = float(adv_loss_second_order(f, gnorm, y, e_mix * sqrt_d).mean())
    first, second = mix >= adv_i - tol, adv_i >= adv_mix - tol

    scale = float(X.norm(dim=1).max()) + 1.0
    mean_norm = float(X.mean(dim=0).norm())
    euler_gap = float((f - (G * X).sum(dim=1)).abs().max())
    unmet = [name for name, ok in (("data not centred", mean_norm <= tol * scale),
                                   ("f != grad f^T x", euler_gap <= tol * scale * (1.0 + float(gnorm.max()))),
                                   ("R3 != 0", abs(terms["R3"]) <= tol)) if not ok]
    if not membership:
        verdict = "not applicable (theta outside Theta)"
    elif first and second:
        verdict = "holds"
    else:
        verdict = "fails: " + " and ".join(
            s for s, ok in (("L~_mix < adv(eps_i)", first), ("adv(eps_i) < adv(eps_mix)", second)) if not ok)
    if unmet:
        verdict += f" (hypotheses not met: {', '.join(unmet)})"
    return ChainCheck(
        standard=terms["standard"], R1=terms["R1"], R2=terms["R2"], R3=terms["R3"], mix_quadratic=mix,
        adv_eps_i=adv_i, adv_eps_mix=adv_mix, first_holds=bool(first), second_holds=bool(second),
        in_theta=membership.inside, n_outside=membership.n_outside, c_x=c_x(X),
        R=float(cosines(G, X).min()), eps_mix=e_mix, mean_norm=mean_norm, euler_gap=euler_gap,
        hypotheses_met=not unmet, verdict=verdict,
    )


def logistic_adv_loss_exact(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                            radius: torch.Tensor | float) -> torch.Tensor:
    """The exact per-example maximum of the logistic loss of ``f(x) = x^T theta`` over l2 balls (no box).

    ``max_{||delta|| <= r_i} l(theta^T (x_i + delta), y_i) = l(theta^T x_i + (1 - 2 y_i) r_i ||theta||, y_i)``:
    the loss is monotone in the logit, which moves by at most ``r_i ||theta||``. Unlike
    :func:`mixup_repro.attacks.logistic_adversarial_loss` the radius may differ per example, as the theorems'
    ``eps_i sqrt(d)`` do.

    Args: theta (d,), X (n, d), y (n,) in {0, 1}, radius: a scalar or (n,) of l2 radii >= 0.
    Returns: (n,) losses.
    """
    if X.ndim != 2 or theta.shape != (X.shape[1],):
        raise ValueError(f"need theta of shape (d,) and X of shape (n, d); got {tuple(theta.shape)} and {tuple(X.shape)}")
    r = torch.as_tensor(radius, dtype=X.dtype, device=X.device)
    if bool((r < 0).any()) or not bool(torch.isfinite(r).all()):
        raise ValueError("radius must be finite and >= 0")
    y_ = y.to(X.dtype)
    u = X @ theta + (1 - 2 * y_) * r * theta.norm()
    return get_loss("logistic")(u, y_)


def input_hessian_max(model: nn.Module, X: torch.Tensor) -> float:
    """``max_i max_{j,k} |Hess_x f(x_i)_{jk}|`` of a one-logit model (Theorem 3.2 needs 0), in eval mode.

    Materialises the (d, d) input Hessian per example with ``vmap(hessian(.))``: meant for the small ``d``
    of the theory chapters.
    """
    f_one = scalar_model(model)

    with eval_mode(model):
        H = vmap(hessian(f_one))(_flat(X))
    return float(H.abs().max())

"""Robust accuracy of a classifier over attack radii, with the checks that make such a curve trustworthy.

The ladder of Figure 1a, for any model mapping inputs in [0, 1] to class logits: per-example correctness on clean
inputs and under FGSM (l_inf) / PGD (l_inf, l2, random restarts) at each radius, the per-point worst case over
the l_inf attacks, and sanity flags (in the spirit of Carlini et al., 2019, "On Evaluating Adversarial
Robustness"): eps = 0 gives the clean accuracy, accuracy does not increase with eps, PGD is no weaker than FGSM
on the same points, FGSM rarely meets a zero input gradient, and every module ran in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .attacks import fgsm, pgd
from .models import eval_mode

__all__ = ["ATTACKS", "Ladder", "ModeProbe", "attack_correct", "attack_ladder", "correct", "nonincreasing"]

#: The attacks of the ladder and their norms. FGSM runs on every input, the PGD attacks on the first n_pgd.
ATTACKS = {"fgsm": "linf", "pgd_linf": "linf", "pgd_l2": "l2"}
#: Slack of the "accuracy does not increase" and "PGD no weaker" flags (accuracies are ratios of counts).
ACC_TOL = 1e-12


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def correct(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """Per-example correctness (bool, on the CPU) of ``model``'s argmax on ``X`` in eval mode, ``batch`` at a time."""
    device, out = _device(model), []
    with eval_mode(model), torch.no_grad():
        for s in range(0, X.shape[0], batch):
            out.append((model(X[s:s + batch].to(device)).argmax(1) == y[s:s + batch].to(device)).cpu())
    return torch.cat(out)


class ModeProbe:
    """Forward pre-hooks recording whether any module of ``model`` ran in training mode (attacks must not)."""

    def __init__(self, model: nn.Module):
        self.saw_training = False
        self.handles = [m.register_forward_pre_hook(self._hook) for m in model.modules()]

    def _hook(self, module, args):
        self.saw_training |= module.training

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def attack_correct(model: nn.Module, X: torch.Tensor, y: torch.Tensor, attack: str, eps: float, *, batch: int,
                   pgd_steps: int = 10, pgd_restarts: int = 1,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """Per-example correctness (bool, CPU) under one attack of ``ATTACKS`` at radius ``eps``, and the share of
    inputs whose FGSM step was zero (a zero input gradient: masking, or saturated softmax).

    PGD takes ``pgd_steps`` steps of 2.5 eps / steps (Madry et al., 2018) from ``pgd_restarts`` random starts
    drawn from ``generator``; eps = 0 is the clean input.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    device, norm = _device(model), ATTACKS[attack]
    out, zero_grad = [], 0
    for s in range(0, X.shape[0], batch):
        xb, yb = X[s:s + batch].to(device), y[s:s + batch].to(device)
        if eps == 0:
            x_adv = xb
        elif attack == "fgsm":
            x_adv = fgsm(model, xb, yb, eps, norm="linf")
            zero_grad += int(((x_adv - xb).flatten(1).abs().amax(1) == 0).sum())
        else:
            x_adv = pgd(model, xb, yb, eps, 2.5 * eps / pgd_steps, pgd_steps, norm=norm, restarts=pgd_restarts,
                        generator=generator)
        with torch.no_grad():
            out.append((model(x_adv).argmax(1) == yb).cpu())
    return torch.cat(out), zero_grad / X.shape[0]


def nonincreasing(acc: Sequence[float], grid: Sequence[float]) -> bool:
    """Whether accuracies ``acc`` measured at radii ``grid`` (any order) never increase with the radius."""
    order = np.argsort(np.asarray(grid, dtype=float), kind="stable")
    return bool(np.all(np.diff(np.asarray(acc)[order]) <= ACC_TOL))


@dataclass
class Ladder:
    """The outcome of :func:`attack_ladder`.

    ``accuracy[attack]`` holds the accuracy at each radius of that attack's grid; ``worst`` the per-point worst
    case over FGSM and PGD-l_inf on the first ``n_pgd`` inputs at the radii of ``worst_eps`` (those both grids
    share); ``flags`` the sanity checks (``clean_acc``, ``eps0_is_clean``, ``monotone``, ``pgd_no_weaker``,
    ``zero_grad_fraction``, ``eval_mode``).
    """

    accuracy: dict[str, np.ndarray]
    worst_eps: np.ndarray
    worst: np.ndarray
    flags: dict


def attack_ladder(model: nn.Module, X: torch.Tensor, y: torch.Tensor, radii: Mapping[str, Sequence[float]], *,
                  n_pgd: int, batch: int, pgd_steps: int = 10, pgd_restarts: int = 1,
                  generator: torch.Generator | None = None) -> Ladder:
    """Robust accuracy of ``model`` on ``(X, y)`` for every attack and radius of ``radii`` (attack -> grid).

    FGSM attacks all of ``X``, the PGD attacks its first ``n_pgd`` inputs (their random starts drawn from
    ``generator``, in the order of ``ATTACKS`` and of each grid). Everything runs in eval mode, the model's
    modes restored afterwards. See :class:`Ladder`.
    """
    unknown = set(radii) - set(ATTACKS)
    if unknown or "fgsm" not in radii:
        raise ValueError(f"radii must map 'fgsm' and optionally 'pgd_linf', 'pgd_l2' to radius grids, got "
                         f"{sorted(radii)}")
    kw = dict(batch=batch, pgd_steps=pgd_steps, pgd_restarts=pgd_restarts, generator=generator)
    subsets = {a: (X, y) if a == "fgsm" else (X[:n_pgd], y[:n_pgd]) for a in radii}
    with eval_mode(model):
        clean = correct(model, X, y, batch)
        probe = ModeProbe(model)
        accuracy, worst, zero_grad = {}, {}, 0.0
        for attack in (a for a in ATTACKS if a in radii):
            accs = []
            for eps in radii[attack]:
                hits, zg = attack_correct(model, *subsets[attack], attack, eps, **kw)
                accs.append(float(hits.float().mean()))
                if attack == "fgsm" and eps > 0:
                    zero_grad = max(zero_grad, zg)
                if attack != "pgd_l2":  # per-point worst case over the l_inf attacks at each radius
                    worst[eps] = hits[:n_pgd] if eps not in worst else worst[eps] & hits[:n_pgd]
            accuracy[attack] = np.array(accs)
        probe.remove()
        common = sorted(set(radii["fgsm"]) & set(radii.get("pgd_linf", ())))
        fgsm_on_pgd_points = {e: float(attack_correct(model, X[:n_pgd], y[:n_pgd], "fgsm", e, **kw)[0].float().mean())
                              for e in common}
    clean_acc = {a: float(clean[:None if a == "fgsm" else n_pgd].float().mean()) for a in radii}
    pgd_acc = dict(zip(radii.get("pgd_linf", ()), accuracy.get("pgd_linf", ())))
    flags = {
        "clean_acc": clean_acc["fgsm"],
        "eps0_is_clean": all(accuracy[a][list(g).index(0.0)] == clean_acc[a] for a, g in radii.items() if 0.0 in g),
        "monotone": all(nonincreasing(accuracy[a], g) for a, g in radii.items()),
        "pgd_no_weaker": all(pgd_acc[e] <= fgsm_on_pgd_points[e] + ACC_TOL for e in common),
        "zero_grad_fraction": zero_grad,
        "eval_mode": not probe.saw_training,
    }
    return Ladder(accuracy, np.array(common, dtype=float),
                  np.array([float(worst[e].float().mean()) for e in common]), flags)

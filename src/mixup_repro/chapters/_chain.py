"""What the two theorem chapters share: the chain of Theorems 3.1/3.2 checked along training, and its claims.

The chain (book: ``thm-mixup-adv-logistic``, ``thm-mixup-adv-relu``) is
``L~_mix >= mean l~_adv(eps_i sqrt d) >= mean l~_adv(eps_mix sqrt d)`` on every iterate in Theta
(:func:`mixup_repro.theory.robustness.check_chain`); :class:`ChainHook` records it with the true adversarial loss
at the same radii, :func:`chain_summary` counts where it held, and the claim builders state the verdicts.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..claims import Claim
from ..report import verdict_values
from ..results import Result
from ..taylor import mixup_loss_exact
from ..theory.robustness import check_chain, eps_i, input_gradients

__all__ = ["CHAIN_KEYS", "CHAIN_TOL", "PAPER_CHAIN", "PAPER_EPS_MIX", "ChainHook", "book_values", "chain_claim",
           "chain_summary", "eps_claim", "radius_curves", "record_chain", "violation_claim"]

#: The chain's inequalities are checked with this absolute slack (float64 rounding only).
CHAIN_TOL = 1e-9
#: What the paper states for the chain of each theorem (figure_note's "Paper:" line; recalled, not checked on the PDF).
PAPER_CHAIN = {
    "Theorem 3.1": "for logistic regression and theta in Theta, L~_mix >= mean l~_adv(eps_i sqrt d) >= mean "
                   "l~_adv(eps_mix sqrt d) (recalled; centring hypothesis uncertain)",
    "Theorem 3.2": "the same chain for nets with f(x) = grad f(x)^T x and a zero input Hessian (ReLU, max-pooling), "
                   "theta in Theta (recalled; centring uncertain)",
}
#: What the paper states for the radius eps_mix of each theorem.
PAPER_EPS_MIX = {
    "Theorem 3.1": "eps_mix = R c_x E[1 - lam], R = min_i |cos(theta, x_i)|, depends on theta; no value is given "
                   "(recalled)",
    "Theorem 3.2": "eps_mix = R c_x E[1 - lam] with R = min_i |cos(grad f(x_i), x_i)|; no value is given for a "
                   "trained net (recalled)",
}
#: The per-epoch records of a case, saved as arrays ``<case>.<key>`` at the epochs the hook measured.
CHAIN_KEYS = ("epoch", "chain_standard", "chain_R1", "chain_R2", "chain_R3", "chain_mix_quadratic",
              "chain_adv_eps_i", "chain_adv_eps_mix", "chain_first_holds", "chain_second_holds", "chain_in_theta",
              "chain_n_outside", "chain_c_x", "chain_R", "chain_eps_mix", "chain_euler_gap",
              "chain_true_adv_eps_mix", "chain_true_adv_eps_i", "chain_mixup_exact", "train_err_clean")


class ChainHook:
    """Every ``every`` epochs: Theorem 3.1/3.2's chain, and the true adversarial loss at the same radii.

    ``true_adv(model, radius)`` returns per-example adversarial losses at an l2 radius (a scalar or (n,)):
    exact for logistic regression, PGD-l2 for networks. ``theta_of(model)`` gives the weight vector of a linear
    model (then the per-example radii eps_i are used too); ``mixup_exact_order`` adds the exact mixup loss.
    Records plain floats under ``chain_*`` keys.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, alpha: float, beta: float, every: int,
                 true_adv: Callable, theta_of: Callable | None = None, mixup_exact_order: int | None = None):
        self.X, self.y, self.alpha, self.beta, self.every = X, y, alpha, beta, every
        self.true_adv, self.theta_of, self.order = true_adv, theta_of, mixup_exact_order

    def __call__(self, epoch: int, model: torch.nn.Module) -> dict[str, float] | None:
        if epoch % self.every:
            return None
        target = self.theta_of(model) if self.theta_of else model
        chk = check_chain(target, self.X, self.y, self.alpha, self.beta, tol=CHAIN_TOL)
        sqrt_d = self.X.shape[1] ** 0.5
        G = target if self.theta_of else input_gradients(model, self.X)[1]
        radii = eps_i(G, self.X, self.alpha, self.beta)
        rec = {f"chain_{k}": float(getattr(chk, k)) for k in (
            "standard", "R1", "R2", "R3", "mix_quadratic", "adv_eps_i", "adv_eps_mix", "first_holds",
            "second_holds", "in_theta", "n_outside", "c_x", "R", "eps_mix", "euler_gap")}
        rec["chain_true_adv_eps_mix"] = float(self.true_adv(model, chk.eps_mix * sqrt_d).mean())
        if self.theta_of:  # exact per-example radii are only available in closed form
            rec["chain_true_adv_eps_i"] = float(self.true_adv(model, radii * sqrt_d).mean())
        if self.order:
            rec["chain_mixup_exact"] = mixup_loss_exact(model, self.X, self.y, self.alpha, self.beta, order=self.order)
        return rec


def record_chain(arrays: dict[str, np.ndarray], case: str, hist, skip: tuple[str, ...] = ()) -> None:
    """Copy the chain records of one training (a ``History``) into ``arrays`` as ``<case>.<key>``."""
    measured = ~np.isnan(hist.column("chain_mix_quadratic"))
    for key in CHAIN_KEYS:
        if key not in skip:
            arrays[f"{case}.{key}"] = hist.column(key)[measured]


def chain_summary(a: dict[str, np.ndarray], case: str) -> dict:
    """Counts and extremes of one case's chain records (arrays ``<case>.chain_*``)."""
    inside = a[f"{case}.chain_in_theta"] > 0
    holds = (a[f"{case}.chain_first_holds"] > 0) & (a[f"{case}.chain_second_holds"] > 0)
    mix, true_mix = a[f"{case}.chain_mix_quadratic"], a[f"{case}.chain_true_adv_eps_mix"]
    out = {
        "n_iterates": int(inside.size), "n_in_theta": int(inside.sum()),
        "n_holds_in_theta": int((holds & inside).sum()), "n_holds_outside": int((holds & ~inside).sum()),
        "first_in_theta_epoch": float(a[f"{case}.epoch"][inside][0]) if inside.any() else float("nan"),
        "min_gap_first": float((mix - a[f"{case}.chain_adv_eps_i"])[inside].min()) if inside.any() else float("nan"),
        "n_violate_true_eps_mix": int(((mix < true_mix) & inside).sum()),
        "final_train_err_clean": float(a[f"{case}.train_err_clean"][-1]),
        "final_eps_mix": float(a[f"{case}.chain_eps_mix"][-1]), "final_c_x": float(a[f"{case}.chain_c_x"][-1]),
        "final_R": float(a[f"{case}.chain_R"][-1]), "final_R_median": float(np.median(a[f"{case}.R_i"])),
        "max_euler_gap": float(a[f"{case}.chain_euler_gap"].max()),
        "max_abs_R3": float(np.abs(a[f"{case}.chain_R3"]).max()),
    }
    if f"{case}.chain_true_adv_eps_i" in a:
        out["n_violate_true_eps_i"] = int(((mix < a[f"{case}.chain_true_adv_eps_i"]) & inside).sum())
    return out


def radius_curves(arrays: dict[str, np.ndarray], case: str, X: torch.Tensor, model: torch.nn.Module,
                  radii_rel, true_adv: Callable, second_order: Callable) -> None:
    """Final model: second-order and true adversarial loss over l2 radii ``radii_rel`` x the median input norm."""
    radii = np.asarray(radii_rel, dtype=float) * float(X.norm(dim=1).median())
    arrays[f"{case}.dim"] = np.array(X.shape[1])
    arrays[f"{case}.radius"] = radii
    arrays[f"{case}.radius_second_order"] = np.array([float(second_order(r).mean()) for r in radii])
    arrays[f"{case}.radius_true"] = np.array([float(true_adv(model, float(r)).mean()) for r in radii])


def chain_claim(theorem: str, label: str, s: dict) -> Claim:
    """The theorem's chain on the iterates in Theta of one case (INFO when none is in Theta)."""
    held = f"{s['n_holds_in_theta']} of {s['n_in_theta']} iterates in Theta"
    outside = s["n_iterates"] - s["n_in_theta"]
    detail = (f"{held} (of {s['n_iterates']} checked; first in Theta at epoch {s['first_in_theta_epoch']:g}); "
              f"outside Theta the chain still held at {s['n_holds_outside']} of {outside}"
              if s["n_in_theta"] else
              f"no iterate in Theta (final clean training error {s['final_train_err_clean']:.1%}); outside Theta "
              f"the chain held at {s['n_holds_outside']} of {outside} iterates anyway")
    if s["n_in_theta"] == 0:
        verdict = "INFO"
    else:
        verdict = "PASS" if s["n_holds_in_theta"] == s["n_in_theta"] else "FAIL"
    return Claim(id=f"{theorem} (chain, {label})",
                 statement="L~_mix >= mean l~_adv(eps_i sqrt d) >= mean l~_adv(eps_mix sqrt d) on every iterate in "
                           "Theta",
                 paper=PAPER_CHAIN[theorem], kind="paper", verdict=verdict, detail=detail,
                 numbers={k: s[k] for k in ("n_iterates", "n_in_theta", "n_holds_in_theta", "n_holds_outside")})


def violation_claim(theorem: str, cases: dict[str, str], summary: dict, how: str) -> Claim:
    """Whether the bound also holds for the true (or PGD-estimated) adversarial loss, which the paper does not claim."""
    parts = []
    for case, label in cases.items():
        s = summary[case]
        n = s["n_in_theta"]
        extra = (f", at eps_i sqrt d {s['n_violate_true_eps_i']}/{n}" if "n_violate_true_eps_i" in s else "")
        parts.append(f"{label}: L~_mix < true adversarial loss at eps_mix sqrt d on {s['n_violate_true_eps_mix']}/{n}"
                     f" in-Theta iterates{extra}")
    return Claim(id=f"{theorem} (true adversarial loss)",
                 statement=f"the bound also holds for the {how} adversarial loss at the same radius (not claimed by "
                           f"the paper)",
                 paper="not stated: the theorem bounds only the second-order adversarial loss; we test the true one",
                 kind="beyond", verdict="INFO", detail="; ".join(parts),
                 numbers={f"{c}.n_violate_true_eps_mix": summary[c]["n_violate_true_eps_mix"] for c in cases})


def eps_claim(theorem: str, cases: dict[str, str], summary: dict) -> Claim:
    """The size of the guaranteed radius eps_mix on the final models."""
    return Claim(id=f"{theorem} (size of eps_mix)",
                 statement="the guaranteed radius eps_mix = R c_x E[1 - lam] on the final model",
                 paper=PAPER_EPS_MIX[theorem], kind="beyond", verdict="INFO",
                 detail="; ".join(f"{label}: eps_mix {summary[c]['final_eps_mix']:.2e} (R = min_i R_i "
                                  f"{summary[c]['final_R']:.2e}, median R_i {summary[c]['final_R_median']:.2f}, c_x "
                                  f"{summary[c]['final_c_x']:.2e})" for c, label in cases.items()),
                 numbers={f"{c}.final_eps_mix": summary[c]["final_eps_mix"] for c in cases})


def book_values(result: Result) -> dict[str, float | str]:
    """Plain values the theory pages glue, per case of a Theorem 3.1/3.2 run (keys ``<case>_<quantity>``)."""
    out: dict[str, float | str] = {}
    for case, s in result.metrics["cases"].items():
        for key in ("n_iterates", "n_in_theta", "n_holds_in_theta", "n_holds_outside", "n_violate_true_eps_mix",
                    "final_eps_mix", "final_R", "final_R_median", "final_c_x", "final_train_err_clean"):
            out[f"{case}_{key}"] = float(s[key])
        for key in ("euler_gap", "hessian_max", "max_rel_gap_second_order_vs_pgd"):
            if key in s:
                out[f"{case}_{key}"] = float(s[key])
    return out | verdict_values(result)

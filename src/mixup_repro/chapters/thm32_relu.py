"""Theorem 3.2 (book: ``thm-mixup-adv-relu``): the same chain for ReLU networks, checked with PGD.

Notebook ``thm32_relu``: a bias-free one-hidden-layer ReLU MLP (the theorem's hypotheses hold) and the same MLP
with biases (they do not) trained with full-batch mixup on XOR cones; the hypotheses, the chain on every checked
iterate, a PGD-l2 estimate of the true adversarial loss, and the size of eps_mix.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..attacks import pgd
from ..claims import Claim
from ..config import Thm32Config
from ..data.synthetic import xor_cones
from ..losses import get_loss
from ..models import build_model
from ..results import Result
from ..runs import derive_seed, finish_run, fit, notebook_run
from ..theory.robustness import adv_loss_second_order, cosines, input_gradients, input_hessian_max
from . import _chain
from ._chain import book_values

__all__ = ["CASES", "HYPOTHESIS_TOL", "book_values", "claims", "run"]

#: The cases of the notebook: key -> label.
CASES = {"nobias": "bias-free ReLU MLP", "bias": "ReLU MLP with biases"}
#: Theorem 3.2's hypotheses (Euler identity, zero input Hessian) count as met below this (float64).
HYPOTHESIS_TOL = 1e-10
#: The theory chapters' tensors are too small for threads to pay (see :func:`mixup_repro.runs.torch_threads`).
THREADS = 1


def _pgd_adversarial_loss(X: torch.Tensor, y: torch.Tensor, cfg: Thm32Config, generator: torch.Generator):
    """``true_adv(model, radius)``: per-example logistic loss at a PGD-l2 point of the ball (worst restart)."""
    lossfn = get_loss("logistic")

    def true_adv(model: torch.nn.Module, radius) -> torch.Tensor:
        r = float(radius)
        if r == 0:
            with torch.no_grad():
                return lossfn(model(X), y)
        x_adv = pgd(model, X, y, r, 2.5 * r / cfg.pgd_steps, cfg.pgd_steps, norm="l2",
                    restarts=cfg.pgd_restarts, generator=generator, clip=None)
        with torch.no_grad():
            return lossfn(model(x_adv), y)

    return true_adv


@notebook_run(threads=THREADS)
def run(cfg: Thm32Config, *, progress: bool = True) -> Result:
    """Theorem 3.2 for a bias-free one-hidden-layer ReLU MLP, and the same MLP with biases, on XOR cones.

    Checks the hypotheses (Euler identity ``f = grad f^T x`` and zero input Hessian), then evaluates the chain
    every ``cfg.eval_every`` epochs of full-batch mixup training together with a PGD-l2 estimate (random
    restarts, the worst kept) of the true adversarial loss at ``eps_mix sqrt d``. On the final models: R_i,
    and the second-order adversarial loss against PGD over a grid of radii.
    """
    start = time.perf_counter()
    ds = xor_cones(cfg.n_samples, cfg.dim, cfg.margin, cfg.data_seed)
    X, y = ds.X, ds.y
    true_adv = _pgd_adversarial_loss(X, y, cfg, torch.Generator().manual_seed(derive_seed(cfg.seed, 100)))
    arrays: dict[str, np.ndarray] = {"data.X": X.numpy(), "data.y": y.numpy()}
    seeds, hypotheses = {}, {}
    for index, case in enumerate(CASES):
        seeds[case] = derive_seed(cfg.seed, index)
        model = build_model("relu_mlp_nobias" if case == "nobias" else "relu_mlp", ds.d, hidden=cfg.hidden,
                            generator=torch.Generator().manual_seed(seeds[case]))
        hook = _chain.ChainHook(X, y, cfg.alpha, cfg.beta, cfg.eval_every, true_adv)
        # Not checkpointed: the hook's PGD draws from the generator of true_adv, which the radius curves use too.
        hist = fit(model, X, y, alpha=cfg.alpha, beta=cfg.beta, epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed,
                   hooks=[hook], progress=f"mixup {case}" if progress else False, checkpoint=False)
        _chain.record_chain(arrays, case, hist, skip=("chain_true_adv_eps_i", "chain_mixup_exact"))
        f, G = input_gradients(model, X)
        arrays[f"{case}.R_i"] = cosines(G, X).numpy()
        arrays[f"{case}.x_norm"] = X.norm(dim=1).numpy()
        hypotheses[case] = {"euler_gap": float((f - (G * X).sum(dim=1)).abs().max()),
                            "hessian_max": input_hessian_max(model, X)}
        _chain.radius_curves(arrays, case, X, model, cfg.radius_grid, true_adv,
                             lambda r: adv_loss_second_order(f, G.norm(dim=1), y, r))  # noqa: B023
    summary = {case: _chain.chain_summary(arrays, case) | hypotheses[case] for case in CASES}
    for case in CASES:  # accuracy of the second-order adversarial loss at eps_mix sqrt(d)
        t, s = arrays[f"{case}.chain_true_adv_eps_mix"], arrays[f"{case}.chain_adv_eps_mix"]
        summary[case]["max_rel_gap_second_order_vs_pgd"] = float(np.max(np.abs(s - t) / t))
    metrics = {"cases": summary, "case_labels": CASES, "true_adv": "PGD-l2",
               "claims": [c.to_dict() for c in claims(summary)]}
    return finish_run(cfg, metrics, arrays, start=start, device="cpu",
                      seeds={"seed": cfg.seed, "data_seed": cfg.data_seed, "model_init": seeds})


def claims(summary: dict) -> list[Claim]:
    """Hypotheses, the chain of the bias-free net, PGD against the bound and the second-order loss, biases, eps_mix."""
    nb, b = summary["nobias"], summary["bias"]
    ok = nb["euler_gap"] <= HYPOTHESIS_TOL and nb["hessian_max"] <= HYPOTHESIS_TOL
    return [
        Claim(id="Theorem 3.2 (hypotheses)",
              statement="a bias-free ReLU MLP has f(x) = grad f(x)^T x and a zero input Hessian at the data",
              paper="Theorem 3.2 assumes f(x_i) = grad f(x_i)^T x_i and a zero input Hessian, as for ReLU/max-pool "
                    "nets (recalled; that this needs no biases is our reading)",
              kind="check", verdict="PASS" if ok else "FAIL",
              detail=f"bias-free: max |f - grad f^T x| {nb['euler_gap']:.1e}, max |Hess f| {nb['hessian_max']:.1e}; "
                     f"with biases: {b['euler_gap']:.2f} and {b['hessian_max']:.1e}",
              numbers={"euler_gap": nb["euler_gap"], "hessian_max": nb["hessian_max"], "tolerance": HYPOTHESIS_TOL}),
        _chain.chain_claim("Theorem 3.2", CASES["nobias"], nb),
        _chain.violation_claim("Theorem 3.2", CASES, summary, "PGD-l2 estimate of the"),
        Claim(id="Theorem 3.2 (second-order adversarial loss)",
              statement="l~_adv at eps_mix sqrt d matches the PGD-l2 adversarial loss",
              paper="the worst loss over the l2 ball is l~_adv + o(radius^2) (recalled); no accuracy for trained "
                    "nets is given",
              kind="beyond", verdict="INFO",
              detail="largest relative gap along training: " + ", ".join(
                  f"{CASES[c]} {summary[c]['max_rel_gap_second_order_vs_pgd']:.1e}" for c in CASES),
              numbers={f"{c}.max_rel_gap": summary[c]["max_rel_gap_second_order_vs_pgd"] for c in CASES}),
        Claim(id="Theorem 3.2 (with biases)",
              statement="outside the hypotheses (biases) the chain is not guaranteed",
              paper="not stated: biases break the hypotheses, yet the paper's WRN-16-8 has biases and BatchNorm; we "
                    "see how far the chain holds",
              kind="beyond", verdict="INFO",
              detail=(f"chain held at {b['n_holds_in_theta']} of {b['n_in_theta']} in-Theta iterates and "
                      f"{b['n_holds_outside']} of {b['n_iterates'] - b['n_in_theta']} outside; "
                      f"max |f - grad f^T x| {b['euler_gap']:.2f}"),
              numbers={k: b[k] for k in ("n_in_theta", "n_holds_in_theta", "n_holds_outside", "euler_gap")}),
        _chain.eps_claim("Theorem 3.2", CASES, summary),
    ]

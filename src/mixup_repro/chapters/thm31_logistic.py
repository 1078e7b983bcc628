"""Theorem 3.1 (book: ``thm-mixup-adv-logistic``): mixup and the adversarial loss of logistic regression.

Notebook ``thm31_logistic``: bias-free logistic regression trained with full-batch mixup on centred separable
Gaussians and on centred two-moons; the theorem's chain on every checked iterate, the exact adversarial loss at
the same radii, and the size of eps_mix.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..claims import Claim
from ..config import Thm31Config
from ..data.synthetic import gaussian_mixture, two_moons
from ..models import LogisticRegression, init_from_generator
from ..results import Result
from ..runs import derive_seed, finish_run, fit, notebook_run
from ..theory.robustness import adv_loss_second_order, cosines, logistic_adv_loss_exact
from . import _chain
from ._chain import book_values

__all__ = ["CASES", "book_values", "claims", "run"]

#: The cases of the notebook: key -> label.
CASES = {"separable": "separable Gaussians", "two_moons": "two-moons"}
#: The theory chapters' tensors are too small for threads to pay (see :func:`mixup_repro.runs.torch_threads`).
THREADS = 1


@notebook_run(threads=THREADS)
def run(cfg: Thm31Config, *, progress: bool = True) -> Result:
    """Theorem 3.1 on centred separable Gaussians and centred two-moons (bias-free logistic regression).

    Trains ``f(x) = theta^T x`` with full-batch mixup and, every ``cfg.eval_every`` epochs, evaluates the
    chain ``L~_mix >= mean l~_adv(eps_i sqrt d) >= mean l~_adv(eps_mix sqrt d)`` (:func:`theory.robustness.check_chain`),
    whether theta lies in Theta, the exact adversarial loss at the same radii (closed form) and the exact
    mixup loss (all pairs, quadrature). On the final model: R_i per example and both adversarial losses over
    a grid of radii.
    """
    start = time.perf_counter()
    data = {"separable": gaussian_mixture(cfg.n_samples, cfg.dim, cfg.separation, cfg.data_seed),
            "two_moons": two_moons(cfg.n_samples, cfg.noise, cfg.data_seed)}
    arrays: dict[str, np.ndarray] = {}
    seeds = {}
    for index, (case, ds) in enumerate(data.items()):
        X, y = ds.X, ds.y
        seeds[case] = derive_seed(cfg.seed, index)
        model = init_from_generator(LogisticRegression(ds.d, bias=False), torch.Generator().manual_seed(seeds[case]))
        model = model.to(torch.float64)
        theta_of = lambda m: m.theta.detach()  # noqa: E731
        true_adv = lambda m, r: logistic_adv_loss_exact(m.theta.detach(), X, y, r)  # noqa: E731, B023
        hook = _chain.ChainHook(X, y, cfg.alpha, cfg.beta, cfg.eval_every, true_adv, theta_of, cfg.quad_order)
        hist = fit(model, X, y, alpha=cfg.alpha, beta=cfg.beta, epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed,
                   hooks=[hook], progress=f"mixup {case}" if progress else False)
        _chain.record_chain(arrays, case, hist)
        theta = model.theta.detach()
        arrays[f"{case}.R_i"] = cosines(theta, X).numpy()
        arrays[f"{case}.x_norm"] = X.norm(dim=1).numpy()
        f = X @ theta
        _chain.radius_curves(arrays, case, X, model, cfg.radius_grid, true_adv,
                             lambda r: adv_loss_second_order(f, theta.norm(), y, r))  # noqa: B023
    summary = {case: _chain.chain_summary(arrays, case) for case in data}
    metrics = {"cases": summary, "case_labels": CASES, "true_adv": "exact",
               "claims": [c.to_dict() for c in claims(summary)]}
    return finish_run(cfg, metrics, arrays, start=start, device="cpu",
                      seeds={"seed": cfg.seed, "data_seed": cfg.data_seed, "model_init": seeds})


def claims(summary: dict) -> list[Claim]:
    """The chain per case, the true adversarial loss at the same radii, and eps_mix (``summary``: per case)."""
    return ([_chain.chain_claim("Theorem 3.1", label, summary[case]) for case, label in CASES.items()]
            + [_chain.violation_claim("Theorem 3.1", CASES, summary, "exact"),
               _chain.eps_claim("Theorem 3.1", CASES, summary)])

"""Figures 1b and 5-8: the generalization gap (test loss - clean training loss) of ERM and mixup.

Notebook ``generalization_gap``: per dataset, ERM and mixup (each alpha of ``cfg.alphas``) over ``n_seeds``
seeds from the same initial weights, the gap read at the final epoch.
"""

from __future__ import annotations

import time

import numpy as np

from ..claims import Claim
from ..config import GeneralizationGapConfig
from ..results import Result
from ..runs import derive_seed, finish_run, notebook_run
from ..stats import compare_paired, paired_interval
from ..train import resolve_device
from ._images import image_runs, load_pair, method_name

__all__ = ["LEVEL", "book_values", "claims", "run"]

#: Confidence level of the paired intervals over seeds.
LEVEL = 0.95


@notebook_run(threads=lambda cfg: cfg.threads)
def run(cfg: GeneralizationGapConfig, *, progress: bool = True) -> Result:
    """Figures 1b and 5-8: per dataset, ERM and mixup (each alpha in ``cfg.alphas``) over ``n_seeds`` seeds.

    Records per epoch the clean training loss and 0-1 error (unmixed data, eval mode), the test loss and error and
    the mixup objective. The generalization gap is ``test_loss - train_loss_clean``, read at the **final** epoch
    (not the best one). Each seed gives every method the same initial weights.
    """
    start = time.perf_counter()
    arrays: dict[str, np.ndarray] = {}
    per_ds: dict[str, dict] = {}
    for d, (name, model, n_tr, n_te) in enumerate(zip(cfg.datasets, cfg.models, cfg.train_sizes, cfg.test_sizes)):
        train, test = load_pair(name, n_tr, n_te, cfg.data_dir, cfg.seed, cfg.download, cfg.dtype)
        runs = image_runs(train, test, model, cfg.alphas, cfg.n_seeds, derive_seed(cfg.seed, 1000 + d),
                          epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, lr_schedule=cfg.lr_schedule, hidden=cfg.mlp_hidden,
                          device=cfg.device, bf16=cfg.bf16, compile=cfg.compile, progress=progress, label=name)
        arrays.update({f"{name}.{k}": v for k, v in runs.items()})
        per_ds[name] = {"model": model, "n_train": train.n, "n_test": test.n, "source": train.source,
                        "methods": {method_name(alpha): _final(runs, alpha) for alpha in cfg.alphas}}
    metrics = {"datasets": per_ds, "metric": "test loss - clean training loss at the final epoch",
               "claims": [c.to_dict() for c in claims(cfg, per_ds)]}
    return finish_run(cfg, metrics, arrays, start=start, device=str(resolve_device(cfg.device)),
                      seeds={"seed": cfg.seed, "n_seeds": cfg.n_seeds})


def _final(runs: dict[str, np.ndarray], alpha: float) -> dict:
    """One method's final-epoch gap (per seed, mean, sd), test error (per seed, mean), clean training error, test loss."""
    gap = runs[f"{alpha:g}.test_loss"][:, -1] - runs[f"{alpha:g}.train_loss_clean"][:, -1]
    return {
        "alpha": alpha, "final_gap": gap.tolist(), "final_gap_mean": float(gap.mean()),
        "final_gap_sd": float(gap.std(ddof=1)) if len(gap) > 1 else 0.0,
        "final_test_err": runs[f"{alpha:g}.test_err"][:, -1].tolist(),
        "final_test_err_mean": float(runs[f"{alpha:g}.test_err"][:, -1].mean()),
        "final_train_err_clean_mean": float(runs[f"{alpha:g}.train_err_clean"][:, -1].mean()),
        "final_test_loss_mean": float(runs[f"{alpha:g}.test_loss"][:, -1].mean()),
    }


def _points(iv) -> str:
    """``+0.6 [+0.1, +1.1]``: an interval of error rates, in percentage points."""
    f = lambda v: f"{100 * v:+.1f}" if np.isfinite(v) else ("-inf" if v < 0 else "inf")  # noqa: E731
    return f"{f(iv.estimate)} [{f(iv.ci_low)}, {f(iv.ci_high)}]"


def claims(cfg: GeneralizationGapConfig, per_ds: dict) -> list[Claim]:
    """Per dataset: each mixup's gap against ERM's, decided on the per-seed differences, and the test errors.

    Seed ``s`` gives every method the same initial weights, so the methods are compared on the paired differences
    ``gap_mixup[s] - gap_ERM[s]`` with a t interval at level ``LEVEL``.
    """
    out = []
    for name, info in per_ds.items():
        m = info["methods"]
        erm = m.get("ERM")
        for method, v in m.items():
            if method == "ERM" or erm is None:
                continue
            decision = compare_paired(v["final_gap"], erm["final_gap"], "less", level=LEVEL)
            out.append(Claim.decided(
                f"Figures 1b/5-8, {name} ({method})",
                "mixup has a smaller final-epoch gap (test loss - clean train loss) than ERM",
                "Figures 1b, 5-8 (CIFAR-10/100, Fashion-MNIST, Kuzushiji-MNIST): mixup's test - train loss gap is "
                "smaller than ERM's (recalled; no numbers given)",
                "paper", decision, what="gap mixup - ERM (nats)",
                extra=f"{info['model']}, {info['n_train']} train / {info['n_test']} test images, {cfg.epochs} epochs; "
                      f"gap {v['final_gap_mean']:.3f} vs ERM {erm['final_gap_mean']:.3f} (means)",
                numbers={"gap_mixup": v["final_gap_mean"], "gap_erm": erm["final_gap_mean"]}))
        diffs = {k: paired_interval(v["final_test_err"], erm["final_test_err"], LEVEL)
                 for k, v in m.items() if k != "ERM" and erm is not None}
        out.append(Claim(
            id=f"Figures 1b/5-8, {name} (test error)",
            statement="final-epoch test error per method (mean over seeds)",
            paper="not stated: the figures show the loss gap (whether also test error is uncertain); error "
                  "shows what the gap costs",
            kind="beyond", verdict="INFO",
            detail=", ".join(f"{k} {v['final_test_err_mean']:.2%}" for k, v in m.items())
                   + "; clean train error " + ", ".join(f"{k} {v['final_train_err_clean_mean']:.2%}"
                                                        for k, v in m.items())
                   + "".join(f"; {k} - ERM test error {_points(iv)} points" for k, iv in diffs.items())
                   + (f" ({LEVEL:.0%} paired t intervals, n = {cfg.n_seeds})" if diffs else ""),
            numbers={f"{k}.test_err": v["final_test_err_mean"] for k, v in m.items()}))
    return out


def book_values(result: Result) -> dict[str, float | str]:
    """Plain values for the theory page: each method's final gap per dataset, and the verdicts."""
    out: dict[str, float | str] = {}
    for name, info in result.metrics["datasets"].items():
        for method, v in info["methods"].items():
            key = "erm" if method == "ERM" else "mixup" + f"{v['alpha']:g}".replace(".", "")
            out[f"gap_{name}_{key}"] = float(v["final_gap_mean"])
    out["gap_verdicts"] = ", ".join(f"{c['verdict']}" for c in result.metrics["claims"] if c["kind"] == "paper")
    return out

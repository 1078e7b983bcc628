"""Figure 1a and beyond: robust accuracy of ERM and mixup image classifiers against the attack radius.

Notebook ``fig1a_fgsm``: per seed one ERM and one mixup model from the same initial weights, then the attack ladder
of :mod:`mixup_repro.robust_eval` on the test set (FGSM, the paper's attack; PGD-l_inf and PGD-l2 with random
restarts beyond it) with its sanity flags.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import train
from ..claims import Claim
from ..config import Fig1aConfig
from ..data.images import channel_stats, load_image_dataset
from ..report import verdict_values
from ..results import Result
from ..robust_eval import ATTACKS, attack_ladder
from ..runs import derive_seed, finish_run, fit, notebook_run
from ..stats import OUTCOMES, Interval, all_of, decide, paired_interval, seeds_to_resolve
from ..vision_models import build_vision_model
from ._images import autocast_dtype

__all__ = ["LEVEL", "METHODS", "book_values", "claims", "run"]

METHODS = ("erm", "mixup")
#: Confidence level of every paired interval of the chapter (per radius; the radii are not corrected jointly).
LEVEL = 0.95
#: The sanity flags allow at most this share of FGSM steps that met a zero input gradient.
ZERO_GRAD_MAX = 0.01


def _radii(cfg) -> dict[str, tuple[float, ...]]:
    """Attack -> radius grid, in the order of ``robust_eval.ATTACKS`` (cfg: a config or its saved dict)."""
    get = cfg.get if isinstance(cfg, dict) else lambda k: getattr(cfg, k)
    return {"fgsm": tuple(get("fgsm_eps")), "pgd_linf": tuple(get("pgd_eps")), "pgd_l2": tuple(get("l2_eps"))}


@notebook_run(threads=lambda cfg: cfg.threads)
def run(cfg: Fig1aConfig, *, progress: bool = True) -> Result:
    """Figure 1a and beyond: robust accuracy of ERM and mixup image classifiers against attack radii.

    For each seed, trains one ERM (alpha = 0) and one mixup (Beta(alpha, beta)) model with minibatch SGD on
    the clean training set, then measures on the test set: clean accuracy, FGSM-l_inf accuracy over
    ``cfg.fgsm_eps`` (all ``n_test`` images), and PGD-l_inf / PGD-l2 accuracy with random restarts over
    ``cfg.pgd_eps`` / ``cfg.l2_eps`` (the first ``n_pgd`` test images), and the per-point worst case over all
    three attacks at matching l_inf radii, with the sanity flags of :func:`mixup_repro.robust_eval.attack_ladder`.
    """
    device = train.resolve_device(cfg.device)
    # fit restores cuDNN's mode when it returns; the attacks after it (sign of an input gradient) need
    # deterministic algorithms too, or the same weights could give other robust accuracies on a GPU
    with train._cudnn_mode(device.type == "cuda", True):
        return _run(cfg, device, progress)


def _run(cfg: Fig1aConfig, device: torch.device, progress: bool) -> Result:
    start = time.perf_counter()
    kwargs = dict(data_dir=cfg.data_dir or None, download=cfg.download)
    train_set = load_image_dataset(cfg.dataset, "train", n=cfg.n_train or None, fake_size=cfg.n_train or 512, **kwargs)
    test = load_image_dataset(cfg.dataset, "test", n=cfg.n_test or None, fake_size=cfg.n_test or 512, **kwargs)
    dtype = getattr(torch, cfg.dtype)  # data, weights, attacks and the [0, 1] box all in it
    train_set, test = train_set.astype(dtype), test.astype(dtype)
    mean, std = channel_stats(train_set.X)
    n_pgd = min(cfg.n_pgd, test.n)
    arrays: dict[str, np.ndarray] = {}
    flags, seeds_used = {}, {}
    for seed in cfg.seeds:
        for method in METHODS:
            key = f"{method}.seed{seed}"
            seeds_used[key] = derive_seed(seed, 0)  # ERM and mixup of one seed start from the same weights
            model = build_vision_model(cfg.model, train_set.shape, train_set.num_classes,
                                       generator=torch.Generator().manual_seed(seeds_used[key]), mean=mean, std=std,
                                       hidden=cfg.mlp_hidden).to(dtype)
            alpha = 0.0 if method == "erm" else cfg.alpha
            hist = fit(model, train_set.X, train_set.y, alpha=alpha, beta=cfg.beta if alpha else None,
                       epochs=cfg.epochs, lr=cfg.lr, seed=seed, loss="cross_entropy",
                       batch_size=min(cfg.batch_size, train_set.n), optimizer="sgd", momentum=cfg.momentum,
                       weight_decay=cfg.weight_decay, lr_schedule=cfg.lr_schedule,
                       device=train.DeviceOptions(device=device, eval_batch_size=cfg.eval_batch_size,
                                                  autocast_dtype=autocast_dtype(cfg.bf16, device), compile=cfg.compile),
                       progress=f"{method} seed {seed}" if progress else False)
            for col in ("epoch", "train_loss_clean", "train_err_clean", "mixup_loss"):
                arrays[f"{key}.{col}"] = hist.column(col)
            ladder = attack_ladder(model, test.X, test.y, _radii(cfg), n_pgd=n_pgd, batch=cfg.eval_batch_size,
                                   pgd_steps=cfg.pgd_steps, pgd_restarts=cfg.pgd_restarts,
                                   generator=torch.Generator(device=device).manual_seed(derive_seed(seed, 1)))
            arrays.update({f"{key}.{attack}": acc for attack, acc in ladder.accuracy.items()})
            arrays[f"{key}.worst_eps"], arrays[f"{key}.worst"] = ladder.worst_eps, ladder.worst
            flags[key] = ladder.flags
    for attack, grid in _radii(cfg).items():
        arrays[f"eps.{attack}"] = np.asarray(grid, dtype=float)
    summary = _summary(cfg, arrays)
    metrics = {"per_model": flags, "summary": summary, "n_test": test.n, "n_pgd": n_pgd,
               "train_source": train_set.source,
               "claims": [c.to_dict() for c in claims(cfg, arrays, flags, test.n, n_pgd)]}
    return finish_run(cfg, metrics, arrays, start=start, device=str(device),
                      seeds={"seeds": list(cfg.seeds), "model_init": seeds_used})


def _summary(cfg: Fig1aConfig, arrays: dict[str, np.ndarray]) -> dict:
    """Mean and sd over seeds of each method's accuracy per attack and radius."""
    out = {}
    for attack in ATTACKS:
        for method in METHODS:
            table = np.stack([arrays[f"{method}.seed{s}.{attack}"] for s in cfg.seeds])
            out[f"{method}.{attack}.mean"] = table.mean(0).tolist()
            out[f"{method}.{attack}.sd"] = (table.std(0, ddof=1) if len(cfg.seeds) > 1 else 0 * table[0]).tolist()
    return out


def _per_seed(cfg, arrays: dict[str, np.ndarray], method: str, attack: str) -> np.ndarray:
    """(seeds, radii) accuracy in percent of one method under one attack."""
    return 100 * np.stack([arrays[f"{method}.seed{s}.{attack}"] for s in cfg.seeds]).astype(float)


def _gains(cfg, arrays: dict[str, np.ndarray], attack: str) -> list[tuple[float, Interval]]:
    """(radius, paired t interval of mixup - ERM accuracy in points over the seeds) per radius > 0 of ``attack``."""
    mix, erm = _per_seed(cfg, arrays, "mixup", attack), _per_seed(cfg, arrays, "erm", attack)
    return [(eps, paired_interval(mix[:, k], erm[:, k], LEVEL)) for k, eps in enumerate(_radii(cfg)[attack]) if eps > 0]


def _iv(iv: Interval) -> str:
    """``+1.2 [+0.4, +2.0]``: an interval in points, one decimal."""
    f = lambda v: f"{v:+.1f}" if np.isfinite(v) else ("-inf" if v < 0 else "inf")  # noqa: E731
    return f"{f(iv.estimate)} [{f(iv.ci_low)}, {f(iv.ci_high)}]"


def claims(cfg: Fig1aConfig, arrays: dict[str, np.ndarray], flags: dict, n_test: int, n_pgd: int) -> list[Claim]:
    """FGSM (the paper's Figure 1a), clean accuracy, PGD-l_inf and PGD-l2 beyond it, and the sanity flags.

    Every comparison of the two methods is on the per-seed differences (ERM and mixup of a seed start from the
    same weights): a paired t interval per radius at level ``LEVEL``.
    """
    return [_fgsm_claim(cfg, arrays, n_test), _clean_claim(cfg, arrays), _pgd_linf_claim(cfg, arrays, n_pgd),
            _pgd_l2_claim(cfg, arrays), _sanity_claim(flags)]


def _fgsm_claim(cfg: Fig1aConfig, arrays: dict[str, np.ndarray], n_test: int) -> Claim:
    """Figure 1a: mixup ahead at every FGSM radius, decided per radius (ahead at all: PASS; behind at one: FAIL)."""
    gains = _gains(cfg, arrays, "fgsm")
    decisions = [decide(iv, "greater") for _, iv in gains]
    verdict = all_of(decisions)
    where = {o: [f"{eps:g}" for (eps, _), d in zip(gains, decisions) if d.outcome == o] for o in OUTCOMES}
    # a tied radius says how many seeds would resolve a difference of its size at its spread (planning estimate)
    needs = [seeds_to_resolve(iv) if d.outcome == "INCONCLUSIVE" and iv.n > 1 else None
             for (_, iv), d in zip(gains, decisions)]
    where["INCONCLUSIVE"] = [f"{eps:g}" + (f" (~{need} seeds)" if need else "")
                             for (eps, _), d, need in zip(gains, decisions, needs) if d.outcome == "INCONCLUSIVE"]
    # The radius that decides: the one most clearly behind (FAIL), else the weakest of the others.
    key = (min(range(len(gains)), key=lambda k: gains[k][1].ci_high) if verdict == "FAIL"
           else min(range(len(gains)), key=lambda k: gains[k][1].ci_low))
    iv = gains[key][1]
    numbers = {"estimate": iv.estimate, "ci_low": iv.ci_low, "ci_high": iv.ci_high, "level": iv.level,
               "n": float(iv.n), "key_eps": gains[key][0], "radii_ahead": len(where["PASS"]),
               "radii_behind": len(where["FAIL"]), "radii_tied": len(where["INCONCLUSIVE"])}
    for eps, g in gains:
        numbers |= {f"eps{eps:g}.estimate": g.estimate, f"eps{eps:g}.ci_low": g.ci_low, f"eps{eps:g}.ci_high": g.ci_high}
    sides = "; ".join(f"{label} at eps {', '.join(where[o])}" for o, label in (
        ("PASS", "ahead"), ("FAIL", "behind"), ("INCONCLUSIVE", "tied")) if where[o])
    return Claim(
        id="Figure 1a (FGSM)",
        statement="the mixup model has higher FGSM robust accuracy than the ERM model at every attack size",
        paper="Figure 1a (SVHN, two WRN-16-8): mixup has much better FGSM robust accuracy than ERM at every "
              "attack size (recalled; no numbers given)",
        kind="paper", verdict=verdict,
        detail=f"mixup - ERM accuracy in points, {LEVEL:.0%} paired t interval per radius (n = {len(cfg.seeds)} seeds, "
               f"{n_test} test images): {sides}"
               + (" (~N seeds would resolve a tie of this size at this spread)" if any(needs) else "") + "; "
               + ", ".join(f"eps {eps:g}: {_iv(g)}" for eps, g in gains)
               + f"; claimed > 0 at every radius: {verdict}",
        numbers=numbers)


def _clean_claim(cfg: Fig1aConfig, arrays: dict[str, np.ndarray]) -> Claim:
    k0 = list(cfg.fgsm_eps).index(0.0) if 0.0 in cfg.fgsm_eps else None
    if k0 is None:
        return Claim(id="Figure 1a (clean accuracy)", statement="clean test accuracy of the two training methods",
                     paper=_CLEAN_PAPER, kind="beyond", verdict="INFO", detail="no eps = 0 in fgsm_eps: not measured")
    mix, erm = (_per_seed(cfg, arrays, m, "fgsm")[:, k0] for m in ("mixup", "erm"))
    iv = paired_interval(mix, erm, LEVEL)
    return Claim(id="Figure 1a (clean accuracy)", statement="clean test accuracy of the two training methods",
                 paper=_CLEAN_PAPER, kind="beyond", verdict="INFO",
                 detail=f"ERM {erm.mean():.1f} %, mixup {mix.mean():.1f} %; mixup - ERM {_iv(iv)} points "
                        f"({LEVEL:.0%} paired t interval, n = {iv.n})",
                 numbers={"clean_acc_erm": erm.mean() / 100, "clean_acc_mixup": mix.mean() / 100,
                          "estimate": iv.estimate, "ci_low": iv.ci_low, "ci_high": iv.ci_high, "level": iv.level,
                          "n": float(iv.n)})


_CLEAN_PAPER = ("not stated: Figure 1a (SVHN, WRN-16-8) gives no numbers; clean accuracy puts the FGSM gains in "
                "context")


def _pgd_linf_claim(cfg: Fig1aConfig, arrays: dict[str, np.ndarray], n_pgd: int) -> Claim:
    """How much of the FGSM gain survives PGD, at the radii both attacks share."""
    fgsm, pgd = dict(_gains(cfg, arrays, "fgsm")), dict(_gains(cfg, arrays, "pgd_linf"))
    parts = [f"eps {eps:g}: FGSM {_iv(fgsm[eps])}, PGD {_iv(pgd[eps])}" for eps in pgd if eps in fgsm]
    return Claim(id="Beyond Fig. 1a (PGD-l_inf)",
                 statement="how much of mixup's FGSM gain survives PGD-l_inf with restarts",
                 paper="not stated: Figure 1a (SVHN, WRN-16-8) uses FGSM only; the paper leaves PGD (with "
                       "adversarial training) to future work (recalled)",
                 kind="beyond", verdict="INFO",
                 detail=f"mixup - ERM accuracy in points, {LEVEL:.0%} paired t intervals (n = {len(cfg.seeds)}); "
                        f"PGD on {n_pgd} test images, {cfg.pgd_steps} steps x {cfg.pgd_restarts} restarts; "
                        + ("; ".join(parts) or "no common radius"),
                 numbers={f"eps{eps:g}.pgd_gain": iv.estimate for eps, iv in pgd.items()})


def _pgd_l2_claim(cfg: Fig1aConfig, arrays: dict[str, np.ndarray]) -> Claim:
    gains = _gains(cfg, arrays, "pgd_l2")
    return Claim(id="Beyond Fig. 1a (PGD-l2)", statement="mixup's gain under PGD-l2",
                 paper="not stated: the theory bounds l2 balls of radius eps sqrt d, but Figure 1a (SVHN, "
                       "WRN-16-8) attacks with FGSM (l_inf) only",
                 kind="beyond", verdict="INFO",
                 detail=f"mixup - ERM accuracy in points, {LEVEL:.0%} paired t intervals (n = {len(cfg.seeds)}): "
                        + ", ".join(f"eps {eps:g}: {_iv(iv)}" for eps, iv in gains),
                 numbers={f"eps{eps:g}.gain": iv.estimate for eps, iv in gains})


def _sanity_claim(flags: dict) -> Claim:
    names = ("eps0_is_clean", "monotone", "pgd_no_weaker", "eval_mode")
    bad = [f"{k}: {name}" for k, f in flags.items() for name in names if not f[name]]
    zero = max(f["zero_grad_fraction"] for f in flags.values())
    return Claim(id="Figure 1a (sanity flags)",
                 statement="eps = 0 gives clean accuracy, accuracy non-increasing in eps, PGD no weaker than FGSM, "
                           "non-zero input gradients, eval mode",
                 paper="not stated: checks that our attacks and evaluation work (the paper's Figure 1a: SVHN, "
                       "WRN-16-8, FGSM)",
                 kind="check", verdict="PASS" if not bad and zero < ZERO_GRAD_MAX else "FAIL",
                 detail=(f"all {len(flags)} models pass" if not bad else "failed: " + ", ".join(bad))
                 + f"; largest share of zero FGSM steps {zero:.1%}",
                 numbers={"failed_flags": len(bad), "zero_grad_fraction": zero, "zero_grad_max": ZERO_GRAD_MAX})


def book_values(result: Result) -> dict[str, float | str]:
    """Plain values for the prose: clean accuracies, the FGSM / PGD gains (percentage points) per radius, and the FGSM
    radii at which mixup is ahead, behind and tied (``fgsm_ahead``, ...: the radii, or ``none``)."""
    cfg, s = result.config, result.metrics["summary"]
    out: dict[str, float | str] = {}
    for method in METHODS:
        out[f"clean_{method}"] = 100 * float(s[f"{method}.fgsm.mean"][cfg["fgsm_eps"].index(0.0)]) \
            if 0.0 in cfg["fgsm_eps"] else float("nan")
    for attack, grid in _radii(cfg).items():
        gains = [100 * (m - e) for m, e in zip(s[f"mixup.{attack}.mean"], s[f"erm.{attack}.mean"])]
        out[f"max_gain_{attack}"] = float(max(gains))
        out[f"min_gain_{attack}"] = float(min(g for g, eps in zip(gains, grid) if eps > 0)) if any(grid) else 0.0
    out |= verdict_values(result)
    out["n_seeds"] = float(len(cfg["seeds"]))
    gains = _gains(Fig1aConfig.from_mapping(cfg), result.arrays, "fgsm")
    for outcome, side in (("PASS", "ahead"), ("FAIL", "behind"), ("INCONCLUSIVE", "tied")):
        radii = [f"{eps:g}" for eps, iv in gains if decide(iv, "greater").outcome == outcome]
        out[f"fgsm_{side}"] = ", ".join(radii) if radii else "none"
    return out

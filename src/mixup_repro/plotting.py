"""Figures from saved results. One shared style; functions return figures and set no titles.

Captions (in the notebooks' figure metadata) carry the message; axis labels are lower case with units.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .results import Result

__all__ = ["apply_style", "MODEL_LABELS", "lemma31_table", "plot_lemma31_training", "plot_lemma31_remainder",
           "plot_thm_chain", "plot_thm_radius", "plot_thm_eps", "plot_fig1a", "fig1a_frame", "fig1a_table"]

MODEL_LABELS = {"logistic": "logistic regression", "relu_mlp": "ReLU MLP", "tanh_mlp": "tanh MLP"}
TERM_LABELS = {"taylor_R1": "$R_1$", "taylor_R2": "$R_2$", "taylor_R3": "$R_3$"}


def apply_style() -> None:
    """Set the companion's plotting style (seaborn whitegrid, colour-blind palette).

    A global setting on purpose: matplotlib's ``rc_context`` and seaborn's style contexts restore the
    backend on exit, which stops the notebook's inline backend from showing later figures.
    """
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind", font_scale=0.9,
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "legend.frameon": False})


def _models(result: Result) -> list[str]:
    return [m for m in MODEL_LABELS if f"{m}.epoch" in result.arrays]


def lemma31_table(result: Result) -> pd.DataFrame:
    """Final values per model: exact mixup loss, its quadratic approximation and the four terms."""
    rows = []
    for m in _models(result):
        a = result.arrays
        rows.append({
            "model": MODEL_LABELS[m],
            "L_mix (exact)": a[f"{m}.mixup_loss_exact"][-1],
            "L_std": a[f"{m}.taylor_standard"][-1],
            "R1": a[f"{m}.taylor_R1"][-1],
            "R2": a[f"{m}.taylor_R2"][-1],
            "R3": a[f"{m}.taylor_R3"][-1],
            "L_std+R1+R2+R3": a[f"{m}.taylor_approx"][-1],
            "train error (clean)": a[f"{m}.train_err_clean"][-1],
        })
    return pd.DataFrame(rows).set_index("model")


def plot_lemma31_training(result: Result) -> Figure:
    """Figure 2: the exact mixup loss against L_std + R1 + R2 + R3 along training (top), the terms (bottom)."""
    models = _models(result)
    apply_style()
    fig, axes = plt.subplots(2, len(models), figsize=(4.2 * len(models), 6.2), sharex=True, squeeze=False)
    palette = sns.color_palette("colorblind")
    for col, m in enumerate(models):
        a = result.arrays
        ep = a[f"{m}.epoch"]
        top, bottom = axes[0, col], axes[1, col]
        top.plot(ep, a[f"{m}.mixup_loss_exact"], color=palette[0], lw=2, label="exact mixup loss $L_{mix}$")
        top.plot(ep, a[f"{m}.taylor_approx"], color=palette[1], ls="--", lw=2, label="$L_{std}+R_1+R_2+R_3$")
        top.plot(ep, a[f"{m}.taylor_standard"], color=palette[7], ls=":", label="standard loss $L_{std}$")
        top.set_ylabel("loss (nats)" if col == 0 else "")
        top.text(0.97, 0.95, MODEL_LABELS[m], transform=top.transAxes, ha="right", va="top")
        for k, (key, label) in enumerate(TERM_LABELS.items()):
            bottom.plot(ep, a[f"{m}.{key}"], color=palette[2 + k], label=label)
        bottom.axhline(0, color="0.3", lw=0.8)
        bottom.set_xlabel("epoch")
        bottom.set_ylabel("regularizer (nats)" if col == 0 else "")
    axes[0, 0].legend(loc="center right")
    axes[1, -1].legend(loc="best")
    fig.tight_layout()
    return fig


def plot_lemma31_remainder(result: Result) -> Figure:
    """The remainder L_mix - (L_std + R1 + R2 + R3) of the trained models as alpha and the logit scale vary.

    Panels: relative to L_mix against alpha = beta; as a share of the mixup regularizer L_mix - L_std
    against alpha; in nats against a factor multiplying the logits (1 = the trained model).
    """
    cfg = result.config
    frames = []
    for m in _models(result):
        a = result.arrays
        for label, grid in (("alpha", cfg["alpha_grid"]), ("scale", cfg["scale_grid"])):
            exact, approx, std = a[f"{m}.{label}_exact"], a[f"{m}.{label}_approx"], a[f"{m}.{label}_standard"]
            frames.append(pd.DataFrame({
                "sweep": label, "x": np.asarray(grid, dtype=float), "model": MODEL_LABELS[m],
                "remainder": exact - approx, "relative": (exact - approx) / exact,
                "share": (exact - approx) / (exact - std),
            }))
    df = pd.concat(frames, ignore_index=True)
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (
        ("alpha", "relative", r"mixup $\alpha = \beta$", r"$(L_{mix} - \tilde L_{mix}) / L_{mix}$"),
        ("alpha", "share", r"mixup $\alpha = \beta$", r"$(L_{mix} - \tilde L_{mix}) / (L_{mix} - L_{std})$"),
        ("scale", "remainder", "logit scale factor (1 = trained model)", r"$L_{mix} - \tilde L_{mix}$ (nats)"),
    )
    for k, (ax, (sweep, column, xlabel, ylabel)) in enumerate(zip(axes, panels)):
        sns.lineplot(data=df[df.sweep == sweep], x="x", y=column, hue="model", style="model",
                     markers=True, dashes=False, ax=ax, legend=k == 0)
        ax.set_xscale("log")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if column != "remainder":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[2].axvline(1.0, color="0.5", ls=":", lw=1)
    fig.tight_layout()
    return fig


# -- robustness chapter -----------------------------------------------------------------------------

ATTACK_LABELS = {"fgsm": "FGSM, $\\ell_\\infty$", "pgd_linf": "PGD, $\\ell_\\infty$", "pgd_l2": "PGD, $\\ell_2$"}
METHOD_LABELS = {"erm": "ERM", "mixup": "mixup"}


def _cases(result: Result) -> dict[str, str]:
    return dict(result.metrics["case_labels"])


def _shade_outside_theta(ax, epochs: np.ndarray, inside: np.ndarray) -> None:
    """Grey bands over the checked epochs whose parameter lies outside Theta."""
    step = float(np.median(np.diff(epochs))) if len(epochs) > 1 else 1.0
    for e, ok in zip(epochs, inside):
        if not ok:
            ax.axvspan(e - step / 2, e + step / 2, color="0.88", lw=0, zorder=0)


def plot_thm_chain(result: Result) -> Figure:
    """Theorem 3.1/3.2 along mixup training: both sides of the chain and the true adversarial loss.

    One panel per case; grey bands mark iterates outside Theta, where the theorem promises nothing.
    """
    cases = _cases(result)
    how = result.metrics.get("true_adv", "true")
    apply_style()
    palette = sns.color_palette("colorblind")
    fig, axes = plt.subplots(1, len(cases), figsize=(5.2 * len(cases), 3.8), squeeze=False)
    for ax, (case, label) in zip(axes[0], cases.items()):
        a = result.arrays
        ep = a[f"{case}.epoch"]
        _shade_outside_theta(ax, ep, a[f"{case}.chain_in_theta"] > 0)
        ax.plot(ep, a[f"{case}.chain_mix_quadratic"], color=palette[0], lw=2, label=r"$\tilde L_{mix}$")
        ax.plot(ep, a[f"{case}.chain_adv_eps_i"], color=palette[1], lw=1.5,
                label=r"mean $\tilde\ell_{adv}(\varepsilon_i\sqrt{d})$")
        ax.plot(ep, a[f"{case}.chain_adv_eps_mix"], color=palette[2], lw=1.5,
                label=r"mean $\tilde\ell_{adv}(\varepsilon_{mix}\sqrt{d})$")
        ax.plot(ep, a[f"{case}.chain_true_adv_eps_mix"], color=palette[3], ls="--", lw=1.5,
                label=f"{how} adversarial loss at $\\varepsilon_{{mix}}\\sqrt{{d}}$")
        if f"{case}.chain_mixup_exact" in a and not np.all(np.isnan(a[f"{case}.chain_mixup_exact"])):
            ax.plot(ep, a[f"{case}.chain_mixup_exact"], color=palette[7], ls=":", lw=1.5, label=r"exact $L_{mix}$")
        ax.text(0.97, 0.95, label, transform=ax.transAxes, ha="right", va="top")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (nats)")
    axes[0, -1].legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_thm_radius(result: Result) -> Figure:
    """Final models: the second-order and the true adversarial loss against the l2 radius.

    The horizontal line is the final L~_mix and the dotted vertical line the guaranteed radius eps_mix sqrt(d);
    the theorem bounds the second-order curve left of that line only.
    """
    cases = _cases(result)
    how = result.metrics.get("true_adv", "true")
    apply_style()
    palette = sns.color_palette("colorblind")
    fig, axes = plt.subplots(1, len(cases), figsize=(5.2 * len(cases), 3.6), squeeze=False)
    for ax, (case, label) in zip(axes[0], cases.items()):
        a = result.arrays
        r = a[f"{case}.radius"]
        ax.plot(r, a[f"{case}.radius_second_order"], color=palette[2], marker="o", ms=4,
                label=r"mean $\tilde\ell_{adv}(r)$ (second order)")
        ax.plot(r, a[f"{case}.radius_true"], color=palette[3], ls="--", marker="s", ms=4,
                label=f"{how} adversarial loss")
        ax.axhline(a[f"{case}.chain_mix_quadratic"][-1], color=palette[0], lw=1.5, label=r"$\tilde L_{mix}$ (final)")
        ax.axvline(a[f"{case}.chain_eps_mix"][-1] * np.sqrt(float(a[f"{case}.dim"])), color="0.4", ls=":", lw=1.2,
                   label=r"$\varepsilon_{mix}\sqrt{d}$")
        ax.text(0.03, 0.95, label, transform=ax.transAxes, ha="left", va="top")
        ax.set_xlabel("$\\ell_2$ radius $r$ (input units)")
        ax.set_ylabel("mean loss (nats)")
    axes[0, -1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_thm_eps(result: Result) -> Figure:
    """Left: the distribution of R_i = |cos(grad f(x_i), x_i)| on the final models. Right: eps_mix along training."""
    cases = _cases(result)
    frames = [pd.DataFrame({"R_i": result.arrays[f"{c}.R_i"], "case": label}) for c, label in cases.items()]
    df = pd.concat(frames, ignore_index=True)
    apply_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.6))
    sns.histplot(data=df, x="R_i", hue="case", bins=25, binrange=(0, 1), element="step", stat="probability",
                 common_norm=False, ax=left)
    left.set_xlabel(r"$R_i = |\cos(\nabla f(x_i), x_i)|$ (final model)")
    left.set_ylabel("share of training points")
    for k, (c, label) in enumerate(cases.items()):
        a = result.arrays
        right.plot(a[f"{c}.epoch"], a[f"{c}.chain_eps_mix"], color=sns.color_palette("colorblind")[k], label=label)
    right.set_yscale("log")
    right.set_xlabel("epoch")
    right.set_ylabel(r"$\varepsilon_{mix} = \min_i R_i\, c_x\, E[1-\lambda]$")
    right.legend(loc="best")
    fig.tight_layout()
    return fig


def fig1a_frame(result: Result) -> pd.DataFrame:
    """Long table: method, seed, attack, eps, robust accuracy (one row per model, attack and radius)."""
    cfg, rows = result.config, []
    for method in METHOD_LABELS:
        for seed in cfg["seeds"]:
            for attack in ATTACK_LABELS:
                for eps, acc in zip(result.arrays[f"eps.{attack}"], result.arrays[f"{method}.seed{seed}.{attack}"]):
                    rows.append({"method": METHOD_LABELS[method], "seed": seed, "attack": attack, "eps": eps,
                                 "robust_acc": acc})
    return pd.DataFrame(rows)


def plot_fig1a(result: Result) -> Figure:
    """Figure 1a and the robustness ladder: robust accuracy against the radius, mean +/- sd over seeds."""
    df = fig1a_frame(result)
    n = len(result.config["seeds"])
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for k, (ax, attack) in enumerate(zip(axes, ATTACK_LABELS)):
        sns.lineplot(data=df[df.attack == attack], x="eps", y="robust_acc", hue="method", style="method",
                     markers=True, dashes=False, errorbar="sd", ax=ax, legend=k == 0)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        unit = "$\\ell_2$" if attack == "pgd_l2" else "$\\ell_\\infty$"
        ax.set_xlabel(f"{ATTACK_LABELS[attack].split(',')[0]} radius $\\varepsilon$ ({unit}, [0, 1] pixel units)")
        ax.set_ylabel("robust test accuracy" if k == 0 else "")
        ax.set_ylim(0, 1)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, [f"{lab} (mean $\\pm$ sd, n = {n} seeds)" for lab in labels], loc="upper right")
    fig.tight_layout()
    return fig


def fig1a_table(result: Result) -> pd.DataFrame:
    """Mean and sd over seeds of the robust accuracy (%), one row per attack and radius."""
    df = fig1a_frame(result)
    table = df.groupby(["attack", "eps", "method"])["robust_acc"].agg(["mean", "std"]).unstack("method") * 100
    table.columns = [f"{m} {s} (%)" for s, m in table.columns]
    return table.round(1)

"""Figures from saved results. One shared style; functions return figures and set no titles.

Captions (in the notebooks' figure metadata) carry the message; axis labels are lower case with units.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats as _st

from . import stats
from .results import Result
from .theory import rademacher as rademacher_theory

__all__ = ["apply_style", "MODEL_LABELS", "lemma31_table", "plot_lemma31_training", "plot_lemma31_remainder",
           "plot_thm_chain", "plot_thm_radius", "plot_thm_eps", "plot_fig1a", "fig1a_frame", "fig1a_table",
           "plot_glm_constant", "plot_glm_regularizer", "plot_glm_optima", "plot_glm_tracking", "plot_glm_gap",
           "plot_glm_exponents", "plot_rademacher", "plot_rademacher_samples", "plot_rademacher_direct",
           "plot_relu_spectrum", "plot_relu_complexity", "plot_relu_samples",
           "plot_generalization_gap", "plot_fig3"]

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


# ---------------------------------------------------------------------------------------------------
# Generalization chapter
# ---------------------------------------------------------------------------------------------------

GLM_LABELS = {"logistic": "logistic regression", "poisson": "Poisson regression"}
METHOD_COLORS = {"ERM": 0, "mixup": 1, "ridge": 2}


def _color(method: str):
    return sns.color_palette("colorblind")[METHOD_COLORS.get(method, 3)]


def plot_glm_constant(result: Result) -> Figure:
    """E_{D~}[(1-lam)^2 / lam^2 ; lam > eps] against the cut-off eps, per alpha = beta, with the closed forms."""
    a = result.arrays
    apply_style()
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    palette = sns.color_palette("colorblind")
    for k, (alpha, inv) in enumerate(zip(a["constant.alpha"], a["constant.inverse"])):
        label = rf"$\alpha = \beta = {alpha:g}$" + (" (infinite)" if not np.isfinite(inv) else f" (limit {inv:.3g})")
        ax.plot(a["constant.eps"], a["constant.truncated"][k], marker="o", ms=3, color=palette[k], label=label)
        if np.isfinite(inv):
            ax.axhline(inv, color=palette[k], ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(r"cut-off $\varepsilon$ (only $\lambda > \varepsilon$ counted)")
    ax.set_ylabel(r"$E[(1-\lambda)^2/\lambda^2;\ \lambda > \varepsilon]$")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_glm_regularizer(result: Result) -> Figure:
    """Per GLM: the exact mixup regularizer, R1 + R2, R2 and the covariance penalty along theta = s theta_ERM."""
    a = result.arrays
    losses = [x for x in GLM_LABELS if f"{x}.scale.s" in a]
    apply_style()
    fig, axes = plt.subplots(1, len(losses), figsize=(5.2 * len(losses), 3.9), squeeze=False)
    palette = sns.color_palette("colorblind")
    for ax, x in zip(axes[0], losses):
        q = a[f"{x}.scale.quad_sigma"]
        ax.plot(q, a[f"{x}.scale.exact_reg"], color=palette[0], lw=2, label=r"exact $L_{mix} - L_{std}$")
        ax.plot(q, a[f"{x}.scale.R1_taylor"] + a[f"{x}.scale.R2_taylor"], color=palette[1], ls="--", lw=2,
                label=r"$R_1 + R_2$ (Lemma 3.1)")
        ax.plot(q, a[f"{x}.scale.R2_taylor"], color=palette[2], lw=1.5, label=r"$R_2$ (Lemma 3.1)")
        ax.plot(q, a[f"{x}.scale.R2_closed"], ls="none", marker="o", mfc="none", color=palette[2],
                label=r"$R_2$ closed form (centred GLM)")
        ax.plot(q, a[f"{x}.scale.penalty"], color=palette[4], ls=":", lw=2,
                label=r"$\frac{E(1-\lambda)^2}{2}\,\overline{A''}\,\theta^\top\hat\Sigma\theta$")
        ax.axvline(q[list(a[f"{x}.scale.s"]).index(1.0)], color="0.5", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\theta^\top \hat\Sigma \theta$ along $s\,\hat\theta_{ERM}$")
        ax.set_ylabel("regularizer (nats)")
        ax.text(0.03, 0.95, GLM_LABELS[x], transform=ax.transAxes, va="top")
    axes[0, -1].legend(loc="lower right", fontsize=7.5)
    fig.tight_layout()
    return fig


def plot_glm_tracking(result: Result) -> Figure:
    """Per GLM (rows): theta^T Sigma theta, ||theta||^2 and test - clean train loss over gradient steps (dotted: the
    optimum of each objective: ERM and ridge by Newton, mixup exact)."""
    a = result.arrays
    losses = [x for x in GLM_LABELS if f"{x}.track.ERM.epoch" in a]
    apply_style()
    fig, axes = plt.subplots(len(losses), 3, figsize=(13, 3.3 * len(losses)), squeeze=False, sharex=True)
    for row, x in enumerate(losses):
        for m in ("ERM", "mixup", "ridge"):
            ep = a[f"{x}.track.{m}.epoch"]
            axes[row, 0].plot(ep, a[f"{x}.track.{m}.quad_sigma"], color=_color(m), label=m)
            axes[row, 1].plot(ep, a[f"{x}.track.{m}.norm_sq"], color=_color(m), label=m)
            axes[row, 2].plot(ep, a[f"{x}.track.{m}.test_loss"] - a[f"{x}.track.{m}.train_loss_clean"], color=_color(m),
                              label=m, lw=1 if m == "mixup" else 1.8)
            if f"{x}.track_optimum.{m}" in a:
                for col in range(3):
                    axes[row, col].axhline(a[f"{x}.track_optimum.{m}"][col], color=_color(m), ls=":", lw=1.5)
        axes[row, 0].set_ylabel(r"$\theta^\top\Sigma\theta$")
        axes[row, 1].set_ylabel(r"$\|\theta\|^2$")
        axes[row, 2].set_ylabel("test - clean train loss (nats)")
        axes[row, 0].text(0.03, 0.95, GLM_LABELS[x], transform=axes[row, 0].transAxes, va="top")
    for ax in axes[-1]:
        ax.set_xlabel("full-batch gradient step")
    axes[0, 2].legend(loc="best")
    fig.tight_layout()
    return fig


def _gap_frame(result: Result, loss: str, sweep: str) -> pd.DataFrame:
    a = result.arrays
    xs = a["gap_n.n"] if sweep == "n" else a["gap_rank.rank"]
    frames = []
    for m in ("ERM", "mixup"):
        vals = a[f"{loss}.gap_{sweep}.{m}"]
        for s in range(vals.shape[1]):
            frames.append(pd.DataFrame({"x": xs, "gap": vals[:, s], "method": m, "seed": s}))
    return pd.concat(frames, ignore_index=True)


def plot_glm_gap(result: Result) -> Figure:
    """Centred test - train gap of the ERM fits and exact mixup optima against n and against rank, mean +/- sd over
    seeds, with sqrt(rank/n) and rank/n guides anchored at the ERM mean of the first point."""
    a, cfg = result.arrays, result.config
    losses = [x for x in GLM_LABELS if f"{x}.gap_n.ERM" in a]
    apply_style()
    fig, axes = plt.subplots(len(losses), 2, figsize=(10.5, 3.6 * len(losses)), squeeze=False)
    for row, x in enumerate(losses):
        for col, sweep in enumerate(("n", "rank")):
            ax = axes[row, col]
            df = _gap_frame(result, x, sweep)
            sns.lineplot(data=df, x="x", y="gap", hue="method", palette=[_color("ERM"), _color("mixup")],
                         errorbar="sd", marker="o", ax=ax, legend=row == 0 and col == 0)
            xs = np.asarray(sorted(df.x.unique()), dtype=float)
            first = df[(df.method == "ERM") & (df.x == xs[0])].gap.mean()
            power = -1 if sweep == "n" else 1
            ax.plot(xs, first * (xs / xs[0]) ** (0.5 * power), color="0.4", ls="--", lw=1,
                    label=r"$\propto\sqrt{rank/n}$")
            ax.plot(xs, first * (xs / xs[0]) ** power, color="0.4", ls=":", lw=1, label=r"$\propto rank/n$")
            ax.set_xscale("log")
            ax.set_yscale("log")  # a seed's negative gap (noise) drops out of the band, not of the mean
            ax.set_xticks(xs, [f"{v:g}" for v in xs])
            ax.minorticks_off()
            ax.set_xlabel(f"training examples n (rank {cfg['rank']})" if sweep == "n"
                          else f"rank of the input covariance (n = {cfg['sweep_n']})")
            ax.set_ylabel("test - train loss, centred (nats)" if col == 0 else "")
            ax.text(0.97, 0.95, GLM_LABELS[x], transform=ax.transAxes, ha="right", va="top")
            if row == 0 and col == 1:
                ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the t interval over the last axis' replicates (for error bars)."""
    iv = stats.t_interval(np.asarray(values, dtype=float), level)
    return iv.estimate, (iv.ci_high - iv.ci_low) / 2


def _strip(ax, x: float, values: np.ndarray, color, label: str | None = None, width: float = 0.25) -> None:
    """Per-draw values as jittered points at ``x`` (deterministic jitter) and their mean with a 95% t interval."""
    values = np.asarray(values, dtype=float)
    jitter = np.linspace(-width / 2, width / 2, values.size) if values.size > 1 else np.zeros(1)
    ax.plot(x + jitter, values, ls="none", marker="o", ms=3, alpha=0.45, color=color)
    mean, half = _mean_ci(values)
    ax.errorbar([x + width / 2 + 0.12], [mean], yerr=[half], color=color, marker="D", ms=5, capsize=3, label=label)


def plot_glm_optima(result: Result) -> Figure:
    """Per GLM (rows): per data draw, ERM against the exact mixup optimum: the relative change of theta^T Sigma theta,
    the centred gap difference mixup - ERM, and the cosine of the predicted and the true move (order 2: R1 + R2;
    order 3: with the cubic term); diamonds: mean with its 95% t interval over the draws."""
    a, cfg = result.arrays, result.config
    losses = [x for x in GLM_LABELS if f"{x}.optimum.quad_pop_erm" in a]
    apply_style()
    fig, axes = plt.subplots(len(losses), 3, figsize=(12.5, 3.3 * len(losses)), squeeze=False)
    palette = sns.color_palette("colorblind")
    for row, x in enumerate(losses):
        o = lambda k: a[f"{x}.optimum.{k}"]  # noqa: E731
        _strip(axes[row, 0], 0, o("quad_pop_mix") / o("quad_pop_erm") - 1, palette[1])
        _strip(axes[row, 0], 1, o("quad_emp_mix") / o("quad_emp_erm") - 1, palette[0])
        axes[row, 0].set_xticks([0.1, 1.1], [r"population $\Sigma$", r"sample $\hat\Sigma$"])
        axes[row, 0].yaxis.set_major_formatter(PercentFormatter(1.0))
        axes[row, 0].set_ylabel(r"$\theta^\top\Sigma\theta$: mixup / ERM - 1")
        _strip(axes[row, 1], 0, o("gap_mix") - o("gap_erm"), palette[1])
        axes[row, 1].set_xticks([0.1], ["mixup - ERM"])
        axes[row, 1].set_ylabel("centred test - train gap difference (nats)")
        _strip(axes[row, 2], 0, o("cos_move2"), palette[2])
        _strip(axes[row, 2], 1, o("cos_move3"), palette[4])
        axes[row, 2].set_xticks([0.1, 1.1], [r"$R_1 + R_2$", r"$R_1 + R_2$ + cubic"])
        axes[row, 2].set_ylim(-1.05, 1.05)
        axes[row, 2].set_ylabel("cos(predicted move, true move)")
        for ax in axes[row]:
            ax.axhline(0, color="0.3", lw=0.8)
            ax.set_xlim(-0.5, 1.7)
        axes[row, 0].text(0.03, 0.95, f"{GLM_LABELS[x]}, {cfg['optimum_seeds']} draws", transform=axes[row, 0].transAxes,
                          va="top")
    fig.tight_layout()
    return fig


def plot_glm_exponents(result: Result) -> Figure:
    """Per GLM: the exponents of the mean gap in n and in the rank, ERM and mixup, with 95% t intervals over the draws
    (delta method); the bound's -1/2 and +1/2 (dashed) and the classical rank / n's -1 and +1 (dotted)."""
    a = result.arrays
    losses = [x for x in GLM_LABELS if f"{x}.gap_n.ERM" in a]
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6), sharey=False)
    for col, (sweep, xs, ref) in enumerate((("n", a["gap_n.n"], -1), ("rank", a["gap_rank.rank"], 1))):
        ax = axes[col]
        for i, x in enumerate(losses):
            for j, m in enumerate(("ERM", "mixup")):
                Y = a[f"{x}.gap_{sweep}.{m}"]
                if np.any(Y.mean(axis=1) <= 0):
                    continue
                iv = stats.loglog_exponent(xs, Y).interval
                pos = i + (j - 0.5) * 0.25
                ax.errorbar([pos], [iv.estimate], yerr=[[iv.estimate - iv.ci_low], [iv.ci_high - iv.estimate]],
                            marker="o", capsize=3, color=_color(m), label=m if i == 0 else None)
        ax.axhline(0.5 * ref, color="0.4", ls="--", lw=1, label=r"bound $\sqrt{rank/n}$")
        ax.axhline(ref, color="0.4", ls=":", lw=1, label=r"$rank/n$")
        ax.set_xticks(range(len(losses)), [GLM_LABELS[x] for x in losses])
        ax.set_xlim(-0.6, len(losses) - 0.4)
        ax.set_ylabel(f"exponent of the mean gap in {'n' if sweep == 'n' else 'the rank'}")
        if col == 0:
            ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_rademacher(result: Result) -> Figure:
    """Left: Rad(W_gamma) averaged over the resampled samples (95% t interval) and the bound (dashed) against gamma,
    per rank. Right: against the rank at one gamma, with sqrt(q* rank / n), the bound, and the bound with d in place
    of the rank."""
    a, cfg = result.arrays, result.config
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    palette = sns.color_palette("viridis", len(a["rank"]))
    order = np.argsort(a["gamma"])
    gam = a["gamma"][order]
    ax = axes[0]
    for k, r in enumerate(a["rank"]):
        mean = a["rad"][k].mean(axis=1)[order]
        half = np.array([_mean_ci(a["rad"][k, g])[1] for g in order])
        ax.errorbar(gam, mean, yerr=half, color=palette[k], marker="o", ms=3, capsize=2, label=f"rank {int(r)}")
        ax.plot(gam, a["bound"][k][order], color=palette[k], ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"constraint level $\gamma$")
    ax.set_ylabel(r"Rademacher complexity of $W_\gamma$")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax = axes[1]
    ranks = a["rank"]
    rho = result.metrics["rho_gaussian"]
    q = float(rademacher_theory.q_of_gamma(cfg["gamma_rank"], cfg["loss"], cfg["q_max"]))
    base_mean = a["base"].mean(axis=1)
    half = np.array([_mean_ci(b)[1] for b in a["base"]])
    ax.errorbar(ranks, math.sqrt(q) * base_mean, yerr=math.sqrt(q) * half, marker="o", color="k", capsize=2,
                label=f"measured, mean over {a['base'].shape[1]} samples")
    ax.plot(ranks, np.sqrt(q * ranks / cfg["n"]), color="0.4", ls=":", label=r"$\sqrt{q^*\,rank/n}$")
    ax.plot(ranks, rademacher_theory.rademacher_bound(cfg["gamma_rank"], rho, ranks, cfg["n"]),
            color=sns.color_palette("colorblind")[1], ls="--", label=r"bound, $\sqrt{rank/n}$ scaling")
    ax.plot(ranks, rademacher_theory.rademacher_bound(cfg["gamma_rank"], rho, np.full(len(ranks), cfg["d"]), cfg["n"]),
            color=sns.color_palette("colorblind")[3], ls="-.", label=r"bound with $d$ in place of rank")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"rank of the input covariance (d = {cfg['d']}, n = {cfg['n']})")
    ax.set_ylabel(rf"Rademacher complexity at $\gamma = {cfg['gamma_rank']:g}$")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_rademacher_samples(result: Result) -> Figure:
    """Left: at gamma = rho q_max, Rad(W_gamma, S) / bound for every resampled sample S, per rank, and their mean
    (95% t interval). Right: the empirical distribution of n tr(Sigma^+ Sigma_n) for the largest rank against its
    chi-square law."""
    a, cfg, m = result.arrays, result.config, result.metrics
    tight = int(np.argmin(np.abs(a["gamma"] - m["gamma_tight"])))
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.0))
    palette = sns.color_palette("viridis", len(a["rank"]))
    ax = axes[0]
    for k, r in enumerate(a["rank"]):
        _strip(ax, k, a["rad"][k, tight] / a["bound"][k, tight] - 1, palette[k])
    ax.axhline(0, color="0.2", lw=1, ls="--")
    ax.set_xticks(range(len(a["rank"])), [f"{int(r)}" for r in a["rank"]])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"rank of the input covariance ({a['rad'].shape[2]} samples per rank, n = {cfg['n']})")
    ax.set_ylabel(r"Rad$(W_\gamma, S)$ / bound - 1")
    ax = axes[1]
    k = len(a["rank"]) - 1
    r, n = int(a["rank"][k]), cfg["n"]
    t = np.sort(a["trace_ratio"][k] * r * n)
    ax.step(t / (r * n), np.arange(1, t.size + 1) / t.size, where="post", color="k", label="resampled samples")
    grid = np.linspace(t.min(), t.max(), 400)
    ax.plot(grid / (r * n), _st.chi2.cdf(grid, r * (n - 1)), color=sns.color_palette("colorblind")[1], ls="--",
            label=rf"$\chi^2_{{{r}({n}-1)}}$ / ({r} n)")
    ax.axvline(1, color="0.4", ls=":", lw=1)
    ax.set_xlabel(rf"$\mathrm{{tr}}(\Sigma^+\hat\Sigma)$ / rank (rank {r})")
    ax.set_ylabel("fraction of samples below")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_rademacher_direct(result: Result) -> Figure:
    """On one sample, against gamma: the population class (closed form), the class with sample expectations (value
    found, rigorous upper bound where it is finite, estimated upper value) and the theorem's bound."""
    a, cfg = result.arrays, result.config
    g = a["direct.gamma"]
    apply_style()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    palette = sns.color_palette("colorblind")
    ax.plot(g, a["direct.pop_closed"], marker="o", color=palette[0], label="population class (closed form)")
    ax.plot(g, a["direct.pop_lower"], ls="none", marker="x", ms=8, color=palette[0],
            label="population class, direct maximisation")
    ax.plot(g, a["direct.sample_lower"], marker="s", color=palette[1], label="sample class, value found")
    finite = a["direct.sample_q_bar"] < cfg["q_max"]
    ax.plot(g[finite], a["direct.sample_upper"][finite], ls="none", marker="v", color=palette[1],
            label="sample class, rigorous upper bound")
    ax.plot(g, a["direct.sample_upper_estimate"], ls=":", marker="^", color=palette[1],
            label="sample class, estimated upper value")
    ax.plot(g, a["direct.bound"], ls="--", color="0.3", label="theorem's bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(rf"constraint level $\gamma$ (rank {cfg['direct_rank']}, n = {cfg['n']})")
    ax.set_ylabel("Rademacher complexity")
    ax.legend(loc="upper left", fontsize=7.5)
    fig.tight_layout()
    return fig


def plot_relu_spectrum(result: Result) -> Figure:
    """Eigenvalues of the hidden-feature covariance Sigma_h over the largest, per input rank, with the tolerances."""
    a, cfg = result.arrays, result.config
    apply_style()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    palette = sns.color_palette("viridis", len(a["rank.rank"]))
    for k, r in enumerate(a["rank.rank"]):
        ev = np.clip(a["rank.eigenvalues"][k], 1e-18, None)
        ax.plot(np.arange(1, ev.size + 1), ev, color=palette[k], marker=".", label=f"input rank {int(r)}")
    for t in a["rank.tolerances"]:
        ax.axhline(t, color="0.5", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_ylim(1e-18, 2)
    ax.set_xlabel(f"eigenvalue index (width {cfg['width']})")
    ax.set_ylabel(r"eigenvalue of $\Sigma_h$ / largest")
    ax.legend(loc="lower left", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def plot_relu_complexity(result: Result) -> Figure:
    """The hidden-feature class's complexity (mean over samples, 95% t interval) against the input rank (the class
    itself, the classes restricted by each tolerance, and the input-space class), the width and d, with
    sqrt(gamma k / n) (dashed) for the k kept eigenvalues."""
    a, cfg = result.arrays, result.config
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    palette = sns.color_palette("colorblind")
    ax = axes[0]
    r = a["rank.rank"]
    for j, t in enumerate(a["rank.tolerances"]):
        label = r"$\Sigma_h$ whole (roundoff)" if j == 0 else f"eigenvalues > {t:.0e} of the largest"
        mean = a["rank.rad"][:, j].mean(axis=1)
        half = np.array([_mean_ci(v)[1] for v in a["rank.rad"][:, j]])
        ax.errorbar(r, mean, yerr=half, marker="o", ms=3, capsize=2, color=palette[j], label=label)
        ax.plot(r, a["rank.bound"][:, j], color=palette[j], ls="--", lw=1)
    ax.errorbar(r, a["rank.linear"].mean(axis=1), yerr=[_mean_ci(v)[1] for v in a["rank.linear"]], marker="s", ms=3,
                color="k", capsize=2, label=r"input-space class $\theta^\top\Sigma_x\theta \leq \gamma$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"input rank (width {cfg['width']}, d = {cfg['d']})")
    ax.set_ylabel(f"Rademacher complexity (n = {cfg['n']})")
    ax.legend(loc="lower right", fontsize=7)
    ax = axes[1]
    w = a["width.width"]
    for i, ir in enumerate(a["width.input_rank"]):
        half = np.array([_mean_ci(v)[1] for v in a["width.rad"][i]])
        ax.errorbar(w, a["width.rad"][i].mean(axis=1), yerr=half, marker="o", ms=3, capsize=2, color=palette[i],
                    label=f"input rank {int(ir)}")
        ax.plot(w, a["width.bound"][i], color=palette[i], ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"width (d = {cfg['d']})")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[2]
    half = np.array([_mean_ci(v)[1] for v in a["d.rad"]])
    ax.errorbar(a["d.d"], a["d.rad"].mean(axis=1), yerr=half, marker="o", ms=3, capsize=2, color=palette[0],
                label=f"input rank {cfg['rank']}, width {cfg['width']}")
    ax.plot(a["d.d"], a["d.bound"], color=palette[0], ls="--", lw=1, label=r"$\sqrt{\gamma\,\mathrm{rank}(\Sigma_h)/n}$")
    ax.set_xscale("log")
    ax.set_xlabel("input dimension d")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_relu_samples(result: Result) -> Figure:
    """Per sample: the class's complexity and the fixed-sample Jensen value sqrt(gamma tr(Sigma_h^+ Sigma_n) / n),
    over the reconstructed bound; the mean with its 95% t interval."""
    a, cfg = result.arrays, result.config
    apply_style()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    palette = sns.color_palette("colorblind")
    bound = float(a["main.bound"])
    _strip(ax, 0, a["main.rad"] / bound - 1, palette[0])
    _strip(ax, 1, a["main.fixed_jensen"] / bound - 1, palette[1])
    ax.axhline(0, color="0.2", ls="--", lw=1)
    ax.set_xticks([0.1, 1.1], [r"Rad$(S)$", r"$\sqrt{\gamma\,\mathrm{tr}(\Sigma_h^+\hat\Sigma_h)/n}$"])
    ax.set_xlim(-0.5, 1.7)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("over the bound - 1")
    ax.set_xlabel(f"{a['main.rad'].size} samples (input rank {cfg['rank']}, width {cfg['width']}, n = {cfg['n']})")
    fig.tight_layout()
    return fig


def _image_frame(arrays: dict, prefix: str, alphas, metric: str) -> pd.DataFrame:
    frames = []
    for alpha in alphas:
        vals = arrays[f"{prefix}{alpha:g}.{metric}"]
        label = "ERM" if alpha == 0 else rf"mixup $\alpha={alpha:g}$"
        for s, row in enumerate(vals):
            frames.append(pd.DataFrame({"epoch": np.arange(len(row)), "value": row, "method": label, "seed": s}))
    return pd.concat(frames, ignore_index=True)


def plot_generalization_gap(result: Result) -> Figure:
    """Figures 1b and 5-8: per dataset (columns), the gap test loss - clean training loss over epochs (top) and the
    test / clean training 0-1 error (bottom), mean +/- sd over seeds."""
    cfg, a = result.config, result.arrays
    names = list(cfg["datasets"])
    apply_style()
    fig, axes = plt.subplots(2, len(names), figsize=(5.4 * len(names), 7.0), squeeze=False, sharex="col")
    palette = sns.color_palette("colorblind", len(cfg["alphas"]))
    for col, name in enumerate(names):
        info = result.metrics["datasets"][name]
        gap = _image_frame(a, f"{name}.", cfg["alphas"], "test_loss")
        gap["value"] = gap["value"] - _image_frame(a, f"{name}.", cfg["alphas"], "train_loss_clean")["value"]
        sns.lineplot(data=gap[gap.epoch > 0], x="epoch", y="value", hue="method", palette=palette, errorbar="sd",
                     ax=axes[0, col], legend=col == 0)
        if col == 0:
            axes[0, col].legend(loc="lower right")
        axes[0, col].axhline(0, color="0.3", lw=0.8)
        axes[0, col].set_ylabel("test loss - clean train loss (nats)" if col == 0 else "")
        axes[0, col].text(0.03, 0.95, f"{name} ({info['model']}, n = {info['n_train']})",
                          transform=axes[0, col].transAxes, va="top")
        test = _image_frame(a, f"{name}.", cfg["alphas"], "test_err")
        train = _image_frame(a, f"{name}.", cfg["alphas"], "train_err_clean")
        sns.lineplot(data=test[test.epoch > 0], x="epoch", y="value", hue="method", palette=palette, errorbar="sd",
                     ax=axes[1, col], legend=False)
        sns.lineplot(data=train[train.epoch > 0], x="epoch", y="value", hue="method", palette=palette, errorbar="sd",
                     ax=axes[1, col], legend=False, linestyle="--")
        axes[1, col].yaxis.set_major_formatter(PercentFormatter(1.0))
        axes[1, col].set_ylabel("0-1 error: test (solid), clean train (dashed)" if col == 0 else "")
        axes[1, col].set_xlabel("epoch")
    fig.tight_layout()
    return fig


def plot_fig3(result: Result) -> Figure:
    """Figure 3: clean training error and loss of the mixup image runs per seed (left, middle); training error on the
    alternating-line dataset per alpha, mean +/- sd over seeds (right)."""
    cfg, a = result.config, result.arrays
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    palette = sns.color_palette("colorblind")
    err, loss = a["image.train_err_clean"], a["image.train_loss_clean"]
    ep = np.arange(err.shape[1])
    for s in range(err.shape[0]):
        axes[0].plot(ep[1:], err[s, 1:], color=palette[s % 10], label=f"seed {s}")
        axes[1].plot(ep[1:], loss[s, 1:], color=palette[s % 10], label=f"seed {s}")
    axes[0].set_yscale("symlog", linthresh=1e-3)
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].set_ylabel("clean training 0-1 error")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("clean training loss (nats)")
    for ax in axes[:2]:
        ax.set_xlabel(f"epoch ({cfg['dataset']}, {cfg['model']}, mixup $\\alpha = {cfg['alpha']:g}$)")
    axes[0].legend(loc="upper right")
    frames = []
    for alpha in cfg["ncal_alphas"]:
        vals = a[f"line.{alpha:g}.train_err_clean"]
        label = "ERM" if alpha == 0 else rf"mixup $\alpha={alpha:g}$"
        for s, row in enumerate(vals):
            frames.append(pd.DataFrame({"step": np.arange(len(row)), "error": row, "method": label, "seed": s}))
    df = pd.concat(frames, ignore_index=True)
    sns.lineplot(data=df, x="step", y="error", hue="method", errorbar="sd", ax=axes[2])
    axes[2].legend(loc="center right")
    axes[2].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[2].set_xlabel(f"full-batch Adam step (alternating line, {cfg['ncal_points']} points)")
    axes[2].set_ylabel("training 0-1 error")
    fig.tight_layout()
    return fig

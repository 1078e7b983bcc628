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

__all__ = ["apply_style", "MODEL_LABELS", "lemma31_table", "plot_lemma31_training", "plot_lemma31_remainder"]

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

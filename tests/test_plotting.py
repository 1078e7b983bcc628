"""plotting.py: the figures of the robustness chapter show the saved arrays (lines, axes, labels, legends); every
figure made here is closed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mixup_repro import pipeline, plotting
from mixup_repro.chapters import fig1a_fgsm, thm31_logistic

REPO = pipeline.find_root(__file__)


@pytest.fixture(scope="module")
def thm31():
    return thm31_logistic.run(pipeline.resolve_config("thm31_logistic", "smoke", {"epochs": 30}, root=REPO),
                              progress=False, save=False)


@pytest.fixture(scope="module")
def fig1a():
    return fig1a_fgsm.run(pipeline.resolve_config("fig1a_fgsm", "smoke", root=REPO), progress=False, save=False)


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def _line(ax, label):
    """The line of ``ax`` whose legend label is ``label``."""
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


def test_chain_figure_plots_both_sides_of_the_chain_per_case(thm31, close_figures):
    fig = plotting.plot_thm_chain(thm31)
    a = thm31.arrays
    assert len(fig.axes) == 2
    for ax, (case, label) in zip(fig.axes, thm31.metrics["case_labels"].items()):
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss (nats)"
        assert [t.get_text() for t in ax.texts] == [label]
        mix = _line(ax, r"$\tilde L_{mix}$")
        np.testing.assert_array_equal(mix.get_xdata(), a[f"{case}.epoch"])
        np.testing.assert_array_equal(mix.get_ydata(), a[f"{case}.chain_mix_quadratic"])
        true = _line(ax, "exact adversarial loss at $\\varepsilon_{mix}\\sqrt{d}$")
        np.testing.assert_array_equal(true.get_ydata(), a[f"{case}.chain_true_adv_eps_mix"])
        assert len(ax.get_lines()) == 5  # with the exact mixup loss, recorded for logistic regression
        outside = int((a[f"{case}.chain_in_theta"] == 0).sum())
        assert len(ax.patches) == outside  # one grey band per iterate outside Theta
    legend = fig.axes[-1].get_legend()
    assert legend is not None and len(legend.get_texts()) == 5


def test_radius_figure_marks_the_final_mixup_loss_and_the_guaranteed_radius(thm31, close_figures):
    fig = plotting.plot_thm_radius(thm31)
    a = thm31.arrays
    for ax, case in zip(fig.axes, thm31.metrics["case_labels"]):
        second = _line(ax, r"mean $\tilde\ell_{adv}(r)$ (second order)")
        np.testing.assert_array_equal(second.get_xdata(), a[f"{case}.radius"])
        np.testing.assert_array_equal(_line(ax, "exact adversarial loss").get_ydata(), a[f"{case}.radius_true"])
        assert _line(ax, r"$\tilde L_{mix}$ (final)").get_ydata()[0] == a[f"{case}.chain_mix_quadratic"][-1]
        radius = a[f"{case}.chain_eps_mix"][-1] * np.sqrt(float(a[f"{case}.dim"]))
        assert _line(ax, r"$\varepsilon_{mix}\sqrt{d}$").get_xdata()[0] == pytest.approx(radius)
        assert ax.get_xlabel() == "$\\ell_2$ radius $r$ (input units)"


def test_eps_figure_shows_the_cosines_and_eps_mix_on_a_log_scale(thm31, close_figures):
    fig = plotting.plot_thm_eps(thm31)
    left, right = fig.axes
    assert left.get_ylabel() == "share of training points" and right.get_yscale() == "log"
    for case, label in thm31.metrics["case_labels"].items():
        np.testing.assert_array_equal(_line(right, label).get_ydata(), thm31.arrays[f"{case}.chain_eps_mix"])
    assert len(left.collections) == len(thm31.metrics["case_labels"])  # one step histogram per case
    assert [t.get_text() for t in left.get_legend().get_texts()] == list(thm31.metrics["case_labels"].values())


def test_fig1a_figure_has_one_panel_per_attack_with_mean_curves(fig1a, close_figures):
    fig = plotting.plot_fig1a(fig1a)
    assert [ax.get_xlabel().split(" radius")[0] for ax in fig.axes] == ["FGSM", "PGD", "PGD"]
    assert all(ax.get_ylim() == (0.0, 1.0) for ax in fig.axes)
    n = len(fig1a.config["seeds"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [f"ERM (mean $\\pm$ sd, n = {n} seeds)", f"mixup (mean $\\pm$ sd, n = {n} seeds)"]
    erm = fig.axes[0].get_lines()[0]  # seaborn draws the mean of each method, ERM first
    np.testing.assert_allclose(erm.get_xdata(), fig1a.arrays["eps.fgsm"])
    np.testing.assert_allclose(erm.get_ydata(), fig1a.metrics["summary"]["erm.fgsm.mean"])


def test_fig1a_table_and_frame(fig1a):
    cfg = fig1a.config
    frame = plotting.fig1a_frame(fig1a)
    radii = len(cfg["fgsm_eps"]) + len(cfg["pgd_eps"]) + len(cfg["l2_eps"])
    assert len(frame) == 2 * len(cfg["seeds"]) * radii  # methods x seeds x radii
    table = plotting.fig1a_table(fig1a)
    assert {"ERM mean (%)", "mixup mean (%)", "ERM std (%)"} <= set(table.columns) and len(table) == radii
    assert table.loc[("fgsm", 0.0), "ERM mean (%)"] == pytest.approx(100 * fig1a.metrics["summary"]["erm.fgsm.mean"][0],
                                                                     abs=0.05)


def test_no_figure_is_left_open():
    assert plt.get_fignums() == []

"""chapters/glm_regularization.py: a smoke run decides its comparisons on paired per-draw intervals, its exact mixup
optima are the Newton optima of the exact objective, the squared-loss control changes nothing, and the figures draw
the saved arrays; the notebook runs with the smoke profile."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from _chapter_checks import check_claims, smoke_checked_outputs
from mixup_repro import pipeline, plotting, stats
from mixup_repro.chapters import glm_regularization as ch
from mixup_repro.config import ConfigError, GLMRegularizationConfig
from mixup_repro.theory import glm_optimum as go

REPO = pipeline.find_root(__file__)


@pytest.fixture(scope="module")
def smoke():
    return ch.run(pipeline.resolve_config("glm_regularization", "smoke", root=REPO), progress=False, save=False)


def test_claims_have_kinds_and_intervals(smoke):
    claims = check_claims(smoke.metrics["claims"])
    kinds = {cid: c["kind"] for cid, c in claims.items()}
    for x in ch.LOSSES:
        assert kinds[f"GLM fits, {x} (shrinkage)"] == kinds[f"GLM fits, {x} (gap)"] == "paper"
        assert kinds[f"Corollary (n exponent), {x}"] == kinds[f"Corollary, {x} (mixup vs ERM)"] == "paper"
        assert kinds[f"GLM move, {x} (R1 + R2)"] == kinds[f"Corollary (rank exponent), {x}"] == "beyond"
    assert kinds["GLM regularizer (penalty)"] == "fact" and kinds["GLM optimum, squared (least squares)"] == "check"
    # the squared-loss control and the quadrature are exact even at smoke size
    for cid in ("GLM optimum, squared (least squares)", "GLM optimum, squared (R1 and R2 cancel)",
                "GLM optimum (quadrature)", "GLM regularizer (R2)", "GLM constant"):
        assert claims[cid]["verdict"] == "PASS", claims[cid]


def test_the_shrinkage_and_gap_claims_are_the_paired_intervals_of_the_saved_draws(smoke):
    a, cfg = smoke.arrays, smoke.config
    claims = {c["id"]: c for c in smoke.metrics["claims"]}
    for x in ch.LOSSES:
        q_e, q_m = a[f"{x}.optimum.quad_pop_erm"], a[f"{x}.optimum.quad_pop_mix"]
        assert q_e.shape == (cfg["optimum_seeds"],)
        iv = stats.t_interval(np.log(q_m / q_e), ch.LEVEL)
        nb = claims[f"GLM fits, {x} (shrinkage)"]["numbers"]
        assert (nb["estimate"], nb["ci_low"], nb["ci_high"], nb["n"]) == pytest.approx(
            (iv.estimate, iv.ci_low, iv.ci_high, cfg["optimum_seeds"]))
        assert claims[f"GLM fits, {x} (shrinkage)"]["verdict"] == stats.decide(iv, "less", ch.SHRINK_MARGIN).outcome
        gap = stats.paired_interval(a[f"{x}.optimum.gap_mix"], a[f"{x}.optimum.gap_erm"], ch.LEVEL)
        assert claims[f"GLM fits, {x} (gap)"]["numbers"]["estimate"] == pytest.approx(gap.estimate)
        rel = stats.relative_difference_per_seed(
            np.concatenate([a[f"{x}.gap_n.mixup"], a[f"{x}.gap_rank.mixup"]]),
            np.concatenate([a[f"{x}.gap_n.ERM"], a[f"{x}.gap_rank.ERM"]]))
        assert claims[f"Corollary, {x} (mixup vs ERM)"]["numbers"]["estimate"] == pytest.approx(rel.mean())


def test_the_first_draw_is_the_exact_mixup_optimum(smoke):
    cfg = pipeline.resolve_config("glm_regularization", "smoke", root=REPO)
    ds = ch._draw(cfg, "logistic", 0)
    opt = go.mixup_optimum(ds.X, ds.y, cfg.alpha, cfg.beta, "logistic", order=cfg.quad_order)
    assert smoke.arrays["logistic.optimum.quad_pop_mix"][0] == pytest.approx(float(opt.theta @ ds.Sigma @ opt.theta),
                                                                             rel=1e-9)
    assert smoke.arrays["logistic.track_optimum.mixup"][0] == pytest.approx(float(opt.theta @ ds.Sigma @ opt.theta),
                                                                            rel=1e-9)
    grad = go.mixup_objective(opt.theta, ds.X, ds.y, cfg.alpha, cfg.beta, "logistic", order=cfg.quad_order).grad
    assert float(grad.norm()) < 1e-10
    assert np.all(smoke.arrays["squared.rel_diff"] < ch.SQUARED_RTOL)


def test_book_values_and_figures(smoke):
    values = ch.book_values(smoke)
    assert values["verdict_glm_squared"] == "PASS" and values["glm_optimum_draws"] == "3"
    assert values["glm_logistic_shrink"].count("[") == 1
    figs = {name: getattr(plotting, name)(smoke) for name in ("plot_glm_constant", "plot_glm_regularizer",
                                                               "plot_glm_optima", "plot_glm_tracking", "plot_glm_gap",
                                                               "plot_glm_exponents")}
    ax = figs["plot_glm_optima"].axes[0]
    a = smoke.arrays
    np.testing.assert_allclose(ax.lines[0].get_ydata(), a["logistic.optimum.quad_pop_mix"]
                               / a["logistic.optimum.quad_pop_erm"] - 1)
    assert len(figs["plot_glm_optima"].axes) == 6 and len(figs["plot_glm_exponents"].axes) == 2
    plt.close("all")


def test_refused_configs():
    with pytest.raises(ConfigError, match=r"must be <= d"):
        GLMRegularizationConfig(d=4, rank=5)
    with pytest.raises(ConfigError, match=r"optimum_seeds.*must be in \[2, 10000\]"):
        GLMRegularizationConfig(optimum_seeds=1)


@pytest.mark.slow
def test_the_notebook_runs_with_the_smoke_profile(tmp_path):
    checked = smoke_checked_outputs("glm_regularization", tmp_path)
    assert len(checked) == 1 and "[PASS] GLM optimum, squared (least squares)" in checked[0]

"""chapters/rademacher.py: a smoke run measures the complexity over resampled samples, decides the averaged
statement per (gamma, rank) point and the fixed-sample statement on a re-measured sample, and the figures draw the
saved arrays; the notebook runs with the smoke profile."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from _chapter_checks import check_claims, smoke_checked_outputs
from mixup_repro import pipeline, plotting, stats
from mixup_repro.chapters import rademacher as ch
from mixup_repro.config import ConfigError, RademacherConfig
from mixup_repro.data.synthetic import low_rank_glm_data
from mixup_repro.theory import rademacher as rd

REPO = pipeline.find_root(__file__)


@pytest.fixture(scope="module")
def smoke():
    return ch.run(pipeline.resolve_config("rademacher", "smoke", root=REPO), progress=False, save=False)


def test_claims_have_kinds_and_intervals(smoke):
    claims = check_claims(smoke.metrics["claims"])
    assert [c["kind"] for c in claims.values()] == ["check", "paper", "paper", "check", "paper", "check", "beyond",
                                                    "beyond"]
    assert claims["Rademacher (direct = closed form)"]["verdict"] == "PASS"
    assert claims["Theorem (Jensen step per sample)"]["verdict"] == "PASS"


def test_the_averaged_claim_is_decided_at_every_point_and_reports_the_closest(smoke):
    a, cfg = smoke.arrays, smoke.config
    assert a["gamma"][-1] == pytest.approx(ch.gamma_tight("logistic", cfg["q_max"]))
    assert a["rad"].shape == (len(cfg["rank_grid"]), len(cfg["gamma_grid"]) + 1, cfg["n_samples"])
    rel = a["rad"] / a["bound"][:, :, None] - 1
    intervals = [stats.t_interval(rel[r, g], ch.LEVEL) for r in range(rel.shape[0]) for g in range(rel.shape[1])]
    closest = max(intervals, key=lambda iv: iv.ci_high)
    claim = {c["id"]: c for c in smoke.metrics["claims"]}["Theorem (averaged over S)"]
    assert claim["numbers"]["ci_high"] == pytest.approx(closest.ci_high)
    assert claim["numbers"]["points"] == len(intervals)
    assert claim["numbers"]["points_pass"] == sum(iv.ci_high < 0 for iv in intervals)
    # the saved complexities are sqrt(q*) times the per-sample mean of sqrt(v^T Sigma^+ v) of resampled_rademacher
    res = rd.resampled_rademacher(cfg["n"], cfg["d"], cfg["rank_grid"][1], a["gamma"], "logistic", q_max=cfg["q_max"],
                                  n_samples=cfg["n_samples"], n_draws=cfg["n_draws"],
                                  seed=ch.derive_seed(cfg["seed"], 11))
    np.testing.assert_allclose(a["rad"][1], res.rad, rtol=1e-12)


def test_the_fixed_sample_claim_re_measures_the_screened_sample(smoke):
    a, cfg, m = smoke.arrays, smoke.config, smoke.metrics["confirm"]
    z = (a["rad"] - a["bound"][:, :, None]) / a["rad_se"]
    r, g, k = np.unravel_index(int(np.argmax(z)), z.shape)
    assert (m["rank"], m["sample"]) == (cfg["rank_grid"][r], k) and m["z_screen"] == pytest.approx(z[r, g, k])
    ds = low_rank_glm_data(cfg["n"], cfg["d"], m["rank"], "logistic", n_test=1, seed=int(a["sample_seeds"][r, k]))
    gen = torch.Generator().manual_seed(ch.derive_seed(cfg["seed"], 4))
    signs = (torch.randint(0, 2, (cfg["n_confirm"], cfg["n"]), generator=gen).to(torch.float64) * 2 - 1).numpy()
    V = signs @ ds.X.numpy() / cfg["n"]
    sup = math.sqrt(a["q_star"][g]) * np.sqrt(np.einsum("kp,pq,kq->k", V, np.linalg.pinv(ds.Sigma.numpy()), V))
    assert m["estimate"] == pytest.approx(sup.mean() / a["bound"][r, g] - 1, rel=1e-9)


def test_book_values_and_figures(smoke):
    values = ch.book_values(smoke)
    assert values["verdict_rad_direct"] == "PASS" and values["rad_samples"] == "5"
    fig = plotting.plot_rademacher(smoke)
    assert len(fig.axes[0].lines) >= len(smoke.config["rank_grid"])
    fig = plotting.plot_rademacher_samples(smoke)
    tight = len(smoke.arrays["gamma"]) - 1
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               smoke.arrays["rad"][0, tight] / smoke.arrays["bound"][0, tight] - 1)
    fig = plotting.plot_rademacher_direct(smoke)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), smoke.arrays["direct.pop_closed"])
    plt.close("all")


def test_refused_configs():
    with pytest.raises(ConfigError, match=r"direct_rank \(60\) must be <= d \(50\)"):
        RademacherConfig(direct_rank=60)


@pytest.mark.slow
def test_the_notebook_runs_with_the_smoke_profile(tmp_path):
    checked = smoke_checked_outputs("rademacher", tmp_path)
    assert len(checked) == 1 and "Theorem (fixed S)" in checked[0]

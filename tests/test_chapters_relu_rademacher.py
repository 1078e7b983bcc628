"""chapters/relu_rademacher.py: a smoke run measures the hidden-feature class over samples, its claims are of kind
beyond or check, the exponents are those of the saved arrays, and the figures draw them; the notebook runs with the
smoke profile."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from _chapter_checks import check_claims, smoke_checked_outputs
from mixup_repro import pipeline, plotting, stats
from mixup_repro.chapters import relu_rademacher as ch
from mixup_repro.config import ConfigError, ReLURademacherConfig

REPO = pipeline.find_root(__file__)


@pytest.fixture(scope="module")
def smoke():
    return ch.run(pipeline.resolve_config("relu_rademacher", "smoke", root=REPO), progress=False, save=False)


def test_claims_are_checks_or_beyond_and_say_the_statement_is_reconstructed(smoke):
    claims = check_claims(smoke.metrics["claims"])
    assert {c["kind"] for c in claims.values()} == {"check", "beyond"}
    assert all("reconstructed, not verified" in c["paper"] for c in claims.values() if c["kind"] == "beyond")
    assert claims["Sigma_h (arc-cosine kernel)"]["verdict"] == "PASS"
    assert claims["rank(Sigma_h), rank-1 inputs"]["verdict"] == "PASS"


def test_the_scaling_claims_are_the_exponents_of_the_saved_arrays(smoke):
    a = smoke.arrays
    claims = {c["id"]: c for c in smoke.metrics["claims"]}
    ex = stats.loglog_exponent(a["d.d"], a["d.rad"], ch.LEVEL).interval
    assert claims["ReLU complexity vs d"]["numbers"]["estimate"] == pytest.approx(ex.estimate)
    higher = a["rank.rank"] >= 2
    ex = stats.loglog_exponent(a["rank.rank"][higher], a["rank.rad"][higher, 0], ch.LEVEL).interval
    assert claims["ReLU complexity vs input rank"]["numbers"]["ci_high"] == pytest.approx(ex.ci_high)
    assert np.all(a["rank.kept"][:, 0] <= smoke.config["width"])
    assert a["rank.kept"][0, 0] == 2  # rank-1 inputs
    main = smoke.metrics["main"]
    assert main["bound"] == pytest.approx(np.sqrt(smoke.config["gamma"] * main["kept"] / smoke.config["n"]))


def test_book_values_and_figures(smoke):
    values = ch.book_values(smoke)
    assert values["verdict_relu_kernel"] == "PASS" and values["relu_width"] == "16"
    fig = plotting.plot_relu_spectrum(smoke)
    assert len(fig.axes[0].lines) >= len(smoke.config["rank_grid"])
    fig = plotting.plot_relu_complexity(smoke)
    assert len(fig.axes) == 3
    fig = plotting.plot_relu_samples(smoke)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), smoke.arrays["main.rad"] / smoke.arrays["main.bound"] - 1)
    plt.close("all")


def test_refused_configs():
    with pytest.raises(ConfigError, match=r"must be <= d \(10\)"):
        ReLURademacherConfig(d=10, rank=5, rank_grid=(1, 20), width_ranks=(2,), d_grid=(10,))
    with pytest.raises(ConfigError, match=r"every d_grid value \(smallest 2\) must be >= rank \(5\)"):
        ReLURademacherConfig(d_grid=(2, 50))


@pytest.mark.slow
def test_the_notebook_runs_with_the_smoke_profile(tmp_path):
    checked = smoke_checked_outputs("relu_rademacher", tmp_path)
    assert len(checked) == 1 and "[PASS] Sigma_h (arc-cosine kernel)" in checked[0]

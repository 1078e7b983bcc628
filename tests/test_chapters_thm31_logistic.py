"""chapters/thm31_logistic.py: a smoke run enters Theta on separable data, the chain holds there, the exact
adversarial loss curve starts at the clean loss; the notebook runs with the smoke profile."""

from __future__ import annotations

import numpy as np
import pytest

from _chapter_checks import smoke_checked_outputs
from mixup_repro import pipeline
from mixup_repro.chapters import thm31_logistic

REPO = pipeline.find_root(__file__)


def _profile(name, **overrides):
    return pipeline.resolve_config(name, "smoke", overrides, root=REPO)


def test_smoke_run_chain_claims_and_book_values():
    result = thm31_logistic.run(_profile("thm31_logistic", epochs=30), progress=False, save=False)
    claims = {c["id"]: c for c in result.metrics["claims"]}
    assert all(c["paper"].strip() for c in claims.values())  # figure_note's "Paper:" line
    sep = result.metrics["cases"]["separable"]
    # Well-separated Gaussians: training enters Theta and the theorem's chain holds there.
    assert sep["n_in_theta"] > 0 and claims["Theorem 3.1 (chain, separable Gaussians)"]["verdict"] == "PASS"
    # The exact adversarial loss at radius 0 is the clean loss; it grows with the radius.
    curve = result.arrays["separable.radius_true"]
    assert np.all(np.diff(curve) > 0) and curve[0] == pytest.approx(result.arrays["separable.chain_standard"][-1])
    assert result.arrays["separable.chain_true_adv_eps_mix"].shape == result.arrays["separable.epoch"].shape
    values = thm31_logistic.book_values(result)
    assert values["verdict_chain_separable_Gaussians"] == "PASS" and isinstance(values["separable_final_eps_mix"], float)
    assert [c["kind"] for c in claims.values()] == ["paper", "paper", "beyond", "beyond"]
    s = result.metrics["cases"]["separable"]
    assert claims["Theorem 3.1 (chain, separable Gaussians)"]["numbers"]["n_in_theta"] == s["n_in_theta"]
    inside = result.arrays["separable.chain_in_theta"] > 0
    assert s["n_in_theta"] == int(inside.sum()) and s["n_iterates"] == inside.size


@pytest.mark.slow
def test_the_notebook_runs_with_the_smoke_profile(tmp_path):
    checked = smoke_checked_outputs("thm31_logistic", tmp_path)
    assert len(checked) == 1 and "[" in checked[0]

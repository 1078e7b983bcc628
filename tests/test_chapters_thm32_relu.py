"""chapters/thm32_relu.py: the bias-free net meets the hypotheses and the net with biases does not; PGD finds at
least the clean loss; the notebook runs with the smoke profile."""

from __future__ import annotations

import numpy as np
import pytest

from _chapter_checks import smoke_checked_outputs
from mixup_repro import pipeline
from mixup_repro.chapters import thm32_relu

REPO = pipeline.find_root(__file__)


def _profile(name, **overrides):
    return pipeline.resolve_config(name, "smoke", overrides, root=REPO)


def test_smoke_run_hypotheses_and_pgd():
    result = thm32_relu.run(_profile("thm32_relu"), progress=False, save=False)
    cases = result.metrics["cases"]
    assert cases["nobias"]["euler_gap"] < 1e-12 and cases["nobias"]["hessian_max"] == 0.0
    assert cases["bias"]["euler_gap"] > 1e-3  # biases break the Euler identity
    claims = {c["id"]: c["verdict"] for c in result.metrics["claims"]}
    assert claims["Theorem 3.2 (hypotheses)"] == "PASS"
    assert all(c["paper"].strip() for c in result.metrics["claims"])
    # PGD-l2 can only find more loss than the clean loss: the radius-0 point is the clean loss.
    assert np.all(result.arrays["nobias.radius_true"][1:] >= result.arrays["nobias.radius_true"][0])
    kinds = {c["id"]: c["kind"] for c in result.metrics["claims"]}
    assert kinds["Theorem 3.2 (hypotheses)"] == "check" and kinds["Theorem 3.2 (chain, bias-free ReLU MLP)"] == "paper"
    values = thm32_relu.book_values(result)
    assert values["nobias_hessian_max"] == 0.0 and values["verdict_hypotheses"] == "PASS"


@pytest.mark.slow
def test_the_notebook_runs_with_the_smoke_profile(tmp_path):
    checked = smoke_checked_outputs("thm32_relu", tmp_path)
    assert len(checked) == 1 and "[" in checked[0]

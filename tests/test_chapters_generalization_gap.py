"""chapters/generalization_gap.py: the gap is read at the final epoch from the clean training loss, and the claim
compares exactly those numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mixup_repro.chapters import generalization_gap
from mixup_repro.config import ConfigError, GeneralizationGapConfig


def test_generalization_gap_run_records_the_final_epoch_clean_gap():
    cfg = GeneralizationGapConfig(datasets=("fake",), models=("mlp",), train_sizes=(48,), test_sizes=(32,),
                                  alphas=(0.0, 1.0), n_seeds=2, epochs=2, batch_size=16, mlp_hidden=8)
    r = generalization_gap.run(cfg, progress=False, save=False)
    for alpha, method in ((0.0, "ERM"), (1.0, "mixup a=1")):
        a = {m: r.arrays[f"fake.{alpha:g}.{m}"] for m in ("test_loss", "train_loss_clean", "mixup_loss")}
        assert a["test_loss"].shape == (2, 3)  # seeds x (epochs + 1): epoch 0 is the initial model
        gap = a["test_loss"][:, -1] - a["train_loss_clean"][:, -1]
        assert r.metrics["datasets"]["fake"]["methods"][method]["final_gap_mean"] == pytest.approx(gap.mean())
    # mixup's objective is recorded separately and is not the clean training loss
    assert not np.allclose(r.arrays["fake.1.mixup_loss"][:, 1:], r.arrays["fake.1.train_loss_clean"][:, 1:])
    assert [(c["verdict"], c["kind"]) for c in r.metrics["claims"]][-1] == ("INFO", "beyond")
    gap_claim = r.metrics["claims"][0]
    assert gap_claim["id"] == "Figures 1b/5-8, fake (mixup a=1)" and gap_claim["kind"] == "paper"
    methods = r.metrics["datasets"]["fake"]["methods"]
    assert gap_claim["numbers"]["gap_mixup"] == methods["mixup a=1"]["final_gap_mean"]
    assert gap_claim["numbers"]["gap_erm"] == methods["ERM"]["final_gap_mean"]
    # decided on the per-seed differences with scipy's paired t interval (level 0.95, n = 2 seeds)
    d = np.array(methods["mixup a=1"]["final_gap"]) - np.array(methods["ERM"]["final_gap"])
    ci = stats.ttest_rel(d, np.zeros_like(d)).confidence_interval(0.95)
    assert gap_claim["numbers"]["ci_low"] == pytest.approx(ci.low) and gap_claim["numbers"]["n"] == 2.0
    assert gap_claim["verdict"] == ("PASS" if ci.high < 0 else "FAIL" if ci.low > 0 else "INCONCLUSIVE")
    values = generalization_gap.book_values(r)
    assert values["gap_fake_erm"] == methods["ERM"]["final_gap_mean"] and values["gap_verdicts"] == gap_claim["verdict"]
    with pytest.raises(ConfigError, match=r"must have the same length \(one entry per panel\), got 2, 1, 2, 2"):
        GeneralizationGapConfig(models=("mlp",))


@pytest.mark.parametrize("mixup, verdict", [
    ([0.30, 0.32, 0.29, 0.31, 0.30], "PASS"),        # every seed's gap smaller than its ERM twin
    ([0.52, 0.55, 0.50, 0.53, 0.54], "FAIL"),        # every seed's gap larger
    ([0.45, 0.41, 0.47, 0.42, 0.46], "INCONCLUSIVE"),  # a tie: the paired interval spans 0
])
def test_the_gap_claim_has_three_outcomes_on_synthetic_seeds(mixup, verdict):
    erm = [0.44, 0.43, 0.45, 0.43, 0.45]
    method = lambda gaps, alpha: {"alpha": alpha, "final_gap": gaps, "final_gap_mean": float(np.mean(gaps)),  # noqa: E731
                                  "final_test_err": [0.2] * 5, "final_test_err_mean": 0.2,
                                  "final_train_err_clean_mean": 0.05}
    per_ds = {"fashion_mnist": {"model": "mlp", "n_train": 2000, "n_test": 10000,
                                "methods": {"ERM": method(erm, 0.0), "mixup a=1": method(mixup, 1.0)}}}
    gap, error = generalization_gap.claims(GeneralizationGapConfig(n_seeds=5), per_ds)
    assert (gap.kind, gap.verdict) == ("paper", verdict) and f"claimed < 0: {verdict}" in gap.detail
    assert "(95% t interval, n = 5)" in gap.detail
    assert (error.kind, error.verdict) == ("beyond", "INFO") and "mixup a=1 - ERM test error +0.0 [+0.0, +0.0]" in error.detail

"""chapters/generalization_gap.py: the gap is read at the final epoch from the clean training loss, and the claim
compares exactly those numbers."""

from __future__ import annotations

import numpy as np
import pytest

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
    assert gap_claim["numbers"] == {"gap_mixup": methods["mixup a=1"]["final_gap_mean"],
                                    "gap_erm": methods["ERM"]["final_gap_mean"]}
    assert gap_claim["verdict"] == ("PASS" if gap_claim["numbers"]["gap_mixup"] < gap_claim["numbers"]["gap_erm"]
                                    else "FAIL")
    values = generalization_gap.book_values(r)
    assert values["gap_fake_erm"] == methods["ERM"]["final_gap_mean"] and values["gap_verdicts"] == gap_claim["verdict"]
    with pytest.raises(ConfigError, match=r"must have the same length \(one entry per panel\), got 2, 1, 2, 2"):
        GeneralizationGapConfig(models=("mlp",))

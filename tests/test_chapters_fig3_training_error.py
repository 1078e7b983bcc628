"""chapters/fig3_training_error.py: Figure 3 is decided on the share of seeds that reach zero training error, with the
epochs at which they do, from synthetic per-seed error curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixup_repro.chapters import fig3_training_error as fig3
from mixup_repro.config import ConfigError, Fig3Config


@pytest.mark.parametrize("reached, seeds, verdict", [
    (2, 3, "PASS"), (3, 3, "PASS"), (3, 5, "PASS"), (1, 3, "INCONCLUSIVE"), (2, 4, "INCONCLUSIVE"), (2, 5, "INCONCLUSIVE"),
    (0, 3, "FAIL"), (0, 1, "FAIL"), (1, 1, "PASS"),
])
def test_the_paper_says_often_so_most_seeds_pass_none_fails(reached, seeds, verdict):
    assert fig3.reached_zero_verdict(reached, seeds) == verdict


def test_a_bad_count_is_refused():
    with pytest.raises(ValueError, match=r"need 0 <= reached <= seeds and seeds >= 1, got 4 of 3"):
        fig3.reached_zero_verdict(4, 3)


def _image(errors: list[list[int]], n_train: int = 1348) -> dict:
    """The chapter's per-seed record from error curves given in images (epoch 0 first)."""
    err = np.array(errors, dtype=float) / n_train
    return {"first_zero_epoch": [fig3._first_zero(e) for e in err],
            "share_at_zero_after_first": [fig3._share_at_zero_after_first(e) for e in err],
            "final_train_err_clean": err[:, -1].tolist(), "final_train_loss_clean": [0.05] * len(err),
            "min_train_err_clean": err.min(axis=1).tolist(), "n_train": n_train}


def test_the_claim_counts_seeds_and_says_when_each_reached_zero():
    cfg = Fig3Config(n_seeds=3, epochs=5)
    image = _image([[900, 40, 3, 0, 0, 0], [900, 30, 0, 1, 0, 0], [900, 50, 4, 2, 1, 1]])
    assert image["first_zero_epoch"][:2] == [3.0, 2.0] and math.isnan(image["first_zero_epoch"][2])
    assert image["share_at_zero_after_first"][:2] == [1.0, 0.75]  # seed 2: zero, one image, zero, zero
    claim, loss = fig3.claims(cfg, image, {})
    assert (claim.kind, claim.verdict, loss.kind) == ("paper", "PASS", "check")
    assert "2 of 3 seeds reach zero error" in claim.detail
    assert ("per seed: from epoch 3 (100% of the epochs since at zero), from epoch 2 (75% of the epochs since at "
            "zero), never (lowest 1 of 1348 images)") in claim.detail
    assert "final model in Theta for 2 of 3" in claim.detail and claim.detail.endswith("(more than half): PASS")
    assert claim.numbers == {"seeds_at_zero": 2.0, "seeds": 3.0, "final_in_theta": 2.0}
    one = fig3.claims(cfg, _image([[9, 0, 0], [9, 1, 1], [9, 2, 1]]), {})[0]
    assert one.verdict == "INCONCLUSIVE" and "1 of 3 seeds" in one.detail


def test_float64_and_bf16_do_not_go_together():
    with pytest.raises(ConfigError, match=r"bf16 autocast needs dtype float32"):
        Fig3Config(bf16=True)
    assert Fig3Config(bf16=True, dtype="float32").dtype == "float32"

"""chapters/lemma31_fig2.py: the chapter's hooks (values at the right epochs, mode restored, bad input refused) and a
small run whose claims and book values hold what the arrays say."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from _param_recorder import ParamRecorder
from mixup_repro.chapters import lemma31_fig2
from mixup_repro.chapters.lemma31_fig2 import MixupLossHook, TaylorHook
from mixup_repro.config import Lemma31Config
from mixup_repro.data.synthetic import gaussian_mixture
from mixup_repro.models import build_model
from mixup_repro.taylor import mixup_loss_exact, taylor_terms
from mixup_repro.train import fit


def _setup(name="logistic", n=40, seed=0):
    ds = gaussian_mixture(n, d=2, separation=1.5, seed=seed)
    model = build_model(name, 2, hidden=8, generator=torch.Generator().manual_seed(seed))
    return ds.X, ds.y, model


def test_hooks_recorded_at_the_right_epochs_with_the_right_values():
    X, y, model = _setup("tanh_mlp", n=20)
    taylor = TaylorHook(X, y, 1.0, 1.0, every=2)
    exact = MixupLossHook(X, y, 1.0, 1.0, every=5, order=16)
    rec = ParamRecorder()
    hist = fit(model, X, y, alpha=1.0, epochs=5, lr=0.5, seed=0, hooks=[taylor, exact, rec], progress=False)
    assert rec.epochs == [0, 1, 2, 3, 4, 5]
    for key in ("taylor_standard", "taylor_R1", "taylor_R2", "taylor_R3"):
        col = hist.column(key)
        assert np.isfinite(col[[0, 2, 4]]).all() and np.isnan(col[[1, 3, 5]]).all(), key
    col = hist.column("mixup_loss_exact")
    assert np.isfinite(col[[0, 5]]).all() and np.isnan(col[1:5]).all()
    # Values are those of the model at that epoch (rebuild the epoch-4 model from the recorded parameters).
    assert col[5] == pytest.approx(mixup_loss_exact(model, X, y, 1.0, 1.0, order=16), rel=1e-13)
    at4 = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(rec.params[4], at4.parameters())
    terms = taylor_terms(at4, X, y, 1.0, 1.0)
    assert hist.records[4]["taylor_R2"] == pytest.approx(terms["R2"], rel=1e-12)
    assert hist.records[4]["taylor_standard"] == pytest.approx(hist.records[4]["train_loss_clean"], rel=1e-12)



def test_hooks_measure_in_eval_mode_and_hand_the_mode_back():
    X, y, model = _setup("tanh_mlp")
    model.train()
    TaylorHook(X, y, 1.0, 1.0)(0, model)
    MixupLossHook(X, y, 1.0, 1.0, order=4)(0, model)
    assert model.training


@pytest.mark.parametrize("hook", [TaylorHook, MixupLossHook])
def test_hooks_reject_bad_every(hook):
    X, y, _ = _setup()
    with pytest.raises(ValueError, match="every must be a positive integer"):
        hook(X, y, 1.0, 1.0, every=0)



def test_a_small_run_states_its_claims_with_kinds_and_the_numbers_behind_them():
    cfg = Lemma31Config(n_samples=24, hidden=6, epochs=6, eval_every=3, quad_order=12, alpha_grid=(0.2, 1.0),
                        scale_grid=(0.5, 1.0, 4.0))
    result = lemma31_fig2.run(cfg, progress=False, save=False)
    claims = {c["id"]: c for c in result.metrics["claims"]}
    assert list(claims) == ["Lemma 3.1 (identity)", "Lemma 3.1 (R3)", "Figure 2", "Lemma 3.1 (weight scale)",
                            "Lemma 3.1 (alpha)"]
    assert [c["kind"] for c in claims.values()] == ["check", "check", "paper", "beyond", "beyond"]
    a, m = result.arrays, result.metrics["models"]
    assert a["tanh_mlp.epoch"].tolist() == [0.0, 3.0, 6.0]
    gap = np.abs(a["logistic.mixup_loss_exact"] - a["logistic.taylor_approx"]) / a["logistic.mixup_loss_exact"]
    assert m["logistic"]["max_rel_gap_along_training"] == pytest.approx(gap.max())
    assert claims["Figure 2"]["numbers"]["logistic.max_rel_gap"] == pytest.approx(gap.max())
    assert claims["Lemma 3.1 (identity)"]["verdict"] == "PASS"  # an identity: holds whatever the training
    assert claims["Lemma 3.1 (R3)"]["numbers"]["max_abs_R3_piecewise_linear"] <= lemma31_fig2.R3_ZERO_TOL
    values = lemma31_fig2.book_values(result)
    assert values["verdict_fig2"] == claims["Figure 2"]["verdict"]
    assert values["scale_max"] == 4.0 and values["share_missed_min"] <= values["share_missed_max"]

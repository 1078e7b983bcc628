"""robust_eval.py: the attack ladder of Figure 1a on a small model, its sanity flags, and that each flag can fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mixup_repro.attacks import pgd
from mixup_repro.robust_eval import ATTACKS, ModeProbe, attack_correct, attack_ladder, correct, nonincreasing

RADII = {"fgsm": (0.0, 0.05, 0.2), "pgd_linf": (0.0, 0.05, 0.2), "pgd_l2": (0.0, 0.3)}


def _problem(n=40, seed=0):
    """A 3-class linear classifier on inputs in [0, 1]^4 (shape (n, 1, 2, 2), as images), and labels it mostly gets."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(3, 4, generator=g) * 3)
        model[1].bias.zero_()
    X = torch.rand(n, 1, 2, 2, generator=g)
    with torch.no_grad():
        y = model(X).argmax(1)
    y[:5] = (y[:5] + 1) % 3  # a few wrong labels, so clean accuracy is below 1
    return model, X, y


def _ladder(model, X, y, **kw):
    return attack_ladder(model, X, y, RADII, n_pgd=20, batch=16, pgd_steps=5, pgd_restarts=2,
                         generator=torch.Generator().manual_seed(1), **kw)


def test_correct_is_the_argmax_oracle_in_any_batch_size():
    model, X, y = _problem()
    oracle = model(X).argmax(1) == y
    for batch in (1, 7, 40):
        assert torch.equal(correct(model, X, y, batch), oracle)


def test_ladder_of_a_sound_model_passes_its_flags_and_is_consistent():
    model, X, y = _problem()
    ladder = _ladder(model, X, y)
    clean = (model(X).argmax(1) == y).float()
    assert set(ladder.accuracy) == set(ATTACKS) and ladder.accuracy["pgd_l2"].shape == (2,)
    assert ladder.accuracy["fgsm"][0] == pytest.approx(float(clean.mean()))  # eps 0 on all inputs
    assert ladder.accuracy["pgd_linf"][0] == pytest.approx(float(clean[:20].mean()))  # eps 0 on the PGD points
    assert ladder.accuracy["fgsm"][-1] < ladder.accuracy["fgsm"][0]  # the attack does something
    flags = ladder.flags
    assert flags["eps0_is_clean"] and flags["monotone"] and flags["pgd_no_weaker"] and flags["eval_mode"]
    assert flags["zero_grad_fraction"] == 0.0 and flags["clean_acc"] == pytest.approx(float(clean.mean()))
    np.testing.assert_array_equal(ladder.worst_eps, [0.0, 0.05, 0.2])
    assert np.all(ladder.worst <= ladder.accuracy["pgd_linf"] + 1e-12)  # the worst case is no better than PGD


def test_the_worst_case_is_per_point_over_fgsm_and_pgd():
    """Replayed in the ladder's order: FGSM draws nothing, PGD-l_inf at 0 neither, then 0.05 and 0.2 draw starts."""
    model, X, y = _problem()
    ladder = _ladder(model, X, y)
    kw = dict(batch=16, pgd_steps=5, pgd_restarts=2, generator=torch.Generator().manual_seed(1))
    attack_correct(model, X[:20], y[:20], "pgd_linf", 0.05, **kw)
    pgd_hits = attack_correct(model, X[:20], y[:20], "pgd_linf", 0.2, **kw)[0]
    fgsm_hits = attack_correct(model, X, y, "fgsm", 0.2, batch=16)[0][:20]
    assert ladder.worst[-1] == pytest.approx(float((pgd_hits & fgsm_hits).float().mean()))
    assert ladder.accuracy["pgd_linf"][-1] == pytest.approx(float(pgd_hits.float().mean()))
    assert ladder.worst[-1] <= min(float(pgd_hits.float().mean()), float(fgsm_hits.float().mean()))


def test_the_eval_mode_flag_catches_a_model_that_trains_during_the_attack():
    class Sneaky(nn.Module):
        """Switches its body to training mode in every forward pass (a bug the flag must report)."""

        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            self.body.train()
            return self.body(x)

    model, X, y = _problem()
    sneaky = Sneaky(model)
    assert not _ladder(sneaky, X, y).flags["eval_mode"]
    probe = ModeProbe(model)
    model.eval()
    model(X)
    assert not probe.saw_training
    probe.remove()
    model.train()
    model(X)
    assert not probe.saw_training  # removed hooks record nothing


def test_zero_input_gradients_are_counted():
    model, X, y = _problem()
    with torch.no_grad():
        model[1].weight.zero_()  # constant logits: every input gradient is zero, FGSM cannot move
    hits, zero_share = attack_correct(model, X, y, "fgsm", 0.1, batch=16)
    assert zero_share == 1.0 and torch.equal(hits, correct(model, X, y, 16))
    assert _ladder(model, X, y).flags["zero_grad_fraction"] == 1.0


def test_attack_correct_matches_the_attacks_it_runs():
    model, X, y = _problem()
    hits, _ = attack_correct(model, X, y, "pgd_l2", 0.3, batch=40, pgd_steps=5, pgd_restarts=2,
                             generator=torch.Generator().manual_seed(4))
    x_adv = pgd(model, X, y, 0.3, 2.5 * 0.3 / 5, 5, norm="l2", restarts=2, generator=torch.Generator().manual_seed(4))
    assert torch.equal(hits, model(x_adv).argmax(1) == y)


def test_nonincreasing_follows_the_grid_order():
    assert nonincreasing(np.array([0.9, 0.5, 0.5]), [0.0, 0.1, 0.2])
    assert not nonincreasing(np.array([0.9, 0.5, 0.6]), [0.0, 0.1, 0.2])
    assert nonincreasing(np.array([0.5, 0.9]), [0.1, 0.0])  # the grid order decides


def test_model_modes_are_restored_and_bad_arguments_refused():
    model, X, y = _problem()
    model.train()
    _ladder(model, X, y)
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match=r"unknown attack 'cw'; choose one of fgsm, pgd_linf, pgd_l2"):
        attack_correct(model, X, y, "cw", 0.1, batch=8)
    with pytest.raises(ValueError, match=r"radii must map 'fgsm' and optionally 'pgd_linf', 'pgd_l2'"):
        attack_ladder(model, X, y, {"pgd_linf": (0.1,)}, n_pgd=4, batch=8)

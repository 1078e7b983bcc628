"""FGSM and PGD against closed-form oracles (linear / logistic models, float64) and by invariants."""

import math

import pytest
import torch
from torch import nn

from mixup_repro.attacks import fgsm, linear_worst_case, logistic_adversarial_loss, pgd

DT = torch.float64


def _init(model, seed):
    """Float64 parameters drawn from a seeded generator (scaled like the default fan-in init)."""
    g = torch.Generator().manual_seed(seed)
    model = model.to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT) / math.sqrt(p.shape[-1]))
    return model


def _linear(d, seed):
    return _init(nn.Linear(d, 1), seed)


def _data(n, d, seed, centred=False, classes=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=DT) if centred else torch.rand(n, d, generator=g, dtype=DT)
    y = torch.randint(0, classes or 2, (n,), generator=g)
    return x, (y if classes else y.to(DT))


def _logistic_oracle(w, b, x, y, eps, norm):
    """The ball maximum written out per example: u moves by eps times the dual norm towards the wrong side."""
    dual = sum(abs(v) for v in w.tolist()) if norm == "linf" else math.sqrt(sum(v * v for v in w.tolist()))
    out = []
    for xi, yi in zip(x.tolist(), y.tolist()):
        u = sum(a * c for a, c in zip(w.tolist(), xi)) + b + (eps * dual if yi == 0 else -eps * dual)
        out.append(math.log1p(math.exp(u)) - yi * u)
    return torch.tensor(out, dtype=DT)


def _bce(model, x, y):
    f = model(x).reshape(-1)
    return nn.functional.softplus(f) - y * f


class _Mlp(nn.Module):
    """A small smooth multi-class model that records the mode it was called in."""

    def __init__(self, d, classes, seed):
        super().__init__()
        self.net = _init(nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, classes)), seed)
        self.seen_training = []

    def forward(self, x):
        self.seen_training.append(self.training)
        return self.net(x)


# --- closed forms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_closed_form_loss_matches_written_out_oracle(norm):
    model = _linear(5, 0)
    x, y = _data(30, 5, 1, centred=True)
    w, b = model.weight[0].detach(), float(model.bias.detach())
    exact = logistic_adversarial_loss(w, b, x, y, 0.3, norm)
    torch.testing.assert_close(exact, _logistic_oracle(w, b, x, y, 0.3, norm))
    x_star = linear_worst_case(w, b, x, y, 0.3, norm)
    torch.testing.assert_close(_bce(model, x_star, y).detach(), exact)
    radius = (x_star - x).abs().amax(1) if norm == "linf" else (x_star - x).norm(dim=1)
    torch.testing.assert_close(radius, torch.full((30,), 0.3, dtype=DT))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_closed_form_beats_random_points_of_the_ball(norm):
    model = _linear(4, 2)
    x, y = _data(10, 4, 3, centred=True)
    w, b = model.weight[0].detach(), float(model.bias.detach())
    exact = logistic_adversarial_loss(w, b, x, y, 0.5, norm)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        z = torch.randn(10, 4, generator=g, dtype=DT)
        delta = 0.5 * (z.sign() if norm == "linf" else z / z.norm(dim=1, keepdim=True))
        assert torch.all(_bce(model, x + delta, y).detach() <= exact + 1e-12)


def test_fgsm_linf_is_the_exact_maximiser_of_a_logistic_model():
    model = _linear(6, 4)
    x, y = _data(25, 6, 5, centred=True)
    w, b = model.weight[0].detach(), float(model.bias.detach())
    torch.testing.assert_close(fgsm(model, x, y, 0.2, "linf", clip=None), linear_worst_case(w, b, x, y, 0.2, "linf"))
    torch.testing.assert_close(fgsm(model, x, y, 0.2, "l2", clip=None), linear_worst_case(w, b, x, y, 0.2, "l2"))


def test_pgd_l2_with_restarts_reaches_the_exact_ball_maximum():
    model = _linear(8, 6)
    x, y = _data(20, 8, 7, centred=True)
    w, b = model.weight[0].detach(), float(model.bias.detach())
    g = torch.Generator().manual_seed(0)
    x_adv = pgd(model, x, y, eps=0.4, step_size=0.1, steps=60, norm="l2", restarts=3, generator=g, clip=None)
    torch.testing.assert_close(_bce(model, x_adv, y).detach(), logistic_adversarial_loss(w, b, x, y, 0.4, "l2"),
                               rtol=1e-7, atol=1e-9)


def test_pgd_linf_and_fgsm_agree_with_the_exact_maximum_on_a_linear_model():
    model = _linear(5, 8)
    x, y = _data(15, 5, 9, centred=True)
    w, b = model.weight[0].detach(), float(model.bias.detach())
    exact = logistic_adversarial_loss(w, b, x, y, 0.25, "linf")
    g = torch.Generator().manual_seed(1)
    loss_pgd = _bce(model, pgd(model, x, y, 0.25, 0.1, 10, generator=g, clip=None), y).detach()
    loss_fgsm = _bce(model, fgsm(model, x, y, 0.25, clip=None), y).detach()
    torch.testing.assert_close(loss_pgd, exact)
    assert torch.all(loss_pgd >= loss_fgsm - 1e-12)


# --- multi-class and invariants -------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_attacks_raise_cross_entropy_and_pgd_beats_fgsm(norm):
    model = _Mlp(10, 4, 0)
    x, y = _data(64, 10, 11, classes=4)
    eps = 1e-3 if norm == "linf" else 3e-3
    ce = nn.functional.cross_entropy
    with torch.no_grad():
        model.eval()
        clean = ce(model(x), y, reduction="none")
        adv_fgsm = ce(model(fgsm(model, x, y, eps, norm)), y, reduction="none")
        x_pgd = pgd(model, x, y, 30 * eps, 8 * eps, 20, norm, generator=torch.Generator().manual_seed(0))
        x_fgsm_big = fgsm(model, x, y, 30 * eps, norm)
        adv_pgd, adv_fgsm_big = ce(model(x_pgd), y, reduction="none"), ce(model(x_fgsm_big), y, reduction="none")
    # Inputs away from the box edges, small eps and a smooth model: the first-order gain is positive everywhere.
    inner = ((x > 0.01) & (x < 0.99)).all(1)
    assert torch.all(adv_fgsm[inner] > clean[inner])
    assert adv_pgd.mean() > adv_fgsm_big.mean() > clean.mean()


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_result_stays_in_the_ball_and_the_box(norm, attack):
    model = _Mlp(12, 3, 1)
    x, y = _data(40, 12, 13, classes=3)
    eps = 0.1 if norm == "linf" else 0.5
    if attack == "fgsm":
        x_adv = fgsm(model, x, y, eps, norm)
    else:
        x_adv = pgd(model, x, y, eps, eps / 3, 7, norm, restarts=2, generator=torch.Generator().manual_seed(2))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert torch.all(size <= eps + 1e-12)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, x)


def test_eps_zero_changes_nothing():
    model = _Mlp(6, 3, 2)
    x, y = _data(9, 6, 15, classes=3)
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert torch.equal(pgd(model, x, y, 0.0, 0.1, 5, "l2", generator=torch.Generator().manual_seed(0)), x)


@pytest.mark.parametrize("train", [True, False])
def test_model_mode_is_restored_and_the_attack_runs_in_eval_mode(train):
    model = _Mlp(6, 3, 3)
    model.train(train)
    model.net[0].train(not train)  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    x, y = _data(9, 6, 17, classes=3)
    fgsm(model, x, y, 0.1)
    pgd(model, x, y, 0.1, 0.05, 3, restarts=2, generator=torch.Generator().manual_seed(0))
    assert [m.training for m in model.modules()] == before
    assert model.seen_training and not any(model.seen_training)


def test_same_generator_seed_gives_the_same_output_and_another_seed_does_not():
    model = _Mlp(8, 3, 4)
    x, y = _data(20, 8, 19, classes=3)

    def run(seed):
        return pgd(model, x, y, 0.1, 0.02, 4, restarts=2, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_restarts_never_lower_the_per_example_loss(norm):
    model = _Mlp(8, 4, 5)
    model.eval()
    x, y = _data(50, 8, 21, classes=4)
    eps = 0.2 if norm == "linf" else 0.8

    def loss(restarts):
        x_adv = pgd(model, x, y, eps, eps / 4, 5, norm, restarts, torch.Generator().manual_seed(3))
        with torch.no_grad():
            return nn.functional.cross_entropy(model(x_adv), y, reduction="none")

    one, five = loss(1), loss(5)
    assert torch.all(five >= one)
    assert torch.any(five > one)


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": -0.1}, "eps must be a finite number >= 0"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"step_size": 0.0}, "step_size must be a finite number > 0"),
        ({"restarts": 0}, "restarts must be an integer >= 1"),
        ({"norm": "l1"}, "unknown norm 'l1'"),
        ({"restarts": 2, "generator": None}, "restarts > 1 need a generator"),
        ({"clip": (1.0, 0.0)}, r"clip must be \(low, high\) with low < high"),
    ],
)
def test_pgd_refuses_bad_arguments(kwargs, match):
    model = _Mlp(4, 3, 6)
    x, y = _data(5, 4, 23, classes=3)
    args = {"eps": 0.1, "step_size": 0.05, "steps": 3, "norm": "linf", "restarts": 1, "generator": None} | kwargs
    with pytest.raises(ValueError, match=match):
        pgd(model, x, y, **args)


def test_attacks_refuse_bad_data():
    model = _Mlp(4, 3, 7)
    x, y = _data(5, 4, 25, classes=3)
    with pytest.raises(ValueError, match=r"y must have shape \(5,\) to match x"):
        fgsm(model, x, y[:4], 0.1)
    with pytest.raises(ValueError, match="x lies outside the clip range"):
        fgsm(model, x + 1.5, y, 0.1)
    with pytest.raises(ValueError, match="x must be a tensor of shape"):
        fgsm(model, x[0], y, 0.1)
    with pytest.raises(ValueError, match="multi-class logits need integer class labels"):
        fgsm(model, x, y.double(), 0.1)
    with pytest.raises(ValueError, match=r"model output must have shape \(n,\), \(n, 1\) or \(n, C >= 2\)"):
        fgsm(_init(nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (3, 2))), 0), x, y, 0.1)
    with pytest.raises(ValueError, match=r"labels y in \{0, 1\}"):
        fgsm(_linear(4, 0), x, y.double() * 2, 0.1)
    w = torch.ones(4, dtype=DT)
    with pytest.raises(ValueError, match=r"need w of shape \(d,\) and x of shape \(n, d\)"):
        linear_worst_case(w, 0.0, x[:, :3], y.double().clamp(max=1), 0.1, "l2")
    with pytest.raises(ValueError, match="unknown norm"):
        logistic_adversarial_loss(w, 0.0, x, y.double().clamp(max=1), 0.1, "l3")

"""theory/robustness.py: the quantities of Theorems 3.1 / 3.2 against float64 oracles written out here (the
second-order and the exact adversarial loss, radii, Theta, the chain, input gradients and Hessians)."""

import itertools
import math

import pytest
import torch
from torch import nn

from mixup_repro.attacks import logistic_adversarial_loss
from mixup_repro.losses import get_loss
from mixup_repro.models import MLP, init_from_generator
from mixup_repro.theory.robustness import (
    adv_loss_second_order,
    c_x,
    check_chain,
    cosines,
    eps_i,
    eps_mix,
    in_theta,
    input_gradients,
    input_hessian_max,
    logistic_adv_loss_exact,
)

DT = torch.float64


def _centred(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DT) * (0.5 + torch.rand(n, 1, generator=g, dtype=DT))
    return X - X.mean(0), g


def _relu_net(d, hidden, seed, bias=False, depth=2):
    g = torch.Generator().manual_seed(seed)
    sizes = [d] + [hidden] * (depth - 1) + [1]
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b, bias=bias, dtype=DT), nn.ReLU()]
    net = nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT) / math.sqrt(p.shape[-1]))
    return net


def _sig(u):
    return 1.0 / (1.0 + math.exp(-u))


def test_second_order_adversarial_loss_matches_the_written_out_formula():
    f = torch.tensor([-2.0, -0.3, 0.0, 0.7, 3.1], dtype=DT)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=DT)
    gn = torch.tensor([0.5, 1.0, 2.0, 0.1, 3.0], dtype=DT)
    r = torch.tensor([0.1, 0.2, 0.0, 1.0, 0.05], dtype=DT)
    plain = [math.log(1 + math.exp(fi)) - yi * fi for fi, yi in zip(f.tolist(), y.tolist())]
    expected = [
        li + ri * abs(_sig(fi) - yi) * gi + ri**2 / 2 * _sig(fi) * (1 - _sig(fi)) * gi**2
        for li, fi, yi, gi, ri in zip(plain, f.tolist(), y.tolist(), gn.tolist(), r.tolist())
    ]
    torch.testing.assert_close(adv_loss_second_order(f, gn, y, r), torch.tensor(expected, dtype=DT))
    # A scalar radius broadcasts; radius 0 is the plain loss.
    torch.testing.assert_close(adv_loss_second_order(f, gn, y, 0.0), torch.tensor(plain, dtype=DT))


def test_second_order_form_agrees_with_the_exact_ball_maximum_to_third_order():
    X, g = _centred(50, 5, 0)
    theta = torch.randn(5, generator=g, dtype=DT)
    y = (torch.rand(50, generator=g, dtype=DT) < 0.5).to(DT)
    errs = []
    for r in (0.2, 0.1, 0.05, 0.025):
        exact = logistic_adversarial_loss(theta, 0.0, X, y, r, "l2")
        approx = adv_loss_second_order(X @ theta, theta.norm(), y, r)
        err = (exact - approx).abs()
        # Taylor's remainder in u = theta^T x: the softplus has |h'''| <= 1 / (6 sqrt 3), step r ||theta||.
        assert torch.all(err <= (r * float(theta.norm())) ** 3 / (36 * math.sqrt(3)))
        errs.append(float(err.sum()))
    ratios = [a / b for a, b in itertools.pairwise(errs)]
    assert all(6.5 < q < 9.5 for q in ratios), ratios  # halving the radius divides the error by ~8


def test_c_x_cosines_and_radii():
    X = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0]], dtype=DT)
    assert c_x(X) == pytest.approx(1.0 / 2.0)
    theta = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=DT)
    torch.testing.assert_close(cosines(theta, X), torch.tensor([0.6, 0.0, 0.0], dtype=DT))
    G = torch.tensor([[-6.0, -8.0, 0, 0], [0, 0, 0, 0], [0, 1.0, 1.0, 0]], dtype=DT)
    torch.testing.assert_close(cosines(G, X), torch.tensor([1.0, 0.0, 1 / math.sqrt(2)], dtype=DT))
    # alpha = beta = 1: E[1 - lam] = 1/3.
    torch.testing.assert_close(eps_i(G, X, 1.0, 1.0), torch.tensor([1.0, 0.0, 1 / math.sqrt(2)], dtype=DT) / 6)
    assert eps_mix(G, X, 1.0, 1.0) == 0.0
    assert eps_mix(G[[0, 2]], X[[0, 2]], 1.0, 1.0) == pytest.approx(1 / math.sqrt(2) * 1.0 / 3)  # c_x = 1 here
    with pytest.raises(ValueError, match="G must have shape"):
        cosines(G[:2], X)


def test_in_theta_mask_and_count():
    f = torch.tensor([2.0, -1.0, 0.0, 0.5], dtype=DT)
    y = torch.tensor([1, 0, 0, 0])
    member = in_theta(f, y)
    assert not member and member.n_outside == 1
    assert member.mask.tolist() == [True, True, True, False]
    assert in_theta(f[:3], y[:3])
    with pytest.raises(ValueError, match=r"labels y in \{0, 1\}"):
        in_theta(f, y + 1)
    with pytest.raises(ValueError, match="y must have shape"):
        in_theta(f, y[:3])


def _lemma_oracle_logistic(theta, X, y, alpha, beta):
    """L~_mix for logistic regression on centred data, written out per example from the closed forms."""
    n = X.shape[0]
    m1 = 2 * alpha * beta / ((alpha + beta) * (alpha + beta + 1))
    m2 = m1 / 2
    Sigma = X.T @ X / n
    tSt = float(theta @ Sigma @ theta)
    total = 0.0
    for xi, yi in zip(X, y.tolist()):
        u = float(xi @ theta)
        s = _sig(u)
        total += math.log1p(math.exp(u)) - yi * u  # standard
        total += -m1 * (s - yi) * u  # R1 with E_r[r - x_i] = -x_i
        total += m2 / 2 * s * (1 - s) * (tSt + u * u)  # R2 with E_r[(r - x_i)(r - x_i)^T] = Sigma + x_i x_i^T
    return total / n


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5)])
def test_theorem_3_1_chain_holds_for_theta_in_Theta(seed, alpha, beta):
    X, g = _centred(40, 5, seed)
    theta = torch.randn(5, generator=g, dtype=DT) * (0.3 + 2 * seed)
    y = (X @ theta >= 0).to(DT)
    out = check_chain(theta, X, y, alpha, beta)
    assert out.verdict == "holds" and out.in_theta and out.hypotheses_met
    assert out.R3 == 0.0
    assert out.mix_quadratic == pytest.approx(_lemma_oracle_logistic(theta, X, y, alpha, beta), rel=1e-10)
    assert out.mix_quadratic >= out.adv_eps_i >= out.adv_eps_mix > out.standard
    assert out.eps_mix == pytest.approx(float(cosines(theta, X).min()) * c_x(X) * 2 * alpha * beta
                                        / ((alpha + beta) * (alpha + beta + 1)))


def test_chain_is_not_applicable_outside_Theta():
    X, g = _centred(30, 4, 7)
    theta = torch.randn(4, generator=g, dtype=DT)
    y = (X @ theta >= 0).to(DT)
    y[:3] = 1 - y[:3]
    out = check_chain(theta, X, y, 1.0, 1.0)
    assert not out.in_theta and out.n_outside == 3
    assert out.verdict == "not applicable (theta outside Theta)"


def test_chain_names_unmet_hypotheses():
    X, g = _centred(30, 4, 8)
    theta = torch.randn(4, generator=g, dtype=DT)
    shifted = X + 0.5
    out = check_chain(theta, shifted, (shifted @ theta >= 0).to(DT), 1.0, 1.0)
    assert "data not centred" in out.verdict and not out.hypotheses_met
    net = _relu_net(4, 8, 9, bias=True)
    with torch.no_grad():
        f = net(X).reshape(-1)
    out = check_chain(net, X, (f >= 0).to(DT), 1.0, 1.0)
    assert "f != grad f^T x" in out.verdict


def test_input_gradients_match_autograd_jacobians_and_euler_identity_holds():
    X, _ = _centred(20, 6, 10)
    net = _relu_net(6, 12, 11, depth=3)
    net.train()
    f, G = input_gradients(net, X)
    assert net.training
    oracle = torch.stack([torch.autograd.functional.jacobian(lambda x: net(x[None]).reshape(()), x) for x in X])
    torch.testing.assert_close(G, oracle)
    # Bias-free ReLU nets are positively 1-homogeneous: f(x) = grad f(x)^T x (Euler).
    torch.testing.assert_close(f, (G * X).sum(1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net(3.0 * X).reshape(-1).detach(), 3.0 * f)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_theorem_3_2_chain_holds_for_a_bias_free_relu_net(seed):
    X, _ = _centred(40, 6, 20 + seed)
    net = _relu_net(6, 16, 30 + seed)
    with torch.no_grad():
        f = net(X).reshape(-1)
    y = (f >= 0).to(DT)
    out = check_chain(net, X, y, 1.0, 1.0)
    assert out.verdict == "holds" and out.hypotheses_met
    assert out.R3 == 0.0 and out.euler_gap < 1e-12
    # Independent R1 + R2 from the oracle gradients (centred data: E_r[r - x_i] = -x_i).
    _, G = input_gradients(net, X)
    s = torch.sigmoid(f)
    Sigma = X.T @ X / 40
    gx = (G * X).sum(1)
    r1 = float((-(1 / 3) * (s - y) * gx).mean())
    r2 = float(((1 / 6) / 2 * s * (1 - s) * (torch.einsum("nd,de,ne->n", G, Sigma, G) + gx**2)).mean())
    assert out.R1 == pytest.approx(r1, rel=1e-10) and out.R2 == pytest.approx(r2, rel=1e-10)
    assert out.R1 > 0


def test_check_chain_refuses_a_bad_parameter():
    X, _ = _centred(10, 3, 40)
    with pytest.raises(ValueError, match=r"nn.Module or a vector of shape \(3,\)"):
        check_chain(torch.ones(4, dtype=DT), X, torch.ones(10, dtype=DT), 1.0, 1.0)
    with pytest.raises(ValueError, match=r"X must have shape \(n, d\)"):
        check_chain(torch.ones(3, dtype=DT), X[None], torch.ones(10, dtype=DT), 1.0, 1.0)


# --- the exact adversarial loss of logistic regression, input Hessians ------------------------------------


def _logistic_problem(n=30, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DT)
    y = (torch.rand(n, generator=g, dtype=DT) > 0.5).to(DT)
    theta = torch.randn(d, generator=g, dtype=DT)
    return X, y, theta


def test_exact_adversarial_loss_scalar_radius_matches_the_attack_module():
    X, y, theta = _logistic_problem()
    for r in (0.0, 0.1, 1.7):
        torch.testing.assert_close(logistic_adv_loss_exact(theta, X, y, r),
                                   logistic_adversarial_loss(theta, 0.0, X, y, r, "l2"), rtol=1e-14, atol=1e-14)


def test_exact_adversarial_loss_per_example_radius_beats_a_brute_force_search():
    """Per-example radii: no point on a fine circle (d = 2) has a higher loss, and the maximiser is attained."""
    X, y, theta = _logistic_problem(n=12, d=2, seed=3)
    radii = torch.linspace(0.0, 1.5, 12, dtype=DT)
    exact = logistic_adv_loss_exact(theta, X, y, radii)
    angles = torch.linspace(0, 2 * math.pi, 20001, dtype=DT)
    circle = torch.stack([angles.cos(), angles.sin()], dim=1)
    lossfn = get_loss("logistic")
    for i in range(12):
        pts = X[i] + radii[i] * circle
        brute = lossfn(pts @ theta, y[i].expand(len(pts))).max()
        assert float(brute) <= float(exact[i]) + 1e-12
        assert float(exact[i] - brute) < 1e-6  # the fine grid gets within 1e-6 of the closed form


@pytest.mark.parametrize("kwargs, match", [
    (dict(radius=-0.1), r"radius must be finite and >= 0"),
    (dict(radius=float("nan")), r"radius must be finite and >= 0"),
    (dict(theta=torch.zeros(3, dtype=DT)), r"need theta of shape \(d,\) and X of shape \(n, d\)"),
])
def test_exact_adversarial_loss_errors(kwargs, match):
    X, y, theta = _logistic_problem()
    args = dict(theta=theta, X=X, y=y, radius=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        logistic_adv_loss_exact(**args)


def test_input_hessian_max_zero_for_relu_and_matches_autograd_for_tanh():
    X = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=DT)
    relu = init_from_generator(MLP(3, (6,), "relu", bias=False), torch.Generator().manual_seed(1)).to(DT)
    assert input_hessian_max(relu, X) == 0.0
    tanh = init_from_generator(MLP(3, (6,), "tanh"), torch.Generator().manual_seed(1)).to(DT)
    ref = max(float(torch.autograd.functional.hessian(lambda x: tanh(x[None]).sum(), X[i]).abs().max())
              for i in range(5))
    assert input_hessian_max(tanh, X) == pytest.approx(ref, rel=1e-12)
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).to(DT).train()
    input_hessian_max(bn, X)
    assert bn.training  # eval mode inside, the mode given back

"""Lemma 3.1 (taylor.py) against float64 oracles written here.

Oracles: closed forms for logistic regression; per-sample input gradients and Hessians from
torch.autograd.functional.jacobian / hessian (and central differences) with the expectation over the
partner r as an explicit double sum; a brute-force mixup loss (double loop over pairs, scipy quad
against the Beta density, the network written in numpy); convergence orders of the Taylor remainder.
"""

import copy
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats
from torch import nn
from torch.autograd.functional import hessian, jacobian

from mixup_repro.losses import get_loss
from mixup_repro.taylor import (
    mixup_loss_exact,
    mixup_loss_mc,
    mixup_loss_tilted,
    standard_loss,
    taylor_approx,
    taylor_terms,
)

DT = torch.float64
PAIRS = [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5), (2.0, 2.0)]


# --- fixtures written out here ---------------------------------------------------------------------


def _moments(alpha, beta):
    """(E[1 - lam], E[(1 - lam)^2]) under D~, from the paper's closed forms (independent of the library)."""
    s = alpha + beta
    m2 = alpha * beta / (s * (s + 1))
    return 2 * m2, m2


def _tilted_moment(alpha, beta, k):
    """E_{D~}[(1 - lam)^k] by quadrature of the mixture density written from scipy.stats.beta pdfs."""
    s = alpha + beta
    pdf = lambda t: alpha / s * stats.beta.pdf(t, alpha + 1, beta) + beta / s * stats.beta.pdf(t, beta + 1, alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(lambda t: (1 - t) ** k * pdf(t), 0, 1, epsabs=0, epsrel=1e-13, limit=500)[0]


def _data(n, d, seed, shift=(0.5, -0.3, 0.2)):
    """Non-centred inputs (so E_r[r - x_i] = xbar - x_i is exercised) and binary labels."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=DT) + torch.tensor(shift[:d], dtype=DT)
    y = torch.randint(0, 2, (n,), generator=g).to(DT)
    return X, y


def _tanh_mlp(d=3, hidden=8, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1)).to(DT)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=DT))
    return net


class _Linear(nn.Module):
    """f(x) = theta^T x + b, output shape (n,)."""

    def __init__(self, theta, b):
        super().__init__()
        self.theta = nn.Parameter(torch.as_tensor(theta, dtype=DT))
        self.b = nn.Parameter(torch.tensor(float(b), dtype=DT))

    def forward(self, x):
        return x @ self.theta + self.b


def _numpy_mlp(net):
    W1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    W2, b2 = net[2].weight.detach().numpy(), net[2].bias.detach().numpy()
    return lambda x: (W2 @ np.tanh(W1 @ x + b1) + b2).item()


H1_NP = {"logistic": lambda u: 1 / (1 + np.exp(-u)), "squared": lambda u: u, "poisson": np.exp}
H2_NP = {"logistic": lambda u: np.exp(-u) / (1 + np.exp(-u)) ** 2, "squared": np.ones_like, "poisson": np.exp}


def _labels(loss, y):
    """Logistic: {0, 1}; squared: real; poisson: counts."""
    if loss == "squared":
        return 2 * y - 0.7
    if loss == "poisson":
        return 3 * y
    return y


def _per_sample_oracle(net, X):
    """Input gradients (n, d), Hessians (n, d, d) and outputs (n,) by torch.autograd.functional, one sample at a time."""
    f1 = lambda x: net(x.unsqueeze(0)).reshape(())
    G = torch.stack([jacobian(f1, x) for x in X])
    H = torch.stack([hessian(f1, x) for x in X])
    with torch.no_grad():
        fx = net(X).reshape(-1)
    return fx.numpy(), G.numpy(), H.numpy()


def _terms_double_sum(fx, G, H, X, y, loss, alpha, beta):
    """R1, R2, R3 of Lemma 3.1 with E_r as an explicit average over all partners j (no covariance shortcut)."""
    m1, m2 = _moments(alpha, beta)
    Xn, yn = X.numpy(), y.numpy()
    n = len(Xn)
    resid, curv = H1_NP[loss](fx) - yn, H2_NP[loss](fx)
    r1 = r2 = r3 = 0.0
    for i in range(n):
        for j in range(n):
            dx = Xn[j] - Xn[i]
            r1 += resid[i] * (G[i] @ dx)
            r2 += curv[i] * (G[i] @ dx) ** 2
            r3 += resid[i] * (dx @ H[i] @ dx)
    return {"R1": m1 * r1 / n**2, "R2": m2 / 2 * r2 / n**2, "R3": m2 / 2 * r3 / n**2}


# --- the exact identity behind Lemma 3.1 -----------------------------------------------------------


@pytest.mark.parametrize("alpha,beta", PAIRS)
@pytest.mark.parametrize("model_name", ["logistic", "tanh_mlp"])
def test_mixed_labels_beta_equals_unmixed_labels_tilted(alpha, beta, model_name):
    X, y = _data(10, 3, seed=1)
    model = _Linear([0.8, -1.1, 0.5], 0.2) if model_name == "logistic" else _tanh_mlp(seed=0)
    exact = mixup_loss_exact(model, X, y, alpha, beta, order=96)
    tilted = mixup_loss_tilted(model, X, y, alpha, beta, order=96)
    assert exact == pytest.approx(tilted, abs=1e-10, rel=0)
    # Not a trivial equality: mixing moves the loss away from the standard loss.
    assert abs(exact - standard_loss(model, X, y)) > 1e-3


@pytest.mark.parametrize("loss", ["squared", "poisson"])
def test_identity_holds_for_every_loss_affine_in_y(loss):
    X, y = _data(8, 3, seed=2)
    net = _tanh_mlp(seed=3, scale=0.5)
    yl = _labels(loss, y)
    a = mixup_loss_exact(net, X, yl, 0.4, 1.5, loss, order=96)
    b = mixup_loss_tilted(net, X, yl, 0.4, 1.5, loss, order=96)
    assert a == pytest.approx(b, abs=1e-10, rel=0)


@pytest.mark.parametrize("alpha,beta", PAIRS)
def test_mixup_loss_exact_against_brute_force_double_loop(alpha, beta):
    X, y = _data(5, 3, seed=4)
    net = _tanh_mlp(seed=5)
    f = _numpy_mlp(net)
    Xn, yn = X.numpy(), y.numpy()

    def pair_loss(lam, i, j):
        u = f(lam * Xn[i] + (1 - lam) * Xn[j])
        return np.logaddexp(0.0, u) - (lam * yn[i] + (1 - lam) * yn[j]) * u

    total = 0.0
    for i in range(5):
        for j in range(5):
            if alpha >= 1 and beta >= 1:
                val = integrate.quad(lambda t: pair_loss(t, i, j) * stats.beta.pdf(t, alpha, beta), 0, 1, epsabs=0, epsrel=1e-12)[0]
            else:
                # Endpoint singularities of the Beta pdf: quad's algebraic weight t^(alpha-1) (1-t)^(beta-1) / B.
                val = integrate.quad(pair_loss, 0, 1, args=(i, j), weight="alg", wvar=(alpha - 1, beta - 1), epsabs=0, epsrel=1e-12)[0]
                val /= special.beta(alpha, beta)
            total += val
    assert mixup_loss_exact(net, X, y, alpha, beta) == pytest.approx(total / 25, rel=1e-10)
    # A small max_points forces one row per chunk: same answer.
    assert mixup_loss_exact(net, X, y, alpha, beta, max_points=10) == pytest.approx(total / 25, rel=1e-10)


def test_alpha_zero_mixup_loss_is_the_standard_loss():
    X, y = _data(9, 3, seed=6)
    net = _tanh_mlp(seed=7)
    with torch.no_grad():
        u = net(X).reshape(-1).numpy()
    expected = np.mean(np.logaddexp(0.0, u) - y.numpy() * u)
    assert standard_loss(net, X, y) == pytest.approx(expected, rel=1e-13)
    assert mixup_loss_exact(net, X, y, 0.0, 0.0) == pytest.approx(expected, rel=1e-13)
    assert mixup_loss_tilted(net, X, y, 0.0, 0.0) == pytest.approx(expected, rel=1e-13)
    terms = taylor_terms(net, X, y, 0.0, 0.0)
    assert terms["R1"] == terms["R2"] == terms["R3"] == 0.0
    assert terms["standard"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5)])
def test_mixup_loss_mc_within_4_stderr_of_exact(alpha, beta):
    X, y = _data(12, 3, seed=8)
    net = _tanh_mlp(seed=9)
    est = mixup_loss_mc(net, X, y, alpha, beta, n_samples=200_000, generator=np.random.default_rng(10))
    exact = mixup_loss_exact(net, X, y, alpha, beta)
    assert 0 < est.stderr < 0.01
    assert abs(est.value - exact) < 4 * est.stderr
    again = mixup_loss_mc(net, X, y, alpha, beta, n_samples=200_000, generator=np.random.default_rng(10))
    assert again == est


# --- taylor_terms against closed forms and autograd oracles --------------------------------------


@pytest.mark.parametrize("loss", ["logistic", "squared", "poisson"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (5.0, 0.5)])
def test_taylor_terms_logistic_regression_closed_form(loss, alpha, beta):
    X, y = _data(30, 3, seed=11)
    y = _labels(loss, y)
    theta, b = np.array([0.9, -0.4, 0.3]), -0.25
    model = _Linear(theta, b)
    terms = taylor_terms(model, X, y, alpha, beta, loss)

    Xn, yn = X.numpy(), y.numpy()
    f = Xn @ theta + b
    xbar = Xn.mean(axis=0)
    cov = np.cov(Xn.T, bias=True)
    m1, m2 = _moments(alpha, beta)
    proj = (xbar - Xn) @ theta
    h = {"logistic": lambda u: np.logaddexp(0, u), "squared": lambda u: u * u / 2, "poisson": np.exp}[loss]
    assert terms["standard"] == pytest.approx(np.mean(h(f) - yn * f), rel=1e-13)
    assert terms["R1"] == pytest.approx(m1 * np.mean((H1_NP[loss](f) - yn) * proj), rel=1e-12)
    assert terms["R2"] == pytest.approx(m2 / 2 * np.mean(H2_NP[loss](f) * (theta @ cov @ theta + proj**2)), rel=1e-12)
    assert terms["R3"] == 0.0  # a linear model has no input curvature
    assert taylor_approx(terms) == pytest.approx(terms["standard"] + terms["R1"] + terms["R2"], rel=1e-15)


def test_taylor_terms_centred_data_use_sigma_plus_xxT():
    """For centred data E_r[(r - x_i)(r - x_i)^T] = Sigma_X + x_i x_i^T (paper, after Lemma 3.1)."""
    X, y = _data(25, 3, seed=12)
    X = X - X.mean(0)
    theta = np.array([0.5, 1.0, -0.7])
    terms = taylor_terms(_Linear(theta, 0.0), X, y, 1.0, 1.0)
    Xn = X.numpy()
    S = Xn.T @ Xn / len(Xn)
    f = Xn @ theta
    s = 1 / (1 + np.exp(-f))
    r2 = np.mean([s[i] * (1 - s[i]) * theta @ (S + np.outer(Xn[i], Xn[i])) @ theta for i in range(25)]) / 12
    r1 = np.mean((s - y.numpy()) * (-Xn @ theta)) / 3
    assert terms["R2"] == pytest.approx(r2, rel=1e-12)
    assert terms["R1"] == pytest.approx(r1, rel=1e-12)


@pytest.mark.parametrize("loss", ["logistic", "squared", "poisson"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5)])
def test_taylor_terms_tanh_mlp_against_autograd_double_sum(loss, alpha, beta):
    X, y = _data(12, 3, seed=13)
    y = _labels(loss, y)
    net = _tanh_mlp(seed=14, scale=0.8)
    fx, G, H = _per_sample_oracle(net, X)
    oracle = _terms_double_sum(fx, G, H, X, y, loss, alpha, beta)
    terms = taylor_terms(net, X, y, alpha, beta, loss)
    assert set(terms) == {"standard", "R1", "R2", "R3"}
    for k in ("R1", "R2", "R3"):
        assert terms[k] == pytest.approx(oracle[k], rel=1e-10, abs=1e-14), k
    assert abs(terms["R3"]) > 1e-4  # curvature really enters
    chunked = taylor_terms(net, X, y, alpha, beta, loss, chunk_size=5)
    assert chunked == pytest.approx(terms, rel=1e-13, abs=0)


def test_oracle_gradients_and_hessians_match_central_differences():
    """The autograd oracle itself, and R1/R2/R3 built from finite-difference derivatives of the numpy net."""
    X, y = _data(12, 3, seed=13)
    net = _tanh_mlp(seed=14, scale=0.8)
    fx, G, H = _per_sample_oracle(net, X)
    f = _numpy_mlp(net)
    e = 1e-4
    eye = np.eye(3)
    G_fd = np.array([[(f(x + e * eye[k]) - f(x - e * eye[k])) / (2 * e) for k in range(3)] for x in X.numpy()])
    H_fd = np.array(
        [
            [[(f(x + e * (eye[k] + eye[m])) - f(x + e * (eye[k] - eye[m])) - f(x - e * (eye[k] - eye[m])) + f(x - e * (eye[k] + eye[m]))) / (4 * e * e) for m in range(3)] for k in range(3)]
            for x in X.numpy()
        ]
    )
    np.testing.assert_allclose(G, G_fd, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-6)
    fd_terms = _terms_double_sum(fx, G_fd, H_fd, X, y, "logistic", 1.0, 1.0)
    terms = taylor_terms(net, X, y, 1.0, 1.0)
    for k in ("R1", "R2", "R3"):
        assert terms[k] == pytest.approx(fd_terms[k], rel=1e-5), k


def test_hutchinson_within_4_stderr_of_exact_trace():
    X, y = _data(40, 4, seed=15, shift=(0.5, -0.3, 0.2, 0.0))
    net = _tanh_mlp(d=4, hidden=16, seed=16, scale=0.8)
    exact = taylor_terms(net, X, y, 1.0, 1.0)
    hutch = taylor_terms(net, X, y, 1.0, 1.0, trace="hutchinson", n_probes=64, generator=torch.Generator().manual_seed(0))
    assert set(hutch) == {"standard", "R1", "R2", "R3", "R3_stderr"}
    for k in ("standard", "R1", "R2"):
        assert hutch[k] == exact[k]
    assert 0 < hutch["R3_stderr"] < 0.5 * abs(exact["R3"])
    assert hutch["R3"] != exact["R3"]  # it is an estimate ...
    assert abs(hutch["R3"] - exact["R3"]) < 4 * hutch["R3_stderr"]  # ... unbiased
    again = taylor_terms(net, X, y, 1.0, 1.0, trace="hutchinson", n_probes=64, generator=torch.Generator().manual_seed(0))
    assert again == hutch


def test_hutchinson_on_a_linear_model_is_exactly_zero():
    X, y = _data(20, 3, seed=17)
    out = taylor_terms(_Linear([1.0, 2.0, 3.0], 0.0), X, y, 1.0, 1.0, trace="hutchinson", n_probes=8, generator=torch.Generator().manual_seed(1))
    assert out["R3"] == 0.0 and out["R3_stderr"] == 0.0


def test_float64_in_float64_computation_float32_close_but_different():
    X, y = _data(12, 3, seed=18)
    net = _tanh_mlp(seed=19, scale=0.8)
    fx, G, H = _per_sample_oracle(net, X)
    oracle = _terms_double_sum(fx, G, H, X, y, "logistic", 1.0, 1.0)
    t64 = taylor_terms(net, X, y, 1.0, 1.0)
    t32 = taylor_terms(copy.deepcopy(net).float(), X.float(), y.float(), 1.0, 1.0)
    for k in ("R1", "R2", "R3"):
        assert abs(t64[k] - oracle[k]) <= 1e-12 * abs(oracle[k])
        assert t32[k] == pytest.approx(t64[k], rel=1e-4)
    assert any(t32[k] != t64[k] for k in t64)
    assert max(abs(t32[k] - oracle[k]) / abs(oracle[k]) for k in ("R1", "R2", "R3")) > 1e-12


def test_taylor_terms_restores_model_mode():
    X, y = _data(6, 3, seed=20)
    net = _tanh_mlp(seed=21).train()
    taylor_terms(net, X, y, 1.0, 1.0)
    mixup_loss_exact(net, X, y, 1.0, 1.0)
    assert net.training
    net.eval()
    taylor_terms(net, X, y, 1.0, 1.0)
    assert not net.training


# --- convergence orders -----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["logistic", "squared", "poisson"])
def test_pointwise_second_order_remainder_shrinks_like_t_cubed(loss):
    X, y = _data(12, 3, seed=22)
    yl = _labels(loss, y)
    net = _tanh_mlp(seed=23, scale=0.8)
    lf = get_loss(loss)
    f1 = lambda x: net(x.unsqueeze(0)).reshape(())
    ts = np.logspace(-3, -1, 9)
    for i, j in [(0, 5), (3, 7), (11, 2)]:
        xi, r = X[i], X[j]
        dx = r - xi
        g = lambda t: float(lf(f1(xi + t * dx).detach(), yl[i]))
        fi = f1(xi).detach()
        grad_f, hess_f = jacobian(f1, xi), hessian(f1, xi)
        resid = float(lf.h1(fi) - yl[i])
        d1 = resid * float(grad_f @ dx)  # Lemma 3.1's g'(0)
        d2 = float(lf.h2(fi)) * float(grad_f @ dx) ** 2 + resid * float(dx @ hess_f @ dx)  # g''(0)
        g0 = g(0.0)
        rem = np.array([abs(g(t) - (g0 + t * d1 + t * t / 2 * d2)) for t in ts])
        slope = np.polyfit(np.log(ts), np.log(rem), 1)[0]
        assert 2.7 <= slope <= 3.3, (i, j, slope)
        # Without the curvature term R3's ingredient the remainder is only O(t^2): the test can tell.
        d2_no_hess = float(lf.h2(fi)) * float(grad_f @ dx) ** 2
        ts_small = np.logspace(-5, -3, 5)
        rem2 = np.array([abs(g(t) - (g0 + t * d1 + t * t / 2 * d2_no_hess)) for t in ts_small])
        assert 1.8 <= np.polyfit(np.log(ts_small), np.log(rem2), 1)[0] <= 2.2


def test_global_remainder_logistic_regression_matches_its_leading_order():
    """theta -> s theta, b = 0: L_mix - L~_mix = s^4 h''''(0) [m3/6 E(u_i D_ij^3) + m4/24 E(D_ij^4)] + O(s^5),

    with u_i = theta^T x_i, D_ij = u_j - u_i, m_k = E_{D~}[(1 - lam)^k] (the s^3 term cancels by i <-> j antisymmetry).
    The regularizer R1 + R2 is O(s), so remainder / regularizer -> 0 like s^3.
    """
    X, _ = _data(15, 3, seed=24)
    theta = np.array([0.9, -1.3, 0.6])
    alpha, beta = 1.0, 1.0
    u = X.numpy() @ theta
    y = torch.as_tensor((u > np.median(u)).astype(float))  # labels correlated with u: R1 is order s, not s^2
    D = u[None, :] - u[:, None]
    m3, m4 = _tilted_moment(alpha, beta, 3), _tilted_moment(alpha, beta, 4)
    h4 = -0.125  # sigma(1 - sigma)(1 - 6 sigma + 6 sigma^2) at 0
    c4 = h4 * (m3 / 6 * np.mean(u[:, None] * D**3) + m4 / 24 * np.mean(D**4))
    scales = [0.2, 0.1, 0.05, 0.025]
    rel_err, ratios = [], []
    for s in scales:
        model = _Linear(s * theta, 0.0)
        terms = taylor_terms(model, X, y, alpha, beta)
        rem = mixup_loss_exact(model, X, y, alpha, beta, order=64) - taylor_approx(terms)
        rel_err.append(abs(rem / s**4 / c4 - 1))
        ratios.append(abs(rem / (terms["R1"] + terms["R2"] + terms["R3"])))
    # The relative error of the leading term is O(s^2) (the s^5 term cancels too): a factor ~4 per halving.
    assert rel_err[-1] < 0.01 and all(b < a / 3 for a, b in zip(rel_err, rel_err[1:])), rel_err
    assert all(b < a / 6 for a, b in zip(ratios, ratios[1:])), ratios  # ~ s^3: a factor 8 per halving


def test_global_remainder_over_regularizer_vanishes_as_weights_shrink_tanh_mlp():
    X, y = _data(12, 3, seed=1)
    base = _tanh_mlp(seed=0)
    ratios = []
    for s in [0.4, 0.2, 0.1, 0.05, 0.025]:
        net = copy.deepcopy(base)
        with torch.no_grad():
            net[0].weight.mul_(s)
        terms = taylor_terms(net, X, y, 1.0, 1.0)
        rem = mixup_loss_exact(net, X, y, 1.0, 1.0, order=64) - taylor_approx(terms)
        ratios.append(abs(rem / (terms["R1"] + terms["R2"] + terms["R3"])))
    assert ratios[0] > 0.05  # at s = 0.4 the quadratic approximation is visibly off ...
    assert all(b < a for a, b in zip(ratios, ratios[1:])) and ratios[-1] < 1e-3, ratios  # ... and the gap closes


# --- errors -------------------------------------------------------------------------------------------


def test_taylor_errors():
    X, y = _data(6, 3, seed=25)
    net = _tanh_mlp(seed=26)
    with pytest.raises(ValueError, match=r"X must be a 2-D tensor of shape \(n, d\)"):
        taylor_terms(net, X[0], y, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"y must be a tensor of shape \(6,\)"):
        taylor_terms(net, X, y[:5], 1.0, 1.0)
    with pytest.raises(ValueError, match=r"y must be a tensor of shape \(6,\)"):
        mixup_loss_exact(net, X, y.numpy(), 1.0, 1.0)
    with pytest.raises(ValueError, match="X must hold at least one example"):
        standard_loss(net, X[:0], y[:0])
    with pytest.raises(ValueError, match="trace must be 'exact' or 'hutchinson', got 'diag'"):
        taylor_terms(net, X, y, 1.0, 1.0, trace="diag")
    with pytest.raises(ValueError, match="needs an explicit torch.Generator"):
        taylor_terms(net, X, y, 1.0, 1.0, trace="hutchinson")
    with pytest.raises(ValueError, match="needs an explicit torch.Generator"):
        taylor_terms(net, X, y, 1.0, 1.0, trace="hutchinson", generator=np.random.default_rng(0))
    for bad in (1, 0, True, 8.0):
        with pytest.raises(ValueError, match="n_probes must be an integer >= 2"):
            taylor_terms(net, X, y, 1.0, 1.0, trace="hutchinson", n_probes=bad, generator=torch.Generator())
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        taylor_terms(net, X, y, 1.0, 1.0, loss="hinge")
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        taylor_terms(net, X, y, -1.0, 1.0)
    two_out = nn.Linear(3, 2).to(DT)
    with pytest.raises(ValueError, match="the model must map"):
        taylor_terms(two_out, X, y, 1.0, 1.0)
    with pytest.raises(ValueError, match="explicit numpy Generator"):
        mixup_loss_mc(net, X, y, 1.0, 1.0, generator=None)
    for bad in (1, True, 10.0):
        with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
            mixup_loss_mc(net, X, y, 1.0, 1.0, n_samples=bad, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="beta must be > 0 when alpha > 0"):
        mixup_loss_mc(net, X, y, 1.0, 0.0, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="quadrature order must be a positive integer"):
        mixup_loss_exact(net, X, y, 1.0, 1.0, order=0)

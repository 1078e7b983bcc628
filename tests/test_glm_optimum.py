"""theory/glm_optimum.py (exact mixup objective and optimum of a GLM, the gradients of Lemma 3.1's terms) in float64.

Oracles written here: ``taylor.mixup_loss_exact`` (the model-based all-pairs quadrature of the Lemma 3.1 chapter);
an explicit all-pairs torch expression differentiated by ``torch.autograd.functional``; least squares by
``numpy.linalg.lstsq``; Beta moments by scipy quadrature; third derivatives of a scalar function of ``t`` by
nested autograd; central finite differences of ``generalization.glm_R1`` / ``glm_R2`` (independent closed forms);
the minimiser of ``L_std + eps (R1 + R2)`` found by Newton with autograd Hessians.
"""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from mixup_repro.data.synthetic import low_rank_glm_data
from mixup_repro.models import LogisticRegression
from mixup_repro.taylor import mixup_loss_exact
from mixup_repro.theory import generalization as gen
from mixup_repro.theory import glm_optimum as go

DT = torch.float64


def _data(loss, n=14, d=4, rank=3, seed=0, signal=None):
    sig = {"logistic": 1.5, "poisson": 0.5, "squared": 1.0}[loss] if signal is None else signal
    return low_rank_glm_data(n, d, rank, loss, signal=sig, n_test=200, seed=seed)


def _linear(theta):
    m = LogisticRegression(theta.shape[0], bias=False).to(DT)
    with torch.no_grad():
        m.linear.weight[0] = theta
    return m


def _A(loss, u):
    return {"logistic": lambda v: torch.logaddexp(v, torch.zeros_like(v)), "poisson": torch.exp,
            "squared": lambda v: v * v / 2}[loss](u)


def _torch_mixup(theta, X, y, loss, lam, w):
    """Eq. (1) written out: every pair (i, j), every node, mixed inputs and labels."""
    total = 0.0
    n = X.shape[0]
    for q in range(len(lam)):
        xt = lam[q] * X[:, None, :] + (1 - lam[q]) * X[None, :, :]
        yt = lam[q] * y[:, None] + (1 - lam[q]) * y[None, :]
        eta = xt @ theta
        total = total + w[q] * (_A(loss, eta) - yt * eta).sum()
    return total / n**2


@pytest.mark.parametrize("loss", ["logistic", "poisson", "squared"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5)])
def test_objective_matches_the_model_based_quadrature_and_the_tilted_form(loss, alpha, beta):
    ds = _data(loss)
    theta = 0.8 * gen.fit_glm(ds.X, ds.y, loss).theta + 0.05
    mixed = go.mixup_objective(theta, ds.X, ds.y, alpha, beta, loss, order=32)
    tilted = go.mixup_objective(theta, ds.X, ds.y, alpha, beta, loss, order=32, form="tilted")
    assert mixed.value == pytest.approx(mixup_loss_exact(_linear(theta), ds.X, ds.y, alpha, beta, loss, order=32), rel=1e-13)
    # Lemma 3.1's exact identity: mixed labels under Beta(alpha, beta) = unmixed labels under D~_lam
    assert tilted.value == pytest.approx(mixed.value, rel=1e-12)
    torch.testing.assert_close(tilted.grad, mixed.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(tilted.hess, mixed.hess, rtol=1e-10, atol=1e-12)
    chunked = go.mixup_objective(theta, ds.X, ds.y, alpha, beta, loss, order=32, max_points=100)
    assert chunked.value == pytest.approx(mixed.value, rel=1e-13)
    torch.testing.assert_close(chunked.hess, mixed.hess, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["logistic", "poisson", "squared"])
def test_gradient_and_hessian_match_autograd(loss):
    from mixup_repro.mixing import beta_quadrature

    ds = _data(loss, n=9)
    theta = 0.7 * gen.fit_glm(ds.X, ds.y, loss).theta - 0.1
    nodes, weights = beta_quadrature(0.5, 2.0, 12)
    lam, w = torch.as_tensor(nodes, dtype=DT), torch.as_tensor(weights, dtype=DT)
    f = lambda t: _torch_mixup(t, ds.X, ds.y, loss, lam, w)  # noqa: E731
    ours = go.mixup_objective(theta, ds.X, ds.y, 0.5, 2.0, loss, order=12)
    assert ours.value == pytest.approx(float(f(theta)), rel=1e-13)
    torch.testing.assert_close(ours.grad, torch.autograd.functional.jacobian(f, theta), rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(ours.hess, torch.autograd.functional.hessian(f, theta), rtol=1e-11, atol=1e-13)


def test_alpha_zero_is_the_standard_loss_and_its_optimum_is_the_erm_fit():
    ds = _data("logistic", n=30, d=5, rank=5)
    theta = torch.linspace(-0.5, 0.5, 5, dtype=DT)
    obj = go.mixup_objective(theta, ds.X, ds.y, 0.0, 0.0, "logistic")
    eta = ds.X @ theta
    assert obj.value == pytest.approx(float((torch.logaddexp(eta, torch.zeros_like(eta)) - ds.y * eta).mean()), rel=1e-14)
    opt = go.mixup_optimum(ds.X, ds.y, 0.0, 0.0, "logistic")
    torch.testing.assert_close(opt.theta, gen.fit_glm(ds.X, ds.y, "logistic", tol=1e-12).theta, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("alpha, beta", [(0.2, 0.2), (1.0, 1.0), (5.0, 0.5), (2.0, 3.0), (8.0, 8.0)])
def test_squared_loss_mixup_optimum_is_the_least_squares_fit(alpha, beta):
    # Centred X: L_mix = E_Beta[lam^2 + (1 - lam)^2] L_std exactly, so the minimisers coincide for every (alpha, beta).
    ds = low_rank_glm_data(40, 6, 4, "squared", signal=1.3, n_test=10, seed=3)
    X, y = ds.X.numpy(), ds.y.numpy()
    lstsq = np.linalg.lstsq(X, y, rcond=None)[0]  # minimum-norm least squares (X has rank 4 in R^6)
    opt = go.mixup_optimum(ds.X, ds.y, alpha, beta, "squared", order=8)  # exact: degree-2 integrand in lam
    assert float(np.abs(opt.theta.numpy() - lstsq).max()) < 1e-10
    c = 1 - 2 * alpha * beta / ((alpha + beta) * (alpha + beta + 1))  # E[lam^2 + (1 - lam)^2], Beta moments
    rng = np.random.default_rng(0)
    offsets = []
    for _ in range(4):
        th = torch.as_tensor(rng.standard_normal(6), dtype=DT)
        std = float((0.5 * (ds.X @ th) ** 2 - ds.y * (ds.X @ th)).mean())
        offsets.append(go.mixup_objective(th, ds.X, ds.y, alpha, beta, "squared", order=8).value - c * std)
    assert max(map(abs, offsets)) < 1e-10  # a positive multiple of L_std, with no constant (the y^2/2 term is dropped)


def test_squared_loss_on_uncentred_inputs_does_move_the_optimum():
    ds = low_rank_glm_data(40, 6, 4, "squared", signal=1.3, n_test=10, seed=3)
    # a shift inside the span of the data (a shift outside it acts as an intercept, which fits the mean point)
    X = ds.X + ds.U[:, 0]
    opt = go.mixup_optimum(X, ds.y, 1.0, 1.0, "squared", order=8)
    lstsq = torch.linalg.lstsq(X, ds.y[:, None]).solution[:, 0]
    assert float((opt.theta - lstsq).abs().max()) > 1e-3


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5), (2.0, 3.0)])
def test_tilted_moment_matches_lambda_moments_and_quadrature(alpha, beta):
    from mixup_repro.mixing import lambda_moments

    m1, m2 = lambda_moments(alpha, beta)
    assert go.tilted_moment(alpha, beta, 1) == pytest.approx(m1, rel=1e-13)
    assert go.tilted_moment(alpha, beta, 2) == pytest.approx(m2, rel=1e-13)
    s = alpha + beta
    for k in (0, 3, 4):
        # each Beta(a + 1, b) component by quadrature with its algebraic endpoint weight t^a (1 - t)^(b - 1)
        def comp(a, b):
            val = integrate.quad(lambda t: (1 - t) ** k, 0, 1, weight="alg", wvar=(a, b - 1), epsabs=0, epsrel=1e-13)[0]
            return val / special.beta(a + 1, b)

        oracle = (alpha * comp(alpha, beta) + beta * comp(beta, alpha)) / s
        assert go.tilted_moment(alpha, beta, k) == pytest.approx(oracle, rel=1e-10)
    assert go.tilted_moment(0.0, 0.0, 3) == 0.0 and go.tilted_moment(0.0, 0.0, 0) == 1.0


def _central(f, theta, h=1e-5):
    out = []
    for k in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[k] = h
        out.append((f(theta + e) - f(theta - e)) / (2 * h))
    return torch.tensor(out, dtype=DT)


@pytest.mark.parametrize("loss", ["logistic", "poisson", "squared"])
def test_gradients_of_R1_R2_and_the_cubic_term_match_finite_differences(loss):
    ds = _data(loss, n=25, d=5, rank=3, seed=2)
    theta = gen.fit_glm(ds.X, ds.y, loss).theta + 0.1 * torch.arange(5, dtype=DT) / 5
    g1 = go.glm_R1_grad(theta, ds.X, ds.y, 0.7, 1.3, loss)
    g2 = go.glm_R2_grad(theta, ds.X, 0.7, 1.3, loss)
    g3 = go.glm_cubic_grad(theta, ds.X, 0.7, 1.3, loss)
    torch.testing.assert_close(g1, _central(lambda t: gen.glm_R1(t, ds.X, ds.y, 0.7, 1.3, loss), theta), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(g2, _central(lambda t: gen.glm_R2(t, ds.X, 0.7, 1.3, loss), theta), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(g3, _central(lambda t: go.glm_cubic(t, ds.X, 0.7, 1.3, loss), theta), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss", ["logistic", "poisson"])
def test_cubic_term_is_the_third_order_term_of_the_expansion(loss):
    # g(t) = mean_{i,r} A(eta_i + t (eta_r - eta_i)): the cubic term is E[t^3] / 6 * g'''(0) (nested autograd in t)
    ds = _data(loss, n=12, d=4, rank=3, seed=4)
    theta = gen.fit_glm(ds.X, ds.y, loss).theta
    eta = ds.X @ theta
    t = torch.zeros((), dtype=DT, requires_grad=True)
    g = _A(loss, eta[:, None] + t * (eta[None, :] - eta[:, None])).mean()
    d1 = torch.autograd.grad(g, t, create_graph=True)[0]
    d2 = torch.autograd.grad(d1, t, create_graph=True)[0]
    d3 = torch.autograd.grad(d2, t)[0]
    m3 = go.tilted_moment(1.0, 1.0, 3)
    assert go.glm_cubic(theta, ds.X, 1.0, 1.0, loss) == pytest.approx(m3 / 6 * float(d3), rel=1e-12)


def test_at_the_least_squares_fit_the_gradients_of_R1_and_R2_cancel():
    ds = low_rank_glm_data(50, 6, 4, "squared", signal=1.3, n_test=10, seed=5)
    ols = gen.fit_glm(ds.X, ds.y, "squared", tol=1e-13).theta
    for alpha, beta in ((1.0, 1.0), (0.3, 2.0)):
        g1 = go.glm_R1_grad(ols, ds.X, ds.y, alpha, beta, "squared")
        g2 = go.glm_R2_grad(ols, ds.X, alpha, beta, "squared")
        assert float(g2.norm()) > 0.01  # each is of order one...
        assert float((g1 + g2).norm()) < 1e-12 * float(g2.norm()) + 1e-14  # ...and they cancel exactly
        assert float(go.taylor_shift(ols, ds.X, ds.y, alpha, beta, "squared").norm()) < 1e-12


@pytest.mark.parametrize("loss", ["logistic", "poisson"])
def test_taylor_shift_is_the_first_order_move_of_the_perturbed_optimum(loss):
    # argmin L_std + eps (R1 + R2) = theta_E + eps delta + O(eps^2): halving eps quarters the error.
    ds = _data(loss, n=30, d=4, rank=4, seed=6)
    X, y = ds.X, ds.y
    erm = gen.fit_glm(X, y, loss, tol=1e-13).theta
    delta = go.taylor_shift(erm, X, y, 1.0, 1.0, loss, order=2)
    m1, m2 = go.tilted_moment(1.0, 1.0, 1), go.tilted_moment(1.0, 1.0, 2)

    def objective(t, eps):
        eta = X @ t
        std = (_A(loss, eta) - y * eta).mean()
        a1 = {"logistic": torch.sigmoid, "poisson": torch.exp}[loss](eta)
        a2 = a1 * (1 - a1) if loss == "logistic" else a1
        r1 = -m1 * ((a1 - y) * eta).mean()
        r2 = m2 / 2 * (a2 * ((eta**2).mean() + eta**2)).mean()
        return std + eps * (r1 + r2)

    def argmin(eps):
        t = erm.clone()
        for _ in range(30):
            g = torch.autograd.functional.jacobian(lambda s: objective(s, eps), t)
            H = torch.autograd.functional.hessian(lambda s: objective(s, eps), t)
            t = t - torch.linalg.solve(H, g)
        return t

    errs = [float((argmin(e) - erm - e * delta).norm()) for e in (0.02, 0.01)]
    assert errs[0] / errs[1] == pytest.approx(4.0, rel=0.1)
    assert errs[1] < 0.05 * 0.01 * float(delta.norm())  # the remainder is small next to the first-order move


def test_compare_optima_records_consistent_numbers():
    ds = low_rank_glm_data(24, 5, 3, "logistic", signal=1.5, n_test=300, seed=7)
    c = go.compare_optima(ds, 1.0, order=16)
    opt = go.mixup_optimum(ds.X, ds.y, 1.0, 1.0, "logistic", order=16)
    torch.testing.assert_close(c.theta_mix, opt.theta, rtol=1e-9, atol=1e-11)
    assert c.quad_pop_mix == pytest.approx(float(opt.theta @ ds.Sigma @ opt.theta), rel=1e-12)
    assert c.dq == pytest.approx(c.quad_pop_mix - c.quad_pop_erm)
    exact = go.mixup_objective(c.theta_erm, ds.X, ds.y, 1.0, 1.0, "logistic", order=16, hessian=False).grad
    assert c.grad_exact == pytest.approx(float(exact.norm()), rel=1e-12)
    assert c.grad_R1R2 <= c.grad_R1 + c.grad_R2 + 1e-15
    assert -1 <= c.cos_move2 <= 1 and -1 <= c.cos_exact_order3 <= 1
    assert c.gap_erm[0] == pytest.approx(go.glm_gap(c.theta_erm, ds)[0])


def test_glm_gap_is_zero_centred_for_the_true_parameter():
    ds = low_rank_glm_data(50, 5, 3, "poisson", signal=0.5, n_test=400, seed=8)
    raw, centred = go.glm_gap(ds.theta_star, ds)
    assert centred == 0.0
    eta_t, eta = ds.X_test @ ds.theta_star, ds.X @ ds.theta_star
    assert raw == pytest.approx(float((eta_t.exp() - ds.y_test * eta_t).mean() - (eta.exp() - ds.y * eta).mean()), rel=1e-12)


def test_bad_input_is_refused():
    ds = _data("logistic")
    theta = torch.zeros(4, dtype=DT)
    with pytest.raises(ValueError, match=r"form must be 'mixed' \(Eq. \(1\)\) or 'tilted'"):
        go.mixup_objective(theta, ds.X, ds.y, 1.0, 1.0, form="other")
    with pytest.raises(ValueError, match=r"y must be a tensor of shape \(14,\)"):
        go.mixup_objective(theta, ds.X, ds.y[:3], 1.0, 1.0)
    with pytest.raises(ValueError, match=r"theta must have shape \(4,\)"):
        go.mixup_objective(torch.zeros(3, dtype=DT), ds.X, ds.y, 1.0, 1.0)
    with pytest.raises(RuntimeError, match=r"Newton did not reach gradient norm 1e-11 in 1 iterations"):
        go.mixup_optimum(ds.X, ds.y, 1.0, 1.0, "logistic", max_iter=1)
    with pytest.raises(ValueError, match=r"k must be an integer >= 0"):
        go.tilted_moment(1.0, 1.0, -1)
    with pytest.raises(ValueError, match=r"order must be 2 \(R1 \+ R2\) or 3"):
        go.taylor_shift(theta, ds.X, ds.y, 1.0, 1.0, order=4)
    with pytest.raises(ValueError, match=r"alpha must be > 0"):
        go.compare_optima(ds, 0.0)
    with pytest.raises(ValueError, match=r"need centred inputs"):
        go.glm_R1_grad(theta, ds.X + 1.0, ds.y, 1.0, 1.0)


def test_compare_optima_for_the_squared_loss_reports_no_move_and_no_direction():
    ds = low_rank_glm_data(40, 6, 4, "squared", signal=1.3, n_test=100, seed=9)
    c = go.compare_optima(ds, 1.0, order=8)
    assert float((c.theta_mix - c.theta_erm).abs().max()) < 1e-10 and abs(c.dq) < 1e-10
    assert c.grad_R1R2 < 1e-12 * c.grad_R2 and c.grad_cubic == 0.0
    assert math.isnan(c.cos_move2) and math.isnan(c.cos_exact_order2)
    assert c.gap_mix[0] == pytest.approx(c.gap_erm[0], abs=1e-10)


@pytest.mark.parametrize("order", [6, 7])
def test_symmetric_beta_folds_its_mirrored_nodes_without_changing_anything(order):
    # alpha = beta: the pair (i, j) at lam is the pair (j, i) at 1 - lam; odd orders keep the middle node lam = 1/2
    from mixup_repro.mixing import beta_quadrature

    ds = _data("logistic", n=8)
    theta = 0.6 * gen.fit_glm(ds.X, ds.y, "logistic").theta + 0.1
    nodes, weights = beta_quadrature(2.0, 2.0, order)  # all the nodes, unfolded
    lam, w = torch.as_tensor(nodes, dtype=DT), torch.as_tensor(weights, dtype=DT)
    f = lambda t: _torch_mixup(t, ds.X, ds.y, "logistic", lam, w)  # noqa: E731
    ours = go.mixup_objective(theta, ds.X, ds.y, 2.0, 2.0, "logistic", order=order)
    assert ours.value == pytest.approx(float(f(theta)), rel=1e-13)
    torch.testing.assert_close(ours.grad, torch.autograd.functional.jacobian(f, theta), rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(ours.hess, torch.autograd.functional.hessian(f, theta), rtol=1e-11, atol=1e-13)

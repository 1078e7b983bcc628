"""theory/generalization.py (GLM regularizer, the lambda constants, GLM fits) against float64 oracles.

Oracles written here: tilted-distribution moments by scipy quadrature of the Beta mixture density; R2 with the
partner expectation as an explicit double sum; Lemma 3.1's general code (``taylor_terms``); least-squares and
ridge normal equations; the closed-form optimum of the exact mixup loss for the squared loss.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from _centred_data import centred
from mixup_repro.data.synthetic import _responses
from mixup_repro.theory import generalization as gen
from mixup_repro.models import LogisticRegression
from mixup_repro.taylor import taylor_terms

DT = torch.float64


def _tilted_moment(alpha, beta, g):
    """E_{D~}[g(lam)] by quadrature of alpha/(a+b) Beta(a+1, b) + beta/(a+b) Beta(b+1, a) (scipy pdfs)."""
    s = alpha + beta
    pdf = lambda t: alpha / s * stats.beta.pdf(t, alpha + 1, beta) + beta / s * stats.beta.pdf(t, beta + 1, alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(lambda t: g(t) * pdf(t), 0, 1, epsabs=0, epsrel=1e-12, limit=500)[0]


def _linear(theta):
    m = LogisticRegression(theta.shape[0], bias=False).to(DT)
    with torch.no_grad():
        m.linear.weight[0] = theta
    return m


# --- GLM regularizer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["logistic", "poisson", "squared"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5)])
def test_glm_R2_matches_double_sum_and_taylor_terms(loss, alpha, beta):
    X, g = centred(12, 4, 0)
    theta = torch.randn(4, generator=g, dtype=DT) * 0.7
    y = (torch.rand(12, generator=g, dtype=DT) < 0.5).to(DT) if loss != "poisson" else torch.poisson(torch.ones(12, dtype=DT))
    m2 = _tilted_moment(alpha, beta, lambda t: (1 - t) ** 2)
    h2 = {"logistic": lambda u: special.expit(u) * (1 - special.expit(u)), "poisson": np.exp,
          "squared": lambda u: np.ones_like(u)}[loss]
    Xn, th = X.numpy(), theta.numpy()
    oracle = 0.0
    for i in range(12):
        M = sum(np.outer(Xn[j] - Xn[i], Xn[j] - Xn[i]) for j in range(12)) / 12  # E_r[(r - x_i)(r - x_i)^T]
        oracle += h2(Xn[i] @ th) * th @ M @ th
    oracle *= m2 / (2 * 12)
    closed = gen.glm_R2(theta, X, alpha, beta, loss)
    assert closed == pytest.approx(oracle, rel=1e-10)
    assert closed == pytest.approx(taylor_terms(_linear(theta), X, y, alpha, beta, loss)["R2"], rel=1e-12)


@pytest.mark.parametrize("loss", ["logistic", "poisson"])
def test_glm_R1_is_minus_m1_theta_dot_gradient_and_vanishes_at_the_mle(loss):
    X, g = centred(40, 3, 1)
    theta = torch.randn(3, generator=g, dtype=DT) * 0.5
    y = _responses((X @ theta).numpy(), loss, np.random.default_rng(0))
    y = torch.as_tensor(y, dtype=DT)
    m1 = _tilted_moment(1.0, 1.0, lambda t: 1 - t)
    t = theta.clone().requires_grad_(True)
    eta = X @ t
    std = (torch.logaddexp(eta, torch.zeros_like(eta)) if loss == "logistic" else torch.exp(eta)) - y * eta
    (grad,) = torch.autograd.grad(std.mean(), t)
    r1 = gen.glm_R1(theta, X, y, 1.0, 1.0, loss)
    assert r1 == pytest.approx(float(-m1 * theta @ grad), rel=1e-10)
    assert r1 == pytest.approx(taylor_terms(_linear(theta), X, y, 1.0, 1.0, loss)["R1"], rel=1e-10)
    fit = gen.fit_glm(X, y, loss)
    assert fit.grad_norm < 1e-10
    # |R1| = E[1 - lam] |theta . grad L_std| <= ||theta|| * gradient norm / 3
    assert abs(gen.glm_R1(fit.theta, X, y, 1.0, 1.0, loss)) <= float(fit.theta.norm()) * fit.grad_norm / 3 + 1e-15


def test_squared_loss_R2_is_twice_the_covariance_penalty():
    # A'' = 1: mean_i x_i x_i^T = Sigma, so the x_i x_i^T half of R2 equals the Sigma half.
    X, g = centred(30, 5, 2)
    theta = torch.randn(5, generator=g, dtype=DT)
    assert gen.glm_R2(theta, X, 1.0, 1.0, "squared") == pytest.approx(
        2 * gen.covariance_penalty(theta, X, 1.0, 1.0, "squared"), rel=1e-12)
    q = float(theta @ (X.T @ X / 30) @ theta)
    assert gen.covariance_penalty(theta, X, 1.0, 1.0, "squared") == pytest.approx(q / 12, rel=1e-12)  # E(1-lam)^2 = 1/6
    assert gen.covariance_penalty(theta, X, 2.0, 2.0, "squared", constant="E(1-lam)^2/lam^2") == pytest.approx(3 * q / 2)
    assert math.isinf(gen.covariance_penalty(theta, X, 1.0, 1.0, "squared", constant="E(1-lam)^2/lam^2"))


def test_glm_regularizer_refuses_uncentred_data_and_bad_arguments():
    X, g = centred(10, 3, 3)
    theta = torch.ones(3, dtype=DT)
    with pytest.raises(ValueError, match=r"need centred inputs .* subtract X.mean\(dim=0\) first"):
        gen.glm_R2(theta, X + 0.1, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\)"):
        gen.glm_R1(torch.ones(4, dtype=DT), X, torch.zeros(10, dtype=DT), 1.0, 1.0)
    with pytest.raises(ValueError, match=r"constant must be 'E\(1-lam\)\^2' or"):
        gen.covariance_penalty(theta, X, 1.0, 1.0, constant="other")


# --- the constant E[(1 - lam)^2 / lam^2] ----------------------------------------------------------------


@pytest.mark.parametrize("alpha, beta", [(2.0, 2.0), (4.0, 4.0), (3.0, 1.5), (1.2, 7.0)])
def test_inverse_lambda_moment_matches_quadrature(alpha, beta):
    oracle = _tilted_moment(alpha, beta, lambda t: (1 - t) ** 2 / t**2)
    assert gen.inverse_lambda_moment(alpha, beta) == pytest.approx(oracle, rel=1e-8)
    # The neglected mass below eps is of order eps^(min(alpha, beta) - 1).
    eps = 1e-12
    tol = 10 * eps ** (min(alpha, beta) - 1) + 1e-8
    assert gen.truncated_inverse_lambda_moment(alpha, beta, eps) == pytest.approx(oracle, rel=tol)


def test_inverse_lambda_moment_known_values_and_divergence():
    assert gen.inverse_lambda_moment(2.0, 2.0) == pytest.approx(3.0, rel=1e-14)
    assert gen.inverse_lambda_moment(4.0, 4.0) == pytest.approx(5 / 3, rel=1e-14)
    for a, b in [(1.0, 1.0), (0.2, 0.2), (5.0, 0.5), (0.9, 3.0)]:
        assert math.isinf(gen.inverse_lambda_moment(a, b))
    assert gen.inverse_lambda_moment(0.0, 0.0) == 0.0
    # alpha = beta = 1: D~ = Beta(2, 1), density 2t, so the truncated moment is 2 int_eps^1 (1 - t)^2 / t dt.
    for eps in (1e-2, 1e-6, 1e-10):
        exact = 2 * (-math.log(eps) - 1.5 + 2 * eps - eps**2 / 2)
        assert gen.truncated_inverse_lambda_moment(1.0, 1.0, eps) == pytest.approx(exact, rel=1e-8)
    small = [gen.truncated_inverse_lambda_moment(0.2, 0.2, e) for e in (1e-3, 1e-6, 1e-9)]
    assert small[1] / small[0] > 100 and small[2] / small[1] > 100  # grows like eps^(-0.8)
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 1\)"):
        gen.truncated_inverse_lambda_moment(1.0, 1.0, 0.0)


# --- GLM fits --------------------------------------------------------------------------------------------


def test_fit_glm_squared_loss_solves_the_ridge_normal_equations():
    X, g = centred(50, 4, 4)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=DT) + torch.randn(50, generator=g, dtype=DT)
    for ridge in (0.0, 0.3):
        fit = gen.fit_glm(X, y, "squared", ridge=ridge)
        oracle = np.linalg.solve(X.numpy().T @ X.numpy() / 50 + ridge * np.eye(4), X.numpy().T @ y.numpy() / 50)
        np.testing.assert_allclose(fit.theta.numpy(), oracle, rtol=1e-10, atol=1e-12)


def test_fit_glm_refuses_bad_arguments():
    X, _ = centred(10, 2, 6)
    with pytest.raises(ValueError, match=r"ridge must be >= 0"):
        gen.fit_glm(X, torch.zeros(10, dtype=DT), "logistic", ridge=-1.0)

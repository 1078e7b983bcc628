"""theory/rademacher.py (the class W_gamma, rho, the bound, the ellipsoid's complexity, the direct complexity of
W_gamma, fixed vs resampled samples) against float64 oracles.

Oracles written here: scipy quadrature of the Gaussian curvature and the Lambert-W closed form of the Poisson radius;
a constrained optimiser (SLSQP) for the supremum over the ellipsoid; enumeration of all sign vectors; the Cauchy-Schwarz supremum ``sqrt(q v^T Sigma^+ v)`` with numpy's
pseudo-inverse; brute force over a dense grid of directions in d = 2 with ``scipy.optimize.brentq`` for t(u) and
``scipy.integrate.quad`` for the Gaussian curvature; the chi-square law of ``n tr(Sigma^+ Sigma_n)``.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special, stats

from _centred_data import centred
from mixup_repro.data.synthetic import low_rank_glm_data
from mixup_repro.theory import rademacher as rd

DT = torch.float64


def _signs(seed, k, n):
    # the first draw of direct_rademacher's generator: its sign vectors
    return (torch.randint(0, 2, (k, n), generator=torch.Generator().manual_seed(seed)).to(DT) * 2 - 1).numpy()


def _kappa(q, loss):
    """E[A''(eta)], eta ~ N(0, q), by scipy quadrature."""
    h2 = {"logistic": lambda u: special.expit(u) * special.expit(-u), "poisson": np.exp}[loss]
    return integrate.quad(lambda z: h2(math.sqrt(q) * z) * stats.norm.pdf(z), -np.inf, np.inf, epsabs=1e-15)[0]


@pytest.mark.parametrize("loss, gamma", [("logistic", 0.1), ("logistic", 1.0), ("poisson", 0.3)])
def test_direct_maximisation_equals_the_closed_form_for_the_population_class(loss, gamma):
    ds = low_rank_glm_data(60, 12, 4, loss, n_test=1, seed=0)
    res = rd.direct_rademacher(ds.X, gamma, loss, Sigma=ds.Sigma, expectation="gaussian", q_max=16.0, n_draws=50,
                               restarts=2, steps=60, warm_start=False, generator=torch.Generator().manual_seed(3))
    q_star = rd.q_of_gamma(gamma, loss, q_max=16.0)
    if loss == "poisson":
        assert q_star == pytest.approx(2 * float(special.lambertw(gamma / 2).real), rel=1e-10)  # q e^(q/2) = gamma
    V = _signs(3, 50, 60) @ ds.X.numpy() / 60
    closed = math.sqrt(q_star) * np.sqrt(np.einsum("kp,pq,kq->k", V, np.linalg.pinv(ds.Sigma.numpy()), V)).mean()
    assert res.closed_form.value == pytest.approx(closed, rel=1e-10)
    assert res.lower.value == pytest.approx(closed, rel=1e-10)  # ascent from random starts reaches the supremum
    assert res.max_rel_gap < 1e-10 and res.q_bar == pytest.approx(q_star, rel=1e-10)


def test_direct_maximisation_matches_brute_force_over_directions_in_two_dimensions():
    g = torch.Generator().manual_seed(5)
    R = torch.tensor([[math.cos(0.4), -math.sin(0.4)], [math.sin(0.4), math.cos(0.4)]], dtype=DT)
    Sigma = R @ torch.diag(torch.tensor([2.0, 0.5], dtype=DT)) @ R.T
    X = torch.randn(30, 2, generator=g, dtype=DT) @ torch.linalg.cholesky(Sigma).T
    X = X - X.mean(dim=0)
    angles = np.linspace(0, 2 * np.pi, 20001)[:-1]
    U = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    V = _signs(7, 3, 30) @ X.numpy() / 30
    gamma = 0.4
    # population class: t(u) from brentq on kappa(q) q = gamma (kappa by quad), maximised over the grid of angles
    q_star = optimize.brentq(lambda q: _kappa(q, "logistic") * q - gamma, 1e-9, 50.0, xtol=1e-14, rtol=1e-14)
    quad = np.einsum("kp,pq,kq->k", U, Sigma.numpy(), U)
    brute = (np.sqrt(q_star / quad)[None, :] * (V @ U.T)).max(axis=1).mean()
    res = rd.direct_rademacher(X, gamma, "logistic", Sigma=Sigma, expectation="gaussian", n_draws=3, restarts=3,
                               warm_start=False, generator=torch.Generator().manual_seed(7))
    assert res.lower.value == pytest.approx(brute, rel=1e-7)
    # sample class (the empirical E[A''] and Sigma_n): not an ellipsoid; t(u) from brentq per direction
    Xn = X.numpy()
    Sn = Xn.T @ Xn / 30
    coarse = U[::10]
    qs = []
    for u in coarse:
        s = Xn @ u / math.sqrt(u @ Sn @ u)
        Gu = lambda q: q * np.mean(special.expit(math.sqrt(q) * s) * special.expit(-math.sqrt(q) * s)) - gamma  # noqa: E731
        qs.append(optimize.brentq(Gu, 1e-9, 16.0, xtol=1e-14, rtol=1e-14))
    qs = np.array(qs)
    quad_n = np.einsum("kp,pq,kq->k", coarse, Sn, coarse)
    brute_n = (np.sqrt(qs / quad_n)[None, :] * (V @ coarse.T)).max(axis=1).mean()
    res_n = rd.direct_rademacher(X, gamma, "logistic", expectation="sample", q_max=16.0, n_draws=3, restarts=3,
                                 generator=torch.Generator().manual_seed(7))
    assert res_n.lower.value == pytest.approx(brute_n, rel=2e-5)  # the grid of 2000 angles is within ~1e-6
    assert res_n.lower.value <= res_n.upper.value + 1e-15 and res_n.upper_estimate.value <= res_n.upper.value + 1e-15
    assert qs.min() - 1e-9 <= res_n.q_found[0] and res_n.q_found[1] <= qs.max() * (1 + 1e-6)
    assert res_n.q_hat == pytest.approx(qs.max(), rel=1e-4)  # the ascent on q*(u) finds the grid's largest


def test_admissible_scale_against_closed_forms_and_brentq():
    g = torch.Generator().manual_seed(9)
    X = torch.randn(40, 3, generator=g, dtype=DT)
    X = X - X.mean(dim=0)
    Sigma = X.T @ X / 40
    u = torch.randn(5, 3, generator=g, dtype=DT)
    quad = torch.einsum("kp,pq,kq->k", u, Sigma, u)
    t_sq = rd.admissible_scale(u, 0.7, "squared", Sigma=Sigma)
    torch.testing.assert_close(t_sq, (0.7 / quad).sqrt(), rtol=1e-14, atol=0)
    t_sq_cap = rd.admissible_scale(u, 0.7, "squared", Sigma=Sigma, q_max=0.2)
    torch.testing.assert_close(t_sq_cap, (0.2 / quad).sqrt(), rtol=1e-14, atol=0)
    t_p = rd.admissible_scale(u, 0.5, "poisson", Sigma=Sigma)
    torch.testing.assert_close(t_p, (2 * float(special.lambertw(0.25).real) / quad).sqrt(), rtol=1e-11, atol=0)
    t_s = rd.admissible_scale(u, 0.5, "poisson", Sigma=Sigma, expectation="sample", reference=X, q_max=50.0)
    for k in range(5):
        eta = (X @ u[k]).numpy()
        t = optimize.brentq(lambda t: np.mean(np.exp(t * eta)) * t**2 * float(quad[k]) - 0.5, 1e-9, 50, xtol=1e-15)
        assert float(t_s[k]) == pytest.approx(t, rel=1e-11)


def test_largest_admissible_q_takes_the_last_crossing_of_a_non_monotone_constraint():
    G = lambda q: 1 - torch.cos(q)  # noqa: E731  G <= 1/2 on [0, pi/3] and [5 pi/3, 7 pi/3] within [0, 10]
    q = rd.largest_admissible_q(G, 0.5, 1e-3, 10.0, 1)
    assert float(q[0]) == pytest.approx(7 * math.pi / 3, rel=1e-12)
    assert float(G(q)[0]) <= 0.5
    q_top = rd.largest_admissible_q(G, 0.5, 1e-3, 7.0, 1)  # q_hi = 7 lies in the second admissible piece
    assert float(q_top[0]) == 7.0


def test_q_upper_bound_holds_in_random_directions_and_is_tight_for_small_gamma():
    # w -> A''(sqrt(w)) is convex (the bound's Jensen step): second differences on a fine grid are >= 0
    w = np.linspace(0, 400, 40001)
    f = special.expit(np.sqrt(w)) * special.expit(-np.sqrt(w))
    assert np.diff(f, 2).min() > -1e-15
    ds = low_rank_glm_data(80, 10, 4, "logistic", n_test=1, seed=11)
    Sn = ds.X.T @ ds.X / 80
    u = torch.randn(3000, 10, generator=torch.Generator().manual_seed(1), dtype=DT) @ ds.U @ ds.U.T
    for gamma in (0.1, 0.3):
        t = rd.admissible_scale(u, gamma, "logistic", Sigma=Sn, expectation="sample", reference=ds.X, q_max=4.0)
        q = t**2 * torch.einsum("kp,pq,kq->k", u, Sn, u)
        bound = rd.q_upper_bound(gamma, "logistic", 4.0)
        assert float(q.max()) <= bound * (1 + 1e-12)
    assert rd.q_upper_bound(0.1, "logistic", 16.0) / rd.q_of_gamma(0.1) < 1.02
    assert rd.q_upper_bound(0.3, "logistic", 16.0) == 16.0  # vacuous: q A''(sqrt q) dips below 0.3 again before 16
    assert rd.q_upper_bound(0.3, "poisson", 16.0) == pytest.approx(0.3, rel=1e-12)  # centred: E e^s >= 1
    assert rd.q_upper_bound(0.3, "squared", 16.0) == 0.3


def test_resampled_samples_follow_the_chi_square_law_of_the_jensen_step():
    n, d, rank = 50, 10, 3
    gamma = float(rd.gamma_of(4.0, "logistic"))  # q* = q_max = 4: rho's step is exact, bound = sqrt(q_max rank / n)
    res = rd.resampled_rademacher(n, d, rank, [0.05, gamma], "logistic", q_max=4.0, n_samples=300, n_draws=200, seed=0)
    assert res.q_star[1] == pytest.approx(4.0) and res.bound[1] == pytest.approx(math.sqrt(4.0 * rank / n), rel=1e-9)
    assert res.q_star[0] == pytest.approx(rd.q_of_gamma(0.05), rel=1e-12) and res.rad.shape == (2, 300)
    np.testing.assert_allclose(res.rad[0] / res.rad[1], math.sqrt(res.q_star[0] / 4.0), rtol=1e-12)  # shared signs
    # n tr(Sigma^+ Sigma_n) ~ chi2 with rank (n - 1) degrees of freedom for a centred Gaussian sample
    df = rank * (n - 1)
    assert res.trace_ratio.mean() == pytest.approx(df / (rank * n), abs=4 * math.sqrt(2 * df) / (rank * n) / math.sqrt(300))
    assert stats.kstest(res.trace_ratio * rank * n, stats.chi2(df).cdf).pvalue > 1e-3
    p = stats.chi2.sf(rank * n, df)
    assert res.p_trace_above_1 == pytest.approx(p)
    assert abs(np.mean(res.trace_ratio > 1) - p) < 4 * math.sqrt(p * (1 - p) / 300)
    # E_S Rad(S) <= sqrt(q* E tr / n) (Jensen over sigma and S); single samples may exceed sqrt(q* rank / n)
    assert res.rad[1].mean() <= math.sqrt(4.0 * df / n**2) + 3 * res.rad[1].std(ddof=1) / math.sqrt(300)
    ds = low_rank_glm_data(n, d, rank, "logistic", n_test=1, seed=rd.sample_seeds(0, 300)[0])
    assert res.seeds[0] == rd.sample_seeds(0, 300)[0]
    tr = float(np.trace(np.linalg.pinv(ds.Sigma.numpy()) @ ds.X.numpy().T @ ds.X.numpy() / n)) / rank
    assert res.trace_ratio[0] == pytest.approx(tr, rel=1e-10)


def test_bad_input_is_refused():
    ds = low_rank_glm_data(20, 4, 2, n_test=1, seed=0)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"pass a finite q_max"):
        rd.direct_rademacher(ds.X, 0.3, "logistic", expectation="sample", generator=g)
    with pytest.raises(ValueError, match=r"expectation must be 'gaussian' \(population\) or 'sample'"):
        rd.direct_rademacher(ds.X, 0.3, expectation="empirical", generator=g)
    with pytest.raises(ValueError, match=r"gamma must be > 0"):
        rd.direct_rademacher(ds.X, 0.0, generator=g)
    with pytest.raises(ValueError, match=r"the sign vectors need an explicit torch.Generator"):
        rd.direct_rademacher(ds.X, 0.3, Sigma=ds.Sigma, generator=None)
    with pytest.raises(ValueError, match=r"v leaves the range of Sigma"):
        rd.direct_rademacher(ds.X, 0.3, Sigma=torch.diag(torch.tensor([1.0, 0, 0, 0], dtype=DT)), generator=g)
    with pytest.raises(ValueError, match=r"restarts must be a positive integer"):
        rd.direct_rademacher(ds.X, 0.3, Sigma=ds.Sigma, restarts=0, generator=g)
    with pytest.raises(ValueError, match=r"W_gamma is unbounded for this loss; pass a finite q_max"):
        rd.admissible_scale(ds.U[:, 0], 1e9, "logistic", Sigma=ds.Sigma)
    with pytest.raises(ValueError, match=r"every direction needs u\^T Sigma u > 0"):
        rd.admissible_scale(torch.tensor([[0.0, 0.0, 0.0, 0.0]], dtype=DT), 1.0, "logistic", Sigma=ds.Sigma)
    with pytest.raises(ValueError, match=r"needs a reference sample"):
        rd.admissible_scale(ds.U[:, 0], 1.0, "logistic", Sigma=ds.Sigma, expectation="sample", q_max=4.0)
    with pytest.raises(ValueError, match=r"is not admissible for every direction"):
        rd.largest_admissible_q(lambda q: q + 1, 0.5, 1e-3, 1.0, 1)
    with pytest.raises(ValueError, match=r"need 0 < q_lo <= q_hi < inf"):
        rd.largest_admissible_q(lambda q: q, 0.5, 1.0, math.inf, 1)
    with pytest.raises(ValueError, match=r"outside must be 'raise' or 'drop'"):
        rd.ellipsoid_sup(ds.X, ds.Sigma, outside="keep")
    with pytest.raises(ValueError, match=r"n_draws must be an integer >= 2"):
        rd.ellipsoid_rademacher(ds.X, 1.0, Sigma=ds.Sigma, n_draws=1, generator=g)
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 2"):
        rd.resampled_rademacher(20, 4, 2, 0.3, n_samples=1)


# --- W_gamma and rho ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.0, 0.3, 4.0, 50.0])
def test_gaussian_curvature_matches_quadrature(q):
    oracle = integrate.quad(lambda z: special.expit(math.sqrt(q) * z) * special.expit(-math.sqrt(q) * z)
                            * stats.norm.pdf(z), -np.inf, np.inf, epsabs=1e-14)[0]
    assert float(rd.gaussian_curvature(q, "logistic")) == pytest.approx(oracle, rel=1e-8)
    assert float(rd.gaussian_curvature(q, "poisson")) == pytest.approx(math.exp(q / 2), rel=1e-10)


def test_q_of_gamma_inverts_gamma_and_respects_q_max():
    for gamma in (1e-3, 0.1, 1.0, 5.0):
        q = rd.q_of_gamma(gamma)
        assert float(rd.gamma_of(q)) == pytest.approx(gamma, rel=1e-9)
    assert rd.q_of_gamma(5.0, q_max=2.0) == 2.0
    with pytest.raises(ValueError, match=r"gamma must be > 0"):
        rd.q_of_gamma(0.0)


def test_estimate_rho_agrees_with_the_gaussian_value():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(5000, 4, generator=g, dtype=DT) @ torch.randn(4, 4, generator=g, dtype=DT)
    exact = rd.gaussian_rho("logistic", 16.0)
    assert exact == pytest.approx(float(rd.gaussian_curvature(16.0)), rel=1e-6)  # kappa decreasing: min at q_max
    assert rd.estimate_rho(X, "logistic", q_max=16.0, n_directions=32, n_scales=24, generator=g) == pytest.approx(exact, rel=0.05)
    assert rd.gaussian_rho("poisson", 4.0) == 0.5  # E[e^eta] >= 1: capped by the definition's rho <= 1/2
    with pytest.raises(ValueError, match=r"needs an explicit torch.Generator"):
        rd.estimate_rho(X, generator=None)


# --- Rademacher complexity ------------------------------------------------------------------------------------


def test_sup_over_the_ellipsoid_matches_a_constrained_optimiser():
    X, g = centred(8, 3, 7)
    Sigma = X.T @ X / 8
    for code in (5, 77, 200):
        sigma = np.array([1.0 if (code >> i) & 1 else -1.0 for i in range(8)])
        v = sigma @ X.numpy() / 8
        res = optimize.minimize(lambda t: -t @ v, np.zeros(3), method="SLSQP",
                                constraints=[{"type": "ineq", "fun": lambda t: 2.0 - t @ Sigma.numpy() @ t}],
                                options={"ftol": 1e-14, "maxiter": 500})
        ours = math.sqrt(2.0) * float(rd.ellipsoid_sup(torch.as_tensor(sigma)[None] @ X / 8, Sigma)[0])
        assert ours == pytest.approx(-res.fun, rel=1e-6)


def test_rademacher_mc_agrees_with_enumeration_and_projection_formula():
    X, _ = centred(12, 5, 8, rank=3)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=12)))
    Xn = X.numpy()
    P = Xn @ np.linalg.pinv(Xn.T @ Xn) @ Xn.T  # projection onto the column space of X
    oracle = math.sqrt(0.5) * np.mean(np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", signs, P, signs), 0) / 12))
    assert rd.ellipsoid_rademacher_exact(X, 0.5) == pytest.approx(oracle, rel=1e-10)
    est = rd.ellipsoid_rademacher(X, 0.5, n_draws=20000, generator=torch.Generator().manual_seed(1))
    assert abs(est.value - oracle) < 4 * est.stderr
    assert est.value <= math.sqrt(0.5 * 3 / 12) + 4 * est.stderr  # Jensen: sqrt(q rank / n)


def test_rademacher_scales_like_sqrt_rank_over_n():
    values, ranks = [], (4, 16, 64)
    for r in ranks:
        ds = low_rank_glm_data(400, 64, r, n_test=1, seed=r)
        est = rd.ellipsoid_rademacher(ds.X, 1.0, Sigma=ds.Sigma, n_draws=4000, generator=torch.Generator().manual_seed(r))
        # E sqrt(v^T Sigma^+ v) ~ E sqrt(chi2_rank / n): sqrt(rank / n) times the Jensen factor of chi2_rank.
        jensen = math.sqrt(2 / r) * math.exp(special.gammaln((r + 1) / 2) - special.gammaln(r / 2))
        assert est.value / math.sqrt(r / 400) == pytest.approx(jensen, rel=0.03)
        values.append(est.value)
    assert np.polyfit(np.log(ranks), np.log(values), 1)[0] == pytest.approx(0.5, abs=0.03)
    half = low_rank_glm_data(100, 64, 16, n_test=1, seed=3)
    est = rd.ellipsoid_rademacher(half.X, 1.0, Sigma=half.Sigma, n_draws=4000, generator=torch.Generator().manual_seed(0))
    assert est.value / values[1] == pytest.approx(2.0, rel=0.06)  # a quarter of the data: twice the complexity


def test_rademacher_refuses_inputs_outside_sigma_and_bad_arguments():
    X, _ = centred(10, 3, 9)
    flat = torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=DT))
    with pytest.raises(ValueError, match=r"v leaves the range of Sigma"):
        rd.ellipsoid_rademacher(X, 1.0, Sigma=flat, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"n_draws must be an integer >= 2"):
        rd.ellipsoid_rademacher(X, 1.0, n_draws=1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"the sign vectors need an explicit torch.Generator"):
        rd.ellipsoid_rademacher(X, 1.0, generator=None)
    with pytest.raises(ValueError, match=r"exact enumeration needs n <= 16"):
        rd.ellipsoid_rademacher_exact(torch.zeros(17, 2, dtype=DT), 1.0)


def test_rademacher_bound_formula_and_the_theorem_on_gaussian_data():
    assert float(rd.rademacher_bound(0.01, 0.16, 4, 100)) == pytest.approx((0.01 / 0.16) ** 0.25 * 0.2)
    assert float(rd.rademacher_bound(1.6, 0.16, 4, 100)) == pytest.approx(10**0.5 * 0.2)
    with pytest.raises(ValueError, match=r"rho must be > 0"):
        rd.rademacher_bound(1.0, 0.0, 1, 10)
    rho = rd.gaussian_rho("logistic", 16.0)
    ds = low_rank_glm_data(200, 20, 5, n_test=1, seed=0)
    base = rd.ellipsoid_rademacher(ds.X, 1.0, Sigma=ds.Sigma, n_draws=2000, generator=torch.Generator().manual_seed(0))
    for gamma in (0.01, 0.1, 1.0, 10.0):
        measured = math.sqrt(rd.q_of_gamma(gamma, q_max=16.0)) * (base.value + 3 * base.stderr)
        assert measured <= float(rd.rademacher_bound(gamma, rho, 5, 200))

"""theory/rademacher.py (the direct complexity of W_gamma, fixed vs resampled samples, the ReLU hidden-feature class).

Oracles written here: ``generalization.q_of_gamma`` (an independent bisection of the population constraint) and the
Lambert-W closed form of the Poisson radius; the Cauchy-Schwarz supremum ``sqrt(q v^T Sigma^+ v)`` with numpy's
pseudo-inverse; brute force over a dense grid of directions in d = 2 with ``scipy.optimize.brentq`` for t(u) and
``scipy.integrate.quad`` for the Gaussian curvature; the chi-square law of ``n tr(Sigma^+ Sigma_n)``; Monte Carlo
and special angles for the arc-cosine kernel; enumeration of all sign vectors for n = 10.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special, stats

from mixup_repro.data.relu_features import relu_feature_data
from mixup_repro.data.synthetic import low_rank_glm_data
from mixup_repro.theory import generalization as gen
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
    q_star = gen.q_of_gamma(gamma, loss, q_max=16.0)
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
    assert rd.q_upper_bound(0.1, "logistic", 16.0) / gen.q_of_gamma(0.1) < 1.02
    assert rd.q_upper_bound(0.3, "logistic", 16.0) == 16.0  # vacuous: q A''(sqrt q) dips below 0.3 again before 16
    assert rd.q_upper_bound(0.3, "poisson", 16.0) == pytest.approx(0.3, rel=1e-12)  # centred: E e^s >= 1
    assert rd.q_upper_bound(0.3, "squared", 16.0) == 0.3


def test_resampled_samples_follow_the_chi_square_law_of_the_jensen_step():
    n, d, rank = 50, 10, 3
    gamma = float(gen.gamma_of(4.0, "logistic"))  # q* = q_max = 4: rho's step is exact, bound = sqrt(q_max rank / n)
    res = rd.resampled_rademacher(n, d, rank, gamma, "logistic", q_max=4.0, n_samples=300, n_draws=200, seed=0)
    assert res.q_star == pytest.approx(4.0) and res.bound == pytest.approx(math.sqrt(4.0 * rank / n), rel=1e-9)
    # n tr(Sigma^+ Sigma_n) ~ chi2 with rank (n - 1) degrees of freedom for a centred Gaussian sample
    df = rank * (n - 1)
    assert res.trace_ratio.mean() == pytest.approx(df / (rank * n), abs=4 * math.sqrt(2 * df) / (rank * n) / math.sqrt(300))
    p = stats.chi2.sf(rank * n, df)
    assert res.p_trace_above_1 == pytest.approx(p)
    assert abs(np.mean(res.trace_ratio > 1) - p) < 4 * math.sqrt(p * (1 - p) / 300)
    # E_S Rad(S) <= sqrt(q* E tr / n) (Jensen over sigma and S); single samples may exceed sqrt(q* rank / n)
    assert res.mean.value <= math.sqrt(4.0 * df / n**2) + 3 * res.mean.stderr
    ds = low_rank_glm_data(n, d, rank, "logistic", n_test=1, seed=int(np.random.SeedSequence([0, 1]).generate_state(300)[0]))
    tr = float(np.trace(np.linalg.pinv(ds.Sigma.numpy()) @ ds.X.numpy().T @ ds.X.numpy() / n)) / rank
    assert res.trace_ratio[0] == pytest.approx(tr, rel=1e-10)


def test_arc_cosine_kernel_matches_monte_carlo_and_special_angles():
    A = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=DT)
    S = rd.relu_second_moment(A)
    Z = torch.randn(400_000, 3, generator=torch.Generator().manual_seed(3), dtype=DT)
    H = torch.relu(Z @ A.T)
    prod = H[:, :, None] * H[:, None, :]
    mc, se = prod.mean(dim=0), prod.std(dim=0) / math.sqrt(Z.shape[0])
    assert bool(((S - mc).abs() <= 5 * se).all())
    a = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [-1.0, -2.0, 0.0], [2.0, -1.0, 0.0]], dtype=DT)
    K = rd.relu_second_moment(a)
    assert float(K[0, 1]) == pytest.approx(math.sqrt(5) * math.sqrt(20) / 2, rel=1e-12)  # parallel: E relu(z)^2 |a||b|
    assert float(K[0, 2]) == pytest.approx(0.0, abs=1e-15)  # antiparallel: never both positive
    assert float(K[0, 3]) == pytest.approx(5 / (2 * math.pi), rel=1e-12)  # orthogonal: |a||b| / (2 pi)


def test_spectrum_summary_of_a_known_spectrum():
    ev = torch.tensor([1.0, 0.5, 1e-4, 1e-8, 0.0], dtype=DT)
    Q = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=DT))[0]
    s = rd.spectrum_summary(Q @ torch.diag(ev) @ Q.T)
    assert s.numerical_ranks == {1e-3: 2, 1e-6: 3, 1e-10: 4}
    assert s.stable_rank == pytest.approx(float(ev.sum()), rel=1e-12)
    p = ev[:4] / ev.sum()
    assert s.entropy_rank == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-9)


def test_relu_features_of_rank_one_inputs_have_rank_two_and_of_rank_two_inputs_full_rank():
    for width in (7, 30):
        data = relu_feature_data(20, 9, 1, width, seed=width)
        ev = torch.linalg.eigvalsh(rd.relu_second_moment(data.A)).flip(0)
        assert float(ev[2]) < 1e-13 * float(ev[0]) and float(ev[1]) > 1e-3 * float(ev[0])  # relu(z) and relu(-z)
    data = relu_feature_data(20, 9, 2, 6, seed=1)
    assert rd.spectrum_summary(rd.relu_second_moment(data.A)).numerical_ranks[1e-10] == 6
    # W x = A z: the network seen from the latent z, whatever d
    Z = data.X @ data.U / math.sqrt(9 / 2)
    torch.testing.assert_close(data.X @ data.W.T, Z @ data.A.T, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(data.H, torch.relu(data.X @ data.W.T))
    again = relu_feature_data(20, 9, 2, 6, seed=1, sample_seed=2)
    assert torch.equal(again.W, data.W) and torch.equal(again.U, data.U) and not torch.equal(again.X, data.X)


def test_ellipsoid_complexity_against_enumeration_and_the_random_theta_lower_bound():
    data = relu_feature_data(10, 6, 3, 4, seed=4)
    S = rd.relu_second_moment(data.A)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    V = signs @ data.H.numpy() / 10
    exact = math.sqrt(2.0) * np.sqrt(np.einsum("kp,pq,kq->k", V, np.linalg.inv(S.numpy()), V)).mean()
    est = rd.ellipsoid_rademacher(data.H, S, 2.0, n_draws=20000, generator=torch.Generator().manual_seed(0))
    assert abs(est.value - exact) < 4 * est.stderr
    low = rd.random_theta_rademacher(data.H, S, 2.0, n_theta=20000, n_draws=4000, generator=torch.Generator().manual_seed(1))
    assert low.value <= exact + 4 * low.stderr
    assert low.value > 0.97 * exact  # 4 dimensions: 20,000 random directions come close to the supremum


def test_relu_complexity_is_monotone_in_the_tolerance_and_reports_the_bound():
    data = relu_feature_data(100, 20, 2, 40, seed=0)
    c = rd.relu_complexity(data, 0.5, rtols=(1e-3, 1e-10), n_draws=500, generator=torch.Generator().manual_seed(0))
    r = c.spectrum.numerical_ranks
    assert r[1e-3] < r[1e-10] <= 40
    assert c.bound[1e-3] == pytest.approx(math.sqrt(0.5 * r[1e-3] / 100))
    assert c.measured[1e-3].value < c.measured[1e-10].value  # same sign vectors, fewer directions
    assert c.linear.value < c.measured[1e-10].value


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
        rd.ellipsoid_rademacher(ds.X, ds.Sigma, 1.0, n_draws=1, generator=g)
    with pytest.raises(ValueError, match=r"a zero row of A"):
        rd.relu_second_moment(torch.zeros(2, 3, dtype=DT))
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 2"):
        rd.resampled_rademacher(20, 4, 2, 0.3, n_samples=1)
    with pytest.raises(ValueError, match=r"rank must be <= d"):
        relu_feature_data(10, 3, 4, 5)

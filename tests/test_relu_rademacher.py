"""theory/relu_rademacher.py (the hidden-feature class of a two-layer ReLU network) and data/relu_features.py.

Oracles written here: Monte Carlo and special angles for the arc-cosine kernel; numpy eigenvalues and inverses;
enumeration of all sign vectors for n = 10; a random search over the boundary of the ellipsoid (a lower bound on
each supremum); the linear-independence argument for the rank (rank 2 from rank-1 inputs).
"""

import itertools
import math

import numpy as np
import pytest
import torch

from mixup_repro.data.relu_features import relu_feature_data, resample
from mixup_repro.theory import rademacher as rd
from mixup_repro.theory import relu_rademacher as rr

DT = torch.float64


def test_arc_cosine_kernel_matches_monte_carlo_and_special_angles():
    A = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=DT)
    S = rr.relu_second_moment(A)
    Z = torch.randn(400_000, 3, generator=torch.Generator().manual_seed(3), dtype=DT)
    H = torch.relu(Z @ A.T)
    prod = H[:, :, None] * H[:, None, :]
    mc, se = prod.mean(dim=0), prod.std(dim=0) / math.sqrt(Z.shape[0])
    assert bool(((S - mc).abs() <= 5 * se).all())
    a = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [-1.0, -2.0, 0.0], [2.0, -1.0, 0.0]], dtype=DT)
    K = rr.relu_second_moment(a)
    assert float(K[0, 1]) == pytest.approx(math.sqrt(5) * math.sqrt(20) / 2, rel=1e-12)  # parallel: E relu(z)^2 |a||b|
    assert float(K[0, 2]) == pytest.approx(0.0, abs=1e-15)  # antiparallel: never both positive
    assert float(K[0, 3]) == pytest.approx(5 / (2 * math.pi), rel=1e-12)  # orthogonal: |a||b| / (2 pi)


def test_monte_carlo_second_moment_matches_the_explicit_average():
    A = torch.randn(4, 2, generator=torch.Generator().manual_seed(5), dtype=DT)
    mean, se = rr.relu_second_moment_mc(A, 1000, generator=torch.Generator().manual_seed(6), chunk=300)
    g = torch.Generator().manual_seed(6)
    Z = torch.cat([torch.randn(k, 2, generator=g, dtype=DT) for k in (300, 300, 300, 100)])  # the same draws
    H = torch.relu(Z @ A.T)
    prod = (H[:, :, None] * H[:, None, :]).reshape(1000, -1).numpy()
    np.testing.assert_allclose(mean.numpy().ravel(), prod.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(se.numpy().ravel(), prod.std(axis=0, ddof=1) / math.sqrt(1000), rtol=1e-9)
    with pytest.raises(ValueError, match=r"n_draws must be an integer >= 2"):
        rr.relu_second_moment_mc(A, 1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"needs an explicit torch.Generator"):
        rr.relu_second_moment_mc(A, 10, generator=None)


def test_spectrum_summary_of_a_known_spectrum():
    ev = torch.tensor([1.0, 0.5, 1e-4, 1e-8, 1e-15], dtype=DT)
    Q = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=DT))[0]
    s = rr.spectrum_summary(Q @ torch.diag(ev) @ Q.T)
    assert s.numerical_ranks == {1e-3: 2, 1e-6: 3, 1e-10: 4}
    assert s.roundoff_rank == 4  # 1e-15 lies below 10 * 5 * eps = 1.1e-14
    assert s.min_relative == pytest.approx(1e-15, abs=1e-15)
    assert s.stable_rank == pytest.approx(float(ev.sum()), rel=1e-12)
    p = ev / ev.sum()
    assert s.entropy_rank == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-9)
    with pytest.raises(ValueError, match=r"Sigma is zero"):
        rr.spectrum_summary(torch.zeros(3, 3, dtype=DT))


def test_relu_features_of_rank_one_inputs_have_rank_two_and_of_rank_two_inputs_full_rank():
    for width in (7, 30):
        data = relu_feature_data(20, 9, 1, width, seed=width)
        ev = torch.linalg.eigvalsh(rr.relu_second_moment(data.A)).flip(0)
        assert float(ev[2]) < 1e-13 * float(ev[0]) and float(ev[1]) > 1e-3 * float(ev[0])  # relu(z) and relu(-z)
        assert rr.spectrum_summary(rr.relu_second_moment(data.A)).roundoff_rank == 2
    data = relu_feature_data(20, 9, 2, 6, seed=1)
    assert rr.spectrum_summary(rr.relu_second_moment(data.A)).numerical_ranks[1e-10] == 6
    # W x = A z: the network seen from the latent z, whatever d
    Z = data.X @ data.U / math.sqrt(9 / 2)
    torch.testing.assert_close(data.X @ data.W.T, Z @ data.A.T, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(data.H, torch.relu(data.X @ data.W.T))
    again = relu_feature_data(20, 9, 2, 6, seed=1, sample_seed=2)
    assert torch.equal(again.W, data.W) and torch.equal(again.U, data.U) and not torch.equal(again.X, data.X)
    other = resample(data, 20, 2)
    assert all(torch.equal(getattr(other, f), getattr(again, f)) for f in ("X", "W", "U", "H", "A"))
    assert resample(data, 20, 1).X.equal(data.X) and resample(data, 7, 3).n == 7
    with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
        resample(data, 0, 1)


def test_ellipsoid_complexity_of_features_against_enumeration_and_a_random_search():
    data = relu_feature_data(10, 6, 3, 4, seed=4)
    S = rr.relu_second_moment(data.A)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    V = signs @ data.H.numpy() / 10
    exact = math.sqrt(2.0) * np.sqrt(np.einsum("kp,pq,kq->k", V, np.linalg.inv(S.numpy()), V)).mean()
    assert rd.ellipsoid_rademacher_exact(data.H, 2.0, Sigma=S) == pytest.approx(exact, rel=1e-12)
    est = rd.ellipsoid_rademacher(data.H, 2.0, Sigma=S, n_draws=20000, generator=torch.Generator().manual_seed(0))
    assert abs(est.value - exact) < 4 * est.stderr
    # every theta on the boundary theta^T S theta = 2 is in the class: the best of many is a lower bound per sign
    xi = np.random.default_rng(1).standard_normal((20000, 4))
    L = np.linalg.cholesky(np.linalg.inv(S.numpy()))
    thetas = math.sqrt(2.0) * (xi / np.linalg.norm(xi, axis=1, keepdims=True)) @ L.T
    assert np.allclose(np.einsum("kp,pq,kq->k", thetas, S.numpy(), thetas), 2.0)
    low = (V @ thetas.T).max(axis=1)
    sup = math.sqrt(2.0) * np.sqrt(np.einsum("kp,pq,kq->k", V, np.linalg.inv(S.numpy()), V))
    assert np.all(low <= sup + 1e-12) and low.mean() > 0.99 * exact  # 4 dimensions: the search comes close


def test_hidden_class_complexity_against_numpy_with_the_same_sign_vectors():
    n, d, rank, width, gamma = 60, 8, 3, 10, 0.5
    c = rr.hidden_class_complexity(n, d, rank, width, gamma, seed=3, n_samples=3, rtols=(1e-2,), n_draws=400,
                                   generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    S = rr.relu_second_moment(relu_feature_data(n, d, rank, width, seed=3).A).numpy()
    w, Q = np.linalg.eigh(S)
    kept = w > 1e-2 * w.max()
    for k in range(3):
        data = relu_feature_data(n, d, rank, width, seed=3, sample_seed=k)
        signs = (torch.randint(0, 2, (400, n), generator=g).to(DT) * 2 - 1).numpy()
        V = signs @ data.H.numpy() / n
        full = math.sqrt(gamma) * np.sqrt(np.einsum("kp,pq,kq->k", V, np.linalg.inv(S), V))
        part = math.sqrt(gamma) * np.sqrt((((V @ Q[:, kept]) ** 2) / w[kept]).sum(axis=1))
        assert c.rad[0, k] == pytest.approx(full.mean(), rel=1e-9)
        assert c.rad_se[0, k] == pytest.approx(full.std(ddof=1) / math.sqrt(400), rel=1e-8)
        assert c.rad[1, k] == pytest.approx(part.mean(), rel=1e-10)
        Sn = data.H.numpy().T @ data.H.numpy() / n
        assert c.fixed_jensen[0, k] == pytest.approx(math.sqrt(gamma * np.trace(np.linalg.solve(S, Sn)) / n), rel=1e-9)
        Sx = (d / rank) * data.U.numpy() @ data.U.numpy().T
        lin = math.sqrt(gamma) * np.sqrt(np.einsum("kp,pq,kq->k", signs @ data.X.numpy() / n, np.linalg.pinv(Sx),
                                                   signs @ data.X.numpy() / n))
        assert c.linear[k] == pytest.approx(lin.mean(), rel=1e-9)
    assert c.ranks == (width, int(kept.sum())) and c.tolerances[0] == rd.roundoff_rtol(width)
    np.testing.assert_allclose(c.bound, np.sqrt(gamma * np.array(c.ranks) / n), rtol=1e-14)
    assert np.all(c.rad[1] < c.rad[0])  # fewer directions, same sign vectors
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 2"):
        rr.hidden_class_complexity(n, d, rank, width, n_samples=1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"gamma must be > 0"):
        rr.hidden_class_complexity(n, d, rank, width, 0.0, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"a zero row of A"):
        rr.relu_second_moment(torch.zeros(2, 3, dtype=DT))
    with pytest.raises(ValueError, match=r"rank must be <= d"):
        relu_feature_data(10, 3, 4, 5)
